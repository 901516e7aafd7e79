//! The SMTP sender: lettre's SMTP client over connections we open
//! ourselves, kept in a small pool. Each mail is sent with its own
//! envelope; the answer is classified as sent, transient (retry on the
//! schedule) or permanent (recorded, not retried).
//!
//! Why not lettre's `AsyncSmtpTransport`: it writes the message and the
//! final `.` in two writes on a socket without TCP_NODELAY, so every mail
//! waits for the server's delayed ACK (~40 ms on Linux, ~22 mails/s per
//! connection). Opening the socket here lets us set TCP_NODELAY; lettre
//! still speaks the protocol (EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA).

use super::SendError;
use crate::config::{Config, ServerUrl, SmtpConfig, TlsMode};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;

use std::time::Duration;
use tokio::net::TcpStream;

pub struct SmtpSender {
    pub url: ServerUrl,
    /// STARTTLS parameters (lettre upgrades the connection).
    starttls: Option<TlsParameters>,
    /// Implicit TLS (smtps://): we wrap the socket ourselves.
    implicit: Option<tokio_rustls::TlsConnector>,
    creds: Option<Credentials>,
    /// How long one mail, or STARTTLS and AUTH, may take.
    timeout: Duration,
    hello: ClientId,
    idle: tokio::sync::Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
}

/// A TLS stream lettre can drive (it needs `peer_addr`).
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl std::fmt::Debug for TlsTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTcp")
    }
}

impl tokio::io::AsyncRead for TlsTcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

fn starttls_params(url: &ServerUrl, ca_pem: Option<&[u8]>) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(url.host.clone());
    if let Some(pem) = ca_pem {
        b = b
            .add_root_certificate(Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?);
    }
    b.build_rustls().map_err(|e| format!("tls: {e}"))
}

/// How one SMTP transaction failed.
enum Failure {
    /// A command failed (or the connection did): the whole mail.
    Smtp(lettre::transport::smtp::Error),
    /// Every recipient was refused for good (their notes).
    AllRefused(Vec<String>),
    /// The server lacks an extension the mail needs (nothing was sent).
    Unsupported(String),
    /// The server took longer than `[smtp] timeout_seconds`.
    Slow,
}

/// What the error of a 530 adds: what to check.
const WANTS_TLS_OR_LOGIN: &str = "the relay wants TLS or a login first: check [smtp] url, \
     ?starttls or smtps://, and [smtp] user";

/// 530 (RFC 3207's "Must issue a STARTTLS command first", RFC 4954's
/// "Authentication required"): the relay takes no mail from a session
/// like ours, whatever the mail.
fn wants_tls_or_login(e: &lettre::transport::smtp::Error) -> bool {
    e.status().is_some_and(|c| c.to_string() == "530")
}

/// MAIL, each RCPT, DATA: like lettre's `send`, except that a recipient
/// refused for good is noted and left out rather than failing the mail.
/// Returns the notes of the refused recipients.
async fn transaction(
    conn: &mut AsyncSmtpConnection,
    from: &Address,
    to: &[Address],
    bytes: &[u8],
) -> Result<Vec<String>, Failure> {
    use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
    use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
    // As lettre does: 8-bit content or non-ASCII addresses only to a
    // server that announces it takes them.
    let mut opts = vec![];
    let info = conn.server_info();
    if to.iter().any(|a| !a.to_string().is_ascii()) {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(Failure::Unsupported(
                "non-ASCII address, and the server has no SMTPUTF8".into(),
            ));
        }
        opts.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(Failure::Unsupported(
                "8-bit message, and the server has no 8BITMIME".into(),
            ));
        }
        opts.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    conn.command(Mail::new(Some(from.clone()), opts))
        .await
        .map_err(Failure::Smtp)?;
    let mut refused = vec![];
    let mut accepted = 0;
    for a in to {
        match conn.command(Rcpt::new(a.clone(), vec![])).await {
            Ok(_) => accepted += 1,
            Err(e) if e.is_permanent() => refused.push(format!("{a}: {e}")),
            // 4xx for one of them: the whole mail waits for a retry.
            Err(e) => return Err(Failure::Smtp(e)),
        }
    }
    if accepted == 0 {
        conn.command(Rset).await.map_err(Failure::Smtp)?;
        return Err(Failure::AllRefused(refused));
    }
    conn.command(Data).await.map_err(Failure::Smtp)?;
    conn.message(bytes).await.map_err(Failure::Smtp)?;
    Ok(refused)
}

/// Errors before or around a transaction: worth a retry later.
fn transient(e: impl std::fmt::Display) -> SendError {
    SendError::Transient(e.to_string())
}

impl SmtpSender {
    pub fn new(cfg: &Config, smtp: &SmtpConfig) -> Result<SmtpSender, String> {
        let url = ServerUrl::parse(&smtp.url, "smtp")?;
        let ca = match &smtp.ca_file {
            Some(f) => {
                let p = cfg.resolve(f);
                Some(std::fs::read(&p).map_err(|e| format!("smtp.ca_file {}: {e}", p.display()))?)
            }
            None => None,
        };
        let (starttls, implicit) = match url.tls {
            TlsMode::None => (None, None),
            TlsMode::StartTls => (Some(starttls_params(&url, ca.as_deref())?), None),
            TlsMode::Implicit => (None, Some(crate::net::tls_connector(ca.as_deref())?)),
        };
        let creds = match &smtp.user {
            Some(user) => {
                let pass = cfg
                    .read_secret("smtp", &smtp.secret())
                    .map_err(|e| e.to_string())?;
                Some(Credentials::new(user.clone(), pass))
            }
            None => None,
        };
        let hello = cfg
            .mail
            .address
            .split_once('@')
            .map(|(_, d)| ClientId::Domain(d.to_string()))
            .unwrap_or_default();
        Ok(SmtpSender {
            url,
            starttls,
            implicit,
            creds,
            timeout: Duration::from_secs(smtp.timeout_seconds),
            hello,
            idle: tokio::sync::Mutex::new(Vec::new()),
            max_idle: smtp.pool.max(1) as usize,
        })
    }

    /// Opens and greets a new connection (TLS, AUTH as configured).
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let addr = format!("{}:{}", self.url.host, self.url.port);
        let tcp = tokio::time::timeout(
            Duration::from_secs(30),
            TcpStream::connect((self.url.host.as_str(), self.url.port)),
        )
        .await
        .map_err(|_| transient(format!("connect {addr}: timed out")))?
        .map_err(|e| transient(format!("connect {addr}: {e}")))?;
        tcp.set_nodelay(true)
            .map_err(|e| transient(format!("{addr}: {e}")))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            None => Box::new(tcp),
            Some(tls) => {
                // A setting to fix, not a reason to give the mail up.
                let name =
                    tokio_rustls::rustls::pki_types::ServerName::try_from(self.url.host.clone())
                        .map_err(|e| transient(format!("{}: {e}", self.url.host)))?;
                Box::new(TlsTcp(
                    tls.connect(name, tcp)
                        .await
                        .map_err(|e| transient(format!("tls {addr}: {e}")))?,
                ))
            }
        };
        let mut conn = tokio::time::timeout(
            Duration::from_secs(60),
            AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
        )
        .await
        .map_err(|_| transient(format!("{addr}: no greeting within 60 s")))?
        .map_err(|e| transient(format!("{addr}: {e}")))?;
        let slow = |what: &str| {
            transient(format!(
                "{what} {addr}: no answer within {} s",
                self.timeout.as_secs()
            ))
        };
        if let Some(p) = &self.starttls {
            tokio::time::timeout(self.timeout, conn.starttls(p.clone(), &self.hello))
                .await
                .map_err(|_| slow("STARTTLS"))?
                .map_err(|e| transient(format!("STARTTLS {addr}: {e}")))?;
        }
        if let Some(c) = &self.creds {
            // Refused credentials (535) are the relay's settings or a
            // changed password, not the mail's fault: the mail waits on
            // the retry schedule, as Postfix's smtp_sasl_auth_soft_bounce.
            tokio::time::timeout(
                self.timeout,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], c),
            )
            .await
            .map_err(|_| slow("AUTH"))?
            .map_err(|e| {
                transient(format!(
                    "AUTH {addr}: {e} (check [smtp] user and the password)"
                ))
            })?;
        }
        Ok(conn)
    }

    /// Sends one rendered message to `rcpts` with `from` as the envelope
    /// sender. A recipient the server refuses for good (5xx at RCPT, say a
    /// mailbox that no longer exists) does not stop the others: the mail
    /// goes to those accepted, and the refusals come back as notes. Refused
    /// all, or refused for now (4xx), the whole mail fails accordingly.
    pub async fn send(
        &self,
        from: &str,
        rcpts: &[String],
        bytes: &[u8],
    ) -> Result<Vec<String>, SendError> {
        let from: Address = from
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad sender address {from}: {e}")))?;
        let mut to = Vec::with_capacity(rcpts.len());
        for r in rcpts {
            match r.parse::<Address>() {
                Ok(a) => to.push(a),
                Err(e) => tracing::warn!(rcpt = %r, "skipping unusable recipient: {e}"),
            }
        }
        if to.is_empty() {
            return Err(SendError::Permanent("no usable recipient".into()));
        }
        // A pooled connection may have been closed by the server meanwhile:
        // one retry on a fresh connection before calling it transient.
        let pooled = self.idle.lock().await.pop();
        let fresh = pooled.is_none();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect().await?,
        };
        let r = match self.transaction(&mut conn, &from, &to, bytes).await {
            Err(Failure::Smtp(e)) if !fresh && !e.is_permanent() => {
                conn = self.connect().await?;
                self.transaction(&mut conn, &from, &to, bytes).await
            }
            r => r,
        };
        match r {
            Ok(refused) => {
                self.put_back(conn).await;
                Ok(refused)
            }
            Err(Failure::AllRefused(notes)) => {
                // The connection is fine (the transaction was reset).
                self.put_back(conn).await;
                Err(SendError::Permanent(format!(
                    "every recipient refused: {}",
                    notes.join("; ")
                )))
            }
            Err(Failure::Unsupported(why)) => Err(SendError::Permanent(why)),
            Err(Failure::Slow) => {
                // Mid-command, with a server that does not answer: closed
                // without a QUIT (whose answer would not come either).
                drop(conn);
                Err(transient(format!(
                    "{}:{}: no answer within {} s",
                    self.url.host,
                    self.url.port,
                    self.timeout.as_secs()
                )))
            }
            Err(Failure::Smtp(e)) => {
                conn.abort().await;
                if wants_tls_or_login(&e) {
                    // The relay's settings against ours, not the mail's
                    // fault (as 535 at AUTH): it waits for a fixed config.
                    Err(transient(format!("{e} ({WANTS_TLS_OR_LOGIN})")))
                } else if e.is_permanent() {
                    Err(SendError::Permanent(e.to_string()))
                } else {
                    Err(transient(e))
                }
            }
        }
    }

    /// One mail's transaction, within the configured time.
    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        from: &Address,
        to: &[Address],
        bytes: &[u8],
    ) -> Result<Vec<String>, Failure> {
        tokio::time::timeout(self.timeout, transaction(conn, from, to, bytes))
            .await
            .unwrap_or(Err(Failure::Slow))
    }

    /// Keeps a connection that is still usable for the next mail.
    async fn put_back(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().await;
        if idle.len() < self.max_idle && !conn.has_broken() {
            idle.push(conn);
        }
    }

    /// EHLO (and AUTH when configured), then MAIL FROM `from` and RSET,
    /// which sends nothing: for `check --connect`. A relay that refuses
    /// every session like ours says so at MAIL FROM.
    pub async fn test(&self, from: &str) -> Result<(), String> {
        use lettre::transport::smtp::commands::{Mail, Rset};
        let mut c = self.connect().await.map_err(|e| e.to_string())?;
        let from: Address = from
            .parse()
            .map_err(|e| format!("bad sender address {from}: {e}"))?;
        let mail = tokio::time::timeout(self.timeout, c.command(Mail::new(Some(from), vec![])))
            .await
            .map_err(|_| format!("MAIL FROM: no answer within {} s", self.timeout.as_secs()))?;
        if let Err(e) = mail {
            c.abort().await;
            return Err(if wants_tls_or_login(&e) {
                format!("MAIL FROM: {e} ({WANTS_TLS_OR_LOGIN})")
            } else {
                format!("MAIL FROM: {e}")
            });
        }
        let _ = c.command(Rset).await;
        let _ = c.quit().await;
        Ok(())
    }
}
