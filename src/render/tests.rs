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
            let p = Partial {
                text: text.into(),
                html: html.into(),
                label: label.into(),
                frozen: [None, None],
            };
            (n.to_string(), p)
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

/// `src` compiled as written and through [`compile_into`] (plain text
/// shortened, compiled, put back): the elements, their lines and columns,
/// and the render of `ctx`, must be the same.
fn same_compiled(src: &str, ctx: &serde_json::Value) -> Result<(), String> {
    let reg = || {
        let mut h = Handlebars::new();
        h.set_prevent_indent(true);
        register_helpers(&mut h);
        h
    };
    let (mut plain, mut short) = (reg(), reg());
    let as_written = plain.register_template_string("t", src);
    let ours = compile_into(&mut short, "t", src, "t.hbs", None);
    match (as_written, ours) {
        (Ok(()), Ok(())) => {}
        (Err(_), Err(_)) => return Ok(()),
        (a, b) => return Err(format!("{src:?}: {a:?} against {b:?}")),
    }
    let (a, b) = (
        plain.get_template("t").unwrap(),
        short.get_template("t").unwrap(),
    );
    // The elements, and where each is in the source (for errors).
    if a != b {
        return Err(format!("{src:?}:\n{a:?}\n{b:?}"));
    }
    let (ra, rb) = (plain.render("t", ctx), short.render("t", ctx));
    match (ra, rb) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        (Err(_), Err(_)) => Ok(()),
        (a, b) => Err(format!("{src:?}: {a:?} against {b:?}")),
    }
}

/// Every built-in template and partial, in both languages, compiles to
/// the same elements, at the same lines and columns, with its plain text
/// shortened as without.
#[test]
fn shortened_plain_text_compiles_every_builtin_template_the_same() {
    let mut n = 0;
    for b in BUILTIN {
        let loc = load_locale(b.locale, Some(b), None).unwrap();
        let partials = loc.partials.values().flat_map(|p| [&*p.text, &*p.html]);
        for src in loc.sources.values().map(|s| &*s.src).chain(partials) {
            assert!(shorten(src).is_some(), "not shortened: {src}");
            same_compiled(src, &serde_json::json!({})).unwrap();
            n += 1;
        }
    }
    assert!(n > 100, "{n}");
}

/// What shortening must leave alone: whitespace control, standalone tags
/// (after ASCII and ideographic spaces), comments and strings holding
/// `}}`, escapes, raw blocks and triple braces; and a broken template is
/// refused with its true position.
#[test]
fn shortened_plain_text_keeps_whitespace_rules_and_edge_syntax() {
    let ctx = serde_json::json!({"a": "<A>", "b": true, "list": [1, 2], "n": "x"});
    for src in [
        "x  {{~a~}}  y\n  z  {{~#if b~}}  in  {{~/if~}}  out",
        "line\n  {{#if b}}\n  kept  line\n  {{/if}}\nend\n",
        "\u{3000}{{#if b}}\n全角　空格\n\u{3000}{{/if}}\n",
        "a{{!-- a }} comment --}}b {{! short }}c{{~!-- t --~}} d",
        "{{#if b}}yes{{else}}no{{/if}} {{#unless b}}u{{^}}v{{/unless}}",
        "{{#each list}}<li style=\"a:b;c:d\">{{this}}</li>{{/each}}",
        "{{t \"a}}b\" n}} [{{a}}] {{{a}}} {{a}}",
        "escaped \\{{a}} and {{a}}",
        "{{{{raw}}}} {{a}} {{{{/raw}}}}",
        "x {{#if b}} unclosed",
        "x {{a} y",
        "\u{F0000} already",
    ] {
        same_compiled(src, &ctx).unwrap();
    }
    let mut h = Handlebars::new();
    let e = compile_into(
        &mut h,
        "t",
        "<p style=\"x\">ok</p>\n<p>{{#if a}}</p>",
        "t.hbs",
        None,
    )
    .unwrap_err()
    .to_string();
    let mut plain = Handlebars::new();
    let want = plain
        .register_template_string("t", "<p style=\"x\">ok</p>\n<p>{{#if a}}</p>")
        .unwrap_err()
        .to_string();
    assert!(e.contains(&want), "{e}\n{want}");
}

/// `src` compiled as the renderer's registries compile it, under `name`.
fn compiled(name: &str, src: &str) -> Template {
    let mut h = Handlebars::new();
    h.set_prevent_indent(true);
    h.register_template_string(name, src).unwrap();
    h.get_template(name).unwrap().clone()
}

/// Every built-in template and partial, in both languages, is stored
/// compiled by build.rs, and rebuilds to the template its source compiles
/// to now: the same elements, lines and columns.
#[test]
fn every_builtin_template_is_stored_compiled_and_rebuilds_the_same() {
    let mut n = 0;
    for b in BUILTIN {
        let (locale, loc) = (b.locale, load_locale(b.locale, Some(b), None).unwrap());
        for (name, s) in &loc.sources {
            let frozen = s
                .frozen
                .unwrap_or_else(|| panic!("{locale} {name} not stored"));
            assert!(
                frozen::thaw(frozen).unwrap() == compiled(name, &s.src),
                "{locale} {name}"
            );
            n += 1;
        }
        for (name, p) in &loc.partials {
            for (src, frozen) in [(&p.text, p.frozen[0]), (&p.html, p.frozen[1])] {
                let frozen = frozen.unwrap_or_else(|| panic!("{locale} {name} not stored"));
                assert!(
                    frozen::thaw(frozen).unwrap() == compiled(name, src),
                    "{locale} {name}"
                );
                n += 1;
            }
        }
    }
    assert!(n > 200, "{n}");
}

/// Every element handlebars compiles is stored and rebuilt the same: paths
/// up and from the root, locals, literals, hashes, subexpressions, block
/// parameters, `else if` chains, partial blocks, decorators, whitespace
/// control, comments, escapes and raw blocks.
#[test]
fn stored_templates_rebuild_every_kind_of_element() {
    for src in [
        "a {{x.y}} {{../up}} {{@root.names.k}} {{this}} {{@index}} {{@../key}}",
        "{{{html}}} {{t \"k\" n=1 b=true s=\"v\" z=null}} {{f (g a \"b\") c=(h d)}}",
        "{{#each list as |item i|}}{{i}}={{item}}{{else}}none{{/each}}",
        "{{#with a as |b|}}{{b}}{{/with}}",
        "{{#if a}}1{{else if b}}2{{else}}3{{/if}} {{#unless c}}u{{^}}v{{/unless}}",
        "x  {{~a~}}  y\n  {{#if b}}\n  line\n  {{/if}}\n",
        "{{> _p}} {{> _p ctx k=1}} {{#> _layout}}in {{> @partial-block}}{{/_layout}}",
        "{{*inline \"d\"}} {{#*inline \"p\"}}body{{/inline}}",
        "{{! c }} {{!-- long }} --}} \\{{esc}} {{{{raw}}}} {{a}} {{{{/raw}}}}",
        "{{lookup names (concat \"k_\" a)}} {{[weird key]}} {{a.[0]}} {{-1.5}}",
    ] {
        let t = compiled("t", src);
        let f = frozen::freeze(&t).unwrap_or_else(|e| panic!("{src}: {e}"));
        let back = frozen::thaw(&f).unwrap();
        assert!(back == t, "{src}:\n{t:?}\n{back:?}");
    }
}

/// The built-in names are build.rs's JSON of each `names.toml`: the same
/// values as reading the TOML.
#[test]
fn builtin_names_are_the_toml_files() {
    for b in BUILTIN {
        let path = format!("templates/{}/names.toml", b.locale);
        let toml = std::fs::read_to_string(path).unwrap();
        let read: serde_json::Value = serde_json::from_str(b.names).unwrap();
        assert_eq!(
            read,
            parse_names(&toml, "names.toml").unwrap(),
            "{}",
            b.locale
        );
        assert_eq!(load_locale(b.locale, Some(b), None).unwrap().names, read);
    }
}

/// The built-in template files are every `.hbs` file of `templates/<locale>/`
/// and `im/`, split as a site's own file is split when read.
#[test]
fn builtin_templates_are_the_files_split() {
    for b in BUILTIN {
        let dir = std::path::PathBuf::from("templates").join(b.locale);
        let mut on_disk: Vec<String> = ["", "im/"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(dir.join(sub)).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "hbs"))
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        on_disk.sort();
        let built: Vec<&str> = b.files.iter().map(|f| f.file).collect();
        assert_eq!(built, on_disk, "{}", b.locale);
        for f in b.files {
            let src = std::fs::read_to_string(dir.join(f.file)).unwrap();
            let sec = split_sections(&src, f.file).unwrap();
            let want = [sec.subject, sec.text, sec.html];
            assert_eq!(f.sections.map(|s| s.map(String::from)), want, "{}", f.file);
            assert!(
                f.file.starts_with('_') || f.sections[0].is_some(),
                "{}",
                f.file
            );
        }
    }
}
