//! A time zone of the IANA database (`Asia/Shanghai`, `Europe/Berlin`), as
//! chrono's [`TimeZone`]: the clock, deadlines and digests count days and
//! hours in the configured one.
//!
//! The database is jiff's copy, built into the binary as one block of
//! bytes (`tzdb-bundle-always`: the same on every machine, none read from
//! the system). chrono-tz, before it, keeps each zone's spans in tables
//! of pointers, 29,000 of them, which the dynamic loader writes into every
//! process at its start whether it reads a time or not: a third of the
//! start-up of `crossdesk --version`.
//!
//! A zone is looked up once per name and kept for the life of the process,
//! so that [`Zone`] is a `Copy` handle, passed and stored by value.

use chrono::{Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, Timelike};
use jiff::tz::AmbiguousOffset;
use std::sync::Mutex;

/// A named time zone.
#[derive(Clone, Copy)]
pub struct Zone(&'static Named);

struct Named {
    /// The database's spelling of the name asked for.
    name: String,
    tz: jiff::tz::TimeZone,
}

/// Every zone looked up so far (a configuration names one).
static ZONES: Mutex<Vec<&'static Named>> = Mutex::new(Vec::new());

impl Zone {
    /// The zone called `name` in the IANA database (`Asia/Shanghai`; case
    /// does not matter), or `None` when it has no such zone.
    pub fn named(name: &str) -> Option<Zone> {
        let mut zones = ZONES.lock().unwrap_or_else(|e| e.into_inner());
        let find = |zones: &[&'static Named], n: &str| {
            zones
                .iter()
                .find(|z| z.name.eq_ignore_ascii_case(n))
                .map(|z| Zone(z))
        };
        if let Some(z) = find(&zones, name) {
            return Some(z);
        }
        let tz = jiff::tz::TimeZone::get(name).ok()?;
        let name = tz.iana_name().unwrap_or(name).to_string();
        if let Some(z) = find(&zones, &name) {
            return Some(z);
        }
        // Kept for the process's life: a few kilobytes per zone name ever
        // configured.
        let z: &'static Named = Box::leak(Box::new(Named { name, tz }));
        zones.push(z);
        Some(Zone(z))
    }

    /// `Asia/Shanghai`, the zone a configuration without one works in.
    pub fn shanghai() -> Zone {
        Zone::named("Asia/Shanghai").expect("the built-in database has Asia/Shanghai")
    }

    /// The zone's name, as the database spells it.
    pub fn name(&self) -> &'static str {
        &self.0.name
    }

    fn offset(&self, o: jiff::tz::Offset) -> ZoneOffset {
        ZoneOffset {
            zone: *self,
            // The database's offsets are all well within a day.
            fixed: FixedOffset::east_opt(o.seconds()).unwrap_or(FixedOffset::east_opt(0).unwrap()),
        }
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Zone {}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Zone({})", self.0.name)
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.name)
    }
}

/// A zone's offset from UTC at one moment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ZoneOffset {
    zone: Zone,
    fixed: FixedOffset,
}

impl chrono::Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl std::fmt::Debug for ZoneOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.zone.0.name, self.fixed)
    }
}

impl std::fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.fixed, f)
    }
}

impl chrono::TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Zone {
        offset.zone
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    /// One offset; none in a gap (the hour skipped when clocks go
    /// forward); two in a fold (the hour lived twice), the earlier moment's
    /// first.
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        let Some(dt) = civil(local) else {
            return MappedLocalTime::None;
        };
        match self.0.tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => MappedLocalTime::Single(self.offset(offset)),
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            AmbiguousOffset::Fold { before, after } => {
                MappedLocalTime::Ambiguous(self.offset(before), self.offset(after))
            }
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        let s = utc.and_utc().timestamp();
        let t = jiff::Timestamp::from_second(s).unwrap_or(if s < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        self.offset(self.0.tz.to_offset(t))
    }
}

/// `t` as jiff's civil time (years -9999 to 9999), to the second.
fn civil(t: &NaiveDateTime) -> Option<jiff::civil::DateTime> {
    jiff::civil::DateTime::new(
        t.year().try_into().ok()?,
        t.month() as i8,
        t.day() as i8,
        t.hour() as i8,
        t.minute() as i8,
        t.second() as i8,
        0,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn names_are_the_databases_in_any_case_and_kept_once() {
        let a = Zone::named("Asia/Shanghai").unwrap();
        assert_eq!(a, Zone::named("asia/shanghai").unwrap());
        assert_eq!(a, Zone::shanghai());
        assert_eq!(a.name(), "Asia/Shanghai");
        assert_eq!(
            Zone::named("ASIA/SHANGHAI").unwrap().to_string(),
            "Asia/Shanghai"
        );
        assert_ne!(a, Zone::named("Europe/Berlin").unwrap());
        for bad in ["", "Mars/Olympus", "Asia/", "+08:00", "UTC+8"] {
            assert!(Zone::named(bad).is_none(), "{bad}");
        }
        for good in [
            "UTC",
            "Etc/GMT-8",
            "America/New_York",
            "Asia/Hong_Kong",
            "Asia/Taipei",
        ] {
            assert!(Zone::named(good).is_some(), "{good}");
        }
    }

    #[test]
    fn offsets_from_utc_follow_the_rules_of_each_season() {
        let sh = Zone::shanghai();
        let t = Utc.with_ymd_and_hms(2026, 12, 4, 1, 30, 0).unwrap();
        assert_eq!(
            t.with_timezone(&sh).to_string(),
            "2026-12-04 09:30:00 +08:00"
        );
        let be = Zone::named("Europe/Berlin").unwrap();
        let winter = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(
            winter.with_timezone(&be).format("%H:%M %z").to_string(),
            "13:00 +0100"
        );
        assert_eq!(
            summer.with_timezone(&be).format("%H:%M %z").to_string(),
            "14:00 +0200"
        );
        // China kept summer time from 1986 to 1991.
        let then = Utc.with_ymd_and_hms(1988, 7, 1, 0, 0, 0).unwrap();
        assert_eq!(then.with_timezone(&sh).format("%z").to_string(), "+0900");
    }

    #[test]
    fn local_times_in_a_gap_are_none_and_in_a_fold_both_earlier_first() {
        let be = Zone::named("Europe/Berlin").unwrap();
        // 2026-03-29 02:00 → 03:00 in Berlin.
        assert_eq!(
            be.from_local_datetime(&local("2026-03-29 02:30")),
            MappedLocalTime::None
        );
        let one = be.from_local_datetime(&local("2026-03-29 03:30")).unwrap();
        assert_eq!(
            one.with_timezone(&Utc).to_rfc3339(),
            "2026-03-29T01:30:00+00:00"
        );
        // 2026-10-25 03:00 → 02:00: 02:30 happens twice.
        let MappedLocalTime::Ambiguous(a, b) = be.from_local_datetime(&local("2026-10-25 02:30"))
        else {
            panic!("not ambiguous");
        };
        assert_eq!(
            a.with_timezone(&Utc).to_rfc3339(),
            "2026-10-25T00:30:00+00:00"
        );
        assert_eq!(
            b.with_timezone(&Utc).to_rfc3339(),
            "2026-10-25T01:30:00+00:00"
        );
        let sh = Zone::shanghai();
        let t = sh.from_local_datetime(&local("2026-12-04 09:00")).unwrap();
        assert_eq!(
            t.with_timezone(&Utc).to_rfc3339(),
            "2026-12-04T01:00:00+00:00"
        );
        assert_eq!(t.timezone(), sh);
        assert_eq!(
            sh.from_local_datetime(&local("2026-12-04 09:00"))
                .unwrap()
                .date_naive(),
            NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
        );
    }
}
