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
/// tab and newline (C0, DEL, C1) are dropped. Works on byte runs: the input
/// is valid UTF-8 and only whole characters are removed.
pub(crate) fn normalize(text: &str) -> String {
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let skip = match c {
            b'\n' | b'\t' => 0,
            b'\r' => {
                out.extend_from_slice(&b[run..i]);
                out.push(b'\n');
                if b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
                run = i;
                continue;
            }
            0..=0x1f | 0x7f => 1,
            // U+0080..U+009F (C1 controls) are 0xC2 0x80..0x9F.
            0xc2 if matches!(b.get(i + 1), Some(0x80..=0x9f)) => 2,
            _ => 0,
        };
        if skip > 0 {
            out.extend_from_slice(&b[run..i]);
            i += skip;
            run = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&b[run..]);
    // Only complete UTF-8 sequences were removed.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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
        assert_eq!(normalize("x\u{85}y\u{9f}é\u{a0}中\r"), "xyé\u{a0}中\n");
    }
}
