//! Where mail comes from. Every source hands out raw messages and is told,
//! only after their effects were committed, where each one goes.

pub mod imap;
pub mod maildir;
pub mod mutf7;

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One raw message from a source.
#[derive(Debug, Clone)]
pub struct RawMail {
    /// The source's handle for it (a file path, an IMAP UID, …).
    pub handle: String,
    pub raw: Vec<u8>,
    /// When the mailbox received it (mtime / INTERNALDATE), if known.
    pub received: Option<DateTime<Utc>>,
}

/// Where a processed message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Acted on (applied, refused, answered with help, or a duplicate).
    Processed,
    /// Set aside (never answered).
    Rejected,
    /// Older than the first-start watermark: left where it is.
    Leave,
}

/// Why a source could not hand out or acknowledge mail. Each is
/// transient: the messages stay where they are and are tried again.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file or directory of a Maildir source could not be read, listed
    /// or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The thread that reads ahead could not be started.
    #[error("cannot start the reader thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A batch stops growing at about this many bytes of mail (at least one
/// message): with the default batch of 500, a run of large messages would
/// otherwise hold gigabytes in memory.
pub const BATCH_BYTES: usize = 64 << 20;

pub trait Source {
    /// Up to `max` messages not yet handed out, oldest first, and no more
    /// than about [`BATCH_BYTES`] of them.
    fn fetch(&mut self, max: usize) -> Result<Vec<RawMail>, SourceError>;
    /// Called only after the message's effects are committed.
    fn ack(&mut self, handle: &str, d: Disposition) -> Result<(), SourceError>;
}

/// At this many failed reads a message is logged as a warning (once).
pub const STUCK_WARN_AT: u32 = 3;
/// The longest wait between two reads of a message that could not be read.
const STUCK_MAX_WAIT: Duration = Duration::from_secs(300);

/// Messages a source listed but could not read (an IMAP server that
/// answered without the body, a file the daemon may not open), each with
/// its misses and when to try it again: 0.5 s after the first, then 1 s,
/// 2 s, … at most 5 minutes apart. Such a message stays where it is (the
/// IMAP cursor does not pass it) and is read again on its own, after the
/// rest, so that it neither holds up the mail behind it nor has the daemon
/// retry in a loop.
#[derive(Debug)]
pub struct Stuck<K> {
    items: BTreeMap<K, (u32, Instant)>,
}

impl<K> Default for Stuck<K> {
    fn default() -> Self {
        Stuck {
            items: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Stuck<K> {
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Forgets the messages no longer listed (moved or deleted by a person).
    pub fn keep_only<'a>(&mut self, listed: impl IntoIterator<Item = &'a K>)
    where
        K: 'a,
    {
        if self.items.is_empty() {
            return;
        }
        let set: std::collections::BTreeSet<&K> = listed.into_iter().collect();
        self.items.retain(|k, _| set.contains(k));
    }

    pub fn holds(&self, k: &K) -> bool {
        self.items.contains_key(k)
    }

    /// Held, and its time has not come.
    pub fn waiting(&self, k: &K, now: Instant) -> bool {
        self.items.get(k).is_some_and(|(_, at)| *at > now)
    }

    /// The messages due at `now`, in the order to try them: fewest misses
    /// first (a message missed only because the server dropped the
    /// connection over another goes before that one), then by key.
    pub fn due(&self, now: Instant) -> Vec<K> {
        let mut v: Vec<(u32, &K)> = self
            .items
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(k, &(tries, _))| (tries, k))
            .collect();
        v.sort();
        v.into_iter().map(|(_, k)| k.clone()).collect()
    }

    /// Notes a miss: (misses so far, wait before the next try).
    pub fn missed(&mut self, k: K, now: Instant) -> (u32, Duration) {
        let e = self.items.entry(k).or_insert((0, now));
        e.0 += 1;
        let wait = Duration::from_millis(500)
            .saturating_mul(1 << (e.0 - 1).min(20))
            .min(STUCK_MAX_WAIT);
        e.1 = now + wait;
        (e.0, wait)
    }

    /// Notes a read: the misses it had, when it was held.
    pub fn fetched(&mut self, k: &K) -> Option<u32> {
        self.items.remove(k).map(|(tries, _)| tries)
    }

    /// When the next held message is due; with `quick`, only among those
    /// not yet warned about (what `run --once` still waits for).
    pub fn next_due(&self, quick: bool) -> Option<Instant> {
        self.items
            .values()
            .filter(|(tries, _)| !quick || *tries < STUCK_WARN_AT)
            .map(|&(_, at)| at)
            .min()
    }
}

/// Logs a message that could not be read: at info for the first misses, as
/// a warning (once) at the [`STUCK_WARN_AT`]th, at debug after that.
pub fn log_unreadable(id: &str, tries: u32, wait: Duration, error: &str) {
    let wait_ms = wait.as_millis() as u64;
    match tries.cmp(&STUCK_WARN_AT) {
        std::cmp::Ordering::Less => {
            tracing::info!(id, tries, wait_ms, error, "message not fetchable yet; will retry")
        }
        std::cmp::Ordering::Equal => tracing::warn!(
            id,
            tries,
            wait_ms,
            error,
            "message still not fetchable; retried on its own with backoff, at most every 5 minutes, while the mail behind it goes on"
        ),
        std::cmp::Ordering::Greater => {
            tracing::debug!(id, tries, wait_ms, error, "message not fetchable yet; will retry")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message missed is due again after 0.5 s, 1 s, 2 s, … at most 5
    /// minutes; the one missed fewer times goes first; a read, or its
    /// leaving the listing, forgets it.
    #[test]
    fn messages_not_read_are_tried_again_with_backoff_fewest_misses_first() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut st = Stuck::default();
        // FETCH 1:2 came back with neither body (the server dropped the
        // connection over 1).
        assert_eq!(st.missed(1u32, t0), (1, ms(500)));
        assert_eq!(st.missed(2, t0), (1, ms(500)));
        assert!(st.holds(&1) && st.holds(&2) && !st.holds(&3));
        assert!(st.due(t0).is_empty(), "not before its time");
        assert!(st.waiting(&1, t0) && !st.waiting(&3, t0));
        assert_eq!(st.next_due(false), Some(t0 + ms(500)));
        let t1 = t0 + ms(500);
        assert_eq!(st.due(t1), [1, 2]);
        assert!(!st.waiting(&1, t1));
        // 1 alone: missed again; 2 now goes first.
        assert_eq!(st.missed(1, t1), (2, ms(1000)));
        assert_eq!(st.due(t1 + ms(1000)), [2, 1]);
        assert_eq!(st.fetched(&2), Some(1));
        assert_eq!(st.fetched(&2), None);
        let mut t = t1;
        let waits: Vec<u64> = (3..=12)
            .map(|_| {
                let (_, w) = st.missed(1, t);
                t += w;
                w.as_secs_f64() as u64
            })
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(st.next_due(true), None, "past the quick tries");
        assert_eq!(st.next_due(false), Some(t));
        st.keep_only(&[5, 6]);
        assert!(!st.holds(&1), "no longer listed");
        st.missed(5, t);
        st.clear();
        assert!(!st.holds(&5));
    }
}
