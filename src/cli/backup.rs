//! `crossdesk backup FILE` (a consistent copy while the daemon runs, its
//! kept files in `FILE.files`) and
//! `crossdesk restore FILE` (put back with the daemon stopped, without
//! giving out a number twice or sending mail twice).

use super::existing_store;
use anyhow::{bail, Context, Result};
use crossdesk::clock::{ClockOpts, DigestStatus};
use crossdesk::config::Config;
use crossdesk::engine::Engine;
use crossdesk::store::{beside, FileStore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where a backup's files go: `<backup>.files` beside it.
fn files_beside(backup: &Path) -> PathBuf {
    beside(backup, ".files")
}

pub fn backup(cfg: Config, path: &Path) -> Result<ExitCode> {
    if path.exists() {
        bail!("{} exists; give a new file", path.display());
    }
    let files = FileStore::new(cfg.files_dir());
    let engine = existing_store(cfg)?;
    engine
        .store()
        .backup_to(path)
        .with_context(|| format!("backup to {}", path.display()))?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {} to {} ({bytes} bytes, schema version {})",
        engine.config().store_path().display(),
        path.display(),
        engine.store().schema_version()?
    );
    // Read after the copy: records are only ever added, so this names
    // every file the copy names (and perhaps a few more).
    let referenced = engine.store().referenced_files()?;
    if !referenced.is_empty() {
        let target = FileStore::new(files_beside(path));
        let (copied, missing) = files
            .copy_to(&target, &referenced)
            .with_context(|| format!("copying files to {}", target.dir().display()))?;
        println!("copied {copied} kept files to {}", target.dir().display());
        if !missing.is_empty() {
            for m in &missing {
                eprintln!(
                    "missing: {m} is recorded but not in {}",
                    files.dir().display()
                );
            }
            bail!(
                "{} recorded file(s) are missing from the store's files",
                missing.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn restore(cfg: Config, path: &Path, gap: Option<u32>) -> Result<ExitCode> {
    let store = cfg.store_path();
    let _locks = crossdesk::store::locks::lock_for_restore(&store)?;
    let now = crossdesk::schedule::now(cfg.tz());
    let r = crossdesk::store::restore::restore(path, &store, gap, now)?;
    let files = FileStore::new(cfg.files_dir());
    println!(
        "restored {} to {} (schema version {}; its last message recorded at {})",
        path.display(),
        store.display(),
        r.schema,
        r.last_message_at.as_deref().unwrap_or("-")
    );
    println!(
        "new requirements are numbered from REQ-{}: the backup's last is REQ-{}, and the {} numbers after it are skipped (they may have been given out after the backup was taken)",
        r.next_req(),
        r.last_req,
        r.gap
    );
    if r.held > 0 {
        println!(
            "{} outbox mails queued in the backup are held as failed, as most were likely sent since: `crossdesk outbox list --status failed` lists them, `crossdesk outbox retry ID` sends one",
            r.held
        );
    }
    let mut engine = Engine::new(cfg)?;
    // The files the restored store names that the files directory lacks,
    // from beside the backup.
    let referenced = engine.store().referenced_files()?;
    let from = FileStore::new(files_beside(path));
    let absent: std::collections::BTreeSet<String> = referenced
        .iter()
        .filter(|s| !files.has(s))
        .cloned()
        .collect();
    if !absent.is_empty() {
        let (copied, missing) = from
            .copy_to(&files, &absent)
            .with_context(|| format!("copying files to {}", files.dir().display()))?;
        println!("restored {copied} kept files to {}", files.dir().display());
        if !missing.is_empty() {
            eprintln!(
                "warning: {} recorded file(s) are neither in {} nor in {}",
                missing.len(),
                from.dir().display(),
                files.dir().display()
            );
        }
    }
    // Digests and reminders due now: the lost store may have sent
    // them, so they are recorded as sent rather than sent again.
    let clock = crossdesk::clock::run(
        &mut engine,
        now,
        &ClockOpts {
            record_only: true,
            ..Default::default()
        },
    )?;
    let slots = clock
        .digests
        .iter()
        .filter(|d| d.status == DigestStatus::Recorded)
        .count();
    if slots + clock.reminders_recorded > 0 {
        println!(
            "{slots} digest slots and {} reminders due now are recorded as sent, with no mail, as the lost store may have sent them",
            clock.reminders_recorded
        );
    }
    Ok(ExitCode::SUCCESS)
}
