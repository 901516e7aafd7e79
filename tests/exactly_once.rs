//! "Each incoming message is acted on exactly once … across crashes and
//! restarts"; "a reply is committed to an outbox in the same transaction and
//! sent at least once" (docs/protocol.md#exactly-once, #at-least-once) —
//! through the real binary.
//!
//! - The same files ingested twice: the second time changes nothing and
//!   sends nothing.
//! - A Maildir backlog (the Chinese story plus 300 generated messages) run
//!   by `run --once`, killed with SIGKILL at random moments several times,
//!   then run to completion, ends exactly where an undisturbed run on a
//!   second directory ends: same verdicts, same events, same states, the
//!   same mails in the outbox (one file each), nothing left in the inbox.

mod common;

use common::*;
use rand::Rng;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

#[test]
fn ingesting_the_same_files_twice_changes_and_sends_nothing_more() {
    let desk = Desk::new();
    let files = fixtures("story_zh");
    let first = desk.ingest(&files);
    assert!(
        first.iter().all(|v| v.verdict.starts_with("applied:")),
        "{first:?}"
    );
    let show1 = desk.show("REQ-1");
    let show2 = desk.show("REQ-2");
    let events = desk.events();
    let messages = desk.messages();
    let outbox = desk.outbox_files();
    let status = desk.outbox_status();

    // The whole story again, in one process.
    let again = desk.ingest(&files);
    assert!(
        again.iter().all(|v| v.verdict == "duplicate"),
        "second delivery: {again:?}"
    );
    // And one step again, alone.
    let one = desk.ingest_one(&files[4]);
    assert_eq!(one.verdict, "duplicate");

    assert_eq!(desk.show("REQ-1"), show1, "REQ-1 untouched");
    assert_eq!(desk.show("REQ-2"), show2, "REQ-2 untouched");
    assert_eq!(desk.events(), events, "no new events");
    assert_eq!(desk.messages(), messages, "no new verdicts");
    assert_eq!(desk.outbox_files(), outbox, "nothing sent twice");
    assert_eq!(desk.outbox_status(), status);

    // The same messages arriving through the Maildir source: recognised,
    // moved out of the inbox, not acted on.
    let inbox = desk.inbox_dir();
    fill_maildir(
        &inbox,
        &files
            .iter()
            .map(|f| std::fs::read(f).unwrap())
            .collect::<Vec<_>>(),
    );
    desk.ok(&["run", "--once"]);
    assert_inbox_empty(&inbox);
    assert_eq!(
        count(&inbox.join(".processed/cur")),
        files.len(),
        "recognised as already done"
    );
    assert_eq!(desk.messages(), messages);
    assert_eq!(desk.events(), events);
    assert_eq!(desk.outbox_files(), outbox);
}

/// Without a Message-ID the key is a hash of the bytes: the same bytes
/// again are still recognised.
#[test]
fn a_message_without_message_id_is_acted_on_once() {
    let desk = Desk::new();
    desk.ingest(&fixtures("story_zh")[..1]);
    let p = desk.path("no_id.eml");
    std::fs::write(
        &p,
        "From: =?utf-8?B?546L56OK?= <wanglei@corp.example>\r\nTo: workflow@corp.example\r\n\
         Subject: [CONFIRM] [REQ-1]\r\nDate: Sat, 21 Nov 2026 09:30:00 +0800\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK\r\n",
    )
    .unwrap();
    let first = desk.ingest_one(&p);
    assert_eq!(first.verdict, "applied:confirm");
    let events = desk.events();
    let files = desk.outbox_files();
    let again = desk.ingest(&[p.clone(), p]);
    assert!(again.iter().all(|v| v.verdict == "duplicate"), "{again:?}");
    assert_eq!(desk.events(), events);
    assert_eq!(desk.outbox_files(), files);
    let key = desk.messages().last().unwrap().0.clone();
    assert!(key.starts_with("sha256:"), "{key}");
    assert_eq!(events.last().unwrap().0, key, "the event names the key");
}

/// Writes messages into `dir/new` with increasing modification times, so
/// the Maildir source takes them in this order.
fn fill_maildir(dir: &Path, mails: &[Vec<u8>]) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    for (i, raw) in mails.iter().enumerate() {
        let p = dir
            .join("new")
            .join(format!("{}.M{i:06}P7.mx", 1_795_000_000 + i));
        std::fs::write(&p, raw).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(base + Duration::from_secs(i as u64))
            .unwrap();
    }
}

fn assert_inbox_empty(dir: &Path) {
    for sub in ["new", "cur"] {
        let left: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left in inbox {sub}/: {left:?}");
    }
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn mail(i: usize, from: &str, subject: &str, reply_to: Option<&str>, body: &str) -> Vec<u8> {
    let irt = reply_to
        .map(|r| format!("In-Reply-To: <{r}>\r\nReferences: <{r}>\r\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: workflow@corp.example\r\nSubject: =?UTF-8?B?{}?=\r\n\
         Message-ID: <volume.{i}@corp.example>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0800\r\n\
         {irt}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(subject.as_bytes()),
        b64(body.as_bytes())
    )
    .into_bytes()
}

/// `n` messages in stories of five (REQ to rd and ops, CONFIRM by each,
/// ASSIGN, ACCEPT), numbered from `first_req`.
fn volume(n: usize, first_req: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    let mut story = 0;
    while v.len() < n {
        let r = first_req + story;
        let base = story * 5;
        let req_mid = format!("volume.{base}@corp.example");
        let msgs = [
            mail(
                base,
                "赵六 <zhaoliu@corp.example>",
                &format!("【需求】导出客户数据 第{r}批"),
                None,
                "部门：研发、ops\n截止日期：2030-06-15\n质量要求：字段齐全，无重复\n\n请导出华东区客户数据。\n",
            ),
            mail(
                base + 1,
                "张三 <zhangsan@corp.example>",
                &format!("【确认】回复：[REQ-{r}] 导出客户数据"),
                Some(&req_mid),
                "可以，本周内排期。\n",
            ),
            mail(
                base + 2,
                "Bob Smith <bob@corp.example>",
                &format!("[CONFIRM] RE: [REQ-{r}] export"),
                Some(&req_mid),
                "Fine from ops.\n",
            ),
            mail(
                base + 3,
                "王磊 <wanglei@corp.example>",
                &format!("【分配】[REQ-{r}]"),
                None,
                "- alice@corp.example: 编写导出脚本; due 2030-06-10\n",
            ),
            mail(
                base + 4,
                "alice@corp.example",
                &format!("[ACCEPT] Re: [REQ-{r}.1] 编写导出脚本"),
                None,
                "OK, on it.\n",
            ),
        ];
        for m in msgs {
            if v.len() < n {
                v.push(m);
            }
        }
        story += 1;
    }
    v
}

fn backlog() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = fixtures("story_zh")
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    v.extend(volume(300, 3));
    v
}

/// One outgoing mail as compared between runs: kind, item, To, Cc,
/// subject, In-Reply-To.
type MailKey = (
    String,
    Option<String>,
    Vec<String>,
    Vec<String>,
    String,
    Vec<String>,
);

/// Everything a run leaves that must not depend on crashes: verdict per
/// message key, events (without times), requirements, the outbox.
#[derive(Debug, PartialEq)]
struct Outcome {
    verdicts: BTreeMap<String, String>,
    events: Vec<(String, String, String, String, String)>,
    events_per_message: BTreeMap<String, usize>,
    reqs: serde_json::Value,
    mails: Vec<MailKey>,
    outbox_files: usize,
}

fn outcome(desk: &Desk) -> Outcome {
    let verdicts: BTreeMap<String, String> = desk
        .messages()
        .into_iter()
        .map(|(k, _, v)| (k, v))
        .collect();
    let mut events = desk.events();
    events.sort();
    let mut events_per_message = BTreeMap::new();
    for e in &events {
        *events_per_message.entry(e.0.clone()).or_insert(0) += 1;
    }
    let sent = desk.sent();
    for s in &sent {
        assert!(
            s.delivered,
            "{} {} not delivered ({})",
            s.kind, s.message_id, s.status
        );
        assert_eq!(s.status, "sent");
    }
    let mut mails: Vec<_> = sent
        .into_iter()
        .map(|s| {
            let mut to = s.to;
            to.sort();
            let mut cc = s.cc;
            cc.sort();
            (s.kind, s.item, to, cc, s.subject, s.in_reply_to)
        })
        .collect();
    mails.sort();
    Outcome {
        verdicts,
        events,
        events_per_message,
        reqs: without_times(&desk.list()),
        mails,
        outbox_files: desk.outbox_files().len(),
    }
}

/// `crossdesk run --once`, started and left running (to be killed).
fn run_once_in_background(desk: &Desk) -> std::process::Child {
    desk.command()
        .args(["run", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// A crashed run ended where the undisturbed one did, part by part (what
/// each kill interrupted in the messages).
#[track_caller]
fn assert_same_outcome(got: &Outcome, want: &Outcome, log: &[String]) {
    assert_eq!(got.verdicts, want.verdicts, "verdicts ({log:#?})");
    assert_eq!(
        got.events_per_message, want.events_per_message,
        "events per message ({log:#?})"
    );
    assert_eq!(got.events, want.events, "events ({log:#?})");
    assert_eq!(got.reqs, want.reqs, "requirements ({log:#?})");
    assert_eq!(got.mails, want.mails, "the outbox ({log:#?})");
    assert_eq!(
        got.outbox_files, want.outbox_files,
        "outbox files ({log:#?})"
    );
}

fn crash_config() -> Options {
    // Small batches: many commits for the kills to fall between.
    Options {
        batch: 7,
        ..Options::default()
    }
}

#[test]
fn killed_at_random_moments_then_restarted_acts_on_every_message_exactly_once() {
    let mails = backlog();

    // The reference: one undisturbed run.
    let clean = Desk::with(crash_config());
    fill_maildir(&clean.inbox_dir(), &mails);
    let t0 = Instant::now();
    clean.ok(&["run", "--once"]);
    let clean_time = t0.elapsed();
    assert_inbox_empty(&clean.inbox_dir());
    let want = outcome(&clean);
    assert_eq!(want.verdicts.len(), mails.len(), "one verdict per message");
    assert_eq!(want.outbox_files, want.mails.len());
    assert!(
        want.verdicts.values().all(|v| v.starts_with("applied:")),
        "the backlog is all good mail: {:?}",
        want.verdicts
            .values()
            .filter(|v| !v.starts_with("applied:"))
            .collect::<Vec<_>>()
    );
    // The story inside the backlog ended as it should.
    let req1 = clean.show("REQ-1");
    assert_eq!(req1["state"], "closed");
    assert_eq!(clean.show("REQ-2")["state"], "cancelled");

    // The same backlog, killed several times.
    let crashed = Desk::with(crash_config());
    fill_maildir(&crashed.inbox_dir(), &mails);
    let mut rng = rand::thread_rng();
    let span = clean_time.as_millis().max(20) as u64;
    let processed_dir = crashed.inbox_dir().join(".processed/cur");
    // What each kill interrupted, for the failure messages.
    let mut log: Vec<String> = vec![];
    for round in 0..6 {
        let mut child = run_once_in_background(&crashed);
        let start = Instant::now();
        if round < 3 {
            // While it works through the inbox: once a random number of
            // further messages has been moved out.
            let done = count(&processed_dir);
            let until = (done + rng.gen_range(1..=40)).min(mails.len());
            while count(&processed_dir) < until && child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_micros(500));
            }
        } else {
            // At a random moment of a whole run (mostly while sending).
            std::thread::sleep(Duration::from_millis(rng.gen_range(1..=span)));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            log.push(format!(
                "killed after {:?}: {} moved out, {} mails sent",
                start.elapsed(),
                count(&processed_dir),
                crashed.outbox_files().len()
            ));
        } else {
            log.push("finished before the kill".into());
        }
    }
    eprintln!("{log:#?}");
    assert!(
        log.iter().filter(|l| l.starts_with("killed")).count() >= 3,
        "the kills must interrupt runs: {log:#?}"
    );
    // Then to completion; a second run finds nothing to do.
    crashed.ok(&["run", "--once"]);
    assert_inbox_empty(&crashed.inbox_dir());
    let settled = (crashed.messages(), crashed.outbox_files());
    crashed.ok(&["run", "--once"]);
    assert_eq!(
        (crashed.messages(), crashed.outbox_files()),
        settled,
        "a further run finds nothing to do"
    );
    let processed = count(&crashed.inbox_dir().join(".processed/cur"))
        + count(&crashed.inbox_dir().join(".rejected/cur"));
    assert_eq!(processed, mails.len(), "every message moved out once");

    assert_same_outcome(&outcome(&crashed), &want, &log);
}

/// A source that checks, at each acknowledgement, that the message's
/// effects are already committed (read through a second connection, as
/// another process would see them), and records the order of both calls.
struct Watchful {
    queue: std::collections::VecDeque<crossdesk::source::RawMail>,
    db: std::path::PathBuf,
    fetched: Vec<String>,
    acked: Vec<String>,
}

impl crossdesk::source::Source for Watchful {
    fn fetch(
        &mut self,
        max: usize,
    ) -> Result<Vec<crossdesk::source::RawMail>, crossdesk::source::SourceError> {
        let n = max.min(self.queue.len());
        let v: Vec<_> = self.queue.drain(..n).collect();
        self.fetched.extend(v.iter().map(|m| m.handle.clone()));
        Ok(v)
    }

    fn ack(
        &mut self,
        handle: &str,
        _d: crossdesk::source::Disposition,
    ) -> Result<(), crossdesk::source::SourceError> {
        let c = rusqlite::Connection::open(&self.db).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE key = ?1",
                [format!("mid:{handle}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{handle} was acknowledged before its batch committed");
        self.acked.push(handle.to_string());
        Ok(())
    }
}

#[test]
fn a_backlog_is_acted_on_in_order_and_each_message_leaves_only_after_its_commit() {
    let desk = Desk::with(Options {
        batch: 7,
        ..Options::default()
    });
    let cfg = crossdesk::config::Config::load(&desk.config).unwrap();
    let mut engine = crossdesk::engine::Engine::new(cfg).unwrap();
    let mails = volume(60, 1);
    let mut src = Watchful {
        queue: mails
            .iter()
            .enumerate()
            .map(|(i, raw)| crossdesk::source::RawMail {
                handle: format!("volume.{i}@corp.example"),
                raw: raw.clone(),
                received: None,
            })
            .collect(),
        db: desk.path("crossdesk.db"),
        fetched: vec![],
        acked: vec![],
    };
    let mut order = vec![];
    let n = crossdesk::ingest::process_backlog(&mut engine, &mut src, None, &|| false, |reps| {
        order.extend(reps.iter().map(|r| (r.handle.clone(), r.verdict.clone())))
    })
    .unwrap();
    assert_eq!(n, 60);
    assert_eq!(
        src.acked, src.fetched,
        "every message acknowledged, in order"
    );
    let handles: Vec<&String> = order.iter().map(|(h, _)| h).collect();
    assert_eq!(handles, src.fetched.iter().collect::<Vec<_>>());
    // In order means each story worked: every message applied.
    for (h, v) in &order {
        assert!(v.starts_with("applied:"), "{h}: {v}");
    }
}

/// Deterministic bytes: `n` of them from `seed` (xorshift).
fn blob(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A mail with one attachment, Cc the R&D group.
fn mail_with_file(
    i: usize,
    from: &str,
    subject: &str,
    reply_to: Option<&str>,
    body: &str,
    name: &str,
    file: &[u8],
) -> Vec<u8> {
    let irt = reply_to
        .map(|r| format!("In-Reply-To: <{r}>\r\nReferences: <{r}>\r\n"))
        .unwrap_or_default();
    let head = format!(
        "From: {from}\r\nTo: workflow@corp.example\r\nCc: rd@corp.example\r\n\
         Subject: =?UTF-8?B?{}?=\r\nMessage-ID: <files.{i}@corp.example>\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0800\r\n{irt}",
        b64(subject.as_bytes())
    );
    mail_with_files(&head, body, &[(name, "application/octet-stream", file)])
}

/// `stories` requirements of three mails, each with a file: the request
/// with its specification (0.3–1.2 MB), the confirmation with a draft, and
/// a comment that sends the specification again (kept once).
fn volume_with_files(stories: usize) -> Vec<Vec<u8>> {
    let mut v = vec![];
    for s in 0..stories {
        let r = s + 1;
        let base = s * 3;
        let spec = blob(r as u64, 300_000 + (r * 97_531) % 900_000);
        let req_mid = format!("files.{base}@corp.example");
        v.push(mail_with_file(
            base,
            "赵六 <zhaoliu@corp.example>",
            &format!("【需求】导出客户数据 第{r}批"),
            None,
            "截止日期：2030-06-15\n\n详见附件。\n",
            &format!("spec-{r}.xlsx"),
            &spec,
        ));
        v.push(mail_with_file(
            base + 1,
            "张三 <zhangsan@corp.example>",
            &format!("【确认】回复：[REQ-{r}] 导出客户数据"),
            Some(&req_mid),
            "可以，草案见附件。\n",
            &format!("draft-{r}.pdf"),
            &blob(1000 + r as u64, 200_000),
        ));
        v.push(mail_with_file(
            base + 2,
            "赵六 <zhaoliu@corp.example>",
            &format!("回复：[REQ-{r}] 导出客户数据"),
            Some(&req_mid),
            "再发一次附件。\n",
            &format!("spec-{r}.xlsx"),
            &spec,
        ));
    }
    v
}

/// The `files` rows, without times: (message_id, req, task, n, name, size, sha256).
type FileRow = (String, i64, Option<i64>, i64, String, i64, Option<String>);

fn file_rows(desk: &Desk) -> Vec<FileRow> {
    let db = desk.db();
    let mut st = db
        .prepare(
            "SELECT message_id, req, task, n, name, size, sha256 FROM files
             ORDER BY message_id, req, n",
        )
        .unwrap();
    let v = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    v
}

/// Every kept file under the files directory (named by its SHA-256);
/// not the temporary `.<sha>.<pid>.tmp` of a write a kill cut short.
fn files_on_disk(desk: &Desk) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    if let Ok(top) = std::fs::read_dir(desk.path("crossdesk.db.files")) {
        for sub in top {
            let sub = sub.unwrap().path();
            if sub.is_dir() {
                for f in std::fs::read_dir(sub).unwrap() {
                    let f = f.unwrap();
                    if !f.file_name().to_string_lossy().starts_with('.') {
                        out.push(f.path());
                    }
                }
            }
        }
    }
    out
}

/// How many messages the store has recorded (0 before it exists).
fn recorded_messages(desk: &Desk) -> usize {
    let path = desk.path("crossdesk.db");
    if !path.exists() {
        return 0;
    }
    rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get::<_, i64>(0)))
        .map_or(0, |n| n as usize)
}

/// Each recorded file is on disk, whole.
fn assert_recorded_files_on_disk(desk: &Desk) {
    for (mid, _, _, _, name, size, sha) in file_rows(desk) {
        let sha = sha.expect("every file here is within the limits");
        let p = desk.path("crossdesk.db.files").join(&sha[..2]).join(&sha);
        let bytes = std::fs::read(&p)
            .unwrap_or_else(|e| panic!("{name} of {mid} recorded, {p:?} missing: {e}"));
        assert_eq!(bytes.len() as i64, size, "{name} of {mid}");
        assert_eq!(crossdesk::model::sha256_hex(&bytes), sha, "{name} of {mid}");
    }
}

#[test]
fn killed_while_keeping_files_leaves_no_event_without_its_file() {
    let mails = volume_with_files(16);
    // Batches of four: twelve commits for the kills to fall between.
    let config = || Options {
        batch: 4,
        ..Options::default()
    };

    let clean = Desk::with(config());
    fill_maildir(&clean.inbox_dir(), &mails);
    clean.ok(&["run", "--once"]);
    let want = outcome(&clean);
    let want_files = file_rows(&clean);
    assert!(
        want.verdicts.values().all(|v| v.starts_with("applied:")),
        "{:?}",
        want.verdicts
    );
    // Three files a story, two distinct: the specification sent twice is kept once.
    assert_eq!(want_files.len(), 48);
    assert_eq!(files_on_disk(&clean).len(), 32);

    let crashed = Desk::with(config());
    fill_maildir(&crashed.inbox_dir(), &mails);
    let mut rng = rand::thread_rng();
    let mut log: Vec<String> = vec![];
    // Kill each run right after one to three more files land (between a
    // file's sync and the commit that records it, or within the next
    // file's write), until a run gets through. Each run first commits a
    // batch: a message in hand when the daemon dies three times is set
    // aside by the crash guard (docs/operations.md#crash-guard), and these
    // kills are not the message's doing.
    let mut committed = 0;
    for _ in 0..40 {
        let mut child = run_once_in_background(&crashed);
        let start = Instant::now();
        while recorded_messages(&crashed) <= committed && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_micros(500));
        }
        let until = files_on_disk(&crashed).len() + rng.gen_range(1..=3);
        while files_on_disk(&crashed).len() < until && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..5000)));
        if child.try_wait().unwrap().is_some() {
            log.push("finished before the kill".into());
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        committed = recorded_messages(&crashed);
        let recorded: std::collections::BTreeSet<String> = file_rows(&crashed)
            .into_iter()
            .filter_map(|r| r.6)
            .collect();
        log.push(format!(
            "killed after {:?}: {} files on disk, {} recorded",
            start.elapsed(),
            files_on_disk(&crashed).len(),
            recorded.len()
        ));
        assert_recorded_files_on_disk(&crashed);
    }
    eprintln!("{log:#?}");
    let kills = log.iter().filter(|l| l.starts_with("killed")).count();
    assert!(kills >= 4, "the kills must interrupt runs: {log:#?}");
    crashed.ok(&["run", "--once"]);
    assert_inbox_empty(&crashed.inbox_dir());
    assert_recorded_files_on_disk(&crashed);
    // Each mail acted on once, as an undisturbed run acts on it.
    assert_same_outcome(&outcome(&crashed), &want, &log);
    assert_eq!(
        file_rows(&crashed),
        want_files,
        "the files recorded ({log:#?})"
    );
    // A file a killed run wrote before its commit is written again, to the
    // same name, by the run that acts on its mail: nothing extra is kept.
    assert_eq!(files_on_disk(&crashed).len(), 32);
}
