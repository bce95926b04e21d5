//! Bad input gets one clear, specific message: a PKCS#12 bundle where a
//! certificate belongs, a chain file given for one certificate, a probe
//! at a closed port or at something that is not SMTP.

use crate::support::{free_port, openssl, run, run_ok, studio, tempdir, Pki};
use std::io::Write;
use std::net::TcpListener;

#[test]
fn a_pkcs12_bundle_needs_its_passphrase_and_is_then_read() {
    let t = tempdir();
    let home = t.path().join("home");
    Pki::new(&home).ecdsa_host("mx.example.org").make();
    let p12 = t.path().join("mx.p12");
    run_ok(
        openssl()
            .args(["pkcs12", "-export", "-passout", "pass:secret", "-in"])
            .arg(home.join("hosts/mx.example.org.crt"))
            .arg("-inkey")
            .arg(home.join("hosts/mx.example.org.key"))
            .arg("-out")
            .arg(&p12),
    );
    for args in [
        vec!["show".to_string(), p12.display().to_string()],
        vec![
            "access".into(),
            "add-cert-relay".into(),
            "--cert".into(),
            p12.display().to_string(),
            "--access".into(),
            t.path().join("access").display().to_string(),
        ],
    ] {
        // Without its passphrase: refused, saying what is missing.
        let o = run(studio(&home)
            .args(&args)
            .env_remove("STARTTLS_STUDIO_PASSPHRASE"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("PKCS#12") && err.contains("--passphrase-file"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&p12.display().to_string()),
            "names the file: {err}"
        );
        assert!(!t.path().join("access").exists(), "nothing written");
    }
    // With it, the file is read like a PEM one.
    let shown = run_ok(
        studio(&home)
            .arg("show")
            .arg(&p12)
            .env("STARTTLS_STUDIO_PASSPHRASE", "secret"),
    );
    assert!(shown.contains("mx.example.org"), "{shown}");
}

#[test]
fn a_chain_file_says_which_certificate_it_used() {
    let t = tempdir();
    let home = t.path().join("home");
    Pki::new(&home).ecdsa_host("mx.example.org").make();
    let chain = t.path().join("chain.pem");
    let mut pem = std::fs::read(home.join("hosts/mx.example.org.crt")).unwrap();
    pem.extend(std::fs::read(home.join("ca/ca.crt")).unwrap());
    std::fs::write(&chain, pem).unwrap();
    let access = t.path().join("access");
    let o = run(studio(&home)
        .args(["access", "add-cert-relay", "--cert"])
        .arg(&chain)
        .arg("--access")
        .arg(&access));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("holds 2 certificates; using the first: /CN=mx.example.org (issued by /CN=Studio Test CA)"),
        "{err}"
    );
}

#[test]
fn a_probe_at_a_closed_port_or_at_http_says_so_in_one_line() {
    let t = tempdir();
    let closed = free_port();
    let o = run(studio(t.path()).args(["probe", &format!("127.0.0.1:{closed}")]));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("nothing listens on that port"), "{out}");

    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = http.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        if let Ok((mut c, _)) = http.accept() {
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let o = run(studio(t.path()).args(["probe", &format!("127.0.0.1:{port}")]));
    server.join().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("not an SMTP server") && out.contains("HTTP/1.1 400"),
        "{out}"
    );
}

/// `show --json big.pem | head`: the reader goes away; the command ends
/// quietly with status 0 (no panic, no backtrace, nothing on stderr).
#[test]
fn a_closed_stdout_ends_quietly_with_success() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let t = tempdir();
    let home = t.path().join("home");
    Pki::new(&home).ecdsa_host("mx.example.org").make();
    // Enough certificates that the JSON outgrows the pipe's buffer.
    let one = std::fs::read(home.join("hosts/mx.example.org.crt")).unwrap();
    let big = t.path().join("big.pem");
    std::fs::write(&big, one.repeat(400)).unwrap();
    let mut child = studio(&home)
        .args(["show", "--json"])
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "[");
    // The reader (and the pipe) is gone now.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
}
