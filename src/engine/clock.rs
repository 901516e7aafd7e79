//! The clock's mails (digests, reminders) queued exactly once: each keyed,
//! the key recorded in the transaction that queues it.

use super::ids::digest_thread_id;
use super::queue::OutboxWriter;
use super::{local_day, Engine, EngineError};
use chrono::{DateTime, Utc};

/// A mail the clock wants sent exactly once: `key` is recorded in the
/// transaction that queues it, and a key recorded before means the mail is
/// not queued again. `out: None` records the key only (an empty digest).
#[derive(Debug, Clone)]
pub struct ClockMail {
    pub key: String,
    pub out: Option<crate::model::Outgoing>,
    pub thread: ClockThread,
}

/// What a clock mail threads on.
#[derive(Debug, Clone)]
pub enum ClockThread {
    /// The requirement's thread (reminders): its root, when the snapshot
    /// keeps it, else looked up.
    Req {
        req: crate::model::ReqId,
        root: Option<String>,
    },
    /// A department's digests form one thread of their own, indexed to no
    /// item: each answers a fixed id that names the department's digest
    /// thread (as GitHub's notifications answer `<owner/repo/issues/1@github.com>`),
    /// so clients group them even though no mail carries that id itself.
    Digest(String),
}

impl Engine {
    /// Queues the clock's mails in ONE transaction, each only if its key
    /// was not recorded yet. Returns, per mail, whether it was new.
    pub fn queue_clock(
        &mut self,
        mails: Vec<ClockMail>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, EngineError> {
        let day = local_day(&self.cfg, now);
        let q = OutboxWriter {
            day: &day,
            cap: self.cfg.limits.daily_cap_per_recipient,
            domain: &self.domain,
            routes: &self.routes,
            now,
        };
        let seq = &mut self.seq;
        let tx = self.store.tx()?;
        let mut fresh = Vec::with_capacity(mails.len());
        for m in mails {
            if !tx.record_clock(&m.key, now)? {
                fresh.push(false);
                continue;
            }
            fresh.push(true);
            let Some(out) = m.out else { continue };
            match m.thread {
                ClockThread::Req { req, root } => {
                    let root = match root {
                        Some(r) => Some(r),
                        None => tx.thread_root(req)?,
                    };
                    let refs: Vec<String> = root.iter().cloned().collect();
                    q.mail(&tx, seq, out, root.as_deref(), &refs)?;
                }
                ClockThread::Digest(dept) => {
                    let root = digest_thread_id(&dept, &self.domain);
                    q.mail(&tx, seq, out, Some(&root), std::slice::from_ref(&root))?;
                }
            }
        }
        tx.commit()?;
        Ok(fresh)
    }
}
