//! The message around the rendered parts: addresses, Message-ID and
//! threading headers, the subject tidied, RFC 3834's Auto-Submitted, the
//! text and html alternatives.

use super::*;

impl Renderer {
    /// The message as a lettre `Message` (for a lettre transport, or
    /// `.formatted()` for the bytes).
    pub fn build_message(
        &self,
        out: &Outgoing,
        env: &Envelope,
    ) -> Result<lettre::Message, RenderError> {
        let parts = self.render_parts_on(out, Some(env.date.date_naive()))?;
        let from = to_lettre(&env.from)?;
        let mut b = lettre::Message::builder()
            .from(from.clone())
            .reply_to(from)
            .subject(parts.subject)
            .message_id(Some(format!("<{}>", msg_id(&env.message_id)?)));
        for m in &out.to {
            b = b.to(to_lettre(m)?);
        }
        for m in &out.cc {
            b = b.cc(to_lettre(m)?);
        }
        let parent = env.in_reply_to.as_deref().and_then(clean_msg_id);
        if let Some(p) = parent {
            b = b.in_reply_to(format!("<{p}>"));
        }
        let refs = references(&env.references, parent);
        if !refs.is_empty() {
            let joined: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
            b = b.references(joined.join(" "));
        }
        // RFC 3834: what keeps auto-responders (and our own filter) from
        // answering us. `X-Auto-Response-Suppress` is Exchange's equivalent
        // (no out-of-office, no read receipts). No `Precedence: bulk`: it is
        // non-standard (RFC 3834 §3.1.8 discourages it), and Gmail/Outlook
        // rules treat it as a newsletter (tabs, junk, "low priority"), which
        // hides mail that asks a person to act. The Auto-Submitted header and
        // the per-recipient daily cap are the loop protection.
        b = b
            .raw_header(raw("Auto-Submitted", out.kind.auto_submitted()))
            .raw_header(raw("X-Auto-Response-Suppress", "All"))
            .raw_header(raw("X-Crossdesk-Kind", out.kind.name()));
        // Our own loop marker: `X-Loop` names the workflow address, by which
        // the filter (and procmail, Request Tracker) knows our mail even when
        // a relay rewrote the From and dropped Auto-Submitted.
        // `X-Crossdesk-Id` names the item the mail is about.
        b = b.raw_header(raw("X-Loop", &env.from.address));
        if let Some(id) = out.item.as_deref().and_then(clean_msg_id) {
            b = b.raw_header(raw("X-Crossdesk-Id", id));
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::plain(parts.text))
            .singlepart(SinglePart::html(parts.html));
        let mut msg = if env.files.is_empty() {
            b.multipart(body)?
        } else {
            let mut mixed = MultiPart::mixed().multipart(body);
            for f in &env.files {
                mixed = mixed.singlepart(file_part(f));
            }
            b.multipart(mixed)?
        };
        // lettre's Date header is always UTC; keep the configured offset so
        // that the raw header reads as local time. ASCII only, no injection.
        let date = env.date.to_rfc2822();
        msg.headers_mut()
            .insert_raw(HeaderValue::dangerous_new_pre_encoded(
                HeaderName::new_from_ascii_str("Date"),
                date.clone(),
                date,
            ));
        Ok(msg)
    }

    /// The full RFC 5322 message (CRLF line ends), ready for SMTP.
    pub fn render_message(&self, out: &Outgoing, env: &Envelope) -> Result<Vec<u8>, RenderError> {
        Ok(self.build_message(out, env)?.formatted())
    }
}

/// One attached file. The name is written twice, as the clients people
/// use read it: RFC 2231 (`filename*=utf-8''…`) in Content-Disposition,
/// and an RFC 2047 word in Content-Type's `name` (what older Outlook and
/// Foxmail show). The bytes go in base64 whatever they are, so a text file
/// arrives byte for byte (no line-end rewriting).
fn file_part(f: &OutFile) -> SinglePart {
    use lettre::message::header::{ContentDisposition, ContentTransferEncoding, ContentType};
    use lettre::message::Body;
    let name = one_line(&f.name);
    let ascii_safe = name
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    let quoted = if ascii_safe {
        name.clone()
    } else {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
        format!("=?UTF-8?B?{b64}?=")
    };
    let ctype = ContentType::parse(&format!("{}; name=\"{quoted}\"", f.content_type))
        .or_else(|_| ContentType::parse(&format!("application/octet-stream; name=\"{quoted}\"")))
        .unwrap_or(ContentType::parse("application/octet-stream").expect("a valid type"));
    SinglePart::builder()
        .header(ctype)
        .header(ContentDisposition::attachment(&name))
        .body(
            Body::new_with_encoding(f.bytes.clone(), ContentTransferEncoding::Base64)
                .unwrap_or_else(Body::new),
        )
}

/// A custom header through lettre's encoder (RFC 2047 and folding: a value
/// cannot break out of its line).
pub(super) fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

pub(super) fn to_lettre(m: &Mailbox) -> Result<lettre::message::Mailbox, RenderError> {
    let address: lettre::Address =
        m.address
            .parse()
            .map_err(|e: lettre::address::AddressError| RenderError::Address {
                address: m.address.clone(),
                msg: e.to_string(),
            })?;
    let name = m.name.as_deref().map(one_line).filter(|n| !n.is_empty());
    Ok(lettre::message::Mailbox::new(name, address))
}

/// A message id without `<>` if it is one (printable ASCII, no spaces).
pub(super) fn clean_msg_id(s: &str) -> Option<&str> {
    let s = s.trim();
    let s = s.strip_prefix('<').unwrap_or(s);
    let s = s.strip_suffix('>').unwrap_or(s);
    (!s.is_empty()
        && s.bytes()
            .all(|c| (0x21..=0x7e).contains(&c) && c != b'<' && c != b'>'))
    .then_some(s)
}

pub(super) fn msg_id(s: &str) -> Result<&str, RenderError> {
    clean_msg_id(s).ok_or_else(|| RenderError::MessageId(s.to_string()))
}

/// The References list: the thread's root and the last few, the parent
/// last; invalid ids and duplicates dropped.
pub(super) fn references<'a>(refs: &'a [String], parent: Option<&'a str>) -> Vec<&'a str> {
    let mut all: Vec<&str> = Vec::with_capacity(refs.len() + 1);
    for r in refs.iter().filter_map(|r| clean_msg_id(r)) {
        if !all.contains(&r) {
            all.push(r);
        }
    }
    if let Some(p) = parent {
        all.retain(|r| *r != p);
        all.push(p);
    }
    if all.len() > MAX_REFERENCES_TAIL + 1 {
        let tail = all.split_off(all.len() - MAX_REFERENCES_TAIL);
        all.truncate(1);
        all.extend(tail);
    }
    all
}

/// Control characters and line breaks → one space; runs of white space
/// collapsed.
pub(super) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// One line, capped, `[<id>] ` first unless the template already put the
/// bracketed id in.
pub(super) fn tidy_subject(s: &str, item: Option<&str>) -> String {
    let mut line = one_line(s);
    if line.chars().count() > MAX_SUBJECT_CHARS {
        line = line.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        line.push('…');
    }
    match item.map(str::trim).filter(|i| !i.is_empty()) {
        Some(id) => {
            let tag = format!("[{id}]");
            if line
                .to_ascii_lowercase()
                .contains(&tag.to_ascii_lowercase())
            {
                line
            } else if line.is_empty() {
                tag
            } else {
                format!("{tag} {line}")
            }
        }
        None => line,
    }
}

/// Trailing spaces removed, runs of blank lines collapsed to one (templates
/// can then use `{{#if}}` blocks on their own lines freely), one final
/// newline.
pub(super) fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    let mut blank = 0usize;
    for line in s.lines() {
        let mut line = line.trim_end();
        // The signature separator is "-- " with its space (RFC 3676 §4.3).
        if line == "--" {
            line = "-- ";
        }
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() && blank > 0 {
            out.push('\n');
        }
        blank = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}
