//! `crossdesk files ID [--out DIR]` (the files of a requirement or task,
//! listed or written out) and `crossdesk gc` (kept files no record names
//! any longer, removed).

use super::list::item_files;
use super::{existing_store, lookup_store};
use anyhow::{bail, Context, Result};
use crossdesk::config::Config;
use crossdesk::model::{human_size, ItemId};
use crossdesk::store::FileStore;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn files(cfg: Config, id: &str, out: Option<&Path>, json: bool) -> Result<ExitCode> {
    let Some(item) = ItemId::parse(id) else {
        bail!("`{id}` is not an identifier; use REQ-n or REQ-n.m");
    };
    let fs = FileStore::new(cfg.files_dir());
    let engine = lookup_store(cfg)?;
    if engine.store().load_req(item.req())?.is_none() {
        bail!("{} does not exist", item.req());
    }
    let mut rows = item_files(engine.store(), item.req())?;
    if let ItemId::Task(_) = item {
        rows.retain(|f| f.item == item);
    }
    let Some(dir) = out else {
        if json {
            let v: Vec<_> = rows.iter().map(crossdesk::report::file_json).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else if rows.is_empty() {
            println!("{item} has no files");
        } else {
            for f in &rows {
                println!(
                    "{}\t{}\t{}\t{}",
                    f.item,
                    human_size(f.file.size),
                    f.file.sha256.as_deref().unwrap_or("not-kept"),
                    f.file.name
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written: Vec<(String, PathBuf)> = vec![];
    let mut missing = 0;
    for f in rows.iter().filter(|f| f.file.is_kept()) {
        let sha = f.file.sha256.as_deref().unwrap_or_default();
        if written
            .iter()
            .any(|(s, p)| s == sha && p.file_name() == Some(f.file.name.as_ref()))
        {
            continue;
        }
        let bytes = match fs.read(sha) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {} ({sha}): {e}", f.item, f.file.name);
                missing += 1;
                continue;
            }
        };
        let path = free_name(dir, &f.file.name);
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "{}\t{}\t{}",
            f.item,
            human_size(f.file.size),
            path.display()
        );
        written.push((sha.to_string(), path));
    }
    if missing > 0 {
        bail!(
            "{missing} file(s) could not be read from {}",
            fs.dir().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `dir/name`, or `dir/name (2).ext` … when that exists already.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (name, String::new()),
    };
    (2..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Kept files younger than this are left to `gc`'s next run: an `ingest`
/// beside it may have written one whose record is not committed yet.
const GC_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

pub fn gc(cfg: Config, dry_run: bool) -> Result<ExitCode> {
    let store = cfg.store_path();
    let _locks = crossdesk::store::locks::lock_for_restore(&store)?;
    let fs = FileStore::new(cfg.files_dir());
    let engine = existing_store(cfg)?;
    let referenced: BTreeSet<String> = engine.store().referenced_files()?;
    let (kept, junk) = fs
        .scan()
        .with_context(|| format!("reading {}", fs.dir().display()))?;
    let young = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < GC_GRACE)
    };
    let mut removed = 0;
    let mut bytes = 0u64;
    for sha in kept.difference(&referenced) {
        let path = fs.path(sha);
        if young(&path) {
            continue;
        }
        bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if !dry_run {
            fs.remove(sha)
                .with_context(|| format!("removing {}", path.display()))?;
        }
        println!(
            "{}{}",
            if dry_run { "would remove " } else { "removed " },
            path.display()
        );
        removed += 1;
    }
    for p in junk.iter().filter(|p| !young(p)) {
        if !dry_run {
            std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
        }
        println!(
            "{}{}",
            if dry_run { "would remove " } else { "removed " },
            p.display()
        );
    }
    let lost: Vec<&String> = referenced.iter().filter(|s| !fs.has(s)).collect();
    println!(
        "{} kept files, {} referenced; {} {} no record names ({})",
        kept.len(),
        referenced.len(),
        if dry_run { "would remove" } else { "removed" },
        removed,
        human_size(bytes)
    );
    if !lost.is_empty() {
        for s in &lost {
            eprintln!("missing: {s} is recorded but not in {}", fs.dir().display());
        }
        bail!("{} recorded file(s) are missing", lost.len());
    }
    Ok(ExitCode::SUCCESS)
}
