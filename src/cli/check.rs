//! `crossdesk check [--connect]`: is the configuration usable, can the
//! store be kept where it says, and (with `--connect`) do the servers
//! answer.

use super::EX_CONFIG;
use anyhow::Result;
use crossdesk::config::Config;
use std::path::Path;
use std::process::ExitCode;

pub fn run(cfg: &Config, file: &Path, connect: bool) -> Result<ExitCode> {
    let store = cfg.store_path();
    if let Err(why) = crossdesk::store::Store::check_writable(&store) {
        eprintln!(
            "crossdesk: {}: key `store.path`: the store {} cannot be kept there: {why}",
            file.display(),
            store.display()
        );
        return Ok(ExitCode::from(EX_CONFIG));
    }
    // Every template compiled, the overrides of `[templates] dir` with
    // the built-in ones.
    let tdir = cfg.templates.dir.as_deref().map(|d| cfg.resolve(d));
    if let Err(e) = crossdesk::render::Renderer::checked(tdir.as_deref()) {
        eprintln!("crossdesk: {}: templates: {e}", file.display());
        return Ok(ExitCode::from(EX_CONFIG));
    }
    println!(
        "{}: ok — {} departments, {} people, source {}, transport {}",
        file.display(),
        cfg.departments.len(),
        cfg.departments
            .iter()
            .map(|d| d.leads.len() + d.members.len())
            .sum::<usize>(),
        cfg.mail.source,
        cfg.mail.transport
    );
    // Each robot's webhook URL and secret can be read (their values are
    // not printed).
    for r in &cfg.im {
        match cfg.robot(&r.name) {
            Ok(robot) => println!(
                "im {} ({}): url read{}{}",
                robot.name,
                robot.platform,
                if robot.secret.is_some() {
                    ", secret read"
                } else {
                    ""
                },
                robot
                    .keyword
                    .as_deref()
                    .map(|k| format!(", keyword \"{k}\""))
                    .unwrap_or_default()
            ),
            Err(e) => {
                eprintln!("crossdesk: {e}");
                return Ok(ExitCode::from(EX_CONFIG));
            }
        }
    }
    if connect {
        match crossdesk::daemon::check_connect(cfg) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(EX_CONFIG));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
