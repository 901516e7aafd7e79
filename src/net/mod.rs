//! What the network clients share (IMAP, SMTP, the IM robots): TLS settings.

mod tls;

pub use tls::{client_config, tls_connector};
