//! One batch of messages, one transaction: acting on each message in
//! turn, a failed batch retried one message at a time, a message whose
//! acting panicked set aside on its own, and `release`.

use super::ids::raw_key;
use super::message::Acting;
#[cfg(debug_assertions)]
use super::read::debug_abort;
use super::read::{panic_text, parse_batch, parse_guarded, Parsed};
use super::{local_dates, Engine, EngineError, Report};
use crate::crashguard::Stage;
use crate::mail::filter::SetAside;
use crate::source::{Disposition, RawMail};
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use std::time::Instant;

/// Why a batch's transaction was given up.
enum BatchFailure {
    Store(StoreError),
    Panic(String),
}

impl Engine {
    /// Acts on a batch of messages in one transaction. The caller moves
    /// each message (per its report's disposition) only after this returns.
    pub fn ingest_batch(
        &mut self,
        mails: &[RawMail],
        now: DateTime<Utc>,
        watermark: Option<DateTime<Utc>>,
    ) -> Result<Vec<Report>, EngineError> {
        // Parse outside the transaction: it is the expensive, pure part.
        let t_parse = Instant::now();
        // Under the crash guard (the daemon's retries one by one), each
        // message read is noted too; classifying ahead is what acting does.
        let guarded = self.guard.is_some().then(|| self.classifier());
        let parsed = parse_batch(mails, self.cfg.limits.max_message_bytes, guarded.as_ref());
        self.times.parse += t_parse.elapsed();
        self.ingest_parsed(mails, parsed, now, watermark)
    }

    /// [`Engine::ingest_batch`] for mails already parsed by [`parse_batch`]
    /// (on another thread, say), one entry per mail.
    pub fn ingest_parsed(
        &mut self,
        mails: &[RawMail],
        parsed: Vec<Parsed>,
        now: DateTime<Utc>,
        watermark: Option<DateTime<Utc>>,
    ) -> Result<Vec<Report>, EngineError> {
        debug_assert_eq!(mails.len(), parsed.len());
        let t_act = Instant::now();
        let mut reports = Vec::with_capacity(mails.len());
        let (today, day) = local_dates(&self.cfg, now);
        let guard = self.guard.clone();
        // Messages with deaths counted: handled here (the batch commits only
        // if each of them was), they did not kill this process.
        let survived: Vec<String> = parsed
            .iter()
            .filter_map(|p| p.name.as_ref())
            .filter(|n| self.crashed.contains(*n))
            .cloned()
            .collect();
        let (store, mut ctx) = self.acting(today, &day);
        let mut tx = store.tx()?;
        let mut failed = None;
        for (m, p) in mails.iter().zip(parsed) {
            let t0 = p.started;
            if let (Some(g), Some(n)) = (&guard, &p.name) {
                g.hold(Stage::Act, n);
            }
            #[cfg(debug_assertions)]
            debug_abort(&p);
            // A panic while acting (a bug) must cost one message, not stop
            // the daemon: caught here, the engine's lock is not poisoned.
            let one = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.act_on(&mut tx, m, p, now, watermark, false)
            }));
            if let Some(g) = &guard {
                g.release(Stage::Act);
            }
            match one {
                Ok(Ok(mut rep)) => {
                    rep.micros = t0.elapsed().as_micros() as u64;
                    reports.push(rep);
                }
                Ok(Err(e)) => {
                    failed = Some(BatchFailure::Store(e));
                    break;
                }
                Err(p) => {
                    failed = Some(BatchFailure::Panic(panic_text(&*p)));
                    break;
                }
            }
        }
        if failed.is_none() {
            failed = survived
                .iter()
                .try_for_each(|n| tx.forget_crash(n))
                .err()
                .map(BatchFailure::Store);
        }
        if failed.is_none() {
            // The writes the transaction held back (see `Tx::flush`) belong
            // to the batch: a failure there is a failure of the batch.
            failed = tx.flush().err().map(BatchFailure::Store);
        }
        let act = t_act.elapsed();
        if let Some(broke) = failed {
            // Nothing of this batch is kept. Alone, a store error is the
            // message's answer, and a panic sets it aside; in a batch, each
            // message is tried on its own so the others still go through.
            drop(tx);
            self.times.act += act;
            if mails.len() == 1 {
                return match broke {
                    BatchFailure::Store(e) => Err(e.into()),
                    BatchFailure::Panic(why) => self.set_aside_internal(&mails[0], &why, now),
                };
            }
            let error = match &broke {
                BatchFailure::Store(e) => e.to_string(),
                BatchFailure::Panic(why) => format!("panic: {why}"),
            };
            tracing::warn!(%error, "batch failed; retrying its messages one by one");
            let mut reports = Vec::with_capacity(mails.len());
            for m in mails {
                reports.extend(self.ingest_batch(std::slice::from_ref(m), now, watermark)?);
            }
            return Ok(reports);
        }
        let t_commit = Instant::now();
        let committed = tx.commit();
        self.times.act += act;
        self.times.commit += t_commit.elapsed();
        committed?;
        for n in &survived {
            self.crashed.remove(n);
        }
        // Logged only once committed: a line per message that took effect.
        reports.iter().for_each(log_report);
        Ok(reports)
    }

    /// Sets aside, in a transaction of its own, a message whose acting
    /// panicked (`why`): moved to the rejected folder, listed by
    /// `set-aside` as `internal_error`, releasable once the bug is fixed.
    fn set_aside_internal(
        &mut self,
        m: &RawMail,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Report>, EngineError> {
        let inb = parse_guarded(&m.raw).ok();
        let key = inb
            .as_ref()
            .map(|i| i.dedupe_key.clone())
            .unwrap_or_else(|| raw_key(&m.raw));
        tracing::error!(key, %why, "acting on a message failed inside crossdesk (a bug); set aside");
        let (today, day) = local_dates(&self.cfg, now);
        let (store, ctx) = self.acting(today, &day);
        let mut tx = store.tx()?;
        let why = SetAside::Internal(format!(
            "crossdesk failed acting on it (a bug; please report it): {why}"
        ));
        let rep = ctx.set_aside(&mut tx, m, &key, inb.as_ref(), why, now)?;
        tx.commit()?;
        log_report(&rep);
        Ok(vec![rep])
    }

    /// The store, and what acts on messages of the local date
    /// `today` (`day` as text) with the rest of the engine: borrowed apart,
    /// so that acting writes through a transaction of the store.
    fn acting<'a>(&'a mut self, today: NaiveDate, day: &'a str) -> (&'a mut Store, Acting<'a>) {
        let ctx = Acting {
            today,
            day,
            cfg: &self.cfg,
            dir: &self.dir,
            kw: &self.kw,
            own: &self.own,
            domain: &self.domain,
            routes: &self.routes,
            files: &self.files,
            seq: &mut self.seq,
        };
        (&mut self.store, ctx)
    }

    /// Acts on a set-aside message as if it had just arrived, skipping the
    /// never-answer filter, the directory and authentication checks (the
    /// admin vouches for it). Returns `None` when no such key is held.
    pub fn release(
        &mut self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Report>, EngineError> {
        let Some((raw, released)) = self.store.set_aside_raw(key)? else {
            return Ok(None);
        };
        if released {
            return Ok(Some(Report {
                handle: key.into(),
                key: key.into(),
                verdict: "already_released".into(),
                item: None,
                disposition: Disposition::Processed,
                micros: 0,
            }));
        }
        let m = RawMail {
            handle: key.into(),
            raw,
            received: None,
        };
        let p = Parsed {
            inbound: parse_guarded(&m.raw),
            started: Instant::now(),
            command: None,
            name: None,
            condemned: false,
        };
        let (today, day) = local_dates(&self.cfg, now);
        let (store, mut ctx) = self.acting(today, &day);
        let mut tx = store.tx()?;
        let rep = ctx.act_on(&mut tx, &m, p, now, None, true)?;
        tx.mark_released(key, now)?;
        tx.commit()?;
        log_report(&rep);
        Ok(Some(rep))
    }
}

fn log_report(r: &Report) {
    tracing::info!(
        key = %r.key,
        verdict = %r.verdict,
        item = r.item.as_deref().unwrap_or("-"),
        micros = r.micros,
        "message"
    );
}
