//! Sockets and TLS: the probe client (`probe`), the embedded STARTTLS
//! server (`server`), OpenSSL's names for what rustls negotiated (`names`),
//! and `setup`, which reads certificates, keys and the access map from
//! disk (through `store`) and turns them into their configuration.
//! Blocking sockets with `TCP_NODELAY` and timeouts on every read and write.

pub mod deploy;
pub mod dns;
pub mod names;
pub mod probe;
pub mod restart;
pub mod server;
pub mod setup;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// A certificate chain and its private key, as either side of a TLS
/// connection presents them (the probe's client certificate, the server's
/// certificate); `setup::load_identity` reads one.
#[derive(Debug, Clone)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
}

/// A failure of a network operation, phrased for the person who asked
/// for it. Reading the files a connection needs fails with the store's
/// own error, kept whole as the source.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A certificate, key, CA directory or access map could not be used.
    Store(crate::store::Error),
    /// rustls refused the configuration (e.g. certificate and key do not
    /// belong together).
    Tls {
        what: &'static str,
        source: rustls::Error,
    },
    /// The CAs for client certificates cannot make a verifier.
    ClientCas(rustls::server::VerifierBuilderError),
    /// The listening socket could not be bound.
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// Another system call the server needs failed.
    Io {
        action: String,
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store(e) => e.fmt(f),
            Error::Tls { what, source } => write!(f, "{what}: {source}"),
            Error::ClientCas(e) => write!(f, "the CAs for client certificates cannot be used: {e}"),
            Error::Bind { addr, source } => {
                write!(f, "cannot listen on {addr}: {source}")?;
                match source.kind() {
                    std::io::ErrorKind::AddrInUse => {
                        f.write_str("; another program uses that port: choose another one")
                    }
                    std::io::ErrorKind::PermissionDenied => {
                        f.write_str("; ports below 1024 need root: choose a port above 1024")
                    }
                    _ => Ok(()),
                }
            }
            Error::Io { action, source } => write!(f, "cannot {action}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e),
            Error::Tls { source, .. } => Some(source),
            Error::ClientCas(e) => Some(e),
            Error::Bind { source, .. } | Error::Io { source, .. } => Some(source),
        }
    }
}

impl From<crate::store::Error> for Error {
    fn from(e: crate::store::Error) -> Self {
        Error::Store(e)
    }
}
