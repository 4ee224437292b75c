//! The data directory holds every app secret and the password and PIN hashes: only its owner
//! may read it (docs/security.md, "Protecting the data directory"). The directory is created
//! 0700 and every file in it is 0600, whatever the umask; a directory or file that others can
//! read is tightened at start, with a warning naming it, and the server refuses to start only
//! when that is not possible.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::StartError;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates the data directory (0700) or tightens an existing one and the files in it.
pub fn secure_data_dir(dir: &Path) -> Result<(), StartError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| StartError(format!("cannot create the data directory {}: {e}", dir.display())))?;
    }
    tighten(dir, DIR_MODE)?;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| StartError(format!("cannot read the data directory {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            tighten(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

/// Removes the group's and others' access to `path` (never following a symbolic link).
fn tighten(path: &Path, mode: u32) -> Result<(), StartError> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| StartError(format!("cannot read {}: {e}", path.display())))?;
    let current = meta.permissions().mode() & 0o7777;
    if current & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        StartError(format!(
            "{} can be read by other users (mode {current:o}) and cannot be made private ({e}); \
             run wabagate as its owner, or chmod {mode:o} it",
            path.display()
        ))
    })?;
    tracing::warn!(
        path = %path.display(),
        was = %format!("{current:o}"),
        now = %format!("{mode:o}"),
        "tightened the permissions of {}: other users could read it",
        path.display()
    );
    Ok(())
}
