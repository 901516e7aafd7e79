//! The "never act on or answer" rules of PROTOCOL.md (pure).

use super::Inbound;
use serde::{Deserialize, Serialize};

/// Why a message is set aside instead of acted on. Never answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", content = "detail", rename_all = "snake_case")]
pub enum SetAside {
    /// Auto-reply / out-of-office; the detail names the signal seen.
    AutoReply(String),
    /// A bounce (DSN, MAILER-DAEMON, empty Return-Path).
    Bounce(String),
    /// A mailing-list copy.
    MailingList(String),
    /// The daemon's own mail coming back.
    OwnMail(String),
    /// The sender is not in the directory.
    UnknownSender(String),
    /// Authentication was required and did not pass.
    NotAuthenticated(String),
    /// Older than the first-start watermark.
    BeforeWatermark(String),
    /// The message could not be parsed at all.
    Unreadable(String),
}

/// STUB: replaced by the real filter.
pub fn screen(m: &Inbound, own_address: &str) -> Option<SetAside> {
    let _ = (m, own_address);
    None
}

/// STUB: replaced by the real check.
pub fn auth_passes(m: &Inbound, trusted_server: &str, sender_domain: &str) -> bool {
    let _ = (m, trusted_server, sender_domain);
    false
}
