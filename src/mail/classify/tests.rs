//! One test per rule of `classify` (see the module docs).

use super::*;
use crate::model::{Action, FieldProblem, ItemId, Milestone, Priority, ReqId, TaskId, TaskLine};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// Monday 15 June 2026.
fn today() -> NaiveDate {
    d(2026, 6, 15)
}

fn req(n: u32) -> ItemId {
    ItemId::Req(ReqId(n))
}

fn task(n: u32, m: u32) -> ItemId {
    ItemId::Task(TaskId {
        req: ReqId(n),
        n: m,
    })
}

fn c(subject: &str) -> Command {
    classify(subject, "", &Keywords::default(), today())
}

fn cb(subject: &str, body: &str) -> Command {
    classify(subject, body, &Keywords::default(), today())
}

fn pd(s: &str) -> Option<NaiveDate> {
    parse_date(s, today())
}

#[track_caller]
fn assert_cmd(subject: &str, action: Option<Action>, target: Option<ItemId>, title: &str) {
    let cmd = c(subject);
    assert_eq!(cmd.action, action, "action of {subject:?}: {cmd:?}");
    assert_eq!(cmd.target, target, "target of {subject:?}: {cmd:?}");
    assert_eq!(cmd.title, title, "title of {subject:?}: {cmd:?}");
}

// ───────────────────────── subject: PROTOCOL examples ─────────────────────────

#[test]
fn protocol_examples_all_mean_confirm_req_42() {
    for s in [
        "[CONFIRM REQ-42]",
        "【确认】RE: [REQ-42] Export CRM data",
        "答复: [confirm] [REQ-42] …",
        "Re: 回复：【确认】[REQ-42] x",
    ] {
        let cmd = c(s);
        assert_eq!(cmd.action, Some(Action::Confirm), "{s}");
        assert_eq!(cmd.target, Some(req(42)), "{s}");
        assert_eq!(cmd.unknown_keyword, None, "{s}");
    }
    assert_eq!(
        c("【确认】RE: [REQ-42] Export CRM data").title,
        "Export CRM data"
    );
    assert_eq!(c("答复: [confirm] [REQ-42] …").title, "…");
    assert_eq!(c("Re: 回复：【确认】[REQ-42] x").title, "x");
}

#[test]
fn daemon_subjects_correlate_as_comment() {
    assert_cmd(
        "[REQ-42] Export CRM data",
        Some(Action::Comment),
        Some(req(42)),
        "Export CRM data",
    );
    assert_cmd(
        "[REQ-42.1] Export API",
        Some(Action::Comment),
        Some(task(42, 1)),
        "Export API",
    );
}

#[test]
fn plain_reply_to_daemon_mail_is_comment() {
    assert_cmd(
        "Re: [REQ-42] Export CRM data",
        Some(Action::Comment),
        Some(req(42)),
        "Export CRM data",
    );
    assert_cmd(
        "RE: RE: [REQ-42.1] Export API",
        Some(Action::Comment),
        Some(task(42, 1)),
        "Export API",
    );
}

#[test]
fn protocol_assign_and_plan_subjects() {
    assert_cmd(
        "[ASSIGN REQ-42] tasks",
        Some(Action::Assign),
        Some(req(42)),
        "tasks",
    );
    assert_cmd("[PLAN] [REQ-42]", Some(Action::Plan), Some(req(42)), "");
}

// ───────────────────────── subject: keywords ─────────────────────────

#[test]
fn new_requirement_keyword_and_title() {
    assert_cmd(
        "[REQ] Export CRM data",
        Some(Action::NewReq),
        None,
        "Export CRM data",
    );
    assert_cmd(
        "【需求】导出客户数据",
        Some(Action::NewReq),
        None,
        "导出客户数据",
    );
    assert_cmd(
        "[REQUEST] Export CRM data",
        Some(Action::NewReq),
        None,
        "Export CRM data",
    );
    assert_cmd(
        "[req]Export CRM data",
        Some(Action::NewReq),
        None,
        "Export CRM data",
    );
    assert_cmd(
        "Export CRM data [REQ]",
        Some(Action::NewReq),
        None,
        "Export CRM data",
    );
}

#[test]
fn req_keyword_is_not_req_identifier() {
    assert_eq!(c("[REQ]").target, None);
    assert_eq!(c("[REQ]").action, Some(Action::NewReq));
    assert_eq!(c("[REQ-42]").action, Some(Action::Comment));
    assert_eq!(c("[REQ-42]").target, Some(req(42)));
}

#[test]
fn new_req_keyword_with_tag_id_is_comment() {
    assert_cmd(
        "[REQ] [REQ-42] Export",
        Some(Action::Comment),
        Some(req(42)),
        "Export",
    );
    assert_cmd(
        "[REQ-42] [REQ] Export",
        Some(Action::Comment),
        Some(req(42)),
        "Export",
    );
    assert_cmd(
        "[REQ REQ-42] Export",
        Some(Action::Comment),
        Some(req(42)),
        "Export",
    );
}

#[test]
fn new_req_keeps_bare_id_in_title() {
    assert_cmd(
        "[REQ] Follow-up of REQ-41: more fields",
        Some(Action::NewReq),
        None,
        "Follow-up of REQ-41: more fields",
    );
}

#[test]
fn every_default_keyword_maps_to_its_action() {
    let kw = Keywords::default();
    let mut n = 0;
    for (action, words) in DEFAULT_KEYWORDS {
        assert_eq!(&kw.words_for(*action), words);
        for w in *words {
            n += 1;
            let expect = if *action == Action::NewReq {
                Action::Comment
            } else {
                *action
            };
            for s in [
                format!("[{w} REQ-7] x"),
                format!("[{w}] [REQ-7] x"),
                format!("【{w}】REQ-7 x"),
                format!("[{}] Re: [REQ-7] x", w.to_lowercase()),
            ] {
                let cmd = classify(&s, "", &kw, today());
                if *action == Action::NewReq && s.starts_with('【') {
                    // A bare id in a new requirement's subject is title text.
                    assert_eq!(cmd.action, Some(Action::NewReq), "{s}");
                    assert_eq!(cmd.target, None, "{s}");
                    assert_eq!(cmd.title, "REQ-7 x", "{s}");
                    continue;
                }
                assert_eq!(cmd.action, Some(expect), "{s}");
                assert_eq!(cmd.target, Some(req(7)), "{s}");
                assert_eq!(cmd.title, "x", "{s}");
            }
            let cmd = classify(&format!("[{w}]"), "", &kw, today());
            assert_eq!(cmd.action, Some(*action), "{w}");
        }
    }
    assert_eq!(n, 52);
}

#[test]
fn keywords_are_case_insensitive() {
    for s in [
        "[Confirm] [REQ-42]",
        "[cOnFiRm REQ-42]",
        "[confirm req-42]",
        "[ack] req-42",
    ] {
        assert_eq!(c(s).action, Some(Action::Confirm), "{s}");
        assert_eq!(c(s).target, Some(req(42)), "{s}");
    }
}

#[test]
fn first_keyword_wins() {
    assert_eq!(
        c("[CONFIRM] [REJECT] [REQ-42]").action,
        Some(Action::Confirm)
    );
    assert_eq!(c("[REJECT CONFIRM REQ-42]").action, Some(Action::Reject));
    assert_eq!(c("【拒绝】[CONFIRM] REQ-42").action, Some(Action::Reject));
}

#[test]
fn keyword_without_id_has_no_target() {
    assert_cmd(
        "[CONFIRM] Export CRM data",
        Some(Action::Confirm),
        None,
        "Export CRM data",
    );
    assert_cmd("Re: 【完成】", Some(Action::Done), None, "");
}

#[test]
fn no_keyword_no_id_is_none() {
    assert_cmd("Lunch on Friday", None, None, "Lunch on Friday");
    assert_cmd("Re: Lunch on Friday", None, None, "Lunch on Friday");
    assert_cmd("", None, None, "");
}

#[test]
fn bare_keyword_outside_brackets_is_title_text() {
    assert_cmd(
        "CONFIRM REQ-42",
        Some(Action::Comment),
        Some(req(42)),
        "CONFIRM",
    );
}

#[test]
fn cjk_keyword_attached_to_id() {
    assert_cmd("【确认REQ-42】", Some(Action::Confirm), Some(req(42)), "");
    assert_cmd("[CONFIRM-REQ-42]", Some(Action::Confirm), Some(req(42)), "");
    assert_cmd(
        "[CONFIRM:REQ-42] x",
        Some(Action::Confirm),
        Some(req(42)),
        "x",
    );
    assert_cmd(
        "[进度|REQ-42.1] x",
        Some(Action::Progress),
        Some(task(42, 1)),
        "x",
    );
}

#[test]
fn custom_keyword_added() {
    let mut kw = Keywords::default();
    kw.add(Action::Confirm, "OK");
    kw.add(Action::Close, "sign off");
    kw.add(Action::Close, "SIGN-OFF");
    kw.add(Action::Accept, "收到");
    let k = |s: &str| classify(s, "", &kw, today());
    assert_eq!(k("[ok REQ-42]").action, Some(Action::Confirm));
    assert_eq!(k("[Sign Off] [REQ-42]").action, Some(Action::Close));
    assert_eq!(k("[SIGN-OFF REQ-42]").action, Some(Action::Close));
    assert_eq!(k("[SIGN-OFF REQ-42]").target, Some(req(42)));
    assert_eq!(k("【收到】REQ-42.1").action, Some(Action::Accept));
    // The default set does not know them.
    assert_eq!(c("[OK REQ-42]").action, Some(Action::Comment));
}

#[test]
fn words_for_lists_accepted_keywords() {
    let mut kw = Keywords::default();
    assert_eq!(
        kw.words_for(Action::Confirm),
        vec!["CONFIRM", "ACK", "确认"]
    );
    assert_eq!(
        kw.words_for(Action::Progress),
        vec!["PROGRESS", "STATUS", "进度", "汇报"]
    );
    assert!(kw.words_for(Action::Comment).is_empty());
    kw.add(Action::Confirm, "OK");
    assert_eq!(
        kw.words_for(Action::Confirm),
        vec!["CONFIRM", "ACK", "确认", "OK"]
    );
    assert_eq!(kw.iter().count(), 53);
}

#[test]
fn keywords_add_repoints_existing_word() {
    let mut kw = Keywords::default();
    kw.add(Action::Done, "close");
    assert_eq!(kw.lookup("CLOSE"), Some(Action::Done));
    assert!(!kw
        .words_for(Action::Close)
        .iter()
        .any(|w| w.eq_ignore_ascii_case("close")));
    assert!(kw.words_for(Action::Done).contains(&"close".to_string()));
    kw.add(Action::Done, "   ");
    assert_eq!(kw.iter().count(), 52);
}

#[test]
fn keyword_lookup_is_fullwidth_tolerant() {
    let kw = Keywords::default();
    assert_eq!(kw.lookup("ｃｏｎｆｉｒｍ"), Some(Action::Confirm));
    assert_eq!(kw.lookup(" Confirm "), Some(Action::Confirm));
    assert_eq!(kw.lookup("确认"), Some(Action::Confirm));
    assert_eq!(kw.lookup("confirmed"), None);
    assert!(Keywords::empty().lookup("confirm").is_none());
}

// ───────────────────────── subject: brackets and normalisation ─────────────────────────

#[test]
fn fullwidth_brackets_and_colon_prefix_confirm() {
    assert_cmd(
        "回复：【确认】【REQ-42】导出",
        Some(Action::Confirm),
        Some(req(42)),
        "导出",
    );
    assert_cmd(
        "Re：【CONFIRM】REQ-42",
        Some(Action::Confirm),
        Some(req(42)),
        "",
    );
}

#[test]
fn fullwidth_square_brackets_tolerated() {
    assert_cmd(
        "［CONFIRM］［REQ-42］ x",
        Some(Action::Confirm),
        Some(req(42)),
        "x",
    );
    assert_cmd("〖确认〗[REQ-42]", Some(Action::Confirm), Some(req(42)), "");
    // Any closer ends any opener.
    assert_cmd(
        "【CONFIRM REQ-42] x",
        Some(Action::Confirm),
        Some(req(42)),
        "x",
    );
}

#[test]
fn fullwidth_letters_and_digits_normalised() {
    assert_cmd(
        "[ＣＯＮＦＩＲＭ ＲＥＱ－４２]",
        Some(Action::Confirm),
        Some(req(42)),
        "",
    );
    assert_cmd(
        "【确认　ＲＥＱ－４２．１】",
        Some(Action::Confirm),
        Some(task(42, 1)),
        "",
    );
    assert_cmd(
        "Ｒｅ：ＲＥＱ－４２ 导出",
        Some(Action::Comment),
        Some(req(42)),
        "导出",
    );
}

#[test]
fn fullwidth_text_in_title_is_kept_as_written() {
    assert_cmd(
        "【需求】导出客户数据（第二期）",
        Some(Action::NewReq),
        None,
        "导出客户数据（第二期）",
    );
}

#[test]
fn spaces_inside_brackets_ignored() {
    assert_cmd(
        "[ CONFIRM   REQ-42 ]",
        Some(Action::Confirm),
        Some(req(42)),
        "",
    );
    assert_cmd("[ REQ - 42 ] x", Some(Action::Comment), Some(req(42)), "x");
    assert_cmd(
        "【 确 认 】[REQ-42]",
        Some(Action::Confirm),
        Some(req(42)),
        "",
    );
    assert_cmd(
        "[ C O N F I R M ] [REQ-42]",
        Some(Action::Confirm),
        Some(req(42)),
        "",
    );
}

#[test]
fn keyword_alone_id_in_other_bracket_or_bare() {
    assert_cmd(
        "[CONFIRM] [REQ-42] Export",
        Some(Action::Confirm),
        Some(req(42)),
        "Export",
    );
    assert_cmd(
        "[CONFIRM] Re: REQ-42 Export",
        Some(Action::Confirm),
        Some(req(42)),
        "Export",
    );
    assert_cmd(
        "[CONFIRM] Export CRM data (REQ-42)",
        Some(Action::Confirm),
        Some(req(42)),
        "Export CRM data",
    );
    assert_cmd(
        "Export CRM data REQ-42 【确认】",
        Some(Action::Confirm),
        Some(req(42)),
        "Export CRM data",
    );
}

#[test]
fn first_tag_id_wins_over_bare_id() {
    assert_eq!(c("about REQ-41 [CONFIRM REQ-42]").target, Some(req(42)));
    assert_eq!(c("[REQ-43] [REQ-42]").target, Some(req(43)));
    assert_eq!(c("Re: REQ-41 and REQ-42").target, Some(req(41)));
}

#[test]
fn task_id_parsed() {
    assert_cmd(
        "[ACCEPT REQ-42.3]",
        Some(Action::Accept),
        Some(task(42, 3)),
        "",
    );
    assert_cmd(
        "[req-42.3] x",
        Some(Action::Comment),
        Some(task(42, 3)),
        "x",
    );
    // A sentence full stop is not a task number.
    assert_eq!(c("see REQ-42.").target, Some(req(42)));
}

#[test]
fn other_brackets_stay_in_title() {
    assert_cmd(
        "[REQ] [Phase 2] Export",
        Some(Action::NewReq),
        None,
        "[Phase 2] Export",
    );
    assert_cmd(
        "[REQ-42] Re: [2] Export",
        Some(Action::Comment),
        Some(req(42)),
        "[2] Export",
    );
    assert_cmd("[REQ] a [ b", Some(Action::NewReq), None, "a [ b");
}

#[test]
fn extra_words_in_id_tag_are_title_text() {
    assert_cmd(
        "[REQ-42 Export CRM data]",
        Some(Action::Comment),
        Some(req(42)),
        "Export CRM data",
    );
    assert_cmd(
        "[CONFIRM REQ-42 thanks all]",
        Some(Action::Confirm),
        Some(req(42)),
        "thanks all",
    );
}

#[test]
fn keyword_with_other_words_and_no_id_is_an_ordinary_bracket() {
    assert_cmd("[REQ Export CRM data]", None, None, "[REQ Export CRM data]");
    assert_cmd(
        "[Project plan] kickoff",
        None,
        None,
        "[Project plan] kickoff",
    );
    assert_cmd(
        "[2026 plan] REQ-42",
        Some(Action::Comment),
        Some(req(42)),
        "[2026 plan]",
    );
    assert_cmd(
        "[Status update] REQ-42.1",
        Some(Action::Comment),
        Some(task(42, 1)),
        "[Status update]",
    );
    // Keywords only: a tag (first wins).
    assert_cmd(
        "【确认 需求】REQ-42",
        Some(Action::Confirm),
        Some(req(42)),
        "",
    );
}

#[test]
fn progress_keyword_with_lone_number() {
    let cmd = c("[PROGRESS 60] REQ-42.1");
    assert_eq!(cmd.action, Some(Action::Progress));
    assert_eq!(cmd.fields.progress, Some(60));
    assert_eq!(cmd.title, "");
    assert_eq!(c("[PROGRESS 160] REQ-42.1").action, Some(Action::Comment));
}

#[test]
fn id_shaped_junk_is_not_an_id() {
    assert_cmd("[REQ-0] x", None, None, "[REQ-0] x");
    assert_cmd("[REQUEST-42] x", None, None, "[REQUEST-42] x");
    assert_cmd("<REQ-42> x", Some(Action::Comment), Some(req(42)), "x");
}

#[test]
fn reply_prefix_words_inside_a_tag_are_not_unknown_keywords() {
    let cmd = c("[Re: REQ-42] x");
    assert_eq!(cmd.unknown_keyword, None);
    assert_eq!(cmd.action, Some(Action::Comment));
}

// ───────────────────────── subject: prefixes ─────────────────────────

#[test]
fn reply_prefixes_any_order_and_language() {
    for p in [
        "Re:",
        "RE:",
        "Fw:",
        "FW:",
        "Fwd:",
        "FWD:",
        "AW:",
        "WG:",
        "SV:",
        "VS:",
        "TR:",
        "RV:",
        "Ref:",
        "回复:",
        "回覆:",
        "答复:",
        "转发:",
        "轉寄:",
        "转:",
        "回复：",
        "Re：",
        "答复：",
        "Antw:",
        "Odp:",
        "RES:",
        "ENC:",
    ] {
        for s in [
            format!("{p} [CONFIRM] [REQ-42] Export"),
            format!("{p}[CONFIRM][REQ-42] Export"),
            format!("[CONFIRM] {p} [REQ-42] Export"),
            format!("[CONFIRM] [REQ-42] {p} Export"),
            format!("{p} {p} [CONFIRM REQ-42] Export"),
        ] {
            assert_cmd(&s, Some(Action::Confirm), Some(req(42)), "Export");
            assert!(has_reply_prefix(&s), "{s}");
        }
    }
}

#[test]
fn reply_prefix_with_counter() {
    assert_cmd(
        "Re[2]: [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "x",
    );
    assert_cmd(
        "RE(3): Re^2: [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "x",
    );
    assert_cmd(
        "Re［2］：[REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "x",
    );
}

#[test]
fn reply_prefix_spacing_variants() {
    assert_cmd("RE:RE:[REQ-42]x", Some(Action::Comment), Some(req(42)), "x");
    assert_cmd("RE : [REQ-42] x", Some(Action::Comment), Some(req(42)), "x");
    assert_cmd(
        "回复 ： [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "x",
    );
}

#[test]
fn prefix_like_words_inside_title_are_kept() {
    assert_cmd(
        "[REQ] Review: new API",
        Some(Action::NewReq),
        None,
        "Review: new API",
    );
    assert_cmd(
        "[REQ] Export: Re: old data",
        Some(Action::NewReq),
        None,
        "Export: Re: old data",
    );
    assert_cmd(
        "[REQ] Re-design the login page",
        Some(Action::NewReq),
        None,
        "Re-design the login page",
    );
    assert!(!has_reply_prefix("[REQ] Review: new API"));
}

// ───────────────────────── subject: identifiers ─────────────────────────

#[test]
fn outlook_autolink_in_id_is_tolerated() {
    for s in [
        "[REQ-42<http://REQ-42>] x",
        "[http://REQ-42] x",
        "[REQ-42 <http://req-42/>] x",
        "[https://REQ-42/] x",
        "Re: [REQ-42<http://REQ-42>] x",
    ] {
        assert_cmd(s, Some(Action::Comment), Some(req(42)), "x");
    }
    assert_cmd(
        "[CONFIRM REQ-42<http://REQ-42>] x",
        Some(Action::Confirm),
        Some(req(42)),
        "x",
    );
    assert_cmd(
        "[REQ-42.1<http://REQ-42.1>] x",
        Some(Action::Comment),
        Some(task(42, 1)),
        "x",
    );
}

#[test]
fn outlook_autolink_after_bare_id_is_tolerated() {
    assert_cmd(
        "Re: Export REQ-42<http://REQ-42> data",
        Some(Action::Comment),
        Some(req(42)),
        "Export data",
    );
    assert_cmd(
        "Re: Export http://REQ-42 data",
        Some(Action::Comment),
        Some(req(42)),
        "Export data",
    );
    assert_cmd(
        "Re: Export REQ-42 <http://req-42/> data",
        Some(Action::Comment),
        Some(req(42)),
        "Export data",
    );
}

#[test]
fn loose_id_forms_inside_brackets() {
    assert_cmd("[REQ 42] x", Some(Action::Comment), Some(req(42)), "x");
    assert_cmd("[REQ42] x", Some(Action::Comment), Some(req(42)), "x");
    assert_cmd("[REQ#42] x", Some(Action::Comment), Some(req(42)), "x");
    assert_cmd(
        "[CONFIRM REQ 42] x",
        Some(Action::Confirm),
        Some(req(42)),
        "x",
    );
    assert_cmd(
        "[REQ - 42.1] x",
        Some(Action::Comment),
        Some(task(42, 1)),
        "x",
    );
}

#[test]
fn loose_id_not_last_in_bracket_is_not_an_id() {
    assert_cmd("[REQ 2026 budget]", None, None, "[REQ 2026 budget]");
    assert_cmd(
        "[REQ 2026 budget] REQ-7",
        Some(Action::Comment),
        Some(req(7)),
        "[REQ 2026 budget]",
    );
}

#[test]
fn bare_id_needs_dash_and_word_boundary() {
    assert_cmd("Re: REQ 42 stuff", None, None, "REQ 42 stuff");
    assert_cmd("XREQ-42", None, None, "XREQ-42");
    assert_cmd("REQ-42a", None, None, "REQ-42a");
    assert_cmd("see REQ-42.", Some(Action::Comment), Some(req(42)), "see .");
    assert_cmd(
        "关于REQ-42的问题",
        Some(Action::Comment),
        Some(req(42)),
        "关于的问题",
    );
}

#[test]
fn bare_id_with_unicode_dash() {
    assert_eq!(c("Re: REQ–42 x").target, Some(req(42)));
    assert_eq!(c("Re: REQ—42 x").target, Some(req(42)));
    assert_eq!(c("Re: REQ－42 x").target, Some(req(42)));
}

#[test]
fn zero_and_overflowing_numbers_are_not_ids() {
    assert_eq!(c("Re: REQ-0 x").target, None);
    assert_eq!(c("Re: REQ-99999999999 x").target, None);
    assert_eq!(c("Re: REQ-42.0 x").target, Some(req(42)));
}

#[test]
fn ids_in_text_finds_all_in_order() {
    assert_eq!(
        ids_in_text("REQ-1, REQ-2.3 and [REQ-1]<http://REQ-1> plus req-9"),
        vec![req(1), task(2, 3), req(9)]
    );
    assert_eq!(ids_in_text("Re: 【确认】[http://REQ-42]"), vec![req(42)]);
    assert_eq!(ids_in_text("ＲＥＱ－４２"), vec![req(42)]);
    assert!(ids_in_text("REQUEST 42, XREQ-1, REQ-1x").is_empty());
}

#[test]
fn has_reply_prefix_detects_replies() {
    assert!(has_reply_prefix("Re: [REQ] Export"));
    assert!(has_reply_prefix("[External] 回复：[REQ] Export"));
    assert!(!has_reply_prefix("[REQ] Export"));
}

// ───────────────────────── subject: percentages ─────────────────────────

#[test]
fn progress_percentage_in_subject() {
    let cmd = c("[PROGRESS REQ-42.1] 60%");
    assert_eq!(cmd.action, Some(Action::Progress));
    assert_eq!(cmd.target, Some(task(42, 1)));
    assert_eq!(cmd.fields.progress, Some(60));
    assert_eq!(cmd.title, "");
    let cmd = c("【进度 60%】[REQ-42.1] API done");
    assert_eq!(cmd.fields.progress, Some(60));
    assert_eq!(cmd.title, "API done");
    let cmd = c("Re: [STATUS] [REQ-42.1] API ６０％ done");
    assert_eq!(cmd.fields.progress, Some(60));
    assert_eq!(cmd.title, "API done");
    assert_eq!(c("【进度60%】REQ-42.1").fields.progress, Some(60));
    assert_eq!(c("[PROGRESS] [60%] [REQ-42.1]").fields.progress, Some(60));
}

#[test]
fn percentage_in_title_of_other_actions_is_kept() {
    let cmd = c("[REQ] Cut cost by 30%");
    assert_eq!(cmd.fields.progress, None);
    assert_eq!(cmd.title, "Cut cost by 30%");
    let cmd = c("[REQ-42] 50% [discount]");
    assert_eq!(cmd.fields.progress, None);
    assert_eq!(cmd.title, "50% [discount]");
    // Decimals and >100 are not a progress.
    assert_eq!(c("[PROGRESS REQ-42.1] 2.5% 150%").fields.progress, None);
}

#[test]
fn progress_over_100_in_tag_is_bad_progress() {
    let cmd = c("【进度 160%】REQ-42.1");
    assert_eq!(cmd.fields.progress, None);
    assert_eq!(
        cmd.fields.problems,
        vec![FieldProblem::BadProgress {
            value: "160%".into()
        }]
    );
}

#[test]
fn percentage_in_tag_counts_for_any_action() {
    let cmd = c("[DONE 100% REQ-42.1]");
    assert_eq!(cmd.action, Some(Action::Done));
    assert_eq!(cmd.fields.progress, Some(100));
}

#[test]
fn body_progress_field_overrides_subject() {
    let cmd = cb("[PROGRESS REQ-42.1] 60%", "Progress: 70%\n\nAPI done");
    assert_eq!(cmd.fields.progress, Some(70));
    assert_eq!(cmd.fields.note, "API done");
}

#[test]
fn progress_from_note_start() {
    let cmd = cb("[PROGRESS REQ-42.1]", "60% done, waiting for the API");
    assert_eq!(cmd.fields.progress, Some(60));
    assert_eq!(cmd.fields.note, "60% done, waiting for the API");
    // Only for the Progress action.
    assert_eq!(cb("[REQ-42.1]", "60% done").fields.progress, None);
}

// ───────────────────────── subject: title ─────────────────────────

#[test]
fn title_strips_tags_prefixes_ids_and_separators() {
    assert_cmd(
        "Re: [REQ-42] Export CRM data",
        Some(Action::Comment),
        Some(req(42)),
        "Export CRM data",
    );
    assert_cmd(
        "[REQ-42]: Export",
        Some(Action::Comment),
        Some(req(42)),
        "Export",
    );
    assert_cmd(
        "[REQ] - Export  CRM   data -",
        Some(Action::NewReq),
        None,
        "Export CRM data",
    );
    assert_cmd("[REQ] | 导出 ｜", Some(Action::NewReq), None, "导出");
    assert_cmd(
        "[REQ] -5 dB noise",
        Some(Action::NewReq),
        None,
        "-5 dB noise",
    );
    assert_cmd(
        "Export[REQ-42]data",
        Some(Action::Comment),
        Some(req(42)),
        "Export data",
    );
    assert_cmd(
        "导出[REQ-42]数据",
        Some(Action::Comment),
        Some(req(42)),
        "导出数据",
    );
}

// ───────────────────────── subject: ignore lists, unknown keywords ─────────────────────────

#[test]
fn gateway_markers_are_dropped_and_never_unknown() {
    assert_cmd(
        "[External] [REQ] Export",
        Some(Action::NewReq),
        None,
        "Export",
    );
    assert_cmd(
        "[EXT] RE: [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "x",
    );
    assert_cmd(
        "[外部邮件] 回复：【确认】[REQ-42]",
        Some(Action::Confirm),
        Some(req(42)),
        "",
    );
    assert_cmd("[SPAM] hello", None, None, "hello");
    assert_cmd("[Suspected Spam] hello", None, None, "hello");
    assert_eq!(c("[EXTERN] [REQ-42]").unknown_keyword, None);
}

#[test]
fn common_labels_are_not_unknown_keywords() {
    assert_cmd(
        "[Urgent] [REQ] Fix login",
        Some(Action::NewReq),
        None,
        "[Urgent] Fix login",
    );
    assert_cmd(
        "[FYI] [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "[FYI] x",
    );
    assert_cmd(
        "[重要] [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "[重要] x",
    );
    assert_cmd(
        "[Test] [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "[Test] x",
    );
    assert_cmd(
        "[Note] [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "[Note] x",
    );
}

#[test]
fn unknown_keyword_suggests_confirm() {
    let cmd = c("[CONFRIM] [REQ-42] Export");
    assert_eq!(cmd.action, None);
    assert_eq!(cmd.target, Some(req(42)));
    let u = cmd.unknown_keyword.unwrap();
    assert_eq!(u.word, "CONFRIM");
    assert_eq!(u.suggestions[0], "CONFIRM");
    assert_eq!(cmd.title, "Export");
}

#[test]
fn unknown_keyword_in_same_bracket_as_id() {
    let cmd = c("[CONFRIM REQ-42]");
    assert_eq!(cmd.action, None);
    assert_eq!(cmd.target, Some(req(42)));
    assert_eq!(cmd.unknown_keyword.unwrap().suggestions, vec!["CONFIRM"]);
}

#[test]
fn unknown_keyword_without_id() {
    let cmd = c("[ACCPET] the task");
    assert_eq!(cmd.action, None);
    assert_eq!(cmd.target, None);
    assert_eq!(cmd.unknown_keyword.unwrap().suggestions, vec!["ACCEPT"]);
}

#[test]
fn mistyped_look_up_keywords_are_suggested() {
    let u = c("[SHWO REQ-42]").unknown_keyword.unwrap();
    assert_eq!(u.suggestions[0], "SHOW");
    let u = c("[FLIES] [REQ-42]").unknown_keyword.unwrap();
    assert_eq!(u.suggestions[0], "FILES");
    let u = c("【查看】[REQ-42]").unknown_keyword.unwrap();
    assert_eq!(u.suggestions, vec!["查询"]);
    let u = c("【查询一下】[REQ-42]").unknown_keyword.unwrap();
    assert_eq!(u.suggestions, vec!["查询"]);
    // Look-ups alone in their bracket, no id: about no item.
    for (s, a) in [
        ("[MINE]", Action::Mine),
        ("【待办】", Action::Mine),
        ("回复：【我的】", Action::Mine),
        ("[help]", Action::Help),
        ("【帮助】", Action::Help),
    ] {
        let cmd = c(s);
        assert_eq!((cmd.action, cmd.target), (Some(a), None), "{s}");
    }
}

#[test]
fn unknown_cjk_keyword_suggests_by_shared_characters() {
    let u = c("【确定】[REQ-42]").unknown_keyword.unwrap();
    assert_eq!(u.word, "确定");
    assert_eq!(u.suggestions, vec!["确认"]);
    let u = c("【请确认】[REQ-42]").unknown_keyword.unwrap();
    assert_eq!(u.suggestions, vec!["确认"]);
    let u = c("【已完成】REQ-42.1").unknown_keyword.unwrap();
    assert_eq!(u.suggestions, vec!["完成"]);
    // Nothing shared: an ordinary bracket.
    assert_eq!(c("【会议】[REQ-42]").unknown_keyword, None);
    assert_eq!(c("【会议】[REQ-42]").action, Some(Action::Comment));
}

#[test]
fn unknown_suggestions_closest_first() {
    let u = c("[CLOSED] REQ-42").unknown_keyword.unwrap();
    assert_eq!(u.suggestions[0], "CLOSE");
    let u = c("[PLANS] REQ-42").unknown_keyword.unwrap();
    assert_eq!(u.suggestions[0], "PLAN");
    let u = c("[ASK] REQ-42").unknown_keyword.unwrap();
    assert_eq!(u.suggestions, vec!["ACK", "TASK"]);
    let u = c("[confirmed] REQ-42").unknown_keyword.unwrap();
    assert_eq!(u.word, "confirmed");
    assert_eq!(u.suggestions, vec!["CONFIRM"]);
    assert!(u.suggestions.len() <= 3);
}

#[test]
fn unknown_keyword_ignored_when_valid_keyword_present() {
    let cmd = c("[CONFIRM] [CONFRIM] [REQ-42]");
    assert_eq!(cmd.action, Some(Action::Confirm));
    assert_eq!(cmd.unknown_keyword, None);
}

#[test]
fn unrelated_bracket_word_is_not_unknown() {
    assert_cmd(
        "[Xyzzy] [REQ-42] x",
        Some(Action::Comment),
        Some(req(42)),
        "[Xyzzy] x",
    );
    assert_cmd("[Project kickoff] x", None, None, "[Project kickoff] x");
    assert_cmd(
        "[Confrim this please] x",
        None,
        None,
        "[Confrim this please] x",
    );
    assert_cmd(
        "[Averyveryverylongword] x",
        None,
        None,
        "[Averyveryverylongword] x",
    );
}

// ───────────────────────── subject: properties ─────────────────────────

/// Deterministic xorshift for the property tests (no extra dependency).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

fn permutations(items: &[&'static str], k: usize) -> Vec<Vec<&'static str>> {
    if k == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut p in permutations(&rest, k - 1) {
            p.insert(0, it);
            out.push(p);
        }
    }
    out
}

#[test]
fn property_prefix_permutations_never_change_the_command() {
    let prefixes = [
        "Re:",
        "FW:",
        "回复：",
        "答复: ",
        "Fwd: ",
        "AW:",
        "转发:",
        "Re[2]:",
        "SV: ",
        "TR :",
    ];
    let tags = [
        "[CONFIRM REQ-42]",
        "【确认】[REQ-42]",
        "[confirm] REQ-42",
        "［ＣＯＮＦＩＲＭ］【ＲＥＱ－４２】",
    ];
    let mut n = 0;
    for p in permutations(&prefixes, 3) {
        for t in tags {
            for sep in ["", " "] {
                let s = format!("{}{sep}{t} Export", p.join(sep));
                assert_cmd(&s, Some(Action::Confirm), Some(req(42)), "Export");
                // Prefixes between tags too.
                let s2 = t.replacen(']', &format!("] {} ", p[0]), 1);
                let cmd = c(&format!("{s2} Export"));
                assert_eq!(cmd.action, Some(Action::Confirm), "{s2}");
                n += 1;
            }
        }
    }
    assert_eq!(n, 720 * 4 * 2);
}

#[test]
fn property_keyword_and_id_in_any_bracket_style_and_order() {
    let kw = Keywords::default();
    let opens = [("[", "]"), ("【", "】"), ("［", "］"), ("〖", "〗")];
    let mut rng = Rng(0x5eed);
    for (action, words) in DEFAULT_KEYWORDS {
        if *action == Action::NewReq {
            continue;
        }
        for w in *words {
            for _ in 0..20 {
                let (o1, c1) = *rng.pick(&opens);
                let (o2, c2) = *rng.pick(&opens);
                let word = match rng.next() % 3 {
                    0 => w.to_string(),
                    1 => w.to_lowercase(),
                    _ => w
                        .chars()
                        .map(|ch| {
                            if ch.is_ascii_alphanumeric() {
                                char::from_u32(ch as u32 + 0xFEE0).unwrap()
                            } else {
                                ch
                            }
                        })
                        .collect(),
                };
                let id = *rng.pick(&["REQ-42", "req-42", "ＲＥＱ－４２", "REQ-42<http://REQ-42>"]);
                let s = match rng.next() % 4 {
                    0 => format!("{o1}{word} {id}{c1} title"),
                    1 => format!("{o1}{id} {word}{c1} title"),
                    2 => format!("{o1}{word}{c1} Re: {o2}{id}{c2} title"),
                    _ => format!("{o2}{id}{c2}{o1}{word}{c1}title"),
                };
                let cmd = classify(&s, "", &kw, today());
                assert_eq!(cmd.action, Some(*action), "{s}");
                assert_eq!(cmd.target, Some(req(42)), "{s}");
                assert_eq!(cmd.title, "title", "{s}");
            }
        }
    }
}

#[test]
fn property_classify_never_panics_and_title_is_tidy() {
    let alphabet = [
        "[", "]", "【", "】", "［", "］", "〖", "〗", "REQ", "req", "-", "－", "—", "4", "２", ".",
        "．", "%", "％", " ", "　", ":", "：", "Re", "回复", "确认", "CONFIRM", "<", ">",
        "http://", "é", "😀", "\u{200B}", "\u{FEFF}", "a", "(", "）", "#", "/", "\t",
    ];
    let mut rng = Rng(42);
    let kw = Keywords::default();
    for _ in 0..20_000 {
        let len = (rng.next() % 16) as usize;
        let s: String = (0..len).map(|_| *rng.pick(&alphabet)).collect();
        let body: String = (0..len)
            .map(|_| {
                *rng.pick(&[
                    "\n", "- ", "Due: ", "12月", "1日", "：", "alice", ";", "2026-", "%", "进度:",
                    "１",
                ])
            })
            .collect();
        let cmd = classify(&s, &body, &kw, today());
        assert_eq!(cmd.title, cmd.title.trim(), "{s:?}");
        assert!(!cmd.title.contains("  "), "{s:?}");
        if let Some(t) = cmd.target {
            assert!(
                ids_in_text(&s).contains(&t)
                    || s.contains('[')
                    || s.contains('【')
                    || s.contains('〖'),
                "{s:?}"
            );
        }
        if cmd.unknown_keyword.is_some() {
            assert_eq!(cmd.action, None);
        }
        let _ = parse_date(&s, today());
        let _ = ids_in_text(&s);
    }
}

// ───────────────────────── body: fields ─────────────────────────

#[test]
fn protocol_body_fields_example() {
    let cmd = cb(
        "[REQ] Export CRM data",
        "Dept: Finance, Sales\nDue: 2026-12-15\nQuality: p95 < 200 ms\nPriority: high\n\nPlease export the CRM data.\nThanks",
    );
    assert_eq!(cmd.action, Some(Action::NewReq));
    let f = &cmd.fields;
    assert_eq!(f.departments, vec!["Finance", "Sales"]);
    assert_eq!(f.due, Some(d(2026, 12, 15)));
    assert_eq!(f.quality.as_deref(), Some("p95 < 200 ms"));
    assert_eq!(f.priority, Some(Priority::High));
    assert_eq!(f.note, "Please export the CRM data.\nThanks");
    assert!(f.problems.is_empty());
}

#[test]
fn chinese_field_keys_and_fullwidth_colon() {
    let cmd = cb(
        "【需求】导出客户数据",
        "部门：财务部、市场部\n截止日期：2026年12月15日\n质量要求：准确率100%\n优先级：紧急\n\n请导出客户数据。",
    );
    let f = &cmd.fields;
    assert_eq!(f.departments, vec!["财务部", "市场部"]);
    assert_eq!(f.due, Some(d(2026, 12, 15)));
    assert_eq!(f.quality.as_deref(), Some("准确率100%"));
    assert_eq!(f.priority, Some(Priority::Urgent));
    assert_eq!(f.note, "请导出客户数据。");
}

#[test]
fn every_field_key_is_known() {
    for k in [
        "Dept",
        "Depts",
        "Department",
        "Departments",
        "部门",
        "协作部门",
    ] {
        assert_eq!(
            cb("[REQ] x", &format!("{k}: A")).fields.departments,
            vec!["A"],
            "{k}"
        );
    }
    for k in [
        "Due",
        "Deadline",
        "截止",
        "截止日期",
        "时间节点",
        "期限",
        "Due date",
        "due_date",
        "DUE-DATE",
    ] {
        assert_eq!(
            cb("[REQ] x", &format!("{k}: 2026-12-15")).fields.due,
            Some(d(2026, 12, 15)),
            "{k}"
        );
    }
    for k in [
        "Quality",
        "Acceptance",
        "质量要求",
        "验收标准",
        "质量",
        "Acceptance criteria",
    ] {
        assert_eq!(
            cb("[REQ] x", &format!("{k}：ok")).fields.quality.as_deref(),
            Some("ok"),
            "{k}"
        );
    }
    for k in ["Priority", "优先级", "PRIORITY"] {
        assert_eq!(
            cb("[REQ] x", &format!("{k}: low")).fields.priority,
            Some(Priority::Low),
            "{k}"
        );
    }
    for k in ["Progress", "进度"] {
        assert_eq!(
            cb("[REQ-1.1] x", &format!("{k}: 5%")).fields.progress,
            Some(5),
            "{k}"
        );
    }
}

#[test]
fn department_separators() {
    let f = cb("[REQ] x", "Dept: A, B，C、D;E；F, A\nDept: ＩＴ").fields;
    assert_eq!(f.departments, vec!["A", "B", "C", "D", "E", "F", "IT"]);
    let f = cb("[REQ] x", "Dept: Customer Service").fields;
    assert_eq!(f.departments, vec!["Customer Service"]);
}

#[test]
fn blank_lines_before_fields_are_skipped() {
    let f = cb("[REQ] x", "\n\n  \nDue: 2026-12-15\nbody").fields;
    assert_eq!(f.due, Some(d(2026, 12, 15)));
    assert_eq!(f.note, "body");
}

#[test]
fn blank_line_after_fields_ends_them() {
    let f = cb("[REQ] x", "Due: 2026-12-15\n\nPriority: high").fields;
    assert_eq!(f.priority, None);
    assert_eq!(f.note, "Priority: high");
}

#[test]
fn unknown_key_line_ends_fields() {
    let f = cb("[REQ] x", "Due: 2026-12-15\nNote: hi\nPriority: high").fields;
    assert_eq!(f.due, Some(d(2026, 12, 15)));
    assert_eq!(f.priority, None);
    assert_eq!(f.note, "Note: hi\nPriority: high");
}

#[test]
fn sentence_with_colon_is_not_a_field() {
    let f = cb("[REQ] x", "注意：明天开会\nDue: 2026-12-15").fields;
    assert_eq!(f.due, None);
    assert_eq!(f.note, "注意：明天开会\nDue: 2026-12-15");
    let f = cb("[REQ] x", "Hello: team\nDue: 2026-12-15").fields;
    assert_eq!(f.due, None);
    let f = cb("[REQ] x", "Meeting at 10:30\nDue: 2026-12-15").fields;
    assert_eq!(f.due, None);
}

#[test]
fn bad_due_is_bad_date() {
    let f = cb("[REQ] x", "Due: 2026-02-30\n截止：下周").fields;
    assert_eq!(f.due, None);
    assert_eq!(
        f.problems,
        vec![
            FieldProblem::BadDate {
                field: "Due".into(),
                value: "2026-02-30".into()
            },
            FieldProblem::BadDate {
                field: "截止".into(),
                value: "下周".into()
            }
        ]
    );
}

#[test]
fn priority_values_in_both_languages() {
    for (v, p) in [
        ("low", Priority::Low),
        ("normal", Priority::Normal),
        ("high", Priority::High),
        ("urgent", Priority::Urgent),
        ("低", Priority::Low),
        ("中", Priority::Normal),
        ("高", Priority::High),
        ("紧急", Priority::Urgent),
        ("Urgent", Priority::Urgent),
    ] {
        assert_eq!(
            cb("[REQ] x", &format!("Priority: {v}")).fields.priority,
            Some(p),
            "{v}"
        );
    }
}

#[test]
fn bad_priority_is_reported() {
    let f = cb("[REQ] x", "Priority: soon").fields;
    assert_eq!(f.priority, None);
    assert_eq!(
        f.problems,
        vec![FieldProblem::BadPriority {
            value: "soon".into()
        }]
    );
    assert_eq!(
        cb("[REQ] x", "优先级：ＨＩＧＨ").fields.priority,
        Some(Priority::High)
    );
    assert_eq!(
        cb("[REQ] x", "优先级：高").fields.priority,
        Some(Priority::High)
    );
}

#[test]
fn progress_field_forms() {
    for v in ["60%", "60", "６０％", "60 %", " 60% "] {
        let f = cb("[PROGRESS REQ-1.1]", &format!("Progress: {v}")).fields;
        assert_eq!(f.progress, Some(60), "{v}");
        assert!(f.problems.is_empty(), "{v}");
    }
    let f = cb("[PROGRESS REQ-1.1]", "进度：60%，接口已完成\n\n明天联调").fields;
    assert_eq!(f.progress, Some(60));
    assert_eq!(f.note, "接口已完成\n\n明天联调");
    assert_eq!(
        cb("[PROGRESS REQ-1.1]", "Progress: 100%").fields.progress,
        Some(100)
    );
    assert_eq!(
        cb("[PROGRESS REQ-1.1]", "Progress: 0").fields.progress,
        Some(0)
    );
}

#[test]
fn progress_field_junk_or_over_100_is_bad_progress() {
    for v in ["150%", "lots", "60 pages", "1000", "60%x", "-5%"] {
        let f = cb("[PROGRESS REQ-1.1]", &format!("Progress: {v}")).fields;
        assert_eq!(f.progress, None, "{v}");
        assert_eq!(
            f.problems,
            vec![FieldProblem::BadProgress { value: v.into() }],
            "{v}"
        );
    }
}

#[test]
fn repeated_field_last_wins() {
    let f = cb("[REQ] x", "Due: 2026-12-15\nDue: 2026-12-16").fields;
    assert_eq!(f.due, Some(d(2026, 12, 16)));
}

#[test]
fn empty_field_value_is_ignored() {
    let f = cb("[REQ] x", "Due:\nPriority: \nQuality:\nbody").fields;
    assert_eq!(f.due, None);
    assert_eq!(f.priority, None);
    assert_eq!(f.quality, None);
    assert!(f.problems.is_empty());
    assert_eq!(f.note, "body");
}

#[test]
fn note_is_rest_of_body_trimmed() {
    let f = cb("[REQ-42]", "\n\n  Thanks, looks good.  \n\n").fields;
    assert_eq!(f.note, "Thanks, looks good.");
    assert_eq!(cb("[REQ-42]", "").fields, Fields::default());
}

#[test]
fn crlf_line_endings() {
    let f = cb(
        "[REQ] x",
        "Due: 2026-12-15\r\nPriority: low\r\n\r\nline one\r\nline two\r\n",
    )
    .fields;
    assert_eq!(f.due, Some(d(2026, 12, 15)));
    assert_eq!(f.priority, Some(Priority::Low));
    assert_eq!(f.note, "line one\nline two");
}

// ───────────────────────── body: ASSIGN tasks ─────────────────────────

#[test]
fn assign_protocol_example_task_line() {
    let cmd = cb(
        "[ASSIGN REQ-42]",
        "- alice@corp.example: Export API; due 2026-12-10; quality: p95 < 200 ms",
    );
    assert_eq!(cmd.action, Some(Action::Assign));
    assert_eq!(
        cmd.fields.tasks,
        vec![TaskLine {
            owner: "alice@corp.example".into(),
            title: "Export API".into(),
            due: Some(d(2026, 12, 10)),
            quality: Some("p95 < 200 ms".into()),
        }]
    );
    assert!(cmd.fields.problems.is_empty());
    assert_eq!(cmd.fields.note, "");
}

#[test]
fn assign_task_owner_and_marker_forms() {
    let body = "Due: 2026-12-20\n\nPlease take these:\n\
        - 张三：导出接口；截止：2026-12-10；质量要求：p95<200ms\n\
        - 张三 <zhangsan@corp.example>: Import\n\
        * bob@corp.example: Sync\n\
        + Bob Smith: Docs\n\
        1. carol: Review\n\
        2、李四：测试\n\
        3) dave: Deploy\n\
        （4）erin: Train\n\
        • frank: Monitor\n\
        Thanks";
    let cmd = cb("【分配】REQ-42", body);
    let owners: Vec<&str> = cmd.fields.tasks.iter().map(|t| t.owner.as_str()).collect();
    assert_eq!(
        owners,
        vec![
            "张三",
            "张三 <zhangsan@corp.example>",
            "bob@corp.example",
            "Bob Smith",
            "carol",
            "李四",
            "dave",
            "erin",
            "frank"
        ]
    );
    let t = &cmd.fields.tasks[0];
    assert_eq!(t.title, "导出接口");
    assert_eq!(t.due, Some(d(2026, 12, 10)));
    assert_eq!(t.quality.as_deref(), Some("p95<200ms"));
    assert!(cmd.fields.problems.is_empty(), "{:?}", cmd.fields.problems);
    assert_eq!(cmd.fields.note, "Please take these:\nThanks");
    assert_eq!(cmd.fields.due, Some(d(2026, 12, 20)));
}

#[test]
fn assign_outlook_mailto_owner() {
    let t = &cb(
        "[TASK REQ-42]",
        "- alice@corp.example<mailto:alice@corp.example>: Export API\n- Alice <mailto:alice@corp.example>: B",
    )
    .fields
    .tasks;
    assert_eq!(t[0].owner, "alice@corp.example");
    assert_eq!(t[0].title, "Export API");
    assert_eq!(t[1].owner, "Alice <alice@corp.example>");
}

#[test]
fn assign_option_keys_with_space_colon_or_nothing() {
    let t = &cb(
        "[ASSIGN REQ-42]",
        "- a: A; due 2026-12-10\n- b: B; Deadline: 12月10日\n- c: C；截止2026-12-10；质量 高\n- d: D; quality p95; DUE：2026/12/10",
    )
    .fields
    .tasks;
    assert!(t.iter().all(|t| t.due == Some(d(2026, 12, 10))), "{t:?}");
    assert_eq!(t[2].quality.as_deref(), Some("高"));
    assert_eq!(t[3].quality.as_deref(), Some("p95"));
}

#[test]
fn assign_unknown_option_stays_in_title() {
    let t = &cb("[ASSIGN REQ-42]", "- bob: Import; also CSV; due 2026-12-12")
        .fields
        .tasks[0];
    assert_eq!(t.title, "Import; also CSV");
    assert_eq!(t.due, Some(d(2026, 12, 12)));
}

#[test]
fn assign_quality_with_semicolon_continues() {
    let t = &cb(
        "[ASSIGN REQ-42]",
        "- bob: Import; quality: p95 < 200 ms; error rate < 1%",
    )
    .fields
    .tasks[0];
    assert_eq!(t.title, "Import");
    assert_eq!(t.quality.as_deref(), Some("p95 < 200 ms; error rate < 1%"));
}

#[test]
fn assign_unreadable_line_is_bad_line() {
    let cmd = cb(
        "[ASSIGN REQ-42]",
        "- alice: Export API\n- please hurry\n- : nothing\n- bob:",
    );
    assert_eq!(cmd.fields.tasks.len(), 1);
    let lines: Vec<&str> = cmd
        .fields
        .problems
        .iter()
        .map(|p| match p {
            FieldProblem::BadLine { line, .. } => line.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(lines, vec!["- please hurry", "- : nothing", "- bob:"]);
    assert_eq!(cmd.fields.note, "- please hurry\n- : nothing\n- bob:");
}

#[test]
fn assign_bad_task_date_is_bad_line() {
    let cmd = cb("[ASSIGN REQ-42]", "- alice: Export API; due 2026-02-30");
    assert!(cmd.fields.tasks.is_empty());
    match &cmd.fields.problems[..] {
        [FieldProblem::BadLine { line, why }] => {
            assert_eq!(line, "- alice: Export API; due 2026-02-30");
            assert!(why.contains("2026-02-30"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn assign_milestone_line_is_bad_line() {
    let cmd = cb("[ASSIGN REQ-42]", "- 2026-12-01: design review");
    assert!(cmd.fields.tasks.is_empty());
    assert_eq!(cmd.fields.problems.len(), 1);
}

#[test]
fn non_assign_bullets_are_not_problems() {
    let body = "Due: 2026-12-15\n\n需求说明：\n- 字段：姓名、电话\n- 格式 CSV\n1. 每天导出";
    let cmd = cb("【需求】导出客户数据", body);
    assert!(cmd.fields.problems.is_empty());
    assert_eq!(
        cmd.fields.note,
        "需求说明：\n- 字段：姓名、电话\n- 格式 CSV\n1. 每天导出"
    );
    // Owner-form lines are still collected; the core ignores them for NewReq.
    assert_eq!(cmd.fields.tasks.len(), 1);
}

#[test]
fn list_marker_forms_that_are_not_list_items() {
    let cmd = cb(
        "[ASSIGN REQ-42]",
        "-alice: x\n-- sig\n1.5 million rows\n*bold*: y\n2026.12.01: z",
    );
    assert!(cmd.fields.tasks.is_empty());
    assert!(cmd.fields.problems.is_empty());
}

// ───────────────────────── body: PLAN milestones ─────────────────────────

#[test]
fn plan_protocol_example_milestone() {
    let cmd = cb("[PLAN REQ-42]", "- 2026-12-01: design review (alice)");
    assert_eq!(cmd.action, Some(Action::Plan));
    assert_eq!(
        cmd.fields.milestones,
        vec![Milestone {
            date: d(2026, 12, 1),
            title: "design review".into(),
            owner: Some("alice".into())
        }]
    );
    assert_eq!(cmd.fields.note, "");
    assert!(cmd.fields.problems.is_empty());
}

#[test]
fn plan_chinese_milestone() {
    let cmd = cb(
        "【计划】REQ-42",
        "计划如下：\n- 12月1日：设计评审（张三）\n- 2026年12月20日 上线\n- 3月1日：复盘",
    );
    let m = &cmd.fields.milestones;
    assert_eq!(m.len(), 3);
    assert_eq!(m[0].date, d(2026, 12, 1));
    assert_eq!(m[0].title, "设计评审");
    assert_eq!(m[0].owner.as_deref(), Some("张三"));
    assert_eq!(m[1].title, "上线");
    assert_eq!(m[1].owner, None);
    assert_eq!(m[2].date, d(2027, 3, 1));
    assert_eq!(cmd.fields.note, "计划如下：");
}

#[test]
fn plan_milestone_weekday_ignored() {
    let m = &cb(
        "[PLAN REQ-42]",
        "- 2026-12-01（周二）：设计评审\n- 12/3 (Thu) - test (bob, carol)",
    )
    .fields
    .milestones;
    assert_eq!(m[0].title, "设计评审");
    assert_eq!(m[1].date, d(2026, 12, 3));
    assert_eq!(m[1].title, "test");
    assert_eq!(m[1].owner.as_deref(), Some("bob, carol"));
}

#[test]
fn plan_bad_line_only_for_plan() {
    let body = "- kickoff soon\n- 2026-02-30: review\n- 2026-12-01";
    let cmd = cb("[PLAN REQ-42]", body);
    assert!(cmd.fields.milestones.is_empty());
    assert_eq!(cmd.fields.problems.len(), 3);
    assert!(
        matches!(&cmd.fields.problems[1], FieldProblem::BadLine { why, .. } if why.contains("date"))
    );
    assert_eq!(cmd.fields.note, body);
    let cmd = cb("[REQ-42]", body);
    assert!(cmd.fields.problems.is_empty());
}

// ───────────────────────── dates ─────────────────────────

#[test]
fn date_iso_dash_slash_dot() {
    for s in [
        "2026-12-15",
        "2026/12/15",
        "2026.12.15",
        "2026-1-5x",
        " 2026-12-15 ",
    ] {
        assert!(pd(s).is_some(), "{s}");
    }
    assert_eq!(pd("2026-12-15"), Some(d(2026, 12, 15)));
    assert_eq!(pd("2026/12/15"), Some(d(2026, 12, 15)));
    assert_eq!(pd("2026.12.15"), Some(d(2026, 12, 15)));
    assert_eq!(pd("2026-1-5"), Some(d(2026, 1, 5)));
    assert_eq!(pd("2025-01-05"), Some(d(2025, 1, 5)));
}

#[test]
fn date_chinese_year_month_day_with_ri_or_hao() {
    assert_eq!(pd("2026年12月15日"), Some(d(2026, 12, 15)));
    assert_eq!(pd("2026年12月15号"), Some(d(2026, 12, 15)));
    assert_eq!(pd("2026年12月15"), Some(d(2026, 12, 15)));
    assert_eq!(pd("2026 年 12 月 15 日"), Some(d(2026, 12, 15)));
    assert_eq!(pd("2026年1月5日前"), Some(d(2026, 1, 5)));
}

#[test]
fn date_month_day_is_next_occurrence() {
    assert_eq!(pd("12月15日"), Some(d(2026, 12, 15)));
    assert_eq!(pd("12月15号"), Some(d(2026, 12, 15)));
    assert_eq!(pd("12/15"), Some(d(2026, 12, 15)));
    assert_eq!(pd("12-15"), Some(d(2026, 12, 15)));
    assert_eq!(pd("12.15"), Some(d(2026, 12, 15)));
    // Today counts.
    assert_eq!(pd("6月15日"), Some(d(2026, 6, 15)));
}

#[test]
fn month_day_date_rolls_to_next_year() {
    assert_eq!(pd("3月1日"), Some(d(2027, 3, 1)));
    assert_eq!(pd("1/5"), Some(d(2027, 1, 5)));
    assert_eq!(pd("6月14日"), Some(d(2027, 6, 14)));
}

#[test]
fn feb_29_month_day_finds_next_leap_year() {
    assert_eq!(pd("2月29日"), Some(d(2028, 2, 29)));
    assert_eq!(parse_date("2/29", d(2028, 1, 1)), Some(d(2028, 2, 29)));
    assert_eq!(pd("2026-02-29"), None);
    assert_eq!(pd("2028-02-29"), Some(d(2028, 2, 29)));
}

#[test]
fn date_fullwidth_digits() {
    assert_eq!(pd("２０２６－１２－１５"), Some(d(2026, 12, 15)));
    assert_eq!(pd("２０２６年１２月１５日"), Some(d(2026, 12, 15)));
    assert_eq!(pd("１２月１５日"), Some(d(2026, 12, 15)));
    assert_eq!(pd("２０２６／１２／１５"), Some(d(2026, 12, 15)));
}

#[test]
fn date_time_and_weekday_after_it_are_ignored() {
    for s in [
        "2026-12-15 18:00",
        "2026-12-15（周二）",
        "2026/12/15 (Tue)",
        "2026-12-15T18:00:00+08:00",
        "2026年12月15日 下班前",
        "12月15日（周二）18:00",
    ] {
        assert_eq!(pd(s), Some(d(2026, 12, 15)), "{s}");
    }
}

#[test]
fn invalid_dates_are_none() {
    for s in [
        "2026-02-30",
        "2026-13-01",
        "2026-00-10",
        "13月1日",
        "2月30日",
        "2026-12",
        "2026-12/15",
        "soon",
        "",
        "下周五",
        "12/15/26",
        "0/5",
        "99999-1-1",
        "2026-123-1",
        "20261315",
        "32日",
    ] {
        assert_eq!(pd(s), None, "{s}");
    }
}

#[test]
fn date_compact_yyyymmdd() {
    assert_eq!(pd("20261215"), Some(d(2026, 12, 15)));
}

#[test]
fn date_english_month_names() {
    assert_eq!(pd("Dec 15"), Some(d(2026, 12, 15)));
    assert_eq!(pd("December 15, 2027"), Some(d(2027, 12, 15)));
    assert_eq!(pd("15 Dec 2026"), Some(d(2026, 12, 15)));
    assert_eq!(pd("Dec. 15th"), Some(d(2026, 12, 15)));
    assert_eq!(pd("Mar 1"), Some(d(2027, 3, 1)));
    assert_eq!(pd("15 December"), Some(d(2026, 12, 15)));
    assert_eq!(pd("Dec 15 18:00"), Some(d(2026, 12, 15)));
    assert_eq!(pd("Feb 30"), None);
    assert_eq!(pd("Decimal 15"), None);
}

#[test]
fn ambiguous_numeric_dates_are_rejected() {
    assert_eq!(pd("03/04/2026"), None);
    assert_eq!(pd("12/15/2026"), Some(d(2026, 12, 15)));
    assert_eq!(pd("15/12/2026"), Some(d(2026, 12, 15)));
}

#[test]
fn date_relative_words() {
    assert_eq!(pd("今天"), Some(today()));
    assert_eq!(pd("today"), Some(today()));
    assert_eq!(pd("明天 18:00"), Some(d(2026, 6, 16)));
    assert_eq!(pd("Tomorrow"), Some(d(2026, 6, 16)));
    assert_eq!(pd("后天"), Some(d(2026, 6, 17)));
    assert_eq!(pd("todays"), None);
}

#[test]
fn date_day_of_month_only() {
    assert_eq!(pd("20号"), Some(d(2026, 6, 20)));
    assert_eq!(pd("10日"), Some(d(2026, 7, 10)));
    assert_eq!(pd("31号"), Some(d(2026, 7, 31)));
    assert_eq!(parse_date("31日", d(2026, 2, 1)), Some(d(2026, 3, 31)));
}

#[test]
fn date_in_due_field_uses_today() {
    let cmd = classify(
        "[REQ] x",
        "截止：1月10日",
        &Keywords::default(),
        d(2026, 12, 20),
    );
    assert_eq!(cmd.fields.due, Some(d(2027, 1, 10)));
}

// ───────────────────────── performance ─────────────────────────

/// `cargo test --release -- --ignored --nocapture classify_throughput`
#[test]
#[ignore]
fn classify_throughput() {
    let kw = Keywords::default();
    let cases = [
        ("Re: 回复：【确认】[REQ-42] Export CRM data", "Thanks, confirmed.\n\n-- \nBob"),
        (
            "[REQ] Export CRM data",
            "Dept: Finance, Sales\nDue: 2026-12-15\nQuality: p95 < 200 ms\nPriority: high\n\nPlease export the CRM data.",
        ),
        (
            "[ASSIGN REQ-42]",
            "- alice@corp.example: Export API; due 2026-12-10; quality: p95 < 200 ms\n- 张三：导入；截止：12月12日",
        ),
        ("[PROGRESS REQ-42.1] 60%", "API done, UI next."),
    ];
    let n = 200_000;
    let t = std::time::Instant::now();
    let mut acc = 0usize;
    for i in 0..n {
        let (s, b) = cases[i % cases.len()];
        acc += classify(s, b, &kw, today()).title.len();
    }
    let el = t.elapsed();
    println!(
        "{n} classify calls in {el:?}: {:.0}/s ({acc})",
        n as f64 / el.as_secs_f64()
    );
}
