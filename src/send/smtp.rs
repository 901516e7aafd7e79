//! The SMTP sender (lettre on tokio, rustls): one pooled transport, each
//! mail sent with its own envelope; the answer is classified as sent,
//! transient (retry on the schedule) or permanent (recorded, not retried).

use super::SendError;
use crate::config::{Config, ServerUrl, SmtpConfig, TlsMode};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    pub url: ServerUrl,
}

fn tls_params(url: &ServerUrl, ca_pem: Option<&[u8]>) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(url.host.clone());
    if let Some(pem) = ca_pem {
        b = b
            .add_root_certificate(Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?);
    }
    b.build_rustls().map_err(|e| format!("tls: {e}"))
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
        let tls = match url.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_params(&url, ca.as_deref())?),
            TlsMode::Implicit => Tls::Wrapper(tls_params(&url, ca.as_deref())?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(60)))
            .pool_config(
                PoolConfig::new()
                    .max_size(smtp.pool)
                    .idle_timeout(Duration::from_secs(60)),
            );
        if let Some(user) = &smtp.user {
            let pass = cfg
                .read_secret("smtp", &smtp.secret())
                .map_err(|e| e.to_string())?;
            b = b.credentials(Credentials::new(user.clone(), pass));
        }
        Ok(SmtpSender {
            transport: b.build(),
            url,
        })
    }

    /// Sends one rendered message to `rcpts` with `from` as the envelope sender.
    pub async fn send(&self, from: &str, rcpts: &[String], bytes: &[u8]) -> Result<(), SendError> {
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
        let env = Envelope::new(Some(from), to)
            .map_err(|e| SendError::Permanent(format!("envelope: {e}")))?;
        match self.transport.send_raw(&env, bytes).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }

    /// EHLO (and AUTH when configured): for `check --connect`.
    pub async fn test(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "{}:{} did not answer NOOP",
                self.url.host, self.url.port
            )),
            Err(e) => Err(format!("{}:{}: {e}", self.url.host, self.url.port)),
        }
    }
}
