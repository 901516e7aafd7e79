//! `crossdesk run`: the source, the clock (digests and reminders) and the
//! outbox sender as tasks of one tokio process. SIGTERM/SIGINT let the batch in hand commit and move, then stop;
//! whatever is still queued stays in the outbox for the next start.

use crate::config::{Config, Endpoint};
use crate::engine::{DrainStats, Engine, PreparedIm};
use crate::send::im::ImSender;
use crate::send::maildir::MaildirTransport;
use crate::send::smtp::SmtpSender;
use crate::send::SendError;
use crate::shutdown::Shutdown;
use crate::source::mutf7::{display_name, wire_name};
use crate::store::SendResult;
use anyhow::Context;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct RunOpts {
    pub once: bool,
    pub backfill: bool,
    /// Poll interval of a Maildir source.
    pub poll: Duration,
}

pub type SharedEngine = Arc<Mutex<Engine>>;

fn lock(e: &SharedEngine) -> anyhow::Result<std::sync::MutexGuard<'_, Engine>> {
    e.lock()
        .map_err(|_| anyhow::anyhow!("engine lock poisoned"))
}

/// Runs until stopped (or, with `once`, until the source is empty and the
/// outbox drained).
pub fn run_blocking(cfg: Config, opts: RunOpts) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(cfg, opts))
}

enum Sender {
    /// The outbox Maildir (opened per drain: it is just a directory).
    Maildir(std::path::PathBuf),
    Smtp(Box<SmtpSender>),
    None,
}

fn make_sender(cfg: &Config) -> anyhow::Result<Sender> {
    Ok(match cfg.transport() {
        Endpoint::Maildir(p) => Sender::Maildir(p),
        Endpoint::Smtp => {
            let smtp = cfg.smtp.as_ref().ok_or_else(|| {
                anyhow::anyhow!("mail.transport = \"smtp\" needs an [smtp] section")
            })?;
            Sender::Smtp(Box::new(
                SmtpSender::new(cfg, smtp).map_err(|e| anyhow::anyhow!("smtp: {e}"))?,
            ))
        }
        Endpoint::Imap => Sender::None,
    })
}

pub async fn run(cfg: Config, opts: RunOpts) -> anyhow::Result<()> {
    // One daemon per store: a second would watch the same mailbox and
    // send the same outbox (exactly-once would hold, but every message
    // would be fetched twice, and the logs would tell two stories).
    let store = cfg.store_path();
    // Before any task runs: a wait here (up to a second) holds up nothing.
    let _running = crate::store::locks::run_lock(&store)?;
    let source = cfg.source();
    let sender = make_sender(&cfg)?;
    let imap_cfg = cfg.imap.clone();
    let cfg2 = cfg.clone();
    let cfg_file = std::path::PathBuf::from(&cfg.file);
    let mut eng = Engine::new(cfg)?;
    if !opts.once {
        // A template that does not compile stops the daemon here, not at
        // the first mail of its kind (`--once` compiles what it renders).
        eng.check_templates()?;
    }
    // Under the run lock: what the last run had in hand when it died is
    // counted, and what this one reads and acts on is noted.
    eng.keep_crash_guard()?;
    let engine: SharedEngine = Arc::new(Mutex::new(eng));
    let watermark = if opts.backfill {
        None
    } else {
        let e = lock(&engine)?;
        let now = crate::schedule::now(e.config().tz());
        e.watermark(now)?
    };
    let (stop_tx, stop_rx) = crate::shutdown::channel();
    // Listening before the "started" line: a SIGTERM from then on stops
    // the daemon cleanly.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
    let hup = signal(SignalKind::hangup()).context("listen for SIGHUP")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stop requested; finishing the message in hand");
        stop_tx.request();
    });
    tokio::spawn(reload_on_hangup(hup, engine.clone(), cfg_file));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        store = %store.display(),
        once = opts.once,
        "crossdesk started"
    );
    let kick = Arc::new(Notify::new());

    // The source task.
    let src = {
        let wiring = crate::ingest::Wiring {
            engine: engine.clone(),
            kick: kick.clone(),
            stop: stop_rx.clone(),
            watermark,
            once: opts.once,
        };
        let poll = opts.poll;
        tokio::spawn(async move {
            match source {
                Endpoint::Maildir(dir) => crate::ingest::maildir::run(&dir, poll, wiring).await,
                Endpoint::Imap => {
                    let imap_cfg = imap_cfg.ok_or_else(|| {
                        anyhow::anyhow!("mail.source = \"imap\" needs an [imap] section")
                    })?;
                    crate::ingest::imap::run(cfg2, imap_cfg, wiring).await
                }
                Endpoint::Smtp => unreachable!("smtp is not a source"),
            }
            .map_err(|e| anyhow::anyhow!("{e}"))
        })
    };

    if opts.once {
        // Everything the source holds first, then the clock once, then the
        // outbox until empty.
        let r = src.await?;
        let e = engine.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut g = lock(&e)?;
            let now = crate::schedule::now(g.config().tz());
            crate::clock::Clock::default().tick(&mut g, now)?;
            Ok(())
        })
        .await??;
        let stats = drain(&engine, &sender, &stop_rx, Duration::ZERO).await?;
        log_drain(stats);
        let im = make_im(lock(&engine)?.config());
        if let Some(mut im) = im {
            let s = im_round(&engine, &mut im, &stop_rx).await?;
            log_im(&s);
            if s.waiting > 0 {
                tracing::info!(
                    waiting = s.waiting,
                    "robot messages wait for their robot's pace; the next run posts them"
                );
            }
        }
        return r;
    }

    let clock = tokio::spawn(clock_loop(engine.clone(), kick.clone(), stop_rx.clone()));
    let woken = listen_for_wakes(&store, kick.clone(), stop_rx.clone());

    let mut stop = stop_rx.clone();
    let poll = match &sender {
        Sender::Smtp(_) => Duration::from_secs(
            lock(&engine)?
                .config()
                .smtp
                .as_ref()
                .map(|s| s.poll_seconds)
                .unwrap_or(30),
        ),
        _ => Duration::from_secs(5),
    };
    // The robots post beside the mail sender, at their own pace.
    let im_kick = Arc::new(Notify::new());
    let im = make_im(lock(&engine)?.config());
    let im_task = im.map(|im| {
        tokio::spawn(im_loop(
            engine.clone(),
            im,
            im_kick.clone(),
            poll,
            stop_rx.clone(),
        ))
    });
    loop {
        match drain(&engine, &sender, &stop_rx, Duration::ZERO).await {
            Ok(stats) => log_drain(stats),
            Err(e) => tracing::error!("outbox: {e:#}"),
        }
        // What was just queued may have robot messages with it.
        im_kick.notify_one();
        if stop.is_requested() {
            break;
        }
        tokio::select! {
            _ = kick.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.requested() => {}
        }
    }
    let _ = clock.await;
    if let Some(t) = woken {
        let _ = t.await;
    }
    if let Some(t) = im_task {
        let _ = t.await;
    }
    match src.await {
        Ok(r) => r?,
        Err(e) => return Err(e.into()),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Binds `<store>.wake` (see `store::locks::wake_daemon`): a datagram
/// there, from an `ingest` that queued mail, kicks the sender. Under the
/// run lock, so a file left there is a dead daemon's and is replaced; the
/// socket goes as soon as a stop is requested, so that processes from then
/// on send themselves. Not bound (a path too long for a socket, a
/// directory not writable): logged, and `ingest` sends itself.
fn listen_for_wakes(
    store: &std::path::Path,
    kick: Arc<Notify>,
    mut stop: Shutdown,
) -> Option<tokio::task::JoinHandle<()>> {
    let path = crate::store::locks::wake_path(store);
    let _ = std::fs::remove_file(&path);
    let sock = match tokio::net::UnixDatagram::bind(&path) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(path = %path.display(),
                "no wake-up socket ({e}); `ingest` beside the daemon sends its own mail");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        let mut buf = [0u8; 16];
        loop {
            tokio::select! {
                r = sock.recv(&mut buf) => match r {
                    Ok(_) => {
                        tracing::debug!("woken: mail is due");
                        kick.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!("wake-up socket: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                _ = stop.requested() => break,
            }
        }
        drop(sock);
        let _ = std::fs::remove_file(&path);
    }))
}

/// SIGHUP (`systemctl reload`): the configuration file is read again and
/// the engine takes what it can without a restart (see `Engine::reload`).
/// A file that does not load leaves the running configuration as it was.
async fn reload_on_hangup(
    mut hup: tokio::signal::unix::Signal,
    engine: SharedEngine,
    file: std::path::PathBuf,
) {
    while hup.recv().await.is_some() {
        let (e, path) = (engine.clone(), file.clone());
        let r = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<&'static str>> {
            let cfg = Config::load(&path)?;
            Ok(lock(&e)?.reload(cfg)?)
        })
        .await;
        match r {
            Ok(Ok(later)) => {
                tracing::info!(file = %file.display(), "configuration reloaded");
                if !later.is_empty() {
                    tracing::warn!(settings = ?later,
                        "these changed settings apply at the next start (restart to apply them)");
                }
            }
            Ok(Err(e)) => tracing::error!(
                file = %file.display(),
                "configuration not reloaded; the running one stays: {e:#}"
            ),
            Err(e) => tracing::error!("configuration reload: {e}"),
        }
    }
}

/// How often the clock looks at the time: a 09:00 digest leaves by 09:00:30.
const CLOCK_TICK: Duration = Duration::from_secs(30);

/// The clock task: digests and reminders at the clock's "now" (see
/// `schedule::now`), then a kick to the sender. A failed tick is logged
/// and tried again at the next one: what it did not commit is not lost,
/// it is simply still due.
async fn clock_loop(engine: SharedEngine, kick: Arc<Notify>, mut stop: Shutdown) {
    let mut clock = crate::clock::Clock::default();
    loop {
        if stop.is_requested() {
            return;
        }
        let e = engine.clone();
        let mut c = std::mem::take(&mut clock);
        let r = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut g = lock(&e)?;
            let now = crate::schedule::now(g.config().tz());
            let rep = c.tick(&mut g, now)?;
            Ok((c, rep.queued()))
        })
        .await;
        match r {
            Ok(Ok((c, queued))) => {
                clock = c;
                if queued > 0 {
                    kick.notify_one();
                }
            }
            Ok(Err(e)) => tracing::error!("clock: {e:#}"),
            Err(e) => tracing::error!("clock task: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(CLOCK_TICK) => {}
            _ = stop.requested() => return,
        }
    }
}

fn log_drain(s: DrainStats) {
    if s.sent + s.retry + s.failed > 0 {
        tracing::info!(
            sent = s.sent,
            retry = s.retry,
            failed = s.failed,
            "outbox drained"
        );
    }
}

/// Sends every due outbox mail; stops early on a stop request (what is
/// not sent stays queued). Nothing is sent while another process sends:
/// it is waited for up to `wait`, then left to it.
async fn drain(
    engine: &SharedEngine,
    sender: &Sender,
    stop: &Shutdown,
    wait: Duration,
) -> anyhow::Result<DrainStats> {
    if matches!(sender, Sender::None) {
        return Ok(DrainStats::default());
    }
    let store = lock(engine)?.config().store_path();
    let until = std::time::Instant::now() + wait;
    let _sending = loop {
        if let Some(l) = crate::store::locks::send_lock(&store)? {
            break l;
        }
        if std::time::Instant::now() >= until {
            tracing::info!("another crossdesk process is sending the outbox; left to it");
            return Ok(DrainStats::default());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    match sender {
        Sender::None => Ok(DrainStats::default()),
        Sender::Maildir(dir) => {
            let e = engine.clone();
            let dir = dir.clone();
            let round = move || {
                let mut t = MaildirTransport::open(&dir)
                    .map_err(|e| anyhow::anyhow!("outbox {}: {e}", dir.display()))?;
                let mut g = lock(&e)?;
                // The clock's "now" (CROSSDESK_NOW when fixed): mail queued
                // at a fixed time is due at that time.
                let now = crate::schedule::now(g.config().tz());
                let stats = g.drain_outbox(&mut t, now)?;
                Ok(stats)
            };
            // The Maildir transport is blocking file I/O: off the daemon's
            // runtime; on a runtime of one thread (a command's own, which
            // runs nothing else meanwhile), on that thread rather than a
            // new one.
            if tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::CurrentThread
            {
                round()
            } else {
                tokio::task::spawn_blocking(round).await?
            }
        }
        Sender::Smtp(smtp) => drain_smtp(engine, smtp, stop).await,
    }
}

async fn drain_smtp(
    engine: &SharedEngine,
    smtp: &SmtpSender,
    stop: &Shutdown,
) -> anyhow::Result<DrainStats> {
    let mut stats = DrainStats::default();
    let (width, tz) = {
        let e = lock(engine)?;
        let w = e
            .config()
            .smtp
            .as_ref()
            .map(|s| s.pool as usize)
            .unwrap_or(1);
        (w.max(1), e.config().tz())
    };
    loop {
        if stop.is_requested() {
            break;
        }
        let now = crate::schedule::now(tz);
        let (due, from) = {
            let mut e = lock(engine)?;
            (e.prepare_due(now, 100)?, e.own_address().to_string())
        };
        if due.is_empty() {
            break;
        }
        // Up to `pool` sends in flight, and each group's results recorded
        // as soon as it is done: a crash can only resend (same Message-ID)
        // what was in flight, not everything this round sent before it.
        let mut all_retry = true;
        for chunk in due.chunks(width) {
            if stop.is_requested() {
                break;
            }
            let answers: Vec<Result<Vec<String>, SendError>> =
                futures::future::join_all(chunk.iter().map(|p| {
                    let from = from.as_str();
                    async move {
                        match &p.bytes {
                            Err(e) => Err(SendError::Permanent(e.clone())),
                            Ok(b) => smtp.send(from, &p.rcpts, b).await,
                        }
                    }
                }))
                .await;
            let results: Vec<_> = chunk
                .iter()
                .zip(answers)
                .map(|(p, r)| {
                    let (r, refused) = match r {
                        Ok(refused) => (Ok(()), refused),
                        Err(e) => (Err(e), vec![]),
                    };
                    let mut res = p.outcome(r, now, &mut stats);
                    if !refused.is_empty() {
                        tracing::warn!(message_id = %p.message_id, ?refused,
                            "sent, but the server refused some recipients for good");
                        if matches!(res, crate::store::SendResult::Sent) {
                            res = crate::store::SendResult::SentExcept(format!(
                                "refused: {}",
                                refused.join("; ")
                            ));
                        }
                    }
                    (p.id, res)
                })
                .collect();
            lock(engine)?.finish_sends(&results, crate::schedule::now(tz))?;
            all_retry &= results
                .iter()
                .all(|(_, r)| matches!(r, crate::store::SendResult::Retry { .. }));
        }
        if all_retry {
            // Nothing went through: don't spin on a dead server.
            break;
        }
    }
    Ok(stats)
}

/// What one round of robot posts did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImStats {
    pub sent: usize,
    pub retry: usize,
    pub failed: usize,
    /// Left queued for their robot's pace (or a robot that is not set up).
    pub waiting: usize,
    /// The earliest time (ms) a robot with waiting messages may post again.
    pub next_ms: Option<i64>,
}

impl ImStats {
    fn add(&mut self, o: ImStats) {
        self.sent += o.sent;
        self.retry += o.retry;
        self.failed += o.failed;
        self.waiting += o.waiting;
        self.next_ms = match (self.next_ms, o.next_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A robot's gap between posts worth waiting for inside a round (Feishu's
/// five a second); a longer one ends the robot's round.
const IM_PATIENCE_MS: i64 = 1_500;

/// One round of robot posts: every due message whose robot's pace allows
/// it now, robots side by side, each robot's in order; each post's result
/// recorded as soon as it is known. Nothing is posted while another
/// process posts.
pub async fn im_round(
    engine: &SharedEngine,
    im: &mut ImSender,
    stop: &Shutdown,
) -> anyhow::Result<ImStats> {
    let mut stats = ImStats::default();
    let (store, tz) = {
        let e = lock(engine)?;
        (e.config().store_path(), e.config().tz())
    };
    let Some(_posting) = crate::store::locks::im_send_lock(&store)? else {
        tracing::info!("another crossdesk process is posting the robot messages; left to it");
        return Ok(stats);
    };
    let now = crate::schedule::now(tz);
    let due = {
        let mut e = lock(engine)?;
        let due = e.prepare_im(now, 1000)?;
        // Each robot's pace, as the store knows it (another process's
        // posts included).
        let since = chrono::Utc::now() - chrono::Duration::seconds(65);
        for (name, p) in im.robots.iter_mut() {
            let sent = e.store().im_sent_since(name, since)?;
            p.pacer.seed(sent.iter().map(|t| t.timestamp_millis()));
        }
        due
    };
    if due.is_empty() {
        return Ok(stats);
    }
    let mut by_robot: std::collections::BTreeMap<String, Vec<PreparedIm>> = Default::default();
    let mut unrendered = vec![];
    for p in due {
        match &p.msg {
            Err(e) => {
                tracing::error!(id = p.id, robot = %p.robot, event = %p.event, error = %e,
                    "robot message failed");
                stats.failed += 1;
                unrendered.push((p.id, chrono::Utc::now(), SendResult::Failed(e.clone())));
            }
            Ok(_) if !im.robots.contains_key(&p.robot) => stats.waiting += 1,
            Ok(_) => by_robot.entry(p.robot.clone()).or_default().push(p),
        }
    }
    if !unrendered.is_empty() {
        lock(engine)?.finish_im(&unrendered)?;
    }
    // Robots post side by side; their results are recorded together, as
    // many as are known when the store is free (one commit, one fsync, for
    // all of them): a crash can only repost what was in flight or
    // awaiting its commit, as with mail.
    let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
    let halt = std::sync::atomic::AtomicBool::new(false);
    let rounds = im.robots.iter_mut().filter_map(|(name, r)| {
        by_robot
            .remove(name)
            .map(|v| one_robot(r, v, stop, &halt, tz, tx.clone()))
    });
    let posting = futures::future::join_all(rounds);
    drop(tx);
    let recording = async {
        while let Some(first) = results.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = results.try_recv() {
                batch.push(more);
            }
            if let Err(e) = lock(engine).and_then(|mut e| Ok(e.finish_im(&batch)?)) {
                halt.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(e);
            }
        }
        anyhow::Ok(())
    };
    let (posted, recorded) = tokio::join!(posting, recording);
    recorded?;
    for r in posted {
        stats.add(r);
    }
    Ok(stats)
}

/// One robot's due messages, in order, as its pace allows; each post's
/// result goes to `record`. `halt`: the results can no longer be recorded.
async fn one_robot(
    r: &mut crate::send::im::Paced,
    msgs: Vec<PreparedIm>,
    stop: &Shutdown,
    halt: &std::sync::atomic::AtomicBool,
    tz: crate::model::Zone,
    record: tokio::sync::mpsc::UnboundedSender<(i64, chrono::DateTime<chrono::Utc>, SendResult)>,
) -> ImStats {
    use crate::im::answer::Delivery;
    let mut stats = ImStats::default();
    let n = msgs.len();
    for (i, p) in msgs.into_iter().enumerate() {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let slot = r.pacer.next_slot(now_ms);
        let halted = halt.load(std::sync::atomic::Ordering::Relaxed);
        if stop.is_requested() || halted || slot - now_ms > IM_PATIENCE_MS {
            stats.waiting += n - i;
            stats.next_ms = Some(slot);
            break;
        }
        if slot > now_ms {
            tokio::time::sleep(Duration::from_millis((slot - now_ms) as u64)).await;
        }
        let Ok(msg) = &p.msg else { continue };
        let start = chrono::Utc::now();
        let posted = r.client.post(&r.robot, msg, start.timestamp_millis()).await;
        // Counted from its answer, the latest it can have reached the
        // platform: the next post's window then holds it whatever the
        // network's delays (a post counted from its start and slow in
        // flight would land in the next one's second).
        let done = chrono::Utc::now();
        r.pacer.record(done.timestamp_millis());
        let res = p.outcome(&posted.delivery, crate::schedule::now(tz));
        match (&posted.delivery, &res) {
            (_, SendResult::Sent) => {
                stats.sent += 1;
                tracing::debug!(id = p.id, robot = %p.robot, event = %p.event, "robot message posted");
            }
            (Delivery::Retry { after_s, .. }, SendResult::Retry { error, at }) => {
                stats.retry += 1;
                // Throttled or down: the robot's other messages wait too.
                r.pacer
                    .hold(start.timestamp_millis() + *after_s as i64 * 1000);
                tracing::warn!(id = p.id, robot = %p.robot, event = %p.event, %error,
                    retry_at = %at, "robot message not posted, will retry");
            }
            (_, SendResult::Failed(error)) => {
                stats.failed += 1;
                tracing::error!(id = p.id, robot = %p.robot, event = %p.event, %error,
                    "robot message failed");
            }
            _ => {}
        }
        // The receiving end lives as long as any robot posts.
        let _ = record.send((p.id, done, res));
    }
    stats
}

fn log_im(s: &ImStats) {
    if s.sent + s.retry + s.failed > 0 {
        tracing::info!(
            sent = s.sent,
            retry = s.retry,
            failed = s.failed,
            waiting = s.waiting,
            "robot messages posted"
        );
    } else if s.waiting > 0 {
        tracing::debug!(
            waiting = s.waiting,
            "robot messages wait for their robot's pace"
        );
    }
}

/// The robots' sender as configured, with a line for each robot that
/// cannot be set up (its messages wait in the queue). `None`: no robot.
fn make_im(cfg: &Config) -> Option<ImSender> {
    if cfg.im.is_empty() {
        return None;
    }
    let (im, broken) = ImSender::new(cfg);
    for (name, error) in broken {
        tracing::error!(robot = %name, %error,
            "robot not set up; its messages wait in the queue");
    }
    Some(im)
}

/// The IM task: a round whenever the mail sender has been round (kicked),
/// when a paced robot may post again, and at the poll interval.
async fn im_loop(
    engine: SharedEngine,
    mut im: ImSender,
    kick: Arc<Notify>,
    poll: Duration,
    mut stop: Shutdown,
) {
    loop {
        if stop.is_requested() {
            return;
        }
        let mut wait = poll;
        match im_round(&engine, &mut im, &stop).await {
            Ok(s) => {
                log_im(&s);
                if let Some(next) = s.next_ms {
                    let ms = (next - chrono::Utc::now().timestamp_millis()).max(50);
                    wait = wait.min(Duration::from_millis(ms as u64));
                }
            }
            Err(e) => tracing::error!("robot messages: {e:#}"),
        }
        tokio::select! {
            _ = kick.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.requested() => return,
        }
    }
}

/// `check --connect`: log in to IMAP and list the folders; EHLO the SMTP
/// server. Returns one line per check; Err when any failed.
pub fn check_connect(cfg: &Config) -> anyhow::Result<Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut lines = vec![];
        let mut failed = false;
        if let (Endpoint::Imap, Some(i)) = (cfg.source(), &cfg.imap) {
            match crate::source::imap::connect(cfg, i).await {
                Ok(mut s) => {
                    // As the server names them (modified UTF-7).
                    let names: Vec<String> = match s.list(None, Some("*")).await {
                        Ok(st) => {
                            st.filter_map(|n| async move { n.ok().map(|n| n.name().to_string()) })
                                .collect()
                                .await
                        }
                        Err(e) => vec![format!("(LIST failed: {e})")],
                    };
                    let shown: Vec<String> = names.iter().map(|n| display_name(n)).collect();
                    lines.push(format!(
                        "imap {}: logged in as {}; folders: {}",
                        i.url,
                        i.user,
                        shown.join(", ")
                    ));
                    // INBOX is INBOX in any case (RFC 3501); other names as given.
                    let exists = |f: &str| {
                        let f = wire_name(f);
                        names.iter().any(|n| {
                            *n == f
                                || (n.eq_ignore_ascii_case("INBOX")
                                    && f.eq_ignore_ascii_case("INBOX"))
                        })
                    };
                    if !exists(&i.folder) {
                        // Only the folders mail is moved to are created.
                        failed = true;
                        lines.push(format!(
                            "  FAILED: the folder watched ([imap] folder), {}, does not exist",
                            i.folder
                        ));
                    }
                    for f in [&i.processed_folder, &i.rejected_folder] {
                        if !exists(f) {
                            lines.push(format!(
                                "  note: folder {f} does not exist yet (it is created at start)"
                            ));
                        }
                    }
                    let _ = s.logout().await;
                }
                Err(e) => {
                    failed = true;
                    lines.push(format!("imap {}: FAILED: {e}", i.url));
                }
            }
        }
        if let (Endpoint::Smtp, Some(s)) = (cfg.transport(), &cfg.smtp) {
            match SmtpSender::new(cfg, s) {
                Ok(sender) => match sender.test(&cfg.own_mailbox().address).await {
                    Ok(()) => lines.push(format!(
                        "smtp {}: EHLO ok{}, MAIL FROM ok",
                        s.url,
                        if s.user.is_some() { ", AUTH ok" } else { "" }
                    )),
                    Err(e) => {
                        failed = true;
                        lines.push(format!("smtp {}: FAILED: {e}", s.url));
                    }
                },
                Err(e) => {
                    failed = true;
                    lines.push(format!("smtp {}: FAILED: {e}", s.url));
                }
            }
        }
        if failed {
            anyhow::bail!("{}", lines.join("\n"));
        }
        Ok(lines)
    })
}

/// How long a command outside the daemon waits for another process's
/// drain to end before leaving its own mail to that one.
const OUTSIDE_WAIT: Duration = Duration::from_secs(10);

/// Sends what the outbox holds that is due through the configured
/// transport, outside the daemon (for `ingest`, `release`, `outbox`).
pub fn drain_now(engine: Engine) -> anyhow::Result<(Engine, DrainStats)> {
    let shared: SharedEngine = Arc::new(Mutex::new(engine));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (_tx, rx) = crate::shutdown::channel();
    // The SMTP pool spawns its housekeeping on the runtime: build (and
    // drop) the sender inside it.
    let stats = rt.block_on(async {
        let sender = make_sender(lock(&shared)?.config())?;
        // Another process sending (a piped ingest beside this one) may
        // have looked for due mail before this one's was committed: this
        // mail would wait for the next run. Its drain ends soon; wait.
        let stats = drain(&shared, &sender, &rx, OUTSIDE_WAIT).await?;
        // Not in the `if let`: its guard would live through the round.
        let im = make_im(lock(&shared)?.config());
        if let Some(mut im) = im {
            log_im(&im_round(&shared, &mut im, &rx).await?);
        }
        anyhow::Ok(stats)
    })?;
    let engine = Arc::try_unwrap(shared)
        .map_err(|_| anyhow::anyhow!("engine still shared"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("engine lock poisoned"))?;
    Ok((engine, stats))
}
