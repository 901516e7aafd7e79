//! Reading a message safely: parsing (and classifying ahead) on any
//! thread, with a panic in the parser costing one message, and the crash
//! guard's note of the message in hand.

use crate::crashguard::{self, CrashGuard, Stage};
use crate::mail::classify::{classify, Keywords};
use crate::mail::parse::parse;
use crate::mail::Inbound;
use crate::model::Command;
use crate::source::RawMail;
use std::time::Instant;

/// One mail parsed, ready for [`Engine::ingest_parsed`](super::Engine::ingest_parsed).
pub struct Parsed {
    /// The message, or why it cannot be read (it is then set aside).
    pub inbound: Result<Inbound, String>,
    /// When its handling began (for the per-message time in the report).
    pub started: Instant,
    /// What its subject and body say, read on the parsing thread for the
    /// local day given (the engine reads it again on another day).
    pub command: Option<(chrono::NaiveDate, Command)>,
    /// Its name for the crash guard, when the daemon keeps one.
    pub name: Option<String>,
    /// The daemon died with it in hand too often: set aside unread.
    pub condemned: bool,
}

/// What the parsing thread needs to classify as well: the keywords and
/// the zone that says which day it is.
#[derive(Clone)]
pub struct Classifier {
    pub kw: Keywords,
    pub tz: crate::model::Zone,
    /// Notes the message being read (see [`crate::crashguard`]).
    pub guard: Option<std::sync::Arc<CrashGuard>>,
}

/// Parses a batch (pure: any thread may do it), and classifies it too
/// when given a classifier. A mail over `max_bytes` is not parsed; it is
/// set aside as unreadable, saying why.
pub fn parse_batch(mails: &[RawMail], max_bytes: usize, cl: Option<&Classifier>) -> Vec<Parsed> {
    let today = cl.map(|c| crate::schedule::now(c.tz).with_timezone(&c.tz).date_naive());
    mails
        .iter()
        .map(|m| {
            let started = Instant::now();
            let guard = cl.and_then(|c| c.guard.as_deref());
            let name = guard.map(|_| crashguard::fingerprint(&m.handle, &m.raw));
            if let (Some(g), Some(n)) = (guard, &name) {
                if g.is_condemned(n) {
                    return Parsed {
                        inbound: Err(format!(
                            "the daemon stopped {} times with this message in hand (a bug; please report it); set aside unread so that the mail behind it goes on",
                            crashguard::CONDEMN_AFTER
                        )),
                        started,
                        command: None,
                        name,
                        condemned: true,
                    };
                }
                g.hold(Stage::Read, n);
            }
            let inbound = if m.raw.len() > max_bytes {
                Err(format!(
                    "message too large: {} bytes (limit {max_bytes})",
                    m.raw.len()
                ))
            } else {
                parse_guarded(&m.raw)
            };
            // Read again on the acting thread if this fails.
            let command = match (cl, today, &inbound) {
                (Some(c), Some(day), Ok(i)) => {
                    std::panic::catch_unwind(|| (day, classify(&i.subject, &i.body, &c.kw, day)))
                        .ok()
                }
                _ => None,
            };
            if let Some(g) = guard {
                g.release(Stage::Read);
            }
            Parsed {
                inbound,
                started,
                command,
                name,
                condemned: false,
            }
        })
        .collect()
}

// Fault injection for the unit tests: a panic while reading (`"parse"`)
// or acting on (`"act"`) a message whose bytes hold the marker.
#[cfg(test)]
thread_local! {
    pub(super) static PANIC_ON: std::cell::RefCell<Vec<(&'static str, &'static str)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
pub(super) fn injected_panic(stage: &str, raw: &[u8]) {
    PANIC_ON.with(|p| {
        for (s, marker) in p.borrow().iter() {
            if *s == stage && raw.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                panic!("injected panic while {stage}");
            }
        }
    });
}

/// What a caught panic said.
pub(super) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Debug builds only, for the tests of the crash guard: with
/// `CROSSDESK_DEBUG_ABORT_SUBJECT` set, acting on a message whose subject
/// contains it aborts the process (as a stack overflow or a C library's
/// abort would).
#[cfg(debug_assertions)]
pub(super) fn debug_abort(p: &Parsed) {
    static WHAT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let what = WHAT.get_or_init(|| std::env::var("CROSSDESK_DEBUG_ABORT_SUBJECT").ok());
    if let (Some(w), Ok(i)) = (what, &p.inbound) {
        if i.subject.contains(w.as_str()) {
            eprintln!(
                "crossdesk: CROSSDESK_DEBUG_ABORT_SUBJECT: aborting on {:?}",
                i.subject
            );
            std::process::abort();
        }
    }
}

/// Reads a message. mail-parser and crossdesk's own reading run on bytes
/// from anyone: a panic there (a bug) costs this one message, set aside
/// as unreadable, rather than the batch it came in, again at every retry.
pub(super) fn parse_guarded(raw: &[u8]) -> Result<Inbound, String> {
    match std::panic::catch_unwind(|| {
        #[cfg(test)]
        injected_panic("parse", raw);
        parse(raw)
    }) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(p) => Err(format!(
            "crossdesk failed reading it (a bug; please report it): {}",
            panic_text(&*p)
        )),
    }
}
