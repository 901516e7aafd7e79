//! The group robots (docs/operations.md#im) through the real binary,
//! against the tests' own HTTPS receiver on 127.0.0.1 (tests/robots),
//! which checks each platform's signature by the published algorithm and
//! answers as the platform does: `crossdesk im test` reaches each
//! platform signed and is told apart from a bad secret, a missing
//! keyword, a bad token, throttling, a server error and a receiver that
//! is down; `check` reads the robots' settings; no token or secret is ever
//! printed.

mod common;
mod robots;

use common::*;
use robots::{Bot, Mode, Receiver};

const DING_TOKEN: &str = "dingtoken0123456789abcdef";
const DING_SECRET: &str = "SEC0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const WECOM_KEY: &str = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";
const FEISHU_HOOK: &str = "2d7b8e6f-1a2b-4c3d-9e8f-0a1b2c3d4e5f";
const FEISHU_SECRET: &str = "feishusecretQWERTY123456";

fn bots() -> Vec<Bot> {
    vec![
        Bot {
            platform: "dingtalk",
            token: DING_TOKEN.into(),
            secret: Some(DING_SECRET.into()),
            keyword: None,
            mode: Mode::Normal,
        },
        Bot {
            platform: "wecom",
            token: WECOM_KEY.into(),
            secret: None,
            keyword: None,
            mode: Mode::Normal,
        },
        Bot {
            platform: "feishu",
            token: FEISHU_HOOK.into(),
            secret: Some(FEISHU_SECRET.into()),
            keyword: None,
            mode: Mode::Normal,
        },
        // A DingTalk robot with a keyword setting (告警) and no signing.
        Bot {
            platform: "dingtalk",
            token: "dingkeyword0123456789".into(),
            secret: None,
            keyword: Some("告警".into()),
            mode: Mode::Normal,
        },
    ]
}

/// A deployment whose `[[im]]` robots point at the receiver: each URL in a
/// file of its own, each secret in an environment variable (`env`).
struct Setup {
    desk: Desk,
    rx: Receiver,
}

/// A robot as configured: name, platform, token, secret's environment
/// variable, keyword.
type RobotCfg<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

fn setup(robots: &[RobotCfg]) -> Setup {
    let rx = Receiver::start(bots());
    let desk = Desk::new();
    std::fs::write(desk.path("robots-ca.pem"), &rx.ca_pem).unwrap();
    let mut cfg = std::fs::read_to_string(&desk.config).unwrap();
    for (name, platform, token, secret_env, keyword) in robots {
        std::fs::write(
            desk.path(&format!("{name}.url")),
            rx.url(platform, token) + "\n",
        )
        .unwrap();
        cfg.push_str(&format!(
            "\n[[im]]\nname = \"{name}\"\nkind = \"{platform}\"\nurl_file = \"{name}.url\"\nca_file = \"robots-ca.pem\"\ntimeout_seconds = 2\n"
        ));
        if let Some(e) = secret_env {
            cfg.push_str(&format!("secret_env = \"{e}\"\n"));
        }
        if let Some(k) = keyword {
            cfg.push_str(&format!("keyword = \"{k}\"\n"));
        }
    }
    std::fs::write(&desk.config, cfg).unwrap();
    Setup { desk, rx }
}

/// `crossdesk im test NAME` with the secrets in the environment:
/// (exit code, stdout + stderr).
fn im_test(s: &Setup, name: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut c = s.desk.command();
    c.args(["im", "test", name]).env("CROSSDESK_LOG", "debug");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [
        DING_TOKEN,
        DING_SECRET,
        WECOM_KEY,
        FEISHU_HOOK,
        FEISHU_SECRET,
        "wrong-secret-value",
    ] {
        assert!(!text.contains(secret), "a token or secret printed:\n{text}");
    }
    (out.status.code().unwrap_or(-1), text)
}

const SECRETS: [(&str, &str); 2] = [
    ("DING_SECRET", DING_SECRET),
    ("FEISHU_SECRET", FEISHU_SECRET),
];

#[test]
fn a_test_message_reaches_each_platform_signed() {
    let s = setup(&[
        ("rd-ding", "dingtalk", DING_TOKEN, Some("DING_SECRET"), None),
        ("ops-wecom", "wecom", WECOM_KEY, None, None),
        (
            "qa-feishu",
            "feishu",
            FEISHU_HOOK,
            Some("FEISHU_SECRET"),
            None,
        ),
    ]);
    for name in ["rd-ding", "ops-wecom", "qa-feishu"] {
        let (code, out) = im_test(&s, name, &SECRETS);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("sent"), "{out}");
    }
    let got = s.rx.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.accepted), "{got:?}");
    // Each in the platform's own form, in the default language (zh-CN).
    assert_eq!(got[0].body["msgtype"], "markdown");
    assert!(got[0].body["markdown"]["text"]
        .as_str()
        .unwrap()
        .contains("测试消息"));
    let wecom = got[1].body["markdown"]["content"].as_str().unwrap();
    assert!(
        wecom.contains("ops-wecom") && wecom.contains("测试消息"),
        "{wecom}"
    );
    assert_eq!(got[2].body["msg_type"], "post");
    assert!(got[2].body["sign"].is_string() && got[2].body["timestamp"].is_string());

    // `check` reads every robot's settings and prints no secret.
    let mut c = s.desk.command();
    c.arg("check");
    for (k, v) in SECRETS {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("im rd-ding (dingtalk): url read, secret read"),
        "{text}"
    );
    assert!(text.contains("im ops-wecom (wecom): url read"), "{text}");
    assert!(
        !text.contains(DING_TOKEN) && !text.contains(DING_SECRET),
        "{text}"
    );
}

#[test]
fn refusals_say_which_setting_to_fix_and_outages_are_worth_a_retry() {
    let s = setup(&[
        ("rd-ding", "dingtalk", DING_TOKEN, Some("DING_SECRET"), None),
        (
            "qa-feishu",
            "feishu",
            FEISHU_HOOK,
            Some("FEISHU_SECRET"),
            None,
        ),
        ("kw", "dingtalk", "dingkeyword0123456789", None, None),
        (
            "kw-set",
            "dingtalk",
            "dingkeyword0123456789",
            None,
            Some("告警"),
        ),
        ("gone", "wecom", "no-such-key-0123456789", None, None),
        ("ops-wecom", "wecom", WECOM_KEY, None, None),
    ]);
    // A wrong secret: the signature is refused.
    for name in ["rd-ding", "qa-feishu"] {
        let (code, out) = im_test(
            &s,
            name,
            &[
                ("DING_SECRET", "wrong-secret-value"),
                ("FEISHU_SECRET", "wrong-secret-value"),
            ],
        );
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("refused") && out.contains("secret"), "{out}");
    }
    // A robot with a keyword setting: refused until `keyword` is set.
    let (code, out) = im_test(&s, "kw", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("keyword"), "{out}");
    let (code, out) = im_test(&s, "kw-set", &[]);
    assert_eq!(code, 0, "{out}");
    // A token the platform does not know.
    let (code, out) = im_test(&s, "gone", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("url"), "{out}");
    // Throttled and broken: worth another try later.
    s.rx.set_mode(WECOM_KEY, Mode::Throttled);
    let (code, out) = im_test(&s, "ops-wecom", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("again later") && out.contains("rate limited"),
        "{out}"
    );
    s.rx.set_mode(WECOM_KEY, Mode::Broken);
    let (code, out) = im_test(&s, "ops-wecom", &[]);
    assert!(
        code == 1 && out.contains("again later") && out.contains("500"),
        "{out}"
    );
    // Slower than the robot's timeout (2 s): a retry, not a hang.
    s.rx.set_mode(WECOM_KEY, Mode::Slow(std::time::Duration::from_secs(4)));
    let t = std::time::Instant::now();
    let (code, out) = im_test(&s, "ops-wecom", &[]);
    assert!(code == 1 && out.contains("again later"), "{out}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        t.elapsed()
    );
    // Nobody listening: a retry too.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        s.desk.path("down.url"),
        format!("https://127.0.0.1:{port}/cgi-bin/webhook/send?key={WECOM_KEY}\n"),
    )
    .unwrap();
    let mut cfg = std::fs::read_to_string(&s.desk.config).unwrap();
    cfg.push_str("\n[[im]]\nname = \"down\"\nkind = \"wecom\"\nurl_file = \"down.url\"\n");
    std::fs::write(&s.desk.config, cfg).unwrap();
    let (code, out) = im_test(&s, "down", &[]);
    assert!(code == 1 && out.contains("again later"), "{out}");
}

#[test]
fn robots_are_checked_when_the_configuration_is_read() {
    let desk = Desk::new();
    let base = std::fs::read_to_string(&desk.config).unwrap();
    let cases = [
        ("[[im]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"U\"\n", "use \"dingtalk\", \"wecom\" or \"feishu\""),
        ("[[im]]\nname = \"a\"\nkind = \"wecom\"\n", "never the URL here"),
        ("[[im]]\nname = \"a\"\nkind = \"wecom\"\nurl = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x\"\n", "unknown field `url`"),
        ("[[im]]\nname = \"a\"\nkind = \"wecom\"\nurl_env = \"U\"\n[[im]]\nname = \"a\"\nkind = \"wecom\"\nurl_env = \"U\"\n", "two robots have this name"),
        ("[[im]]\nname = \"a\"\nkind = \"wecom\"\nurl_env = \"U\"\nsecret_env = \"S\"\nsecret_file = \"s\"\n", "not both"),
    ];
    for (extra, want) in cases {
        std::fs::write(&desk.config, format!("{base}\n{extra}")).unwrap();
        let out = desk.cmd(&["check"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(want),
            "{extra}: {err}"
        );
    }
    // A department naming a robot that does not exist.
    let with_dept = base.replacen(
        "[[departments]]\nid = \"rd\"",
        "[[departments]]\nid = \"rd\"\nim = \"nobody\"",
        1,
    );
    assert_ne!(with_dept, base);
    std::fs::write(&desk.config, with_dept).unwrap();
    let out = desk.cmd(&["check"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [[im]] robot is named `nobody`"));
    // The URL read from its file must be https.
    std::fs::write(desk.path("a.url"), "ftp://example.invalid/x\n").unwrap();
    std::fs::write(
        &desk.config,
        format!("{base}\n[[im]]\nname = \"a\"\nkind = \"wecom\"\nurl_file = \"a.url\"\n"),
    )
    .unwrap();
    let out = desk.cmd(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not an https:// URL") && !err.contains("ftp://"),
        "{err}"
    );
}
