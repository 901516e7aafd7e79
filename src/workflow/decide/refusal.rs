//! Refusals (exactly why, the current state, what would be accepted, a
//! "did you mean"), and the help reply to mail that names no item.

use super::*;

impl<'a, 'b> Decider<'a, 'b> {
    pub(super) fn refusal(&self, r: Refused) -> Outcome {
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

    pub(super) fn help(&self) -> Outcome {
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

    pub(super) fn check_problems(&self) -> Result<(), Box<Refused>> {
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

    pub(super) fn keywords(&self, a: Action) -> String {
        let v = (self.ctx.keywords_for)(a);
        v.iter()
            .map(|k| format!("[{k}]"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn wrong_state(&self, state: &str, allowed: &[ReqState]) -> Box<Refused> {
        refuse(Refusal::WrongState, state.to_string())
            .allowed(allowed.iter().map(|s| s.as_str().to_string()))
    }
}
