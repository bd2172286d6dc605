//! The file-level import graph of a crate's `src/` and the loops in it, for
//! tests that keep a crate's files importing one way only.
//!
//! Include it from a test with
//! `#[path = "<to>/tests/common/import_graph.rs"] mod import_graph;`, then
//! `cycles(&file_graph(&src)?)` must be empty.
//!
//! The model (no name resolution, on purpose):
//! - A node is a file: `lib.rs` (or `main.rs` when there is no `lib.rs`) is the
//!   crate root, `a.rs` and `a/mod.rs` are module `a`, `a/b.rs` is `a::b`.
//!   `src/bin/` and a `main.rs` beside a `lib.rs` are other crates and are skipped.
//! - An edge A → B is a path in A that starts with `crate::`, `super::` or
//!   `self::` (in a `use` or inline, groups `{a, b::c}` expanded) and names an
//!   item in B: the longest module prefix of the path that is a file wins.
//!   Inline `mod x { … }` blocks are tracked, so `use super::*` in a file's
//!   `mod tests` names the file itself, and self-edges are dropped.
//! - A file reaching into its own submodules (`child::Item`, `self::child`, or
//!   `super::child` from its `mod tests`) composes them: not an edge. Other
//!   relative paths (a name brought in by a glob) are not resolved either. Comments and string literals are skipped, and so are
//!   `$crate` and `pub(in crate::…)`.
//! - A loop is a strongly connected component of more than one file; each is
//!   reported with one concrete cycle and the path behind every step.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Files (paths relative to the scanned `src/`) and who imports whom.
#[derive(Debug, Default)]
pub struct FileGraph {
    /// The files, sorted; a node is an index into this list.
    pub files: Vec<PathBuf>,
    /// `edges[a][b]`: the first path text in `files[a]` that names `files[b]`.
    pub edges: BTreeMap<usize, BTreeMap<usize, String>>,
}

impl FileGraph {
    /// Whether `from` imports from `to` (paths relative to `src/`).
    pub fn has_edge(&self, from: &str, to: &str) -> bool {
        let idx = |p: &str| self.files.iter().position(|f| f == Path::new(p));
        match (idx(from), idx(to)) {
            (Some(a), Some(b)) => self.edges.get(&a).is_some_and(|e| e.contains_key(&b)),
            _ => false,
        }
    }
}

/// Reads every `.rs` file under `root` (a crate's `src/`) and builds its graph.
pub fn file_graph(root: &Path) -> std::io::Result<FileGraph> {
    let mut found = Vec::new();
    walk(root, root, &mut found)?;
    let mut sources = Vec::new();
    for rel in found {
        let text = std::fs::read_to_string(root.join(&rel))?;
        sources.push((rel, text));
    }
    Ok(graph_from_sources(&sources))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
    }
    Ok(())
}

/// The graph of in-memory sources: `(path relative to src/, text)` pairs.
pub fn graph_from_sources(sources: &[(PathBuf, String)]) -> FileGraph {
    let has_lib = sources.iter().any(|(p, _)| p == Path::new("lib.rs"));
    let mut kept: Vec<&(PathBuf, String)> = sources
        .iter()
        .filter(|(p, _)| {
            let other_crate = p.starts_with("bin") || (has_lib && p == Path::new("main.rs"));
            !other_crate
        })
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    let files: Vec<PathBuf> = kept.iter().map(|(p, _)| p.clone()).collect();
    let modules: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, p)| (module_of(p), i))
        .collect();
    let mut edges: BTreeMap<usize, BTreeMap<usize, String>> = BTreeMap::new();
    for (from, (path, text)) in kept.iter().enumerate() {
        let here = module_of(path);
        for (inline, segs, path_text) in paths_in(text) {
            let mut inside = here.clone();
            inside.extend(inline);
            let Some(abs) = absolute(&inside, &segs) else {
                continue;
            };
            let target = (0..=abs.len())
                .rev()
                .find_map(|n| modules.get(&abs[..n]).copied());
            // A file reaching into its own submodules composes them: not an edge.
            let below = |to: usize| {
                let m = module_of(&files[to]);
                m.len() > here.len() && m.starts_with(&here)
            };
            if let Some(to) = target.filter(|&to| to != from && !below(to)) {
                edges
                    .entry(from)
                    .or_default()
                    .entry(to)
                    .or_insert(path_text);
            }
        }
    }
    FileGraph { files, edges }
}

/// The module path a file defines: `lib.rs` → [], `a/mod.rs` → [a], `a/b.rs` → [a, b].
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.strip_suffix(".rs").unwrap_or(&last);
    let is_root = parts.is_empty() && (stem == "lib" || stem == "main");
    if stem != "mod" && !is_root {
        parts.push(stem.to_string());
    }
    parts
}

/// Resolves `crate`/`super`/`self` at the start of `segs` (written inside
/// module `here`) to an absolute module path followed by the rest.
fn absolute(here: &[String], segs: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = here.to_vec();
    let mut rest = segs;
    while let Some((first, tail)) = rest.split_first() {
        match first.as_str() {
            "crate" => out.clear(),
            "super" => {
                out.pop()?;
            }
            "self" => {}
            _ => break,
        }
        rest = tail;
    }
    out.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(&'static str),
}

/// Every `crate::`/`super::`/`self::` path in `text`: (the inline modules it
/// is written in, its segments, the path as written).
fn paths_in(text: &str) -> Vec<(Vec<String>, Vec<String>, String)> {
    let toks = lex(text);
    let mut out = Vec::new();
    // Inline modules open at this point: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct("{") => depth += 1,
            Tok::Punct("}") => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Punct("{"))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                }
            }
            Tok::Ident(kw)
                if matches!(kw.as_str(), "crate" | "super" | "self")
                    && toks.get(i + 1) == Some(&Tok::Punct("::"))
                    && !matches!(
                        i.checked_sub(1).and_then(|p| toks.get(p)),
                        Some(Tok::Punct("::")) | Some(Tok::Punct("$"))
                    )
                    && !(i >= 2
                        && toks[i - 1] == Tok::Ident("in".into())
                        && toks[i - 2] == Tok::Punct("(")) =>
            {
                let (paths, next) = parse_tree(&toks, i, Vec::new());
                let inner: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                for p in paths {
                    let written = p
                        .iter()
                        .filter(|s| *s != "self" || p.len() == 1)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("::");
                    out.push((inner.clone(), p, written));
                }
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Parses one path or use-tree starting at `i`, below `prefix`.
fn parse_tree(toks: &[Tok], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut segs = prefix;
    loop {
        match toks.get(i) {
            Some(Tok::Ident(s)) => {
                segs.push(s.clone());
                i += 1;
                if toks.get(i) == Some(&Tok::Ident("as".into())) {
                    i += 2;
                }
                if toks.get(i) == Some(&Tok::Punct("::")) {
                    i += 1;
                    continue;
                }
                return (vec![segs], i);
            }
            Some(Tok::Punct("{")) => {
                i += 1;
                let mut all = Vec::new();
                while let Some(t) = toks.get(i) {
                    match t {
                        Tok::Punct("}") => {
                            i += 1;
                            break;
                        }
                        Tok::Punct(",") => i += 1,
                        _ => {
                            let (paths, next) = parse_tree(toks, i, segs.clone());
                            all.extend(paths);
                            i = next.max(i + 1);
                        }
                    }
                }
                return (all, i);
            }
            Some(Tok::Punct("*")) => return (vec![segs], i + 1),
            _ => return (vec![segs], i),
        }
    }
}

/// Identifiers and the punctuation paths need; comments, strings, chars,
/// numbers and lifetimes are dropped.
fn lex(text: &str) -> Vec<Tok> {
    let c: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut nest = 1;
            i += 2;
            while i < c.len() && nest > 0 {
                if c[i] == '/' && at(i + 1) == '*' {
                    nest += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    nest -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1);
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1; // a lifetime: its name lexes as an identifier
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if raw_prefix && (at(i) == '#' || at(i) == '"') {
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                if at(i) == '"' {
                    i = skip_raw(&c, i + 1, hashes);
                    continue;
                }
                // `r#ident`: a raw identifier.
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                toks.push(Tok::Ident(c[start..i].iter().collect()));
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_string(&c, i + 1);
            } else if word == "b" && at(i) == '\'' {
                // b'x' / b'\n': the char branch handles the rest.
            } else {
                toks.push(Tok::Ident(word));
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if ch == ':' && at(i + 1) == ':' {
            toks.push(Tok::Punct("::"));
            i += 2;
        } else {
            toks.push(Tok::Punct(match ch {
                '{' => "{",
                '}' => "}",
                '(' => "(",
                ')' => ")",
                ',' => ",",
                '*' => "*",
                '$' => "$",
                _ => "other",
            }));
            i += 1;
        }
    }
    toks
}

/// Index just past the closing quote of a string whose body starts at `i`.
fn skip_string(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Index just past `"` followed by `hashes` `#`s.
fn skip_raw(c: &[char], mut i: usize, hashes: usize) -> usize {
    while i < c.len() {
        if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// One loop: files that all reach each other through imports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loop {
    /// Every file in the loop (a strongly connected component), sorted.
    pub members: Vec<usize>,
    /// One shortest cycle through the first member, which it ends with again.
    pub cycle: Vec<usize>,
}

/// The loops: each strongly connected component of two or more files.
pub fn cycles(g: &FileGraph) -> Vec<Loop> {
    let mut out: Vec<Loop> = strongly_connected(g)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|members| Loop {
            cycle: one_cycle(g, &members),
            members,
        })
        .collect();
    out.sort();
    out
}

/// Tarjan's algorithm, iterative.
fn strongly_connected(g: &FileGraph) -> Vec<Vec<usize>> {
    let n = g.files.len();
    let succ = |v: usize| -> Vec<usize> {
        g.edges
            .get(&v)
            .map(|e| e.keys().copied().collect())
            .unwrap_or_default()
    };
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comps = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>, usize)> = vec![(root, succ(root), 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some((v, ws, k)) = work.last_mut() {
            let v = *v;
            if let Some(&w) = ws.get(*k) {
                *k += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, succ(w), 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some((parent, _, _)) = work.last() {
                    low[*parent] = low[*parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comp.sort();
                    comps.push(comp);
                }
            }
        }
    }
    comps
}

/// A shortest cycle through the component's first file, staying inside it.
fn one_cycle(g: &FileGraph, comp: &[usize]) -> Vec<usize> {
    let inside: BTreeSet<usize> = comp.iter().copied().collect();
    let start = comp[0];
    let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in g.edges.get(&v).map(|e| e.keys()).into_iter().flatten() {
            if !inside.contains(&w) {
                continue;
            }
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = prev[&at];
                    path.push(at);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    comp.to_vec()
}

/// A readable report of `loops`: the files in each, one cycle through them,
/// and the path behind each step of it.
pub fn describe(g: &FileGraph, loops: &[Loop]) -> String {
    let name = |f: &usize| g.files[*f].display().to_string();
    let mut s = format!("{} import loop(s) between files:\n", loops.len());
    for l in loops {
        let members: Vec<String> = l.members.iter().map(name).collect();
        let cycle: Vec<String> = l.cycle.iter().map(name).collect();
        let _ = writeln!(s, "- {} files: {}", members.len(), members.join(", "));
        let _ = writeln!(s, "  for example {}", cycle.join(" -> "));
        for pair in l.cycle.windows(2) {
            let via = g
                .edges
                .get(&pair[0])
                .and_then(|e| e.get(&pair[1]))
                .map(String::as_str)
                .unwrap_or("?");
            let _ = writeln!(s, "    {} uses {via}", name(&pair[0]));
        }
    }
    s
}

/// The same graph one level up: each file folded into its top-level module
/// (`api/multipart/flow.rs` → `api`, `log.rs` → `log`; the crate root stays
/// itself). A loop here is two modules that each import from the other, even
/// when no two files do.
pub fn module_graph(g: &FileGraph) -> FileGraph {
    let top = |f: &Path| -> PathBuf {
        let first = f
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let name = first.unwrap_or_default();
        PathBuf::from(name.strip_suffix(".rs").unwrap_or(&name))
    };
    let modules: BTreeSet<PathBuf> = g.files.iter().map(|f| top(f)).collect();
    let files: Vec<PathBuf> = modules.into_iter().collect();
    let at = |f: &Path| files.iter().position(|m| *m == top(f));
    let mut edges: BTreeMap<usize, BTreeMap<usize, String>> = BTreeMap::new();
    for (a, targets) in &g.edges {
        for (b, why) in targets {
            if let (Some(ma), Some(mb)) = (at(&g.files[*a]), at(&g.files[*b])) {
                if ma != mb {
                    edges.entry(ma).or_default().entry(mb).or_insert_with(|| {
                        format!(
                            "{} → {}: {why}",
                            g.files[*a].display(),
                            g.files[*b].display()
                        )
                    });
                }
            }
        }
    }
    FileGraph { files, edges }
}

#[cfg(test)]
mod import_graph_tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> FileGraph {
        let sources: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        graph_from_sources(&sources)
    }

    fn names(g: &FileGraph) -> Vec<Vec<String>> {
        cycles(g)
            .iter()
            .map(|l| {
                l.cycle
                    .iter()
                    .map(|&f| g.files[f].display().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_two_file_loop_is_found_and_described() {
        let g = graph(&[
            ("lib.rs", "mod a; mod b;"),
            ("a.rs", "use super::b::Thing;\npub fn f() {}"),
            ("b.rs", "pub struct Thing;\nfn g() { crate::a::f() }"),
        ]);
        assert_eq!(names(&g), vec![vec!["a.rs", "b.rs", "a.rs"]]);
        let text = describe(&g, &cycles(&g));
        assert!(text.contains("- 2 files: a.rs, b.rs"), "{text}");
        assert!(text.contains("a.rs -> b.rs -> a.rs"), "{text}");
        assert!(text.contains("a.rs uses super::b::Thing"), "{text}");
        assert!(text.contains("b.rs uses crate::a::f"), "{text}");
    }

    #[test]
    fn one_way_imports_are_not_a_loop() {
        let g = graph(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use super::{b::X, c::{self, Y as Z}};"),
            ("b.rs", "use crate::c::Y;"),
            ("c.rs", "pub struct Y;"),
        ]);
        assert!(cycles(&g).is_empty());
        assert!(g.has_edge("a.rs", "b.rs"));
        assert!(g.has_edge("a.rs", "c.rs"));
        assert!(g.has_edge("b.rs", "c.rs"));
        assert!(!g.has_edge("c.rs", "a.rs"));
    }

    #[test]
    fn comments_strings_tests_and_visibility_are_not_edges() {
        let g = graph(&[
            ("lib.rs", "mod a; mod b;"),
            (
                "a.rs",
                "pub(in crate::b) fn f() {}\n\
                 pub(super) fn g() {}\n\
                 // crate::b::X\n/* super::b::Y /* nested */ crate::b::Z */\n\
                 const Q: char = '\\''; const U: char = '\\u{1F}';\n\
                 const S: &str = \"crate::b::X\"; const R: &str = r#\"super::b::\"#;\n\
                 const C: char = '\"'; fn h<'a>(x: &'a str) {}\n\
                 macro_rules! m { () => { $crate::b::X } }\n\
                 #[cfg(test)] mod tests { use super::*; use self::inner::Q; mod inner {} }",
            ),
            ("b.rs", "use super::a::f;"),
        ]);
        assert!(cycles(&g).is_empty(), "{:?}", g.edges);
        assert!(g.has_edge("b.rs", "a.rs"));
        assert!(!g.has_edge("a.rs", "b.rs"));
        assert!(!g.has_edge("a.rs", "lib.rs"));
    }

    #[test]
    fn nested_modules_resolve_super_super_and_mod_rs() {
        let g = graph(&[
            ("lib.rs", "mod blob; mod store;"),
            ("blob.rs", "use super::store::too_large;"),
            (
                "store/mod.rs",
                "mod parts; use super::blob::Blob; use self::parts::P;\n\
                 #[cfg(test)] mod tests { use super::parts::Q; }",
            ),
            (
                "store/parts.rs",
                "use super::super::blob::Blob; use super::Store;",
            ),
        ]);
        assert!(g.has_edge("store/parts.rs", "blob.rs"));
        assert!(g.has_edge("store/parts.rs", "store/mod.rs"));
        assert!(!g.has_edge("store/mod.rs", "store/parts.rs"));
        assert_eq!(names(&g), vec![vec!["blob.rs", "store/mod.rs", "blob.rs"]]);
    }

    #[test]
    fn file_graph_reads_a_directory() {
        let dir = std::env::temp_dir().join(format!("import-graph-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("x")).unwrap();
        std::fs::write(dir.join("lib.rs"), "mod x; mod y;").unwrap();
        std::fs::write(dir.join("x/mod.rs"), "use crate::y::Y;").unwrap();
        std::fs::write(dir.join("y.rs"), "use crate::x::X;").unwrap();
        let g = file_graph(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(names(&g), vec![vec!["x/mod.rs", "y.rs", "x/mod.rs"]]);
    }
}
