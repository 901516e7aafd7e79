//! The templates of one locale read (built in, or overridden from a
//! directory), split into their subject, text and html sections, and
//! compiled; partials called without arguments inlined.

use super::*;

/// One template file's sections.
#[derive(Debug, Default)]
pub(super) struct Sections {
    pub(super) subject: Option<String>,
    pub(super) text: Option<String>,
    pub(super) html: Option<String>,
}

/// Splits a template file at its marker lines. Text before the first
/// marker is a comment. CRLF files (edited on Windows) are accepted.
pub(super) fn split_sections(src: &str, file: &str) -> Result<Sections, RenderError> {
    let src = src.replace("\r\n", "\n");
    let mut s = Sections::default();
    let mut current: Option<(&str, String)> = None;
    let mut seen_marker = false;
    let finish = |cur: Option<(&str, String)>, s: &mut Sections| -> Result<(), RenderError> {
        if let Some((which, body)) = cur {
            let slot = match which {
                "subject" => &mut s.subject,
                "text" => &mut s.text,
                _ => &mut s.html,
            };
            if slot.is_some() {
                return Err(RenderError::Format {
                    file: file.to_string(),
                    msg: format!("section `--- {which} ---` appears twice"),
                });
            }
            *slot = Some(body);
        }
        Ok(())
    };
    for line in src.split_inclusive('\n') {
        let which = match line.trim_end() {
            MARK_SUBJECT => Some("subject"),
            MARK_TEXT => Some("text"),
            MARK_HTML => Some("html"),
            _ => None,
        };
        match which {
            Some(w) => {
                seen_marker = true;
                finish(current.take(), &mut s)?;
                current = Some((w, String::new()));
            }
            None => {
                if let Some((_, body)) = current.as_mut() {
                    body.push_str(line);
                }
            }
        }
    }
    finish(current.take(), &mut s)?;
    if !seen_marker {
        return Err(RenderError::Format {
            file: file.to_string(),
            msg: format!(
                "no section markers: a template holds `{MARK_SUBJECT}`, `{MARK_TEXT}` and `{MARK_HTML}` lines"
            ),
        });
    }
    Ok(s)
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

pub(super) fn load_locale(
    locale: &str,
    builtin: &[(&str, &str)],
    over: Option<&Path>,
) -> Result<Locale, RenderError> {
    // (file name → (source, label for errors))
    let mut files: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut names = Value::Object(Map::new());
    for (file, src) in builtin {
        let label = format!("templates/{locale}/{file} (built-in)");
        if *file == "names.toml" {
            names = parse_names(src, &label)?;
        } else {
            files.insert(file.to_string(), (src.to_string(), label));
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
                files.insert(file, (src, label));
            }
        }
    }

    let mut split = Vec::with_capacity(files.len());
    let mut partials = Vec::new();
    let mut text_partials = HashMap::new();
    let mut html_partials = HashMap::new();
    for (file, (src, label)) in &files {
        let stem = file.trim_end_matches(".hbs");
        let sec = split_sections(src, label)?;
        if stem.starts_with('_') {
            let text = sec.text.unwrap_or_default();
            let body = sec.html.unwrap_or_default();
            // Registered too (when a template needs them), for overrides
            // that call a partial in a way `inline_partials` leaves alone
            // (with a context or hash).
            partials.push(Partial {
                name: stem.to_string(),
                text: text.clone(),
                html: body.clone(),
                label: label.clone(),
            });
            text_partials.insert(stem.to_string(), text);
            html_partials.insert(stem.to_string(), body);
        } else {
            split.push((stem, label, sec));
        }
    }
    let mut sources = BTreeMap::new();
    for (stem, label, sec) in split {
        let inline_err = |msg: String| RenderError::Format {
            file: label.clone(),
            msg,
        };
        let missing = |which: &str| RenderError::Format {
            file: label.clone(),
            msg: format!("missing section `--- {which} ---`"),
        };
        let subject = sec.subject.ok_or_else(|| missing("subject"))?;
        let text = sec.text.ok_or_else(|| missing("text"))?;
        let mut add = |part: &str, src: &str, html: bool| -> Result<(), RenderError> {
            let partials = if html { &html_partials } else { &text_partials };
            sources.insert(
                format!("{stem}.{part}"),
                Source {
                    src: inline_partials(src, partials, 0).map_err(inline_err)?,
                    label: label.clone(),
                    html,
                },
            );
            Ok(())
        };
        add("subject", &subject, false)?;
        add("text", &text, false)?;
        // A robot message is a title and a markdown text, no html.
        if !stem.starts_with("im/") {
            let body = sec.html.ok_or_else(|| missing("html"))?;
            add("html", &body, true)?;
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

/// A template's source, its partials inlined, compiled on first use.
pub(super) struct Source {
    pub(super) src: String,
    /// Where it came from, for errors.
    pub(super) label: String,
    /// Rendered with escaping (the html part).
    pub(super) html: bool,
}

/// A partial (`_name.hbs`): its text and html sections.
pub(super) struct Partial {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) html: String,
    pub(super) label: String,
}

/// A handlebars registry and whether the partials are in it yet.
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

/// How deep partials may include partials; deeper is taken for a partial
/// that includes itself, refused at load.
const MAX_INLINE_DEPTH: usize = 8;

/// Replaces `{{> _name}}` and `{{#> _name}} … {{/_name}}` (a partial with
/// no context argument) by the partial's source before compiling.
///
/// Why: handlebars-rust deep-clones the whole current context for every
/// partial call, and our context (with `names`) is a few hundred values:
/// that was two thirds of the rendering time. Inlining is equivalent for
/// these forms (same context), and `tidy_text` absorbs the whitespace
/// difference. Other forms are left to handlebars.
pub(super) fn inline_partials(
    src: &str,
    partials: &HashMap<String, String>,
    depth: usize,
) -> Result<String, String> {
    if !src.contains("{{") {
        return Ok(src.to_string());
    }
    let mut out = String::with_capacity(src.len() * 2);
    let mut rest = src;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(close) = tail.find("}}") else {
            out.push_str(tail);
            return Ok(out);
        };
        let inner = &tail[2..close];
        let after = &tail[close + 2..];
        let (block, name) = match inner.strip_prefix("#>") {
            Some(n) => (true, n.trim()),
            None => (false, inner.strip_prefix('>').map(str::trim).unwrap_or("")),
        };
        let plain_name = name.starts_with('_')
            && name[1..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        let found = partials.get(name).filter(|_| plain_name);
        if found.is_some() && depth >= MAX_INLINE_DEPTH {
            return Err(format!(
                "partial `{name}` nested more than {MAX_INLINE_DEPTH} deep (does it include itself?)"
            ));
        }
        match found {
            Some(partial) if !block => {
                out.push_str(&inline_partials(partial, partials, depth + 1)?);
                rest = after;
            }
            Some(partial) => {
                let end_tag = format!("{{{{/{name}}}}}");
                let Some(end) = after.find(&end_tag) else {
                    out.push_str(&tail[..close + 2]);
                    rest = after;
                    continue;
                };
                let content = &after[..end];
                let filled = partial.replace("{{> @partial-block}}", content);
                out.push_str(&inline_partials(&filled, partials, depth + 1)?);
                rest = &after[end + end_tag.len()..];
            }
            None => {
                out.push_str(&tail[..close + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

// ---------------------------------------------------------------- helpers
