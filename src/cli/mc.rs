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

pub(crate) fn print_step(mc: &std::path::Path, step: Step) -> Result<(), Error> {
    let text = step.describe(mc);
    if let Step::Planned(plan) = &step {
        eprintln!("{text}");
        if plan.changes() {
            eprint!("{}", plan.diff);
        }
        for n in &plan.notes {
            eprintln!("  {n}");
        }
        eprintln!("  {}", plan.check_summary());
    } else if let Step::Failed(_) = &step {
        eprintln!("starttls-studio: error: {text}");
    } else if step.is_result() {
        outln!("{text}");
    } else {
        eprintln!("{text}");
    }
    Ok(())
}
