//! Dates as people write them in a `Due:` field, a task or a milestone.

use super::{is_space, Cur};
use chrono::{Datelike, Duration, NaiveDate};

/// Reads a date at the start of `s` (leading spaces skipped; anything after
/// the date is ignored, e.g. `2026-12-15 18:00` or `2026-12-15（周二）`).
/// Full-width digits and punctuation are accepted. Forms:
/// - `2026-12-15`, `2026/12/15`, `2026.12.15` (same separator twice),
///   `2026年12月15日` / `号` / `號` (the day suffix is optional), `20261215`;
/// - `12月15日`, `12/15`, `12-15`, `12.15`: the next such date on or after
///   `today` (this year, else the next year that has it: `2月29日`);
/// - `15日` / `15号`: the next 15th on or after `today`;
/// - `Dec 15`, `December 15, 2026`, `15 Dec 2026`, `Dec 15th`;
/// - `12/15/2026` or `15/12/2026` only when unambiguous (one part > 12);
/// - `今天`/`今日`/`today`, `明天`/`明日`/`tomorrow`, `后天`/`後天`.
///
/// A day that does not exist (`2026-02-30`, `13月1日`) is `None`.
pub fn parse_date(s: &str, today: NaiveDate) -> Option<NaiveDate> {
    parse_date_prefix(s, today).map(|(d, _)| d)
}

const RELATIVE: &[(&str, i64)] = &[
    ("今天", 0),
    ("今日", 0),
    ("today", 0),
    ("明天", 1),
    ("明日", 1),
    ("tomorrow", 1),
    ("后天", 2),
    ("後天", 2),
];

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("sept", 9),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];

/// Like [`parse_date`], also returning the number of bytes of `s` read.
pub(crate) fn parse_date_prefix(s: &str, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    let mut c = Cur::new(s);
    c.skip_ws();
    let start = c;
    let first = start.peek()?;
    if first.is_ascii_digit() {
        return numeric_date(start, today);
    }
    if !first.is_alphabetic() {
        return None;
    }
    for (w, days) in RELATIVE {
        let mut t = start;
        if t.eat_ci(w) && !t.peek_is(|x| x.is_ascii_alphabetic()) {
            return Some((today + Duration::days(*days), t.pos));
        }
    }
    if first.is_ascii_alphabetic() {
        let mut t = start;
        let m = month_name(&mut t)?;
        t.eat('.');
        t.skip_ws();
        let d = t.digits(2)?;
        ordinal_suffix(&mut t);
        let mut y = t;
        let _ = y.eat(',');
        y.skip_ws();
        if let Some(year) = year4(&mut y) {
            return Some((NaiveDate::from_ymd_opt(year as i32, m, d)?, y.pos));
        }
        return Some((next_md(m, d, today)?, t.pos));
    }
    None
}

/// A date starting with a digit.
fn numeric_date(start: Cur<'_>, today: NaiveDate) -> Option<(NaiveDate, usize)> {
    let mut t = start;
    let (a, adigits) = t.digits_n(8)?;
    match adigits {
        8 => {
            let (y, m, d) = (a / 10000, a / 100 % 100, a % 100);
            Some((NaiveDate::from_ymd_opt(y as i32, m, d)?, t.pos))
        }
        4 => {
            // `2026 年 12 月 15 日`: spaces only before 年.
            let mut y = t;
            y.skip_ws();
            if y.peek() == Some('年') {
                t = y;
            }
            let sep = t.bump()?;
            let (m, d) = match sep {
                '-' | '/' | '.' => {
                    let m = t.digits(2)?;
                    if !t.eat(sep) {
                        return None;
                    }
                    let d = t.digits(2)?;
                    (m, d)
                }
                '年' => {
                    t.skip_ws();
                    let m = t.digits(2)?;
                    t.skip_ws();
                    if !t.eat('月') {
                        return None;
                    }
                    t.skip_ws();
                    let d = t.digits(2)?;
                    day_suffix(&mut t);
                    (m, d)
                }
                _ => return None,
            };
            if t.peek_is(|x| x.is_ascii_digit()) {
                return None;
            }
            Some((NaiveDate::from_ymd_opt(a as i32, m, d)?, t.pos))
        }
        1 | 2 => {
            let mut u = t;
            match u.bump() {
                Some('月') => {
                    u.skip_ws();
                    let d = u.digits(2)?;
                    day_suffix(&mut u);
                    Some((next_md(a, d, today)?, u.pos))
                }
                Some('日' | '号' | '號') => Some((next_day(a, today)?, u.pos)),
                Some(sep @ ('/' | '-' | '.')) => {
                    let b = u.digits(2)?;
                    let mut v = u;
                    if v.eat(sep) {
                        // M/D/YYYY or D/M/YYYY, only when unambiguous.
                        let y = year4(&mut v)?;
                        let (m, d) = match (a > 12, b > 12) {
                            (false, true) => (a, b),
                            (true, false) => (b, a),
                            _ => return None,
                        };
                        return Some((NaiveDate::from_ymd_opt(y as i32, m, d)?, v.pos));
                    }
                    if u.peek_is(|x| x.is_ascii_digit()) {
                        return None;
                    }
                    Some((next_md(a, b, today)?, u.pos))
                }
                Some(ch) if is_space(ch) => {
                    u.skip_ws();
                    let m = month_name(&mut u)?;
                    let mut y = u;
                    y.eat('.');
                    y.skip_ws();
                    if let Some(year) = year4(&mut y) {
                        return Some((NaiveDate::from_ymd_opt(year as i32, m, a)?, y.pos));
                    }
                    Some((next_md(m, a, today)?, u.pos))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Exactly four digits not followed by another digit.
fn year4(c: &mut Cur<'_>) -> Option<u32> {
    let mut t = *c;
    match t.digits_n(4)? {
        (y, 4) => {
            *c = t;
            Some(y)
        }
        _ => None,
    }
}

fn month_name(c: &mut Cur<'_>) -> Option<u32> {
    let mut t = *c;
    let mut buf = [0u8; 9];
    let mut n = 0;
    while let Some(ch) = t.peek().filter(char::is_ascii_alphabetic) {
        if n == buf.len() {
            return None;
        }
        buf[n] = ch.to_ascii_lowercase() as u8;
        n += 1;
        t.bump();
    }
    let word = &buf[..n];
    let m = MONTHS.iter().find(|(name, _)| name.as_bytes() == word)?.1;
    *c = t;
    Some(m)
}

fn ordinal_suffix(c: &mut Cur<'_>) {
    for s in ["st", "nd", "rd", "th"] {
        let mut t = *c;
        if t.eat_ci(s) && !t.peek_is(|x| x.is_ascii_alphabetic()) {
            *c = t;
            return;
        }
    }
}

fn day_suffix(c: &mut Cur<'_>) {
    let _ = c.eat('日') || c.eat('号') || c.eat('號');
}

/// The next `m`/`d` on or after `today`: this year, else the first later
/// year that has that day (29 February).
fn next_md(m: u32, d: u32, today: NaiveDate) -> Option<NaiveDate> {
    let y = today.year();
    (y..=y + 8)
        .filter_map(|y| NaiveDate::from_ymd_opt(y, m, d))
        .find(|dt| *dt >= today)
}

/// The next day-of-month `d` on or after `today`.
fn next_day(d: u32, today: NaiveDate) -> Option<NaiveDate> {
    let (mut y, mut m) = (today.year(), today.month());
    for _ in 0..13 {
        if let Some(dt) = NaiveDate::from_ymd_opt(y, m, d).filter(|dt| *dt >= today) {
            return Some(dt);
        }
        m += 1;
        if m > 12 {
            m = 1;
            y += 1;
        }
    }
    None
}
