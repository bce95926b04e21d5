//! `starttls-studio policy eval` against recorded sendmail 8.17 decisions.
//!
//! `tests/data/policy-cases.jsonl` holds real answers of the reference peer's
//! sendmail (`tests/peers/sendmail/bt`, i.e. `sendmail -bt` with the
//! peer's `sendmail.cf` and a `makemap`-built access map), one case per line:
//!
//! ```text
//! {"name", "access": "<access source text>", "ruleset": "tls_client|tls_server|tls_rcpt|relay",
//!  "macros": {"verify": "NO", ...}, "rcpt": ADDR|null, "arg": "STARTTLS"|"MAIL"|null,
//!  "tls_perm_err": bool, "sendmail": {"raw", "outcome", "reply"}}
//! ```
//!
//! `scripts/record-policy-cases` writes it (re-run it to re-record). `relay`
//! cases were asked as `check_rcpt` with `<RCPT>` as input, a resolved client
//! name and a `client_addr` other than 127.0.0.1.
//!
//! 1. `recorded_cases_match_policy_eval`: every case through `policy eval
//!    --json`; outcome and reply must equal sendmail's. All mismatches are
//!    reported together.
//! 2. `recorded_cases_still_match_live_sendmail`: a deterministic sample is
//!    asked again from a live peer (drift of the peer or of the recording).
//! 3. `policy_corpus_is_complete`: size, coverage, and that the recorded
//!    outcome/reply is what the raw `bt` answer says (conversion re-done here).

use crate::support::Peer;
use crate::support::{project_root, run, sendmail_peer_dir, studio, tempdir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CORPUS: &str = "tests/data/policy-cases.jsonl";
const RULESETS: [&str; 4] = ["tls_client", "tls_server", "tls_rcpt", "relay"];
const VERIFY_VALUES: [&str; 13] = [
    "OK",
    "TRUSTED",
    "NO",
    "NOT",
    "FAIL",
    "NONE",
    "CLEAR",
    "TEMP",
    "PROTOCOL",
    "SOFTWARE",
    "CONFIG",
    "DANE_FAIL",
    "",
];
/// About this many cases are asked again from the live peer.
const DRIFT_SAMPLE: usize = 60;

// ------------------------------------------------------------------ corpus

#[derive(Debug, Clone)]
struct Case {
    line: usize,
    name: String,
    access: String,
    ruleset: String,
    macros: Vec<(String, String)>,
    rcpt: Option<String>,
    arg: Option<String>,
    tls_perm_err: bool,
    raw: String,
    outcome: String,
    reply: Option<String>,
}

impl Case {
    fn macro_value(&self, name: &str) -> Option<&str> {
        self.macros
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "case {} (line {}): ruleset {}",
            self.name, self.line, self.ruleset
        );
        if let Some(r) = &self.rcpt {
            let _ = write!(s, ", rcpt {r}");
        }
        if self.arg.as_deref() == Some("MAIL") {
            s.push_str(", at MAIL");
        }
        if self.tls_perm_err {
            s.push_str(", TLS_PERM_ERR");
        }
        s.push_str("\n    access:");
        if self.access.is_empty() {
            s.push_str(" (empty)");
        }
        for l in self.access.lines() {
            let _ = write!(s, "\n      | {}", l.replace('\t', "<TAB>"));
        }
        s.push_str("\n    macros:");
        for (k, v) in &self.macros {
            let _ = write!(s, " {k}={v:?}");
        }
        s
    }
}

fn corpus_path() -> PathBuf {
    project_root().join(CORPUS)
}

fn str_field(v: &Value, key: &str, line: usize) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{CORPUS}:{line}: no string field `{key}`"))
        .to_string()
}

fn opt_str_field(v: &Value, key: &str, line: usize) -> Option<String> {
    match v.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => panic!("{CORPUS}:{line}: `{key}` is neither a string nor null: {other}"),
    }
}

fn load_cases() -> Vec<Case> {
    let text = fs::read_to_string(corpus_path()).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (run scripts/record-policy-cases)",
            corpus_path().display()
        )
    });
    let mut cases = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{CORPUS}:{line}: bad JSON: {e}"));
        let sm = v
            .get("sendmail")
            .unwrap_or_else(|| panic!("{CORPUS}:{line}: no `sendmail` object"));
        let macros = v
            .get("macros")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{CORPUS}:{line}: no `macros` object"))
            .iter()
            .map(|(k, val)| {
                let val = val
                    .as_str()
                    .unwrap_or_else(|| panic!("{CORPUS}:{line}: macro {k} is not a string"));
                (k.clone(), val.to_string())
            })
            .collect();
        cases.push(Case {
            line,
            name: str_field(&v, "name", line),
            access: str_field(&v, "access", line),
            ruleset: str_field(&v, "ruleset", line),
            macros,
            rcpt: opt_str_field(&v, "rcpt", line),
            arg: opt_str_field(&v, "arg", line),
            tls_perm_err: v
                .get("tls_perm_err")
                .and_then(Value::as_bool)
                .unwrap_or_else(|| panic!("{CORPUS}:{line}: no boolean `tls_perm_err`")),
            raw: str_field(sm, "raw", line),
            outcome: str_field(sm, "outcome", line),
            reply: opt_str_field(sm, "reply", line),
        });
    }
    cases
}

// ------------------------------------------------- bt result -> decision

/// Splits `bt --result` output into (text, quoted) tokens.
fn bt_tokens(raw: &str) -> Vec<(String, bool)> {
    let mut toks = Vec::new();
    let mut rest = raw;
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return toks;
        }
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            toks.push((r[..end].to_string(), true));
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            toks.push((rest[..end].to_string(), false));
            rest = &rest[end..];
        }
    }
}

/// sendmail's `cataddr()`: a blank only between two adjacent atoms; a token
/// starting with an operator character (`OperatorChars=.:%@!^/[]+` plus
/// `()<>,;`) or a quoted string is not an atom. Quotes are dropped.
fn cat_tokens(toks: &[(String, bool)]) -> String {
    let mut out = String::new();
    let mut prev_atom = false;
    for (text, quoted) in toks {
        let atom = !quoted
            && text
                .chars()
                .next()
                .is_some_and(|c| !".:%@!^/[]+()<>,;".contains(c));
        if prev_atom && atom {
            out.push(' ');
        }
        out.push_str(text);
        prev_atom = atom;
    }
    out
}

/// (outcome, reply) of a raw `bt` answer, as the recorder converts it.
fn convert(
    raw: &str,
    ruleset: &str,
    rcpt: Option<&str>,
) -> Result<(String, Option<String>), String> {
    let toks = bt_tokens(raw);
    let words: Vec<&str> = toks.iter().map(|(t, _)| t.as_str()).collect();
    if words.starts_with(&["$#", "error"]) {
        let colon = words
            .iter()
            .position(|w| *w == "$:")
            .ok_or_else(|| format!("no $: in {raw:?}"))?;
        let dsn = words
            .iter()
            .position(|w| *w == "$@")
            .map(|at| cat_tokens(&toks[at + 1..colon]));
        let text = cat_tokens(&toks[colon + 1..]);
        let (code, rest) = text.split_at(text.len().min(3));
        if code.len() != 3
            || !code.bytes().all(|b| b.is_ascii_digit())
            || !(code.starts_with('4') || code.starts_with('5'))
        {
            return Err(format!("no SMTP code in {raw:?}"));
        }
        let rest = if ruleset == "relay" {
            format!(
                " <{}>... {}",
                rcpt.unwrap_or(""),
                rest.trim_start_matches(' ')
            )
        } else if rest.starts_with(' ') {
            rest.to_string()
        } else {
            format!(" {rest}")
        };
        let reply = match dsn {
            Some(d) if !d.is_empty() => format!("{code} {d}{rest}"),
            _ => format!("{code}{rest}"),
        };
        let outcome = if code.starts_with('4') {
            "temp"
        } else {
            "perm"
        };
        return Ok((outcome.to_string(), Some(reply)));
    }
    if ruleset == "relay" {
        if words.starts_with(&["$#", "RELAY"]) || words == ["RELAY"] {
            return Ok(("relay".to_string(), None));
        }
        return Err(format!(
            "check_rcpt answer neither relays nor refuses: {raw:?}"
        ));
    }
    Ok(("ok".to_string(), None))
}

// ------------------------------------------------------------ parallelism

/// Runs `f` on every case on a few threads; the `Some` results in case order.
fn par_map<F>(cases: &[Case], f: F) -> Vec<String>
where
    F: Fn(usize, &Case) -> Option<String> + Sync,
{
    crate::support::par_map(cases, f)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

fn write_access(dir: &Path, i: usize, case: &Case) -> PathBuf {
    let p = dir.join(format!("{i:04}.access"));
    fs::write(&p, &case.access).expect("write access file");
    p
}

fn show_reply(r: &Option<String>) -> String {
    match r {
        Some(s) => format!("{s:?}"),
        None => "null".to_string(),
    }
}

// -------------------------------------------------------------- the tests

#[test]
fn policy_corpus_is_complete() {
    let cases = load_cases();
    let mut problems = Vec::new();
    if cases.len() < 300 {
        problems.push(format!("only {} cases (want at least 300)", cases.len()));
    }
    let mut names = BTreeSet::new();
    let mut per_ruleset: BTreeMap<&str, usize> = BTreeMap::new();
    let mut verify_seen = BTreeSet::new();
    let mut perm_err = [0usize; 2];
    let mut at_mail = 0;
    for c in &cases {
        if !names.insert(c.name.as_str()) {
            problems.push(format!("duplicate case name {}", c.name));
        }
        if !RULESETS.contains(&c.ruleset.as_str()) {
            problems.push(format!("{}: unknown ruleset {}", c.name, c.ruleset));
        }
        *per_ruleset.entry(c.ruleset.as_str()).or_default() += 1;
        match c.macro_value("verify") {
            Some(v) => {
                verify_seen.insert(v.to_string());
            }
            None => problems.push(format!("{}: no verify macro", c.name)),
        }
        perm_err[usize::from(c.tls_perm_err)] += 1;
        if c.arg.as_deref() == Some("MAIL") {
            at_mail += 1;
        }
        if matches!(c.ruleset.as_str(), "tls_rcpt" | "relay") && c.rcpt.is_none() {
            problems.push(format!("{}: {} case without rcpt", c.name, c.ruleset));
        }
        if c.ruleset == "relay"
            && c.macro_value("client_addr").unwrap_or("127.0.0.1") == "127.0.0.1"
        {
            problems.push(format!(
                "{}: relay case from 127.0.0.1 proves nothing",
                c.name
            ));
        }
        match convert(&c.raw, &c.ruleset, c.rcpt.as_deref()) {
            Ok((o, r)) if o == c.outcome && r == c.reply => {}
            Ok((o, r)) => problems.push(format!(
                "{}: recorded {} {} but raw {:?} says {o} {}",
                c.name,
                c.outcome,
                show_reply(&c.reply),
                c.raw,
                show_reply(&r)
            )),
            Err(e) => problems.push(format!("{}: {e}", c.name)),
        }
    }
    for rs in RULESETS {
        if per_ruleset.get(rs).copied().unwrap_or(0) == 0 {
            problems.push(format!("no {rs} case"));
        }
    }
    for v in VERIFY_VALUES {
        if !verify_seen.contains(v) {
            problems.push(format!("no case with verify={v:?}"));
        }
    }
    if perm_err[0] == 0 || perm_err[1] == 0 {
        problems.push(format!("perm-err cases: {perm_err:?} (want both settings)"));
    }
    if at_mail == 0 {
        problems.push("no tls_client case at MAIL".to_string());
    }
    assert!(
        problems.is_empty(),
        "{CORPUS} ({} cases, {per_ruleset:?}):\n{}",
        cases.len(),
        problems.join("\n")
    );
}

#[test]
fn recorded_cases_match_policy_eval() {
    let cases = load_cases();
    assert!(cases.len() >= 300, "{CORPUS}: only {} cases", cases.len());
    let tmp = tempdir();
    let home = tmp.path().join("home");
    let acc_dir = tmp.path().join("access");
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(&acc_dir).unwrap();

    let mismatches = par_map(&cases, |i, c| {
        let acc = write_access(&acc_dir, i, c);
        let mut cmd = studio(&home);
        cmd.args(["policy", "eval", "--access"])
            .arg(&acc)
            .args(["--ruleset", &c.ruleset]);
        for (k, v) in &c.macros {
            cmd.arg("--macro").arg(format!("{k}={v}"));
        }
        if let Some(r) = &c.rcpt {
            cmd.args(["--rcpt", r]);
        }
        if c.tls_perm_err {
            cmd.arg("--tls-perm-err");
        }
        if c.ruleset == "tls_client" && c.arg.as_deref() == Some("MAIL") {
            cmd.args(["--at", "mail"]);
        }
        cmd.arg("--json").stdin(Stdio::null());
        let out = run(&mut cmd);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let sendmail = format!(
            "    sendmail: {} {}  (bt: {})",
            c.outcome,
            show_reply(&c.reply),
            c.raw
        );
        if !out.status.success() {
            return Some(format!(
                "{}\n    ours: exit {} stderr: {}\n{sendmail}",
                c.describe(),
                out.status,
                stderr.trim()
            ));
        }
        let v: Value = match serde_json::from_str(&stdout) {
            Ok(v) => v,
            Err(e) => {
                return Some(format!(
                    "{}\n    ours: not JSON ({e}): {}\n{sendmail}",
                    c.describe(),
                    stdout.trim()
                ))
            }
        };
        let outcome = v
            .get("outcome")
            .and_then(Value::as_str)
            .unwrap_or("<missing>");
        let reply = v.get("reply").and_then(Value::as_str).map(str::to_string);
        if outcome == c.outcome && reply == c.reply {
            return None;
        }
        let trace = match v.get("trace") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| match t {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" / "),
            Some(other) => other.to_string(),
            None => "<none>".to_string(),
        };
        Some(format!(
            "{}\n    ours:     {outcome} {}\n{sendmail}\n    trace: {trace}",
            c.describe(),
            show_reply(&reply)
        ))
    });
    assert!(
        mismatches.is_empty(),
        "{} of {} recorded sendmail decisions differ from `policy eval`:\n\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n\n")
    );
}

// ------------------------------------------------------------ live peer

/// About `DRIFT_SAMPLE` cases, evenly spread over every (ruleset, perm-err)
/// group, at least two of each.
fn drift_sample(cases: &[Case]) -> Vec<Case> {
    let mut groups: BTreeMap<(String, bool), Vec<&Case>> = BTreeMap::new();
    for c in cases {
        groups
            .entry((c.ruleset.clone(), c.tls_perm_err))
            .or_default()
            .push(c);
    }
    let mut out = Vec::new();
    for members in groups.values() {
        let want = (members.len() * DRIFT_SAMPLE / cases.len().max(1)).clamp(2, members.len());
        for k in 0..want {
            out.push(members[k * members.len() / want].clone());
        }
    }
    out
}

#[test]
fn recorded_cases_still_match_live_sendmail() {
    let cases = load_cases();
    let sample = drift_sample(&cases);
    let rulesets: BTreeSet<&str> = sample.iter().map(|c| c.ruleset.as_str()).collect();
    assert_eq!(rulesets.len(), RULESETS.len(), "sample misses a ruleset");
    assert!(
        sample.iter().any(|c| c.tls_perm_err) && sample.iter().any(|c| !c.tls_perm_err),
        "sample misses a TLS_PERM_ERR setting"
    );

    let tmp = tempdir();
    let acc_dir = tmp.path().join("access");
    fs::create_dir_all(&acc_dir).unwrap();
    let plain = Peer::start(&tmp.path().join("peer"), &[]);
    let perm = Peer::start(&tmp.path().join("peer-permerr"), &["--tls-perm-err".into()]);
    let bt = sendmail_peer_dir().join("bt");

    let drifted = par_map(&sample, |i, c| {
        let acc = write_access(&acc_dir, i, c);
        let state = if c.tls_perm_err {
            &perm.dir
        } else {
            &plain.dir
        };
        let mut cmd = Command::new(&bt);
        cmd.arg("--dir").arg(state).arg("--access").arg(&acc);
        let rs = if c.ruleset == "relay" {
            "check_rcpt"
        } else {
            c.ruleset.as_str()
        };
        cmd.args(["--ruleset", rs]);
        for (k, v) in &c.macros {
            cmd.arg("--macro").arg(format!("{k}={v}"));
        }
        match c.ruleset.as_str() {
            "relay" => {
                cmd.arg("--arg")
                    .arg(format!("<{}>", c.rcpt.as_deref().unwrap_or("")));
            }
            "tls_rcpt" => {
                cmd.arg("--arg").arg(c.rcpt.as_deref().unwrap_or(""));
            }
            "tls_client" if c.arg.as_deref() == Some("MAIL") => {
                cmd.args(["--arg", "MAIL"]);
            }
            _ => {}
        }
        cmd.arg("--result").stdin(Stdio::null());
        let out = run(&mut cmd);
        let now = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && now == c.raw {
            return None;
        }
        Some(format!(
            "{}\n    recorded: {}\n    now:      {} (exit {}) {}",
            c.describe(),
            c.raw,
            now,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    });
    drop(perm);
    drop(plain);
    assert!(
        drifted.is_empty(),
        "{} of {} sampled cases: the live sendmail now answers differently \
         (re-record with scripts/record-policy-cases?):\n\n{}",
        drifted.len(),
        sample.len(),
        drifted.join("\n\n")
    );
}
