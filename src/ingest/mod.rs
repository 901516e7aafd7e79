//! Drives the engine from a source: the messages a source holds are read,
//! parsed ahead, acted on one transaction per batch, and acknowledged
//! (moved out of the inbox) only after the commit that holds their effects.

mod backlog;
pub mod imap;

pub use backlog::{process_backlog, BacklogError};

use crate::engine::EngineError;
use crate::source::imap::ImapError;

/// Why a round of the IMAP ingest ended early. The daemon waits and
/// starts a new one; the messages stay in the folder meanwhile.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Imap(#[from] ImapError),
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
