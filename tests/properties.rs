//! Property tests (proptest) for the pure parts every key and scope rests on:
//! filename cleaning and key building, the user-id encoding, and query
//! parsing. Each property is one README's security model relies on.

use oss_direct_upload::api::params::parse_query;
use oss_direct_upload::auth::user_prefix_segment;
use oss_direct_upload::profiles::keys::{self, MAX_KEY_BYTES};
use proptest::prelude::*;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Characters an attacker would reach for, mixed with ordinary ones.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => Just('.'),
        2 => Just('/'),
        1 => Just('\\'),
        1 => Just('%'),
        1 => Just(' '),
        1 => Just('\0'),
        1 => Just('\n'),
        1 => Just('\r'),
        1 => Just('\u{7f}'),
        1 => Just('\u{85}'),
        1 => Just('\u{202e}'), // right-to-left override
        1 => Just('\u{2066}'), // left-to-right isolate
        1 => Just('\u{200b}'), // zero-width space
        1 => Just('\u{200f}'), // right-to-left mark
        1 => Just('\u{feff}'), // byte order mark
        1 => Just('\u{2028}'), // line separator
        1 => Just('\u{ad}'),   // soft hyphen
        1 => Just('é'),
        1 => Just('汉'),
        1 => Just('😀'),
        2 => any::<char>(),
    ]
}

fn hostile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(hostile_char(), 0..40).prop_map(|v| v.into_iter().collect()),
        // Long names around the 255-byte segment and 1023-byte key limits.
        (1usize..400, hostile_char()).prop_map(|(n, c)| std::iter::repeat(c).take(n).collect()),
        Just("..".to_owned()),
        Just("../../etc/passwd".to_owned()),
        Just("a/./b/../..".to_owned()),
    ]
}

fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("uploads/".to_owned()),
        Just("u/".to_owned()),
        "[a-z0-9-]{1,20}/([a-z0-9_.-]{1,30}/)?",
        // Long prefixes push keys toward 1023 bytes.
        "p{400,700}/",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Whatever the filename, a built key lies under the prefix, has no
    /// `.`/`..`/empty segment after it, no control/bidi/format character, at
    /// most 1023 bytes, and its last segment is a cleaned version of the
    /// name's last segment; otherwise the answer is a 400.
    #[test]
    fn built_keys_are_safe(prefix in prefix(), name in hostile_name()) {
        let id = keys::random_id();
        match keys::build_key(&prefix, &id, Some(&name)) {
            Ok(key) => {
                let rest = key.strip_prefix(&prefix).expect("under the prefix");
                let id_dir = format!("{id}/");
                prop_assert!(rest.starts_with(&id_dir), "{:?}", key);
                for seg in rest.split('/') {
                    prop_assert!(!seg.is_empty() && seg != "." && seg != "..", "{key:?}");
                }
                prop_assert_eq!(rest.matches('/').count(), 1, "one segment under the id: {:?}", key);
                prop_assert!(!key.chars().any(forbidden), "{key:?}");
                prop_assert!(key.len() <= MAX_KEY_BYTES);
                let file = rest.rsplit('/').next().unwrap_or_default();
                prop_assert!(!file.contains('\\'));
                let last = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
                prop_assert_eq!(file, last);
                // What the function built, it also accepts as the caller's own key.
                prop_assert!(keys::check_owned_key(&prefix, &key).is_ok());
            }
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
    }

    /// A plain name (no separator, no forbidden character, not `.`/`..`,
    /// no surrounding spaces, ≤ 255 bytes) is kept exactly: the cleaning
    /// refuses what it must and nothing more.
    #[test]
    fn plain_names_are_kept(name in "[A-Za-z0-9 ._()+,-]{0,60}[A-Za-z0-9_()+,-]") {
        let name = name.trim_start().to_owned();
        prop_assume!(!name.is_empty() && name != "." && name != "..");
        let key = keys::build_key("uploads/", "abc", Some(&name)).unwrap();
        prop_assert_eq!(key, format!("uploads/abc/{name}"));
    }

    /// `check_owned_key` never lets a caller name a key outside their prefix,
    /// or one with a dot segment or forbidden character.
    #[test]
    fn owned_keys_stay_under_the_prefix(prefix in prefix(), rest in hostile_name()) {
        let key = format!("{prefix}{rest}");
        if keys::check_owned_key(&prefix, &key).is_ok() {
            prop_assert!(!rest.is_empty());
            prop_assert!(rest.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
            prop_assert!(!key.chars().any(forbidden));
            prop_assert!(key.len() <= MAX_KEY_BYTES);
        }
        let other = format!("x{prefix}{rest}");
        prop_assert!(keys::check_owned_key(&prefix, &other).is_err());
    }

    /// The user-id encoding is injective, and one user's prefix is never a
    /// prefix of another user's: `uploads/<a>/` never starts `uploads/<b>/`.
    #[test]
    fn user_segments_are_injective_and_prefix_free(
        a in proptest::collection::vec(hostile_char(), 1..30).prop_map(|v| v.into_iter().collect::<String>()),
        b in proptest::collection::vec(hostile_char(), 1..30).prop_map(|v| v.into_iter().collect::<String>()),
    ) {
        let (Ok(sa), Ok(sb)) = (user_prefix_segment(&a), user_prefix_segment(&b)) else {
            // Only empty or over-long ids are refused.
            prop_assert!(a.len() > 128 || b.len() > 128);
            return Ok(());
        };
        for s in [&sa, &sb] {
            prop_assert!(s.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)), "{s}");
            prop_assert!(s != "." && s != "..");
        }
        let (pa, pb) = (format!("uploads/{sa}/"), format!("uploads/{sb}/"));
        if a == b {
            prop_assert_eq!(pa, pb);
        } else {
            prop_assert_ne!(&sa, &sb);
            prop_assert!(!pa.starts_with(&pb) && !pb.starts_with(&pa), "{pa} / {pb}");
        }
    }

    /// Ids that differ by one byte at the end (the likeliest collision
    /// shape: `alice` vs `alice.` or `alice/`) still get disjoint prefixes.
    #[test]
    fn near_identical_user_ids_do_not_share_a_prefix(
        base in "[a-z0-9]{1,20}",
        tail in hostile_char(),
    ) {
        let longer = format!("{base}{tail}");
        let (s1, s2) = (user_prefix_segment(&base).unwrap(), user_prefix_segment(&longer).unwrap());
        let (p1, p2) = (format!("{s1}/"), format!("{s2}/"));
        prop_assert!(!p2.starts_with(&p1), "{} / {}", p1, p2);
    }

    /// Query parsing decodes each value exactly once: what a standard
    /// encoder (`form_urlencoded`) wrote comes back as it was.
    #[test]
    fn query_round_trips(
        pairs in proptest::collection::vec(
            (
                proptest::collection::vec(hostile_char(), 1..12).prop_map(|v| v.into_iter().collect::<String>()),
                proptest::collection::vec(hostile_char(), 0..20).prop_map(|v| v.into_iter().collect::<String>()),
            ),
            0..6,
        )
    ) {
        let mut enc = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            enc.append_pair(k, v);
        }
        let query = enc.finish();
        prop_assert_eq!(parse_query(&query).unwrap(), pairs);
    }

    /// Any query string at all: parsed or a 400, never a panic, and never a
    /// replacement character standing in for bytes that were not UTF-8.
    #[test]
    fn any_query_is_parsed_or_refused(raw in proptest::collection::vec(
        prop_oneof![
            Just("%".to_owned()), Just("%ff".to_owned()), Just("%c3".to_owned()), Just("%a9".to_owned()),
            Just("&".to_owned()), Just("=".to_owned()), Just("+".to_owned()), Just("%25".to_owned()),
            "[a-z0-9]{1,3}".prop_map(|s| s),
        ],
        0..20,
    ).prop_map(|v| v.concat())) {
        match parse_query(&raw) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    let replaced = k.contains(char::REPLACEMENT_CHARACTER)
                        || v.contains(char::REPLACEMENT_CHARACTER);
                    prop_assert!(!replaced, "{:?}={:?}", k, v);
                }
            }
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
    }
}
