//! The clock: department digests on a schedule and personal reminders,
//! computed from the requirement snapshots at a given `now`.
//!
//! Pure: `calendar`, `spec`, `slots`, `digest` and `reminders` take `now`
//! as an argument and touch no store. `crate::clock` is the thin shell
//! that reads the open requirements, asks them what is due, and records
//! each exactly-once key in the same transaction that queues its mail.

pub mod calendar;
pub mod digest;
pub mod reminders;
pub mod slots;
pub mod spec;

use crate::model::Zone;
use calendar::Calendar;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use spec::{Schedule, Span};
use std::collections::HashMap;

/// The clock's configuration, parsed and validated (`Config::clock_settings`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub calendar: Calendar,
    pub tz: Zone,
    /// `[digest].schedule`; `None` when "off".
    pub default_schedule: Option<Schedule>,
    /// Per-department overrides (`None`: that department has no digest).
    pub dept_schedules: HashMap<String, Option<Schedule>>,
    pub skip_empty: bool,
    pub max_rows: usize,
    pub reminders: bool,
    pub accept_within: Span,
    /// Working days.
    pub report_every: i64,
    /// Working days.
    pub due_soon: i64,
    /// Working days.
    pub escalate_after: i64,
    /// Reminders go out on working days from this local time.
    pub send_from: NaiveTime,
}

impl Settings {
    /// The digest schedule of a department.
    pub fn schedule_for(&self, dept: &str) -> Option<&Schedule> {
        match self.dept_schedules.get(dept) {
            Some(s) => s.as_ref(),
            None => self.default_schedule.as_ref(),
        }
    }

    /// The local date of an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }
}

/// The environment variable that fixes the clock: `2026-12-01 09:00`
/// (local time of the configured zone) or an RFC 3339 time. For tests and
/// for admins replaying a day; every command (`run`, `ingest`, `digest`, …)
/// then takes it as "now".
pub const NOW_ENV: &str = "CROSSDESK_NOW";

/// Parses `2026-12-01 09:00` (local, in `tz`) or RFC 3339.
pub fn parse_local_time(s: &str, tz: Zone) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_time(NaiveTime::from_hms_opt(0, 0, 0).unwrap_or_default()))
        })
        .ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// "Now": `CROSSDESK_NOW` when set (see [`NOW_ENV`]), else the system clock.
pub fn now(tz: Zone) -> DateTime<Utc> {
    match std::env::var(NOW_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_local_time(&v, tz).unwrap_or_else(|| {
            tracing::warn!("{NOW_ENV}={v:?} is not a time; using the system clock");
            Utc::now()
        }),
        _ => Utc::now(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Mailbox;
    use crate::model::{DeptStatus, Requirement, Task};
    use crate::model::{Priority, ReqId, ReqState, TaskId, TaskState};
    use chrono::Weekday;

    pub fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// A Shanghai local time (`2026-12-01 09:00`) as UTC.
    pub fn sh(s: &str) -> DateTime<Utc> {
        parse_local_time(s, crate::model::Zone::shanghai()).unwrap()
    }

    /// The example config's clock: National Day Oct 1–2 off, Sunday Oct 11
    /// worked; 24h to accept, report every 3 working days, due soon within
    /// 2, escalate after 1; reminders from 09:00.
    pub fn settings() -> Settings {
        Settings {
            calendar: Calendar::new(
                &[Weekday::Sat, Weekday::Sun],
                [d("2026-10-01"), d("2026-10-02")],
                [d("2026-10-11")],
            ),
            tz: crate::model::Zone::shanghai(),
            default_schedule: Some(Schedule::parse("Mon-Fri 09:00").unwrap()),
            dept_schedules: HashMap::new(),
            skip_empty: true,
            max_rows: 50,
            reminders: true,
            accept_within: Span::Minutes(24 * 60),
            report_every: 3,
            due_soon: 2,
            escalate_after: 1,
            send_from: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        }
    }

    fn person(local: &str) -> Mailbox {
        crate::directory::tests::sample().person(&format!("{local}@corp.example"))
    }

    fn requester_of(dept: &str) -> &'static str {
        match dept {
            "sales" => "zhaoliu",
            "rd" => "zhangsan",
            _ => "bob",
        }
    }

    /// A proposed requirement raised by `dept` asking `targets`.
    pub fn req(n: u32, dept: &str, targets: &[&str], created: &str) -> Requirement {
        Requirement {
            id: ReqId(n),
            title: format!("需求{n}"),
            requester: person(requester_of(dept)),
            requester_dept: Some(dept.to_string()),
            depts: targets
                .iter()
                .map(|t| DeptStatus {
                    id: t.to_string(),
                    confirmed: false,
                })
                .collect(),
            due: None,
            quality: None,
            priority: Priority::Normal,
            description: String::new(),
            state: ReqState::Proposed,
            tasks: vec![],
            milestones: vec![],
            created_at: sh(created),
            updated_at: sh(created),
            root_message_id: None,
        }
    }

    pub fn task(
        r: &Requirement,
        n: u32,
        dept: &str,
        owner: &str,
        state: TaskState,
        due: Option<&str>,
        created: &str,
    ) -> Task {
        Task {
            id: TaskId { req: r.id, n },
            owner: person(owner),
            assigner: person(match dept {
                "rd" => "wanglei",
                "ops" => "dave",
                _ => "lina",
            }),
            dept: dept.to_string(),
            title: format!("任务{n}"),
            due: due.map(d),
            quality: None,
            state,
            progress: 0,
            blocked: false,
            last_report: None,
            created_at: sh(created),
        }
    }
}
