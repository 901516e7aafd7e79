//! The code's pointers into the documentation hold: every
//! `docs/<file>.md#anchor` cited in the sources names a file of the
//! repository and an anchor it has, and no file cites one that is not here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("rs" | "toml" | "hbs" | "sh" | "md")
        ) {
            out.push(p);
        }
    }
}

/// The `<a id="…">` anchors of a document.
fn anchors(doc: &str) -> BTreeSet<String> {
    doc.split("<a id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Each `docs/<name>.md` cited in `text`, with the anchors that follow it
/// (`docs/protocol.md#keywords`, and `#tags` right after it in a list such
/// as `(docs/protocol.md#identifiers, #tags)`).
fn citations(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("docs/") {
        rest = &rest[i + 5..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
            .collect();
        let name = name.trim_end_matches('.').to_string();
        if !name.ends_with(".md") {
            continue;
        }
        let mut after = &rest[name.len()..];
        let mut ids = vec![];
        while let Some(a) = after
            .strip_prefix('#')
            .or_else(|| after.strip_prefix(", #"))
        {
            let id: String = a
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            after = &a[id.len()..];
            ids.push(id);
        }
        out.push((name, ids));
    }
    out
}

#[test]
fn every_cited_document_and_anchor_exists() {
    let root = root();
    let mut all = vec![];
    for dir in ["src", "tests", "benches", "templates", "config", "scripts"] {
        files(&root.join(dir), &mut all);
    }
    all.push(root.join("README.md"));
    let mut wrong = vec![];
    let mut cited = 0;
    for f in &all {
        let text = std::fs::read_to_string(f).unwrap();
        for (name, ids) in citations(&text) {
            let doc = root.join("docs").join(&name);
            let Ok(doc_text) = std::fs::read_to_string(&doc) else {
                wrong.push(format!("{}: docs/{name} does not exist", f.display()));
                continue;
            };
            let have = anchors(&doc_text);
            for id in ids {
                cited += 1;
                if !have.contains(&id) {
                    wrong.push(format!("{}: docs/{name} has no anchor #{id}", f.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        cited >= 10,
        "only {cited} anchors cited: is the reader broken?"
    );
}

#[test]
fn no_file_cites_the_contract_by_a_name_outside_the_repository() {
    let root = root();
    let mut all = vec![];
    for dir in [
        "src",
        "tests",
        "benches",
        "templates",
        "config",
        "scripts",
        "docs",
    ] {
        files(&root.join(dir), &mut all);
    }
    all.push(root.join("README.md"));
    let this = root.join("tests/docs.rs");
    let wrong: Vec<String> = all
        .iter()
        .filter(|f| **f != this)
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .contains(concat!("PROTOCOL", ".md"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(wrong.is_empty(), "cite docs/protocol.md instead: {wrong:?}");
}

#[test]
fn the_reader_finds_lists_of_anchors() {
    let c = citations("see (docs/protocol.md#identifiers, #tags) and docs/operations.md.");
    assert_eq!(
        c,
        [
            (
                "protocol.md".to_string(),
                vec!["identifiers".to_string(), "tags".to_string()]
            ),
            ("operations.md".to_string(), vec![]),
        ]
    );
    assert_eq!(
        anchors("<a id=\"x\"></a> text <a id=\"y-z\"></a>")
            .into_iter()
            .collect::<Vec<_>>(),
        ["x", "y-z"]
    );
}
