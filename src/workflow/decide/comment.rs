//! A mail with an identifier and no keyword: a comment or update from a
//! participant, and the requester's answer to a clarification.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    pub(super) fn is_participant(&self, req: &Requirement) -> bool {
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

    pub(super) fn comment(&self, id: ItemId, req: &Requirement) -> Step {
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
}
