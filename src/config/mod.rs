//! TOML configuration, validated at start with messages that name the file,
//! the key and what is wrong.
//!
//! `sections` holds what each `[section]` may say and its defaults, `url`
//! the server URLs (`imaps://host:993`), `secrets` the passwords (from a
//! file or an environment variable, never this file), `validate` the
//! checks run after parsing and the clock's settings built from them.

mod secrets;
mod sections;
#[cfg(test)]
mod tests;
mod url;
mod validate;

pub use secrets::Secret;
pub use sections::*;
pub use url::{ServerUrl, TlsMode};

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
    #[serde(default)]
    pub files: FilesConfig,
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
    /// Group robots (`[[im]]`), the second channel.
    #[serde(default)]
    pub im: Vec<ImRobotConfig>,
    /// Mobile numbers that robot messages @-mention, by mail address:
    /// `"wanglei@corp.example" = "13800000001"`.
    #[serde(default)]
    pub mobiles: BTreeMap<String, String>,
    /// Where the config was read from; relative paths resolve against its directory.
    #[serde(skip)]
    pub base_dir: PathBuf,
    #[serde(skip)]
    pub file: String,
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

    /// Which robot hears of which event (`crate::im::route`), as
    /// `[[departments]]`, `[[im]]` and `[mobiles]` say.
    pub fn im_routes(&self) -> crate::im::route::Routes {
        use crate::im::route::{DeptRoute, Routes, EVENTS};
        let dir = self.directory();
        let mut r = Routes::default();
        for (d, c) in dir.depts.iter().zip(&self.departments) {
            r.depts.insert(
                d.id.clone(),
                DeptRoute {
                    group: d.group.address.clone(),
                    locale: d.locale.clone(),
                    leads: d.leads.iter().map(|m| m.address.clone()).collect(),
                    robot: c.im.clone(),
                    by_priority: c.im_by_priority.clone(),
                },
            );
            for m in d.leads.iter().chain(&d.members) {
                let v = r.person_depts.entry(m.address.clone()).or_default();
                if !v.contains(&d.id) {
                    v.push(d.id.clone());
                }
            }
        }
        for robot in &self.im {
            let events = match &robot.events {
                Some(v) => v.iter().map(|e| e.trim().to_lowercase()).collect(),
                None => EVENTS.iter().map(|e| e.to_string()).collect(),
            };
            r.events.insert(robot.name.clone(), events);
        }
        for (addr, n) in &self.mobiles {
            r.mobiles
                .insert(addr.trim().to_lowercase(), n.trim().to_string());
        }
        r
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

    /// Where kept files go: `[files] dir`, else `<store>.files` beside the store.
    pub fn files_dir(&self) -> PathBuf {
        match &self.files.dir {
            Some(d) => self.resolve(d),
            None => {
                let mut p = self.store_path().into_os_string();
                p.push(".files");
                PathBuf::from(p)
            }
        }
    }

    pub fn tz(&self) -> crate::model::Zone {
        crate::model::Zone::named(&self.locale.timezone)
            .unwrap_or_else(crate::model::Zone::shanghai)
    }

    /// The watermark for a first start at `now`: `None` means "all mail".
    /// `"start"` is the second before the start's own: an IMAP
    /// INTERNALDATE has whole seconds, and a Maildir file's time comes from
    /// the kernel's coarse clock, a few milliseconds behind; mail that
    /// arrives just after the start must not count as older than it.
    pub fn watermark_time(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, ConfigError> {
        match self.mail.watermark.as_str() {
            "start" => {
                use chrono::{DurationRound, TimeDelta};
                let second = now.duration_trunc(TimeDelta::seconds(1)).unwrap_or(now);
                Ok(Some(second - TimeDelta::seconds(1)))
            }
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
