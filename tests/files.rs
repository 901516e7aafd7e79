//! Files travel with the work (docs/protocol.md#files): one requirement's
//! story as Outlook zh-CN, Foxmail, Gmail, iPhone and Thunderbird send it
//! (tests/fixtures/files, written by its gen_files.py), through the real
//! binary: which parts are files, their names, each kept once, forwarded
//! with the notifications, the verify request carrying the deliverables,
//! `show --json`, `files --out`, backup and restore, and files over a limit.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn sha256(bytes: &[u8]) -> String {
    crossdesk::model::sha256_hex(bytes)
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

fn kept_on_disk(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Ok(top) = std::fs::read_dir(dir) {
        for sub in top {
            for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
                out.insert(f.unwrap().file_name().to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn story() -> Desk {
    let desk = Desk::new();
    let verdicts = desk.ingest(&fixtures("files"));
    for v in &verdicts {
        assert!(v.verdict.starts_with("applied:"), "{v:?}");
    }
    desk
}

#[test]
fn attachments_are_kept_once_named_right_and_listed_by_show() {
    let desk = story();
    let sent = sent_files();
    let req = desk.show("REQ-1");
    let files = &req["files"];
    // Outlook's image001.png (multipart/related) and Foxmail's signature
    // logo are not files; an iPhone photo sent inline in a mixed part is.
    assert_eq!(
        names(files),
        [
            "字段说明.xlsx",
            "需求说明.docx",
            "接口草案.pdf",
            "任务说明.pdf",
            "IMG_0042.JPG",
            "字段说明文档_最终版.docx",
            "字段对照.txt",
            "字段说明.xlsx",
        ]
    );
    for f in files.as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        assert_eq!(f["sha256"].as_str(), Some(sent[name].as_str()), "{name}");
        assert_eq!(f["kept"], true);
    }
    // The same spreadsheet came twice (the request, then with [DONE]):
    // kept once. Seven distinct files in all.
    let on_disk = kept_on_disk(&desk.path("crossdesk.db.files"));
    let distinct: BTreeSet<String> = sent.values().cloned().collect();
    assert_eq!(on_disk, distinct);
    // Each task lists its own files; each event those of its mail.
    let task = |id: &str| {
        req["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(names(&task("REQ-1.1")["files"]), ["IMG_0042.JPG"]);
    assert_eq!(
        names(&task("REQ-1.2")["files"]),
        ["字段说明文档_最终版.docx", "字段对照.txt", "字段说明.xlsx"]
    );
    let created = req["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "new_req")
        .unwrap();
    assert_eq!(names(&created["files"]), ["字段说明.xlsx", "需求说明.docx"]);
    // The text view lists them too.
    let text = desk.ok(&["show", "REQ-1"]);
    assert!(
        text.contains("需求说明.docx") && text.contains("IMG_0042.JPG"),
        "{text}"
    );
}

#[test]
fn notifications_carry_the_files_and_the_verify_request_the_deliverables() {
    let desk = story();
    let sent = sent_files();
    let mails = desk.sent();
    let find = |kind: &str| {
        mails
            .iter()
            .find(|m| m.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} mail"))
    };
    let expect = |names: &[&str]| -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), sent[*n].clone()))
            .collect()
    };
    // The R&D group gets the requester's specification with the request.
    let dept_new = find("dept_new");
    assert_eq!(dept_new.to, ["rd@corp.example"]);
    assert_eq!(
        attachments_of(&dept_new.raw),
        expect(&["字段说明.xlsx", "需求说明.docx"])
    );
    assert!(
        dept_new.text.contains("需求说明.docx（32.2 KB）"),
        "{}",
        dept_new.text
    );
    // The acknowledgement lists them as a receipt, without a copy.
    let ack = find("ack");
    assert!(attachments_of(&ack.raw).is_empty());
    assert!(
        ack.text.contains("字段说明.xlsx（20.5 KB）"),
        "{}",
        ack.text
    );
    // The confirmation's draft goes to the requester.
    assert_eq!(
        attachments_of(&find("confirmed").raw),
        expect(&["接口草案.pdf"])
    );
    // The assignment's task description goes to each assignee.
    for m in mails.iter().filter(|m| m.kind == "assigned") {
        assert_eq!(
            attachments_of(&m.raw),
            expect(&["任务说明.pdf"]),
            "{:?}",
            m.to
        );
    }
    assert_eq!(
        attachments_of(&find("progress").raw),
        expect(&["IMG_0042.JPG"])
    );
    // The verify request carries the deliverables of the done tasks.
    let verify = find("verify_request");
    assert_eq!(verify.to, ["lina@corp.example"]);
    assert_eq!(
        attachments_of(&verify.raw),
        expect(&["字段说明文档_最终版.docx", "字段对照.txt", "字段说明.xlsx"])
    );
    // Mail without files carries none.
    for m in mails.iter().filter(|m| m.kind == "accepted") {
        assert!(attachments_of(&m.raw).is_empty());
    }
}

#[test]
fn files_out_writes_identical_bytes_and_backup_restore_keeps_them() {
    let desk = story();
    let sent = sent_files();
    let out = desk.path("out");
    desk.ok(&["files", "REQ-1", "--out", out.to_str().unwrap()]);
    let written = |dir: &Path| -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    sha256(&std::fs::read(&p).unwrap()),
                )
            })
            .collect()
    };
    // The spreadsheet sent twice under one name is written once.
    assert_eq!(written(&out), sent);
    // One task's files alone.
    let t = desk.path("t");
    desk.ok(&["files", "REQ-1.1", "--out", t.to_str().unwrap()]);
    assert_eq!(
        written(&t).into_keys().collect::<Vec<_>>(),
        ["IMG_0042.JPG"]
    );

    let backup = desk.path("b.db");
    desk.ok(&["backup", backup.to_str().unwrap()]);
    // The store and its files are lost; the backup brings both back.
    std::fs::remove_dir_all(desk.path("crossdesk.db.files")).unwrap();
    for f in ["crossdesk.db", "crossdesk.db-wal", "crossdesk.db-shm"] {
        let _ = std::fs::remove_file(desk.path(f));
    }
    desk.ok(&["restore", backup.to_str().unwrap()]);
    let again = desk.path("again");
    desk.ok(&["files", "REQ-1", "--out", again.to_str().unwrap()]);
    assert_eq!(written(&again), sent);
    // Nothing is left over for gc, and it says every record has its file.
    let gc = desk.ok(&["gc"]);
    assert!(gc.contains("removed 0"), "{gc}");
}

#[test]
fn a_file_over_the_limit_is_not_kept_and_the_sender_is_told() {
    let desk = Desk::new();
    let mut cfg = std::fs::read_to_string(&desk.config).unwrap();
    cfg.push_str("\n[files]\nmax_file_bytes = 30000\n");
    std::fs::write(&desk.config, cfg).unwrap();
    let v = desk.ingest(&fixtures("files")[..3]);
    assert!(v.iter().all(|v| v.verdict.starts_with("applied:")), "{v:?}");
    let req = desk.show("REQ-1");
    let files = req["files"].as_array().unwrap();
    let docx = files.iter().find(|f| f["name"] == "需求说明.docx").unwrap();
    assert_eq!(docx["kept"], false);
    assert_eq!(docx["note"], "too_large");
    assert_eq!(docx["sha256"], Value::Null);
    let mails = desk.sent();
    // The group gets what was kept; the requester's acknowledgement says
    // which file was not kept and why.
    let dept_new = mails.iter().find(|m| m.kind == "dept_new").unwrap();
    let att: Vec<String> = attachments_of(&dept_new.raw)
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(att, ["字段说明.xlsx"]);
    let ack = mails.iter().find(|m| m.kind == "ack").unwrap();
    assert!(
        ack.text.contains("以下附件未能保存")
            && ack
                .text
                .contains("需求说明.docx（32.2 KB）：超过单个附件的大小上限"),
        "{}",
        ack.text
    );
    // Nothing of it is on disk.
    let on_disk = kept_on_disk(&desk.path("crossdesk.db.files"));
    assert!(!on_disk.contains(&sent_files()["需求说明.docx"]));
}

#[test]
fn a_sender_who_gets_no_reply_hears_of_a_file_not_kept() {
    let desk = Desk::new();
    let mut cfg = std::fs::read_to_string(&desk.config).unwrap();
    cfg.push_str("\n[files]\nmax_file_bytes = 30000\n");
    std::fs::write(&desk.config, cfg).unwrap();
    let all = fixtures("files");
    // The story up to the iPhone progress report (a 40 KB photo): the
    // report goes to the assigner and requester, not to its sender.
    let v = desk.ingest(&all[..6]);
    assert!(v.iter().all(|v| v.verdict.starts_with("applied:")), "{v:?}");
    let mails = desk.sent();
    let note = mails
        .iter()
        .find(|m| m.kind == "not_kept")
        .expect("a not_kept mail");
    assert_eq!(note.to, ["zhangsan@corp.example"]);
    assert!(note.text.contains("IMG_0042.JPG"), "{}", note.text);
    let progress = mails.iter().find(|m| m.kind == "progress").unwrap();
    assert!(attachments_of(&progress.raw).is_empty());
}

/// One mail of the second story, from `from`, numbered `n`.
fn story_mail(
    desk: &Desk,
    n: u32,
    from: &str,
    subject: &str,
    body: &str,
    files: &[(&str, &str, &[u8])],
) -> std::path::PathBuf {
    let head = format!(
        "From: {from}\r\nTo: {WORKFLOW}\r\nCc: rd@corp.example\r\nSubject: =?UTF-8?B?{}?=\r\n\
         Date: Tue, 1 Dec 2026 10:00:{n:02} +0800\r\nMessage-ID: <more-{n}@corp.example>\r\n",
        b64(subject.as_bytes())
    );
    let p = desk.path(&format!("more-{n}.eml"));
    std::fs::write(&p, mail_with_files(&head, body, files)).unwrap();
    p
}

#[test]
fn files_go_with_a_clarification_its_answer_a_plan_a_problem_and_winmail_dat_is_kept_as_is() {
    let desk = Desk::new();
    // Outlook's TNEF part, once named and once not: kept byte for byte,
    // named winmail.dat.
    let tnef: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let tnef2: Vec<u8> = tnef.iter().rev().copied().collect();
    let budget: Vec<u8> = (0..9000u32).map(|i| (i * 13 % 241) as u8).collect();
    let question: Vec<u8> = b"Q1. which fields?\n".repeat(50);
    let answer: Vec<u8> = b"%PDF-1.4 answer\n".repeat(80);
    let plan: Vec<u8> = b"plan,2030-01-10\n".repeat(90);
    let step = |n: u32, from: &str, subject: &str, body: &str, files: &[(&str, &str, &[u8])]| {
        let v = desk.ingest_one(&story_mail(&desk, n, from, subject, body, files));
        assert!(v.verdict.starts_with("applied:"), "{n}: {v:?}");
        format!("more-{n}@corp.example")
    };
    let sha = |b: &[u8]| sha256(b);
    let carried = |mid: &str, kind: &str| -> Vec<(String, String)> {
        let mails: Vec<Sent> = desk
            .sent()
            .into_iter()
            .filter(|s| s.kind == kind && s.in_reply_to.iter().any(|i| i == mid))
            .collect();
        assert!(!mails.is_empty(), "no {kind} mail answers {mid}");
        let mut v = attachments_of(&mails[0].raw);
        v.sort();
        v
    };
    let m1 = step(
        1,
        "赵六 <zhaoliu@corp.example>",
        "[REQ] 年度预算",
        "截止日期：2030-06-15\n\n见附件。\n",
        &[
            ("winmail.dat", "application/ms-tnef", &tnef),
            ("预算表.xlsx", "application/vnd.ms-excel", &budget),
            ("", "application/ms-tnef", &tnef2),
        ],
    );
    let mut want = vec![
        ("winmail.dat".to_string(), sha(&tnef)),
        ("winmail.dat".to_string(), sha(&tnef2)),
        ("预算表.xlsx".to_string(), sha(&budget)),
    ];
    want.sort();
    assert_eq!(carried(&m1, "dept_new"), want);
    // The clarification carries its question list to the requester.
    let m2 = step(
        2,
        "张三 <zhangsan@corp.example>",
        "【疑问】[REQ-1]",
        "请看问题清单。\n",
        &[("问题清单.txt", "text/plain", &question)],
    );
    assert_eq!(
        carried(&m2, "clarify"),
        [("问题清单.txt".to_string(), sha(&question))]
    );
    assert_eq!(desk.show("REQ-1")["state"], "clarifying");
    // The requester's answer (a plain reply) carries its file to the others.
    let m3 = step(
        3,
        "赵六 <zhaoliu@corp.example>",
        "回复：[REQ-1] 年度预算",
        "答复见附件。\n",
        &[("答复.pdf", "application/pdf", &answer)],
    );
    assert_eq!(
        carried(&m3, "comment"),
        [("答复.pdf".to_string(), sha(&answer))]
    );
    assert_eq!(desk.show("REQ-1")["state"], "proposed");
    step(
        4,
        "张三 <zhangsan@corp.example>",
        "【确认】[REQ-1]",
        "可以。\n",
        &[],
    );
    // The plan carries its schedule to every involved group.
    let m5 = step(
        5,
        "王磊 <wanglei@corp.example>",
        "【计划】[REQ-1]",
        "- 2030-01-10: 评审 (张三)\n",
        &[("计划.csv", "text/csv", &plan)],
    );
    assert_eq!(carried(&m5, "plan"), [("计划.csv".to_string(), sha(&plan))]);
    // A problem raised with a screenshot: to the assigner, the requester
    // and the owner's lead, with the file.
    step(
        6,
        "王磊 <wanglei@corp.example>",
        "【分配】[REQ-1]",
        "- 张三: 编制预算; 截止 2030-05-01\n",
        &[],
    );
    step(
        7,
        "张三 <zhangsan@corp.example>",
        "【接收】[REQ-1.1]",
        "收到。\n",
        &[],
    );
    let shot: Vec<u8> = (0..7000u32).map(|i| (i * 31 % 253) as u8).collect();
    let m8 = step(
        8,
        "张三 <zhangsan@corp.example>",
        "【问题】[REQ-1.1]",
        "数据源无权限，见截图。\n",
        &[("截图.png", "image/png", &shot)],
    );
    assert_eq!(
        carried(&m8, "blocked"),
        [("截图.png".to_string(), sha(&shot))]
    );
    // All of them listed, each by its event.
    let req = desk.show("REQ-1");
    assert_eq!(
        names(&req["files"]),
        [
            "winmail.dat",
            "预算表.xlsx",
            "winmail.dat",
            "问题清单.txt",
            "答复.pdf",
            "计划.csv",
            "截图.png"
        ]
    );
    let out = desk.path("out");
    desk.ok(&["files", "REQ-1", "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(out.join("winmail.dat")).unwrap(), tnef);
    assert_eq!(std::fs::read(out.join("winmail (2).dat")).unwrap(), tnef2);
}
