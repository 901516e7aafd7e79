//! Raw bytes → `Inbound` (mail-parser 0.11 plus crossdesk's own fixes).
//!
//! mail-parser finds the structure (headers, MIME parts, transfer
//! encodings); crossdesk re-reads from the raw bytes whatever it gets wrong
//! (see /work/shared/MAILPARSER.md): header text is decoded here (encoded-words
//! joined per charset, raw GBK, aliases, controls stripped), ids are taken
//! from the raw header text, text parts with unknown charsets are re-decoded,
//! format=flowed is applied, HTML-only mail goes through html2text, and the
//! quoted thread and signatures are cut off (`strip_quotes`).
//!
//! Nesting: mail-parser builds one `Message` per `message/rfc822` level, and
//! both dropping that tree and its `into_owned` (for base64-encoded
//! `message/rfc822` parts) recurse once per level — a few thousand levels
//! abort the process. A part can only become a nested message when its
//! Content-Type subtype is `rfc822` or `global` (or its parent is
//! `multipart/digest`), and mail-parser compares those tokens as contiguous
//! raw bytes. So before parsing, the raw bytes are scanned for those three
//! words (any case); if one occurs, a same-length copy with every occurrence
//! neutralised (`rfc822` → `x-r822`, …) is parsed instead. mail-parser then
//! never builds a nested message at all, whatever the depth or encoding.
//! Everything user-visible is read from the *original* bytes at the same
//! offsets, so the substitution never shows; a bounce's quoted original is
//! found by its (neutralised) part type and read with a header-only scan.

mod attach;
mod body;
mod header;
mod html;
mod quotes;

pub(crate) use attach::attachment_bytes;
pub use quotes::strip_quotes;

use super::Inbound;
use crate::model::{sha256_hex, valid_address, Mailbox};
use body::{normalize, part_bytes, unflow};
use header::{
    clean_text, decode_charset, decode_header, extract_ids, lookup_charset, quote_encoded_words,
};
use mail_parser::{
    Addr, Address, HeaderName, HeaderValue, MessageParser, MessagePart, MimeHeaders, PartType,
};
use std::borrow::Cow;
use std::sync::LazyLock;

/// Why a message could not be read at all (it is set aside with this text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not a mail message: {0}")]
    NotMail(String),
    #[error("message too large: {size} bytes (limit {limit})")]
    TooLarge { size: usize, limit: usize },
}

/// Largest message parsed at all (64 MiB), checked before any parsing;
/// `[limits] max_message_bytes` sets the limit acted on (40 MiB unless
/// configured: a 25 MB attachment is 34 MB in base64).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Most References ids kept (the first, the root, plus the newest ones).
const MAX_REFERENCES: usize = 200;

/// How much of a bounce part is searched for the original's Message-ID.
const BOUNCE_SCAN_LIMIT: usize = 64 * 1024;

/// One parser for the process: only what the MIME structure needs and the
/// address/date headers are parsed by mail-parser; every other header is
/// skipped (its offsets kept) because crossdesk decodes it from the raw bytes.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .header_address(HeaderName::From)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_date(HeaderName::Date)
        .default_header_ignore()
});

/// Parses one raw message.
pub fn parse(raw: &[u8]) -> Result<Inbound, ParseError> {
    if raw.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::TooLarge {
            size: raw.len(),
            limit: MAX_MESSAGE_SIZE,
        });
    }
    let defused = defuse_nesting(raw);
    let view: &[u8] = defused.as_deref().unwrap_or(raw);
    let msg = PARSER
        .parse(view)
        .ok_or_else(|| ParseError::NotMail("no header block".into()))?;
    build(raw, &msg, defused.is_some())
}

/// The sender's address and the subject of a message that is set aside
/// without being parsed (too large, unreadable, or condemned by the crash
/// guard), for `crossdesk set-aside`: read from the raw header block by a
/// plain byte scan, folds joined, each at most 200 characters. `decode`
/// decodes the subject's encoded-words with crossdesk's own header decoder;
/// without it (a message the daemon died with: nothing that could have
/// killed it is run again) the subject is shown as its raw bytes say.
pub fn glance(raw: &[u8], decode: bool) -> (String, String) {
    const MAX_HEADER: usize = 64 * 1024;
    const MAX_CHARS: usize = 200;
    let head = &raw[..raw.len().min(MAX_HEADER)];
    let end = head
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| head.windows(4).position(|w| w == b"\r\n\r\n"))
        .unwrap_or(head.len());
    let head = &head[..end];
    // The value of the first field named `name`, folds joined.
    let field = |name: &[u8]| -> Option<Vec<u8>> {
        let mut lines = head.split(|&b| b == b'\n').peekable();
        while let Some(line) = lines.next() {
            let is_it = line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name)
                && line[name.len()] == b':';
            if !is_it {
                continue;
            }
            let mut v = line[name.len() + 1..].to_vec();
            while let Some(next) =
                lines.next_if(|l| l.first().is_some_and(|b| *b == b' ' || *b == b'\t'))
            {
                v.extend_from_slice(next);
            }
            v.retain(|&b| b != b'\r');
            return Some(v);
        }
        None
    };
    let cut = |s: &str| -> String {
        s.chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .filter(|c| !c.is_control())
            .take(MAX_CHARS)
            .collect::<String>()
            .trim()
            .to_string()
    };
    let subject = field(b"subject")
        .map(|v| {
            if decode {
                cut(&header::decode_header(&v))
            } else {
                cut(&String::from_utf8_lossy(&v))
            }
        })
        .unwrap_or_default();
    let sender = field(b"from")
        .map(|v| {
            let v = String::from_utf8_lossy(&v);
            let addr = match (v.rfind('<'), v.rfind('>')) {
                (Some(a), Some(b)) if a < b => &v[a + 1..b],
                _ => v.as_ref(),
            };
            cut(&addr.trim().to_lowercase())
        })
        .unwrap_or_default();
    (sender, subject)
}

// ---------------------------------------------------------------- nesting

/// The Content-Type subtypes that make mail-parser nest a message, and the
/// same-length tokens they are replaced with.
const NEST_TOKENS: [(&[u8; 6], &[u8; 6], &str); 3] = [
    (b"rfc822", b"x-r822", "rfc822"),
    (b"global", b"x-glbl", "global"),
    (b"digest", b"x-dgst", "digest"),
];

fn is_nest_token(w: &[u8]) -> Option<&'static [u8; 6]> {
    NEST_TOKENS
        .iter()
        .find(|(t, _, _)| w.eq_ignore_ascii_case(&t[..]))
        .map(|(_, r, _)| *r)
}

/// The first position at or after `from` where a nesting token starts.
/// Works on 64-byte blocks with a branch-free trigram pre-check the compiler
/// vectorises, so ordinary mail costs a fraction of a nanosecond per byte.
fn find_nest_token(raw: &[u8], from: usize) -> Option<usize> {
    if raw.len() < 6 {
        return None;
    }
    let last = raw.len() - 6;
    let mut i = from;
    while i <= last {
        let end = (i + 64).min(last + 1);
        let (a, b, c) = (&raw[i..end], &raw[i + 1..end + 1], &raw[i + 2..end + 2]);
        let mut hit = false;
        for k in 0..a.len() {
            let (x, y, z) = (a[k] | 0x20, b[k] | 0x20, c[k] | 0x20);
            hit |= ((x == b'r') & (y == b'f') & (z == b'c'))
                | ((x == b'g') & (y == b'l') & (z == b'o'))
                | ((x == b'd') & (y == b'i') & (z == b'g'));
        }
        if hit {
            if let Some(k) = (i..end).find(|&k| is_nest_token(&raw[k..k + 6]).is_some()) {
                return Some(k);
            }
        }
        i = end;
    }
    None
}

/// A copy of `raw` with every nesting token neutralised, or `None` when the
/// message has none (the usual case: no copy at all).
fn defuse_nesting(raw: &[u8]) -> Option<Vec<u8>> {
    let mut pos = find_nest_token(raw, 0)?;
    let mut copy = raw.to_vec();
    loop {
        if let Some(rep) = is_nest_token(&raw[pos..pos + 6]) {
            copy[pos..pos + 6].copy_from_slice(rep);
        }
        match find_nest_token(raw, pos + 6) {
            Some(p) => pos = p,
            None => return Some(copy),
        }
    }
}

/// Undoes the neutralisation in a (lower-case) MIME type token.
fn restore_tokens(s: &str) -> Cow<'_, str> {
    if !s.contains("x-") {
        return Cow::Borrowed(s);
    }
    let mut out = s.to_string();
    for (_, rep, orig) in NEST_TOKENS {
        // The replacement tokens are ASCII.
        let rep = std::str::from_utf8(rep).unwrap_or_default();
        if out.contains(rep) {
            out = out.replace(rep, orig);
        }
    }
    Cow::Owned(out)
}

// ---------------------------------------------------------------- building

/// Header names kept in `Inbound::headers` (lower-case).
fn wanted_header(name: &HeaderName<'_>) -> Option<&'static str> {
    Some(match name {
        HeaderName::AutoSubmitted => "auto-submitted",
        HeaderName::ListId => "list-id",
        HeaderName::ListUnsubscribe => "list-unsubscribe",
        HeaderName::ListPost => "list-post",
        HeaderName::AuthenticationResults => "authentication-results",
        HeaderName::ReturnPath => "return-path",
        HeaderName::Sender => "sender",
        HeaderName::ReplyTo => "reply-to",
        HeaderName::Other(n) => {
            const OTHER: &[&str] = &[
                "x-autoreply",
                "x-autorespond",
                "precedence",
                "x-auto-response-suppress",
                "x-ms-exchange-inbox-rules-loop",
                "mailing-list",
                "x-loop",
                "x-crossdesk-id",
                "x-crossdesk-kind",
                "x-mailer",
                "user-agent",
                "x-failed-recipients",
            ];
            return OTHER.iter().copied().find(|w| n.eq_ignore_ascii_case(w));
        }
        _ => return None,
    })
}

fn build(raw: &[u8], msg: &mail_parser::Message<'_>, defused: bool) -> Result<Inbound, ParseError> {
    let root = msg
        .parts
        .first()
        .ok_or_else(|| ParseError::NotMail("no header block".into()))?;
    let mut inb = Inbound {
        size: raw.len(),
        ..Inbound::default()
    };
    let mut subject: Option<String> = None;
    let mut return_path_seen = false;
    let mut mail_headers = 0usize;

    for h in &root.headers {
        let v = raw
            .get(h.offset_start as usize..h.offset_end as usize)
            .unwrap_or_default();
        match &h.name {
            HeaderName::Subject => {
                mail_headers += 1;
                if subject.is_none() {
                    subject = Some(decode_header(v));
                }
            }
            HeaderName::MessageId => {
                mail_headers += 1;
                if inb.message_id.is_none() {
                    inb.message_id = extract_ids(v).into_iter().next();
                }
            }
            HeaderName::InReplyTo => inb.in_reply_to.extend(extract_ids(v)),
            HeaderName::References => inb.references.extend(extract_ids(v)),
            HeaderName::From => {
                mail_headers += 1;
                if inb.from.is_none() {
                    let mut list = Vec::new();
                    mailboxes(&h.value, v, defused, true, &mut list);
                    inb.from = list.into_iter().next();
                }
            }
            HeaderName::To => {
                mail_headers += 1;
                mailboxes(&h.value, v, defused, false, &mut inb.to);
            }
            HeaderName::Cc => mailboxes(&h.value, v, defused, false, &mut inb.cc),
            HeaderName::Date => {
                mail_headers += 1;
                if inb.date.is_none() {
                    inb.date = h.value.as_datetime().and_then(rfc3339);
                }
            }
            HeaderName::Other(n) if n.eq_ignore_ascii_case("x-microsoft-original-message-id") => {
                if inb.ms_original_id.is_none() {
                    inb.ms_original_id = extract_ids(v).into_iter().next();
                }
            }
            name => {
                if let Some(lc) = wanted_header(name) {
                    let value = decode_header(v);
                    if lc == "return-path" && !return_path_seen {
                        return_path_seen = true;
                        inb.return_path_empty = value
                            .chars()
                            .filter(|c| !c.is_whitespace())
                            .eq("<>".chars());
                    }
                    inb.headers.push((lc.to_string(), value));
                }
            }
        }
    }
    if mail_headers == 0 && root.content_type().is_none() {
        return Err(ParseError::NotMail(
            "no From, To, Subject, Date or Message-ID header".into(),
        ));
    }

    if inb.references.len() > MAX_REFERENCES {
        let keep_from = inb.references.len() - (MAX_REFERENCES - 1);
        inb.references.drain(1..keep_from);
    }
    inb.subject = subject.unwrap_or_default();
    inb.dedupe_key = match &inb.message_id {
        Some(id) => format!("mid:{id}"),
        None => format!("sha256:{}", sha256_hex(raw)),
    };
    inb.content_type = match root.content_type() {
        Some(ct) => {
            let mut s = ct.ctype().to_ascii_lowercase();
            s.push('/');
            s.push_str(&ct.subtype().unwrap_or("").to_ascii_lowercase());
            if defused {
                restore_tokens(&s).into_owned()
            } else {
                s
            }
        }
        None => "text/plain".to_string(),
    };

    inb.body = strip_quotes(&body_text(raw, msg, defused));
    inb.attachments = attach::attachments(msg, raw);

    let from_local = inb
        .from
        .as_ref()
        .map(|m| m.address.split('@').next().unwrap_or(""))
        .unwrap_or("");
    if inb.content_type == "multipart/report"
        || from_local.eq_ignore_ascii_case("mailer-daemon")
        || from_local.eq_ignore_ascii_case("postmaster")
        || inb.return_path_empty
    {
        inb.bounced_message_id = bounced_id(raw, msg, defused);
    }
    Ok(inb)
}

/// Adds the mailboxes of an address header. The address comes from
/// mail-parser's parse of the raw value, never from a display name; names
/// are cleaned of controls and Outlook's 'quotes'. The value is re-parsed
/// from the original bytes when mail-parser's result cannot be trusted: raw
/// 8-bit (GBK) bytes, a neutralised copy, or a display name it could not
/// decode (an unknown charset, a character split across encoded-words).
fn mailboxes(
    value: &HeaderValue<'_>,
    raw_value: &[u8],
    defused: bool,
    lenient: bool,
    out: &mut Vec<Mailbox>,
) {
    let broken_name = |a: &Addr<'_>| {
        a.name
            .as_deref()
            .is_some_and(|n| n.contains('\u{FFFD}') || n.contains("=?"))
    };
    let names_broken = match value.as_address() {
        Some(Address::List(l)) => l.iter().any(broken_name),
        Some(Address::Group(g)) => g.iter().flat_map(|g| g.addresses.iter()).any(broken_name),
        None => false,
    };
    if !(defused || names_broken || std::str::from_utf8(raw_value).is_err()) {
        push_address(value.as_address(), lenient, out);
        return;
    }
    let text = decode_charset(None, raw_value);
    let text = if text.contains("=?") {
        Cow::Owned(quote_encoded_words(&text))
    } else {
        text
    };
    let parsed = mail_parser::parsers::MessageStream::new(text.as_bytes()).parse_address();
    push_address(parsed.as_address(), lenient, out);
}

fn push_address(addr: Option<&Address<'_>>, lenient: bool, out: &mut Vec<Mailbox>) {
    let Some(addr) = addr else { return };
    let mut push = |a: &Addr<'_>| {
        if let Some(m) = mailbox(a, lenient) {
            out.push(m);
        }
    };
    match addr {
        Address::List(list) => list.iter().for_each(&mut push),
        Address::Group(groups) => groups
            .iter()
            .flat_map(|g| g.addresses.iter())
            .for_each(&mut push),
    }
}

/// `lenient` (for From) also accepts a bare local part such as
/// `MAILER-DAEMON`, so the filter can see it.
fn mailbox(a: &Addr<'_>, lenient: bool) -> Option<Mailbox> {
    let address = clean_text(a.address.as_deref()?);
    let ok = if lenient {
        !address.is_empty()
            && !address
                .chars()
                .any(|c| c.is_whitespace() || c == '<' || c == '>')
            && address.matches('@').count() <= 1
    } else {
        valid_address(&address)
    };
    if !ok {
        return None;
    }
    let name = a.name.as_deref().map(clean_text);
    let name = name
        .as_deref()
        .map(|n| n.trim_matches(|c: char| c == '\'' || c == '"' || c.is_whitespace()));
    Some(Mailbox::new(name, &address))
}

fn rfc3339(d: &mail_parser::DateTime) -> Option<String> {
    use chrono::{FixedOffset, NaiveDate};
    if !d.is_valid() {
        return None;
    }
    let secs =
        (d.tz_hour as i32 * 3600 + d.tz_minute as i32 * 60) * if d.tz_before_gmt { -1 } else { 1 };
    let tz = FixedOffset::east_opt(secs)?;
    let dt = NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32)?
        .and_hms_opt(d.hour as u32, d.minute as u32, d.second as u32)?
        .and_local_timezone(tz)
        .single()?;
    Some(dt.to_rfc3339())
}

// ---------------------------------------------------------------- body

/// The text of a text part, re-decoded from the raw bytes when mail-parser's
/// decoding cannot be trusted: a charset label it does not know (it falls
/// back to lossy UTF-8 silently), no label and invalid UTF-8, a transfer
/// encoding problem, or a neutralised copy.
fn part_text<'m>(raw: &[u8], p: &'m MessagePart<'_>, defused: bool) -> Cow<'m, str> {
    let (PartType::Text(t) | PartType::Html(t)) = &p.body else {
        return Cow::Borrowed("");
    };
    let label = p.content_type().and_then(|ct| ct.attribute("charset"));
    let redecode = defused
        || p.is_encoding_problem
        || match label {
            Some(l) if header::is_ascii_label(l) => !t.is_ascii(),
            Some(l) => {
                mail_parser::decoders::charsets::map::charset_decoder(l.as_bytes()).is_none()
                    && (lookup_charset(l).is_some_and(|e| e != encoding_rs::UTF_8)
                        || t.contains('\u{FFFD}'))
            }
            None => t.contains('\u{FFFD}'),
        };
    if redecode {
        let bytes = part_bytes(raw, p);
        Cow::Owned(decode_charset(label, &bytes).into_owned())
    } else {
        Cow::Borrowed(t.as_ref())
    }
}

/// The body as the sender wrote it: the text/plain parts (format=flowed
/// applied), or, for HTML-only mail, the HTML parts through html2text.
fn body_text(raw: &[u8], msg: &mail_parser::Message<'_>, defused: bool) -> String {
    let parts = |ids: &[u32]| -> Vec<&MessagePart<'_>> {
        ids.iter()
            .filter_map(|&id| msg.parts.get(id as usize))
            .collect()
    };
    let text_parts = parts(&msg.text_body);
    let plain: Vec<&MessagePart<'_>> = text_parts
        .iter()
        .copied()
        .filter(|p| matches!(p.body, PartType::Text(_)))
        .collect();
    let mut out = String::new();
    if !plain.is_empty() {
        for p in plain {
            let text = normalize(&part_text(raw, p, defused));
            let ct = p.content_type();
            let flowed = ct
                .and_then(|c| c.attribute("format"))
                .is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
            let text = if flowed {
                let delsp = ct
                    .and_then(|c| c.attribute("delsp"))
                    .is_some_and(|d| d.eq_ignore_ascii_case("yes"));
                unflow(&text, delsp)
            } else {
                text
            };
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&text);
        }
        return out;
    }
    let mut html_parts: Vec<&MessagePart<'_>> = text_parts
        .into_iter()
        .filter(|p| matches!(p.body, PartType::Html(_)))
        .collect();
    if html_parts.is_empty() {
        html_parts = parts(&msg.html_body)
            .into_iter()
            .filter(|p| matches!(p.body, PartType::Html(_)))
            .collect();
    }
    for p in html_parts {
        let text = normalize(&html::html_to_text(&part_text(raw, p, defused)));
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&text);
    }
    out
}

// ---------------------------------------------------------------- bounces

/// The Message-ID of the original a bounce reports on: from its quoted
/// original (`message/rfc822`, `message/global`) or returned headers
/// (`text/rfc822-headers`), else from an `Original-Message-ID:` or
/// `Message-ID:` line in the report's other parts.
fn bounced_id(raw: &[u8], msg: &mail_parser::Message<'_>, defused: bool) -> Option<String> {
    let leaves: Vec<&MessagePart<'_>> = if msg.parts.len() == 1 {
        msg.parts.iter().collect()
    } else {
        msg.parts
            .iter()
            .skip(1)
            .filter(|p| !matches!(p.body, PartType::Multipart(_)))
            .collect()
    };
    for p in &leaves {
        let Some(ct) = p.content_type() else { continue };
        let sub = ct.subtype().unwrap_or("");
        let sub = if defused {
            restore_tokens(sub)
        } else {
            Cow::Borrowed(sub)
        };
        let quoted = (ct.ctype().eq_ignore_ascii_case("message")
            && (sub.eq_ignore_ascii_case("rfc822") || sub.eq_ignore_ascii_case("global")))
            || sub.eq_ignore_ascii_case("rfc822-headers")
            || sub.eq_ignore_ascii_case("global-headers");
        if quoted {
            let bytes = part_bytes(raw, p);
            if let Some(id) = header_line_id(&bytes, "message-id", true) {
                return Some(id);
            }
        }
    }
    for name in ["original-message-id", "message-id"] {
        for p in &leaves {
            let bytes = if msg.parts.len() == 1 {
                // Single-part bounce: its body only, never its own headers.
                Cow::Borrowed(
                    raw.get(p.offset_body as usize..p.offset_end as usize)
                        .unwrap_or_default(),
                )
            } else {
                part_bytes(raw, p)
            };
            if let Some(id) = header_line_id(&bytes, name, false) {
                return Some(id);
            }
        }
    }
    None
}

/// The first id of a `name:` line (folded continuation lines included).
/// With `header_block`, only the lines before the first blank line count.
fn header_line_id(bytes: &[u8], name: &str, header_block: bool) -> Option<String> {
    let bytes = &bytes[..bytes.len().min(BOUNCE_SCAN_LIMIT)];
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if header_block && line.is_empty() {
            return None;
        }
        let n = name.len();
        if line.len() > n && line[..n].eq_ignore_ascii_case(name.as_bytes()) && line[n] == b':' {
            let mut value = line[n + 1..].to_vec();
            while let Some(next) = lines.peek() {
                if next.first().is_some_and(|&c| c == b' ' || c == b'\t') {
                    value.extend_from_slice(next);
                    lines.next();
                } else {
                    break;
                }
            }
            if let Some(id) = extract_ids(&value).into_iter().next() {
                return Some(id);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nest_tokens_are_found_in_any_case_and_position() {
        assert_eq!(
            find_nest_token(b"Content-Type: message/RFC822\r\n", 0),
            Some(22)
        );
        assert_eq!(find_nest_token(b"gLoBaL", 0), Some(0));
        let mut long = vec![b'a'; 1000];
        long.extend_from_slice(b"digest");
        assert_eq!(find_nest_token(&long, 0), Some(1000));
        assert_eq!(find_nest_token(b"nothing to see here, rfc 822", 0), None);
        assert_eq!(find_nest_token(b"rfc82", 0), None);
    }

    #[test]
    fn defused_copy_has_same_length_and_no_tokens() {
        let raw = b"A: rfc822 Global DIGEST rfc822";
        let copy = defuse_nesting(raw).unwrap();
        assert_eq!(copy.len(), raw.len());
        assert_eq!(&copy[..], b"A: x-r822 x-glbl x-dgst x-r822");
        assert!(defuse_nesting(b"plain mail").is_none());
    }

    #[test]
    fn too_large_is_refused_before_parsing() {
        let raw = vec![b'a'; MAX_MESSAGE_SIZE + 1];
        assert!(matches!(parse(&raw), Err(ParseError::TooLarge { .. })));
    }

    #[test]
    fn garbage_is_not_mail() {
        assert!(matches!(
            parse(b"hello world\n"),
            Err(ParseError::NotMail(_))
        ));
        assert!(matches!(parse(b""), Err(ParseError::NotMail(_))));
    }

    fn nested(depth: usize) -> Vec<u8> {
        let mut m = b"From: a@corp.example\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\n".to_vec();
        for _ in 0..depth {
            m.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        m.extend_from_slice(b"Subject: inner\r\n\r\nbody\r\n");
        m
    }

    #[test]
    fn deep_rfc822_nesting_does_not_crash() {
        // 5,000 and 100,000 levels, inline and base64-encoded.
        for depth in [5_000, 100_000] {
            let m = parse(&nested(depth)).unwrap();
            assert_eq!(m.subject, "deep");
            assert_eq!(m.content_type, "message/rfc822");
        }
        let inner = nested(5_000);
        let mut enc = b"From: a@corp.example\r\nSubject: enc\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
        enc.extend_from_slice(b64(&inner).as_bytes());
        enc.extend_from_slice(b"\r\n--b--\r\n");
        let m = parse(&enc).unwrap();
        assert_eq!(m.body, "see attached");
    }

    #[test]
    fn digest_default_nesting_does_not_crash() {
        let mut m = b"From: a@corp.example\r\nSubject: digest\r\n".to_vec();
        for i in 0..5_000 {
            m.extend_from_slice(
                format!("Content-Type: multipart/digest; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        m.extend_from_slice(b"\r\nend\r\n");
        assert_eq!(parse(&m).unwrap().subject, "digest");
    }

    pub(super) fn b64(data: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for (i, c) in data.chunks(3).enumerate() {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for j in 0..4 {
                if j <= c.len() {
                    out.push(T[(n >> (18 - 6 * j) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
            if i % 19 == 18 {
                out.push_str("\r\n");
            }
        }
        out
    }

    #[test]
    fn hostile_inputs_stay_fast() {
        let mut subject = String::new();
        let mut html = String::new();
        let mut text = String::new();
        for _ in 0..100_000 {
            subject.push_str("=?a?B?x");
            html.push_str("<a \"x<div style=display:none><b>");
            text.push_str("From: x\n\n");
        }
        let cases = [
            format!("From: a@corp.example\r\nSubject: {subject}\r\n\r\nb\r\n"),
            format!(
                "From: a@corp.example\r\nSubject: h\r\nContent-Type: text/html\r\n\r\n{html}\r\n"
            ),
            format!("From: a@corp.example\r\nSubject: t\r\n\r\n{text}\r\n"),
        ];
        for raw in cases {
            let t = std::time::Instant::now();
            let m = parse(raw.as_bytes()).unwrap();
            assert!(
                t.elapsed().as_secs() < 20,
                "{:?} for {}",
                t.elapsed(),
                &raw[..60]
            );
            assert!(!m.subject.contains('\r'));
        }
    }

    #[test]
    fn body_text_keeps_tokens_of_a_defused_copy() {
        let raw = b"From: a@corp.example\r\nSubject: Global rollout\r\nMessage-ID: <global.1@corp.example>\r\n\r\nThe global rollout of rfc822 parsing.\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.subject, "Global rollout");
        assert_eq!(m.message_id.as_deref(), Some("global.1@corp.example"));
        assert_eq!(m.body, "The global rollout of rfc822 parsing.");
    }

    #[test]
    fn display_name_never_supplies_the_address() {
        let raw = b"From: \"boss@corp.example\" <evil@x.example>\r\nTo: =?utf-8?q?=E5=BC=A0=0D=0A?= <ZS@Corp.Example>, undisclosed:;\r\nSubject: t\r\n\r\nb\r\n";
        let m = parse(raw).unwrap();
        let from = m.from.unwrap();
        assert_eq!(from.address, "evil@x.example");
        assert_eq!(m.to.len(), 1);
        assert_eq!(m.to[0].address, "zs@corp.example");
        assert_eq!(m.to[0].name.as_deref(), Some("张"));
    }

    #[test]
    fn date_becomes_rfc3339() {
        let raw = b"From: a@corp.example\r\nDate: Fri, 20 Nov 2026 10:00:00 +0800\r\nSubject: t\r\n\r\nb\r\n";
        assert_eq!(
            parse(raw).unwrap().date.as_deref(),
            Some("2026-11-20T10:00:00+08:00")
        );
        let raw = b"From: a@corp.example\r\nDate: someday\r\nSubject: t\r\n\r\nb\r\n";
        assert_eq!(parse(raw).unwrap().date, None);
    }

    #[test]
    fn missing_message_id_gives_content_hash_key() {
        let raw = b"From: a@corp.example\r\nSubject: t\r\n\r\nb\r\n";
        let m = parse(raw).unwrap();
        assert!(m.dedupe_key.starts_with("sha256:") && m.dedupe_key.len() == 7 + 64);
        assert_eq!(m.message_id, None);
    }

    /// The glance at an unparsed message reads the header block only,
    /// joins folds, decodes on request, and cuts long values.
    #[test]
    fn a_glance_reads_the_header_block_only() {
        let raw = b"Received: x\nsubject: =?UTF-8?B?5rWL6K+V?=\n\t\x01more\nFROM: Bob\n\n\
            Subject: not this\nFrom: nor@this\n";
        assert_eq!(
            glance(raw, true),
            ("bob".to_string(), "测试 more".to_string())
        );
        assert_eq!(glance(raw, false).1, "=?UTF-8?B?5rWL6K+V?= more");
        assert_eq!(
            glance(b"no header block at all", true),
            (String::new(), String::new())
        );
        let long = format!("From: <a@b>\r\nSubject: {}\r\n\r\n", "长".repeat(500));
        let (from, subject) = glance(long.as_bytes(), true);
        assert_eq!((from.as_str(), subject.chars().count()), ("a@b", 200));
        // Invalid UTF-8 in a raw subject is shown, not refused.
        assert_eq!(glance(b"Subject: \xff ok\n\n", false).1, "\u{fffd} ok");
    }
}
