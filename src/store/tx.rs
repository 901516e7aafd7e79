//! The per-batch transaction: a message's dedupe key, events, state and
//! outgoing mail commit together. Rows are held and written many to a
//! statement at the flush; statements are kept per transaction.

use super::*;

impl Store {
    /// Begins a write transaction (IMMEDIATE: a second process waits for
    /// this one rather than failing half-way).
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
}

const SAVE_REQ: Sql = Sql {
    slot: Stmt::SaveReq,
    text: "INSERT INTO requirements(id, title, requester, requester_dept, state, due, priority,
             created_at, updated_at, data)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
           ON CONFLICT(id) DO UPDATE SET title = excluded.title, state = excluded.state,
             due = excluded.due, priority = excluded.priority,
             updated_at = excluded.updated_at, data = excluded.data",
};
const SAVE_REQ_DEPT: Sql = Sql {
    slot: Stmt::SaveReqDept,
    text: "INSERT INTO req_depts(req, dept, confirmed) VALUES (?1, ?2, ?3)
           ON CONFLICT(req, dept) DO UPDATE SET confirmed = excluded.confirmed",
};
const SAVE_TASK: Sql = Sql {
    slot: Stmt::SaveTask,
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
    pub(super) tx: Transaction<'a>,
    conn: &'a Connection,
    pending: std::cell::RefCell<Pending>,
    /// Where `commit` leaves the emptied row buffers for the next one.
    spare: &'a std::cell::RefCell<Rows>,
}

/// A statement held for a transaction's life (see [`Tx::held`]).
pub(super) struct Sql {
    slot: Stmt,
    pub(super) text: &'static str,
}

/// Where a transaction holds each hot statement: one variant per `Sql`, so
/// that no two statements can share a place.
#[derive(Clone, Copy)]
enum Stmt {
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

const HELD: usize = Stmt::SaveTask as usize + 1;
/// Each with the text it was prepared from (checked in debug builds).
type Held<'a> = [std::cell::OnceCell<(
    &'static str,
    std::cell::RefCell<rusqlite::CachedStatement<'a>>,
)>; HELD];

const SEEN: Sql = Sql {
    slot: Stmt::Seen,
    text: "SELECT verdict FROM messages WHERE key = ?1",
};
const THREAD_ITEM: Sql = Sql {
    slot: Stmt::ThreadItem,
    text: "SELECT req, task FROM messages
           WHERE key = ?1 AND req IS NOT NULL AND verdict LIKE 'applied:%'",
};
const ADD_EVENT: Sql = Sql {
    slot: Stmt::AddEvent,
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
        slot: Stmt::AddEvents,
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
        slot: Stmt::RecordMessages,
        text: rows_sql(&T, MESSAGE_COLS, 8, MESSAGE_UPSERT),
    }
}

fn record_message_sql() -> Sql {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Sql {
        slot: Stmt::RecordMessage,
        text: T.get_or_init(|| format!("{MESSAGE_COLS} VALUES (?,?,?,?,?,?,?,?) {MESSAGE_UPSERT}")),
    }
}
const MAIL_COLS: &str = "INSERT INTO outbox(message_id, kind, item, payload, in_reply_to, refs,
    created_at, status, next_attempt_at)";

const QUEUE_MAIL: Sql = Sql {
    slot: Stmt::QueueMail,
    text: "INSERT INTO outbox(message_id, kind, item, payload, in_reply_to, refs,
             created_at, status, next_attempt_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
};

fn queue_mails_sql() -> Sql {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Sql {
        slot: Stmt::QueueMails,
        text: rows_sql(&T, MAIL_COLS, 9, ""),
    }
}
const READ_RCPT: Sql = Sql {
    slot: Stmt::ReadRcpt,
    text: "SELECT n FROM rcpt_day WHERE rcpt = ?1 AND day = ?2",
};
pub(super) const LOAD_REQ: Sql = Sql {
    slot: Stmt::LoadReq,
    text: "SELECT data FROM requirements WHERE id = ?1",
};
const RECORD_CLOCK: Sql = Sql {
    slot: Stmt::RecordClock,
    text: "INSERT OR IGNORE INTO clock_sent(key, at) VALUES (?1, ?2)",
};

#[derive(Default)]
pub(super) struct Pending {
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
pub(super) struct Rows {
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

    /// A requirement's events, oldest first, those of this transaction
    /// included (a look-up's history).
    pub fn events(&self, req: ReqId) -> Result<Vec<Event>> {
        self.flush()?;
        super::queries::events(&self.tx, req)
    }

    /// Every open requirement as this transaction sees it (`[MINE]`).
    pub fn open_reqs(&self) -> Result<Vec<Requirement>> {
        self.flush()?;
        super::queries::open_reqs(&self.tx)
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
