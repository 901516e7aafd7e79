//! Working days: a weekend, public holidays and make-up working days
//! (调休: a weekend day worked in exchange for a holiday). Deadlines,
//! "silent for N days", reminders and digest schedules count these days.

use chrono::{Datelike, NaiveDate, Weekday};
use std::collections::BTreeSet;

/// The company calendar. A make-up day is a working day even when it falls
/// on the weekend; a holiday is not one even on a weekday; a date that is
/// both is taken as a working day (the later, explicit exception).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Indexed by `Weekday::num_days_from_monday`.
    weekend: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    /// Saturday and Sunday off, no holidays.
    fn default() -> Self {
        Calendar::new(&[Weekday::Sat, Weekday::Sun], [], [])
    }
}

/// Longest run of days off we walk through before giving up (a calendar
/// that makes every day a holiday would otherwise loop for ever; config
/// validation refuses a weekend of seven days).
const MAX_DAYS_OFF: i64 = 3660;

impl Calendar {
    pub fn new(
        weekend: &[Weekday],
        holidays: impl IntoIterator<Item = NaiveDate>,
        workdays: impl IntoIterator<Item = NaiveDate>,
    ) -> Calendar {
        let mut w = [false; 7];
        for d in weekend {
            w[d.num_days_from_monday() as usize] = true;
        }
        Calendar {
            weekend: w,
            holidays: holidays.into_iter().collect(),
            workdays: workdays.into_iter().collect(),
        }
    }

    pub fn is_weekend_day(&self, wd: Weekday) -> bool {
        self.weekend[wd.num_days_from_monday() as usize]
    }

    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.contains(&d) && !self.workdays.contains(&d)
    }

    pub fn is_makeup_day(&self, d: NaiveDate) -> bool {
        self.workdays.contains(&d)
    }

    pub fn is_workday(&self, d: NaiveDate) -> bool {
        if self.workdays.contains(&d) {
            return true;
        }
        !self.holidays.contains(&d) && !self.is_weekend_day(d.weekday())
    }

    /// `n` working days after `d` (before it when `n` is negative); `d`
    /// itself when `n` is 0. From a day off, the first working day after
    /// it is `add_workdays(d, 1)`.
    pub fn add_workdays(&self, d: NaiveDate, n: i64) -> NaiveDate {
        let step = if n < 0 { -1 } else { 1 };
        let mut left = n.abs();
        let mut cur = d;
        let mut off = 0;
        while left > 0 {
            let Some(next) = cur.checked_add_signed(chrono::Duration::days(step)) else {
                return cur;
            };
            cur = next;
            if self.is_workday(cur) {
                left -= 1;
                off = 0;
            } else {
                off += 1;
                if off > MAX_DAYS_OFF {
                    return cur;
                }
            }
        }
        cur
    }

    /// Working days in `(a, b]`: after `a`, up to and including `b`.
    /// Negative when `b` is before `a`; 0 when they are equal. So a task
    /// due on `a` is "overdue by `workdays_between(a, today)` working days"
    /// and one last reported on `a` has been silent that many.
    pub fn workdays_between(&self, a: NaiveDate, b: NaiveDate) -> i64 {
        if b < a {
            return -self.workdays_between(b, a);
        }
        let days = (b - a).num_days();
        // Whole weeks at once: the same number of weekend days in each.
        let per_week = 7 - self.weekend.iter().filter(|w| **w).count() as i64;
        let weeks = days / 7;
        let mut n = weeks * per_week;
        let mut cur = a + chrono::Duration::days(weeks * 7);
        while cur < b {
            cur = cur.succ_opt().unwrap_or(cur);
            if !self.is_weekend_day(cur.weekday()) {
                n += 1;
            }
        }
        // Then the exceptions inside the range.
        let range = (std::ops::Bound::Excluded(a), std::ops::Bound::Included(b));
        for h in self.holidays.range(range) {
            if !self.is_weekend_day(h.weekday()) && !self.workdays.contains(h) {
                n -= 1;
            }
        }
        for w in self.workdays.range(range) {
            if self.is_weekend_day(w.weekday()) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// China 2026 around the National Day holiday, as the example config:
    /// Oct 1–2 (Thu, Fri) off, Sunday Oct 11 worked.
    fn cn() -> Calendar {
        Calendar::new(
            &[Weekday::Sat, Weekday::Sun],
            [d("2026-10-01"), d("2026-10-02")],
            [d("2026-10-11")],
        )
    }

    #[test]
    fn weekends_and_holidays_are_off_and_makeup_days_are_worked() {
        let c = cn();
        assert!(c.is_workday(d("2026-09-30"))); // Wed
        assert!(!c.is_workday(d("2026-10-01"))); // Thu, holiday
        assert!(!c.is_workday(d("2026-10-03"))); // Sat
        assert!(!c.is_workday(d("2026-10-04"))); // Sun
        assert!(c.is_workday(d("2026-10-05"))); // Mon
        assert!(c.is_workday(d("2026-10-11"))); // Sun, make-up day
        assert!(c.is_makeup_day(d("2026-10-11")));
        assert!(c.is_holiday(d("2026-10-02")));
        assert!(!Calendar::default().is_workday(d("2026-10-11")));
    }

    #[test]
    fn adding_working_days_skips_weekends_and_holidays() {
        let c = cn();
        // Wed Sep 30 + 1 → Mon Oct 5 (Thu/Fri holidays, then the weekend).
        assert_eq!(c.add_workdays(d("2026-09-30"), 1), d("2026-10-05"));
        assert_eq!(c.add_workdays(d("2026-09-30"), 0), d("2026-09-30"));
        // Fri Oct 9 + 1 → Sun Oct 11 (make-up day).
        assert_eq!(c.add_workdays(d("2026-10-09"), 1), d("2026-10-11"));
        assert_eq!(c.add_workdays(d("2026-10-09"), 2), d("2026-10-12"));
        // Backwards.
        assert_eq!(c.add_workdays(d("2026-10-05"), -1), d("2026-09-30"));
        // From a day off, +1 is the next working day.
        assert_eq!(c.add_workdays(d("2026-10-03"), 1), d("2026-10-05"));
        // Plain weekend.
        let p = Calendar::default();
        assert_eq!(p.add_workdays(d("2026-11-27"), 1), d("2026-11-30")); // Fri → Mon
        assert_eq!(p.add_workdays(d("2026-11-27"), 5), d("2026-12-04"));
    }

    #[test]
    fn working_days_between_count_after_the_first_day_up_to_the_last() {
        let c = cn();
        assert_eq!(c.workdays_between(d("2026-09-30"), d("2026-09-30")), 0);
        assert_eq!(c.workdays_between(d("2026-09-30"), d("2026-10-05")), 1);
        assert_eq!(c.workdays_between(d("2026-10-05"), d("2026-09-30")), -1);
        // Mon Oct 5 .. Mon Oct 12: Tue–Fri, Sun (make-up), Mon = 6.
        assert_eq!(c.workdays_between(d("2026-10-05"), d("2026-10-12")), 6);
        let p = Calendar::default();
        assert_eq!(p.workdays_between(d("2026-11-27"), d("2026-11-30")), 1);
        assert_eq!(p.workdays_between(d("2026-11-27"), d("2026-11-28")), 0);
    }

    #[test]
    fn counting_agrees_with_stepping_over_a_long_range() {
        let c = cn();
        let start = d("2026-08-01");
        for n in 0..120 {
            let end = c.add_workdays(start, n);
            assert_eq!(c.workdays_between(start, end), n, "{start} + {n} = {end}");
        }
        for i in 0..200 {
            let a = start + chrono::Duration::days(i % 17);
            let b = start + chrono::Duration::days(i);
            let mut slow = 0;
            let mut cur = a;
            while cur < b {
                cur = cur.succ_opt().unwrap();
                if c.is_workday(cur) {
                    slow += 1;
                }
            }
            if b >= a {
                assert_eq!(c.workdays_between(a, b), slow, "{a}..{b}");
            }
        }
    }
}
