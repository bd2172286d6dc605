//! The shared state of one emulator instance: configuration, store, keys, upload hook.

use std::net::IpAddr;

use super::cors::CorsRules;
use super::hook::UploadEvent;
use super::keyring::KeyRing;
use super::store::{self, Store};
use super::{EmulatorConfig, ServeOptions};

/// Shared state of one emulator instance.
pub(crate) struct State {
    pub cfg: EmulatorConfig,
    pub opts: ServeOptions,
    pub store: Store,
    pub keys: KeyRing,
    /// Each bucket's CORS rules.
    pub cors: CorsRules,
}

impl State {
    /// Builds the state, loading persisted objects if `data_dir` is set.
    pub fn new(cfg: EmulatorConfig, opts: ServeOptions) -> std::io::Result<State> {
        let store = Store::open(cfg.data_dir.clone(), &cfg.buckets)?;
        let keys = KeyRing::new(cfg.account.clone(), cfg.account_id.clone());
        let cors = CorsRules::new(&cfg, &opts);
        Ok(State {
            cfg,
            opts,
            store,
            keys,
            cors,
        })
    }

    /// Tells the upload hook, if any, that `meta` was just stored.
    pub fn uploaded(&self, meta: &store::ObjectMeta, event_name: &'static str, peer: IpAddr) {
        if let Some(hook) = &self.opts.upload_hook {
            hook(UploadEvent {
                bucket: meta.bucket.clone(),
                key: meta.key.clone(),
                size: meta.size,
                etag: meta.etag.clone(),
                event_name,
                source_ip: peer,
            });
        }
    }
}
