//! Build script: a faster `memcpy` for the static musl build (see src/native/memcpy.c).
//!
//! The C routine is compiled for every x86_64 target so tests can check it;
//! only for musl is it also wired in place of the libc memcpy, through the
//! linker's `--wrap=memcpy`.

use std::env;

fn main() {
    minify_openapi();
    println!("cargo::rerun-if-changed=src/native/memcpy.c");
    println!("cargo::rustc-check-cfg=cfg(native_memcpy)");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // GCC-dialect C (inline asm, SSE2 intrinsics): Linux on x86_64 only.
    if arch != "x86_64" || os != "linux" {
        return;
    }
    let musl = env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl");
    let mut build = cc::Build::new();
    build
        .file("src/native/memcpy.c")
        .opt_level(3)
        .flag_if_supported("-ffreestanding")
        .flag_if_supported("-fno-builtin")
        .flag_if_supported("-fno-builtin-memcpy")
        .flag_if_supported("-fno-tree-loop-distribute-patterns");
    if musl {
        build.define("OSS_DIRECT_UPLOAD_WRAP_MEMCPY", None);
    }
    build.compile("oss_direct_upload_native");
    println!("cargo::rustc-cfg=native_memcpy");
    if musl {
        // Every memcpy reference in the final binary goes to __wrap_memcpy.
        println!("cargo::rustc-link-arg-bins=-Wl,--wrap=memcpy");
    }
}

/// The OpenAPI document the binary serves (`src/api/openapi/`), as compact
/// JSON: `docs/openapi.json` is pretty-printed for people, which doubles its
/// size in the binary. A test holds the file equal to the generated document,
/// so it is valid JSON; if it is not, the build says so.
fn minify_openapi() {
    println!("cargo::rerun-if-changed=docs/openapi.json");
    let out = std::path::PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let text = std::fs::read_to_string("docs/openapi.json").expect("docs/openapi.json is readable");
    let doc: serde_json::Value = serde_json::from_str(&text).expect(
        "docs/openapi.json is not JSON: regenerate it (UPDATE=1 cargo test --lib api::openapi)",
    );
    let compact = serde_json::to_string(&doc).expect("a JSON value serialises");
    std::fs::write(out.join("openapi.min.json"), compact).expect("OUT_DIR is writable");
}
