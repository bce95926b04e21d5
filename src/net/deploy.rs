//! `mc apply` from start to end, for both faces: plan the mc change, check
//! it with the real m4, write it, rebuild the cf, restart sendmail, prove
//! what it serves, and put everything back when that fails. Each step is
//! reported through a callback as it happens (the CLI prints it, the GUI
//! shows it); nothing here prints.

use super::probe::ProbeReport;
use super::restart::{self, Expect};
use super::Error;
use crate::store::home::Home;
use crate::store::mc::{self, Plan};
use crate::store::{certfiles, refused};
use std::path::PathBuf;

/// What to do.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub to: PathBuf,
    pub mc: PathBuf,
    pub fqdn: Option<String>,
    /// Plan and check only; write nothing.
    pub dry_run: bool,
    pub rebuild: bool,
    /// The cf to rebuild (default: the mc's name with `.cf`).
    pub cf: Option<PathBuf>,
    /// Restart (implies rebuild): `Some(None)` = the system's way,
    /// `Some(Some(cmd))` = this command.
    pub restart: Option<Option<String>>,
    /// The daemon address to probe (default: from the cf).
    pub probe: Option<String>,
    /// The mc text a preview showed: refuse when the plan now differs
    /// (the GUI asks before it writes).
    pub expect_new: Option<String>,
}

/// A step, as it happens.
#[derive(Debug, Clone)]
pub enum Step {
    Planned(Box<Plan>),
    DryRun,
    Wrote {
        backup: PathBuf,
    },
    Note(String),
    Rebuilt {
        cf: PathBuf,
        how: String,
        backup: Option<PathBuf>,
    },
    CfUnchanged(PathBuf),
    Restarting(String),
    RestartOutput(String),
    Proved {
        target: String,
        report: Box<ProbeReport>,
    },
    Failed(String),
    /// The old files are back; the daemon restarted with them (its probe)
    /// or the restart failed.
    RolledBack {
        restarted: Result<Box<ProbeReport>, String>,
    },
}

impl Step {
    /// The step in words, for the CLI and the GUI alike (`Planned`: its
    /// headline; the diff and notes are in the plan).
    pub fn describe(&self, mc: &std::path::Path) -> String {
        match self {
            Step::Planned(plan) if plan.changes() => format!("{}: the changes", mc.display()),
            Step::Planned(_) => format!(
                "{}: already has these settings; nothing to change",
                mc.display()
            ),
            Step::DryRun => format!("(dry run: {} not changed)", mc.display()),
            Step::Wrote { backup } => format!(
                "wrote {} (the previous version is {})",
                mc.display(),
                backup.display()
            ),
            Step::Note(n) => format!("note: {n}"),
            Step::Rebuilt { cf, how, backup } => format!(
                "rebuilt {} ({how}){}",
                cf.display(),
                backup
                    .as_ref()
                    .map(|b| format!("; the previous version is {}", b.display()))
                    .unwrap_or_default()
            ),
            Step::CfUnchanged(cf) => format!("{} is already what the mc builds", cf.display()),
            Step::Restarting(cmd) => format!("restarting sendmail: {cmd}"),
            Step::RestartOutput(out) => format!("  {}", out.replace('\n', "\n  ")),
            Step::Proved { target, report } => {
                let c = report.server_cert.as_ref();
                format!(
                    "sendmail at {target} offers STARTTLS ({} {}) and serves {} (serial {}, expires {}): verify=OK",
                    report.tls_version.as_deref().unwrap_or("?"),
                    report.cipher.as_deref().unwrap_or("?"),
                    c.map(|c| c.subject.as_str()).unwrap_or("?"),
                    c.map(|c| c.serial.as_str()).unwrap_or("?"),
                    c.map(|c| c.not_after.as_str()).unwrap_or("?"),
                )
            }
            Step::Failed(why) => format!(
                "{why}\nrolling back: the previous files go back, and sendmail is restarted again"
            ),
            Step::RolledBack { restarted } => match restarted {
                Ok(r) => match (r.starttls, &r.server_cert) {
                    (true, Some(c)) => format!(
                        "rolled back: sendmail offers STARTTLS again with {} (serial {})",
                        c.subject, c.serial
                    ),
                    _ => format!(
                        "rolled back, but sendmail does not offer STARTTLS: {}",
                        r.error.clone().unwrap_or_default()
                    ),
                },
                Err(e) => format!("rolled back the files, but the restart failed: {e}"),
            },
        }
    }

    /// A result (stdout in the CLI), not a remark along the way (stderr).
    pub fn is_result(&self) -> bool {
        matches!(
            self,
            Step::Wrote { .. }
                | Step::Rebuilt { .. }
                | Step::CfUnchanged(_)
                | Step::Restarting(_)
                | Step::RestartOutput(_)
                | Step::Proved { .. }
        )
    }
}

/// How it ended: `true` when everything asked for was done and proven.
pub fn apply(home: &Home, o: &ApplyOptions, on: &mut dyn FnMut(Step)) -> Result<bool, Error> {
    let files = mc::install_files(&o.to, o.fqdn.as_deref())?;
    let restart_cmd = match &o.restart {
        None => None,
        Some(Some(c)) => Some(c.clone()),
        Some(None) => Some(restart::system_restart_command().ok_or_else(|| {
            refused(
                "no way to restart sendmail is known here (no systemd, no /etc/init.d/sendmail)",
                "give a restart command (--restart-command CMD)",
            )
        })?),
    };
    let _lock = mc::lock(&o.mc)?;
    let plan = mc::plan(&o.mc, &files)?;
    on(Step::Planned(Box::new(plan.clone())));
    mc::verify(&plan, &files)?;
    if let Some(want) = &o.expect_new {
        if *want != plan.new {
            return Err(refused(
                format!("{} changed since the preview", o.mc.display()),
                "nothing was written; look at the new preview and apply again",
            )
            .into());
        }
    }
    if o.dry_run {
        on(Step::DryRun);
        return Ok(true);
    }
    if plan.changes() {
        let applied = mc::apply(&plan)?;
        on(Step::Wrote {
            backup: applied.backup,
        });
    }
    if !o.rebuild && restart_cmd.is_none() {
        return Ok(true);
    }
    let cf = o.cf.clone().unwrap_or_else(|| mc::cf_for(&o.mc));
    if let Some(n) = mc::slow_start_note() {
        on(Step::Note(n));
    }
    let rebuilt = match mc::rebuild(&o.mc, &cf) {
        Ok(r) => r,
        Err(e) => {
            if plan.changes() {
                mc::roll_back(&o.mc, &plan.old, None)?;
                on(Step::Note(format!(
                    "put back the previous {}",
                    o.mc.display()
                )));
            }
            return Err(e.into());
        }
    };
    let cf_changed = rebuilt.old.as_deref() != Some(rebuilt.text.as_bytes());
    if cf_changed {
        let backup = mc::install_cf(&rebuilt)?;
        on(Step::Rebuilt {
            cf: cf.clone(),
            how: rebuilt.how.clone(),
            backup,
        });
    } else {
        on(Step::CfUnchanged(cf.clone()));
    }
    let Some(cmd) = restart_cmd else {
        return Ok(true);
    };
    let expect = Expect {
        target: o
            .probe
            .clone()
            .unwrap_or_else(|| mc::daemon_address(&rebuilt.text)),
        ca_path: files.ca_path.clone(),
        sha256: certfiles::read_cert_file(&files.cert)?.sha256_fingerprint,
    };
    on(Step::Restarting(cmd.clone()));
    let proof = match restart::restart(&cmd) {
        Ok(out) => {
            if !out.is_empty() {
                on(Step::RestartOutput(out));
            }
            restart::prove(home, &expect)
        }
        Err(e) => Err(e.to_string()),
    };
    match proof {
        Ok(report) => {
            on(Step::Proved {
                target: expect.target,
                report: Box::new(report),
            });
            Ok(true)
        }
        Err(why) => {
            on(Step::Failed(why));
            roll_back_and_restart(
                home,
                &o.mc,
                &plan,
                cf_changed.then_some((&cf, &rebuilt)),
                &cmd,
                &expect.target,
                on,
            )?;
            Ok(false)
        }
    }
}

fn roll_back_and_restart(
    home: &Home,
    mc_path: &std::path::Path,
    plan: &Plan,
    cf: Option<(&PathBuf, &mc::Rebuilt)>,
    cmd: &str,
    target: &str,
    on: &mut dyn FnMut(Step),
) -> Result<(), Error> {
    mc::roll_back(
        mc_path,
        &plan.old,
        cf.map(|(p, r)| (p.as_path(), r.old.as_deref())),
    )?;
    let restarted = restart::restart(cmd)
        .map_err(|e| e.to_string())
        .and_then(|_| restart::probe_when_up(home, target, None))
        .map(Box::new);
    on(Step::RolledBack { restarted });
    Ok(())
}

/// `install … --restart` and `install --all --restart`: install, then —
/// when sendmail (its cf) reads a file that changed — restart it and prove
/// it serves its `ServerCertFile`, verified against its `CACertPath`; when
/// it does not, every file goes back, sendmail is restarted again, and the
/// result is `false`.
pub fn install_and_restart(
    home: &Home,
    jobs: &[(String, PathBuf)],
    external: Option<&crate::store::install::External>,
    restart_cmd: Option<String>,
    cf: &std::path::Path,
    probe: Option<String>,
    on: &mut dyn FnMut(Step),
) -> Result<bool, Error> {
    use crate::store::install;
    let cmd = match restart_cmd {
        Some(c) => c,
        None => restart::system_restart_command().ok_or_else(|| {
            refused(
                "no way to restart sendmail is known here (no systemd, no /etc/init.d/sendmail)",
                "give a restart command (--restart-command CMD)",
            )
        })?,
    };
    let cf_text =
        String::from_utf8_lossy(&crate::store::fsutil::read_limited(cf, 16 * 1024 * 1024)?)
            .into_owned();
    let settings = crate::core::sendmail_cf::parse_cf(&cf_text);
    let canon = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p));
    let read_by_sendmail: Vec<PathBuf> = [
        &settings.server_cert,
        &settings.server_key,
        &settings.ca_file,
        &settings.crl,
    ]
    .into_iter()
    .flatten()
    .map(|p| canon(p))
    .collect();
    let ca_dir = settings.ca_path.as_deref().map(canon);
    let mut saved = Vec::new();
    let mut touched = false;
    for (fqdn, dir) in jobs {
        // What the files held before is read under the install's own locks.
        let (r, before) = install::install_saving(home, fqdn, dir, external)?;
        for f in r
            .plan
            .files
            .iter()
            .filter(|f| !matches!(f.state, install::FileState::Unchanged))
        {
            let p = canon(&f.path.display().to_string());
            if read_by_sendmail.contains(&p) || ca_dir.as_ref().is_some_and(|d| p.starts_with(d)) {
                touched = true;
            }
        }
        on(Step::Note(format!(
            "installed {fqdn} into {} ({} file(s) written)",
            dir.display(),
            before.len()
        )));
        saved.push((before, r.plan.capath.clone()));
    }
    if !touched {
        on(Step::Note(format!(
            "sendmail ({}) reads none of the files that changed: not restarted",
            cf.display()
        )));
        return Ok(true);
    }
    let (Some(server_cert), Some(ca_path)) = (&settings.server_cert, &settings.ca_path) else {
        return Err(refused(
            format!(
                "{} has no ServerCertFile or CACertPath to prove a restart against",
                cf.display()
            ),
            "mc apply --to DIR puts an install's settings into the configuration",
        )
        .into());
    };
    let expect = Expect {
        target: probe.unwrap_or_else(|| mc::daemon_address(&cf_text)),
        ca_path: PathBuf::from(ca_path),
        sha256: certfiles::read_cert_file(std::path::Path::new(server_cert))?.sha256_fingerprint,
    };
    on(Step::Restarting(cmd.clone()));
    let proof = restart::restart(&cmd)
        .map_err(|e| e.to_string())
        .and_then(|out| {
            if !out.is_empty() {
                on(Step::RestartOutput(out));
            }
            restart::prove(home, &expect)
        });
    match proof {
        Ok(report) => {
            on(Step::Proved {
                target: expect.target,
                report: Box::new(report),
            });
            Ok(true)
        }
        Err(why) => {
            on(Step::Failed(why));
            for (before, capath) in &saved {
                install::restore(before, capath)?;
            }
            let restarted = restart::restart(&cmd)
                .map_err(|e| e.to_string())
                .and_then(|_| restart::probe_when_up(home, &expect.target, None))
                .map(Box::new);
            on(Step::RolledBack { restarted });
            Ok(false)
        }
    }
}
