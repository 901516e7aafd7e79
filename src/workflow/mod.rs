//! The pure core: the protocol's types and the state machine.

pub mod decide;
pub mod model;
pub mod state;
