//! Private keys: created with their final mode (checked at the instant the
//! key file is created, through the failpoint right after creation), never
//! in any command's output (text, JSON, errors), and refused when others
//! can read them unless `--allow-insecure-key` is given.

use crate::support::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The base64 lines of every PEM private key under `dir`.
fn key_chunks(dir: &Path, into: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            key_chunks(&p, into);
        } else if p.is_file() {
            let text = String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned();
            if text.contains("PRIVATE KEY-----") {
                into.extend(
                    text.lines()
                        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                        .map(str::to_string),
                );
            }
        }
    }
}

#[test]
fn keys_are_private_from_their_first_byte() {
    // Killed right after each key's temp file is created (before any
    // content): the file already has its final mode, whatever the umask.
    for (args, key_rel, want) in [
        (
            vec!["ca", "init", "--cn", "Mode CA", "--key", "ecdsa-p256"],
            "",
            0o400,
        ),
        (
            vec!["cert", "issue", "m.example.org", "--key", "ecdsa-p256"],
            "hosts",
            0o600,
        ),
    ] {
        let t = tempdir();
        let home = t.path().join("home");
        if args[0] == "cert" {
            run_ok(studio(&home).args(["ca", "init", "--cn", "Mode CA", "--key", "ecdsa-p256"]));
        }
        let out = run(Command::new("sh")
            .arg("-c")
            .arg("umask 000; exec \"$@\"")
            .arg("sh")
            .arg(studio_bin())
            .arg("--home")
            .arg(&home)
            .args(&args)
            .env("STARTTLS_STUDIO_FAILPOINT", "stage-created:1"));
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{args:?} was not killed at the failpoint"
        );
        let mut found: Vec<PathBuf> = Vec::new();
        let mut stack = vec![home.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    found.push(e.path());
                }
            }
        }
        let keys: Vec<_> = found
            .iter()
            .filter(|p| p.to_string_lossy().contains(".key.sts-tmp-"))
            .collect();
        assert_eq!(keys.len(), 1, "{args:?}: {found:?} ({key_rel})");
        assert_eq!(mode(keys[0]), want, "{args:?}: a fresh key temp file");
        assert_eq!(fs::metadata(keys[0]).unwrap().len(), 0);
    }
}

#[test]
fn no_command_prints_a_private_key() {
    let t = tempdir();
    let home = t.path().join("home");
    let to = t.path().join("tls");
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut go = |args: &[&str], extra: &[&Path]| {
        let out = run(studio(&home).args(args).args(extra));
        outputs.push((format!("{args:?}"), out));
    };
    let access = t.path().join("access");
    fs::write(&access, "Connect:10.0.0.1\tRELAY\n").unwrap();
    go(
        &["ca", "init", "--cn", "Secret CA", "--key", "ecdsa-p256"],
        &[],
    );
    go(&["ca", "show", "--json"], &[]);
    go(&["ca", "show"], &[]);
    go(&["cert", "issue", "s.example.org", "--key", "rsa2048"], &[]);
    go(&["cert", "list", "--json"], &[]);
    go(&["cert", "renew", "s.example.org"], &[]);
    go(&["install", "s.example.org", "--to"], &[&to]);
    go(&["install", "s.example.org", "--to"], &[&to]);
    let host_key = home.join("hosts/s.example.org.key");
    let ca_key = home.join("ca/ca.key");
    for k in [&host_key, &ca_key, &to.join("s.example.org.key")] {
        go(&["show"], &[k]);
        go(&["show", "--json"], &[k]);
        go(&["rehash"], &[k.parent().unwrap()]);
    }
    go(
        &["access", "add-cert-relay", "--cert"],
        &[&host_key, Path::new("--access"), &access],
    );
    go(&["access", "check"], &[&host_key]);
    go(&["access", "dump"], &[&host_key]);
    go(
        &["ca", "import", "--cert"],
        &[&host_key, Path::new("--key"), &host_key],
    );
    go(&["cert", "revoke", "s.example.org"], &[]);
    let mut chunks = Vec::new();
    key_chunks(&home, &mut chunks);
    key_chunks(&to, &mut chunks);
    assert!(chunks.len() >= 10, "found only {} key lines", chunks.len());
    for (cmd, out) in &outputs {
        for stream in [&out.stdout, &out.stderr] {
            let s = String::from_utf8_lossy(stream);
            assert!(
                !s.contains("PRIVATE KEY-----"),
                "{cmd} printed a PEM key header:\n{s}"
            );
            assert!(!s.contains("panicked"), "{cmd} panicked:\n{s}");
            for c in &chunks {
                assert!(
                    !s.contains(c.as_str()),
                    "{cmd} printed part of a private key"
                );
            }
        }
    }
}

#[test]
fn keys_others_can_read_are_refused_unless_allowed() {
    let t = tempdir();
    let home = t.path().join("home");
    run_ok(studio(&home).args(["ca", "init", "--cn", "Perm CA", "--key", "ecdsa-p256"]));
    run_ok(studio(&home).args(["cert", "issue", "p.example.org", "--key", "ecdsa-p256"]));
    let cert = home.join("hosts/p.example.org.crt");
    let key = t.path().join("loose.key");
    fs::copy(home.join("hosts/p.example.org.key"), &key).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    let refused = |out: Output, what: &str| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains("loose.key") && err.contains("0640"),
            "{what}: {err}"
        );
        assert!(err.contains("--allow-insecure-key"), "{what}: {err}");
    };
    // ca import reads a key.
    let home2 = t.path().join("home2");
    let ca_key = t.path().join("ca-loose.key");
    fs::copy(home.join("ca/ca.key"), &ca_key).unwrap();
    fs::set_permissions(&ca_key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(studio(&home2)
        .args(["ca", "import", "--cert"])
        .arg(home.join("ca/ca.crt"))
        .arg("--key")
        .arg(&ca_key));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("0644") && err.contains("--allow-insecure-key"),
        "{err}"
    );
    assert!(!home2.join("ca/ca.key").exists());
    run_ok(
        studio(&home2)
            .args(["ca", "import", "--allow-insecure-key", "--cert"])
            .arg(home.join("ca/ca.crt"))
            .arg("--key")
            .arg(&ca_key),
    );
    assert_eq!(
        mode(&home2.join("ca/ca.key")),
        0o400,
        "the imported key is stored 0400"
    );
    // probe presents a client key.
    let out = run(studio(&home)
        .args(["probe", "127.0.0.1:1", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key));
    refused(out, "probe");
    // serve uses a server key.
    let out = run(studio(&home)
        .args(["serve", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key));
    refused(out, "serve");
    // The home's own keys: a loosened CA key stops signing, with the fix.
    fs::set_permissions(home.join("ca/ca.key"), fs::Permissions::from_mode(0o444)).unwrap();
    let out = run(studio(&home).args(["cert", "issue", "q.example.org"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ca.key") && err.contains("chmod 400"), "{err}");
    assert!(
        !err.contains("--allow-insecure-key"),
        "cert issue has no such flag: {err}"
    );
    assert!(!home.join("hosts/q.example.org.crt").exists());
}
