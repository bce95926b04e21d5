//! Benchmarks that put our time next to the reference program's, measured
//! in the same run on the same files, and report the ratio (ours / theirs).
//!
//! - rehash of 10,000 certificates vs `openssl rehash` (fresh directory,
//!   and a re-run on the unchanged directory);
//! - issuing an RSA-2048 host certificate vs the `openssl genrsa` + `req` +
//!   `x509 -req` pipeline.
//!
//! Both sides run as whole processes. Run with `scripts/bench` (release).

use starttls_studio::core::pki::{self, KeyKind, SigningCa};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const STUDIO: &str = env!("CARGO_BIN_EXE_starttls-studio");

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("run benchmark command");
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn scratch() -> tempfile::TempDir {
    // tmpfs when available: the figure is about our code, not the disk.
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    tempfile::Builder::new()
        .prefix("sts-bench-")
        .tempdir_in(base)
        .expect("scratch dir")
}

fn remove_links(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_symlink() {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
}

fn report(what: &str, ours: Duration, theirs: Duration, target: f64) {
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    println!(
        "{what:<44} ours {:>9.1} ms   reference {:>9.1} ms   ratio {ratio:.2}x (target <= {target}x) {}",
        ours.as_secs_f64() * 1e3,
        theirs.as_secs_f64() * 1e3,
        if ratio <= target { "OK" } else { "OVER TARGET" }
    );
}

fn bench_rehash(runs: usize) {
    let tmp = scratch();
    let dir = tmp.path().join("certs");
    std::fs::create_dir(&dir).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let ca = pki::create_ca("Bench CA", KeyKind::EcdsaP256, 30, now).unwrap();
    let signing = SigningCa::new(&ca.cert_der, &ca.key_pem).unwrap();
    let t = Instant::now();
    for i in 0..10_000 {
        let c = signing
            .sign_host(
                &[format!("host{i}.bench.example")],
                KeyKind::EcdsaP256,
                30,
                now,
            )
            .unwrap();
        std::fs::write(dir.join(format!("host{i:05}.pem")), c.cert_pem).unwrap();
    }
    eprintln!(
        "(made 10,000 certificates in {:.1} s)",
        t.elapsed().as_secs_f64()
    );

    let (mut ours, mut theirs, mut ours_again, mut theirs_again) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        remove_links(&dir);
        theirs.push(run(Command::new("openssl").arg("rehash").arg(&dir)));
        theirs_again.push(run(Command::new("openssl").arg("rehash").arg(&dir)));
        remove_links(&dir);
        ours.push(run(Command::new(STUDIO).arg("rehash").arg(&dir)));
        ours_again.push(run(Command::new(STUDIO).arg("rehash").arg(&dir)));
    }
    report(
        "rehash 10,000 certificates (fresh)",
        median(ours),
        median(theirs),
        0.5,
    );
    report(
        "rehash 10,000 certificates (unchanged re-run)",
        median(ours_again),
        median(theirs_again),
        0.5,
    );
}

fn bench_issue(runs: usize) {
    let tmp = scratch();
    let home = tmp.path().join("home");
    let out = Command::new(STUDIO)
        .arg("--home")
        .arg(&home)
        .args(["ca", "init", "--cn", "Bench CA", "--key", "rsa2048"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let ca_crt = home.join("ca/ca.crt");
    let ca_key = home.join("ca/ca.key");
    let ext = tmp.path().join("ext.cnf");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth,clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         subjectAltName=DNS:$ENV::FQDN\n",
    )
    .unwrap();
    let work: PathBuf = tmp.path().join("openssl");
    std::fs::create_dir(&work).unwrap();
    let (mut ours, mut theirs) = (vec![], vec![]);
    for i in 0..runs {
        let fqdn = format!("host{i}.bench.example");
        ours.push(run(Command::new(STUDIO)
            .arg("--home")
            .arg(&home)
            .args(["cert", "issue", &fqdn, "--key", "rsa2048"])));
        let script = format!(
            "set -e; cd {w}; openssl genrsa -out {f}.key 2048 2>/dev/null; \
             openssl req -new -key {f}.key -subj /CN={f} -out {f}.csr; \
             FQDN={f} openssl x509 -req -in {f}.csr -CA {ca} -CAkey {cak} -CAcreateserial -days 365 \
             -extfile {ext} -out {f}.crt 2>/dev/null",
            w = work.display(),
            f = fqdn,
            ca = ca_crt.display(),
            cak = ca_key.display(),
            ext = ext.display()
        );
        theirs.push(run(Command::new("sh").arg("-c").arg(script)));
    }
    report(
        "issue an RSA-2048 host certificate",
        median(ours),
        median(theirs),
        0.7,
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful either: both run the full benchmark.
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 7 };
    println!("starttls-studio benchmarks (median of {runs} runs each; whole processes)");
    bench_rehash(runs.min(5));
    bench_issue(if quick { 5 } else { 21 });
}
