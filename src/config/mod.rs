//! Configuration from environment variables, validated once at start.
//!
//! Every problem is collected and reported by variable name with what to set,
//! so an operator fixes a broken deployment in one pass. A dangerous
//! configuration (no `AUTH_MODE`, a wildcard CORS origin with real
//! authentication, a missing role) is refused, never silently defaulted.

use std::fmt;

pub mod check;
mod checks;
mod reader;
pub mod state;
mod variables;

pub use check::CheckSettings;
use reader::Reader;
pub use state::StateSettings;

pub use checks::{check_prefix, jwks_url, valid_role_arn};
pub(crate) use checks::{split_list, valid_http_url, valid_mime, valid_origin};
pub use variables::{SetBy, Variable, VARIABLES};

/// Which OSS signature the function produces for URLs and POST policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureVersion {
    /// `OSS4-HMAC-SHA256`, the current scheme. The default.
    V4,
    /// HMAC-SHA1, for clients and SDKs that predate V4.
    V1,
}

impl SignatureVersion {
    /// Parses `v1` / `v4` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v4" | "4" => Some(SignatureVersion::V4),
            "v1" | "1" => Some(SignatureVersion::V1),
            _ => None,
        }
    }

    /// `"v4"` or `"v1"`, as accepted by [`SignatureVersion::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V4 => "v4",
            SignatureVersion::V1 => "v1",
        }
    }
}

/// How callers prove who they are. There is deliberately no default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone may ask; all callers share one prefix. Explicit opt-in only.
    Anonymous,
    /// We verify a bearer JWT ourselves.
    Jwt(JwtSettings),
    /// FC's HTTP trigger verified the JWT and passes the user id in a header.
    FcJwt {
        /// The header the trigger's `claimPassBy` writes the user id into.
        user_header: String,
    },
}

impl AuthMode {
    /// The `AUTH_MODE` value that selects this mode.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::Anonymous => "anonymous",
            AuthMode::Jwt(_) => "jwt",
            AuthMode::FcJwt { .. } => "fc-jwt",
        }
    }
}

/// Settings for `AUTH_MODE=jwt`. Key material is parsed by [`crate::auth`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct JwtSettings {
    /// `JWT_SECRET`: HS256 shared secret.
    pub secret: Option<String>,
    /// `JWT_PUBLIC_KEY`: PEM public key for RS256 / ES256.
    pub public_key_pem: Option<String>,
    /// `JWT_JWKS`: a JWKS document, inline JSON or a file path.
    pub jwks: Option<String>,
    /// `JWT_JWKS_URL`: the identity provider's JWKS URL (https; http only to
    /// a loopback host), fetched and cached by `auth::jwks`.
    pub jwks_url: Option<String>,
    /// `JWT_ISSUER`: required `iss`, when set.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: required `aud`, when set.
    pub audience: Option<String>,
    /// `JWT_USER_CLAIM`: the claim holding the user id (default `sub`).
    pub user_claim: String,
    /// `JWT_LEEWAY_SECONDS`: clock leeway for `exp` / `nbf` (default 30).
    pub leeway_secs: u64,
}

impl fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public_key_pem", &self.public_key_pem.is_some())
            .field("jwks", &self.jwks.is_some())
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("user_claim", &self.user_claim)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

impl JwtSettings {
    /// The key variables that are set, in [`jwt_key_problem`]'s order.
    pub fn key_variables_set(&self) -> Vec<&'static str> {
        [
            self.secret.is_some(),
            self.public_key_pem.is_some(),
            self.jwks.is_some(),
            self.jwks_url.is_some(),
        ]
        .into_iter()
        .zip(JWT_KEY_VARIABLES)
        .filter_map(|(set, (name, _))| set.then_some(name))
        .collect()
    }
}

/// The validated configuration of one function instance.
#[derive(Clone, Debug)]
pub struct Config {
    /// `OSS_BUCKET`: the bucket uploads go to.
    pub bucket: String,
    /// `OSS_REGION`: region id such as `cn-hangzhou` (no `oss-` prefix).
    pub region: String,
    /// `OSS_ROLE_ARN`: the upload role we AssumeRole into.
    pub role_arn: String,
    /// `OSS_ENDPOINT`: where clients send uploads (default `https://oss-<region>.aliyuncs.com`).
    pub oss_endpoint: String,
    /// `STS_ENDPOINT`: where we call AssumeRole (default `https://sts.<region>.aliyuncs.com`).
    pub sts_endpoint: String,
    /// `UPLOAD_PREFIX`: every key starts with it (default `uploads/`).
    pub upload_prefix: String,
    /// `TOKEN_TTL_SECONDS`: lifetime of STS credentials, 900–43200 (default 900).
    pub token_ttl_secs: u64,
    /// `URL_TTL_SECONDS`: lifetime of presigned URLs and POST policies (default 600),
    /// never longer than the credentials that sign them.
    pub url_ttl_secs: u64,
    /// `SIGNATURE_VERSION`: `v4` (default) or `v1`.
    pub signature_version: SignatureVersion,
    /// `MAX_UPLOAD_BYTES`: largest object a client may upload (default 100 MiB).
    pub max_upload_bytes: u64,
    /// `ALLOWED_CONTENT_TYPES`: comma-separated; `*` allows any type.
    pub allowed_content_types: Vec<String>,
    /// `AUTH_MODE` and its settings.
    pub auth: AuthMode,
    /// `ALLOWED_ORIGINS`: exact browser origins allowed by CORS (empty: no CORS).
    pub allowed_origins: Vec<String>,
    /// `RATE_LIMIT_PER_MINUTE`: credential requests per user per minute (0 disables).
    pub rate_limit_per_minute: u32,
    /// `CREDENTIAL_CACHE_SIZE`: scopes kept in the STS credential cache.
    pub credential_cache_size: usize,
    /// `STS_TIMEOUT_MS`: total time allowed for one AssumeRole call (default 5000).
    pub sts_timeout_ms: u64,
    /// `STS_MAX_CALLS_PER_SECOND`: most AssumeRole calls this instance sends
    /// in any second (default 20, 1–1000), well inside the account's quota
    /// of 100 per second shared by everything in it.
    pub sts_max_calls_per_second: u32,
    /// `ALI_OSS_SCRIPT_URL`: where the upload page loads the ali-oss browser build from.
    pub ali_oss_script_url: String,
    /// `LEGACY_ROUTES`: serve the routes Alibaba's sample clients call
    /// (`/get_sts_token`, ...). Off by default: those clients send no
    /// content type or overwrite guard, so the routes are looser than `/v1`.
    pub legacy_routes: bool,
    /// `PROFILES_FILE`: the upload-profile file (TOML). Unset: `profiles.toml`
    /// beside the executable, if there is one (see [`crate::profiles`]).
    pub profiles_file: Option<String>,
    /// `STATE_REDIS_URL`, `STATE_KEY`, `STATE_TIMEOUT_MS`: the optional
    /// shared state ([`crate::state`]); `None` keeps every limit and cache
    /// per instance.
    pub state: Option<StateSettings>,
}

/// The content types allowed when `ALLOWED_CONTENT_TYPES` is not set: common
/// media and documents, and nothing a browser renders as active content
/// (no `text/html`, no `image/svg+xml`).
pub const DEFAULT_CONTENT_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "video/mp4",
    "video/quicktime",
    "audio/mpeg",
    "application/pdf",
    "application/zip",
    "application/octet-stream",
    "text/plain",
];

/// The ali-oss browser build Alibaba's sample pages load.
pub const DEFAULT_ALI_OSS_SCRIPT_URL: &str =
    "https://gosspublic.alicdn.com/aliyun-oss-sdk-6.18.0.min.js";

/// A configuration problem: which variable, and what to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong and what to set instead.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// All problems found in one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the configuration is not usable; fix these environment variables:"
        )?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Reads and validates the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigErrors> {
        Self::from_vars(&|name| std::env::var(name).ok())
    }

    /// Reads and validates the configuration through `get` (tests pass a map).
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let mut r = Reader::new(get);

        let bucket = r.required("OSS_BUCKET", "the name of the bucket uploads go to");
        if !bucket.is_empty() && !crate::oss::valid_bucket_name(&bucket) {
            r.fail(
                "OSS_BUCKET",
                format!(
                    "{bucket:?} is not a valid bucket name (3-63 characters of a-z, 0-9 and '-')"
                ),
            );
        }

        let mut region = r.required("OSS_REGION", "the bucket's region id, e.g. cn-hangzhou");
        if let Some(stripped) = region.strip_prefix("oss-") {
            r.fail(
                "OSS_REGION",
                format!("use the bare region id {stripped:?}, not {region:?}"),
            );
            region = stripped.to_owned();
        } else if !region.is_empty()
            && !region
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            r.fail(
                "OSS_REGION",
                format!("{region:?} is not a region id; set it to e.g. cn-hangzhou"),
            );
        }

        let role_arn = r.required(
            "OSS_ROLE_ARN",
            "the ARN of the upload role, acs:ram::<account id>:role/<role name>",
        );
        if !role_arn.is_empty() && !valid_role_arn(&role_arn) {
            r.fail(
                "OSS_ROLE_ARN",
                format!("{role_arn:?} is not a role ARN; expected acs:ram::<account id>:role/<role name>"),
            );
        }

        let oss_endpoint = r
            .opt("OSS_ENDPOINT")
            .unwrap_or_else(|| format!("https://oss-{region}.aliyuncs.com"));
        let oss_endpoint = oss_endpoint.trim_end_matches('/').to_owned();
        if !valid_http_url(&oss_endpoint) {
            r.fail(
                "OSS_ENDPOINT",
                format!("{oss_endpoint:?} is not an http(s) URL without path, e.g. https://oss-cn-hangzhou.aliyuncs.com"),
            );
        }
        let sts_endpoint = r
            .opt("STS_ENDPOINT")
            .unwrap_or_else(|| format!("https://sts.{region}.aliyuncs.com"));
        let sts_endpoint = sts_endpoint.trim_end_matches('/').to_owned();
        if !valid_http_url(&sts_endpoint) {
            r.fail(
                "STS_ENDPOINT",
                format!("{sts_endpoint:?} is not an http(s) URL without path, e.g. https://sts.cn-hangzhou.aliyuncs.com"),
            );
        }

        let upload_prefix = r.opt("UPLOAD_PREFIX").unwrap_or_else(|| "uploads/".into());
        if let Err(why) = check_prefix(&upload_prefix) {
            r.fail("UPLOAD_PREFIX", why);
        }

        let token_ttl_secs = r.number("TOKEN_TTL_SECONDS", 900, 900, 43200);
        let url_ttl_secs = r.number("URL_TTL_SECONDS", 600, 60, 43200);
        if url_ttl_secs > token_ttl_secs {
            r.fail(
                "URL_TTL_SECONDS",
                format!("{url_ttl_secs} is longer than TOKEN_TTL_SECONDS ({token_ttl_secs}); a URL cannot outlive the credentials that sign it"),
            );
        }

        let signature_version = match r.opt("SIGNATURE_VERSION") {
            None => SignatureVersion::V4,
            Some(v) => SignatureVersion::parse(&v).unwrap_or_else(|| {
                r.fail("SIGNATURE_VERSION", format!("{v:?} is not v4 or v1"));
                SignatureVersion::V4
            }),
        };

        let max_upload_bytes = r.number(
            "MAX_UPLOAD_BYTES",
            100 * 1024 * 1024,
            1,
            5 * 1024 * 1024 * 1024,
        );

        let allowed_content_types = match r.opt("ALLOWED_CONTENT_TYPES") {
            None => DEFAULT_CONTENT_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            Some(v) => {
                let list: Vec<String> = split_list(&v)
                    .into_iter()
                    .map(|s| s.to_ascii_lowercase())
                    .collect();
                if list.is_empty() {
                    r.fail(
                        "ALLOWED_CONTENT_TYPES",
                        "is empty; list types such as image/png,image/jpeg or use * for any",
                    );
                }
                for t in &list {
                    if t != "*" && !valid_mime(t) {
                        r.fail(
                            "ALLOWED_CONTENT_TYPES",
                            format!("{t:?} is not a type/subtype media type"),
                        );
                    }
                }
                list
            }
        };

        let auth = read_auth(&mut r);

        let allowed_origins = r
            .opt("ALLOWED_ORIGINS")
            .map(|v| split_list(&v))
            .unwrap_or_default();
        for o in &allowed_origins {
            if o == "*" {
                if auth != AuthMode::Anonymous {
                    r.fail(
                        "ALLOWED_ORIGINS",
                        "* is only allowed with AUTH_MODE=anonymous; list the exact origins, e.g. https://app.example.com",
                    );
                }
            } else if !valid_origin(o) {
                r.fail(
                    "ALLOWED_ORIGINS",
                    format!("{o:?} is not an origin; use scheme://host[:port] with no path, e.g. https://app.example.com"),
                );
            }
        }

        let rate_limit_per_minute = r.number("RATE_LIMIT_PER_MINUTE", 60, 0, 1_000_000) as u32;
        let credential_cache_size = r.number("CREDENTIAL_CACHE_SIZE", 10_000, 1, 100_000) as usize;
        let sts_timeout_ms = r.number("STS_TIMEOUT_MS", 5000, 100, 60_000);
        let sts_max_calls_per_second = r.number("STS_MAX_CALLS_PER_SECOND", 20, 1, 1000) as u32;
        let ali_oss_script_url = r
            .opt("ALI_OSS_SCRIPT_URL")
            .unwrap_or_else(|| DEFAULT_ALI_OSS_SCRIPT_URL.into());
        let legacy_routes = r.flag("LEGACY_ROUTES", false);
        let profiles_file = r.opt("PROFILES_FILE");
        let state = state::read(&mut r);

        r.finish()?;
        Ok(Config {
            bucket,
            region,
            role_arn,
            oss_endpoint,
            sts_endpoint,
            upload_prefix,
            token_ttl_secs,
            url_ttl_secs,
            signature_version,
            max_upload_bytes,
            allowed_content_types,
            auth,
            allowed_origins,
            rate_limit_per_minute,
            credential_cache_size,
            sts_timeout_ms,
            sts_max_calls_per_second,
            ali_oss_script_url,
            legacy_routes,
            profiles_file,
            state,
        })
    }

    /// Whether `content_type` (already lowercased, parameters stripped) may be uploaded.
    pub fn content_type_allowed(&self, content_type: &str) -> bool {
        self.allowed_content_types
            .iter()
            .any(|t| t == "*" || t == content_type)
    }

    /// Settings that work but weaken the security model, each with what to
    /// set instead. Serve mode and `local` log them at every start.
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if let AuthMode::Jwt(j) = &self.auth {
            if j.audience.is_none() || j.issuer.is_none() {
                out.push("JWT_AUDIENCE or JWT_ISSUER is not set: tokens the same keys signed for other applications are accepted too; set both");
            }
        }
        if self.auth == AuthMode::Anonymous {
            out.push("AUTH_MODE=anonymous: anyone who can reach this function can get upload credentials for the shared prefix; set AUTH_MODE=jwt or fc-jwt for production");
        }
        out
    }

    /// Whether any content type is allowed (`ALLOWED_CONTENT_TYPES=*`).
    pub fn any_content_type(&self) -> bool {
        self.allowed_content_types.iter().any(|t| t == "*")
    }
}

/// The variables that hold `AUTH_MODE=jwt`'s key, and what each holds.
const JWT_KEY_VARIABLES: [(&str, &str); 4] = [
    ("JWT_SECRET", "HS256 secret"),
    ("JWT_PUBLIC_KEY", "PEM, RS256/ES256"),
    ("JWT_JWKS", "JWKS JSON or file path"),
    (
        "JWT_JWKS_URL",
        "your identity provider's JWKS URL; recommended, it follows key rotation",
    ),
];

/// "JWT_SECRET and JWT_JWKS": the names in `names`, joined for a sentence.
fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The problem with `AUTH_MODE=jwt`'s key variables, given which are set:
/// none, or several (named). `None` when exactly one is set.
pub fn jwt_key_problem(set: &[&str]) -> Option<String> {
    let [a, b, c, d] = JWT_KEY_VARIABLES.map(|(n, what)| format!("{n} ({what})"));
    let choices = format!("{a}, {b}, {c} or {d}");
    match set.len() {
        1 => None,
        0 => Some(format!(
            "AUTH_MODE=jwt needs exactly one of {choices}; none is set. Set one of them (locally, `local` makes a development JWT_SECRET for you)"
        )),
        n => Some(format!(
            "AUTH_MODE=jwt needs exactly one of {choices}; {} are {} set. Keep one and unset the others",
            and_list(set),
            if n == 2 { "both" } else { "all" }
        )),
    }
}

fn read_auth(r: &mut Reader<'_>) -> AuthMode {
    let key_vars: Vec<&'static str> = JWT_KEY_VARIABLES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| r.opt(n).is_some())
        .collect();
    let Some(mode) = r.opt("AUTH_MODE") else {
        r.fail(
            "AUTH_MODE",
            "not set; choose jwt (verify a bearer token here), fc-jwt (behind an FC HTTP trigger with JWT auth) or anonymous (anyone may upload; explicit opt-in)",
        );
        return AuthMode::Anonymous;
    };
    let mode = mode.to_ascii_lowercase();
    if mode != "jwt" {
        // A key nothing would verify with: refuse rather than ignore it.
        for name in key_vars.iter().copied() {
            r.fail(
                name,
                format!(
                    "is set but AUTH_MODE is {mode:?}, so no token would be checked against it; set AUTH_MODE=jwt to use it, or unset {name}"
                ),
            );
        }
    }
    match mode.as_str() {
        "anonymous" => AuthMode::Anonymous,
        "fc-jwt" => match r.opt("TRIGGER_USER_HEADER") {
            Some(h) if http::HeaderName::from_bytes(h.as_bytes()).is_ok() => AuthMode::FcJwt {
                user_header: h.to_ascii_lowercase(),
            },
            Some(h) => {
                r.fail("TRIGGER_USER_HEADER", format!("{h:?} is not a header name"));
                AuthMode::Anonymous
            }
            None => {
                r.fail(
                    "TRIGGER_USER_HEADER",
                    "not set; set it to the header your HTTP trigger's claimPassBy maps the user id to, e.g. x-user-id",
                );
                AuthMode::Anonymous
            }
        },
        "jwt" => {
            let s = JwtSettings {
                secret: r.opt("JWT_SECRET"),
                public_key_pem: r.opt("JWT_PUBLIC_KEY"),
                jwks: r.opt("JWT_JWKS"),
                jwks_url: r.opt("JWT_JWKS_URL"),
                issuer: r.opt("JWT_ISSUER"),
                audience: r.opt("JWT_AUDIENCE"),
                user_claim: r.opt("JWT_USER_CLAIM").unwrap_or_else(|| "sub".into()),
                leeway_secs: r.number("JWT_LEEWAY_SECONDS", 30, 0, 300),
            };
            if let Some(problem) = jwt_key_problem(&key_vars) {
                r.fail("JWT_SECRET", problem);
            }
            if let Some(url) = &s.jwks_url {
                if let Err(e) = jwks_url(url) {
                    r.fail("JWT_JWKS_URL", e);
                }
            }
            if let Some(secret) = &s.secret {
                if secret.len() < 32 {
                    r.fail(
                        "JWT_SECRET",
                        "is shorter than 32 bytes; use a random secret of at least 32 bytes",
                    );
                }
            }
            AuthMode::Jwt(s)
        }
        other => {
            r.fail(
                "AUTH_MODE",
                format!("{other:?} is not one of jwt, fc-jwt, anonymous"),
            );
            AuthMode::Anonymous
        }
    }
}

#[cfg(test)]
mod tests;
