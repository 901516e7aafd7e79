//! What the CLI and the clock read: requirements, their history, status
//! counts, set-aside mail, recorded messages.

use super::*;

impl Store {
    pub fn load_req(&self, id: ReqId) -> Result<Option<Requirement>> {
        load_req(&self.conn, id)
    }

    /// Requirements, newest first, optionally filtered by state and department.
    pub fn list_reqs(&self, state: Option<&str>, dept: Option<&str>) -> Result<Vec<Requirement>> {
        // A state given is `r.state = ?1` as such, so that the state index
        // finds its rows (`?1 IS NULL OR …` would read every requirement).
        let sql = if state.is_some() {
            "SELECT data FROM requirements r
             WHERE r.state = ?1
               AND (?2 IS NULL OR r.requester_dept = ?2
                    OR EXISTS (SELECT 1 FROM req_depts d WHERE d.req = r.id AND d.dept = ?2))
             ORDER BY r.id"
        } else {
            "SELECT data FROM requirements r
             WHERE ?1 IS NULL
               AND (?2 IS NULL OR r.requester_dept = ?2
                    OR EXISTS (SELECT 1 FROM req_depts d WHERE d.req = r.id AND d.dept = ?2))
             ORDER BY r.id"
        };
        let mut st = self.conn.prepare_cached(sql)?;
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
        open_reqs(&self.conn)
    }

    pub fn events(&self, req: ReqId) -> Result<Vec<Event>> {
        events(&self.conn, req)
    }

    /// How many requirements are in each state, none with none; kept by
    /// the store's triggers as rows change (a GROUP BY reads every row).
    pub(crate) fn req_counts(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT value, n FROM counts WHERE tbl = 'requirements' AND n > 0 ORDER BY value",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// How many rows `table` (`messages`, `outbox`, `im_outbox`) holds: its
    /// largest rowid, less the rows deleted before deleting was refused
    /// (schema 8). One page read, where `COUNT(*)` reads every entry of
    /// an index (1.7 MB for 10,000 messages and their 20,000 mails).
    pub(crate) fn total(&self, table: &str) -> Result<u64> {
        // Two subqueries: `MAX(rowid)` alone in its SELECT is a seek to
        // the table's last row, not a scan.
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT COALESCE((SELECT MAX(rowid) FROM {table}), 0)
                      - COALESCE((SELECT n FROM counts WHERE tbl = '{table}' AND value = 'holes'), 0)"
            ))?
            .query_row([], |r| r.get(0))?)
    }

    /// How many rows of `table` (`outbox`, `im_outbox`) have each status,
    /// none with none. Most are sent: only the index entries of the others
    /// are read, and the sent ones are the rest of the table's
    /// [`total`](Store::total).
    pub(crate) fn status_counts(&self, table: &str) -> Result<Vec<(String, u64)>> {
        let total = self.total(table)?;
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT status, COUNT(*) FROM {table} WHERE status < 'sent' GROUP BY status
             UNION ALL
             SELECT status, COUNT(*) FROM {table} WHERE status > 'sent' GROUP BY status"
        ))?;
        let mut counts: Vec<(String, u64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<std::result::Result<_, _>>()?;
        let sent = total.saturating_sub(counts.iter().map(|(_, n)| n).sum());
        if sent > 0 {
            counts.push(("sent".into(), sent));
            counts.sort();
        }
        Ok(counts)
    }

    pub fn status(&self) -> Result<StoreStatus> {
        let messages = self.total("messages")?;
        // The last one recorded, by rowid: `MAX(at)` would read every row.
        let last_message_at = self
            .conn
            .query_row(
                "SELECT at FROM messages ORDER BY rowid DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        // From the key's index and the index of those not released
        // (schema 9): neither reads a row.
        let (set_aside, set_aside_waiting) = self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM set_aside),
                    (SELECT COUNT(*) FROM set_aside WHERE released_at IS NULL)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let requirements = self.req_counts()?.into_iter().collect();
        Ok(StoreStatus {
            messages,
            last_message_at,
            requirements,
            set_aside,
            set_aside_waiting,
            outbox: self.outbox_status()?,
            im_outbox: self.im_status()?,
        })
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

pub(super) fn open_reqs(conn: &Connection) -> Result<Vec<Requirement>> {
    let mut st = conn.prepare_cached(
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

pub(super) fn events(conn: &Connection, req: ReqId) -> Result<Vec<Event>> {
    let mut st = conn.prepare_cached(
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
