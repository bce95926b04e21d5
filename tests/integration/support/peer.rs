//! The sendmail reference peer (`tests/peers/sendmail`) as a guard: started
//! on the files a test gives it, stopped by its pid files when dropped.

use super::{run, sendmail_peer_dir};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ peer

/// A running sendmail peer; stopped (`stop --dir`) when dropped, also when
/// the test panics. Created *before* `start` runs, so a half-started peer
/// is stopped too.
pub(crate) struct Peer {
    pub(crate) dir: PathBuf,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) start_stdout: String,
    pub(crate) start_stderr: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let stop = sendmail_peer_dir().join("stop");
        let _ = Command::new(stop)
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
    }
}

impl Peer {
    /// Starts the peer with state directory `dir` and extra `start` options.
    /// Retries with another port if the chosen one was taken meanwhile.
    pub(crate) fn start(dir: &Path, extra: &[OsString]) -> Peer {
        let mut peer = Peer {
            dir: dir.to_path_buf(),
            env: BTreeMap::new(),
            start_stdout: String::new(),
            start_stderr: String::new(),
        };
        let start = sendmail_peer_dir().join("start");
        let mut last = String::new();
        for _attempt in 0..3 {
            let port = super::free_port();
            let mut cmd = Command::new(&start);
            cmd.arg("--port")
                .arg(port.to_string())
                .arg("--dir")
                .arg(dir)
                .args(extra)
                .stdin(Stdio::null());
            let out = run(&mut cmd);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if out.status.success() {
                peer.env = stdout
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                peer.start_stdout = stdout;
                peer.start_stderr = stderr;
                assert!(
                    peer.env.contains_key("log"),
                    "start printed no log=: {}",
                    peer.start_stdout
                );
                return peer;
            }
            last = format!(
                "{cmd:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
                out.status
            );
            if !stderr.to_lowercase().contains("port") {
                break;
            }
        }
        panic!("cannot start the sendmail peer: {last}");
    }

    pub(crate) fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("start printed no {key}=: {}", self.start_stdout))
    }

    pub(crate) fn port(&self) -> &str {
        self.get("port")
    }

    pub(crate) fn log_path(&self) -> PathBuf {
        PathBuf::from(self.get("log"))
    }

    pub(crate) fn log_len(&self) -> usize {
        fs::read(self.log_path()).map(|b| b.len()).unwrap_or(0)
    }

    /// The log text written after byte offset `from`.
    pub(crate) fn log_since(&self, from: usize) -> String {
        let b = fs::read(self.log_path()).unwrap_or_default();
        String::from_utf8_lossy(b.get(from..).unwrap_or_default()).into_owned()
    }

    /// The whole log, for failure messages (the last `n` lines).
    pub(crate) fn log_tail(&self, n: usize) -> String {
        let all = self.log_since(0);
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits (up to 10 s: the log is written by a separate sink process) for
    /// a log line after offset `from` containing `needle`.
    pub(crate) fn wait_log_line(&self, from: usize, needle: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(l) = self.log_since(from).lines().find(|l| l.contains(needle)) {
                return Some(l.to_string());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The delivered message (one file per message in `messages=`) that
    /// carries the header `X-Studio-Case: marker`.
    pub(crate) fn message_with_case(&self, marker: &str) -> Option<String> {
        let needle = format!("\nX-Studio-Case: {marker}\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(rd) = fs::read_dir(self.get("messages")) {
                for e in rd.flatten() {
                    if let Ok(b) = fs::read(e.path()) {
                        let t = String::from_utf8_lossy(&b).replace("\r\n", "\n");
                        if t.contains(&needle) {
                            return Some(t);
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
