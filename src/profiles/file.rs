//! The profile file: TOML read with `toml` (unknown fields refused), then
//! every field checked, each problem reported by profile and field.

use super::{
    ObjectType, Overwrite, Profile, ProfileError, Profiles, UploadMethod, DEFAULT_PROFILE,
    OSS_MAX_OBJECT_BYTES, SINGLE_REQUEST_MAX_BYTES,
};
use crate::config::{check_prefix, valid_mime, AuthMode};
use serde::Deserialize;
use std::sync::Arc;

impl Profiles {
    /// The `default` profile plus those in `file_text` (TOML), validated
    /// together. `auth` decides which `anonymous` settings make sense.
    pub fn load(
        default: Profile,
        file_text: &str,
        auth: &AuthMode,
    ) -> Result<Profiles, Vec<ProfileError>> {
        let file: ProfileFile = toml::from_str(file_text).map_err(|e| {
            vec![ProfileError::new(
                "",
                "",
                format!("not a valid profile file: {}", e.to_string().trim()),
            )]
        })?;
        let mut errors = Vec::new();
        let mut list = vec![default];
        for raw in file.profile {
            if let Some(p) = raw.validate(&list[0], auth, &mut errors) {
                list.push(p);
            }
        }
        check_names_and_prefixes(&list, &mut errors);
        if errors.is_empty() {
            Ok(Profiles {
                list: list.into_iter().map(Arc::new).collect(),
            })
        } else {
            Err(errors)
        }
    }
}

/// The file as written. Unknown fields are errors (a misspelt `max_byte`
/// must not silently mean "no limit").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    profile: Vec<RawProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: Option<String>,
    prefix: Option<String>,
    content_types: Option<Vec<String>>,
    min_bytes: Option<u64>,
    max_bytes: Option<u64>,
    methods: Option<Vec<String>>,
    url_ttl_seconds: Option<u64>,
    token_ttl_seconds: Option<u64>,
    anonymous: Option<bool>,
    overwrite: Option<String>,
    fixed_name: Option<String>,
    allow_object_types: Option<Vec<String>>,
}

impl RawProfile {
    /// Checks every field, pushing one error per problem; `None` if any.
    fn validate(
        self,
        default: &Profile,
        auth: &AuthMode,
        errors: &mut Vec<ProfileError>,
    ) -> Option<Profile> {
        let before = errors.len();
        let name = self.name.unwrap_or_default();
        let label = if name.is_empty() {
            "(unnamed)".to_owned()
        } else {
            name.clone()
        };
        let mut fail =
            |field: &str, msg: String| errors.push(ProfileError::new(&label, field, msg));

        if name.is_empty() {
            fail("name", "missing; give every profile a name".into());
        } else if name == DEFAULT_PROFILE {
            fail(
                "name",
                "\"default\" is the profile the environment variables define; pick another name"
                    .into(),
            );
        } else if name.len() > 32
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            fail("name", format!("{name:?} must be 1-32 of a-z, 0-9 and -"));
        }

        let prefix = self.prefix.unwrap_or_default();
        if prefix.is_empty() {
            fail(
                "prefix",
                "missing; give the profile its own folder, e.g. \"avatars/\"".into(),
            );
        } else if let Err(why) = check_prefix(&prefix) {
            fail("prefix", why);
        }

        let content_types: Vec<String> = self
            .content_types
            .unwrap_or_default()
            .iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if content_types.is_empty() {
            fail(
                "content_types",
                "missing or empty; list the media types allowed, or [\"*\"] for any".into(),
            );
        }
        for t in &content_types {
            if t != "*" && !valid_mime(t) {
                fail(
                    "content_types",
                    format!("{t:?} is not a media type such as image/png"),
                );
            }
        }

        let min_bytes = self.min_bytes.unwrap_or(1);
        let Some(max_bytes) = self.max_bytes else {
            fail(
                "max_bytes",
                "missing; set the largest upload in bytes".into(),
            );
            return None;
        };
        if min_bytes == 0 {
            fail("min_bytes", "must be at least 1".into());
        }
        if max_bytes < min_bytes {
            fail(
                "max_bytes",
                format!("{max_bytes} is below min_bytes ({min_bytes})"),
            );
        }
        if max_bytes > OSS_MAX_OBJECT_BYTES {
            fail(
                "max_bytes",
                format!("{max_bytes} is over OSS's largest object ({OSS_MAX_OBJECT_BYTES})"),
            );
        }

        let replaces = self.overwrite.as_deref() == Some("replace");
        let mut methods = Vec::new();
        match self.methods {
            // STS credentials cannot be pinned to the one key a replacing profile uses.
            None if replaces => {
                methods = UploadMethod::ALL
                    .into_iter()
                    .filter(|m| *m != UploadMethod::Sts)
                    .collect()
            }
            None => methods = UploadMethod::ALL.to_vec(),
            Some(names) => {
                for m in names {
                    match UploadMethod::parse(&m) {
                        Some(m) if methods.contains(&m) => {
                            fail("methods", format!("{:?} is listed twice", m.as_str()))
                        }
                        Some(m) => methods.push(m),
                        None => fail(
                            "methods",
                            format!("{m:?} is not one of sts, post-policy, presign, multipart"),
                        ),
                    }
                }
                if methods.is_empty() {
                    fail("methods", "empty; allow at least one method".into());
                }
            }
        }
        let single_only = !methods
            .iter()
            .any(|m| matches!(m, UploadMethod::Multipart | UploadMethod::Sts));
        if single_only && max_bytes > SINGLE_REQUEST_MAX_BYTES {
            fail(
                "max_bytes",
                format!("{max_bytes} is over 5 GiB, the most one PUT or POST can upload; allow multipart or lower it"),
            );
        }

        let url_ttl_secs = self.url_ttl_seconds.unwrap_or(default.url_ttl_secs);
        if !(60..=43_200).contains(&url_ttl_secs) {
            fail(
                "url_ttl_seconds",
                format!("{url_ttl_secs} is not from 60 to 43200"),
            );
        }
        let token_ttl_secs = self.token_ttl_seconds.unwrap_or(default.token_ttl_secs);
        if !(900..=43_200).contains(&token_ttl_secs) {
            fail(
                "token_ttl_seconds",
                format!("{token_ttl_secs} is not from 900 to 43200"),
            );
        }

        let everyone_anonymous = *auth == AuthMode::Anonymous;
        let anonymous = self.anonymous.unwrap_or(everyone_anonymous);
        if everyone_anonymous && !anonymous {
            fail(
                "anonymous",
                "is false, but AUTH_MODE=anonymous makes every caller anonymous, so nobody could use this profile; remove the line or set a token AUTH_MODE".into(),
            );
        }

        let overwrite = match (
            self.overwrite.as_deref().unwrap_or("forbid"),
            self.fixed_name,
        ) {
            ("forbid", None) => Overwrite::Forbid,
            ("forbid", Some(_)) => {
                fail(
                    "fixed_name",
                    "only means something with overwrite = \"replace\"".into(),
                );
                Overwrite::Forbid
            }
            ("replace", None) => {
                fail("fixed_name", "missing; overwrite = \"replace\" needs the fixed last key segment, e.g. \"avatar\"".into());
                Overwrite::Forbid
            }
            ("replace", Some(n)) => {
                if n.is_empty()
                    || n.len() > 128
                    || n == "."
                    || n == ".."
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                {
                    fail(
                        "fixed_name",
                        format!("{n:?} must be 1-128 of A-Z a-z 0-9 - _ . (not . or ..)"),
                    );
                }
                if anonymous {
                    let fix = if everyone_anonymous {
                        "set AUTH_MODE=jwt or fc-jwt (callers need a user id); to try it locally, `oss-direct-upload local --profiles FILE` turns on jwt with a development token"
                    } else {
                        "remove `anonymous = true` from this profile"
                    };
                    fail("overwrite", format!("\"replace\" keeps one key per user, so the profile cannot also be anonymous; {fix}"));
                }
                if methods.contains(&UploadMethod::Sts) {
                    fail("methods", "\"sts\" cannot serve overwrite = \"replace\": STS credentials are scoped to the user's folder, not to one key; list only post-policy, presign or multipart".into());
                }
                Overwrite::Replace { name: n }
            }
            (other, _) => {
                fail(
                    "overwrite",
                    format!("{other:?} is not \"forbid\" or \"replace\""),
                );
                Overwrite::Forbid
            }
        };

        let mut allow_object_types = Vec::new();
        for t in self.allow_object_types.unwrap_or_default() {
            match ObjectType::parse(&t) {
                Some(t) if allow_object_types.contains(&t) => fail(
                    "allow_object_types",
                    format!("{:?} is listed twice", t.as_str()),
                ),
                Some(t) => allow_object_types.push(t),
                None => fail(
                    "allow_object_types",
                    format!("{t:?} is not \"Appendable\" or \"Symlink\" (OSS's object types; Normal and Multipart are always allowed)"),
                ),
            }
        }

        (errors.len() == before).then_some(Profile {
            name,
            prefix,
            content_types,
            min_bytes,
            max_bytes,
            methods,
            url_ttl_secs,
            token_ttl_secs,
            anonymous,
            overwrite,
            allow_object_types,
        })
    }
}

/// Names are unique and key spaces disjoint: no prefix starts another.
fn check_names_and_prefixes(list: &[Profile], errors: &mut Vec<ProfileError>) {
    for (i, p) in list.iter().enumerate() {
        for q in &list[..i] {
            if p.name == q.name {
                errors.push(ProfileError::new(
                    &p.name,
                    "name",
                    "is used by two profiles; names must be unique",
                ));
            } else if p.prefix.starts_with(&q.prefix) || q.prefix.starts_with(&p.prefix) {
                let whose = if q.name == DEFAULT_PROFILE {
                    "the default profile (UPLOAD_PREFIX)".to_owned()
                } else {
                    format!("profile {:?}", q.name)
                };
                errors.push(ProfileError::new(
                    &p.name,
                    "prefix",
                    format!(
                        "{:?} overlaps {whose}'s {:?}; give each profile its own folder, e.g. \"{}/\"",
                        p.prefix, q.prefix, p.name
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_profile() -> Profile {
        Profile {
            name: "default".into(),
            prefix: "uploads/".into(),
            content_types: vec!["image/png".into()],
            min_bytes: 1,
            max_bytes: 100 << 20,
            methods: UploadMethod::ALL.to_vec(),
            url_ttl_secs: 600,
            token_ttl_secs: 900,
            anonymous: false,
            overwrite: Overwrite::Forbid,
            allow_object_types: Vec::new(),
        }
    }

    const EXAMPLE: &str = r#"
[[profile]]
name = "avatar"
prefix = "avatars/"
content_types = ["image/png", "image/jpeg", "image/webp"]
max_bytes = 5_242_880
methods = ["post-policy", "presign"]
overwrite = "replace"
fixed_name = "avatar"

[[profile]]
name = "document"
prefix = "documents/"
content_types = ["application/pdf", "text/plain"]
max_bytes = 104_857_600

[[profile]]
name = "video"
prefix = "videos/"
content_types = ["video/mp4", "video/quicktime"]
min_bytes = 1_048_576
max_bytes = 21_474_836_480
methods = ["multipart"]
url_ttl_seconds = 3600
"#;

    fn jwt() -> AuthMode {
        AuthMode::FcJwt {
            user_header: "x-user".into(),
        }
    }

    fn load(text: &str) -> Result<Profiles, Vec<ProfileError>> {
        Profiles::load(default_profile(), text, &jwt())
    }

    fn messages(text: &str) -> Vec<String> {
        load(text)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn example_loads_in_order_with_defaults() {
        let p = load(EXAMPLE).unwrap();
        assert_eq!(p.names(), "default, avatar, document, video");
        let avatar = p.get("avatar").unwrap();
        assert_eq!(
            avatar.overwrite,
            Overwrite::Replace {
                name: "avatar".into()
            }
        );
        assert!(avatar.allows(UploadMethod::Presign) && !avatar.allows(UploadMethod::Sts));
        let doc = p.get("document").unwrap();
        assert_eq!(doc.methods, UploadMethod::ALL.to_vec());
        assert_eq!(doc.url_ttl_secs, 600);
        assert_eq!(p.get("video").unwrap().url_ttl_secs, 3600);
        assert_eq!(p.for_key("videos/u/1/a.mp4").unwrap().0.name, "video");
        assert_eq!(p.for_key("uploads/u/x").unwrap().1, "u/x");
        assert!(p.for_key("other/x").is_none());
    }

    #[test]
    fn the_shipped_example_loads() {
        let p = load(include_str!("../../profiles.example.toml")).unwrap();
        assert_eq!(p.names(), "default, avatar, document, video");
        assert!(!p.get("video").unwrap().allows(UploadMethod::PostPolicy));
    }

    #[test]
    fn problems_are_named_by_profile_and_field() {
        let m = messages(
            r#"
[[profile]]
name = "Bad Name"
prefix = "b/"
content_types = ["image"]
max_bytes = 10
methods = ["post", "sts", "sts"]
overwrite = "keep"
"#,
        );
        let joined = m.join("\n");
        for want in [
            "profile \"Bad Name\", field name:",
            "field content_types: \"image\" is not a media type",
            "field methods: \"post\" is not one of",
            "field methods: \"sts\" is listed twice",
            "field overwrite: \"keep\" is not",
        ] {
            assert!(joined.contains(want), "missing {want:?} in\n{joined}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_toml_are_refused() {
        let m = messages("[[profile]]\nname = \"a\"\nmax_byte = 3\n");
        assert!(m[0].contains("unknown field `max_byte`"), "{m:?}");
        assert!(messages("[[profile]\n").len() == 1);
        assert!(messages("[other]\nx = 1\n")[0].contains("unknown field `other`"));
    }

    #[test]
    fn duplicates_and_overlaps_are_refused() {
        let m = messages(
            r#"
[[profile]]
name = "a"
prefix = "a/"
content_types = ["*"]
max_bytes = 10
[[profile]]
name = "a"
prefix = "b/"
content_types = ["*"]
max_bytes = 10
[[profile]]
name = "c"
prefix = "uploads/c/"
content_types = ["*"]
max_bytes = 10
[[profile]]
name = "d"
prefix = "a/d/"
content_types = ["*"]
max_bytes = 10
"#,
        )
        .join("\n");
        assert!(
            m.contains("profile \"a\", field name: is used by two profiles"),
            "{m}"
        );
        assert!(
            m.contains("profile \"c\", field prefix: \"uploads/c/\" overlaps the default profile"),
            "{m}"
        );
        assert!(
            m.contains("profile \"d\", field prefix: \"a/d/\" overlaps profile \"a\""),
            "{m}"
        );
    }

    #[test]
    fn sizes_and_rules_that_cannot_hold_are_refused() {
        let base = "name = \"x\"\nprefix = \"x/\"\ncontent_types = [\"*\"]\n";
        let cases = [
            ("max_bytes = 0\n", "field max_bytes: 0 is below min_bytes"),
            (
                "max_bytes = 10\nmin_bytes = 0\n",
                "field min_bytes: must be at least 1",
            ),
            ("", "field max_bytes: missing"),
            (
                "max_bytes = 6_000_000_000\nmethods = [\"presign\"]\n",
                "over 5 GiB",
            ),
            (
                "max_bytes = 10\nurl_ttl_seconds = 5\n",
                "field url_ttl_seconds",
            ),
            (
                "max_bytes = 10\noverwrite = \"replace\"\n",
                "field fixed_name: missing",
            ),
            (
                "max_bytes = 10\noverwrite = \"replace\"\nfixed_name = \"a/b\"\n",
                "field fixed_name: \"a/b\"",
            ),
            (
                "max_bytes = 10\noverwrite = \"replace\"\nfixed_name = \"a\"\nanonymous = true\n",
                "field overwrite: \"replace\" keeps one key per user",
            ),
            (
                "max_bytes = 10\noverwrite = \"replace\"\nfixed_name = \"a\"\nmethods = [\"sts\"]\n",
                "field methods: \"sts\" cannot serve overwrite = \"replace\"",
            ),
            (
                "max_bytes = 10\nfixed_name = \"a\"\n",
                "field fixed_name: only means",
            ),
            (
                "max_bytes = 10\nallow_object_types = [\"appendable\"]\n",
                "field allow_object_types: \"appendable\" is not \"Appendable\" or \"Symlink\"",
            ),
            (
                "max_bytes = 10\nallow_object_types = [\"Symlink\", \"Symlink\"]\n",
                "field allow_object_types: \"Symlink\" is listed twice",
            ),
        ];
        for (extra, want) in cases {
            let text = format!("[[profile]]\n{base}{extra}");
            let m = messages(&text).join("\n");
            assert!(m.contains(want), "{extra:?}: want {want:?} in\n{m}");
        }
        // Over 5 GiB is fine when multipart may carry it.
        let ok =
            format!("[[profile]]\n{base}max_bytes = 6_000_000_000\nmethods = [\"multipart\"]\n");
        assert!(load(&ok).is_ok());
    }

    #[test]
    fn object_types_are_none_unless_listed() {
        let p = load(EXAMPLE).unwrap();
        assert!(p.iter().all(|p| p.allow_object_types.is_empty()));
        let text = "[[profile]]\nname = \"logs\"\nprefix = \"logs/\"\ncontent_types = [\"*\"]\nmax_bytes = 9\nallow_object_types = [\"Appendable\"]\n";
        let p = load(text).unwrap();
        let logs = p.get("logs").unwrap();
        assert!(logs.object_type_allowed(ObjectType::Appendable));
        assert!(!logs.object_type_allowed(ObjectType::Symlink));
    }

    #[test]
    fn replacing_profiles_default_to_methods_that_pin_the_key() {
        let text = "[[profile]]\nname = \"a\"\nprefix = \"a/\"\ncontent_types = [\"*\"]\nmax_bytes = 9\noverwrite = \"replace\"\nfixed_name = \"me\"\n";
        let p = load(text).unwrap();
        let a = p.get("a").unwrap();
        assert!(!a.allows(UploadMethod::Sts));
        assert!(a.allows(UploadMethod::PostPolicy) && a.allows(UploadMethod::Multipart));
    }

    #[test]
    fn anonymous_mode_needs_anonymous_profiles() {
        let text = "[[profile]]\nname = \"x\"\nprefix = \"x/\"\ncontent_types = [\"*\"]\nmax_bytes = 9\nanonymous = false\n";
        let e = Profiles::load(default_profile(), text, &AuthMode::Anonymous).unwrap_err();
        assert_eq!(e[0].field, "anonymous");
        let text = text.replace("anonymous = false\n", "");
        let p = Profiles::load(default_profile(), &text, &AuthMode::Anonymous).unwrap();
        assert!(p.get("x").unwrap().anonymous);
    }
}
