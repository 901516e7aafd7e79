//! The command line's contract with an MTA and an admin: exit codes and
//! messages that say what is wrong.

use std::process::Command;

mod tmpfs;

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

/// `crossdesk --config CFG`, for the caller's arguments.
fn crossdesk(cfg: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(cfg);
    c
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
    let out = crossdesk(&cfg).arg("ingest").arg(&mail).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `crossdesk ingest -` with `MAIL` on standard input, as an MTA runs it.
fn ingest_stdin(cfg: &std::path::Path) -> std::process::Output {
    ingest_mail(cfg, MAIL)
}

/// `crossdesk ingest -` with `mail` on standard input.
fn ingest_mail(cfg: &std::path::Path, mail: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = crossdesk(cfg)
        .args(["ingest", "-"])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(mail.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn ingest_from_stdin_exits_0_when_acted_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "crossdesk.db");
    let out = ingest_stdin(&cfg);
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
    let out = crossdesk(&cfg).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("crossdesk.toml") && err.contains("departments[0].group"),
        "{err}"
    );
}

/// Only one process sends the outbox at a time (a daemon and `crossdesk
/// outbox` beside it could otherwise both send a due mail): while another
/// holds the store's send lock, `ingest` and `outbox` leave the mail
/// queued; once it is free, `outbox` sends it, once.
#[test]
fn the_outbox_is_sent_by_one_process_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "crossdesk.db");
    let sent = || {
        let new = dir.path().join("outbox/new");
        std::fs::read_dir(new).map(|d| d.count()).unwrap_or(0)
    };
    let outbox = || crossdesk(&cfg).arg("outbox").output().unwrap();
    // Another process is sending: it holds the lock.
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.path().join("crossdesk.db.send-lock"))
        .unwrap();
    held.try_lock().unwrap();
    let out = ingest_stdin(&cfg);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied:new_req\tREQ-1"));
    let out = outbox();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stderr.contains("another crossdesk process is sending the outbox"),
        "{stderr}"
    );
    assert!(stdout.contains("outbox: 2 queued, 0 sent"), "{stdout}");
    assert_eq!(sent(), 0);
    // Free: sent now, and only once.
    drop(held);
    let out = outbox();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("outbox: 0 queued, 2 sent"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(sent(), 2);
    outbox();
    assert_eq!(sent(), 2);
}

/// `config` for `crossdesk run` on a Maildir source (`inbox/`), with the
/// store in `state/`.
fn daemon_config(dir: &std::path::Path) -> std::path::PathBuf {
    let cfg = config(dir, "state/crossdesk.db");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[mail]\n", "[mail]\nsource = \"maildir:inbox\"\n");
    std::fs::write(&cfg, text).unwrap();
    for d in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join("inbox").join(d)).unwrap();
    }
    cfg
}

/// Waits until `log` holds `what` (20 s at most).
fn wait_log(log: &std::path::Path, what: &str) {
    let t = std::time::Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(what)
    {
        assert!(
            t.elapsed().as_secs() < 20,
            "no {what:?} in the log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Drops a new requirement for rd from `from` into the daemon's Maildir
/// inbox (Message-ID `<{id}.{i}@corp.example>`), as an MTA would.
fn deliver_req(dir: &std::path::Path, from: &str, id: &str, i: u32) {
    let m = format!(
        "From: {from}\r\nTo: workflow@corp.example\r\nSubject: [REQ] item {i}\r\n\
         Message-ID: <{id}.{i}@corp.example>\r\n\r\nDept: rd\r\n"
    );
    let tmp = dir.join(format!("inbox/tmp/{i}.host"));
    std::fs::write(&tmp, m).unwrap();
    std::fs::rename(&tmp, dir.join(format!("inbox/new/{i}.host"))).unwrap();
}

/// `crossdesk run`, logging to `log`; returns once it has started (and
/// listens for signals).
fn start_daemon(cfg: &std::path::Path, log: &std::path::Path) -> std::process::Child {
    let child = crossdesk(cfg)
        .arg("run")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    wait_log(
        log,
        &format!(
            "crossdesk started version=\"{}\" pid={}",
            env!("CARGO_PKG_VERSION"),
            child.id()
        ),
    );
    child
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

/// One `crossdesk run` per store: a second one (or `run --once`) is
/// refused with the first one's pid, `ingest` beside it still works, and
/// the lock goes with the process, even when it is killed.
#[test]
fn a_second_daemon_on_the_same_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path());
    let lock = dir.path().join("state/crossdesk.db.run-lock");
    let log = dir.path().join("run.log");
    let start = || {
        let child = start_daemon(&cfg, &log);
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap().trim(),
            child.id().to_string()
        );
        child
    };
    let refused = |args: &[&str]| {
        let err = dir.path().join("refused.log");
        let mut child = crossdesk(&cfg)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed().as_secs() > 10 {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} ran beside the daemon");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(
            status.code(),
            Some(75),
            "{args:?} beside the daemon: EX_TEMPFAIL"
        );
        std::fs::read_to_string(&err).unwrap()
    };
    let mut first = start();
    for args in [&["run"][..], &["run", "--once"]] {
        let err = refused(args);
        assert!(
            err.contains(&format!(
                "another `crossdesk run` (pid {}) is using the store",
                first.id()
            )),
            "{args:?}: {err}"
        );
    }
    let out = ingest_stdin(&cfg);
    assert_eq!(out.status.code(), Some(0), "ingest beside the daemon");
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first one still runs"
    );

    first.kill().unwrap(); // SIGKILL: no clean-up
    first.wait().unwrap();
    let mut second = start();
    assert!(refused(&["run", "--once"]).contains(&format!("(pid {})", second.id())));
    signal(&second, "TERM");
    assert!(second.wait().unwrap().success());
    let out = crossdesk(&cfg).args(["run", "--once"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With a daemon running on the store (an MTA pipe with `crossdesk run`
/// beside it for the clock), `ingest` commits the message and wakes the
/// daemon through `<store>.wake`, which sends the replies; the process
/// sends nothing itself. A socket left by a daemon that was killed is no
/// daemon: `ingest` then sends its own replies.
#[test]
fn ingest_beside_a_daemon_wakes_it_to_send() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path());
    let log = dir.path().join("run.log");
    let mut daemon = crossdesk(&cfg)
        .arg("run")
        .env("NO_COLOR", "1")
        .env("CROSSDESK_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_log(&log, "crossdesk started");
    let sock = dir.path().join("state/crossdesk.db.wake");
    assert!(sock.exists(), "the daemon listens on {}", sock.display());
    let sent = || std::fs::read_dir(dir.path().join("outbox/new")).map_or(0, |d| d.count());
    let mail = |id: &str| MAIL.replace("<a@b>", &format!("<{id}@corp.example>"));

    let out = ingest_mail(&cfg, &mail("woke"));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied:new_req\tREQ-1"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("outbox drained"), "ingest sent itself: {err}");
    wait_log(&log, "woken: mail is due");
    wait_log(&log, "outbox drained sent=2");
    assert_eq!(sent(), 2, "the ack and rd's notice, from the daemon");

    daemon.kill().unwrap(); // SIGKILL: the socket file stays behind
    daemon.wait().unwrap();
    assert!(sock.exists());
    let out = ingest_mail(&cfg, &mail("alone"));
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outbox drained sent=2"), "{err}");
    assert_eq!(sent(), 4);

    // A stop takes the socket away at once.
    let mut daemon = start_daemon(&cfg, &log);
    assert!(sock.exists());
    signal(&daemon, "TERM");
    assert!(daemon.wait().unwrap().success());
    assert!(!sock.exists());
}

/// SIGHUP (`systemctl reload`) reads the configuration again: a member
/// added to a department is known from the next message on, without a
/// restart. A file that does not load, or a change that needs a restart,
/// is logged and the daemon carries on as it was.
#[test]
fn sighup_reloads_the_configuration_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path());
    let log = dir.path().join("run.log");
    let mut daemon = start_daemon(&cfg, &log);
    let deliver = |i: u32| deliver_req(dir.path(), "newbie@corp.example", "hup", i);
    deliver(1);
    wait_log(
        &log,
        "key=mid:hup.1@corp.example verdict=set_aside:unknown_sender",
    );

    let text = std::fs::read_to_string(&cfg).unwrap();
    let added = text.replace(
        r#"members = ["alice@corp.example"]"#,
        r#"members = ["alice@corp.example", "newbie@corp.example"]"#,
    );
    assert_ne!(added, text);
    std::fs::write(&cfg, &added).unwrap();
    signal(&daemon, "HUP");
    wait_log(&log, "configuration reloaded");
    deliver(2);
    wait_log(&log, "key=mid:hup.2@corp.example verdict=applied:new_req");

    std::fs::write(&cfg, "[mail\n").unwrap();
    signal(&daemon, "HUP");
    wait_log(&log, "configuration not reloaded; the running one stays");
    std::fs::write(&cfg, added.replace("state/crossdesk.db", "elsewhere.db")).unwrap();
    signal(&daemon, "HUP");
    wait_log(
        &log,
        r#"these changed settings apply at the next start (restart to apply them) settings=["[store]"]"#,
    );
    deliver(3);
    wait_log(&log, "key=mid:hup.3@corp.example verdict=applied:new_req");
    assert!(daemon.try_wait().unwrap().is_none(), "still running");
    assert!(!dir.path().join("elsewhere.db").exists());
    signal(&daemon, "TERM");
    assert!(daemon.wait().unwrap().success());
}

/// `crossdesk backup` while the daemon runs: a whole, consistent store in
/// a new file, which crossdesk reads as its store; an existing file is
/// not overwritten.
#[test]
fn a_backup_taken_while_the_daemon_runs_is_a_whole_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path());
    assert_eq!(ingest_stdin(&cfg).status.code(), Some(0));
    let mut daemon = start_daemon(&cfg, &dir.path().join("run.log"));
    let copy = dir.path().join("copy.db");
    let backup = || crossdesk(&cfg).arg("backup").arg(&copy).output().unwrap();
    let out = backup();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("backed up "));
    let out = backup();
    assert_ne!(out.status.code(), Some(0), "a second backup over the first");
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists; give a new file"));
    signal(&daemon, "TERM");
    assert!(daemon.wait().unwrap().success());

    let c = rusqlite::Connection::open(&copy).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(c);
    // The copy as a store: a configuration whose [store] path is the copy.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("state/crossdesk.db", "copy.db");
    let copy_cfg = dir.path().join("copy.toml");
    std::fs::write(&copy_cfg, text).unwrap();
    let out = crossdesk(&copy_cfg)
        .args(["list", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().map(|a| a.len()), Some(1), "{v}");
    assert_eq!(v[0]["id"], "REQ-1");
}

/// `crossdesk status`: whether a daemon uses the store (exit 0, or 3 as
/// LSB's "not running"), and what the store holds.
#[test]
fn status_says_whether_the_daemon_runs_and_what_the_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path());
    assert_eq!(ingest_stdin(&cfg).status.code(), Some(0));
    let status = |args: &[&str]| {
        let out = crossdesk(&cfg).arg("status").args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = status(&[]);
    assert_eq!(code, Some(3), "{text}");
    for line in [
        "daemon: not running",
        "messages: 1, the last at ",
        "requirements: 1 proposed",
        "outbox: 0 queued, 2 sent, 0 failed, 0 suppressed, 0 bounced",
        "set aside: 0 (0 not released)",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }

    let mut daemon = start_daemon(&cfg, &dir.path().join("run.log"));
    let (code, text) = status(&[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("daemon: running (pid {})", daemon.id())),
        "{text}"
    );
    let (code, text) = status(&["--json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["daemon"]["running"], true);
    assert_eq!(v["daemon"]["pid"], daemon.id().to_string());
    assert_eq!(v["status"]["messages"], 1);
    assert_eq!(v["status"]["requirements"]["proposed"], 1);
    assert_eq!(v["status"]["outbox"]["sent"], 2);
    signal(&daemon, "TERM");
    assert!(daemon.wait().unwrap().success());
    assert_eq!(status(&[]).0, Some(3));

    // A daemon that starts while status holds the lock (shared, for a
    // moment) waits for it rather than taking status for another daemon.
    let lock = std::fs::File::open(dir.path().join("state/crossdesk.db.run-lock")).unwrap();
    lock.try_lock_shared().unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(lock);
    });
    let mut again = start_daemon(&cfg, &dir.path().join("run2.log"));
    release.join().unwrap();
    signal(&again, "TERM");
    assert!(again.wait().unwrap().success());
}

/// `crossdesk check` (the unit's ExecStartPre) fails when the store cannot
/// be kept where the configuration says: on a read-only filesystem (as
/// everything outside StateDirectory is under ProtectSystem=strict), or in
/// a directory the user cannot write. It names the directory.
#[test]
fn check_fails_when_the_store_cannot_be_written_there() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    // SAFETY: geteuid(2) only reads the process's ids.
    let root = unsafe { libc::geteuid() } == 0;
    // Root may write anywhere but on a read-only filesystem.
    let _mounted = if root {
        Some(tmpfs::Tmpfs::mount(&ro, "ro,size=1m"))
    } else {
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        None
    };
    let check = |store: &str| {
        let out = crossdesk(&config(dir.path(), store))
            .arg("check")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = check("ro/state/crossdesk.db");
    assert_eq!(code, Some(78), "{err}");
    assert!(
        err.contains("key `store.path`")
            && err.contains(&format!("{} is not writable", ro.display())),
        "{err}"
    );
    let (code, err) = check("state/crossdesk.db");
    assert_eq!(code, Some(0), "{err}");
}

/// The commands that read or change what is recorded (status, list, show,
/// set-aside, release, outbox list/retry, backup) say that a store does not
/// exist rather than create an empty one: a mistyped `store.path` must not
/// look like a fresh start. `ingest` still creates it.
#[test]
fn reading_commands_do_not_create_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("nowhere/crossdesk.db");
    let cfg = config(dir.path(), store.to_str().unwrap());
    let run = |args: &[&str]| {
        let out = crossdesk(&cfg)
            .args(args)
            .env("CROSSDESK_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let backup = dir.path().join("b.db");
    for args in [
        &["list"][..],
        &["show", "REQ-1"],
        &["set-aside"],
        &["release", "x"],
        &["outbox", "list"],
        &["outbox", "retry", "--failed"],
        &["backup", backup.to_str().unwrap()],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {out}{err}");
        assert!(
            err.contains(&format!("store {} does not exist yet", store.display())),
            "{args:?}: {err}"
        );
        assert!(!store.exists(), "{args:?} created the store");
        assert!(!backup.exists());
    }
    let (code, out, _) = run(&["status"]);
    assert_eq!(code, Some(3));
    assert!(out.contains("daemon: not running"), "{out}");
    assert!(out.contains("does not exist yet"), "{out}");
    let (code, out, _) = run(&["status", "--json"]);
    assert_eq!(code, Some(3));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["store"]["exists"], false);
    assert!(v["status"].is_null());
    assert!(!store.exists());

    // Once something is recorded, they read it.
    std::fs::create_dir_all(store.parent().unwrap()).unwrap();
    assert_eq!(ingest_stdin(&cfg).status.code(), Some(0));
    assert!(store.exists());
    let (code, out, err) = run(&["list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("REQ-1"), "{out}");
    let (code, out, _) = run(&["status", "--json"]);
    assert_eq!(code, Some(3));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["store"]["exists"], true);
    assert_eq!(v["status"]["messages"], 1);
}

/// A message the daemon dies on (here a debug build's abort; in life a
/// stack overflow, a C library's abort, the OOM killer) does not hold up
/// the mail behind it for ever: each restart (systemd's Restart=) counts
/// the death against the message that was in hand, and at the third it is
/// set aside unread, the rest is acted on, and `release` can act on it
/// once the bug is fixed.
#[test]
fn a_message_the_daemon_dies_on_is_set_aside_after_the_third_death() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path());
    for (i, subject) in ["[REQ] one", "[REQ] 毒 poison", "[REQ] three"]
        .iter()
        .enumerate()
    {
        std::fs::write(
            dir.path().join(format!("inbox/new/{i}.eml")),
            format!(
                "From: alice@corp.example\r\nTo: workflow@corp.example\r\nSubject: {subject}\r\n\
                 Message-ID: <death{i}@corp.example>\r\n\r\nDept: rd\r\n"
            ),
        )
        .unwrap();
    }
    let run = |log: &std::path::Path| {
        // No core files from the aborts.
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -c 0; exec \"$0\" \"$@\"")
            .arg(BIN)
            .arg("--config")
            .arg(&cfg)
            // The mail was there before the first start (see the watermark).
            .args(["run", "--backfill"])
            .env("NO_COLOR", "1")
            .env("CROSSDESK_DEBUG_ABORT_SUBJECT", "毒")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap()
    };
    for death in 1..=3 {
        let log = dir.path().join(format!("run{death}.log"));
        let mut child = run(&log);
        let t = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(t.elapsed().as_secs() < 20, "run {death} did not die");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!status.success(), "{text}");
        assert!(text.contains("aborting on \"[REQ] 毒 poison\""), "{text}");
        if death > 1 {
            assert!(
                text.contains("the last run stopped with this message in hand name=")
                    && text.contains("/inbox/new/1.eml|")
                    && text.contains(&format!("deaths={}", death - 1)),
                "{text}"
            );
        }
        // Nothing of the dead runs' batch is kept.
        assert!(!text.contains("verdict=applied"), "{text}");
    }
    let log = dir.path().join("run4.log");
    let mut child = run(&log);
    wait_log(&log, "verdict=set_aside:internal_error");
    wait_log(&log, "deaths=3");
    let t = std::time::Instant::now();
    while std::fs::read_dir(dir.path().join("inbox/new"))
        .unwrap()
        .count()
        > 0
    {
        assert!(
            t.elapsed().as_secs() < 20,
            "the inbox is not emptied: {:?}\n{}",
            std::fs::read_dir(dir.path().join("inbox/new"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>(),
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("verdict=applied:new_req").count(), 2, "{text}");
    let out = crossdesk(&cfg)
        .args(["set-aside", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let aside = v.as_array().unwrap();
    assert_eq!(aside.len(), 1, "{v}");
    assert_eq!(aside[0]["class"], "internal_error");
    // Set aside unread: its key is its bytes' hash, and it sits in the
    // rejected folder for the admin to look at.
    assert!(
        aside[0]["key"].as_str().unwrap().starts_with("sha256:"),
        "{v}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("inbox/.rejected/cur"))
            .unwrap()
            .count(),
        1
    );
    assert!(
        aside[0]["detail"]
            .as_str()
            .unwrap()
            .contains("the daemon stopped 3 times with this message in hand"),
        "{v}"
    );
    // A clean stop leaves nothing in hand: the next start counts no death.
    let log = dir.path().join("run5.log");
    let child = start_daemon(&cfg, &log);
    signal(&child, "TERM");
    let mut child = child;
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("the last run stopped"), "{text}");
}

/// `crossdesk restore`: refused while the daemon uses the store; then the
/// backup is the store, new requirements are numbered past the gap
/// (REQ-2 was given out after the backup was taken and is not given out
/// again), and what is not a store is refused with the store untouched.
#[test]
fn a_restored_store_does_not_give_out_a_number_twice() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path());
    let ingest = |id: &str| {
        let mail = dir.path().join(format!("{id}.eml"));
        std::fs::write(&mail, MAIL.replace("<a@b>", &format!("<{id}@b>"))).unwrap();
        let out = crossdesk(&cfg).arg("ingest").arg(&mail).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let cli = |args: &[&str]| crossdesk(&cfg).args(args).output().unwrap();
    assert!(ingest("one").contains("REQ-1"));
    let copy = dir.path().join("copy.db");
    assert!(cli(&["backup", copy.to_str().unwrap()]).status.success());
    assert!(ingest("two").contains("REQ-2"));

    let mut daemon = start_daemon(&cfg, &dir.path().join("run.log"));
    let out = cli(&["restore", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("crossdesk run (pid {}) uses", daemon.id()))
            && err.contains("stop it first"),
        "{err}"
    );
    signal(&daemon, "TERM");
    assert!(daemon.wait().unwrap().success());

    let out = cli(&["restore", copy.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("new requirements are numbered from REQ-102"),
        "{said}"
    );
    let out = cli(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v.as_array().map(|a| a.len()),
        Some(1),
        "the backup's store: {v}"
    );
    assert!(ingest("three").contains("REQ-102"));

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "SQLite format 3? no").unwrap();
    let out = cli(&["restore", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a crossdesk store"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().map(|a| a.len()), Some(2), "untouched: {v}");
}

/// A template override that does not compile is refused before it is
/// needed: by `check`, at the daemon's start, and at a reload (which then
/// changes nothing: the running templates stay and mail goes on).
#[test]
fn a_template_that_does_not_compile_is_refused_by_check_start_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("[templates]\ndir = \"tpl\"\n");
    std::fs::write(&cfg, text).unwrap();
    let ack = dir.path().join("tpl/zh-CN/ack.hbs");
    std::fs::create_dir_all(ack.parent().unwrap()).unwrap();
    let broken = "--- subject ---\n{{#if title}}\n--- text ---\nx\n--- html ---\nx\n";
    let good = "--- subject ---\nRegistered {{title}}\n--- text ---\nOVERRIDE-OK\n--- html ---\n<p>OVERRIDE-OK</p>\n";
    std::fs::write(&ack, broken).unwrap();

    let out = crossdesk(&cfg).arg("check").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "check: {err}");
    assert!(err.contains("ack.hbs"), "check names the file: {err}");

    let out = crossdesk(&cfg)
        .arg("run")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the daemon started: {err}");
    assert!(err.contains("ack.hbs"), "the start names the file: {err}");

    std::fs::write(&ack, good).unwrap();
    let out = crossdesk(&cfg).arg("check").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.path().join("run.log");
    let mut daemon = start_daemon(&cfg, &log);
    let deliver = |i: u32| deliver_req(dir.path(), "alice@corp.example", "tpl", i);
    // Acknowledgements written with the override, as many as `n`.
    let acks = |n: usize| {
        let t = std::time::Instant::now();
        loop {
            let found = std::fs::read_dir(dir.path().join("outbox/new"))
                .map(|d| {
                    d.flatten()
                        .filter(|e| {
                            std::fs::read_to_string(e.path())
                                .unwrap_or_default()
                                .contains("OVERRIDE-OK")
                        })
                        .count()
                })
                .unwrap_or(0);
            if found >= n {
                return found;
            }
            assert!(
                t.elapsed().as_secs() < 20,
                "{found} of {n} acknowledgements"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    deliver(1);
    assert_eq!(acks(1), 1);

    std::fs::write(&ack, broken).unwrap();
    signal(&daemon, "HUP");
    wait_log(&log, "configuration not reloaded; the running one stays");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("ack.hbs"),
        "the reload names the file: {logged}"
    );
    deliver(2);
    assert_eq!(acks(2), 2, "the running templates stay");
    signal(&daemon, "TERM");
    assert!(daemon.wait().unwrap().success());
}
