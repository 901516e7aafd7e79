//! One message inside a batch's transaction: dedupe, watermark, the
//! never-answer screen, the directory and authentication, classify, find
//! the item, decide, then write state, events and outgoing mail.

use super::ids::{item_of_own_id, raw_key};
use super::queue::OutboxWriter;
#[cfg(test)]
use super::read::injected_panic;
use super::read::Parsed;
use super::Report;
use crate::config::Config;
use crate::directory::Directory;
use crate::mail::classify::{classify, has_reply_prefix, Keywords};
use crate::mail::filter::{auth_passes, screen, SetAside};
use crate::mail::Inbound;
use crate::model::{Action, ItemId};
use crate::model::{FileCtx, FileRef, Kind, Mailbox, Outgoing};
use crate::source::{Disposition, RawMail};
use crate::store::{FileStore, StoreError, Tx};
use crate::workflow::decide::{decide, Ctx, LookData, Outcome, Request, Target, Verdict};
use chrono::{DateTime, NaiveDate, Utc};

/// Borrowed pieces of the engine that one message's processing needs.
pub(super) struct Acting<'a> {
    /// The local date of the batch's `now` (what dates in mail mean) and
    /// the same as text (what the daily cap counts in): once per batch.
    pub(super) today: NaiveDate,
    pub(super) day: &'a str,
    pub(super) cfg: &'a Config,
    pub(super) dir: &'a Directory,
    pub(super) kw: &'a Keywords,
    pub(super) own: &'a Mailbox,
    pub(super) domain: &'a str,
    pub(super) routes: &'a crate::im::route::Routes,
    pub(super) files: &'a FileStore,
    pub(super) seq: &'a mut u64,
}

/// The item a reply belongs to through its thread headers: each id in
/// order (In-Reply-To, then References newest first), ours by its form,
/// others through the thread index.
fn thread_lookup(tx: &Tx, ids: &[&str], domain: &str) -> Result<Option<ItemId>, StoreError> {
    for id in ids {
        if let Some(i) = item_of_own_id(id, domain) {
            return Ok(Some(i));
        }
        if let Some(i) = tx.thread_item(&[id])? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn set_aside_class(s: &SetAside) -> (&'static str, &str) {
    match s {
        SetAside::AutoReply(d) => ("auto_reply", d),
        SetAside::Bounce(d) => ("bounce", d),
        SetAside::MailingList(d) => ("mailing_list", d),
        SetAside::OwnMail(d) => ("own_mail", d),
        SetAside::UnknownSender(d) => ("unknown_sender", d),
        SetAside::NotAuthenticated(d) => ("not_authenticated", d),
        SetAside::BeforeWatermark(d) => ("before_watermark", d),
        SetAside::Unreadable(d) => ("unreadable", d),
        SetAside::Internal(d) => ("internal_error", d),
    }
}

impl Acting<'_> {
    fn report(
        &self,
        m: &RawMail,
        key: &str,
        verdict: String,
        item: Option<ItemId>,
        d: Disposition,
    ) -> Report {
        Report {
            handle: m.handle.clone(),
            key: key.to_string(),
            verdict,
            item: item.map(|i| i.to_string()),
            disposition: d,
            micros: 0,
        }
    }

    pub(super) fn set_aside(
        &self,
        tx: &mut Tx,
        m: &RawMail,
        key: &str,
        inb: Option<&Inbound>,
        why: SetAside,
        now: DateTime<Utc>,
    ) -> Result<Report, StoreError> {
        let (class, detail) = set_aside_class(&why);
        // Unparsed (too large, unreadable, condemned): what the raw header
        // block says, undecoded for a message the daemon died with.
        let glanced: (String, String);
        let (sender, subject) = match inb {
            Some(i) => (
                i.from.as_ref().map(|f| f.address.as_str()).unwrap_or(""),
                i.subject.as_str(),
            ),
            None => {
                let decode = !matches!(why, SetAside::Internal(_));
                glanced = crate::mail::parse::glance(&m.raw, decode);
                (glanced.0.as_str(), glanced.1.as_str())
            }
        };
        tx.set_aside(key, class, detail, sender, subject, &m.raw, now)?;
        let verdict = format!("set_aside:{class}");
        tx.record_message(
            key,
            inb.and_then(|i| i.message_id.as_deref()),
            sender,
            subject,
            &verdict,
            None,
            now,
        )?;
        tracing::warn!(key, class, detail, sender, "set aside");
        Ok(self.report(m, key, verdict, None, Disposition::Rejected))
    }

    pub(super) fn act_on(
        &mut self,
        tx: &mut Tx,
        m: &RawMail,
        p: Parsed,
        now: DateTime<Utc>,
        watermark: Option<DateTime<Utc>>,
        released: bool,
    ) -> Result<Report, StoreError> {
        #[cfg(test)]
        injected_panic("act", &m.raw);
        let Parsed {
            inbound: parsed,
            command,
            condemned,
            ..
        } = p;
        let inb = match parsed {
            Ok(i) => i,
            Err(e) => {
                let key = raw_key(&m.raw);
                if !released && tx.seen(&key)?.is_some() {
                    return Ok(self.report(
                        m,
                        &key,
                        "duplicate".into(),
                        None,
                        Disposition::Rejected,
                    ));
                }
                let why = if condemned {
                    SetAside::Internal(e)
                } else {
                    SetAside::Unreadable(e)
                };
                return self.set_aside(tx, m, &key, None, why, now);
            }
        };
        let key = inb.dedupe_key.clone();
        if !released {
            if let Some(v) = tx.seen(&key)? {
                let d = if v.starts_with("set_aside") {
                    Disposition::Rejected
                } else {
                    Disposition::Processed
                };
                return Ok(self.report(m, &key, "duplicate".into(), None, d));
            }
            if let (Some(w), Some(r)) = (watermark, m.received) {
                if r < w {
                    return Ok(self.report(
                        m,
                        &key,
                        "before_watermark".into(),
                        None,
                        Disposition::Leave,
                    ));
                }
            }
            if let Some(why) = screen(&inb, &self.own.address) {
                if let (SetAside::Bounce(_), Some(orig)) = (&why, &inb.bounced_message_id) {
                    if tx.record_bounce(orig, &inb.subject)? {
                        tracing::warn!(original = %orig, "bounce of our mail recorded");
                    }
                }
                return self.set_aside(tx, m, &key, Some(&inb), why, now);
            }
        }
        let Some(sender) = inb.from.clone() else {
            return self.set_aside(
                tx,
                m,
                &key,
                Some(&inb),
                SetAside::Unreadable("no From address".into()),
                now,
            );
        };
        if !released {
            if !self.dir.is_known(&sender.address) {
                return self.set_aside(
                    tx,
                    m,
                    &key,
                    Some(&inb),
                    SetAside::UnknownSender(sender.address.clone()),
                    now,
                );
            }
            if let Some(server) = &self.cfg.auth.trusted_server {
                let domain = sender.address.split_once('@').map(|(_, d)| d).unwrap_or("");
                if !auth_passes(&inb, server, domain) {
                    return self.set_aside(
                        tx,
                        m,
                        &key,
                        Some(&inb),
                        SetAside::NotAuthenticated(format!(
                            "no dkim/spf pass from {server} for {domain}"
                        )),
                        now,
                    );
                }
            }
        }
        let today = self.today;
        let mut cmd = match command {
            Some((day, cmd)) if day == today => cmd,
            _ => classify(&inb.subject, &inb.body, self.kw, today),
        };

        // A reply-all to someone's [REQ] mail ("Re: [REQ] …") that threads
        // to a known requirement is a comment on it, not a second one.
        if cmd.action == Some(Action::NewReq)
            && cmd.target.is_none()
            && has_reply_prefix(&inb.subject)
        {
            if let Some(id) = thread_lookup(tx, &inb.thread_ids(), self.domain)? {
                cmd.action = Some(Action::Comment);
                cmd.target = Some(id);
            }
        }
        // Find the item: the subject's identifier, else the thread headers.
        let mut found = cmd.target;
        if found.is_none() && !cmd.action.is_some_and(|a| a.about_no_item()) {
            found = thread_lookup(tx, &inb.thread_ids(), self.domain)?;
            if found.is_some() && cmd.action.is_none() && cmd.unknown_keyword.is_none() {
                cmd.action = Some(Action::Comment);
            }
        }
        let loaded = match found {
            Some(id) => tx.load_req(id.req())?,
            None => None,
        };
        let new_id;
        let target = if cmd.action == Some(Action::NewReq) {
            new_id = tx.next_req_id()?;
            Target::New(new_id)
        } else {
            match (found, &loaded) {
                (None, _) => Target::None,
                (Some(id), Some(r)) => match id {
                    ItemId::Task(t) if r.task(t).is_none() => Target::Unknown(id),
                    _ => Target::Existing(id, r),
                },
                (Some(id), None) => Target::Unknown(id),
            }
        };
        let recipients: Vec<Mailbox> = inb.to.iter().chain(inb.cc.iter()).cloned().collect();
        let message_id = inb.message_id.clone().unwrap_or_else(|| key.clone());
        let kw = self.kw;
        let words = move |a: Action| kw.words_for(a);
        let look = match cmd.action {
            Some(a) if a.is_lookup() => Some(self.look_data(tx, a, &loaded, &sender, now)?),
            _ => None,
        };
        let ctx = Ctx {
            dir: self.dir,
            workflow: self.own,
            now,
            today,
            keywords_for: &words,
            look: look.as_ref(),
        };
        let req = Request {
            cmd: &cmd,
            sender: &sender,
            recipients: &recipients,
            message_id: &message_id,
            subject: &inb.subject,
        };
        let outcome = decide(&ctx, &req, target);
        let verdict = match &outcome.verdict {
            Verdict::Applied(a) => format!("applied:{}", a.as_str()),
            Verdict::Refused(r) => format!("refused:{}", r.code()),
            Verdict::Help => "help".into(),
            Verdict::Lookup(a) => format!("lookup:{}", a.as_str()),
        };
        let item = outcome.item;
        // The files of a mail that is acted on, kept (and synced) before
        // the transaction that records them commits.
        let files = match (&outcome.verdict, item) {
            (Verdict::Applied(a), Some(it)) if !inb.attachments.is_empty() => {
                let files = self.keep_files(&inb, &m.raw)?;
                tx.record_files(&message_id, it, a.as_str(), &files, now)?;
                files
            }
            _ => vec![],
        };
        self.commit(tx, &inb, &message_id, outcome, loaded.as_ref(), &files, now)?;
        tx.record_message(
            &key,
            inb.message_id.as_deref(),
            &sender.address,
            &inb.subject,
            &verdict,
            item,
            now,
        )?;
        Ok(self.report(m, &key, verdict, item, Disposition::Processed))
    }

    /// What a look-up shows besides the requirement: its history and files
    /// (`[SHOW]`, `[FILES]`), or what waits on the sender (`[MINE]`).
    fn look_data(
        &self,
        tx: &Tx,
        a: Action,
        req: &Option<crate::model::Requirement>,
        sender: &Mailbox,
        now: DateTime<Utc>,
    ) -> Result<LookData, StoreError> {
        let mut look = LookData {
            events: vec![],
            files: vec![],
            mine: None,
            attach_max: self.cfg.files.attach_max_bytes,
            tz: self.cfg.tz(),
        };
        match (a, req) {
            (Action::Show | Action::Files, Some(r)) => {
                if a == Action::Show {
                    look.events = tx.events(r.id)?;
                }
                look.files = tx
                    .files(r.id)?
                    .into_iter()
                    .map(|f| (f.item, f.file))
                    .collect();
            }
            (Action::Mine, _) => {
                // The clock's settings were validated at start and reload.
                if let Ok(s) = self.cfg.clock_settings() {
                    let depts: Vec<&str> = self
                        .dir
                        .depts_of(&sender.address)
                        .map(|d| d.id.as_str())
                        .collect();
                    let reqs = tx.open_reqs()?;
                    look.mine = Some(crate::schedule::digest::mine(
                        &reqs,
                        &sender.address,
                        &depts,
                        &s,
                        now,
                    ));
                }
            }
            _ => {}
        }
        Ok(look)
    }

    /// Keeps the attachments of a mail within `[files]`' limits; a file
    /// over a limit is listed with why it was not kept.
    fn keep_files(&self, inb: &Inbound, raw: &[u8]) -> Result<Vec<FileRef>, StoreError> {
        let limits = &self.cfg.files;
        let mut total = 0u64;
        let mut out = Vec::with_capacity(inb.attachments.len());
        for a in &inb.attachments {
            let bytes = a.bytes(raw);
            let size = bytes.len() as u64;
            let note = if size > limits.max_file_bytes {
                Some("too_large")
            } else if total + size > limits.max_mail_bytes {
                Some("mail_too_large")
            } else {
                None
            };
            let sha256 = match note {
                Some(_) => None,
                None => {
                    total += size;
                    Some(self.files.put(&bytes).map_err(|err| StoreError::File {
                        path: self.files.dir().display().to_string(),
                        err,
                    })?)
                }
            };
            if let Some(n) = note {
                tracing::warn!(name = %a.name, size, note = n, "attachment not kept");
            }
            out.push(FileRef {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size,
                sha256,
                note: note.map(str::to_string),
            });
        }
        Ok(out)
    }

    /// What an outgoing mail carries of the files: the mail's own kept
    /// files go with every notification it causes (listed only in the
    /// acknowledgement to its sender), the verify request carries the
    /// deliverables of the done tasks, and files not kept are listed to
    /// the sender. Attached up to `[files] attach_max_bytes` in total;
    /// above, listed with how to fetch them.
    fn with_files(
        &self,
        tx: &Tx,
        out: &mut Outgoing,
        files: &[FileRef],
        sender: &str,
    ) -> Result<(), StoreError> {
        let to_sender = out.to.iter().any(|m| m.address == sender);
        let carried: Vec<FileRef> = match out.kind {
            Kind::VerifyRequest => {
                let req = crate::model::ItemId::parse(&out.ctx.req_id);
                let mut v = match req {
                    Some(id) => tx.deliverables(id.req())?,
                    None => vec![],
                };
                let mut seen = std::collections::HashSet::new();
                v.retain(|f| seen.insert((f.sha256.clone(), f.name.clone())));
                v
            }
            Kind::Refusal | Kind::Help | Kind::NotKept => vec![],
            _ => files.iter().filter(|f| f.is_kept()).cloned().collect(),
        };
        if to_sender || out.kind == Kind::NotKept {
            out.ctx.files_not_kept = files
                .iter()
                .filter(|f| !f.is_kept())
                .map(FileCtx::of)
                .collect();
        }
        if carried.is_empty() {
            return Ok(());
        }
        out.ctx.files = carried.iter().map(FileCtx::of).collect();
        if out.kind == Kind::Ack {
            // The requester's own files: a receipt, not a copy.
            return Ok(());
        }
        let total: u64 = carried.iter().map(|f| f.size).sum();
        if total <= self.cfg.files.attach_max_bytes {
            out.ctx.files_attached = true;
            out.attachments = carried;
        } else {
            out.ctx.files_fetch = true;
        }
        Ok(())
    }

    /// The files of an acted-on mail into the mails it causes (see
    /// [`Acting::with_files`]); a sender none of them answers hears of the
    /// files that were not kept in a mail of its own.
    fn files_into_mails(
        &self,
        tx: &Tx,
        inb: &Inbound,
        mails: &mut Vec<Outgoing>,
        files: &[FileRef],
    ) -> Result<(), StoreError> {
        let sender = inb.from.as_ref().map(|f| f.address.as_str()).unwrap_or("");
        if files.iter().any(|f| !f.is_kept())
            && !mails
                .iter()
                .any(|m| m.to.iter().any(|t| t.address == sender))
        {
            let note = mails.first().map(|first| {
                let ctx = crate::model::MailCtx {
                    id: first.ctx.id.clone(),
                    req_id: first.ctx.req_id.clone(),
                    title: first.ctx.title.clone(),
                    action: first.ctx.action.clone(),
                    orig_subject: inb.subject.clone(),
                    workflow_address: self.own.address.clone(),
                    transcript: first.ctx.transcript.clone(),
                    ..Default::default()
                };
                Outgoing {
                    kind: Kind::NotKept,
                    to: vec![self.dir.person(sender)],
                    cc: vec![],
                    item: first.item.clone(),
                    locale: self.dir.locale_of(sender).to_string(),
                    ctx,
                    attachments: vec![],
                }
            });
            mails.extend(note);
        }
        for out in mails.iter_mut() {
            if !files.is_empty() || out.kind == Kind::VerifyRequest {
                self.with_files(tx, out, files, sender)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        tx: &mut Tx,
        inb: &Inbound,
        message_id: &str,
        mut o: Outcome,
        old: Option<&crate::model::Requirement>,
        files: &[FileRef],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.files_into_mails(tx, inb, &mut o.mails, files)?;
        let kept_root = o
            .req
            .as_ref()
            .or(old)
            .and_then(|r| r.root_message_id.clone());
        if let Some(r) = o.req {
            tx.save_req(r)?;
        }
        tx.add_events(o.events)?;
        let root = match (kept_root, o.item) {
            (Some(r), _) => Some(r),
            // Requirements stored before the root was kept on them.
            (None, Some(i)) => tx.thread_root(i.req())?,
            (None, None) => None,
        };
        let cap = self.cfg.limits.daily_cap_per_recipient;
        for out in o.mails {
            let mut refs: Vec<String> = vec![];
            if let Some(r) = &root {
                refs.push(r.clone());
            }
            for r in inb.references.iter().rev().take(8).rev() {
                if !refs.contains(r) {
                    refs.push(r.clone());
                }
            }
            if !refs.iter().any(|r| r == message_id) {
                refs.push(message_id.to_string());
            }
            let q = OutboxWriter {
                day: self.day,
                cap,
                domain: self.domain,
                routes: self.routes,
                now,
            };
            q.mail(tx, self.seq, out, Some(message_id), &refs)?;
        }
        Ok(())
    }
}
