//! The "never act on or answer" rules (docs/protocol.md#never-answer), pure.
//!
//! `screen` looks for exactly the signals PROTOCOL lists, nothing more —
//! over-filtering is as bad as a loop. Checks run in this order and the first
//! hit decides the class:
//!
//! 1. **Bounce**: top-level `multipart/report`; From local part
//!    `MAILER-DAEMON`; From local part `postmaster` *and* a delivery report
//!    (the parser found the bounced original's Message-ID — a human
//!    postmaster writing ordinary mail is not a bounce); `Return-Path: <>`.
//! 2. **Auto-reply**: `Auto-Submitted` present and not `no` (parameters after
//!    `;` and comments ignored); `X-Autoreply`; `X-Autorespond`;
//!    `Precedence: bulk` or `junk`; `X-Auto-Response-Suppress` together with
//!    `X-MS-Exchange-Inbox-Rules-Loop` (either alone is ordinary Outlook
//!    mail); a subject that, after reply/forward prefixes, starts with
//!    `自动回复`, `自动答复`, `自動回覆` (any continuation) or `Automatic
//!    reply`, `Auto reply`, `Auto-reply`, `Autoreply`, `Out of Office`
//!    (case-insensitive; these must be followed by `:`, the end, a closing
//!    bracket, or — for Out of Office — `AutoReply`, so that a subject like
//!    "Out of office days in December" is not caught). The marker may sit in
//!    brackets: `[自动回复]`, `【Automatic reply】`.
//! 3. **Mailing list**: `List-Id`, `List-Post`, `Mailing-List`,
//!    `Precedence: list`. `List-Unsubscribe` alone is *not* a signal: it is
//!    also on transactional and some corporate mail; marketing senders are
//!    not in the directory, so the engine's unknown-sender rule sets them
//!    aside anyway.
//! 4. **Own mail**: From equals `own_address` (case-insensitive), or an
//!    `X-Crossdesk-Id` / `X-Loop` header naming `own_address`.
//!
//! Unknown senders and authentication are the engine's business;
//! `auth_passes` is the authentication test it uses.

use super::Inbound;
use serde::{Deserialize, Serialize};

/// Why a message is set aside instead of acted on. Never answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", content = "detail", rename_all = "snake_case")]
pub enum SetAside {
    /// Auto-reply / out-of-office; the detail names the signal seen.
    AutoReply(String),
    /// A bounce (DSN, MAILER-DAEMON, empty Return-Path).
    Bounce(String),
    /// A mailing-list copy.
    MailingList(String),
    /// The daemon's own mail coming back.
    OwnMail(String),
    /// The sender is not in the directory.
    UnknownSender(String),
    /// Authentication was required and did not pass.
    NotAuthenticated(String),
    /// Older than the first-start watermark.
    BeforeWatermark(String),
    /// The message could not be parsed at all.
    Unreadable(String),
    /// Acting on it failed inside crossdesk (a bug): kept for `release`
    /// once fixed, rather than stopping everything behind it.
    Internal(String),
}

/// Longest header value quoted in a detail.
const DETAIL_VALUE_MAX: usize = 60;

/// `Name: value` for a detail, the value shortened.
fn detail(name: &str, value: &str) -> String {
    let v = value.trim();
    let short: String = v.chars().take(DETAIL_VALUE_MAX).collect();
    if short.len() < v.len() {
        format!("{name}: {short}…")
    } else {
        format!("{name}: {short}")
    }
}

/// The first word of a header value: before `;`, a comment or whitespace.
fn first_token(v: &str) -> &str {
    let v = v.trim_start();
    let end = v
        .find(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .unwrap_or(v.len());
    &v[..end]
}

/// Applies the rules in the module documentation; `None` means "act on it".
pub fn screen(m: &Inbound, own_address: &str) -> Option<SetAside> {
    bounce(m)
        .map(SetAside::Bounce)
        .or_else(|| auto_reply(m).map(SetAside::AutoReply))
        .or_else(|| mailing_list(m).map(SetAside::MailingList))
        .or_else(|| own_mail(m, own_address).map(SetAside::OwnMail))
}

fn bounce(m: &Inbound) -> Option<String> {
    if m.content_type.eq_ignore_ascii_case("multipart/report") {
        return Some("Content-Type: multipart/report".into());
    }
    let local = m
        .from
        .as_ref()
        .map(|f| f.address.split('@').next().unwrap_or(""))
        .unwrap_or("");
    if local.eq_ignore_ascii_case("mailer-daemon") {
        return Some("From: MAILER-DAEMON".into());
    }
    if local.eq_ignore_ascii_case("postmaster") && m.bounced_message_id.is_some() {
        return Some("From: postmaster, with a delivery report".into());
    }
    if m.return_path_empty {
        return Some("Return-Path: <> (null sender)".into());
    }
    None
}

fn auto_reply(m: &Inbound) -> Option<String> {
    if let Some(v) = m.header("auto-submitted") {
        if !first_token(v).eq_ignore_ascii_case("no") {
            return Some(detail("Auto-Submitted", v));
        }
    }
    for name in ["X-Autoreply", "X-Autorespond"] {
        if let Some(v) = m.header(name) {
            return Some(detail(name, v));
        }
    }
    if let Some(v) = m.header("precedence") {
        let t = first_token(v);
        if t.eq_ignore_ascii_case("bulk") || t.eq_ignore_ascii_case("junk") {
            return Some(detail("Precedence", t));
        }
    }
    if m.header("x-auto-response-suppress").is_some()
        && m.header("x-ms-exchange-inbox-rules-loop").is_some()
    {
        return Some("X-Auto-Response-Suppress with X-MS-Exchange-Inbox-Rules-Loop".into());
    }
    auto_reply_subject(&m.subject).map(|marker| format!("subject marker: {marker}"))
}

/// Strips `Re:`, `RE:`, `Fw:`, `FWD:`, `AW:`, `回复:`, `答复：`, `转发:`, …
/// (any order and number, ASCII or full-width colon, `Re[2]:` too).
pub fn strip_reply_prefixes(subject: &str) -> &str {
    const PREFIXES: &[&str] = &[
        "re", "fw", "fwd", "aw", "wg", "sv", "vs", "tr", "rif", "antw", "回复", "答复", "回覆",
        "转发", "轉寄", "转寄", "轉發",
    ];
    let mut s = subject.trim_start_matches(is_space);
    'again: loop {
        for p in PREFIXES {
            if !starts_with_ci(s, p) {
                continue;
            }
            let mut rest = s[p.len()..].trim_start_matches(is_space);
            // Re[2]: / Re(2):
            if let Some(r) = rest.strip_prefix(['[', '(']) {
                if let Some(close) = r.find([']', ')']) {
                    if r[..close].chars().all(|c| c.is_ascii_digit()) {
                        rest = r[close + 1..].trim_start_matches(is_space);
                    }
                }
            }
            if let Some(r) = rest.strip_prefix([':', '：']) {
                s = r.trim_start_matches(is_space);
                continue 'again;
            }
        }
        return s;
    }
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{3000}'
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The auto-reply marker a subject starts with (see the module docs).
fn auto_reply_subject(subject: &str) -> Option<&'static str> {
    let s = strip_reply_prefixes(subject);
    let s = s
        .strip_prefix(['[', '【', '(', '（'])
        .map_or(s, |r| r.trim_start_matches(is_space));
    for marker in ["自动回复", "自动答复", "自動回覆", "自動答覆"] {
        if s.starts_with(marker) {
            return Some(marker);
        }
    }
    const ENGLISH: &[&str] = &[
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "out of office",
    ];
    for &marker in ENGLISH {
        if !starts_with_ci(s, marker) {
            continue;
        }
        let mut rest = s[marker.len()..].trim_start_matches(is_space);
        if marker == "out of office" {
            for tail in ["autoreply", "auto reply", "auto-reply", "reply"] {
                if starts_with_ci(rest, tail) {
                    rest = rest[tail.len()..].trim_start_matches(is_space);
                    break;
                }
            }
        }
        if rest.is_empty() || rest.starts_with([':', '：', ']', '】', ')', '）']) {
            return Some(marker);
        }
    }
    None
}

fn mailing_list(m: &Inbound) -> Option<String> {
    for name in ["List-Id", "List-Post", "Mailing-List"] {
        if let Some(v) = m.header(name) {
            return Some(detail(name, v));
        }
    }
    if let Some(v) = m.header("precedence") {
        if first_token(v).eq_ignore_ascii_case("list") {
            return Some("Precedence: list".into());
        }
    }
    None
}

fn own_mail(m: &Inbound, own_address: &str) -> Option<String> {
    let own = own_address.trim();
    if own.is_empty() {
        return None;
    }
    if m.from
        .as_ref()
        .is_some_and(|f| f.address.eq_ignore_ascii_case(own))
    {
        return Some(format!("From: {}", own.to_lowercase()));
    }
    for name in ["X-Crossdesk-Id", "X-Loop"] {
        if m.header_all(name).any(|v| names_address(v, own)) {
            return Some(format!("{name} names {}", own.to_lowercase()));
        }
    }
    None
}

/// `value` contains `addr` as a whole address (case-insensitive), not as
/// part of a longer one (`xworkflow@…`, `…@corp.example.org`).
fn names_address(value: &str, addr: &str) -> bool {
    let v = value.to_ascii_lowercase();
    let a = addr.to_ascii_lowercase();
    v.match_indices(&a).any(|(i, _)| {
        let before_ok = !v[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
        let mut after = v[i + a.len()..].chars();
        let after_ok = match after.next() {
            None => true,
            // "…@corp.example." ends a sentence; "…@corp.example.org" is another domain.
            Some('.') => !after.next().is_some_and(|c| c.is_ascii_alphanumeric()),
            Some(c) => !(c.is_ascii_alphanumeric() || "_%+-@".contains(c)),
        };
        before_ok && after_ok
    })
}

/// PROTOCOL's authentication rule: the topmost `Authentication-Results`
/// header whose authserv-id is `trusted_server` must show `dkim=pass` with
/// `header.d` (or the domain of `header.i`) equal to `sender_domain`, or
/// `spf=pass` with the domain of `smtp.mailfrom` equal to it. Any other
/// case — no such header, another result, another domain — is `false`.
/// Lower headers from the same server are ignored: only the topmost was
/// added by the trusted server on delivery; the rest came with the mail.
/// Domains are compared exactly (case-insensitive, trailing dot ignored):
/// a subdomain's signature does not vouch for the parent domain.
pub fn auth_passes(m: &Inbound, trusted_server: &str, sender_domain: &str) -> bool {
    let want = norm_domain(sender_domain);
    if want.is_empty() {
        return false;
    }
    let Some(ar) = m
        .header_all("authentication-results")
        .find(|v| authserv_id(v).is_some_and(|id| id.eq_ignore_ascii_case(trusted_server.trim())))
    else {
        return false;
    };
    let text = strip_comments(ar);
    for resinfo in text.split(';').skip(1) {
        let mut words = tokens(resinfo);
        let Some(first) = words.next() else { continue };
        let Some((method, result)) = first.split_once('=') else {
            continue;
        };
        let method = method.split('/').next().unwrap_or(method);
        if !result.eq_ignore_ascii_case("pass") {
            continue;
        }
        let props: Vec<(String, String)> = words
            .filter_map(|w| {
                w.split_once('=')
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_string()))
            })
            .collect();
        let prop = |k: &str| {
            props
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        let matches = |v: Option<&str>| v.is_some_and(|v| norm_domain(domain_of(v)) == want);
        if method.eq_ignore_ascii_case("dkim")
            && (matches(prop("header.d")) || matches(prop("header.i")))
        {
            return true;
        }
        if method.eq_ignore_ascii_case("spf") && matches(prop("smtp.mailfrom")) {
            return true;
        }
    }
    false
}

/// The authserv-id of an Authentication-Results value (before the first `;`,
/// without the optional version number).
fn authserv_id(v: &str) -> Option<String> {
    let text = strip_comments(v);
    let head = text.split(';').next()?;
    let id = tokens(head).next().map(str::to_string);
    id
}

fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split_whitespace()
}

/// Removes RFC 5322 comments `( … )` (nested, with `\` escapes), keeping
/// quoted strings intact.
fn strip_comments(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in v.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => {
                depth += 1;
                out.push(' ');
            }
            ')' if !quoted && depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn domain_of(v: &str) -> &str {
    v.rsplit('@').next().unwrap_or(v)
}

fn norm_domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mailbox;

    fn mail(headers: &[(&str, &str)]) -> Inbound {
        Inbound {
            from: Some(Mailbox::new(None, "alice@corp.example")),
            subject: "[REQ-42] Export CRM data".into(),
            content_type: "text/plain".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            ..Inbound::default()
        }
    }

    const OWN: &str = "workflow@corp.example";

    #[test]
    fn ordinary_mail_passes() {
        assert_eq!(screen(&mail(&[]), OWN), None);
        // Signals that are deliberately not signals.
        let m = mail(&[
            ("list-unsubscribe", "<mailto:u@corp.example>"),
            ("x-auto-response-suppress", "All"),
            ("precedence", "normal"),
            ("auto-submitted", "No"),
            ("x-mailer", "Microsoft Outlook 16.0"),
        ]);
        assert_eq!(screen(&m, OWN), None);
    }

    #[test]
    fn auto_submitted_other_than_no_is_auto_reply() {
        for v in [
            "auto-replied",
            "auto-generated; owner=x",
            "AUTO-NOTIFIED",
            "",
        ] {
            let got = screen(&mail(&[("auto-submitted", v)]), OWN);
            assert!(matches!(got, Some(SetAside::AutoReply(_))), "{v}: {got:?}");
        }
        assert_eq!(
            screen(&mail(&[("auto-submitted", "no (manual)")]), OWN),
            None
        );
        assert_eq!(screen(&mail(&[("auto-submitted", "no; x=y")]), OWN), None);
    }

    #[test]
    fn x_autoreply_and_x_autorespond_are_auto_reply() {
        for h in ["x-autoreply", "x-autorespond"] {
            assert!(matches!(
                screen(&mail(&[(h, "yes")]), OWN),
                Some(SetAside::AutoReply(_))
            ));
        }
    }

    #[test]
    fn precedence_bulk_junk_is_auto_reply_and_list_is_mailing_list() {
        assert_eq!(
            screen(&mail(&[("precedence", "bulk")]), OWN),
            Some(SetAside::AutoReply("Precedence: bulk".into()))
        );
        assert!(matches!(
            screen(&mail(&[("precedence", "JUNK")]), OWN),
            Some(SetAside::AutoReply(_))
        ));
        assert_eq!(
            screen(&mail(&[("precedence", "list")]), OWN),
            Some(SetAside::MailingList("Precedence: list".into()))
        );
    }

    #[test]
    fn exchange_rules_loop_needs_both_headers() {
        let both = mail(&[
            ("x-auto-response-suppress", "All"),
            ("x-ms-exchange-inbox-rules-loop", "bob@corp.example"),
        ]);
        assert!(matches!(screen(&both, OWN), Some(SetAside::AutoReply(_))));
        let one = mail(&[("x-ms-exchange-inbox-rules-loop", "bob@corp.example")]);
        assert_eq!(screen(&one, OWN), None);
    }

    #[test]
    fn auto_reply_subjects_are_recognised_after_prefixes() {
        for s in [
            "自动回复: [REQ-42] Export",
            "自动回复：需求",
            "【自动回复】需求",
            "回复: 自动答复: [REQ-42]",
            "Automatic reply: [REQ-42] Export",
            "RE: AUTOMATIC REPLY: x",
            "Auto Reply: x",
            "Auto-Reply: x",
            "Autoreply",
            "[Autoreply] x",
            "Out of Office: [REQ-42]",
            "Out of Office AutoReply: [REQ-42]",
        ] {
            let mut m = mail(&[]);
            m.subject = s.into();
            assert!(
                matches!(screen(&m, OWN), Some(SetAside::AutoReply(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn ordinary_subjects_mentioning_markers_pass() {
        for s in [
            "Out of office days in December [REQ-7]",
            "Auto reply rules for the support queue",
            "[REQ-42] 关于自动回复的需求",
            "Re: automatic replies are broken",
            "[需求] 自动化测试",
        ] {
            let mut m = mail(&[]);
            m.subject = s.into();
            assert_eq!(screen(&m, OWN), None, "{s}");
        }
    }

    #[test]
    fn bounces_are_recognised() {
        let mut m = mail(&[]);
        m.content_type = "multipart/report".into();
        assert!(matches!(screen(&m, OWN), Some(SetAside::Bounce(_))));

        let mut m = mail(&[]);
        m.from = Some(Mailbox::new(None, "MAILER-DAEMON@mx.corp.example"));
        assert!(matches!(screen(&m, OWN), Some(SetAside::Bounce(_))));
        m.from = Some(Mailbox::new(None, "mailer-daemon"));
        assert!(matches!(screen(&m, OWN), Some(SetAside::Bounce(_))));

        let mut m = mail(&[]);
        m.return_path_empty = true;
        assert!(matches!(screen(&m, OWN), Some(SetAside::Bounce(_))));
    }

    #[test]
    fn postmaster_is_a_bounce_only_with_a_report() {
        let mut m = mail(&[]);
        m.from = Some(Mailbox::new(Some("Postmaster"), "postmaster@corp.example"));
        assert_eq!(screen(&m, OWN), None);
        m.bounced_message_id = Some("orig@corp.example".into());
        assert!(matches!(screen(&m, OWN), Some(SetAside::Bounce(_))));
    }

    #[test]
    fn list_headers_are_mailing_list_but_unsubscribe_alone_is_not() {
        for h in ["list-id", "list-post", "mailing-list"] {
            assert!(
                matches!(
                    screen(&mail(&[(h, "x")]), OWN),
                    Some(SetAside::MailingList(_))
                ),
                "{h}"
            );
        }
        assert_eq!(
            screen(&mail(&[("list-unsubscribe", "<https://x>")]), OWN),
            None
        );
    }

    #[test]
    fn own_mail_is_recognised() {
        let mut m = mail(&[]);
        m.from = Some(Mailbox::new(None, "Workflow@Corp.Example"));
        assert!(matches!(screen(&m, OWN), Some(SetAside::OwnMail(_))));
        let m = mail(&[("x-loop", "workflow@corp.example")]);
        assert!(matches!(screen(&m, OWN), Some(SetAside::OwnMail(_))));
        let m = mail(&[("x-crossdesk-id", "REQ-42; <WORKFLOW@corp.example>")]);
        assert!(matches!(screen(&m, OWN), Some(SetAside::OwnMail(_))));
        // Another address that merely contains ours.
        let m = mail(&[("x-loop", "oldworkflow@corp.example.org")]);
        assert_eq!(screen(&m, OWN), None);
    }

    #[test]
    fn checks_run_bounce_then_auto_reply_then_list_then_own() {
        let mut m = mail(&[("auto-submitted", "auto-replied"), ("list-id", "<l.corp>")]);
        m.from = Some(Mailbox::new(None, OWN));
        m.return_path_empty = true;
        assert!(matches!(screen(&m, OWN), Some(SetAside::Bounce(_))));
        m.return_path_empty = false;
        assert!(matches!(screen(&m, OWN), Some(SetAside::AutoReply(_))));
        m.headers.remove(0);
        assert!(matches!(screen(&m, OWN), Some(SetAside::MailingList(_))));
        m.headers.clear();
        assert!(matches!(screen(&m, OWN), Some(SetAside::OwnMail(_))));
    }

    #[test]
    fn details_name_the_signal() {
        assert_eq!(
            screen(&mail(&[("auto-submitted", "auto-replied")]), OWN),
            Some(SetAside::AutoReply("Auto-Submitted: auto-replied".into()))
        );
        assert_eq!(
            screen(&mail(&[("list-id", "Dev <dev.lists.corp.example>")]), OWN),
            Some(SetAside::MailingList(
                "List-Id: Dev <dev.lists.corp.example>".into()
            ))
        );
    }

    fn ar(values: &[&str]) -> Inbound {
        let h: Vec<(&str, &str)> = values
            .iter()
            .map(|v| ("authentication-results", *v))
            .collect();
        mail(&h)
    }

    const MX: &str = "mx.corp.example";

    #[test]
    fn auth_dkim_pass_for_sender_domain_passes() {
        let m = ar(&["mx.corp.example; dkim=pass (2048-bit key) header.d=corp.example header.s=s1 header.b=abc; spf=fail smtp.mailfrom=x@evil.example"]);
        assert!(auth_passes(&m, MX, "corp.example"));
        let m = ar(&["mx.corp.example 1; DKIM=PASS header.i=@Corp.Example."]);
        assert!(auth_passes(&m, MX, "corp.example"));
    }

    #[test]
    fn auth_spf_pass_with_matching_mailfrom_passes() {
        let m = ar(&["mx.corp.example; spf=pass (sender SPF authorized) smtp.mailfrom=alice@corp.example; dkim=none"]);
        assert!(auth_passes(&m, MX, "corp.example"));
        let m = ar(&["mx.corp.example; spf=pass smtp.mailfrom=corp.example"]);
        assert!(auth_passes(&m, MX, "corp.example"));
    }

    #[test]
    fn auth_fails_for_other_domains_results_and_servers() {
        // Pass, but for another domain (or a subdomain).
        assert!(!auth_passes(
            &ar(&["mx.corp.example; dkim=pass header.d=evil.example"]),
            MX,
            "corp.example"
        ));
        assert!(!auth_passes(
            &ar(&["mx.corp.example; dkim=pass header.d=mail.corp.example"]),
            MX,
            "corp.example"
        ));
        // Not a pass.
        assert!(!auth_passes(&ar(&["mx.corp.example; dkim=fail header.d=corp.example; spf=softfail smtp.mailfrom=corp.example"]), MX, "corp.example"));
        assert!(!auth_passes(
            &ar(&["mx.corp.example; none"]),
            MX,
            "corp.example"
        ));
        // Only another server vouches.
        assert!(!auth_passes(
            &ar(&["mx.evil.example; dkim=pass header.d=corp.example"]),
            MX,
            "corp.example"
        ));
        // No header at all.
        assert!(!auth_passes(&mail(&[]), MX, "corp.example"));
        // A comment cannot fake a result.
        assert!(!auth_passes(&ar(&["mx.corp.example; dkim=fail (dkim=pass header.d=corp.example) header.d=corp.example"]), MX, "corp.example"));
    }

    #[test]
    fn auth_only_the_topmost_header_of_the_trusted_server_counts() {
        // Topmost (added on delivery) fails; a forged lower one says pass.
        let m = ar(&[
            "mx.corp.example; dkim=fail header.d=corp.example",
            "mx.corp.example; dkim=pass header.d=corp.example",
        ]);
        assert!(!auth_passes(&m, MX, "corp.example"));
        // Another server's header above the trusted one does not matter.
        let m = ar(&[
            "relay.example; dkim=fail",
            "mx.corp.example; dkim=pass header.d=corp.example",
        ]);
        assert!(auth_passes(&m, MX, "corp.example"));
    }

    #[test]
    fn reply_prefixes_are_stripped_in_any_language() {
        assert_eq!(strip_reply_prefixes("RE: 回复：Fw: [REQ-1] x"), "[REQ-1] x");
        assert_eq!(strip_reply_prefixes("Re[2]: AW: 答复: x"), "x");
        assert_eq!(strip_reply_prefixes("Regarding: x"), "Regarding: x");
    }
}
