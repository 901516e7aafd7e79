//! The message that kills the daemon must not stop the mail behind it.
//!
//! A panic is caught (the message is set aside), but some deaths are not
//! panics: a stack overflow, an abort in a C library, the OOM killer. The
//! daemon restarts (systemd's `Restart=on-failure`), meets the same message
//! first and dies again, for ever, while every mail behind it waits.
//!
//! So the daemon notes which message it is reading and which it is acting
//! on in `<store>.in-hand`, a small file mapped into memory: a note costs a
//! copy into memory, no system call, and what was written is in the page
//! cache when the process dies, however it dies. At start the daemon reads
//! what the last one left: a name there is a message that was in hand when
//! the process died. Each such death is counted in the store; a message
//! that was in hand at [`CONDEMN_AFTER`] deaths is set aside unread
//! (`internal_error`, with the reason) on its next turn, and `release`
//! acts on it once the bug is fixed.
//!
//! A name is the source's handle, the message's size and a hash of its
//! ends ([`fingerprint`]), so that a handle reused for another message
//! (an IMAP UID under a new UIDVALIDITY) does not inherit the count. Only
//! the daemon (which holds the run lock) keeps the file: `ingest` and the
//! other commands beside it would read its notes as deaths.

use memmap2::MmapMut;
use std::collections::HashSet;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Deaths with the same message in hand before it is set aside unread.
/// More than one: a `kill -9` or a power cut may land on any message once.
pub const CONDEMN_AFTER: u32 = 3;

/// Why a message is in hand: being read, or acted on (each has its slot
/// in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Read = 0,
    Act = 1,
}

const SLOT_BYTES: usize = 1024;
const SLOTS: usize = 2;

pub struct CrashGuard {
    map: Mutex<MmapMut>,
    path: PathBuf,
    /// Names of the messages to set aside unread.
    condemned: HashSet<String>,
}

impl std::fmt::Debug for CrashGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrashGuard")
            .field("path", &self.path)
            .field("condemned", &self.condemned.len())
            .finish()
    }
}

/// The file beside the store.
pub fn path_for(store: &Path) -> PathBuf {
    crate::store::beside(store, ".in-hand")
}

/// A message's name: handle, size and a hash of its first and last 512
/// bytes (cheap, and enough to tell two messages under one handle apart).
pub fn fingerprint(handle: &str, raw: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(&raw[..raw.len().min(512)]);
    h.write(&raw[raw.len().saturating_sub(512)..]);
    format!("{handle}|{}|{:016x}", raw.len(), h.finish())
}

impl CrashGuard {
    /// Maps `<store>.in-hand` (created if missing) and returns the guard
    /// with the names the last process left there: the messages it had in
    /// hand when it died. The slots are emptied.
    pub fn open(store: &Path) -> std::io::Result<(CrashGuard, Vec<String>)> {
        let path = path_for(store);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        file.set_len((SLOT_BYTES * SLOTS) as u64)?;
        // SAFETY: the file is this daemon's own (the run lock keeps other
        // daemons off the store, and no other command maps it); its length
        // was just set and is not changed while mapped.
        let mut map = unsafe { MmapMut::map_mut(&file)? };
        let mut left = vec![];
        for s in 0..SLOTS {
            let slot = &mut map[s * SLOT_BYTES..(s + 1) * SLOT_BYTES];
            let len = u32::from_le_bytes(slot[..4].try_into().expect("4 bytes")) as usize;
            if len > 0 && len <= SLOT_BYTES - 4 {
                left.push(String::from_utf8_lossy(&slot[4..4 + len]).into_owned());
            }
            slot[..4].copy_from_slice(&0u32.to_le_bytes());
        }
        left.dedup();
        Ok((
            CrashGuard {
                map: Mutex::new(map),
                path,
                condemned: HashSet::new(),
            },
            left,
        ))
    }

    /// Sets the names of the messages to set aside unread.
    pub fn condemn(&mut self, names: impl IntoIterator<Item = String>) {
        self.condemned = names.into_iter().collect();
    }

    pub fn is_condemned(&self, name: &str) -> bool {
        !self.condemned.is_empty() && self.condemned.contains(name)
    }

    /// Notes that the message `name` is in hand in `slot`.
    pub fn hold(&self, slot: Stage, name: &str) {
        let bytes = name.as_bytes();
        let n = bytes.len().min(SLOT_BYTES - 4);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut map[slot as usize * SLOT_BYTES..(slot as usize + 1) * SLOT_BYTES];
        // The length last: a death in between leaves the slot empty.
        s[..4].copy_from_slice(&0u32.to_le_bytes());
        s[4..4 + n].copy_from_slice(&bytes[..n]);
        s[..4].copy_from_slice(&(n as u32).to_le_bytes());
    }

    /// Notes that `slot` holds no message.
    pub fn release(&self, slot: Stage) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let i = slot as usize * SLOT_BYTES;
        map[i..i + 4].copy_from_slice(&0u32.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_outlives_the_guard_that_wrote_it_and_a_release_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let (g, left) = CrashGuard::open(&store).unwrap();
        assert!(left.is_empty());
        g.hold(Stage::Read, "7|100|00ff");
        g.hold(Stage::Act, "6|90|0aaa");
        // Dropped without releasing: as a process that died.
        drop(g);
        let (g, left) = CrashGuard::open(&store).unwrap();
        assert_eq!(
            left,
            vec!["7|100|00ff".to_string(), "6|90|0aaa".to_string()]
        );
        g.hold(Stage::Act, "8|1|0001");
        g.release(Stage::Act);
        drop(g);
        // Opening empties the slots: each death is read once.
        let (_g, left) = CrashGuard::open(&store).unwrap();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_note_is_written_whole_or_not_at_all_and_a_long_name_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let (g, _) = CrashGuard::open(&store).unwrap();
        let long = "x".repeat(5000);
        g.hold(Stage::Read, &long);
        drop(g);
        let (_g, left) = CrashGuard::open(&store).unwrap();
        assert_eq!(left, vec!["x".repeat(SLOT_BYTES - 4)]);
    }

    #[test]
    fn a_fingerprint_tells_two_messages_under_one_handle_apart() {
        let a = fingerprint("12", b"Subject: a\r\n\r\nhello");
        assert_eq!(a, fingerprint("12", b"Subject: a\r\n\r\nhello"));
        assert_ne!(a, fingerprint("12", b"Subject: b\r\n\r\nhello"));
        assert_ne!(a, fingerprint("13", b"Subject: a\r\n\r\nhello"));
        assert!(a.starts_with("12|19|"), "{a}");
    }
}
