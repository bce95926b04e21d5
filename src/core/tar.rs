//! A POSIX tar (ustar) writer for bundles: the same entries give the same
//! bytes. Owner root:root (uid and gid 0), one fixed mtime, modes as given,
//! symbolic links kept as links. Names longer than ustar allows get a pax
//! extended header (`path=`/`linkpath=`), which GNU tar and bsdtar read.

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarKind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// One entry; `path` uses `/` and, for a directory, may end in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub path: String,
    pub mode: u32,
    pub kind: TarKind,
}

const BLOCK: usize = 512;
/// GNU tar's default record size; archives are padded to it as tar does.
const RECORD: usize = 10240;

fn octal(field: &mut [u8], value: u64) {
    // width-1 octal digits, zero-padded, then NUL.
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    let s = &s.as_bytes()[s.len().saturating_sub(digits)..];
    field[..digits].copy_from_slice(s);
    field[digits] = 0;
}

fn put(field: &mut [u8], s: &[u8]) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s[..n]);
}

/// Splits a path into ustar's (prefix, name), if it fits.
fn split_ustar(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The name part must be ≤ 100 bytes and the prefix ≤ 155, split at a '/'.
    let bytes = path.as_bytes();
    (0..bytes.len())
        .filter(|&i| bytes[i] == b'/')
        .find(|&i| i <= 155 && bytes.len() - i - 1 <= 100 && bytes.len() - i - 1 > 0)
        .map(|i| (&path[..i], &path[i + 1..]))
}

fn header(
    name: &str,
    prefix: &str,
    mode: u32,
    size: u64,
    mtime: u64,
    typeflag: u8,
    link: &str,
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    put(&mut h[0..100], name.as_bytes());
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[148..156].copy_from_slice(b"        ");
    h[156] = typeflag;
    put(&mut h[157..257], link.as_bytes());
    put(&mut h[257..263], b"ustar\0");
    put(&mut h[263..265], b"00");
    put(&mut h[265..297], b"root");
    put(&mut h[297..329], b"root");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    put(&mut h[345..500], prefix.as_bytes());
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

/// A pax record `LEN key=value\n`, LEN counting itself.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len = len.to_string().len() + body.len();
    }
    format!("{len}{body}")
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % BLOCK;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

/// The archive of `entries`, in the order given, every entry with `mtime`.
pub fn ustar(entries: &[TarEntry], mtime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let path = match e.kind {
            TarKind::Dir if !e.path.ends_with('/') => format!("{}/", e.path),
            _ => e.path.clone(),
        };
        let (typeflag, size, link) = match &e.kind {
            TarKind::Dir => (b'5', 0u64, ""),
            TarKind::File(d) => (b'0', d.len() as u64, ""),
            TarKind::Symlink(t) => (b'2', 0u64, t.as_str()),
        };
        let split = split_ustar(&path);
        let mut pax = String::new();
        if split.is_none() {
            pax.push_str(&pax_record("path", &path));
        }
        if link.len() > 100 {
            pax.push_str(&pax_record("linkpath", link));
        }
        if !pax.is_empty() {
            out.extend_from_slice(&header(
                "././@PaxHeader",
                "",
                0o644,
                pax.len() as u64,
                mtime,
                b'x',
                "",
            ));
            out.extend_from_slice(pax.as_bytes());
            pad(&mut out);
        }
        let (prefix, name) = split.unwrap_or(("", &path[path.len().saturating_sub(100)..]));
        let link_field = if link.len() > 100 { "" } else { link };
        out.extend_from_slice(&header(
            name, prefix, e.mode, size, mtime, typeflag, link_field,
        ));
        if let TarKind::File(d) = &e.kind {
            out.extend_from_slice(d);
            pad(&mut out);
        }
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    let rem = out.len() % RECORD;
    if rem != 0 {
        out.resize(out.len() + RECORD - rem, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_lengths() {
        for v in ["a", &"x".repeat(90), &"y".repeat(95), &"z".repeat(300)] {
            let r = pax_record("path", v);
            let (n, _) = r.split_once(' ').unwrap();
            assert_eq!(n.parse::<usize>().unwrap(), r.len(), "{r}");
        }
    }

    #[test]
    fn layout_and_checksum() {
        let e = [
            TarEntry {
                path: "./".into(),
                mode: 0o755,
                kind: TarKind::Dir,
            },
            TarEntry {
                path: "./k.key".into(),
                mode: 0o600,
                kind: TarKind::File(b"secret\n".to_vec()),
            },
        ];
        let t = ustar(&e, 1_700_000_000);
        assert_eq!(t.len(), RECORD);
        assert_eq!(&t[512 + 100..512 + 108], b"0000600\0");
        assert_eq!(&t[512 + 257..512 + 263], b"ustar\0");
        assert_eq!(&t[1024..1031], b"secret\n");
        let h = &t[512..1024];
        let mut sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        sum -= h[148..156].iter().map(|&b| u32::from(b)).sum::<u32>();
        sum += 8 * u32::from(b' ');
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        assert_eq!(stored, sum);
        assert_eq!(ustar(&e, 1_700_000_000), t, "same input, same bytes");
        let long = format!("./{}.key", "a".repeat(250));
        assert!(split_ustar(&long).is_none());
    }
}
