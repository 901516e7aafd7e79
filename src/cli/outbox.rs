//! `crossdesk outbox [list | retry]`: send what is due and show the
//! counts; list the mails not sent; put failed ones back in the queue.

use super::{drain, existing_store};
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
    let engine = existing_store(cfg)?;
    let list = engine.store().outbox_list(status.as_deref(), limit)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if list.is_empty() {
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
                match (m.status.as_str(), &m.sent_at) {
                    ("queued", _) => format!("  next {}", m.next_attempt_at),
                    (_, Some(at)) => format!("  sent {at}"),
                    _ => String::new(),
                },
                m.last_error
                    .map(|e| format!("  error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn retry(cfg: Config, ids: Vec<i64>, failed: bool) -> Result<ExitCode> {
    let mut engine = existing_store(cfg)?;
    let now = crossdesk::schedule::now(engine.config().tz());
    let ids = if failed {
        engine.store().outbox_ids("failed")?
    } else {
        ids
    };
    if ids.is_empty() {
        println!("no failed mail in the outbox");
    }
    let mut refused = false;
    for id in ids {
        match engine.requeue(id, now)? {
            Requeue::Queued { was } => println!("mail {id}: {was} → queued"),
            Requeue::NotHeld { status } => {
                refused = true;
                eprintln!("mail {id} is {status}: not put back (only failed, bounced or suppressed mail is)");
            }
            Requeue::Unknown => {
                refused = true;
                eprintln!("no outbox mail {id} (see `crossdesk outbox list`)");
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
    Ok(())
}

/// `outbox: 2 queued, 0 sent, …`, as `outbox` and `status` print it.
pub fn counts_line(s: &OutboxStatus) -> String {
    format!(
        "outbox: {} queued, {} sent, {} failed, {} suppressed, {} bounced",
        s.queued, s.sent, s.failed, s.suppressed, s.bounced
    )
}
