//! README.md as tests read it: one section's text, for the tests that hold a
//! README table equal to the code (`env_vars.rs`, `error_codes.rs`).
//! Include with `#[path = "common/readme.rs"] mod readme;`.

use std::path::Path;

/// The text after the heading line `heading` (e.g. `"## Configuration"`) up to
/// the next heading that starts with `next` (e.g. `"## "` or `"#"`).
pub fn section(heading: &str, next: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md is readable");
    let after = readme
        .split(&format!("\n{heading}"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has a {heading:?} section"));
    after
        .split(&format!("\n{next}"))
        .next()
        .unwrap_or_default()
        .to_owned()
}
