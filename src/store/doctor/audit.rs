//! The checks: each file sendmail would read, looked at the way sendmail
//! 8.17 looks at it (docs/sendmail.md §8–9).

use super::*;
use crate::core::access_check::{self, CheckContext};
use crate::core::causes;
use crate::core::cert::CertInfo;
use crate::core::chain::{self, KeyMatch};
use crate::core::rehash::HashKind;
use crate::core::sendmail_cf::{self, TlsSettings};
use crate::store::access as access_store;
use crate::store::certfiles;
use crate::store::fsutil::{self, PKI_FILE_LIMIT};
use crate::store::rehash::{self, LinkCheck};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The audit: everything sendmail would trip over, from the settings found
/// by [`locate`]. `now` is unix seconds.
pub fn audit(loc: &Located, now: i64) -> Report {
    let s = &loc.settings;
    let mut a = Audit {
        s,
        now,
        out: loc.findings.clone(),
        trusted_uid: s.trusted_user.as_deref().and_then(uid_of),
    };
    a.required_settings();
    let ca_file_certs = s
        .ca_file
        .as_deref()
        .map(Path::new)
        .and_then(|p| a.ca_file(p));
    let ca_path = s.ca_path.as_deref().map(Path::new);
    let path_certs = ca_path.and_then(|d| a.ca_path(d)).unwrap_or_default();
    let trust = Trust {
        ca_file: s.ca_file.as_deref().map(PathBuf::from),
        ca_file_certs: ca_file_certs.unwrap_or_default(),
        ca_path: ca_path.map(Path::to_path_buf),
        path_certs,
    };
    let pairs = [
        ("server", &s.server_cert, &s.server_key),
        ("client", &s.client_cert, &s.client_key),
    ];
    let mut done_certs = BTreeSet::new();
    let mut done_keys = BTreeSet::new();
    for (role, cert, key) in pairs {
        let (Some(cert), Some(key)) = (cert, key) else {
            continue;
        };
        let (cert, key) = (Path::new(cert), Path::new(key));
        let both = s.server_cert == s.client_cert && s.server_key == s.client_key;
        let role = if both { "server and client" } else { role };
        if !done_certs.insert((cert.to_path_buf(), key.to_path_buf())) {
            continue;
        }
        let leaf = a.host_cert(cert, role, &trust);
        let key_pem = if done_keys.insert(key.to_path_buf()) {
            a.key_file(key, role)
        } else {
            fsutil::read_limited(key, PKI_FILE_LIMIT)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        if let (Some(leaf), Some(pem)) = (leaf, key_pem) {
            a.key_match(&leaf, cert, key, &pem);
        }
    }
    if let Some(crl) = s.crl.as_deref() {
        a.crl(Path::new(crl));
    }
    if let Some(dh) = s.dh_params.as_deref() {
        a.dh_params(dh);
    }
    a.directories();
    if let Some(acc) = s.access.as_deref() {
        a.access(
            Path::new(acc),
            s.access_type.as_deref().unwrap_or("hash"),
            &trust,
        );
    }
    if !s.dont_blame.is_empty() {
        a.out.push(finding(
            "dont-blame-sendmail",
            Severity::Info,
            None,
            format!("DontBlameSendmail={}", s.dont_blame.join(",")),
            "This option turns off some of sendmail's file safety checks; the doctor takes TrustStickyBit and GroupReadableKeyFile into account.",
            None,
        ));
    }
    // Errors first, then warnings, then notes; otherwise in the order found.
    a.out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Report {
        sources: loc.sources.clone(),
        settings: loc.settings.clone(),
        findings: a.out,
    }
}

/// The CAs sendmail trusts.
struct Trust {
    ca_file: Option<PathBuf>,
    ca_file_certs: Vec<CertInfo>,
    ca_path: Option<PathBuf>,
    /// Certificates in the CA path with the link name that reaches them
    /// (`None`: no current hash link, so OpenSSL does not find them).
    path_certs: Vec<(CertInfo, PathBuf, Option<String>)>,
}

struct Audit<'a> {
    s: &'a TlsSettings,
    now: i64,
    out: Vec<Finding>,
    trusted_uid: Option<u32>,
}

/// `HASH.N` (a certificate link name; `HASH.rN` is a CRL's).
fn is_cert_link_name(name: &str) -> bool {
    crate::core::rehash::parse_link_name(name.as_bytes()).is_some() && !name.contains(".r")
}

/// Certificates read once per audit, by path.
#[derive(Default)]
struct CertCache(std::collections::HashMap<PathBuf, Option<CertInfo>>);

impl CertCache {
    /// The one certificate in a file (following links), if it holds one.
    fn single(&mut self, p: &Path) -> Option<CertInfo> {
        self.0
            .entry(p.to_path_buf())
            .or_insert_with(|| {
                let ders = certfiles::ders_in_file(p).ok()?;
                let [der] = ders.as_slice() else { return None };
                CertInfo::from_der(der).ok()
            })
            .clone()
    }

    /// The certificate a hash link reaches, when its hash is the link's.
    fn valid_link(&mut self, dir: &Path, name: &str) -> Option<CertInfo> {
        let info = self.single(&dir.join(name))?;
        name.starts_with(&format!("{}.", info.subject_hash))
            .then_some(info)
    }
}

/// The uid of a user name (or a number) from /etc/passwd.
fn uid_of(user: &str) -> Option<u32> {
    if let Ok(n) = user.parse() {
        return Some(n);
    }
    let text = fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == user).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

impl Audit<'_> {
    fn push(&mut self, f: Finding) {
        self.out.push(f);
    }

    fn required_settings(&mut self) {
        let s = self.s;
        let missing: Vec<(&str, &str)> = [
            ("ca_file", &s.ca_file),
            ("ca_path", &s.ca_path),
            ("server_cert", &s.server_cert),
            ("server_key", &s.server_key),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(field, _)| sendmail_cf::setting_names(field))
        .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .map(|(m4, opt)| format!("{m4} ({opt})"))
                .collect();
            let defines: Vec<String> = missing
                .iter()
                .map(|(m4, _)| format!("define(`{m4}', `FILE')dnl"))
                .collect();
            self.push(finding(
                "setting-missing",
                Severity::Error,
                None,
                format!("not set: {}", names.join(", ")),
                "sendmail offers STARTTLS only when confSERVER_CERT, confSERVER_KEY, confCACERT and confCACERT_PATH are all set; otherwise it logs e.g. `STARTTLS: CACertPath missing` and the EHLO reply has no STARTTLS.",
                manual(format!("add {} to sendmail.mc (starttls-studio install prints the lines), rebuild sendmail.cf, restart sendmail", defines.join(" "))),
            ));
        }
        if s.client_cert.is_none() || s.client_key.is_none() {
            self.push(finding(
                "client-cert-unset",
                Severity::Info,
                None,
                "confCLIENT_CERT/confCLIENT_KEY are not set".into(),
                "When sendmail sends mail it presents no certificate, so servers that relay or decide by certificate (TLS_Srv, CERTISSUER on their side) see verify=NO.",
                manual("usually the same files as the server: define(`confCLIENT_CERT', …) and define(`confCLIENT_KEY', …)"),
            ));
        }
    }

    /// Missing file: an error naming the setting.
    fn exists(&mut self, path: &Path, what: &str) -> bool {
        match fs::metadata(path) {
            Ok(_) => true,
            Err(e) => {
                self.push(finding(
                    "file-missing",
                    Severity::Error,
                    Some(path),
                    format!("{what} {} cannot be read: {e}", path.display()),
                    "sendmail cannot load this file, so it offers no STARTTLS (or, for the client side, presents no certificate).",
                    manual("put the file there, or correct the path in sendmail.mc (starttls-studio install writes all of them)"),
                ));
                false
            }
        }
    }

    fn expiry(&mut self, info: &CertInfo, path: &Path, what: &str, expired: Severity) {
        let days = info.days_left(self.now);
        if self.now < info.not_before_unix {
            self.push(finding(
                "cert-not-yet-valid",
                expired,
                Some(path),
                format!("{what} {} is not valid before {}", info.subject, info.not_before),
                "Peers refuse a certificate before its start date (verify=FAIL, `certificate is not yet valid`). Check the clock of this machine and of the one that issued it.",
                manual("wait, or issue a new one (starttls-studio cert renew FQDN)"),
            ));
        } else if info.not_after_unix < self.now {
            self.push(finding(
                "cert-expired",
                expired,
                Some(path),
                format!("{what} {} expired on {} ({} days ago)", info.subject, info.not_after, -days),
                "Every peer that checks certificates gets verify=FAIL (`certificate has expired`); TLS_Srv/TLS_Clt VERIFY rules and relaying by certificate stop working.",
                manual("issue a new certificate (starttls-studio cert renew FQDN; install FQDN --to DIR)"),
            ));
        } else if days < EXPIRY_WARNING_DAYS {
            self.push(finding(
                "cert-expiring",
                Severity::Warning,
                Some(path),
                format!(
                    "{what} {} expires on {} ({days} days left)",
                    info.subject, info.not_after
                ),
                "When it expires, peers that check certificates get verify=FAIL.",
                manual("renew it now (starttls-studio cert renew FQDN; install FQDN --to DIR)"),
            ));
        }
    }

    fn certs_in(&mut self, path: &Path, what: &str) -> Option<Vec<CertInfo>> {
        if !self.exists(path, what) {
            return None;
        }
        match certfiles::infos_in_file(path) {
            Ok(v) if !v.is_empty() => Some(v),
            Ok(_) => None,
            Err(e) => {
                self.push(finding(
                    "cert-unreadable",
                    Severity::Error,
                    Some(path),
                    format!("{what}: {e}"),
                    "sendmail (OpenSSL) cannot load this file, so it offers no STARTTLS.",
                    manual("replace it with the PEM certificate (starttls-studio show FILE reads PEM and DER)"),
                ));
                None
            }
        }
    }

    /// `confCACERT`: trusted and announced.
    fn ca_file(&mut self, path: &Path) -> Option<Vec<CertInfo>> {
        let certs = self.certs_in(path, "CA file (confCACERT)")?;
        for c in &certs {
            if !c.is_trust_anchor() {
                self.push(finding(
                    "ca-file-not-ca",
                    Severity::Warning,
                    Some(path),
                    format!("{} in the CA file is not a CA certificate (no basicConstraints CA:TRUE, and not a self-signed X.509 v1 certificate)", c.subject),
                    "OpenSSL does not accept a non-CA certificate as an issuer; certificates it signed get verify=FAIL.",
                    manual("put only CA certificates into confCACERT"),
                ));
            }
            self.expiry(c, path, "CA", Severity::Error);
        }
        let names: Vec<&str> = certs.iter().map(|c| c.subject.as_str()).collect();
        if certs.len() > MANY_ANNOUNCED_CAS {
            self.push(finding(
                "ca-file-many",
                Severity::Warning,
                Some(path),
                format!("the CA file holds {} certificates; sendmail announces every one to each client", certs.len()),
                "sendmail sends the names of all CAs in confCACERT in every TLS handshake (\"acceptable client certificate CA names\"). Long lists make handshakes fail with some clients (sendmail's own documentation: \"do not list too many root CAs in that file\"). Trust further CAs through confCACERT_PATH instead: they are trusted but not announced.",
                manual("keep only your own CA(s) in confCACERT; put the others into the confCACERT_PATH directory and rehash it"),
            ));
        } else {
            self.push(finding(
                "ca-file-announced",
                Severity::Info,
                Some(path),
                format!("sendmail announces {} CA name(s) to clients: {}", certs.len(), names.join(", ")),
                "Clients pick their certificate by these names. CAs that are only in confCACERT_PATH are trusted too, but never announced.",
                None,
            ));
        }
        Some(certs)
    }

    /// `confCACERT_PATH`: trusted through hash links only. What counts is
    /// what OpenSSL finds: a `HASH.N` entry that opens (following links,
    /// also to files elsewhere) to one certificate with that subject hash.
    fn ca_path(&mut self, dir: &Path) -> Option<Vec<(CertInfo, PathBuf, Option<String>)>> {
        if !self.exists(dir, "CA directory (confCACERT_PATH)") {
            return None;
        }
        let check = match rehash::check_dir(dir, HashKind::New) {
            Ok(c) => c,
            Err(e) => {
                self.push(finding(
                    "ca-path-unreadable",
                    Severity::Error,
                    Some(dir),
                    e.to_string(),
                    "OpenSSL cannot look up CAs in this directory; peers' certificates from those CAs get verify=FAIL.",
                    manual("make it a readable directory"),
                ));
                return None;
            }
        };
        let managed = fsutil::managed_by(dir);
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        let mut cache = CertCache::default();
        // Reachable: through a hash link whose certificate has that hash.
        let mut found: Vec<(CertInfo, PathBuf, Option<String>)> = Vec::new();
        let mut foreign = Vec::new();
        for p in &entries {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !is_cert_link_name(name) {
                continue;
            }
            let Some(info) = cache.valid_link(dir, name) else {
                continue;
            };
            let target = fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            // A link of the directory's own names a file in it; others
            // were placed by hand or by another package.
            if let Ok(t) = fs::read_link(p) {
                if t.components().count() > 1 {
                    foreign.push(format!("{name} -> {}", t.display()));
                }
            }
            if !found.iter().any(|(c, _, _)| c.der == info.der) {
                found.push((info, target, Some(name.to_string())));
            }
        }
        // In the directory but not reachable: found by nobody.
        for p in &entries {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if is_cert_link_name(name) || p.is_dir() {
                continue;
            }
            let Some(info) = cache.single(p) else {
                continue;
            };
            if !found.iter().any(|(c, _, _)| c.der == info.der) {
                found.push((info, p.clone(), None));
            }
        }
        self.links(&check, &found, &mut cache, managed.as_deref());
        if managed.is_none() {
            for (info, p, _) in &found {
                self.expiry(info, p, "CA in the CA directory", Severity::Warning);
            }
        }
        let reachable = found.iter().filter(|f| f.2.is_some()).count();
        self.push(finding(
            "ca-path-trusted",
            Severity::Info,
            Some(dir),
            format!("{} certificate(s) in the CA directory, {reachable} of them reachable through hash links{}", found.len(), managed.as_deref().map(|m| format!("; the directory belongs to {m}")).unwrap_or_default()),
            "OpenSSL finds a CA in confCACERT_PATH only through a HASH.N link named after its subject hash; these CAs are trusted but not announced to clients.",
            None,
        ));
        if let (Some(m), false) = (&managed, foreign.is_empty()) {
            self.push(finding(
                "ca-path-foreign-links",
                Severity::Info,
                Some(dir),
                format!("hash links to files outside {}: {}", dir.display(), foreign.join(", ")),
                format!("These links work (OpenSSL follows them), but they are not {m}'s own: when update-ca-certificates changes the set of CAs it runs `openssl rehash`, which removes hash links to files outside the directory, and sendmail then stops trusting those certificates. Debian's sendmail (update_tls) puts its own two certificates' links here."),
                manual("keep your own CAs in a CA directory of your own (starttls-studio install FQDN --to DIR, then starttls-studio mc apply --to DIR) instead of the system's"),
            ));
        }
        let mode = fs::metadata(dir)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            self.push(finding(
                "ca-path-writable-by-others",
                Severity::Warning,
                Some(dir),
                format!("the CA directory {} is writable by {} (mode {:04o})", dir.display(), if mode & 0o002 != 0 { "everyone" } else { "its group" }, mode & 0o7777),
                "sendmail accepts this, but whoever can write here can add a CA that sendmail then trusts for verify=OK, and with it relaying by certificate.",
                auto(format!("chmod go-w {}", dir.display()), FixAction::Chmod { path: dir.to_path_buf(), mode: mode & 0o7777 & !0o022 }),
            ));
        }
        Some(found)
    }

    /// Link problems that change what OpenSSL finds: a certificate of the
    /// directory that no valid link reaches, a link that reaches nothing (or
    /// a certificate with another hash), a regular file in a link's place.
    /// A link that `openssl rehash` would name differently but that still
    /// reaches a certificate with its hash (another number, a target
    /// elsewhere) is fine.
    fn links(
        &mut self,
        c: &LinkCheck,
        found: &[(CertInfo, PathBuf, Option<String>)],
        cache: &mut CertCache,
        managed: Option<&str>,
    ) {
        let dir = c.dir.as_path();
        let reached = |info: &CertInfo| {
            found
                .iter()
                .any(|(f, _, l)| l.is_some() && f.der == info.der)
        };
        let mut missing: Vec<String> = Vec::new();
        for (name, target) in c
            .missing
            .iter()
            .map(|(n, t)| (n, t))
            .chain(c.wrong.iter().map(|(n, _, want)| (n, want)))
        {
            if let Some(info) = cache.single(&dir.join(target)) {
                if reached(&info) {
                    continue;
                }
            }
            missing.push(format!("{name} -> {target}"));
        }
        missing.extend(c.occupied.iter().map(|n| format!("{n} (a regular file)")));
        let mut bad: Vec<String> = Vec::new();
        for (name, have) in c
            .wrong
            .iter()
            .map(|(n, have, _)| (n, have))
            .chain(c.stale.iter().map(|(n, t)| (n, t)))
        {
            if cache.valid_link(dir, name).is_none() {
                bad.push(format!("{name} -> {have}"));
            }
        }
        let fix = match managed {
            Some(m) => manual(format!(
                "{} belongs to {m}; the doctor does not rehash it. Put CA files for it into /usr/local/share/ca-certificates/ and run update-ca-certificates, or better keep your CAs in a directory of your own (starttls-studio mc apply --to DIR)",
                dir.display()
            )),
            None if c.occupied.is_empty() => auto(
                format!("starttls-studio rehash {}", dir.display()),
                FixAction::Rehash {
                    dir: dir.to_path_buf(),
                },
            ),
            None => manual(format!(
                "move the regular files named like hash links ({}) out of the directory, then run starttls-studio rehash {}",
                c.occupied.join(", "),
                dir.display()
            )),
        };
        if !missing.is_empty() {
            self.push(finding(
                "hash-link-missing",
                Severity::Error,
                Some(dir),
                format!("{} has no current hash link for: {}", dir.display(), missing.join(", ")),
                "OpenSSL looks CAs up in confCACERT_PATH only by HASH.0, HASH.1, … links named after the subject hash. A CA without its link is not found: peers' certificates from it get verify=FAIL (`unable to get local issuer certificate`).",
                fix.clone(),
            ));
        }
        if !bad.is_empty() {
            self.push(finding(
                "hash-link-stale",
                Severity::Warning,
                Some(dir),
                format!("{} has hash links that reach no certificate with their hash: {}", dir.display(), bad.join(", ")),
                "A link that points at a removed or different certificate (or uses the old-style hash) makes OpenSSL find the wrong CA or none; `openssl rehash` keeps such links, starttls-studio rehash replaces them.",
                fix,
            ));
        }
    }

    /// A host certificate: parses, expiry, purpose, issued by a trusted CA.
    fn host_cert(&mut self, path: &Path, role: &str, trust: &Trust) -> Option<CertInfo> {
        let what = format!("{role} certificate");
        let certs = self.certs_in(path, &what)?;
        let leaf = certs[0].clone();
        self.expiry(&leaf, path, &what, Severity::Error);
        for (usage, needed) in [
            ("serverAuth", role.contains("server")),
            ("clientAuth", role.contains("client")),
        ] {
            if needed
                && !leaf.extended_key_usage.is_empty()
                && !leaf.extended_key_usage.iter().any(|u| u == usage)
            {
                self.push(finding(
                    "cert-purpose",
                    Severity::Warning,
                    Some(path),
                    format!("{what} {} lacks the extended key usage {usage}", leaf.subject),
                    "Peers that check the purpose refuse it for this direction; sendmail uses one certificate as server and as client, so it needs both serverAuth and clientAuth.",
                    manual("issue it with both (starttls-studio cert issue does)"),
                ));
            }
        }
        // Walk up through the chain in the file, then to a trusted CA.
        let mut current = leaf.der.clone();
        let mut rest: Vec<&CertInfo> = certs[1..].iter().collect();
        for _ in 0..8 {
            if let Some(i) = rest
                .iter()
                .position(|c| chain::signed_by(&current, &c.der) == Ok(true) && c.der != current)
            {
                current = rest.remove(i).der.clone();
                continue;
            }
            break;
        }
        let in_file = trust
            .ca_file_certs
            .iter()
            .find(|c| chain::signed_by(&current, &c.der) == Ok(true));
        let in_path = trust
            .path_certs
            .iter()
            .find(|(c, _, _)| chain::signed_by(&current, &c.der) == Ok(true));
        let chained_from = if current == leaf.der {
            String::new()
        } else {
            " (through the chain in the file)".into()
        };
        match (in_file, in_path) {
            (Some(ca), _) => self.push(finding(
                "cert-chain",
                Severity::Info,
                Some(path),
                format!("{what} is issued by {}{chained_from}, found in the CA file {}", ca.subject, trust.ca_file.as_deref().unwrap_or(Path::new("")).display()),
                "Peers that trust the same CA verify this certificate (verify=OK).",
                None,
            )),
            (None, Some((ca, file, Some(link)))) => self.push(finding(
                "cert-chain",
                Severity::Info,
                Some(path),
                format!("{what} is issued by {}{chained_from}, found in the CA directory through {link} -> {}", ca.subject, file.display()),
                "Peers that trust the same CA verify this certificate (verify=OK).",
                None,
            )),
            (None, Some((ca, file, None))) => self.push(finding(
                "cert-issuer-not-linked",
                Severity::Error,
                Some(path),
                format!("{what} is issued by {}, which is in {} but has no hash link", ca.subject, file.display()),
                "OpenSSL finds CAs in confCACERT_PATH only through hash links, so this CA is not trusted here, and a partner set up like this host gets verify=FAIL.",
                trust.ca_path.as_ref().and_then(|d| match fsutil::managed_by(d) {
                    Some(m) => manual(format!("{} belongs to {m}: add the CA through it (update-ca-certificates), or use a CA directory of your own (starttls-studio mc apply --to DIR)", d.display())),
                    None => auto(format!("starttls-studio rehash {}", d.display()), FixAction::Rehash { dir: d.clone() }),
                }),
            )),
            (None, None) => {
                let self_signed = leaf.self_signed;
                self.push(finding(
                    "cert-untrusted",
                    Severity::Warning,
                    Some(path),
                    format!(
                        "{what} {} is issued by {}, which is neither in the CA file nor in the CA directory{}",
                        leaf.subject,
                        leaf.issuer,
                        if self_signed { " (it is self-signed)" } else { "" }
                    ),
                    "sendmail itself still offers STARTTLS, but peers that trust the same CAs as this host (a fleet with one private CA) get verify=FAIL for it, so their TLS_Srv/TLS_Clt VERIFY rules and relaying by certificate fail. Usually the certificate is from another CA than the one installed, or the CA file is the wrong one.",
                    manual("install the certificate issued by your CA (starttls-studio install FQDN --to DIR), or add its CA to confCACERT and rehash confCACERT_PATH"),
                ));
            }
        }
        Some(leaf)
    }

    /// A private key: exists, mode, owner; returns its PEM for the match.
    fn key_file(&mut self, path: &Path, role: &str) -> Option<String> {
        let what = format!("{role} key");
        if !self.exists(path, &what) {
            return None;
        }
        let meta = fs::metadata(path).ok()?;
        let mode = meta.permissions().mode() & 0o7777;
        let group_ok = self.s.blames("GroupReadableKeyFile");
        let bad_read = if group_ok { mode & 0o004 } else { mode & 0o044 };
        let bad_write = mode & 0o022;
        if bad_read != 0 || bad_write != 0 {
            let who = match (mode & 0o044, mode & 0o022) {
                (r, _) if r & 0o004 != 0 => "World readable file",
                (r, _) if r != 0 && !group_ok => "Group readable file",
                (_, w) if w & 0o002 != 0 => "World writable file",
                _ => "Group writable file",
            };
            self.push(finding(
                "key-readable-by-others",
                Severity::Error,
                Some(path),
                format!(
                    "{what} {} has mode {mode:04o}: others may read or change it",
                    path.display()
                ),
                causes::unsafe_file(&path.display().to_string(), who).why,
                auto(
                    format!("chmod 600 {}", path.display()),
                    FixAction::Chmod {
                        path: path.to_path_buf(),
                        mode: 0o600,
                    },
                ),
            ));
        }
        let uid = meta.uid();
        // sendmail 8.18 adds DontBlameSendmail=CertOwner, which (its release
        // notes) lifts the owner requirement for certificate and key files.
        // Honoured from those notes: the reference peer is 8.17, so this
        // one is not tested against a real 8.18.
        if uid != 0 && Some(uid) != self.trusted_uid && !self.s.blames("CertOwner") {
            self.push(finding(
                "key-owner",
                Severity::Error,
                Some(path),
                format!("{what} {} is owned by uid {uid}, not root", path.display()),
                causes::unsafe_file(&path.display().to_string(), "Permission denied").why,
                manual(format!("chown root:root {}", path.display())),
            ));
        }
        match fsutil::read_limited(path, PKI_FILE_LIMIT) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(e) => {
                self.push(finding(
                    "key-unreadable",
                    Severity::Error,
                    Some(path),
                    format!("{what}: {e}"),
                    "The doctor cannot read the key (run it as root to check it).",
                    None,
                ));
                None
            }
        }
    }

    fn key_match(&mut self, leaf: &CertInfo, cert: &Path, key: &Path, pem: &str) {
        let (id, msg, why, fix) = match chain::key_matches(&leaf.der, pem) {
            Ok(KeyMatch::Matches) => return,
            Ok(KeyMatch::DoesNotMatch) => (
                "key-cert-mismatch",
                format!("{} does not belong to {} ({})", key.display(), cert.display(), leaf.subject),
                "OpenSSL checks that the key belongs to the certificate; when it does not, sendmail logs an error (`SSL_CTX_check_private_key`) and offers no STARTTLS.",
                "install the key that was issued with this certificate (starttls-studio install FQDN --to DIR writes both)",
            ),
            Ok(KeyMatch::Encrypted) => (
                "key-encrypted",
                format!("{} is encrypted with a passphrase", key.display()),
                "sendmail starts unattended and cannot ask for a passphrase, so it cannot use the key and offers no STARTTLS.",
                "decrypt it: openssl pkey -in KEY -out KEY.new, chmod 600, move into place",
            ),
            Ok(KeyMatch::Unreadable(e)) => (
                "key-unreadable",
                format!("{}: {e}", key.display()),
                "sendmail cannot load this key and offers no STARTTLS.",
                "replace it with the PEM private key of the certificate",
            ),
            Err(chain::Unchecked(e)) => ("key-unreadable", format!("{}: {e}", cert.display()), "", ""),
        };
        self.push(finding(
            id,
            Severity::Error,
            Some(key),
            msg,
            why,
            manual(fix),
        ));
    }

    /// `confDH_PARAMETERS`: a file sendmail cannot read makes it log
    /// `STARTTLS=server, error: cannot read DH parameters(FILE)` at every
    /// start and fall back to its built-in 2048-bit group (measured with
    /// the real 8.17: STARTTLS is still offered).
    fn dh_params(&mut self, v: &str) {
        if !v.starts_with('/') {
            // none, i, 1, 2, 5, 512, 1024, 2048: built in, nothing to read.
            return;
        }
        let path = Path::new(v);
        let read = fsutil::read_limited(path, PKI_FILE_LIMIT)
            .map_err(|e| e.to_string())
            .and_then(|d| crate::core::pem::dh_param_bits(&d));
        match read {
            Ok(bits) => self.push(finding(
                "dh-params",
                Severity::Info,
                Some(path),
                format!("DH parameters {}: {bits}-bit prime", path.display()),
                "Used for the DHE cipher suites (TLS 1.2); TLS 1.3 and ECDHE do not use them.",
                None,
            )),
            Err(e) => self.push(finding(
                "dh-params-unreadable",
                Severity::Warning,
                Some(path),
                format!("DH parameters {}: {e}", path.display()),
                format!("sendmail logs `STARTTLS=server, error: cannot read DH parameters({})` each time it starts and uses its built-in 2048-bit group instead; STARTTLS still works.", path.display()),
                manual(format!("write the parameters there (openssl dhparam -out {} 2048), or remove confDH_PARAMETERS", path.display())),
            )),
        }
    }

    fn crl(&mut self, path: &Path) {
        if !self.exists(path, "CRL file (confCRL)") {
            return;
        }
        let ok = fsutil::read_limited(path, PKI_FILE_LIMIT)
            .map(|d| matches!(crate::core::rehash::classify(&d), crate::core::rehash::Classified::Object(o) if o.kind == crate::core::rehash::ObjectKind::Crl))
            .unwrap_or(false);
        if ok {
            let next = fsutil::read_limited(path, PKI_FILE_LIMIT)
                .ok()
                .and_then(|d| crate::core::cert::crl_next_update(&d));
            if let Some((t, text)) = next {
                if t < self.now {
                    self.push(finding(
                        "crl-expired",
                        Severity::Error,
                        Some(path),
                        format!("the CRL {} is past its nextUpdate ({text})", path.display()),
                        causes::crl_expired().why,
                        manual(causes::crl_expired().fix),
                    ));
                } else if (t - self.now) < 7 * 86_400 {
                    self.push(finding(
                        "crl-expiring",
                        Severity::Warning,
                        Some(path),
                        format!("the CRL {} must be re-signed before {text}", path.display()),
                        "After its nextUpdate every client certificate gets verify=FAIL (`CRL has expired`).",
                        manual("re-sign it (starttls-studio cert crl) and put it where confCRL points"),
                    ));
                }
            }
        }
        if !ok {
            self.push(finding(
                "crl-unreadable",
                Severity::Error,
                Some(path),
                format!("{} does not hold one PEM CRL", path.display()),
                "sendmail cannot load the CRL and offers no STARTTLS.",
                manual("write the CRL there (starttls-studio cert crl), or remove confCRL"),
            ));
        }
    }

    /// The safefile rules for the files sendmail opens itself, and every
    /// directory on the way to them.
    fn directories(&mut self) {
        let s = self.s;
        let mut files: Vec<PathBuf> = Vec::new();
        for v in [&s.ca_file, &s.server_cert, &s.client_cert, &s.crl]
            .into_iter()
            .flatten()
        {
            let p = PathBuf::from(v);
            if !files.contains(&p) {
                files.push(p);
            }
        }
        for p in &files {
            let Ok(m) = fs::metadata(p) else { continue };
            let mode = m.permissions().mode() & 0o7777;
            if mode & 0o022 != 0 {
                let who = if mode & 0o002 != 0 { "World" } else { "Group" };
                self.push(finding(
                    "file-writable-by-others",
                    Severity::Error,
                    Some(p),
                    format!("{} has mode {mode:04o}: others may change it", p.display()),
                    causes::unsafe_file(&p.display().to_string(), &format!("{who} writable file"))
                        .why,
                    auto(
                        format!("chmod go-w {}", p.display()),
                        FixAction::Chmod {
                            path: p.clone(),
                            mode: mode & !0o022,
                        },
                    ),
                ));
            }
        }
        let keys: Vec<PathBuf> = [&s.server_key, &s.client_key]
            .into_iter()
            .flatten()
            .map(PathBuf::from)
            .collect();
        let access: Vec<PathBuf> = s.access.iter().map(PathBuf::from).collect();
        let mut seen = BTreeSet::new();
        let trust_sticky = s.blames("TrustStickyBit");
        for file in files.iter().chain(&keys).chain(&access) {
            // Only the directory holding TLS files is changed by --fix; the
            // access map's (often /etc/mail) is shared with other things.
            let holder = file
                .parent()
                .filter(|_| !access.contains(file))
                .map(Path::to_path_buf);
            let mut dir = file.parent();
            while let Some(d) = dir {
                dir = d.parent();
                if d.as_os_str().is_empty() || !seen.insert(d.to_path_buf()) {
                    continue;
                }
                let Ok(m) = fs::metadata(d) else { continue };
                let mode = m.permissions().mode() & 0o7777;
                if mode & 0o022 == 0 {
                    continue;
                }
                let sticky = mode & 0o1000 != 0;
                if sticky && trust_sticky {
                    continue;
                }
                let who = if mode & 0o002 != 0 { "World" } else { "Group" };
                let fix = if sticky {
                    manual("keep the TLS files under a directory only root can write (e.g. /etc/mail/tls), or set define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')")
                } else if holder.as_deref() == Some(d) {
                    auto(
                        format!("chmod go-w {}", d.display()),
                        FixAction::Chmod {
                            path: d.to_path_buf(),
                            mode: mode & !0o022,
                        },
                    )
                } else {
                    // A directory higher up may be shared on purpose; the
                    // doctor only changes the directories holding the files.
                    manual(format!(
                        "chmod go-w {} (check first who relies on writing there)",
                        d.display()
                    ))
                };
                self.push(finding(
                    "dir-writable-by-others",
                    Severity::Error,
                    Some(d),
                    format!(
                        "{} is {}-writable (mode {mode:04o}){}, on the path to {}",
                        d.display(),
                        who.to_lowercase(),
                        if sticky { " with the sticky bit" } else { "" },
                        file.display()
                    ),
                    causes::unsafe_file(
                        &file.display().to_string(),
                        &format!("{who} writable directory"),
                    )
                    .why,
                    fix,
                ));
            }
        }
    }

    /// What the trusted CAs mean for relaying: a CERTISSUER RELAY entry for
    /// a public CA (the system's store in confCACERT_PATH) lets anyone with
    /// a certificate from it relay; partner CAs no entry names are noted.
    fn relay_trust(&mut self, path: &Path, map: &crate::core::access::AccessMap, trust: &Trust) {
        let public = |p: &Path| p.starts_with("/usr/share/ca-certificates");
        let mut named = Vec::new();
        for (line, e) in map.entries() {
            let key = e.key();
            let Some(dn) = key
                .get(..11)
                .filter(|k| k.eq_ignore_ascii_case("CERTISSUER:"))
                .map(|_| &key[11..])
            else {
                continue;
            };
            named.push(dn.to_string());
            if !e.value().trim().eq_ignore_ascii_case("RELAY") {
                continue;
            }
            let Some((ca, file, _)) = trust
                .path_certs
                .iter()
                .find(|(c, f, l)| l.is_some() && public(f) && c.subject_sendmail == dn)
            else {
                continue;
            };
            self.push(finding(
                "relay-public-ca",
                Severity::Error,
                Some(path),
                format!("{}:{line}: `{key} RELAY` lets anyone with a certificate from {} relay: it is a public CA ({}) in the CA directory", path.display(), ca.subject, file.display()),
                "sendmail sets verify=OK for every client whose certificate chains to a CA in confCACERT_PATH. With the system's CA store there, anyone who buys a certificate from this public CA gets CERTISSUER's RELAY: sendmail relays for strangers.",
                manual("trust partners in a CA directory of your own (starttls-studio trust add …, mc apply --to DIR), or let only one certificate relay: CERTISSUER:… SUBJECT plus CERTSUBJECT:… RELAY (access add-cert-relay --subject)"),
            ));
        }
        let unused: Vec<String> = trust
            .path_certs
            .iter()
            .filter(|(c, f, l)| {
                l.is_some()
                    && !public(f)
                    && !trust.ca_file_certs.iter().any(|a| a.der == c.der)
                    && !named.contains(&c.subject_sendmail)
            })
            .map(|(c, _, _)| c.subject.clone())
            .collect();
        if !unused.is_empty() {
            self.push(finding(
                "trusted-unused",
                Severity::Info,
                Some(path),
                format!("trusted CA(s) no CERTISSUER entry names: {}", unused.join("; ")),
                "Their certificates verify (verify=OK, usable in TLS_Clt/TLS_Srv VERIFY rules) but relay only through other rules.",
                None,
            ));
        }
    }

    fn access(&mut self, path: &Path, kind: &str, trust: &Trust) {
        let db = match kind {
            "hash" | "btree" => {
                let mut n = path.as_os_str().to_os_string();
                n.push(".db");
                Some(PathBuf::from(n))
            }
            _ => None,
        };
        if !path.exists() {
            if db.as_ref().is_some_and(|d| d.exists()) {
                self.push(finding(
                    "access-source-missing",
                    Severity::Warning,
                    Some(path),
                    format!("{} does not exist, but the database does", path.display()),
                    "The access map is edited as a text file and compiled with makemap; without the source the database cannot be changed or checked.",
                    manual(format!("recreate it from the database: makemap -u {kind} {} > {}", path.display(), path.display())),
                ));
            } else {
                self.exists(path, "access map");
            }
            return;
        }
        let map = match access_store::load(path) {
            Ok(m) => m,
            Err(e) => {
                self.push(finding(
                    "access-unreadable",
                    Severity::Error,
                    Some(path),
                    e.to_string(),
                    "",
                    None,
                ));
                return;
            }
        };
        let ctx = CheckContext {
            ineffective_is_error: false,
            known_issuers: Some(
                trust
                    .ca_file_certs
                    .iter()
                    .chain(
                        trust
                            .path_certs
                            .iter()
                            .filter(|p| p.2.is_some())
                            .map(|p| &p.0),
                    )
                    .map(|c| c.subject_sendmail.clone())
                    .collect(),
            ),
        };
        let no_client_certs = self
            .s
            .tls_srv_options
            .as_deref()
            .is_some_and(|o| o.contains(['V', 'v']));
        if no_client_certs {
            let needs: Vec<String> = map
                .entries()
                .filter(|(_, e)| {
                    let k = e.key().to_ascii_lowercase();
                    k.starts_with("certissuer:")
                        || k.starts_with("certsubject:")
                        || (k.starts_with("tls_clt:")
                            && e.value().to_ascii_uppercase().contains("VERIFY"))
                })
                .map(|(line, e)| format!("line {line}: {}", e.key()))
                .collect();
            if !needs.is_empty() {
                self.push(finding(
                    "tls-srv-no-client-cert",
                    Severity::Warning,
                    Some(path),
                    format!("confTLS_SRV_OPTIONS is `V`: sendmail asks no client for a certificate, so these entries never apply: {}", needs.join(", ")),
                    "With TLSSrvOptions=V every client has ${verify}=NOT: CERTISSUER/CERTSUBJECT relay entries never match and TLS_Clt VERIFY requirements refuse every client. Debian's starttls.m4 sets V by default.",
                    manual("remove the V: define(`confTLS_SRV_OPTIONS', `')dnl after the include of starttls.m4 (or edit its `# <= EDIT` line), rebuild sendmail.cf, restart sendmail"),
                ));
            }
        }
        self.relay_trust(path, &map, trust);
        let found = access_check::check(&map, &ctx);
        let makemap_errors = found
            .iter()
            .any(|f| f.makemap && f.severity == access_check::Severity::Error);
        for f in &found {
            let sev = match f.severity {
                access_check::Severity::Error => Severity::Error,
                access_check::Severity::Warning => Severity::Warning,
            };
            self.push(finding(
                "access-syntax",
                sev,
                Some(path),
                format!("{}:{}:{}: {}", path.display(), f.line, f.col, f.message),
                if f.makemap {
                    "makemap refuses or changes this line, so the database does not say what the file says."
                } else {
                    "sendmail reads this entry differently from what it seems to say."
                },
                manual(format!("edit line {} (starttls-studio access check {} lists every problem)", f.line, path.display())),
            ));
        }
        let Some(db) = db else { return };
        let fix = if makemap_errors {
            manual(format!(
                "fix the errors above, then run makemap {kind} {} < {}",
                path.display(),
                path.display()
            ))
        } else {
            auto(
                format!("makemap {kind} {} < {}", path.display(), path.display()),
                FixAction::Makemap {
                    access: path.to_path_buf(),
                },
            )
        };
        match (mtime(path), mtime(&db)) {
            (_, None) => self.push(finding(
                "access-db-missing",
                Severity::Error,
                Some(&db),
                format!("{} does not exist", db.display()),
                "sendmail reads the access map from the database makemap builds, not from the text file; without it, it cannot open the map and none of the TLS_Clt/TLS_Srv/CERTISSUER entries apply.",
                fix,
            )),
            (Some(src), Some(built)) if src > built => self.push(finding(
                "access-db-stale",
                Severity::Warning,
                Some(&db),
                format!("{} is older than {}", db.display(), path.display()),
                "sendmail reads the database, which was built before the last change to the text file: the change has no effect until makemap runs.",
                fix,
            )),
            _ => {}
        }
    }
}
