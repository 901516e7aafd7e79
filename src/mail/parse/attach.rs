//! The attachments of a mail: which parts are files the sender attached
//! (not the body, not an image that belongs to the HTML body or a
//! signature), their names as the sender's client wrote them, and where
//! their bytes are.
//!
//! Names are read from the part's raw header bytes rather than from
//! mail-parser's decoding: RFC 2231 continuations are joined as bytes
//! before the charset is applied (a UTF-8 sequence split between
//! `filename*0*` and `filename*1*` decodes right), RFC 2047 words inside a
//! quoted `name="=?gb2312?B?…?="` (Outlook, Foxmail, Gmail) go through
//! crossdesk's own header decoder, and raw 8-bit GBK names are decoded as
//! GB18030.

use super::header::{decode_charset, decode_header};
use crate::mail::{Attachment, TransferEncoding};
use mail_parser::{HeaderName, MessagePart, MimeHeaders, PartType};

/// Longest file name kept (characters); longer ones keep their extension.
const MAX_NAME_CHARS: usize = 180;

/// The attached files of a parsed message, in the order they appear.
pub(super) fn attachments(msg: &mail_parser::Message<'_>, raw: &[u8]) -> Vec<Attachment> {
    if msg.attachments.is_empty() {
        return vec![];
    }
    // Each part's parent: mail-parser keeps parts flat, multiparts listing
    // their children.
    let mut parent: Vec<Option<usize>> = vec![None; msg.parts.len()];
    for (i, p) in msg.parts.iter().enumerate() {
        if let PartType::Multipart(children) = &p.body {
            for &c in children.iter() {
                if let Some(slot) = parent.get_mut(c as usize) {
                    *slot = Some(i);
                }
            }
        }
    }
    let mut out = Vec::new();
    for &id in &msg.attachments {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let ctype = content_type(part);
        let disposition = part
            .content_disposition()
            .map(|d| d.ctype().to_ascii_lowercase())
            .unwrap_or_default();
        let in_related = parent[id as usize]
            .and_then(|p| msg.parts.get(p))
            .and_then(|p| p.content_type())
            .is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("multipart")
                    && ct
                        .subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("related"))
            });
        let has_cid = part.content_id().is_some();
        // An image the HTML body shows (Outlook's image001.png, a Foxmail
        // signature logo): inline in a multipart/related, or inline with a
        // Content-ID. A part the sender marked `attachment` is always a file.
        if disposition != "attachment" && (in_related || (has_cid && ctype.starts_with("image/"))) {
            continue;
        }
        let name = file_name(part, raw)
            .map(|n| clean_name(&n))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_name(&ctype, out.len() + 1));
        let encoding = match part.content_transfer_encoding() {
            Some(e) if e.eq_ignore_ascii_case("base64") => TransferEncoding::Base64,
            Some(e) if e.eq_ignore_ascii_case("quoted-printable") => {
                TransferEncoding::QuotedPrintable
            }
            _ => TransferEncoding::Identity,
        };
        let (start, end) = (part.offset_body as usize, part.offset_end as usize);
        out.push(Attachment {
            name,
            content_type: ctype,
            start,
            end: end.max(start).min(raw.len()),
            encoding,
        });
    }
    out
}

/// The part's MIME type, lower-case, with the nesting tokens put back
/// (`message/rfc822` was parsed as `message/x-r822`).
fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => {
            let mut s = ct.ctype().to_ascii_lowercase();
            s.push('/');
            s.push_str(&ct.subtype().unwrap_or("octet-stream").to_ascii_lowercase());
            super::restore_tokens(&s).into_owned()
        }
        None => "application/octet-stream".to_string(),
    }
}

/// The raw value bytes of the part's first header named `name`.
fn raw_header<'r>(part: &MessagePart<'_>, raw: &'r [u8], name: HeaderName<'_>) -> Option<&'r [u8]> {
    part.headers
        .iter()
        .find(|h| h.name == name)
        .and_then(|h| raw.get(h.offset_start as usize..h.offset_end as usize))
}

/// The file name: Content-Disposition's `filename` (RFC 2231 form first),
/// else Content-Type's `name`.
fn file_name(part: &MessagePart<'_>, raw: &[u8]) -> Option<String> {
    let from = |header: HeaderName<'_>, param: &str| -> Option<String> {
        let params = params(raw_header(part, raw, header)?);
        extended(&params, param).or_else(|| {
            params
                .iter()
                .find(|(n, _)| n == param)
                .map(|(_, v)| plain_value(v))
        })
    };
    from(HeaderName::ContentDisposition, "filename")
        .filter(|n| !n.trim().is_empty())
        .or_else(|| from(HeaderName::ContentType, "name"))
        .filter(|n| !n.trim().is_empty())
}

/// A plain (RFC 2045) parameter value: RFC 2047 words inside it decoded
/// (non-standard, and what most clients send), raw 8-bit decoded as UTF-8
/// or else GB18030.
fn plain_value(v: &[u8]) -> String {
    decode_header(v)
}

/// RFC 2231: `param*=charset'lang'%E4%B8%AD…`, or the continuations
/// `param*0*=…; param*1*=…; param*2=…` (those with `*` percent-encoded),
/// joined as bytes and then decoded with the first segment's charset.
fn extended(params: &[(String, Vec<u8>)], param: &str) -> Option<String> {
    let mut segs: Vec<(u32, bool, &[u8])> = Vec::new();
    for (n, v) in params {
        let Some(rest) = n.strip_prefix(param).and_then(|r| r.strip_prefix('*')) else {
            continue;
        };
        if rest.is_empty() {
            segs.push((0, true, v));
            continue;
        }
        let (num, enc) = match rest.strip_suffix('*') {
            Some(num) => (num, true),
            None => (rest, false),
        };
        if let Ok(k) = num.parse::<u32>() {
            segs.push((k, enc, v));
        }
    }
    if segs.is_empty() {
        return None;
    }
    segs.sort_by_key(|s| s.0);
    let mut charset: Option<String> = None;
    let mut bytes = Vec::new();
    for (i, (_, enc, v)) in segs.iter().enumerate() {
        let mut v: &[u8] = v;
        if i == 0 && *enc {
            // charset'language'value
            let mut it = v.splitn(3, |&b| b == b'\'');
            if let (Some(cs), Some(_lang), Some(rest)) = (it.next(), it.next(), it.next()) {
                charset = Some(String::from_utf8_lossy(cs).trim().to_string());
                v = rest;
            }
        }
        if *enc {
            percent_decode(v, &mut bytes);
        } else {
            bytes.extend_from_slice(v);
        }
    }
    let label = charset.filter(|c| !c.is_empty());
    Some(decode_charset(label.as_deref(), &bytes).into_owned())
}

fn percent_decode(v: &[u8], out: &mut Vec<u8>) {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' && i + 2 < v.len() {
            if let (Some(h), Some(l)) = (hex(v[i + 1]), hex(v[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
}

/// The parameters of a structured header value (`type/sub; a=b; c="d e"`):
/// names lower-cased, values unquoted (backslash escapes undone), folds
/// removed. The leading type token is skipped.
fn params(v: &[u8]) -> Vec<(String, Vec<u8>)> {
    let v: Vec<u8> = v
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let mut out = Vec::new();
    let mut i = match next_semicolon(&v, 0) {
        Some(p) => p + 1,
        None => return out,
    };
    while i < v.len() {
        while i < v.len() && (v[i] == b' ' || v[i] == b'\t' || v[i] == b';') {
            i += 1;
        }
        let name_start = i;
        while i < v.len() && v[i] != b'=' && v[i] != b';' {
            i += 1;
        }
        let name = String::from_utf8_lossy(&v[name_start..i])
            .trim()
            .to_ascii_lowercase();
        if i >= v.len() || v[i] == b';' {
            continue;
        }
        i += 1; // '='
        while i < v.len() && (v[i] == b' ' || v[i] == b'\t') {
            i += 1;
        }
        let mut value = Vec::new();
        if v.get(i) == Some(&b'"') {
            i += 1;
            while i < v.len() && v[i] != b'"' {
                if v[i] == b'\\' && i + 1 < v.len() {
                    i += 1;
                }
                value.push(v[i]);
                i += 1;
            }
            i += 1; // closing quote
                    // Anything up to the next ';' is junk after the quotes.
            i = next_semicolon(&v, i).unwrap_or(v.len());
        } else {
            let end = next_semicolon(&v, i).unwrap_or(v.len());
            value.extend_from_slice(v[i..end].trim_ascii());
            i = end;
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

/// The next `;` at or after `from` that is not inside quotes.
fn next_semicolon(v: &[u8], from: usize) -> Option<usize> {
    let mut quoted = false;
    let mut i = from;
    while i < v.len() {
        match v[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b';' if !quoted => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A name safe to show and to write as a file: the last path component
/// (some clients send `C:\Users\…\spec.docx`), no control characters, no
/// leading dots, at most `MAX_NAME_CHARS` characters with the extension kept.
pub(crate) fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = last
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.chars().count() <= MAX_NAME_CHARS {
        return trimmed.to_string();
    }
    let (stem, ext) = match trimmed.rsplit_once('.') {
        Some((s, e)) if e.chars().count() <= 10 => (s, Some(e)),
        _ => (trimmed, None),
    };
    let keep = MAX_NAME_CHARS - ext.map(|e| e.chars().count() + 1).unwrap_or(0);
    let mut out: String = stem.chars().take(keep).collect();
    if let Some(e) = ext {
        out.push('.');
        out.push_str(e);
    }
    out
}

/// A name for a file its sender gave none: `attachment-2.png`, or
/// `winmail.dat` for Outlook's TNEF, `message-1.eml` for a forwarded mail.
fn default_name(ctype: &str, n: usize) -> String {
    let ext = match ctype {
        "application/ms-tnef" | "application/vnd.ms-tnef" => return "winmail.dat".into(),
        "message/rfc822" | "message/global" => return format!("message-{n}.eml"),
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "text/plain" => "txt",
        "text/html" => "html",
        "text/csv" => "csv",
        _ => "bin",
    };
    format!("attachment-{n}.{ext}")
}

/// The decoded bytes of an attachment, read from the original message.
pub(crate) fn attachment_bytes<'a>(a: &Attachment, raw: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    use std::borrow::Cow;
    let Some(body) = raw.get(a.start..a.end) else {
        return Cow::Borrowed(&[]);
    };
    match a.encoding {
        TransferEncoding::Base64 => Cow::Owned(super::header::decode_base64_lenient(body)),
        TransferEncoding::QuotedPrintable => {
            match mail_parser::decoders::quoted_printable::quoted_printable_decode(body) {
                Some(v) => Cow::Owned(v),
                None => Cow::Borrowed(body),
            }
        }
        TransferEncoding::Identity => Cow::Borrowed(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2231_continuations_join_bytes_before_decoding() {
        // 需求说明.docx in UTF-8, split in the middle of 求 (E6 B1 82).
        let v = b"attachment;\r\n filename*0*=utf-8''%E9%9C%80%E6%B1;\r\n filename*1*=%82%E8%AF%B4%E6%98%8E.docx";
        let p = params(v);
        assert_eq!(extended(&p, "filename").as_deref(), Some("需求说明.docx"));
    }

    #[test]
    fn gbk_rfc2231_and_plain_forms() {
        // 字段 in GBK: D7 D6 B6 CE
        let p = params(b"attachment; filename*=gbk''%D7%D6%B6%CE.xlsx");
        assert_eq!(extended(&p, "filename").as_deref(), Some("字段.xlsx"));
        let p = params(b"application/vnd.ms-excel; name=\"=?gb2312?B?19a2zi54bHN4?=\"");
        assert_eq!(plain_value(&p[0].1), "字段.xlsx");
        let p = params(b"attachment; filename=\"\xd7\xd6\xb6\xce.xlsx\"");
        assert_eq!(plain_value(&p[0].1), "字段.xlsx");
    }

    #[test]
    fn quoted_values_keep_semicolons_and_escapes() {
        let p = params(b"attachment; filename=\"a;b \\\"c\\\".txt\"; size=12");
        assert_eq!(p[0], ("filename".into(), b"a;b \"c\".txt".to_vec()));
        assert_eq!(p[1], ("size".into(), b"12".to_vec()));
    }

    #[test]
    fn names_lose_paths_controls_and_excess() {
        assert_eq!(clean_name("C:\\Users\\me\\spec.docx"), "spec.docx");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("..hidden"), "hidden");
        assert_eq!(clean_name("a\u{7}b.txt"), "a b.txt");
        let long = format!("{}.pdf", "长".repeat(400));
        let c = clean_name(&long);
        assert_eq!(c.chars().count(), MAX_NAME_CHARS);
        assert!(c.ends_with(".pdf"));
    }
}
