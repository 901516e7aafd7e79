//! Attachments: how fast `crossdesk run --once` takes in mail that carries
//! files, against the raw write-and-sync rate of the same bytes on the same
//! disk in the same run, and the peak memory of one mail with a large file.
//! Whole processes, timed from outside. Prints figures; asserts nothing
//! about speed.
//!
//!   cargo bench --bench files
//!   BENCH_FILES=200 BENCH_FILE_KB=256 cargo bench --bench files
//!   BENCH_RUNS=5 cargo bench --bench files   (rounds, alternating; default 3)
//!   BENCH_BIG_MB=25 cargo bench --bench files
//!
//! Figures printed, each round in turn:
//! - baseline: each file's bytes written to a file of its own and synced
//!   (`write` + `fsync`), as many files and bytes as the mails carry;
//! - `run --once` over a Maildir backlog of new requirements to one
//!   department, each with one file (parse, keep the file, commit, move,
//!   and send the department's notification with the file attached);
//! - `run --once` over the same mails without their files (what the files
//!   add is the difference).
//!
//! Then one mail with a `BENCH_BIG_MB` file through `run --once`: peak RSS
//! (the kernel's count for the whole process), beside that of a mail with
//! no file.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_crossdesk");

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The deployment's settings: a Maildir source and transport, and the
/// departments of the embedded default (`config/demo.toml`).
fn config() -> String {
    let demo = include_str!("../config/demo.toml");
    let depts = &demo[demo
        .find("[[departments]]")
        .expect("demo.toml has departments")..];
    format!(
        "[mail]\naddress = \"workflow@corp.example\"\nsource = \"maildir:inbox\"\n\
         transport = \"maildir:outbox\"\nwatermark = \"all\"\n\
         [store]\npath = \"crossdesk.db\"\n\
         [limits]\ndaily_cap_per_recipient = 100000000\n{depts}"
    )
}

/// Deterministic, incompressible bytes.
fn blob(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// A new requirement to R&D from a zh-CN Outlook-like client, with one
/// file (GBK-free UTF-8 name in RFC 2231 form), or none.
fn mail(i: usize, file: Option<&[u8]>) -> Vec<u8> {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut m = format!(
        "From: 赵六 <zhaoliu@corp.example>\r\nTo: workflow@corp.example\r\n\
         Cc: rd@corp.example\r\nSubject: =?UTF-8?B?{}?=\r\n\
         Message-ID: <files.{i}@corp.example>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0800\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n\
         --=_b\r\nContent-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(format!("【需求】导出客户数据 第{i}批").as_bytes()),
        b64("截止日期：2027-06-15\n\n详见附件。\n".as_bytes()),
    )
    .into_bytes();
    if let Some(f) = file {
        m.extend_from_slice(
            b"--=_b\r\nContent-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\
              Content-Disposition: attachment; filename*=UTF-8''%E5%AD%97%E6%AE%B5%E8%AF%B4%E6%98%8E.xlsx\r\n\
              Content-Transfer-Encoding: base64\r\n\r\n",
        );
        let data = b64(f);
        for line in data.as_bytes().chunks(76) {
            m.extend_from_slice(line);
            m.extend_from_slice(b"\r\n");
        }
    }
    m.extend_from_slice(b"--=_b--\r\n");
    m
}

/// Where the deployments go (`BENCH_DIR`, else the temporary directory):
/// the disk the figures are about.
fn bench_dir() -> std::path::PathBuf {
    std::env::var_os("BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(std::env::temp_dir)
}

/// A deployment with `mails` waiting in its inbox.
fn deployment(mails: &[Vec<u8>]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("crossdesk-files-bench-")
        .tempdir_in(bench_dir())
        .unwrap();
    std::fs::write(dir.path().join("crossdesk.toml"), config()).unwrap();
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.path().join("inbox").join(sub)).unwrap();
    }
    for (i, m) in mails.iter().enumerate() {
        std::fs::write(dir.path().join(format!("inbox/new/{i:08}.bench.host")), m).unwrap();
    }
    dir
}

/// `crossdesk run --once` in `dir`: wall seconds and peak RSS (KiB).
///
/// The peak is the process's own high-water mark (`VmHWM`), read every
/// millisecond while it runs: the kernel's `ru_maxrss` of a child also
/// counts the moment before `exec`, when it is still a copy of this
/// benchmark holding its mails in memory.
fn run_once(dir: &Path) -> (f64, u64) {
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(dir.join("crossdesk.toml"))
        .args(["run", "--once"])
        .env("CROSSDESK_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start crossdesk");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            let hwm = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let secs = t.elapsed().as_secs_f64();
    assert!(status.success(), "crossdesk run --once failed: {status}");
    (secs, peak)
}

/// The raw rate: each file written to a file of its own and synced.
fn raw_write(files: &[Vec<u8>]) -> f64 {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let t = Instant::now();
    for (i, f) in files.iter().enumerate() {
        let mut out = std::fs::File::create(dir.path().join(format!("{i}"))).unwrap();
        out.write_all(f).unwrap();
        out.sync_all().unwrap();
    }
    t.elapsed().as_secs_f64()
}

fn kept(dir: &Path) -> usize {
    let Ok(top) = std::fs::read_dir(dir.join("crossdesk.db.files")) else {
        return 0;
    };
    top.map(|d| std::fs::read_dir(d.unwrap().path()).map_or(0, |f| f.count()))
        .sum()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n = env_num("BENCH_FILES", 200);
    let size = env_num("BENCH_FILE_KB", 256) * 1024;
    let rounds = env_num("BENCH_RUNS", 3).max(1);
    let files: Vec<Vec<u8>> = (0..n).map(|i| blob(i as u64 + 1, size)).collect();
    let with: Vec<Vec<u8>> = files
        .iter()
        .enumerate()
        .map(|(i, f)| mail(i, Some(f)))
        .collect();
    let without: Vec<Vec<u8>> = (0..n).map(|i| mail(i, None)).collect();
    let mb = (n * size) as f64 / 1e6;
    let mail_mb = with.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    println!(
        "files benchmark: {n} new requirements, each with one {} KiB file ({mb:.1} MB of files, {mail_mb:.1} MB of mail); {rounds} alternating rounds, 2 cores",
        size / 1024
    );
    let (mut raw, mut fil, mut bare) = (vec![], vec![], vec![]);
    for round in 1..=rounds {
        let r = raw_write(&files);
        let d = deployment(&with);
        let (f, _) = run_once(d.path());
        assert_eq!(kept(d.path()), n, "every file kept");
        let d0 = deployment(&without);
        let (b, _) = run_once(d0.path());
        println!(
            "round {round}: raw write+fsync {:>6.0} files/s {:>6.1} MB/s | run --once with files {:>6.0} files/s {:>6.1} MB/s = {:.2}x of raw | without files {:>6.0} msg/s",
            n as f64 / r,
            mb / r,
            n as f64 / f,
            mb / f,
            r / f,
            n as f64 / b
        );
        raw.push(r);
        fil.push(f);
        bare.push(b);
    }
    let (r, f, b) = (median(&mut raw), median(&mut fil), median(&mut bare));
    println!(
        "median: raw write+fsync {:.0} files/s ({:.1} MB/s); run --once with files {:.0} files/s ({:.1} MB/s) = {:.2}x of raw; the same mails without files {:.0} msg/s; a file adds {:.2} ms",
        n as f64 / r,
        mb / r,
        n as f64 / f,
        mb / f,
        r / f,
        n as f64 / b,
        (f - b) / n as f64 * 1e3
    );

    let big = env_num("BENCH_BIG_MB", 25) * 1_000_000;
    let d = deployment(&[mail(0, Some(&blob(7, big)))]);
    let (secs, rss) = run_once(d.path());
    assert_eq!(kept(d.path()), 1, "the large file kept");
    let d0 = deployment(&[mail(0, None)]);
    let (_, rss0) = run_once(d0.path());
    println!(
        "one mail with a {} MB file through run --once: {:.2} s, peak RSS {:.1} MiB (a mail without a file: {:.1} MiB)",
        big / 1_000_000,
        secs,
        rss as f64 / 1024.0,
        rss0 as f64 / 1024.0
    );
}
