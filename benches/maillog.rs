//! `log explain` on two 1,000,000-line mail logs made from the recorded
//! corpus of tests/data/maillog (each repetition with its own pids and
//! queue ids): the whole corpus over and over, and everyday traffic (the
//! recorded deliveries and a refusal, weighted as on a working server).
//! Whole processes against `grep -c STARTTLS` on the same file in the same
//! run (five interleaved rounds, the fastest run of each command): lines
//! per second, peak RSS, and the speed ratio (target ≥ 0.3× grep).

use std::process::Command;
use std::time::Duration;

#[path = "support/measure.rs"]
mod measure;

/// `cmd` measured with its output into a file; it must succeed (grep's
/// exit status only says whether it matched).
fn run_measured(cmd: &mut Command) -> (Duration, u64) {
    let sink = tempfile::tempfile().expect("temp file");
    let (t, peak, st) = measure::run_measured(cmd, sink.into());
    assert!(
        st.success() || cmd.get_program() == "grep",
        "{cmd:?} failed"
    );
    (t, peak)
}

/// The lines of the recorded situation `name`.
fn situation(root: &std::path::Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(root.join(name).with_extension("log"))
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect()
}

/// `n` lines: `lines` over and over, each repetition with its own pids
/// and queue ids (sendmail's end in the pid, six digits), so that sessions
/// and messages stay apart, as in a real log.
fn repeated(lines: &[String], n: usize) -> String {
    let mut text = String::with_capacity(n * 180);
    let mut rep = 0u32;
    let mut made = 0usize;
    loop {
        rep += 1;
        for l in lines {
            let new_pid = |old: &str| 100_000 + rep * 1000 + old.parse::<u32>().unwrap_or(0) % 1000;
            let l = match (l.find('['), l.find("]: ")) {
                (Some(a), Some(b)) if a < b => {
                    let rest = &l[b + 3..];
                    let rest = match rest.split_once(": ") {
                        Some((q, tail))
                            if q.len() == 14
                                && q.bytes().all(|c| c.is_ascii_alphanumeric())
                                && q[8..].bytes().all(|c| c.is_ascii_digit()) =>
                        {
                            format!("{}{:06}: {tail}", &q[..8], new_pid(&q[8..]))
                        }
                        _ => rest.to_string(),
                    };
                    format!("{}[{}]: {rest}", &l[..a], new_pid(&l[a + 1..b]))
                }
                _ => l.clone(),
            };
            text.push_str(&l);
            text.push('\n');
            made += 1;
            if made >= n {
                return text;
            }
        }
    }
}

/// `text` measured: `grep -c STARTTLS` and `log explain` with each of
/// `modes`, five interleaved rounds, the fastest run of each command kept
/// (a burst of load on the machine slows one round of every command, not
/// all the runs of one); printed under `title`.
fn measure_log(title: &str, text: &str, modes: &[(&str, &[&str])]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mail.log");
    std::fs::write(&file, text).expect("write log");
    // on disk before the clock starts: no write-back beside the runs
    std::fs::File::open(&file)
        .and_then(|f| f.sync_all())
        .expect("sync log");
    let count = text.lines().count();
    let studio = env!("CARGO_BIN_EXE_starttls-studio");
    let run = |args: Option<&[&str]>| match args {
        None => run_measured(Command::new("grep").args(["-c", "STARTTLS"]).arg(&file)),
        Some(args) => run_measured(
            Command::new(studio)
                .args(["log", "explain"])
                .arg(&file)
                .args(args),
        ),
    };
    let commands: Vec<Option<&[&str]>> = std::iter::once(None)
        .chain(modes.iter().map(|(_, args)| Some(*args)))
        .collect();
    let mut best = vec![(Duration::MAX, 0u64); commands.len()];
    for _ in 0..5 {
        for (i, args) in commands.iter().enumerate() {
            let (t, rss) = run(*args);
            if t < best[i].0 {
                best[i] = (t, rss);
            }
        }
    }
    let (g, g_rss) = best[0];
    let mb = text.len() as f64 / 1e6;
    println!("{title}, {count} lines ({mb:.0} MB):");
    println!(
        "  grep -c STARTTLS      {:>8.3} s  {:>6} KiB",
        g.as_secs_f64(),
        g_rss
    );
    for ((name, _), (t, rss)) in modes.iter().zip(&best[1..]) {
        println!(
            "  log explain {name:<22} {:>8.3} s  {:>6} KiB  {:>10.0} lines/s  {:.2}× grep's speed",
            t.as_secs_f64(),
            rss,
            count as f64 / t.as_secs_f64(),
            g.as_secs_f64() / t.as_secs_f64()
        );
    }
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/maillog");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    names.sort();
    let mut lines: Vec<String> = Vec::new();
    for p in names {
        lines.extend(
            std::fs::read_to_string(p)
                .expect("read")
                .lines()
                .map(str::to_string),
        );
    }
    let n = 1_000_000;
    measure_log(
        "log explain",
        &repeated(&lines, n),
        &[
            ("--summary", &["--summary"]),
            ("(the plain view)", &[]),
            ("--json", &["--json"]),
        ],
    );
    // Everyday traffic, from the same recordings: mostly mail received
    // over TLS and delivered, some sent on over TLS, some received
    // without TLS, a refused relay attempt now and then.
    let mut traffic: Vec<String> = Vec::new();
    for (name, times) in [
        ("local-delivery-tls-l9", 6),
        ("client-verify-ok-l9", 2),
        ("verify-ok-l9", 1),
        ("local-delivery-plain-l9", 1),
        ("relay-denied-no-cert-l9", 1),
    ] {
        for _ in 0..times {
            traffic.extend(situation(&root, name));
        }
    }
    measure_log(
        "log explain on everyday traffic",
        &repeated(&traffic, n),
        &[("--summary", &["--summary"])],
    );
}
