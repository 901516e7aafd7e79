//! `[ASSIGN]` / 【分配】: a confirmed department assigns tasks, one per
//! line, each with an owner, a due date and a quality requirement.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    pub(super) fn assign(&self, req: &Requirement) -> Step {
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
}
