use super::*;
use crate::model::*;
use chrono::{TimeZone, Timelike};

fn req(id: u32) -> Requirement {
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap();
    Requirement {
        id: ReqId(id),
        title: "导出客户数据".into(),
        requester: Mailbox::new(Some("赵六"), "zhaoliu@corp.example"),
        requester_dept: Some("sales".into()),
        depts: vec![DeptStatus {
            id: "rd".into(),
            confirmed: false,
        }],
        due: None,
        quality: None,
        priority: Priority::High,
        description: "d".into(),
        state: ReqState::Proposed,
        tasks: vec![],
        milestones: vec![],
        created_at: now,
        updated_at: now,
        root_message_id: Some("root@x".into()),
    }
}

/// The counts `status` reads are what counting the rows says.
fn assert_counts_agree(s: &Store) {
    for table in ["messages", "outbox", "im_outbox"] {
        let n: u64 = s
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(s.total(table).unwrap(), n, "{table}");
    }
    for (table, col) in [
        ("requirements", "state"),
        ("outbox", "status"),
        ("im_outbox", "status"),
    ] {
        let mut st = s
            .conn
            .prepare(&format!(
                "SELECT {col}, COUNT(*) FROM {table} GROUP BY {col} ORDER BY 1"
            ))
            .unwrap();
        let counted: Vec<(String, u64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let read = match table {
            "requirements" => s.req_counts().unwrap(),
            t => s.status_counts(t).unwrap(),
        };
        assert_eq!(read, counted, "{table}");
    }
}

/// A store written before the requirement counts were kept (schema 6)
/// gets them from its rows when it is opened; from then on the triggers
/// keep them, through inserts, upserts that change a state, and deletes.
/// The outbox's are counted from the mail not sent and the table's size.
#[test]
fn counts_are_filled_by_the_migration_and_kept_by_the_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.db");
    let mut s = Store::open(&p).unwrap();
    let tx = s.tx().unwrap();
    for id in 1..=3 {
        tx.save_req(req(id)).unwrap();
    }
    tx.commit().unwrap();
    s.conn
        .execute_batch(
            "DROP TRIGGER requirements_count_ins; DROP TRIGGER requirements_count_upd;
             DROP TRIGGER requirements_count_del; DROP TABLE counts;
             DROP TRIGGER messages_kept; DROP TRIGGER outbox_kept;
             DROP TRIGGER im_outbox_kept; DROP INDEX set_aside_waiting;
             DROP INDEX set_aside_list; PRAGMA user_version = 6;
             INSERT INTO outbox(message_id, kind, payload, refs, created_at, status,
                                next_attempt_at)
             VALUES ('a@x', 'ack', '{}', '[]', 't', 'sent', 't'),
                    ('b@x', 'ack', '{}', '[]', 't', 'queued', 't'),
                    ('c@x', 'ack', '{}', '[]', 't', 'sent', 't');",
        )
        .unwrap();
    drop(s);
    let mut s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap() as usize, schema::LATEST);
    assert_eq!(s.req_counts().unwrap(), [("proposed".into(), 3)]);
    assert_eq!(
        s.status_counts("outbox").unwrap(),
        [("queued".into(), 1), ("sent".into(), 2)]
    );
    assert_counts_agree(&s);

    let tx = s.tx().unwrap();
    let mut r = req(2);
    r.state = ReqState::Confirmed;
    tx.save_req(r).unwrap(); // an upsert that changes the state
    tx.save_req(req(3)).unwrap(); // one that does not
    tx.save_req(req(4)).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        s.req_counts().unwrap(),
        [("confirmed".into(), 1), ("proposed".into(), 3)]
    );
    s.conn
        .execute_batch(
            "UPDATE outbox SET status = 'bounced' WHERE message_id = 'a@x';
             UPDATE outbox SET status = 'sent' WHERE status = 'queued';
             DELETE FROM req_depts WHERE req = 2;
             DELETE FROM requirements WHERE id = 2;",
        )
        .unwrap();
    assert_eq!(
        s.status_counts("outbox").unwrap(),
        [("bounced".into(), 1), ("sent".into(), 2)]
    );
    assert_eq!(s.req_counts().unwrap(), [("proposed".into(), 3)]);
    assert_counts_agree(&s);
}

/// The size of the message, mail and robot tables is read from their
/// largest rowid: rows deleted by hand before schema 8 are counted once
/// when it is applied, and from then on a delete is refused, so the sizes
/// stay exact.
#[test]
fn table_sizes_count_rows_deleted_before_and_deleting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.db");
    let s = Store::open(&p).unwrap();
    assert_eq!(s.total("messages").unwrap(), 0);
    assert_eq!(s.status().unwrap().messages, 0);
    let outbox = |n: std::ops::Range<u32>| {
        n.map(|i| format!("('{i}@x', 'ack', '{{}}', '[]', 't', 'sent', 't')"))
            .collect::<Vec<_>>()
            .join(",")
    };
    s.conn
        .execute_batch(&format!(
            "DROP TRIGGER messages_kept; DROP TRIGGER outbox_kept;
             DROP TRIGGER im_outbox_kept; DELETE FROM counts WHERE value = 'holes';
             DROP INDEX set_aside_waiting; DROP INDEX set_aside_list;
             PRAGMA user_version = 7;
             INSERT INTO messages(key, sender, subject, verdict, at)
             VALUES ('a', 's', 's', 'v', 't'), ('b', 's', 's', 'v', 't'),
                    ('c', 's', 's', 'v', 't'), ('d', 's', 's', 'v', 't');
             DELETE FROM messages WHERE key IN ('b', 'c');
             INSERT INTO outbox(message_id, kind, payload, refs, created_at, status,
                                next_attempt_at) VALUES {};
             DELETE FROM outbox WHERE message_id = '4@x';
             INSERT INTO im_outbox(robot, event, dept, locale, mail, payload, created_at,
                                   status, next_attempt_at)
             VALUES ('r', 'e', 'd', 'zh', 'm', '{{}}', 't', 'queued', 't');",
            outbox(0..5)
        ))
        .unwrap();
    drop(s);
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap() as usize, schema::LATEST);
    assert_eq!(s.total("messages").unwrap(), 2);
    assert_eq!(s.total("outbox").unwrap(), 4);
    assert_eq!(s.total("im_outbox").unwrap(), 1);
    assert_eq!(s.status().unwrap().outbox.sent, 4);
    assert_counts_agree(&s);
    for (table, what) in [
        ("messages", "a message"),
        ("outbox", "a mail"),
        ("im_outbox", "a robot message"),
    ] {
        let err = s
            .conn
            .execute(&format!("DELETE FROM {table}"), [])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("the record of {what} is never deleted")),
            "{table}: {err}"
        );
    }
    // Rows added after the holes were counted, and an upsert of a
    // message already recorded (which must not count twice).
    s.conn
        .execute_batch(&format!(
            "INSERT INTO messages(key, sender, subject, verdict, at)
             VALUES ('e', 's', 's', 'v', 't'), ('a', 's', 's', 'v2', 't')
             ON CONFLICT(key) DO UPDATE SET verdict = excluded.verdict;
             INSERT INTO outbox(message_id, kind, payload, refs, created_at, status,
                                next_attempt_at) VALUES {};",
            outbox(10..13)
        ))
        .unwrap();
    assert_eq!(s.status().unwrap().messages, 3);
    assert_eq!(s.total("outbox").unwrap(), 7);
    assert_counts_agree(&s);
}

/// SQLite's plan for `sql`, a line per step.
fn query_plan(s: &Store, sql: &str) -> Vec<String> {
    s.conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map([], |r| r.get(3))
        .unwrap()
        .collect::<std::result::Result<_, _>>()
        .unwrap()
}

/// `status` counts the set-aside messages, and those not released, from
/// indexes: neither reads a row (whose raw message comes before
/// `released_at`).
#[test]
fn set_aside_counts_come_from_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.db")).unwrap();
    s.conn
        .execute_batch(
            "INSERT INTO set_aside(key, class, detail, sender, subject, raw, at)
             VALUES ('a', 'spam', '', 's', 's', zeroblob(20000), 't'),
                    ('b', 'spam', '', 's', 's', zeroblob(20000), 't'),
                    ('c', 'spam', '', 's', 's', zeroblob(20000), 't');
             UPDATE set_aside SET released_at = 't2' WHERE key = 'b';",
        )
        .unwrap();
    let st = s.status().unwrap();
    assert_eq!((st.set_aside, st.set_aside_waiting), (3, 2));
    let plan = query_plan(
        &s,
        "SELECT (SELECT COUNT(*) FROM set_aside),
                (SELECT COUNT(*) FROM set_aside WHERE released_at IS NULL)",
    );
    let scans: Vec<&String> = plan.iter().filter(|l| l.contains("set_aside")).collect();
    assert_eq!(scans.len(), 2, "{plan:?}");
    assert!(
        scans.iter().all(|l| l.contains("COVERING INDEX")),
        "{plan:?}"
    );
}

/// The list of set-aside messages is read in its order from an index
/// holding what it shows: no row read (the raw message comes before `at`
/// and `released_at`), no sort.
#[test]
fn set_aside_list_comes_from_an_index_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.db")).unwrap();
    s.conn
        .execute_batch(
            "INSERT INTO set_aside(key, class, detail, sender, subject, raw, at)
             VALUES ('b', 'spam', 'd', 's1', 'x', zeroblob(20000), 't2'),
                    ('a', 'loop', '', 's2', 'y', zeroblob(20000), 't2'),
                    ('c', 'spam', '', 's3', 'z', zeroblob(20000), 't1');
             UPDATE set_aside SET released_at = 't3' WHERE key = 'a';",
        )
        .unwrap();
    let list = s.set_aside_list().unwrap();
    let got: Vec<(&str, &str, &str, bool)> = list
        .iter()
        .map(|r| (r.key.as_str(), r.class.as_str(), r.at.as_str(), r.released))
        .collect();
    assert_eq!(
        got,
        [
            ("c", "spam", "t1", false),
            ("a", "loop", "t2", true),
            ("b", "spam", "t2", false)
        ]
    );
    assert_eq!(
        (list[2].detail.as_str(), list[2].sender.as_str()),
        ("d", "s1")
    );
    let plan = query_plan(
        &s,
        "SELECT key, class, detail, sender, subject, at, released_at IS NOT NULL
         FROM set_aside ORDER BY at, key",
    );
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(
        plan[0].contains("COVERING INDEX set_aside_list"),
        "{plan:?}"
    );
}

#[test]
fn migrations_bring_a_new_file_to_the_latest_version_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/x.db");
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap() as usize, schema::LATEST);
    let page: i64 = s
        .conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(page, 8192);
    drop(s);
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap() as usize, schema::LATEST);
}

#[test]
fn uncommitted_transaction_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    {
        let tx = s.tx().unwrap();
        tx.save_req(req(1)).unwrap();
        tx.record_message("mid:a", Some("a"), "x", "s", "applied", None, Utc::now())
            .unwrap();
        // dropped: rolled back
    }
    assert!(s.load_req(ReqId(1)).unwrap().is_none());
    let tx = s.tx().unwrap();
    assert!(tx.seen("mid:a").unwrap().is_none());
}

#[test]
fn snapshot_round_trips_and_thread_ids_correlate() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let tx = s.tx().unwrap();
    assert_eq!(tx.next_req_id().unwrap(), ReqId(1));
    tx.save_req(req(1)).unwrap();
    let at = Utc::now();
    let task = ItemId::Task(TaskId {
        req: ReqId(1),
        n: 2,
    });
    tx.record_message(
        "mid:root@x",
        Some("root@x"),
        "a",
        "s",
        "applied:new_req",
        Some(ItemId::Req(ReqId(1))),
        at,
    )
    .unwrap();
    tx.record_message(
        "mid:t@x",
        Some("t@x"),
        "a",
        "s",
        "applied:accept",
        Some(task),
        at,
    )
    .unwrap();
    // A refused message about an item does not put its thread on the item.
    tx.record_message(
        "mid:no@x",
        Some("no@x"),
        "a",
        "s",
        "refused:wrong_state",
        Some(task),
        at,
    )
    .unwrap();
    assert_eq!(tx.thread_item(&["no@x"]).unwrap(), None);
    // Requirements from before roots were kept: the legacy thread table.
    tx.tx
        .execute(
            "INSERT INTO threads(message_id, req) VALUES ('root@x', 1)",
            [],
        )
        .unwrap();
    assert_eq!(tx.next_req_id().unwrap(), ReqId(2));
    assert_eq!(
        tx.thread_item(&["nope", "t@x"]).unwrap(),
        Some(ItemId::Task(TaskId {
            req: ReqId(1),
            n: 2
        }))
    );
    assert_eq!(tx.thread_root(ReqId(1)).unwrap().as_deref(), Some("root@x"));
    tx.commit().unwrap();
    assert_eq!(s.load_req(ReqId(1)).unwrap().unwrap(), req(1));
    assert_eq!(s.list_reqs(None, Some("rd")).unwrap().len(), 1);
    assert_eq!(s.list_reqs(Some("closed"), None).unwrap().len(), 0);
}

#[test]
fn a_clock_key_is_recorded_once_and_open_requirements_skip_closed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
    let tx = s.tx().unwrap();
    assert!(tx.record_clock("digest:rd:2026-12-01T09:00", now).unwrap());
    assert!(!tx.record_clock("digest:rd:2026-12-01T09:00", now).unwrap());
    let mut closed = req(2);
    closed.state = ReqState::Closed;
    tx.save_req(req(1)).unwrap();
    tx.save_req(closed).unwrap();
    tx.commit().unwrap();
    assert!(s.clock_sent("digest:rd:2026-12-01T09:00").unwrap());
    assert!(!s.clock_sent("digest:rd:2026-12-02T09:00").unwrap());
    assert_eq!(
        s.clock_keys("digest:rd:").unwrap(),
        ["digest:rd:2026-12-01T09:00"]
    );
    let open: Vec<u32> = s.open_reqs().unwrap().iter().map(|r| r.id.0).collect();
    assert_eq!(open, [1]);
    // A key not committed is not recorded.
    let tx = s.tx().unwrap();
    assert!(tx.record_clock("remind:REQ-1.1:accept", now).unwrap());
    drop(tx);
    assert!(!s.clock_sent("remind:REQ-1.1:accept").unwrap());
}

#[test]
fn writes_held_in_a_transaction_are_written_once_and_only_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    let tx = s.tx().unwrap();
    tx.save_req(req(1)).unwrap();
    // The new one counts for the next id before anything is written.
    assert_eq!(tx.next_req_id().unwrap(), ReqId(2));
    // Read back within the transaction: the held snapshot, then changed.
    let mut r = tx.load_req(ReqId(1)).unwrap().unwrap();
    assert_eq!(r, req(1));
    r.depts[0].confirmed = true;
    r.state = ReqState::Confirmed;
    r.tasks.push(Task {
        id: TaskId {
            req: ReqId(1),
            n: 1,
        },
        owner: Mailbox::new(None, "alice@corp.example"),
        assigner: Mailbox::new(None, "wanglei@corp.example"),
        dept: "rd".into(),
        title: "脚本".into(),
        due: None,
        quality: None,
        state: TaskState::Assigned,
        progress: 0,
        blocked: false,
        last_report: None,
        created_at: now,
    });
    tx.save_req(r.clone()).unwrap();
    assert_eq!(tx.bump_rcpt("rd@corp.example", "2026-11-26").unwrap(), 1);
    assert_eq!(tx.bump_rcpt("rd@corp.example", "2026-11-26").unwrap(), 2);
    assert_eq!(tx.bump_rcpt("rd@corp.example", "2026-11-27").unwrap(), 1);
    // Nothing of it is in the tables before the flush, all of it after.
    let in_tx = |tx: &Tx, sql: &str| -> i64 { tx.tx.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(in_tx(&tx, "SELECT COUNT(*) FROM requirements"), 0);
    assert_eq!(in_tx(&tx, "SELECT COUNT(*) FROM rcpt_day"), 0);
    tx.flush().unwrap();
    assert_eq!(in_tx(&tx, "SELECT COUNT(*) FROM requirements"), 1);
    assert_eq!(in_tx(&tx, "SELECT COUNT(*) FROM rcpt_day"), 2);
    let rows = |s: &Store, sql: &str| -> i64 { s.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    tx.commit().unwrap();
    assert_eq!(s.load_req(ReqId(1)).unwrap().unwrap(), r);
    assert_eq!(rows(&s, "SELECT COUNT(*) FROM requirements"), 1);
    assert_eq!(
        rows(
            &s,
            "SELECT confirmed FROM req_depts WHERE req = 1 AND dept = 'rd'"
        ),
        1
    );
    assert_eq!(
        rows(
            &s,
            "SELECT COUNT(*) FROM tasks WHERE req = 1 AND state = 'assigned'"
        ),
        1
    );
    assert_eq!(
        rows(&s, "SELECT n FROM rcpt_day WHERE day = '2026-11-26'"),
        2
    );

    // The next transaction reads the counter; a rolled-back one leaves it.
    let tx = s.tx().unwrap();
    assert_eq!(tx.bump_rcpt("rd@corp.example", "2026-11-26").unwrap(), 3);
    let mut gone = tx.load_req(ReqId(1)).unwrap().unwrap();
    gone.state = ReqState::Cancelled;
    tx.save_req(gone).unwrap();
    tx.save_req(req(2)).unwrap();
    drop(tx);
    let tx = s.tx().unwrap();
    assert_eq!(tx.bump_rcpt("rd@corp.example", "2026-11-26").unwrap(), 3);
    assert_eq!(tx.next_req_id().unwrap(), ReqId(2));
    tx.commit().unwrap();
    assert_eq!(
        s.load_req(ReqId(1)).unwrap().unwrap().state,
        ReqState::Confirmed
    );
    assert!(s.load_req(ReqId(2)).unwrap().is_none());
    assert_eq!(
        rows(&s, "SELECT n FROM rcpt_day WHERE day = '2026-11-26'"),
        3
    );
}

#[test]
fn timestamps_are_written_as_chrono_writes_them() {
    let mut t = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap();
    for i in 0..5000i64 {
        let want = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert_eq!(ts(t), want);
        assert_eq!(
            parse_ts(&ts(t)),
            t.with_nanosecond((t.nanosecond() / 1_000_000) * 1_000_000)
                .unwrap()
        );
        t += chrono::Duration::milliseconds(7_777_777 * i + 13);
    }
    let early = Utc.with_ymd_and_hms(5, 1, 2, 3, 4, 5).unwrap();
    assert_eq!(ts(early), "0005-01-02T03:04:05.000Z");
}

/// Message records and events are held until the flush and then written
/// in order, many rows to a statement; inside the transaction the held
/// records answer `seen` and `thread_item`, and a second record of a key
/// overwrites the first as the upsert does.
#[test]
fn held_messages_and_events_answer_in_the_transaction_and_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    // One stored before: a set-aside message that is later released.
    let tx = s.tx().unwrap();
    tx.record_message(
        "mid:old",
        Some("old"),
        "x",
        "s",
        "set_aside:list",
        None,
        now,
    )
    .unwrap();
    tx.commit().unwrap();

    let tx = s.tx().unwrap();
    let n = 70; // two statements of 32 rows and six single ones
    for i in 0..n {
        let item = Some(ItemId::Req(ReqId(i + 1)));
        let verdict = if i % 10 == 3 {
            "refused:x"
        } else {
            "applied:new_req"
        };
        tx.record_message(
            &format!("mid:m{i}"),
            Some(&format!("m{i}")),
            "x",
            "s",
            verdict,
            item,
            now,
        )
        .unwrap();
        tx.add_events(vec![Event {
            item: ItemId::Req(ReqId(i + 1)),
            kind: "new_req".into(),
            actor: "x".into(),
            message_id: format!("m{i}"),
            at: now,
            detail: format!("event {i}"),
        }])
        .unwrap();
    }
    assert_eq!(
        tx.seen("mid:m5").unwrap().as_deref(),
        Some("applied:new_req")
    );
    assert_eq!(tx.seen("mid:nope").unwrap(), None);
    assert_eq!(
        tx.seen("mid:old").unwrap().as_deref(),
        Some("set_aside:list")
    );
    // A reply finds the held message it answers, applied ones only.
    assert_eq!(
        tx.thread_item(&["m7"]).unwrap(),
        Some(ItemId::Req(ReqId(8)))
    );
    assert_eq!(tx.thread_item(&["m3"]).unwrap(), None);
    assert_eq!(
        tx.thread_item(&["m3", "m4"]).unwrap(),
        Some(ItemId::Req(ReqId(5)))
    );
    // Recorded again (released): the second verdict counts, held or stored.
    tx.record_message(
        "mid:m3",
        Some("m3"),
        "x",
        "s",
        "applied:comment",
        Some(ItemId::Req(ReqId(1))),
        now,
    )
    .unwrap();
    tx.record_message(
        "mid:old",
        Some("old"),
        "x",
        "s",
        "applied:comment",
        Some(ItemId::Req(ReqId(2))),
        now,
    )
    .unwrap();
    assert_eq!(
        tx.thread_item(&["m3"]).unwrap(),
        Some(ItemId::Req(ReqId(1)))
    );
    assert_eq!(
        tx.seen("mid:old").unwrap().as_deref(),
        Some("applied:comment")
    );
    let in_tx = |tx: &Tx, sql: &str| -> i64 { tx.tx.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(in_tx(&tx, "SELECT COUNT(*) FROM events"), 0);
    assert_eq!(in_tx(&tx, "SELECT COUNT(*) FROM messages"), 1);
    tx.commit().unwrap();

    let msgs = s.messages().unwrap();
    assert_eq!(msgs.len(), n as usize + 1);
    assert_eq!(msgs[0].key, "mid:old");
    assert_eq!(msgs[0].verdict, "applied:comment");
    for (i, m) in msgs[1..].iter().enumerate() {
        assert_eq!(m.key, format!("mid:m{i}"));
    }
    assert_eq!(msgs[4].verdict, "applied:comment");
    assert_eq!(msgs[5].verdict, "applied:new_req");
    let details: Vec<String> = s
        .conn
        .prepare("SELECT detail FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("event {i}")).collect();
    assert_eq!(details, want);
    assert_eq!(s.events(ReqId(9)).unwrap()[0].message_id, "m8");
}

/// `outbox list` shows what was not sent, newest first, with recipients and
/// the last error; `outbox retry` puts failed, bounced and suppressed mail
/// back in the queue, due at once, with its retry window starting again,
/// and leaves queued and sent mail alone.
#[test]
fn held_outbox_mail_is_listed_and_put_back_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("t.db")).unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 1, 0, 0).unwrap();
    let out = |kind: crate::model::Kind, to: &str| crate::model::Outgoing {
        kind,
        to: vec![Mailbox::new(None, to)],
        cc: vec![Mailbox::new(Some("研发部"), "rd@corp.example")],
        item: Some("REQ-1".into()),
        locale: "zh-CN".into(),
        ctx: Default::default(),
        attachments: vec![],
    };
    use crate::model::Kind;
    let tx = s.tx().unwrap();
    for (i, (k, to, suppressed)) in [
        (Kind::Ack, "a@corp.example", false),
        (Kind::Ack, "ghost@corp.example", false),
        (Kind::Confirmed, "c@corp.example", false),
        (Kind::Ack, "d@corp.example", true),
    ]
    .iter()
    .enumerate()
    {
        tx.queue_mail(&format!("m{i}@x"), &out(*k, to), None, &[], t0, *suppressed)
            .unwrap();
    }
    tx.commit().unwrap();
    // Queued in order: the ids follow it.
    let mut ids = s.outbox_ids("queued").unwrap();
    ids.extend(s.outbox_ids("suppressed").unwrap());
    s.mark_sent(
        &[
            (ids[0], SendResult::Sent),
            (
                ids[1],
                SendResult::Failed("550 5.1.1 <ghost@corp.example>: User unknown".into()),
            ),
            (
                ids[2],
                SendResult::Retry {
                    at: t0 + chrono::Duration::minutes(5),
                    error: "connection refused".into(),
                },
            ),
        ],
        t0,
    )
    .unwrap();

    assert_counts_agree(&s);
    let held = s.outbox_list(None, 100).unwrap();
    let shown: Vec<(i64, &str)> = held.iter().map(|m| (m.id, m.status.as_str())).collect();
    assert_eq!(
        shown,
        [
            (ids[3], "suppressed"),
            (ids[2], "queued"),
            (ids[1], "failed")
        ]
    );
    let failed = s.outbox_list(Some("failed"), 100).unwrap();
    assert_eq!(failed.len(), 1);
    let f = &failed[0];
    assert_eq!(f.rcpts, ["ghost@corp.example", "rd@corp.example"]);
    assert_eq!((f.kind.as_str(), f.item.as_deref()), ("ack", Some("REQ-1")));
    assert!(f.last_error.as_deref().unwrap().contains("550"), "{f:?}");
    assert_eq!(f.attempts, 1);
    assert_eq!(s.outbox_list(Some("sent"), 100).unwrap()[0].id, ids[0]);
    assert_eq!(s.outbox_ids("failed").unwrap(), [ids[1]]);
    assert_eq!(s.outbox_ids("queued").unwrap(), [ids[2]]);
    assert_eq!(s.outbox_list(None, 1).unwrap().len(), 1, "the limit holds");

    // Three days later, the alias exists: put it back.
    let t1 = t0 + chrono::Duration::hours(80);
    assert_eq!(
        s.requeue_mail(ids[1], t1).unwrap(),
        Requeue::Queued {
            was: "failed".into()
        }
    );
    assert_eq!(
        s.requeue_mail(ids[3], t1).unwrap(),
        Requeue::Queued {
            was: "suppressed".into()
        }
    );
    for (id, status) in [(ids[0], "sent"), (ids[2], "queued")] {
        assert_eq!(
            s.requeue_mail(id, t1).unwrap(),
            Requeue::NotHeld {
                status: status.into()
            }
        );
    }
    assert_eq!(s.requeue_mail(9999, t1).unwrap(), Requeue::Unknown);
    let due = s.due_mail(t1, 10).unwrap();
    let back: Vec<_> = due
        .iter()
        .filter(|m| m.id == ids[1] || m.id == ids[3])
        .collect();
    assert_eq!(back.len(), 2, "both due at once");
    for m in back {
        assert_eq!(m.attempts, 0, "the retry schedule starts again");
        assert_eq!(m.since, t1, "so does the 72-hour window");
        assert_eq!(m.created_at, t0, "the Date stays");
    }
    let mail = due.iter().find(|m| m.id == ids[2]).unwrap();
    assert_eq!(
        mail.since, t0,
        "a mail never put back counts from its queueing"
    );
    let r = &s.outbox_list(Some("queued"), 100).unwrap();
    let f = r.iter().find(|m| m.id == ids[1]).unwrap();
    assert!(
        f.last_error.as_deref().unwrap().contains("550"),
        "kept until the next try"
    );
    assert_eq!(f.requeued_at.as_deref(), Some(ts(t1).as_str()));
    assert_counts_agree(&s);
}

/// Outbox mail is held until the flush and written in order, many rows to
/// a statement, each with its own payload, references and threading; the
/// buffers a committed transaction leaves to the next one hold nothing of
/// it, and a rolled-back transaction's mail is never written.
#[test]
fn held_outbox_mail_is_written_in_order_and_buffers_carry_nothing_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("o.db")).unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 1, 0, 0).unwrap();
    let out = |i: usize| crate::model::Outgoing {
        kind: crate::model::Kind::Ack,
        to: vec![Mailbox::new(Some("张三"), &format!("u{i}@corp.example"))],
        cc: vec![],
        item: (!i.is_multiple_of(3)).then(|| format!("REQ-{i}")),
        locale: "zh-CN".into(),
        ctx: crate::model::MailCtx {
            title: format!("需求 {i} \"quoted\" \\ 标题"),
            ..Default::default()
        },
        attachments: vec![],
    };
    let queue = |tx: &Tx, range: std::ops::Range<usize>| {
        for i in range {
            let refs: Vec<String> = (0..i % 4).map(|r| format!("r{r}.{i}@x")).collect();
            let irt = i.is_multiple_of(2).then(|| format!("in{i}@x"));
            tx.queue_mail(
                &format!("m{i}@x"),
                &out(i),
                irt.as_deref(),
                &refs,
                t0,
                false,
            )
            .unwrap();
        }
    };
    let check = |s: &Store, want: &[usize]| {
        let due = s.due_mail(t0, 1000).unwrap();
        let got: Vec<String> = due.iter().map(|m| m.message_id.clone()).collect();
        let ids: Vec<String> = want.iter().map(|i| format!("m{i}@x")).collect();
        assert_eq!(got, ids);
        for (m, &i) in due.iter().zip(want) {
            assert_eq!(m.out, out(i), "payload of m{i}");
            assert_eq!(m.references.len(), i % 4, "references of m{i}");
            assert_eq!(
                m.in_reply_to,
                i.is_multiple_of(2).then(|| format!("in{i}@x"))
            );
            assert_eq!(m.created_at, t0);
        }
    };
    // 70: two statements of 32 rows and six single ones.
    let tx = s.tx().unwrap();
    queue(&tx, 0..70);
    let in_tx = |tx: &Tx| -> i64 {
        tx.tx
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(in_tx(&tx), 0, "held until the flush");
    tx.commit().unwrap();
    check(&s, &(0..70).collect::<Vec<_>>());

    // The next transaction reuses the buffers: only its own rows are written.
    let tx = s.tx().unwrap();
    queue(&tx, 70..75);
    tx.flush().unwrap();
    queue(&tx, 75..110);
    tx.commit().unwrap();
    check(&s, &(0..110).collect::<Vec<_>>());

    // Rolled back: nothing of it, now or in the next transaction.
    let tx = s.tx().unwrap();
    queue(&tx, 110..150);
    drop(tx);
    let tx = s.tx().unwrap();
    queue(&tx, 150..151);
    tx.commit().unwrap();
    let mut want: Vec<usize> = (0..110).collect();
    want.push(150);
    check(&s, &want);
}

/// `crossdesk restore`'s store side: the backup is checked, put in place
/// whole (the old store's -wal does not leak into it), new requirements
/// are numbered past a gap, and mail it holds as queued is held as failed,
/// with the note. Restored again, the floor it was given stays.
#[test]
fn a_restored_store_numbers_past_a_gap_and_holds_its_queued_mail() {
    use super::restore::{restore, HELD_AT_RESTORE};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crossdesk.db");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap();
    let out = |to: &str| crate::model::Outgoing {
        kind: crate::model::Kind::Ack,
        to: vec![Mailbox::new(None, to)],
        cc: vec![],
        item: Some("REQ-1".into()),
        locale: "zh-CN".into(),
        ctx: Default::default(),
        attachments: vec![],
    };
    let mut s = Store::open(&path).unwrap();
    let tx = s.tx().unwrap();
    for id in 1..=3 {
        tx.save_req(req(id)).unwrap();
    }
    tx.record_message("mid:a", Some("a"), "x", "s", "applied:new_req", None, t0)
        .unwrap();
    tx.queue_mail("q@x", &out("a@corp.example"), None, &[], t0, false)
        .unwrap();
    tx.queue_mail("s@x", &out("b@corp.example"), None, &[], t0, false)
        .unwrap();
    tx.commit().unwrap();
    let sent = s.outbox_ids("queued").unwrap()[1];
    s.mark_sent(&[(sent, SendResult::Sent)], t0).unwrap();
    let backup = dir.path().join("b.db");
    s.backup_to(&backup).unwrap();
    // After the backup: more requirements, which the restore forgets.
    let tx = s.tx().unwrap();
    for id in 4..=9 {
        tx.save_req(req(id)).unwrap();
    }
    tx.commit().unwrap();
    // Stopped as by a kill: not closed, its -wal holds the last commits.
    std::mem::forget(s);
    assert!(
        dir.path()
            .join("crossdesk.db-wal")
            .metadata()
            .unwrap()
            .len()
            > 0
    );

    // The store's owner and mode stay the store's.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&path, Some(4242), Some(4343)).ok();
    }
    let r = restore(&backup, &path, None, t0 + chrono::Duration::days(2)).unwrap();
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        if is_root() {
            assert_eq!((m.uid(), m.gid()), (4242, 4343));
        }
    }
    assert_eq!((r.last_req, r.gap, r.held), (3, 100, 1));
    assert_eq!(r.next_req(), 104);
    assert_eq!(r.last_message_at.as_deref(), Some(ts(t0).as_str()));
    let mut s = Store::open(&path).unwrap();
    assert!(
        s.load_req(ReqId(9)).unwrap().is_none(),
        "the backup's store"
    );
    assert!(s.load_req(ReqId(3)).unwrap().is_some());
    assert_eq!(s.tx().unwrap().next_req_id().unwrap(), ReqId(104));
    let held = s.outbox_list(Some("failed"), 10).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].last_error.as_deref(), Some(HELD_AT_RESTORE));
    assert_eq!(s.outbox_ids("sent").unwrap(), vec![sent]);
    assert!(s.outbox_ids("queued").unwrap().is_empty());

    // A backup of the restored store keeps its floor: no gap asked, none added.
    let again = dir.path().join("again.db");
    s.backup_to(&again).unwrap();
    drop(s);
    let r = restore(&again, &path, Some(0), t0).unwrap();
    assert_eq!((r.last_req, r.next_req()), (103, 104));

    // A busy backup's last 30 days set the gap: 300 new requirements there
    // (10 a day), 5 days since its last message: 2 × 10 × 6 = 120.
    let busy = dir.path().join("busy.db");
    let mut b = Store::open(&busy).unwrap();
    let tx = b.tx().unwrap();
    for id in 1..=300 {
        tx.save_req(req(id)).unwrap();
    }
    tx.record_message("mid:z", Some("z"), "x", "s", "applied:new_req", None, t0)
        .unwrap();
    tx.commit().unwrap();
    drop(b);
    let r = restore(&busy, &path, None, t0 + chrono::Duration::days(5)).unwrap();
    assert_eq!((r.last_req, r.gap), (300, 120));

    // What is not a store, or is a newer one, is refused, and the store
    // stays as it was.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database").unwrap();
    let e = restore(&text, &path, None, t0).unwrap_err();
    assert!(format!("{e:#}").contains("not a crossdesk store"), "{e:#}");
    let newer = dir.path().join("newer.db");
    std::fs::copy(&again, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let e = restore(&newer, &path, None, t0).unwrap_err();
    assert!(format!("{e:#}").contains("newer crossdesk"), "{e:#}");
    let e = restore(&dir.path().join("missing.db"), &path, None, t0).unwrap_err();
    assert!(format!("{e:#}").contains("no such file"), "{e:#}");
    let s = Store::open(&path).unwrap();
    assert_eq!(
        s.load_req(ReqId(300)).unwrap().map(|r| r.id),
        Some(ReqId(300))
    );
}

/// Whether the tests run as root (then a chown to any owner works).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
