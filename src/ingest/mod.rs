//! Drives the engine from a source: the messages a source holds are read,
//! parsed ahead, acted on one transaction per batch, and acknowledged
//! (moved out of the inbox) only after the commit that holds their effects.

mod backlog;
pub mod imap;
pub mod maildir;

pub use backlog::process_backlog;

use crate::engine::{Engine, EngineError};
use crate::shutdown::Shutdown;
use crate::source::imap::ImapError;
use crate::source::SourceError;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, MutexGuard};

/// What an ingest task needs from the rest of the daemon.
pub struct Wiring {
    pub engine: Arc<Mutex<Engine>>,
    /// Wakes the outbox sender after a batch committed mail.
    pub kick: Arc<tokio::sync::Notify>,
    pub stop: Shutdown,
    pub watermark: Option<DateTime<Utc>>,
    /// Process what is there, then return (`run --once`).
    pub once: bool,
}

fn lock(engine: &Mutex<Engine>) -> Result<MutexGuard<'_, Engine>, IngestError> {
    engine.lock().map_err(|_| IngestError::Poisoned)
}

/// Why ingest stopped short. The messages stay where they are: the IMAP
/// ingest waits and starts a new round; the Maildir one gives up.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("source: {0}")]
    Source(#[from] SourceError),
    /// The engine could not act on or record a batch (its store failing,
    /// a full disk say).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// UIDs name the same messages only under the same UIDVALIDITY.
    #[error("UIDVALIDITY changed while opening the second connection")]
    ValidityChanged,
    #[error("engine lock poisoned")]
    Poisoned,
    /// A task of the round (acting, parsing, the second connection)
    /// panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}
