//! `crossdesk set-aside` (the messages never answered, with why) and
//! `crossdesk release KEY` (act on one as if it had just arrived).

use super::{drain, existing_store, lookup_store};
use anyhow::{bail, Result};
use crossdesk::config::Config;
use std::process::ExitCode;

pub fn list(cfg: Config, json: bool) -> Result<ExitCode> {
    let engine = lookup_store(cfg)?;
    let list = engine.store().set_aside_list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if list.is_empty() {
        println!("nothing set aside");
    } else {
        for r in list {
            println!(
                "{}  {}{}  {}  from {}  \"{}\"{}",
                r.at,
                r.class,
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.detail)
                },
                r.key,
                if r.sender.is_empty() { "?" } else { &r.sender },
                r.subject,
                if r.released { "  [released]" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn release(cfg: Config, key: &str) -> Result<ExitCode> {
    let mut engine = existing_store(cfg)?;
    let now = crossdesk::schedule::now(engine.config().tz());
    match engine.release(key, now)? {
        None => bail!("no set-aside message with key `{key}` (see `crossdesk set-aside`)"),
        Some(r) => println!(
            "{}: {}{}",
            r.key,
            r.verdict,
            r.item.map(|i| format!(" {i}")).unwrap_or_default()
        ),
    }
    drain(engine)?;
    Ok(ExitCode::SUCCESS)
}
