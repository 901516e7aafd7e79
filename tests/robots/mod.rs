//! The tests' own HTTPS receiver for group-robot webhooks: it listens on
//! 127.0.0.1 with a certificate of its own CA, checks each platform's
//! token, signature (by the published algorithm, written here again) and
//! keyword, and answers as the platform does — or as a test asks it to
//! (rate limited, a server error, slowly).
#![allow(dead_code)]

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a robot answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As the platform: success, or its error for a bad token, signature
    /// or missing keyword.
    Normal,
    /// The platform's rate-limit error.
    Throttled,
    /// HTTP 500.
    Broken,
    /// Success, after this long.
    Slow(Duration),
    /// Down: every connection closed at once, before TLS.
    Down,
}

/// One robot the receiver plays.
#[derive(Debug, Clone)]
pub struct Bot {
    pub platform: &'static str,
    pub token: String,
    pub secret: Option<String>,
    pub keyword: Option<String>,
    pub mode: Mode,
}

/// A request the receiver took: the robot's token, the JSON body, and
/// whether it was accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub token: String,
    pub body: Value,
    pub accepted: bool,
    /// When it arrived (ms since the epoch).
    pub at_ms: i64,
    /// The platform's error code when it was not accepted.
    pub code: i64,
}

/// The platform's rate limits, (messages, window in ms): beyond them the
/// receiver answers as a throttled robot, as the platform would.
fn limits(platform: &str) -> &'static [(usize, i64)] {
    match platform {
        "feishu" => &[(100, 60_000), (5, 1_000)],
        _ => &[(20, 60_000)],
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    /// The receiver's CA certificate, PEM (for `ca_file`).
    pub ca_pem: String,
    bots: Arc<Mutex<HashMap<String, Bot>>>,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// No platform rate limit (benchmarks measure the drain, not the pace).
    unlimited: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    use base64::Engine;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    m.update(msg);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(h, 16).unwrap());
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn query(target: &str) -> HashMap<String, String> {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The text of a message as its platform shows it.
fn text_of(platform: &str, body: &Value) -> String {
    match platform {
        "dingtalk" => format!(
            "{} {}",
            body["markdown"]["title"].as_str().unwrap_or(""),
            body["markdown"]["text"].as_str().unwrap_or("")
        ),
        "wecom" => body["markdown"]["content"]
            .as_str()
            .or(body["text"]["content"].as_str())
            .unwrap_or("")
            .to_string(),
        _ => body.to_string(),
    }
}

/// The platform's answer to one request: (HTTP status, JSON body, accepted).
fn answer(
    bots: &HashMap<String, Bot>,
    recent: &[i64],
    target: &str,
    body: &Value,
) -> (u16, Value, bool, String) {
    let path = target.split('?').next().unwrap_or("");
    let q = query(target);
    let (platform, token) = if path == "/robot/send" {
        (
            "dingtalk",
            q.get("access_token").cloned().unwrap_or_default(),
        )
    } else if path == "/cgi-bin/webhook/send" {
        ("wecom", q.get("key").cloned().unwrap_or_default())
    } else if let Some(t) = path.strip_prefix("/open-apis/bot/v2/hook/") {
        ("feishu", t.to_string())
    } else {
        return (404, json!({"error": "not found"}), false, String::new());
    };
    let Some(bot) = bots.get(&token).filter(|b| b.platform == platform) else {
        let a = match platform {
            "dingtalk" => json!({"errcode": 300001, "errmsg": "token is not exist"}),
            "wecom" => json!({"errcode": 93000, "errmsg": "invalid webhook url, hint: [..]"}),
            _ => {
                json!({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"})
            }
        };
        return (200, a, false, token);
    };
    let ok = match platform {
        "feishu" => json!({"code": 0, "msg": "success", "data": {}}),
        _ => json!({"errcode": 0, "errmsg": "ok"}),
    };
    let now = now_ms();
    let over = limits(platform)
        .iter()
        .any(|&(n, w)| recent.iter().filter(|&&t| t > now - w).count() >= n);
    match bot.mode {
        Mode::Broken => return (500, json!({"error": "internal"}), false, token),
        _ if over || bot.mode == Mode::Throttled => {
            let a = match platform {
                "dingtalk" => {
                    json!({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
                }
                "wecom" => json!({"errcode": 45009, "errmsg": "api freq out of limit"}),
                _ => json!({"code": 9499, "msg": "too many request"}),
            };
            return (200, a, false, token);
        }
        _ => {}
    }
    // The signature, by each platform's published algorithm, the
    // timestamp within an hour.
    if let Some(secret) = &bot.secret {
        let good = match platform {
            "dingtalk" => {
                let ts: i64 = q.get("timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
                let want = hmac_b64(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes());
                (now_ms() - ts).abs() < 3_600_000 && q.get("sign") == Some(&want)
            }
            "feishu" => {
                let ts: i64 = body["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let want = hmac_b64(format!("{ts}\n{secret}").as_bytes(), b"");
                (now_ms() / 1000 - ts).abs() < 3600 && body["sign"].as_str() == Some(want.as_str())
            }
            _ => true,
        };
        if !good {
            let a = match platform {
                "dingtalk" => {
                    json!({"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"})
                }
                _ => {
                    json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
                }
            };
            return (200, a, false, token);
        }
    }
    if let Some(k) = &bot.keyword {
        if !text_of(platform, body).contains(k.as_str()) {
            let a = match platform {
                "dingtalk" => {
                    json!({"errcode": 310000, "errmsg": "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"})
                }
                _ => json!({"code": 19024, "msg": "Key Words Not Found"}),
            };
            return (200, a, false, token);
        }
    }
    (200, ok, true, token)
}

impl Receiver {
    /// Starts the receiver on 127.0.0.1 (an ephemeral port) playing `bots`.
    pub fn start(bots: Vec<Bot>) -> Receiver {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "crossdesk test robots CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let ca_pem = ca.pem();

        use tokio_rustls::rustls;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let bots: Arc<Mutex<HashMap<String, Bot>>> = Arc::new(Mutex::new(
            bots.into_iter().map(|b| (b.token.clone(), b)).collect(),
        ));
        let received = Arc::new(Mutex::new(vec![]));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let unlimited = Arc::new(AtomicBool::new(false));
        let (b2, r2, u2) = (bots.clone(), received.clone(), unlimited.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        acc = listener.accept() => {
                            let Ok((tcp, _)) = acc else { continue };
                            if b2.lock().unwrap().values().any(|b| b.mode == Mode::Down) {
                                drop(tcp);
                                continue;
                            }
                            let (acceptor, bots, received, unlimited) =
                                (acceptor.clone(), b2.clone(), r2.clone(), u2.clone());
                            tokio::spawn(async move {
                                if let Ok(tls) = acceptor.accept(tcp).await {
                                    let _ = serve(tls, bots, received, unlimited).await;
                                }
                            });
                        }
                    }
                }
            });
        });
        Receiver {
            addr,
            ca_pem,
            bots,
            received,
            unlimited,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// The webhook URL of a robot this receiver plays.
    pub fn url(&self, platform: &str, token: &str) -> String {
        let a = self.addr;
        match platform {
            "dingtalk" => format!("https://{a}/robot/send?access_token={token}"),
            "wecom" => format!("https://{a}/cgi-bin/webhook/send?key={token}"),
            _ => format!("https://{a}/open-apis/bot/v2/hook/{token}"),
        }
    }

    pub fn set_mode(&self, token: &str, mode: Mode) {
        self.bots.lock().unwrap().get_mut(token).unwrap().mode = mode;
    }

    /// Lifts the platforms' rate limits (for benchmarks of the drain).
    pub fn unlimited(&self) {
        self.unlimited.store(true, Ordering::Relaxed);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Serves HTTP/1.1 requests on one connection (keep-alive).
async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    bots: Arc<Mutex<HashMap<String, Bot>>>,
    received: Arc<Mutex<Vec<Received>>>,
    unlimited: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let mut buf: Vec<u8> = vec![];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Value =
            serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
        buf.drain(..head_end + len);
        let slow = {
            let b = bots.lock().unwrap();
            let q = target.clone();
            b.values()
                .find(|bot| q.contains(&bot.token))
                .and_then(|bot| match bot.mode {
                    Mode::Slow(d) => Some(d),
                    _ => None,
                })
        };
        if let Some(d) = slow {
            tokio::time::sleep(d).await;
        }
        let (status, answer) = {
            let mut got = received.lock().unwrap();
            let recent: Vec<i64> = if unlimited.load(Ordering::Relaxed) {
                vec![]
            } else {
                got.iter()
                    .filter(|r| r.accepted && target.contains(&r.token) && !r.token.is_empty())
                    .map(|r| r.at_ms)
                    .collect()
            };
            let (status, answer, accepted, token) =
                answer(&bots.lock().unwrap(), &recent, &target, &body);
            got.push(Received {
                token: token.clone(),
                body,
                accepted,
                at_ms: now_ms(),
                code: answer["errcode"]
                    .as_i64()
                    .or(answer["code"].as_i64())
                    .unwrap_or(0),
            });
            (status, answer)
        };
        let text = answer.to_string();
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        s.write_all(resp.as_bytes()).await?;
        s.flush().await?;
    }
}
