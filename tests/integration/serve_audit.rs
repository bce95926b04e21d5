//! The embedded server's TLS as an auditor sees it: `testssl.sh
//! --starttls smtp` against `serve` with its defaults. Nothing HIGH or
//! CRITICAL may be found but the one a private CA cannot avoid: its
//! certificates name no CRL or OCSP URI.

use crate::support::{require, run, tempdir, Pki, Serve};
use std::process::Command;

#[test]
fn testssl_finds_nothing_high_but_the_missing_revocation_uri() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home).host("mx.studio.test").make();
    let serve = Serve::start(home, &[]);
    let json = home.join("testssl.json");
    // Our CA is the trust anchor; the name is the certificate's, reached
    // at the loopback address.
    let out = run(Command::new(require("testssl"))
        .args([
            "--starttls",
            "smtp",
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
        ])
        .arg("--jsonfile")
        .arg(&json)
        .arg("--add-ca")
        .arg(home.join("ca/ca.crt"))
        .args(["--ip", "127.0.0.1"])
        .arg(format!("mx.studio.test:{}", serve.port)));
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "testssl wrote no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let field = |f: &serde_json::Value, k: &str| f[k].as_str().unwrap_or("").to_string();
    let bad: Vec<String> = findings
        .iter()
        .filter(|f| matches!(field(f, "severity").as_str(), "HIGH" | "CRITICAL"))
        .filter(|f| field(f, "id") != "cert_revocation")
        .map(|f| {
            format!(
                "{} {}: {}",
                field(f, "severity"),
                field(f, "id"),
                field(f, "finding")
            )
        })
        .collect();
    assert!(bad.is_empty(), "testssl.sh findings:\n{}", bad.join("\n"));
    // It did look: the handshake, the certificate and the cipher order.
    for id in ["cipher_order", "cert_chain_of_trust", "TLS1_3"] {
        assert!(
            findings.iter().any(|f| field(f, "id") == id),
            "testssl.sh reported no {id}: {text}"
        );
    }
}
