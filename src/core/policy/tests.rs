//! The evaluator on hand-made cases; the recorded sendmail corpus is in
//! `tests/integration/policy_diff.rs`.

use super::*;
use crate::core::access::AccessMap;

fn eval(access: &str, rs: Ruleset, macros: &[(&str, &str)], rcpt: Option<&str>) -> Decision {
    let db = AccessMap::parse(access.as_bytes()).database();
    let mut m = Macros::default();
    for (k, v) in macros {
        m.set(k, v);
    }
    evaluate(&db, rs, &m, rcpt, Options::default())
}

fn reply(d: &Decision) -> Option<&str> {
    d.reply.as_deref()
}

const CLT: &[(&str, &str)] = &[
    ("client_name", "client.example.net"),
    ("client_addr", "127.0.0.2"),
    ("cipher_bits", "256"),
];

fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = base.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn sendmail_md_examples() {
    let a = "TLS_Clt:client.example.net VERIFY\n";
    assert_eq!(
        reply(&eval(
            a,
            Ruleset::TlsClient,
            &with(CLT, &[("verify", "OK")]),
            None
        )),
        None
    );
    assert_eq!(
        reply(&eval(
            a,
            Ruleset::TlsClient,
            &with(CLT, &[("verify", "NO")]),
            None
        )),
        Some("454 4.7.0 not authenticated")
    );
    assert_eq!(
        reply(&eval(a, Ruleset::TlsClient, CLT, None)),
        Some("454 4.7.0 authentication required")
    );
    assert_eq!(
        reply(&eval(
            a,
            Ruleset::TlsClient,
            &with(CLT, &[("verify", "FAIL")]),
            None
        )),
        Some("454 4.7.0 authentication failed")
    );
    let p = "TLS_Clt:client.example.net PERM+VERIFY\n";
    assert_eq!(
        reply(&eval(
            p,
            Ruleset::TlsClient,
            &with(CLT, &[("verify", "NO")]),
            None
        )),
        Some("503 5.7.0 not authenticated")
    );
    let t = "TLS_Clt:client.example.net TEMP+VERIFY:300\n";
    assert_eq!(
        reply(&eval(
            t,
            Ruleset::TlsClient,
            &with(CLT, &[("verify", "OK")]),
            None
        )),
        Some("403 4.7.0 encryption too weak 256 less than 300")
    );
    let e = "TLS_Clt:client.example.net ENCR:128\n";
    let no_tls = [
        ("client_name", "client.example.net"),
        ("client_addr", "127.0.0.2"),
    ];
    assert_eq!(
        reply(&eval(e, Ruleset::TlsClient, &no_tls, None)),
        Some("454 4.7.0 encryption too weak 0 less than 128")
    );
    assert_eq!(
        reply(&eval(
            "",
            Ruleset::TlsClient,
            &with(CLT, &[("verify", "SOFTWARE")]),
            None
        )),
        Some("454 4.7.0 TLS handshake failed.")
    );
    let s = "TLS_Srv:srv.example.org VERIFY\n";
    let d = eval(
        s,
        Ruleset::TlsServer,
        &[("server_name", "srv.example.org"), ("verify", "TEMP")],
        None,
    );
    assert_eq!(reply(&d), Some("454 4.7.0 authentication failure "));
    let r = "TLS_Rcpt:remote.example PERM+VERIFY:300\n";
    let d = eval(
        r,
        Ruleset::TlsRcpt,
        &[("verify", "OK"), ("cipher_bits", "256")],
        Some("v@remote.example"),
    );
    assert_eq!(
        reply(&d),
        Some("503 5.7.0 encryption too weak 256 less than 300")
    );
}

#[test]
fn lookup_order() {
    let a = "TLS_Clt:sub.example.org PERM+VERIFY\nTLS_Clt:127.0.0 VERIFY\nTLS_Clt:\tENCR:512\n";
    let host = [
        ("client_name", "host.sub.example.org"),
        ("client_addr", "127.0.0.4"),
        ("verify", "NO"),
    ];
    assert_eq!(
        reply(&eval(a, Ruleset::TlsClient, &host, None)),
        Some("503 5.7.0 not authenticated")
    );
    let other = [
        ("client_name", "other.example"),
        ("client_addr", "127.0.0.4"),
        ("verify", "NO"),
    ];
    assert_eq!(
        reply(&eval(a, Ruleset::TlsClient, &other, None)),
        Some("454 4.7.0 not authenticated")
    );
    let far = [
        ("client_name", "[10.0.0.5]"),
        ("client_addr", "10.0.0.5"),
        ("verify", "OK"),
    ];
    assert_eq!(
        reply(&eval(a, Ruleset::TlsClient, &far, None)),
        Some("454 4.7.0 encryption too weak 0 less than 512")
    );
    let d = eval(a, Ruleset::TlsClient, &far, None);
    let keys: Vec<_> = d.trace.iter().filter_map(|s| s.key.clone()).collect();
    assert_eq!(
        keys,
        [
            "TLS_Clt:[10.0.0.5]",
            "TLS_Clt:[10.0.0]",
            "TLS_Clt:[10.0]",
            "TLS_Clt:[10]",
            "TLS_Clt:10.0.0.5",
            "TLS_Clt:10.0.0",
            "TLS_Clt:10.0",
            "TLS_Clt:10",
            "TLS_Clt:"
        ]
    );
}

#[test]
fn relay_by_certificate() {
    let issuer = "/C=US/O=Sendmail+20Peer/CN=sendmail+20peer+20test+20CA";
    let a = format!("CERTISSUER:{issuer} SUBJECT\nCERTSUBJECT:/CN=client RELAY\n");
    let m = [
        ("verify", "OK"),
        ("cert_issuer", issuer),
        ("cert_subject", "/CN=client"),
        ("client_addr", "127.0.0.2"),
        ("client_name", "c.example"),
    ];
    assert_eq!(
        eval(&a, Ruleset::Relay, &m, Some("a@remote.example")).outcome,
        Outcome::Relay
    );
    let m2 = [
        ("verify", "FAIL"),
        ("cert_issuer", issuer),
        ("cert_subject", "/CN=client"),
        ("client_addr", "127.0.0.2"),
        ("client_name", "c.example"),
    ];
    let d = eval(&a, Ruleset::Relay, &m2, Some("a@remote.example"));
    assert_eq!(
        reply(&d),
        Some("550 5.7.1 <a@remote.example>... Relaying denied")
    );
}
