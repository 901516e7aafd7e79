//! The harness of the end-to-end tests: a temporary deployment (config,
//! SQLite store, Maildir inbox and outbox) driven through the real
//! `crossdesk` binary, and readers for what it did (the `show`/`set-aside`
//! JSON, the outbox table, the mails it wrote, parsed back with mail-parser).
#![allow(dead_code)]

use mail_parser::{HeaderValue, MessageParser};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_crossdesk");
pub const WORKFLOW: &str = "workflow@corp.example";

/// Text every mail rendered in a locale carries (the templates' footer).
pub const ZH_MARKER: &str = "协作流程系统自动发送";
pub const EN_MARKER: &str = "sent automatically by the crossdesk workflow system";

/// The test deployment's people: the example config's departments plus a
/// Chinese QA department and two English-locale ones (Marketing, IT).
/// The departments of the embedded default (`config/demo.toml`), which the
/// demo runs the same stories on.
fn departments() -> String {
    let text = include_str!("../../config/demo.toml");
    let at = text
        .find("[[departments]]")
        .expect("demo.toml has departments");
    text[at..].to_string()
}

/// Copies a directory's contents except the configuration file.
fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_tree(&src, &dst);
        } else if e.file_name() != "crossdesk.toml" {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The `.eml` files of a fixture directory, in story order (by name).
pub fn fixtures(dir: &str) -> Vec<PathBuf> {
    let d = fixtures_dir().join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    v.sort();
    v
}

pub fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}

/// The Message-ID (without brackets) and sender address of a fixture.
pub fn fixture_ids(path: &Path) -> (String, String) {
    let raw = std::fs::read(path).unwrap();
    let m = MessageParser::default()
        .parse(&raw)
        .unwrap_or_else(|| panic!("{}: not a message", path.display()));
    let mid = m
        .message_id()
        .unwrap_or_else(|| panic!("{}: no Message-ID", path.display()))
        .to_string();
    let from = m
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_lowercase();
    (mid, from)
}

/// One line of `ingest` / `run --once` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub handle: String,
    pub verdict: String,
    pub item: Option<String>,
}

pub fn parse_verdicts(stdout: &str) -> Vec<Verdict> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let handle = f.next().unwrap_or_default().to_string();
            let verdict = f.next().unwrap_or_default().to_string();
            let item = f.next().filter(|i| *i != "-").map(str::to_string);
            Verdict {
                handle,
                verdict,
                item,
            }
        })
        .collect()
}

/// A mail the daemon sent: its outbox row and the file the Maildir
/// transport wrote, parsed back.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message_id: String,
    pub kind: String,
    pub item: Option<String>,
    pub status: String,
    pub file: PathBuf,
    /// Whether the file exists (a suppressed/bounced-before-send mail has none).
    pub delivered: bool,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub header_message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub auto_submitted: String,
    pub text: String,
    pub html: String,
    pub raw: Vec<u8>,
}

impl Sent {
    /// Sorted recipients, for comparisons.
    pub fn to_set(&self) -> BTreeSet<String> {
        self.to.iter().cloned().collect()
    }
    pub fn cc_set(&self) -> BTreeSet<String> {
        self.cc.iter().cloned().collect()
    }
}

fn addresses(a: Option<&mail_parser::Address>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(|s| s.to_lowercase())
            .collect()
    })
    .unwrap_or_default()
}

fn ids(h: &HeaderValue) -> Vec<String> {
    h.as_text_list()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default()
}

fn text_of(h: Option<&HeaderValue>) -> String {
    match h {
        Some(HeaderValue::Text(t)) => t.trim().to_string(),
        Some(HeaderValue::TextList(l)) => l.join(", "),
        _ => String::new(),
    }
}

pub struct Desk {
    pub tmp: tempfile::TempDir,
    pub config: PathBuf,
}

pub struct Options {
    pub cap: u32,
    pub batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cap: 100_000,
            batch: 100,
        }
    }
}

impl Desk {
    pub fn new() -> Desk {
        Desk::with(Options::default())
    }

    pub fn with(o: Options) -> Desk {
        let tmp = tempfile::Builder::new()
            .prefix("crossdesk-story-")
            .tempdir()
            .unwrap();
        let config = tmp.path().join("crossdesk.toml");
        let text = format!(
            r#"
[mail]
address = "{WORKFLOW}"
display_name = "协作流程助手"
source = "maildir:inbox"
transport = "maildir:outbox"
watermark = "all"

[store]
path = "crossdesk.db"
batch = {batch}

[locale]
default = "zh-CN"
timezone = "Asia/Shanghai"

[limits]
daily_cap_per_recipient = {cap}
{}"#,
            departments(),
            batch = o.batch,
            cap = o.cap,
        );
        std::fs::write(&config, text).unwrap();
        Desk { tmp, config }
    }

    /// A new deployment holding a copy of this one's state (store, inbox,
    /// outbox), with its own configuration file. Cheaper than replaying.
    pub fn fork(&self) -> Desk {
        let d = Desk::new();
        copy_tree(self.tmp.path(), d.tmp.path());
        d
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&self.config);
        c.env("CROSSDESK_LOG", "warn");
        c
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run crossdesk")
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "crossdesk {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `crossdesk ingest FILES…` in one process.
    pub fn ingest(&self, files: &[PathBuf]) -> Vec<Verdict> {
        let mut c = self.command();
        c.arg("ingest").args(files);
        let out = c.output().expect("run crossdesk ingest");
        assert!(
            out.status.success(),
            "ingest {files:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v = parse_verdicts(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(v.len(), files.len(), "one verdict line per file: {v:?}");
        v
    }

    pub fn ingest_one(&self, file: &Path) -> Verdict {
        self.ingest(&[file.to_path_buf()]).remove(0)
    }

    pub fn show(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["show", id, "--json"])).unwrap()
    }

    pub fn list(&self) -> Value {
        serde_json::from_str(&self.ok(&["list", "--json"])).unwrap()
    }

    pub fn set_aside(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(&["set-aside", "--json"])).unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.path("outbox")
    }

    pub fn inbox_dir(&self) -> PathBuf {
        self.path("inbox")
    }

    /// The names of the mail files the transport delivered, sorted.
    pub fn outbox_files(&self) -> Vec<String> {
        let d = self.outbox_dir().join("new");
        let Ok(rd) = std::fs::read_dir(&d) else {
            return vec![];
        };
        let mut v: Vec<String> = rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.path("crossdesk.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// Every outbox row, in order, with its delivered file parsed.
    pub fn sent(&self) -> Vec<Sent> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT message_id, kind, item, status FROM outbox ORDER BY id")
            .unwrap();
        let rows: Vec<(String, String, Option<String>, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.into_iter()
            .map(|(message_id, kind, item, status)| {
                let file = self.outbox_dir().join("new").join(
                    crossdesk::send::maildir::MaildirTransport::file_name(&message_id),
                );
                let raw = std::fs::read(&file).unwrap_or_default();
                let mut s = Sent {
                    message_id,
                    kind,
                    item,
                    status,
                    file,
                    delivered: !raw.is_empty(),
                    from: String::new(),
                    to: vec![],
                    cc: vec![],
                    subject: String::new(),
                    header_message_id: String::new(),
                    in_reply_to: vec![],
                    references: vec![],
                    auto_submitted: String::new(),
                    text: String::new(),
                    html: String::new(),
                    raw: vec![],
                };
                if s.delivered {
                    let m = MessageParser::default().parse(&raw).unwrap_or_else(|| {
                        panic!("outbox file {} does not parse", s.file.display())
                    });
                    s.from = addresses(m.from()).join(",");
                    s.to = addresses(m.to());
                    s.cc = addresses(m.cc());
                    s.subject = m.subject().unwrap_or_default().to_string();
                    s.header_message_id = m.message_id().unwrap_or_default().to_string();
                    s.in_reply_to = ids(m.in_reply_to());
                    s.references = ids(m.references());
                    s.auto_submitted = text_of(m.header("Auto-Submitted"));
                    s.text = m.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
                    s.html = m
                        .html_part(0)
                        .and_then(|p| p.text_contents())
                        .unwrap_or_default()
                        .to_string();
                    s.raw = raw;
                }
                s
            })
            .collect()
    }

    /// `crossdesk outbox` output line.
    pub fn outbox_status(&self) -> String {
        self.ok(&["outbox"]).trim().to_string()
    }

    /// Rows of the `messages` table: (key, message_id, verdict).
    pub fn messages(&self) -> Vec<(String, Option<String>, String)> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT key, message_id, verdict FROM messages ORDER BY rowid")
            .unwrap();
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        v
    }

    /// Every event: (message_id, item, kind, actor, detail), in order.
    pub fn events(&self) -> Vec<(String, String, String, String, String)> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT message_id, req, task, kind, actor, detail FROM events ORDER BY id")
            .unwrap();
        let v = st
            .query_map([], |r| {
                let req: Option<i64> = r.get(1)?;
                let task: Option<i64> = r.get(2)?;
                let item = match (req, task) {
                    (Some(q), Some(t)) => format!("REQ-{q}.{t}"),
                    (Some(q), None) => format!("REQ-{q}"),
                    _ => String::new(),
                };
                Ok((r.get(0)?, item, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        v
    }
}

/// The language a mail must be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// Checks every promise docs/protocol.md makes about any outgoing mail
/// (#auto-submitted, #identifiers).
pub fn assert_well_formed(s: &Sent, incoming_mid: Option<&str>) {
    let what = format!("{} mail {} ({})", s.kind, s.message_id, s.subject);
    assert!(s.delivered, "{what}: no file in the outbox ({})", s.status);
    assert_eq!(s.status, "sent", "{what}");
    assert_eq!(s.from, WORKFLOW, "{what}: From");
    assert_eq!(
        s.header_message_id, s.message_id,
        "{what}: Message-ID header is the outbox's"
    );
    assert!(
        matches!(s.auto_submitted.as_str(), "auto-replied" | "auto-generated"),
        "{what}: Auto-Submitted is `{}`",
        s.auto_submitted
    );
    if let Some(item) = &s.item {
        assert!(
            s.subject.contains(&format!("[{item}]")),
            "{what}: subject lacks [{item}]"
        );
    }
    if let Some(mid) = incoming_mid {
        assert_eq!(
            s.in_reply_to,
            vec![mid.to_string()],
            "{what}: In-Reply-To is the mail answered"
        );
        assert!(
            s.references.iter().any(|r| r == mid),
            "{what}: References {:?} lack {mid}",
            s.references
        );
    }
    assert!(!s.references.is_empty(), "{what}: no References");
    assert!(!s.text.trim().is_empty(), "{what}: empty text body");
    assert!(!s.html.trim().is_empty(), "{what}: no HTML part");
}

pub fn assert_lang(s: &Sent, lang: Lang) {
    let what = format!("{} mail to {:?} ({})", s.kind, s.to, s.subject);
    let (yes, no) = match lang {
        Lang::Zh => (ZH_MARKER, EN_MARKER),
        Lang::En => (EN_MARKER, ZH_MARKER),
    };
    assert!(
        s.text.contains(yes),
        "{what}: expected {lang:?} text (`{yes}`):\n{}",
        s.text
    );
    assert!(!s.text.contains(no), "{what}: mixed languages:\n{}", s.text);
    assert!(
        s.html.contains(yes) && !s.html.contains(no),
        "{what}: the HTML part is not {lang:?}"
    );
}

/// No Chinese at all in a mail (for the English story, whose people,
/// departments and titles are English: any Chinese came from a template).
pub fn assert_no_cjk(s: &Sent) {
    let cjk: String = s
        .text
        .chars()
        .chain(s.subject.chars())
        .filter(|c| ('\u{3000}'..='\u{9fff}').contains(c) || ('\u{ff00}'..='\u{ffef}').contains(c))
        .collect();
    assert!(
        cjk.is_empty(),
        "{} mail ({}): Chinese in an English mail: {cjk}\n{}",
        s.kind,
        s.subject,
        s.text
    );
}

/// Strips what differs between two runs of the same story (times).
pub fn without_times(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "at" | "created_at" | "updated_at" | "last_report"
                    )
                })
                .map(|(k, v)| (k.clone(), without_times(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Base64 without line breaks.
pub fn b64(data: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// name → SHA-256 of the files the tests/fixtures/files mails attach.
pub fn sent_files() -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(fixture("files/SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let (sha, name) = l.split_once("  ").unwrap();
            (name.to_string(), sha.to_string())
        })
        .collect()
}

/// (name, SHA-256) of each attachment of a delivered mail, in order.
pub fn attachments_of(raw: &[u8]) -> Vec<(String, String)> {
    use mail_parser::MimeHeaders;
    let m = MessageParser::default().parse(raw).unwrap();
    m.attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or("").to_string(),
                crossdesk::model::sha256_hex(a.contents()),
            )
        })
        .collect()
}

/// A multipart/mixed mail: `head` (its header lines, each ending in CRLF,
/// without MIME-Version and Content-Type), a UTF-8 text `body`, and files
/// (name, type, bytes) attached as a mail client does, base64 in
/// 76-column lines, the name plain (ASCII), RFC 2231 (UTF-8) or none
/// (an empty name).
pub fn mail_with_files(head: &str, body: &str, files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut out = format!(
        "{head}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n\
         --=_b\r\nContent-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(body.as_bytes())
    );
    for (name, ty, bytes) in files {
        let (ct_name, disp) = if name.is_empty() {
            (String::new(), String::new())
        } else if name.is_ascii() {
            (
                format!("; name=\"{name}\""),
                format!("; filename=\"{name}\""),
            )
        } else {
            let pct: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
            (String::new(), format!("; filename*=UTF-8''{pct}"))
        };
        let data = b64(bytes);
        let lines: Vec<&str> = data
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        out.push_str(&format!(
            "--=_b\r\nContent-Type: {ty}{ct_name}\r\nContent-Disposition: attachment{disp}\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            lines.join("\r\n")
        ));
    }
    out.push_str("--=_b--\r\n");
    out.into_bytes()
}
