//! The clock's configuration words: schedules (`"Mon-Fri 09:00"`,
//! `"Mon,Wed 08:30"`, `"daily 18:00"`, `"workdays 09:00,15:00"`) and spans
//! (`"24h"`, `"3d"`).
//!
//! Units of a span: `m` minutes and `h` hours are wall-clock time; `d` is
//! **working days** of the calendar (so `"3d"` after a Friday report is the
//! next Wednesday). `accept_within` accepts either; `report_every`,
//! `due_soon` and `escalate_after` count days (deadlines are dates), so
//! they take `d` only.
//!
//! Which days a schedule fires on:
//! - `daily`: every day, weekends and holidays included;
//! - `workdays`, or a day list covering every day that is not weekend
//!   (`Mon-Fri` with a Sat/Sun weekend): every working day of the
//!   calendar — holidays skipped, make-up working days included;
//! - any other list (`Mon,Wed`): those weekdays, holidays skipped (a
//!   make-up day stands for no particular weekday, so it is not added).

use super::calendar::Calendar;
use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Days {
    Daily,
    Workdays,
    /// Indexed by `Weekday::num_days_from_monday`.
    List([bool; 7]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub days: Days,
    /// Sorted, distinct local times.
    pub times: Vec<NaiveTime>,
    /// As written, for messages.
    pub text: String,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub fn parse_weekday(s: &str) -> Option<Weekday> {
    let l = s.trim().to_ascii_lowercase();
    let i = DAY_NAMES
        .iter()
        .position(|d| l == *d || (l.len() > 3 && full_name(d).starts_with(&l)))?;
    Weekday::try_from(i as u8).ok()
}

fn full_name(d: &str) -> &'static str {
    match d {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    }
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

impl Schedule {
    /// `DAYS TIME[,TIME…]`. DAYS is `daily`, `workdays`, or weekday names
    /// and ranges separated by commas (`Mon-Fri`, `Mon,Wed,Fri`,
    /// `Sun-Tue`). TIME is `HH:MM`, local time.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let text = s.trim();
        let hint = "use e.g. \"Mon-Fri 09:00\", \"Mon,Wed 08:30\", \"daily 18:00\" or \"workdays 09:00,15:00\"";
        let (days_s, times_s) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("`{text}`: {hint}"))?;
        let days = match days_s.to_ascii_lowercase().as_str() {
            "daily" | "everyday" => Days::Daily,
            "workdays" | "weekdays" => Days::Workdays,
            _ => {
                let mut set = [false; 7];
                for part in days_s.split(',').filter(|p| !p.trim().is_empty()) {
                    let (a, b) = match part.split_once('-') {
                        Some((a, b)) => (a, b),
                        None => (part, part),
                    };
                    let (Some(a), Some(b)) = (parse_weekday(a), parse_weekday(b)) else {
                        return Err(format!("`{text}`: unknown day in `{part}`; {hint}"));
                    };
                    let mut i = a.num_days_from_monday();
                    loop {
                        set[i as usize] = true;
                        if i == b.num_days_from_monday() {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                }
                if !set.iter().any(|x| *x) {
                    return Err(format!("`{text}`: no days; {hint}"));
                }
                Days::List(set)
            }
        };
        let mut times = vec![];
        for t in times_s.split([',', ' ']).filter(|t| !t.trim().is_empty()) {
            times.push(
                parse_time(t).ok_or_else(|| format!("`{text}`: `{t}` is not HH:MM; {hint}"))?,
            );
        }
        if times.is_empty() {
            return Err(format!("`{text}`: no time; {hint}"));
        }
        times.sort();
        times.dedup();
        Ok(Schedule {
            days,
            times,
            text: text.to_string(),
        })
    }

    /// Does the schedule fire on this local date?
    pub fn fires_on(&self, d: NaiveDate, cal: &Calendar) -> bool {
        match &self.days {
            Days::Daily => true,
            Days::Workdays => cal.is_workday(d),
            Days::List(set) => {
                let all_weekdays = (0..7).all(|i| {
                    set[i] || cal.is_weekend_day(Weekday::try_from(i as u8).unwrap_or(Weekday::Mon))
                });
                if all_weekdays {
                    cal.is_workday(d)
                } else {
                    set[d.weekday().num_days_from_monday() as usize] && !cal.is_holiday(d)
                }
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A span of time: wall-clock minutes, or working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Minutes(i64),
    Workdays(i64),
}

impl Span {
    /// `90m`, `24h`, `3d` (working days). A bare number is refused: the
    /// unit matters too much to guess.
    pub fn parse(s: &str) -> Result<Span, String> {
        let t = s.trim().to_ascii_lowercase();
        let hint =
            "use a number and a unit: \"24h\" (hours), \"90m\" (minutes) or \"3d\" (working days)";
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{s}`: {hint}"))?;
        let (n, unit) = t.split_at(split);
        let n: i64 = n.parse().map_err(|_| format!("`{s}`: {hint}"))?;
        if n > 100_000 {
            return Err(format!("`{s}`: too long"));
        }
        match unit.trim() {
            "m" | "min" => Ok(Span::Minutes(n)),
            "h" => Ok(Span::Minutes(n * 60)),
            "d" | "wd" => Ok(Span::Workdays(n)),
            _ => Err(format!("`{s}`: unknown unit `{unit}`; {hint}")),
        }
    }

    /// Working days, for the spans that count dates.
    pub fn workdays(&self) -> Option<i64> {
        match self {
            Span::Workdays(n) => Some(*n),
            Span::Minutes(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn t(s: &str) -> NaiveTime {
        parse_time(s).unwrap()
    }

    #[test]
    fn schedules_parse_day_ranges_lists_and_times() {
        let s = Schedule::parse("Mon-Fri 09:00").unwrap();
        assert_eq!(
            s.days,
            Days::List([true, true, true, true, true, false, false])
        );
        assert_eq!(s.times, vec![t("09:00")]);
        let s = Schedule::parse("Mon,Wed 08:30").unwrap();
        assert_eq!(
            s.days,
            Days::List([true, false, true, false, false, false, false])
        );
        let s = Schedule::parse("daily 18:00").unwrap();
        assert_eq!(s.days, Days::Daily);
        let s = Schedule::parse("workdays 15:00,09:00").unwrap();
        assert_eq!(s.days, Days::Workdays);
        assert_eq!(s.times, vec![t("09:00"), t("15:00")]);
        // A range that wraps the week, full day names.
        let s = Schedule::parse("Sunday-Tue 07:00").unwrap();
        assert_eq!(
            s.days,
            Days::List([true, true, false, false, false, false, true])
        );
    }

    #[test]
    fn bad_schedules_say_what_is_accepted() {
        for bad in [
            "Mon-Fri",
            "09:00",
            "Mon-Fry 09:00",
            "Mon 9am",
            "Mon 25:00",
            "",
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.contains("Mon-Fri 09:00"), "{bad}: {e}");
        }
    }

    #[test]
    fn working_day_schedules_skip_holidays_and_include_makeup_days() {
        let cal = Calendar::new(
            &[Weekday::Sat, Weekday::Sun],
            [d("2026-10-01")],
            [d("2026-10-11")],
        );
        let mf = Schedule::parse("Mon-Fri 09:00").unwrap();
        assert!(mf.fires_on(d("2026-09-30"), &cal));
        assert!(!mf.fires_on(d("2026-10-01"), &cal)); // holiday
        assert!(!mf.fires_on(d("2026-10-10"), &cal)); // Sat
        assert!(mf.fires_on(d("2026-10-11"), &cal)); // make-up Sunday
        let mw = Schedule::parse("Mon,Wed 09:00").unwrap();
        assert!(!mw.fires_on(d("2026-10-11"), &cal));
        assert!(mw.fires_on(d("2026-10-12"), &cal));
        assert!(!mw.fires_on(d("2026-10-13"), &cal));
        let daily = Schedule::parse("daily 18:00").unwrap();
        assert!(daily.fires_on(d("2026-10-01"), &cal));
        assert!(daily.fires_on(d("2026-10-10"), &cal));
    }

    #[test]
    fn spans_have_units_and_days_are_working_days() {
        assert_eq!(Span::parse("24h"), Ok(Span::Minutes(1440)));
        assert_eq!(Span::parse("90m"), Ok(Span::Minutes(90)));
        assert_eq!(Span::parse("3d"), Ok(Span::Workdays(3)));
        assert_eq!(Span::parse(" 2D "), Ok(Span::Workdays(2)));
        assert_eq!(Span::parse("3d").unwrap().workdays(), Some(3));
        assert_eq!(Span::parse("3h").unwrap().workdays(), None);
        for bad in ["3", "d", "3 weeks", "-1d", "3x"] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
    }
}
