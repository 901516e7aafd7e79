//! Where mail comes from. Every source hands out raw messages and is told,
//! only after their effects were committed, where each one goes.

pub mod imap;
pub mod maildir;

use chrono::{DateTime, Utc};

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

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Io(String),
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
