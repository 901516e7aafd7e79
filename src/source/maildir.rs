//! A Maildir source: messages in `new/` and `cur/` (a message a person has
//! already opened is still processed). After the commit a message moves to
//! the Maildir++ folder `.processed` (or `.rejected` when set aside).

use super::{Disposition, RawMail, Source, SourceError};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub struct MaildirSource {
    root: PathBuf,
    /// Handles given out and not yet acked, or left alone (watermark).
    skip: HashSet<String>,
    /// Listed but not yet handed out, oldest first: a backlog is listed
    /// once, not once per batch.
    queue: std::collections::VecDeque<(std::time::SystemTime, PathBuf)>,
}

fn io(ctx: &Path, e: std::io::Error) -> SourceError {
    SourceError::Io(format!("{}: {e}", ctx.display()))
}

/// Creates `dir/{new,cur,tmp}` if missing.
pub fn ensure_maildir(dir: &Path) -> Result<(), SourceError> {
    for sub in ["new", "cur", "tmp"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

impl MaildirSource {
    pub fn open(root: &Path) -> Result<MaildirSource, SourceError> {
        ensure_maildir(root)?;
        ensure_maildir(&root.join(".processed"))?;
        ensure_maildir(&root.join(".rejected"))?;
        Ok(MaildirSource {
            root: root.to_path_buf(),
            skip: HashSet::new(),
            queue: Default::default(),
        })
    }

    fn list(&self) -> Result<Vec<(std::time::SystemTime, String, PathBuf)>, SourceError> {
        let mut v = vec![];
        for sub in ["new", "cur"] {
            let d = self.root.join(sub);
            for e in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
                let e = e.map_err(|e| io(&d, e))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let path = e.path();
                let key = path.display().to_string();
                if self.skip.contains(&key) {
                    continue;
                }
                let mtime = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                v.push((mtime, name, path));
            }
        }
        // Oldest first; the Maildir name (which starts with a timestamp)
        // breaks ties so that a batch copied at once keeps its order.
        v.sort();
        Ok(v)
    }
}

impl Source for MaildirSource {
    fn fetch(&mut self, max: usize) -> Result<Vec<RawMail>, SourceError> {
        if self.queue.is_empty() {
            self.queue = self.list()?.into_iter().map(|(t, _, p)| (t, p)).collect();
        }
        let mut out = vec![];
        let mut bytes = 0;
        while let Some((mtime, path)) = self.queue.pop_front() {
            if out.len() >= max || bytes >= super::BATCH_BYTES {
                self.queue.push_front((mtime, path));
                break;
            }
            let raw = match std::fs::read(&path) {
                Ok(r) => r,
                // Moved away by someone else meanwhile: not ours to handle.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path, e)),
            };
            bytes += raw.len();
            let handle = path.display().to_string();
            self.skip.insert(handle.clone());
            out.push(RawMail {
                handle,
                raw,
                received: Some(mtime.into()),
            });
        }
        Ok(out)
    }

    fn ack(&mut self, handle: &str, d: Disposition) -> Result<(), SourceError> {
        let folder = match d {
            Disposition::Processed => ".processed",
            Disposition::Rejected => ".rejected",
            Disposition::Leave => return Ok(()),
        };
        let from = Path::new(handle);
        let name = from
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Maildir `cur/` names carry the `:2,` info suffix.
        let base = name.split(':').next().unwrap_or(&name).to_string();
        let to = self
            .root
            .join(folder)
            .join("cur")
            .join(format!("{base}:2,S"));
        match std::fs::rename(from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(from, e)),
        }
        self.skip.remove(handle);
        Ok(())
    }
}
