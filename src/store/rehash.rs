//! `rehash DIR…`: makes a CA directory's `HASH.N` / `HASH.rN` links, the
//! same set `openssl rehash` makes, without its stale-link bugs. The link
//! set is computed from scratch (`core::rehash::plan_links`) and the
//! directory reconciled to it: missing links created, wrong ones replaced
//! atomically, stale ones removed, every other file left alone.

use super::fsutil;
use super::Error;
use crate::core::rehash::{self, Candidate, Classified, HashKind, ObjectKind, PlanNote};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What happened in one directory.
#[derive(Debug, Default, Clone)]
pub struct RehashReport {
    pub dir: PathBuf,
    pub certs: usize,
    pub crls: usize,
    pub created: usize,
    pub replaced: usize,
    pub removed: usize,
    pub kept: usize,
    /// Skipped files and the like: the run still succeeds.
    pub warnings: Vec<String>,
    /// Problems that make the exit status non-zero.
    pub errors: Vec<String>,
}

fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// A readable file is read whole, up to the PKI file limit.
fn read_candidate(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let mut f = fs::File::open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() > fsutil::PKI_FILE_LIMIT {
        return Err(std::io::Error::other(format!(
            "{} bytes is over the {} byte limit",
            meta.len(),
            fsutil::PKI_FILE_LIMIT
        )));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    f.read_to_end(&mut data)?;
    Ok(Some(data))
}

/// Whether we may create files in `dir`: tried for real (a probe file),
/// which also catches read-only mounts where root's access(2) says yes.
pub fn writable(dir: &Path) -> bool {
    let probe = fsutil::temp_path_for(&dir.join("write-probe"));
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            true
        }
        Err(_) => false,
    }
}

/// A directory read and planned, nothing changed yet.
struct Scan {
    report: RehashReport,
    /// Existing hash-named symlinks: name -> target.
    existing: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Regular files (or anything not a symlink) that have a hash name.
    occupied: BTreeSet<Vec<u8>>,
    links: Vec<rehash::DesiredLink>,
}

fn scan(dir: &Path, kind: HashKind) -> Result<Scan, Error> {
    let mut report = RehashReport {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    let mut names: Vec<Vec<u8>> = fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            action: "list",
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.file_name().as_bytes().to_vec()))
        .collect();
    names.sort();

    // Existing hash-named symlinks: name -> target.
    let mut existing: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    // Regular files (or anything not a symlink) that happen to have a hash name.
    let mut occupied: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    for name in &names {
        let path = dir.join(OsStr::from_bytes(name));
        let Ok(lmeta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if rehash::parse_link_name(name).is_some() {
            if lmeta.file_type().is_symlink() {
                if let Ok(target) = fs::read_link(&path) {
                    existing.insert(name.clone(), target.as_os_str().as_bytes().to_vec());
                    continue;
                }
            } else {
                occupied.insert(name.clone());
            }
        }
        if !rehash::has_rehash_extension(name) {
            continue;
        }
        let data = match read_candidate(&path) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                report
                    .warnings
                    .push(format!("skipping {}: cannot read it ({e})", show(name)));
                continue;
            }
        };
        let obj = match rehash::classify(&data) {
            Classified::Object(o) => o,
            Classified::NotExactlyOne { count } => {
                report.warnings.push(format!(
                    "skipping {}: it does not contain exactly one certificate or CRL (found {count})",
                    show(name)
                ));
                continue;
            }
            Classified::KeyOnly => {
                // openssl rehash counts this as an error (silently); a key
                // next to the certificates is common in sendmail's
                // directories, so it is a warning here.
                report.warnings.push(format!(
                    "skipping {}: it holds a private key but no certificate or CRL",
                    show(name)
                ));
                continue;
            }
            Classified::Unreadable(why) => {
                report
                    .warnings
                    .push(format!("skipping {}: {why}", show(name)));
                continue;
            }
        };
        match rehash::object_hash(&obj, kind) {
            Ok(hash) => {
                match obj.kind {
                    ObjectKind::Cert => report.certs += 1,
                    ObjectKind::Crl => report.crls += 1,
                }
                candidates.push(Candidate {
                    file_name: name.clone(),
                    kind: obj.kind,
                    hash,
                    fingerprint: obj.fingerprint,
                });
            }
            Err(why) => report
                .warnings
                .push(format!("skipping {}: {why}", show(name))),
        }
    }

    let (links, notes) = rehash::plan_links(&candidates);
    for n in notes {
        match n {
            PlanNote::Duplicate {
                file_name,
                kind,
                same_as,
            } => {
                let what = if kind == ObjectKind::Cert {
                    "certificate"
                } else {
                    "CRL"
                };
                report.warnings.push(format!(
                    "skipping duplicate {what} in {} (same as {})",
                    show(&file_name),
                    show(&same_as)
                ));
                match kind {
                    ObjectKind::Cert => report.certs -= 1,
                    ObjectKind::Crl => report.crls -= 1,
                }
            }
            PlanNote::Overflow { file_name } => report.errors.push(format!(
                "{}: more than {} objects share its hash; not linked",
                show(&file_name),
                rehash::MAX_COLLISIONS
            )),
        }
    }

    Ok(Scan {
        report,
        existing,
        occupied,
        links,
    })
}

/// How a directory's hash links differ from what `rehash` would make.
#[derive(Debug, Default, Clone)]
pub struct LinkCheck {
    pub dir: PathBuf,
    /// Certificates and CRLs that get a link.
    pub certs: usize,
    pub crls: usize,
    /// Links that should exist and do not: (name, target).
    pub missing: Vec<(String, String)>,
    /// Links that point elsewhere: (name, current target, wanted target).
    pub wrong: Vec<(String, String, String)>,
    /// Hash-named links that should not exist: (name, current target).
    pub stale: Vec<(String, String)>,
    /// Regular files with a hash name where a link belongs (rehash would
    /// replace them, as `openssl rehash` does).
    pub occupied: Vec<String>,
    /// What rehash would warn about (skipped files, duplicates).
    pub warnings: Vec<String>,
}

impl LinkCheck {
    /// True when rehash would change nothing.
    pub fn is_current(&self) -> bool {
        self.missing.is_empty()
            && self.wrong.is_empty()
            && self.stale.is_empty()
            && self.occupied.is_empty()
    }
}

/// `dir` exists and is a directory.
fn require_dir(dir: &Path) -> Result<(), Error> {
    let meta = fs::metadata(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        action: "open directory",
        source,
    })?;
    if !meta.is_dir() {
        return Err(super::refused(
            format!("{} is not a directory", dir.display()),
            "give a CA directory",
        ));
    }
    Ok(())
}

/// Compares a directory's links with the ones [`rehash_dir`] would make,
/// without changing anything (the directory need not be writable).
pub fn check_dir(dir: &Path, kind: HashKind) -> Result<LinkCheck, Error> {
    require_dir(dir)?;
    let sc = scan(dir, kind)?;
    let mut out = LinkCheck {
        dir: dir.to_path_buf(),
        certs: sc.report.certs,
        crls: sc.report.crls,
        warnings: sc.report.warnings,
        ..Default::default()
    };
    let wanted: BTreeSet<&[u8]> = sc.links.iter().map(|l| l.name.as_bytes()).collect();
    for link in &sc.links {
        let target = show(&link.target);
        match sc.existing.get(link.name.as_bytes()) {
            Some(t) if *t == link.target => {}
            Some(t) => out.wrong.push((link.name.clone(), show(t), target)),
            None if sc.occupied.contains(link.name.as_bytes()) => {
                out.occupied.push(link.name.clone())
            }
            None => out.missing.push((link.name.clone(), target)),
        }
    }
    for (name, t) in &sc.existing {
        if !wanted.contains(name.as_slice()) {
            out.stale.push((show(name), show(t)));
        }
    }
    Ok(out)
}

/// Rehashes one directory. `Err` when the directory itself cannot be
/// processed (missing, not a directory, not writable); per-file problems
/// are in the report.
pub fn rehash_dir(dir: &Path, kind: HashKind) -> Result<RehashReport, Error> {
    require_dir(dir)?;
    if !writable(dir) {
        return Err(super::refused(
            format!("{} is not writable", dir.display()),
            "run as a user who may write there (often root), or fix its permissions",
        ));
    }
    fsutil::remove_stale_temps(dir);
    let Scan {
        mut report,
        existing,
        occupied,
        links,
    } = scan(dir, kind)?;

    // Create and replace first, remove last: a lookup during the run finds
    // either the old or the new link, never a gap where both existed.
    let wanted: BTreeSet<&[u8]> = links.iter().map(|l| l.name.as_bytes()).collect();
    for link in &links {
        let name = link.name.as_bytes();
        let path = dir.join(&link.name);
        match existing.get(name) {
            Some(t) if *t == link.target => {
                report.kept += 1;
                continue;
            }
            Some(_) => report.replaced += 1,
            None if occupied.contains(name) => {
                report.warnings.push(format!(
                    "replacing the regular file {} with a hash link (as openssl rehash does)",
                    link.name
                ));
                report.replaced += 1;
            }
            None => report.created += 1,
        }
        if let Err(e) = fsutil::symlink_atomic(Path::new(OsStr::from_bytes(&link.target)), &path) {
            report.errors.push(e.to_string());
        }
    }
    for name in existing.keys() {
        if !wanted.contains(name.as_slice()) {
            match fs::remove_file(dir.join(OsStr::from_bytes(name))) {
                Ok(()) => report.removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => report
                    .errors
                    .push(format!("cannot remove stale link {}: {e}", show(name))),
            }
        }
    }
    if report.created + report.replaced + report.removed > 0 {
        fsutil::sync_dir(dir)?;
    }
    Ok(report)
}
