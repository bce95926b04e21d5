//! `probe` ×50 against `openssl s_client -starttls smtp` ×50, alternating,
//! on the same real sendmail peer (started here with the peer
//! scripts; needs root). Reports medians and the ratio; target ≤ 0.5×.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STUDIO: &str = env!("CARGO_BIN_EXE_starttls-studio");

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Peer(PathBuf);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = Command::new(peer_script("stop"))
            .arg("--dir")
            .arg(&self.0)
            .output();
    }
}

fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/sendmail")
        .join(name)
}

fn main() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("peer");
    let out = Command::new(peer_script("start"))
        .args(["--port", &port.to_string(), "--dir"])
        .arg(&state)
        .stdin(Stdio::null())
        .output()
        .expect("start the sendmail peer");
    let _peer = Peer(state.clone());
    assert!(
        out.status.success(),
        "peer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let capath = state.join("tls/certs");
    let target = format!("127.0.0.1:{port}");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let t = Instant::now();
        let o = Command::new(STUDIO)
            .args(["probe", &target, "--ca-path"])
            .arg(&capath)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        ours.push(t.elapsed());
        assert!(o.success());
        let t = Instant::now();
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-quiet",
                "-starttls",
                "smtp",
                "-connect",
                &target,
                "-CApath",
            ])
            .arg(&capath)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(b"QUIT\r\n");
        }
        let _ = child.wait();
        theirs.push(t.elapsed());
    }
    let (o, t) = (median(ours), median(theirs));
    let ratio = o.as_secs_f64() / t.as_secs_f64();
    println!(
        "probe vs openssl s_client -starttls smtp (50 each, sendmail peer): ours {:.1} ms, s_client {:.1} ms, ratio {ratio:.2}x (target <= 0.5x) {}",
        o.as_secs_f64() * 1e3,
        t.as_secs_f64() * 1e3,
        if ratio <= 0.5 { "OK" } else { "OVER TARGET" }
    );
}
