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

#[test]
fn partials_without_arguments_are_inlined() {
    let mut p = HashMap::new();
    p.insert("_a".to_string(), "A{{x}}{{> _b}}".to_string());
    p.insert("_b".to_string(), "B".to_string());
    p.insert("_frame".to_string(), "<{{> @partial-block}}>".to_string());
    assert_eq!(inline_partials("1{{> _a}}2", &p, 0).unwrap(), "1A{{x}}B2");
    assert_eq!(
        inline_partials("{{#> _frame}}in {{> _b}}{{/_frame}}!", &p, 0).unwrap(),
        "<in B>!"
    );
    // With a context or hash, or unknown: left to handlebars.
    for keep in [
        "{{> _a task}}",
        "{{> _a x=1}}",
        "{{> _zz}}",
        "{{> a}}",
        "{{{x}}}",
    ] {
        assert_eq!(inline_partials(keep, &p, 0).unwrap(), keep);
    }
    p.insert("_loop".to_string(), "{{> _loop}}".to_string());
    assert!(inline_partials("{{> _loop}}", &p, 0).is_err());
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
