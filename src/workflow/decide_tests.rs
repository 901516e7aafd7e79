//! The state machine, one test per rule of PROTOCOL.md.

use super::*;
use crate::directory::tests::sample;
use chrono::TimeZone;

pub(crate) struct World {
    pub dir: Directory,
    pub own: Mailbox,
    pub now: DateTime<Utc>,
}

pub(crate) fn world() -> World {
    World {
        dir: sample(),
        own: Mailbox::new(Some("协作流程助手"), "workflow@corp.example"),
        now: Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap(),
    }
}

fn kw(a: Action) -> Vec<String> {
    vec![a.as_str().to_uppercase()]
}

impl World {
    pub fn run(&self, from: &str, cmd: Command, target: Target) -> Outcome {
        let kwf = kw;
        let ctx = Ctx {
            dir: &self.dir,
            workflow: &self.own,
            now: self.now,
            today: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            keywords_for: &kwf,
        };
        let sender = Mailbox::parse(from).unwrap();
        let recipients = vec![self.own.clone()];
        let r = Request {
            cmd: &cmd,
            sender: &sender,
            recipients: &recipients,
            message_id: "m1@test",
            subject: "subject",
        };
        decide(&ctx, &r, target)
    }
}

pub(crate) fn cmd(action: Action, fields: Fields) -> Command {
    Command {
        action: Some(action),
        target: None,
        title: "导出客户数据".into(),
        fields,
        unknown_keyword: None,
    }
}

pub(crate) fn note(s: &str) -> Fields {
    Fields {
        note: s.into(),
        ..Fields::default()
    }
}

/// A requirement from 赵六 (sales) to rd and ops, freshly proposed.
pub(crate) fn proposed(w: &World) -> Requirement {
    let f = Fields {
        departments: vec!["研发".into(), "ops".into()],
        due: NaiveDate::from_ymd_opt(2026, 12, 15),
        ..note("请导出")
    };
    let o = w.run(
        "zhaoliu@corp.example",
        cmd(Action::NewReq, f),
        Target::New(ReqId(1)),
    );
    assert_eq!(o.verdict, Verdict::Applied(Action::NewReq));
    o.req.unwrap()
}

#[test]
fn new_requirement_acknowledges_requester_and_notifies_each_department() {
    let w = world();
    let f = Fields {
        departments: vec!["研发".into(), "ops".into()],
        ..note("请导出")
    };
    let o = w.run(
        "zhaoliu@corp.example",
        cmd(Action::NewReq, f),
        Target::New(ReqId(7)),
    );
    let req = o.req.unwrap();
    assert_eq!(req.state, ReqState::Proposed);
    assert_eq!(req.requester_dept.as_deref(), Some("sales"));
    assert_eq!(o.mails.len(), 3);
    assert_eq!(o.mails[0].kind, Kind::Ack);
    assert_eq!(o.mails[0].to[0].address, "zhaoliu@corp.example");
    assert_eq!(o.mails[1].to[0].address, "rd@corp.example");
    assert_eq!(o.mails[2].to[0].address, "ops@corp.example");
    assert_eq!(o.mails[2].locale, "en");
    assert_eq!(o.mails[1].item.as_deref(), Some("REQ-7"));
}

#[test]
fn confirm_by_every_target_department_confirms_the_requirement() {
    let w = world();
    let req = proposed(&w);
    let o = w.run(
        "zhangsan@corp.example",
        cmd(Action::Confirm, note("")),
        Target::Existing(ItemId::Req(req.id), &req),
    );
    let req = o.req.unwrap();
    assert_eq!(req.state, ReqState::Proposed);
    assert_eq!(o.mails[0].kind, Kind::Confirmed);
    assert_eq!(o.mails[0].to[0].address, "zhaoliu@corp.example");
    assert_eq!(o.mails[0].cc[0].address, "sales@corp.example");
    let o = w.run(
        "bob@corp.example",
        cmd(Action::Confirm, note("")),
        Target::Existing(ItemId::Req(req.id), &req),
    );
    assert_eq!(o.req.unwrap().state, ReqState::Confirmed);
}
