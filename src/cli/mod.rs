//! The command line: what each subcommand takes (clap), and the pieces
//! the subcommands share. One file per subcommand or close family; each
//! exposes a `run` that returns the process's exit code.

pub mod backup;
pub mod check;
pub mod digest;
pub mod files;
pub mod im;
pub mod ingest;
pub mod list;
pub mod outbox;
pub mod run;
pub mod set_aside;
pub mod status;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use crossdesk::config::Config;
use crossdesk::engine::Engine;
use std::path::PathBuf;

/// EX_TEMPFAIL: the MTA should retry the delivery later.
pub const EX_TEMPFAIL: u8 = 75;
/// EX_CONFIG: the configuration is wrong.
pub const EX_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "crossdesk",
    version,
    about = "Email-driven cross-department workflow daemon",
    long_about = "crossdesk watches one mailbox, understands tagged subjects such as \
                  [REQ], 【确认】 RE: [REQ-42], keeps every requirement and task in SQLite \
                  and answers with templated mail. See docs/protocol.md for the email protocol."
)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(
        long,
        short,
        env = "CROSSDESK_CONFIG",
        default_value = "crossdesk.toml",
        global = true
    )]
    pub config: PathBuf,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Act on messages given as files (or `-` for one message on stdin, as
    /// an MTA pipe), in order; then send what the outbox holds. Exit 0 when
    /// each was acted on, refused or set aside; 75 when it could not be stored.
    Ingest {
        /// Message files; `-` reads one message from standard input.
        files: Vec<PathBuf>,
    },
    /// Watch the configured source, act, send. `--once` processes what is
    /// there, drains the outbox and exits.
    Run {
        #[arg(long)]
        once: bool,
        /// Act on mail older than the first-start watermark too.
        #[arg(long)]
        backfill: bool,
        /// Seconds between polls of a Maildir source.
        #[arg(long, default_value_t = 2)]
        poll: u64,
    },
    /// List requirements.
    List {
        /// Only this state (proposed, clarifying, confirmed, rejected,
        /// in_progress, delivered, closed, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// Only requirements this department raised or is asked to help with.
        #[arg(long)]
        dept: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one requirement (REQ-n) or task (REQ-n.m) with its history.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// The files that came with a requirement (REQ-n) or task (REQ-n.m):
    /// listed, or written to a directory with `--out` (a name taken
    /// already gets ` (2)`).
    Files {
        id: String,
        /// Write the kept files here (created if needed).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Remove kept files that no record names any longer (left by a crash
    /// between writing a file and recording it), and temporary leftovers.
    /// Refused while the daemon runs; files younger than an hour are left.
    Gc {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// The group robots (`[[im]]`): `im test NAME` sends one test message
    /// to a robot and prints the platform's answer.
    Im {
        #[command(subcommand)]
        cmd: ImCmd,
    },
    /// Validate the configuration and say what is wrong.
    Check {
        /// Also log in to IMAP (listing the folders) and EHLO the SMTP server.
        #[arg(long)]
        connect: bool,
    },
    /// List the messages set aside (never answered), with the reason.
    SetAside {
        #[arg(long)]
        json: bool,
    },
    /// Act on a set-aside message as if it had just arrived.
    Release { key: String },
    /// Send what the outbox holds that is due, and show the outbox counts;
    /// or list its mails, or put failed ones back in the queue.
    Outbox {
        #[command(subcommand)]
        cmd: Option<OutboxCmd>,
    },
    /// Department digests: render what the latest slot at or before `--at`
    /// sends (`--dry-run` prints it and queues nothing), or queue and send
    /// it as the daemon would, once per department and slot. One line per
    /// department: id, slot, and queued / empty / already_sent /
    /// before_start / no_slot / off.
    ///
    /// The clock's "now" can be fixed for tests and replays with the
    /// CROSSDESK_NOW environment variable ("2026-12-01 09:00", local time,
    /// or RFC 3339); every command honours it.
    Digest {
        /// Only this department (id).
        #[arg(long)]
        dept: Option<String>,
        /// The time, local to [locale].timezone: "2026-12-01 09:00".
        /// Default: now.
        #[arg(long)]
        at: Option<String>,
        /// Print the digests (subject and text) instead of sending them.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: print the HTML part instead of the text.
        #[arg(long, requires = "dry_run")]
        html: bool,
    },
    /// Whether the daemon runs, and what the store holds: messages,
    /// requirements per state, the outbox, set-aside mail. Exit 0 when a
    /// `crossdesk run` uses the store, 3 when none does (as LSB's status).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent copy of the store to a new file, while the
    /// daemon runs (SQLite's VACUUM INTO: a snapshot, compacted), and its
    /// kept files to `FILE.files`. To
    /// restore: stop the daemon, `crossdesk restore FILE`, start it.
    Backup {
        /// The new file (it must not exist).
        path: PathBuf,
    },
    /// Put a backup back as the store, with the daemon stopped (it is
    /// refused while `crossdesk run` uses the store). The backup is checked
    /// and copied; the old store's -wal and -shm go. What happened after
    /// the backup was taken is unknown to it, so new requirements are
    /// numbered past a gap (numbers given out since are not given out
    /// again), and outbox mail queued in it is held as failed (it was most
    /// likely sent since; `outbox retry` sends one that was not).
    Restore {
        /// The backup (from `crossdesk backup`).
        path: PathBuf,
        /// Numbers to skip past the backup's last requirement. Default: at
        /// least 100, or twice as many as its last 30 days gave out per
        /// day, for each day since its last message.
        #[arg(long)]
        gap: Option<u32>,
    },
}

#[derive(Subcommand)]
pub enum ImCmd {
    /// Send one test message to the robot NAME now, and print what the
    /// platform answered. Exit 0 when it took the message.
    Test { name: String },
}

#[derive(Subcommand)]
pub enum OutboxCmd {
    /// List outbox mails and robot messages, newest first: by default
    /// every one not sent (queued, failed, suppressed, bounced), with its
    /// recipients (a robot message: its robot), attempts and last error.
    /// Robot messages are numbered apart: `im-7`.
    List {
        /// Only this status: queued, sent, failed, suppressed or bounced.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Put failed, bounced or suppressed mails (ids from `outbox list`) back
    /// in the queue, due at once, once the mail server, the relay or a group
    /// alias is fixed; then send what is due. Each gets its retry schedule
    /// and its 72 hours again; a suppressed one is sent regardless of the
    /// daily cap. A failed robot message (`im-7`) goes back the same way,
    /// once the robot's setting is fixed.
    Retry {
        #[arg(required_unless_present = "failed")]
        ids: Vec<String>,
        /// Every failed mail and robot message.
        #[arg(long, conflicts_with = "ids")]
        failed: bool,
    },
}

pub const NO_STORE_YET: &str = "does not exist yet: nothing has been recorded (the daemon creates it when it first runs; check `store.path` in the configuration)";

/// The engine on the configured store, for the commands that only read or
/// change what is recorded: a missing store is an error, not created.
pub fn existing_store(cfg: Config) -> Result<Engine> {
    let store = cfg.store_path();
    if !store.exists() {
        bail!("store {} {NO_STORE_YET}", store.display());
    }
    Ok(Engine::new(cfg)?)
}

/// [`existing_store`] for a command that only looks: the store read
/// through a memory map ([`Store::map_for_reading`](crossdesk::store::Store::map_for_reading)).
pub fn lookup_store(cfg: Config) -> Result<Engine> {
    let engine = existing_store(cfg)?;
    engine.store().map_for_reading()?;
    Ok(engine)
}

/// Sends what the outbox holds that is due, outside the daemon.
pub fn drain(engine: Engine) -> Result<Engine> {
    let (engine, s) = crossdesk::daemon::drain_now(engine)?;
    if s.sent + s.retry + s.failed > 0 {
        // The target the line had before the CLI had modules of its own.
        tracing::info!(
            target: "crossdesk",
            sent = s.sent,
            retry = s.retry,
            failed = s.failed,
            "outbox drained"
        );
    }
    Ok(engine)
}
