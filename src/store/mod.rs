//! SQLite store: numbered migrations, one transaction per message or batch.
//!
//! All SQL lives here. A requirement is kept as a JSON snapshot (what the
//! core reads) plus mirror rows for tasks and departments (what listings and
//! digests query). Incoming dedupe keys, events, state and the outbox commit
//! together, so a crash leaves either all of a message's effects or none.

pub mod restore;
mod schema;

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

    pub fn tx(&mut self) -> Result<Tx<'_>> {
        let Store { conn, spare } = self;
        let conn = &*conn;
        Ok(Tx {
            held: Default::default(),
            // `&mut self` keeps this the connection's only transaction.
            tx: Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?,
            conn,
            pending: std::cell::RefCell::new(Pending {
                rows: spare.take(),
                ..Default::default()
            }),
            spare,
        })
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

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Counts one more death of the daemon with the message `name` in
    /// hand (see [`crate::crashguard`]); returns the count.
    pub fn bump_crash(&self, name: &str) -> Result<u32> {
        let key = format!("{CRASH_PREFIX}{name}");
        let n = self
            .meta(&key)?
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        self.set_meta(&key, &n.to_string())?;
        Ok(n)
    }

    /// Every message the daemon died with in hand, with its count.
    pub fn crash_counts(&self) -> Result<Vec<(String, u32)>> {
        let mut st = self
            .conn
            .prepare("SELECT key, value FROM meta WHERE key >= ?1 AND key < ?2")?;
        let rows = st.query_map(params![CRASH_PREFIX, "crashed;"], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = vec![];
        for r in rows {
            let (k, v) = r?;
            out.push((k[CRASH_PREFIX.len()..].to_string(), v.parse().unwrap_or(0)));
        }
        Ok(out)
    }

    pub fn load_req(&self, id: ReqId) -> Result<Option<Requirement>> {
        load_req(&self.conn, id)
    }

    /// Requirements, newest first, optionally filtered by state and department.
    pub fn list_reqs(&self, state: Option<&str>, dept: Option<&str>) -> Result<Vec<Requirement>> {
        let mut st = self.conn.prepare_cached(
            "SELECT data FROM requirements r
             WHERE (?1 IS NULL OR r.state = ?1)
               AND (?2 IS NULL OR r.requester_dept = ?2
                    OR EXISTS (SELECT 1 FROM req_depts d WHERE d.req = r.id AND d.dept = ?2))
             ORDER BY r.id",
        )?;
        let rows = st.query_map(params![state, dept], |r| r.get::<_, String>(0))?;
        let mut v = vec![];
        for data in rows {
            v.push(serde_json::from_str(&data?)?);
        }
        Ok(v)
    }

    /// Every requirement still open (the clock's input), by id. Closed,
    /// cancelled and rejected ones are skipped through the state index.
    pub fn open_reqs(&self) -> Result<Vec<Requirement>> {
        let mut st = self.conn.prepare_cached(
            "SELECT data FROM requirements
             WHERE state IN ('proposed', 'clarifying', 'confirmed', 'in_progress', 'delivered')
             ORDER BY id",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut v = vec![];
        for data in rows {
            v.push(serde_json::from_str(&data?)?);
        }
        Ok(v)
    }

    /// Has the clock recorded this key (a digest slot or a reminder)?
    pub fn clock_sent(&self, key: &str) -> Result<bool> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM clock_sent WHERE key = ?1")?;
        Ok(st.exists([key])?)
    }

    /// The clock's keys with a prefix (`digest:rd:`), oldest first.
    pub fn clock_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT key FROM clock_sent WHERE substr(key, 1, length(?1)) = ?1 ORDER BY at, key",
        )?;
        let rows = st.query_map([prefix], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// A number that grows with every state change (the last event's id):
    /// the clock recomputes reminders only when it moved or time passed.
    pub fn generation(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
    }

    pub fn events(&self, req: ReqId) -> Result<Vec<Event>> {
        let mut st = self.conn.prepare_cached(
            "SELECT req, task, kind, actor, message_id, at, detail FROM events
             WHERE req = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([req.0], |r| {
            Ok((
                r.get::<_, Option<u32>>(0)?,
                r.get::<_, Option<u32>>(1)?,
                Event {
                    item: ItemId::Req(req),
                    kind: r.get(2)?,
                    actor: r.get(3)?,
                    message_id: r.get(4)?,
                    at: parse_ts(&r.get::<_, String>(5)?),
                    detail: r.get(6)?,
                },
            ))
        })?;
        let mut v = vec![];
        for row in rows {
            let (rq, task, mut e) = row?;
            e.item = item_from(rq, task).unwrap_or(ItemId::Req(req));
            v.push(e);
        }
        Ok(v)
    }

    /// Outbox mails due for delivery at `now`, oldest first.
    pub fn due_mail(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxMail>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, message_id, payload, in_reply_to, refs, created_at, attempts,
                    COALESCE(requeued_at, created_at)
             FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?1
             ORDER BY id LIMIT ?2",
        )?;
        let rows = st.query_map(params![ts(now), limit as i64], |r| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                ),
                (
                    r.get::<_, String>(5)?,
                    r.get::<_, u32>(6)?,
                    r.get::<_, String>(7)?,
                ),
            ))
        })?;
        let mut v = vec![];
        for row in rows {
            let ((id, message_id, payload, in_reply_to, refs), (created, attempts, since)) = row?;
            v.push(OutboxMail {
                id,
                message_id,
                out: serde_json::from_str(&payload)?,
                in_reply_to,
                references: serde_json::from_str(&refs)?,
                created_at: parse_ts(&created),
                since: parse_ts(&since),
                attempts,
            });
        }
        Ok(v)
    }

    /// Records delivery results in one transaction.
    pub fn mark_sent(&mut self, results: &[(i64, SendResult)], now: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut sent = tx.prepare_cached(
                "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1,
                 last_error = ?3 WHERE id = ?1",
            )?;
            let mut retry = tx.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1",
            )?;
            let mut failed = tx.prepare_cached(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1",
            )?;
            for (id, r) in results {
                match r {
                    SendResult::Sent => sent.execute(params![id, ts(now), None::<String>])?,
                    SendResult::SentExcept(note) => sent.execute(params![id, ts(now), note])?,
                    SendResult::Retry { at, error } => {
                        retry.execute(params![id, ts(*at), error])?
                    }
                    SendResult::Failed(e) => failed.execute(params![id, e])?,
                };
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Outbox mails, newest first: with `status`, those with it; without,
    /// every mail not sent (queued, failed, suppressed, bounced).
    pub fn outbox_list(&self, status: Option<&str>, limit: usize) -> Result<Vec<OutboxRecord>> {
        /// The recipients in a payload; the rest of it is not read.
        #[derive(serde::Deserialize)]
        struct Rcpts {
            #[serde(default)]
            to: Vec<Mailbox>,
            #[serde(default)]
            cc: Vec<Mailbox>,
        }
        let mut st = self.conn.prepare_cached(
            "SELECT id, message_id, kind, item, payload, status, attempts, created_at,
                    next_attempt_at, last_error, sent_at, requeued_at
             FROM outbox WHERE (?1 IS NULL AND status <> 'sent') OR status = ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![status, limit as i64], |r| {
            let payload: String = r.get(4)?;
            let rcpts = serde_json::from_str::<Rcpts>(&payload)
                .map(|p| p.to.into_iter().chain(p.cc).map(|m| m.address).collect())
                .unwrap_or_default();
            Ok(OutboxRecord {
                id: r.get(0)?,
                message_id: r.get(1)?,
                kind: r.get(2)?,
                item: r.get(3)?,
                rcpts,
                status: r.get(5)?,
                attempts: r.get(6)?,
                created_at: r.get(7)?,
                next_attempt_at: r.get(8)?,
                last_error: r.get(9)?,
                sent_at: r.get(10)?,
                requeued_at: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The ids of the outbox mails with `status`, oldest first.
    pub fn outbox_ids(&self, status: &str) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM outbox WHERE status = ?1 ORDER BY id")?;
        let rows = st.query_map([status], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Puts a failed, bounced or suppressed mail back in the queue, due at
    /// `now`, with its retry schedule and 72-hour window starting again:
    /// for an admin, once the mail server, the relay or a group alias is
    /// fixed. A suppressed mail is then sent regardless of the daily cap.
    /// The last error is kept until the next attempt replaces it.
    pub fn requeue_mail(&mut self, id: i64, now: DateTime<Utc>) -> Result<Requeue> {
        let tx = self.conn.transaction()?;
        let status: Option<String> = tx
            .query_row("SELECT status FROM outbox WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let r = match status {
            None => Requeue::Unknown,
            Some(s) if s == "queued" || s == "sent" => Requeue::NotHeld { status: s },
            Some(was) => {
                tx.execute(
                    "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?2,
                     requeued_at = ?2 WHERE id = ?1",
                    params![id, ts(now)],
                )?;
                Requeue::Queued { was }
            }
        };
        tx.commit()?;
        Ok(r)
    }

    pub fn status(&self) -> Result<StoreStatus> {
        let (messages, last_message_at) =
            self.conn
                .query_row("SELECT COUNT(*), MAX(at) FROM messages", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        let (set_aside, set_aside_waiting) = self.conn.query_row(
            "SELECT COUNT(*), COUNT(*) - COUNT(released_at) FROM set_aside",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut st = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM requirements GROUP BY state")?;
        let requirements = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(StoreStatus {
            messages,
            last_message_at,
            requirements,
            set_aside,
            set_aside_waiting,
            outbox: self.outbox_status()?,
        })
    }

    pub fn outbox_status(&self) -> Result<OutboxStatus> {
        let mut s = OutboxStatus {
            queued: 0,
            sent: 0,
            failed: 0,
            suppressed: 0,
            bounced: 0,
        };
        let mut st = self
            .conn
            .prepare_cached("SELECT status, COUNT(*) FROM outbox GROUP BY status")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
        for row in rows {
            let (k, n) = row?;
            match k.as_str() {
                "queued" => s.queued = n,
                "sent" => s.sent = n,
                "failed" => s.failed = n,
                "suppressed" => s.suppressed = n,
                "bounced" => s.bounced = n,
                _ => {}
            }
        }
        Ok(s)
    }

    pub fn set_aside_list(&self) -> Result<Vec<SetAsideRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT key, class, detail, sender, subject, at, released_at IS NOT NULL
             FROM set_aside ORDER BY at, key",
        )?;
        let rows = st.query_map([], |r| {
            Ok(SetAsideRecord {
                key: r.get(0)?,
                class: r.get(1)?,
                detail: r.get(2)?,
                sender: r.get(3)?,
                subject: r.get(4)?,
                at: r.get(5)?,
                released: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The raw bytes of a set-aside message not yet released.
    pub fn set_aside_raw(&self, key: &str) -> Result<Option<(Vec<u8>, bool)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT raw, released_at IS NOT NULL FROM set_aside WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn messages(&self) -> Result<Vec<MessageRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT key, message_id, sender, subject, verdict, req, task, at FROM messages ORDER BY rowid",
        )?;
        let rows = st.query_map([], |r| {
            Ok(MessageRecord {
                key: r.get(0)?,
                message_id: r.get(1)?,
                sender: r.get(2)?,
                subject: r.get(3)?,
                verdict: r.get(4)?,
                item: item_from(r.get(5)?, r.get(6)?).map(|i| i.to_string()),
                at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

/// A delivery attempt's result.
#[derive(Debug, Clone)]
pub enum SendResult {
    Sent,
    /// Sent to the recipients the server accepted; the note names those it
    /// refused for good, and why (kept as the row's last error).
    SentExcept(String),
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    Failed(String),
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

const SAVE_REQ: Sql = Sql {
    slot: Slot::SaveReq,
    text: "INSERT INTO requirements(id, title, requester, requester_dept, state, due, priority,
             created_at, updated_at, data)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
           ON CONFLICT(id) DO UPDATE SET title = excluded.title, state = excluded.state,
             due = excluded.due, priority = excluded.priority,
             updated_at = excluded.updated_at, data = excluded.data",
};
const SAVE_REQ_DEPT: Sql = Sql {
    slot: Slot::SaveReqDept,
    text: "INSERT INTO req_depts(req, dept, confirmed) VALUES (?1, ?2, ?3)
           ON CONFLICT(req, dept) DO UPDATE SET confirmed = excluded.confirmed",
};
const SAVE_TASK: Sql = Sql {
    slot: Slot::SaveTask,
    text: "INSERT INTO tasks(req, n, owner, assigner, dept, title, due, state, progress,
             blocked, last_report, created_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
           ON CONFLICT(req, n) DO UPDATE SET owner = excluded.owner, due = excluded.due,
             state = excluded.state, progress = excluded.progress, blocked = excluded.blocked,
             last_report = excluded.last_report",
};

/// One write transaction. Dropped without `commit` → rolled back.
///
/// A batch of messages often touches the same requirement several times
/// (a new one and its confirmations arrive together) and counts the same
/// recipients again and again. The transaction therefore keeps requirement
/// snapshots and cap counters in memory and writes each once, at
/// [`Tx::flush`] (which `commit` calls). That is safe because the
/// transaction is IMMEDIATE: no other writer can change those rows
/// meanwhile, and the pending writes go with a rollback.
pub struct Tx<'a> {
    /// The hot statements, each taken from the connection's cache once per
    /// transaction and held (a `prepare_cached` per call hashes the SQL
    /// text and moves the statement in and out of the cache every time).
    /// Declared before `tx`: they go back to the cache before it ends.
    held: Held<'a>,
    tx: Transaction<'a>,
    conn: &'a Connection,
    pending: std::cell::RefCell<Pending>,
    /// Where `commit` leaves the emptied row buffers for the next one.
    spare: &'a std::cell::RefCell<Rows>,
}

/// A statement held for a transaction's life (see [`Tx::held`]).
struct Sql {
    slot: Slot,
    text: &'static str,
}

/// Where a transaction holds each hot statement: one variant per `Sql`, so
/// that no two statements can share a place.
#[derive(Clone, Copy)]
enum Slot {
    Seen,
    RecordMessage,
    ThreadItem,
    AddEvent,
    QueueMail,
    ReadRcpt,
    LoadReq,
    RecordClock,
    AddEvents,
    RecordMessages,
    QueueMails,
    SaveReq,
    SaveReqDept,
    SaveTask,
}

const HELD: usize = Slot::SaveTask as usize + 1;
/// Each with the text it was prepared from (checked in debug builds).
type Held<'a> = [std::cell::OnceCell<(
    &'static str,
    std::cell::RefCell<rusqlite::CachedStatement<'a>>,
)>; HELD];

const SEEN: Sql = Sql {
    slot: Slot::Seen,
    text: "SELECT verdict FROM messages WHERE key = ?1",
};
const THREAD_ITEM: Sql = Sql {
    slot: Slot::ThreadItem,
    text: "SELECT req, task FROM messages
           WHERE key = ?1 AND req IS NOT NULL AND verdict LIKE 'applied:%'",
};
const ADD_EVENT: Sql = Sql {
    slot: Slot::AddEvent,
    text: "INSERT INTO events(req, task, kind, actor, message_id, at, detail)
           VALUES (?, ?, ?, ?, ?, ?, ?)",
};
/// Rows per statement when held rows are written (see `Tx::flush`).
const ROWS: usize = 32;

/// An INSERT of `ROWS` rows of `cols` columns each: `head` names the table
/// and columns, `tail` follows the rows (an upsert clause, say).
fn rows_sql(
    cell: &'static std::sync::OnceLock<String>,
    head: &str,
    cols: usize,
    tail: &str,
) -> &'static str {
    cell.get_or_init(|| {
        let row = format!("({})", vec!["?"; cols].join(","));
        format!("{head} VALUES {} {tail}", vec![row; ROWS].join(","))
    })
}

fn add_events_sql() -> Sql {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Sql {
        slot: Slot::AddEvents,
        text: rows_sql(
            &T,
            "INSERT INTO events(req, task, kind, actor, message_id, at, detail)",
            7,
            "",
        ),
    }
}

const MESSAGE_COLS: &str =
    "INSERT INTO messages(key, message_id, sender, subject, verdict, req, task, at)";
const MESSAGE_UPSERT: &str = "ON CONFLICT(key) DO UPDATE SET verdict = excluded.verdict,
    req = excluded.req, task = excluded.task, at = excluded.at";

fn record_messages_sql() -> Sql {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Sql {
        slot: Slot::RecordMessages,
        text: rows_sql(&T, MESSAGE_COLS, 8, MESSAGE_UPSERT),
    }
}

fn record_message_sql() -> Sql {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Sql {
        slot: Slot::RecordMessage,
        text: T.get_or_init(|| format!("{MESSAGE_COLS} VALUES (?,?,?,?,?,?,?,?) {MESSAGE_UPSERT}")),
    }
}
const MAIL_COLS: &str = "INSERT INTO outbox(message_id, kind, item, payload, in_reply_to, refs,
    created_at, status, next_attempt_at)";

const QUEUE_MAIL: Sql = Sql {
    slot: Slot::QueueMail,
    text: "INSERT INTO outbox(message_id, kind, item, payload, in_reply_to, refs,
             created_at, status, next_attempt_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
};

fn queue_mails_sql() -> Sql {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Sql {
        slot: Slot::QueueMails,
        text: rows_sql(&T, MAIL_COLS, 9, ""),
    }
}
const READ_RCPT: Sql = Sql {
    slot: Slot::ReadRcpt,
    text: "SELECT n FROM rcpt_day WHERE rcpt = ?1 AND day = ?2",
};
const LOAD_REQ: Sql = Sql {
    slot: Slot::LoadReq,
    text: "SELECT data FROM requirements WHERE id = ?1",
};
const RECORD_CLOCK: Sql = Sql {
    slot: Slot::RecordClock,
    text: "INSERT OR IGNORE INTO clock_sent(key, at) VALUES (?1, ?2)",
};

#[derive(Default)]
struct Pending {
    /// Requirements read or written in this transaction, by id.
    reqs: std::collections::BTreeMap<u32, CachedReq>,
    /// The highest requirement id stored when this transaction began.
    max_stored_id: Option<u32>,
    /// Daily cap counters by day, then recipient → (count, changed); a
    /// lookup by `&str` needs no allocation.
    rcpt: std::collections::HashMap<String, std::collections::HashMap<String, (u32, bool)>>,
    /// Rows held until the flush.
    rows: Rows,
}

/// The rows a transaction holds until [`Tx::flush`] writes them, many to a
/// statement. A committed transaction hands them, emptied, to the next one
/// (through [`Store::tx`]): a batch's rows then grow into memory the
/// process already has, rather than into fresh pages, each a page fault
/// and a zeroing by the kernel (the IMAP ingest's profile: 3-4 % of
/// crossdesk's CPU went to those).
#[derive(Default)]
struct Rows {
    /// Events, in the order they happened.
    events: Vec<Event>,
    /// Incoming messages recorded, in order; by key (index into
    /// `messages`) for `seen` and `thread_item`.
    messages: Vec<MessageRow>,
    message_at: std::collections::HashMap<String, usize>,
    /// Outbox mails queued, in order; their payload and references JSON
    /// (UTF-8, as serde_json writes) one after another in `text`.
    mails: Vec<MailRow>,
    text: Vec<u8>,
    /// The buffer requirement snapshots are serialised into.
    json: Vec<u8>,
}

impl Rows {
    fn clear(&mut self) {
        self.events.clear();
        self.messages.clear();
        self.message_at.clear();
        self.mails.clear();
        self.text.clear();
        self.json.clear();
    }
}

/// An outbox mail's row, held until the flush.
struct MailRow {
    message_id: String,
    kind: &'static str,
    item: Option<String>,
    /// The payload's and the references' JSON, as ranges of `Rows::text`.
    payload: std::ops::Range<usize>,
    refs: std::ops::Range<usize>,
    in_reply_to: Option<String>,
    created_at: String,
    status: &'static str,
}

struct CachedReq {
    /// The snapshot as this transaction leaves it (None: no such one).
    cur: Option<Requirement>,
    /// The snapshot as stored (None: not stored yet).
    stored: Option<Requirement>,
    dirty: bool,
}

/// An incoming message's record, held until the flush.
struct MessageRow {
    key: String,
    message_id: Option<String>,
    sender: String,
    subject: String,
    verdict: String,
    req: Option<u32>,
    task: Option<u32>,
    at: String,
}

/// Binds message records to an insert of as many rows, eight columns each.
fn bind_messages(st: &mut rusqlite::Statement<'_>, rows: &[MessageRow]) -> Result<()> {
    for (i, m) in rows.iter().enumerate() {
        let base = 8 * i;
        st.raw_bind_parameter(base + 1, &m.key)?;
        st.raw_bind_parameter(base + 2, &m.message_id)?;
        st.raw_bind_parameter(base + 3, &m.sender)?;
        st.raw_bind_parameter(base + 4, &m.subject)?;
        st.raw_bind_parameter(base + 5, &m.verdict)?;
        st.raw_bind_parameter(base + 6, m.req)?;
        st.raw_bind_parameter(base + 7, m.task)?;
        st.raw_bind_parameter(base + 8, &m.at)?;
    }
    Ok(())
}

/// Binds outbox mails to an insert of as many rows, nine columns each;
/// their JSON is in `text`.
fn bind_mails(st: &mut rusqlite::Statement<'_>, mails: &[MailRow], text: &[u8]) -> Result<()> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    // serde_json wrote the JSON as UTF-8: bound as text without checking.
    let json = |r: &std::ops::Range<usize>| ToSqlOutput::Borrowed(ValueRef::Text(&text[r.clone()]));
    for (i, m) in mails.iter().enumerate() {
        let base = 9 * i;
        st.raw_bind_parameter(base + 1, &m.message_id)?;
        st.raw_bind_parameter(base + 2, m.kind)?;
        st.raw_bind_parameter(base + 3, &m.item)?;
        st.raw_bind_parameter(base + 4, json(&m.payload))?;
        st.raw_bind_parameter(base + 5, &m.in_reply_to)?;
        st.raw_bind_parameter(base + 6, json(&m.refs))?;
        st.raw_bind_parameter(base + 7, &m.created_at)?;
        st.raw_bind_parameter(base + 8, m.status)?;
        st.raw_bind_parameter(base + 9, &m.created_at)?;
    }
    Ok(())
}

/// Binds events to an insert of as many rows, seven columns each.
fn bind_events(st: &mut rusqlite::Statement<'_>, events: &[Event]) -> Result<()> {
    for (i, e) in events.iter().enumerate() {
        let (req, task) = item_cols(Some(e.item));
        let at = ts(e.at);
        let base = 7 * i;
        st.raw_bind_parameter(base + 1, req)?;
        st.raw_bind_parameter(base + 2, task)?;
        st.raw_bind_parameter(base + 3, &e.kind)?;
        st.raw_bind_parameter(base + 4, &e.actor)?;
        st.raw_bind_parameter(base + 5, &e.message_id)?;
        st.raw_bind_parameter(base + 6, at)?;
        st.raw_bind_parameter(base + 7, &e.detail)?;
    }
    Ok(())
}

impl<'a> Tx<'a> {
    pub fn commit(self) -> Result<()> {
        self.flush()?;
        let Tx {
            held,
            tx,
            pending,
            spare,
            ..
        } = self;
        drop(held);
        tx.commit()?;
        // Emptied by the flush, kept for the next transaction.
        *spare.borrow_mut() = pending.into_inner().rows;
        Ok(())
    }

    /// One of the hot statements, prepared (or taken from the cache) on
    /// first use in this transaction. Each is used by one call at a time.
    fn held(&self, sql: &Sql) -> Result<std::cell::RefMut<'_, rusqlite::CachedStatement<'a>>> {
        let cell = &self.held[sql.slot as usize];
        if let Some((text, st)) = cell.get() {
            debug_assert_eq!(*text, sql.text, "two statements share a slot");
            return Ok(st.borrow_mut());
        }
        let st = self.conn.prepare_cached(sql.text)?;
        Ok(cell
            .get_or_init(|| (sql.text, std::cell::RefCell::new(st)))
            .1
            .borrow_mut())
    }

    /// Writes what the transaction holds in memory (requirement snapshots
    /// with their mirror rows, cap counters, message records, events).
    /// `commit` calls it; calling it first lets a caller tell a failed
    /// write from a failed commit.
    pub fn flush(&self) -> Result<()> {
        let mut p = self.pending.borrow_mut();
        let mut json = std::mem::take(&mut p.rows.json);
        for c in p.reqs.values_mut() {
            if !c.dirty {
                continue;
            }
            if let Some(r) = &c.cur {
                self.write_req(r, c.stored.as_ref(), &mut json)?;
                c.stored = Some(r.clone());
            }
            c.dirty = false;
        }
        let mut st = self.tx.prepare_cached(
            "INSERT INTO rcpt_day(rcpt, day, n) VALUES (?1, ?2, ?3)
             ON CONFLICT(rcpt, day) DO UPDATE SET n = excluded.n",
        )?;
        for (day, counts) in p.rcpt.iter_mut() {
            for (rcpt, (n, changed)) in counts.iter_mut() {
                if *changed {
                    st.execute(params![rcpt, day, *n])?;
                    *changed = false;
                }
            }
        }
        let mut rows = std::mem::take(&mut p.rows);
        rows.json = json;
        drop(p);
        self.write_rows(
            &rows.messages,
            &record_messages_sql(),
            &record_message_sql(),
            bind_messages,
        )?;
        self.write_rows(&rows.events, &add_events_sql(), &ADD_EVENT, bind_events)?;
        let text = rows.text.as_slice();
        self.write_rows(&rows.mails, &queue_mails_sql(), &QUEUE_MAIL, |st, mails| {
            bind_mails(st, mails, text)
        })?;
        rows.clear();
        self.pending.borrow_mut().rows = rows;
        Ok(())
    }

    /// Writes a requirement's snapshot, serialised into `json` (a buffer
    /// kept between them). `old` is the snapshot it replaces (None for a
    /// new one): only department and task rows that changed are written.
    fn write_req(
        &self,
        r: &Requirement,
        old: Option<&Requirement>,
        json: &mut Vec<u8>,
    ) -> Result<()> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        json.clear();
        serde_json::to_writer(&mut *json, r)?;
        // serde_json writes UTF-8: bound as text without checking it again.
        let data = ToSqlOutput::Borrowed(ValueRef::Text(json));
        self.held(&SAVE_REQ)?.execute(params![
            r.id.0,
            r.title,
            r.requester.address,
            r.requester_dept,
            r.state.as_str(),
            r.due.map(|d| d.to_string()),
            r.priority.as_str(),
            ts(r.created_at),
            ts(r.updated_at),
            data
        ])?;
        for d in &r.depts {
            if old.is_some_and(|o| o.depts.contains(d)) {
                continue;
            }
            self.held(&SAVE_REQ_DEPT)?
                .execute(params![r.id.0, d.id, d.confirmed])?;
        }
        for t in &r.tasks {
            if old.is_some_and(|o| o.tasks.contains(t)) {
                continue;
            }
            self.held(&SAVE_TASK)?.execute(params![
                r.id.0,
                t.id.n,
                t.owner.address,
                t.assigner.address,
                t.dept,
                t.title,
                t.due.map(|d| d.to_string()),
                t.state.as_str(),
                t.progress,
                t.blocked,
                t.last_report.map(ts),
                ts(t.created_at)
            ])?;
        }
        Ok(())
    }

    /// Records a clock key; false when it was recorded already (then its
    /// mail must not be queued again).
    pub fn record_clock(&self, key: &str, at: DateTime<Utc>) -> Result<bool> {
        let mut st = self.held(&RECORD_CLOCK)?;
        Ok(st.execute(params![key, ts(at)])? == 1)
    }

    /// Has this dedupe key been acted on (or set aside) already?
    pub fn seen(&self, key: &str) -> Result<Option<String>> {
        {
            let p = self.pending.borrow();
            if let Some(&i) = p.rows.message_at.get(key) {
                return Ok(Some(p.rows.messages[i].verdict.clone()));
            }
        }
        let mut st = self.held(&SEEN)?;
        Ok(st.query_row([key], |r| r.get(0)).optional()?)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record_message(
        &self,
        key: &str,
        message_id: Option<&str>,
        sender: &str,
        subject: &str,
        verdict: &str,
        item: Option<ItemId>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let (req, task) = item_cols(item);
        let mut p = self.pending.borrow_mut();
        let p = &mut p.rows;
        // Held until the flush, as an upsert: recorded twice in one
        // transaction, the second record's verdict, item and time count.
        match p.message_at.get(key) {
            Some(&i) => {
                let m = &mut p.messages[i];
                m.verdict = verdict.to_string();
                (m.req, m.task) = (req, task);
                m.at = ts(at);
            }
            None => {
                p.message_at.insert(key.to_string(), p.messages.len());
                p.messages.push(MessageRow {
                    key: key.to_string(),
                    message_id: message_id.map(str::to_string),
                    sender: sender.to_string(),
                    subject: subject.to_string(),
                    verdict: verdict.to_string(),
                    req,
                    task,
                    at: ts(at),
                });
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn set_aside(
        &self,
        key: &str,
        class: &str,
        detail: &str,
        sender: &str,
        subject: &str,
        raw: &[u8],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut st = self.tx.prepare_cached(
            "INSERT INTO set_aside(key, class, detail, sender, subject, raw, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(key) DO UPDATE SET class = excluded.class, detail = excluded.detail,
               released_at = NULL",
        )?;
        st.execute(params![key, class, detail, sender, subject, raw, ts(at)])?;
        Ok(())
    }

    pub fn mark_released(&self, key: &str, at: DateTime<Utc>) -> Result<()> {
        self.tx.execute(
            "UPDATE set_aside SET released_at = ?2 WHERE key = ?1",
            params![key, ts(at)],
        )?;
        Ok(())
    }

    /// A bounce of our own mail: recorded against the outgoing message.
    /// Returns whether a message of ours matched.
    pub fn record_bounce(&self, message_id: &str, detail: &str) -> Result<bool> {
        let n = self.tx.execute(
            "UPDATE outbox SET status = 'bounced', last_error = ?2 WHERE message_id = ?1",
            params![message_id, detail],
        )?;
        Ok(n > 0)
    }

    /// The item a Message-ID we received belongs to: the message's own
    /// record, when it was acted on about an item. (Our own Message-IDs
    /// name their item themselves; the record of every incoming message is
    /// written anyway, so correlation costs no row of its own.)
    pub fn thread_item(&self, ids: &[&str]) -> Result<Option<ItemId>> {
        let mut st = self.held(&THREAD_ITEM)?;
        for id in ids {
            let key = format!("mid:{id}");
            {
                let p = self.pending.borrow();
                if let Some(&i) = p.rows.message_at.get(&key) {
                    let m = &p.rows.messages[i];
                    if m.req.is_some() && m.verdict.starts_with("applied:") {
                        return Ok(item_from(m.req, m.task));
                    }
                    continue;
                }
            }
            let r: Option<(u32, Option<u32>)> = st
                .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((req, task)) = r {
                return Ok(item_from(Some(req), task));
            }
        }
        Ok(None)
    }

    /// The first Message-ID of a requirement's thread, for one stored
    /// before requirements kept their root (`root_message_id`): the
    /// `threads` table, which earlier versions wrote, recorded it.
    pub fn thread_root(&self, req: ReqId) -> Result<Option<String>> {
        let mut st = self.tx.prepare_cached(
            "SELECT message_id FROM threads WHERE req = ?1 ORDER BY rowid LIMIT 1",
        )?;
        Ok(st.query_row([req.0], |r| r.get(0)).optional()?)
    }

    pub fn load_req(&self, id: ReqId) -> Result<Option<Requirement>> {
        if let Some(c) = self.pending.borrow().reqs.get(&id.0) {
            return Ok(c.cur.clone());
        }
        let r = req_from(
            self.held(&LOAD_REQ)?
                .query_row([id.0], |r| r.get(0))
                .optional()?,
        )?;
        self.pending.borrow_mut().reqs.insert(
            id.0,
            CachedReq {
                cur: r.clone(),
                stored: r.clone(),
                dirty: false,
            },
        );
        Ok(r)
    }

    pub fn next_req_id(&self) -> Result<ReqId> {
        let mut p = self.pending.borrow_mut();
        let stored = match p.max_stored_id {
            Some(n) => n,
            None => {
                // A restored store continues past the numbers the backup
                // did not know of (see `restore`).
                let n: u32 = self
                    .tx
                    .prepare_cached(
                        "SELECT MAX(
                           (SELECT COALESCE(MAX(id), 0) FROM requirements),
                           COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1), 0))",
                    )?
                    .query_row([restore::REQ_FLOOR], |r| r.get(0))?;
                p.max_stored_id = Some(n);
                n
            }
        };
        let held = p
            .reqs
            .iter()
            .filter(|(_, c)| c.cur.is_some())
            .map(|(id, _)| *id)
            .max()
            .unwrap_or(0);
        Ok(ReqId(stored.max(held) + 1))
    }

    /// Keeps a requirement's new snapshot, written at [`Tx::flush`] (only
    /// the department and task rows that changed since the stored one).
    pub fn save_req(&self, r: Requirement) -> Result<()> {
        if !self.pending.borrow().reqs.contains_key(&r.id.0) {
            // Not read in this transaction: learn what is stored first.
            self.load_req(r.id)?;
        }
        let mut p = self.pending.borrow_mut();
        let c = p.reqs.get_mut(&r.id.0).expect("cached by load_req");
        c.cur = Some(r);
        c.dirty = true;
        Ok(())
    }

    /// Keeps events for [`Tx::flush`], which writes them in order, many
    /// rows per statement (nothing reads them back inside a transaction).
    pub fn add_events(&self, events: Vec<Event>) -> Result<()> {
        self.pending.borrow_mut().rows.events.extend(events);
        Ok(())
    }

    /// Writes held rows in order: `ROWS` to a statement (`many`), the
    /// rest one by one (`one`); `bind` binds a slice of rows.
    fn write_rows<T>(
        &self,
        rows: &[T],
        many: &Sql,
        one: &Sql,
        bind: impl Fn(&mut rusqlite::Statement<'_>, &[T]) -> Result<()>,
    ) -> Result<()> {
        for chunk in rows.chunks(ROWS) {
            if chunk.len() == ROWS {
                let mut st = self.held(many)?;
                bind(&mut st, chunk)?;
                st.raw_execute()?;
            } else {
                let mut st = self.held(one)?;
                for r in chunk {
                    bind(&mut st, std::slice::from_ref(r))?;
                    st.raw_execute()?;
                }
            }
        }
        Ok(())
    }

    /// Counts one more automated mail for this address on this local day
    /// and returns the new count. The count is read once per transaction
    /// and written at [`Tx::flush`]: the cap is on the hot path.
    pub fn bump_rcpt(&self, rcpt: &str, day: &str) -> Result<u32> {
        let mut p = self.pending.borrow_mut();
        if let Some((n, changed)) = p.rcpt.get_mut(day).and_then(|d| d.get_mut(rcpt)) {
            *n += 1;
            *changed = true;
            return Ok(*n);
        }
        let mut st = self.held(&READ_RCPT)?;
        let n: u32 = st
            .query_row(params![rcpt, day], |r| r.get(0))
            .optional()?
            .unwrap_or(0)
            + 1;
        p.rcpt
            .entry(day.to_string())
            .or_default()
            .insert(rcpt.to_string(), (n, true));
        Ok(n)
    }

    /// Forgets the deaths counted with the message `name` in hand (see
    /// [`Store::bump_crash`]): it has been handled since.
    pub fn forget_crash(&self, name: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM meta WHERE key = ?1",
            [format!("{CRASH_PREFIX}{name}")],
        )?;
        Ok(())
    }

    /// Queues a mail in the outbox (same transaction as the state change),
    /// written at [`Tx::flush`] with the other held rows.
    pub fn queue_mail(
        &self,
        message_id: &str,
        out: &Outgoing,
        in_reply_to: Option<&str>,
        references: &[String],
        now: DateTime<Utc>,
        suppressed: bool,
    ) -> Result<()> {
        let mut p = self.pending.borrow_mut();
        let rows = &mut p.rows;
        let start = rows.text.len();
        let res = serde_json::to_writer(&mut rows.text, out).map(|()| rows.text.len());
        let res =
            res.and_then(|end| serde_json::to_writer(&mut rows.text, references).map(|()| end));
        let payload_end = match res {
            Ok(end) => end,
            Err(e) => {
                rows.text.truncate(start);
                return Err(e.into());
            }
        };
        let (payload, refs) = (start..payload_end, payload_end..rows.text.len());
        rows.mails.push(MailRow {
            message_id: message_id.to_string(),
            kind: out.kind.name(),
            item: out.item.clone(),
            payload,
            refs,
            in_reply_to: in_reply_to.map(str::to_string),
            created_at: ts(now),
            status: if suppressed { "suppressed" } else { "queued" },
        });
        Ok(())
    }
}

/// Recipients of a stored outbox mail (To then Cc).
pub fn recipients(out: &Outgoing) -> Vec<&Mailbox> {
    out.to.iter().chain(out.cc.iter()).collect()
}

#[cfg(test)]
mod tests;
