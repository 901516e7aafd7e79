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
}
