//! Upload profiles: each kind of upload an app has (avatars, documents,
//! videos, ...) with its own part of the key space and its own rules.
//!
//! The environment variables define the `default` profile, so a deployment
//! without a profile file behaves exactly as before. More profiles come from
//! a TOML file (`PROFILES_FILE`, or `profiles.toml` beside `bootstrap`): FC
//! caps environment variables at 4 KB in total, too little for several rule
//! sets. Every problem in the file is reported at start by profile and
//! field, and the process exits.
//!
//! Key layout, the same for every profile, so the key alone tells which
//! profile and which user an object belongs to:
//!
//! ```text
//! <profile prefix><user segment>/<random id>/<file name>   overwrite = "forbid"
//! <profile prefix><user segment>/<fixed name>              overwrite = "replace"
//! ```
//!
//! Prefixes never overlap (none is a prefix of another), so a key has at
//! most one profile. The user segment is [`crate::auth::user_prefix_segment`];
//! with `AUTH_MODE=anonymous` there is no user segment (today's layout).

use crate::config::{check_prefix, valid_mime, AuthMode, Config};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The name of the profile the environment variables define.
pub const DEFAULT_PROFILE: &str = "default";

/// The largest object one PUT or POST may create (5 GiB); larger objects
/// need multipart (or STS credentials, which an SDK turns into multipart).
pub const SINGLE_REQUEST_MAX_BYTES: u64 = 5 << 30;

/// The largest object OSS stores (48.8 TiB, 10,000 parts of 5 GiB).
pub const OSS_MAX_OBJECT_BYTES: u64 = 10_000 * SINGLE_REQUEST_MAX_BYTES;

/// An upload method a profile may allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UploadMethod {
    /// `/v1/sts`: scoped STS credentials (size and type checked after the upload).
    Sts,
    /// `/v1/post-policy` and Uppy's `/s3/params`: a signed browser form.
    PostPolicy,
    /// `/v1/presign`: one presigned PUT.
    Presign,
    /// `/v1/multipart` and Uppy's `/s3/multipart`: presigned parts.
    Multipart,
}

impl UploadMethod {
    /// Every method, in the order they are listed to users.
    pub const ALL: [UploadMethod; 4] = [
        UploadMethod::Sts,
        UploadMethod::PostPolicy,
        UploadMethod::Presign,
        UploadMethod::Multipart,
    ];

    /// The name used in the profile file, `/v1/config` and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadMethod::Sts => "sts",
            UploadMethod::PostPolicy => "post-policy",
            UploadMethod::Presign => "presign",
            UploadMethod::Multipart => "multipart",
        }
    }

    fn parse(s: &str) -> Option<UploadMethod> {
        UploadMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What a new upload does to an existing object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Every upload gets a new random key and may never replace an object
    /// (`x-oss-forbid-overwrite: true`; 409 if one exists).
    Forbid,
    /// One fixed key per user, `<prefix><user>/<name>`, that each new upload
    /// replaces (an avatar).
    Replace {
        /// The last key segment, e.g. `avatar`.
        name: String,
    },
}

/// One kind of upload and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// `[a-z0-9-]`, at most 32 bytes; `default` is the environment's.
    pub name: String,
    /// Its part of the key space, ending in `/`; no other profile's prefix
    /// starts with it or is started by it.
    pub prefix: String,
    /// Allowed media types (normalised essence); `["*"]` allows any.
    pub content_types: Vec<String>,
    /// Smallest object, bytes (at least 1).
    pub min_bytes: u64,
    /// Largest object, bytes.
    pub max_bytes: u64,
    /// The upload methods this profile may be used with.
    pub methods: Vec<UploadMethod>,
    /// Lifetime of presigned URLs and POST policies, seconds.
    pub url_ttl_secs: u64,
    /// Lifetime of STS credentials, seconds.
    pub token_ttl_secs: u64,
    /// Whether callers without a token may use it.
    pub anonymous: bool,
    /// What a new upload does to an existing object.
    pub overwrite: Overwrite,
}

impl Profile {
    /// The `default` profile: today's environment variables.
    pub fn from_config(config: &Config) -> Profile {
        Profile {
            name: DEFAULT_PROFILE.to_owned(),
            prefix: config.upload_prefix.clone(),
            content_types: config.allowed_content_types.clone(),
            min_bytes: 1,
            max_bytes: config.max_upload_bytes,
            methods: UploadMethod::ALL.to_vec(),
            url_ttl_secs: config.url_ttl_secs,
            token_ttl_secs: config.token_ttl_secs,
            anonymous: config.auth == AuthMode::Anonymous,
            overwrite: Overwrite::Forbid,
        }
    }

    /// Whether `method` may be used with this profile.
    pub fn allows(&self, method: UploadMethod) -> bool {
        self.methods.contains(&method)
    }

    /// Whether `content_type` (a normalised essence) is allowed.
    pub fn content_type_allowed(&self, content_type: &str) -> bool {
        self.content_types
            .iter()
            .any(|t| t == "*" || t == content_type)
    }

    /// Whether any type is allowed (`*`).
    pub fn any_content_type(&self) -> bool {
        self.content_types.iter().any(|t| t == "*")
    }

    /// The method names, comma-separated, for error messages.
    pub fn method_names(&self) -> String {
        self.methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every profile of one deployment, `default` first, then the file's in
/// file order.
#[derive(Clone, Debug)]
pub struct Profiles {
    list: Vec<Arc<Profile>>,
}

impl Profiles {
    /// Only the `default` profile.
    pub fn only(default: Profile) -> Profiles {
        Profiles {
            list: vec![Arc::new(default)],
        }
    }

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

    /// The profiles of `config`: `default` from the environment, plus the
    /// file `PROFILES_FILE` names, or `profiles.toml` beside the executable
    /// when that exists. Read once, at start.
    pub fn from_config(config: &Config) -> Result<Profiles, Vec<ProfileError>> {
        let default = Profile::from_config(config);
        let path = match &config.profiles_file {
            Some(p) => PathBuf::from(p),
            None => match std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|d| d.join("profiles.toml")))
            {
                Some(p) if p.is_file() => p,
                _ => return Ok(Profiles::only(default)),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            vec![ProfileError::new(
                "",
                "",
                format!(
                    "PROFILES_FILE: cannot read {}: {e}; point PROFILES_FILE at the profile file, or unset it",
                    path.display()
                ),
            )]
        })?;
        Profiles::load(default, &text, &config.auth).map_err(|errs| {
            errs.into_iter()
                .map(|mut e| {
                    e.file = path.display().to_string();
                    e
                })
                .collect()
        })
    }

    /// The profile named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Profile>> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The `default` profile.
    pub fn default_profile(&self) -> &Arc<Profile> {
        &self.list[0]
    }

    /// Every profile, `default` first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.list.iter()
    }

    /// The names, comma-separated, for error messages.
    pub fn names(&self) -> String {
        self.list
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The profile whose key space holds `key`, and the rest of the key after
    /// its prefix. Prefixes never overlap, so there is at most one.
    pub fn for_key<'k>(&self, key: &'k str) -> Option<(&Arc<Profile>, &'k str)> {
        self.list
            .iter()
            .find_map(|p| key.strip_prefix(p.prefix.as_str()).map(|rest| (p, rest)))
    }
}

/// A problem in the profile file: which profile, which field, what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileError {
    /// The file it was found in (empty when none was read).
    pub file: String,
    /// The profile's name (or its position when it has none); empty for the file.
    pub profile: String,
    /// The field; empty for the whole profile or file.
    pub field: String,
    /// What is wrong and what to set.
    pub message: String,
}

impl ProfileError {
    fn new(profile: &str, field: &str, message: impl Into<String>) -> Self {
        ProfileError {
            file: String::new(),
            profile: profile.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}: ", self.file)?;
        }
        match (self.profile.is_empty(), self.field.is_empty()) {
            (true, _) => write!(f, "{}", self.message),
            (false, true) => write!(f, "profile {:?}: {}", self.profile, self.message),
            (false, false) => write!(
                f,
                "profile {:?}, field {}: {}",
                self.profile, self.field, self.message
            ),
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
                    fail("overwrite", "\"replace\" keeps one key per user, so the profile cannot also be anonymous".into());
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
        let p = load(include_str!("../profiles.example.toml")).unwrap();
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
