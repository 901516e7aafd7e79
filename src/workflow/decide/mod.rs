//! The state machine: (current state, command, sender) → outcome. Pure: no
//! I/O, no clock (`now` and `today` come in), no database.
//!
//! An outcome is either applied (a new snapshot, events, mails) or refused
//! (one mail to the sender saying exactly why; nothing changes). A refusal
//! is data, not an error.
//!
//! This file holds the shared part (the types, `decide`, the dispatch to
//! the action, who the sender is to the requirement); each command family
//! has its own file, as the handbook's steps do: `new_req`, `respond`
//! (confirm / clarify / reject), `assign`, `plan`, `task` (the assignee's
//! actions), `finish` (close / cancel), `comment`, `notice`; `mail` builds
//! what the outcome's mails carry, `refusal` what a refusal says.

mod assign;
mod comment;
mod finish;
mod lookup;
mod mail;
mod new_req;
mod notice;
mod plan;
mod refusal;
mod respond;
mod task;

use crate::directory::Directory;
use crate::model::*;
use chrono::{DateTime, NaiveDate, Utc};

/// Why an action was not allowed. `code()` is what templates translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownId,
    UnknownKeyword,
    NoAction,
    WrongState,
    NotTargetMember,
    NotRequester,
    NotAssignee,
    NotLead,
    DeptNotConfirmed,
    MissingField,
    BadDate,
    BadField,
    NoDepartments,
    UnknownDepartment,
    UnknownOwner,
    NoTasks,
    WrongItemKind,
    AlreadyDone,
    NotParticipant,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownId => "unknown_id",
            Refusal::UnknownKeyword => "unknown_keyword",
            Refusal::NoAction => "no_action",
            Refusal::WrongState => "wrong_state",
            Refusal::NotTargetMember => "not_target_member",
            Refusal::NotRequester => "not_requester",
            Refusal::NotAssignee => "not_assignee",
            Refusal::NotLead => "not_lead",
            Refusal::DeptNotConfirmed => "dept_not_confirmed",
            Refusal::MissingField => "missing_field",
            Refusal::BadDate => "bad_date",
            Refusal::BadField => "bad_field",
            Refusal::NoDepartments => "no_departments",
            Refusal::UnknownDepartment => "unknown_department",
            Refusal::UnknownOwner => "unknown_owner",
            Refusal::NoTasks => "no_tasks",
            Refusal::WrongItemKind => "wrong_item_kind",
            Refusal::AlreadyDone => "already_done",
            Refusal::NotParticipant => "not_participant",
        }
    }
}

/// What the mail is about, as the shell found it.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// No identifier in the subject nor the thread headers.
    None,
    /// `[REQ]`: the id the new requirement will get.
    New(ReqId),
    /// An identifier that names an existing requirement (and maybe a task of it).
    Existing(ItemId, &'a Requirement),
    /// An identifier that names nothing stored.
    Unknown(ItemId),
}

/// The world the decision is made in.
pub struct Ctx<'a> {
    pub dir: &'a Directory,
    pub workflow: &'a Mailbox,
    pub now: DateTime<Utc>,
    /// Today in the configured time zone (deadlines are local dates).
    pub today: NaiveDate,
    /// Keywords accepted for an action, for "what would be accepted".
    pub keywords_for: &'a dyn Fn(Action) -> Vec<String>,
    /// What a look-up shows besides the requirement (`None` unless the
    /// mail asks for one).
    pub look: Option<&'a LookData>,
}

/// What a look-up shows besides the requirement snapshot: read by the
/// shell only for a mail that asks for one.
#[derive(Debug, Clone)]
pub struct LookData {
    /// The requirement's events, oldest first (`[SHOW]`).
    pub events: Vec<Event>,
    /// The requirement's files, each with the item it came with, oldest first.
    pub files: Vec<(ItemId, FileRef)>,
    /// What waits on the sender (`[MINE]`), by the digest's rules.
    pub mine: Option<DigestCtx>,
    /// `[files] attach_max_bytes`: what one mail may carry.
    pub attach_max: u64,
    /// The configured time zone (history times are local).
    pub tz: crate::model::Zone,
}

/// One incoming mail, classified.
pub struct Request<'a> {
    pub cmd: &'a Command,
    pub sender: &'a Mailbox,
    /// To and Cc of the incoming mail (department groups among them count
    /// as target departments when no `Dept:` field is given).
    pub recipients: &'a [Mailbox],
    pub message_id: &'a str,
    pub subject: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Applied(Action),
    Refused(Refusal),
    Help,
    /// A look-up was answered (`[SHOW]`, `[FILES]`, `[MINE]`, `[HELP]`):
    /// nothing changed.
    Lookup(Action),
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The new snapshot to store (only when applied to a requirement).
    pub req: Option<Requirement>,
    pub events: Vec<Event>,
    pub mails: Vec<Outgoing>,
    /// The item the mail was about (for thread correlation).
    pub item: Option<ItemId>,
}

pub fn decide(ctx: &Ctx, r: &Request, target: Target) -> Outcome {
    Decider { ctx, r }.run(target)
}

struct Decider<'a, 'b> {
    ctx: &'a Ctx<'b>,
    r: &'a Request<'b>,
}

type Step = Result<Outcome, Box<Refused>>;

/// A refusal in the making: the code, detail, the allowed forms.
struct Refused {
    why: Refusal,
    detail: String,
    allowed: Vec<String>,
    suggestions: Vec<String>,
    req: Option<Requirement>,
    item: Option<ItemId>,
}

fn refuse(why: Refusal, detail: impl Into<String>) -> Box<Refused> {
    Box::new(Refused {
        why,
        detail: detail.into(),
        allowed: vec![],
        suggestions: vec![],
        req: None,
        item: None,
    })
}

impl Refused {
    fn allowed(mut self: Box<Self>, who: impl IntoIterator<Item = String>) -> Box<Self> {
        self.allowed.extend(who);
        self
    }
}

fn date_s(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

impl<'a, 'b> Decider<'a, 'b> {
    fn run(&self, target: Target) -> Outcome {
        let cmd = self.r.cmd;
        let (req_for_refusal, item) = match target {
            Target::Existing(id, req) => (Some(req), Some(id)),
            Target::Unknown(id) => (None, Some(id)),
            _ => (None, None),
        };
        let step = if let Some(uk) = &cmd.unknown_keyword {
            let mut r = refuse(Refusal::UnknownKeyword, uk.word.clone());
            r.suggestions = uk.suggestions.clone();
            Err(r)
        } else {
            match (cmd.action, target) {
                (None, Target::None) => return self.help(),
                (Some(Action::Mine), _) => return self.mine(),
                (Some(Action::Help), _) => return self.guide(),
                (Some(a @ (Action::Show | Action::Files)), Target::Existing(id, req)) => {
                    self.look(a, id, req)
                }
                (None, Target::Existing(id, req))
                | (Some(Action::Comment), Target::Existing(id, req)) => self.comment(id, req),
                (Some(Action::NewReq), _) => match target {
                    Target::New(id) => self.new_req(id),
                    _ => Err(refuse(Refusal::NoAction, "")),
                },
                (Some(Action::Notice), _) => self.notice(),
                (_, Target::Unknown(id)) => Err(refuse(Refusal::UnknownId, id.to_string())),
                (Some(a), Target::None) => Err(refuse(Refusal::MissingField, "REQ-n")
                    .allowed([format!("[{}] REQ-n", a.as_str().to_uppercase())])),
                (Some(a), Target::Existing(id, req)) => self.act(a, id, req),
                (_, Target::New(_)) => Err(refuse(Refusal::NoAction, "")),
            }
        };
        match step {
            Ok(o) => o,
            Err(mut r) => {
                if r.req.is_none() {
                    r.req = req_for_refusal.cloned();
                }
                if r.item.is_none() {
                    r.item = item;
                }
                self.refusal(*r)
            }
        }
    }

    // ----- helpers ---------------------------------------------------

    fn sender(&self) -> &str {
        &self.r.sender.address
    }

    fn actor(&self) -> Mailbox {
        self.ctx.dir.person(self.sender())
    }

    fn event(&self, item: ItemId, kind: &str, detail: impl Into<String>) -> Event {
        Event {
            item,
            kind: kind.to_string(),
            actor: self.sender().to_string(),
            message_id: self.r.message_id.to_string(),
            at: self.ctx.now,
            detail: detail.into(),
        }
    }

    fn group(&self, dept: &str) -> Option<Mailbox> {
        self.ctx.dir.dept(dept).map(|d| d.group.clone())
    }

    fn is_requester(&self, req: &Requirement) -> bool {
        req.requester.address == self.sender()
            || req
                .requester_dept
                .as_deref()
                .is_some_and(|d| self.ctx.dir.is_lead(self.sender(), d))
    }

    fn is_assignee(&self, t: &Task) -> bool {
        t.owner.address == self.sender()
            || self.ctx.dir.leads_person(self.sender(), &t.owner.address)
    }

    /// The target departments the sender belongs to.
    fn sender_targets<'r>(&self, req: &'r Requirement) -> Vec<&'r DeptStatus> {
        req.depts
            .iter()
            .filter(|d| self.ctx.dir.is_member(self.sender(), &d.id))
            .collect()
    }

    fn target_groups_desc(&self, req: &Requirement) -> Vec<String> {
        req.depts
            .iter()
            .filter_map(|d| self.ctx.dir.dept(&d.id))
            .map(|d| format!("{} ({})", d.name, d.id))
            .collect()
    }

    fn act(&self, a: Action, id: ItemId, req: &Requirement) -> Step {
        match (a, id) {
            (Action::Comment, _) => self.comment(id, req),
            (a, ItemId::Task(_)) if a.on_req() => Err(refuse(
                Refusal::WrongItemKind,
                id.to_string(),
            )
            .allowed([format!("[{}] {}", a.as_str().to_uppercase(), req.id)])),
            (a, ItemId::Req(_)) if a.on_task() => {
                Err(refuse(Refusal::WrongItemKind, id.to_string()).allowed(
                    req.tasks
                        .iter()
                        .map(|t| format!("[{}] {}", a.as_str().to_uppercase(), t.id)),
                ))
            }
            (Action::Confirm | Action::Clarify | Action::Reject, _) => self.respond(a, req),
            (Action::Assign, _) => self.assign(req),
            (Action::Plan, _) => self.plan(req),
            (Action::Close | Action::Cancel, _) => self.finish(a, req),
            (a, ItemId::Task(tid)) if a.on_task() => match req.task(tid) {
                Some(t) => self.task_action(a, req, t),
                None => Err(refuse(Refusal::UnknownId, tid.to_string())),
            },
            _ => Err(refuse(Refusal::NoAction, "")),
        }
    }
}

/// The open requirement states (`ReqState::is_open`), for "what would be accepted".
const OPEN: [ReqState; 5] = [
    ReqState::Proposed,
    ReqState::Clarifying,
    ReqState::Confirmed,
    ReqState::InProgress,
    ReqState::Delivered,
];

fn line(key: &str, value: &str) -> TranscriptLine {
    TranscriptLine {
        key: key.to_string(),
        value: value.to_string(),
    }
}

#[cfg(test)]
mod tests;
