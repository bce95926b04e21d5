//! Whether one certificate signed another, and whether a private key
//! belongs to a certificate — the two questions `doctor` asks about a
//! sendmail setup. Pure: DER and PEM in, answers out.

use rcgen::PublicKeyData;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a signature could not be checked (as opposed to: it is wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unchecked(pub String);

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, Unchecked> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| Unchecked(format!("not a certificate ({e})")))
}

/// True when `issuer` (its subject name and public key) signed `cert`.
/// The names must match byte for byte, as OpenSSL's lookup by name requires,
/// and the signature must verify with the issuer's key.
pub fn signed_by(cert: &[u8], issuer: &[u8]) -> Result<bool, Unchecked> {
    use aws_lc_rs::signature as sig;
    let c = parse(cert)?;
    let i = parse(issuer)?;
    if c.issuer().as_raw() != i.subject().as_raw() {
        return Ok(false);
    }
    let spki = i.public_key();
    let (key_alg, curve) = crate::core::cert::key_algorithm(spki);
    let sig_alg = c.signature_algorithm.algorithm.to_id_string();
    let p256 = curve.as_deref() == Some("1.2.840.10045.3.1.7");
    let p384 = curve.as_deref() == Some("1.3.132.0.34");
    let alg: &dyn sig::VerificationAlgorithm = match (sig_alg.as_str(), key_alg.as_str()) {
        ("1.2.840.113549.1.1.11", "1.2.840.113549.1.1.1") => &sig::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", "1.2.840.113549.1.1.1") => &sig::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", "1.2.840.113549.1.1.1") => &sig::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.113549.1.1.5", "1.2.840.113549.1.1.1") => {
            &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        ("1.2.840.10045.4.3.2", _) if p256 => &sig::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.2", _) if p384 => &sig::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", _) if p256 => &sig::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.3", _) if p384 => &sig::ECDSA_P384_SHA384_ASN1,
        ("1.3.101.112", "1.3.101.112") => &sig::ED25519,
        (s, k) => {
            return Err(Unchecked(format!(
                "signature algorithm {s} with a {k} key is not checked here"
            )))
        }
    };
    let key = sig::UnparsedPublicKey::new(alg, &spki.subject_public_key.data[..]);
    Ok(key
        .verify(c.tbs_certificate.as_ref(), &c.signature_value.data[..])
        .is_ok())
}

/// What a key file holds, compared with a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMatch {
    Matches,
    DoesNotMatch,
    /// The key is encrypted (sendmail cannot use it: no one types a
    /// passphrase when the daemon starts).
    Encrypted,
    Unreadable(String),
}

/// Whether the PEM private key `key_pem` belongs to the certificate `cert`
/// (their public keys are the same).
pub fn key_matches(cert: &[u8], key_pem: &str) -> Result<KeyMatch, Unchecked> {
    let c = parse(cert)?;
    if key_pem.contains("ENCRYPTED") {
        return Ok(KeyMatch::Encrypted);
    }
    match super::pki::read_key(key_pem) {
        Ok(k) => Ok(
            if c.public_key().raw == k.subject_public_key_info().as_slice() {
                KeyMatch::Matches
            } else {
                KeyMatch::DoesNotMatch
            },
        ),
        Err(e) => Ok(KeyMatch::Unreadable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::pki::{self, KeyKind, SigningCa};

    #[test]
    fn signatures_and_keys() {
        let now = time::OffsetDateTime::now_utc();
        for kind in [
            KeyKind::Rsa2048,
            KeyKind::EcdsaP256,
            KeyKind::EcdsaP384,
            KeyKind::Ed25519,
        ] {
            let ca = pki::create_ca("Chain Test CA", kind, 30, now).unwrap();
            let other = pki::create_ca("Chain Test CA", kind, 30, now).unwrap();
            let signer = SigningCa::new(&ca.cert_der, &ca.key_pem).unwrap();
            let host = signer
                .sign_host(&["mx.example.org".into()], KeyKind::EcdsaP256, 10, now)
                .unwrap();
            assert_eq!(signed_by(&host.cert_der, &ca.cert_der), Ok(true), "{kind}");
            // Same name, other key: the signature does not verify.
            assert_eq!(
                signed_by(&host.cert_der, &other.cert_der),
                Ok(false),
                "{kind}"
            );
            assert_eq!(signed_by(&ca.cert_der, &ca.cert_der), Ok(true), "{kind}");
            assert_eq!(
                key_matches(&host.cert_der, &host.key_pem),
                Ok(KeyMatch::Matches)
            );
            assert_eq!(
                key_matches(&host.cert_der, &ca.key_pem),
                Ok(KeyMatch::DoesNotMatch)
            );
        }
    }
}
