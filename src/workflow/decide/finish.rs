//! `[CLOSE]` / 【验收】 (the requester verifies the delivery) and
//! `[CANCEL]` / 【取消】.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    pub(super) fn finish(&self, a: Action, req: &Requirement) -> Step {
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
}
