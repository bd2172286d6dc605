//! The configuration's behaviour tests: defaults, refusals, and the
//! messages that name each variable.

use super::*;
use std::collections::HashMap;

fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_vars(&move |k| map.get(k).cloned())
}

const BASE: &[(&str, &str)] = &[
    ("OSS_BUCKET", "my-bucket"),
    ("OSS_REGION", "cn-hangzhou"),
    ("OSS_ROLE_ARN", "acs:ram::1234567890:role/oss-upload"),
    ("AUTH_MODE", "anonymous"),
];

fn base_with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigErrors> {
    let mut v: Vec<(&str, &str)> = BASE.to_vec();
    v.extend_from_slice(extra);
    with(&v)
}

#[test]
fn defaults_follow_the_region() {
    let c = base_with(&[]).unwrap();
    assert_eq!(c.oss_endpoint, "https://oss-cn-hangzhou.aliyuncs.com");
    assert_eq!(c.sts_endpoint, "https://sts.cn-hangzhou.aliyuncs.com");
    assert_eq!(c.upload_prefix, "uploads/");
    assert_eq!(c.token_ttl_secs, 900);
    assert_eq!(c.url_ttl_secs, 600);
    assert_eq!(c.signature_version, SignatureVersion::V4);
    assert!(c.content_type_allowed("image/png"));
    assert!(!c.content_type_allowed("text/html"));
}

#[test]
fn empty_environment_names_every_required_variable() {
    let errs = with(&[]).unwrap_err();
    let vars: Vec<&str> = errs.0.iter().map(|e| e.variable).collect();
    for v in ["OSS_BUCKET", "OSS_REGION", "OSS_ROLE_ARN", "AUTH_MODE"] {
        assert!(vars.contains(&v), "{v} not reported in {errs}");
    }
    assert!(errs.to_string().contains("AUTH_MODE: not set; choose jwt"));
}

#[test]
fn missing_role_arn_is_refused_with_what_to_set() {
    let errs = with(&[
        ("OSS_BUCKET", "b-1"),
        ("OSS_REGION", "cn-hangzhou"),
        ("AUTH_MODE", "anonymous"),
    ])
    .unwrap_err();
    assert_eq!(errs.0.len(), 1);
    assert_eq!(errs.0[0].variable, "OSS_ROLE_ARN");
    assert!(errs.0[0].message.contains("acs:ram::<account id>:role/"));
}

#[test]
fn bad_values_are_reported_by_name() {
    let errs = base_with(&[
        ("TOKEN_TTL_SECONDS", "60"),
        ("SIGNATURE_VERSION", "v2"),
        ("UPLOAD_PREFIX", "../etc"),
        ("OSS_ENDPOINT", "ftp://x"),
        ("ALLOWED_CONTENT_TYPES", "image/png,notatype"),
    ])
    .unwrap_err();
    let vars: Vec<&str> = errs.0.iter().map(|e| e.variable).collect();
    for v in [
        "TOKEN_TTL_SECONDS",
        "SIGNATURE_VERSION",
        "UPLOAD_PREFIX",
        "OSS_ENDPOINT",
        "ALLOWED_CONTENT_TYPES",
    ] {
        assert!(vars.contains(&v), "{v} not reported in {errs}");
    }
}

#[test]
fn region_with_oss_prefix_is_refused_with_the_fix() {
    let errs = with(&[
        ("OSS_BUCKET", "b-1"),
        ("OSS_REGION", "oss-cn-hangzhou"),
        ("OSS_ROLE_ARN", "acs:ram::1:role/r"),
        ("AUTH_MODE", "anonymous"),
    ])
    .unwrap_err();
    assert!(errs.to_string().contains("\"cn-hangzhou\""));
}

#[test]
fn wildcard_origin_needs_anonymous_mode() {
    assert!(base_with(&[("ALLOWED_ORIGINS", "*")]).is_ok());
    let errs = with(&[
        ("OSS_BUCKET", "b-1"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ROLE_ARN", "acs:ram::1:role/r"),
        ("AUTH_MODE", "fc-jwt"),
        ("TRIGGER_USER_HEADER", "x-user-id"),
        ("ALLOWED_ORIGINS", "*"),
    ])
    .unwrap_err();
    assert_eq!(errs.0[0].variable, "ALLOWED_ORIGINS");
}

#[test]
fn jwt_mode_needs_exactly_one_key_source() {
    let errs = with(&[
        ("OSS_BUCKET", "b-1"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ROLE_ARN", "acs:ram::1:role/r"),
        ("AUTH_MODE", "jwt"),
    ])
    .unwrap_err();
    assert!(errs.to_string().contains("exactly one of JWT_SECRET"));
}

#[test]
fn jwks_url_conflicts_name_what_was_set() {
    let jwt = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = vec![
            ("OSS_BUCKET", "b-1"),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ROLE_ARN", "acs:ram::1:role/r"),
            ("AUTH_MODE", "jwt"),
        ];
        v.extend_from_slice(extra);
        with(&v)
    };
    let url = (
        "JWT_JWKS_URL",
        "https://login.example.com/.well-known/jwks.json",
    );
    let c = jwt(&[url]).unwrap();
    let AuthMode::Jwt(s) = &c.auth else {
        panic!("{:?}", c.auth)
    };
    assert_eq!(s.jwks_url.as_deref(), Some(url.1));

    let errs = jwt(&[url, ("JWT_SECRET", "0123456789abcdef0123456789abcdef")]).unwrap_err();
    let text = errs.to_string();
    assert!(
        text.contains("JWT_SECRET and JWT_JWKS_URL are both set"),
        "{text}"
    );
    let errs = jwt(&[
        url,
        ("JWT_PUBLIC_KEY", "/k.pem"),
        ("JWT_JWKS", "{\"keys\":[]}"),
    ])
    .unwrap_err();
    assert!(
        errs.to_string()
            .contains("JWT_PUBLIC_KEY, JWT_JWKS and JWT_JWKS_URL are all set"),
        "{errs}"
    );
    // A JWKS URL with no AUTH_MODE=jwt to use it is refused, like the other keys.
    let errs = base_with(&[url]).unwrap_err();
    assert_eq!(errs.0[0].variable, "JWT_JWKS_URL");

    let errs = jwt(&[("JWT_JWKS_URL", "http://login.example.com/jwks")]).unwrap_err();
    assert_eq!(errs.0[0].variable, "JWT_JWKS_URL");
    assert!(errs.to_string().contains("set the https URL"), "{errs}");
    assert!(jwt(&[("JWT_JWKS_URL", "http://127.0.0.1:8080/jwks")]).is_ok());
}

#[test]
fn urls_are_https_or_loopback_http() {
    for ok in [
        "https://login.example.com/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks",
        "http://[::1]:8080/jwks",
        "http://localhost/jwks",
    ] {
        assert!(jwks_url(ok).is_ok(), "{ok}");
    }
    let e = jwks_url("http://login.example.com/jwks").unwrap_err();
    assert!(e.contains("plain http") && e.contains("https"), "{e}");
    assert!(jwks_url("ftp://x/jwks").unwrap_err().contains("https"));
    assert!(jwks_url("not a url").unwrap_err().contains("not a URL"));
    assert!(jwks_url("https://u:p@x.example/jwks")
        .unwrap_err()
        .contains("password"));
}

#[test]
fn url_ttl_cannot_exceed_token_ttl() {
    let errs = base_with(&[("URL_TTL_SECONDS", "1000")]).unwrap_err();
    assert_eq!(errs.0[0].variable, "URL_TTL_SECONDS");
}

#[test]
fn prefix_rules() {
    assert!(check_prefix("uploads/").is_ok());
    assert!(check_prefix("a/b/").is_ok());
    for bad in [
        "",
        "uploads",
        "/uploads/",
        "a/../",
        "a//b/",
        "up*/",
        "a\u{0}/",
    ] {
        assert!(check_prefix(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn sts_call_budget_defaults_well_under_the_account_quota_and_is_bounded() {
    assert_eq!(base_with(&[]).unwrap().sts_max_calls_per_second, 20);
    assert_eq!(
        base_with(&[("STS_MAX_CALLS_PER_SECOND", "5")])
            .unwrap()
            .sts_max_calls_per_second,
        5
    );
    for bad in ["0", "1001", "-1", "ten", "2.5"] {
        let errs = with(
            &BASE
                .iter()
                .copied()
                .chain([("STS_MAX_CALLS_PER_SECOND", bad)])
                .collect::<Vec<_>>(),
        )
        .unwrap_err();
        assert_eq!(errs.0.len(), 1, "{bad}: {errs}");
        assert_eq!(errs.0[0].variable, "STS_MAX_CALLS_PER_SECOND");
        assert!(errs.0[0].message.contains("from 1 to 1000"), "{errs}");
    }
}

#[test]
fn jwt_key_errors_name_what_is_set() {
    let base = [
        ("OSS_BUCKET", "b-1"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ROLE_ARN", "acs:ram::1:role/r"),
        ("AUTH_MODE", "jwt"),
    ];
    let none = with(&base).unwrap_err().to_string();
    assert!(none.contains("none is set"), "{none}");
    let mut two = base.to_vec();
    two.push(("JWT_SECRET", "0123456789abcdef0123456789abcdef"));
    two.push(("JWT_JWKS", "{\"keys\":[]}"));
    let two = with(&two).unwrap_err().to_string();
    assert!(
        two.contains("JWT_SECRET and JWT_JWKS are both set"),
        "{two}"
    );
}

#[test]
fn a_jwt_key_without_jwt_mode_is_refused_not_ignored() {
    for mode in ["anonymous", "fc-jwt"] {
        let errs = with(&[
            ("OSS_BUCKET", "b-1"),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ROLE_ARN", "acs:ram::1:role/r"),
            ("AUTH_MODE", mode),
            ("TRIGGER_USER_HEADER", "x-user-id"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap_err();
        assert_eq!(errs.0[0].variable, "JWT_SECRET", "{errs}");
        assert!(errs.to_string().contains("set AUTH_MODE=jwt"), "{errs}");
    }
}
