//! The certificate model shown by `show` and the GUI: names in OpenSSL's and
//! sendmail's forms, hashes, validity, key and extensions. Pure: bytes in,
//! values out.

use super::der::{self, tag};
use super::dn::{format_hash, Name};
use super::pem;
use serde::Serialize;
use std::fmt;
use x509_parser::prelude::*;

/// Why certificate input was refused, in terms of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertError {
    /// No certificate in the input (nothing, or only other PEM blocks).
    NoCertificate { found: Vec<String> },
    /// The PEM armour is broken.
    Pem(pem::PemError),
    /// The DER of certificate number `index` (1-based) is broken.
    Der { index: usize, what: String },
    /// A PKCS#12 bundle (`.p12`/`.pfx`): a certificate with its key,
    /// usually encrypted; OpenSSL extracts the PEM.
    Pkcs12,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::NoCertificate { found } if found.is_empty() => f.write_str(
                "no certificate found (expected PEM `-----BEGIN CERTIFICATE-----` or DER)",
            ),
            CertError::NoCertificate { found } => write!(
                f,
                "no certificate found, only PEM blocks labelled {}",
                found.join(", ")
            ),
            CertError::Pem(e) => write!(f, "bad PEM: {e}"),
            CertError::Der { index, what } => {
                write!(f, "certificate #{index} is not valid DER: {what}")
            }
            CertError::Pkcs12 => f.write_str(
                "this is a PKCS#12 bundle (.p12/.pfx: a certificate with its private key), not a certificate; \
                 extract the certificate with `openssl pkcs12 -in FILE -clcerts -nokeys -out cert.pem` \
                 (and the key with `openssl pkcs12 -in FILE -nocerts -noenc -out key.pem`)",
            ),
        }
    }
}

impl std::error::Error for CertError {}

/// PEM labels OpenSSL reads as a certificate.
pub fn is_cert_label(label: &str) -> bool {
    matches!(
        label,
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
    )
}

/// The certificates in a file's bytes: every certificate PEM block in file
/// order, or the file as one DER certificate. Other PEM blocks (keys, CRLs)
/// are skipped.
pub fn certificates_in(data: &[u8]) -> Result<Vec<Vec<u8>>, CertError> {
    if pem::looks_like_pem(data) {
        let blocks = pem::parse(data).map_err(CertError::Pem)?;
        let mut found = Vec::new();
        let mut certs = Vec::new();
        for b in blocks {
            if is_cert_label(&b.label) {
                // A TRUSTED CERTIFICATE is the certificate followed by
                // OpenSSL's trust settings: keep the certificate only.
                let cert = der::read_tlv(&b.der)
                    .map(|(t, _)| t.raw.to_vec())
                    .map_err(|e| CertError::Der {
                        index: certs.len() + 1,
                        what: e.to_string(),
                    })?;
                certs.push(cert);
            } else {
                found.push(b.label);
            }
        }
        if certs.is_empty() {
            return Err(CertError::NoCertificate { found });
        }
        Ok(certs)
    } else if data.first() == Some(&tag::SEQUENCE) {
        let t = der::read_whole(data, tag::SEQUENCE, "not a DER SEQUENCE").map_err(|e| {
            CertError::Der {
                index: 1,
                what: e.to_string(),
            }
        })?;
        // A certificate starts with its tbsCertificate SEQUENCE; a PKCS#12
        // PFX with its version, INTEGER 3 (RFC 7292).
        if t.content.starts_with(&[tag::INTEGER, 0x01, 0x03]) {
            return Err(CertError::Pkcs12);
        }
        Ok(vec![t.raw.to_vec()])
    } else {
        Err(CertError::NoCertificate { found: Vec::new() })
    }
}

/// Everything `show` reports about one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    /// One-line form (`openssl x509 -subject -nameopt compat`).
    pub subject: String,
    pub issuer: String,
    /// `${cert_subject}` / `${cert_issuer}` as sendmail holds them.
    pub subject_sendmail: String,
    pub issuer_sendmail: String,
    /// First CN of the subject, one-line escaped (sendmail's `${cn_subject}`
    /// before `+XX` encoding).
    pub subject_cn: Option<String>,
    pub subject_hash: String,
    pub subject_hash_old: String,
    pub issuer_hash: String,
    pub issuer_hash_old: String,
    /// Upper-case hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// Upper-case, colon-separated, as `openssl x509 -fingerprint` prints it.
    pub sha256_fingerprint: String,
    pub sha1_fingerprint: String,
    /// `rsa`, `rsa-pss`, `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ec`,
    /// `ed25519`, `ed448`, `dsa`, or the algorithm OID.
    pub key_type: String,
    /// Key size as OpenSSL counts it (`EVP_PKEY_get_bits`).
    pub key_bits: u32,
    pub is_ca: bool,
    /// DNS names bare (`mx.example.org`); other kinds prefixed (`IP:…`,
    /// `email:…`, `URI:…`).
    pub sans: Vec<String>,
    /// `serverAuth`, `clientAuth`, … (empty when the extension is absent).
    pub extended_key_usage: Vec<String>,
    pub self_signed: bool,
    pub signature_algorithm: String,
    pub version: u32,
    #[serde(skip)]
    pub not_before_unix: i64,
    #[serde(skip)]
    pub not_after_unix: i64,
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// The parts of a certificate's SubjectPublicKeyInfo a signature check
/// needs: the AlgorithmIdentifier's contents (as rustls compares them) and
/// the public key bits. Works for any certificate version.
pub fn spki_parts(cert_der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, x) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let raw = x.tbs_certificate.subject_pki.raw;
    let spki = crate::core::der::read_whole(raw, crate::core::der::tag::SEQUENCE, "SPKI").ok()?;
    let (alg, rest) = crate::core::der::read_tlv(spki.content).ok()?;
    let (bits, _) = crate::core::der::read_tlv(rest).ok()?;
    let key = bits.content.get(1..)?.to_vec();
    Some((alg.content.to_vec(), key))
}

/// The DANE-EE `3 1 1` association data of a certificate: the SHA-256 of
/// its DER SubjectPublicKeyInfo, lowercase hex (RFC 6698/7671). It stays
/// the same across a renewal that keeps the key.
pub fn tlsa_311(cert_der: &[u8]) -> Option<String> {
    let (_, x) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        x.tbs_certificate.subject_pki.raw,
    );
    Some(d.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// The DANE-EE `3 1 1` association data of a public key (DER
/// SubjectPublicKeyInfo): what [`tlsa_311`] gives for any certificate of
/// that key.
pub fn tlsa_311_spki(spki_der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The DANE-EE record for a host in zone-file form.
pub fn tlsa_record(fqdn: &str, port: u16, cert_der: &[u8]) -> Option<String> {
    let name = fqdn.trim_end_matches('.');
    Some(format!(
        "_{port}._tcp.{name}. IN TLSA 3 1 1 {}",
        tlsa_311(cert_der)?
    ))
}

/// The CRL's nextUpdate (unix seconds and RFC 3339), when it has one.
pub fn crl_next_update(data: &[u8]) -> Option<(i64, String)> {
    let der = if crate::core::pem::looks_like_pem(data) {
        crate::core::pem::parse(data).ok()?.into_iter().next()?.der
    } else {
        data.to_vec()
    };
    let (_, crl) = x509_parser::parse_x509_crl(&der).ok()?;
    let t = crl.next_update()?.to_datetime();
    let text = t
        .format(&::time::format_description::well_known::Rfc3339)
        .ok()?;
    Some((t.unix_timestamp(), text))
}

/// Upper-case hex bytes joined by `sep`.
pub fn hex_upper(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// `i2a_ASN1_INTEGER`: the magnitude in upper-case hex, `00` for zero, a
/// `-` in front of a negative serial.
pub fn serial_string(raw: &[u8]) -> String {
    let negative = raw.first().is_some_and(|&b| b & 0x80 != 0);
    let magnitude: Vec<u8> = if negative {
        // two's complement negation
        let mut m: Vec<u8> = raw.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        m
    } else {
        raw.to_vec()
    };
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let digits = if start == magnitude.len() {
        "00".to_string()
    } else {
        hex_upper(&magnitude[start..], "")
    };
    if negative {
        format!("-{digits}")
    } else {
        digits
    }
}

fn rfc3339(unix: i64) -> String {
    ::time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&::time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn digest_hex(alg: &'static aws_lc_rs::digest::Algorithm, data: &[u8]) -> String {
    hex_upper(aws_lc_rs::digest::digest(alg, data).as_ref(), ":")
}

fn rsa_bits(modulus: &[u8]) -> u32 {
    let start = modulus
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(modulus.len());
    match modulus.get(start) {
        Some(&first) => ((modulus.len() - start) * 8) as u32 - first.leading_zeros(),
        None => 0,
    }
}

/// A public key's algorithm OID and, for EC keys, its named curve's OID.
pub fn key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> (String, Option<String>) {
    let alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    (alg, curve)
}

fn key_type_and_bits(spki: &SubjectPublicKeyInfo<'_>) -> (String, u32) {
    let (alg, curve) = key_algorithm(spki);
    match alg.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER },
            // read directly: x509-parser does not parse RSASSA-PSS keys.
            let bits = der::read_tlv(&spki.subject_public_key.data)
                .ok()
                .and_then(|(seq, _)| der::children(seq.content).next()?.ok())
                .map_or(0, |n| rsa_bits(n.content));
            let name = if alg.ends_with(".10") {
                "rsa-pss"
            } else {
                "rsa"
            };
            (name.into(), bits)
        }
        "1.2.840.10045.2.1" => match curve.as_deref() {
            Some("1.2.840.10045.3.1.7") => ("ecdsa-p256".into(), 256),
            Some("1.3.132.0.34") => ("ecdsa-p384".into(), 384),
            Some("1.3.132.0.35") => ("ecdsa-p521".into(), 521),
            _ => {
                let bits = spki.parsed().map(|k| k.key_size() as u32).unwrap_or(0);
                ("ec".into(), bits)
            }
        },
        // EVP_PKEY_get_bits: 256 for Ed25519 (s_client: "256 bit"), 456 for Ed448.
        "1.3.101.112" => ("ed25519".into(), 256),
        "1.3.101.113" => ("ed448".into(), 456),
        "1.2.840.10040.4.1" => {
            // DSA: the size of p, from the parameters.
            let bits = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| der::children(p.data).next()?.ok())
                .map_or(0, |p| rsa_bits(p.content));
            ("dsa".into(), bits)
        }
        _ => (alg, 0),
    }
}

fn eku_names(eku: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let mut v = Vec::new();
    for (on, name) in [
        (eku.any, "anyExtendedKeyUsage"),
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ] {
        if on {
            v.push(name.to_string());
        }
    }
    v.extend(eku.other.iter().map(|o| o.to_id_string()));
    v
}

fn san_strings(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::RFC822Name(e) => format!("email:{e}"),
            GeneralName::URI(u) => format!("URI:{u}"),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => format!(
                    "IP:{}",
                    std::net::Ipv4Addr::from([ip[0], ip[1], ip[2], ip[3]])
                ),
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(ip);
                    format!("IP:{}", std::net::Ipv6Addr::from(a))
                }
                _ => format!("IP:{}", hex_upper(ip, ":")),
            },
            GeneralName::DirectoryName(n) => match Name::parse(n.as_raw()) {
                Ok(n) => format!("DirName:{}", n.oneline()),
                Err(_) => "DirName:<invalid>".into(),
            },
            GeneralName::RegisteredID(o) => format!("RID:{}", o.to_id_string()),
            GeneralName::OtherName(o, _) => format!("othername:{}", o.to_id_string()),
            _ => "<unsupported>".into(),
        })
        .collect()
}

impl CertInfo {
    /// Reads one DER certificate.
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, String> {
        let (rest, cert) = X509Certificate::from_der(der_bytes).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".into());
        }
        let subject = Name::parse(cert.subject().as_raw()).map_err(|e| format!("subject: {e}"))?;
        let issuer = Name::parse(cert.issuer().as_raw()).map_err(|e| format!("issuer: {e}"))?;
        let subject_hash = subject
            .hash()
            .map_err(|e| format!("subject {e}; OpenSSL refuses such a certificate"))?;
        let issuer_hash = issuer
            .hash()
            .map_err(|e| format!("issuer {e}; OpenSSL refuses such a certificate"))?;
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        let extended_key_usage = match cert.extended_key_usage() {
            Ok(Some(eku)) => eku_names(eku.value),
            _ => Vec::new(),
        };
        let (key_type, key_bits) = key_type_and_bits(cert.public_key());
        let nb = cert.validity().not_before.timestamp();
        let na = cert.validity().not_after.timestamp();
        Ok(CertInfo {
            subject: subject.oneline(),
            issuer: issuer.oneline(),
            subject_sendmail: subject.sendmail(),
            issuer_sendmail: issuer.sendmail(),
            subject_cn: subject.first_cn(),
            subject_hash: format_hash(subject_hash),
            subject_hash_old: format_hash(subject.hash_old()),
            issuer_hash: format_hash(issuer_hash),
            issuer_hash_old: format_hash(issuer.hash_old()),
            serial: serial_string(cert.raw_serial()),
            not_before: rfc3339(nb),
            not_after: rfc3339(na),
            sha256_fingerprint: digest_hex(&aws_lc_rs::digest::SHA256, der_bytes),
            sha1_fingerprint: digest_hex(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der_bytes),
            key_type,
            key_bits,
            is_ca,
            sans: san_strings(&cert),
            extended_key_usage,
            self_signed: subject.der == issuer.der,
            signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
            version: cert.version().0 + 1,
            not_before_unix: nb,
            not_after_unix: na,
            der: der_bytes.to_vec(),
        })
    }

    /// What OpenSSL accepts as a trust anchor and issuer: basicConstraints
    /// CA:TRUE, or a self-signed X.509 v1 certificate (it has no
    /// extensions to say; Debian's own sendmail certificates are such).
    /// `doctor` and `trust` share this one definition.
    pub fn is_trust_anchor(&self) -> bool {
        self.is_ca || (self.version == 1 && self.self_signed)
    }

    /// Whole days from `now` (unix seconds) until expiry; negative when expired.
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after_unix - now).div_euclid(86_400)
    }
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        other => other,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_print_like_openssl() {
        assert_eq!(serial_string(&[0x00]), "00");
        assert_eq!(serial_string(&[0x00, 0x8f, 0x01]), "8F01");
        assert_eq!(serial_string(&[0x01]), "01");
        assert_eq!(serial_string(&[0xff]), "-01");
        assert_eq!(serial_string(&[0xff, 0x00]), "-0100");
    }

    #[test]
    fn rsa_modulus_bits() {
        assert_eq!(rsa_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(rsa_bits(&[0x40, 0, 0]), 23);
        assert_eq!(rsa_bits(&[]), 0);
    }

    #[test]
    fn input_without_certificates() {
        assert!(matches!(
            certificates_in(b"hello"),
            Err(CertError::NoCertificate { .. })
        ));
        let key = pem::encode("PRIVATE KEY", &[0x30, 0x00]);
        match certificates_in(key.as_bytes()) {
            Err(CertError::NoCertificate { found }) => {
                assert_eq!(found, vec!["PRIVATE KEY".to_string()])
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            certificates_in(&[0x30, 0x05, 0x01]),
            Err(CertError::Der { .. })
        ));
    }
}
