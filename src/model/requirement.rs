//! The stored shape of a requirement and its tasks: what `decide` reads and
//! returns, and what the store persists.

use super::{ItemId, Mailbox, Milestone, Priority, ReqId, ReqState, TaskId, TaskState};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeptStatus {
    pub id: String,
    pub confirmed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub owner: Mailbox,
    pub assigner: Mailbox,
    /// The target department that assigned it.
    pub dept: String,
    pub title: String,
    pub due: Option<NaiveDate>,
    pub quality: Option<String>,
    pub state: TaskState,
    pub progress: u8,
    pub blocked: bool,
    pub last_report: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub id: ReqId,
    pub title: String,
    pub requester: Mailbox,
    /// The requester's (first) department, whose group is kept informed.
    pub requester_dept: Option<String>,
    pub depts: Vec<DeptStatus>,
    pub due: Option<NaiveDate>,
    pub quality: Option<String>,
    pub priority: Priority,
    pub description: String,
    pub state: ReqState,
    pub tasks: Vec<Task>,
    pub milestones: Vec<Milestone>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The Message-ID of the mail that raised it: every mail about it
    /// references this first, so clients thread the whole story.
    #[serde(default)]
    pub root_message_id: Option<String>,
}

impl Requirement {
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    pub fn task_mut(&mut self, id: TaskId) -> Option<&mut Task> {
        self.tasks.iter_mut().find(|t| t.id == id)
    }

    pub fn next_task_id(&self) -> TaskId {
        TaskId {
            req: self.id,
            n: self.tasks.iter().map(|t| t.id.n).max().unwrap_or(0) + 1,
        }
    }

    pub fn all_confirmed(&self) -> bool {
        !self.depts.is_empty() && self.depts.iter().all(|d| d.confirmed)
    }

    /// Every task that was not declined is done (and there is one).
    pub fn all_done(&self) -> bool {
        let live: Vec<&Task> = self
            .tasks
            .iter()
            .filter(|t| t.state != TaskState::Declined)
            .collect();
        !live.is_empty() && live.iter().all(|t| t.state == TaskState::Done)
    }
}

/// One entry of an item's history: every change, with the Message-ID that
/// caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub item: ItemId,
    /// Action code, or a derived change (`state:confirmed`).
    pub kind: String,
    pub actor: String,
    pub message_id: String,
    pub at: DateTime<Utc>,
    /// Short human text: the note, the fields, the new state.
    pub detail: String,
}
