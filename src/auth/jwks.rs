//! `JWT_JWKS_URL`: the identity provider's signing keys, fetched from its JWKS
//! URL and cached, so a key rotation needs no redeploy.
//!
//! The rules, all bounded:
//!
//! - **At start** the set is fetched in the background: the function listens
//!   at once (a slow or unreachable provider never delays a cold start, nor
//!   routes that take no token). A token that arrives while that first fetch
//!   is under way waits for it (at most [`FETCH_TIMEOUT`]), so it is answered
//!   as if start had blocked. Until a first set has arrived, tokens get 503
//!   `JwksUnavailable` with `Retry-After`, and a new attempt is made at most
//!   every [`RETRY_WITHOUT_SET`].
//! - **Cached** for the answer's `Cache-Control: max-age` (less its `Age`),
//!   bounded to [`MIN_FRESH`]..=[`MAX_FRESH`]; no `max-age` (or `no-cache`,
//!   `no-store`) means [`MIN_FRESH`]. The first request after that refetches
//!   (waiting at most [`FETCH_TIMEOUT`]); requests meanwhile use the set in hand.
//! - **Unknown `kid`**: one refetch, at most one per [`REFETCH_COOLDOWN`] since
//!   the last attempt, however many tokens ask; tokens arriving during that
//!   fetch wait for it, the others are refused as `unknown key id`.
//! - **The last good set is kept** when a refetch fails (unreachable, an
//!   error status, a timeout, too large, not a JWKS, no usable key); the
//!   next attempt comes no sooner than [`REFETCH_COOLDOWN`] later.
//! - **Each fetch**: one `GET`, no redirects, the whole answer within
//!   [`FETCH_TIMEOUT`], at most [`MAX_JWKS_BYTES`], status 200. Keys of types
//!   we do not verify with are skipped, and so is a malformed key, without
//!   failing the rest of the set (`keys::fetched_jwks`).
//!
//! Logged: the URL without its query, the key ids, the freshness, and why a
//! fetch failed. Never a token.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::keys::{fetched_jwks, KeyEntry};
use super::AuthError;

/// The bound on one fetch: connecting, the answer and its whole body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest JWKS document accepted. Real ones are 1–5 KB.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The shortest time a fetched set is used before it is refetched.
pub const MIN_FRESH: Duration = Duration::from_secs(5 * 60);
/// The longest time a fetched set is used before it is refetched.
pub const MAX_FRESH: Duration = Duration::from_secs(24 * 60 * 60);
/// The least time between a fetch attempt and a refetch for an unknown
/// `kid` (or, after a failed refresh, the next try).
pub const REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
/// The least time between attempts while no set has ever arrived.
pub const RETRY_WITHOUT_SET: Duration = Duration::from_secs(5);

/// A monotonic clock, injectable for tests.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The bounds of a [`RemoteJwks`]. Production uses [`Default`] (the
/// constants above); tests shorten or inject them through
/// [`super::jwt::JwtVerifier::with_remote_options`], never through the
/// environment.
#[doc(hidden)]
#[derive(Clone)]
pub struct RemoteOptions {
    /// Where "now" comes from.
    pub clock: Clock,
    /// [`REFETCH_COOLDOWN`].
    pub cooldown: Duration,
    /// [`RETRY_WITHOUT_SET`].
    pub retry_without_set: Duration,
    /// [`FETCH_TIMEOUT`].
    pub timeout: Duration,
    /// [`MAX_JWKS_BYTES`].
    pub max_bytes: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            clock: Arc::new(Instant::now),
            cooldown: REFETCH_COOLDOWN,
            retry_without_set: RETRY_WITHOUT_SET,
            timeout: FETCH_TIMEOUT,
            max_bytes: MAX_JWKS_BYTES,
        }
    }
}

/// A URL as logged and shown: scheme, host, port and path, no query.
fn shown(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// One fetched key set and until when it is used as is.
pub(crate) struct Snapshot {
    /// The usable keys.
    pub(crate) keys: Vec<KeyEntry>,
    fresh_until: Instant,
}

impl Snapshot {
    /// Whether a token naming `kid` finds its key here (a set of one key
    /// without `kid` serves any, as [`super::jwt`] chooses keys).
    fn serves(&self, kid: &str) -> bool {
        match self.keys.as_slice() {
            [only] if only.kid.is_none() => true,
            keys => keys.iter().any(|k| k.kid.as_deref() == Some(kid)),
        }
    }
}

/// What the single fetcher remembers; held only under its lock.
struct Book {
    last_attempt: Option<Instant>,
}

/// A JWKS fetched from a URL and cached by the rules in the module doc.
/// Shared by every request; `Send + Sync`.
pub(crate) struct RemoteJwks {
    url: url::Url,
    shown: String,
    client: reqwest::Client,
    opts: RemoteOptions,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// One fetch at a time; whoever holds it may fetch.
    book: tokio::sync::Mutex<Book>,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<String> = self
            .snapshot()
            .map(|s| {
                s.keys
                    .iter()
                    .map(|k| format!("{:?}/{}", k.alg, k.kid.as_deref().unwrap_or("-")))
                    .collect()
            })
            .unwrap_or_default();
        f.debug_struct("RemoteJwks")
            .field("url", &self.shown)
            .field("keys", &kids)
            .finish()
    }
}

/// What one successful fetch brought.
struct Fetched {
    keys: Vec<KeyEntry>,
    skipped: Vec<String>,
    fresh_for: Duration,
}

impl RemoteJwks {
    /// A fetcher for `url` (already checked by [`crate::config::jwks_url`]); nothing is
    /// fetched until [`RemoteJwks::start`] or the first token.
    pub(crate) fn new(url: url::Url, opts: RemoteOptions) -> Result<RemoteJwks, String> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(opts.timeout)
            .timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("JWT_JWKS_URL: cannot build the HTTP client ({e})"))?;
        Ok(RemoteJwks {
            shown: shown(&url),
            url,
            client,
            opts,
            current: RwLock::new(None),
            book: tokio::sync::Mutex::new(Book { last_attempt: None }),
        })
    }

    /// Starts the first fetch in the background, when called inside a Tokio
    /// runtime (as `serve` and `local` build the app); otherwise the first
    /// token fetches.
    pub(crate) fn start(self: &Arc<Self>) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let me = Arc::clone(self);
            rt.spawn(async move {
                let mut book = me.book.lock().await;
                if book.last_attempt.is_none() {
                    me.fetch_locked(&mut book).await;
                }
            });
        }
    }

    /// The set in hand, if any, without fetching.
    pub(crate) fn snapshot(&self) -> Option<Arc<Snapshot>> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The error for "no set yet": 503 with a `Retry-After` of at least 1 s.
    pub(crate) fn unavailable(wait: Duration) -> AuthError {
        AuthError::KeysUnavailable {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// The set to verify a token naming `kid` with, fetching first when the
    /// rules say so (the first set, a stale set's refresh, one refetch for
    /// an unknown `kid`). Waits at most about one [`FETCH_TIMEOUT`] (plus a
    /// fetch already under way).
    pub(crate) async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<Snapshot>, AuthError> {
        let Some(snap) = self.snapshot() else {
            return self.first_set().await;
        };
        let snap = if (self.opts.clock)() >= snap.fresh_until {
            self.refresh_stale(snap).await
        } else {
            snap
        };
        match kid {
            Some(kid) if !snap.serves(kid) => Ok(self.refetch_for(kid, snap).await),
            _ => Ok(snap),
        }
    }

    async fn first_set(&self) -> Result<Arc<Snapshot>, AuthError> {
        let mut book = self.book.lock().await;
        // The fetch we waited behind may have brought it.
        if let Some(s) = self.snapshot() {
            return Ok(s);
        }
        if let Some(t) = book.last_attempt {
            let since = (self.opts.clock)().saturating_duration_since(t);
            if since < self.opts.retry_without_set {
                return Err(Self::unavailable(self.opts.retry_without_set - since));
            }
        }
        self.fetch_locked(&mut book).await;
        self.snapshot()
            .ok_or_else(|| Self::unavailable(self.opts.retry_without_set))
    }

    async fn refresh_stale(&self, stale: Arc<Snapshot>) -> Arc<Snapshot> {
        // Someone is fetching: keep serving with the set in hand.
        let Ok(mut book) = self.book.try_lock() else {
            return stale;
        };
        let now = (self.opts.clock)();
        if let Some(s) = self.snapshot().filter(|s| now < s.fresh_until) {
            return s;
        }
        if book
            .last_attempt
            .is_some_and(|t| now.saturating_duration_since(t) < self.opts.cooldown)
        {
            return stale;
        }
        self.fetch_locked(&mut book).await;
        self.snapshot().unwrap_or(stale)
    }

    async fn refetch_for(&self, kid: &str, snap: Arc<Snapshot>) -> Arc<Snapshot> {
        // Wait behind a fetch under way: it may bring this kid.
        let mut book = self.book.lock().await;
        let current = self.snapshot().unwrap_or(snap);
        if current.serves(kid) {
            return current;
        }
        let now = (self.opts.clock)();
        if book
            .last_attempt
            .is_some_and(|t| now.saturating_duration_since(t) < self.opts.cooldown)
        {
            return current;
        }
        self.fetch_locked(&mut book).await;
        self.snapshot().unwrap_or(current)
    }

    /// Fetches once, holding the fetch lock; on success the new set replaces
    /// the old, on failure the old one stays. Logs either way.
    async fn fetch_locked(&self, book: &mut Book) {
        book.last_attempt = Some((self.opts.clock)());
        match self.fetch().await {
            Ok(f) => {
                let kids: Vec<serde_json::Value> = f
                    .keys
                    .iter()
                    .map(|k| k.kid.clone().map_or(serde_json::Value::Null, Into::into))
                    .collect();
                let snap = Arc::new(Snapshot {
                    keys: f.keys,
                    fresh_until: (self.opts.clock)() + f.fresh_for,
                });
                match self.current.write() {
                    Ok(mut g) => *g = Some(snap),
                    Err(poisoned) => *poisoned.into_inner() = Some(snap),
                }
                crate::log::info(
                    None,
                    "jwks fetched",
                    &[
                        ("url", self.shown.clone().into()),
                        ("kids", kids.into()),
                        ("freshForSeconds", f.fresh_for.as_secs().into()),
                        ("skipped", f.skipped.into()),
                    ],
                );
            }
            Err(why) => {
                let kept = self.snapshot().map_or(0, |s| s.keys.len());
                let outcome = if kept > 0 {
                    "keeping the last set fetched"
                } else {
                    "no key set yet: tokens are answered 503 JwksUnavailable"
                };
                crate::log::warn(
                    None,
                    "jwks fetch failed",
                    &[
                        ("url", self.shown.clone().into()),
                        ("reason", why.into()),
                        ("keptKeys", kept.into()),
                        ("outcome", outcome.into()),
                    ],
                );
            }
        }
    }

    async fn fetch(&self) -> Result<Fetched, String> {
        let max = self.opts.max_bytes;
        let get = async {
            let mut resp = self
                .client
                .get(self.url.clone())
                .header(
                    http::header::ACCEPT,
                    "application/jwk-set+json, application/json",
                )
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = resp.status();
            if status.is_redirection() {
                return Err(format!(
                    "answered HTTP {status}, a redirect, which is not followed; set JWT_JWKS_URL to the final URL"
                ));
            }
            if status != http::StatusCode::OK {
                return Err(format!("answered HTTP {status}"));
            }
            if resp.content_length().is_some_and(|n| n > max as u64) {
                return Err(format!("the answer is over {max} bytes"));
            }
            let fresh_for = freshness(resp.headers());
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
                if body.len() + chunk.len() > max {
                    return Err(format!("the answer is over {max} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            let text =
                std::str::from_utf8(&body).map_err(|_| "the answer is not UTF-8".to_owned())?;
            let (keys, skipped) = fetched_jwks(text)?;
            Ok(Fetched {
                keys,
                skipped,
                fresh_for,
            })
        };
        match tokio::time::timeout(self.opts.timeout, get).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no complete answer within {} ms",
                self.opts.timeout.as_millis()
            )),
        }
    }
}

/// A reqwest error without its URL (the caller logs the shown URL once).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// How long an answer with these headers is used: `Cache-Control: max-age`
/// less `Age`, within [`MIN_FRESH`]..=[`MAX_FRESH`].
pub(crate) fn freshness(headers: &http::HeaderMap) -> Duration {
    let mut max_age: Option<u64> = None;
    let mut never = false;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("max-age") {
                if let Some(secs) = arg.and_then(|a| a.parse::<u64>().ok()) {
                    max_age = Some(max_age.map_or(secs, |m| m.min(secs)));
                }
            } else if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store")
            {
                never = true;
            }
        }
    }
    let age = headers
        .get(http::header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let secs = if never {
        0
    } else {
        max_age.map_or(0, |m| m.saturating_sub(age))
    };
    Duration::from_secs(secs).clamp(MIN_FRESH, MAX_FRESH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn freshness_follows_max_age_within_bounds() {
        let secs = |pairs: &[(&str, &str)]| freshness(&headers(pairs)).as_secs();
        assert_eq!(secs(&[]), 300);
        assert_eq!(secs(&[("cache-control", "public, max-age=3600")]), 3600);
        assert_eq!(
            secs(&[("cache-control", "max-age=3600"), ("age", "600")]),
            3000
        );
        assert_eq!(secs(&[("cache-control", "max-age=10")]), 300);
        assert_eq!(secs(&[("cache-control", "max-age=9999999")]), 86_400);
        assert_eq!(secs(&[("cache-control", "no-cache, max-age=3600")]), 300);
        assert_eq!(secs(&[("cache-control", "no-store")]), 300);
        assert_eq!(secs(&[("cache-control", "max-age=\"900\"")]), 900);
        assert_eq!(secs(&[("cache-control", "max-age=soon")]), 300);
        assert_eq!(
            secs(&[
                ("cache-control", "max-age=7200"),
                ("cache-control", "max-age=900")
            ]),
            900
        );
    }

    #[test]
    fn shown_drops_the_query() {
        let u = url::Url::parse("https://x.example/jwks?sig=abc#f").unwrap();
        assert_eq!(shown(&u), "https://x.example/jwks");
    }
}
