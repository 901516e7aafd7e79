//! A department's digest: what its group should know this morning, as
//! sections of rows, computed from the requirement snapshots at `now`.
//!
//! Sections (docs/protocol.md#digests):
//! - `awaiting_confirmation`: requirements asking this department that it
//!   has not confirmed yet;
//! - `awaiting_acceptance`: its tasks not yet accepted by their owner;
//! - `in_progress`: accepted tasks, with owner, last %, last report date;
//! - `due_soon`: open tasks due within `due_soon` working days;
//! - `overdue`: open tasks past their due date;
//! - `silent`: accepted tasks (not blocked) without a report for more than
//!   `report_every` working days;
//! - `blocked`: open tasks with a problem raised;
//! - `our_requests`: requirements this department raised, with their state.
//!
//! A task belongs to the department that assigned it (`Task::dept`). A
//! task may show in several sections (in progress *and* overdue): each
//! section answers its own question. Rows carry `REQ-n(.m)` so that people
//! can act on them; the mail itself is about no item, so a bare reply to it
//! gets the help text.

use super::Settings;
use crate::directory::Department;
use crate::model::Mailbox;
use crate::model::{DeptCtx, DigestCtx, DigestRow, DigestSection, Kind, MailCtx, Outgoing};
use crate::model::{ReqState, TaskState};
use crate::model::{Requirement, Task};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;

pub const SECTIONS: [&str; 8] = [
    "awaiting_confirmation",
    "awaiting_acceptance",
    "in_progress",
    "due_soon",
    "overdue",
    "silent",
    "blocked",
    "our_requests",
];

const AWAIT_CONF: usize = 0;
const AWAIT_ACC: usize = 1;
const IN_PROGRESS: usize = 2;
const DUE_SOON: usize = 3;
const OVERDUE: usize = 4;
const SILENT: usize = 5;
const BLOCKED: usize = 6;
const OURS: usize = 7;

/// A requirement whose work is still going on (tasks count, deadlines
/// chase). Delivered ones wait for the requester only.
pub fn req_active(r: &Requirement) -> bool {
    matches!(
        r.state,
        ReqState::Proposed | ReqState::Clarifying | ReqState::Confirmed | ReqState::InProgress
    )
}

/// A task someone still has to work on.
pub fn task_open(t: &Task) -> bool {
    matches!(
        t.state,
        TaskState::Assigned | TaskState::Accepted | TaskState::InProgress
    )
}

/// Accepted and being worked on: expected to report.
pub fn task_working(t: &Task) -> bool {
    matches!(t.state, TaskState::Accepted | TaskState::InProgress)
}

/// One row picked for a section, before the cut: cheap references and a
/// sort key; rows are only built for what is shown.
struct Pick<'a> {
    req: &'a Requirement,
    task: Option<&'a Task>,
    sort: i64,
    days: Option<i64>,
}

impl Pick<'_> {
    fn order(&self) -> (i64, u32, u32) {
        (self.sort, self.req.id.0, self.task.map_or(0, |t| t.id.n))
    }
}

fn day_s(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The digests of the `wanted` departments (id, slot label) at `now`, in
/// the same order, from one pass over the requirements.
pub fn compute(
    reqs: &[Requirement],
    wanted: &[(&str, String)],
    s: &Settings,
    now: DateTime<Utc>,
) -> Vec<DigestCtx> {
    let today = s.local_date(now);
    let cal = &s.calendar;
    let index: HashMap<&str, usize> = wanted
        .iter()
        .enumerate()
        .map(|(i, (d, _))| (*d, i))
        .collect();
    let mut buckets: Vec<[Vec<Pick>; 8]> = wanted.iter().map(|_| Default::default()).collect();
    for req in reqs {
        let active = req_active(req);
        if active {
            for d in req.depts.iter().filter(|d| !d.confirmed) {
                if let Some(&b) = index.get(d.id.as_str()) {
                    buckets[b][AWAIT_CONF].push(Pick {
                        req,
                        task: None,
                        sort: req.created_at.timestamp(),
                        days: Some(cal.workdays_between(s.local_date(req.created_at), today)),
                    });
                }
            }
        }
        if req.state.is_open() {
            if let Some(&b) = req.requester_dept.as_deref().and_then(|d| index.get(d)) {
                buckets[b][OURS].push(Pick {
                    req,
                    task: None,
                    sort: 0,
                    days: None,
                });
            }
        }
        if !active {
            continue;
        }
        for t in req.tasks.iter().filter(|t| task_open(t)) {
            let Some(&b) = index.get(t.dept.as_str()) else {
                continue;
            };
            let bucket = &mut buckets[b];
            let pick = |sort: i64, days: Option<i64>| Pick {
                req,
                task: Some(t),
                sort,
                days,
            };
            if t.state == TaskState::Assigned {
                let waited = cal.workdays_between(s.local_date(t.created_at), today);
                bucket[AWAIT_ACC].push(pick(t.created_at.timestamp(), Some(waited)));
            } else {
                let sort = t.due.map_or(i64::MAX, |d| i64::from(d.num_days_from_ce_()));
                bucket[IN_PROGRESS].push(pick(sort, None));
            }
            if let Some(due) = t.due {
                let sort = i64::from(due.num_days_from_ce_());
                if due < today {
                    bucket[OVERDUE].push(pick(sort, Some(cal.workdays_between(due, today))));
                } else {
                    let left = cal.workdays_between(today, due);
                    if left <= s.due_soon {
                        bucket[DUE_SOON].push(pick(sort, Some(left)));
                    }
                }
            }
            if task_working(t) && !t.blocked {
                let since = t.last_report.unwrap_or(t.created_at);
                let k = cal.workdays_between(s.local_date(since), today);
                if k > s.report_every {
                    bucket[SILENT].push(pick(since.timestamp(), Some(k)));
                }
            }
            if t.blocked {
                bucket[BLOCKED].push(pick(0, None));
            }
        }
    }
    wanted
        .iter()
        .zip(buckets)
        .map(|((_, slot), b)| finish(b, &SECTIONS, slot, today, s))
        .collect()
}

/// Sections from their picks: sorted, cut at `max_rows`, rows built.
fn finish<const N: usize>(
    b: [Vec<Pick>; N],
    keys: &[&str; N],
    slot: &str,
    today: NaiveDate,
    s: &Settings,
) -> DigestCtx {
    let mut total = 0;
    let sections = b
        .into_iter()
        .enumerate()
        .map(|(i, mut picks)| {
            picks.sort_unstable_by_key(|p| p.order());
            let n = picks.len();
            total += n;
            let rows = picks
                .iter()
                .take(s.max_rows)
                .map(|p| row(p, today, s))
                .collect();
            DigestSection {
                key: keys[i].to_string(),
                rows,
                more: n.saturating_sub(s.max_rows),
                total: n,
            }
        })
        .collect();
    DigestCtx {
        slot: slot.to_string(),
        date: slot.get(..10).unwrap_or(slot).to_string(),
        sections,
        total,
        report_every: s.report_every,
        due_soon: s.due_soon,
    }
}

/// The sections of a `[MINE]` answer (docs/protocol.md#look-ups-by-mail).
pub const MINE_SECTIONS: [&str; 4] = [
    "to_accept",
    "my_tasks",
    "awaiting_confirmation",
    "my_requests",
];

/// What waits on one person (`[MINE]`), as of `now`: tasks of theirs to
/// accept, their tasks being worked on (with the last report and due),
/// requirements waiting for the confirmation of a department of theirs
/// (`depts`), and their own open requirements with their state.
pub fn mine(
    reqs: &[Requirement],
    person: &str,
    depts: &[&str],
    s: &Settings,
    now: DateTime<Utc>,
) -> DigestCtx {
    let today = s.local_date(now);
    let cal = &s.calendar;
    let mut b: [Vec<Pick>; 4] = Default::default();
    for req in reqs {
        let active = req_active(req);
        if active
            && req
                .depts
                .iter()
                .any(|d| !d.confirmed && depts.contains(&d.id.as_str()))
        {
            b[2].push(Pick {
                req,
                task: None,
                sort: req.created_at.timestamp(),
                days: Some(cal.workdays_between(s.local_date(req.created_at), today)),
            });
        }
        if req.state.is_open() && req.requester.address == person {
            b[3].push(Pick {
                req,
                task: None,
                sort: 0,
                days: None,
            });
        }
        if !active {
            continue;
        }
        for t in req.tasks.iter().filter(|t| t.owner.address == person) {
            if t.state == TaskState::Assigned {
                let waited = cal.workdays_between(s.local_date(t.created_at), today);
                b[0].push(Pick {
                    req,
                    task: Some(t),
                    sort: t.created_at.timestamp(),
                    days: Some(waited),
                });
            } else if task_working(t) {
                b[1].push(Pick {
                    req,
                    task: Some(t),
                    sort: t.due.map_or(i64::MAX, |d| i64::from(d.num_days_from_ce_())),
                    days: None,
                });
            }
        }
    }
    let slot = now
        .with_timezone(&s.tz)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    finish(b, &MINE_SECTIONS, &slot, today, s)
}

/// `NaiveDate::num_days_from_ce` without importing `Datelike` everywhere.
trait Ce {
    fn num_days_from_ce_(&self) -> i32;
}

impl Ce for NaiveDate {
    fn num_days_from_ce_(&self) -> i32 {
        chrono::Datelike::num_days_from_ce(self)
    }
}

fn row(p: &Pick, today: NaiveDate, s: &Settings) -> DigestRow {
    let req = p.req;
    match p.task {
        Some(t) => DigestRow {
            id: t.id.to_string(),
            title: t.title.clone(),
            who: t.owner.to_string(),
            state: t.state.as_str().to_string(),
            progress: Some(t.progress.min(100)),
            due: t.due.map(day_s),
            last_report: t.last_report.map(|r| day_s(s.local_date(r))),
            blocked: t.blocked,
            overdue: t.due.is_some_and(|d| d < today),
            days: p.days,
            ..DigestRow::default()
        },
        None => {
            let live: Vec<&Task> = req
                .tasks
                .iter()
                .filter(|t| t.state != TaskState::Declined)
                .collect();
            let done = live.iter().filter(|t| t.state == TaskState::Done).count();
            let progress = (!live.is_empty()).then(|| {
                let sum: usize = live
                    .iter()
                    .map(|t| {
                        if t.state == TaskState::Done {
                            100
                        } else {
                            usize::from(t.progress.min(100))
                        }
                    })
                    .sum();
                (sum / live.len()) as u8
            });
            let confirmed = req.depts.iter().filter(|d| d.confirmed).count();
            DigestRow {
                id: req.id.to_string(),
                title: req.title.clone(),
                who: req.requester.to_string(),
                state: req.state.as_str().to_string(),
                progress,
                due: req.due.map(day_s),
                last_report: None,
                blocked: req.tasks.iter().any(|t| task_open(t) && t.blocked),
                overdue: req_active(req) && req.due.is_some_and(|d| d < today),
                days: p.days,
                confirmed: format!("{confirmed}/{}", req.depts.len()),
                tasks: if live.is_empty() {
                    String::new()
                } else {
                    format!("{done}/{}", live.len())
                },
            }
        }
    }
}

/// The digest mail to a department's group, in the department's locale.
/// About no item: not threaded to one, so a bare reply gets help.
pub fn mail(dept: &Department, digest: DigestCtx, own: &Mailbox) -> Outgoing {
    Outgoing {
        kind: Kind::Digest,
        to: vec![dept.group.clone()],
        cc: vec![],
        item: None,
        locale: dept.locale.clone(),
        ctx: MailCtx {
            title: dept.name.clone(),
            dept: Some(DeptCtx {
                id: dept.id.clone(),
                name: dept.name.clone(),
                confirmed: false,
            }),
            digest: Some(digest),
            workflow_address: own.address.clone(),
            ..MailCtx::default()
        },
        attachments: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::tests::*;

    fn sections(reqs: &[Requirement], dept: &str, now: &str) -> HashMap<String, Vec<String>> {
        let d = compute(
            reqs,
            &[(dept, "2026-12-01 09:00".into())],
            &settings(),
            sh(now),
        );
        d[0].sections
            .iter()
            .map(|s| (s.key.clone(), s.rows.iter().map(|r| r.id.clone()).collect()))
            .collect()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mine_lists_what_waits_on_one_person() {
        let alice = "alice@corp.example";
        // REQ-1: sales asks rd; alice has one task to accept and one being worked on.
        let mut r1 = req(1, "sales", &["rd"], "2026-11-23 09:00");
        r1.state = ReqState::InProgress;
        r1.depts[0].confirmed = true;
        r1.tasks = vec![
            task(
                &r1,
                1,
                "rd",
                "alice",
                TaskState::Assigned,
                None,
                "2026-11-24 09:00",
            ),
            task(
                &r1,
                2,
                "rd",
                "alice",
                TaskState::InProgress,
                Some("2026-12-03"),
                "2026-11-24 09:00",
            ),
            task(
                &r1,
                3,
                "rd",
                "zhangsan",
                TaskState::Assigned,
                None,
                "2026-11-24 09:00",
            ),
            task(
                &r1,
                4,
                "rd",
                "alice",
                TaskState::Done,
                None,
                "2026-11-24 09:00",
            ),
        ];
        r1.tasks[1].last_report = Some(sh("2026-11-25 17:00"));
        // REQ-2: ops asks rd, not confirmed yet: waits on rd, alice's department.
        let r2 = req(2, "ops", &["rd"], "2026-11-25 09:00");
        // REQ-3: to ops only: not alice's.
        let r3 = req(3, "sales", &["ops"], "2026-11-25 09:00");
        // REQ-4: raised by zhangsan (rd), open; REQ-5 the same, closed.
        let r4 = req(4, "rd", &["ops"], "2026-11-25 09:00");
        let mut r5 = req(5, "rd", &["ops"], "2026-11-25 09:00");
        r5.state = ReqState::Closed;
        let reqs = [r1, r2, r3, r4, r5];
        let d = mine(&reqs, alice, &["rd"], &settings(), sh("2026-11-26 10:00"));
        let got: Vec<(&str, Vec<&str>)> = d
            .sections
            .iter()
            .map(|s| {
                (
                    s.key.as_str(),
                    s.rows.iter().map(|r| r.id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("to_accept", vec!["REQ-1.1"]),
                ("my_tasks", vec!["REQ-1.2"]),
                ("awaiting_confirmation", vec!["REQ-2"]),
                ("my_requests", vec![]),
            ]
        );
        assert_eq!(d.total, 3);
        assert_eq!(d.slot, "2026-11-26 10:00");
        let t = &d.sections[1].rows[0];
        assert_eq!(t.last_report.as_deref(), Some("2026-11-25"));
        assert_eq!(t.due.as_deref(), Some("2026-12-03"));
        assert_eq!(d.sections[0].rows[0].days, Some(2));
        // zhangsan's own open requirement, and his task to accept.
        let z = mine(
            &reqs,
            "zhangsan@corp.example",
            &["rd"],
            &settings(),
            sh("2026-11-26 10:00"),
        );
        let ids = |i: usize| {
            z.sections[i]
                .rows
                .iter()
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(0), ["REQ-1.3"]);
        assert_eq!(ids(3), ["REQ-4"]);
    }

    #[test]
    fn awaiting_confirmation_lists_requests_our_department_has_not_confirmed() {
        let mut r = req(1, "sales", &["rd", "ops"], "2026-11-30 10:00");
        r.depts[1].confirmed = true; // ops confirmed, rd not
        let s = sections(std::slice::from_ref(&r), "rd", "2026-12-01 09:00");
        assert_eq!(s["awaiting_confirmation"], ids(&["REQ-1"]));
        let s = sections(std::slice::from_ref(&r), "ops", "2026-12-01 09:00");
        assert!(s["awaiting_confirmation"].is_empty());
        r.depts[0].confirmed = true;
        let s = sections(&[r], "rd", "2026-12-01 09:00");
        assert!(s["awaiting_confirmation"].is_empty());
    }

    #[test]
    fn awaiting_acceptance_then_in_progress_with_last_report() {
        let mut r = req(1, "sales", &["rd"], "2026-11-25 10:00");
        r.tasks.push(task(
            &r,
            1,
            "rd",
            "zhangsan",
            TaskState::Assigned,
            None,
            "2026-11-26 10:00",
        ));
        let s = sections(std::slice::from_ref(&r), "rd", "2026-12-01 09:00");
        assert_eq!(s["awaiting_acceptance"], ids(&["REQ-1.1"]));
        assert!(s["in_progress"].is_empty());
        r.tasks[0].state = TaskState::InProgress;
        r.tasks[0].progress = 60;
        r.tasks[0].last_report = Some(sh("2026-11-30 18:00"));
        let d = compute(
            &[r],
            &[("rd", "2026-12-01 09:00".into())],
            &settings(),
            sh("2026-12-01 09:00"),
        );
        let ip = &d[0].sections[IN_PROGRESS];
        assert!(d[0].sections[AWAIT_ACC].rows.is_empty());
        assert_eq!(ip.rows[0].id, "REQ-1.1");
        assert_eq!(ip.rows[0].progress, Some(60));
        assert_eq!(ip.rows[0].last_report.as_deref(), Some("2026-11-30"));
        assert_eq!(ip.rows[0].who, "张三 <zhangsan@corp.example>");
    }

    #[test]
    fn due_soon_counts_working_days_across_weekends_and_holidays() {
        let mut r = req(1, "sales", &["rd"], "2026-09-01 10:00");
        // Due Mon Oct 5: from Wed Sep 30 that is 1 working day (Oct 1–2
        // holidays, then the weekend): due soon with due_soon = 2d.
        r.tasks.push(task(
            &r,
            1,
            "rd",
            "zhangsan",
            TaskState::Accepted,
            Some("2026-10-05"),
            "2026-09-29 10:00",
        ));
        // Due Thu Oct 8: 4 working days away: not yet.
        r.tasks.push(task(
            &r,
            2,
            "rd",
            "alice",
            TaskState::Accepted,
            Some("2026-10-08"),
            "2026-09-29 10:00",
        ));
        let s = sections(std::slice::from_ref(&r), "rd", "2026-09-30 09:00");
        assert_eq!(s["due_soon"], ids(&["REQ-1.1"]));
        // Tue Oct 6: Oct 8 is 2 working days away.
        let s = sections(std::slice::from_ref(&r), "rd", "2026-10-06 09:00");
        assert_eq!(s["due_soon"], ids(&["REQ-1.2"]));
        // Without the holidays, Oct 5 is 3 working days from Sep 30.
        let mut plain = settings();
        plain.calendar = crate::schedule::calendar::Calendar::default();
        let d = compute(
            &[r],
            &[("rd", String::new())],
            &plain,
            sh("2026-09-30 09:00"),
        );
        assert!(d[0].sections[DUE_SOON].rows.is_empty());
    }

    #[test]
    fn overdue_from_the_day_after_the_due_date_with_working_days_late() {
        let mut r = req(1, "sales", &["rd"], "2026-11-01 10:00");
        r.tasks.push(task(
            &r,
            1,
            "rd",
            "zhangsan",
            TaskState::InProgress,
            Some("2026-11-27"),
            "2026-11-02 10:00",
        ));
        r.tasks[0].last_report = Some(sh("2026-11-27 10:00"));
        let s = sections(std::slice::from_ref(&r), "rd", "2026-11-27 18:00");
        assert!(s["overdue"].is_empty());
        assert_eq!(s["due_soon"], ids(&["REQ-1.1"]));
        let d = compute(
            &[r.clone()],
            &[("rd", String::new())],
            &settings(),
            sh("2026-12-01 09:00"),
        );
        let o = &d[0].sections[OVERDUE].rows;
        assert_eq!(o.len(), 1);
        assert!(o[0].overdue);
        // Fri Nov 27 → Tue Dec 1: Mon and Tue.
        assert_eq!(o[0].days, Some(2));
        assert!(d[0].sections[DUE_SOON].rows.is_empty());
        // A done task is never overdue.
        r.tasks[0].state = TaskState::Done;
        let s = sections(&[r], "rd", "2026-12-01 09:00");
        assert!(s["overdue"].is_empty() && s["in_progress"].is_empty());
    }

    #[test]
    fn silent_after_report_every_working_days_without_a_report() {
        let mut r = req(1, "sales", &["rd"], "2026-11-01 10:00");
        r.tasks.push(task(
            &r,
            1,
            "rd",
            "zhangsan",
            TaskState::InProgress,
            None,
            "2026-11-02 10:00",
        ));
        // Reported Mon Nov 23; report_every = 3d: Tue, Wed, Thu are the
        // three days; silent from Fri Nov 27.
        r.tasks[0].last_report = Some(sh("2026-11-23 17:00"));
        assert!(sections(std::slice::from_ref(&r), "rd", "2026-11-26 09:00")["silent"].is_empty());
        assert_eq!(
            sections(std::slice::from_ref(&r), "rd", "2026-11-27 09:00")["silent"],
            ids(&["REQ-1.1"])
        );
        // Reported Wed Sep 30: Oct 1–2 holidays and the weekend don't
        // count: silent from Thu Oct 8, not before.
        r.tasks[0].last_report = Some(sh("2026-09-30 17:00"));
        assert!(sections(std::slice::from_ref(&r), "rd", "2026-10-07 09:00")["silent"].is_empty());
        assert_eq!(
            sections(std::slice::from_ref(&r), "rd", "2026-10-08 09:00")["silent"],
            ids(&["REQ-1.1"])
        );
        // A blocked task is listed as blocked, not silent.
        r.tasks[0].blocked = true;
        let s = sections(&[r], "rd", "2026-10-08 09:00");
        assert!(s["silent"].is_empty());
        assert_eq!(s["blocked"], ids(&["REQ-1.1"]));
    }

    #[test]
    fn our_requests_list_what_we_raised_with_their_state() {
        let mut r = req(1, "sales", &["rd", "ops"], "2026-11-01 10:00");
        r.state = ReqState::InProgress;
        r.depts.iter_mut().for_each(|d| d.confirmed = true);
        r.tasks.push(task(
            &r,
            1,
            "rd",
            "zhangsan",
            TaskState::Done,
            None,
            "2026-11-02 10:00",
        ));
        r.tasks.push(task(
            &r,
            2,
            "ops",
            "bob",
            TaskState::InProgress,
            None,
            "2026-11-02 10:00",
        ));
        r.tasks[1].progress = 50;
        let mut closed = req(2, "sales", &["rd"], "2026-11-01 10:00");
        closed.state = ReqState::Closed;
        let d = compute(
            &[r, closed],
            &[("sales", String::new())],
            &settings(),
            sh("2026-12-01 09:00"),
        );
        let ours = &d[0].sections[OURS].rows;
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].id, "REQ-1");
        assert_eq!(ours[0].state, "in_progress");
        assert_eq!(ours[0].confirmed, "2/2");
        assert_eq!(ours[0].tasks, "1/2");
        assert_eq!(ours[0].progress, Some(75));
    }

    #[test]
    fn closed_and_cancelled_work_is_not_chased_and_empty_digests_say_so() {
        let mut r = req(1, "sales", &["rd"], "2026-11-01 10:00");
        r.tasks.push(task(
            &r,
            1,
            "rd",
            "zhangsan",
            TaskState::Assigned,
            Some("2026-11-02"),
            "2026-11-02 10:00",
        ));
        r.state = ReqState::Cancelled;
        let d = compute(
            &[r],
            &[("rd", String::new()), ("sales", String::new())],
            &settings(),
            sh("2026-12-01 09:00"),
        );
        assert!(d[0].is_empty(), "{:?}", d[0]);
        assert!(d[1].is_empty());
        assert_eq!(d[0].sections.len(), 8);
    }

    #[test]
    fn long_sections_are_cut_and_counted_most_urgent_first() {
        let mut r = req(1, "sales", &["rd"], "2026-11-01 10:00");
        for n in 1..=7 {
            let due = format!("2026-11-{:02}", 10 + n);
            r.tasks.push(task(
                &r,
                n,
                "rd",
                "zhangsan",
                TaskState::Accepted,
                Some(&due),
                "2026-11-02 10:00",
            ));
        }
        let mut s = settings();
        s.max_rows = 3;
        let d = compute(&[r], &[("rd", String::new())], &s, sh("2026-12-01 09:00"));
        let o = &d[0].sections[OVERDUE];
        assert_eq!(o.total, 7);
        assert_eq!(o.more, 4);
        let got: Vec<&str> = o.rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(got, ["REQ-1.1", "REQ-1.2", "REQ-1.3"]);
    }

    #[test]
    fn the_mail_goes_to_the_group_in_its_locale_about_no_item() {
        let dir = crate::directory::tests::sample();
        let own = Mailbox::new(None, "workflow@corp.example");
        let ops = dir.dept("ops").unwrap();
        let out = mail(ops, DigestCtx::default(), &own);
        assert_eq!(out.kind, Kind::Digest);
        assert_eq!(out.to[0].address, "ops@corp.example");
        assert_eq!(out.locale, "en");
        assert_eq!(out.item, None);
    }
}
