//! A mail's context made ready for the templates: flags the templates
//! test (past due, blocked), progress clamped, days parsed.

use super::*;

/// Fills the template context: the `MailCtx` fields at the top level,
/// plus `item`, `kind`, `locale`, `is_task`, `req_state`, `overdue`,
/// `tasks_done`, `tasks_total`, `today`, and on each task `overdue`,
/// `alert` (blocked or overdue) and `bar_color`. `names` is already there.
pub(super) fn fill(
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
pub(super) fn task_flags(t: &mut Map<String, Value>, past: &dyn Fn(Option<&Value>) -> bool) {
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
pub(super) fn row_flags(r: &mut Map<String, Value>, section: &Value) {
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

pub(super) fn clamp_progress(t: &mut Map<String, Value>) {
    if let Some(p) = t
        .get_mut("progress")
        .filter(|p| p.as_u64().is_some_and(|p| p > 100))
    {
        *p = Value::from(100);
    }
}

/// `2026-12-15` (the display form the core uses), also `2026/12/15`.
pub(super) fn parse_day(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(head, "%Y/%m/%d"))
        .ok()
}

// ---------------------------------------------------------------- loading
