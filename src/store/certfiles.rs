//! Reading certificate files, CA directories and private keys, with the
//! size limit and errors that name the file. Every command that reads
//! certificates or keys from disk comes through here.

use super::fsutil::{self, PKI_FILE_LIMIT};
use super::{refused, Error};
use crate::core::cert::{self, CertInfo};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

// The passphrase for PKCS#12 files: the CLI's `--passphrase-file`, the
// GUI's passphrase field, else `STARTTLS_STUDIO_PASSPHRASE`. Per thread:
// the CLI sets it once on its one thread; each GUI job (a thread of its
// own) sets what its view holds, so jobs never see each other's.
thread_local! {
    static PASSPHRASE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Sets (or, with `None`, clears) the passphrase PKCS#12 files are opened
/// and written with on this thread.
pub fn set_passphrase(p: Option<String>) {
    PASSPHRASE.with(|c| *c.borrow_mut() = p);
}

/// The passphrase set on this thread, or `STARTTLS_STUDIO_PASSPHRASE`.
pub fn passphrase() -> Option<String> {
    PASSPHRASE
        .with(|c| c.borrow().clone())
        .or_else(|| std::env::var("STARTTLS_STUDIO_PASSPHRASE").ok())
}

/// Reads a passphrase file (its first line), refusing one others can read.
pub fn read_passphrase_file(path: &Path) -> Result<String, Error> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_line(&mut s)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                action: "read the passphrase from standard input",
                source,
            })?;
        s
    } else {
        read_key_file(path, false)?
    };
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// The PKCS#12 contents of `data` (from `path`), opened with the
/// passphrase; errors say what to do.
fn open_p12(path: &Path, data: &[u8]) -> Result<crate::core::p12::Contents, Error> {
    use crate::core::p12::{self, P12Error};
    let pass = passphrase().unwrap_or_default();
    p12::read(data, &pass).map_err(|e| match e {
        P12Error::Passphrase => refused(
            format!(
                "{} is a PKCS#12 (.p12/.pfx) file and {}",
                path.display(),
                if passphrase().is_some() {
                    "the passphrase given does not open it"
                } else {
                    "needs its passphrase"
                }
            ),
            "give it with --passphrase-file FILE (first line; - reads standard input) or STARTTLS_STUDIO_PASSPHRASE",
        ),
        other => refused(format!("{}: {other}", path.display()), "convert it with `openssl pkcs12 -in FILE -nodes -out FILE.pem` and give the PEM file"),
    })
}

/// The private key in a PKCS#12 file, as PEM (`None`: the file is not
/// PKCS#12 or holds no key).
pub fn p12_key(path: &Path) -> Result<Option<String>, Error> {
    let data = fsutil::read_limited(path, PKI_FILE_LIMIT)?;
    if !crate::core::p12::looks_like_pkcs12(&data) {
        return Ok(None);
    }
    Ok(open_p12(path, &data)?
        .key_pkcs8
        .map(|k| crate::core::pem::encode("PRIVATE KEY", &k)))
}

/// The DER certificates in a file (PEM, several, DER, or PKCS#12: the
/// key's chain first).
pub fn ders_in_file(path: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let data = fsutil::read_limited(path, PKI_FILE_LIMIT)?;
    if crate::core::p12::looks_like_pkcs12(&data) {
        let c = open_p12(path, &data)?;
        if c.certs.is_empty() {
            return Err(refused(
                format!("{} holds a key but no certificate", path.display()),
                "give the file with the certificate",
            ));
        }
        return Ok(c.certs);
    }
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
