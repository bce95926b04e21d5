//! `probe` against real servers: sendmail 8.17 (the values must equal what
//! `openssl s_client` reports, and sendmail must see our client
//! certificate), and small fake SMTP servers for each failure the probe
//! must name (no STARTTLS, 454, garbage instead of a handshake, refused
//! connection).

use crate::support::*;
use crate::support::{free_port, Peer};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

fn probe_json(args: &[&str]) -> (i32, serde_json::Value) {
    let t = tempdir();
    let out = run(studio(t.path())
        .arg("probe")
        .args(args)
        .arg("--json")
        .arg("--timeout")
        .arg("5"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("probe --json is not JSON ({e}): {text}"));
    (out.status.code().unwrap_or(-1), v)
}

/// `openssl s_client`'s protocol and cipher for the same server.
fn s_client(port: u16, capath: &Path) -> (String, String, String) {
    let out = run(openssl()
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CApath",
        ])
        .arg(capath)
        .stdin(std::process::Stdio::null()));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("New, "))
        .unwrap_or_default()
        .to_string();
    // "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"
    let parts: Vec<&str> = line.split(", ").collect();
    let proto = parts.get(1).copied().unwrap_or_default().to_string();
    let cipher = parts
        .get(2)
        .and_then(|p| p.strip_prefix("Cipher is "))
        .unwrap_or_default()
        .to_string();
    let verify = text
        .lines()
        .find(|l| l.trim_start().starts_with("Verify return code"))
        .unwrap_or_default()
        .to_string();
    (proto, cipher, verify)
}

#[test]
fn probe_of_real_sendmail_matches_openssl_s_client() {
    let t = tempdir();
    let peer = Peer::start(&t.path().join("peer"), &[]);
    let port: u16 = peer.env["port"].parse().unwrap();
    let capath = peer.env["capath"].clone();
    let target = format!("127.0.0.1:{port}");
    let (code, v) = probe_json(&[&target, "--ca-path", &capath]);
    assert_eq!(code, 0, "{v:#}");
    let (proto, cipher, verify) = s_client(port, Path::new(&capath));
    assert!(verify.contains("0 (ok)"), "{verify}");
    assert_eq!(v["starttls"], true);
    assert_eq!(v["verify"], "OK");
    assert_eq!(v["tls_version"], proto.as_str());
    assert_eq!(v["cipher"], cipher.as_str());
    assert_eq!(v["cipher_bits"], 256);
    assert_eq!(
        v["server_cert"]["subject"],
        "/C=US/O=Sendmail Peer/CN=mx.peer.test"
    );
    let before: Vec<&str> = v["ehlo_before"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(before.contains(&"STARTTLS"), "{before:?}");
    let after: Vec<&str> = v["ehlo_after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(
        !after.contains(&"STARTTLS"),
        "after STARTTLS the offer is gone: {after:?}"
    );
    for k in [
        "connect",
        "banner",
        "ehlo",
        "starttls",
        "handshake",
        "ehlo_after",
        "total",
    ] {
        assert!(
            v["timings_ms"][k].as_f64().is_some(),
            "timings_ms.{k}: {v:#}"
        );
    }

    // With the peer's client certificate: sendmail logs verify=OK.
    let (code, v) = probe_json(&[
        &target,
        "--ca-path",
        &capath,
        "--cert",
        &peer.env["test_client_cert"],
        "--key",
        &peer.env["test_client_key"],
    ]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["client_cert_sent"], true);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = std::fs::read_to_string(&peer.env["log"]).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("STARTTLS=server") && l.contains("verify=OK")),
        "sendmail did not log verify=OK for the probe's client certificate:\n{log}"
    );

    // Not trusting the peer's CA: FAIL with OpenSSL's reason, exit 1.
    let other = tempdir();
    run_ok(studio(other.path()).args(["ca", "init", "--cn", "Other CA", "--key", "ecdsa-p256"]));
    let ca = other.path().join("ca/ca.crt");
    let (code, v) = probe_json(&[&target, "--ca-file", ca.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(v["verify"], "FAIL");
    assert_eq!(v["verify_error"], "unable to get local issuer certificate");
    assert_eq!(
        v["starttls"], true,
        "the handshake completes, as sendmail's does"
    );
}

/// A one-connection SMTP server on a free port that answers with `script`:
/// for each client line, the next reply (None: close the connection).
fn fake_server(greeting: &'static str, replies: Vec<(&'static str, &'static [u8])>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        let _ = w.write_all(greeting.as_bytes());
        for (expect, reply) in replies {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            assert!(
                line.to_uppercase().starts_with(expect),
                "fake server expected {expect}, got {line:?}"
            );
            let _ = w.write_all(reply);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    });
    port
}

#[test]
fn probe_names_each_failure() {
    const EHLO_PLAIN: &[u8] = b"250-fake.example\r\n250 8BITMIME\r\n";
    const EHLO_TLS: &[u8] = b"250-fake.example\r\n250 STARTTLS\r\n";
    let cases: Vec<(&str, u16, &str, &str)> = vec![
        (
            "no STARTTLS offered",
            fake_server(
                "220 fake ESMTP\r\n",
                vec![("EHLO", EHLO_PLAIN), ("QUIT", b"221 bye\r\n")],
            ),
            "NONE",
            "does not offer STARTTLS",
        ),
        (
            "454 to STARTTLS",
            fake_server(
                "220 fake ESMTP\r\n",
                vec![
                    ("EHLO", EHLO_TLS),
                    ("STARTTLS", b"454 4.7.0 TLS not available\r\n"),
                ],
            ),
            "TEMP",
            "454",
        ),
        (
            "garbage instead of a handshake",
            fake_server(
                "220 fake ESMTP\r\n",
                vec![
                    ("EHLO", EHLO_TLS),
                    ("STARTTLS", b"220 go ahead\r\n"),
                    ("", b"this is not TLS at all\r\n"),
                ],
            ),
            "SOFTWARE",
            "handshake failed",
        ),
        (
            "250 to STARTTLS",
            fake_server(
                "220 fake ESMTP\r\n",
                vec![("EHLO", EHLO_TLS), ("STARTTLS", b"250 ok\r\n")],
            ),
            "PROTOCOL",
            "unexpected reply",
        ),
    ];
    let mut problems = Vec::new();
    for (what, port, verify, needle) in cases {
        let (code, v) = probe_json(&[&format!("127.0.0.1:{port}")]);
        let err = v["error"].as_str().unwrap_or_default();
        if code != 1 || v["verify"] != verify || !err.contains(needle) || v["starttls"] != false {
            problems.push(format!(
                "{what}: exit {code}, verify {}, error {err:?} (want {verify}, {needle:?})",
                v["verify"]
            ));
        }
    }
    // Nothing listening: a clear "cannot connect".
    let port = free_port();
    let t = tempdir();
    let out = run(Command::new(studio_bin())
        .args(["--home"])
        .arg(t.path())
        .args(["probe", &format!("127.0.0.1:{port}")]));
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.code() != Some(1) || !text.contains("cannot connect") {
        problems.push(format!(
            "refused connection: exit {:?}, output {text}",
            out.status.code()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
