//! `probe HOST:PORT`: the probe client on the command line.

use crate::net::probe::{self as net_probe, ProbeOptions};
use crate::store::certfiles::load_identity;
use crate::store::home::Home;
use crate::store::{live, refused, Error};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// Server to test, e.g. 127.0.0.1:25 or mx.example.org:25
    #[arg(value_name = "HOST:PORT")]
    pub target: String,
    /// Client certificate to present (with --key)
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key of the client certificate
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Trust the CAs in this directory (like confCACERT_PATH) [default: the home's CA and the system CAs]
    #[arg(long, value_name = "DIR")]
    pub ca_path: Option<PathBuf>,
    /// Trust the CAs in this file (like confCACERT)
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Name to give in EHLO
    #[arg(
        long,
        value_name = "NAME",
        default_value = "probe.starttls-studio.invalid"
    )]
    pub ehlo: String,
    /// Seconds to wait for each step
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Read the key even if others may read it
    #[arg(long)]
    pub allow_insecure_key: bool,
    /// JSON: STARTTLS result, TLS version, cipher, verify, server certificate, EHLO replies, timings
    #[arg(long)]
    pub json: bool,
}

pub fn probe(home: &Home, args: ProbeArgs) -> Result<i32, Error> {
    if !args.target.contains(':') {
        return Err(refused(
            format!("`{}` has no port", args.target),
            "write HOST:PORT, e.g. 127.0.0.1:25",
        ));
    }
    let opts = ProbeOptions {
        target: args.target.clone(),
        roots: live::probe_roots(home, args.ca_path.as_deref(), args.ca_file.as_deref())?,
        client_auth: match (&args.cert, &args.key) {
            (Some(c), Some(k)) => Some(load_identity(c, k, args.allow_insecure_key)?),
            _ => None,
        },
        ehlo_name: args.ehlo.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let report = net_probe::probe(&opts);
    if args.json {
        crate::cli::print_json(&report)?;
    } else {
        print!("{report}");
    }
    Ok(if report.starttls && report.verify == "OK" {
        0
    } else {
        1
    })
}
