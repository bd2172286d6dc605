//! The embedded OSS + STS emulator.

pub mod cli;
