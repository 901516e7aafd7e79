//! Look-ups by mail (docs/protocol.md#look-ups-by-mail): `[SHOW]` an
//! item, its `[FILES]`, `[MINE]` and `[HELP]`. A look-up answers its
//! sender and changes nothing; one about an item is recorded as a
//! `lookup` event on it. Only the item's participants may look at it.

use super::*;

/// The kept files of an item, each once (the same bytes under the same
/// name sent twice are one file), oldest first.
fn kept_files(look: &LookData, id: ItemId) -> Vec<FileRef> {
    let mut seen = std::collections::HashSet::new();
    look.files
        .iter()
        .filter(|(item, f)| f.is_kept() && (matches!(id, ItemId::Req(_)) || *item == id))
        .filter(|(_, f)| seen.insert((f.sha256.clone(), f.name.clone())))
        .map(|(_, f)| f.clone())
        .collect()
}

/// `[FILES]` in parts that each fit in one mail, each file in the first
/// part with room for it (the order kept otherwise); a file larger than a
/// mail may carry alone goes in none.
fn parts(files: Vec<FileRef>, max: u64) -> (Vec<Vec<FileRef>>, Vec<FileRef>) {
    let mut parts: Vec<(u64, Vec<FileRef>)> = vec![];
    let mut too_large = vec![];
    for f in files {
        if f.size > max {
            too_large.push(f);
            continue;
        }
        match parts.iter_mut().find(|(total, _)| *total + f.size <= max) {
            Some((total, v)) => {
                *total += f.size;
                v.push(f);
            }
            None => parts.push((f.size, vec![f])),
        }
    }
    (parts.into_iter().map(|(_, v)| v).collect(), too_large)
}

/// An event's detail on one line, at most 200 characters: a history is
/// a list, not the mails themselves.
fn one_line(s: &str) -> String {
    let mut out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((i, _)) = out.char_indices().nth(200) {
        out.truncate(i);
        out.push('…');
    }
    out
}

impl<'a, 'b> Decider<'a, 'b> {
    /// Who may look at a requirement: its requester (or their lead),
    /// members of its departments, the owners and assigners of its tasks.
    fn may_look(&self, req: &Requirement) -> bool {
        self.is_participant(req)
            || req
                .tasks
                .iter()
                .any(|t| self.ctx.dir.leads_person(self.sender(), &t.owner.address))
    }

    fn looked(
        &self,
        a: Action,
        item: Option<ItemId>,
        events: Vec<Event>,
        mails: Vec<Outgoing>,
    ) -> Outcome {
        Outcome {
            verdict: Verdict::Lookup(a),
            req: None,
            events,
            mails,
            item,
        }
    }

    /// The answer's context: the requirement, or the task when the id is one.
    fn look_ctx(&self, a: Action, id: ItemId, req: &Requirement) -> MailCtx {
        let mut c = self.req_ctx(req, a.as_str(), req.state.as_str());
        if let ItemId::Task(tid) = id {
            if let Some(t) = req.task(tid) {
                c.id = tid.to_string();
                c.task = Some(self.task_ctx(t));
            }
        }
        c.note.clear();
        c
    }

    pub(super) fn look(&self, a: Action, id: ItemId, req: &Requirement) -> Step {
        if !self.may_look(req) {
            let mut who = vec![req.requester.to_string()];
            who.extend(self.target_groups_desc(req));
            return Err(refuse(Refusal::NotParticipant, id.to_string()).allowed(who));
        }
        let Some(look) = self.ctx.look else {
            return Err(refuse(Refusal::NoAction, ""));
        };
        let files = kept_files(look, id);
        let event = self.event(id, "lookup", a.as_str());
        let mut ctx = self.look_ctx(a, id, req);
        let mails = if a == Action::Show {
            ctx.history = look
                .events
                .iter()
                .filter(|e| e.kind != "lookup")
                .filter(|e| matches!(id, ItemId::Req(_)) || e.item == id)
                .map(|e| HistoryCtx {
                    at: e
                        .at
                        .with_timezone(&look.tz)
                        .format("%Y-%m-%d %H:%M")
                        .to_string(),
                    item: e.item.to_string(),
                    kind: e.kind.clone(),
                    actor: self.ctx.dir.person(&e.actor).to_string(),
                    detail: one_line(&e.detail),
                })
                .collect();
            // A long history: the latest events, and how many came before.
            let more = ctx.history.len().saturating_sub(HISTORY_MAX);
            ctx.history.drain(..more);
            ctx.history_more = more;
            let mut mail = self.mail(Kind::Show, vec![self.actor()], vec![], ctx, false);
            if !files.is_empty() {
                mail.ctx.files = files.iter().map(FileCtx::of).collect();
                if files.iter().map(|f| f.size).sum::<u64>() <= look.attach_max {
                    mail.ctx.files_attached = true;
                    mail.attachments = files;
                } else {
                    mail.ctx.files_fetch = true;
                }
            }
            vec![mail]
        } else {
            let (parts, too_large) = parts(files, look.attach_max);
            let n = parts.len().max(1);
            let mut parts = parts.into_iter();
            (1..=n)
                .map(|i| {
                    let mut c = ctx.clone();
                    if n > 1 {
                        (c.part, c.parts) = (i as u32, n as u32);
                    }
                    if i == 1 {
                        c.files_too_large = too_large.iter().map(FileCtx::of).collect();
                    }
                    let part = parts.next().unwrap_or_default();
                    c.files = part.iter().map(FileCtx::of).collect();
                    c.files_attached = !part.is_empty();
                    let mut mail = self.mail(Kind::Files, vec![self.actor()], vec![], c, false);
                    mail.attachments = part;
                    mail
                })
                .collect()
        };
        Ok(self.looked(a, Some(id), vec![event], mails))
    }

    /// `[MINE]`: what waits on the sender, as the shell computed it.
    pub(super) fn mine(&self) -> Outcome {
        let ctx = MailCtx {
            action: Action::Mine.as_str().to_string(),
            actor: self.actor().to_string(),
            orig_subject: self.r.subject.to_string(),
            workflow_address: self.ctx.workflow.address.clone(),
            digest: self.ctx.look.and_then(|l| l.mine.clone()),
            ..MailCtx::default()
        };
        let mail = self.mail(Kind::Mine, vec![self.actor()], vec![], ctx, false);
        self.looked(Action::Mine, None, vec![], vec![mail])
    }

    /// `[HELP]`: the protocol in short, in the sender's language.
    pub(super) fn guide(&self) -> Outcome {
        let ctx = MailCtx {
            action: Action::Help.as_str().to_string(),
            actor: self.actor().to_string(),
            orig_subject: self.r.subject.to_string(),
            workflow_address: self.ctx.workflow.address.clone(),
            ..MailCtx::default()
        };
        let mail = self.mail(Kind::Help, vec![self.actor()], vec![], ctx, false);
        self.looked(Action::Help, None, vec![], vec![mail])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, size: u64) -> FileRef {
        FileRef {
            name: name.into(),
            content_type: "application/pdf".into(),
            size,
            sha256: Some(format!("{name:0>64}")),
            note: None,
        }
    }

    #[test]
    fn files_go_in_parts_that_each_fit_a_mail() {
        let (p, big) = parts(
            vec![f("a", 6), f("b", 5), f("c", 4), f("d", 11), f("e", 1)],
            10,
        );
        let names: Vec<Vec<&str>> = p
            .iter()
            .map(|v| v.iter().map(|f| f.name.as_str()).collect())
            .collect();
        assert_eq!(names, vec![vec!["a", "c"], vec!["b", "e"]]);
        assert_eq!(
            big.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["d"]
        );
    }

    #[test]
    fn history_details_are_one_short_line() {
        assert_eq!(one_line("确认，见附件。\n\n张三\n"), "确认，见附件。 张三");
        let long = "字".repeat(300);
        assert_eq!(one_line(&long).chars().count(), 201);
    }
}
