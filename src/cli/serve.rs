//! `serve`: the embedded STARTTLS SMTP server on the command line.

use crate::cli::probe::{certs_in_dir, certs_in_file, client_auth_from};
use crate::net::server::{self, ServerConfig};
use crate::store::home::Home;
use crate::store::{access as store_access, refused, Error};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:2525
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Server certificate [default: the home's only host certificate, or --hostname's]
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Its private key
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// CAs for client certificates, announced to clients (like confCACERT_PATH) [default: the home's CA]
    #[arg(long, value_name = "DIR")]
    pub ca_path: Option<PathBuf>,
    /// The access map to apply [default: none]
    #[arg(long, value_name = "FILE")]
    pub access: Option<PathBuf>,
    /// Where accepted messages are stored, one file each [default: HOME/maildir]
    #[arg(long, value_name = "DIR")]
    pub maildir: Option<PathBuf>,
    /// Our host name in the greeting and Received: [default: the certificate's CN]
    #[arg(long)]
    pub hostname: Option<String>,
    /// Sessions at once
    #[arg(long, default_value_t = 100)]
    pub max_sessions: usize,
    /// Largest message in bytes
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub max_size: usize,
    /// Seconds a client may stay silent
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// The sendmail.cf has define(`TLS_PERM_ERR')
    #[arg(long)]
    pub tls_perm_err: bool,
    /// Allow listening on a non-loopback address
    #[arg(long)]
    pub allow_remote: bool,
    /// Read keys even if others may read them
    #[arg(long)]
    pub allow_insecure_key: bool,
}

pub fn serve(home: &Home, a: ServeArgs) -> Result<i32, Error> {
    if !a.listen.ip().is_loopback() && !a.allow_remote {
        return Err(refused(
            format!("{} is not a loopback address", a.listen),
            "this is a test server; pass --allow-remote to listen there anyway",
        ));
    }
    if !a.listen.ip().is_loopback() {
        eprintln!(
            "starttls-studio: warning: listening on {}, reachable from other hosts",
            a.listen
        );
    }
    let (cert_path, key_path) = match (a.cert, a.key) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let hosts = home.list()?;
            let pick = match &a.hostname {
                Some(h) => hosts.into_iter().find(|e| e.fqdn.eq_ignore_ascii_case(h)),
                None if hosts.len() == 1 => hosts.into_iter().next(),
                None => None,
            };
            let e = pick.ok_or_else(|| {
                refused(
                    "no server certificate: give --cert and --key",
                    "or --hostname naming a certificate in the home (see `cert list`)",
                )
            })?;
            (e.cert_path, e.key_path)
        }
    };
    let Some((chain, key)) =
        client_auth_from(Some(&cert_path), Some(&key_path), a.allow_insecure_key)?
    else {
        return Err(refused("no server certificate", "give --cert and --key"));
    };
    let ca_roots = match &a.ca_path {
        Some(dir) => certs_in_dir(dir)?,
        None if home.ca_cert_path().exists() => certs_in_file(&home.ca_cert_path())?,
        None => Vec::new(),
    };
    let access = match &a.access {
        Some(f) => store_access::load(f)?.database(),
        None => Default::default(),
    };
    let hostname = match a.hostname {
        Some(h) => h,
        None => crate::core::cert::CertInfo::from_der(&chain[0])
            .ok()
            .and_then(|i| i.subject_cn)
            .unwrap_or_else(|| "localhost".into()),
    };
    let maildir = a.maildir.unwrap_or_else(|| home.root.join("maildir"));
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| refused(format!("cannot handle signals: {e}"), "report this"))?;
    }
    eprintln!(
        "starttls-studio: serving {hostname} on {} (certificate {}, {} CA(s) for client certificates, access map {}, maildir {})",
        a.listen,
        cert_path.display(),
        ca_roots.len(),
        a.access.as_ref().map_or("none".to_string(), |p| p.display().to_string()),
        maildir.display()
    );
    let config = ServerConfig {
        listen: a.listen,
        hostname,
        cert_chain: chain,
        key: key.clone_key(),
        ca_roots,
        access,
        maildir,
        max_sessions: a.max_sessions.max(1),
        max_message_size: a.max_size,
        timeout: Duration::from_secs(a.timeout.max(1)),
        tls_perm_err: a.tls_perm_err,
    };
    server::serve(config, stop, None).map_err(|m| refused(m, "check the address and files"))?;
    eprintln!("starttls-studio: stopped");
    Ok(0)
}
