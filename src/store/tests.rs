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
