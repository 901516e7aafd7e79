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
    let out = Command::new("bash")
        .arg(lab_sh())
        .args(args)
        .env("LAB_PORTS", "auto")
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
        let base = std::env::temp_dir().join(format!(
            "crossdesk-lab-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&base).unwrap();
        set_mode(&base, 0o755);
        run_lab(&["start", base.to_str().unwrap(), "--domain", domain]);
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
        submit(self.smtp_port, from, rcpts, raw).unwrap_or_else(|e| panic!("smtp submit: {e}"));
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
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let mut w = s;
    let expect = |r: &mut BufReader<TcpStream>, code: &str| -> Result<(), String> {
        loop {
            let mut line = String::new();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            if !line.starts_with(code) {
                return Err(format!("expected {code}, got {line:?}"));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    };
    expect(&mut r, "220")?;
    let cmd = |w: &mut TcpStream,
               r: &mut BufReader<TcpStream>,
               c: &str,
               code: &str|
     -> Result<(), String> {
        w.write_all(c.as_bytes()).map_err(|e| e.to_string())?;
        w.write_all(b"\r\n").map_err(|e| e.to_string())?;
        expect(r, code).map_err(|e| format!("{c}: {e}"))
    };
    cmd(&mut w, &mut r, "EHLO test.local", "250")?;
    cmd(&mut w, &mut r, &format!("MAIL FROM:<{from}>"), "250")?;
    for rc in rcpts {
        cmd(&mut w, &mut r, &format!("RCPT TO:<{rc}>"), "250")?;
    }
    cmd(&mut w, &mut r, "DATA", "354")?;
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
    w.write_all(&data).map_err(|e| e.to_string())?;
    expect(&mut r, "250")?;
    let _ = w.write_all(b"QUIT\r\n");
    Ok(())
}

/// Reads every message of a folder over IMAP (BODY.PEEK[], so nothing is marked).
pub fn imap_fetch(port: u16, user: &str, pass: &str, folder: &str) -> Result<Vec<Vec<u8>>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures::TryStreamExt;
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let mut c = async_imap::Client::new(tcp);
        c.read_response().await.map_err(|e| e.to_string())?;
        let mut s = c.login(user, pass).await.map_err(|(e, _)| e.to_string())?;
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
    let p = dir.join("crossdesk.toml");
    std::fs::write(&p, text).unwrap();
    p
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
