//! `crossdesk list` and `crossdesk show ID`: the requirements, and one
//! requirement or task with its history, as text or JSON.

use super::lookup_store;
use anyhow::{bail, Result};
use crossdesk::config::Config;
use crossdesk::model::{ItemId, ReqState};
use std::process::ExitCode;

pub fn list(
    cfg: Config,
    state: Option<String>,
    dept: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    if let Some(s) = &state {
        if ReqState::parse(s).is_none() {
            bail!("unknown state `{s}`; use one of proposed, clarifying, confirmed, rejected, in_progress, delivered, closed, cancelled");
        }
    }
    let engine = lookup_store(cfg)?;
    let reqs = engine
        .store()
        .list_reqs(state.as_deref(), dept.as_deref())?;
    if json {
        let v: Vec<_> = reqs
            .iter()
            .map(|r| crossdesk::report::req_json(engine.directory(), r, None))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", crossdesk::report::req_table(&reqs));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(cfg: Config, id: &str, json: bool) -> Result<ExitCode> {
    let Some(item) = ItemId::parse(id) else {
        bail!("`{id}` is not an identifier; use REQ-n or REQ-n.m");
    };
    let engine = lookup_store(cfg)?;
    let Some(req) = engine.store().load_req(item.req())? else {
        bail!("{} does not exist", item.req());
    };
    if let ItemId::Task(t) = item {
        if req.task(t).is_none() {
            bail!("{t} does not exist");
        }
    }
    let events = engine.store().events(item.req())?;
    let files = item_files(engine.store(), item.req())?;
    if json {
        let v = crossdesk::report::req_json(engine.directory(), &req, Some((&events, &files)));
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", crossdesk::report::req_text(&req, &events, &files));
    }
    Ok(ExitCode::SUCCESS)
}

/// The files recorded for a requirement, as `report` shows them.
pub fn item_files(
    store: &crossdesk::store::Store,
    req: crossdesk::model::ReqId,
) -> Result<Vec<crossdesk::report::ItemFile>> {
    Ok(store
        .files(req)?
        .into_iter()
        .map(|f| crossdesk::report::ItemFile {
            message_id: f.message_id,
            item: f.item,
            file: f.file,
        })
        .collect())
}
