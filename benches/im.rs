//! The robot-message drain: a backlog of robot messages, one new
//! requirement after another for departments that each have a group robot
//! of their own (DingTalk robots that sign, DingTalk robots that do not,
//! WeCom robots, in turn), posted to the tests' own HTTPS receiver on
//! 127.0.0.1 (tests/robots). A robot may take 20 messages a minute, so a
//! drain is fast only across robots: each robot gets 20 (`BENCH_IM_MESSAGES`
//! / 20 robots), all within its pace. Feishu robots are left out: their
//! five a second would be measured, not the drain. Prints figures; asserts
//! nothing about speed. Needs no mail server.
//!
//!   cargo bench --bench im
//!   BENCH_IM_MESSAGES=N …   (robot messages per run; default 2,000)
//!   BENCH_RUNS=N …          (runs, each a baseline then crossdesk; default 3)
//!
//! Figures printed, per run and the median:
//! - baseline: a plain reqwest loop per robot posting the same requests
//!   (bodies and signed URLs built beforehand), robots side by side on one
//!   client, as the daemon posts them
//! - crossdesk: `daemon::im_round` until the queue is empty: render each
//!   message in its department's language, sign, post, read the platform's
//!   answer, record it in the store, keep each robot's pace

mod common;
#[path = "../tests/robots/mod.rs"]
mod robots;

use crossdesk::config::Config;
use crossdesk::engine::Engine;
use crossdesk::ingest::process_backlog;
use crossdesk::source::maildir::MaildirSource;
use robots::{Bot, Mode, Receiver};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Messages each robot gets: its platform's limit for a minute.
const PER_ROBOT: usize = 20;

/// Robot `k`: (name, platform, token, secret).
fn robot(k: usize) -> (String, &'static str, String, Option<String>) {
    let platform = ["dingtalk", "wecom", "dingtalk"][k % 3];
    let secret = k
        .is_multiple_of(3)
        .then(|| format!("SEC{k:04}f1e2d3c4b5a69788796a5b4c3"));
    (
        format!("bot{k}"),
        platform,
        format!("tok{k:04}0123456789abcdef"),
        secret,
    )
}

/// The benchmarks' desk and `robots` departments more, `d0`, `d1`, …,
/// each with its robot; every other one speaks English.
fn config(dir: &Path, rx: &Receiver, robots: usize) -> Config {
    std::fs::write(dir.join("robots-ca.pem"), &rx.ca_pem).unwrap();
    let mut text = common::desk_toml(500);
    let mut mobiles = String::from("[mobiles]\n");
    for k in 0..robots {
        let (name, platform, token, secret) = robot(k);
        let locale = if k % 2 == 1 { "locale = \"en\"\n" } else { "" };
        text.push_str(&format!(
            "[[departments]]\nid = \"d{k}\"\nname = \"部门{k}\"\ngroup = \"d{k}@corp.example\"\n\
             leads = [\"lead{k}@corp.example\"]\nmembers = [\"m{k}@corp.example\"]\nim = \"{name}\"\n{locale}"
        ));
        mobiles.push_str(&format!("\"lead{k}@corp.example\" = \"1380000{k:04}\"\n"));
        std::fs::write(dir.join(format!("{name}.url")), rx.url(platform, &token)).unwrap();
        text.push_str(&format!(
            "[[im]]\nname = \"{name}\"\nkind = \"{platform}\"\nurl_file = \"{name}.url\"\n\
             ca_file = \"robots-ca.pem\"\n"
        ));
        if let Some(s) = secret {
            std::fs::write(dir.join(format!("{name}.secret")), s).unwrap();
            text.push_str(&format!("secret_file = \"{name}.secret\"\n"));
        }
    }
    text.push_str(&mobiles);
    Config::from_str(&text, "bench.toml", dir).expect("bench config")
}

/// `n` new requirements from zhaoliu, each for one of `robots`
/// departments in turn: each queues one robot message (`dept_new`).
fn write_backlog(dir: &Path, n: usize, robots: usize) {
    let new = dir.join("inbox").join("new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::create_dir_all(dir.join("inbox").join("cur")).unwrap();
    std::fs::create_dir_all(dir.join("inbox").join("tmp")).unwrap();
    for i in 0..n {
        let dept = format!("d{}", i % robots);
        let raw = common::new_req(&format!("im-bench.{i}"), i, &dept);
        std::fs::write(new.join(format!("{i:08}.bench")), raw).unwrap();
    }
}

struct Run {
    base_s: f64,
    cd_s: f64,
    posted: usize,
}

fn run(n: usize, rt: &tokio::runtime::Runtime) -> Run {
    let robots = n.div_ceil(PER_ROBOT);
    let rx = Receiver::start(
        (0..robots)
            .map(|k| {
                let (_, platform, token, secret) = robot(k);
                Bot {
                    platform,
                    token,
                    secret,
                    keyword: None,
                    mode: Mode::Normal,
                }
            })
            .collect(),
    );
    // The baseline and crossdesk post to the same robots within a minute:
    // together past the platforms' limit, each within it.
    rx.unlimited();
    let dir = tempfile::tempdir().unwrap();
    write_backlog(dir.path(), n, robots);
    let cfg = config(dir.path(), &rx, robots);
    let mut engine = Engine::new(cfg.clone()).unwrap();
    let mut source = MaildirSource::open(&dir.path().join("inbox")).unwrap();
    process_backlog(&mut engine, &mut source, None, &|| false, |_| {}).unwrap();

    // The baseline's requests: the same messages, rendered and signed
    // before the clock starts.
    let now = chrono::Utc::now();
    let prepared = engine.prepare_im(now, n * 2).unwrap();

    assert_eq!(prepared.len(), n, "one robot message per requirement");
    let mut by_robot: std::collections::BTreeMap<String, Vec<(String, String)>> =
        Default::default();
    for p in &prepared {
        let robot = cfg.robot(&p.robot).unwrap();
        let req = crossdesk::im::payload::request(
            robot.shape(),
            p.msg.as_ref().unwrap(),
            now.timestamp_millis(),
        );
        let url = crossdesk::im::payload::url_with(&robot.url, &req.query);
        by_robot
            .entry(p.robot.clone())
            .or_default()
            .push((url, req.body.to_string()));
    }
    let tls = crossdesk::net::client_config(Some(rx.ca_pem.as_bytes())).unwrap();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap();
    let t = Instant::now();
    let ok: usize = rt.block_on(async {
        let loops = by_robot.values().map(|reqs| {
            let http = &http;
            async move {
                let mut ok = 0;
                for (url, body) in reqs {
                    let r = http
                        .post(url)
                        .header("Content-Type", "application/json; charset=utf-8")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    let text = r.text().await.unwrap();
                    ok += usize::from(text.contains("\"errcode\":0"));
                }
                ok
            }
        });
        futures::future::join_all(loops).await.into_iter().sum()
    });
    let base_s = t.elapsed().as_secs_f64();
    assert_eq!(ok, n, "the receiver took every baseline request");
    let before = rx.received().len();

    // crossdesk: rounds of the daemon's drain until the queue is empty.
    let shared: crossdesk::daemon::SharedEngine = Arc::new(Mutex::new(engine));
    let (_stop_tx, stop) = crossdesk::shutdown::channel();
    let posted = rt.block_on(async {
        let (mut im, broken) = crossdesk::send::im::ImSender::new(&cfg);
        assert!(broken.is_empty(), "{broken:?}");
        let t = Instant::now();
        let mut posted = 0;
        loop {
            let s = crossdesk::daemon::im_round(&shared, &mut im, &stop)
                .await
                .unwrap();
            assert_eq!(s.failed + s.retry, 0, "{s:?}");
            if s.sent == 0 {
                break;
            }
            posted += s.sent;
        }
        (posted, t.elapsed().as_secs_f64())
    });
    let (posted, cd_s) = posted;
    let got = rx.received();
    let accepted = got[before..].iter().filter(|r| r.accepted).count();
    let refused: Vec<i64> = got[before..]
        .iter()
        .filter(|r| !r.accepted)
        .map(|r| r.code)
        .collect();
    assert_eq!(
        (accepted, posted),
        (n, n),
        "the receiver took every robot message once; refused: {refused:?}"
    );
    Run {
        base_s,
        cd_s,
        posted,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::var("BENCH_IM_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "robot-message drain: {n} messages, {PER_ROBOT} to each of {} robots (DingTalk signed, WeCom, DingTalk), HTTPS on 127.0.0.1",
        n.div_ceil(PER_ROBOT)
    );
    let (mut base, mut cd) = (vec![], vec![]);
    for i in 1..=runs {
        let r = run(n, &rt);
        let (b, c) = (n as f64 / r.base_s, r.posted as f64 / r.cd_s);
        println!(
            "run {i}: baseline reqwest loop {b:>7.0} msg/s ({:.3} s)   crossdesk im drain {c:>7.0} msg/s ({:.3} s, {} posted) = {:.2}x",
            r.base_s,
            r.cd_s,
            r.posted,
            c / b
        );
        base.push(b);
        cd.push(c);
    }
    let (b, c) = (median(base), median(cd));
    println!(
        "median: baseline {b:.0} msg/s, crossdesk {c:.0} msg/s = {:.2}x of the baseline",
        c / b
    );
}
