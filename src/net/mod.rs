//! What the network clients share (IMAP, SMTP): TLS settings.

mod tls;

pub use tls::tls_connector;
