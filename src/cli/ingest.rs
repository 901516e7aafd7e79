//! `crossdesk ingest FILE… | -`: act on messages given as files, or on one
//! message from standard input (an MTA pipe), then send what is due. Exit
//! 75 (EX_TEMPFAIL) when a message could not be read or stored, so that
//! the MTA delivers it again later. With a daemon running on the store,
//! the sending is left to it.

use super::{drain, EX_TEMPFAIL};
use anyhow::{bail, Context, Result};
use crossdesk::config::Config;
use crossdesk::engine::Engine;
use crossdesk::source::RawMail;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(cfg: Config, files: Vec<PathBuf>) -> Result<ExitCode> {
    if files.is_empty() {
        bail!("give message files, or `-` to read one message from standard input");
    }
    let mut mails = Vec::with_capacity(files.len());
    for f in &files {
        let raw = if f.as_os_str() == "-" {
            let mut b = vec![];
            std::io::stdin()
                .read_to_end(&mut b)
                .context("reading standard input")?;
            b
        } else {
            match std::fs::read(f) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("crossdesk: {}: {e}", f.display());
                    return Ok(ExitCode::from(EX_TEMPFAIL));
                }
            }
        };
        mails.push(RawMail {
            handle: f.display().to_string(),
            raw,
            received: None,
        });
    }
    let mut engine = match Engine::new(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("crossdesk: {e}");
            return Ok(ExitCode::from(EX_TEMPFAIL));
        }
    };
    let batch = engine.config().store.batch;
    for chunk in mails.chunks(batch) {
        let now = crossdesk::schedule::now(engine.config().tz());
        match engine.ingest_batch(chunk, now, None) {
            Ok(reports) => reports.iter().for_each(|r| println!("{r}")),
            Err(e) => {
                eprintln!("crossdesk: could not store: {e}");
                return Ok(ExitCode::from(EX_TEMPFAIL));
            }
        }
    }
    // The mail is stored. A daemon running beside (the clock of an MTA
    // pipe deployment) sends it, templates compiled and connection open;
    // otherwise this process does, and a send failure leaves it queued for
    // the next run.
    if crossdesk::store::locks::wake_daemon(&engine.config().store_path()) {
        tracing::debug!("the running daemon sends what is due");
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(e) = drain(engine) {
        tracing::warn!(target: "crossdesk", "outbox not drained: {e:#}");
    }
    Ok(ExitCode::SUCCESS)
}
