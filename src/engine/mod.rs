//! The shell around the pure core: one batch of raw mails in, one SQLite
//! transaction out, then the outbox drained through a transport.
//!
//! Order per message: parse → dedupe → watermark → screen (never-answer
//! rules) → known sender → authentication → classify → find the item →
//! decide → store state, events, thread ids and outgoing mail. Nothing here
//! decides what the protocol means; that is `workflow::decide`.

mod batch;
mod clock;
mod ids;
mod im;
mod message;
mod outbox;
mod queue;
mod read;
#[cfg(test)]
mod tests;

pub use clock::{ClockMail, ClockThread};
pub use ids::{digest_thread_id, item_of_own_id};
pub use im::PreparedIm;
pub use outbox::{DrainStats, Prepared};
pub use read::{parse_batch, Classifier, Parsed};

use crate::config::{action_from_key, Config};
use crate::crashguard::{self, CrashGuard};
use crate::directory::Directory;
use crate::mail::classify::Keywords;
use crate::model::Mailbox;
use crate::render::Renderer;
use crate::source::Disposition;
use crate::store::{FileStore, SendResult, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};

/// What became of one incoming message.
#[derive(Debug, Clone)]
pub struct Report {
    pub handle: String,
    pub key: String,
    /// `applied:confirm`, `refused:wrong_state`, `help`,
    /// `set_aside:auto_reply`, `duplicate`, `before_watermark`.
    pub verdict: String,
    pub item: Option<String>,
    pub disposition: Disposition,
    pub micros: u64,
}

/// Where ingest time goes, accumulated over the engine's life (cheap to
/// keep; printed by the benchmark).
#[derive(Debug, Default, Clone, Copy)]
pub struct IngestTimes {
    pub parse: std::time::Duration,
    /// screen + classify + decide + the transaction's writes
    pub act: std::time::Duration,
    /// the COMMIT itself (the fsync)
    pub commit: std::time::Duration,
}

impl std::fmt::Display for Report {
    /// The line `ingest` and `run --once` print: handle, verdict, item.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\t{}\t{}",
            self.handle,
            self.verdict,
            self.item.as_deref().unwrap_or("-")
        )
    }
}

pub struct Engine {
    cfg: Config,
    dir: Directory,
    kw: Keywords,
    store: Store,
    /// Where attachments are kept (`[files] dir`).
    files: FileStore,
    /// Built when first needed: a command that renders nothing reads no
    /// template.
    renderer: std::sync::OnceLock<Renderer>,
    own: Mailbox,
    domain: String,
    /// Which robot hears of which event (`[[im]]`, `[[departments]] im`).
    routes: crate::im::route::Routes,
    seq: u64,
    times: IngestTimes,
    /// Results of sends the store could not record (its disk full, say):
    /// recorded before anything else is sent, so that a mail the server
    /// took is not sent again at every drain while the store is failing.
    unrecorded: Vec<(i64, SendResult)>,
    /// How many times the configuration was reloaded.
    reloads: u64,
    /// The daemon's note of the messages in hand (see [`crate::crashguard`]).
    guard: Option<std::sync::Arc<CrashGuard>>,
    /// The messages with deaths counted in the store: a count is forgotten
    /// in the transaction that handles its message (it did not kill this
    /// process), so counts neither pile up nor add up over coincidences.
    crashed: std::collections::HashSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{n} sent mail(s) not yet recorded as sent, so nothing more is sent until they are: {error}")]
    Unrecorded { n: usize, error: StoreError },
    #[error("templates: {0}")]
    Templates(String),
    #[error("clock: {0}")]
    Clock(String),
    #[error("crash guard {path}: {err}")]
    Guard { path: String, err: std::io::Error },
}

/// What the engine builds from its configuration.
struct Parts {
    dir: Directory,
    kw: Keywords,
    own: Mailbox,
    domain: String,
    routes: crate::im::route::Routes,
}

impl Parts {
    fn of(cfg: &Config) -> Result<Parts, EngineError> {
        let mut kw = Keywords::default();
        for (action, words) in &cfg.keywords {
            if let Some(a) = action_from_key(action) {
                for w in words {
                    kw.add(a, w);
                }
            }
        }
        let own = cfg.own_mailbox();
        let domain = own
            .address
            .split_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| "localhost".into());
        Ok(Parts {
            dir: cfg.directory(),
            kw,
            own,
            domain,
            routes: cfg.im_routes(),
        })
    }
}

/// The configured templates (`[templates] dir` over the built-in ones);
/// `all`: every one compiled now.
fn templates(cfg: &Config, all: bool) -> Result<Renderer, EngineError> {
    let dir = cfg.templates.dir.as_deref().map(|d| cfg.resolve(d));
    let r = if all {
        Renderer::checked(dir.as_deref())
    } else {
        Renderer::new(dir.as_deref())
    };
    r.map_err(|e| EngineError::Templates(e.to_string()))
}

impl Engine {
    pub fn new(cfg: Config) -> Result<Engine, EngineError> {
        let store = Store::open(&cfg.store_path())?;
        let Parts {
            dir,
            kw,
            own,
            domain,
            routes,
        } = Parts::of(&cfg)?;
        Ok(Engine {
            files: FileStore::new(cfg.files_dir()),
            cfg,
            dir,
            kw,
            store,
            renderer: Default::default(),
            own,
            domain,
            routes,
            seq: 0,
            times: IngestTimes::default(),
            unrecorded: vec![],
            reloads: 0,
            guard: None,
            crashed: Default::default(),
        })
    }

    /// Keeps the crash guard (`crossdesk run`, under the run lock): reads
    /// what the last process had in hand when it died, counts those deaths
    /// in the store, and from now on notes each message being read or
    /// acted on. Messages in hand at [`crashguard::CONDEMN_AFTER`] deaths
    /// are set aside unread when they come up. Returns the names of the
    /// messages the last process died with, and their counts.
    pub fn keep_crash_guard(&mut self) -> Result<Vec<(String, u32)>, EngineError> {
        let store = self.cfg.store_path();
        let (mut guard, left) = CrashGuard::open(&store).map_err(|err| EngineError::Guard {
            path: crashguard::path_for(&store).display().to_string(),
            err,
        })?;
        let mut died = vec![];
        for name in left {
            let n = self.store.bump_crash(&name)?;
            tracing::warn!(name = %name, deaths = n,
                "the last run stopped with this message in hand");
            died.push((name, n));
        }
        let counts = self.store.crash_counts()?;
        guard.condemn(
            counts
                .iter()
                .filter(|(_, n)| *n >= crashguard::CONDEMN_AFTER)
                .map(|(name, _)| name.clone()),
        );
        self.crashed = counts.into_iter().map(|(name, _)| name).collect();
        self.guard = Some(std::sync::Arc::new(guard));
        Ok(died)
    }

    /// Takes a new configuration while running (`crossdesk run` on
    /// SIGHUP): departments and their members, keywords, templates,
    /// limits, locale, digests, reminders and the calendar apply to what
    /// comes next. The store, the source, the transport and the `[imap]`
    /// and `[smtp]` sections stay as the daemon started with them (its
    /// connections and its store were opened with those): the names of
    /// those that changed come back, to be applied by a restart. A
    /// configuration whose templates do not load changes nothing.
    pub fn reload(&mut self, mut cfg: Config) -> Result<Vec<&'static str>, EngineError> {
        let old = &self.cfg;
        let mut later = vec![];
        if cfg.store != old.store {
            later.push("[store]");
        }
        if cfg.mail.source != old.mail.source {
            later.push("mail.source");
        }
        if cfg.mail.transport != old.mail.transport {
            later.push("mail.transport");
        }
        if cfg.imap != old.imap {
            later.push("[imap]");
        }
        if cfg.smtp != old.smtp {
            later.push("[smtp]");
        }
        if cfg.files.dir != old.files.dir {
            later.push("[files] dir");
        }
        cfg.store = old.store.clone();
        cfg.mail.source = old.mail.source.clone();
        cfg.mail.transport = old.mail.transport.clone();
        cfg.imap = old.imap.clone();
        cfg.smtp = old.smtp.clone();
        cfg.files.dir = old.files.dir.clone();
        cfg.base_dir = old.base_dir.clone();
        let p = Parts::of(&cfg)?;
        let renderer = templates(&cfg, true)?;
        if cfg.im != old.im {
            // The robots' clients and paces are the sender's, made at start.
            later.push("[[im]]");
        }
        (self.dir, self.kw, self.own, self.domain, self.routes) =
            (p.dir, p.kw, p.own, p.domain, p.routes);
        self.renderer = renderer.into();
        self.cfg = cfg;
        self.reloads += 1;
        Ok(later)
    }

    /// How many times [`Engine::reload`] took a configuration.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// The first-start watermark: recorded on the first call, then fixed.
    pub fn watermark(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, EngineError> {
        if let Some(v) = self.store.meta("watermark")? {
            return Ok(DateTime::parse_from_rfc3339(&v)
                .ok()
                .map(|t| t.with_timezone(&Utc)));
        }
        let w = self.cfg.watermark_time(now).ok().flatten();
        self.store.set_meta(
            "watermark",
            &w.map(|t| t.to_rfc3339()).unwrap_or_else(|| "all".into()),
        )?;
        Ok(w)
    }

    pub fn own_address(&self) -> &str {
        &self.own.address
    }

    /// The configuration in force (as last reloaded).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The departments and people, as last reloaded.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// The store, for reading (the CLI's look-ups, the clock's snapshots):
    /// what changes state goes through the engine's own methods.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The templates, as last reloaded: read on first use, each compiled
    /// when first rendered.
    pub fn renderer(&self) -> Result<&Renderer, EngineError> {
        if let Some(r) = self.renderer.get() {
            return Ok(r);
        }
        let r = templates(&self.cfg, false)?;
        Ok(self.renderer.get_or_init(|| r))
    }

    /// The templates, each `(kind, locale)` given compiled: one that does
    /// not compile is the error, before anything is rendered (what was to
    /// be rendered with it waits in its queue until it is fixed).
    fn renderer_for<'a>(
        &self,
        kinds: impl IntoIterator<Item = (String, &'a str)>,
    ) -> Result<&Renderer, EngineError> {
        let renderer = self.renderer()?;
        let kinds: std::collections::BTreeSet<(String, &str)> = kinds.into_iter().collect();
        for (kind, locale) in kinds {
            renderer
                .compile_kind(&kind, locale)
                .map_err(|e| EngineError::Templates(e.to_string()))?;
        }
        Ok(renderer)
    }

    /// Every template compiled now, so that a bad one is refused before it
    /// is needed (the daemon's start).
    pub fn check_templates(&self) -> Result<(), EngineError> {
        self.renderer()?
            .compile_all()
            .map_err(|e| EngineError::Templates(e.to_string()))
    }

    /// Where ingest time went so far.
    pub fn times(&self) -> IngestTimes {
        self.times
    }

    /// Adds parse time spent outside the engine (a reader thread's).
    pub(crate) fn add_parse_time(&mut self, d: std::time::Duration) {
        self.times.parse += d;
    }

    /// A source's cursor under its own `key` (an IMAP folder's UIDVALIDITY
    /// and last UID done), kept in the store.
    pub fn cursor(&self, key: &str) -> Result<Option<String>, EngineError> {
        Ok(self.store.meta(key)?)
    }

    /// Records a source's cursor (see [`Engine::cursor`]).
    pub fn set_cursor(&self, key: &str, value: &str) -> Result<(), EngineError> {
        Ok(self.store.set_meta(key, value)?)
    }

    /// What a parsing thread needs to classify mail as this engine does.
    pub fn classifier(&self) -> Classifier {
        Classifier {
            kw: self.kw.clone(),
            tz: self.cfg.tz(),
            guard: self.guard.clone(),
        }
    }
}

/// The local date (configured zone) the daily cap counts in.
fn local_day(cfg: &Config, now: DateTime<Utc>) -> String {
    local_dates(cfg, now).1
}

/// The local date of `now`, and the same as text (`local_day`).
fn local_dates(cfg: &Config, now: DateTime<Utc>) -> (NaiveDate, String) {
    let d = now.with_timezone(&cfg.tz()).date_naive();
    (d, d.format("%Y-%m-%d").to_string())
}
