//! A mail server's URL (`imaps://host:993`, `smtp://relay?starttls`): host,
//! port and TLS mode.

/// A mail server endpoint, parsed from a URL such as `imaps://host:993`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP: only to a loopback address.
    None,
    /// Plain TCP upgraded with STARTTLS.
    StartTls,
    /// TLS from the first byte (imaps://, smtps://).
    Implicit,
}

impl ServerUrl {
    /// `imap://h[:p]`, `imaps://h[:p]`, `imap://h?starttls` (and smtp/smtps).
    pub fn parse(s: &str, proto: &str) -> Result<ServerUrl, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("`{s}`: expected {proto}://HOST[:PORT] or {proto}s://HOST[:PORT]")
        })?;
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h.trim_end_matches('/'), Some(q)),
            None => (rest.trim_end_matches('/'), None),
        };
        let starttls = match query {
            None => false,
            Some("starttls") => true,
            Some(q) => return Err(format!("`{s}`: unknown option `{q}` (only `?starttls`)")),
        };
        let (tls, default_port) = match (scheme, proto) {
            ("imap", "imap") => (
                if starttls {
                    TlsMode::StartTls
                } else {
                    TlsMode::None
                },
                143,
            ),
            ("imaps", "imap") => (TlsMode::Implicit, 993),
            ("smtp", "smtp") => (
                if starttls {
                    TlsMode::StartTls
                } else {
                    TlsMode::None
                },
                25,
            ),
            ("smtps", "smtp") => (TlsMode::Implicit, 465),
            _ => {
                return Err(format!(
                    "`{s}`: use {proto}://, {proto}://…?starttls or {proto}s://"
                ))
            }
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // [::1]:1143
            let (h, p) = h
                .split_once(']')
                .ok_or_else(|| format!("`{s}`: bad IPv6 address"))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{s}`: no host"));
        }
        let port = match port {
            None | Some("") => default_port,
            Some(p) => p.parse().map_err(|_| format!("`{s}`: bad port `{p}`"))?,
        };
        let url = ServerUrl { host, port, tls };
        if tls == TlsMode::None && !url.is_loopback() {
            return Err(format!(
                "`{s}`: plain {proto}:// only to 127.0.0.1, ::1 or localhost; use {proto}s:// or ?starttls"
            ));
        }
        Ok(url)
    }

    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .map(|a| a.is_loopback())
                .unwrap_or(false)
    }
}
