//! Access map benchmarks, with `makemap` (the program that reads the same
//! file for sendmail) timed in the same run:
//! - parse + check a 100,000-entry access map (target < 100 ms, < 100 MB);
//! - `access check` of a 1,000,000-entry map, the whole process against
//!   `makemap hash` on the same file (target ≤ 0.2× its time, ≤ 250 MB
//!   peak RSS);
//! - 100,000 policy decisions (per-decision cost).

use starttls_studio::core::access::AccessMap;
use starttls_studio::core::access_check::{check, CheckContext};
use starttls_studio::core::policy::{evaluate, Macros, Options, Ruleset};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn make_map(n: usize) -> String {
    let mut s = String::with_capacity(n * 48);
    s.push_str("# generated benchmark access map\n");
    for i in 0..n {
        match i % 5 {
            0 => s.push_str(&format!("TLS_Clt:host{i}.example.org\tPERM+VERIFY:128\n")),
            1 => s.push_str(&format!("TLS_Srv:mx{i}.example.net\tENCR:128\n")),
            2 => s.push_str(&format!(
                "CERTISSUER:/C=US/O=Org+20{i}/CN=CA+20{i}\tRELAY\n"
            )),
            3 => s.push_str(&format!(
                "Connect:10.{}.{}.{}\tRELAY\n",
                i >> 16 & 255,
                i >> 8 & 255,
                i & 255
            )),
            _ => s.push_str(&format!("TLS_Rcpt:user{i}@example.com\tVERIFY\n")),
        }
    }
    s
}

fn best<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

#[path = "support/measure.rs"]
mod measure;

fn run_measured(cmd: &mut Command) -> (Duration, u64) {
    let (t, peak, _) = measure::run_measured(cmd, Stdio::null());
    (t, peak)
}

/// `access check` of a million entries (a large blocklist plus TLS
/// entries) against `makemap hash`, as whole processes in one run.
fn million() {
    let Some(makemap) = ["/usr/sbin/makemap", "/usr/bin/makemap"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        println!("1,000,000 entries: makemap not installed, skipped");
        return;
    };
    let n = 1_000_000;
    let mut text = String::with_capacity(n * 40);
    for i in 0..n {
        match i % 4 {
            0 => text.push_str(&format!(
                "Connect:10.{}.{}.{}\tREJECT\n",
                i >> 16 & 255,
                i >> 8 & 255,
                i & 255
            )),
            1 => text.push_str(&format!("From:spam{i}@example{}.com\tREJECT\n", i % 977)),
            2 => text.push_str(&format!("TLS_Clt:host{i}.example.net\tVERIFY:128\n")),
            _ => text.push_str(&format!("To:user{i}@dom{}.example\tOK\n", i % 251)),
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("access");
    std::fs::write(&file, &text).expect("write map");
    let studio = env!("CARGO_BIN_EXE_starttls-studio");
    let (mut ours, mut ours_rss) = (Duration::MAX, 0);
    let (mut theirs, mut theirs_rss) = (Duration::MAX, 0);
    for _ in 0..3 {
        let (t, rss) = run_measured(Command::new(studio).args(["access", "check"]).arg(&file));
        (ours, ours_rss) = (ours.min(t), ours_rss.max(rss));
        let db = dir.path().join("access-db");
        let _ = std::fs::remove_file(dir.path().join("access-db.db"));
        let (t, rss) = run_measured(
            Command::new(makemap)
                .arg("hash")
                .arg(&db)
                .stdin(std::fs::File::open(&file).expect("open")),
        );
        (theirs, theirs_rss) = (theirs.min(t), theirs_rss.max(rss));
    }
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    println!(
        "access check, 1,000,000 entries ({} MB): {:.2} s, peak {} MB; makemap hash {:.2} s, peak {} MB; ratio {ratio:.2}x   target <= 0.2x, <= 250 MB {}",
        text.len() / 1_000_000,
        ours.as_secs_f64(),
        ours_rss / 1024,
        theirs.as_secs_f64(),
        theirs_rss / 1024,
        if ratio <= 0.2 && ours_rss <= 250 * 1024 { "OK" } else { "OVER TARGET" }
    );
}

fn main() {
    million();
    let n = 100_000;
    let text = make_map(n);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("access");
    std::fs::write(&file, &text).expect("write map");
    println!("access map benchmarks ({n} entries, {} bytes)", text.len());

    let before = rss_kib();
    let t = Instant::now();
    let data = std::fs::read(&file).expect("read");
    let map = AccessMap::parse(&data);
    let findings = check(&map, &CheckContext::default());
    let first = t.elapsed();
    let held = rss_kib().saturating_sub(before);
    assert!(
        findings.is_empty(),
        "generated map should be clean: {:?}",
        findings.first()
    );
    let ours = best(5, || {
        let data = std::fs::read(&file).expect("read");
        let map = AccessMap::parse(&data);
        std::hint::black_box(check(&map, &CheckContext::default()));
    });
    println!(
        "parse + check:        {:>8.1} ms (best of 5; first run {:.1} ms), {:.1} MB held   target < 100 ms, < 100 MB {}",
        ours.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        held as f64 / 1024.0,
        if ours < Duration::from_millis(100) && held < 100 * 1024 { "OK" } else { "OVER TARGET" }
    );
    let parse_only = best(5, || {
        let data = std::fs::read(&file).expect("read");
        std::hint::black_box(AccessMap::parse(&data));
    });
    let check_only = best(5, || {
        std::hint::black_box(check(&map, &CheckContext::default()));
    });
    println!(
        "  of which read + parse {:.1} ms, check {:.1} ms",
        parse_only.as_secs_f64() * 1e3,
        check_only.as_secs_f64() * 1e3
    );
    if let Some(makemap) = ["/usr/sbin/makemap", "/usr/bin/makemap"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
    {
        let db = dir.path().join("access-db");
        let theirs = best(3, || {
            let _ = std::fs::remove_file(dir.path().join("access-db.db"));
            let status = Command::new(makemap)
                .arg("hash")
                .arg(&db)
                .stdin(std::fs::File::open(&file).expect("open"))
                .stderr(Stdio::null())
                .status()
                .expect("run makemap");
            assert!(status.success());
        });
        println!(
            "makemap hash (same file): {:>5.1} ms   ratio ours/makemap {:.2}x",
            theirs.as_secs_f64() * 1e3,
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }

    let db = map.database();
    let mut macros = Macros::default();
    macros.set("verify", "OK");
    macros.set("cipher_bits", "256");
    let decisions = 100_000;
    let t = Instant::now();
    for i in 0..decisions {
        macros.set("client_name", &format!("host{}.example.org", (i * 7) % n));
        macros.set("client_addr", &format!("10.0.{}.{}", i >> 8 & 255, i & 255));
        std::hint::black_box(evaluate(
            &db,
            Ruleset::TlsClient,
            &macros,
            None,
            Options::default(),
        ));
    }
    let per = t.elapsed().as_secs_f64() / decisions as f64;
    println!(
        "policy decisions:     {decisions} in {:.1} ms, {:.2} µs per decision (with trace)",
        t.elapsed().as_secs_f64() * 1e3,
        per * 1e6
    );
}
