//! Body text helpers: transfer decoding from the raw bytes, format=flowed
//! (RFC 3676), and the NUL / CRLF / control-character cleanup.

use super::header::decode_base64_lenient;
use mail_parser::{MessagePart, MimeHeaders};
use std::borrow::Cow;

/// The transfer-decoded bytes of a part, read from `raw` (the original
/// message) so that mail-parser's guesses (lossy UTF-8 for unknown charsets,
/// undecoded text on bad base64) can be redone properly.
pub(crate) fn part_bytes<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> Cow<'a, [u8]> {
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    let Some(bytes) = raw.get(start..end.max(start)) else {
        return Cow::Borrowed(&[]);
    };
    let cte = part.content_transfer_encoding().unwrap_or("");
    if cte.eq_ignore_ascii_case("base64") {
        Cow::Owned(decode_base64_lenient(bytes))
    } else if cte.eq_ignore_ascii_case("quoted-printable") {
        match mail_parser::decoders::quoted_printable::quoted_printable_decode(bytes) {
            Some(v) => Cow::Owned(v),
            None => Cow::Borrowed(bytes),
        }
    } else {
        Cow::Borrowed(bytes)
    }
}

/// CRLF and lone CR become LF; NUL and every other control character except
/// tab and newline are dropped.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// RFC 3676 format=flowed: a line ending in a space continues on the next
/// line of the same quote depth; one leading space is "stuffing"; with
/// DelSp=yes the trailing space itself is removed when joining. Quoted
/// paragraphs come out as `> text` so quote stripping still sees them.
/// Input must already be LF-normalised.
pub(crate) fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut para = String::new();
    let mut para_depth: Option<usize> = None;

    let emit = |out: &mut String, depth: usize, para: &str| {
        for _ in 0..depth {
            out.push('>');
        }
        if depth > 0 && !para.is_empty() {
            out.push(' ');
        }
        out.push_str(para);
        out.push('\n');
    };

    let lines = text.strip_suffix('\n').unwrap_or(text);
    for line in lines.split('\n') {
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let mut content = &line[depth..];
        if content.starts_with(' ') {
            content = &content[1..]; // space-stuffing (or the space after '>')
        }
        // A paragraph in progress at another depth ends here (improperly flowed).
        if let Some(d) = para_depth {
            if d != depth {
                emit(&mut out, d, &para);
                para.clear();
            }
        }
        let is_sig = content == "-- ";
        let flowed = !is_sig && content.ends_with(' ');
        if flowed {
            let keep = if delsp {
                &content[..content.len() - 1]
            } else {
                content
            };
            para.push_str(keep);
            para_depth = Some(depth);
        } else {
            para.push_str(content);
            emit(&mut out, depth, &para);
            para.clear();
            para_depth = None;
        }
    }
    if let Some(d) = para_depth {
        emit(&mut out, d, &para);
    }
    if out.ends_with('\n') && !text.ends_with('\n') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flowed_soft_breaks_are_joined() {
        let t = "This is a long \nparagraph that \nflows.\nNext line.\n";
        assert_eq!(
            unflow(t, false),
            "This is a long paragraph that flows.\nNext line.\n"
        );
    }

    #[test]
    fn flowed_delsp_removes_the_joining_space() {
        let t = "需求说明：导出 \nCRM 数据\n";
        assert_eq!(unflow(t, true), "需求说明：导出CRM 数据\n");
    }

    #[test]
    fn flowed_space_stuffing_is_removed() {
        assert_eq!(
            unflow(" From here on\n >not a quote\n", false),
            "From here on\n>not a quote\n"
        );
    }

    #[test]
    fn flowed_quotes_keep_their_depth_and_sig_is_fixed() {
        let t = "> quoted \n> text\n-- \nsig\n";
        assert_eq!(unflow(t, false), "> quoted text\n-- \nsig\n");
    }

    #[test]
    fn normalize_strips_nul_and_crlf() {
        assert_eq!(normalize("a\r\nb\rc\0d\x1b[31m\te"), "a\nb\ncd[31m\te");
    }
}
