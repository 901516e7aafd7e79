//! `crossdesk im test NAME`: one test message to a group robot, and what
//! the platform answered.

use super::EX_CONFIG;
use anyhow::Result;
use crossdesk::config::Config;
use crossdesk::im::answer::Delivery;
use std::process::ExitCode;

pub fn test(cfg: &Config, name: &str) -> Result<ExitCode> {
    let (robot, posted) = match crossdesk::send::im::test_message(cfg, name) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("crossdesk: {e}");
            return Ok(ExitCode::from(EX_CONFIG));
        }
    };
    let answer = match posted.status {
        Some(s) => format!("HTTP {s} {}", posted.body.trim()),
        None => "no answer".to_string(),
    };
    println!("{} ({}): {answer}", robot.name, robot.platform);
    match posted.delivery {
        Delivery::Sent => {
            println!("sent");
            Ok(ExitCode::SUCCESS)
        }
        Delivery::Retry { why, .. } => {
            println!("not sent, worth trying again later: {why}");
            Ok(ExitCode::FAILURE)
        }
        Delivery::Failed(why) => {
            println!("refused: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}
