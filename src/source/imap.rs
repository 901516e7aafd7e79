//! The IMAP source (async-imap on tokio): one long-lived connection, IDLE
//! when the server has it (re-issued well within 29 minutes) with a safety
//! poll, plain polling otherwise.
//!
//! Per round: `UID SEARCH` past the persisted cursor, `UID FETCH … BODY.PEEK[]`
//! in batches, one transaction per batch (the engine), then `UID MOVE` to
//! the processed or rejected folder; the cursor at the end of the round.
//! The batches form a pipeline: while the engine acts on one, the
//! connection fetches the next, and the one before, which has committed,
//! is moved (by a second connection when there is a backlog). A crash anywhere in between is safe: a message still in the
//! inbox is fetched again and its dedupe key says it was already acted on,
//! so it is only moved.
//! A UIDVALIDITY change resets the cursor; the dedupe keys keep exactly-once.

use super::mutf7::{display_name, wire_name};
use super::{Disposition, RawMail, Stuck};
use crate::config::{Config, ImapConfig, ServerUrl, TlsMode};
use crate::engine::{Engine, Report};
use crate::net::tls_connector;
use async_imap::{Client, Session};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Anything async-imap can talk over: plain TCP or TLS.
pub trait ImapStream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> ImapStream for T {}

pub type ImapSession = Session<Box<dyn ImapStream>>;

/// Set while a session waits in IDLE, where the server may rightly stay
/// silent for as long as the wait lasts.
pub type InIdle = Arc<std::sync::atomic::AtomicBool>;

/// The TCP stream under a session (and under its TLS): a read that waits
/// longer than `limit` for the server's next bytes fails with "no answer",
/// unless the session is in IDLE. The wait counts from the later of the
/// last bytes read and the last bytes written (a command just sent starts
/// a new one), so a read dropped half-way never leaves a stale deadline.
#[derive(Debug)]
struct Watchdog {
    inner: TcpStream,
    limit: Duration,
    idle: InIdle,
    last: tokio::time::Instant,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Watchdog {
    fn new(inner: TcpStream, limit: Duration, idle: InIdle) -> Watchdog {
        let last = tokio::time::Instant::now();
        Watchdog {
            inner,
            limit,
            idle,
            last,
            timer: Box::pin(tokio::time::sleep_until(last + limit)),
        }
    }
}

impl AsyncRead for Watchdog {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.last = tokio::time::Instant::now();
                Poll::Ready(r)
            }
            Poll::Pending if this.idle.load(std::sync::atomic::Ordering::Relaxed) => Poll::Pending,
            Poll::Pending => {
                let deadline = this.last + this.limit;
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match std::future::Future::poll(this.timer.as_mut(), cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no answer from the server within {} s",
                            this.limit.as_secs()
                        ),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for Watchdog {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.last = tokio::time::Instant::now();
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("connect to {0}: {1}")]
    Connect(String, String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("login as {0} refused: {1}")]
    Login(String, String),
    #[error("imap: {0}")]
    Imap(#[from] async_imap::error::Error),
    /// The engine could not act on or record a batch (its store failing,
    /// a full disk say): the messages stay in the folder.
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Other(String),
}

/// Connects and logs in; the caller owns the session.
pub async fn connect(cfg: &Config, imap: &ImapConfig) -> Result<ImapSession, ImapError> {
    Ok(connect_watched(cfg, imap).await?.0)
}

/// `connect`, with the flag the session sets while in IDLE (see [`Watchdog`]).
async fn connect_watched(
    cfg: &Config,
    imap: &ImapConfig,
) -> Result<(ImapSession, InIdle), ImapError> {
    let url = ServerUrl::parse(&imap.url, "imap").map_err(ImapError::Other)?;
    let addr = format!("{}:{}", url.host, url.port);
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((url.host.as_str(), url.port)),
    )
    .await
    .map_err(|_| ImapError::Connect(addr.clone(), "timed out".into()))?
    .map_err(|e| ImapError::Connect(addr.clone(), e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let in_idle = InIdle::default();
    let tcp = Watchdog::new(
        tcp,
        Duration::from_secs(imap.timeout_seconds),
        in_idle.clone(),
    );
    let ca = match &imap.ca_file {
        Some(f) => Some(
            std::fs::read(cfg.resolve(f)).map_err(|e| ImapError::Tls(format!("ca_file: {e}")))?,
        ),
        None => None,
    };
    let server_name = || {
        tokio_rustls::rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| ImapError::Tls(format!("{}: {e}", url.host)))
    };
    let client: Client<Box<dyn ImapStream>> = match url.tls {
        TlsMode::None => {
            let mut c = Client::new(Box::new(tcp) as Box<dyn ImapStream>);
            greeting(&mut c).await?;
            c
        }
        TlsMode::Implicit => {
            let tls = tls_connector(ca.as_deref()).map_err(ImapError::Tls)?;
            let s = tls
                .connect(server_name()?, tcp)
                .await
                .map_err(|e| ImapError::Tls(e.to_string()))?;
            let mut c = Client::new(Box::new(s) as Box<dyn ImapStream>);
            greeting(&mut c).await?;
            c
        }
        TlsMode::StartTls => {
            let mut c = Client::new(tcp);
            c.read_response()
                .await
                .map_err(|e| ImapError::Connect(addr.clone(), e.to_string()))?;
            c.run_command_and_check_ok("STARTTLS", None).await?;
            let tcp = c.into_inner();
            let tls = tls_connector(ca.as_deref()).map_err(ImapError::Tls)?;
            let s = tls
                .connect(server_name()?, tcp)
                .await
                .map_err(|e| ImapError::Tls(e.to_string()))?;
            Client::new(Box::new(s) as Box<dyn ImapStream>)
        }
    };
    let pass = cfg
        .read_secret("imap", &imap.secret())
        .map_err(|e| ImapError::Other(e.to_string()))?;
    let session = client
        .login(&imap.user, &pass)
        .await
        .map_err(|(e, _)| ImapError::Login(imap.user.clone(), e.to_string()))?;
    Ok((session, in_idle))
}

async fn greeting(c: &mut Client<Box<dyn ImapStream>>) -> Result<(), ImapError> {
    match c.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Other(
            "server closed the connection before its greeting".into(),
        )),
        Err(e) => Err(ImapError::Other(format!("greeting: {e}"))),
    }
}

/// Creates a folder unless it exists.
async fn ensure_folder(s: &mut ImapSession, name: &str) -> Result<(), ImapError> {
    let exists = {
        let list: Vec<_> = s.list(None, Some(name)).await?.try_collect().await?;
        !list.is_empty()
    };
    if !exists {
        if let Err(e) = s.create(name).await {
            // A race with another client creating it is fine.
            let list: Vec<_> = s.list(None, Some(name)).await?.try_collect().await?;
            if list.is_empty() {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// `1,3,5:9` from sorted UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// What the source loop needs from the rest of the daemon.
pub struct Shared {
    pub engine: Arc<Mutex<Engine>>,
    /// Wakes the outbox sender after a batch committed mail.
    pub kick: Arc<tokio::sync::Notify>,
    pub stop: watch::Receiver<bool>,
    pub watermark: Option<DateTime<Utc>>,
    /// Process what is there, then return (`run --once`).
    pub once: bool,
}

/// The source task: reconnects with jittered exponential backoff until stopped.
pub async fn run(cfg: Config, imap: ImapConfig, mut sh: Shared) -> Result<(), ImapError> {
    let mut backoff = Duration::from_secs(1);
    let mut stuck = (0, Stuck::default());
    loop {
        if *sh.stop.borrow() {
            return Ok(());
        }
        match session_loop(&cfg, &imap, &mut sh, &mut backoff, &mut stuck).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                if sh.once {
                    return Err(e);
                }
                let jitter = rand::random::<f64>() * 0.5 + 0.75;
                let wait = backoff.mul_f64(jitter);
                let ms = wait.as_millis() as u64;
                if matches!(e, ImapError::Store(_)) {
                    tracing::warn!(error = %e, retry_in_ms = ms,
                        "the store failed; the messages stay in the folder and are tried again");
                } else {
                    tracing::warn!(error = %e, retry_in_ms = ms, "imap connection lost; reconnecting");
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = sh.stop.changed() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
        }
    }
}

fn cursor_keys(imap: &ImapConfig) -> (String, String) {
    (
        format!("imap:{}:{}:uidvalidity", imap.user, imap.folder),
        format!("imap:{}:{}:last_uid", imap.user, imap.folder),
    )
}

/// Committed batches waiting to be moved, shared by the connections that
/// move them: the second connection for the whole of a backlog, the first
/// one too once it has fetched every chunk (two server processes moving at
/// once at the end of a backlog, when nothing else is left to do).
#[derive(Default)]
struct MoveQueue {
    state: std::sync::Mutex<QueueState>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct QueueState {
    batches: std::collections::VecDeque<Vec<Report>>,
    /// No batch will be added.
    closed: bool,
    /// Connections taking batches.
    workers: usize,
}

impl MoveQueue {
    fn push(&self, reports: Vec<Report>) {
        if !reports.is_empty() {
            self.lock().batches.push_back(reports);
            self.wake.notify_waiters();
        }
    }

    /// Pushes a batch as two halves, for two connections to move at once.
    fn push_halves(&self, mut reports: Vec<Report>) {
        let second = reports.split_off(reports.len() / 2);
        self.push(reports);
        self.push(second);
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A poisoned lock only means a worker panicked while holding it;
        // the queue itself is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Batches for one move command: all that wait when this connection is
    /// the only one moving, else half of them (rounded up), so that the
    /// other connection finds work too. `None` once closed and empty.
    async fn take(&self) -> Option<Vec<Report>> {
        loop {
            let wake = self.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            {
                let mut st = self.lock();
                if !st.batches.is_empty() {
                    let n = match st.workers {
                        0 | 1 => st.batches.len(),
                        _ => st.batches.len().div_ceil(2),
                    };
                    return Some(st.batches.drain(..n).flatten().collect());
                }
                if st.closed {
                    return None;
                }
            }
            wake.await;
        }
    }

    /// Moves batches on `s` until the queue is closed and empty; returns
    /// the UIDs moved.
    async fn work(&self, s: &mut ImapSession, to: &MoveTo) -> Result<Vec<u32>, ImapError> {
        self.lock().workers += 1;
        let mut moved = vec![];
        let mut result = Ok(());
        while let Some(reports) = self.take().await {
            if let Err(e) = move_done(s, to, &reports).await {
                result = Err(e);
                break;
            }
            moved.extend(uids_of(&reports));
        }
        self.lock().workers -= 1;
        result.map(|()| moved)
    }

    /// Moves what waits now, on this connection (no second one).
    async fn drain(&self, s: &mut ImapSession, to: &MoveTo) -> Result<Vec<u32>, ImapError> {
        let reports: Vec<Report> = self.lock().batches.drain(..).flatten().collect();
        if !reports.is_empty() {
            move_done(s, to, &reports).await?;
        }
        Ok(uids_of(&reports).collect())
    }
}

/// The second connection of a backlog: it logs in in the background and
/// then moves batches from the queue until it is closed. A login that
/// fails leaves the moves to the first connection (a warning); a move that
/// fails ends the round with its error.
struct Mover {
    task: Option<tokio::task::JoinHandle<Result<Vec<u32>, ImapError>>>,
    queue: std::sync::Arc<MoveQueue>,
}

/// A round that ends early (an error) drops the mover unfinished: the
/// queue is closed, so that it moves what has committed, logs out and
/// ends rather than waiting on.
impl Drop for Mover {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.queue.close();
        }
    }
}

impl Mover {
    fn start(
        cfg: &Config,
        imap: &ImapConfig,
        validity: u32,
        to: &MoveTo,
        queue: std::sync::Arc<MoveQueue>,
    ) -> Mover {
        let (cfg, imap, to) = (cfg.clone(), imap.clone(), to.clone());
        let q = queue.clone();
        let task = tokio::spawn(async move {
            let opened = async {
                let mut s = connect(&cfg, &imap).await?;
                let mb = s.select(&wire_name(&imap.folder)).await?;
                Ok::<_, ImapError>((s, mb.uid_validity.unwrap_or(0)))
            };
            let mut s = match opened.await {
                Ok((s, v)) if v == validity => s,
                // UIDs name the same messages only under the same
                // UIDVALIDITY: the round ends, the next one starts afresh.
                Ok((mut s, _)) => {
                    let _ = s.logout().await;
                    return Err(ImapError::Other(
                        "UIDVALIDITY changed while opening the second connection".into(),
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no second connection; moving on this one");
                    return Ok(vec![]);
                }
            };
            let moved = q.work(&mut s, &to).await;
            let _ = s.logout().await;
            moved
        });
        Mover {
            task: Some(task),
            queue,
        }
    }

    /// Whether it stopped (could not log in, or a move failed).
    fn stopped(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for its moves (the queue must be closed); the UIDs moved.
    async fn finish(mut self) -> Result<Vec<u32>, ImapError> {
        match self.task.take() {
            Some(t) => t.await.map_err(|e| ImapError::Other(e.to_string()))?,
            None => Ok(vec![]),
        }
    }
}

/// How many messages each chunk of a backlog of `len` takes before the
/// 64 MiB limit splits it: 32, 64, 128, … up to `batch`, so that the
/// engine starts at once, then the rest split evenly in chunks of at most
/// `batch` (2,000 with batches of 500: 32, 64, 128, 256, then 4 × 380), so
/// that no small remainder costs a fetch, a commit and a move of its own.
pub fn chunk_counts(len: usize, batch: usize) -> Vec<usize> {
    let batch = batch.max(1);
    let mut counts = vec![];
    let mut left = len;
    let mut step = 32.min(batch);
    while left > 0 && step < batch {
        let c = step.min(left);
        counts.push(c);
        left -= c;
        step *= 2;
    }
    if left > 0 {
        let k = left.div_ceil(batch);
        counts.extend((0..k).map(|i| left / k + usize::from(i < left % k)));
    }
    counts
}

/// Splits UIDs (in acting order) into batches of at most `batch` UIDs and
/// about `max_bytes` of mail (a batch holds at least one message). The
/// first batches are small (32, 64, … UIDs) so that the engine starts
/// acting while the rest is still being fetched; the rest is split evenly,
/// so that the last batch, whose move nothing else overlaps, is not the
/// largest, and no batch is a small remainder.
fn chunk_uids(
    uids: &[u32],
    sizes: &std::collections::HashMap<u32, usize>,
    batch: usize,
    max_bytes: usize,
) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = vec![];
    let mut rest = uids;
    for c in chunk_counts(uids.len(), batch) {
        let (these, after) = rest.split_at(c);
        rest = after;
        let mut bytes = 0;
        for (i, &u) in these.iter().enumerate() {
            let size = sizes.get(&u).copied().unwrap_or(0);
            match out.last_mut() {
                Some(cur) if i > 0 && bytes + size <= max_bytes => {
                    cur.push(u);
                    bytes += size;
                }
                _ => {
                    out.push(vec![u]);
                    bytes = size;
                }
            }
        }
    }
    out
}

/// The UIDs of a committed batch (a report's handle is its UID).
fn uids_of(reports: &[Report]) -> impl Iterator<Item = u32> + '_ {
    reports.iter().filter_map(|r| r.handle.parse::<u32>().ok())
}

/// Milliseconds since `t`, for the debug timeline of a backlog.
fn ms(t: std::time::Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e4).round() / 10.0
}

/// Fetches one chunk of UIDs, in the chunk's order. A UID whose body did
/// not come back is noted in `stuck` (and logged): it is skipped this
/// round and fetched again on its own later (the cursor does not pass it).
async fn fetch_chunk(
    s: &mut ImapSession,
    chunk: &[u32],
    stuck: &mut Stuck<u32>,
) -> Result<(Vec<RawMail>, bool), ImapError> {
    // Sized for the chunk up front: a chunk's responses grown by doubling
    // cost the kernel fresh pages to zero (as the profile showed).
    let mut fetched = Vec::with_capacity(chunk.len());
    {
        let mut responses = s
            .uid_fetch(uid_set(chunk), "(UID INTERNALDATE BODY.PEEK[])")
            .await?;
        while let Some(f) = responses.try_next().await? {
            fetched.push(f);
        }
    }
    let mut by_uid: BTreeMap<u32, RawMail> = BTreeMap::new();
    for f in &fetched {
        if let (Some(uid), Some(body)) = (f.uid, f.body()) {
            by_uid.insert(
                uid,
                RawMail {
                    handle: uid.to_string(),
                    raw: body.to_vec(),
                    received: f.internal_date().map(|d| d.with_timezone(&Utc)),
                },
            );
        }
    }
    let now = std::time::Instant::now();
    let mut mails = Vec::with_capacity(chunk.len());
    let mut missing = false;
    for &u in chunk {
        match by_uid.remove(&u) {
            Some(m) => {
                if let Some(tries) = stuck.fetched(&u) {
                    tracing::info!(id = u, tries, "message fetchable again");
                }
                mails.push(m)
            }
            None => {
                missing = true;
                let (tries, wait) = stuck.missed(u, now);
                super::log_unreadable(&u.to_string(), tries, wait, "no body in the FETCH response");
            }
        }
    }
    Ok((mails, missing))
}

/// Where committed messages go, and which commands the server has to move
/// them with.
#[derive(Clone)]
struct MoveTo {
    processed: String,
    rejected: String,
    has_move: bool,
    has_uidplus: bool,
}

/// Moves the messages of a committed chunk: acted on → the processed
/// folder, set aside → the rejected one (COPY + \Deleted + EXPUNGE where
/// the server lacks MOVE).
async fn move_done(s: &mut ImapSession, to: &MoveTo, reports: &[Report]) -> Result<(), ImapError> {
    let mut processed = vec![];
    let mut rejected = vec![];
    for r in reports {
        let uid: u32 = r.handle.parse().unwrap_or(0);
        match r.disposition {
            Disposition::Processed => processed.push(uid),
            Disposition::Rejected => rejected.push(uid),
            Disposition::Leave => {}
        }
    }
    processed.sort_unstable();
    rejected.sort_unstable();
    for (uids, folder) in [(&processed, &to.processed), (&rejected, &to.rejected)] {
        if uids.is_empty() {
            continue;
        }
        let set = uid_set(uids);
        let t = std::time::Instant::now();
        if to.has_move {
            s.uid_mv(&set, folder).await?;
        } else {
            s.uid_copy(&set, folder).await?;
            let _: Vec<_> = s
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect()
                .await?;
            if to.has_uidplus {
                let _: Vec<_> = s.uid_expunge(&set).await?.try_collect().await?;
            } else {
                let _: Vec<_> = s.expunge().await?.try_collect().await?;
            }
        }
        tracing::debug!(messages = uids.len(), to = %display_name(folder), ms = ms(t), "moved");
    }
    Ok(())
}

/// The backlog after `last_uid`: its UIDs in the order to act on them
/// (arrival, i.e. INTERNALDATE, then UID) and what each weighs for
/// [`chunk_uids`]. UID order need not be arrival order (Dovecot numbers a
/// Maildir backlog in directory order at its first sync), and a reply must
/// never come before what it answers.
///
/// With SORT (RFC 5256) the server orders them in one response, and only
/// messages larger than `BATCH_BYTES / batch` have their size fetched: the
/// others count as that much, so that a batch of them stays within
/// `BATCH_BYTES`. Without it, every UID's INTERNALDATE and RFC822.SIZE is
/// fetched and sorted here; so also when the server refuses the SORT
/// (`has_sort` is then cleared for the session).
async fn find_backlog(
    s: &mut ImapSession,
    last_uid: u32,
    has_sort: &mut bool,
    batch: usize,
) -> Result<(Vec<u32>, std::collections::HashMap<u32, usize>), ImapError> {
    let from = last_uid.saturating_add(1);
    let sorted = match *has_sort {
        true => uid_sort_arrival(s, from).await?,
        false => None,
    };
    if *has_sort && sorted.is_none() {
        *has_sort = false;
    }
    if let Some(mut order) = sorted {
        // `n:*` names the last message even when n is beyond it.
        order.retain(|u| *u > last_uid);
        let light = (super::BATCH_BYTES / batch.max(1)).max(1);
        let mut sizes: std::collections::HashMap<u32, usize> =
            order.iter().map(|u| (*u, light)).collect();
        if order.len() > 1 {
            let mut heavy: Vec<u32> = s
                .uid_search(format!("UID {from}:* LARGER {light}"))
                .await?
                .into_iter()
                .filter(|u| sizes.contains_key(u))
                .collect();
            heavy.sort_unstable();
            if !heavy.is_empty() {
                let got: Vec<_> = s
                    .uid_fetch(uid_set(&heavy), "(UID RFC822.SIZE)")
                    .await?
                    .try_collect()
                    .await?;
                for f in &got {
                    if let (Some(u), Some(n)) = (f.uid, f.size) {
                        sizes.insert(u, n as usize);
                    }
                }
            }
            tracing::info!(
                messages = order.len(),
                large = heavy.len(),
                order = "arrival (UID SORT)",
                "backlog"
            );
        }
        return Ok((order, sizes));
    }
    let found = s.uid_search(format!("UID {from}:*")).await?;
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last_uid).collect();
    uids.sort_unstable();
    let mut sizes = std::collections::HashMap::new();
    if uids.len() > 1 {
        let heads: Vec<_> = s
            .uid_fetch(uid_set(&uids), "(UID INTERNALDATE RFC822.SIZE)")
            .await?
            .try_collect()
            .await?;
        let dates: std::collections::HashMap<u32, i64> = heads
            .iter()
            .filter_map(|f| Some((f.uid?, f.internal_date()?.timestamp_millis())))
            .collect();
        sizes = heads
            .iter()
            .filter_map(|f| Some((f.uid?, f.size? as usize)))
            .collect();
        uids.sort_by_key(|u| (dates.get(u).copied().unwrap_or(i64::MAX), *u));
        tracing::info!(
            messages = uids.len(),
            order = "arrival (INTERNALDATE fetched)",
            "backlog"
        );
    }
    Ok((uids, sizes))
}

/// `UID SORT (ARRIVAL) UTF-8 UID from:*`, in the order the server gives;
/// None when the server refuses it (NO or BAD). Other responses that come
/// meanwhile (new mail, flags) are passed over: the next round looks again.
async fn uid_sort_arrival(s: &mut ImapSession, from: u32) -> Result<Option<Vec<u32>>, ImapError> {
    use async_imap::imap_proto::{MailboxDatum, Response, Status};
    let tag = s
        .run_command(format!("UID SORT (ARRIVAL) UTF-8 UID {from}:*"))
        .await?;
    let mut order = vec![];
    loop {
        let Some(resp) = s
            .read_response()
            .await
            .map_err(|e| ImapError::Other(format!("UID SORT: {e}")))?
        else {
            return Err(ImapError::Other("connection closed during UID SORT".into()));
        };
        match resp.parsed() {
            Response::MailboxData(MailboxDatum::Sort(ids)) => order.extend_from_slice(ids),
            Response::Done {
                tag: t,
                status,
                information,
                ..
            } if *t == tag => {
                if *status == Status::Ok {
                    return Ok(Some(order));
                }
                tracing::warn!(
                    answer = information.as_deref().unwrap_or(""),
                    "the server announces SORT but refused UID SORT; fetching the dates instead"
                );
                return Ok(None);
            }
            _ => {}
        }
    }
}

async fn session_loop(
    cfg: &Config,
    imap: &ImapConfig,
    sh: &mut Shared,
    backoff: &mut Duration,
    (stuck_validity, stuck): &mut (u32, Stuck<u32>),
) -> Result<(), ImapError> {
    let (mut s, in_idle) = connect_watched(cfg, imap).await?;
    let caps = s.capabilities().await?;
    // Folder names as the server knows them (已处理 is `&XfJZBHQG-`).
    let watched = wire_name(&imap.folder);
    let to = MoveTo {
        processed: wire_name(&imap.processed_folder),
        rejected: wire_name(&imap.rejected_folder),
        has_move: caps.has_str("MOVE"),
        has_uidplus: caps.has_str("UIDPLUS"),
    };
    let has_idle = caps.has_str("IDLE") && imap.idle;
    let mut has_sort = caps.has_str("SORT");
    drop(caps);
    ensure_folder(&mut s, &to.processed).await?;
    ensure_folder(&mut s, &to.rejected).await?;
    let mb = s.select(&watched).await?;
    let validity = mb.uid_validity.unwrap_or(0);
    // UIDs mean nothing under another UIDVALIDITY.
    if *stuck_validity != validity {
        stuck.clear();
        *stuck_validity = validity;
    }
    // How many messages the folder held at the last look: more than a
    // batch means a backlog, whose second connection may log in at once.
    let mut exists_hint = mb.exists as usize;
    let (kv, kl) = cursor_keys(imap);
    let mut last_uid: u32 = {
        let eng = sh
            .engine
            .lock()
            .map_err(|_| ImapError::Other("engine lock poisoned".into()))?;
        let stored_validity = eng.store.meta(&kv).ok().flatten();
        if stored_validity.as_deref() != Some(&validity.to_string()) {
            if stored_validity.is_some() {
                tracing::warn!(folder = %imap.folder, old = ?stored_validity, new = validity,
                    "UIDVALIDITY changed; rescanning the folder (dedupe keys keep exactly-once)");
            }
            eng.store.set_meta(&kv, &validity.to_string()).ok();
            eng.store.set_meta(&kl, "0").ok();
            0
        } else {
            eng.store
                .meta(&kl)
                .ok()
                .flatten()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        }
    };
    tracing::info!(folder = %imap.folder, uidvalidity = validity, last_uid, idle = has_idle, r#move = to.has_move, "imap ready");
    let batch = cfg.store.batch.max(1);
    loop {
        // As the engine is configured now (SIGHUP reloads it).
        let (classifier, max_bytes) = {
            let e = sh
                .engine
                .lock()
                .map_err(|_| ImapError::Other("engine lock poisoned".into()))?;
            (e.classifier(), e.cfg.limits.max_message_bytes)
        };
        // Drain the notifications queue; SORT/SEARCH below is what counts.
        while s.unsolicited_responses.try_recv().is_ok() {}
        // A backlog of more than one batch gets a second connection for its
        // moves (a message or two is moved on this one). It logs in in the
        // background, while this one finds the backlog and fetches; when a
        // backlog is likely (the folder held more than a batch), at once.
        let queue = std::sync::Arc::new(MoveQueue::default());
        let start_mover = || Mover::start(cfg, imap, validity, &to, queue.clone());
        let mut mover = (exists_hint > batch).then(start_mover);
        exists_hint = 0;
        let (uids, sizes) = find_backlog(&mut s, last_uid, &mut has_sort, batch).await?;
        if mover.is_none() && uids.len() > batch {
            mover = Some(start_mover());
        }
        // Messages not fetchable before wait for their time, then come
        // last, one per fetch.
        stuck.keep_only(&uids);
        let fresh: Vec<u32> = uids.iter().copied().filter(|u| !stuck.holds(u)).collect();
        let again = stuck.due(std::time::Instant::now());
        let worked = !fresh.is_empty() || !again.is_empty();
        let mut ascending = uids.clone();
        ascending.sort_unstable();
        let mut done: std::collections::HashSet<u32> = Default::default();
        let mut stalled = false;
        // A pipeline over the chunks: while the engine acts on chunk k (on
        // a blocking thread), this connection fetches chunk k+1, and the
        // mover moves chunk k-1, whose transaction has committed. Chunk k+1
        // is acted on only after chunk k committed, so order is kept.
        let mut acting: Option<tokio::task::JoinHandle<Result<Vec<Report>, String>>> = None;
        let act = |mails: Vec<RawMail>, parsed| {
            let engine = sh.engine.clone();
            let wm = sh.watermark;
            tokio::task::spawn_blocking(move || {
                let mut e = engine
                    .lock()
                    .map_err(|_| "engine lock poisoned".to_string())?;
                let now = crate::schedule::now(e.cfg.tz());
                let t = std::time::Instant::now();
                let r = e.ingest_parsed(&mails, parsed, now, wm);
                tracing::debug!(messages = mails.len(), ms = ms(t), "acted and committed");
                r.map_err(|e| e.to_string())
            })
        };
        let committed = |h: tokio::task::JoinHandle<Result<Vec<Report>, String>>| async {
            let reports = h
                .await
                .map_err(|e| ImapError::Other(e.to_string()))?
                .map_err(ImapError::Store)?;
            sh.kick.notify_one();
            Ok::<_, ImapError>(reports)
        };
        let chunks = chunk_uids(&fresh, &sizes, batch, super::BATCH_BYTES)
            .into_iter()
            .chain(again.iter().map(|&u| vec![u]));
        for chunk in chunks {
            if *sh.stop.borrow() {
                break;
            }
            let t = std::time::Instant::now();
            let (mails, missing) = fetch_chunk(&mut s, &chunk, stuck).await?;
            tracing::debug!(messages = mails.len(), ms = ms(t), "fetched");
            stalled |= missing;
            // Parsed on another blocking thread, beside the engine.
            let next = (!mails.is_empty()).then(|| {
                let cl = classifier.clone();
                tokio::task::spawn_blocking(move || {
                    let parsed = crate::engine::parse_batch(&mails, max_bytes, Some(&cl));
                    (mails, parsed)
                })
            });
            if let Some(h) = acting.take() {
                queue.push(committed(h).await?);
            }
            if let Some(next) = next {
                let (mails, parsed) = next.await.map_err(|e| ImapError::Other(e.to_string()))?;
                acting = Some(act(mails, parsed));
            }
            // Without a second connection (or when it could not log in),
            // this one moves between its fetches.
            if let Some(m) = &mover {
                if m.stopped() {
                    done.extend(mover.take().expect("mover present").finish().await?);
                }
            }
            if mover.is_none() {
                done.extend(queue.drain(&mut s, &to).await?);
            }
        }
        // Every chunk fetched (or a stop asked for): the last batch commits
        // while this connection moves beside the mover, then both finish.
        let last = async {
            let result = match acting.take() {
                Some(h) => committed(h).await.map(|r| match mover {
                    Some(_) => queue.push_halves(r),
                    None => queue.push(r),
                }),
                None => Ok(()),
            };
            queue.close();
            result
        };
        let (last, here) = tokio::join!(last, queue.work(&mut s, &to));
        let there = match mover {
            Some(m) => m.finish().await,
            None => Ok(vec![]),
        };
        last?;
        done.extend(here?);
        done.extend(there?);
        // The cursor passes only UIDs whose every predecessor is done. It
        // is written once per round: behind after a crash, it only makes
        // the next SEARCH longer (moved mail is no longer in the folder).
        if let Some(u) = ascending.iter().take_while(|u| done.contains(u)).last() {
            if *u > last_uid {
                last_uid = *u;
                let eng = sh
                    .engine
                    .lock()
                    .map_err(|_| ImapError::Other("engine lock poisoned".into()))?;
                eng.store
                    .set_meta(&kl, &last_uid.to_string())
                    .map_err(|e| ImapError::Store(e.to_string()))?;
            }
        }
        // A round went through (searched, fetched, acted on, moved): the
        // next loss starts the wait afresh. A login alone does not, or a
        // session that fails right after it (a folder that does not exist,
        // a store that cannot be written) would log in every second.
        *backoff = Duration::from_secs(1);
        if *sh.stop.borrow() {
            return Ok(());
        }
        if worked && !stalled {
            // More may have arrived while we worked: look again at once.
            continue;
        }
        // A message not fetchable yet is fetched again when its time comes
        // (`run --once` waits for the first few tries only).
        if let Some(at) = stuck.next_due(sh.once) {
            let wait = at.saturating_duration_since(std::time::Instant::now());
            if sh.once || wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = sh.stop.changed() => return Ok(()),
                }
                continue;
            }
        }
        if sh.once {
            let _ = s.logout().await;
            return Ok(());
        }
        // Woken by new mail, the safety poll, or the next stuck message's time.
        let until_stuck = stuck
            .next_due(false)
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or(Duration::MAX);
        let poll = Duration::from_secs(imap.poll_seconds).min(until_stuck);
        if has_idle {
            let mut idle = s.idle();
            idle.init().await?;
            // Silence is the server's right while idling (the watchdog
            // waits again from DONE on).
            in_idle.store(true, std::sync::atomic::Ordering::Relaxed);
            // Re-issued at most every 29 minutes (RFC 2177), or at the safety poll.
            let wait_for = poll.min(Duration::from_secs(29 * 60));
            let stopped = {
                let (fut, interrupt) = idle.wait_with_timeout(wait_for);
                let mut stop = sh.stop.clone();
                tokio::pin!(fut);
                let stopped = tokio::select! {
                    r = tokio::time::timeout(wait_for, &mut fut) => {
                        if let Ok(r) = r { r?; }
                        false
                    }
                    _ = stop.changed() => true,
                };
                drop(interrupt);
                stopped
            };
            in_idle.store(false, std::sync::atomic::Ordering::Relaxed);
            s = idle.done().await?;
            if stopped {
                let _ = s.logout().await;
                return Ok(());
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = sh.stop.changed() => { let _ = s.logout().await; return Ok(()); }
            }
            s.noop().await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_a_count_and_about_a_size() {
        let uids: Vec<u32> = (1..=7).collect();
        let sizes: std::collections::HashMap<u32, usize> =
            [(1, 10), (2, 10), (3, 50), (4, 100), (5, 1), (6, 1), (7, 1)].into();
        // Three batches by count (3, 2, 2), split further by size.
        assert_eq!(
            chunk_uids(&uids, &sizes, 3, 60),
            vec![vec![1, 2], vec![3], vec![4], vec![5], vec![6, 7]]
        );
        // Count alone, and sizes unknown: even, no small remainder.
        assert_eq!(
            chunk_uids(&uids, &Default::default(), 3, 60),
            vec![vec![1, 2, 3], vec![4, 5], vec![6, 7]]
        );
        assert!(chunk_uids(&[], &sizes, 3, 60).is_empty());
        let lens = |n: u32, batch: usize| -> Vec<usize> {
            let many: Vec<u32> = (1..=n).collect();
            chunk_uids(&many, &Default::default(), batch, 1 << 20)
                .iter()
                .map(Vec::len)
                .collect()
        };
        // A backlog starts small (32, 64, …); the rest is split evenly
        // into batches of at most `batch`.
        assert_eq!(lens(300, 100), [32, 64, 68, 68, 68]);
        assert_eq!(lens(2000, 500), [32, 64, 128, 256, 380, 380, 380, 380]);
        assert_eq!(lens(40, 500), [32, 8]);
        assert_eq!(lens(1, 500), [1]);
        assert_eq!(lens(5, 1), [1, 1, 1, 1, 1]);
        // The order is kept.
        let many: Vec<u32> = (1..=300).rev().collect();
        let flat: Vec<u32> = chunk_uids(&many, &Default::default(), 100, 1 << 20).concat();
        assert_eq!(flat, many);
    }

    fn reports(uids: std::ops::Range<u32>) -> Vec<Report> {
        uids.map(|u| Report {
            handle: u.to_string(),
            key: format!("mid:{u}"),
            verdict: "applied:new_req".into(),
            item: None,
            disposition: Disposition::Processed,
            micros: 0,
        })
        .collect()
    }

    #[tokio::test]
    async fn the_move_queue_shares_batches_between_two_connections() {
        let q = MoveQueue::default();
        q.lock().workers = 1;
        q.push(reports(1..4));
        q.push(vec![]); // nothing to move: not queued
        q.push(reports(4..6));
        // Alone, a connection takes everything for one command.
        let all: Vec<u32> = uids_of(&q.take().await.unwrap()).collect();
        assert_eq!(all, [1, 2, 3, 4, 5]);
        // With two, half of the batches (rounded up), in order.
        q.lock().workers = 2;
        q.push(reports(6..8));
        q.push_halves(reports(8..13));
        let a: Vec<u32> = uids_of(&q.take().await.unwrap()).collect();
        let b: Vec<u32> = uids_of(&q.take().await.unwrap()).collect();
        assert_eq!((a, b), (vec![6, 7, 8, 9], vec![10, 11, 12]));
        // A taker waits for a batch, and ends once the queue is closed.
        let waiting = q.take();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        q.push(reports(13..14));
        let c: Vec<u32> = uids_of(&waiting.await.unwrap()).collect();
        assert_eq!(c, [13]);
        let waiting = q.take();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        q.close();
        assert!(waiting.await.is_none());
    }

    #[tokio::test]
    async fn a_mover_dropped_unfinished_closes_its_queue() {
        let queue = std::sync::Arc::new(MoveQueue::default());
        let idle = || tokio::spawn(async { Ok(vec![]) });
        // Finished: the round goes on, the queue stays open.
        let m = Mover {
            task: Some(idle()),
            queue: queue.clone(),
        };
        assert!(m.finish().await.unwrap().is_empty());
        assert!(!queue.lock().closed);
        // Dropped on an error: closed, so that its task ends.
        drop(Mover {
            task: Some(idle()),
            queue: queue.clone(),
        });
        assert!(queue.lock().closed);
    }

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
    }
}
