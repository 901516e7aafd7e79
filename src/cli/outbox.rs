//! `crossdesk outbox [list | retry]`: send what is due and show the
//! counts; list the mails and robot messages not sent; put failed ones
//! back in the queue. Robot messages are numbered apart: `im-7`.

use super::{drain, existing_store, lookup_store};
use anyhow::{bail, Result};
use crossdesk::config::Config;
use crossdesk::engine::Engine;
use crossdesk::store::{OutboxStatus, Requeue, OUTBOX_STATUSES};
use std::process::ExitCode;

pub fn send(cfg: Config) -> Result<ExitCode> {
    let engine = drain(Engine::new(cfg)?)?;
    print_counts(&engine)?;
    Ok(ExitCode::SUCCESS)
}

pub fn list(cfg: Config, status: Option<String>, limit: usize, json: bool) -> Result<ExitCode> {
    if let Some(s) = &status {
        if !OUTBOX_STATUSES.contains(&s.as_str()) {
            bail!(
                "unknown status `{s}`; use one of {}",
                OUTBOX_STATUSES.join(", ")
            );
        }
    }
    let engine = lookup_store(cfg)?;
    let list = engine.store().outbox_list(status.as_deref(), limit)?;
    let im = engine.store().im_list(status.as_deref(), limit)?;
    if json {
        // One array: robot messages after the mails, marked `"channel": "im"`.
        let mut all: Vec<serde_json::Value> = list
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        for r in &im {
            let mut v = serde_json::to_value(r)?;
            v["channel"] = "im".into();
            all.push(v);
        }
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    for r in &im {
        println!(
            "{}  {}  {}{}  robot {} ({})  created {}  attempts {}{}{}",
            r.id,
            r.status,
            r.event,
            r.item.as_ref().map(|i| format!(" {i}")).unwrap_or_default(),
            r.robot,
            r.dept,
            r.created_at,
            r.attempts,
            when(&r.status, &r.next_attempt_at, r.sent_at.as_deref()),
            r.last_error
                .as_ref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
    if list.is_empty() {
        println!(
            "no {} mail in the outbox",
            status.as_deref().unwrap_or("unsent")
        );
    } else {
        for m in list {
            println!(
                "{}  {}  {}{}  to {}  created {}  attempts {}{}{}",
                m.id,
                m.status,
                m.kind,
                m.item.map(|i| format!(" {i}")).unwrap_or_default(),
                m.rcpts.join(", "),
                m.created_at,
                m.attempts,
                when(&m.status, &m.next_attempt_at, m.sent_at.as_deref()),
                m.last_error
                    .map(|e| format!("  error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `  next …` for a queued row, `  sent …` for a sent one.
fn when(status: &str, next: &str, sent: Option<&str>) -> String {
    match (status, sent) {
        ("queued", _) => format!("  next {next}"),
        (_, Some(at)) => format!("  sent {at}"),
        _ => String::new(),
    }
}

/// A mail (`7`) or a robot message (`im-7`).
enum Held {
    Mail(i64),
    Im(i64),
}

fn parse_id(s: &str) -> Option<Held> {
    match s.trim().strip_prefix("im-") {
        Some(n) => n.parse().ok().map(Held::Im),
        None => s.trim().parse().ok().map(Held::Mail),
    }
}

pub fn retry(cfg: Config, ids: Vec<String>, failed: bool) -> Result<ExitCode> {
    let mut engine = existing_store(cfg)?;
    let now = crossdesk::schedule::now(engine.config().tz());
    let ids: Vec<Held> = if failed {
        let mut v: Vec<Held> = engine
            .store()
            .outbox_ids("failed")?
            .into_iter()
            .map(Held::Mail)
            .collect();
        v.extend(engine.store().im_ids("failed")?.into_iter().map(Held::Im));
        v
    } else {
        let mut v = vec![];
        for s in &ids {
            match parse_id(s) {
                Some(h) => v.push(h),
                None => {
                    bail!("`{s}` is no outbox id: a mail's number (7) or a robot message's (im-7)")
                }
            }
        }
        v
    };
    if ids.is_empty() {
        println!("no failed mail or robot message in the outbox");
    }
    let mut refused = false;
    for held in ids {
        let (r, name, only, unknown) = match held {
            Held::Mail(id) => (
                engine.requeue(id, now)?,
                format!("mail {id}"),
                "only failed, bounced or suppressed mail is",
                format!("no outbox mail {id}"),
            ),
            Held::Im(id) => (
                engine.requeue_im(id, now)?,
                format!("robot message im-{id}"),
                "only a failed one is",
                format!("no robot message im-{id}"),
            ),
        };
        match r {
            Requeue::Queued { was } => println!("{name}: {was} → queued"),
            Requeue::NotHeld { status } => {
                refused = true;
                eprintln!("{name} is {status}: not put back ({only})");
            }
            Requeue::Unknown => {
                refused = true;
                eprintln!("{unknown} (see `crossdesk outbox list`)");
            }
        }
    }
    let engine = drain(engine)?;
    print_counts(&engine)?;
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_counts(engine: &Engine) -> Result<()> {
    println!("{}", counts_line(&engine.store().outbox_status()?));
    let im = engine.store().im_status()?;
    if !im.is_empty() {
        println!("{}", im_counts_line(&im));
    }
    Ok(())
}

/// `robot messages: 1 queued, 9 sent`, as `outbox` and `status` print it.
pub fn im_counts_line(s: &std::collections::BTreeMap<String, u64>) -> String {
    let n = |k: &str| s.get(k).copied().unwrap_or(0);
    format!(
        "robot messages: {} queued, {} sent, {} failed",
        n("queued"),
        n("sent"),
        n("failed")
    )
}

/// `outbox: 2 queued, 0 sent, …`, as `outbox` and `status` print it.
pub fn counts_line(s: &OutboxStatus) -> String {
    format!(
        "outbox: {} queued, {} sent, {} failed, {} suppressed, {} bounced",
        s.queued, s.sent, s.failed, s.suppressed, s.bounced
    )
}
