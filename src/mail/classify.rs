//! Subject tags, identifiers and body fields → `Command` (pure: no I/O, no
//! clock; `today` is the local date in the configured time zone).
//!
//! The rules, in the order they are applied (docs/protocol.md#identifiers,
//! #tags, #body-fields):
//!
//! **Normalisation.** Before matching, full-width ASCII (U+FF01..U+FF5E) is
//! mapped to ASCII, U+3000 / NBSP / zero-width spaces to a space and the
//! Unicode dashes (‐ ‑ ‒ – — − ﹣) to `-`. Matching happens on the normalised
//! characters; everything returned as text (title, note, quality, task
//! titles) is cut from the original, so `（周二）` stays full-width there.
//!
//! **Subject.**
//! - A tag is a bracket pair `[ ]`, `［ ］`, `【 】` or `〖 〗` (any closer
//!   ends any opener) holding keywords and/or an identifier, in any order,
//!   separated by spaces or punctuation: `[CONFIRM REQ-42]`, `【确认REQ-42】`.
//!   A bracket with an identifier is a tag (its other words are title text,
//!   `[REQ-42 Export data]`, or a mistyped keyword); a bracket without one is
//!   a tag only if it holds nothing but keywords and percentages
//!   (`【进度 60%】`; also `[PROGRESS 60]`), so `[Project plan]` or
//!   `[REQ Export data]` are ordinary brackets that stay in the title.
//!   `[REQ-0]` / `[REQUEST-42]` are ordinary brackets too.
//! - Reply/forward prefixes (`Re:`, `RE:`, `Fw:`, `Fwd:`, `AW:`, `WG:`, `SV:`,
//!   `VS:`, `TR:`, `RV:`, `Ref:`, `Antw:`, `Odp:`, `PD:`, `Res:`, `Enc:`,
//!   `RIF:`, `回复:`, `回覆:`, `答复:`, `答覆:`, `转发:`, `轉發:`, `轉寄:`,
//!   `转:`, `轉:`, with `:` or `：`, with or without spaces, with a counter
//!   `Re[2]:` / `Re(2):`) are skipped at the start of the subject and right
//!   after any bracket, repeatedly. Elsewhere they are title text.
//! - Identifiers: `REQ-<n>` / `REQ-<n>.<m>`, case-insensitive, any dash.
//!   Inside brackets, spaces around the dash are ignored (`[REQ - 42]`) and
//!   `REQ 42`, `REQ42`, `REQ#42` are accepted **only as the last thing in the
//!   bracket** (`[REQ 42]`, `[CONFIRM REQ 42]`); `[REQ 2026 budget]` is the
//!   new-requirement keyword with `2026 budget` as title text. Outside
//!   brackets only the dashed form counts, on ASCII word boundaries
//!   (`REQ-42` in `see REQ-42.` yes, in `XREQ-42` or `REQ-42a` no).
//! - Outlook auto-links are ignored: `<…>` inside a bracket, `http://`,
//!   `https://`, `mailto:` before an identifier, and a `<http…>` right after
//!   a bare identifier.
//! - Target: the first identifier in a tag; else the first bare identifier
//!   in the subject text; else `None` (the shell uses the thread headers).
//! - Keywords are looked up case-insensitively, per word (an ASCII letter
//!   run, `-`/`_` joined, or a run of non-ASCII letters such as CJK), and
//!   also as the whole bracket content with spaces removed (multi-word or
//!   digit-bearing company keywords work when alone in their bracket; a CJK
//!   run is one word, so `【确认需求】` is not `确认` + `需求`). Bare keywords
//!   outside brackets are title text.
//! - Several keywords: the first one (left to right) wins.
//! - Action: keyword's action; `REQ`/`需求` together with an identifier *in a
//!   tag* (`[REQ] [REQ-42]`) is a comment on that item, while a bare
//!   identifier in a new requirement's subject (`[REQ] follow-up of REQ-41`)
//!   is just title text (target `None`); identifier but no keyword →
//!   `Comment`; neither → `None`.
//! - Unknown keyword: a bracket whose only word (besides an identifier or a
//!   percentage) is not a keyword, not in the ignore lists, and close to a
//!   keyword: Latin words of 2..=12 letters within optimal-string-alignment
//!   distance 1 (≤ 4 letters) or 2 (longer) of a Latin keyword; CJK words of
//!   ≤ 6 characters sharing at least half of the longer word's characters
//!   with a CJK keyword (`确定` ~ `确认`). It is reported only when the
//!   subject holds no valid keyword, and then the action is `None` (the
//!   target stays as found) so the daemon refuses with "did you mean".
//!   Suggestions: up to 3, closest first, ties in table order. Reply
//!   prefix words (`[Re: REQ-42]`) are never unknown keywords.
//! - Ignore lists: gateway markers (`[External]`, `[EXT]`, `[外部邮件]`,
//!   `[SPAM]`, `[Suspicious]`, …) are never keywords and are dropped from the
//!   title; common labels (`[Urgent]`, `[FYI]`, `[重要]`, `[Draft]`, …) are
//!   never keywords and stay in the title. Other brackets that are not tags
//!   stay in the title verbatim.
//! - Percentages: `N%` inside a tag (`【进度 60%】`, `[DONE 100%]`) is always
//!   the progress (> 100 → `BadProgress`); a bare `N%` (or `[N%]`) in the
//!   subject text counts only for the `Progress` action (the first one
//!   ≤ 100), otherwise it stays in the title (`[REQ] Cut cost by 30%`).
//! - Title: the subject without tags, prefixes, identifiers (kept for a new
//!   requirement), markers and the progress percentage; whitespace collapsed,
//!   separators (`: - | , ;`) trimmed from both ends.
//!
//! **Body.**
//! - Fields are `Key: value` lines (`:` or `：`) at the top; blank lines
//!   before the first field are skipped; a blank line or any other line
//!   (including an unknown `Key: value` such as `Note:` or `注意：`) ends
//!   them. Keys are case-insensitive, spaces/`_`/`-` in keys ignored.
//!   Empty values are ignored. `Dept` lines accumulate; other keys: the last
//!   one wins. A body `Progress:` overrides a subject percentage.
//! - `Progress: 60%, API done` → 60 and the rest (`API done`) becomes the
//!   first line of the note; without `%` the value must be just a number.
//! - For the `Progress` action with no percentage anywhere, a note starting
//!   with `N%` gives the progress (the note is kept as written).
//! - List lines (`-`, `*`, `+` followed by a space; `•`, `·`, `●`, `▪`; `1.`,
//!   `1、`, `1)`, `1）`, `(1)`) after the fields are read as tasks
//!   (`owner: title; due …; quality …`) and as milestones
//!   (`date: title (owner)`). Readable ones are always collected; for
//!   `Assign` the read tasks leave the note and every other list line is a
//!   `BadLine` (a task with an unreadable due date is a `BadLine` too, with
//!   the date in `why`); for `Plan` the same with milestones. For other
//!   actions nothing is reported and the note keeps every line.
//! - Task owners: an address, `Name <addr>` (Outlook's `<mailto:…>` is
//!   unwrapped), or a name of at most 32 characters / 4 words; the owner
//!   ends at the first `:`/`：` outside `<…>`. Options after `;`/`；`:
//!   `due`/`deadline`/`截止`/`截止日期`/`截止时间`/`时间节点`/`期限` and
//!   `quality`/`acceptance`/`质量`/`质量要求`/`验收标准`, followed by `:`,
//!   `：`, `=`, a space, or (CJK keys) directly by the value; any other
//!   segment is appended (with `; `) to the title, or to the quality when it
//!   follows one (`quality: p95 < 200 ms; error rate < 1%`).
//! - Milestones: a date at the start (an optional weekday in parentheses
//!   after it is skipped), then `:`/`：`/`-`, the title, and an optional
//!   trailing `(owner)` / `（owner）`.
//! - Dates: see [`parse_date`].

mod body;
mod date;
mod subject;
#[cfg(test)]
mod tests;

pub use date::parse_date;

use crate::model::{Action, Command, FieldProblem, Fields, ItemId, ReqId, TaskId};
use chrono::NaiveDate;
use std::collections::HashMap;

/// The default keyword table (docs/protocol.md#keywords), in table order.
const DEFAULT_KEYWORDS: &[(Action, &[&str])] = &[
    (Action::NewReq, &["REQ", "REQUEST", "需求"]),
    (Action::Confirm, &["CONFIRM", "ACK", "确认"]),
    (
        Action::Clarify,
        &["CLARIFY", "QUERY", "QUESTION", "疑问", "澄清"],
    ),
    (Action::Reject, &["REJECT", "拒绝"]),
    (Action::Assign, &["ASSIGN", "TASK", "分配", "任务"]),
    (Action::Plan, &["PLAN", "计划"]),
    (Action::Accept, &["ACCEPT", "接收", "接受"]),
    (Action::Decline, &["DECLINE", "退回"]),
    (Action::Progress, &["PROGRESS", "STATUS", "进度", "汇报"]),
    (Action::Blocked, &["BLOCKED", "PROBLEM", "问题", "阻塞"]),
    (Action::Done, &["DONE", "COMPLETE", "完成"]),
    (Action::Close, &["CLOSE", "VERIFIED", "验收", "关闭"]),
    (Action::Cancel, &["CANCEL", "取消"]),
    (Action::Notice, &["NOTICE", "通知"]),
    (Action::Show, &["SHOW", "查询"]),
    (Action::Files, &["FILES", "附件"]),
    (Action::Mine, &["MINE", "我的", "待办"]),
    (Action::Help, &["HELP", "帮助"]),
];

/// Keyword sets: the defaults (docs/protocol.md#keywords) plus a company's
/// own words (docs/protocol.md#custom-keywords).
#[derive(Debug, Clone)]
pub struct Keywords {
    /// Normalised word (full-width mapped, lower-cased, no spaces) → action.
    words: HashMap<String, Action>,
    /// (as written, normalised, action) in insertion order, for display and
    /// suggestions.
    list: Vec<(String, String, Action)>,
}

impl Default for Keywords {
    fn default() -> Self {
        let mut k = Keywords {
            words: HashMap::new(),
            list: Vec::new(),
        };
        for (action, words) in DEFAULT_KEYWORDS {
            for w in *words {
                k.add(*action, w);
            }
        }
        k
    }
}

impl Keywords {
    /// An empty set (no keyword at all), for a company that defines its own.
    pub fn empty() -> Self {
        Keywords {
            words: HashMap::new(),
            list: Vec::new(),
        }
    }

    /// Adds a word for an action (from the config). Matching ignores case,
    /// full-width forms and spaces; a word already known is re-pointed to
    /// `action`. Blank words are ignored.
    pub fn add(&mut self, action: Action, word: &str) {
        let key = normalize_key(word);
        if key.is_empty() {
            return;
        }
        let shown = word.trim().to_string();
        if self.words.insert(key.clone(), action).is_some() {
            if let Some(e) = self.list.iter_mut().find(|e| e.1 == key) {
                e.0 = shown;
                e.2 = action;
            }
        } else {
            self.list.push((shown, key, action));
        }
    }

    /// The action a word stands for (case-insensitive, full-width tolerant).
    pub fn lookup(&self, word: &str) -> Option<Action> {
        self.words.get(normalize_key(word).as_str()).copied()
    }

    /// The accepted words for an action, as written in the table or config,
    /// in order (for help texts and refusals). Empty for `Comment`.
    pub fn words_for(&self, action: Action) -> Vec<String> {
        self.list
            .iter()
            .filter(|e| e.2 == action)
            .map(|e| e.0.clone())
            .collect()
    }

    /// Every (word as written, action), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Action)> + '_ {
        self.list.iter().map(|e| (e.0.as_str(), e.2))
    }

    /// Lookup of an already normalised key.
    fn get_norm(&self, key: &str) -> Option<Action> {
        self.words.get(key).copied()
    }

    /// The known words closest to `key` (normalised), closest first, at
    /// most 3; empty when nothing is close enough (see the module rules).
    pub(crate) fn suggest(&self, key: &str) -> Vec<String> {
        let n = key.chars().count();
        let latin = key.bytes().all(|b| b.is_ascii_alphabetic());
        let cjk = key.chars().all(|c| !c.is_ascii() && c.is_alphabetic());
        let mut scored: Vec<(usize, usize, &str)> = Vec::new();
        if latin && (2..=12).contains(&n) {
            let limit = if n <= 4 { 1 } else { 2 };
            for (i, (shown, k, _)) in self.list.iter().enumerate() {
                if !k.bytes().all(|b| b.is_ascii_alphabetic()) {
                    continue;
                }
                let d = osa_distance(key.as_bytes(), k.as_bytes());
                if d <= limit && d < k.len() {
                    scored.push((d, i, shown));
                }
            }
        } else if cjk && (1..=6).contains(&n) {
            for (i, (shown, k, _)) in self.list.iter().enumerate() {
                if k.is_ascii() {
                    continue;
                }
                let shared = k.chars().filter(|c| key.contains(*c)).count();
                let longer = n.max(k.chars().count());
                if shared > 0 && 2 * shared >= longer {
                    // More shared characters first.
                    scored.push((longer - shared, i, shown));
                }
            }
        }
        scored.sort();
        let mut out: Vec<String> = Vec::new();
        for (_, _, s) in scored {
            if out.len() == 3 {
                break;
            }
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        out
    }
}

/// Optimal string alignment distance (Levenshtein plus adjacent
/// transpositions): `confrim` ~ `confirm` is 1.
fn osa_distance(a: &[u8], b: &[u8]) -> usize {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![0usize; (n + 1) * (m + 1)];
    let idx = |i: usize, j: usize| i * (m + 1) + j;
    for i in 0..=n {
        d[idx(i, 0)] = i;
    }
    for j in 0..=m {
        d[idx(0, j)] = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[idx(i - 1, j)] + 1)
                .min(d[idx(i, j - 1)] + 1)
                .min(d[idx(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[idx(i - 2, j - 2)] + 1);
            }
            d[idx(i, j)] = v;
        }
    }
    d[idx(n, m)]
}

/// Full-width ASCII → ASCII, odd spaces → space, Unicode dashes → `-`.
#[inline(always)]
pub(crate) fn norm(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}'
        | '\u{00A0}'
        | '\u{2000}'..='\u{200B}'
        | '\u{202F}'
        | '\u{2060}'
        | '\u{FEFF}' => ' ',
        '\u{2010}'..='\u{2014}' | '\u{2212}' | '\u{FE63}' => '-',
        _ => c,
    }
}

/// Whitespace after `norm`.
#[inline]
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// A keyword/marker key: normalised, lower-cased, without whitespace.
pub(crate) fn normalize_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_key(&mut out, s);
    out
}

pub(crate) fn push_key(out: &mut String, s: &str) {
    for c in s.chars().map(norm) {
        if is_space(c) {
            continue;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

/// A cursor over a string that sees normalised characters while keeping
/// byte positions of the original.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cur<'a> {
    s: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Cur<'a> {
    #[inline]
    pub(crate) fn new(s: &'a str) -> Self {
        Cur { s, pos: 0 }
    }

    #[inline]
    pub(crate) fn at(s: &'a str, pos: usize) -> Self {
        Cur { s, pos }
    }

    #[inline]
    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next().map(norm)
    }

    #[inline]
    pub(crate) fn peek2(&self) -> Option<char> {
        let mut it = self.rest().chars();
        it.next();
        it.next().map(norm)
    }

    #[inline]
    pub(crate) fn prev(&self) -> Option<char> {
        self.s[..self.pos].chars().next_back().map(norm)
    }

    #[inline]
    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.rest().chars().next()?;
        self.pos += c.len_utf8();
        Some(norm(c))
    }

    #[inline]
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    #[inline]
    pub(crate) fn peek_is(&self, f: impl Fn(char) -> bool) -> bool {
        self.peek().is_some_and(f)
    }

    #[inline]
    pub(crate) fn skip_ws(&mut self) -> bool {
        let p = self.pos;
        while self.peek_is(is_space) {
            self.bump();
        }
        self.pos != p
    }

    /// Eats `w` (lower-case ASCII and/or CJK) case-insensitively.
    #[inline]
    pub(crate) fn eat_ci(&mut self, w: &str) -> bool {
        let save = self.pos;
        for wc in w.chars() {
            match self.bump() {
                Some(c) if c.to_ascii_lowercase() == wc => {}
                _ => {
                    self.pos = save;
                    return false;
                }
            }
        }
        true
    }

    /// Reads a run of 1..=`max` ASCII digits (full-width included). A longer
    /// run or none: `None`, cursor unchanged.
    #[inline]
    pub(crate) fn digits(&mut self, max: usize) -> Option<u32> {
        self.digits_n(max).map(|(v, _)| v)
    }

    /// Like [`Cur::digits`], also returning how many digits were read.
    #[inline]
    pub(crate) fn digits_n(&mut self, max: usize) -> Option<(u32, usize)> {
        let save = self.pos;
        let mut v: u64 = 0;
        let mut n = 0;
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            self.bump();
            v = v * 10 + u64::from(c as u8 - b'0');
            n += 1;
            if n > max {
                self.pos = save;
                return None;
            }
        }
        if n == 0 || v > u64::from(u32::MAX) {
            self.pos = save;
            return None;
        }
        Some((v as u32, n))
    }

    /// Skips a URL scheme that Outlook links in: `http://`, `https://`,
    /// `mailto:`.
    #[inline]
    pub(crate) fn eat_scheme(&mut self) -> bool {
        self.eat_ci("http://") || self.eat_ci("https://") || self.eat_ci("mailto:")
    }
}

/// Reads an identifier at the cursor: `REQ-42`, `REQ-42.1`. `loose` (inside
/// brackets) also allows spaces around the dash and `REQ 42`, `REQ42`,
/// `REQ#42`; the second value says whether a dash was present. On failure
/// the cursor is unchanged.
pub(crate) fn read_id(cur: &mut Cur<'_>, loose: bool) -> Option<(ItemId, bool)> {
    let save = *cur;
    let r = read_id_inner(cur, loose);
    if r.is_none() {
        *cur = save;
    }
    r
}

fn read_id_inner(cur: &mut Cur<'_>, loose: bool) -> Option<(ItemId, bool)> {
    if !cur.eat_ci("req") {
        return None;
    }
    if cur.peek_is(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    if loose {
        cur.skip_ws();
    }
    let dashed = cur.eat('-');
    if !dashed {
        if !loose {
            return None;
        }
        let _ = cur.eat('#') || cur.eat('_');
    }
    if loose {
        cur.skip_ws();
    }
    let n = cur.digits(9).filter(|n| *n > 0)?;
    let mut id = ItemId::Req(ReqId(n));
    if cur.peek() == Some('.') && cur.peek2().is_some_and(|c| c.is_ascii_digit()) {
        let save = *cur;
        cur.bump();
        match cur.digits(9).filter(|m| *m > 0) {
            Some(m) => {
                id = ItemId::Task(TaskId {
                    req: ReqId(n),
                    n: m,
                })
            }
            None => *cur = save,
        }
    }
    if cur.peek_is(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((id, dashed))
}

/// Every identifier (`REQ-42`, `REQ-42.1`, dashed form, on ASCII word
/// boundaries, auto-links tolerated) anywhere in `s`, in order of first
/// appearance, without duplicates. For correlation by subject.
pub fn ids_in_text(s: &str) -> Vec<ItemId> {
    let mut out = Vec::new();
    let mut cur = Cur::new(s);
    while let Some(c) = cur.peek() {
        if (c == 'r' || c == 'R') && !cur.prev().is_some_and(|p| p.is_ascii_alphanumeric()) {
            if let Some((id, _)) = read_id(&mut cur, false) {
                if !out.contains(&id) {
                    out.push(id);
                }
                continue;
            }
        }
        cur.bump();
    }
    out
}

/// Whether the subject carries a reply/forward prefix (`Re:`, `回复：`, …)
/// where `classify` skips them. The shell may use it to tell a reply that
/// still says `[REQ]` from a new requirement.
pub fn has_reply_prefix(subject: &str) -> bool {
    let mut scratch = String::new();
    subject::scan(subject, &Keywords::empty(), &mut scratch).prefixed
}

/// Understands one mail: subject tags and body fields → `Command`.
pub fn classify(subject: &str, body: &str, kw: &Keywords, today: NaiveDate) -> Command {
    let mut scratch = String::with_capacity(32);
    let sc = subject::scan(subject, kw, &mut scratch);

    let target = sc.tag_id.or(if sc.kw == Some(Action::NewReq) {
        None
    } else {
        sc.bare_id
    });
    let unknown = if sc.kw.is_none() {
        sc.unknown.clone()
    } else {
        None
    };
    let action = if unknown.is_some() {
        None
    } else {
        match sc.kw {
            Some(Action::NewReq) if target.is_some() => Some(Action::Comment),
            Some(a) => Some(a),
            None => target.map(|_| Action::Comment),
        }
    };

    let mut fields = Fields::default();
    let (title, bare_pct) = sc.title(action);
    match sc.tag_pct.or(bare_pct) {
        Some(p) if p <= 100 => fields.progress = Some(p as u8),
        Some(p) => fields.problems.push(FieldProblem::BadProgress {
            value: format!("{p}%"),
        }),
        None => {}
    }

    body::parse(body, action, today, &mut fields);

    if action == Some(Action::Progress) && fields.progress.is_none() {
        fields.progress = body::leading_percent(&fields.note);
    }

    Command {
        action,
        target,
        title,
        fields,
        unknown_keyword: unknown,
    }
}
