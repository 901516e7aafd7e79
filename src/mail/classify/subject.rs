//! Subject scanning: prefixes, brackets, identifiers, percentages, title.

use super::{is_space, push_key, read_id, Cur, Keywords};
use crate::model::{Action, ItemId, UnknownKeyword};

/// Reply/forward prefixes (lower-case), each followed by `:`/`：`.
const PREFIXES: &[&str] = &[
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "tr", "rv", "ref", "antw", "antwort", "odp", "pd",
    "res", "enc", "rif", "回复", "回覆", "答复", "答覆", "转发", "轉發", "轉寄", "转", "轉",
];

/// Mail-gateway markers: never keywords, dropped from the title.
const MARKERS: &[&str] = &[
    "external",
    "ext",
    "extern",
    "externe",
    "externo",
    "externalemail",
    "externalsender",
    "外部",
    "外部邮件",
    "外部郵件",
    "外部来信",
    "外部邮件请注意",
    "外部发件人",
    "spam",
    "suspectedspam",
    "possiblespam",
    "suspicious",
    "phishing",
    "caution",
    "垃圾邮件",
    "疑似垃圾邮件",
    "可疑邮件",
    "广告",
    "ad",
    "bulk",
];

/// Common labels: never keywords (no "did you mean"), kept in the title.
const NOT_COMMANDS: &[&str] = &[
    "urgent",
    "important",
    "fyi",
    "info",
    "draft",
    "wip",
    "update",
    "reminder",
    "test",
    "new",
    "secure",
    "encrypt",
    "confidential",
    "internal",
    "紧急",
    "加急",
    "急",
    "重要",
    "提醒",
    "测试",
    "草稿",
    "更新",
    "机密",
    "内部",
];

/// A piece of the subject that may end up in the title.
#[derive(Debug, Clone, Copy)]
enum Piece {
    /// Text kept as is.
    Keep(usize, usize),
    /// A bare identifier: kept only in a new requirement's title.
    Id(usize, usize),
    /// A bare percentage: the progress for `Progress`, else title text.
    Pct(usize, usize, u32),
}

/// What the subject holds.
#[derive(Debug)]
pub(super) struct Scan<'a> {
    src: &'a str,
    /// The first keyword's action.
    pub kw: Option<Action>,
    /// The first identifier in a tag.
    pub tag_id: Option<ItemId>,
    /// The first identifier in the subject text.
    pub bare_id: Option<ItemId>,
    /// The first percentage inside a tag.
    pub tag_pct: Option<u32>,
    /// The first unknown keyword.
    pub unknown: Option<UnknownKeyword>,
    /// A reply/forward prefix was skipped.
    pub prefixed: bool,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, Copy)]
enum TokKind {
    Id(ItemId),
    Word,
    Num(u32),
    Pct(u32),
    /// `REQ-0`, `REQ-99999999999`: id-shaped but not an id.
    Junk,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: TokKind,
    start: usize,
    end: usize,
}

fn is_open(c: char) -> bool {
    matches!(c, '[' | '【' | '〖')
}

fn is_close(c: char) -> bool {
    matches!(c, ']' | '】' | '〗')
}

/// Eats one reply/forward prefix with its colon and following spaces.
fn eat_prefix(cur: &mut Cur<'_>) -> bool {
    let save = *cur;
    // The word: a short run of letters (ASCII or CJK).
    let mut n = 0;
    while n < 8 && cur.peek_is(char::is_alphabetic) {
        cur.bump();
        n += 1;
    }
    if n == 0 || n == 8 {
        *cur = save;
        return false;
    }
    let word = &cur.s[save.pos..cur.pos];
    // Optional counter: Re[2]: / Re(2): / Re^2:
    let before = *cur;
    let counted = if cur.eat('[') {
        cur.digits(3).is_some() && cur.eat(']')
    } else if cur.eat('(') {
        cur.digits(3).is_some() && cur.eat(')')
    } else if cur.eat('^') {
        cur.digits(3).is_some()
    } else {
        true
    };
    if !counted {
        *cur = before;
    }
    cur.skip_ws();
    if cur.eat(':')
        && PREFIXES
            .iter()
            .any(|p| Cur::new(word).eat_ci(p) && word_len_eq(word, p))
    {
        cur.skip_ws();
        return true;
    }
    *cur = save;
    false
}

/// Whether `word` (original) has as many characters as `p`.
fn word_len_eq(word: &str, p: &str) -> bool {
    word.chars().count() == p.chars().count()
}

/// Skips `<…>` (an Outlook auto-link) right after a bare identifier,
/// possibly after one space, when it holds a link.
fn eat_trailing_link(cur: &mut Cur<'_>) {
    let mut t = *cur;
    t.eat(' ');
    if !t.eat('<') {
        return;
    }
    if !(t.eat_scheme() || t.eat_ci("req")) {
        return;
    }
    while let Some(c) = t.bump() {
        if c == '>' {
            *cur = t;
            return;
        }
        if is_space(c) {
            return;
        }
    }
}

/// Scans a subject.
pub(super) fn scan<'a>(subject: &'a str, kw: &Keywords, scratch: &mut String) -> Scan<'a> {
    let mut sc = Scan {
        src: subject,
        kw: None,
        tag_id: None,
        bare_id: None,
        tag_pct: None,
        unknown: None,
        prefixed: false,
        pieces: Vec::new(),
    };
    let mut toks: Vec<Tok> = Vec::new();
    let mut cur = Cur::new(subject);
    let mut seg_start = true;
    let mut run = 0usize;
    loop {
        if seg_start {
            seg_start = false;
            loop {
                cur.skip_ws();
                if !eat_prefix(&mut cur) {
                    break;
                }
                sc.prefixed = true;
            }
            run = cur.pos;
        }
        let Some(c) = cur.peek() else { break };
        let here = cur.pos;
        if is_open(c) {
            let mut t = cur;
            t.bump();
            let inner = t.pos;
            let mut close = None;
            while let Some(c) = t.peek() {
                if is_close(c) {
                    close = Some(t.pos);
                    break;
                }
                if is_open(c) {
                    break;
                }
                t.bump();
            }
            if let Some(close) = close {
                t.bump();
                sc.keep(run, here);
                sc.bracket(here, inner, close, t.pos, kw, scratch, &mut toks);
                cur = t;
                seg_start = true;
                continue;
            }
        } else if matches!(c, 'r' | 'R' | 'h' | 'H' | 'm' | 'M')
            && !cur.prev().is_some_and(|p| p.is_ascii_alphanumeric())
        {
            let mut t = cur;
            t.eat_scheme();
            let id_start = t.pos;
            if let Some((id, _)) = read_id(&mut t, false) {
                let id_end = t.pos;
                eat_trailing_link(&mut t);
                sc.keep(run, here);
                sc.pieces.push(Piece::Id(id_start, id_end));
                sc.bare_id.get_or_insert(id);
                cur = t;
                run = cur.pos;
                continue;
            }
        } else if c.is_ascii_digit()
            && !cur
                .prev()
                .is_some_and(|p| p.is_ascii_alphanumeric() || p == '.')
        {
            let mut t = cur;
            if let Some(n) = t.digits(3) {
                t.skip_ws();
                if t.eat('%') {
                    sc.keep(run, here);
                    sc.pieces.push(Piece::Pct(here, t.pos, n));
                    cur = t;
                    run = cur.pos;
                    continue;
                }
            }
            while cur.peek_is(|c| c.is_ascii_digit()) {
                cur.bump();
            }
            continue;
        }
        cur.bump();
    }
    sc.keep(run, subject.len());
    sc
}

impl Scan<'_> {
    fn keep(&mut self, a: usize, b: usize) {
        if a < b {
            self.pieces.push(Piece::Keep(a, b));
        }
    }

    fn set_unknown(&mut self, tok: &Tok, kw: &Keywords, scratch: &mut String) -> bool {
        scratch.clear();
        push_key(scratch, &self.src[tok.start..tok.end]);
        if MARKERS.contains(&scratch.as_str())
            || NOT_COMMANDS.contains(&scratch.as_str())
            || PREFIXES.contains(&scratch.as_str())
        {
            return false;
        }
        let suggestions = kw.suggest(scratch);
        if suggestions.is_empty() {
            return false;
        }
        if self.unknown.is_none() {
            self.unknown = Some(UnknownKeyword {
                word: self.src[tok.start..tok.end].to_string(),
                suggestions,
            });
        }
        true
    }

    /// Classifies one bracket `open..end` with content `inner..close`.
    #[allow(clippy::too_many_arguments)]
    fn bracket(
        &mut self,
        open: usize,
        inner: usize,
        close: usize,
        end: usize,
        kw: &Keywords,
        scratch: &mut String,
        toks: &mut Vec<Tok>,
    ) {
        let content = &self.src[..close];

        // The whole content, without spaces and links: a (multi-word)
        // keyword, or a gateway marker.
        scratch.clear();
        let mut c = Cur::at(content, inner);
        while let Some(ch) = c.peek() {
            if ch == '<' {
                while c.bump().is_some_and(|x| x != '>') {}
                continue;
            }
            c.bump();
            if !is_space(ch) {
                if ch.is_ascii() {
                    scratch.push(ch.to_ascii_lowercase());
                } else {
                    scratch.extend(ch.to_lowercase());
                }
            }
        }
        if let Some(a) = kw.get_norm(scratch) {
            self.kw.get_or_insert(a);
            return;
        }
        if MARKERS.contains(&scratch.as_str()) {
            return;
        }

        tokenize(content, inner, toks);

        let mut first_kw = None;
        let mut id = None;
        let mut pct = None;
        let mut num = None;
        let mut num_is_pct = false;
        let mut others = 0;
        let mut words = 0;
        let mut cand = None;
        for t in toks.iter() {
            match t.kind {
                TokKind::Word => {
                    scratch.clear();
                    push_key(scratch, &self.src[t.start..t.end]);
                    if let Some(a) = kw.get_norm(scratch) {
                        first_kw.get_or_insert(a);
                    } else {
                        others += 1;
                        words += 1;
                        cand = Some(*t);
                    }
                }
                TokKind::Id(i) => {
                    id.get_or_insert(i);
                }
                TokKind::Pct(p) => {
                    pct.get_or_insert(p);
                }
                TokKind::Num(n) => {
                    others += 1;
                    num.get_or_insert(n);
                }
                TokKind::Junk => others += 1,
            }
        }

        // `[PROGRESS 60]`: a lone number next to the progress keyword.
        if first_kw == Some(Action::Progress) && pct.is_none() && others == 1 && words == 0 {
            if let Some(n) = num.filter(|n| *n <= 100) {
                pct = Some(n);
                others = 0;
                num_is_pct = true;
            }
        }

        // A tag: an identifier (other words are title text or a mistyped
        // keyword), or nothing but keywords and percentages. `[Project plan]`
        // is an ordinary bracket.
        let tag = id.is_some() || (first_kw.is_some() && others == 0);
        if tag {
            if let Some(a) = first_kw {
                self.kw.get_or_insert(a);
            }
            if let Some(i) = id {
                self.tag_id.get_or_insert(i);
            }
            if let Some(p) = pct {
                self.tag_pct.get_or_insert(p);
            }
            if others == 1 && words == 1 {
                if let Some(t) = cand {
                    if self.set_unknown(&t, kw, scratch) {
                        return;
                    }
                }
            }
            // Other words of a tag are title text (`[REQ-42 Export data]`).
            for t in toks.iter() {
                let leftover = match t.kind {
                    TokKind::Word | TokKind::Junk => true,
                    TokKind::Num(_) => !num_is_pct,
                    TokKind::Id(_) | TokKind::Pct(_) => false,
                };
                if leftover {
                    scratch.clear();
                    push_key(scratch, &self.src[t.start..t.end]);
                    if kw.get_norm(scratch).is_none() {
                        self.pieces.push(Piece::Keep(t.start, t.end));
                    }
                }
            }
            return;
        }
        if others == 0 && first_kw.is_none() {
            if let Some(p) = pct {
                self.pieces.push(Piece::Pct(open, end, p));
                return;
            }
        }
        if others == 1 && words == 1 && first_kw.is_none() {
            if let Some(t) = cand {
                if self.set_unknown(&t, kw, scratch) {
                    return;
                }
            }
        }
        self.pieces.push(Piece::Keep(open, end));
    }

    /// The title for `action`, and the subject-text percentage it consumed.
    pub(super) fn title(&self, action: Option<Action>) -> (String, Option<u32>) {
        let take_pct = action == Some(Action::Progress) && self.tag_pct.is_none();
        let keep_ids = action == Some(Action::NewReq);
        let mut pct = None;
        let mut out = String::with_capacity(self.src.len());
        let mut last_end = usize::MAX;
        for p in &self.pieces {
            let (a, b) = match *p {
                Piece::Keep(a, b) => (a, b),
                Piece::Id(a, b) => {
                    if !keep_ids {
                        continue;
                    }
                    (a, b)
                }
                Piece::Pct(a, b, n) => {
                    if take_pct && pct.is_none() && n <= 100 {
                        pct = Some(n);
                        continue;
                    }
                    (a, b)
                }
            };
            let text = &self.src[a..b];
            if a != last_end {
                let left = out.chars().next_back().map(super::norm);
                let right = text.chars().next().map(super::norm);
                if let (Some(l), Some(r)) = (left, right) {
                    if !is_space(l)
                        && !is_space(r)
                        && (l.is_ascii_alphanumeric() || r.is_ascii_alphanumeric())
                    {
                        out.push(' ');
                    }
                }
            }
            out.push_str(text);
            last_end = b;
        }
        (tidy(&out), pct)
    }
}

/// Splits bracket content `inner..content.len()` into tokens.
fn tokenize(content: &str, inner: usize, toks: &mut Vec<Tok>) {
    toks.clear();
    let mut c = Cur::at(content, inner);
    loop {
        c.skip_ws();
        let st = c.pos;
        let Some(ch) = c.peek() else { break };
        if ch == '<' {
            while c.bump().is_some_and(|x| x != '>') {}
            continue;
        }
        if matches!(ch, 'h' | 'H' | 'm' | 'M') && c.eat_scheme() {
            continue;
        }
        if ch == 'r' || ch == 'R' {
            let mut t = c;
            if let Some((id, dashed)) = read_id(&mut t, true) {
                if dashed || only_links_left(t) {
                    toks.push(Tok {
                        kind: TokKind::Id(id),
                        start: st,
                        end: t.pos,
                    });
                    c = t;
                    continue;
                }
            }
            // `REQ-0`: shaped like an identifier, but none.
            let mut t = c;
            if t.eat_ci("req") && t.eat('-') && t.peek_is(|x| x.is_ascii_digit()) {
                while t.peek_is(|x| x.is_ascii_alphanumeric() || x == '.') {
                    t.bump();
                }
                toks.push(Tok {
                    kind: TokKind::Junk,
                    start: st,
                    end: t.pos,
                });
                c = t;
                continue;
            }
        }
        if ch.is_ascii_digit() {
            let mut v: u32 = 0;
            while let Some(d) = c.peek().filter(char::is_ascii_digit) {
                c.bump();
                v = v
                    .saturating_mul(10)
                    .saturating_add(u32::from(d as u8 - b'0'));
            }
            let num_end = c.pos;
            let mut t = c;
            t.skip_ws();
            if t.eat('%') {
                toks.push(Tok {
                    kind: TokKind::Pct(v),
                    start: st,
                    end: t.pos,
                });
                c = t;
            } else {
                toks.push(Tok {
                    kind: TokKind::Num(v),
                    start: st,
                    end: num_end,
                });
            }
            continue;
        }
        if ch.is_ascii_alphabetic() {
            loop {
                while c.peek_is(|x| x.is_ascii_alphabetic()) {
                    c.bump();
                }
                // `SIGN-OFF` is one word; `CONFIRM-REQ-42` is not.
                if matches!(c.peek(), Some('-' | '_'))
                    && c.peek2().is_some_and(|x| x.is_ascii_alphabetic())
                {
                    let mut t = c;
                    t.bump();
                    let mut probe = t;
                    if read_id(&mut probe, true).is_some() {
                        break;
                    }
                    c = t;
                    continue;
                }
                break;
            }
            toks.push(Tok {
                kind: TokKind::Word,
                start: st,
                end: c.pos,
            });
            continue;
        }
        if ch.is_alphabetic() {
            while c.peek_is(|x| !x.is_ascii() && x.is_alphabetic()) {
                c.bump();
            }
            toks.push(Tok {
                kind: TokKind::Word,
                start: st,
                end: c.pos,
            });
            continue;
        }
        c.bump();
    }
}

/// Nothing but spaces, links and `/` until the end of the bracket.
fn only_links_left(mut c: Cur<'_>) -> bool {
    loop {
        c.skip_ws();
        match c.peek() {
            None => return true,
            Some('<') => while c.bump().is_some_and(|x| x != '>') {},
            Some('/') => {
                c.bump();
            }
            Some(_) => return false,
        }
    }
}

/// Collapses whitespace runs to one space, drops brackets left empty by a
/// removed identifier (`Export (REQ-42)`), trims separators from both ends.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let s = &*drop_empty_brackets(s);
    let mut pending_space = false;
    for ch in s.chars() {
        if is_space(super::norm(ch)) {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(ch);
    }
    let sep = |c: char| {
        let c = super::norm(c);
        is_space(c) || matches!(c, ':' | '|' | ',' | ';' | '、' | '-')
    };
    // A leading `-` is kept when it is a sign (`-5 dB`).
    let mut start = 0;
    for (i, ch) in out.char_indices() {
        if !sep(ch) {
            break;
        }
        if super::norm(ch) == '-'
            && out[i + ch.len_utf8()..].starts_with(|c: char| c.is_ascii_digit())
        {
            break;
        }
        start = i + ch.len_utf8();
    }
    let t = out[start..].trim_end_matches(sep);
    if start == 0 && t.len() == out.len() {
        out
    } else {
        t.to_string()
    }
}

/// Removes `()`, `（）`, `[]`, `【】`, `<>` pairs holding only spaces.
fn drop_empty_brackets(s: &str) -> std::borrow::Cow<'_, str> {
    fn pair(c: char) -> Option<char> {
        match c {
            '(' | '（' => Some(')'),
            '[' | '［' => Some(']'),
            '【' => Some('】'),
            '<' => Some('>'),
            _ => None,
        }
    }
    if !s.chars().any(|c| pair(c).is_some()) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if let Some(close) = pair(c) {
            let after = &rest[c.len_utf8()..];
            let inner = after.trim_start_matches(|x: char| is_space(super::norm(x)));
            if let Some(x) = inner.chars().next() {
                if super::norm(x) == close || x == close {
                    rest = &inner[x.len_utf8()..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}
