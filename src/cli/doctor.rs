//! `doctor`: prints the audit of `store::doctor`, applies its safe fixes
//! with `--fix`.

use super::print_json;
use super::{outln, Error};
use crate::store::doctor::{self, DoctorInput, Overrides, Report, Severity};
use clap::Args;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// sendmail.mc to read [default: /etc/mail/sendmail.mc if present]
    #[arg(long, value_name = "FILE")]
    mc: Option<PathBuf>,
    /// sendmail.cf to read; its settings win over the mc [default: /etc/mail/sendmail.cf if present]
    #[arg(long, value_name = "FILE")]
    cf: Option<PathBuf>,
    /// CA directory (confCACERT_PATH), instead of the configured one
    #[arg(long, value_name = "DIR")]
    ca_path: Option<PathBuf>,
    /// CA file (confCACERT), instead of the configured one
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Certificate for server and client (confSERVER_CERT, confCLIENT_CERT)
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Private key for server and client (confSERVER_KEY, confCLIENT_KEY)
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// CRL file (confCRL)
    #[arg(long, value_name = "FILE")]
    crl: Option<PathBuf>,
    /// Access map source file (the .db beside it is checked too)
    #[arg(long, value_name = "FILE")]
    access: Option<PathBuf>,
    /// Apply the safe fixes (modes, rehash, makemap), then check again
    #[arg(long)]
    fix: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FixedJson {
    action: doctor::FixAction,
    ok: bool,
    result: String,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    fixed: Option<&'a [FixedJson]>,
    #[serde(flatten)]
    report: &'a Report,
}

fn print_report(r: &Report) -> Result<(), Error> {
    for f in &r.findings {
        outln!("{} {}: {}", f.severity, f.id, f.message);
        if !f.explanation.is_empty() {
            outln!("    {}", f.explanation);
        }
        if let Some(fix) = &f.fix {
            let auto = if fix.action.is_some() {
                " (doctor --fix does this)"
            } else {
                ""
            };
            outln!("    fix: {}{auto}", fix.description);
        }
    }
    outln!(
        "{} error(s), {} warning(s); read: {}",
        r.count(Severity::Error),
        r.count(Severity::Warning),
        if r.sources.is_empty() {
            "no configuration file".to_string()
        } else {
            r.sources
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    Ok(())
}

pub fn doctor(a: DoctorArgs) -> Result<i32, Error> {
    let mut input = if a.mc.is_none() && a.cf.is_none() {
        DoctorInput::system()
    } else {
        DoctorInput {
            mc: a.mc,
            cf: a.cf,
            ..Default::default()
        }
    };
    input.overrides = Overrides {
        ca_file: a.ca_file,
        ca_path: a.ca_path,
        server_cert: a.cert.clone(),
        server_key: a.key.clone(),
        client_cert: a.cert,
        client_key: a.key,
        crl: a.crl,
        access: a.access,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut report = doctor::run(&input, now)?;
    let mut fixed = Vec::new();
    if a.fix {
        for action in report.actions() {
            let r = doctor::apply_fix(&action);
            if !a.json {
                match &r {
                    Ok(m) => outln!("fixed: {m}"),
                    Err(e) => outln!("not fixed: {e}"),
                }
            }
            fixed.push(FixedJson {
                action,
                ok: r.is_ok(),
                result: r.unwrap_or_else(|e| e.to_string()),
            });
        }
        if !fixed.is_empty() {
            report = doctor::run(&input, now)?;
            if !a.json {
                outln!("after the fixes:");
            }
        }
    }
    if a.json {
        print_json(&JsonOut {
            fixed: a.fix.then_some(&fixed[..]),
            report: &report,
        })?;
    } else {
        print_report(&report)?;
    }
    Ok(if report.count(Severity::Error) > 0 {
        1
    } else {
        0
    })
}
