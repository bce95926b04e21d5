//! `bundle FQDN --out DIR|FILE.tar`: everything one host needs, for
//! configuration management to copy: the files `install` writes (same
//! layout, from [`install::layout`]), the `certs/` hash links, the
//! `sendmail.mc` lines, `access` lines and a README.
//!
//! Reproducible: the same home and options give byte-identical tar files
//! (entries sorted, owner root:root, every mtime the certificate's
//! notBefore). The tar keeps modes (key 0600, certificates 0644,
//! directories 0755) and the hash links as symbolic links, and it is
//! written 0600 itself, as it holds a private key.

use super::fsutil;
use super::home::Home;
use super::install::{self, CAPATH_DIR, CA_FILE};
use super::{refused, Error};
use crate::core::cert::CertInfo;
use crate::core::rehash::{self, Candidate, Classified, HashKind};
use crate::core::tar::{self, TarEntry, TarKind};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the files go on the target host unless told otherwise.
pub const DEFAULT_PREFIX: &str = "/etc/mail/tls";
/// The first line of every bundle README (how a previous bundle is recognised).
pub const README_MARKER: &str = "starttls-studio bundle for ";
pub const MC_SNIPPET: &str = "sendmail.mc.snippet";
pub const ACCESS_SNIPPET: &str = "access.snippet";
pub const README: &str = "README.txt";

/// A bundle in memory: entries in archive order, paths relative (`./x`).
#[derive(Debug, Clone)]
pub struct Bundle {
    pub fqdn: String,
    /// The directory the files are meant for on the target host.
    pub prefix: PathBuf,
    /// The certificate's notBefore (unix seconds): every entry's mtime.
    pub mtime: u64,
    pub entries: Vec<TarEntry>,
}

impl Bundle {
    /// The archive bytes.
    pub fn to_tar(&self) -> Vec<u8> {
        tar::ustar(&self.entries, self.mtime)
    }
}

/// `CERTISSUER:` for our CA, and commented `TLS_Srv`/`TLS_Clt` suggestions
/// for the other hosts issued from this home.
fn access_lines(ca: &CertInfo, fqdn: &str, others: &[String]) -> String {
    let mut s = format!(
        "# access map lines for {fqdn} (starttls-studio bundle).\n\
         # Append to /etc/mail/access, then: makemap hash /etc/mail/access < /etc/mail/access\n\
         #\n\
         # Hosts with a certificate from this CA ({}) may relay through this one\n\
         # (sendmail checks that the certificate verifies: verify=OK).\n\
         CERTISSUER:{}\tRELAY\n",
        ca.subject, ca.subject_sendmail
    );
    if !others.is_empty() {
        s.push_str(
            "#\n# Optional: require a verified certificate from the other hosts of the fleet,\n\
             # when this host sends to them (TLS_Srv) and when they connect (TLS_Clt):\n",
        );
        for o in others {
            s.push_str(&format!("# TLS_Srv:{o}\tVERIFY\n# TLS_Clt:{o}\tVERIFY\n"));
        }
    }
    s
}

fn readme(fqdn: &str, prefix: &Path, ca: &CertInfo, cert: &CertInfo) -> String {
    let p = prefix.display();
    format!(
        "{README_MARKER}{fqdn}\n\
         \n\
         Certificate: {subject}, valid {nb} to {na}\n\
         Issued by:   {ca}\n\
         \n\
         Contents (meant for {p}):\n\
         \x20 {CA_FILE}             the CA certificate (confCACERT: trusted, and announced to clients)   0644\n\
         \x20 {CAPATH_DIR}/                  the CA directory (confCACERT_PATH) with its hash links         0755\n\
         \x20 {fqdn}.crt   the host certificate (server and client)                           0644\n\
         \x20 {fqdn}.key   its private key                                                    0600\n\
         \x20 {MC_SNIPPET}    the lines for sendmail.mc\n\
         \x20 {ACCESS_SNIPPET}        lines for /etc/mail/access (relay by certificate)\n\
         \n\
         Install by hand, as root:\n\
         \n\
         \x20 mkdir -p {p} && chmod 755 {p}\n\
         \x20 tar -xpf {fqdn}.tar -C {p}      # keeps modes, owner root, and the links\n\
         \x20 # add the lines of {p}/{MC_SNIPPET} to /etc/mail/sendmail.mc, then\n\
         \x20 make -C /etc/mail               # Debian; elsewhere: m4 sendmail.mc > sendmail.cf\n\
         \x20 # optionally append {p}/{ACCESS_SNIPPET} to /etc/mail/access, then\n\
         \x20 makemap hash /etc/mail/access < /etc/mail/access\n\
         \x20 systemctl restart sendmail      # or: /etc/init.d/sendmail restart\n\
         \x20 starttls-studio doctor          # checks modes, links, key, chain, expiry\n\
         \n\
         sendmail refuses (and silently offers no STARTTLS) when the key is readable\n\
         by others, when a certificate or a directory on the path to it is writable\n\
         by others, or when the key is not owned by root; the tar keeps the right\n\
         modes. Many hosts: see packaging/examples/ansible in the starttls-studio\n\
         sources.\n",
        subject = cert.subject,
        nb = cert.not_before,
        na = cert.not_after,
        ca = ca.subject,
    )
}

/// The README of a "CSR first" bundle: the partner makes its key and a
/// request on its own host with one `openssl req` line, sends the request,
/// and gets the certificate back (`cert sign`).
fn readme_csr_first(fqdn: &str, prefix: &Path, ca: &CertInfo) -> String {
    let p = prefix.display();
    format!(
        "{README_MARKER}{fqdn} (CSR first: your key stays on your host)\n\
         \n\
         CA: {ca}\n\
         \n\
         Contents (meant for {p}):\n\
         \x20 {CA_FILE}             the CA certificate (confCACERT)                       0644\n\
         \x20 {CAPATH_DIR}/                  the CA directory (confCACERT_PATH) with its hash link  0755\n\
         \x20 {MC_SNIPPET}    the lines for sendmail.mc\n\
         \x20 {ACCESS_SNIPPET}        lines for /etc/mail/access (relay by certificate)\n\
         \n\
         1. Make your key and a certificate request, as root, on {fqdn}:\n\
         \n\
         \x20 mkdir -p {p} && chmod 755 {p} && tar -xpf {fqdn}.tar -C {p}\n\
         \x20 (umask 077; openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n\
         \x20     -keyout {p}/{fqdn}.key -subj /CN={fqdn} -addext subjectAltName=DNS:{fqdn} \\\n\
         \x20     -out {fqdn}.csr)\n\
         \n\
         2. Send {fqdn}.csr (not the key) to the CA's administrator, who runs\n\
         \x20  starttls-studio cert sign {fqdn}.csr\n\
         \x20  and sends back {fqdn}.crt. Put it at {p}/{fqdn}.crt (mode 0644).\n\
         \n\
         3. Add the lines of {p}/{MC_SNIPPET} to /etc/mail/sendmail.mc, rebuild\n\
         \x20  sendmail.cf (Debian: make -C /etc/mail), restart sendmail, and check:\n\
         \x20  starttls-studio doctor\n",
        ca = ca.subject,
    )
}

/// Builds the bundle of `fqdn` for installation under `prefix` (used in
/// the `sendmail.mc` lines).
pub fn build(home: &Home, fqdn: &str, prefix: &Path) -> Result<Bundle, Error> {
    build_with(home, fqdn, prefix, false)
}

/// [`build`]; with `csr_first` the bundle holds no certificate and no key:
/// its README has the partner make both on its own host (see
/// [`readme_csr_first`]), and the host need not be issued here.
pub fn build_with(
    home: &Home,
    fqdn: &str,
    prefix: &Path,
    csr_first: bool,
) -> Result<Bundle, Error> {
    if !prefix.is_absolute() {
        return Err(refused(
            format!("--prefix {} is not an absolute path", prefix.display()),
            "sendmail.mc needs absolute paths, e.g. /etc/mail/tls",
        ));
    }
    let (fqdn, files, cert) = if csr_first {
        let fqdn = crate::core::fqdn::parse_fqdn(fqdn)
            .map_err(|m| refused(m, "give the partner host's fully qualified name"))?
            .name;
        (fqdn, install::layout_ca_only(home)?, None)
    } else {
        let (fqdn, files) = install::layout(home, fqdn)?;
        let cert = super::certfiles::read_cert_file(&home.host_cert_path(&fqdn))?;
        (fqdn, files, Some(cert))
    };
    let ca = super::certfiles::read_cert_file(&home.ca_cert_path())?;
    let others: Vec<String> = home
        .list()?
        .into_iter()
        .map(|h| h.fqdn)
        .filter(|h| *h != fqdn)
        .collect();
    let dir = |path: &str| TarEntry {
        path: path.into(),
        mode: 0o755,
        kind: TarKind::Dir,
    };
    let mut entries = vec![dir("./"), dir(&format!("./{CAPATH_DIR}/"))];
    let mut candidates = Vec::new();
    for f in &files {
        let rel = f.rel.to_string_lossy().into_owned();
        if let Some(name) = rel.strip_prefix(&format!("{CAPATH_DIR}/")) {
            if let Classified::Object(obj) = rehash::classify(&f.contents) {
                let hash = rehash::object_hash(&obj, HashKind::New)
                    .map_err(|e| refused(format!("{rel}: {e}"), "check the CA certificate"))?;
                candidates.push(Candidate {
                    file_name: name.as_bytes().to_vec(),
                    kind: obj.kind,
                    hash,
                    fingerprint: obj.fingerprint,
                });
            }
        }
        entries.push(TarEntry {
            path: format!("./{rel}"),
            mode: f.mode,
            kind: TarKind::File(f.contents.clone()),
        });
    }
    candidates.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    let (links, _) = rehash::plan_links(&candidates);
    for l in links {
        entries.push(TarEntry {
            path: format!("./{CAPATH_DIR}/{}", l.name),
            mode: 0o777,
            kind: TarKind::Symlink(String::from_utf8_lossy(&l.target).into_owned()),
        });
    }
    let text = |name: &str, body: String| TarEntry {
        path: format!("./{name}"),
        mode: 0o644,
        kind: TarKind::File(body.into_bytes()),
    };
    entries.push(text(MC_SNIPPET, install::mc_lines_for(&fqdn, prefix)));
    entries.push(text(ACCESS_SNIPPET, access_lines(&ca, &fqdn, &others)));
    let readme = match &cert {
        Some(cert) => readme(&fqdn, prefix, &ca, cert),
        None => readme_csr_first(&fqdn, prefix, &ca),
    };
    entries.push(text(README, readme));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Bundle {
        fqdn,
        prefix: prefix.to_path_buf(),
        mtime: cert.as_ref().unwrap_or(&ca).not_before_unix.max(0) as u64,
        entries,
    })
}

/// What `write` did.
#[derive(Debug, Clone)]
pub struct BundleReport {
    pub out: PathBuf,
    pub tar: bool,
    /// (path inside the bundle, mode, what) for the listing.
    pub entries: Vec<(String, u32, &'static str)>,
}

/// True for an `--out` that names a tar file.
pub fn is_tar_path(out: &Path) -> bool {
    out.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
}

/// Writes the bundle: a tar file (atomically, mode 0600) when `out` ends
/// in `.tar`, else a directory tree. An existing directory must be empty
/// or hold an earlier bundle (its README says so); files are replaced
/// atomically one by one, and stale hash links are removed.
pub fn write(bundle: &Bundle, out: &Path) -> Result<BundleReport, Error> {
    let listing = bundle
        .entries
        .iter()
        .map(|e| {
            let what = match e.kind {
                TarKind::Dir => "directory",
                TarKind::File(_) => "file",
                TarKind::Symlink(_) => "link",
            };
            (e.path.clone(), e.mode, what)
        })
        .collect();
    let tar = is_tar_path(out);
    if tar {
        fsutil::write_atomic(out, &bundle.to_tar(), 0o600)?;
    } else {
        write_dir(bundle, out)?;
    }
    Ok(BundleReport {
        out: out.to_path_buf(),
        tar,
        entries: listing,
    })
}

fn write_dir(bundle: &Bundle, out: &Path) -> Result<(), Error> {
    if out.exists() {
        let empty = fs::read_dir(out)
            .map_err(|source| Error::Io {
                path: out.to_path_buf(),
                action: "list",
                source,
            })?
            .next()
            .is_none();
        let ours = fs::read_to_string(out.join(README))
            .map(|t| t.starts_with(README_MARKER))
            .unwrap_or(false);
        if !empty && !ours {
            return Err(refused(
                format!("{} exists and is not empty", out.display()),
                "give a new or empty directory, or one that holds an earlier bundle",
            ));
        }
    }
    for e in &bundle.entries {
        let rel = e.path.trim_start_matches("./").trim_end_matches('/');
        let path = if rel.is_empty() {
            out.to_path_buf()
        } else {
            out.join(rel)
        };
        match &e.kind {
            TarKind::Dir => {
                fsutil::create_dir_all(&path, e.mode)?;
                fs::set_permissions(&path, fs::Permissions::from_mode(e.mode)).map_err(
                    |source| Error::Io {
                        path: path.clone(),
                        action: "set the mode of",
                        source,
                    },
                )?;
            }
            TarKind::File(d) => fsutil::write_atomic(&path, d, e.mode)?,
            TarKind::Symlink(t) => fsutil::symlink_atomic(Path::new(t), &path)?,
        }
    }
    // An earlier bundle's links that are no longer wanted.
    let r = super::rehash::rehash_dir(&out.join(CAPATH_DIR), HashKind::New)?;
    if let Some(e) = r.errors.first() {
        return Err(refused(e.clone(), "see `starttls-studio rehash`"));
    }
    Ok(())
}
