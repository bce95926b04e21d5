//! `access check`: what makemap would refuse and what sendmail would
//! silently ignore or read differently from what the author meant. Each
//! finding has a line, a column, a severity and a message that says what to
//! do.

use super::access::Level;
use super::access::{AccessMap, Entry, LineKind, Rhs, Tag, MAKEMAP_LINE_MAX};
use super::dn;
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem, at a line and column (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
    /// makemap refuses or changes this line, so the database differs from
    /// what the file says (`policy eval` warns about these).
    pub makemap: bool,
}

fn err(line: usize, col: usize, message: String) -> Finding {
    Finding {
        line,
        col,
        severity: Severity::Error,
        message,
        makemap: false,
    }
}

/// An error in how makemap reads the line.
fn makemap_err(line: usize, col: usize, message: String) -> Finding {
    Finding {
        makemap: true,
        ..err(line, col, message)
    }
}
fn warn(line: usize, col: usize, message: String) -> Finding {
    Finding {
        line,
        col,
        severity: Severity::Warning,
        message,
        makemap: false,
    }
}

/// What the check knows besides the file.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// sendmail forms (`${cert_issuer}`) of the CAs in the CA path, when
    /// `--ca-path` was given.
    pub known_issuers: Option<Vec<String>>,
    /// Entries that can never act or that silently weaken a requirement
    /// (a relay value other than RELAY/SUBJECT, bits that are not a
    /// number, a certificate DN not in sendmail's `/…` form) are errors,
    /// as `access check` reports them; `doctor` leaves them warnings
    /// (sendmail runs with such a map).
    pub ineffective_is_error: bool,
}

impl CheckContext {
    /// A warning, or an error when the entry can never act (see
    /// [`CheckContext::ineffective_is_error`]).
    fn ineffective(&self, line: usize, col: usize, message: String) -> Finding {
        if self.ineffective_is_error {
            err(line, col, message)
        } else {
            warn(line, col, message)
        }
    }
}

/// Checks a whole map. Findings come in line order.
pub fn check(map: &AccessMap, ctx: &CheckContext) -> Vec<Finding> {
    let mut out = Vec::new();
    check_duplicates(map, &mut out);
    // Only the entries check_relations looks at.
    let mut typed: Vec<Related> = Vec::new();
    for line in &map.lines {
        let n = line.number;
        let nul = line.raw.contains(&0);
        if nul && line.raw.ends_with(b"\n") {
            out.push(makemap_err(
                n,
                1,
                "the line contains a NUL byte, which hides its end from makemap: it reports \"line too long\" and skips the line; remove the NUL".into(),
            ));
        } else if nul {
            out.push(makemap_err(
                n,
                1,
                "the line contains a NUL byte: makemap ignores everything after it".into(),
            ));
        }
        match &line.kind {
            LineKind::Blank | LineKind::Comment => {}
            LineKind::LeadingSpace => out.push(makemap_err(
                n,
                1,
                "line starts with a blank: makemap refuses it (\"syntax error (leading space)\"); remove the leading blanks, or start it with # to comment it out".into(),
            )),
            LineKind::NoValue { key } => out.push(makemap_err(
                n,
                1,
                format!("`{key}` has no value: makemap refuses it (\"no RHS for LHS\"); add a value such as OK, RELAY or VERIFY"),
            )),
            LineKind::TooLong { len, rest } if *len >= MAKEMAP_LINE_MAX => {
                out.push(makemap_err(
                    n,
                    MAKEMAP_LINE_MAX + 1,
                    format!(
                        "line is {len} bytes; makemap reads at most {} at a time, skips those pieces, and reads the last piece as a line of its own; shorten it",
                        MAKEMAP_LINE_MAX - 1
                    ),
                ));
                if let LineKind::Entry(e) = rest.as_ref() {
                    out.push(warn(n, MAKEMAP_LINE_MAX + 1, format!("makemap stores the tail of this line as the key `{}`", e.key())));
                }
            }
            LineKind::TooLong { .. } => {}
            LineKind::Entry(_) => {}
        }
        if let Some(e) = line.entry() {
            let rhs = e.rhs();
            check_entry(n, e, &rhs, ctx, &mut out);
            if matches!(
                e.tag,
                Tag::TlsClt | Tag::TlsSrv | Tag::CertIssuer | Tag::CertSubject
            ) {
                typed.push(Related {
                    line: n,
                    entry: e,
                    strength: strength(&rhs),
                    subject: rhs == Rhs::Subject,
                });
            }
        }
    }
    check_relations(&typed, &mut out);
    out.sort_by_key(|f| (f.line, f.col));
    out
}

/// Duplicate keys, as makemap reports them (the first entry wins). Found
/// by sorting (64-bit hash of the lookup key, line) pairs — 16 bytes an
/// entry instead of a table of copied keys — and comparing the keys
/// themselves within each run of one hash.
fn check_duplicates(map: &AccessMap, out: &mut Vec<Finding>) {
    use std::hash::{Hash, Hasher};
    let hash = |key: &[u8]| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    };
    let mut seen: Vec<(u64, usize)> = map
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.entry().map(|e| (hash(&e.lookup_key()), i)))
        .collect();
    seen.sort_unstable();
    for run in seen.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        // In file order; each entry against the earlier ones of its run.
        let mut firsts: Vec<(Vec<u8>, usize)> = Vec::new();
        for &(_, i) in run {
            let Some(e) = map.lines[i].entry() else {
                continue;
            };
            let key = e.lookup_key();
            match firsts.iter().find(|(k, _)| *k == key) {
                Some(&(_, first)) => out.push(makemap_err(
                    map.lines[i].number,
                    1,
                    format!("duplicate key `{}` (keys are case-insensitive): makemap refuses it and the entry on line {} wins", e.key(), map.lines[first].number),
                )),
                None => firsts.push((key, i)),
            }
        }
    }
}

fn check_entry(n: usize, e: &Entry, rhs: &Rhs, ctx: &CheckContext, out: &mut Vec<Finding>) {
    let vcol = e.value_col;
    if e.value().ends_with('\r') {
        out.push(makemap_err(
            n,
            vcol + e.value().chars().count() - 1,
            "line ends with a carriage return (a CRLF file?): makemap keeps it in the value, so sendmail does not recognise it; convert the file with dos2unix".into(),
        ));
    } else if e.value().ends_with([' ', '\t'])
        && (e.tag.is_tls() || matches!(e.tag, Tag::CertIssuer | Tag::CertSubject))
    {
        out.push(warn(
            n,
            vcol + e.value().trim_end().chars().count(),
            "trailing blanks are part of the value makemap stores".into(),
        ));
    }
    match &e.tag {
        Tag::Unknown(t) => out.push(warn(
            n,
            1,
            format!("unknown tag `{t}:`: sendmail's rulesets never look it up"),
        )),
        Tag::TlsSrv | Tag::TlsClt | Tag::TlsRcpt => check_tls(n, e, rhs, ctx, out),
        Tag::CertIssuer | Tag::CertSubject => check_dn_entry(n, e, rhs, ctx, out),
        Tag::TryTls if !super::tokens::is_word(&super::tokens::tokenize(e.value()), "NO") => out
            .push(warn(
                n,
                vcol,
                format!(
                    "Try_TLS only acts on NO; `{}` does nothing",
                    e.value().trim_end()
                ),
            )),
        _ => {}
    }
}

fn check_tls(n: usize, e: &Entry, rhs: &Rhs, ctx: &CheckContext, out: &mut Vec<Finding>) {
    let vcol = e.value_col;
    match rhs {
        Rhs::Tls(req) => {
            if let Level::VerifyBits(b) | Level::Encr(b) = &req.level {
                let digits = b.bytes().all(|c| c.is_ascii_digit());
                if !digits || (b.len() > 1 && b.starts_with('0')) {
                    let v = super::tokens::strtol(b);
                    let what = if digits {
                        "has a leading zero (octal)"
                    } else {
                        "is not a plain number"
                    };
                    let message = format!(
                        "bits `{b}` {what}: sendmail reads it as {v}{}",
                        if v <= 0 {
                            ", so the bits check always passes"
                        } else {
                            ""
                        }
                    );
                    out.push(if digits {
                        warn(n, vcol, message)
                    } else {
                        ctx.ineffective(n, vcol, message)
                    });
                }
            }
        }
        _ => {
            let bare = e.target().is_empty();
            let hint = if bare && e.value().split_whitespace().count() > 1 {
                format!(
                    "the blank after `{}:` makes this the bare tag (every peer) with the value `{}`; write `{}:{}` without the blank",
                    e.tag,
                    e.value().trim_end(),
                    e.tag,
                    e.value().trim_end()
                )
            } else {
                format!(
                    "sendmail ignores `{}` (no requirement at all): write [PERM+|TEMP+]VERIFY, VERIFY:bits or ENCR:bits, optionally +CN, +CS:dn, +CI:dn, +CITag:TAG; nothing may follow",
                    e.value().trim_end()
                )
            };
            out.push(err(n, vcol, hint));
        }
    }
}

/// Attribute names that may follow an RDN separator `+2B` in a DN.
fn looks_like_attribute(rest: &str) -> bool {
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    !name.is_empty() && rest[name.len()..].starts_with('=')
}

fn check_dn_entry(n: usize, e: &Entry, rhs: &Rhs, ctx: &CheckContext, out: &mut Vec<Finding>) {
    let dn_text = e.target();
    let col = e.key().len() - dn_text.len() + 1;
    let extra_words = e.value().split_whitespace().count() > 1;
    if dn_text.is_empty() {
        out.push(err(
            n,
            col,
            format!("`{}:` needs a DN right after the colon", e.tag),
        ));
        return;
    }
    if extra_words && !matches!(rhs, Rhs::Relay | Rhs::Subject) {
        out.push(err(
            n,
            col,
            "the DN contains a raw blank: the key ends at it, so this entry never matches; sendmail's form encodes blanks as +20 (use `access add-cert-relay --cert FILE` to write it from the certificate)".to_string(),
        ));
        return;
    }
    if !dn_text.starts_with('/') {
        out.push(ctx.ineffective(
            n,
            col,
            "sendmail's DNs start with `/` (/C=…/O=…/CN=…), so this key never matches; is this the OpenSSL one-line form? (write it from the certificate with `access add-cert-relay --cert FILE`)"
                .into(),
        ));
    }
    // Each character sendmail would have +XX-encoded must not appear raw.
    let bytes = dn_text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            let hex = dn_text.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) {
                out.push(err(n, col + i, "`+` not followed by two hex digits: not sendmail's +XX encoding (a literal + is +2B)".into()));
                return;
            }
            if hex.is_some_and(|h| h.eq_ignore_ascii_case("2B")) {
                let escaped = i >= 3 && dn_text[..i].to_ascii_uppercase().ends_with("+5C");
                if !escaped && !looks_like_attribute(&dn_text[i + 3..]) {
                    out.push(warn(
                        n,
                        col + i,
                        "`+2B` without `+5C` before it is the OpenSSL 1.x form of a `+` in a value; with OpenSSL 3 sendmail sees `+5C+2B`, so this entry would not match (re-create it from the certificate with `access add-cert-relay`)".into(),
                    ));
                }
            }
            i += 3;
            continue;
        }
        if !(b'!'..=b'~').contains(&b) || matches!(b, b'\\' | b'(' | b')' | b'<' | b'>' | b'"') {
            out.push(err(
                n,
                col + i,
                format!("`{}` must be +XX-encoded in sendmail's form (it is +{b:02X}); the entry as written never matches", dn_text[i..].chars().next().unwrap_or('?')),
            ));
            return;
        }
        i += 1;
    }
    match (&e.tag, &rhs) {
        (Tag::CertIssuer, Rhs::Relay | Rhs::Subject) | (Tag::CertSubject, Rhs::Relay) => {}
        (Tag::CertIssuer, _) => out.push(ctx.ineffective(
            n,
            e.value_col,
            format!(
                "relaying by certificate only acts on RELAY or SUBJECT; `{}` does nothing here",
                e.value().trim_end()
            ),
        )),
        (_, _) => out.push(ctx.ineffective(
            n,
            e.value_col,
            format!(
                "CERTSUBJECT only acts on RELAY; `{}` does nothing here",
                e.value().trim_end()
            ),
        )),
    }
    if let (Tag::CertIssuer, Some(known)) = (&e.tag, &ctx.known_issuers) {
        let decoded = |s: &str| dn::xtext_decode(s).map(|b| b.to_ascii_lowercase());
        if !known.iter().any(|k| decoded(k) == decoded(dn_text)) {
            out.push(warn(
                n,
                col,
                "no CA in the CA path has this subject: sendmail verifies certificates only against its CA path, so no verified certificate can have this issuer".into(),
            ));
        }
    }
}

/// Findings that need the whole map: CERTSUBJECT entries nothing reaches,
/// and requirements a more specific entry takes away.
/// What the whole-map checks need of an entry (not its parsed value:
/// a quarter of a million TLS entries are checked in a few bytes each).
struct Related<'a> {
    line: usize,
    entry: &'a Entry,
    /// [`strength`] of its value.
    strength: u8,
    /// The value is SUBJECT.
    subject: bool,
}

fn check_relations(typed: &[Related], out: &mut Vec<Finding>) {
    let any_subject = typed
        .iter()
        .any(|r| r.entry.tag == Tag::CertIssuer && r.subject);
    // Per tag (TLS_Clt, TLS_Srv): lower-cased host -> (line, strength).
    let mut tls: [HashMap<String, (usize, u8)>; 2] = [HashMap::new(), HashMap::new()];
    for r in typed {
        let (n, e) = (&r.line, r.entry);
        if e.tag == Tag::CertSubject && !any_subject {
            out.push(warn(
                *n,
                1,
                "a CERTSUBJECT entry alone does nothing: sendmail looks it up only when the issuer's CERTISSUER entry says SUBJECT".into(),
            ));
        }
        let slot = match e.tag {
            Tag::TlsClt => 0,
            Tag::TlsSrv => 1,
            _ => continue,
        };
        if !e.target().is_empty() {
            tls[slot]
                .entry(e.target().to_ascii_lowercase())
                .or_insert((*n, r.strength));
        }
    }
    for (slot, tag) in [(0, Tag::TlsClt), (1, Tag::TlsSrv)] {
        for (target, (n, own)) in &tls[slot] {
            let mut parent = target.as_str();
            while let Some((_, up)) = parent.split_once('.') {
                parent = up;
                if let Some((pn, pstrength)) = tls[slot].get(parent) {
                    if own < pstrength {
                        out.push(warn(
                            *n,
                            1,
                            format!("{tag}:{target} is weaker than {tag}:{parent} (line {pn}): the more specific entry wins, so {target} is exempt from the stricter requirement"),
                        ));
                    }
                    break;
                }
            }
        }
    }
}

/// A rough order of requirements: none < ENCR < VERIFY < VERIFY:bits.
fn strength(rhs: &Rhs) -> u8 {
    match rhs {
        Rhs::Tls(r) => match r.level {
            Level::Encr(_) => 1,
            Level::Verify => 2,
            Level::VerifyBits(_) => 3,
        },
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(text: &str) -> Vec<(usize, Severity, String)> {
        check(&AccessMap::parse(text.as_bytes()), &CheckContext::default())
            .into_iter()
            .map(|f| (f.line, f.severity, f.message))
            .collect()
    }

    #[test]
    fn clean_map_has_no_findings() {
        let text = "# TLS\nTLS_Clt:client.example.net PERM+VERIFY:128\nTLS_Srv:example.org ENCR:128\nCERTISSUER:/C=US/O=Sendmail+20Peer/CN=x SUBJECT\nCERTSUBJECT:/CN=a+2BOU=b RELAY\nConnect:127.0.0.2 RELAY\n";
        assert_eq!(findings(text), vec![]);
    }

    #[test]
    fn problems_are_found() {
        let f = findings("  lead\nnoval\nTLS_Clt: host VERIFY\nTLS_Clt:a.example VERIFY # c\nTLS_CLT:A.example VERIFY\nCERTISSUER:/O=Studio \"Test\" RELAY\nCERTSUBJECT:/CN=darth+2Bcert RELAY\nTLS_Srv:x.example VERIFY\r\nFoo:bar OK\n");
        let lines: Vec<usize> = f.iter().map(|x| x.0).collect();
        for l in 1..=9 {
            assert!(lines.contains(&l), "line {l} not flagged: {f:#?}");
        }
        assert!(f.iter().any(|x| x.2.contains("bare tag")));
        assert!(f
            .iter()
            .any(|x| x.2.contains("duplicate") && x.2.contains("line 4")));
        assert!(f.iter().any(|x| x.2.contains("raw blank")));
        assert!(f.iter().any(|x| x.2.contains("OpenSSL 1.x")));
        assert!(f.iter().any(|x| x.2.contains("carriage return")));
    }

    #[test]
    fn weaker_specific_entries_are_reported() {
        let f = findings("TLS_Clt:example.org PERM+VERIFY\nTLS_Clt:host.example.org ENCR:128\n");
        assert_eq!(f.len(), 1);
        assert!(f[0].2.contains("exempt"));
    }
}
