//! `Outgoing` → RFC 5322 bytes through the handlebars templates.
//! STUB until the template module lands.

use super::Outgoing;
use crate::mail::Mailbox;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Template(String),
}

pub struct Envelope {
    pub from: Mailbox,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub date: chrono::DateTime<chrono::FixedOffset>,
}

pub struct Renderer;

impl Renderer {
    pub fn new(dir: Option<&std::path::Path>) -> Result<Renderer, RenderError> {
        let _ = dir;
        Ok(Renderer)
    }

    pub fn render_message(&self, out: &Outgoing, env: &Envelope) -> Result<Vec<u8>, RenderError> {
        let to: Vec<String> = out.to.iter().map(|m| m.address.clone()).collect();
        Ok(format!(
            "From: {}\r\nTo: {}\r\nMessage-ID: <{}>\r\nSubject: [{}] {}\r\n\r\n{}\r\n",
            env.from.address,
            to.join(", "),
            env.message_id,
            out.item.clone().unwrap_or_default(),
            out.kind.name(),
            out.ctx.note
        )
        .into_bytes())
    }
}
