//! The protocol's nouns: identifiers, actions, states, fields.
//!
//! Everything that crosses from the mail edge into the core is parsed once
//! into these types; no raw strings travel inward.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `REQ-<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReqId(pub u32);

/// `REQ-<n>.<m>`: the m-th task of requirement n.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    pub req: ReqId,
    pub n: u32,
}

/// What a subject or a thread header points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ItemId {
    Req(ReqId),
    Task(TaskId),
}

impl fmt::Display for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "REQ-{}", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "REQ-{}.{}", self.req.0, self.n)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemId::Req(r) => r.fmt(f),
            ItemId::Task(t) => t.fmt(f),
        }
    }
}

impl ItemId {
    pub fn req(&self) -> ReqId {
        match self {
            ItemId::Req(r) => *r,
            ItemId::Task(t) => t.req,
        }
    }

    /// Parses `REQ-42` or `REQ-42.1` (case-insensitive, surrounding spaces
    /// ignored). Anything else is `None`.
    pub fn parse(s: &str) -> Option<ItemId> {
        let s = s.trim();
        let rest = s.get(..4).filter(|p| p.eq_ignore_ascii_case("REQ-"))?;
        let _ = rest;
        let rest = &s[4..];
        let (a, b) = match rest.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        if a.is_empty() || !a.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let req = ReqId(a.parse().ok().filter(|n| *n > 0)?);
        match b {
            None => Some(ItemId::Req(req)),
            Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
                let n = b.parse().ok().filter(|n| *n > 0)?;
                Some(ItemId::Task(TaskId { req, n }))
            }
            Some(_) => None,
        }
    }
}

/// Every action of the subject-tag table (docs/protocol.md#keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `[REQ]`: raise a new requirement.
    NewReq,
    /// Identifier only: a comment or update.
    Comment,
    Confirm,
    Clarify,
    Reject,
    Assign,
    Plan,
    Accept,
    Decline,
    Progress,
    Blocked,
    Done,
    Close,
    Cancel,
    Notice,
    /// `[SHOW REQ-42]`: look an item up (docs/protocol.md#look-ups-by-mail).
    Show,
    /// `[FILES REQ-42]`: an item's files.
    Files,
    /// `[MINE]`: what waits on the sender.
    Mine,
    /// `[HELP]`: the protocol in short.
    Help,
}

impl Action {
    pub const ALL: [Action; 19] = [
        Action::NewReq,
        Action::Comment,
        Action::Confirm,
        Action::Clarify,
        Action::Reject,
        Action::Assign,
        Action::Plan,
        Action::Accept,
        Action::Decline,
        Action::Progress,
        Action::Blocked,
        Action::Done,
        Action::Close,
        Action::Cancel,
        Action::Notice,
        Action::Show,
        Action::Files,
        Action::Mine,
        Action::Help,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Action::NewReq => "new_req",
            Action::Comment => "comment",
            Action::Confirm => "confirm",
            Action::Clarify => "clarify",
            Action::Reject => "reject",
            Action::Assign => "assign",
            Action::Plan => "plan",
            Action::Accept => "accept",
            Action::Decline => "decline",
            Action::Progress => "progress",
            Action::Blocked => "blocked",
            Action::Done => "done",
            Action::Close => "close",
            Action::Cancel => "cancel",
            Action::Notice => "notice",
            Action::Show => "show",
            Action::Files => "files",
            Action::Mine => "mine",
            Action::Help => "help",
        }
    }

    /// Look-ups: they answer the sender and change nothing.
    pub fn is_lookup(&self) -> bool {
        matches!(
            self,
            Action::Show | Action::Files | Action::Mine | Action::Help
        )
    }

    /// Actions about no item (a thread's item is not looked for).
    pub fn about_no_item(&self) -> bool {
        matches!(
            self,
            Action::NewReq | Action::Notice | Action::Mine | Action::Help
        )
    }

    /// Actions that act on a task (`REQ-n.m`) rather than a requirement.
    pub fn on_task(&self) -> bool {
        matches!(
            self,
            Action::Accept | Action::Decline | Action::Progress | Action::Blocked | Action::Done
        )
    }

    /// Actions that act on a requirement (`REQ-n`).
    pub fn on_req(&self) -> bool {
        matches!(
            self,
            Action::Confirm
                | Action::Clarify
                | Action::Reject
                | Action::Assign
                | Action::Plan
                | Action::Close
                | Action::Cancel
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReqState {
    Proposed,
    Clarifying,
    Confirmed,
    Rejected,
    InProgress,
    Delivered,
    Closed,
    Cancelled,
}

impl ReqState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReqState::Proposed => "proposed",
            ReqState::Clarifying => "clarifying",
            ReqState::Confirmed => "confirmed",
            ReqState::Rejected => "rejected",
            ReqState::InProgress => "in_progress",
            ReqState::Delivered => "delivered",
            ReqState::Closed => "closed",
            ReqState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ReqState> {
        Some(match s {
            "proposed" => ReqState::Proposed,
            "clarifying" => ReqState::Clarifying,
            "confirmed" => ReqState::Confirmed,
            "rejected" => ReqState::Rejected,
            "in_progress" => ReqState::InProgress,
            "delivered" => ReqState::Delivered,
            "closed" => ReqState::Closed,
            "cancelled" => ReqState::Cancelled,
            _ => return None,
        })
    }

    /// Open states are those from which `cancel` is allowed.
    pub fn is_open(&self) -> bool {
        !matches!(
            self,
            ReqState::Rejected | ReqState::Closed | ReqState::Cancelled
        )
    }
}

impl fmt::Display for ReqState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Assigned,
    Accepted,
    Declined,
    InProgress,
    Done,
}

impl TaskState {
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskState::Assigned => "assigned",
            TaskState::Accepted => "accepted",
            TaskState::Declined => "declined",
            TaskState::InProgress => "in_progress",
            TaskState::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        Some(match s {
            "assigned" => TaskState::Assigned,
            "accepted" => TaskState::Accepted,
            "declined" => TaskState::Declined,
            "in_progress" => TaskState::InProgress,
            "done" => TaskState::Done,
            _ => return None,
        })
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(&self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// `low/normal/high/urgent`, `低/中/高/紧急` (and a few obvious variants).
    pub fn parse(s: &str) -> Option<Priority> {
        let s = s.trim().to_lowercase();
        Some(match s.as_str() {
            "low" | "低" | "p3" => Priority::Low,
            "normal" | "medium" | "中" | "普通" | "一般" | "p2" => Priority::Normal,
            "high" | "高" | "p1" => Priority::High,
            "urgent" | "紧急" | "critical" | "p0" => Priority::Urgent,
            _ => return None,
        })
    }
}

/// One line of an ASSIGN body: `- alice@corp.example: Export API; due 2026-12-10; quality: p95 < 200 ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLine {
    /// As written: an address or a configured member name (`张三`).
    pub owner: String,
    pub title: String,
    pub due: Option<NaiveDate>,
    pub quality: Option<String>,
}

/// One line of a PLAN body: `- 2026-12-01: design review (alice)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub date: NaiveDate,
    pub title: String,
    /// The owner in parentheses, as written, if any.
    pub owner: Option<String>,
}

/// A problem found while reading the body fields: reported back to the
/// sender, never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldProblem {
    /// A `Due:` (or task/milestone) date that could not be read.
    BadDate { field: String, value: String },
    /// A `Priority:` value that is not one of the known ones.
    BadPriority { value: String },
    /// A `Progress:` value that is not a percentage 0..=100.
    BadProgress { value: String },
    /// An ASSIGN/PLAN list line that could not be read.
    BadLine { line: String, why: String },
}

/// The body fields (docs/protocol.md#body-fields), as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fields {
    /// Target departments as written (ids, names or aliases); resolved
    /// against the directory later. Empty: take the groups among To/Cc.
    pub departments: Vec<String>,
    pub due: Option<NaiveDate>,
    pub quality: Option<String>,
    pub priority: Option<Priority>,
    /// Percentage from the subject or a `Progress:` field.
    pub progress: Option<u8>,
    pub tasks: Vec<TaskLine>,
    pub milestones: Vec<Milestone>,
    /// The rest of the body: the description or note.
    pub note: String,
    pub problems: Vec<FieldProblem>,
}

/// What `classify` understood from a mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// `None` when the subject holds no keyword and no identifier: the shell
    /// may still find the item through the thread headers (→ Comment).
    pub action: Option<Action>,
    /// The identifier found in the subject, if any.
    pub target: Option<ItemId>,
    /// The subject with tags and reply prefixes removed (a new requirement's title).
    pub title: String,
    pub fields: Fields,
    /// A bracketed word that looked like a keyword but is not one (`[CONFRIM]`),
    /// with the closest known keywords, for a "did you mean" refusal.
    pub unknown_keyword: Option<UnknownKeyword>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownKeyword {
    pub word: String,
    pub suggestions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_parse_and_print() {
        assert_eq!(ItemId::parse("REQ-42"), Some(ItemId::Req(ReqId(42))));
        assert_eq!(
            ItemId::parse("req-42.3"),
            Some(ItemId::Task(TaskId {
                req: ReqId(42),
                n: 3
            }))
        );
        assert_eq!(ItemId::parse("REQ-"), None);
        assert_eq!(ItemId::parse("REQ-0"), None);
        assert_eq!(ItemId::parse("REQ-4x"), None);
        assert_eq!(ItemId::parse("REQ-4."), None);
        assert_eq!(ItemId::parse("RE-4"), None);
        assert_eq!(ItemId::parse("REQ-1.2").unwrap().to_string(), "REQ-1.2");
    }

    #[test]
    fn priority_words_in_both_languages() {
        assert_eq!(Priority::parse("紧急"), Some(Priority::Urgent));
        assert_eq!(Priority::parse("HIGH"), Some(Priority::High));
        assert_eq!(Priority::parse("中"), Some(Priority::Normal));
        assert_eq!(Priority::parse("soon"), None);
    }
}
