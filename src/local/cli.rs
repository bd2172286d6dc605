//! `oss-direct-upload local` (interim).

use std::process::ExitCode;

/// Runs local mode.
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("local mode is not built yet");
    ExitCode::FAILURE
}
