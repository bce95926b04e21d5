//! `mc apply`: prints the steps of [`crate::net::deploy::apply`] (the diff
//! and notes on stderr before anything is written, results on stdout).

use super::{outln, Error};
use crate::net::deploy::{self, ApplyOptions, Step};
use crate::store::home::Home;
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
    #[arg(long, value_name = "CMD", requires = "restart")]
    pub restart_command: Option<String>,
    /// The daemon address to probe after the restart [default: from the cf's DaemonPortOptions]
    #[arg(long, value_name = "HOST:PORT", requires = "restart")]
    pub probe: Option<String>,
}

pub fn mc_cmd(home: &Home, c: McCommand) -> Result<i32, Error> {
    match c {
        McCommand::Apply(a) => apply(home, a),
    }
}

fn apply(home: &Home, a: ApplyArgs) -> Result<i32, Error> {
    let opts = ApplyOptions {
        to: a.to,
        mc: a.mc.clone(),
        fqdn: a.fqdn,
        dry_run: a.dry_run,
        rebuild: a.rebuild,
        cf: a.cf,
        restart: a.restart.then_some(a.restart_command),
        probe: a.probe,
        expect_new: None,
    };
    let mut io: Result<(), Error> = Ok(());
    let mut print = |step: Step| {
        if io.is_ok() {
            io = print_step(&a.mc, step);
        }
    };
    let ok = deploy::apply(home, &opts, &mut print)?;
    io?;
    Ok(if ok { 0 } else { 1 })
}

fn print_step(mc: &std::path::Path, step: Step) -> Result<(), Error> {
    match step {
        Step::Planned(plan) => {
            if plan.changes() {
                eprintln!("{}: the changes", mc.display());
                eprint!("{}", plan.diff);
            } else {
                eprintln!(
                    "{}: already has these settings; nothing to change",
                    mc.display()
                );
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
        }
        Step::DryRun => eprintln!("(dry run: {} not changed)", mc.display()),
        Step::Wrote { backup } => outln!(
            "wrote {} (the previous version is {})",
            mc.display(),
            backup.display()
        ),
        Step::Note(n) => eprintln!("note: {n}"),
        Step::Rebuilt { cf, how, backup } => outln!(
            "rebuilt {} ({how}){}",
            cf.display(),
            backup
                .map(|b| format!("; the previous version is {}", b.display()))
                .unwrap_or_default()
        ),
        Step::CfUnchanged(cf) => outln!("{} is already what the mc builds", cf.display()),
        Step::Restarting(cmd) => outln!("restarting sendmail: {cmd}"),
        Step::RestartOutput(out) => outln!("  {}", out.replace('\n', "\n  ")),
        Step::Proved { target, report } => {
            let c = report.server_cert.as_ref();
            outln!(
                "sendmail at {target} offers STARTTLS ({} {}) and serves {} (serial {}, expires {}): verify=OK",
                report.tls_version.as_deref().unwrap_or("?"),
                report.cipher.as_deref().unwrap_or("?"),
                c.map(|c| c.subject.as_str()).unwrap_or("?"),
                c.map(|c| c.serial.as_str()).unwrap_or("?"),
                c.map(|c| c.not_after.as_str()).unwrap_or("?"),
            )
        }
        Step::Failed(why) => {
            eprintln!("starttls-studio: error: {why}");
            eprintln!(
                "rolling back: the previous mc and cf go back, and sendmail is restarted again"
            );
        }
        Step::RolledBack { restarted } => match restarted {
            Ok(r) => match (r.starttls, &r.server_cert) {
                (true, Some(c)) => eprintln!(
                    "rolled back: sendmail offers STARTTLS again with {} (serial {})",
                    c.subject, c.serial
                ),
                _ => eprintln!(
                    "rolled back, but sendmail does not offer STARTTLS: {}",
                    r.error.clone().unwrap_or_default()
                ),
            },
            Err(e) => eprintln!(
                "starttls-studio: error: rolled back the files, but the restart failed: {e}"
            ),
        },
    }
    Ok(())
}
