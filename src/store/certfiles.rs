//! Reading certificate files, CA directories and private keys, with the
//! size limit and errors that name the file. Every command that reads
//! certificates or keys from disk comes through here.

use super::fsutil::{self, PKI_FILE_LIMIT};
use super::{refused, Error};
use crate::core::cert::{self, CertInfo};
use std::fs;
use std::os::unix::fs::PermissionsExt;
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

/// Reads a certificate file (the first certificate in it).
pub fn read_cert_file(path: &Path) -> Result<CertInfo, Error> {
    let ders = ders_in_file(path)?;
    CertInfo::from_der(&ders[0]).map_err(|what| Error::Cert {
        path: path.to_path_buf(),
        source: cert::CertError::Der { index: 1, what },
    })
}

/// Reads a private key file, refusing one that others can read (sendmail
/// refuses those too, and a leaked CA key is the worst case) unless
/// `allow_insecure` is set.
pub fn read_key_file(path: &Path, allow_insecure: bool) -> Result<String, Error> {
    let meta = fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "read key",
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && !allow_insecure {
        return Err(refused(
            format!(
                "{} is readable or writable by others (mode {mode:04o})",
                path.display()
            ),
            format!(
                "run `chmod 600 {}` (or pass --allow-insecure-key)",
                path.display()
            ),
        ));
    }
    let data = fsutil::read_limited(path, PKI_FILE_LIMIT)?;
    String::from_utf8(data).map_err(|_| {
        refused(
            format!("{} is not a PEM private key (binary data)", path.display()),
            "convert a DER key with `openssl pkey -inform DER -in KEY -out KEY.pem`",
        )
    })
}

/// Reads one of the home's own keys: no `--allow-insecure-key` here (the
/// commands that sign or install do not take it), so a loosened key is
/// refused with the `chmod` that fixes it.
pub fn read_home_key(path: &Path, mode: u32) -> Result<String, Error> {
    read_key_file(path, false).map_err(|e| match e {
        Error::Refused { message, .. } => refused(
            message,
            format!(
                "run `chmod {mode:o} {}`; starttls-studio writes its keys that way",
                path.display()
            ),
        ),
        other => other,
    })
}
