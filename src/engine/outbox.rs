//! The outbox drained: due mail rendered, handed to a transport, and each
//! answer recorded (sent, retry on the schedule, failed for good), with
//! results the store could not take held until it can.

use super::{Engine, EngineError};
use crate::render::{Envelope, OutFile};
use crate::send::{SendError, Transport};
use crate::store::SendResult;
use chrono::{DateTime, Utc};

/// Outbox drain figures.
#[derive(Debug, Default, Clone, Copy)]
pub struct DrainStats {
    pub sent: usize,
    pub retry: usize,
    pub failed: usize,
}

/// Past the last step of the retry schedule (`[smtp] retry_seconds`) a
/// mail is retried at that interval until this many hours have passed.
const GIVE_UP_AFTER_HOURS: i64 = 72;

impl Engine {
    /// Renders up to `limit` due outbox mails. A mail whose template fails
    /// to render comes back with its error instead of bytes (recorded as
    /// failed); templates that cannot be read or compiled are an error, and
    /// the mail waits in the queue until they are fixed.
    pub fn prepare_due(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Prepared>, EngineError> {
        // Sends whose results are not recorded yet would be due again.
        if !self.unrecorded.is_empty() {
            self.finish_sends(&[], now)?;
        }
        let tz = self.cfg.tz();
        let due = self.store.due_mail(now, limit)?;
        if due.is_empty() {
            return Ok(vec![]);
        }
        let schedule = self.retry_schedule();
        let renderer = self.renderer_for(
            due.iter()
                .map(|m| (m.out.kind.name().to_string(), m.out.locale.as_str())),
        )?;
        Ok(due
            .into_iter()
            .map(|m| {
                let files = self.attachments(&m.out);
                let env = files.map(|files| Envelope {
                    from: self.own.clone(),
                    message_id: m.message_id.clone(),
                    in_reply_to: m.in_reply_to.clone(),
                    references: m.references.clone(),
                    date: m.created_at.with_timezone(&tz).fixed_offset(),
                    files,
                });
                let rcpts = m
                    .out
                    .to
                    .iter()
                    .chain(m.out.cc.iter())
                    .map(|r| r.address.clone())
                    .collect();
                Prepared {
                    id: m.id,
                    bytes: env.and_then(|env| {
                        renderer
                            .render_message(&m.out, &env)
                            .map_err(|e| format!("render: {e}"))
                    }),
                    message_id: m.message_id,
                    rcpts,
                    attempts: m.attempts,
                    retry_in: schedule[(m.attempts as usize).min(schedule.len() - 1)] as i64,
                    since: m.since,
                }
            })
            .collect())
    }

    /// The retry schedule of mail and robot messages alike
    /// (`[smtp] retry_seconds`, or its default).
    pub(super) fn retry_schedule(&self) -> Vec<u64> {
        self.cfg
            .smtp
            .as_ref()
            .map(|s| s.retry_seconds.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(crate::config::default_retry_seconds)
    }

    /// The kept files a mail attaches, read and checked against their
    /// digests; a missing or damaged file fails the mail with its name.
    fn attachments(&self, out: &crate::model::Outgoing) -> Result<Vec<OutFile>, String> {
        out.attachments
            .iter()
            .map(|f| {
                let sha = f.sha256.as_deref().unwrap_or("");
                let bytes = self
                    .files
                    .read(sha)
                    .map_err(|e| format!("file {} ({sha}): {e}", f.name))?;
                Ok(OutFile {
                    name: f.name.clone(),
                    content_type: f.content_type.clone(),
                    bytes,
                })
            })
            .collect()
    }

    /// Puts a failed, bounced or suppressed mail back in the queue, due at
    /// `now` with its retry window afresh (`crossdesk outbox retry`).
    pub fn requeue(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<crate::store::Requeue, EngineError> {
        Ok(self.store.requeue_mail(id, now)?)
    }

    /// Records the results of one round of sends in one transaction,
    /// with any earlier results the store could not take. Results it
    /// cannot take now are kept (in memory: a restart may send those mails
    /// once more) and [`Engine::prepare_due`] hands out nothing until
    /// they are recorded.
    pub fn finish_sends(
        &mut self,
        results: &[(i64, SendResult)],
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        self.unrecorded.extend_from_slice(results);
        match self.store.mark_sent(&self.unrecorded, now) {
            Ok(()) => {
                self.unrecorded.clear();
                Ok(())
            }
            Err(error) => Err(EngineError::Unrecorded {
                n: self.unrecorded.len(),
                error,
            }),
        }
    }

    /// Sends what the outbox holds that is due, in batches, through a
    /// blocking transport; marks each mail sent only after the transport
    /// accepted it.
    pub fn drain_outbox(
        &mut self,
        transport: &mut dyn Transport,
        now: DateTime<Utc>,
    ) -> Result<DrainStats, EngineError> {
        let mut stats = DrainStats::default();
        loop {
            let due = self.prepare_due(now, 200)?;
            if due.is_empty() {
                break;
            }
            let from = self.own.address.clone();
            let answers: Vec<Result<(), SendError>> = due
                .iter()
                .map(|p| match &p.bytes {
                    Err(e) => Err(SendError::Permanent(e.clone())),
                    Ok(b) => transport.send(&from, &p.rcpts, &p.message_id, b),
                })
                .collect();
            // Only what the transport made durable counts as sent.
            let flushed = transport.flush();
            let results: Vec<(i64, SendResult)> = due
                .iter()
                .zip(answers)
                .map(|(p, r)| {
                    let r = match (&flushed, r) {
                        (Err(e), Ok(())) => Err(SendError::Transient(e.to_string())),
                        (_, r) => r,
                    };
                    (p.id, p.outcome(r, now, &mut stats))
                })
                .collect();
            self.finish_sends(&results, now)?;
            if results
                .iter()
                .all(|(_, r)| matches!(r, SendResult::Retry { .. }))
            {
                // Nothing went through: don't spin on a dead transport.
                break;
            }
        }
        Ok(stats)
    }
}

/// A transient failure: tried again in `retry_in` seconds, or failed for
/// good past `GIVE_UP_AFTER_HOURS` from `since` (mail and robot messages).
pub(super) fn retry_or_give_up(
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    retry_in: i64,
    error: String,
) -> SendResult {
    let age = now - since;
    if age > chrono::Duration::hours(GIVE_UP_AFTER_HOURS) {
        SendResult::Failed(format!("gave up after {} hours: {error}", age.num_hours()))
    } else {
        SendResult::Retry {
            at: now + chrono::Duration::seconds(retry_in),
            error,
        }
    }
}

/// One rendered outbox mail, ready for a transport.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: i64,
    pub message_id: String,
    pub rcpts: Vec<String>,
    pub bytes: Result<Vec<u8>, String>,
    pub attempts: u32,
    /// Seconds to the next try should this one fail transiently.
    pub retry_in: i64,
    /// Where its retry window starts (queued, or put back by an admin): a
    /// transient failure past `GIVE_UP_AFTER_HOURS` from here is final.
    pub since: DateTime<Utc>,
}

impl Prepared {
    /// What a transport's answer means for this mail: sent, retry on the
    /// schedule (transient), or failed for good (permanent, or too old).
    pub fn outcome(
        &self,
        r: Result<(), SendError>,
        now: DateTime<Utc>,
        stats: &mut DrainStats,
    ) -> SendResult {
        let res = match r {
            Ok(()) => SendResult::Sent,
            Err(SendError::Permanent(e)) => SendResult::Failed(e),
            Err(SendError::Transient(e)) => retry_or_give_up(self.since, now, self.retry_in, e),
        };
        match &res {
            SendResult::Sent | SendResult::SentExcept(_) => stats.sent += 1,
            SendResult::Retry { error, at } => {
                stats.retry += 1;
                tracing::warn!(message_id = %self.message_id, %error, retry_at = %at, "send failed, will retry");
            }
            SendResult::Failed(error) => {
                stats.failed += 1;
                tracing::error!(message_id = %self.message_id, %error, "send failed permanently");
            }
        }
        res
    }
}
