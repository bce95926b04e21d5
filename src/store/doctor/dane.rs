//! The doctor's DANE checks: a published TLSA set (from a zone-file
//! excerpt, or as a DNS server answers — the CLI asks) against the key of
//! the certificate sendmail serves.

use super::{finding, manual, Finding, Severity};
use crate::core::dane;
use std::path::Path;

/// `IN TLSA u s m hex` records in a zone-file excerpt (one per line;
/// names, TTLs and comments around them are ignored; the hex may be split
/// by blanks or wrapped in parentheses).
pub fn parse_zone(text: &str) -> Result<Vec<(u8, u8, u8, String)>, String> {
    // Logical lines: a record in parentheses may span several.
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    for (i, line) in text.lines().enumerate() {
        let line = line.split(';').next().unwrap_or("");
        if depth > 0 {
            if let Some(last) = logical.last_mut() {
                last.1.push(' ');
                last.1.push_str(line);
            }
        } else {
            logical.push((i, line.to_string()));
        }
        depth += line.matches('(').count();
        depth = depth.saturating_sub(line.matches(')').count());
    }
    let mut out = Vec::new();
    for (i, line) in &logical {
        let line = line.replace(['(', ')'], " ");
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| w.eq_ignore_ascii_case("TLSA")) else {
            continue;
        };
        let rest = &words[at + 1..];
        let num = |k: usize| rest.get(k).and_then(|w| w.parse::<u8>().ok());
        let (Some(u), Some(s), Some(m)) = (num(0), num(1), num(2)) else {
            return Err(format!(
                "line {}: a TLSA record needs usage, selector and type numbers",
                i + 1
            ));
        };
        let hex: String = rest[3..].concat().to_ascii_lowercase();
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("line {}: the association data is not hex", i + 1));
        }
        out.push((u, s, m, hex));
    }
    Ok(out)
}

/// Findings for `records` published as `name` (`source` says where they
/// were read) against the certificate `served`.
pub fn findings(
    served: &Path,
    served_der: &[u8],
    name: &str,
    source: &str,
    records: &[(u8, u8, u8, String)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(cur) = crate::core::cert::tlsa_311(served_der) else {
        return out;
    };
    if records.is_empty() {
        out.push(finding(
            "tlsa-none",
            Severity::Info,
            Some(served),
            format!("{source} publishes no TLSA records for {name}"),
            "Without TLSA records (and DNSSEC) senders use STARTTLS opportunistically; DANE lets them insist on your key.",
            manual(format!("publish {name}. IN TLSA 3 1 1 {cur} in a DNSSEC-signed zone")),
        ));
        return out;
    }
    let v = dane::judge(records, &cur, None);
    if !v.current {
        out.push(finding(
            "tlsa-mismatch",
            Severity::Error,
            Some(served),
            format!("no TLSA record of {name} ({source}) matches the key sendmail serves ({})", served.display()),
            "A DANE-checking sender (Postfix with smtp_tls_security_level=dane, Exim, …) compares the server's key with the published records and refuses to deliver when none matches: mail from them waits, then bounces.",
            manual(format!("publish {name}. IN TLSA 3 1 1 {cur} (keep the old record two TTLs if a rollover is under way: starttls-studio dane rollover)")),
        ));
    }
    for s in &v.pkix {
        out.push(finding(
            "tlsa-pkix",
            Severity::Warning,
            Some(served),
            format!("{name} publishes a usage 0/1 (PKIX) record: {s}"),
            "RFC 7672 §3.1.3: SMTP clients treat PKIX-TA/PKIX-EE records as unusable (there is no agreed set of public CAs for SMTP); with a private CA they could never match anyway.",
            manual(format!("replace it with {name}. IN TLSA 3 1 1 {cur}")),
        ));
    }
    for s in &v.stale {
        out.push(finding(
            "tlsa-stale",
            Severity::Info,
            Some(served),
            format!("{name} publishes a 3 1 1 record for another key: {s}"),
            "An old key's record (or the next one's, during a rollover). Harmless while a record for the served key is there too.",
            manual("remove it two TTLs after the key it names stopped being served"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_excerpts() {
        let z = "_25._tcp.mx.example.org. 3600 IN TLSA 3 1 1 ( AB cd\n ) ; comment\n; nothing\nfoo IN A 192.0.2.1\n_25._tcp IN TLSA 1 1 1 ee\n";
        assert_eq!(
            parse_zone(z).unwrap(),
            [(3, 1, 1, "abcd".into()), (1, 1, 1, "ee".into())]
        );
        let multi = "x IN TLSA 3 1 1 (\n  ab\n  cd )\n";
        assert_eq!(parse_zone(multi).unwrap(), [(3, 1, 1, "abcd".into())]);
        assert!(parse_zone("x IN TLSA 3 1 x ab").is_err());
        assert!(parse_zone("x IN TLSA 3 1 1 zz").is_err());
    }
}
