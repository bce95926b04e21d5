//! The PKI commands end to end: CA creation and import, issuing, renewing
//! and revoking, install — checked with the real `openssl` (verify, x509,
//! crl) and on the files and modes left behind. Plus the refusals: each a
//! clear message and exit 1, never a panic or a half-written file.

use crate::support::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn fails(cmd: &mut std::process::Command, code: i32, needle: &str) -> String {
    let out = run(cmd);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cmd:?}: expected exit {code}\nstderr: {err}"
    );
    assert!(!err.contains("panicked"), "{cmd:?} panicked: {err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "{cmd:?}: stderr should mention {needle:?}:\n{err}"
    );
    err
}

fn new_ca(home: &Path, key: &str) {
    Pki::new(home)
        .ca_args(&["--key", key, "--days", "100"])
        .make();
}

#[test]
fn ca_init_modes_extensions_and_refusal_to_overwrite() {
    let t = tempdir();
    let home = t.path().join("home");
    new_ca(&home, "ecdsa-p256");
    let crt = home.join("ca/ca.crt");
    let key = home.join("ca/ca.key");
    assert_eq!(mode(&key), 0o400);
    assert_eq!(mode(&crt), 0o644);
    assert_eq!(mode(&home), 0o700);
    let text = run_ok(openssl().args(["x509", "-noout", "-text", "-in"]).arg(&crt));
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );
    assert!(text.contains("CA:TRUE"));
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(text.contains("Subject Key Identifier"));
    let before = fs::read(&crt).unwrap();
    fails(
        studio(&home).args(["ca", "init", "--cn", "Other"]),
        1,
        "already exists",
    );
    assert_eq!(fs::read(&crt).unwrap(), before, "existing CA untouched");
    // every key kind of the contract
    for kind in ["rsa2048", "rsa3072", "ecdsa-p384", "ed25519"] {
        let h = t.path().join(kind);
        new_ca(&h, kind);
        run_ok(
            openssl()
                .args(["x509", "-noout", "-in"])
                .arg(h.join("ca/ca.crt")),
        );
    }
    fails(
        studio(&t.path().join("x")).args(["ca", "init", "--cn", "X", "--key", "rsa1024"]),
        2,
        "rsa1024",
    );
    fails(studio(&t.path().join("x")).args(["ca", "init"]), 2, "--cn");
}

#[test]
fn issued_certificate_verifies_with_openssl() {
    let t = tempdir();
    let home = t.path().join("home");
    new_ca(&home, "rsa2048");
    let out = run_ok(studio(&home).args([
        "cert",
        "issue",
        "MX.Example.ORG",
        "--san",
        "mail.example.org",
        "--san",
        "192.0.2.7",
    ]));
    assert!(out.contains("lower-cased"), "{out}");
    let crt = home.join("hosts/mx.example.org.crt");
    let key = home.join("hosts/mx.example.org.key");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&crt), 0o644);
    let verify = run_ok(
        openssl()
            .args([
                "verify",
                "-purpose",
                "sslserver",
                "-verify_hostname",
                "mx.example.org",
                "-CAfile",
            ])
            .arg(home.join("ca/ca.crt"))
            .arg(&crt),
    );
    assert!(verify.contains(": OK"), "{verify}");
    run_ok(
        openssl()
            .args(["verify", "-purpose", "sslclient", "-CAfile"])
            .arg(home.join("ca/ca.crt"))
            .arg(&crt),
    );
    let text = run_ok(openssl().args(["x509", "-noout", "-text", "-in"]).arg(&crt));
    for needle in [
        "Subject: CN = mx.example.org",
        "DNS:mx.example.org, DNS:mail.example.org, IP Address:192.0.2.7",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "Authority Key Identifier",
        "Public-Key: (2048 bit)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // key matches certificate
    let pk_cert = run_ok(
        openssl()
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(&crt),
    );
    let pk_key = run_ok(openssl().args(["pkey", "-pubout", "-in"]).arg(&key));
    assert_eq!(pk_cert, pk_key);
    // serial: positive, 16 bytes
    let serial = run_ok(
        openssl()
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(&crt),
    );
    assert_eq!(
        serial.trim().trim_start_matches("serial=").len(),
        32,
        "{serial}"
    );
    // AKI = CA's SKI
    let ca_text = run_ok(
        openssl()
            .args(["x509", "-noout", "-ext", "subjectKeyIdentifier", "-in"])
            .arg(home.join("ca/ca.crt")),
    );
    let ski = ca_text.lines().nth(1).unwrap().trim().to_string();
    assert!(text.contains(&ski), "AKI {ski} not in host cert");
    fails(
        studio(&home).args(["cert", "issue", "mx.example.org"]),
        1,
        "cert renew",
    );
}

#[test]
fn bad_host_names_are_refused_clearly() {
    let t = tempdir();
    let home = t.path().join("home");
    new_ca(&home, "ecdsa-p256");
    for (name, needle) in [
        ("bad_host.example.org", "underscore"),
        ("host..example", "empty label"),
        ("host.example.org;rm", "contains `;`"),
        ("localhost", "not fully qualified"),
    ] {
        fails(studio(&home).args(["cert", "issue", name]), 1, needle);
    }
    let long = format!("{}.example.org", vec!["a".repeat(60); 5].join("."));
    fails(studio(&home).args(["cert", "issue", &long]), 1, "253");
    let out =
        run_ok(studio(&home).args(["cert", "issue", "mx.bücher.example", "--key", "ecdsa-p256"]));
    assert!(
        out.contains("punycode") && out.contains("xn--bcher-kva"),
        "{out}"
    );
    assert!(
        fs::read_dir(home.join("hosts")).unwrap().count() == 2,
        "only the IDN pair was written"
    );
    // no CA yet
    fails(
        studio(&t.path().join("empty")).args(["cert", "issue", "a.example.org"]),
        1,
        "ca init",
    );
}

#[test]
fn list_renew_revoke_and_crl() {
    let t = tempdir();
    let home = t.path().join("home");
    new_ca(&home, "ecdsa-p256");
    run_ok(studio(&home).args(["cert", "issue", "a.example.org", "--key", "ecdsa-p256"]));
    run_ok(studio(&home).args([
        "cert",
        "issue",
        "b.example.org",
        "--key",
        "ed25519",
        "--san",
        "b2.example.org",
    ]));
    let list: serde_json::Value =
        serde_json::from_str(&run_ok(studio(&home).args(["cert", "list", "--json"]))).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fqdn"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.example.org", "b.example.org"]);
    assert!(!run_ok(studio(&home).args(["cert", "list", "--json"])).contains("PRIVATE"));
    let old_serial = list[1]["serial"].as_str().unwrap().to_string();

    run_ok(studio(&home).args(["cert", "renew", "b.example.org"]));
    let renewed = run_ok(
        studio(&home)
            .args(["show", "--json"])
            .arg(home.join("hosts/b.example.org.crt")),
    );
    let renewed: serde_json::Value = serde_json::from_str(&renewed).unwrap();
    assert_ne!(renewed[0]["serial"].as_str().unwrap(), old_serial);
    assert_eq!(renewed[0]["key_type"], "ed25519", "same key kind");
    assert_eq!(
        renewed[0]["sans"],
        serde_json::json!(["b.example.org", "b2.example.org"])
    );
    assert!(home
        .join(format!("archive/b.example.org-{old_serial}.crt"))
        .exists());

    let a = home.join("hosts/a.example.org.crt");
    let a_copy = t.path().join("a.crt");
    fs::copy(&a, &a_copy).unwrap();
    run_ok(studio(&home).args(["cert", "revoke", "a.example.org"]));
    assert!(
        !a.exists(),
        "revoked certificate leaves the hosts directory"
    );
    let crl = home.join("ca/crl.pem");
    let crl_text = run_ok(openssl().args(["crl", "-noout", "-text", "-in"]).arg(&crl));
    let serial = run_ok(
        openssl()
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(&a_copy),
    );
    assert!(
        crl_text.contains(serial.trim().trim_start_matches("serial=")),
        "{crl_text}"
    );
    // openssl agrees: revoked with the CRL, fine without
    let out = run(openssl()
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(home.join("ca/ca.crt"))
        .arg("-CRLfile")
        .arg(&crl)
        .arg(&a_copy));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("revoked")
            || String::from_utf8_lossy(&out.stderr).contains("revoked")
    );
    run_ok(
        openssl()
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(home.join("ca/ca.crt"))
            .arg("-CRLfile")
            .arg(&crl)
            .arg(home.join("hosts/b.example.org.crt")),
    );
    fails(
        studio(&home).args(["cert", "revoke", "a.example.org"]),
        1,
        "no certificate",
    );
}

#[test]
fn import_an_openssl_made_ca() {
    let t = tempdir();
    let d = t.path();
    run_ok(
        openssl()
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            ])
            .args(["-subj", "/C=US/O=Example Mail/OU=Ops/CN=Example Mail CA"])
            .args([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ])
            .arg("-keyout")
            .arg(d.join("ca.key"))
            .arg("-out")
            .arg(d.join("ca.crt")),
    );
    fs::set_permissions(d.join("ca.key"), fs::Permissions::from_mode(0o644)).unwrap();
    let home = d.join("home");
    fails(
        studio(&home)
            .args(["ca", "import", "--cert"])
            .arg(d.join("ca.crt"))
            .arg("--key")
            .arg(d.join("ca.key")),
        1,
        "chmod 600",
    );
    fs::set_permissions(d.join("ca.key"), fs::Permissions::from_mode(0o600)).unwrap();
    // a key that does not belong to the certificate
    run_ok(
        openssl()
            .args(["genrsa", "-out"])
            .arg(d.join("other.key"))
            .arg("2048"),
    );
    fs::set_permissions(d.join("other.key"), fs::Permissions::from_mode(0o600)).unwrap();
    fails(
        studio(&home)
            .args(["ca", "import", "--cert"])
            .arg(d.join("ca.crt"))
            .arg("--key")
            .arg(d.join("other.key")),
        1,
        "does not belong",
    );
    assert!(!home.join("ca/ca.crt").exists());
    run_ok(
        studio(&home)
            .args(["ca", "import", "--cert"])
            .arg(d.join("ca.crt"))
            .arg("--key")
            .arg(d.join("ca.key")),
    );
    run_ok(studio(&home).args(["cert", "issue", "mx.example.net"]));
    let v = run_ok(
        openssl()
            .args(["verify", "-CAfile"])
            .arg(d.join("ca.crt"))
            .arg(home.join("hosts/mx.example.net.crt")),
    );
    assert!(v.contains(": OK"), "{v}");
    // a leaf is not a CA
    let home2 = d.join("home2");
    fails(
        studio(&home2)
            .args(["ca", "import", "--cert"])
            .arg(home.join("hosts/mx.example.net.crt"))
            .arg("--key")
            .arg(home.join("hosts/mx.example.net.key")),
        1,
        "not a CA",
    );
}

#[test]
fn install_is_idempotent_and_refuses_cleanly() {
    let t = tempdir();
    let home = t.path().join("home");
    new_ca(&home, "ecdsa-p256");
    run_ok(studio(&home).args(["cert", "issue", "mx.example.org", "--key", "ecdsa-p256"]));
    let to = t.path().join("tls");
    let out = run(studio(&home)
        .args(["install", "mx.example.org", "--to"])
        .arg(&to));
    assert!(out.status.success());
    let mc = String::from_utf8_lossy(&out.stdout);
    assert!(
        mc.contains(&format!(
            "define(`confCACERT_PATH', `{}')dnl",
            to.join("certs").display()
        )),
        "{mc}"
    );
    let snapshot = |dir: &Path| -> Vec<(String, u32, Vec<u8>)> {
        let mut v: Vec<_> = walk(dir)
            .into_iter()
            .map(|p| {
                let m = fs::symlink_metadata(&p).unwrap();
                let data = if m.file_type().is_symlink() {
                    fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes()
                } else if m.is_dir() {
                    Vec::new()
                } else {
                    fs::read(&p).unwrap()
                };
                (
                    p.display().to_string(),
                    m.permissions().mode() & 0o7777,
                    data,
                )
            })
            .collect();
        v.sort();
        v
    };
    let first = snapshot(&to);
    let out = run(studio(&home)
        .args(["install", "mx.example.org", "--to"])
        .arg(&to));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unchanged"));
    assert_eq!(snapshot(&to), first, "second install changes nothing");
    // a wrong mode is repaired
    fs::set_permissions(
        to.join("mx.example.org.key"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    run_ok(
        studio(&home)
            .args(["install", "mx.example.org", "--to"])
            .arg(&to),
    );
    assert_eq!(mode(&to.join("mx.example.org.key")), 0o600);
    // unknown host, file where a directory should be
    fails(
        studio(&home)
            .args(["install", "nope.example.org", "--to"])
            .arg(&to),
        1,
        "cert issue",
    );
    let file = t.path().join("plainfile");
    fs::write(&file, "x").unwrap();
    fails(
        studio(&home)
            .args(["install", "mx.example.org", "--to"])
            .arg(&file),
        1,
        "not a directory",
    );
}

#[test]
fn install_into_a_read_only_directory_leaves_nothing_behind() {
    let t = tempdir();
    let home = t.path().join("home");
    new_ca(&home, "ecdsa-p256");
    run_ok(studio(&home).args(["cert", "issue", "mx.example.org", "--key", "ecdsa-p256"]));
    let to = t.path().join("ro");
    fs::create_dir_all(to.join("certs")).unwrap();
    // root ignores permission bits: make the directory immutable instead.
    let chattr = run(std::process::Command::new("chattr").arg("+i").arg(&to));
    if !chattr.status.success() {
        fs::set_permissions(&to, fs::Permissions::from_mode(0o555)).unwrap();
    }
    let out = run(studio(&home)
        .args(["install", "mx.example.org", "--to"])
        .arg(&to));
    let _ = run(std::process::Command::new("chattr").arg("-i").arg(&to));
    fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if chattr.status.success() || !is_root() {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&to.display().to_string()),
            "names the directory: {err}"
        );
        assert!(!err.contains("panicked"));
        let left: Vec<_> = walk(&to).into_iter().filter(|p| p.is_file()).collect();
        assert!(left.is_empty(), "no file written: {left:?}");
    } else {
        eprintln!("SKIPPED: root without chattr cannot make a read-only directory");
    }
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

#[test]
fn usage_errors_exit_2_and_help_works() {
    let t = tempdir();
    let out = run(studio(t.path()).arg("--help"));
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["ca", "cert", "install", "show", "rehash"] {
        assert!(help.contains(cmd), "{help}");
    }
    fails(studio(t.path()).arg("frobnicate"), 2, "frobnicate");
    fails(studio(t.path()).args(["rehash"]), 2, "DIR");
    fails(
        studio(t.path()).args(["install", "mx.example.org"]),
        2,
        "--to",
    );
}

#[test]
fn home_from_environment() {
    let t = tempdir();
    let home = t.path().join("envhome");
    let mut c = std::process::Command::new(studio_bin());
    c.env("STARTTLS_STUDIO_HOME", &home).args([
        "ca",
        "init",
        "--cn",
        "Env CA",
        "--key",
        "ecdsa-p256",
    ]);
    run_ok(&mut c);
    assert!(home.join("ca/ca.crt").exists());
}

/// `dane tlsa`: the 3 1 1 record's data is what OpenSSL computes from the
/// certificate's public key, for every key kind.
#[test]
fn dane_tlsa_matches_openssl() {
    let t = tempdir();
    let home = t.path().join("home");
    run_ok(studio(&home).args(["ca", "init", "--cn", "DANE Test CA"]));
    for (host, kind) in [
        ("rsa.example.org", "rsa2048"),
        ("ec.example.org", "ecdsa-p384"),
        ("ed.example.org", "ed25519"),
    ] {
        run_ok(studio(&home).args(["cert", "issue", host, "--key", kind]));
        let line = run_ok(studio(&home).args(["dane", "tlsa", host, "--port", "25"]));
        let crt = home.join("hosts").join(format!("{host}.crt"));
        let pubkey = run_ok_bytes(
            openssl()
                .args(["x509", "-noout", "-pubkey", "-in"])
                .arg(&crt),
        );
        let der_path = t.path().join(format!("{host}.spki"));
        let pem_path = t.path().join(format!("{host}.pub"));
        std::fs::write(&pem_path, pubkey).unwrap();
        run_ok(
            openssl()
                .args(["pkey", "-pubin", "-outform", "DER", "-in"])
                .arg(&pem_path)
                .arg("-out")
                .arg(&der_path),
        );
        let digest = run_ok(openssl().args(["dgst", "-sha256", "-r"]).arg(&der_path));
        let hex = digest.split_whitespace().next().unwrap();
        assert_eq!(
            line.trim(),
            format!("_25._tcp.{host}. IN TLSA 3 1 1 {hex}"),
            "{kind}"
        );
    }
}

/// `cert renew --due DAYS [--reuse-key]`: only what expires within DAYS is
/// renewed; with --reuse-key the key (and the DANE record) stays, the
/// certificate changes; a second run renews nothing; a certificate signed
/// from a partner's request is reported as due, not renewed; a plain renew
/// makes a new key.
#[test]
fn renew_due_renews_only_what_is_due() {
    let t = tempdir();
    let home = t.path().join("home");
    run_ok(studio(&home).args(["ca", "init", "--cn", "Renew Test CA"]));
    run_ok(studio(&home).args(["cert", "issue", "soon.example.org", "--days", "10"]));
    run_ok(studio(&home).args(["cert", "issue", "later.example.org", "--days", "365"]));
    let csr = t.path().join("p.csr");
    openssl_ec_request(Path::new("/dev/null"), &csr, "/CN=mta.partner.example", &[]);
    run_ok(
        studio(&home)
            .args(["cert", "sign", "--days", "5"])
            .arg(&csr),
    );
    let serial = |h: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(&run_ok(
            studio(&home)
                .args(["show", "--json"])
                .arg(home.join("hosts").join(format!("{h}.crt"))),
        ))
        .unwrap();
        v[0]["serial"].as_str().unwrap().to_string()
    };
    let tlsa = |h: &str| run_ok(studio(&home).args(["dane", "tlsa", h]));
    let key = |h: &str| fs::read(home.join("hosts").join(format!("{h}.key"))).unwrap();
    let (s_soon, s_later, s_partner) = (
        serial("soon.example.org"),
        serial("later.example.org"),
        serial("mta.partner.example"),
    );
    let (t_soon, k_soon) = (tlsa("soon.example.org"), key("soon.example.org"));

    let o = run(studio(&home).args(["cert", "renew", "--due", "30", "--reuse-key"]));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("1 renewed, 1 due but signed from partners' requests, 1 not due"),
        "{err}"
    );
    assert_ne!(serial("soon.example.org"), s_soon);
    assert_eq!(tlsa("soon.example.org"), t_soon, "the key changed");
    assert_eq!(
        key("soon.example.org"),
        k_soon,
        "the key file was rewritten"
    );
    assert_eq!(serial("later.example.org"), s_later);
    assert_eq!(serial("mta.partner.example"), s_partner);

    let again = run(studio(&home).args(["cert", "renew", "--due", "30", "--reuse-key"]));
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("0 renewed"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // A plain renewal makes a new key: the DANE record changes.
    run_ok(studio(&home).args(["cert", "renew", "later.example.org"]));
    let before = tlsa("soon.example.org");
    run_ok(studio(&home).args(["cert", "renew", "soon.example.org"]));
    assert_ne!(tlsa("soon.example.org"), before);
    // The partner's certificate cannot be renewed here.
    let p = run(studio(&home).args(["cert", "renew", "mta.partner.example"]));
    assert_eq!(p.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&p.stderr).contains("partner"));
}

/// The home remembers each install; `status` says which installed copies
/// are current, out of date or missing (exit 1 then), and `install --all`
/// brings them up to date, rewriting only what changed.
#[test]
fn status_and_install_all_follow_renewals() {
    let t = tempdir();
    let home = t.path().join("home");
    run_ok(studio(&home).args(["ca", "init", "--cn", "Status Test CA"]));
    run_ok(studio(&home).args(["cert", "issue", "a.example.org"]));
    run_ok(studio(&home).args(["cert", "issue", "b.example.org"]));
    let (d1, d2, d3) = (
        t.path().join("d1"),
        t.path().join("d2"),
        t.path().join("d3"),
    );
    for (h, d) in [
        ("a.example.org", &d1),
        ("a.example.org", &d2),
        ("b.example.org", &d3),
    ] {
        run_ok(studio(&home).args(["install", h, "--to"]).arg(d));
    }
    // Installing again does not record twice.
    run_ok(
        studio(&home)
            .args(["install", "a.example.org", "--to"])
            .arg(&d1),
    );
    let status = |expect: i32| -> serde_json::Value {
        let o = run(studio(&home).args(["status", "--json"]));
        assert_eq!(
            o.status.code(),
            Some(expect),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let states = |v: &serde_json::Value| -> Vec<String> {
        v["installs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["state"].as_str().unwrap().to_string())
            .collect()
    };
    let v = status(0);
    assert_eq!(states(&v), ["current", "current", "current"]);
    assert_eq!(v["hosts"].as_array().unwrap().len(), 2);

    run_ok(studio(&home).args(["cert", "renew", "a.example.org", "--reuse-key"]));
    let v = status(1);
    assert_eq!(states(&v), ["out of date", "out of date", "current"]);
    assert!(v["problems"].to_string().contains("install --all"), "{v}");

    let key_before = fs::read(d1.join("a.example.org.key")).unwrap();
    let out = run_ok(studio(&home).args(["install", "--all"]));
    assert!(
        out.contains("b.example.org in") && out.contains(": unchanged"),
        "{out}"
    );
    assert!(out.contains("a.example.org.crt"), "{out}");
    assert!(
        !out.contains("a.example.org.key"),
        "the kept key was rewritten: {out}"
    );
    assert_eq!(fs::read(d1.join("a.example.org.key")).unwrap(), key_before);
    assert_eq!(states(&status(0)), ["current", "current", "current"]);

    fs::remove_file(d3.join("b.example.org.crt")).unwrap();
    assert_eq!(states(&status(1)), ["current", "current", "missing"]);

    // A revocation writes the CRL: status shows its nextUpdate.
    run_ok(studio(&home).args(["cert", "revoke", "b.example.org"]));
    let v = status(1);
    assert!(v["crl"]["days_left"].as_i64().unwrap() >= 29, "{v}");
}
