//! The second channel: the group robots of DingTalk, WeCom and Feishu/Lark
//! (docs/operations.md#im). What a message looks like on each platform, how
//! it is signed, and what the platform's answer means. Pure: the time and
//! the secret come in; `send::im` posts the request.
//!
//! The platforms' published rules this follows:
//! - DingTalk custom robot: `POST …/robot/send?access_token=…`; with 加签,
//!   `&timestamp=<ms>&sign=<urlencode(base64(HmacSHA256(key = secret,
//!   msg = timestamp + "\n" + secret)))>`; JSON `{"msgtype":"markdown",…}`;
//!   answer `{"errcode":0,"errmsg":"ok"}`; 20 messages a minute.
//! - WeCom group robot: `POST …/webhook/send?key=…`; `{"msgtype":
//!   "markdown","markdown":{"content":…}}`, content at most 4,096 bytes;
//!   answer `{"errcode":0,…}`; 20 messages a minute.
//! - Feishu/Lark custom bot: `POST …/bot/v2/hook/…`; with signing,
//!   `timestamp` (seconds) and `sign = base64(HmacSHA256(key = timestamp +
//!   "\n" + secret, msg = ""))` in the body; `msg_type` `post`; answer
//!   `{"code":0,…}`; 100 messages a minute, 5 a second.

pub mod answer;
pub mod pace;
pub mod payload;
pub mod route;
pub mod sign;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A robot's platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    DingTalk,
    WeCom,
    Feishu,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::DingTalk, Platform::WeCom, Platform::Feishu];

    pub fn as_str(&self) -> &'static str {
        match self {
            Platform::DingTalk => "dingtalk",
            Platform::WeCom => "wecom",
            Platform::Feishu => "feishu",
        }
    }

    /// `dingtalk`, `wecom`, `feishu` (also `lark`), case-insensitive.
    pub fn parse(s: &str) -> Option<Platform> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dingtalk" => Some(Platform::DingTalk),
            "wecom" => Some(Platform::WeCom),
            "feishu" | "lark" => Some(Platform::Feishu),
            _ => None,
        }
    }

    /// Messages a minute one robot takes before the platform throttles it.
    pub fn per_minute(&self) -> u32 {
        match self {
            Platform::DingTalk | Platform::WeCom => 20,
            Platform::Feishu => 100,
        }
    }

    /// The most bytes of message text a request carries (the platform's
    /// limit, less room for the rest of the request).
    pub fn max_text_bytes(&self) -> usize {
        match self {
            // DingTalk takes 20,000 bytes of markdown text.
            Platform::DingTalk => 18_000,
            // WeCom: markdown content at most 4,096 bytes.
            Platform::WeCom => 4_096,
            // Feishu: a request body of at most 20 KB.
            Platform::Feishu => 18_000,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message for a group: a short title and a markdown text (what
/// happened, the id, and how to act by mail), and the mobile numbers to
/// @-mention.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImMessage {
    pub title: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mobiles: Vec<String>,
}

/// A configured robot, its webhook and secret read in. Neither is ever
/// printed: `Debug` shows the name and platform only.
#[derive(Clone, PartialEq, Eq)]
pub struct Robot {
    pub name: String,
    pub platform: Platform,
    /// The webhook URL, token included.
    pub url: String,
    pub secret: Option<String>,
    pub keyword: Option<String>,
}

impl fmt::Debug for Robot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Robot")
            .field("name", &self.name)
            .field("platform", &self.platform)
            .field("url", &"<secret>")
            .field("secret", &self.secret.as_ref().map(|_| "<secret>"))
            .field("keyword", &self.keyword)
            .finish()
    }
}

impl Robot {
    /// `text` with the robot's token and secret blotted out, for a log
    /// line or an error that may quote a URL or an answer.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        // The token is a query value (DingTalk's access_token, WeCom's key)
        // or the last path segment (Feishu's hook id).
        let (path, query) = self.url.split_once('?').unwrap_or((&self.url, ""));
        let mut secrets: Vec<&str> = query
            .split('&')
            .filter_map(|kv| kv.split_once('=').map(|(_, v)| v))
            .chain(path.rsplit('/').next())
            .filter(|t| t.len() >= 8)
            .collect();
        if let Some(s) = self.secret.as_deref().filter(|s| !s.is_empty()) {
            secrets.push(s);
        }
        for s in secrets {
            out = out.replace(s, "<secret>");
        }
        out
    }

    pub fn shape(&self) -> payload::Shape<'_> {
        payload::Shape {
            platform: self.platform,
            secret: self.secret.as_deref(),
            keyword: self.keyword.as_deref(),
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub fn fit(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let room = max.saturating_sub('…'.len_utf8());
    let mut end = room;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s[..end].to_string();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_cut_on_characters() {
        assert_eq!(Platform::parse("DingTalk"), Some(Platform::DingTalk));
        assert_eq!(Platform::parse("lark"), Some(Platform::Feishu));
        assert_eq!(Platform::parse("slack"), None);
        assert_eq!(fit("abc", 3), "abc");
        // 需 is three bytes: 4 bytes hold 需 and nothing more but the mark.
        let cut = fit("需求说明", 7);
        assert_eq!(cut, "需…");
        assert!(cut.len() <= 7);
    }

    #[test]
    fn a_robot_never_shows_its_token_or_secret() {
        let r = Robot {
            name: "rd".into(),
            platform: Platform::DingTalk,
            url: "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789".into(),
            secret: Some("SECsupersecret".into()),
            keyword: None,
        };
        let d = format!("{r:?}");
        assert!(
            !d.contains("abcdef0123456789") && !d.contains("SECsupersecret"),
            "{d}"
        );
        assert_eq!(
            r.scrub("error sending to https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789 (SECsupersecret)"),
            "error sending to https://oapi.dingtalk.com/robot/send?access_token=<secret> (<secret>)"
        );
        let f = Robot {
            platform: Platform::Feishu,
            url: "https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-aaaa-bbbb".into(),
            ..r
        };
        assert!(!f.scrub(&f.url).contains("0f1e2d3c-aaaa-bbbb"));
        let w = Robot {
            platform: Platform::WeCom,
            url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx&debug=1"
                .into(),
            ..f
        };
        assert!(!w.scrub(&w.url).contains("693a91f6-7xxx"));
    }
}
