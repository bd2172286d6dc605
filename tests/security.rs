//! The security model over real HTTP: who may ask (JWT verified here, or by
//! FC's trigger), per-user prefixes and credentials, CORS, rate limits, size
//! limits, and that no token or secret reaches a log line or response.
//! Tokens are minted by PyJWT (code we did not write) at the real clock.

#[path = "common/harness.rs"]
mod harness;
#[path = "common/peers.rs"]
mod peers;
use harness::*;

use serde_json::Value;

const SECRET: &str = "a-test-hs256-secret-that-is-long-enough-123";
const AUDIENCE: &str = "oss-direct-upload";
const ISSUER: &str = "https://auth.example.com/";

/// Mints HS256 tokens with PyJWT for each named case, relative to now.
fn mint() -> Value {
    let script = r#"
import json, sys, time, base64, hmac, hashlib
import jwt
secret, aud, iss = sys.argv[1:4]
now = int(time.time())
def tok(claims, key=secret, alg="HS256"):
    base = {"iss": iss, "aud": aud, "iat": now, "exp": now + 600}
    base.update(claims)
    base = {k: v for k, v in base.items() if v is not None}
    return jwt.encode(base, key, algorithm=alg)
def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
none_tok = b64u(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + b64u(json.dumps({"sub": "alice", "aud": aud, "iss": iss, "exp": now + 600}).encode()) + "."
good = tok({"sub": "alice"})
bad_sig = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
print(json.dumps({
  "alice": good,
  "bob": tok({"sub": "bob"}),
  "traversal": tok({"sub": "../bob"}),
  "expired": tok({"sub": "alice", "iat": now - 4000, "exp": now - 3600}),
  "future": tok({"sub": "alice", "nbf": now + 3600}),
  "wrong_aud": tok({"sub": "alice", "aud": "someone-else"}),
  "wrong_iss": tok({"sub": "alice", "iss": "https://evil.example.com/"}),
  "wrong_key": tok({"sub": "alice"}, key="another-secret-of-sufficient-length-xyz"),
  "bad_sig": bad_sig,
  "alg_none": none_tok,
  "no_sub": tok({"sub": None}),
}))
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script, SECRET, AUDIENCE, ISSUER])
        .output()
        .expect("run PyJWT");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("minted tokens")
}

fn jwt_env(sts: &StsPeer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = base_env(&sts.url());
    env.retain(|(k, _)| k != "AUTH_MODE");
    for (k, v) in [
        ("AUTH_MODE", "jwt"),
        ("JWT_SECRET", SECRET),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_ISSUER", ISSUER),
    ]
    .iter()
    .chain(extra.iter())
    {
        env.retain(|(ek, _)| ek != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

fn sts_as(f: &Function, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = client().get(format!("{}/v1/sts", f.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(req)
}

#[test]
fn jwt_mode_refuses_bad_tokens_and_scopes_each_user() {
    let tokens = mint();
    let t = |name: &str| tokens[name].as_str().unwrap().to_owned();
    let sts = StsPeer::start(&[]);
    let f = Function::start(&jwt_env(&sts, &[]));

    // No token: 401 with a Bearer challenge.
    let (status, headers, body) = sts_as(&f, None);
    assert_eq!(status, 401, "{body}");
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(json(&body)["error"]["code"], "Unauthorized");

    for case in [
        "expired",
        "future",
        "wrong_aud",
        "wrong_iss",
        "wrong_key",
        "bad_sig",
        "alg_none",
    ] {
        let (status, headers, body) = sts_as(&f, Some(&t(case)));
        assert_eq!(status, 401, "{case}: {body}");
        assert!(headers.contains_key("www-authenticate"), "{case}");
        assert!(!body.contains(&t(case)), "{case}: token echoed");
    }
    let (status, _, body) = sts_as(&f, Some(&t("no_sub")));
    assert_eq!(status, 403, "valid token without sub: {body}");

    // Alice and Bob each get their own prefix and their own credentials.
    let (status, _, body) = sts_as(&f, Some(&t("alice")));
    assert_eq!(status, 200, "{body}");
    let alice = json(&body);
    assert_eq!(alice["Prefix"], "uploads/alice/");
    let policy: Value =
        serde_json::from_str(sts.last()["params"]["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"],
        serde_json::json!(["acs:oss:*:*:test-bucket/uploads/alice/*"])
    );
    assert!(sts.last()["params"]["RoleSessionName"]
        .as_str()
        .unwrap()
        .starts_with("alice-"));

    let (_, _, body) = sts_as(&f, Some(&t("bob")));
    let bob = json(&body);
    assert_eq!(bob["Prefix"], "uploads/bob/");
    assert_ne!(
        alice["AccessKeyId"], bob["AccessKeyId"],
        "one user's token never reaches another"
    );
    let (_, _, body) = sts_as(&f, Some(&t("alice")));
    assert_eq!(
        json(&body)["AccessKeyId"],
        alice["AccessKeyId"],
        "alice's are cached"
    );
    assert_eq!(
        sts.stats()["assumeRole"],
        Value::from(2),
        "one STS call per user"
    );

    // A user id that looks like a path cannot escape: it is encoded.
    let (_, _, body) = sts_as(&f, Some(&t("traversal")));
    let prefix = json(&body)["Prefix"].as_str().unwrap().to_owned();
    assert_eq!(prefix, "uploads/.2E.2E.2Fbob/");

    // Alice cannot presign a GET for Bob's objects.
    let (status, last, body) = send(
        client()
            .get(format!(
                "{}/v1/presign?method=GET&key=uploads/bob/x/y.png",
                f.url()
            ))
            .bearer_auth(t("alice")),
    );
    assert_eq!(status, 403, "{body}");

    // Every request's log lines are out once the last one's end marker is.
    let end = format!(
        "FC Invoke End RequestId: {}",
        last.get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    );
    let out = f.output_when(|o| o.contains(&end));
    assert!(out.contains(&end), "{out}");
    for name in ["alice", "bob", "expired", "bad_sig", "alg_none"] {
        let tok = t(name);
        assert!(!out.contains(&tok), "JWT {name} appeared in the log");
        let sig = tok.rsplit('.').next().unwrap_or_default();
        if sig.len() > 10 {
            assert!(
                !out.contains(sig),
                "JWT signature of {name} appeared in the log"
            );
        }
    }
    for v in [&alice, &bob] {
        assert!(!out.contains(v["AccessKeySecret"].as_str().unwrap()));
        assert!(!out.contains(v["SecurityToken"].as_str().unwrap()));
    }
}

#[test]
fn fc_jwt_mode_takes_the_user_from_the_trigger_header() {
    let sts = StsPeer::start(&[]);
    let mut env = base_env(&sts.url());
    env.retain(|(k, _)| k != "AUTH_MODE");
    env.push(("AUTH_MODE".into(), "fc-jwt".into()));
    env.push(("TRIGGER_USER_HEADER".into(), "x-user-id".into()));
    let f = Function::start(&env);
    let (status, headers, _) = send(client().get(format!("{}/v1/sts", f.url())));
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    let (status, _, body) = send(
        client()
            .get(format!("{}/v1/sts", f.url()))
            .header("x-user-id", "carol@example.com"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["Prefix"], "uploads/carol.40example.2Ecom/");
}

#[test]
fn cors_answers_listed_origins_only_and_preflight_needs_no_token() {
    let sts = StsPeer::start(&[]);
    let f = Function::start(&jwt_env(
        &sts,
        &[("ALLOWED_ORIGINS", "https://app.example.com")],
    ));
    let c = client();
    let preflight = |origin: &str| {
        send(
            c.request(reqwest::Method::OPTIONS, format!("{}/v1/sts", f.url()))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
        )
    };
    let (status, headers, _) = preflight("https://app.example.com");
    assert_eq!(status, 204, "preflight without a token is answered");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allow_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allow_headers.contains("authorization"));
    let (status, headers, _) = preflight("https://evil.example.com");
    assert_eq!(status, 403);
    assert!(!headers.contains_key("access-control-allow-origin"));

    let tokens = mint();
    let alice = tokens["alice"].as_str().unwrap();
    let (status, headers, _) = send(
        c.get(format!("{}/v1/sts", f.url()))
            .header("origin", "https://app.example.com")
            .bearer_auth(alice),
    );
    assert_eq!(status, 200);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(headers["cache-control"], "no-store");
    let (status, headers, _) = send(
        c.get(format!("{}/v1/sts", f.url()))
            .header("origin", "https://evil.example.com")
            .bearer_auth(alice),
    );
    assert_eq!(
        status, 403,
        "a credential request from an unlisted origin is refused"
    );
    assert!(!headers.contains_key("access-control-allow-origin"));
}

#[test]
fn wildcard_origin_is_refused_outside_anonymous_mode() {
    let sts = StsPeer::start(&[]);
    let (code, out) = run_to_exit(&jwt_env(&sts, &[("ALLOWED_ORIGINS", "*")]));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("ALLOWED_ORIGINS"), "{out}");
}

#[test]
fn rate_limit_answers_429_with_retry_after_per_user() {
    let tokens = mint();
    let sts = StsPeer::start(&[]);
    let f = Function::start(&jwt_env(&sts, &[("RATE_LIMIT_PER_MINUTE", "3")]));
    let alice = tokens["alice"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(sts_as(&f, Some(alice)).0, 200);
    }
    let (status, headers, body) = sts_as(&f, Some(alice));
    assert_eq!(status, 429, "{body}");
    assert_eq!(json(&body)["error"]["code"], "RateLimited");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        sts_as(&f, Some(tokens["bob"].as_str().unwrap())).0,
        200,
        "bob is not limited by alice"
    );
    assert_eq!(
        sts.stats()["assumeRole"],
        Value::from(2),
        "at most one STS call per user"
    );
}

#[test]
fn oversized_headers_are_refused() {
    let sts = StsPeer::start(&[]);
    let f = Function::start(&jwt_env(&sts, &[]));
    let r = client()
        .get(format!("{}/v1/sts", f.url()))
        .header("x-padding", "p".repeat(40 * 1024))
        .send();
    // hyper answers 431 and closes, or resets the connection: never a 200.
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 431);
    }
    assert_eq!(send(client().get(format!("{}/healthz", f.url()))).0, 200);
}

#[test]
fn type_and_size_are_checked_before_anything_is_signed() {
    let tokens = mint();
    let sts = StsPeer::start(&[]);
    let f = Function::start(&jwt_env(
        &sts,
        &[
            ("ALLOWED_CONTENT_TYPES", "image/png"),
            ("MAX_UPLOAD_BYTES", "1000"),
        ],
    ));
    let alice = tokens["alice"].as_str().unwrap();
    for path in [
        "/v1/presign?contentType=image/jpeg",
        "/v1/post-policy?contentType=text/html",
        "/v1/presign?contentType=image/png&size=1001",
        "/v1/post-policy?size=99999",
    ] {
        let (status, _, body) = send(
            client()
                .get(format!("{}{path}", f.url()))
                .bearer_auth(alice),
        );
        assert_eq!(status, 400, "{path}: {body}");
    }
    assert_eq!(
        sts.stats()["assumeRole"],
        Value::from(0),
        "refused before any STS call"
    );
}

#[test]
fn anonymous_rate_limit_cannot_be_reset_with_a_made_up_forwarded_for() {
    let sts = StsPeer::start(&[]);
    let mut env = base_env(&sts.url());
    env.push(("RATE_LIMIT_PER_MINUTE".into(), "2".into()));
    let f = Function::start(&env);
    // The front end appends the real address last; the client controls what precedes it.
    let ask = |fake: &str| {
        send(
            client()
                .get(format!("{}/v1/sts", f.url()))
                .header("x-forwarded-for", format!("{fake}, 203.0.113.7")),
        )
        .0
    };
    assert_eq!(ask("10.0.0.1"), 200);
    assert_eq!(ask("10.0.0.2"), 200);
    assert_eq!(
        ask("10.0.0.3"),
        429,
        "a new fake first entry does not reset the limit"
    );
    let other = send(
        client()
            .get(format!("{}/v1/sts", f.url()))
            .header("x-forwarded-for", "198.51.100.9"),
    )
    .0;
    assert_eq!(other, 200, "another real address has its own budget");
}
