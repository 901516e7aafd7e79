//! Outgoing mail: what the core asks to send (`crate::model::Outgoing`),
//! and its rendering through the handlebars templates into a real RFC 5322
//! message.

pub mod render;

pub use crate::model::{
    DeptCtx, DigestCtx, DigestRow, DigestSection, Kind, MailCtx, MilestoneCtx, Outgoing,
    ReminderCtx, TaskCtx, TranscriptLine,
};
