//! Drives the engine from a source: the messages a source holds are read,
//! parsed ahead, acted on one transaction per batch, and acknowledged
//! (moved out of the inbox) only after the commit that holds their effects.

mod backlog;

pub use backlog::{process_backlog, BacklogError};
