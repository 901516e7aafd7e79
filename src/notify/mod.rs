//! Outgoing mail rendered: the description the core emits
//! (`crate::model::Outgoing`) through the handlebars templates into a real
//! RFC 5322 message.

pub mod render;
