//! The MTA-pipe path and the CLI's start-up: whole `crossdesk` processes,
//! as Postfix's pipe transport or an admin's script runs them, timed from
//! spawn to exit. Prints figures; asserts nothing about speed. Needs no
//! mail server (the replies go to a Maildir outbox).
//!
//!   cargo bench --bench pipe
//!   BENCH_PIPE_MESSAGES=N …  (messages piped, one process each; default 200)
//!   BENCH_REQS=N …           (requirements in the store the look-ups read;
//!                             default 10,000)
//!   BENCH_BIN=PATH …         (another build's binary, for an A/B run)
//!
//! Figures printed (median and 90th percentile per process):
//! - the floor: `crossdesk --version`, a process that starts and exits
//! - `crossdesk ingest -` with a new requirement on stdin: parsed, acted
//!   on, committed, its two replies rendered and written
//! - the same messages again: each a duplicate, nothing to do
//! - with a daemon running beside (`crossdesk run`): `ingest -` commits
//!   and wakes it to write the replies; the process, and its start until
//!   both replies are written (beside the same without a daemon)
//! - for context, the same messages through one `ingest FILE…` process
//!   (per message)
//! - `status`, `list` (a filter matching none, one matching half), `show
//!   ID` on a store of BENCH_REQS requirements

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn bin() -> PathBuf {
    std::env::var_os("BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_crossdesk")))
}

fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A desk in `dir`: the configuration, replies to a Maildir outbox.
fn desk(dir: &Path) -> PathBuf {
    let cfg = dir.join("crossdesk.toml");
    std::fs::write(&cfg, common::desk_toml(500)).unwrap();
    cfg
}

/// A new requirement from sales for R&D (Chinese) or ops (English).
fn message(i: usize) -> Vec<u8> {
    let dept = if i.is_multiple_of(2) { "研发" } else { "ops" };
    common::new_req(&format!("pipe.{i}"), i, dept)
}

/// One process: `args`, `stdin` piped in; its wall time in ms.
fn timed(cfg: &Path, args: &[&str], stdin: Option<&[u8]>) -> f64 {
    let t = Instant::now();
    let mut c = Command::new(bin());
    if !args.contains(&"--version") {
        c.arg("--config").arg(cfg);
    }
    let mut child = c
        .args(args)
        .env("CROSSDESK_LOG", "warn")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    if let Some(b) = stdin {
        child.stdin.take().unwrap().write_all(b).unwrap();
    }
    let status = child.wait().unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    // `status` exits 3 when no daemon uses the store.
    let ok = status.success() || (args == ["status"] && status.code() == Some(3));
    assert!(ok, "{args:?}: {status}");
    ms
}

/// (median, 90th percentile).
fn spread(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[(v.len() * 9 / 10).min(v.len() - 1)])
}

fn line(what: &str, v: Vec<f64>, floor: f64) {
    let (p50, p90) = spread(v);
    println!(
        "{what:<58} p50 {p50:>7.2} ms  p90 {p90:>7.2} ms  ({:.1}x the floor)",
        p50 / floor
    );
}

fn outbox_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("outbox/new"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn main() {
    let n = env_num("BENCH_PIPE_MESSAGES", 200).max(2);
    let reqs = env_num("BENCH_REQS", 10_000).max(1);
    println!("binary: {}", bin().display());
    let mails: Vec<Vec<u8>> = (0..n).map(message).collect();

    // The floor, then the pipe, alternating with the floor so that both
    // see the same machine.
    let dir = tempfile::tempdir().unwrap();
    let cfg = desk(dir.path());
    // The store exists, with one requirement, as on a running system.
    timed(&cfg, &["ingest", "-"], Some(&message(n + 1)));
    let (mut floor, mut new, mut dup) = (vec![], vec![], vec![]);
    for m in &mails {
        floor.push(timed(&cfg, &["--version"], None));
        new.push(timed(&cfg, &["ingest", "-"], Some(m)));
    }
    assert_eq!(outbox_count(dir.path()), 2 * (n + 1), "two replies each");
    for m in &mails {
        dup.push(timed(&cfg, &["ingest", "-"], Some(m)));
    }
    assert_eq!(
        outbox_count(dir.path()),
        2 * (n + 1),
        "no reply to a duplicate"
    );
    let (floor_p50, _) = spread(floor.clone());
    println!("{n} messages, one process each");
    line("floor: crossdesk --version", floor, floor_p50);
    line(
        "ingest - : a new requirement, two replies written",
        new,
        floor_p50,
    );
    line(
        "ingest - : the same message again (a duplicate)",
        dup,
        floor_p50,
    );

    // With a daemon running beside (`crossdesk run`, as a pipe deployment
    // runs it for the clock): each process commits its message and wakes
    // the daemon, which writes the replies. Timed: the process, and from
    // its start until both replies are in the outbox.
    let beside = tempfile::tempdir().unwrap();
    let cfgd = desk(beside.path());
    for d in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(beside.path().join("inbox").join(d)).unwrap();
    }
    let mut daemon = Command::new(bin())
        .arg("--config")
        .arg(&cfgd)
        .arg("run")
        .env("CROSSDESK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let sock = beside.path().join("crossdesk.db.wake");
    let t = Instant::now();
    // (an older build's daemon runs without it: the section is skipped)
    while !sock.exists() && t.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if sock.exists() {
        let (mut alone_reply, mut woke, mut woke_reply) = (vec![], vec![], vec![]);
        for (i, m) in mails.iter().enumerate() {
            let t = Instant::now();
            woke.push(timed(&cfgd, &["ingest", "-"], Some(m)));
            while outbox_count(beside.path()) < 2 * (i + 1) {
                assert!(t.elapsed().as_secs() < 30, "no reply from the daemon");
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            woke_reply.push(t.elapsed().as_secs_f64() * 1000.0);
            // The same without a daemon: the replies are written when the
            // process exits (message n + 2 + i, new in `dir`'s store).
            let t = Instant::now();
            timed(&cfg, &["ingest", "-"], Some(&message(n + 2 + i)));
            alone_reply.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        assert_eq!(outbox_count(beside.path()), 2 * n, "two replies each");
        println!("with a daemon running beside, woken to send");
        line(
            "ingest - beside a daemon: a new requirement (it replies)",
            woke,
            floor_p50,
        );
        line(
            "  start -> both replies written, daemon beside",
            woke_reply,
            floor_p50,
        );
        line(
            "  start -> both replies written, no daemon",
            alone_reply,
            floor_p50,
        );
    } else {
        println!("(this build's daemon does not listen for wake-ups: no figures beside it)");
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    // Context: the same messages through one process.
    let one = tempfile::tempdir().unwrap();
    let cfg1 = desk(one.path());
    let files: Vec<String> = mails
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = one.path().join(format!("{i}.eml"));
            std::fs::write(&p, m).unwrap();
            p.display().to_string()
        })
        .collect();
    let mut args = vec!["ingest"];
    args.extend(files.iter().map(String::as_str));
    let total = timed(&cfg1, &args, None);
    assert_eq!(outbox_count(one.path()), 2 * n);
    println!(
        "{:<58} {:>7.2} ms a message ({n} in {total:.0} ms)",
        "context: the same through one `ingest FILE…` process",
        total / n as f64
    );

    // Look-ups on a large store.
    let big = tempfile::tempdir().unwrap();
    let cfgb = desk(big.path());
    let files: Vec<String> = (0..reqs)
        .map(|i| {
            let p = big.path().join(format!("{i}.eml"));
            std::fs::write(&p, message(i)).unwrap();
            p.display().to_string()
        })
        .collect();
    for chunk in files.chunks(2000) {
        let mut args = vec!["ingest"];
        args.extend(chunk.iter().map(String::as_str));
        timed(&cfgb, &args, None);
    }
    let show = format!("REQ-{}", reqs / 2);
    let runs = 30;
    let (mut fl, mut st, mut none, mut half, mut sh) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        fl.push(timed(&cfgb, &["--version"], None));
        st.push(timed(&cfgb, &["status"], None));
        none.push(timed(
            &cfgb,
            &["list", "--dept", "ops", "--state", "confirmed"],
            None,
        ));
        half.push(timed(
            &cfgb,
            &["list", "--dept", "ops", "--state", "proposed"],
            None,
        ));
        sh.push(timed(&cfgb, &["show", &show], None));
    }
    let (fl_p50, _) = spread(fl.clone());
    println!("a store of {reqs} requirements, {runs} runs each");
    line("floor: crossdesk --version", fl, fl_p50);
    line("status", st, fl_p50);
    line("list --dept ops --state confirmed (no rows)", none, fl_p50);
    let rows = format!(
        "list --dept ops --state proposed ({} rows)",
        reqs.div_ceil(2)
    );
    line(&rows, half, fl_p50);
    line(&format!("show {show}"), sh, fl_p50);
}
