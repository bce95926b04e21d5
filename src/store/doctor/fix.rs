//! The safe fixes: a mode sendmail accepts, a rehash, a rebuilt access
//! database. Nothing is deleted; no key or certificate is rewritten.

use super::*;
use crate::core::rehash::HashKind;
use crate::store::access as access_store;
use crate::store::rehash::{self};
use crate::store::Error;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// Carries out one action. Returns what was done, in words.
pub fn apply_fix(action: &FixAction) -> Result<String, Error> {
    match action {
        FixAction::Chmod { path, mode } => {
            let old = fs::symlink_metadata(path)
                .map_err(|source| Error::Io {
                    path: path.clone(),
                    action: "inspect",
                    source,
                })?
                .permissions()
                .mode()
                & 0o7777;
            fs::set_permissions(path, fs::Permissions::from_mode(*mode)).map_err(|source| {
                Error::Io {
                    path: path.clone(),
                    action: "change the mode of",
                    source,
                }
            })?;
            Ok(format!("{}: mode {old:04o} -> {mode:04o}", path.display()))
        }
        FixAction::Rehash { dir } => {
            let r = rehash::rehash_dir(dir, HashKind::New)?;
            if let Some(e) = r.errors.first() {
                return Err(crate::store::refused(
                    format!("{}: {e}", dir.display()),
                    "see `starttls-studio rehash` for details",
                ));
            }
            Ok(format!(
                "{}: rehashed ({} links created, {} replaced, {} removed)",
                dir.display(),
                r.created,
                r.replaced,
                r.removed
            ))
        }
        FixAction::Makemap { access } => access_store::makemap(access).map_err(|e| {
            crate::store::refused(
                format!("{}: {e}", access.display()),
                "fix the access file (starttls-studio access check) and run makemap again",
            )
        }),
    }
}
