//! The state machine, one test per rule of docs/protocol.md (#keywords,
//! #states, #sends, #refusals): every allowed transition, every
//! refusal. Table-driven where a rule spans many (action, state) pairs.
//!
//! The cast (`directory::tests::sample()`):
//! - sales (销售部, zh-CN): lead 李娜 lina@, members 赵六 zhaoliu@, carol@
//! - rd (研发部, zh-CN): lead 王磊 wanglei@, members 张三 zhangsan@, alice@
//! - ops (Operations, en): lead Dave dave@, member Bob bob@
//!
//! The usual story: 赵六 (sales) asks rd and ops for REQ-1; 张三 assigns
//! REQ-1.1 to alice, Dave assigns REQ-1.2 to Bob.

use super::*;
use crate::directory::tests::sample;
use chrono::TimeZone;

// ----- the world -----------------------------------------------------------

pub(crate) struct World {
    pub dir: Directory,
    pub own: Mailbox,
    pub now: DateTime<Utc>,
    /// What the shell reads for a look-up.
    pub look: Option<LookData>,
}

pub(crate) fn world() -> World {
    World {
        dir: sample(),
        own: Mailbox::new(Some("协作流程助手"), OWN),
        now: now(),
        look: None,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Today in the configured time zone.
fn today() -> NaiveDate {
    date(2026, 11, 26)
}

fn kw(a: Action) -> Vec<String> {
    vec![a.as_str().to_uppercase()]
}

pub(crate) const MSG: &str = "m1@test";
const OWN: &str = "workflow@corp.example";
const ZHAOLIU: &str = "zhaoliu@corp.example";
const CAROL: &str = "carol@corp.example";
const LINA: &str = "lina@corp.example";
const ZHANGSAN: &str = "zhangsan@corp.example";
const ALICE: &str = "alice@corp.example";
const WANGLEI: &str = "wanglei@corp.example";
const BOB: &str = "bob@corp.example";
const DAVE: &str = "dave@corp.example";
const SALES_G: &str = "sales@corp.example";
const RD_G: &str = "rd@corp.example";
const EVERYONE: [&str; 8] = [ZHAOLIU, CAROL, LINA, ZHANGSAN, ALICE, WANGLEI, BOB, DAVE];

const REQ_STATES: [ReqState; 8] = [
    ReqState::Proposed,
    ReqState::Clarifying,
    ReqState::Confirmed,
    ReqState::Rejected,
    ReqState::InProgress,
    ReqState::Delivered,
    ReqState::Closed,
    ReqState::Cancelled,
];
const OPEN_STATES: [&str; 5] = [
    "proposed",
    "clarifying",
    "confirmed",
    "in_progress",
    "delivered",
];
const TASK_STATES: [TaskState; 5] = [
    TaskState::Assigned,
    TaskState::Accepted,
    TaskState::Declined,
    TaskState::InProgress,
    TaskState::Done,
];
const TASK_ACTIONS: [Action; 5] = [
    Action::Accept,
    Action::Decline,
    Action::Progress,
    Action::Blocked,
    Action::Done,
];
const REQ_ACTIONS: [Action; 7] = [
    Action::Confirm,
    Action::Clarify,
    Action::Reject,
    Action::Assign,
    Action::Plan,
    Action::Close,
    Action::Cancel,
];

impl World {
    pub fn run(&self, from: &str, cmd: Command, target: Target) -> Outcome {
        self.exec(from, &cmd, target, &[], MSG)
    }

    /// As `run`, with more To/Cc recipients besides the daemon itself.
    pub fn run_to(&self, from: &str, cmd: Command, target: Target, rcpt: &[&str]) -> Outcome {
        self.exec(from, &cmd, target, rcpt, MSG)
    }

    pub fn exec(
        &self,
        from: &str,
        cmd: &Command,
        target: Target,
        rcpt: &[&str],
        message_id: &str,
    ) -> Outcome {
        let kwf = kw;
        let ctx = Ctx {
            dir: &self.dir,
            workflow: &self.own,
            now: self.now,
            today: today(),
            keywords_for: &kwf,
            look: self.look.as_ref(),
        };
        let sender = Mailbox::parse(from).unwrap();
        let mut recipients = vec![self.own.clone()];
        recipients.extend(rcpt.iter().map(|r| Mailbox::parse(r).unwrap()));
        let r = Request {
            cmd,
            sender: &sender,
            recipients: &recipients,
            message_id,
            subject: "subject",
        };
        let o = decide(&ctx, &r, target);
        check_mail_invariants(&o);
        o
    }
}

// ----- commands and fields ---------------------------------------------

pub(crate) fn cmd(action: Action, fields: Fields) -> Command {
    Command {
        action: Some(action),
        target: None,
        title: "导出客户数据".into(),
        fields,
        unknown_keyword: None,
    }
}

/// A mail with no keyword (a plain reply: a comment when an item is found).
fn plain(fields: Fields) -> Command {
    Command {
        action: None,
        ..cmd(Action::Comment, fields)
    }
}

pub(crate) fn note(s: &str) -> Fields {
    Fields {
        note: s.into(),
        ..Fields::default()
    }
}

fn depts(d: &[&str]) -> Fields {
    Fields {
        departments: d.iter().map(|s| s.to_string()).collect(),
        ..note("请导出")
    }
}

fn tasks(lines: &[(&str, &str)]) -> Fields {
    Fields {
        tasks: lines
            .iter()
            .map(|(owner, title)| TaskLine {
                owner: owner.to_string(),
                title: title.to_string(),
                due: None,
                quality: None,
            })
            .collect(),
        ..Fields::default()
    }
}

fn milestones(m: &[(NaiveDate, &str, Option<&str>)]) -> Fields {
    Fields {
        milestones: m
            .iter()
            .map(|(date, title, owner)| Milestone {
                date: *date,
                title: title.to_string(),
                owner: owner.map(String::from),
            })
            .collect(),
        ..Fields::default()
    }
}

fn progress(p: u8, s: &str) -> Fields {
    Fields {
        progress: Some(p),
        ..note(s)
    }
}

fn with_problem(f: Fields, p: FieldProblem) -> Fields {
    Fields {
        problems: vec![p],
        ..f
    }
}

// ----- targets ---------------------------------------------------------

fn on(req: &Requirement) -> Target<'_> {
    Target::Existing(ItemId::Req(req.id), req)
}

fn task_id(n: u32) -> TaskId {
    TaskId { req: ReqId(1), n }
}

fn on_task(req: &Requirement, n: u32) -> Target<'_> {
    Target::Existing(ItemId::Task(task_id(n)), req)
}

// ----- assertions ------------------------------------------------------

const NONE: [&str; 0] = [];

fn addrs(v: &[Mailbox]) -> Vec<&str> {
    v.iter().map(|m| m.address.as_str()).collect()
}

/// Holds for every outcome: no mail names the daemon itself, and no
/// address appears twice in one mail (To wins over Cc).
#[track_caller]
fn check_mail_invariants(o: &Outcome) {
    for m in &o.mails {
        let all: Vec<&str> = addrs(&m.to).into_iter().chain(addrs(&m.cc)).collect();
        assert!(!all.contains(&OWN), "the daemon mails itself: {all:?}");
        let mut dedup = all.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), all.len(), "duplicate recipients: {all:?}");
        assert_eq!(m.ctx.workflow_address, OWN);
        assert_eq!(
            m.item.as_deref(),
            (!m.ctx.id.is_empty()).then_some(&*m.ctx.id)
        );
    }
}

/// A mail in one line: `kind to:[..] cc:[..] locale item`, addresses
/// without the common `@corp.example` (`-` when there is no item).
fn sketch(m: &Outgoing) -> String {
    let short = |v: &[Mailbox]| {
        v.iter()
            .map(|m| {
                m.address
                    .strip_suffix("@corp.example")
                    .unwrap_or(&m.address)
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{} to:[{}] cc:[{}] {} {}",
        m.kind.name(),
        short(&m.to),
        short(&m.cc),
        m.locale,
        m.item.as_deref().unwrap_or("-")
    )
}

/// Events as (item, kind, detail); each by `actor`, caused by `MSG`, now.
#[track_caller]
fn assert_events(o: &Outcome, actor: &str, want: &[(&str, &str, &str)]) {
    let got: Vec<(String, &str, &str)> = o
        .events
        .iter()
        .map(|e| (e.item.to_string(), e.kind.as_str(), e.detail.as_str()))
        .collect();
    let want: Vec<(String, &str, &str)> = want
        .iter()
        .map(|(i, k, d)| (i.to_string(), *k, *d))
        .collect();
    assert_eq!(got, want);
    for e in &o.events {
        assert_eq!(e.actor, actor);
        assert_eq!(e.message_id, MSG);
        assert_eq!(e.at, now());
    }
}

fn transcript(m: &Outgoing) -> Vec<(&str, &str)> {
    m.ctx
        .transcript
        .iter()
        .map(|l| (l.key.as_str(), l.value.as_str()))
        .collect()
}

fn tval<'m>(m: &'m Outgoing, key: &str) -> Option<&'m str> {
    m.ctx
        .transcript
        .iter()
        .find(|l| l.key == key)
        .map(|l| l.value.as_str())
}

/// The action was applied: returns the new snapshot.
#[track_caller]
fn ok(o: &Outcome, a: Action) -> Requirement {
    assert_eq!(
        o.verdict,
        Verdict::Applied(a),
        "refused: {:?}",
        o.mails.first().map(|m| (&m.ctx.reason, &m.ctx.detail))
    );
    o.req.clone().expect("an applied action returns a snapshot")
}

/// The action was refused: nothing changed, one reply to the sender that
/// says why (reason code, transcript with the result and the state).
#[track_caller]
fn refused<'o>(o: &'o Outcome, why: Refusal, sender: &str) -> &'o Outgoing {
    assert_eq!(
        o.verdict,
        Verdict::Refused(why),
        "detail: {:?}",
        o.mails.first().map(|m| &m.ctx.detail)
    );
    assert!(o.req.is_none(), "a refusal changes nothing");
    assert!(o.events.is_empty(), "a refusal records no event");
    assert_eq!(o.mails.len(), 1, "exactly one reply");
    let m = &o.mails[0];
    assert_eq!(m.kind, Kind::Refusal);
    assert_eq!(addrs(&m.to), [sender]);
    assert_eq!(addrs(&m.cc), NONE);
    assert_eq!(m.ctx.reason, why.code());
    // The transcript says "refused"; the reason code travels in ctx.reason.
    assert_eq!(tval(m, "result"), Some("refused"));
    let state = if m.ctx.state.is_empty() {
        "-"
    } else {
        m.ctx.state.as_str()
    };
    assert_eq!(tval(m, "state"), Some(state));
    m
}

#[track_caller]
fn step(w: &World, from: &str, a: Action, f: Fields, target: Target) -> Requirement {
    let o = w.run(from, cmd(a, f), target);
    ok(&o, a)
}

// ----- fixtures: REQ-1 walked to each state ------------------------------

/// A requirement from 赵六 (sales) to rd and ops, freshly proposed.
pub(crate) fn proposed(w: &World) -> Requirement {
    let f = Fields {
        departments: vec!["研发".into(), "ops".into()],
        due: NaiveDate::from_ymd_opt(2026, 12, 15),
        ..note("请导出")
    };
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(1)));
    assert_eq!(o.verdict, Verdict::Applied(Action::NewReq));
    o.req.unwrap()
}

/// A requirement from 赵六 (sales) to the given departments only.
fn proposed_to(w: &World, d: &[&str]) -> Requirement {
    let o = w.run(
        ZHAOLIU,
        cmd(Action::NewReq, depts(d)),
        Target::New(ReqId(1)),
    );
    ok(&o, Action::NewReq)
}

/// Bob (ops) asked a question.
pub(crate) fn clarifying(w: &World) -> Requirement {
    step(
        w,
        BOB,
        Action::Clarify,
        note("哪些字段？"),
        on(&proposed(w)),
    )
}

/// 张三 confirmed for rd, Bob for ops.
pub(crate) fn confirmed(w: &World) -> Requirement {
    let r = step(w, ZHANGSAN, Action::Confirm, note(""), on(&proposed(w)));
    step(w, BOB, Action::Confirm, note(""), on(&r))
}

/// Bob rejected it for ops.
pub(crate) fn rejected(w: &World) -> Requirement {
    step(w, BOB, Action::Reject, note("做不了"), on(&proposed(w)))
}

/// REQ-1.1: alice's, assigned by 张三 (rd); REQ-1.2: Bob's, assigned by Dave (ops).
pub(crate) fn in_progress(w: &World) -> Requirement {
    let r = confirmed(w);
    let r = step(
        w,
        ZHANGSAN,
        Action::Assign,
        tasks(&[(ALICE, "Export API")]),
        on(&r),
    );
    step(
        w,
        DAVE,
        Action::Assign,
        tasks(&[("bob", "Ops export")]),
        on(&r),
    )
}

/// Both tasks done.
pub(crate) fn delivered(w: &World) -> Requirement {
    let r = in_progress(w);
    let r = step(w, ALICE, Action::Done, note(""), on_task(&r, 1));
    step(w, BOB, Action::Done, note(""), on_task(&r, 2))
}

pub(crate) fn closed(w: &World) -> Requirement {
    step(
        w,
        ZHAOLIU,
        Action::Close,
        note("验收通过"),
        on(&delivered(w)),
    )
}

/// Cancelled while in progress.
pub(crate) fn cancelled(w: &World) -> Requirement {
    step(
        w,
        ZHAOLIU,
        Action::Cancel,
        note("不需要了"),
        on(&in_progress(w)),
    )
}

fn in_state(w: &World, s: ReqState) -> Requirement {
    let r = match s {
        ReqState::Proposed => proposed(w),
        ReqState::Clarifying => clarifying(w),
        ReqState::Confirmed => confirmed(w),
        ReqState::Rejected => rejected(w),
        ReqState::InProgress => in_progress(w),
        ReqState::Delivered => delivered(w),
        ReqState::Closed => closed(w),
        ReqState::Cancelled => cancelled(w),
    };
    assert_eq!(r.state, s);
    r
}

/// REQ-1 in progress with alice's REQ-1.1 in state `s` (Bob's REQ-1.2 is
/// still assigned, so the requirement stays in progress).
fn task_in(w: &World, s: TaskState) -> Requirement {
    let r = in_progress(w);
    let r = match s {
        TaskState::Assigned => r,
        TaskState::Accepted => step(w, ALICE, Action::Accept, note(""), on_task(&r, 1)),
        TaskState::Declined => step(w, ALICE, Action::Decline, note("没空"), on_task(&r, 1)),
        TaskState::InProgress => step(
            w,
            ALICE,
            Action::Progress,
            progress(50, "一半"),
            on_task(&r, 1),
        ),
        TaskState::Done => step(w, ALICE, Action::Done, note(""), on_task(&r, 1)),
    };
    assert_eq!(r.task(task_id(1)).unwrap().state, s);
    assert_eq!(r.state, ReqState::InProgress);
    r
}

// ===== new requirement ===================================================

#[test]
fn new_requirement_acknowledges_requester_and_notifies_each_department() {
    let w = world();
    let f = Fields {
        departments: vec!["研发".into(), "ops".into()],
        due: Some(date(2026, 12, 15)),
        ..note("请导出")
    };
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(7)));
    let req = ok(&o, Action::NewReq);
    assert_eq!(req.id, ReqId(7));
    assert_eq!(req.title, "导出客户数据");
    assert_eq!(req.requester, Mailbox::new(Some("赵六"), ZHAOLIU));
    assert_eq!(req.requester_dept.as_deref(), Some("sales"));
    let want_depts = ["rd", "ops"].map(|d| DeptStatus {
        id: d.into(),
        confirmed: false,
    });
    assert_eq!(req.depts, want_depts);
    assert_eq!(req.due, Some(date(2026, 12, 15)));
    assert_eq!(req.priority, Priority::Normal);
    assert_eq!(req.description, "请导出");
    assert_eq!(req.state, ReqState::Proposed);
    assert!(req.tasks.is_empty() && req.milestones.is_empty());
    assert_eq!((req.created_at, req.updated_at), (now(), now()));
    assert_eq!(o.item, Some(ItemId::Req(ReqId(7))));
    assert_events(
        &o,
        ZHAOLIU,
        &[("REQ-7", "new_req", "导出客户数据 → rd,ops")],
    );

    assert_eq!(o.mails.len(), 3);
    let ack = &o.mails[0];
    assert_eq!(sketch(ack), "ack to:[zhaoliu] cc:[] zh-CN REQ-7");
    assert_eq!(
        ack.ctx.allowed,
        ["[CONFIRM]", "[CLARIFY]", "[REJECT]", "[CANCEL]"]
    );
    assert_eq!(ack.ctx.state, "proposed");
    assert_eq!(ack.ctx.requester, "赵六 <zhaoliu@corp.example>");
    assert_eq!(ack.ctx.due.as_deref(), Some("2026-12-15"));
    assert_eq!(tval(ack, "result"), Some("created"));
    let rd = &o.mails[1];
    assert_eq!(sketch(rd), "dept_new to:[rd] cc:[] zh-CN REQ-7");
    assert_eq!(
        rd.ctx.dept,
        Some(DeptCtx {
            id: "rd".into(),
            name: "研发部".into(),
            confirmed: false
        })
    );
    assert!(
        rd.ctx.transcript.is_empty(),
        "the transcript is the requester's"
    );
    assert_eq!(rd.ctx.allowed, ack.ctx.allowed);
    let ops = &o.mails[2];
    assert_eq!(sketch(ops), "dept_new to:[ops] cc:[] en REQ-7");
    assert_eq!(ops.ctx.dept.as_ref().unwrap().name, "Operations");
}

#[test]
fn transcript_of_new_requirement_lists_what_was_understood() {
    let w = world();
    let f = Fields {
        departments: vec!["研发".into(), "ops".into()],
        due: Some(date(2026, 12, 15)),
        quality: Some("字段完整".into()),
        priority: Some(Priority::High),
        ..note("请导出")
    };
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(1)));
    let req = ok(&o, Action::NewReq);
    assert_eq!(req.quality.as_deref(), Some("字段完整"));
    assert_eq!(req.priority, Priority::High);
    assert_eq!(
        transcript(&o.mails[0]),
        [
            ("action", "new_req"),
            ("id", "REQ-1"),
            ("departments", "研发, ops"),
            ("due", "2026-12-15"),
            ("quality", "字段完整"),
            ("priority", "high"),
            ("result", "created"),
            ("state", "proposed"),
        ]
    );
    assert_eq!(o.mails[1].ctx.priority, "high");
    assert_eq!(o.mails[1].ctx.quality.as_deref(), Some("字段完整"));
}

#[test]
fn new_requirement_targets_groups_among_recipients_when_no_dept_field() {
    let w = world();
    let o = w.run_to(
        ZHAOLIU,
        cmd(Action::NewReq, note("请导出")),
        Target::New(ReqId(1)),
        &[RD_G, CAROL, "运维 <OPS@corp.example>", "rd@corp.example"],
    );
    let req = ok(&o, Action::NewReq);
    let ids: Vec<&str> = req.depts.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["rd", "ops"]);
    assert_eq!(o.mails.len(), 3);
    assert_eq!(sketch(&o.mails[1]), "dept_new to:[rd] cc:[] zh-CN REQ-1");
    assert_eq!(sketch(&o.mails[2]), "dept_new to:[ops] cc:[] en REQ-1");
    assert_eq!(tval(&o.mails[0], "departments"), None);
}

#[test]
fn dept_field_wins_over_groups_among_recipients() {
    let w = world();
    let o = w.run_to(
        ZHAOLIU,
        cmd(Action::NewReq, depts(&["ops"])),
        Target::New(ReqId(1)),
        &[RD_G],
    );
    let req = ok(&o, Action::NewReq);
    let ids: Vec<&str> = req.depts.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["ops"]);
    assert_eq!(o.mails.len(), 2);
    assert_eq!(sketch(&o.mails[1]), "dept_new to:[ops] cc:[] en REQ-1");
}

#[test]
fn departments_resolve_by_id_name_or_alias_and_count_once() {
    let w = world();
    let f = depts(&["R&D", "研发部", "rd", "运维", "Operations"]);
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(1)));
    let req = ok(&o, Action::NewReq);
    let ids: Vec<&str> = req.depts.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["rd", "ops"]);
    assert_eq!(o.mails.len(), 3);
}

#[test]
fn unknown_department_is_refused_with_the_known_ones() {
    let w = world();
    let o = w.run(
        ZHAOLIU,
        cmd(Action::NewReq, depts(&["研发", "finance"])),
        Target::New(ReqId(1)),
    );
    let m = refused(&o, Refusal::UnknownDepartment, ZHAOLIU);
    assert_eq!(m.ctx.detail, "finance");
    assert_eq!(
        m.ctx.allowed,
        ["销售部 (sales)", "研发部 (rd)", "Operations (ops)"]
    );
    assert_eq!((m.ctx.id.as_str(), m.item.as_deref()), ("", None));
    assert_eq!(o.item, None);
    assert_eq!(m.locale, "zh-CN");
    assert_eq!(tval(m, "action"), Some("new_req"));
    assert_eq!(tval(m, "departments"), Some("研发, finance"));
}

#[test]
fn new_requirement_without_departments_is_refused() {
    let w = world();
    let o = w.run_to(
        ZHAOLIU,
        cmd(Action::NewReq, note("请导出")),
        Target::New(ReqId(1)),
        &[CAROL],
    );
    let m = refused(&o, Refusal::NoDepartments, ZHAOLIU);
    assert_eq!(
        m.ctx.allowed,
        [
            "Dept: sales / sales@corp.example",
            "Dept: rd / rd@corp.example",
            "Dept: ops / ops@corp.example"
        ]
    );
}

#[test]
fn past_due_date_is_refused() {
    let w = world();
    let f = Fields {
        due: Some(date(2026, 11, 25)),
        ..depts(&["rd"])
    };
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(1)));
    let m = refused(&o, Refusal::BadDate, ZHAOLIU);
    assert_eq!(m.ctx.detail, "2026-11-25 < 2026-11-26");
    assert_eq!(tval(m, "due"), Some("2026-11-25"));
}

#[test]
fn due_date_today_is_accepted() {
    let w = world();
    let f = Fields {
        due: Some(today()),
        ..depts(&["rd"])
    };
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(1)));
    assert_eq!(ok(&o, Action::NewReq).due, Some(today()));
}

#[test]
fn unreadable_date_is_refused_with_the_accepted_forms() {
    let w = world();
    let f = with_problem(
        depts(&["rd"]),
        FieldProblem::BadDate {
            field: "due".into(),
            value: "下周五".into(),
        },
    );
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(1)));
    let m = refused(&o, Refusal::BadDate, ZHAOLIU);
    assert_eq!(m.ctx.detail, "due: 下周五");
    assert_eq!(
        m.ctx.allowed,
        ["2026-12-15", "2026/12/15", "2026年12月15日", "12月15日"]
    );
}

#[test]
fn unknown_priority_is_refused_with_the_accepted_words() {
    let w = world();
    let f = with_problem(
        depts(&["rd"]),
        FieldProblem::BadPriority {
            value: "asap".into(),
        },
    );
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(1)));
    let m = refused(&o, Refusal::BadField, ZHAOLIU);
    assert_eq!(m.ctx.detail, "priority: asap");
    assert_eq!(
        m.ctx.allowed,
        ["low", "normal", "high", "urgent", "低", "中", "高", "紧急"]
    );
}

#[test]
fn new_requirement_without_subject_takes_title_from_first_line_of_note() {
    let w = world();
    let c = Command {
        title: "  ".into(),
        ..cmd(
            Action::NewReq,
            Fields {
                departments: vec!["rd".into()],
                ..note("导出 CRM 数据\n第二行")
            },
        )
    };
    let o = w.run(ZHAOLIU, c, Target::New(ReqId(1)));
    assert_eq!(ok(&o, Action::NewReq).title, "导出 CRM 数据");

    let long = "长".repeat(100);
    let c = Command {
        title: String::new(),
        ..cmd(
            Action::NewReq,
            Fields {
                departments: vec!["rd".into()],
                ..note(&long)
            },
        )
    };
    let o = w.run(ZHAOLIU, c, Target::New(ReqId(1)));
    assert_eq!(ok(&o, Action::NewReq).title.chars().count(), 80);
}

#[test]
fn new_requirement_without_subject_or_note_is_refused() {
    let w = world();
    let c = Command {
        title: String::new(),
        ..cmd(
            Action::NewReq,
            Fields {
                departments: vec!["rd".into()],
                ..note("")
            },
        )
    };
    let o = w.run(ZHAOLIU, c, Target::New(ReqId(1)));
    assert_eq!(
        refused(&o, Refusal::MissingField, ZHAOLIU).ctx.detail,
        "title"
    );
}

#[test]
fn only_the_new_requirement_keyword_creates_an_item() {
    let w = world();
    // [REQ] on an existing item.
    let req = proposed(&w);
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, depts(&["rd"])), on(&req));
    let m = refused(&o, Refusal::NoAction, ZHAOLIU);
    assert_eq!(
        (m.ctx.id.as_str(), m.ctx.state.as_str()),
        ("REQ-1", "proposed")
    );
    assert_eq!(o.item, Some(ItemId::Req(ReqId(1))));
    // Another keyword, or none, with a new-item target.
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Confirm, note("")),
        Target::New(ReqId(2)),
    );
    refused(&o, Refusal::NoAction, ZHANGSAN);
    let o = w.run(ZHANGSAN, plain(note("hi")), Target::New(ReqId(2)));
    refused(&o, Refusal::NoAction, ZHANGSAN);
}

// ===== confirm ==========================================================

#[test]
fn confirm_by_every_target_department_confirms_the_requirement() {
    let w = world();
    let req = proposed(&w);
    let o = w.run(ZHANGSAN, cmd(Action::Confirm, note("")), on(&req));
    let req = ok(&o, Action::Confirm);
    assert_eq!(req.state, ReqState::Proposed);
    assert_eq!(
        req.depts,
        [
            DeptStatus {
                id: "rd".into(),
                confirmed: true
            },
            DeptStatus {
                id: "ops".into(),
                confirmed: false
            }
        ]
    );
    assert_events(&o, ZHANGSAN, &[("REQ-1", "confirm", "rd: ")]);
    assert_eq!(o.mails.len(), 1);
    let m = &o.mails[0];
    // To the requester, cc the requester's group; the confirmer is copied
    // for the transcript since neither reaches them.
    assert_eq!(
        sketch(m),
        "confirmed to:[zhaoliu] cc:[sales, zhangsan] zh-CN REQ-1"
    );
    assert_eq!(
        m.ctx.dept,
        Some(DeptCtx {
            id: "rd".into(),
            name: "研发部".into(),
            confirmed: true
        })
    );
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.state_before.as_str()),
        ("proposed", "proposed")
    );
    assert!(m.ctx.allowed.is_empty());
    assert_eq!(m.ctx.actor, "张三 <zhangsan@corp.example>");

    let o = w.run(BOB, cmd(Action::Confirm, note("")), on(&req));
    let req = ok(&o, Action::Confirm);
    assert_eq!(req.state, ReqState::Confirmed);
    assert!(req.all_confirmed());
    assert_events(
        &o,
        BOB,
        &[
            ("REQ-1", "confirm", "ops: "),
            ("REQ-1", "state", "confirmed"),
        ],
    );
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "confirmed to:[zhaoliu] cc:[sales, bob] zh-CN REQ-1"
    );
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.state_before.as_str()),
        ("confirmed", "proposed")
    );
    assert_eq!(m.ctx.allowed, ["[ASSIGN]"]);
    assert!(m.ctx.departments.iter().all(|d| d.confirmed));
    assert_eq!(
        transcript(m),
        [
            ("action", "confirm"),
            ("id", "REQ-1"),
            ("result", "confirm"),
            ("state", "confirmed")
        ]
    );
}

#[test]
fn lead_may_confirm_for_their_department() {
    let w = world();
    let o = w.run(DAVE, cmd(Action::Confirm, note("")), on(&proposed(&w)));
    let req = ok(&o, Action::Confirm);
    assert!(req.depts.iter().any(|d| d.id == "ops" && d.confirmed));
    assert_events(&o, DAVE, &[("REQ-1", "confirm", "ops: ")]);
    assert_eq!(
        sketch(&o.mails[0]),
        "confirmed to:[zhaoliu] cc:[sales, dave] zh-CN REQ-1"
    );
}

#[test]
fn confirm_from_non_member_is_refused() {
    let w = world();
    let req = proposed(&w);
    // The requester, a colleague, and the requester's lead: none is in rd or ops.
    for from in [ZHAOLIU, CAROL, LINA] {
        let o = w.run(from, cmd(Action::Confirm, note("")), on(&req));
        let m = refused(&o, Refusal::NotTargetMember, from);
        assert_eq!(m.ctx.allowed, ["研发部 (rd)", "Operations (ops)"]);
        assert_eq!(m.ctx.id, "REQ-1");
        assert_eq!(m.ctx.state, "proposed");
        assert_eq!(m.item.as_deref(), Some("REQ-1"));
        assert_eq!(o.item, Some(ItemId::Req(ReqId(1))));
        assert_eq!(m.locale, "zh-CN");
        assert_eq!(
            transcript(m),
            [
                ("action", "confirm"),
                ("id", "REQ-1"),
                ("result", "refused"),
                ("state", "proposed")
            ]
        );
    }
}

#[test]
fn second_confirm_by_the_same_department_is_already_done() {
    let w = world();
    let req = step(&w, ZHANGSAN, Action::Confirm, note(""), on(&proposed(&w)));
    for from in [ZHANGSAN, ALICE, WANGLEI] {
        let o = w.run(from, cmd(Action::Confirm, note("")), on(&req));
        let m = refused(&o, Refusal::AlreadyDone, from);
        assert_eq!(m.ctx.detail, "rd");
        assert_eq!(m.ctx.state, "proposed");
    }
}

#[test]
fn confirm_while_clarifying_is_allowed() {
    let w = world();
    let req = clarifying(&w);
    let req = step(&w, ZHANGSAN, Action::Confirm, note(""), on(&req));
    assert_eq!(req.state, ReqState::Clarifying);
    let o = w.run(BOB, cmd(Action::Confirm, note("清楚了")), on(&req));
    assert_eq!(ok(&o, Action::Confirm).state, ReqState::Confirmed);
    assert_events(
        &o,
        BOB,
        &[
            ("REQ-1", "confirm", "ops: 清楚了"),
            ("REQ-1", "state", "confirmed"),
        ],
    );
    assert_eq!(o.mails[0].ctx.state_before, "clarifying");
}

// ===== clarify ============================================================

#[test]
fn clarify_asks_the_requester_and_moves_to_clarifying() {
    let w = world();
    let o = w.run(
        BOB,
        cmd(Action::Clarify, note("哪些字段？")),
        on(&proposed(&w)),
    );
    let req = ok(&o, Action::Clarify);
    assert_eq!(req.state, ReqState::Clarifying);
    assert!(req.depts.iter().all(|d| !d.confirmed));
    assert_events(
        &o,
        BOB,
        &[
            ("REQ-1", "clarify", "ops: 哪些字段？"),
            ("REQ-1", "state", "clarifying"),
        ],
    );
    assert_eq!(o.mails.len(), 1);
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "clarify to:[zhaoliu] cc:[sales, bob] zh-CN REQ-1"
    );
    assert_eq!(m.ctx.allowed, ["Re: [REQ-1]"]);
    assert_eq!(m.ctx.note, "哪些字段？");
    assert_eq!(
        m.ctx.dept.as_ref().map(|d| (d.id.as_str(), d.confirmed)),
        Some(("ops", false))
    );
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.state_before.as_str()),
        ("clarifying", "proposed")
    );
    assert_eq!(tval(m, "state"), Some("clarifying"));
}

#[test]
fn clarify_from_non_member_is_refused() {
    let w = world();
    let o = w.run(CAROL, cmd(Action::Clarify, note("?")), on(&proposed(&w)));
    let m = refused(&o, Refusal::NotTargetMember, CAROL);
    assert_eq!(m.ctx.allowed, ["研发部 (rd)", "Operations (ops)"]);
}

#[test]
fn clarify_without_question_is_refused() {
    let w = world();
    let o = w.run(BOB, cmd(Action::Clarify, note("  \n")), on(&proposed(&w)));
    let m = refused(&o, Refusal::MissingField, BOB);
    assert_eq!(m.ctx.detail, "note");
    assert_eq!(m.ctx.state, "proposed");
    assert_eq!(m.locale, "en");
}

#[test]
fn another_question_while_clarifying_stays_clarifying() {
    let w = world();
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Clarify, note("格式？")),
        on(&clarifying(&w)),
    );
    assert_eq!(ok(&o, Action::Clarify).state, ReqState::Clarifying);
    assert_events(&o, ZHANGSAN, &[("REQ-1", "clarify", "rd: 格式？")]);
}

#[test]
fn requester_comment_while_clarifying_returns_to_proposed() {
    let w = world();
    let o = w.run(ZHAOLIU, plain(note("字段见附件")), on(&clarifying(&w)));
    let req = ok(&o, Action::Comment);
    assert_eq!(req.state, ReqState::Proposed);
    assert_events(
        &o,
        ZHAOLIU,
        &[
            ("REQ-1", "comment", "字段见附件"),
            ("REQ-1", "state", "proposed"),
        ],
    );
    assert_eq!(o.mails.len(), 1);
    let m = &o.mails[0];
    // To the target groups (the requester is the sender, so left out of
    // To) and the requester copied for the transcript.
    assert_eq!(sketch(m), "comment to:[rd, ops] cc:[zhaoliu] zh-CN REQ-1");
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.state_before.as_str()),
        ("proposed", "clarifying")
    );
    assert_eq!(
        transcript(m),
        [
            ("action", "comment"),
            ("id", "REQ-1"),
            ("result", "recorded"),
            ("state", "proposed")
        ]
    );
}

#[test]
fn requester_lead_answer_while_clarifying_returns_to_proposed() {
    let w = world();
    let o = w.run(LINA, plain(note("见附件")), on(&clarifying(&w)));
    assert_eq!(ok(&o, Action::Comment).state, ReqState::Proposed);
    assert_eq!(
        sketch(&o.mails[0]),
        "comment to:[zhaoliu, rd, ops] cc:[lina] zh-CN REQ-1"
    );
}

#[test]
fn comment_by_others_while_clarifying_stays_clarifying() {
    let w = world();
    let req = clarifying(&w);
    // Target members, and the requester's colleague (not the requester).
    for from in [ZHANGSAN, BOB, CAROL] {
        let o = w.run(from, plain(note("补充")), on(&req));
        assert_eq!(ok(&o, Action::Comment).state, ReqState::Clarifying);
        assert_events(&o, from, &[("REQ-1", "comment", "补充")]);
    }
}

// ===== reject =============================================================

#[test]
fn reject_by_one_target_department_rejects_the_requirement() {
    let w = world();
    let req = step(&w, ZHANGSAN, Action::Confirm, note(""), on(&proposed(&w)));
    let o = w.run(BOB, cmd(Action::Reject, note("做不了")), on(&req));
    let req = ok(&o, Action::Reject);
    assert_eq!(req.state, ReqState::Rejected);
    assert_events(
        &o,
        BOB,
        &[
            ("REQ-1", "reject", "ops: 做不了"),
            ("REQ-1", "state", "rejected"),
        ],
    );
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "rejected to:[zhaoliu] cc:[sales, bob] zh-CN REQ-1"
    );
    assert_eq!(
        m.ctx.dept.as_ref().map(|d| (d.id.as_str(), d.confirmed)),
        Some(("ops", false))
    );
    assert!(m.ctx.allowed.is_empty());
    assert_eq!(m.ctx.note, "做不了");
    assert_eq!(tval(m, "state"), Some("rejected"));
}

#[test]
fn reject_from_non_member_is_refused() {
    let w = world();
    let o = w.run(
        ZHAOLIU,
        cmd(Action::Reject, note("算了")),
        on(&proposed(&w)),
    );
    refused(&o, Refusal::NotTargetMember, ZHAOLIU);
}

#[test]
fn reject_without_reason_is_refused() {
    let w = world();
    let o = w.run(BOB, cmd(Action::Reject, note("")), on(&proposed(&w)));
    assert_eq!(refused(&o, Refusal::MissingField, BOB).ctx.detail, "note");
}

// ===== assign =============================================================

#[test]
fn assign_creates_a_task_per_line_and_mails_each_assignee() {
    let w = world();
    let f = Fields {
        tasks: vec![
            TaskLine {
                owner: ALICE.into(),
                title: "Export API".into(),
                due: Some(date(2026, 12, 10)),
                quality: Some("p95 < 200 ms".into()),
            },
            TaskLine {
                owner: "张三".into(),
                title: "Export UI".into(),
                due: None,
                quality: None,
            },
        ],
        ..Fields::default()
    };
    let o = w.run(ZHANGSAN, cmd(Action::Assign, f), on(&confirmed(&w)));
    let req = ok(&o, Action::Assign);
    assert_eq!(req.state, ReqState::InProgress);
    assert_eq!(o.item, Some(ItemId::Req(ReqId(1))));
    let zhangsan = Mailbox::new(Some("张三"), ZHANGSAN);
    assert_eq!(
        req.tasks,
        [
            Task {
                id: task_id(1),
                owner: Mailbox::new(None, ALICE),
                assigner: zhangsan.clone(),
                dept: "rd".into(),
                title: "Export API".into(),
                due: Some(date(2026, 12, 10)),
                quality: Some("p95 < 200 ms".into()),
                state: TaskState::Assigned,
                progress: 0,
                blocked: false,
                last_report: None,
                created_at: now(),
            },
            Task {
                id: task_id(2),
                owner: zhangsan.clone(),
                assigner: zhangsan,
                dept: "rd".into(),
                title: "Export UI".into(),
                // The requirement's deadline when the line has none.
                due: Some(date(2026, 12, 15)),
                quality: None,
                state: TaskState::Assigned,
                progress: 0,
                blocked: false,
                last_report: None,
                created_at: now(),
            }
        ]
    );
    assert_events(
        &o,
        ZHANGSAN,
        &[
            ("REQ-1.1", "assign", "Export API → alice@corp.example"),
            ("REQ-1.2", "assign", "Export UI → zhangsan@corp.example"),
            ("REQ-1", "state", "in_progress"),
        ],
    );
    assert_eq!(o.mails.len(), 2);
    // Each assignee, cc the target group and the requester; the assigner
    // is reached through the rd group.
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "assigned to:[alice] cc:[rd, zhaoliu] zh-CN REQ-1.1"
    );
    assert_eq!(
        (m.ctx.id.as_str(), m.ctx.req_id.as_str()),
        ("REQ-1.1", "REQ-1")
    );
    assert_eq!(
        (m.ctx.title.as_str(), m.ctx.req_title.as_str()),
        ("Export API", "导出客户数据")
    );
    assert_eq!(m.ctx.state, "assigned");
    assert_eq!(m.ctx.req_state, "in_progress");
    assert_eq!(m.ctx.state_before, "confirmed");
    assert_eq!(m.ctx.allowed, ["[ACCEPT]", "[DECLINE]"]);
    let t = m.ctx.task.as_ref().unwrap();
    assert_eq!(t.due.as_deref(), Some("2026-12-10"));
    assert_eq!(t.quality.as_deref(), Some("p95 < 200 ms"));
    assert_eq!(
        transcript(m),
        [
            ("action", "assign"),
            ("id", "REQ-1"),
            ("tasks", "alice@corp.example: Export API; 张三: Export UI"),
            ("result", "REQ-1.1, REQ-1.2"),
            ("state", "in_progress"),
        ]
    );
    let m = &o.mails[1];
    assert_eq!(
        sketch(m),
        "assigned to:[zhangsan] cc:[rd, zhaoliu] zh-CN REQ-1.2"
    );
    assert_eq!(
        m.ctx.task.as_ref().unwrap().owner,
        "张三 <zhangsan@corp.example>"
    );
}

#[test]
fn lead_may_assign_for_their_department() {
    let w = world();
    let o = w.run(
        DAVE,
        cmd(Action::Assign, tasks(&[("bob", "Ops export")])),
        on(&confirmed(&w)),
    );
    let req = ok(&o, Action::Assign);
    let t = &req.tasks[0];
    assert_eq!(t.assigner, Mailbox::new(Some("Dave Lee"), DAVE));
    assert_eq!(t.owner, Mailbox::new(Some("Bob Smith"), BOB));
    assert_eq!(t.dept, "ops");
    assert_events(
        &o,
        DAVE,
        &[
            ("REQ-1.1", "assign", "Ops export → bob@corp.example"),
            ("REQ-1", "state", "in_progress"),
        ],
    );
    assert_eq!(
        sketch(&o.mails[0]),
        "assigned to:[bob] cc:[ops, zhaoliu] en REQ-1.1"
    );
}

#[test]
fn assign_by_unconfirmed_department_is_refused() {
    let w = world();
    let req = step(&w, ZHANGSAN, Action::Confirm, note(""), on(&proposed(&w)));
    let o = w.run(BOB, cmd(Action::Assign, tasks(&[("bob", "X")])), on(&req));
    let m = refused(&o, Refusal::DeptNotConfirmed, BOB);
    assert_eq!(m.ctx.detail, "ops");
    assert_eq!(m.ctx.allowed, ["[CONFIRM]"]);
    assert_eq!(m.ctx.state, "proposed");
    assert_eq!(m.locale, "en");
}

#[test]
fn assign_before_every_department_confirmed_is_refused_with_state() {
    let w = world();
    let req = step(&w, ZHANGSAN, Action::Confirm, note(""), on(&proposed(&w)));
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Assign, tasks(&[("alice", "X")])),
        on(&req),
    );
    let m = refused(&o, Refusal::WrongState, ZHANGSAN);
    assert_eq!(m.ctx.detail, "proposed");
    assert_eq!(m.ctx.state, "proposed");
    assert_eq!(m.ctx.allowed, ["confirmed", "in_progress", "delivered"]);
}

#[test]
fn assign_from_outside_the_target_departments_is_refused() {
    let w = world();
    let req = confirmed(&w);
    for from in [ZHAOLIU, CAROL, LINA] {
        let o = w.run(
            from,
            cmd(Action::Assign, tasks(&[("alice", "X")])),
            on(&req),
        );
        let m = refused(&o, Refusal::NotTargetMember, from);
        assert_eq!(m.ctx.allowed, ["研发部 (rd)", "Operations (ops)"]);
        assert_eq!(m.ctx.state, "confirmed");
    }
}

#[test]
fn assign_without_task_lines_is_refused() {
    let w = world();
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Assign, note("请 alice 做")),
        on(&confirmed(&w)),
    );
    let m = refused(&o, Refusal::NoTasks, ZHANGSAN);
    assert_eq!(
        m.ctx.allowed,
        ["- alice@corp.example: Export API; due 2026-12-10; quality: p95 < 200 ms"]
    );
}

#[test]
fn assign_to_unknown_owner_is_refused() {
    let w = world();
    let req = confirmed(&w);
    for owner in ["mallory@evil.example", "无名"] {
        let f = tasks(&[("alice", "A"), (owner, "B")]);
        let o = w.run(ZHANGSAN, cmd(Action::Assign, f), on(&req));
        assert_eq!(
            refused(&o, Refusal::UnknownOwner, ZHANGSAN).ctx.detail,
            owner
        );
    }
}

#[test]
fn assign_with_past_task_due_is_refused() {
    let w = world();
    let mut f = tasks(&[("alice", "Export API")]);
    f.tasks[0].due = Some(date(2026, 11, 1));
    let o = w.run(ZHANGSAN, cmd(Action::Assign, f), on(&confirmed(&w)));
    let m = refused(&o, Refusal::BadDate, ZHANGSAN);
    assert_eq!(m.ctx.detail, "Export API: 2026-11-01");
}

#[test]
fn assign_inherits_requirement_quality_when_line_has_none() {
    let w = world();
    let f = Fields {
        quality: Some("字段完整".into()),
        ..depts(&["rd"])
    };
    let o = w.run(ZHAOLIU, cmd(Action::NewReq, f), Target::New(ReqId(1)));
    let req = ok(&o, Action::NewReq);
    let req = step(&w, ZHANGSAN, Action::Confirm, note(""), on(&req));
    let req = step(
        &w,
        ZHANGSAN,
        Action::Assign,
        tasks(&[("alice", "A")]),
        on(&req),
    );
    assert_eq!(req.tasks[0].quality.as_deref(), Some("字段完整"));
    assert_eq!(req.tasks[0].due, None);
}

#[test]
fn assign_while_in_progress_adds_tasks_numbered_after_the_last() {
    let w = world();
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Assign, tasks(&[("张三", "Docs")])),
        on(&in_progress(&w)),
    );
    let req = ok(&o, Action::Assign);
    assert_eq!(req.state, ReqState::InProgress);
    assert_eq!(req.tasks.len(), 3);
    assert_eq!(req.tasks[2].id, task_id(3));
    // No state change, so no state event.
    assert_events(
        &o,
        ZHANGSAN,
        &[("REQ-1.3", "assign", "Docs → zhangsan@corp.example")],
    );
    assert_eq!(o.mails[0].ctx.state_before, "in_progress");
}

#[test]
fn assign_after_delivery_returns_to_in_progress() {
    let w = world();
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Assign, tasks(&[("alice", "Fix export")])),
        on(&delivered(&w)),
    );
    let req = ok(&o, Action::Assign);
    assert_eq!(req.state, ReqState::InProgress);
    assert_events(
        &o,
        ZHANGSAN,
        &[
            ("REQ-1.3", "assign", "Fix export → alice@corp.example"),
            ("REQ-1", "state", "in_progress"),
        ],
    );
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "assigned to:[alice] cc:[rd, zhaoliu] zh-CN REQ-1.3"
    );
    assert_eq!(m.ctx.state_before, "delivered");
}

// ===== plan ===============================================================

fn two_milestones() -> Fields {
    milestones(&[
        (date(2026, 12, 1), "design review", Some("alice")),
        (date(2026, 12, 10), "交付", None),
    ])
}

#[test]
fn plan_goes_to_every_involved_department_group() {
    let w = world();
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Plan, two_milestones()),
        on(&proposed(&w)),
    );
    let req = ok(&o, Action::Plan);
    assert_eq!(req.state, ReqState::Proposed);
    assert_eq!(req.milestones, two_milestones().milestones);
    assert_events(
        &o,
        ZHANGSAN,
        &[("REQ-1", "plan", "2026-12-01 design review; 2026-12-10 交付")],
    );
    assert_eq!(o.mails.len(), 3);
    // Target groups then the requester's group; 张三 is in rd, so not copied.
    assert_eq!(sketch(&o.mails[0]), "plan to:[rd] cc:[] zh-CN REQ-1");
    assert_eq!(sketch(&o.mails[1]), "plan to:[ops] cc:[] en REQ-1");
    assert_eq!(sketch(&o.mails[2]), "plan to:[sales] cc:[] zh-CN REQ-1");
    let ids: Vec<&str> = o
        .mails
        .iter()
        .map(|m| m.ctx.dept.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids, ["rd", "ops", "sales"]);
    let m = &o.mails[0];
    assert_eq!(
        m.ctx.milestones,
        [
            MilestoneCtx {
                date: "2026-12-01".into(),
                title: "design review".into(),
                owner: Some("alice".into())
            },
            MilestoneCtx {
                date: "2026-12-10".into(),
                title: "交付".into(),
                owner: None
            }
        ]
    );
    assert_eq!(
        transcript(m),
        [
            ("action", "plan"),
            ("id", "REQ-1"),
            ("milestones", "2026-12-01: design review; 2026-12-10: 交付"),
            ("result", "plan_updated"),
            ("state", "proposed"),
        ]
    );
}

#[test]
fn plan_revision_replaces_the_milestones() {
    let w = world();
    let req = step(
        &w,
        ZHANGSAN,
        Action::Plan,
        two_milestones(),
        on(&in_progress(&w)),
    );
    let one = milestones(&[(date(2026, 12, 12), "上线", Some("bob"))]);
    let o = w.run(BOB, cmd(Action::Plan, one.clone()), on(&req));
    let req = ok(&o, Action::Plan);
    assert_eq!(req.milestones, one.milestones);
    assert_eq!(req.state, ReqState::InProgress);
}

#[test]
fn plan_from_requester_department_copies_the_actor_once() {
    let w = world();
    // carol is in sales, whose group gets the plan: no extra copy to her.
    let o = w.run(
        CAROL,
        cmd(Action::Plan, two_milestones()),
        on(&proposed(&w)),
    );
    ok(&o, Action::Plan);
    assert_eq!(o.mails.len(), 3);
    for m in &o.mails {
        assert_eq!(addrs(&m.cc), NONE, "{:?}", m.to);
    }
}

#[test]
fn plan_from_uninvolved_department_is_refused() {
    let w = world();
    let req = proposed_to(&w, &["rd"]);
    for from in [BOB, DAVE] {
        let o = w.run(from, cmd(Action::Plan, two_milestones()), on(&req));
        let m = refused(&o, Refusal::NotTargetMember, from);
        assert_eq!(m.ctx.allowed, ["研发部 (rd)", "销售部 (sales)"]);
        assert_eq!(m.locale, "en");
    }
}

#[test]
fn plan_without_milestones_is_refused() {
    let w = world();
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Plan, note("计划如下")),
        on(&proposed(&w)),
    );
    let m = refused(&o, Refusal::MissingField, ZHANGSAN);
    assert_eq!(m.ctx.detail, "milestones");
    assert_eq!(m.ctx.allowed, ["- 2026-12-01: design review (alice)"]);
}

#[test]
fn plan_on_finished_requirement_is_refused_with_state() {
    let w = world();
    for s in [ReqState::Rejected, ReqState::Closed, ReqState::Cancelled] {
        let req = in_state(&w, s);
        let o = w.run(ZHANGSAN, cmd(Action::Plan, two_milestones()), on(&req));
        let m = refused(&o, Refusal::WrongState, ZHANGSAN);
        assert_eq!(m.ctx.detail, s.as_str());
        assert_eq!(m.ctx.state, s.as_str());
        assert_eq!(m.ctx.allowed, OPEN_STATES);
    }
}

// ===== task actions =======================================================

#[test]
fn accept_by_assignee_tells_the_assigner() {
    let w = world();
    let o = w.run(
        ALICE,
        cmd(Action::Accept, note("")),
        on_task(&in_progress(&w), 1),
    );
    let req = ok(&o, Action::Accept);
    assert_eq!(req.task(task_id(1)).unwrap().state, TaskState::Accepted);
    assert_eq!(req.task(task_id(2)).unwrap().state, TaskState::Assigned);
    assert_eq!(req.state, ReqState::InProgress);
    assert_eq!(o.item, Some(ItemId::Task(task_id(1))));
    assert_events(
        &o,
        ALICE,
        &[("REQ-1.1", "accept", ""), ("REQ-1.1", "state", "accepted")],
    );
    assert_eq!(o.mails.len(), 1);
    let m = &o.mails[0];
    assert_eq!(sketch(m), "accepted to:[zhangsan] cc:[alice] zh-CN REQ-1.1");
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.state_before.as_str()),
        ("accepted", "assigned")
    );
    assert_eq!(m.ctx.req_state, "in_progress");
    assert_eq!(m.ctx.progress, Some(0));
    assert_eq!(m.ctx.task.as_ref().unwrap().state, "accepted");
    assert_eq!(
        transcript(m),
        [
            ("action", "accept"),
            ("id", "REQ-1.1"),
            ("result", "accepted"),
            ("state", "accepted")
        ]
    );
}

#[test]
fn lead_may_accept_for_their_member() {
    let w = world();
    let req = in_progress(&w);
    let o = w.run(WANGLEI, cmd(Action::Accept, note("")), on_task(&req, 1));
    assert_eq!(
        ok(&o, Action::Accept).task(task_id(1)).unwrap().state,
        TaskState::Accepted
    );
    assert_events(
        &o,
        WANGLEI,
        &[("REQ-1.1", "accept", ""), ("REQ-1.1", "state", "accepted")],
    );
    assert_eq!(
        sketch(&o.mails[0]),
        "accepted to:[zhangsan] cc:[wanglei] zh-CN REQ-1.1"
    );
    assert_eq!(o.mails[0].ctx.actor, "王磊 <wanglei@corp.example>");
    // Dave, the assigner of REQ-1.2, accepts it for Bob: he is the To.
    let o = w.run(DAVE, cmd(Action::Accept, note("")), on_task(&req, 2));
    ok(&o, Action::Accept);
    assert_eq!(sketch(&o.mails[0]), "accepted to:[dave] cc:[] en REQ-1.2");
}

#[test]
fn task_action_by_anyone_but_assignee_or_their_lead_is_refused() {
    let w = world();
    let req = in_progress(&w);
    // The assigner, another lead, the requester and their lead, a colleague.
    for from in [ZHANGSAN, DAVE, ZHAOLIU, LINA, BOB] {
        for a in TASK_ACTIONS {
            let o = w.run(from, cmd(a, note("理由")), on_task(&req, 1));
            let m = refused(&o, Refusal::NotAssignee, from);
            assert_eq!(m.ctx.detail, ALICE);
            assert_eq!(m.ctx.allowed, [ALICE]);
            assert_eq!(m.ctx.id, "REQ-1.1");
            assert_eq!(m.ctx.state, "assigned");
            assert_eq!(m.ctx.req_state, "in_progress");
            assert_eq!(m.ctx.title, "Export API");
            assert!(m.ctx.task.is_some());
            assert_eq!(o.item, Some(ItemId::Task(task_id(1))));
        }
    }
}

#[test]
fn decline_with_reason_goes_back_to_the_assigner() {
    let w = world();
    let o = w.run(
        ALICE,
        cmd(Action::Decline, note("本周没空")),
        on_task(&in_progress(&w), 1),
    );
    let req = ok(&o, Action::Decline);
    assert_eq!(req.task(task_id(1)).unwrap().state, TaskState::Declined);
    assert_eq!(req.state, ReqState::InProgress);
    assert_events(
        &o,
        ALICE,
        &[
            ("REQ-1.1", "decline", "本周没空"),
            ("REQ-1.1", "state", "declined"),
        ],
    );
    assert_eq!(o.mails.len(), 1);
    let m = &o.mails[0];
    assert_eq!(sketch(m), "declined to:[zhangsan] cc:[alice] zh-CN REQ-1.1");
    assert_eq!(m.ctx.note, "本周没空");
    assert_eq!(tval(m, "state"), Some("declined"));
}

#[test]
fn decline_without_reason_is_refused() {
    let w = world();
    let o = w.run(
        ALICE,
        cmd(Action::Decline, note(" ")),
        on_task(&in_progress(&w), 1),
    );
    let m = refused(&o, Refusal::MissingField, ALICE);
    assert_eq!(m.ctx.detail, "reason");
    assert_eq!(m.ctx.state, "assigned");
}

#[test]
fn first_progress_report_starts_the_task_and_tells_assigner_and_requester() {
    let w = world();
    let req = task_in(&w, TaskState::Accepted);
    let o = w.run(
        ALICE,
        cmd(Action::Progress, progress(60, "接口完成一半")),
        on_task(&req, 1),
    );
    let req = ok(&o, Action::Progress);
    let t = req.task(task_id(1)).unwrap();
    assert_eq!(
        (t.state, t.progress, t.blocked),
        (TaskState::InProgress, 60, false)
    );
    assert_eq!(t.last_report, Some(now()));
    assert_events(
        &o,
        ALICE,
        &[
            ("REQ-1.1", "progress", "60% 接口完成一半"),
            ("REQ-1.1", "state", "in_progress"),
        ],
    );
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "progress to:[zhangsan] cc:[zhaoliu, alice] zh-CN REQ-1.1"
    );
    assert_eq!(m.ctx.progress, Some(60));
    assert_eq!(
        transcript(m),
        [
            ("action", "progress"),
            ("id", "REQ-1.1"),
            ("progress", "60%"),
            ("result", "in_progress"),
            ("state", "in_progress"),
        ]
    );
}

#[test]
fn further_progress_report_records_without_state_change() {
    let w = world();
    let req = task_in(&w, TaskState::InProgress);
    let o = w.run(
        ALICE,
        cmd(Action::Progress, progress(80, "快好了")),
        on_task(&req, 1),
    );
    assert_eq!(
        ok(&o, Action::Progress).task(task_id(1)).unwrap().progress,
        80
    );
    assert_events(&o, ALICE, &[("REQ-1.1", "progress", "80% 快好了")]);
    // A note that starts with its percentage is recorded once, as written.
    let o = w.run(
        ALICE,
        cmd(Action::Progress, progress(50, "50% 接口框架完成")),
        on_task(&req, 1),
    );
    assert_events(&o, ALICE, &[("REQ-1.1", "progress", "50% 接口框架完成")]);
}

#[test]
fn progress_report_without_percentage_keeps_the_last_one() {
    let w = world();
    let req = task_in(&w, TaskState::InProgress);
    let o = w.run(ALICE, cmd(Action::Progress, note("在测")), on_task(&req, 1));
    assert_eq!(
        ok(&o, Action::Progress).task(task_id(1)).unwrap().progress,
        50
    );
    assert_events(&o, ALICE, &[("REQ-1.1", "progress", "在测")]);
    assert_eq!(tval(&o.mails[0], "progress"), None);
}

#[test]
fn progress_above_hundred_percent_is_capped() {
    let w = world();
    let req = in_progress(&w);
    let o = w.run(
        ALICE,
        cmd(Action::Progress, progress(150, "")),
        on_task(&req, 1),
    );
    assert_eq!(
        ok(&o, Action::Progress).task(task_id(1)).unwrap().progress,
        100
    );
}

#[test]
fn problem_flags_the_task_and_tells_assigner_requester_and_owners_lead() {
    let w = world();
    let req = task_in(&w, TaskState::Accepted);
    let o = w.run(
        ALICE,
        cmd(Action::Blocked, note("等数据库权限")),
        on_task(&req, 1),
    );
    let req = ok(&o, Action::Blocked);
    let t = req.task(task_id(1)).unwrap();
    // A flag, not a state.
    assert_eq!((t.state, t.blocked), (TaskState::Accepted, true));
    assert_eq!(t.last_report, Some(now()));
    assert_events(&o, ALICE, &[("REQ-1.1", "blocked", "等数据库权限")]);
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "blocked to:[zhangsan] cc:[zhaoliu, wanglei, alice] zh-CN REQ-1.1"
    );
    assert!(m.ctx.task.as_ref().unwrap().blocked);
    assert_eq!(tval(m, "result"), Some("blocked"));
    assert_eq!(tval(m, "state"), Some("accepted"));
}

#[test]
fn next_progress_report_clears_the_problem_flag() {
    let w = world();
    let req = step(
        &w,
        ALICE,
        Action::Blocked,
        note("卡住"),
        on_task(&in_progress(&w), 1),
    );
    assert!(req.task(task_id(1)).unwrap().blocked);
    let after = step(
        &w,
        ALICE,
        Action::Progress,
        progress(30, "解决了"),
        on_task(&req, 1),
    );
    assert!(!after.task(task_id(1)).unwrap().blocked);
    let after = step(&w, ALICE, Action::Done, note(""), on_task(&req, 1));
    assert!(!after.task(task_id(1)).unwrap().blocked);
}

#[test]
fn done_tells_assigner_and_requester() {
    let w = world();
    let o = w.run(
        ALICE,
        cmd(Action::Done, note("已上线")),
        on_task(&in_progress(&w), 1),
    );
    let req = ok(&o, Action::Done);
    let t = req.task(task_id(1)).unwrap();
    assert_eq!((t.state, t.progress), (TaskState::Done, 100));
    // REQ-1.2 is still open.
    assert_eq!(req.state, ReqState::InProgress);
    assert_events(
        &o,
        ALICE,
        &[("REQ-1.1", "done", "已上线"), ("REQ-1.1", "state", "done")],
    );
    assert_eq!(o.mails.len(), 1);
    assert_eq!(
        sketch(&o.mails[0]),
        "done to:[zhangsan] cc:[zhaoliu, alice] zh-CN REQ-1.1"
    );
}

#[test]
fn done_of_last_live_task_delivers_and_asks_requester_to_verify() {
    let w = world();
    let req = task_in(&w, TaskState::Done);
    let o = w.run(BOB, cmd(Action::Done, note("")), on_task(&req, 2));
    let req = ok(&o, Action::Done);
    assert_eq!(req.state, ReqState::Delivered);
    assert_events(
        &o,
        BOB,
        &[
            ("REQ-1.2", "done", ""),
            ("REQ-1.2", "state", "done"),
            ("REQ-1", "state", "delivered"),
        ],
    );
    assert_eq!(o.mails.len(), 2);
    let m = &o.mails[0];
    assert_eq!(sketch(m), "done to:[dave] cc:[zhaoliu, bob] en REQ-1.2");
    assert_eq!(m.ctx.req_state, "delivered");
    let v = &o.mails[1];
    assert_eq!(
        sketch(v),
        "verify_request to:[zhaoliu] cc:[sales] zh-CN REQ-1"
    );
    assert_eq!(v.ctx.allowed, ["[CLOSE]"]);
    assert_eq!(
        (v.ctx.state.as_str(), v.ctx.state_before.as_str()),
        ("delivered", "in_progress")
    );
    assert!(v.ctx.tasks.iter().all(|t| t.state == "done"));
}

#[test]
fn declining_the_last_open_task_delivers_when_the_rest_are_done() {
    let w = world();
    let req = task_in(&w, TaskState::Done);
    let o = w.run(
        BOB,
        cmd(Action::Decline, note("不归运维")),
        on_task(&req, 2),
    );
    assert_eq!(ok(&o, Action::Decline).state, ReqState::Delivered);
    assert_events(
        &o,
        BOB,
        &[
            ("REQ-1.2", "decline", "不归运维"),
            ("REQ-1.2", "state", "declined"),
            ("REQ-1", "state", "delivered"),
        ],
    );
    assert_eq!(o.mails.len(), 2);
    assert_eq!(
        sketch(&o.mails[0]),
        "declined to:[dave] cc:[bob] en REQ-1.2"
    );
    assert_eq!(
        sketch(&o.mails[1]),
        "verify_request to:[zhaoliu] cc:[sales] zh-CN REQ-1"
    );
}

#[test]
fn declining_every_task_does_not_deliver() {
    let w = world();
    let req = task_in(&w, TaskState::Declined);
    let o = w.run(
        BOB,
        cmd(Action::Decline, note("不归运维")),
        on_task(&req, 2),
    );
    assert_eq!(ok(&o, Action::Decline).state, ReqState::InProgress);
    assert_eq!(o.mails.len(), 1);
    assert!(o.events.iter().all(|e| e.item != ItemId::Req(ReqId(1))));
}

#[test]
fn task_action_on_requirement_id_is_wrong_item_kind() {
    let w = world();
    let req = in_progress(&w);
    for a in TASK_ACTIONS {
        let o = w.run(ALICE, cmd(a, note("理由")), on(&req));
        let m = refused(&o, Refusal::WrongItemKind, ALICE);
        let up = a.as_str().to_uppercase();
        assert_eq!(m.ctx.detail, "REQ-1");
        assert_eq!(
            m.ctx.allowed,
            [format!("[{up}] REQ-1.1"), format!("[{up}] REQ-1.2")]
        );
        assert_eq!(
            (m.ctx.id.as_str(), m.ctx.state.as_str()),
            ("REQ-1", "in_progress")
        );
    }
}

#[test]
fn requirement_action_on_task_id_is_wrong_item_kind() {
    let w = world();
    let req = in_progress(&w);
    for a in REQ_ACTIONS {
        let o = w.run(ZHANGSAN, cmd(a, note("理由")), on_task(&req, 1));
        let m = refused(&o, Refusal::WrongItemKind, ZHANGSAN);
        assert_eq!(m.ctx.detail, "REQ-1.1");
        assert_eq!(
            m.ctx.allowed,
            [format!("[{}] REQ-1", a.as_str().to_uppercase())]
        );
        assert_eq!(
            (m.ctx.id.as_str(), m.ctx.state.as_str()),
            ("REQ-1.1", "assigned")
        );
        assert_eq!(o.item, Some(ItemId::Task(task_id(1))));
    }
}

#[test]
fn task_action_on_unknown_task_is_unknown_id() {
    let w = world();
    let req = in_progress(&w);
    let o = w.run(ALICE, cmd(Action::Accept, note("")), on_task(&req, 9));
    let m = refused(&o, Refusal::UnknownId, ALICE);
    assert_eq!(m.ctx.detail, "REQ-1.9");
    // The reply does not name the id as if it existed.
    assert_eq!((m.ctx.id.as_str(), m.item.as_deref()), ("", None));
    assert_eq!(o.item, None);
    assert_eq!(tval(m, "id"), Some("REQ-1.9"));
}

#[test]
fn task_action_on_finished_requirement_is_refused_with_state() {
    let w = world();
    let req = closed(&w);
    let o = w.run(
        ALICE,
        cmd(Action::Progress, progress(100, "")),
        on_task(&req, 1),
    );
    let m = refused(&o, Refusal::WrongState, ALICE);
    assert_eq!(m.ctx.detail, "closed");
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.req_state.as_str()),
        ("done", "closed")
    );
    assert_eq!(m.ctx.allowed, OPEN_STATES);
    let req = cancelled(&w);
    let o = w.run(ALICE, cmd(Action::Accept, note("")), on_task(&req, 1));
    let m = refused(&o, Refusal::WrongState, ALICE);
    assert_eq!(m.ctx.detail, "cancelled");
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.req_state.as_str()),
        ("assigned", "cancelled")
    );
    assert_eq!(m.ctx.allowed, OPEN_STATES);
}

type TaskRow = (Action, Fields, fn(TaskState) -> Result<TaskState, Refusal>);

#[test]
fn every_task_action_in_every_task_state() {
    use Refusal::{AlreadyDone, WrongState};
    use TaskState::*;
    let w = world();
    let rows: [TaskRow; 5] = [
        (Action::Accept, note(""), |s| match s {
            Assigned => Ok(Accepted),
            Accepted | InProgress => Err(AlreadyDone),
            Declined | Done => Err(WrongState),
        }),
        (Action::Decline, note("没空"), |s| match s {
            Assigned | Accepted => Ok(Declined),
            Declined => Err(AlreadyDone),
            InProgress | Done => Err(WrongState),
        }),
        (Action::Progress, progress(70, "进展"), |s| match s {
            Assigned | Accepted | InProgress => Ok(InProgress),
            Declined | Done => Err(WrongState),
        }),
        (Action::Blocked, note("卡住"), |s| match s {
            Assigned | Accepted | InProgress => Ok(s),
            Declined | Done => Err(WrongState),
        }),
        (Action::Done, note(""), |s| match s {
            Assigned | Accepted | InProgress => Ok(Done),
            Declined => Err(WrongState),
            Done => Err(AlreadyDone),
        }),
    ];
    for (a, f, want) in rows {
        let allowed: &[&str] = match a {
            Action::Accept => &["assigned"],
            Action::Decline => &["assigned", "accepted"],
            _ => &["assigned", "accepted", "in_progress"],
        };
        for s in TASK_STATES {
            let req = task_in(&w, s);
            let o = w.run(ALICE, cmd(a, f.clone()), on_task(&req, 1));
            match want(s) {
                Ok(new) => {
                    assert_eq!(o.verdict, Verdict::Applied(a), "{a} on {s}");
                    let t = ok(&o, a).task(task_id(1)).unwrap().clone();
                    assert_eq!(t.state, new, "{a} on {s}");
                    assert_eq!(t.blocked, a == Action::Blocked, "{a} on {s}");
                    assert_eq!(o.events[0].kind, a.as_str());
                    assert_eq!(
                        o.events.len(),
                        if new == s { 1 } else { 2 },
                        "{a} on {s}: {:?}",
                        o.events
                    );
                    assert_eq!(o.mails[0].ctx.state_before, s.as_str());
                }
                Err(why) => {
                    assert_eq!(o.verdict, Verdict::Refused(why), "{a} on {s}");
                    let m = refused(&o, why, ALICE);
                    assert_eq!(m.ctx.detail, s.as_str(), "{a} on {s}");
                    assert_eq!(m.ctx.state, s.as_str(), "{a} on {s}");
                    assert_eq!(m.ctx.allowed, allowed, "{a} on {s}");
                }
            }
        }
    }
}

// ===== close and cancel ===================================================

#[test]
fn close_after_delivery_closes_and_tells_everyone() {
    let w = world();
    let o = w.run(
        ZHAOLIU,
        cmd(Action::Close, note("验收通过")),
        on(&delivered(&w)),
    );
    let req = ok(&o, Action::Close);
    assert_eq!(req.state, ReqState::Closed);
    assert_events(
        &o,
        ZHAOLIU,
        &[("REQ-1", "close", "验收通过"), ("REQ-1", "state", "closed")],
    );
    assert_eq!(o.mails.len(), 1);
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "closed to:[rd, ops] cc:[zhaoliu, sales] zh-CN REQ-1"
    );
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.state_before.as_str()),
        ("closed", "delivered")
    );
    assert_eq!(
        transcript(m),
        [
            ("action", "close"),
            ("id", "REQ-1"),
            ("result", "closed"),
            ("state", "closed")
        ]
    );
}

#[test]
fn requester_lead_may_close() {
    let w = world();
    let o = w.run(LINA, cmd(Action::Close, note("")), on(&delivered(&w)));
    assert_eq!(ok(&o, Action::Close).state, ReqState::Closed);
    assert_events(
        &o,
        LINA,
        &[("REQ-1", "close", ""), ("REQ-1", "state", "closed")],
    );
    assert_eq!(
        sketch(&o.mails[0]),
        "closed to:[rd, ops] cc:[zhaoliu, sales] zh-CN REQ-1"
    );
}

#[test]
fn close_before_delivery_is_refused_with_state() {
    let w = world();
    let o = w.run(ZHAOLIU, cmd(Action::Close, note("")), on(&in_progress(&w)));
    let m = refused(&o, Refusal::WrongState, ZHAOLIU);
    assert_eq!(m.ctx.detail, "in_progress");
    assert_eq!(m.ctx.state, "in_progress");
    assert_eq!(m.ctx.allowed, ["delivered"]);
}

#[test]
fn close_twice_is_already_done() {
    let w = world();
    let o = w.run(ZHAOLIU, cmd(Action::Close, note("")), on(&closed(&w)));
    let m = refused(&o, Refusal::AlreadyDone, ZHAOLIU);
    assert_eq!(
        (m.ctx.detail.as_str(), m.ctx.state.as_str()),
        ("closed", "closed")
    );
}

#[test]
fn close_or_cancel_by_non_requester_is_refused() {
    let w = world();
    let req = delivered(&w);
    for a in [Action::Close, Action::Cancel] {
        // The requester's colleague, target members and leads.
        for from in [CAROL, ZHANGSAN, WANGLEI, BOB, DAVE] {
            let o = w.run(from, cmd(a, note("")), on(&req));
            let m = refused(&o, Refusal::NotRequester, from);
            assert_eq!(m.ctx.allowed, ["赵六 <zhaoliu@corp.example>"]);
            assert_eq!(m.ctx.state, "delivered");
        }
    }
}

#[test]
fn cancel_from_every_open_state() {
    let w = world();
    for s in [
        ReqState::Proposed,
        ReqState::Clarifying,
        ReqState::Confirmed,
        ReqState::InProgress,
        ReqState::Delivered,
    ] {
        let o = w.run(
            ZHAOLIU,
            cmd(Action::Cancel, note("不需要了")),
            on(&in_state(&w, s)),
        );
        assert_eq!(
            ok(&o, Action::Cancel).state,
            ReqState::Cancelled,
            "from {s}"
        );
        assert_events(
            &o,
            ZHAOLIU,
            &[
                ("REQ-1", "cancel", "不需要了"),
                ("REQ-1", "state", "cancelled"),
            ],
        );
        assert_eq!(o.mails.len(), 1);
        let m = &o.mails[0];
        // Owners of tasks still open are told directly.
        let cc = if s == ReqState::InProgress {
            "zhaoliu, sales, alice, bob"
        } else {
            "zhaoliu, sales"
        };
        let want = format!("cancelled to:[rd, ops] cc:[{cc}] zh-CN REQ-1");
        assert_eq!(sketch(m), want);
        assert_eq!(m.ctx.state_before, s.as_str());
        assert_eq!(tval(m, "state"), Some("cancelled"));
    }
}

#[test]
fn cancel_tells_only_owners_of_open_tasks() {
    let w = world();
    // alice's REQ-1.1 done, Bob's REQ-1.2 accepted, 张三's REQ-1.3 declined.
    let req = task_in(&w, TaskState::Done);
    let req = step(&w, BOB, Action::Accept, note(""), on_task(&req, 2));
    let req = step(
        &w,
        ZHANGSAN,
        Action::Assign,
        tasks(&[("张三", "Docs")]),
        on(&req),
    );
    let req = step(
        &w,
        ZHANGSAN,
        Action::Decline,
        note("改由 alice"),
        on_task(&req, 3),
    );
    let o = w.run(ZHAOLIU, cmd(Action::Cancel, note("")), on(&req));
    ok(&o, Action::Cancel);
    assert_eq!(addrs(&o.mails[0].cc), [ZHAOLIU, SALES_G, BOB]);
}

#[test]
fn cancel_after_rejection_or_closing_is_refused_with_state() {
    let w = world();
    for s in [ReqState::Rejected, ReqState::Closed] {
        let o = w.run(ZHAOLIU, cmd(Action::Cancel, note("")), on(&in_state(&w, s)));
        let m = refused(&o, Refusal::WrongState, ZHAOLIU);
        assert_eq!(
            (m.ctx.detail.as_str(), m.ctx.state.as_str()),
            (s.as_str(), s.as_str())
        );
        assert_eq!(m.ctx.allowed, OPEN_STATES);
    }
}

#[test]
fn cancel_twice_is_already_done() {
    let w = world();
    let o = w.run(ZHAOLIU, cmd(Action::Cancel, note("")), on(&cancelled(&w)));
    let m = refused(&o, Refusal::AlreadyDone, ZHAOLIU);
    assert_eq!(m.ctx.detail, "cancelled");
}

type ReqRow = (
    Action,
    &'static str,
    Fields,
    fn(ReqState) -> Result<ReqState, Refusal>,
);

#[test]
fn every_requirement_action_in_every_requirement_state() {
    use Refusal::{AlreadyDone, DeptNotConfirmed, WrongState};
    use ReqState::*;
    let w = world();
    let rows: [ReqRow; 8] = [
        // Bob (ops) in each state: ops asked in `clarifying`, rejected in
        // `rejected`, confirmed from `confirmed` on.
        (Action::Confirm, BOB, note(""), |s| match s {
            Proposed | Clarifying => Ok(s),
            Rejected => Err(WrongState),
            _ => Err(AlreadyDone),
        }),
        (Action::Clarify, BOB, note("?"), |s| match s {
            Proposed | Clarifying => Ok(Clarifying),
            _ => Err(WrongState),
        }),
        (Action::Reject, BOB, note("不行"), |s| match s {
            Proposed | Clarifying => Ok(Rejected),
            _ => Err(WrongState),
        }),
        // 张三 (rd) has confirmed from `confirmed` on.
        (
            Action::Assign,
            ZHANGSAN,
            tasks(&[("alice", "X")]),
            |s| match s {
                Proposed | Clarifying | Rejected => Err(DeptNotConfirmed),
                Confirmed | InProgress | Delivered => Ok(InProgress),
                Closed | Cancelled => Err(WrongState),
            },
        ),
        (Action::Plan, CAROL, two_milestones(), |s| match s {
            Rejected | Closed | Cancelled => Err(WrongState),
            _ => Ok(s),
        }),
        (Action::Close, ZHAOLIU, note(""), |s| match s {
            Delivered => Ok(Closed),
            Closed => Err(AlreadyDone),
            _ => Err(WrongState),
        }),
        (Action::Cancel, ZHAOLIU, note(""), |s| match s {
            Rejected | Closed => Err(WrongState),
            Cancelled => Err(AlreadyDone),
            _ => Ok(Cancelled),
        }),
        (Action::Comment, ZHANGSAN, note("备注"), Ok),
    ];
    for (a, from, f, want) in rows {
        for s in REQ_STATES {
            let req = in_state(&w, s);
            let o = w.run(from, cmd(a, f.clone()), on(&req));
            match want(s) {
                Ok(new) => {
                    assert_eq!(o.verdict, Verdict::Applied(a), "{a} in {s}");
                    assert_eq!(ok(&o, a).state, new, "{a} in {s}");
                    assert_eq!(o.events[0].kind, a.as_str(), "{a} in {s}");
                    let state_events = o
                        .events
                        .iter()
                        .filter(|e| e.item == ItemId::Req(ReqId(1)) && e.kind == "state")
                        .count();
                    assert_eq!(state_events, usize::from(new != s), "{a} in {s}");
                    assert!(!o.mails.is_empty(), "{a} in {s}");
                }
                Err(why) => {
                    assert_eq!(o.verdict, Verdict::Refused(why), "{a} in {s}");
                    let m = refused(&o, why, from);
                    assert_eq!(m.ctx.state, s.as_str(), "{a} in {s}");
                    if why == WrongState {
                        assert_eq!(m.ctx.detail, s.as_str(), "{a} in {s}");
                        assert!(!m.ctx.allowed.is_empty(), "{a} in {s}");
                        assert!(!m.ctx.allowed.iter().any(|x| x == s.as_str()), "{a} in {s}");
                    }
                }
            }
        }
    }
}

// ===== who may send what ===================================================

/// (action, fields, on, task number, who may send it, the refusal for others)
type Permission<'r> = (
    Action,
    Fields,
    &'r Requirement,
    Option<u32>,
    &'r [&'r str],
    Refusal,
);

#[test]
fn who_may_send_each_action() {
    use Refusal::{NotAssignee, NotParticipant, NotRequester, NotTargetMember};
    let w = world();
    let (prop, conf, busy, done) = (proposed(&w), confirmed(&w), in_progress(&w), delivered(&w));
    let to_rd = proposed_to(&w, &["rd"]);
    // Members of the target departments (leads are members).
    let targets: &[&str] = &[ZHANGSAN, ALICE, WANGLEI, BOB, DAVE];
    // Members of the departments involved in `to_rd`: rd and sales.
    let involved: &[&str] = &[ZHAOLIU, CAROL, LINA, ZHANGSAN, ALICE, WANGLEI];
    // The requester and the requester's lead.
    let requester: &[&str] = &[ZHAOLIU, LINA];
    // alice, the assignee of REQ-1.1, and her lead.
    let assignee: &[&str] = &[ALICE, WANGLEI];
    #[rustfmt::skip]
    let cases: [Permission; 13] = [
        (Action::Confirm, note(""), &prop, None, targets, NotTargetMember),
        (Action::Clarify, note("?"), &prop, None, targets, NotTargetMember),
        (Action::Reject, note("不行"), &prop, None, targets, NotTargetMember),
        (Action::Assign, tasks(&[("alice", "X")]), &conf, None, targets, NotTargetMember),
        (Action::Plan, two_milestones(), &to_rd, None, involved, NotTargetMember),
        (Action::Comment, note("备注"), &to_rd, None, involved, NotParticipant),
        (Action::Close, note(""), &done, None, requester, NotRequester),
        (Action::Cancel, note(""), &prop, None, requester, NotRequester),
        (Action::Accept, note(""), &busy, Some(1), assignee, NotAssignee),
        (Action::Decline, note("没空"), &busy, Some(1), assignee, NotAssignee),
        (Action::Progress, progress(10, ""), &busy, Some(1), assignee, NotAssignee),
        (Action::Blocked, note("卡住"), &busy, Some(1), assignee, NotAssignee),
        (Action::Done, note(""), &busy, Some(1), assignee, NotAssignee),
    ];
    for (a, f, req, task, may, why) in cases {
        for from in EVERYONE {
            let target = match task {
                Some(n) => on_task(req, n),
                None => on(req),
            };
            let o = w.run(from, cmd(a, f.clone()), target);
            if may.contains(&from) {
                assert_eq!(o.verdict, Verdict::Applied(a), "{a} by {from}");
                assert!(o.events.iter().all(|e| e.actor == from));
            } else {
                assert_eq!(o.verdict, Verdict::Refused(why), "{a} by {from}");
                refused(&o, why, from);
            }
        }
    }
    // Anyone known may raise a requirement; only leads may send a notice.
    for from in EVERYONE {
        let o = w.run(
            from,
            cmd(Action::NewReq, depts(&["rd"])),
            Target::New(ReqId(1)),
        );
        assert_eq!(o.verdict, Verdict::Applied(Action::NewReq), "by {from}");
        let o = w.run(from, cmd(Action::Notice, depts(&["rd"])), Target::None);
        if [LINA, WANGLEI, DAVE].contains(&from) {
            assert_eq!(o.verdict, Verdict::Applied(Action::Notice), "by {from}");
        } else {
            refused(&o, Refusal::NotLead, from);
        }
    }
}

// ===== comments ===========================================================

#[test]
fn comment_on_requirement_goes_to_requester_and_target_groups() {
    let w = world();
    let req = proposed(&w);
    for c in [
        plain(note("预计两天")),
        cmd(Action::Comment, note("预计两天")),
    ] {
        let o = w.run(ZHANGSAN, c, on(&req));
        let new = ok(&o, Action::Comment);
        assert_eq!(new.state, ReqState::Proposed);
        assert_eq!(new.updated_at, now());
        assert_eq!(o.item, Some(ItemId::Req(ReqId(1))));
        assert_events(&o, ZHANGSAN, &[("REQ-1", "comment", "预计两天")]);
        assert_eq!(o.mails.len(), 1);
        // 张三 is reached through the rd group: no extra copy.
        let m = &o.mails[0];
        assert_eq!(sketch(m), "comment to:[zhaoliu, rd, ops] cc:[] zh-CN REQ-1");
        assert_eq!(m.ctx.note, "预计两天");
        assert_eq!(
            transcript(m),
            [
                ("action", "comment"),
                ("id", "REQ-1"),
                ("result", "recorded"),
                ("state", "proposed")
            ]
        );
    }
}

#[test]
fn comment_on_task_goes_to_owner_and_assigner_cc_requester() {
    let w = world();
    let req = in_progress(&w);
    let o = w.run(WANGLEI, plain(note("加急")), on_task(&req, 1));
    ok(&o, Action::Comment);
    assert_eq!(o.item, Some(ItemId::Task(task_id(1))));
    assert_events(&o, WANGLEI, &[("REQ-1.1", "comment", "加急")]);
    let m = &o.mails[0];
    assert_eq!(
        sketch(m),
        "comment to:[alice, zhangsan] cc:[zhaoliu, wanglei] zh-CN REQ-1.1"
    );
    assert_eq!(
        (m.ctx.state.as_str(), m.ctx.title.as_str()),
        ("assigned", "Export API")
    );
    assert_eq!(tval(m, "id"), Some("REQ-1.1"));
    assert_eq!(tval(m, "state"), Some("assigned"));
    // The owner's own comment: not To themselves, but copied for the transcript.
    let o = w.run(ALICE, plain(note("收到")), on_task(&req, 1));
    assert_eq!(
        sketch(&o.mails[0]),
        "comment to:[zhangsan] cc:[zhaoliu, alice] zh-CN REQ-1.1"
    );
}

#[test]
fn comment_from_non_participant_is_refused() {
    let w = world();
    let req = proposed_to(&w, &["rd"]);
    for from in [BOB, DAVE] {
        let o = w.run(from, plain(note("我也想要")), on(&req));
        let m = refused(&o, Refusal::NotParticipant, from);
        assert_eq!(m.ctx.allowed, ["研发部 (rd)"]);
        assert_eq!(m.ctx.state, "proposed");
        assert_eq!(m.locale, "en");
    }
}

#[test]
fn task_owner_outside_the_departments_is_a_participant() {
    let w = world();
    let req = step(
        &w,
        ZHANGSAN,
        Action::Confirm,
        note(""),
        on(&proposed_to(&w, &["rd"])),
    );
    let req = step(
        &w,
        ZHANGSAN,
        Action::Assign,
        tasks(&[("bob", "帮忙")]),
        on(&req),
    );
    let o = w.run(BOB, plain(note("ok")), on(&req));
    ok(&o, Action::Comment);
    let o = w.run(BOB, cmd(Action::Accept, note("")), on_task(&req, 1));
    ok(&o, Action::Accept);
}

#[test]
fn comment_on_unknown_task_is_unknown_id() {
    let w = world();
    let req = in_progress(&w);
    let o = w.run(ZHANGSAN, plain(note("?")), on_task(&req, 9));
    assert_eq!(
        refused(&o, Refusal::UnknownId, ZHANGSAN).ctx.detail,
        "REQ-1.9"
    );
    assert_eq!(o.item, None);
}

// ===== notice =============================================================

fn notice(d: &[&str]) -> Command {
    Command {
        title: "周五停机".into(),
        ..cmd(
            Action::Notice,
            Fields {
                departments: d.iter().map(|s| s.to_string()).collect(),
                ..note("周五 20:00 停机维护")
            },
        )
    }
}

#[test]
fn notice_from_lead_goes_to_named_department_groups() {
    let w = world();
    let o = w.run(WANGLEI, notice(&["sales", "Operations"]), Target::None);
    assert_eq!(o.verdict, Verdict::Applied(Action::Notice));
    assert!(o.req.is_none() && o.events.is_empty() && o.item.is_none());
    assert_eq!(o.mails.len(), 2);
    // The lead is in neither group: copied once, on the first.
    assert_eq!(
        sketch(&o.mails[0]),
        "notice to:[sales] cc:[wanglei] zh-CN -"
    );
    assert_eq!(sketch(&o.mails[1]), "notice to:[ops] cc:[] en -");
    let m = &o.mails[0];
    assert_eq!(
        (m.ctx.title.as_str(), m.ctx.note.as_str()),
        ("周五停机", "周五 20:00 停机维护")
    );
    assert_eq!(m.ctx.action, "notice");
    assert_eq!(m.ctx.actor, "王磊 <wanglei@corp.example>");
    assert_eq!(m.ctx.dept.as_ref().unwrap().id, "sales");
    assert_eq!(o.mails[1].ctx.dept.as_ref().unwrap().id, "ops");
    assert_eq!(tval(m, "action"), Some("notice"));
    assert_eq!(tval(m, "departments"), Some("sales, Operations"));
    assert_eq!(
        tval(m, "result"),
        Some("sales@corp.example, ops@corp.example")
    );
}

#[test]
fn notice_to_groups_among_recipients_goes_once_to_each() {
    let w = world();
    let o = w.run_to(
        DAVE,
        notice(&[]),
        Target::None,
        &[RD_G, ZHANGSAN, SALES_G, RD_G],
    );
    assert_eq!(o.verdict, Verdict::Applied(Action::Notice));
    assert_eq!(o.mails.len(), 2);
    assert_eq!(sketch(&o.mails[0]), "notice to:[rd] cc:[dave] zh-CN -");
    assert_eq!(sketch(&o.mails[1]), "notice to:[sales] cc:[] zh-CN -");
}

#[test]
fn notice_naming_a_department_twice_goes_once() {
    let w = world();
    let o = w.run(WANGLEI, notice(&["rd", "研发", "R&D"]), Target::None);
    assert_eq!(o.verdict, Verdict::Applied(Action::Notice));
    assert_eq!(o.mails.len(), 1);
    assert_eq!(sketch(&o.mails[0]), "notice to:[rd] cc:[] zh-CN -");
}

#[test]
fn notice_including_the_leads_own_group_copies_nobody_extra() {
    let w = world();
    let o = w.run(WANGLEI, notice(&["sales", "rd"]), Target::None);
    assert_eq!(o.mails.len(), 2);
    assert_eq!(sketch(&o.mails[0]), "notice to:[sales] cc:[] zh-CN -");
    assert_eq!(sketch(&o.mails[1]), "notice to:[rd] cc:[] zh-CN -");
}

#[test]
fn notice_from_non_lead_is_refused() {
    let w = world();
    for from in [ZHAOLIU, CAROL, ZHANGSAN, ALICE, BOB] {
        let o = w.run(from, notice(&["rd"]), Target::None);
        let m = refused(&o, Refusal::NotLead, from);
        assert_eq!(
            m.ctx.allowed,
            [
                "李娜 <lina@corp.example>",
                "王磊 <wanglei@corp.example>",
                "Dave Lee <dave@corp.example>"
            ]
        );
        assert_eq!(m.item, None);
    }
}

#[test]
fn notice_to_unknown_department_is_refused() {
    let w = world();
    let o = w.run(DAVE, notice(&["rd", "finance"]), Target::None);
    let m = refused(&o, Refusal::UnknownDepartment, DAVE);
    assert_eq!(m.ctx.detail, "finance");
    assert_eq!(
        m.ctx.allowed,
        ["销售部 (sales)", "研发部 (rd)", "Operations (ops)"]
    );
    assert_eq!(m.locale, "en");
}

#[test]
fn notice_without_departments_is_refused() {
    let w = world();
    let o = w.run_to(DAVE, notice(&[]), Target::None, &[BOB]);
    let m = refused(&o, Refusal::NoDepartments, DAVE);
    assert_eq!(
        m.ctx.allowed,
        [
            "Dept: sales / sales@corp.example",
            "Dept: rd / rd@corp.example",
            "Dept: ops / ops@corp.example"
        ]
    );
}

// ===== what the mail names =================================================

#[test]
fn unknown_keyword_refusal_carries_suggestions() {
    let w = world();
    let req = proposed(&w);
    let typo = Command {
        unknown_keyword: Some(UnknownKeyword {
            word: "CONFRIM".into(),
            suggestions: vec!["CONFIRM".into(), "确认".into()],
        }),
        ..plain(note(""))
    };
    let o = w.run(ZHANGSAN, typo.clone(), on(&req));
    let m = refused(&o, Refusal::UnknownKeyword, ZHANGSAN);
    assert_eq!(m.ctx.detail, "CONFRIM");
    assert_eq!(m.ctx.suggestions, ["CONFIRM", "确认"]);
    assert_eq!(
        (m.ctx.id.as_str(), m.ctx.state.as_str()),
        ("REQ-1", "proposed")
    );
    assert_eq!(o.item, Some(ItemId::Req(ReqId(1))));
    // Without an item: the reply names none; in the sender's locale.
    let o = w.run(BOB, typo.clone(), Target::None);
    let m = refused(&o, Refusal::UnknownKeyword, BOB);
    assert_eq!(m.ctx.suggestions, ["CONFIRM", "确认"]);
    assert_eq!(
        (m.ctx.id.as_str(), m.item.as_deref(), m.locale.as_str()),
        ("", None, "en")
    );
    assert_eq!(tval(m, "state"), Some("-"));
    // It wins over a recognised keyword too: nothing is guessed.
    let both = Command {
        action: Some(Action::Confirm),
        ..typo
    };
    let o = w.run(ZHANGSAN, both, on(&req));
    refused(&o, Refusal::UnknownKeyword, ZHANGSAN);
}

#[test]
fn no_action_no_target_gets_help() {
    let w = world();
    let o = w.run(BOB, plain(note("thanks")), Target::None);
    assert_eq!(o.verdict, Verdict::Help);
    assert!(o.req.is_none() && o.events.is_empty() && o.item.is_none());
    assert_eq!(o.mails.len(), 1);
    let m = &o.mails[0];
    assert_eq!(sketch(m), "help to:[bob] cc:[] en -");
    assert_eq!(m.ctx.orig_subject, "subject");
    assert_eq!(m.ctx.actor, "Bob Smith <bob@corp.example>");
    let o = w.run(ZHANGSAN, plain(note("谢谢")), Target::None);
    assert_eq!(sketch(&o.mails[0]), "help to:[zhangsan] cc:[] zh-CN -");
}

#[test]
fn unknown_id_is_refused_without_claiming_it() {
    let w = world();
    let id = ItemId::Req(ReqId(99));
    for c in [cmd(Action::Confirm, note("")), plain(note("?"))] {
        let o = w.run(ZHANGSAN, c, Target::Unknown(id));
        let m = refused(&o, Refusal::UnknownId, ZHANGSAN);
        assert_eq!(m.ctx.detail, "REQ-99");
        assert_eq!((m.ctx.id.as_str(), m.item.as_deref()), ("", None));
        assert_eq!(o.item, None);
        assert_eq!(tval(m, "id"), Some("REQ-99"));
        assert_eq!(tval(m, "state"), Some("-"));
    }
}

#[test]
fn action_without_identifier_is_refused_with_the_accepted_form() {
    let w = world();
    for a in REQ_ACTIONS.into_iter().chain(TASK_ACTIONS) {
        let o = w.run(ZHANGSAN, cmd(a, note("")), Target::None);
        let m = refused(&o, Refusal::MissingField, ZHANGSAN);
        assert_eq!(m.ctx.detail, "REQ-n");
        assert_eq!(
            m.ctx.allowed,
            [format!("[{}] REQ-n", a.as_str().to_uppercase())]
        );
        assert_eq!(m.item, None);
    }
}

#[test]
fn field_problems_are_refused_before_anything_changes() {
    let w = world();
    let problems = [
        (
            FieldProblem::BadDate {
                field: "due".into(),
                value: "下周五".into(),
            },
            Refusal::BadDate,
            "due: 下周五",
        ),
        (
            FieldProblem::BadPriority {
                value: "asap".into(),
            },
            Refusal::BadField,
            "priority: asap",
        ),
        (
            FieldProblem::BadProgress {
                value: "六成".into(),
            },
            Refusal::BadField,
            "progress: 六成",
        ),
        (
            FieldProblem::BadLine {
                line: "- ???".into(),
                why: "no owner".into(),
            },
            Refusal::BadField,
            "- ??? (no owner)",
        ),
    ];
    let conf = confirmed(&w);
    let prop = proposed(&w);
    let busy = in_progress(&w);
    for (p, why, detail) in problems {
        let mut runs = vec![
            (
                ZHAOLIU,
                w.run(
                    ZHAOLIU,
                    cmd(Action::NewReq, with_problem(depts(&["rd"]), p.clone())),
                    Target::New(ReqId(2)),
                ),
            ),
            (
                ZHANGSAN,
                w.run(
                    ZHANGSAN,
                    cmd(
                        Action::Assign,
                        with_problem(tasks(&[("alice", "X")]), p.clone()),
                    ),
                    on(&conf),
                ),
            ),
            (
                ZHANGSAN,
                w.run(
                    ZHANGSAN,
                    cmd(Action::Plan, with_problem(two_milestones(), p.clone())),
                    on(&prop),
                ),
            ),
        ];
        for a in TASK_ACTIONS {
            let f = with_problem(progress(10, "理由"), p.clone());
            runs.push((ALICE, w.run(ALICE, cmd(a, f), on_task(&busy, 1))));
        }
        for (from, o) in &runs {
            let m = refused(o, why, from);
            assert_eq!(m.ctx.detail, detail);
        }
    }
}

// ===== how mail is addressed ==============================================

#[test]
fn recipients_are_deduplicated_to_wins_over_cc() {
    let w = world();
    // 张三 asks his own department: requester, confirmer and assigner.
    let o = w.run(
        ZHANGSAN,
        cmd(Action::NewReq, depts(&["rd"])),
        Target::New(ReqId(1)),
    );
    let req = ok(&o, Action::NewReq);
    let o = w.run(ZHANGSAN, cmd(Action::Confirm, note("")), on(&req));
    let req = ok(&o, Action::Confirm);
    assert_eq!(
        sketch(&o.mails[0]),
        "confirmed to:[zhangsan] cc:[rd] zh-CN REQ-1"
    );
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Assign, tasks(&[("alice", "X")])),
        on(&req),
    );
    let req = ok(&o, Action::Assign);
    assert_eq!(
        sketch(&o.mails[0]),
        "assigned to:[alice] cc:[rd, zhangsan] zh-CN REQ-1.1"
    );
    // Done goes to the assigner and the requester: the same person, once.
    let o = w.run(ALICE, cmd(Action::Done, note("")), on_task(&req, 1));
    ok(&o, Action::Done);
    assert_eq!(
        sketch(&o.mails[0]),
        "done to:[zhangsan] cc:[alice] zh-CN REQ-1.1"
    );
    assert_eq!(
        sketch(&o.mails[1]),
        "verify_request to:[zhangsan] cc:[rd] zh-CN REQ-1"
    );

    // Owner and assigner the same person: To once.
    let req = step(
        &w,
        DAVE,
        Action::Assign,
        tasks(&[("dave", "自己来")]),
        on(&confirmed(&w)),
    );
    let o = w.run(ZHAOLIU, plain(note("辛苦")), on_task(&req, 1));
    assert_eq!(
        sketch(&o.mails[0]),
        "comment to:[dave] cc:[zhaoliu] en REQ-1.1"
    );
}

#[test]
fn daemon_own_address_is_never_a_recipient() {
    let w = world();
    let mut req = proposed(&w);
    req.requester = w.own.clone();
    let o = w.run(ZHANGSAN, cmd(Action::Confirm, note("")), on(&req));
    ok(&o, Action::Confirm);
    assert_eq!(
        sketch(&o.mails[0]),
        "confirmed to:[] cc:[sales, zhangsan] zh-CN REQ-1"
    );
    // Named as a recipient of a new requirement, it is not a department.
    let o = w.run_to(
        ZHAOLIU,
        cmd(Action::NewReq, note("x")),
        Target::New(ReqId(2)),
        &[OWN, RD_G],
    );
    assert_eq!(ok(&o, Action::NewReq).depts.len(), 1);
}

#[test]
fn actor_is_copied_for_the_transcript_only_when_not_otherwise_reached() {
    let w = world();
    let req = proposed(&w);
    // Confirm goes to the requester and sales: 张三 is copied.
    let o = w.run(ZHANGSAN, cmd(Action::Confirm, note("")), on(&req));
    assert_eq!(addrs(&o.mails[0].cc).last(), Some(&ZHANGSAN));
    assert_eq!(tval(&o.mails[0], "result"), Some("confirm"));
    // The requester's own comment reaches rd and ops: 赵六 is copied.
    let o = w.run(ZHAOLIU, plain(note("补充")), on(&req));
    assert_eq!(addrs(&o.mails[0].cc), [ZHAOLIU]);
    // Assign reaches 张三 through the rd group: no copy.
    let req = confirmed(&w);
    let o = w.run(
        ZHANGSAN,
        cmd(Action::Assign, tasks(&[("alice", "X")])),
        on(&req),
    );
    assert!(!addrs(&o.mails[0].cc).contains(&ZHANGSAN));
    // Closing: the requester is in Cc already.
    let o = w.run(ZHAOLIU, cmd(Action::Close, note("")), on(&delivered(&w)));
    assert_eq!(addrs(&o.mails[0].cc), [ZHAOLIU, SALES_G]);
}

#[test]
fn events_carry_the_message_id_that_caused_them() {
    let w = world();
    let req = task_in(&w, TaskState::Done);
    let mid = "CAFE.1234@mail.corp.example";
    let o = w.exec(
        BOB,
        &cmd(Action::Done, note("")),
        on_task(&req, 2),
        &[],
        mid,
    );
    assert_eq!(o.events.len(), 3);
    for e in &o.events {
        assert_eq!((e.message_id.as_str(), e.actor.as_str()), (mid, BOB));
    }
}

#[test]
fn every_change_updates_the_snapshot_time() {
    let w = world();
    let mut later = world();
    later.now = now() + chrono::Duration::hours(3);
    let req = in_progress(&w);
    for (from, a, f, task) in [
        (ZHANGSAN, Action::Comment, note("x"), None),
        (ZHANGSAN, Action::Plan, two_milestones(), None),
        (ALICE, Action::Accept, note(""), Some(1)),
        (ALICE, Action::Blocked, note("x"), Some(1)),
        (ZHAOLIU, Action::Cancel, note(""), None),
    ] {
        let target = match task {
            Some(n) => on_task(&req, n),
            None => on(&req),
        };
        let o = later.run(from, cmd(a, f), target);
        let new = ok(&o, a);
        assert_eq!(new.updated_at, later.now, "{a}");
        assert_eq!(new.created_at, now(), "{a}");
        assert!(o.events.iter().all(|e| e.at == later.now));
    }
}

#[test]
fn requester_update_changes_due_quality_and_priority() {
    let w = world();
    let req = proposed(&w);
    let f = Fields {
        due: NaiveDate::from_ymd_opt(2026, 12, 20),
        quality: Some("字段齐全".into()),
        priority: Some(Priority::Urgent),
        ..note("截止日期顺延")
    };
    let o = w.run(ZHAOLIU, cmd(Action::Comment, f), on(&req));
    let new = ok(&o, Action::Comment);
    assert_eq!(new.due, NaiveDate::from_ymd_opt(2026, 12, 20));
    assert_eq!(new.quality.as_deref(), Some("字段齐全"));
    assert_eq!(new.priority, Priority::Urgent);
    assert!(o
        .events
        .iter()
        .any(|e| e.kind == "update" && e.detail.contains("2026-12-20")));
}

#[test]
fn update_fields_from_a_non_requester_change_nothing() {
    let w = world();
    let req = proposed(&w);
    let f = Fields {
        due: NaiveDate::from_ymd_opt(2027, 1, 20),
        ..note("我们希望延期")
    };
    let o = w.run(ZHANGSAN, cmd(Action::Comment, f), on(&req));
    let new = ok(&o, Action::Comment);
    assert_eq!(new.due, req.due);
    assert!(!o.events.iter().any(|e| e.kind == "update"));
}

#[test]
fn requester_update_with_a_past_due_date_is_refused() {
    let w = world();
    let req = proposed(&w);
    let f = Fields {
        due: NaiveDate::from_ymd_opt(2026, 1, 2),
        ..note("")
    };
    let o = w.run(ZHAOLIU, cmd(Action::Comment, f), on(&req));
    refused(&o, Refusal::BadDate, ZHAOLIU);
}

// ----- look-ups (docs/protocol.md#look-ups-by-mail) --------------------------

fn file(name: &str, size: u64, kept: bool) -> FileRef {
    FileRef {
        name: name.into(),
        content_type: "application/pdf".into(),
        size,
        sha256: kept.then(|| format!("{:0>64}", size)),
        note: (!kept).then(|| "too_large".into()),
    }
}

/// A world whose shell read `events` and `files` for a look-up.
fn looking(events: Vec<Event>, files: Vec<(ItemId, FileRef)>, attach_max: u64) -> World {
    World {
        look: Some(LookData {
            events,
            files,
            mine: None,
            attach_max,
            tz: crate::model::Zone::shanghai(),
        }),
        ..world()
    }
}

fn lookup(a: Action) -> Command {
    cmd(a, Fields::default())
}

#[test]
fn show_answers_participants_and_changes_nothing() {
    let w0 = world();
    let req = in_progress(&w0);
    let t1 = ItemId::Task(task_id(1));
    let events = vec![
        Event {
            item: ItemId::Req(ReqId(1)),
            kind: "new_req".into(),
            actor: ZHAOLIU.into(),
            message_id: "a@x".into(),
            at: now(),
            detail: "请导出".into(),
        },
        Event {
            item: t1,
            kind: "lookup".into(),
            actor: ALICE.into(),
            message_id: "b@x".into(),
            at: now(),
            detail: "show".into(),
        },
        Event {
            item: t1,
            kind: "state".into(),
            actor: ALICE.into(),
            message_id: "c@x".into(),
            at: now(),
            detail: "accepted".into(),
        },
    ];
    let files = vec![
        (ItemId::Req(ReqId(1)), file("spec.docx", 300, true)),
        (t1, file("big.zip", 900, false)),
        (t1, file("report.xlsx", 200, true)),
        // The same bytes under the same name again: one file.
        (ItemId::Req(ReqId(1)), file("spec.docx", 300, true)),
    ];
    let w = looking(events, files, 1000);
    // The requester, a member of a target department, a task owner, a
    // member of the requester's department, a lead of a task owner.
    for who in [ZHAOLIU, ZHANGSAN, BOB, CAROL, DAVE, LINA, WANGLEI, ALICE] {
        let o = w.run(who, lookup(Action::Show), on(&req));
        assert_eq!(o.verdict, Verdict::Lookup(Action::Show), "{who}");
        assert!(o.req.is_none(), "a look-up saves no snapshot");
        assert_events(&o, who, &[("REQ-1", "lookup", "show")]);
        assert_eq!(o.mails.len(), 1);
        let m = &o.mails[0];
        assert_eq!(addrs(&m.to), [who]);
        assert!(m.cc.is_empty());
        assert_eq!(m.kind, Kind::Show);
        assert_eq!(m.item.as_deref(), Some("REQ-1"));
        assert_eq!(m.ctx.state, "in_progress");
        assert_eq!(m.ctx.tasks.len(), 2);
        assert_eq!(m.ctx.departments.len(), 2);
        // Earlier look-ups are not history.
        let h: Vec<(&str, &str)> = m
            .ctx
            .history
            .iter()
            .map(|h| (h.item.as_str(), h.kind.as_str()))
            .collect();
        assert_eq!(h, [("REQ-1", "new_req"), ("REQ-1.1", "state")]);
        assert_eq!(m.ctx.history[0].at, "2026-11-26 10:00", "local time");
        assert_eq!(m.ctx.history[0].actor, "赵六 <zhaoliu@corp.example>");
        // The kept files, once each, attached (500 bytes ≤ 1000).
        let names: Vec<&str> = m.attachments.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["spec.docx", "report.xlsx"]);
        assert!(m.ctx.files_attached && !m.ctx.files_fetch);
    }
    // A task id: that task, its history and its files only.
    let o = w.run(BOB, lookup(Action::Show), on_task(&req, 1));
    assert_events(&o, BOB, &[("REQ-1.1", "lookup", "show")]);
    let m = &o.mails[0];
    assert_eq!(m.item.as_deref(), Some("REQ-1.1"));
    assert_eq!(m.ctx.task.as_ref().map(|t| t.id.as_str()), Some("REQ-1.1"));
    assert_eq!(m.ctx.history.len(), 1);
    let names: Vec<&str> = m.attachments.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["report.xlsx"]);
    // Above the limit: listed, with how to fetch them, not attached.
    let w = looking(vec![], w.look.unwrap().files, 400);
    let o = w.run(ZHAOLIU, lookup(Action::Show), on(&req));
    let m = &o.mails[0];
    assert!(m.attachments.is_empty() && m.ctx.files_fetch && !m.ctx.files_attached);
    assert_eq!(m.ctx.files.len(), 2);
}

#[test]
fn look_ups_are_refused_to_whoever_is_not_involved() {
    let w0 = world();
    // To rd only: ops (Bob, Dave) has nothing to do with it.
    let req = proposed_to(&w0, &["rd"]);
    let w = looking(vec![], vec![], 1000);
    for a in [Action::Show, Action::Files] {
        for who in [BOB, DAVE] {
            let o = w.run(who, lookup(a), on(&req));
            let m = refused(&o, Refusal::NotParticipant, who);
            assert!(m.attachments.is_empty() && m.ctx.history.is_empty());
            assert!(m.ctx.allowed.iter().any(|a| a.contains("zhaoliu@")));
            assert!(m.ctx.allowed.iter().any(|a| a.contains("(rd)")));
        }
        let o = w.run(ZHANGSAN, lookup(a), on(&req));
        assert_eq!(o.verdict, Verdict::Lookup(a));
    }
    // No id, an unknown id.
    let o = w.run(ZHANGSAN, lookup(Action::Show), Target::None);
    refused(&o, Refusal::MissingField, ZHANGSAN);
    let o = w.run(
        ZHANGSAN,
        lookup(Action::Files),
        Target::Unknown(ItemId::Req(ReqId(9))),
    );
    refused(&o, Refusal::UnknownId, ZHANGSAN);
}

#[test]
fn files_come_in_parts_that_fit_a_mail() {
    let w0 = world();
    let req = in_progress(&w0);
    let r1 = ItemId::Req(ReqId(1));
    let files = vec![
        (r1, file("a.pdf", 600, true)),
        (r1, file("b.pdf", 500, true)),
        (r1, file("c.pdf", 300, true)),
        (r1, file("huge.iso", 5000, true)),
        (r1, file("lost.zip", 99, false)),
    ];
    let w = looking(vec![], files, 1000);
    let o = w.run(ALICE, lookup(Action::Files), on(&req));
    assert_eq!(o.verdict, Verdict::Lookup(Action::Files));
    assert_events(&o, ALICE, &[("REQ-1", "lookup", "files")]);
    let parts: Vec<(u32, u32, Vec<&str>, usize)> = o
        .mails
        .iter()
        .map(|m| {
            assert_eq!(m.kind, Kind::Files);
            assert_eq!(addrs(&m.to), [ALICE]);
            (
                m.ctx.part,
                m.ctx.parts,
                m.attachments.iter().map(|f| f.name.as_str()).collect(),
                m.ctx.files_too_large.len(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        [(1, 2, vec!["a.pdf", "c.pdf"], 1), (2, 2, vec!["b.pdf"], 0)]
    );
    // No files: one mail that says so.
    let w = looking(vec![], vec![], 1000);
    let o = w.run(ALICE, lookup(Action::Files), on(&req));
    assert_eq!(o.mails.len(), 1);
    let m = &o.mails[0];
    assert!(m.attachments.is_empty() && m.ctx.files.is_empty() && m.ctx.part == 0);
}

#[test]
fn mine_and_help_answer_the_sender_about_no_item() {
    let digest = DigestCtx {
        slot: "2026-11-26 10:00".into(),
        total: 1,
        ..DigestCtx::default()
    };
    let mut w = looking(vec![], vec![], 1000);
    w.look.as_mut().unwrap().mine = Some(digest.clone());
    let req = in_progress(&w);
    // Even sent in a requirement's thread, [MINE] is about no item.
    for target in [Target::None, on(&req)] {
        let o = w.run(ALICE, lookup(Action::Mine), target);
        assert_eq!(o.verdict, Verdict::Lookup(Action::Mine));
        assert!(o.events.is_empty() && o.req.is_none() && o.item.is_none());
        assert_eq!(o.mails.len(), 1);
        assert_eq!(sketch(&o.mails[0]), "mine to:[alice] cc:[] zh-CN -");
        assert_eq!(o.mails[0].ctx.digest.as_ref(), Some(&digest));
    }
    let o = w.run(BOB, lookup(Action::Help), Target::None);
    assert_eq!(o.verdict, Verdict::Lookup(Action::Help));
    assert!(o.events.is_empty() && o.req.is_none());
    assert_eq!(sketch(&o.mails[0]), "help to:[bob] cc:[] en -");
    assert_eq!(o.mails[0].ctx.action, "help");
}

#[test]
fn a_long_history_shows_its_latest_events_and_counts_the_rest() {
    let w0 = world();
    let req = in_progress(&w0);
    let events: Vec<Event> = (0..HISTORY_MAX + 30)
        .map(|i| Event {
            item: ItemId::Req(ReqId(1)),
            kind: "comment".into(),
            actor: ZHAOLIU.into(),
            message_id: format!("{i}@x"),
            at: now(),
            detail: format!("note {i}"),
        })
        .collect();
    let w = looking(events, vec![], 1000);
    let o = w.run(ZHAOLIU, lookup(Action::Show), on(&req));
    let m = &o.mails[0];
    assert_eq!(m.ctx.history.len(), HISTORY_MAX);
    assert_eq!(m.ctx.history_more, 30);
    assert_eq!(m.ctx.history[0].detail, "note 30");
    assert_eq!(
        m.ctx.history.last().unwrap().detail,
        format!("note {}", HISTORY_MAX + 29)
    );
}
