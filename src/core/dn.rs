//! Distinguished names exactly as OpenSSL and sendmail see them:
//! the one-line form (`X509_NAME_oneline`, `-nameopt compat`), sendmail's
//! `${cert_subject}` / `${cert_issuer}` (`+XX` xtext of that form, cut at its
//! 256-byte buffer), and the subject hashes (`X509_NAME_hash`,
//! `X509_NAME_hash_old`) used for `HASH.N` links in a CA directory.
//!
//! Everything here works on the DER bytes of a `Name`, because both hashes
//! and the one-line form depend on the exact string types and bytes.

use super::der::{self, tag, DerError, Tlv};
use super::oid_names;
use std::fmt;

/// sendmail's buffer for `X509_NAME_oneline` is 256 bytes: 255 characters
/// and the terminating NUL.
pub const SENDMAIL_ONELINE_MAX: usize = 255;

/// One attribute of a name, in certificate order.
#[derive(Debug, Clone, Copy)]
pub struct NameEntry<'a> {
    /// OID content octets (no tag, no length).
    pub oid: &'a [u8],
    /// ASN.1 tag of the value (`UTF8String`, `PrintableString`, ...).
    pub value_tag: u8,
    /// Content octets of the value.
    pub value: &'a [u8],
    /// The whole value element (tag, length, content).
    pub value_raw: &'a [u8],
    /// Index of the RDN (SET) this entry belongs to; equal for the parts of
    /// a multi-valued RDN such as `CN=a+OU=b`.
    pub set: usize,
}

/// A parsed X.509 `Name`, borrowing its DER encoding.
#[derive(Debug, Clone)]
pub struct Name<'a> {
    /// The complete DER encoding (outer SEQUENCE included).
    pub der: &'a [u8],
    pub entries: Vec<NameEntry<'a>>,
}

/// A name whose string values OpenSSL cannot convert to UTF-8 (for example
/// a BMPString of odd length). OpenSSL refuses to load such a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonError {
    pub what: &'static str,
}

impl fmt::Display for CanonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "name cannot be canonicalised: {}", self.what)
    }
}

impl std::error::Error for CanonError {}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

impl<'a> Name<'a> {
    /// Parses a DER `Name` (SEQUENCE OF SET OF AttributeTypeAndValue) that
    /// fills `der` completely.
    pub fn parse(der: &'a [u8]) -> Result<Self, DerError> {
        let seq = der::read_whole(der, tag::SEQUENCE, "a Name must be a SEQUENCE")?;
        Self::from_tlv(seq)
    }

    /// Builds a name from an already-read `Name` element.
    pub fn from_tlv(seq: Tlv<'a>) -> Result<Self, DerError> {
        if seq.tag != tag::SEQUENCE {
            return Err(DerError {
                what: "a Name must be a SEQUENCE",
            });
        }
        let mut entries = Vec::new();
        for (set, rdn) in der::children(seq.content).enumerate() {
            let rdn = rdn?;
            if rdn.tag != tag::SET {
                return Err(DerError {
                    what: "an RDN must be a SET",
                });
            }
            for atv in der::children(rdn.content) {
                let atv = atv?;
                if atv.tag != tag::SEQUENCE {
                    return Err(DerError {
                        what: "an attribute must be a SEQUENCE",
                    });
                }
                let (oid, rest) =
                    der::expect(atv.content, tag::OID, "an attribute type must be an OID")?;
                let (value, rest) = der::read_tlv(rest)?;
                if !rest.is_empty() {
                    return Err(DerError {
                        what: "trailing bytes in an attribute",
                    });
                }
                entries.push(NameEntry {
                    oid: oid.content,
                    value_tag: value.tag,
                    value: value.content,
                    value_raw: value.raw,
                    set,
                });
            }
        }
        Ok(Name {
            der: seq.raw,
            entries,
        })
    }

    /// The one-line form, as `openssl x509 -noout -subject -nameopt compat`
    /// prints it after `subject=` (no length limit).
    pub fn oneline(&self) -> String {
        oneline(&self.entries, None)
    }

    /// The one-line form as sendmail gets it from `X509_NAME_oneline` into
    /// its 256-byte buffer: an entry that would end past 255 characters is
    /// dropped with all the entries after it.
    pub fn oneline_sendmail_buffer(&self) -> String {
        oneline(&self.entries, Some(SENDMAIL_ONELINE_MAX))
    }

    /// The value sendmail puts in `${cert_subject}` / `${cert_issuer}`.
    pub fn sendmail(&self) -> String {
        xtext(&self.oneline_sendmail_buffer())
    }

    /// The first CN, in one-line escaping (sendmail's `${cn_subject}` before
    /// xtext), or `None` when the name has no CN.
    pub fn first_cn(&self) -> Option<String> {
        self.entries
            .iter()
            .find(|e| e.oid == OID_CN)
            .map(|e| escape_value(e.value_tag, stored_bytes(e)))
    }

    /// Whether OpenSSL can load a certificate with this name at all: its
    /// values are decoded as `ASN1_PRINTABLE`, which accepts only some
    /// universal types (VisibleString, GeneralString, OCTET STRING… make
    /// `d2i_X509` fail).
    pub fn check_openssl_loadable(&self) -> Result<(), CanonError> {
        for e in &self.entries {
            let accepted = matches!(
                e.value_tag,
                tag::BIT_STRING
                    | tag::UTF8_STRING
                    | tag::NUMERIC_STRING
                    | tag::PRINTABLE_STRING
                    | tag::T61_STRING
                    | tag::IA5_STRING
                    | tag::UNIVERSAL_STRING
                    | tag::BMP_STRING
                    | tag::SEQUENCE
                    // universal tags OpenSSL maps to B_ASN1_UNKNOWN
                    | 0x07 | 0x08 | 0x09 | 0x0b | 0x0d | 0x0e | 0x0f | 0x1d
            );
            if !accepted {
                return Err(CanonError {
                    what: "an attribute value has an ASN.1 type OpenSSL does not accept in names",
                });
            }
        }
        Ok(())
    }

    /// OpenSSL's `X509_NAME_hash` (the "new" subject hash since 1.0.0):
    /// the first four bytes, little-endian, of the SHA-1 of the canonical
    /// encoding.
    pub fn hash(&self) -> Result<u32, CanonError> {
        self.check_openssl_loadable()?;
        let canon = canonical_encoding(&self.entries)?;
        let md = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &canon);
        Ok(le_u32(md.as_ref()))
    }

    /// OpenSSL's `X509_NAME_hash_old`: MD5 of the DER encoding as stored.
    pub fn hash_old(&self) -> u32 {
        use md5::Digest as _;
        le_u32(&md5::Md5::digest(self.der))
    }
}

fn le_u32(md: &[u8]) -> u32 {
    u32::from_le_bytes([md[0], md[1], md[2], md[3]])
}

/// Formats a subject hash the way OpenSSL names its links (`%08lx`).
pub fn format_hash(h: u32) -> String {
    format!("{h:08x}")
}

/// OpenSSL's short name for an attribute (`CN`, `emailAddress`, …), or the
/// dotted OID when OpenSSL has no name for it (`i2t_ASN1_OBJECT` into an
/// 80-byte buffer: at most 79 characters).
pub fn attribute_name(oid: &[u8]) -> String {
    if let Some(sn) = oid_names::short_name(oid) {
        return sn.to_string();
    }
    let mut s = der::oid_to_dotted(oid).unwrap_or_default();
    s.truncate(79);
    s
}

/// The bytes OpenSSL stores for a value (`ASN1_STRING` data): the content
/// octets, except a BIT STRING loses its unused-bits octet and a SEQUENCE
/// or SET keeps its whole encoding.
fn stored_bytes<'a>(e: &NameEntry<'a>) -> &'a [u8] {
    match e.value_tag {
        tag::BIT_STRING => e.value.get(1..).unwrap_or_default(),
        tag::SEQUENCE | tag::SET => e.value_raw,
        _ => e.value,
    }
}

/// Which bytes of a value `X509_NAME_oneline` prints. A GeneralString whose
/// length is a multiple of four and whose bytes are zero except every fourth
/// is printed as that fourth byte only (OpenSSL's `gs_doit`).
fn printed_bytes(value_tag: u8, value: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut keep = [true; 4];
    if value_tag == tag::GENERAL_STRING && value.len().is_multiple_of(4) {
        let mut nonzero = [false; 4];
        for (j, &b) in value.iter().enumerate() {
            if b != 0 {
                nonzero[j & 3] = true;
            }
        }
        if !(nonzero[0] || nonzero[1] || nonzero[2]) {
            keep = [false, false, false, true];
        }
    }
    value
        .iter()
        .enumerate()
        .filter(move |(j, _)| keep[j & 3])
        .map(|(_, &b)| b)
}

/// One value in one-line escaping: `/` and `+` get a backslash (OpenSSL 3),
/// bytes outside 0x20–0x7E become `\xHH` (upper-case).
fn escape_value(value_tag: u8, value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for b in printed_bytes(value_tag, value) {
        if !(b' '..=b'~').contains(&b) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            if b == b'/' || b == b'+' {
                out.push('\\');
            }
            out.push(b as char);
        }
    }
    out
}

/// `X509_NAME_oneline`. With `limit`, behaves like a caller-supplied buffer
/// of `limit + 1` bytes: the first entry that does not fit ends the output.
fn oneline(entries: &[NameEntry<'_>], limit: Option<usize>) -> String {
    let mut out = String::new();
    let mut prev_set = None;
    for e in entries {
        let sep = if prev_set == Some(e.set) { '+' } else { '/' };
        let piece = format!(
            "{sep}{}={}",
            attribute_name(e.oid),
            escape_value(e.value_tag, stored_bytes(e))
        );
        if let Some(max) = limit {
            if out.len() + piece.len() > max {
                break;
            }
        }
        out.push_str(&piece);
        prev_set = Some(e.set);
    }
    out
}

/// sendmail's `xtextify(str, "<>\")")`: every byte below `!` or above `~`,
/// and `+`, `\`, `(`, `)`, `<`, `>`, `"`, becomes `+` and two upper-case hex
/// digits. Unlike RFC 3461 xtext, `=` is left alone.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if !(b'!'..=b'~').contains(&b)
            || matches!(b, b'+' | b'\\' | b'(' | b')' | b'<' | b'>' | b'"')
        {
            out.push_str(&format!("+{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Undoes [`xtext`]; `None` when `s` holds a `+` not followed by two hex
/// digits.
pub fn xtext_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// String types OpenSSL canonicalises before hashing (`ASN1_MASK_CANON`).
fn canonicalised(value_tag: u8) -> bool {
    matches!(
        value_tag,
        tag::UTF8_STRING
            | tag::BMP_STRING
            | tag::UNIVERSAL_STRING
            | tag::PRINTABLE_STRING
            | tag::T61_STRING
            | tag::IA5_STRING
            | tag::VISIBLE_STRING
    )
}

/// `ASN1_STRING_to_UTF8`: the value's characters as UTF-8. One-byte string
/// types are read as Latin-1, BMPString as UCS-2 and UniversalString as
/// UCS-4 (both big-endian); UTF8String must already be valid UTF-8.
fn to_utf8(value_tag: u8, value: &[u8]) -> Result<Vec<u8>, CanonError> {
    let chars: Vec<u32> = match value_tag {
        tag::UTF8_STRING => {
            return std::str::from_utf8(value)
                .map(|s| s.as_bytes().to_vec())
                .map_err(|_| CanonError {
                    what: "UTF8String is not valid UTF-8",
                })
        }
        tag::BMP_STRING => {
            if !value.len().is_multiple_of(2) {
                return Err(CanonError {
                    what: "BMPString of odd length",
                });
            }
            value
                .chunks(2)
                .map(|c| u32::from(c[0]) << 8 | u32::from(c[1]))
                .collect()
        }
        tag::UNIVERSAL_STRING => {
            if !value.len().is_multiple_of(4) {
                return Err(CanonError {
                    what: "UniversalString length not a multiple of 4",
                });
            }
            value
                .chunks(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        _ => value.iter().map(|&b| u32::from(b)).collect(),
    };
    let mut out = String::with_capacity(chars.len());
    for c in chars {
        out.push(char::from_u32(c).ok_or(CanonError {
            what: "character outside Unicode (or a surrogate)",
        })?);
    }
    Ok(out.into_bytes())
}

/// `ossl_isspace`: the C locale's white space.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `asn1_string_canon`: trim white space, collapse inner runs of it to one
/// space, lower-case ASCII letters; bytes with the top bit set are copied.
fn canon_string(utf8: &[u8]) -> Vec<u8> {
    let start = utf8
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(utf8.len());
    let end = utf8
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |p| p + 1);
    let mut out = Vec::with_capacity(end - start);
    let mut i = start;
    while i < end {
        let b = utf8[i];
        if is_space(b) {
            out.push(b' ');
            while i < end && is_space(utf8[i]) {
                i += 1;
            }
        } else {
            out.push(b.to_ascii_lowercase());
            i += 1;
        }
    }
    out
}

/// `x509_name_canon`: each RDN as a DER `SET` of canonicalised attributes
/// (string values re-encoded as UTF8String; other types copied), the sets
/// concatenated without the outer SEQUENCE. DER sorts the members of a SET
/// by their encodings, so multi-valued RDNs are order-independent here.
fn canonical_encoding(entries: &[NameEntry<'_>]) -> Result<Vec<u8>, CanonError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let set = entries[i].set;
        let mut members: Vec<Vec<u8>> = Vec::new();
        while i < entries.len() && entries[i].set == set {
            let e = &entries[i];
            let mut atv = Vec::new();
            der::write_tlv(&mut atv, tag::OID, e.oid);
            if canonicalised(e.value_tag) {
                let canon = canon_string(&to_utf8(e.value_tag, e.value)?);
                der::write_tlv(&mut atv, tag::UTF8_STRING, &canon);
            } else {
                atv.extend_from_slice(e.value_raw);
            }
            let mut seq = Vec::with_capacity(atv.len() + 4);
            der::write_tlv(&mut seq, tag::SEQUENCE, &atv);
            members.push(seq);
            i += 1;
        }
        // OpenSSL's der_cmp: memcmp over the common length, then shorter first.
        members.sort();
        der::write_tlv(&mut out, tag::SET, &members.concat());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8_atv(oid: &[u8], value: &str) -> Vec<u8> {
        let mut atv = Vec::new();
        der::write_tlv(&mut atv, tag::OID, oid);
        der::write_tlv(&mut atv, tag::UTF8_STRING, value.as_bytes());
        let mut seq = Vec::new();
        der::write_tlv(&mut seq, tag::SEQUENCE, &atv);
        seq
    }

    fn name_of(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut body = Vec::new();
        for rdn in rdns {
            der::write_tlv(&mut body, tag::SET, &rdn.concat());
        }
        let mut out = Vec::new();
        der::write_tlv(&mut out, tag::SEQUENCE, &body);
        out
    }

    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const OU: &[u8] = &[0x55, 0x04, 0x0b];

    #[test]
    fn oneline_escapes_like_openssl_3() {
        let der = name_of(&[
            vec![utf8_atv(O, "a/b+c")],
            vec![utf8_atv(OID_CN, "a"), utf8_atv(OU, "b")],
            vec![utf8_atv(OID_CN, "Müller\t")],
        ]);
        let n = Name::parse(&der).unwrap();
        assert_eq!(
            n.oneline(),
            "/O=a\\/b\\+c/CN=a+OU=b/CN=M\\xC3\\xBCller\\x09"
        );
        assert_eq!(
            n.sendmail(),
            "/O=a+5C/b+5C+2Bc/CN=a+2BOU=b/CN=M+5CxC3+5CxBCller+5Cx09"
        );
    }

    #[test]
    fn sendmail_buffer_drops_whole_entries() {
        // "/O=" + 252 chars = 255: kept whole; one more character drops it.
        let fits = name_of(&[vec![utf8_atv(O, &"x".repeat(252))]]);
        assert_eq!(
            Name::parse(&fits).unwrap().oneline_sendmail_buffer().len(),
            255
        );
        let over = name_of(&[vec![utf8_atv(OU, "y")], vec![utf8_atv(O, &"x".repeat(250))]]);
        assert_eq!(
            Name::parse(&over).unwrap().oneline_sendmail_buffer(),
            "/OU=y"
        );
    }

    #[test]
    fn empty_name() {
        let der = name_of(&[]);
        let n = Name::parse(&der).unwrap();
        assert_eq!(n.oneline(), "");
        assert_eq!(n.sendmail(), "");
    }

    #[test]
    fn canonicalisation_ignores_case_space_and_set_order() {
        let a = name_of(&[
            vec![utf8_atv(OID_CN, "  Hello   World ")],
            vec![utf8_atv(O, "x"), utf8_atv(OU, "y")],
        ]);
        let b = name_of(&[
            vec![utf8_atv(OID_CN, "hello world")],
            vec![utf8_atv(OU, "y"), utf8_atv(O, "x")],
        ]);
        let (a, b) = (Name::parse(&a).unwrap(), Name::parse(&b).unwrap());
        assert_eq!(a.hash().unwrap(), b.hash().unwrap());
        assert_ne!(a.hash_old(), b.hash_old());
    }

    #[test]
    fn xtext_matches_sendmail_table() {
        assert_eq!(xtext("/C=US/O=Sendmail Peer"), "/C=US/O=Sendmail+20Peer");
        assert_eq!(xtext("/O=A<B>C\"D/CN=x"), "/O=A+3CB+3EC+22D/CN=x");
        assert_eq!(xtext("/O=a=b,c;d\\/e"), "/O=a=b,c;d+5C/e");
        assert_eq!(xtext("(x)"), "+28x+29");
        assert_eq!(xtext_decode("+28x+29").unwrap(), b"(x)");
        assert!(xtext_decode("+2").is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x02, 0x31, 0x05],
            &[0x31, 0x00],
            &[0x30, 0x03, 0x31, 0x01, 0x30],
        ] {
            assert!(Name::parse(bad).is_err(), "{bad:?}");
        }
    }
}
