//! How one outgoing mail enters the outbox, for replies and the clock
//! alike.

use super::ids::new_message_id;
use crate::model::ItemId;
use crate::model::Mailbox;
use crate::store::{StoreError, Tx};
use chrono::{DateTime, Utc};

/// How one outgoing mail is queued, for replies and the clock alike: the
/// per-recipient daily cap, a fresh Message-ID naming its item (mail about
/// no item, such as a digest, names none: a reply to it gets the help
/// text), the outbox row and the robot messages of its event, all in the
/// caller's transaction.
pub(super) struct OutboxWriter<'a> {
    pub(super) day: &'a str,
    pub(super) cap: u32,
    pub(super) domain: &'a str,
    pub(super) routes: &'a crate::im::route::Routes,
    pub(super) now: DateTime<Utc>,
}

impl OutboxWriter<'_> {
    /// Returns the new mail's Message-ID.
    pub(super) fn mail(
        &self,
        tx: &Tx,
        seq: &mut u64,
        mut out: crate::model::Outgoing,
        in_reply_to: Option<&str>,
        refs: &[String],
    ) -> Result<String, StoreError> {
        let (day, cap, now) = (self.day, self.cap, self.now);
        // The per-recipient daily cap stops any loop that slipped through
        // (it counts every automated mail meant for the address today).
        let mut dropped = vec![];
        for list in [&mut out.to, &mut out.cc] {
            let mut keep = vec![];
            for rcpt in list.drain(..) {
                if tx.bump_rcpt(&rcpt.address, day)? > cap {
                    dropped.push(rcpt.address.clone());
                } else {
                    keep.push(rcpt);
                }
            }
            *list = keep;
        }
        if !dropped.is_empty() {
            tracing::warn!(
                ?dropped,
                cap,
                kind = out.kind.name(),
                "daily cap reached; recipients dropped"
            );
        }
        let suppressed = out.to.is_empty() && out.cc.is_empty();
        if suppressed {
            // Keep a record of what would have gone out, to whom.
            out.to = dropped.iter().map(|a| Mailbox::new(None, a)).collect();
        }
        // Our Message-IDs name their item (see `new_message_id`): a digest's
        // names none, so a bare reply to it finds no item and gets help.
        let out_item = out.item.as_deref().and_then(ItemId::parse);
        let mid = new_message_id(seq, self.domain, now, out_item);
        tx.queue_mail(&mid, &out, in_reply_to, refs, now, suppressed)?;
        // The robots' messages of the event go with its mail, in the same
        // transaction; a mail the cap held back (a loop) takes them along.
        if !suppressed {
            for route in self.routes.route(&out) {
                tx.queue_im(&mid, &route, &out, now)?;
            }
        }
        Ok(mid)
    }
}
