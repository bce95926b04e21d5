//! Names as sendmail shows them: OpenSSL's protocol and cipher names, and
//! the cipher's symmetric key bits (`${tls_version}`, `${cipher}`,
//! `${cipher_bits}`).

use rustls::{CipherSuite, ProtocolVersion};

/// `TLSv1.3`, `TLSv1.2` (OpenSSL's `SSL_get_version`).
pub fn tls_version(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        ProtocolVersion::TLSv1_1 => "TLSv1.1".into(),
        ProtocolVersion::TLSv1_0 => "TLSv1".into(),
        other => format!("{other:?}"),
    }
}

/// OpenSSL's name of a cipher suite and its symmetric key bits.
pub fn cipher(suite: CipherSuite) -> (String, u32) {
    let (name, bits) = match suite {
        CipherSuite::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", 256),
        CipherSuite::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", 128),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => ("TLS_CHACHA20_POLY1305_SHA256", 256),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-RSA-AES256-GCM-SHA384", 256),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-RSA-AES128-GCM-SHA256", 128),
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-RSA-CHACHA20-POLY1305", 256)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => {
            ("ECDHE-ECDSA-AES256-GCM-SHA384", 256)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => {
            ("ECDHE-ECDSA-AES128-GCM-SHA256", 128)
        }
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            ("ECDHE-ECDSA-CHACHA20-POLY1305", 256)
        }
        other => return (format!("{other:?}"), 0),
    };
    (name.to_string(), bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_rustls_offers_has_an_openssl_name() {
        for s in rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES {
            let (name, bits) = cipher(s.suite());
            assert!(bits >= 128, "{name}");
            assert!(
                !name.contains("TLS13_") && !name.contains("_WITH_"),
                "{name}"
            );
        }
    }
}
