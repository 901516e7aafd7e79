//! `Outgoing` → RFC 5322 bytes through the handlebars templates.
//!
//! Templates live in `templates/<locale>/` (see `templates/README.md`): one
//! file per [`Kind`] holding three sections (subject, text, html), shared
//! partials (`_*.hbs`, text and html sections) and `names.toml`, the
//! translations of the codes the core puts in a [`MailCtx`](crate::model::MailCtx).
//! All of them are built into the binary, split and compiled by build.rs
//! (kept in the form of `frozen`), so it runs with no files around; any
//! file can be overridden by one of the same relative path in a directory
//! given to [`Renderer::new`].
//!
//! Each locale gets two registries, because escaping is a registry setting:
//! subject and text render with no escaping (`<` stays `<`; they are not
//! HTML), html escapes every `{{ }}`. A locale is set up when it is first
//! used (a site's files read and split), and each template is put into its
//! registry the first time it renders: a built-in one rebuilt from its
//! stored compiled form, a site's own compiled (partials called without
//! arguments put in once and inlined into it, see `inline_partials`); or
//! all at once by [`Renderer::compile_all`] (`check`, the daemon's start
//! and reload).
//! Rendering a mail serializes its `MailCtx` into a reused context that
//! already holds `names`, and runs three compiled templates against it.
//!
//! `load` reads the templates of each locale, `fill` prepares
//! a mail's context, `helpers` are the templates' handlebars helpers,
//! `headers` builds the message around the rendered parts.

mod fill;
mod frozen;
mod headers;
mod helpers;
mod load;
mod sections;
#[cfg(test)]
mod tests;

use fill::*;
use headers::*;
use helpers::*;
use load::*;
use sections::Sections;

use crate::model::Mailbox;
use crate::model::{Kind, Outgoing};
use chrono::{DateTime, FixedOffset, NaiveDate};
use handlebars::template::{DecoratorTemplate, Parameter, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, ScopedJson, Template, TemplateError,
};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

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

/// The group-robot messages every locale has (`templates/<locale>/im/<name>.hbs`:
/// a title and a markdown text).
pub const IM_KINDS: [&str; 6] = [
    "im/test",
    "im/dept_new",
    "im/rejected",
    "im/blocked",
    "im/escalation",
    "im/digest",
];

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
    /// A locale's templates could not be read (the first use's error).
    #[error("{0}")]
    Load(String),
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
    /// Files to attach, read by the shell from where they are kept.
    pub files: Vec<OutFile>,
}

/// A file attached to an outgoing mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

struct Locale {
    /// Subject and text: no escaping.
    plain: RwLock<Registry>,
    /// Html: every `{{ }}` escaped.
    html: RwLock<Registry>,
    /// Every template's source by name (`ack.subject`, `im/test.text`),
    /// compiled into its registry when first rendered.
    sources: BTreeMap<String, Source>,
    /// The partials (`_layout`), by name.
    partials: BTreeMap<String, Partial>,
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

impl Locale {
    fn registry(&self, html: bool) -> &RwLock<Registry> {
        if html {
            &self.html
        } else {
            &self.plain
        }
    }

    /// Compiles template `name` into its registry unless it is there (with
    /// the partials first, when its source still calls one).
    fn compile(&self, name: &str) -> Result<(), RenderError> {
        let Some(source) = self.sources.get(name) else {
            return Ok(()); // rendering it says it is missing
        };
        let lock = self.registry(source.html);
        if lock
            .read()
            .map(|r| r.hb.has_template(name))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let mut reg = lock.write().unwrap_or_else(|e| e.into_inner());
        if reg.hb.has_template(name) {
            return Ok(());
        }
        let (src, label) = (&source.src, &source.label);
        compile_into(&mut reg.hb, name, src, label, source.frozen)?;
        let Some(mut tpl) = reg
            .hb
            .get_template(name)
            .filter(|t| calls_partial(t))
            .cloned()
        else {
            return Ok(());
        };
        let inlined = inline_partials(&self.partials, &mut reg, &mut tpl, source.html, 0, None)
            .and_then(|left| match left && !reg.partials {
                true => self.register_partials(&mut reg, source.html),
                false => Ok(()),
            });
        match inlined {
            Ok(()) => reg.hb.register_template(name, tpl),
            // not kept half-done: the next use says the same
            Err(e) => {
                reg.hb.unregister_template(name);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Every partial compiled into `reg`, for the calls handlebars makes.
    fn register_partials(&self, reg: &mut Registry, html: bool) -> Result<(), RenderError> {
        for name in self.partials.keys() {
            partial_template(&self.partials, reg, name, html)?;
        }
        reg.partials = true;
        Ok(())
    }

    /// Every template and partial compiled: the first error, if any.
    fn compile_all(&self) -> Result<(), RenderError> {
        for html in [false, true] {
            let mut reg = self
                .registry(html)
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if !reg.partials {
                self.register_partials(&mut reg, html)?;
            }
        }
        for name in self.sources.keys() {
            self.compile(name)?;
        }
        Ok(())
    }

    /// Renders template `name` (compiled first if need be) against `ctx`.
    fn render(&self, name: &str, ctx: &Context, locale: &str) -> Result<String, RenderError> {
        self.compile(name)?;
        let html = self.sources.get(name).is_some_and(|s| s.html);
        let reg = self
            .registry(html)
            .read()
            .unwrap_or_else(|e| e.into_inner());
        reg.hb
            .render_with_context(name, ctx)
            .map_err(|e| RenderError::Render {
                locale: locale.to_string(),
                template: name.to_string(),
                source: Box::new(e),
            })
    }
}

/// The templates of every locale, read and compiled as they are needed.
pub struct Renderer {
    locales: BTreeMap<String, LazyLocale>,
    fallback: String,
}

/// A locale's templates, read when first needed.
struct LazyLocale {
    name: String,
    builtin: Option<&'static BuiltinLocale>,
    /// The override directory, `<dir>/<locale>/`, when there is one.
    over: Option<PathBuf>,
    /// The locale, or why it could not be read (the error's text: the
    /// next use says the same).
    loaded: std::sync::OnceLock<Result<Locale, String>>,
}

impl LazyLocale {
    fn get(&self) -> Result<&Locale, RenderError> {
        self.loaded
            .get_or_init(|| {
                load_locale(&self.name, self.builtin, self.over.as_deref())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| RenderError::Load(e.clone()))
    }
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
    /// `_*.hbs` files become partials. A locale's own files are read and
    /// split when it is first used, and each template compiled when first
    /// rendered (a process that renders one mail reads one locale and
    /// compiles three templates, not a few hundred; a built-in one was
    /// compiled when crossdesk was built); a file that cannot be read,
    /// split or compiled is an error then. [`Renderer::compile_all`] reads
    /// and compiles them all.
    pub fn new(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let lazy = |name: &str, builtin, over| LazyLocale {
            name: name.to_string(),
            builtin,
            over,
            loaded: Default::default(),
        };
        let mut locales = BTreeMap::new();
        for b in BUILTIN {
            let over = dir.map(|d| d.join(b.locale)).filter(|d| d.is_dir());
            locales.insert(b.locale.to_string(), lazy(b.locale, Some(b), over));
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
                    locales.insert(name.to_string(), lazy(name, None, Some(path.clone())));
                }
            }
        }
        Ok(Renderer {
            locales,
            fallback: DEFAULT_FALLBACK.to_string(),
        })
    }

    /// The templates of locale `name` (as resolved), read now if need be.
    fn locale(&self, name: &str) -> Result<&Locale, RenderError> {
        self.locales
            .get(name)
            .ok_or_else(|| RenderError::UnknownLocale(name.to_string(), self.locales().join(", ")))?
            .get()
    }

    /// [`Renderer::new`], every template compiled: a bad override refused
    /// before it is needed (`check`, the daemon's start and reload).
    pub fn checked(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let r = Renderer::new(dir)?;
        r.compile_all()?;
        Ok(r)
    }

    /// Compiles every template and partial of every locale not compiled
    /// yet: the first that does not compile is the error.
    pub fn compile_all(&self) -> Result<(), RenderError> {
        for loc in self.locales.values() {
            loc.get()?.compile_all()?;
        }
        Ok(())
    }

    /// Compiles the templates of `kind` (`ack`, `im/blocked`) in the locale
    /// `locale` renders in: a template that does not compile is an error
    /// here, before anything is rendered with it.
    pub fn compile_kind(&self, kind: &str, locale: &str) -> Result<(), RenderError> {
        let loc = self.locale(self.resolve_locale(locale))?;
        for part in ["subject", "text", "html"] {
            loc.compile(&format!("{kind}.{part}"))?;
        }
        Ok(())
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

    /// Renders a group-robot message (`templates/<locale>/im/<name>.hbs`)
    /// from a mail context, in `locale`.
    pub fn render_im(
        &self,
        name: &str,
        locale: &str,
        ctx: &crate::model::MailCtx,
    ) -> Result<crate::im::ImMessage, RenderError> {
        let locale_name = self.resolve_locale(locale);
        let loc = self.locale(locale_name)?;
        let out = Outgoing {
            kind: crate::model::Kind::Notice,
            to: vec![],
            cc: vec![],
            item: (!ctx.id.is_empty()).then(|| ctx.id.clone()),
            locale: locale_name.to_string(),
            ctx: ctx.clone(),
            attachments: vec![],
        };
        let mut hb = names_only(&loc.names);
        if let Some(obj) = hb.data_mut().as_object_mut() {
            fill(obj, &out, locale_name, None)?;
        }
        let run = |part: &str| loc.render(&format!("im/{name}.{part}"), &hb, locale_name);
        Ok(crate::im::ImMessage {
            title: tidy_subject(&run("subject")?, None),
            text: tidy_text(&run("text")?),
            mobiles: vec![],
        })
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
        let loc = self.locale(locale_name)?;
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
        let run = |part: &str| loc.render(&format!("{kind}.{part}"), ctx, locale_name);
        let subject = tidy_subject(&run("subject")?, out.item.as_deref());
        let text = tidy_text(&run("text")?);
        let html = run("html")?;
        Ok(Rendered {
            locale: locale_name.to_string(),
            subject,
            text,
            html,
        })
    }
}
