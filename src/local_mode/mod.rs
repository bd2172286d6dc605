//! `oss-direct-upload local` (feature `local`): the function and the `oss-emulator`
//! crate on loopback, with FC's OSS trigger played by [`trigger`].
//!
//! - [`cli`]: the `local` command (its run and wiring; flags in `options.rs`,
//!   the default auth mode in `auth.rs`, the banner in `banner.rs`).
//! - [`trigger`]: the emulator's upload events, delivered to the function's
//!   `/invoke` as FC's OSS trigger would.
//! - [`token`]: development JWTs (`local`'s dev secret, `oss-direct-upload token`).

mod auth;
mod banner;
pub mod cli;
mod options;
pub mod token;
pub mod trigger;
