//! One guard for a running `serve`: started on a free loopback port, ready
//! once it answers (the readiness connection is logged before `start`
//! returns), its session log read strictly (a line that is not JSON fails
//! the test), stopped by SIGTERM when dropped.

use super::{free_port, studio};
use std::ffi::OsString;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ server

/// A running `serve` (SIGTERM and wait on drop). Its stdout, one JSON line
/// per finished session, goes to a file read by `sessions()`.
pub(crate) struct Serve {
    child: Option<Child>,
    pub(crate) port: u16,
    out: PathBuf,
    err: PathBuf,
    pub(crate) maildir: PathBuf,
}

impl Serve {
    /// Starts `serve --hostname mx.studio.test` with `extra` options and
    /// waits until it answers; the readiness connection is a session of its
    /// own, and `start` returns only after it has been logged.
    pub(crate) fn start(home: &Path, extra: &[OsString]) -> Serve {
        let mut last = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let out = home.join(format!("serve-{port}.jsonl"));
            let err = home.join(format!("serve-{port}.err"));
            let maildir = home.join(format!("maildir-{port}"));
            let child = studio(home)
                .args([
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--hostname",
                    "mx.studio.test",
                ])
                .arg("--maildir")
                .arg(&maildir)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(fs::File::create(&out).unwrap())
                .stderr(fs::File::create(&err).unwrap())
                .spawn()
                .expect("start serve");
            let mut s = Serve {
                child: Some(child),
                port,
                out,
                err,
                maildir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if let Some(c) = s.child.as_mut() {
                    if let Ok(Some(_)) = c.try_wait() {
                        break;
                    }
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    up = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            if up {
                s.wait_sessions(1, Duration::from_secs(5));
                return s;
            }
            s.stop();
            last = fs::read_to_string(&s.err).unwrap_or_default();
        }
        panic!("serve did not come up: {last}");
    }

    pub(crate) fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("serve is running").id()
    }

    /// Open file descriptors of the server process.
    pub(crate) fn fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Threads of the server process (one per open session, plus main).
    pub(crate) fn threads(&self) -> usize {
        fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    pub(crate) fn sessions(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad session line {l:?}: {e}"))
            })
            .collect()
    }

    /// Waits until at least `n` sessions are logged; returns them all.
    pub(crate) fn wait_sessions(&self, n: usize, limit: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.sessions();
            if s.len() >= n {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "serve logged {} sessions, expected {n} within {limit:?}: {s:?}\nstderr: {}",
                s.len(),
                fs::read_to_string(&self.err).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Stops the server (SIGTERM; KILL after 10 s) and returns its exit code.
    pub(crate) fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                return s.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}
