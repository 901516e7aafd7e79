//! What each `[section]` of the configuration may say, and its defaults.

use super::Secret;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub address: String,
    #[serde(default = "default_display_name")]
    pub display_name: String,
    #[serde(default = "default_source")]
    pub source: String,
    #[serde(default = "default_transport")]
    pub transport: String,
    /// First start against a mailbox that already holds mail: act only on
    /// mail newer than this. `"start"` (default), `"all"`, or an RFC 3339 time.
    #[serde(default = "default_watermark")]
    pub watermark: String,
}

fn default_display_name() -> String {
    "crossdesk".into()
}
fn default_source() -> String {
    "maildir:var/inbox".into()
}
fn default_transport() -> String {
    "maildir:var/outbox".into()
}
fn default_watermark() -> String {
    "start".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: String,
    /// Messages committed per transaction during a backlog (a batch also
    /// stops at about 64 MiB of mail).
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_batch() -> usize {
    500
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleConfig {
    #[serde(default = "default_locale")]
    pub default: String,
    #[serde(default = "default_tz")]
    pub timezone: String,
}

impl Default for LocaleConfig {
    fn default() -> Self {
        LocaleConfig {
            default: default_locale(),
            timezone: default_tz(),
        }
    }
}

fn default_locale() -> String {
    "zh-CN".into()
}
fn default_tz() -> String {
    "Asia/Shanghai".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeptConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub group: String,
    #[serde(default)]
    pub leads: Vec<String>,
    #[serde(default)]
    pub members: Vec<String>,
    pub locale: Option<String>,
    /// This department's digest schedule instead of `[digest].schedule`;
    /// `"off"`: no digest.
    pub digest_schedule: Option<String>,
    /// The `[[im]]` robot of this department's group chat, by name.
    pub im: Option<String>,
    /// A robot by requirement priority, ahead of `im`:
    /// `im_by_priority = { urgent = "rd-urgent" }`.
    #[serde(default)]
    pub im_by_priority: std::collections::BTreeMap<String, String>,
}

/// `[[im]]`: a group robot of DingTalk, WeCom or Feishu. Its webhook URL
/// (which holds its token) and its signing secret are read from a file or
/// an environment variable, never from this file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImRobotConfig {
    pub name: String,
    /// `dingtalk`, `wecom` or `feishu`.
    pub kind: String,
    pub url_file: Option<String>,
    pub url_env: Option<String>,
    /// The 加签 secret, when the robot signs.
    pub secret_file: Option<String>,
    pub secret_env: Option<String>,
    /// A word the robot's keyword setting requires in every message.
    pub keyword: Option<String>,
    /// Seconds a post may take before it counts as a transient failure.
    #[serde(default = "default_im_timeout")]
    pub timeout_seconds: u64,
    /// A PEM file of extra trusted CA certificates (e.g. a company proxy's).
    pub ca_file: Option<String>,
    /// The events this robot takes (`crate::im::route::EVENTS`); all of them
    /// when not set.
    pub events: Option<Vec<String>>,
    /// Messages a minute, below the platform's limit (20 for DingTalk and
    /// WeCom, 100 for Feishu) when a group shares its robot with others.
    pub per_minute: Option<u32>,
}

fn default_im_timeout() -> u64 {
    10
}

/// `[digest]`: one mail per department group per slot.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// `"Mon-Fri 09:00"` (local time of `[locale].timezone`); `"off"`.
    #[serde(default = "default_digest_schedule")]
    pub schedule: String,
    /// No mail when every section is empty (the slot still counts as done).
    #[serde(default = "default_true")]
    pub skip_empty: bool,
    /// Rows shown per section; the rest are counted ("and 12 more").
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            schedule: default_digest_schedule(),
            skip_empty: true,
            max_rows: default_max_rows(),
        }
    }
}

fn default_digest_schedule() -> String {
    "Mon-Fri 09:00".into()
}
fn default_max_rows() -> usize {
    50
}

/// `[reminders]`: personal reminders, each sent once per condition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemindersConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// A task not accepted this long after it was assigned (`"24h"`, or
    /// working days `"1d"`).
    #[serde(default = "default_accept_within")]
    pub accept_within: String,
    /// An accepted task with no progress report for this many working days.
    #[serde(default = "default_report_every")]
    pub report_every: String,
    /// A task due within this many working days.
    #[serde(default = "default_due_soon")]
    pub due_soon: String,
    /// Overdue longer than this many working days: the lead too.
    #[serde(default = "default_escalate_after")]
    pub escalate_after: String,
    /// Reminders go out on working days from this local time on (a
    /// condition met at night waits for the morning).
    #[serde(default = "default_send_from")]
    pub send_from: String,
}

impl Default for RemindersConfig {
    fn default() -> Self {
        RemindersConfig {
            enabled: true,
            accept_within: default_accept_within(),
            report_every: default_report_every(),
            due_soon: default_due_soon(),
            escalate_after: default_escalate_after(),
            send_from: default_send_from(),
        }
    }
}

fn default_accept_within() -> String {
    "24h".into()
}
fn default_report_every() -> String {
    "3d".into()
}
fn default_due_soon() -> String {
    "2d".into()
}
fn default_escalate_after() -> String {
    "1d".into()
}
fn default_send_from() -> String {
    "09:00".into()
}

/// `[calendar]`: what counts as a working day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    #[serde(default = "default_weekend")]
    pub weekend: Vec<String>,
    /// Public holidays, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Make-up working days (weekend days worked), `YYYY-MM-DD`.
    #[serde(default)]
    pub workdays: Vec<String>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        CalendarConfig {
            weekend: default_weekend(),
            holidays: vec![],
            workdays: vec![],
        }
    }
}

fn default_weekend() -> Vec<String> {
    vec!["Sat".into(), "Sun".into()]
}

/// Sender authentication (docs/protocol.md#authentication): when `trusted_server` is set, the
/// topmost `Authentication-Results` from it must show dkim or spf pass.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub trusted_server: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Automated mails per recipient per day; more are suppressed and logged.
    #[serde(default = "default_cap")]
    pub daily_cap_per_recipient: u32,
    /// Largest message acted on, in bytes.
    #[serde(default = "default_max_size")]
    pub max_message_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            daily_cap_per_recipient: default_cap(),
            max_message_bytes: default_max_size(),
        }
    }
}

fn default_cap() -> u32 {
    200
}
fn default_max_size() -> usize {
    40 * 1024 * 1024
}

/// The files that come with the work (docs/protocol.md#files).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Where kept files go; default: beside the store (`<store>.files`).
    pub dir: Option<String>,
    /// A larger attachment is not kept (the reply says so).
    #[serde(default = "default_max_file")]
    pub max_file_bytes: u64,
    /// Attachments of one mail beyond this total are not kept.
    #[serde(default = "default_max_mail_files")]
    pub max_mail_bytes: u64,
    /// An outgoing mail attaches its files up to this total; above it the
    /// mail lists them and says how to fetch them.
    #[serde(default = "default_attach_max")]
    pub attach_max_bytes: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            dir: None,
            max_file_bytes: default_max_file(),
            max_mail_bytes: default_max_mail_files(),
            attach_max_bytes: default_attach_max(),
        }
    }
}

fn default_max_file() -> u64 {
    30 * 1024 * 1024
}
fn default_max_mail_files() -> u64 {
    40 * 1024 * 1024
}
fn default_attach_max() -> u64 {
    10 * 1024 * 1024
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesConfig {
    /// A directory whose `<locale>/<kind>.hbs` files override the built-in ones.
    pub dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// `imap://127.0.0.1:1143`, `imaps://mail.corp.example`, `imap://host?starttls`.
    pub url: String,
    pub user: String,
    /// A file holding the password (first line).
    pub password_file: Option<String>,
    /// Or an environment variable holding it.
    pub password_env: Option<String>,
    /// The folder watched.
    #[serde(default = "default_inbox")]
    pub folder: String,
    /// Where acted-on mail goes (created when missing).
    #[serde(default = "default_processed")]
    pub processed_folder: String,
    /// Where set-aside mail goes (created when missing).
    #[serde(default = "default_rejected")]
    pub rejected_folder: String,
    /// Seconds between safety polls (also while in IDLE).
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// Use IDLE when the server offers it.
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Seconds the server may stay silent while a command (or the greeting)
    /// waits for its answer, outside IDLE: past it the session counts as
    /// lost and the daemon reconnects, rather than wait for a server (or a
    /// network) that will not answer. Data arriving resets it, so a large
    /// FETCH on a slow link is not cut short.
    #[serde(default = "default_imap_timeout")]
    pub timeout_seconds: u64,
    /// A PEM file of extra trusted CA certificates (e.g. a self-signed one).
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// `smtp://127.0.0.1:2525`, `smtps://mail.corp.example`, `smtp://host:587?starttls`.
    pub url: String,
    pub user: Option<String>,
    pub password_file: Option<String>,
    pub password_env: Option<String>,
    /// Connections kept open in the pool.
    #[serde(default = "default_pool")]
    pub pool: u32,
    /// Seconds after which the outbox is checked again when idle.
    #[serde(default = "default_outbox_poll")]
    pub poll_seconds: u64,
    /// Seconds to wait before each retry of a mail the server deferred (or
    /// could not be reached for): the n-th retry waits the n-th step; past
    /// the last step that interval repeats, until 72 hours have passed.
    #[serde(default = "default_retry_seconds")]
    pub retry_seconds: Vec<u64>,
    /// Seconds a server may take over one mail (MAIL FROM to the end of
    /// DATA), and over STARTTLS and AUTH, before the try counts as a
    /// transient failure: a relay that stops answering must not hold the
    /// outbox for good.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_seconds: u64,
    pub ca_file: Option<String>,
}

impl ImapConfig {
    pub fn secret(&self) -> Secret {
        Secret {
            password_file: self.password_file.clone(),
            password_env: self.password_env.clone(),
        }
    }
}

impl SmtpConfig {
    pub fn secret(&self) -> Secret {
        Secret {
            password_file: self.password_file.clone(),
            password_env: self.password_env.clone(),
        }
    }
}

fn default_inbox() -> String {
    "INBOX".into()
}
fn default_processed() -> String {
    "Processed".into()
}
fn default_rejected() -> String {
    "Rejected".into()
}
fn default_poll() -> u64 {
    60
}
fn default_imap_timeout() -> u64 {
    300
}
fn default_true() -> bool {
    true
}
fn default_pool() -> u32 {
    2
}
fn default_outbox_poll() -> u64 {
    30
}
/// RFC 5321's longest client timeout (the end of DATA): 10 minutes.
fn default_smtp_timeout() -> u64 {
    600
}
/// 1 min, 5 min, 15 min, 1 h, then every 4 h.
pub fn default_retry_seconds() -> Vec<u64> {
    vec![60, 300, 900, 3600, 4 * 3600]
}
