//! Restart sendmail and prove what it now serves. sendmail sets up TLS
//! once, when it starts (docs/sendmail.md), so a new certificate or cf
//! needs a restart; afterwards the daemon's address is probed and the
//! certificate it presents must be the one expected, verified against the
//! install's CA directory. `mc apply --restart` uses this step (and puts
//! the old files back when it fails); renewals reuse it.

use super::probe::{probe, ProbeReport};
use super::setup::{probe_options, ProbeSetup};
use super::Error;
use crate::core::verify::Verify;
use crate::store::home::Home;
use crate::store::refused;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the restart command may take.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the daemon may take to accept connections again.
pub const LISTEN_WAIT: Duration = Duration::from_secs(30);

/// The way the system restarts sendmail: systemd when it runs, else the
/// init script. `None` when neither is there.
pub fn system_restart_command() -> Option<String> {
    let systemd = Path::new("/run/systemd/system").is_dir()
        && ["/usr/bin/systemctl", "/bin/systemctl"]
            .iter()
            .any(|p| Path::new(p).is_file());
    if systemd {
        return Some("systemctl restart sendmail".into());
    }
    Path::new("/etc/init.d/sendmail")
        .is_file()
        .then(|| "/etc/init.d/sendmail restart".into())
}

/// Runs a restart command with `sh -c`, bounded in time; its output comes
/// back for the person to read.
pub fn restart(command: &str) -> Result<String, Error> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            refused(
                format!("cannot run `{command}`: {e}"),
                "check the restart command",
            )
        })?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > RESTART_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(refused(
                    format!(
                        "`{command}` did not finish within {} s",
                        RESTART_TIMEOUT.as_secs()
                    ),
                    "check sendmail's state by hand (systemctl status sendmail)",
                )
                .into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(refused(format!("`{command}`: {e}"), "").into()),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| refused(format!("`{command}`: {e}"), ""))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(refused(
            format!("`{command}` failed ({}): {}", out.status, text.trim()),
            "sendmail may not be running; see its log (journalctl -u sendmail, /var/log/mail.log)",
        )
        .into());
    }
    Ok(text.trim().to_string())
}

/// Probes `target` once it accepts connections again (up to
/// [`LISTEN_WAIT`]), checking against `ca_path` (default: the home's CA
/// and the system's).
pub fn probe_when_up(
    home: &Home,
    target: &str,
    ca_path: Option<&Path>,
) -> Result<ProbeReport, String> {
    let opts = probe_options(
        home,
        ProbeSetup {
            ca_path: ca_path.map(Path::to_path_buf),
            timeout: Duration::from_secs(10),
            ..ProbeSetup::new(target)
        },
    )
    .map_err(|err| err.to_string())?;
    let start = Instant::now();
    loop {
        let r = probe(&opts);
        let not_up = r.banner.is_none() && r.error.is_some();
        if not_up && start.elapsed() < LISTEN_WAIT {
            std::thread::sleep(Duration::from_millis(300));
            continue;
        }
        return Ok(r);
    }
}

/// What a restarted daemon is expected to serve.
#[derive(Debug, Clone)]
pub struct Expect {
    /// `HOST:PORT` of the daemon.
    pub target: String,
    /// The install's CA directory, to verify against.
    pub ca_path: PathBuf,
    /// SHA-256 fingerprint of the certificate it must present.
    pub sha256: String,
}

/// Probes until the daemon answers (up to [`LISTEN_WAIT`]); `Ok` when it
/// offers STARTTLS, presents the expected certificate and that verifies
/// against the CA directory, `Err` saying what is wrong otherwise.
pub fn prove(home: &Home, e: &Expect) -> Result<ProbeReport, String> {
    let report = probe_when_up(home, &e.target, Some(&e.ca_path))?;
    if !report.starttls {
        let why = report
            .error
            .clone()
            .unwrap_or_else(|| "it does not offer STARTTLS".into());
        return Err(format!("sendmail at {} after the restart: {why}", e.target));
    }
    let served = report
        .server_cert
        .as_ref()
        .map(|c| c.sha256_fingerprint.clone())
        .unwrap_or_default();
    if !served.eq_ignore_ascii_case(&e.sha256) {
        let what = report
            .server_cert
            .as_ref()
            .map(|c| format!("{} (serial {})", c.subject, c.serial))
            .unwrap_or_default();
        return Err(format!(
            "sendmail at {} serves another certificate: {what}",
            e.target
        ));
    }
    if report.verify != Verify::Ok {
        return Err(format!(
            "the certificate sendmail serves does not verify against {}: {}",
            e.ca_path.display(),
            report.verify_error.clone().unwrap_or_default()
        ));
    }
    Ok(report)
}
