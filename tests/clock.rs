//! The clock through the real binary, on a fixed clock (`CROSSDESK_NOW`):
//! department digests once per slot across restarts, kills and concurrent
//! runs; one catch-up after days down; reminders once per condition; a
//! reply to a digest gets the help text. And the digest and reminder mails
//! rendered in both languages, section by section.

mod common;

use common::*;
use crossdesk::config::Config;
use crossdesk::render::Renderer;
use crossdesk::schedule::{digest, reminders};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first steps of both stories: REQ-1 (sales → rd, qa: REQ-1.1
/// accepted, REQ-1.2 declined, REQ-1.3 assigned) and REQ-2 (mkt → ops, it).
fn story_files() -> Vec<PathBuf> {
    let mut v = vec![];
    for dir in ["story_zh", "story_en"] {
        for f in fixtures(dir) {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name.as_str() < "10" {
                v.push(f);
            }
        }
    }
    v
}

fn at(desk: &Desk, now: &str, args: &[&str]) -> String {
    let out = desk
        .command()
        .env("CROSSDESK_NOW", now)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?} at {now}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A deployment holding both stories' first steps, ingested on Monday
/// 2026-11-30 at 10:00 (Shanghai), the clock never run.
fn desk() -> Desk {
    let d = Desk::new();
    let files = story_files();
    let mut c = d.command();
    c.env("CROSSDESK_NOW", "2026-11-30 10:00")
        .arg("ingest")
        .args(&files);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

/// (dept group, slot date) of every digest in the outbox, in order.
fn digests(d: &Desk) -> Vec<(String, String)> {
    let db = d.db();
    let mut st = db
        .prepare("SELECT payload FROM outbox WHERE kind = 'digest' ORDER BY id")
        .unwrap();
    let rows: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.iter()
        .map(|p| {
            let v: serde_json::Value = serde_json::from_str(p).unwrap();
            (
                v["to"][0]["address"].as_str().unwrap().to_string(),
                v["ctx"]["digest"]["date"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn clock_keys(d: &Desk, prefix: &str) -> Vec<String> {
    let db = d.db();
    let mut st = db
        .prepare("SELECT key FROM clock_sent WHERE key LIKE ?1 ORDER BY key")
        .unwrap();
    let v = st
        .query_map([format!("{prefix}%")], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    v
}

/// The groups with something to report after the stories' first steps:
/// rd (tasks), sales (its request), ops and it (asked to confirm, tasks),
/// mkt (its request). QA confirmed and holds no task: its digest is empty.
const GROUPS: [&str; 5] = [
    "rd@corp.example",
    "sales@corp.example",
    "ops@corp.example",
    "mkt@corp.example",
    "it@corp.example",
];

fn groups_on(d: &Desk, date: &str) -> Vec<String> {
    let mut v: Vec<String> = digests(d)
        .into_iter()
        .filter(|(_, day)| day == date)
        .map(|(g, _)| g)
        .collect();
    v.sort();
    v
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `crossdesk run` (the daemon, Maildir source) at a fixed clock.
fn daemon(d: &Desk, now: &str) -> std::process::Child {
    d.command()
        .env("CROSSDESK_NOW", now)
        .args(["run", "--poll", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn each_digest_is_sent_once_per_slot_across_restarts_kills_and_downtime() {
    let d = desk();
    // The clock's first start, Monday 08:00: Friday's slot predates it.
    let out = at(&d, "2026-11-30 08:00", &["digest"]);
    assert!(out.lines().all(|l| l.ends_with("before_start")), "{out}");
    assert!(digests(&d).is_empty());

    // Monday 09:00: one digest per department with something to report;
    // QA's is empty (recorded, not sent).
    at(&d, "2026-11-30 09:00", &["run", "--once"]);
    assert_eq!(groups_on(&d, "2026-11-30"), sorted(&GROUPS));
    assert_eq!(clock_keys(&d, "digest:").len(), 6);
    // Restarted at the same minute, and a little later: nothing new.
    at(&d, "2026-11-30 09:00", &["run", "--once"]);
    at(&d, "2026-11-30 09:10", &["run", "--once"]);
    let out = at(&d, "2026-11-30 17:00", &["digest"]);
    assert!(out.lines().all(|l| l.ends_with("already_sent")), "{out}");
    assert_eq!(digests(&d).len(), 5);

    // Tuesday 09:00, the daemon: killed (SIGKILL) once it sent, restarted
    // around the same slot: still one digest per department.
    let mut p = daemon(&d, "2026-12-01 09:00");
    wait_for("Tuesday's digests", Duration::from_secs(30), || {
        groups_on(&d, "2026-12-01").len() == 5
    });
    p.kill().unwrap();
    p.wait().unwrap();
    let mut p = daemon(&d, "2026-12-01 09:00");
    std::thread::sleep(Duration::from_secs(3));
    let _ = Command::new("kill")
        .args(["-TERM", &p.id().to_string()])
        .status();
    assert!(p.wait().unwrap().success());
    assert_eq!(groups_on(&d, "2026-12-01"), sorted(&GROUPS));
    assert_eq!(digests(&d).len(), 10);

    // Down Wednesday and Thursday; back on Friday at 10:00: one catch-up
    // (Friday's slot), not three.
    at(&d, "2026-12-04 10:00", &["run", "--once"]);
    assert_eq!(digests(&d).len(), 15);
    assert_eq!(groups_on(&d, "2026-12-04"), sorted(&GROUPS));
    assert!(groups_on(&d, "2026-12-02").is_empty());
    assert!(groups_on(&d, "2026-12-03").is_empty());
    assert!(clock_keys(&d, "digest:rd:2026-12-02").is_empty());

    // Every digest reached the transport, to the group, threaded and
    // tagged, with text and HTML, about no item.
    for s in d.sent().iter().filter(|s| s.kind == "digest") {
        assert!(s.delivered && s.status == "sent", "{}", s.subject);
        assert_eq!(s.auto_submitted, "auto-generated");
        assert_eq!(s.item, None);
        assert!(!s.subject.contains("[REQ"), "{}", s.subject);
        assert_eq!(s.to.len(), 1);
        assert!(GROUPS.contains(&s.to[0].as_str()));
        assert!(!s.text.is_empty() && s.html.contains("<table"));
        let thread = format!(
            "crossdesk.digest.{}@corp.example",
            s.to[0].split('@').next().unwrap()
        );
        assert_eq!(s.in_reply_to, vec![thread.clone()]);
        assert_eq!(s.references, vec![thread]);
        let raw = String::from_utf8_lossy(&s.raw);
        assert!(raw.contains("X-Crossdesk-Kind: digest"));
    }
}

#[test]
fn concurrent_digest_runs_send_each_digest_once() {
    let d = desk();
    at(&d, "2026-11-30 08:00", &["digest"]);
    let kids: Vec<_> = (0..3)
        .map(|_| {
            d.command()
                .env("CROSSDESK_NOW", "2026-11-30 09:00")
                .arg("digest")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut queued = 0;
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success());
        queued += String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.ends_with("\tqueued"))
            .count();
    }
    assert_eq!(queued, 5);
    assert_eq!(digests(&d).len(), 5);
}

#[test]
fn digest_dry_run_prints_and_queues_nothing_and_at_selects_the_slot() {
    let d = desk();
    let out = at(
        &d,
        "2026-11-30 08:00",
        &[
            "digest",
            "--dry-run",
            "--dept",
            "rd",
            "--at",
            "2026-12-01 10:30",
        ],
    );
    assert!(out.contains("slot 2026-12-01 09:00"), "{out}");
    assert!(out.contains("研发部协作日报 2026-12-01"), "{out}");
    assert!(
        out.contains("[REQ-1.3]") && out.contains("待接收的任务"),
        "{out}"
    );
    let html = at(
        &d,
        "2026-11-30 08:00",
        &[
            "digest",
            "--dry-run",
            "--html",
            "--dept",
            "ops",
            "--at",
            "2026-12-01 09:00",
        ],
    );
    assert!(
        html.contains("<table") && html.contains("Requests awaiting our confirmation"),
        "{html}"
    );
    assert!(digests(&d).is_empty());
    let db = d.db();
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM clock_sent", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "a dry run records nothing");
    // A department that does not exist is an error that lists the known ones.
    let out = d
        .command()
        .args(["digest", "--dry-run", "--dept", "finance"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("known: rd"));
}

#[test]
fn a_reply_to_a_digest_naming_no_item_gets_the_help_text() {
    let d = desk();
    at(&d, "2026-11-30 08:00", &["digest"]);
    at(&d, "2026-11-30 09:00", &["digest", "--dept", "rd"]);
    let dig = d
        .sent()
        .into_iter()
        .find(|s| s.kind == "digest")
        .expect("a digest");
    let reply = d.path("reply.eml");
    std::fs::write(
        &reply,
        format!(
            "From: 张三 <zhangsan@corp.example>\r\nTo: workflow@corp.example\r\n\
             Subject: =?UTF-8?B?{}?=\r\nMessage-ID: <reply-to-digest@corp.example>\r\n\
             In-Reply-To: <{}>\r\nReferences: <{}> <{}>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0800\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n收到，谢谢！\r\n",
            b64("回复：研发部协作日报 2026-11-30"),
            dig.message_id,
            dig.references[0],
            dig.message_id
        ),
    )
    .unwrap();
    let v = {
        let mut c = d.command();
        c.env("CROSSDESK_NOW", "2026-11-30 10:00")
            .arg("ingest")
            .arg(&reply);
        let out = c.output().unwrap();
        parse_verdicts(&String::from_utf8_lossy(&out.stdout)).remove(0)
    };
    assert_eq!(v.verdict, "help");
    assert_eq!(v.item, None);
    let help = d.sent().into_iter().rfind(|s| s.kind == "help").unwrap();
    assert_eq!(help.to, ["zhangsan@corp.example"]);
    assert_eq!(help.in_reply_to, ["reply-to-digest@corp.example"]);
}

#[test]
fn reminders_are_sent_once_per_condition_across_runs() {
    let d = desk();
    let reminders = |d: &Desk| -> Vec<(String, Vec<String>, String)> {
        d.sent()
            .into_iter()
            .filter(|s| s.kind == "reminder")
            .map(|s| {
                (
                    s.item.clone().unwrap_or_default(),
                    s.to.clone(),
                    s.subject.clone(),
                )
            })
            .collect()
    };
    // REQ-1.3 (李雷) and REQ-2.x were assigned Monday 10:00: not yet 24h.
    at(&d, "2026-12-01 09:30", &["run", "--once"]);
    assert!(reminders(&d).is_empty(), "{:?}", reminders(&d));
    // Tuesday 10:00: the accept reminders, once, to the owners, in their
    // language; a second run and a restart add nothing.
    at(&d, "2026-12-01 10:00", &["run", "--once"]);
    let first = reminders(&d);
    assert!(!first.is_empty());
    let lilei = first
        .iter()
        .find(|(item, _, _)| item == "REQ-1.3")
        .expect("REQ-1.3 reminded");
    assert_eq!(lilei.1, ["lilei@corp.example"]);
    assert!(
        lilei.2.starts_with("[REQ-1.3] 提醒：请接收任务"),
        "{}",
        lilei.2
    );
    at(&d, "2026-12-01 10:00", &["run", "--once"]);
    at(&d, "2026-12-01 15:00", &["run", "--once"]);
    assert_eq!(reminders(&d), first);
    assert!(clock_keys(&d, "remind:REQ-1.3:accept").len() == 1);
    // The reminder is threaded on the requirement and a reply to it acts
    // on the task.
    let r = d
        .sent()
        .into_iter()
        .find(|s| s.kind == "reminder" && s.item.as_deref() == Some("REQ-1.3"))
        .unwrap();
    assert_well_formed(&r, None);
    assert_lang(&r, Lang::Zh);
}

/// `crossdesk restore` of a store that does not know the digests and
/// reminders sent after its backup was taken: what is due at the restore
/// is recorded as sent, with no mail, so that none goes out twice.
#[test]
fn a_restore_sends_no_digest_or_reminder_a_second_time() {
    let d = desk();
    // The clock's first start on Monday, then Monday's backup.
    at(&d, "2026-11-30 10:30", &["run", "--once"]);
    let backup = d.path("monday.db");
    at(
        &d,
        "2026-11-30 10:45",
        &["backup", backup.to_str().unwrap()],
    );
    // Tuesday 10:00: the 09:00 digests and the accept reminders go out.
    at(&d, "2026-12-01 10:00", &["run", "--once"]);
    let files = || {
        std::fs::read_dir(d.outbox_dir().join("new"))
            .unwrap()
            .count()
    };
    let sent = files();
    let kinds = |d: &Desk| {
        d.sent()
            .iter()
            .filter(|s| s.kind == "digest" || s.kind == "reminder")
            .count()
    };
    assert!(kinds(&d) >= 6, "digests and reminders sent on Tuesday");
    let reminded = clock_keys(&d, "remind:");
    assert!(!reminded.is_empty());

    // The store is lost; Monday's backup is put back on Tuesday at 10:30.
    let said = at(
        &d,
        "2026-12-01 10:30",
        &["restore", backup.to_str().unwrap()],
    );
    assert!(
        said.contains("digest slots and")
            && said.contains("reminders due now are recorded as sent"),
        "{said}"
    );
    assert_eq!(clock_keys(&d, "remind:"), reminded, "recorded again");
    at(&d, "2026-12-01 11:00", &["run", "--once"]);
    at(&d, "2026-12-01 15:00", &["run", "--once"]);
    assert_eq!(files(), sent, "nothing sent a second time");
    assert_eq!(kinds(&d), 0, "the restored store queued none");
    // The next slot is sent as usual.
    at(&d, "2026-12-02 09:05", &["run", "--once"]);
    assert!(kinds(&d) >= 5, "Wednesday's digests");
}

// ------------------------------------------------------------- rendering

/// A deployment's config with the demo departments and the example clock.
fn config() -> Config {
    let text = include_str!("../config/demo.toml").to_string()
        + r#"
[calendar]
holidays = ["2026-10-01", "2026-10-02"]
workdays = ["2026-10-11"]
"#;
    let text = text.replace("[store]", "[reminders]\nreport_every = \"3d\"\n[store]");
    Config::from_str(&text, "demo.toml", Path::new("/tmp")).unwrap()
}

/// Requirements that put a row in every section for rd (zh) and ops (en).
fn every_section() -> Vec<crossdesk::model::Requirement> {
    let mk = |json: &str| serde_json::from_str(json).unwrap();
    let owner = |n: &str, a: &str| format!(r#"{{"name":"{n}","address":"{a}"}}"#);
    let task = |id: u32,
                n: u32,
                dept: &str,
                who: &str,
                state: &str,
                due: &str,
                report: &str,
                blocked: bool| {
        format!(
            r#"{{"id":{{"req":{id},"n":{n}}},"owner":{who},"assigner":{who},"dept":"{dept}","title":"T{id}.{n}","due":{due},"quality":null,"state":"{state}","progress":40,"blocked":{blocked},"last_report":{report},"created_at":"2026-11-02T02:00:00Z"}}"#
        )
    };
    let req = |id: u32,
               title: &str,
               by: &str,
               by_dept: &str,
               depts: &str,
               state: &str,
               tasks: Vec<String>| {
        mk(&format!(
            r#"{{"id":{id},"title":"{title}","requester":{by},"requester_dept":"{by_dept}","depts":{depts},"due":"2026-12-20","quality":null,"priority":"normal","description":"","state":"{state}","tasks":[{}],"milestones":[],"created_at":"2026-11-02T02:00:00Z","updated_at":"2026-11-02T02:00:00Z"}}"#,
            tasks.join(",")
        ))
    };
    let zs = owner("张三", "zhangsan@corp.example");
    let bob = owner("Bob Smith", "bob@corp.example");
    let zl = owner("赵六", "zhaoliu@corp.example");
    vec![
        // Asking rd and ops to confirm.
        req(
            1,
            "待确认",
            &zl,
            "sales",
            r#"[{"id":"rd","confirmed":false},{"id":"ops","confirmed":false}]"#,
            "proposed",
            vec![],
        ),
        // Our own (rd's and ops's) requests.
        req(
            2,
            "Ours",
            &zs,
            "rd",
            r#"[{"id":"sales","confirmed":true}]"#,
            "confirmed",
            vec![],
        ),
        req(
            3,
            "Ours too",
            &bob,
            "ops",
            r#"[{"id":"sales","confirmed":true}]"#,
            "confirmed",
            vec![],
        ),
        // Tasks of every kind, for rd and ops.
        req(
            4,
            "Work",
            &zl,
            "sales",
            r#"[{"id":"rd","confirmed":true},{"id":"ops","confirmed":true}]"#,
            "in_progress",
            vec![
                task(4, 1, "rd", &zs, "assigned", "null", "null", false),
                task(
                    4,
                    2,
                    "rd",
                    &zs,
                    "in_progress",
                    "\"2026-12-02\"",
                    "\"2026-11-30T02:00:00Z\"",
                    false,
                ), // due soon
                task(
                    4,
                    3,
                    "rd",
                    &zs,
                    "in_progress",
                    "\"2026-11-27\"",
                    "\"2026-11-30T02:00:00Z\"",
                    false,
                ), // overdue
                task(
                    4,
                    4,
                    "rd",
                    &zs,
                    "accepted",
                    "null",
                    "\"2026-11-20T02:00:00Z\"",
                    false,
                ), // silent
                task(
                    4,
                    5,
                    "rd",
                    &zs,
                    "in_progress",
                    "null",
                    "\"2026-11-30T02:00:00Z\"",
                    true,
                ), // blocked
                task(4, 6, "ops", &bob, "assigned", "null", "null", false),
                task(
                    4,
                    7,
                    "ops",
                    &bob,
                    "in_progress",
                    "\"2026-12-02\"",
                    "\"2026-11-30T02:00:00Z\"",
                    false,
                ),
                task(
                    4,
                    8,
                    "ops",
                    &bob,
                    "in_progress",
                    "\"2026-11-27\"",
                    "\"2026-11-30T02:00:00Z\"",
                    false,
                ),
                task(
                    4,
                    9,
                    "ops",
                    &bob,
                    "accepted",
                    "null",
                    "\"2026-11-20T02:00:00Z\"",
                    false,
                ),
                task(
                    4,
                    10,
                    "ops",
                    &bob,
                    "in_progress",
                    "null",
                    "\"2026-11-30T02:00:00Z\"",
                    true,
                ),
            ],
        ),
    ]
}

#[test]
fn every_digest_section_renders_in_both_languages_with_bars_and_red_overdue_rows() {
    let cfg = config();
    let s = cfg.clock_settings().unwrap();
    let dir = cfg.directory();
    let r = Renderer::new(None).unwrap();
    let now = crossdesk::schedule::parse_local_time("2026-12-01 09:00", s.tz).unwrap();
    let reqs = every_section();
    let wanted = [
        ("rd", "2026-12-01 09:00".to_string()),
        ("ops", "2026-12-01 09:00".to_string()),
    ];
    let ds = digest::compute(&reqs, &wanted, &s, now);
    let own = crossdesk::model::Mailbox::new(None, "workflow@corp.example");
    let expect: BTreeMap<&str, (&str, [&str; 8])> = BTreeMap::from([
        (
            "rd",
            (
                "zh-CN",
                [
                    "待本部门确认的需求（1）",
                    "待接收的任务（1）",
                    "进行中的任务（4）",
                    "即将到期（1）",
                    "已逾期（1）",
                    "未按时汇报进度（1）",
                    "存在问题（阻塞）（1）",
                    "本部门提出的需求（1）",
                ],
            ),
        ),
        (
            "ops",
            (
                "en",
                [
                    "Requests awaiting our confirmation (1)",
                    "Tasks awaiting acceptance (1)",
                    "In progress (4)",
                    "Due soon (1)",
                    "Overdue (1)",
                    "Silent (no progress report) (1)",
                    "Blocked (problem raised) (1)",
                    "Our requests (1)",
                ],
            ),
        ),
    ]);
    for ((dept, _), ctx) in wanted.iter().zip(ds) {
        let (locale, titles) = &expect[dept];
        let out = digest::mail(dir.dept(dept).unwrap(), ctx, &own);
        assert_eq!(out.locale, *locale);
        let p = r.render_parts_on(&out, Some(s.local_date(now))).unwrap();
        for t in titles {
            assert!(
                p.text.contains(t),
                "{dept}: `{t}` missing in text:\n{}",
                p.text
            );
            assert!(p.html.contains(t), "{dept}: `{t}` missing in html");
        }
        // Rows carry the ids to act on; the overdue row is red, bars drawn.
        let late = if *dept == "rd" {
            "[REQ-4.3]"
        } else {
            "[REQ-4.8]"
        };
        assert!(p.text.contains(late) && p.text.contains("[REQ-1]"));
        assert!(p.html.contains("background-color:#fef2f2"));
        assert!(p.html.contains("width:40px"), "progress bar");
        assert!(p.text.contains("[####------] 40%"), "{}", p.text);
        if *locale == "en" {
            assert!(p.text.contains("2 working day(s) late"), "{}", p.text);
            assert!(p.text.contains("silent for 7 working day(s)"), "{}", p.text);
            assert!(p.text.contains("last report 2026-11-30"), "{}", p.text);
            // The template's words are English (titles and names are data).
            assert!(!p.text.contains("工作日") && p.text.contains(EN_MARKER));
        } else {
            assert!(p.text.contains("逾期 2 个工作日"), "{}", p.text);
            assert!(p.text.contains("7 个工作日未汇报"), "{}", p.text);
            assert!(p.text.contains("最近汇报 2026-11-30"), "{}", p.text);
        }
    }
}

#[test]
fn every_reminder_renders_in_both_languages() {
    let cfg = config();
    let s = cfg.clock_settings().unwrap();
    let dir = cfg.directory();
    let r = Renderer::new(None).unwrap();
    let now = crossdesk::schedule::parse_local_time("2026-12-01 09:00", s.tz).unwrap();
    let plan = reminders::due(&every_section(), &dir, &s, now);
    let mut seen = BTreeMap::new();
    for rem in &plan.reminders {
        let cond = rem.out.ctx.reminder.as_ref().unwrap().condition.clone();
        let p = r
            .render_parts_on(&rem.out, Some(s.local_date(now)))
            .unwrap();
        let id = rem.out.item.clone().unwrap();
        assert!(p.subject.starts_with(&format!("[{id}] ")), "{}", p.subject);
        assert!(p.html.contains(&id));
        seen.insert((rem.out.locale.clone(), cond), p.subject);
    }
    for locale in ["zh-CN", "en"] {
        for cond in ["accept", "silent", "due_soon", "overdue", "escalate"] {
            assert!(
                seen.contains_key(&(locale.to_string(), cond.to_string())),
                "{locale}/{cond} not produced: {seen:?}"
            );
        }
    }
    assert!(seen[&("zh-CN".to_string(), "escalate".to_string())].contains("逾期升级"));
    assert!(seen[&("en".to_string(), "due_soon".to_string())].contains("Reminder: task due soon"));
}
