//! `crossdesk digest [--dry-run]`: the department digests of the latest
//! slot at or before `--at`, printed or queued and sent as the daemon
//! would (once per department and slot).

use super::drain;
use anyhow::{Context, Result};
use crossdesk::clock::ClockOpts;
use crossdesk::config::Config;
use crossdesk::engine::Engine;
use std::process::ExitCode;

pub fn run(
    cfg: Config,
    dept: Option<String>,
    at: Option<String>,
    dry_run: bool,
    html: bool,
) -> Result<ExitCode> {
    let tz = cfg.tz();
    let now = match &at {
        Some(s) => crossdesk::schedule::parse_local_time(s, tz).with_context(|| {
            format!("--at `{s}`: use \"YYYY-MM-DD HH:MM\" (local time of {tz}) or RFC 3339")
        })?,
        None => crossdesk::schedule::now(tz),
    };
    let mut engine = Engine::new(cfg)?;
    let opts = ClockOpts {
        dept,
        dry_run,
        digests: true,
        reminders: false,
        record_only: false,
    };
    let report = crossdesk::clock::run(&mut engine, now, &opts)?;
    let today = now.with_timezone(&tz).date_naive();
    for d in &report.digests {
        let slot = d.slot.as_deref().unwrap_or("-");
        if !dry_run {
            println!("{}\t{}\t{}", d.dept, slot, d.status.as_str());
            continue;
        }
        let Some(out) = &d.mail else {
            println!("=== {} — slot {slot}: {} ===\n", d.dept, d.status.as_str());
            continue;
        };
        let parts = engine.renderer()?.render_parts_on(out, Some(today))?;
        let empty = out.ctx.digest.as_ref().is_some_and(|g| g.is_empty());
        println!(
            "=== {} → {} — slot {slot} (dry run, not sent{}) ===",
            d.dept,
            out.to
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if empty && engine.config().digest.skip_empty {
                "; empty: skip_empty would send nothing"
            } else {
                ""
            }
        );
        println!("Subject: {}\n", parts.subject);
        println!("{}", if html { &parts.html } else { &parts.text });
    }
    if !dry_run && report.queued() > 0 {
        drain(engine)?;
    }
    Ok(ExitCode::SUCCESS)
}
