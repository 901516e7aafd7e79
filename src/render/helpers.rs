//! The handlebars helpers the templates call: translations from
//! `names.toml` (`t`, `state_name`, `tag`), `mailto` links, joins, progress
//! bars, display names.

use super::*;

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
pub(super) fn register_helpers(reg: &mut Handlebars<'static>) {
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
pub(super) struct Simple(fn(&Helper<'_>, &Context) -> String);

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

pub(super) fn param_str<'a>(h: &'a Helper<'_>, i: usize) -> &'a str {
    h.param(i).and_then(|p| p.value().as_str()).unwrap_or("")
}

/// `names.<group>.<code>` from the root context.
pub(super) fn lookup_name<'a>(ctx: &'a Context, group: &str, code: &str) -> Option<&'a str> {
    ctx.data().get("names")?.get(group)?.get(code)?.as_str()
}

pub(super) fn name_or_code(ctx: &Context, groups: &[&str], code: &str) -> String {
    groups
        .iter()
        .find_map(|g| lookup_name(ctx, g, code))
        .unwrap_or(code)
        .to_string()
}

pub(super) fn helper_t(h: &Helper<'_>, ctx: &Context) -> String {
    name_or_code(ctx, &[param_str(h, 0)], param_str(h, 1))
}

pub(super) fn helper_state_name(h: &Helper<'_>, ctx: &Context) -> String {
    name_or_code(ctx, &["state", "task_state"], param_str(h, 0))
}

pub(super) fn helper_task_state_name(h: &Helper<'_>, ctx: &Context) -> String {
    name_or_code(ctx, &["task_state", "state"], param_str(h, 0))
}

pub(super) fn helper_tval(h: &Helper<'_>, ctx: &Context) -> String {
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

pub(super) fn tag_for(ctx: &Context, action: &str) -> String {
    lookup_name(ctx, "tag", action)
        .map(String::from)
        .unwrap_or_else(|| format!("[{}]", action.to_ascii_uppercase()))
}

pub(super) fn helper_tag(h: &Helper<'_>, ctx: &Context) -> String {
    tag_for(ctx, param_str(h, 0))
}

/// RFC 6068: everything but unreserved characters percent-encoded.
pub(super) fn pct_encode(s: &str, keep: &[u8]) -> String {
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

pub(super) fn helper_mailto(h: &Helper<'_>, ctx: &Context) -> String {
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

pub(super) fn helper_join(h: &Helper<'_>, _: &Context) -> String {
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

pub(super) fn helper_bar(h: &Helper<'_>, _: &Context) -> String {
    let pct = h
        .param(0)
        .and_then(|p| p.value().as_u64())
        .unwrap_or(0)
        .min(100) as usize;
    let full = (pct + 5) / 10;
    format!("[{}{}]", "#".repeat(full), "-".repeat(10 - full))
}

pub(super) fn helper_html_lines(h: &Helper<'_>, _: &Context) -> String {
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

pub(super) fn helper_name_of(h: &Helper<'_>, _: &Context) -> String {
    display_name(param_str(h, 0)).to_string()
}

/// `张三 <zhangsan@corp.example>` → `张三`; `<a@x>` → `a@x`; else as is.
pub(super) fn display_name(s: &str) -> &str {
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
