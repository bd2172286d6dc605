//! The binary's commands as a user types them: `check` in every build, and
//! `local` / `token` only in local builds. The suite runs this file twice:
//! with `--features oss-direct-upload/local` against the debug build, and
//! without features against the deployed static build (`dist/`), where
//! `local` and `token` must be unknown commands.

/// The binary under test: `OSS_DIRECT_UPLOAD_BIN` (the deployed build in the
/// suite's second pass), else the one cargo built (as `tests/common/harness.rs`).
fn binary() -> std::path::PathBuf {
    std::env::var_os("OSS_DIRECT_UPLOAD_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_oss-direct-upload").into())
}

use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the binary")
}

const GOOD: &[(&str, &str)] = &[
    ("OSS_BUCKET", "my-upload-bucket"),
    ("OSS_REGION", "cn-hangzhou"),
    (
        "OSS_ROLE_ARN",
        "acs:ram::1234567890123456:role/oss-direct-upload-writer",
    ),
    ("AUTH_MODE", "jwt"),
    (
        "JWT_SECRET",
        "a-secret-that-must-never-be-printed-0123456789",
    ),
    ("WEBHOOK_URL", "https://app.example.com/hooks/uploads"),
    ("WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
];

#[test]
fn check_prints_the_effective_configuration_with_secrets_masked() {
    let out = run(&["check"], GOOD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("the configuration is valid"), "{stdout}");
    assert!(
        stdout.contains("OSS_BUCKET             my-upload-bucket"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MAX_UPLOAD_BYTES       104857600   (default)"),
        "{stdout}"
    );
    for (name, value) in GOOD {
        if name.contains("SECRET") {
            assert!(!stdout.contains(value), "{name} printed:\n{stdout}");
            assert!(
                stdout.contains(&format!("{name:<22} ******** (set, {} bytes)", value.len())),
                "{name} not shown as masked:\n{stdout}"
            );
        }
    }
}

#[test]
fn check_refuses_with_status_2_naming_what_to_set() {
    let out = run(
        &["check"],
        &[
            ("AUTH_MODE", "anonymous"),
            ("JWT_SECRET", "x".repeat(40).as_str()),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for what in [
        "OSS_BUCKET: not set",
        "OSS_REGION",
        "OSS_ROLE_ARN",
        "JWT_SECRET: is set but AUTH_MODE is \"anonymous\"",
        "set AUTH_MODE=jwt to use it, or unset JWT_SECRET",
    ] {
        assert!(stderr.contains(what), "{what:?} missing from:\n{stderr}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout when it fails");
}

#[test]
fn check_validates_the_profile_file() {
    let dir = std::env::temp_dir().join(format!("odu-cli-profiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("profiles.toml");
    std::fs::write(
        &file,
        "[[profile]]\nname = \"avatar\"\nprefix = \"avatars/\"\ncontent_types = [\"image/png\"]\nmax_bytes = 1000\noverwrite = \"replace\"\nfixed_name = \"avatar\"\nmethods = [\"presign\"]\n",
    )
    .unwrap();
    let path = file.display().to_string();
    // Under jwt the file is fine and its profile is listed.
    let mut env = GOOD.to_vec();
    env.push(("PROFILES_FILE", &path));
    let out = run(&["check"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("avatar     prefix avatars/"), "{stdout}");
    // Anonymous: a replacing profile needs users; the message says what to set.
    let env = [
        ("OSS_BUCKET", "my-upload-bucket"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ROLE_ARN", "acs:ram::1234567890123456:role/w"),
        ("AUTH_MODE", "anonymous"),
        ("PROFILES_FILE", path.as_str()),
    ];
    let out = run(&["check"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("set AUTH_MODE=jwt or fc-jwt"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn local_and_token_exist_only_in_local_builds() {
    let env = [(
        "JWT_SECRET",
        "a-secret-that-must-never-be-printed-0123456789",
    )];
    let token = run(&["token", "--sub", "alice"], &env);
    let help = run(&["local", "--help"], &[]);
    if cfg!(feature = "local") {
        assert!(
            token.status.success(),
            "{}",
            String::from_utf8_lossy(&token.stderr)
        );
        let t = String::from_utf8_lossy(&token.stdout);
        assert_eq!(t.trim().split('.').count(), 3, "{t}");
        assert!(help.status.success());
    } else {
        // The deployed binary: no emulator, no token minting.
        for (what, out) in [("token", &token), ("local", &help)] {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
            assert!(
                stderr.contains(&format!("unknown command \"{what}\"")),
                "{what}: {stderr}"
            );
            assert!(out.stdout.is_empty(), "{what} printed something");
        }
    }
}
