//! Reading certificate files and CA directories, with the size limit and
//! errors that name the file. Every command that reads certificates from
//! disk comes through here.

use super::fsutil::{self, PKI_FILE_LIMIT};
use super::home::read_key_file;
use super::{refused, Error};
use crate::core::cert::{self, CertInfo};
use crate::core::pem;
use crate::net::probe::ClientAuth;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The DER certificates in a file (PEM, several, or DER).
pub fn ders_in_file(path: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let data = fsutil::read_limited(path, PKI_FILE_LIMIT)?;
    cert::certificates_in(&data).map_err(|source| Error::Cert {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in a file, read for display; any broken one is an error.
pub fn infos_in_file(path: &Path) -> Result<Vec<CertInfo>, Error> {
    ders_in_file(path)?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            CertInfo::from_der(d).map_err(|what| Error::Cert {
                path: path.to_path_buf(),
                source: cert::CertError::Der { index: i + 1, what },
            })
        })
        .collect()
}

/// The certificates of every file in a CA directory (like
/// `confCACERT_PATH`), each once: a hash link and the file it points at
/// are the same certificate. Files that hold no readable certificate are
/// skipped, as they are of no use to a verifier either; only an unreadable
/// directory is an error.
pub fn ders_in_dir(dir: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        action: "read the CA directory",
        source,
    })?;
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut out: Vec<Vec<u8>> = Vec::new();
    for der in paths.iter().filter_map(|p| ders_in_file(p).ok()).flatten() {
        if !out.contains(&der) {
            out.push(der);
        }
    }
    Ok(out)
}

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

/// A certificate chain and its private key, for either side of a TLS
/// connection (the probe's client certificate, the server's certificate).
/// The key file is refused when others may read it, unless
/// `allow_insecure_key`.
pub fn load_identity(
    cert_path: &Path,
    key_path: &Path,
    allow_insecure_key: bool,
) -> Result<ClientAuth, Error> {
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
    Ok((chain, Arc::new(key)))
}
