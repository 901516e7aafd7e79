//! The pure core: the state machine.

pub mod decide;

/// The protocol's types, under their older path.
pub mod model {
    pub use crate::model::{
        Action, Command, FieldProblem, Fields, ItemId, Milestone, Priority, ReqId, ReqState,
        TaskId, TaskLine, TaskState, UnknownKeyword,
    };
}

/// Requirement snapshots, under their older path.
pub mod state {
    pub use crate::model::{DeptStatus, Event, Requirement, Task};
}
