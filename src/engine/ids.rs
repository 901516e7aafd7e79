//! Message-IDs: ours name the item they are about, so that a reply finds
//! its item without a look-up; a department's digests share one thread id.

use crate::model::ItemId;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The id a department's digests thread on: `crossdesk.digest.rd@corp.example`
/// (a department id that is not plain ASCII is hex-encoded).
pub fn digest_thread_id(dept: &str, domain: &str) -> String {
    let mut d = String::with_capacity(dept.len());
    for b in dept.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            d.push(b as char);
        } else {
            d.push_str(&format!("={b:02x}"));
        }
    }
    format!("crossdesk.digest.{d}@{domain}")
}

/// A fresh, unique Message-ID for an outgoing mail (without brackets):
/// time, a per-process sequence and randomness, and the item it is about
/// after a `+`, at the daemon's domain. A reply's In-Reply-To then names
/// its item without a lookup (and without a row per mail sent).
pub(super) fn new_message_id(
    seq: &mut u64,
    domain: &str,
    now: DateTime<Utc>,
    item: Option<ItemId>,
) -> String {
    *seq += 1;
    let item = item.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
    format!(
        "cd.{}.{}.{:08x}+{item}@{domain}",
        now.timestamp_millis(),
        seq,
        rand::random::<u32>(),
    )
}

/// The item one of our own Message-IDs names (see `new_message_id`).
pub fn item_of_own_id(id: &str, domain: &str) -> Option<ItemId> {
    let (local, dom) = id.rsplit_once('@')?;
    if !dom.eq_ignore_ascii_case(domain) || !local.starts_with("cd.") {
        return None;
    }
    ItemId::parse(local.rsplit_once('+')?.1)
}

/// The dedupe key of a message that cannot be read (or has no Message-ID
/// to key it by): a hash of its bytes.
pub(super) fn raw_key(raw: &[u8]) -> String {
    let h = Sha256::digest(raw);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in h {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
