//! PKCS#12 files written from the home: a host's key, certificate and CA
//! for a partner on Windows/Exchange (`bundle FQDN --out FILE.p12`), and
//! the CA's own backup (`ca export --out FILE`, read back by `ca import`).
//! Written atomically, mode 0600, with the passphrase given to the CLI.

use super::certfiles::{self, read_home_key};
use super::home::Home;
use super::{fsutil, refused, Error};
use crate::core::{p12, pem};
use std::path::Path;

/// The passphrase a file is written with: required, never empty.
fn passphrase_for_writing(out: &Path) -> Result<String, Error> {
    match certfiles::passphrase() {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(refused(
            format!("{} would hold a private key: it needs a passphrase", out.display()),
            "give it with --passphrase-file FILE (its first line; - reads standard input) or STARTTLS_STUDIO_PASSPHRASE",
        )),
    }
}

/// PKCS#8 DER of a PEM key.
fn pkcs8_der(key_pem: &str, path: &Path) -> Result<Vec<u8>, Error> {
    let blocks = pem::parse(key_pem.as_bytes())
        .map_err(|e| refused(format!("{}: {e}", path.display()), "the key must be PEM"))?;
    blocks
        .into_iter()
        .find(|b| b.label == "PRIVATE KEY")
        .map(|b| b.der)
        .ok_or_else(|| {
            refused(
                format!("{} is not a PKCS#8 key (BEGIN PRIVATE KEY)", path.display()),
                format!("convert it: openssl pkey -in {0} -out {0}.new, then move it into place (mode 0600)", path.display()),
            )
        })
}

fn write_out(out: &Path, data: &[u8]) -> Result<(), Error> {
    if out.is_dir() {
        return Err(refused(
            format!("{} is a directory", out.display()),
            "give a file name ending in .p12",
        ));
    }
    fsutil::write_atomic(out, data, 0o600)
}

/// A host's key and certificate with the CA, as one PKCS#12 file.
pub fn export_host(home: &Home, fqdn: &str, out: &Path, legacy: bool) -> Result<(), Error> {
    let pass = passphrase_for_writing(out)?;
    let host = home.host(fqdn)?;
    if !host.key_path.exists() {
        return Err(refused(
            format!(
                "{} was signed from the partner's request: the home holds no key for it",
                host.fqdn
            ),
            "the partner has the key; send the certificate (bundle --csr-first flow)",
        ));
    }
    let key = pkcs8_der(&read_home_key(&host.key_path, 0o600)?, &host.key_path)?;
    let mut certs = vec![host.info.der.clone()];
    if let Some(ca) = home.ca_info()? {
        certs.push(ca.der);
    }
    let data = p12::write(Some(&key), &certs, &host.fqdn, &pass, legacy)
        .map_err(|m| refused(format!("writing {}: {m}", out.display()), ""))?;
    write_out(out, &data)
}

/// The CA's key and certificate as an encrypted PKCS#12 backup.
pub fn export_ca(home: &Home, out: &Path, legacy: bool) -> Result<(), Error> {
    let pass = passphrase_for_writing(out)?;
    let Some(ca) = home.ca_info()? else {
        return Err(refused(
            format!("no CA in {}", home.root.display()),
            "create one with `starttls-studio ca init --cn NAME`",
        ));
    };
    let key = pkcs8_der(
        &read_home_key(&home.ca_key_path(), 0o400)?,
        &home.ca_key_path(),
    )?;
    let data = p12::write(Some(&key), &[ca.der], "starttls-studio CA", &pass, legacy)
        .map_err(|m| refused(format!("writing {}: {m}", out.display()), ""))?;
    write_out(out, &data)
}
