//! The clock end to end on real mail servers: a department digest sent by
//! the daemon's scheduler over SMTP to a department's group address
//! arrives, through Postfix's alias, in every member's IMAP mailbox, with
//! text and HTML parts, once.

mod lab;

use chrono::{Datelike, Duration, Utc, Weekday};
use lab::{config, mail, Daemon, Lab, Parsed};
use std::process::{Command, Stdio};

/// Next week's Monday at 09:00 (Shanghai), as `CROSSDESK_NOW` takes it:
/// a slot that lies after the clock's first start whenever the test runs.
fn next_monday_nine() -> String {
    let mut d = (Utc::now() + Duration::days(7)).date_naive();
    while d.weekday() != Weekday::Mon {
        d = d.succ_opt().unwrap();
    }
    format!("{d} 09:00")
}

fn daemon_at(cfg: &std::path::Path, log: &std::path::Path, now: &str) -> Daemon {
    let f = std::fs::File::create(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_crossdesk"))
        .arg("--config")
        .arg(cfg)
        .arg("run")
        .env("CROSSDESK_LOG", "info")
        .env("CROSSDESK_NOW", now)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("start crossdesk");
    Daemon {
        child,
        cfg: cfg.to_path_buf(),
    }
}

#[test]
#[ignore = "mail lab: needs root, Dovecot and Postfix; run scripts/test.sh"]
fn a_digest_reaches_every_member_through_the_group_alias_with_text_and_html() {
    let lab = Lab::start("corp.test");
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&lab, work.path(), "");
    // A requirement from Marketing to Operations, acted on in real time
    // (the clock starts now; its latest slot lies before that: no digest).
    let daemon = Daemon::start(&cfg, &work.path().join("daemon1.log"));
    let frank = lab.addr("frank");
    let wf = lab.addr("workflow");
    let raw = mail(
        &frank,
        &[&wf],
        "[REQ] Landing page for the Q1 campaign",
        "clock-req-1@client.test",
        None,
        "Dept: ops\nDue: 2030-12-20\n\nWe need a landing page.",
    );
    lab.submit(&frank, &[&wf], &raw);
    lab.wait_for("frank", "INBOX", "acknowledging REQ-1", |p| {
        p.subject.contains("[REQ-1]")
    });
    assert!(daemon.stop().success());

    // The daemon again, its clock fixed at next Monday 09:00: the
    // scheduler sends Operations (asked to confirm) and Marketing (its own
    // request) their digests, to the group addresses.
    let slot = next_monday_nine();
    let date = &slot[..10];
    let log = work.path().join("daemon2.log");
    let daemon = daemon_at(&cfg, &log, &slot);
    let expect = [
        ("dave", "ops", format!("Operations digest for {date}")),
        ("bob", "ops", format!("Operations digest for {date}")),
        ("emma", "mkt", format!("Marketing digest for {date}")),
        ("frank", "mkt", format!("Marketing digest for {date}")),
    ];
    for (user, group, subject) in &expect {
        let p = lab.wait_for(user, "INBOX", subject, |p: &Parsed| p.subject == *subject);
        assert_eq!(p.from, wf);
        assert_eq!(
            p.to,
            vec![lab.addr(group)],
            "sent to the group, not the person"
        );
        assert_eq!(p.auto_submitted, "auto-generated");
        assert!(p.text.contains("[REQ-1]"), "{user}: {}", p.text);
        assert!(
            p.html.contains("<table") && p.html.contains("[REQ-1]"),
            "{user}: html part"
        );
        assert!(!p.message_id.is_empty());
    }
    // Once: a few more scheduler ticks change nothing.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(daemon.stop().success());
    for (user, _, subject) in &expect {
        let n = lab
            .fetch(user, "INBOX")
            .iter()
            .filter(|r| Parsed::new(r).subject == *subject)
            .count();
        assert_eq!(n, 1, "{user} got {n} digests");
    }
    // Sales and R&D have nothing to report: no digest.
    for user in ["zhangsan", "lina"] {
        assert!(lab
            .fetch(user, "INBOX")
            .iter()
            .all(|r| !Parsed::new(r).subject.contains("协作日报")));
    }
}
