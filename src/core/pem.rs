//! PEM blocks, read the way OpenSSL's `PEM_read_bio` reads them: a
//! `-----BEGIN LABEL-----` line, optional RFC 1421 headers (`Proc-Type:` …),
//! base64 lines, and `-----END LABEL-----`. Text around the blocks is
//! ignored, as OpenSSL does.
//!
//! The framing is our own because OpenSSL's exact behaviour is the point
//! (which text is skipped, headers marking an encrypted key, the END line
//! that must match); the base64 inside is the `base64` crate's.

use std::fmt;

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    pub label: String,
    /// True when the block carries RFC 1421 headers (an encrypted key).
    pub has_headers: bool,
    pub der: Vec<u8>,
    /// 1-based line number of the BEGIN line.
    pub line: usize,
}

/// Why a file's PEM could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemError {
    pub line: usize,
    pub what: String,
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for PemError {}

/// True when the bytes look like PEM (contain a BEGIN line).
pub fn looks_like_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Parses every PEM block in `data`.
pub fn parse(data: &[u8]) -> Result<Vec<PemBlock>, PemError> {
    let mut blocks = Vec::new();
    let mut lines = data
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, trim_cr(l)));
    while let Some((line_no, line)) = lines.next() {
        let Some(label) = begin_label(line) else {
            continue;
        };
        let mut body = Vec::new();
        let mut has_headers = false;
        let mut in_headers = true;
        let mut ended = false;
        for (n, l) in lines.by_ref() {
            if let Some(end) = l.strip_prefix(b"-----END ") {
                if end.strip_suffix(b"-----") != Some(label.as_bytes()) {
                    return Err(PemError {
                        line: n,
                        what: format!("END line does not match BEGIN {label}"),
                    });
                }
                ended = true;
                break;
            }
            if in_headers && l.contains(&b':') {
                has_headers = true;
                continue;
            }
            in_headers = false;
            body.extend(l.iter().copied().filter(|b| !b.is_ascii_whitespace()));
        }
        if !ended {
            return Err(PemError {
                line: line_no,
                what: format!("BEGIN {label} without an END line"),
            });
        }
        let der = base64_decode(&body).ok_or_else(|| PemError {
            line: line_no,
            what: format!("bad base64 in the {label} block"),
        })?;
        blocks.push(PemBlock {
            label,
            has_headers,
            der,
            line: line_no,
        });
    }
    Ok(blocks)
}

fn trim_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn begin_label(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"-----BEGIN ")?;
    let label = rest.strip_suffix(b"-----")?;
    String::from_utf8(label.to_vec()).ok()
}

/// Standard base64 with `=` padding (what PEM uses). Like OpenSSL's
/// decoder, it ignores the unused low bits of the last symbol.
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const PEM: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    PEM.decode(input).ok()
}

/// Standard base64 with padding, 64 characters a line (PEM body).
pub fn encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
/// The size in bits of the prime of the first `DH PARAMETERS` (PKCS#3) or
/// `X9.42 DH PARAMETERS` block, the one OpenSSL's `PEM_read_DHparams`
/// (which sendmail's `confDH_PARAMETERS` uses) takes; other blocks before
/// it (Debian's file starts with DSA parameters) are skipped, as OpenSSL
/// skips them.
pub fn dh_param_bits(data: &[u8]) -> Result<u32, String> {
    use crate::core::der;
    let blocks = parse(data).map_err(|e| e.to_string())?;
    let b = blocks
        .iter()
        .find(|b| b.label == "DH PARAMETERS" || b.label == "X9.42 DH PARAMETERS")
        .ok_or("no DH PARAMETERS block")?;
    let seq = der::read_whole(&b.der, der::tag::SEQUENCE, "DH parameters")
        .map_err(|e| e.what.to_string())?;
    let (p, _) = der::read_tlv(seq.content).map_err(|e| e.what.to_string())?;
    if p.tag != der::tag::INTEGER {
        return Err("DH parameters do not start with the prime".into());
    }
    let digits: &[u8] = {
        let skip = p.content.iter().take_while(|&&x| x == 0).count();
        &p.content[skip..]
    };
    let Some(first) = digits.first() else {
        return Err("the DH prime is zero".into());
    };
    Ok((digits.len() as u32 - 1) * 8 + (8 - first.leading_zeros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for len in 0..70 {
            let der: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let text = encode("CERTIFICATE", &der);
            let blocks = parse(text.as_bytes()).unwrap();
            assert_eq!(blocks.len(), 1);
            assert_eq!(blocks[0].der, der);
            assert_eq!(blocks[0].label, "CERTIFICATE");
        }
    }

    #[test]
    fn crlf_headers_and_text_around() {
        let text = "junk\r\n-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,00\r\n\r\nAAEC\r\n-----END RSA PRIVATE KEY-----\r\nmore";
        let b = parse(text.as_bytes()).unwrap();
        assert_eq!(b[0].der, vec![0, 1, 2]);
        assert!(b[0].has_headers);
        assert_eq!(b[0].line, 2);
    }

    #[test]
    fn errors() {
        assert!(parse(b"-----BEGIN X-----\nAAAA\n").is_err());
        assert!(parse(b"-----BEGIN X-----\nA!AA\n-----END X-----\n").is_err());
        assert!(parse(b"-----BEGIN X-----\nAAAA\n-----END Y-----\n").is_err());
        assert!(base64_decode(b"AA=A").is_none());
    }
}
