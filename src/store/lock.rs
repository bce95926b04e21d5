//! Advisory locks that serialise writers: on the home, on an install
//! directory, and on the directory of an edited file (`flock` on the
//! directory itself, so no lock file is ever left in `/etc/mail`; the
//! kernel drops a lock with its holder, however it exits). A run that has
//! to wait says what it waits for, once, through the notice hook the face
//! installs.
//!
//! Readers take no lock: every write is an atomic rename, so a reader sees
//! the old file or the new one.

use super::Error;
use std::fs::{File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a run waits for another one before giving up. A lock is never
/// stale (the kernel drops it with its holder), so this only ends a wait
/// on a run that hangs.
pub const WAIT_LIMIT: Duration = Duration::from_secs(120);

type Notice = Box<dyn Fn(&str) + Send + Sync>;
static NOTICE: OnceLock<Notice> = OnceLock::new();

/// Where "waiting for …" goes (the CLI: stderr). Without a hook the wait
/// is silent (the GUI shows the job as busy).
pub fn set_wait_notice(f: impl Fn(&str) + Send + Sync + 'static) {
    let _ = NOTICE.set(Box::new(f));
}

/// An exclusive lock on a directory, held until dropped.
#[derive(Debug)]
pub struct Lock {
    dir: File,
}

impl Lock {
    /// Whether this lock is on the directory `other` (the same inode):
    /// taking it again from this process would wait for ourselves.
    pub fn covers(&self, other: &Path) -> bool {
        match (self.dir.metadata(), std::fs::metadata(other)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }
}

/// Locks the directory `dir` (which must exist), waiting for another
/// holder up to [`WAIT_LIMIT`]. `what` names what is locked, for the
/// waiting notice and the error.
pub fn lock_dir(dir: &Path, what: &str) -> Result<Lock, Error> {
    let file = File::open(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        action: "open for locking",
        source,
    })?;
    let start = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { dir: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => {
                return Err(Error::Io {
                    path: dir.to_path_buf(),
                    action: "lock",
                    source,
                })
            }
        }
        if !told {
            told = true;
            if let Some(n) = NOTICE.get() {
                n(&format!(
                    "waiting for {what}: another starttls-studio run is writing there ({})",
                    dir.display()
                ));
            }
        }
        if start.elapsed() > WAIT_LIMIT {
            return Err(super::refused(
                format!(
                    "{what} has been locked by another run for {} s ({})",
                    WAIT_LIMIT.as_secs(),
                    dir.display()
                ),
                format!(
                    "see which starttls-studio still runs (`fuser -v {}`) and let it finish",
                    dir.display()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Locks what a write to `file` changes: the directory its final target
/// (through any symlinks) lives in.
pub fn lock_file(file: &Path, what: &str) -> Result<Lock, Error> {
    let real = super::fsutil::resolve_symlinks(file);
    let dir = match real.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    lock_dir(&dir, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_path_buf();
        let first = lock_dir(&p, "x").unwrap();
        assert!(first.covers(&p));
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            let _second = lock_dir(&p2, "x").unwrap();
            tx.send(Instant::now()).unwrap();
        });
        std::thread::sleep(Duration::from_millis(100));
        let released = Instant::now();
        drop(first);
        let got = rx.recv().unwrap();
        t.join().unwrap();
        assert!(
            got >= released,
            "the second lock came only after the first was dropped"
        );
    }
}
