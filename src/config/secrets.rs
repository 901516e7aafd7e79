//! Passwords, read from a file or an environment variable named in the
//! configuration, never from the configuration file itself.

use super::{Config, ConfigError};

/// A secret read from a file or an environment variable, never from the
/// main configuration file.
#[derive(Debug, Clone, Default)]
pub struct Secret {
    pub password_file: Option<String>,
    pub password_env: Option<String>,
}

impl Config {
    pub(super) fn check_secret(
        &self,
        section: &str,
        s: &Secret,
        needed: bool,
    ) -> Result<(), ConfigError> {
        self.check_file_or_env(
            &format!("{section}.password"),
            (&s.password_file, &s.password_env),
            needed.then_some("a password is needed: password_file = \"/etc/crossdesk/pass\" or password_env = \"VAR\""),
        )
    }

    /// `<key>_file` or `<key>_env`, not both; one of them when `needed`
    /// (the text says how).
    pub(super) fn check_file_or_env(
        &self,
        key: &str,
        (file, env): (&Option<String>, &Option<String>),
        needed: Option<&str>,
    ) -> Result<(), ConfigError> {
        let short = key.rsplit('.').next().unwrap_or(key);
        match (file, env, needed) {
            (Some(_), Some(_), _) => Err(self.invalid(
                &format!("{key}_file"),
                format!("give {short}_file or {short}_env, not both"),
            )),
            (None, None, Some(how)) => Err(self.invalid(&format!("{key}_file"), how)),
            _ => Ok(()),
        }
    }

    /// Reads a password from its file (first line) or environment variable.
    pub fn read_secret(&self, section: &str, s: &Secret) -> Result<String, ConfigError> {
        Ok(self
            .read_file_or_env(
                &format!("{section}.password"),
                (&s.password_file, &s.password_env),
            )?
            .unwrap_or_default())
    }

    /// A value from `<key>_file` (its first line) or `<key>_env`; `None`
    /// when neither is given.
    pub fn read_file_or_env(
        &self,
        key: &str,
        (file, env): (&Option<String>, &Option<String>),
    ) -> Result<Option<String>, ConfigError> {
        if let Some(f) = file {
            let p = self.resolve(f);
            let text = std::fs::read_to_string(&p).map_err(|e| {
                self.invalid(&format!("{key}_file"), format!("{}: {e}", p.display()))
            })?;
            return Ok(Some(text.lines().next().unwrap_or("").to_string()));
        }
        if let Some(v) = env {
            return std::env::var(v).map(Some).map_err(|_| {
                self.invalid(
                    &format!("{key}_env"),
                    format!("environment variable {v} is not set"),
                )
            });
        }
        Ok(None)
    }
}
