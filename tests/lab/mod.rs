//! The mail lab for end-to-end tests: real Dovecot and Postfix on
//! 127.0.0.1 (tests/mailserver/lab.sh), a crossdesk daemon process against
//! them, and small SMTP/IMAP clients to play the people.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Lab {
    pub dir: PathBuf,
    pub domain: String,
    pub password: String,
    pub imap_port: u16,
    pub smtp_port: u16,
    pub imaps_port: u16,
    pub ca_file: String,
}

fn lab_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mailserver/lab.sh")
}

fn run_lab(args: &[&str]) -> std::process::Output {
    run_lab_env(args, &[])
}

fn run_lab_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let out = Command::new("bash")
        .arg(lab_sh())
        .args(args)
        .env("LAB_PORTS", "auto")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run lab.sh");
    if !out.status.success() {
        panic!(
            "lab.sh {:?} failed: {}\n{}",
            args,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

impl Lab {
    /// Starts a private lab for `domain` in a fresh world-traversable dir.
    pub fn start(domain: &str) -> Lab {
        Lab::start_with(domain, &[])
    }

    /// `start` with lab.sh's environment settings (e.g. `LAB_MDBOX_USERS`).
    pub fn start_with(domain: &str, env: &[(&str, &str)]) -> Lab {
        let base = std::env::temp_dir().join(format!(
            "crossdesk-lab-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&base).unwrap();
        set_mode(&base, 0o755);
        run_lab_env(&["start", base.to_str().unwrap(), "--domain", domain], env);
        let env = std::fs::read_to_string(base.join("lab.env")).unwrap();
        let vars: HashMap<String, String> = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        let get = |k: &str| {
            vars.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("lab.env lacks {k}"))
        };
        Lab {
            dir: base,
            domain: get("DOMAIN"),
            password: get("PASSWORD"),
            imap_port: get("IMAP_PORT").parse().unwrap(),
            smtp_port: get("SMTP_PORT").parse().unwrap(),
            imaps_port: get("IMAPS_PORT").parse().unwrap(),
            ca_file: get("CA_FILE"),
        }
    }

    pub fn ctl(&self, what: &str) {
        run_lab(&[what, self.dir.to_str().unwrap()]);
    }

    /// Submits one message over SMTP (a plain dialogue, as a mail client would).
    pub fn submit(&self, from: &str, rcpts: &[&str], raw: &[u8]) {
        submit(self.smtp_port, from, rcpts, raw).unwrap_or_else(|e| {
            panic!(
                "smtp submit: {e}\nthe end of Postfix's log:\n{}",
                self.log_tail("postfix.log", 40)
            )
        });
    }

    /// The last `n` lines of one of the lab's logs (`postfix.log`, …).
    pub fn log_tail(&self, name: &str, n: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("logs").join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Every message in `user`'s `folder`, read over IMAP.
    pub fn fetch(&self, user: &str, folder: &str) -> Vec<Vec<u8>> {
        imap_fetch(self.imap_port, user, &self.password, folder)
            .unwrap_or_else(|e| panic!("imap fetch {user}/{folder}: {e}"))
    }

    /// Waits until `user`'s `folder` holds a message matching `pred`.
    pub fn wait_for(
        &self,
        user: &str,
        folder: &str,
        what: &str,
        pred: impl Fn(&Parsed) -> bool,
    ) -> Parsed {
        let t = Instant::now();
        loop {
            for raw in self.fetch(user, folder) {
                let p = Parsed::new(&raw);
                if pred(&p) {
                    return p;
                }
            }
            if t.elapsed() > Duration::from_secs(30) {
                let subjects: Vec<String> = self
                    .fetch(user, folder)
                    .iter()
                    .map(|r| Parsed::new(r).subject)
                    .collect();
                panic!("{user}/{folder}: no mail {what} within 30 s; have {subjects:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn addr(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }

    /// The Maildir behind `user`'s `folder` (INBOX or a Maildir++ subfolder).
    pub fn maildir(&self, user: &str, folder: &str) -> PathBuf {
        let base = self.dir.join("mail").join(user).join("Maildir");
        if folder.eq_ignore_ascii_case("INBOX") {
            base
        } else {
            base.join(format!(".{folder}"))
        }
    }

    /// The message files of a folder (cur/ and new/), read from disk: much
    /// cheaper than IMAP for hundreds of mails. A file renamed from new/ to
    /// cur/ meanwhile is listed once (keyed by its base name); one renamed
    /// between the two listings may be missed, so wait on counts, and
    /// assert when the folder is quiet.
    pub fn maildir_files(&self, user: &str, folder: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = self.maildir(user, folder);
        let mut seen = std::collections::BTreeMap::new();
        for sub in ["cur", "new"] {
            let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let base = name.split(':').next().unwrap_or(&name).to_string();
                if seen.contains_key(&base) {
                    continue;
                }
                if let Ok(raw) = std::fs::read(e.path()) {
                    seen.insert(base, (e.path(), raw));
                }
            }
        }
        seen.into_values().collect()
    }

    /// How many messages a folder holds, counted on disk.
    pub fn maildir_count(&self, user: &str, folder: &str) -> usize {
        let dir = self.maildir(user, folder);
        let mut names = std::collections::BTreeSet::new();
        for sub in ["cur", "new"] {
            if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    names.insert(name.split(':').next().unwrap_or(&name).to_string());
                }
            }
        }
        names.len()
    }

    /// Logs in as `user`, selects `folder` and runs each raw IMAP command
    /// (e.g. `UID STORE 1 +FLAGS (\Seen)`), failing on a NO/BAD.
    pub fn imap_commands(&self, user: &str, folder: &str, cmds: &[&str]) {
        block_on(async {
            let mut s = imap_login(self.imap_port, user, &self.password)
                .await
                .unwrap();
            s.select(folder).await.unwrap();
            for cmd in cmds {
                s.run_command_and_check_ok(cmd)
                    .await
                    .unwrap_or_else(|e| panic!("imap {cmd}: {e}"));
            }
            let _ = s.logout().await;
        })
    }

    /// `(UIDVALIDITY, UIDs)` of `user`'s `folder`, over IMAP.
    pub fn imap_uids(&self, user: &str, folder: &str) -> (u32, Vec<u32>) {
        block_on(async {
            let mut s = imap_login(self.imap_port, user, &self.password)
                .await
                .unwrap();
            let mb = s.examine(folder).await.unwrap();
            let mut uids: Vec<u32> = s.uid_search("ALL").await.unwrap().into_iter().collect();
            uids.sort_unstable();
            let _ = s.logout().await;
            (mb.uid_validity.unwrap_or(0), uids)
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(lab_sh())
            .args(["stop", self.dir.to_str().unwrap()])
            .stdin(Stdio::null())
            .output();
        if std::env::var_os("KEEP_LAB").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.subsec_nanos() ^ (t.as_secs() as u32).rotate_left(7)
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A minimal SMTP client: EHLO, MAIL, RCPT…, DATA (dot-stuffed), QUIT.
pub fn submit(port: u16, from: &str, rcpts: &[&str], raw: &[u8]) -> Result<(), String> {
    let mut c = SmtpClient::connect(port)?;
    c.send(from, rcpts, raw)?;
    c.quit();
    Ok(())
}

/// One SMTP connection for many mails (MAIL, RCPT…, DATA per mail).
pub struct SmtpClient {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl SmtpClient {
    pub fn connect(port: u16) -> Result<SmtpClient, String> {
        let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        // One write per command or mail, no Nagle: else each command waits
        // for the server's delayed ACK (~40 ms).
        s.set_nodelay(true).ok();
        let r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
        let mut c = SmtpClient { r, w: s };
        c.expect("220").map_err(|e| format!("greeting: {e}"))?;
        c.cmd("EHLO test.local", "250")?;
        Ok(c)
    }

    fn expect(&mut self, code: &str) -> Result<(), String> {
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).map_err(|e| e.to_string())?;
            if !line.starts_with(code) {
                return Err(format!("expected {code}, got {line:?}"));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    }

    fn cmd(&mut self, c: &str, code: &str) -> Result<(), String> {
        self.w
            .write_all(format!("{c}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        self.expect(code).map_err(|e| format!("{c}: {e}"))
    }

    pub fn send(&mut self, from: &str, rcpts: &[&str], raw: &[u8]) -> Result<(), String> {
        self.cmd(&format!("MAIL FROM:<{from}>"), "250")?;
        for rc in rcpts {
            self.cmd(&format!("RCPT TO:<{rc}>"), "250")?;
        }
        self.cmd("DATA", "354")?;
        let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let mut data = Vec::with_capacity(raw.len() + 64);
        for line in text.split('\n') {
            if line.starts_with('.') {
                data.push(b'.');
            }
            data.extend_from_slice(line.as_bytes());
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(b".\r\n");
        self.w.write_all(&data).map_err(|e| e.to_string())?;
        self.expect("250").map_err(|e| format!("end of data: {e}"))
    }

    pub fn quit(mut self) {
        let _ = self.w.write_all(b"QUIT\r\n");
    }
}

/// Runs a future to completion on a runtime of its own (the lab's IMAP
/// helpers are called from plain tests and benches).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A plain IMAP session on the lab's loopback port, logged in as `user`.
pub async fn imap_login(
    port: u16,
    user: &str,
    pass: &str,
) -> Result<async_imap::Session<tokio::net::TcpStream>, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let mut c = async_imap::Client::new(tcp);
    c.read_response().await.map_err(|e| e.to_string())?;
    c.login(user, pass).await.map_err(|(e, _)| e.to_string())
}

/// The capabilities the server announces after login.
pub fn imap_capabilities(port: u16, user: &str, pass: &str) -> Result<Vec<String>, String> {
    block_on(async {
        let mut s = imap_login(port, user, pass).await?;
        let caps = s.capabilities().await.map_err(|e| e.to_string())?;
        let v = caps
            .iter()
            .map(|c| match c {
                async_imap::types::Capability::Imap4rev1 => "IMAP4rev1".to_string(),
                async_imap::types::Capability::Auth(a) => format!("AUTH={a}"),
                async_imap::types::Capability::Atom(a) => a.to_string(),
            })
            .collect();
        drop(caps);
        let _ = s.logout().await;
        Ok(v)
    })
}

/// Reads every message of a folder over IMAP (BODY.PEEK[], so nothing is marked).
pub fn imap_fetch(port: u16, user: &str, pass: &str, folder: &str) -> Result<Vec<Vec<u8>>, String> {
    block_on(async {
        use futures::TryStreamExt;
        let mut s = imap_login(port, user, pass).await?;
        let mb = match s.select(folder).await {
            Ok(m) => m,
            Err(_) => return Ok(vec![]),
        };
        if mb.exists == 0 {
            let _ = s.logout().await;
            return Ok(vec![]);
        }
        let msgs: Vec<_> = s
            .fetch("1:*", "BODY.PEEK[]")
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        let out = msgs
            .iter()
            .filter_map(|m| m.body().map(|b| b.to_vec()))
            .collect();
        let _ = s.logout().await;
        Ok(out)
    })
}

/// The parts of a received mail the tests look at.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub subject: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub message_id: String,
    pub in_reply_to: String,
    pub auto_submitted: String,
    pub text: String,
    pub html: String,
}

impl Parsed {
    pub fn new(raw: &[u8]) -> Parsed {
        let m = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("parse");
        let addrs = |a: Option<&mail_parser::Address>| -> Vec<String> {
            a.map(|a| {
                a.iter()
                    .filter_map(|x| x.address().map(|s| s.to_lowercase()))
                    .collect()
            })
            .unwrap_or_default()
        };
        let hdr = |n: &str| -> String {
            m.header_raw(n)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        Parsed {
            subject: m.subject().unwrap_or("").to_string(),
            from: addrs(m.from()).first().cloned().unwrap_or_default(),
            to: addrs(m.to()),
            cc: addrs(m.cc()),
            message_id: m.message_id().unwrap_or("").to_string(),
            in_reply_to: m.in_reply_to().as_text().unwrap_or("").to_string(),
            auto_submitted: hdr("Auto-Submitted"),
            text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
            html: m.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
        }
    }
}

/// A crossdesk daemon process against the lab.
pub struct Daemon {
    pub child: Child,
    pub cfg: PathBuf,
}

impl Daemon {
    pub fn start(cfg: &Path, log: &Path) -> Daemon {
        let f = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_crossdesk"))
            .arg("--config")
            .arg(cfg)
            .arg("run")
            .env("CROSSDESK_LOG", "info")
            // Plain `key=value` in the log file, for tests that read it.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("start crossdesk");
        Daemon {
            child,
            cfg: cfg.to_path_buf(),
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if t.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("crossdesk did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The crossdesk configuration for a lab: IMAP source, SMTP transport, the
/// example directory at the lab's domain.
pub fn config(lab: &Lab, dir: &Path, extra: &str) -> PathBuf {
    config_with(lab, dir, &[], extra)
}

/// `config` with extra lines in its sections: `("smtp", "retry_seconds = [1]")`
/// goes under `[smtp]` (sections: mail, store, imap, smtp).
pub fn config_with(lab: &Lab, dir: &Path, sections: &[(&str, &str)], extra: &str) -> PathBuf {
    std::fs::write(dir.join("imap.pass"), format!("{}\n", lab.password)).unwrap();
    let d = &lab.domain;
    let text = format!(
        r#"
[mail]
address = "workflow@{d}"
display_name = "协作流程助手"
source = "imap"
transport = "smtp"
watermark = "all"
[store]
path = "crossdesk.db"
[imap]
url = "imap://127.0.0.1:{imap}"
user = "workflow"
password_file = "imap.pass"
poll_seconds = 5
[smtp]
url = "smtp://127.0.0.1:{smtp}"
poll_seconds = 2
[[departments]]
id = "rd"
name = "研发部"
aliases = ["R&D", "研发"]
group = "rd@{d}"
leads = ["王磊 <wanglei@{d}>"]
members = ["张三 <zhangsan@{d}>", "alice@{d}"]
[[departments]]
id = "sales"
name = "销售部"
aliases = ["销售"]
group = "sales@{d}"
leads = ["李娜 <lina@{d}>"]
members = ["赵六 <zhaoliu@{d}>", "carol@{d}"]
[[departments]]
id = "ops"
name = "Operations"
aliases = ["运维"]
group = "ops@{d}"
leads = ["Dave Lee <dave@{d}>"]
members = ["Bob Smith <bob@{d}>"]
locale = "en"
[[departments]]
id = "mkt"
name = "Marketing"
group = "mkt@{d}"
leads = ["Emma Stone <emma@{d}>"]
members = ["Frank Li <frank@{d}>"]
locale = "en"
{extra}
"#,
        imap = lab.imap_port,
        smtp = lab.smtp_port,
    );
    // Each `key = value` replaces the section's own setting of `key`, or
    // is added at the section's top.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (section, extra) in sections {
        let head = format!("[{section}]");
        let start = lines
            .iter()
            .position(|l| *l == head)
            .unwrap_or_else(|| panic!("config has no {head}"));
        for line in extra.lines().filter(|l| !l.trim().is_empty()) {
            let key = line.split('=').next().unwrap().trim();
            let end = lines[start + 1..]
                .iter()
                .position(|l| l.starts_with('['))
                .map_or(lines.len(), |p| start + 1 + p);
            match (start + 1..end).find(|i| lines[*i].split('=').next().unwrap().trim() == key) {
                Some(i) => lines[i] = line.to_string(),
                None => lines.insert(start + 1, line.to_string()),
            }
        }
    }
    let text = lines.join("\n") + "\n";
    let p = dir.join("crossdesk.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `crossdesk --config CFG ARGS…` to completion.
pub fn crossdesk(cfg: &Path, args: &[&str]) -> std::process::Output {
    crossdesk_cmd(cfg, args).output().expect("run crossdesk")
}

/// The same with the clock fixed (`CROSSDESK_NOW`, local time).
pub fn crossdesk_at(cfg: &Path, now: &str, args: &[&str]) -> std::process::Output {
    crossdesk_cmd(cfg, args)
        .env("CROSSDESK_NOW", now)
        .output()
        .expect("run crossdesk")
}

fn crossdesk_cmd(cfg: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crossdesk"));
    c.arg("--config")
        .arg(cfg)
        .args(args)
        .env("CROSSDESK_LOG", "warn")
        .stdin(Stdio::null());
    c
}

/// A plain UTF-8 mail as a client would write it.
pub fn mail(
    from: &str,
    to: &[&str],
    subject: &str,
    mid: &str,
    in_reply_to: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let irt = in_reply_to
        .map(|r| format!("In-Reply-To: <{r}>\r\nReferences: <{r}>\r\n"))
        .unwrap_or_default();
    let enc = |s: &str| {
        use std::fmt::Write as _;
        let mut out = String::from("=?UTF-8?Q?");
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() {
                out.push(b as char);
            } else if b == b' ' {
                out.push('_');
            } else {
                let _ = write!(out, "={b:02X}");
            }
        }
        out + "?="
    };
    format!(
        "From: {from}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{mid}>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0800\r\n{irt}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        to.join(", "),
        enc(subject)
    )
    .into_bytes()
}

/// A desk for Postfix's pipe transport (`LAB_PIPE_CMD`): a directory the
/// mail user can reach, with a copy of the binary in it (the tree it was
/// built in may be closed to that user). Returns the directory and the
/// command for `LAB_PIPE_CMD`; [`pipe_config`] writes its configuration
/// once the lab runs.
pub fn pipe_desk() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let bin = dir.path().join("crossdesk");
    std::fs::copy(env!("CARGO_BIN_EXE_crossdesk"), &bin).unwrap();
    set_mode(&bin, 0o755);
    let cmd = format!(
        "{} --config {} ingest -",
        bin.display(),
        dir.path().join("crossdesk.toml").display()
    );
    (dir, cmd)
}

/// The uid and gid of the `mail` user, as whom Postfix's pipe runs the
/// pipe desk's command.
pub fn mail_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "mail"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// The pipe desk's configuration: the lab's, as `crossdesk@DOMAIN` (the
/// address the lab pipes), replies over the lab's SMTP; the directory
/// handed to the mail user, who runs the command.
pub fn pipe_config(lab: &Lab, dir: &Path) -> PathBuf {
    let cfg = config_with(lab, dir, &[], "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("address = \"workflow@{}\"", lab.domain),
        &format!("address = \"crossdesk@{}\"", lab.domain),
    );
    std::fs::write(dir.join("crossdesk.toml"), text).unwrap();
    let (uid, gid) = mail_user();
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        std::os::unix::fs::chown(e.path(), Some(uid), Some(gid)).unwrap();
    }
    dir.join("crossdesk.toml")
}
