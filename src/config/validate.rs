//! The checks run once the file parsed: every key that names a
//! department, a time, a zone, a schedule, a URL or a secret is checked,
//! with a message that names the key; and the clock's settings built from
//! the same keys.

use super::*;

impl Config {
    pub(super) fn invalid(&self, key: &str, msg: impl Into<String>) -> ConfigError {
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
        if crate::model::Zone::named(&self.locale.timezone).is_none() {
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
        self.validate_im()?;
        self.clock_settings()?;
        Ok(())
    }

    /// `[[im]]` robots, and the departments' `im` names.
    fn validate_im(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for (i, r) in self.im.iter().enumerate() {
            let at = |k: &str| format!("im[{i}].{k} (name \"{}\")", r.name);
            if r.name.trim().is_empty() || r.name.contains(char::is_whitespace) {
                return Err(self.invalid(&at("name"), "must be a non-empty word without spaces"));
            }
            if !names.insert(r.name.as_str()) {
                return Err(self.invalid(&at("name"), "two robots have this name"));
            }
            if crate::im::Platform::parse(&r.kind).is_none() {
                return Err(self.invalid(
                    &at("kind"),
                    format!("`{}`: use \"dingtalk\", \"wecom\" or \"feishu\"", r.kind),
                ));
            }
            self.check_file_or_env(
                &format!("im[{i}].url"),
                (&r.url_file, &r.url_env),
                Some("the webhook URL holds the robot's token: url_file = \"/etc/crossdesk/rd-robot.url\" or url_env = \"VAR\", never the URL here"),
            )?;
            self.check_file_or_env(
                &format!("im[{i}].secret"),
                (&r.secret_file, &r.secret_env),
                None,
            )?;
            if r.timeout_seconds == 0 || r.timeout_seconds > 300 {
                return Err(
                    self.invalid(&at("timeout_seconds"), "must be between 1 and 300 seconds")
                );
            }
            for e in r.events.iter().flatten() {
                let e = e.trim().to_lowercase();
                if !crate::im::route::EVENTS.contains(&e.as_str()) {
                    return Err(self.invalid(
                        &at("events"),
                        format!(
                            "`{e}` is no event; use any of {}",
                            crate::im::route::EVENTS.join(", ")
                        ),
                    ));
                }
            }
            if r.per_minute == Some(0) {
                return Err(self.invalid(&at("per_minute"), "must be at least 1"));
            }
        }
        for (i, d) in self.departments.iter().enumerate() {
            let at = |k: &str| format!("departments[{i}].{k} (id \"{}\")", d.id);
            for name in d.im.iter().chain(d.im_by_priority.values()) {
                if !names.contains(name.as_str()) {
                    return Err(self.invalid(
                        &at(if d.im.as_ref() == Some(name) {
                            "im"
                        } else {
                            "im_by_priority"
                        }),
                        format!("no [[im]] robot is named `{name}`"),
                    ));
                }
            }
            for p in d.im_by_priority.keys() {
                if !["low", "normal", "high", "urgent"].contains(&p.as_str()) {
                    return Err(self.invalid(
                        &at("im_by_priority"),
                        format!("`{p}` is no priority; use low, normal, high or urgent"),
                    ));
                }
            }
        }
        for (addr, n) in &self.mobiles {
            if !crate::model::valid_address(addr.trim()) {
                return Err(self.invalid(
                    &format!("mobiles.\"{addr}\""),
                    "the key must be a mail address",
                ));
            }
            let digits = n.chars().filter(char::is_ascii_digit).count();
            if digits < 5
                || n.chars()
                    .any(|c| !(c.is_ascii_digit() || "+- ".contains(c)))
            {
                return Err(self.invalid(
                    &format!("mobiles.\"{addr}\""),
                    format!("`{n}` is no mobile number"),
                ));
            }
        }
        Ok(())
    }

    /// A robot with its webhook URL and secret read in (from their files
    /// or environment variables), checked as far as it can be offline.
    pub fn robot(&self, name: &str) -> Result<crate::im::Robot, ConfigError> {
        let Some((i, r)) = self.im.iter().enumerate().find(|(_, r)| r.name == name) else {
            let known: Vec<&str> = self.im.iter().map(|r| r.name.as_str()).collect();
            return Err(self.invalid(
                "im",
                if known.is_empty() {
                    format!("no [[im]] robot is named `{name}` (none is configured)")
                } else {
                    format!(
                        "no [[im]] robot is named `{name}`; configured: {}",
                        known.join(", ")
                    )
                },
            ));
        };
        let platform = crate::im::Platform::parse(&r.kind).expect("checked by validate");
        let url = self
            .read_file_or_env(&format!("im[{i}].url"), (&r.url_file, &r.url_env))?
            .unwrap_or_default()
            .trim()
            .to_string();
        // The URL is secret: an error names the setting, never the value.
        let ok = (url.starts_with("https://")
            || url.starts_with("http://127.0.0.1")
            || url.starts_with("http://[::1]"))
            && !url.contains(char::is_whitespace)
            && url.len() > "https://x".len();
        if !ok {
            let from = if r.url_file.is_some() { "file" } else { "env" };
            return Err(self.invalid(
                &format!("im[{i}].url_{from}"),
                "the webhook URL read from it is not an https:// URL",
            ));
        }
        let secret = self
            .read_file_or_env(&format!("im[{i}].secret"), (&r.secret_file, &r.secret_env))?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Ok(crate::im::Robot {
            name: r.name.clone(),
            platform,
            url,
            secret,
            keyword: r.keyword.clone().filter(|k| !k.trim().is_empty()),
        })
    }

    pub(super) fn endpoint(&self, key: &str, v: &str, net: &str) -> Result<Endpoint, ConfigError> {
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
}
