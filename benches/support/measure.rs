//! Whole-process measurements the benchmarks share (each bench includes
//! this file with `#[path]`).

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to its end with its standard output going to `stdout`
/// (GNU grep stops at the first match when its output is /dev/null, so a
/// bench may give a file): the wall time, the peak RSS (VmHWM, KiB, read
/// from /proc every 2 ms) and how it ended.
pub fn run_measured(cmd: &mut Command, stdout: Stdio) -> (Duration, u64, ExitStatus) {
    let t = Instant::now();
    let mut child = cmd
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (t.elapsed(), peak, status);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
