//! Data flows one way: no import loop between the function's modules or files,
//! nor inside the signing crate (the emulator crate checks its own, in
//! `crates/oss-emulator/tests/no_import_loops.rs`).
//!
//! A loop means two rooms that each need the other's vocabulary; the shared part
//! belongs in a third module both import (as the key grammar lives in
//! `profiles`, the verdict's tags in the upload check, refresh timing in `sts`).

use std::path::Path;

#[path = "common/import_graph.rs"]
mod import_graph;

fn src(crate_dir: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_dir)
        .join("src")
}

#[test]
fn the_function_has_no_loop_between_files() {
    let g = import_graph::file_graph(&src(".")).expect("read src/");
    assert!(g.files.len() >= 40, "{:?}", g.files);
    let loops = import_graph::cycles(&g);
    assert!(loops.is_empty(), "{}", import_graph::describe(&g, &loops));
}

#[test]
fn the_function_has_no_loop_between_modules() {
    let files = import_graph::file_graph(&src(".")).expect("read src/");
    let g = import_graph::module_graph(&files);
    // The scan sees the layering it guards: routes use auth, the upload check uses oss.
    assert!(g.has_edge("api", "auth"), "{:?}", g.edges);
    assert!(g.has_edge("api", "sts"), "{:?}", g.edges);
    let loops = import_graph::cycles(&g);
    assert!(loops.is_empty(), "{}", import_graph::describe(&g, &loops));
}

#[test]
fn the_signing_crate_has_no_loop() {
    let g = import_graph::file_graph(&src("crates/alibaba-sign")).expect("read alibaba-sign");
    assert!(g.has_edge("post_policy.rs", "oss_v4.rs"), "{:?}", g.edges);
    let loops = import_graph::cycles(&g);
    assert!(loops.is_empty(), "{}", import_graph::describe(&g, &loops));
    let modules = import_graph::module_graph(&g);
    assert!(import_graph::cycles(&modules).is_empty());
}

#[test]
fn a_loop_between_two_modules_is_found() {
    // Two files in different modules, each importing the other's item: no file
    // loop inside a module, but a module loop.
    let sources = [
        ("lib.rs".into(), "pub mod a; pub mod b;".to_string()),
        ("a/mod.rs".into(), "pub mod x;".to_string()),
        (
            "a/x.rs".into(),
            "use crate::b::y::Y; pub struct X;".to_string(),
        ),
        ("b/mod.rs".into(), "pub mod y;".to_string()),
        ("b/y.rs".into(), "pub struct Y;".to_string()),
        ("b/z.rs".into(), "use crate::a::x::X;".to_string()),
    ];
    let files = import_graph::graph_from_sources(&sources);
    assert!(import_graph::cycles(&files).is_empty());
    let modules = import_graph::module_graph(&files);
    let loops = import_graph::cycles(&modules);
    assert_eq!(
        loops.len(),
        1,
        "{}",
        import_graph::describe(&modules, &loops)
    );
}
