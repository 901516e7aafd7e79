//! Everything a source holds, worked through on two threads: a reader
//! fetches and parses the next batch and moves what has committed, while
//! this thread acts and commits.

use super::IngestError;
use crate::engine::{parse_batch, Engine, Parsed, Report};
use crate::source::{Disposition, RawMail, Source, SourceError};
use chrono::{DateTime, Utc};
use std::time::Instant;

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
) -> Result<usize, IngestError> {
    type Batch = Result<(Vec<RawMail>, Vec<Parsed>), SourceError>;
    let batch = engine.config().store.batch;
    let max_bytes = engine.config().limits.max_message_bytes;
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
            .map_err(SourceError::Thread)?;
        let mut n = 0;
        let mut failed: Option<IngestError> = None;
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
            let now = crate::schedule::now(engine.config().tz());
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
        engine.add_parse_time(read?);
        Ok(n)
    })
}
