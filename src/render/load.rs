//! The templates of one locale read (built in, or overridden from a
//! directory), split into their subject, text and html sections, and
//! compiled; partials called without arguments inlined.

use super::*;

/// Splits a template file at its marker lines (see [`sections::split`]).
pub(super) fn split_sections(src: &str, file: &str) -> Result<Sections, RenderError> {
    sections::split(src).map_err(|msg| RenderError::Format {
        file: file.to_string(),
        msg,
    })
}

pub(super) fn read_override(path: &Path) -> Result<Option<String>, RenderError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RenderError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub(super) fn parse_names(src: &str, file: &str) -> Result<Value, RenderError> {
    // Straight into JSON, the form the templates read: no table between.
    toml::from_str(src).map_err(|e| RenderError::Names {
        file: file.to_string(),
        source: Box::new(e),
    })
}

/// `over` merged into `base`, tables key by key.
pub(super) fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// A locale's built-in templates, as build.rs prepared them.
pub(super) struct BuiltinLocale {
    pub(super) locale: &'static str,
    /// `names.toml` as JSON.
    pub(super) names: &'static str,
    /// The files' sections compiled and stored (see `frozen`), one after
    /// the other.
    pub(super) frozen: &'static [u8],
    /// Sorted by file name.
    pub(super) files: &'static [BuiltinFile],
}

/// A built-in template file (`ack.hbs`, `_layout.hbs`, `im/test.hbs`).
pub(super) struct BuiltinFile {
    pub(super) file: &'static str,
    /// Where it came from, for errors.
    pub(super) label: &'static str,
    /// Its subject, text and html sections.
    pub(super) sections: [Option<&'static str>; 3],
    /// Where in its locale's `frozen` each section is stored, compiled.
    pub(super) frozen: [Option<(usize, usize)>; 3],
}

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// One template file of a locale: built in, or a site's own.
enum File {
    Builtin(&'static BuiltinLocale, &'static BuiltinFile),
    Own { src: String, label: String },
}

pub(super) fn load_locale(
    locale: &str,
    builtin: Option<&'static BuiltinLocale>,
    over: Option<&Path>,
) -> Result<Locale, RenderError> {
    let mut files: BTreeMap<String, File> = BTreeMap::new();
    let mut names = Value::Object(Map::new());
    if let Some(b) = builtin {
        names = serde_json::from_str(b.names).map_err(|e| RenderError::Format {
            file: format!("templates/{locale}/names.toml (built-in)"),
            msg: e.to_string(),
        })?;
        for f in b.files {
            files.insert(f.file.to_string(), File::Builtin(b, f));
        }
    }
    if let Some(dir) = over {
        let entries = std::fs::read_dir(dir).map_err(|source| RenderError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| RenderError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            paths.push(entry.path());
        }
        // Group-robot messages live in `im/` beside the mail templates.
        let im_dir = dir.join("im");
        if im_dir.is_dir() {
            let entries = std::fs::read_dir(&im_dir).map_err(|source| RenderError::Io {
                path: im_dir.clone(),
                source,
            })?;
            for entry in entries {
                paths.push(
                    entry
                        .map_err(|source| RenderError::Io {
                            path: im_dir.clone(),
                            source,
                        })?
                        .path(),
                );
            }
        }
        paths.sort();
        for path in paths {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let file = if path.parent() == Some(im_dir.as_path()) {
                format!("im/{name}")
            } else {
                name.to_string()
            };
            if !(file == "names.toml" || file.ends_with(".hbs")) {
                continue;
            }
            let Some(src) = read_override(&path)? else {
                continue;
            };
            let label = path.display().to_string();
            if file == "names.toml" {
                merge(&mut names, parse_names(&src, &label)?);
            } else {
                files.insert(file, File::Own { src, label });
            }
        }
    }

    let mut split = Vec::with_capacity(files.len());
    let mut partials = BTreeMap::new();
    for (file, f) in files {
        let stem = file.trim_end_matches(".hbs").to_string();
        // (subject, text, html), each with its stored compiled form
        let (label, [subject, text, html]): (Cow<'static, str>, [(Option<Text>, _); 3]) = match f {
            File::Builtin(loc, f) => {
                let part = |i: usize| {
                    let frozen = f.frozen[i].and_then(|(s, e)| loc.frozen.get(s..e));
                    (f.sections[i].map(Cow::Borrowed), frozen)
                };
                (Cow::Borrowed(f.label), [part(0), part(1), part(2)])
            }
            File::Own { src, label } => {
                let sec = split_sections(&src, &label)?;
                let part = |s: Option<String>| (s.map(Cow::Owned), None);
                let parts = [part(sec.subject), part(sec.text), part(sec.html)];
                (Cow::Owned(label), parts)
            }
        };
        if stem.starts_with('_') {
            let p = Partial {
                text: text.0.unwrap_or_default(),
                html: html.0.unwrap_or_default(),
                label,
                frozen: [text.1, html.1],
            };
            partials.insert(stem, p);
        } else {
            split.push((stem, label, [subject, text, html]));
        }
    }
    let mut sources = BTreeMap::new();
    for (stem, label, [(subject, f_subject), (text, f_text), (html, f_html)]) in split {
        let missing = |which: &str| RenderError::Format {
            file: label.to_string(),
            msg: format!("missing section `--- {which} ---`"),
        };
        let subject = subject.ok_or_else(|| missing("subject"))?;
        let text = text.ok_or_else(|| missing("text"))?;
        let mut add = |part: &str, src: Text, html: bool, frozen| {
            let label = label.clone();
            let source = Source {
                src,
                label,
                html,
                frozen,
            };
            sources.insert(format!("{stem}.{part}"), source);
        };
        add("subject", subject, false, f_subject);
        add("text", text, false, f_text);
        // A robot message is a title and a markdown text, no html.
        if !stem.starts_with("im/") {
            let body = html.ok_or_else(|| missing("html"))?;
            add("html", body, true, f_html);
        }
    }
    for kind in Kind::ALL
        .iter()
        .map(|k| k.name())
        .chain(IM_KINDS.iter().copied())
    {
        if !sources.contains_key(&format!("{kind}.subject")) {
            return Err(RenderError::MissingKind {
                locale: locale.to_string(),
                kind,
            });
        }
    }
    let registry = |escape: bool| {
        let mut reg = Handlebars::new();
        if !escape {
            reg.register_escape_fn(handlebars::no_escape);
        }
        reg.set_strict_mode(false);
        // Partials are called at the start of a line; indenting them would
        // only shift html and text around.
        reg.set_prevent_indent(true);
        register_helpers(&mut reg);
        RwLock::new(Registry {
            hb: reg,
            partials: false,
        })
    };
    let scratch = Mutex::new(Some(names_only(&names)));
    Ok(Locale {
        plain: registry(false),
        html: registry(true),
        sources,
        partials,
        names,
        scratch,
    })
}

/// A template's text: built in, or read from a site's file.
pub(super) type Text = Cow<'static, str>;

/// A template's source, compiled on first use.
pub(super) struct Source {
    pub(super) src: Text,
    /// Where it came from, for errors.
    pub(super) label: Text,
    /// Rendered with escaping (the html part).
    pub(super) html: bool,
    /// The built-in template compiled when crossdesk was built.
    pub(super) frozen: Option<&'static [u8]>,
}

/// A partial (`_name.hbs`): its text and html sections.
pub(super) struct Partial {
    pub(super) text: Text,
    pub(super) html: Text,
    pub(super) label: Text,
    /// The built-in text and html compiled when crossdesk was built.
    pub(super) frozen: [Option<&'static [u8]>; 2],
}

/// A handlebars registry and whether every partial is compiled into it.
pub(super) struct Registry {
    pub(super) hb: Handlebars<'static>,
    pub(super) partials: bool,
}

pub(super) fn compile_err(label: &str) -> impl Fn(TemplateError) -> RenderError {
    let label = label.to_string();
    move |e: TemplateError| RenderError::Template {
        file: label.clone(),
        source: Box::new(e),
    }
}

/// Compiles `src` into `hb` as `name`. Handlebars' parser reads plain
/// text a character at a time through its grammar, and finds each
/// element's line and column by counting from the start of the source;
/// the html parts are mostly plain text (inline styles). So each run of
/// plain text without whitespace is first replaced by one character of
/// the private-use plane 15, which keeps every line and its whitespace,
/// and with them handlebars' rules for standalone tags and `~`; the runs
/// are put back into the compiled elements. A source this is not done
/// for (one with `\{{`, a raw block, or such characters already), or
/// whose short form does not compile, is compiled as written, so that an
/// error names its true line and column.
///
/// A built-in template comes `frozen`, compiled when crossdesk was built:
/// it is rebuilt from that, without parsing.
pub(super) fn compile_into(
    hb: &mut Handlebars<'static>,
    name: &str,
    src: &str,
    label: &str,
    frozen: Option<&[u8]>,
) -> Result<(), RenderError> {
    if let Some(t) = frozen.and_then(|f| frozen::thaw(f).ok()) {
        hb.register_template(name, t);
        return Ok(());
    }
    if let Some((short, runs)) = shorten(src) {
        if hb.register_template_string(name, &short).is_ok() {
            if let Some(mut t) = hb.get_template(name).cloned() {
                restore_runs(&mut t, &runs);
                hb.register_template(name, t);
                return Ok(());
            }
        }
    }
    hb.register_template_string(name, src)
        .map_err(compile_err(label))
}

/// The private-use characters that stand for runs of plain text.
const RUNS: std::ops::RangeInclusive<u32> = 0xF0000..=0xFFFFD;

fn is_run(c: char) -> bool {
    RUNS.contains(&(c as u32))
}

/// A run of plain text [`shorten`] took out: its text, and the line and
/// column (from 1, in characters, as handlebars counts them) of the one
/// character standing for it.
pub(super) struct Run<'a> {
    text: &'a str,
    line: usize,
    col: usize,
}

/// `src` with each run of plain text without whitespace replaced by one
/// character of [`RUNS`], and the runs in order; `None` when that is not
/// safe or not possible.
pub(super) fn shorten(src: &str) -> Option<(String, Vec<Run<'_>>)> {
    if src.contains("\\{{") || src.contains("{{{{") || src.chars().any(is_run) {
        return None;
    }
    struct Out<'a> {
        s: String,
        runs: Vec<Run<'a>>,
        line: usize,
        col: usize,
    }
    impl<'a> Out<'a> {
        fn push(&mut self, c: char) {
            self.s.push(c);
            if c == '\n' {
                (self.line, self.col) = (self.line + 1, 1);
            } else {
                self.col += 1;
            }
        }
        fn run(&mut self, text: &'a str) -> Option<()> {
            let c = char::from_u32(RUNS.start() + self.runs.len() as u32).filter(|c| is_run(*c))?;
            self.runs.push(Run {
                text,
                line: self.line,
                col: self.col,
            });
            self.push(c);
            Some(())
        }
    }
    let mut out = Out {
        s: String::with_capacity(src.len() / 2),
        runs: vec![],
        line: 1,
        col: 1,
    };
    let mut rest = src;
    loop {
        let (plain, tag) = match rest.find("{{") {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let mut start = None;
        for (i, c) in plain.char_indices() {
            if c.is_whitespace() {
                if let Some(s) = start.take() {
                    out.run(&plain[s..i])?;
                }
                out.push(c);
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            out.run(&plain[s..])?;
        }
        let Some(tag) = tag else {
            break;
        };
        let end = tag_end(tag)?;
        tag[..end].chars().for_each(|c| out.push(c));
        rest = &tag[end..];
    }
    Some((out.s, out.runs))
}

/// The length of the tag `tag` starts with (`{{…}}`, `{{{…}}}`, a
/// comment), quoted strings and `[…]` segments in it skipped over.
fn tag_end(tag: &str) -> Option<usize> {
    let body = tag.strip_prefix("{{")?;
    let body = body.strip_prefix('~').unwrap_or(body);
    if body.starts_with("!--") {
        let i = tag.find("--}}").map(|i| i + 4);
        let j = tag.find("--~}}").map(|i| i + 5);
        return match (i, j) {
            (Some(i), Some(j)) => Some(i.min(j)),
            (i, j) => i.or(j),
        };
    }
    if body.starts_with('!') {
        return tag.find("}}").map(|i| i + 2);
    }
    if tag.starts_with("{{~{") {
        return None;
    }
    let close = if tag.starts_with("{{{") { "}}}" } else { "}}" };
    let mut quote = None;
    let mut chars = tag.char_indices().skip(2);
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '[') => quote = Some(if c == '[' { ']' } else { c }),
            (None, '}') if tag[i..].starts_with(close) => return Some(i + close.len()),
            (None, _) => {}
        }
    }
    None
}

/// Puts the runs [`shorten`] took out back into `t`'s plain text, and
/// moves each element's column to where it is in the source as written.
fn restore_runs(t: &mut Template, runs: &[Run]) {
    for m in &mut t.mapping {
        let (line, col) = (m.0, m.1);
        m.1 += runs
            .iter()
            .filter(|r| r.line == line && r.col < col)
            .map(|r| r.text.chars().count() - 1)
            .sum::<usize>();
    }
    for e in &mut t.elements {
        match e {
            TemplateElement::RawString(s) if s.chars().any(is_run) => {
                let mut full = String::with_capacity(s.len() * 8);
                for c in s.chars() {
                    match runs.get((c as u32).wrapping_sub(*RUNS.start()) as usize) {
                        Some(run) if is_run(c) => full.push_str(run.text),
                        _ => full.push(c),
                    }
                }
                *s = full;
            }
            TemplateElement::HtmlExpression(h)
            | TemplateElement::Expression(h)
            | TemplateElement::HelperBlock(h) => {
                for t in [&mut h.template, &mut h.inverse].into_iter().flatten() {
                    restore_runs(t, runs);
                }
            }
            TemplateElement::DecoratorExpression(d)
            | TemplateElement::DecoratorBlock(d)
            | TemplateElement::PartialExpression(d)
            | TemplateElement::PartialBlock(d) => {
                if let Some(t) = &mut d.template {
                    restore_runs(t, runs);
                }
            }
            _ => {}
        }
    }
}

/// Partial `name` compiled into `reg` (once: it stays there under its
/// name, where handlebars finds it for the calls left to it), and a copy
/// of it to inline. `None` when there is no such partial.
pub(super) fn partial_template(
    partials: &BTreeMap<String, Partial>,
    reg: &mut Registry,
    name: &str,
    html: bool,
) -> Result<Option<Template>, RenderError> {
    let Some(p) = partials.get(name) else {
        return Ok(None);
    };
    if !reg.hb.has_template(name) {
        let (src, frozen) = match html {
            true => (&p.html, p.frozen[1]),
            false => (&p.text, p.frozen[0]),
        };
        compile_into(&mut reg.hb, name, src, &p.label, frozen)?;
    }
    Ok(reg.hb.get_template(name).cloned())
}

/// How deep partials may include partials; deeper is taken for a partial
/// that includes itself, refused when compiled.
const MAX_INLINE_DEPTH: usize = 8;

/// The partial's name when `d` calls it with no context or hash.
fn plain_call(d: &DecoratorTemplate) -> Option<String> {
    match &d.name {
        Parameter::Name(n) if d.params.is_empty() && d.hash.is_empty() => Some(n.clone()),
        _ => None,
    }
}

/// Does `t` call a partial anywhere?
pub(super) fn calls_partial(t: &Template) -> bool {
    t.elements.iter().any(|e| match e {
        TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => true,
        TemplateElement::HelperBlock(h) => {
            h.template.as_ref().is_some_and(calls_partial)
                || h.inverse.as_ref().is_some_and(calls_partial)
        }
        TemplateElement::DecoratorBlock(d) => d.template.as_ref().is_some_and(calls_partial),
        _ => false,
    })
}

/// Replaces, in compiled template `tpl`, each call of a partial with no
/// context or hash (`{{> _name}}`, `{{#> _name}} … {{/_name}}`) by the
/// partial's compiled elements, its `{{> @partial-block}}` by the block's.
/// True when partial calls are left for handlebars (other forms).
///
/// Why: handlebars-rust deep-clones the whole current context for every
/// partial call, and our context (with `names`) is a few hundred values:
/// that was two thirds of the rendering time. Inlining is equivalent for
/// these forms (same context). And inlining compiled elements rather than
/// source text compiles each partial once, where it is short: handlebars'
/// parser finds each token's line from the start of the source, so a
/// template's compile time grows with the square of its length.
pub(super) fn inline_partials(
    partials: &BTreeMap<String, Partial>,
    reg: &mut Registry,
    tpl: &mut Template,
    html: bool,
    depth: usize,
    block: Option<&Template>,
) -> Result<bool, RenderError> {
    let elements = std::mem::take(&mut tpl.elements);
    let mut mapping = std::mem::take(&mut tpl.mapping).into_iter();
    let mut left = false;
    let mut at = None;
    for el in elements {
        // (the line and column of each element, for render errors)
        at = mapping.next().or(at);
        let known = |d: &DecoratorTemplate| plain_call(d).filter(|n| partials.contains_key(n));
        match el {
            TemplateElement::PartialExpression(d) => match (plain_call(&d), block) {
                (Some(n), Some(b)) if n == "@partial-block" => {
                    tpl.elements.extend(b.elements.iter().cloned());
                    tpl.mapping.extend(b.mapping.iter().cloned());
                    continue;
                }
                _ => match known(&d) {
                    Some(n) => {
                        left |= inline_one(partials, reg, &n, html, depth, None, tpl)?;
                        continue;
                    }
                    None => {
                        left = true;
                        tpl.elements.push(TemplateElement::PartialExpression(d));
                    }
                },
            },
            TemplateElement::PartialBlock(mut d) => {
                let mut content = d.template.take().unwrap_or_default();
                left |= inline_partials(partials, reg, &mut content, html, depth, block)?;
                match known(&d) {
                    Some(n) => {
                        left |= inline_one(partials, reg, &n, html, depth, Some(&content), tpl)?;
                        continue;
                    }
                    None => {
                        left = true;
                        d.template = Some(content);
                        tpl.elements.push(TemplateElement::PartialBlock(d));
                    }
                }
            }
            TemplateElement::HelperBlock(mut h) => {
                for t in [h.template.as_mut(), h.inverse.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    left |= inline_partials(partials, reg, t, html, depth, block)?;
                }
                tpl.elements.push(TemplateElement::HelperBlock(h));
            }
            TemplateElement::DecoratorBlock(mut d) => {
                if let Some(t) = d.template.as_mut() {
                    left |= inline_partials(partials, reg, t, html, depth, block)?;
                }
                tpl.elements.push(TemplateElement::DecoratorBlock(d));
            }
            other => tpl.elements.push(other),
        }
        tpl.mapping.extend(at.clone());
    }
    Ok(left)
}

/// Partial `name`'s elements (its own calls inlined) appended to `tpl`.
fn inline_one(
    partials: &BTreeMap<String, Partial>,
    reg: &mut Registry,
    name: &str,
    html: bool,
    depth: usize,
    block: Option<&Template>,
    tpl: &mut Template,
) -> Result<bool, RenderError> {
    if depth >= MAX_INLINE_DEPTH {
        return Err(RenderError::Format {
            file: partials[name].label.to_string(),
            msg: format!(
                "partial `{name}` nested more than {MAX_INLINE_DEPTH} deep (does it include itself?)"
            ),
        });
    }
    let Some(mut p) = partial_template(partials, reg, name, html)? else {
        return Ok(false);
    };
    let left = inline_partials(partials, reg, &mut p, html, depth + 1, block)?;
    tpl.elements.extend(p.elements);
    tpl.mapping.extend(p.mapping);
    Ok(left)
}

// ---------------------------------------------------------------- helpers
