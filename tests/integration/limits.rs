//! Input limits: every file the tool reads is bounded (a clear refusal
//! naming the file and the limit, quickly, never an out-of-memory or a
//! hang), and names and addresses are checked where they come in.

use crate::support::*;
use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

fn refused(out: &Output, what: &str, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: exit {:?}\n{err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
    for n in needles {
        assert!(
            err.contains(n),
            "{what}: stderr should mention {n:?}:\n{err}"
        );
    }
}

/// A sparse file of `len` bytes (no disk used).
fn sparse(p: &Path, len: u64) {
    fs::File::create(p).unwrap().set_len(len).unwrap();
}

#[test]
fn oversize_and_endless_inputs_are_refused_quickly() {
    let t = tempdir();
    let home = t.path().join("home");
    run_ok(studio(&home).args(["ca", "init", "--cn", "Limit CA", "--key", "ecdsa-p256"]));
    let big_pem = t.path().join("big.pem");
    sparse(&big_pem, 16 * 1024 * 1024 + 1);
    let big_access = t.path().join("access");
    sparse(&big_access, 256 * 1024 * 1024 + 1);
    let started = Instant::now();
    // Certificate files: the size says too big.
    refused(
        &run(studio(&home).arg("show").arg(&big_pem)),
        "show big",
        &["big.pem", "16777216"],
    );
    // A device whose size says 0 but never ends: cut off at the limit.
    refused(
        &run(studio(&home).args(["show", "/dev/zero"])),
        "show /dev/zero",
        &["/dev/zero", "16777216"],
    );
    let home2 = t.path().join("home2");
    refused(
        &run(studio(&home2)
            .args(["ca", "import", "--allow-insecure-key", "--cert"])
            .arg(&big_pem)
            .args(["--key", "/dev/zero"])),
        "ca import",
        &["big.pem"],
    );
    let cert = home.join("ca/ca.crt");
    refused(
        &run(studio(&home2)
            .args(["ca", "import", "--allow-insecure-key", "--cert"])
            .arg(&cert)
            .args(["--key", "/dev/zero"])),
        "ca import key /dev/zero",
        &["/dev/zero", "16777216"],
    );
    // Access maps: every command that reads one.
    for args in [vec!["access", "check"], vec!["access", "dump"]] {
        refused(
            &run(studio(&home).args(&args).arg(&big_access)),
            &format!("{args:?}"),
            &["access", "268435456"],
        );
    }
    refused(
        &run(studio(&home)
            .args(["policy", "eval", "--ruleset", "relay", "--access"])
            .arg(&big_access)),
        "policy eval",
        &["268435456"],
    );
    refused(
        &run(studio(&home)
            .args(["access", "remove", "Connect:x", "--access"])
            .arg(&big_access)),
        "access remove",
        &["268435456"],
    );
    assert_eq!(
        fs::metadata(&big_access).unwrap().len(),
        256 * 1024 * 1024 + 1,
        "left as it was"
    );
    // The revocation table in the home.
    sparse(&home.join("ca/revoked.tsv"), 16 * 1024 * 1024 + 1);
    refused(
        &run(studio(&home).args(["cert", "crl"])),
        "cert crl",
        &["revoked.tsv"],
    );
    // rehash: a huge candidate is reported, the rest is linked.
    let dir = t.path().join("certs");
    fs::create_dir(&dir).unwrap();
    fs::copy(&cert, dir.join("ca.pem")).unwrap();
    sparse(&dir.join("huge.pem"), 16 * 1024 * 1024 + 1);
    let out = run(studio(&home).arg("rehash").arg(&dir));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("huge.pem"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let links = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_symlink())
        .count();
    assert_eq!(links, 1, "the CA is still linked");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "refusals took {took:?}");
}

#[test]
fn names_and_addresses_are_checked_where_they_come_in() {
    let t = tempdir();
    let home = t.path().join("home");
    run_ok(studio(&home).args(["ca", "init", "--cn", "Name CA", "--key", "ecdsa-p256"]));
    let long = format!("{}.example.org", "a".repeat(250));
    let label = format!("{}.example.org", "b".repeat(64));
    for bad in [
        long.as_str(),
        label.as_str(),
        "under_score.example.org",
        "a..example.org",
        "-lead.example.org",
        "nodots",
        "white space.example.org",
        "a\r\nb.example.org",
    ] {
        let out = run(studio(&home).args(["cert", "issue", "--", bad]));
        refused(&out, &format!("cert issue {bad:?}"), &[]);
    }
    for bad in ["bad san!", "a\nb.example.org", "under_score.example.org"] {
        let out = run(studio(&home).args(["cert", "issue", "ok.example.org", "--san", bad]));
        refused(&out, &format!("--san {bad:?}"), &["--san"]);
    }
    assert!(!home.join("hosts/ok.example.org.crt").exists());
    let out = run(studio(&home).args(["ca", "init", "--cn", "   "]));
    assert_ne!(out.status.code(), Some(0));
    // serve: the name that goes into the greeting and Received: headers.
    for bad in ["mx\r\n250 injected", "", &"m".repeat(300)] {
        let out = run(studio(&home).args(["serve", "--listen", "127.0.0.1:0", "--hostname", bad]));
        refused(&out, &format!("serve --hostname {bad:?}"), &["--hostname"]);
    }
    // Addresses are parsed before anything happens.
    for bad in ["localhost", "127.0.0.1", "[::1]", "1.2.3.4:99999"] {
        let out = run(studio(&home).args(["serve", "--listen", bad]));
        assert_eq!(out.status.code(), Some(2), "serve --listen {bad:?}");
    }
    let access = t.path().join("access");
    fs::write(&access, "").unwrap();
    for bad in ["white space.example", "a\nTo:evil\tRELAY"] {
        let out = run(studio(&home)
            .args([
                "access",
                "set-tls",
                "--tag",
                "TLS_Clt",
                "--host",
                bad,
                "--require",
                "VERIFY",
                "--access",
            ])
            .arg(&access));
        refused(&out, &format!("set-tls --host {bad:?}"), &[]);
    }
    assert_eq!(fs::read(&access).unwrap(), b"", "nothing written");
}
