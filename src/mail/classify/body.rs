//! Body fields, task lines, milestones and the note.

use super::date::parse_date_prefix;
use super::{is_space, norm, parse_date, push_key, Cur};
use crate::model::Mailbox;
use crate::model::{Action, FieldProblem, Fields, Milestone, Priority, TaskLine};
use chrono::NaiveDate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Dept,
    Due,
    Quality,
    Priority,
    Progress,
}

/// Field keys, normalised (lower-case, no spaces, `_` or `-`).
fn field_key(k: &str) -> Option<Key> {
    Some(match k {
        "dept" | "depts" | "department" | "departments" | "部门" | "协作部门" | "目标部门" => {
            Key::Dept
        }
        "due" | "duedate" | "deadline" | "截止" | "截止日期" | "截止时间" | "时间节点" | "期限" => {
            Key::Due
        }
        "quality"
        | "acceptance"
        | "acceptancecriteria"
        | "qualityrequirement"
        | "qualityrequirements"
        | "质量要求"
        | "验收标准"
        | "质量" => Key::Quality,
        "priority" | "优先级" => Key::Priority,
        "progress" | "进度" => Key::Progress,
        _ => return None,
    })
}

fn is_blank(line: &str) -> bool {
    line.chars().all(|c| is_space(norm(c)))
}

/// The first `:`/`：` of `s` outside `<…>`: (byte index, byte length).
fn find_colon(s: &str) -> Option<(usize, usize)> {
    let mut depth = 0u32;
    for (i, ch) in s.char_indices() {
        match norm(ch) {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => return Some((i, ch.len_utf8())),
            _ => {}
        }
    }
    None
}

/// `Key: value` with a known key: (key, key as written, value trimmed).
fn field_line<'a>(line: &'a str, scratch: &mut String) -> Option<(Key, &'a str, &'a str)> {
    let (i, l) = find_colon(line)?;
    let raw = line[..i].trim_matches(|c| is_space(norm(c)));
    if raw.is_empty() || raw.chars().count() > 24 {
        return None;
    }
    scratch.clear();
    push_key(scratch, raw);
    scratch.retain(|c| c != '_' && c != '-');
    let key = field_key(scratch)?;
    let value = line[i + l..].trim_matches(|c| is_space(norm(c)));
    Some((key, raw, value))
}

/// Department names: split on `,` `，` `、` `;` `；`, full-width mapped,
/// trimmed, de-duplicated.
fn push_departments(out: &mut Vec<String>, value: &str) {
    for part in value.split(|c| matches!(norm(c), ',' | ';' | '、')) {
        let d: String = part.chars().map(norm).collect();
        let d = d.trim();
        if !d.is_empty() && !out.iter().any(|o| o == d) {
            out.push(d.to_string());
        }
    }
}

/// `60%`, `60`, `６０％`, `60 %`, `60%, API done` → (60, rest). Junk or
/// > 100 → `None`.
fn parse_progress(value: &str) -> Option<(u8, &str)> {
    let mut c = Cur::new(value);
    c.skip_ws();
    let n = c.digits(3)?;
    c.skip_ws();
    let pct = c.eat('%');
    let rest = c.rest().trim_start_matches(|ch| {
        let ch = norm(ch);
        is_space(ch) || matches!(ch, ',' | ';' | '.' | '、' | '。' | '-')
    });
    if n > 100 || (!pct && !rest.is_empty()) || (pct && c.peek_is(|x| x.is_ascii_alphanumeric())) {
        return None;
    }
    Some((n as u8, rest.trim_end()))
}

/// A leading `N%` (N ≤ 100) of a note.
pub(super) fn leading_percent(note: &str) -> Option<u8> {
    let mut c = Cur::new(note);
    c.skip_ws();
    let n = c.digits(3)?;
    c.skip_ws();
    (c.eat('%') && n <= 100).then_some(n as u8)
}

/// The content of a list line after its marker, or `None`.
fn list_item(line: &str) -> Option<&str> {
    let mut c = Cur::new(line);
    c.skip_ws();
    let ch = c.peek()?;
    match ch {
        '-' | '*' | '+' => {
            c.bump();
            if !c.skip_ws() {
                return None;
            }
        }
        '•' | '·' | '●' | '○' | '▪' | '◦' | '‧' | '・' => {
            c.bump();
        }
        '(' => {
            c.bump();
            c.digits(3)?;
            if !c.eat(')') {
                return None;
            }
        }
        d if d.is_ascii_digit() => {
            c.digits(3)?;
            match c.bump()? {
                '.' => {
                    if c.peek_is(|x| x.is_ascii_digit()) {
                        return None;
                    }
                }
                '、' | ')' => {}
                _ => return None,
            }
        }
        _ => return None,
    }
    c.skip_ws();
    let rest = c.rest().trim_end();
    (!rest.is_empty()).then_some(rest)
}

/// Whether `s` starts with something date-like (a digit, or a relative word).
fn starts_like_date(s: &str, today: NaiveDate) -> bool {
    parse_date_prefix(s, today).is_some() || Cur::new(s).peek_is(|c| c.is_ascii_digit())
}

/// `Name <mailto:addr>` / `addr<mailto:addr>` (Outlook) → the plain form.
fn clean_owner(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    if let Some(lt) = lower.find("<mailto:") {
        let inside = &raw[lt + "<mailto:".len()..];
        let addr = inside.split('>').next().unwrap_or("").trim();
        let name = raw[..lt].trim();
        if name.is_empty() || name.eq_ignore_ascii_case(addr) {
            return addr.to_string();
        }
        if crate::model::valid_address(name) {
            return name.to_string();
        }
        return format!("{name} <{addr}>");
    }
    raw.to_string()
}

/// Option keys of a task line (normalised), longest first per language.
const DUE_KEYS: &[&str] = &[
    "截止日期",
    "截止时间",
    "时间节点",
    "截止",
    "期限",
    "deadline",
    "duedate",
    "due date",
    "due",
];
const QUALITY_KEYS: &[&str] = &["质量要求", "验收标准", "质量", "quality", "acceptance"];

/// Matches an option key at the start of `seg`; returns the value.
fn option_value<'a>(seg: &'a str, keys: &[&str]) -> Option<&'a str> {
    for k in keys {
        let mut c = Cur::new(seg);
        if !c.eat_ci(k) {
            continue;
        }
        if k.is_ascii() && c.peek_is(|x| x.is_ascii_alphanumeric()) {
            continue;
        }
        c.skip_ws();
        let _ = c.eat(':') || c.eat('=');
        c.skip_ws();
        return Some(c.rest().trim_end());
    }
    None
}

enum Opt {
    Title,
    Quality,
}

/// `owner: title; due …; quality …` → a task, or why not.
fn task_line(content: &str, today: NaiveDate) -> Result<TaskLine, String> {
    if starts_like_date(content, today) {
        return Err("a list line must start with the task owner (`- owner: title; due 2026-12-10`), not a date".into());
    }
    let Some((i, l)) = find_colon(content) else {
        return Err("no owner: write `- owner: title; due 2026-12-10; quality …`".into());
    };
    let owner = clean_owner(content[..i].trim());
    if owner.is_empty() {
        return Err("no owner before the colon".into());
    }
    if owner.contains('@') {
        if Mailbox::parse(&owner).is_none() {
            return Err(format!("`{owner}` is not a mail address"));
        }
    } else {
        let n = owner.chars().count();
        let words = owner.split_whitespace().count();
        if n > 32 || words > 4 || !owner.chars().any(char::is_alphabetic) {
            return Err(format!(
                "`{owner}` does not look like an owner (an address or a member name)"
            ));
        }
    }
    let mut segs = content[i + l..].split(|c| norm(c) == ';');
    let title = segs.next().unwrap_or("").trim().to_string();
    if title.is_empty() {
        return Err("no task title after the owner".into());
    }
    let mut task = TaskLine {
        owner,
        title,
        due: None,
        quality: None,
    };
    let mut last = Opt::Title;
    for seg in segs {
        let seg = seg.trim();
        if seg.is_empty() {
            continue;
        }
        if let Some(v) = option_value(seg, DUE_KEYS) {
            match parse_date(v, today) {
                Some(d) => task.due = Some(d),
                None => {
                    return Err(format!(
                        "cannot read the due date `{v}` (write 2026-12-15, 2026/12/15, 2026年12月15日 or 12月15日)"
                    ))
                }
            }
            last = Opt::Title;
        } else if let Some(v) = option_value(seg, QUALITY_KEYS) {
            match &mut task.quality {
                Some(q) => {
                    q.push_str("; ");
                    q.push_str(v);
                }
                None => task.quality = Some(v.to_string()),
            }
            last = Opt::Quality;
        } else {
            let target = match last {
                Opt::Quality => task.quality.get_or_insert_with(String::new),
                Opt::Title => &mut task.title,
            };
            if !target.is_empty() {
                target.push_str("; ");
            }
            target.push_str(seg);
        }
    }
    Ok(task)
}

/// `2026-12-01: design review (alice)` → a milestone, or why not.
fn milestone_line(content: &str, today: NaiveDate) -> Result<Milestone, String> {
    let Some((date, used)) = parse_date_prefix(content, today) else {
        return Err(if Cur::new(content).peek_is(|c| c.is_ascii_digit()) {
            "cannot read the date (write 2026-12-01, 2026/12/01, 2026年12月1日 or 12月1日)".into()
        } else {
            "a milestone starts with its date: `- 2026-12-01: title (owner)`".into()
        });
    };
    let mut c = Cur::at(content, used);
    // Ignore a weekday in parentheses right after the date: 12月1日（周二）.
    let mut t = c;
    t.skip_ws();
    if t.eat('(') {
        let inside_start = t.pos;
        while t.peek_is(|x| x != ')') {
            t.bump();
        }
        let inside = &content[inside_start..t.pos];
        if t.eat(')') && is_weekday(inside) {
            c = t;
        }
    }
    c.skip_ws();
    let _ = c.eat(':') || c.eat('-');
    let mut title = c.rest().trim();
    let mut owner = None;
    if title.ends_with(')') || title.ends_with('）') {
        if let Some(open) = title.rfind(['(', '（']) {
            let close = title.len() - title.chars().next_back().map_or(0, char::len_utf8);
            let o = title[open + char_len_at(title, open)..close].trim();
            if !o.is_empty() {
                owner = Some(o.to_string());
                title = title[..open].trim();
            }
        }
    }
    if title.is_empty() {
        return Err("no milestone title after the date".into());
    }
    Ok(Milestone {
        date,
        title: title.to_string(),
        owner,
    })
}

fn char_len_at(s: &str, at: usize) -> usize {
    s[at..].chars().next().map_or(0, char::len_utf8)
}

fn is_weekday(s: &str) -> bool {
    let s = s.trim();
    let zh = ["周", "星期", "礼拜", "週"];
    let en = [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    zh.iter()
        .any(|p| s.starts_with(p) && s.chars().count() <= p.chars().count() + 1)
        || en
            .iter()
            .any(|w| s.trim_end_matches('.').eq_ignore_ascii_case(w))
}

/// Parses the body into `f` (fields, tasks, milestones, note, problems).
pub(super) fn parse(body: &str, action: Option<Action>, today: NaiveDate, f: &mut Fields) {
    let mut scratch = String::with_capacity(32);
    let mut note = String::with_capacity(body.len());
    let mut in_fields = true;
    let mut seen_field = false;
    let mut progress_field = None;
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if in_fields {
            if is_blank(line) {
                if seen_field {
                    in_fields = false;
                    // Keep the paragraph break after a progress remark.
                    if !note.is_empty() {
                        note.push('\n');
                    }
                }
                continue;
            }
            if let Some((key, raw, value)) = field_line(line, &mut scratch) {
                seen_field = true;
                if !value.is_empty() {
                    field(f, key, raw, value, today, &mut note, &mut progress_field);
                }
                continue;
            }
            in_fields = false;
        }
        if let Some(content) = list_item(line) {
            let task = task_line(content, today);
            let ms = milestone_line(content, today);
            let (remove, problem) = match action {
                Some(Action::Assign) => match &task {
                    Ok(_) => (true, None),
                    Err(why) => (false, Some(why.clone())),
                },
                Some(Action::Plan) => match &ms {
                    Ok(_) => (true, None),
                    Err(why) => (false, Some(why.clone())),
                },
                _ => (false, None),
            };
            if let Ok(t) = task {
                f.tasks.push(t);
            }
            if let Ok(m) = ms {
                f.milestones.push(m);
            }
            if let Some(why) = problem {
                f.problems.push(FieldProblem::BadLine {
                    line: line.trim().to_string(),
                    why,
                });
            }
            if remove {
                continue;
            }
        }
        note.push_str(line);
        note.push('\n');
    }
    if let Some(p) = progress_field {
        f.progress = Some(p);
    }
    let t = note.trim();
    f.note = if t.len() == note.len() {
        note
    } else {
        t.to_string()
    };
}

fn field(
    f: &mut Fields,
    key: Key,
    raw: &str,
    value: &str,
    today: NaiveDate,
    note: &mut String,
    progress: &mut Option<u8>,
) {
    match key {
        Key::Dept => push_departments(&mut f.departments, value),
        Key::Due => match parse_date(value, today) {
            Some(d) => f.due = Some(d),
            None => f.problems.push(FieldProblem::BadDate {
                field: raw.to_string(),
                value: value.to_string(),
            }),
        },
        Key::Quality => f.quality = Some(value.to_string()),
        Key::Priority => {
            let v: String = value.chars().map(norm).collect();
            match Priority::parse(&v) {
                Some(p) => f.priority = Some(p),
                None => f.problems.push(FieldProblem::BadPriority {
                    value: value.to_string(),
                }),
            }
        }
        Key::Progress => match parse_progress(value) {
            Some((p, rest)) => {
                *progress = Some(p);
                if !rest.is_empty() {
                    note.push_str(rest);
                    note.push('\n');
                }
            }
            None => f.problems.push(FieldProblem::BadProgress {
                value: value.to_string(),
            }),
        },
    }
}
