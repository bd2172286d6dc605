//! The connection to the store and its circuit: every call bounded by
//! `STATE_TIMEOUT_MS`, skipped at once while the store is known to be away,
//! and a background task that connects, notices recovery and closes the
//! circuit again.
//!
//! Requests never wait for a connection: until the first connection is up
//! (at start, in the background) and for a few seconds after any failure
//! ([`RETRY`]), calls are skipped ([`StoreError::Skipped`]) and the caller
//! uses per-instance state. The background task probes with `PING` and
//! turns the store back on when it answers within the timeout. One
//! multiplexed, self-reconnecting connection per instance (redis-rs
//! `ConnectionManager`) serves every request.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long the store is skipped after a failure before the background
/// task probes it again.
pub const RETRY: Duration = Duration::from_secs(3);

/// The most one background connection attempt or probe may take (requests
/// never wait for it).
const CONNECT_LIMIT: Duration = Duration::from_secs(2);

/// At most one "store away" line per this many milliseconds.
const LOG_EVERY_MS: i64 = 60_000;

/// Why a store call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Not tried: not connected yet, or the circuit is open after a failure.
    Skipped,
    /// Tried, and it failed or took longer than the timeout: the circuit
    /// is now open.
    Failed,
    /// The store answered with an error (e.g. a command it does not allow).
    /// The store itself is fine; the detail is the server's message.
    Refused(String),
}

/// One store, shared by every request of the instance.
pub struct Store {
    client: redis::Client,
    conn: OnceLock<ConnectionManager>,
    timeout: Duration,
    healthy: AtomicBool,
    wake: tokio::sync::Notify,
    started: AtomicBool,
    away_log: LogGate,
}

/// Lets one line through at most once a minute.
#[derive(Debug)]
pub struct LogGate(AtomicI64);

impl Default for LogGate {
    fn default() -> Self {
        LogGate(AtomicI64::new(i64::MIN / 2))
    }
}

impl LogGate {
    /// Whether a line may be logged now (at most one a minute).
    pub fn open(&self) -> bool {
        let now = now_ms();
        let last = self.0.load(Ordering::Acquire);
        now - last >= LOG_EVERY_MS
            && self
                .0
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, which may hold a password.
        f.debug_struct("Store")
            .field("timeout", &self.timeout)
            .field("healthy", &self.healthy.load(Ordering::Relaxed))
            .finish()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// A store at `url` (not connected yet: see [`Store::start`]), each call
    /// bounded by `timeout`. Fails only on a URL the client cannot use; the
    /// message never holds the URL.
    pub fn new(url: &str, timeout: Duration) -> Result<Store, String> {
        let client = redis::Client::open(url).map_err(|e| {
            format!(
                "STATE_REDIS_URL: the Redis client cannot use it ({})",
                e.category()
            )
        })?;
        Ok(Store {
            client,
            conn: OnceLock::new(),
            timeout,
            healthy: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            started: AtomicBool::new(false),
            away_log: LogGate::default(),
        })
    }

    /// Starts the background task that connects and watches the store, once,
    /// if a Tokio runtime is running (the calls are skipped until it connects).
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.started.store(false, Ordering::Release);
            return;
        };
        let store = self.clone();
        rt.spawn(async move { watch(store).await });
    }

    /// Whether calls currently go to the store.
    pub fn is_up(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Runs `call` on the connection within the timeout; see [`StoreError`].
    pub async fn run<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if !self.is_up() {
            return Err(StoreError::Skipped);
        }
        let Some(conn) = self.conn.get().cloned() else {
            return Err(StoreError::Skipped);
        };
        match tokio::time::timeout(self.timeout, call(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => match refusal(&e) {
                Some(detail) => Err(StoreError::Refused(detail)),
                None => {
                    self.trip(e.category());
                    Err(StoreError::Failed)
                }
            },
            Err(_) => {
                self.trip("timed out");
                Err(StoreError::Failed)
            }
        }
    }

    /// Opens the circuit after a failed call and wakes the watcher.
    fn trip(&self, reason: &str) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            self.log_away(reason);
            self.wake.notify_one();
        }
    }

    /// Logs that the store is away, at most once a minute.
    fn log_away(&self, reason: &str) {
        if self.away_log.open() {
            crate::log::warn(
                None,
                "shared state store unavailable: serving with per-instance limits and caches until it is back (logged at most once a minute)",
                &[
                    ("reason", reason.to_owned().into()),
                    ("retryInSeconds", RETRY.as_secs().into()),
                ],
            );
        }
    }

    fn config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.timeout))
            .set_connection_timeout(Some(CONNECT_LIMIT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500))
    }

    /// One background step: connect if needed, then PING within the timeout.
    async fn probe(&self) -> Result<(), String> {
        if self.conn.get().is_none() {
            let connect = ConnectionManager::new_with_config(self.client.clone(), self.config());
            match tokio::time::timeout(CONNECT_LIMIT, connect).await {
                Ok(Ok(c)) => {
                    let _ = self.conn.set(c);
                }
                Ok(Err(e)) => return Err(e.category().to_owned()),
                Err(_) => return Err("connecting timed out".to_owned()),
            }
        }
        let Some(conn) = self.conn.get().cloned() else {
            return Err("not connected".to_owned());
        };
        // A first PING may wait for a reconnection; the second must answer
        // within the request timeout, or requests would only time out.
        for limit in [CONNECT_LIMIT, self.timeout] {
            let mut c = conn.clone();
            let cmd = redis::cmd("PING");
            let ping = cmd.query_async::<String>(&mut c);
            match tokio::time::timeout(limit, ping).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.category().to_owned()),
                Err(_) => return Err("timed out".to_owned()),
            }
        }
        Ok(())
    }
}

/// The watcher: connects, closes the circuit when the store answers, waits
/// for a failure, leaves the store alone for [`RETRY`], probes again, for
/// as long as the runtime runs.
async fn watch(s: Arc<Store>) {
    let mut was_up = false;
    loop {
        match s.probe().await {
            Ok(()) => {
                s.healthy.store(true, Ordering::Release);
                if !was_up {
                    crate::log::info(None, "shared state store connected", &[]);
                }
                was_up = true;
                // Sleep until a call fails.
                s.wake.notified().await;
                tokio::time::sleep(RETRY).await;
            }
            Err(reason) => {
                s.healthy.store(false, Ordering::Release);
                s.log_away(&reason);
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// The server's message when `e` is an answer refusing the command (the
/// store is fine), `None` when the store failed or is unreachable.
fn refusal(e: &RedisError) -> Option<String> {
    match e.kind() {
        ErrorKind::Server(
            ServerErrorKind::ResponseError | ServerErrorKind::NoScript | ServerErrorKind::NoPerm,
        )
        | ErrorKind::Extension
        | ErrorKind::UnexpectedReturnType => Some(format!(
            "{} {}",
            e.code().unwrap_or(""),
            e.detail().unwrap_or("")
        )),
        _ => None,
    }
}
