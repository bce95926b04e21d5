//! The pure half of `rehash`: which files count, what they hash to, and the
//! link set `openssl rehash` makes for them. `store::rehash` does the I/O.
//!
//! Reading follows OpenSSL's `PEM_X509_INFO_read_bio` as `openssl rehash`
//! uses it: PEM only; a certificate, a CRL and a private key may share one
//! "info" (so a file with a certificate and its key counts as one
//! certificate), and a file counts only when it yields exactly one info.

use super::der::{self, tag};
use super::dn::{format_hash, Name};
use super::pem;

/// What a hash link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Cert,
    Crl,
}

/// A certificate or CRL: the name it is filed under and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedObject {
    pub kind: ObjectKind,
    /// DER of the certificate's subject or the CRL's issuer.
    pub name_der: Vec<u8>,
    /// SHA-1 of the whole DER (what `openssl rehash` compares for duplicates).
    pub fingerprint: [u8; 20],
}

/// What a candidate file turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Object(HashedObject),
    /// OpenSSL skips it with "does not contain exactly one certificate or CRL".
    NotExactlyOne {
        count: usize,
    },
    /// Only a private key (`openssl rehash` counts this as an error).
    KeyOnly,
    /// Broken PEM or DER: OpenSSL's reader fails and the file is skipped.
    Unreadable(String),
}

/// True for `*.pem`, `*.crt`, `*.cer`, `*.crl` in any case (the text after
/// the last dot).
pub fn has_rehash_extension(file_name: &[u8]) -> bool {
    match file_name.iter().rposition(|&b| b == b'.') {
        Some(dot) => {
            let ext = &file_name[dot + 1..];
            [b"pem", b"crt", b"cer", b"crl"]
                .iter()
                .any(|e| ext.eq_ignore_ascii_case(*e))
        }
        None => false,
    }
}

/// Parses a hash link name as `openssl rehash` recognises it: eight hex
/// digits (any case), a dot, an optional `r`, and a decimal number (which
/// may be empty). Returns (hash, is_crl, id).
pub fn parse_link_name(file_name: &[u8]) -> Option<(u32, bool, u64)> {
    if file_name.len() < 9 || file_name[8] != b'.' {
        return None;
    }
    let hex = std::str::from_utf8(&file_name[..8]).ok()?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hash = u32::from_str_radix(hex, 16).ok()?;
    let mut rest = &file_name[9..];
    let crl = matches!(rest.first(), Some(b'r' | b'R'));
    if crl {
        rest = &rest[1..];
    }
    if !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let id = std::str::from_utf8(rest).ok()?.parse::<u64>().unwrap_or(0);
    Some((hash, crl, id))
}

/// The link name for the `id`th object of a hash (`%08x.%s%d`).
pub fn link_name(hash: u32, kind: ObjectKind, id: usize) -> String {
    let r = if kind == ObjectKind::Crl { "r" } else { "" };
    format!("{}.{r}{id}", format_hash(hash))
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}

/// The subject `Name` of a DER certificate, checking the outer structure
/// (Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signature }).
pub fn cert_subject(cert: &[u8]) -> Result<&[u8], der::DerError> {
    let c = der::read_whole(cert, tag::SEQUENCE, "a certificate must be a SEQUENCE")?;
    let (tbs, rest) = der::expect(
        c.content,
        tag::SEQUENCE,
        "tbsCertificate must be a SEQUENCE",
    )?;
    let (_, rest) = der::expect(rest, tag::SEQUENCE, "signatureAlgorithm must be a SEQUENCE")?;
    let (_, rest) = der::expect(rest, tag::BIT_STRING, "signature must be a BIT STRING")?;
    if !rest.is_empty() {
        return Err(der::DerError {
            what: "trailing bytes in the certificate",
        });
    }
    let mut fields = tbs.content;
    let (first, after) = der::read_tlv(fields)?;
    if first.tag == tag::CONTEXT_0 {
        fields = after;
    }
    let (_, fields) = der::expect(fields, tag::INTEGER, "serialNumber must be an INTEGER")?;
    let (_, fields) = der::expect(fields, tag::SEQUENCE, "signature must be a SEQUENCE")?;
    let (_, fields) = der::expect(fields, tag::SEQUENCE, "issuer must be a Name")?;
    let (_, fields) = der::expect(fields, tag::SEQUENCE, "validity must be a SEQUENCE")?;
    let (subject, fields) = der::expect(fields, tag::SEQUENCE, "subject must be a Name")?;
    der::expect(
        fields,
        tag::SEQUENCE,
        "subjectPublicKeyInfo must be a SEQUENCE",
    )?;
    Ok(subject.raw)
}

/// The issuer `Name` of a DER CRL.
pub fn crl_issuer(crl: &[u8]) -> Result<&[u8], der::DerError> {
    let c = der::read_whole(crl, tag::SEQUENCE, "a CRL must be a SEQUENCE")?;
    let (tbs, rest) = der::expect(c.content, tag::SEQUENCE, "tbsCertList must be a SEQUENCE")?;
    let (_, rest) = der::expect(rest, tag::SEQUENCE, "signatureAlgorithm must be a SEQUENCE")?;
    der::expect(rest, tag::BIT_STRING, "signature must be a BIT STRING")?;
    let mut fields = tbs.content;
    let (first, after) = der::read_tlv(fields)?;
    if first.tag == tag::INTEGER {
        fields = after;
    }
    let (_, fields) = der::expect(fields, tag::SEQUENCE, "signature must be a SEQUENCE")?;
    let (issuer, _) = der::expect(fields, tag::SEQUENCE, "issuer must be a Name")?;
    Ok(issuer.raw)
}

#[derive(Default)]
struct Info {
    cert: Option<Vec<u8>>,
    crl: Option<Vec<u8>>,
    key: bool,
}

impl Info {
    fn is_empty(&self) -> bool {
        self.cert.is_none() && self.crl.is_none() && !self.key
    }
}

/// Classifies a candidate file's bytes the way `openssl rehash` does.
pub fn classify(data: &[u8]) -> Classified {
    let blocks = match pem::parse(data) {
        Ok(b) => b,
        Err(e) => return Classified::Unreadable(e.to_string()),
    };
    let mut infos: Vec<Info> = Vec::new();
    let mut cur = Info::default();
    for b in blocks {
        if super::cert::is_cert_label(&b.label) {
            if cur.cert.is_some() {
                infos.push(std::mem::take(&mut cur));
            }
            // TRUSTED CERTIFICATE: the certificate, then trust settings.
            let cert = match der::read_tlv(&b.der) {
                Ok((t, rest)) if b.label == "TRUSTED CERTIFICATE" || rest.is_empty() => {
                    t.raw.to_vec()
                }
                _ => {
                    return Classified::Unreadable(format!(
                        "line {}: the certificate is not valid DER",
                        b.line
                    ))
                }
            };
            if let Err(e) = cert_subject(&cert) {
                return Classified::Unreadable(format!("line {}: not a certificate ({e})", b.line));
            }
            cur.cert = Some(cert);
        } else if b.label == "X509 CRL" {
            if cur.crl.is_some() {
                infos.push(std::mem::take(&mut cur));
            }
            if let Err(e) = crl_issuer(&b.der) {
                return Classified::Unreadable(format!("line {}: not a CRL ({e})", b.line));
            }
            cur.crl = Some(b.der);
        } else if b.label.contains("PRIVATE KEY") {
            if cur.key {
                infos.push(std::mem::take(&mut cur));
            }
            let encrypted = b.has_headers || b.label == "ENCRYPTED PRIVATE KEY";
            if !encrypted && der::read_whole(&b.der, tag::SEQUENCE, "").is_err() {
                return Classified::Unreadable(format!(
                    "line {}: the private key is not valid DER",
                    b.line
                ));
            }
            cur.key = true;
        }
    }
    if !cur.is_empty() {
        infos.push(cur);
    }
    if infos.len() != 1 {
        return Classified::NotExactlyOne { count: infos.len() };
    }
    let info = infos.remove(0);
    // A certificate and a CRL in one info: OpenSSL files it as the certificate.
    if let Some(cert) = info.cert {
        let name = cert_subject(&cert).map(<[u8]>::to_vec).unwrap_or_default();
        return Classified::Object(HashedObject {
            kind: ObjectKind::Cert,
            name_der: name,
            fingerprint: sha1(&cert),
        });
    }
    if let Some(crl) = info.crl {
        let name = crl_issuer(&crl).map(<[u8]>::to_vec).unwrap_or_default();
        return Classified::Object(HashedObject {
            kind: ObjectKind::Crl,
            name_der: name,
            fingerprint: sha1(&crl),
        });
    }
    Classified::KeyOnly
}

/// Which subject hash the links use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashKind {
    /// `X509_NAME_hash` (OpenSSL 1.0.0 and later; what sendmail looks up).
    #[default]
    New,
    /// `X509_NAME_hash_old` (`-old`).
    Old,
}

/// The hash of an object's name; an error when OpenSSL could not load it.
pub fn object_hash(obj: &HashedObject, kind: HashKind) -> Result<u32, String> {
    let name = Name::parse(&obj.name_der).map_err(|e| e.to_string())?;
    match kind {
        HashKind::New => name.hash().map_err(|e| e.to_string()),
        HashKind::Old => {
            // OpenSSL computes the canonical form when it loads a
            // certificate, whichever hash is asked for: a name it cannot
            // canonicalise (invalid UTF-8, BMP surrogates) makes the file
            // unloadable, so the same files count for both kinds.
            name.hash().map_err(|e| e.to_string())?;
            Ok(name.hash_old())
        }
    }
}

/// A file to be linked.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub file_name: Vec<u8>,
    pub kind: ObjectKind,
    pub hash: u32,
    pub fingerprint: [u8; 20],
}

/// A link the directory should have: `name -> target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredLink {
    pub name: String,
    pub target: Vec<u8>,
}

/// What planning found worth telling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanNote {
    Duplicate {
        file_name: Vec<u8>,
        kind: ObjectKind,
        same_as: Vec<u8>,
    },
    /// More than 256 objects share one hash (OpenSSL's `MAX_COLLISIONS`).
    Overflow { file_name: Vec<u8> },
}

/// OpenSSL's `MAX_COLLISIONS`.
pub const MAX_COLLISIONS: usize = 256;

/// The links for `candidates`, which must be in byte order of file names:
/// per (kind, hash), numbered from 0 in that order; a file whose
/// fingerprint was already seen under the same hash is a duplicate.
pub fn plan_links(candidates: &[Candidate]) -> (Vec<DesiredLink>, Vec<PlanNote>) {
    use std::collections::HashMap;
    let mut buckets: HashMap<(ObjectKind, u32), Vec<&Candidate>> = HashMap::new();
    let mut notes = Vec::new();
    let mut links = Vec::new();
    for c in candidates {
        let bucket = buckets.entry((c.kind, c.hash)).or_default();
        if let Some(first) = bucket.iter().find(|o| o.fingerprint == c.fingerprint) {
            notes.push(PlanNote::Duplicate {
                file_name: c.file_name.clone(),
                kind: c.kind,
                same_as: first.file_name.clone(),
            });
            continue;
        }
        if bucket.len() >= MAX_COLLISIONS {
            notes.push(PlanNote::Overflow {
                file_name: c.file_name.clone(),
            });
            continue;
        }
        links.push(DesiredLink {
            name: link_name(c.hash, c.kind, bucket.len()),
            target: c.file_name.clone(),
        });
        bucket.push(c);
    }
    (links, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        for yes in [
            "a.pem", "B.PEM", "c.Crt", "d.cer", "e.crl", "x.y.pem", ".pem",
        ] {
            assert!(has_rehash_extension(yes.as_bytes()), "{yes}");
        }
        for no in ["a.pem.bak", "a", "a.der", "a.txt", "abcdef01.0", "pem"] {
            assert!(!has_rehash_extension(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn link_names() {
        assert_eq!(parse_link_name(b"abcdef01.0"), Some((0xabcdef01, false, 0)));
        assert_eq!(
            parse_link_name(b"ABCDEF01.r12"),
            Some((0xabcdef01, true, 12))
        );
        assert_eq!(parse_link_name(b"abcdef01."), Some((0xabcdef01, false, 0)));
        assert_eq!(parse_link_name(b"abcdef01.pem"), None);
        assert_eq!(parse_link_name(b"abcdef0.0"), None);
        assert_eq!(parse_link_name(b"abcdeg01.0"), None);
        assert_eq!(link_name(0x1f, ObjectKind::Crl, 2), "0000001f.r2");
    }

    #[test]
    fn numbering_and_duplicates() {
        let c = |n: &str, h: u32, fp: u8| Candidate {
            file_name: n.as_bytes().to_vec(),
            kind: ObjectKind::Cert,
            hash: h,
            fingerprint: [fp; 20],
        };
        let (links, notes) = plan_links(&[
            c("A.pem", 1, 1),
            c("B.pem", 1, 2),
            c("C.pem", 1, 1),
            c("D.pem", 2, 3),
        ]);
        let got: Vec<_> = links
            .iter()
            .map(|l| (l.name.as_str(), l.target.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("00000001.0", &b"A.pem"[..]),
                ("00000001.1", b"B.pem"),
                ("00000002.0", b"D.pem")
            ]
        );
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn classify_odd_files() {
        assert_eq!(classify(b""), Classified::NotExactlyOne { count: 0 });
        assert_eq!(classify(b"not pem"), Classified::NotExactlyOne { count: 0 });
        let key = pem::encode("PRIVATE KEY", &[0x30, 0x00]);
        assert_eq!(classify(key.as_bytes()), Classified::KeyOnly);
        let bad = pem::encode("CERTIFICATE", &[0x30, 0x00]);
        assert!(matches!(
            classify(bad.as_bytes()),
            Classified::Unreadable(_)
        ));
    }
}
