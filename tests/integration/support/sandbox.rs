//! The Debian sendmail sandbox (`tests/peers/sendmail/debian-sandbox`) as
//! a guard: created in a directory, destroyed (daemon and holder stopped
//! by pid) when dropped, also when the test panics.

use super::{run, sendmail_peer_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) struct DebianSandbox {
    pub(crate) dir: PathBuf,
}

fn script() -> PathBuf {
    sendmail_peer_dir().join("debian-sandbox")
}

impl Drop for DebianSandbox {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("destroy")
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
    }
}

impl DebianSandbox {
    /// Copies of the machine's /etc/mail and /etc/ssl/certs, TLS files
    /// made by Debian's update_tls for mx.debian.test.
    pub(crate) fn create(dir: &Path) -> DebianSandbox {
        let sb = DebianSandbox {
            dir: dir.to_path_buf(),
        };
        sb.script_ok("create", &[]);
        sb
    }

    fn script_ok(&self, cmd: &str, extra: &[&str]) -> Output {
        let out = run(Command::new(script())
            .arg(cmd)
            .arg("--dir")
            .arg(&self.dir)
            .args(extra)
            .stdin(Stdio::null()));
        assert!(
            out.status.success(),
            "debian-sandbox {cmd}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Debian's documented step: include starttls.m4, make sendmail.cf.
    pub(crate) fn enable_tls(&self) {
        self.script_ok("enable-tls", &[]);
    }

    pub(crate) fn start_daemon(&self) {
        self.script_ok("start-daemon", &[]);
    }

    pub(crate) fn restart_daemon(&self) {
        self.script_ok("restart-daemon", &[]);
    }

    /// Restarts the daemon; callable inside the sandbox (`--restart-command`).
    pub(crate) fn restart_script(&self) -> PathBuf {
        self.dir.join("restart-sendmail")
    }

    /// A shell command line run inside the sandbox.
    pub(crate) fn run_sh(&self, line: &str) -> Output {
        run(Command::new(script())
            .arg("run")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--")
            .args(["sh", "-c", line])
            .stdin(Stdio::null()))
    }

    /// A file as the sandbox sees it (e.g. /etc/mail/sendmail.mc).
    pub(crate) fn read(&self, path: &str) -> String {
        let out = self.run_sh(&format!("cat '{path}'"));
        assert!(
            out.status.success(),
            "cat {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
