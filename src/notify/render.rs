//! `Outgoing` → RFC 5322 bytes through the handlebars templates.
