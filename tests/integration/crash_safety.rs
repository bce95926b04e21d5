//! Crash safety: every write command is killed (SIGKILL, through the
//! `STARTTLS_STUDIO_FAILPOINT=*:N` failpoint in `store::fsutil`) at each
//! point where it touches the disk, one run per point, and the files left
//! behind are checked: each one the old content or the complete new one,
//! keys never readable by group or others (temp files included, checked
//! right after their creation), and no temp file left once the next run
//! in that directory is done.

use crate::support::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// More failpoint hits than any command here has; the loop ends earlier,
/// at the first run that is not killed.
const MAX_POINTS: usize = 60;

/// Runs `cmd` armed to die at the `n`th failpoint hit. `true` if it died.
fn run_killed_at(cmd: &mut Command, n: usize) -> (bool, Output) {
    cmd.env("STARTTLS_STUDIO_FAILPOINT", format!("*:{n}"));
    let out = run(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{cmd:?} panicked: {err}");
    match out.status.signal() {
        Some(9) | Some(6) => (true, out),
        Some(s) => panic!("{cmd:?} died of signal {s}"),
        None => (false, out),
    }
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// No key-like file (target or temp) may be readable by group or others.
fn keys_private(root: &Path, at: &str) {
    for p in walk(root) {
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.is_file() && name(&p).contains(".key") {
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{at}: {} has mode {mode:o}", p.display());
        }
    }
}

fn temps(root: &Path) -> Vec<PathBuf> {
    walk(root)
        .into_iter()
        .filter(|p| name(p).contains(".sts-tmp-"))
        .collect()
}

fn no_temps(root: &Path, at: &str) {
    let t = temps(root);
    assert!(
        t.is_empty(),
        "{at}: temp files left after the next run: {t:?}"
    );
}

/// A PEM file that is complete: ends with its END line and `openssl`
/// reads it.
fn complete_pem(p: &Path, what: &str, at: &str) {
    let data = fs::read(p).unwrap();
    assert!(
        data.ends_with(b"-----\n"),
        "{at}: {} is cut short ({} bytes)",
        p.display(),
        data.len()
    );
    let out = run(openssl().args([what, "-noout", "-in"]).arg(p));
    assert!(
        out.status.success(),
        "{at}: openssl {what} cannot read {}",
        p.display()
    );
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(root)
        .into_iter()
        .filter(|p| fs::symlink_metadata(p).unwrap().is_file() && !name(p).contains(".sts-tmp-"))
        .map(|p| {
            let d = fs::read(&p).unwrap();
            (p.strip_prefix(root).unwrap().to_path_buf(), d)
        })
        .collect()
}

/// Each file in `now` equals its version in `old` or `new`; nothing else
/// appeared.
fn old_or_new(
    now: &BTreeMap<PathBuf, Vec<u8>>,
    old: &BTreeMap<PathBuf, Vec<u8>>,
    new: &BTreeMap<PathBuf, Vec<u8>>,
    at: &str,
) {
    for (p, d) in now {
        let ok = old.get(p) == Some(d) || new.get(p) == Some(d);
        assert!(
            ok,
            "{at}: {} is neither the old nor the new file ({} bytes)",
            p.display(),
            d.len()
        );
    }
}

fn home_with_ca(t: &Path) -> PathBuf {
    let home = t.join("home");
    Pki::new(&home).ca_name("Crash CA").make();
    home
}

#[test]
fn ca_init_killed_anywhere_leaves_no_ca_or_a_whole_one() {
    let mut points = 0;
    for n in 1..=MAX_POINTS {
        let t = tempdir();
        let home = t.path().join("home");
        let at = format!("ca init killed at point {n}");
        let init = || {
            let mut c = studio(&home);
            c.args(["ca", "init", "--cn", "Crash CA", "--key", "ecdsa-p256"]);
            c
        };
        let (killed, _) = run_killed_at(&mut init(), n);
        keys_private(t.path(), &at);
        let (crt, key) = (home.join("ca/ca.crt"), home.join("ca/ca.key"));
        assert_eq!(
            crt.exists(),
            key.exists(),
            "{at}: a CA key without its certificate or the reverse"
        );
        if crt.exists() {
            complete_pem(&crt, "x509", &at);
            complete_pem(&key, "pkey", &at);
        }
        if !killed {
            points = n - 1;
            break;
        }
        // The next run: creates the CA, or refuses because one exists.
        let had_ca = crt.exists();
        let out = run(&mut init());
        assert_eq!(
            out.status.code(),
            Some(if had_ca { 1 } else { 0 }),
            "{at}: next run"
        );
        run_ok(studio(&home).args(["cert", "issue", "a.example.org"]));
        no_temps(t.path(), &at);
    }
    eprintln!("ca init: killed at each of {points} failpoints, all consistent");
    assert!(points >= 8, "ca init passed only {points} failpoints");
}

#[test]
fn cert_issue_killed_anywhere_leaves_complete_private_files() {
    let t = tempdir();
    let base = home_with_ca(t.path());
    run_ok(studio(&base).args(["cert", "issue", "other.example.org", "--key", "ecdsa-p256"]));
    let mut points = 0;
    for n in 1..=MAX_POINTS {
        let t2 = tempdir();
        let home = t2.path().join("home");
        run_ok(Command::new("cp").arg("-a").arg(&base).arg(&home));
        let before = snapshot(&home);
        let at = format!("cert issue killed at point {n}");
        let issue = || {
            let mut c = studio(&home);
            c.args(["cert", "issue", "mx.example.org", "--key", "ecdsa-p256"]);
            c
        };
        let (killed, _) = run_killed_at(&mut issue(), n);
        keys_private(&home, &at);
        for (p, what) in [
            ("hosts/mx.example.org.crt", "x509"),
            ("hosts/mx.example.org.key", "pkey"),
        ] {
            if home.join(p).exists() {
                complete_pem(&home.join(p), what, &at);
            }
        }
        let now = snapshot(&home);
        for (p, d) in &before {
            assert_eq!(now.get(p), Some(d), "{at}: {} changed", p.display());
        }
        if !killed {
            points = n - 1;
            break;
        }
        if !home.join("hosts/mx.example.org.crt").exists() {
            run_ok(&mut issue());
        } else {
            run_ok(studio(&home).args(["cert", "issue", "b.example.org", "--key", "ecdsa-p256"]));
        }
        no_temps(&home, &at);
    }
    eprintln!("cert issue: killed at each of {points} failpoints, all consistent");
    assert!(points >= 8, "cert issue passed only {points} failpoints");
}

#[test]
fn install_killed_anywhere_leaves_old_or_new_files() {
    let t = tempdir();
    let home = home_with_ca(t.path());
    run_ok(studio(&home).args(["cert", "issue", "mx.example.org", "--key", "ecdsa-p256"]));
    // The old installation, then a renewed certificate to install over it.
    let old_dir = t.path().join("old");
    run_ok(
        studio(&home)
            .args(["install", "mx.example.org", "--to"])
            .arg(&old_dir),
    );
    run_ok(studio(&home).args(["cert", "renew", "mx.example.org"]));
    let new_dir = t.path().join("new");
    run_ok(Command::new("cp").arg("-a").arg(&old_dir).arg(&new_dir));
    run_ok(
        studio(&home)
            .args(["install", "mx.example.org", "--to"])
            .arg(&new_dir),
    );
    let (old, new) = (snapshot(&old_dir), snapshot(&new_dir));
    assert_ne!(old, new);
    let links_new: BTreeMap<String, PathBuf> = links(&new_dir.join("certs"));
    let mut points = 0;
    for n in 1..=MAX_POINTS {
        let dir = t.path().join(format!("try{n}"));
        run_ok(Command::new("cp").arg("-a").arg(&old_dir).arg(&dir));
        let at = format!("install killed at point {n}");
        let install = || {
            let mut c = studio(&home);
            c.args(["install", "mx.example.org", "--to"]).arg(&dir);
            c
        };
        let (killed, _) = run_killed_at(&mut install(), n);
        keys_private(&dir, &at);
        old_or_new(&snapshot(&dir), &old, &new, &at);
        let key = dir.join("mx.example.org.key");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600,
            "{at}"
        );
        if !killed {
            points = n - 1;
            break;
        }
        run_ok(&mut install());
        assert_eq!(
            snapshot(&dir),
            new,
            "{at}: the next run did not finish the install"
        );
        assert_eq!(links(&dir.join("certs")), links_new, "{at}: hash links");
        no_temps(&dir, &at);
        fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!("install: killed at each of {points} failpoints, all consistent");
    assert!(points >= 8, "install passed only {points} failpoints");
}

/// Symlinks in `dir`: name → target.
fn links(dir: &Path) -> BTreeMap<String, PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_symlink())
        .map(|e| (name(&e.path()), fs::read_link(e.path()).unwrap()))
        .collect()
}

#[test]
fn rehash_killed_anywhere_leaves_only_valid_links() {
    let t = tempdir();
    let home = home_with_ca(t.path());
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    for h in ["a.example.org", "b.example.org", "c.example.org"] {
        run_ok(studio(&home).args(["cert", "issue", h, "--key", "ecdsa-p256"]));
        fs::copy(
            home.join(format!("hosts/{h}.crt")),
            src.join(format!("{h}.pem")),
        )
        .unwrap();
    }
    // Stale and wrong links for rehash to remove and replace.
    std::os::unix::fs::symlink("gone.pem", src.join("00000000.0")).unwrap();
    let want_dir = t.path().join("want");
    run_ok(Command::new("cp").arg("-a").arg(&src).arg(&want_dir));
    run_ok(studio(&home).arg("rehash").arg(&want_dir));
    let want = links(&want_dir);
    let first = want.keys().next().unwrap().clone();
    std::os::unix::fs::symlink("b.example.org.pem", src.join(&first)).unwrap();
    let mut points = 0;
    for n in 1..=MAX_POINTS {
        let dir = t.path().join(format!("try{n}"));
        run_ok(Command::new("cp").arg("-a").arg(&src).arg(&dir));
        let at = format!("rehash killed at point {n}");
        let (killed, _) = run_killed_at(studio(&home).arg("rehash").arg(&dir), n);
        // Every link present points at a certificate file; the files are untouched.
        for (l, target) in links(&dir) {
            if l.contains(".sts-tmp-") || l == "00000000.0" {
                continue;
            }
            assert!(
                dir.join(&target).is_file(),
                "{at}: {l} -> {} dangles",
                target.display()
            );
        }
        if !killed {
            points = n - 1;
            break;
        }
        run_ok(studio(&home).arg("rehash").arg(&dir));
        assert_eq!(links(&dir), want, "{at}: the next run");
        no_temps(&dir, &at);
    }
    eprintln!("rehash: killed at each of {points} failpoints, all consistent");
    assert!(points >= 3, "rehash passed only {points} failpoints");
}

fn access_save_case(args: &[&str], label: &str, rerun_ok: bool) {
    let t = tempdir();
    let home = home_with_ca(t.path());
    let old_text =
        b"# partner relays\nConnect:10.1.2.3\tRELAY\nTLS_Clt:client.example.net\tENCR:128\n";
    let old_dir = t.path().join("old");
    fs::create_dir(&old_dir).unwrap();
    fs::write(old_dir.join("access"), old_text).unwrap();
    let cmd = |dir: &Path| {
        let mut c = studio(&home);
        c.args(args).arg("--access").arg(dir.join("access"));
        c
    };
    let new_dir = t.path().join("new");
    run_ok(Command::new("cp").arg("-a").arg(&old_dir).arg(&new_dir));
    run_ok(&mut cmd(&new_dir));
    let (old, new) = (snapshot(&old_dir), snapshot(&new_dir));
    assert_ne!(old, new);
    let mut points = 0;
    for n in 1..=MAX_POINTS {
        let dir = t.path().join(format!("try{n}"));
        run_ok(Command::new("cp").arg("-a").arg(&old_dir).arg(&dir));
        let at = format!("{label} killed at point {n}");
        let (killed, _) = run_killed_at(&mut cmd(&dir), n);
        old_or_new(&snapshot(&dir), &old, &new, &at);
        if !killed {
            points = n - 1;
            break;
        }
        let out = run(&mut cmd(&dir));
        assert!(
            rerun_ok || out.status.code() == Some(1) || out.status.success(),
            "{at}"
        );
        if rerun_ok {
            assert!(out.status.success(), "{at}: next run failed");
            assert_eq!(
                fs::read(dir.join("access")).unwrap(),
                new[Path::new("access")],
                "{at}"
            );
        }
        no_temps(&dir, &at);
    }
    eprintln!("{label}: killed at each of {points} failpoints, all consistent");
    assert!(points >= 6, "{label} passed only {points} failpoints");
}

#[test]
fn access_set_tls_killed_anywhere_keeps_the_old_or_new_map() {
    access_save_case(
        &[
            "access",
            "set-tls",
            "--tag",
            "TLS_Clt",
            "--host",
            "client.example.net",
            "--require",
            "PERM+VERIFY:128",
        ],
        "access set-tls",
        true,
    );
}

#[test]
fn access_add_cert_relay_killed_anywhere_keeps_the_old_or_new_map() {
    let t = tempdir();
    let home = home_with_ca(t.path());
    let ca = home.join("ca/ca.crt");
    access_save_case(
        &["access", "add-cert-relay", "--cert", ca.to_str().unwrap()],
        "access add-cert-relay",
        false,
    );
}

#[test]
fn cert_revoke_killed_anywhere_keeps_crl_and_table_whole() {
    let t = tempdir();
    let base = home_with_ca(t.path());
    run_ok(studio(&base).args(["cert", "issue", "r.example.org", "--key", "ecdsa-p256"]));
    run_ok(studio(&base).args(["cert", "crl"]));
    let mut points = 0;
    for n in 1..=MAX_POINTS {
        let t2 = tempdir();
        let home = t2.path().join("home");
        run_ok(Command::new("cp").arg("-a").arg(&base).arg(&home));
        let at = format!("cert revoke killed at point {n}");
        let (killed, _) = run_killed_at(studio(&home).args(["cert", "revoke", "r.example.org"]), n);
        keys_private(&home, &at);
        complete_pem(&home.join("ca/crl.pem"), "crl", &at);
        if !killed {
            points = n - 1;
            break;
        }
        // The next run re-signs the CRL; the table is whole or absent.
        run_ok(studio(&home).args(["cert", "crl"]));
        no_temps(&home.join("ca"), &at);
    }
    eprintln!("cert revoke: killed at each of {points} failpoints, all consistent");
    assert!(points >= 8, "cert revoke passed only {points} failpoints");
}

/// The public key of a certificate and of a private key, as openssl prints
/// them: equal when the pair belongs together.
fn pair_matches(cert: &Path, key: &Path) -> bool {
    let a = run(openssl()
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(cert));
    let b = run(openssl().args(["pkey", "-pubout", "-in"]).arg(key));
    a.status.success() && b.status.success() && a.stdout == b.stdout
}

#[test]
fn cert_renew_killed_anywhere_leaves_a_matching_pair() {
    let t = tempdir();
    let base = home_with_ca(t.path());
    run_ok(studio(&base).args(["cert", "issue", "mx.example.org", "--key", "ecdsa-p256"]));
    let cert = Path::new("hosts/mx.example.org.crt");
    let key = Path::new("hosts/mx.example.org.key");
    let mut points = 0;
    for n in 1..=MAX_POINTS {
        let t2 = tempdir();
        let home = t2.path().join("home");
        run_ok(Command::new("cp").arg("-a").arg(&base).arg(&home));
        let at = format!("cert renew killed at point {n}");
        let (killed, _) = run_killed_at(studio(&home).args(["cert", "renew", "mx.example.org"]), n);
        keys_private(&home, &at);
        // The next command in the home completes or drops what was cut.
        run_ok(studio(&home).args(["cert", "list"]));
        assert!(
            pair_matches(&home.join(cert), &home.join(key)),
            "{at}: key and certificate do not match"
        );
        complete_pem(&home.join(cert), "x509", &at);
        complete_pem(&home.join(key), "pkey", &at);
        // The next renewal writes in the same directories and clears the rest.
        run_ok(studio(&home).args(["cert", "renew", "mx.example.org"]));
        assert!(
            pair_matches(&home.join(cert), &home.join(key)),
            "{at}: after the next renewal"
        );
        no_temps(&home, &at);
        let journals: Vec<_> = walk(&home)
            .into_iter()
            .filter(|p| name(p).ends_with(".sts-journal"))
            .collect();
        assert!(journals.is_empty(), "{at}: journals left: {journals:?}");
        if !killed {
            points = n - 1;
            break;
        }
    }
    eprintln!("cert renew: killed at each of {points} failpoints, pair always matching");
    assert!(points >= 8, "cert renew passed only {points} failpoints");
}
