//! Reading certificate files and CA directories, with the size limit and
//! errors that name the file. Every command that reads certificates from
//! disk comes through here.

use super::fsutil::{self, PKI_FILE_LIMIT};
use super::Error;
use crate::core::cert::{self, CertInfo};
use std::path::Path;

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
