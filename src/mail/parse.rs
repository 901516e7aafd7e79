//! Raw bytes → `Inbound` (mail-parser 0.11 plus crossdesk's own fixes).

use super::Inbound;

/// Why a message could not be read at all (it is set aside with this text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not a mail message: {0}")]
    NotMail(String),
    #[error("message too large: {size} bytes (limit {limit})")]
    TooLarge { size: usize, limit: usize },
}

/// Parses one raw message. STUB: replaced by the real parser.
pub fn parse(raw: &[u8]) -> Result<Inbound, ParseError> {
    let _ = raw;
    Err(ParseError::NotMail("parser not built yet".into()))
}
