use super::*;

#[test]
fn sections_split_at_marker_lines_and_ignore_the_preamble() {
    let s = split_sections(
        "notes about it\r\n--- subject ---\r\nS {{a}}\r\n--- text ---\r\nT\r\n\r\n--- html ---\r\n<p>H</p>\r\n",
        "x.hbs",
    )
    .unwrap();
    assert_eq!(s.subject.as_deref(), Some("S {{a}}\n"));
    assert_eq!(s.text.as_deref(), Some("T\n\n"));
    assert_eq!(s.html.as_deref(), Some("<p>H</p>\n"));
    // A marker must be alone on its line.
    let s = split_sections("--- text ---\nsee --- html --- here\n", "x.hbs").unwrap();
    assert_eq!(s.text.as_deref(), Some("see --- html --- here\n"));
    assert!(s.html.is_none());
}

#[test]
fn a_template_without_markers_or_with_a_twice_section_is_an_error() {
    assert!(split_sections("just text", "x.hbs").is_err());
    let e = split_sections("--- text ---\na\n--- text ---\nb\n", "x.hbs").unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
}

#[test]
fn text_is_tidied_to_single_blank_lines_and_a_real_signature_separator() {
    assert_eq!(
        tidy_text("\n\nHello  \n\n\n\nA\nB\n\n--\nfoot\n\n"),
        "Hello\n\nA\nB\n\n-- \nfoot\n"
    );
    assert_eq!(tidy_text(""), "");
}

#[test]
fn subjects_are_one_line_capped_and_carry_the_id_once() {
    assert_eq!(
        tidy_subject("  已确认：\r\n导出\t数据 ", Some("REQ-42")),
        "[REQ-42] 已确认： 导出 数据"
    );
    assert_eq!(
        tidy_subject("Re [req-42] x", Some("REQ-42")),
        "Re [req-42] x"
    );
    assert_eq!(tidy_subject("", Some("REQ-42.1")), "[REQ-42.1]");
    assert_eq!(tidy_subject("Help", None), "Help");
    let long = "长".repeat(500);
    let s = tidy_subject(&long, Some("REQ-1"));
    assert_eq!(s.chars().count(), "[REQ-1] ".len() + MAX_SUBJECT_CHARS);
    assert!(s.ends_with('…'));
}

#[test]
fn references_keep_root_and_tail_and_end_with_the_parent() {
    let refs: Vec<String> = (0..20).map(|i| format!("m{i}@x")).collect();
    let got = references(&refs, Some("p@x"));
    assert_eq!(got.len(), MAX_REFERENCES_TAIL + 1);
    assert_eq!(got[0], "m0@x");
    assert_eq!(got[1], "m11@x");
    assert_eq!(*got.last().unwrap(), "p@x");
    let refs = vec!["<a@x>".to_string(), "bad id@x".into(), "a@x".into()];
    assert_eq!(references(&refs, None), ["a@x"]);
    assert_eq!(references(&[], None), Vec::<&str>::new());
}

#[test]
fn message_ids_are_printable_ascii_without_brackets() {
    assert_eq!(clean_msg_id(" <a.b@c> "), Some("a.b@c"));
    assert_eq!(clean_msg_id("a b@c"), None);
    assert_eq!(clean_msg_id("a@c\r\nBcc: x"), None);
    assert_eq!(clean_msg_id("编号@c"), None);
    assert_eq!(clean_msg_id("<>"), None);
}

#[test]
fn display_names_for_prose() {
    assert_eq!(display_name("张三 <zhangsan@corp.example>"), "张三");
    assert_eq!(display_name("\"Li, Si\" <lisi@corp.example>"), "Li, Si");
    assert_eq!(display_name("<a@x>"), "a@x");
    assert_eq!(display_name("a@x"), "a@x");
    assert_eq!(display_name(""), "");
}

#[test]
fn a_renderer_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Renderer>();
}

/// `src` compiled with partials `ps` (text sections) inlined: what it
/// renders alone (no partial registered beside it), whether calls were
/// left to handlebars.
fn inlined(src: &str, ps: &[(&str, &str)]) -> Result<(String, bool), RenderError> {
    let partials = ps
        .iter()
        .map(|(n, text)| {
            let label = format!("{n}.hbs");
            let (text, html) = (text.to_string(), String::new());
            (n.to_string(), Partial { text, html, label })
        })
        .collect();
    let mut reg = Registry {
        hb: Handlebars::new(),
        partials: false,
    };
    reg.hb.set_prevent_indent(true);
    reg.hb.register_template_string("t", src).unwrap();
    let mut t = reg.hb.get_template("t").cloned().unwrap();
    let left = inline_partials(&partials, &mut reg, &mut t, false, 0, None)?;
    assert_eq!(left, calls_partial(&t), "{src}");
    let mut alone = Handlebars::new();
    alone.register_template("t", t);
    let out = alone.render("t", &serde_json::json!({"x": "X", "y": true}));
    Ok((out.unwrap_or_else(|e| format!("error: {e}")), left))
}

#[test]
fn partials_without_arguments_are_inlined() {
    let p = [
        ("_a", "A{{x}}{{> _b}}"),
        ("_b", "B"),
        ("_frame", "<{{> @partial-block}}>"),
    ];
    let ok = |s: &str| (s.to_string(), false);
    assert_eq!(inlined("1{{> _a}}2", &p).unwrap(), ok("1AXB2"));
    assert_eq!(
        inlined("{{#if y}}({{> _b}}){{/if}}", &p).unwrap(),
        ok("(B)")
    );
    assert_eq!(
        inlined("{{#> _frame}}in {{> _b}}{{/_frame}}!", &p).unwrap(),
        ok("<in B>!")
    );
    // With a context or hash, or unknown: left to handlebars (and so not
    // rendered by a registry without the partials).
    for keep in ["{{> _a y}}", "{{> _a x=1}}", "{{> _zz}}", "{{> a}}"] {
        let (out, left) = inlined(keep, &p).unwrap();
        assert!(left && out.starts_with("error"), "{keep}: {out}");
    }
    let loops = [("_loop", "{{> _loop}}")];
    let e = inlined("{{> _loop}}", &loops).unwrap_err().to_string();
    assert!(e.contains("_loop.hbs") && e.contains("itself"), "{e}");
}

#[test]
fn mailto_links_are_percent_encoded() {
    assert_eq!(
        pct_encode("【确认】 [REQ-1] a&b", b""),
        "%E3%80%90%E7%A1%AE%E8%AE%A4%E3%80%91%20%5BREQ-1%5D%20a%26b"
    );
    assert_eq!(
        pct_encode("work+flow@x.example", b"@+"),
        "work+flow@x.example"
    );
}
