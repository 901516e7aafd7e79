//! How requirements are shown to an admin: `list` and `show`, as text or JSON.

use crate::directory::Directory;
use crate::model::{human_size, Event, FileRef, ItemId, Requirement};
use serde_json::{json, Value};
use std::fmt::Write;

/// A file as recorded: the mail it came with, the item that mail was on.
#[derive(Debug, Clone)]
pub struct ItemFile {
    pub message_id: String,
    pub item: ItemId,
    pub file: FileRef,
}

/// One file as `show --json` and `files --json` print it.
pub fn file_json(f: &ItemFile) -> Value {
    json!({
        "name": f.file.name,
        "type": f.file.content_type,
        "size": f.file.size,
        "sha256": f.file.sha256,
        "kept": f.file.is_kept(),
        "note": f.file.note,
        "item": f.item.to_string(),
        "message_id": f.message_id,
    })
}

/// The `show --json` / `list --json` object; with `events`, the history
/// and the files (on the requirement, each task and each event).
pub fn req_json(
    dir: &Directory,
    r: &Requirement,
    events: Option<(&[Event], &[ItemFile])>,
) -> Value {
    let mut v = json!({
        "id": r.id.to_string(),
        "title": r.title,
        "state": r.state.as_str(),
        "requester": r.requester.address,
        "requester_name": r.requester.name,
        "requester_dept": r.requester_dept,
        "departments": r.depts.iter().map(|d| json!({
            "id": d.id,
            "name": dir.dept(&d.id).map(|x| x.name.as_str()).unwrap_or(&d.id),
            "confirmed": d.confirmed,
        })).collect::<Vec<_>>(),
        "due": r.due.map(|d| d.to_string()),
        "quality": r.quality,
        "priority": r.priority.as_str(),
        "description": r.description,
        "created_at": r.created_at.to_rfc3339(),
        "updated_at": r.updated_at.to_rfc3339(),
        "tasks": r.tasks.iter().map(|t| json!({
            "id": t.id.to_string(),
            "owner": t.owner.address,
            "owner_name": t.owner.name,
            "assigner": t.assigner.address,
            "dept": t.dept,
            "title": t.title,
            "state": t.state.as_str(),
            "progress": t.progress,
            "due": t.due.map(|d| d.to_string()),
            "quality": t.quality,
            "blocked": t.blocked,
            "last_report": t.last_report.map(|d| d.to_rfc3339()),
        })).collect::<Vec<_>>(),
        "milestones": r.milestones.iter().map(|m| json!({
            "date": m.date.to_string(), "title": m.title, "owner": m.owner,
        })).collect::<Vec<_>>(),
    });
    if let Some((ev, files)) = events {
        v["events"] = ev
            .iter()
            .map(|e| {
                json!({
                    "item": e.item.to_string(),
                    "kind": e.kind,
                    "actor": e.actor,
                    "message_id": e.message_id,
                    "at": e.at.to_rfc3339(),
                    "detail": e.detail,
                    "files": files.iter().filter(|f| f.message_id == e.message_id)
                        .map(file_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        v["files"] = files.iter().map(file_json).collect();
        if let Some(tasks) = v["tasks"].as_array_mut() {
            for (t, tv) in r.tasks.iter().zip(tasks.iter_mut()) {
                let item = ItemId::Task(t.id);
                tv["files"] = files
                    .iter()
                    .filter(|f| f.item == item)
                    .map(file_json)
                    .collect();
            }
        }
    }
    v
}

/// One line per requirement.
pub fn req_table(reqs: &[Requirement]) -> String {
    let mut s = String::new();
    if reqs.is_empty() {
        s.push_str("no requirements\n");
        return s;
    }
    let _ = writeln!(
        s,
        "{:<9} {:<12} {:<10} {:<6} {:<24} TITLE",
        "ID", "STATE", "DUE", "TASKS", "REQUESTER"
    );
    for r in reqs {
        let done = r
            .tasks
            .iter()
            .filter(|t| t.state.as_str() == "done")
            .count();
        let _ = writeln!(
            s,
            "{:<9} {:<12} {:<10} {:<6} {:<24} {}",
            r.id.to_string(),
            r.state.as_str(),
            r.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
            format!("{done}/{}", r.tasks.len()),
            r.requester.address,
            r.title
        );
    }
    s
}

/// The full human view of one requirement.
pub fn req_text(r: &Requirement, events: &[Event], files: &[ItemFile]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}  {}", r.id, r.title);
    let _ = writeln!(s, "  state      {}", r.state.as_str());
    let _ = writeln!(s, "  requester  {}", r.requester);
    let depts: Vec<String> = r
        .depts
        .iter()
        .map(|d| format!("{}{}", d.id, if d.confirmed { " ✓" } else { "" }))
        .collect();
    let _ = writeln!(s, "  depts      {}", depts.join(", "));
    let _ = writeln!(
        s,
        "  due        {}",
        r.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(s, "  priority   {}", r.priority.as_str());
    if let Some(q) = &r.quality {
        let _ = writeln!(s, "  quality    {q}");
    }
    if !r.tasks.is_empty() {
        let _ = writeln!(s, "  tasks:");
        for t in &r.tasks {
            let _ = writeln!(
                s,
                "    {:<9} {:<11} {:>3}%{} {:<28} {}",
                t.id.to_string(),
                t.state.as_str(),
                t.progress,
                if t.blocked { " BLOCKED" } else { "" },
                t.owner.address,
                t.title
            );
        }
    }
    if !r.milestones.is_empty() {
        let _ = writeln!(s, "  plan:");
        for m in &r.milestones {
            let _ = writeln!(
                s,
                "    {}  {}{}",
                m.date,
                m.title,
                m.owner
                    .as_ref()
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default()
            );
        }
    }
    if !files.is_empty() {
        let _ = writeln!(s, "  files:");
        for f in files {
            let state = match (&f.file.sha256, &f.file.note) {
                (Some(sha), _) => format!("sha256:{}", &sha[..sha.len().min(12)]),
                (None, note) => format!("NOT KEPT ({})", note.as_deref().unwrap_or("-")),
            };
            let _ = writeln!(
                s,
                "    {:<9} {:>9}  {:<20}  {}",
                f.item.to_string(),
                human_size(f.file.size),
                state,
                f.file.name
            );
        }
    }
    let _ = writeln!(s, "  history:");
    for e in events {
        let _ = writeln!(
            s,
            "    {}  {:<9} {:<10} {}  {}",
            e.at.format("%Y-%m-%d %H:%M"),
            e.item.to_string(),
            e.kind,
            e.actor,
            e.detail.lines().next().unwrap_or("")
        );
    }
    s
}
