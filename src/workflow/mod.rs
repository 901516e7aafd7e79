//! The pure core: the protocol's types and the state machine.

pub mod model;
