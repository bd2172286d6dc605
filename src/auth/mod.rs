//! Who the caller is.
//!
//! Every credential we hand out is scoped to one user's prefix, so this module
//! decides the user id everything downstream trusts. Three modes, chosen by
//! `AUTH_MODE` (see [`crate::config::AuthMode`]):
//!
//! - **`jwt`**: the caller sends `Authorization: Bearer <jwt>` and we verify it
//!   here (see [`jwt`] for the exact rules). The algorithm is fixed by the
//!   configured key, never by the token: HS256 for `JWT_SECRET`, RS256 or ES256
//!   for `JWT_PUBLIC_KEY` / `JWT_JWKS` / `JWT_JWKS_URL` (the provider's key
//!   set, fetched and cached: [`jwks`]). `exp` is required; `nbf`, `iss` and
//!   `aud` are checked (the last two when configured). The user id is the claim
//!   named by `JWT_USER_CLAIM` (default `sub`).
//! - **`fc-jwt`**: Function Compute's HTTP trigger verified the JWT and copied
//!   the user id into the header named by `TRIGGER_USER_HEADER` (its
//!   `claimPassBy` setting). **This mode is only safe behind such a trigger**:
//!   anywhere else that header is set by the client, and anyone could claim to
//!   be anyone. Never expose the function through another route (a custom
//!   domain without JWT auth, an anonymous trigger) in this mode.
//! - **`anonymous`**: everyone is the same anonymous caller
//!   (`user_id: None`). An explicit opt-in for public drop boxes.
//!
//! Tokens are never logged, echoed in errors, or stored: [`AuthError`] carries
//! only fixed, reviewed reason strings.
//!
//! [`user_prefix_segment`] turns a user id into a safe object-key segment.

pub mod jwks;
pub mod jwt;
mod keys;
mod segment;

pub use segment::{user_from_segment, user_prefix_segment, MAX_USER_ID_BYTES};

use std::fmt;

use http::{HeaderMap, HeaderName};

use crate::config::AuthMode;

/// The `realm` we announce in `WWW-Authenticate`.
pub const REALM: &str = "oss-direct-upload";

/// The authenticated caller, as trusted by the rest of the function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user id the caller's uploads are scoped to; `None` in anonymous
    /// mode. When `Some`, [`user_prefix_segment`] is known to accept it.
    pub user_id: Option<String>,
}

/// Why a request was not authenticated.
///
/// Reasons are fixed `&'static str`s so nothing from the request (least of
/// all the token) can leak into a response or a log line through them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credential at all: no (or an empty) `Authorization: Bearer` header in
    /// `jwt` mode, no (or an empty) user header in `fc-jwt` mode. HTTP 401.
    Missing,
    /// A credential was sent but is not acceptable: "expired", "bad signature",
    /// "wrong audience", ... HTTP 401.
    Invalid(&'static str),
    /// The credential is valid but does not identify a usable user (the user
    /// claim is absent, empty, too long, of the wrong type). HTTP 403: signing
    /// in again with the same identity provider will not help.
    Forbidden(&'static str),
    /// `JWT_JWKS_URL`: no key set has been fetched yet (the provider was
    /// unreachable, or answered no usable set), so no token can be checked.
    /// HTTP 503 `JwksUnavailable`, with `Retry-After`.
    KeysUnavailable {
        /// Seconds until the next fetch may be tried, at least 1.
        retry_after_secs: u64,
    },
}

impl AuthError {
    /// The HTTP status to answer with: 401 for [`Missing`](AuthError::Missing)
    /// and [`Invalid`](AuthError::Invalid), 403 for
    /// [`Forbidden`](AuthError::Forbidden), 503 for
    /// [`KeysUnavailable`](AuthError::KeysUnavailable).
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing | AuthError::Invalid(_) => 401,
            AuthError::Forbidden(_) => 403,
            AuthError::KeysUnavailable { .. } => 503,
        }
    }

    /// The stable, machine-readable error code for the JSON error body:
    /// `"Unauthorized"`, `"InvalidToken"`, `"Forbidden"` or `"JwksUnavailable"`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "Unauthorized",
            AuthError::Invalid(_) => "InvalidToken",
            AuthError::Forbidden(_) => "Forbidden",
            AuthError::KeysUnavailable { .. } => "JwksUnavailable",
        }
    }

    /// The fixed reason, if any (never derived from the request).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing | AuthError::KeysUnavailable { .. } => None,
            AuthError::Invalid(r) | AuthError::Forbidden(r) => Some(r),
        }
    }

    /// Seconds to send in `Retry-After` ([`KeysUnavailable`](AuthError::KeysUnavailable) only).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AuthError::KeysUnavailable { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// A human-readable message that says what to do next. Built only from
    /// the fixed reason, so it never echoes the token.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "This request needs a signed-in user. Sign in and send the access token \
                 in the Authorization header as \"Bearer <token>\"."
                .to_owned(),
            AuthError::Invalid(reason) => format!(
                "The access token was rejected ({reason}). Sign in again to get a fresh token, then retry."
            ),
            AuthError::Forbidden(reason) => format!(
                "The access token is valid but does not identify a user who may upload ({reason}). \
                 Signing in again will not help; ask the administrator to check the identity \
                 provider's user claim."
            ),
            AuthError::KeysUnavailable { retry_after_secs } => format!(
                "The identity provider's signing keys (JWT_JWKS_URL) could not be fetched yet, so \
                 no token can be checked. Retry in {retry_after_secs} s; if this persists, the \
                 administrator should check that the function can reach JWT_JWKS_URL."
            ),
        }
    }

    /// The `WWW-Authenticate` header value for 401 answers (RFC 6750 §3);
    /// `None` for 403. A missing credential gets no `error` attribute, as the
    /// RFC asks; an invalid one gets `error="invalid_token"` and the reason.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            AuthError::Missing => Some(format!("Bearer realm=\"{REALM}\"")),
            AuthError::Invalid(reason) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
                quoted_string_safe(reason)
            )),
            AuthError::Forbidden(_) | AuthError::KeysUnavailable { .. } => None,
        }
    }
}

/// Keeps a reason inside an RFC 7230 quoted-string. Reasons are fixed
/// literals without `"` or `\`; this guards against a future edit adding one.
fn quoted_string_safe(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => f.write_str("no credentials"),
            AuthError::Invalid(r) => write!(f, "invalid token: {r}"),
            AuthError::Forbidden(r) => write!(f, "forbidden: {r}"),
            AuthError::KeysUnavailable { .. } => f.write_str("no JWKS fetched yet"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Authenticates requests in the configured mode. Built once at start (key
/// material parsed then), shared by every request; `Send + Sync`.
pub struct Authenticator {
    inner: Inner,
}

enum Inner {
    Anonymous,
    FcJwt { user_header: HeaderName },
    Jwt(Box<jwt::JwtVerifier>),
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Anonymous => f.write_str("Authenticator(anonymous)"),
            Inner::FcJwt { user_header } => {
                write!(f, "Authenticator(fc-jwt, user header {user_header})")
            }
            Inner::Jwt(v) => write!(f, "Authenticator(jwt, {v:?})"),
        }
    }
}

impl Authenticator {
    /// Builds the authenticator for `mode`, parsing all key material now so a
    /// bad key stops the function at start instead of failing every request.
    /// The error names the environment variable to fix (`JWT_SECRET`,
    /// `JWT_PUBLIC_KEY`, `JWT_JWKS`, `TRIGGER_USER_HEADER`, ...).
    pub fn from_config(mode: &AuthMode) -> Result<Authenticator, String> {
        let inner = match mode {
            AuthMode::Anonymous => Inner::Anonymous,
            AuthMode::FcJwt { user_header } => {
                let user_header = HeaderName::from_bytes(user_header.trim().as_bytes())
                    .map_err(|_| {
                        format!(
                            "TRIGGER_USER_HEADER: {user_header:?} is not a header name; set it to the \
                             header your HTTP trigger's claimPassBy writes the user id to, e.g. x-user-id"
                        )
                    })?;
                if user_header == http::header::AUTHORIZATION {
                    return Err(
                        "TRIGGER_USER_HEADER: must name the header carrying the user id \
                                (e.g. x-user-id), not Authorization"
                            .to_owned(),
                    );
                }
                Inner::FcJwt { user_header }
            }
            AuthMode::Jwt(settings) => Inner::Jwt(Box::new(jwt::JwtVerifier::new(settings)?)),
        };
        Ok(Authenticator { inner })
    }

    /// Decides who sent a request with these `headers`. `now_unix` is the
    /// current time in Unix seconds, passed in so expiry is testable with a
    /// fixed clock. Never logs; errors carry only fixed reasons.
    pub fn authenticate(&self, headers: &HeaderMap, now_unix: i64) -> Result<Caller, AuthError> {
        match &self.inner {
            Inner::Anonymous => Ok(Caller { user_id: None }),
            Inner::FcJwt { user_header } => fc_jwt_user(headers, user_header),
            Inner::Jwt(verifier) => {
                let token = bearer_token(headers)?;
                let user_id = verifier.verify(token, now_unix)?;
                Ok(Caller {
                    user_id: Some(user_id),
                })
            }
        }
    }

    /// [`Authenticator::authenticate`], but with `JWT_JWKS_URL` the key set is
    /// first brought up to date as [`jwks`] rules (waiting for the first set,
    /// refreshing a stale one, or refetching once for an unknown `kid`, each
    /// bounded by [`jwks::FETCH_TIMEOUT`]). What the API admits requests with.
    pub async fn authenticate_refreshing(
        &self,
        headers: &HeaderMap,
        now_unix: i64,
    ) -> Result<Caller, AuthError> {
        match &self.inner {
            Inner::Jwt(verifier) => {
                let token = bearer_token(headers)?;
                let user_id = verifier.verify_refreshing(token, now_unix).await?;
                Ok(Caller {
                    user_id: Some(user_id),
                })
            }
            _ => self.authenticate(headers, now_unix),
        }
    }

    /// The `AUTH_MODE` value in force: `"anonymous"`, `"jwt"` or `"fc-jwt"`
    /// (for the start-up log line and the health endpoint).
    pub fn mode_name(&self) -> &'static str {
        match &self.inner {
            Inner::Anonymous => "anonymous",
            Inner::FcJwt { .. } => "fc-jwt",
            Inner::Jwt(_) => "jwt",
        }
    }

    /// Whether clients must send `Authorization: Bearer` (true in `jwt` mode
    /// only), so the API can advertise it and CORS can allow the header. In
    /// `fc-jwt` mode the token goes to the trigger, which consumes it.
    pub fn requires_token(&self) -> bool {
        matches!(self.inner, Inner::Jwt(_))
    }
}

/// Extracts the token from the single `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::Missing);
    };
    if values.next().is_some() {
        return Err(AuthError::Invalid("more than one Authorization header"));
    }
    if value.len() > jwt::MAX_TOKEN_BYTES + 64 {
        return Err(AuthError::Invalid("token too large"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::Invalid("malformed Authorization header"))?
        .trim();
    if value.is_empty() {
        return Err(AuthError::Missing);
    }
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Invalid(
            "Authorization header is not a Bearer token",
        ));
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token)
}

/// Reads the user id FC's trigger passed in `header` (see the module doc for
/// why this is only safe behind that trigger).
fn fc_jwt_user(headers: &HeaderMap, header: &HeaderName) -> Result<Caller, AuthError> {
    let mut values = headers.get_all(header).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::Missing);
    };
    if values.next().is_some() {
        return Err(AuthError::Forbidden("more than one user id header"));
    }
    let user_id = std::str::from_utf8(value.as_bytes())
        .map_err(|_| AuthError::Forbidden("user id is not UTF-8"))?
        .trim();
    if user_id.is_empty() {
        return Err(AuthError::Missing);
    }
    user_prefix_segment(user_id)?;
    Ok(Caller {
        user_id: Some(user_id.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    fn fc() -> Authenticator {
        Authenticator::from_config(&AuthMode::FcJwt {
            user_header: "x-user-id".into(),
        })
        .unwrap()
    }

    #[test]
    fn authenticator_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Authenticator>();
        check::<Caller>();
        check::<AuthError>();
    }

    #[test]
    fn anonymous_is_always_the_anonymous_caller() {
        let a = Authenticator::from_config(&AuthMode::Anonymous).unwrap();
        assert_eq!(a.mode_name(), "anonymous");
        assert!(!a.requires_token());
        let h = headers(&[("authorization", b"Bearer garbage")]);
        assert_eq!(a.authenticate(&h, 0), Ok(Caller { user_id: None }));
        assert_eq!(
            a.authenticate(&HeaderMap::new(), 0),
            Ok(Caller { user_id: None })
        );
    }

    #[test]
    fn fc_jwt_takes_the_user_from_the_trigger_header() {
        let a = fc();
        assert_eq!(a.mode_name(), "fc-jwt");
        assert!(!a.requires_token());
        let h = headers(&[("x-user-id", b"alice")]);
        assert_eq!(
            a.authenticate(&h, 0).unwrap().user_id.as_deref(),
            Some("alice")
        );
        let h = headers(&[("x-user-id", "用户".as_bytes())]);
        assert_eq!(
            a.authenticate(&h, 0).unwrap().user_id.as_deref(),
            Some("用户")
        );
    }

    #[test]
    fn fc_jwt_missing_or_empty_header_is_401() {
        let a = fc();
        for h in [
            HeaderMap::new(),
            headers(&[("x-user-id", b"")]),
            headers(&[("x-user-id", b"   ")]),
            headers(&[("authorization", b"Bearer x.y.z")]),
        ] {
            let e = a.authenticate(&h, 0).unwrap_err();
            assert_eq!(e, AuthError::Missing);
            assert_eq!(e.status(), 401);
        }
    }

    #[test]
    fn fc_jwt_unusable_header_is_403() {
        let a = fc();
        let two = headers(&[("x-user-id", b"a"), ("x-user-id", b"b")]);
        assert_eq!(a.authenticate(&two, 0).unwrap_err().status(), 403);
        let long = "u".repeat(MAX_USER_ID_BYTES + 1);
        let h = headers(&[("x-user-id", long.as_bytes())]);
        assert_eq!(a.authenticate(&h, 0).unwrap_err().status(), 403);
        let h = headers(&[("x-user-id", b"\xff\xfe")]);
        assert_eq!(
            a.authenticate(&h, 0).unwrap_err(),
            AuthError::Forbidden("user id is not UTF-8")
        );
    }

    #[test]
    fn fc_jwt_bad_header_name_names_the_variable() {
        let e = Authenticator::from_config(&AuthMode::FcJwt {
            user_header: "bad header".into(),
        })
        .unwrap_err();
        assert!(e.starts_with("TRIGGER_USER_HEADER:"), "{e}");
        let e = Authenticator::from_config(&AuthMode::FcJwt {
            user_header: "Authorization".into(),
        })
        .unwrap_err();
        assert!(e.starts_with("TRIGGER_USER_HEADER:"), "{e}");
    }

    #[test]
    fn bearer_parsing() {
        let ok = |v: &[u8]| bearer_token(&headers(&[("authorization", v)])).map(str::to_owned);
        assert_eq!(ok(b"Bearer a.b.c").as_deref(), Ok("a.b.c"));
        assert_eq!(ok(b"bearer   a.b.c ").as_deref(), Ok("a.b.c"));
        assert_eq!(ok(b"BEARER a.b.c").as_deref(), Ok("a.b.c"));
        assert_eq!(ok(b""), Err(AuthError::Missing));
        assert_eq!(ok(b"Bearer"), Err(AuthError::Missing));
        assert_eq!(ok(b"Bearer   "), Err(AuthError::Missing));
        assert_eq!(bearer_token(&HeaderMap::new()), Err(AuthError::Missing));
        assert_eq!(ok(b"Basic dXNlcjpwYXNz").unwrap_err().status(), 401);
        assert_eq!(ok(b"Bearer \xff").unwrap_err().status(), 401);
        let two = headers(&[
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer b"),
        ]);
        assert_eq!(
            bearer_token(&two),
            Err(AuthError::Invalid("more than one Authorization header"))
        );
        let huge = format!("Bearer {}", "a".repeat(20_000));
        assert_eq!(
            ok(huge.as_bytes()),
            Err(AuthError::Invalid("token too large"))
        );
    }

    #[test]
    fn error_shapes() {
        let m = AuthError::Missing;
        assert_eq!((m.status(), m.code()), (401, "Unauthorized"));
        assert_eq!(
            m.www_authenticate().as_deref(),
            Some("Bearer realm=\"oss-direct-upload\"")
        );
        assert!(m.message().contains("Bearer <token>"));

        let i = AuthError::Invalid("expired");
        assert_eq!((i.status(), i.code()), (401, "InvalidToken"));
        assert_eq!(
            i.www_authenticate().as_deref(),
            Some(
                "Bearer realm=\"oss-direct-upload\", error=\"invalid_token\", error_description=\"expired\""
            )
        );
        assert!(i.message().contains("expired"));
        assert!(i.message().contains("Sign in again"));

        let f = AuthError::Forbidden("user claim absent");
        assert_eq!((f.status(), f.code()), (403, "Forbidden"));
        assert_eq!(f.www_authenticate(), None);
        assert!(f.message().contains("user claim absent"));
    }

    #[test]
    fn www_authenticate_stays_a_quoted_string() {
        let e = AuthError::Invalid("a \"quoted\" \\ reason\n");
        let h = e.www_authenticate().unwrap();
        assert!(h.ends_with("error_description=\"a quoted  reason\""), "{h}");
        assert!(HeaderValue::from_str(&h).is_ok());
    }
}
