//! The shared nouns of crossdesk, a pure leaf that imports nothing else of
//! the crate: identifiers, actions and commands, requirement and task
//! snapshots, mailboxes, the description of an outgoing mail, and the
//! time zone days are counted in. Every layer speaks in these; none of
//! them does I/O.

mod command;
mod file;
mod mailbox;
mod outgoing;
mod requirement;
mod zone;

pub use command::*;
pub use file::*;
pub use mailbox::*;
pub use outgoing::*;
pub use requirement::*;
pub use zone::{Zone, ZoneOffset};
