//! Everything the probe and the embedded server read from disk before they
//! start: trust anchors, the server's identity, the access map. The CLI's
//! `probe`/`serve` and the GUI's live-test panel both build their
//! configuration here, so they cannot drift apart.

use super::certfiles::{certs_in_dir, certs_in_file, load_identity};
use super::home::Home;
use super::{access as store_access, refused, Error};
use crate::core::cert::CertInfo;
use crate::net::server::ServerConfig;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The system's CA bundle (Debian's ca-certificates).
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Trust anchors for the probe: the given CA directory and/or file, or by
/// default the home's CA plus the system CAs.
pub fn probe_roots(
    home: &Home,
    ca_path: Option<&Path>,
    ca_file: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut roots = Vec::new();
    if let Some(dir) = ca_path {
        roots.extend(certs_in_dir(dir)?);
    }
    if let Some(f) = ca_file {
        roots.extend(certs_in_file(f)?);
    }
    if ca_path.is_none() && ca_file.is_none() {
        if home.ca_cert_path().exists() {
            roots.extend(certs_in_file(&home.ca_cert_path())?);
        }
        if Path::new(SYSTEM_BUNDLE).exists() {
            roots.extend(certs_in_file(Path::new(SYSTEM_BUNDLE))?);
        }
    }
    Ok(roots)
}

/// What the person asked the server to use; `None` means the default.
#[derive(Debug, Clone)]
pub struct ServerSetup {
    pub listen: SocketAddr,
    /// Server certificate and key [default: the home's only host
    /// certificate, or `hostname`'s].
    pub cert_and_key: Option<(PathBuf, PathBuf)>,
    /// CAs for client certificates [default: the home's CA].
    pub ca_path: Option<PathBuf>,
    /// The access map to apply [default: none].
    pub access: Option<PathBuf>,
    /// [default: HOME/maildir]
    pub maildir: Option<PathBuf>,
    /// [default: the certificate's CN]
    pub hostname: Option<String>,
    pub max_sessions: usize,
    pub max_message_size: usize,
    pub timeout: Duration,
    pub tls_perm_err: bool,
    pub allow_insecure_key: bool,
}

impl ServerSetup {
    /// The defaults `serve` documents, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        ServerSetup {
            listen,
            cert_and_key: None,
            ca_path: None,
            access: None,
            maildir: None,
            hostname: None,
            max_sessions: 100,
            max_message_size: 10 * 1024 * 1024,
            timeout: Duration::from_secs(300),
            tls_perm_err: false,
            allow_insecure_key: false,
        }
    }
}

/// The resolved configuration plus what it was resolved from, for the
/// one-line start message.
pub struct ServerPlan {
    pub config: ServerConfig,
    pub cert_path: PathBuf,
    pub access: Option<PathBuf>,
}

impl ServerPlan {
    /// "serving HOST on ADDR (certificate …, N CA(s) …)".
    pub fn describe(&self) -> String {
        format!(
            "serving {} on {} (certificate {}, {} CA(s) for client certificates, access map {}, maildir {})",
            self.config.hostname,
            self.config.listen,
            self.cert_path.display(),
            self.config.ca_roots.len(),
            self.access
                .as_ref()
                .map_or("none".to_string(), |p| p.display().to_string()),
            self.config.maildir.display()
        )
    }
}

/// Reads every file the server needs and builds its configuration.
pub fn server_config(home: &Home, s: ServerSetup) -> Result<ServerPlan, Error> {
    if let Some(h) = &s.hostname {
        // It goes into the greeting, EHLO replies and Received: headers.
        let ok = (1..=253).contains(&h.len())
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
        if !ok {
            return Err(refused(
                format!("--hostname {h:?} is not a host name"),
                "give the server's name, e.g. mx.example.org (letters, digits, `-` and `.`, at most 253 characters)",
            ));
        }
    }
    let (cert_path, key_path) = match s.cert_and_key {
        Some(ck) => ck,
        None => {
            let hosts = home.list()?;
            let pick = match &s.hostname {
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
    let (chain, key) = load_identity(&cert_path, &key_path, s.allow_insecure_key)?;
    let ca_roots = match &s.ca_path {
        Some(dir) => certs_in_dir(dir)?,
        None if home.ca_cert_path().exists() => certs_in_file(&home.ca_cert_path())?,
        None => Vec::new(),
    };
    let access = match &s.access {
        Some(f) => store_access::load(f)?.database(),
        None => Default::default(),
    };
    let hostname = match s.hostname {
        Some(h) => h,
        None => chain
            .first()
            .and_then(|d| CertInfo::from_der(d).ok())
            .and_then(|i| i.subject_cn)
            .unwrap_or_else(|| "localhost".into()),
    };
    let maildir = s.maildir.unwrap_or_else(|| home.root.join("maildir"));
    Ok(ServerPlan {
        config: ServerConfig {
            listen: s.listen,
            hostname,
            cert_chain: chain,
            key: key.clone_key(),
            ca_roots,
            access,
            maildir,
            max_sessions: s.max_sessions.max(1),
            max_message_size: s.max_message_size,
            timeout: s.timeout.max(Duration::from_secs(1)),
            tls_perm_err: s.tls_perm_err,
        },
        cert_path,
        access: s.access,
    })
}
