//! `mc apply`: an install's TLS files into the real sendmail.mc, then
//! (asked) the cf rebuilt and sendmail restarted and probed, with the old
//! files put back when the restarted sendmail does not serve the install.

use super::{outln, refused, Error};
use crate::net::restart::{self, Expect};
use crate::store::home::Home;
use crate::store::{certfiles, mc};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum McCommand {
    /// Write an install's TLS settings (confCACERT_PATH, confCACERT, confSERVER_CERT/_KEY, confCLIENT_CERT/_KEY) into sendmail.mc, after every earlier definition of them (also Debian's starttls.m4 include); the diff goes to stderr first, FILE.bak keeps the old mc
    Apply(ApplyArgs),
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The install directory (`install FQDN --to DIR`)
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// The sendmail.mc to edit
    #[arg(long, value_name = "FILE", default_value = "/etc/mail/sendmail.mc")]
    pub mc: PathBuf,
    /// The host, when DIR holds several
    #[arg(long, value_name = "FQDN")]
    pub fqdn: Option<String>,
    /// Print the diff and what m4 would build; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Rebuild sendmail.cf from the mc the way the system does (checked by sendmail before it replaces the old cf)
    #[arg(long)]
    pub rebuild: bool,
    /// The cf to rebuild [default: the mc's name with .cf]
    #[arg(long, value_name = "FILE")]
    pub cf: Option<PathBuf>,
    /// Rebuild, restart sendmail, probe it and show the certificate it serves; on a mismatch put the old mc and cf back and restart again (implies --rebuild)
    #[arg(long)]
    pub restart: bool,
    /// How to restart sendmail [default: systemctl restart sendmail, else /etc/init.d/sendmail restart]
    #[arg(long, value_name = "CMD")]
    pub restart_command: Option<String>,
    /// The daemon address to probe after the restart [default: from the cf's DaemonPortOptions]
    #[arg(long, value_name = "HOST:PORT")]
    pub probe: Option<String>,
}

pub fn mc_cmd(home: &Home, c: McCommand) -> Result<i32, Error> {
    match c {
        McCommand::Apply(a) => apply(home, a),
    }
}

fn apply(home: &Home, a: ApplyArgs) -> Result<i32, Error> {
    let files = mc::install_files(&a.to, a.fqdn.as_deref())?;
    let restart_cmd = if a.restart {
        Some(match &a.restart_command {
            Some(c) => c.clone(),
            None => restart::system_restart_command().ok_or_else(|| {
                refused(
                    "no way to restart sendmail is known here (no systemd, no /etc/init.d/sendmail)",
                    "give --restart-command CMD",
                )
            })?,
        })
    } else {
        None
    };
    let _lock = mc::lock(&a.mc)?;
    let plan = mc::plan(&a.mc, &files)?;
    eprintln!(
        "{}: {}",
        plan.mc.display(),
        if plan.changes() {
            "the changes"
        } else {
            "already has these settings; nothing to change"
        }
    );
    if plan.changes() {
        eprint!("{}", plan.diff);
    }
    for n in &plan.notes {
        eprintln!("  {n}");
    }
    match &plan.check {
        Some(c) => eprintln!(
            "  m4 builds: CACertPath={} CACertFile={} ServerCertFile={} ServerKeyFile={} ({} Kaccess line(s){})",
            c.settings.ca_path.as_deref().unwrap_or("-"),
            c.settings.ca_file.as_deref().unwrap_or("-"),
            c.settings.server_cert.as_deref().unwrap_or("-"),
            c.settings.server_key.as_deref().unwrap_or("-"),
            c.kaccess_lines,
            if c.new_warnings.is_empty() {
                ", no new warning".to_string()
            } else {
                format!(", warnings: {}", c.new_warnings.join(" / "))
            }
        ),
        None => eprintln!("  m4 is not installed: what the mc builds was not checked"),
    }
    mc::verify(&plan, &files)?;
    if a.dry_run {
        eprintln!("(dry run: {} not changed)", plan.mc.display());
        return Ok(0);
    }
    if plan.changes() {
        let applied = mc::apply(&plan)?;
        outln!(
            "wrote {} (the previous version is {})",
            plan.mc.display(),
            applied.backup.display()
        );
    }
    if !a.rebuild && !a.restart {
        if plan.changes() {
            outln!("next: rebuild sendmail.cf and restart sendmail (or run again with --restart)");
        }
        return Ok(0);
    }
    let cf = a.cf.clone().unwrap_or_else(|| mc::cf_for(&a.mc));
    if let Some(n) = mc::slow_start_note() {
        eprintln!("note: {n}");
    }
    let rebuilt = match mc::rebuild(&a.mc, &cf) {
        Ok(r) => r,
        Err(e) => {
            if plan.changes() {
                mc::roll_back(&a.mc, &plan.old, None)?;
                eprintln!("put back the previous {}", a.mc.display());
            }
            return Err(e.into());
        }
    };
    let cf_changed = rebuilt.old.as_deref() != Some(rebuilt.text.as_bytes());
    if cf_changed {
        let bak = mc::install_cf(&rebuilt)?;
        outln!(
            "rebuilt {} ({}){}",
            cf.display(),
            rebuilt.how,
            bak.map(|b| format!("; the previous version is {}", b.display()))
                .unwrap_or_default()
        );
    } else {
        outln!("{} is already what the mc builds", cf.display());
    }
    let Some(cmd) = restart_cmd else {
        outln!("next: restart sendmail (it reads its cf and certificates only when it starts), or run again with --restart");
        return Ok(0);
    };
    let expect = Expect {
        target: a
            .probe
            .clone()
            .unwrap_or_else(|| mc::daemon_address(&rebuilt.text)),
        ca_path: files.ca_path.clone(),
        sha256: certfiles::read_cert_file(&files.cert)?.sha256_fingerprint,
    };
    outln!("restarting sendmail: {cmd}");
    let restarted = restart::restart(&cmd);
    let proof = match restarted {
        Ok(out) => {
            if !out.is_empty() {
                outln!("  {}", out.replace('\n', "\n  "));
            }
            restart::prove(home, &expect)
        }
        Err(e) => Err((e.to_string(), None)),
    };
    match proof {
        Ok(r) => {
            let c = r.server_cert.as_ref();
            outln!(
                "sendmail at {} offers STARTTLS ({} {}) and serves {} (serial {}, expires {}): verify=OK against {}",
                expect.target,
                r.tls_version.as_deref().unwrap_or("?"),
                r.cipher.as_deref().unwrap_or("?"),
                c.map(|c| c.subject.as_str()).unwrap_or("?"),
                c.map(|c| c.serial.as_str()).unwrap_or("?"),
                c.map(|c| c.not_after.as_str()).unwrap_or("?"),
                files.ca_path.display()
            );
            Ok(0)
        }
        Err((why, _)) => {
            eprintln!("starttls-studio: error: {why}");
            eprintln!(
                "rolling back: the previous {} and {} go back, and sendmail is restarted again",
                a.mc.display(),
                cf.display()
            );
            mc::roll_back(
                &a.mc,
                &plan.old,
                cf_changed.then_some((cf.as_path(), rebuilt.old.as_deref())),
            )?;
            match restart::restart(&cmd) {
                Ok(_) => match restart::probe_when_up(home, &expect.target, None) {
                    Ok(r) => eprintln!(
                        "after the rollback, sendmail at {} {}",
                        expect.target,
                        match (r.starttls, &r.server_cert) {
                            (true, Some(c)) => format!(
                                "offers STARTTLS again with {} (serial {})",
                                c.subject, c.serial
                            ),
                            _ =>
                                format!("does not offer STARTTLS: {}", r.error.unwrap_or_default()),
                        }
                    ),
                    Err(e) => eprintln!("after the rollback, the probe failed: {e}"),
                },
                Err(e) => eprintln!(
                    "starttls-studio: error: the restart after the rollback failed too: {e}"
                ),
            }
            Ok(1)
        }
    }
}
