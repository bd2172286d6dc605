//! `oss-direct-upload local` (feature `local`): the function and the `oss-emulator`
//! crate on loopback, with FC's OSS trigger played by [`trigger`].
//!
//! - [`cli`]: the `local` command (flags, banner, wiring).
//! - [`trigger`]: the emulator's upload events, delivered to the function's
//!   `/invoke` as FC's OSS trigger would.
//! - [`token`]: development JWTs (`local`'s dev secret, `oss-direct-upload token`).

pub mod cli;
pub mod token;
pub mod trigger;
