//! SQLite store: numbered migrations, one transaction per message or batch.
//!
//! All SQL lives here: `tx` (the per-batch transaction and its held
//! writes), `outbox` (queued mail, sends recorded, retries), `queries`
//! (what the CLI and the clock read), `meta` (key-values: cursors, crash
//! counts, the clock's keys), `locks` (the files beside the store that
//! keep one daemon and one sender per store), `restore`. A requirement is kept as a JSON snapshot (what the
//! core reads) plus mirror rows for tasks and departments (what listings and
//! digests query). Incoming dedupe keys, events, state and the outbox commit
//! together, so a crash leaves either all of a message's effects or none.

mod files;
mod im;
pub mod locks;
mod meta;
mod outbox;
mod queries;
pub mod restore;
mod schema;
mod tx;

pub use files::{FileStore, StoredFile};
pub use im::{ImOutboxRow, ImRecord};
pub use locks::LockError;
pub use outbox::SendResult;
pub use tx::Tx;
use tx::{Rows, LOAD_REQ};

use crate::model::{Event, ItemId, Mailbox, Outgoing, ReqId, Requirement, TaskId};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not a `source`: SQLite's message is the whole story, and error
    /// chains would print it three times.
    #[error("database: {0}")]
    Sql(rusqlite::Error),
    #[error("stored data unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot create {path}: {err}")]
    Dir { path: String, err: std::io::Error },
    #[error("keeping a file in {path}: {err}")]
    File { path: String, err: std::io::Error },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sql(e)
    }
}

pub struct Store {
    conn: Connection,
    /// The row buffers of the last committed transaction, emptied, for the
    /// next one (see [`Rows`]).
    spare: std::cell::RefCell<Rows>,
}

/// What became of an incoming message, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRecord {
    pub key: String,
    pub message_id: Option<String>,
    pub sender: String,
    pub subject: String,
    pub verdict: String,
    pub item: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetAsideRecord {
    pub key: String,
    pub class: String,
    pub detail: String,
    pub sender: String,
    pub subject: String,
    pub at: String,
    pub released: bool,
}

/// One mail waiting in (or gone through) the outbox.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub id: i64,
    pub message_id: String,
    pub out: Outgoing,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Where its retry window starts: when it was queued, or when an admin
    /// last put it back in the queue.
    pub since: DateTime<Utc>,
    pub attempts: u32,
}

/// One outbox mail as `crossdesk outbox list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRecord {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub item: Option<String>,
    /// To and Cc addresses.
    pub rcpts: Vec<String>,
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    pub requeued_at: Option<String>,
}

/// The statuses an outbox mail can have.
pub const OUTBOX_STATUSES: [&str; 5] = ["queued", "sent", "failed", "suppressed", "bounced"];

/// What `Store::requeue_mail` did with one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    /// Put back in the queue, due at once; it had this status.
    Queued {
        was: String,
    },
    /// Not held back (queued, or sent): left as it is.
    NotHeld {
        status: String,
    },
    Unknown,
}

/// What `crossdesk status` tells of the store.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    /// Messages acted on, refused or set aside.
    pub messages: u64,
    /// When the last of them was recorded (RFC 3339, UTC).
    pub last_message_at: Option<String>,
    /// Requirements per state.
    pub requirements: BTreeMap<String, u64>,
    /// Messages set aside, and those of them not released.
    pub set_aside: u64,
    pub set_aside_waiting: u64,
    pub outbox: OutboxStatus,
    /// Robot messages per status (none when no robot ever had one).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub im_outbox: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxStatus {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub suppressed: u64,
    pub bounced: u64,
}

/// `2026-11-26T02:00:00.123Z`, as chrono's RFC 3339 with milliseconds
/// writes it, without its general formatter (several per message).
fn ts(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let y = t.year();
    if !(0..=9999).contains(&y) {
        return t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    }
    let mut b = [0u8; 24];
    let mut put = |at: usize, v: u32, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    // A leap second (chrono: nanoseconds past 1e9) is written as .999.
    put(20, (t.nanosecond() / 1_000_000).min(999), 3);
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        b[at] = c;
    }
    String::from_utf8(b.to_vec()).expect("ascii")
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn item_cols(item: Option<ItemId>) -> (Option<u32>, Option<u32>) {
    match item {
        None => (None, None),
        Some(ItemId::Req(r)) => (Some(r.0), None),
        Some(ItemId::Task(t)) => (Some(t.req.0), Some(t.n)),
    }
}

fn item_from(req: Option<u32>, task: Option<u32>) -> Option<ItemId> {
    let req = ReqId(req?);
    Some(match task {
        Some(n) => ItemId::Task(TaskId { req, n }),
        None => ItemId::Req(req),
    })
}

/// A file beside the store, named `<store><suffix>`: its `-wal`, its
/// locks (`.run-lock`), the crash guard's `.in-hand`.
pub fn beside(store: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
}

/// The meta keys that count the daemon's deaths per message in hand.
const CRASH_PREFIX: &str = "crashed:";

impl Store {
    /// Opens (creating if needed) the database and brings the schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|err| StoreError::Dir {
                path: dir.display().to_string(),
                err,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // 8 KiB pages (set when the file is created; an existing file keeps
        // its own): an outbox row is about 1.5 KiB and a commit writes each
        // dirty page as a WAL frame, so fewer, larger pages cost less per
        // commit (ingest bench: commit 0.21-0.27 s → 0.17-0.21 s per 10,000).
        conn.pragma_update(None, "page_size", 8192)?;
        // WAL with FULL sync: a commit is on disk before the message leaves
        // the inbox, so a power cut cannot lose a message we moved.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The -wal and -shm files stay when the last connection closes,
        // the WAL checkpointed and truncated to zero (what any size limit
        // does at close), instead of being deleted and created again by the
        // next process: a command piped per message would otherwise pay
        // two file creations and two deletions each time. While open, a
        // WAL past 64 MiB is cut back after a checkpoint.
        let mut persist: std::ffi::c_int = 1;
        // SAFETY: the connection's handle is valid while `conn` lives; the
        // file control reads and writes the int it is given.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
                (&mut persist as *mut std::ffi::c_int).cast(),
            )
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(rc, "persistent WAL not available");
        }
        conn.pragma_update(None, "journal_size_limit", 64 << 20)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A 64 MiB page cache keeps a backlog's working set in memory
        // between statements; WAL checkpoints stay automatic.
        conn.pragma_update(None, "cache_size", -65536)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let mut s = Store {
            conn,
            spare: Default::default(),
        };
        schema::migrate(&mut s.conn)?;
        Ok(s)
    }

    /// Makes every write fail, as a full disk would (tests only).
    #[cfg(test)]
    pub(crate) fn refuse_writes(&self, refuse: bool) {
        self.conn
            .pragma_update(None, "query_only", refuse)
            .expect("query_only");
    }

    /// Whether the daemon can keep its store at `path`, without touching
    /// it (for `crossdesk check`): the file, when it exists, and its
    /// directory (where SQLite puts the -wal and -shm files) must be
    /// writable; when neither exists yet, the nearest existing directory
    /// above, where the daemon will create the rest. `Err` says why not.
    pub fn check_writable(path: &Path) -> std::result::Result<(), String> {
        use std::os::unix::ffi::OsStrExt;
        let writable = |p: &Path, mode: libc::c_int| -> std::result::Result<(), String> {
            let c = std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| format!("{}: a NUL in the path", p.display()))?;
            // SAFETY: access(2) on a NUL-terminated path; it only reads it.
            if unsafe { libc::access(c.as_ptr(), mode) } == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} is not writable ({})",
                    p.display(),
                    std::io::Error::last_os_error()
                ))
            }
        };
        if path.exists() {
            writable(path, libc::W_OK)?;
        }
        let mut dir = path.parent().unwrap_or(Path::new("."));
        if dir.as_os_str().is_empty() {
            dir = Path::new(".");
        }
        while !dir.exists() {
            dir = match dir.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
        }
        if !dir.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        writable(dir, libc::W_OK | libc::X_OK)
    }

    /// A consistent, compacted copy of the store in a new file at `path`
    /// (`VACUUM INTO`: a read transaction, so writers go on meanwhile).
    pub fn backup_to(&self, path: &Path) -> Result<()> {
        let target = path.to_str().ok_or_else(|| StoreError::Dir {
            path: path.display().to_string(),
            err: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not UTF-8"),
        })?;
        self.conn.execute("VACUUM INTO ?1", [target])?;
        Ok(())
    }

    /// Reads the file through a memory map rather than a copy into the
    /// page cache per page (for the look-up commands, which read and exit:
    /// `status` on 10,000 requirements 1 ms less, a 5,000-row `list` 4 ms).
    /// Not for the daemon: an I/O error while reading a map is a signal
    /// that ends the process, where a read returns an error it can report.
    pub fn map_for_reading(&self) -> Result<()> {
        // As much as SQLite allows (2 GiB unless built otherwise); the
        // part of a larger file past it is read as before.
        self.conn.pragma_update(None, "mmap_size", 1i64 << 40)?;
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }
}

fn load_req(conn: &Connection, id: ReqId) -> Result<Option<Requirement>> {
    let mut st = conn.prepare_cached(LOAD_REQ.text)?;
    req_from(st.query_row([id.0], |r| r.get(0)).optional()?)
}

/// A requirement from its stored snapshot (`data`), when there is one.
fn req_from(data: Option<String>) -> Result<Option<Requirement>> {
    Ok(match data {
        Some(d) => Some(serde_json::from_str(&d)?),
        None => None,
    })
}

/// Recipients of a stored outbox mail (To then Cc).
pub fn recipients(out: &Outgoing) -> Vec<&Mailbox> {
    out.to.iter().chain(out.cc.iter()).collect()
}

#[cfg(test)]
mod tests;
