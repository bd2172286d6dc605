//! The check's type rules on real files of every default allowed type, made
//! by well-known libraries (tests/peers/make_samples.py: Pillow, pillow-heif,
//! PyAV/FFmpeg, fpdf2, zipfile), not hand-typed magic bytes: each passes as
//! its own type and fails as every other binary type.

#[path = "common/peers.rs"]
mod peers;

use oss_direct_upload::check::rules::{check_type, SNIFF_BYTES};
use oss_direct_upload::config::DEFAULT_CONTENT_TYPES;

#[test]
fn every_default_type_sniffs_as_itself_and_not_as_the_others() {
    let dir = std::env::temp_dir().join(format!("sniff-samples-{}", std::process::id()));
    let out = std::process::Command::new(peers::python())
        .arg(peers::repo_root().join("tests/peers/make_samples.py"))
        .arg(&dir)
        .output()
        .expect("run make_samples.py");
    assert!(
        out.status.success(),
        "make_samples.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&out.stdout).expect("make_samples.py prints JSON");
    for t in DEFAULT_CONTENT_TYPES {
        assert!(made.contains_key(*t), "no sample of {t}");
    }
    for (declared_real, path) in &made {
        let bytes = std::fs::read(path).unwrap();
        let head = &bytes[..bytes.len().min(SNIFF_BYTES as usize)];
        let whole = head.len() == bytes.len();
        assert_eq!(
            check_type(declared_real, head, whole),
            Ok(()),
            "{declared_real} ({path})"
        );
        for other in DEFAULT_CONTENT_TYPES {
            if *other == declared_real || *other == "application/octet-stream" {
                continue;
            }
            // Random bytes may happen to be valid text only by astronomical luck.
            assert!(
                check_type(other, head, whole).is_err(),
                "{path} declared as {other} passed"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
