//! `[PLAN]` / 【计划】: the collaboration plan's milestones, shared with
//! every involved department.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    pub(super) fn plan(&self, req: &Requirement) -> Step {
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
}
