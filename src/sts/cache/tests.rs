//! Behaviour tests of the credential cache: single-flight, serve-while-valid,
//! back-off, bounded size.

use super::*;
use alibaba_sign::Credentials;
use chrono::TimeZone;
use std::sync::atomic::AtomicUsize;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

fn role(id: &str, expires: DateTime<Utc>) -> AssumedRole {
    AssumedRole {
        credentials: Credentials::new(id, "s", Some("t".into())),
        expiration: expires,
        expiration_text: expires.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        request_id: None,
    }
}

#[test]
fn refresh_margin_is_at_least_six_minutes() {
    assert_eq!(refresh_margin(900), Duration::from_secs(450));
    assert_eq!(refresh_margin(600), Duration::from_secs(360));
    assert_eq!(refresh_margin(3600), Duration::from_secs(1800));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_gets_one_fetch() {
    let cache = Arc::new(CredentialCache::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get("scope", t0(), || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(role("STS.a", t0() + chrono::Duration::hours(1)))
                })
                .await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.credentials.access_key_id, "STS.a");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refreshes_within_margin() {
    let cache = CredentialCache::default();
    let exp = t0() + chrono::Duration::seconds(900);
    let a = cache
        .get("k", t0(), || async { Ok(role("STS.1", exp)) })
        .await
        .unwrap();
    assert_eq!(a.credentials.access_key_id, "STS.1");
    // 599 s later: 301 s left, still outside the 300 s margin → cached.
    let b = cache
        .get("k", t0() + chrono::Duration::seconds(599), || async {
            Ok(role("STS.2", exp))
        })
        .await
        .unwrap();
    assert_eq!(b.credentials.access_key_id, "STS.1");
    // 600 s later: exactly 300 s left → refreshed.
    let c = cache
        .get("k", t0() + chrono::Duration::seconds(600), || async {
            Ok(role("STS.3", exp + chrono::Duration::seconds(900)))
        })
        .await
        .unwrap();
    assert_eq!(c.credentials.access_key_id, "STS.3");
}

#[tokio::test]
async fn configurable_margin() {
    let cache = CredentialCache::new(CacheConfig {
        max_entries: 4,
        refresh_margin: Duration::from_secs(60),
        refresh_jitter: Duration::ZERO,
    });
    let exp = t0() + chrono::Duration::seconds(900);
    cache
        .get("k", t0(), || async { Ok(role("STS.1", exp)) })
        .await
        .unwrap();
    let b = cache
        .get("k", t0() + chrono::Duration::seconds(800), || async {
            Ok(role("STS.2", exp))
        })
        .await
        .unwrap();
    assert_eq!(b.credentials.access_key_id, "STS.1");
}

#[tokio::test]
async fn bounded_and_keeps_scopes_in_use() {
    let cache = CredentialCache::new(CacheConfig {
        max_entries: 100,
        refresh_margin: Duration::from_secs(300),
        refresh_jitter: Duration::ZERO,
    });
    let exp = t0() + chrono::Duration::hours(1);
    let calls = AtomicUsize::new(0);
    let fetch = |id: String| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok(role(&id, exp)) }
    };
    // A scope used again and again survives a sweep of one-off scopes.
    for i in 0..2000 {
        cache
            .get("hot", t0(), || fetch("HOT".into()))
            .await
            .unwrap();
        let k = format!("cold-{i}");
        cache.get(&k, t0(), || fetch(k.clone())).await.unwrap();
    }
    assert!(cache.len() <= 110, "bounded: {}", cache.len());
    assert_eq!(calls.load(Ordering::SeqCst), 2001, "hot fetched once");
    // An evicted scope is fetched again.
    let gone = (0..2000)
        .map(|i| format!("cold-{i}"))
        .find(|k| !cache.index.contains_key(k.as_str()))
        .expect("some scope was evicted");
    let v = cache
        .get(&gone, t0(), || fetch("again".into()))
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "again");
}

#[tokio::test]
async fn errors_not_cached() {
    let cache = CredentialCache::default();
    let e = cache
        .get("k", t0(), || async { Err(StsError::Timeout) })
        .await
        .unwrap_err();
    assert_eq!(e, StsError::Timeout);
    // After the back-off window the next request fetches again.
    let ok = cache
        .get("k", t0() + secs(1), || async {
            Ok(role("STS.ok", t0() + chrono::Duration::hours(1)))
        })
        .await
        .unwrap();
    assert_eq!(ok.credentials.access_key_id, "STS.ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_waiters_share_error() {
    let cache = Arc::new(CredentialCache::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get("k", t0(), || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Err(StsError::Timeout)
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), StsError::Timeout);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

fn throttled() -> StsError {
    StsError::Throttled {
        upstream_code: Some("Throttling.User".into()),
        retry_after_secs: 1,
        request_id: None,
    }
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// Default cache (300 s margin, 120 s floor) holding `STS.1`, which
/// expires at t0 + 900 s.
async fn primed() -> CredentialCache {
    let cache = CredentialCache::default();
    assert_eq!(cache.min_remaining(), Duration::from_secs(120));
    cache
        .get("k", t0(), || async { Ok(role("STS.1", t0() + secs(900))) })
        .await
        .unwrap();
    cache
}

#[tokio::test]
async fn failed_refresh_inside_margin_serves_cached() {
    let cache = primed().await;
    let calls = AtomicUsize::new(0);
    // 200 s left: inside the margin, above the floor.
    let now = t0() + secs(700);
    let v = cache
        .get("k", now, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(throttled()) }
        })
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.1");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a refresh was attempted");
    // The failure is shared only for the back-off window (1 s)...
    let v = cache
        .get("k", now, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(role("STS.x", t0() + secs(1600))) }
        })
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.1");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "backing off");
    // ...then the next request refreshes again.
    let now = now + secs(1);
    let v = cache
        .get("k", now, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(role("STS.2", t0() + secs(1600))) }
        })
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn failed_refresh_floor_boundary() {
    let cache = primed().await;
    // Exactly the 120 s floor left: still served.
    let v = cache
        .get("k", t0() + secs(780), || async { Err(StsError::Timeout) })
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.1");
    // 119 s left: below the floor, the error goes out.
    let e = cache
        .get("k", t0() + secs(781), || async { Err(StsError::Timeout) })
        .await
        .unwrap_err();
    assert_eq!(e, StsError::Timeout);
}

#[tokio::test]
async fn failed_refresh_of_expired_is_error_even_with_zero_floor() {
    let cache = CredentialCache::default().with_min_remaining(Duration::ZERO);
    cache
        .get("k", t0(), || async { Ok(role("STS.1", t0() + secs(900))) })
        .await
        .unwrap();
    let v = cache
        .get("k", t0() + secs(899), || async { Err(StsError::Timeout) })
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.1");
    for at in [900, 901, 5000] {
        let e = cache
            .get("k", t0() + secs(at), || async { Err(throttled()) })
            .await
            .unwrap_err();
        assert_eq!(e, throttled(), "at +{at}s");
    }
}

#[tokio::test]
async fn floor_above_margin_disables_stale_serving() {
    let cache = CredentialCache::default().with_min_remaining(Duration::from_secs(301));
    cache
        .get("k", t0(), || async { Ok(role("STS.1", t0() + secs(900))) })
        .await
        .unwrap();
    let e = cache
        .get("k", t0() + secs(600), || async { Err(StsError::Timeout) })
        .await
        .unwrap_err();
    assert_eq!(e, StsError::Timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_failed_refresh_get_cached_value() {
    let cache = Arc::new(primed().await);
    let calls = Arc::new(AtomicUsize::new(0));
    let now = t0() + secs(700);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get("k", now, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Err(throttled())
                })
                .await
        }));
    }
    for t in tasks {
        let v = t.await.unwrap().expect("cached value, not the error");
        assert_eq!(v.credentials.access_key_id, "STS.1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_below_floor_share_error() {
    let cache = Arc::new(primed().await);
    let calls = Arc::new(AtomicUsize::new(0));
    let now = t0() + secs(800); // 100 s left
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get("k", now, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Err(StsError::Timeout)
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), StsError::Timeout);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refresh_in_flight_does_not_block_others_with_valid_value() {
    let cache = Arc::new(primed().await);
    let now = t0() + secs(700);
    let release = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(tokio::sync::Notify::new());
    let refresher = {
        let (cache, release, started) = (cache.clone(), release.clone(), started.clone());
        tokio::spawn(async move {
            cache
                .get("k", now, || async move {
                    started.notify_one();
                    release.notified().await;
                    Ok(role("STS.2", t0() + secs(1600)))
                })
                .await
        })
    };
    started.notified().await;
    // Refresh is stuck upstream; another request is answered at once
    // from the cache and does not call STS itself.
    let v = tokio::time::timeout(
        Duration::from_secs(5),
        cache.get("k", now, || async {
            panic!("second fetch while one is in flight")
        }),
    )
    .await
    .expect("not blocked by the in-flight refresh")
    .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.1");
    release.notify_one();
    let v = refresher.await.unwrap().unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.2");
    let v = cache
        .get("k", now, || async { panic!("fresh value is cached") })
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.2");
}

#[tokio::test]
async fn cancelled_refresh_lets_the_next_request_refresh() {
    let cache = primed().await;
    let now = t0() + secs(700);
    let r = tokio::time::timeout(
        Duration::from_millis(50),
        cache.get("k", now, std::future::pending),
    )
    .await;
    assert!(r.is_err(), "fetch never finishes");
    let v = cache
        .get("k", now, || async { Ok(role("STS.2", t0() + secs(1600))) })
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.2");
}

/// Cache as the app builds it: 6-minute floor.
fn promised() -> CredentialCache {
    CredentialCache::default().with_min_remaining(Duration::from_secs(360))
}

#[tokio::test]
async fn short_lived_or_expired_answers_are_refused_not_cached() {
    for (left, expired) in [(359, false), (1, false), (0, true), (-600, true)] {
        let cache = promised();
        let e = cache
            .get("k", t0(), || async move {
                Ok(role("STS.short", t0() + secs(left)))
            })
            .await
            .unwrap_err();
        match &e {
            StsError::ShortLived {
                remaining_secs,
                required_secs,
                ..
            } => assert_eq!((*remaining_secs, *required_secs), (left, 360)),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.http_status(), 502);
        let msg = e.to_string();
        assert!(msg.contains("clock skew"), "{msg}");
        if !expired {
            assert!(msg.contains("session duration"), "{msg}");
        }
        // Not stored: once STS answers properly, the good credentials go out.
        let v = cache
            .get("k", t0() + secs(1), || async {
                Ok(role("STS.good", t0() + secs(900)))
            })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.good");
    }
    // Exactly the floor is enough.
    let v = promised()
        .get("k", t0(), || async { Ok(role("STS.ok", t0() + secs(360))) })
        .await
        .unwrap();
    assert_eq!(v.credentials.access_key_id, "STS.ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_answers_do_not_start_a_herd() {
    let cache = Arc::new(promised());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get("k", t0(), || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(role("STS.short", t0() + secs(30)))
                })
                .await
        }));
    }
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert_eq!(e.code(), "StsCredentialsTooShortLived");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn failures_back_off_for_the_window_then_retry() {
    let cache = CredentialCache::default().with_failure_backoff(Duration::from_secs(2));
    let calls = AtomicUsize::new(0);
    let fail = || {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err(throttled()) }
    };
    for at in [0, 0, 1] {
        let e = cache.get("k", t0() + secs(at), fail).await.unwrap_err();
        assert_eq!(e, throttled());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "inside the window");
    cache.get("k", t0() + secs(2), fail).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "after the window");
    // Another scope is not held back by this one's failure.
    cache
        .get("other", t0() + secs(2), || async {
            Ok(role("O", t0() + secs(900)))
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_fetch_every_request_answered_within_the_wait_limit() {
    let limit = Duration::from_millis(400);
    let cache = Arc::new(CredentialCache::default().with_wait_limit(limit));
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let cache = cache.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            // Arrivals spread over the first half of the limit.
            tokio::time::sleep(Duration::from_millis(i * 4)).await;
            let t = Instant::now();
            let r = cache
                .get("k", t0(), || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    std::future::pending().await
                })
                .await;
            (r, t.elapsed())
        }));
    }
    for t in tasks {
        let (r, took) = t.await.unwrap();
        assert_eq!(r.unwrap_err(), StsError::Timeout);
        // Generous: a loaded machine may be late, but never a second limit late.
        assert!(took < limit * 2, "{took:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() < limit * 3);
}

#[tokio::test]
async fn waiter_behind_a_cancelled_fetch_stays_within_its_limit() {
    let limit = Duration::from_millis(300);
    let cache = Arc::new(CredentialCache::default().with_wait_limit(limit));
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get("k", t0(), std::future::pending).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get("k", t0(), std::future::pending).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    leader.abort();
    let r = waiter.await.unwrap();
    assert_eq!(r.unwrap_err(), StsError::Timeout);
    assert!(t.elapsed() < limit * 2, "{:?}", t.elapsed());
}

#[tokio::test]
async fn distinct_keys_fetch_separately() {
    let cache = CredentialCache::default();
    let exp = t0() + chrono::Duration::hours(1);
    let a = cache
        .get("a", t0(), || async { Ok(role("A", exp)) })
        .await
        .unwrap();
    let b = cache
        .get("b", t0(), || async { Ok(role("B", exp)) })
        .await
        .unwrap();
    assert_ne!(a.credentials.access_key_id, b.credentials.access_key_id);
}

/// A cache as the app builds it for 900 s credentials: margin 450 s, jitter 90 s.
fn jittered(uniform: impl Fn() -> f64 + Send + Sync + 'static) -> CredentialCache {
    CredentialCache::new(CacheConfig {
        max_entries: 10_000,
        refresh_margin: refresh_margin(900),
        refresh_jitter: refresh_jitter(900),
    })
    .with_min_remaining(Duration::from_secs(360))
    .with_jitter_source(uniform)
}

#[tokio::test]
async fn refresh_points_of_scopes_filled_together_are_spread() {
    // 1,000 scopes filled in the same second (a cold start): with the
    // jitter their refresh points spread over the 90 s window instead of
    // all falling in one second; a seeded generator makes it repeatable.
    use rand::{Rng, SeedableRng};
    let rng = std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(16));
    let cache = jittered(move || rng.lock().unwrap().gen::<f64>());
    let exp = t0() + chrono::Duration::seconds(900);
    let mut points = Vec::new();
    for i in 0..1000 {
        let key = format!("user-{i}");
        cache
            .get(&key, t0(), || async { Ok(role("STS.x", exp)) })
            .await
            .unwrap();
        points.push(cache.refresh_at(&key).unwrap());
    }
    let latest = exp - chrono::Duration::seconds(450);
    let earliest = latest - chrono::Duration::seconds(90);
    assert!(points.iter().all(|p| *p > earliest && *p <= latest));
    // Per second of the window: never more than 3× the even share (1000/90 ≈ 11).
    let mut per_second = std::collections::BTreeMap::new();
    for p in &points {
        *per_second.entry((latest - *p).num_seconds()).or_insert(0) += 1;
    }
    assert!(
        per_second.len() >= 85,
        "{} distinct seconds",
        per_second.len()
    );
    let busiest = per_second.values().max().copied().unwrap_or(0);
    assert!(busiest <= 33, "{busiest} refreshes in one second");

    // Without the jitter they all fall on the same instant: the test can fail.
    let flat = jittered(|| 0.0);
    for i in 0..10 {
        let key = format!("user-{i}");
        flat.get(&key, t0(), || async { Ok(role("STS.x", exp)) })
            .await
            .unwrap();
        assert_eq!(flat.refresh_at(&key), Some(latest));
    }
}

#[tokio::test]
async fn a_jittered_credential_is_refreshed_at_its_own_point() {
    // u = 0.5: 45 s earlier than the margin alone, so refreshed from
    // 900 - 450 - 45 = 405 s after it was fetched, and served until then.
    let cache = jittered(|| 0.5);
    let exp = t0() + chrono::Duration::seconds(900);
    let calls = AtomicUsize::new(0);
    let fetch = |id: &'static str| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok(role(id, exp)) }
    };
    cache.get("k", t0(), || fetch("STS.1")).await.unwrap();
    let before = t0() + chrono::Duration::seconds(404);
    let r = cache.get("k", before, || fetch("STS.2")).await.unwrap();
    assert_eq!(r.credentials.access_key_id, "STS.1");
    let at = t0() + chrono::Duration::seconds(405);
    let fresh_exp = at + chrono::Duration::seconds(900);
    let r = cache
        .get("k", at, || async { Ok(role("STS.3", fresh_exp)) })
        .await
        .unwrap();
    assert_eq!(r.credentials.access_key_id, "STS.3");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn jitter_never_takes_more_than_half_the_fresh_time() {
    // Credentials living 500 s with a 450 s margin are fresh for 50 s; a
    // 90 s jitter may take at most 25 of them, whatever the generator says.
    let cache = jittered(|| 1.0);
    let exp = t0() + chrono::Duration::seconds(500);
    cache
        .get("k", t0(), || async { Ok(role("STS.1", exp)) })
        .await
        .unwrap();
    assert_eq!(
        cache.refresh_at("k"),
        Some(t0() + chrono::Duration::seconds(25))
    );
    let nan = jittered(|| f64::NAN);
    nan.get("k", t0(), || async { Ok(role("STS.1", exp)) })
        .await
        .unwrap();
    assert_eq!(
        nan.refresh_at("k"),
        Some(t0() + chrono::Duration::seconds(50))
    );
}
