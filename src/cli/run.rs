//! `crossdesk run [--once]`: the daemon. Exit 75 (EX_TEMPFAIL) when
//! another `crossdesk run` already uses the store.

use super::EX_TEMPFAIL;
use anyhow::Result;
use crossdesk::config::Config;
use std::process::ExitCode;

pub fn run(cfg: Config, once: bool, backfill: bool, poll: u64) -> Result<ExitCode> {
    let r = crossdesk::daemon::run_blocking(
        cfg,
        crossdesk::daemon::RunOpts {
            once,
            backfill,
            poll: std::time::Duration::from_secs(poll),
        },
    );
    match r {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e)
            if matches!(
                e.downcast_ref::<crossdesk::store::LockError>(),
                Some(crossdesk::store::LockError::Busy(_))
            ) =>
        {
            eprintln!("crossdesk: {e}");
            Ok(ExitCode::from(EX_TEMPFAIL))
        }
        Err(e) => Err(e),
    }
}
