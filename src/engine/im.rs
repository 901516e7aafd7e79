//! The IM outbox drained, the engine's half: due robot messages rendered
//! from `templates/<locale>/im/<event>.hbs`, and each post's result
//! recorded (sent, retry on the schedule, failed for good). The posting
//! and the robots' pace are `send::im`'s.

use super::{Engine, EngineError};
use crate::im::ImMessage;
use crate::store::SendResult;
use chrono::{DateTime, Utc};

/// One rendered robot message, ready to post.
#[derive(Debug, Clone)]
pub struct PreparedIm {
    pub id: i64,
    pub robot: String,
    pub event: String,
    /// The message, or why it could not be rendered (recorded as failed).
    pub msg: Result<ImMessage, String>,
    /// Seconds to the next try should this one fail transiently.
    pub retry_in: i64,
    pub since: DateTime<Utc>,
}

impl PreparedIm {
    /// What a post's answer means for this message: `after_s` is the
    /// platform's own wait (a throttled robot), when longer than the
    /// schedule's; past 72 hours a transient failure is final, as for mail.
    pub fn outcome(&self, d: &crate::im::answer::Delivery, now: DateTime<Utc>) -> SendResult {
        use crate::im::answer::Delivery;
        match d {
            Delivery::Sent => SendResult::Sent,
            Delivery::Failed(why) => SendResult::Failed(why.clone()),
            Delivery::Retry { after_s, why } => super::outbox::retry_or_give_up(
                self.since,
                now,
                self.retry_in.max(*after_s as i64),
                why.clone(),
            ),
        }
    }
}

impl Engine {
    /// Renders up to `limit` due robot messages, each in its department's
    /// language and cut to its platform's size.
    pub fn prepare_im(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PreparedIm>, EngineError> {
        let due = self.store.due_im(now, limit)?;
        if due.is_empty() {
            return Ok(vec![]);
        }
        let schedule = self.retry_schedule();
        let renderer = self.renderer_for(
            due.iter()
                .map(|r| (format!("im/{}", r.event), r.locale.as_str())),
        )?;
        Ok(due
            .into_iter()
            .map(|row| {
                let platform = self
                    .cfg
                    .im
                    .iter()
                    .find(|r| r.name == row.robot)
                    .and_then(|r| crate::im::Platform::parse(&r.kind));
                let msg = match platform {
                    None => Err(format!("no [[im]] robot is named `{}` any more", row.robot)),
                    Some(p) => {
                        let mut ctx = row.ctx;
                        if ctx.workflow_address.is_empty() {
                            ctx.workflow_address = self.own.address.clone();
                        }
                        renderer
                            .render_im(&row.event, &row.locale, &ctx)
                            .map(|mut m| {
                                m.title = crate::im::fit(&m.title, 200);
                                m.text = crate::im::fit(&m.text, p.max_text_bytes());
                                m.mobiles = row.mobiles.clone();
                                m
                            })
                            .map_err(|e| format!("render: {e}"))
                    }
                };
                PreparedIm {
                    id: row.id,
                    robot: row.robot,
                    event: row.event,
                    msg,
                    retry_in: schedule[(row.attempts as usize).min(schedule.len() - 1)] as i64,
                    since: row.since,
                }
            })
            .collect())
    }

    /// Records post results (`at`: when each post was answered).
    pub fn finish_im(
        &mut self,
        results: &[(i64, DateTime<Utc>, SendResult)],
    ) -> Result<(), EngineError> {
        Ok(self.store.mark_im(results)?)
    }

    /// Puts a failed robot message back in the queue (`outbox retry im-N`).
    pub fn requeue_im(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<crate::store::Requeue, EngineError> {
        Ok(self.store.requeue_im(id, now)?)
    }
}
