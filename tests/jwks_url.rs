//! `JWT_JWKS_URL` against a real loopback identity provider.
//!
//! `tests/peers/jwks_server.py` publishes a JWKS it can rotate (keys made by
//! `cryptography`, tokens minted by PyJWT), counts every fetch of it, and can
//! fail in each way a provider does (5xx, hanging, too large, a redirect, not
//! a JWKS, gone). The verifier runs with its production bounds except two,
//! given through its test-only constructor: an injected clock, so the 30 s
//! refetch cooldown and the 5 min–24 h cache bounds are crossed without
//! waiting, and, where a hanging provider is tested, a shorter fetch timeout.
//! Every fetch count asserted is the provider's own.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oss_direct_upload::auth::jwks::{RemoteOptions, MAX_FRESH, MIN_FRESH, REFETCH_COOLDOWN};
use oss_direct_upload::auth::jwt::JwtVerifier;
use oss_direct_upload::auth::AuthError;
use oss_direct_upload::config::JwtSettings;

const ISSUER: &str = "https://issuer.jwks.test/";
const AUDIENCE: &str = "jwks-test";

/// The provider, killed on drop.
struct Provider {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the provider publishing `keys` (`kid:RSA` or `kid:EC`).
    fn start(keys: &[&str]) -> Provider {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var_os("PEER_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        let mut cmd = Command::new(&python);
        cmd.arg(root.join("tests/peers/jwks_server.py"));
        for k in keys {
            cmd.args(["--key", k]);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap_or_else(|e| {
            panic!("run {}: {e}; run scripts/setup-peers.sh", python.display())
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("jwks_server.py printed {line:?}"));
        Provider {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        format!("{}/jwks.json", self.base)
    }

    async fn control(&self, method: &str, path_and_query: &str) -> serde_json::Value {
        let url = format!("{}/control/{path_and_query}", self.base);
        let req = if method == "POST" {
            self.http.post(url)
        } else {
            self.http.get(url)
        };
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "{path_and_query}: {}",
            resp.status()
        );
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
    }

    async fn fetches(&self) -> u64 {
        self.control("GET", "count").await["fetches"]
            .as_u64()
            .unwrap()
    }

    async fn mint(&self, kid: &str, sub: &str) -> String {
        let v = self
            .control("GET", &format!("mint?kid={kid}&sub={sub}"))
            .await;
        v["token"].as_str().unwrap().to_owned()
    }

    async fn mode(&self, m: &str) {
        self.control("POST", &format!("mode?m={m}")).await;
    }

    async fn cache(&self, v: &str) {
        self.control("POST", &format!("cache?v={v}")).await;
    }
}

/// A clock the test moves.
#[derive(Clone)]
struct TestClock {
    base: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl TestClock {
    fn new() -> TestClock {
        TestClock {
            base: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        }
    }
    fn advance(&self, d: Duration) {
        self.offset_ms
            .fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
    fn options(&self) -> RemoteOptions {
        let me = self.clone();
        RemoteOptions {
            clock: Arc::new(move || {
                me.base + Duration::from_millis(me.offset_ms.load(Ordering::SeqCst))
            }),
            ..RemoteOptions::default()
        }
    }
}

fn settings(url: &str) -> JwtSettings {
    JwtSettings {
        jwks_url: Some(url.to_owned()),
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        user_claim: "sub".into(),
        leeway_secs: 30,
        ..JwtSettings::default()
    }
}

fn verifier(p: &Provider, opts: RemoteOptions) -> Arc<JwtVerifier> {
    Arc::new(JwtVerifier::with_remote_options(&settings(&p.url()), opts).expect("verifier"))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn verify(v: &JwtVerifier, token: &str) -> Result<String, AuthError> {
    v.verify_refreshing(token, now_unix()).await
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_picked_up_and_an_old_one_honoured_until_it_leaves_the_set() {
    let p = Provider::start(&["k1:RSA"]);
    p.cache("max-age=600").await;
    let clock = TestClock::new();
    let v = verifier(&p, clock.options());
    let old = p.mint("k1", "alice").await;

    // Fetched at start; the first token waits for that fetch, not a second.
    assert_eq!(verify(&v, &old).await.as_deref(), Ok("alice"));
    assert_eq!(p.fetches().await, 1);

    // The provider rotates: k2 joins the set.
    p.control("POST", "add?kid=k2&kty=RSA").await;
    let new = p.mint("k2", "bob").await;
    // Within 30 s of the last fetch, an unknown kid does not fetch again.
    clock.advance(10 * SECOND);
    assert_eq!(
        verify(&v, &new).await,
        Err(AuthError::Invalid("unknown key id"))
    );
    assert_eq!(p.fetches().await, 1);
    // Past it, one refetch, and the new key is accepted.
    clock.advance(21 * SECOND);
    assert_eq!(verify(&v, &new).await.as_deref(), Ok("bob"));
    assert_eq!(p.fetches().await, 2);
    // The old key is still in the set: still accepted, nothing fetched.
    assert_eq!(verify(&v, &old).await.as_deref(), Ok("alice"));
    assert_eq!(verify(&v, &new).await.as_deref(), Ok("bob"));
    assert_eq!(p.fetches().await, 2);

    // k1 leaves the set. The cached set (max-age 600) still holds it...
    p.control("POST", "remove?kid=k1").await;
    clock.advance(590 * SECOND);
    assert_eq!(verify(&v, &old).await.as_deref(), Ok("alice"));
    assert_eq!(p.fetches().await, 2);
    // ...until it goes stale and is refetched: then the old token is refused.
    clock.advance(11 * SECOND);
    assert_eq!(
        verify(&v, &old).await,
        Err(AuthError::Invalid("unknown key id"))
    );
    assert_eq!(p.fetches().await, 3);
    assert_eq!(verify(&v, &new).await.as_deref(), Ok("bob"));
    assert_eq!(p.fetches().await, 3);

    // iss / aud are still required with a fetched key.
    let other_aud = p
        .control("GET", "mint?kid=k2&sub=bob&aud=someone-else")
        .await;
    assert_eq!(
        verify(&v, other_aud["token"].as_str().unwrap()).await,
        Err(AuthError::Invalid("wrong audience"))
    );
    let other_iss = p
        .control("GET", "mint?kid=k2&sub=bob&iss=https://evil.test/")
        .await;
    assert_eq!(
        verify(&v, other_iss["token"].as_str().unwrap()).await,
        Err(AuthError::Invalid("wrong issuer"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_one_fetch_per_cooldown() {
    let p = Provider::start(&["k1:EC"]);
    let clock = TestClock::new();
    let v = verifier(&p, clock.options());
    let good = p.mint("k1", "alice").await;
    assert_eq!(verify(&v, &good).await.as_deref(), Ok("alice"));
    assert_eq!(p.fetches().await, 1);

    async fn flood(p: &Provider, v: &Arc<JwtVerifier>) {
        let tokens = p.control("GET", "flood?n=150").await["tokens"]
            .as_array()
            .unwrap()
            .clone();
        let tasks: Vec<_> = tokens
            .into_iter()
            .map(|t| {
                let v = Arc::clone(v);
                tokio::spawn(
                    async move { v.verify_refreshing(t.as_str().unwrap(), now_unix()).await },
                )
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Err(AuthError::Invalid("unknown key id")));
        }
    }

    clock.advance(REFETCH_COOLDOWN);
    flood(&p, &v).await;
    assert_eq!(
        p.fetches().await,
        2,
        "150 concurrent unknown kids: one fetch"
    );
    clock.advance(REFETCH_COOLDOWN - SECOND);
    flood(&p, &v).await;
    assert_eq!(p.fetches().await, 2, "within the cooldown: none");
    clock.advance(SECOND);
    flood(&p, &v).await;
    assert_eq!(p.fetches().await, 3, "the next cooldown: one more");
    // The good token never needed any of it.
    assert_eq!(verify(&v, &good).await.as_deref(), Ok("alice"));
    assert_eq!(p.fetches().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_set_is_kept_while_the_provider_is_down() {
    let p = Provider::start(&["k1:RSA"]);
    p.cache("max-age=300").await;
    let clock = TestClock::new();
    let v = verifier(
        &p,
        RemoteOptions {
            timeout: Duration::from_millis(700),
            ..clock.options()
        },
    );
    let tok = p.mint("k1", "alice").await;
    assert_eq!(verify(&v, &tok).await.as_deref(), Ok("alice"));
    assert_eq!(p.fetches().await, 1);

    // Each way of failing, once the set is stale: the token is still
    // accepted with the last good set, and the next try waits 30 s.
    let mut expected = 1;
    for mode in ["error", "hang", "big", "redirect", "notjwks"] {
        p.mode(mode).await;
        clock.advance(if expected == 1 {
            301 * SECOND
        } else {
            REFETCH_COOLDOWN
        });
        let started = Instant::now();
        assert_eq!(verify(&v, &tok).await.as_deref(), Ok("alice"), "{mode}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{mode}: bounded"
        );
        expected += 1;
        assert_eq!(p.fetches().await, expected, "{mode}: one attempt");
        clock.advance(REFETCH_COOLDOWN - SECOND);
        assert_eq!(verify(&v, &tok).await.as_deref(), Ok("alice"), "{mode}");
        assert_eq!(p.fetches().await, expected, "{mode}: no retry within 30 s");
        clock.advance(SECOND);
    }

    // Gone altogether.
    drop(p);
    clock.advance(REFETCH_COOLDOWN);
    assert_eq!(verify(&v, &tok).await.as_deref(), Ok("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_is_honoured_within_five_minutes_and_a_day() {
    let p = Provider::start(&["k1:EC"]);
    let tok = p.mint("k1", "alice").await;
    for (cache, fresh) in [
        ("max-age=900", Duration::from_secs(900)),
        ("public, max-age=7200", Duration::from_secs(7200)),
        ("max-age=10", MIN_FRESH),
        ("max-age=999999", MAX_FRESH),
        ("no-store", MIN_FRESH),
        ("", MIN_FRESH),
    ] {
        p.cache(cache).await;
        let clock = TestClock::new();
        let before = p.fetches().await;
        let v = verifier(&p, clock.options());
        assert_eq!(verify(&v, &tok).await.as_deref(), Ok("alice"), "{cache}");
        assert_eq!(p.fetches().await, before + 1, "{cache}");
        clock.advance(fresh - SECOND);
        assert_eq!(verify(&v, &tok).await.as_deref(), Ok("alice"), "{cache}");
        assert_eq!(p.fetches().await, before + 1, "{cache}: still fresh");
        clock.advance(2 * SECOND);
        assert_eq!(verify(&v, &tok).await.as_deref(), Ok("alice"), "{cache}");
        assert_eq!(p.fetches().await, before + 2, "{cache}: stale, refetched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_any_set_tokens_get_503_jwks_unavailable_then_recover() {
    let p = Provider::start(&["k1:RSA"]);
    p.mode("error").await;
    let clock = TestClock::new();
    let v = verifier(&p, clock.options());
    let tok = p.mint("k1", "alice").await;

    let e = verify(&v, &tok).await.unwrap_err();
    assert!(
        matches!(e, AuthError::KeysUnavailable { retry_after_secs } if (1..=5).contains(&retry_after_secs)),
        "{e:?}"
    );
    assert_eq!((e.status(), e.code()), (503, "JwksUnavailable"));
    assert!(!e.message().contains(&tok));
    assert_eq!(p.fetches().await, 1, "the start fetch only");
    // Retried at most every 5 s, however many tokens come.
    for _ in 0..20 {
        assert!(matches!(
            verify(&v, &tok).await,
            Err(AuthError::KeysUnavailable { .. })
        ));
    }
    assert_eq!(p.fetches().await, 1);

    p.mode("up").await;
    clock.advance(5 * SECOND);
    assert_eq!(verify(&v, &tok).await.as_deref(), Ok("alice"));
    assert_eq!(p.fetches().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_answers_costs_at_most_the_fetch_bound() {
    let p = Provider::start(&["k1:RSA"]);
    p.mode("hang").await;
    let clock = TestClock::new();
    let v = verifier(
        &p,
        RemoteOptions {
            timeout: Duration::from_millis(800),
            ..clock.options()
        },
    );
    let tok = p.mint("k1", "alice").await;
    let started = Instant::now();
    assert!(matches!(
        verify(&v, &tok).await,
        Err(AuthError::KeysUnavailable { .. })
    ));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2000), "{took:?}");
}
