//! The IM outbox: robot messages queued in the transaction that decided
//! them (beside the mail they go with), handed out when due, each post's
//! result recorded, listed and put back in the queue like mail.

use super::*;

/// One queued robot message, as the drain renders it.
#[derive(Debug, Clone)]
pub struct ImOutboxRow {
    pub id: i64,
    pub robot: String,
    /// The template: `crate::im::route::EVENTS`.
    pub event: String,
    pub locale: String,
    pub ctx: crate::model::MailCtx,
    pub mobiles: Vec<String>,
    pub attempts: u32,
    /// Where its retry window starts (queued, or put back by an admin).
    pub since: DateTime<Utc>,
}

/// What is stored of a robot message beside its columns.
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    ctx: crate::model::MailCtx,
    #[serde(default)]
    mobiles: Vec<String>,
}

/// One robot message as `crossdesk outbox list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ImRecord {
    /// `im-7`: robot messages are numbered apart from mail.
    pub id: String,
    pub robot: String,
    pub event: String,
    pub dept: String,
    pub item: Option<String>,
    /// The Message-ID of the mail it goes with.
    pub mail: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: String,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    pub requeued_at: Option<String>,
}

impl Tx<'_> {
    /// Queues one robot message in this transaction, for the mail
    /// `mail` (its Message-ID).
    pub fn queue_im(
        &self,
        mail: &str,
        route: &crate::im::route::ImRoute,
        out: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let payload = serde_json::to_string(&Payload {
            ctx: out.ctx.clone(),
            mobiles: route.mobiles.clone(),
        })?;
        let mut st = self.tx.prepare_cached(
            "INSERT INTO im_outbox(robot, event, dept, locale, item, mail, payload, created_at,
               status, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?8)",
        )?;
        st.execute(params![
            route.robot,
            route.event,
            route.dept,
            route.locale,
            out.item,
            mail,
            payload,
            ts(now)
        ])?;
        Ok(())
    }
}

impl Store {
    /// Robot messages due at `now`, oldest first.
    pub fn due_im(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ImOutboxRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, robot, event, locale, payload, attempts, COALESCE(requeued_at, created_at)
             FROM im_outbox WHERE status = 'queued' AND next_attempt_at <= ?1
             ORDER BY id LIMIT ?2",
        )?;
        let rows = st.query_map(params![ts(now), limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, u32>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut v = vec![];
        for row in rows {
            let (id, robot, event, locale, payload, attempts, since) = row?;
            let p: Payload = serde_json::from_str(&payload)?;
            v.push(ImOutboxRow {
                id,
                robot,
                event,
                locale,
                ctx: p.ctx,
                mobiles: p.mobiles,
                attempts,
                since: parse_ts(&since),
            });
        }
        Ok(v)
    }

    /// When `robot`'s messages were sent since `since`, oldest first: its
    /// pace carries over from one process to the next.
    pub fn im_sent_since(&self, robot: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
        let mut st = self.conn.prepare_cached(
            "SELECT sent_at FROM im_outbox WHERE robot = ?1 AND sent_at > ?2 ORDER BY sent_at",
        )?;
        let rows = st.query_map(params![robot, ts(since)], |r| r.get::<_, String>(0))?;
        let mut v = vec![];
        for r in rows {
            v.push(parse_ts(&r?));
        }
        Ok(v)
    }

    /// Records post results in one transaction: `at` is when each post
    /// started (what the robot's pace counts).
    pub fn mark_im(&mut self, results: &[(i64, DateTime<Utc>, SendResult)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut sent = tx.prepare_cached(
                "UPDATE im_outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1,
                 last_error = NULL WHERE id = ?1",
            )?;
            let mut retry = tx.prepare_cached(
                "UPDATE im_outbox SET attempts = attempts + 1, next_attempt_at = ?2,
                 last_error = ?3 WHERE id = ?1",
            )?;
            let mut failed = tx.prepare_cached(
                "UPDATE im_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1",
            )?;
            for (id, at, r) in results {
                match r {
                    SendResult::Sent | SendResult::SentExcept(_) => {
                        sent.execute(params![id, ts(*at)])?
                    }
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

    /// Robot messages, newest first: with `status`, those with it;
    /// without, every one not sent.
    pub fn im_list(&self, status: Option<&str>, limit: usize) -> Result<Vec<ImRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, robot, event, dept, item, mail, status, attempts, created_at,
                    next_attempt_at, last_error, sent_at, requeued_at
             FROM im_outbox WHERE (?1 IS NULL AND status <> 'sent') OR status = ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![status, limit as i64], |r| {
            Ok(ImRecord {
                id: format!("im-{}", r.get::<_, i64>(0)?),
                robot: r.get(1)?,
                event: r.get(2)?,
                dept: r.get(3)?,
                item: r.get(4)?,
                mail: r.get(5)?,
                status: r.get(6)?,
                attempts: r.get(7)?,
                created_at: r.get(8)?,
                next_attempt_at: r.get(9)?,
                last_error: r.get(10)?,
                sent_at: r.get(11)?,
                requeued_at: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The ids of the robot messages with `status`, oldest first.
    pub fn im_ids(&self, status: &str) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM im_outbox WHERE status = ?1 ORDER BY id")?;
        let rows = st.query_map([status], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Puts a failed robot message back in the queue, due at `now`, its
    /// retry window starting again (once the robot's setting is fixed).
    pub fn requeue_im(&mut self, id: i64, now: DateTime<Utc>) -> Result<Requeue> {
        self.requeue("im_outbox", id, now)
    }

    /// Robot messages per status.
    pub fn im_status(&self) -> Result<BTreeMap<String, u64>> {
        Ok(self.status_counts("im_outbox")?.into_iter().collect())
    }
}
