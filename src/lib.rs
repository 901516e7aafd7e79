//! crossdesk: an email-driven cross-department workflow daemon.
//!
//! Mail flows one way: source → parse → classify → decide → commit → ack;
//! the outbox is rendered and sent afterwards. `mail` and `workflow` are
//! pure; `store`, `source`, `send` and `engine` are the thin I/O shell.

pub mod clock;
pub mod config;
pub mod crashguard;
pub mod daemon;
pub mod directory;
pub mod engine;
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
