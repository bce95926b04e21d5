//! Two writers at once, and the file shapes real systems have: 8 runs of
//! the same writing command started together must all succeed, every
//! update must be there afterwards, and no temp file may be left; an
//! access file that is a symlink stays one, and a replaced file keeps its
//! owner, group and mode.

use crate::support::{openssl, run, run_ok, studio, tempdir, walk, Pki};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};

const N: usize = 8;

/// Runs the `N` commands `make(i)` builds at once (released together by a
/// barrier) and returns their outputs.
fn all_at_once(make: impl Fn(usize) -> Command + Sync) -> Vec<Output> {
    let barrier = Arc::new(Barrier::new(N));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let b = barrier.clone();
                let mut cmd = make(i);
                s.spawn(move || {
                    b.wait();
                    run(&mut cmd)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_all_ok(what: &str, outs: &[Output]) {
    for (i, o) in outs.iter().enumerate() {
        assert!(
            o.status.success(),
            "{what} #{i} failed: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn temps_under(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.contains(".sts-tmp-") || name.contains(".sts-journal")
        })
        .collect()
}

#[test]
fn eight_access_edits_at_once_keep_every_entry() {
    let t = tempdir();
    let home = t.path().join("home");
    let access = t.path().join("access");
    fs::write(&access, "# partners\nConnect:10.0.0.1\tRELAY\n").unwrap();
    let outs = all_at_once(|i| {
        let mut c = studio(&home);
        c.args(["access", "set-tls", "--tag", "TLS_Srv", "--host"])
            .arg(format!("mx{i}.example.net"))
            .args(["--require", "VERIFY"])
            .arg("--access")
            .arg(&access);
        c
    });
    assert_all_ok("access set-tls", &outs);
    let text = fs::read_to_string(&access).unwrap();
    for i in 0..N {
        assert!(
            text.contains(&format!("TLS_Srv:mx{i}.example.net\tVERIFY\n")),
            "entry {i} lost:\n{text}"
        );
    }
    assert!(text.starts_with("# partners\nConnect:10.0.0.1\tRELAY\n"));
    assert!(
        temps_under(t.path()).is_empty(),
        "{:?}",
        temps_under(t.path())
    );
}

#[test]
fn eight_installs_into_one_directory_at_once() {
    let t = tempdir();
    let home = t.path().join("home");
    Pki::new(&home).ecdsa_host("mx.example.org").make();
    let to = t.path().join("tls");
    let outs = all_at_once(|_| {
        let mut c = studio(&home);
        c.args(["install", "mx.example.org", "--to"]).arg(&to);
        c
    });
    assert_all_ok("install", &outs);
    assert!(temps_under(&to).is_empty(), "{:?}", temps_under(&to));
    let v = run(openssl()
        .args(["verify", "-CApath"])
        .arg(to.join("certs"))
        .arg(to.join("mx.example.org.crt")));
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    assert_eq!(
        fs::metadata(to.join("mx.example.org.key")).unwrap().mode() & 0o777,
        0o600
    );
    // The first run created the directory and said so; the others found it.
    let notes = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("did not exist; created it"))
        .count();
    assert_eq!(notes, 1, "exactly one run created {}", to.display());
}

#[test]
fn eight_renewals_of_one_host_at_once() {
    let t = tempdir();
    let home = t.path().join("home");
    Pki::new(&home).ecdsa_host("mx.example.org").make();
    let outs = all_at_once(|_| {
        let mut c = studio(&home);
        c.args(["cert", "renew", "mx.example.org"]);
        c
    });
    assert_all_ok("cert renew", &outs);
    // The key and the certificate in place belong together and verify.
    let hosts = home.join("hosts");
    let crt = hosts.join("mx.example.org.crt");
    let key = hosts.join("mx.example.org.key");
    let pub_of = |args: &[&str], f: &Path| run_ok(openssl().args(args).arg(f));
    assert_eq!(
        pub_of(&["x509", "-noout", "-pubkey", "-in"], &crt),
        pub_of(&["pkey", "-pubout", "-in"], &key),
        "key and certificate match"
    );
    let v = run(openssl()
        .args(["verify", "-CAfile"])
        .arg(home.join("ca/ca.crt"))
        .arg(&crt));
    assert!(v.status.success());
    assert_eq!(
        fs::read_dir(home.join("archive")).unwrap().count(),
        2 * N,
        "every replaced pair archived (key and certificate)"
    );
    assert!(temps_under(&home).is_empty(), "{:?}", temps_under(&home));
}

#[test]
fn a_symlinked_group_owned_access_file_keeps_its_shape() {
    let t = tempdir();
    let home = t.path().join("home");
    let real_dir = t.path().join("config");
    fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("access");
    fs::write(&real, "Connect:10.0.0.1\tRELAY\n").unwrap();
    // A group other than ours, and a mode other than the default 0644.
    let gid = 8; // "mail" on Debian
    std::os::unix::fs::chown(&real, None, Some(gid)).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    let link = t.path().join("access");
    std::os::unix::fs::symlink("config/access", &link).unwrap();
    run_ok(
        studio(&home)
            .args(["access", "set-tls", "--tag", "TLS_Clt"])
            .args(["--host", "client.example.net"])
            .args(["--require", "VERIFY"])
            .arg("--access")
            .arg(&link),
    );
    let lm = fs::symlink_metadata(&link).unwrap();
    assert!(lm.file_type().is_symlink(), "the link stayed a link");
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("config/access"));
    let text = fs::read_to_string(&real).unwrap();
    assert!(
        text.contains("TLS_Clt:client.example.net\tVERIFY"),
        "the real file got the edit: {text}"
    );
    let m = fs::metadata(&real).unwrap();
    assert_eq!(m.gid(), gid, "group kept");
    assert_eq!(m.mode() & 0o7777, 0o640, "mode kept");
    assert!(temps_under(t.path()).is_empty());
}
