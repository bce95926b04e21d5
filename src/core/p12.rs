//! PKCS#12 (`.p12`, `.pfx`): what Windows, Exchange and Java send and want.
//! Read through the `p12-keystore` crate (pure Rust; its legacy ciphers —
//! 3DES, RC2-40 with the PKCS#12 KDF — are RustCrypto's), written with the
//! scheme OpenSSL 3 writes by default (PBES2: PBKDF2-HMAC-SHA256,
//! AES-256-CBC, HMAC-SHA256 MAC) or, for old Windows and macOS keychains,
//! the legacy one (3DES, HMAC-SHA1). TLS and signatures stay aws-lc-rs's.

use p12_keystore::{
    EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, Pkcs12ImportPolicy, PrivateKeyChain,
};

/// What a PKCS#12 file holds.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// The private key (PKCS#8 DER), when there is one.
    pub key_pkcs8: Option<Vec<u8>>,
    /// The certificates (DER): the key's chain first, leaf first; then the
    /// others (a truststore's CAs).
    pub certs: Vec<Vec<u8>>,
}

/// Whether `data` looks like a PKCS#12 PFX: `SEQUENCE { INTEGER 3,
/// SEQUENCE { OID pkcs7-data …`.
pub fn looks_like_pkcs12(data: &[u8]) -> bool {
    const DATA_OID: [u8; 11] = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    if data.first() != Some(&0x30) {
        return false;
    }
    // skip the outer length
    let Some(&l) = data.get(1) else { return false };
    let start = if l < 0x80 {
        2
    } else {
        2 + usize::from(l & 0x7f)
    };
    let body = data.get(start..).unwrap_or(&[]);
    if !body.starts_with(&[0x02, 0x01, 0x03, 0x30]) {
        return false;
    }
    body.get(4..40)
        .is_some_and(|b| b.windows(DATA_OID.len()).any(|w| w == DATA_OID))
}

/// Why a PKCS#12 file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum P12Error {
    /// The passphrase does not open it (or none was given).
    Passphrase,
    /// Not a PKCS#12 file this reader understands.
    Format(String),
}

impl std::fmt::Display for P12Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            P12Error::Passphrase => f.write_str("the passphrase does not open it"),
            P12Error::Format(m) => write!(f, "not a PKCS#12 file this reader understands: {m}"),
        }
    }
}

/// Reads a PKCS#12 file with `passphrase`.
pub fn read(data: &[u8], passphrase: &str) -> Result<Contents, P12Error> {
    let ks = KeyStore::from_pkcs12(data, passphrase, Pkcs12ImportPolicy::Relaxed).map_err(|e| {
        let m = e.to_string();
        let l = m.to_ascii_lowercase();
        if l.contains("mac") || l.contains("password") || l.contains("decrypt") || l.contains("pad")
        {
            P12Error::Passphrase
        } else {
            P12Error::Format(m)
        }
    })?;
    let mut out = Contents::default();
    if let Some((_, chain)) = ks.private_key_chain() {
        out.key_pkcs8 = Some(chain.key().as_der().to_vec());
        out.certs
            .extend(chain.certs().iter().map(|c| c.as_der().to_vec()));
    }
    // Certificates without a key or a trust attribute (a truststore made
    // by `openssl pkcs12 -export -nokeys`) come only in raw mode.
    let raw = KeyStore::from_pkcs12(data, passphrase, Pkcs12ImportPolicy::Raw).ok();
    for (_, e) in ks.entries().chain(raw.iter().flat_map(|r| r.entries())) {
        match e {
            KeyStoreEntry::Certificate(c) => {
                let d = c.as_der().to_vec();
                if !out.certs.contains(&d) {
                    out.certs.push(d);
                }
            }
            KeyStoreEntry::PrivateKeyChain(ch) => {
                for c in ch.certs() {
                    let d = c.as_der().to_vec();
                    if !out.certs.contains(&d) {
                        out.certs.push(d);
                    }
                }
            }
            _ => {}
        }
    }
    if out.certs.is_empty() && out.key_pkcs8.is_none() {
        return Err(P12Error::Format(
            "it holds no certificate and no key".into(),
        ));
    }
    Ok(out)
}

/// Writes a PKCS#12 file: `key_pkcs8` (PKCS#8 DER) with its chain `certs`
/// (leaf first), or only certificates when there is no key. `legacy`:
/// 3DES and an HMAC-SHA1 MAC, for Windows Server 2016 and older and
/// macOS keychains; else AES-256 and HMAC-SHA256.
pub fn write(
    key_pkcs8: Option<&[u8]>,
    certs: &[Vec<u8>],
    name: &str,
    passphrase: &str,
    legacy: bool,
) -> Result<Vec<u8>, String> {
    let mut ks = KeyStore::new();
    let parsed: Vec<p12_keystore::Certificate> = certs
        .iter()
        .map(|d| p12_keystore::Certificate::from_der(d).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    match key_pkcs8 {
        Some(k) => {
            let key = p12_keystore::PrivateKey::from_der(k).map_err(|e| e.to_string())?;
            let id: Vec<u8> = {
                use aws_lc_rs::digest;
                digest::digest(
                    &digest::SHA1_FOR_LEGACY_USE_ONLY,
                    certs.first().map_or(&[][..], |c| c),
                )
                .as_ref()
                .to_vec()
            };
            ks.add_entry(
                name,
                KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(id, key, parsed)),
            );
        }
        None => {
            for (i, c) in parsed.into_iter().enumerate() {
                ks.add_entry(&format!("{name} {}", i + 1), KeyStoreEntry::Certificate(c));
            }
        }
    }
    let (enc, mac) = if legacy {
        (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        )
    } else {
        (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        )
    };
    ks.writer(passphrase)
        .encryption_algorithm(enc)
        .mac_algorithm(mac)
        .write()
        .map_err(|e| e.to_string())
}
