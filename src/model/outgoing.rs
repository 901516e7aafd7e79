//! Outgoing mail as the core describes it: a template kind, recipients
//! and a context (`Outgoing`, `MailCtx`).
//!
//! The core never formats mail: it emits an `Outgoing`; the outbox stores
//! that as JSON in the same transaction as the state change, and rendering
//! (`crate::render`) happens when the outbox is drained.

use super::Mailbox;
use serde::{Deserialize, Serialize};

/// One kind of mail the daemon sends; each has `templates/<locale>/<kind>.hbs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// New requirement → the requester: id, transcript, how to act.
    Ack,
    /// New requirement → each target department group.
    DeptNew,
    /// Confirm → the requester (cc the requester's department group).
    Confirmed,
    /// Clarification asked → the requester (cc requester's group).
    Clarify,
    /// Reject → the requester (cc requester's group).
    Rejected,
    /// Assign → each assignee (cc the target group and the requester).
    Assigned,
    /// Accept → the assigner.
    Accepted,
    /// Decline → the assigner.
    Declined,
    /// Plan → every involved department group.
    Plan,
    /// Progress report → assigner and requester.
    Progress,
    /// Problem raised → assigner and requester (and the owner's lead).
    Blocked,
    /// Task done → assigner and requester.
    Done,
    /// All tasks done → the requester is asked to verify.
    VerifyRequest,
    /// Verified and closed → everyone involved.
    Closed,
    /// Cancelled → everyone involved.
    Cancelled,
    /// A comment or update → the other participants.
    Comment,
    /// NOTICE from a lead → department groups.
    Notice,
    /// An action that was not allowed → the sender, with why.
    Refusal,
    /// A mail that names no item (e.g. a reply to a digest) → short help.
    Help,
    /// The clock: a department's digest → its group.
    Digest,
    /// The clock: a personal reminder (or an escalation to the lead).
    Reminder,
    /// Acted on, but attachments over a limit were not kept → the sender,
    /// when no other mail of the action goes to them.
    NotKept,
    /// `[SHOW]`: an item's state, tasks, plan, history and files → the sender.
    Show,
    /// `[FILES]`: an item's files (in parts within the attachment limit) → the sender.
    Files,
    /// `[MINE]`: what waits on the sender → the sender.
    Mine,
}

impl Kind {
    pub const ALL: [Kind; 25] = [
        Kind::Ack,
        Kind::DeptNew,
        Kind::Confirmed,
        Kind::Clarify,
        Kind::Rejected,
        Kind::Assigned,
        Kind::Accepted,
        Kind::Declined,
        Kind::Plan,
        Kind::Progress,
        Kind::Blocked,
        Kind::Done,
        Kind::VerifyRequest,
        Kind::Closed,
        Kind::Cancelled,
        Kind::Comment,
        Kind::Notice,
        Kind::Refusal,
        Kind::Help,
        Kind::Digest,
        Kind::Reminder,
        Kind::NotKept,
        Kind::Show,
        Kind::Files,
        Kind::Mine,
    ];

    /// The template file stem: `templates/<locale>/<name>.hbs`.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Ack => "ack",
            Kind::DeptNew => "dept_new",
            Kind::Confirmed => "confirmed",
            Kind::Clarify => "clarify",
            Kind::Rejected => "rejected",
            Kind::Assigned => "assigned",
            Kind::Accepted => "accepted",
            Kind::Declined => "declined",
            Kind::Plan => "plan",
            Kind::Progress => "progress",
            Kind::Blocked => "blocked",
            Kind::Done => "done",
            Kind::VerifyRequest => "verify_request",
            Kind::Closed => "closed",
            Kind::Cancelled => "cancelled",
            Kind::Comment => "comment",
            Kind::Notice => "notice",
            Kind::Refusal => "refusal",
            Kind::Help => "help",
            Kind::Digest => "digest",
            Kind::Reminder => "reminder",
            Kind::NotKept => "not_kept",
            Kind::Show => "show",
            Kind::Files => "files",
            Kind::Mine => "mine",
        }
    }

    /// Replies to a person's mail are `auto-replied`; notifications that
    /// were not a direct answer are `auto-generated` (RFC 3834).
    pub fn auto_submitted(&self) -> &'static str {
        match self {
            Kind::Ack
            | Kind::Refusal
            | Kind::Help
            | Kind::NotKept
            | Kind::Show
            | Kind::Files
            | Kind::Mine => "auto-replied",
            _ => "auto-generated",
        }
    }
}

/// A department as shown in mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeptCtx {
    pub id: String,
    pub name: String,
    pub confirmed: bool,
}

/// A task as shown in mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCtx {
    pub id: String,
    /// Display form of the owner (`张三 <zhangsan@corp.example>`).
    pub owner: String,
    pub title: String,
    /// State code (`assigned`, `accepted`, `declined`, `in_progress`, `done`).
    pub state: String,
    pub progress: u8,
    pub due: Option<String>,
    pub quality: Option<String>,
    pub blocked: bool,
    /// The department the task is done in (its id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dept: String,
}

/// A milestone as shown in mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneCtx {
    pub date: String,
    pub title: String,
    pub owner: Option<String>,
}

/// One line of the debbugs-style transcript: what was understood.
/// `key` is a stable code the templates translate (`action`, `id`,
/// `departments`, `due`, `quality`, `priority`, `progress`, `tasks`,
/// `milestones`, `result`, `state`); `value` is already display text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptLine {
    pub key: String,
    pub value: String,
}

/// Everything a template may show. One shape for all kinds; each template
/// uses what it needs. Codes (state, action, reason) are translated by the
/// templates through `names.toml` of their locale (`@root.names`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailCtx {
    /// `REQ-42` or `REQ-42.1`; empty for help/notice mails.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The requirement id (`REQ-42`) even when `id` is a task.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub req_id: String,
    /// Requirement title (or the task title for task mails).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Requirement title when `title` is a task title.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub req_title: String,
    /// Who acted, display form.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub actor: String,
    /// Action code (`confirm`, `assign`, …; see `Action::as_str`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// State code after the action (requirement or task).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// State code before the action.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub state_before: String,
    /// Requirement state code (also for task mails).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub req_state: String,
    /// The note / description / reason text the person wrote.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub requester: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<DeptCtx>,
    /// The department this mail is addressed to / about, when one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dept: Option<DeptCtx>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub priority: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskCtx>,
    /// The task this mail is about (assigned/accepted/progress/…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskCtx>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<MilestoneCtx>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<TranscriptLine>,
    /// Refusal reason code (see `workflow::decide::Refusal::code`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Extra text for the reason (e.g. the unknown keyword or bad date).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// "Did you mean" candidates, or the accepted forms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
    /// Who may do what is refused (display text), for refusals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// The subject of the mail being answered (refusal/help).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub orig_subject: String,
    /// The daemon's own address (for "reply to" instructions).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub workflow_address: String,
    /// A department digest's sections (Kind::Digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestCtx>,
    /// Why a reminder is sent (Kind::Reminder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminder: Option<ReminderCtx>,
    /// The files that come with this mail, by name and size.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileCtx>,
    /// `files` are attached.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub files_attached: bool,
    /// `files` are too large together to attach: the mail says how to
    /// fetch them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub files_fetch: bool,
    /// Files of the mail this one answers that were not kept (`note` says why).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files_not_kept: Vec<FileCtx>,
    /// Kept files too large for any mail (`[FILES]`): fetched by the admin.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files_too_large: Vec<FileCtx>,
    /// `[FILES]` answers in parts: this is part `part` of `parts` (0: one mail).
    #[serde(skip_serializing_if = "is_zero")]
    pub part: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub parts: u32,
    /// An item's history, oldest first (`[SHOW]`): the latest
    /// `HISTORY_MAX` events.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryCtx>,
    /// Earlier events left out of `history`.
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub history_more: usize,
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// The most events a `[SHOW]` answer lists (the latest ones).
pub const HISTORY_MAX: usize = 100;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One event of an item's history as a mail shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryCtx {
    /// Local time: `2026-12-01 09:30`.
    pub at: String,
    /// `REQ-42` or `REQ-42.1`.
    pub item: String,
    /// The event's kind: an action code (`confirm`, …) or `lookup`.
    pub kind: String,
    /// Who (display form).
    pub actor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A file as a mail lists it: `note` is a code (`too_large`,
/// `mail_too_large`; texts in `names.toml`, `[file_note]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileCtx {
    pub name: String,
    /// Human-readable (`1.2 MB`).
    pub size: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl FileCtx {
    pub fn of(f: &super::FileRef) -> FileCtx {
        FileCtx {
            name: f.name.clone(),
            size: super::human_size(f.size),
            note: f.note.clone().unwrap_or_default(),
        }
    }
}

/// One line of a digest section: a task (`REQ-3.1`) or a requirement
/// (`REQ-3`), with its id so that people can act on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DigestRow {
    pub id: String,
    pub title: String,
    /// The task's owner, or the requirement's requester (display form).
    pub who: String,
    /// Task or requirement state code.
    pub state: String,
    /// Task progress; for a requirement the mean of its live tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Local date of the last progress report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_report: Option<String>,
    pub blocked: bool,
    pub overdue: bool,
    /// Working days: overdue by (overdue), silent for (silent), left
    /// (due soon), waiting for (awaiting confirmation/acceptance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    /// Requirement rows: departments confirmed (`2/3`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub confirmed: String,
    /// Requirement rows: tasks done (`1/4`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tasks: String,
}

/// One section of a digest. `key` is one of `awaiting_confirmation`,
/// `awaiting_acceptance`, `in_progress`, `due_soon`, `overdue`, `silent`,
/// `blocked`, `our_requests` (titles in `names.toml`, `[digest_section]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DigestSection {
    pub key: String,
    pub rows: Vec<DigestRow>,
    /// Rows left out past `[digest].max_rows`.
    pub more: usize,
    /// Rows in the section before the cut.
    pub total: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DigestCtx {
    /// The slot, local time: `2026-12-01 09:00`.
    pub slot: String,
    /// Its date: `2026-12-01`.
    pub date: String,
    /// Every section, in order, empty ones included (templates skip them).
    pub sections: Vec<DigestSection>,
    /// Rows over all sections (before the cut): 0 means nothing to report.
    pub total: usize,
    /// The working days that define "silent" and "due soon" (for the legend).
    pub report_every: i64,
    pub due_soon: i64,
}

impl DigestCtx {
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// Why a reminder is sent: `condition` is `accept`, `silent`, `due_soon`,
/// `overdue` or `escalate` (texts in `names.toml`, `[reminder]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReminderCtx {
    pub condition: String,
    /// Working days overdue / silent / left, or hours waiting for acceptance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<i64>,
    /// The date counted from (last report, due date, assignment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The task's owner (display form), for escalations to the lead.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

/// A mail the core wants sent. The shell gives it a Message-ID, stores it
/// in the outbox, renders it in the recipient's locale, and sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub kind: Kind,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// The item this mail is about (its id goes in the subject).
    pub item: Option<String>,
    /// Locale chosen by the core from the primary recipient (`zh-CN`, `en`).
    pub locale: String,
    pub ctx: MailCtx,
    /// Kept files to attach when the mail is sent (the shell sets these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<super::FileRef>,
}
