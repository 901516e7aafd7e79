//! The clock at scale: 50 departments holding 100,000 open tasks. Prints
//! the time and peak memory (VmHWM, reset before each phase through
//! /proc/self/clear_refs) to compute and render every department's digest
//! (and the reminders), against the time to merely read the same rows
//! from SQLite in the same run. Asserts nothing about speed.
//!
//!   cargo bench --bench digest
//!   BENCH_TASKS=20000 cargo bench --bench digest

use chrono::{Duration, TimeZone, Utc};
use crossdesk::clock::{run, ClockOpts};
use crossdesk::config::Config;
use crossdesk::engine::Engine;
use crossdesk::model::{
    DeptStatus, Mailbox, Priority, ReqId, ReqState, Requirement, Task, TaskId, TaskState,
};
use crossdesk::schedule::{digest, reminders};
use std::path::Path;
use std::time::Instant;

const DEPTS: usize = 50;
const TASKS_PER_REQ: usize = 4;

fn config(dir: &Path) -> Config {
    let mut text = String::from(
        r#"
[mail]
address = "workflow@corp.example"
source = "maildir:inbox"
transport = "maildir:outbox"
[store]
path = "crossdesk.db"
[limits]
daily_cap_per_recipient = 100000000
[calendar]
holidays = ["2026-10-01", "2026-10-02"]
workdays = ["2026-10-11"]
"#,
    );
    for d in 0..DEPTS {
        text.push_str(&format!(
            r#"
[[departments]]
id = "d{d}"
name = "部门{d}"
group = "d{d}@corp.example"
leads = ["Lead {d} <lead{d}@corp.example>"]
members = ["m{d}a@corp.example", "m{d}b@corp.example", "m{d}c@corp.example"]
locale = "{}"
"#,
            if d % 2 == 0 { "zh-CN" } else { "en" }
        ));
    }
    Config::from_str(&text, "bench.toml", dir).expect("bench config")
}

/// Peak resident memory since the last reset, in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so each phase's peak is its own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn phase<T>(name: &str, f: impl FnOnce() -> T) -> (T, f64) {
    reset_peak();
    let t = Instant::now();
    let v = f();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{name:<58} {:>9.1} ms   peak RSS {:>7.1} MiB",
        secs * 1000.0,
        peak_mib()
    );
    (v, secs)
}

fn main() {
    let tasks: usize = std::env::var("BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let reqs_n = tasks / TASKS_PER_REQ;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let settings = cfg.clock_settings().unwrap();
    let store_path = cfg.store_path();
    let mut engine = Engine::new(cfg).unwrap();
    let now = crossdesk::schedule::parse_local_time("2026-12-01 09:00", settings.tz).unwrap();
    let base = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    println!(
        "crossdesk clock benchmark: {DEPTS} departments, {reqs_n} open requirements, {} open tasks",
        reqs_n * TASKS_PER_REQ
    );

    // Setup: open requirements, each raised by one department for two
    // others, four tasks in every open state, due dates around "now".
    let mut rng_state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state % n
    };
    phase("setup: store the requirements (one transaction)", || {
        // Written through a connection of its own: the engine's store is
        // for reading.
        let mut seed = crossdesk::store::Store::open(&store_path).unwrap();
        let tx = seed.tx().unwrap();
        for i in 0..reqs_n {
            let from = rnd(DEPTS as u64) as usize;
            let t1 = (from + 1 + rnd(DEPTS as u64 - 1) as usize) % DEPTS;
            let t2 = (t1 + 1) % DEPTS;
            let created = base + Duration::minutes(rnd(80 * 24 * 60) as i64);
            let id = ReqId(i as u32 + 1);
            let mut r = Requirement {
                id,
                title: format!("需求 {i}：导出华东区客户数据"),
                requester: Mailbox::new(None, &format!("m{from}a@corp.example")),
                requester_dept: Some(format!("d{from}")),
                depts: vec![
                    DeptStatus {
                        id: format!("d{t1}"),
                        confirmed: true,
                    },
                    DeptStatus {
                        id: format!("d{t2}"),
                        confirmed: rnd(4) != 0,
                    },
                ],
                due: Some((now + Duration::days(rnd(60) as i64 - 20)).date_naive()),
                quality: Some("字段齐全".into()),
                priority: Priority::Normal,
                description: "请导出客户数据，字段见附件。".repeat(4),
                state: ReqState::InProgress,
                tasks: vec![],
                milestones: vec![],
                created_at: created,
                updated_at: created,
                root_message_id: Some(format!("root{i}@client.example")),
            };
            for n in 0..TASKS_PER_REQ {
                let dept = if n % 2 == 0 { t1 } else { t2 };
                let state = match rnd(4) {
                    0 => TaskState::Assigned,
                    1 => TaskState::Accepted,
                    _ => TaskState::InProgress,
                };
                let last = (state == TaskState::InProgress)
                    .then(|| now - Duration::hours(rnd(24 * 12) as i64));
                r.tasks.push(Task {
                    id: TaskId {
                        req: id,
                        n: n as u32 + 1,
                    },
                    owner: Mailbox::new(
                        None,
                        &format!("m{dept}{}@corp.example", ["a", "b", "c"][n % 3]),
                    ),
                    assigner: Mailbox::new(None, &format!("lead{dept}@corp.example")),
                    dept: format!("d{dept}"),
                    title: format!("任务 {i}.{n}：接口开发"),
                    due: Some((now + Duration::days(rnd(40) as i64 - 10)).date_naive()),
                    quality: None,
                    state,
                    progress: rnd(100) as u8,
                    blocked: rnd(20) == 0,
                    last_report: last,
                    created_at: created + Duration::hours(2),
                });
            }
            tx.save_req(r).unwrap();
        }
        tx.commit().unwrap();
    });
    println!();

    // Baselines: the same rows, read and nothing else.
    let db = rusqlite::Connection::open(tmp.path().join("crossdesk.db")).unwrap();
    let (_, read_json) = phase(
        "baseline: read the open snapshots' bytes (SELECT data)",
        || {
            let mut st = db
            .prepare(
                "SELECT data FROM requirements
                 WHERE state IN ('proposed', 'clarifying', 'confirmed', 'in_progress', 'delivered')",
            )
            .unwrap();
            let mut bytes = 0usize;
            let mut rows = st.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                bytes += r.get_ref(0).unwrap().as_str().unwrap().len();
            }
            bytes
        },
    );
    let (_, read_rows) = phase(
        "baseline: read the open task mirror rows (SELECT … FROM tasks)",
        || {
            let mut st = db
                .prepare(
                    "SELECT t.req, t.n, t.owner, t.dept, t.title, t.due, t.state, t.progress,
                        t.blocked, t.last_report, t.created_at
                 FROM tasks t JOIN requirements r ON r.id = t.req
                 WHERE r.state IN ('proposed', 'clarifying', 'confirmed', 'in_progress')
                   AND t.state IN ('assigned', 'accepted', 'in_progress')",
                )
                .unwrap();
            let mut n = 0usize;
            let mut rows = st.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                let req: u32 = r.get(0).unwrap();
                let task: u32 = r.get(1).unwrap();
                let texts: [String; 4] = [2, 3, 4, 6].map(|i| r.get(i).unwrap());
                let dates: [Option<String>; 2] = [5, 9].map(|i| r.get(i).unwrap());
                let created: String = r.get(10).unwrap();
                let progress: u8 = r.get(7).unwrap();
                let blocked: bool = r.get(8).unwrap();
                std::hint::black_box((req, task, texts, dates, created, progress, blocked));
                n += 1;
            }
            n
        },
    );
    println!();

    // The engine's connection has not seen the rows the seed wrote through
    // a connection of its own: read them once, unmeasured, so that its
    // page cache holds them as a running daemon's would.
    std::hint::black_box(engine.store().open_reqs().unwrap());
    let (reqs, load) = phase("clock: read + parse the open snapshots (open_reqs)", || {
        engine.store().open_reqs().unwrap()
    });
    let wanted: Vec<(String, String)> = (0..DEPTS)
        .map(|d| (format!("d{d}"), "2026-12-01 09:00".to_string()))
        .collect();
    let wanted_ref: Vec<(&str, String)> = wanted
        .iter()
        .map(|(d, s)| (d.as_str(), s.clone()))
        .collect();
    let (digests, compute) = phase("clock: compute 50 digests (digest::compute)", || {
        digest::compute(&reqs, &wanted_ref, &settings, now)
    });
    let rows: usize = digests
        .iter()
        .flat_map(|d| d.sections.iter())
        .map(|s| s.total)
        .sum();
    let own = Mailbox::new(None, "workflow@corp.example");
    let today = settings.local_date(now);
    // Compiled before, as the daemon does at start.
    engine.renderer().unwrap().compile_all().unwrap();
    let (bytes, render) = phase(
        "clock: render 50 digests, text + html (both locales)",
        || {
            let mut bytes = 0;
            for (i, d) in digests.into_iter().enumerate() {
                let out = digest::mail(&engine.directory().depts[i], d, &own);
                let p = engine
                    .renderer()
                    .unwrap()
                    .render_parts_on(&out, Some(today))
                    .unwrap();
                bytes += p.text.len() + p.html.len();
            }
            bytes
        },
    );
    let (conds, rem) = phase("clock: reminder conditions (reminders::conditions)", || {
        reminders::conditions(&reqs, &settings, now)
    });
    let (_, rem_mails) = phase("clock: build their mails (Cond::reminder)", || {
        let mut n = 0usize;
        for c in &conds.due {
            n += c.reminder(&reqs, engine.directory()).out.to.len();
        }
        n
    });
    drop(reqs);
    let (rep, _full) = phase("clock: a full pass, queued (run)", || {
        run(&mut engine, now, &ClockOpts::default()).unwrap()
    });
    println!();
    println!(
        "section rows before the cut: {rows}; rendered: {:.1} MiB; reminders due: {}",
        bytes as f64 / 1048576.0,
        conds.due.len()
    );
    println!(
        "full pass: {} digests and {} reminders queued (read {:.0} ms, compute {:.0} ms)",
        rep.digests
            .iter()
            .filter(|d| d.status.as_str() == "queued")
            .count(),
        rep.reminders_queued,
        rep.read.as_secs_f64() * 1000.0,
        rep.compute.as_secs_f64() * 1000.0
    );
    println!(
        "compute + render of the digests: {:.0} ms = {:.1}× reading the snapshot bytes, {:.1}× reading the task rows",
        (compute + render) * 1000.0,
        (compute + render) / read_json,
        (compute + render) / read_rows,
    );
    println!(
        "with the read: {:.0} ms; reminders: {:.0} ms for the conditions, {:.0} ms for their mails",
        (load + compute + render) * 1000.0,
        rem * 1000.0,
        rem_mails * 1000.0,
    );
    let (_, again) = phase("clock: the next tick, nothing due (run)", || {
        run(
            &mut engine,
            now,
            &ClockOpts {
                reminders: false,
                ..ClockOpts::default()
            },
        )
        .unwrap()
    });
    let _ = again;
}
