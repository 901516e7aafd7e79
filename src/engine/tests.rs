use super::ids::new_message_id;
use super::read::PANIC_ON;
use super::*;
use crate::config::test_config;
use crate::crashguard::Stage;
use crate::mail::classify::classify;
use crate::model::ItemId;
use crate::model::{ReqId, TaskId};
use crate::send::SendError;
use crate::source::RawMail;

/// A new requirement for rd from alice, with Message-ID `<{id}@corp.example>`.
fn alice_req(handle: String, id: &str, subject: &str) -> RawMail {
    RawMail {
        handle,
        raw: format!(
            "From: alice@corp.example\r\nTo: workflow@corp.example\r\nSubject: {subject}\r\n\
             Message-ID: <{id}@corp.example>\r\n\r\nDept: rd\r\n"
        )
        .into_bytes(),
        received: None,
    }
}

/// A transient failure is final 72 hours after the retry window began:
/// when the mail was queued, or when an admin last put it back.
#[test]
fn a_transient_failure_gives_up_72_hours_after_the_window_began() {
    let now = chrono::Utc::now();
    let mail = |hours: i64| Prepared {
        id: 1,
        message_id: "m@x".into(),
        rcpts: vec!["a@corp.example".into()],
        bytes: Ok(vec![]),
        attempts: 3,
        retry_in: 3600,
        since: now - chrono::Duration::hours(hours),
    };
    let refused = || Err(SendError::Transient("connection refused".into()));
    let mut stats = DrainStats::default();
    assert!(matches!(
        mail(71).outcome(refused(), now, &mut stats),
        SendResult::Retry { at, .. } if at == now + chrono::Duration::hours(1)
    ));
    match mail(73).outcome(refused(), now, &mut stats) {
        SendResult::Failed(e) => assert!(e.starts_with("gave up after 73 hours"), "{e}"),
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        mail(73).outcome(Err(SendError::Permanent("550".into())), now, &mut stats),
        SendResult::Failed(_)
    ));
    assert!(matches!(
        mail(500).outcome(Ok(()), now, &mut stats),
        SendResult::Sent
    ));
    assert_eq!((stats.sent, stats.retry, stats.failed), (1, 1, 2));
}

/// A classification made on the parsing thread is used only for the
/// day it was made for; on another day the engine reads the mail again.
#[test]
fn a_command_classified_ahead_counts_only_for_its_day() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
    let mut e = Engine::new(cfg).unwrap();
    let raw = |i: u32| {
        RawMail {
        handle: format!("h{i}"),
        raw: format!(
            "From: alice@corp.example\r\nTo: workflow@corp.example\r\nSubject: [REQ] Export {i}\r\n\
             Message-ID: <ahead.{i}@corp.example>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0800\r\n\r\nDept: rd\r\n"
        )
        .into_bytes(),
        received: None,
    }
    };
    let mails = [raw(1), raw(2)];
    let mut parsed = parse_batch(&mails, 1 << 20, Some(&e.classifier()));
    let now = Utc::now();
    let today = now.with_timezone(&e.cfg.tz()).date_naive();
    // Doctored ahead-of-time readings: a help request (no action).
    let help = classify("hello", "", &e.kw, today);
    assert_eq!(help.action, None);
    parsed[0].command = Some((today, help.clone()));
    parsed[1].command = Some((today.pred_opt().unwrap(), help));
    let reps = e.ingest_parsed(&mails, parsed, now, None).unwrap();
    assert_eq!(reps[0].verdict, "help", "today's reading is used");
    assert_eq!(
        reps[1].verdict, "applied:new_req",
        "yesterday's is read again"
    );
}

/// Sent mail whose result the store cannot record (a full disk) is not
/// handed out again: nothing is, until the result is recorded.
#[test]
fn sends_the_store_cannot_record_are_not_handed_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
    let mut e = Engine::new(cfg).unwrap();
    let mail = RawMail {
        handle: "h".into(),
        raw: b"From: alice@corp.example\r\nTo: workflow@corp.example\r\nSubject: [REQ] Export\r\n\
               Message-ID: <unrecorded@corp.example>\r\n\r\nDept: rd\r\n"
            .to_vec(),
        received: None,
    };
    let now = Utc::now();
    e.ingest_batch(std::slice::from_ref(&mail), now, None)
        .unwrap();
    let due = e.prepare_due(now, 100).unwrap();
    assert_eq!(due.len(), 2, "an ack and a department notice");
    let sent: Vec<(i64, SendResult)> = due.iter().map(|p| (p.id, SendResult::Sent)).collect();

    e.store.refuse_writes(true);
    let err = e.finish_sends(&sent[..1], now).unwrap_err();
    assert!(matches!(err, EngineError::Unrecorded { n: 1, .. }), "{err}");
    let err = e.finish_sends(&sent[1..], now).unwrap_err();
    assert!(matches!(err, EngineError::Unrecorded { n: 2, .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("2 sent mail(s) not yet recorded as sent"),
        "{err}"
    );
    // The store still has both queued and due, yet neither is handed
    // out again.
    assert_eq!(e.store.outbox_status().unwrap().queued, 2);
    assert!(matches!(
        e.prepare_due(now, 100),
        Err(EngineError::Unrecorded { n: 2, .. })
    ));

    // Room again: the results are recorded first, so nothing is due.
    e.store.refuse_writes(false);
    assert!(e.prepare_due(now, 100).unwrap().is_empty());
    let st = e.store.outbox_status().unwrap();
    assert_eq!((st.queued, st.sent), (0, 2));
}

/// A reloaded configuration applies to the next message; what needs a
/// restart is kept and named; one whose templates fail changes nothing.
#[test]
fn a_reloaded_configuration_applies_to_the_next_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |members: &str, extra: &str| test_config(dir.path(), members, extra);
    let mail = |i: u32| {
        RawMail {
        handle: format!("h{i}"),
        raw: format!(
            "From: newbie@corp.example\r\nTo: workflow@corp.example\r\nSubject: [REQ] Export {i}\r\n\
             Message-ID: <reload.{i}@corp.example>\r\n\r\nDept: rd\r\n"
        )
        .into_bytes(),
        received: None,
    }
    };
    let now = Utc::now();
    let mut e = Engine::new(cfg(r#""alice@corp.example""#, "")).unwrap();
    let r = e.ingest_batch(&[mail(1)], now, None).unwrap();
    assert!(r[0].verdict.contains("unknown_sender"), "{}", r[0].verdict);

    let both = r#""alice@corp.example", "newbie@corp.example""#;
    let mut moved = cfg(both, "");
    moved.store.path = "elsewhere.db".into();
    assert_eq!(e.reload(moved).unwrap(), vec!["[store]"]);
    assert_eq!(e.cfg.store.path, "x.db", "the store stays until a restart");
    let r = e.ingest_batch(&[mail(2)], now, None).unwrap();
    assert_eq!(r[0].verdict, "applied:new_req");

    let bad = cfg(
        r#""alice@corp.example""#,
        "[templates]\ndir = \"no-such-dir\"",
    );
    assert!(matches!(e.reload(bad), Err(EngineError::Templates(_))));
    assert_eq!(e.cfg.departments[0].members.len(), 2, "nothing changed");
    let r = e.ingest_batch(&[mail(3)], now, None).unwrap();
    assert_eq!(r[0].verdict, "applied:new_req");
    assert_eq!(e.reload(cfg(both, "")).unwrap(), Vec::<&str>::new());
}

/// A panic while reading or acting on one message (a bug) sets that
/// one aside and lets the rest of its batch through; once fixed, it is
/// released and acted on.
#[test]
fn a_message_that_panics_is_set_aside_and_the_rest_go_through() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = Engine::new(test_config(dir.path(), r#""alice@corp.example""#, "")).unwrap();
    let mail = |i: u32, subject: &str| alice_req(format!("h{i}"), &format!("panic.{i}"), subject);
    let mails = [
        mail(1, "[REQ] one"),
        mail(2, "[REQ] ACTBOOM"),
        mail(3, "[REQ] PARSEBOOM"),
        mail(4, "[REQ] four"),
    ];
    PANIC_ON.with(|p| *p.borrow_mut() = vec![("act", "ACTBOOM"), ("parse", "PARSEBOOM")]);
    let now = Utc::now();
    let reps = e.ingest_batch(&mails, now, None).unwrap();
    let verdicts: Vec<&str> = reps.iter().map(|r| r.verdict.as_str()).collect();
    assert_eq!(
        verdicts,
        [
            "applied:new_req",
            "set_aside:internal_error",
            "set_aside:unreadable",
            "applied:new_req"
        ]
    );
    assert_eq!(reps[1].disposition, Disposition::Rejected);
    assert_eq!(reps[2].disposition, Disposition::Rejected);
    let aside = e.store.set_aside_list().unwrap();
    let detail = |class: &str| {
        aside
            .iter()
            .find(|a| a.class == class)
            .map(|a| a.detail.clone())
            .unwrap_or_default()
    };
    assert!(
        detail("internal_error").contains("a bug; please report it): injected panic while act"),
        "{aside:?}"
    );
    assert!(
        detail("unreadable").contains("injected panic while parse"),
        "{aside:?}"
    );

    PANIC_ON.with(|p| p.borrow_mut().clear());
    let r = e.release(&reps[1].key, now).unwrap().unwrap();
    assert_eq!(r.verdict, "applied:new_req");
    assert_eq!(e.store.list_reqs(None, None).unwrap().len(), 3);
}

/// A message the daemon died with in hand (a stack overflow, an abort:
/// nothing a panic guard catches) is counted at each restart; at the
/// third it is set aside unread, and the rest of its batch goes on.
#[test]
fn a_message_the_daemon_died_with_three_times_is_set_aside_unread() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
    let mail = |i: u32, subject: &str| alice_req(format!("{i}"), &format!("death.{i}"), subject);
    let mails = [
        mail(1, "[REQ] one"),
        mail(2, "[REQ] =?UTF-8?B?5rWL6K+V?= two"),
        mail(3, "[REQ] three"),
    ];
    let poison = crashguard::fingerprint("2", &mails[1].raw);
    for death in 1..=3u32 {
        let mut e = Engine::new(cfg.clone()).unwrap();
        let died = e.keep_crash_guard().unwrap();
        if death > 1 {
            assert_eq!(died, vec![(poison.clone(), death - 1)]);
        }
        // Dies acting on it: the note stays, the engine goes.
        e.guard.as_ref().unwrap().hold(Stage::Act, &poison);
        drop(e);
    }
    let mut e = Engine::new(cfg.clone()).unwrap();
    assert_eq!(e.keep_crash_guard().unwrap(), vec![(poison.clone(), 3)]);
    // The same handle with another message is not the one condemned.
    let other = mail(2, "[REQ] another two");
    let cl = e.classifier();
    assert!(!parse_batch(std::slice::from_ref(&other), 1 << 20, Some(&cl))[0].condemned);
    let parsed = parse_batch(&mails, 1 << 20, Some(&cl));
    assert_eq!(parsed.iter().filter(|p| p.condemned).count(), 1);
    let reps = e.ingest_parsed(&mails, parsed, Utc::now(), None).unwrap();
    let verdicts: Vec<&str> = reps.iter().map(|r| r.verdict.as_str()).collect();
    assert_eq!(
        verdicts,
        [
            "applied:new_req",
            "set_aside:internal_error",
            "applied:new_req"
        ]
    );
    assert_eq!(reps[1].disposition, Disposition::Rejected);
    let aside = e.store.set_aside_list().unwrap();
    assert!(
        aside[0]
            .detail
            .contains("the daemon stopped 3 times with this message in hand"),
        "{aside:?}"
    );
    // Named for the admin by its raw header block, left undecoded.
    assert_eq!(aside[0].sender, "alice@corp.example");
    assert_eq!(aside[0].subject, "[REQ] =?UTF-8?B?5rWL6K+V?= two");
    // Handled (set aside), its count is forgotten with it.
    assert!(e.store.crash_counts().unwrap().is_empty());
    // Handled whole: nothing is left in hand for the next start.
    drop(e);
    let mut e = Engine::new(cfg).unwrap();
    assert!(e.keep_crash_guard().unwrap().is_empty());
    // Released (by `crossdesk release`, once fixed), it is acted on.
    let r = e.release(&reps[1].key, Utc::now()).unwrap().unwrap();
    assert_eq!(r.verdict, "applied:new_req");
}

/// A message in hand at one death (a `kill -9`, say) whose handling
/// then commits loses its count: counts do not pile up in the store,
/// and coincidences at different deaths do not add up. A batch that
/// does not commit keeps the count.
#[test]
fn a_death_count_goes_when_its_message_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
    let mails = [
        alice_req("1".into(), "once.1", "[REQ] one"),
        alice_req("2".into(), "once.2", "[REQ] two"),
    ];
    let name = crashguard::fingerprint("1", &mails[0].raw);
    let mut e = Engine::new(cfg.clone()).unwrap();
    e.keep_crash_guard().unwrap();
    e.guard.as_ref().unwrap().hold(Stage::Read, &name);
    drop(e);
    let mut e = Engine::new(cfg.clone()).unwrap();
    assert_eq!(e.keep_crash_guard().unwrap(), vec![(name.clone(), 1)]);
    // A failed batch (the store refuses writes) commits nothing.
    let cl = e.classifier();
    e.store.refuse_writes(true);
    assert!(e
        .ingest_parsed(
            &mails[..1],
            parse_batch(&mails[..1], 1 << 20, Some(&cl)),
            Utc::now(),
            None
        )
        .is_err());
    e.store.refuse_writes(false);
    assert_eq!(e.store.crash_counts().unwrap(), vec![(name.clone(), 1)]);
    let reps = e
        .ingest_parsed(
            &mails,
            parse_batch(&mails, 1 << 20, Some(&cl)),
            Utc::now(),
            None,
        )
        .unwrap();
    assert_eq!(reps[0].verdict, "applied:new_req");
    assert!(e.store.crash_counts().unwrap().is_empty());
    drop(e);
    let mut e = Engine::new(cfg).unwrap();
    assert!(e.keep_crash_guard().unwrap().is_empty());
}

/// A message too large to parse is set aside as unreadable, named in
/// `set-aside` by the sender and subject its header block gives.
#[test]
fn a_message_too_large_to_read_is_set_aside_with_its_sender_and_subject() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(dir.path(), r#""alice@corp.example""#, "");
    let mut e = Engine::new(cfg).unwrap();
    let mut raw = b"From: =?UTF-8?B?5rWL6K+V?= <Alice@Corp.Example>\r\n\
        To: workflow@corp.example\r\n\
        Subject: [REQ] =?GBK?B?1tyxqA==?=\r\n\t=?UTF-8?B?5rWL6K+V?=\r\n\
        Message-ID: <big.1@corp.example>\r\n\r\n"
        .to_vec();
    raw.extend(std::iter::repeat_n(b'x', 4096));
    let mails = [RawMail {
        handle: "1".into(),
        raw,
        received: None,
    }];
    let cl = e.classifier();
    let parsed = parse_batch(&mails, 1024, Some(&cl));
    let reps = e.ingest_parsed(&mails, parsed, Utc::now(), None).unwrap();
    assert_eq!(reps[0].verdict, "set_aside:unreadable");
    let aside = e.store.set_aside_list().unwrap();
    assert!(aside[0].detail.contains("message too large"), "{aside:?}");
    assert_eq!(aside[0].sender, "alice@corp.example");
    assert_eq!(aside[0].subject, "[REQ] 周报测试");
}

#[test]
fn our_message_ids_name_their_item() {
    let mut seq = 0;
    let now = Utc::now();
    let t = ItemId::Task(TaskId {
        req: ReqId(4),
        n: 2,
    });
    let id = new_message_id(&mut seq, "corp.example", now, Some(t));
    assert_eq!(item_of_own_id(&id, "corp.example"), Some(t));
    assert_eq!(item_of_own_id(&id, "CORP.example"), Some(t));
    // Another domain's id of the same form names nothing.
    assert_eq!(
        item_of_own_id(&id.replace("corp.example", "evil.example"), "corp.example"),
        None
    );
    let none = new_message_id(&mut seq, "corp.example", now, None);
    assert_eq!(item_of_own_id(&none, "corp.example"), None);
    assert_ne!(id, new_message_id(&mut seq, "corp.example", now, Some(t)));
    assert_eq!(item_of_own_id("abc@corp.example", "corp.example"), None);
}
