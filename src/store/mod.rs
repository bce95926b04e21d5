//! Everything that touches the disk: the home (CA, issued certificates),
//! atomic writes with the right modes, certificate and key files, rehash,
//! install, the access file, doctor, bundles, and what the GUI shows of the
//! home and the machine. Uses `core`; knows nothing of sockets.

pub mod access;
pub mod bundle;
pub mod certfiles;
pub mod doctor;
pub mod fsutil;
pub mod home;
pub mod install;
pub mod lock;
pub mod logread;
pub mod maildir;
pub mod mc;
pub mod p12;
pub mod rehash;
pub mod snapshot;
pub mod status;
pub mod timer;
pub mod trust;

use crate::core::cert::CertError;
use crate::core::pki::PkiError;
use std::fmt;
use std::path::PathBuf;

/// A failure of a store operation, phrased for the person who asked for it:
/// which file, what went wrong, and what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    /// The input or the state of the disk does not allow the operation.
    Refused {
        message: String,
        hint: Option<String>,
    },
    /// A file that should hold certificates does not.
    Cert {
        path: PathBuf,
        source: CertError,
    },
    Pki(PkiError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io {
                path,
                action,
                source,
            } => {
                write!(f, "cannot {action} {}: {source}", path.display())?;
                match source.kind() {
                    std::io::ErrorKind::PermissionDenied => {
                        write!(f, " (check the permissions of the file and its directory, or run as root)")
                    }
                    std::io::ErrorKind::NotFound => write!(f, " (check the path)"),
                    _ => Ok(()),
                }
            }
            Error::Refused { message, hint } => {
                f.write_str(message)?;
                if let Some(h) = hint {
                    write!(f, "; {h}")?;
                }
                Ok(())
            }
            Error::Cert { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Pki(e) => e.fmt(f),
        }
    }
}

/// `Display` gives the whole message a person reads (it includes the
/// cause's text); `source()` hands the cause itself to code that inspects
/// it (an `io::ErrorKind`, the certificate error).
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Cert { source, .. } => Some(source),
            Error::Pki(e) => Some(e),
            Error::Refused { .. } => None,
        }
    }
}

impl From<PkiError> for Error {
    fn from(e: PkiError) -> Self {
        Error::Pki(e)
    }
}

/// Shorthand for a refusal with a hint.
pub(crate) fn refused(message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::Refused {
        message: message.into(),
        hint: Some(hint.into()),
    }
}
