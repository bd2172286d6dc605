//! oss-direct-upload: hand browsers and mobile apps short-lived, least-privilege
//! permission to upload straight to Alibaba Cloud OSS, from a Function Compute
//! custom runtime.
//!
//! Data flows one way: request → [`auth`] → scope/policy → signer ([`oss`], [`sts`]) → response ([`api`]).
//! Each concern lives in one module:
//! - [`runtime`]: the FC custom-runtime contract (HTTP server, `Context`, lifecycle hooks, logs).
//! - [`config`]: environment variables, validated at start.
//! - [`auth`]: who the caller is.
//! - [`sts`]: AssumeRole (signing, client, credential cache, session policy).
//! - [`oss`]: endpoints, the multipart plan, and the function's own OSS calls.
//! - [`profiles`]: the kinds of upload a deployment serves, each with its own rules.
//! - [`api`]: routes and JSON shapes.
//! - [`state`]: optional shared state across instances on Redis/Tair (`STATE_REDIS_URL`).
//! - [`check`]: the upload check, after an upload lands (rules, verdict, webhook).
//! - [`wiring`]: the one composition function that builds all of the above from `Config`.
//! - [`preflight`]: `oss-direct-upload check`, the configuration validated without serving.
//! - [`deploy_facts`]: what a deployment file must agree with (routes, deadlines, profile
//!   prefixes), printed by `oss-direct-upload deploy-facts` for tests/deploy.
//! - [`doctor`]: `oss-direct-upload doctor <url>`, a client that checks a live deployment end to end.
//! - [`local_mode`] (feature `local`): `oss-direct-upload local`, the function wired to the
//!   `oss-emulator` crate with FC's OSS trigger played on loopback.
//!
//! Signing is its own crate, `alibaba_sign`; the emulator is `oss_emulator`.

pub mod api;
pub mod auth;
pub mod check;
pub mod config;
pub mod deploy_facts;
pub mod doctor;
pub mod http_client;
pub mod log;
pub mod oss;
pub mod preflight;
pub mod profiles;
pub mod runtime;
pub mod state;
pub mod sts;
pub mod wiring;

#[cfg(feature = "local")]
pub mod local_mode;
