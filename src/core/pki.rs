//! Key generation and signing: the private CA, host certificates and the
//! CRL. Pure in the rcgen sense: returns PEM strings, never decides where
//! files go (that is `store`).

use super::cert::CertInfo;
use super::fqdn::{self, SanName};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
    RevocationReason, RevokedCertParams, SerialNumber,
};
use std::fmt;
use std::str::FromStr;
use time::{Duration, OffsetDateTime};

/// Key algorithms offered for the CA and host certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum KeyKind {
    /// sendmail peers expect RSA; the default.
    #[default]
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl KeyKind {
    pub const ALL: [KeyKind; 6] = [
        KeyKind::Rsa2048,
        KeyKind::Rsa3072,
        KeyKind::Rsa4096,
        KeyKind::EcdsaP256,
        KeyKind::EcdsaP384,
        KeyKind::Ed25519,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa2048 => "rsa2048",
            KeyKind::Rsa3072 => "rsa3072",
            KeyKind::Rsa4096 => "rsa4096",
            KeyKind::EcdsaP256 => "ecdsa-p256",
            KeyKind::EcdsaP384 => "ecdsa-p384",
            KeyKind::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        KeyKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = KeyKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown key kind `{s}` (choose one of {})",
                    names.join(", ")
                )
            })
    }
}

/// Why a signing operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkiError {
    /// The key could not be generated or read.
    Key(String),
    /// The CA certificate cannot sign (not a CA, unreadable, name we cannot
    /// reproduce byte for byte).
    Ca(String),
    /// A name or parameter the user gave is not acceptable.
    Input(String),
    /// rcgen refused to build the certificate.
    Sign(String),
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiError::Key(m) => write!(f, "key: {m}"),
            PkiError::Ca(m) => write!(f, "CA: {m}"),
            PkiError::Input(m) => f.write_str(m),
            PkiError::Sign(m) => write!(f, "signing failed: {m}"),
        }
    }
}

impl std::error::Error for PkiError {}

/// A certificate with its private key, both PEM.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    /// Things the user should know (validity capped, name normalised…).
    pub notes: Vec<String>,
}

impl fmt::Debug for Issued {
    // Never print private keys, not even in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<private key>")
            .field("notes", &self.notes)
            .finish()
    }
}

/// Generates a new key of the given kind.
pub fn generate_key(kind: KeyKind) -> Result<KeyPair, PkiError> {
    let key = match kind {
        KeyKind::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        KeyKind::Rsa3072 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
        }
        KeyKind::Rsa4096 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
        }
        KeyKind::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyKind::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyKind::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
    };
    key.map_err(|e| PkiError::Key(e.to_string()))
}

/// Reads a private key in PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE
/// KEY`) or SEC1 (`EC PRIVATE KEY`). Encrypted keys are refused.
pub fn read_key(pem_text: &str) -> Result<KeyPair, PkiError> {
    if pem_text.contains("ENCRYPTED") {
        return Err(PkiError::Key(
            "the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)".into(),
        ));
    }
    KeyPair::from_pem(pem_text)
        .map_err(|e| PkiError::Key(format!("cannot read the private key ({e})")))
}

/// A random positive 128-bit serial (RFC 5280 allows up to 20 octets; the
/// second-highest bit is set so every serial has the same length).
pub fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| PkiError::Key("no randomness available".into()))?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&b))
}

fn validity(
    params: &mut CertificateParams,
    now: OffsetDateTime,
    days: u32,
) -> Result<(), PkiError> {
    if days == 0 || days > 36_500 {
        return Err(PkiError::Input(format!(
            "--days {days} is out of range (1 to 36500)"
        )));
    }
    // An hour of slack for peers whose clocks are slightly behind.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(days));
    Ok(())
}

/// Creates a self-signed CA: basicConstraints CA:TRUE (critical), keyUsage
/// keyCertSign + cRLSign (critical), subject key identifier.
pub fn create_ca(
    cn: &str,
    kind: KeyKind,
    days: u32,
    now: OffsetDateTime,
) -> Result<Issued, PkiError> {
    let cn = cn.trim();
    if cn.is_empty() {
        return Err(PkiError::Input(
            "the CA name (--cn) must not be empty".into(),
        ));
    }
    if cn.len() > 64 {
        return Err(PkiError::Input(format!(
            "the CA name is {} characters long; X.509 allows at most 64 in a CN",
            cn.len()
        )));
    }
    if cn.chars().any(char::is_control) {
        return Err(PkiError::Input(
            "the CA name must not contain control characters".into(),
        ));
    }
    let key = generate_key(kind)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial()?);
    validity(&mut params, now, days)?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| PkiError::Sign(e.to_string()))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        notes: Vec::new(),
    })
}

/// A CA ready to sign: its certificate and key.
pub struct SigningCa {
    pub info: CertInfo,
    key: KeyPair,
}

impl SigningCa {
    /// Checks that the certificate is a CA, that the key belongs to it, and
    /// that certificates it signs will name it byte for byte as issuer.
    pub fn new(cert_der: &[u8], key_pem: &str) -> Result<Self, PkiError> {
        let info = CertInfo::from_der(cert_der).map_err(PkiError::Ca)?;
        if !info.is_ca {
            return Err(PkiError::Ca(format!(
                "{} is not a CA certificate (basicConstraints CA:TRUE missing)",
                info.subject
            )));
        }
        let key = read_key(key_pem)?;
        let (_, x509) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| PkiError::Ca(e.to_string()))?;
        if x509.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(PkiError::Ca(
                "the private key does not belong to the CA certificate".into(),
            ));
        }
        let ca = SigningCa { info, key };
        // rcgen re-encodes the issuer name; make sure it comes out identical,
        // or OpenSSL would not find the issuer of what we sign. (Dated at
        // the CA's own start: only the names matter, and core reads no clock.)
        let probe = ca.sign_host(
            &["probe.invalid".to_string()],
            KeyKind::EcdsaP256,
            1,
            OffsetDateTime::from_unix_timestamp(ca.info.not_before_unix)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )?;
        let probe_info = CertInfo::from_der(&probe.cert_der).map_err(PkiError::Ca)?;
        if probe_info.issuer != ca.info.subject || probe_info.issuer_hash != ca.info.subject_hash {
            return Err(PkiError::Ca(format!(
                "cannot reproduce the CA name {} exactly (multi-valued or repeated attributes, or unusual string types); \
                 certificates signed with it would not verify",
                ca.info.subject
            )));
        }
        Ok(ca)
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        let subject_der = crate::core::rehash::cert_subject(&self.info.der)
            .map_err(|e| PkiError::Ca(e.to_string()))?;
        let name =
            crate::core::dn::Name::parse(subject_der).map_err(|e| PkiError::Ca(e.to_string()))?;
        // rcgen panics on an empty RDN; refuse such a name before it sees it.
        let mut sets: Vec<usize> = name.entries.iter().map(|e| e.set).collect();
        sets.dedup();
        if sets.len() != sets.iter().copied().max().map_or(0, |m| m + 1) {
            return Err(PkiError::Ca("the CA name has an empty RDN".into()));
        }
        Issuer::from_ca_cert_der(&self.info.der.clone().into(), &self.key)
            .map_err(|e| PkiError::Ca(format!("cannot sign with this CA ({e})")))
    }

    /// Signs a host certificate for `names[0]` (CN and first SAN) with the
    /// other names as extra SANs: EKU serverAuth + clientAuth, because
    /// sendmail uses one certificate in both directions.
    pub fn sign_host(
        &self,
        names: &[String],
        kind: KeyKind,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let key = generate_key(kind)?;
        self.sign_host_key(names, key, days, now)
    }

    /// [`SigningCa::sign_host`] for an existing key (a renewal that keeps
    /// the key, so a published DANE 3 1 1 record stays true).
    pub fn sign_host_key(
        &self,
        names: &[String],
        key: KeyPair,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let fqdn = names
            .first()
            .ok_or_else(|| PkiError::Input("a host certificate needs a name".into()))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, fqdn.as_str());
        params.distinguished_name = dn;
        let mut sans = Vec::new();
        for n in names {
            let san = match fqdn::parse_san(n).map_err(PkiError::Input)? {
                SanName::Dns(d) => rcgen::SanType::DnsName(
                    d.try_into()
                        .map_err(|_| PkiError::Input(format!("`{n}` is not ASCII")))?,
                ),
                SanName::Ip(ip) => rcgen::SanType::IpAddress(ip),
            };
            if !sans.contains(&san) {
                sans.push(san);
            }
        }
        params.subject_alt_names = sans;
        let notes = self.host_profile(&mut params, days, now)?;
        let cert = params
            .signed_by(&key, &self.issuer()?)
            .map_err(|e| PkiError::Sign(e.to_string()))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            notes,
        })
    }

    /// What every host certificate this CA signs gets: not a CA,
    /// digitalSignature + keyEncipherment, EKU serverAuth + clientAuth
    /// (sendmail uses one certificate both ways), AKID, a random serial, and
    /// a validity capped at the CA's own expiry (with a note then).
    fn host_profile(
        &self,
        params: &mut CertificateParams,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, PkiError> {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        validity(params, now, days)?;
        let mut notes = Vec::new();
        let ca_end = OffsetDateTime::from_unix_timestamp(self.info.not_after_unix)
            .unwrap_or(params.not_after);
        if params.not_after > ca_end {
            params.not_after = ca_end;
            notes.push(format!(
                "validity capped at the CA's expiry ({}): a certificate cannot outlive its CA",
                self.info.not_after
            ));
        }
        Ok(notes)
    }

    /// Signs a partner's certificate request (PEM or DER): its signature
    /// must verify; its CN (else its first DNS SAN) and every DNS SAN must
    /// be host names (no wildcards: a relay rule names one host); the
    /// certificate gets those names, the request's other subject
    /// attributes, EKU clientAuth + serverAuth (sendmail uses one
    /// certificate both ways), AKID and a random serial. Requested
    /// extensions other than names are not copied: the CA decides them.
    /// Returns the certificate (no key: the partner keeps it).
    pub fn sign_csr(&self, csr: &[u8], days: u32, now: OffsetDateTime) -> Result<Issued, PkiError> {
        let der = if crate::core::pem::looks_like_pem(csr) {
            crate::core::pem::parse(csr)
                .map_err(|e| PkiError::Input(format!("the request is not readable PEM: {e}")))?
                .into_iter()
                .find(|b| b.label == "CERTIFICATE REQUEST" || b.label == "NEW CERTIFICATE REQUEST")
                .ok_or_else(|| PkiError::Input("no CERTIFICATE REQUEST block in the file".into()))?
                .der
        } else {
            csr.to_vec()
        };
        // The names, read ourselves (rcgen refuses extensions it does not
        // know; the signature check comes first there).
        use x509_parser::prelude::FromDer;
        let (_, req) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
            .map_err(|_| PkiError::Input("not a certificate request (PKCS#10)".into()))?;
        req.verify_signature().map_err(|_| {
            PkiError::Input("the request's signature does not verify: it was changed after it was made, or is damaged".into())
        })?;
        let info = &req.certification_request_info;
        let cn = info
            .subject
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .map(str::to_string);
        let mut dns: Vec<String> = Vec::new();
        if let Some(exts) = req.requested_extensions() {
            for e in exts {
                if let x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san) = e {
                    for n in &san.general_names {
                        match n {
                            x509_parser::extensions::GeneralName::DNSName(d) => dns.push(d.to_string()),
                            other => {
                                return Err(PkiError::Input(format!(
                                    "the request asks for the name {other}: only host names (DNS) are signed"
                                )))
                            }
                        }
                    }
                }
            }
        }
        let first = cn.clone().or_else(|| dns.first().cloned()).ok_or_else(|| {
            PkiError::Input("the request names no host: no CN and no DNS subjectAltName".into())
        })?;
        let mut names = vec![first.clone()];
        for d in &dns {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(d)) {
                names.push(d.clone());
            }
        }
        for n in &names {
            if n.contains('*') {
                return Err(PkiError::Input(format!(
                    "the request asks for the wildcard `{n}`: a relay rule names one host, so each host gets its own certificate"
                )));
            }
            fqdn::parse_fqdn(n)
                .map_err(|m| PkiError::Input(format!("the request's name `{n}`: {m}")))?;
        }
        // The request's subject and key, through rcgen's own parse.
        let parsed = rcgen::CertificateSigningRequestParams::from_der(&der.clone().into()).map_err(|_| {
            PkiError::Input(
                "the request carries extensions this CA does not take; make it with only subjectAltName (openssl req -addext subjectAltName=DNS:HOST)".into(),
            )
        })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = parsed.params.distinguished_name.clone();
        if cn.is_none() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.subject_alt_names = names
            .iter()
            .map(|n| {
                n.clone()
                    .try_into()
                    .map(rcgen::SanType::DnsName)
                    .map_err(|_| PkiError::Input(format!("`{n}` is not ASCII")))
            })
            .collect::<Result<_, _>>()?;
        let notes = self.host_profile(&mut params, days, now)?;
        let signed = rcgen::CertificateSigningRequestParams {
            params,
            public_key: parsed.public_key,
        }
        .signed_by(&self.issuer()?)
        .map_err(|e| PkiError::Sign(e.to_string()))?;
        Ok(Issued {
            cert_pem: signed.pem(),
            key_pem: String::new(),
            cert_der: signed.der().to_vec(),
            notes,
        })
    }

    /// Signs a CRL listing `revoked` (serial bytes, revocation time).
    pub fn sign_crl(
        &self,
        revoked: &[(Vec<u8>, OffsetDateTime)],
        crl_number: u64,
        now: OffsetDateTime,
        next_update_days: u32,
    ) -> Result<String, PkiError> {
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + Duration::days(i64::from(next_update_days.max(1))),
            crl_number: SerialNumber::from_slice(&crl_number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|(serial, when)| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: *when,
                    reason_code: Some(RevocationReason::Superseded),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.issuer()?)
            .map_err(|e| PkiError::Sign(e.to_string()))?;
        crl.pem().map_err(|e| PkiError::Sign(e.to_string()))
    }
}

/// A DER time for X.509: UTCTime until 2049, GeneralizedTime after
/// (RFC 5280 §4.1.2.5).
fn x509_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut out = Vec::new();
    if t.year() < 2050 {
        let s = format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            t.year() % 100,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        super::der::write_tlv(&mut out, 0x17, s.as_bytes());
    } else {
        let s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        super::der::write_tlv(&mut out, 0x18, s.as_bytes());
    }
    out
}

/// The signature algorithm OIDs (dotted) rcgen signs with, by key.
fn signature_oid(key: &KeyPair) -> Option<&'static str> {
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_RSA_SHA256 {
        Some("1.2.840.113549.1.1.11")
    } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Some("1.2.840.10045.4.3.2")
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        Some("1.2.840.10045.4.3.3")
    } else if alg == &rcgen::PKCS_ED25519 {
        Some("1.3.101.112")
    } else {
        None
    }
}

/// `ca renew`: the CA certificate again, with the same key, subject,
/// extensions (so the subject key identifier, and every issued
/// certificate's authority key identifier, stay as they are), a new serial
/// and the validity `now - 1h` … `now + days`. The TBS is the old one with
/// only those two fields replaced, so the subject's bytes cannot change.
pub fn renew_ca(
    cert_der: &[u8],
    key_pem: &str,
    days: u32,
    now: OffsetDateTime,
) -> Result<String, PkiError> {
    use super::der::{children, read_whole, write_tlv};
    if days == 0 || days > 36_500 {
        return Err(PkiError::Input(format!(
            "--days {days} is out of range (1 to 36500)"
        )));
    }
    let bad = |m: &str| PkiError::Ca(format!("the CA certificate cannot be re-signed: {m}"));
    let key = read_key(key_pem)?;
    let cert = read_whole(cert_der, 0x30, "not a certificate").map_err(|e| bad(&e.to_string()))?;
    let parts: Vec<_> = children(cert.content)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&e.to_string()))?;
    let [tbs, outer_alg, _sig] = parts.as_slice() else {
        return Err(bad("not three parts"));
    };
    let fields: Vec<_> = children(tbs.content)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&e.to_string()))?;
    // [0] version, serial, signature, issuer, validity, subject, spki, …
    let (v, rest) = match fields.first() {
        Some(f) if f.tag == 0xa0 => (Some(f), &fields[1..]),
        _ => (None, &fields[..]),
    };
    if rest.len() < 6 {
        return Err(bad("its TBS is too short"));
    }
    let alg_oid = children(rest[1].content)
        .next()
        .and_then(|r| r.ok())
        .and_then(|o| super::der::oid_to_dotted(o.content));
    let want = signature_oid(&key)
        .ok_or_else(|| bad("this key's signature algorithm is not one rcgen signs with"))?;
    if alg_oid.as_deref() != Some(want) || outer_alg.raw != rest[1].raw {
        return Err(bad(&format!(
            "it is signed with {} and this key signs with {want}; issue a new CA instead",
            alg_oid.unwrap_or_default()
        )));
    }
    let serial = random_serial()?;
    let mut new_tbs_content = Vec::new();
    if let Some(v) = v {
        new_tbs_content.extend_from_slice(v.raw);
    }
    write_tlv(&mut new_tbs_content, 0x02, serial.as_ref());
    new_tbs_content.extend_from_slice(rest[1].raw);
    new_tbs_content.extend_from_slice(rest[2].raw);
    let mut validity = x509_time(now - Duration::hours(1));
    validity.extend(x509_time(now + Duration::days(i64::from(days))));
    write_tlv(&mut new_tbs_content, 0x30, &validity);
    for f in &rest[4..] {
        new_tbs_content.extend_from_slice(f.raw);
    }
    let mut new_tbs = Vec::new();
    write_tlv(&mut new_tbs, 0x30, &new_tbs_content);
    let sig = rcgen::SigningKey::sign(&key, &new_tbs)
        .map_err(|e| PkiError::Key(format!("signing failed: {e}")))?;
    let mut bits = vec![0u8];
    bits.extend(sig);
    let mut body = new_tbs;
    body.extend_from_slice(outer_alg.raw);
    write_tlv(&mut body, 0x03, &bits);
    let mut out = Vec::new();
    write_tlv(&mut out, 0x30, &body);
    // What was made must be a CA this key signs, as before.
    SigningCa::new(&out, key_pem)?;
    Ok(super::pem::encode("CERTIFICATE", &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_and_host_certificate() {
        let now = OffsetDateTime::now_utc();
        let ca = create_ca("Test CA", KeyKind::EcdsaP256, 30, now).unwrap();
        let signing = SigningCa::new(&ca.cert_der, &ca.key_pem).unwrap();
        assert!(signing.info.is_ca);
        let host = signing
            .sign_host(
                &["mx.example.org".into(), "127.0.0.1".into()],
                KeyKind::EcdsaP256,
                365,
                now,
            )
            .unwrap();
        let info = CertInfo::from_der(&host.cert_der).unwrap();
        assert_eq!(info.subject, "/CN=mx.example.org");
        assert_eq!(info.issuer, "/CN=Test CA");
        assert_eq!(info.issuer_hash, signing.info.subject_hash);
        assert_eq!(
            info.sans,
            vec!["mx.example.org".to_string(), "IP:127.0.0.1".into()]
        );
        assert_eq!(
            info.extended_key_usage,
            vec!["serverAuth".to_string(), "clientAuth".into()]
        );
        assert!(!info.is_ca);
        assert_eq!(host.notes.len(), 1, "365 days outlive a 30-day CA: capped");
        assert!(!format!("{host:?}").contains("PRIVATE"));
    }

    #[test]
    fn wrong_key_is_refused() {
        let now = OffsetDateTime::now_utc();
        let a = create_ca("A", KeyKind::EcdsaP256, 30, now).unwrap();
        let b = create_ca("B", KeyKind::EcdsaP256, 30, now).unwrap();
        assert!(matches!(
            SigningCa::new(&a.cert_der, &b.key_pem),
            Err(PkiError::Ca(_))
        ));
    }

    #[test]
    fn key_kind_names() {
        for k in KeyKind::ALL {
            assert_eq!(k.name().parse::<KeyKind>().unwrap(), k);
        }
        assert!("rsa1024".parse::<KeyKind>().is_err());
    }
}
