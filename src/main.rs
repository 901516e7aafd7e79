//! The `crossdesk` command line: run the daemon, ingest mail, inspect state.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use crossdesk::config::Config;
use crossdesk::engine::{Engine, Report};
use crossdesk::source::RawMail;
use crossdesk::workflow::model::{ItemId, ReqState};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// EX_TEMPFAIL: the MTA should retry the delivery later.
const EX_TEMPFAIL: u8 = 75;
/// EX_CONFIG: the configuration is wrong.
const EX_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "crossdesk",
    version,
    about = "Email-driven cross-department workflow daemon",
    long_about = "crossdesk watches one mailbox, understands tagged subjects such as \
                  [REQ], 【确认】 RE: [REQ-42], keeps every requirement and task in SQLite \
                  and answers with templated mail. See README.md for the email protocol."
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(
        long,
        short,
        env = "CROSSDESK_CONFIG",
        default_value = "crossdesk.toml",
        global = true
    )]
    config: PathBuf,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
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
    /// daemon runs (SQLite's VACUUM INTO: a snapshot, compacted). To
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
enum OutboxCmd {
    /// List outbox mails, newest first: by default every mail not sent
    /// (queued, failed, suppressed, bounced), with its recipients, attempts
    /// and last error.
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
    /// daily cap.
    Retry {
        #[arg(required_unless_present = "failed")]
        ids: Vec<i64>,
        /// Every failed mail.
        #[arg(long, conflicts_with = "ids")]
        failed: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crossdesk: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CROSSDESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

fn load_config(path: &std::path::Path) -> std::result::Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("crossdesk: {e}");
        ExitCode::from(EX_CONFIG)
    })
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    let cfg = match load_config(&cli.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    match cli.cmd {
        Cmd::Check { connect } => {
            let store = cfg.store_path();
            if let Err(why) = crossdesk::store::Store::check_writable(&store) {
                eprintln!(
                    "crossdesk: {}: key `store.path`: the store {} cannot be kept there: {why}",
                    cli.config.display(),
                    store.display()
                );
                return Ok(ExitCode::from(EX_CONFIG));
            }
            println!(
                "{}: ok — {} departments, {} people, source {}, transport {}",
                cli.config.display(),
                cfg.departments.len(),
                cfg.departments
                    .iter()
                    .map(|d| d.leads.len() + d.members.len())
                    .sum::<usize>(),
                cfg.mail.source,
                cfg.mail.transport
            );
            if connect {
                match crossdesk::daemon::check_connect(&cfg) {
                    Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(ExitCode::from(EX_CONFIG));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ingest { files } => ingest(cfg, files),
        Cmd::Status { json } => {
            let store = cfg.store_path();
            let pid = crossdesk::daemon::daemon_pid(&store)?;
            // 3 when no daemon uses the store, as LSB's status.
            let code = if pid.is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            };
            // A missing store is said, not created: a mistyped `store.path`
            // must not leave an empty store behind that looks like a fresh start.
            let (st, size) = if store.exists() {
                let engine = Engine::new(cfg)?;
                let size: u64 = ["", "-wal"]
                    .iter()
                    .filter_map(|x| {
                        std::fs::metadata(crossdesk::store::beside(&store, x))
                            .ok()
                            .map(|m| m.len())
                    })
                    .sum();
                (Some(engine.store.status()?), size)
            } else {
                (None, 0)
            };
            if json {
                let v = serde_json::json!({
                    "daemon": { "running": pid.is_some(), "pid": pid },
                    "store": { "path": store.display().to_string(), "exists": st.is_some(), "bytes": size },
                    "status": st,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                match &pid {
                    Some(p) => println!("daemon: running (pid {p})"),
                    None => println!("daemon: not running"),
                }
                let Some(st) = st else {
                    println!("store: {} {NO_STORE_YET}", store.display());
                    return Ok(code);
                };
                println!("store: {} ({size} bytes)", store.display());
                println!(
                    "messages: {}{}",
                    st.messages,
                    st.last_message_at
                        .as_deref()
                        .map(|t| format!(", the last at {t}"))
                        .unwrap_or_default()
                );
                let reqs: Vec<String> = st
                    .requirements
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect();
                println!(
                    "requirements: {}",
                    if reqs.is_empty() {
                        "none".into()
                    } else {
                        reqs.join(", ")
                    }
                );
                let o = &st.outbox;
                println!(
                    "outbox: {} queued, {} sent, {} failed, {} suppressed, {} bounced",
                    o.queued, o.sent, o.failed, o.suppressed, o.bounced
                );
                println!(
                    "set aside: {} ({} not released)",
                    st.set_aside, st.set_aside_waiting
                );
            }
            Ok(code)
        }
        Cmd::Backup { path } => {
            if path.exists() {
                bail!("{} exists; give a new file", path.display());
            }
            let engine = existing_store(cfg)?;
            engine
                .store
                .backup_to(&path)
                .with_context(|| format!("backup to {}", path.display()))?;
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            println!(
                "backed up {} to {} ({bytes} bytes, schema version {})",
                engine.cfg.store_path().display(),
                path.display(),
                engine.store.schema_version()?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Restore { path, gap } => {
            let store = cfg.store_path();
            let _locks = crossdesk::daemon::lock_for_restore(&store)?;
            let now = crossdesk::schedule::now(cfg.tz());
            let r = crossdesk::store::restore::restore(&path, &store, gap, now)?;
            println!(
                "restored {} to {} (schema version {}; its last message recorded at {})",
                path.display(),
                store.display(),
                r.schema,
                r.last_message_at.as_deref().unwrap_or("-")
            );
            println!(
                "new requirements are numbered from REQ-{}: the backup's last is REQ-{}, and the {} numbers after it are skipped (they may have been given out after the backup was taken)",
                r.next_req(),
                r.last_req,
                r.gap
            );
            if r.held > 0 {
                println!(
                    "{} outbox mails queued in the backup are held as failed, as most were likely sent since: `crossdesk outbox list --status failed` lists them, `crossdesk outbox retry ID` sends one",
                    r.held
                );
            }
            // Digests and reminders due now: the lost store may have sent
            // them, so they are recorded as sent rather than sent again.
            let mut engine = Engine::new(cfg)?;
            let clock = crossdesk::schedule::run::run(
                &mut engine,
                now,
                &crossdesk::schedule::run::ClockOpts {
                    record_only: true,
                    ..Default::default()
                },
            )?;
            let slots = clock
                .digests
                .iter()
                .filter(|d| d.status == crossdesk::schedule::run::DigestStatus::Recorded)
                .count();
            if slots + clock.reminders_recorded > 0 {
                println!(
                    "{slots} digest slots and {} reminders due now are recorded as sent, with no mail, as the lost store may have sent them",
                    clock.reminders_recorded
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            once,
            backfill,
            poll,
        } => run(cfg, once, backfill, poll),
        Cmd::List { state, dept, json } => {
            if let Some(s) = &state {
                if ReqState::parse(s).is_none() {
                    bail!("unknown state `{s}`; use one of proposed, clarifying, confirmed, rejected, in_progress, delivered, closed, cancelled");
                }
            }
            let engine = existing_store(cfg)?;
            let reqs = engine.store.list_reqs(state.as_deref(), dept.as_deref())?;
            if json {
                let v: Vec<_> = reqs
                    .iter()
                    .map(|r| crossdesk::report::req_json(&engine.dir, r, None))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", crossdesk::report::req_table(&reqs));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Show { id, json } => {
            let Some(item) = ItemId::parse(&id) else {
                bail!("`{id}` is not an identifier; use REQ-n or REQ-n.m");
            };
            let engine = existing_store(cfg)?;
            let Some(req) = engine.store.load_req(item.req())? else {
                bail!("{} does not exist", item.req());
            };
            if let ItemId::Task(t) = item {
                if req.task(t).is_none() {
                    bail!("{t} does not exist");
                }
            }
            let events = engine.store.events(item.req())?;
            if json {
                let v = crossdesk::report::req_json(&engine.dir, &req, Some(&events));
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", crossdesk::report::req_text(&req, &events));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::SetAside { json } => {
            let engine = existing_store(cfg)?;
            let list = engine.store.set_aside_list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("nothing set aside");
            } else {
                for r in list {
                    println!(
                        "{}  {}{}  {}  from {}  \"{}\"{}",
                        r.at,
                        r.class,
                        if r.detail.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", r.detail)
                        },
                        r.key,
                        if r.sender.is_empty() { "?" } else { &r.sender },
                        r.subject,
                        if r.released { "  [released]" } else { "" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Release { key } => {
            let mut engine = existing_store(cfg)?;
            let now = crossdesk::schedule::now(engine.cfg.tz());
            match engine.release(&key, now)? {
                None => bail!("no set-aside message with key `{key}` (see `crossdesk set-aside`)"),
                Some(r) => println!(
                    "{}: {}{}",
                    r.key,
                    r.verdict,
                    r.item.map(|i| format!(" {i}")).unwrap_or_default()
                ),
            }
            drain(engine)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Digest {
            dept,
            at,
            dry_run,
            html,
        } => digest(cfg, dept, at, dry_run, html),
        Cmd::Outbox { cmd: None } => {
            let engine = drain(Engine::new(cfg)?)?;
            print_outbox_counts(&engine)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Outbox {
            cmd:
                Some(OutboxCmd::List {
                    status,
                    limit,
                    json,
                }),
        } => {
            use crossdesk::store::OUTBOX_STATUSES;
            if let Some(s) = &status {
                if !OUTBOX_STATUSES.contains(&s.as_str()) {
                    bail!(
                        "unknown status `{s}`; use one of {}",
                        OUTBOX_STATUSES.join(", ")
                    );
                }
            }
            let engine = existing_store(cfg)?;
            let list = engine.store.outbox_list(status.as_deref(), limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!(
                    "no {} mail in the outbox",
                    status.as_deref().unwrap_or("unsent")
                );
            } else {
                for m in list {
                    println!(
                        "{}  {}  {}{}  to {}  created {}  attempts {}{}{}",
                        m.id,
                        m.status,
                        m.kind,
                        m.item.map(|i| format!(" {i}")).unwrap_or_default(),
                        m.rcpts.join(", "),
                        m.created_at,
                        m.attempts,
                        match (m.status.as_str(), &m.sent_at) {
                            ("queued", _) => format!("  next {}", m.next_attempt_at),
                            (_, Some(at)) => format!("  sent {at}"),
                            _ => String::new(),
                        },
                        m.last_error
                            .map(|e| format!("  error: {e}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Outbox {
            cmd: Some(OutboxCmd::Retry { ids, failed }),
        } => {
            let mut engine = existing_store(cfg)?;
            let now = crossdesk::schedule::now(engine.cfg.tz());
            let ids = if failed {
                engine.store.outbox_ids("failed")?
            } else {
                ids
            };
            if ids.is_empty() {
                println!("no failed mail in the outbox");
            }
            let mut refused = false;
            for id in ids {
                use crossdesk::store::Requeue;
                match engine.store.requeue_mail(id, now)? {
                    Requeue::Queued { was } => println!("mail {id}: {was} → queued"),
                    Requeue::NotHeld { status } => {
                        refused = true;
                        eprintln!("mail {id} is {status}: not put back (only failed, bounced or suppressed mail is)");
                    }
                    Requeue::Unknown => {
                        refused = true;
                        eprintln!("no outbox mail {id} (see `crossdesk outbox list`)");
                    }
                }
            }
            let engine = drain(engine)?;
            print_outbox_counts(&engine)?;
            Ok(if refused {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

const NO_STORE_YET: &str = "does not exist yet: nothing has been recorded (the daemon creates it when it first runs; check `store.path` in the configuration)";

/// The engine on the configured store, for the commands that only read or
/// change what is recorded: a missing store is an error, not created.
fn existing_store(cfg: Config) -> Result<Engine> {
    let store = cfg.store_path();
    if !store.exists() {
        bail!("store {} {NO_STORE_YET}", store.display());
    }
    Ok(Engine::new(cfg)?)
}

fn print_outbox_counts(engine: &Engine) -> Result<()> {
    let s = engine.store.outbox_status()?;
    println!(
        "outbox: {} queued, {} sent, {} failed, {} suppressed, {} bounced",
        s.queued, s.sent, s.failed, s.suppressed, s.bounced
    );
    Ok(())
}

fn drain(engine: Engine) -> Result<Engine> {
    let (engine, s) = crossdesk::daemon::drain_now(engine)?;
    if s.sent + s.retry + s.failed > 0 {
        tracing::info!(
            sent = s.sent,
            retry = s.retry,
            failed = s.failed,
            "outbox drained"
        );
    }
    Ok(engine)
}

fn ingest(cfg: Config, files: Vec<PathBuf>) -> Result<ExitCode> {
    if files.is_empty() {
        bail!("give message files, or `-` to read one message from standard input");
    }
    let mut mails = Vec::with_capacity(files.len());
    for f in &files {
        let raw = if f.as_os_str() == "-" {
            let mut b = vec![];
            std::io::stdin()
                .read_to_end(&mut b)
                .context("reading standard input")?;
            b
        } else {
            match std::fs::read(f) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("crossdesk: {}: {e}", f.display());
                    return Ok(ExitCode::from(EX_TEMPFAIL));
                }
            }
        };
        mails.push(RawMail {
            handle: f.display().to_string(),
            raw,
            received: None,
        });
    }
    let mut engine = match Engine::new(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("crossdesk: {e}");
            return Ok(ExitCode::from(EX_TEMPFAIL));
        }
    };
    let batch = engine.cfg.store.batch;
    for chunk in mails.chunks(batch) {
        let now = crossdesk::schedule::now(engine.cfg.tz());
        match engine.ingest_batch(chunk, now, None) {
            Ok(reports) => print_reports(&reports),
            Err(e) => {
                eprintln!("crossdesk: could not store: {e}");
                return Ok(ExitCode::from(EX_TEMPFAIL));
            }
        }
    }
    // The mail is stored; a send failure leaves it queued for the next run.
    if let Err(e) = drain(engine) {
        tracing::warn!("outbox not drained: {e:#}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_reports(reports: &[Report]) {
    reports.iter().for_each(|r| println!("{r}"));
}

fn run(cfg: Config, once: bool, backfill: bool, poll: u64) -> Result<ExitCode> {
    let r = crossdesk::daemon::run_blocking(
        cfg,
        crossdesk::daemon::RunOpts {
            once,
            backfill,
            poll: std::time::Duration::from_secs(poll),
        },
    );
    match r {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.downcast_ref::<crossdesk::daemon::Busy>().is_some() => {
            eprintln!("crossdesk: {e}");
            Ok(ExitCode::from(EX_TEMPFAIL))
        }
        Err(e) => Err(e),
    }
}

fn digest(
    cfg: Config,
    dept: Option<String>,
    at: Option<String>,
    dry_run: bool,
    html: bool,
) -> Result<ExitCode> {
    use crossdesk::schedule::run::{run, ClockOpts};
    let tz = cfg.tz();
    let now = match &at {
        Some(s) => crossdesk::schedule::parse_local_time(s, tz).with_context(|| {
            format!("--at `{s}`: use \"YYYY-MM-DD HH:MM\" (local time of {tz}) or RFC 3339")
        })?,
        None => crossdesk::schedule::now(tz),
    };
    let mut engine = Engine::new(cfg)?;
    let opts = ClockOpts {
        dept,
        dry_run,
        digests: true,
        reminders: false,
        record_only: false,
    };
    let report = run(&mut engine, now, &opts)?;
    let today = now.with_timezone(&tz).date_naive();
    for d in &report.digests {
        let slot = d.slot.as_deref().unwrap_or("-");
        if !dry_run {
            println!("{}\t{}\t{}", d.dept, slot, d.status.as_str());
            continue;
        }
        let Some(out) = &d.mail else {
            println!("=== {} — slot {slot}: {} ===\n", d.dept, d.status.as_str());
            continue;
        };
        let parts = engine.renderer.render_parts_on(out, Some(today))?;
        let empty = out.ctx.digest.as_ref().is_some_and(|g| g.is_empty());
        println!(
            "=== {} → {} — slot {slot} (dry run, not sent{}) ===",
            d.dept,
            out.to
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if empty && engine.cfg.digest.skip_empty {
                "; empty: skip_empty would send nothing"
            } else {
                ""
            }
        );
        println!("Subject: {}\n", parts.subject);
        println!("{}", if html { &parts.html } else { &parts.text });
    }
    if !dry_run && report.queued() > 0 {
        drain(engine)?;
    }
    Ok(ExitCode::SUCCESS)
}
