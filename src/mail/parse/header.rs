//! Header text as the user meant it: RFC 2047 encoded-words (adjacent words of
//! one charset joined *before* decoding, so a character split across two
//! words survives), raw 8-bit GBK, charset aliases mail-parser does not know,
//! folding collapsed and every control character removed.

use encoding_rs::Encoding;
use std::borrow::Cow;

/// The encoding for a charset label, with the aliases mail clients really send
/// (`x-mac-chinesesimp`, `cp936`, `ms936`, …) before the WHATWG table.
/// `None` for labels nobody knows (and for the "replacement" labels, which
/// would turn every byte into U+FFFD).
pub(crate) fn lookup_charset(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'');
    // Labels are short; anything long is garbage (and would cost a copy).
    if label.is_empty() || label.len() > 40 {
        return None;
    }
    let mut buf = [0u8; 40];
    let lower = &mut buf[..label.len()];
    lower.copy_from_slice(label.as_bytes());
    lower.make_ascii_lowercase();
    let enc = match &*lower {
        b"x-mac-chinesesimp"
        | b"mac-chinesesimp"
        | b"x-mac-simp-chinese"
        | b"cp936"
        | b"ms936"
        | b"windows-936"
        | b"x-cp936"
        | b"936"
        | b"euc-cn"
        | b"x-euc-cn"
        | b"cn-gb"
        | b"gb2312-80"
        | b"x-cp20936"
        | b"gb_2312"
        | b"x-gbk"
        | b"gbk"
        | b"gb2312"
        | b"csgb2312"
        | b"chinese" => encoding_rs::GBK,
        b"gb18030" | b"gb-18030" | b"x-gb18030" | b"gb18030-2000" | b"gb18030-2005"
        | b"gb18030-2022" => encoding_rs::GB18030,
        b"x-mac-chinesetrad" | b"mac-chinesetrad" | b"cp950" | b"ms950" | b"windows-950"
        | b"x-big5" | b"big-5" | b"big5hkscs" | b"big5-hkscs" | b"big5" => encoding_rs::BIG5,
        b"utf8" | b"x-utf8" | b"utf-8" | b"unicode-1-1-utf-8" => encoding_rs::UTF_8,
        _ => return Encoding::for_label_no_replacement(lower),
    };
    Some(enc)
}

/// Decodes bytes labelled with `label`. Unknown or missing labels: UTF-8 when
/// the bytes are valid UTF-8, otherwise GB18030 (the usual culprit here).
pub(crate) fn decode_charset<'a>(label: Option<&str>, bytes: &'a [u8]) -> Cow<'a, str> {
    // 8-bit bytes under an ASCII label are someone's UTF-8 or GBK, not cp1252.
    let label = label.filter(|l| !is_ascii_label(l) || bytes.is_ascii());
    if let Some(label) = label {
        if let Some(enc) = lookup_charset(label) {
            return enc.decode_without_bom_handling(bytes).0;
        }
        // UTF-7 and a few others: mail-parser has decoders encoding_rs lacks.
        if let Some(dec) = mail_parser::decoders::charsets::map::charset_decoder(label.as_bytes()) {
            return Cow::Owned(dec(bytes));
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => encoding_rs::GB18030.decode_without_bom_handling(bytes).0,
    }
}

/// `us-ascii` and its spellings.
pub(crate) fn is_ascii_label(label: &str) -> bool {
    let l = label.trim().trim_matches('"');
    ["us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us"]
        .iter()
        .any(|a| l.eq_ignore_ascii_case(a))
}

/// Appends `s` to `out`, turning whitespace runs (folds, CR/LF, tabs) into one
/// space and dropping every other control character. `space` carries a
/// pending space across calls; leading/trailing spaces are never written.
fn push_clean(out: &mut String, s: &str, space: &mut bool) {
    for c in s.chars() {
        if c.is_whitespace() && c != '\u{3000}' && c != '\u{a0}' {
            *space = true;
        } else if c.is_control() {
            // Dropped: CR/LF smuggled through encoded-words, NUL, ESC, C1.
        } else {
            if *space && !out.is_empty() {
                out.push(' ');
            }
            *space = false;
            out.push(c);
        }
    }
}

/// A decoded, control-free, single-line copy of any text (display names,
/// values that mail-parser decoded).
pub(crate) fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    push_clean(&mut out, s, &mut space);
    out
}

/// Where `?=` and whitespace occur in a value, so that finding the end of
/// each candidate encoded-word is a binary search rather than a scan (a value
/// full of `=?` with no `?=` would otherwise cost O(n²)).
struct Marks {
    closes: Vec<usize>,
    spaces: Vec<usize>,
}

impl Marks {
    fn new(b: &[u8]) -> Marks {
        let mut m = Marks {
            closes: Vec::new(),
            spaces: Vec::new(),
        };
        for (i, &c) in b.iter().enumerate() {
            if c == b'?' && b.get(i + 1) == Some(&b'=') {
                m.closes.push(i);
            } else if c.is_ascii_whitespace() {
                m.spaces.push(i);
            }
        }
        m
    }

    fn next(v: &[usize], from: usize) -> Option<usize> {
        v.get(v.partition_point(|&x| x < from)).copied()
    }
}

/// The RFC 2047 encoded-word starting at `b[at..]`: its charset label
/// (language suffix removed), decoded bytes, and length.
fn encoded_word<'a>(b: &'a [u8], at: usize, marks: &Marks) -> Option<(&'a [u8], Vec<u8>, usize)> {
    // =?charset?X?payload?=
    let w = &b[at..];
    if w.len() < 8 || &w[..2] != b"=?" {
        return None;
    }
    let rest = &w[2..];
    let q1 = rest.iter().take(76).position(|&c| c == b'?')?;
    let mut charset = &rest[..q1];
    if charset.is_empty() || charset.iter().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    if let Some(star) = charset.iter().position(|&c| c == b'*') {
        charset = &charset[..star]; // RFC 2231 language: =?utf-8*zh?…
    }
    let rest = &rest[q1 + 1..];
    if rest.len() < 3 || rest[1] != b'?' {
        return None;
    }
    let enc = rest[0].to_ascii_uppercase();
    let start = at + 2 + q1 + 1 + 2;
    let close = Marks::next(&marks.closes, start)?;
    if Marks::next(&marks.spaces, start).is_some_and(|sp| sp < close) {
        return None;
    }
    let payload = &b[start..close];
    let decoded = match enc {
        b'B' => decode_base64_lenient(payload),
        b'Q' => {
            let mut v = Vec::with_capacity(payload.len());
            let mut i = 0;
            while i < payload.len() {
                match payload[i] {
                    b'_' => v.push(b' '),
                    b'=' => {
                        let h = |c: u8| (c as char).to_digit(16);
                        match (
                            payload.get(i + 1).and_then(|&c| h(c)),
                            payload.get(i + 2).and_then(|&c| h(c)),
                        ) {
                            (Some(a), Some(b)) => {
                                v.push((a * 16 + b) as u8);
                                i += 2;
                            }
                            _ => v.push(b'='),
                        }
                    }
                    c => v.push(c),
                }
                i += 1;
            }
            v
        }
        _ => return None,
    };
    Some((charset, decoded, close + 2 - at))
}

/// Base64 that tolerates missing padding, stray characters and line breaks.
///
/// Mail's own form (the standard alphabet in lines, padded or not) of
/// 256 bytes or more goes through the `base64` crate once the line breaks
/// are taken out: several times faster on a large attachment. Anything that crate refuses (other
/// characters, text after the padding, a lone sextet) is read a character
/// at a time.
pub(crate) fn decode_base64_lenient(b: &[u8]) -> Vec<u8> {
    use base64::Engine;
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    // Encoded words and short bodies: one pass, one allocation.
    if b.len() < 256 {
        return decode_base64_slow(b);
    }
    let mut clean = Vec::with_capacity(b.len());
    clean.extend(b.iter().copied().filter(|&c| c != b'\r' && c != b'\n'));
    while clean.last() == Some(&b'=') {
        clean.pop();
    }
    match LENIENT.decode(&clean) {
        Ok(v) => v,
        Err(_) => decode_base64_slow(b),
    }
}

/// The character-at-a-time reading of [`decode_base64_lenient`]: skips
/// what is not base64, takes the URL-safe letters too, stops at `=`.
fn decode_base64_slow(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in b {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Decodes an unstructured header value from its raw bytes (as found in the
/// message, folds included): encoded-words, raw UTF-8 or raw GBK/GB18030,
/// folding collapsed, controls removed, trimmed.
pub(crate) fn decode_header(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut space = false;
    let literal_utf8 = std::str::from_utf8(raw).is_ok();
    // Fast path: no encoded-word at all.
    if !raw.windows(2).any(|w| w == b"=?") {
        push_literal(&mut out, raw, literal_utf8, &mut space);
        return out;
    }
    let marks = Marks::new(raw);
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_cs: &[u8] = b"";
    let mut have_pending = false;
    let mut prev_word = false;
    let mut lit_start = 0;
    let mut i = 0;
    while i + 1 < raw.len() {
        if raw[i] == b'=' && raw[i + 1] == b'?' {
            if let Some((cs, bytes, len)) = encoded_word(raw, i, &marks) {
                let gap = &raw[lit_start..i];
                // Whitespace between two encoded-words is not part of the text.
                let gap_dropped = prev_word && gap.iter().all(|c| c.is_ascii_whitespace());
                if have_pending && !(gap_dropped && cs.eq_ignore_ascii_case(pending_cs)) {
                    flush(&mut out, pending_cs, &pending, &mut space);
                    pending.clear();
                }
                if !gap_dropped {
                    push_literal(&mut out, gap, literal_utf8, &mut space);
                }
                pending.extend_from_slice(&bytes);
                pending_cs = cs;
                have_pending = true;
                prev_word = true;
                i += len;
                lit_start = i;
                continue;
            }
        }
        i += 1;
    }
    if have_pending {
        flush(&mut out, pending_cs, &pending, &mut space);
    }
    push_literal(&mut out, &raw[lit_start..], literal_utf8, &mut space);
    out
}

fn flush(out: &mut String, cs: &[u8], bytes: &[u8], space: &mut bool) {
    let label = std::str::from_utf8(cs).ok();
    let text = decode_charset(label, bytes);
    push_clean(out, &text, space);
}

fn push_literal(out: &mut String, b: &[u8], utf8: bool, space: &mut bool) {
    if b.is_empty() {
        return;
    }
    if utf8 {
        // The whole value was valid UTF-8; so is any slice cut at ASCII bytes.
        push_clean(out, &String::from_utf8_lossy(b), space);
    } else {
        let (text, _, _) = encoding_rs::GB18030.decode(b);
        push_clean(out, &text, space);
    }
}

/// An address header with every run of encoded-words replaced by a
/// quoted-string of its decoded text (quotes and backslashes escaped,
/// controls gone), so mail-parser's address parser sees the right display
/// names and decoded text can never turn into address syntax
/// (`"=?…?=" <x>` inside quotes stays one quoted-string).
pub(crate) fn quote_encoded_words(text: &str) -> String {
    let b = text.as_bytes();
    let marks = Marks::new(b);
    let mut out = String::with_capacity(text.len());
    let (mut in_quote, mut in_angle, mut escaped) = (false, false, false);
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        let c = b[i];
        if escaped {
            escaped = false;
        } else if c == b'\\' && in_quote {
            escaped = true;
        } else if c == b'"' && !in_angle {
            in_quote = !in_quote;
        } else if c == b'<' && !in_quote {
            in_angle = true;
        } else if c == b'>' && !in_quote {
            in_angle = false;
        } else if c == b'=' && !in_angle && b.get(i + 1) == Some(&b'?') {
            if let Some((_, _, first)) = encoded_word(b, i, &marks) {
                // Extend over adjacent words separated only by whitespace.
                let mut end = i + first;
                loop {
                    let ws = b[end..]
                        .iter()
                        .take_while(|c| c.is_ascii_whitespace())
                        .count();
                    match encoded_word(b, end + ws, &marks) {
                        Some((_, _, len)) => end += ws + len,
                        None => break,
                    }
                }
                out.push_str(&text[lit..i]);
                let decoded = decode_header(&b[i..end]);
                if !in_quote {
                    out.push('"');
                }
                for ch in decoded.chars() {
                    if ch == '"' || ch == '\\' {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                if !in_quote {
                    out.push('"');
                }
                i = end;
                lit = end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[lit..]);
    out
}

/// Every `<id>` in a Message-ID / In-Reply-To / References value, without
/// brackets, in order. Encoded-words are decoded first (some clients wrap
/// ids in them); comma-separated lists work; a value with no brackets at all
/// falls back to `@`-bearing words (broken clients).
pub(crate) fn extract_ids(raw: &[u8]) -> Vec<String> {
    let text: Cow<'_, str> = if raw.windows(2).any(|w| w == b"=?") {
        Cow::Owned(decode_header(raw))
    } else {
        String::from_utf8_lossy(raw)
    };
    let mut ids = Vec::new();
    let mut rest: &str = &text;
    while let Some(lt) = rest.find('<') {
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else { break };
        push_id(&mut ids, &after[..gt]);
        rest = &after[gt + 1..];
    }
    if ids.is_empty() && !text.contains('<') {
        for word in text.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
            if word.contains('@') {
                push_id(&mut ids, word.trim_matches(|c| c == '"' || c == '\''));
            }
        }
    }
    ids
}

/// Longest id kept; longer ones are junk or an attack on the store.
const MAX_ID_LEN: usize = 512;

fn push_id(ids: &mut Vec<String>, s: &str) {
    let id: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '<' && *c != '>')
        .collect();
    if !id.is_empty() && id.len() <= MAX_ID_LEN {
        ids.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_fast_path_decodes_as_the_slow_one() {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD;
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for n in [0usize, 1, 2, 3, 47, 48, 190, 191, 192, 193, 1000, 4099] {
            let data: Vec<u8> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let text = enc.encode(&data);
            let unpadded = text.trim_end_matches('=').to_string();
            for width in [76usize, 64, 72] {
                for body in [&text, &unpadded] {
                    for eol in ["\r\n", "\n"] {
                        let folded: Vec<&str> = body
                            .as_bytes()
                            .chunks(width)
                            .map(|c| std::str::from_utf8(c).unwrap())
                            .collect();
                        let mail = format!("{}{eol}", folded.join(eol));
                        assert_eq!(decode_base64_lenient(mail.as_bytes()), data, "{n} {width}");
                        assert_eq!(decode_base64_slow(mail.as_bytes()), data, "{n} {width}");
                    }
                }
            }
        }
        // What only the slow way reads: URL-safe letters, spaces, a stray
        // CR, a lone sextet, text after the padding.
        let long = "QUJD".repeat(100);
        for odd in [
            format!("{long}-_-_"),
            format!("{long} QUJD"),
            format!("{long}\rQUJD"),
            format!("{long}Q"),
            format!("{long}QQ==junk"),
        ] {
            assert_eq!(
                decode_base64_lenient(odd.as_bytes()),
                decode_base64_slow(odd.as_bytes()),
                "{odd}"
            );
        }
    }

    #[test]
    fn adjacent_words_of_one_charset_are_joined_before_decoding() {
        // "测试" in UTF-8 is e6 b5 8b e8 af 95; split after the 4th byte.
        let raw = b" =?UTF-8?B?5rWL6A==?=\r\n =?UTF-8?B?r5U=?=\r\n";
        assert_eq!(decode_header(raw), "测试");
    }

    #[test]
    fn words_of_different_charsets_decode_separately() {
        let gbk = encoding_rs::GBK.encode("中文").0;
        let b64 = |b: &[u8]| {
            const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut s = String::new();
            for c in b.chunks(3) {
                let n = (c[0] as u32) << 16
                    | (*c.get(1).unwrap_or(&0) as u32) << 8
                    | *c.get(2).unwrap_or(&0) as u32;
                for j in 0..4 {
                    if j <= c.len() {
                        s.push(T[(n >> (18 - 6 * j) & 63) as usize] as char);
                    } else {
                        s.push('=');
                    }
                }
            }
            s
        };
        let raw = format!(" =?gbk?B?{}?= =?utf-8?Q?=E6=B5=8B?= tail\r\n", b64(&gbk));
        assert_eq!(decode_header(raw.as_bytes()), "中文测 tail");
    }

    #[test]
    fn text_between_words_and_literals_keeps_its_spaces() {
        assert_eq!(
            decode_header(b" Re: =?utf-8?q?caf=C3=A9?= ok\r\n"),
            "Re: café ok"
        );
        assert_eq!(decode_header(b" a =?utf-8?q?b?=c\r\n"), "a bc");
    }

    #[test]
    fn raw_gbk_header_is_decoded_as_gb18030() {
        let mut raw = b" ".to_vec();
        raw.extend_from_slice(&encoding_rs::GBK.encode("回复: 需求 喆").0);
        raw.extend_from_slice(b"\r\n");
        assert_eq!(decode_header(&raw), "回复: 需求 喆");
    }

    #[test]
    fn unknown_charset_aliases_are_mapped() {
        let gbk = encoding_rs::GBK.encode("测试").0;
        for label in [
            "x-mac-chinesesimp",
            "cp936",
            "MS936",
            "x-gbk",
            "windows-936",
        ] {
            assert_eq!(decode_charset(Some(label), &gbk), "测试", "{label}");
        }
        assert_eq!(decode_charset(Some("us-ascii"), "café".as_bytes()), "café");
        assert_eq!(decode_charset(Some("us-ascii"), &gbk), "测试");
        let big5 = encoding_rs::BIG5.encode("測試").0;
        assert_eq!(decode_charset(Some("x-mac-chinesetrad"), &big5), "測試");
    }

    #[test]
    fn crlf_smuggled_in_an_encoded_word_is_removed() {
        let s = decode_header(b" =?utf-8?q?Hi=0D=0ABcc:_x@evil.example?=\r\n");
        assert!(!s.contains('\r') && !s.contains('\n'));
        assert_eq!(s, "Hi Bcc: x@evil.example");
    }

    #[test]
    fn folded_lines_collapse_to_one_space() {
        assert_eq!(
            decode_header(b" one\r\n\t two   three\r\n"),
            "one two three"
        );
    }

    #[test]
    fn ids_are_extracted_from_lists_and_encoded_words() {
        assert_eq!(extract_ids(b" <a@x>, <b@y>\r\n"), vec!["a@x", "b@y"]);
        assert_eq!(
            extract_ids(b" =?utf-8?q?<abc@x.example>?=\r\n"),
            vec!["abc@x.example"]
        );
        assert_eq!(
            extract_ids(b" bare@id.example\r\n"),
            vec!["bare@id.example"]
        );
        assert!(extract_ids(b" \r\n").is_empty());
    }

    #[test]
    fn encoded_words_in_addresses_become_escaped_quoted_strings() {
        assert_eq!(
            quote_encoded_words(" =?utf-8?q?a=22b?= <x@y>, \"=?utf-8?q?c?=\" <z@w>\r\n"),
            " \"a\\\"b\" <x@y>, \"c\" <z@w>\r\n"
        );
        // Decoded text that looks like an address stays inside the quotes.
        assert_eq!(
            quote_encoded_words(" =?utf-8?q?boss@corp=2Eexample_<boss@corp.example>?= <e@x>"),
            " \"boss@corp.example <boss@corp.example>\" <e@x>"
        );
    }

    #[test]
    fn many_unclosed_encoded_word_starts_are_linear() {
        let mut raw = b" ".to_vec();
        for _ in 0..200_000 {
            raw.extend_from_slice(b"=?a?B?x");
        }
        raw.extend_from_slice(b" =?utf-8?q?ok?=\r\n");
        let t = std::time::Instant::now();
        let s = decode_header(&raw);
        assert!(s.ends_with(" ok"));
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        let t = std::time::Instant::now();
        let _ = quote_encoded_words(std::str::from_utf8(&raw).unwrap());
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }

    #[test]
    fn bad_encoded_word_stays_literal() {
        assert_eq!(
            decode_header(b" =?utf-8?x?abc?= z\r\n"),
            "=?utf-8?x?abc?= z"
        );
    }
}
