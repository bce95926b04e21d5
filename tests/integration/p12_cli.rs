//! PKCS#12 with `openssl pkcs12` as the judge: files OpenSSL writes (its
//! default AES/PBKDF2 scheme and `-legacy`'s RC2-40/3DES) are read by
//! `show`, `trust add` and `install --cert`; files we write (`bundle
//! FILE.p12`, `ca export`) are read by OpenSSL and hold the same key and
//! certificates; `ca import` restores the CA a backup holds.

use crate::support::pki::{partner, Pki};
use crate::support::{openssl, run, run_ok, studio, tempdir};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const PASS: &str = "correct horse battery staple";

fn pass_file(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("pass");
    fs::write(&f, format!("{PASS}\n")).unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
    f
}

/// The SHA-256 fingerprints `openssl` sees in a PEM file.
fn fingerprints(pem: &Path) -> Vec<String> {
    let text = fs::read_to_string(pem).unwrap();
    let mut out = Vec::new();
    for block in text
        .split("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN CERTIFICATE"))
    {
        let one = pem.with_extension("one");
        fs::write(&one, format!("{block}-----END CERTIFICATE-----\n")).unwrap();
        let fp = run_ok(
            openssl()
                .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
                .arg(&one),
        );
        out.push(fp.trim().rsplit('=').next().unwrap().replace(':', ""));
    }
    out
}

/// The public key of a private key, as openssl prints it.
fn pubkey(key: &Path, extra: &[&str]) -> String {
    run_ok(
        openssl()
            .args(["pkey", "-pubout", "-in"])
            .arg(key)
            .args(extra),
    )
}

#[test]
fn openssl_p12_files_are_read_in_both_schemes() {
    let dir = tempdir();
    let pf = pass_file(dir.path());
    let p = partner(
        &dir.path().join("pk"),
        "p",
        "Partner Root CA",
        "mx.partner.example",
    );
    for (name, legacy) in [("modern", false), ("legacy", true)] {
        let p12 = dir.path().join(format!("{name}.p12"));
        let mut c = openssl();
        c.args(["pkcs12", "-export", "-inkey"])
            .arg(&p.key)
            .arg("-in")
            .arg(&p.cert)
            .arg("-certfile")
            .arg(&p.ca);
        c.args(["-passout", &format!("pass:{PASS}"), "-out"])
            .arg(&p12);
        if legacy {
            c.arg("-legacy");
        }
        run_ok(&mut c);
        // no passphrase: says what it needs, exit 1
        let o = run(studio(dir.path())
            .arg("show")
            .arg(&p12)
            .env_remove("STARTTLS_STUDIO_PASSPHRASE"));
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("PKCS#12") && err.contains("needs its passphrase"),
            "{err}"
        );
        // a wrong one
        let o = run(studio(dir.path())
            .arg("show")
            .arg(&p12)
            .env("STARTTLS_STUDIO_PASSPHRASE", "wrong"));
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("does not open it"));
        // the right one: the same certificates OpenSSL sees, leaf first
        let json = run_ok(
            studio(dir.path())
                .arg("show")
                .arg(&p12)
                .arg("--json")
                .arg("--passphrase-file")
                .arg(&pf),
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let ours: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["sha256_fingerprint"].as_str().unwrap().replace(':', ""))
            .collect();
        let mut theirs = fingerprints(&p.cert);
        theirs.extend(fingerprints(&p.ca));
        assert_eq!(ours, theirs, "{name}");
        // install --cert FILE.p12 takes the key from it
        let home = dir.path().join(format!("home-{name}"));
        Pki::new(&home).make();
        let to = dir.path().join(format!("tls-{name}"));
        run_ok(
            studio(&home)
                .args(["install", "mx.partner.example", "--to"])
                .arg(&to)
                .arg("--cert")
                .arg(&p12)
                .arg("--passphrase-file")
                .arg(&pf),
        );
        let key = to.join("mx.partner.example.key");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            pubkey(&key, &[]),
            pubkey(&p.key, &[]),
            "{name}: the key installed is the one in the file"
        );
        assert_eq!(
            fingerprints(&to.join("mx.partner.example.crt")),
            fingerprints(&p.cert)
        );
    }
    // a corrupt file: cut short, or bytes flipped in the middle — a clear
    // refusal naming the file, nothing installed
    let good = fs::read(dir.path().join("modern.p12")).unwrap();
    for (name, bytes) in [
        ("cut.p12", good[..good.len() / 2].to_vec()),
        ("flipped.p12", {
            let mut b = good.clone();
            let m = b.len() / 2;
            for x in &mut b[m..m + 16] {
                *x ^= 0x5a;
            }
            b
        }),
    ] {
        let f = dir.path().join(name);
        fs::write(&f, bytes).unwrap();
        let to = dir.path().join(format!("tls-{name}"));
        let o = run(studio(dir.path())
            .args(["install", "mx.partner.example", "--to"])
            .arg(&to)
            .arg("--cert")
            .arg(&f)
            .arg("--passphrase-file")
            .arg(&pf));
        assert_eq!(o.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(name) && !err.contains("panicked"),
            "{name}: {err}"
        );
        assert!(!to.join("mx.partner.example.key").exists(), "{name}");
    }
    // a truststore (CA only, no key) is trusted as a CA file is
    let store = dir.path().join("ca-only.p12");
    run_ok(
        openssl()
            .args(["pkcs12", "-export", "-nokeys", "-in"])
            .arg(&p.ca)
            .args(["-passout", &format!("pass:{PASS}"), "-out"])
            .arg(&store),
    );
    let to = dir.path().join("trust");
    let o = run(studio(dir.path())
        .args(["trust", "add"])
        .arg(&store)
        .arg("--to")
        .arg(&to)
        .arg("--passphrase-file")
        .arg(&pf));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a directory"));
    fs::create_dir(&to).unwrap();
    run_ok(
        studio(dir.path())
            .args(["trust", "add"])
            .arg(&store)
            .arg("--to")
            .arg(&to)
            .arg("--passphrase-file")
            .arg(&pf),
    );
    run_ok(
        openssl()
            .args(["verify", "-CApath"])
            .arg(to.join("certs"))
            .arg(&p.cert),
    );
}

#[test]
fn our_p12_files_are_read_by_openssl_and_the_ca_backup_restores() {
    let dir = tempdir();
    let pf = pass_file(dir.path());
    let home = dir.path().join("home");
    Pki::new(&home).host("mx.example.org").make();
    // without a passphrase nothing is written
    let out = dir.path().join("mx.p12");
    let o = run(studio(&home)
        .args(["bundle", "mx.example.org", "--out"])
        .arg(&out)
        .env_remove("STARTTLS_STUDIO_PASSPHRASE"));
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());
    for legacy in [false, true] {
        let mut c = studio(&home);
        c.args(["bundle", "mx.example.org", "--out"])
            .arg(&out)
            .arg("--passphrase-file")
            .arg(&pf);
        if legacy {
            c.arg("--p12-legacy");
        }
        run_ok(&mut c);
        assert_eq!(
            fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let pem = dir.path().join("from-openssl.pem");
        run_ok(
            openssl()
                .args(["pkcs12", "-in"])
                .arg(&out)
                .args(["-passin", &format!("pass:{PASS}"), "-nodes", "-out"])
                .arg(&pem),
        );
        let fps = fingerprints(&pem);
        let host = home.join("hosts/mx.example.org.crt");
        let ca = home.join("ca/ca.crt");
        assert!(
            fps.contains(&fingerprints(&host)[0]) && fps.contains(&fingerprints(&ca)[0]),
            "legacy={legacy}: {fps:?}"
        );
        assert_eq!(
            pubkey(&pem, &[]),
            pubkey(&home.join("hosts/mx.example.org.key"), &[])
        );
    }
    // the CA backup: read by OpenSSL, restored into a new home, and
    // certificates the restored CA issues verify against the old CA
    let backup = dir.path().join("ca-backup.p12");
    run_ok(
        studio(&home)
            .args(["ca", "export", "--out"])
            .arg(&backup)
            .arg("--passphrase-file")
            .arg(&pf),
    );
    assert_eq!(
        fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pem = dir.path().join("ca-from-openssl.pem");
    run_ok(
        openssl()
            .args(["pkcs12", "-in"])
            .arg(&backup)
            .args(["-passin", &format!("pass:{PASS}"), "-nodes", "-out"])
            .arg(&pem),
    );
    assert_eq!(pubkey(&pem, &[]), pubkey(&home.join("ca/ca.key"), &[]));
    let again = dir.path().join("restored");
    run_ok(
        studio(&again)
            .args(["ca", "import", "--cert"])
            .arg(&backup)
            .arg("--passphrase-file")
            .arg(&pf),
    );
    assert_eq!(
        fs::read(again.join("ca/ca.crt")).unwrap(),
        fs::read(home.join("ca/ca.crt")).unwrap()
    );
    run_ok(studio(&again).args(["cert", "issue", "relay.example.org"]));
    run_ok(
        openssl()
            .args(["verify", "-CAfile"])
            .arg(home.join("ca/ca.crt"))
            .arg(again.join("hosts/relay.example.org.crt")),
    );
}
