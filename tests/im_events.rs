//! The workflow's events in the group chats (docs/operations.md#im),
//! through the real binary, against the tests' own HTTPS receiver on
//! 127.0.0.1 (tests/robots), which checks each platform's signature by the
//! published algorithm, answers as the platform does, and throttles a
//! robot past the platform's rate limit as the platform would: each
//! default event reaches the right robot once, in its department's
//! language, signed; a burst is spread under the limits; a robot that is
//! down, throttled or wrongly set up gets every message once it is back or
//! fixed; no token or secret reaches a log; the mail is what it is without
//! robots.

mod common;
mod robots;

use common::*;
use robots::{Bot, Mode, Receiver};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// (name, platform, token, secret, keyword).
type RobotSpec = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const RD: RobotSpec = (
    "rd-ding",
    "dingtalk",
    "rdding0123456789abcdef",
    Some("SECrd0f1e2d3c4b5a69788796a5b4c3"),
    None,
);
const QA: RobotSpec = (
    "qa-feishu",
    "feishu",
    "7c1d2e3f-qa00-4c3d-9e8f-0a1b2c3d4e5f",
    Some("qafeishusecretQWERTY123"),
    None,
);
const OPS: RobotSpec = (
    "ops-wecom",
    "wecom",
    "693a91f6-ops0-4bc4-97a0-0ec2sifa5aaa",
    None,
    None,
);
const OPS_URGENT: RobotSpec = (
    "ops-urgent",
    "dingtalk",
    "opsurgent0123456789abc",
    Some("SECopsurgentABCDEF0123456"),
    None,
);
const IT: RobotSpec = (
    "it-ding",
    "dingtalk",
    "itkeyword0123456789ab",
    None,
    Some("ALERT"),
);
const MKT: RobotSpec = (
    "mkt-feishu",
    "feishu",
    "0a9b8c7d-mkt0-4c3d-9e8f-0a1b2c3d4e5f",
    None,
    None,
);

/// Every token and secret the tests configure: none may reach a log.
const SECRETS: [&str; 9] = [
    RD.2,
    "SECrd0f1e2d3c4b5a69788796a5b4c3",
    QA.2,
    "qafeishusecretQWERTY123",
    OPS.2,
    OPS_URGENT.2,
    "SECopsurgentABCDEF0123456",
    IT.2,
    MKT.2,
];

const MOBILES: &str = "\n[mobiles]\n\"wanglei@corp.example\" = \"13800000001\"\n\
\"dave@corp.example\" = \"13800000002\"\n\"frank@corp.example\" = \"13800000003\"\n";

struct Setup {
    desk: Desk,
    rx: Receiver,
    /// stderr of every command run (CROSSDESK_LOG=debug).
    logs: std::cell::RefCell<String>,
}

/// A desk whose departments have robots (`routes`: department id → robot
/// name, or `id:priority` → robot), each robot's URL and secret in a file.
fn setup(robots: &[RobotSpec], routes: &[(&str, &str)], extra: &str) -> Setup {
    let rx = Receiver::start(
        robots
            .iter()
            .map(|r| Bot {
                platform: r.1,
                token: r.2.into(),
                secret: r.3.map(String::from),
                keyword: r.4.map(String::from),
                mode: Mode::Normal,
            })
            .collect(),
    );
    let desk = Desk::new();
    std::fs::write(desk.path("robots-ca.pem"), &rx.ca_pem).unwrap();
    let mut cfg = std::fs::read_to_string(&desk.config).unwrap();
    for (dept, robot) in routes {
        let (id, key) = match dept.split_once(':') {
            Some((id, prio)) => (id, format!("im_by_priority = {{ {prio} = \"{robot}\" }}")),
            None => (*dept, format!("im = \"{robot}\"")),
        };
        let at = format!("id = \"{id}\"\n");
        assert!(cfg.contains(&at), "no department {id}");
        cfg = cfg.replacen(&at, &format!("{at}{key}\n"), 1);
    }
    for (name, platform, token, secret, keyword) in robots {
        std::fs::write(
            desk.path(&format!("{name}.url")),
            rx.url(platform, token) + "\n",
        )
        .unwrap();
        cfg.push_str(&format!(
            "\n[[im]]\nname = \"{name}\"\nkind = \"{platform}\"\nurl_file = \"{name}.url\"\nca_file = \"robots-ca.pem\"\ntimeout_seconds = 10\n"
        ));
        if let Some(s) = secret {
            std::fs::write(desk.path(&format!("{name}.secret")), s).unwrap();
            cfg.push_str(&format!("secret_file = \"{name}.secret\"\n"));
        }
        if let Some(k) = keyword {
            cfg.push_str(&format!("keyword = \"{k}\"\n"));
        }
    }
    cfg.push_str(extra);
    std::fs::write(&desk.config, cfg).unwrap();
    Setup {
        desk,
        rx,
        logs: Default::default(),
    }
}

impl Setup {
    /// Runs crossdesk at the fixed clock `now`; must succeed.
    fn at(&self, now: &str, args: &[&str]) -> String {
        let out = self
            .desk
            .command()
            .env("CROSSDESK_NOW", now)
            .env("CROSSDESK_LOG", "debug")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        self.logs.borrow_mut().push_str(&err);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{err}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// What robot `r` took (accepted), in order.
    fn got(&self, r: &RobotSpec) -> Vec<serde_json::Value> {
        self.rx
            .received()
            .into_iter()
            .filter(|x| x.token == r.2 && x.accepted)
            .map(|x| x.body)
            .collect()
    }

    fn assert_no_secret_logged(&self) {
        let logs = self.logs.borrow();
        for s in SECRETS {
            assert!(!logs.contains(s), "a token or secret in the logs: {s}");
        }
        let outbox = self.desk.ok(&["outbox", "list", "--json"]);
        for s in SECRETS {
            assert!(!outbox.contains(s), "a token or secret in outbox list: {s}");
        }
    }

    /// (status, robot, event, item, last_error) of every robot message.
    fn rows(&self) -> Vec<(String, String, String, String, String)> {
        let db = self.desk.db();
        let mut st = db
            .prepare(
                "SELECT status, robot, event, COALESCE(item, ''), COALESCE(last_error, '')
                 FROM im_outbox ORDER BY id",
            )
            .unwrap();
        st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }
}

/// A robot message's text as its group shows it.
fn text(body: &serde_json::Value) -> String {
    match body["msgtype"].as_str() {
        Some("markdown") if body["markdown"]["text"].is_string() => format!(
            "{}\n{}",
            body["markdown"]["title"].as_str().unwrap(),
            body["markdown"]["text"].as_str().unwrap()
        ),
        Some("markdown") => body["markdown"]["content"].as_str().unwrap().to_string(),
        Some("text") => body["text"]["content"].as_str().unwrap().to_string(),
        _ => body["content"].to_string(),
    }
}

/// A plain UTF-8 mail written into the desk's directory.
fn mail(desk: &Desk, n: u32, from: &str, subject: &str, body: &str) -> PathBuf {
    let text = format!(
        "From: {from}\r\nTo: {WORKFLOW}\r\nSubject: {subject}\r\n\
         Date: Mon, 14 Jan 2030 10:{:02}:{:02} +0800\r\nMessage-ID: <im-{n}@corp.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{body}\r\n",
        n / 60,
        n % 60
    );
    let p = desk.path(&format!("im-{n}.eml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// The story: REQ-1 (赵六 of sales → R&D and QA), REQ-2 (Frank of
/// Marketing → Operations and IT), REQ-3 (Frank → Operations, urgent),
/// rejected by Dave; REQ-1 confirmed, REQ-1.1 assigned to 张三, accepted
/// and blocked.
fn story(desk: &Desk) -> Vec<PathBuf> {
    let zl = "赵六 <zhaoliu@corp.example>";
    let frank = "Frank Miller <frank@corp.example>";
    let wl = "王磊 <wanglei@corp.example>";
    vec![
        mail(desk, 1, zl, "[需求] 客户数据导出接口", "协作部门：研发部、测试部\n截止日期：2030-01-31\n优先级：高\n\n请研发部提供导出接口。"),
        mail(desk, 2, frank, "[REQ] Spring landing page", "Departments: Operations, IT\nDue: 2030-02-15\n\nA landing page for the spring campaign."),
        mail(desk, 3, frank, "[REQ] Status page", "Departments: Operations\nPriority: urgent\n\nA public status page."),
        mail(desk, 4, "Dave Lee <dave@corp.example>", "[REJECT] [REQ-3] Status page", "No capacity this quarter."),
        mail(desk, 5, wl, "【确认】[REQ-1] 客户数据导出接口", "研发部承接。"),
        mail(desk, 6, "陈喆 <chenzhe@corp.example>", "【确认】[REQ-1] 客户数据导出接口", "测试部确认。"),
        mail(desk, 7, wl, "【分配】[REQ-1] 客户数据导出接口", "- 张三: 导出接口开发; due 2030-01-15"),
        mail(desk, 8, "张三 <zhangsan@corp.example>", "【接受】[REQ-1.1] 导出接口开发", "收到。"),
        mail(desk, 9, "张三 <zhangsan@corp.example>", "【阻塞】[REQ-1.1] 导出接口开发", "测试环境没有CRM数据，需要DBA协助导入。"),
    ]
}

fn cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[test]
fn each_default_event_reaches_the_right_robot_once_in_its_language_signed() {
    let robots = [RD, QA, OPS, OPS_URGENT, IT, MKT];
    let s = setup(
        &robots,
        &[
            ("rd", RD.0),
            ("qa", QA.0),
            ("ops", OPS.0),
            ("ops:urgent", OPS_URGENT.0),
            ("it", IT.0),
            ("mkt", MKT.0),
        ],
        MOBILES,
    );
    let files = story(&s.desk);
    let mut args = vec!["ingest".to_string()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.at("2030-01-14 10:30", &args);
    assert!(
        parse_verdicts(&out)
            .iter()
            .all(|v| v.verdict.starts_with("applied:")),
        "{out}"
    );
    // The daemon's first start: digests are due from here on.
    s.at("2030-01-14 10:31", &["run", "--once"]);
    // A week on: REQ-1.1 is 4 working days late (escalated to the leads),
    // and the 09:00 digests go out.
    s.at("2030-01-21 09:10", &["run", "--once"]);

    // Every robot message was posted once and taken (signed right, with
    // the keyword where the robot wants one).
    let rows = s.rows();
    assert!(rows.iter().all(|r| r.0 == "sent"), "{rows:?}");
    let all = s.rx.received();
    assert!(all.iter().all(|r| r.accepted), "{all:?}");
    assert_eq!(all.len(), rows.len());

    let texts = |r: &RobotSpec| -> Vec<String> { s.got(r).iter().map(text).collect() };
    let once = |r: &RobotSpec, needle: &str| {
        let n = texts(r).iter().filter(|t| t.contains(needle)).count();
        assert_eq!(n, 1, "{} got `{needle}` {n} times: {:#?}", r.0, texts(r));
    };
    // R&D (Chinese): the new requirement, the problem, the escalation.
    once(&RD, "新需求待确认 [REQ-1]");
    once(&RD, "问题反馈 [REQ-1.1]");
    once(&RD, "任务逾期 [REQ-1.1]");
    once(&QA, "新需求待确认 [REQ-1]");
    // Operations (English): REQ-2 on its robot, the urgent REQ-3 on the
    // urgent one only.
    once(&OPS, "New requirement to confirm [REQ-2]");
    assert!(!texts(&OPS).iter().any(|t| t.contains("[REQ-3]")));
    once(&OPS_URGENT, "URGENT: New requirement to confirm [REQ-3]");
    once(&IT, "New requirement to confirm [REQ-2]");
    assert!(texts(&IT).iter().all(|t| t.contains("ALERT")));
    // The rejection reaches the requester's department.
    once(&MKT, "Requirement rejected [REQ-3]");
    // What to do by mail: the address and the tag.
    let rd = texts(&RD);
    assert!(
        rd[0].contains(WORKFLOW) && rd[0].contains("【确认】"),
        "{}",
        rd[0]
    );
    for r in [&OPS, &OPS_URGENT, &IT, &MKT] {
        for t in texts(r) {
            assert!(!cjk(&t), "{}: not English: {t}", r.0);
        }
    }
    for r in [&RD, &QA] {
        for t in texts(r) {
            assert!(cjk(&t), "{}: not Chinese: {t}", r.0);
        }
    }
    // One digest summary per digest mail to a department with a robot.
    let groups: BTreeMap<&str, &RobotSpec> = [
        ("rd@corp.example", &RD),
        ("qa@corp.example", &QA),
        ("ops@corp.example", &OPS),
        ("it@corp.example", &IT),
        ("mkt@corp.example", &MKT),
    ]
    .into();
    let digests: Vec<Sent> = s
        .desk
        .sent()
        .into_iter()
        .filter(|m| m.kind == "digest")
        .collect();
    assert!(!digests.is_empty());
    for (group, r) in &groups {
        let mails = digests
            .iter()
            .filter(|m| m.to.iter().any(|t| t == group))
            .count();
        let ims = texts(r)
            .iter()
            .filter(|t| t.contains("日报 2030-01-21") || t.contains("digest 2030-01-21"))
            .count();
        assert_eq!(ims, mails, "{}: digest summaries", r.0);
    }
    // @-mentions: the lead of the group a new requirement goes to, the
    // assigner of a blocked task, the requester of a rejection.
    let rd = s.got(&RD);
    assert_eq!(rd[0]["at"]["atMobiles"], serde_json::json!(["13800000001"]));
    let blocked = rd.iter().find(|b| text(b).contains("问题反馈")).unwrap();
    assert_eq!(
        blocked["at"]["atMobiles"],
        serde_json::json!(["13800000001"])
    );
    let ops = &s.got(&OPS)[0];
    assert_eq!(
        ops["text"]["mentioned_mobile_list"],
        serde_json::json!(["13800000002"])
    );

    // Nothing more on a second run.
    s.at("2030-01-21 09:20", &["run", "--once"]);
    assert_eq!(s.rx.received().len(), all.len());
    s.assert_no_secret_logged();

    // The mail side is what it is without robots.
    let plain = Desk::new();
    let files = story(&plain);
    let mut c = plain.command();
    c.env("CROSSDESK_NOW", "2030-01-14 10:30")
        .arg("ingest")
        .args(&files);
    assert!(c.output().unwrap().status.success());
    let mut c = plain.command();
    c.env("CROSSDESK_NOW", "2030-01-14 10:31")
        .args(["run", "--once"]);
    assert!(c.output().unwrap().status.success());
    let mut c = plain.command();
    c.env("CROSSDESK_NOW", "2030-01-21 09:10")
        .args(["run", "--once"]);
    assert!(c.output().unwrap().status.success());
    let shape = |d: &Desk| -> Vec<String> {
        let mut v: Vec<String> = d
            .sent()
            .iter()
            .map(|m| format!("{} {:?} {:?} {} {}", m.kind, m.to, m.cc, m.subject, m.text))
            .collect();
        v.sort();
        v
    };
    assert_eq!(shape(&s.desk), shape(&plain));
}

/// The daemon, at a fixed clock, with robot `r`'s receipts counted.
fn daemon(s: &Setup) -> std::process::Child {
    s.desk
        .command()
        .env("CROSSDESK_NOW", "2030-01-14 10:30")
        .args(["run", "--poll", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(s.desk.path("daemon.log")).unwrap())
        .spawn()
        .unwrap()
}

/// The end of the daemon's log (for a failure's message).
fn daemon_log(s: &Setup) -> String {
    let text = std::fs::read_to_string(s.desk.path("daemon.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The most receipts in any `window` ms.
fn most_in_any(times: &[i64], window: i64) -> usize {
    times
        .iter()
        .map(|&t| times.iter().filter(|&&u| u >= t && u < t + window).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_burst_is_spread_under_each_platform_limit_never_throttled() {
    let s = setup(&[RD, QA], &[("rd", RD.0), ("qa", QA.0)], "");
    // 25 new requirements for R&D (DingTalk: 20 a minute) and 50 for QA
    // (Feishu: 100 a minute, 5 a second), all at once.
    std::fs::create_dir_all(s.desk.inbox_dir().join("new")).unwrap();
    for n in 0..75u32 {
        let dept = if n < 25 { "研发部" } else { "测试部" };
        let p = mail(
            &s.desk,
            n,
            "赵六 <zhaoliu@corp.example>",
            &format!("[需求] 看板 {n}"),
            &format!("协作部门：{dept}\n\n第 {n} 个看板。"),
        );
        std::fs::rename(&p, s.desk.inbox_dir().join(format!("new/im-{n}.eml"))).unwrap();
    }
    let mut d = daemon(&s);
    let taken = |r: &RobotSpec| s.got(r).len();
    // At least: a message posted twice fails the count below, not here;
    // a refusal fails at once (the fixed clock would never retry it).
    let t = Instant::now();
    while taken(&RD) < 25 || taken(&QA) < 50 {
        let refused: Vec<_> =
            s.rx.received()
                .into_iter()
                .filter(|r| !r.accepted)
                .collect();
        assert!(refused.is_empty(), "the receiver refused: {refused:?}");
        assert!(
            t.elapsed() < Duration::from_secs(150),
            "the burst: R&D took {}, QA {}; the daemon's log ends:\n{}",
            taken(&RD),
            taken(&QA),
            daemon_log(&s)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &d.id().to_string()])
        .status();
    let _ = d.wait();
    let all = s.rx.received();
    assert!(
        all.iter().all(|r| r.accepted),
        "the receiver throttled: {:?}",
        all.iter().filter(|r| !r.accepted).collect::<Vec<_>>()
    );
    let times = |r: &RobotSpec| -> Vec<i64> {
        all.iter()
            .filter(|x| x.token == r.2)
            .map(|x| x.at_ms)
            .collect()
    };
    let (rd, qa) = (times(&RD), times(&QA));
    assert_eq!((rd.len(), qa.len()), (25, 50));
    assert_eq!(most_in_any(&rd, 60_000), 20);
    assert!(most_in_any(&qa, 1_000) <= 5);
    assert!(most_in_any(&qa, 60_000) <= 100);
    // Spread, not dropped: the last 5 of R&D a minute after the first.
    assert!(rd[20] - rd[0] >= 60_000, "{rd:?}");
    // QA's 50 took about ten seconds, not a minute.
    assert!(qa[49] - qa[0] < 20_000, "{qa:?}");
    // Each requirement once.
    let mut ids: Vec<String> = s
        .got(&RD)
        .iter()
        .chain(s.got(&QA).iter())
        .map(text)
        .map(|t| t.split(']').next().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 75);
}

#[test]
fn a_robot_down_throttled_or_misconfigured_gets_each_message_once_when_back_or_fixed() {
    let s = setup(
        &[RD, QA, OPS],
        &[("rd", RD.0), ("qa", QA.0), ("ops", OPS.0)],
        "",
    );
    // The receiver is down: every message waits for the schedule's next try.
    s.rx.set_mode(RD.2, Mode::Down);
    let m = mail(
        &s.desk,
        1,
        "赵六 <zhaoliu@corp.example>",
        "[需求] 客户数据导出接口",
        "协作部门：研发部、测试部、运维\n\n请各部门协作。",
    );
    s.at("2030-01-14 10:30", &["ingest", &m.display().to_string()]);
    let rows = s.rows();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r.0, "queued", "{r:?}");
        assert!(r.4.contains("error sending request"), "{r:?}");
    }
    assert!(s.rx.received().is_empty());
    // Back up, but Operations' robot is throttled and QA's secret is wrong.
    s.rx.set_mode(RD.2, Mode::Normal);
    s.rx.set_mode(OPS.2, Mode::Throttled);
    std::fs::write(s.desk.path("qa-feishu.secret"), "not-the-secret").unwrap();
    s.at("2030-01-14 10:45", &["outbox"]);
    let rows = s.rows();
    let row = |robot: &str| rows.iter().find(|r| r.1 == robot).unwrap().clone();
    assert_eq!(row(RD.0).0, "sent");
    let ops = row(OPS.0);
    assert_eq!(ops.0, "queued", "{ops:?}");
    assert!(ops.4.contains("45009"), "{ops:?}");
    let qa = row(QA.0);
    assert_eq!(qa.0, "failed", "{qa:?}");
    assert!(qa.4.contains("secret"), "{qa:?}");
    let listed = s.desk.ok(&["outbox", "list"]);
    assert!(
        listed.contains("im-") && listed.contains("failed  dept_new REQ-1  robot qa-feishu"),
        "{listed}"
    );

    // No longer throttled, and fixed: the schedule's next try sends the
    // waiting one; `outbox retry im-N` sends the failed one.
    s.rx.set_mode(OPS.2, Mode::Normal);
    std::fs::write(s.desk.path("qa-feishu.secret"), QA.3.unwrap()).unwrap();
    let id = s
        .desk
        .db()
        .query_row(
            "SELECT id FROM im_outbox WHERE robot = 'qa-feishu'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap();
    let out = s.at(
        "2030-01-14 10:50",
        &["outbox", "retry", &format!("im-{id}")],
    );
    assert!(
        out.contains(&format!("robot message im-{id}: failed → queued")),
        "{out}"
    );
    assert!(
        out.contains("robot messages: 0 queued, 3 sent, 0 failed"),
        "{out}"
    );
    s.at("2030-01-14 12:00", &["outbox"]);
    for r in [&RD, &QA, &OPS] {
        let got = s.got(r);
        assert_eq!(got.len(), 1, "{}: {got:?}", r.0);
        assert!(text(&got[0]).contains("[REQ-1]"));
    }
    assert!(s.rows().iter().all(|r| r.0 == "sent"));
    s.assert_no_secret_logged();
}
