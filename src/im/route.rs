//! Which robot hears of which event: an outgoing mail of an IM event
//! (`EVENTS`) becomes one message per robot of the departments it
//! concerns, in the department's language, @-mentioning the people it
//! asks to act whose mobile number is configured.
//!
//! | event | mail kind | the departments it concerns |
//! | --- | --- | --- |
//! | `dept_new` | a new requirement to a department's group | that department |
//! | `rejected` | a rejection to the requester | the department groups among its recipients (the requester's) |
//! | `blocked` | a problem raised on a task | the task's department |
//! | `escalation` | an overdue task escalated to the leads | the task's department |
//! | `digest` | a department's digest | that department |

use crate::model::{Kind, Outgoing};
use std::collections::BTreeMap;

/// The events that may go to a robot, each with `templates/<locale>/im/<event>.hbs`.
pub const EVENTS: [&str; 5] = ["dept_new", "rejected", "blocked", "escalation", "digest"];

/// The IM event an outgoing mail is, if any.
pub fn event_of(out: &Outgoing) -> Option<&'static str> {
    match out.kind {
        Kind::DeptNew => Some("dept_new"),
        Kind::Rejected => Some("rejected"),
        Kind::Blocked => Some("blocked"),
        Kind::Digest => Some("digest"),
        Kind::Reminder
            if out
                .ctx
                .reminder
                .as_ref()
                .is_some_and(|r| r.condition == "escalate") =>
        {
            Some("escalation")
        }
        _ => None,
    }
}

/// A department as routing sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeptRoute {
    /// Its group's address (lower case).
    pub group: String,
    pub locale: String,
    /// Lead addresses (lower case): @-mentioned for mail to the group.
    pub leads: Vec<String>,
    /// Its robot, when it has one.
    pub robot: Option<String>,
    /// A robot by requirement priority (`urgent` → …), ahead of `robot`.
    pub by_priority: BTreeMap<String, String>,
}

/// Everything routing needs, built from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    /// Department id → its route.
    pub depts: BTreeMap<String, DeptRoute>,
    /// Robot name → the events it takes.
    pub events: BTreeMap<String, Vec<String>>,
    /// Person address (lower case) → the departments they are in.
    pub person_depts: BTreeMap<String, Vec<String>>,
    /// Person address (lower case) → mobile number to @-mention.
    pub mobiles: BTreeMap<String, String>,
}

/// One message to queue: `event`'s template, for `robot`, in `locale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImRoute {
    pub robot: String,
    pub event: &'static str,
    pub dept: String,
    pub locale: String,
    pub mobiles: Vec<String>,
}

impl Routes {
    /// No department has a robot: nothing is ever routed.
    pub fn is_empty(&self) -> bool {
        self.depts
            .values()
            .all(|d| d.robot.is_none() && d.by_priority.is_empty())
    }

    /// The messages `out` becomes: one per robot (a robot shared by two
    /// departments it concerns gets one, in the first one's language).
    pub fn route(&self, out: &Outgoing) -> Vec<ImRoute> {
        let Some(event) = event_of(out) else {
            return vec![];
        };
        let mut v: Vec<ImRoute> = vec![];
        for dept in self.depts_of(out, event) {
            let Some(d) = self.depts.get(&dept) else {
                continue;
            };
            let robot = d
                .by_priority
                .get(&out.ctx.priority)
                .or(d.robot.as_ref())
                .cloned();
            let Some(robot) = robot else { continue };
            let takes = self
                .events
                .get(&robot)
                .is_some_and(|e| e.iter().any(|x| x == event));
            if !takes || v.iter().any(|r| r.robot == robot) {
                continue;
            }
            v.push(ImRoute {
                mobiles: self.mentions(out, event),
                robot,
                event,
                dept,
                locale: d.locale.clone(),
            });
        }
        v
    }

    /// The departments an event concerns, in order, once each.
    fn depts_of(&self, out: &Outgoing, event: &str) -> Vec<String> {
        let mut v: Vec<String> = vec![];
        let add = |v: &mut Vec<String>, d: &str| {
            if !d.is_empty() && !v.iter().any(|x| x == d) {
                v.push(d.to_string());
            }
        };
        match event {
            "dept_new" | "digest" => {
                if let Some(d) = &out.ctx.dept {
                    add(&mut v, &d.id);
                }
            }
            "blocked" | "escalation" => {
                if let Some(t) = out.ctx.task.as_ref().filter(|t| !t.dept.is_empty()) {
                    add(&mut v, &t.dept);
                } else if let Some(d) = &out.ctx.dept {
                    add(&mut v, &d.id);
                }
            }
            _ => {
                for m in out.to.iter().chain(&out.cc) {
                    for (id, d) in &self.depts {
                        if d.group == m.address {
                            add(&mut v, id);
                        }
                    }
                }
            }
        }
        if v.is_empty() {
            // The departments of the people the mail is addressed to.
            for m in &out.to {
                for d in self.person_depts.get(&m.address).into_iter().flatten() {
                    add(&mut v, d);
                }
            }
        }
        v
    }

    /// The mobiles to @-mention: the people the mail is addressed to, and
    /// the leads of a group it is addressed to. A digest mentions no one.
    fn mentions(&self, out: &Outgoing, event: &str) -> Vec<String> {
        if event == "digest" {
            return vec![];
        }
        let mut v: Vec<String> = vec![];
        for m in &out.to {
            let people: Vec<&String> = match self.depts.values().find(|d| d.group == m.address) {
                Some(d) => d.leads.iter().collect(),
                None => vec![&m.address],
            };
            for p in people {
                if let Some(n) = self.mobiles.get(p) {
                    if !v.contains(n) {
                        v.push(n.clone());
                    }
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeptCtx, MailCtx, Mailbox, ReminderCtx, TaskCtx};

    fn routes() -> Routes {
        let dept = |group: &str, locale: &str, lead: &str, robot: Option<&str>| DeptRoute {
            group: group.into(),
            locale: locale.into(),
            leads: vec![lead.into()],
            robot: robot.map(String::from),
            by_priority: BTreeMap::new(),
        };
        let mut r = Routes::default();
        r.depts
            .insert("rd".into(), dept("rd@x", "zh-CN", "lead@x", Some("rd-bot")));
        r.depts
            .insert("ops".into(), dept("ops@x", "en", "dave@x", Some("ops-bot")));
        r.depts
            .insert("sales".into(), dept("sales@x", "zh-CN", "lina@x", None));
        r.depts
            .get_mut("ops")
            .unwrap()
            .by_priority
            .insert("urgent".into(), "ops-urgent".into());
        for b in ["rd-bot", "ops-bot", "ops-urgent"] {
            r.events
                .insert(b.into(), EVENTS.iter().map(|e| e.to_string()).collect());
        }
        r.person_depts.insert("zs@x".into(), vec!["rd".into()]);
        r.person_depts.insert("dave@x".into(), vec!["ops".into()]);
        r.mobiles.insert("lead@x".into(), "13800000001".into());
        r.mobiles.insert("dave@x".into(), "13800000002".into());
        r
    }

    fn out(kind: Kind, to: &[&str], cc: &[&str], ctx: MailCtx) -> Outgoing {
        let mb = |v: &[&str]| v.iter().map(|a| Mailbox::new(None, a)).collect();
        Outgoing {
            kind,
            to: mb(to),
            cc: mb(cc),
            item: Some("REQ-1".into()),
            locale: "zh-CN".into(),
            ctx,
            attachments: vec![],
        }
    }

    fn dept(id: &str) -> Option<DeptCtx> {
        Some(DeptCtx {
            id: id.into(),
            ..Default::default()
        })
    }

    #[test]
    fn a_new_requirement_reaches_the_department_robot_and_mentions_its_lead() {
        let r = routes();
        let o = out(
            Kind::DeptNew,
            &["rd@x"],
            &[],
            MailCtx {
                dept: dept("rd"),
                priority: "normal".into(),
                ..Default::default()
            },
        );
        let v = r.route(&o);
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].robot.as_str(), v[0].event, v[0].locale.as_str()),
            ("rd-bot", "dept_new", "zh-CN")
        );
        assert_eq!(v[0].mobiles, vec!["13800000001"]);
        // A department without a robot: nothing.
        let o = out(
            Kind::DeptNew,
            &["sales@x"],
            &[],
            MailCtx {
                dept: dept("sales"),
                ..Default::default()
            },
        );
        assert!(r.route(&o).is_empty());
        // Mail of no IM event: nothing.
        let o = out(Kind::Confirmed, &["zs@x"], &["rd@x"], MailCtx::default());
        assert!(r.route(&o).is_empty());
    }

    #[test]
    fn urgent_goes_to_the_priority_robot_and_events_are_chosen_per_robot() {
        let mut r = routes();
        let o = out(
            Kind::DeptNew,
            &["ops@x"],
            &[],
            MailCtx {
                dept: dept("ops"),
                priority: "urgent".into(),
                ..Default::default()
            },
        );
        let v = r.route(&o);
        assert_eq!(v[0].robot, "ops-urgent");
        assert_eq!(v[0].locale, "en");
        r.events.insert("ops-urgent".into(), vec!["blocked".into()]);
        assert!(r.route(&o).is_empty());
    }

    #[test]
    fn problems_and_escalations_go_to_the_task_department_rejections_to_the_requester_group() {
        let r = routes();
        let task = Some(TaskCtx {
            id: "REQ-1.1".into(),
            dept: "ops".into(),
            ..Default::default()
        });
        let o = out(
            Kind::Blocked,
            &["dave@x"],
            &["zs@x"],
            MailCtx {
                task: task.clone(),
                ..Default::default()
            },
        );
        let v = r.route(&o);
        assert_eq!((v.len(), v[0].robot.as_str()), (1, "ops-bot"));
        assert_eq!(v[0].mobiles, vec!["13800000002"]);
        let o = out(
            Kind::Reminder,
            &["dave@x"],
            &[],
            MailCtx {
                task: task.clone(),
                reminder: Some(ReminderCtx {
                    condition: "escalate".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        assert_eq!(r.route(&o)[0].event, "escalation");
        // A plain reminder is no IM event.
        let mut plain = o.clone();
        plain.ctx.reminder.as_mut().unwrap().condition = "overdue".into();
        assert!(r.route(&plain).is_empty());
        let o = out(Kind::Rejected, &["zs@x"], &["rd@x"], MailCtx::default());
        let v = r.route(&o);
        assert_eq!((v[0].robot.as_str(), v[0].event), ("rd-bot", "rejected"));
        // Without the group in copy: the requester's own department.
        let o = out(Kind::Rejected, &["zs@x"], &[], MailCtx::default());
        assert_eq!(r.route(&o)[0].robot, "rd-bot");
        // A digest mentions no one.
        let o = out(
            Kind::Digest,
            &["rd@x"],
            &[],
            MailCtx {
                dept: dept("rd"),
                ..Default::default()
            },
        );
        let v = r.route(&o);
        assert_eq!((v[0].event, v[0].mobiles.len()), ("digest", 0));
    }
}
