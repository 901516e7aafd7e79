//! `[CONFIRM]`, `[CLARIFY]`, `[REJECT]` / 【确认】【疑问】【拒绝】: a
//! target department's answer to a requirement.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    /// confirm / clarify / reject by a target department.
    pub(super) fn respond(&self, a: Action, req: &Requirement) -> Step {
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
}
