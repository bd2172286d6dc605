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
//!
//! [`keys`] holds the key grammar itself: how the function builds a key and
//! which keys it accepts (the API's and the upload check's one rule set).

use crate::config::{AuthMode, Config};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

mod file;
pub mod keys;
pub mod limits;

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

/// An OSS object type other than `Normal`/`Multipart` that a profile may keep.
///
/// `oss:PutObject`, which `/v1/sts` credentials carry, also allows
/// AppendObject and PutSymlink; the upload check rejects such objects under a
/// profile's prefix unless the profile lists the type in `allow_object_types`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// Made by AppendObject (`x-oss-object-type: Appendable`): it can grow
    /// after it was checked, and CopyObject cannot quarantine it.
    Appendable,
    /// Made by PutSymlink (`x-oss-object-type: Symlink`): its bytes are any
    /// other object's in the bucket.
    Symlink,
}

impl ObjectType {
    /// Both, in the order they are listed to users.
    pub const ALL: [ObjectType; 2] = [ObjectType::Appendable, ObjectType::Symlink];

    /// OSS's name, as in `x-oss-object-type` and the profile file.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Appendable => "Appendable",
            ObjectType::Symlink => "Symlink",
        }
    }

    /// The type OSS names `s` (`x-oss-object-type`); `None` for `Normal`,
    /// `Multipart` or anything else.
    pub fn parse(s: &str) -> Option<ObjectType> {
        ObjectType::ALL.into_iter().find(|t| t.as_str() == s)
    }
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
    /// Object types the check keeps besides Normal and Multipart (none unless
    /// the profile file says `allow_object_types = ["Appendable"]`).
    pub allow_object_types: Vec<ObjectType>,
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
            allow_object_types: Vec::new(),
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

    /// Whether the check keeps objects of OSS type `t` under this profile.
    pub fn object_type_allowed(&self, t: ObjectType) -> bool {
        self.allow_object_types.contains(&t)
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
