//! `AUTH_MODE=jwt` against tokens minted by code we did not write.
//!
//! `tests/peers/mint_jwt.py` (PyJWT + cryptography) generates fresh RSA and EC
//! P-256 keys, a JWKS, and good and bad tokens at a fixed clock; every verdict
//! and HTTP status here is asserted for HS256, RS256 (PEM and JWKS) and ES256
//! (PEM and JWKS). Run `scripts/setup-peers.sh` once to install the peers.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use oss_direct_upload::auth::{user_prefix_segment, AuthError, Authenticator, Caller};
use oss_direct_upload::config::{AuthMode, JwtSettings};
use serde_json::Value;

/// The peer's output, minted once per test binary.
fn peer() -> &'static Value {
    static PEER: OnceLock<Value> = OnceLock::new();
    PEER.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var_os("PEER_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        assert!(
            python.exists(),
            "test peer Python not found at {}: run scripts/setup-peers.sh (or set PEER_PYTHON)",
            python.display()
        );
        let out = Command::new(&python)
            .arg(root.join("tests/peers/mint_jwt.py"))
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "could not run {}: {e}; run scripts/setup-peers.sh",
                    python.display()
                )
            });
        assert!(
            out.status.success(),
            "tests/peers/mint_jwt.py failed (are PyJWT and cryptography installed? run scripts/setup-peers.sh):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("mint_jwt.py printed JSON")
    })
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("peer output has no {key}"))
        .to_owned()
}

fn now() -> i64 {
    peer()["now"].as_i64().unwrap()
}

fn token(family: &str, case: &str) -> String {
    peer()["tokens"][family][case]
        .as_str()
        .unwrap_or_else(|| panic!("peer minted no {family}/{case}"))
        .to_owned()
}

fn settings() -> JwtSettings {
    JwtSettings {
        issuer: Some(s(peer(), "issuer")),
        audience: Some(s(peer(), "audience")),
        user_claim: "sub".into(),
        leeway_secs: 30,
        ..JwtSettings::default()
    }
}

fn auth_with(f: impl FnOnce(&mut JwtSettings)) -> Authenticator {
    let mut st = settings();
    f(&mut st);
    Authenticator::from_config(&AuthMode::Jwt(st)).expect("keys from the peer load")
}

fn hs() -> Authenticator {
    auth_with(|st| st.secret = Some(s(peer(), "hs_secret")))
}
fn rsa_pem() -> Authenticator {
    auth_with(|st| st.public_key_pem = Some(s(peer(), "rsa_public_pem")))
}
fn ec_pem() -> Authenticator {
    auth_with(|st| st.public_key_pem = Some(s(peer(), "ec_public_pem")))
}
fn jwks() -> Authenticator {
    auth_with(|st| st.jwks = Some(peer()["jwks"].to_string()))
}

fn bearer(tok: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {tok}")).unwrap(),
    );
    h
}

/// What we expect for one token.
#[derive(Debug)]
enum Want {
    User(&'static str),
    Invalid(&'static str),
    Forbidden(&'static str),
}

fn check(auth: &Authenticator, family: &str, case: &str, want: Want) {
    let tok = token(family, case);
    let got = auth.authenticate(&bearer(&tok), now());
    let label = format!("{family}/{case} with {auth:?}");
    match (&want, got) {
        (Want::User(u), Ok(Caller { user_id })) => {
            assert_eq!(user_id.as_deref(), Some(*u), "{label}")
        }
        (Want::Invalid(r), Err(e)) => {
            assert_eq!(e, AuthError::Invalid(r), "{label}");
            assert_eq!(e.status(), 401, "{label}");
            assert_eq!(e.code(), "InvalidToken");
            assert!(e
                .www_authenticate()
                .unwrap()
                .contains("error=\"invalid_token\""));
            assert_never_echoed(&e, &tok);
        }
        (Want::Forbidden(r), Err(e)) => {
            assert_eq!(e, AuthError::Forbidden(r), "{label}");
            assert_eq!(e.status(), 403, "{label}");
            assert_eq!(e.code(), "Forbidden");
            assert_never_echoed(&e, &tok);
        }
        (want, got) => panic!("{label}: wanted {want:?}, got {got:?}"),
    }
}

fn assert_never_echoed(e: &AuthError, tok: &str) {
    let shown = format!(
        "{} {} {e} {e:?}",
        e.message(),
        e.www_authenticate().unwrap_or_default()
    );
    for part in tok.split('.').filter(|p| p.len() >= 8) {
        assert!(
            !shown.contains(&part[..8]),
            "error text echoes the token: {shown}"
        );
    }
}

/// The cases every family's peer output has, with the same verdicts.
fn common_cases(auth: &Authenticator, family: &str) {
    check(auth, family, "valid", Want::User("user-42"));
    check(auth, family, "exp_within_leeway", Want::User("user-42"));
    check(auth, family, "numeric_sub", Want::User("12345"));
    check(auth, family, "unicode_sub", Want::User("用户/../x"));
    check(auth, family, "expired", Want::Invalid("expired"));
    check(
        auth,
        family,
        "missing_exp",
        Want::Invalid("token has no expiry"),
    );
    check(auth, family, "nbf_future", Want::Invalid("not yet valid"));
    check(
        auth,
        family,
        "wrong_signature",
        Want::Invalid("bad signature"),
    );
    check(auth, family, "wrong_aud", Want::Invalid("wrong audience"));
    check(auth, family, "wrong_iss", Want::Invalid("wrong issuer"));
    check(auth, family, "missing_iss", Want::Invalid("missing issuer"));
    check(
        auth,
        family,
        "alg_none",
        Want::Invalid("algorithm not allowed"),
    );
    check(auth, family, "oversized", Want::Invalid("token too large"));
    check(
        auth,
        family,
        "missing_sub",
        Want::Forbidden("user claim absent"),
    );
    check(
        auth,
        family,
        "empty_sub",
        Want::Forbidden("user id is empty"),
    );
    // A user claim of the wrong type is a malformed token (401), as a
    // malformed `exp` is; 403 is for a well-formed token naming no usable user.
    // (For `sub`, jsonwebtoken refuses it before our own check does, with its
    // own reason; the answer is 401 InvalidToken either way.)
    for case in ["array_sub", "object_sub", "float_sub"] {
        let tok = token(family, case);
        let e = auth.authenticate(&bearer(&tok), now()).expect_err(case);
        assert!(
            matches!(
                e,
                AuthError::Invalid("malformed token" | "malformed user claim")
            ),
            "{family}/{case}: {e:?}"
        );
        assert_eq!(
            (e.status(), e.code()),
            (401, "InvalidToken"),
            "{family}/{case}"
        );
        assert_never_echoed(&e, &tok);
    }
}

#[test]
fn hs256_secret_verdicts() {
    let a = hs();
    assert_eq!(a.mode_name(), "jwt");
    assert!(a.requires_token());
    common_cases(&a, "hs256");
    // An RS256 or ES256 token never verifies against an HMAC secret.
    check(&a, "rs256", "valid", Want::Invalid("algorithm not allowed"));
    check(&a, "es256", "valid", Want::Invalid("algorithm not allowed"));
}

#[test]
fn rs256_pem_verdicts() {
    let a = rsa_pem();
    common_cases(&a, "rs256");
    // One configured key: kid is irrelevant, the signature decides.
    check(&a, "rs256", "unknown_kid", Want::User("user-42"));
    check(&a, "rs256", "no_kid", Want::User("user-42"));
    check(
        &a,
        "rs256",
        "kid_of_enc_key",
        Want::Invalid("bad signature"),
    );
    check(&a, "es256", "valid", Want::Invalid("algorithm not allowed"));
    check(&a, "hs256", "valid", Want::Invalid("algorithm not allowed"));
}

#[test]
fn rs256_jwks_verdicts() {
    let a = jwks();
    common_cases(&a, "rs256");
    check(&a, "rs256", "unknown_kid", Want::Invalid("unknown key id"));
    check(&a, "rs256", "no_kid", Want::Invalid("token has no key id"));
    // The enc-only key is ignored, so its kid is unknown.
    check(
        &a,
        "rs256",
        "kid_of_enc_key",
        Want::Invalid("unknown key id"),
    );
    // RS256 header naming the EC key: the key pins ES256.
    check(
        &a,
        "rs256",
        "kid_of_other_key",
        Want::Invalid("algorithm not allowed"),
    );
}

#[test]
fn es256_pem_verdicts() {
    let a = ec_pem();
    common_cases(&a, "es256");
    check(&a, "es256", "no_kid", Want::User("user-42"));
    check(&a, "rs256", "valid", Want::Invalid("algorithm not allowed"));
}

#[test]
fn es256_jwks_verdicts() {
    let a = jwks();
    common_cases(&a, "es256");
    check(&a, "es256", "no_kid", Want::Invalid("token has no key id"));
}

#[test]
fn algorithm_confusion_is_refused() {
    // HS256 "signed" with the RSA public key PEM as the HMAC secret.
    for a in [rsa_pem(), jwks()] {
        check(
            &a,
            "rs256",
            "hs256_with_public_pem",
            Want::Invalid("algorithm not allowed"),
        );
    }
}

#[test]
fn single_key_jwks_accepts_tokens_without_kid() {
    let mut ec = peer()["jwks"]["keys"][1].clone();
    assert_eq!(ec["kty"], "EC");
    ec.as_object_mut().unwrap().remove("kid");
    let doc = serde_json::json!({ "keys": [ec] }).to_string();
    let a = auth_with(|st| st.jwks = Some(doc));
    check(&a, "es256", "no_kid", Want::User("user-42"));
    check(&a, "es256", "valid", Want::User("user-42"));
    check(
        &a,
        "es256",
        "wrong_signature",
        Want::Invalid("bad signature"),
    );
}

#[test]
fn jwks_and_pem_load_from_files() {
    let dir = std::env::temp_dir().join(format!("auth-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks_path = dir.join("jwks.json");
    std::fs::write(&jwks_path, peer()["jwks"].to_string()).unwrap();
    let pem_path = dir.join("rsa.pem");
    std::fs::write(&pem_path, s(peer(), "rsa_public_pem")).unwrap();

    let a = auth_with(|st| st.jwks = Some(jwks_path.display().to_string()));
    check(&a, "rs256", "valid", Want::User("user-42"));
    check(&a, "es256", "valid", Want::User("user-42"));
    let a = auth_with(|st| st.public_key_pem = Some(pem_path.display().to_string()));
    check(&a, "rs256", "valid", Want::User("user-42"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_line_pem_with_escaped_newlines_loads() {
    let one_line = s(peer(), "ec_public_pem").trim().replace('\n', "\\n");
    let a = auth_with(|st| st.public_key_pem = Some(one_line));
    check(&a, "es256", "valid", Want::User("user-42"));
}

#[test]
fn unconfigured_issuer_and_audience_are_not_checked() {
    let a = auth_with(|st| {
        st.issuer = None;
        st.audience = None;
        st.secret = Some(s(peer(), "hs_secret"));
    });
    check(&a, "hs256", "wrong_aud", Want::User("user-42"));
    check(&a, "hs256", "wrong_iss", Want::User("user-42"));
    check(&a, "hs256", "expired", Want::Invalid("expired"));
}

#[test]
fn clock_is_the_callers() {
    let a = hs();
    let tok = token("hs256", "valid"); // exp = now + 600, leeway 30
    let h = bearer(&tok);
    assert!(a.authenticate(&h, now() + 629).is_ok());
    assert_eq!(
        a.authenticate(&h, now() + 630),
        Err(AuthError::Invalid("expired"))
    );
    let tok = token("hs256", "nbf_future"); // nbf = now + 3600, exp = now + 7200
    let h = bearer(&tok);
    assert!(a.authenticate(&h, now() + 3570).is_ok());
    assert_eq!(
        a.authenticate(&h, now() + 3569),
        Err(AuthError::Invalid("not yet valid"))
    );
}

#[test]
fn no_token_is_401_missing() {
    let a = rsa_pem();
    for h in [HeaderMap::new(), bearer(""), {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, HeaderValue::from_static(""));
        h
    }] {
        let e = a.authenticate(&h, now()).unwrap_err();
        assert_eq!(e, AuthError::Missing);
        assert_eq!((e.status(), e.code()), (401, "Unauthorized"));
        assert_eq!(
            e.www_authenticate().as_deref(),
            Some("Bearer realm=\"oss-direct-upload\"")
        );
    }
}

#[test]
fn bad_key_material_fails_at_start_naming_the_variable() {
    let bad = |f: fn(&mut JwtSettings)| {
        let mut st = settings();
        f(&mut st);
        Authenticator::from_config(&AuthMode::Jwt(st)).unwrap_err()
    };
    let e = bad(|st| {
        st.public_key_pem =
            Some("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----".into())
    });
    assert!(e.starts_with("JWT_PUBLIC_KEY:"), "{e}");
    let e = bad(|st| {
        st.jwks = Some("{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}".into())
    });
    assert!(e.starts_with("JWT_JWKS:"), "{e}");
    let e = bad(|st| st.jwks = Some("/no/such/jwks.json".into()));
    assert!(e.starts_with("JWT_JWKS:"), "{e}");
}

#[test]
fn peer_user_ids_encode_to_safe_segments() {
    let a = hs();
    let user = a
        .authenticate(&bearer(&token("hs256", "unicode_sub")), now())
        .unwrap()
        .user_id
        .unwrap();
    assert_eq!(
        user_prefix_segment(&user).unwrap(),
        ".E7.94.A8.E6.88.B7.2F.2E.2E.2Fx"
    );
}

#[test]
fn user_prefix_segment_rules() {
    let cases = [
        ("../x", ".2E.2E.2Fx"),
        ("a/b", "a.2Fb"),
        ("%2e%2e", ".252e.252e"),
        (".", ".2E"),
        ("..", ".2E.2E"),
        ("é", ".C3.A9"),
        ("a\0b", "a.00b"),
        ("user-42_X", "user-42_X"),
    ];
    for (id, want) in cases {
        let got = user_prefix_segment(id).unwrap();
        assert_eq!(got, want, "{id:?}");
        assert!(!got.contains('/') && got != "." && got != "..");
        assert!(!got.contains(['*', '?', '$']));
    }
    let distinct = [("a.2Fb", "a/b"), (".2E", "."), ("A", "a"), ("a-b", "a_b")];
    for (x, y) in distinct {
        assert_ne!(
            user_prefix_segment(x),
            user_prefix_segment(y),
            "{x:?} vs {y:?}"
        );
    }
    assert_eq!(user_prefix_segment("").unwrap_err().status(), 403);
    assert_eq!(
        user_prefix_segment(&"x".repeat(129)).unwrap_err().status(),
        403
    );
}
