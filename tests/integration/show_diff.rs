//! `starttls-studio show FILE --json` against `openssl x509` (OpenSSL 3.0).
//!
//! `scripts/gen-name-corpus` writes a corpus of certificates with odd names
//! (every string type OpenSSL reads in a name, whitespace and case variants,
//! UTF-8, multi-valued RDNs, one-line lengths around sendmail's 255, unknown
//! OIDs, characters special to sendmail, odd issuers, several key types,
//! DER files, PEM bundles). For each certificate every field of our JSON is
//! compared with what `openssl x509` prints:
//!
//! | field | openssl |
//! | --- | --- |
//! | `subject`, `issuer` | `-subject` / `-issuer -nameopt compat`, after `subject=` / `issuer=` |
//! | `subject_hash`, `subject_hash_old`, `issuer_hash` | `-subject_hash`, `-subject_hash_old`, `-issuer_hash` |
//! | `serial` | `-serial` after `serial=`, exactly (upper-case hex, no colons, `-` for negative) |
//! | `sha256_fingerprint` | `-fingerprint -sha256`, case-insensitive, colons ignored |
//! | `not_before`, `not_after` | `-dates -dateopt iso_8601`, compared as instants |
//! | `is_ca` | `-text`: `X509v3 Basic Constraints` followed by `CA:TRUE` |
//! | `key_type` | `-text` `Public Key Algorithm` (+ `NIST CURVE`), in the `ca init --key` vocabulary: `rsa`, `rsa-pss`, `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ec` (other curves), `ed25519`, `ed448` |
//! | `key_bits` | `-text` `Public-Key: (N bit)`; Ed25519/Ed448 print no size, there it is OpenSSL's `EVP_PKEY_get_bits` (256 / 456, what `openssl s_client` reports as "Server public key is N bit") |
//! | `sans` | `-text` `X509v3 Subject Alternative Name`: DNS names bare, `IP:` (compared as addresses), `email:`, `URI:` |
//! | `subject_sendmail`, `issuer_sendmail` | docs/sendmail.md §2 applied here to openssl's one-line form: cut to 255 characters by whole entries, then xtext |
//!
//! plus the literal examples of the docs/sendmail.md §2 table, as fixed strings.
//! The same comparison (names and hashes) runs over the system CA store.
//! Every test collects all differences and fails once, listing them all.

use crate::support::{openssl, project_root, run, studio, tempdir};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------
// The corpus.

pub(crate) struct Corpus {
    pub(crate) dir: PathBuf,
    /// (file name, description) from `manifest.tsv`.
    pub(crate) files: Vec<(String, String)>,
    /// Files openssl refuses to load (`rejected/manifest.tsv`).
    pub(crate) rejected: Vec<(String, String)>,
}

fn read_manifest(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (f, d) = l.split_once('\t').unwrap_or((l, ""));
            (f.to_string(), d.to_string())
        })
        .collect()
}

/// Runs the corpus script once per test process. The output directory lives
/// under `CARGO_TARGET_TMPDIR` and is reused: the script is idempotent and
/// keeps its keys, so a rerun rewrites the same certificates.
pub(crate) fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("show-name-corpus");
        let script = project_root().join("scripts/gen-name-corpus");
        let out = run(Command::new("bash").arg(&script).arg(&dir));
        assert!(
            out.status.success(),
            "{} {} failed with {}\nstderr:\n{}",
            script.display(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let files = read_manifest(&dir.join("manifest.tsv"));
        let rejected = read_manifest(&dir.join("rejected/manifest.tsv"));
        assert!(files.len() >= 60, "corpus has only {} files", files.len());
        Corpus {
            dir,
            files,
            rejected,
        }
    })
}

fn is_der_name(file: &str) -> bool {
    [".der", ".cer", ".crt"].iter().any(|e| file.ends_with(e))
}

/// The PEM certificate blocks of a file, each as its own text (line ends
/// kept), in file order.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "-----BEGIN CERTIFICATE-----" {
            cur = Some(String::new());
        }
        if let Some(b) = cur.as_mut() {
            b.push_str(line);
        }
        if bare == "-----END CERTIFICATE-----" {
            if let Some(b) = cur.take() {
                blocks.push(b);
            }
        }
    }
    blocks
}

// ---------------------------------------------------------------------------
// sendmail's `${cert_subject}` from openssl's one-line form (docs/sendmail.md §2).

/// `X509_NAME_oneline(name, buf, 256)`: entries are dropped from the first
/// one that would end beyond 255 characters. `None` when that cannot be
/// derived from the printed form: over 255 characters and a value holds an
/// escaped `/` or `+` (then `\/` could also be a value ending in `\`
/// followed by a separator).
fn oneline_255(oneline: &str) -> Option<String> {
    if oneline.len() <= 255 {
        return Some(oneline.to_string());
    }
    if oneline.contains("\\/") || oneline.contains("\\+") {
        return None;
    }
    let b = oneline.as_bytes();
    let mut ends: Vec<usize> = (1..b.len())
        .filter(|&i| b[i] == b'/' || b[i] == b'+')
        .collect();
    ends.push(b.len());
    let keep = ends
        .into_iter()
        .take_while(|&e| e <= 255)
        .last()
        .unwrap_or(0);
    Some(oneline[..keep].to_string())
}

/// sendmail's `xtextify` with taboo `<>")`: every byte < 0x21 or > 0x7E or
/// one of `+ \ ( ) < > "` becomes `+XX` (upper-case).
fn xtext(s: &str) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        if !(0x21..=0x7e).contains(&c) || b"+\\()<>\"".contains(&c) {
            let _ = write!(out, "+{c:02X}");
        } else {
            out.push(c as char);
        }
    }
    out
}

fn sendmail_form(oneline: &str) -> Option<String> {
    oneline_255(oneline).map(|s| xtext(&s))
}

/// The literal examples of the docs/sendmail.md §2 table, as made by the corpus
/// script (file → `${cert_subject}`).
fn sendmail_table() -> Vec<(&'static str, String)> {
    let v46 = "v".repeat(46);
    let len_base =
        format!("/C=US/ST=State+20{v46}/L=Locality+20{v46}/O=Organization+20{v46}/OU=Unit+20{v46}");
    vec![
        ("sm-peer-ca.pem", "/C=US/O=Sendmail+20Peer/CN=sendmail+20peer+20test+20CA".into()),
        (
            "sm-darth.pem",
            "/C=US/ST=California/L=Berkeley/O=endmail.org/OU=private\
             /CN=Darth+20Mail+20+28Cert+29/emailAddress=darth+5C+2Bcert@endmail.org"
                .into(),
        ),
        ("sm-angles.pem", "/O=A+3CB+3EC+22D/CN=x".into()),
        ("sm-eq-comma.pem", "/O=a=b,c;d+5C/e/CN=y".into()),
        ("sm-backslash.pem", "/CN=back+5Cslash/OU=tilde~caret^pipe|".into()),
        (
            "sm-mueller.pem",
            "/CN=M+5CxC3+5CxBCller/O=Soci+5CxC3+5CxA9t+5CxC3+5CxA9+20G+5CxC3+5CxA9n+5CxC3+5CxA9rale"
                .into(),
        ),
        ("sm-multi.pem", "/CN=a+2BOU=b/O=multi".into()),
        ("sm-spaces-tab.pem", "/CN=+20+20two+20+20spaces+20+20/O=tab+5Cx09here".into()),
        (
            "sm-punct.pem",
            "/CN=percent%at@bang!colon:dot.brackets[]quote'star*amp&hash#dollar$".into(),
        ),
        ("sm-bmp-mueller.pem", "/CN=+5Cx00M+5Cx00+5CxFC+5Cx00l+5Cx00l+5Cx00e+5Cx00r".into()),
        ("type-bmp-mueller.pem", "/CN=+5Cx00M+5Cx00+5CxFC+5Cx00l+5Cx00l+5Cx00e+5Cx00r".into()),
        // a T61String `ü` is `\xFC`
        ("type-t61-latin1.pem", "/CN=M+5CxFCller/O=+5CxC9COLE+20+5CxC0+5CxC2".into()),
        // 6 RDNs: 255 characters are kept whole, at 256 the last RDN goes
        ("len-255.pem", format!("{len_base}/CN=len255-{}", "x".repeat(8))),
        ("len-256.pem", len_base.clone()),
        ("len-257.pem", len_base),
        ("len-long-middle.pem", "/CN=short".into()),
        // over 255 with `\/` in the printed form: not derivable above
        ("len-escaped-slash.pem", format!("/CN=x+5C/y+5C+2Bz/O={}", "o".repeat(240))),
        ("len-backslash-end.pem", "/CN=back+5C".into()),
        ("empty-subject.pem", String::new()),
    ]
}

// ---------------------------------------------------------------------------
// What openssl says.

#[derive(Debug, Default)]
struct Facts {
    subject: String,
    issuer: String,
    subject_hash: String,
    subject_hash_old: String,
    issuer_hash: String,
    serial: String,
    sha256: String,
    not_before: String,
    not_after: String,
    is_ca: bool,
    key_type: String,
    key_bits: Option<u64>,
    sans: Vec<String>,
}

fn stdout_of(out: &Output) -> Result<String, String> {
    if !out.status.success() {
        return Err(format!(
            "openssl failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout.clone()).map_err(|e| format!("openssl output not UTF-8: {e}"))
}

/// All facts of the (first) certificate in `file`, from one `openssl x509`.
fn openssl_facts(file: &Path, der: bool) -> Result<Facts, String> {
    let out = run(openssl()
        .arg("x509")
        .args(["-inform", if der { "DER" } else { "PEM" }])
        .arg("-in")
        .arg(file)
        .args(["-noout", "-nameopt", "compat", "-subject", "-issuer"])
        .args([
            "-subject_hash",
            "-subject_hash_old",
            "-issuer_hash",
            "-serial",
        ])
        .args([
            "-fingerprint",
            "-sha256",
            "-dates",
            "-dateopt",
            "iso_8601",
            "-text",
        ]));
    let text = stdout_of(&out)?;
    let mut lines = text.lines();
    let mut next = |prefix: &str| -> Result<String, String> {
        let l = lines
            .next()
            .ok_or_else(|| format!("openssl output ends before {prefix:?}"))?;
        l.strip_prefix(prefix)
            .map(str::to_string)
            .ok_or_else(|| format!("openssl line {l:?} does not start with {prefix:?}"))
    };
    let mut f = Facts {
        subject: next("subject=")?,
        issuer: next("issuer=")?,
        subject_hash: next("")?,
        subject_hash_old: next("")?,
        issuer_hash: next("")?,
        serial: next("serial=")?,
        sha256: next("sha256 Fingerprint=")?,
        not_before: next("notBefore=")?,
        not_after: next("notAfter=")?,
        ..Facts::default()
    };
    let text_lines: Vec<&str> = text.lines().skip(9).map(str::trim).collect();
    let mut algorithm = "";
    let mut curve = "";
    for (i, l) in text_lines.iter().enumerate() {
        let following = text_lines.get(i + 1).copied().unwrap_or("");
        if let Some(a) = l.strip_prefix("Public Key Algorithm: ") {
            algorithm = a;
        } else if let Some(c) = l.strip_prefix("NIST CURVE: ") {
            curve = c;
        } else if l.starts_with("Public-Key: (") && f.key_bits.is_none() {
            f.key_bits = l["Public-Key: (".len()..]
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok());
        } else if l.starts_with("X509v3 Basic Constraints") {
            f.is_ca = following.starts_with("CA:TRUE");
        } else if l.starts_with("X509v3 Subject Alternative Name") {
            f.sans = following.split(", ").map(openssl_san).collect();
        }
    }
    f.key_type = match (algorithm, curve) {
        ("rsaEncryption", _) => "rsa".into(),
        ("rsassaPss", _) => "rsa-pss".into(),
        ("id-ecPublicKey", "P-256") => "ecdsa-p256".into(),
        ("id-ecPublicKey", "P-384") => "ecdsa-p384".into(),
        ("id-ecPublicKey", "P-521") => "ecdsa-p521".into(),
        ("id-ecPublicKey", "") => "ec".into(),
        ("ED25519", _) => "ed25519".into(),
        ("ED448", _) => "ed448".into(),
        (a, c) => format!("{a} {c}"),
    };
    if f.key_bits.is_none() {
        // not printed by -text; EVP_PKEY_get_bits, as `s_client` reports it
        f.key_bits = match algorithm {
            "ED25519" => Some(256),
            "ED448" => Some(456),
            _ => None,
        };
    }
    Ok(f)
}

fn canonical_ip(s: &str) -> String {
    match s.parse::<IpAddr>() {
        Ok(ip) => format!("IP:{ip}"),
        Err(_) => format!("IP:{s}"),
    }
}

/// openssl's SAN text in our notation.
fn openssl_san(s: &str) -> String {
    if let Some(d) = s.strip_prefix("DNS:") {
        d.to_string()
    } else if let Some(ip) = s.strip_prefix("IP Address:") {
        canonical_ip(ip)
    } else {
        s.to_string()
    }
}

fn our_san(s: &str) -> String {
    match s.strip_prefix("IP:") {
        Some(ip) => canonical_ip(ip),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Instants (RFC 3339 and openssl's `iso_8601`: `2026-12-01 00:12:53Z`).

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of `YYYY-MM-DD[T ]HH:MM:SS[.frac](Z|±HH:MM)`.
fn parse_instant(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &r[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

// ---------------------------------------------------------------------------
// Comparison.

/// Runs `show FILE --json`; the parsed array, or why not.
fn our_json(home: &Path, file: &Path) -> Result<Vec<Value>, String> {
    let out = run(studio(home).arg("show").arg(file).arg("--json"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("show failed ({}): {}", out.status, stderr.trim()));
    }
    match serde_json::from_slice::<Value>(&out.stdout) {
        Ok(Value::Array(a)) => Ok(a),
        Ok(other) => Err(format!("show --json printed a non-array: {other}")),
        Err(e) => Err(format!(
            "show --json printed invalid JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )),
    }
}

/// Differences found, reported all at once; identical differences (same
/// field, same values) on several certificates are listed once.
struct Diffs {
    /// (where, field, ours, openssl's)
    items: Vec<(String, String, String, String)>,
}

impl Diffs {
    fn new() -> Self {
        Diffs { items: Vec::new() }
    }
    fn note(
        &mut self,
        what: &str,
        field: &str,
        ours: impl std::fmt::Debug,
        theirs: impl std::fmt::Debug,
    ) {
        self.items.push((
            what.into(),
            field.into(),
            format!("{ours:?}"),
            format!("{theirs:?}"),
        ));
    }
    fn fail_if_any(&self, title: &str) {
        if self.items.is_empty() {
            return;
        }
        let mut groups: Vec<(&str, &str, &str, Vec<&str>)> = Vec::new();
        for (what, field, ours, theirs) in &self.items {
            match groups
                .iter_mut()
                .find(|g| (g.0, g.1, g.2) == (field, ours, theirs))
            {
                Some(g) => g.3.push(what),
                None => groups.push((field, ours, theirs, vec![what])),
            }
        }
        let mut msg = format!("{title}: {} difference(s)\n", self.items.len());
        for (field, ours, theirs, whats) in groups {
            if let [what] = whats[..] {
                let _ = writeln!(msg, "  {what}: {field}:");
            } else {
                let short: Vec<&str> = whats
                    .iter()
                    .map(|w| w.split(" — ").next().unwrap_or(w))
                    .collect();
                let _ = writeln!(
                    msg,
                    "  {field}, the same on {} certificates: {}",
                    whats.len(),
                    short.join(", ")
                );
            }
            let _ = writeln!(msg, "      ours:    {ours}\n      openssl: {theirs}");
        }
        panic!("{msg}");
    }
}

fn str_field<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get(field).and_then(Value::as_str)
}

/// Compares one certificate object with openssl's facts. `full`: all fields
/// (else names, hashes and sendmail forms only).
fn compare(d: &mut Diffs, what: &str, ours: &Value, f: &Facts, full: bool) {
    let mut text =
        |field: &str, theirs: &str, normalise: fn(&str) -> String| match str_field(ours, field) {
            Some(o) if normalise(o) == normalise(theirs) => {}
            o => d.note(what, field, o, theirs),
        };
    let same = |s: &str| s.to_string();
    text("subject", &f.subject, same);
    text("issuer", &f.issuer, same);
    text("subject_hash", &f.subject_hash, same);
    text("subject_hash_old", &f.subject_hash_old, same);
    text("issuer_hash", &f.issuer_hash, same);
    if full {
        text("serial", &f.serial, same);
        text("sha256_fingerprint", &f.sha256, |s| {
            s.replace(':', "").to_ascii_uppercase()
        });
        text("key_type", &f.key_type, same);
    }
    for (field, oneline) in [
        ("subject_sendmail", &f.subject),
        ("issuer_sendmail", &f.issuer),
    ] {
        if let Some(expected) = sendmail_form(oneline) {
            let o = str_field(ours, field);
            if o != Some(expected.as_str()) {
                d.note(
                    what,
                    field,
                    o,
                    format!("{expected} (docs/sendmail.md §2 from {oneline:?})"),
                );
            }
        }
    }
    if !full {
        return;
    }
    for (field, theirs) in [("not_before", &f.not_before), ("not_after", &f.not_after)] {
        let o = str_field(ours, field);
        let ok = match (o.and_then(parse_instant), parse_instant(theirs)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        if !ok {
            d.note(what, field, o, theirs);
        }
    }
    match ours.get("is_ca").and_then(Value::as_bool) {
        Some(b) if b == f.is_ca => {}
        o => d.note(what, "is_ca", o, f.is_ca),
    }
    let bits = ours.get("key_bits").and_then(Value::as_u64);
    match f.key_bits {
        Some(t) if bits != Some(t) => d.note(what, "key_bits", bits, t),
        None if bits.is_none_or(|b| b == 0) => d.note(what, "key_bits", bits, "(a size)"),
        _ => {}
    }
    let sans: Option<Vec<String>> = ours.get("sans").and_then(Value::as_array).map(|a| {
        a.iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), our_san))
            .collect()
    });
    if sans.as_ref() != Some(&f.sans) {
        d.note(what, "sans", ours.get("sans"), &f.sans);
    }
}

#[test]
fn show_json_matches_openssl_on_name_corpus() {
    let c = corpus();
    let home = tempdir();
    let split = tempdir();
    let table = sendmail_table();
    let mut d = Diffs::new();
    let mut certs = 0;
    for (name, desc) in &c.files {
        let path = c.dir.join(name);
        // "file — description": grouped differences list only the file
        let what = format!("{name} — {desc}");
        // openssl reads one certificate: bundles are split first
        let singles: Vec<(PathBuf, bool)> = if is_der_name(name) {
            vec![(path.clone(), true)]
        } else {
            let text = std::fs::read_to_string(&path).expect("corpus PEM is text");
            pem_blocks(&text)
                .into_iter()
                .enumerate()
                .map(|(i, block)| {
                    let p = split.path().join(format!("{name}.{i}.pem"));
                    std::fs::write(&p, block).expect("write split PEM");
                    (p, false)
                })
                .collect()
        };
        let ours = match our_json(home.path(), &path) {
            Ok(a) => a,
            Err(e) => {
                d.note(&what, "show", e, "(success)");
                continue;
            }
        };
        if ours.len() != singles.len() {
            d.note(&what, "number of certificates", ours.len(), singles.len());
        }
        for (i, ((single, der), obj)) in singles.iter().zip(&ours).enumerate() {
            certs += 1;
            let what = if singles.len() > 1 {
                format!("{name} [certificate {i}] — {desc}")
            } else {
                what.clone()
            };
            match openssl_facts(single, *der) {
                Ok(f) => compare(&mut d, &what, obj, &f, true),
                Err(e) => d.note(&what, "openssl", "", e),
            }
        }
        for (file, expected) in &table {
            if file == name {
                let o = ours.first().and_then(|o| str_field(o, "subject_sendmail"));
                if o != Some(expected.as_str()) {
                    d.note(
                        &what,
                        "subject_sendmail (docs/sendmail.md table)",
                        o,
                        expected,
                    );
                }
            }
        }
    }
    for (file, _) in &table {
        assert!(
            c.files.iter().any(|(f, _)| f == file),
            "the corpus lacks {file}"
        );
    }
    assert!(certs >= 60, "only {certs} certificates compared");
    d.fail_if_any(&format!(
        "show --json vs openssl on {certs} corpus certificates"
    ));
}

/// Without `--json`, every corpus file prints (the format is free).
#[test]
fn show_text_prints_every_corpus_file() {
    let c = corpus();
    let home = tempdir();
    let mut d = Diffs::new();
    for (name, desc) in &c.files {
        let out = run(studio(home.path()).arg("show").arg(c.dir.join(name)));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || out.stdout.is_empty() || stderr.contains("panicked") {
            d.note(
                &format!("{name} — {desc}"),
                "show (text)",
                (out.status.code(), stderr),
                "(success, output)",
            );
        }
    }
    d.fail_if_any("show (text) on the corpus");
}

/// The derivation used above must reproduce the docs/sendmail.md table from
/// openssl's own one-line forms (checks the test, not the binary).
#[test]
fn sendmail_rules_reproduce_the_sendmail_md_table() {
    let c = corpus();
    let mut d = Diffs::new();
    for (file, expected) in sendmail_table() {
        let f =
            openssl_facts(&c.dir.join(file), is_der_name(file)).expect("openssl reads the corpus");
        // (None: over 255 with an escaped `/` or `+`, the table is the only check)
        if let Some(derived) = sendmail_form(&f.subject) {
            if derived != expected {
                d.note(
                    file,
                    "derived from openssl's one-line form",
                    derived,
                    &expected,
                );
            }
        }
    }
    d.fail_if_any("docs/sendmail.md §2 rules vs table");
}

#[test]
fn show_json_matches_openssl_on_system_ca_store() {
    let dir = Path::new("/etc/ssl/certs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "pem"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    assert!(
        !files.is_empty(),
        "no /etc/ssl/certs/*.pem: the system CA store is missing (scripts/setup installs ca-certificates)"
    );
    let home = tempdir();
    let mut d = Diffs::new();
    for path in &files {
        let what = path.display().to_string();
        let f = match openssl_facts(path, false) {
            Ok(f) => f,
            Err(e) => {
                d.note(&what, "openssl", "", e);
                continue;
            }
        };
        match our_json(home.path(), path) {
            Ok(a) if a.len() == 1 => compare(&mut d, &what, &a[0], &f, false),
            Ok(a) => d.note(&what, "number of certificates", a.len(), 1),
            Err(e) => d.note(&what, "show", e, "(success)"),
        }
    }
    d.fail_if_any(&format!(
        "show --json vs openssl on {} system CA certificates",
        files.len()
    ));
}

// ---------------------------------------------------------------------------
// Refused input: exit 1, a short message naming the file, never a panic.

fn check_refusal(d: &mut Diffs, what: &str, path: &Path, allow_success: bool) {
    let home = tempdir();
    for json in [false, true] {
        let mut cmd = studio(home.path());
        cmd.arg("show").arg(path);
        if json {
            cmd.arg("--json");
        }
        let out = run(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let what = format!("{what} (show{})", if json { " --json" } else { "" });
        if stderr.contains("panicked") {
            d.note(&what, "stderr", &stderr, "(no panic)");
            continue;
        }
        if allow_success && out.status.success() {
            continue;
        }
        if out.status.code() != Some(1) {
            d.note(&what, "exit status", out.status.code(), 1);
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !stderr.contains(&name) {
            d.note(&what, "stderr names the file", &stderr, name);
        }
        let lines = stderr.lines().filter(|l| !l.trim().is_empty()).count();
        if lines == 0 || lines > 3 {
            d.note(&what, "stderr is a short message", &stderr, "1 to 3 lines");
        }
    }
}

fn refusal(what: &str, path: &Path) {
    let mut d = Diffs::new();
    check_refusal(&mut d, what, path, false);
    d.fail_if_any(&format!("show on {what}"));
}

#[test]
fn show_refuses_text_file() {
    let dir = tempdir();
    let p = dir.path().join("notes.txt");
    std::fs::write(&p, "hello\nthis is not a certificate\n").unwrap();
    refusal("a text file", &p);
}

#[test]
fn show_refuses_corrupt_pem_body() {
    let dir = tempdir();
    let p = dir.path().join("corrupt.pem");
    std::fs::write(
        &p,
        "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n@@@ not base64 @@@\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    refusal("a PEM block with a corrupt body", &p);
}

/// A DER certificate from openssl, cut at `keep` bytes.
fn truncated_der(dir: &Path, keep: fn(usize) -> usize) -> PathBuf {
    let key = dir.join("k.pem");
    let full = dir.join("full.der");
    let out = run(openssl()
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key));
    stdout_of(&out).expect("openssl genpkey");
    let out = run(openssl()
        .args([
            "req",
            "-new",
            "-x509",
            "-subj",
            "/CN=truncated",
            "-days",
            "1",
            "-outform",
            "DER",
        ])
        .arg("-key")
        .arg(&key)
        .arg("-out")
        .arg(&full));
    stdout_of(&out).expect("openssl req");
    let bytes = std::fs::read(&full).unwrap();
    let p = dir.join("truncated.der");
    std::fs::write(&p, &bytes[..keep(bytes.len())]).unwrap();
    p
}

#[test]
fn show_refuses_truncated_der() {
    let dir = tempdir();
    let p = truncated_der(dir.path(), |n| n / 2);
    refusal("a DER certificate cut in half", &p);
    let p = truncated_der(dir.path(), |n| n - 1);
    refusal("a DER certificate missing its last byte", &p);
}

#[test]
fn show_refuses_private_key_pem() {
    let dir = tempdir();
    let p = dir.path().join("server.key");
    let out = run(openssl()
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&p));
    stdout_of(&out).expect("openssl genpkey");
    refusal("a PEM private key", &p);
}

#[test]
fn show_refuses_empty_file() {
    let dir = tempdir();
    let p = dir.path().join("empty.pem");
    std::fs::write(&p, "").unwrap();
    refusal("an empty file", &p);
}

#[test]
fn show_refuses_missing_file() {
    let dir = tempdir();
    refusal("a missing file", &dir.path().join("no-such-file.pem"));
}

#[test]
fn show_refuses_directory() {
    let dir = tempdir();
    let p = dir.path().join("a-directory.pem");
    std::fs::create_dir(&p).unwrap();
    refusal("a directory", &p);
}

/// Certificates openssl itself cannot load (VisibleString, GeneralString …
/// in a name; invalid UTF-8; odd-length BMPString): no oracle, but `show`
/// must either print them or refuse them like any bad input — never crash.
#[test]
fn show_handles_certificates_openssl_rejects() {
    let c = corpus();
    let mut d = Diffs::new();
    assert!(!c.rejected.is_empty(), "the corpus has no rejected/ files");
    for (name, desc) in &c.rejected {
        check_refusal(
            &mut d,
            &format!("rejected/{name} ({desc})"),
            &c.dir.join("rejected").join(name),
            true,
        );
    }
    d.fail_if_any("show on certificates openssl rejects");
}
