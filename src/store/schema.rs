//! Numbered migrations, applied in order; `PRAGMA user_version` records the
//! last one applied. Never edit a released migration: add the next one.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE requirements (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        requester TEXT NOT NULL,
        requester_dept TEXT,
        state TEXT NOT NULL,
        due TEXT,
        priority TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX requirements_state ON requirements(state);

    CREATE TABLE req_depts (
        req INTEGER NOT NULL REFERENCES requirements(id),
        dept TEXT NOT NULL,
        confirmed INTEGER NOT NULL,
        PRIMARY KEY (req, dept)
    );
    CREATE INDEX req_depts_dept ON req_depts(dept);

    CREATE TABLE tasks (
        req INTEGER NOT NULL REFERENCES requirements(id),
        n INTEGER NOT NULL,
        owner TEXT NOT NULL,
        assigner TEXT NOT NULL,
        dept TEXT NOT NULL,
        title TEXT NOT NULL,
        due TEXT,
        state TEXT NOT NULL,
        progress INTEGER NOT NULL,
        blocked INTEGER NOT NULL,
        last_report TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (req, n)
    );
    CREATE INDEX tasks_owner ON tasks(owner);
    CREATE INDEX tasks_dept_state ON tasks(dept, state);

    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        req INTEGER,
        task INTEGER,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        message_id TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX events_req ON events(req);

    -- Every incoming message once: the exactly-once key.
    CREATE TABLE messages (
        key TEXT PRIMARY KEY,
        message_id TEXT,
        sender TEXT NOT NULL,
        subject TEXT NOT NULL,
        verdict TEXT NOT NULL,
        req INTEGER,
        task INTEGER,
        at TEXT NOT NULL
    );

    CREATE TABLE set_aside (
        key TEXT PRIMARY KEY,
        class TEXT NOT NULL,
        detail TEXT NOT NULL,
        sender TEXT NOT NULL,
        subject TEXT NOT NULL,
        raw BLOB NOT NULL,
        at TEXT NOT NULL,
        released_at TEXT
    );

    -- Message-IDs sent or received for an item: reply correlation.
    CREATE TABLE threads (
        message_id TEXT PRIMARY KEY,
        req INTEGER NOT NULL,
        task INTEGER
    );
    CREATE INDEX threads_req ON threads(req);

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        item TEXT,
        payload TEXT NOT NULL,
        in_reply_to TEXT,
        refs TEXT NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        sent_at TEXT
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

    CREATE TABLE outbox_rcpt (
        outbox_id INTEGER NOT NULL REFERENCES outbox(id),
        rcpt TEXT NOT NULL,
        day TEXT NOT NULL
    );
    CREATE INDEX outbox_rcpt_day ON outbox_rcpt(rcpt, day);
    "#,
    // 2: the daily cap reads one counter row instead of counting mails
    // (a department group receives thousands a day in a busy company).
    r#"
    CREATE TABLE rcpt_day (
        rcpt TEXT NOT NULL,
        day TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (rcpt, day)
    ) WITHOUT ROWID;
    INSERT INTO rcpt_day(rcpt, day, n)
        SELECT rcpt, day, COUNT(*) FROM outbox_rcpt GROUP BY rcpt, day;
    -- Recipients are in each outbox payload; the per-mail rows only fed the cap.
    DROP TABLE outbox_rcpt;
    "#,
    // 3: the clock's exactly-once keys: a digest slot (`digest:rd:2026-12-01T09:00`)
    // or a reminder (`remind:REQ-3.1:accept`), inserted in the transaction
    // that queues its mail.
    r#"
    CREATE TABLE clock_sent (
        key TEXT PRIMARY KEY,
        at TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 4: when an admin put a failed, bounced or suppressed mail back in the
    // queue (`crossdesk outbox retry`): its 72-hour retry window starts
    // again there rather than at `created_at`, which stays its Date.
    r#"
    ALTER TABLE outbox ADD COLUMN requeued_at TEXT;
    "#,
    // 5: the files of acted-on mail, one row per file per mail and item;
    // the bytes are kept on disk by digest (`store::files`). `sha256` is
    // NULL for a file that was not kept, `note` then says why.
    r#"
    CREATE TABLE files (
        message_id TEXT NOT NULL,
        req INTEGER NOT NULL,
        task INTEGER,
        n INTEGER NOT NULL,
        action TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT,
        note TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (message_id, req, n)
    );
    CREATE INDEX files_req ON files(req);
    "#,
    // 6: robot messages (the IM channel), queued in the transaction that
    // decided them beside the mail they go with (`mail`, its Message-ID);
    // `payload` is the mail's context and the mobiles to @-mention.
    r#"
    CREATE TABLE im_outbox (
        id INTEGER PRIMARY KEY,
        robot TEXT NOT NULL,
        event TEXT NOT NULL,
        dept TEXT NOT NULL,
        locale TEXT NOT NULL,
        item TEXT,
        mail TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        sent_at TEXT,
        requeued_at TEXT
    );
    CREATE INDEX im_outbox_due ON im_outbox(status, next_attempt_at);
    CREATE INDEX im_outbox_sent ON im_outbox(robot, sent_at);
    "#,
    // 7: how many requirements are in each state, kept by triggers as
    // rows change, for `status`: a GROUP BY reads every row of a large
    // store. (Not the outbox: a row or two a message, each counted twice,
    // would cost the ingest more than `status` gains; its counts read only
    // the index entries of mail not sent.)
    r#"
    CREATE TABLE counts (
        tbl TEXT NOT NULL,
        value TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (tbl, value)
    ) WITHOUT ROWID;
    INSERT INTO counts SELECT 'requirements', state, COUNT(*) FROM requirements GROUP BY state;
    CREATE TRIGGER requirements_count_ins AFTER INSERT ON requirements BEGIN
        INSERT INTO counts VALUES ('requirements', NEW.state, 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER requirements_count_upd AFTER UPDATE OF state ON requirements
    WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE counts SET n = n - 1 WHERE tbl = 'requirements' AND value = OLD.state;
        INSERT INTO counts VALUES ('requirements', NEW.state, 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER requirements_count_del AFTER DELETE ON requirements BEGIN
        UPDATE counts SET n = n - 1 WHERE tbl = 'requirements' AND value = OLD.state;
    END;
    "#,
    // 8: the record of a message, a mail and a robot message is never
    // deleted (it is what makes each exactly-once, and the mail's history),
    // so each table's size is its largest rowid less the rows deleted by
    // hand before this version, counted here once as `holes`: `status`
    // reads one page instead of every index entry. A delete is refused from
    // now on. (`INSERT OR REPLACE` deletes without firing a trigger: none is
    // used on these tables.)
    r#"
    INSERT INTO counts SELECT 'messages', 'holes', COALESCE(MAX(rowid), 0) - COUNT(*) FROM messages;
    INSERT INTO counts SELECT 'outbox', 'holes', COALESCE(MAX(rowid), 0) - COUNT(*) FROM outbox;
    INSERT INTO counts
        SELECT 'im_outbox', 'holes', COALESCE(MAX(rowid), 0) - COUNT(*) FROM im_outbox;
    CREATE TRIGGER messages_kept BEFORE DELETE ON messages BEGIN
        SELECT RAISE(ABORT, 'the record of a message is never deleted');
    END;
    CREATE TRIGGER outbox_kept BEFORE DELETE ON outbox BEGIN
        SELECT RAISE(ABORT, 'the record of a mail is never deleted');
    END;
    CREATE TRIGGER im_outbox_kept BEFORE DELETE ON im_outbox BEGIN
        SELECT RAISE(ABORT, 'the record of a robot message is never deleted');
    END;
    "#,
    // 9: the set-aside messages not released, counted from an index of
    // their own: `released_at` comes after the raw message in the row, so
    // counting it read every set-aside message's overflow pages (3,000
    // of 20 KB: `status` 17 ms instead of 3.5).
    r#"
    CREATE INDEX set_aside_waiting ON set_aside(released_at) WHERE released_at IS NULL;
    "#,
    // 10: the list of set-aside messages (`crossdesk set-aside`) read in
    // its order from an index holding every column it shows, for the same
    // reason: `at` and `released_at` come after the raw message (3,000 of
    // 20 KB: 14 ms).
    r#"
    CREATE INDEX set_aside_list
        ON set_aside(at, key, class, detail, sender, subject, released_at);
    "#,
];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema version this build writes.
pub const LATEST: usize = MIGRATIONS.len();
