//! `trust add/list/remove`: partners' CAs in an install's CA directory
//! (`DIR/certs`, sendmail's `confCACERT_PATH`), and optionally announced in
//! `DIR/CAcert.pem` (`confCACERT`: the CA names sendmail sends in its
//! CertificateRequest).
//!
//! One file per CA, named after it (`Partner_Root_CA-1a2b3c4d.pem`); the
//! links are always what `openssl rehash` makes of the directory (two CAs
//! with one subject get `.0` and `.1`, both found). A CA is what OpenSSL
//! takes as a trust anchor ([`CertInfo::is_trust_anchor`], shared with the
//! doctor); a file is trusted whole or not at all. Trust never touches the
//! access map: the caller prints the line that would grant relaying.

use super::certfiles;
use super::fsutil::{self, PKI_FILE_LIMIT};
use super::home::Home;
use super::install::{CAPATH_DIR, CA_FILE};
use super::rehash::{self, RehashReport};
use super::{refused, Error};
use crate::core::cert::CertInfo;
use crate::core::pem;
use crate::core::rehash::HashKind;
use std::fs;
use std::path::{Path, PathBuf};

/// More announced CA names than this is a warning (the doctor's limit).
pub const MANY_ANNOUNCED: usize = super::doctor::MANY_ANNOUNCED_CAS;

/// One CA of an install.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrustedCa {
    #[serde(flatten)]
    pub info: CertInfo,
    /// Its file in `DIR/certs` (`None`: only in `CAcert.pem`).
    pub file: Option<PathBuf>,
    /// In `DIR/CAcert.pem`: sendmail names it to clients.
    pub announced: bool,
    /// The home's own CA.
    pub ours: bool,
}

/// Every CA in `DIR/certs` (files holding one CA certificate) and in
/// `DIR/CAcert.pem`, each once.
pub fn list(dir: &Path, home: Option<&Home>) -> Result<Vec<TrustedCa>, Error> {
    let certs_dir = dir.join(CAPATH_DIR);
    let ours = home
        .and_then(|h| h.ca_info().ok().flatten())
        .map(|c| c.sha256_fingerprint);
    let announced = announced_in(dir);
    let mut out: Vec<TrustedCa> = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(&certs_dir)
        .map_err(|source| Error::Io {
            path: certs_dir.clone(),
            action: "read the CA directory",
            source,
        })?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let is_link = fs::symlink_metadata(&p)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(true);
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if is_link && crate::core::rehash::parse_link_name(name.as_bytes()).is_some() {
            continue;
        }
        let Ok(infos) = certfiles::infos_in_file(&p) else {
            continue;
        };
        let [info] = infos.as_slice() else { continue };
        if out.iter().any(|c| c.info.der == info.der) {
            continue;
        }
        out.push(TrustedCa {
            announced: announced.iter().any(|a| a.der == info.der),
            ours: ours.as_deref() == Some(info.sha256_fingerprint.as_str()),
            info: info.clone(),
            file: Some(p),
        });
    }
    for a in announced {
        if !out.iter().any(|c| c.info.der == a.der) {
            out.push(TrustedCa {
                ours: ours.as_deref() == Some(a.sha256_fingerprint.as_str()),
                info: a,
                file: None,
                announced: true,
            });
        }
    }
    Ok(out)
}

fn announced_in(dir: &Path) -> Vec<CertInfo> {
    certfiles::infos_in_file(&dir.join(CA_FILE)).unwrap_or_default()
}

/// A file name an admin recognises: the CA's CN (else O), made safe, and
/// the start of its fingerprint (`Partner_Root_CA-1a2b3c4d.pem`).
pub fn file_name_for(info: &CertInfo) -> String {
    super::install::ca_file_name("", info)
}

/// What `trust add` did.
#[derive(Debug, Clone, Default)]
pub struct AddReport {
    /// CAs written into `DIR/certs`, with their files.
    pub added: Vec<(CertInfo, PathBuf)>,
    /// CAs that were already trusted (no change).
    pub already: Vec<CertInfo>,
    /// CAs added to `CAcert.pem`.
    pub announced: Vec<CertInfo>,
    pub rehash: Option<RehashReport>,
    pub warnings: Vec<String>,
}

/// Checks that every certificate is a CA OpenSSL accepts and (unless
/// `allow_expired`) within its dates; all or nothing.
pub fn check_cas(
    file: &Path,
    certs: &[CertInfo],
    allow_expired: bool,
    now: i64,
) -> Result<(), Error> {
    let leaves: Vec<&CertInfo> = certs.iter().filter(|c| !c.is_trust_anchor()).collect();
    if !leaves.is_empty() {
        return Err(refused(
            format!(
                "{} holds {} that {} not a CA: {}",
                file.display(),
                if leaves.len() == 1 { "a certificate" } else { "certificates" },
                if leaves.len() == 1 { "is" } else { "are" },
                leaves
                    .iter()
                    .map(|c| format!("{} (issued by {})", c.subject, c.issuer))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            "nothing was written. Trust the CA that issued a partner's certificate (its basicConstraints say CA:TRUE), not the certificate itself; to let one certificate relay, trust its CA and add a CERTSUBJECT entry (access add-cert-relay --subject)",
        ));
    }
    if !allow_expired {
        let expired: Vec<&CertInfo> = certs
            .iter()
            .filter(|c| c.not_after_unix < now || c.not_before_unix > now)
            .collect();
        if !expired.is_empty() {
            return Err(refused(
                format!(
                    "{}: not valid now: {}",
                    file.display(),
                    expired
                        .iter()
                        .map(|c| format!("{} (valid {} to {})", c.subject, c.not_before, c.not_after))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                "nothing was written. OpenSSL refuses every certificate under an expired CA (verify=FAIL, `certificate has expired`), so trusting it lets nobody in; ask the partner for its current CA, or give --allow-expired to keep it on record",
            ));
        }
    }
    Ok(())
}

/// `trust add FILE --to DIR [--announce]`.
pub fn add(
    file: &Path,
    dir: &Path,
    announce: bool,
    allow_expired: bool,
    now: i64,
) -> Result<AddReport, Error> {
    let certs = certfiles::infos_in_file(file)?;
    check_cas(file, &certs, allow_expired, now)?;
    if !dir.is_dir() {
        return Err(refused(
            format!("{} is not a directory", dir.display()),
            "give the install directory (the one `install FQDN --to DIR` wrote), or create it first",
        ));
    }
    let certs_dir = dir.join(CAPATH_DIR);
    if let Some(m) = fsutil::managed_by(&certs_dir) {
        return Err(refused(
            format!("{} belongs to {m}", certs_dir.display()),
            "trust adds CAs to an install's own CA directory (install FQDN --to DIR); the system's is update-ca-certificates' to manage",
        ));
    }
    let _lock = super::lock::lock_dir(dir, "the install directory")?;
    fs::create_dir_all(&certs_dir).map_err(|source| Error::Io {
        path: certs_dir.clone(),
        action: "create",
        source,
    })?;
    let mut report = AddReport::default();
    let present = list(dir, None)?;
    let mut changed_links = false;
    for c in &certs {
        let trusted = present
            .iter()
            .any(|p| p.file.is_some() && p.info.der == c.der);
        if trusted {
            report.already.push(c.clone());
            continue;
        }
        let path = certs_dir.join(file_name_for(c));
        let text = pem::encode("CERTIFICATE", &c.der);
        fsutil::write_atomic(&path, text.as_bytes(), 0o644)?;
        report.added.push((c.clone(), path));
        changed_links = true;
    }
    if announce {
        let mut ca_file: Vec<u8> =
            fsutil::read_limited(&dir.join(CA_FILE), PKI_FILE_LIMIT).unwrap_or_default();
        let already: Vec<CertInfo> = announced_in(dir);
        for c in &certs {
            if already.iter().any(|a| a.der == c.der) {
                continue;
            }
            if !ca_file.is_empty() && !ca_file.ends_with(b"\n") {
                ca_file.push(b'\n');
            }
            ca_file.extend_from_slice(pem::encode("CERTIFICATE", &c.der).as_bytes());
            report.announced.push(c.clone());
        }
        if !report.announced.is_empty() {
            fsutil::write_atomic(&dir.join(CA_FILE), &ca_file, 0o644)?;
        }
        let n = announced_in(dir).len();
        if n > MANY_ANNOUNCED {
            report.warnings.push(format!(
                "{} now announces {n} CA names: sendmail sends all of them in every handshake, and long lists make some clients fail the handshake (sendmail's own advice: do not list too many). Trusting without --announce is enough for verify=OK; announce only the CAs whose clients need to be asked for their certificate by name",
                dir.join(CA_FILE).display()
            ));
        }
    }
    if changed_links {
        let r = rehash::rehash_dir(&certs_dir, HashKind::New)?;
        report.warnings.extend(r.warnings.iter().cloned());
        report.rehash = Some(r);
    }
    Ok(report)
}

/// What `trust remove` did.
#[derive(Debug, Clone, Default)]
pub struct RemoveReport {
    pub removed: Vec<(CertInfo, Vec<PathBuf>)>,
    pub unannounced: Vec<CertInfo>,
    pub rehash: Option<RehashReport>,
}

/// The SHA-256 fingerprints `what` names: a fingerprint (with or without
/// colons, any case) or a file holding the certificate(s).
fn fingerprints(what: &str) -> Result<Vec<String>, Error> {
    let hex: String = what.chars().filter(|c| *c != ':').collect();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(vec![hex.to_ascii_uppercase()]);
    }
    let p = Path::new(what);
    if p.exists() {
        return Ok(certfiles::infos_in_file(p)?
            .into_iter()
            .map(|c| c.sha256_fingerprint.replace(':', "").to_ascii_uppercase())
            .collect());
    }
    Err(refused(
        format!("`{what}` is neither a SHA-256 fingerprint nor a file"),
        "give the fingerprint `trust list` shows (64 hex digits, colons allowed) or the CA's certificate file",
    ))
}

/// `trust remove FINGERPRINT|FILE --to DIR`: the CA's files in `DIR/certs`
/// and its entry in `CAcert.pem` go, then a rehash (no link is left
/// pointing at nothing). The home's own CA only with `force`.
pub fn remove(
    dir: &Path,
    what: &str,
    home: Option<&Home>,
    force: bool,
) -> Result<RemoveReport, Error> {
    let want = fingerprints(what)?;
    let _lock = super::lock::lock_dir(dir, "the install directory")?;
    let all = list(dir, home)?;
    let fp = |c: &CertInfo| c.sha256_fingerprint.replace(':', "").to_ascii_uppercase();
    let hits: Vec<&TrustedCa> = all.iter().filter(|c| want.contains(&fp(&c.info))).collect();
    if hits.is_empty() {
        return Err(refused(
            format!("{} does not trust {what}", dir.display()),
            "see `starttls-studio trust list --to DIR`",
        ));
    }
    if let Some(o) = hits.iter().find(|c| c.ours) {
        if !force {
            return Err(refused(
                format!("{} is this home's own CA", o.info.subject),
                "without it sendmail stops trusting your own hosts' and partners' certificates; give --force if you really mean it",
            ));
        }
    }
    let mut report = RemoveReport::default();
    let certs_dir = dir.join(CAPATH_DIR);
    // Every file in the directory holding exactly that certificate.
    let mut entries: Vec<PathBuf> = fs::read_dir(&certs_dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for h in &hits {
        let mut files = Vec::new();
        for p in &entries {
            let regular = fs::symlink_metadata(p)
                .map(|m| m.is_file())
                .unwrap_or(false);
            if !regular {
                continue;
            }
            if let Ok(v) = certfiles::infos_in_file(p) {
                if v.len() == 1 && v[0].der == h.info.der {
                    fs::remove_file(p).map_err(|source| Error::Io {
                        path: p.clone(),
                        action: "remove",
                        source,
                    })?;
                    files.push(p.clone());
                }
            }
        }
        report.removed.push((h.info.clone(), files));
    }
    let ca_path = dir.join(CA_FILE);
    if hits.iter().any(|h| h.announced) {
        let keep: Vec<CertInfo> = announced_in(dir)
            .into_iter()
            .filter(|a| !hits.iter().any(|h| h.info.der == a.der))
            .collect();
        let text: String = keep
            .iter()
            .map(|c| pem::encode("CERTIFICATE", &c.der))
            .collect();
        fsutil::write_atomic(&ca_path, text.as_bytes(), 0o644)?;
        report.unannounced = hits
            .iter()
            .filter(|h| h.announced)
            .map(|h| h.info.clone())
            .collect();
    }
    if certs_dir.is_dir() {
        report.rehash = Some(rehash::rehash_dir(&certs_dir, HashKind::New)?);
    }
    Ok(report)
}
