//! Full STARTTLS sessions per second (EHLO, STARTTLS, EHLO, MAIL, RCPT,
//! DATA with one small message, QUIT) against `serve` and against a real
//! sendmail 8.17 with the same certificate and key, in one run (needs root
//! for the sendmail peer). Target: serve ≥ 5× sendmail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const STUDIO: &str = env!("CARGO_BIN_EXE_starttls-studio");

fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/sendmail")
        .join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn reply(r: &mut impl BufRead) -> u16 {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return 0;
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        }
    }
}

/// One full session; true when the message was accepted.
fn session(port: u16, config: &Arc<rustls::ClientConfig>, rcpt: &str) -> bool {
    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    if reply(&mut r) != 220 {
        return false;
    }
    let _ = w.write_all(b"EHLO bench.example\r\n");
    reply(&mut r);
    let _ = w.write_all(b"STARTTLS\r\n");
    if reply(&mut r) != 220 {
        return false;
    }
    let name = rustls::pki_types::ServerName::try_from("mx.bench.test").unwrap();
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, w);
    let send = |tls: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>, text: &str| {
        let _ = tls.write_all(text.as_bytes());
        let _ = socket2::SockRef::from(&tls.sock).set_tcp_quickack(true);
        let mut r = BufReader::new(tls);
        reply(&mut r)
    };
    send(&mut tls, "EHLO bench.example\r\n");
    if send(&mut tls, "MAIL FROM:<bench@bench.example>\r\n") != 250 {
        return false;
    }
    if send(&mut tls, &format!("RCPT TO:<{rcpt}>\r\n")) != 250 {
        return false;
    }
    if send(&mut tls, "DATA\r\n") != 354 {
        return false;
    }
    let ok = send(&mut tls, "Subject: bench\r\n\r\nA small message.\r\n.\r\n") == 250;
    send(&mut tls, "QUIT\r\n");
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest);
    ok
}

/// Sessions per second over `secs` seconds from `threads` clients.
fn rate(
    port: u16,
    config: &Arc<rustls::ClientConfig>,
    rcpt: &str,
    threads: usize,
    secs: u64,
) -> (f64, usize) {
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (ok, failed) = (ok.clone(), failed.clone());
            s.spawn(move || {
                while Instant::now() < end {
                    if session(port, config, rcpt) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (
        ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

struct Guard(Option<Child>, Option<PathBuf>);
impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
        if let Some(d) = self.1.take() {
            let _ = Command::new(peer_script("stop"))
                .arg("--dir")
                .arg(d)
                .output();
        }
    }
}

fn studio(home: &Path, args: &[&str]) {
    let out = Command::new(STUDIO)
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    studio(
        &home,
        &["ca", "init", "--cn", "Bench CA", "--key", "ecdsa-p256"],
    );
    studio(
        &home,
        &["cert", "issue", "mx.bench.test", "--key", "rsa2048"],
    );
    let tls_dir = tmp.path().join("tls");
    std::fs::create_dir(&tls_dir).unwrap();
    studio(
        &home,
        &[
            "install",
            "mx.bench.test",
            "--to",
            tls_dir.to_str().unwrap(),
        ],
    );

    // sendmail with the installed files
    let sm_port = free_port();
    let state = tmp.path().join("peer");
    let _guard_peer = Guard(None, Some(state.clone()));
    let out = Command::new(peer_script("start"))
        .args([
            "--port",
            &sm_port.to_string(),
            "--hostname",
            "mx.bench.test",
            "--dir",
        ])
        .arg(&state)
        .arg("--cert")
        .arg(tls_dir.join("mx.bench.test.crt"))
        .arg("--key")
        .arg(tls_dir.join("mx.bench.test.key"))
        .arg("--cacert")
        .arg(tls_dir.join("CAcert.pem"))
        .arg("--capath")
        .arg(tls_dir.join("certs"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("starttls=yes"),
        "peer: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // serve with the same files
    let port = free_port();
    let child = Command::new(STUDIO)
        .arg("--home")
        .arg(&home)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--hostname",
            "mx.bench.test",
            "--max-sessions",
            "1000",
        ])
        .arg("--maildir")
        .arg(tmp.path().join("maildir"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard_serve = Guard(Some(child), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(home.join("ca/ca.crt")).unwrap();
    for der in starttls_studio::core::cert::certificates_in(&ca).unwrap() {
        roots.add(der.into()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let threads = 4;
    let (ours, ours_failed) = rate(port, &config, "postmaster@mx.bench.test", threads, 5);
    let (theirs, theirs_failed) = rate(sm_port, &config, "postmaster@mx.bench.test", threads, 5);
    let ratio = ours / theirs;
    println!(
        "STARTTLS sessions per second ({threads} clients, 5 s each, same RSA-2048 certificate): serve {ours:.0}/s ({ours_failed} failed), sendmail {theirs:.0}/s ({theirs_failed} failed), ratio {ratio:.1}x (target >= 5x) {}",
        if ratio >= 5.0 { "OK" } else { "UNDER TARGET" }
    );
}
