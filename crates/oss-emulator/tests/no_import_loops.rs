//! The emulator's files import one way only: no loop between files in `src/`.
//!
//! A loop means two rooms that each need the other's vocabulary; the shared
//! part belongs in a third file both import (see `request.rs`, `upload.rs`,
//! `state.rs`, `tags.rs`, `wire.rs`).

use std::path::Path;

#[path = "../../../tests/common/import_graph.rs"]
mod import_graph;

#[test]
fn emulator_src_has_no_import_loops() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = import_graph::file_graph(&src).expect("read the emulator's src/");
    // The scan sees the crate: known one-way edges are there.
    assert!(g.files.len() >= 20, "{:?}", g.files);
    assert!(g.has_edge("route.rs", "object.rs"), "{:?}", g.edges);
    assert!(g.has_edge("store/uploads.rs", "blob.rs"), "{:?}", g.edges);
    let loops = import_graph::cycles(&g);
    assert!(loops.is_empty(), "{}", import_graph::describe(&g, &loops));
}
