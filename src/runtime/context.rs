//! What FC tells the function about one invocation: the [`Context`] read
//! from the `x-fc-*` request headers (falling back to the [`Environment`]),
//! and the request-id and front-door rules around those headers.

use alibaba_sign::Credentials;

/// What FC tells us about one invocation, besides the HTTP request itself.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `x-fc-request-id`, or a generated id when not running on FC.
    pub request_id: String,
    /// The function role's temporary credentials: `x-fc-access-key-*` headers,
    /// else the `ALIBABA_CLOUD_*` environment variables. `None` when neither is set.
    pub credentials: Option<Credentials>,
    /// `x-fc-region` or `FC_REGION`.
    pub region: Option<String>,
    /// `x-fc-function-name` or `FC_FUNCTION_NAME`.
    pub function_name: Option<String>,
    /// `x-fc-account-id` or `FC_ACCOUNT_ID`.
    pub account_id: Option<String>,
}

/// The process-wide defaults a [`Context`] falls back to, read once at start.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// Credentials from `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `ALIBABA_CLOUD_SECURITY_TOKEN`.
    pub credentials: Option<Credentials>,
    /// `FC_REGION`.
    pub region: Option<String>,
    /// `FC_FUNCTION_NAME`.
    pub function_name: Option<String>,
    /// `FC_ACCOUNT_ID`.
    pub account_id: Option<String>,
}

impl Environment {
    /// Reads the FC-provided variables through `get` (normally `std::env::var`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let nonempty = |name: &str| get(name).filter(|v| !v.is_empty());
        let credentials = match (
            nonempty("ALIBABA_CLOUD_ACCESS_KEY_ID"),
            nonempty("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        ) {
            (Some(id), Some(secret)) => Some(Credentials::new(
                id,
                secret,
                nonempty("ALIBABA_CLOUD_SECURITY_TOKEN"),
            )),
            _ => None,
        };
        Environment {
            credentials,
            region: nonempty("FC_REGION"),
            function_name: nonempty("FC_FUNCTION_NAME"),
            account_id: nonempty("FC_ACCOUNT_ID"),
        }
    }

    /// Reads the real process environment.
    pub fn from_process() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

impl Context {
    /// Builds the context for one request from its `x-fc-*` headers, falling back to `env`.
    pub fn from_headers(headers: &http::HeaderMap, env: &Environment) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let credentials = match (
            header("x-fc-access-key-id"),
            header("x-fc-access-key-secret"),
        ) {
            (Some(id), Some(secret)) => {
                Some(Credentials::new(id, secret, header("x-fc-security-token")))
            }
            _ => env.credentials.clone(),
        };
        Context {
            request_id: header("x-fc-request-id")
                .filter(|id| is_safe_request_id(id))
                .unwrap_or_else(new_request_id),
            credentials,
            region: header("x-fc-region").or_else(|| env.region.clone()),
            function_name: header("x-fc-function-name").or_else(|| env.function_name.clone()),
            account_id: header("x-fc-account-id").or_else(|| env.account_id.clone()),
        }
    }
}

/// Longest `x-fc-request-id` taken over; FC's own are 36 characters.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a request id from `x-fc-request-id` may be used as it is: 1 to
/// [`MAX_REQUEST_ID_LEN`] characters of `A-Z a-z 0-9 - _ .`. It goes into
/// every log line and the `x-request-id` answer header, so anything else
/// (quotes, spaces, control characters, very long values) is replaced by a
/// fresh id rather than copied.
pub fn is_safe_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Does to a request what FC's HTTP trigger does (see
/// [`Options::drop_fc_headers`]): removes every client-sent `x-fc-*` header,
/// then marks the request as trigger traffic (`x-fc-control-path:
/// /http-invoke`), so lifecycle hooks and events refuse it as on FC.
pub fn drop_fc_headers(headers: &mut http::HeaderMap) {
    let names: Vec<http::HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-fc-"))
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
    headers.insert(
        "x-fc-control-path",
        http::HeaderValue::from_static("/http-invoke"),
    );
}

/// A fresh request id for requests that did not come through FC, shaped like
/// FC's own (`8-4-4-4-12` hex digits).
pub fn new_request_id() -> String {
    use rand::Rng;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes: [u8; 16] = rand::thread_rng().gen();
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}
