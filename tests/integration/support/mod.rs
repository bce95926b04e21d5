//! Shared helpers for the integration tests: the binary under test, temp
//! homes, and the real peer programs (which `scripts/setup` installs; a
//! missing one is a failed test, never a skipped one).

#![allow(dead_code)]

mod peer;
pub mod pki;
mod sandbox;
mod serve;

pub(crate) use peer::Peer;
pub use pki::{openssl_ec_ca, openssl_ec_request, openssl_sign, Pki};
pub(crate) use sandbox::DebianSandbox;
pub(crate) use serve::Serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn studio_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_starttls-studio"))
}

/// A `starttls-studio` command with `--home` set to `home`.
pub fn studio(home: &Path) -> Command {
    let mut c = Command::new(studio_bin());
    c.arg("--home").arg(home);
    c.env_remove("STARTTLS_STUDIO_HOME");
    c
}

/// Runs a command, returning its output; panics (with the command line) if it
/// could not be started at all.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns its stdout bytes.
pub fn run_ok_bytes(cmd: &mut Command) -> Vec<u8> {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a command that must succeed; returns stdout as a string.
pub fn run_ok(cmd: &mut Command) -> String {
    String::from_utf8(run_ok_bytes(cmd)).expect("stdout is UTF-8")
}

/// Path of a required external program; panics with a pointer to the setup
/// script when it is missing.
pub fn require(program: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{program}` is not installed: run scripts/setup (it installs every test dependency)");
}

/// `openssl` with arguments.
pub fn openssl() -> Command {
    Command::new(require("openssl"))
}

/// The project root (where Cargo.toml lives).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sendmail reference peer scripts (`tests/peers/sendmail`, see its README).
pub fn sendmail_peer_dir() -> PathBuf {
    project_root().join("tests/peers/sendmail")
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sts-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Runs `f(i, item)` over `items` on a few threads; returns the `Some`
/// results with their index, in input order (tests collect every failure
/// instead of stopping at the first).
pub fn par_map<T: Sync, F>(items: &[T], f: F) -> Vec<(usize, String)>
where
    F: Fn(usize, &T) -> Option<String> + Sync,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(4)
        .clamp(2, 8);
    let next = AtomicUsize::new(0);
    let found: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Some(msg) = f(i, item) {
                    found.lock().unwrap().push((i, msg));
                }
            });
        }
    });
    let mut found = found.into_inner().unwrap();
    found.sort_by_key(|(i, _)| *i);
    found
}

/// name -> link target of every symlink in `dir`.
pub fn links(dir: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_symlink()).unwrap_or(false))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

/// What `openssl rehash` makes from the plain files of `dir` (in a copy
/// without any links).
pub fn openssl_links(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let copy = tempdir();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
        }
    }
    run_ok(openssl().arg("rehash").arg(copy.path()));
    links(copy.path())
}

/// One SMTP reply, all its lines: continuation lines have `-` after the
/// code. Stops at end of input or a read error (what was read is returned).
pub fn read_reply(r: &mut impl std::io::BufRead) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return all,
            Ok(_) => {}
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

/// A loopback port that was free a moment ago (the guards retry with
/// another one when it is taken meanwhile).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Every path under `dir` (files, links, directories), recursively;
/// symlinks are not followed. Empty when `dir` cannot be read.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
