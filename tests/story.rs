//! End-to-end stories through the real binary: every mail of a requirement's
//! life (REQ → CLARIFY → answer → CONFIRM ×2 → ASSIGN ×2 → ACCEPT / DECLINE
//! → reassign → PLAN → PROGRESS → BLOCKED → PROGRESS → DONE ×2 → CLOSE, and
//! a second requirement CANCELled), written by the mail clients people use.
//!
//! Each step is ingested by its own process; after each, `show --json`
//! must tell the state, flags, tasks and events the protocol promises, and
//! the outbox must hold exactly the mails the protocol says, to the right
//! people, in their language, threaded on the mail that caused them. Then
//! the same files go through one `ingest` process on a fresh store, which
//! must end in the same place.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

/// A mail the step must send.
struct Mail {
    kind: &'static str,
    /// The id in its subject.
    item: &'static str,
    /// Local parts at corp.example (people and department groups).
    to: &'static [&'static str],
    cc: &'static [&'static str],
    lang: Lang,
}

fn m(
    kind: &'static str,
    item: &'static str,
    to: &'static [&'static str],
    cc: &'static [&'static str],
    lang: Lang,
) -> Mail {
    Mail {
        kind,
        item,
        to,
        cc,
        lang,
    }
}

struct Step {
    file: &'static str,
    verdict: &'static str,
    /// What the mail was about (the verdict line's item).
    item: &'static str,
    /// The requirement's state afterwards.
    state: &'static str,
    /// The events it added: (item, kind), in order.
    events: &'static [(&'static str, &'static str)],
    mails: Vec<Mail>,
    check: fn(&Value),
}

fn addr(local: &str) -> String {
    format!("{local}@corp.example")
}

fn req_of(item: &str) -> &str {
    item.split('.').next().unwrap()
}

fn dept<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no department {id} in {v:#}"))
}

fn confirmed(v: &Value) -> Vec<(String, bool)> {
    v["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                d["confirmed"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn task<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {v:#}"))
}

/// (owner, state, progress, blocked) of a task.
fn t(v: &Value, id: &str) -> (String, String, u64, bool) {
    let t = task(v, id);
    (
        t["owner"].as_str().unwrap().to_string(),
        t["state"].as_str().unwrap().to_string(),
        t["progress"].as_u64().unwrap(),
        t["blocked"].as_bool().unwrap(),
    )
}

fn tt(owner: &str, state: &str, progress: u64, blocked: bool) -> (String, String, u64, bool) {
    (addr(owner), state.to_string(), progress, blocked)
}

fn last_event_detail(v: &Value, kind: &str) -> String {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == kind)
        .and_then(|e| e["detail"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn nothing(_: &Value) {}

/// Runs a story one process per step, checking everything after each.
/// Returns the deployment and the last `show --json` of each requirement.
fn step_by_step(dir: &str, steps: &[Step], en_only: bool) -> (Desk, HashMap<String, Value>) {
    let desk = Desk::new();
    let files = fixtures(dir);
    assert_eq!(
        files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap())
            .collect::<Vec<_>>(),
        steps.iter().map(|s| s.file).collect::<Vec<_>>(),
        "the fixtures of {dir} and the steps"
    );
    let mut root: HashMap<String, String> = HashMap::new();
    let mut incoming: HashSet<String> = HashSet::new();
    let mut seen_events: HashMap<String, usize> = HashMap::new();
    let mut seen_rows = 0;
    let mut last: HashMap<String, Value> = HashMap::new();
    for (file, step) in files.iter().zip(steps) {
        let (mid, sender) = fixture_ids(file);
        incoming.insert(mid.clone());
        let at = format!("{dir}/{}", step.file);
        let v = desk.ingest_one(file);
        assert_eq!(v.verdict, step.verdict, "{at}: verdict");
        assert_eq!(v.item.as_deref(), Some(step.item), "{at}: item");

        let req = req_of(step.item);
        root.entry(req.to_string()).or_insert_with(|| mid.clone());
        let show = desk.show(req);
        assert_eq!(show["state"], step.state, "{at}: state of {req}");

        // The events this mail caused, each naming its actor and Message-ID.
        let events = show["events"].as_array().unwrap();
        let from = seen_events.get(req).copied().unwrap_or(0);
        let new: Vec<(String, String)> = events[from..]
            .iter()
            .map(|e| {
                (
                    e["item"].as_str().unwrap().to_string(),
                    e["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = step
            .events
            .iter()
            .map(|(i, k)| (i.to_string(), k.to_string()))
            .collect();
        assert_eq!(new, want, "{at}: events");
        for e in &events[from..] {
            assert_eq!(e["actor"], sender.as_str(), "{at}: event actor");
            assert_eq!(e["message_id"], mid.as_str(), "{at}: event Message-ID");
        }
        seen_events.insert(req.to_string(), events.len());
        (step.check)(&show);
        last.insert(req.to_string(), show.clone());

        // The mails it sent: exactly these, threaded on this mail.
        let sent = desk.sent();
        let new = &sent[seen_rows..];
        seen_rows = sent.len();
        type Key = (String, String, BTreeSet<String>, BTreeSet<String>);
        let got: Vec<Key> = {
            let mut g: Vec<Key> = new
                .iter()
                .map(|s| {
                    (
                        s.kind.clone(),
                        s.item.clone().unwrap_or_default(),
                        s.to_set(),
                        s.cc_set(),
                    )
                })
                .collect();
            g.sort();
            g
        };
        let mut expected: Vec<Key> = step
            .mails
            .iter()
            .map(|w| {
                (
                    w.kind.to_string(),
                    w.item.to_string(),
                    w.to.iter().map(|a| addr(a)).collect(),
                    w.cc.iter().map(|a| addr(a)).collect(),
                )
            })
            .collect();
        expected.sort();
        assert_eq!(got, expected, "{at}: mails (kind, id, To, Cc)");
        for s in new {
            assert_well_formed(s, Some(&mid));
            assert!(
                s.references.contains(&root[req]),
                "{at}: {} mail's References {:?} lack the thread root {}",
                s.kind,
                s.references,
                root[req]
            );
            let w = step
                .mails
                .iter()
                .find(|w| w.kind == s.kind && s.to_set() == w.to.iter().map(|a| addr(a)).collect())
                .unwrap();
            assert_lang(s, w.lang);
            if en_only {
                assert_no_cjk(s);
            }
        }
    }
    // Every mail has its own Message-ID, none of them an incoming one.
    let sent = desk.sent();
    let ids: HashSet<&str> = sent.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(ids.len(), sent.len(), "outgoing Message-IDs are unique");
    assert!(ids.is_disjoint(&incoming.iter().map(String::as_str).collect()));
    assert_eq!(desk.outbox_files().len(), sent.len(), "one file per mail");
    (desk, last)
}

/// The same fixtures in one `ingest` process on a fresh store end where the
/// step-by-step run ended: same verdicts, same requirements, same mails.
fn all_at_once_matches(
    dir: &str,
    steps: &[Step],
    reference: &Desk,
    shows: &HashMap<String, Value>,
) {
    let desk = Desk::new();
    let files: Vec<PathBuf> = fixtures(dir);
    let verdicts = desk.ingest(&files);
    for (v, s) in verdicts.iter().zip(steps) {
        assert_eq!(
            (v.verdict.as_str(), v.item.as_deref()),
            (s.verdict, Some(s.item)),
            "{dir}/{} in one process",
            s.file
        );
    }
    let mut want = vec![];
    for req in ["REQ-1", "REQ-2"] {
        let show = without_times(&desk.show(req));
        assert_eq!(show, without_times(&shows[req]), "show {req} --json");
        // `list` has no history and no files.
        let mut summary = show;
        let o = summary.as_object_mut().unwrap();
        o.remove("events");
        o.remove("files");
        for t in o["tasks"].as_array_mut().unwrap() {
            t.as_object_mut().unwrap().remove("files");
        }
        want.push(summary);
    }
    assert_eq!(
        without_times(&desk.list()),
        Value::Array(want),
        "list --json"
    );
    let key = |d: &Desk| {
        let mut v: Vec<_> = d
            .sent()
            .into_iter()
            .map(|s| {
                (
                    s.kind,
                    s.item,
                    s.to,
                    s.cc,
                    s.subject,
                    s.in_reply_to,
                    s.auto_submitted,
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(key(&desk), key(reference), "the outbox");
}

use Lang::{En, Zh};

fn zh_steps() -> Vec<Step> {
    vec![
        Step {
            file: "01_req.eml",
            verdict: "applied:new_req",
            item: "REQ-1",
            state: "proposed",
            events: &[("REQ-1", "new_req")],
            mails: vec![
                m("ack", "REQ-1", &["zhaoliu"], &[], Zh),
                m("dept_new", "REQ-1", &["rd"], &[], Zh),
                m("dept_new", "REQ-1", &["qa"], &[], Zh),
            ],
            check: |v| {
                assert_eq!(v["title"], "客户数据导出接口");
                assert_eq!(v["requester"], "zhaoliu@corp.example");
                assert_eq!(v["requester_dept"], "sales");
                assert_eq!(
                    confirmed(v),
                    vec![("rd".into(), false), ("qa".into(), false)]
                );
                assert_eq!(dept(v, "qa")["name"], "测试部");
                assert_eq!(v["due"], "2030-01-31");
                assert_eq!(v["priority"], "high");
                assert_eq!(v["quality"], "导出字段与CRM一致，单次导出10万行不超过30秒");
                let d = v["description"].as_str().unwrap();
                assert!(d.contains("请研发部提供导出接口"), "description: {d}");
                assert!(!d.contains("协作部门"), "fields are not description: {d}");
                assert!(v["tasks"].as_array().unwrap().is_empty());
            },
        },
        Step {
            file: "02_clarify.eml",
            verdict: "applied:clarify",
            item: "REQ-1",
            state: "clarifying",
            events: &[("REQ-1", "clarify"), ("REQ-1", "state")],
            mails: vec![m("clarify", "REQ-1", &["zhaoliu"], &["sales", "sunqi"], Zh)],
            check: |v| {
                let d = last_event_detail(v, "clarify");
                assert!(d.contains("最近一年"), "clarify note: {d}");
                assert!(!d.contains("写道"), "quote left in the note: {d}");
                assert!(!d.contains("协作部门"), "quote left in the note: {d}");
            },
        },
        Step {
            // Correlated only through In-Reply-To/References.
            file: "03_answer.eml",
            verdict: "applied:comment",
            item: "REQ-1",
            state: "proposed",
            events: &[("REQ-1", "comment"), ("REQ-1", "state")],
            mails: vec![m("comment", "REQ-1", &["rd", "qa"], &["zhaoliu"], Zh)],
            check: |v| {
                let d = last_event_detail(v, "comment");
                // format=flowed; DelSp=yes: the soft break joins the lines
                // and its extra space goes.
                assert!(d.contains("导入 BI 做季度复盘"), "flowed note: {d}");
                assert!(!d.contains("请问"), "quote left in the note: {d}");
            },
        },
        Step {
            // Outlook's auto-link in the subject: [REQ-1<http://REQ-1>].
            file: "04_confirm_rd.eml",
            verdict: "applied:confirm",
            item: "REQ-1",
            state: "proposed",
            events: &[("REQ-1", "confirm")],
            mails: vec![m(
                "confirmed",
                "REQ-1",
                &["zhaoliu"],
                &["sales", "wanglei"],
                Zh,
            )],
            check: |v| {
                assert_eq!(
                    confirmed(v),
                    vec![("rd".into(), true), ("qa".into(), false)]
                );
                let d = last_event_detail(v, "confirm");
                assert!(!d.contains("发件人"), "Outlook quote left: {d}");
            },
        },
        Step {
            // Foxmail: 【确认】回复：[REQ-1] with a full-width colon.
            file: "05_confirm_qa.eml",
            verdict: "applied:confirm",
            item: "REQ-1",
            state: "confirmed",
            events: &[("REQ-1", "confirm"), ("REQ-1", "state")],
            mails: vec![m(
                "confirmed",
                "REQ-1",
                &["zhaoliu"],
                &["sales", "chenzhe"],
                Zh,
            )],
            check: |v| {
                assert_eq!(confirmed(v), vec![("rd".into(), true), ("qa".into(), true)]);
                let d = last_event_detail(v, "confirm");
                assert!(!d.contains("原始邮件"), "Foxmail quote left: {d}");
            },
        },
        Step {
            file: "06_assign.eml",
            verdict: "applied:assign",
            item: "REQ-1",
            state: "in_progress",
            events: &[
                ("REQ-1.1", "assign"),
                ("REQ-1.2", "assign"),
                ("REQ-1", "state"),
            ],
            mails: vec![
                m("assigned", "REQ-1.1", &["zhangsan"], &["rd", "zhaoliu"], Zh),
                m("assigned", "REQ-1.2", &["alice"], &["rd", "zhaoliu"], Zh),
            ],
            check: |v| {
                assert_eq!(t(v, "REQ-1.1"), tt("zhangsan", "assigned", 0, false));
                assert_eq!(t(v, "REQ-1.2"), tt("alice", "assigned", 0, false));
                let t1 = task(v, "REQ-1.1");
                assert_eq!(t1["title"], "导出接口开发");
                assert_eq!(t1["assigner"], "wanglei@corp.example");
                assert_eq!(t1["dept"], "rd");
                assert_eq!(t1["due"], "2030-01-15");
                assert_eq!(t1["quality"], "10万行导出 < 30 秒");
                let t2 = task(v, "REQ-1.2");
                assert_eq!(t2["title"], "导出字段说明文档");
                assert_eq!(t2["due"], "2030-01-10");
                // No quality of its own: the requirement's.
                assert_eq!(t2["quality"], v["quality"]);
            },
        },
        Step {
            // QQ Mail, HTML only.
            file: "07_accept.eml",
            verdict: "applied:accept",
            item: "REQ-1.1",
            state: "in_progress",
            events: &[("REQ-1.1", "accept"), ("REQ-1.1", "state")],
            mails: vec![m("accepted", "REQ-1.1", &["wanglei"], &["zhangsan"], Zh)],
            check: |v| {
                assert_eq!(t(v, "REQ-1.1"), tt("zhangsan", "accepted", 0, false));
                assert_eq!(t(v, "REQ-1.2"), tt("alice", "assigned", 0, false));
            },
        },
        Step {
            // NetEase web mail, HTML only, comma-separated References.
            file: "08_decline.eml",
            verdict: "applied:decline",
            item: "REQ-1.2",
            state: "in_progress",
            events: &[("REQ-1.2", "decline"), ("REQ-1.2", "state")],
            mails: vec![m("declined", "REQ-1.2", &["wanglei"], &["alice"], Zh)],
            check: |v| {
                assert_eq!(t(v, "REQ-1.2"), tt("alice", "declined", 0, false));
                let d = last_event_detail(v, "decline");
                assert!(d.contains("休假两周"), "decline reason: {d}");
                assert!(!d.contains("写道"), "quote left: {d}");
            },
        },
        Step {
            file: "09_reassign.eml",
            verdict: "applied:assign",
            item: "REQ-1",
            state: "in_progress",
            events: &[("REQ-1.3", "assign")],
            mails: vec![m("assigned", "REQ-1.3", &["lilei"], &["rd", "zhaoliu"], Zh)],
            check: |v| {
                assert_eq!(v["tasks"].as_array().unwrap().len(), 3);
                assert_eq!(t(v, "REQ-1.3"), tt("lilei", "assigned", 0, false));
                assert_eq!(task(v, "REQ-1.3")["title"], "导出字段说明文档");
                assert_eq!(task(v, "REQ-1.3")["due"], "2030-01-12");
            },
        },
        Step {
            // No id anywhere but X-Microsoft-Original-Message-ID.
            file: "10_plan.eml",
            verdict: "applied:plan",
            item: "REQ-1",
            state: "in_progress",
            events: &[("REQ-1", "plan")],
            mails: vec![
                m("plan", "REQ-1", &["rd"], &[], Zh),
                m("plan", "REQ-1", &["qa"], &[], Zh),
                m("plan", "REQ-1", &["sales"], &[], Zh),
            ],
            check: |v| {
                let ms: Vec<(String, String, String)> = v["milestones"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        (
                            m["date"].as_str().unwrap().to_string(),
                            m["title"].as_str().unwrap().to_string(),
                            m["owner"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                let want = [
                    ("2029-12-15", "接口设计评审", "张三"),
                    ("2030-01-08", "字段说明文档定稿", "李雷"),
                    ("2030-01-15", "提测", "张三"),
                    ("2030-01-25", "测试完成", "孙七"),
                ];
                assert_eq!(
                    ms,
                    want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                );
            },
        },
        Step {
            file: "11_progress.eml",
            verdict: "applied:progress",
            item: "REQ-1.1",
            state: "in_progress",
            events: &[("REQ-1.1", "progress"), ("REQ-1.1", "state")],
            mails: vec![m(
                "progress",
                "REQ-1.1",
                &["wanglei"],
                &["zhaoliu", "zhangsan"],
                Zh,
            )],
            check: |v| {
                assert_eq!(t(v, "REQ-1.1"), tt("zhangsan", "in_progress", 40, false));
                let d = last_event_detail(v, "progress");
                assert!(d.contains("字段映射"), "progress note: {d}");
            },
        },
        Step {
            file: "12_blocked.eml",
            verdict: "applied:blocked",
            item: "REQ-1.1",
            state: "in_progress",
            events: &[("REQ-1.1", "blocked")],
            mails: vec![m(
                "blocked",
                "REQ-1.1",
                &["wanglei"],
                &["zhaoliu", "zhangsan"],
                Zh,
            )],
            check: |v| {
                assert_eq!(t(v, "REQ-1.1"), tt("zhangsan", "in_progress", 40, true));
                let d = last_event_detail(v, "blocked");
                assert!(d.contains("测试库账号过期"), "problem: {d}");
            },
        },
        Step {
            // The percentage in the subject.
            file: "13_progress.eml",
            verdict: "applied:progress",
            item: "REQ-1.1",
            state: "in_progress",
            events: &[("REQ-1.1", "progress")],
            mails: vec![m(
                "progress",
                "REQ-1.1",
                &["wanglei"],
                &["zhaoliu", "zhangsan"],
                Zh,
            )],
            check: |v| {
                assert_eq!(t(v, "REQ-1.1"), tt("zhangsan", "in_progress", 80, false));
            },
        },
        Step {
            file: "14_done.eml",
            verdict: "applied:done",
            item: "REQ-1.3",
            state: "in_progress",
            events: &[("REQ-1.3", "done"), ("REQ-1.3", "state")],
            mails: vec![m(
                "done",
                "REQ-1.3",
                &["wanglei"],
                &["zhaoliu", "lilei"],
                Zh,
            )],
            check: |v| {
                assert_eq!(t(v, "REQ-1.3"), tt("lilei", "done", 100, false));
                assert_eq!(t(v, "REQ-1.1"), tt("zhangsan", "in_progress", 80, false));
            },
        },
        Step {
            file: "15_done.eml",
            verdict: "applied:done",
            item: "REQ-1.1",
            state: "delivered",
            events: &[
                ("REQ-1.1", "done"),
                ("REQ-1.1", "state"),
                ("REQ-1", "state"),
            ],
            mails: vec![
                m(
                    "done",
                    "REQ-1.1",
                    &["wanglei"],
                    &["zhaoliu", "zhangsan"],
                    Zh,
                ),
                m("verify_request", "REQ-1", &["zhaoliu"], &["sales"], Zh),
            ],
            check: |v| {
                assert_eq!(t(v, "REQ-1.1"), tt("zhangsan", "done", 100, false));
                assert_eq!(t(v, "REQ-1.2"), tt("alice", "declined", 0, false));
                assert_eq!(t(v, "REQ-1.3"), tt("lilei", "done", 100, false));
            },
        },
        Step {
            file: "16_close.eml",
            verdict: "applied:close",
            item: "REQ-1",
            state: "closed",
            events: &[("REQ-1", "close"), ("REQ-1", "state")],
            mails: vec![m(
                "closed",
                "REQ-1",
                &["rd", "qa"],
                &["zhaoliu", "sales"],
                Zh,
            )],
            check: nothing,
        },
        Step {
            // Target departments from the To/Cc groups; ops is English.
            file: "17_req.eml",
            verdict: "applied:new_req",
            item: "REQ-2",
            state: "proposed",
            events: &[("REQ-2", "new_req")],
            mails: vec![
                m("ack", "REQ-2", &["lina"], &[], Zh),
                m("dept_new", "REQ-2", &["rd"], &[], Zh),
                m("dept_new", "REQ-2", &["ops"], &[], En),
            ],
            check: |v| {
                assert_eq!(v["title"], "华东区门店数据看板");
                assert_eq!(
                    confirmed(v),
                    vec![("rd".into(), false), ("ops".into(), false)]
                );
                assert_eq!(v["due"], "2030-03-31");
                assert_eq!(v["priority"], "normal");
                assert_eq!(v["requester_dept"], "sales");
            },
        },
        Step {
            file: "18_cancel.eml",
            verdict: "applied:cancel",
            item: "REQ-2",
            state: "cancelled",
            events: &[("REQ-2", "cancel"), ("REQ-2", "state")],
            mails: vec![m(
                "cancelled",
                "REQ-2",
                &["rd", "ops"],
                &["lina", "sales"],
                Zh,
            )],
            check: |v| {
                let d = last_event_detail(v, "cancel");
                assert!(d.contains("预算未批"), "cancel reason: {d}");
            },
        },
    ]
}

fn en_steps() -> Vec<Step> {
    vec![
        Step {
            file: "01_req.eml",
            verdict: "applied:new_req",
            item: "REQ-1",
            state: "proposed",
            events: &[("REQ-1", "new_req")],
            mails: vec![
                m("ack", "REQ-1", &["frank"], &[], En),
                m("dept_new", "REQ-1", &["ops"], &[], En),
                m("dept_new", "REQ-1", &["it"], &[], En),
            ],
            check: |v| {
                assert_eq!(v["title"], "Spring campaign landing page");
                assert_eq!(v["requester"], "frank@corp.example");
                assert_eq!(v["requester_dept"], "mkt");
                assert_eq!(
                    confirmed(v),
                    vec![("ops".into(), false), ("it".into(), false)]
                );
                assert_eq!(v["due"], "2030-02-15");
                assert_eq!(v["priority"], "high");
                assert_eq!(v["quality"], "Lighthouse performance score >= 90 on mobile");
                let d = v["description"].as_str().unwrap();
                assert!(d.contains("sign-up form"), "description: {d}");
            },
        },
        Step {
            // Outlook: RE: [QUESTION], -----Original Message----- quote.
            file: "02_clarify.eml",
            verdict: "applied:clarify",
            item: "REQ-1",
            state: "clarifying",
            events: &[("REQ-1", "clarify"), ("REQ-1", "state")],
            mails: vec![m("clarify", "REQ-1", &["frank"], &["mkt", "dave"], En)],
            check: |v| {
                let d = last_event_detail(v, "clarify");
                assert!(d.contains("TLS certificate"), "question: {d}");
                assert!(!d.contains("Original Message"), "quote left: {d}");
                assert!(!d.contains("sign-up form"), "quote left: {d}");
            },
        },
        Step {
            // Thunderbird: On … wrote: and > lines.
            file: "03_answer.eml",
            verdict: "applied:comment",
            item: "REQ-1",
            state: "proposed",
            events: &[("REQ-1", "comment"), ("REQ-1", "state")],
            mails: vec![m("comment", "REQ-1", &["ops", "it"], &["frank"], En)],
            check: |v| {
                let d = last_event_detail(v, "comment");
                assert!(d.contains("Our CDN, please."), "answer: {d}");
                assert!(!d.contains("wrote:"), "quote left: {d}");
            },
        },
        Step {
            // iPhone: format=flowed, Sent from my iPhone.
            file: "04_confirm_ops.eml",
            verdict: "applied:confirm",
            item: "REQ-1",
            state: "proposed",
            events: &[("REQ-1", "confirm")],
            mails: vec![m("confirmed", "REQ-1", &["frank"], &["mkt", "bob"], En)],
            check: |v| {
                assert_eq!(
                    confirmed(v),
                    vec![("ops".into(), true), ("it".into(), false)]
                );
                let d = last_event_detail(v, "confirm");
                assert!(
                    d.contains("certificate this week, and keep"),
                    "flowed lines joined: {d}"
                );
            },
        },
        Step {
            // [ Confirm REQ-1 ]: keyword and id in one bracket, spaces inside.
            file: "05_confirm_it.eml",
            verdict: "applied:confirm",
            item: "REQ-1",
            state: "confirmed",
            events: &[("REQ-1", "confirm"), ("REQ-1", "state")],
            mails: vec![m("confirmed", "REQ-1", &["frank"], &["mkt", "grace"], En)],
            check: |v| {
                assert_eq!(
                    confirmed(v),
                    vec![("ops".into(), true), ("it".into(), true)]
                );
            },
        },
        Step {
            file: "06_assign.eml",
            verdict: "applied:assign",
            item: "REQ-1",
            state: "in_progress",
            events: &[
                ("REQ-1.1", "assign"),
                ("REQ-1.2", "assign"),
                ("REQ-1", "state"),
            ],
            mails: vec![
                m("assigned", "REQ-1.1", &["henry"], &["it", "frank"], En),
                m("assigned", "REQ-1.2", &["ivan"], &["it", "frank"], En),
            ],
            check: |v| {
                assert_eq!(t(v, "REQ-1.1"), tt("henry", "assigned", 0, false));
                // Owner given by configured name.
                assert_eq!(t(v, "REQ-1.2"), tt("ivan", "assigned", 0, false));
                let t1 = task(v, "REQ-1.1");
                assert_eq!(t1["title"], "Build the landing page");
                assert_eq!(t1["assigner"], "grace@corp.example");
                assert_eq!(t1["dept"], "it");
                assert_eq!(t1["due"], "2030-02-01");
                assert_eq!(t1["quality"], "Lighthouse >= 90");
                assert_eq!(task(v, "REQ-1.2")["due"], "2030-02-05");
            },
        },
        Step {
            file: "07_accept.eml",
            verdict: "applied:accept",
            item: "REQ-1.1",
            state: "in_progress",
            events: &[("REQ-1.1", "accept"), ("REQ-1.1", "state")],
            mails: vec![m("accepted", "REQ-1.1", &["grace"], &["henry"], En)],
            check: |v| assert_eq!(t(v, "REQ-1.1"), tt("henry", "accepted", 0, false)),
        },
        Step {
            file: "08_decline.eml",
            verdict: "applied:decline",
            item: "REQ-1.2",
            state: "in_progress",
            events: &[("REQ-1.2", "decline"), ("REQ-1.2", "state")],
            mails: vec![m("declined", "REQ-1.2", &["grace"], &["ivan"], En)],
            check: |v| {
                assert_eq!(t(v, "REQ-1.2"), tt("ivan", "declined", 0, false));
                let d = last_event_detail(v, "decline");
                assert!(d.contains("data-center migration"), "reason: {d}");
            },
        },
        Step {
            // `*` bullet, owner as `Name <address>`.
            file: "09_reassign.eml",
            verdict: "applied:assign",
            item: "REQ-1",
            state: "in_progress",
            events: &[("REQ-1.3", "assign")],
            mails: vec![m("assigned", "REQ-1.3", &["judy"], &["it", "frank"], En)],
            check: |v| {
                assert_eq!(t(v, "REQ-1.3"), tt("judy", "assigned", 0, false));
                assert_eq!(task(v, "REQ-1.3")["title"], "Set up funnel analytics");
            },
        },
        Step {
            // `1.` bullets; every involved department group gets the plan.
            file: "10_plan.eml",
            verdict: "applied:plan",
            item: "REQ-1",
            state: "in_progress",
            events: &[("REQ-1", "plan")],
            mails: vec![
                m("plan", "REQ-1", &["ops"], &[], En),
                m("plan", "REQ-1", &["it"], &[], En),
                m("plan", "REQ-1", &["mkt"], &[], En),
            ],
            check: |v| {
                let ms: Vec<(String, String)> = v["milestones"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        (
                            m["date"].as_str().unwrap().to_string(),
                            m["title"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
                assert_eq!(
                    ms,
                    [
                        ("2030-01-11", "design review"),
                        ("2030-01-25", "CDN path and TLS ready"),
                        ("2030-02-01", "go live"),
                    ]
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                );
            },
        },
        Step {
            // 50% in the subject.
            file: "11_progress.eml",
            verdict: "applied:progress",
            item: "REQ-1.1",
            state: "in_progress",
            events: &[("REQ-1.1", "progress"), ("REQ-1.1", "state")],
            mails: vec![m(
                "progress",
                "REQ-1.1",
                &["grace"],
                &["frank", "henry"],
                En,
            )],
            check: |v| assert_eq!(t(v, "REQ-1.1"), tt("henry", "in_progress", 50, false)),
        },
        Step {
            file: "12_blocked.eml",
            verdict: "applied:blocked",
            item: "REQ-1.1",
            state: "in_progress",
            events: &[("REQ-1.1", "blocked")],
            mails: vec![m("blocked", "REQ-1.1", &["grace"], &["frank", "henry"], En)],
            check: |v| assert_eq!(t(v, "REQ-1.1"), tt("henry", "in_progress", 50, true)),
        },
        Step {
            // No id in the subject: the task comes from the thread headers.
            file: "13_progress.eml",
            verdict: "applied:progress",
            item: "REQ-1.1",
            state: "in_progress",
            events: &[("REQ-1.1", "progress")],
            mails: vec![m(
                "progress",
                "REQ-1.1",
                &["grace"],
                &["frank", "henry"],
                En,
            )],
            check: |v| assert_eq!(t(v, "REQ-1.1"), tt("henry", "in_progress", 75, false)),
        },
        Step {
            file: "14_done.eml",
            verdict: "applied:done",
            item: "REQ-1.3",
            state: "in_progress",
            events: &[("REQ-1.3", "done"), ("REQ-1.3", "state")],
            mails: vec![m("done", "REQ-1.3", &["grace"], &["frank", "judy"], En)],
            check: |v| assert_eq!(t(v, "REQ-1.3"), tt("judy", "done", 100, false)),
        },
        Step {
            file: "15_done.eml",
            verdict: "applied:done",
            item: "REQ-1.1",
            state: "delivered",
            events: &[
                ("REQ-1.1", "done"),
                ("REQ-1.1", "state"),
                ("REQ-1", "state"),
            ],
            mails: vec![
                m("done", "REQ-1.1", &["grace"], &["frank", "henry"], En),
                m("verify_request", "REQ-1", &["frank"], &["mkt"], En),
            ],
            check: |v| assert_eq!(t(v, "REQ-1.1"), tt("henry", "done", 100, false)),
        },
        Step {
            file: "16_close.eml",
            verdict: "applied:close",
            item: "REQ-1",
            state: "closed",
            events: &[("REQ-1", "close"), ("REQ-1", "state")],
            mails: vec![m("closed", "REQ-1", &["ops", "it"], &["frank", "mkt"], En)],
            check: nothing,
        },
        Step {
            file: "17_req.eml",
            verdict: "applied:new_req",
            item: "REQ-2",
            state: "proposed",
            events: &[("REQ-2", "new_req")],
            mails: vec![
                m("ack", "REQ-2", &["emma"], &[], En),
                m("dept_new", "REQ-2", &["ops"], &[], En),
            ],
            check: |v| {
                assert_eq!(v["title"], "Newsletter template refresh");
                assert_eq!(confirmed(v), vec![("ops".into(), false)]);
                assert_eq!(v["due"], "2030-03-01");
            },
        },
        Step {
            file: "18_cancel.eml",
            verdict: "applied:cancel",
            item: "REQ-2",
            state: "cancelled",
            events: &[("REQ-2", "cancel"), ("REQ-2", "state")],
            mails: vec![m("cancelled", "REQ-2", &["ops"], &["emma", "mkt"], En)],
            check: nothing,
        },
    ]
}

#[test]
fn chinese_story_step_by_step_and_in_one_process() {
    let steps = zh_steps();
    let (desk, shows) = step_by_step("story_zh", &steps, false);
    all_at_once_matches("story_zh", &steps, &desk, &shows);
}

#[test]
fn english_story_step_by_step_and_in_one_process() {
    let steps = en_steps();
    let (desk, shows) = step_by_step("story_en", &steps, true);
    all_at_once_matches("story_en", &steps, &desk, &shows);
}

/// RFC 3834: a direct answer to a person's mail is `auto-replied`; a
/// notification to others is `auto-generated`.
#[test]
fn acknowledgement_is_auto_replied_and_notifications_auto_generated() {
    let desk = Desk::new();
    desk.ingest(&fixtures("story_zh")[..1]);
    for s in desk.sent() {
        let want = if s.kind == "ack" {
            "auto-replied"
        } else {
            "auto-generated"
        };
        assert_eq!(s.auto_submitted, want, "{} mail", s.kind);
    }
}

/// CONFIRM from someone who is in no target department: a refusal to the
/// sender (in the sender's language) that says why; nothing changes.
#[test]
fn confirm_from_non_member_is_refused_with_the_reason() {
    let desk = Desk::new();
    desk.ingest(&fixtures("story_zh")[..1]);
    let before = desk.show("REQ-1");
    let rows = desk.sent().len();
    let file = fixture("refusal/confirm_non_member.eml");
    let (mid, _) = fixture_ids(&file);
    let v = desk.ingest_one(&file);
    assert_eq!(v.verdict, "refused:not_target_member");
    assert_eq!(v.item.as_deref(), Some("REQ-1"));
    assert_eq!(
        without_times(&desk.show("REQ-1")),
        without_times(&before),
        "nothing changed"
    );
    let sent = desk.sent();
    assert_eq!(sent.len(), rows + 1, "one mail: the refusal");
    let r = &sent[rows];
    assert_eq!(r.kind, "refusal");
    assert_eq!(r.to, vec!["dave@corp.example".to_string()]);
    assert!(r.cc.is_empty(), "only the sender: {:?}", r.cc);
    assert_eq!(r.auto_submitted, "auto-replied");
    assert_well_formed(r, Some(&mid));
    assert_lang(r, Lang::En);
    // Why, the current state, and who may confirm (the target departments).
    for want in [
        "you are not in a department this requirement was sent to",
        "Current state:  awaiting confirmation",
        "研发部 (rd)",
        "测试部 (qa)",
    ] {
        assert!(r.text.contains(want), "refusal lacks `{want}`:\n{}", r.text);
    }
}

/// A reply to one of the daemon's own mails, whose client dropped the
/// identifier from the subject, correlates through the daemon's Message-ID:
/// the requester answering the question mail (a comment on REQ-1), and an
/// assignee accepting from the task mail (`[接受]` alone: the task comes
/// from the thread).
#[test]
fn replies_to_our_mails_correlate_through_our_message_ids() {
    let desk = Desk::new();
    desk.ingest(&fixtures("story_zh")[..2]);
    assert_eq!(desk.show("REQ-1")["state"], "clarifying");
    let question = desk
        .sent()
        .into_iter()
        .find(|s| s.kind == "clarify")
        .unwrap();
    let reply = |name: &str, from: &str, subject: &str, parent: &Sent, body: &str| {
        let p = desk.path(name);
        let refs = parent
            .references
            .iter()
            .chain([&parent.message_id])
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join(" ");
        std::fs::write(
            &p,
            format!(
                "From: {from}\r\nTo: workflow@corp.example\r\nSubject: {subject}\r\n\
                 Message-ID: <{name}@corp.example>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0800\r\n\
                 In-Reply-To: <{}>\r\nReferences: {refs}\r\nMIME-Version: 1.0\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                 {body}\r\n",
                parent.message_id
            ),
        )
        .unwrap();
        p
    };
    let answer = reply(
        "answer",
        "赵六 <zhaoliu@corp.example>",
        "Re: =?utf-8?B?5a6i5oi35pWw5o2u5a+85Ye65o6l5Y+j?=",
        &question,
        "只要最近一年的，CSV 即可。",
    );
    let v = desk.ingest_one(&answer);
    assert_eq!(
        (v.verdict.as_str(), v.item.as_deref()),
        ("applied:comment", Some("REQ-1"))
    );
    assert_eq!(desk.show("REQ-1")["state"], "proposed");

    desk.ingest(&fixtures("story_zh")[3..6]);
    let task_mail = desk
        .sent()
        .into_iter()
        .find(|s| s.kind == "assigned" && s.item.as_deref() == Some("REQ-1.2"))
        .unwrap();
    let accept = reply(
        "accept",
        "alice@corp.example",
        "Re: [ACCEPT] new task",
        &task_mail,
        "OK.",
    );
    let v = desk.ingest_one(&accept);
    assert_eq!(
        (v.verdict.as_str(), v.item.as_deref()),
        ("applied:accept", Some("REQ-1.2"))
    );
    assert_eq!(task(&desk.show("REQ-1"), "REQ-1.2")["state"], "accepted");
}
