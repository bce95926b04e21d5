//! `starttls-studio rehash DIR… [--old]` against `openssl rehash`.
//!
//! Scenario directories are built from a pool of certificates, CRLs and keys
//! that `openssl` generates once (cached under `CARGO_TARGET_TMPDIR`). Each
//! scenario is copied twice with `cp -a` (symlinks stay symlinks); `openssl
//! rehash` runs on one copy, `starttls-studio rehash` on the other, and the
//! resulting directories are compared entry by entry: name, kind, symlink
//! target, and the bytes of every regular file.
//!
//! On scenarios that already hold hash links (stale, wrong, renumbered) the
//! reference is `openssl rehash` on a copy from which every hash-named
//! symlink was deleted first: openssl keeps existing links as they are
//! (so it neither renumbers to byte order nor removes upper-case or
//! mis-numbered links), and our contract is the clean result.
//!
//! Every test collects all differences and fails once, listing them all.

use crate::support::{openssl, run, run_ok_bytes, studio, tempdir};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

// ---------------------------------------------------------------------------
// Seeded randomness (no extra dependency).

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEED: u64 = 0x5EED_0000_2EA5_0001;
const RANDOM_CERTS: usize = 300;
const RANDOM_SUBJECTS: usize = 30;

/// Subject group of each of the random pool certificates `rNNN.pem`.
fn random_subject_of() -> Vec<usize> {
    let mut rng = Rng(SEED);
    (0..RANDOM_CERTS)
        .map(|_| rng.below(RANDOM_SUBJECTS))
        .collect()
}

// ---------------------------------------------------------------------------
// Certificate pool.

struct Pool {
    dir: PathBuf,
}

impl Pool {
    fn file(&self, item: &str) -> PathBuf {
        self.dir.join(item)
    }
    fn bytes(&self, item: &str) -> Vec<u8> {
        std::fs::read(self.file(item)).unwrap_or_else(|e| panic!("pool item {item}: {e}"))
    }
}

const POOL_VERSION: &str = "rehash-pool-v1";

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(build_pool)
}

fn sh_ok(cmd: &mut Command) {
    run_ok_bytes(cmd);
}

/// Runs commands on a few threads; panics with every failure.
fn run_parallel(jobs: Vec<Command>) {
    let jobs: Vec<Mutex<Command>> = jobs.into_iter().map(Mutex::new).collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= jobs.len() {
                    break;
                }
                let mut cmd = jobs[i].lock().unwrap();
                let out = run(&mut cmd);
                if !out.status.success() {
                    failures.lock().unwrap().push(format!(
                        "{cmd:?}: {}\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "pool generation failed:\n{}",
        failures.join("\n")
    );
}

fn genkey(dir: &Path, name: &str) -> Command {
    let mut c = openssl();
    c.args([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
    ])
    .arg(dir.join(name));
    c
}

fn selfsigned(dir: &Path, key: &str, subject: &str, out: &str) -> Command {
    let mut c = openssl();
    c.args(["req", "-x509", "-utf8", "-days", "3650", "-key"])
        .arg(dir.join(key))
        .args(["-subj", subject, "-out"])
        .arg(dir.join(out));
    c
}

/// Subjects of the named pool certificates.
const SAME: &str = "/O=Rehash Test/CN=Same Name";
/// Same canonical form as SAME (so the same new-style hash), different
/// old-style (MD5 of the DER) hash.
const SAME_CANON: &str = "/O=rehash  TEST/CN=same   name";

fn build_pool() -> Pool {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let done_dir = base.join(POOL_VERSION);
    if done_dir.join("DONE").is_file() {
        return Pool { dir: done_dir };
    }
    std::fs::create_dir_all(&base).unwrap();
    let dir = base.join(format!("{POOL_VERSION}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    run_parallel(vec![
        genkey(&dir, "leaf.key"),
        genkey(&dir, "caA.key"),
        genkey(&dir, "caB.key"),
    ]);

    let mut jobs = vec![
        selfsigned(&dir, "leaf.key", "/CN=plain one", "u0.pem"),
        selfsigned(
            &dir,
            "leaf.key",
            "/C=DE/O=Example GmbH/CN=mail.example.org",
            "u1.pem",
        ),
        selfsigned(
            &dir,
            "leaf.key",
            "/CN=two words/emailAddress=postmaster@example.org",
            "u2.pem",
        ),
        selfsigned(
            &dir,
            "leaf.key",
            "/C=DE/O=Müller & Söhne/CN=Zertifikat Ä",
            "u3.pem",
        ),
        selfsigned(&dir, "leaf.key", "/CN=trusted one", "u4.pem"),
        selfsigned(&dir, "leaf.key", SAME_CANON, "samecase0.pem"),
        selfsigned(&dir, "caA.key", "/CN=Rehash CA A", "caA.pem"),
        selfsigned(&dir, "caA.key", "/CN=Rehash CA A", "caA2.pem"),
        selfsigned(&dir, "caB.key", "/CN=Rehash CA B", "caB.pem"),
    ];
    for v in 0..8 {
        jobs.push(selfsigned(&dir, "leaf.key", SAME, &format!("same{v}.pem")));
    }
    for (i, s) in random_subject_of().into_iter().enumerate() {
        let subject = if s % 5 == 0 {
            format!("/C=DE/O=Rehash Test/OU=Gruppe {s}/CN=Prüfung {s}")
        } else {
            format!("/O=Rehash Test/OU=Group {s}/CN=subject {s}")
        };
        jobs.push(selfsigned(
            &dir,
            "leaf.key",
            &subject,
            &format!("r{i:03}.pem"),
        ));
    }
    run_parallel(jobs);

    // CRLs: two of CA A (different content), one of CA B.
    let mut jobs = Vec::new();
    for (name, ca, days) in [
        ("crlA1", "caA", "30"),
        ("crlA2", "caA", "31"),
        ("crlB1", "caB", "30"),
    ] {
        let work = dir.join(format!("{name}.ca"));
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(work.join("index.txt"), "").unwrap();
        std::fs::write(
            work.join("ca.cnf"),
            format!(
                "[ca]\ndefault_ca = CA_default\n[CA_default]\ndatabase = {}\ndefault_md = sha256\ndefault_crl_days = 30\n",
                work.join("index.txt").display()
            ),
        )
        .unwrap();
        let mut c = openssl();
        c.args(["ca", "-gencrl", "-batch", "-config"])
            .arg(work.join("ca.cnf"))
            .arg("-keyfile")
            .arg(dir.join(format!("{ca}.key")))
            .arg("-cert")
            .arg(dir.join(format!("{ca}.pem")))
            .args(["-crldays", days, "-out"])
            .arg(dir.join(format!("{name}.pem")));
        jobs.push(c);
    }
    let mut der = openssl();
    der.args(["x509", "-outform", "DER", "-in"])
        .arg(dir.join("u2.pem"))
        .arg("-out")
        .arg(dir.join("u2.der"));
    jobs.push(der);
    let mut trusted = openssl();
    trusted
        .args(["x509", "-addtrust", "serverAuth", "-in"])
        .arg(dir.join("u4.pem"))
        .arg("-out")
        .arg(dir.join("u4.trusted.pem"));
    jobs.push(trusted);
    run_parallel(jobs);

    std::fs::write(dir.join("DONE"), "").unwrap();
    match std::fs::rename(&dir, &done_dir) {
        Ok(()) => Pool { dir: done_dir },
        Err(_) if done_dir.join("DONE").is_file() => {
            // Another test process finished first.
            let _ = std::fs::remove_dir_all(&dir);
            Pool { dir: done_dir }
        }
        Err(_) => Pool { dir },
    }
}

/// `(subject_hash, subject_hash_old)` of a pool certificate.
fn hashes(item: &str) -> (String, String) {
    let out = run(openssl()
        .args([
            "x509",
            "-noout",
            "-subject_hash",
            "-subject_hash_old",
            "-in",
        ])
        .arg(pool().file(item)));
    assert!(out.status.success(), "openssl x509 -hash {item}");
    let s = String::from_utf8(out.stdout).unwrap();
    let mut l = s.lines();
    (l.next().unwrap().to_string(), l.next().unwrap().to_string())
}

// ---------------------------------------------------------------------------
// Scenario builder: ROOT/certs is the directory to rehash, ROOT/elsewhere
// holds targets of relative symlinks (`../elsewhere/…`).

struct Scn {
    root: PathBuf,
}

impl Scn {
    fn new(parent: &Path, name: &str) -> Scn {
        let root = parent.join(name);
        std::fs::create_dir_all(root.join("certs")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        Scn { root }
    }
    fn dir(&self) -> PathBuf {
        self.root.join("certs")
    }
    /// certs/NAME = concatenation of pool items.
    fn cat(&self, name: &str, items: &[&str]) -> &Self {
        let mut bytes = Vec::new();
        for i in items {
            bytes.extend(pool().bytes(i));
        }
        self.write(name, &bytes)
    }
    fn copy(&self, name: &str, item: &str) -> &Self {
        self.cat(name, &[item])
    }
    fn write(&self, name: &str, bytes: &[u8]) -> &Self {
        let p = self.dir().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        self
    }
    fn link(&self, name: &str, target: &str) -> &Self {
        symlink(target, self.dir().join(name)).unwrap();
        self
    }
    fn mkdir(&self, name: &str) -> &Self {
        std::fs::create_dir_all(self.dir().join(name)).unwrap();
        self
    }
    fn elsewhere(&self, name: &str, item: &str) -> PathBuf {
        let p = self.root.join("elsewhere").join(name);
        std::fs::write(&p, pool().bytes(item)).unwrap();
        p
    }
}

type Builder = fn(&Path, &str) -> Scn;

fn scn_plain(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.copy("one.pem", "u0.pem")
        .copy("mail.example.org.crt", "u1.pem")
        .copy("two-words.cer", "u2.pem")
        .copy("zert.pem", "u3.pem")
        .copy("caB.pem", "caB.pem");
    s
}

/// Names in byte order: 0.pem B.pem Z.crt _x.pem a.pem b.pem m.pem ~t.cer
const COLLISION_NAMES: [&str; 7] = [
    "a.pem", "B.pem", "b.pem", "_x.pem", "0.pem", "Z.crt", "~t.cer",
];

fn scn_collisions(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    for (i, name) in COLLISION_NAMES.iter().enumerate() {
        s.copy(name, &format!("same{i}.pem"));
    }
    // Same new-style hash as the others (canonical DN), different old one.
    s.copy("m.pem", "samecase0.pem");
    s
}

fn scn_crls(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.copy("ca-a.crl", "crlA1.pem")
        .copy("ca-a-2.CRL", "crlA2.pem")
        .copy("b.crl.pem", "crlB1.pem")
        .copy("ca-a.pem", "caA.pem")
        .copy("ca-a-bis.crt", "caA2.pem");
    s
}

fn scn_duplicates(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.copy("dup1.pem", "u0.pem")
        .copy("dup2.crt", "u0.pem")
        .copy("r1-copy.crl", "crlA1.pem")
        .copy("r1.crl", "crlA1.pem")
        .copy("c0-again.pem", "same0.pem")
        .copy("c0.pem", "same0.pem")
        .copy("c1.pem", "same1.pem");
    s
}

fn scn_extensions(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.copy("up.PEM", "u0.pem")
        .copy("mixed.Crt", "u1.pem")
        .copy("lower.cer", "u2.pem")
        .copy("UPPER.CER", "u3.pem")
        .copy("crl.CrL", "crlB1.pem")
        .copy("notes.txt", "same0.pem")
        .copy("backup.pem.bak", "same1.pem")
        .copy("noext", "same2.pem")
        .copy("pem", "same3.pem")
        .copy("x.pem~", "same4.pem")
        .copy("x.crt.orig", "same5.pem")
        .copy("y.der", "same6.pem");
    s
}

fn scn_contents(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.cat("two.pem", &["u0.pem", "u1.pem"])
        .cat("cert-key.pem", &["u2.pem", "leaf.key"])
        .cat("key-cert.crt", &["leaf.key", "u3.pem"])
        .write("junk.pem", b"this is not PEM at all\n")
        .write("empty.pem", b"")
        .copy("der.der", "u2.der")
        .copy("der.crt", "u2.der")
        .cat("crlcrl.crl", &["crlA1.pem", "crlA2.pem"]);
    let mut text = b"Subject: a certificate with text around it\n".to_vec();
    text.extend(pool().bytes("same0.pem"));
    text.extend(b"trailing text\n");
    s.write("text.pem", &text);
    s
}

fn scn_symlinks(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.elsewhere("real.pem", "u0.pem");
    let abs = s.elsewhere("abs.pem", "u2.pem");
    s.link("foo.pem", "../elsewhere/real.pem")
        .copy("real2.pem", "u1.pem")
        .link("alias.pem", "real2.pem")
        .link("abs.crt", abs.to_str().unwrap())
        .link("dangling.pem", "missing.pem")
        .mkdir("sub")
        .copy("sub/inner.pem", "u3.pem")
        .link("dirlink.pem", "sub");
    s
}

fn scn_names(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.copy("my cert.pem", "u0.pem")
        .copy("zertifikat-ä.pem", "same0.pem")
        .copy("証明書.crt", "same1.pem")
        .copy("Ä.pem", "same2.pem")
        .copy("a b c.cer", "same3.pem")
        .copy(" leading-space.pem", "same4.pem")
        .copy("sub/inner.pem", "u1.pem")
        .mkdir("sub.pem");
    s
}

/// A private key alone in a `.pem`: openssl skips it silently but counts an
/// error (exit 1). Our contract fails only for missing or unwritable
/// directories, and sendmail certificate directories often hold the host key
/// next to the certificates, so this must be a warning with exit 0.
fn scn_key_only(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.copy("key.pem", "leaf.key").copy("cert.pem", "u0.pem");
    s
}

/// Corner cases where following openssl is a choice (reported separately).
fn scn_edge(p: &Path, n: &str) -> Scn {
    let s = Scn::new(p, n);
    s.copy(".pem", "u0.pem")
        .copy("trusted.pem", "u4.trusted.pem")
        .write("12345678.0", b"a regular file named like a hash link\n")
        .write("0badc0de.r0", b"another one\n")
        .link("deadbeef.0.bak", "nothing");
    s
}

const FRESH: &[(&str, Builder)] = &[
    ("plain", scn_plain),
    ("collisions", scn_collisions),
    ("crls", scn_crls),
    ("duplicates", scn_duplicates),
    ("extensions", scn_extensions),
    ("contents", scn_contents),
    ("key-only", scn_key_only),
    ("symlinks", scn_symlinks),
    ("names", scn_names),
    ("edge", scn_edge),
];

/// Collisions + CRLs + a dose of stale, wrong, mis-numbered and upper-case
/// hash links. `old` picks which hash the "right" links use.
fn scn_stale(p: &Path, n: &str, old: bool) -> Scn {
    let s = scn_collisions(p, n);
    s.copy("ca-a.crl", "crlA1.pem")
        .copy("ca-a-2.CRL", "crlA2.pem")
        .copy("ca-a.pem", "caA.pem")
        .copy("notes.txt", "u0.pem")
        .copy("dup1.pem", "u0.pem")
        .copy("dup2.crt", "u0.pem")
        .write("0badc0de.0", b"a regular file named like a link\n");
    let pick = |h: (String, String)| if old { h.1 } else { h.0 };
    let other = |h: (String, String)| if old { h.0 } else { h.1 };
    let same = pick(hashes("same0.pem"));
    let same_other = other(hashes("same0.pem"));
    let ca = pick(hashes("caA.pem"));
    let dup = pick(hashes("u0.pem"));
    let abs0 = s.dir().join("0.pem");
    s.link("deadbeef.0", "gone.pem")
        .link("deadbeef.r0", "gone.crl")
        .link("deadbeef.1", "a.pem")
        .link(&format!("{same}.0"), "b.pem")
        .link(&format!("{same}.1"), "a.pem")
        .link(&format!("{same}.2"), "./_x.pem")
        .link(&format!("{same}.3"), abs0.to_str().unwrap())
        .link(&format!("{same}.4"), "ca-a.pem")
        .link(&format!("{same}.9"), "Z.crt")
        .link(&format!("{same}.r0"), "a.pem")
        .link(&format!("{same_other}.0"), "a.pem")
        .link(&format!("{ca}.r0"), "ca-a.pem")
        .link(&format!("{}.0", ca.to_uppercase()), "ca-a.pem")
        .link(&format!("{ca}.5"), "notes.txt")
        .link(&format!("{dup}.0"), "dup2.crt")
        .link(&format!("{dup}.1"), "dup1.pem")
        .link("ABCDEF12.0", "a.pem")
        .link("abcdef12.R1", "B.pem");
    s
}

// ---------------------------------------------------------------------------
// Directory snapshots and comparison.

#[derive(Clone, PartialEq, Eq, Debug)]
enum Ent {
    Link(Vec<u8>),
    File(Vec<u8>),
    Dir(BTreeMap<Vec<u8>, Ent>),
    Other,
}

fn snapshot(dir: &Path) -> BTreeMap<Vec<u8>, Ent> {
    let mut m = BTreeMap::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(_) => return m,
    };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().as_bytes().to_vec();
        let path = e.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let ent = if meta.file_type().is_symlink() {
            Ent::Link(
                std::fs::read_link(&path)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else if meta.is_dir() {
            Ent::Dir(snapshot(&path))
        } else if meta.is_file() {
            // Unreadable files (chmod 000 without privileges) compare by size.
            Ent::File(
                std::fs::read(&path)
                    .unwrap_or_else(|_| format!("<unreadable, {} bytes>", meta.len()).into_bytes()),
            )
        } else {
            Ent::Other
        };
        m.insert(name, ent);
    }
    m
}

/// What openssl treats as a hash link name: 8 hex digits (either case), `.`,
/// optional `r`, decimal digits.
fn is_hash_name(name: &[u8]) -> bool {
    if name.len() < 10 || !name[..8].iter().all(u8::is_ascii_hexdigit) || name[8] != b'.' {
        return false;
    }
    let mut rest = &name[9..];
    if matches!(rest.first(), Some(b'r' | b'R')) {
        rest = &rest[1..];
    }
    !rest.is_empty() && rest.iter().all(u8::is_ascii_digit)
}

fn strip_hash_links(dir: &Path) {
    for (name, ent) in snapshot(dir) {
        if matches!(ent, Ent::Link(_)) && is_hash_name(&name) {
            std::fs::remove_file(dir.join(std::ffi::OsStr::from_bytes(&name))).unwrap();
        }
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().all(|c| !c.is_control()) {
        s.into_owned()
    } else {
        format!("{s:?}")
    }
}

fn describe(name: &[u8], e: &Ent) -> String {
    match e {
        Ent::Link(t) => format!("{} -> {}", show(name), show(t)),
        Ent::File(c) => format!("{} (file, {} bytes)", show(name), c.len()),
        Ent::Dir(_) => format!("{}/ (dir)", show(name)),
        Ent::Other => format!("{} (special)", show(name)),
    }
}

fn link_set(m: &BTreeMap<Vec<u8>, Ent>) -> String {
    let v: Vec<String> = m
        .iter()
        .filter(|(n, e)| matches!(e, Ent::Link(_)) && is_hash_name(n))
        .map(|(n, e)| describe(n, e))
        .collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// Differences between the reference (openssl) and our result, or None.
fn diff_snaps(expected: &BTreeMap<Vec<u8>, Ent>, ours: &BTreeMap<Vec<u8>, Ent>) -> Option<String> {
    let mut s = String::new();
    for (n, e) in expected {
        match ours.get(n) {
            None => writeln!(s, "    openssl only: {}", describe(n, e)).unwrap(),
            Some(o) if o != e => writeln!(
                s,
                "    openssl: {}\n    ours:    {}",
                describe(n, e),
                describe(n, o)
            )
            .unwrap(),
            _ => {}
        }
    }
    for (n, o) in ours {
        if !expected.contains_key(n) {
            writeln!(s, "    ours only:    {}", describe(n, o)).unwrap();
        }
    }
    if s.is_empty() {
        None
    } else {
        writeln!(s, "    openssl links: {}", link_set(expected)).unwrap();
        write!(s, "    our links:     {}", link_set(ours)).unwrap();
        Some(s)
    }
}

/// Entries that are not hash links must be exactly as before.
fn check_untouched(
    label: &str,
    before: &BTreeMap<Vec<u8>, Ent>,
    after: &BTreeMap<Vec<u8>, Ent>,
    diffs: &mut Vec<String>,
) {
    for (n, e) in before {
        if matches!(e, Ent::Link(_)) && is_hash_name(n) {
            continue;
        }
        match after.get(n) {
            Some(a) if a == e => {}
            Some(a) => diffs.push(format!(
                "[{label}] non-link entry changed: {} became {}",
                describe(n, e),
                describe(n, a)
            )),
            None => diffs.push(format!(
                "[{label}] non-link entry removed: {}",
                describe(n, e)
            )),
        }
    }
    for (n, a) in after {
        let new_hash_link = matches!(a, Ent::Link(_)) && is_hash_name(n);
        if !before.contains_key(n) && !new_hash_link {
            diffs.push(format!(
                "[{label}] unexpected new entry: {}",
                describe(n, a)
            ));
        }
    }
}

fn cp_a(src: &Path, dst: &Path) {
    sh_ok(Command::new("cp").arg("-a").arg(src).arg(dst));
}

fn openssl_rehash(dirs: &[&Path], old: bool, wrap: Wrap) -> Output {
    let mut c = wrap.command(openssl());
    c.arg("rehash");
    if old {
        c.arg("-old");
    }
    c.args(dirs);
    run(&mut c)
}

fn our_rehash(home: &Path, dirs: &[&Path], old: bool, wrap: Wrap) -> Output {
    let mut c = wrap.command(studio(home));
    c.arg("rehash").args(dirs);
    if old {
        c.arg("--old");
    }
    run(&mut c)
}

fn mode(old: bool) -> &'static str {
    if old {
        "old hash"
    } else {
        "new hash"
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// How to run a program so that permissions bind even for root.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Wrap {
    Plain,
    /// `setpriv` with CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH dropped.
    NoDac,
}

impl Wrap {
    fn command(self, c: Command) -> Command {
        match self {
            Wrap::Plain => c,
            Wrap::NoDac => {
                let mut w = Command::new("setpriv");
                w.args(["--bounding-set", "-dac_override,-dac_read_search", "--"]);
                w.arg(c.get_program()).args(c.get_args());
                for (k, v) in c.get_envs() {
                    match v {
                        Some(v) => w.env(k, v),
                        None => w.env_remove(k),
                    };
                }
                w
            }
        }
    }
}

/// Rehashes two copies of a scenario (the openssl copy first stripped of
/// hash links when `clean`), compares them, checks idempotence, and returns
/// our stderr. Differences go to `diffs`.
fn compare_scenario(
    label: &str,
    scn_root: &Path,
    old: bool,
    clean: bool,
    diffs: &mut Vec<String>,
) -> String {
    let label = format!("{label}, {}", mode(old));
    let work = tempdir();
    let exp = work.path().join("openssl");
    let ours = work.path().join("ours");
    cp_a(scn_root, &exp);
    cp_a(scn_root, &ours);
    if clean {
        strip_hash_links(&exp.join("certs"));
    }
    let before = snapshot(&scn_root.join("certs"));
    openssl_rehash(&[&exp.join("certs")], old, Wrap::Plain);
    let home = work.path().join("home");
    let out = our_rehash(&home, &[&ours.join("certs")], old, Wrap::Plain);
    if !out.status.success() {
        diffs.push(format!(
            "[{label}] ours exited with {}; stderr:\n{}",
            out.status,
            stderr(&out)
        ));
    }
    let e = snapshot(&exp.join("certs"));
    let o = snapshot(&ours.join("certs"));
    if let Some(d) = diff_snaps(&e, &o) {
        diffs.push(format!(
            "[{label}] result differs from openssl{}:\n{d}",
            if clean {
                " (run on a copy without hash links)"
            } else {
                ""
            }
        ));
    }
    check_untouched(&label, &before, &o, diffs);
    if snapshot(&exp.join("elsewhere")) != snapshot(&ours.join("elsewhere")) {
        diffs.push(format!("[{label}] ../elsewhere was modified"));
    }
    // Idempotent: a second run changes nothing.
    let again = our_rehash(&home, &[&ours.join("certs")], old, Wrap::Plain);
    if !again.status.success() {
        diffs.push(format!(
            "[{label}] second run exited with {}: {}",
            again.status,
            stderr(&again)
        ));
    }
    if let Some(d) = diff_snaps(&o, &snapshot(&ours.join("certs"))) {
        diffs.push(format!(
            "[{label}] second run changed the directory (first run = 'openssl' side):\n{d}"
        ));
    }
    stderr(&out)
}

fn fail_if_any(what: &str, diffs: Vec<String>) {
    if !diffs.is_empty() {
        panic!(
            "{what}: {} difference(s):\n\n{}\n",
            diffs.len(),
            diffs.join("\n\n")
        );
    }
}

// ---------------------------------------------------------------------------
// Tests.

/// Fresh scenarios (no hash links yet), new and old hash, plus sanity
/// checks of the reference itself.
#[test]
fn rehash_fresh_scenarios_match_openssl() {
    let t = tempdir();
    let mut diffs = Vec::new();
    for (name, build) in FRESH {
        let scn = build(t.path(), name);
        for old in [false, true] {
            compare_scenario(name, &scn.root, old, false, &mut diffs);
        }
    }

    // The reference numbers collisions in byte order of file names; if it
    // does not, the comparisons above prove less than they claim.
    let scn = scn_collisions(t.path(), "collisions-check");
    let w = tempdir();
    let d = w.path().join("c");
    cp_a(&scn.root, &d);
    openssl_rehash(&[&d.join("certs")], false, Wrap::Plain);
    let h = hashes("same0.pem").0;
    let mut names: Vec<&str> = COLLISION_NAMES.iter().copied().chain(["m.pem"]).collect();
    names.sort();
    let snap = snapshot(&d.join("certs"));
    for (i, n) in names.iter().enumerate() {
        let want = Ent::Link(n.as_bytes().to_vec());
        if snap.get(format!("{h}.{i}").as_bytes()) != Some(&want) {
            diffs.push(format!(
                "[reference check] openssl did not link {h}.{i} -> {n}; its links: {}",
                link_set(&snap)
            ));
        }
    }
    fail_if_any("rehash vs openssl on fresh scenarios", diffs);
}

/// The odd-name corpus (`scripts/gen-name-corpus`), with the certificates
/// OpenSSL refuses to load (invalid UTF-8, BMP surrogates, …) among them:
/// the same files count for the new and the old hash, as with `openssl
/// rehash` and `openssl rehash -old`.
#[test]
fn rehash_name_corpus_matches_openssl_for_both_hashes() {
    let corpus = crate::show_diff::corpus();
    let t = tempdir();
    let root = t.path().join("corpus");
    let certs = root.join("certs");
    fs::create_dir_all(&certs).unwrap();
    let sources = corpus.files.iter().map(|(f, _)| corpus.dir.join(f)).chain(
        corpus
            .rejected
            .iter()
            .map(|(f, _)| corpus.dir.join("rejected").join(f)),
    );
    // openssl rehash reads PEM only: DER files (the corpus keeps the ones
    // OpenSSL cannot load as DER) are wrapped byte for byte, so OpenSSL's
    // loader, not a conversion, decides what counts.
    let mut n = 0;
    for (i, src) in sources.enumerate() {
        let name = src.file_name().unwrap().to_string_lossy().into_owned();
        let data = fs::read(&src).unwrap();
        let pem = if data.starts_with(b"-----") {
            data
        } else {
            let b64 = run_ok_bytes(openssl().args(["base64", "-in"]).arg(&src));
            let mut p = b"-----BEGIN CERTIFICATE-----\n".to_vec();
            p.extend_from_slice(&b64);
            p.extend_from_slice(b"-----END CERTIFICATE-----\n");
            p
        };
        fs::write(certs.join(format!("{i:03}-{name}.pem")), pem).unwrap();
        n += 1;
    }
    assert!(n >= 60 && !corpus.rejected.is_empty(), "{n} files");
    let mut diffs = Vec::new();
    for old in [false, true] {
        compare_scenario("name corpus", &root, old, false, &mut diffs);
    }
    fail_if_any("rehash vs openssl on the name corpus", diffs);
}

/// Pre-existing stale / wrong / mis-numbered / upper-case links: our result
/// must equal openssl's on a copy with every hash-named symlink deleted.
#[test]
fn rehash_repairs_existing_links() {
    let t = tempdir();
    let mut diffs = Vec::new();
    for old in [false, true] {
        let name = if old { "stale-old" } else { "stale" };
        let scn = scn_stale(t.path(), name, old);
        compare_scenario(name, &scn.root, old, true, &mut diffs);

        // For the record: what plain openssl leaves behind (its known bugs).
        let w = tempdir();
        let raw = w.path().join("raw");
        let clean = w.path().join("clean");
        cp_a(&scn.root, &raw);
        cp_a(&scn.root, &clean);
        strip_hash_links(&clean.join("certs"));
        openssl_rehash(&[&raw.join("certs")], old, Wrap::Plain);
        openssl_rehash(&[&clean.join("certs")], old, Wrap::Plain);
        if let Some(d) = diff_snaps(
            &snapshot(&clean.join("certs")),
            &snapshot(&raw.join("certs")),
        ) {
            eprintln!(
                "note [{name}, {}]: plain `openssl rehash` on the dirty directory \
                 ('ours' below) differs from the clean reference ('openssl'):\n{d}",
                mode(old)
            );
        }
    }
    // Every fresh scenario, after a hash links of the *other* kind were made
    // by openssl (new <-> old): switching modes must clean up completely.
    for (name, build) in FRESH {
        let scn = build(t.path(), &format!("{name}-switch"));
        for old in [false, true] {
            let w = tempdir();
            let pre = w.path().join("pre");
            cp_a(&scn.root, &pre);
            openssl_rehash(&[&pre.join("certs")], !old, Wrap::Plain);
            compare_scenario(
                &format!("{name} after openssl {}", mode(!old)),
                &pre,
                old,
                true,
                &mut diffs,
            );
        }
    }
    fail_if_any("rehash with pre-existing links", diffs);
}

/// Renumbering: after our run, add a certificate that sorts first, then
/// remove some; each time the result is the clean openssl result.
#[test]
fn rehash_renumbers_in_byte_order() {
    let t = tempdir();
    let home = t.path().join("home");
    let mut diffs = Vec::new();
    for old in [false, true] {
        let scn = scn_collisions(t.path(), if old { "renum-old" } else { "renum" });
        let dir = scn.dir();
        type Step<'a> = (&'static str, Box<dyn Fn() + 'a>);
        let steps: Vec<Step<'_>> = vec![
            ("initial", Box::new(|| {})),
            (
                "added !first.pem (sorts first, same subject)",
                Box::new(|| {
                    std::fs::write(dir.join("!first.pem"), pool().bytes("same7.pem")).unwrap();
                }),
            ),
            (
                "removed B.pem and ~t.cer",
                Box::new(|| {
                    std::fs::remove_file(dir.join("B.pem")).unwrap();
                    std::fs::remove_file(dir.join("~t.cer")).unwrap();
                }),
            ),
            (
                "renamed a.pem to 1.pem, replaced b.pem by a different subject",
                Box::new(|| {
                    std::fs::rename(dir.join("a.pem"), dir.join("1.pem")).unwrap();
                    std::fs::write(dir.join("b.pem"), pool().bytes("u0.pem")).unwrap();
                }),
            ),
        ];
        for (step, f) in steps {
            f();
            let label = format!("renumber: {step}, {}", mode(old));
            let before = snapshot(&dir);
            let out = our_rehash(&home, &[&dir], old, Wrap::Plain);
            if !out.status.success() {
                diffs.push(format!(
                    "[{label}] ours exited with {}: {}",
                    out.status,
                    stderr(&out)
                ));
            }
            let w = tempdir();
            let exp = w.path().join("e");
            cp_a(&scn.root, &exp);
            strip_hash_links(&exp.join("certs"));
            openssl_rehash(&[&exp.join("certs")], old, Wrap::Plain);
            let ours = snapshot(&dir);
            if let Some(d) = diff_snaps(&snapshot(&exp.join("certs")), &ours) {
                diffs.push(format!("[{label}] differs from clean openssl result:\n{d}"));
            }
            check_untouched(&label, &before, &ours, &mut diffs);
        }
    }
    fail_if_any("rehash renumbering", diffs);
}

/// 300 certificates with 30 shared subjects, random (seeded) names and
/// extensions, some CRLs, duplicates and non-certificate files; then a
/// random reshuffle and a second run.
#[test]
fn rehash_large_random_scenario() {
    let t = tempdir();
    let mut diffs = Vec::new();
    let mut rng = Rng(SEED ^ 0xABCD);
    let scn = Scn::new(t.path(), "random");
    let pieces = [
        "a", "b", "c", "x", "A", "B", "Z", "0", "1", "9", "_", "-", " ", "~", ".", "é", "ß", "日",
    ];
    let exts = ["pem", "PEM", "crt", "Crt", "cer", "CER", "Pem"];
    let mut used = std::collections::BTreeSet::new();
    let mut fresh_name = |rng: &mut Rng, ext: &str| loop {
        let len = 1 + rng.below(8);
        let stem: String = (0..len).map(|_| pieces[rng.below(pieces.len())]).collect();
        let name = format!("{stem}.{ext}");
        if !stem.starts_with('.') && used.insert(name.clone()) {
            break name;
        }
    };
    let mut names = Vec::new();
    for i in 0..RANDOM_CERTS {
        let ext = exts[rng.below(exts.len())];
        let n = fresh_name(&mut rng, ext);
        scn.copy(&n, &format!("r{i:03}.pem"));
        names.push(n);
    }
    for item in ["crlA1.pem", "crlA2.pem", "crlB1.pem", "caA.pem", "caA2.pem"] {
        let ext = ["crl", "CRL", "pem"][rng.below(3)];
        let n = fresh_name(&mut rng, ext);
        scn.copy(&n, item);
    }
    for _ in 0..8 {
        let i = rng.below(RANDOM_CERTS);
        let n = fresh_name(&mut rng, "pem");
        scn.copy(&n, &format!("r{i:03}.pem"));
    }
    for _ in 0..10 {
        let i = rng.below(RANDOM_CERTS);
        let ext = ["txt", "pem.bak", "key"][rng.below(3)];
        let n = fresh_name(&mut rng, ext);
        scn.copy(&n, &format!("r{i:03}.pem"));
    }
    for old in [false, true] {
        compare_scenario("random 300", &scn.root, old, false, &mut diffs);
    }

    // Reshuffle after our run: rename 25 files, delete 10, then rehash again.
    let home = t.path().join("home");
    let out = our_rehash(&home, &[&scn.dir()], false, Wrap::Plain);
    if !out.status.success() {
        diffs.push(format!(
            "[random reshuffle] first run exited {}: {}",
            out.status,
            stderr(&out)
        ));
    }
    for _ in 0..25 {
        let k = rng.below(names.len());
        let ext = exts[rng.below(exts.len())];
        let n = fresh_name(&mut rng, ext);
        std::fs::rename(scn.dir().join(&names[k]), scn.dir().join(&n)).unwrap();
        names[k] = n;
    }
    for _ in 0..10 {
        let k = rng.below(names.len());
        std::fs::remove_file(scn.dir().join(names.remove(k))).unwrap();
    }
    for old in [false, true] {
        compare_scenario(
            "random 300 reshuffled, with our previous links",
            &scn.root,
            old,
            true,
            &mut diffs,
        );
    }
    fail_if_any("rehash on the large random scenario", diffs);
}

/// Exit status and messages: missing, unwritable directories, unreadable
/// files, several directories, warnings.
#[test]
fn rehash_exit_status_and_messages() {
    let t = tempdir();
    let home = t.path().join("home");
    let mut diffs = Vec::new();

    // Missing directory.
    let missing = t.path().join("no-such-dir-4711");
    let out = our_rehash(&home, &[&missing], false, Wrap::Plain);
    if out.status.success() {
        diffs.push("[missing dir] ours exited 0".into());
    }
    if !stderr(&out).contains("no-such-dir-4711") {
        diffs.push(format!(
            "[missing dir] stderr does not name the directory:\n{}",
            stderr(&out)
        ));
    }

    // Several directories, one missing: the others are still processed.
    let a = scn_plain(t.path(), "multi-a");
    let b = scn_collisions(t.path(), "multi-b");
    let ref_dir = t.path().join("multi-ref");
    std::fs::create_dir_all(&ref_dir).unwrap();
    cp_a(&a.root, &ref_dir.join("a"));
    cp_a(&b.root, &ref_dir.join("b"));
    openssl_rehash(
        &[&ref_dir.join("a/certs"), &ref_dir.join("b/certs")],
        false,
        Wrap::Plain,
    );
    let out = our_rehash(&home, &[&a.dir(), &missing, &b.dir()], false, Wrap::Plain);
    if out.status.success() {
        diffs.push("[several dirs, one missing] ours exited 0".into());
    }
    if !stderr(&out).contains("no-such-dir-4711") {
        diffs.push(format!(
            "[several dirs, one missing] stderr does not name it:\n{}",
            stderr(&out)
        ));
    }
    for (x, r) in [(&a, "a"), (&b, "b")] {
        if let Some(d) = diff_snaps(
            &snapshot(&ref_dir.join(r).join("certs")),
            &snapshot(&x.dir()),
        ) {
            diffs.push(format!(
                "[several dirs, one missing] directory {r} not processed like openssl:\n{d}"
            ));
        }
    }

    // Unwritable directory.
    unwritable_dir(&t, &home, &mut diffs);

    // Unreadable file: warned about, skipped, exit 0, the rest linked.
    unreadable_file(&t, &home, &mut diffs);

    // Warnings on stderr for duplicates and files with several objects.
    let d = scn_duplicates(t.path(), "warn-dup");
    let out = our_rehash(&home, &[&d.dir()], false, Wrap::Plain);
    for skipped in ["dup2.crt", "r1.crl", "c0.pem"] {
        if !stderr(&out).contains(skipped) {
            diffs.push(format!(
                "[warnings] duplicate {skipped} not named on stderr:\n{}",
                stderr(&out)
            ));
        }
    }
    let c = scn_contents(t.path(), "warn-multi");
    let out = our_rehash(&home, &[&c.dir()], false, Wrap::Plain);
    for skipped in ["two.pem", "crlcrl.crl"] {
        if !stderr(&out).contains(skipped) {
            diffs.push(format!(
                "[warnings] multi-object file {skipped} not named on stderr:\n{}",
                stderr(&out)
            ));
        }
    }
    if !out.status.success() {
        diffs.push(format!(
            "[warnings] ours exited {} on the contents scenario",
            out.status
        ));
    }
    fail_if_any("rehash exit status and messages", diffs);
}

/// Makes the directory immutable (undone on drop).
struct Immutable(PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).output();
    }
}

/// Restores a mode on drop (so the temp dir can be removed).
struct Mode(PathBuf, u32);

impl Drop for Mode {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(self.1));
    }
}

/// Can `wrap` create a file in `dir`?
fn can_write(dir: &Path, wrap: Wrap) -> bool {
    let probe = dir.join(".write-probe");
    let mut c = wrap.command(Command::new("touch"));
    c.arg(&probe);
    let ok = c.output().map(|o| o.status.success()).unwrap_or(false);
    let _ = std::fs::remove_file(&probe);
    ok
}

fn can_read(file: &Path, wrap: Wrap) -> bool {
    let mut c = wrap.command(Command::new("cat"));
    c.arg(file);
    c.output().map(|o| o.status.success()).unwrap_or(false)
}

fn unwritable_dir(t: &tempfile::TempDir, home: &Path, diffs: &mut Vec<String>) {
    let ro = scn_plain(t.path(), "readonly-dir-0815");
    let good = scn_crls(t.path(), "good-next-to-ro");
    let ro_dir = ro.dir();
    let before = snapshot(&ro_dir);

    // Strategy 1: immutable attribute (binds root too). Strategy 2: mode
    // 0555, with DAC capabilities dropped if we are privileged.
    let mut _imm = None;
    let mut _mode = None;
    let mut wrap = Wrap::Plain;
    let immutable_ok = Command::new("chattr")
        .arg("+i")
        .arg(&ro_dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if immutable_ok {
        _imm = Some(Immutable(ro_dir.clone()));
    }
    if !immutable_ok || can_write(&ro_dir, Wrap::Plain) {
        std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        _mode = Some(Mode(ro_dir.clone(), 0o755));
        if can_write(&ro_dir, Wrap::Plain) {
            wrap = Wrap::NoDac;
        }
    }
    if can_write(&ro_dir, wrap) {
        eprintln!(
            "SKIPPED [unwritable dir]: neither `chattr +i` nor mode 0555 (with or without \
             setpriv dropping CAP_DAC_OVERRIDE) makes a directory unwritable here"
        );
        return;
    }
    eprintln!(
        "[unwritable dir] using {}",
        if immutable_ok {
            "chattr +i".to_string()
        } else {
            format!("chmod 0555 ({wrap:?})")
        }
    );
    let out = our_rehash(home, &[&ro_dir], false, wrap);
    if out.status.success() {
        diffs.push(format!(
            "[unwritable dir] ours exited 0; stderr:\n{}",
            stderr(&out)
        ));
    }
    if !stderr(&out).contains("readonly-dir-0815") {
        diffs.push(format!(
            "[unwritable dir] stderr does not name the directory:\n{}",
            stderr(&out)
        ));
    }
    if snapshot(&ro_dir) != before {
        diffs.push("[unwritable dir] directory changed anyway".into());
    }

    // Unwritable first, a good one after it: the good one is still done.
    let r = t.path().join("good-ref");
    cp_a(&good.root, &r);
    openssl_rehash(&[&r.join("certs")], false, Wrap::Plain);
    let out = our_rehash(home, &[&ro_dir, &good.dir()], false, wrap);
    if out.status.success() {
        diffs.push("[unwritable dir + good dir] ours exited 0".into());
    }
    if let Some(d) = diff_snaps(&snapshot(&r.join("certs")), &snapshot(&good.dir())) {
        diffs.push(format!(
            "[unwritable dir + good dir] good dir not processed like openssl:\n{d}"
        ));
    }
}

fn unreadable_file(t: &tempfile::TempDir, home: &Path, diffs: &mut Vec<String>) {
    let s = scn_collisions(t.path(), "unreadable");
    s.copy("secret-unreadable.pem", "u0.pem");
    let f = s.dir().join("secret-unreadable.pem");
    // Also one unreadable member of the collision group (numbering shifts).
    let g = s.dir().join("B.pem");
    for p in [&f, &g] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let wrap = if !can_read(&f, Wrap::Plain) {
        Wrap::Plain
    } else if !can_read(&f, Wrap::NoDac) {
        Wrap::NoDac
    } else {
        eprintln!(
            "SKIPPED [unreadable file]: mode 000 does not stop reads here, even with \
             setpriv dropping CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH"
        );
        return;
    };
    eprintln!("[unreadable file] using chmod 000 ({wrap:?})");
    let w = tempdir();
    let r = w.path().join("ref");
    cp_a(&s.root, &r);
    let ours_root = w.path().join("ours");
    cp_a(&s.root, &ours_root);
    openssl_rehash(&[&r.join("certs")], false, wrap);
    let out = our_rehash(home, &[&ours_root.join("certs")], false, wrap);
    if !out.status.success() {
        diffs.push(format!(
            "[unreadable file] ours exited {}; stderr:\n{}",
            out.status,
            stderr(&out)
        ));
    }
    for name in ["secret-unreadable.pem", "B.pem"] {
        if !stderr(&out).contains(name) {
            diffs.push(format!(
                "[unreadable file] stderr does not name {name}:\n{}",
                stderr(&out)
            ));
        }
    }
    if let Some(d) = diff_snaps(
        &snapshot(&r.join("certs")),
        &snapshot(&ours_root.join("certs")),
    ) {
        diffs.push(format!(
            "[unreadable file] links differ from openssl's (same privileges):\n{d}"
        ));
    }
    for root in [&s.root, &r, &ours_root] {
        for n in ["secret-unreadable.pem", "B.pem"] {
            let _ = std::fs::set_permissions(
                root.join("certs").join(n),
                std::fs::Permissions::from_mode(0o644),
            );
        }
    }
}
