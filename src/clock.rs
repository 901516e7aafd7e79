//! The clock's shell: which digest slots are due and which reminders hold
//! at `now`, read from the store, computed by the pure core, and queued
//! through the engine in ONE transaction that also records each
//! exactly-once key (`Engine::queue_clock`). A key recorded before means
//! the mail is never queued again: a digest is sent once per slot, a
//! reminder once per condition and period, across restarts and concurrent
//! runs (the transaction is IMMEDIATE, so two processes serialize).

use crate::engine::{ClockMail, ClockThread, Engine, EngineError};
use crate::model::{Mailbox, Outgoing};
use crate::schedule::{digest, reminders, slots, Settings};
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

/// Reminder mails built and queued per transaction.
const REMINDER_CHUNK: usize = 1000;

/// What one run of the clock should do.
#[derive(Debug, Clone)]
pub struct ClockOpts {
    /// Only this department's digest (id).
    pub dept: Option<String>,
    /// Compute and return the mails; queue and record nothing.
    pub dry_run: bool,
    pub digests: bool,
    pub reminders: bool,
    /// Record the keys of what is due as sent, and queue no mail (after
    /// `crossdesk restore`: the lost store may have sent them already).
    pub record_only: bool,
}

impl Default for ClockOpts {
    fn default() -> Self {
        ClockOpts {
            dept: None,
            dry_run: false,
            digests: true,
            reminders: true,
            record_only: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestStatus {
    /// Queued now.
    Queued,
    /// Nothing to report and `skip_empty`: the slot is recorded, no mail.
    Empty,
    /// This slot's digest went out before.
    AlreadySent,
    /// The latest slot lies before the clock's first start.
    BeforeStart,
    /// The schedule never fired (within a year back).
    NoSlot,
    /// `digest_schedule = "off"` (or `[digest] schedule = "off"`).
    Off,
    /// Dry run: computed, not queued.
    DryRun,
    /// `record_only`: the slot is recorded as sent, no mail.
    Recorded,
}

impl DigestStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            DigestStatus::Queued => "queued",
            DigestStatus::Empty => "empty",
            DigestStatus::AlreadySent => "already_sent",
            DigestStatus::BeforeStart => "before_start",
            DigestStatus::NoSlot => "no_slot",
            DigestStatus::Off => "off",
            DigestStatus::DryRun => "dry_run",
            DigestStatus::Recorded => "recorded",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DigestReport {
    pub dept: String,
    /// `2026-12-01 09:00`, local.
    pub slot: Option<String>,
    pub status: DigestStatus,
    /// The mail (queued, or what a dry run would send; also an empty
    /// digest in a dry run, to show it).
    pub mail: Option<Outgoing>,
}

#[derive(Debug, Clone, Default)]
pub struct ClockReport {
    pub digests: Vec<DigestReport>,
    /// Reminders whose condition holds now and whose key was not recorded.
    pub reminders_due: usize,
    pub reminders_queued: usize,
    /// With `record_only`: reminders recorded as sent, with no mail.
    pub reminders_recorded: usize,
    /// In a dry run, the reminders that would go out.
    pub reminder_mails: Vec<(String, Outgoing)>,
    /// When reminders need another look at the latest (see `Clock`).
    pub next_check: Option<DateTime<Utc>>,
    /// Time to read the open requirements.
    pub read: Duration,
    /// Time to compute digests and reminders.
    pub compute: Duration,
    pub open_reqs: usize,
}

impl ClockReport {
    pub fn queued(&self) -> usize {
        self.reminders_queued
            + self
                .digests
                .iter()
                .filter(|d| d.status == DigestStatus::Queued)
                .count()
    }
}

fn settings(engine: &Engine) -> Result<Settings, EngineError> {
    engine
        .config()
        .clock_settings()
        .map_err(|e| EngineError::Clock(e.to_string()))
}

/// The clock's first start: recorded the first time it runs for real, so
/// that no slot before it is ever sent.
pub fn clock_start(engine: &Engine, now: DateTime<Utc>) -> Result<DateTime<Utc>, EngineError> {
    if let Some(v) = engine.store().meta("clock_start")? {
        if let Ok(t) = DateTime::parse_from_rfc3339(&v) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    engine.store().set_meta("clock_start", &now.to_rfc3339())?;
    Ok(now)
}

/// Runs the clock once at `now`.
pub fn run(
    engine: &mut Engine,
    now: DateTime<Utc>,
    opts: &ClockOpts,
) -> Result<ClockReport, EngineError> {
    let s = settings(engine)?;
    let mut report = ClockReport::default();
    let started = if opts.dry_run {
        None
    } else {
        Some(clock_start(engine, now)?)
    };
    if let Some(d) = &opts.dept {
        if engine.directory().dept(d).is_none() {
            return Err(EngineError::Clock(format!(
                "no department `{d}`; known: {}",
                engine
                    .directory()
                    .depts
                    .iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    // Which digests are due: cheap, no requirement read.
    let mut wanted: Vec<(usize, slots::Slot, String)> = vec![];
    if opts.digests {
        for (i, dept) in engine.directory().depts.iter().enumerate() {
            if opts.dept.as_deref().is_some_and(|d| d != dept.id) {
                continue;
            }
            let mut rep = DigestReport {
                dept: dept.id.clone(),
                slot: None,
                status: DigestStatus::Off,
                mail: None,
            };
            let Some(sched) = s.schedule_for(&dept.id) else {
                report.digests.push(rep);
                continue;
            };
            let Some(slot) = slots::latest_slot(sched, &s.calendar, s.tz, now) else {
                rep.status = DigestStatus::NoSlot;
                report.digests.push(rep);
                continue;
            };
            rep.slot = Some(slot.label());
            let key = slots::digest_key(&dept.id, &slot);
            if started.is_some_and(|st| slot.at < st) {
                rep.status = DigestStatus::BeforeStart;
            } else if !opts.dry_run && engine.store().clock_sent(&key)? {
                rep.status = DigestStatus::AlreadySent;
            } else {
                rep.status = DigestStatus::DryRun;
                wanted.push((i, slot, key));
            }
            report.digests.push(rep);
        }
    }
    let do_reminders = opts.reminders && s.reminders && opts.dept.is_none();
    if wanted.is_empty() && !do_reminders {
        return Ok(report);
    }
    let t = Instant::now();
    // The JSON snapshots: building requirements from the mirror rows was
    // measured no faster (benches/digest.rs), and they lack fields.
    let reqs = engine.store().open_reqs()?;
    report.read = t.elapsed();
    report.open_reqs = reqs.len();
    let t = Instant::now();
    let own = Mailbox::new(None, engine.own_address());
    let labels: Vec<(&str, String)> = wanted
        .iter()
        .map(|(i, slot, _)| (engine.directory().depts[*i].id.as_str(), slot.label()))
        .collect();
    let digests = digest::compute(&reqs, &labels, &s, now);
    let mut mails: Vec<ClockMail> = vec![];
    let mut digest_of_mail: Vec<usize> = vec![];
    for ((i, _, key), ctx) in wanted.iter().zip(digests) {
        let dept = &engine.directory().depts[*i];
        let empty = ctx.is_empty();
        let out = digest::mail(dept, ctx, &own);
        let rep_i = report
            .digests
            .iter()
            .position(|r| r.dept == dept.id)
            .unwrap_or(0);
        if opts.dry_run {
            report.digests[rep_i].mail = Some(out);
            continue;
        }
        let skip = (empty && s.skip_empty) || opts.record_only;
        if !skip {
            report.digests[rep_i].mail = Some(out.clone());
        }
        mails.push(ClockMail {
            key: key.clone(),
            out: (!skip).then_some(out),
            thread: ClockThread::Digest(dept.id.clone()),
        });
        digest_of_mail.push(rep_i);
    }
    let mut conds = vec![];
    if do_reminders {
        let plan = reminders::conditions(&reqs, &s, now);
        report.next_check = plan.next_check;
        for c in plan.due {
            if engine.store().clock_sent(&c.key)? {
                continue;
            }
            report.reminders_due += 1;
            if opts.dry_run {
                let r = c.reminder(&reqs, engine.directory());
                report.reminder_mails.push((r.key, r.out));
            } else {
                conds.push(c);
            }
        }
    }
    report.compute = t.elapsed();
    if opts.dry_run || (mails.is_empty() && conds.is_empty()) {
        return Ok(report);
    }
    // The digests in one transaction (each slot's key with its mail)…
    if !mails.is_empty() {
        let has_mail: Vec<bool> = mails.iter().map(|m| m.out.is_some()).collect();
        let fresh = engine.queue_clock(mails, now)?;
        for ((new, mail), i) in fresh.into_iter().zip(has_mail).zip(digest_of_mail) {
            report.digests[i].status = match (new, mail) {
                (false, _) => DigestStatus::AlreadySent,
                (true, true) => DigestStatus::Queued,
                (true, false) if opts.record_only => DigestStatus::Recorded,
                (true, false) => DigestStatus::Empty,
            };
        }
    }
    // …then the reminders, each key with its mail, a chunk per transaction
    // so that a large first pass never holds every mail in memory at once.
    for chunk in conds.chunks(REMINDER_CHUNK) {
        let mails: Vec<ClockMail> = chunk
            .iter()
            .map(|c| {
                let r = c.reminder(&reqs, engine.directory());
                ClockMail {
                    key: r.key,
                    out: (!opts.record_only).then_some(r.out),
                    thread: ClockThread::Req {
                        req: r.req,
                        root: r.root,
                    },
                }
            })
            .collect();
        let fresh = engine.queue_clock(mails, now)?;
        let new = fresh.into_iter().filter(|f| *f).count();
        if opts.record_only {
            report.reminders_recorded += new;
        } else {
            report.reminders_queued += new;
        }
    }
    for d in &report.digests {
        if d.status == DigestStatus::Queued || d.status == DigestStatus::Empty {
            tracing::info!(
                dept = %d.dept,
                slot = d.slot.as_deref().unwrap_or("-"),
                status = d.status.as_str(),
                "digest"
            );
        }
    }
    if report.reminders_queued > 0 {
        tracing::info!(queued = report.reminders_queued, "reminders");
    }
    Ok(report)
}

/// The daemon's clock: digests are looked at every tick (cheap: one key
/// lookup per department while nothing is due), reminders only when the
/// state changed (a new event) or the time the last pass named has come
/// (a pending accept deadline, the next working morning), so a store with
/// 100,000 open tasks is not read every 30 seconds. A reloaded
/// configuration (other thresholds, another calendar) counts as a change.
#[derive(Debug, Default)]
pub struct Clock {
    generation: Option<(i64, u64)>,
    next_check: Option<DateTime<Utc>>,
}

impl Clock {
    pub fn tick(
        &mut self,
        engine: &mut Engine,
        now: DateTime<Utc>,
    ) -> Result<ClockReport, EngineError> {
        let generation = (engine.store().generation()?, engine.reloads());
        let reminders =
            self.generation != Some(generation) || self.next_check.is_none_or(|t| now >= t);
        let report = run(
            engine,
            now,
            &ClockOpts {
                reminders,
                ..ClockOpts::default()
            },
        )?;
        if reminders {
            self.generation = Some(generation);
            self.next_check = report.next_check;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_config, Config};
    use crate::source::RawMail;
    use chrono::TimeZone;

    fn config(dir: &std::path::Path, accept_within: &str) -> Config {
        test_config(
            dir,
            r#""alice@corp.example""#,
            &format!(
                r#"
[[departments]]
id = "sales"
name = "销售部"
group = "sales@corp.example"
members = ["赵六 <zhaoliu@corp.example>"]
[reminders]
accept_within = "{accept_within}"
"#
            ),
        )
    }

    /// The clock reads reminders again after a reload, although the store
    /// did not change and the last pass named a far-off time.
    #[test]
    fn a_reloaded_configuration_has_the_clock_look_at_reminders_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Engine::new(config(dir.path(), "1000h")).unwrap();
        // Wednesday 2 December 2026, 08:00 in Shanghai.
        let t0 = crate::model::Zone::shanghai()
            .with_ymd_and_hms(2026, 12, 2, 8, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let mail = |i: u32, from: &str, subject: &str, body: &str| RawMail {
            handle: format!("h{i}"),
            raw: format!(
                "From: {from}\r\nTo: workflow@corp.example\r\nSubject: {subject}\r\n\
                 Message-ID: <clock.{i}@corp.example>\r\n\r\n{body}\r\n"
            )
            .into_bytes(),
            received: None,
        };
        for m in [
            mail(1, "zhaoliu@corp.example", "[REQ] Export", "Dept: rd"),
            mail(2, "wanglei@corp.example", "[CONFIRM REQ-1]", "OK"),
            mail(
                3,
                "wanglei@corp.example",
                "[ASSIGN REQ-1]",
                "- alice@corp.example: script; due 2027-01-10",
            ),
        ] {
            let r = e.ingest_batch(&[m], t0, None).unwrap();
            assert!(r[0].verdict.starts_with("applied"), "{}", r[0].verdict);
        }
        let mut clock = Clock::default();
        let now = t0 + chrono::Duration::hours(3);
        assert_eq!(clock.tick(&mut e, now).unwrap().reminders_queued, 0);
        assert_eq!(
            clock
                .tick(&mut e, now + chrono::Duration::minutes(1))
                .unwrap()
                .reminders_queued,
            0
        );
        e.reload(config(dir.path(), "1h")).unwrap();
        let r = clock
            .tick(&mut e, now + chrono::Duration::minutes(2))
            .unwrap();
        assert_eq!(r.reminders_queued, 1, "the task not accepted within 1 h");
    }
}
