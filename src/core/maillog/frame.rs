//! The framing around a log message: syslog's (traditional `Dec  3
//! 23:33:40 host prog[pid]: msg`, rsyslog's RFC 3339 time stamps, a sink
//! without the host), journalctl's `-o short`/`short-iso`/`short-precise`/
//! `short-full` and `-o json`, or a bare message.

use std::borrow::Cow;

/// One line, taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Framed<'a> {
    pub time: Option<Cow<'a, str>>,
    pub host: Option<Cow<'a, str>>,
    /// The syslog tag without the pid (`sm-mta`); empty for a bare message.
    pub program: Cow<'a, str>,
    pub pid: Option<u32>,
    pub message: Cow<'a, str>,
}

/// A line's framing, borrowed: what the explainer reads of it once the
/// message is taken apart (the message itself is not read again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Frame<'a> {
    pub time: Option<&'a str>,
    pub host: Option<&'a str>,
    pub program: &'a str,
    pub pid: Option<u32>,
}

impl Framed<'_> {
    /// The framing as borrowed texts.
    pub fn view(&self) -> Frame<'_> {
        Frame {
            time: self.time.as_deref(),
            host: self.host.as_deref(),
            program: &self.program,
            pid: self.pid,
        }
    }
}

/// A month's name, as syslog and journalctl write it.
fn is_month(b: &[u8]) -> bool {
    matches!(
        b,
        b"Jan"
            | b"Feb"
            | b"Mar"
            | b"Apr"
            | b"May"
            | b"Jun"
            | b"Jul"
            | b"Aug"
            | b"Sep"
            | b"Oct"
            | b"Nov"
            | b"Dec"
    )
}

/// A day's name, as journalctl's `-o short-full` writes it.
fn is_day(b: &[u8]) -> bool {
    matches!(
        b,
        b"Mon" | b"Tue" | b"Wed" | b"Thu" | b"Fri" | b"Sat" | b"Sun"
    )
}

/// Takes `line` apart. A journal JSON line that is not valid JSON gives
/// `None` (listed as unknown); every other line frames, at worst as a bare
/// message.
pub fn frame(line: &str) -> Option<Framed<'_>> {
    let line = without_line_end(line);
    if line.starts_with('{') {
        return journal_json(line);
    }
    let (f, message) = frame_text(line);
    Some(Framed {
        time: f.time.map(Cow::Borrowed),
        host: f.host.map(Cow::Borrowed),
        program: Cow::Borrowed(f.program),
        pid: f.pid,
        message: Cow::Borrowed(message),
    })
}

/// `line` without the `\r` and `\n` at its end (what is framed, and the
/// text an explanation quotes).
pub fn without_line_end(line: &str) -> &str {
    let mut n = line.len();
    while n > 0 && matches!(line.as_bytes()[n - 1], b'\r' | b'\n') {
        n -= 1;
    }
    &line[..n]
}

/// `frame` for a line that is not a journal JSON object (and has no line
/// end): its framing and its message, all pieces of it.
pub fn frame_text(line: &str) -> (Frame<'_>, &str) {
    let (time, rest) = match timestamp(line) {
        Some((t, r)) => (Some(t), r),
        None => (None, line),
    };
    let rest = &rest[rest.bytes().take_while(|&c| c == b' ').count()..];
    // After the time: `prog[pid]: msg` or `host prog[pid]: msg`. A tag
    // holds no blank, so a blank before the first `: ` rules the first
    // form out without trying it.
    let (blank, colon) = blank_and_colon(rest.as_bytes());
    if blank.is_none() {
        if let Some((program, pid, msg)) = tag_at(rest, colon) {
            let f = Frame {
                time,
                host: None,
                program,
                pid,
            };
            return (f, msg);
        }
    }
    if time.is_some() {
        // the first blank, and after it the first `: ` (when the blank
        // comes before the first `: ` of all, that one)
        let host_tag = match blank {
            Some(b) => Some((b, colon.map(|c| c - b - 1))),
            None => memchr::memchr(b' ', rest.as_bytes())
                .map(|b| (b, super::shapes::find_colon_blank(&rest[b + 1..]))),
        };
        if let Some((b, c)) = host_tag {
            let (host, after) = (&rest[..b], &rest[b + 1..]);
            if let Some((program, pid, msg)) = tag_at(after, c) {
                let f = Frame {
                    time,
                    host: Some(host),
                    program,
                    pid,
                };
                return (f, msg);
            }
        }
    }
    let f = Frame {
        time,
        host: None,
        program: "",
        pid: None,
    };
    (f, rest)
}

/// In one pass: the first `: `, and the first blank before it (`None`
/// when none comes before it; with no `: `, the first blank of all).
fn blank_and_colon(b: &[u8]) -> (Option<usize>, Option<usize>) {
    let mut blank = None;
    for i in memchr::memchr2_iter(b' ', b':', b) {
        if b[i] == b' ' {
            blank = blank.or(Some(i));
        } else if b.get(i + 1) == Some(&b' ') {
            return (blank, Some(i));
        }
    }
    (blank, None)
}

/// A number (a pid, a cipher's bits) as `str::parse::<u32>` reads it
/// (digits, an optional `+` before them), without its generic machinery.
pub(super) fn parse_u32(s: &str) -> Option<u32> {
    let d = s.strip_prefix('+').unwrap_or(s).as_bytes();
    if d.is_empty() {
        return None;
    }
    if d.len() <= 9 {
        // (nine digits cannot overflow: no check per digit)
        let mut n: u32 = 0;
        for &c in d {
            let v = c.wrapping_sub(b'0');
            if v > 9 {
                return None;
            }
            n = n * 10 + u32::from(v);
        }
        return Some(n);
    }
    let mut n: u32 = 0;
    for &c in d {
        let v = c.wrapping_sub(b'0');
        if v > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u32::from(v))?;
    }
    Some(n)
}

/// What a byte is in a tag, in one lookup: a program name's (letters,
/// digits and `-_./@`), lower case, or the `[` before the pid.
static TAG: [u8; 256] = {
    let name = super::shapes::alnum_and(b"-_./@");
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        if name[c] {
            t[c] |= NAME_BYTE;
        }
        if (c as u8).is_ascii_lowercase() {
            t[c] |= LOWER;
        }
        c += 1;
    }
    t[b'[' as usize] |= OPEN;
    t
};
const NAME_BYTE: u8 = 1;
const LOWER: u8 = 2;
const OPEN: u8 = 4;

/// `prog[pid]: msg` or `prog: msg`, with the position of the first `: `
/// in `s` found already.
fn tag_at(s: &str, colon: Option<usize>) -> Option<(&str, Option<u32>, &str)> {
    let colon = colon.or_else(|| s.strip_suffix(':').map(str::len))?;
    let t = &s.as_bytes()[..colon];
    let msg = s.get(colon + 2..).unwrap_or("");
    // One pass over the name, up to a `[`: whether every byte is a name's,
    // and whether one is lower case.
    let (mut i, mut all, mut any) = (0, NAME_BYTE, 0);
    while i < t.len() {
        let f = TAG[usize::from(t[i])];
        if f & OPEN != 0 {
            break;
        }
        all &= f;
        any |= f;
        i += 1;
    }
    let (mut name_ok, lower) = (all & NAME_BYTE != 0, any & LOWER != 0);
    let (program, pid) = if i < t.len() && t[t.len() - 1] == b']' {
        // `prog[pid]`: the pid between the first `[` and the last `]`
        (&s[..i], Some(parse_u32(s.get(i + 1..colon - 1)?)?))
    } else {
        // no pid: the whole tag is the name (a `[` is not a name's byte)
        name_ok &= i == t.len();
        (&s[..colon], None)
    };
    let ok = !program.is_empty() && program.len() <= 64 && name_ok;
    // A message such as `STARTTLS: CRLFile missing` is not a tag: a tag
    // needs a pid, or must look like a program name (lower case).
    (ok && (pid.is_some() || lower)).then_some((program, pid, msg))
}

/// The time stamp at the start of `line`, and the rest.
fn timestamp(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    // RFC 3339 / ISO: 2026-12-03T23:33:40.123456+00:00
    if b.len() > 19 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T' {
        let end = memchr::memchr(b' ', b)?;
        return Some((&line[..end], &line[end..]));
    }
    // Every other stamp starts with a month's or a day's name.
    if b.len() <= 15 || b[3] != b' ' || !b[0].is_ascii_uppercase() {
        return None;
    }
    // journalctl -o short-full: Thu 2026-12-03 23:33:40 UTC
    if b.len() > 24 && is_day(&b[..3]) {
        let mut parts = line.splitn(5, ' ');
        let (_, date, time, _tz) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if date.len() == 10 && time.contains(':') {
            let len = line.len() - parts.next().map_or(0, str::len) - 1;
            let len = len.min(line.len());
            return Some((&line[..len], &line[len..]));
        }
    }
    // Dec  3 23:33:40 (syslog) or Dec 03 23:33:40[.123456] (journalctl)
    if b.len() > 15 && is_month(&b[..3]) && b[3] == b' ' {
        let day_end = 6;
        if !(b[4] == b' ' || b[4].is_ascii_digit()) || !b[5].is_ascii_digit() || b[6] != b' ' {
            return None;
        }
        let t = &line[day_end + 1..];
        let end = t.bytes().position(|c| c == b' ').unwrap_or(t.len());
        let clock = &t[..end];
        if clock.len() >= 8 && clock.as_bytes()[2] == b':' && clock.as_bytes()[5] == b':' {
            let n = day_end + 1 + end;
            return Some((&line[..n], &line[n..]));
        }
    }
    None
}

/// `journalctl -o json`: one object per line.
fn journal_json(line: &str) -> Option<Framed<'_>> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let o = v.as_object()?;
    let text = |k: &str| -> Option<String> {
        match o.get(k)? {
            serde_json::Value::String(s) => Some(s.clone()),
            // journald gives non-UTF-8 fields as arrays of bytes
            serde_json::Value::Array(a) => {
                let bytes: Vec<u8> = a
                    .iter()
                    .filter_map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                    .collect();
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let message = text("MESSAGE")?;
    let time = text("__REALTIME_TIMESTAMP")
        .and_then(|us| us.parse::<i64>().ok())
        .and_then(|us| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    let pid = text("SYSLOG_PID")
        .or_else(|| text("_PID"))
        .and_then(|p| p.parse().ok());
    let message = message.trim_end_matches(['\r', '\n']).to_string();
    Some(Framed {
        time: time.map(Cow::Owned),
        host: text("_HOSTNAME").map(Cow::Owned),
        program: Cow::Owned(
            text("SYSLOG_IDENTIFIER")
                .or_else(|| text("_COMM"))
                .unwrap_or_default(),
        ),
        pid,
        message: Cow::Owned(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The framing rules written plainly, without the fast paths: the
    /// oracle for `frame` on odd lines.
    fn reference(line: &str) -> Option<Framed<'_>> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.starts_with('{') {
            return journal_json(line);
        }
        let (time, rest) = match reference_time(line) {
            Some((t, r)) => (Some(Cow::Borrowed(t)), r),
            None => (None, line),
        };
        let rest = rest.trim_start_matches(' ');
        let tag = |s: &str| -> Option<(String, Option<u32>, String)> {
            let (t, msg) = match s.split_once(": ") {
                Some((t, m)) => (t, m),
                None => (s.strip_suffix(':')?, ""),
            };
            let (program, pid) = match t.strip_suffix(']').and_then(|x| x.split_once('[')) {
                Some((p, pid)) => (p, Some(pid.parse::<u32>().ok()?)),
                None => (t, None),
            };
            let ok = !program.is_empty()
                && program.len() <= 64
                && program
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./@".contains(c))
                && (pid.is_some() || program.chars().any(|c| c.is_ascii_lowercase()));
            ok.then(|| (program.to_string(), pid, msg.to_string()))
        };
        let first_tag = rest.split_once(": ").map_or(rest, |(t, _)| t);
        if !first_tag.contains(' ') {
            if let Some((program, pid, msg)) = tag(rest) {
                return Some(Framed {
                    time,
                    host: None,
                    program: Cow::Owned(program),
                    pid,
                    message: Cow::Owned(msg),
                });
            }
        }
        if time.is_some() {
            if let Some((host, after)) = rest.split_once(' ') {
                if let Some((program, pid, msg)) = tag(after) {
                    return Some(Framed {
                        time,
                        host: Some(Cow::Borrowed(host)),
                        program: Cow::Owned(program),
                        pid,
                        message: Cow::Owned(msg),
                    });
                }
            }
        }
        Some(Framed {
            time,
            host: None,
            program: Cow::Borrowed(""),
            pid: None,
            message: Cow::Borrowed(rest),
        })
    }

    fn reference_time(line: &str) -> Option<(&str, &str)> {
        let b = line.as_bytes();
        if b.len() > 19 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T' {
            let end = line.find(' ')?;
            return Some(line.split_at(end));
        }
        if b.len() <= 15 || b[3] != b' ' || !b[0].is_ascii_uppercase() {
            return None;
        }
        let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        if b.len() > 24 && days.iter().any(|d| line.starts_with(d)) {
            let mut parts = line.splitn(5, ' ');
            let (_, date, time, _tz) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            if date.len() == 10 && time.contains(':') {
                let len = (line.len() - parts.next().map_or(0, str::len) - 1).min(line.len());
                return Some(line.split_at(len));
            }
        }
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        if months.iter().any(|m| line.starts_with(m)) {
            if !(b[4] == b' ' || b[4].is_ascii_digit()) || !b[5].is_ascii_digit() || b[6] != b' ' {
                return None;
            }
            let t = &line[7..];
            let clock = t.split(' ').next().unwrap_or(t);
            if clock.len() >= 8 && clock.as_bytes()[2] == b':' && clock.as_bytes()[5] == b':' {
                return Some(line.split_at(7 + clock.len()));
            }
        }
        None
    }

    #[test]
    fn frame_agrees_with_the_plain_rules_on_odd_lines() {
        let times = [
            "",
            "Dec  4 00:28:13 ",
            "Dec 04 00:28:13.123456 ",
            "Thu 2026-12-03 23:33:40 UTC ",
            "2026-12-03T23:33:40.123456+00:00 ",
            "Dex  4 00:28:13 ",
            "Dec  4 0028:13 ",
            "Dec  4 00:28:13",
            "Dec é 00:28:13 ",
            "Mon ",
        ];
        let hosts = ["", "mx1 ", "mx.example.org ", "hé ", "a:b ", ": ", "x: y "];
        let tags = [
            "sm-mta[123]",
            "sm-mta[+42]",
            "sm-mta[]",
            "sm-mta[4294967295]",
            "sm-mta[4294967296]",
            "sm-mta[0000000000012]",
            "sm-mta[-1]",
            "FOO",
            "foo",
            "sm mta[1]",
            "sm-mta[1",
            "[1]",
            "sm-mta[1][2]",
            "x/y@z._-",
            "é[1]",
            "",
        ];
        let long = "a".repeat(65);
        let seps = [": ", ":", " : ", ""];
        let msgs = [
            "",
            "hello",
            "STARTTLS: CRLFile missing",
            "a: b c",
            "x y: z",
            "\r",
            "\r\n",
        ];
        let mut n = 0;
        for t in times {
            for lead in ["", "  "] {
                for h in hosts {
                    for g in tags.iter().copied().chain([long.as_str()]) {
                        for sep in seps {
                            for m in msgs {
                                let line = format!("{t}{lead}{h}{g}{sep}{m}");
                                assert_eq!(frame(&line), reference(&line), "{line:?}");
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
        for l in crate::core::maillog::recorded_corpus().lines() {
            assert_eq!(frame(l), reference(l), "{l:?}");
        }
        assert!(n > 50_000);
    }

    #[test]
    fn pids_read_as_str_parse_reads_them() {
        for s in [
            "",
            "+",
            "0",
            "+0",
            "7",
            "+7",
            "-7",
            "007",
            "999999999",
            "+999999999",
            "1000000000",
            "99999999a",
            "4294967295",
            "4294967296",
            "99999999999",
            "00000000000000000001",
            "1a",
            "a1",
            " 1",
            "1 ",
            "++1",
            "١",
        ] {
            assert_eq!(parse_u32(s), s.parse::<u32>().ok(), "{s:?}");
        }
    }

    fn parts(l: &str) -> (Option<String>, Option<String>, String, Option<u32>, String) {
        let f = frame(l).unwrap();
        (
            f.time.map(|x| x.into_owned()),
            f.host.map(|x| x.into_owned()),
            f.program.into_owned(),
            f.pid,
            f.message.into_owned(),
        )
    }

    #[test]
    fn framings() {
        let msg = "STARTTLS: CRLFile missing";
        for (line, time, host) in [
            (
                "Dec  3 23:33:39 mx sm-mta[26161]: STARTTLS: CRLFile missing",
                "Dec  3 23:33:39",
                Some("mx"),
            ),
            (
                "Dec  3 23:33:39 sm-mta[26161]: STARTTLS: CRLFile missing",
                "Dec  3 23:33:39",
                None,
            ),
            (
                "Dec 03 23:33:39 mx sm-mta[26161]: STARTTLS: CRLFile missing",
                "Dec 03 23:33:39",
                Some("mx"),
            ),
            (
                "Dec 03 23:33:39.123456 mx sm-mta[26161]: STARTTLS: CRLFile missing",
                "Dec 03 23:33:39.123456",
                Some("mx"),
            ),
            (
                "2026-12-03T23:33:39.123456+00:00 mx sm-mta[26161]: STARTTLS: CRLFile missing",
                "2026-12-03T23:33:39.123456+00:00",
                Some("mx"),
            ),
            (
                "2026-12-03T23:33:39+0000 mx sm-mta[26161]: STARTTLS: CRLFile missing",
                "2026-12-03T23:33:39+0000",
                Some("mx"),
            ),
            (
                "Thu 2026-12-03 23:33:39 UTC mx sm-mta[26161]: STARTTLS: CRLFile missing",
                "Thu 2026-12-03 23:33:39 UTC",
                Some("mx"),
            ),
        ] {
            let (t, h, p, pid, m) = parts(line);
            assert_eq!(t.as_deref(), Some(time), "{line}");
            assert_eq!(h.as_deref(), host, "{line}");
            assert_eq!(
                (p.as_str(), pid, m.as_str()),
                ("sm-mta", Some(26161), msg),
                "{line}"
            );
        }
        // A bare message keeps its own colon.
        let (t, _, p, pid, m) = parts(msg);
        assert_eq!((t, p.as_str(), pid, m.as_str()), (None, "", None, msg));
        let j = r#"{"MESSAGE":"STARTTLS: CRLFile missing","SYSLOG_IDENTIFIER":"sm-mta","_PID":"26161","_HOSTNAME":"mx","__REALTIME_TIMESTAMP":"1796341219000000"}"#;
        let (t, h, p, pid, m) = parts(j);
        assert!(t.unwrap().starts_with("2026-12-03T"));
        assert_eq!(
            (h.as_deref(), p.as_str(), pid, m.as_str()),
            (Some("mx"), "sm-mta", Some(26161), msg)
        );
        let bytes = r#"{"MESSAGE":[83,84,65,82,84,84,76,83,58,32,67,82,76,70,105,108,101,32,109,105,115,115,105,110,103],"_PID":"7"}"#;
        assert_eq!(parts(bytes).4, msg);
        assert!(frame("{not json").is_none());
        // Odd input frames as a bare message, without a panic.
        for odd in [
            "",
            "Dec",
            "Dec  3",
            "Dec  3 23:33:39",
            "2026-12-03T",
            ": x",
            "[1]: y",
            "\u{fffd}\u{0}",
            "Thu 2026-12-03",
        ] {
            let _ = frame(odd);
        }
    }
}
