//! `crossdesk status [--json]`: whether a daemon uses the store, and what
//! the store holds. Exit 0 when a `crossdesk run` uses it, 3 when none
//! does (as LSB's status).

use super::NO_STORE_YET;
use anyhow::Result;
use crossdesk::config::Config;
use std::process::ExitCode;

pub fn run(cfg: Config, json: bool) -> Result<ExitCode> {
    let store = cfg.store_path();
    let pid = crossdesk::store::locks::daemon_pid(&store)?;
    // 3 when no daemon uses the store, as LSB's status.
    let code = if pid.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    };
    // A missing store is said, not created: a mistyped `store.path`
    // must not leave an empty store behind that looks like a fresh start.
    let (st, size) = if store.exists() {
        let engine = super::lookup_store(cfg)?;
        let size: u64 = ["", "-wal"]
            .iter()
            .filter_map(|x| {
                std::fs::metadata(crossdesk::store::beside(&store, x))
                    .ok()
                    .map(|m| m.len())
            })
            .sum();
        (Some(engine.store().status()?), size)
    } else {
        (None, 0)
    };
    if json {
        let v = serde_json::json!({
            "daemon": { "running": pid.is_some(), "pid": pid },
            "store": { "path": store.display().to_string(), "exists": st.is_some(), "bytes": size },
            "status": st,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code);
    }
    match &pid {
        Some(p) => println!("daemon: running (pid {p})"),
        None => println!("daemon: not running"),
    }
    let Some(st) = st else {
        println!("store: {} {NO_STORE_YET}", store.display());
        return Ok(code);
    };
    println!("store: {} ({size} bytes)", store.display());
    println!(
        "messages: {}{}",
        st.messages,
        st.last_message_at
            .as_deref()
            .map(|t| format!(", the last at {t}"))
            .unwrap_or_default()
    );
    let reqs: Vec<String> = st
        .requirements
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    println!(
        "requirements: {}",
        if reqs.is_empty() {
            "none".into()
        } else {
            reqs.join(", ")
        }
    );
    println!("{}", super::outbox::counts_line(&st.outbox));
    if !st.im_outbox.is_empty() {
        println!("{}", super::outbox::im_counts_line(&st.im_outbox));
    }
    println!(
        "set aside: {} ({} not released)",
        st.set_aside, st.set_aside_waiting
    );
    Ok(code)
}
