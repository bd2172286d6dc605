//! Load generator for `scripts/bench.sh scale` (`scripts/bench-scale.sh`):
//! many distinct users against several running instances, over loopback.
//! Users are named by a header (`x-user-id`, the instances run
//! `AUTH_MODE=fc-jwt`), so the generator spends no time minting tokens.
//! Only prints figures.
//!
//! ```text
//! scale_bench sts     USERS FANOUT CONCURRENCY URL[,URL...]
//! scale_bench presign REQUESTS USERS CONCURRENCY URL
//! ```
//! `sts`: user `u` asks `/v1/sts` of instance `(u + k) % n` for `k` in
//! `0..FANOUT`, one after the other (a user whose requests reach FANOUT
//! instances); CONCURRENCY users at a time. `presign`: REQUESTS presigns by
//! USERS users taking turns, CONCURRENCY at a time.

use futures_util::stream::{self, StreamExt};
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("argument {i}: {what}"))
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// One request: (latency, 2xx?).
async fn one(req: reqwest::RequestBuilder) -> (Duration, bool) {
    let t = Instant::now();
    let ok = match req.send().await {
        Ok(r) => {
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    };
    (t.elapsed(), ok)
}

fn report(what: &str, mut lat: Vec<Duration>, failed: usize, elapsed: Duration) {
    lat.sort();
    println!(
        "{what} requests={} non2xx={failed} seconds={:.2} rps={:.0} p50_ms={:.2} p99_ms={:.2}",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        quantile(&lat, 0.50),
        quantile(&lat, 0.99),
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    match args.first().map(String::as_str) {
        Some("sts") => {
            let users: usize = arg(&args, 1, "users");
            let fanout: usize = arg(&args, 2, "fanout");
            let conc: usize = arg(&args, 3, "concurrency");
            let urls: Vec<String> = args
                .get(4)
                .expect("URL list")
                .split(',')
                .map(str::to_owned)
                .collect();
            let t = Instant::now();
            let results: Vec<Vec<(Duration, bool)>> = stream::iter(0..users)
                .map(|u| {
                    let (client, urls) = (&client, &urls);
                    async move {
                        let mut out = Vec::with_capacity(fanout);
                        for k in 0..fanout {
                            let url = format!("{}/v1/sts", urls[(u + k) % urls.len()]);
                            let req = client
                                .post(url)
                                .header("x-user-id", format!("user-{u}"))
                                .header("content-type", "application/json")
                                .body("{}");
                            out.push(one(req).await);
                        }
                        out
                    }
                })
                .buffer_unordered(conc)
                .collect()
                .await;
            let elapsed = t.elapsed();
            let all: Vec<(Duration, bool)> = results.into_iter().flatten().collect();
            let failed = all.iter().filter(|(_, ok)| !ok).count();
            report(
                "sts",
                all.into_iter().map(|(d, _)| d).collect(),
                failed,
                elapsed,
            );
        }
        Some("presign") => {
            let requests: usize = arg(&args, 1, "requests");
            let users: usize = arg(&args, 2, "users");
            let conc: usize = arg(&args, 3, "concurrency");
            let url: String = arg(&args, 4, "url");
            let target =
                format!("{url}/v1/presign?filename=photo.png&contentType=image/png&size=48213");
            // Warm: every user's credentials cached first.
            for u in 0..users {
                let req = client.get(&target).header("x-user-id", format!("user-{u}"));
                let _ = one(req).await;
            }
            let t = Instant::now();
            let all: Vec<(Duration, bool)> = stream::iter(0..requests)
                .map(|i| {
                    let req = client
                        .get(&target)
                        .header("x-user-id", format!("user-{}", i % users));
                    one(req)
                })
                .buffer_unordered(conc)
                .collect()
                .await;
            let elapsed = t.elapsed();
            let failed = all.iter().filter(|(_, ok)| !ok).count();
            report(
                "presign",
                all.into_iter().map(|(d, _)| d).collect(),
                failed,
                elapsed,
            );
        }
        _ => {
            eprintln!("usage: scale_bench sts USERS FANOUT CONCURRENCY URLS | presign REQUESTS USERS CONCURRENCY URL");
            std::process::exit(2);
        }
    }
}
