//! `probe HOST:PORT`: the probe client on the command line.

use super::{out, Error};
use crate::net::probe::{self as net_probe, DEFAULT_EHLO_NAME, DEFAULT_TIMEOUT};
use crate::net::setup::{probe_options, ProbeSetup};
use crate::store::home::Home;
use std::io::Write;
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
    #[arg(long, value_name = "NAME", default_value = DEFAULT_EHLO_NAME)]
    pub ehlo: String,
    /// Seconds to wait for each step
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs())]
    pub timeout: u64,
    /// Read the key even if others may read it
    #[arg(long)]
    pub allow_insecure_key: bool,
    /// JSON: STARTTLS result, TLS version, cipher, verify, server certificate, EHLO replies, timings
    #[arg(long)]
    pub json: bool,
}

pub fn probe(home: &Home, args: ProbeArgs) -> Result<i32, Error> {
    let opts = probe_options(
        home,
        ProbeSetup {
            client: args.cert.clone().zip(args.key.clone()),
            ca_path: args.ca_path.clone(),
            ca_file: args.ca_file.clone(),
            ehlo_name: args.ehlo.clone(),
            timeout: Duration::from_secs(args.timeout),
            allow_insecure_key: args.allow_insecure_key,
            ..ProbeSetup::new(args.target.clone())
        },
    )?;
    let report = net_probe::probe(&opts);
    if args.json {
        crate::cli::print_json(&report)?;
    } else {
        out!("{report}");
    }
    Ok(
        if report.starttls && report.verify == crate::core::verify::Verify::Ok {
            0
        } else {
            1
        },
    )
}
