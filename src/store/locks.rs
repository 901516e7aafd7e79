//! The files beside the store that keep one daemon and one sender per
//! store: `<store>.run-lock` (held by `crossdesk run`, with its pid in it)
//! `<store>.send-lock` (held by whoever drains the outbox) and
//! `<store>.im-send-lock` (whoever posts the robot messages). Advisory
//! locks: the kernel releases them when the file is closed or the process
//! dies, so a crash never leaves a stale lock behind. And `<store>.wake`,
//! the socket the running daemon is woken by when mail is due.

use super::beside;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a lock could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock file could not be made, opened or locked.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another `crossdesk run` uses the store: `run` exits with
    /// EX_TEMPFAIL, so that a wrapper (cron's `run --once`) can tell busy
    /// from broken.
    #[error("{0}")]
    Busy(String),
    /// `restore` is refused while the store is in use.
    #[error("{0}")]
    InUse(String),
}

impl LockError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LockError + '_ {
        move |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An advisory lock on `<store><suffix>`. `Err(path)` inside: another
/// process holds it.
fn store_lock(store: &Path, suffix: &str) -> Result<Result<File, PathBuf>, LockError> {
    let path = beside(store, suffix);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(LockError::io(&path))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(LockError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(Ok(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Err(path)),
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::io(&path)(e)),
    }
}

/// The pid of the `crossdesk run` using this store, or None when none
/// runs (its lock is free). The pid is "?" when the lock is held but its
/// file does not say by whom.
pub fn daemon_pid(store: &Path) -> Result<Option<String>, LockError> {
    let path = beside(store, ".run-lock");
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LockError::io(&path)(e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            Ok(Some(match pid.trim() {
                "" => "?".to_string(),
                p => p.to_string(),
            }))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::io(&path)(e)),
    }
}

/// For `crossdesk restore`: the store's run lock, so that no daemon uses
/// the store or starts while its file is replaced, and its send lock, so
/// that no other process sends from it meanwhile. Both go when the files
/// are dropped.
pub fn lock_for_restore(store: &Path) -> Result<(File, File, File), LockError> {
    let Ok(run) = take_run_lock(store)? else {
        let pid = daemon_pid(store)?.unwrap_or_else(|| "?".into());
        return Err(LockError::InUse(format!(
            "crossdesk run (pid {pid}) uses {}; stop it first (systemctl stop crossdesk)",
            store.display()
        )));
    };
    let Ok(send) = store_lock(store, ".send-lock")? else {
        return Err(LockError::InUse(format!(
            "another crossdesk process is sending the outbox of {}; try again when it is done",
            store.display()
        )));
    };
    let Ok(im) = store_lock(store, ".im-send-lock")? else {
        return Err(LockError::InUse(format!(
            "another crossdesk process is posting the robot messages of {}; try again when it is done",
            store.display()
        )));
    };
    Ok((run, send, im))
}

/// One process sends the outbox at a time: two drains at once (a daemon,
/// and `crossdesk outbox` or an MTA's `ingest` beside it) could both pick
/// a due mail and send it twice. A drain holds `<store>.send-lock`.
/// `None`: another process holds it.
pub fn send_lock(store: &Path) -> Result<Option<File>, LockError> {
    Ok(store_lock(store, ".send-lock")?.ok())
}

/// `<store>.wake`: a Unix datagram socket the running daemon listens on.
pub fn wake_path(store: &Path) -> PathBuf {
    beside(store, ".wake")
}

/// Tells the daemon running on `store` that mail is due, for it to send:
/// its templates are compiled and its connection is open, so a process
/// run per message (an MTA pipe) need not do either. True when a daemon
/// listens (it has the word, or a queue of wake-ups still to read); false
/// when none does (no socket, one left by a daemon that died, or one this
/// user may not write to): the caller then sends itself.
pub fn wake_daemon(store: &Path) -> bool {
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return false;
    };
    if sock.set_nonblocking(true).is_err() {
        return false;
    }
    match sock.send_to(b"due", wake_path(store)) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// One process posts the robot messages at a time (as [`send_lock`] for
/// mail), beside the mail sender: a slow robot never holds up mail.
pub fn im_send_lock(store: &Path) -> Result<Option<File>, LockError> {
    Ok(store_lock(store, ".im-send-lock")?.ok())
}

/// The store's run lock, taken exclusively. `crossdesk status` holds it
/// shared for a moment: whoever meets that tries again for up to a
/// second rather than taking it for a daemon. `Err(path)` inside: a
/// daemon holds it.
fn take_run_lock(store: &Path) -> Result<Result<File, PathBuf>, LockError> {
    let mut lock = store_lock(store, ".run-lock")?;
    for _ in 0..20 {
        if lock.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        lock = store_lock(store, ".run-lock")?;
    }
    Ok(lock)
}

/// `crossdesk run` holds `<store>.run-lock` (with its pid in it) for as
/// long as it runs; a second `run` on the same store is refused.
pub fn run_lock(store: &Path) -> Result<File, LockError> {
    use std::io::{Read, Seek, Write};
    match take_run_lock(store)? {
        Ok(mut file) => {
            let path = store.display();
            let wrote = file
                .set_len(0)
                .and_then(|()| file.seek(std::io::SeekFrom::Start(0)))
                .and_then(|_| writeln!(file, "{}", std::process::id()));
            if let Err(e) = wrote {
                // The lock is what counts; the pid is for the message.
                tracing::warn!("{path}.run-lock: cannot write the pid: {e}");
            }
            Ok(file)
        }
        Err(path) => {
            let mut pid = String::new();
            let _ = File::open(&path).and_then(|mut f| f.read_to_string(&mut pid));
            let pid = match pid.trim() {
                "" => String::new(),
                p => format!(" (pid {p})"),
            };
            Err(LockError::Busy(format!(
                "another `crossdesk run`{pid} is using the store {}; stop it first \
                 (it holds {})",
                store.display(),
                path.display()
            )))
        }
    }
}
