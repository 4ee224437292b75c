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

/// The files wabagate keeps in its data directory: the only ones it changes the mode of.
fn is_own_file(name: &str) -> bool {
    let db = crate::DATABASE_FILE;
    name == crate::BOOTSTRAP_FILE
        || name == db
        || name.strip_prefix(db).is_some_and(|suffix| matches!(suffix, "-wal" | "-shm" | "-journal"))
}

/// Creates the data directory (0700) or tightens an existing one and wabagate's files in it. A
/// directory that others can read and that holds anything else (`--data .`, a home directory,
/// `/tmp`) is not wabagate's to change: the server refuses to start rather than change the mode
/// of a directory others may rely on, and says what to do.
pub fn secure_data_dir(dir: &Path) -> Result<(), StartError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| StartError(format!("cannot create the data directory {}: {e}", dir.display())))?;
    }
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(|e| StartError(format!("cannot read the data directory {}: {e}", dir.display())))?
        .flatten()
        .collect();
    let foreign: Vec<String> = entries
        .iter()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !is_own_file(name))
        .collect();
    if !foreign.is_empty() && mode_of(dir)? & 0o077 != 0 {
        let shown: Vec<&str> = foreign.iter().take(3).map(String::as_str).collect();
        return Err(StartError(format!(
            "{} can be read by other users (mode {:o}) and cannot be made private: it holds files that are \
             not wabagate's ({}{}), so wabagate does not change its mode; give --data a directory of its own, \
             or chmod {DIR_MODE:o} it yourself",
            dir.display(),
            mode_of(dir)?,
            shown.join(", "),
            if foreign.len() > shown.len() { ", …" } else { "" },
        )));
    }
    tighten(dir, DIR_MODE)?;
    for entry in entries {
        if is_own_file(&entry.file_name().to_string_lossy()) && entry.file_type().is_ok_and(|t| t.is_file()) {
            tighten(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

fn mode_of(path: &Path) -> Result<u32, StartError> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| StartError(format!("cannot read {}: {e}", path.display())))?;
    Ok(meta.permissions().mode() & 0o7777)
}

/// Removes the group's and others' access to `path` (never following a symbolic link).
fn tighten(path: &Path, mode: u32) -> Result<(), StartError> {
    let current = mode_of(path)?;
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
