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
    /// DANE: the TLSA records a DNS server (HOST[:PORT]) publishes for the served certificate's host, checked against its key
    #[arg(long, value_name = "SERVER", conflicts_with = "tlsa_zone")]
    tlsa_dns: Option<String>,
    /// DANE: the TLSA records of a zone-file excerpt, checked against the served key
    #[arg(long, value_name = "FILE")]
    tlsa_zone: Option<PathBuf>,
    /// The record name's host and port for the DANE checks [default: the served certificate's CN, port 25]
    #[arg(long, value_name = "FQDN")]
    tlsa_name: Option<String>,
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
            mc: a.mc.clone(),
            cf: a.cf.clone(),
            ..Default::default()
        }
    };
    input.overrides = Overrides {
        ca_file: a.ca_file.clone(),
        ca_path: a.ca_path.clone(),
        server_cert: a.cert.clone(),
        server_key: a.key.clone(),
        client_cert: a.cert.clone(),
        client_key: a.key.clone(),
        crl: a.crl.clone(),
        access: a.access.clone(),
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
    if a.tlsa_dns.is_some() || a.tlsa_zone.is_some() {
        dane_checks(&a, &mut report)?;
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

/// `--tlsa-dns`/`--tlsa-zone`: the published set against the served key.
fn dane_checks(a: &DoctorArgs, report: &mut Report) -> Result<(), Error> {
    let Some(served) = report.settings.server_cert.clone().map(PathBuf::from) else {
        return Err(super::refused(
            "the DANE checks need the certificate sendmail serves, and no ServerCertFile is configured",
            "give it with --cert FILE",
        ));
    };
    let info = crate::store::certfiles::read_cert_file(&served)?;
    let host = a
        .tlsa_name
        .clone()
        .or(info.subject_cn.clone())
        .unwrap_or_default();
    let name = format!("_25._tcp.{}", host.trim_end_matches('.'));
    let (records, source) = if let Some(server) = &a.tlsa_dns {
        let r = crate::net::dns::tlsa(server, &name).map_err(|e| {
            super::refused(
                format!("asking {server} for {name} TLSA: {e}"),
                "check the server address",
            )
        })?;
        (
            r.into_iter()
                .map(|t| (t.usage, t.selector, t.mtype, t.data))
                .collect::<Vec<_>>(),
            format!("the DNS at {server}"),
        )
    } else {
        let f = a.tlsa_zone.as_ref().expect("checked by the caller");
        let text = crate::store::fsutil::read_limited(f, 1 << 20)?;
        let r = doctor::dane::parse_zone(&String::from_utf8_lossy(&text)).map_err(|e| {
            super::refused(
                format!("{}: {e}", f.display()),
                "give lines such as `_25._tcp.mx.example.org. IN TLSA 3 1 1 HEX`",
            )
        })?;
        (r, f.display().to_string())
    };
    report.findings.extend(doctor::dane::findings(
        &served, &info.der, &name, &source, &records,
    ));
    Ok(())
}
