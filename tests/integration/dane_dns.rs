//! DANE rollover against a real DNS server (dnsmasq publishing TLSA
//! records with `--dns-rr`): `dane rollover` makes the next key and prints
//! the transitional set; `cert renew --next-key --check-dns` refuses until
//! the DNS serves the next key's record and then switches to that very
//! key; `dane check` tells matching, stale, transitional and PKIX sets
//! apart. The records' data is compared with OpenSSL's SHA-256 of the
//! public key.

use crate::support::{free_port, openssl, require, run, run_ok, studio, tempdir, Pki};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FQDN: &str = "mx.dane.test";

/// dnsmasq on 127.0.0.1:PORT publishing `records` (usage, selector, mtype,
/// hex) at _25._tcp.FQDN; stopped on drop.
struct Dns {
    child: Child,
    port: u16,
}

impl Dns {
    fn start(records: &[String]) -> Dns {
        let bin = require("dnsmasq");
        let port = free_port();
        let mut c = Command::new(bin);
        c.args([
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--pid-file",
        ])
        .arg(format!("--port={port}"));
        for r in records {
            c.arg(format!("--dns-rr=_25._tcp.{FQDN},52,{r}"));
        }
        let child = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dns = Dns { child, port };
        // ready when it accepts connections (dnsmasq serves TCP on the same port)
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "dnsmasq did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        dns
    }
    fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `3 1 1` data as dnsmasq's hex RDATA.
fn rr(data: &str) -> String {
    format!("030101{data}")
}

/// OpenSSL's SHA-256 of a key's or certificate's public key (DER).
fn openssl_311(file: &Path, is_key: bool) -> String {
    let der = if is_key {
        run(openssl()
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(file))
        .stdout
    } else {
        let pem = run(openssl()
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(file))
        .stdout;
        let tmp = file.with_extension("pub");
        std::fs::write(&tmp, pem).unwrap();
        run(openssl()
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&tmp))
        .stdout
    };
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn rollover_waits_for_the_dns_then_switches_keys() {
    let dir = tempdir();
    let home = dir.path().join("home");
    Pki::new(&home).ecdsa_host(FQDN).make();
    let cert = home.join(format!("hosts/{FQDN}.crt"));
    let cur = openssl_311(&cert, false);

    // no rollover yet: the served key's record alone is "ok", a stale
    // one and a PKIX one are named
    let stale = "ab".repeat(32);
    let dns = Dns::start(&[rr(&cur), rr(&stale), format!("010101{}", "cd".repeat(32))]);
    let o = run(studio(&home).args(["dane", "check", FQDN, "--dns", &dns.server(), "--json"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["current"], true);
    assert_eq!(v["stale"].as_array().unwrap().len(), 1);
    assert_eq!(v["pkix"].as_array().unwrap().len(), 1);
    drop(dns);

    // the rollover: two records, the current key's and the next key's
    let out = run_ok(studio(&home).args(["dane", "rollover", FQDN]));
    let next_key = home.join(format!("hosts/{FQDN}.next.key"));
    let next = openssl_311(&next_key, true);
    assert_eq!(
        out,
        format!("_25._tcp.{FQDN}. IN TLSA 3 1 1 {cur}\n_25._tcp.{FQDN}. IN TLSA 3 1 1 {next}\n")
    );
    // idempotent: the same next key
    assert_eq!(run_ok(studio(&home).args(["dane", "rollover", FQDN])), out);

    // the DNS still serves only the current record: the switch is refused,
    // nothing changes
    let dns = Dns::start(&[rr(&cur)]);
    let before = std::fs::read(&cert).unwrap();
    let o = run(studio(&home).args([
        "cert",
        "renew",
        FQDN,
        "--next-key",
        "--check-dns",
        &dns.server(),
    ]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not serve the next key's record"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&cert).unwrap(), before);
    let o = run(studio(&home).args(["dane", "check", FQDN, "--dns", &dns.server()]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("waiting: the next key's record"));
    drop(dns);

    // transitional set published: the switch happens, to exactly that key
    let dns = Dns::start(&[rr(&cur), rr(&next)]);
    run_ok(studio(&home).args([
        "cert",
        "renew",
        FQDN,
        "--next-key",
        "--check-dns",
        &dns.server(),
    ]));
    assert_eq!(
        openssl_311(&cert, false),
        next,
        "the certificate carries the next key"
    );
    assert_eq!(
        openssl_311(&home.join(format!("hosts/{FQDN}.key")), true),
        next
    );
    assert!(!next_key.exists());
    assert_eq!(
        run_ok(studio(&home).args(["dane", "tlsa", FQDN])).trim(),
        format!("_25._tcp.{FQDN}. IN TLSA 3 1 1 {next}")
    );
    // now the old key's record is the stale one
    let o = run(studio(&home).args(["dane", "check", FQDN, "--dns", &dns.server(), "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["current"], true);
    assert_eq!(v["stale"][0], format!("3 1 1 {cur}"));
    drop(dns);
    // a DNS without the new record: exit 1
    let dns = Dns::start(&[rr(&cur)]);
    let o = run(studio(&home).args(["dane", "check", FQDN, "--dns", &dns.server()]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("MISSING"));
}

#[test]
fn doctor_checks_the_published_set_against_the_served_key() {
    let dir = tempdir();
    let home = dir.path().join("home");
    Pki::new(&home).ecdsa_host(FQDN).make();
    let tls = dir.path().join("tls");
    run_ok(studio(&home).args(["install", FQDN, "--to"]).arg(&tls));
    let served = tls.join(format!("{FQDN}.crt"));
    let cur = openssl_311(&served, false);
    let ids = |args: &[&str]| -> Vec<String> {
        let o = run(studio(&home)
            .args(["doctor", "--json", "--cert"])
            .arg(&served)
            .arg("--key")
            .arg(tls.join(format!("{FQDN}.key")))
            .arg("--ca-path")
            .arg(tls.join("certs"))
            .arg("--ca-file")
            .arg(tls.join("CAcert.pem"))
            .args(args));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| {
                f["id"]
                    .as_str()
                    .filter(|i| i.starts_with("tlsa"))
                    .map(str::to_string)
            })
            .collect()
    };
    // matching (with an old key's record beside it)
    let dns = Dns::start(&[rr(&cur), rr(&"ef".repeat(32))]);
    assert_eq!(ids(&["--tlsa-dns", &dns.server()]), ["tlsa-stale"]);
    drop(dns);
    // stale only, and a PKIX record: the served key has none
    let dns = Dns::start(&[rr(&"ef".repeat(32)), format!("000101{}", "12".repeat(32))]);
    let got = ids(&["--tlsa-dns", &dns.server()]);
    assert!(
        got.contains(&"tlsa-mismatch".to_string()) && got.contains(&"tlsa-pkix".to_string()),
        "{got:?}"
    );
    drop(dns);
    // a zone-file excerpt instead of a server
    let zone = dir.path().join("zone");
    std::fs::write(
        &zone,
        format!(
            "_25._tcp.{FQDN}. 3600 IN TLSA 3 1 1 (\n  {} {} )\n",
            &cur[..32],
            &cur[32..]
        ),
    )
    .unwrap();
    assert!(ids(&["--tlsa-zone", zone.to_str().unwrap()]).is_empty());
    let o = run(studio(&home)
        .args(["doctor", "--cert"])
        .arg(&served)
        .args(["--tlsa-zone"])
        .arg(&zone));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("tlsa-mismatch"));
}

/// `dane tlsa` prints what hash-slinger's `tlsa --create --usage 3
/// --selector 1 --mtype 1` prints for the same certificate, RSA and ECDSA,
/// and after a rollover switched the key.
#[test]
fn tlsa_records_equal_hash_slingers() {
    let tlsa = require("tlsa");
    let dir = tempdir();
    let home = dir.path().join("home");
    Pki::new(&home)
        .host("rsa.dane.test")
        .ecdsa_host(FQDN)
        .make();
    let theirs = |fqdn: &str| -> String {
        let out = run_ok(
            Command::new(&tlsa)
                .args([
                    "--create",
                    "--usage",
                    "3",
                    "--selector",
                    "1",
                    "--mtype",
                    "1",
                    "--port",
                    "25",
                    "--certificate",
                ])
                .arg(home.join(format!("hosts/{fqdn}.crt")))
                .arg(fqdn),
        );
        out.lines().last().unwrap_or("").trim().to_string()
    };
    for fqdn in ["rsa.dane.test", FQDN] {
        assert_eq!(
            run_ok(studio(&home).args(["dane", "tlsa", fqdn])).trim(),
            theirs(fqdn),
            "{fqdn}"
        );
    }
    run_ok(studio(&home).args(["dane", "rollover", FQDN]));
    run_ok(studio(&home).args(["cert", "renew", FQDN, "--next-key"]));
    assert_eq!(
        run_ok(studio(&home).args(["dane", "tlsa", FQDN])).trim(),
        theirs(FQDN)
    );
}
