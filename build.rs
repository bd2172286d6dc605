//! Build script: a faster `memcpy` for the static musl build (see src/native/memcpy.c).
//!
//! The C routine is compiled for every x86_64 target so tests can check it;
//! only for musl is it also wired in place of the libc memcpy, through the
//! linker's `--wrap=memcpy`.

use std::env;

fn main() {
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
