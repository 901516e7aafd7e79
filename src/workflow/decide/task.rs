//! The assignee's actions on a task: `[ACCEPT]`, `[DECLINE]`,
//! `[PROGRESS]`, `[BLOCKED]`, `[DONE]` (接收、退回、进度、问题、完成).

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    pub(super) fn task_action(&self, a: Action, req: &Requirement, t: &Task) -> Step {
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
            // A note that starts with its percentage (the classifier keeps
            // it as written) is not given the percentage twice.
            let detail = match (a, f.progress) {
                (Action::Progress, Some(p))
                    if !f.note.trim_start().starts_with(&format!("{p}%")) =>
                {
                    format!("{p}% {}", f.note)
                }
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
