//! Writing files the way a key store must: to a temporary file in the same
//! directory, created with its final mode (never briefly readable by
//! others), fsynced, then renamed over the target and the directory synced.
//! A crash leaves either the old file or the new one, plus at most a temp
//! file that [`remove_stale_temps`] clears on the next run.
//!
//! Replacing keeps the shape the file has on the system: a symlink stays a
//! symlink (its final target is what gets replaced), and the owner and
//! group of the file replaced carry over to the new one (the mode is the
//! caller's: install sets what sendmail accepts, an edit passes the old
//! one).

use super::Error;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Temp files carry this marker so a later run can recognise and remove them.
pub const TEMP_MARKER: &str = ".sts-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The environment variable that arms a failpoint (crash-safety tests).
pub const FAILPOINT_ENV: &str = "STARTTLS_STUDIO_FAILPOINT";

/// `(name, n)` from `STARTTLS_STUDIO_FAILPOINT=NAME:N`, read once.
fn armed_failpoint() -> Option<&'static (String, u64)> {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let v = std::env::var(FAILPOINT_ENV).ok()?;
            let (name, n) = v.rsplit_once(':')?;
            Some((name.to_string(), n.parse().ok()?))
        })
        .as_ref()
}

static FAILPOINT_HITS: AtomicU64 = AtomicU64::new(0);

/// A point where a crash must leave the disk consistent. With
/// `STARTTLS_STUDIO_FAILPOINT=NAME:N` (`*` matches every point) the
/// process kills itself with SIGKILL at the Nth hit, so tests can check
/// what a power cut or `kill -9` at that moment leaves behind. Unset, it
/// is one load of a cached `None`.
pub fn failpoint(name: &str) {
    let Some((armed, n)) = armed_failpoint() else {
        return;
    };
    if armed != "*" && armed != name {
        return;
    }
    if FAILPOINT_HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        eprintln!("starttls-studio: failpoint {name} (hit {n}): killing the process");
        // SIGKILL, as an outside kill would: no destructors, no flushing.
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .arg(std::process::id().to_string())
            .status();
        std::thread::sleep(std::time::Duration::from_secs(5));
        std::process::abort();
    }
}

/// `DIR/.NAME.sts-tmp-PID-N` for `path = DIR/NAME`.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut t = OsString::from(".");
    t.push(name);
    t.push(format!("{TEMP_MARKER}{}-{n}", std::process::id()));
    path.with_file_name(t)
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Opens the directory containing `path` and fsyncs it, so a rename in it
/// survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync directory"))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A file written and synced under a temporary name, not yet in place.
#[derive(Debug)]
pub struct StagedFile {
    pub temp: PathBuf,
    pub target: PathBuf,
}

impl StagedFile {
    /// Renames the temp file over the target.
    pub fn commit(self) -> Result<(), Error> {
        failpoint("commit-before-rename");
        let r =
            fs::rename(&self.temp, &self.target).map_err(io_err(&self.target, "rename into place"));
        if r.is_err() {
            let _ = fs::remove_file(&self.temp);
        }
        r?;
        failpoint("commit-renamed");
        sync_dir(parent(&self.target))
    }

    /// Removes the temp file (the target is untouched).
    pub fn abort(self) {
        let _ = fs::remove_file(&self.temp);
    }
}

/// Where a write to `path` lands: `path` itself, or, when it is a symlink,
/// the file at the end of its chain (relative links resolved against their
/// own directory; at most 40 hops, as the kernel allows).
pub fn resolve_symlinks(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&p) {
            Ok(next) => {
                p = if next.is_absolute() {
                    next
                } else {
                    parent(&p).join(next)
                };
            }
            Err(_) => break,
        }
    }
    p
}

/// Writes `data` to a temp file beside `target` (beside a symlink's final
/// target), created with `mode` from the first byte, with the owner and
/// group of the file it will replace, and fsyncs it. Call
/// [`StagedFile::commit`] to put it in place.
pub fn stage(target: &Path, data: &[u8], mode: u32) -> Result<StagedFile, Error> {
    let target = &resolve_symlinks(target);
    let owner = fs::metadata(target).ok().map(|m| (m.uid(), m.gid()));
    let temp = temp_path_for(target);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .map_err(io_err(target, "create a temporary file for"))?;
    let result = (|| {
        // The umask may have removed bits we want (e.g. 0644): set the exact
        // mode before any content is written.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some((uid, gid)) = owner {
            // Owner and group as before (a setgid directory or another
            // user's umask must not change them). chown clears set-id
            // bits, so the mode is set again after it.
            let m = f.metadata()?;
            if (m.uid(), m.gid()) != (uid, gid) {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
                f.set_permissions(fs::Permissions::from_mode(mode))?;
            }
        }
        failpoint("stage-created");
        // A crash half way through the content must not matter either.
        let half = data.len() / 2;
        f.write_all(&data[..half])?;
        failpoint("stage-half-written");
        f.write_all(&data[half..])?;
        f.sync_all()
    })();
    if let Err(e) = result {
        drop(f);
        let _ = fs::remove_file(&temp);
        return Err(Error::Io {
            path: target.to_path_buf(),
            action: "write",
            source: e,
        });
    }
    Ok(StagedFile {
        temp,
        target: target.to_path_buf(),
    })
}

/// Atomically replaces (or creates) `path` with `data` and `mode`.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    stage(path, data, mode)?.commit()
}

/// Atomically creates `path`, refusing to replace an existing file (the
/// check and the creation are one step: a hard link fails if the name exists).
pub fn create_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    let staged = stage(path, data, mode)?;
    failpoint("create-before-link");
    let r = fs::hard_link(&staged.temp, path);
    failpoint("create-linked");
    let _ = fs::remove_file(&staged.temp);
    match r {
        Ok(()) => sync_dir(parent(path)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Refused {
            message: format!("{} already exists", path.display()),
            hint: Some(
                "it was left as it is; remove it first if you really mean to replace it".into(),
            ),
        }),
        Err(e) => Err(Error::Io {
            path: path.to_path_buf(),
            action: "create",
            source: e,
        }),
    }
}

/// Atomically makes `link` a symlink to `target` (replacing whatever
/// non-directory is there).
pub fn symlink_atomic(target: &Path, link: &Path) -> Result<(), Error> {
    match std::os::unix::fs::symlink(target, link) {
        Ok(()) => {
            failpoint("symlink-created");
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::Io {
                path: link.to_path_buf(),
                action: "create symlink",
                source: e,
            })
        }
    }
    let temp = temp_path_for(link);
    std::os::unix::fs::symlink(target, &temp).map_err(io_err(link, "create symlink"))?;
    failpoint("symlink-temp");
    fs::rename(&temp, link).map_err(|e| {
        let _ = fs::remove_file(&temp);
        Error::Io {
            path: link.to_path_buf(),
            action: "replace symlink",
            source: e,
        }
    })
}

/// Creates `dir` (and parents) with `mode` for the directories it creates.
pub fn create_dir_all(dir: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(io_err(dir, "create directory"))
}

/// Suffix of a journal: the staged files of a group that must all land.
const JOURNAL_SUFFIX: &str = ".sts-journal";

/// Puts several staged files of one directory in place as a group (a key
/// and its certificate): a journal naming them is written first, so a run
/// killed between two renames is completed by the next run in that
/// directory ([`remove_stale_temps`] rolls it forward). Every file is
/// complete and synced before the journal exists; without a journal,
/// staged files are stale and removed, leaving the old group.
pub fn commit_together(staged: Vec<StagedFile>, name: &str) -> Result<(), Error> {
    let Some(dir) = staged.first().map(|s| parent(&s.target).to_path_buf()) else {
        return Ok(());
    };
    let mut journal = String::new();
    for s in &staged {
        let (Some(t), Some(g)) = (s.temp.file_name(), s.target.file_name()) else {
            continue;
        };
        journal.push_str(&format!(
            "{}\t{}\n",
            t.to_string_lossy(),
            g.to_string_lossy()
        ));
    }
    let journal_path = dir.join(format!(".{name}{JOURNAL_SUFFIX}"));
    if let Err(e) = write_atomic(&journal_path, journal.as_bytes(), 0o600) {
        staged.into_iter().for_each(StagedFile::abort);
        return Err(e);
    }
    failpoint("journal-written");
    for s in staged {
        s.commit()?;
    }
    fs::remove_file(&journal_path).map_err(io_err(&journal_path, "remove the journal"))?;
    sync_dir(&dir)
}

/// Completes the groups a killed run left half renamed in `dir`.
fn roll_forward(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(JOURNAL_SUFFIX)) {
            continue;
        }
        let Ok(text) = read_limited(&e.path(), 64 * 1024) else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        // A writer still renaming its group is not to be overtaken.
        if text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .any(|(temp, _)| writer_alive(temp.as_bytes()))
        {
            continue;
        }
        for line in text.lines() {
            let Some((temp, target)) = line.split_once('\t') else {
                continue;
            };
            // Names only, in this directory.
            if [temp, target]
                .iter()
                .any(|n| n.contains('/') || n.is_empty() || *n == "..")
            {
                continue;
            }
            let temp = dir.join(temp);
            if temp.exists() {
                let _ = fs::rename(&temp, dir.join(target));
            }
        }
        let _ = fs::remove_file(e.path());
        let _ = sync_dir(dir);
    }
}

/// Whether the process that made the temp file `name`
/// (`.NAME.sts-tmp-PID-N`) is still running: this one, or any live pid.
/// Its temps are then in use, not stale.
fn writer_alive(name: &[u8]) -> bool {
    let marker = TEMP_MARKER.as_bytes();
    let Some(at) = name.windows(marker.len()).position(|w| w == marker) else {
        return false;
    };
    let digits: Vec<u8> = name[at + marker.len()..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    let Ok(pid) = std::str::from_utf8(&digits).unwrap_or("").parse::<u32>() else {
        return false;
    };
    pid != 0 && (pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists())
}

/// Removes temp files a killed earlier run left in `dir`, after completing
/// any group of renames it had started (see [`commit_together`]). The temps
/// of a writer still running are left alone. Returns how many temp files
/// were removed.
pub fn remove_stale_temps(dir: &Path) -> usize {
    roll_forward(dir);
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let marker = TEMP_MARKER.as_bytes();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let b = name.as_bytes();
        if !(b.starts_with(b".") && b.windows(marker.len()).any(|w| w == marker)) || writer_alive(b)
        {
            continue;
        }
        // A staging directory (a CA being created) goes whole; symlinks
        // and files by name.
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        let gone = if is_dir {
            fs::remove_dir_all(e.path())
        } else {
            fs::remove_file(e.path())
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Reads a file, refusing anything larger than `limit` bytes (every input
/// the tool reads has a bound). The bound holds while reading, too: a file
/// that grows, or a device such as `/dev/zero` whose size says 0, is cut
/// off at `limit` and refused.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let (mut reader, size) = open_limited(path, limit)?;
    let mut data = Vec::with_capacity(size as usize);
    reader
        .read_to_end(&mut data)
        .map_err(io_err(path, "read"))?;
    if data.len() as u64 > limit {
        return Err(too_big(path, limit, "more than"));
    }
    Ok(data)
}

/// Opens a file for a bounded read: refuses a directory and a file whose
/// size is over `limit`, and gives a reader that stops one byte past
/// `limit`, so a caller reading piece by piece sees a file that grows (or
/// an endless device) overrun: it refuses it with [`too_big`]. Returns the
/// size the file claims too.
pub fn open_limited(path: &Path, limit: u64) -> Result<(std::io::Take<File>, u64), Error> {
    use std::io::Read;
    let f = File::open(path).map_err(io_err(path, "read"))?;
    let meta = f.metadata().map_err(io_err(path, "read"))?;
    if meta.is_dir() {
        return Err(Error::Refused {
            message: format!("{} is a directory, not a file", path.display()),
            hint: None,
        });
    }
    if meta.len() > limit {
        return Err(too_big(path, limit, &meta.len().to_string()));
    }
    Ok((f.take(limit.saturating_add(1)), meta.len()))
}

/// The refusal of a file over `limit` bytes (`size` as the message says it).
pub fn too_big(path: &Path, limit: u64, size: &str) -> Error {
    Error::Refused {
        message: format!(
            "{} is {size} bytes; files over {limit} bytes are not read",
            path.display()
        ),
        hint: Some("is this the right file?".into()),
    }
}

/// Size limit for certificate, key and CRL files.
pub const PKI_FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// Who else keeps a CA directory's hash links, when someone does:
/// `update-ca-certificates` (Debian's ca-certificates package) for
/// `/etc/ssl/certs`, recognised by its path or by its `ca-certificates.crt`
/// bundle (also in a copy elsewhere). Such a directory is never rehashed
/// by a fix: its owner rebuilds it, and a rehash there would drop the
/// links others placed (Debian's sendmail puts two into `/etc/ssl/certs`).
pub fn managed_by(dir: &Path) -> Option<String> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    (dir == Path::new("/etc/ssl/certs") || dir.join("ca-certificates.crt").is_file())
        .then(|| "the ca-certificates package (update-ca-certificates)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.key");
        write_atomic(&p, b"one", 0o600).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert!(matches!(
            create_atomic(&p, b"three", 0o600),
            Err(Error::Refused { .. })
        ));
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn stale_temps_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // A writer that is gone (pid_max is below 2^22 on Linux) …
        let dead = dir.path().join(format!(".x.pem{TEMP_MARKER}4194305-0"));
        fs::write(&dead, b"partial").unwrap();
        // … and one in flight in this process.
        let live = temp_path_for(&dir.path().join("y.pem"));
        fs::write(&live, b"being written").unwrap();
        fs::write(dir.path().join("x.pem"), b"keep").unwrap();
        assert_eq!(remove_stale_temps(dir.path()), 1);
        assert!(dir.path().join("x.pem").exists());
        assert!(!dead.exists());
        assert!(live.exists());
    }

    #[test]
    fn a_symlink_stays_a_symlink_and_its_target_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::write(real.join("access"), b"old").unwrap();
        let link = dir.path().join("access");
        std::os::unix::fs::symlink("real/access", &link).unwrap();
        write_atomic(&link, b"new", 0o640).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("real/access"));
        assert_eq!(fs::read(real.join("access")).unwrap(), b"new");
        assert_eq!(
            fs::metadata(real.join("access"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
        assert_eq!(fs::read_dir(&real).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn symlinks_replace() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("abcd0123.0");
        symlink_atomic(Path::new("a.pem"), &l).unwrap();
        symlink_atomic(Path::new("b.pem"), &l).unwrap();
        assert_eq!(fs::read_link(&l).unwrap(), Path::new("b.pem"));
    }
}
