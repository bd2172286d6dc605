//! The embedded OSS + STS emulator.
