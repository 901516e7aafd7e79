//! What the outcome's mails carry: the contexts of departments, tasks and
//! the requirement, the transcript (what was understood, the result, the
//! new state), and the applied outcome that holds them.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    pub(super) fn dept_ctx(&self, id: &str, confirmed: bool) -> DeptCtx {
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

    pub(super) fn task_ctx(&self, t: &Task) -> TaskCtx {
        TaskCtx {
            id: t.id.to_string(),
            owner: t.owner.to_string(),
            title: t.title.clone(),
            state: t.state.as_str().to_string(),
            progress: t.progress,
            due: date_s(t.due),
            quality: t.quality.clone(),
            blocked: t.blocked,
            dept: t.dept.clone(),
        }
    }

    /// The common context for mails about a requirement.
    pub(super) fn req_ctx(&self, req: &Requirement, action: &str, state_before: &str) -> MailCtx {
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
    pub(super) fn transcript(
        &self,
        action: &str,
        id: &str,
        result: &str,
        state: &str,
    ) -> Vec<TranscriptLine> {
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
    pub(super) fn mail(
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
            attachments: vec![],
        }
    }

    pub(super) fn applied(
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
}
