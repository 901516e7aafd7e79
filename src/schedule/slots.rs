//! Slots: the moments a schedule fires. The clock only ever looks at the
//! latest slot at or before `now`: after downtime that one slot is caught
//! up once (its key is recorded when it is sent), the earlier missed ones
//! are gone for good, and a slot before the clock's first start is never
//! sent (a new deployment does not mail yesterday's digest).

use super::calendar::Calendar;
use super::spec::Schedule;
use crate::model::Zone;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// How far back (and ahead) a slot is looked for: a schedule that fires
/// less than once a year is not one.
const HORIZON_DAYS: i64 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Local time of the configured zone, as scheduled.
    pub local: NaiveDateTime,
    pub at: DateTime<Utc>,
}

impl Slot {
    /// `2026-12-01 09:00`: in keys, subjects and command output.
    pub fn label(&self) -> String {
        self.local.format("%Y-%m-%d %H:%M").to_string()
    }

    pub fn date(&self) -> NaiveDate {
        self.local.date()
    }
}

fn at_local(tz: Zone, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    // A local time that does not exist (a DST gap) fires at the first
    // instant after the gap; an ambiguous one at its first occurrence.
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

fn slots_on(sched: &Schedule, cal: &Calendar, tz: Zone, day: NaiveDate) -> Vec<Slot> {
    if !sched.fires_on(day, cal) {
        return vec![];
    }
    sched
        .times
        .iter()
        .filter_map(|t| {
            let local = day.and_time(*t);
            at_local(tz, local).map(|at| Slot { local, at })
        })
        .collect()
}

/// The latest slot at or before `now`.
pub fn latest_slot(sched: &Schedule, cal: &Calendar, tz: Zone, now: DateTime<Utc>) -> Option<Slot> {
    let today = now.with_timezone(&tz).date_naive();
    for back in 0..HORIZON_DAYS {
        let day = today - Duration::days(back);
        if let Some(s) = slots_on(sched, cal, tz, day)
            .into_iter()
            .rev()
            .find(|s| s.at <= now)
        {
            return Some(s);
        }
    }
    None
}

/// The first slot strictly after `now`.
pub fn next_slot(sched: &Schedule, cal: &Calendar, tz: Zone, now: DateTime<Utc>) -> Option<Slot> {
    let today = now.with_timezone(&tz).date_naive();
    for ahead in 0..HORIZON_DAYS {
        let day = today + Duration::days(ahead);
        if let Some(s) = slots_on(sched, cal, tz, day)
            .into_iter()
            .find(|s| s.at > now)
        {
            return Some(s);
        }
    }
    None
}

/// The slot to send at `now`: the latest one at or before it, unless it
/// lies before the clock's first start. Whether it was sent already is
/// the store's business (its key).
pub fn due_slot(
    sched: &Schedule,
    cal: &Calendar,
    tz: Zone,
    now: DateTime<Utc>,
    started: DateTime<Utc>,
) -> Option<Slot> {
    latest_slot(sched, cal, tz, now).filter(|s| s.at >= started)
}

/// The exactly-once key of a department's digest for a slot.
pub fn digest_key(dept: &str, slot: &Slot) -> String {
    format!("digest:{dept}:{}", slot.local.format("%Y-%m-%dT%H:%M"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn cal() -> Calendar {
        Calendar::new(
            &[Weekday::Sat, Weekday::Sun],
            [NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()],
            [NaiveDate::from_ymd_opt(2026, 10, 11).unwrap()],
        )
    }

    /// A Shanghai local time as UTC.
    fn sh(s: &str) -> DateTime<Utc> {
        let l = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        crate::model::Zone::shanghai()
            .from_local_datetime(&l)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn mf() -> Schedule {
        Schedule::parse("Mon-Fri 09:00").unwrap()
    }

    fn tz() -> Zone {
        Zone::shanghai()
    }

    #[test]
    fn the_latest_slot_is_today_once_its_time_has_come() {
        let s = latest_slot(&mf(), &cal(), tz(), sh("2026-12-01 09:00")).unwrap();
        assert_eq!(s.label(), "2026-12-01 09:00");
        assert_eq!(s.at, sh("2026-12-01 09:00"));
        let s = latest_slot(&mf(), &cal(), tz(), sh("2026-12-01 08:59")).unwrap();
        assert_eq!(s.label(), "2026-11-30 09:00");
        // Monday morning: Friday's.
        let s = latest_slot(&mf(), &cal(), tz(), sh("2026-11-30 08:00")).unwrap();
        assert_eq!(s.label(), "2026-11-27 09:00");
    }

    #[test]
    fn holidays_have_no_slot_and_makeup_days_have_one() {
        // Oct 1 (Thu) is a holiday: at Oct 1 10:00 the latest is Sep 30's.
        let s = latest_slot(&mf(), &cal(), tz(), sh("2026-10-01 10:00")).unwrap();
        assert_eq!(s.label(), "2026-09-30 09:00");
        let s = latest_slot(&mf(), &cal(), tz(), sh("2026-10-11 09:30")).unwrap();
        assert_eq!(s.label(), "2026-10-11 09:00");
        let n = next_slot(&mf(), &cal(), tz(), sh("2026-09-30 09:00")).unwrap();
        assert_eq!(n.label(), "2026-10-02 09:00");
    }

    #[test]
    fn after_three_days_down_only_the_latest_slot_is_due() {
        // Down from Tue 08:00 to Fri 10:00: Tue, Wed, Thu and Fri slots
        // passed; one is due, Friday's.
        let started = sh("2026-11-01 00:00");
        let s = due_slot(&mf(), &cal(), tz(), sh("2026-12-04 10:00"), started).unwrap();
        assert_eq!(s.label(), "2026-12-04 09:00");
        assert_eq!(
            digest_key("rd", &s),
            "digest:rd:2026-12-04T09:00".to_string()
        );
    }

    #[test]
    fn no_slot_before_the_first_start() {
        let started = sh("2026-12-01 10:00");
        assert_eq!(
            due_slot(&mf(), &cal(), tz(), sh("2026-12-01 12:00"), started),
            None
        );
        let s = due_slot(&mf(), &cal(), tz(), sh("2026-12-02 09:00"), started).unwrap();
        assert_eq!(s.label(), "2026-12-02 09:00");
    }

    #[test]
    fn several_times_a_day_and_zones_with_summer_time() {
        let two = Schedule::parse("daily 09:00,15:00").unwrap();
        let s = latest_slot(&two, &cal(), tz(), sh("2026-12-01 16:00")).unwrap();
        assert_eq!(s.label(), "2026-12-01 15:00");
        let n = next_slot(&two, &cal(), tz(), sh("2026-12-01 09:00")).unwrap();
        assert_eq!(n.label(), "2026-12-01 15:00");
        // 02:30 does not exist in Berlin on 2026-03-29: it fires at 03:30 CEST.
        let tz: Zone = crate::model::Zone::named("Europe/Berlin").unwrap();
        let night = Schedule::parse("daily 02:30").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0).unwrap();
        let s = latest_slot(&night, &Calendar::default(), tz, now).unwrap();
        assert_eq!(s.at, Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap());
    }
}
