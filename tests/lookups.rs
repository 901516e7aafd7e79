//! Look-ups by mail (docs/protocol.md#look-ups-by-mail), through the real
//! binary, on the files story (tests/fixtures/files: REQ-1 from 李娜 of
//! sales to R&D, tasks REQ-1.1 for 张三 and REQ-1.2 for alice, both done):
//! each look-up answered to whom it may be, with the right content and
//! files, refused to whom it may not, and nothing changed.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// (name, SHA-256) of each attachment of a delivered mail.
fn attached(raw: &[u8]) -> BTreeSet<(String, String)> {
    attachments_of(raw).into_iter().collect()
}

/// A plain UTF-8 mail (an 8-bit subject, as phones send), written into
/// the desk's directory.
fn mail(desk: &Desk, n: u32, from: &str, subject: &str) -> PathBuf {
    mail_cc(desk, n, from, subject, "")
}

fn mail_cc(desk: &Desk, n: u32, from: &str, subject: &str, cc: &str) -> PathBuf {
    let cc = if cc.is_empty() {
        String::new()
    } else {
        format!("Cc: {cc}\r\n")
    };
    let text = format!(
        "From: {from}\r\nTo: {WORKFLOW}\r\n{cc}Subject: {subject}\r\n\
         Date: Tue, 1 Dec 2026 10:00:{n:02} +0800\r\nMessage-ID: <look-{n}@corp.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n谢谢\r\n"
    );
    let p = desk.path(&format!("look-{n}.eml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// The bytes of the attachments of a delivered mail.
fn attached_bytes(raw: &[u8]) -> usize {
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    m.attachments().map(|a| a.contents().len()).sum()
}

fn story() -> Desk {
    let desk = Desk::new();
    for v in desk.ingest(&fixtures("files")) {
        assert!(v.verdict.starts_with("applied:"), "{v:?}");
    }
    desk
}

/// What must not change: the requirement (without its history) and the list.
fn state(desk: &Desk) -> (Value, Value) {
    let mut r = desk.show("REQ-1");
    r.as_object_mut().unwrap().remove("events");
    (without_times(&r), without_times(&desk.list()))
}

/// The mails answering the look-up with Message-ID `look-n@…`.
fn answers(desk: &Desk, n: u32) -> Vec<Sent> {
    let mid = format!("look-{n}@corp.example");
    desk.sent()
        .into_iter()
        .filter(|s| s.in_reply_to.contains(&mid))
        .collect()
}

#[test]
fn each_look_up_is_answered_to_whom_it_may_be_and_changes_nothing() {
    let desk = story();
    let before = state(&desk);
    let events_before = desk.events().len();
    let files = sent_files();

    // 赵六, of the requester's department: the whole requirement, in Chinese,
    // with every file attached once.
    let v = desk.ingest_one(&mail(
        &desk,
        1,
        "赵六 <zhaoliu@corp.example>",
        "【查询】[REQ-1]",
    ));
    assert_eq!(
        (v.verdict.as_str(), v.item.as_deref()),
        ("lookup:show", Some("REQ-1"))
    );
    let a = answers(&desk, 1);
    assert_eq!(a.len(), 1);
    let s = &a[0];
    assert_well_formed(s, Some("look-1@corp.example"));
    assert_lang(s, Lang::Zh);
    assert_eq!(
        (s.kind.as_str(), s.to.as_slice()),
        ("show", &["zhaoliu@corp.example".to_string()][..])
    );
    assert!(s.cc.is_empty());
    assert_eq!(s.auto_submitted, "auto-replied");
    assert!(
        s.subject.contains("[REQ-1]") && s.subject.contains("已交付"),
        "{}",
        s.subject
    );
    for want in [
        "研发部（已确认）",
        "REQ-1.1",
        "REQ-1.2",
        "张三",
        "处理记录",
        "完成任务",
        "需求说明.docx",
        "IMG_0042.JPG",
    ] {
        assert!(s.text.contains(want), "{want} missing:\n{}", s.text);
    }
    assert!(s.html.contains("处理记录") && s.html.contains("REQ-1.2"));
    let distinct: BTreeSet<(String, String)> =
        files.iter().map(|(n, h)| (n.clone(), h.clone())).collect();
    assert_eq!(attached(&s.raw), distinct, "every kept file, once");

    // alice asks for her task's files alone.
    let v = desk.ingest_one(&mail(&desk, 2, "alice@corp.example", "[FILES REQ-1.2]"));
    assert_eq!(
        (v.verdict.as_str(), v.item.as_deref()),
        ("lookup:files", Some("REQ-1.2"))
    );
    let a = answers(&desk, 2);
    assert_eq!(a.len(), 1);
    let got: BTreeSet<String> = attached(&a[0].raw).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        got,
        ["字段说明文档_最终版.docx", "字段对照.txt", "字段说明.xlsx"]
            .map(String::from)
            .into()
    );

    // Bob (Operations) has nothing to do with REQ-1: refused, in English,
    // told why and whom to ask; no file goes to him.
    let v = desk.ingest_one(&mail(
        &desk,
        3,
        "Bob Smith <bob@corp.example>",
        "[SHOW REQ-1]",
    ));
    assert_eq!(v.verdict, "refused:not_participant");
    let a = answers(&desk, 3);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, "refusal");
    assert_lang(&a[0], Lang::En);
    assert!(attached(&a[0].raw).is_empty());
    assert!(!a[0].text.contains("IMG_0042.JPG"), "{}", a[0].text);
    assert!(
        a[0].text.contains("look it up") && a[0].text.contains("lina@corp.example"),
        "{}",
        a[0].text
    );
    let v = desk.ingest_one(&mail(
        &desk,
        4,
        "Frank Miller <frank@corp.example>",
        "[FILES REQ-1]",
    ));
    assert_eq!(v.verdict, "refused:not_participant");
    assert!(attached(&answers(&desk, 4)[0].raw).is_empty());

    // [HELP] in the sender's language.
    let v = desk.ingest_one(&mail(
        &desk,
        5,
        "Frank Miller <frank@corp.example>",
        "[HELP]",
    ));
    assert_eq!(
        (v.verdict.as_str(), v.item.as_deref()),
        ("lookup:help", None)
    );
    let h = &answers(&desk, 5)[0];
    assert_eq!(h.kind, "help");
    assert_lang(h, Lang::En);
    assert!(
        h.text.contains("[SHOW]") && h.text.contains("[MINE]") && !h.text.contains("names no"),
        "{}",
        h.text
    );
    let v = desk.ingest_one(&mail(&desk, 6, "孙七 <sunqi@corp.example>", "【帮助】"));
    assert_eq!(v.verdict, "lookup:help");
    let h = &answers(&desk, 6)[0];
    assert_lang(h, Lang::Zh);
    assert!(
        h.text.contains("【查询】") && h.text.contains("【待办】"),
        "{}",
        h.text
    );

    // Nothing changed: the requirement and the list are as they were; the
    // history gained one `lookup` event per look-up at an item, each with
    // the look-up's Message-ID; a [SHOW] answer leaves those out.
    assert_eq!(state(&desk), before);
    let ev = desk.events();
    let new: Vec<(&str, &str, &str, &str)> = ev[events_before..]
        .iter()
        .map(|(m, i, k, _, d)| (m.as_str(), i.as_str(), k.as_str(), d.as_str()))
        .collect();
    assert_eq!(
        new,
        [
            ("look-1@corp.example", "REQ-1", "lookup", "show"),
            ("look-2@corp.example", "REQ-1.2", "lookup", "files"),
        ]
    );
    let v = desk.ingest_one(&mail(&desk, 7, "alice@corp.example", "[SHOW REQ-1]"));
    assert_eq!(v.verdict, "lookup:show");
    let s = &answers(&desk, 7)[0];
    assert!(
        !s.text.contains("查询 —") && !s.text.contains("：查询"),
        "{}",
        s.text
    );
    // `crossdesk show` lists them.
    let text = desk.ok(&["show", "REQ-1"]);
    assert!(text.contains("lookup"), "{text}");
}

#[test]
fn mine_lists_what_waits_on_the_sender() {
    let desk = story();
    // A second requirement, from 赵六 to R&D and QA, not confirmed yet.
    let v = desk.ingest_one(&mail_cc(
        &desk,
        10,
        "赵六 <zhaoliu@corp.example>",
        "[REQ] 月度报表",
        "rd@corp.example, qa@corp.example",
    ));
    assert_eq!(v.verdict, "applied:new_req");
    let before = state(&desk);
    // 张三 (R&D): REQ-2 waits on R&D's confirmation; his task is done.
    let v = desk.ingest_one(&mail(&desk, 11, "张三 <zhangsan@corp.example>", "【待办】"));
    assert_eq!(
        (v.verdict.as_str(), v.item.as_deref()),
        ("lookup:mine", None)
    );
    let m = &answers(&desk, 11)[0];
    assert_eq!(m.kind, "mine");
    assert_lang(m, Lang::Zh);
    assert!(
        m.text.contains("待本部门确认的需求") && m.text.contains("[REQ-2] 月度报表"),
        "{}",
        m.text
    );
    assert!(
        !m.text.contains("REQ-1.1"),
        "a done task waits on nobody:\n{}",
        m.text
    );
    // 李娜: her own open requirement REQ-1, delivered, awaiting her verification.
    let v = desk.ingest_one(&mail(&desk, 12, "李娜 <lina@corp.example>", "【我的】"));
    assert_eq!(v.verdict, "lookup:mine");
    let m = &answers(&desk, 12)[0];
    assert!(
        m.text.contains("您提出的需求") && m.text.contains("[REQ-1]") && m.text.contains("已交付"),
        "{}",
        m.text
    );
    assert!(!m.text.contains("REQ-2"), "{}", m.text);
    // Bob: nothing waits on him.
    desk.ingest_one(&mail(&desk, 13, "Bob Smith <bob@corp.example>", "[MINE]"));
    let m = &answers(&desk, 13)[0];
    assert_lang(m, Lang::En);
    assert!(m.text.contains("Nothing is waiting on you"), "{}", m.text);
    assert_eq!(state(&desk), before);
}

#[test]
fn files_above_the_mail_limit_come_in_parts_and_show_lists_them() {
    let desk = story();
    let mut cfg = std::fs::read_to_string(&desk.config).unwrap();
    cfg.push_str("\n[files]\nattach_max_bytes = 50000\n");
    std::fs::write(&desk.config, cfg).unwrap();
    let v = desk.ingest_one(&mail(
        &desk,
        20,
        "王磊 <wanglei@corp.example>",
        "[FILES REQ-1]",
    ));
    assert_eq!(v.verdict, "lookup:files");
    let a = answers(&desk, 20);
    let files = sent_files();
    // Seven distinct files, 140 kB: parts of at most 50 kB, every file once.
    assert!(a.len() >= 3, "{}", a.len());
    let mut all = BTreeSet::new();
    for (i, s) in a.iter().enumerate() {
        assert!(
            s.subject.contains(&format!("（{}/{}）", i + 1, a.len())),
            "{}",
            s.subject
        );
        let got = attached(&s.raw);
        assert!(!got.is_empty());
        let bytes = attached_bytes(&s.raw);
        assert!(bytes <= 50_000, "part {i}: {bytes} bytes");
        for f in got {
            assert!(all.insert(f), "a file sent twice");
        }
    }
    let distinct: BTreeSet<(String, String)> = files.into_iter().collect();
    assert_eq!(all, distinct);
    // [SHOW] lists them and says how to get them, instead of attaching.
    let v = desk.ingest_one(&mail(
        &desk,
        21,
        "王磊 <wanglei@corp.example>",
        "【查询】[REQ-1]",
    ));
    assert_eq!(v.verdict, "lookup:show");
    let s = &answers(&desk, 21)[0];
    assert!(attached(&s.raw).is_empty());
    assert!(
        s.text.contains("需求说明.docx") && s.text.contains("【附件】[REQ-1]"),
        "{}",
        s.text
    );
}

#[test]
fn look_up_answers_count_against_the_daily_cap() {
    let desk = Desk::with(Options {
        cap: 2,
        ..Options::default()
    });
    for n in 30..33 {
        let v = desk.ingest_one(&mail(
            &desk,
            n,
            "Frank Miller <frank@corp.example>",
            "[HELP]",
        ));
        assert_eq!(v.verdict, "lookup:help");
    }
    let status: Vec<String> = desk.sent().iter().map(|s| s.status.clone()).collect();
    assert_eq!(status, ["sent", "sent", "suppressed"]);
}
