//! A message as each platform's webhook takes it: the query the URL gets
//! (DingTalk's signature) and the JSON body.

use super::{fit, sign, ImMessage, Platform};
use serde_json::{json, Value};

/// What to send: `query` is appended to the webhook URL (`&k=v` pairs,
/// values already encoded), `body` is the JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ImRequest {
    pub query: Vec<(String, String)>,
    pub body: Value,
}

/// A robot's settings that shape the request.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub platform: Platform,
    /// The signing secret, when the robot signs (加签).
    pub secret: Option<&'a str>,
    /// A word the robot's keyword setting requires in every message.
    pub keyword: Option<&'a str>,
}

/// The request for `msg` at `now_ms` (milliseconds since the epoch).
pub fn request(shape: Shape<'_>, msg: &ImMessage, now_ms: i64) -> ImRequest {
    let p = shape.platform;
    let mut text = msg.text.clone();
    // A robot with a keyword setting refuses a message without it (in
    // its text: where every platform looks).
    if let Some(k) = shape.keyword.filter(|k| !k.is_empty()) {
        if !text.contains(k) {
            text = format!("{k}\n\n{text}");
        }
    }
    if p == Platform::DingTalk && !msg.mobiles.is_empty() {
        // DingTalk highlights a mention only when the text names it too.
        let at: Vec<String> = msg.mobiles.iter().map(|m| format!("@{m}")).collect();
        text = format!("{text}\n\n{}", at.join(" "));
    }
    let text = fit(&text, p.max_text_bytes());
    match p {
        Platform::DingTalk => {
            let mut query = vec![];
            if let Some(s) = shape.secret {
                query.push(("timestamp".to_string(), now_ms.to_string()));
                query.push(("sign".to_string(), sign::dingtalk(now_ms, s)));
            }
            ImRequest {
                query,
                body: json!({
                    "msgtype": "markdown",
                    "markdown": { "title": msg.title, "text": text },
                    "at": { "atMobiles": msg.mobiles, "isAtAll": false },
                }),
            }
        }
        Platform::WeCom => {
            let body = if msg.mobiles.is_empty() {
                json!({ "msgtype": "markdown", "markdown": { "content": text } })
            } else {
                // Mentions by mobile number exist for text messages only.
                json!({
                    "msgtype": "text",
                    "text": {
                        "content": fit(&plain(&text), p.max_text_bytes()),
                        "mentioned_mobile_list": msg.mobiles,
                    },
                })
            };
            ImRequest {
                query: vec![],
                body,
            }
        }
        Platform::Feishu => {
            let paragraphs: Vec<Value> = text
                .lines()
                .map(|l| json!([{ "tag": "text", "text": l }]))
                .collect();
            let mut body = json!({
                "msg_type": "post",
                "content": { "post": { "zh_cn": {
                    "title": msg.title,
                    "content": paragraphs,
                } } },
            });
            if let Some(s) = shape.secret {
                let ts = now_ms.div_euclid(1000);
                body["timestamp"] = json!(ts.to_string());
                body["sign"] = json!(sign::feishu(ts, s));
            }
            ImRequest {
                query: vec![],
                body,
            }
        }
    }
}

/// Markdown's marks taken off, for a plain-text message.
fn plain(md: &str) -> String {
    md.lines()
        .map(|l| l.trim_start_matches('#').trim_start().replace("**", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The webhook URL with the request's query appended.
pub fn url_with(url: &str, query: &[(String, String)]) -> String {
    let mut out = url.to_string();
    for (k, v) in query {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> ImMessage {
        ImMessage {
            title: "新需求 REQ-7".into(),
            text: "### 新需求 REQ-7\n**导出客户数据**\n回复邮件确认：【确认】[REQ-7]".into(),
            mobiles: vec![],
        }
    }

    #[test]
    fn dingtalk_markdown_signed_in_the_query() {
        let shape = Shape {
            platform: Platform::DingTalk,
            secret: Some("SECabc"),
            keyword: None,
        };
        let r = request(shape, &msg(), 1_700_000_000_123);
        assert_eq!(r.query[0], ("timestamp".into(), "1700000000123".into()));
        assert_eq!(r.query[1].1, sign::dingtalk(1_700_000_000_123, "SECabc"));
        assert_eq!(r.body["msgtype"], "markdown");
        assert_eq!(r.body["markdown"]["title"], "新需求 REQ-7");
        assert_eq!(
            url_with("https://oapi.dingtalk.com/robot/send?access_token=t", &r.query),
            format!(
                "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000123&sign={}",
                r.query[1].1
            )
        );
        // Unsigned: no query.
        let r = request(
            Shape {
                secret: None,
                ..shape
            },
            &msg(),
            1,
        );
        assert!(r.query.is_empty());
    }

    #[test]
    fn a_keyword_is_added_when_the_message_lacks_it() {
        let shape = Shape {
            platform: Platform::WeCom,
            secret: None,
            keyword: Some("协作"),
        };
        let r = request(shape, &msg(), 1);
        let content = r.body["markdown"]["content"].as_str().unwrap();
        assert!(content.starts_with("协作\n\n"), "{content}");
        let r = request(
            Shape {
                keyword: Some("REQ"),
                ..shape
            },
            &msg(),
            1,
        );
        assert!(r.body["markdown"]["content"]
            .as_str()
            .unwrap()
            .starts_with("###"));
    }

    #[test]
    fn wecom_content_within_4096_bytes() {
        let long = ImMessage {
            text: "需求".repeat(2000),
            ..msg()
        };
        let r = request(
            Shape {
                platform: Platform::WeCom,
                secret: None,
                keyword: None,
            },
            &long,
            1,
        );
        let c = r.body["markdown"]["content"].as_str().unwrap();
        assert!(c.len() <= 4096 && c.ends_with('…'), "{}", c.len());
    }

    #[test]
    fn feishu_post_signed_in_the_body_in_seconds() {
        let r = request(
            Shape {
                platform: Platform::Feishu,
                secret: Some("s3cret"),
                keyword: None,
            },
            &msg(),
            1_700_000_000_999,
        );
        assert!(r.query.is_empty());
        assert_eq!(r.body["timestamp"], "1700000000");
        assert_eq!(r.body["sign"], sign::feishu(1_700_000_000, "s3cret"));
        assert_eq!(r.body["msg_type"], "post");
        let post = &r.body["content"]["post"]["zh_cn"];
        assert_eq!(post["title"], "新需求 REQ-7");
        assert_eq!(post["content"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn mentions_by_mobile() {
        let m = ImMessage {
            mobiles: vec!["13800000000".into()],
            ..msg()
        };
        let d = request(
            Shape {
                platform: Platform::DingTalk,
                secret: None,
                keyword: None,
            },
            &m,
            1,
        );
        assert_eq!(d.body["at"]["atMobiles"][0], "13800000000");
        assert!(d.body["markdown"]["text"]
            .as_str()
            .unwrap()
            .ends_with("@13800000000"));
        let w = request(
            Shape {
                platform: Platform::WeCom,
                secret: None,
                keyword: None,
            },
            &m,
            1,
        );
        assert_eq!(w.body["msgtype"], "text");
        assert_eq!(w.body["text"]["mentioned_mobile_list"][0], "13800000000");
        assert!(!w.body["text"]["content"].as_str().unwrap().contains("**"));
    }
}
