//! The pure core: the state machine (`decide`).

pub mod decide;
