//! Posting to a group robot's webhook over HTTPS (reqwest, with the same
//! TLS roots as IMAP and SMTP). What the answer means is `im::answer`'s
//! to say; a robot's token and secret never reach an error or a log line.

use crate::im::answer::{self, Delivery};
use crate::im::{payload, ImMessage, Robot};
use std::time::Duration;

/// One post's result: what it means, and the platform's own answer.
#[derive(Debug, Clone)]
pub struct Posted {
    pub delivery: Delivery,
    /// The HTTP status, when the platform answered.
    pub status: Option<u16>,
    /// The answer's body (scrubbed of the robot's token and secret).
    pub body: String,
}

/// An HTTPS client for robots (cheap to clone: robots with the same
/// `ca_file` and timeout share one, and its connection pool).
#[derive(Clone)]
pub struct ImClient {
    http: reqwest::Client,
}

impl ImClient {
    /// A client trusting the system's roots and `ca_pem`, giving a post
    /// `timeout` in all.
    pub fn new(ca_pem: Option<&[u8]>, timeout: Duration) -> Result<ImClient, String> {
        let tls = crate::net::client_config(ca_pem)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("crossdesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.without_url().to_string())?;
        Ok(ImClient { http })
    }

    /// Posts `msg` to `robot`, signed for `now_ms` when it signs.
    pub async fn post(&self, robot: &Robot, msg: &ImMessage, now_ms: i64) -> Posted {
        let req = payload::request(robot.shape(), msg, now_ms);
        let url = payload::url_with(&robot.url, &req.query);
        let sent = self
            .http
            .post(&url)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(req.body.to_string())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let why = robot.scrub(&e.without_url().to_string());
                return Posted {
                    delivery: Delivery::Retry {
                        after_s: 30,
                        why: format!("{}: {why}", robot.platform),
                    },
                    status: None,
                    body: String::new(),
                };
            }
        };
        let status = resp.status().as_u16();
        let body = match resp.text().await {
            Ok(b) => robot.scrub(&b),
            Err(e) => {
                return Posted {
                    delivery: Delivery::Retry {
                        after_s: 30,
                        why: robot.scrub(&e.without_url().to_string()),
                    },
                    status: Some(status),
                    body: String::new(),
                }
            }
        };
        let delivery = match answer::read(robot.platform, status, &body) {
            Delivery::Retry { after_s, why } => Delivery::Retry {
                after_s,
                why: robot.scrub(&why),
            },
            Delivery::Failed(why) => Delivery::Failed(robot.scrub(&why)),
            Delivery::Sent => Delivery::Sent,
        };
        Posted {
            delivery,
            status: Some(status),
            body,
        }
    }
}

/// A robot as configured, with what its client needs: the extra CA
/// certificates of its `ca_file` and its `timeout_seconds`.
fn robot_setup(
    cfg: &crate::config::Config,
    name: &str,
) -> Result<(Robot, Option<Vec<u8>>, u64), String> {
    let robot = cfg.robot(name).map_err(|e| e.to_string())?;
    let rc = cfg
        .im
        .iter()
        .find(|r| r.name == name)
        .expect("cfg.robot found it");
    let ca = match &rc.ca_file {
        Some(f) => {
            let p = cfg.resolve(f);
            Some(std::fs::read(&p).map_err(|e| format!("im ca_file {}: {e}", p.display()))?)
        }
        None => None,
    };
    Ok((robot, ca, rc.timeout_seconds))
}

/// A robot's client as configured: the system's roots plus its `ca_file`,
/// its `timeout_seconds`.
pub fn client_for(cfg: &crate::config::Config, name: &str) -> Result<(Robot, ImClient), String> {
    let (robot, ca, timeout) = robot_setup(cfg, name)?;
    let client = ImClient::new(ca.as_deref(), Duration::from_secs(timeout))?;
    Ok((robot, client))
}

/// `crossdesk im test NAME`: one short message to the robot, now, in the
/// configured default language, from `templates/<locale>/im/test.hbs`.
pub fn test_message(cfg: &crate::config::Config, name: &str) -> Result<(Robot, Posted), String> {
    let (robot, client) = client_for(cfg, name)?;
    let dir = cfg.templates.dir.as_deref().map(|d| cfg.resolve(d));
    let renderer = crate::render::Renderer::new(dir.as_deref()).map_err(|e| e.to_string())?;
    let ctx = crate::model::MailCtx {
        title: name.to_string(),
        workflow_address: cfg.mail.address.clone(),
        ..Default::default()
    };
    let msg = renderer
        .render_im("test", &cfg.locale.default, &ctx)
        .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let posted = rt.block_on(client.post(&robot, &msg, chrono::Utc::now().timestamp_millis()));
    Ok((robot, posted))
}

/// A robot as the sender keeps it: where to post, and its pace.
pub struct Paced {
    pub robot: Robot,
    pub client: ImClient,
    pub pacer: crate::im::pace::Pacer,
}

/// The configured robots with their clients and paces, for the drain.
#[derive(Default)]
pub struct ImSender {
    pub robots: std::collections::BTreeMap<String, Paced>,
}

impl ImSender {
    /// Every `[[im]]` robot that can be set up; those that cannot (their
    /// URL file unreadable, say) come back with why, and their messages
    /// wait in the queue.
    pub fn new(cfg: &crate::config::Config) -> (ImSender, Vec<(String, String)>) {
        let mut s = ImSender::default();
        let mut broken = vec![];
        // Reading the system's roots takes milliseconds: once per distinct
        // (ca_file, timeout), not once per robot.
        let mut clients: std::collections::HashMap<(Option<Vec<u8>>, u64), ImClient> =
            Default::default();
        for rc in &cfg.im {
            let client = robot_setup(cfg, &rc.name).and_then(|(robot, ca, timeout)| {
                let key = (ca, timeout);
                let client = match clients.get(&key) {
                    Some(c) => c.clone(),
                    None => {
                        let c = ImClient::new(key.0.as_deref(), Duration::from_secs(timeout))?;
                        clients.insert(key, c.clone());
                        c
                    }
                };
                Ok((robot, client))
            });
            match client {
                Ok((robot, client)) => {
                    let pacer = crate::im::pace::Pacer::new(robot.platform, rc.per_minute);
                    s.robots.insert(
                        rc.name.clone(),
                        Paced {
                            robot,
                            client,
                            pacer,
                        },
                    );
                }
                Err(e) => broken.push((rc.name.clone(), e)),
            }
        }
        (s, broken)
    }

    pub fn is_empty(&self) -> bool {
        self.robots.is_empty()
    }
}
