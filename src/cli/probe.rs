//! `probe HOST:PORT`: the probe client on the command line.

use crate::core::pem;
use crate::net::probe::{self as net_probe, ClientAuth, ProbeOptions};
use crate::store::home::{read_key_file, Home};
use crate::store::{certfiles, refused, Error};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The system's CA bundle (Debian's ca-certificates).
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

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

/// A file's certificates for rustls.
pub(crate) fn certs_in_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    Ok(certfiles::ders_in_file(path)?
        .into_iter()
        .map(CertificateDer::from)
        .collect())
}

/// A CA directory's certificates for rustls.
pub(crate) fn certs_in_dir(dir: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    Ok(certfiles::ders_in_dir(dir)?
        .into_iter()
        .map(CertificateDer::from)
        .collect())
}

fn roots(home: &Home, args: &ProbeArgs) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut roots = Vec::new();
    if let Some(dir) = &args.ca_path {
        roots.extend(certs_in_dir(dir)?);
    }
    if let Some(f) = &args.ca_file {
        roots.extend(certs_in_file(f)?);
    }
    if args.ca_path.is_none() && args.ca_file.is_none() {
        if home.ca_cert_path().exists() {
            roots.extend(certs_in_file(&home.ca_cert_path())?);
        }
        if Path::new(SYSTEM_BUNDLE).exists() {
            roots.extend(certs_in_file(Path::new(SYSTEM_BUNDLE))?);
        }
    }
    Ok(roots)
}

/// A certificate chain and its key for TLS (client or server side).
pub(crate) fn client_auth_from(
    cert: Option<&Path>,
    key: Option<&Path>,
    allow_insecure_key: bool,
) -> Result<Option<ClientAuth>, Error> {
    let (Some(cert_path), Some(key_path)) = (cert, key) else {
        return Ok(None);
    };
    let chain = certs_in_file(cert_path)?;
    let key_pem = read_key_file(key_path, allow_insecure_key)?;
    let bad_key = || {
        refused(
            format!("{}: no usable private key", key_path.display()),
            "give an unencrypted PEM key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        )
    };
    let blocks = pem::parse(key_pem.as_bytes()).map_err(|e| {
        refused(
            format!("{}: {e}", key_path.display()),
            "give a PEM private key",
        )
    })?;
    let block = blocks
        .into_iter()
        .find(|b| {
            b.label.ends_with("PRIVATE KEY") && !b.has_headers && b.label != "ENCRYPTED PRIVATE KEY"
        })
        .ok_or_else(bad_key)?;
    let key = match block.label.as_str() {
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(block.der.into()),
        "EC PRIVATE KEY" => PrivateKeyDer::Sec1(block.der.into()),
        _ => PrivateKeyDer::Pkcs8(block.der.into()),
    };
    Ok(Some((chain, Arc::new(key))))
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
        roots: roots(home, &args)?,
        client_auth: client_auth_from(
            args.cert.as_deref(),
            args.key.as_deref(),
            args.allow_insecure_key,
        )?,
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
