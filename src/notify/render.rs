//! `Outgoing` → RFC 5322 bytes through the handlebars templates.
//!
//! Templates live in `templates/<locale>/` (see `templates/README.md`): one
//! file per [`Kind`] holding three sections (subject, text, html), shared
//! partials (`_*.hbs`, text and html sections) and `names.toml`, the
//! translations of the codes the core puts in a [`MailCtx`](super::MailCtx).
//! All of them are compiled into the binary, so it runs with no files
//! around; any file can be overridden by one of the same relative path in a
//! directory given to [`Renderer::new`].
//!
//! Each locale gets two registries, because escaping is a registry setting:
//! subject and text render with no escaping (`<` stays `<`; they are not
//! HTML), html escapes every `{{ }}`. Everything is compiled once at start
//! (partials called without arguments are inlined then, see
//! `inline_partials`); rendering a mail serializes its `MailCtx` into a
//! reused context that already holds `names`, and runs three compiled
//! templates against it.

use crate::model::Mailbox;
use crate::model::{Kind, Outgoing};
use chrono::{DateTime, FixedOffset, NaiveDate};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, ScopedJson, TemplateError,
};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The locale used when an `Outgoing` asks for one we have no templates
/// for (after tolerant matching: `zh`, `zh_cn`, `zh-Hans` → `zh-CN`,
/// `en-US` → `en`). Chinese, because the deployment this is built for is a
/// Chinese company whose handbook is the source of the process; change it
/// with [`Renderer::with_fallback`].
pub const DEFAULT_FALLBACK: &str = "zh-CN";

/// Longest subject we produce (characters, before the `[id] ` prefix). A
/// requirement title is whatever someone typed; nobody reads past this.
const MAX_SUBJECT_CHARS: usize = 200;

/// References kept: the thread's root plus the most recent ones. Clients
/// thread on the root and the parent; hundreds of ids only bloat headers.
const MAX_REFERENCES_TAIL: usize = 10;

/// Section markers of a template file, each alone on its line.
const MARK_SUBJECT: &str = "--- subject ---";
const MARK_TEXT: &str = "--- text ---";
const MARK_HTML: &str = "--- html ---";

macro_rules! builtin_locale {
    ($loc:literal) => {
        (
            $loc,
            &[
                builtin_locale!(@f $loc, "names.toml"),
                builtin_locale!(@f $loc, "_layout.hbs"),
                builtin_locale!(@f $loc, "_summary.hbs"),
                builtin_locale!(@f $loc, "_task.hbs"),
                builtin_locale!(@f $loc, "_tasks.hbs"),
                builtin_locale!(@f $loc, "_milestones.hbs"),
                builtin_locale!(@f $loc, "_transcript.hbs"),
                builtin_locale!(@f $loc, "_footer.hbs"),
                builtin_locale!(@f $loc, "_guide.hbs"),
                builtin_locale!(@f $loc, "ack.hbs"),
                builtin_locale!(@f $loc, "dept_new.hbs"),
                builtin_locale!(@f $loc, "confirmed.hbs"),
                builtin_locale!(@f $loc, "clarify.hbs"),
                builtin_locale!(@f $loc, "rejected.hbs"),
                builtin_locale!(@f $loc, "assigned.hbs"),
                builtin_locale!(@f $loc, "accepted.hbs"),
                builtin_locale!(@f $loc, "declined.hbs"),
                builtin_locale!(@f $loc, "plan.hbs"),
                builtin_locale!(@f $loc, "progress.hbs"),
                builtin_locale!(@f $loc, "blocked.hbs"),
                builtin_locale!(@f $loc, "done.hbs"),
                builtin_locale!(@f $loc, "verify_request.hbs"),
                builtin_locale!(@f $loc, "closed.hbs"),
                builtin_locale!(@f $loc, "cancelled.hbs"),
                builtin_locale!(@f $loc, "comment.hbs"),
                builtin_locale!(@f $loc, "notice.hbs"),
                builtin_locale!(@f $loc, "refusal.hbs"),
                builtin_locale!(@f $loc, "help.hbs"),
                builtin_locale!(@f $loc, "digest.hbs"),
                builtin_locale!(@f $loc, "reminder.hbs"),
            ],
        )
    };
    (@f $loc:literal, $file:literal) => {
        (
            $file,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/",
                $loc,
                "/",
                $file
            )),
        )
    };
}

type FileSet = &'static [(&'static str, &'static str)];

/// The built-in templates: (locale, [(file name, contents)]).
const BUILTIN: &[(&str, FileSet)] = &[builtin_locale!("zh-CN"), builtin_locale!("en")];

/// Why templates could not be loaded or a mail could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {msg}")]
    Format { file: String, msg: String },
    #[error("{file}: {source}")]
    Template {
        file: String,
        source: Box<TemplateError>,
    },
    #[error("{file}: {source}")]
    Names {
        file: String,
        source: Box<toml::de::Error>,
    },
    #[error("locale {locale}: no template for kind `{kind}` ({locale}/{kind}.hbs)")]
    MissingKind { locale: String, kind: &'static str },
    #[error("locale {0:?} has no templates (have: {1})")]
    UnknownLocale(String, String),
    #[error("rendering {template} ({locale}): {source}")]
    Render {
        locale: String,
        template: String,
        source: Box<handlebars::RenderError>,
    },
    #[error("building the mail context: {0}")]
    Context(#[from] serde_json::Error),
    #[error("address {address:?} cannot be used in a header: {msg}")]
    Address { address: String, msg: String },
    #[error("Message-ID {0:?} is not a valid id (printable ASCII, no spaces or <>)")]
    MessageId(String),
    #[error("building the message: {0}")]
    Message(#[from] lettre::error::Error),
}

/// The three rendered parts of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The locale actually used (after matching and fallback).
    pub locale: String,
    /// One line, `[<id>] ` first when the mail is about an item.
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What the shell knows about a mail beyond its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The daemon, with its display name; also used as Reply-To.
    pub from: Mailbox,
    /// Without `<>`.
    pub message_id: String,
    /// The mail being answered, without `<>`.
    pub in_reply_to: Option<String>,
    /// The thread, oldest first, without `<>`.
    pub references: Vec<String>,
    /// The Date header, in the configured time zone; its date is also
    /// "today" for marking overdue tasks.
    pub date: DateTime<FixedOffset>,
}

struct Locale {
    /// Subject and text: no escaping.
    plain: Handlebars<'static>,
    /// Html: every `{{ }}` escaped.
    html: Handlebars<'static>,
    /// `names.toml` as JSON, in every context as `names`.
    names: Value,
    /// A context holding only `names`, lent to one render at a time.
    scratch: Mutex<Option<Context>>,
}

fn names_only(names: &Value) -> Context {
    let mut root = Map::new();
    root.insert("names".into(), names.clone());
    Context::from(Value::Object(root))
}

/// Compiled templates for every locale.
pub struct Renderer {
    locales: BTreeMap<String, Locale>,
    fallback: String,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("locales", &self.locales.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl Renderer {
    /// Built-in templates (every file is compiled in, so the binary works
    /// with no files around), each overridable by a file of the same
    /// relative path under `dir` (`<dir>/zh-CN/ack.hbs`). An override of
    /// `names.toml` is merged key by key over the built-in one. A locale
    /// directory under `dir` that is not built in (`<dir>/ja/`) adds a
    /// locale; it must then hold every kind and a `names.toml`. Extra
    /// `_*.hbs` files become partials. Fails on any template that does not
    /// compile, so a bad override stops the daemon at start, not at the
    /// first mail.
    pub fn new(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut locales = BTreeMap::new();
        for (loc, files) in BUILTIN {
            let over = dir.map(|d| d.join(loc)).filter(|d| d.is_dir());
            locales.insert(loc.to_string(), load_locale(loc, files, over.as_deref())?);
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir).map_err(|source| RenderError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| RenderError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if path.is_dir() && !locales.contains_key(name) && path.join("names.toml").is_file()
                {
                    locales.insert(name.to_string(), load_locale(name, &[], Some(&path))?);
                }
            }
        }
        Ok(Renderer {
            locales,
            fallback: DEFAULT_FALLBACK.to_string(),
        })
    }

    /// Sets the locale used when an `Outgoing` names one we do not have.
    pub fn with_fallback(mut self, locale: &str) -> Result<Renderer, RenderError> {
        let found = self.match_locale(locale).ok_or_else(|| {
            RenderError::UnknownLocale(locale.to_string(), self.locales().join(", "))
        })?;
        self.fallback = found.to_string();
        Ok(self)
    }

    /// The locales templates exist for (`en`, `zh-CN`, …).
    pub fn locales(&self) -> Vec<String> {
        self.locales.keys().cloned().collect()
    }

    /// The locale a requested one renders in: exact, then case- and
    /// separator-insensitive (`zh_cn`), then by language (`zh-Hans` and
    /// `zh-TW` → `zh-CN`, `en-GB` → `en`), then the fallback.
    pub fn resolve_locale(&self, wanted: &str) -> &str {
        self.match_locale(wanted).unwrap_or(&self.fallback)
    }

    fn match_locale(&self, wanted: &str) -> Option<&str> {
        let wanted = wanted.trim();
        if let Some((k, _)) = self.locales.get_key_value(wanted) {
            return Some(k);
        }
        let norm = |s: &str| s.replace('_', "-").to_ascii_lowercase();
        let w = norm(wanted);
        if w.is_empty() {
            return None;
        }
        if let Some(k) = self.locales.keys().find(|k| norm(k) == w) {
            return Some(k);
        }
        let lang = |s: &str| s.split('-').next().unwrap_or("").to_string();
        let wl = match lang(&w).as_str() {
            "cn" | "chinese" => "zh".to_string(),
            l => l.to_string(),
        };
        self.locales
            .keys()
            .find(|k| lang(&norm(k)) == wl)
            .map(|k| k.as_str())
    }

    /// Renders subject, text and html for an `Outgoing` in `out.locale`
    /// (see [`Renderer::resolve_locale`]). No task is marked overdue: that
    /// needs today's date, see [`Renderer::render_parts_on`].
    pub fn render_parts(&self, out: &Outgoing) -> Result<Rendered, RenderError> {
        self.render_parts_on(out, None)
    }

    /// As [`Renderer::render_parts`], with today's date (in the configured
    /// time zone) so that open tasks and requirements past their `due` are
    /// marked overdue.
    pub fn render_parts_on(
        &self,
        out: &Outgoing,
        today: Option<NaiveDate>,
    ) -> Result<Rendered, RenderError> {
        let locale_name = self.resolve_locale(&out.locale);
        let loc = self.locales.get(locale_name).ok_or_else(|| {
            RenderError::UnknownLocale(locale_name.to_string(), self.locales().join(", "))
        })?;
        // The context is reused: it keeps `names` between mails and only
        // the mail's own fields come and go (cloning the few hundred
        // translations per mail was a third of the rendering time).
        let mut ctx = loc
            .scratch
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| names_only(&loc.names));
        let result = self.render_in(&mut ctx, loc, locale_name, out, today);
        if let Some(obj) = ctx.data_mut().as_object_mut() {
            obj.retain(|k, _| k == "names");
        }
        if let Ok(mut slot) = loc.scratch.lock() {
            slot.get_or_insert(ctx);
        }
        result
    }

    fn render_in(
        &self,
        ctx: &mut Context,
        loc: &Locale,
        locale_name: &str,
        out: &Outgoing,
        today: Option<NaiveDate>,
    ) -> Result<Rendered, RenderError> {
        if let Some(obj) = ctx.data_mut().as_object_mut() {
            fill(obj, out, locale_name, today)?;
        }
        let ctx = &*ctx;
        let kind = out.kind.name();
        let run = |reg: &Handlebars<'static>, part: &str| {
            let name = format!("{kind}.{part}");
            reg.render_with_context(&name, ctx)
                .map_err(|e| RenderError::Render {
                    locale: locale_name.to_string(),
                    template: name,
                    source: Box::new(e),
                })
        };
        let subject = tidy_subject(&run(&loc.plain, "subject")?, out.item.as_deref());
        let text = tidy_text(&run(&loc.plain, "text")?);
        let html = run(&loc.html, "html")?;
        Ok(Rendered {
            locale: locale_name.to_string(),
            subject,
            text,
            html,
        })
    }

    /// The message as a lettre `Message` (for a lettre transport, or
    /// `.formatted()` for the bytes).
    pub fn build_message(
        &self,
        out: &Outgoing,
        env: &Envelope,
    ) -> Result<lettre::Message, RenderError> {
        let parts = self.render_parts_on(out, Some(env.date.date_naive()))?;
        let from = to_lettre(&env.from)?;
        let mut b = lettre::Message::builder()
            .from(from.clone())
            .reply_to(from)
            .subject(parts.subject)
            .message_id(Some(format!("<{}>", msg_id(&env.message_id)?)));
        for m in &out.to {
            b = b.to(to_lettre(m)?);
        }
        for m in &out.cc {
            b = b.cc(to_lettre(m)?);
        }
        let parent = env.in_reply_to.as_deref().and_then(clean_msg_id);
        if let Some(p) = parent {
            b = b.in_reply_to(format!("<{p}>"));
        }
        let refs = references(&env.references, parent);
        if !refs.is_empty() {
            let joined: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
            b = b.references(joined.join(" "));
        }
        // RFC 3834: what keeps auto-responders (and our own filter) from
        // answering us. `X-Auto-Response-Suppress` is Exchange's equivalent
        // (no out-of-office, no read receipts). No `Precedence: bulk`: it is
        // non-standard (RFC 3834 §3.1.8 discourages it), and Gmail/Outlook
        // rules treat it as a newsletter (tabs, junk, "low priority"), which
        // hides mail that asks a person to act. The Auto-Submitted header and
        // the per-recipient daily cap are the loop protection.
        b = b
            .raw_header(raw("Auto-Submitted", out.kind.auto_submitted()))
            .raw_header(raw("X-Auto-Response-Suppress", "All"))
            .raw_header(raw("X-Crossdesk-Kind", out.kind.name()));
        // Our own loop marker: the filter recognises our mail by it even when
        // a relay rewrote the From.
        if let Some(id) = out.item.as_deref().and_then(clean_msg_id) {
            b = b.raw_header(raw("X-Crossdesk-Id", id));
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::plain(parts.text))
            .singlepart(SinglePart::html(parts.html));
        let mut msg = b.multipart(body)?;
        // lettre's Date header is always UTC; keep the configured offset so
        // that the raw header reads as local time. ASCII only, no injection.
        let date = env.date.to_rfc2822();
        msg.headers_mut()
            .insert_raw(HeaderValue::dangerous_new_pre_encoded(
                HeaderName::new_from_ascii_str("Date"),
                date.clone(),
                date,
            ));
        Ok(msg)
    }

    /// The full RFC 5322 message (CRLF line ends), ready for SMTP.
    pub fn render_message(&self, out: &Outgoing, env: &Envelope) -> Result<Vec<u8>, RenderError> {
        Ok(self.build_message(out, env)?.formatted())
    }
}

/// A custom header through lettre's encoder (RFC 2047 and folding: a value
/// cannot break out of its line).
fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

fn to_lettre(m: &Mailbox) -> Result<lettre::message::Mailbox, RenderError> {
    let address: lettre::Address =
        m.address
            .parse()
            .map_err(|e: lettre::address::AddressError| RenderError::Address {
                address: m.address.clone(),
                msg: e.to_string(),
            })?;
    let name = m.name.as_deref().map(one_line).filter(|n| !n.is_empty());
    Ok(lettre::message::Mailbox::new(name, address))
}

/// A message id without `<>` if it is one (printable ASCII, no spaces).
fn clean_msg_id(s: &str) -> Option<&str> {
    let s = s.trim();
    let s = s.strip_prefix('<').unwrap_or(s);
    let s = s.strip_suffix('>').unwrap_or(s);
    (!s.is_empty()
        && s.bytes()
            .all(|c| (0x21..=0x7e).contains(&c) && c != b'<' && c != b'>'))
    .then_some(s)
}

fn msg_id(s: &str) -> Result<&str, RenderError> {
    clean_msg_id(s).ok_or_else(|| RenderError::MessageId(s.to_string()))
}

/// The References list: the thread's root and the last few, the parent
/// last; invalid ids and duplicates dropped.
fn references<'a>(refs: &'a [String], parent: Option<&'a str>) -> Vec<&'a str> {
    let mut all: Vec<&str> = Vec::with_capacity(refs.len() + 1);
    for r in refs.iter().filter_map(|r| clean_msg_id(r)) {
        if !all.contains(&r) {
            all.push(r);
        }
    }
    if let Some(p) = parent {
        all.retain(|r| *r != p);
        all.push(p);
    }
    if all.len() > MAX_REFERENCES_TAIL + 1 {
        let tail = all.split_off(all.len() - MAX_REFERENCES_TAIL);
        all.truncate(1);
        all.extend(tail);
    }
    all
}

/// Control characters and line breaks → one space; runs of white space
/// collapsed.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// One line, capped, `[<id>] ` first unless the template already put the
/// bracketed id in.
fn tidy_subject(s: &str, item: Option<&str>) -> String {
    let mut line = one_line(s);
    if line.chars().count() > MAX_SUBJECT_CHARS {
        line = line.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        line.push('…');
    }
    match item.map(str::trim).filter(|i| !i.is_empty()) {
        Some(id) => {
            let tag = format!("[{id}]");
            if line
                .to_ascii_lowercase()
                .contains(&tag.to_ascii_lowercase())
            {
                line
            } else if line.is_empty() {
                tag
            } else {
                format!("{tag} {line}")
            }
        }
        None => line,
    }
}

/// Trailing spaces removed, runs of blank lines collapsed to one (templates
/// can then use `{{#if}}` blocks on their own lines freely), one final
/// newline.
fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    let mut blank = 0usize;
    for line in s.lines() {
        let mut line = line.trim_end();
        // The signature separator is "-- " with its space (RFC 3676 §4.3).
        if line == "--" {
            line = "-- ";
        }
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() && blank > 0 {
            out.push('\n');
        }
        blank = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Fills the template context: the `MailCtx` fields at the top level,
/// plus `item`, `kind`, `locale`, `is_task`, `req_state`, `overdue`,
/// `tasks_done`, `tasks_total`, `today`, and on each task `overdue`,
/// `alert` (blocked or overdue) and `bar_color`. `names` is already there.
fn fill(
    obj: &mut Map<String, Value>,
    out: &Outgoing,
    locale: &str,
    today: Option<NaiveDate>,
) -> Result<(), RenderError> {
    if let Value::Object(fields) = serde_json::to_value(&out.ctx)? {
        obj.extend(fields);
    }
    let past = |due: Option<&Value>| match (today, due.and_then(Value::as_str)) {
        (Some(t), Some(d)) => parse_day(d).is_some_and(|d| d < t),
        _ => false,
    };
    let mut done = 0usize;
    let mut total = 0usize;
    if let Some(tasks) = obj.get_mut("tasks").and_then(Value::as_array_mut) {
        for t in tasks.iter_mut().filter_map(Value::as_object_mut) {
            match t.get("state").and_then(Value::as_str) {
                Some("done") => {
                    done += 1;
                    total += 1;
                }
                Some("declined") => {}
                _ => total += 1,
            }
            task_flags(t, &past);
        }
    }
    if let Some(t) = obj.get_mut("task").and_then(Value::as_object_mut) {
        task_flags(t, &past);
    }
    if let Some(sections) = obj
        .get_mut("digest")
        .and_then(|d| d.get_mut("sections"))
        .and_then(Value::as_array_mut)
    {
        for sec in sections.iter_mut().filter_map(Value::as_object_mut) {
            let key = sec.get("key").cloned().unwrap_or(Value::Null);
            let rows = sec.get_mut("rows").and_then(Value::as_array_mut);
            for r in rows.into_iter().flatten().filter_map(Value::as_object_mut) {
                row_flags(r, &key);
            }
        }
    }
    if let Some(p) = obj
        .get_mut("progress")
        .filter(|p| p.as_u64().is_some_and(|p| p > 100))
    {
        *p = Value::from(100);
    }
    let req_state = match out.ctx.req_state.as_str() {
        "" if !out.ctx.id.contains('.') => out.ctx.state.as_str(),
        s => s,
    };
    let req_open = !matches!(req_state, "delivered" | "closed" | "cancelled" | "rejected");
    let overdue = req_open && past(obj.get("due"));
    let id = if out.ctx.id.is_empty() {
        out.item.clone().unwrap_or_default()
    } else {
        out.ctx.id.clone()
    };
    let item = out.item.clone().unwrap_or_else(|| out.ctx.id.clone());
    obj.insert("req_state".into(), Value::String(req_state.to_string()));
    obj.insert("is_task".into(), Value::Bool(id.contains('.')));
    obj.insert("id".into(), Value::String(id));
    obj.insert("item".into(), Value::String(item));
    obj.insert("overdue".into(), Value::Bool(overdue));
    obj.insert("tasks_done".into(), Value::from(done));
    obj.insert("tasks_total".into(), Value::from(total));
    obj.insert("kind".into(), Value::String(out.kind.name().into()));
    obj.insert("locale".into(), Value::String(locale.into()));
    obj.insert(
        "today".into(),
        today.map_or(Value::Null, |t| Value::String(t.to_string())),
    );
    Ok(())
}

/// Per task: `overdue` (open and past due), `alert` (blocked or overdue:
/// shown in red) and `bar_color`, so the html needs no nested conditions.
fn task_flags(t: &mut Map<String, Value>, past: &dyn Fn(Option<&Value>) -> bool) {
    let state = t.get("state").and_then(Value::as_str).unwrap_or("");
    let finished = matches!(state, "done" | "declined");
    let overdue = !finished && past(t.get("due"));
    let blocked = t.get("blocked").and_then(Value::as_bool).unwrap_or(false);
    let alert = overdue || blocked;
    let color = if alert {
        "#dc2626"
    } else if state == "done" {
        "#16a34a"
    } else {
        "#2563eb"
    };
    t.insert("overdue".into(), Value::Bool(overdue));
    t.insert("alert".into(), Value::Bool(alert));
    t.insert("bar_color".into(), Value::String(color.into()));
    clamp_progress(t);
}

/// Per digest row: its section's key (`section`), `alert` (overdue or
/// blocked, as the core decided: shown in red), `has_bar` (a progress is
/// known) and `bar_color`.
fn row_flags(r: &mut Map<String, Value>, section: &Value) {
    let flag = |k: &str| r.get(k).and_then(Value::as_bool).unwrap_or(false);
    let alert = flag("overdue") || flag("blocked");
    let has_bar = r.get("progress").is_some_and(|p| p.is_u64());
    let color = if alert {
        "#dc2626"
    } else if r.get("progress").and_then(Value::as_u64) == Some(100) {
        "#16a34a"
    } else {
        "#2563eb"
    };
    r.insert("section".into(), section.clone());
    r.insert("alert".into(), Value::Bool(alert));
    r.insert("has_bar".into(), Value::Bool(has_bar));
    r.insert("bar_color".into(), Value::String(color.into()));
    clamp_progress(r);
}

fn clamp_progress(t: &mut Map<String, Value>) {
    if let Some(p) = t
        .get_mut("progress")
        .filter(|p| p.as_u64().is_some_and(|p| p > 100))
    {
        *p = Value::from(100);
    }
}

/// `2026-12-15` (the display form the core uses), also `2026/12/15`.
fn parse_day(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(head, "%Y/%m/%d"))
        .ok()
}

// ---------------------------------------------------------------- loading

/// One template file's sections.
#[derive(Debug, Default)]
struct Sections {
    subject: Option<String>,
    text: Option<String>,
    html: Option<String>,
}

/// Splits a template file at its marker lines. Text before the first
/// marker is a comment. CRLF files (edited on Windows) are accepted.
fn split_sections(src: &str, file: &str) -> Result<Sections, RenderError> {
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

fn read_override(path: &Path) -> Result<Option<String>, RenderError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RenderError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse_names(src: &str, file: &str) -> Result<Value, RenderError> {
    let t: toml::Table = toml::from_str(src).map_err(|e| RenderError::Names {
        file: file.to_string(),
        source: Box::new(e),
    })?;
    Ok(serde_json::to_value(t)?)
}

/// `over` merged into `base`, tables key by key.
fn merge(base: &mut Value, over: Value) {
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

fn load_locale(
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
        paths.sort();
        for path in paths {
            let Some(file) = path.file_name().and_then(|n| n.to_str()).map(String::from) else {
                continue;
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

    let mut plain = Handlebars::new();
    plain.register_escape_fn(handlebars::no_escape);
    let mut html = Handlebars::new();
    for reg in [&mut plain, &mut html] {
        reg.set_strict_mode(false);
        // Partials are called at the start of a line; indenting them would
        // only shift html and text around.
        reg.set_prevent_indent(true);
        register_helpers(reg);
    }
    let compile_err = |label: &str| {
        let label = label.to_string();
        move |e: TemplateError| RenderError::Template {
            file: label.clone(),
            source: Box::new(e),
        }
    };
    let mut split = Vec::with_capacity(files.len());
    let mut text_partials = HashMap::new();
    let mut html_partials = HashMap::new();
    for (file, (src, label)) in &files {
        let stem = file.trim_end_matches(".hbs");
        let sec = split_sections(src, label)?;
        if stem.starts_with('_') {
            let text = sec.text.unwrap_or_default();
            let body = sec.html.unwrap_or_default();
            // Registered too, for overrides that call a partial in a way
            // `inline_partials` leaves alone (with a context or hash).
            plain
                .register_partial(stem, text.as_str())
                .map_err(compile_err(label))?;
            html.register_partial(stem, body.as_str())
                .map_err(compile_err(label))?;
            text_partials.insert(stem.to_string(), text);
            html_partials.insert(stem.to_string(), body);
        } else {
            split.push((stem, label, sec));
        }
    }
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
        let body = sec.html.ok_or_else(|| missing("html"))?;
        plain
            .register_template_string(
                &format!("{stem}.subject"),
                inline_partials(&subject, &text_partials, 0).map_err(inline_err)?,
            )
            .map_err(compile_err(label))?;
        plain
            .register_template_string(
                &format!("{stem}.text"),
                inline_partials(&text, &text_partials, 0).map_err(inline_err)?,
            )
            .map_err(compile_err(label))?;
        html.register_template_string(
            &format!("{stem}.html"),
            inline_partials(&body, &html_partials, 0).map_err(inline_err)?,
        )
        .map_err(compile_err(label))?;
    }
    for kind in Kind::ALL {
        if !plain.has_template(&format!("{}.subject", kind.name())) {
            return Err(RenderError::MissingKind {
                locale: locale.to_string(),
                kind: kind.name(),
            });
        }
    }
    let scratch = Mutex::new(Some(names_only(&names)));
    Ok(Locale {
        plain,
        html,
        names,
        scratch,
    })
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
fn inline_partials(
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

/// The helpers every template may use (besides handlebars' own `if`,
/// `each`, `with`, `lookup`, `eq`, `ne`, `gt`, `lt`, `and`, `or`, `not`,
/// `len`):
///
/// - `{{t "reason" reason}}`: `names.reason.<code>`, or the code itself
///   when untranslated (so a new code shows up rather than vanishing).
/// - `{{state_name code}}`: a requirement state, else a task state.
/// - `{{task_state_name code}}`: a task state, else a requirement state.
/// - `{{tval key value}}`: a transcript value translated by its key
///   (`action`, `state`, `priority`, `result`), verbatim otherwise.
/// - `{{tag "confirm"}}`: the subject tag to type for an action
///   (`names.tag`), e.g. `【确认】`.
/// - `{{mailto "confirm"}}`: a `mailto:` URL to the daemon with the tag,
///   `[id]` and title as subject (html buttons).
/// - `{{join list ", "}}`: a list of strings joined.
/// - `{{bar progress}}`: a text progress bar `[######----]`.
/// - `{{name_of actor}}`: the name part of `张三 <zhangsan@corp.example>`
///   (the address when there is no name), for prose.
/// - `{{{html_lines note}}}`: multi-line text for html: escaped here, line
///   breaks as `<br>`. Triple braces, or it is escaped twice (visibly, but
///   safely).
fn register_helpers(reg: &mut Handlebars<'static>) {
    reg.register_helper("t", Box::new(Simple(helper_t)));
    reg.register_helper("state_name", Box::new(Simple(helper_state_name)));
    reg.register_helper("task_state_name", Box::new(Simple(helper_task_state_name)));
    reg.register_helper("tval", Box::new(Simple(helper_tval)));
    reg.register_helper("tag", Box::new(Simple(helper_tag)));
    reg.register_helper("mailto", Box::new(Simple(helper_mailto)));
    reg.register_helper("join", Box::new(Simple(helper_join)));
    reg.register_helper("bar", Box::new(Simple(helper_bar)));
    reg.register_helper("html_lines", Box::new(Simple(helper_html_lines)));
    reg.register_helper("name_of", Box::new(Simple(helper_name_of)));
}

/// A helper that computes a string from its parameters and the root
/// context. Returned as a value, so the registry escapes it (html) or not
/// (text) like any `{{ }}`, and it composes as a subexpression.
struct Simple(fn(&Helper<'_>, &Context) -> String);

impl HelperDef for Simple {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, handlebars::RenderError> {
        Ok(ScopedJson::Derived(Value::String((self.0)(h, ctx))))
    }
}

fn param_str<'a>(h: &'a Helper<'_>, i: usize) -> &'a str {
    h.param(i).and_then(|p| p.value().as_str()).unwrap_or("")
}

/// `names.<group>.<code>` from the root context.
fn lookup_name<'a>(ctx: &'a Context, group: &str, code: &str) -> Option<&'a str> {
    ctx.data().get("names")?.get(group)?.get(code)?.as_str()
}

fn name_or_code(ctx: &Context, groups: &[&str], code: &str) -> String {
    groups
        .iter()
        .find_map(|g| lookup_name(ctx, g, code))
        .unwrap_or(code)
        .to_string()
}

fn helper_t(h: &Helper<'_>, ctx: &Context) -> String {
    name_or_code(ctx, &[param_str(h, 0)], param_str(h, 1))
}

fn helper_state_name(h: &Helper<'_>, ctx: &Context) -> String {
    name_or_code(ctx, &["state", "task_state"], param_str(h, 0))
}

fn helper_task_state_name(h: &Helper<'_>, ctx: &Context) -> String {
    name_or_code(ctx, &["task_state", "state"], param_str(h, 0))
}

fn helper_tval(h: &Helper<'_>, ctx: &Context) -> String {
    let groups: &[&str] = match param_str(h, 0) {
        "action" => &["action"],
        "state" => &["state", "task_state"],
        "priority" => &["priority"],
        // A result is a result word, or the action done, or the state reached.
        "result" => &["result", "action", "state", "task_state"],
        _ => &[],
    };
    name_or_code(ctx, groups, param_str(h, 1))
}

fn tag_for(ctx: &Context, action: &str) -> String {
    lookup_name(ctx, "tag", action)
        .map(String::from)
        .unwrap_or_else(|| format!("[{}]", action.to_ascii_uppercase()))
}

fn helper_tag(h: &Helper<'_>, ctx: &Context) -> String {
    tag_for(ctx, param_str(h, 0))
}

/// RFC 6068: everything but unreserved characters percent-encoded.
fn pct_encode(s: &str, keep: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn helper_mailto(h: &Helper<'_>, ctx: &Context) -> String {
    let root = ctx.data();
    let get = |k: &str| root.get(k).and_then(Value::as_str).unwrap_or("");
    let action = param_str(h, 0);
    let mut subject = String::new();
    if !action.is_empty() && action != "comment" {
        subject.push_str(&tag_for(ctx, action));
        subject.push(' ');
    }
    let id = match get("item") {
        "" => get("id"),
        i => i,
    };
    if !id.is_empty() {
        subject.push('[');
        subject.push_str(id);
        subject.push_str("] ");
    }
    subject.push_str(&one_line(get("title")));
    format!(
        "mailto:{}?subject={}",
        pct_encode(get("workflow_address"), b"@+"),
        pct_encode(subject.trim_end(), b"")
    )
}

fn helper_join(h: &Helper<'_>, _: &Context) -> String {
    let sep = h.param(1).and_then(|p| p.value().as_str()).unwrap_or(", ");
    match h.param(0).map(|p| p.value()) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(sep),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn helper_bar(h: &Helper<'_>, _: &Context) -> String {
    let pct = h
        .param(0)
        .and_then(|p| p.value().as_u64())
        .unwrap_or(0)
        .min(100) as usize;
    let full = (pct + 5) / 10;
    format!("[{}{}]", "#".repeat(full), "-".repeat(10 - full))
}

fn helper_html_lines(h: &Helper<'_>, _: &Context) -> String {
    let text = param_str(h, 0);
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push_str("<br>\n");
        }
        out.push_str(&handlebars::html_escape(line));
    }
    out
}

fn helper_name_of(h: &Helper<'_>, _: &Context) -> String {
    display_name(param_str(h, 0)).to_string()
}

/// `张三 <zhangsan@corp.example>` → `张三`; `<a@x>` → `a@x`; else as is.
fn display_name(s: &str) -> &str {
    let s = s.trim();
    match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(lt), Some(inner)) => {
            let name = s[..lt].trim().trim_matches('"').trim();
            if name.is_empty() {
                inner[lt + 1..].trim()
            } else {
                name
            }
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
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
}
