//! The files that came with the work: their bytes kept content-addressed
//! on disk beside the store (`FileStore`), and their rows in the `files`
//! table, one per file per acted-on mail, which tie them to the mail's
//! events.
//!
//! A file is written and synced (file and directory) before the
//! transaction that records it commits: a crash in between leaves a file
//! no row names (removed by `crossdesk gc`), never a row without its file.

use super::{parse_ts, ts, Result, Store, Tx};
use crate::model::{sha256_hex, FileRef, ItemId, ReqId};
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

fn is_sha(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Kept file bytes: `<dir>/<first two hex digits>/<sha256>`.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> FileStore {
        FileStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file of this digest is (whether or not it exists).
    pub fn path(&self, sha: &str) -> PathBuf {
        let sub = sha.get(..2).unwrap_or("xx");
        self.dir.join(sub).join(sha)
    }

    /// Keeps `bytes` and returns their SHA-256. The same bytes are kept
    /// once: when the file exists with that size nothing is written. A new
    /// file is written under a temporary name, synced, renamed, and its
    /// directory synced, so that it is on disk before this returns.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let sha = sha256_hex(bytes);
        self.put_as(&sha, bytes)?;
        Ok(sha)
    }

    fn put_as(&self, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(sha);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(());
        }
        let sub = path.parent().unwrap_or(&self.dir);
        if !sub.is_dir() {
            let new_top = !self.dir.is_dir();
            std::fs::create_dir_all(sub)?;
            if new_top {
                match self.dir.parent() {
                    Some(p) if !p.as_os_str().is_empty() => sync_dir(p)?,
                    _ => sync_dir(Path::new("."))?,
                }
            }
            sync_dir(&self.dir)?;
        }
        let tmp = sub.join(format!(".{sha}.{}.tmp", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        sync_dir(sub)
    }

    /// The bytes of a kept file, checked against their digest.
    pub fn read(&self, sha: &str) -> std::io::Result<Vec<u8>> {
        let bytes = std::fs::read(self.path(sha))?;
        if sha256_hex(&bytes) != sha {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: content does not match its SHA-256", sha),
            ));
        }
        Ok(bytes)
    }

    pub fn has(&self, sha: &str) -> bool {
        self.path(sha).is_file()
    }

    /// Every digest kept, and the leftovers of writes a crash cut short
    /// (temporary files), as paths.
    pub fn scan(&self) -> std::io::Result<(BTreeSet<String>, Vec<PathBuf>)> {
        let mut kept = BTreeSet::new();
        let mut junk = Vec::new();
        let top = match std::fs::read_dir(&self.dir) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((kept, junk)),
            Err(e) => return Err(e),
        };
        for sub in top {
            let sub = sub?.path();
            if !sub.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&sub)? {
                let p = f?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if is_sha(name) {
                    kept.insert(name.to_string());
                } else if name.ends_with(".tmp") {
                    junk.push(p);
                }
            }
        }
        Ok((kept, junk))
    }

    pub fn remove(&self, sha: &str) -> std::io::Result<()> {
        std::fs::remove_file(self.path(sha))
    }

    /// Copies the kept files of `shas` into another file store (a backup's
    /// or the store's after a restore); each copy is checked and synced.
    /// Returns how many were copied and the digests that were missing.
    pub fn copy_to(
        &self,
        other: &FileStore,
        shas: &BTreeSet<String>,
    ) -> std::io::Result<(usize, Vec<String>)> {
        let mut copied = 0;
        let mut missing = Vec::new();
        for sha in shas {
            match self.read(sha) {
                Ok(bytes) => {
                    other.put_as(sha, &bytes)?;
                    copied += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(sha.clone()),
                Err(e) => return Err(e),
            }
        }
        Ok((copied, missing))
    }
}

/// One file row: the file, the mail and item it came with, and the action
/// that mail was (`new_req`, `done`, `comment`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub message_id: String,
    pub item: ItemId,
    pub action: String,
    pub at: DateTime<Utc>,
    pub file: FileRef,
}

impl Tx<'_> {
    /// Records the files of one acted-on mail against its item.
    pub fn record_files(
        &self,
        message_id: &str,
        item: ItemId,
        action: &str,
        files: &[FileRef],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut st = self.tx.prepare_cached(
            "INSERT INTO files(message_id, req, task, n, action, name, type, size, sha256,
                note, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(message_id, req, n) DO NOTHING",
        )?;
        let task = match item {
            ItemId::Task(t) => Some(t.n),
            ItemId::Req(_) => None,
        };
        for (n, f) in files.iter().enumerate() {
            st.execute(params![
                message_id,
                item.req().0,
                task,
                n as i64,
                action,
                f.name,
                f.content_type,
                f.size as i64,
                f.sha256,
                f.note,
                ts(at)
            ])?;
        }
        Ok(())
    }

    /// Every file row of a requirement (its tasks' included), oldest first.
    pub fn files(&self, req: ReqId) -> Result<Vec<StoredFile>> {
        files_where(&self.tx, req, "")
    }

    /// The kept files sent with `[DONE]` on the requirement's tasks: what
    /// the verify request carries.
    pub fn deliverables(&self, req: ReqId) -> Result<Vec<FileRef>> {
        files_where(&self.tx, req, "AND action = 'done' AND sha256 IS NOT NULL")
            .map(|v| v.into_iter().map(|s| s.file).collect())
    }
}

fn files_where(conn: &rusqlite::Connection, req: ReqId, filter: &str) -> Result<Vec<StoredFile>> {
    let sql = format!(
        "SELECT message_id, req, task, action, at, name, type, size, sha256, note
         FROM files WHERE req = ?1 {filter} ORDER BY rowid"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map([req.0], |r| {
        let task: Option<u32> = r.get(2)?;
        Ok(StoredFile {
            message_id: r.get(0)?,
            item: match task {
                Some(n) => ItemId::Task(crate::model::TaskId { req, n }),
                None => ItemId::Req(req),
            },
            action: r.get(3)?,
            at: parse_ts(&r.get::<_, String>(4)?),
            file: FileRef {
                name: r.get(5)?,
                content_type: r.get(6)?,
                size: r.get::<_, i64>(7)? as u64,
                sha256: r.get(8)?,
                note: r.get(9)?,
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

impl Store {
    /// Every file row of a requirement (its tasks' included), oldest first.
    pub fn files(&self, req: ReqId) -> Result<Vec<StoredFile>> {
        files_where(&self.conn, req, "")
    }

    /// The digests some row names: what `gc` keeps.
    pub fn referenced_files(&self) -> Result<BTreeSet<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT sha256 FROM files WHERE sha256 IS NOT NULL")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<BTreeSet<_>>>()?)
    }
}
