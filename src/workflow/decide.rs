//! The state machine: (current state, command, sender) → outcome. Pure: no
//! I/O, no clock (`now` and `today` come in), no database.
//!
//! An outcome is either applied (a new snapshot, events, mails) or refused
//! (one mail to the sender saying exactly why; nothing changes). A refusal
//! is data, not an error.

use super::model::*;
use super::state::*;
use crate::directory::Directory;
use crate::mail::Mailbox;
use crate::notify::{DeptCtx, Kind, MailCtx, MilestoneCtx, Outgoing, TaskCtx, TranscriptLine};
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

    fn dept_ctx(&self, id: &str, confirmed: bool) -> DeptCtx {
        DeptCtx {
            id: id.to_string(),
            name: self
                .ctx
                .dir
                .dept(id)
                .map(|d| d.name.clone())
                .unwrap_or_else(|| id.to_string()),
            confirmed,
        }
    }

    fn task_ctx(&self, t: &Task) -> TaskCtx {
        TaskCtx {
            id: t.id.to_string(),
            owner: t.owner.to_string(),
            title: t.title.clone(),
            state: t.state.as_str().to_string(),
            progress: t.progress,
            due: date_s(t.due),
            quality: t.quality.clone(),
            blocked: t.blocked,
        }
    }

    /// The common context for mails about a requirement.
    fn req_ctx(&self, req: &Requirement, action: &str, state_before: &str) -> MailCtx {
        MailCtx {
            id: req.id.to_string(),
            req_id: req.id.to_string(),
            title: req.title.clone(),
            req_title: req.title.clone(),
            actor: self.actor().to_string(),
            action: action.to_string(),
            state: req.state.as_str().to_string(),
            state_before: state_before.to_string(),
            req_state: req.state.as_str().to_string(),
            note: self.r.cmd.fields.note.clone(),
            requester: req.requester.to_string(),
            departments: req
                .depts
                .iter()
                .map(|d| self.dept_ctx(&d.id, d.confirmed))
                .collect(),
            dept: None,
            due: date_s(req.due),
            quality: req.quality.clone(),
            priority: req.priority.as_str().to_string(),
            progress: None,
            tasks: req.tasks.iter().map(|t| self.task_ctx(t)).collect(),
            task: None,
            milestones: req
                .milestones
                .iter()
                .map(|m| MilestoneCtx {
                    date: m.date.format("%Y-%m-%d").to_string(),
                    title: m.title.clone(),
                    owner: m.owner.clone(),
                })
                .collect(),
            transcript: vec![],
            reason: String::new(),
            detail: String::new(),
            suggestions: vec![],
            allowed: vec![],
            orig_subject: self.r.subject.to_string(),
            workflow_address: self.ctx.workflow.address.clone(),
            ..MailCtx::default()
        }
    }

    /// The debbugs-style transcript: what was understood, the result, the state.
    fn transcript(&self, action: &str, id: &str, result: &str, state: &str) -> Vec<TranscriptLine> {
        let f = &self.r.cmd.fields;
        let mut t = vec![line("action", action), line("id", id)];
        if !f.departments.is_empty() {
            t.push(line("departments", &f.departments.join(", ")));
        }
        if let Some(d) = f.due {
            t.push(line("due", &d.format("%Y-%m-%d").to_string()));
        }
        if let Some(q) = &f.quality {
            t.push(line("quality", q));
        }
        if let Some(p) = f.priority {
            t.push(line("priority", p.as_str()));
        }
        if let Some(p) = f.progress {
            t.push(line("progress", &format!("{p}%")));
        }
        if !f.tasks.is_empty() && self.r.cmd.action == Some(Action::Assign) {
            let v: Vec<String> = f
                .tasks
                .iter()
                .map(|t| format!("{}: {}", t.owner, t.title))
                .collect();
            t.push(line("tasks", &v.join("; ")));
        }
        if !f.milestones.is_empty() && self.r.cmd.action == Some(Action::Plan) {
            let v: Vec<String> = f
                .milestones
                .iter()
                .map(|m| format!("{}: {}", m.date.format("%Y-%m-%d"), m.title))
                .collect();
            t.push(line("milestones", &v.join("; ")));
        }
        t.push(line("result", result));
        t.push(line("state", state));
        t
    }

    /// Builds a mail: recipients de-duplicated (To wins over Cc), the daemon
    /// itself removed, and the actor added to Cc when nothing else reaches
    /// them (so every acted-on mail's sender sees the transcript).
    fn mail(
        &self,
        kind: Kind,
        to: Vec<Mailbox>,
        cc: Vec<Mailbox>,
        mut ctx: MailCtx,
        with_actor: bool,
    ) -> Outgoing {
        let own = &self.ctx.workflow.address;
        let mut seen: Vec<String> = vec![own.clone()];
        let mut keep = |v: Vec<Mailbox>| -> Vec<Mailbox> {
            v.into_iter()
                .filter(|m| {
                    if seen.contains(&m.address) {
                        false
                    } else {
                        seen.push(m.address.clone());
                        true
                    }
                })
                .collect()
        };
        let to = keep(to);
        let mut cc = keep(cc);
        if with_actor {
            let all: Vec<Mailbox> = to.iter().chain(cc.iter()).cloned().collect();
            if !self.ctx.dir.reached_by(self.sender(), &all) && self.sender() != own {
                cc.push(self.actor());
            }
        }
        let primary = to
            .first()
            .or(cc.first())
            .map(|m| m.address.as_str())
            .unwrap_or("");
        let locale = self.ctx.dir.locale_of(primary).to_string();
        if ctx.workflow_address.is_empty() {
            ctx.workflow_address = own.clone();
        }
        Outgoing {
            kind,
            to,
            cc,
            item: (!ctx.id.is_empty()).then(|| ctx.id.clone()),
            locale,
            ctx,
        }
    }

    fn applied(
        &self,
        action: Action,
        req: Option<Requirement>,
        item: Option<ItemId>,
        events: Vec<Event>,
        mails: Vec<Outgoing>,
    ) -> Step {
        Ok(Outcome {
            verdict: Verdict::Applied(action),
            req,
            events,
            mails,
            item,
        })
    }

    fn refusal(&self, r: Refused) -> Outcome {
        let mut ctx = match &r.req {
            Some(req) => {
                let mut c = self.req_ctx(
                    req,
                    self.r.cmd.action.map(|a| a.as_str()).unwrap_or(""),
                    req.state.as_str(),
                );
                if let Some(ItemId::Task(tid)) = r.item {
                    if let Some(t) = req.task(tid) {
                        c.id = tid.to_string();
                        c.task = Some(self.task_ctx(t));
                        c.state = t.state.as_str().to_string();
                        c.title = t.title.clone();
                    }
                }
                c
            }
            None => MailCtx {
                id: String::new(),
                action: self
                    .r
                    .cmd
                    .action
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default(),
                title: self.r.cmd.title.clone(),
                actor: self.actor().to_string(),
                note: self.r.cmd.fields.note.clone(),
                orig_subject: self.r.subject.to_string(),
                workflow_address: self.ctx.workflow.address.clone(),
                ..MailCtx::default()
            },
        };
        // A refusal about an unknown id must not carry that id as if it
        // existed; the subject still shows what was asked about via detail.
        if r.why == Refusal::UnknownId {
            ctx.id.clear();
        }
        ctx.reason = r.why.code().to_string();
        ctx.detail = r.detail.clone();
        ctx.suggestions = r.suggestions.clone();
        ctx.allowed = r.allowed.clone();
        let id_s = r.item.map(|i| i.to_string()).unwrap_or_default();
        ctx.transcript = self.transcript(
            &ctx.action,
            &id_s,
            "refused",
            if ctx.state.is_empty() {
                "-"
            } else {
                &ctx.state
            },
        );
        let mail = self.mail(Kind::Refusal, vec![self.actor()], vec![], ctx, false);
        Outcome {
            verdict: Verdict::Refused(r.why),
            req: None,
            events: vec![],
            mails: vec![mail],
            item: r.item.filter(|_| r.why != Refusal::UnknownId),
        }
    }

    fn help(&self) -> Outcome {
        let ctx = MailCtx {
            actor: self.actor().to_string(),
            orig_subject: self.r.subject.to_string(),
            workflow_address: self.ctx.workflow.address.clone(),
            ..MailCtx::default()
        };
        let mail = self.mail(Kind::Help, vec![self.actor()], vec![], ctx, false);
        Outcome {
            verdict: Verdict::Help,
            req: None,
            events: vec![],
            mails: vec![mail],
            item: None,
        }
    }

    fn check_problems(&self) -> Result<(), Box<Refused>> {
        match self.r.cmd.fields.problems.first() {
            None => Ok(()),
            Some(FieldProblem::BadDate { field, value }) => Err(refuse(
                Refusal::BadDate,
                format!("{field}: {value}"),
            )
            .allowed(["2026-12-15", "2026/12/15", "2026年12月15日", "12月15日"].map(String::from))),
            Some(FieldProblem::BadPriority { value }) => Err(refuse(
                Refusal::BadField,
                format!("priority: {value}"),
            )
            .allowed(
                ["low", "normal", "high", "urgent", "低", "中", "高", "紧急"].map(String::from),
            )),
            Some(FieldProblem::BadProgress { value }) => {
                Err(refuse(Refusal::BadField, format!("progress: {value}"))
                    .allowed(["60%", "进度：60%"].map(String::from)))
            }
            Some(FieldProblem::BadLine { line, why }) => {
                Err(refuse(Refusal::BadField, format!("{line} ({why})")))
            }
        }
    }

    fn keywords(&self, a: Action) -> String {
        let v = (self.ctx.keywords_for)(a);
        v.iter()
            .map(|k| format!("[{k}]"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The departments a new requirement or a notice is for: the `Dept:`
    /// field (ids, names, aliases), else the department groups among To/Cc;
    /// each once, in the order given. Refused when none or an unknown one.
    fn target_depts(&self) -> Result<Vec<&'b crate::directory::Department>, Box<Refused>> {
        let dir = self.ctx.dir;
        let mut out: Vec<&crate::directory::Department> = vec![];
        let mut add = |d: &'b crate::directory::Department| {
            if !out.iter().any(|o| o.id == d.id) {
                out.push(d);
            }
        };
        if self.r.cmd.fields.departments.is_empty() {
            self.r
                .recipients
                .iter()
                .filter_map(|m| dir.dept_by_group(&m.address))
                .for_each(&mut add);
        } else {
            for tok in &self.r.cmd.fields.departments {
                match dir.resolve_dept(tok) {
                    Some(d) => add(d),
                    None => {
                        return Err(refuse(Refusal::UnknownDepartment, tok.clone())
                            .allowed(dir.depts.iter().map(|d| format!("{} ({})", d.name, d.id))))
                    }
                }
            }
        }
        if out.is_empty() {
            return Err(refuse(Refusal::NoDepartments, "").allowed(
                dir.depts
                    .iter()
                    .map(|d| format!("Dept: {} / {}", d.id, d.group.address)),
            ));
        }
        Ok(out)
    }

    // ----- new requirement -------------------------------------------

    fn new_req(&self, id: ReqId) -> Step {
        self.check_problems()?;
        let dir = self.ctx.dir;
        let f = &self.r.cmd.fields;
        let depts: Vec<String> = self.target_depts()?.iter().map(|d| d.id.clone()).collect();
        if let Some(due) = f.due {
            if due < self.ctx.today {
                return Err(refuse(
                    Refusal::BadDate,
                    format!("{} < {}", due, self.ctx.today),
                ));
            }
        }
        let title = if self.r.cmd.title.trim().is_empty() {
            f.note
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect()
        } else {
            self.r.cmd.title.clone()
        };
        if title.trim().is_empty() {
            return Err(refuse(Refusal::MissingField, "title"));
        }
        let req = Requirement {
            id,
            title,
            requester: self.actor(),
            requester_dept: dir.depts_of(self.sender()).next().map(|d| d.id.clone()),
            depts: depts
                .iter()
                .map(|d| DeptStatus {
                    id: d.clone(),
                    confirmed: false,
                })
                .collect(),
            due: f.due,
            quality: f.quality.clone(),
            priority: f.priority.unwrap_or_default(),
            description: f.note.clone(),
            state: ReqState::Proposed,
            tasks: vec![],
            milestones: vec![],
            created_at: self.ctx.now,
            updated_at: self.ctx.now,
            root_message_id: Some(self.r.message_id.to_string()),
        };
        let item = ItemId::Req(id);
        let events = vec![self.event(
            item,
            Action::NewReq.as_str(),
            format!("{} → {}", req.title, depts.join(",")),
        )];
        let mut ctx = self.req_ctx(&req, Action::NewReq.as_str(), "");
        ctx.transcript = self.transcript(
            Action::NewReq.as_str(),
            &id.to_string(),
            "created",
            ReqState::Proposed.as_str(),
        );
        ctx.allowed = vec![
            self.keywords(Action::Confirm),
            self.keywords(Action::Clarify),
            self.keywords(Action::Reject),
            self.keywords(Action::Cancel),
        ];
        let mut mails = vec![self.mail(
            Kind::Ack,
            vec![req.requester.clone()],
            vec![],
            ctx.clone(),
            false,
        )];
        for d in &req.depts {
            if let Some(g) = self.group(&d.id) {
                let mut c = ctx.clone();
                c.dept = Some(self.dept_ctx(&d.id, false));
                c.transcript.clear();
                mails.push(self.mail(Kind::DeptNew, vec![g], vec![], c, false));
            }
        }
        self.applied(Action::NewReq, Some(req), Some(item), events, mails)
    }

    // ----- notice ------------------------------------------------------

    fn notice(&self) -> Step {
        let dir = self.ctx.dir;
        if !dir.depts.iter().any(|d| d.is_lead(self.sender())) {
            return Err(refuse(Refusal::NotLead, "").allowed(
                dir.depts
                    .iter()
                    .flat_map(|d| d.leads.iter().map(|m| m.to_string())),
            ));
        }
        let f = &self.r.cmd.fields;
        let groups: Vec<Mailbox> = self
            .target_depts()?
            .iter()
            .map(|d| d.group.clone())
            .collect();
        // The lead gets one copy: through a group, else cc'd on the first.
        let reached = dir.reached_by(self.sender(), &groups);
        let sent_to: Vec<&str> = groups.iter().map(|g| g.address.as_str()).collect();
        let transcript = self.transcript(Action::Notice.as_str(), "", &sent_to.join(", "), "-");
        let mut mails = vec![];
        for g in groups {
            let ctx = MailCtx {
                title: self.r.cmd.title.clone(),
                actor: self.actor().to_string(),
                action: Action::Notice.as_str().into(),
                note: f.note.clone(),
                dept: dir
                    .dept_by_group(&g.address)
                    .map(|d| self.dept_ctx(&d.id, false)),
                transcript: transcript.clone(),
                orig_subject: self.r.subject.to_string(),
                workflow_address: self.ctx.workflow.address.clone(),
                ..MailCtx::default()
            };
            let with_actor = mails.is_empty() && !reached;
            mails.push(self.mail(Kind::Notice, vec![g], vec![], ctx, with_actor));
        }
        self.applied(Action::Notice, None, None, vec![], mails)
    }

    // ----- comments ----------------------------------------------------

    fn is_participant(&self, req: &Requirement) -> bool {
        let s = self.sender();
        self.is_requester(req)
            || req
                .requester_dept
                .as_deref()
                .is_some_and(|d| self.ctx.dir.is_member(s, d))
            || !self.sender_targets(req).is_empty()
            || req
                .tasks
                .iter()
                .any(|t| t.owner.address == s || t.assigner.address == s)
    }

    fn comment(&self, id: ItemId, req: &Requirement) -> Step {
        if !self.is_participant(req) {
            return Err(refuse(Refusal::NotParticipant, "").allowed(self.target_groups_desc(req)));
        }
        let mut new = req.clone();
        let before = req.state;
        let mut events =
            vec![self.event(id, Action::Comment.as_str(), self.r.cmd.fields.note.clone())];
        // An update: the requester may change the deadline, quality and
        // priority of an open requirement with the same fields as [REQ].
        let f = &self.r.cmd.fields;
        let updates = f.due.is_some() || f.quality.is_some() || f.priority.is_some();
        if updates && matches!(id, ItemId::Req(_)) && self.is_requester(req) && req.state.is_open()
        {
            self.check_problems()?;
            if let Some(due) = f.due {
                if due < self.ctx.today {
                    return Err(refuse(
                        Refusal::BadDate,
                        format!("{} < {}", due, self.ctx.today),
                    ));
                }
                new.due = Some(due);
            }
            if let Some(q) = &f.quality {
                new.quality = Some(q.clone());
            }
            if let Some(p) = f.priority {
                new.priority = p;
            }
            let mut changed = vec![];
            if new.due != req.due {
                changed.push(format!("due {}", date_s(new.due).unwrap_or_default()));
            }
            if new.quality != req.quality {
                changed.push("quality".to_string());
            }
            if new.priority != req.priority {
                changed.push(format!("priority {}", new.priority.as_str()));
            }
            if !changed.is_empty() {
                events.push(self.event(id, "update", changed.join(", ")));
            }
        }
        // The requester answering a clarification returns it to proposed.
        if req.state == ReqState::Clarifying && self.is_requester(req) {
            new.state = ReqState::Proposed;
            events.push(self.event(ItemId::Req(req.id), "state", ReqState::Proposed.as_str()));
        }
        new.updated_at = self.ctx.now;
        let mut ctx = self.req_ctx(&new, Action::Comment.as_str(), before.as_str());
        let mut to: Vec<Mailbox> = vec![];
        let mut cc: Vec<Mailbox> = vec![];
        match id {
            ItemId::Task(tid) => {
                let Some(t) = req.task(tid) else {
                    return Err(refuse(Refusal::UnknownId, tid.to_string()));
                };
                ctx.id = tid.to_string();
                ctx.title = t.title.clone();
                ctx.task = Some(self.task_ctx(t));
                ctx.state = t.state.as_str().into();
                ctx.state_before = t.state.as_str().into();
                to.push(t.owner.clone());
                to.push(t.assigner.clone());
                cc.push(req.requester.clone());
            }
            ItemId::Req(_) => {
                to.push(req.requester.clone());
                to.extend(req.depts.iter().filter_map(|d| self.group(&d.id)));
            }
        }
        let s = self.sender();
        to.retain(|m| m.address != s);
        cc.retain(|m| m.address != s);
        if to.is_empty() {
            to = std::mem::take(&mut cc);
        }
        ctx.transcript = self.transcript(
            Action::Comment.as_str(),
            &id.to_string(),
            "recorded",
            &ctx.state,
        );
        let mails = if to.is_empty() {
            vec![]
        } else {
            vec![self.mail(Kind::Comment, to, cc, ctx, true)]
        };
        self.applied(Action::Comment, Some(new), Some(id), events, mails)
    }

    // ----- actions on an existing item -------------------------------

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

    fn wrong_state(&self, state: &str, allowed: &[ReqState]) -> Box<Refused> {
        refuse(Refusal::WrongState, state.to_string())
            .allowed(allowed.iter().map(|s| s.as_str().to_string()))
    }

    /// confirm / clarify / reject by a target department.
    fn respond(&self, a: Action, req: &Requirement) -> Step {
        let mine: Vec<String> = self
            .sender_targets(req)
            .iter()
            .map(|d| d.id.clone())
            .collect();
        if mine.is_empty() {
            return Err(refuse(Refusal::NotTargetMember, "").allowed(self.target_groups_desc(req)));
        }
        // A confirmation by departments that all confirmed already.
        let repeat = a == Action::Confirm
            && req
                .depts
                .iter()
                .filter(|d| mine.contains(&d.id))
                .all(|d| d.confirmed);
        let open = [ReqState::Proposed, ReqState::Clarifying];
        if !open.contains(&req.state) {
            if repeat {
                return Err(refuse(Refusal::AlreadyDone, req.state.as_str()));
            }
            return Err(self.wrong_state(req.state.as_str(), &open));
        }
        if repeat {
            return Err(refuse(Refusal::AlreadyDone, mine.join(",")));
        }
        if matches!(a, Action::Clarify | Action::Reject) && self.r.cmd.fields.note.trim().is_empty()
        {
            return Err(refuse(Refusal::MissingField, "note"));
        }
        let before = req.state;
        let mut new = req.clone();
        let item = ItemId::Req(req.id);
        let mut events = vec![self.event(
            item,
            a.as_str(),
            format!("{}: {}", mine.join(","), self.r.cmd.fields.note),
        )];
        let kind = match a {
            Action::Confirm => {
                for d in new.depts.iter_mut().filter(|d| mine.contains(&d.id)) {
                    d.confirmed = true;
                }
                if new.all_confirmed() {
                    new.state = ReqState::Confirmed;
                }
                Kind::Confirmed
            }
            Action::Clarify => {
                new.state = ReqState::Clarifying;
                Kind::Clarify
            }
            _ => {
                new.state = ReqState::Rejected;
                Kind::Rejected
            }
        };
        if new.state != before {
            events.push(self.event(item, "state", new.state.as_str()));
        }
        new.updated_at = self.ctx.now;
        let mut ctx = self.req_ctx(&new, a.as_str(), before.as_str());
        ctx.dept = mine.first().map(|d| self.dept_ctx(d, a == Action::Confirm));
        ctx.transcript = self.transcript(
            a.as_str(),
            &req.id.to_string(),
            a.as_str(),
            new.state.as_str(),
        );
        ctx.allowed = match a {
            Action::Clarify => vec![format!("Re: [{}]", req.id)],
            _ if new.state == ReqState::Confirmed => vec![self.keywords(Action::Assign)],
            _ => vec![],
        };
        let cc: Vec<Mailbox> = req
            .requester_dept
            .as_deref()
            .and_then(|d| self.group(d))
            .into_iter()
            .collect();
        let mails = vec![self.mail(kind, vec![req.requester.clone()], cc, ctx, true)];
        self.applied(a, Some(new), Some(item), events, mails)
    }

    fn assign(&self, req: &Requirement) -> Step {
        let dir = self.ctx.dir;
        let mine: Vec<&DeptStatus> = self.sender_targets(req);
        if mine.is_empty() {
            return Err(refuse(Refusal::NotTargetMember, "").allowed(self.target_groups_desc(req)));
        }
        let Some(dept) = mine.iter().find(|d| d.confirmed) else {
            return Err(refuse(Refusal::DeptNotConfirmed, mine[0].id.clone())
                .allowed([self.keywords(Action::Confirm)]));
        };
        let ok = [
            ReqState::Confirmed,
            ReqState::InProgress,
            ReqState::Delivered,
        ];
        if !ok.contains(&req.state) {
            return Err(self.wrong_state(req.state.as_str(), &ok));
        }
        self.check_problems()?;
        let f = &self.r.cmd.fields;
        if f.tasks.is_empty() {
            return Err(refuse(Refusal::NoTasks, "").allowed([
                "- alice@corp.example: Export API; due 2026-12-10; quality: p95 < 200 ms"
                    .to_string(),
            ]));
        }
        let mut new = req.clone();
        let before = req.state;
        let mut created = vec![];
        for line in &f.tasks {
            let Some(owner) = dir.resolve_person(&line.owner) else {
                return Err(refuse(Refusal::UnknownOwner, line.owner.clone()));
            };
            if let Some(due) = line.due {
                if due < self.ctx.today {
                    return Err(refuse(Refusal::BadDate, format!("{}: {}", line.title, due)));
                }
            }
            let t = Task {
                id: new.next_task_id(),
                owner,
                assigner: self.actor(),
                dept: dept.id.clone(),
                title: line.title.clone(),
                due: line.due.or(req.due),
                quality: line.quality.clone().or_else(|| req.quality.clone()),
                state: TaskState::Assigned,
                progress: 0,
                blocked: false,
                last_report: None,
                created_at: self.ctx.now,
            };
            created.push(t.id);
            new.tasks.push(t);
        }
        new.state = ReqState::InProgress;
        new.updated_at = self.ctx.now;
        let item = ItemId::Req(req.id);
        let mut events = vec![];
        for tid in &created {
            let t = new.task(*tid).expect("just added");
            events.push(self.event(
                ItemId::Task(*tid),
                Action::Assign.as_str(),
                format!("{} → {}", t.title, t.owner.address),
            ));
        }
        if new.state != before {
            events.push(self.event(item, "state", new.state.as_str()));
        }
        let base = self.req_ctx(&new, Action::Assign.as_str(), before.as_str());
        let transcript = self.transcript(
            Action::Assign.as_str(),
            &req.id.to_string(),
            &created
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            new.state.as_str(),
        );
        let mut mails = vec![];
        for tid in &created {
            let t = new.task(*tid).expect("just added");
            let mut ctx = base.clone();
            ctx.id = tid.to_string();
            ctx.title = t.title.clone();
            ctx.task = Some(self.task_ctx(t));
            ctx.state = t.state.as_str().into();
            ctx.transcript = transcript.clone();
            ctx.allowed = vec![
                self.keywords(Action::Accept),
                self.keywords(Action::Decline),
            ];
            let cc: Vec<Mailbox> = self
                .group(&t.dept)
                .into_iter()
                .chain([req.requester.clone()])
                .collect();
            mails.push(self.mail(Kind::Assigned, vec![t.owner.clone()], cc, ctx, true));
        }
        self.applied(Action::Assign, Some(new), Some(item), events, mails)
    }

    fn plan(&self, req: &Requirement) -> Step {
        let dir = self.ctx.dir;
        let s = self.sender();
        let involved: Vec<String> = req
            .depts
            .iter()
            .map(|d| d.id.clone())
            .chain(req.requester_dept.clone())
            .fold(vec![], |mut v, d| {
                if !v.contains(&d) {
                    v.push(d)
                }
                v
            });
        if !involved.iter().any(|d| dir.is_member(s, d)) {
            return Err(refuse(Refusal::NotTargetMember, "").allowed(
                involved
                    .iter()
                    .filter_map(|d| dir.dept(d))
                    .map(|d| format!("{} ({})", d.name, d.id)),
            ));
        }
        if !req.state.is_open() {
            return Err(self.wrong_state(req.state.as_str(), &OPEN));
        }
        self.check_problems()?;
        let f = &self.r.cmd.fields;
        if f.milestones.is_empty() {
            return Err(refuse(Refusal::MissingField, "milestones")
                .allowed(["- 2026-12-01: design review (alice)".to_string()]));
        }
        let mut new = req.clone();
        new.milestones = f.milestones.clone();
        new.updated_at = self.ctx.now;
        let item = ItemId::Req(req.id);
        let events = vec![self.event(
            item,
            Action::Plan.as_str(),
            f.milestones
                .iter()
                .map(|m| format!("{} {}", m.date, m.title))
                .collect::<Vec<_>>()
                .join("; "),
        )];
        let mut ctx = self.req_ctx(&new, Action::Plan.as_str(), req.state.as_str());
        ctx.transcript = self.transcript(
            Action::Plan.as_str(),
            &req.id.to_string(),
            "plan_updated",
            new.state.as_str(),
        );
        let groups: Vec<Mailbox> = involved.iter().filter_map(|d| self.group(d)).collect();
        let reached = dir.reached_by(s, &groups);
        let mut mails = vec![];
        for d in &involved {
            if let Some(g) = self.group(d) {
                let mut c = ctx.clone();
                c.dept = Some(self.dept_ctx(d, false));
                // The actor gets the transcript through their group's copy,
                // else cc'd on the first group's copy.
                let with_actor = mails.is_empty() && !reached;
                mails.push(self.mail(Kind::Plan, vec![g], vec![], c, with_actor));
            }
        }
        self.applied(Action::Plan, Some(new), Some(item), events, mails)
    }

    fn finish(&self, a: Action, req: &Requirement) -> Step {
        if !self.is_requester(req) {
            return Err(refuse(Refusal::NotRequester, "").allowed([req.requester.to_string()]));
        }
        let (ok, target): (&[ReqState], ReqState) = match a {
            Action::Close => (&[ReqState::Delivered], ReqState::Closed),
            _ => (
                &[
                    ReqState::Proposed,
                    ReqState::Clarifying,
                    ReqState::Confirmed,
                    ReqState::InProgress,
                    ReqState::Delivered,
                ],
                ReqState::Cancelled,
            ),
        };
        if req.state == target {
            return Err(refuse(Refusal::AlreadyDone, req.state.as_str()));
        }
        if !ok.contains(&req.state) {
            return Err(self.wrong_state(req.state.as_str(), ok));
        }
        let mut new = req.clone();
        new.state = target;
        new.updated_at = self.ctx.now;
        let item = ItemId::Req(req.id);
        let events = vec![
            self.event(item, a.as_str(), self.r.cmd.fields.note.clone()),
            self.event(item, "state", target.as_str()),
        ];
        let mut ctx = self.req_ctx(&new, a.as_str(), req.state.as_str());
        ctx.transcript = self.transcript(
            a.as_str(),
            &req.id.to_string(),
            target.as_str(),
            target.as_str(),
        );
        let groups: Vec<Mailbox> = req.depts.iter().filter_map(|d| self.group(&d.id)).collect();
        let mut cc = vec![req.requester.clone()];
        // The requesting department's group hears of the end too, as it
        // heard of every answer.
        cc.extend(req.requester_dept.as_deref().and_then(|d| self.group(d)));
        // Owners of tasks still open are told directly too.
        cc.extend(
            req.tasks
                .iter()
                .filter(|t| !matches!(t.state, TaskState::Done | TaskState::Declined))
                .map(|t| t.owner.clone()),
        );
        let kind = if a == Action::Close {
            Kind::Closed
        } else {
            Kind::Cancelled
        };
        let mails = vec![self.mail(kind, groups, cc, ctx, true)];
        self.applied(a, Some(new), Some(item), events, mails)
    }

    fn task_action(&self, a: Action, req: &Requirement, t: &Task) -> Step {
        if !self.is_assignee(t) {
            return Err(refuse(Refusal::NotAssignee, t.owner.address.clone())
                .allowed([t.owner.to_string()]));
        }
        if !req.state.is_open() {
            return Err(self.wrong_state(req.state.as_str(), &OPEN));
        }
        use TaskState::*;
        let allowed: &[TaskState] = match a {
            Action::Accept => &[Assigned],
            Action::Decline => &[Assigned, Accepted],
            Action::Progress | Action::Blocked | Action::Done => &[Assigned, Accepted, InProgress],
            _ => &[],
        };
        if !allowed.contains(&t.state) {
            let already = matches!(
                (a, t.state),
                (Action::Accept, Accepted | InProgress)
                    | (Action::Decline, Declined)
                    | (Action::Done, Done)
            );
            let why = if already {
                Refusal::AlreadyDone
            } else {
                Refusal::WrongState
            };
            return Err(refuse(why, t.state.as_str())
                .allowed(allowed.iter().map(|s| s.as_str().to_string())));
        }
        self.check_problems()?;
        let f = &self.r.cmd.fields;
        if a == Action::Decline && f.note.trim().is_empty() {
            return Err(refuse(Refusal::MissingField, "reason"));
        }
        let mut new = req.clone();
        let before_req = req.state;
        let before = t.state;
        let tid = t.id;
        let item = ItemId::Task(tid);
        let mut events = vec![];
        {
            let nt = new.task_mut(tid).expect("task exists");
            match a {
                Action::Accept => nt.state = Accepted,
                Action::Decline => nt.state = Declined,
                Action::Progress => {
                    nt.state = InProgress;
                    if let Some(p) = f.progress {
                        nt.progress = p.min(100);
                    }
                    nt.blocked = false;
                    nt.last_report = Some(self.ctx.now);
                }
                Action::Blocked => {
                    nt.blocked = true;
                    nt.last_report = Some(self.ctx.now);
                }
                _ => {
                    nt.state = Done;
                    nt.progress = 100;
                    nt.blocked = false;
                    nt.last_report = Some(self.ctx.now);
                }
            }
            let detail = match (a, f.progress) {
                (Action::Progress, Some(p)) => format!("{p}% {}", f.note),
                _ => f.note.clone(),
            };
            events.push(self.event(item, a.as_str(), detail));
            if nt.state != before {
                events.push(self.event(item, "state", nt.state.as_str()));
            }
        }
        if matches!(a, Action::Done | Action::Decline)
            && new.state == ReqState::InProgress
            && new.all_done()
        {
            new.state = ReqState::Delivered;
            events.push(self.event(ItemId::Req(req.id), "state", ReqState::Delivered.as_str()));
        }
        new.updated_at = self.ctx.now;
        let nt = new.task(tid).expect("task exists").clone();
        let mut ctx = self.req_ctx(&new, a.as_str(), before.as_str());
        ctx.id = tid.to_string();
        ctx.title = nt.title.clone();
        ctx.state = nt.state.as_str().into();
        ctx.task = Some(self.task_ctx(&nt));
        ctx.progress = Some(nt.progress);
        ctx.transcript = self.transcript(
            a.as_str(),
            &tid.to_string(),
            if a == Action::Blocked {
                "blocked"
            } else {
                nt.state.as_str()
            },
            nt.state.as_str(),
        );
        let (kind, to, cc) = match a {
            Action::Accept => (Kind::Accepted, vec![nt.assigner.clone()], vec![]),
            Action::Decline => (Kind::Declined, vec![nt.assigner.clone()], vec![]),
            Action::Progress => (
                Kind::Progress,
                vec![nt.assigner.clone()],
                vec![req.requester.clone()],
            ),
            Action::Blocked => {
                let mut cc = vec![req.requester.clone()];
                cc.extend(
                    self.ctx
                        .dir
                        .depts_of(&nt.owner.address)
                        .flat_map(|d| d.leads.iter().cloned()),
                );
                (Kind::Blocked, vec![nt.assigner.clone()], cc)
            }
            _ => (
                Kind::Done,
                vec![nt.assigner.clone()],
                vec![req.requester.clone()],
            ),
        };
        let mut mails = vec![self.mail(kind, to, cc, ctx, true)];
        if new.state == ReqState::Delivered && before_req != ReqState::Delivered {
            let mut c = self.req_ctx(&new, a.as_str(), before_req.as_str());
            c.allowed = vec![self.keywords(Action::Close)];
            let cc: Vec<Mailbox> = new
                .requester_dept
                .as_deref()
                .and_then(|d| self.group(d))
                .into_iter()
                .collect();
            mails.push(self.mail(
                Kind::VerifyRequest,
                vec![new.requester.clone()],
                cc,
                c,
                false,
            ));
        }
        self.applied(a, Some(new), Some(item), events, mails)
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
#[path = "decide_tests.rs"]
mod tests;
