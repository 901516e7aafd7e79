//! Real-client .eml fixtures (tests/fixtures/parse/, written by
//! make_fixtures.py) through `parse` and `screen`: one test per rule, named
//! after it.

use crossdesk::mail::filter::{screen, SetAside};
use crossdesk::mail::parse::{parse, ParseError};
use crossdesk::mail::Inbound;

const OWN: &str = "workflow@corp.example";

fn raw(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/parse/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(name: &str) -> Inbound {
    parse(&raw(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn from(m: &Inbound) -> (&str, Option<&str>) {
    let f = m.from.as_ref().expect("a From address");
    (f.address.as_str(), f.name.as_deref())
}

fn no_controls(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

#[test]
fn outlook_en_header_block_is_cut_and_lone_from_line_kept() {
    let m = load("outlook_en_reply.eml");
    assert_eq!(m.subject, "RE: [REQ-42] Export CRM data");
    assert_eq!(from(&m), ("bob@corp.example", Some("Bob Chen")));
    assert_eq!(
        m.body,
        "Hi Alice,\n\nConfirmed, the data team can deliver the export by 12/15.\n\
         From: the design team we need two reviewers before the freeze.\n\nThanks,\nBob"
    );
    assert_eq!(m.in_reply_to, ["crossdesk.REQ-42.ack.1a2b@corp.example"]);
    assert_eq!(m.references, ["crossdesk.REQ-42.ack.1a2b@corp.example"]);
    assert_eq!(m.content_type, "multipart/alternative");
    assert_eq!(m.date.as_deref(), Some("2026-11-20T02:05:00+00:00"));
    assert_eq!(m.cc[0].address, "workflow@corp.example");
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn outlook_zh_gb2312_label_on_gbk_bytes_decodes_and_chinese_block_is_cut() {
    let m = load("outlook_zh_reply_gbk.eml");
    assert_eq!(m.subject, "答复: [REQ-42] 导出CRM数据");
    assert_eq!(from(&m), ("wangzhe@corp.example", Some("王喆")));
    assert_eq!(
        m.body,
        "确认，可以在12月15日前完成。\n时间节点：2026-12-15\n\n王喆"
    );
    assert_eq!(m.in_reply_to, ["crossdesk.REQ-42.dept.3c4d@corp.example"]);
    assert_eq!(
        m.references,
        [
            "crossdesk.REQ-42.ack.1a2b@corp.example",
            "crossdesk.REQ-42.dept.3c4d@corp.example"
        ]
    );
    assert_eq!(
        m.ms_original_id.as_deref(),
        Some("HK0PR01MB2345ORIG@HK0PR01MB2345.apcprd01.prod.outlook.com")
    );
    let cc: Vec<_> =
        m.cc.iter()
            .map(|c| (c.address.as_str(), c.name.as_deref()))
            .collect();
    assert_eq!(
        cc,
        [
            ("workflow@corp.example", Some("workflow@corp.example")),
            ("rd@corp.example", Some("研发部"))
        ]
    );
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn foxmail_gbk_quoted_printable_block_after_dash_line_is_cut() {
    let m = load("foxmail_reply_gbk_qp.eml");
    assert_eq!(m.subject, "回复：[CONFIRM REQ-42] 导出CRM数据");
    assert_eq!(from(&m), ("wangwu@corp.example", Some("王五")));
    assert_eq!(m.body, "[确认] 收到，研发部已确认此需求。\n\n王五");
    assert!(m.in_reply_to.is_empty());
    assert_eq!(m.references, ["crossdesk.REQ-42.dept.3c4d@corp.example"]);
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn qq_mail_original_message_separator_with_nbsp_is_cut() {
    let m = load("qq_mail_reply.eml");
    assert_eq!(m.subject, "回复：[REQ-42] 导出CRM数据");
    assert_eq!(from(&m), ("12345678@qq.com", Some("李四")));
    assert_eq!(m.body, "好的，我们明天给出排期。");
    // Space-separated References.
    assert_eq!(m.references.len(), 2);
    assert_eq!(m.in_reply_to, ["crossdesk.REQ-42.dept.3c4d@corp.example"]);
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn qq_autoreply_subject_marker_is_set_aside() {
    let m = load("qq_autoreply.eml");
    assert_eq!(m.subject, "自动回复: [REQ-42] 导出CRM数据");
    assert_eq!(from(&m).0, "12345678@qq.com");
    assert!(m.body.starts_with("这是来自QQ邮箱的假期自动回复邮件。"));
    assert_eq!(
        screen(&m, OWN),
        Some(SetAside::AutoReply("subject marker: 自动回复".into()))
    );
}

#[test]
fn netease_html_only_is_reduced_to_text_without_hidden_or_quoted_parts() {
    let m = load("netease_163_html_only.eml");
    assert_eq!(m.subject, "Re:[REQ-42] 导出CRM数据");
    assert_eq!(from(&m), ("zhaoliu@163.com", Some("赵六")));
    assert_eq!(m.content_type, "text/html");
    assert_eq!(m.body, "可以，已安排。\n负责人：赵六");
    assert_eq!(m.in_reply_to, ["crossdesk.REQ-42.dept.3c4d@corp.example"]);
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn gmail_en_wrapped_on_wrote_attribution_and_quote_are_removed() {
    let m = load("gmail_en_reply.eml");
    assert_eq!(m.subject, "Re: [ACCEPT] [REQ-42.1] Export API");
    assert_eq!(from(&m), ("carol.jones@corp.example", Some("Carol Jones")));
    // The text/plain alternative is preferred over the HTML one.
    assert_eq!(
        m.body,
        "Sounds good, I'll take the export task.\nDue: 2026-12-10"
    );
    assert_eq!(
        m.in_reply_to,
        ["crossdesk.REQ-42.1.assign.5e6f@corp.example"]
    );
    assert_eq!(
        m.message_id.as_deref(),
        Some("CAF=abcDEF123+gHIjkl456_mnOPqr789@mail.gmail.com")
    );
    assert_eq!(m.to.len(), 2);
    assert_eq!(m.date.as_deref(), Some("2026-11-20T18:00:00-08:00"));
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn gmail_zh_yu_xiedao_attribution_is_removed() {
    let m = load("gmail_zh_reply.eml");
    assert_eq!(m.subject, "Re: [进度] [REQ-42.1] 导出接口");
    assert_eq!(from(&m), ("lilei@corp.example", Some("李雷")));
    assert_eq!(m.body, "收到，我来负责。\n进度：30%");
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn apple_mail_format_flowed_delsp_is_unwrapped_and_unstuffed() {
    let m = load("apple_mail_flowed.eml");
    assert_eq!(m.subject, "Re: [PROGRESS REQ-42.1] Export API");
    assert_eq!(from(&m), ("hanmei@corp.example", Some("韩梅")));
    assert_eq!(
        m.body,
        "Progress: 60%\n\n\
         需求说明：导出CRM数据的接口已经完成了数据库部分，正在开发查询接口，预计下周二完成联调。\n\
         From now on the nightly job runs at 02:00."
    );
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn thunderbird_bottom_post_is_kept_and_signature_cut() {
    let m = load("thunderbird_reply.eml");
    assert_eq!(m.subject, "Re: [REQ-42] Export CRM data");
    assert_eq!(from(&m), ("dave@corp.example", Some("Dave Miller")));
    assert_eq!(
        m.body,
        "Name, region and the last order date, please. The file should be a plain CSV."
    );
    assert_eq!(m.date.as_deref(), Some("2026-11-21T11:00:00+01:00"));
    assert_eq!(m.header("user-agent"), Some("Mozilla Thunderbird"));
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn iphone_phone_signature_cuts_the_quoted_original() {
    let m = load("iphone_reply.eml");
    assert_eq!(m.subject, "回复：[完成] [REQ-42.2] 数据校验");
    assert_eq!(from(&m), ("zhouqi@corp.example", Some("周七")));
    assert_eq!(m.body, "已完成，校验报告已上传。");
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn big5_subject_name_and_body_decode() {
    let m = load("big5_mail.eml");
    assert_eq!(m.subject, "[需求] 匯出客戶資料");
    assert_eq!(from(&m), ("chan.taiman@corp.example", Some("陳大文")));
    assert_eq!(
        m.body,
        "部門：研發部、資訊部\n截止：2026-12-15\n請協助匯出客戶資料。"
    );
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn gb18030_four_byte_characters_decode() {
    let m = load("gb18030_mail.eml");
    assert_eq!(m.subject, "[需求] 𠮷野家订餐系统对接");
    assert_eq!(from(&m), ("wuji@corp.example", Some("吴𠮷")));
    assert_eq!(
        m.body,
        "部门：信息部\n截止日期：2026年12月20日\n对接𠮷野家订餐系统，€结算。"
    );
}

#[test]
fn character_split_across_encoded_words_is_joined() {
    let m = load("split_multibyte_subject.eml");
    assert_eq!(m.subject, "[REQ-42] 导出CRM数据");
    assert!(!m.subject.contains('\u{FFFD}'));
}

#[test]
fn raw_8bit_gbk_subject_and_name_are_decoded_as_gb18030() {
    let m = load("raw_gbk_subject.eml");
    assert_eq!(m.subject, "[需求] 导出客户数据（喆）");
    assert_eq!(from(&m), ("wangzhe@corp.example", Some("王喆")));
    assert_eq!(m.body, "部门：研发部\n请尽快处理。");
}

#[test]
fn crlf_smuggled_through_encoded_words_is_stripped_everywhere() {
    let m = load("crlf_injection_subject.eml");
    assert_eq!(m.subject, "[REQ-42] ok Bcc: victim@evil.example");
    let (addr, name) = from(&m);
    assert_eq!(addr, "mallory@corp.example");
    assert!(no_controls(name.unwrap()));
    assert_eq!(m.in_reply_to, ["injected@corp.example"]);
    for s in [&m.subject, name.unwrap(), &m.in_reply_to[0]] {
        assert!(no_controls(s), "{s:?}");
    }
}

#[test]
fn unknown_charset_label_x_mac_chinesesimp_is_mapped() {
    let m = load("mac_chinesesimp_charset.eml");
    assert_eq!(m.subject, "[疑问] [REQ-42] 字段说明");
    assert_eq!(from(&m), ("sunba@corp.example", Some("孙八")));
    assert_eq!(m.body, "请说明导出字段的含义。");
}

#[test]
fn encoded_in_reply_to_comma_references_and_microsoft_id_are_read() {
    let m = load("encoded_thread_headers.eml");
    assert_eq!(m.in_reply_to, ["crossdesk.REQ-42.dept.3c4d@corp.example"]);
    assert_eq!(
        m.references,
        [
            "crossdesk.REQ-42.ack.1a2b@corp.example",
            "crossdesk.REQ-42.dept.3c4d@corp.example"
        ]
    );
    assert_eq!(
        m.ms_original_id.as_deref(),
        Some("TY2PR01MB7777@TY2PR01MB7777.jpnprd01.prod.outlook.com")
    );
    assert_eq!(
        m.thread_ids(),
        [
            "crossdesk.REQ-42.dept.3c4d@corp.example",
            "crossdesk.REQ-42.dept.3c4d@corp.example",
            "crossdesk.REQ-42.ack.1a2b@corp.example",
            "TY2PR01MB7777@TY2PR01MB7777.jpnprd01.prod.outlook.com"
        ]
    );
}

#[test]
fn exchange_out_of_office_is_auto_reply() {
    let m = load("exchange_out_of_office.eml");
    assert_eq!(m.subject, "Automatic reply: [REQ-42] Export CRM data");
    assert_eq!(
        screen(&m, OWN),
        Some(SetAside::AutoReply("Auto-Submitted: auto-generated".into()))
    );
    // The subject alone would also have caught it.
    let mut no_header = m.clone();
    no_header.headers.retain(|(n, _)| n != "auto-submitted");
    assert_eq!(
        screen(&no_header, OWN),
        Some(SetAside::AutoReply(
            "subject marker: automatic reply".into()
        ))
    );
}

#[test]
fn exchange_inbox_rules_loop_is_auto_reply() {
    let m = load("exchange_inbox_rules_loop.eml");
    assert_eq!(
        screen(&m, OWN),
        Some(SetAside::AutoReply(
            "X-Auto-Response-Suppress with X-MS-Exchange-Inbox-Rules-Loop".into()
        ))
    );
}

#[test]
fn postfix_dsn_is_a_bounce_naming_the_original_message_id() {
    let m = load("postfix_dsn_bounce.eml");
    assert_eq!(m.content_type, "multipart/report");
    assert!(m.return_path_empty);
    assert_eq!(from(&m).0, "mailer-daemon@mx.corp.example");
    assert_eq!(
        m.bounced_message_id.as_deref(),
        Some("crossdesk.REQ-42.dept.3c4d@corp.example")
    );
    assert_eq!(
        screen(&m, OWN),
        Some(SetAside::Bounce("Content-Type: multipart/report".into()))
    );
    assert!(m
        .body
        .starts_with("This is the mail system at host mx.corp.example."));
}

#[test]
fn mailing_list_copy_is_set_aside_by_list_id() {
    let m = load("mailing_list_copy.eml");
    assert_eq!(
        screen(&m, OWN),
        Some(SetAside::MailingList(
            "List-Id: Developers <dev.lists.corp.example>".into()
        ))
    );
    assert_eq!(
        m.header_all("list-unsubscribe").count(),
        1,
        "folded List-Unsubscribe is one header"
    );
}

#[test]
fn message_without_message_id_is_keyed_by_content_hash() {
    let r = raw("no_message_id.eml");
    let m = parse(&r).unwrap();
    assert_eq!(m.message_id, None);
    assert!(m.dedupe_key.starts_with("sha256:"));
    assert_eq!(m.dedupe_key.len(), "sha256:".len() + 64);
    assert_eq!(parse(&r).unwrap().dedupe_key, m.dedupe_key, "stable");
    assert_eq!(
        m.body,
        "Dept: IT\nDue: 2026-12-01\nPlease schedule the firmware update."
    );
    assert_eq!(screen(&m, OWN), None);
}

#[test]
fn message_id_gives_mid_dedupe_key_and_size_is_raw_length() {
    let r = raw("thunderbird_reply.eml");
    let m = parse(&r).unwrap();
    assert_eq!(
        m.dedupe_key,
        "mid:7c8d9e0f-1a2b-3c4d-5e6f-7a8b9c0d1e2f@corp.example"
    );
    assert_eq!(m.size, r.len());
}

#[test]
fn every_fixture_parses_to_control_free_strings() {
    for name in fixture_names() {
        let m = load(&name);
        let mut strings = vec![m.subject.clone(), m.dedupe_key.clone()];
        strings.extend(m.from.iter().chain(&m.to).chain(&m.cc).flat_map(|b| {
            [Some(b.address.clone()), b.name.clone()]
                .into_iter()
                .flatten()
        }));
        strings.extend(m.in_reply_to.iter().chain(&m.references).cloned());
        strings.extend(m.headers.iter().map(|(_, v)| v.clone()));
        for s in strings {
            assert!(no_controls(&s), "{name}: {s:?}");
        }
        assert!(
            !m.body.contains('\0') && !m.body.contains('\r'),
            "{name}: body has NUL or CR"
        );
    }
}

#[test]
fn oversized_message_is_refused() {
    let big = vec![b'x'; crossdesk::mail::parse::MAX_MESSAGE_SIZE + 1];
    assert_eq!(
        parse(&big),
        Err(ParseError::TooLarge {
            size: big.len(),
            limit: 64 * 1024 * 1024
        })
    );
}

#[test]
fn five_thousand_nested_rfc822_levels_do_not_crash() {
    let mut m = b"From: a@corp.example\r\nSubject: nested\r\nMessage-ID: <n@x>\r\n\
Content-Type: multipart/mixed; boundary=top\r\n\r\n--top\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--top\r\n"
        .to_vec();
    for _ in 0..5_000 {
        m.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nSubject: level\r\n");
    }
    m.extend_from_slice(b"\r\ninnermost\r\n--top--\r\n");
    let parsed = parse(&m).unwrap();
    assert_eq!(parsed.subject, "nested");
    assert_eq!(parsed.body, "see below");
}

#[test]
fn truncated_and_mutated_fixtures_never_panic() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for name in fixture_names() {
        let r = raw(&name);
        for cut in (0..r.len()).step_by(13) {
            let _ = parse(&r[..cut]);
        }
        for _ in 0..50 {
            let mut m = r.clone();
            for _ in 0..8 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            if let Ok(p) = parse(&m) {
                assert!(no_controls(&p.subject), "{name}: {:?}", p.subject);
                let _ = screen(&p, OWN);
            }
        }
    }
}

fn fixture_names() -> Vec<String> {
    let dir = format!("{}/tests/fixtures/parse", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    names
}

/// Parse rate over all fixtures. Run in release:
/// `cargo test --release --test parse_fixtures -- --ignored --nocapture`
#[test]
#[ignore]
fn parse_rate() {
    let raws: Vec<(String, Vec<u8>)> = fixture_names()
        .into_iter()
        .map(|n| (n.clone(), raw(&n)))
        .collect();
    let rounds = 2_000;
    let mut per_fixture = Vec::new();
    for (name, r) in &raws {
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(parse(std::hint::black_box(r)).unwrap());
        }
        per_fixture.push((t.elapsed().as_secs_f64() * 1e6 / rounds as f64, name));
    }
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        for (_, r) in &raws {
            std::hint::black_box(parse(std::hint::black_box(r)).unwrap());
        }
    }
    let total = t.elapsed().as_secs_f64();
    let n = (rounds * raws.len()) as f64;
    // Baseline: mail-parser alone (default parser) on the same messages.
    let parser = mail_parser::MessageParser::default();
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        for (_, r) in &raws {
            std::hint::black_box(parser.parse(std::hint::black_box(r.as_slice())));
        }
    }
    let baseline = t.elapsed().as_secs_f64();
    per_fixture.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (us, name) in &per_fixture {
        println!("{us:8.2} µs  {name}");
    }
    println!(
        "mean {:.2} µs/msg, {:.0} msg/s on one core ({} fixtures × {rounds})",
        total * 1e6 / n,
        n / total,
        raws.len()
    );
    println!(
        "mail-parser alone (MessageParser::default): {:.2} µs/msg",
        baseline * 1e6 / n
    );
}
