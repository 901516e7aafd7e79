//! The Maildir ingest: the engine driven from a Maildir directory, its
//! backlog first, then a look every `poll`.

use super::{lock, process_backlog, IngestError, Wiring};
use crate::source::maildir::MaildirSource;
use std::path::Path;
use std::time::Duration;

/// Runs until stopped (with `once`, until the directory is empty).
pub async fn run(dir: &Path, poll: Duration, mut w: Wiring) -> Result<(), IngestError> {
    let mut src = MaildirSource::open(dir)?;
    loop {
        let engine = w.engine.clone();
        let stop = w.stop.clone();
        let (watermark, once) = (w.watermark, w.once);
        let (s2, n) = tokio::task::spawn_blocking(move || -> Result<_, IngestError> {
            let mut e = lock(&engine)?;
            let stopped = || stop.is_requested();
            // `run --once` prints a line per message, like `ingest`.
            let n = process_backlog(&mut e, &mut src, watermark, &stopped, |reports| {
                if once {
                    reports.iter().for_each(|r| println!("{r}"));
                }
            })?;
            Ok((src, n))
        })
        .await??;
        src = s2;
        if n > 0 {
            w.kick.notify_one();
        }
        if w.once || w.stop.is_requested() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = w.stop.requested() => return Ok(()),
        }
    }
}
