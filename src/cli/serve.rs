//! `serve`: the embedded STARTTLS SMTP server on the command line.

use super::{refused, Error};
use crate::net::server::{self, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_SESSIONS, DEFAULT_TIMEOUT};
use crate::net::setup::{self, ServerSetup};
use crate::store::home::Home;
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
    #[arg(long, default_value_t = DEFAULT_MAX_SESSIONS)]
    pub max_sessions: usize,
    /// Largest message in bytes
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_SIZE)]
    pub max_size: usize,
    /// Seconds a client may stay silent
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs())]
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
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| refused(format!("cannot handle signals: {e}"), "report this"))?;
    }
    let setup = ServerSetup {
        cert_and_key: a.cert.zip(a.key),
        ca_path: a.ca_path,
        access: a.access,
        maildir: a.maildir,
        hostname: a.hostname,
        max_sessions: a.max_sessions,
        max_message_size: a.max_size,
        timeout: Duration::from_secs(a.timeout),
        tls_perm_err: a.tls_perm_err,
        allow_insecure_key: a.allow_insecure_key,
        ..ServerSetup::new(a.listen)
    };
    let plan = setup::server_config(home, setup)?;
    eprintln!("starttls-studio: {}", plan.describe());
    server::serve(plan.config, stop, None)?;
    eprintln!("starttls-studio: stopped");
    Ok(0)
}
