//! `install FQDN --to DIR`: puts the CA and a host's certificate and key
//! where sendmail reads them, with the modes it accepts, and says which
//! `sendmail.mc` lines use them.
//!
//! All files are staged (written and synced under temporary names) before
//! any is renamed into place, so a failure while writing leaves the target
//! as it was. Re-running with the same inputs changes nothing.

use super::fsutil::{self, StagedFile, PKI_FILE_LIMIT};
use super::home::Home;
use super::lock;
use super::rehash::{self, RehashReport};
use super::{refused, Error};
use crate::core::cert::CertInfo;
use crate::core::linediff::{self, DiffLine};
use crate::core::rehash::HashKind;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What install will do to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    New,
    Unchanged,
    /// Same content, wrong mode: only the mode is fixed.
    ModeFixed {
        from: u32,
    },
    Replaced,
}

/// One file of the installation.
#[derive(Clone)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
    pub state: FileState,
    /// Private keys are never shown or logged.
    pub secret: bool,
}

impl std::fmt::Debug for PlannedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedFile")
            .field("path", &self.path)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("state", &self.state)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Everything install will write, computed before anything is touched (the
/// GUI shows it as the summary).
#[derive(Debug, Clone)]
pub struct InstallPlan {
    pub fqdn: String,
    pub to: PathBuf,
    pub capath: PathBuf,
    pub files: Vec<PlannedFile>,
    /// What was noticed about a certificate from elsewhere.
    pub notes: Vec<String>,
}

/// The result of an install.
#[derive(Debug, Clone)]
pub struct InstallReport {
    pub plan: InstallPlan,
    pub rehash: RehashReport,
    /// Things sendmail would refuse as unsafe, each with its fix.
    pub warnings: Vec<String>,
    pub mc_lines: String,
    /// Directories that did not exist and were made (0755), outermost first.
    pub created_dirs: Vec<PathBuf>,
}

/// File name of the CA file, both at the top and inside `certs/`.
pub const CA_FILE: &str = "CAcert.pem";

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn planned(
    path: PathBuf,
    contents: Vec<u8>,
    mode: u32,
    secret: bool,
) -> Result<PlannedFile, Error> {
    let state = match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState::New,
        Err(source) => {
            return Err(Error::Io {
                path,
                action: "inspect",
                source,
            })
        }
        Ok(m) if m.is_dir() => {
            return Err(refused(
                format!("{} is a directory", path.display()),
                "move it away; install writes a file there",
            ))
        }
        Ok(m) => {
            let same = m.is_file()
                && fsutil::read_limited(&path, PKI_FILE_LIMIT).ok().as_deref()
                    == Some(&contents[..]);
            let cur = m.permissions().mode() & 0o7777;
            match (same, cur == mode) {
                (true, true) => FileState::Unchanged,
                (true, false) => FileState::ModeFixed { from: cur },
                _ => FileState::Replaced,
            }
        }
    };
    Ok(PlannedFile {
        path,
        contents,
        mode,
        state,
        secret,
    })
}

/// Name of the CA directory (`confCACERT_PATH`) inside the install directory.
pub const CAPATH_DIR: &str = "certs";

/// One file of an installation, relative to the install directory. `install`
/// and `bundle` both take their files from [`layout`], so the two layouts
/// cannot drift apart.
#[derive(Clone)]
pub struct LayoutFile {
    pub rel: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
    /// Private keys are never shown or logged.
    pub secret: bool,
}

impl std::fmt::Debug for LayoutFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayoutFile")
            .field("rel", &self.rel)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("secret", &self.secret)
            .finish()
    }
}

/// The files of `fqdn`'s installation (without the hash links, which are
/// computed from the `certs/` files): `CAcert.pem`, `certs/CAcert.pem`,
/// `FQDN.crt` (0644), `FQDN.key` (0600). Returns the normalised FQDN too.
pub fn layout(home: &Home, fqdn: &str) -> Result<(String, Vec<LayoutFile>), Error> {
    layout_from(home, fqdn, None).map(|(f, files, _)| (f, files))
}

/// The CA's files of the layout alone (`CAcert.pem`, `certs/CAcert.pem`):
/// a "CSR first" bundle, whose host makes its own key.
pub fn layout_ca_only(home: &Home) -> Result<Vec<LayoutFile>, Error> {
    ca_files(home, "create one with `starttls-studio ca init --cn NAME`")
}

/// The CA's two files of every layout: `CAcert.pem` and
/// `certs/CAcert.pem`, our CA's certificate. `hint` says how to get one.
fn ca_files(home: &Home, hint: &str) -> Result<Vec<LayoutFile>, Error> {
    let ca_path = home.ca_cert_path();
    if !ca_path.exists() {
        return Err(refused(format!("no CA in {}", home.root.display()), hint));
    }
    let ca = fsutil::read_limited(&ca_path, PKI_FILE_LIMIT)?;
    Ok(vec![
        LayoutFile {
            rel: PathBuf::from(CA_FILE),
            contents: ca.clone(),
            mode: 0o644,
            secret: false,
        },
        LayoutFile {
            rel: Path::new(CAPATH_DIR).join(CA_FILE),
            contents: ca,
            mode: 0o644,
            secret: false,
        },
    ])
}

/// A host certificate from elsewhere (a public CA, an existing PKI):
/// `install FQDN --to DIR --cert F --key F [--chain F]`.
#[derive(Debug, Clone)]
pub struct External {
    pub cert: PathBuf,
    /// `None`: the key is in `cert`, a PKCS#12 file.
    pub key: Option<PathBuf>,
    pub chain: Option<PathBuf>,
}

/// An external certificate, checked: the leaf, its key, the intermediates
/// in order (roots left out), and what was noticed.
struct CheckedExternal {
    fqdn: String,
    leaf_pem: Vec<u8>,
    key_pem: Vec<u8>,
    intermediates: Vec<CertInfo>,
    notes: Vec<String>,
}

fn check_external(fqdn: &str, e: &External) -> Result<CheckedExternal, Error> {
    use crate::core::chain::{self, KeyMatch};
    let certs = super::certfiles::infos_in_file(&e.cert)?;
    let leaf = certs[0].clone();
    if leaf.is_ca {
        return Err(refused(
            format!(
                "the first certificate in {} is a CA ({}), not a host certificate",
                e.cert.display(),
                leaf.subject
            ),
            "give the host certificate first (--cert), the intermediates with --chain",
        ));
    }
    let names: Vec<String> = leaf
        .sans
        .iter()
        .cloned()
        .chain(leaf.subject_cn.clone())
        .collect();
    if !names.iter().any(|n| n.eq_ignore_ascii_case(fqdn)) {
        return Err(refused(
            format!(
                "{} is for {}, not {fqdn}",
                e.cert.display(),
                names.join(", ")
            ),
            "give the FQDN the certificate names (CN or subjectAltName)",
        ));
    }
    let (key_pem, key_file) = match &e.key {
        Some(k) => (
            String::from_utf8_lossy(&fsutil::read_limited(k, PKI_FILE_LIMIT)?).into_owned(),
            k.clone(),
        ),
        None => (
            super::certfiles::p12_key(&e.cert)?.ok_or_else(|| {
                refused(
                    format!("{} holds no private key", e.cert.display()),
                    "give the key with --key FILE (or a PKCS#12 file that holds both)",
                )
            })?,
            e.cert.clone(),
        ),
    };
    match chain::key_matches(&leaf.der, &key_pem) {
        Ok(KeyMatch::Matches) => {}
        Ok(KeyMatch::DoesNotMatch) => {
            return Err(refused(
                format!(
                    "{} is not the key of {} ({})",
                    key_file.display(),
                    e.cert.display(),
                    leaf.subject
                ),
                "give the key the certificate was issued for",
            ))
        }
        Ok(KeyMatch::Encrypted) => return Err(refused(
            format!("{} is encrypted with a passphrase", key_file.display()),
            "sendmail starts unattended and cannot ask for it: openssl pkey -in KEY -out KEY.new",
        )),
        Ok(KeyMatch::Unreadable(m)) => {
            return Err(refused(
                format!("{}: {m}", key_file.display()),
                "give the PEM private key",
            ))
        }
        Err(chain::Unchecked(m)) => return Err(refused(format!("{}: {m}", e.cert.display()), "")),
    }
    let mut rest: Vec<CertInfo> = certs[1..].to_vec();
    if let Some(c) = &e.chain {
        rest.extend(super::certfiles::infos_in_file(c)?);
    }
    let given: Vec<String> = rest.iter().map(|c| c.sha256_fingerprint.clone()).collect();
    let mut notes = Vec::new();
    let mut ordered: Vec<CertInfo> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut current = leaf.der.clone();
    while let Some(i) = rest
        .iter()
        .position(|c| c.der != current && chain::signed_by(&current, &c.der) == Ok(true))
    {
        let c = rest.remove(i);
        current = c.der.clone();
        path.push(c.sha256_fingerprint.clone());
        if c.self_signed {
            notes.push(format!("left out the root {}: clients have their own copy, and in the CA directory it would be trusted for clients too", c.subject));
            continue;
        }
        if !c.is_ca {
            return Err(refused(
                format!("{} in the chain is not a CA", c.subject),
                "give the intermediate CA certificates with --chain",
            ));
        }
        ordered.push(c);
    }
    if let Some(c) = rest.first() {
        return Err(refused(
            format!(
                "{} does not belong to the chain of {} (it signs none of it)",
                c.subject, leaf.subject
            ),
            "give only the intermediates between the certificate and its root",
        ));
    }
    if given != path {
        notes.push("the chain was given out of order; it is installed in order".into());
    }
    if !ordered.is_empty() {
        notes.push("sendmail 8.17 sends only the first certificate of confSERVER_CERT (measured); it sends the intermediates when it finds them in its CA store, so they go into the CA directory — where they also verify clients' certificates: never give CERTISSUER … RELAY for a public intermediate".into());
    }
    Ok(CheckedExternal {
        fqdn: fqdn.to_ascii_lowercase(),
        leaf_pem: crate::core::pem::encode("CERTIFICATE", &leaf.der).into_bytes(),
        key_pem: key_pem.into_bytes(),
        intermediates: ordered,
        notes,
    })
}

/// A file name an admin recognises for a CA: its CN (else O, else "CA"),
/// made safe, and the start of its SHA-256 fingerprint.
pub fn ca_file_name(prefix: &str, info: &CertInfo) -> String {
    let name = info
        .subject_cn
        .clone()
        .or_else(|| {
            info.subject
                .split('/')
                .find_map(|p| p.strip_prefix("O=").map(str::to_string))
        })
        .unwrap_or_else(|| "CA".into());
    let mut slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    slug.truncate(48);
    let slug = slug.trim_matches(['_', '.']).to_string();
    let fp: String = info
        .sha256_fingerprint
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    format!(
        "{prefix}{}-{fp}.pem",
        if slug.is_empty() { "CA" } else { &slug }
    )
}

/// The layout, and notes about an external certificate.
type Layout = (String, Vec<LayoutFile>, Vec<String>);

fn layout_from(home: &Home, fqdn: &str, external: Option<&External>) -> Result<Layout, Error> {
    if let Some(e) = external {
        let x = check_external(fqdn, e)?;
        let mut files = ca_files(home, "create one with `starttls-studio ca init --cn NAME`: it stays the CA of your client certificates and partners")?;
        files.push(LayoutFile {
            rel: PathBuf::from(format!("{}.crt", x.fqdn)),
            contents: x.leaf_pem,
            mode: 0o644,
            secret: false,
        });
        files.push(LayoutFile {
            rel: PathBuf::from(format!("{}.key", x.fqdn)),
            contents: x.key_pem,
            mode: 0o600,
            secret: true,
        });
        for c in &x.intermediates {
            files.push(LayoutFile {
                rel: Path::new(CAPATH_DIR).join(ca_file_name("chain-", c)),
                contents: crate::core::pem::encode("CERTIFICATE", &c.der).into_bytes(),
                mode: 0o644,
                secret: false,
            });
        }
        return Ok((x.fqdn, files, x.notes));
    }
    let host = home.host(fqdn)?;
    let mut files = ca_files(home, "create one with `starttls-studio ca init --cn NAME`")?;
    let cert = fsutil::read_limited(&host.cert_path, PKI_FILE_LIMIT)?;
    if !host.key_path.exists() {
        return Err(refused(
            format!(
                "{} was signed from a partner's certificate request: its key is on the partner's host, not here",
                host.fqdn
            ),
            "install and bundle are for hosts whose key this home holds (cert issue); send the partner its certificate (cert sign prints it)",
        ));
    }
    let key = super::certfiles::read_home_key(&host.key_path, 0o600)?.into_bytes();
    let file = |rel: PathBuf, contents: Vec<u8>, mode: u32, secret: bool| LayoutFile {
        rel,
        contents,
        mode,
        secret,
    };
    files.extend([
        file(
            PathBuf::from(format!("{}.crt", host.fqdn)),
            cert,
            0o644,
            false,
        ),
        file(
            PathBuf::from(format!("{}.key", host.fqdn)),
            key,
            0o600,
            true,
        ),
    ]);
    Ok((host.fqdn, files, Vec::new()))
}

/// The partner CAs announced in `to/CAcert.pem` (PEM each): those also
/// trusted in `capath` by a file of their own, other than the CA file the
/// install writes there (ours). An old CA of ours is not kept: install
/// replaces `certs/CAcert.pem`.
fn announced_partners(to: &Path, capath: &Path) -> Vec<Vec<u8>> {
    let Ok(announced) = super::certfiles::ders_in_file(&to.join(CA_FILE)) else {
        return Vec::new();
    };
    let trusted: Vec<Vec<u8>> = fs::read_dir(capath)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name() != CA_FILE)
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter_map(|e| super::certfiles::ders_in_file(&e.path()).ok())
                .filter(|v| v.len() == 1)
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    announced
        .into_iter()
        .filter(|d| trusted.contains(d))
        .map(|d| crate::core::pem::encode("CERTIFICATE", &d).into_bytes())
        .collect()
}

/// Computes the installation of `fqdn`'s certificate into `to`.
pub fn plan(home: &Home, fqdn: &str, to: &Path) -> Result<InstallPlan, Error> {
    plan_from(home, fqdn, to, None)
}

/// [`plan`], with the host certificate and key from elsewhere when given.
pub fn plan_from(
    home: &Home,
    fqdn: &str,
    to: &Path,
    external: Option<&External>,
) -> Result<InstallPlan, Error> {
    let (fqdn, layout, notes) = layout_from(home, fqdn, external)?;
    let to = absolute(to);
    if to.exists() && !to.is_dir() {
        return Err(refused(
            format!("{} is not a directory", to.display()),
            "give a directory with --to",
        ));
    }
    let capath = to.join(CAPATH_DIR);
    let partners = announced_partners(&to, &capath);
    let mut layout = layout;
    // The CRL goes along once an install has one (`install --crl`): every
    // later install (`--all`, the renewal timer) brings the current one.
    if capath.join(CRL_FILE).exists() && home.crl_path().exists() {
        layout.push(LayoutFile {
            rel: Path::new(CAPATH_DIR).join(CRL_FILE),
            contents: fsutil::read_limited(&home.crl_path(), PKI_FILE_LIMIT)?,
            mode: 0o644,
            secret: false,
        });
    }
    let files = layout
        .into_iter()
        .map(|mut f| {
            // CAcert.pem: our CA, then the partner CAs announced there
            // (`trust add --announce`), which an install must not drop.
            if f.rel == Path::new(CA_FILE) {
                for p in &partners {
                    if !f.contents.ends_with(b"\n") {
                        f.contents.push(b'\n');
                    }
                    f.contents.extend_from_slice(p);
                }
            }
            planned(to.join(&f.rel), f.contents, f.mode, f.secret)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InstallPlan {
        fqdn,
        to,
        capath,
        files,
        notes,
    })
}

/// `install FQDN --to DIR` as one step, serialised with every other writer
/// of the home and of `DIR`: creates `DIR` if missing (0755, reported in
/// `created_dirs`), plans and applies under both locks, so two runs at once
/// never see each other's half-done work.
pub fn install(home: &Home, fqdn: &str, to: &Path) -> Result<InstallReport, Error> {
    install_from(home, fqdn, to, None)
}

/// [`install`], with the host certificate and key from elsewhere when given.
pub fn install_from(
    home: &Home,
    fqdn: &str,
    to: &Path,
    external: Option<&External>,
) -> Result<InstallReport, Error> {
    install_inner(home, fqdn, to, external, false).map(|(r, _)| r)
}

/// [`install_from`], also returning what the files it replaces held
/// before ([`save_targets`]), read under the same locks as the install
/// itself: a concurrent install cannot slip in between, so a rollback
/// puts back exactly what this install replaced.
pub fn install_saving(
    home: &Home,
    fqdn: &str,
    to: &Path,
    external: Option<&External>,
) -> Result<(InstallReport, Saved), Error> {
    install_inner(home, fqdn, to, external, true).map(|(r, s)| (r, s.unwrap_or_default()))
}

fn install_inner(
    home: &Home,
    fqdn: &str,
    to: &Path,
    external: Option<&External>,
    save: bool,
) -> Result<(InstallReport, Option<Saved>), Error> {
    let to = absolute(to);
    if to.exists() && !to.is_dir() {
        return Err(refused(
            format!("{} is not a directory", to.display()),
            "give a directory with --to",
        ));
    }
    let missing: Vec<&Path> = to.ancestors().take_while(|d| !d.exists()).collect();
    // Outermost first, one at a time: a directory counts as created here
    // only if this run's mkdir made it (another run may race us to it).
    let mut created_dirs = Vec::new();
    for d in missing.into_iter().rev() {
        use std::os::unix::fs::DirBuilderExt;
        match fs::DirBuilder::new().mode(0o755).create(d) {
            Ok(()) => created_dirs.push(d.to_path_buf()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(Error::Io {
                    path: d.to_path_buf(),
                    action: "create directory",
                    source,
                })
            }
        }
    }
    let home_lock = home.lock()?;
    let _dir_lock = if home_lock.covers(&to) {
        None
    } else {
        Some(lock::lock_dir(
            &to,
            &format!("the install directory {}", to.display()),
        )?)
    };
    let plan = plan_from(home, fqdn, &to, external)?;
    let saved = if save {
        Some(save_targets(&plan)?)
    } else {
        None
    };
    let mut report = apply(&plan)?;
    // The home remembers where its hosts went (`install --all`, `status`);
    // a certificate from elsewhere is not the home's to re-install.
    if external.is_none() {
        home.record_install_locked(&plan.fqdn, &plan.to)?;
    }
    report.created_dirs = created_dirs;
    Ok((report, saved))
}

/// What the files a plan will change hold now (`None`: not there yet),
/// with their modes, so a failed restart can put them back.
pub type Saved = Vec<(PathBuf, Option<(Vec<u8>, u32)>)>;

pub fn save_targets(plan: &InstallPlan) -> Result<Saved, Error> {
    let mut out = Vec::new();
    for f in &plan.files {
        if matches!(f.state, FileState::Unchanged) {
            continue;
        }
        let old = match fs::metadata(&f.path) {
            Ok(m) => Some((
                fsutil::read_limited(&f.path, PKI_FILE_LIMIT)?,
                m.permissions().mode() & 0o7777,
            )),
            Err(_) => None,
        };
        out.push((f.path.clone(), old));
    }
    Ok(out)
}

/// Puts back what [`save_targets`] saved (new files are removed), then
/// rehashes `capath`.
pub fn restore(saved: &Saved, capath: &Path) -> Result<(), Error> {
    for (path, old) in saved {
        match old {
            Some((data, mode)) => fsutil::write_atomic(path, data, *mode)?,
            None => {
                let _ = fs::remove_file(path);
            }
        }
    }
    if capath.is_dir() {
        rehash::rehash_dir(capath, HashKind::New)?;
    }
    Ok(())
}

/// Carries out a plan: stage every changed file, then rename them all into
/// place, fix modes, and rehash `certs/`. The caller holds the locks
/// ([`install`] does).
pub fn apply(plan: &InstallPlan) -> Result<InstallReport, Error> {
    fsutil::create_dir_all(&plan.to, 0o755)?;
    fsutil::create_dir_all(&plan.capath, 0o755)?;
    for dir in [&plan.to, &plan.capath] {
        fsutil::remove_stale_temps(dir);
    }
    let mut staged: Vec<StagedFile> = Vec::new();
    for f in &plan.files {
        if matches!(f.state, FileState::New | FileState::Replaced) {
            match fsutil::stage(&f.path, &f.contents, f.mode) {
                Ok(s) => staged.push(s),
                Err(e) => {
                    staged.into_iter().for_each(StagedFile::abort);
                    return Err(e);
                }
            }
        }
    }
    for s in staged {
        s.commit()?;
    }
    for f in &plan.files {
        if let FileState::ModeFixed { .. } = f.state {
            fs::set_permissions(&f.path, fs::Permissions::from_mode(f.mode)).map_err(|source| {
                Error::Io {
                    path: f.path.clone(),
                    action: "set the mode of",
                    source,
                }
            })?;
        }
    }
    let rehash = rehash::rehash_dir(&plan.capath, HashKind::New)?;
    // The lines fitted to the system's sendmail.mc, when there is one.
    let advice = super::mc::advice(None, &plan.fqdn, &plan.to);
    Ok(InstallReport {
        created_dirs: Vec::new(),
        warnings: safety_warnings_with(plan, advice.trusts_sticky),
        mc_lines: advice.lines,
        plan: plan.clone(),
        rehash,
    })
}

/// The `sendmail.mc` lines for an installation.
pub fn mc_lines(plan: &InstallPlan) -> String {
    mc_lines_for(&plan.fqdn, &plan.to)
}

/// The CRL's name in an install's CA directory (`install --crl`).
pub const CRL_FILE: &str = "crl.pem";

/// `install --crl`: puts the home's CRL into `to`'s CA directory, so that
/// this and every later install of `to` brings the current one (with its
/// `HASH.r0` link, as `openssl rehash` makes). Refused without a CRL.
/// The CRL file is the opt-in: later installs of `to` keep it current.
/// Returns the file when this call created it (the caller removes it
/// again when the install it was for fails), `None` when it was there.
pub fn enable_crl(home: &Home, to: &Path) -> Result<Option<PathBuf>, Error> {
    if !home.crl_path().exists() {
        return Err(refused(
            format!("no CRL in {}", home.root.display()),
            "sign one first: `starttls-studio cert crl` (cert revoke signs one too)",
        ));
    }
    let capath = absolute(to).join(CAPATH_DIR);
    fsutil::create_dir_all(&capath, 0o755)?;
    let target = capath.join(CRL_FILE);
    if target.exists() {
        return Ok(None);
    }
    let _lock = super::lock::lock_dir(&capath, "the CA directory")?;
    fsutil::write_atomic(
        &target,
        &fsutil::read_limited(&home.crl_path(), PKI_FILE_LIMIT)?,
        0o644,
    )?;
    Ok(Some(target))
}

/// After a failed install: the CRL `enable_crl` created for it is taken
/// away again, so no CRL without its hash link is left behind.
pub fn undo_enable_crl(created: Option<PathBuf>) {
    if let Some(f) = created {
        let _ = std::fs::remove_file(f);
    }
}

/// The `confCRL` line for an install that carries the CRL.
pub fn crl_line(plan: &InstallPlan) -> Option<String> {
    let crl = plan.capath.join(CRL_FILE);
    plan.files
        .iter()
        .any(|f| f.path == crl)
        .then(|| format!("define(`confCRL', `{}')dnl\n", crl.display()))
}

/// The `sendmail.mc` lines for `fqdn`'s files installed in `to`.
pub fn mc_lines_for(fqdn: &str, to: &Path) -> String {
    let capath = to.join(CAPATH_DIR);
    let to = to.display();
    let f = fqdn;
    format!(
        "define(`confCACERT_PATH', `{capath}')dnl\n\
         define(`confCACERT', `{to}/{CA_FILE}')dnl\n\
         define(`confSERVER_CERT', `{to}/{f}.crt')dnl\n\
         define(`confSERVER_KEY', `{to}/{f}.key')dnl\n\
         define(`confCLIENT_CERT', `{to}/{f}.crt')dnl\n\
         define(`confCLIENT_KEY', `{to}/{f}.key')dnl\n\
         FEATURE(`access_db')dnl\n",
        capath = capath.display()
    )
}

/// What sendmail (running as root, default TrustedUser) would refuse as
/// unsafe — it then silently offers no STARTTLS — each with the fix.
pub fn safety_warnings(plan: &InstallPlan) -> Vec<String> {
    safety_warnings_with(plan, false)
}

/// [`safety_warnings`], knowing whether the sendmail configuration already
/// has `DontBlameSendmail=TrustStickyBit` (Debian's does).
pub fn safety_warnings_with(plan: &InstallPlan, trusts_sticky: bool) -> Vec<String> {
    let mut w = Vec::new();
    // Every directory from the files' directory up to the root.
    let mut dir = Some(plan.to.as_path());
    while let Some(d) = dir {
        if let Ok(m) = fs::metadata(d) {
            let mode = m.permissions().mode();
            let sticky = mode & 0o1000 != 0;
            if mode & 0o002 != 0 && sticky {
                if !trusts_sticky {
                    w.push(format!(
                        "{} is world-writable with the sticky bit: sendmail accepts it only with TrustStickyBit in DontBlameSendmail, \
                         added to the flags already there with `define(`confDONT_BLAME_SENDMAIL', defn(`confDONT_BLAME_SENDMAIL')`,TrustStickyBit')dnl` \
                         (starttls-studio mc apply does this); better install under a 0755 directory",
                        d.display()
                    ));
                }
            } else if mode & 0o022 != 0 {
                let who = if mode & 0o002 != 0 { "World" } else { "Group" };
                w.push(format!(
                    "{} is {}-writable: sendmail refuses the certificates under it (\"{who} writable directory\"); fix: chmod go-w {}",
                    d.display(),
                    who.to_lowercase(),
                    d.display()
                ));
            }
        }
        dir = d.parent();
    }
    for f in &plan.files {
        if let Ok(m) = fs::metadata(&f.path) {
            if f.secret && m.uid() != 0 {
                w.push(format!(
                    "{} is owned by uid {}, not root: sendmail refuses it (\"Permission denied\"); fix: chown root {}",
                    f.path.display(),
                    m.uid(),
                    f.path.display()
                ));
            }
        }
    }
    w
}

/// What install would change in the files it replaces. Keys are never
/// shown.
pub fn replaced_diffs(plan: &InstallPlan) -> Vec<(PathBuf, Vec<DiffLine>)> {
    plan.files
        .iter()
        .filter(|f| f.state == FileState::Replaced && !f.secret)
        .map(|f| {
            let old = fsutil::read_limited(&f.path, PKI_FILE_LIMIT).unwrap_or_default();
            let diff = linediff::diff_lines(
                &String::from_utf8_lossy(&old),
                &String::from_utf8_lossy(&f.contents),
                2,
            );
            (f.path.clone(), diff)
        })
        .collect()
}
