//! Credential-cache bench (`scripts/bench.sh cache`): does a full cache of
//! 100,000 scopes serve as fast as an empty one?
//!
//! Runs the real request path in process (`App::handle`: fc-jwt user, rate
//! limit off, scope, cached or fresh per-user STS credentials, `/v1/sts`, the
//! route that still caches one scope per user; the signing routes share one
//! per profile) with
//! `WORKERS` concurrent tasks against a stub STS on loopback that answers
//! every AssumeRole at once with distinct credentials, and measures:
//! - new users/s: every request a user never seen (an STS call each; with a
//!   full cache, an eviction each). The app is built without the STS call
//!   budget (`STS_MAX_CALLS_PER_SECOND`), which would otherwise be what this
//!   measures;
//! - cached users/s: requests cycling over 1000 users already cached.
//!
//! Each is measured on a fresh, empty cache and on one filled to
//! `CREDENTIAL_CACHE_SIZE` (default 100000). Only prints figures.
//!
//! `cargo run --release --example cache_bench` (env: `BENCH_SECONDS`,
//! `BENCH_ROUNDS`, `BENCH_WORKERS`, `CACHE_SIZE`).

use alibaba_sign::Credentials;
use bytes::Bytes;
use oss_direct_upload::api::App;
use oss_direct_upload::config::Config;
use oss_direct_upload::oss::client::{OssClient, OssClientConfig};
use oss_direct_upload::oss::endpoint::Endpoint;
use oss_direct_upload::runtime::{self, Context, Options, Request, Response, Shutdown};
use oss_direct_upload::sts::cache::{CacheConfig, CredentialCache};
use oss_direct_upload::sts::client::AssumedRole;
use oss_direct_upload::sts::client::{StsClient, StsClientConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The allocator the deployed binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

static STS_CALLS: AtomicU64 = AtomicU64::new(0);

/// AssumeRole answered at once: distinct credentials valid for an hour.
async fn stub_sts(_req: Request, _ctx: Context) -> Response {
    let n = STS_CALLS.fetch_add(1, Ordering::Relaxed);
    let exp = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let body = format!(
        r#"{{"RequestId":"bench-{n}","Credentials":{{"AccessKeyId":"STS.bench{n}","AccessKeySecret":"secret{n}","SecurityToken":"token{n}","Expiration":"{exp}"}}}}"#
    );
    let mut r = http::Response::new(Bytes::from(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn app(sts_url: &str, cache_size: u64) -> Arc<App> {
    let vars: Vec<(&str, String)> = vec![
        ("OSS_BUCKET", "bench-bucket".into()),
        ("OSS_REGION", "cn-hangzhou".into()),
        (
            "OSS_ROLE_ARN",
            "acs:ram::1234567890123456:role/oss-upload".into(),
        ),
        ("OSS_ENDPOINT", "http://127.0.0.1:9".into()),
        ("STS_ENDPOINT", sts_url.into()),
        ("AUTH_MODE", "fc-jwt".into()),
        ("TRIGGER_USER_HEADER", "x-user-id".into()),
        ("RATE_LIMIT_PER_MINUTE", "0".into()),
        ("CREDENTIAL_CACHE_SIZE", cache_size.to_string()),
    ];
    let get = move |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    let config = Config::from_vars(&get).unwrap_or_else(|e| panic!("config: {e}"));
    // Not `wiring::wire`: its STS client holds the call budget, and this
    // bench measures the cache behind it.
    let sts = StsClient::new(StsClientConfig::new(sts_url)).unwrap_or_else(|e| panic!("{e}"));
    let endpoint = Endpoint::parse(&config.oss_endpoint).unwrap_or_else(|e| panic!("{e}"));
    let oss = OssClient::new(endpoint, &config.region, OssClientConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(App::new(config, Arc::new(sts), Arc::new(oss)).unwrap_or_else(|e| panic!("app: {e}")))
}

fn ctx() -> Context {
    Context {
        request_id: "bench".into(),
        credentials: Some(Credentials::new(
            "STS.fn",
            "fn-secret",
            Some("fn-token".into()),
        )),
        ..Context::default()
    }
}

fn request(user: u64) -> Request {
    http::Request::builder()
        .uri("/v1/sts")
        .header("x-user-id", format!("user-{user}"))
        .body(Bytes::new())
        .unwrap_or_else(|e| panic!("request: {e}"))
}

/// Requests per second over `millis` ms with `workers` tasks; `user(worker, i)`
/// picks the user of each request. Every answer must be 200.
async fn rate(
    app: &Arc<App>,
    workers: u64,
    millis: u64,
    user: impl Fn(u64, u64) -> u64 + Send + Sync + Copy + 'static,
) -> f64 {
    let deadline = Instant::now() + Duration::from_millis(millis);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (app, done) = (app.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < deadline {
                    let resp = app.handle(request(user(w, i)), ctx()).await;
                    assert_eq!(resp.status(), 200, "{:?}", resp.body());
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Makes `n` users' credentials cached (as fast as the workers go).
async fn fill(app: &Arc<App>, workers: u64, first: u64, n: u64) {
    let next = Arc::new(AtomicU64::new(first));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (app, next) = (app.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let u = next.fetch_add(1, Ordering::Relaxed);
                    if u >= first + n {
                        break;
                    }
                    let resp = app.handle(request(u), ctx()).await;
                    assert_eq!(resp.status(), 200);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Users for "new" phases: never seen before (far above the fill range).
fn fresh(base: u64) -> impl Fn(u64, u64) -> u64 + Send + Sync + Copy + 'static {
    move |w, i| base + w * 1_000_000_000 + i
}

/// The cache alone (no HTTP, no STS: the fetch answers at once), one task:
/// operations per second for `ops` lookups of new scopes (insert, and evict
/// when full) and of cached ones, on an empty cache and on a full one.
async fn cache_alone(size: u64, ops: u64) -> [(f64, f64); 2] {
    let now = chrono::Utc::now();
    let role = |n: u64| AssumedRole {
        credentials: Credentials::new(format!("STS.{n}"), "s", Some("t".into())),
        expiration: now + chrono::Duration::hours(1),
        expiration_text: String::new(),
        request_id: None,
    };
    let cache = |fill: u64| async move {
        let c = CredentialCache::new(CacheConfig {
            max_entries: size as usize,
            refresh_margin: Duration::from_secs(450),
            refresh_jitter: Duration::from_secs(90),
        });
        for n in 0..fill {
            let _ = c
                .get(&format!("upload\nuploads/u{n}/"), now, || async move {
                    Ok(role(n))
                })
                .await;
        }
        c
    };
    let per_sec = |t: Instant| ops as f64 / t.elapsed().as_secs_f64();
    let mut out = [(0.0, 0.0); 2];
    for (i, filled) in [1000, size].into_iter().enumerate() {
        let c = cache(filled).await;
        let t = Instant::now();
        for n in 0..ops {
            let k = format!("upload\nuploads/u{}/", filled - 1000 + n % 1000);
            let _ = c.get(&k, now, || async move { Ok(role(n)) }).await;
        }
        let hits = per_sec(t);
        let t = Instant::now();
        for n in 0..ops {
            let k = format!("upload\nuploads/new{n}/");
            let _ = c.get(&k, now, || async move { Ok(role(n)) }).await;
        }
        out[i] = (hits, per_sec(t));
    }
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let millis = env_or("BENCH_MILLIS", 1000);
    let workers = env_or("BENCH_WORKERS", 32);
    let size = env_or("CACHE_SIZE", 100_000);
    let hot = 1000;

    let listener = runtime::bind("127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let sts_url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let shutdown = Shutdown::new();
    tokio::spawn(runtime::serve(
        listener,
        runtime::service_fn(stub_sts),
        Options {
            access_log: false,
            ..Options::default()
        },
        shutdown.clone(),
    ));

    // The machine is shared and noisy, so empty and full runs alternate in
    // short rounds, and the full/empty figure is the median of each round's
    // ratio (runs seconds apart see the same load).
    let rounds = env_or("BENCH_ROUNDS", 9);
    let full = app(&sts_url, size);
    let t = Instant::now();
    fill(&full, workers, 0, size).await;
    let fill_secs = t.elapsed().as_secs_f64();
    let warm = app(&sts_url, size);
    fill(&warm, workers, 0, hot).await;
    // The `hot` users are the last ones filled, so the cache keeps them.
    let hot_full = move |w: u64, i: u64| size - hot + (w * 31 + i) % hot;
    let hot_empty = move |w: u64, i: u64| (w * 31 + i) % hot;
    let (mut cached_empty, mut cached_full, mut new_empty, mut new_full) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Cached users first, so no new-user run has pushed the hot set out.
    let calls_before = STS_CALLS.load(Ordering::Relaxed);
    for _ in 0..rounds {
        cached_empty.push(rate(&warm, workers, millis, hot_empty).await);
        cached_full.push(rate(&full, workers, millis, hot_full).await);
    }
    let cached_misses = STS_CALLS.load(Ordering::Relaxed) - calls_before;
    for r in 0..rounds {
        // New users on an empty cache: a fresh app each round, its STS
        // connections opened first (one user per task) so both sides start warm.
        let empty = app(&sts_url, size);
        fill(&empty, workers, 5_000_000_000 + r * workers, workers).await;
        new_empty.push(rate(&empty, workers, millis, fresh(10_000_000 + r * 100_000_000)).await);
        new_full.push(rate(&full, workers, millis, fresh(20_000_000 + r * 100_000_000)).await);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let ratios = |full: &[f64], empty: &[f64]| {
        median(full.iter().zip(empty).map(|(f, e)| 100.0 * f / e).collect())
    };
    let cached_ratio = ratios(&cached_full, &cached_empty);
    let new_ratio = ratios(&new_full, &new_empty);
    let (cached_empty, cached_full, new_empty, new_full) = (
        median(cached_empty),
        median(cached_full),
        median(new_empty),
        median(new_full),
    );
    let [(hit_e, new_e), (hit_f, new_f)] = cache_alone(size, 20_000).await;
    let pct = |full: f64, empty: f64| 100.0 * full / empty;
    println!(
        "credential cache bench ({} cores, {workers} tasks, {rounds} alternating rounds of {millis} ms, medians; full/empty is the median of the rounds' ratios, in-process App::handle /v1/sts, fc-jwt users, stub STS on loopback)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "  cache filled to {size} scopes in {fill_secs:.1} s ({} AssumeRole calls in all)",
        STS_CALLS.load(Ordering::Relaxed)
    );
    println!(
        "  {:<40} empty {:>8.0}/s   full {:>8.0}/s   full/empty {:>5.1}%",
        "new users (STS call + insert/evict)", new_empty, new_full, new_ratio
    );
    println!(
        "  {:<40} empty {:>8.0}/s   full {:>8.0}/s   full/empty {:>5.1}%",
        format!("cached users ({hot} hot, {cached_misses} misses)"),
        cached_empty,
        cached_full,
        cached_ratio
    );
    println!(
        "  {:<40} empty {:>8.0}/s   full {:>8.0}/s   full/empty {:>5.1}%",
        "cache alone, cached scope (1 task)",
        hit_e,
        hit_f,
        pct(hit_f, hit_e)
    );
    println!(
        "  {:<40} empty {:>8.0}/s   full {:>8.0}/s   full/empty {:>5.1}%",
        "cache alone, new scope (1 task)",
        new_e,
        new_f,
        pct(new_f, new_e)
    );
}
