//! The outbox: due mail handed out, each send's result recorded, mail
//! listed and put back in the queue.

use super::*;

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

impl Store {
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
        self.requeue("outbox", id, now)
    }

    /// Puts row `id` of `table` (`outbox` or `im_outbox`) back in the
    /// queue, unless it is queued or sent already.
    pub(super) fn requeue(
        &mut self,
        table: &'static str,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Requeue> {
        let tx = self.conn.transaction()?;
        let status: Option<String> = tx
            .query_row(
                &format!("SELECT status FROM {table} WHERE id = ?1"),
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let r = match status {
            None => Requeue::Unknown,
            Some(s) if s == "queued" || s == "sent" => Requeue::NotHeld { status: s },
            Some(was) => {
                tx.execute(
                    &format!(
                        "UPDATE {table} SET status = 'queued', attempts = 0, next_attempt_at = ?2,
                         requeued_at = ?2 WHERE id = ?1"
                    ),
                    params![id, ts(now)],
                )?;
                Requeue::Queued { was }
            }
        };
        tx.commit()?;
        Ok(r)
    }

    pub fn outbox_status(&self) -> Result<OutboxStatus> {
        let mut s = OutboxStatus {
            queued: 0,
            sent: 0,
            failed: 0,
            suppressed: 0,
            bounced: 0,
        };
        for (k, n) in self.status_counts("outbox")? {
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
}
