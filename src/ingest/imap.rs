//! The IMAP ingest: the engine driven from an IMAP folder.
//!
//! Per round: the backlog past the persisted cursor (in arrival order),
//! `UID FETCH … BODY.PEEK[]` in chunks, one transaction per chunk (the
//! engine), then `UID MOVE` to the processed or rejected folder; the
//! cursor at the end of the round. The chunks form a pipeline: while the
//! engine acts on one, the connection fetches the next, and the one
//! before, which has committed, is moved (by a second connection when
//! there is a backlog). A crash anywhere in between is safe: a message
//! still in the folder is fetched again and its dedupe key says it was
//! already acted on, so it is only moved. A UIDVALIDITY change resets the
//! cursor; the dedupe keys keep exactly-once.

use super::{lock, IngestError, Wiring};
use crate::config::{Config, ImapConfig};
use crate::engine::{parse_batch, Report};
use crate::source::imap::{self, move_done, ms, ImapError, ImapSession, MoveTo};
use crate::source::mutf7::wire_name;
use crate::source::{Disposition, RawMail, Stuck, BATCH_BYTES};
use std::time::Duration;

/// A message of a committed batch, by UID, and where it goes.
type Done = (u32, Disposition);

/// The source task: reconnects with jittered exponential backoff until stopped.
pub async fn run(cfg: Config, imap: ImapConfig, mut w: Wiring) -> Result<(), IngestError> {
    let mut backoff = Duration::from_secs(1);
    let mut stuck = (0, Stuck::default());
    loop {
        if w.stop.is_requested() {
            return Ok(());
        }
        match session_loop(&cfg, &imap, &mut w, &mut backoff, &mut stuck).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                if w.once {
                    return Err(e);
                }
                let jitter = rand::random::<f64>() * 0.5 + 0.75;
                let wait = backoff.mul_f64(jitter);
                let ms = wait.as_millis() as u64;
                if matches!(e, IngestError::Engine(_)) {
                    tracing::warn!(error = %e, retry_in_ms = ms,
                        "the store failed; the messages stay in the folder and are tried again");
                } else {
                    tracing::warn!(error = %e, retry_in_ms = ms, "imap connection lost; reconnecting");
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = w.stop.requested() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
        }
    }
}

/// The store keys of a folder's cursor: the UIDVALIDITY its UIDs are
/// valid under, and the highest UID everything up to which is done.
fn cursor_keys(imap: &ImapConfig) -> (String, String) {
    (
        format!("imap:{}:{}:uidvalidity", imap.user, imap.folder),
        format!("imap:{}:{}:last_uid", imap.user, imap.folder),
    )
}

/// Committed batches waiting to be moved, shared by the connections that
/// move them: the second connection for the whole of a backlog, the first
/// one too once it has fetched every chunk (two server processes moving at
/// once at the end of a backlog, when nothing else is left to do).
#[derive(Default)]
struct MoveQueue {
    state: std::sync::Mutex<QueueState>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct QueueState {
    batches: std::collections::VecDeque<Vec<Done>>,
    /// No batch will be added.
    closed: bool,
    /// Connections taking batches.
    workers: usize,
}

impl MoveQueue {
    fn push(&self, done: Vec<Done>) {
        if !done.is_empty() {
            self.lock().batches.push_back(done);
            self.wake.notify_waiters();
        }
    }

    /// Pushes a batch as two halves, for two connections to move at once.
    fn push_halves(&self, mut done: Vec<Done>) {
        let second = done.split_off(done.len() / 2);
        self.push(done);
        self.push(second);
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A poisoned lock only means a worker panicked while holding it;
        // the queue itself is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Batches for one move command: all that wait when this connection is
    /// the only one moving, else half of them (rounded up), so that the
    /// other connection finds work too. `None` once closed and empty.
    async fn take(&self) -> Option<Vec<Done>> {
        loop {
            let wake = self.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            {
                let mut st = self.lock();
                if !st.batches.is_empty() {
                    let n = match st.workers {
                        0 | 1 => st.batches.len(),
                        _ => st.batches.len().div_ceil(2),
                    };
                    return Some(st.batches.drain(..n).flatten().collect());
                }
                if st.closed {
                    return None;
                }
            }
            wake.await;
        }
    }

    /// Moves batches on `s` until the queue is closed and empty; returns
    /// the UIDs moved.
    async fn work(&self, s: &mut ImapSession, to: &MoveTo) -> Result<Vec<u32>, ImapError> {
        self.lock().workers += 1;
        let mut moved = vec![];
        let mut result = Ok(());
        while let Some(done) = self.take().await {
            if let Err(e) = move_done(s, to, &done).await {
                result = Err(e);
                break;
            }
            moved.extend(uids_of(&done));
        }
        self.lock().workers -= 1;
        result.map(|()| moved)
    }

    /// Moves what waits now, on this connection (no second one).
    async fn drain(&self, s: &mut ImapSession, to: &MoveTo) -> Result<Vec<u32>, ImapError> {
        let done: Vec<Done> = self.lock().batches.drain(..).flatten().collect();
        if !done.is_empty() {
            move_done(s, to, &done).await?;
        }
        Ok(uids_of(&done).collect())
    }
}

/// The second connection of a backlog: it logs in in the background and
/// then moves batches from the queue until it is closed. A login that
/// fails leaves the moves to the first connection (a warning); a move that
/// fails ends the round with its error.
struct Mover {
    task: Option<tokio::task::JoinHandle<Result<Vec<u32>, IngestError>>>,
    queue: std::sync::Arc<MoveQueue>,
}

/// A round that ends early (an error) drops the mover unfinished: the
/// queue is closed, so that it moves what has committed, logs out and
/// ends rather than waiting on.
impl Drop for Mover {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.queue.close();
        }
    }
}

impl Mover {
    fn start(
        cfg: &Config,
        imap: &ImapConfig,
        validity: u32,
        to: &MoveTo,
        queue: std::sync::Arc<MoveQueue>,
    ) -> Mover {
        let (cfg, imap, to) = (cfg.clone(), imap.clone(), to.clone());
        let q = queue.clone();
        let task = tokio::spawn(async move {
            let opened = async {
                let mut s = imap::connect(&cfg, &imap).await?;
                let mb = s.select(&wire_name(&imap.folder)).await?;
                Ok::<_, ImapError>((s, mb.uid_validity.unwrap_or(0)))
            };
            let mut s = match opened.await {
                Ok((s, v)) if v == validity => s,
                // UIDs name the same messages only under the same
                // UIDVALIDITY: the round ends, the next one starts afresh.
                Ok((mut s, _)) => {
                    let _ = s.logout().await;
                    return Err(IngestError::ValidityChanged);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no second connection; moving on this one");
                    return Ok(vec![]);
                }
            };
            let moved = q.work(&mut s, &to).await;
            let _ = s.logout().await;
            Ok(moved?)
        });
        Mover {
            task: Some(task),
            queue,
        }
    }

    /// Whether it stopped (could not log in, or a move failed).
    fn stopped(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for its moves (the queue must be closed); the UIDs moved.
    async fn finish(mut self) -> Result<Vec<u32>, IngestError> {
        match self.task.take() {
            Some(t) => t.await?,
            None => Ok(vec![]),
        }
    }
}

/// How many messages each chunk of a backlog of `len` takes before the
/// 64 MiB limit splits it: 32, 64, 128, … up to `batch`, so that the
/// engine starts at once, then the rest split evenly in chunks of at most
/// `batch` (2,000 with batches of 500: 32, 64, 128, 256, then 4 × 380), so
/// that no small remainder costs a fetch, a commit and a move of its own.
pub fn chunk_counts(len: usize, batch: usize) -> Vec<usize> {
    let batch = batch.max(1);
    let mut counts = vec![];
    let mut left = len;
    let mut step = 32.min(batch);
    while left > 0 && step < batch {
        let c = step.min(left);
        counts.push(c);
        left -= c;
        step *= 2;
    }
    if left > 0 {
        let k = left.div_ceil(batch);
        counts.extend((0..k).map(|i| left / k + usize::from(i < left % k)));
    }
    counts
}

/// Splits UIDs (in acting order) into batches of at most `batch` UIDs and
/// about `max_bytes` of mail (a batch holds at least one message). The
/// first batches are small (32, 64, … UIDs) so that the engine starts
/// acting while the rest is still being fetched; the rest is split evenly,
/// so that the last batch, whose move nothing else overlaps, is not the
/// largest, and no batch is a small remainder.
fn chunk_uids(
    uids: &[u32],
    sizes: &std::collections::HashMap<u32, usize>,
    batch: usize,
    max_bytes: usize,
) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = vec![];
    let mut rest = uids;
    for c in chunk_counts(uids.len(), batch) {
        let (these, after) = rest.split_at(c);
        rest = after;
        let mut bytes = 0;
        for (i, &u) in these.iter().enumerate() {
            let size = sizes.get(&u).copied().unwrap_or(0);
            match out.last_mut() {
                Some(cur) if i > 0 && bytes + size <= max_bytes => {
                    cur.push(u);
                    bytes += size;
                }
                _ => {
                    out.push(vec![u]);
                    bytes = size;
                }
            }
        }
    }
    out
}

/// The UIDs of a committed batch.
fn uids_of(done: &[Done]) -> impl Iterator<Item = u32> + '_ {
    done.iter().map(|(uid, _)| *uid)
}

/// What becomes of each message of a committed batch, by UID (a report's
/// handle is its UID).
fn done_of(reports: &[Report]) -> Vec<Done> {
    reports
        .iter()
        .map(|r| (r.handle.parse().unwrap_or(0), r.disposition))
        .collect()
}

async fn session_loop(
    cfg: &Config,
    imap_cfg: &ImapConfig,
    w: &mut Wiring,
    backoff: &mut Duration,
    (stuck_validity, stuck): &mut (u32, Stuck<u32>),
) -> Result<(), IngestError> {
    let imap::Opened {
        session: mut s,
        in_idle,
        to,
        has_idle,
        mut has_sort,
        validity,
        exists,
    } = imap::open(cfg, imap_cfg).await?;
    let imap = imap_cfg;
    // UIDs mean nothing under another UIDVALIDITY.
    if *stuck_validity != validity {
        stuck.clear();
        *stuck_validity = validity;
    }
    // How many messages the folder held at the last look: more than a
    // batch means a backlog, whose second connection may log in at once.
    let mut exists_hint = exists as usize;
    let (kv, kl) = cursor_keys(imap);
    let mut last_uid: u32 = {
        let eng = lock(&w.engine)?;
        let stored_validity = eng.cursor(&kv)?;
        if stored_validity.as_deref() != Some(&validity.to_string()) {
            if stored_validity.is_some() {
                tracing::warn!(folder = %imap.folder, old = ?stored_validity, new = validity,
                    "UIDVALIDITY changed; rescanning the folder (dedupe keys keep exactly-once)");
            }
            eng.set_cursor(&kv, &validity.to_string())?;
            eng.set_cursor(&kl, "0")?;
            0
        } else {
            eng.cursor(&kl)?.and_then(|v| v.parse().ok()).unwrap_or(0)
        }
    };
    tracing::info!(folder = %imap.folder, uidvalidity = validity, last_uid, idle = has_idle, r#move = to.has_move, "imap ready");
    let batch = cfg.store.batch.max(1);
    loop {
        // As the engine is configured now (SIGHUP reloads it).
        let (classifier, max_bytes) = {
            let e = lock(&w.engine)?;
            (e.classifier(), e.config().limits.max_message_bytes)
        };
        // Drain the notifications queue; SORT/SEARCH below is what counts.
        while s.unsolicited_responses.try_recv().is_ok() {}
        // A backlog of more than one batch gets a second connection for its
        // moves (a message or two is moved on this one). It logs in in the
        // background, while this one finds the backlog and fetches; when a
        // backlog is likely (the folder held more than a batch), at once.
        let queue = std::sync::Arc::new(MoveQueue::default());
        let start_mover = || Mover::start(cfg, imap, validity, &to, queue.clone());
        let mut mover = (exists_hint > batch).then(start_mover);
        exists_hint = 0;
        let (uids, sizes) = imap::find_backlog(&mut s, last_uid, &mut has_sort, batch).await?;
        if mover.is_none() && uids.len() > batch {
            mover = Some(start_mover());
        }
        // Messages not fetchable before wait for their time, then come
        // last, one per fetch.
        stuck.keep_only(&uids);
        let fresh: Vec<u32> = uids.iter().copied().filter(|u| !stuck.holds(u)).collect();
        let again = stuck.due(std::time::Instant::now());
        let worked = !fresh.is_empty() || !again.is_empty();
        let mut ascending = uids.clone();
        ascending.sort_unstable();
        let mut done: std::collections::HashSet<u32> = Default::default();
        let mut stalled = false;
        // A pipeline over the chunks: while the engine acts on chunk k (on
        // a blocking thread), this connection fetches chunk k+1, and the
        // mover moves chunk k-1, whose transaction has committed. Chunk k+1
        // is acted on only after chunk k committed, so order is kept.
        let mut acting: Option<tokio::task::JoinHandle<Result<Vec<Report>, IngestError>>> = None;
        let act = |mails: Vec<RawMail>, parsed| {
            let engine = w.engine.clone();
            let wm = w.watermark;
            tokio::task::spawn_blocking(move || {
                let mut e = lock(&engine)?;
                let now = crate::schedule::now(e.config().tz());
                let t = std::time::Instant::now();
                let r = e.ingest_parsed(&mails, parsed, now, wm);
                tracing::debug!(messages = mails.len(), ms = ms(t), "acted and committed");
                Ok(r?)
            })
        };
        let committed = |h: tokio::task::JoinHandle<Result<Vec<Report>, IngestError>>| async {
            let reports = h.await??;
            w.kick.notify_one();
            Ok::<_, IngestError>(done_of(&reports))
        };
        let chunks = chunk_uids(&fresh, &sizes, batch, BATCH_BYTES)
            .into_iter()
            .chain(again.iter().map(|&u| vec![u]));
        for chunk in chunks {
            if w.stop.is_requested() {
                break;
            }
            let t = std::time::Instant::now();
            let (mails, missing) = imap::fetch_chunk(&mut s, &chunk, stuck).await?;
            tracing::debug!(messages = mails.len(), ms = ms(t), "fetched");
            stalled |= missing;
            // Parsed on another blocking thread, beside the engine.
            let next = (!mails.is_empty()).then(|| {
                let cl = classifier.clone();
                tokio::task::spawn_blocking(move || {
                    let parsed = parse_batch(&mails, max_bytes, Some(&cl));
                    (mails, parsed)
                })
            });
            if let Some(h) = acting.take() {
                queue.push(committed(h).await?);
            }
            if let Some(next) = next {
                let (mails, parsed) = next.await?;
                acting = Some(act(mails, parsed));
            }
            // Without a second connection (or when it could not log in),
            // this one moves between its fetches.
            if let Some(m) = &mover {
                if m.stopped() {
                    done.extend(mover.take().expect("mover present").finish().await?);
                }
            }
            if mover.is_none() {
                done.extend(queue.drain(&mut s, &to).await?);
            }
        }
        // Every chunk fetched (or a stop asked for): the last batch commits
        // while this connection moves beside the mover, then both finish.
        let last = async {
            let result = match acting.take() {
                Some(h) => committed(h).await.map(|r| match mover {
                    Some(_) => queue.push_halves(r),
                    None => queue.push(r),
                }),
                None => Ok(()),
            };
            queue.close();
            result
        };
        let (last, here) = tokio::join!(last, queue.work(&mut s, &to));
        let there = match mover {
            Some(m) => m.finish().await,
            None => Ok(vec![]),
        };
        last?;
        done.extend(here?);
        done.extend(there?);
        // The cursor passes only UIDs whose every predecessor is done. It
        // is written once per round: behind after a crash, it only makes
        // the next SEARCH longer (moved mail is no longer in the folder).
        if let Some(u) = ascending.iter().take_while(|u| done.contains(u)).last() {
            if *u > last_uid {
                last_uid = *u;
                lock(&w.engine)?.set_cursor(&kl, &last_uid.to_string())?;
            }
        }
        // A round went through (searched, fetched, acted on, moved): the
        // next loss starts the wait afresh. A login alone does not, or a
        // session that fails right after it (a folder that does not exist,
        // a store that cannot be written) would log in every second.
        *backoff = Duration::from_secs(1);
        if w.stop.is_requested() {
            return Ok(());
        }
        if worked && !stalled {
            // More may have arrived while we worked: look again at once.
            continue;
        }
        // A message not fetchable yet is fetched again when its time comes
        // (`run --once` waits for the first few tries only).
        if let Some(at) = stuck.next_due(w.once) {
            let wait = at.saturating_duration_since(std::time::Instant::now());
            if w.once || wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = w.stop.requested() => return Ok(()),
                }
                continue;
            }
        }
        if w.once {
            let _ = s.logout().await;
            return Ok(());
        }
        // Woken by new mail, the safety poll, or the next stuck message's time.
        let until_stuck = stuck
            .next_due(false)
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or(Duration::MAX);
        let poll = Duration::from_secs(imap.poll_seconds).min(until_stuck);
        match imap::wait_for_news(s, &in_idle, has_idle, poll, w.stop.requested()).await? {
            Some(again) => s = again,
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_a_count_and_about_a_size() {
        let uids: Vec<u32> = (1..=7).collect();
        let sizes: std::collections::HashMap<u32, usize> =
            [(1, 10), (2, 10), (3, 50), (4, 100), (5, 1), (6, 1), (7, 1)].into();
        // Three batches by count (3, 2, 2), split further by size.
        assert_eq!(
            chunk_uids(&uids, &sizes, 3, 60),
            vec![vec![1, 2], vec![3], vec![4], vec![5], vec![6, 7]]
        );
        // Count alone, and sizes unknown: even, no small remainder.
        assert_eq!(
            chunk_uids(&uids, &Default::default(), 3, 60),
            vec![vec![1, 2, 3], vec![4, 5], vec![6, 7]]
        );
        assert!(chunk_uids(&[], &sizes, 3, 60).is_empty());
        let lens = |n: u32, batch: usize| -> Vec<usize> {
            let many: Vec<u32> = (1..=n).collect();
            chunk_uids(&many, &Default::default(), batch, 1 << 20)
                .iter()
                .map(Vec::len)
                .collect()
        };
        // A backlog starts small (32, 64, …); the rest is split evenly
        // into batches of at most `batch`.
        assert_eq!(lens(300, 100), [32, 64, 68, 68, 68]);
        assert_eq!(lens(2000, 500), [32, 64, 128, 256, 380, 380, 380, 380]);
        assert_eq!(lens(40, 500), [32, 8]);
        assert_eq!(lens(1, 500), [1]);
        assert_eq!(lens(5, 1), [1, 1, 1, 1, 1]);
        // The order is kept.
        let many: Vec<u32> = (1..=300).rev().collect();
        let flat: Vec<u32> = chunk_uids(&many, &Default::default(), 100, 1 << 20).concat();
        assert_eq!(flat, many);
    }

    fn reports(uids: std::ops::Range<u32>) -> Vec<Done> {
        uids.map(|u| (u, Disposition::Processed)).collect()
    }

    #[tokio::test]
    async fn the_move_queue_shares_batches_between_two_connections() {
        let q = MoveQueue::default();
        q.lock().workers = 1;
        q.push(reports(1..4));
        q.push(vec![]); // nothing to move: not queued
        q.push(reports(4..6));
        // Alone, a connection takes everything for one command.
        let all: Vec<u32> = uids_of(&q.take().await.unwrap()).collect();
        assert_eq!(all, [1, 2, 3, 4, 5]);
        // With two, half of the batches (rounded up), in order.
        q.lock().workers = 2;
        q.push(reports(6..8));
        q.push_halves(reports(8..13));
        let a: Vec<u32> = uids_of(&q.take().await.unwrap()).collect();
        let b: Vec<u32> = uids_of(&q.take().await.unwrap()).collect();
        assert_eq!((a, b), (vec![6, 7, 8, 9], vec![10, 11, 12]));
        // A taker waits for a batch, and ends once the queue is closed.
        let waiting = q.take();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        q.push(reports(13..14));
        let c: Vec<u32> = uids_of(&waiting.await.unwrap()).collect();
        assert_eq!(c, [13]);
        let waiting = q.take();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        q.close();
        assert!(waiting.await.is_none());
    }

    #[tokio::test]
    async fn a_mover_dropped_unfinished_closes_its_queue() {
        let queue = std::sync::Arc::new(MoveQueue::default());
        let idle = || tokio::spawn(async { Ok(vec![]) });
        // Finished: the round goes on, the queue stays open.
        let m = Mover {
            task: Some(idle()),
            queue: queue.clone(),
        };
        assert!(m.finish().await.unwrap().is_empty());
        assert!(!queue.lock().closed);
        // Dropped on an error: closed, so that its task ends.
        drop(Mover {
            task: Some(idle()),
            queue: queue.clone(),
        });
        assert!(queue.lock().closed);
    }
}
