//! Faults on real mail servers (tests/mailserver/lab.sh: Dovecot and
//! Postfix on 127.0.0.1), against the real `crossdesk run`: SIGKILL at
//! random moments while mail flows, Postfix down, Dovecot restarted under
//! an IDLE session, a changed UIDVALIDITY, mail a person already opened,
//! a message whose body cannot be fetched for a while, and `check
//! --connect` against the lab. Each asserts docs/protocol.md#guarantees:
//! nothing lost, nothing acted on twice, every reply delivered.
//!
//! Each test has its own lab; one lab at a time (two cores serve Postfix,
//! Dovecot and the daemon already).

mod lab;
mod tmpfs;

use lab::{config_with, crossdesk, mail, Daemon, Lab, SmtpClient};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tmpfs::Tmpfs;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Requesters, from every department but Marketing and Operations (the
/// departments asked to help), so that a reply's recipient says its kind.
const REQUESTERS: [&str; 6] = ["zhangsan", "alice", "wanglei", "zhaoliu", "lina", "carol"];

/// One original [REQ] mail: who sent it, its Message-ID, its title.
#[derive(Debug, Clone)]
struct Orig {
    from: String,
    mid: String,
    title: String,
    raw: Vec<u8>,
}

/// A lab, a work directory with the daemon's config and database, and the
/// daemon's logs.
struct Rig {
    lab: Lab,
    work: tempfile::TempDir,
    cfg: PathBuf,
    /// The daemon's database (`[store] path`).
    db: PathBuf,
    runs: usize,
}

impl Drop for Rig {
    /// `FAULTS_LOGS=DIR` keeps each test's daemon logs there.
    fn drop(&mut self) {
        if let Some(dir) = std::env::var_os("FAULTS_LOGS") {
            let name = std::thread::current()
                .name()
                .unwrap_or("test")
                .replace("::", "_");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(Path::new(&dir).join(format!("{name}.log")), self.logs());
        }
    }
}

impl Rig {
    fn new(sections: &[(&str, &str)], extra: &str) -> Rig {
        let lab = Lab::start("corp.test");
        let work = tempfile::tempdir().unwrap();
        let cfg = config_with(&lab, work.path(), sections, extra);
        let db = work.path().join("crossdesk.db");
        Rig {
            lab,
            work,
            cfg,
            db,
            runs: 0,
        }
    }

    /// Starts the daemon with a log file of its own per run.
    fn start(&mut self) -> Daemon {
        self.runs += 1;
        Daemon::start(
            &self.cfg,
            &self.work.path().join(format!("daemon.{}.log", self.runs)),
        )
    }

    /// Every run's log, in order.
    fn logs(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                let p = self.work.path().join(format!("daemon.{i}.log"));
                format!(
                    "--- run {i} ---\n{}",
                    std::fs::read_to_string(p).unwrap_or_default()
                )
            })
            .collect()
    }

    /// The log of the daemon started last.
    fn current_log(&self) -> String {
        std::fs::read_to_string(self.work.path().join(format!("daemon.{}.log", self.runs)))
            .unwrap_or_default()
    }

    fn logs_tail(&self) -> String {
        let l = self.logs();
        let lines: Vec<&str> = l.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    fn db_path(&self) -> PathBuf {
        self.db.clone()
    }

    /// A read-only connection to the daemon's database (WAL: readers do
    /// not block it), or None before the daemon created it.
    fn db(&self) -> Option<rusqlite::Connection> {
        if !self.db_path().exists() {
            return None;
        }
        let c = rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        c.busy_timeout(Duration::from_secs(10)).ok()?;
        Some(c)
    }

    /// One number from the database (0 before it exists or has the table).
    fn count(&self, sql: &str) -> i64 {
        self.db()
            .and_then(|c| c.query_row(sql, [], |r| r.get(0)).ok())
            .unwrap_or(0)
    }

    fn wf(&self) -> String {
        self.lab.addr("workflow")
    }

    /// `n` [REQ] mails from the requesters in turn, to `dept`.
    fn reqs(&self, tag: &str, n: usize, dept: &str) -> Vec<Orig> {
        (0..n)
            .map(|i| {
                let from = REQUESTERS[i % REQUESTERS.len()].to_string();
                let mid = format!("{tag}.{i}@client.test");
                let title = format!("{tag} item {i:03}");
                let raw = mail(
                    &self.lab.addr(&from),
                    &[&self.wf()],
                    &format!("[REQ] {title}"),
                    &mid,
                    None,
                    &format!("Dept: {dept}\nDue: 2030-12-20\n\nItem {i} of the {tag} run."),
                );
                Orig {
                    from,
                    mid,
                    title,
                    raw,
                }
            })
            .collect()
    }

    fn submit(&self, origs: &[Orig]) {
        let mut c = SmtpClient::connect(self.lab.smtp_port).unwrap();
        for o in origs {
            c.send(&self.lab.addr(&o.from), &[&self.wf()], &o.raw)
                .unwrap_or_else(|e| panic!("submit {}: {e}", o.mid));
        }
        c.quit();
    }

    /// Waits until `ok`, or panics with `what` and the daemon's log.
    fn wait(&self, what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
        let t = Instant::now();
        loop {
            if ok() {
                return t.elapsed();
            }
            if t.elapsed() > limit {
                let dovecot = std::fs::read_to_string(self.lab.dir.join("logs/dovecot.log"))
                    .unwrap_or_default();
                let dovecot: Vec<&str> = dovecot.lines().collect();
                panic!(
                    "{what}: not within {limit:?}\n{}\n--- daemon logs (tail) ---\n{}\n--- dovecot.log (tail) ---\n{}",
                    self.state(),
                    self.logs_tail(),
                    dovecot[dovecot.len().saturating_sub(40)..].join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A one-line summary for failure messages.
    fn state(&self) -> String {
        format!(
            "INBOX {}, Processed {}, Rejected {}; db: {} messages, outbox {} queued / {} sent / {} failed",
            self.lab.maildir_count("workflow", "INBOX"),
            self.lab.maildir_count("workflow", "Processed"),
            self.lab.maildir_count("workflow", "Rejected"),
            self.count("SELECT COUNT(*) FROM messages"),
            self.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued'"),
            self.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"),
            self.count("SELECT COUNT(*) FROM outbox WHERE status = 'failed'"),
        )
    }

    /// The daemon is done with `n` originals: acted on, moved, replies sent.
    fn settled(&self, n: usize, processed: usize) -> bool {
        self.lab.maildir_count("workflow", "INBOX") == 0
            && self.lab.maildir_count("workflow", "Processed") == processed
            && self.count("SELECT COUNT(*) FROM messages") as usize == n
            && self.count("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'") == 0
            && self.count("SELECT COUNT(*) FROM outbox") as usize == 2 * n
    }

    /// As `settled`, where a `UID MOVE` cut short by a dying server may
    /// have left a second copy of some messages in Processed: every one
    /// of the `n` originals there, and nothing else.
    fn settled_with_copies(&self, n: usize) -> bool {
        self.lab.maildir_count("workflow", "INBOX") == 0
            && self.lab.maildir_count("workflow", "Processed") >= n
            && self.count("SELECT COUNT(*) FROM messages") as usize == n
            && self.count("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'") == 0
            && self.count("SELECT COUNT(*) FROM outbox") as usize == 2 * n
            && self
                .lab
                .maildir_files("workflow", "Processed")
                .iter()
                .map(|(_, raw)| headers(raw).message_id)
                .collect::<BTreeSet<_>>()
                .len()
                == n
    }

    fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = crossdesk(&self.cfg, args);
        assert!(
            out.status.success(),
            "crossdesk {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("crossdesk {args:?}: not JSON: {e}"))
    }
}

/// The headers the audit looks at, read without a full MIME parse.
#[derive(Debug, Default)]
struct Hdrs {
    from: String,
    message_id: String,
    in_reply_to: String,
}

fn strip_id(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn headers(raw: &[u8]) -> Hdrs {
    let text = String::from_utf8_lossy(raw);
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("");
    let mut fields: Vec<(String, String)> = vec![];
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let from = get("from");
    let from = match (from.rfind('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => from[a + 1..b].to_string(),
        _ => from,
    };
    Hdrs {
        from: from.trim().to_ascii_lowercase(),
        message_id: strip_id(&get("message-id")),
        in_reply_to: strip_id(&get("in-reply-to")),
    }
}

/// What the audit found beyond its assertions.
#[derive(Debug)]
struct Audit {
    /// Distinct daemon Message-IDs delivered more than once to someone.
    duplicated: BTreeSet<String>,
}

/// Nothing lost, nothing acted on twice, every reply delivered — checked
/// once the daemon is quiet. `origs` are every original submitted (each a
/// [REQ] to a department whose group is `members`); the workflow's
/// Processed folder holds `processed` files (more than `origs` when copies
/// were restored into the inbox).
fn audit(rig: &Rig, origs: &[Orig], members: &[&str], processed: usize) -> Audit {
    let lab = &rig.lab;
    let n = origs.len();
    let mids: BTreeSet<&str> = origs.iter().map(|o| o.mid.as_str()).collect();
    assert_eq!(mids.len(), n, "test bug: Message-IDs not distinct");

    // The mailbox: the inbox empty, every original in Processed.
    assert_eq!(lab.maildir_count("workflow", "INBOX"), 0, "inbox emptied");
    let in_processed: Vec<String> = lab
        .maildir_files("workflow", "Processed")
        .iter()
        .map(|(_, raw)| headers(raw).message_id)
        .collect();
    assert_eq!(in_processed.len(), processed, "files in Processed");
    for o in origs {
        assert!(
            in_processed.contains(&o.mid),
            "{} is not in Processed",
            o.mid
        );
    }
    assert_eq!(
        lab.maildir_count("workflow", "Rejected"),
        0,
        "nothing rejected"
    );

    let db = rig.db().expect("database");
    // Each original acted on once: one verdict, one event, one requirement.
    let mut verdicts: BTreeMap<String, String> = BTreeMap::new();
    {
        let mut st = db.prepare("SELECT key, verdict FROM messages").unwrap();
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap();
        for r in rows {
            let (k, v) = r.unwrap();
            verdicts.insert(k, v);
        }
    }
    assert_eq!(verdicts.len(), n, "one verdict per original");
    for o in origs {
        let v = verdicts
            .get(&format!("mid:{}", o.mid))
            .unwrap_or_else(|| panic!("{} has no verdict", o.mid));
        assert_eq!(v, "applied:new_req", "verdict of {}", o.mid);
    }
    let mut events: BTreeMap<String, i64> = BTreeMap::new();
    {
        let mut st = db
            .prepare("SELECT message_id, COUNT(*) FROM events GROUP BY message_id")
            .unwrap();
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap();
        for r in rows {
            let (m, c) = r.unwrap();
            events.insert(strip_id(&m), c);
        }
    }
    for o in origs {
        assert_eq!(
            events.get(&o.mid).copied().unwrap_or(0),
            1,
            "events caused by {}",
            o.mid
        );
    }
    assert_eq!(
        events.values().sum::<i64>() as usize,
        n,
        "no event without an original: {events:?}"
    );
    let list = rig.cli_json(&["list", "--json"]);
    let list = list.as_array().expect("list --json is an array");
    assert_eq!(list.len(), n, "one requirement per original");
    let mut titles: BTreeMap<String, usize> = BTreeMap::new();
    for r in list {
        assert_eq!(r["state"], "proposed", "{r}");
        *titles
            .entry(r["title"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for o in origs {
        assert_eq!(
            titles.get(&o.title),
            Some(&1),
            "requirements titled {:?}",
            o.title
        );
    }
    // The history as `show` tells it, for a few of them: one event, caused
    // by that requirement's own original.
    for r in list.iter().take(4) {
        let id = r["id"].as_str().unwrap();
        let v = rig.cli_json(&["show", id, "--json"]);
        let ev = v["events"].as_array().expect("show --json has events");
        assert_eq!(ev.len(), 1, "{id}: {ev:?}");
        let o = origs
            .iter()
            .find(|o| o.title == v["title"])
            .expect("an original with this title");
        assert_eq!(
            strip_id(ev[0]["message_id"].as_str().unwrap_or("")),
            o.mid,
            "{id}"
        );
    }
    let set_aside = rig.cli_json(&["set-aside", "--json"]);
    assert_eq!(set_aside, serde_json::json!([]), "nothing set aside");

    // The outbox: an ack and a department notice per original, all sent.
    let mut outbox: Vec<(String, String, String, String)> = vec![];
    {
        let mut st = db
            .prepare("SELECT message_id, kind, COALESCE(in_reply_to, ''), status FROM outbox")
            .unwrap();
        let rows = st
            .query_map([], |r| {
                Ok((
                    strip_id(&r.get::<_, String>(0)?),
                    r.get::<_, String>(1)?,
                    strip_id(&r.get::<_, String>(2)?),
                    r.get::<_, String>(3)?,
                ))
            })
            .unwrap();
        for r in rows {
            outbox.push(r.unwrap());
        }
    }
    assert_eq!(outbox.len(), 2 * n, "an ack and a notice per original");
    for (mid, kind, irt, status) in &outbox {
        assert_eq!(status, "sent", "outbox {mid} ({kind})");
        assert!(mids.contains(irt.as_str()), "outbox {mid} answers {irt:?}");
    }

    // The mailboxes: every reply where it belongs, nothing the outbox does
    // not know, duplicates counted.
    let by_from: BTreeMap<&str, &str> = origs
        .iter()
        .map(|o| (o.mid.as_str(), o.from.as_str()))
        .collect();
    let mut users: BTreeSet<&str> = origs.iter().map(|o| o.from.as_str()).collect();
    users.extend(members.iter().copied());
    let known: BTreeMap<&str, &str> = outbox
        .iter()
        .map(|o| (o.0.as_str(), o.2.as_str()))
        .collect();
    let mut got: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for u in &users {
        let mine = got.entry(u).or_default();
        for (path, raw) in lab.maildir_files(u, "INBOX") {
            let h = headers(&raw);
            if h.from != rig.wf() {
                continue;
            }
            let irt = known.get(h.message_id.as_str()).unwrap_or_else(|| {
                panic!(
                    "{}: mail {:?} is not in the outbox",
                    path.display(),
                    h.message_id
                )
            });
            assert_eq!(h.in_reply_to, *irt, "In-Reply-To of {}", h.message_id);
            *mine.entry(h.message_id).or_default() += 1;
        }
    }
    for (mid, kind, irt, _) in &outbox {
        let rcpts: Vec<&str> = match kind.as_str() {
            "ack" => vec![by_from[irt.as_str()]],
            "dept_new" => members.to_vec(),
            k => panic!("unexpected outbox kind {k} ({mid})"),
        };
        for u in rcpts {
            assert!(
                got[u].get(mid).copied().unwrap_or(0) >= 1,
                "{kind} {mid} (for {irt}) never reached {u}"
            );
        }
    }
    let mut duplicated = BTreeSet::new();
    for (u, m) in &got {
        for (mid, c) in m {
            if *c > 1 {
                eprintln!("duplicate delivery: {mid} ×{c} to {u}");
                duplicated.insert(mid.clone());
            }
        }
    }
    Audit { duplicated }
}

/// Deliveries to each of `users` from the workflow address, on disk.
fn replies(lab: &Lab, users: &[&str]) -> usize {
    let wf = lab.addr("workflow");
    users
        .iter()
        .map(|u| {
            lab.maildir_files(u, "INBOX")
                .iter()
                .filter(|(_, raw)| headers(raw).from == wf)
                .count()
        })
        .sum()
}

/// Replies expected for `origs`: an ack to each requester, a notice to
/// each member of the target group.
fn wait_replies(rig: &Rig, origs: &[Orig], members: &[&str], limit: Duration) -> Duration {
    let mut users: Vec<&str> = origs.iter().map(|o| o.from.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    users.extend(members.iter().copied());
    let want = origs.len() * (1 + members.len());
    rig.wait(&format!("{want} replies delivered"), limit, || {
        replies(&rig.lab, &users) >= want
    })
}

// ---------------------------------------------------------------------

/// SMTP connections (and sends in flight) of the daemon in these tests.
const POOL: usize = 2;

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn kill_9_at_random_points_while_500_messages_flow() {
    const N: usize = 500;
    const KILLS: usize = 4;
    let _g = serial();
    let mut rig = Rig::new(
        &[
            // Small transactions: more boundaries for the kills to fall between.
            ("store", "batch = 20"),
            ("smtp", &format!("pool = {POOL}\nretry_seconds = [1]")),
            ("imap", "poll_seconds = 2"),
        ],
        // 500 notices to one group in a day: above the default cap.
        "[limits]\ndaily_cap_per_recipient = 100000\n",
    );
    let members = ["emma", "frank"];
    let origs = rig.reqs("kill", N, "mkt");
    let t0 = Instant::now();
    let mut daemon = rig.start();

    // The mail flows in over SMTP while the daemon is killed and restarted.
    let submitter = {
        let port = rig.lab.smtp_port;
        let wf = rig.wf();
        let mails: Vec<(String, Vec<u8>)> = origs
            .iter()
            .map(|o| (rig.lab.addr(&o.from), o.raw.clone()))
            .collect();
        std::thread::spawn(move || {
            let mut c = SmtpClient::connect(port).unwrap();
            for (i, (from, raw)) in mails.iter().enumerate() {
                c.send(from, &[&wf], raw).unwrap();
                // ~100 a second: the flow lasts about as long as the kills.
                if i % 10 == 9 {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            c.quit();
        })
    };
    let mut rng = rand::thread_rng();
    let mut kills = vec![];
    for k in 0..KILLS {
        // The first kill at any moment from the start (startup included);
        // the others once the run is connected, so that each falls while
        // mail is being acted on and replies are being sent.
        let since = if k == 0 {
            "start"
        } else {
            rig.wait("the daemon connected", Duration::from_secs(20), || {
                rig.current_log().contains("imap ready")
            });
            "imap ready"
        };
        let delay = Duration::from_millis(rng.gen_range(100..1500));
        std::thread::sleep(delay);
        daemon.kill9();
        let at = format!(
            "kill {} {:?} after {since} (t={:.1}s): {} acted on, {} replies sent, {} in Processed",
            k + 1,
            delay,
            t0.elapsed().as_secs_f64(),
            rig.count("SELECT COUNT(*) FROM messages"),
            rig.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"),
            rig.lab.maildir_count("workflow", "Processed"),
        );
        eprintln!("{at}");
        kills.push(at);
        // Sometimes straight back, sometimes after a pause.
        if rng.gen_bool(0.5) {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..500)));
        }
        daemon = rig.start();
    }
    submitter.join().unwrap();

    // The clean finish.
    let took = rig.wait(
        "all 500 acted on and answered",
        Duration::from_secs(120),
        || rig.settled(N, N),
    );
    eprintln!(
        "settled {:.1}s after the submission ended",
        took.as_secs_f64()
    );
    wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    // Late duplicates, if any, are on their way through Postfix: let them land.
    std::thread::sleep(Duration::from_millis(500));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");

    let a = audit(&rig, &origs, &members, N);
    // SMTP delivery is at-least-once: a reply the server accepted whose
    // "sent" the daemon had not yet recorded when it was killed is sent
    // again after the restart (same Message-ID). Only the sends in flight
    // at the kill can be in that window: at most the pool's width per kill.
    eprintln!(
        "kill run: {} kills, {} reply Message-IDs delivered twice, {:.1}s in all\n{}",
        KILLS,
        a.duplicated.len(),
        t0.elapsed().as_secs_f64(),
        kills.join("\n")
    );
    assert!(
        a.duplicated.len() <= KILLS * POOL,
        "{} replies delivered twice, more than {KILLS} kills × pool {POOL}: {:?}",
        a.duplicated.len(),
        a.duplicated
    );
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn postfix_stopped_for_a_while_then_started_outbox_delivers_everything() {
    const N: usize = 6;
    let _g = serial();
    let mut rig = Rig::new(&[("smtp", "retry_seconds = [1, 2, 3]")], "");
    let members = ["dave", "bob"];
    let origs = rig.reqs("postfix", N, "ops");
    // The mail is in the workflow inbox before SMTP goes away.
    rig.submit(&origs);
    rig.wait("originals in the inbox", Duration::from_secs(20), || {
        rig.lab.maildir_count("workflow", "INBOX") == N
    });
    rig.lab.ctl("stop-postfix");
    let daemon = rig.start();

    // Acted on and moved although nothing can be sent.
    rig.wait(
        "acted on while SMTP is down",
        Duration::from_secs(30),
        || {
            rig.lab.maildir_count("workflow", "Processed") == N
                && rig.lab.maildir_count("workflow", "INBOX") == 0
        },
    );
    // The outbox holds every reply, retried on the short schedule.
    rig.wait(
        "replies queued and retried",
        Duration::from_secs(20),
        || {
            rig.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND attempts >= 2")
                as usize
                == 2 * N
        },
    );
    let out = crossdesk(&rig.cfg, &["outbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("outbox: {} queued, 0 sent", 2 * N)),
        "crossdesk outbox: {text}"
    );
    assert!(
        rig.logs().contains("send failed, will retry"),
        "the failures are logged"
    );
    assert_eq!(
        replies(
            &rig.lab,
            &["zhangsan", "alice", "wanglei", "zhaoliu", "lina", "carol", "dave", "bob"]
        ),
        0
    );

    rig.lab.ctl("start-postfix");
    let took = wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    eprintln!(
        "all replies delivered {:.1}s after Postfix started",
        took.as_secs_f64()
    );
    rig.wait("outbox recorded as sent", Duration::from_secs(10), || {
        rig.settled(N, N)
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let a = audit(&rig, &origs, &members, N);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn dovecot_restarted_during_idle_daemon_reconnects_and_carries_on() {
    let _g = serial();
    let mut rig = Rig::new(&[], "");
    let members = ["dave", "bob"];
    let origs = rig.reqs("dovecot", 3, "ops");
    let daemon = rig.start();

    // Running and idle.
    rig.submit(&origs[..1]);
    wait_replies(&rig, &origs[..1], &members, Duration::from_secs(30));
    rig.wait("idle", Duration::from_secs(10), || rig.settled(1, 1));
    std::thread::sleep(Duration::from_millis(500));

    // Dovecot restarted under the IDLE session.
    rig.lab.ctl("restart-dovecot");
    let t = Instant::now();
    rig.submit(&origs[1..2]);
    wait_replies(&rig, &origs[..2], &members, Duration::from_secs(30));
    let after_restart = t.elapsed();
    eprintln!(
        "answered {:.1}s after Dovecot's restart",
        after_restart.as_secs_f64()
    );
    assert!(
        after_restart < Duration::from_secs(15),
        "reconnect took {after_restart:?}"
    );

    // Dovecot down for a while: the mail waits in Postfix's queue, the
    // daemon's backoff grows; both carry on once it is back.
    rig.lab.ctl("stop-dovecot");
    rig.submit(&origs[2..3]);
    std::thread::sleep(Duration::from_secs(3));
    rig.lab.ctl("start-dovecot");
    let t = Instant::now();
    wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    eprintln!(
        "answered {:.1}s after Dovecot came back",
        t.elapsed().as_secs_f64()
    );
    rig.wait("settled", Duration::from_secs(10), || rig.settled(3, 3));
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let logs = rig.logs();
    assert!(
        logs.contains("imap connection lost; reconnecting"),
        "the lost connection is logged"
    );
    assert!(
        logs.matches("imap ready").count() >= 3,
        "connected at start and after each outage"
    );
    let a = audit(&rig, &origs, &members, 3);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
}

/// Copies a message file into `dir/new` under a fresh name, owned as
/// Dovecot's files are.
fn restore_into(src: &Path, dir: &Path, n: usize) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(src).unwrap();
    let dst = dir.join("new").join(format!("1700000000.R{n}.restored"));
    std::fs::copy(src, &dst).unwrap();
    std::os::unix::fs::chown(&dst, Some(meta.uid()), Some(meta.gid())).unwrap();
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn uidvalidity_changed_nothing_is_acted_on_twice() {
    let _g = serial();
    let mut rig = Rig::new(&[], "");
    let members = ["dave", "bob"];
    let origs = rig.reqs("uidv", 7, "ops");
    let (done, restored_from, fresh) = (&origs[..5], [1usize, 3], &origs[5..]);

    let daemon = rig.start();
    rig.submit(done);
    wait_replies(&rig, done, &members, Duration::from_secs(30));
    rig.wait("five processed", Duration::from_secs(10), || {
        rig.settled(5, 5)
    });
    let status = daemon.stop();
    assert!(status.success());
    let db = rig.db().unwrap();
    let meta = |k: &str| -> String {
        db.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .unwrap()
    };
    let old_validity: u32 = meta("imap:workflow:INBOX:uidvalidity").parse().unwrap();
    let last_uid: u32 = meta("imap:workflow:INBOX:last_uid").parse().unwrap();
    drop(db);
    assert_eq!(last_uid, 5);

    // While the daemon is down: two new requests arrive, and two processed
    // messages are restored into the inbox (a restore from backup)…
    rig.submit(fresh);
    rig.wait("new mail in the inbox", Duration::from_secs(20), || {
        rig.lab.maildir_count("workflow", "INBOX") == fresh.len()
    });
    rig.lab.ctl("stop-dovecot");
    let inbox = rig.lab.maildir("workflow", "INBOX");
    let processed = rig.lab.maildir_files("workflow", "Processed");
    for (n, i) in restored_from.iter().enumerate() {
        let (path, _) = processed
            .iter()
            .find(|(_, raw)| headers(raw).message_id == origs[*i].mid)
            .expect("original in Processed");
        restore_into(path, &inbox, n);
    }
    // …and the inbox's UID list is lost, so Dovecot numbers it afresh
    // under a new UIDVALIDITY.
    for e in std::fs::read_dir(&inbox).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name == "dovecot-uidlist" || name.starts_with("dovecot.index") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    rig.lab.ctl("start-dovecot");
    let (validity, uids) = rig.lab.imap_uids("workflow", "INBOX");
    assert_ne!(validity, old_validity, "Dovecot kept the UIDVALIDITY");
    assert_eq!(uids.len(), 4);
    // Every UID is at or below the old cursor: without the reset nothing
    // here would be looked at.
    assert!(uids.iter().all(|u| *u <= last_uid), "{uids:?}");

    let daemon = rig.start();
    wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    rig.wait("all seven processed", Duration::from_secs(20), || {
        rig.settled(7, 9)
    });
    std::thread::sleep(Duration::from_millis(500));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let logs = rig.logs();
    assert!(
        logs.contains("UIDVALIDITY changed"),
        "the change is logged:\n{logs}"
    );
    for i in restored_from {
        let line = logs
            .lines()
            .rfind(|l| l.contains(&origs[i].mid) && l.contains("verdict="))
            .unwrap_or_else(|| panic!("no log line for {}:\n{logs}", origs[i].mid));
        assert!(line.contains("verdict=duplicate"), "{line}");
    }
    // 7 originals in Processed, two of them twice (the restored copies).
    let a = audit(&rig, &origs, &members, 9);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn message_opened_by_a_person_before_the_daemon_saw_it_is_processed() {
    let _g = serial();
    let mut rig = Rig::new(&[], "");
    let members = ["dave", "bob"];
    let origs = rig.reqs("seen", 3, "ops");
    rig.submit(&origs);
    rig.wait("in the inbox", Duration::from_secs(20), || {
        rig.lab.maildir_count("workflow", "INBOX") == 3
    });
    // Someone with the workflow mailbox open in a mail client: one message
    // flagged read, one opened (FETCH BODY[] sets \Seen), one left alone.
    rig.lab.imap_commands(
        "workflow",
        "INBOX",
        &["STORE 1 +FLAGS (\\Seen)", "FETCH 2 BODY[]"],
    );
    let seen = rig
        .lab
        .maildir_files("workflow", "INBOX")
        .iter()
        .filter(|(p, _)| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .rsplit_once(":2,")
                .is_some_and(|(_, f)| f.contains('S'))
        })
        .count();
    assert_eq!(seen, 2, "two messages carry \\Seen");

    let daemon = rig.start();
    wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    rig.wait("settled", Duration::from_secs(10), || rig.settled(3, 3));
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let a = audit(&rig, &origs, &members, 3);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn message_whose_body_cannot_be_fetched_is_retried_until_it_can() {
    use std::os::unix::fs::PermissionsExt;
    let _g = serial();
    let mut rig = Rig::new(&[], "");
    let members = ["dave", "bob"];
    let origs = rig.reqs("unreadable", 3, "ops");
    rig.submit(&origs[..1]);
    rig.wait("in the inbox", Duration::from_secs(20), || {
        rig.lab.maildir_count("workflow", "INBOX") == 1
    });
    // Dovecot (running as the mail user) cannot open the file: it lists
    // the message, answers its FETCH without a body, then says BYE.
    let (path, _) = rig.lab.maildir_files("workflow", "INBOX").remove(0);
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let base = name.split(':').next().unwrap().to_string();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Another message behind it.
    rig.submit(&origs[1..2]);
    rig.wait("both in the inbox", Duration::from_secs(20), || {
        rig.lab.maildir_count("workflow", "INBOX") == 2
    });

    let daemon = rig.start();
    let verdict = |mid: &str| {
        rig.count(&format!(
            "SELECT COUNT(*) FROM messages WHERE key = 'mid:{mid}'"
        ))
    };
    // The message behind it is acted on meanwhile: it is fetched before
    // the unreadable one, which Dovecot drops the connection over.
    let took = wait_replies(&rig, &origs[1..2], &members, Duration::from_secs(30));
    eprintln!(
        "the message behind the unreadable one acted on after {:.1}s",
        took.as_secs_f64()
    );
    rig.wait("the stall warned about", Duration::from_secs(20), || {
        rig.logs().contains("message still not fetchable")
    });
    assert_eq!(verdict(&origs[0].mid), 0, "acted on without its body?");
    assert!(
        rig.lab
            .maildir_files("workflow", "INBOX")
            .iter()
            .any(|(p, _)| p.file_name().unwrap().to_string_lossy().starts_with(&base)),
        "the unreadable message left the inbox"
    );
    assert_eq!(
        rig.lab.maildir_count("workflow", "Rejected"),
        0,
        "not set aside"
    );
    let logs = rig.logs();
    assert!(
        logs.contains("message not fetchable yet; will retry"),
        "the stall is logged"
    );
    assert_eq!(
        logs.matches("message still not fetchable").count(),
        1,
        "warned about once: {logs}"
    );
    // Fetched again with backoff: the reconnects Dovecot's dropping causes
    // come no faster than its retries (0.5 s, 1 s, 2 s, … apart).
    let reconnects = logs.matches("imap connection lost").count();
    assert!(reconnects <= 5, "{reconnects} reconnects: {logs}");

    // Readable again: picked up on a later attempt.
    let path = rig
        .lab
        .maildir_files("workflow", "INBOX")
        .into_iter()
        .find(|(p, _)| p.file_name().unwrap().to_string_lossy().starts_with(&base))
        .unwrap()
        .0;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let took = wait_replies(&rig, &origs[..2], &members, Duration::from_secs(30));
    eprintln!(
        "acted on {:.1}s after it became readable",
        took.as_secs_f64()
    );
    assert!(rig.logs().contains("message fetchable again"));
    // And the daemon carries on with new mail.
    rig.submit(&origs[2..]);
    wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    rig.wait("settled", Duration::from_secs(10), || rig.settled(3, 3));
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let a = audit(&rig, &origs, &members, 3);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn check_connect_against_the_lab_and_with_a_wrong_password() {
    let _g = serial();
    let rig = Rig::new(&[], "");
    let out = crossdesk(&rig.cfg, &["check", "--connect"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let imap_line = format!(
        "imap imap://127.0.0.1:{}: logged in as workflow; folders: ",
        rig.lab.imap_port
    );
    let folders = text
        .lines()
        .find_map(|l| l.strip_prefix(&imap_line))
        .unwrap_or_else(|| panic!("no IMAP line: {text}"));
    for f in ["INBOX", "Sent", "Drafts", "Archive", "Junk", "Trash"] {
        assert!(folders.split(", ").any(|x| x == f), "{f} not in {folders}");
    }
    assert!(
        text.contains(&format!(
            "smtp smtp://127.0.0.1:{}: EHLO ok, MAIL FROM ok",
            rig.lab.smtp_port
        )),
        "{text}"
    );

    std::fs::write(rig.work.path().join("imap.pass"), "not-the-password\n").unwrap();
    let out = crossdesk(&rig.cfg, &["check", "--connect"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG: {err}");
    assert!(
        err.contains(&format!(
            "imap imap://127.0.0.1:{}: FAILED: login as workflow refused",
            rig.lab.imap_port
        )),
        "{err}"
    );
    // The SMTP side still says how it stands.
    assert!(err.contains("EHLO ok"), "{err}");

    // `inbox` names INBOX as well (any case, RFC 3501).
    std::fs::write(
        rig.work.path().join("imap.pass"),
        format!("{}\n", rig.lab.password),
    )
    .unwrap();
    let text = std::fs::read_to_string(&rig.cfg)
        .unwrap()
        .replace("[imap]\n", "[imap]\nfolder = \"inbox\"\n");
    assert!(text.contains("folder = \"inbox\""));
    std::fs::write(&rig.cfg, text).unwrap();
    let out = crossdesk(&rig.cfg, &["check", "--connect"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A source folder that does not exist (a typo in `[imap] folder`): the
/// daemon says which folder and why, and retries with a growing wait rather
/// than logging in again every second.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_missing_source_folder_is_retried_with_a_growing_wait() {
    let _g = serial();
    let mut rig = Rig::new(&[("imap", "folder = \"Inbox2\"")], "");
    // `check --connect` says so first (the daemon creates only the folders
    // it moves mail to).
    let out = crossdesk(&rig.cfg, &["check", "--connect"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG: {err}");
    assert!(
        err.contains("FAILED: the folder watched ([imap] folder), Inbox2, does not exist"),
        "{err}"
    );
    let daemon = rig.start();
    std::thread::sleep(Duration::from_secs(8));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let logs = rig.logs();
    let lost: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("imap connection lost"))
        .collect();
    assert!(!lost.is_empty(), "{logs}");
    assert!(
        lost[0].contains("Inbox2"),
        "the error names the folder: {}",
        lost[0]
    );
    // 1 s, 2 s, 4 s (±25 %): at most four tries in 8 s, where a wait reset
    // at every login tried about every second.
    assert!(lost.len() <= 4, "{} tries in 8 s: {logs}", lost.len());
    let waits: Vec<u64> = lost
        .iter()
        .filter_map(|l| l.split("retry_in_ms=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(
        waits.windows(2).all(|w| w[1] > w[0]),
        "the wait grows: {waits:?}"
    );
}

/// Someone deletes the processed folder in their mail client while the
/// daemon runs: the next move fails, the daemon reconnects, creates the
/// folder again, and the message is moved there, acted on once.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn processed_folder_deleted_while_running_is_created_again() {
    let _g = serial();
    let mut rig = Rig::new(&[], "");
    let members = ["dave", "bob"];
    let origs = rig.reqs("deleted", 2, "ops");
    let daemon = rig.start();
    rig.submit(&origs[..1]);
    wait_replies(&rig, &origs[..1], &members, Duration::from_secs(30));
    rig.wait("the first one moved", Duration::from_secs(10), || {
        rig.lab.maildir_count("workflow", "Processed") == 1
    });
    rig.lab
        .imap_commands("workflow", "INBOX", &["DELETE Processed"]);
    assert!(
        !rig.lab.maildir("workflow", "Processed").exists(),
        "the folder is gone"
    );
    rig.submit(&origs[1..]);
    wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    // Both acted on once (two records, four replies, all sent); the
    // second moved to the Processed folder made anew (the first went with
    // the deleted one).
    rig.wait("settled", Duration::from_secs(30), || rig.settled(2, 1));
    let moved = rig.lab.maildir_files("workflow", "Processed");
    assert_eq!(headers(&moved[0].1).message_id, origs[1].mid);
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

/// The lab's Dovecot (its master and every child) held with SIGSTOP until
/// dropped: connections stay open and nothing answers, as with a server or
/// a network that hangs.
struct Frozen(Vec<i32>);

/// The lab's Dovecot master and every process under it.
fn dovecot_tree(lab: &lab::Lab) -> Vec<i32> {
    let master: i32 = std::fs::read_to_string(lab.dir.join("run").join("master.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let parent_of = |pid: i32| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let all: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut pids = vec![master];
    loop {
        let more: Vec<i32> = all
            .iter()
            .copied()
            .filter(|p| !pids.contains(p) && parent_of(*p).is_some_and(|pp| pids.contains(&pp)))
            .collect();
        if more.is_empty() {
            break;
        }
        pids.extend(more);
    }
    pids
}

/// SIGKILL to every IMAP session process of the lab's Dovecot, as when
/// they crash: their connections drop at once, and new logins work.
/// Returns how many there were.
fn kill_imap_sessions(lab: &lab::Lab) -> usize {
    let imap: Vec<i32> = dovecot_tree(lab)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "imap")
        })
        .collect();
    for &p in &imap {
        // SAFETY: plain kill(2) on processes the lab started.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    imap.len()
}

impl Frozen {
    fn dovecot(lab: &lab::Lab) -> Frozen {
        let pids = dovecot_tree(lab);
        for &p in &pids {
            // SAFETY: plain kill(2) on processes the lab started.
            unsafe { libc::kill(p, libc::SIGSTOP) };
        }
        Frozen(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &p in &self.0 {
            // SAFETY: as above.
            unsafe { libc::kill(p, libc::SIGCONT) };
        }
    }
}

/// Dovecot stops answering (frozen) while the daemon waits on it: past
/// `[imap] timeout_seconds` the session counts as lost, and the daemon
/// tries new ones until the server answers again, then carries on.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_server_that_stops_answering_is_given_up_on_and_the_daemon_carries_on() {
    let _g = serial();
    let mut rig = Rig::new(&[("imap", "timeout_seconds = 2\npoll_seconds = 1")], "");
    let members = ["dave", "bob"];
    let origs = rig.reqs("frozen", 2, "ops");
    let daemon = rig.start();
    rig.submit(&origs[..1]);
    wait_replies(&rig, &origs[..1], &members, Duration::from_secs(30));
    {
        let _frozen = Frozen::dovecot(&rig.lab);
        rig.wait("the silence noticed", Duration::from_secs(15), || {
            rig.logs().contains("no answer from the server within 2 s")
        });
    }
    rig.submit(&origs[1..]);
    wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    rig.wait("settled", Duration::from_secs(10), || rig.settled(2, 2));
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let a = audit(&rig, &origs, &members, 2);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
}

/// Fills what is left of a small disk with one file; returns its path.
fn fill(disk: &Tmpfs) -> PathBuf {
    use std::io::Write;
    let path = disk.dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Whatever a 64 KiB write could not take, byte by byte.
    while f.write(&[0]).is_ok_and(|n| n == 1) {}
    path
}

/// The disk under the store fills up while mail arrives: nothing is acted
/// on or moved while no transaction can be written, the daemon keeps
/// running, and once there is room again every message is acted on once
/// and answered once, with no restart.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_full_disk_under_the_store_holds_mail_in_the_inbox_until_there_is_room() {
    let _g = serial();
    let mut rig = Rig::new(&[("store", "path = \"store/crossdesk.db\"")], "");
    let disk = Tmpfs::mount(&rig.work.path().join("store"), "size=4m,mode=0755");
    rig.db = disk.dir.join("crossdesk.db");
    let members = ["dave", "bob"];
    let origs = rig.reqs("full", 3, "ops");
    let mut daemon = rig.start();
    rig.submit(&origs[..1]);
    wait_replies(&rig, &origs[..1], &members, Duration::from_secs(30));
    rig.wait("the first settled", Duration::from_secs(10), || {
        rig.settled(1, 1)
    });

    let users = ["zhangsan", "alice", "wanglei", "dave", "bob"];
    let before = replies(&rig.lab, &users);
    let filler = fill(&disk);
    rig.submit(&origs[1..]);
    rig.wait("the full disk noticed", Duration::from_secs(20), || {
        rig.logs().contains("database or disk is full")
    });
    // A few more tries against the full disk: still nothing moved, nothing
    // recorded, nothing sent, and the daemon still runs.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        rig.lab.maildir_count("workflow", "INBOX"),
        2,
        "both wait in the inbox\n{}",
        rig.logs_tail()
    );
    assert_eq!(rig.lab.maildir_count("workflow", "Processed"), 1);
    assert_eq!(rig.count("SELECT COUNT(*) FROM messages"), 1);
    assert_eq!(replies(&rig.lab, &users), before, "nothing answered");
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon exited on a full disk\n{}",
        rig.logs_tail()
    );
    assert!(
        rig.logs()
            .contains("the store failed; the messages stay in the folder and are tried again"),
        "the log says what failed\n{}",
        rig.logs_tail()
    );

    std::fs::remove_file(&filler).unwrap();
    wait_replies(&rig, &origs, &members, Duration::from_secs(60));
    rig.wait("settled", Duration::from_secs(20), || rig.settled(3, 3));
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let a = audit(&rig, &origs, &members, 3);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
    drop(disk);
}

/// Replies go out while the disk under the store is full, so the store
/// cannot record them as sent: each is sent once, not again at every
/// drain, and recorded once there is room.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn mail_sent_while_the_store_cannot_record_it_is_not_sent_again() {
    let _g = serial();
    let mut rig = Rig::new(
        &[
            ("store", "path = \"store/crossdesk.db\""),
            ("smtp", "retry_seconds = [6]"),
        ],
        "",
    );
    let disk = Tmpfs::mount(&rig.work.path().join("store"), "size=4m,mode=0755");
    rig.db = disk.dir.join("crossdesk.db");
    const N: usize = 2;
    let members = ["dave", "bob"];
    let origs = rig.reqs("unrecorded", N, "ops");
    rig.submit(&origs);
    rig.wait("originals in the inbox", Duration::from_secs(20), || {
        rig.lab.maildir_count("workflow", "INBOX") == N
    });
    // The replies are queued while SMTP is away. Just after a failed try
    // (the next is 6 s away) SMTP comes back and the disk fills, so the
    // next try is sent and cannot be recorded. (A try that fails while
    // the disk is full cannot be recorded either, and then nothing is sent
    // until there is room: safe, but not what this test is about.)
    rig.lab.ctl("stop-postfix");
    let daemon = rig.start();
    rig.wait("replies queued and tried", Duration::from_secs(30), || {
        rig.lab.maildir_count("workflow", "Processed") == N
            && rig.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND attempts >= 1")
                as usize
                == 2 * N
    });
    let tries = || rig.count("SELECT SUM(attempts) FROM outbox");
    let before = tries();
    rig.wait("a fresh failed try", Duration::from_secs(20), || {
        tries() > before
    });
    let t = Instant::now();
    rig.lab.ctl("start-postfix");
    let filler = fill(&disk);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "test set-up too slow: Postfix started and the disk filled in {:?}",
        t.elapsed()
    );
    rig.wait("the failed record noticed", Duration::from_secs(30), || {
        rig.logs().contains("database or disk is full")
    });
    let users = ["zhangsan", "alice", "dave", "bob"];
    rig.wait("the first sends delivered", Duration::from_secs(20), || {
        replies(&rig.lab, &users) > 0
    });
    // Every recipient's copy of those first sends lands within moments.
    std::thread::sleep(Duration::from_secs(2));
    let sent = replies(&rig.lab, &users);
    // Several drains later (the sender polls every 2 s): nothing sent
    // again, nothing more sent, and the store still says queued.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        replies(&rig.lab, &users),
        sent,
        "deliveries while the disk is full\n{}",
        rig.logs_tail()
    );
    assert_eq!(
        rig.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"),
        0
    );
    assert!(rig
        .logs()
        .contains("not yet recorded as sent, so nothing more is sent"));

    std::fs::remove_file(&filler).unwrap();
    wait_replies(&rig, &origs, &members, Duration::from_secs(30));
    rig.wait("recorded as sent", Duration::from_secs(30), || {
        rig.settled(N, N)
    });
    std::thread::sleep(Duration::from_secs(3));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let a = audit(&rig, &origs, &members, N);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
    drop(disk);
}

/// Dovecot's IMAP sessions killed in the middle of a backlog, while
/// batches are fetched on one connection and moved on the other: both
/// connections drop at once, with batches committed and not yet moved.
/// The daemon reconnects and finishes: every message acted on once, every
/// reply sent once.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn imap_sessions_killed_in_the_middle_of_a_backlog() {
    let _g = serial();
    const N: usize = 1200;
    // Now and then (4 of about 70 runs) Dovecot answered no command for
    // the two minutes the test used to wait after the kill: every
    // reconnect of the daemon timed out unanswered. A silent session counts as lost after 15 s
    // rather than the default five minutes, and the wait for the backlog
    // to settle is six minutes (the failure message has the tail of
    // dovecot.log, for whoever finds the stall's cause).
    // Another failure was the test's own (a run that had settled but
    // waited on): Dovecot's Maildir MOVE links
    // each message into Processed, then expunges it from the inbox, and a
    // session killed between the two leaves both. The daemon finds those
    // again in the inbox, knows them by their dedupe keys, and moves them
    // without acting: Processed then holds a second copy of each, which
    // the test now allows (every original there, and nothing else).
    let mut rig = Rig::new(
        &[("store", "batch = 50"), ("imap", "timeout_seconds = 15")],
        "[limits]\ndaily_cap_per_recipient = 100000\n",
    );
    let members = ["dave", "bob"];
    let origs = rig.reqs("midway", N, "ops");
    rig.submit(&origs);
    rig.wait("the backlog in the inbox", Duration::from_secs(60), || {
        rig.lab.maildir_count("workflow", "INBOX") == N
    });
    let daemon = rig.start();
    rig.wait("the backlog under way", Duration::from_secs(60), || {
        rig.lab.maildir_count("workflow", "Processed") >= 100
    });
    let killed = kill_imap_sessions(&rig.lab);
    let at_kill = rig.lab.maildir_count("workflow", "Processed");
    eprintln!("{killed} IMAP sessions killed with {at_kill} of {N} moved");
    assert!(
        at_kill < N && killed >= 1,
        "the backlog was done before the kill: nothing was tested"
    );
    rig.wait("settled", Duration::from_secs(360), || {
        rig.settled_with_copies(N)
    });
    wait_replies(&rig, &origs, &members, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(300));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(
        rig.logs().contains("imap connection lost; reconnecting"),
        "the lost sessions are logged"
    );
    let copies = rig.lab.maildir_count("workflow", "Processed");
    eprintln!("{} messages moved twice by a MOVE cut short", copies - N);
    let a = audit(&rig, &origs, &members, copies);
    assert!(a.duplicated.is_empty(), "sent twice: {:?}", a.duplicated);
}
