//! `crossdesk restore`: a backup (`crossdesk backup`) put back as the
//! store, with the daemon stopped.
//!
//! The backup knows nothing of what happened after it was taken, and two
//! things of that would go wrong on their own:
//! - requirement numbers given out since would be given out again, and a
//!   reply to a mail about the old REQ-105 would act on the new one. New
//!   numbers therefore continue past a gap (`meta req_floor`);
//! - mail queued when the backup was taken was most likely sent soon
//!   after; sent again, people would get it twice. It is held as failed,
//!   with a note, for the admin to send (`outbox retry`) where it was not.

use super::{beside, parse_ts, schema, ts};
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;

/// The meta key of the highest requirement number that may have been
/// given out: new requirements are numbered above it.
pub const REQ_FLOOR: &str = "req_floor";

/// The note an outbox mail held at a restore carries as its last error.
pub const HELD_AT_RESTORE: &str = "held at restore: it was queued when the backup was taken, so it was most likely sent since; `crossdesk outbox retry ID` sends it";

/// The largest gap: a million numbers, whatever the backup's age.
pub const MAX_GAP: u32 = 1_000_000;

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The backup's schema version (migrated to this build's).
    pub schema: i64,
    /// When the backup's last message was recorded (RFC 3339), if any.
    pub last_message_at: Option<String>,
    /// The backup's highest requirement number (or the floor it had).
    pub last_req: u32,
    /// Numbers skipped past it.
    pub gap: u32,
    /// Outbox mails that were queued in the backup, now held as failed.
    pub held: usize,
}

impl Restored {
    /// The number the next new requirement gets.
    pub fn next_req(&self) -> u32 {
        self.last_req + self.gap + 1
    }
}

/// The gap when none is given: at least 100 numbers, or twice as many as
/// the backup's last 30 days gave out per day, for every day from its last
/// message to `now` (and the day itself).
fn auto_gap(
    conn: &Connection,
    last_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> anyhow::Result<u32> {
    let Some(last) = last_at else {
        return Ok(100);
    };
    let since = ts(last - chrono::Duration::days(30));
    let recent: i64 = conn.query_row(
        "SELECT COUNT(*) FROM requirements WHERE created_at >= ?1",
        [since],
        |r| r.get(0),
    )?;
    let days = (now - last).num_days().max(0) + 1;
    let gap = (2.0 * recent as f64 / 30.0 * days as f64).ceil() as u32;
    Ok(gap.clamp(100, MAX_GAP))
}

/// Puts the backup at `backup` in place as the store at `store` (the
/// caller holds the store's run and send locks): checked, copied
/// consistently, migrated, requirement numbers moved past a gap (`gap`,
/// or [`auto_gap`]), queued mail held. The old store's `-wal` and `-shm`
/// go (they belong to the file replaced); the new file takes its place by
/// a rename, so a crash leaves the old store or the new one, whole.
pub fn restore(
    backup: &Path,
    store: &Path,
    gap: Option<u32>,
    now: DateTime<Utc>,
) -> anyhow::Result<Restored> {
    let name = backup.display();
    if !backup.is_file() {
        bail!("{name}: no such file");
    }
    let src = Connection::open_with_flags(
        backup,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("{name}: cannot open it as a store"))?;
    let check: String = src
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .with_context(|| format!("{name}: not a crossdesk store (SQLite cannot read it)"))?;
    if check != "ok" {
        bail!("{name}: the file is damaged ({check})");
    }
    let version: i64 = src.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let has_reqs: bool = src.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'requirements'",
        [],
        |r| r.get(0),
    )?;
    if version < 1 || !has_reqs {
        bail!("{name}: not a crossdesk store");
    }
    if version as usize > schema::LATEST {
        bail!(
            "{name}: written by a newer crossdesk (schema version {version}; this one knows up to {})",
            schema::LATEST
        );
    }
    let last_id: u32 = src.query_row("SELECT COALESCE(MAX(id), 0) FROM requirements", [], |r| {
        r.get(0)
    })?;
    let floor: u32 = src
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1",
            [REQ_FLOOR],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let last_req = last_id.max(floor);
    let last_message_at: Option<String> =
        src.query_row("SELECT MAX(at) FROM messages", [], |r| r.get(0))?;
    let gap = match gap {
        Some(g) if g > MAX_GAP => bail!("--gap {g}: at most {MAX_GAP}"),
        Some(g) => g,
        None => auto_gap(&src, last_message_at.as_deref().map(parse_ts), now)?,
    };

    if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    // A consistent copy (with whatever the backup's own -wal holds), in
    // a rollback journal, beside the store: nothing else beside it.
    let tmp = beside(store, ".restoring");
    let _ = std::fs::remove_file(&tmp);
    let tmp_text = tmp
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{}: not UTF-8", tmp.display()))?;
    src.execute("VACUUM INTO ?1", [tmp_text])
        .with_context(|| format!("copying {name} to {}", tmp.display()))?;
    drop(src);
    let held = {
        let mut c = Connection::open(&tmp)?;
        schema::migrate(&mut c)?;
        let tx = c.transaction()?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            rusqlite::params![REQ_FLOOR, (last_req + gap).to_string()],
        )?;
        let held = tx.execute(
            "UPDATE outbox SET status = 'failed', last_error = ?1 WHERE status = 'queued'",
            [HELD_AT_RESTORE],
        )?;
        tx.commit()?;
        held
    };
    // The store's owner and mode go to the new file (an admin restoring
    // as root must not leave the daemon's user a file it cannot write).
    if let Ok(old) = std::fs::metadata(store) {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::chown(&tmp, Some(old.uid()), Some(old.gid()));
        std::fs::set_permissions(&tmp, old.permissions())?;
    }
    std::fs::File::open(&tmp)?.sync_all()?;
    // The old file's -wal would be replayed onto the new one: it goes
    // first, and the new file takes the old one's place in one rename.
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(beside(store, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing {}{suffix}", store.display()))
            }
        }
    }
    std::fs::rename(&tmp, store)
        .with_context(|| format!("{} → {}", tmp.display(), store.display()))?;
    if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(Restored {
        schema: version,
        last_message_at,
        last_req,
        gap,
        held: held as usize,
    })
}
