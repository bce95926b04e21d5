//! What turns disk reads into network configuration: the trust anchors,
//! the identity (certificate chain and key) either side presents, and the
//! embedded server's whole configuration. The CLI's `probe`/`serve` and the
//! GUI's live-test panel build their configuration here, so they cannot
//! drift apart.

use super::probe::{ProbeOptions, DEFAULT_EHLO_NAME, DEFAULT_TIMEOUT};
use super::server::{
    ServerConfig, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_SESSIONS, DEFAULT_TIMEOUT as SERVER_TIMEOUT,
};
use super::{Error, Identity};
use crate::core::cert::CertInfo;
use crate::core::pem;
use crate::store::certfiles::{ders_in_dir, ders_in_file, read_key_file};
use crate::store::home::Home;
use crate::store::{access as store_access, refused};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A file's certificates for rustls.
pub fn certs_in_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    Ok(ders_in_file(path)?
        .into_iter()
        .map(CertificateDer::from)
        .collect())
}

/// A CA directory's certificates for rustls.
pub fn certs_in_dir(dir: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    Ok(ders_in_dir(dir)?
        .into_iter()
        .map(CertificateDer::from)
        .collect())
}

/// Reads an identity. The key file is refused when others may read it,
/// unless `allow_insecure_key`.
pub fn load_identity(
    cert_path: &Path,
    key_path: &Path,
    allow_insecure_key: bool,
) -> Result<Identity, Error> {
    let chain = certs_in_file(cert_path)?;
    // A PKCS#12 file holds the key too (given as the key, or as both).
    let key_pem = match crate::store::certfiles::p12_key(key_path)? {
        Some(k) => k,
        None => read_key_file(key_path, allow_insecure_key)?,
    };
    let bad_key = || -> Error {
        refused(
            format!("{}: no usable private key", key_path.display()),
            "give an unencrypted PEM key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        )
        .into()
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
    Ok(Identity {
        chain,
        key: Arc::new(key),
    })
}

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

/// What the person asked the probe to do; `None` means the default.
#[derive(Debug, Clone)]
pub struct ProbeSetup {
    /// `HOST:PORT`
    pub target: String,
    /// Client certificate and key to present.
    pub client: Option<(PathBuf, PathBuf)>,
    /// CAs to check the server's certificate against [default: the home's
    /// CA and the system CAs].
    pub ca_path: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub ehlo_name: String,
    pub timeout: Duration,
    pub allow_insecure_key: bool,
    /// For a client certificate in a PKCS#12 file [default: the
    /// passphrase the process was given].
    pub passphrase: Option<String>,
}

impl ProbeSetup {
    /// The defaults `probe` documents, for `target`.
    pub fn new(target: impl Into<String>) -> Self {
        ProbeSetup {
            target: target.into(),
            client: None,
            ca_path: None,
            ca_file: None,
            ehlo_name: DEFAULT_EHLO_NAME.into(),
            timeout: DEFAULT_TIMEOUT,
            allow_insecure_key: false,
            passphrase: None,
        }
    }
}

/// Reads what the probe needs (trust anchors, the client identity) and
/// builds its options: the one way the CLI and the GUI make them.
pub fn probe_options(home: &Home, s: ProbeSetup) -> Result<ProbeOptions, Error> {
    if !s.target.contains(':') {
        return Err(refused(
            format!("`{}` has no port", s.target),
            "write HOST:PORT, e.g. 127.0.0.1:25",
        )
        .into());
    }
    if s.passphrase.is_some() {
        crate::store::certfiles::set_passphrase(s.passphrase.clone());
    }
    let roots = probe_roots(home, s.ca_path.as_deref(), s.ca_file.as_deref())?;
    let client_auth = match &s.client {
        Some((c, k)) => Some(load_identity(c, k, s.allow_insecure_key)?),
        None => None,
    };
    Ok(ProbeOptions {
        target: s.target,
        roots,
        client_auth,
        ehlo_name: s.ehlo_name,
        timeout: s.timeout.max(Duration::from_secs(1)),
    })
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
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            timeout: SERVER_TIMEOUT,
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
            )
            .into());
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
    let Identity { chain, key } = load_identity(&cert_path, &key_path, s.allow_insecure_key)?;
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
