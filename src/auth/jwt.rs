//! `AUTH_MODE=jwt`: verifying bearer JWTs ourselves.
//!
//! Rules, in the order they are applied:
//!
//! 1. The token is at most [`MAX_TOKEN_BYTES`] and has the compact JWS shape
//!    (three base64url parts). Anything else is `Invalid`.
//! 2. The key is chosen by configuration, never by the token: the one secret
//!    or PEM key, or the JWKS entry whose `kid` matches the header's (a token
//!    without `kid` is accepted only when the set holds exactly one key). The
//!    JWKS is `JWT_JWKS` (inline or a file) or fetched from `JWT_JWKS_URL`
//!    (cached and refetched by the rules in [`super::jwks`]).
//! 3. The algorithm is pinned by that key: HS256 for `JWT_SECRET`, RS256 for
//!    an RSA key (or the RSA algorithm a JWK names in its `alg`), ES256 for an
//!    EC P-256 key. A header asking for anything else (`none`, HS256 against
//!    an RSA key, ...) is refused before any cryptography runs, and the crate
//!    is told to accept only the pinned algorithm as well.
//! 4. The signature is verified (jsonwebtoken, RustCrypto backend); only then
//!    are claims looked at. `iss` / `aud` must be present and match when
//!    `JWT_ISSUER` / `JWT_AUDIENCE` are set (an unset `JWT_AUDIENCE` means
//!    `aud` is not checked).
//! 5. `exp` is required; `exp` and `nbf` are checked against the caller's
//!    clock (`now_unix`) with `JWT_LEEWAY_SECONDS` of leeway. jsonwebtoken can
//!    only read the system clock, so its own time checks are turned off.
//! 6. The user id is the claim named by `JWT_USER_CLAIM`: a string, or an
//!    integer taken as its decimal text. Of another type (array, object,
//!    fraction, boolean) the token is malformed: `Invalid`, 401, as for a
//!    malformed `exp` (and as jsonwebtoken answers for a non-string `sub`).
//!    Absent, empty or too long is `Forbidden`, 403: the token is well formed
//!    but names no usable user.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::jwks::{RemoteJwks, RemoteOptions};
use super::keys::{jwks_keys, pem_key, secret_key, KeyEntry};
use super::{user_prefix_segment, AuthError};
use crate::config::{jwks_url, JwtSettings};

pub use super::keys::MIN_RSA_BITS;

/// The largest token accepted, in bytes. Real ID/access tokens are 1–2 KB;
/// the bound keeps a hostile header from costing us base64 and JSON work.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Where the verification keys come from.
enum Keys {
    /// `JWT_SECRET` / `JWT_PUBLIC_KEY` (`single`: one key, `kid` ignored) or
    /// an inline `JWT_JWKS`.
    Fixed { keys: Vec<KeyEntry>, single: bool },
    /// `JWT_JWKS_URL`: fetched and cached (see [`super::jwks`]).
    Remote(Arc<RemoteJwks>),
}

/// Verifies bearer JWTs for one configuration. Built by
/// [`super::Authenticator::from_config`]; exposed for its documentation.
pub struct JwtVerifier {
    keys: Keys,
    /// iss / aud / required claims; algorithms are set per key.
    template: Validation,
    user_claim: String,
    leeway: i64,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("JwtVerifier");
        match &self.keys {
            Keys::Fixed { keys, .. } => {
                let keys: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{:?}/{}", k.alg, k.kid.as_deref().unwrap_or("-")))
                    .collect();
                d.field("keys", &keys);
            }
            Keys::Remote(r) => {
                d.field("jwks", r);
            }
        }
        d.field("issuer", &self.template.iss)
            .field("audience", &self.template.aud)
            .field("user_claim", &self.user_claim)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl JwtVerifier {
    /// Parses the key material in `settings`. Errors start with the variable
    /// to fix, e.g. `JWT_PUBLIC_KEY: ...`. With `JWT_JWKS_URL`, the first
    /// fetch starts in the background when called inside a Tokio runtime.
    pub fn new(settings: &JwtSettings) -> Result<JwtVerifier, String> {
        Self::with_remote_options(settings, RemoteOptions::default())
    }

    /// [`JwtVerifier::new`] with the JWKS fetcher's bounds and clock given
    /// (tests only; production always uses the defaults).
    #[doc(hidden)]
    pub fn with_remote_options(
        settings: &JwtSettings,
        options: RemoteOptions,
    ) -> Result<JwtVerifier, String> {
        let keys = match (
            settings.secret.as_deref(),
            settings.public_key_pem.as_deref(),
            settings.jwks.as_deref(),
            settings.jwks_url.as_deref(),
        ) {
            (Some(secret), None, None, None) => Keys::Fixed {
                keys: vec![secret_key(secret)?],
                single: true,
            },
            (None, Some(pem), None, None) => Keys::Fixed {
                keys: vec![pem_key(pem)?],
                single: true,
            },
            (None, None, Some(jwks), None) => Keys::Fixed {
                keys: jwks_keys(jwks)?,
                single: false,
            },
            (None, None, None, Some(url)) => {
                let url = jwks_url(url).map_err(|e| format!("JWT_JWKS_URL: {e}"))?;
                let remote = Arc::new(RemoteJwks::new(url, options)?);
                remote.start();
                Keys::Remote(remote)
            }
            _ => {
                return Err(format!(
                    "JWT_SECRET: {}",
                    crate::config::jwt_key_problem(&settings.key_variables_set())
                        .unwrap_or_default()
                ));
            }
        };

        let user_claim = settings.user_claim.trim().to_owned();
        if user_claim.is_empty() {
            return Err("JWT_USER_CLAIM: is empty; unset it to use \"sub\"".to_owned());
        }

        let mut template = Validation::new(Algorithm::HS256);
        template.validate_exp = false;
        template.validate_nbf = false;
        template.leeway = 0;
        template.required_spec_claims = HashSet::new();
        if let Some(iss) = settings.issuer.as_deref().filter(|s| !s.is_empty()) {
            template.set_issuer(&[iss]);
            template.required_spec_claims.insert("iss".to_owned());
        }
        match settings.audience.as_deref().filter(|s| !s.is_empty()) {
            Some(aud) => {
                template.set_audience(&[aud]);
                template.required_spec_claims.insert("aud".to_owned());
                template.validate_aud = true;
            }
            None => template.validate_aud = false,
        }

        Ok(JwtVerifier {
            keys,
            template,
            user_claim,
            leeway: i64::try_from(settings.leeway_secs).unwrap_or(i64::MAX),
        })
    }

    /// Verifies `token` at time `now_unix` and returns the user id, with the
    /// keys in hand: with `JWT_JWKS_URL` nothing is fetched here (see
    /// [`JwtVerifier::verify_refreshing`]), and before a first set has
    /// arrived the answer is [`AuthError::KeysUnavailable`].
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<String, AuthError> {
        let header = read_header(token)?;
        match &self.keys {
            Keys::Fixed { keys, single } => {
                self.verify_with(token, &header, now_unix, keys, *single)
            }
            Keys::Remote(remote) => {
                let snap = remote
                    .snapshot()
                    .ok_or_else(|| RemoteJwks::unavailable(super::jwks::RETRY_WITHOUT_SET))?;
                self.verify_with(token, &header, now_unix, &snap.keys, false)
            }
        }
    }

    /// [`JwtVerifier::verify`], but with `JWT_JWKS_URL` first brings the key
    /// set up to date as [`super::jwks`] rules: waits for the first set, or
    /// refreshes a stale one, or refetches once for an unknown `kid` (each
    /// bounded by the fetch timeout). The token's header is read before any
    /// fetch, so a malformed token never causes one.
    pub async fn verify_refreshing(&self, token: &str, now_unix: i64) -> Result<String, AuthError> {
        let Keys::Remote(remote) = &self.keys else {
            return self.verify(token, now_unix);
        };
        let header = read_header(token)?;
        let snap = remote.keys_for(header.kid.as_deref()).await?;
        self.verify_with(token, &header, now_unix, &snap.keys, false)
    }

    fn verify_with(
        &self,
        token: &str,
        header: &Header,
        now_unix: i64,
        keys: &[KeyEntry],
        single: bool,
    ) -> Result<String, AuthError> {
        // `none`, or an algorithm no configured key is pinned to: refuse
        // before looking keys up (a clearer reason than "unknown key id").
        let alg = header
            .alg
            .parse::<Algorithm>()
            .ok()
            .filter(|a| keys.iter().any(|k| k.alg == *a))
            .ok_or(AuthError::Invalid("algorithm not allowed"))?;
        let entry = choose_key(keys, single, header.kid.as_deref())?;
        if alg != entry.alg {
            return Err(AuthError::Invalid("algorithm not allowed"));
        }

        let mut validation = self.template.clone();
        validation.algorithms = vec![entry.alg];
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &entry.key, &validation)
            .map_err(|e| AuthError::Invalid(reason_for(e.kind())))?;
        let claims = data.claims;

        let exp = match claims.get("exp") {
            None | Some(Value::Null) => return Err(AuthError::Invalid("token has no expiry")),
            Some(v) => numeric_date(v).ok_or(AuthError::Invalid("malformed exp claim"))?,
        };
        if now_unix >= exp.saturating_add(self.leeway) {
            return Err(AuthError::Invalid("expired"));
        }
        if let Some(v) = claims.get("nbf").filter(|v| !v.is_null()) {
            let nbf = numeric_date(v).ok_or(AuthError::Invalid("malformed nbf claim"))?;
            if now_unix.saturating_add(self.leeway) < nbf {
                return Err(AuthError::Invalid("not yet valid"));
            }
        }

        let user_id = match claims.get(&self.user_claim) {
            None | Some(Value::Null) => return Err(AuthError::Forbidden("user claim absent")),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            // Malformed, like a non-numeric `exp`: 401. (jsonwebtoken
            // itself refuses a `sub` that is not a string the same way.)
            Some(_) => return Err(AuthError::Invalid("malformed user claim")),
        };
        user_prefix_segment(&user_id)?;
        Ok(user_id)
    }
}

fn choose_key<'k>(
    keys: &'k [KeyEntry],
    single: bool,
    kid: Option<&str>,
) -> Result<&'k KeyEntry, AuthError> {
    if single {
        return keys.first().ok_or(AuthError::Invalid("unknown key id"));
    }
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .or_else(|| match keys {
                [only] if only.kid.is_none() => Some(only),
                _ => None,
            })
            .ok_or(AuthError::Invalid("unknown key id")),
        None => match keys {
            [only] => Ok(only),
            _ => Err(AuthError::Invalid("token has no key id")),
        },
    }
}

/// The size bound, then the header.
fn read_header(token: &str) -> Result<Header, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Invalid("token too large"));
    }
    parse_header(token)
}

/// The parts of the JOSE header we act on before verifying.
struct Header {
    alg: String,
    kid: Option<String>,
}

/// Checks the compact shape and reads `alg` / `kid` from the header.
fn parse_header(token: &str) -> Result<Header, AuthError> {
    const MALFORMED: AuthError = AuthError::Invalid("malformed token");
    let well_formed = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MALFORMED);
    };
    if !well_formed || header.is_empty() {
        return Err(MALFORMED);
    }
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| MALFORMED)?;
    let Ok(Value::Object(h)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(MALFORMED);
    };
    if h.contains_key("crit") {
        return Err(AuthError::Invalid("unsupported critical header"));
    }
    let alg = match h.get("alg") {
        Some(Value::String(a)) => a.clone(),
        _ => return Err(MALFORMED),
    };
    let kid = match h.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(MALFORMED),
    };
    Ok(Header { alg, kid })
}

/// A JWT NumericDate (integer or fractional seconds) as whole seconds.
fn numeric_date(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.is_u64() {
        return Some(i64::MAX);
    }
    let f = n.as_f64()?;
    // Saturating float-to-int conversion; fractions truncate toward the past.
    f.is_finite().then(|| f.floor() as i64)
}

/// A fixed, safe reason for a jsonwebtoken error.
fn reason_for(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => "algorithm not allowed",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => "missing issuer",
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => "missing audience",
        ErrorKind::MissingRequiredClaim(_) => "missing required claim",
        ErrorKind::InvalidClaimFormat(_) => "malformed claims",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "malformed token",
        _ => "invalid token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: Some(SECRET.into()),
            user_claim: "sub".into(),
            leeway_secs: 30,
            ..JwtSettings::default()
        }
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    /// HS256 with our own HMAC, only to exercise claim handling here; the
    /// cross-implementation proof is tests/auth_jwt.rs (PyJWT).
    fn hs256(header: &Value, claims: &Value) -> String {
        use hmac::{Hmac, Mac};
        let msg = format!("{}.{}", b64(header), b64(claims));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(msg.as_bytes());
        format!(
            "{msg}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    fn tok(claims: Value) -> String {
        hs256(&serde_json::json!({"alg": "HS256", "typ": "JWT"}), &claims)
    }

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn claims_and_clock() {
        let v = JwtVerifier::new(&settings()).unwrap();
        let ok = tok(serde_json::json!({"sub": "u1", "exp": NOW + 60}));
        assert_eq!(v.verify(&ok, NOW).as_deref(), Ok("u1"));
        // Fixed clocks around exp with 30 s leeway.
        assert!(v.verify(&ok, NOW + 89).is_ok());
        assert_eq!(v.verify(&ok, NOW + 90), Err(AuthError::Invalid("expired")));

        let fractional = tok(serde_json::json!({"sub": "u1", "exp": (NOW + 60) as f64 + 0.5}));
        assert!(v.verify(&fractional, NOW).is_ok());

        let nbf = tok(serde_json::json!({"sub": "u1", "exp": NOW + 600, "nbf": NOW + 100}));
        assert_eq!(
            v.verify(&nbf, NOW),
            Err(AuthError::Invalid("not yet valid"))
        );
        assert!(v.verify(&nbf, NOW + 70).is_ok());

        let no_exp = tok(serde_json::json!({"sub": "u1"}));
        assert_eq!(
            v.verify(&no_exp, NOW),
            Err(AuthError::Invalid("token has no expiry"))
        );
        let bad_exp = tok(serde_json::json!({"sub": "u1", "exp": "tomorrow"}));
        assert_eq!(v.verify(&bad_exp, NOW).unwrap_err().status(), 401);
    }

    #[test]
    fn user_claim_types() {
        let mut s = settings();
        s.user_claim = "uid".into();
        let v = JwtVerifier::new(&s).unwrap();
        let exp = NOW + 60;
        let cases = [
            (
                serde_json::json!({"uid": 42, "exp": exp}),
                Ok("42".to_owned()),
            ),
            (
                serde_json::json!({"uid": "a/b", "exp": exp}),
                Ok("a/b".to_owned()),
            ),
            (
                serde_json::json!({"sub": "x", "exp": exp}),
                Err(AuthError::Forbidden("user claim absent")),
            ),
            (
                serde_json::json!({"uid": null, "exp": exp}),
                Err(AuthError::Forbidden("user claim absent")),
            ),
            (
                serde_json::json!({"uid": 1.5, "exp": exp}),
                Err(AuthError::Invalid("malformed user claim")),
            ),
            (
                serde_json::json!({"uid": ["a"], "exp": exp}),
                Err(AuthError::Invalid("malformed user claim")),
            ),
            (
                serde_json::json!({"uid": "", "exp": exp}),
                Err(AuthError::Forbidden("user id is empty")),
            ),
        ];
        for (claims, want) in cases {
            assert_eq!(v.verify(&tok(claims.clone()), NOW), want, "{claims}");
        }
    }

    #[test]
    fn header_rules() {
        let v = JwtVerifier::new(&settings()).unwrap();
        let claims = serde_json::json!({"sub": "u", "exp": NOW + 60});
        let crit = hs256(
            &serde_json::json!({"alg": "HS256", "crit": ["exp"], "exp": 1}),
            &claims,
        );
        assert_eq!(
            v.verify(&crit, NOW),
            Err(AuthError::Invalid("unsupported critical header"))
        );
        let hs512 = hs256(&serde_json::json!({"alg": "HS512"}), &claims);
        assert_eq!(
            v.verify(&hs512, NOW),
            Err(AuthError::Invalid("algorithm not allowed"))
        );
        for junk in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "a b.c.d",
            "%%.a.b",
            "e30.e30.",
            "W10.e30.x",
        ] {
            assert_eq!(
                v.verify(junk, NOW),
                Err(AuthError::Invalid("malformed token")),
                "{junk:?}"
            );
        }
        let mut tampered = tok(claims);
        tampered.push('A');
        assert_eq!(v.verify(&tampered, NOW).unwrap_err().status(), 401);
    }

    #[test]
    fn key_errors_name_the_variable() {
        let mut s = settings();
        s.secret = Some("short".into());
        assert!(JwtVerifier::new(&s).unwrap_err().starts_with("JWT_SECRET:"));

        let mut s = settings();
        s.secret = None;
        s.public_key_pem =
            Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into());
        assert!(JwtVerifier::new(&s)
            .unwrap_err()
            .starts_with("JWT_PUBLIC_KEY:"));
        s.public_key_pem =
            Some("-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----".into());
        assert!(JwtVerifier::new(&s).unwrap_err().contains("private key"));
        s.public_key_pem = Some("/nonexistent/key.pem".into());
        assert!(JwtVerifier::new(&s)
            .unwrap_err()
            .starts_with("JWT_PUBLIC_KEY:"));

        let mut s = settings();
        s.secret = None;
        for bad in [
            "{not json",
            "{\"nokeys\": 1}",
            "{\"keys\": []}",
            "{\"keys\": [{\"kty\": \"oct\", \"k\": \"AAAA\"}]}",
            "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AAAA\", \"y\": \"AAAA\"}]}",
            "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}",
            "/nonexistent/jwks.json",
        ] {
            s.jwks = Some(bad.into());
            let e = JwtVerifier::new(&s).unwrap_err();
            assert!(e.starts_with("JWT_JWKS:"), "{bad}: {e}");
        }

        let mut s = settings();
        s.jwks = Some("{\"keys\": []}".into());
        assert!(JwtVerifier::new(&s).unwrap_err().contains("exactly one of"));
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let v = JwtVerifier::new(&settings()).unwrap();
        assert!(!format!("{v:?}").contains(SECRET));
    }
}
