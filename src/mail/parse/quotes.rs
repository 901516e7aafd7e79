//! Quoted replies and signatures out of a body (PROTOCOL "Body fields"):
//! what the sender wrote, without the thread below it.
//!
//! Scanning top to bottom, the text is cut at the first of:
//! - a signature separator line, exactly `-- ` or `--`;
//! - a phone signature line (`Sent from my iPhone`, `发自我的iPhone`,
//!   `从我的 iPhone 发送`, `Get Outlook for iOS`, `发自网易邮箱大师`, …);
//! - an "original message" separator (`-----Original Message-----`,
//!   `-----原始邮件-----`, QQ/Foxmail `------------------ 原始邮件 ------------------`);
//! - a header block: a `From:`/`发件人:` line (ASCII or full-width colon)
//!   followed, in the next few lines, by `Sent:`/`Date:`/`发送时间:`/`日期:`
//!   *and* `To:`/`Subject:`/`收件人:`/`主题:` lines — Outlook (English and
//!   Chinese), Foxmail; a `____`/`----` separator line just before it goes too.
//!   A lone `From: …` line inside the text is kept;
//! - an attribution line (`On … wrote:` also wrapped over two lines,
//!   `在 … 写道：`, `… 于2026年11月20日周五 10:00写道：`, `Le … a écrit :`,
//!   `Am … schrieb:`) that is *not* followed by `>` lines.
//!
//! `>` quoted lines are removed wherever they are; an attribution followed by
//! them is removed with them, and text after the quote (an interleaved or
//! bottom-posted answer) is kept. Leading and trailing blank lines go.

/// Strips quoted replies and signatures; see the module documentation.
pub fn strip_quotes(text: &str) -> String {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    let mut cut = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line == "-- " || line == "--" {
            cut = true;
            break;
        }
        if is_quoted(line) {
            i += 1;
            continue;
        }
        let t = trim_all(line);
        if t.is_empty() {
            out.push("");
            i += 1;
            continue;
        }
        if is_phone_signature(t) || is_original_separator(t) || is_header_block(&lines, i) {
            cut = true;
            break;
        }
        if let Some(n) = attribution_len(&lines, i) {
            let next = (i + n..lines.len()).find(|&j| !trim_all(lines[j]).is_empty());
            match next {
                Some(j) if is_quoted(lines[j]) => {
                    i += n;
                    continue;
                }
                _ => {
                    cut = true;
                    break;
                }
            }
        }
        out.push(line);
        i += 1;
    }
    if cut {
        drop_trailing_separator(&mut out);
    }
    while out.last().is_some_and(|l| trim_all(l).is_empty()) {
        out.pop();
    }
    let start = out
        .iter()
        .position(|l| !trim_all(l).is_empty())
        .unwrap_or(out.len());
    out[start..].join("\n")
}

/// Trims ASCII/Unicode whitespace including NBSP and the ideographic space.
fn trim_all(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{3000}')
}

/// `> text`, `>> text`, `>` — but not `>= 95%`.
fn is_quoted(line: &str) -> bool {
    let b = line.as_bytes();
    !b.is_empty() && b[0] == b'>' && matches!(b.get(1), None | Some(b' ' | b'>' | b'\t'))
}

fn is_separator_line(t: &str) -> bool {
    t.chars().count() >= 5
        && t.chars()
            .all(|c| matches!(c, '_' | '-' | '—' | '─' | '=' | '*'))
}

/// Removes trailing blank lines and a separator line left above a cut.
fn drop_trailing_separator(out: &mut Vec<&str>) {
    while out.last().is_some_and(|l| trim_all(l).is_empty()) {
        out.pop();
    }
    if out.last().is_some_and(|l| is_separator_line(trim_all(l))) {
        out.pop();
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn is_phone_signature(t: &str) -> bool {
    if t.chars().count() > 60 {
        return false;
    }
    const PREFIXES: &[&str] = &[
        "sent from my ",
        "sent from mail for windows",
        "sent from outlook",
        "sent from yahoo mail",
        "get outlook for ",
        "发自我的",
        "来自我的",
        "发自网易邮箱",
        "发自手机网易邮箱",
        "发自新浪邮箱",
    ];
    PREFIXES.iter().any(|p| starts_with_ci(t, p))
        || (t.starts_with("从我的") && t.ends_with("发送"))
}

fn is_original_separator(t: &str) -> bool {
    // QQ Mail's text part really says `------------------&nbsp;原始邮件&nbsp;…`.
    let unescaped;
    let t = if t.contains("&nbsp;") {
        unescaped = t.replace("&nbsp;", " ");
        unescaped.as_str()
    } else {
        t
    };
    let deco = |c: char| {
        matches!(
            c,
            '-' | '—' | '–' | '_' | '=' | '*' | '~' | ' ' | '\u{a0}' | '\u{3000}'
        )
    };
    let lead = t
        .chars()
        .take_while(|&c| deco(c))
        .filter(|&c| c != ' ')
        .count();
    if lead < 2 {
        return false;
    }
    let core: String = t
        .trim_matches(deco)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .flat_map(char::to_lowercase)
        .collect();
    matches!(
        core.as_str(),
        "originalmessage"
            | "original"
            | "originalemail"
            | "原始邮件"
            | "原始郵件"
            | "原邮件"
            | "邮件原文"
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    From,
    Sent,
    To,
    Cc,
    Subject,
    Other,
}

/// Header keys of quoted header blocks (compared ASCII-case-insensitively).
const KEYS: &[(&str, Key)] = &[
    ("from", Key::From),
    ("发件人", Key::From),
    ("寄件者", Key::From),
    ("寄件人", Key::From),
    ("von", Key::From),
    ("de", Key::From),
    ("van", Key::From),
    ("da", Key::From),
    ("sent", Key::Sent),
    ("date", Key::Sent),
    ("发送时间", Key::Sent),
    ("时间", Key::Sent),
    ("日期", Key::Sent),
    ("寄件日期", Key::Sent),
    ("发送日期", Key::Sent),
    ("gesendet", Key::Sent),
    ("datum", Key::Sent),
    ("envoyé", Key::Sent),
    ("enviado", Key::Sent),
    ("data", Key::Sent),
    ("to", Key::To),
    ("收件人", Key::To),
    ("收件者", Key::To),
    ("an", Key::To),
    ("à", Key::To),
    ("a", Key::To),
    ("para", Key::To),
    ("aan", Key::To),
    ("cc", Key::Cc),
    ("抄送", Key::Cc),
    ("抄送人", Key::Cc),
    ("副本", Key::Cc),
    ("kopie", Key::Cc),
    ("subject", Key::Subject),
    ("主题", Key::Subject),
    ("主旨", Key::Subject),
    ("betreff", Key::Subject),
    ("objet", Key::Subject),
    ("asunto", Key::Subject),
    ("onderwerp", Key::Subject),
    ("oggetto", Key::Subject),
    ("assunto", Key::Subject),
    ("reply-to", Key::Other),
    ("importance", Key::Other),
    ("attachments", Key::Other),
    ("bcc", Key::Other),
    ("附件", Key::Other),
    ("优先级", Key::Other),
    ("重要性", Key::Other),
    ("密送", Key::Other),
];

/// The header-like key of a line (`From:`, `发件人：`, …), if it is one.
fn header_key(t: &str) -> Option<Key> {
    let colon = t
        .char_indices()
        .take(16)
        .find(|&(_, c)| c == ':' || c == '：')
        .map(|(i, _)| i)?;
    let key = trim_all(&t[..colon]);
    KEYS.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|&(_, k)| k)
}

/// A `From:` line starting a quoted header block (see the module docs).
fn is_header_block(lines: &[&str], i: usize) -> bool {
    if header_key(trim_all(lines[i])) != Some(Key::From) {
        return false;
    }
    let (mut sent, mut to) = (false, false);
    let mut seen = 0;
    for line in lines[i + 1..].iter().take(20) {
        let t = trim_all(line);
        if t.is_empty() {
            continue;
        }
        match header_key(t) {
            Some(Key::Sent) => sent = true,
            Some(Key::To | Key::Subject) => to = true,
            Some(_) => {}
            None => break,
        }
        seen += 1;
        if (sent && to) || seen >= 8 {
            break;
        }
    }
    sent && to
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

fn is_attribution_start(l: &str) -> bool {
    starts_with_ci(l, "on ")
        || starts_with_ci(l, "le ")
        || starts_with_ci(l, "am ")
        || l.starts_with('在')
        || yu_date(l)
}

/// Gmail's Chinese attribution: `… 于2026年11月20日周五 10:00写道：`.
fn yu_date(l: &str) -> bool {
    l.match_indices('于').any(|(i, _)| {
        l[i + '于'.len_utf8()..]
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit())
    })
}

fn is_attribution_end(l: &str) -> bool {
    const ENDS: &[&str] = &[
        "wrote:",
        "wrote :",
        "写道：",
        "写道:",
        "寫道：",
        "寫道:",
        "a écrit :",
        "a écrit:",
        "schrieb:",
        "schrieb :",
    ];
    ENDS.iter().any(|e| ends_with_ci(l, e))
}

/// How many lines (1 or 2) of attribution start at line `i`, if any.
fn attribution_len(lines: &[&str], i: usize) -> Option<usize> {
    let l = trim_all(lines[i]);
    if l.len() > 400 {
        return None;
    }
    let end = is_attribution_end(l);
    if end && is_attribution_start(l) && has_digit(l) {
        return Some(1);
    }
    if end {
        return None;
    }
    let m = trim_all(lines.get(i + 1)?);
    if m.is_empty() || m.len() > 400 || !is_attribution_end(m) {
        return None;
    }
    // `On Fri, Nov 20, 2026 at 10:00 AM Alice <` / `alice@corp.example> wrote:`,
    // or Gmail zh `张三 <a@b>` / `于2026年11月20日周五 10:00写道：`.
    let wrapped_on = is_attribution_start(l) && (has_digit(l) || has_digit(m));
    let wrapped_yu = l.contains('@') && yu_date(m);
    (wrapped_on || wrapped_yu).then_some(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlook_english_header_block_is_cut_with_its_separator() {
        let t = "Looks good, confirmed.\n\n________________________________\nFrom: Alice <alice@corp.example>\nSent: Friday, November 20, 2026 10:00 AM\nTo: Bob <bob@corp.example>\nSubject: [REQ-42] Export\n\nold text\n";
        assert_eq!(strip_quotes(t), "Looks good, confirmed.");
    }

    #[test]
    fn outlook_chinese_header_block_with_fullwidth_colons_is_cut() {
        let t = "同意。\n\n发件人： 张三 <zhangsan@corp.example>\n发送时间： 2026年11月20日 10:00\n收件人： 李四\n抄送： 王五\n主题： 需求\n\n原文\n";
        assert_eq!(strip_quotes(t), "同意。");
        let t = "好的\n发件人: 张三\n发送时间: 2026年11月20日 10:00\n收件人: 李四\n主题: 需求\n";
        assert_eq!(strip_quotes(t), "好的");
    }

    #[test]
    fn lone_from_line_in_text_is_kept() {
        let t = "Hi,\nFrom: the design team we need two reviewers.\nThanks\n";
        assert_eq!(
            strip_quotes(t),
            "Hi,\nFrom: the design team we need two reviewers.\nThanks"
        );
    }

    #[test]
    fn original_message_separators_cut() {
        for sep in [
            "-----Original Message-----",
            "-----原始邮件-----",
            "------------------ 原始邮件 ------------------",
            "------------------\u{a0}Original\u{a0}------------------",
            "------------------&nbsp;原始邮件&nbsp;------------------",
        ] {
            let t = format!("answer\n\n{sep}\nFrom: x\nold\n");
            assert_eq!(strip_quotes(&t), "answer", "{sep}");
        }
    }

    #[test]
    fn foxmail_block_after_dash_line_is_cut() {
        let t =
            "收到\n \n------\n发件人：张三\n发送时间：2026-11-20 10:00\n收件人：李四\n主题：需求\n";
        assert_eq!(strip_quotes(t), "收到");
    }

    #[test]
    fn attribution_followed_by_quotes_is_removed_and_later_text_kept() {
        let t = "On Fri, Nov 20, 2026 at 10:00 AM Alice <alice@corp.example> wrote:\n> question?\n>\n\nMy answer.\n";
        assert_eq!(strip_quotes(t), "My answer.");
        let t = "Top reply\n\nOn Fri, Nov 20, 2026 at 10:00 AM Alice <\nalice@corp.example> wrote:\n\n> q\n";
        assert_eq!(strip_quotes(t), "Top reply");
    }

    #[test]
    fn attribution_without_quote_marks_cuts() {
        let t = "好的，收到。\n\n在 2026-11-20 10:00:00，\"张三\" <zhangsan@corp.example> 写道：\n原文内容\n";
        assert_eq!(strip_quotes(t), "好的，收到。");
        let t = "OK\n在 2026年11月20日，10:00，张三 <zhangsan@corp.example> 写道：\n\n原文\n";
        assert_eq!(strip_quotes(t), "OK");
        let t = "好\n\n<zhangsan@corp.example> 于2026年11月20日周五 10:00写道：\n原文\n";
        assert_eq!(strip_quotes(t), "好");
        let t = "好\n\n张三 <zhangsan@corp.example>\n于2026年11月20日周五 10:00写道：\n原文\n";
        assert_eq!(strip_quotes(t), "好");
        let t = "Oui\n\nLe ven. 20 nov. 2026 à 10:00, Alice <a@b.example> a écrit :\nvieux\n";
        assert_eq!(strip_quotes(t), "Oui");
    }

    #[test]
    fn quoted_lines_are_removed_but_not_comparisons() {
        let t = "> old\n>> older\nnew\n>= 95% coverage\n";
        assert_eq!(strip_quotes(t), "new\n>= 95% coverage");
    }

    #[test]
    fn signature_separator_cuts() {
        assert_eq!(strip_quotes("body\n-- \nAlice\n"), "body");
        assert_eq!(strip_quotes("body\n--\nAlice\n"), "body");
        assert_eq!(strip_quotes("body\n---\nmore\n"), "body\n---\nmore");
    }

    #[test]
    fn phone_signatures_cut() {
        for sig in [
            "Sent from my iPhone",
            "发自我的iPhone",
            "从我的 iPhone 发送",
            "Get Outlook for iOS",
            "发自网易邮箱大师",
        ] {
            let t = format!("ok\n\n{sig}\n\n> quoted\n");
            assert_eq!(strip_quotes(&t), "ok", "{sig}");
        }
    }

    #[test]
    fn blank_lines_are_trimmed_at_both_ends() {
        assert_eq!(strip_quotes("\n\n a\n\nb\n\n\n"), " a\n\nb");
        assert_eq!(strip_quotes(""), "");
    }
}
