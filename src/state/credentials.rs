//! The shared `/v1/sts` credential cache: one instance calls AssumeRole for
//! a scope and stores the credentials sealed; the others read them.
//!
//! It sits behind each instance's own credential cache (`sts/cache`, the
//! L1): only that cache's single fetch per scope comes here. A fetch reads
//! the store first; on a miss it takes a short lock (`SET NX PX`), calls
//! STS, stores the sealed credentials with a TTL of their expiry minus the
//! refresh margin (so anything found in the store is fresh for the L1), and
//! drops the lock. An instance that finds the lock taken polls the store
//! for the winner's value, and calls STS itself only if none comes in time.
//! A value that does not open (another `STATE_KEY`, or damage) is a miss
//! and is left in place; the store away is a plain STS call.

use super::seal::OpenError;
use super::store::StoreError;
use super::SharedState;
use crate::sts::client::{AssumedRole, StsError};
use alibaba_sign::Credentials;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a waiting instance looks for the winner's value.
const POLL: Duration = Duration::from_millis(15);

/// What is sealed: the credentials and their expiry.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    ak: String,
    secret: String,
    token: Option<String>,
    /// Unix seconds.
    expiration: i64,
    expiration_text: String,
}

impl Stored {
    fn of(r: &AssumedRole) -> Stored {
        Stored {
            ak: r.credentials.access_key_id.clone(),
            secret: r.credentials.access_key_secret.clone(),
            token: r.credentials.security_token.clone(),
            expiration: r.expiration.timestamp(),
            expiration_text: r.expiration_text.clone(),
        }
    }

    fn into_role(self) -> Option<AssumedRole> {
        Some(AssumedRole {
            credentials: Credentials::new(self.ak, self.secret, self.token),
            expiration: DateTime::from_timestamp(self.expiration, 0)?,
            expiration_text: self.expiration_text,
            request_id: None,
        })
    }
}

/// Where credentials came from.
enum Shared {
    /// The store: another instance fetched them.
    Read(AssumedRole),
    /// STS, called here.
    Fetched(AssumedRole),
}

/// What a look in the store found.
enum Found {
    Fresh(AssumedRole),
    /// Nothing usable; `writable` is false when a value sealed under another
    /// key is there (leave it to the instances that can read it).
    Nothing {
        writable: bool,
    },
    /// The store gave no answer.
    Away,
}

impl SharedState {
    /// Credentials for the scope `scope` (any string naming it exactly: the
    /// store key is its hash), from the store (`true`) or from `fetch`
    /// (`false`), which is called at most once.
    pub async fn credentials<F, Fut>(
        &self,
        scope: &str,
        now: DateTime<Utc>,
        fetch: F,
    ) -> (Result<AssumedRole, StsError>, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AssumedRole, StsError>>,
    {
        match self.shared_or_fetch(scope, now, fetch).await {
            Ok(Shared::Read(r)) => (Ok(r), true),
            Ok(Shared::Fetched(r)) => (Ok(r), false),
            Err(e) => (Err(e), false),
        }
    }

    async fn shared_or_fetch<F, Fut>(
        &self,
        scope: &str,
        now: DateTime<Utc>,
        fetch: F,
    ) -> Result<Shared, StsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AssumedRole, StsError>>,
    {
        let key = self.key("sts", scope);
        let writable = match self.look(&key, now).await {
            Found::Fresh(r) => return Ok(Shared::Read(r)),
            Found::Away => return fetch().await.map(Shared::Fetched),
            Found::Nothing { writable } => writable,
        };
        let lock_name = format!("{key}:lock");
        let lock = lock_name.as_str();
        let lock_ms = self.lock_time.as_millis() as u64;
        let nonce = crate::profiles::keys::random_id();
        let taken: Result<Option<String>, StoreError> = self
            .store
            .run(|mut c| {
                let cmd = redis::cmd("SET")
                    .arg(lock)
                    .arg(&nonce)
                    .arg("NX")
                    .arg("PX")
                    .arg(lock_ms)
                    .to_owned();
                async move { cmd.query_async(&mut c).await }
            })
            .await;
        match taken {
            Ok(Some(_)) => {
                // Another instance may have stored and unlocked since the
                // first look: look again before calling STS.
                let result = match self.look(&key, now).await {
                    Found::Fresh(r) => Ok(Shared::Read(r)),
                    _ => fetch().await.map(Shared::Fetched),
                };
                if let (Ok(Shared::Fetched(role)), true) = (&result, writable) {
                    self.put(&key, role, Utc::now()).await;
                }
                let _ = self
                    .store
                    .run(|mut c| async move {
                        redis::cmd("DEL").arg(lock).query_async::<i64>(&mut c).await
                    })
                    .await;
                result
            }
            // Another instance is fetching: wait a little for its value.
            Ok(None) => {
                let deadline = Instant::now() + self.lock_time / 2;
                while Instant::now() < deadline {
                    tokio::time::sleep(POLL).await;
                    // The lock first: a winner writes its value before it
                    // drops the lock, so a look after "not held" sees it.
                    let held: Result<bool, StoreError> = self
                        .store
                        .run(|mut c| async move {
                            redis::cmd("EXISTS").arg(lock).query_async(&mut c).await
                        })
                        .await;
                    match self.look(&key, now).await {
                        Found::Fresh(r) => return Ok(Shared::Read(r)),
                        Found::Away => break,
                        Found::Nothing { .. } => {}
                    }
                    if held != Ok(true) {
                        // The winner gave up (its STS call failed) or the store went away.
                        break;
                    }
                }
                fetch().await.map(Shared::Fetched)
            }
            Err(_) => fetch().await.map(Shared::Fetched),
        }
    }

    /// Reads and opens the value at `key`.
    async fn look(&self, key: &str, now: DateTime<Utc>) -> Found {
        let got: Result<Option<Vec<u8>>, StoreError> = self
            .store
            .run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await;
        let sealed = match got {
            Ok(Some(v)) => v,
            Ok(None) => return Found::Nothing { writable: true },
            Err(_) => return Found::Away,
        };
        match self.sealer.open(key.as_bytes(), &sealed) {
            Ok(plain) => match serde_json::from_slice::<Stored>(&plain) {
                Ok(s) => match s.into_role() {
                    Some(r) if r.expiration - now > to_chrono(self.refresh_margin) => {
                        Found::Fresh(r)
                    }
                    _ => Found::Nothing { writable: true },
                },
                Err(_) => Found::Nothing { writable: true },
            },
            Err(e) => {
                self.log_unopened(e);
                Found::Nothing {
                    writable: e != OpenError::OtherKey,
                }
            }
        }
    }

    /// Stores `role` sealed, until it enters the refresh margin.
    async fn put(&self, key: &str, role: &AssumedRole, now: DateTime<Utc>) {
        let ttl = (role.expiration - now - to_chrono(self.refresh_margin)).num_milliseconds();
        if ttl < 1000 {
            return;
        }
        let Ok(plain) = serde_json::to_vec(&Stored::of(role)) else {
            return;
        };
        let sealed = self.sealer.seal(key.as_bytes(), &plain);
        let _ = self
            .store
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(sealed)
                    .arg("PX")
                    .arg(ttl)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
