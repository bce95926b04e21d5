//! What the views show of the home and the machine, read in one go: the
//! CA and host certificates (the same calls as `ca show` and `cert list`),
//! the machine's name and the default places for an install and an access
//! map.

use super::fsutil;
use super::home::{Home, HostEntry};
use super::Error;
use crate::core::cert::CertInfo;
use std::path::PathBuf;

/// What the home holds, as the views show it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub ca: Option<CertInfo>,
    pub hosts: Vec<HostEntry>,
    /// The machine's name, to prefill the wizard.
    pub machine_fqdn: String,
    /// `/etc/mail/tls` when it can be written, else a directory in $HOME.
    pub default_install_dir: PathBuf,
    /// `/etc/mail/access` when it exists, else HOME/access.
    pub default_access_file: PathBuf,
    /// The unattended renewal: installed, enabled, last run, its home.
    pub timer: super::timer::TimerState,
    /// `status`: installs current or not, the CRL, problems (for the
    /// overview); `None` when it could not be read.
    pub status: Option<super::status::Status>,
}

/// What the views need from the home and the machine (the same calls as
/// `ca show` and `cert list`).
pub fn load(home: &Home) -> Result<Snapshot, Error> {
    let ca = home.ca_info()?;
    let hosts = home.list()?;
    Ok(Snapshot {
        ca,
        hosts,
        machine_fqdn: machine_fqdn(),
        timer: super::timer::state(home),
        status: super::status::status(home, time::OffsetDateTime::now_utc().unix_timestamp()).ok(),
        default_install_dir: default_install_dir(),
        default_access_file: if std::path::Path::new("/etc/mail/access").exists() {
            PathBuf::from("/etc/mail/access")
        } else {
            home.root.join("access")
        },
    })
}

/// The machine's fully qualified name: the kernel's host name, completed
/// from /etc/hosts (as `hostname -f` does) when it has no dot.
fn machine_fqdn() -> String {
    let short = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if short.contains('.') || short.is_empty() {
        return short;
    }
    let hosts =
        fsutil::read_limited(std::path::Path::new("/etc/hosts"), 1 << 20).unwrap_or_default();
    for line in String::from_utf8_lossy(&hosts).lines() {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        if names.contains(&short.as_str()) {
            if let Some(f) = names.iter().find(|n| n.starts_with(&format!("{short}."))) {
                return f.to_string();
            }
        }
    }
    short
}

/// `/etc/mail/tls` when we may write there, else `$HOME/sendmail-tls`.
fn default_install_dir() -> PathBuf {
    let etc = PathBuf::from("/etc/mail/tls");
    let probe_dir = if etc.exists() {
        etc.clone()
    } else {
        PathBuf::from("/etc/mail")
    };
    let writable =
        std::fs::metadata(&probe_dir).is_ok_and(|m| m.is_dir()) && tempfile_probe(&probe_dir);
    if writable {
        etc
    } else {
        directories::UserDirs::new()
            .map(|u| u.home_dir().join("sendmail-tls"))
            .unwrap_or_else(|| PathBuf::from("sendmail-tls"))
    }
}

/// Whether this process may create files in `dir`, from its owner and
/// mode and our uid (root may always): nothing is created to find out,
/// since the snapshot is read on every reload. A read-only mount is not
/// seen here; install then says so when it writes.
fn tempfile_probe(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(dir) else {
        return false;
    };
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2)?.parse::<u32>().ok())
        });
    match uid {
        Some(0) => true,
        Some(u) if u == m.uid() => m.mode() & 0o200 != 0,
        Some(_) => m.mode() & 0o002 != 0,
        None => false,
    }
}
