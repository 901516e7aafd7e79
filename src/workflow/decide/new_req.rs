//! `[REQ]` / 【需求】: a new requirement, its target departments from the
//! `Dept:` field or the department groups among the recipients.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    /// The departments a new requirement or a notice is for: the `Dept:`
    /// field (ids, names, aliases), else the department groups among To/Cc;
    /// each once, in the order given. Refused when none or an unknown one.
    pub(super) fn target_depts(
        &self,
    ) -> Result<Vec<&'b crate::directory::Department>, Box<Refused>> {
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

    pub(super) fn new_req(&self, id: ReqId) -> Step {
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
}
