//! What a platform's answer means: sent, try again later, or failed for
//! good with the setting to fix.

use super::Platform;

/// The outcome of one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Throttled or the platform is down: the same message again later,
    /// not before `after_s` seconds.
    Retry {
        after_s: u64,
        why: String,
    },
    /// Refused for good: `why` names the setting to fix.
    Failed(String),
}

/// Reads an HTTP status and body from the platform.
pub fn read(p: Platform, status: u16, body: &str) -> Delivery {
    if status == 429 {
        return throttled(p, format!("HTTP {status}"));
    }
    if status >= 500 {
        return Delivery::Retry {
            after_s: 30,
            why: format!("{p} answered HTTP {status}"),
        };
    }
    let v: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) if (200..300).contains(&status) => {
            return Delivery::Retry {
                after_s: 30,
                why: format!("{p} answered HTTP {status} without JSON"),
            }
        }
        Err(_) => {
            return Delivery::Failed(format!("{p} answered HTTP {status}: check the robot's url"))
        }
    };
    let (code, msg) = match p {
        Platform::DingTalk | Platform::WeCom => (v["errcode"].as_i64(), v["errmsg"].as_str()),
        // The older answer form has StatusCode/StatusMessage.
        Platform::Feishu => (
            v["code"].as_i64().or(v["StatusCode"].as_i64()),
            v["msg"].as_str().or(v["StatusMessage"].as_str()),
        ),
    };
    let msg = msg.unwrap_or("").to_string();
    let Some(code) = code else {
        return Delivery::Failed(format!("{p} answered HTTP {status} with no result code"));
    };
    if code == 0 {
        return Delivery::Sent;
    }
    let lower = msg.to_ascii_lowercase();
    let what = format!("{p} error {code} ({msg})");
    match (p, code) {
        (Platform::DingTalk, 130101) | (Platform::WeCom, 45009) | (Platform::Feishu, 9499 | 11232) => {
            throttled(p, what)
        }
        (Platform::DingTalk, 310000) if lower.contains("keyword") => Delivery::Failed(format!(
            "{what}: the message lacks the robot's keyword; set `keyword` to one of the robot's custom keywords"
        )),
        (Platform::DingTalk, 310000) if lower.contains("sign") || lower.contains("timestamp") => {
            signature(what)
        }
        (Platform::DingTalk, 310000) if lower.contains("ip") => Delivery::Failed(format!(
            "{what}: the robot's IP allow-list does not name this server"
        )),
        (Platform::Feishu, 19021) => signature(what),
        (Platform::Feishu, 19024) => Delivery::Failed(format!(
            "{what}: the message lacks the robot's keyword; set `keyword` to one of the robot's keywords"
        )),
        (Platform::Feishu, 19022) => Delivery::Failed(format!(
            "{what}: the robot's IP allow-list does not name this server"
        )),
        (Platform::DingTalk, 300001 | 300005 | 400101 | 400102)
        | (Platform::WeCom, 93000 | 40008)
        | (Platform::Feishu, 19001) => Delivery::Failed(format!(
            "{what}: the webhook is not valid; check the robot's url (url_file / url_env)"
        )),
        _ => Delivery::Failed(what),
    }
}

fn throttled(p: Platform, what: String) -> Delivery {
    Delivery::Retry {
        // DingTalk throttles a robot for 10 minutes; the others a minute.
        after_s: if p == Platform::DingTalk { 600 } else { 60 },
        why: format!("{what}: rate limited"),
    }
}

fn signature(what: String) -> Delivery {
    Delivery::Failed(format!(
        "{what}: the signature was refused; check the robot's secret (secret_file / secret_env) and this server's clock"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Platform::*;

    #[test]
    fn success_throttling_and_outages() {
        assert_eq!(
            read(DingTalk, 200, r#"{"errcode":0,"errmsg":"ok"}"#),
            Delivery::Sent
        );
        assert_eq!(
            read(WeCom, 200, r#"{"errcode":0,"errmsg":"ok"}"#),
            Delivery::Sent
        );
        assert_eq!(
            read(Feishu, 200, r#"{"code":0,"msg":"success","data":{}}"#),
            Delivery::Sent
        );
        assert_eq!(
            read(Feishu, 200, r#"{"StatusCode":0,"StatusMessage":"success"}"#),
            Delivery::Sent
        );
        for (p, body) in [
            (
                DingTalk,
                r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#,
            ),
            (
                WeCom,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
            ),
            (Feishu, r#"{"code":9499,"msg":"too many request"}"#),
        ] {
            assert!(matches!(read(p, 200, body), Delivery::Retry { .. }), "{p}");
        }
        assert!(matches!(
            read(DingTalk, 200, r#"{"errcode":130101,"errmsg":"x"}"#),
            Delivery::Retry { after_s: 600, .. }
        ));
        assert!(matches!(
            read(WeCom, 502, "<html>bad gateway</html>"),
            Delivery::Retry { .. }
        ));
        assert!(matches!(read(Feishu, 429, ""), Delivery::Retry { .. }));
    }

    #[test]
    fn refusals_name_the_setting_to_fix() {
        let why = |d: Delivery| match d {
            Delivery::Failed(w) => w,
            other => panic!("{other:?}"),
        };
        let w = why(read(
            DingTalk,
            200,
            r#"{"errcode":310000,"errmsg":"sign not match, more: [...]"}"#,
        ));
        assert!(w.contains("secret"), "{w}");
        let w = why(read(
            DingTalk,
            200,
            r#"{"errcode":310000,"errmsg":"keywords not in content, more: [...]"}"#,
        ));
        assert!(w.contains("keyword"), "{w}");
        let w = why(read(
            Feishu,
            200,
            r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
        ));
        assert!(w.contains("secret") && w.contains("clock"), "{w}");
        let w = why(read(
            Feishu,
            200,
            r#"{"code":19024,"msg":"Key Words Not Found"}"#,
        ));
        assert!(w.contains("keyword"), "{w}");
        let w = why(read(
            WeCom,
            200,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
        ));
        assert!(w.contains("url"), "{w}");
        let w = why(read(
            DingTalk,
            200,
            r#"{"errcode":300001,"errmsg":"token is not exist"}"#,
        ));
        assert!(w.contains("url"), "{w}");
        let w = why(read(WeCom, 404, "not found"));
        assert!(w.contains("url"), "{w}");
    }
}
