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

use super::{Disposition, RawMail};
use crate::config::{Config, ImapConfig, ServerUrl, TlsMode};
use crate::engine::{Engine, Report};
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
    #[error("{0}")]
    Other(String),
}

/// Builds a rustls client config from the system roots plus an optional PEM file.
pub fn tls_connector(ca_pem: Option<&[u8]>) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        let _ = roots.add(c);
    }
    if let Some(pem) = ca_pem {
        let mut rd = pem;
        for c in rustls_pemfile_certs(&mut rd)? {
            roots.add(c).map_err(|e| format!("ca_file: {e}"))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// PEM → DER certificates, without another dependency: the base64 between
/// BEGIN/END CERTIFICATE lines.
fn rustls_pemfile_certs(
    pem: &mut &[u8],
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "ca_file is not PEM text".to_string())?;
    let mut out = vec![];
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let l = line.trim();
        if l == "-----BEGIN CERTIFICATE-----" {
            cur = Some(String::new());
        } else if l == "-----END CERTIFICATE-----" {
            if let Some(b) = cur.take() {
                out.push(tokio_rustls::rustls::pki_types::CertificateDer::from(
                    b64_decode(&b).ok_or("ca_file: bad base64")?,
                ));
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(l);
        }
    }
    if out.is_empty() {
        return Err("ca_file holds no certificate".into());
    }
    Ok(out)
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// Connects and logs in; the caller owns the session.
pub async fn connect(cfg: &Config, imap: &ImapConfig) -> Result<ImapSession, ImapError> {
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
    client
        .login(&imap.user, &pass)
        .await
        .map_err(|(e, _)| ImapError::Login(imap.user.clone(), e.to_string()))
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
    loop {
        if *sh.stop.borrow() {
            return Ok(());
        }
        match session_loop(&cfg, &imap, &mut sh, &mut backoff).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                if sh.once {
                    return Err(e);
                }
                let jitter = rand::random::<f64>() * 0.5 + 0.75;
                let wait = backoff.mul_f64(jitter);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "imap connection lost; reconnecting");
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

/// Moves committed batches on a second connection while the first one
/// fetches (a backlog's moves cost the server more than its fetches).
/// Batches that commit while a move is in flight go out as one command.
struct Mover {
    tx: tokio::sync::mpsc::UnboundedSender<Vec<Report>>,
    task: tokio::task::JoinHandle<Result<Vec<u32>, ImapError>>,
    /// Batches handed over and not yet moved.
    pending: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Mover {
    async fn start(
        cfg: &Config,
        imap: &ImapConfig,
        validity: u32,
        has_move: bool,
        has_uidplus: bool,
    ) -> Result<Mover, ImapError> {
        let mut s = connect(cfg, imap).await?;
        let mb = s.select(&imap.folder).await?;
        // UIDs name the same messages only under the same UIDVALIDITY.
        if mb.uid_validity.unwrap_or(0) != validity {
            let _ = s.logout().await;
            return Err(ImapError::Other(
                "UIDVALIDITY changed while opening the second connection".into(),
            ));
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Report>>();
        let imap = imap.clone();
        let pending = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let left = pending.clone();
        let task = tokio::spawn(async move {
            let mut moved = vec![];
            while let Some(mut reports) = rx.recv().await {
                let mut n = 1;
                while let Ok(more) = rx.try_recv() {
                    reports.extend(more);
                    n += 1;
                }
                move_done(&mut s, &imap, &reports, has_move, has_uidplus).await?;
                left.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
                moved.extend(uids_of(&reports));
            }
            let _ = s.logout().await;
            Ok(moved)
        });
        Ok(Mover { tx, task, pending })
    }

    /// Hands a committed batch over; false when the mover has stopped.
    fn send(&self, reports: Vec<Report>) -> bool {
        self.pending
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tx.send(reports).is_ok()
    }

    /// Whether a move is in flight or waiting.
    fn busy(&self) -> bool {
        self.pending.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Waits for every move handed over; returns the UIDs moved.
    async fn finish(self) -> Result<Vec<u32>, ImapError> {
        drop(self.tx);
        self.task
            .await
            .map_err(|e| ImapError::Other(e.to_string()))?
    }
}

/// The second connection of a round: none, logging in in the background,
/// or ready for moves.
#[derive(Default)]
enum MoverSlot {
    #[default]
    None,
    Starting(tokio::task::JoinHandle<Result<Mover, ImapError>>),
    Ready(Mover),
}

impl MoverSlot {
    fn start(
        cfg: &Config,
        imap: &ImapConfig,
        validity: u32,
        has_move: bool,
        has_uidplus: bool,
    ) -> MoverSlot {
        let (cfg, imap) = (cfg.clone(), imap.clone());
        MoverSlot::Starting(tokio::spawn(async move {
            Mover::start(&cfg, &imap, validity, has_move, has_uidplus).await
        }))
    }

    /// The mover, once logged in; None when there is none, or it could not
    /// log in (the moves are then made on the first connection).
    async fn ready(&mut self) -> Option<&Mover> {
        if let MoverSlot::Starting(h) = self {
            *self = match h.await {
                Ok(Ok(m)) => MoverSlot::Ready(m),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "no second connection; moving on this one");
                    MoverSlot::None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no second connection; moving on this one");
                    MoverSlot::None
                }
            };
        }
        match self {
            MoverSlot::Ready(m) => Some(m),
            _ => None,
        }
    }
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
    let batch = batch.max(1);
    let mut counts = vec![];
    let mut left = uids.len();
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
    let mut out: Vec<Vec<u32>> = vec![];
    let mut rest = uids;
    for c in counts {
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

/// Fetches one chunk of UIDs, in the chunk's order. The flag says whether
/// a UID could not be fetched yet: it is skipped this round and retried
/// (the cursor does not pass it); the mail behind it is not held up.
async fn fetch_chunk(
    s: &mut ImapSession,
    chunk: &[u32],
) -> Result<(Vec<RawMail>, bool), ImapError> {
    let fetched: Vec<_> = s
        .uid_fetch(uid_set(chunk), "(UID INTERNALDATE BODY.PEEK[])")
        .await?
        .try_collect()
        .await?;
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
    let mut mails = vec![];
    let mut missing = false;
    for u in chunk {
        match by_uid.remove(u) {
            Some(m) => mails.push(m),
            None => {
                tracing::info!(uid = u, "message not fetchable yet; will retry");
                missing = true;
            }
        }
    }
    Ok((mails, missing))
}

/// Moves the messages of a committed chunk: acted on → the processed
/// folder, set aside → the rejected one (COPY + \Deleted + EXPUNGE where
/// the server lacks MOVE).
async fn move_done(
    s: &mut ImapSession,
    imap: &ImapConfig,
    reports: &[Report],
    has_move: bool,
    has_uidplus: bool,
) -> Result<(), ImapError> {
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
    for (uids, folder) in [
        (&processed, &imap.processed_folder),
        (&rejected, &imap.rejected_folder),
    ] {
        if uids.is_empty() {
            continue;
        }
        let set = uid_set(uids);
        let t = std::time::Instant::now();
        if has_move {
            s.uid_mv(&set, folder).await?;
        } else {
            s.uid_copy(&set, folder).await?;
            let _: Vec<_> = s
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect()
                .await?;
            if has_uidplus {
                let _: Vec<_> = s.uid_expunge(&set).await?.try_collect().await?;
            } else {
                let _: Vec<_> = s.expunge().await?.try_collect().await?;
            }
        }
        tracing::debug!(messages = uids.len(), to = %folder, ms = ms(t), "moved");
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
) -> Result<(), ImapError> {
    let mut s = connect(cfg, imap).await?;
    *backoff = Duration::from_secs(1);
    let caps = s.capabilities().await?;
    let has_move = caps.has_str("MOVE");
    let has_idle = caps.has_str("IDLE") && imap.idle;
    let has_uidplus = caps.has_str("UIDPLUS");
    let mut has_sort = caps.has_str("SORT");
    drop(caps);
    ensure_folder(&mut s, &imap.processed_folder).await?;
    ensure_folder(&mut s, &imap.rejected_folder).await?;
    let mb = s.select(&imap.folder).await?;
    let validity = mb.uid_validity.unwrap_or(0);
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
    tracing::info!(folder = %imap.folder, uidvalidity = validity, last_uid, idle = has_idle, r#move = has_move, "imap ready");
    let batch = cfg.store.batch.max(1);
    let classifier = sh
        .engine
        .lock()
        .map_err(|_| ImapError::Other("engine lock poisoned".into()))?
        .classifier();
    let mut stall_rounds = 0u32;
    loop {
        // Drain the notifications queue; SORT/SEARCH below is what counts.
        while s.unsolicited_responses.try_recv().is_ok() {}
        // A backlog of more than one batch gets a second connection for its
        // moves (a message or two is moved on this one). It logs in in the
        // background, while this one finds the backlog and fetches; when a
        // backlog is likely (the folder held more than a batch), at once.
        let mut mover = if exists_hint > batch {
            MoverSlot::start(cfg, imap, validity, has_move, has_uidplus)
        } else {
            MoverSlot::None
        };
        exists_hint = 0;
        let (uids, sizes) = find_backlog(&mut s, last_uid, &mut has_sort, batch).await?;
        if matches!(mover, MoverSlot::None) && uids.len() > batch {
            mover = MoverSlot::start(cfg, imap, validity, has_move, has_uidplus);
        }
        let mut ascending = uids.clone();
        ascending.sort_unstable();
        let mut done: std::collections::HashSet<u32> = Default::default();
        let mut stalled = false;
        // A pipeline over the chunks: while the engine acts on chunk k (on
        // a blocking thread), this connection fetches chunk k+1 and then
        // moves chunk k-1, whose transaction has committed. Chunk k+1 is
        // acted on only after chunk k committed, so order is kept.
        let mut acting: Option<tokio::task::JoinHandle<Result<Vec<Report>, String>>> = None;
        let chunked = chunk_uids(&uids, &sizes, batch, super::BATCH_BYTES);
        let mut chunks = chunked.iter().map(Vec::as_slice).peekable();
        loop {
            let chunk = if *sh.stop.borrow() {
                None
            } else {
                chunks.next()
            };
            let mut next = None;
            let fetched_all = chunks.peek().is_none();
            if let Some(chunk) = chunk {
                let t = std::time::Instant::now();
                let (mails, missing) = fetch_chunk(&mut s, chunk).await?;
                tracing::debug!(messages = mails.len(), ms = ms(t), "fetched");
                stalled |= missing;
                if !mails.is_empty() {
                    // Parsed on another blocking thread, beside the engine.
                    let max = cfg.limits.max_message_bytes;
                    let cl = classifier.clone();
                    next = Some(tokio::task::spawn_blocking(move || {
                        let parsed = crate::engine::parse_batch(&mails, max, Some(&cl));
                        (mails, parsed)
                    }));
                }
            }
            let committed = match acting.take() {
                Some(h) => Some(
                    h.await
                        .map_err(|e| ImapError::Other(e.to_string()))?
                        .map_err(ImapError::Other)?,
                ),
                None => None,
            };
            if let Some(next) = next {
                let (mails, parsed) = next.await.map_err(|e| ImapError::Other(e.to_string()))?;
                let engine = sh.engine.clone();
                let wm = sh.watermark;
                acting = Some(tokio::task::spawn_blocking(move || {
                    let mut e = engine
                        .lock()
                        .map_err(|_| "engine lock poisoned".to_string())?;
                    let now = crate::schedule::now(e.cfg.tz());
                    let t = std::time::Instant::now();
                    let r = e.ingest_parsed(&mails, parsed, now, wm);
                    tracing::debug!(messages = mails.len(), ms = ms(t), "acted and committed");
                    r.map_err(|e| e.to_string())
                }));
            }
            match committed {
                Some(reports) => {
                    sh.kick.notify_one();
                    // Once every chunk is fetched this connection is free:
                    // it moves what the mover has no time for (two servers'
                    // processes moving at once, at the end of a backlog).
                    let mut stopped = false;
                    let here = match mover.ready().await {
                        Some(m) if !(fetched_all && m.busy()) => {
                            stopped = !m.send(reports);
                            None
                        }
                        _ => Some(reports),
                    };
                    if stopped {
                        // The mover stopped: its error is the answer.
                        if let MoverSlot::Ready(m) = std::mem::take(&mut mover) {
                            m.finish().await?;
                        }
                        return Err(ImapError::Other("the moving connection stopped".into()));
                    }
                    if let Some(reports) = here {
                        move_done(&mut s, imap, &reports, has_move, has_uidplus).await?;
                        done.extend(uids_of(&reports));
                    }
                }
                None if acting.is_none() && chunk.is_none() => break,
                None => {}
            }
            if *sh.stop.borrow() && acting.is_none() {
                break;
            }
        }
        match mover {
            MoverSlot::Ready(m) => done.extend(m.finish().await?),
            // Never needed (nothing committed): it logs out when dropped.
            MoverSlot::Starting(h) => h.abort(),
            MoverSlot::None => {}
        }
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
                    .map_err(|e| ImapError::Other(e.to_string()))?;
            }
        }
        if *sh.stop.borrow() {
            return Ok(());
        }
        // A message not fetchable yet is retried soon a few times; one that
        // stays unreadable is retried at the normal pace (IDLE or poll)
        // rather than in a tight loop.
        if stalled {
            stall_rounds += 1;
            if stall_rounds <= 5 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = sh.stop.changed() => return Ok(()),
                }
                continue;
            }
        } else {
            stall_rounds = 0;
        }
        if !uids.is_empty() && !stalled {
            // More may have arrived while we worked: look again at once.
            continue;
        }
        if sh.once || *sh.stop.borrow() {
            let _ = s.logout().await;
            return Ok(());
        }
        let poll = Duration::from_secs(imap.poll_seconds);
        if has_idle {
            let mut idle = s.idle();
            idle.init().await?;
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

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn base64_decodes_pem_bodies() {
        assert_eq!(b64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(b64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert!(b64_decode("a$==").is_none());
    }
}
