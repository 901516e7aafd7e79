//! Maildir on disk, as the Maildir source and the Maildir transport both
//! lay it out.

use std::path::{Path, PathBuf};

/// Creates `dir/{new,cur,tmp}` if missing; on failure, the directory that
/// could not be made and why.
pub fn ensure_maildir(dir: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    for sub in ["new", "cur", "tmp"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| (p, e))?;
    }
    Ok(())
}
