//! `[NOTICE]` / 【通知】: a department lead's notice to the groups.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    pub(super) fn notice(&self) -> Step {
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
}
