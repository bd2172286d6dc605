//! `AUTH_MODE=jwt`: verifying bearer JWTs ourselves.
//!
//! Rules, in the order they are applied:
//!
//! 1. The token is at most [`MAX_TOKEN_BYTES`] and has the compact JWS shape
//!    (three base64url parts). Anything else is `Invalid`.
//! 2. The key is chosen by configuration, never by the token: the one secret
//!    or PEM key, or the JWKS entry whose `kid` matches the header's (a token
//!    without `kid` is accepted only when the set holds exactly one key).
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

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Map, Value};

use super::{user_prefix_segment, AuthError};
use crate::config::JwtSettings;

/// The largest token accepted, in bytes. Real ID/access tokens are 1–2 KB;
/// the bound keeps a hostile header from costing us base64 and JSON work.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The smallest RSA modulus accepted for verification keys.
pub const MIN_RSA_BITS: usize = 2048;

/// One verification key and the single algorithm it is allowed to verify.
#[derive(Clone)]
struct KeyEntry {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer JWTs for one configuration. Built by
/// [`super::Authenticator::from_config`]; exposed for its documentation.
pub struct JwtVerifier {
    keys: Vec<KeyEntry>,
    /// `true` for `JWT_SECRET` / `JWT_PUBLIC_KEY` (one key, `kid` ignored).
    single: bool,
    /// iss / aud / required claims; algorithms are set per key.
    template: Validation,
    user_claim: String,
    leeway: i64,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{:?}/{}", k.alg, k.kid.as_deref().unwrap_or("-")))
            .collect();
        f.debug_struct("JwtVerifier")
            .field("keys", &keys)
            .field("issuer", &self.template.iss)
            .field("audience", &self.template.aud)
            .field("user_claim", &self.user_claim)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl JwtVerifier {
    /// Parses the key material in `settings`. Errors start with the variable
    /// to fix, e.g. `JWT_PUBLIC_KEY: ...`.
    pub fn new(settings: &JwtSettings) -> Result<JwtVerifier, String> {
        let (keys, single) = match (
            settings.secret.as_deref(),
            settings.public_key_pem.as_deref(),
            settings.jwks.as_deref(),
        ) {
            (Some(secret), None, None) => (vec![secret_key(secret)?], true),
            (None, Some(pem), None) => (vec![pem_key(pem)?], true),
            (None, None, Some(jwks)) => (jwks_keys(jwks)?, false),
            (secret, pem, jwks) => {
                let set: Vec<&str> = [
                    ("JWT_SECRET", secret.is_some()),
                    ("JWT_PUBLIC_KEY", pem.is_some()),
                    ("JWT_JWKS", jwks.is_some()),
                ]
                .into_iter()
                .filter_map(|(n, is_set)| is_set.then_some(n))
                .collect();
                return Err(format!(
                    "JWT_SECRET: {}",
                    crate::config::jwt_key_problem(&set).unwrap_or_default()
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
            single,
            template,
            user_claim,
            leeway: i64::try_from(settings.leeway_secs).unwrap_or(i64::MAX),
        })
    }

    /// Verifies `token` at time `now_unix` and returns the user id.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<String, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too large"));
        }
        let header = parse_header(token)?;
        // `none`, or an algorithm no configured key is pinned to: refuse
        // before looking keys up (a clearer reason than "unknown key id").
        let alg = header
            .alg
            .parse::<Algorithm>()
            .ok()
            .filter(|a| self.keys.iter().any(|k| k.alg == *a))
            .ok_or(AuthError::Invalid("algorithm not allowed"))?;
        let entry = self.choose_key(header.kid.as_deref())?;
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

    fn choose_key(&self, kid: Option<&str>) -> Result<&KeyEntry, AuthError> {
        if self.single {
            return self
                .keys
                .first()
                .ok_or(AuthError::Invalid("unknown key id"));
        }
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .or_else(|| match self.keys.as_slice() {
                    [only] if only.kid.is_none() => Some(only),
                    _ => None,
                })
                .ok_or(AuthError::Invalid("unknown key id")),
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                _ => Err(AuthError::Invalid("token has no key id")),
            },
        }
    }
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

fn secret_key(secret: &str) -> Result<KeyEntry, String> {
    if secret.len() < 32 {
        return Err(
            "JWT_SECRET: is shorter than 32 bytes; use a random secret of at least 32 bytes"
                .to_owned(),
        );
    }
    Ok(KeyEntry {
        kid: None,
        alg: Algorithm::HS256,
        key: DecodingKey::from_secret(secret.as_bytes()),
    })
}

/// `JWT_PUBLIC_KEY`: PEM text (literal `\n` escapes allowed, for consoles
/// that take one-line values) or, if it has no `-----BEGIN` line, a file path.
fn pem_key(value: &str) -> Result<KeyEntry, String> {
    const VAR: &str = "JWT_PUBLIC_KEY";
    let mut text = value.trim().to_owned();
    if !text.contains("-----BEGIN") {
        text = std::fs::read_to_string(&text).map_err(|e| {
            format!("{VAR}: is neither PEM text (no -----BEGIN line) nor a readable file ({e})")
        })?;
    }
    if text.contains("\\n") && !text.contains('\n') {
        text = text.replace("\\n", "\n");
    }
    if text.contains("PRIVATE KEY") {
        return Err(format!(
            "{VAR}: is a private key; set the PUBLIC key (-----BEGIN PUBLIC KEY-----) and keep \
             the private key with your identity provider"
        ));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(text.as_bytes()) {
        let der = key
            .try_get_as_bytes()
            .map_err(|_| format!("{VAR}: the RSA key could not be read"))?;
        let rsa = rsa::RsaPublicKey::from_pkcs1_der(der)
            .map_err(|_| format!("{VAR}: the RSA public key is malformed"))?;
        check_rsa_size(VAR, &rsa)?;
        return Ok(KeyEntry {
            kid: None,
            alg: Algorithm::RS256,
            key,
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(text.as_bytes()) {
        probe_es256(&key).map_err(|_| {
            format!("{VAR}: the EC public key is not on curve P-256 (only ES256 is supported)")
        })?;
        return Ok(KeyEntry {
            kid: None,
            alg: Algorithm::ES256,
            key,
        });
    }
    Err(format!(
        "{VAR}: is not an RSA or EC P-256 public key in PEM form; expected \
         -----BEGIN PUBLIC KEY----- (or -----BEGIN RSA PUBLIC KEY-----)"
    ))
}

fn check_rsa_size(var: &str, key: &rsa::RsaPublicKey) -> Result<(), String> {
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "{var}: the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
        ));
    }
    Ok(())
}

/// Runs the ES256 verifier's key parsing once, so a key that is not a valid
/// P-256 point fails at start rather than on every request.
fn probe_es256(key: &DecodingKey) -> Result<(), ()> {
    jsonwebtoken::crypto::verify("AA", b"probe", key, Algorithm::ES256)
        .map(|_| ())
        .map_err(|_| ())
}

/// `JWT_JWKS`: a JWKS document, inline (starts with `{`) or a file path.
///
/// Keys whose `use` is not `sig`, and key types or curves we do not verify
/// with (`oct`, `OKP`, P-384, ...) are skipped, as JWKS clients do; a
/// malformed RSA or P-256 key, a duplicate `kid`, or a set with no usable key
/// is an error.
fn jwks_keys(value: &str) -> Result<Vec<KeyEntry>, String> {
    const VAR: &str = "JWT_JWKS";
    let value = value.trim();
    let text = if value.starts_with('{') {
        value.to_owned()
    } else {
        std::fs::read_to_string(value).map_err(|e| {
            format!("{VAR}: is neither inline JSON (starting with {{) nor a readable file ({e})")
        })?
    };
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{VAR}: is not valid JSON ({e}); expected {{\"keys\": [...]}}"))?;
    let Some(list) = doc.get("keys").and_then(Value::as_array) else {
        return Err(format!(
            "{VAR}: has no \"keys\" array; expected a JWKS document {{\"keys\": [...]}}"
        ));
    };

    let mut keys: Vec<KeyEntry> = Vec::new();
    for (i, jwk) in list.iter().enumerate() {
        let Some(entry) = jwk_entry(jwk).map_err(|why| {
            let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("-");
            format!("{VAR}: key #{i} (kid {kid:?}): {why}")
        })?
        else {
            continue;
        };
        if let Some(kid) = &entry.kid {
            if keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                return Err(format!("{VAR}: two keys share kid {kid:?}"));
            }
        }
        keys.push(entry);
    }
    if keys.is_empty() {
        return Err(format!(
            "{VAR}: holds no usable signing key; it needs an RSA or EC P-256 key with \"use\": \"sig\" (or no \"use\")"
        ));
    }
    Ok(keys)
}

/// One JWK as a key entry; `Ok(None)` when it is not ours to use.
fn jwk_entry(jwk: &Value) -> Result<Option<KeyEntry>, String> {
    let field = |name: &str| -> Result<Option<&str>, String> {
        match jwk.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("\"{name}\" is not a string")),
        }
    };
    let b64 = |name: &str| -> Result<Vec<u8>, String> {
        let v = field(name)?.ok_or_else(|| format!("\"{name}\" is missing"))?;
        URL_SAFE_NO_PAD
            .decode(v.trim_end_matches('='))
            .map_err(|_| format!("\"{name}\" is not base64url"))
    };
    if field("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let kid = field("kid")?.map(str::to_owned);
    let jwk_alg = field("alg")?;
    match field("kty")? {
        Some("RSA") => {
            let alg = match jwk_alg {
                None => Algorithm::RS256,
                Some(a) => match a.parse::<Algorithm>() {
                    Ok(
                        alg @ (Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512),
                    ) => alg,
                    _ => return Err(format!("\"alg\" {a:?} is not an RSA signature algorithm")),
                },
            };
            let (n, e) = (b64("n")?, b64("e")?);
            let rsa = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
            )
            .map_err(|_| "not a valid RSA public key".to_owned())?;
            check_rsa_size("RSA key", &rsa)?;
            Ok(Some(KeyEntry {
                kid,
                alg,
                key: DecodingKey::from_rsa_raw_components(&n, &e),
            }))
        }
        Some("EC") => {
            if field("crv")? != Some("P-256") {
                return Ok(None);
            }
            if jwk_alg.is_some_and(|a| a != "ES256") {
                return Err("a P-256 key must have \"alg\": \"ES256\" (or none)".to_owned());
            }
            let (x, y) = (b64("x")?, b64("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("\"x\" and \"y\" must be 32 bytes for P-256".to_owned());
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let key = DecodingKey::from_ec_der(&point);
            probe_es256(&key).map_err(|_| "the point is not on curve P-256".to_owned())?;
            Ok(Some(KeyEntry {
                kid,
                alg: Algorithm::ES256,
                key,
            }))
        }
        Some(_) => Ok(None),
        None => Err("\"kty\" is missing".to_owned()),
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
