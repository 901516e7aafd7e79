//! crossdesk: an email-driven cross-department workflow daemon.
//!
//! Mail flows one way: source → parse → classify → decide → commit → ack;
//! the outbox is rendered and sent afterwards, and the clock queues
//! digests and reminders. A pure core sits inside a thin I/O shell.
//!
//! The layer map: each module imports only modules of a lower layer
//! (`tests/layers.rs` checks it on the source; docs/architecture.md says
//! more).
//!
//! | layer | modules | |
//! |---|---|---|
//! | 0 | `model` | the shared nouns: ids, actions, commands, snapshots, mailboxes, the outgoing-mail description |
//! | 0 | `maildir`, `net`, `shutdown` | the Maildir layout, TLS settings, the one stop signal |
//! | 1 | `directory`, `mail`, `im` | who is who; parse, the never-answer filter, classify; group-robot messages, signatures, answers |
//! | 2 | `workflow`, `schedule` | the state machine; what the clock has due at `now` (pure) |
//! | 3 | `config` | the configuration file |
//! | 4 | `render`, `report` | templates into mail; `show` and `list` output |
//! | 5 | `store` | SQLite: all SQL, the store's locks |
//! | 6 | `crashguard`, `source`, `send` | the message in hand; mailbox clients; transports |
//! | 7 | `engine` | the transaction around the pure core |
//! | 8 | `ingest`, `clock` | drivers of the engine: from a source, from the time |
//! | 9 | `daemon` | `crossdesk run`: the tasks of one process |
//!
//! Layers 0–2 (`model`, `directory`, `mail`, `im`, `workflow`, `schedule`) touch
//! no I/O and no clock of their own: `now` comes in.

pub mod clock;
pub mod config;
pub mod crashguard;
pub mod daemon;
pub mod directory;
pub mod engine;
pub mod im;
pub mod ingest;
pub mod mail;
pub mod maildir;
pub mod model;
pub mod net;
pub mod render;
pub mod report;
pub mod schedule;
pub mod send;
pub mod shutdown;
pub mod source;
pub mod store;
pub mod workflow;

/// mimalloc for every binary built on this crate (the daemon, the CLI, the
/// benchmarks): the core path allocates many small strings per message
/// (mail contexts, JSON), where glibc's malloc cost ~15 % of its time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
