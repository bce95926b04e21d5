//! Host names as they go into certificates: validated, lower-cased, IDNs
//! converted to punycode, so that the CN sendmail compares is the name the
//! DNS and `$j` use.

use std::net::IpAddr;

/// A validated fully qualified domain name (ASCII, lower case, no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fqdn {
    pub name: String,
    /// What was changed on the way in (punycode, case, trailing dot).
    pub notes: Vec<String>,
}

/// A subject alternative name given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanName {
    Dns(String),
    Ip(IpAddr),
}

/// Validates a host's FQDN for a certificate. Errors say what is wrong and
/// where.
pub fn parse_fqdn(input: &str) -> Result<Fqdn, String> {
    let mut notes = Vec::new();
    if input.is_empty() {
        return Err("the host name is empty".into());
    }
    if let Some(c) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{}` contains {:?}: a host name has no blanks or control characters",
            input.escape_debug(),
            c
        ));
    }
    if input.parse::<IpAddr>().is_ok() {
        return Err(format!("`{input}` is an IP address; the certificate needs the host's FQDN (add the address with --san)"));
    }
    let mut name = input.to_string();
    if let Some(stripped) = name.strip_suffix('.') {
        if stripped.ends_with('.') || stripped.is_empty() {
            return Err(format!("`{input}` ends with an empty label"));
        }
        notes.push(format!("trailing dot removed: {stripped}"));
        name = stripped.to_string();
    }
    if !name.is_ascii() {
        let ascii = idna::domain_to_ascii(&name)
            .map_err(|_| format!("`{input}` is not a valid internationalised domain name"))?;
        notes.push(format!(
            "internationalised name converted to punycode: {name} -> {ascii}"
        ));
        name = ascii;
    } else if name.bytes().any(|b| b.is_ascii_uppercase()) {
        let lower = name.to_ascii_lowercase();
        notes.push(format!(
            "lower-cased: {lower} (DNS names are case-insensitive)"
        ));
        name = lower;
    }
    check_labels(input, &name, false)?;
    if !name.contains('.') {
        return Err(format!(
            "`{input}` is not fully qualified: give the name with its domain (e.g. {name}.example.org); sendmail uses the FQDN ($j)"
        ));
    }
    Ok(Fqdn { name, notes })
}

fn check_labels(input: &str, name: &str, allow_wildcard: bool) -> Result<(), String> {
    if name.len() > 253 {
        return Err(format!(
            "`{input}` is {} characters long; a domain name has at most 253",
            name.len()
        ));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if label.is_empty() {
            return Err(format!(
                "`{input}` has an empty label (two dots in a row, or a leading dot)"
            ));
        }
        if i == 0 && allow_wildcard && *label == "*" {
            continue;
        }
        if label.len() > 63 {
            return Err(format!(
                "label `{label}` in `{input}` is {} characters long; at most 63 are allowed",
                label.len()
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            let why = if bad == '_' {
                "underscores are not allowed in host names"
            } else {
                "only letters, digits and `-` are allowed"
            };
            return Err(format!(
                "`{input}`: label `{label}` contains `{bad}`: {why}"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "`{input}`: label `{label}` starts or ends with `-`"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "`{input}`: the last label is all digits, which no top-level domain is"
        ));
    }
    Ok(())
}

/// Parses an extra subject alternative name: an IP address, a DNS name, or
/// a wildcard DNS name (`*.example.org`).
pub fn parse_san(input: &str) -> Result<SanName, String> {
    if let Ok(ip) = input.parse::<IpAddr>() {
        return Ok(SanName::Ip(ip));
    }
    if let Some(rest) = input.strip_prefix("*.") {
        let f = parse_fqdn(rest)?;
        return Ok(SanName::Dns(format!("*.{}", f.name)));
    }
    // Single-label names are allowed as extra SANs (e.g. `mx`), not as CN.
    match parse_fqdn(input) {
        Ok(f) => Ok(SanName::Dns(f.name)),
        Err(e) if !input.contains('.') && !input.is_empty() => {
            let lower = input.to_ascii_lowercase();
            check_labels(input, &lower, false).map_err(|_| e)?;
            Ok(SanName::Dns(lower))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        assert_eq!(parse_fqdn("mx.example.org").unwrap().name, "mx.example.org");
        let f = parse_fqdn("MX.Example.ORG.").unwrap();
        assert_eq!(f.name, "mx.example.org");
        assert_eq!(f.notes.len(), 2, "trailing dot and case both noted: {f:?}");
        let idn = parse_fqdn("mx.bücher.example").unwrap();
        assert_eq!(idn.name, "mx.xn--bcher-kva.example");
        assert!(idn.notes[0].contains("punycode"));
    }

    #[test]
    fn bad_names() {
        for bad in [
            "bad_host.example.org",
            "host..example",
            "host.example.org garbage",
            "host.example.org\n",
            "localhost",
            "",
            ".example.org",
            "-a.example.org",
            "a-.example.org",
            "host.example.123",
            "10.0.0.1",
            "a/b.example.org",
        ] {
            assert!(parse_fqdn(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}.example.org", vec!["a".repeat(63); 4].join("."));
        assert!(parse_fqdn(&long).unwrap_err().contains("253"));
        assert!(parse_fqdn(&format!("{}.org", "a".repeat(64)))
            .unwrap_err()
            .contains("63"));
    }

    #[test]
    fn sans() {
        assert_eq!(
            parse_san("192.0.2.1").unwrap(),
            SanName::Ip("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            parse_san("*.Example.org").unwrap(),
            SanName::Dns("*.example.org".into())
        );
        assert_eq!(parse_san("mx").unwrap(), SanName::Dns("mx".into()));
        assert!(parse_san("a b").is_err());
    }
}
