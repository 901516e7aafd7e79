//! Benchmarks on real mail servers (tests/mailserver/lab.sh: Dovecot and
//! Postfix on 127.0.0.1). Prints figures with the same run's baselines;
//! asserts nothing about speed. Needs root (Postfix).
//!
//!   cargo bench --bench mail
//!   BENCH_IMAP_ONLY=1 cargo bench --bench mail   (the IMAP ingest only)
//!   BENCH_LATENCY_ONLY=1 …                     (the latencies only)
//!   BENCH_BATCH=100 …                          (`[store] batch`; default 500)
//!   BENCH_RUNS=3 …                             (IMAP ingest runs; default 5)
//!   BENCH_FORMATS=maildir …                    (the IMAP ingest on Maildir only)
//!   BENCH_TIMELINE=1 …     (the IMAP loop's debug lines to stderr: fetched,
//!                           acted and committed, moved; counts and ms)
//!   PERF_CTL=FIFO[,ACK] …  (writes enable/disable to a `perf record
//!                           --control fifo:FIFO[,ACK] -D -1` around each
//!                           ingest, from the first FETCH to the last move)
//!
//! 1. IMAP ingest of a 2,000-message backlog: from the first FETCH to the
//!    last message moved, against a raw `UID FETCH 1:* BODY.PEEK[]`, raw
//!    `UID MOVE`s, and the ingest's own FETCH and MOVE commands replayed
//!    without crossdesk (the server's share). Twice: with the workflow
//!    mailbox in Maildir (the lab's default), then in mdbox, where Dovecot
//!    moves a message without a file operation of its own.
//! 2. End-to-end latency, SMTP submit → the daemon's reply in the sender's
//!    Maildir, p50/p99 over 200 mails, against plain Postfix → Dovecot
//!    delivery of one mail; then the same with Postfix piping each mail
//!    to `crossdesk ingest -` (no daemon, no IMAP).
//! 3. Outbox drain rate to Postfix, against a plain lettre loop of the same
//!    mails on one connection.

#[path = "../tests/lab/mod.rs"]
mod lab;

use chrono::Utc;
use crossdesk::config::Config;
use crossdesk::engine::Engine;
use lab::{mail, Lab};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn maildir_count(dir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|s| {
            std::fs::read_dir(dir.join(s))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum()
}

/// Waits until no mailbox of the lab has changed for two seconds.
fn wait_quiet(lab: &Lab) {
    let total = || -> usize {
        std::fs::read_dir(lab.dir.join("mail"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| maildir_count(&e.path().join("Maildir")))
                    .sum()
            })
            .unwrap_or(0)
    };
    let t = Instant::now();
    let mut last = total();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(2) && t.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(200));
        let now = total();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

fn user_maildir(lab: &Lab, user: &str) -> std::path::PathBuf {
    lab.dir.join("mail").join(user).join("Maildir")
}

fn wait_count(dir: &Path, n: usize, limit: Duration) {
    let t = Instant::now();
    while maildir_count(dir) < n {
        assert!(
            t.elapsed() < limit,
            "{}: {} of {n} after {limit:?}",
            dir.display(),
            maildir_count(dir)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Submits many mails over one SMTP connection.
fn submit_many(port: u16, mails: &[(String, Vec<u8>)], rcpt: &str) {
    use std::io::{BufRead, BufReader, Write};
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Without it each DATA's last segment waits for a delayed ACK (~40 ms).
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut line = String::new();
    let mut read = |r: &mut BufReader<std::net::TcpStream>| loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            assert!(
                line.starts_with('2') || line.starts_with('3'),
                "smtp: {line}"
            );
            break;
        }
    };
    read(&mut r);
    w.write_all(b"EHLO bench\r\n").unwrap();
    read(&mut r);
    for (from, raw) in mails {
        write!(w, "MAIL FROM:<{from}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n").unwrap();
        read(&mut r);
        read(&mut r);
        read(&mut r);
        w.write_all(raw).unwrap();
        w.write_all(b".\r\n").unwrap();
        read(&mut r);
    }
    let _ = w.write_all(b"QUIT\r\n");
}

fn raw_fetch_all(lab: &Lab, user: &str) -> (usize, Duration) {
    lab::block_on(async {
        use futures::TryStreamExt;
        let mut s = lab::imap_login(lab.imap_port, user, &lab.password)
            .await
            .unwrap();
        s.examine("INBOX").await.unwrap();
        let t = Instant::now();
        let msgs: Vec<_> = s
            .uid_fetch("1:*", "BODY.PEEK[]")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let d = t.elapsed();
        let _ = s.logout().await;
        (msgs.len(), d)
    })
}

/// Moves every message of `user`'s `from` folder to `to` with plain
/// `UID MOVE` commands of `chunk` UIDs each, as fast as one connection can:
/// what the server's side of moving a backlog costs by itself.
fn raw_move_all(lab: &Lab, user: &str, from: &str, to: &str, chunk: usize) -> (usize, Duration) {
    lab::block_on(async {
        let mut s = lab::imap_login(lab.imap_port, user, &lab.password)
            .await
            .unwrap();
        s.select(from).await.unwrap();
        let mut uids: Vec<u32> = s.uid_search("ALL").await.unwrap().into_iter().collect();
        uids.sort_unstable();
        let t = Instant::now();
        for c in uids.chunks(chunk) {
            let set = c
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(",");
            s.uid_mv(&set, to).await.unwrap();
        }
        let d = t.elapsed();
        let _ = s.logout().await;
        (uids.len(), d)
    })
}

/// One replay of the ingest's commands, from its first FETCH to its last move.
struct Replay {
    time: Duration,
    /// CPU seconds of this bench's cgroup (the mail servers and the client).
    group_cpu: Option<f64>,
    /// CPU seconds of this process: the replaying client.
    client_cpu: f64,
}

/// The IMAP commands of crossdesk's backlog ingest without the engine: the
/// same chunks (`chunk_counts`), each fetched on one connection as
/// crossdesk asks for it, and moved on a second one once the next chunk
/// is fetched (as a committed batch is). Everything is first moved back
/// from Processed to the inbox and selected there (outside the timing).
fn replay_commands(lab: &Lab, user: &str, n: usize, batch: usize) -> Replay {
    let (back, _) = raw_move_all(lab, user, "Processed", "INBOX", 500);
    assert_eq!(back, n);
    lab::block_on(async {
        use futures::TryStreamExt;
        let mut a = lab::imap_login(lab.imap_port, user, &lab.password)
            .await
            .unwrap();
        let mut b = lab::imap_login(lab.imap_port, user, &lab.password)
            .await
            .unwrap();
        a.select("INBOX").await.unwrap();
        b.select("INBOX").await.unwrap();
        let mut uids: Vec<u32> = a.uid_search("ALL").await.unwrap().into_iter().collect();
        uids.sort_unstable();
        let set = |c: &[u32]| {
            c.iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut chunks = vec![];
        let mut rest = &uids[..];
        for c in crossdesk::ingest::imap::chunk_counts(uids.len(), batch) {
            let (these, after) = rest.split_at(c);
            chunks.push(set(these));
            rest = after;
        }
        let cpu0 = group_cpu();
        let own0 = process_cpu();
        let t = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let fetch = async {
            let mut fetched = 0;
            for c in &chunks {
                let got: Vec<_> = a
                    .uid_fetch(c, "(UID INTERNALDATE BODY.PEEK[])")
                    .await
                    .unwrap()
                    .try_collect()
                    .await
                    .unwrap();
                fetched += got.len();
                tx.send(c.clone()).unwrap();
            }
            drop(tx);
            fetched
        };
        let moves = async {
            let mut last = None;
            while let Some(c) = rx.recv().await {
                if let Some(prev) = last.replace(c) {
                    b.uid_mv(&prev, "Processed").await.unwrap();
                }
            }
            if let Some(prev) = last {
                b.uid_mv(&prev, "Processed").await.unwrap();
            }
        };
        let (fetched, ()) = tokio::join!(fetch, moves);
        let d = t.elapsed();
        let cpu = group_cpu().zip(cpu0).map(|(b, a)| b - a);
        let own = process_cpu() - own0;
        assert_eq!(fetched, n);
        let _ = a.logout().await;
        let _ = b.logout().await;
        Replay {
            time: d,
            group_cpu: cpu,
            client_cpu: own,
        }
    })
}

/// Half new requirements, half confirmations that find their requirement
/// through In-Reply-To only (Postfix delivers in parallel, so UID order is
/// not submission order: the confirmations are submitted after every
/// requirement was delivered).
/// (envelope sender, raw message)
type Mails = Vec<(String, Vec<u8>)>;

fn stories(lab: &Lab, n: usize, tag: &str) -> (Mails, Mails) {
    let wf = lab.addr("workflow");
    let (z, zs) = (lab.addr("zhaoliu"), lab.addr("zhangsan"));
    let mut reqs = vec![];
    let mut confirms = vec![];
    for i in 0..n / 2 {
        let mid = format!("{tag}.{i}.req@bench");
        let body = "部门：研发\n截止日期：2030-06-15\n\n请导出。";
        reqs.push((
            z.clone(),
            mail(
                &z,
                &[&wf],
                &format!("【需求】导出客户数据 第{i}批"),
                &mid,
                None,
                body,
            ),
        ));
        let subj = format!("【确认】回复：导出客户数据 第{i}批");
        confirms.push((
            zs.clone(),
            mail(
                &zs,
                &[&wf],
                &subj,
                &format!("{tag}.{i}.ok@bench"),
                Some(&mid),
                "可以。",
            ),
        ));
    }
    (reqs, confirms)
}

fn engine_for(cfg: &Path) -> Engine {
    Engine::new(Config::load(cfg).unwrap()).unwrap()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// One IMAP ingest of the workflow inbox by `run --once`'s loop.
struct ImapRun {
    /// From "backlog" (ordered, next: the first FETCH of bodies) to the end
    /// of the last move: the ingest measured "from the first FETCH".
    from_fetch: Duration,
    /// From "imap ready" (next: UID SORT) to the end of the last move.
    from_ready: Duration,
    /// The same with connecting, LOGIN and SELECT.
    total: Duration,
    /// CPU seconds meanwhile: (machine busy, this process).
    cpu: (f64, f64),
    /// CPU seconds of this bench's cgroup (crossdesk and the lab's servers)
    /// from the first FETCH to the last move, where the kernel tells.
    group_cpu: Option<f64>,
    /// CPU seconds of this process (crossdesk's threads; the bench's own
    /// wait meanwhile) from the first FETCH to the last move.
    own_cpu: f64,
    engine: Arc<Mutex<Engine>>,
}

fn imap_ingest(cfg: &Config) -> ImapRun {
    let mut engine = Engine::new(cfg.clone()).unwrap();
    // As `crossdesk run` does: each message read and acted on is noted.
    engine.keep_crash_guard().unwrap();
    let engine = Arc::new(Mutex::new(engine));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_tx, rx) = crossdesk::shutdown::channel();
    *READY.lock().unwrap() = None;
    *FOUND.lock().unwrap() = None;
    *FOUND_CPU.lock().unwrap() = None;
    *FOUND_OWN.lock().unwrap() = None;
    let cpu0 = cpu_now();
    let t = Instant::now();
    rt.block_on(crossdesk::ingest::imap::run(
        cfg.clone(),
        cfg.imap.clone().unwrap(),
        crossdesk::ingest::Wiring {
            engine: engine.clone(),
            kick: Arc::new(tokio::sync::Notify::new()),
            stop: rx,
            watermark: None,
            once: true,
        },
    ))
    .unwrap();
    let total = t.elapsed();
    let end = Instant::now();
    perf_ctl("disable\n");
    let cpu = cpu_now();
    let group_end = group_cpu();
    let own_end = process_cpu();
    let since = |mark: &std::sync::Mutex<Option<Instant>>, what: &str| {
        mark.lock()
            .unwrap()
            .map(|r| end - r)
            .unwrap_or_else(|| panic!("the IMAP loop logs \"{what}\""))
    };
    let from_ready = since(&READY, "imap ready");
    let from_fetch = since(&FOUND, "backlog");
    ImapRun {
        from_fetch,
        from_ready,
        total,
        cpu: (cpu.0 - cpu0.0, cpu.1 - cpu0.1),
        group_cpu: group_end
            .zip(*FOUND_CPU.lock().unwrap())
            .map(|(b, a)| b - a),
        own_cpu: own_end - FOUND_OWN.lock().unwrap().expect("the \"backlog\" mark"),
        engine,
    }
}

/// When the daemon's IMAP loop said "imap ready" (logged in, folder
/// selected; next comes the UID SORT that orders the backlog), as the
/// bench saw it.
static READY: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
/// When it said "backlog" (the backlog ordered; next: the first FETCH).
static FOUND: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

/// This bench's cgroup CPU seconds at the "backlog" mark.
static FOUND_CPU: std::sync::Mutex<Option<f64>> = std::sync::Mutex::new(None);
/// This process's CPU seconds at the "backlog" mark.
static FOUND_OWN: std::sync::Mutex<Option<f64>> = std::sync::Mutex::new(None);

/// A log writer that notes when "imap ready" and "backlog" are logged and
/// drops the lines (or, for the timeline, prints the IMAP loop's).
struct ReadyMark {
    timeline: bool,
}

impl std::io::Write for ReadyMark {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.windows(10).any(|w| w == b"imap ready") {
            let mut r = READY.lock().unwrap();
            r.get_or_insert_with(Instant::now);
        }
        if buf.windows(8).any(|w| w == b"backlog ") {
            let mut r = FOUND.lock().unwrap();
            if r.is_none() {
                *r = Some(Instant::now());
                *FOUND_CPU.lock().unwrap() = group_cpu();
                *FOUND_OWN.lock().unwrap() = Some(process_cpu());
                perf_ctl("enable\n");
            }
        }
        if self.timeline && buf.windows(12).any(|w| w == b"source::imap") {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `enable` or `disable` to the `perf record --control` FIFO named
/// by PERF_CTL, if any: perf samples from the first FETCH to the last move.
/// With `PERF_CTL=FIFO,ACK` (`--control fifo:FIFO,ACK`) it waits for perf's
/// acknowledgement, so that nothing after the mark is sampled.
fn perf_ctl(w: &str) {
    if let Ok(p) = std::env::var("PERF_CTL") {
        use std::io::{Read, Write};
        let (ctl, ack) = match p.split_once(',') {
            Some((c, a)) => (c.to_string(), Some(a.to_string())),
            None => (p, None),
        };
        let mut f = std::fs::OpenOptions::new().write(true).open(&ctl).unwrap();
        f.write_all(w.as_bytes()).unwrap();
        if let Some(a) = ack {
            let mut buf = [0u8; 5];
            std::fs::File::open(a)
                .unwrap()
                .read_exact(&mut buf)
                .unwrap();
        }
    }
}

/// The cgroup that accounts this bench's CPU: (its path, whether it is
/// cgroup v1's cpuacct). Children stay in their parent's cgroup, so it
/// holds the bench, crossdesk's threads and the mail servers the lab
/// started; the root cgroup ("/") is the whole machine.
fn cpu_cgroup() -> Option<(String, bool)> {
    let me = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let line = |want: &dyn Fn(&str) -> bool| {
        me.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            want(ctl).then(|| path.to_string())
        })
    };
    line(&|c| c.split(',').any(|c| c == "cpuacct"))
        .map(|p| (p, true))
        .or_else(|| line(&|c| c.is_empty()).map(|p| (p, false)))
}

/// CPU seconds used so far by [`cpu_cgroup`], to the nanosecond where
/// /proc/stat counts 10 ms ticks (v1 `cpuacct.usage`, v2 `cpu.stat`).
fn group_cpu() -> Option<f64> {
    let (path, v1) = cpu_cgroup()?;
    if v1 {
        let p = format!("/sys/fs/cgroup/cpuacct{path}/cpuacct.usage");
        let ns: f64 = std::fs::read_to_string(p).ok()?.trim().parse().ok()?;
        return Some(ns / 1e9);
    }
    let st = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/cpu.stat")).ok()?;
    let us: f64 = st
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))?
        .trim()
        .parse()
        .ok()?;
    Some(us / 1e6)
}

/// CPU seconds this process (all its threads) has used so far, to the
/// nanosecond (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU seconds used so far: (all CPUs busy, this process). The machine's
/// busy time less this process's is what the mail servers (and anything
/// else running) used.
fn cpu_now() -> (f64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let all = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let busy: f64 = all
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .enumerate()
        // user nice system idle iowait irq softirq steal: all but idle, iowait
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v.parse::<f64>().unwrap_or(0.0))
        .sum();
    let me = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = me
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let own: f64 = [11, 12]
        .iter()
        .map(|&i| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        .sum();
    (busy / tick, own / tick)
}

/// Phase 1 on `lab`: the backlog submitted and delivered, the raw FETCH,
/// `runs` ingests, the raw MOVE and the replay; prints the figures.
fn imap_phase(lab: &Lab, cfg_path: &Path, work: &Path, n: usize, batch: usize, runs: usize) {
    let (reqs, confirms) = stories(lab, n, "b");
    let n = reqs.len() + confirms.len();
    let t = Instant::now();
    submit_many(lab.smtp_port, &reqs, &lab.addr("workflow"));
    wait_inbox(lab, "workflow", reqs.len(), Duration::from_secs(120));
    submit_many(lab.smtp_port, &confirms, &lab.addr("workflow"));
    wait_inbox(lab, "workflow", n, Duration::from_secs(120));
    println!(
        "setup     {n} tagged mails submitted and delivered in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let (got, raw_d) = raw_fetch_all(lab, "workflow");
    assert_eq!(got, n);
    let raw_rate = n as f64 / raw_d.as_secs_f64();
    println!(
        "baseline  raw UID FETCH 1:* BODY.PEEK[]          {:>9.0} msg/s ({:.3} s)",
        raw_rate,
        raw_d.as_secs_f64()
    );
    let cfg = Config::load(cfg_path).unwrap();
    // The backlog is ingested several times (this machine's speed drifts by
    // a third over minutes): first as delivered, then moved back to the
    // inbox for a fresh store each time. The first run's store feeds the
    // outbox phase below; the median run is reported.
    let mut all = vec![];
    for i in 0..runs {
        let mut c = cfg.clone();
        if i > 0 {
            let (back, _) = raw_move_all(lab, "workflow", "Processed", "INBOX", 500);
            assert_eq!(back, n);
            c.store.path = work.join(format!("run{i}.db")).display().to_string();
        }
        let r = imap_ingest(&c);
        let processed = lab.fetch("workflow", "Processed").len();
        let msgs = r.engine.lock().unwrap().store().messages().unwrap();
        let applied = msgs
            .iter()
            .filter(|m| m.verdict.starts_with("applied"))
            .count();
        if applied != n || processed != n {
            let mut hist: std::collections::BTreeMap<&str, usize> = Default::default();
            for m in &msgs {
                *hist.entry(m.verdict.as_str()).or_default() += 1;
            }
            println!("          run {i}: {processed} moved; verdicts: {hist:?}");
        }
        drop(msgs);
        all.push(r);
    }
    let rates: Vec<String> = all
        .iter()
        .map(|r| format!("{:.0}", n as f64 / r.from_fetch.as_secs_f64()))
        .collect();
    all.sort_by_key(|r| r.from_fetch);
    let r = &all[all.len() / 2];
    let rate = n as f64 / r.from_fetch.as_secs_f64();
    println!(
        "crossdesk IMAP ingest: fetch+act+commit+UID MOVE {:>9.0} msg/s ({:.3} s from the first FETCH to the last move) = {:.2}x of raw fetch; median of {runs} runs: {}",
        rate,
        r.from_fetch.as_secs_f64(),
        rate / raw_rate,
        rates.join(", ")
    );
    println!(
        "          with ordering the backlog (UID SORT) {:>5.0} msg/s ({:.3} s from the first command after SELECT)",
        n as f64 / r.from_ready.as_secs_f64(),
        r.from_ready.as_secs_f64()
    );
    println!(
        "          with connecting, LOGIN and SELECT {:>6.0} msg/s ({:.3} s; the first run's SELECT also has Dovecot number the new backlog)",
        n as f64 / r.total.as_secs_f64(),
        r.total.as_secs_f64()
    );
    let (busy, own) = r.cpu;
    println!(
        "          CPU in that time: {:.2} s of {:.2} s (2 cores); crossdesk {:.2} s, the rest (Dovecot, kernel) {:.2} s",
        busy,
        2.0 * r.total.as_secs_f64(),
        own,
        busy - own
    );
    // What the ingest costs in CPU, crossdesk and mail servers together:
    // on two busy cores, time follows it (and this machine's speed drifts).
    let per_msg = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let runs: Vec<String> = v
            .iter()
            .map(|c| format!("{:.0}", c * 1e6 / n as f64))
            .collect();
        (v[v.len() / 2] * 1e6 / n as f64, runs.join(", "))
    };
    let (own_med, own_runs) = per_msg(&mut all.iter().map(|r| r.own_cpu).collect());
    let whole = cpu_cgroup().is_none_or(|(p, _)| p == "/");
    let group: Vec<(f64, f64)> = all
        .iter()
        .filter_map(|r| r.group_cpu.map(|g| (g, g - r.own_cpu)))
        .collect();
    if group.len() == all.len() {
        let (med, runs) = per_msg(&mut group.iter().map(|g| g.0).collect());
        let (rest_med, rest_runs) = per_msg(&mut group.iter().map(|g| g.1).collect());
        println!(
            "          CPU per message from the first FETCH to the last move ({}), medians of {runs_n} runs (each its own median): all {med:.0} µs, crossdesk {own_med:.0} µs, {} {rest_med:.0} µs; runs sorted: all {runs}; crossdesk {own_runs}; {} {rest_runs}",
            if whole {
                "the root cgroup: the whole machine"
            } else {
                "this bench's cgroup: crossdesk and the mail servers"
            },
            if whole { "the rest of the machine" } else { "the mail servers" },
            if whole { "rest" } else { "servers" },
            runs_n = all.len(),
        );
    } else {
        println!(
            "          crossdesk's CPU per message from the first FETCH to the last move: median {own_med:.0} µs; runs {own_runs}"
        );
    }
    drop(all);
    // The server's own cost of moving that many messages, 500 per command
    // (moved back to the inbox, then again to Processed, to leave it as it was).
    let (moved, mv_d) = raw_move_all(lab, "workflow", "Processed", "INBOX", 500);
    let _ = raw_move_all(lab, "workflow", "INBOX", "Processed", 500);
    assert_eq!(moved, n);
    println!(
        "baseline  raw UID MOVE, 500 UIDs per command     {:>9.0} msg/s ({:.3} s); raw FETCH + raw MOVE one after the other {:>6.0} msg/s",
        n as f64 / mv_d.as_secs_f64(),
        mv_d.as_secs_f64(),
        n as f64 / (mv_d + raw_d).as_secs_f64()
    );
    // Every message is moved once acted on, so the server's moving speed
    // bounds the ingest: how close to it crossdesk comes.
    println!(
        "          crossdesk IMAP ingest = {:.2}x of raw UID MOVE",
        rate * mv_d.as_secs_f64() / n as f64
    );
    // The server's share of the ingest: its FETCH and MOVE commands in the
    // same chunks and order, with no engine between them.
    let mut replays: Vec<Replay> = (0..3)
        .map(|_| replay_commands(lab, "workflow", n, batch))
        .collect();
    replays.sort_by_key(|r| r.time);
    let median = &replays[replays.len() / 2];
    let rd = median.time;
    println!(
        "baseline  the ingest's FETCH and MOVE commands replayed without crossdesk {:>6.0} msg/s ({:.3} s{}; median of {})",
        n as f64 / rd.as_secs_f64(),
        rd.as_secs_f64(),
        median
            .group_cpu
            .map(|c| format!(
                ", CPU {:.0} µs per message = the replaying client {:.0} µs + {} {:.0} µs",
                c * 1e6 / n as f64,
                median.client_cpu * 1e6 / n as f64,
                if whole { "the rest of the machine" } else { "the mail servers" },
                (c - median.client_cpu) * 1e6 / n as f64
            ))
            .unwrap_or_default(),
        replays.len()
    );
    println!(
        "          crossdesk IMAP ingest = {:.2}x of the replay",
        rate * rd.as_secs_f64() / n as f64
    );
}

/// The IMAP ingest's config for `lab`: replies go to a Maildir ("outbox"
/// in `dir`) so that only the IMAP side is timed.
fn bench_config(lab: &Lab, dir: &Path, batch: usize) -> std::path::PathBuf {
    let batch_line = format!("batch = {batch}");
    let cfg_path = lab::config_with(
        lab,
        dir,
        &[("store", &batch_line)],
        "[limits]\ndaily_cap_per_recipient = 100000000",
    );
    let text = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("transport = \"smtp\"", "transport = \"maildir:outbox\"");
    std::fs::write(&cfg_path, text).unwrap();
    cfg_path
}

/// How many messages `user`'s inbox holds: its Maildir's files, or where
/// the mailbox is not a Maildir (mdbox), what IMAP STATUS says.
fn inbox_count(lab: &Lab, user: &str) -> usize {
    let dir = user_maildir(lab, user);
    if dir.exists() {
        return maildir_count(&dir);
    }
    lab::block_on(async {
        let mut s = lab::imap_login(lab.imap_port, user, &lab.password)
            .await
            .unwrap();
        let m = s.status("INBOX", "(MESSAGES)").await.unwrap();
        let _ = s.logout().await;
        m.exists as usize
    })
}

fn wait_inbox(lab: &Lab, user: &str, n: usize, limit: Duration) {
    let dir = user_maildir(lab, user);
    if dir.exists() {
        return wait_count(&dir, n, limit);
    }
    let t = Instant::now();
    loop {
        let got = inbox_count(lab, user);
        if got >= n {
            return;
        }
        assert!(t.elapsed() < limit, "{user}: {got} of {n} after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `rounds` new requirements from lina to `to` (a lab user), one at a
/// time: each one's ms from SMTP submit to its reply in lina's Maildir (a
/// refusal-free action whose answer goes to the sender: the
/// acknowledgement, beside the group's notice).
fn probe_latency(lab: &Lab, to: &str, tag: &str, rounds: usize) -> Vec<f64> {
    let zl = user_maildir(lab, "lina");
    let mut lat = vec![];
    for i in 0..rounds {
        let before = maildir_count(&zl);
        let raw = mail(
            &lab.addr("lina"),
            &[&lab.addr(to)],
            &format!("[REQ] {tag} latency probe {i}"),
            &format!("{tag}.{i}@bench"),
            None,
            "Dept: ops\n\nprobe",
        );
        let t = Instant::now();
        lab::submit(lab.smtp_port, &lab.addr("lina"), &[&lab.addr(to)], &raw).unwrap();
        wait_count(&zl, before + 1, Duration::from_secs(30));
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat
}

fn main() {
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let t = Instant::now();
    // Mail for crossdesk@corp.test goes through Postfix's pipe transport
    // to `crossdesk ingest -` (the pipe-mode latency, phase 2).
    let (pipe_desk, pipe_cmd) = lab::pipe_desk();
    let lab = Lab::start_with(
        "corp.test",
        &[("LAB_PIPE_TO", "crossdesk"), ("LAB_PIPE_CMD", &pipe_cmd)],
    );
    println!(
        "mail benchmarks on Dovecot + Postfix at 127.0.0.1 (lab up in {:.2} s), 2 cores",
        t.elapsed().as_secs_f64()
    );
    let work = tempfile::tempdir().unwrap();
    let batch: usize = std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let cfg_path = bench_config(&lab, work.path(), batch);
    // BENCH_TIMELINE=1 prints the IMAP loop's debug timeline (fetched,
    // acted and committed, moved: counts and milliseconds) to stderr.
    let timeline = std::env::var_os("BENCH_TIMELINE").is_some();
    // Global, so that the acting and moving threads log as in the daemon
    // (a line per message is formatted, then dropped by the writer).
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(if timeline {
                "info,crossdesk::source::imap=debug"
            } else {
                "info"
            })
            .with_writer(move || ReadyMark { timeline })
            .finish(),
    )
    .unwrap();
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);

    // ---- 1. IMAP ingest of a backlog ------------------------------------
    // On the lab's Maildir (every user's mailbox, and what the later phases
    // use), then on mdbox: Dovecot's own format, in which a UID MOVE does
    // not link, rename and unlink a file per message (BENCH_FORMATS=maildir
    // leaves it out).
    // BENCH_LATENCY_ONLY=1: phase 2 alone.
    let latency_only = std::env::var_os("BENCH_LATENCY_ONLY").is_some();
    if !latency_only {
        println!("IMAP ingest, the workflow mailbox in Maildir (the lab's default):");
        imap_phase(&lab, &cfg_path, work.path(), n, batch, runs);
        if std::env::var("BENCH_FORMATS").as_deref() != Ok("maildir") {
            let t = Instant::now();
            let mdbox = Lab::start_with("corp.test", &[("LAB_MDBOX_USERS", "workflow")]);
            let work2 = tempfile::tempdir().unwrap();
            let cfg2 = bench_config(&mdbox, work2.path(), batch);
            println!(
                "IMAP ingest, the workflow mailbox in mdbox (a second lab, up in {:.2} s):",
                t.elapsed().as_secs_f64()
            );
            imap_phase(&mdbox, &cfg2, work2.path(), n, batch, runs);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    if std::env::var_os("BENCH_IMAP_ONLY").is_some() {
        return;
    }

    // From here on the daemon sends over SMTP.
    let smtp_cfg_text = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("transport = \"maildir:outbox\"", "transport = \"smtp\"");
    std::fs::write(&cfg_path, &smtp_cfg_text).unwrap();

    // ---- 3. Outbox drain to Postfix --------------------------------------
    // The replies of phase 1 are queued; render them once for the baseline.
    if !latency_only {
        let mut eng = engine_for(&cfg_path);
        let prepared = eng.prepare_due(Utc::now(), 1_000_000).unwrap();
        let queued = prepared.len();
        let half = queued / 2;
        // Baseline: a plain lettre send loop on one connection (lettre's SMTP
        // client on a socket with TCP_NODELAY), the first half of the mails.
        let from_addr: lettre::Address = lab.addr("workflow").parse().unwrap();
        let envs: Vec<lettre::address::Envelope> = prepared
            .iter()
            .map(|p| {
                lettre::address::Envelope::new(
                    Some(from_addr.clone()),
                    p.rcpts.iter().map(|r| r.parse().unwrap()).collect(),
                )
                .unwrap()
            })
            .collect();
        // Both start with Postfix idle: nothing of the earlier phases is still
        // being delivered.
        wait_quiet(&lab);
        let base_d = rt.block_on(async {
            use lettre::transport::smtp::client::AsyncSmtpConnection;
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", lab.smtp_port))
                .await
                .unwrap();
            tcp.set_nodelay(true).unwrap();
            let mut c =
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &Default::default())
                    .await
                    .unwrap();
            let t = Instant::now();
            for (p, env) in prepared[..half].iter().zip(&envs) {
                c.send(env, p.bytes.as_ref().unwrap()).await.unwrap();
            }
            t.elapsed()
        });
        let base_rate = half as f64 / base_d.as_secs_f64();
        println!("baseline  lettre send loop, one connection          {:>9.0} mail/s ({half} mails, {:.3} s)", base_rate, base_d.as_secs_f64());
        // For context: lettre's stock SmtpTransport (no TCP_NODELAY), 50 mails.
        let t = Instant::now();
        {
            use lettre::{SmtpTransport, Transport};
            let tr = SmtpTransport::builder_dangerous("127.0.0.1")
                .port(lab.smtp_port)
                .build();
            for (p, env) in prepared[half..half + 50].iter().zip(&envs[half..]) {
                tr.send_raw(env, p.bytes.as_ref().unwrap()).unwrap();
            }
        }
        println!(
            "context   lettre's stock SmtpTransport (Nagle + delayed ACK)  {:>5.0} mail/s (50 mails)",
            50.0 / t.elapsed().as_secs_f64()
        );
        // crossdesk: the whole outbox through the daemon's drain (render + send + record),
        // once the baseline's mails are delivered.
        drop(eng);
        wait_quiet(&lab);
        let eng = engine_for(&cfg_path);
        let t = Instant::now();
        let (_eng, stats) = crossdesk::daemon::drain_now(eng).unwrap();
        let d = t.elapsed();
        let rate = stats.sent as f64 / d.as_secs_f64();
        println!(
            "crossdesk outbox drain: render+send+record          {:>9.0} mail/s ({} mails, {:.3} s) = {:.2}x of lettre loop",
            rate,
            stats.sent,
            d.as_secs_f64(),
            rate / base_rate
        );
    }

    // ---- 2. End-to-end latency --------------------------------------------
    // Let Postfix finish delivering the drained backlog first: a probe must
    // not queue behind thousands of group deliveries.
    wait_quiet(&lab);
    // Baseline: one plain mail Postfix → Dovecot, 50 times.
    let carol = user_maildir(&lab, "carol");
    let mut base = vec![];
    for i in 0..50 {
        let before = maildir_count(&carol);
        let raw = mail(
            &lab.addr("lina"),
            &[&lab.addr("carol")],
            "hello",
            &format!("lat.base.{i}@bench"),
            None,
            "hi",
        );
        let t = Instant::now();
        lab::submit(
            lab.smtp_port,
            &lab.addr("lina"),
            &[&lab.addr("carol")],
            &raw,
        )
        .unwrap();
        wait_count(&carol, before + 1, Duration::from_secs(10));
        base.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let base_p50 = pct(&mut base, 0.5);
    println!(
        "baseline  SMTP submit → recipient's Maildir        p50 {:>7.1} ms  p99 {:>7.1} ms",
        base_p50,
        pct(&mut base, 0.99)
    );
    // The daemon, IMAP IDLE in and SMTP out, as a separate process.
    let log = work.path().join("daemon.log");
    let daemon = lab::Daemon::start(&cfg_path, &log);
    std::thread::sleep(Duration::from_secs(2));
    let rounds: usize = std::env::var("BENCH_LATENCY_MAILS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut lat = probe_latency(&lab, "workflow", "lat", rounds);
    let p50 = pct(&mut lat, 0.5);
    let p99 = pct(&mut lat, 0.99);
    println!(
        "crossdesk SMTP submit → reply in sender's Maildir  p50 {:>7.1} ms  p99 {:>7.1} ms  ({rounds} mails)",
        p50, p99
    );
    println!(
        "          = delivery ({base_p50:.1} ms) + Dovecot IDLE push (500 ms fixed) + {:.1} ms",
        p50 - base_p50 - 500.0
    );
    let st = daemon.stop();
    assert!(st.success());

    // The same through Postfix's pipe: one `crossdesk ingest -` process a
    // mail (as the mail user), its replies over SMTP.
    let cfg = lab::pipe_config(&lab, pipe_desk.path());
    // Every probe's reply goes to lina: no daily cap in the way (the pipe
    // and the daemon-beside phases share this store).
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[limits]\ndaily_cap_per_recipient = 100000000\n");
    std::fs::write(&cfg, text).unwrap();
    wait_quiet(&lab);
    let mut lat = probe_latency(&lab, "crossdesk", "pipe", rounds);
    let p50 = pct(&mut lat, 0.5);
    println!(
        "crossdesk pipe: SMTP submit → Postfix pipe → ingest - → reply in sender's Maildir  p50 {:>7.1} ms  p99 {:>7.1} ms  ({rounds} mails)",
        p50,
        pct(&mut lat, 0.99)
    );
    println!(
        "          = two deliveries ({:.1} ms) + {:.1} ms",
        2.0 * base_p50,
        p50 - 2.0 * base_p50
    );

    // The same with `crossdesk run` beside the pipe (as the mail user, its
    // source an empty Maildir, as a pipe deployment runs it for the
    // clock): each process commits and wakes it to send.
    let cfg = pipe_desk.path().join("crossdesk.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("source = \"imap\"", "source = \"maildir:inbox\"");
    std::fs::write(&cfg, text).unwrap();
    let (uid, gid) = lab::mail_user();
    for d in ["", "new", "cur", "tmp"] {
        let p = pipe_desk.path().join("inbox").join(d);
        std::fs::create_dir_all(&p).unwrap();
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
    }
    let mut beside = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(pipe_desk.path().join("crossdesk"))
            .arg("--config")
            .arg(&cfg)
            .arg("run")
            .env(
                "CROSSDESK_LOG",
                std::env::var("BENCH_DAEMON_LOG").unwrap_or("warn".into()),
            )
            .uid(uid)
            .gid(gid)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let sock = pipe_desk.path().join("crossdesk.db.wake");
    let t = Instant::now();
    while !sock.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_quiet(&lab);
    let probed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        probe_latency(&lab, "crossdesk", "woke", rounds)
    }));
    let mut lat = probed.unwrap_or_else(|e| {
        // What the servers and the store say, before the lab goes.
        eprintln!("{}", lab.log_tail("postfix.log", 40));
        let _ = std::process::Command::new("sqlite3")
            .arg(pipe_desk.path().join("crossdesk.db"))
            .arg("SELECT id, kind, status, attempts, next_attempt_at, last_error FROM outbox ORDER BY id DESC LIMIT 5")
            .status();
        let _ = beside.kill();
        std::panic::resume_unwind(e)
    });
    let p50 = pct(&mut lat, 0.5);
    println!(
        "crossdesk pipe, daemon beside woken to send: submit → reply in sender's Maildir  p50 {:>7.1} ms  p99 {:>7.1} ms  ({rounds} mails)",
        p50,
        pct(&mut lat, 0.99)
    );
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(beside.id().to_string())
        .status();
    assert!(beside.wait().unwrap().success());
}
