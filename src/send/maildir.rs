//! A Maildir transport: every outgoing mail becomes one file in `new/`,
//! named after its Message-ID, so delivering the same mail twice (after a
//! crash between delivery and bookkeeping) leaves one file, not two.

use super::{SendError, Transport};
use crate::maildir::ensure_maildir;
use std::io::Write;
use std::path::PathBuf;

pub struct MaildirTransport {
    root: PathBuf,
    /// Files written since the last flush.
    pending: usize,
}

impl MaildirTransport {
    pub fn open(root: &std::path::Path) -> Result<MaildirTransport, SendError> {
        ensure_maildir(root)
            .map_err(|(p, e)| SendError::Transient(format!("{}: {e}", p.display())))?;
        Ok(MaildirTransport {
            root: root.to_path_buf(),
            pending: 0,
        })
    }

    /// The file name for a Message-ID: only safe characters.
    pub fn file_name(message_id: &str) -> String {
        message_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
            + ".eml"
    }
}

impl Transport for MaildirTransport {
    fn send(
        &mut self,
        _from: &str,
        _rcpts: &[String],
        message_id: &str,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        let name = Self::file_name(message_id);
        let dest = self.root.join("new").join(&name);
        if dest.exists() {
            return Ok(());
        }
        let tmp = self.root.join("tmp").join(&name);
        let t = |e: std::io::Error| SendError::Transient(format!("{}: {e}", tmp.display()));
        let mut f = std::fs::File::create(&tmp).map_err(t)?;
        f.write_all(bytes).map_err(t)?;
        std::fs::rename(&tmp, &dest).map_err(t)?;
        self.pending += 1;
        Ok(())
    }

    /// One `syncfs` for the whole batch instead of an fsync per file: the
    /// files and their directory entries reach the disk together.
    fn flush(&mut self) -> Result<(), SendError> {
        if self.pending == 0 {
            return Ok(());
        }
        let dir = std::fs::File::open(self.root.join("new"))
            .map_err(|e| SendError::Transient(format!("{}: {e}", self.root.display())))?;
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs only reads the descriptor, which `dir` keeps open.
        let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
        if rc != 0 {
            return Err(SendError::Transient(format!(
                "syncfs {}: {}",
                self.root.display(),
                std::io::Error::last_os_error()
            )));
        }
        self.pending = 0;
        Ok(())
    }
}
