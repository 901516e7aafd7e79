//! The layer map of `src/lib.rs` (see docs/architecture.md), checked on
//! the source itself: each module of the library imports only modules of
//! a lower layer; the pure core touches no I/O crate; SQL stays in the
//! store. Read from the `crate::` paths of every non-test line of `src/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every top-level module of the library, lowest layer first. A module may
/// import only modules of a lower layer (or itself).
const LAYERS: &[&[&str]] = &[
    // The shared nouns, and helpers that know nothing of crossdesk.
    &["model", "maildir", "net", "shutdown"],
    &["directory", "mail", "im"],
    // The pure core.
    &["schedule", "workflow"],
    &["config"],
    &["render", "report"],
    // The thin I/O shell.
    &["store"],
    &["crashguard", "source", "send"],
    &["engine"],
    &["ingest", "clock"],
    &["daemon"],
];

/// The pure core: no I/O, no clock of its own, no runtime.
const PURE: &[&str] = &["model", "directory", "mail", "im", "schedule", "workflow"];

/// What the pure core may not name.
const IO: &[&str] = &[
    "tokio::",
    "rusqlite::",
    "lettre::",
    "async_imap::",
    "reqwest::",
    "tokio_rustls::",
    "std::fs",
    "std::net",
    "std::process",
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for the crate
/// root and the binary).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "cli")).then(|| name.to_string())
}

/// The lines of a file that are not tests or comments.
fn code_lines(path: &Path) -> Vec<String> {
    let name = path.file_name().unwrap().to_str().unwrap();
    if name == "tests.rs" || name.ends_with("_tests.rs") {
        return vec![];
    }
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = vec![];
    let mut prev_cfg_test = false;
    for line in text.lines() {
        let t = line.trim_start();
        // A test module runs to the end of the file in this code base.
        if prev_cfg_test && t.starts_with("mod tests") {
            break;
        }
        prev_cfg_test = t.starts_with("#[cfg(test)]");
        if t.starts_with("//") {
            continue;
        }
        let code = match line.find(" //") {
            Some(i) => &line[..i],
            None => line,
        };
        lines.push(code.to_string());
    }
    lines
}

/// The top-level modules named through `crate::` in `code`, groups
/// (`crate::{a::X, b::Y}`) included.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
            continue; // `$crate::`, `other_crate::`, `a::crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

struct Line {
    file: String,
    module: String,
    code: String,
}

fn library_lines() -> Vec<Line> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    files.sort();
    let mut out = vec![];
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let Some(module) = module_of(rel) else {
            continue;
        };
        for code in code_lines(&f) {
            out.push(Line {
                file: format!("src/{}", rel.display()),
                module: module.clone(),
                code,
            });
        }
    }
    out
}

#[test]
fn every_module_of_the_library_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules with no layer in tests/layers.rs: {missing:?}"
    );
}

#[test]
fn each_layer_imports_only_layers_below_it() {
    let mut wrong = vec![];
    for l in library_lines() {
        let own = layer_of(&l.module).unwrap_or_else(|| panic!("{}: no layer", l.module));
        for used in crate_refs(&l.code) {
            match layer_of(&used) {
                Some(n) if n < own || used == l.module => {}
                _ => wrong.push(format!(
                    "{} ({} → {used}): {}",
                    l.file,
                    l.module,
                    l.code.trim()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer map:\n{}",
        wrong.join("\n")
    );
}

/// The library's lines that `wrong` picks, as `file: code`.
fn lines_where(wrong: impl Fn(&Line) -> bool) -> Vec<String> {
    library_lines()
        .into_iter()
        .filter(|l| wrong(l))
        .map(|l| format!("{}: {}", l.file, l.code.trim()))
        .collect()
}

#[test]
fn the_pure_core_does_no_io() {
    let wrong = lines_where(|l| {
        PURE.contains(&l.module.as_str()) && IO.iter().any(|io| l.code.contains(io))
    });
    assert!(
        wrong.is_empty(),
        "I/O in the pure core:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn sql_lives_in_the_store() {
    let wrong = lines_where(|l| l.module != "store" && l.code.contains("rusqlite"));
    assert!(
        wrong.is_empty(),
        "rusqlite outside the store:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_sees_groups_and_skips_other_crates() {
    let refs = crate_refs("use crate::{config::Config, model::{Action, ReqId}, store};");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["config", "model", "store"]
    );
    assert!(crate_refs("$crate::x; foo_crate::y; \"a\"").is_empty());
    assert_eq!(
        crate_refs("let x = crate::engine::Engine::new(crate::config::load());")
            .into_iter()
            .collect::<Vec<_>>(),
        ["config", "engine"]
    );
}
