use super::*;
use crate::workflow::model::*;
use crate::workflow::state::*;
use chrono::TimeZone;

fn req(id: u32) -> Requirement {
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap();
    Requirement {
        id: ReqId(id),
        title: "导出客户数据".into(),
        requester: Mailbox::new(Some("赵六"), "zhaoliu@corp.example"),
        requester_dept: Some("sales".into()),
        depts: vec![DeptStatus {
            id: "rd".into(),
            confirmed: false,
        }],
        due: None,
        quality: None,
        priority: Priority::High,
        description: "d".into(),
        state: ReqState::Proposed,
        tasks: vec![],
        milestones: vec![],
        created_at: now,
        updated_at: now,
        root_message_id: Some("root@x".into()),
    }
}

#[test]
fn migrations_bring_a_new_file_to_the_latest_version_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/x.db");
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap() as usize, schema::LATEST);
    drop(s);
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap() as usize, schema::LATEST);
}

#[test]
fn uncommitted_transaction_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    {
        let tx = s.tx().unwrap();
        tx.save_req(&req(1), None).unwrap();
        tx.record_message("mid:a", Some("a"), "x", "s", "applied", None, Utc::now())
            .unwrap();
        // dropped: rolled back
    }
    assert!(s.load_req(ReqId(1)).unwrap().is_none());
    let tx = s.tx().unwrap();
    assert!(tx.seen("mid:a").unwrap().is_none());
}

#[test]
fn snapshot_round_trips_and_thread_ids_correlate() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let tx = s.tx().unwrap();
    assert_eq!(tx.next_req_id().unwrap(), ReqId(1));
    tx.save_req(&req(1), None).unwrap();
    tx.index_thread("root@x", ItemId::Req(ReqId(1))).unwrap();
    tx.index_thread(
        "t@x",
        ItemId::Task(TaskId {
            req: ReqId(1),
            n: 2,
        }),
    )
    .unwrap();
    assert_eq!(tx.next_req_id().unwrap(), ReqId(2));
    assert_eq!(
        tx.thread_item(&["nope", "t@x"]).unwrap(),
        Some(ItemId::Task(TaskId {
            req: ReqId(1),
            n: 2
        }))
    );
    assert_eq!(tx.thread_root(ReqId(1)).unwrap().as_deref(), Some("root@x"));
    tx.commit().unwrap();
    assert_eq!(s.load_req(ReqId(1)).unwrap().unwrap(), req(1));
    assert_eq!(s.list_reqs(None, Some("rd")).unwrap().len(), 1);
    assert_eq!(s.list_reqs(Some("closed"), None).unwrap().len(), 0);
}

#[test]
fn a_clock_key_is_recorded_once_and_open_requirements_skip_closed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
    let tx = s.tx().unwrap();
    assert!(tx.record_clock("digest:rd:2026-12-01T09:00", now).unwrap());
    assert!(!tx.record_clock("digest:rd:2026-12-01T09:00", now).unwrap());
    let mut closed = req(2);
    closed.state = ReqState::Closed;
    tx.save_req(&req(1), None).unwrap();
    tx.save_req(&closed, None).unwrap();
    tx.commit().unwrap();
    assert!(s.clock_sent("digest:rd:2026-12-01T09:00").unwrap());
    assert!(!s.clock_sent("digest:rd:2026-12-02T09:00").unwrap());
    assert_eq!(
        s.clock_keys("digest:rd:").unwrap(),
        ["digest:rd:2026-12-01T09:00"]
    );
    let open: Vec<u32> = s.open_reqs().unwrap().iter().map(|r| r.id.0).collect();
    assert_eq!(open, [1]);
    // A key not committed is not recorded.
    let tx = s.tx().unwrap();
    assert!(tx.record_clock("remind:REQ-1.1:accept", now).unwrap());
    drop(tx);
    assert!(!s.clock_sent("remind:REQ-1.1:accept").unwrap());
}

#[test]
fn the_clocks_light_read_of_the_mirror_rows_agrees_with_the_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let mut r = req(1);
    r.state = ReqState::InProgress;
    r.due = chrono::NaiveDate::from_ymd_opt(2026, 12, 15);
    r.depts.push(DeptStatus {
        id: "qa".into(),
        confirmed: true,
    });
    let now = r.created_at;
    for n in 1..=2 {
        r.tasks.push(Task {
            id: TaskId { req: r.id, n },
            owner: Mailbox::new(Some("张三"), "zhangsan@corp.example"),
            assigner: Mailbox::new(Some("王磊"), "wanglei@corp.example"),
            dept: "rd".into(),
            title: format!("任务{n}"),
            due: chrono::NaiveDate::from_ymd_opt(2026, 12, n),
            quality: Some("q".into()),
            state: if n == 1 {
                TaskState::InProgress
            } else {
                TaskState::Assigned
            },
            progress: 40,
            blocked: n == 2,
            last_report: (n == 1).then_some(now),
            created_at: now,
        });
    }
    let tx = s.tx().unwrap();
    tx.save_req(&r, None).unwrap();
    tx.commit().unwrap();
    let full = s.open_reqs().unwrap();
    let light = s.open_reqs_light().unwrap();
    assert_eq!(light.len(), 1);
    let (f, l) = (&full[0], &light[0]);
    assert_eq!(
        (l.id, l.state, l.due, &l.title),
        (f.id, f.state, f.due, &f.title)
    );
    assert_eq!(l.requester.address, f.requester.address);
    assert_eq!(l.requester_dept, f.requester_dept);
    assert_eq!(l.depts, f.depts);
    assert_eq!(l.created_at, f.created_at);
    assert_eq!(l.tasks.len(), 2);
    for (a, b) in l.tasks.iter().zip(&f.tasks) {
        assert_eq!(
            (
                a.id,
                &a.dept,
                &a.title,
                a.due,
                a.state,
                a.progress,
                a.blocked,
                a.last_report,
                a.created_at
            ),
            (
                b.id,
                &b.dept,
                &b.title,
                b.due,
                b.state,
                b.progress,
                b.blocked,
                b.last_report,
                b.created_at
            )
        );
        assert_eq!(a.owner.address, b.owner.address);
    }
}
