//! The data directory: the private CA and the certificates it issued.
//!
//! Layout (modes as mkcert uses them):
//! ```text
//! HOME/            0700
//!   ca/ca.crt      0644   the CA certificate
//!   ca/ca.key      0400   its private key
//!   ca/crl.pem     0644   CRL, once something was revoked
//!   ca/revoked.tsv        serial, time, name of each revoked certificate
//!   hosts/FQDN.crt 0644   issued host certificates
//!   hosts/FQDN.key 0600   and their keys (none for a partner's signed request:
//!   hosts/FQDN.csr 0644   the request is kept instead)
//!   archive/              certificates replaced by renew or revoke
//!   installs.tsv   0644   FQDN<TAB>DIR of each `install FQDN --to DIR`
//! ```

use super::certfiles::{self, read_cert_file, read_home_key, read_key_file};
use super::fsutil::{self, PKI_FILE_LIMIT};
use super::lock::{self, Lock};
use super::{refused, Error};
use crate::core::cert::CertInfo;
use crate::core::fqdn;
use crate::core::pki::{self, KeyKind, SigningCa};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const CA_DAYS_DEFAULT: u32 = 3650;
pub const HOST_DAYS_DEFAULT: u32 = 365;

/// The data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub root: PathBuf,
}

/// An issued host certificate in the home.
#[derive(Debug, Clone)]
pub struct HostEntry {
    pub fqdn: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub info: CertInfo,
}

/// The outcome of issuing or renewing.
#[derive(Debug, Clone)]
pub struct IssueReport {
    pub entry: HostEntry,
    pub notes: Vec<String>,
}

impl Home {
    /// The home from `--home` / `STARTTLS_STUDIO_HOME`, else the platform
    /// data directory.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Home, Error> {
        if let Some(root) = explicit {
            return Ok(Home { root });
        }
        let dirs = directories::ProjectDirs::from("org", "starttls-studio", "starttls-studio")
            .ok_or_else(|| {
                refused(
                    "cannot find a home directory for the data",
                    "pass --home DIR or set STARTTLS_STUDIO_HOME",
                )
            })?;
        Ok(Home {
            root: dirs.data_dir().to_path_buf(),
        })
    }

    pub fn ca_dir(&self) -> PathBuf {
        self.root.join("ca")
    }
    pub fn ca_cert_path(&self) -> PathBuf {
        self.ca_dir().join("ca.crt")
    }
    pub fn ca_key_path(&self) -> PathBuf {
        self.ca_dir().join("ca.key")
    }
    pub fn crl_path(&self) -> PathBuf {
        self.ca_dir().join("crl.pem")
    }
    pub fn revoked_path(&self) -> PathBuf {
        self.ca_dir().join("revoked.tsv")
    }
    pub fn hosts_dir(&self) -> PathBuf {
        self.root.join("hosts")
    }
    pub fn archive_dir(&self) -> PathBuf {
        self.root.join("archive")
    }
    pub fn host_cert_path(&self, fqdn: &str) -> PathBuf {
        self.hosts_dir().join(format!("{fqdn}.crt"))
    }
    pub fn host_key_path(&self, fqdn: &str) -> PathBuf {
        self.hosts_dir().join(format!("{fqdn}.key"))
    }

    /// Serialises writers of the home (flock on its directory, created
    /// 0700 if missing): every command that writes the home holds it.
    pub fn lock(&self) -> Result<Lock, Error> {
        fsutil::create_dir_all(&self.root, 0o700)?;
        lock::lock_dir(&self.root, &format!("the home {}", self.root.display()))
    }

    pub fn has_ca(&self) -> bool {
        self.ca_cert_path().exists() || self.ca_key_path().exists()
    }

    fn prepare_dir(&self, dir: &Path) -> Result<(), Error> {
        fsutil::create_dir_all(&self.root, 0o700)?;
        fsutil::create_dir_all(dir, 0o700)?;
        fsutil::remove_stale_temps(dir);
        Ok(())
    }

    fn refuse_existing_ca(&self) -> Result<(), Error> {
        if self.has_ca() {
            return Err(refused(
                format!("a CA already exists in {}", self.ca_dir().display()),
                "it was not touched; use another --home for a second CA, or remove that directory first",
            ));
        }
        Ok(())
    }

    /// Stores a CA all at once: key (0400 from its first byte) and
    /// certificate are written into a temp directory beside `ca/`, which is
    /// then renamed to `ca/`. A crash leaves no CA or the whole CA, never a
    /// key without its certificate; rename(2) refuses to replace a `ca/`
    /// that holds anything, so an existing CA is never replaced either.
    fn store_ca(&self, cert_pem: &str, key_pem: &str) -> Result<(), Error> {
        fsutil::create_dir_all(&self.root, 0o700)?;
        fsutil::remove_stale_temps(&self.root);
        let ca_dir = self.ca_dir();
        let temp = fsutil::temp_path_for(&ca_dir);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&temp)
            .map_err(|source| Error::Io {
                path: temp.clone(),
                action: "create directory",
                source,
            })?;
        let result = (|| {
            fsutil::write_atomic(&temp.join("ca.key"), key_pem.as_bytes(), 0o400)?;
            fsutil::write_atomic(&temp.join("ca.crt"), cert_pem.as_bytes(), 0o644)?;
            fsutil::failpoint("ca-staged");
            match fs::rename(&temp, &ca_dir) {
                Ok(()) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::DirectoryNotEmpty
                        || e.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    return Err(refused(
                        format!("{} exists and is not empty", ca_dir.display()),
                        "it was not touched; use another --home for a new CA, or move that directory away first",
                    ))
                }
                Err(source) => {
                    return Err(Error::Io {
                        path: ca_dir.clone(),
                        action: "rename into place",
                        source,
                    })
                }
            }
            fsutil::failpoint("ca-renamed");
            fsutil::sync_dir(&self.root)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&temp);
        }
        result
    }

    /// `ca init`: creates the private CA; refuses to replace one.
    pub fn init_ca(&self, cn: &str, kind: KeyKind, days: u32) -> Result<CertInfo, Error> {
        let _lock = self.lock()?;
        self.refuse_existing_ca()?;
        let ca = pki::create_ca(cn, kind, days, OffsetDateTime::now_utc())?;
        self.store_ca(&ca.cert_pem, &ca.key_pem)?;
        CertInfo::from_der(&ca.cert_der).map_err(|what| Error::Pki(pki::PkiError::Sign(what)))
    }

    /// `ca import`: adopts an existing CA (PEM certificate and key) after
    /// checking that it is a CA, that the key matches, and that we can sign
    /// with it.
    /// `key_path` `None`: the key comes from `cert_path`, a PKCS#12 file
    /// (`ca export`'s backup).
    pub fn import_ca(
        &self,
        cert_path: &Path,
        key_path: Option<&Path>,
        allow_insecure_key: bool,
    ) -> Result<CertInfo, Error> {
        let _lock = self.lock()?;
        self.refuse_existing_ca()?;
        let ders = certfiles::ders_in_file(cert_path)?;
        if ders.len() != 1 {
            return Err(refused(
                format!("{} holds {} certificates", cert_path.display(), ders.len()),
                "give a file with just the CA certificate",
            ));
        }
        let key_pem = match key_path {
            Some(k) => read_key_file(k, allow_insecure_key)?,
            None => certfiles::p12_key(cert_path)?.ok_or_else(|| {
                refused(
                    format!("{} holds no private key", cert_path.display()),
                    "give the CA's key with --key FILE (or a .p12 that holds both)",
                )
            })?,
        };
        let key_path = key_path.unwrap_or(cert_path);
        let ca = SigningCa::new(&ders[0], &key_pem).map_err(|e| match e {
            pki::PkiError::Key(m) => refused(
                format!("{}: {m}", key_path.display()),
                "give the CA's private key in PEM",
            ),
            other => Error::Pki(other),
        })?;
        let cert_pem = crate::core::pem::encode("CERTIFICATE", &ders[0]);
        self.store_ca(&cert_pem, &key_pem)?;
        Ok(ca.info)
    }

    /// The CA certificate, if there is one.
    pub fn ca_info(&self) -> Result<Option<CertInfo>, Error> {
        if !self.ca_cert_path().exists() {
            return Ok(None);
        }
        read_cert_file(&self.ca_cert_path()).map(Some)
    }

    fn no_ca(&self) -> Error {
        refused(
            format!("no CA in {}", self.root.display()),
            "create one with `starttls-studio ca init --cn NAME` (or `ca import`)",
        )
    }

    /// The CA, ready to sign.
    pub fn load_ca(&self) -> Result<SigningCa, Error> {
        if !self.ca_cert_path().exists() {
            return Err(self.no_ca());
        }
        let ders = certfiles::ders_in_file(&self.ca_cert_path())?;
        let key = read_home_key(&self.ca_key_path(), 0o400)?;
        Ok(SigningCa::new(&ders[0], &key)?)
    }

    /// `ca renew`: the CA certificate re-signed with the same key and
    /// subject for `days` more days; the old one goes to the archive
    /// (`archive/ca-SERIAL.crt`). Certificates it issued keep verifying.
    pub fn renew_ca(&self, days: u32) -> Result<(CertInfo, CertInfo), Error> {
        let _lock = self.lock()?;
        let old = self.load_ca()?.info;
        let key = read_home_key(&self.ca_key_path(), 0o400)?;
        let pem = pki::renew_ca(&old.der, &key, days, OffsetDateTime::now_utc())?;
        let dir = self.archive_dir();
        self.prepare_dir(&dir)?;
        fsutil::write_atomic(
            &dir.join(format!("ca-{}.crt", old.serial)),
            &fsutil::read_limited(&self.ca_cert_path(), PKI_FILE_LIMIT)?,
            0o644,
        )?;
        fsutil::write_atomic(&self.ca_cert_path(), pem.as_bytes(), 0o644)?;
        let new = read_cert_file(&self.ca_cert_path())?;
        Ok((old, new))
    }

    /// `cert issue`: a new host certificate; refuses to replace one.
    pub fn issue(
        &self,
        fqdn_in: &str,
        extra_sans: &[String],
        kind: KeyKind,
        days: u32,
    ) -> Result<IssueReport, Error> {
        let fqdn = fqdn::parse_fqdn(fqdn_in)
            .map_err(|m| refused(m, "give the host's fully qualified name"))?;
        let _lock = self.lock()?;
        let ca = self.load_ca()?;
        if self.host_cert_path(&fqdn.name).exists() {
            return Err(refused(
                format!(
                    "a certificate for {} already exists ({})",
                    fqdn.name,
                    self.host_cert_path(&fqdn.name).display()
                ),
                format!(
                    "use `starttls-studio cert renew {}` to replace it",
                    fqdn.name
                ),
            ));
        }
        self.issue_with(&ca, fqdn.name, extra_sans, kind, days, fqdn.notes)
    }

    fn issue_with(
        &self,
        ca: &SigningCa,
        fqdn: String,
        extra_sans: &[String],
        kind: KeyKind,
        days: u32,
        mut notes: Vec<String>,
    ) -> Result<IssueReport, Error> {
        let mut names = vec![fqdn.clone()];
        for s in extra_sans {
            fqdn::parse_san(s).map_err(|m| {
                refused(
                    format!("--san {s}: {m}"),
                    "give a DNS name or an IP address",
                )
            })?;
            names.push(s.clone());
        }
        let issued = ca.sign_host(&names, kind, days, OffsetDateTime::now_utc())?;
        notes.extend(issued.notes.iter().cloned());
        self.prepare_dir(&self.hosts_dir())?;
        let cert_path = self.host_cert_path(&fqdn);
        let key_path = self.host_key_path(&fqdn);
        // Both files are staged before either is replaced, and put in place
        // as a group: a failure leaves the old pair or, completed by the
        // next run, the new one — never a new certificate with an old key.
        let key = fsutil::stage(&key_path, issued.key_pem.as_bytes(), 0o600)?;
        let cert = match fsutil::stage(&cert_path, issued.cert_pem.as_bytes(), 0o644) {
            Ok(c) => c,
            Err(e) => {
                key.abort();
                return Err(e);
            }
        };
        fsutil::commit_together(vec![key, cert], &fqdn)?;
        let info =
            CertInfo::from_der(&issued.cert_der).map_err(|w| Error::Pki(pki::PkiError::Sign(w)))?;
        Ok(IssueReport {
            entry: HostEntry {
                fqdn,
                cert_path,
                key_path,
                info,
            },
            notes,
        })
    }

    /// `cert sign CSR`: signs a partner's request (see
    /// [`SigningCa::sign_csr`]) and records the certificate in the home
    /// like an issued one, without a key (the partner keeps it), with the
    /// request next to it (`hosts/FQDN.csr`). A certificate we issued for
    /// that name (with its key here) is not replaced; one signed from an
    /// earlier request is archived and replaced.
    pub fn sign_csr(&self, csr: &[u8], days: u32) -> Result<IssueReport, Error> {
        let _lock = self.lock()?;
        let ca = self.load_ca()?;
        let issued = ca.sign_csr(csr, days, OffsetDateTime::now_utc())?;
        let info =
            CertInfo::from_der(&issued.cert_der).map_err(|w| Error::Pki(pki::PkiError::Sign(w)))?;
        let fqdn = info
            .subject_cn
            .clone()
            .or_else(|| info.sans.first().cloned())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let cert_path = self.host_cert_path(&fqdn);
        let key_path = self.host_key_path(&fqdn);
        if cert_path.exists() {
            if key_path.exists() {
                return Err(refused(
                    format!("{fqdn} already has a certificate issued here, with its key ({})", cert_path.display()),
                    "a partner's request for a name this home already issued is refused; revoke that one first (cert revoke) if the partner now makes its own key",
                ));
            }
            let old = self.host(&fqdn)?;
            self.archive(&old)?;
        }
        self.prepare_dir(&self.hosts_dir())?;
        fsutil::write_atomic(&self.hosts_dir().join(format!("{fqdn}.csr")), csr, 0o644)?;
        fsutil::write_atomic(&cert_path, issued.cert_pem.as_bytes(), 0o644)?;
        Ok(IssueReport {
            entry: HostEntry {
                fqdn,
                cert_path,
                key_path,
                info,
            },
            notes: issued.notes,
        })
    }

    /// A host's certificate entry; a clear error when it was never issued.
    pub fn host(&self, fqdn_in: &str) -> Result<HostEntry, Error> {
        let fqdn = fqdn::parse_fqdn(fqdn_in)
            .map_err(|m| refused(m, "give the host's fully qualified name"))?
            .name;
        fsutil::remove_stale_temps(&self.hosts_dir());
        let cert_path = self.host_cert_path(&fqdn);
        if !cert_path.exists() {
            return Err(refused(
                format!(
                    "no certificate for {fqdn} in {}",
                    self.hosts_dir().display()
                ),
                format!("issue one with `starttls-studio cert issue {fqdn}` (see `cert list`)"),
            ));
        }
        let info = read_cert_file(&cert_path)?;
        Ok(HostEntry {
            key_path: self.host_key_path(&fqdn),
            fqdn,
            cert_path,
            info,
        })
    }

    /// All issued host certificates, sorted by name.
    pub fn list(&self) -> Result<Vec<HostEntry>, Error> {
        let dir = self.hosts_dir();
        // A renewal killed half-way is completed before anything is read.
        fsutil::remove_stale_temps(&dir);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    path: dir,
                    action: "list",
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(fqdn) = name.strip_suffix(".crt") {
                if fqdn.starts_with('.') {
                    continue;
                }
                out.push(HostEntry {
                    fqdn: fqdn.to_string(),
                    cert_path: e.path(),
                    key_path: self.host_key_path(fqdn),
                    info: read_cert_file(&e.path())?,
                });
            }
        }
        out.sort_by(|a, b| a.fqdn.cmp(&b.fqdn));
        Ok(out)
    }

    fn archive(&self, entry: &HostEntry) -> Result<(), Error> {
        let dir = self.archive_dir();
        self.prepare_dir(&dir)?;
        let base = format!("{}-{}", entry.fqdn, entry.info.serial);
        for (from, ext, mode) in [
            (&entry.cert_path, "crt", 0o644),
            (&entry.key_path, "key", 0o600),
        ] {
            if from.exists() {
                let data = fsutil::read_limited(from, PKI_FILE_LIMIT)?;
                fsutil::write_atomic(&dir.join(format!("{base}.{ext}")), &data, mode)?;
            }
        }
        Ok(())
    }

    /// `cert renew`: a new key and certificate with the same names (and key
    /// kind unless given); the old pair goes to the archive.
    pub fn renew(
        &self,
        fqdn_in: &str,
        kind: Option<KeyKind>,
        days: u32,
    ) -> Result<IssueReport, Error> {
        self.renew_with(fqdn_in, kind, days, false)
    }

    /// `cert renew`, optionally keeping the key (`reuse_key`: the key file
    /// is not touched, only the certificate is replaced, so a published
    /// DANE TLSA 3 1 1 record stays true). A certificate signed from a
    /// partner's request cannot be renewed here: only the partner can make
    /// a new request.
    pub fn renew_with(
        &self,
        fqdn_in: &str,
        kind: Option<KeyKind>,
        days: u32,
        reuse_key: bool,
    ) -> Result<IssueReport, Error> {
        let _lock = self.lock()?;
        let old = self.host(fqdn_in)?;
        if !old.key_path.exists() {
            return Err(refused(
                format!("{} was signed from a partner's certificate request; its key is the partner's", old.fqdn),
                format!("ask the partner for a new request (starttls-studio bundle {} --csr-first --out F gives it the steps) and sign it with cert sign", old.fqdn),
            ));
        }
        let ca = self.load_ca()?;
        if reuse_key {
            if kind.is_some() {
                return Err(refused(
                    "--reuse-key keeps the key, so it cannot change its kind",
                    "leave out --key, or --reuse-key",
                ));
            }
            let key_pem = read_home_key(&old.key_path, 0o600)?;
            let issued = sign_again(&ca, &old, &key_pem, days)?;
            self.archive(&old)?;
            fsutil::write_atomic(&old.cert_path, issued.cert_pem.as_bytes(), 0o644)?;
            return self.renewed(
                old,
                issued,
                "the key was kept (a DANE 3 1 1 record stays true); the previous certificate",
            );
        }
        let kind = kind.unwrap_or_else(|| key_kind_of(&old.info));
        let extra = other_names(&old);
        self.archive(&old)?;
        let mut report = self.issue_with(&ca, old.fqdn.clone(), &extra, kind, days, Vec::new())?;
        report.notes.push(format!(
            "the previous certificate (serial {}) is kept in {}",
            old.info.serial,
            self.archive_dir().display()
        ));
        Ok(report)
    }

    /// The home's CRL's nextUpdate (unix seconds, RFC 3339), when it has a
    /// readable CRL.
    pub fn crl_next_update(&self) -> Option<(i64, String)> {
        let data = fsutil::read_limited(&self.crl_path(), PKI_FILE_LIMIT).ok()?;
        crate::core::cert::crl_next_update(&data)
    }

    /// Where `dane rollover` keeps a host's next key until `cert renew
    /// --next-key` switches to it.
    pub fn next_key_path(&self, fqdn: &str) -> PathBuf {
        self.hosts_dir().join(format!("{fqdn}.next.key"))
    }

    /// `dane rollover`: the host's next key (of the current key's kind),
    /// made once and kept (0600) until the switch; returns the host, the
    /// next key's SubjectPublicKeyInfo (DER) and whether it was made now.
    pub fn prepare_next_key(&self, fqdn_in: &str) -> Result<(HostEntry, Vec<u8>, bool), Error> {
        let _lock = self.lock()?;
        let host = self.host(fqdn_in)?;
        if !host.key_path.exists() {
            return Err(refused(
                format!(
                    "{} was signed from a partner's request: its key is the partner's",
                    host.fqdn
                ),
                "the partner rolls its own key",
            ));
        }
        let path = self.next_key_path(&host.fqdn);
        let (key, made) = if path.exists() {
            (pki::read_key(&read_home_key(&path, 0o600)?)?, false)
        } else {
            let key = pki::generate_key(key_kind_of(&host.info))?;
            fsutil::write_atomic(&path, key.serialize_pem().as_bytes(), 0o600)?;
            (key, true)
        };
        Ok((host, spki_der(&key)?, made))
    }

    /// The next key's SubjectPublicKeyInfo, when a rollover is under way.
    pub fn next_key_spki(&self, fqdn: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = self.next_key_path(fqdn);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(spki_der(&pki::read_key(&read_home_key(
            &path, 0o600,
        )?)?)?))
    }

    /// `cert renew FQDN --next-key`: a new certificate for the key `dane
    /// rollover` made, which becomes the host's key; key and certificate
    /// replace the old pair together (archived), and the next key file is
    /// gone.
    pub fn renew_to_next_key(&self, fqdn_in: &str, days: u32) -> Result<IssueReport, Error> {
        let _lock = self.lock()?;
        let old = self.host(fqdn_in)?;
        let path = self.next_key_path(&old.fqdn);
        if !path.exists() {
            return Err(refused(
                format!("no next key for {}", old.fqdn),
                format!("start the rollover with `starttls-studio dane rollover {}`, publish its records, wait two TTLs", old.fqdn),
            ));
        }
        let key_pem = read_home_key(&path, 0o600)?;
        let ca = self.load_ca()?;
        let issued = sign_again(&ca, &old, &key_pem, days)?;
        self.archive(&old)?;
        let k = fsutil::stage(&old.key_path, key_pem.as_bytes(), 0o600)?;
        let c = match fsutil::stage(&old.cert_path, issued.cert_pem.as_bytes(), 0o644) {
            Ok(c) => c,
            Err(e) => {
                k.abort();
                return Err(e);
            }
        };
        fsutil::commit_together(vec![k, c], &old.fqdn)?;
        let _ = fs::remove_file(&path);
        self.renewed(
            old,
            issued,
            "switched to the key `dane rollover` made; the previous pair",
        )
    }

    /// The report of a renewal of `old` (now archived) as `issued`: its
    /// notes end with `what` happened and where the previous one is kept.
    fn renewed(
        &self,
        old: HostEntry,
        issued: pki::Issued,
        what: &str,
    ) -> Result<IssueReport, Error> {
        let info =
            CertInfo::from_der(&issued.cert_der).map_err(|w| Error::Pki(pki::PkiError::Sign(w)))?;
        let mut notes = issued.notes;
        notes.push(format!(
            "{what} (serial {}) is kept in {}",
            old.info.serial,
            self.archive_dir().display()
        ));
        Ok(IssueReport {
            entry: HostEntry { info, ..old },
            notes,
        })
    }

    /// Revoked serials: (serial hex, time, name).
    pub fn revoked(&self) -> Result<Vec<(String, OffsetDateTime, String)>, Error> {
        let text = match fsutil::read_limited(&self.revoked_path(), PKI_FILE_LIMIT) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut parts = line.split('\t');
            let (Some(serial), Some(when), name) =
                (parts.next(), parts.next(), parts.next().unwrap_or(""))
            else {
                return Err(refused(
                    format!(
                        "{}:{}: expected `SERIAL<TAB>TIME<TAB>NAME`",
                        self.revoked_path().display(),
                        i + 1
                    ),
                    "repair or remove the line",
                ));
            };
            let when = OffsetDateTime::parse(when, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    refused(
                        format!(
                            "{}:{}: bad time `{when}`",
                            self.revoked_path().display(),
                            i + 1
                        ),
                        "use RFC 3339, e.g. 2026-12-01T00:00:00Z",
                    )
                })?;
            out.push((serial.to_string(), when, name.to_string()));
        }
        Ok(out)
    }

    /// `cert revoke`: records the serial, re-signs the CRL, and moves the
    /// certificate and key to the archive.
    pub fn revoke(&self, fqdn_in: &str) -> Result<PathBuf, Error> {
        let _lock = self.lock()?;
        let entry = self.host(fqdn_in)?;
        let ca = self.load_ca()?;
        let now = OffsetDateTime::now_utc();
        let mut revoked = self.revoked()?;
        if !revoked.iter().any(|(s, _, _)| *s == entry.info.serial) {
            revoked.push((entry.info.serial.clone(), now, entry.fqdn.clone()));
        }
        let crl = self.sign_crl(&ca, &revoked, now)?;
        let table: String = revoked
            .iter()
            .map(|(s, t, n)| {
                let t = t
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                format!("{s}\t{t}\t{n}\n")
            })
            .collect();
        self.archive(&entry)?;
        fsutil::remove_stale_temps(&self.ca_dir());
        fsutil::write_atomic(&self.revoked_path(), table.as_bytes(), 0o644)?;
        fsutil::write_atomic(&self.crl_path(), crl.as_bytes(), 0o644)?;
        for p in [&entry.cert_path, &entry.key_path] {
            let _ = fs::remove_file(p);
        }
        Ok(self.crl_path())
    }

    fn sign_crl(
        &self,
        ca: &SigningCa,
        revoked: &[(String, OffsetDateTime, String)],
        now: OffsetDateTime,
    ) -> Result<String, Error> {
        let list: Vec<(Vec<u8>, OffsetDateTime)> = revoked
            .iter()
            .filter_map(|(s, t, _)| hex_bytes(s).map(|b| (b, *t)))
            .collect();
        // The CRL number only has to grow: the time does that without state.
        let number = now.unix_timestamp().max(1) as u64;
        Ok(ca.sign_crl(&list, number, now, 30)?)
    }

    /// `cert crl`: (re)signs the CRL (valid 30 days) and returns its path.
    pub fn installs_path(&self) -> PathBuf {
        self.root.join("installs.tsv")
    }

    /// Every `install FQDN --to DIR` made from this home, each once, in the
    /// order first made.
    pub fn installs(&self) -> Result<Vec<(String, PathBuf)>, Error> {
        let text = match fsutil::read_limited(&self.installs_path(), 16 * 1024 * 1024) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(f, d)| (f.to_string(), PathBuf::from(d)))
            .collect())
    }

    /// Remembers an install (the caller holds [`Home::lock`]); a repeat is
    /// a no-op.
    pub fn record_install_locked(&self, fqdn: &str, dir: &Path) -> Result<(), Error> {
        let mut all = self.installs()?;
        if all.iter().any(|(f, d)| f == fqdn && d == dir) {
            return Ok(());
        }
        all.push((fqdn.to_string(), dir.to_path_buf()));
        let text: String = all
            .iter()
            .map(|(f, d)| format!("{f}\t{}\n", d.display()))
            .collect();
        fsutil::write_atomic(&self.installs_path(), text.as_bytes(), 0o644)
    }

    pub fn write_crl(&self) -> Result<PathBuf, Error> {
        let _lock = self.lock()?;
        let ca = self.load_ca()?;
        let crl = self.sign_crl(&ca, &self.revoked()?, OffsetDateTime::now_utc())?;
        fsutil::remove_stale_temps(&self.ca_dir());
        fsutil::write_atomic(&self.crl_path(), crl.as_bytes(), 0o644)?;
        Ok(self.crl_path())
    }
}

/// A key's SubjectPublicKeyInfo (DER).
fn spki_der(key: &rcgen::KeyPair) -> Result<Vec<u8>, Error> {
    crate::core::pem::parse(key.public_key_pem().as_bytes())
        .ok()
        .and_then(|b| b.into_iter().next())
        .map(|b| b.der)
        .ok_or_else(|| refused("cannot encode the public key", ""))
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    let mut v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    // A serial whose top bit is set needs a leading zero to stay positive.
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    Some(v)
}

/// The key kind of an existing certificate, for renewing with the same kind.
fn key_kind_of(info: &CertInfo) -> KeyKind {
    match (info.key_type.as_str(), info.key_bits) {
        ("rsa", 3072) => KeyKind::Rsa3072,
        ("rsa", 4096) => KeyKind::Rsa4096,
        ("ecdsa-p256", _) => KeyKind::EcdsaP256,
        ("ecdsa-p384", _) => KeyKind::EcdsaP384,
        ("ed25519", _) => KeyKind::Ed25519,
        _ => KeyKind::Rsa2048,
    }
}

/// A host certificate's names besides its FQDN, as `--san` takes them (a
/// renewal keeps them).
/// `old`'s names (the FQDN first) signed again by `ca` with the key in
/// `key_pem`, for `days`.
fn sign_again(
    ca: &SigningCa,
    old: &HostEntry,
    key_pem: &str,
    days: u32,
) -> Result<pki::Issued, Error> {
    let key = pki::read_key(key_pem)?;
    let names: Vec<String> = std::iter::once(old.fqdn.clone())
        .chain(other_names(old))
        .collect();
    Ok(ca.sign_host_key(&names, key, days, OffsetDateTime::now_utc())?)
}

fn other_names(e: &HostEntry) -> Vec<String> {
    e.info
        .sans
        .iter()
        .filter(|s| **s != e.fqdn)
        .map(|s| s.strip_prefix("IP:").unwrap_or(s).to_string())
        .collect()
}
