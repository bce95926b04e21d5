//! A minimal DER reader: just enough to walk certificates, CRLs and names
//! byte-exactly (the subject hash and the one-line form depend on the exact
//! encoded bytes, which a higher-level parser would normalise away).

use std::fmt;

/// Universal tags used in this crate.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const NUMERIC_STRING: u8 = 0x12;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const T61_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const VISIBLE_STRING: u8 = 0x1a;
    pub const GENERAL_STRING: u8 = 0x1b;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0]` constructed, context-specific (certificate version).
    pub const CONTEXT_0: u8 = 0xa0;
}

/// What is wrong with a DER encoding, naming the element that is wrong
/// (no byte offset: callers report which certificate of a file it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError {
    pub what: &'static str,
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
}

impl std::error::Error for DerError {}

fn err<T>(what: &'static str) -> Result<T, DerError> {
    Err(DerError { what })
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The content octets.
    pub content: &'a [u8],
    /// The whole element: tag, length and content.
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`; returns it and the rest.
pub fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError {
        what: "truncated DER (no tag)",
    })?;
    if tag & 0x1f == 0x1f {
        return err("unsupported multi-byte DER tag");
    }
    let (&first, rest) = rest.split_first().ok_or(DerError {
        what: "truncated DER (no length)",
    })?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 {
            return err("indefinite length is not DER");
        }
        if n > 4 || rest.len() < n {
            return err("truncated or oversized DER length");
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return err("truncated DER (content shorter than its length)");
    }
    let header = input.len() - rest.len();
    let raw = &input[..header + len];
    Ok((
        Tlv {
            tag,
            content: &rest[..len],
            raw,
        },
        &rest[len..],
    ))
}

/// Reads one element that must have tag `want`.
pub fn expect<'a>(
    input: &'a [u8],
    want: u8,
    what: &'static str,
) -> Result<(Tlv<'a>, &'a [u8]), DerError> {
    let (t, rest) = read_tlv(input)?;
    if t.tag != want {
        return err(what);
    }
    Ok((t, rest))
}

/// Reads exactly one element that fills `input` completely.
pub fn read_whole<'a>(input: &'a [u8], want: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
    let (t, rest) = expect(input, want, what)?;
    if !rest.is_empty() {
        return err("trailing bytes after the DER structure");
    }
    Ok(t)
}

/// Iterates over the elements inside a constructed value's content.
pub fn children(content: &[u8]) -> impl Iterator<Item = Result<Tlv<'_>, DerError>> {
    let mut rest = content;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match read_tlv(rest) {
            Ok((t, r)) => {
                rest = r;
                Some(Ok(t))
            }
            Err(e) => {
                rest = &[];
                Some(Err(e))
            }
        }
    })
}

/// Writes a tag-length-value element (definite length, minimal form).
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// The dotted-decimal form of an OID's content octets, as OpenSSL's
/// `OBJ_obj2txt(.., no_name=1)` prints it. `None` for a malformed encoding.
pub fn oid_to_dotted(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u128> = Vec::new();
    let mut cur: u128 = 0;
    let mut in_arc = false;
    for &b in content {
        if !in_arc && b == 0x80 {
            return None; // non-minimal encoding
        }
        cur = cur.checked_mul(128)?.checked_add((b & 0x7f) as u128)?;
        in_arc = true;
        if b & 0x80 == 0 {
            arcs.push(cur);
            cur = 0;
            in_arc = false;
        }
    }
    if in_arc || arcs.is_empty() {
        return None;
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut s = format!("{a}.{b}");
    for arc in &arcs[1..] {
        s.push('.');
        s.push_str(&arc.to_string());
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70000] {
            let content = vec![7u8; len];
            let mut out = Vec::new();
            write_tlv(&mut out, tag::OCTET_STRING, &content);
            let (t, rest) = read_tlv(&out).unwrap();
            assert!(rest.is_empty());
            assert_eq!(t.content.len(), len);
            assert_eq!(t.raw, &out[..]);
        }
    }

    #[test]
    fn truncated_inputs_are_errors() {
        assert!(read_tlv(&[]).is_err());
        assert!(read_tlv(&[0x30]).is_err());
        assert!(read_tlv(&[0x30, 0x05, 1, 2]).is_err());
        assert!(read_tlv(&[0x30, 0x80]).is_err());
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
    }

    #[test]
    fn dotted_oids() {
        assert_eq!(oid_to_dotted(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert_eq!(
            oid_to_dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).unwrap(),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(oid_to_dotted(&[0x2a, 0x03, 0x04]).unwrap(), "1.2.3.4");
        assert!(oid_to_dotted(&[0x2a, 0x86]).is_none());
    }
}
