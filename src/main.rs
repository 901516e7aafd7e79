//! The `crossdesk` command line: parse, load the configuration, dispatch
//! to the subcommand's own file under `src/cli/`, and turn its result into
//! the exit code.

mod cli;

use clap::Parser;
use cli::{Cli, Cmd, ImCmd, OutboxCmd, EX_CONFIG};
use crossdesk::config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("crossdesk: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let result = match cli.cmd {
        Cmd::Check { connect } => cli::check::run(&cfg, &cli.config, connect),
        Cmd::Im {
            cmd: ImCmd::Test { name },
        } => cli::im::test(&cfg, &name),
        Cmd::Ingest { files } => cli::ingest::run(cfg, files),
        Cmd::Run {
            once,
            backfill,
            poll,
        } => cli::run::run(cfg, once, backfill, poll),
        Cmd::Status { json } => cli::status::run(cfg, json),
        Cmd::Backup { path } => cli::backup::backup(cfg, &path),
        Cmd::Restore { path, gap } => cli::backup::restore(cfg, &path, gap),
        Cmd::List { state, dept, json } => cli::list::list(cfg, state, dept, json),
        Cmd::Show { id, json } => cli::list::show(cfg, &id, json),
        Cmd::Files { id, out, json } => cli::files::files(cfg, &id, out.as_deref(), json),
        Cmd::Gc { dry_run } => cli::files::gc(cfg, dry_run),
        Cmd::SetAside { json } => cli::set_aside::list(cfg, json),
        Cmd::Release { key } => cli::set_aside::release(cfg, &key),
        Cmd::Digest {
            dept,
            at,
            dry_run,
            html,
        } => cli::digest::run(cfg, dept, at, dry_run, html),
        Cmd::Outbox { cmd: None } => cli::outbox::send(cfg),
        Cmd::Outbox {
            cmd:
                Some(OutboxCmd::List {
                    status,
                    limit,
                    json,
                }),
        } => cli::outbox::list(cfg, status, limit, json),
        Cmd::Outbox {
            cmd: Some(OutboxCmd::Retry { ids, failed }),
        } => cli::outbox::retry(cfg, ids, failed),
    };
    match result {
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
