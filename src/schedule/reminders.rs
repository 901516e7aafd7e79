//! Personal reminders: conditions on open tasks at `now`, each with an
//! exactly-once key the shell records in the same transaction that queues
//! its mail, so a restart or a second run never sends it again.
//!
//! | condition | when | to | key |
//! |---|---|---|---|
//! | `accept` | assigned, not accepted `accept_within` after assignment | owner | `remind:REQ-3.1:accept` |
//! | `silent` | accepted, not blocked, no report for more than `report_every` working days | owner | `remind:REQ-3.1:silent:<last report date>:<period>` |
//! | `due_soon` | due within `due_soon` working days | owner | `remind:REQ-3.1:due_soon:<due>` |
//! | `overdue` | past its due date | owner | `remind:REQ-3.1:overdue:<due>` |
//! | `escalate` | overdue more than `escalate_after` working days | the department's leads, cc owner | `escalate:REQ-3.1:<due>` |
//!
//! The due date is in the due keys so that a new deadline is reminded
//! afresh; the last report's date and the period (1 for the first
//! `report_every` days of silence, 2 for the next, …) are in the silent
//! key, so a task silent for long is reminded once per period, and a
//! report starts the count again. Reminders go out on working days from
//! `send_from` (local time): a condition that becomes true at midnight, or
//! on a Sunday, waits for the next working morning.

use super::calendar::Calendar;
use super::digest::{req_active, task_open, task_working};
use super::spec::Span;
use super::Settings;
use crate::directory::Directory;
use crate::model::Mailbox;
use crate::model::{DeptCtx, Kind, MailCtx, Outgoing, ReminderCtx, TaskCtx};
use crate::model::{ReqId, TaskState};
use crate::model::{Requirement, Task};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

#[derive(Debug, Clone)]
pub struct Reminder {
    pub key: String,
    pub req: ReqId,
    /// The requirement's thread root, for the reminder's threading headers.
    pub root: Option<String>,
    pub out: Outgoing,
}

/// What is due now, and when to look again at the latest (a pending
/// accept deadline, or the next working morning).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub reminders: Vec<Reminder>,
    pub next_check: Option<DateTime<Utc>>,
}

/// A condition that holds, before its mail is built: a few words, where a
/// mail is a few kilobytes. The shell drops the keys recorded before and
/// builds mails only for the rest, a chunk at a time (a first start over a
/// large store may find a hundred thousand).
#[derive(Debug, Clone)]
pub struct Cond {
    pub key: String,
    /// Indexes into the requirements given and their tasks.
    pub req: usize,
    pub task: usize,
    pub ctx: ReminderCtx,
}

#[derive(Debug, Clone, Default)]
pub struct Conds {
    pub due: Vec<Cond>,
    pub next_check: Option<DateTime<Utc>>,
}

impl Cond {
    /// The reminder mail for this condition.
    pub fn reminder(&self, reqs: &[Requirement], dir: &Directory) -> Reminder {
        let req = &reqs[self.req];
        let t = &req.tasks[self.task];
        let (to, cc) = recipients(&self.ctx.condition, t, dir);
        Reminder {
            key: self.key.clone(),
            req: req.id,
            root: req.root_message_id.clone(),
            out: mail(req, t, self.ctx.clone(), to, cc, dir),
        }
    }
}

/// `t` plus a span: minutes of wall-clock time, or working days (same
/// local time of day, `n` working days later).
pub fn after(
    t: DateTime<Utc>,
    span: Span,
    cal: &Calendar,
    tz: crate::model::Zone,
) -> DateTime<Utc> {
    match span {
        Span::Minutes(m) => t + Duration::minutes(m),
        Span::Workdays(n) => {
            let local = t.with_timezone(&tz).naive_local();
            let day = cal.add_workdays(local.date(), n);
            tz.from_local_datetime(&day.and_time(local.time()))
                .earliest()
                .map(|x| x.with_timezone(&Utc))
                .unwrap_or(t + Duration::days(n))
        }
    }
}

/// The start of the first reminder window strictly after `now`.
fn next_window(s: &Settings, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = s.local_date(now);
    (0..400).find_map(|i| {
        let day = today + Duration::days(i);
        if !s.calendar.is_workday(day) {
            return None;
        }
        let at =
            s.tz.from_local_datetime(&day.and_time(s.send_from))
                .earliest()?
                .with_timezone(&Utc);
        (at > now).then_some(at)
    })
}

/// Is `now` inside a reminder window (a working day, from `send_from`)?
pub fn in_window(s: &Settings, now: DateTime<Utc>) -> bool {
    let local = now.with_timezone(&s.tz);
    s.calendar.is_workday(local.date_naive()) && local.time() >= s.send_from
}

fn min_time(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn day_s(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Every reminder whose condition holds at `now` (whether it was sent
/// already is the store's business: its key).
pub fn due(reqs: &[Requirement], dir: &Directory, s: &Settings, now: DateTime<Utc>) -> Plan {
    let c = conditions(reqs, s, now);
    Plan {
        reminders: c.due.iter().map(|d| d.reminder(reqs, dir)).collect(),
        next_check: c.next_check,
    }
}

/// The conditions that hold at `now` (see [`due`]), without their mails.
pub fn conditions(reqs: &[Requirement], s: &Settings, now: DateTime<Utc>) -> Conds {
    let mut plan = Conds {
        due: vec![],
        next_check: next_window(s, now),
    };
    if !s.reminders {
        plan.next_check = None;
        return plan;
    }
    let open_window = in_window(s, now);
    let today = s.local_date(now);
    let cal = &s.calendar;
    for (ri, req) in reqs.iter().enumerate().filter(|(_, r)| req_active(r)) {
        for (ti, t) in req.tasks.iter().enumerate().filter(|(_, t)| task_open(t)) {
            let mut push = |_cond: &str, key: String, ctx: ReminderCtx| {
                plan.due.push(Cond {
                    key,
                    req: ri,
                    task: ti,
                    ctx,
                });
            };
            if t.state == TaskState::Assigned {
                let deadline = after(t.created_at, s.accept_within, cal, s.tz);
                if deadline > now {
                    plan.next_check = min_time(plan.next_check, deadline);
                } else if open_window {
                    push(
                        "accept",
                        format!("remind:{}:accept", t.id),
                        ReminderCtx {
                            condition: "accept".into(),
                            hours: Some((now - t.created_at).num_hours()),
                            since: Some(day_s(s.local_date(t.created_at))),
                            ..ReminderCtx::default()
                        },
                    );
                }
            }
            if !open_window {
                continue;
            }
            if task_working(t) && !t.blocked {
                let since = t.last_report.unwrap_or(t.created_at);
                let since_day = s.local_date(since);
                let k = cal.workdays_between(since_day, today);
                if k > s.report_every {
                    let period = (k - 1) / s.report_every;
                    push(
                        "silent",
                        format!("remind:{}:silent:{}:{period}", t.id, day_s(since_day)),
                        ReminderCtx {
                            condition: "silent".into(),
                            days: Some(k),
                            since: Some(day_s(since_day)),
                            ..ReminderCtx::default()
                        },
                    );
                }
            }
            let Some(due) = t.due else { continue };
            if due < today {
                let late = cal.workdays_between(due, today);
                push(
                    "overdue",
                    format!("remind:{}:overdue:{}", t.id, day_s(due)),
                    ReminderCtx {
                        condition: "overdue".into(),
                        days: Some(late),
                        since: Some(day_s(due)),
                        ..ReminderCtx::default()
                    },
                );
                if late > s.escalate_after {
                    push(
                        "escalate",
                        format!("escalate:{}:{}", t.id, day_s(due)),
                        ReminderCtx {
                            condition: "escalate".into(),
                            days: Some(late),
                            since: Some(day_s(due)),
                            owner: t.owner.to_string(),
                            ..ReminderCtx::default()
                        },
                    );
                }
            } else {
                let left = cal.workdays_between(today, due);
                if left <= s.due_soon {
                    push(
                        "due_soon",
                        format!("remind:{}:due_soon:{}", t.id, day_s(due)),
                        ReminderCtx {
                            condition: "due_soon".into(),
                            days: Some(left),
                            since: Some(day_s(due)),
                            ..ReminderCtx::default()
                        },
                    );
                }
            }
        }
    }
    plan
}

/// The owner; for an escalation the leads of the department that assigned
/// the task (its assigner when it has none), with the owner in copy.
fn recipients(cond: &str, t: &Task, dir: &Directory) -> (Vec<Mailbox>, Vec<Mailbox>) {
    if cond != "escalate" {
        return (vec![t.owner.clone()], vec![]);
    }
    let mut to: Vec<Mailbox> = dir
        .dept(&t.dept)
        .map(|d| d.leads.clone())
        .unwrap_or_default();
    if to.is_empty() {
        to.push(t.assigner.clone());
    }
    let cc = if to.iter().any(|m| m.address == t.owner.address) {
        vec![]
    } else {
        vec![t.owner.clone()]
    };
    (to, cc)
}

fn mail(
    req: &Requirement,
    t: &Task,
    rc: ReminderCtx,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    dir: &Directory,
) -> Outgoing {
    let locale = dir
        .locale_of(to.first().map(|m| m.address.as_str()).unwrap_or(""))
        .to_string();
    let dept = dir.dept(&t.dept).map(|d| DeptCtx {
        id: d.id.clone(),
        name: d.name.clone(),
        confirmed: true,
    });
    let task = TaskCtx {
        id: t.id.to_string(),
        owner: t.owner.to_string(),
        title: t.title.clone(),
        state: t.state.as_str().to_string(),
        progress: t.progress,
        due: t.due.map(day_s),
        quality: t.quality.clone(),
        blocked: t.blocked,
        dept: t.dept.clone(),
    };
    Outgoing {
        kind: Kind::Reminder,
        to,
        cc,
        item: Some(t.id.to_string()),
        locale,
        ctx: MailCtx {
            id: t.id.to_string(),
            req_id: req.id.to_string(),
            title: t.title.clone(),
            req_title: req.title.clone(),
            state: t.state.as_str().to_string(),
            req_state: req.state.as_str().to_string(),
            requester: req.requester.to_string(),
            dept,
            due: t.due.map(day_s),
            quality: t.quality.clone(),
            progress: Some(t.progress),
            task: Some(task),
            reminder: Some(rc),
            ..MailCtx::default()
        },
        attachments: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ReqState;
    use crate::schedule::tests::*;

    fn keys(r: &Requirement, now: &str) -> Vec<String> {
        let dir = crate::directory::tests::sample();
        due(std::slice::from_ref(r), &dir, &settings(), sh(now))
            .reminders
            .into_iter()
            .map(|r| r.key)
            .collect()
    }

    fn one_task(state: TaskState, due_: Option<&str>, created: &str) -> Requirement {
        let mut r = req(3, "sales", &["rd"], "2026-11-01 10:00");
        r.state = ReqState::InProgress;
        r.depts[0].confirmed = true;
        let t = task(&r, 1, "rd", "zhangsan", state, due_, created);
        r.tasks.push(t);
        r
    }

    #[test]
    fn accept_reminder_after_24_hours_in_the_morning_window() {
        // Assigned Mon 10:00; 24h → Tue 10:00.
        let r = one_task(TaskState::Assigned, None, "2026-11-30 10:00");
        assert!(keys(&r, "2026-12-01 09:59").is_empty());
        assert_eq!(keys(&r, "2026-12-01 10:00"), ["remind:REQ-3.1:accept"]);
        // The plan says when to look again: at the deadline.
        let dir = crate::directory::tests::sample();
        let p = due(
            std::slice::from_ref(&r),
            &dir,
            &settings(),
            sh("2026-12-01 09:30"),
        );
        assert_eq!(p.next_check, Some(sh("2026-12-01 10:00")));
        // Assigned Fri 10:00: due Sat 10:00, a day off: sent Monday 09:00.
        let r = one_task(TaskState::Assigned, None, "2026-11-27 10:00");
        assert!(keys(&r, "2026-11-28 12:00").is_empty());
        assert!(keys(&r, "2026-11-30 08:59").is_empty());
        assert_eq!(keys(&r, "2026-11-30 09:00"), ["remind:REQ-3.1:accept"]);
    }

    #[test]
    fn accept_within_in_working_days() {
        let mut s = settings();
        s.accept_within = Span::Workdays(1);
        let dir = crate::directory::tests::sample();
        // Assigned Wed Sep 30 15:00; 1 working day → Mon Oct 5 15:00.
        let r = one_task(TaskState::Assigned, None, "2026-09-30 15:00");
        let at = |now: &str| {
            due(std::slice::from_ref(&r), &dir, &s, sh(now))
                .reminders
                .len()
        };
        assert_eq!(at("2026-10-05 14:59"), 0);
        assert_eq!(at("2026-10-05 15:00"), 1);
    }

    #[test]
    fn silent_reminders_once_per_period_and_reset_by_a_report() {
        let mut r = one_task(TaskState::InProgress, None, "2026-11-02 10:00");
        r.tasks[0].last_report = Some(sh("2026-11-23 17:00")); // Mon
        assert!(keys(&r, "2026-11-26 09:00").is_empty()); // Thu
        assert_eq!(
            keys(&r, "2026-11-27 09:00"), // Fri
            ["remind:REQ-3.1:silent:2026-11-23:1"]
        );
        // Still period 1 on Tue Dec 1 (k = 6), period 2 from Wed Dec 2 (k = 7).
        assert_eq!(
            keys(&r, "2026-12-01 09:00"),
            ["remind:REQ-3.1:silent:2026-11-23:1"]
        );
        assert_eq!(
            keys(&r, "2026-12-02 09:00"),
            ["remind:REQ-3.1:silent:2026-11-23:2"]
        );
        // A new report: nothing until three more working days passed.
        r.tasks[0].last_report = Some(sh("2026-12-02 11:00"));
        assert!(keys(&r, "2026-12-04 09:00").is_empty());
        assert_eq!(
            keys(&r, "2026-12-08 09:00"),
            ["remind:REQ-3.1:silent:2026-12-02:1"]
        );
    }

    #[test]
    fn silence_skips_holidays_and_counts_makeup_days() {
        let mut r = one_task(TaskState::Accepted, None, "2026-09-30 10:00");
        r.tasks[0].last_report = Some(sh("2026-10-07 10:00")); // Wed
                                                               // Thu 8, Fri 9, Sun 11 (make-up) are three; silent on Mon Oct 12.
        assert!(keys(&r, "2026-10-11 09:00").is_empty());
        assert_eq!(
            keys(&r, "2026-10-12 09:00"),
            ["remind:REQ-3.1:silent:2026-10-07:1"]
        );
    }

    #[test]
    fn due_soon_then_overdue_then_escalated_to_the_lead() {
        let mut r = one_task(
            TaskState::InProgress,
            Some("2026-12-04"),
            "2026-11-02 10:00",
        );
        r.tasks[0].last_report = Some(sh("2026-12-01 10:00"));
        assert!(keys(&r, "2026-12-01 09:00").is_empty()); // Tue: 3 days left
        assert_eq!(
            keys(&r, "2026-12-02 09:00"),
            ["remind:REQ-3.1:due_soon:2026-12-04"]
        );
        // Due day itself: still "due soon" (0 days left), not overdue.
        assert_eq!(
            keys(&r, "2026-12-04 09:00"),
            ["remind:REQ-3.1:due_soon:2026-12-04"]
        );
        // Mon Dec 7: overdue by 1 working day; escalate_after = 1d: not yet.
        r.tasks[0].last_report = Some(sh("2026-12-07 08:00"));
        assert_eq!(
            keys(&r, "2026-12-07 09:00"),
            ["remind:REQ-3.1:overdue:2026-12-04"]
        );
        // Tue Dec 8: 2 working days late: the lead too.
        let dir = crate::directory::tests::sample();
        let p = due(
            std::slice::from_ref(&r),
            &dir,
            &settings(),
            sh("2026-12-08 09:00"),
        );
        let got: Vec<&str> = p.reminders.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            got,
            [
                "remind:REQ-3.1:overdue:2026-12-04",
                "escalate:REQ-3.1:2026-12-04"
            ]
        );
        let esc = &p.reminders[1].out;
        assert_eq!(esc.to[0].address, "wanglei@corp.example");
        assert_eq!(esc.cc[0].address, "zhangsan@corp.example");
        assert_eq!(esc.item.as_deref(), Some("REQ-3.1"));
        assert_eq!(p.reminders[0].out.to[0].address, "zhangsan@corp.example");
        // A new deadline is reminded afresh.
        r.tasks[0].due = Some(d("2026-12-09"));
        assert_eq!(
            keys(&r, "2026-12-08 09:00"),
            ["remind:REQ-3.1:due_soon:2026-12-09"]
        );
    }

    #[test]
    fn nothing_at_night_on_days_off_or_for_finished_work() {
        let r = one_task(TaskState::Accepted, Some("2026-11-20"), "2026-11-02 10:00");
        assert!(keys(&r, "2026-12-01 08:59").is_empty());
        assert!(keys(&r, "2026-11-28 10:00").is_empty()); // Saturday
        assert!(keys(&r, "2026-10-01 10:00").is_empty()); // holiday
        let early = one_task(TaskState::Accepted, Some("2026-10-09"), "2026-10-08 10:00");
        assert_eq!(
            keys(&early, "2026-10-11 10:00"), // make-up Sunday
            ["remind:REQ-3.1:overdue:2026-10-09"]
        );
        let mut done = r.clone();
        done.tasks[0].state = TaskState::Done;
        assert!(keys(&done, "2026-12-01 10:00").is_empty());
        let mut cancelled = r;
        cancelled.state = ReqState::Cancelled;
        assert!(keys(&cancelled, "2026-12-01 10:00").is_empty());
    }

    #[test]
    fn reminders_speak_the_recipients_language() {
        let dir = crate::directory::tests::sample();
        let mut r = one_task(TaskState::Assigned, None, "2026-11-02 10:00");
        r.tasks[0].owner = dir.person("bob@corp.example");
        r.tasks[0].dept = "ops".into();
        let p = due(
            std::slice::from_ref(&r),
            &dir,
            &settings(),
            sh("2026-12-01 10:00"),
        );
        assert_eq!(p.reminders[0].out.locale, "en");
        assert_eq!(p.reminders[0].out.kind, Kind::Reminder);
    }
}
