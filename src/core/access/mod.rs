//! The sendmail `access` map source, parsed losslessly: every byte of the
//! file is kept in its line, so writing back an untouched map gives the
//! same bytes. Each line is typed the way `makemap hash` reads it (key up to
//! the first blank, value the rest; comments, blank lines, and the lines
//! makemap refuses), and each entry's key and value are typed the way the
//! rulesets read them (`TLS_Clt:` requirements, `CERTISSUER:` relays, …).

mod edit;

pub use edit::{cert_relay_names, Edit};

use super::tokens::{self, tokenize};
use std::collections::HashMap;
use std::fmt;

/// makemap reads lines with `fgets` into a 1024-byte buffer: at most 1023
/// bytes, newline included, fit.
pub const MAKEMAP_LINE_MAX: usize = 1023;

/// The tag before the first `:` of a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tag {
    Connect,
    From,
    To,
    CertIssuer,
    CertSubject,
    TlsSrv,
    TlsClt,
    TlsRcpt,
    TryTls,
    SrvFeatures,
    CltFeatures,
    Spam,
    GreetPause,
    ClientRate,
    ClientConn,
    Qgrp,
    /// A host, domain, address or user without a tag.
    Untagged,
    /// `Word:` that sendmail's rulesets do not use.
    Unknown(String),
}

const TAGS: &[(&str, Tag)] = &[
    ("Connect", Tag::Connect),
    ("From", Tag::From),
    ("To", Tag::To),
    ("CERTISSUER", Tag::CertIssuer),
    ("CERTSUBJECT", Tag::CertSubject),
    ("TLS_Srv", Tag::TlsSrv),
    ("TLS_Clt", Tag::TlsClt),
    ("TLS_Rcpt", Tag::TlsRcpt),
    ("Try_TLS", Tag::TryTls),
    ("Srv_Features", Tag::SrvFeatures),
    ("Clt_Features", Tag::CltFeatures),
    ("Spam", Tag::Spam),
    ("GreetPause", Tag::GreetPause),
    ("ClientRate", Tag::ClientRate),
    ("ClientConn", Tag::ClientConn),
    ("QGRP", Tag::Qgrp),
];

impl Tag {
    /// The tag as sendmail's documentation spells it (`TLS_Clt`).
    pub fn name(&self) -> &str {
        match self {
            Tag::Untagged => "",
            Tag::Unknown(s) => s,
            t => TAGS.iter().find(|(_, x)| x == t).map_or("", |(n, _)| n),
        }
    }

    /// Parses a tag name, any case.
    pub fn from_name(s: &str) -> Option<Tag> {
        TAGS.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, t)| t.clone())
    }

    /// Splits a key into tag and the rest (`TLS_Clt:a.example` → TlsClt,
    /// `a.example`). `IPv6:…` is an address, not a tag.
    pub fn split_key(key: &str) -> (Tag, &str) {
        if let Some(colon) = key.find(':') {
            let word = &key[..colon];
            if let Some(t) = Tag::from_name(word) {
                return (t, &key[colon + 1..]);
            }
            let wordlike = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if wordlike
                && !word.eq_ignore_ascii_case("IPv6")
                && !word.chars().all(|c| c.is_ascii_hexdigit())
            {
                return (Tag::Unknown(word.to_string()), &key[colon + 1..]);
            }
        }
        (Tag::Untagged, key)
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Tag::TlsSrv | Tag::TlsClt | Tag::TlsRcpt)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An entry makemap stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written (before makemap lower-cases it) followed by the
    /// value exactly as makemap stores it (trailing blanks and a CR of a
    /// CRLF file included): one allocation, not two, for the millions of
    /// entries a blocklist has. See [`Entry::key`], [`Entry::value`].
    text: Box<str>,
    /// Where the value starts in `text`.
    key_len: u32,
    /// 1-based column of the value.
    pub value_col: usize,
    pub tag: Tag,
    /// The line is not valid UTF-8: `key` and `value` hold one character
    /// per byte (Latin-1), so the bytes can be recovered exactly.
    pub latin1: bool,
}

/// Text of a line: UTF-8 when it is valid UTF-8, else each byte as the
/// Latin-1 character of the same value, so no byte is ever lost or merged.
fn decode(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (bytes.iter().map(|&b| char::from(b)).collect(), true),
    }
}

fn encode(s: &str, latin1: bool) -> Vec<u8> {
    if latin1 {
        s.chars().map(|c| c as u32 as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

impl Entry {
    /// The key as written (before makemap lower-cases it).
    pub fn key(&self) -> &str {
        &self.text[..self.key_len as usize]
    }

    /// The value exactly as makemap stores it: trailing blanks and a CR of
    /// a CRLF file included.
    pub fn value(&self) -> &str {
        &self.text[self.key_len as usize..]
    }

    /// The key after the tag (host, address, DN, …); the whole key of an
    /// untagged entry. Derived, not stored: a million-entry map is big
    /// enough without a third copy of every key.
    pub fn target(&self) -> &str {
        match self.tag {
            Tag::Untagged => self.key(),
            _ => self.key().split_once(':').map_or("", |(_, rest)| rest),
        }
    }

    /// The key's bytes as makemap stores and sendmail looks them up
    /// (ASCII lower-cased, every other byte kept).
    pub fn lookup_key(&self) -> Vec<u8> {
        let mut k = encode(self.key(), self.latin1);
        k.make_ascii_lowercase();
        k
    }

    /// The value's bytes as makemap stores them.
    pub fn value_bytes(&self) -> Vec<u8> {
        encode(self.value(), self.latin1)
    }

    /// The value as the rulesets read it.
    pub fn rhs(&self) -> Rhs {
        Rhs::parse(&self.tag, self.value())
    }
}

/// How makemap reads one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Comment,
    Entry(Entry),
    /// makemap: "syntax error (leading space)"; the line is skipped.
    LeadingSpace,
    /// makemap: "no RHS for LHS"; the line is skipped.
    NoValue {
        key: String,
    },
    /// makemap: "line too long (1024 bytes max)": it reads 1023 bytes at a
    /// time, skips each piece without a newline, and reads the last piece
    /// (`rest`) as a line of its own. A NUL byte hides the newline from
    /// makemap, so such a line is skipped the same way (`rest` is Blank).
    TooLong {
        len: usize,
        rest: Box<LineKind>,
    },
}

/// One physical line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Exact bytes, with the line terminator (absent on a last line without one).
    pub raw: Vec<u8>,
    /// 1-based line number.
    pub number: usize,
    pub kind: LineKind,
}

impl Line {
    pub fn entry(&self) -> Option<&Entry> {
        match &self.kind {
            LineKind::Entry(e) => Some(e),
            LineKind::TooLong { rest, .. } => match rest.as_ref() {
                LineKind::Entry(e) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A whole access source file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessMap {
    pub lines: Vec<Line>,
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Where the key ends and the value starts in a line's content (without
/// its newline), as makemap splits them: at the first run of C blanks.
fn key_value_split(content: &[u8]) -> (usize, usize) {
    let key_end = content
        .iter()
        .position(|&b| is_c_space(b))
        .unwrap_or(content.len());
    let value_start = content[key_end..]
        .iter()
        .position(|&b| !is_c_space(b))
        .map_or(content.len(), |p| key_end + p);
    (key_end, value_start)
}

/// Reads one physical line (`raw` with its newline, if any) as makemap's
/// `fgets` loop does: 1023 bytes at a time; a piece counts as a line only
/// when `strchr` finds its newline (no NUL before it) or it ends the file.
pub fn classify_line(raw: &[u8]) -> LineKind {
    let len = raw.strip_suffix(b"\n").unwrap_or(raw).len();
    let last_start = if raw.len() > MAKEMAP_LINE_MAX {
        (raw.len() - 1) / MAKEMAP_LINE_MAX * MAKEMAP_LINE_MAX
    } else {
        0
    };
    let piece = &raw[last_start..];
    let readable = match piece.strip_suffix(b"\n") {
        Some(body) if !body.contains(&0) => Some(body),
        // A NUL hides the newline from strchr: "line too long", skipped.
        Some(_) => None,
        // The end of the file: the C string ends at a NUL, if any.
        None if piece.len() < MAKEMAP_LINE_MAX => {
            Some(piece.split(|&b| b == 0).next().unwrap_or_default())
        }
        None => None,
    };
    let kind = readable.map_or(LineKind::Blank, classify_content);
    if last_start > 0 || readable.is_none() {
        LineKind::TooLong {
            len,
            rest: Box::new(kind),
        }
    } else {
        kind
    }
}

/// Reads the content of one line makemap accepted (no newline, no NUL).
fn classify_content(content: &[u8]) -> LineKind {
    match content.first() {
        None => return LineKind::Blank,
        Some(b'#') => return LineKind::Comment,
        Some(&b) if is_c_space(b) => return LineKind::LeadingSpace,
        _ => {}
    }
    let (key_end, value_start) = key_value_split(content);
    if value_start >= content.len() {
        return LineKind::NoValue {
            key: decode(&content[..key_end]).0,
        };
    }
    let (text, latin1) = decode(content);
    // In Latin-1 every byte is one char (2 bytes if ≥ 0x80); blanks are
    // ASCII, so find the offsets again in the decoded text.
    let (key_s, value_s) = if latin1 {
        let at = |byte: usize| text.char_indices().nth(byte).map_or(text.len(), |(i, _)| i);
        (at(key_end), at(value_start))
    } else {
        (key_end, value_start)
    };
    let key = &text[..key_s];
    let value = &text[value_s..];
    let (tag, _) = Tag::split_key(key);
    // Lines are at most a few KB (makemap reads 1023 bytes at a time).
    let key_len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    LineKind::Entry(Entry {
        value_col: text[..value_s].chars().count() + 1,
        text: [key, value].concat().into_boxed_str(),
        key_len,
        tag,
        latin1,
    })
}

impl AccessMap {
    /// Parses any bytes; never fails (problems are line kinds and checks).
    pub fn parse(data: &[u8]) -> AccessMap {
        // Sized once: growing by doubling would hold two copies of a
        // million-line vector at the moment it moves.
        let count = data.iter().filter(|&&b| b == b'\n').count() + 1;
        let mut lines = Vec::with_capacity(count);
        let mut start = 0;
        let mut number = 1;
        while start < data.len() {
            let end = data[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |p| start + p + 1);
            let raw = &data[start..end];
            lines.push(Line {
                raw: raw.to_vec(),
                number,
                kind: classify_line(raw),
            });
            number += 1;
            start = end;
        }
        AccessMap { lines }
    }

    /// Appends one line of the file, with its terminator (the pieces
    /// [`AccessMap::parse`] cuts a file into): a reader can hand the lines
    /// over one by one, without holding the whole file beside the map.
    pub fn push_raw(&mut self, raw: Vec<u8>) {
        self.lines.push(Line {
            kind: classify_line(&raw),
            number: self.lines.len() + 1,
            raw,
        });
    }

    /// The file's bytes: identical to the input when nothing was edited.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.raw.len()).sum());
        for l in &self.lines {
            out.extend_from_slice(&l.raw);
        }
        out
    }

    /// Entries in file order with their line numbers.
    pub fn entries(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.lines
            .iter()
            .filter_map(|l| l.entry().map(|e| (l.number, e)))
    }

    /// What makemap would store: lower-cased key → (value, line); the first
    /// of duplicate keys stays.
    pub fn database(&self) -> Database {
        let mut map: HashMap<Vec<u8>, (String, usize)> = HashMap::with_capacity(self.lines.len());
        for (line, e) in self.entries() {
            map.entry(e.lookup_key())
                .or_insert_with(|| (e.value().to_string(), line));
        }
        Database { map }
    }

    /// Index of the first line whose entry has this lookup key.
    pub fn find(&self, key: &str) -> Option<usize> {
        let k = key.as_bytes().to_ascii_lowercase();
        self.lines
            .iter()
            .position(|l| l.entry().is_some_and(|e| e.lookup_key() == k))
    }
}

/// The map as makemap builds it: what lookups see.
#[derive(Debug, Clone, Default)]
pub struct Database {
    /// Key bytes (ASCII lower-cased) -> (value, line).
    map: HashMap<Vec<u8>, (String, usize)>,
}

impl Database {
    /// Looks a key up the way sendmail's hash map does (lower-cased).
    pub fn get(&self, key: &str) -> Option<(&str, usize)> {
        self.map
            .get(&key.as_bytes().to_ascii_lowercase())
            .map(|(v, l)| (v.as_str(), *l))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The stored (key, value) pairs as bytes, in the order of their lines.
    pub fn iter_in_file_order<'a>(
        &'a self,
        map: &'a AccessMap,
    ) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + 'a {
        map.entries().filter_map(move |(line, e)| {
            let key = e.lookup_key();
            match self.map.get(&key) {
                Some((_, l)) if *l == line => Some((key, e.value_bytes())),
                _ => None,
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// `PERM+` / `TEMP+` in front of a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `PERM+`: 503 5.7.0
    Perm,
    /// `TEMP+`: 403 4.7.0
    Temp,
}

/// The part of a requirement that asks for verification or encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// `VERIFY`: a verified certificate.
    Verify,
    /// `VERIFY:bits`: verified and at least `bits` (the token as written).
    VerifyBits(String),
    /// `ENCR:bits`: at least `bits`, certificate or not.
    Encr(String),
}

/// An extension after `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// `CN`: the certificate's CN equals the peer's name.
    Cn,
    /// `CN:name`
    CnName(Vec<String>),
    /// `CS:dn` (tokens)
    Subject(Vec<String>),
    /// `CI:dn`
    Issuer(Vec<String>),
    /// `CITag:TAG`: an entry `TAG:${cert_issuer}` with value OK.
    IssuerTag(String),
    /// Anything else: sendmail stops checking at it and accepts.
    Unknown(Vec<String>),
}

/// A `TLS_Srv:` / `TLS_Clt:` / `TLS_Rcpt:` value in the form sendmail acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRequirement {
    pub severity: Option<Severity>,
    pub level: Level,
    pub extensions: Vec<Extension>,
}

impl TlsRequirement {
    /// Reads a value as `TLS_connection` does; `None` when it is not of the
    /// form `[PERM+|TEMP+] (VERIFY | VERIFY:bits | ENCR:bits) [+ext[++ext]…]`
    /// — sendmail then accepts without any requirement.
    pub fn parse(value: &str) -> Option<TlsRequirement> {
        let toks = tokenize(value);
        let is = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.eq_ignore_ascii_case(w));
        let is_tls_kw = |i: usize| is(i, "VERIFY") || is(i, "ENCR");
        let (severity, rest) = if is(0, "PERM") && is(1, "+") && is_tls_kw(2) {
            (Some(Severity::Perm), &toks[2..])
        } else if is(0, "TEMP") && is(1, "+") && is_tls_kw(2) {
            (Some(Severity::Temp), &toks[2..])
        } else if is_tls_kw(0) {
            (None, &toks[..])
        } else {
            return None;
        };
        let kw = rest[0].to_ascii_uppercase();
        let (level, ext) = if kw == "VERIFY" && rest.len() == 1 {
            (Level::Verify, &rest[1..])
        } else if kw == "VERIFY" && rest.len() >= 3 && rest[1] == "+" {
            (Level::Verify, &rest[2..])
        } else if rest.len() >= 3 && rest[1] == ":" {
            let bits = rest[2].clone();
            let level = if kw == "VERIFY" {
                Level::VerifyBits(bits)
            } else {
                Level::Encr(bits)
            };
            if rest.len() == 3 {
                (level, &rest[3..])
            } else if rest.len() >= 5 && rest[3] == "+" {
                (level, &rest[4..])
            } else {
                return None;
            }
        } else {
            return None;
        };
        Some(TlsRequirement {
            severity,
            level,
            extensions: split_extensions(ext),
        })
    }
}

/// The requirement written back in sendmail's form:
/// `[PERM+|TEMP+]VERIFY[:bits]` or `…ENCR:bits`, then `+ext[++ext]…`.
impl fmt::Display for TlsRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Some(Severity::Perm) => f.write_str("PERM+")?,
            Some(Severity::Temp) => f.write_str("TEMP+")?,
            None => {}
        }
        match &self.level {
            Level::Verify => f.write_str("VERIFY")?,
            Level::VerifyBits(b) => write!(f, "VERIFY:{b}")?,
            Level::Encr(b) => write!(f, "ENCR:{b}")?,
        }
        f.write_str(&self.extensions_text())
    }
}

impl TlsRequirement {
    /// What follows the level: `+CN`, `+CS:dn++CI:dn`, or "".
    pub fn extensions_text(&self) -> String {
        let mut s = String::new();
        for (i, e) in self.extensions.iter().enumerate() {
            s.push_str(if i == 0 { "+" } else { "++" });
            s.push_str(&e.to_string());
        }
        s
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Extension::Cn => f.write_str("CN"),
            Extension::CnName(t) => write!(f, "CN:{}", t.concat()),
            Extension::Subject(t) => write!(f, "CS:{}", t.concat()),
            Extension::Issuer(t) => write!(f, "CI:{}", t.concat()),
            Extension::IssuerTag(t) => write!(f, "CITag:{t}"),
            Extension::Unknown(t) => f.write_str(&t.concat()),
        }
    }
}

/// Splits extension tokens at each `+ +` (sendmail's `++`).
fn split_extensions(toks: &[String]) -> Vec<Extension> {
    if toks.is_empty() {
        return Vec::new();
    }
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == "+"
            && toks.get(i + 1).is_some_and(|t| t == "+")
            && i + 2 < toks.len()
            && !groups.last().is_some_and(Vec::is_empty)
        {
            groups.push(Vec::new());
            i += 2;
            continue;
        }
        if let Some(g) = groups.last_mut() {
            g.push(toks[i].clone());
        }
        i += 1;
    }
    groups.into_iter().map(|g| extension(&g)).collect()
}

fn extension(g: &[String]) -> Extension {
    let head = g
        .first()
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_default();
    let colon = g.get(1).is_some_and(|t| t == ":");
    match (head.as_str(), colon) {
        ("CN", false) if g.len() == 1 => Extension::Cn,
        ("CN", true) if g.len() > 2 => Extension::CnName(g[2..].to_vec()),
        ("CS", true) if g.len() > 2 => Extension::Subject(g[2..].to_vec()),
        ("CI", true) if g.len() > 2 => Extension::Issuer(g[2..].to_vec()),
        ("CITAG", true) if g.len() == 3 => Extension::IssuerTag(g[2].clone()),
        _ => Extension::Unknown(g.to_vec()),
    }
}

/// A value as the rulesets of its tag read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rhs {
    /// A TLS requirement in the form sendmail acts on.
    Tls(TlsRequirement),
    /// A TLS entry whose value sendmail ignores (it accepts).
    TlsIgnored,
    /// `RELAY` (CERTISSUER, CERTSUBJECT, Connect, To, untagged).
    Relay,
    /// `SUBJECT` (CERTISSUER): look at CERTSUBJECT.
    Subject,
    Ok,
    Reject,
    Discard,
    Skip,
    /// `ERROR:…` or an SMTP reply such as `550 text`.
    Error(String),
    /// Anything else, kept as written.
    Other(String),
}

impl Rhs {
    pub fn parse(tag: &Tag, value: &str) -> Rhs {
        if tag.is_tls() {
            return TlsRequirement::parse(value).map_or(Rhs::TlsIgnored, Rhs::Tls);
        }
        let toks = tokenize(value);
        let word = |w: &str| tokens::is_word(&toks, w);
        if word("RELAY") {
            Rhs::Relay
        } else if word("SUBJECT") {
            Rhs::Subject
        } else if word("OK") {
            Rhs::Ok
        } else if word("REJECT") {
            Rhs::Reject
        } else if word("DISCARD") {
            Rhs::Discard
        } else if word("SKIP") {
            Rhs::Skip
        } else if value
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("ERROR:"))
            || value
                .as_bytes()
                .get(..3)
                .is_some_and(|p| p.iter().all(u8::is_ascii_digit))
        {
            Rhs::Error(value.to_string())
        } else {
            Rhs::Other(value.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_identity() {
        for text in [
            "",
            "\n",
            "# c\nTLS_Clt:a.example VERIFY\n",
            "x y",
            "\r\n  lead\nk v\r\n\n\n",
            "k\tv \t \nnovalue\nk2 v2",
        ] {
            assert_eq!(
                AccessMap::parse(text.as_bytes()).to_bytes(),
                text.as_bytes()
            );
        }
    }

    #[test]
    fn lines_typed_like_makemap() {
        let m = AccessMap::parse(b"# c\n\n  x y\nnoval\t\nTLS_Clt:A.example\tVERIFY  \r\n");
        let kinds: Vec<_> = m.lines.iter().map(|l| &l.kind).collect();
        assert_eq!(kinds[0], &LineKind::Comment);
        assert_eq!(kinds[1], &LineKind::Blank);
        assert_eq!(kinds[2], &LineKind::LeadingSpace);
        assert_eq!(
            kinds[3],
            &LineKind::NoValue {
                key: "noval".into()
            }
        );
        let e = m.lines[4].entry().unwrap();
        assert_eq!(e.value(), "VERIFY  \r");
        assert_eq!(e.tag, Tag::TlsClt);
        assert_eq!(e.target(), "A.example");
        assert_eq!(e.value_col, 19);
        assert_eq!(m.database().get("tls_clt:a.EXAMPLE").unwrap().1, 5);
    }

    #[test]
    fn too_long_lines_split_like_makemap() {
        let line = format!("k1 {}\n", "b".repeat(1030));
        let m = AccessMap::parse(line.as_bytes());
        match &m.lines[0].kind {
            LineKind::TooLong { rest, .. } => assert_eq!(
                **rest,
                LineKind::NoValue {
                    key: "b".repeat(10)
                }
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requirements_are_written_back_as_read() {
        for v in [
            "VERIFY",
            "VERIFY:128",
            "ENCR:256",
            "PERM+VERIFY+CN",
            "TEMP+VERIFY:112+CS:/CN=a+20b++CI:/CN=CA",
            "VERIFY+CN:mx.example.org",
            "ENCR:128+CITag:MYCA",
        ] {
            let r = TlsRequirement::parse(v).unwrap();
            assert_eq!(r.to_string(), v);
            assert_eq!(TlsRequirement::parse(&r.to_string()), Some(r));
        }
        let r = TlsRequirement::parse("perm+verify:128 + cn").unwrap();
        assert_eq!(r.to_string(), "PERM+VERIFY:128+CN");
    }

    #[test]
    fn requirements() {
        let r = TlsRequirement::parse("PERM + Verify : 128").unwrap();
        assert_eq!(r.severity, Some(Severity::Perm));
        assert_eq!(r.level, Level::VerifyBits("128".into()));
        let r = TlsRequirement::parse("ENCR:128bits").unwrap();
        assert_eq!(r.level, Level::Encr("128bits".into()));
        let r = TlsRequirement::parse("VERIFY+CN++CS:/C=US/O=a+20b").unwrap();
        assert_eq!(r.extensions.len(), 2);
        assert_eq!(r.extensions[0], Extension::Cn);
        assert_eq!(
            r.extensions[1],
            Extension::Subject(tokenize("/C=US/O=a+20b"))
        );
        for ignored in [
            "VERIFY:",
            "ENCR",
            "VERIFY 128",
            "VERIFY+",
            "PERM+",
            "TEMP+PERM+VERIFY",
            "REQUIRE",
            "OK",
            "VERIFY:128 junk",
            "VERIFY # comment",
            "VERIFY:128+",
        ] {
            assert_eq!(TlsRequirement::parse(ignored), None, "{ignored}");
        }
        assert!(TlsRequirement::parse("VERIFY:abc").is_some());
        assert!(TlsRequirement::parse("ENCR:-1").is_some());
    }

    #[test]
    fn tags() {
        assert_eq!(Tag::split_key("tls_clt:x"), (Tag::TlsClt, "x"));
        assert_eq!(
            Tag::split_key("IPv6:2001:db8::1"),
            (Tag::Untagged, "IPv6:2001:db8::1")
        );
        assert_eq!(Tag::split_key("Foo:x"), (Tag::Unknown("Foo".into()), "x"));
        assert_eq!(Tag::split_key("a.example"), (Tag::Untagged, "a.example"));
    }

    #[test]
    fn nul_bytes_and_non_utf8_like_makemap() {
        // A NUL hides the newline: the whole line is skipped.
        let m = AccessMap::parse(b"k v\0zz\nj w\n");
        assert!(m.lines[0].entry().is_none());
        // At the end of the file the C string just ends at the NUL.
        let m = AccessMap::parse(b"k v\0zz");
        assert_eq!(m.lines[0].entry().unwrap().value(), "v");
        // Non-UTF-8 bytes survive exactly, and do not merge keys.
        let m = AccessMap::parse(b"z\x80\xff v\x81\nz\xef\xbf\xbd w\n");
        let db = m.database();
        let pairs: Vec<_> = db.iter_in_file_order(&m).collect();
        assert_eq!(pairs[0], (b"z\x80\xff".to_vec(), b"v\x81".to_vec()));
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            Rhs::parse(&Tag::Connect, "abcd\u{e9}"),
            Rhs::Other("abcd\u{e9}".into())
        );
    }

    #[test]
    fn long_lines_keep_only_their_last_piece() {
        let line = format!("k1 {} x\nk2 v\n", "b".repeat(2100));
        let m = AccessMap::parse(line.as_bytes());
        let keys: Vec<_> = m
            .database()
            .iter_in_file_order(&m)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            vec![b"b".repeat(2103 - 2046).to_vec(), b"k2".to_vec()]
        );
        // 10 MB in one line: linear, no recursion.
        let big = format!("k {}\n", "v".repeat(10_000_000));
        assert!(matches!(
            AccessMap::parse(big.as_bytes()).lines[0].kind,
            LineKind::TooLong { .. }
        ));
    }
}
