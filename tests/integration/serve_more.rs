//! More `serve` tests:
//!
//! 1. the real sendmail 8.17 peer as the *client*: it relays a message to
//!    `serve` as its smart host, with a client certificate issued by the
//!    studio CA; both sides must agree on the TLS values, the stored
//!    message carries sendmail's `Received:` TLS line, and relaying is
//!    granted by the `CERTISSUER:` entry (the peer connects from 127.0.0.2,
//!    so `Relay_ok` for 127.0.0.1 proves nothing here);
//! 2. a client certificate from a foreign CA: `verify=FAIL` with a reason,
//!    relaying denied — compared with what sendmail answers to the very
//!    same client, certificate and access map;
//! 3. `--max-sessions` and `--timeout`: 50 silent clients fill the server,
//!    the 51st gets `421`, the timeout closes the silent ones, the server
//!    serves again and leaks no file descriptors;
//! 4. many sessions at once: up to 1,000 connections open together, each
//!    then taken through STARTTLS (rustls in this process, trusting the
//!    studio CA), EHLO and QUIT; all succeed, the server's descriptor count
//!    returns to its baseline and a real `probe` still verifies.
//!
//! Observed log lines of the sendmail peer for the relay of test 1:
//!
//! ```text
//! sm-peer[12629]: STARTTLS=client, relay=mx.studio.test, version=TLSv1.3, verify=OK, cipher=TLS_AES_256_GCM_SHA384, bits=256/256
//! sm-peer[12629]: STARTTLS=client, cert-subject=/CN=mx.studio.test, cert-issuer=/CN=Studio+20Test+20CA, verifymsg=ok
//! sm-peer[12629]: 6B11d2G4012629: to=<someone@remote.example>, ..., mailer=esmtp, ..., relay=mx.studio.test [127.0.0.1], dsn=2.0.0, stat=Sent (1796089142.12471.0 Message accepted for delivery)
//! ```

use crate::support::*;
use crate::support::{Peer, Pki, Serve};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::ffi::OsString;
use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ helpers

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// A `confCACERT_PATH` directory with the studio CA, hashed by the binary.
fn studio_capath(home: &Path) -> PathBuf {
    let dir = home.join("capath");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(home.join("ca/ca.crt"), dir.join("ca.crt")).unwrap();
    fs::set_permissions(dir.join("ca.crt"), fs::Permissions::from_mode(0o644)).unwrap();
    run_ok(studio(home).arg("rehash").arg(&dir));
    let links = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".0"))
        .count();
    assert_eq!(links, 1, "rehash made one HASH.0 link in {}", dir.display());
    dir
}

/// Panics unless `key` is a root-owned 0600 file (else sendmail silently
/// drops STARTTLS and the test would prove nothing).
fn assert_sendmail_safe_key(key: &Path) {
    let m = fs::metadata(key).unwrap();
    assert_eq!(m.mode() & 0o777, 0o600, "{}: mode", key.display());
    assert_eq!(m.uid(), 0, "{}: owner", key.display());
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// The reply line(s) swaks shows for the command starting with `cmd`
/// (`<-` or `<~` lines right after ` -> CMD` / ` ~> CMD`).
fn swaks_reply_to(transcript: &str, cmd: &str) -> Option<String> {
    let mut lines = transcript.lines();
    while let Some(l) = lines.next() {
        let t = l.trim_start();
        if (t.starts_with("-> ") || t.starts_with("~> ")) && t[3..].starts_with(cmd) {
            let reply: Vec<&str> = lines
                .by_ref()
                .take_while(|r| {
                    let r = r.trim_start();
                    r.starts_with("<-") || r.starts_with("<~") || r.starts_with("<**")
                })
                .map(|r| r.trim_start()[3..].trim_start())
                .collect();
            return Some(reply.join("\n"));
        }
    }
    None
}

/// The first header (with its continuation lines) called `name` in `msg`.
fn header(msg: &str, name: &str) -> Option<String> {
    let msg = msg.replace("\r\n", "\n");
    let mut lines = msg.lines();
    while let Some(l) = lines.next() {
        if l.is_empty() {
            return None;
        }
        if l.len() > name.len()
            && l[..name.len()].eq_ignore_ascii_case(name)
            && l.as_bytes()[name.len()] == b':'
        {
            let mut h = l.to_string();
            for c in lines.by_ref() {
                if c.starts_with([' ', '\t']) {
                    h.push('\n');
                    h.push_str(c);
                } else {
                    break;
                }
            }
            return Some(h);
        }
    }
    None
}

/// Waits (bounded) for a log line of the peer, after byte `from`, that
/// contains `needle`; returns the part after `]: `.
fn wait_peer_log(log: &Path, from: usize, needle: &str, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        let b = fs::read(log).unwrap_or_default();
        let t = String::from_utf8_lossy(b.get(from..).unwrap_or_default()).into_owned();
        if let Some(l) = t.lines().find(|l| l.contains(needle)) {
            return Some(l.split_once("]: ").map_or(l, |(_, r)| r).to_string());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn file_len(p: &Path) -> usize {
    fs::metadata(p).map(|m| m.len() as usize).unwrap_or(0)
}

/// Runs `starttls-studio probe --json` against the server, trusting the
/// studio CA file.
fn probe(home: &Path, target: &str) -> serde_json::Value {
    let out = run_ok(
        studio(home)
            .args(["probe", target, "--json", "--ca-file"])
            .arg(home.join("ca/ca.crt")),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("probe --json: {e}: {out}"))
}

// ------------------------------------------------------------------ 1

#[test]
fn sendmail_relays_to_serve_with_a_studio_client_certificate() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home)
        .host("mx.studio.test")
        .ecdsa_host("relay.peer.test")
        .make();
    let ca = home.join("ca/ca.crt");
    let capath = studio_capath(home);
    let ccrt = home.join("hosts/relay.peer.test.crt");
    let ckey = home.join("hosts/relay.peer.test.key");
    assert_sendmail_safe_key(&ckey);

    let access = home.join("access");
    fs::write(&access, "CERTISSUER:/CN=Studio+20Test+20CA\tRELAY\n").unwrap();
    let hosts = home.join("hosts.extra");
    fs::write(&hosts, "127.0.0.1\tmx.studio.test\n").unwrap();
    // The peer's outgoing connections come from 127.0.0.2: relaying must be
    // granted by the certificate, not by sendmail's "127.0.0.1 may relay".
    let mc = home.join("client-options.mc");
    fs::write(
        &mc,
        "define(`confCLIENT_OPTIONS', `Family=inet, Addr=127.0.0.2')dnl\n",
    )
    .unwrap();

    let mut serve = Serve::start(home, &os(&[&"--access", &access, &"--timeout", &"20"]));
    let smarthost = format!("mx.studio.test:{}", serve.port);
    let peer = Peer::start(
        &home.join("peer"),
        &os(&[
            &"--smarthost",
            &smarthost,
            &"--hosts",
            &hosts,
            &"--client-cert",
            &ccrt,
            &"--client-key",
            &ckey,
            &"--cacert",
            &ca,
            &"--capath",
            &capath,
            &"--mc",
            &mc,
        ]),
    );
    assert_eq!(
        peer.env.get("starttls").map(String::as_str),
        Some("yes"),
        "the peer offers STARTTLS with our CA files: {:?}",
        peer.env
    );
    let log = PathBuf::from(&peer.env["log"]);
    let from = file_len(&log);

    // Into the peer from 127.0.0.1 (may relay there); it delivers at once.
    let started = Instant::now();
    let o = run(Command::new(require("swaks"))
        .args([
            "--server",
            &format!("127.0.0.1:{}", peer.env["port"]),
            "--from",
            "a@client.example.net",
            "--to",
            "someone@remote.example",
            "--header",
            "X-Studio-Case: sendmail-smarthost",
            "--timeout",
            "30",
        ])
        .stdin(Stdio::null()));
    let swaks_out = text(&o);
    assert!(
        swaks_out.contains("Message accepted for delivery"),
        "the peer took the message: {swaks_out}"
    );

    // Wait (bounded) for it in our maildir.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (file, stored) = loop {
        let found = fs::read_dir(&serve.maildir).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .find_map(|p| {
                    let m = fs::read_to_string(&p).ok()?;
                    m.contains("X-Studio-Case: sendmail-smarthost")
                        .then_some((p, m))
                })
        });
        if let Some(f) = found {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "no message in {} after 20 s; peer log:\n{}",
            serve.maildir.display(),
            String::from_utf8_lossy(&fs::read(&log).unwrap_or_default())
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "sendmail -> serve: message stored after {:?}",
        started.elapsed()
    );

    // Our Received: header comes first and carries sendmail's TLS line.
    let received = header(&stored, "Received").expect("a Received: header");
    assert!(
        received.starts_with("Received: from mx.peer.test ([127.0.0.2])")
            && received.contains("by mx.studio.test")
            && received.contains("with ESMTPS id")
            && received.contains(
                "\n\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=OK)\n"
            )
            && received.contains("for <someone@remote.example>;"),
        "{received}"
    );
    // The peer's own Received: (from swaks, no TLS) follows ours.
    assert!(
        stored.contains("with ESMTP id") && stored.contains("by mx.peer.test (8.17"),
        "{stored}"
    );

    // The peer's view of the same connection (it verified our server cert).
    let peer_tls = wait_peer_log(
        &log,
        from,
        "STARTTLS=client, relay=mx.studio.test,",
        Duration::from_secs(10),
    )
    .expect("the peer logged its STARTTLS=client line");
    assert_eq!(
        peer_tls,
        "STARTTLS=client, relay=mx.studio.test, version=TLSv1.3, verify=OK, \
         cipher=TLS_AES_256_GCM_SHA384, bits=256/256"
    );
    let peer_cert = wait_peer_log(
        &log,
        from,
        "STARTTLS=client, cert-subject=",
        Duration::from_secs(10),
    )
    .expect("the peer logged our server certificate");
    assert_eq!(
        peer_cert,
        "STARTTLS=client, cert-subject=/CN=mx.studio.test, \
         cert-issuer=/CN=Studio+20Test+20CA, verifymsg=ok"
    );
    let id = file.file_stem().unwrap().to_string_lossy().into_owned();
    let sent = wait_peer_log(
        &log,
        from,
        "to=<someone@remote.example>",
        Duration::from_secs(10),
    )
    .expect("the peer logged the delivery");
    assert!(
        sent.contains("mailer=esmtp")
            && sent.contains("relay=mx.studio.test [127.0.0.1]")
            && sent.contains(&format!("stat=Sent ({id} Message accepted for delivery)")),
        "the peer's delivery line names our queue id {id}: {sent}"
    );

    // Our session log: the same values, seen from the server side.
    assert_eq!(serve.stop(), Some(0), "SIGTERM stops serve cleanly");
    let sessions = serve.sessions();
    let s = sessions
        .iter()
        .find(|s| {
            s["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|f| f.as_str() == file.to_str()))
        })
        .unwrap_or_else(|| panic!("no session stored {}: {sessions:?}", file.display()));
    assert!(
        s["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.2:")),
        "{s}"
    );
    assert_eq!(s["helo"], "mx.peer.test", "{s}");
    assert_eq!(s["starttls"], true, "{s}");
    assert_eq!(s["verify"], "OK", "{s}");
    assert_eq!(s["verify_error"], serde_json::Value::Null, "{s}");
    assert_eq!(s["cert_subject"], "/CN=relay.peer.test", "{s}");
    assert_eq!(s["cert_issuer"], "/CN=Studio+20Test+20CA", "{s}");
    assert_eq!(s["ended"], serde_json::Value::Null, "ended by QUIT: {s}");
    // Both sides agree on the connection.
    let peer_fields = format!(
        "version={}, verify=OK, cipher={}, bits={b}/{b}",
        s["tls_version"].as_str().unwrap_or("?"),
        s["cipher"].as_str().unwrap_or("?"),
        b = s["cipher_bits"]
    );
    assert!(peer_tls.contains(&peer_fields), "{peer_tls} vs {s}");
    // Relaying came from the CERTISSUER entry.
    let relay = s["decisions"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["ruleset"] == "relay"))
        .unwrap_or_else(|| panic!("no relay decision: {s}"));
    assert_eq!(relay["outcome"], "relay", "{s}");
    assert!(
        relay["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("CERTISSUER:/CN=Studio+20Test+20CA")),
        "{relay}"
    );
}

// ------------------------------------------------------------------ 2

#[test]
fn foreign_client_certificate_fails_verification_and_relaying_like_sendmail() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home)
        .host("mx.studio.test")
        .ecdsa_host("relay.peer.test")
        .make();
    let capath = studio_capath(home);
    // A CA of our own, not the studio's, with a DN that needs +XX encoding.
    let f = home.join("foreign");
    fs::create_dir(&f).unwrap();
    openssl_ec_ca(
        &f.join("ca.key"),
        &f.join("ca.crt"),
        "/C=DE/O=Foreign Org/CN=Foreign Test CA",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl_ec_request(
        &f.join("client.key"),
        &f.join("client.csr"),
        "/CN=client.foreign.test",
        &[],
    );
    fs::write(
        f.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth,serverAuth\nsubjectAltName=DNS:client.foreign.test\n",
    )
    .unwrap();
    openssl_sign(
        &f.join("client.csr"),
        (&f.join("ca.crt"), &f.join("ca.key")),
        &f.join("client.crt"),
        [
            "-sha256".as_ref(),
            "-CAcreateserial".as_ref(),
            "-extfile".as_ref(),
            f.join("client.ext").as_os_str(),
        ],
    );
    let (crt, key) = (f.join("client.crt"), f.join("client.key"));
    let access = home.join("access");
    fs::write(&access, "CERTISSUER:/CN=Studio+20Test+20CA\tRELAY\n").unwrap();

    let swaks_to = |port: &str| {
        let o = run(Command::new(require("swaks"))
            .args([
                "--server",
                &format!("127.0.0.1:{port}"),
                "--local-interface",
                "127.0.0.2",
                "--tls",
                "--from",
                "a@client.foreign.test",
                "--to",
                "someone@remote.example",
                "--timeout",
                "20",
            ])
            .arg("--tls-cert")
            .arg(&crt)
            .arg("--tls-key")
            .arg(&key)
            .stdin(Stdio::null()));
        text(&o)
    };

    // Ours.
    let mut serve = Serve::start(home, &os(&[&"--access", &access]));
    let ours = swaks_to(&serve.port.to_string());
    let our_rcpt = swaks_reply_to(&ours, "RCPT TO").unwrap_or_default();
    assert!(
        our_rcpt.starts_with("550 5.7.1 <someone@remote.example>... Relaying denied"),
        "relaying denied to the foreign certificate: {ours}"
    );
    assert_eq!(serve.stop(), Some(0));
    let sessions = serve.sessions();
    let s = sessions
        .iter()
        .find(|s| s["starttls"] == true)
        .unwrap_or_else(|| panic!("no STARTTLS session: {sessions:?}"));
    assert_eq!(s["verify"], "FAIL", "{s}");
    let verify_error = s["verify_error"].as_str().unwrap_or_default().to_string();
    assert!(!verify_error.is_empty(), "a verify_error: {s}");
    assert_eq!(s["cert_subject"], "/CN=client.foreign.test", "{s}");
    assert_eq!(
        s["cert_issuer"], "/C=DE/O=Foreign+20Org/CN=Foreign+20Test+20CA",
        "{s}"
    );
    assert_eq!(s["tls_version"], "TLSv1.3", "{s}");
    let relay = s["decisions"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["ruleset"] == "relay"))
        .unwrap_or_else(|| panic!("no relay decision: {s}"));
    assert_eq!(relay["outcome"], "perm", "{s}");
    assert_eq!(relay["reply"].as_str(), Some(our_rcpt.as_str()), "{s}");
    assert!(
        fs::read_dir(&serve.maildir).map_or(0, |d| d.count()) == 0,
        "nothing stored"
    );

    // sendmail, same CA files, access map, client address and certificate.
    let peer = Peer::start(
        &home.join("peer"),
        &os(&[
            &"--access",
            &access,
            &"--cacert",
            &home.join("ca/ca.crt"),
            &"--capath",
            &capath,
        ]),
    );
    let log = PathBuf::from(&peer.env["log"]);
    let from = file_len(&log);
    let theirs = swaks_to(&peer.env["port"]);
    let their_rcpt = swaks_reply_to(&theirs, "RCPT TO").unwrap_or_default();
    let their_tls = wait_peer_log(
        &log,
        from,
        "STARTTLS=server, relay=[127.0.0.2],",
        Duration::from_secs(10),
    )
    .unwrap_or_default();
    let their_cert = wait_peer_log(
        &log,
        from,
        "STARTTLS=server, cert-subject=",
        Duration::from_secs(10),
    )
    .unwrap_or_default();
    eprintln!(
        "foreign certificate:\n  ours:     verify=FAIL ({verify_error}); RCPT: {our_rcpt}\n  \
         sendmail: {their_tls}\n            {their_cert}\n            RCPT: {their_rcpt}"
    );
    assert_eq!(
        their_tls,
        format!(
            "STARTTLS=server, relay=[127.0.0.2], version={}, verify=FAIL, cipher={}, bits={b}/{b}",
            s["tls_version"].as_str().unwrap_or("?"),
            s["cipher"].as_str().unwrap_or("?"),
            b = s["cipher_bits"]
        ),
        "sendmail's view of the same client"
    );
    assert!(
        their_cert.starts_with(&format!(
            "STARTTLS=server, cert-subject={}, cert-issuer={}, verifymsg=",
            s["cert_subject"].as_str().unwrap_or("?"),
            s["cert_issuer"].as_str().unwrap_or("?")
        )),
        "same macro values as sendmail: {their_cert} vs {s}"
    );
    assert_eq!(
        our_rcpt, their_rcpt,
        "the RCPT reply to an unresolved client (127.0.0.2) with a foreign \
         certificate should be sendmail's"
    );
}

// ------------------------------------------------------------------ 3

#[test]
fn idle_clients_fill_max_sessions_then_time_out_without_leaks() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home)
        .host("mx.studio.test")
        .ecdsa_host("relay.peer.test")
        .make();
    let mut serve = Serve::start(home, &os(&[&"--max-sessions", &"50", &"--timeout", &"2"]));
    let fds_before = serve.fds();
    let threads_before = serve.threads();

    // 50 silent clients: each reads the greeting, then says nothing.
    let mut idle = Vec::new();
    for i in 0..50 {
        let s = TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s);
        let g = read_reply(&mut r);
        assert!(
            g.starts_with("220 mx.studio.test ESMTP"),
            "client {i}: greeting {g:?}"
        );
        idle.push((r, Instant::now()));
    }
    let opened = Instant::now();
    let fds_full = serve.fds();
    let threads_full = serve.threads();

    // The 51st is turned away, and the connection is closed.
    let s = TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s);
    let refused = read_reply(&mut r);
    assert!(
        refused.starts_with("421 4.3.2 "),
        "the 51st session is refused: {refused:?}"
    );
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing after 421: {rest:?}");
    drop(r);

    // The timeout closes the silent ones: EOF (or a reset) within ~5 s,
    // and not before the 2 s have passed.
    let mut closed_after = Vec::new();
    for (i, (mut r, greeted)) in idle.into_iter().enumerate() {
        let left = (opened + Duration::from_secs(6)).saturating_duration_since(Instant::now());
        r.get_ref()
            .set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .unwrap();
        let mut got = Vec::new();
        let res = r.read_to_end(&mut got);
        let after = greeted.elapsed();
        if let Err(e) = &res {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "client {i}: still open {after:?} after its greeting (timeout 2 s)"
            );
        }
        assert!(
            after >= Duration::from_millis(1500),
            "client {i}: closed after only {after:?} (timeout 2 s); got {:?}",
            String::from_utf8_lossy(&got)
        );
        closed_after.push((after, String::from_utf8_lossy(&got).into_owned()));
    }
    let slowest = closed_after.iter().map(|(d, _)| *d).max().unwrap();
    let said: std::collections::BTreeSet<&str> =
        closed_after.iter().map(|(_, s)| s.as_str()).collect();
    // sendmail 8.17 closes silently too on a command timeout (observed with
    // confTO_COMMAND 2s: no reply, log "timeout waiting for input from ...").
    assert_eq!(
        said,
        [""].into(),
        "nothing sent before closing an idle session"
    );

    // All 50 are logged as ended by the timeout; the server serves again.
    let sessions = serve.wait_sessions(51, Duration::from_secs(5));
    let timed_out = sessions
        .iter()
        .filter(|s| s["ended"].as_str().is_some_and(|e| !e.is_empty()))
        .count();
    assert!(timed_out >= 50, "{sessions:?}");
    let p = probe(home, &serve.target());
    assert_eq!(p["starttls"], true, "{p}");
    assert_eq!(p["verify"], "OK", "{p}");
    assert_eq!(p["tls_version"], "TLSv1.3", "{p}");
    serve.wait_sessions(52, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    while (serve.fds() > fds_before + 3 || serve.threads() > threads_before + 1)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let fds_after = serve.fds();
    let threads_after = serve.threads();
    eprintln!(
        "max-sessions 50 / timeout 2 s: fds {fds_before} -> {fds_full} (50 idle) -> {fds_after}; \
         threads {threads_before} -> {threads_full} -> {threads_after}; \
         idle clients closed {:?}..{slowest:?} after their greeting, server said {said:?}",
        closed_after.iter().map(|(d, _)| *d).min().unwrap()
    );
    assert!(
        fds_full >= fds_before + 50,
        "50 sessions hold 50 sockets: {fds_before} -> {fds_full}"
    );
    assert!(
        fds_after.abs_diff(fds_before) <= 3,
        "descriptor leak: {fds_before} before, {fds_after} after"
    );
    assert!(
        threads_after.abs_diff(threads_before) <= 1,
        "session threads left: {threads_before} before, {threads_after} after"
    );
    assert_eq!(serve.stop(), Some(0));
}

// ------------------------------------------------------------------ 4

/// One client session driven in two halves: `open` (greeting, EHLO in
/// plaintext, connection kept) and `finish` (STARTTLS, handshake, EHLO,
/// QUIT). Returns a description of the first thing that went wrong.
struct Half {
    r: BufReader<TcpStream>,
}

fn open_session(port: u16) -> Result<Half, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::new(s);
    let g = read_reply(&mut r);
    if !g.starts_with("220 ") {
        return Err(format!("greeting {g:?}"));
    }
    r.get_mut()
        .write_all(b"EHLO bulk.client.test\r\n")
        .map_err(|e| format!("EHLO: {e}"))?;
    let e = read_reply(&mut r);
    if !e.starts_with("250-") || !e.contains("\r\n250-STARTTLS\r\n") {
        return Err(format!("EHLO reply {e:?}"));
    }
    Ok(Half { r })
}

fn finish_session(h: Half, tls: &Arc<rustls::ClientConfig>) -> Result<(), String> {
    let mut r = h.r;
    r.get_mut()
        .write_all(b"STARTTLS\r\n")
        .map_err(|e| format!("STARTTLS: {e}"))?;
    let st = read_reply(&mut r);
    if !st.starts_with("220 ") {
        return Err(format!("STARTTLS reply {st:?}"));
    }
    if !r.buffer().is_empty() {
        return Err("bytes after 220 Ready to start TLS".into());
    }
    let sock = r.into_inner();
    let name = ServerName::try_from("mx.studio.test").unwrap();
    let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(|e| format!("TLS: {e}"))?;
    let mut t = rustls::StreamOwned::new(conn, sock);
    while t.conn.is_handshaking() {
        t.conn
            .complete_io(&mut t.sock)
            .map_err(|e| format!("handshake: {e}"))?;
    }
    if t.conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return Err(format!("version {:?}", t.conn.protocol_version()));
    }
    let mut r = BufReader::new(t);
    r.get_mut()
        .write_all(b"EHLO bulk.client.test\r\n")
        .and_then(|_| r.get_mut().flush())
        .map_err(|e| format!("EHLO over TLS: {e}"))?;
    let e = read_reply(&mut r);
    if !e.starts_with("250-mx.studio.test Hello bulk.client.test") || e.contains("STARTTLS") {
        return Err(format!("EHLO over TLS {e:?}"));
    }
    r.get_mut()
        .write_all(b"QUIT\r\n")
        .and_then(|_| r.get_mut().flush())
        .map_err(|e| format!("QUIT: {e}"))?;
    let q = read_reply(&mut r);
    if !q.starts_with("221 2.0.0 ") {
        return Err(format!("QUIT reply {q:?}"));
    }
    Ok(())
}

/// The soft limit on open files of this process (the server inherits it).
fn nofile_limit() -> usize {
    fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024)
}

#[test]
fn a_thousand_sessions_at_once() {
    const TOTAL: usize = 1000;
    const THREADS: usize = 50;
    /// Real `probe` runs while each round's sessions are held open.
    const PROBES: usize = 48;
    let t = tempdir();
    let home = t.path();
    Pki::new(home)
        .host("mx.studio.test")
        .ecdsa_host("relay.peer.test")
        .make();
    // Both processes hold one descriptor per open session.
    let limit = nofile_limit();
    let at_once = TOTAL.min(limit.saturating_sub(150));
    assert!(
        at_once >= 300,
        "open-file limit {limit} is too low for this test (ulimit -n)"
    );
    let mut serve = Serve::start(
        home,
        &os(&[&"--max-sessions", &"1100", &"--timeout", &"60"]),
    );
    let fds_before = serve.fds();
    let threads_before = serve.threads();

    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(home.join("ca/ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );

    // Rounds of `at_once` sessions: all opened (greeting + EHLO) and held,
    // measured, then each finished with STARTTLS, EHLO, QUIT.
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    let probes_ok = AtomicUsize::new(0);
    let mut probe_time = Duration::ZERO;
    let mut rounds = 0;
    let mut peak_fds = 0;
    let mut peak_threads = 0;
    let mut open_time = Duration::ZERO;
    let started = Instant::now();
    let mut remaining = TOTAL;
    while remaining > 0 {
        let round = remaining.min(at_once);
        remaining -= round;
        rounds += 1;
        let opened = Barrier::new(THREADS + 1);
        let measured = Barrier::new(THREADS + 1);
        let next = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..THREADS {
                sc.spawn(|| {
                    let mut mine = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < round {
                        match open_session(serve.port) {
                            Ok(h) => mine.push(h),
                            Err(e) => failures.lock().unwrap().push(format!("open: {e}")),
                        }
                    }
                    opened.wait();
                    measured.wait();
                    for h in mine {
                        match finish_session(h, &tls) {
                            Ok(()) => {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => failures.lock().unwrap().push(e),
                        }
                    }
                });
            }
            let t0 = Instant::now();
            opened.wait();
            open_time += t0.elapsed();
            peak_fds = peak_fds.max(serve.fds());
            peak_threads = peak_threads.max(serve.threads());
            // Meanwhile, the real probe gets in and verifies (16 at a time).
            let t1 = Instant::now();
            let next_probe = AtomicUsize::new(0);
            std::thread::scope(|ps| {
                for _ in 0..16 {
                    ps.spawn(|| {
                        while next_probe.fetch_add(1, Ordering::Relaxed) < PROBES {
                            let p = probe(home, &serve.target());
                            if p["verify"] == "OK" && p["tls_version"] == "TLSv1.3" {
                                probes_ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                failures.lock().unwrap().push(format!("probe: {p}"));
                            }
                        }
                    });
                }
            });
            probe_time += t1.elapsed();
            measured.wait();
        });
    }
    let wall = started.elapsed();
    let failures = failures.into_inner().unwrap();
    let done = done.into_inner();
    let probes_ok = probes_ok.into_inner();

    // The server logs every session and keeps serving.
    let sessions = serve.wait_sessions(1 + TOTAL + rounds * PROBES, Duration::from_secs(20));
    let p = probe(home, &serve.target());
    // Session threads exit just after logging; give them a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (serve.fds() > fds_before + 3 || serve.threads() > threads_before + 1)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let fds_after = serve.fds();
    let threads_after = serve.threads();
    eprintln!(
        "{TOTAL} sessions (plaintext EHLO + STARTTLS + EHLO + QUIT) from {THREADS} threads, \
         up to {at_once} open at once: {done} ok, {} failed, wall {wall:?} \
         (opening phases {open_time:?}); {probes_ok} of {} real probes verified OK meanwhile \
         in {probe_time:?}; serve fds {fds_before} -> peak {peak_fds} -> {fds_after}, \
         threads {threads_before} -> peak {peak_threads} -> {threads_after}",
        failures.len(),
        rounds * PROBES
    );
    assert!(
        failures.is_empty(),
        "{} of {TOTAL} sessions failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(done, TOTAL);
    assert_eq!(probes_ok, rounds * PROBES);
    assert!(
        peak_threads >= threads_before + at_once,
        "{at_once} sessions open at once: threads {threads_before} -> {peak_threads}"
    );
    let tls_ok = sessions
        .iter()
        .filter(|s| {
            s["helo"] == "bulk.client.test"
                && s["starttls"] == true
                && s["tls_version"] == "TLSv1.3"
                && s["verify"] == "NO"
                && s["ended"].is_null()
        })
        .count();
    assert_eq!(
        tls_ok, TOTAL,
        "every bulk session logged as TLS, verify NO, QUIT"
    );
    assert_eq!(p["verify"], "OK", "the server still serves: {p}");
    assert!(
        fds_after.abs_diff(fds_before) <= 3,
        "descriptor leak: {fds_before} before, {fds_after} after"
    );
    assert!(
        threads_after.abs_diff(threads_before) <= 1,
        "session threads left: {threads_before} before, {threads_after} after"
    );
    assert_eq!(serve.stop(), Some(0));
}
