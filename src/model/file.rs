//! A file that came with a mail: what is recorded of it (`FileRef`) and
//! how its size reads in mail and on the terminal.

use serde::{Deserialize, Serialize};

/// One attachment of a mail that was acted on, as recorded with its event
/// and as carried by an outgoing mail. `sha256` names the kept bytes
/// (content-addressed); `None` when the file was not kept, `note` then
/// says why (`too_large`, `mail_too_large`, `unreadable`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub name: String,
    /// MIME type, lower-case (`application/pdf`).
    #[serde(rename = "type")]
    pub content_type: String,
    /// Bytes (decoded).
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl FileRef {
    pub fn is_kept(&self) -> bool {
        self.sha256.is_some()
    }
}

/// The lower-case hex SHA-256 of some bytes (a kept file's name, the
/// exactly-once key of a mail without a Message-ID).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// A size as people read it: `812 B`, `14.2 KB`, `3.1 MB` (powers of 1024,
/// as mail clients show attachment sizes).
pub fn human_size(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < K * K {
        format!("{:.1} KB", b / K)
    } else if b < K * K * K {
        format!("{:.1} MB", b / (K * K))
    } else {
        format!("{:.1} GB", b / (K * K * K))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_mail_clients_show_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(25 * 1024 * 1024), "25.0 MB");
    }
}
