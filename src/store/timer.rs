//! The unattended renewal (`starttls-studio-renew.timer`, shipped disabled
//! by the Debian package): whether it is installed and enabled, when it
//! last ran, and which home it works on (`/etc/default/starttls-studio`).

use super::home::Home;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TIMER: &str = "starttls-studio-renew.timer";
pub const SERVICE: &str = "starttls-studio-renew.service";
pub const DEFAULTS: &str = "/etc/default/starttls-studio";

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TimerState {
    /// The unit files are there (the package is installed).
    pub installed: bool,
    /// `systemctl is-enabled`: `enabled`, `disabled`, … (`None`: systemd is
    /// not running here, or the timer is not installed).
    pub enabled: Option<String>,
    /// When the service last ran, as systemd says (`None`: never, or
    /// unknown).
    pub last_run: Option<String>,
    /// Its result (`success`, `exit-code`, …).
    pub last_result: Option<String>,
    /// The home the timer works on.
    pub home: Option<PathBuf>,
    /// That home is not the one given (the open one).
    pub other_home: bool,
}

fn systemctl(args: &[&str]) -> Option<String> {
    let out = Command::new("systemctl").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The home named in `/etc/default/starttls-studio`.
fn timer_home(defaults: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(defaults).ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("STARTTLS_STUDIO_HOME="))
        .map(|v| PathBuf::from(v.trim().trim_matches('"')))
        .next_back()
}

/// The timer as the system sees it, compared with `home`.
pub fn state(home: &Home) -> TimerState {
    let installed = [
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/etc/systemd/system",
    ]
    .iter()
    .any(|d| Path::new(d).join(TIMER).is_file());
    let mut s = TimerState {
        installed,
        home: timer_home(Path::new(DEFAULTS)),
        ..TimerState::default()
    };
    if installed && Path::new("/run/systemd/system").is_dir() {
        s.enabled = systemctl(&["is-enabled", TIMER]);
        let show = systemctl(&[
            "show",
            SERVICE,
            "-p",
            "ExecMainExitTimestamp",
            "-p",
            "Result",
        ])
        .unwrap_or_default();
        for l in show.lines() {
            match l.split_once('=') {
                Some(("ExecMainExitTimestamp", v)) if !v.is_empty() => s.last_run = Some(v.into()),
                Some(("Result", v)) if !v.is_empty() => s.last_result = Some(v.into()),
                _ => {}
            }
        }
    }
    if let Some(h) = &s.home {
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        s.other_home = canon(h) != canon(&home.root);
    }
    s
}

impl TimerState {
    /// One line for people.
    pub fn describe(&self) -> String {
        if !self.installed {
            return "the renewal timer is not installed (the Debian package installs it, disabled)"
                .into();
        }
        let mut t = match self.enabled.as_deref() {
            Some("enabled") => "the renewal timer is enabled".to_string(),
            Some(other) => format!("the renewal timer is {other} (systemctl enable --now {TIMER})"),
            None => {
                "the renewal timer is installed; systemd is not running here to say more".into()
            }
        };
        match (&self.last_run, &self.last_result) {
            (Some(r), Some(res)) => t.push_str(&format!("; last run {r} ({res})")),
            (Some(r), None) => t.push_str(&format!("; last run {r}")),
            _ => {}
        }
        if self.other_home {
            if let Some(h) = &self.home {
                t.push_str(&format!(
                    "; it works on the home {}, not this one ({DEFAULTS})",
                    h.display()
                ));
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_name_the_home_and_describe_says_whose() {
        let d = std::env::temp_dir().join(format!("sts-timer-{}", std::process::id()));
        std::fs::write(
            &d,
            "# c\nSTARTTLS_STUDIO_HOME=/srv/a\nSTARTTLS_STUDIO_HOME=\"/srv/b\"\n",
        )
        .unwrap();
        assert_eq!(timer_home(&d), Some(PathBuf::from("/srv/b")));
        let _ = std::fs::remove_file(&d);
        let s = TimerState {
            installed: true,
            enabled: Some("disabled".into()),
            home: Some("/srv/b".into()),
            other_home: true,
            ..TimerState::default()
        };
        let t = s.describe();
        assert!(
            t.contains("disabled") && t.contains("systemctl enable --now") && t.contains("/srv/b"),
            "{t}"
        );
        assert!(TimerState::default().describe().contains("not installed"));
    }
}
