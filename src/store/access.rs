//! Reading and saving `access` source files: size-limited reads, atomic
//! saves that keep a backup, and the optional `makemap` run.

use super::fsutil;
use super::lock::{self, Lock};
use super::Error;
use crate::core::access::AccessMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Access maps beyond this size are refused (100,000 entries are ~5 MB).
pub const ACCESS_FILE_LIMIT: u64 = 256 * 1024 * 1024;

/// Reads and parses an access source file, line by line (a million-entry
/// map is never held twice: as bytes and as lines), within
/// [`ACCESS_FILE_LIMIT`].
pub fn load(path: &Path) -> Result<AccessMap, Error> {
    use std::io::BufRead;
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    };
    let (file, _) = fsutil::open_limited(path, ACCESS_FILE_LIMIT)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut map = AccessMap::default();
    let mut total = 0u64;
    loop {
        let mut raw = Vec::new();
        let n = reader.read_until(b'\n', &mut raw).map_err(io_err)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > ACCESS_FILE_LIMIT {
            return Err(fsutil::too_big(path, ACCESS_FILE_LIMIT, "more than"));
        }
        // Findings quote lines: a private key given by mistake must not be
        // echoed to the terminal (or a log) piece by piece.
        if raw.windows(16).any(|w| w == b"PRIVATE KEY-----") {
            return Err(super::refused(
                format!("{} holds a private key, not an access map", path.display()),
                "give the access source file, e.g. /etc/mail/access",
            ));
        }
        raw.shrink_to_fit();
        map.push_raw(raw);
    }
    Ok(map)
}

/// Loads `path`, or an empty map when it does not exist yet.
pub fn load_or_empty(path: &Path) -> Result<AccessMap, Error> {
    if path.exists() {
        load(path)
    } else {
        Ok(AccessMap::default())
    }
}

/// What a save did.
#[derive(Debug, Clone, Default)]
pub struct SaveReport {
    pub backup: Option<PathBuf>,
    /// `makemap`'s outcome when it was asked for.
    pub makemap: Option<Result<String, String>>,
}

/// Serialises writers of one access file (its directory's lock; the
/// target's directory when the file is a symlink). Hold it from the read
/// to the write of a read-modify-write, so no update is lost.
pub fn lock(path: &Path) -> Result<Lock, Error> {
    lock::lock_file(path, &format!("the access file {}", path.display()))
}

/// What [`save_if_unchanged`] did.
#[derive(Debug, Clone)]
pub enum GuardedSave {
    Saved(SaveReport),
    /// The file on disk is no longer what the edit started from: nothing
    /// was written. `disk` is what is there now.
    ChangedOnDisk {
        disk: AccessMap,
    },
}

/// Saves `map` unless the file changed since `base` was read from it
/// (compared byte for byte under the lock, so a writer that comes between
/// is never overwritten unseen). A file that did not exist counts as empty.
pub fn save_if_unchanged(
    path: &Path,
    base: &AccessMap,
    map: &AccessMap,
    run_makemap: bool,
) -> Result<GuardedSave, Error> {
    let _lock = lock(path)?;
    let disk = load_or_empty(path)?;
    if disk.to_bytes() != base.to_bytes() {
        return Ok(GuardedSave::ChangedOnDisk { disk });
    }
    save(path, map, run_makemap).map(GuardedSave::Saved)
}

/// `FILE.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".bak");
    path.with_file_name(name)
}

/// Saves atomically (same mode, owner and group as before, 0644 for a new
/// file; a symlink stays a symlink and its target is replaced); the old
/// content goes to `FILE.bak` first. With `run_makemap`, rebuilds the
/// database with `makemap hash FILE < FILE` when makemap is installed.
/// Callers that read the file first hold [`lock`] across both.
pub fn save(path: &Path, map: &AccessMap, run_makemap: bool) -> Result<SaveReport, Error> {
    let mut report = SaveReport::default();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fsutil::remove_stale_temps(dir);
    }
    let mode = match std::fs::metadata(path) {
        Ok(m) => {
            let old = fsutil::read_limited(path, ACCESS_FILE_LIMIT)?;
            let bak = backup_path(path);
            fsutil::write_atomic(&bak, &old, m.permissions().mode() & 0o7777)?;
            report.backup = Some(bak);
            m.permissions().mode() & 0o7777
        }
        Err(_) => 0o644,
    };
    fsutil::write_atomic(path, &map.to_bytes(), mode)?;
    if run_makemap {
        report.makemap = Some(makemap(path));
    }
    Ok(report)
}

/// Runs `makemap hash FILE < FILE`.
pub fn makemap(path: &Path) -> Result<String, String> {
    let exe = [
        "/usr/sbin/makemap",
        "/usr/bin/makemap",
        "/usr/lib/sendmail/makemap",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.exists())
    .ok_or_else(|| {
        "makemap is not installed (package sendmail-bin); the database was not rebuilt".to_string()
    })?;
    let input =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let out = Command::new(exe)
        .arg("hash")
        .arg(path)
        .stdin(input)
        .output()
        .map_err(|e| format!("cannot run makemap: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(format!("makemap hash {} done", path.display()))
    } else {
        Err(format!(
            "makemap failed ({}): {}",
            out.status,
            stderr.trim()
        ))
    }
}
