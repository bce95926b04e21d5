//! `log explain` on the corpus recorded from the real sendmail 8.17
//! (tests/data/maillog, made by scripts/record-log-corpus): every scripted
//! cause is the one named, in every framing (the peer's sink, rsyslog's
//! traditional and RFC 3339 files, journalctl -o short and -o json); the
//! access maps sendmail used replay to the replies it logged; the JSON
//! schema holds; bad input is listed, never dropped, in bounded memory.

use crate::support::{project_root, run, studio_bin, tempdir};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn corpus() -> PathBuf {
    project_root().join("tests/data/maillog")
}

struct Situation {
    name: String,
    perm_err: bool,
    what: String,
}

fn situations() -> Vec<Situation> {
    std::fs::read_to_string(corpus().join("situations.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Situation {
                name: f[0].into(),
                perm_err: f[2] == "yes",
                what: f[3].into(),
            }
        })
        .collect()
}

/// The cause each situation scripted, by its stable id: every one must be
/// named by some line of the situation (other ids may appear too: a
/// session without a client certificate also says so).
fn expected(name: &str) -> &'static [&'static str] {
    let base = name.trim_end_matches("-l14").trim_end_matches("-l9");
    let l14 = name.ends_with("-l14") || !name.ends_with("-l9");
    match base {
        "tls-clt-verify-bits-ok"
        | "tls-clt-encr-ok"
        | "tls-clt-cn-ok"
        | "relay-certissuer-ok-named"
        | "capath-missing"
        | "client-verify-ok-serve"
        | "tls-srv-cn-ok" => &[],
        "tls-clt-cn-mismatch" | "tls-clt-cn-unnamed" | "tls-srv-cn-mismatch" => {
            &["cert-name-mismatch"]
        }
        "capath-unset" => &["setting-missing"],
        "crl-missing" => &["file-missing", "crl-unreadable"],
        "client-verify-fail-expired" => &["verify-fail", "cert-expired"],
        "tls-srv-perm-verify" => &["verify-required", "cert-untrusted"],
        "client-handshake-not-tls" => &["not-tls"],
        // LogLevel 9 has no verify-reason lines
        "tls-clt-verify-fail" if !l14 => &["verify-required", "verify-fail"],
        "relay-denied-unknown-ca" if !l14 => &["relay-cert-not-verified", "verify-fail"],
        "crl-revoked" if !l14 => &["verify-fail"],
        "client-verify-fail" if !l14 => &["verify-fail"],
        "tls-srv-verify-fail" if !l14 => &["verify-required", "verify-fail"],
        "daemon-start"
        | "verify-ok"
        | "local-delivery-plain"
        | "client-verify-ok"
        | "relay-certissuer-ok"
        | "relay-certsubject-ok" => &[],
        "verify-no" | "local-delivery-tls" => &["no-client-cert"],
        // LogLevel 9 has no verifymsg line: only "did not verify".
        "verify-fail-unknown-ca" if l14 => &["verify-fail", "cert-untrusted"],
        "verify-fail-expired" if l14 => &["verify-fail", "cert-expired"],
        "verify-fail-self-signed" if l14 => &["verify-fail", "cert-self-signed"],
        "verify-fail-unknown-ca" | "verify-fail-expired" | "verify-fail-self-signed" => {
            &["verify-fail"]
        }
        "relay-denied-no-cert" | "relay-denied-named-client" => &["relay-no-cert"],
        "handshake-not-tls" => &["not-tls"],
        "handshake-abandoned" => &["handshake-aborted"],
        "handshake-old-protocol" => &["no-common-protocol"],
        "handshake-psk-only" => &["handshake-protocol-error"],
        "tls-clt-verify-no-cert"
        | "tls-clt-perm-verify"
        | "tls-clt-temp-verify"
        | "tls-clt-verify-perm-err"
        | "tls-clt-verify-no-tls" => &["verify-required"],
        "tls-clt-verify-fail" => &["verify-required", "cert-untrusted"],
        "tls-clt-encr-no-tls" => &["encryption-required"],
        "tls-clt-encr-weak" | "tls-clt-verify-bits" => &["encryption-too-weak"],
        "relay-denied-unknown-ca" => &["relay-cert-not-verified", "cert-untrusted"],
        "relay-denied-other-subject" => &["relay-no-cert-entry"],
        "verify-not-requested" => &["no-cert-requested"],
        "key-group-readable" => &["key-readable-by-others"],
        "key-not-root" => &["key-owner"],
        "cert-group-writable" => &["file-writable-by-others"],
        "ca-file-missing" => &["file-missing"],
        "ca-file-empty" => &["ca-file-unloadable"],
        "dir-world-writable" => &["dir-writable-by-others"],
        "key-cert-mismatch" => &["key-cert-mismatch"],
        "crl-revoked" => &["cert-revoked"],
        "crl-expired" => &["crl-expired"],
        "crl-garbage" => &["crl-unreadable"],
        "client-verify-fail" => &["cert-untrusted", "verify-fail"],
        "tls-srv-verify-fail" | "tls-rcpt-verify-fail" => &["verify-required", "cert-untrusted"],
        "client-no-starttls" | "queue-run-delivers" => &[],
        "tls-srv-encr-no-starttls" => &["encryption-required"],
        other => panic!("situation {other} has no expectation: add one"),
    }
}

/// Ids that mean "something is wrong": none may appear where nothing was.
const PROBLEMS: &[&str] = &[
    "verify-fail",
    "cert-untrusted",
    "relay-no-cert",
    "relay-cert-not-verified",
    "relay-no-cert-entry",
    "verify-required",
    "encryption-required",
    "encryption-too-weak",
    "handshake-aborted",
    "not-tls",
];

fn explain(input: &[u8], args: &[&str]) -> Vec<serde_json::Value> {
    let mut child = Command::new(studio_bin())
        .args(["log", "explain", "-", "--json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A queue run delivers what an earlier connection took in: the delivery
/// line (the message's queue id, logged by the runner) belongs to that
/// connection's session, and is explained with the TLS the runner used —
/// not as "sent without TLS" after the first attempt's failure.
#[test]
fn a_queue_run_delivery_is_explained_with_the_runners_tls() {
    let text = std::fs::read(corpus().join("queue-run-delivers.log")).unwrap();
    let out = explain(&text, &[]);
    let sent: Vec<_> = out
        .iter()
        .filter(|o| o["text"].as_str().unwrap().contains("stat=Sent"))
        .collect();
    assert_eq!(sent.len(), 1, "{out:#?}");
    let s = sent[0];
    let first = out.iter().find(|o| o["qid"] == s["qid"]).unwrap();
    assert_ne!(first["pid"], s["pid"], "the runner is another process");
    assert_eq!(first["session"], s["session"], "grouped with its message");
    let deferred = out
        .iter()
        .find(|o| o["text"].as_str().unwrap().contains("stat=Deferred"))
        .expect("the first attempt deferred");
    assert_eq!(deferred["pid"], first["pid"]);
    let summary = s["summary"].as_str().unwrap();
    assert!(summary.contains("over TLSv1.3 with verify=OK"), "{summary}");
}

fn ids(v: &[serde_json::Value]) -> BTreeSet<String> {
    v.iter()
        .filter_map(|o| o["cause_id"].as_str().map(str::to_string))
        .collect()
}

/// The same lines in other framings: (name, text). `sink` lines are
/// `Mon dd hh:mm:ss prog[pid]: msg`.
fn reframe(sink: &str) -> Vec<(&'static str, String)> {
    let mut syslog = String::new();
    let mut rfc = String::new();
    let mut short = String::new();
    let mut json = String::new();
    for l in sink.lines() {
        let (time, rest) = l.split_at(15);
        let rest = &rest[1..];
        let (tag, msg) = rest.split_once(": ").unwrap();
        let (prog, pid) = tag.trim_end_matches(']').split_once('[').unwrap();
        let day: u32 = time[4..6].trim().parse().unwrap();
        let clock = &time[7..15];
        syslog.push_str(&format!("{time} mx.peer.test {rest}\n"));
        rfc.push_str(&format!(
            "2026-12-{day:02}T{clock}.000000+00:00 mx.peer.test {rest}\n"
        ));
        short.push_str(&format!(
            "{} {day:02} {clock} mx.peer.test {rest}\n",
            &time[..3]
        ));
        let j = serde_json::json!({
            "MESSAGE": msg,
            "SYSLOG_IDENTIFIER": prog,
            "_PID": pid,
            "SYSLOG_PID": pid,
            "_HOSTNAME": "mx.peer.test",
            "__REALTIME_TIMESTAMP": "1796341219000000",
        });
        json.push_str(&format!("{j}\n"));
    }
    vec![
        ("rsyslog traditional", syslog),
        ("rsyslog RFC 3339", rfc),
        ("journalctl -o short", short),
        ("journalctl -o json", json),
    ]
}

#[test]
fn every_scripted_cause_is_named_in_every_framing() {
    let mut failures = Vec::new();
    let mut shapes = BTreeSet::new();
    let all = situations();
    assert!(all.len() >= 50, "{} situations", all.len());
    for s in &all {
        let text = std::fs::read_to_string(corpus().join(format!("{}.log", s.name))).unwrap();
        assert!(!text.is_empty(), "{}: empty recording", s.name);
        let got = explain(text.as_bytes(), &[]);
        assert_eq!(
            got.len(),
            text.lines().count(),
            "{}: one object per line",
            s.name
        );
        let unknown: Vec<&str> = got
            .iter()
            .filter(|o| o["known"] == false)
            .filter_map(|o| o["text"].as_str())
            .collect();
        if !unknown.is_empty() {
            failures.push(format!("{}: unknown lines {unknown:#?}", s.name));
        }
        let named = ids(&got);
        for want in expected(&s.name) {
            if !named.contains(*want) {
                failures.push(format!(
                    "{} ({}): {want} not named; named {named:?}",
                    s.name, s.what
                ));
            }
        }
        if expected(&s.name).is_empty() {
            for p in PROBLEMS {
                if named.contains(*p) {
                    failures.push(format!(
                        "{} ({}): nothing was wrong, but {p} named",
                        s.name, s.what
                    ));
                }
            }
        }
        for o in &got {
            let msg = o["text"].as_str().unwrap();
            let msg = msg.split_once("]: ").map_or(msg, |x| x.1);
            let shape: String = msg
                .chars()
                .take_while(|c| *c != '=' && !c.is_ascii_digit())
                .collect();
            shapes.insert(format!("{}|{}|{}", o["kind"], o["cause_id"], shape));
        }
        for (framing, t) in reframe(&text) {
            let again = explain(t.as_bytes(), &[]);
            let a: Vec<_> = got
                .iter()
                .map(|o| (&o["kind"], &o["cause_id"], &o["session"], &o["peer"]))
                .collect();
            let b: Vec<_> = again
                .iter()
                .map(|o| (&o["kind"], &o["cause_id"], &o["session"], &o["peer"]))
                .collect();
            if a != b {
                failures.push(format!(
                    "{}: {framing} differs from the sink's framing",
                    s.name
                ));
            }
            assert!(
                again.iter().all(|o| o["host"] == "mx.peer.test"),
                "{}: {framing}: host",
                s.name
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        shapes.len() >= 40,
        "{} distinct line shapes: {shapes:#?}",
        shapes.len()
    );
}

#[test]
fn replayed_decisions_agree_with_what_sendmail_logged() {
    let mut replayed = 0;
    let mut failures = Vec::new();
    for s in situations() {
        let access = corpus().join(format!("{}.access", s.name));
        if !access.exists() {
            continue;
        }
        let text = std::fs::read(corpus().join(format!("{}.log", s.name))).unwrap();
        let mut args = vec!["--access", access.to_str().unwrap()];
        if s.perm_err {
            args.push("--tls-perm-err");
        }
        for o in explain(&text, &args) {
            if o["decision"].is_null() {
                continue;
            }
            replayed += 1;
            if o["decision"]["agrees"] != true {
                failures.push(format!(
                    "{}: line {}: sendmail logged {}, the evaluator says {} ({})",
                    s.name,
                    o["line"],
                    o["reply"],
                    o["decision"]["reply"],
                    o["decision"]["explanation"]
                ));
            }
            assert!(o["decision"]["trace"]
                .as_array()
                .is_some_and(|t| !t.is_empty()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(replayed >= 12, "only {replayed} refusals replayed");
}

#[test]
fn json_keeps_its_schema() {
    let keys: BTreeSet<&str> = [
        "line", "known", "summary", "cause", "fix", "kind", "cause_id", "severity", "doctor",
        "session", "time", "host", "program", "pid", "qid", "peer", "side", "macros", "ruleset",
        "reply", "decision", "text",
    ]
    .into_iter()
    .collect();
    let mut input = Vec::new();
    for s in situations() {
        input.extend(std::fs::read(corpus().join(format!("{}.log", s.name))).unwrap());
    }
    input.extend_from_slice(
        b"Dec  3 23:33:41 mx kernel: [1.2] eth0: link up\n\x00\xff\xfe garbage\n{\"MESSAGE\": \n",
    );
    let lines = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let got = explain(&input, &[]);
    assert_eq!(got.len(), lines);
    for (i, o) in got.iter().enumerate() {
        let have: BTreeSet<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(have, keys, "line {}", i + 1);
        assert_eq!(o["line"], i as u64 + 1);
        assert!(o["known"].is_boolean());
        for k in ["summary", "cause", "fix"] {
            assert!(o[k].is_null() || o[k].is_string(), "{k} on line {}", i + 1);
        }
        assert!(["info", "warning", "error"].contains(&o["severity"].as_str().unwrap()));
        assert!(o["macros"].is_object());
    }
    let tail = &got[got.len() - 3..];
    assert!(tail.iter().all(|o| o["known"] == false), "{tail:#?}");
    assert!(tail[0]["cause"].as_str().unwrap().contains("kernel"));
}

/// The plain view says what `--json` says, line by line: a why and fix
/// printed in full the first time, and for a later line with the same
/// pair a reference to that first line (the whole corpus twice over, so
/// every pair repeats).
#[test]
fn the_plain_view_prints_a_repeated_why_once_and_refers_to_it() {
    let mut input = Vec::new();
    for _ in 0..2 {
        for s in situations() {
            input.extend(std::fs::read(corpus().join(format!("{}.log", s.name))).unwrap());
        }
    }
    let dir = tempdir();
    let log = dir.path().join("mail.log");
    std::fs::write(&log, &input).unwrap();
    let json = explain(&input, &["--all"]);
    let out = run(Command::new(studio_bin())
        .args(["log", "explain", "--all"])
        .arg(&log));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // line number → the lines printed under it
    let mut blocks: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    let mut at = 0;
    for l in text.lines() {
        match l.get(..6).and_then(|n| n.trim().parse::<u64>().ok()) {
            Some(n) if !l.starts_with("         ") => {
                at = n;
                blocks.entry(n).or_default();
            }
            _ if l.starts_with("         ") => blocks.entry(at).or_default().push(l.trim()),
            _ => {}
        }
    }
    let mut first: BTreeMap<(String, String), u64> = BTreeMap::new();
    let (mut full, mut referred) = (0, 0);
    for o in &json {
        let n = o["line"].as_u64().unwrap();
        let block = blocks
            .get(&n)
            .unwrap_or_else(|| panic!("line {n} not shown"));
        let (Some(cause), true) = (o["cause"].as_str(), o["known"] == true) else {
            continue;
        };
        let fix = o["fix"].as_str().unwrap_or("").to_string();
        let pair = (cause.to_string(), fix.clone());
        match first.get(&pair) {
            None => {
                first.insert(pair, n);
                assert_eq!(block[0], format!("why: {cause}"), "line {n}");
                if !fix.is_empty() {
                    assert_eq!(block[1], format!("fix: {fix}"), "line {n}");
                }
                full += 1;
            }
            Some(f) => {
                let want = if fix.is_empty() {
                    format!("why: as for line {f}")
                } else {
                    format!("why, fix: as for line {f}")
                };
                assert_eq!(block[0], want, "line {n}");
                referred += 1;
            }
        }
    }
    assert!(
        full >= 40 && referred >= full,
        "{full} printed, {referred} referred"
    );
}

#[test]
fn bad_input_is_listed_never_dropped_and_memory_stays_bounded() {
    // Truncated lines: every prefix length of a few real lines.
    let text = std::fs::read_to_string(corpus().join("tls-clt-verify-fail.log")).unwrap();
    let mut cut = String::new();
    for l in text.lines() {
        for n in (0..l.len()).step_by(7) {
            if l.is_char_boundary(n) {
                cut.push_str(&l[..n]);
                cut.push('\n');
            }
        }
    }
    let got = explain(cut.as_bytes(), &[]);
    assert_eq!(got.len(), cut.lines().count());
    // Binary garbage, long lines, NULs.
    let mut garbage = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8);
    }
    garbage.extend(std::iter::repeat_n(b'A', 300_000));
    garbage.push(b'\n');
    // every line, empty ones too, and the last one without a newline
    let n = garbage.iter().filter(|b| **b == b'\n').count();
    let got = explain(&garbage, &[]);
    assert_eq!(got.len(), n);
    // 300 MB through a pipe under a 512 MB address-space limit: streamed.
    let dir = tempdir();
    let one: Vec<u8> = situations()
        .iter()
        .flat_map(|s| std::fs::read(corpus().join(format!("{}.log", s.name))).unwrap())
        .collect();
    let script = dir.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "ulimit -v 524288; exec {} log explain - --summary --json",
            studio_bin().display()
        ),
    )
    .unwrap();
    let mut child = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let reps = 300_000_000 / one.len() + 1;
    let w = std::thread::spawn(move || {
        for _ in 0..reps {
            if stdin.write_all(&one).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    w.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(s["lines"].as_u64().unwrap() > 1_000_000, "{}", s["lines"]);
    assert_eq!(s["unknown"], 0);
}

#[test]
fn a_key_file_is_refused_and_not_echoed() {
    let dir = tempdir();
    let home = dir.path().join("home");
    crate::support::Pki::new(&home).make();
    let key = home.join("ca/ca.key");
    let o = run(Command::new(studio_bin())
        .args(["log", "explain"])
        .arg(&key));
    assert_eq!(o.status.code(), Some(1));
    let text = std::fs::read_to_string(&key).unwrap();
    let body = text.lines().nth(1).unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains(body) && !out.contains("PRIVATE KEY"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("private key"));
}

#[test]
fn summary_puts_the_problems_first_and_follow_sees_new_lines() {
    let dir = tempdir();
    let log = dir.path().join("mail.log");
    let mut all = Vec::new();
    for s in situations() {
        all.extend(std::fs::read(corpus().join(format!("{}.log", s.name))).unwrap());
    }
    std::fs::write(&log, &all).unwrap();
    let out = run(Command::new(studio_bin())
        .args(["log", "explain"])
        .arg(&log)
        .args(["--summary", "--json"]));
    assert!(out.status.success());
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = s["problems"].as_array().unwrap();
    assert!(problems.len() >= 15, "{problems:#?}");
    let sev: Vec<&str> = problems
        .iter()
        .map(|p| p["severity"].as_str().unwrap())
        .collect();
    let mut sorted = sev.clone();
    sorted.sort_by_key(|s| match *s {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    });
    assert_eq!(sev, sorted, "errors first");
    let peers = s["peers"].as_array().unwrap();
    let p2 = peers
        .iter()
        .find(|p| p["peer"] == "[127.0.0.12]")
        .expect("peer 127.0.0.12");
    assert!(
        p2["refusals"]
            .as_object()
            .unwrap()
            .keys()
            .any(|r| r.contains("not authenticated")),
        "{p2}"
    );
    let plain = run(Command::new(studio_bin())
        .args(["log", "explain"])
        .arg(&log)
        .arg("--summary"));
    let text = String::from_utf8(plain.stdout).unwrap();
    assert!(text.contains("problems, the worst first:"), "{text}");

    // --follow: lines appended later are explained as they come.
    let live = dir.path().join("live.log");
    std::fs::write(&live, b"").unwrap();
    let mut child = Command::new(studio_bin())
        .args(["log", "explain"])
        .arg(&live)
        .args(["--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let grp = std::fs::read(corpus().join("key-group-readable.log")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap()
        .write_all(&grp)
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = BTreeMap::new();
    let mut line = String::new();
    use std::io::BufRead;
    while std::time::Instant::now() < deadline && !seen.contains_key("key-readable-by-others") {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let o: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(id) = o["cause_id"].as_str() {
            seen.insert(id.to_string(), o["doctor"].clone());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        seen.get("key-readable-by-others"),
        Some(&serde_json::json!("key-readable-by-others"))
    );
}
