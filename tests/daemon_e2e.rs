//! End to end on real mail servers: tagged mail submitted over SMTP to the
//! workflow address, the daemon (IMAP in, SMTP out) acts, the replies land
//! in the right people's IMAP mailboxes, department group mail fans out to
//! every member, and the originals sit in the processed folder.

mod lab;

use lab::{config, mail, Daemon, Lab, Parsed};
use std::sync::Mutex;

/// One lab at a time in this binary: two cores serve Postfix, Dovecot and
/// the daemon already.
static SERIAL: Mutex<()> = Mutex::new(());

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

fn show(cfg: &std::path::Path, id: &str) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crossdesk"))
        .arg("--config")
        .arg(cfg)
        .args(["show", id, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Step<'a> {
    from: &'a str,
    subject: &'a str,
    body: &'a str,
    /// (user, subject part, language is Chinese) of a mail that must arrive.
    expect: &'a [(&'a str, &'a str)],
    state: &'a str,
}

fn run_story(lang_zh: bool, steps: &[Step]) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&lab, work.path(), "");
    let daemon = Daemon::start(&cfg, &work.path().join("daemon.log"));
    let wf = lab.addr("workflow");
    for (i, st) in steps.iter().enumerate() {
        let from = lab.addr(st.from);
        // Count what each expected recipient already holds before sending,
        // so that an older mail with the same id cannot satisfy the wait.
        let before: Vec<usize> = st
            .expect
            .iter()
            .map(|(user, subj)| {
                lab.fetch(user, "INBOX")
                    .iter()
                    .filter(|r| Parsed::new(r).subject.contains(subj))
                    .count()
            })
            .collect();
        let raw = mail(
            &from,
            &[&wf],
            st.subject,
            &format!("step{i}.{}@client.test", st.from),
            None,
            st.body,
        );
        lab.submit(&from, &[&wf], &raw);
        for ((user, subj), before) in st.expect.iter().zip(before) {
            let p: Parsed = {
                let t = std::time::Instant::now();
                loop {
                    let all: Vec<Parsed> = lab
                        .fetch(user, "INBOX")
                        .iter()
                        .map(|r| Parsed::new(r))
                        .collect();
                    let matching: Vec<&Parsed> =
                        all.iter().filter(|p| p.subject.contains(subj)).collect();
                    if matching.len() > before {
                        break matching[before].clone();
                    }
                    if t.elapsed() > std::time::Duration::from_secs(30) {
                        let log = std::fs::read_to_string(work.path().join("daemon.log"))
                            .unwrap_or_default();
                        panic!(
                            "step {i} ({}): {user} got no mail with {subj:?}; has {:?}\n--- daemon log ---\n{log}",
                            st.subject,
                            all.iter().map(|p| &p.subject).collect::<Vec<_>>()
                        );
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            };
            assert_eq!(p.from, wf, "from the workflow address");
            assert!(
                p.auto_submitted.starts_with("auto-"),
                "Auto-Submitted on {:?}: {:?}",
                p.subject,
                p.auto_submitted
            );
            assert!(!p.message_id.is_empty());
            assert_eq!(
                has_cjk(&p.text),
                lang_zh,
                "language of {:?} to {user}: {}",
                p.subject,
                p.text
            );
        }
        // The state is reached once the daemon committed the step (a reply
        // seen above may stem from a cc of an earlier step).
        let t = std::time::Instant::now();
        loop {
            let v = show(&cfg, "REQ-1");
            if v["state"] == st.state {
                break;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(30),
                "after step {i} ({}): state {} not {}",
                st.subject,
                v["state"],
                st.state
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    // The originals sit in the processed folder; the inbox is empty.
    let processed = lab.fetch("workflow", "Processed");
    assert_eq!(processed.len(), steps.len(), "every original in Processed");
    let t = std::time::Instant::now();
    while !lab.fetch("workflow", "INBOX").is_empty() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "inbox not emptied"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn english_story_over_imap_and_smtp() {
    run_story(
        false,
        &[
            Step {
                from: "frank",
                subject: "[REQ] Landing page for the Q1 campaign",
                body: "Dept: ops\nDue: 2030-12-20\nQuality: loads in under 2 s\n\nWe need a landing page.",
                // the requester's acknowledgement; the ops group fans out to Dave and Bob
                expect: &[("frank", "[REQ-1]"), ("dave", "[REQ-1]"), ("bob", "[REQ-1]")],
                state: "proposed",
            },
            Step {
                from: "bob",
                subject: "[CONFIRM] Re: [REQ-1] Landing page for the Q1 campaign",
                body: "Fine from ops.",
                // to the requester, cc the requester's group (mkt: Emma and Frank)
                expect: &[("frank", "[REQ-1]"), ("emma", "[REQ-1]")],
                state: "confirmed",
            },
            Step {
                from: "dave",
                subject: "[ASSIGN] [REQ-1]",
                body: "- bob@corp.test: Build the page; due 2030-12-18; quality: Lighthouse > 90",
                expect: &[("bob", "[REQ-1.1]")],
                state: "in_progress",
            },
            Step {
                from: "bob",
                subject: "[ACCEPT] Re: [REQ-1.1] Build the page",
                body: "On it.",
                expect: &[("dave", "[REQ-1.1]")],
                state: "in_progress",
            },
            Step {
                from: "bob",
                subject: "[PROGRESS] [REQ-1.1] 50%",
                body: "Layout done.",
                expect: &[("dave", "[REQ-1.1]")],
                state: "in_progress",
            },
            Step {
                from: "bob",
                subject: "[DONE] [REQ-1.1]",
                body: "Deployed.",
                // to the assigner; the requester is asked to verify
                expect: &[("dave", "[REQ-1.1]"), ("frank", "[REQ-1]")],
                state: "delivered",
            },
            Step {
                from: "frank",
                subject: "[CLOSE] Re: [REQ-1] Landing page",
                body: "Looks great, thanks.",
                expect: &[("bob", "[REQ-1]")],
                state: "closed",
            },
        ],
    );
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn chinese_story_over_imap_and_smtp() {
    run_story(
        true,
        &[
            Step {
                from: "zhaoliu",
                subject: "【需求】导出华东区客户数据",
                body:
                    "部门：研发\n截止日期：2030年12月15日\n质量要求：字段齐全\n\n请导出客户数据。",
                expect: &[
                    ("zhaoliu", "[REQ-1]"),
                    ("wanglei", "[REQ-1]"),
                    ("zhangsan", "[REQ-1]"),
                    ("alice", "[REQ-1]"),
                ],
                state: "proposed",
            },
            Step {
                from: "zhangsan",
                subject: "【确认】回复：[REQ-1] 导出华东区客户数据",
                body: "可以，本周排期。",
                expect: &[("zhaoliu", "[REQ-1]"), ("lina", "[REQ-1]")],
                state: "confirmed",
            },
            Step {
                from: "wanglei",
                subject: "【分配】[REQ-1]",
                body: "- 张三: 编写导出脚本; 截止 2030-12-10; 质量: 单元测试通过",
                expect: &[("zhangsan", "[REQ-1.1]")],
                state: "in_progress",
            },
            Step {
                from: "zhangsan",
                subject: "【接收】回复：[REQ-1.1] 编写导出脚本",
                body: "收到。",
                expect: &[("wanglei", "[REQ-1.1]")],
                state: "in_progress",
            },
            Step {
                from: "zhangsan",
                subject: "【进度】[REQ-1.1]",
                body: "进度：60%\n脚本已完成大半。",
                expect: &[("wanglei", "[REQ-1.1]")],
                state: "in_progress",
            },
            Step {
                from: "zhangsan",
                subject: "【完成】[REQ-1.1]",
                body: "已完成。",
                expect: &[("wanglei", "[REQ-1.1]"), ("zhaoliu", "[REQ-1]")],
                state: "delivered",
            },
            Step {
                from: "zhaoliu",
                subject: "【验收】回复：[REQ-1] 导出华东区客户数据",
                body: "验收通过，谢谢。",
                expect: &[("alice", "[REQ-1]")],
                state: "closed",
            },
        ],
    );
}

/// `ingest` (the MTA-pipe path) with the SMTP transport: the reply goes out
/// through Postfix at once (the SMTP pool must live inside the runtime).
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn ingest_with_the_smtp_transport_sends_through_postfix() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&lab, work.path(), "");
    let raw = mail(
        &lab.addr("frank"),
        &[&lab.addr("workflow")],
        "[REQ] Banner artwork",
        "ingest.1@client.test",
        None,
        "Dept: ops\n\nPlease.",
    );
    let f = work.path().join("req.eml");
    std::fs::write(&f, raw).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crossdesk"))
        .arg("--config")
        .arg(&cfg)
        .arg("ingest")
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ack = lab.wait_for("frank", "INBOX", "[REQ-1]", |p| {
        p.subject.contains("[REQ-1]")
    });
    assert_eq!(ack.in_reply_to, "ingest.1@client.test");
    lab.wait_for("bob", "INBOX", "[REQ-1]", |p| p.subject.contains("[REQ-1]"));
}

/// A backlog that built up while the daemon was down is acted on in
/// arrival order, even though Dovecot numbers a Maildir backlog in
/// directory order: every answer finds the requirement it answers. The
/// server orders it (UID SORT by arrival).
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn backlog_is_acted_on_in_arrival_order() {
    arrival_order(true);
}

/// The same on a server without SORT: the daemon fetches every message's
/// INTERNALDATE and orders the backlog itself.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn backlog_is_acted_on_in_arrival_order_without_sort() {
    arrival_order(false);
}

/// A log without its colours.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut it = log.chars();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Restarts the lab's Dovecot with one more `protocol imap` setting.
fn dovecot_imap_setting(lab: &Lab, setting: &str) {
    let conf = lab.dir.join("dovecot.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!("protocol imap {{\n  {setting}\n}}\n"));
    std::fs::write(&conf, text).unwrap();
    lab.ctl("restart-dovecot");
}

/// Waits (30 s at most) until the workflow's inbox holds `n` messages.
fn wait_inbox(lab: &Lab, n: usize) {
    let t = std::time::Instant::now();
    while lab.maildir_count("workflow", "INBOX") < n {
        assert!(t.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// With three requirements waiting in the workflow inbox: starts the
/// daemon, waits for their replies to zhaoliu, submits a fourth (titled
/// `late`) and waits for its reply, for all four in Processed and none
/// left in the inbox; stops the daemon and returns its log.
fn three_then_one(lab: &Lab, cfg: &std::path::Path, log: &std::path::Path, late: &str) -> String {
    let daemon = Daemon::start(cfg, log);
    let zhaoliu_has =
        |subject: &str| lab.wait_for("zhaoliu", "INBOX", subject, |p| p.subject.contains(subject));
    for i in 1..=3 {
        zhaoliu_has(&format!("[REQ-{i}]"));
    }
    submit_requirements(lab, 1, late, "late.");
    zhaoliu_has("[REQ-4]");
    wait_folder(lab, "Processed", 4, 10);
    assert_eq!(lab.fetch("workflow", "INBOX").len(), 0);
    let status = daemon.stop();
    assert!(status.success(), "{status:?}");
    plain(&std::fs::read_to_string(log).unwrap())
}

/// Waits until the workflow mailbox's `folder` holds `n` messages, as IMAP
/// counts them (any mailbox format).
fn wait_folder(lab: &Lab, folder: &str, n: usize, secs: u64) {
    let t = std::time::Instant::now();
    while lab.fetch("workflow", folder).len() < n {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(secs),
            "{folder}: fewer than {n} after {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// How many requirements `crossdesk list --json` shows.
fn requirements(cfg: &std::path::Path) -> usize {
    let list = lab::crossdesk(cfg, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    v.as_array().expect("list --json is an array").len()
}

/// Submits `n` new requirements for 研发 from zhaoliu to the workflow
/// address, titled "{title} {i}", with Message-IDs "{id}{i}@client.test".
fn submit_requirements(lab: &Lab, n: usize, title: &str, id: &str) {
    let (wf, z) = (lab.addr("workflow"), lab.addr("zhaoliu"));
    for i in 0..n {
        let raw = mail(
            &z,
            &[&wf],
            &format!("【需求】{title} {i}"),
            &format!("{id}{i}@client.test"),
            None,
            "部门：研发\n\n请处理。",
        );
        lab.submit(&z, &[&wf], &raw);
    }
}

fn arrival_order(sort: bool) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    if !sort {
        // Dovecot announces what `imap_capability` says: everything but SORT.
        dovecot_imap_setting(&lab, "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS MOVE SPECIAL-USE");
    }
    let caps = lab::imap_capabilities(lab.imap_port, "workflow", &lab.password).unwrap();
    assert_eq!(caps.iter().any(|c| c == "SORT"), sort, "{caps:?}");
    let work = tempfile::tempdir().unwrap();
    // Batches of 16: the backlog is fetched, acted on and moved in several
    // chunks (on a second connection), in one order across them all.
    let cfg = lab::config_with(&lab, work.path(), &[("store", "batch = 16")], "");
    let wf = lab.addr("workflow");
    let zs = lab.addr("zhangsan");
    let n = 40;
    submit_requirements(&lab, n, "批次", "r");
    // All requirements delivered before any answer is sent. Counted on disk:
    // an IMAP look now would make Dovecot number them before the answers.
    let new_dir = lab.dir.join("mail/workflow/Maildir/new");
    let on_disk = || std::fs::read_dir(&new_dir).map(|d| d.count()).unwrap_or(0);
    let t = std::time::Instant::now();
    while on_disk() < n {
        assert!(t.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for i in 0..n {
        // No identifier in the subject: only In-Reply-To ties it to its requirement.
        let raw = mail(
            &zs,
            &[&wf],
            &format!("【确认】回复：批次 {i}"),
            &format!("c{i}@client.test"),
            Some(&format!("r{i}@client.test")),
            "可以。",
        );
        lab.submit(&zs, &[&wf], &raw);
    }
    // And a comment carrying a 4.5 MB attachment: larger than a batch's
    // share of the fetch budget (64 MiB / 16), so its size is asked for.
    let big = {
        let mut b = format!(
            "From: {zs}\r\nTo: {wf}\r\nSubject: 回复：批次 0\r\nMessage-ID: <big@client.test>\r\n\
             In-Reply-To: <r0@client.test>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0800\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n附件是数据。\r\n\
             --b1\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        );
        let line = "QUJD".repeat(19);
        for _ in 0..(4_500_000 / 78) {
            b.push_str(&line);
            b.push_str("\r\n");
        }
        b.push_str("--b1--\r\n");
        b.into_bytes()
    };
    lab.submit(&zs, &[&wf], &big);
    while on_disk() < 2 * n + 1 {
        assert!(t.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crossdesk"))
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--once"])
        .output()
        .unwrap();
    let log = plain(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    let by = if sort {
        "messages=81 large=1 order=\"arrival (UID SORT)\""
    } else {
        "messages=81 order=\"arrival (INTERNALDATE fetched)\""
    };
    assert!(log.contains(by), "{log}");
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_crossdesk"))
        .arg("--config")
        .arg(&cfg)
        .args(["list", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let states: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), n);
    assert!(states.iter().all(|s| *s == "confirmed"), "{states:?}");
    assert_eq!(lab.fetch("workflow", "Processed").len(), 2 * n + 1);
    // The requirements are numbered in the order Postfix delivered them,
    // which need not be the order they were submitted in (its queue manager
    // picks up a burst in queue-file order): 批次 0 is found by its title.
    let id = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["title"] == "批次 0")
        .and_then(|r| r["id"].as_str())
        .unwrap_or_else(|| panic!("no 批次 0 in {v}"))
        .to_string();
    let r1 = show(&cfg, &id);
    let comments = r1["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "comment")
        .count();
    assert_eq!(comments, 1, "{r1}");
}

/// A server that lets a user in only once at a time (providers limit
/// connections): the second connection a backlog asks for is refused, and
/// the first one moves everything itself.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_server_allowing_one_connection_gets_the_backlog_moved_on_the_first() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    dovecot_imap_setting(&lab, "mail_max_userip_connections = 1");
    let work = tempfile::tempdir().unwrap();
    let cfg = lab::config_with(&lab, work.path(), &[("store", "batch = 10")], "");
    let n = 35;
    submit_requirements(&lab, n, "一个连接", "one.");
    wait_inbox(&lab, n);
    let out = lab::crossdesk(&cfg, &["run", "--once"]);
    let log = plain(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("no second connection; moving on this one"),
        "{log}"
    );
    assert_eq!(lab.fetch("workflow", "INBOX").len(), 0, "inbox emptied");
    assert_eq!(lab.fetch("workflow", "Processed").len(), n);
    assert_eq!(requirements(&cfg), n, "each acted on once");
}

/// TLS both ways: IMAPS and SMTP with STARTTLS against the lab's own CA
/// (`ca_file`), checked with `check --connect` and a real send.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn imaps_and_smtp_starttls_with_a_private_ca() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&lab, work.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            &format!("url = \"imap://127.0.0.1:{}\"", lab.imap_port),
            &format!(
                "url = \"imaps://127.0.0.1:{}\"\nca_file = \"{}\"",
                lab.imaps_port, lab.ca_file
            ),
        )
        .replace(
            &format!("url = \"smtp://127.0.0.1:{}\"", lab.smtp_port),
            &format!(
                "url = \"smtp://127.0.0.1:{}?starttls\"\nca_file = \"{}\"",
                lab.smtp_port, lab.ca_file
            ),
        );
    assert!(text.contains("imaps://") && text.contains("?starttls"));
    std::fs::write(&cfg, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crossdesk"))
        .arg("--config")
        .arg(&cfg)
        .args(["check", "--connect"])
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{so}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        so.contains("logged in as workflow") && so.contains("EHLO ok"),
        "{so}"
    );
    // A daemon over IMAPS acts; its reply goes out over STARTTLS.
    let daemon = Daemon::start(&cfg, &work.path().join("daemon.log"));
    let wf = lab.addr("workflow");
    let raw = mail(
        &lab.addr("frank"),
        &[&wf],
        "[REQ] TLS probe",
        "tls.1@client.test",
        None,
        "Dept: ops\n\nx",
    );
    lab.submit(&lab.addr("frank"), &[&wf], &raw);
    let ack = lab.wait_for("frank", "INBOX", "[REQ-1]", |p| {
        p.subject.contains("[REQ-1]")
    });
    assert_eq!(ack.in_reply_to, "tls.1@client.test");
    assert!(daemon.stop().success());
}

/// A server without MOVE: messages leave the inbox by COPY, `\Deleted` and
/// UID EXPUNGE instead, on the main connection and on the second one a
/// backlog gets, and nothing is acted on twice.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_server_without_move_gets_copy_store_expunge() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    // Dovecot announces what `imap_capability` says: everything but MOVE.
    dovecot_imap_setting(&lab, "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS SPECIAL-USE");
    let caps = lab::imap_capabilities(lab.imap_port, "workflow", &lab.password).unwrap();
    assert!(caps.iter().any(|c| c == "UIDPLUS"), "{caps:?}");
    assert!(!caps.iter().any(|c| c == "MOVE"), "{caps:?}");

    let work = tempfile::tempdir().unwrap();
    let cfg = lab::config_with(&lab, work.path(), &[("store", "batch = 10")], "");
    let wf = lab.addr("workflow");
    let n = 25;
    submit_requirements(&lab, n, "无 MOVE 的服务器", "nomove.");
    // From someone the directory does not know: set aside, to Rejected.
    let stranger = lab.addr("stranger");
    let raw = mail(
        &stranger,
        &[&wf],
        "[REQ] hello",
        "nomove.x@client.test",
        None,
        "Dept: rd",
    );
    lab.submit(&stranger, &[&wf], &raw);
    wait_inbox(&lab, n + 1);
    for round in 0..2 {
        let out = lab::crossdesk(&cfg, &["run", "--once"]);
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(lab.fetch("workflow", "INBOX").len(), 0, "inbox emptied");
    assert_eq!(lab.fetch("workflow", "Processed").len(), n);
    assert_eq!(lab.fetch("workflow", "Rejected").len(), 1);
    assert_eq!(requirements(&cfg), n, "each acted on once");
}

/// A department member whose mailbox no longer exists: Postfix refuses that
/// one recipient (550 at RCPT) and the mail still reaches the others; the
/// outbox row is sent, with the refusal kept as its note.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_recipient_refused_for_good_does_not_stop_the_others() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&lab, work.path(), "");
    let d = &lab.domain;
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("members = [\"张三 <zhangsan@{d}>\", \"alice@{d}\"]"),
        &format!("members = [\"张三 <zhangsan@{d}>\", \"alice@{d}\", \"ghost@{d}\"]"),
    );
    assert!(text.contains("ghost@"));
    std::fs::write(&cfg, text).unwrap();
    let (wf, z, zs, wl) = (
        lab.addr("workflow"),
        lab.addr("zhaoliu"),
        lab.addr("zhangsan"),
        lab.addr("wanglei"),
    );
    let steps = [
        mail(
            &z,
            &[&wf],
            "【需求】导出客户数据",
            "gone.1@client.test",
            None,
            "部门：研发\n\n请导出。",
        ),
        mail(
            &zs,
            &[&wf],
            "【确认】回复：[REQ-1] 导出客户数据",
            "gone.2@client.test",
            Some("gone.1@client.test"),
            "可以。",
        ),
        mail(
            &wl,
            &[&wf],
            "【分配】[REQ-1]",
            "gone.3@client.test",
            None,
            &format!("- ghost@{d}: 编写导出脚本\n"),
        ),
    ];
    for (i, raw) in steps.iter().enumerate() {
        let f = work.path().join(format!("{i}.eml"));
        std::fs::write(&f, raw).unwrap();
        let out = lab::crossdesk(&cfg, &["ingest", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The assignment went To the vanished owner, Cc the group and the requester.
    let got = lab.wait_for("zhaoliu", "INBOX", "[REQ-1.1]", |p| {
        p.subject.contains("[REQ-1.1]")
    });
    assert!(
        got.to.iter().any(|a| a.starts_with("ghost@")),
        "{:?}",
        got.to
    );
    lab.wait_for("alice", "INBOX", "[REQ-1.1] via the rd group", |p| {
        p.subject.contains("[REQ-1.1]")
    });
    let db = rusqlite::Connection::open(work.path().join("crossdesk.db")).unwrap();
    let (status, note): (String, Option<String>) = db
        .query_row(
            "SELECT status, last_error FROM outbox WHERE kind = 'assigned'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "sent");
    let note = note.unwrap_or_default();
    assert!(note.contains("ghost@") && note.contains("550"), "{note}");
}

/// The relay is down for more than three days: the replies fail for good
/// ("gave up after 73 hours"). `outbox list` shows them with the error;
/// once it is back, `outbox retry --failed` puts them back in the queue and
/// they are delivered. Mail that was sent, or does not exist, is not put
/// back, and says so.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn mail_that_failed_for_good_is_listed_and_sent_again_when_put_back() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&lab, work.path(), "");
    let z = lab.addr("zhaoliu");
    let f = req_file(&lab, work.path(), "季度报表", "relay.1@client.test");
    let ok = |o: &std::process::Output| {
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let stdout = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();

    lab.ctl("stop-postfix");
    ok(&lab::crossdesk_at(
        &cfg,
        "2026-11-30 10:00",
        &["ingest", f.to_str().unwrap()],
    ));
    let o = lab::crossdesk_at(&cfg, "2026-12-03 11:00", &["outbox"]);
    ok(&o);
    assert!(
        stdout(&o).contains("0 queued, 0 sent, 2 failed"),
        "{}",
        stdout(&o)
    );

    let list = held_mail(&cfg, 2, "failed", |e| {
        e.starts_with("gave up after 73 hours")
    });
    let kinds: Vec<&str> = list.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"ack") && kinds.contains(&"dept_new"),
        "{kinds:?}"
    );
    let ack = list.iter().find(|m| m["kind"] == "ack").unwrap();
    assert_eq!(ack["rcpts"][0], z.as_str());
    let text = stdout(&lab::crossdesk(
        &cfg,
        &["outbox", "list", "--status", "failed"],
    ));
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("failed  ack REQ-1  to ") && text.contains("error: gave up"),
        "{text}"
    );

    lab.ctl("start-postfix");
    let o = lab::crossdesk_at(&cfg, "2026-12-03 11:05", &["outbox", "retry", "--failed"]);
    ok(&o);
    let text = stdout(&o);
    assert_eq!(text.matches("failed → queued").count(), 2, "{text}");
    assert!(
        text.contains("outbox: 0 queued, 2 sent, 0 failed"),
        "{text}"
    );
    lab.wait_for("zhaoliu", "INBOX", "the acknowledgement", |p| {
        p.subject.contains("[REQ-1]")
    });
    lab.wait_for("alice", "INBOX", "the rd group's notice", |p| {
        p.subject.contains("[REQ-1]")
    });

    let id = ack["id"].as_i64().unwrap().to_string();
    for (args, says) in [
        (
            vec!["outbox", "retry", id.as_str()],
            "is sent: not put back",
        ),
        (vec!["outbox", "retry", "999"], "no outbox mail 999"),
    ] {
        let o = lab::crossdesk(&cfg, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let o = lab::crossdesk(&cfg, &["outbox", "list", "--status", "bogus"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("use one of queued, sent"));
}

/// SMTP AUTH against the lab's Postfix (Dovecot SASL). A wrong password is
/// the relay's settings, not the mail's fault: `check --connect` says so,
/// and the replies stay queued with the refusal as their error rather than
/// failing for good; with the password right, they go out.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn smtp_auth_refused_keeps_the_mail_queued_until_the_password_is_right() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = lab::config_with(
        &lab,
        work.path(),
        &[("smtp", "user = \"workflow\"\npassword_file = \"smtp.pass\"")],
        "",
    );
    let pass = work.path().join("smtp.pass");
    std::fs::write(&pass, "not-the-password\n").unwrap();
    let out = lab::crossdesk(&cfg, &["check", "--connect"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(
        text.contains("AUTH") && text.contains("check [smtp] user and the password"),
        "{text}"
    );

    ingest_req(&lab, &cfg, work.path(), "年度预算", "auth.1@client.test");
    held_mail(&cfg, 2, "queued", |e| {
        e.contains("AUTH") && e.contains("535")
    });

    std::fs::write(&pass, format!("{}\n", lab.password)).unwrap();
    let out = lab::crossdesk(&cfg, &["check", "--connect"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("EHLO ok, AUTH ok"), "{text}");
    // Due on the retry schedule (a minute on): the daemon's next drain.
    let out = lab::crossdesk_at(&cfg, &in_two_minutes(), &["outbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("outbox: 0 queued, 2 sent"), "{text}");
    lab.wait_for("zhaoliu", "INBOX", "the acknowledgement", |p| {
        p.subject.contains("[REQ-1]")
    });
}

/// A new requirement from zhaoliu for R&D, written to `dir/req.eml`.
fn req_file(lab: &Lab, dir: &std::path::Path, title: &str, mid: &str) -> std::path::PathBuf {
    let f = dir.join("req.eml");
    let raw = mail(
        &lab.addr("zhaoliu"),
        &[&lab.addr("workflow")],
        &format!("【需求】{title}"),
        mid,
        None,
        &format!("部门：研发\n\n请准备{title}。"),
    );
    std::fs::write(&f, raw).unwrap();
    f
}

/// `crossdesk ingest` of `req_file`'s mail; it must succeed.
fn ingest_req(lab: &Lab, cfg: &std::path::Path, dir: &std::path::Path, title: &str, mid: &str) {
    let f = req_file(lab, dir, title, mid);
    let out = lab::crossdesk(cfg, &["ingest", f.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `outbox list --json`: exactly `n` mails not sent, each with `status`
/// and a last error that `error` accepts.
fn held_mail(
    cfg: &std::path::Path,
    n: usize,
    status: &str,
    error: impl Fn(&str) -> bool,
) -> Vec<serde_json::Value> {
    let out = lab::crossdesk(cfg, &["outbox", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), n, "{list:?}");
    for m in &list {
        assert_eq!(m["status"], status, "{m}");
        let e = m["last_error"].as_str().unwrap_or_default();
        assert!(error(e), "{e}");
    }
    list
}

/// Two minutes from now, as CROSSDESK_NOW takes it (RFC 3339).
fn in_two_minutes() -> String {
    (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339()
}

/// A relay that stops answering in the middle of a mail (here Postfix
/// sleeping 5 s before it answers RCPT) must not hold the outbox for good:
/// past `[smtp] timeout_seconds` the try is a transient failure, the mail
/// stays queued with the reason, and it goes out once the relay answers.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_relay_that_stops_answering_times_out_and_the_mail_waits() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = lab::config_with(
        &lab,
        work.path(),
        &[("smtp", "timeout_seconds = 2\nretry_seconds = [1]")],
        "",
    );
    let main_cf = lab.dir.join("postfix").join("main.cf");
    let plain = std::fs::read_to_string(&main_cf).unwrap();
    std::fs::write(
        &main_cf,
        format!("{plain}smtpd_recipient_restrictions = sleep 5\n"),
    )
    .unwrap();
    lab.ctl("stop-postfix");
    lab.ctl("start-postfix");

    let f = req_file(&lab, work.path(), "交付计划", "slow.1@client.test");
    let t = std::time::Instant::now();
    let out = lab::crossdesk(&cfg, &["ingest", f.to_str().unwrap()]);
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        took < std::time::Duration::from_secs(20),
        "the drain gave up waiting: {took:?}"
    );
    held_mail(&cfg, 2, "queued", |e| e.contains("no answer within 2 s"));

    std::fs::write(&main_cf, plain).unwrap();
    lab.ctl("stop-postfix");
    lab.ctl("start-postfix");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = lab::crossdesk(&cfg, &["outbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("outbox: 0 queued, 2 sent"), "{text}");
    lab.wait_for("zhaoliu", "INBOX", "the acknowledgement", |p| {
        p.subject.contains("[REQ-1]")
    });
}

/// Folders named in Chinese, as a Chinese company names them: the watched
/// folder, the processed and the rejected one. IMAP names them in
/// modified UTF-7 (RFC 3501 5.1.3) on the wire and on disk.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn folders_named_in_chinese_are_watched_and_filled() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    // Python: base64 of the UTF-16BE, '/' as ',', no padding, in & … -.
    let (watched, processed, rejected) = ("&XeVPXG1B-", "&XfJZBHQG-", "&XfJi0n7d-");
    lab.imap_commands("workflow", "INBOX", &[&format!("CREATE {watched}")]);
    let work = tempfile::tempdir().unwrap();
    let cfg = lab::config_with(
        &lab,
        work.path(),
        &[(
            "imap",
            "folder = \"工作流\"\nprocessed_folder = \"已处理\"\nrejected_folder = \"已拒绝\"",
        )],
        "",
    );
    let wf = lab.addr("workflow");
    submit_requirements(&lab, 2, "中文文件夹", "cnfolder.");
    let stranger = lab.addr("stranger");
    let raw = mail(
        &stranger,
        &[&wf],
        "[REQ] hello",
        "cnfolder.x@client.test",
        None,
        "Dept: rd",
    );
    lab.submit(&stranger, &[&wf], &raw);
    wait_inbox(&lab, 3);
    // A mail rule files them into the watched folder.
    lab.imap_commands("workflow", "INBOX", &[&format!("UID MOVE 1:* {watched}")]);
    assert_eq!(lab.maildir_count("workflow", watched), 3);

    let out = lab::crossdesk(&cfg, &["check", "--connect"]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("工作流"), "folders listed by name: {text}");
    assert!(!text.contains(watched), "{text}");

    let out = lab::crossdesk(&cfg, &["run", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lab.maildir_count("workflow", watched),
        0,
        "watched folder emptied"
    );
    assert_eq!(lab.fetch("workflow", processed).len(), 2);
    assert_eq!(lab.fetch("workflow", rejected).len(), 1);
    assert_eq!(lab.maildir_count("workflow", "INBOX"), 0);
    assert_eq!(requirements(&cfg), 2, "each acted on once");
}

/// A server that offers only IMAP4rev1 (no IDLE, MOVE, UIDPLUS or SORT,
/// as some webmail providers' IMAP): the daemon polls, orders a backlog by
/// the dates it fetches, and moves with COPY, \Deleted and EXPUNGE.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_server_with_only_imap4rev1_is_polled_and_emptied() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    dovecot_imap_setting(&lab, "imap_capability = IMAP4rev1 LITERAL+");
    let caps = lab::imap_capabilities(lab.imap_port, "workflow", &lab.password).unwrap();
    for c in ["IDLE", "MOVE", "UIDPLUS", "SORT"] {
        assert!(!caps.iter().any(|x| x == c), "{c} in {caps:?}");
    }
    let work = tempfile::tempdir().unwrap();
    let cfg = lab::config_with(&lab, work.path(), &[("imap", "poll_seconds = 1")], "");
    submit_requirements(&lab, 3, "只有 IMAP4rev1", "bare.");
    wait_inbox(&lab, 3);
    // Later mail is found by the poll.
    let text = three_then_one(&lab, &cfg, &work.path().join("daemon.log"), "轮询");
    assert!(
        text.contains("idle=false move=false"),
        "polling, without MOVE:\n{text}"
    );
    assert!(
        text.contains("order=\"arrival (INTERNALDATE fetched)\""),
        "{text}"
    );
    assert_eq!(requirements(&cfg), 4, "each acted on once");
}

/// A relay that takes mail only over TLS (Postfix's
/// `smtpd_tls_security_level = encrypt`) while `[smtp] url` asks for none:
/// 530 at MAIL FROM is the relay's setting, not the mail's fault, so the
/// mail waits on the retry schedule with an error that says what to
/// check, and goes out once the url asks for STARTTLS.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_relay_that_requires_tls_keeps_the_mail_queued_until_the_url_asks_for_it() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = lab::config_with(&lab, work.path(), &[], "");
    let main_cf = lab.dir.join("postfix").join("main.cf");
    let plain = std::fs::read_to_string(&main_cf).unwrap();
    std::fs::write(
        &main_cf,
        format!("{plain}smtpd_tls_security_level = encrypt\n"),
    )
    .unwrap();
    lab.ctl("stop-postfix");
    lab.ctl("start-postfix");

    let out = lab::crossdesk(&cfg, &["check", "--connect"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG: {err}");
    assert!(
        err.contains("FAILED: MAIL FROM: permanent error (530)")
            && err.contains("check [smtp] url"),
        "{err}"
    );

    ingest_req(&lab, &cfg, work.path(), "加密传输", "tls.1@client.test");
    held_mail(&cfg, 2, "queued", |e| {
        e.contains("530") && e.contains("check [smtp] url")
    });

    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("url = \"smtp://127.0.0.1:{}\"", lab.smtp_port),
        &format!(
            "url = \"smtp://127.0.0.1:{}?starttls\"\nca_file = \"{}\"",
            lab.smtp_port, lab.ca_file
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    let out = lab::crossdesk(&cfg, &["check", "--connect"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("EHLO ok, MAIL FROM ok"), "{text}");
    let out = lab::crossdesk_at(&cfg, &in_two_minutes(), &["outbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("outbox: 0 queued, 2 sent"), "{text}");
    lab.wait_for("zhaoliu", "INBOX", "the acknowledgement", |p| {
        p.subject.contains("[REQ-1]")
    });
}

/// The workflow mailbox in mdbox (Dovecot's own format, as the benchmark's
/// second lab has it): IMAP hides the format, and the daemon finds the
/// backlog, is told of later mail by IDLE, and moves each message once.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn an_mdbox_mailbox_is_watched_and_emptied() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::start_with("corp.test", &[("LAB_MDBOX_USERS", "workflow")]);
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&lab, work.path(), "");
    submit_requirements(&lab, 3, "mdbox 积压", "mdbox.");
    // No Maildir to count: the lab's IMAP says when all three are in.
    wait_folder(&lab, "INBOX", 3, 30);
    assert!(lab.dir.join("mail/workflow/mdbox/storage").is_dir());
    assert!(!lab.dir.join("mail/workflow/Maildir").exists());
    let text = three_then_one(&lab, &cfg, &work.path().join("daemon.log"), "mdbox 新邮件");
    assert!(text.contains("idle=true move=true"), "{text}");
    assert_eq!(requirements(&cfg), 4, "each acted on once");
}

/// A deployment without IMAP: Postfix pipes the mail for crossdesk@DOMAIN
/// to `crossdesk ingest -` as the mail user (docs/operations.md#pipe). A
/// requirement is answered over the lab's SMTP; while the store cannot be
/// written the command exits 75 (EX_TEMPFAIL), Postfix defers the mail
/// and delivers it again, and it is answered once, when the store is back.
#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn mail_piped_by_postfix_is_answered_and_a_tempfail_is_delivered_again() {
    use std::os::unix::fs::PermissionsExt;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (desk, cmd) = lab::pipe_desk();
    let lab = Lab::start_with(
        "corp.test",
        &[("LAB_PIPE_TO", "crossdesk"), ("LAB_PIPE_CMD", &cmd)],
    );
    let cfg = lab::pipe_config(&lab, desk.path());
    let (to, z) = (lab.addr("crossdesk"), lab.addr("zhaoliu"));
    let submit = |i: u32| {
        let raw = mail(
            &z,
            &[&to],
            &format!("【需求】管道投递 {i}"),
            &format!("pipe.{i}@client.test"),
            None,
            "部门：研发\n\n请处理。",
        );
        lab.submit(&z, &[&to], &raw);
    };
    submit(1);
    lab.wait_for("zhaoliu", "INBOX", "[REQ-1]", |p| {
        p.subject.contains("[REQ-1]")
    });

    let db = desk.path().join("crossdesk.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    submit(2);
    let log = lab.dir.join("logs/postfix.log");
    let t = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.contains("relay=crossdesk") && l.contains("status=deferred"))
        {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 30,
            "no deferral in Postfix's log:\n{}",
            lab.log_tail("postfix.log", 30)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    lab.wait_for("zhaoliu", "INBOX", "[REQ-2]", |p| {
        p.subject.contains("[REQ-2]")
    });
    let list = lab::crossdesk(&cfg, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "each acted on once");
    let acks = lab
        .fetch("zhaoliu", "INBOX")
        .iter()
        .filter(|r| Parsed::new(r).subject.contains("[REQ-2]"))
        .count();
    assert_eq!(acks, 1, "the deferred mail answered once");
}
