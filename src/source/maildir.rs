//! A Maildir source: messages in `new/` and `cur/` (a message a person has
//! already opened is still processed). After the commit a message moves to
//! the Maildir++ folder `.processed` (or `.rejected` when set aside).

use super::{Disposition, RawMail, Source, SourceError, Stuck};
use crate::maildir::ensure_maildir;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub struct MaildirSource {
    root: PathBuf,
    /// Handles given out and not yet acked, or left alone (watermark).
    skip: HashSet<String>,
    /// Listed but not yet handed out, oldest first: a backlog is listed
    /// once, not once per batch.
    queue: std::collections::VecDeque<(std::time::SystemTime, PathBuf)>,
    /// Files that could not be read (a mode the daemon's user may not
    /// open, a disk error): left in place and read again when their time
    /// comes, while the mail behind them goes on.
    unreadable: Stuck<PathBuf>,
}

fn io(ctx: &Path, e: std::io::Error) -> SourceError {
    SourceError::Io {
        path: ctx.to_path_buf(),
        source: e,
    }
}

impl MaildirSource {
    pub fn open(root: &Path) -> Result<MaildirSource, SourceError> {
        ensure_maildir(root).map_err(|(p, e)| io(&p, e))?;
        for folder in [".processed", ".rejected"] {
            let dir = root.join(folder);
            ensure_maildir(&dir).map_err(|(p, e)| io(&p, e))?;
        }
        Ok(MaildirSource {
            root: root.to_path_buf(),
            skip: HashSet::new(),
            queue: Default::default(),
            unreadable: Stuck::default(),
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
            let listed = self.list()?;
            self.unreadable.keep_only(listed.iter().map(|(_, _, p)| p));
            let now = std::time::Instant::now();
            self.queue = listed
                .into_iter()
                .filter(|(_, _, p)| !self.unreadable.waiting(p, now))
                .map(|(t, _, p)| (t, p))
                .collect();
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
                // Not this batch's end: the rest of it is read (and what was
                // read so far is handed out, not dropped).
                Err(e) => {
                    let (tries, wait) = self
                        .unreadable
                        .missed(path.clone(), std::time::Instant::now());
                    super::log_unreadable(&path.display().to_string(), tries, wait, &e.to_string());
                    continue;
                }
            };
            if let Some(tries) = self.unreadable.fetched(&path) {
                tracing::info!(id = %path.display(), tries, "message fetchable again");
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn deliver(root: &Path, name: &str, secs: u64) -> PathBuf {
        let p = root.join("new").join(name);
        std::fs::write(&p, format!("Subject: {name}\r\n\r\nbody\r\n")).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
        p
    }

    fn names(mails: &[RawMail]) -> Vec<String> {
        mails
            .iter()
            .map(|m| {
                Path::new(&m.handle)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    /// A file that cannot be read (here a directory in its place, which
    /// even root cannot read as a file; for the daemon's user, a mode it may
    /// not open) no longer ends the batch: the messages before and after it
    /// are handed out, it stays where it is, and it is read again later.
    /// Before, the messages read before it were dropped from the batch and
    /// never listed again until a restart.
    #[test]
    fn an_unreadable_file_is_left_for_later_and_the_rest_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("inbox");
        let mut src = MaildirSource::open(&root).unwrap();
        deliver(&root, "1.a", 1_000);
        let bad = root.join("new").join("2.b");
        std::fs::create_dir(&bad).unwrap();
        deliver(&root, "3.c", 3_000);

        let got = src.fetch(10).unwrap();
        assert_eq!(names(&got), ["1.a", "3.c"]);
        for m in &got {
            src.ack(&m.handle, Disposition::Processed).unwrap();
        }
        assert!(src.fetch(10).unwrap().is_empty(), "not before its time");
        assert!(bad.exists(), "left where it is");
        assert_eq!(
            std::fs::read_dir(root.join(".processed").join("cur"))
                .unwrap()
                .count(),
            2
        );

        // Readable again: read on the next try.
        std::fs::remove_dir(&bad).unwrap();
        deliver(&root, "2.b", 2_000);
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(names(&src.fetch(10).unwrap()), ["2.b"]);
        assert!(!src.unreadable.holds(&bad));
    }
}
