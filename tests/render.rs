//! Rendering of outgoing mail: every kind in every locale, the subject's
//! `[id]`, escaping, headers, and the message parsed back.

use chrono::{DateTime, NaiveDate};
use crossdesk::model::Mailbox;
use crossdesk::model::{DeptCtx, Kind, MailCtx, MilestoneCtx, Outgoing, TaskCtx, TranscriptLine};
use crossdesk::render::{Envelope, Renderer};
use mail_parser::{MessageParser, MimeHeaders};
use std::sync::OnceLock;

fn renderer() -> &'static Renderer {
    static R: OnceLock<Renderer> = OnceLock::new();
    R.get_or_init(|| Renderer::checked(None).expect("built-in templates compile"))
}

fn line(key: &str, value: &str) -> TranscriptLine {
    TranscriptLine {
        key: key.into(),
        value: value.into(),
    }
}

fn full_ctx() -> MailCtx {
    let task = TaskCtx {
        id: "REQ-42.1".into(),
        owner: "张三 <zhangsan@corp.example>".into(),
        title: "导出接口".into(),
        state: "in_progress".into(),
        progress: 60,
        due: Some("2026-12-10".into()),
        quality: Some("p95 < 200 ms".into()),
        blocked: false,
        dept: "rd".into(),
    };
    MailCtx {
        id: "REQ-42".into(),
        req_id: "REQ-42".into(),
        title: "导出CRM数据".into(),
        req_title: String::new(),
        actor: "李四 <lisi@corp.example>".into(),
        action: "confirm".into(),
        state: "confirmed".into(),
        state_before: "proposed".into(),
        req_state: "confirmed".into(),
        note: "请在月底前完成。\n第二行说明。".into(),
        requester: "王五 <wangwu@corp.example>".into(),
        departments: vec![
            DeptCtx {
                id: "rd".into(),
                name: "研发部".into(),
                confirmed: true,
            },
            DeptCtx {
                id: "qa".into(),
                name: "测试部".into(),
                confirmed: false,
            },
        ],
        dept: Some(DeptCtx {
            id: "rd".into(),
            name: "研发部".into(),
            confirmed: true,
        }),
        due: Some("2026-12-15".into()),
        quality: Some("数据完整，字段齐全".into()),
        priority: "high".into(),
        progress: Some(60),
        tasks: vec![
            task.clone(),
            TaskCtx {
                id: "REQ-42.2".into(),
                owner: "赵六 <zhaoliu@corp.example>".into(),
                title: "数据校验".into(),
                state: "assigned".into(),
                progress: 0,
                due: Some("2026-11-01".into()),
                quality: None,
                blocked: true,
                dept: "qa".into(),
            },
        ],
        task: Some(task),
        milestones: vec![MilestoneCtx {
            date: "2026-12-01".into(),
            title: "设计评审".into(),
            owner: Some("zhangsan".into()),
        }],
        transcript: vec![
            line("action", "confirm"),
            line("id", "REQ-42"),
            line("priority", "high"),
            line("state", "confirmed"),
        ],
        reason: "wrong_state".into(),
        detail: "REQ-42".into(),
        suggestions: vec!["【确认】".into(), "【取消】".into()],
        allowed: vec!["需求提出人：【验收】".into()],
        orig_subject: "【确认】RE: [REQ-42] 导出CRM数据".into(),
        workflow_address: "workflow@corp.example".into(),
        ..MailCtx::default()
    }
}

fn outgoing(kind: Kind, locale: &str, ctx: MailCtx) -> Outgoing {
    let item = (!ctx.id.is_empty()).then(|| ctx.id.clone());
    Outgoing {
        kind,
        to: vec![Mailbox::new(Some("王五"), "wangwu@corp.example")],
        cc: vec![Mailbox::new(None, "rd@corp.example")],
        item,
        locale: locale.into(),
        ctx,
        attachments: vec![],
    }
}

fn envelope() -> Envelope {
    Envelope {
        from: Mailbox::new(Some("协作流程"), "workflow@corp.example"),
        message_id: "out-1@corp.example".into(),
        in_reply_to: Some("in-9@corp.example".into()),
        references: vec!["root@corp.example".into(), "in-9@corp.example".into()],
        date: DateTime::parse_from_rfc3339("2026-12-20T09:30:00+08:00").unwrap(),
        files: vec![],
    }
}

#[test]
fn every_kind_renders_in_every_locale_full_and_minimal() {
    let r = renderer();
    assert!(r.locales().contains(&"zh-CN".to_string()));
    assert!(r.locales().contains(&"en".to_string()));
    for locale in r.locales() {
        for kind in Kind::ALL {
            let full = r
                .render_parts(&outgoing(kind, &locale, full_ctx()))
                .unwrap_or_else(|e| panic!("{locale}/{}: {e}", kind.name()));
            assert!(!full.subject.is_empty(), "{locale}/{}", kind.name());
            assert!(full.text.ends_with('\n'));
            assert!(full.html.contains("</html>"), "{locale}/{}", kind.name());
            let min = outgoing(kind, &locale, MailCtx::default());
            let min = r
                .render_parts(&min)
                .unwrap_or_else(|e| panic!("{locale}/{} minimal: {e}", kind.name()));
            assert!(!min.text.trim().is_empty(), "{locale}/{}", kind.name());
        }
    }
}

#[test]
fn subject_carries_the_bracketed_id() {
    let r = renderer();
    for locale in ["zh-CN", "en"] {
        for kind in Kind::ALL {
            let p = r.render_parts(&outgoing(kind, locale, full_ctx())).unwrap();
            assert!(
                p.subject.starts_with("[REQ-42] "),
                "{locale}/{}: {}",
                kind.name(),
                p.subject
            );
            assert_eq!(p.subject.matches("[REQ-42]").count(), 1);
        }
    }
    let mut ctx = full_ctx();
    ctx.id = "REQ-42.1".into();
    let p = r
        .render_parts(&outgoing(Kind::Assigned, "zh-CN", ctx))
        .unwrap();
    assert!(p.subject.starts_with("[REQ-42.1] "), "{}", p.subject);
}

#[test]
fn zh_cn_text_uses_the_handbook_words() {
    let r = renderer();
    let text = |kind: Kind| {
        r.render_parts(&outgoing(kind, "zh-CN", full_ctx()))
            .unwrap()
            .text
    };
    let dept_new = text(Kind::DeptNew);
    for word in [
        "协作部门",
        "时间节点",
        "质量要求",
        "【确认】",
        "【疑问】",
        "【拒绝】",
        "任务分配",
    ] {
        assert!(
            dept_new.contains(word),
            "dept_new lacks {word}:\n{dept_new}"
        );
    }
    let assigned = text(Kind::Assigned);
    for word in ["【接收】", "【退回】", "进度汇报", "截止时间", "质量要求"] {
        assert!(
            assigned.contains(word),
            "assigned lacks {word}:\n{assigned}"
        );
    }
    assert!(text(Kind::Plan).contains("协作计划"));
    assert!(text(Kind::Progress).contains("进度"));
    assert!(text(Kind::VerifyRequest).contains("【验收】"));
    // States, priorities and transcript keys are translated, not codes.
    let ack = text(Kind::Ack);
    assert!(ack.contains("需求状态：已确认"), "{ack}");
    assert!(ack.contains("优先级：高"));
    assert!(ack.contains("动作：确认"));
    assert!(!ack.contains("confirmed"));
}

#[test]
fn refusal_says_why_what_state_and_what_would_be_accepted() {
    let r = renderer();
    let mut ctx = full_ctx();
    ctx.reason = "unknown_keyword".into();
    ctx.detail = "CONFRIM".into();
    ctx.suggestions = vec!["[CONFIRM]".into()];
    ctx.allowed = vec!["[CONFIRM] / [CLARIFY] / [REJECT]".into()];
    ctx.state = "proposed".into();
    let zh = r
        .render_parts(&outgoing(Kind::Refusal, "zh-CN", ctx.clone()))
        .unwrap();
    assert!(
        zh.text.contains("无法识别主题中的标记（CONFRIM）"),
        "{}",
        zh.text
    );
    assert!(zh.text.contains("当前状态：待确认"));
    assert!(zh.text.contains("您是不是想写：[CONFIRM]"));
    assert!(zh.text.contains("没有改变"));
    assert!(
        zh.text.contains("【确认】 确认可行"),
        "guide for a bad keyword"
    );
    let en = r.render_parts(&outgoing(Kind::Refusal, "en", ctx)).unwrap();
    assert!(en
        .text
        .contains("the tag in the subject is not one we know (CONFRIM)"));
    assert!(en.text.contains("Current state:  awaiting confirmation"));
    assert!(en.text.contains("Did you mean: [CONFIRM]"));
    assert!(en.text.contains("nothing has changed"));
    assert!(en.html.contains("Did you mean"));
}

#[test]
fn every_reason_code_is_translated_with_a_hint() {
    let r = renderer();
    let reasons = [
        "unknown_id",
        "unknown_keyword",
        "no_action",
        "wrong_state",
        "not_target_member",
        "not_requester",
        "not_assignee",
        "not_lead",
        "dept_not_confirmed",
        "missing_field",
        "bad_date",
        "bad_field",
        "no_departments",
        "unknown_department",
        "unknown_owner",
        "no_tasks",
        "wrong_item_kind",
        "already_done",
        "not_participant",
    ];
    for locale in ["zh-CN", "en"] {
        for reason in reasons {
            let mut ctx = full_ctx();
            ctx.reason = reason.into();
            ctx.detail = String::new();
            let p = r
                .render_parts(&outgoing(Kind::Refusal, locale, ctx))
                .unwrap();
            assert!(!p.text.contains(reason), "{locale}: {reason} untranslated");
        }
    }
}

#[test]
fn html_is_escaped_and_text_is_verbatim() {
    let r = renderer();
    let mut ctx = full_ctx();
    ctx.title = "<script>alert('x')</script> & co".into();
    ctx.note = "a <b>bold</b> claim\nline two".into();
    ctx.actor = "Mallory <img src=x onerror=alert(1)> <m@corp.example>".into();
    ctx.tasks[0].title = "<i>task</i>".into();
    ctx.history = vec![crossdesk::model::HistoryCtx {
        at: "2026-11-26 10:00".into(),
        item: "REQ-1".into(),
        kind: "comment".into(),
        actor: "m@corp.example".into(),
        detail: "<script>x</script>".into(),
    }];
    for locale in ["zh-CN", "en"] {
        for kind in Kind::ALL {
            let p = r
                .render_parts(&outgoing(kind, locale, ctx.clone()))
                .unwrap();
            assert!(!p.html.contains("<script>"), "{locale}/{}", kind.name());
            assert!(!p.html.contains("<b>bold"), "{locale}/{}", kind.name());
            assert!(!p.html.contains("<i>task"), "{locale}/{}", kind.name());
            assert!(!p.html.contains("<img"), "{locale}/{}", kind.name());
            if !matches!(kind, Kind::Help | Kind::Mine) {
                assert!(p.subject.contains("<script>alert('x')</script> & co"));
            }
        }
        let p = r
            .render_parts(&outgoing(Kind::Progress, locale, ctx.clone()))
            .unwrap();
        assert!(
            p.text.contains("a <b>bold</b> claim\nline two"),
            "{}",
            p.text
        );
        assert!(p.text.contains("<i>task</i>"));
        assert!(
            p.html.contains("a &lt;b&gt;bold&lt;/b&gt; claim<br>"),
            "{}",
            p.html
        );
        let p = r
            .render_parts(&outgoing(Kind::Ack, locale, ctx.clone()))
            .unwrap();
        assert!(p.html.contains("&lt;script&gt;"));
        assert!(p.text.contains("<script>alert('x')</script> & co"));
    }
}

#[test]
fn overdue_and_blocked_tasks_are_marked() {
    let r = renderer();
    let today = NaiveDate::from_ymd_opt(2026, 11, 20);
    let p = r
        .render_parts_on(&outgoing(Kind::Progress, "en", full_ctx()), today)
        .unwrap();
    // REQ-42.2 is due 2026-11-01 and blocked; REQ-42.1 is due 2026-12-10.
    assert!(
        p.text.contains("due 2026-11-01, ⚠ PROBLEM, ⚠ OVERDUE"),
        "{}",
        p.text
    );
    assert!(p.text.contains("due 2026-12-10\n"));
    assert!(p.html.contains("color:#b91c1c;background-color:#fef2f2;"));
    assert!(p.html.contains("width:60px"), "progress bar of 60%");
    // Without a date nothing is called overdue.
    let p = r
        .render_parts(&outgoing(Kind::Progress, "en", full_ctx()))
        .unwrap();
    assert!(!p.text.contains("OVERDUE"));
}

#[test]
fn locales_match_tolerantly_and_fall_back() {
    let r = renderer();
    assert_eq!(r.resolve_locale("zh-CN"), "zh-CN");
    assert_eq!(r.resolve_locale("zh_cn"), "zh-CN");
    assert_eq!(r.resolve_locale("zh-Hans"), "zh-CN");
    assert_eq!(r.resolve_locale("en-US"), "en");
    assert_eq!(r.resolve_locale("EN"), "en");
    assert_eq!(r.resolve_locale("fr"), "zh-CN");
    assert_eq!(r.resolve_locale(""), "zh-CN");
    let en = Renderer::new(None).unwrap().with_fallback("en").unwrap();
    assert_eq!(en.resolve_locale("fr"), "en");
    assert!(Renderer::new(None).unwrap().with_fallback("fr").is_err());
    let p = en
        .render_parts(&outgoing(Kind::Ack, "de-DE", full_ctx()))
        .unwrap();
    assert_eq!(p.locale, "en");
    assert!(p.text.starts_with("Hello,"));
}

fn parse(bytes: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default().parse(bytes).expect("parses")
}

fn header_text(m: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    m.header_raw(name).map(|v| v.trim().to_string())
}

#[test]
fn the_message_parses_back_with_every_header() {
    let r = renderer();
    let out = outgoing(Kind::Confirmed, "zh-CN", full_ctx());
    let bytes = r.render_message(&out, &envelope()).unwrap();
    let raw = String::from_utf8_lossy(&bytes);
    assert!(bytes.is_ascii(), "headers and bodies are encoded");
    let m = parse(&bytes);
    assert_eq!(m.subject(), Some("[REQ-42] 研发部已确认：导出CRM数据"));
    let from = m.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some("协作流程"));
    assert_eq!(from.address(), Some("workflow@corp.example"));
    let reply_to = m.reply_to().and_then(|a| a.first()).unwrap();
    assert_eq!(reply_to.address(), Some("workflow@corp.example"));
    let to = m.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.name(), Some("王五"));
    assert_eq!(to.address(), Some("wangwu@corp.example"));
    assert_eq!(
        m.cc().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("rd@corp.example")
    );
    assert_eq!(m.message_id(), Some("out-1@corp.example"));
    assert_eq!(m.in_reply_to().as_text(), Some("in-9@corp.example"));
    let refs: Vec<&str> = m
        .references()
        .as_text_list()
        .map(|l| l.iter().map(|s| s.as_ref()).collect())
        .unwrap_or_default();
    assert_eq!(refs, ["root@corp.example", "in-9@corp.example"]);
    assert!(raw.contains("References: <root@corp.example> <in-9@corp.example>\r\n"));
    assert_eq!(
        header_text(&m, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        header_text(&m, "X-Auto-Response-Suppress").as_deref(),
        Some("All")
    );
    assert_eq!(header_text(&m, "X-Crossdesk-Id").as_deref(), Some("REQ-42"));
    assert_eq!(
        header_text(&m, "X-Crossdesk-Kind").as_deref(),
        Some("confirmed")
    );
    assert!(header_text(&m, "Precedence").is_none());
    assert!(
        raw.contains("Date: Sun, 20 Dec 2026 09:30:00 +0800\r\n"),
        "{raw}"
    );
    assert!(raw.contains("multipart/alternative"));
    let text = m.body_text(0).unwrap();
    assert!(
        text.contains("研发部（李四）已确认需求 REQ-42 可行。"),
        "{text}"
    );
    let html = m.body_html(0).unwrap();
    assert!(html.contains("<strong>REQ-42</strong>"), "{html}");
    let parts: Vec<String> = m
        .parts
        .iter()
        .filter_map(|p| p.content_type())
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")))
        .collect();
    assert!(parts.contains(&"text/plain".to_string()), "{parts:?}");
    assert!(parts.contains(&"text/html".to_string()), "{parts:?}");
    assert!(raw.to_ascii_lowercase().contains("charset=utf-8"));
}

#[test]
fn replies_are_auto_replied_and_notifications_auto_generated() {
    let r = renderer();
    for (kind, want) in [
        (Kind::Ack, "auto-replied"),
        (Kind::Refusal, "auto-replied"),
        (Kind::Help, "auto-replied"),
        (Kind::DeptNew, "auto-generated"),
        (Kind::Closed, "auto-generated"),
    ] {
        let bytes = r
            .render_message(&outgoing(kind, "en", full_ctx()), &envelope())
            .unwrap();
        let m = parse(&bytes);
        assert_eq!(header_text(&m, "Auto-Submitted").as_deref(), Some(want));
    }
}

#[test]
fn a_help_mail_without_item_has_no_id_header() {
    let r = renderer();
    let mut out = outgoing(Kind::Help, "en", MailCtx::default());
    out.item = None;
    let mut env = envelope();
    env.in_reply_to = None;
    env.references.clear();
    let bytes = r.render_message(&out, &env).unwrap();
    let m = parse(&bytes);
    assert_eq!(m.subject(), Some("How to work with the workflow by mail"));
    assert!(header_text(&m, "X-Crossdesk-Id").is_none());
    assert!(header_text(&m, "In-Reply-To").is_none());
    assert!(header_text(&m, "References").is_none());
    assert_eq!(header_text(&m, "X-Crossdesk-Kind").as_deref(), Some("help"));
}

#[test]
fn header_injection_through_title_or_names_adds_no_header() {
    let r = renderer();
    let mut ctx = full_ctx();
    ctx.title = "x\r\nBcc: victim@x.example\r\n\r\nbody".into();
    let mut out = outgoing(Kind::Ack, "en", ctx);
    out.to = vec![Mailbox {
        name: Some("Eve\r\nBcc: victim2@x.example".into()),
        address: "eve@corp.example".into(),
    }];
    let mut env = envelope();
    env.from = Mailbox {
        name: Some("Flow\nX-Evil: 1".into()),
        address: "workflow@corp.example".into(),
    };
    env.references.push("a@b\r\nBcc: victim3@x.example".into());
    let bytes = r.render_message(&out, &env).unwrap();
    let m = parse(&bytes);
    assert!(m.bcc().is_none());
    assert!(header_text(&m, "X-Evil").is_none());
    let raw = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
    let head = &raw[..raw.find("\r\n\r\n").unwrap()];
    assert!(!head.contains("\nbcc:"), "{head}");
    assert!(!head.contains("\nx-evil:"));
    let from = m.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some("Flow X-Evil: 1"));
    assert_eq!(
        m.subject(),
        Some("[REQ-42] Registered: x Bcc: victim@x.example body")
    );
    // A Message-ID of ours that is not one is an error, not a header.
    let mut env = envelope();
    env.message_id = "a@b\r\nBcc: x@y".into();
    assert!(r
        .render_message(&outgoing(Kind::Ack, "en", full_ctx()), &env)
        .is_err());
}

#[test]
fn long_reference_chains_keep_the_root_and_the_latest() {
    let r = renderer();
    let mut env = envelope();
    env.references = (0..40).map(|i| format!("m{i}@corp.example")).collect();
    env.in_reply_to = Some("m39@corp.example".into());
    let bytes = r
        .render_message(&outgoing(Kind::Comment, "en", full_ctx()), &env)
        .unwrap();
    let m = parse(&bytes);
    let refs: Vec<String> = m
        .references()
        .as_text_list()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(refs.len(), 11);
    assert_eq!(refs[0], "m0@corp.example");
    assert_eq!(refs[1], "m30@corp.example");
    assert_eq!(refs[10], "m39@corp.example");
    // The parent is always last, even when the caller's list lacks it.
    env.references = vec!["root@corp.example".into()];
    env.in_reply_to = Some("<p@corp.example>".into());
    let bytes = r
        .render_message(&outgoing(Kind::Comment, "en", full_ctx()), &env)
        .unwrap();
    let m = parse(&bytes);
    let refs: Vec<String> = m
        .references()
        .as_text_list()
        .map(|l| l.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(refs, ["root@corp.example", "p@corp.example"]);
}

#[test]
fn a_template_can_be_overridden_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let zh = dir.path().join("zh-CN");
    std::fs::create_dir_all(&zh).unwrap();
    std::fs::write(
        zh.join("ack.hbs"),
        "our own\r\n--- subject ---\r\n收到：{{title}}\r\n--- text ---\r\n编号 {{id}}，{{state_name state}}\r\n--- html ---\r\n<p>{{id}}</p>\r\n",
    )
    .unwrap();
    std::fs::write(
        zh.join("names.toml"),
        "[state]\nconfirmed = \"已确认可行\"\n",
    )
    .unwrap();
    let r = Renderer::new(Some(dir.path())).unwrap();
    let p = r
        .render_parts(&outgoing(Kind::Ack, "zh-CN", full_ctx()))
        .unwrap();
    assert_eq!(p.subject, "[REQ-42] 收到：导出CRM数据");
    assert_eq!(p.text, "编号 REQ-42，已确认可行\n");
    assert_eq!(p.html.trim(), "<p>REQ-42</p>");
    // Other files and other names keep the built-in ones.
    let p = r
        .render_parts(&outgoing(Kind::DeptNew, "zh-CN", full_ctx()))
        .unwrap();
    assert!(p.text.contains("优先级：高"));
    let p = r
        .render_parts(&outgoing(Kind::Ack, "en", full_ctx()))
        .unwrap();
    assert!(p.subject.starts_with("[REQ-42] Registered"));
}

#[test]
fn override_partials_are_inlined_or_called_and_a_broken_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let en = dir.path().join("en");
    std::fs::create_dir_all(&en).unwrap();
    std::fs::write(
        en.join("_who.hbs"),
        "--- text ---\n[{{#if who}}{{who}}{{else}}{{id}}{{/if}}]\n--- html ---\n<b>{{id}}</b>\n",
    )
    .unwrap();
    // Called plainly (inlined), with a hash (left to handlebars), and in
    // a block (inlined there too).
    std::fs::write(
        en.join("ack.hbs"),
        "--- subject ---\nS {{id}}\n--- text ---\n{{> _who}} {{> _who who=title}} {{#if id}}{{> _who}}{{/if}}\n--- html ---\n{{> _who}}\n",
    )
    .unwrap();
    let r = Renderer::checked(Some(dir.path())).unwrap();
    let p = r
        .render_parts(&outgoing(Kind::Ack, "en", full_ctx()))
        .unwrap();
    // (each partial's text ends with its newline)
    assert_eq!(p.text, "[REQ-42]\n [导出CRM数据]\n [REQ-42]\n");
    assert_eq!(p.html.trim(), "<b>REQ-42</b>");
    // A partial that does not compile is named, by `check` and on use.
    std::fs::write(
        en.join("_who.hbs"),
        "--- text ---\n{{#if who}}\n--- html ---\n\n",
    )
    .unwrap();
    let err = Renderer::checked(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("_who.hbs"), "{err}");
    let lazy = Renderer::new(Some(dir.path())).unwrap();
    let err = lazy.compile_kind("ack", "en").unwrap_err().to_string();
    assert!(err.contains("_who.hbs"), "{err}");
    // Refused again on the next use, not half-compiled.
    assert!(lazy.compile_kind("ack", "en").is_err());
    // One that includes itself is refused, not followed for ever.
    std::fs::write(
        en.join("_who.hbs"),
        "--- text ---\n{{> _who}}\n--- html ---\n\n",
    )
    .unwrap();
    let err = Renderer::checked(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("_who.hbs") && err.contains("itself"), "{err}");
}

#[test]
fn a_broken_override_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let en = dir.path().join("en");
    std::fs::create_dir_all(&en).unwrap();
    std::fs::write(
        en.join("ack.hbs"),
        "--- subject ---\n{{#if x}}\n--- text ---\n\n--- html ---\n\n",
    )
    .unwrap();
    let err = Renderer::checked(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("ack.hbs"), "{err}");
    // Compiled on first use: the other kinds render, this one is refused
    // before it renders, saying which file.
    let lazy = Renderer::new(Some(dir.path())).unwrap();
    assert!(lazy
        .render_parts(&outgoing(Kind::Assigned, "en", full_ctx()))
        .is_ok());
    let err = lazy.compile_kind("ack", "en").unwrap_err().to_string();
    assert!(err.contains("ack.hbs"), "{err}");
    assert!(lazy
        .render_parts(&outgoing(Kind::Ack, "en", full_ctx()))
        .is_err());
    assert!(lazy.compile_all().is_err());
    std::fs::write(en.join("ack.hbs"), "--- subject ---\nx\n--- text ---\ny\n").unwrap();
    let err = Renderer::checked(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("--- html ---"), "{err}");
}

#[test]
fn robot_messages_come_from_templates_that_can_be_overridden() {
    let ctx = MailCtx {
        title: "rd-bot".into(),
        workflow_address: "workflow@corp.example".into(),
        ..MailCtx::default()
    };
    for (locale, word) in [("zh-CN", "测试消息"), ("en", "test message")] {
        let m = renderer().render_im("test", locale, &ctx).unwrap();
        assert!(m.title.contains(word), "{locale}: {m:?}");
        assert!(
            m.text.contains("`rd-bot`") && m.text.contains("workflow@corp.example"),
            "{locale}: {m:?}"
        );
        // Markdown stays as written: nothing is HTML-escaped.
        assert!(m.text.starts_with("### "), "{locale}: {m:?}");
        assert!(m.text.len() < 4096);
    }
    // An override in `<dir>/<locale>/im/`, and a broken one refused at start.
    let dir = tempfile::tempdir().unwrap();
    let im = dir.path().join("en/im");
    std::fs::create_dir_all(&im).unwrap();
    std::fs::write(
        im.join("test.hbs"),
        "--- subject ---\nHello <{{title}}>\n--- text ---\n**{{title}}** & co\n",
    )
    .unwrap();
    let r = Renderer::new(Some(dir.path())).unwrap();
    let m = r.render_im("test", "en", &ctx).unwrap();
    assert_eq!(m.title, "Hello <rd-bot>");
    assert_eq!(m.text, "**rd-bot** & co\n");
    std::fs::write(
        im.join("test.hbs"),
        "--- subject ---\n{{#if x}}\n--- text ---\n\n",
    )
    .unwrap();
    let err = Renderer::checked(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("im/test.hbs"), "{err}");
}

#[test]
fn a_new_locale_can_be_added_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let ja = dir.path().join("ja");
    std::fs::create_dir_all(&ja).unwrap();
    std::fs::write(ja.join("names.toml"), "[state]\nconfirmed = \"確認済み\"\n").unwrap();
    for kind in Kind::ALL {
        std::fs::write(
            ja.join(format!("{}.hbs", kind.name())),
            "--- subject ---\n{{title}}\n--- text ---\n{{state_name state}}\n--- html ---\n<p>{{title}}</p>\n",
        )
        .unwrap();
    }
    std::fs::create_dir_all(ja.join("im")).unwrap();
    for kind in crossdesk::render::IM_KINDS {
        std::fs::write(
            ja.join(format!("{kind}.hbs")),
            "--- subject ---\nテスト\n--- text ---\n{{title}}\n",
        )
        .unwrap();
    }
    let r = Renderer::new(Some(dir.path())).unwrap();
    assert_eq!(r.locales(), ["en", "ja", "zh-CN"]);
    let m = r.render_im("test", "ja", &full_ctx()).unwrap();
    assert_eq!(
        (m.title.as_str(), m.text.as_str()),
        ("テスト", "导出CRM数据\n")
    );
    let p = r
        .render_parts(&outgoing(Kind::Confirmed, "ja-JP", full_ctx()))
        .unwrap();
    assert_eq!(p.text, "確認済み\n");
    // An incomplete one is refused with the missing kind named, when
    // checked or first used; the other locales go on.
    std::fs::remove_file(ja.join("help.hbs")).unwrap();
    let err = Renderer::checked(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("help"), "{err}");
    let r = Renderer::new(Some(dir.path())).unwrap();
    let err = r
        .render_parts(&outgoing(Kind::Confirmed, "ja", full_ctx()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("help"), "{err}");
    assert!(r
        .render_parts(&outgoing(Kind::Confirmed, "en", full_ctx()))
        .is_ok());
}

/// `cargo test --release --test render render_speed -- --ignored --nocapture`
/// Prints the best of several rounds (the machine may be shared).
#[test]
#[ignore]
fn render_speed() {
    let r = renderer();
    let outs: Vec<Outgoing> = Kind::ALL
        .iter()
        .flat_map(|k| ["zh-CN", "en"].map(|l| outgoing(*k, l, full_ctx())))
        .collect();
    let env = envelope();
    let n = 4_000;
    let (mut parts, mut whole) = (std::time::Duration::MAX, std::time::Duration::MAX);
    for _ in 0..5 {
        let t = std::time::Instant::now();
        for i in 0..n {
            std::hint::black_box(r.render_parts(&outs[i % outs.len()]).unwrap());
        }
        parts = parts.min(t.elapsed() / n as u32);
        let t = std::time::Instant::now();
        for i in 0..n / 4 {
            std::hint::black_box(r.render_message(&outs[i % outs.len()], &env).unwrap());
        }
        whole = whole.min(t.elapsed() / (n / 4) as u32);
    }
    println!("render_parts: {parts:?} per mail; render_message: {whole:?} per mail");
}

/// Writes every kind in every locale to `target/mail-samples/` for
/// eyeballing: `cargo test --test render write_samples -- --ignored`.
#[test]
#[ignore]
fn write_samples() {
    let r = renderer();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mail-samples");
    let dir = dir.as_path();
    std::fs::create_dir_all(dir).unwrap();
    for locale in r.locales() {
        for kind in Kind::ALL {
            let mut ctx = full_ctx();
            if matches!(
                kind,
                Kind::Assigned
                    | Kind::Accepted
                    | Kind::Declined
                    | Kind::Progress
                    | Kind::Blocked
                    | Kind::Done
            ) {
                ctx.id = "REQ-42.1".into();
                ctx.title = "导出接口".into();
                ctx.req_title = "导出CRM数据".into();
            }
            let p = r
                .render_parts_on(
                    &outgoing(kind, &locale, ctx),
                    NaiveDate::from_ymd_opt(2026, 11, 20),
                )
                .unwrap();
            std::fs::write(
                dir.join(format!("{locale}.{}.txt", kind.name())),
                format!("Subject: {}\n\n{}", p.subject, p.text),
            )
            .unwrap();
            std::fs::write(dir.join(format!("{locale}.{}.html", kind.name())), &p.html).unwrap();
            let m = r
                .render_parts(&outgoing(kind, &locale, MailCtx::default()))
                .unwrap();
            std::fs::write(
                dir.join(format!("{locale}.{}.min.txt", kind.name())),
                format!("Subject: {}\n\n{}", m.subject, m.text),
            )
            .unwrap();
        }
    }
}

/// docs/protocol.md#never-own: our own mail that comes back is set aside,
/// even through a relay that rewrote its From and dropped Auto-Submitted.
#[test]
fn our_own_mail_is_known_after_a_relay_rewrote_it() {
    let r = renderer();
    let out = outgoing(Kind::Confirmed, "zh-CN", full_ctx());
    let bytes = r.render_message(&out, &envelope()).unwrap();
    let raw = String::from_utf8_lossy(&bytes);
    assert!(raw.contains("X-Loop: workflow@corp.example\r\n"), "{raw}");
    let rewritten: String = raw
        .split("\r\n")
        .filter(|l| {
            !l.starts_with("Auto-Submitted:") && !l.starts_with("X-Auto-Response-Suppress:")
        })
        .map(|l| {
            if l.starts_with("From:") {
                "From: alice@corp.example".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let inbound = crossdesk::mail::parse::parse(rewritten.as_bytes()).unwrap();
    assert_eq!(
        inbound.from.as_ref().map(|f| f.address.as_str()),
        Some("alice@corp.example")
    );
    let why = crossdesk::mail::filter::screen(&inbound, "workflow@corp.example");
    assert!(
        matches!(why, Some(crossdesk::mail::filter::SetAside::OwnMail(_))),
        "{why:?}"
    );
}
