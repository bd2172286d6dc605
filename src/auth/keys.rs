//! Verification keys: what a configured secret, PEM key or JWKS document
//! becomes ([`KeyEntry`]: one key and the one algorithm it may verify), and
//! the rules for reading them. Shared by the verifier (`jwt.rs`) and the
//! JWKS fetched from `JWT_JWKS_URL` (`jwks.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::Value;

/// The smallest RSA modulus accepted for verification keys.
pub const MIN_RSA_BITS: usize = 2048;

/// One verification key and the single algorithm it is allowed to verify.
#[derive(Clone)]
pub(crate) struct KeyEntry {
    /// The JWK's `kid`, if it has one (never for a secret or a PEM key).
    pub(crate) kid: Option<String>,
    /// The only algorithm this key verifies.
    pub(crate) alg: Algorithm,
    /// The key itself.
    pub(crate) key: DecodingKey,
}

pub(crate) fn secret_key(secret: &str) -> Result<KeyEntry, String> {
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
pub(crate) fn pem_key(value: &str) -> Result<KeyEntry, String> {
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
pub(crate) fn jwks_keys(value: &str) -> Result<Vec<KeyEntry>, String> {
    const VAR: &str = "JWT_JWKS";
    let value = value.trim();
    let text = if value.starts_with('{') {
        value.to_owned()
    } else {
        std::fs::read_to_string(value).map_err(|e| {
            format!("{VAR}: is neither inline JSON (starting with {{) nor a readable file ({e})")
        })?
    };
    let list = key_list(&text).map_err(|e| format!("{VAR}: {e}"))?;
    let mut keys: Vec<KeyEntry> = Vec::new();
    for (i, jwk) in list.iter().enumerate() {
        let Some(entry) =
            jwk_entry(jwk).map_err(|why| format!("{VAR}: {}", about(i, jwk, &why)))?
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
        return Err(format!("{VAR}: {NO_USABLE_KEY}"));
    }
    Ok(keys)
}

/// A JWKS document an identity provider served (`JWT_JWKS_URL`): the usable
/// keys, and a line for each key left out and why.
///
/// Unlike the operator's own [`jwks_keys`], one bad key does not fail the set
/// (the provider's other keys still verify): a malformed or too-small RSA or
/// P-256 key is skipped, and so are all keys sharing a `kid`, since which one
/// a token means cannot be told. A document that is not a JWKS, or holds no
/// usable key, is an error.
pub(crate) fn fetched_jwks(text: &str) -> Result<(Vec<KeyEntry>, Vec<String>), String> {
    let list = key_list(text)?;
    let mut keys: Vec<KeyEntry> = Vec::new();
    let mut skipped = Vec::new();
    for (i, jwk) in list.iter().enumerate() {
        match jwk_entry(jwk) {
            Ok(Some(entry)) => keys.push(entry),
            Ok(None) => {}
            Err(why) => skipped.push(about(i, jwk, &why)),
        }
    }
    let mut shared: Vec<String> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some(kid) = &k.kid {
            if keys[..i].iter().any(|o| o.kid.as_ref() == Some(kid)) && !shared.contains(kid) {
                shared.push(kid.clone());
            }
        }
    }
    for kid in &shared {
        skipped.push(format!("kid {kid:?}: two keys share it; both left out"));
    }
    keys.retain(|k| !matches!(&k.kid, Some(kid) if shared.contains(kid)));
    if keys.is_empty() {
        return Err(NO_USABLE_KEY.to_owned());
    }
    Ok((keys, skipped))
}

const NO_USABLE_KEY: &str = "holds no usable signing key; it needs an RSA or EC P-256 key with \"use\": \"sig\" (or no \"use\")";

/// The `keys` array of a JWKS document.
fn key_list(text: &str) -> Result<Vec<Value>, String> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| format!("is not valid JSON ({e}); expected {{\"keys\": [...]}}"))?;
    match doc {
        Value::Object(mut m) => match m.remove("keys") {
            Some(Value::Array(list)) => Ok(list),
            _ => {
                Err("has no \"keys\" array; expected a JWKS document {\"keys\": [...]}".to_owned())
            }
        },
        _ => Err("has no \"keys\" array; expected a JWKS document {\"keys\": [...]}".to_owned()),
    }
}

/// `key #i (kid "..."): why`, naming a key in an error or a skip line.
fn about(i: usize, jwk: &Value, why: &str) -> String {
    let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("-");
    format!("key #{i} (kid {kid:?}): {why}")
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
