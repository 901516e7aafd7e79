//! The IMAP mailbox client (async-imap on tokio): connecting (TLS, a
//! watchdog on a silent server), finding the backlog past a cursor in
//! arrival order, fetching chunks of it, moving what was acted on to the
//! processed or rejected folder (`UID MOVE`, or COPY + EXPUNGE), and
//! waiting for news (IDLE, re-issued well within 29 minutes, with a safety
//! poll; plain polling otherwise). It knows nothing of the engine:
//! `crate::ingest::imap` drives it.

use super::mutf7::{display_name, wire_name};
use super::{Disposition, RawMail, Stuck};
use crate::config::{Config, ImapConfig, ServerUrl, TlsMode};
use crate::net::tls_connector;
use async_imap::{Client, Session};
use chrono::Utc;
use futures::TryStreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

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
    /// A setting it was given cannot be used (the URL, the password's
    /// file or variable).
    #[error("{0}")]
    Config(String),
    /// The server said something the client cannot go on from.
    #[error("{0}")]
    Protocol(String),
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
    let url = ServerUrl::parse(&imap.url, "imap").map_err(ImapError::Config)?;
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
        .map_err(|e| ImapError::Config(e.to_string()))?;
    let session = client
        .login(&imap.user, &pass)
        .await
        .map_err(|(e, _)| ImapError::Login(imap.user.clone(), e.to_string()))?;
    Ok((session, in_idle))
}

async fn greeting(c: &mut Client<Box<dyn ImapStream>>) -> Result<(), ImapError> {
    match c.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Protocol(
            "server closed the connection before its greeting".into(),
        )),
        Err(e) => Err(ImapError::Protocol(format!("greeting: {e}"))),
    }
}

/// Creates a folder unless it exists.
pub async fn ensure_folder(s: &mut ImapSession, name: &str) -> Result<(), ImapError> {
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

/// Milliseconds since `t`, for the debug timeline of a backlog.
pub(crate) fn ms(t: std::time::Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e4).round() / 10.0
}

/// Fetches one chunk of UIDs, in the chunk's order. A UID whose body did
/// not come back is noted in `stuck` (and logged): it is skipped this
/// round and fetched again on its own later (the cursor does not pass it).
pub async fn fetch_chunk(
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
pub struct MoveTo {
    pub processed: String,
    pub rejected: String,
    pub has_move: bool,
    pub has_uidplus: bool,
}

/// Moves the messages of a committed chunk: acted on → the processed
/// folder, set aside → the rejected one (COPY + \Deleted + EXPUNGE where
/// the server lacks MOVE).
pub async fn move_done(
    s: &mut ImapSession,
    to: &MoveTo,
    done: &[(u32, Disposition)],
) -> Result<(), ImapError> {
    let mut processed = vec![];
    let mut rejected = vec![];
    for &(uid, disposition) in done {
        match disposition {
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
/// `ingest::imap::chunk_uids`. UID order need not be arrival order (Dovecot numbers a
/// Maildir backlog in directory order at its first sync), and a reply must
/// never come before what it answers.
///
/// With SORT (RFC 5256) the server orders them in one response, and only
/// messages larger than `BATCH_BYTES / batch` have their size fetched: the
/// others count as that much, so that a batch of them stays within
/// `BATCH_BYTES`. Without it, every UID's INTERNALDATE and RFC822.SIZE is
/// fetched and sorted here; so also when the server refuses the SORT
/// (`has_sort` is then cleared for the session).
pub async fn find_backlog(
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
            .map_err(|e| ImapError::Protocol(format!("UID SORT: {e}")))?
        else {
            return Err(ImapError::Protocol(
                "connection closed during UID SORT".into(),
            ));
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

/// A session ready to work: logged in, the processed and rejected
/// folders there, the watched folder selected.
pub struct Opened {
    pub session: ImapSession,
    /// Set while the session waits in IDLE (its watchdog then lets the
    /// server stay silent).
    pub in_idle: InIdle,
    pub to: MoveTo,
    pub has_idle: bool,
    pub has_sort: bool,
    pub validity: u32,
    /// How many messages the folder holds.
    pub exists: u32,
}

/// Connects, logs in, creates the processed and rejected folders if
/// missing, and selects the watched folder.
pub async fn open(cfg: &Config, imap: &ImapConfig) -> Result<Opened, ImapError> {
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
    let has_sort = caps.has_str("SORT");
    drop(caps);
    ensure_folder(&mut s, &to.processed).await?;
    ensure_folder(&mut s, &to.rejected).await?;
    let mb = s.select(&watched).await?;
    Ok(Opened {
        session: s,
        in_idle,
        to,
        has_idle,
        has_sort,
        validity: mb.uid_validity.unwrap_or(0),
        exists: mb.exists,
    })
}

/// Waits for news on the selected folder: new mail (IDLE), or `poll` gone
/// by (then a NOOP), or `stop` resolving. Returns the session to go on
/// with, or `None` once stopped (the session logged out).
pub async fn wait_for_news(
    mut s: ImapSession,
    in_idle: &InIdle,
    has_idle: bool,
    poll: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<ImapSession>, ImapError> {
    tokio::pin!(stop);
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
            tokio::pin!(fut);
            let stopped = tokio::select! {
                r = tokio::time::timeout(wait_for, &mut fut) => {
                    if let Ok(r) = r { r?; }
                    false
                }
                _ = &mut stop => true,
            };
            drop(interrupt);
            stopped
        };
        in_idle.store(false, std::sync::atomic::Ordering::Relaxed);
        s = idle.done().await?;
        if stopped {
            let _ = s.logout().await;
            return Ok(None);
        }
    } else {
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = &mut stop => { let _ = s.logout().await; return Ok(None); }
        }
        s.noop().await?;
    }
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
    }
}
