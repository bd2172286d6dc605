//! Every environment variable the function reads is listed once in
//! `config::VARIABLES`, documented in README's configuration table, and none
//! starts with FC's reserved `FC_` prefix unless FC itself sets it (FC refuses
//! the whole CreateFunction/UpdateFunction otherwise, so such a variable could
//! never be deployed).

#[path = "common/readme.rs"]
mod readme;

use oss_direct_upload::config::{SetBy, VARIABLES};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The `FC_` variables FC documents as set for every instance (FC 3.0
/// "Environment variables" page: FC_FUNC_CODE_PATH, FC_ACCOUNT_ID, ...).
const FC_DOCUMENTED: &[&str] = &[
    "FC_FUNC_CODE_PATH",
    "FC_ACCOUNT_ID",
    "FC_FUNCTION_HANDLER",
    "FC_FUNCTION_MEMORY_SIZE",
    "FC_FUNCTION_NAME",
    "FC_REGION",
    "FC_CUSTOM_LISTEN_PORT",
    "FC_INSTANCE_ID",
    "FC_VER_ID",
    "FC_FUNCTION_VERSION",
];

/// The calls through which the code reads a variable by literal name.
const READERS: &[&str] = &[
    ".opt(",
    ".required(",
    ".number(",
    ".millis(",
    ".flag(",
    "nonempty(",
    "env::var(",
    "env::var_os(",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Names read through [`READERS`] anywhere in `src/`, with where.
fn names_read_in_src() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests feed made-up maps; only the code outside them counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for reader in READERS {
            for (at, _) in code.match_indices(reader) {
                let Some(rest) = code[at + reader.len()..].trim_start().strip_prefix('"') else {
                    continue;
                };
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if rest[name.len()..].starts_with('"')
                    && name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                {
                    found.push((name, file.display().to_string()));
                }
            }
        }
    }
    found
}

/// The backquoted names in the first column of README's "Configuration" table.
fn readme_table_names() -> BTreeSet<String> {
    let section = readme::section("## Configuration", "## ");
    let mut names = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = line.split('|').nth(1).unwrap_or("");
        for (i, part) in first_cell.split('`').enumerate() {
            if i % 2 == 1 {
                names.insert(part.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_table_lists_every_variable_the_code_reads() {
    let listed: BTreeSet<&str> = VARIABLES.iter().map(|v| v.name).collect();
    assert_eq!(listed.len(), VARIABLES.len(), "a name is listed twice");
    let read = names_read_in_src();
    assert!(
        read.iter().any(|(n, _)| n == "OSS_BUCKET") && read.iter().any(|(n, _)| n == "FC_REGION"),
        "the scan finds the reads it is meant to find: {read:?}"
    );
    let missing: Vec<_> = read
        .iter()
        .filter(|(n, _)| !listed.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "read in src/ but not in config::VARIABLES: {missing:?}"
    );
    let unread: Vec<_> = listed
        .iter()
        .filter(|n| !read.iter().any(|(r, _)| r == *n))
        .collect();
    assert!(
        unread.is_empty(),
        "in config::VARIABLES but read nowhere: {unread:?}"
    );
}

#[test]
fn readme_documents_exactly_the_variables_read() {
    let documented = readme_table_names();
    let listed: BTreeSet<String> = VARIABLES.iter().map(|v| v.name.to_owned()).collect();
    let undocumented: Vec<_> = listed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "read by the code but missing from README's configuration table: {undocumented:?}"
    );
    let stale: Vec<_> = documented.difference(&listed).collect();
    assert!(
        stale.is_empty(),
        "in README's configuration table but read nowhere: {stale:?}"
    );
}

#[test]
fn only_variables_fc_sets_start_with_fc() {
    for v in VARIABLES {
        let valid_name = v.name.starts_with(|c: char| c.is_ascii_alphabetic())
            && v.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        assert!(valid_name, "{} is not a name FC accepts", v.name);
        if v.name.starts_with("FC_") {
            assert_eq!(
                v.set_by,
                SetBy::Fc,
                "{}: FC reserves FC_ and refuses a deployment that sets it; rename it",
                v.name
            );
            assert!(
                FC_DOCUMENTED.contains(&v.name),
                "{} is not one of the variables FC documents setting",
                v.name
            );
        }
    }
}
