//! "Mail it must never act on or answer" (docs/protocol.md#never-answer), through the real
//! binary: one test per class. Each message would be a valid command about
//! REQ-1 if it were not for its signal; it must change nothing, send
//! nothing, and be listed by `set-aside --json` with its class. A wrongly
//! filtered message is acted on when an admin releases it; bounces of the
//! daemon's own mail are recorded against that mail; the per-recipient
//! daily cap stops a loop.

mod common;

use common::*;
use serde_json::Value;
use std::sync::OnceLock;

/// What must not move: REQ-1, the outbox.
struct Snapshot {
    req: Value,
    rows: usize,
    files: Vec<String>,
}

fn snapshot(desk: &Desk) -> Snapshot {
    Snapshot {
        req: desk.show("REQ-1"),
        rows: desk.sent().len(),
        files: desk.outbox_files(),
    }
}

/// A store holding REQ-1 (the Chinese story's first mail) and its mails,
/// made once and copied for each test, with its snapshot.
fn with_req1() -> (Desk, &'static Snapshot) {
    static BASE: OnceLock<(Desk, Snapshot)> = OnceLock::new();
    let (base, snap) = BASE.get_or_init(|| {
        let desk = Desk::new();
        let v = desk.ingest(&fixtures("story_zh")[..1]);
        assert_eq!(v[0].verdict, "applied:new_req");
        let s = snapshot(&desk);
        (desk, s)
    });
    (base.fork(), snap)
}

fn assert_unchanged(desk: &Desk, s: &Snapshot, what: &str) {
    assert_eq!(desk.show("REQ-1"), s.req, "{what}: REQ-1 changed");
    assert_eq!(desk.sent().len(), s.rows, "{what}: something was queued");
    assert_eq!(desk.outbox_files(), s.files, "{what}: something was sent");
}

/// Ingests `never/<file>` into a store holding REQ-1 and checks it was set
/// aside as `class`, silently. Returns the store and the set-aside record.
fn set_aside(file: &str, class: &str) -> (Desk, Value) {
    let (desk, before) = with_req1();
    let path = fixture(&format!("never/{file}"));
    let (_, sender) = fixture_ids(&path);
    // Delivered twice (a retrying MTA): the copy is recognised, still silent.
    let v = desk.ingest(&[path.clone(), path]);
    assert_eq!(v[0].verdict, format!("set_aside:{class}"), "{file}");
    assert_eq!(v[0].item, None, "{file}");
    assert_eq!(v[1].verdict, "duplicate", "{file}");
    assert_unchanged(&desk, before, file);
    let list = desk.set_aside();
    assert_eq!(list.len(), 1, "{file}: one record: {list:#?}");
    let r = list[0].clone();
    assert_eq!(r["class"], class, "{file}");
    assert!(
        !r["detail"].as_str().unwrap_or_default().is_empty(),
        "{file}: the reason is recorded: {r:#}"
    );
    assert_eq!(r["released"], false);
    assert_eq!(r["sender"], sender.as_str(), "{file}");
    assert!(!r["subject"].as_str().unwrap().is_empty(), "{file}");
    (desk, r)
}

macro_rules! never {
    ($($name:ident: $file:literal => $class:literal;)*) => {$(
        #[test]
        fn $name() {
            set_aside($file, $class);
        }
    )*};
}

never! {
    auto_submitted_auto_replied_is_set_aside: "auto_submitted_auto_replied.eml" => "auto_reply";
    auto_submitted_auto_generated_is_set_aside: "auto_submitted_auto_generated.eml" => "auto_reply";
    x_autoreply_is_set_aside: "x_autoreply.eml" => "auto_reply";
    x_autorespond_is_set_aside: "x_autorespond.eml" => "auto_reply";
    precedence_bulk_is_set_aside: "precedence_bulk.eml" => "auto_reply";
    precedence_junk_is_set_aside: "precedence_junk.eml" => "auto_reply";
    precedence_list_is_set_aside_as_a_list_copy: "precedence_list.eml" => "mailing_list";
    exchange_rules_loop_pair_is_set_aside: "exchange_rules_loop.eml" => "auto_reply";
    subject_zidong_huifu_is_set_aside: "subject_zidong_huifu.eml" => "auto_reply";
    subject_zidong_dafu_is_set_aside: "subject_zidong_dafu.eml" => "auto_reply";
    subject_automatic_reply_is_set_aside: "subject_automatic_reply.eml" => "auto_reply";
    subject_out_of_office_is_set_aside: "subject_out_of_office.eml" => "auto_reply";
    exchange_out_of_office_is_set_aside: "exchange_oof.eml" => "auto_reply";
    mailer_daemon_is_set_aside: "mailer_daemon.eml" => "bounce";
    empty_return_path_is_set_aside: "empty_return_path.eml" => "bounce";
    mailing_list_copy_is_set_aside: "mailing_list.eml" => "mailing_list";
    own_address_in_from_is_set_aside: "own_mail.eml" => "own_mail";
    unknown_sender_is_set_aside: "unknown_sender.eml" => "unknown_sender";
}

/// A mail the daemon sent, coming back to its own mailbox as it was sent
/// (through a forward or a group it is in): never answered. It carries
/// `Auto-Submitted`, which the filter checks before the From address.
#[test]
fn our_own_sent_mail_coming_back_is_set_aside() {
    let (desk, before) = with_req1();
    let ours = desk
        .sent()
        .into_iter()
        .find(|s| s.kind == "dept_new")
        .unwrap();
    let copy = desk.path("came_back.eml");
    std::fs::write(&copy, &ours.raw).unwrap();
    let v = desk.ingest_one(&copy);
    assert_eq!(v.verdict, "set_aside:auto_reply");
    assert_unchanged(&desk, before, "our own mail");
    assert_eq!(desk.set_aside()[0]["sender"], WORKFLOW);
}

/// A DSN of one of our mails: set aside, never answered, and the bounce
/// recorded against the outgoing mail (`crossdesk outbox`: 1 bounced).
#[test]
fn bounce_of_our_mail_is_recorded_against_it() {
    let (desk, before) = with_req1();
    let ours = desk
        .sent()
        .into_iter()
        .find(|s| s.kind == "dept_new")
        .unwrap();
    assert!(desk.outbox_status().contains(" 0 bounced"));
    let template = std::fs::read_to_string(fixture("never/bounce_of_our_mail.eml.in")).unwrap();
    let original = String::from_utf8(ours.raw.clone()).unwrap();
    let dsn = template
        .replace("{{RCPT}}", &ours.to[0])
        .replace("{{ORIGINAL}}", original.trim_end());
    let path = desk.path("bounce.eml");
    std::fs::write(&path, dsn).unwrap();
    let v = desk.ingest_one(&path);
    assert_eq!(v.verdict, "set_aside:bounce");
    assert_eq!(desk.show("REQ-1"), before.req);
    assert_eq!(desk.outbox_files(), before.files, "no backscatter");
    let sent = desk.sent();
    assert_eq!(sent.len(), before.rows);
    let st = desk.outbox_status();
    assert!(st.contains(" 1 bounced"), "{st}");
    let bounced: Vec<_> = sent.iter().filter(|s| s.status == "bounced").collect();
    assert_eq!(bounced.len(), 1);
    assert_eq!(bounced[0].message_id, ours.message_id);
    let list = desk.set_aside();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["class"], "bounce");
}

/// A legitimate CONFIRM that a gateway stamped `Precedence: bulk` is set
/// aside; `crossdesk release KEY` acts on it as if it had just arrived.
#[test]
fn release_of_a_wrongly_filtered_message_acts_on_it() {
    let (desk, record) = set_aside("release_precedence_bulk.eml", "auto_reply");
    let (mid, _) = fixture_ids(&fixture("never/release_precedence_bulk.eml"));
    let key = record["key"].as_str().unwrap().to_string();
    let rows = desk.sent().len();
    let out = desk.ok(&["release", &key]);
    assert!(
        out.contains("applied:confirm") && out.contains("REQ-1"),
        "release output: {out}"
    );
    let req = desk.show("REQ-1");
    let rd = req["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "rd")
        .unwrap();
    assert_eq!(rd["confirmed"], true);
    let last = req["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "confirm");
    assert_eq!(last["actor"], "wanglei@corp.example");
    assert_eq!(last["message_id"], mid.as_str());
    let sent = desk.sent();
    assert_eq!(sent.len(), rows + 1);
    let c = &sent[rows];
    assert_eq!(c.kind, "confirmed");
    assert_eq!(c.to, vec!["zhaoliu@corp.example".to_string()]);
    assert_well_formed(c, Some(&mid));
    let list = desk.set_aside();
    assert_eq!(list[0]["released"], true);
    // Released once: a second release does not act again.
    let again = desk.ok(&["release", &key]);
    assert!(again.contains("already_released"), "{again}");
    assert_eq!(desk.sent().len(), rows + 1);
    assert_eq!(desk.show("REQ-1")["events"], req["events"]);
}

/// `daily_cap_per_recipient = 3`: five bad mails from one sender get three
/// refusals, not five; the other two are suppressed (kept, not sent).
#[test]
fn daily_cap_per_recipient_stops_refusals_after_three() {
    let desk = Desk::with(Options {
        cap: 3,
        ..Options::default()
    });
    let mut files = vec![];
    for i in 0..5 {
        let p = desk.path(&format!("bad{i}.eml"));
        std::fs::write(
            &p,
            format!(
                "From: Bob Smith <bob@corp.example>\r\nTo: workflow@corp.example\r\n\
                 Subject: [CONFIRM] [REQ-9{i}] export\r\nMessage-ID: <bad.{i}@corp.example>\r\n\
                 Date: Thu, 26 Nov 2026 10:0{i}:00 +0800\r\nMIME-Version: 1.0\r\n\
                 Content-Type: text/plain; charset=us-ascii\r\n\r\nFine from ops.\r\n"
            ),
        )
        .unwrap();
        files.push(p);
    }
    let v = desk.ingest(&files);
    assert!(v.iter().all(|v| v.verdict == "refused:unknown_id"), "{v:?}");
    let to_bob: Vec<_> = desk
        .sent()
        .into_iter()
        .filter(|s| s.delivered && s.to.contains(&"bob@corp.example".to_string()))
        .collect();
    assert_eq!(to_bob.len(), 3, "three refusals reach Bob");
    assert_eq!(desk.outbox_files().len(), 3);
    let st = desk.outbox_status();
    assert!(st.contains(" 2 suppressed"), "{st}");
}
