//! `serve` against real clients: `openssl s_client` (TLS 1.3 and 1.2) and
//! `swaks` with and without client certificates, the access map applied
//! live, and hostile clients (commands pipelined after STARTTLS, a 100 KB
//! line, garbage instead of a ClientHello, a disconnect mid-DATA).

use crate::support::*;
use std::ffi::OsString;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `serve` with a 10 s timeout, the access map and `extra` options.
fn start(home: &Path, access: Option<&Path>, extra: &[&str]) -> Serve {
    let mut args: Vec<OsString> = vec!["--timeout".into(), "10".into()];
    if let Some(a) = access {
        args.push("--access".into());
        args.push(a.into());
    }
    args.extend(extra.iter().map(OsString::from));
    Serve::start(home, &args)
}

/// Stops the server and returns its exit status and session logs.
fn stop_and_read(server: &mut Serve) -> (Option<i32>, Vec<serde_json::Value>) {
    let status = server.stop();
    (status, server.sessions())
}

fn swaks(server: &Serve, cert: Option<(&Path, &Path)>, to: &str) -> String {
    let mut c = Command::new(require("swaks"));
    c.args([
        "--server",
        &server.target(),
        "--local-interface",
        "127.0.0.2",
        "--tls",
        "--from",
        "a@client.example.net",
        "--to",
        to,
    ]);
    if let Some((crt, key)) = cert {
        c.arg("--tls-cert").arg(crt).arg("--tls-key").arg(key);
    }
    let out = run(&mut c);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn serve_applies_certificates_and_access_map_like_sendmail() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home)
        .host("mx.studio.test")
        .ecdsa_host("client.example.net")
        .make();
    let access = home.join("access");
    std::fs::write(&access, "CERTISSUER:/CN=Studio+20Test+20CA\tRELAY\n").unwrap();
    let mut server = start(home, Some(&access), &[]);

    // openssl s_client: TLS 1.3 and 1.2, our CA announced, chain verifies.
    for (flag, proto) in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")] {
        let out = run(openssl()
            .args([
                "s_client",
                flag,
                "-starttls",
                "smtp",
                "-connect",
                &server.target(),
                "-CAfile",
            ])
            .arg(home.join("ca/ca.crt"))
            .stdin(Stdio::null()));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("New, {proto}")), "{flag}: {text}");
        assert!(
            text.contains("Verify return code: 0 (ok)"),
            "{flag}: {text}"
        );
        assert!(
            text.contains("Acceptable client certificate CA names\nCN = Studio Test CA"),
            "{flag}: {text}"
        );
    }

    let crt = home.join("hosts/client.example.net.crt");
    let key = home.join("hosts/client.example.net.key");
    let ok = swaks(&server, Some((&crt, &key)), "someone@remote.example");
    assert!(
        ok.contains("250 2.1.5 <someone@remote.example>... Recipient ok"),
        "{ok}"
    );
    assert!(ok.contains("Message accepted for delivery"), "{ok}");
    let denied = swaks(&server, None, "someone@remote.example");
    assert!(
        denied.contains("550 5.7.1 <someone@remote.example>... Relaying denied"),
        "{denied}"
    );
    let local = swaks(&server, None, "postmaster@mx.studio.test");
    assert!(
        local.contains("Message accepted for delivery"),
        "local recipients need no relaying: {local}"
    );

    let (status, sessions) = stop_and_read(&mut server);
    assert_eq!(status, Some(0), "SIGTERM stops serve cleanly");
    let tls13 = sessions
        .iter()
        .find(|s| s["tls_version"] == "TLSv1.3" && s["verify"] == "OK")
        .expect("a verified TLS 1.3 session");
    assert_eq!(tls13["cipher"], "TLS_AES_256_GCM_SHA384");
    assert_eq!(tls13["cipher_bits"], 256);
    assert_eq!(tls13["cert_subject"], "/CN=client.example.net");
    assert_eq!(tls13["cert_issuer"], "/CN=Studio+20Test+20CA");
    assert!(sessions.iter().any(|s| s["tls_version"] == "TLSv1.2"
        && s["cipher"]
            .as_str()
            .is_some_and(|c| c.starts_with("ECDHE-"))));
    assert!(sessions.iter().any(|s| s["verify"] == "NO"));

    let files: Vec<_> = std::fs::read_dir(&server.maildir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 2, "two messages stored: {files:?}");
    let verified = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .find(|m| m.contains("for <someone@remote.example>"))
        .expect("the relayed message");
    assert!(
        verified.contains("with ESMTPS id")
            && verified
                .contains("(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=OK)"),
        "{verified}"
    );
}

#[test]
fn tls_requirement_refuses_after_starttls_like_sendmail() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home)
        .host("mx.studio.test")
        .ecdsa_host("client.example.net")
        .make();
    let access = home.join("access");
    std::fs::write(&access, "TLS_Clt:[127.0.0.2]\tPERM+VERIFY\n").unwrap();
    let server = start(home, Some(&access), &[]);
    let out = swaks(&server, None, "postmaster@mx.studio.test");
    assert!(out.contains("503 5.7.0 not authenticated"), "{out}");
    let crt = home.join("hosts/client.example.net.crt");
    let key = home.join("hosts/client.example.net.key");
    let out = swaks(&server, Some((&crt, &key)), "postmaster@mx.studio.test");
    assert!(out.contains("Message accepted for delivery"), "{out}");
}

#[test]
fn hostile_clients_get_clear_answers_and_leave_nothing_behind() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home)
        .host("mx.studio.test")
        .ecdsa_host("client.example.net")
        .make();
    let mut server = start(home, None, &[]);
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        (s, r)
    };

    // Plaintext pipelined after STARTTLS is dropped, not answered over TLS.
    let (mut s, mut r) = connect();
    read_reply(&mut r);
    s.write_all(b"EHLO x\r\n").unwrap();
    read_reply(&mut r);
    s.write_all(b"STARTTLS\r\nRSET\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("220"));
    // The next bytes must be the TLS handshake (our garbage ClientHello
    // gets an alert), never a "250" to the injected RSET.
    s.write_all(b"this is not a ClientHello\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = r.read(&mut buf).unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"250"),
        "answered the injected command: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );

    // A 100 KB line.
    let (mut s, mut r) = connect();
    read_reply(&mut r);
    let mut long = vec![b'A'; 100_000];
    long.extend_from_slice(b"\r\nNOOP\r\n");
    s.write_all(&long).unwrap();
    assert!(read_reply(&mut r).starts_with("500 5.5.0 Line too long"));
    assert!(
        read_reply(&mut r).starts_with("250"),
        "the session goes on after a long line"
    );

    // Disconnect in the middle of DATA: nothing stored.
    let (mut s, mut r) = connect();
    read_reply(&mut r);
    for cmd in [
        "EHLO x\r\n",
        "MAIL FROM:<a@b.example>\r\n",
        "RCPT TO:<postmaster@mx.studio.test>\r\n",
        "DATA\r\n",
    ] {
        s.write_all(cmd.as_bytes()).unwrap();
        read_reply(&mut r);
    }
    s.write_all(b"Subject: half\r\n\r\nhalf a message").unwrap();
    drop(s);
    drop(r);
    std::thread::sleep(Duration::from_millis(300));

    let (_, sessions) = stop_and_read(&mut server);
    assert!(
        sessions.iter().any(|s| s["verify"] == "SOFTWARE"),
        "the garbage handshake is logged as SOFTWARE: {sessions:?}"
    );
    let stored = std::fs::read_dir(&server.maildir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "no partial message kept");
}

#[test]
fn each_ca_of_the_ca_path_is_announced_once() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home)
        .host("mx.studio.test")
        .ecdsa_host("client.example.net")
        .make();
    // The installed CA path holds CAcert.pem and its hash link: one CA.
    let tls = home.join("tls");
    run_ok(
        studio(home)
            .args(["install", "mx.studio.test", "--to"])
            .arg(&tls),
    );
    let capath = tls.join("certs");
    let server = start(home, None, &["--ca-path", capath.to_str().unwrap()]);
    let out = run(openssl()
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &server.target(),
        ])
        .stdin(Stdio::null()));
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Acceptable client certificate CA names"))
        .skip(1)
        .take_while(|l| l.starts_with("CN = ") || l.starts_with("C = ") || l.starts_with("O = "))
        .collect();
    assert_eq!(names, ["CN = Studio Test CA"], "{text}");
}
