//! A mailbox: an address and an optional display name, as the directory,
//! the core and outgoing mail all name people and groups.

use serde::{Deserialize, Serialize};

/// A mailbox: an address (lower-cased, trimmed) and an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    pub fn new(name: Option<&str>, address: &str) -> Mailbox {
        Mailbox {
            name: name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
            address: address.trim().to_lowercase(),
        }
    }

    /// Parses `Name <addr@x>` or a bare `addr@x` (config entries).
    pub fn parse(s: &str) -> Option<Mailbox> {
        let s = s.trim();
        if let (Some(lt), Some(gt)) = (s.rfind('<'), s.rfind('>')) {
            if lt < gt {
                let addr = s[lt + 1..gt].trim();
                let name = s[..lt].trim().trim_matches('"').trim();
                return valid_address(addr)
                    .then(|| Mailbox::new((!name.is_empty()).then_some(name), addr));
            }
        }
        valid_address(s).then(|| Mailbox::new(None, s))
    }
}

/// A plausible `local@domain` (no spaces, one `@`, both sides non-empty).
pub fn valid_address(s: &str) -> bool {
    let mut parts = s.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(d), None) => {
            !l.is_empty()
                && !d.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        }
        _ => false,
    }
}

impl std::fmt::Display for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{} <{}>", n, self.address),
            None => f.write_str(&self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_parses_config_forms() {
        let m = Mailbox::parse("王磊 <WangLei@Corp.Example>").unwrap();
        assert_eq!(m.address, "wanglei@corp.example");
        assert_eq!(m.name.as_deref(), Some("王磊"));
        assert_eq!(
            Mailbox::parse("alice@corp.example").unwrap().address,
            "alice@corp.example"
        );
        assert!(Mailbox::parse("not an address").is_none());
        assert!(Mailbox::parse("a@b@c").is_none());
    }
}
