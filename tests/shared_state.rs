//! The optional shared state (`STATE_REDIS_URL`) with real processes: a real
//! `redis-server` (Debian's) on loopback without persistence, four instances
//! of our binary sharing it, and one loopback STS peer that checks every
//! AssumeRole with the official SDK's signer and counts them.
//!
//! Proves: a user's limit holds across the four (60 successes, not 240);
//! 1,000 users over the four cost at most 1,000 AssumeRole calls and each
//! user gets the same credentials everywhere; a killed store costs nothing
//! but sharing (no 5xx) and sharing comes back by itself; the store never
//! holds a secret; a wrong `STATE_KEY` means a refetch; a retried multipart
//! complete answers the same result.

#[path = "common/harness.rs"]
mod harness;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/redis_server.rs"]
mod redis_server;

use harness::*;
use redis_server::RedisServer;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const JWT_SECRET: &str = "shared-state-test-hs256-secret-0123456789abcdef";
const STATE_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

fn token(user: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": user, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("mint a token")
}

fn env(sts: &StsPeer, redis: Option<&RedisServer>, key: &str) -> Vec<(String, String)> {
    let mut env = base_env(&sts.url());
    env.retain(|(k, _)| k != "AUTH_MODE");
    let mut add = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
    add("AUTH_MODE", "jwt");
    add("JWT_SECRET", JWT_SECRET);
    add("CREDENTIAL_CACHE_SIZE", "100000");
    // The per-instance guard on the STS quota would refuse this test's
    // bursts of new users; here the calls themselves are counted.
    add("STS_MAX_CALLS_PER_SECOND", "1000");
    if let Some(r) = redis {
        add("STATE_REDIS_URL", &r.url());
        add("STATE_KEY", key);
        // Generous: a loaded test machine must not look like a store
        // outage (a_slow_or_missing_store_does_not_slow_requests sets its own).
        add("STATE_TIMEOUT_MS", "1000");
    }
    env
}

/// Starts `n` instances and waits until each has connected to the store.
fn instances(n: usize, env: &[(String, String)]) -> Vec<Function> {
    let fs: Vec<Function> = (0..n).map(|_| Function::start(env)).collect();
    if env.iter().any(|(k, _)| k == "STATE_REDIS_URL") {
        for f in &fs {
            let out = f.output_when(|o| o.contains("shared state store connected"));
            assert!(
                out.contains("shared state store connected"),
                "an instance never connected:\n{out}"
            );
        }
    }
    fs
}

/// `POST /v1/sts` as `user`: (status, body).
fn sts(client: &reqwest::blocking::Client, f: &Function, user: &str) -> (u16, Value) {
    let r = client
        .post(format!("{}/v1/sts", f.url()))
        .bearer_auth(token(user))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .expect("the function answers");
    let status = r.status().as_u16();
    let body = serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or(Value::Null);
    (status, body)
}

fn assume_role_calls(peer: &StsPeer) -> u64 {
    peer.stats()["assumeRole"]
        .as_u64()
        .expect("assumeRole count")
}

/// Finds any of many secrets in a text in one pass: every secret is at
/// least [`Leaks::PROBE`] bytes long, so a window of that size that starts
/// one is found by hash, then the whole secret is compared.
struct Leaks<'a> {
    by_start: HashMap<&'a [u8], Vec<&'a [u8]>>,
}

impl<'a> Leaks<'a> {
    const PROBE: usize = 16;

    fn new(secrets: &'a [String]) -> Leaks<'a> {
        let mut by_start: HashMap<&[u8], Vec<&[u8]>> = HashMap::new();
        for s in secrets {
            let b = s.as_bytes();
            assert!(b.len() >= Self::PROBE, "a secret shorter than the probe");
            by_start.entry(&b[..Self::PROBE]).or_default().push(b);
        }
        Leaks { by_start }
    }

    fn any_in(&self, hay: &[u8]) -> bool {
        (0..hay.len().saturating_sub(Self::PROBE - 1)).any(|i| {
            self.by_start
                .get(&hay[i..i + Self::PROBE])
                .is_some_and(|full| full.iter().any(|s| hay[i..].starts_with(s)))
        })
    }
}

fn no_panic(fs: &[Function]) {
    for f in fs {
        let out = f.output();
        assert!(!out.contains("panicked"), "a panic:\n{out}");
    }
}

#[test]
fn a_user_gets_its_limit_once_across_four_instances() {
    let peer = StsPeer::start(&[]);
    let redis = RedisServer::start(&[]);
    let fs = instances(4, &env(&peer, Some(&redis), STATE_KEY));
    let client = client();
    let ok = AtomicU32::new(0);
    let limited = AtomicU32::new(0);
    let started = Instant::now();
    // 240 requests of one user, round-robin over the four, 8 at a time.
    std::thread::scope(|s| {
        for t in 0..8 {
            let (fs, client, ok, limited) = (&fs, &client, &ok, &limited);
            s.spawn(move || {
                for i in 0..30 {
                    let (status, body) = sts(client, &fs[(t + i) % 4], "limited-user");
                    match status {
                        200 => ok.fetch_add(1, Ordering::Relaxed),
                        429 => limited.fetch_add(1, Ordering::Relaxed),
                        other => panic!("status {other}: {body}"),
                    };
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs();
    let (ok, limited) = (ok.into_inner(), limited.into_inner());
    println!("limit across four instances: {ok} admitted, {limited} refused in {elapsed} s");
    // 60 per minute refills one per second: a slow run may earn that many more.
    assert!(
        (60..=60 + elapsed as u32).contains(&ok),
        "{ok} admitted (60 expected, not 240)"
    );
    assert_eq!(ok + limited, 240);
    no_panic(&fs);
}

#[test]
fn the_limit_falls_back_to_plain_commands_where_scripts_are_refused() {
    let peer = StsPeer::start(&[]);
    // A store that refuses scripts, as some managed offerings do.
    let redis = RedisServer::start(&[
        "--rename-command",
        "EVAL",
        "",
        "--rename-command",
        "EVALSHA",
        "",
        "--rename-command",
        "SCRIPT",
        "",
    ]);
    let fs = instances(2, &env(&peer, Some(&redis), STATE_KEY));
    // The fallback counts per clock minute: keep the run inside one.
    let into_minute = chrono::Utc::now().timestamp() % 60;
    if into_minute > 50 {
        std::thread::sleep(Duration::from_secs((61 - into_minute) as u64));
    }
    let client = client();
    let mut ok = 0;
    for i in 0..100 {
        let (status, body) = sts(&client, &fs[i % 2], "no-script-user");
        match status {
            200 => ok += 1,
            429 => {}
            other => panic!("status {other}: {body}"),
        }
    }
    assert_eq!(ok, 60, "the fixed window holds the limit across instances");
    let out = fs[0].output_when(|o| o.contains("refuses Lua scripts"));
    assert!(out.contains("refuses Lua scripts"), "logged once:\n{out}");
    assert_eq!(out.matches("refuses Lua scripts").count(), 1);
    no_panic(&fs);
}

#[test]
fn a_thousand_users_cost_at_most_a_thousand_assume_roles_and_see_one_credential() {
    let peer = StsPeer::start(&[]);
    let redis = RedisServer::start(&[]);
    let fs = instances(4, &env(&peer, Some(&redis), STATE_KEY));
    let client = client();
    let before = assume_role_calls(&peer);
    let seen: Mutex<HashMap<String, HashSet<String>>> = Mutex::new(HashMap::new());
    let secrets: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..8usize {
            let (fs, client, seen, secrets) = (&fs, &client, &seen, &secrets);
            s.spawn(move || {
                for u in (t..1000).step_by(8) {
                    let user = format!("user-{u}");
                    let mut answers = Vec::new();
                    if u < 500 {
                        // Round-robin, one instance after the other.
                        for k in 0..4 {
                            answers.push(sts(client, &fs[(u + k) % 4], &user));
                        }
                    } else {
                        // All four at once: one refreshes, the others wait for it.
                        std::thread::scope(|s2| {
                            let hs: Vec<_> = (0..4)
                                .map(|k| {
                                    let user = user.as_str();
                                    s2.spawn(move || sts(client, &fs[k], user))
                                })
                                .collect();
                            for h in hs {
                                answers.push(h.join().expect("request thread"));
                            }
                        });
                    }
                    for (status, body) in answers {
                        assert_eq!(status, 200, "{body}");
                        let ak = body["AccessKeyId"]
                            .as_str()
                            .expect("AccessKeyId")
                            .to_owned();
                        let mut sec = secrets.lock().unwrap();
                        sec.push(body["AccessKeySecret"].as_str().unwrap().to_owned());
                        sec.push(body["SecurityToken"].as_str().unwrap().to_owned());
                        seen.lock()
                            .unwrap()
                            .entry(user.clone())
                            .or_default()
                            .insert(ak);
                    }
                }
            });
        }
    });
    let calls = assume_role_calls(&peer) - before;
    let seen = seen.into_inner().unwrap();
    let split: Vec<_> = seen.iter().filter(|(_, aks)| aks.len() != 1).collect();
    println!(
        "1,000 users x 4 instances: {calls} AssumeRole calls, {} users saw more than one key",
        split.len()
    );
    assert_eq!(seen.len(), 1000);
    let away: usize = fs
        .iter()
        .map(|f| f.output().matches("shared state store unavailable").count())
        .sum();
    assert!(
        calls <= 1000,
        "{calls} AssumeRole calls for 1,000 users (the store was away {away} times)"
    );
    assert!(
        split.is_empty(),
        "users with differing credentials: {split:?}"
    );

    // Nothing in the store is a secret, a token, or names a user or prefix.
    let mut needles = secrets.into_inner().unwrap();
    needles.extend([FC_SECRET.to_owned(), FC_TOKEN.to_owned()]);
    let all = redis.everything();
    assert!(
        all.len() >= 1000,
        "the store holds the shared credentials: {}",
        all.len()
    );
    let found = Leaks::new(&needles);
    assert!(
        found.any_in(format!("x{}y", needles[1]).as_bytes()),
        "the search finds"
    );
    for (k, v) in &all {
        let key = String::from_utf8_lossy(k);
        assert!(key.starts_with("odu:"), "{key}");
        assert!(!key.contains("user-") && !key.contains("uploads/"), "{key}");
        assert!(!found.any_in(k), "a secret in key {key}");
        assert!(!found.any_in(v), "a secret in the value of {key}");
        assert!(!v.windows(8).any(|w| w == b"user-12/"), "a prefix in {key}");
    }
    for f in &fs {
        assert!(!found.any_in(f.output().as_bytes()), "a secret in a log");
    }

    // An instance with another STATE_KEY cannot open what is stored: it
    // refetches from STS (it is not handed garbage, nor does it crash) and
    // leaves the others' values alone.
    let wrong = Function::start(&env(&peer, Some(&redis), OTHER_KEY));
    let out = wrong.output_when(|o| o.contains("shared state store connected"));
    assert!(out.contains("shared state store connected"), "{out}");
    let before = assume_role_calls(&peer);
    let (status, body) = sts(&client, &wrong, "user-7");
    assert_eq!(status, 200, "{body}");
    assert_eq!(assume_role_calls(&peer) - before, 1, "a refetch");
    let theirs = seen["user-7"].iter().next().unwrap().clone();
    assert_ne!(body["AccessKeyId"].as_str().unwrap(), theirs);
    let out = wrong.output_when(|o| o.contains("another STATE_KEY"));
    assert!(out.contains("another STATE_KEY"), "{out}");
    // The others still read the value they share (a fresh instance, whose own cache is empty).
    let fresh = Function::start(&env(&peer, Some(&redis), STATE_KEY));
    let _ = fresh.output_when(|o| o.contains("shared state store connected"));
    let before = assume_role_calls(&peer);
    let (status, body) = sts(&client, &fresh, "user-7");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["AccessKeyId"].as_str().unwrap(), theirs);
    assert_eq!(assume_role_calls(&peer) - before, 0);
    no_panic(&fs);
    no_panic(&[wrong, fresh]);
}

#[test]
fn a_dead_store_costs_only_sharing_and_sharing_comes_back() {
    let peer = StsPeer::start(&[]);
    let mut redis = RedisServer::start(&[]);
    let fs = instances(4, &env(&peer, Some(&redis), STATE_KEY));
    let client = client();
    let same_everywhere = |user: &str| -> bool {
        let aks: HashSet<String> = (0..4)
            .map(|k| {
                let (status, body) = sts(&client, &fs[k], user);
                assert_eq!(status, 200, "{body}");
                body["AccessKeyId"].as_str().unwrap().to_owned()
            })
            .collect();
        aks.len() == 1
    };
    assert!(same_everywhere("before-0"));
    let answered = AtomicU32::new(0);
    // Requests keep coming while the store is killed.
    std::thread::scope(|s| {
        let (fs, client, answered) = (&fs, &client, &answered);
        let load = s.spawn(move || {
            for i in 0..400 {
                let (status, body) = sts(client, &fs[i % 4], &format!("during-{}", i % 100));
                assert!(
                    status == 200 || status == 429,
                    "status {status} with the store away: {body}"
                );
                answered.fetch_add(1, Ordering::Relaxed);
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        redis.kill();
        load.join().expect("load thread");
    });
    assert_eq!(answered.into_inner(), 400, "every request answered");
    // With the store away, each instance serves on its own.
    for i in 0..20 {
        let (status, body) = sts(&client, &fs[i % 4], &format!("away-{i}"));
        assert_eq!(status, 200, "{body}");
    }
    let away_started = Instant::now();
    redis.restart();
    // Sharing comes back by itself.
    let mut n = 0;
    loop {
        n += 1;
        if same_everywhere(&format!("after-{n}")) {
            break;
        }
        assert!(
            away_started.elapsed() < Duration::from_secs(30),
            "sharing did not come back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "shared again {} ms after the restart",
        away_started.elapsed().as_millis()
    );
    // The limit is shared again too.
    let mut ok = 0;
    for i in 0..100 {
        match sts(&client, &fs[i % 4], "limited-after").0 {
            200 => ok += 1,
            429 => {}
            other => panic!("status {other}"),
        }
    }
    assert!((60..=62).contains(&ok), "{ok}");
    let out = fs[0].output();
    assert!(
        out.matches("shared state store unavailable").count() <= 2,
        "logged at most once a minute:\n{out}"
    );
    no_panic(&fs);
}

#[test]
fn a_retried_multipart_complete_answers_the_same_result() {
    use oss_emulator::{Credentials, Emulator, EmulatorConfig};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let account = Credentials::new("LTAI-shared-state", "emulator-secret-shared-state", None);
    let emulator = rt
        .block_on(Emulator::start(EmulatorConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            data_dir: None,
            buckets: vec!["shared-bucket".into()],
            account: account.clone(),
            account_id: "1234567890123456".into(),
            allowed_origins: vec![],
            max_object_bytes: 1 << 24,
        }))
        .unwrap();
    let redis = RedisServer::start(&[]);
    let mut base: Vec<(String, String)> = [
        ("OSS_BUCKET", "shared-bucket".to_owned()),
        ("OSS_REGION", "cn-hangzhou".to_owned()),
        ("OSS_ROLE_ARN", emulator.role_arn()),
        ("AUTH_MODE", "anonymous".to_owned()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", account.access_key_id.clone()),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            account.access_key_secret.clone(),
        ),
        ("STS_ENDPOINT", emulator.sts_endpoint()),
        ("OSS_ENDPOINT", emulator.oss_endpoint()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let plain = Function::start(&base);
    base.push(("STATE_REDIS_URL".into(), redis.url()));
    base.push(("STATE_KEY".into(), STATE_KEY.into()));
    let fs = instances(2, &base);
    let client = client();
    let post = |f: &Function, path: &str, body: Value| -> (u16, Value) {
        let r = client
            .post(format!("{}{path}", f.url()))
            .header("x-forwarded-for", "198.51.100.20")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("answer");
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or(Value::Null),
        )
    };
    let data = vec![b'x'; 1000];
    let (status, created) = post(
        &fs[0],
        "/v1/multipart",
        serde_json::json!({"filename": "a.bin", "contentType": "application/octet-stream", "size": data.len()}),
    );
    assert_eq!(status, 200, "{created}");
    let (key, upload_id) = (created["key"].clone(), created["uploadId"].clone());
    let (status, signed) = post(
        &fs[1],
        "/v1/multipart/sign",
        serde_json::json!({"key": key, "uploadId": upload_id, "size": data.len(), "partNumbers": [1]}),
    );
    assert_eq!(status, 200, "{signed}");
    let put = client
        .put(signed["parts"][0]["url"].as_str().unwrap())
        .body(data)
        .send()
        .expect("upload the part");
    assert_eq!(put.status().as_u16(), 200);
    let etag = put.headers()["etag"].to_str().unwrap().to_owned();
    let complete = serde_json::json!({"key": key, "uploadId": upload_id, "parts": [{"partNumber": 1, "etag": etag}]});
    let (status, first) = post(&fs[0], "/v1/multipart/complete", complete.clone());
    assert_eq!(status, 200, "{first}");
    // The client lost the answer and retries, on another instance: the
    // shared state answers, before the object would (issue 19's HeadObject).
    let (status, again) = post(&fs[1], "/v1/multipart/complete", complete.clone());
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first, "the same result");
    let out = fs[1].output_when(|o| o.contains("answering the retry from"));
    assert!(
        out.contains("answering the retry from the shared state"),
        "{out}"
    );
    assert!(
        !out.contains("answering the retry from the object"),
        "{out}"
    );
    // Without the shared state only the object can answer.
    let (status, other) = post(&plain, "/v1/multipart/complete", complete.clone());
    let out = plain.output_when(|o| o.contains("answering the retry"));
    assert!(!out.contains("from the shared state"), "{out}");
    println!("without shared state the retry gets {status}: {other}");
    // Nothing readable in the store: the key's user-visible parts are sealed.
    let k = key.as_str().unwrap().as_bytes().to_vec();
    for (name, value) in redis.everything() {
        assert!(
            !value.windows(k.len()).any(|w| w == k.as_slice()),
            "the key in plain text"
        );
        assert!(!name.windows(k.len()).any(|w| w == k.as_slice()));
    }
    no_panic(&fs);
    rt.block_on(emulator.shutdown());
}

#[test]
fn a_slow_or_missing_store_does_not_slow_requests() {
    let peer = StsPeer::start(&[]);
    // Missing at start: the function starts and serves at once.
    let closed = free_port();
    let mut e = env(&peer, None, STATE_KEY);
    e.push((
        "STATE_REDIS_URL".into(),
        format!("redis://127.0.0.1:{closed}"),
    ));
    e.push(("STATE_KEY".into(), STATE_KEY.into()));
    let started = Instant::now();
    let lonely = Function::start(&e);
    let client = client();
    let (status, body) = sts(&client, &lonely, "early-user");
    assert_eq!(status, 200, "{body}");
    println!(
        "start + first request without a store: {:?}",
        started.elapsed()
    );

    // Slow after being fine: every call would time out, but after the first
    // the circuit skips the store.
    let redis = RedisServer::start(&["--enable-debug-command", "yes"]);
    let mut e = env(&peer, Some(&redis), STATE_KEY);
    e.retain(|(k, _)| k != "STATE_TIMEOUT_MS");
    e.push(("STATE_TIMEOUT_MS".into(), "200".into()));
    let fs = instances(1, &e);
    let (status, _) = sts(&client, &fs[0], "steady-user");
    assert_eq!(status, 200);
    let url = redis.url();
    let sleeper = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: redis::RedisResult<()> = redis::cmd("DEBUG").arg("SLEEP").arg(3).query(&mut c);
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let one = Instant::now();
        let (status, body) = sts(&client, &fs[0], "steady-user");
        assert_eq!(status, 200, "{body}");
        slowest = slowest.max(one.elapsed());
    }
    let total = t.elapsed();
    println!("20 requests with a stalled store: {total:?} (slowest {slowest:?})");
    // STATE_TIMEOUT_MS is 200: without the circuit that is 4 s.
    assert!(total < Duration::from_millis(1500), "{total:?}");
    assert!(slowest < Duration::from_millis(1000), "{slowest:?}");
    sleeper.join().unwrap();
    no_panic(&fs);
    no_panic(&[lonely]);
}
