//! The command line's contract with an MTA and an admin: exit codes and
//! messages that say what is wrong.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_crossdesk");

fn config(dir: &std::path::Path, store: &str) -> std::path::PathBuf {
    let p = dir.join("crossdesk.toml");
    std::fs::write(
        &p,
        format!(
            r#"
[mail]
address = "workflow@corp.example"
transport = "maildir:outbox"
[store]
path = "{store}"
[[departments]]
id = "rd"
name = "研发部"
group = "rd@corp.example"
members = ["alice@corp.example"]
"#
        ),
    )
    .unwrap();
    p
}

const MAIL: &str = "From: alice@corp.example\r\nTo: workflow@corp.example\r\nSubject: [REQ] x\r\nMessage-ID: <a@b>\r\n\r\nDept: rd\r\n";

#[test]
fn ingest_exits_75_when_the_message_cannot_be_stored() {
    let dir = tempfile::tempdir().unwrap();
    // The store's directory cannot be created under a regular file.
    std::fs::write(dir.path().join("file"), "").unwrap();
    let cfg = config(dir.path(), "file/crossdesk.db");
    let mail = dir.path().join("m.eml");
    std::fs::write(&mail, MAIL).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("ingest")
        .arg(&mail)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ingest_from_stdin_exits_0_when_acted_on() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "crossdesk.db");
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["ingest", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MAIL.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied:new_req\tREQ-1"));
}

#[test]
fn check_exits_78_and_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "crossdesk.db");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("rd@corp.example", "not-an-address");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("crossdesk.toml") && err.contains("departments[0].group"),
        "{err}"
    );
}
