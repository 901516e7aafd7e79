//! TOML configuration, validated at start with messages that name the file,
//! the key and what is wrong.

use crate::directory::{Department, Directory};
use crate::model::{Action, Mailbox};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {err}")]
    Read { file: String, err: std::io::Error },
    #[error("{file}: {msg}")]
    Syntax { file: String, msg: String },
    #[error("{file}: key `{key}`: {msg}")]
    Invalid {
        file: String,
        key: String,
        msg: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mail: MailConfig,
    pub store: StoreConfig,
    #[serde(default)]
    pub locale: LocaleConfig,
    #[serde(default)]
    pub departments: Vec<DeptConfig>,
    /// Extra keywords per action: `confirm = ["OK", "同意"]`.
    #[serde(default)]
    pub keywords: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub templates: TemplatesConfig,
    /// Department digests on a schedule.
    #[serde(default)]
    pub digest: DigestConfig,
    /// Personal reminders.
    #[serde(default)]
    pub reminders: RemindersConfig,
    /// Working days: weekend, holidays, make-up days.
    #[serde(default)]
    pub calendar: CalendarConfig,
    /// The IMAP source, when `mail.source = "imap"`.
    pub imap: Option<ImapConfig>,
    /// The SMTP sender, when `mail.transport = "smtp"`.
    pub smtp: Option<SmtpConfig>,
    /// Where the config was read from; relative paths resolve against its directory.
    #[serde(skip)]
    pub base_dir: PathBuf,
    #[serde(skip)]
    pub file: String,
}

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

/// Sender authentication (PROTOCOL.md): when `trusted_server` is set, the
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
    25 * 1024 * 1024
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesConfig {
    /// A directory whose `<locale>/<kind>.hbs` files override the built-in ones.
    pub dir: Option<String>,
}

/// A mail server endpoint, parsed from a URL such as `imaps://host:993`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP: only to a loopback address.
    None,
    /// Plain TCP upgraded with STARTTLS.
    StartTls,
    /// TLS from the first byte (imaps://, smtps://).
    Implicit,
}

impl ServerUrl {
    /// `imap://h[:p]`, `imaps://h[:p]`, `imap://h?starttls` (and smtp/smtps).
    pub fn parse(s: &str, proto: &str) -> Result<ServerUrl, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("`{s}`: expected {proto}://HOST[:PORT] or {proto}s://HOST[:PORT]")
        })?;
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h.trim_end_matches('/'), Some(q)),
            None => (rest.trim_end_matches('/'), None),
        };
        let starttls = match query {
            None => false,
            Some("starttls") => true,
            Some(q) => return Err(format!("`{s}`: unknown option `{q}` (only `?starttls`)")),
        };
        let (tls, default_port) = match (scheme, proto) {
            ("imap", "imap") => (
                if starttls {
                    TlsMode::StartTls
                } else {
                    TlsMode::None
                },
                143,
            ),
            ("imaps", "imap") => (TlsMode::Implicit, 993),
            ("smtp", "smtp") => (
                if starttls {
                    TlsMode::StartTls
                } else {
                    TlsMode::None
                },
                25,
            ),
            ("smtps", "smtp") => (TlsMode::Implicit, 465),
            _ => {
                return Err(format!(
                    "`{s}`: use {proto}://, {proto}://…?starttls or {proto}s://"
                ))
            }
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // [::1]:1143
            let (h, p) = h
                .split_once(']')
                .ok_or_else(|| format!("`{s}`: bad IPv6 address"))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{s}`: no host"));
        }
        let port = match port {
            None | Some("") => default_port,
            Some(p) => p.parse().map_err(|_| format!("`{s}`: bad port `{p}`"))?,
        };
        let url = ServerUrl { host, port, tls };
        if tls == TlsMode::None && !url.is_loopback() {
            return Err(format!(
                "`{s}`: plain {proto}:// only to 127.0.0.1, ::1 or localhost; use {proto}s:// or ?starttls"
            ));
        }
        Ok(url)
    }

    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .map(|a| a.is_loopback())
                .unwrap_or(false)
    }
}

/// A secret read from a file or an environment variable, never from the
/// main configuration file.
#[derive(Debug, Clone, Default)]
pub struct Secret {
    pub password_file: Option<String>,
    pub password_env: Option<String>,
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

/// Where mail comes from / goes to, parsed from `mail.source` / `mail.transport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Maildir(PathBuf),
    Imap,
    Smtp,
}

impl Config {
    /// Who is who, as `[[departments]]` says.
    pub fn directory(&self) -> Directory {
        let cfg = self;
        let mut depts = Vec::new();
        for d in &cfg.departments {
            let parse_all = |v: &Vec<String>| v.iter().filter_map(|s| Mailbox::parse(s)).collect();
            depts.push(Department {
                id: d.id.clone(),
                name: d.name.clone(),
                aliases: d.aliases.clone(),
                group: Mailbox::parse(&d.group).unwrap_or_else(|| Mailbox::new(None, &d.group)),
                leads: parse_all(&d.leads),
                members: parse_all(&d.members),
                locale: d
                    .locale
                    .clone()
                    .unwrap_or_else(|| cfg.locale.default.clone()),
            });
        }
        Directory::new(depts, &cfg.locale.default)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
            file: file.clone(),
            err,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::from_str(&text, &file, &base)
    }

    pub fn from_str(text: &str, file: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            msg: e.to_string().trim_end().to_string(),
        })?;
        cfg.base_dir = base_dir.to_path_buf();
        cfg.file = file.to_string();
        cfg.validate()?;
        Ok(cfg)
    }

    fn invalid(&self, key: &str, msg: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.to_string(),
            msg: msg.into(),
        }
    }

    /// Every check that does not need the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if Mailbox::parse(&self.mail.address).is_none() {
            return Err(self.invalid(
                "mail.address",
                format!("`{}` is not an email address", self.mail.address),
            ));
        }
        if self.endpoint("mail.source", &self.mail.source, "imap")? == Endpoint::Imap {
            let Some(imap) = &self.imap else {
                return Err(self.invalid("imap", "mail.source = \"imap\" needs an [imap] section"));
            };
            ServerUrl::parse(&imap.url, "imap").map_err(|m| self.invalid("imap.url", m))?;
            self.check_secret("imap", &imap.secret(), true)?;
            if imap.poll_seconds == 0 {
                return Err(self.invalid("imap.poll_seconds", "must be at least 1"));
            }
            if imap.timeout_seconds == 0 || imap.timeout_seconds > 3600 {
                return Err(
                    self.invalid("imap.timeout_seconds", "must be between 1 and 3600 seconds")
                );
            }
        }
        if self.endpoint("mail.transport", &self.mail.transport, "smtp")? == Endpoint::Smtp {
            let Some(smtp) = &self.smtp else {
                return Err(
                    self.invalid("smtp", "mail.transport = \"smtp\" needs an [smtp] section")
                );
            };
            ServerUrl::parse(&smtp.url, "smtp").map_err(|m| self.invalid("smtp.url", m))?;
            self.check_secret("smtp", &smtp.secret(), smtp.user.is_some())?;
            if smtp.pool == 0 {
                return Err(self.invalid("smtp.pool", "must be at least 1"));
            }
            if smtp.timeout_seconds == 0 || smtp.timeout_seconds > 3600 {
                return Err(
                    self.invalid("smtp.timeout_seconds", "must be between 1 and 3600 seconds")
                );
            }
        }
        // Checked whenever the section is there: the schedule also applies
        // to a Maildir transport's transient failures.
        if let Some(smtp) = &self.smtp {
            if smtp.retry_seconds.is_empty() {
                return Err(self.invalid(
                    "smtp.retry_seconds",
                    "give at least one step, e.g. [60, 300, 900, 3600, 14400]",
                ));
            }
            if let Some(bad) = smtp
                .retry_seconds
                .iter()
                .find(|s| **s == 0 || **s > 72 * 3600)
            {
                return Err(self.invalid(
                    "smtp.retry_seconds",
                    format!("{bad}: each step must be between 1 and 259200 seconds (72 hours)"),
                ));
            }
        }
        self.watermark_time(chrono::Utc::now())?;
        if self.store.path.trim().is_empty() {
            return Err(self.invalid("store.path", "must name a file"));
        }
        if self.store.batch == 0 || self.store.batch > 10_000 {
            return Err(self.invalid("store.batch", "must be between 1 and 10000"));
        }
        for (key, loc) in std::iter::once(("locale.default", &self.locale.default)).chain(
            self.departments
                .iter()
                .filter_map(|d| d.locale.as_ref().map(|l| ("departments.locale", l))),
        ) {
            if !matches!(loc.as_str(), "zh-CN" | "en") {
                return Err(self.invalid(key, format!("`{loc}`: use \"zh-CN\" or \"en\"")));
            }
        }
        if self.locale.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(self.invalid(
                "locale.timezone",
                format!(
                    "`{}` is not an IANA time zone (e.g. \"Asia/Shanghai\")",
                    self.locale.timezone
                ),
            ));
        }
        if self.departments.is_empty() {
            return Err(self.invalid("departments", "at least one [[departments]] is needed"));
        }
        let mut seen = std::collections::HashMap::new();
        for (i, d) in self.departments.iter().enumerate() {
            let at = |k: &str| format!("departments[{i}].{k} (id \"{}\")", d.id);
            if d.id.trim().is_empty() || d.id.contains(char::is_whitespace) {
                return Err(self.invalid(&at("id"), "must be a non-empty word without spaces"));
            }
            if Mailbox::parse(&d.group).is_none() {
                return Err(self.invalid(
                    &at("group"),
                    format!("`{}` is not an email address", d.group),
                ));
            }
            for (k, list) in [("leads", &d.leads), ("members", &d.members)] {
                for p in list {
                    if Mailbox::parse(p).is_none() {
                        return Err(self.invalid(
                            &at(k),
                            format!("`{p}` is not `Name <address>` or an address"),
                        ));
                    }
                }
            }
            for name in std::iter::once(&d.id)
                .chain(std::iter::once(&d.name))
                .chain(d.aliases.iter())
            {
                let k = name.to_lowercase();
                if let Some(other) = seen.insert(k, d.id.clone()) {
                    if other != d.id {
                        return Err(self.invalid(
                            &at("aliases"),
                            format!("`{name}` also names department \"{other}\""),
                        ));
                    }
                }
            }
        }
        for (action, words) in &self.keywords {
            if action_from_key(action).is_none() {
                let known: Vec<&str> = Action::ALL
                    .iter()
                    .filter(|a| **a != Action::Comment)
                    .map(|a| a.as_str())
                    .collect();
                return Err(self.invalid(
                    &format!("keywords.{action}"),
                    format!("unknown action; known: {}", known.join(", ")),
                ));
            }
            if words.iter().any(|w| w.trim().is_empty()) {
                return Err(self.invalid(&format!("keywords.{action}"), "empty keyword"));
            }
        }
        if self.limits.daily_cap_per_recipient == 0 {
            return Err(self.invalid("limits.daily_cap_per_recipient", "must be at least 1"));
        }
        self.clock_settings()?;
        Ok(())
    }

    /// The clock's settings, parsed: calendar, schedules, spans.
    pub fn clock_settings(&self) -> Result<crate::schedule::Settings, ConfigError> {
        use crate::schedule::calendar::Calendar;
        use crate::schedule::spec::{parse_weekday, Schedule, Span};
        let mut weekend = vec![];
        for w in &self.calendar.weekend {
            weekend.push(parse_weekday(w).ok_or_else(|| {
                self.invalid(
                    "calendar.weekend",
                    format!("`{w}` is not a day; use Mon, Tue, Wed, Thu, Fri, Sat, Sun"),
                )
            })?);
        }
        weekend.sort_by_key(|d| d.num_days_from_monday());
        weekend.dedup();
        if weekend.len() >= 7 {
            return Err(self.invalid("calendar.weekend", "leaves no working day"));
        }
        let dates = |key: &str, list: &[String]| -> Result<Vec<chrono::NaiveDate>, ConfigError> {
            list.iter()
                .map(|s| {
                    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                        self.invalid(key, format!("`{s}` is not a date; use YYYY-MM-DD"))
                    })
                })
                .collect()
        };
        let calendar = Calendar::new(
            &weekend,
            dates("calendar.holidays", &self.calendar.holidays)?,
            dates("calendar.workdays", &self.calendar.workdays)?,
        );
        let sched = |key: &str, s: &str| -> Result<Option<Schedule>, ConfigError> {
            if s.trim().eq_ignore_ascii_case("off") {
                return Ok(None);
            }
            Schedule::parse(s)
                .map(Some)
                .map_err(|m| self.invalid(key, format!("{m}; or \"off\"")))
        };
        let default_schedule = sched("digest.schedule", &self.digest.schedule)?;
        let mut dept_schedules = std::collections::HashMap::new();
        for (i, d) in self.departments.iter().enumerate() {
            if let Some(s) = &d.digest_schedule {
                let key = format!("departments[{i}].digest_schedule (id \"{}\")", d.id);
                dept_schedules.insert(d.id.clone(), sched(&key, s)?);
            }
        }
        if self.digest.max_rows == 0 {
            return Err(self.invalid("digest.max_rows", "must be at least 1"));
        }
        let r = &self.reminders;
        let span = |key: &str, s: &str| Span::parse(s).map_err(|m| self.invalid(key, m));
        let days = |key: &str, s: &str| -> Result<i64, ConfigError> {
            span(key, s)?.workdays().ok_or_else(|| {
                self.invalid(
                    key,
                    format!("`{s}`: counts working days; write it in days, e.g. \"2d\""),
                )
            })
        };
        let accept_within = span("reminders.accept_within", &r.accept_within)?;
        let report_every = days("reminders.report_every", &r.report_every)?;
        if report_every == 0 {
            return Err(self.invalid("reminders.report_every", "must be at least \"1d\""));
        }
        let send_from =
            chrono::NaiveTime::parse_from_str(r.send_from.trim(), "%H:%M").map_err(|_| {
                self.invalid(
                    "reminders.send_from",
                    format!("`{}` is not HH:MM", r.send_from),
                )
            })?;
        Ok(crate::schedule::Settings {
            calendar,
            tz: self.tz(),
            default_schedule,
            dept_schedules,
            skip_empty: self.digest.skip_empty,
            max_rows: self.digest.max_rows,
            reminders: r.enabled,
            accept_within,
            report_every,
            due_soon: days("reminders.due_soon", &r.due_soon)?,
            escalate_after: days("reminders.escalate_after", &r.escalate_after)?,
            send_from,
        })
    }

    fn check_secret(&self, section: &str, s: &Secret, needed: bool) -> Result<(), ConfigError> {
        match (&s.password_file, &s.password_env) {
            (Some(_), Some(_)) => Err(self.invalid(
                &format!("{section}.password_file"),
                "give password_file or password_env, not both",
            )),
            (None, None) if needed => Err(self.invalid(
                &format!("{section}.password_file"),
                "a password is needed: password_file = \"/etc/crossdesk/pass\" or password_env = \"VAR\"",
            )),
            _ => Ok(()),
        }
    }

    /// Reads a password from its file (first line) or environment variable.
    pub fn read_secret(&self, section: &str, s: &Secret) -> Result<String, ConfigError> {
        if let Some(f) = &s.password_file {
            let p = self.resolve(f);
            let text = std::fs::read_to_string(&p).map_err(|e| {
                self.invalid(
                    &format!("{section}.password_file"),
                    format!("{}: {e}", p.display()),
                )
            })?;
            return Ok(text.lines().next().unwrap_or("").to_string());
        }
        if let Some(v) = &s.password_env {
            return std::env::var(v).map_err(|_| {
                self.invalid(
                    &format!("{section}.password_env"),
                    format!("environment variable {v} is not set"),
                )
            });
        }
        Ok(String::new())
    }

    fn endpoint(&self, key: &str, v: &str, net: &str) -> Result<Endpoint, ConfigError> {
        if let Some(p) = v.strip_prefix("maildir:") {
            if p.trim().is_empty() {
                return Err(self.invalid(key, "`maildir:` needs a directory"));
            }
            return Ok(Endpoint::Maildir(self.resolve(p)));
        }
        if v == net {
            return Ok(if net == "imap" {
                Endpoint::Imap
            } else {
                Endpoint::Smtp
            });
        }
        Err(self.invalid(key, format!("`{v}`: use \"maildir:DIR\" or \"{net}\"")))
    }

    pub fn source(&self) -> Endpoint {
        self.endpoint("mail.source", &self.mail.source, "imap")
            .unwrap_or(Endpoint::Imap)
    }

    pub fn transport(&self) -> Endpoint {
        self.endpoint("mail.transport", &self.mail.transport, "smtp")
            .unwrap_or(Endpoint::Smtp)
    }

    /// A path from the config, relative to the config file's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    pub fn store_path(&self) -> PathBuf {
        self.resolve(&self.store.path)
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.locale
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// The watermark for a first start at `now`: `None` means "all mail".
    pub fn watermark_time(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, ConfigError> {
        match self.mail.watermark.as_str() {
            "start" => Ok(Some(now)),
            "all" => Ok(None),
            s => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&chrono::Utc)))
                .map_err(|_| {
                    self.invalid(
                        "mail.watermark",
                        format!("`{s}`: use \"start\", \"all\" or an RFC 3339 time"),
                    )
                }),
        }
    }

    pub fn own_mailbox(&self) -> Mailbox {
        let mut m = Mailbox::parse(&self.mail.address)
            .unwrap_or_else(|| Mailbox::new(None, &self.mail.address));
        m.name = Some(self.mail.display_name.clone()).filter(|n| !n.is_empty());
        m
    }
}

/// `confirm` → Action::Confirm, for the `[keywords]` table.
pub fn action_from_key(k: &str) -> Option<Action> {
    Action::ALL.iter().copied().find(|a| {
        *a != Action::Comment && (a.as_str() == k || (k == "req" && *a == Action::NewReq))
    })
}

/// A configuration for the engine's unit tests: a Maildir source and
/// transport, every message acted on (no watermark), the store `x.db` in
/// `dir`, and 研发部 led by 王磊 with `rd_members`; `extra` is appended
/// (more departments, `[reminders]`, …).
#[cfg(test)]
pub(crate) fn test_config(dir: &Path, rd_members: &str, extra: &str) -> Config {
    Config::from_str(
        &format!(
            r#"
[mail]
address = "workflow@corp.example"
source = "maildir:inbox"
transport = "maildir:outbox"
watermark = "all"
[store]
path = "x.db"
[[departments]]
id = "rd"
name = "研发部"
group = "rd@corp.example"
leads = ["王磊 <wanglei@corp.example>"]
members = [{rd_members}]
{extra}
"#
        ),
        "t.toml",
        dir,
    )
    .expect("test configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[mail]
address = "workflow@corp.example"
[store]
path = "var/x.db"
[[departments]]
id = "rd"
name = "研发部"
group = "rd@corp.example"
members = ["张三 <zhangsan@corp.example>"]
"#;

    fn load(s: &str) -> Result<Config, ConfigError> {
        Config::from_str(s, "test.toml", Path::new("/etc/crossdesk"))
    }

    #[test]
    fn minimal_config_loads_with_defaults() {
        let c = load(GOOD).unwrap();
        assert_eq!(c.locale.default, "zh-CN");
        assert_eq!(c.store_path(), PathBuf::from("/etc/crossdesk/var/x.db"));
        assert_eq!(
            c.source(),
            Endpoint::Maildir(PathBuf::from("/etc/crossdesk/var/inbox"))
        );
    }

    #[test]
    fn server_urls_parse_and_plain_text_is_loopback_only() {
        let u = ServerUrl::parse("imap://127.0.0.1:1143", "imap").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("127.0.0.1", 1143, TlsMode::None)
        );
        let u = ServerUrl::parse("imaps://mail.corp.example", "imap").unwrap();
        assert_eq!((u.port, u.tls), (993, TlsMode::Implicit));
        let u = ServerUrl::parse("smtp://mail.corp.example:587?starttls", "smtp").unwrap();
        assert_eq!((u.port, u.tls), (587, TlsMode::StartTls));
        let u = ServerUrl::parse("smtp://[::1]:2525", "smtp").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 2525));
        assert!(ServerUrl::parse("imap://mail.corp.example", "imap")
            .unwrap_err()
            .contains("only to"));
        assert!(ServerUrl::parse("pop3://x", "imap").is_err());
        assert!(ServerUrl::parse("smtp://h:99999", "smtp").is_err());
    }

    #[test]
    fn imap_source_needs_its_section_and_a_password_source() {
        let base = GOOD.replace(
            "address = \"workflow@corp.example\"",
            "address = \"workflow@corp.example\"\nsource = \"imap\"",
        );
        let e = load(&base).unwrap_err().to_string();
        assert!(e.contains("[imap]"), "{e}");
        let e = load(&format!(
            "{base}\n[imap]\nurl = \"imap://127.0.0.1:1143\"\nuser = \"w\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("imap.password_file"), "{e}");
        let c = load(&format!(
            "{base}\n[imap]\nurl = \"imap://127.0.0.1:1143\"\nuser = \"w\"\npassword_env = \"X_PW\"\n"
        ))
        .unwrap();
        assert_eq!(c.source(), Endpoint::Imap);
        assert_eq!(c.imap.as_ref().unwrap().processed_folder, "Processed");
        let e = load(&format!(
            "{base}\n[imap]\nurl = \"imap://127.0.0.1:1143\"\nuser = \"w\"\npassword = \"inline\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("password"), "{e}");
    }

    #[test]
    fn smtp_retry_schedule_defaults_and_is_checked() {
        let base = GOOD.replace(
            "address = \"workflow@corp.example\"",
            "address = \"workflow@corp.example\"\ntransport = \"smtp\"",
        );
        let smtp = "\n[smtp]\nurl = \"smtp://127.0.0.1:2525\"\n";
        let c = load(&format!("{base}{smtp}")).unwrap();
        assert_eq!(
            c.smtp.as_ref().unwrap().retry_seconds,
            [60, 300, 900, 3600, 14400]
        );
        let c = load(&format!("{base}{smtp}retry_seconds = [1, 2, 5]\n")).unwrap();
        assert_eq!(c.smtp.as_ref().unwrap().retry_seconds, [1, 2, 5]);
        for bad in ["[]", "[0, 5]", "[60, 300000]"] {
            let e = load(&format!("{base}{smtp}retry_seconds = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("smtp.retry_seconds"), "{bad}: {e}");
        }
        assert_eq!(c.smtp.as_ref().unwrap().timeout_seconds, 600);
        let imap =
            "\n[imap]\nurl = \"imap://127.0.0.1:1143\"\nuser = \"u\"\npassword_env = \"P\"\n";
        let ibase = base.replace("transport = ", "source = \"imap\"\ntransport = ");
        let c = load(&format!("{ibase}{smtp}{imap}")).unwrap();
        assert_eq!(c.imap.as_ref().unwrap().timeout_seconds, 300);
        for bad in ["0", "3601"] {
            let e = load(&format!("{ibase}{smtp}{imap}timeout_seconds = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("imap.timeout_seconds"), "{bad}: {e}");
        }
        let c = load(&format!(
            "{base}{smtp}timeout_seconds = 30
"
        ))
        .unwrap();
        assert_eq!(c.smtp.as_ref().unwrap().timeout_seconds, 30);
        for bad in ["0", "3601"] {
            let e = load(&format!(
                "{base}{smtp}timeout_seconds = {bad}
"
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains("smtp.timeout_seconds"), "{bad}: {e}");
        }
    }

    #[test]
    fn example_configs_load() {
        for (name, text) in [
            (
                "crossdesk.example.toml",
                include_str!("../config/crossdesk.example.toml"),
            ),
            ("demo.toml", include_str!("../config/demo.toml")),
        ] {
            Config::from_str(text, name, Path::new("/x")).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn departments_override_the_digest_schedule_and_calendar_words_parse() {
        let c = load(&format!(
            "{}\n[digest]\nschedule = \"daily 18:00\"\n[calendar]\nweekend = [\"Fri\", \"Saturday\"]\n",
            GOOD.replace("members = [", "digest_schedule = \"Mon,Thu 10:00\"\nmembers = [")
        ))
        .unwrap();
        let s = c.clock_settings().unwrap();
        assert_eq!(s.schedule_for("rd").unwrap().text, "Mon,Thu 10:00");
        assert_eq!(s.schedule_for("other").unwrap().text, "daily 18:00");
        assert!(!s
            .calendar
            .is_workday(chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()));
        assert!(s
            .calendar
            .is_workday(chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()));
        let off = load(&GOOD.replace("members = [", "digest_schedule = \"off\"\nmembers = ["))
            .unwrap()
            .clock_settings()
            .unwrap();
        assert!(off.schedule_for("rd").is_none());
        // Defaults: Mon-Fri 09:00, 24h, 3d, 2d, 1d.
        let d = load(GOOD).unwrap().clock_settings().unwrap();
        assert_eq!(d.schedule_for("rd").unwrap().text, "Mon-Fri 09:00");
        assert_eq!((d.report_every, d.due_soon, d.escalate_after), (3, 2, 1));
    }

    #[test]
    fn bad_config_names_file_key_and_problem() {
        let e = load(&GOOD.replace("rd@corp.example", "not-an-address"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("test.toml"), "{e}");
        assert!(e.contains("departments[0].group"), "{e}");
        assert!(e.contains("not an email address"), "{e}");

        let e = load(&GOOD.replace("[store]", "[store]\nbogus = 1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");

        let e = load(&format!("{GOOD}\n[locale]\ntimezone = \"Mars/Base\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("locale.timezone"), "{e}");

        let e = load(&format!("{GOOD}\n[digest]\nschedule = \"Mon-Fry 09:00\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("digest.schedule") && e.contains("Mon-Fry"),
            "{e}"
        );
        let e = load(&format!("{GOOD}\n[reminders]\ndue_soon = \"48h\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("reminders.due_soon") && e.contains("working days"),
            "{e}"
        );
        let e = load(&format!("{GOOD}\n[calendar]\nholidays = [\"2026-13-01\"]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("calendar.holidays"), "{e}");
        let e = load(&GOOD.replace(
            "members = [",
            "digest_schedule = \"sometimes\"\nmembers = [",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("departments[0].digest_schedule"), "{e}");

        let e = load(&format!("{GOOD}\n[keywords]\nconfrim = [\"ok\"]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("keywords.confrim"), "{e}");

        let e = load(
            &GOOD
                .replace("maildir", "x")
                .replace("[store]", "source = \"pop3\"\n[store]"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mail.source"), "{e}");
    }
}
