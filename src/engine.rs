//! The shell around the pure core: one batch of raw mails in, one SQLite
//! transaction out, then the outbox drained through a transport.
//!
//! Order per message: parse → dedupe → watermark → screen (never-answer
//! rules) → known sender → authentication → classify → find the item →
//! decide → store state, events, thread ids and outgoing mail. Nothing here
//! decides what the protocol means; that is `workflow::decide`.

use crate::config::{action_from_key, Config};
use crate::crashguard::{self, CrashGuard, Slot};
use crate::directory::Directory;
use crate::mail::classify::{classify, has_reply_prefix, Keywords};
use crate::mail::filter::{auth_passes, screen, SetAside};
use crate::mail::parse::parse;
use crate::mail::{Inbound, Mailbox};
use crate::notify::render::{Envelope, Renderer};
use crate::send::{SendError, Transport};
use crate::source::{Disposition, RawMail, Source, SourceError};
use crate::store::{SendResult, Store, StoreError, Tx};
use crate::workflow::decide::{decide, Ctx, Outcome, Request, Target, Verdict};
use crate::workflow::model::{Action, Command, ItemId};
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// What became of one incoming message.
#[derive(Debug, Clone)]
pub struct Report {
    pub handle: String,
    pub key: String,
    /// `applied:confirm`, `refused:wrong_state`, `help`,
    /// `set_aside:auto_reply`, `duplicate`, `before_watermark`.
    pub verdict: String,
    pub item: Option<String>,
    pub disposition: Disposition,
    pub micros: u64,
}

/// Where ingest time goes, accumulated over the engine's life (cheap to
/// keep; printed by the benchmark).
#[derive(Debug, Default, Clone, Copy)]
pub struct IngestTimes {
    pub parse: std::time::Duration,
    /// screen + classify + decide + the transaction's writes
    pub act: std::time::Duration,
    /// the COMMIT itself (the fsync)
    pub commit: std::time::Duration,
}

impl std::fmt::Display for Report {
    /// The line `ingest` and `run --once` print: handle, verdict, item.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\t{}\t{}",
            self.handle,
            self.verdict,
            self.item.as_deref().unwrap_or("-")
        )
    }
}

/// One mail parsed, ready for [`Engine::ingest_parsed`].
pub struct Parsed {
    /// The message, or why it cannot be read (it is then set aside).
    pub inbound: Result<Inbound, String>,
    /// When its handling began (for the per-message time in the report).
    pub started: Instant,
    /// What its subject and body say, read on the parsing thread for the
    /// local day given (the engine reads it again on another day).
    pub command: Option<(chrono::NaiveDate, Command)>,
    /// Its name for the crash guard, when the daemon keeps one.
    pub name: Option<String>,
    /// The daemon died with it in hand too often: set aside unread.
    pub condemned: bool,
}

/// What the parsing thread needs to classify as well: the keywords and
/// the zone that says which day it is.
#[derive(Clone)]
pub struct Classifier {
    pub kw: Keywords,
    pub tz: chrono_tz::Tz,
    /// Notes the message being read (see [`crate::crashguard`]).
    pub guard: Option<std::sync::Arc<CrashGuard>>,
}

/// Parses a batch (pure: any thread may do it), and classifies it too
/// when given a classifier. A mail over `max_bytes` is not parsed; it is
/// set aside as unreadable, saying why.
pub fn parse_batch(mails: &[RawMail], max_bytes: usize, cl: Option<&Classifier>) -> Vec<Parsed> {
    let today = cl.map(|c| crate::schedule::now(c.tz).with_timezone(&c.tz).date_naive());
    mails
        .iter()
        .map(|m| {
            let started = Instant::now();
            let guard = cl.and_then(|c| c.guard.as_deref());
            let name = guard.map(|_| crashguard::fingerprint(&m.handle, &m.raw));
            if let (Some(g), Some(n)) = (guard, &name) {
                if g.is_condemned(n) {
                    return Parsed {
                        inbound: Err(format!(
                            "the daemon stopped {} times with this message in hand (a bug; please report it); set aside unread so that the mail behind it goes on",
                            crashguard::CONDEMN_AFTER
                        )),
                        started,
                        command: None,
                        name,
                        condemned: true,
                    };
                }
                g.hold(Slot::Read, n);
            }
            let inbound = if m.raw.len() > max_bytes {
                Err(format!(
                    "message too large: {} bytes (limit {max_bytes})",
                    m.raw.len()
                ))
            } else {
                parse_guarded(&m.raw)
            };
            // Read again on the acting thread if this fails.
            let command = match (cl, today, &inbound) {
                (Some(c), Some(day), Ok(i)) => {
                    std::panic::catch_unwind(|| (day, classify(&i.subject, &i.body, &c.kw, day)))
                        .ok()
                }
                _ => None,
            };
            if let Some(g) = guard {
                g.release(Slot::Read);
            }
            Parsed {
                inbound,
                started,
                command,
                name,
                condemned: false,
            }
        })
        .collect()
}

// Fault injection for the unit tests: a panic while reading (`"parse"`)
// or acting on (`"act"`) a message whose bytes hold the marker.
#[cfg(test)]
thread_local! {
    static PANIC_ON: std::cell::RefCell<Vec<(&'static str, &'static str)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
fn injected_panic(stage: &str, raw: &[u8]) {
    PANIC_ON.with(|p| {
        for (s, marker) in p.borrow().iter() {
            if *s == stage && raw.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                panic!("injected panic while {stage}");
            }
        }
    });
}

/// Why a batch's transaction was given up.
enum Broke {
    Store(StoreError),
    Panic(String),
}

/// What a caught panic said.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Debug builds only, for the tests of the crash guard: with
/// `CROSSDESK_DEBUG_ABORT_SUBJECT` set, acting on a message whose subject
/// contains it aborts the process (as a stack overflow or a C library's
/// abort would).
#[cfg(debug_assertions)]
fn debug_abort(p: &Parsed) {
    static WHAT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let what = WHAT.get_or_init(|| std::env::var("CROSSDESK_DEBUG_ABORT_SUBJECT").ok());
    if let (Some(w), Ok(i)) = (what, &p.inbound) {
        if i.subject.contains(w.as_str()) {
            eprintln!(
                "crossdesk: CROSSDESK_DEBUG_ABORT_SUBJECT: aborting on {:?}",
                i.subject
            );
            std::process::abort();
        }
    }
}

/// Reads a message. mail-parser and crossdesk's own reading run on bytes
/// from anyone: a panic there (a bug) costs this one message, set aside
/// as unreadable, rather than the batch it came in, again at every retry.
fn parse_guarded(raw: &[u8]) -> Result<Inbound, String> {
    match std::panic::catch_unwind(|| {
        #[cfg(test)]
        injected_panic("parse", raw);
        parse(raw)
    }) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(p) => Err(format!(
            "crossdesk failed reading it (a bug; please report it): {}",
            panic_text(&*p)
        )),
    }
}

/// Outbox drain figures.
#[derive(Debug, Default, Clone, Copy)]
pub struct DrainStats {
    pub sent: usize,
    pub retry: usize,
    pub failed: usize,
}

pub struct Engine {
    pub cfg: Config,
    pub dir: Directory,
    pub kw: Keywords,
    pub store: Store,
    pub renderer: Renderer,
    own: Mailbox,
    domain: String,
    seq: u64,
    pub times: IngestTimes,
    /// Results of sends the store could not record (its disk full, say):
    /// recorded before anything else is sent, so that a mail the server
    /// took is not sent again at every drain while the store is failing.
    unrecorded: Vec<(i64, SendResult)>,
    /// How many times the configuration was reloaded.
    reloads: u64,
    /// The daemon's note of the messages in hand (see [`crate::crashguard`]).
    guard: Option<std::sync::Arc<CrashGuard>>,
    /// The messages with deaths counted in the store: a count is forgotten
    /// in the transaction that handles its message (it did not kill this
    /// process), so counts neither pile up nor add up over coincidences.
    crashed: std::collections::HashSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{n} sent mail(s) not yet recorded as sent, so nothing more is sent until they are: {error}")]
    Unrecorded { n: usize, error: StoreError },
    #[error("templates: {0}")]
    Templates(String),
    #[error("clock: {0}")]
    Clock(String),
    #[error("crash guard {path}: {err}")]
    Guard { path: String, err: std::io::Error },
}

/// What the engine builds from its configuration.
struct Parts {
    dir: Directory,
    kw: Keywords,
    renderer: Renderer,
    own: Mailbox,
    domain: String,
}

impl Parts {
    fn of(cfg: &Config) -> Result<Parts, EngineError> {
        let mut kw = Keywords::default();
        for (action, words) in &cfg.keywords {
            if let Some(a) = action_from_key(action) {
                for w in words {
                    kw.add(a, w);
                }
            }
        }
        let tdir = cfg.templates.dir.as_deref().map(|d| cfg.resolve(d));
        let renderer =
            Renderer::new(tdir.as_deref()).map_err(|e| EngineError::Templates(e.to_string()))?;
        let own = cfg.own_mailbox();
        let domain = own
            .address
            .split_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| "localhost".into());
        Ok(Parts {
            dir: Directory::from_config(cfg),
            kw,
            renderer,
            own,
            domain,
        })
    }
}

/// Past the last step of the retry schedule (`[smtp] retry_seconds`) a
/// mail is retried at that interval until this many hours have passed.
const GIVE_UP_AFTER_HOURS: i64 = 72;

impl Engine {
    pub fn new(cfg: Config) -> Result<Engine, EngineError> {
        let store = Store::open(&cfg.store_path())?;
        let Parts {
            dir,
            kw,
            renderer,
            own,
            domain,
        } = Parts::of(&cfg)?;
        Ok(Engine {
            cfg,
            dir,
            kw,
            store,
            renderer,
            own,
            domain,
            seq: 0,
            times: IngestTimes::default(),
            unrecorded: vec![],
            reloads: 0,
            guard: None,
            crashed: Default::default(),
        })
    }

    /// Keeps the crash guard (`crossdesk run`, under the run lock): reads
    /// what the last process had in hand when it died, counts those deaths
    /// in the store, and from now on notes each message being read or
    /// acted on. Messages in hand at [`crashguard::CONDEMN_AFTER`] deaths
    /// are set aside unread when they come up. Returns the names of the
    /// messages the last process died with, and their counts.
    pub fn keep_crash_guard(&mut self) -> Result<Vec<(String, u32)>, EngineError> {
        let store = self.cfg.store_path();
        let (mut guard, left) = CrashGuard::open(&store).map_err(|err| EngineError::Guard {
            path: crashguard::path_for(&store).display().to_string(),
            err,
        })?;
        let mut died = vec![];
        for name in left {
            let n = self.store.bump_crash(&name)?;
            tracing::warn!(name = %name, deaths = n,
                "the last run stopped with this message in hand");
            died.push((name, n));
        }
        let counts = self.store.crash_counts()?;
        guard.condemn(
            counts
                .iter()
                .filter(|(_, n)| *n >= crashguard::CONDEMN_AFTER)
                .map(|(name, _)| name.clone()),
        );
        self.crashed = counts.into_iter().map(|(name, _)| name).collect();
        self.guard = Some(std::sync::Arc::new(guard));
        Ok(died)
    }

    /// Takes a new configuration while running (`crossdesk run` on
    /// SIGHUP): departments and their members, keywords, templates,
    /// limits, locale, digests, reminders and the calendar apply to what
    /// comes next. The store, the source, the transport and the `[imap]`
    /// and `[smtp]` sections stay as the daemon started with them (its
    /// connections and its store were opened with those): the names of
    /// those that changed come back, to be applied by a restart. A
    /// configuration whose templates do not load changes nothing.
    pub fn reload(&mut self, mut cfg: Config) -> Result<Vec<&'static str>, EngineError> {
        let old = &self.cfg;
        let mut later = vec![];
        if cfg.store != old.store {
            later.push("[store]");
        }
        if cfg.mail.source != old.mail.source {
            later.push("mail.source");
        }
        if cfg.mail.transport != old.mail.transport {
            later.push("mail.transport");
        }
        if cfg.imap != old.imap {
            later.push("[imap]");
        }
        if cfg.smtp != old.smtp {
            later.push("[smtp]");
        }
        cfg.store = old.store.clone();
        cfg.mail.source = old.mail.source.clone();
        cfg.mail.transport = old.mail.transport.clone();
        cfg.imap = old.imap.clone();
        cfg.smtp = old.smtp.clone();
        cfg.base_dir = old.base_dir.clone();
        let p = Parts::of(&cfg)?;
        (self.dir, self.kw, self.renderer, self.own, self.domain) =
            (p.dir, p.kw, p.renderer, p.own, p.domain);
        self.cfg = cfg;
        self.reloads += 1;
        Ok(later)
    }

    /// How many times [`Engine::reload`] took a configuration.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// The first-start watermark: recorded on the first call, then fixed.
    pub fn watermark(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, EngineError> {
        if let Some(v) = self.store.meta("watermark")? {
            return Ok(DateTime::parse_from_rfc3339(&v)
                .ok()
                .map(|t| t.with_timezone(&Utc)));
        }
        let w = self.cfg.watermark_time(now).ok().flatten();
        self.store.set_meta(
            "watermark",
            &w.map(|t| t.to_rfc3339()).unwrap_or_else(|| "all".into()),
        )?;
        Ok(w)
    }

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
        let (store, mut ctx) = self.pipeline(today, &day);
        let mut tx = store.tx()?;
        let mut failed = None;
        for (m, p) in mails.iter().zip(parsed) {
            let t0 = p.started;
            if let (Some(g), Some(n)) = (&guard, &p.name) {
                g.hold(Slot::Act, n);
            }
            #[cfg(debug_assertions)]
            debug_abort(&p);
            // A panic while acting (a bug) must cost one message, not stop
            // the daemon: caught here, the engine's lock is not poisoned.
            let one = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.one(&mut tx, m, p, now, watermark, false)
            }));
            if let Some(g) = &guard {
                g.release(Slot::Act);
            }
            match one {
                Ok(Ok(mut rep)) => {
                    rep.micros = t0.elapsed().as_micros() as u64;
                    reports.push(rep);
                }
                Ok(Err(e)) => {
                    failed = Some(Broke::Store(e));
                    break;
                }
                Err(p) => {
                    failed = Some(Broke::Panic(panic_text(&*p)));
                    break;
                }
            }
        }
        if failed.is_none() {
            failed = survived
                .iter()
                .try_for_each(|n| tx.forget_crash(n))
                .err()
                .map(Broke::Store);
        }
        if failed.is_none() {
            // The writes the transaction held back (see `Tx::flush`) belong
            // to the batch: a failure there is a failure of the batch.
            failed = tx.flush().err().map(Broke::Store);
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
                    Broke::Store(e) => Err(e.into()),
                    Broke::Panic(why) => self.set_aside_internal(&mails[0], &why, now),
                };
            }
            let error = match &broke {
                Broke::Store(e) => e.to_string(),
                Broke::Panic(why) => format!("panic: {why}"),
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
        let (store, ctx) = self.pipeline(today, &day);
        let mut tx = store.tx()?;
        let why = SetAside::Internal(format!(
            "crossdesk failed acting on it (a bug; please report it): {why}"
        ));
        let rep = ctx.set_aside(&mut tx, m, &key, inb.as_ref(), why, now)?;
        tx.commit()?;
        log_report(&rep);
        Ok(vec![rep])
    }

    /// The store, and the pipeline that acts on messages of the local date
    /// `today` (`day` as text) with the rest of the engine: borrowed apart,
    /// so that the pipeline writes through a transaction of the store.
    fn pipeline<'a>(&'a mut self, today: NaiveDate, day: &'a str) -> (&'a mut Store, Pipeline<'a>) {
        let ctx = Pipeline {
            today,
            day,
            cfg: &self.cfg,
            dir: &self.dir,
            kw: &self.kw,
            own: &self.own,
            domain: &self.domain,
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
        let (store, mut ctx) = self.pipeline(today, &day);
        let mut tx = store.tx()?;
        let rep = ctx.one(&mut tx, &m, p, now, None, true)?;
        tx.mark_released(key, now)?;
        tx.commit()?;
        log_report(&rep);
        Ok(Some(rep))
    }

    /// Renders up to `limit` due outbox mails. A mail whose template fails
    /// comes back with its error instead of bytes (recorded as failed).
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
        let schedule = self
            .cfg
            .smtp
            .as_ref()
            .map(|s| s.retry_seconds.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(crate::config::default_retry_seconds);
        Ok(due
            .into_iter()
            .map(|m| {
                let env = Envelope {
                    from: self.own.clone(),
                    message_id: m.message_id.clone(),
                    in_reply_to: m.in_reply_to.clone(),
                    references: m.references.clone(),
                    date: m.created_at.with_timezone(&tz).fixed_offset(),
                };
                let rcpts = m
                    .out
                    .to
                    .iter()
                    .chain(m.out.cc.iter())
                    .map(|r| r.address.clone())
                    .collect();
                Prepared {
                    id: m.id,
                    bytes: self
                        .renderer
                        .render_message(&m.out, &env)
                        .map_err(|e| format!("render: {e}")),
                    message_id: m.message_id,
                    rcpts,
                    attempts: m.attempts,
                    retry_in: schedule[(m.attempts as usize).min(schedule.len() - 1)] as i64,
                    since: m.since,
                }
            })
            .collect())
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

    pub fn own_address(&self) -> &str {
        &self.own.address
    }

    /// What a parsing thread needs to classify mail as this engine does.
    pub fn classifier(&self) -> Classifier {
        Classifier {
            kw: self.kw.clone(),
            tz: self.cfg.tz(),
            guard: self.guard.clone(),
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
            Err(SendError::Transient(e)) => {
                let age = now - self.since;
                if age > chrono::Duration::hours(GIVE_UP_AFTER_HOURS) {
                    SendResult::Failed(format!("gave up after {} hours: {e}", age.num_hours()))
                } else {
                    SendResult::Retry {
                        at: now + chrono::Duration::seconds(self.retry_in),
                        error: e,
                    }
                }
            }
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

/// Works through everything a source holds, one transaction per batch,
/// acknowledging each message only after its batch committed. Returns the
/// number of messages handled. `stop` is polled between batches.
///
/// Two threads share the work: this one acts and commits, while a reader
/// thread fetches and parses the next batch and moves the messages of each
/// batch that has committed. The order of acting is the source's order; a
/// message is moved only after the commit that holds its effects.
pub fn process_backlog(
    engine: &mut Engine,
    source: &mut (dyn Source + Send),
    watermark: Option<DateTime<Utc>>,
    stop: &dyn Fn() -> bool,
    mut on_batch: impl FnMut(&[Report]),
) -> Result<usize, BacklogError> {
    type Batch = Result<(Vec<RawMail>, Vec<Parsed>), SourceError>;
    let batch = engine.cfg.store.batch;
    let max_bytes = engine.cfg.limits.max_message_bytes;
    let cl = engine.classifier();
    std::thread::scope(|scope| {
        // One batch parsed ahead; the acks of committed batches come back.
        let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel::<Batch>(1);
        let (ack_tx, ack_rx) = std::sync::mpsc::channel::<Vec<(String, Disposition)>>();
        let reader = std::thread::Builder::new()
            .name("crossdesk-reader".into())
            .spawn_scoped(
                scope,
                move || -> Result<std::time::Duration, SourceError> {
                    let mut parse_time = std::time::Duration::ZERO;
                    let ack = |source: &mut (dyn Source + Send),
                               acks: Vec<(String, Disposition)>| {
                        acks.iter().try_for_each(|(h, d)| source.ack(h, *d))
                    };
                    // Small batches first, doubling up to `batch`: the
                    // acting thread starts after a few messages rather than
                    // after a whole batch was read and parsed.
                    let mut want = batch.min(32);
                    loop {
                        // First move what has committed meanwhile.
                        while let Ok(acks) = ack_rx.try_recv() {
                            ack(source, acks)?;
                        }
                        let next = source.fetch(want).map(|mails| {
                            let t = Instant::now();
                            let parsed = parse_batch(&mails, max_bytes, Some(&cl));
                            parse_time += t.elapsed();
                            (mails, parsed)
                        });
                        want = (want * 2).min(batch);
                        let last = !matches!(&next, Ok((m, _)) if !m.is_empty());
                        if batch_tx.send(next).is_err() || last {
                            break;
                        }
                    }
                    drop(batch_tx);
                    // Then every batch that commits from here on.
                    for acks in ack_rx {
                        ack(source, acks)?;
                    }
                    Ok(parse_time)
                },
            )
            .map_err(|e| SourceError::Io(format!("cannot start the reader thread: {e}")))?;
        let mut n = 0;
        let mut failed: Option<BacklogError> = None;
        while !stop() {
            // A closed channel: the reader stopped on an error (see join).
            let Ok(next) = batch_rx.recv() else { break };
            let (mails, parsed) = match next {
                Ok(b) => b,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            if mails.is_empty() {
                break;
            }
            let now = crate::schedule::now(engine.cfg.tz());
            match engine.ingest_parsed(&mails, parsed, now, watermark) {
                Ok(reports) => {
                    let acks = reports
                        .iter()
                        .map(|r| (r.handle.clone(), r.disposition))
                        .collect();
                    // Only fails when the reader stopped on an error.
                    let _ = ack_tx.send(acks);
                    n += reports.len();
                    on_batch(&reports);
                }
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            }
        }
        drop(batch_rx);
        drop(ack_tx);
        let read = match reader.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        };
        if let Some(e) = failed {
            return Err(e);
        }
        engine.times.parse += read?;
        Ok(n)
    })
}

#[derive(Debug, thiserror::Error)]
pub enum BacklogError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("source: {0}")]
    Source(#[from] SourceError),
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

/// Borrowed pieces of the engine that one message's processing needs.
struct Pipeline<'a> {
    /// The local date of the batch's `now` (what dates in mail mean) and
    /// the same as text (what the daily cap counts in): once per batch.
    today: NaiveDate,
    day: &'a str,
    cfg: &'a Config,
    dir: &'a Directory,
    kw: &'a Keywords,
    own: &'a Mailbox,
    domain: &'a str,
    seq: &'a mut u64,
}

/// The local date (configured zone) the daily cap counts in.
fn local_day(cfg: &Config, now: DateTime<Utc>) -> String {
    local_dates(cfg, now).1
}

/// The local date of `now`, and the same as text (`local_day`).
fn local_dates(cfg: &Config, now: DateTime<Utc>) -> (NaiveDate, String) {
    let d = now.with_timezone(&cfg.tz()).date_naive();
    (d, d.format("%Y-%m-%d").to_string())
}

/// How one outgoing mail is queued, for replies and the clock alike: the
/// per-recipient daily cap, a fresh Message-ID naming its item (mail about
/// no item, such as a digest, names none: a reply to it gets the help
/// text), and the outbox row, all in the caller's transaction.
struct Queue<'a> {
    day: &'a str,
    cap: u32,
    domain: &'a str,
    now: DateTime<Utc>,
}

impl Queue<'_> {
    /// Returns the new mail's Message-ID.
    fn mail(
        &self,
        tx: &Tx,
        seq: &mut u64,
        mut out: crate::notify::Outgoing,
        in_reply_to: Option<&str>,
        refs: &[String],
    ) -> Result<String, StoreError> {
        let (day, cap, now) = (self.day, self.cap, self.now);
        // The per-recipient daily cap stops any loop that slipped through
        // (it counts every automated mail meant for the address today).
        let mut dropped = vec![];
        for list in [&mut out.to, &mut out.cc] {
            let mut keep = vec![];
            for rcpt in list.drain(..) {
                if tx.bump_rcpt(&rcpt.address, day)? > cap {
                    dropped.push(rcpt.address.clone());
                } else {
                    keep.push(rcpt);
                }
            }
            *list = keep;
        }
        if !dropped.is_empty() {
            tracing::warn!(
                ?dropped,
                cap,
                kind = out.kind.name(),
                "daily cap reached; recipients dropped"
            );
        }
        let suppressed = out.to.is_empty() && out.cc.is_empty();
        if suppressed {
            // Keep a record of what would have gone out, to whom.
            out.to = dropped.iter().map(|a| Mailbox::new(None, a)).collect();
        }
        // Our Message-IDs name their item (see `new_message_id`): a digest's
        // names none, so a bare reply to it finds no item and gets help.
        let out_item = out.item.as_deref().and_then(ItemId::parse);
        let mid = new_message_id(seq, self.domain, now, out_item);
        tx.queue_mail(&mid, &out, in_reply_to, refs, now, suppressed)?;
        Ok(mid)
    }
}

/// A mail the clock wants sent exactly once: `key` is recorded in the
/// transaction that queues it, and a key recorded before means the mail is
/// not queued again. `out: None` records the key only (an empty digest).
#[derive(Debug, Clone)]
pub struct ClockMail {
    pub key: String,
    pub out: Option<crate::notify::Outgoing>,
    pub thread: ClockThread,
}

/// What a clock mail threads on.
#[derive(Debug, Clone)]
pub enum ClockThread {
    /// The requirement's thread (reminders): its root, when the snapshot
    /// keeps it, else looked up.
    Req {
        req: crate::workflow::model::ReqId,
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
        let q = Queue {
            day: &day,
            cap: self.cfg.limits.daily_cap_per_recipient,
            domain: &self.domain,
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

/// The id a department's digests thread on: `crossdesk.digest.rd@corp.example`
/// (a department id that is not plain ASCII is hex-encoded).
pub fn digest_thread_id(dept: &str, domain: &str) -> String {
    let mut d = String::with_capacity(dept.len());
    for b in dept.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            d.push(b as char);
        } else {
            d.push_str(&format!("={b:02x}"));
        }
    }
    format!("crossdesk.digest.{d}@{domain}")
}

/// A fresh, unique Message-ID for an outgoing mail (without brackets):
/// time, a per-process sequence and randomness, and the item it is about
/// after a `+`, at the daemon's domain. A reply's In-Reply-To then names
/// its item without a lookup (and without a row per mail sent).
fn new_message_id(seq: &mut u64, domain: &str, now: DateTime<Utc>, item: Option<ItemId>) -> String {
    *seq += 1;
    let item = item.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
    format!(
        "cd.{}.{}.{:08x}+{item}@{domain}",
        now.timestamp_millis(),
        seq,
        rand::random::<u32>(),
    )
}

/// The item one of our own Message-IDs names (see `new_message_id`).
pub fn item_of_own_id(id: &str, domain: &str) -> Option<ItemId> {
    let (local, dom) = id.rsplit_once('@')?;
    if !dom.eq_ignore_ascii_case(domain) || !local.starts_with("cd.") {
        return None;
    }
    ItemId::parse(local.rsplit_once('+')?.1)
}

/// The item a reply belongs to through its thread headers: each id in
/// order (In-Reply-To, then References newest first), ours by its form,
/// others through the thread index.
fn thread_lookup(tx: &Tx, ids: &[&str], domain: &str) -> Result<Option<ItemId>, StoreError> {
    for id in ids {
        if let Some(i) = item_of_own_id(id, domain) {
            return Ok(Some(i));
        }
        if let Some(i) = tx.thread_item(&[id])? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn raw_key(raw: &[u8]) -> String {
    let h = Sha256::digest(raw);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in h {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn set_aside_class(s: &SetAside) -> (&'static str, &str) {
    match s {
        SetAside::AutoReply(d) => ("auto_reply", d),
        SetAside::Bounce(d) => ("bounce", d),
        SetAside::MailingList(d) => ("mailing_list", d),
        SetAside::OwnMail(d) => ("own_mail", d),
        SetAside::UnknownSender(d) => ("unknown_sender", d),
        SetAside::NotAuthenticated(d) => ("not_authenticated", d),
        SetAside::BeforeWatermark(d) => ("before_watermark", d),
        SetAside::Unreadable(d) => ("unreadable", d),
        SetAside::Internal(d) => ("internal_error", d),
    }
}

impl Pipeline<'_> {
    fn report(
        &self,
        m: &RawMail,
        key: &str,
        verdict: String,
        item: Option<ItemId>,
        d: Disposition,
    ) -> Report {
        Report {
            handle: m.handle.clone(),
            key: key.to_string(),
            verdict,
            item: item.map(|i| i.to_string()),
            disposition: d,
            micros: 0,
        }
    }

    fn set_aside(
        &self,
        tx: &mut Tx,
        m: &RawMail,
        key: &str,
        inb: Option<&Inbound>,
        why: SetAside,
        now: DateTime<Utc>,
    ) -> Result<Report, StoreError> {
        let (class, detail) = set_aside_class(&why);
        // Unparsed (too large, unreadable, condemned): what the raw header
        // block says, undecoded for a message the daemon died with.
        let glanced: (String, String);
        let (sender, subject) = match inb {
            Some(i) => (
                i.from.as_ref().map(|f| f.address.as_str()).unwrap_or(""),
                i.subject.as_str(),
            ),
            None => {
                let decode = !matches!(why, SetAside::Internal(_));
                glanced = crate::mail::parse::glance(&m.raw, decode);
                (glanced.0.as_str(), glanced.1.as_str())
            }
        };
        tx.set_aside(key, class, detail, sender, subject, &m.raw, now)?;
        let verdict = format!("set_aside:{class}");
        tx.record_message(
            key,
            inb.and_then(|i| i.message_id.as_deref()),
            sender,
            subject,
            &verdict,
            None,
            now,
        )?;
        tracing::warn!(key, class, detail, sender, "set aside");
        Ok(self.report(m, key, verdict, None, Disposition::Rejected))
    }

    fn one(
        &mut self,
        tx: &mut Tx,
        m: &RawMail,
        p: Parsed,
        now: DateTime<Utc>,
        watermark: Option<DateTime<Utc>>,
        released: bool,
    ) -> Result<Report, StoreError> {
        #[cfg(test)]
        injected_panic("act", &m.raw);
        let Parsed {
            inbound: parsed,
            command,
            condemned,
            ..
        } = p;
        let inb = match parsed {
            Ok(i) => i,
            Err(e) => {
                let key = raw_key(&m.raw);
                if !released && tx.seen(&key)?.is_some() {
                    return Ok(self.report(
                        m,
                        &key,
                        "duplicate".into(),
                        None,
                        Disposition::Rejected,
                    ));
                }
                let why = if condemned {
                    SetAside::Internal(e)
                } else {
                    SetAside::Unreadable(e)
                };
                return self.set_aside(tx, m, &key, None, why, now);
            }
        };
        let key = inb.dedupe_key.clone();
        if !released {
            if let Some(v) = tx.seen(&key)? {
                let d = if v.starts_with("set_aside") {
                    Disposition::Rejected
                } else {
                    Disposition::Processed
                };
                return Ok(self.report(m, &key, "duplicate".into(), None, d));
            }
            if let (Some(w), Some(r)) = (watermark, m.received) {
                if r < w {
                    return Ok(self.report(
                        m,
                        &key,
                        "before_watermark".into(),
                        None,
                        Disposition::Leave,
                    ));
                }
            }
            if let Some(why) = screen(&inb, &self.own.address) {
                if let (SetAside::Bounce(_), Some(orig)) = (&why, &inb.bounced_message_id) {
                    if tx.record_bounce(orig, &inb.subject)? {
                        tracing::warn!(original = %orig, "bounce of our mail recorded");
                    }
                }
                return self.set_aside(tx, m, &key, Some(&inb), why, now);
            }
        }
        let Some(sender) = inb.from.clone() else {
            return self.set_aside(
                tx,
                m,
                &key,
                Some(&inb),
                SetAside::Unreadable("no From address".into()),
                now,
            );
        };
        if !released {
            if !self.dir.is_known(&sender.address) {
                return self.set_aside(
                    tx,
                    m,
                    &key,
                    Some(&inb),
                    SetAside::UnknownSender(sender.address.clone()),
                    now,
                );
            }
            if let Some(server) = &self.cfg.auth.trusted_server {
                let domain = sender.address.split_once('@').map(|(_, d)| d).unwrap_or("");
                if !auth_passes(&inb, server, domain) {
                    return self.set_aside(
                        tx,
                        m,
                        &key,
                        Some(&inb),
                        SetAside::NotAuthenticated(format!(
                            "no dkim/spf pass from {server} for {domain}"
                        )),
                        now,
                    );
                }
            }
        }
        let today = self.today;
        let mut cmd = match command {
            Some((day, cmd)) if day == today => cmd,
            _ => classify(&inb.subject, &inb.body, self.kw, today),
        };

        // A reply-all to someone's [REQ] mail ("Re: [REQ] …") that threads
        // to a known requirement is a comment on it, not a second one.
        if cmd.action == Some(Action::NewReq)
            && cmd.target.is_none()
            && has_reply_prefix(&inb.subject)
        {
            if let Some(id) = thread_lookup(tx, &inb.thread_ids(), self.domain)? {
                cmd.action = Some(Action::Comment);
                cmd.target = Some(id);
            }
        }
        // Find the item: the subject's identifier, else the thread headers.
        let mut found = cmd.target;
        if found.is_none()
            && cmd.action != Some(Action::NewReq)
            && cmd.action != Some(Action::Notice)
        {
            found = thread_lookup(tx, &inb.thread_ids(), self.domain)?;
            if found.is_some() && cmd.action.is_none() && cmd.unknown_keyword.is_none() {
                cmd.action = Some(Action::Comment);
            }
        }
        let loaded = match found {
            Some(id) => tx.load_req(id.req())?,
            None => None,
        };
        let new_id;
        let target = if cmd.action == Some(Action::NewReq) {
            new_id = tx.next_req_id()?;
            Target::New(new_id)
        } else {
            match (found, &loaded) {
                (None, _) => Target::None,
                (Some(id), Some(r)) => match id {
                    ItemId::Task(t) if r.task(t).is_none() => Target::Unknown(id),
                    _ => Target::Existing(id, r),
                },
                (Some(id), None) => Target::Unknown(id),
            }
        };
        let recipients: Vec<Mailbox> = inb.to.iter().chain(inb.cc.iter()).cloned().collect();
        let message_id = inb.message_id.clone().unwrap_or_else(|| key.clone());
        let kw = self.kw;
        let words = move |a: Action| kw.words_for(a);
        let ctx = Ctx {
            dir: self.dir,
            workflow: self.own,
            now,
            today,
            keywords_for: &words,
        };
        let req = Request {
            cmd: &cmd,
            sender: &sender,
            recipients: &recipients,
            message_id: &message_id,
            subject: &inb.subject,
        };
        let outcome = decide(&ctx, &req, target);
        let verdict = match &outcome.verdict {
            Verdict::Applied(a) => format!("applied:{}", a.as_str()),
            Verdict::Refused(r) => format!("refused:{}", r.code()),
            Verdict::Help => "help".into(),
        };
        let item = outcome.item;
        self.commit(tx, &inb, &message_id, outcome, loaded.as_ref(), now)?;
        tx.record_message(
            &key,
            inb.message_id.as_deref(),
            &sender.address,
            &inb.subject,
            &verdict,
            item,
            now,
        )?;
        Ok(self.report(m, &key, verdict, item, Disposition::Processed))
    }

    fn commit(
        &mut self,
        tx: &mut Tx,
        inb: &Inbound,
        message_id: &str,
        o: Outcome,
        old: Option<&crate::workflow::state::Requirement>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let kept_root = o
            .req
            .as_ref()
            .or(old)
            .and_then(|r| r.root_message_id.clone());
        if let Some(r) = o.req {
            tx.save_req(r)?;
        }
        tx.add_events(o.events)?;
        let root = match (kept_root, o.item) {
            (Some(r), _) => Some(r),
            // Requirements stored before the root was kept on them.
            (None, Some(i)) => tx.thread_root(i.req())?,
            (None, None) => None,
        };
        let cap = self.cfg.limits.daily_cap_per_recipient;
        for out in o.mails {
            let mut refs: Vec<String> = vec![];
            if let Some(r) = &root {
                refs.push(r.clone());
            }
            for r in inb.references.iter().rev().take(8).rev() {
                if !refs.contains(r) {
                    refs.push(r.clone());
                }
            }
            if !refs.iter().any(|r| r == message_id) {
                refs.push(message_id.to_string());
            }
            let q = Queue {
                day: self.day,
                cap,
                domain: self.domain,
                now,
            };
            q.mail(tx, self.seq, out, Some(message_id), &refs)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_config;
    use crate::workflow::model::{ReqId, TaskId};

    /// A new requirement for rd from alice, with Message-ID `<{id}@corp.example>`.
    fn alice_req(handle: String, id: &str, subject: &str) -> RawMail {
        RawMail {
            handle,
            raw: format!(
                "From: alice@corp.example\r\nTo: workflow@corp.example\r\nSubject: {subject}\r\n\
                 Message-ID: <{id}@corp.example>\r\n\r\nDept: rd\r\n"
            )
            .into_bytes(),
            received: None,
        }
    }

    /// A transient failure is final 72 hours after the retry window began:
    /// when the mail was queued, or when an admin last put it back.
    #[test]
    fn a_transient_failure_gives_up_72_hours_after_the_window_began() {
        let now = chrono::Utc::now();
        let mail = |hours: i64| Prepared {
            id: 1,
            message_id: "m@x".into(),
            rcpts: vec!["a@corp.example".into()],
            bytes: Ok(vec![]),
            attempts: 3,
            retry_in: 3600,
            since: now - chrono::Duration::hours(hours),
        };
        let refused = || Err(SendError::Transient("connection refused".into()));
        let mut stats = DrainStats::default();
        assert!(matches!(
            mail(71).outcome(refused(), now, &mut stats),
            SendResult::Retry { at, .. } if at == now + chrono::Duration::hours(1)
        ));
        match mail(73).outcome(refused(), now, &mut stats) {
            SendResult::Failed(e) => assert!(e.starts_with("gave up after 73 hours"), "{e}"),
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            mail(73).outcome(Err(SendError::Permanent("550".into())), now, &mut stats),
            SendResult::Failed(_)
        ));
        assert!(matches!(
            mail(500).outcome(Ok(()), now, &mut stats),
            SendResult::Sent
        ));
        assert_eq!((stats.sent, stats.retry, stats.failed), (1, 1, 2));
    }

    /// A classification made on the parsing thread is used only for the
    /// day it was made for; on another day the engine reads the mail again.
    #[test]
    fn a_command_classified_ahead_counts_only_for_its_day() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
        let mut e = Engine::new(cfg).unwrap();
        let raw = |i: u32| {
            RawMail {
            handle: format!("h{i}"),
            raw: format!(
                "From: alice@corp.example\r\nTo: workflow@corp.example\r\nSubject: [REQ] Export {i}\r\n\
                 Message-ID: <ahead.{i}@corp.example>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0800\r\n\r\nDept: rd\r\n"
            )
            .into_bytes(),
            received: None,
        }
        };
        let mails = [raw(1), raw(2)];
        let mut parsed = parse_batch(&mails, 1 << 20, Some(&e.classifier()));
        let now = Utc::now();
        let today = now.with_timezone(&e.cfg.tz()).date_naive();
        // Doctored ahead-of-time readings: a help request (no action).
        let help = classify("hello", "", &e.kw, today);
        assert_eq!(help.action, None);
        parsed[0].command = Some((today, help.clone()));
        parsed[1].command = Some((today.pred_opt().unwrap(), help));
        let reps = e.ingest_parsed(&mails, parsed, now, None).unwrap();
        assert_eq!(reps[0].verdict, "help", "today's reading is used");
        assert_eq!(
            reps[1].verdict, "applied:new_req",
            "yesterday's is read again"
        );
    }

    /// Sent mail whose result the store cannot record (a full disk) is not
    /// handed out again: nothing is, until the result is recorded.
    #[test]
    fn sends_the_store_cannot_record_are_not_handed_out_again() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
        let mut e = Engine::new(cfg).unwrap();
        let mail = RawMail {
            handle: "h".into(),
            raw: b"From: alice@corp.example\r\nTo: workflow@corp.example\r\nSubject: [REQ] Export\r\n\
                   Message-ID: <unrecorded@corp.example>\r\n\r\nDept: rd\r\n"
                .to_vec(),
            received: None,
        };
        let now = Utc::now();
        e.ingest_batch(std::slice::from_ref(&mail), now, None)
            .unwrap();
        let due = e.prepare_due(now, 100).unwrap();
        assert_eq!(due.len(), 2, "an ack and a department notice");
        let sent: Vec<(i64, SendResult)> = due.iter().map(|p| (p.id, SendResult::Sent)).collect();

        e.store.refuse_writes(true);
        let err = e.finish_sends(&sent[..1], now).unwrap_err();
        assert!(matches!(err, EngineError::Unrecorded { n: 1, .. }), "{err}");
        let err = e.finish_sends(&sent[1..], now).unwrap_err();
        assert!(matches!(err, EngineError::Unrecorded { n: 2, .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("2 sent mail(s) not yet recorded as sent"),
            "{err}"
        );
        // The store still has both queued and due, yet neither is handed
        // out again.
        assert_eq!(e.store.outbox_status().unwrap().queued, 2);
        assert!(matches!(
            e.prepare_due(now, 100),
            Err(EngineError::Unrecorded { n: 2, .. })
        ));

        // Room again: the results are recorded first, so nothing is due.
        e.store.refuse_writes(false);
        assert!(e.prepare_due(now, 100).unwrap().is_empty());
        let st = e.store.outbox_status().unwrap();
        assert_eq!((st.queued, st.sent), (0, 2));
    }

    /// A reloaded configuration applies to the next message; what needs a
    /// restart is kept and named; one whose templates fail changes nothing.
    #[test]
    fn a_reloaded_configuration_applies_to_the_next_message() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = |members: &str, extra: &str| test_config(dir.path(), members, extra);
        let mail = |i: u32| {
            RawMail {
            handle: format!("h{i}"),
            raw: format!(
                "From: newbie@corp.example\r\nTo: workflow@corp.example\r\nSubject: [REQ] Export {i}\r\n\
                 Message-ID: <reload.{i}@corp.example>\r\n\r\nDept: rd\r\n"
            )
            .into_bytes(),
            received: None,
        }
        };
        let now = Utc::now();
        let mut e = Engine::new(cfg(r#""alice@corp.example""#, "")).unwrap();
        let r = e.ingest_batch(&[mail(1)], now, None).unwrap();
        assert!(r[0].verdict.contains("unknown_sender"), "{}", r[0].verdict);

        let both = r#""alice@corp.example", "newbie@corp.example""#;
        let mut moved = cfg(both, "");
        moved.store.path = "elsewhere.db".into();
        assert_eq!(e.reload(moved).unwrap(), vec!["[store]"]);
        assert_eq!(e.cfg.store.path, "x.db", "the store stays until a restart");
        let r = e.ingest_batch(&[mail(2)], now, None).unwrap();
        assert_eq!(r[0].verdict, "applied:new_req");

        let bad = cfg(
            r#""alice@corp.example""#,
            "[templates]\ndir = \"no-such-dir\"",
        );
        assert!(matches!(e.reload(bad), Err(EngineError::Templates(_))));
        assert_eq!(e.cfg.departments[0].members.len(), 2, "nothing changed");
        let r = e.ingest_batch(&[mail(3)], now, None).unwrap();
        assert_eq!(r[0].verdict, "applied:new_req");
        assert_eq!(e.reload(cfg(both, "")).unwrap(), Vec::<&str>::new());
    }

    /// A panic while reading or acting on one message (a bug) sets that
    /// one aside and lets the rest of its batch through; once fixed, it is
    /// released and acted on.
    #[test]
    fn a_message_that_panics_is_set_aside_and_the_rest_go_through() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Engine::new(test_config(dir.path(), r#""alice@corp.example""#, "")).unwrap();
        let mail =
            |i: u32, subject: &str| alice_req(format!("h{i}"), &format!("panic.{i}"), subject);
        let mails = [
            mail(1, "[REQ] one"),
            mail(2, "[REQ] ACTBOOM"),
            mail(3, "[REQ] PARSEBOOM"),
            mail(4, "[REQ] four"),
        ];
        PANIC_ON.with(|p| *p.borrow_mut() = vec![("act", "ACTBOOM"), ("parse", "PARSEBOOM")]);
        let now = Utc::now();
        let reps = e.ingest_batch(&mails, now, None).unwrap();
        let verdicts: Vec<&str> = reps.iter().map(|r| r.verdict.as_str()).collect();
        assert_eq!(
            verdicts,
            [
                "applied:new_req",
                "set_aside:internal_error",
                "set_aside:unreadable",
                "applied:new_req"
            ]
        );
        assert_eq!(reps[1].disposition, Disposition::Rejected);
        assert_eq!(reps[2].disposition, Disposition::Rejected);
        let aside = e.store.set_aside_list().unwrap();
        let detail = |class: &str| {
            aside
                .iter()
                .find(|a| a.class == class)
                .map(|a| a.detail.clone())
                .unwrap_or_default()
        };
        assert!(
            detail("internal_error").contains("a bug; please report it): injected panic while act"),
            "{aside:?}"
        );
        assert!(
            detail("unreadable").contains("injected panic while parse"),
            "{aside:?}"
        );

        PANIC_ON.with(|p| p.borrow_mut().clear());
        let r = e.release(&reps[1].key, now).unwrap().unwrap();
        assert_eq!(r.verdict, "applied:new_req");
        assert_eq!(e.store.list_reqs(None, None).unwrap().len(), 3);
    }

    /// A message the daemon died with in hand (a stack overflow, an abort:
    /// nothing a panic guard catches) is counted at each restart; at the
    /// third it is set aside unread, and the rest of its batch goes on.
    #[test]
    fn a_message_the_daemon_died_with_three_times_is_set_aside_unread() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
        let mail =
            |i: u32, subject: &str| alice_req(format!("{i}"), &format!("death.{i}"), subject);
        let mails = [
            mail(1, "[REQ] one"),
            mail(2, "[REQ] =?UTF-8?B?5rWL6K+V?= two"),
            mail(3, "[REQ] three"),
        ];
        let poison = crashguard::fingerprint("2", &mails[1].raw);
        for death in 1..=3u32 {
            let mut e = Engine::new(cfg.clone()).unwrap();
            let died = e.keep_crash_guard().unwrap();
            if death > 1 {
                assert_eq!(died, vec![(poison.clone(), death - 1)]);
            }
            // Dies acting on it: the note stays, the engine goes.
            e.guard.as_ref().unwrap().hold(Slot::Act, &poison);
            drop(e);
        }
        let mut e = Engine::new(cfg.clone()).unwrap();
        assert_eq!(e.keep_crash_guard().unwrap(), vec![(poison.clone(), 3)]);
        // The same handle with another message is not the one condemned.
        let other = mail(2, "[REQ] another two");
        let cl = e.classifier();
        assert!(!parse_batch(std::slice::from_ref(&other), 1 << 20, Some(&cl))[0].condemned);
        let parsed = parse_batch(&mails, 1 << 20, Some(&cl));
        assert_eq!(parsed.iter().filter(|p| p.condemned).count(), 1);
        let reps = e.ingest_parsed(&mails, parsed, Utc::now(), None).unwrap();
        let verdicts: Vec<&str> = reps.iter().map(|r| r.verdict.as_str()).collect();
        assert_eq!(
            verdicts,
            [
                "applied:new_req",
                "set_aside:internal_error",
                "applied:new_req"
            ]
        );
        assert_eq!(reps[1].disposition, Disposition::Rejected);
        let aside = e.store.set_aside_list().unwrap();
        assert!(
            aside[0]
                .detail
                .contains("the daemon stopped 3 times with this message in hand"),
            "{aside:?}"
        );
        // Named for the admin by its raw header block, left undecoded.
        assert_eq!(aside[0].sender, "alice@corp.example");
        assert_eq!(aside[0].subject, "[REQ] =?UTF-8?B?5rWL6K+V?= two");
        // Handled (set aside), its count is forgotten with it.
        assert!(e.store.crash_counts().unwrap().is_empty());
        // Handled whole: nothing is left in hand for the next start.
        drop(e);
        let mut e = Engine::new(cfg).unwrap();
        assert!(e.keep_crash_guard().unwrap().is_empty());
        // Released (by `crossdesk release`, once fixed), it is acted on.
        let r = e.release(&reps[1].key, Utc::now()).unwrap().unwrap();
        assert_eq!(r.verdict, "applied:new_req");
    }

    /// A message in hand at one death (a `kill -9`, say) whose handling
    /// then commits loses its count: counts do not pile up in the store,
    /// and coincidences at different deaths do not add up. A batch that
    /// does not commit keeps the count.
    #[test]
    fn a_death_count_goes_when_its_message_is_handled() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
        let mails = [
            alice_req("1".into(), "once.1", "[REQ] one"),
            alice_req("2".into(), "once.2", "[REQ] two"),
        ];
        let name = crashguard::fingerprint("1", &mails[0].raw);
        let mut e = Engine::new(cfg.clone()).unwrap();
        e.keep_crash_guard().unwrap();
        e.guard.as_ref().unwrap().hold(Slot::Read, &name);
        drop(e);
        let mut e = Engine::new(cfg.clone()).unwrap();
        assert_eq!(e.keep_crash_guard().unwrap(), vec![(name.clone(), 1)]);
        // A failed batch (the store refuses writes) commits nothing.
        let cl = e.classifier();
        e.store.refuse_writes(true);
        assert!(e
            .ingest_parsed(
                &mails[..1],
                parse_batch(&mails[..1], 1 << 20, Some(&cl)),
                Utc::now(),
                None
            )
            .is_err());
        e.store.refuse_writes(false);
        assert_eq!(e.store.crash_counts().unwrap(), vec![(name.clone(), 1)]);
        let reps = e
            .ingest_parsed(
                &mails,
                parse_batch(&mails, 1 << 20, Some(&cl)),
                Utc::now(),
                None,
            )
            .unwrap();
        assert_eq!(reps[0].verdict, "applied:new_req");
        assert!(e.store.crash_counts().unwrap().is_empty());
        drop(e);
        let mut e = Engine::new(cfg).unwrap();
        assert!(e.keep_crash_guard().unwrap().is_empty());
    }

    /// A message too large to parse is set aside as unreadable, named in
    /// `set-aside` by the sender and subject its header block gives.
    #[test]
    fn a_message_too_large_to_read_is_set_aside_with_its_sender_and_subject() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
        let mut e = Engine::new(cfg).unwrap();
        let mut raw = b"From: =?UTF-8?B?5rWL6K+V?= <Alice@Corp.Example>\r\n\
            To: workflow@corp.example\r\n\
            Subject: [REQ] =?GBK?B?1tyxqA==?=\r\n\t=?UTF-8?B?5rWL6K+V?=\r\n\
            Message-ID: <big.1@corp.example>\r\n\r\n"
            .to_vec();
        raw.extend(std::iter::repeat_n(b'x', 4096));
        let mails = [RawMail {
            handle: "1".into(),
            raw,
            received: None,
        }];
        let cl = e.classifier();
        let parsed = parse_batch(&mails, 1024, Some(&cl));
        let reps = e.ingest_parsed(&mails, parsed, Utc::now(), None).unwrap();
        assert_eq!(reps[0].verdict, "set_aside:unreadable");
        let aside = e.store.set_aside_list().unwrap();
        assert!(aside[0].detail.contains("message too large"), "{aside:?}");
        assert_eq!(aside[0].sender, "alice@corp.example");
        assert_eq!(aside[0].subject, "[REQ] 周报测试");
    }

    #[test]
    fn our_message_ids_name_their_item() {
        let mut seq = 0;
        let now = Utc::now();
        let t = ItemId::Task(TaskId {
            req: ReqId(4),
            n: 2,
        });
        let id = new_message_id(&mut seq, "corp.example", now, Some(t));
        assert_eq!(item_of_own_id(&id, "corp.example"), Some(t));
        assert_eq!(item_of_own_id(&id, "CORP.example"), Some(t));
        // Another domain's id of the same form names nothing.
        assert_eq!(
            item_of_own_id(&id.replace("corp.example", "evil.example"), "corp.example"),
            None
        );
        let none = new_message_id(&mut seq, "corp.example", now, None);
        assert_eq!(item_of_own_id(&none, "corp.example"), None);
        assert_ne!(id, new_message_id(&mut seq, "corp.example", now, Some(t)));
        assert_eq!(item_of_own_id("abc@corp.example", "corp.example"), None);
    }
}
