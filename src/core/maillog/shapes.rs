//! sendmail's messages, recognised: which of its log lines this is, and its
//! fields. Nothing here allocates: the fields are slices of the message.

use memchr::memmem::Finder;
use std::sync::OnceLock;

/// `STARTTLS=server` (we were the server: the peer is a client) or
/// `STARTTLS=client` (we delivered to a server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Server,
    Client,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
    /// Whose certificate the line is about.
    pub fn peer_word(self) -> &'static str {
        match self {
            Side::Server => "client",
            Side::Client => "server",
        }
    }
}

/// One recognised message. `S` is its text: `&str`, slices of the
/// message, or places in its line (`store::logread`'s pieces; `Shape::map`
/// turns one into the other, so lines can be recognised on another
/// thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape<S> {
    /// `STARTTLS=S, relay=R, version=V, verify=X, cipher=C, bits=A/B`
    Session {
        side: Side,
        relay: S,
        version: S,
        verify: S,
        cipher: S,
        bits: S,
    },
    /// `STARTTLS=S, cert-subject=…, cert-issuer=…, verifymsg=…`
    Cert {
        side: Side,
        subject: S,
        issuer: S,
        verifymsg: S,
    },
    /// `STARTTLS=S: file F unsafe: REASON`
    Unsafe { file: S, reason: S },
    /// `STARTTLS: CACertPath missing` (and the other files)
    Missing { what: S },
    /// `STARTTLS=S, error: load verify locs P, F failed: N`
    LoadVerifyLocs { side: Side, path: S, file: S },
    /// `STARTTLS=server, error: accept failed=…` / `STARTTLS=client, error: connect failed=…`
    HandshakeFailed { side: Side, reason: S, relay: S },
    /// `STARTTLS=S, error: …` (an OpenSSL error queue line and the like)
    TlsError { side: Option<Side>, text: S },
    /// `STARTTLS=S: error:0A000126:SSL routines::REASON:file:line:` —
    /// OpenSSL's error queue, detail of the line before.
    OpensslDetail { reason: S },
    /// `STARTTLS: X509 cert verify: depth=N DN, state=N, reason=R` (and
    /// `TLS cert verify:`): one step of certificate verification failed.
    CertVerify { depth: S, dn: S, reason: S },
    /// `STARTTLS=S, init=N`
    Init { side: Side, ok: bool },
    /// `STARTTLS=S, Diffie-Hellman init, key=N bit (c)`
    DhInit { side: Side, text: S },
    /// Other `STARTTLS…` lines sendmail writes when all is well or that
    /// only say what it is doing (`read error`, `SSL_shutdown`, …).
    TlsOther { text: S },
    /// `ruleset=R, arg1=A, relay=X, reject=REPLY` (or `discard`, `quarantine`)
    Ruleset {
        ruleset: S,
        arg1: S,
        relay: S,
        reject: S,
    },
    /// `to=<…>, …, relay=…, stat=…`
    Delivery { to: S, relay: S, mailer: S, stat: S },
    /// `from=<…>, size=…, nrcpts=N, proto=P, daemon=D, relay=R`
    From {
        from: S,
        relay: S,
        proto: S,
        nrcpts: S,
    },
    /// `connect from R`
    Connect { relay: S },
    /// `R did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA`
    DidNotIssue { relay: S },
    /// `lost input channel from R to MTA after CMD`
    LostInput { relay: S, after: S },
    /// `makeconnection (HOST [ADDR].PORT (FAMILY)) failed: REASON`: a
    /// delivery could not connect (the `to=` line after it defers).
    ConnectFailed { relay: S, port: S, reason: S },
    /// `starting daemon (8.17.1.9): SMTP`
    Start { text: S },
    /// Lines sendmail writes on every connection that concern neither TLS
    /// nor relaying (AUTH mechanisms, milters, tls_srv_features, …).
    Routine { what: &'static str },
}

/// A piece of a block of lines: offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

/// Where `part` lies in `whole` (its offset and length), when it does and
/// both are at most `max` (an empty text: `(0, 0)`). One test for every
/// text of every line: a text before `whole` wraps round to far past
/// `max`, and within it the sum cannot overflow.
#[inline]
pub fn place(whole: &str, part: &str, max: usize) -> Option<(usize, usize)> {
    if part.is_empty() {
        return Some((0, 0));
    }
    let at = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    let len = part.len();
    ((at | len) <= max && at + len <= whole.len()).then_some((at, len))
}

impl Span {
    /// Where `part` lies in `block`, when it does (an empty text is the
    /// empty span).
    pub fn of(block: &str, part: &str) -> Option<Span> {
        let (at, len) = place(block, part, u32::MAX as usize)?;
        Some(Span {
            start: at as u32,
            len: len as u32,
        })
    }

    /// The text it stands for in `block`.
    #[inline]
    pub fn get(self, block: &str) -> &str {
        let (a, n) = (self.start as usize, self.len as usize);
        block.get(a..a + n).unwrap_or("")
    }
}

impl<S> Shape<S> {
    /// The lines sendmail writes on every connection, all being well
    /// (connect, its start, DH setup, AUTH and milter notes): the plain
    /// view counts them instead of printing them unless `--all`. Their
    /// explanation never has a cause (`explain_shape`; a corpus test
    /// holds the two together).
    pub fn is_routine(&self) -> bool {
        matches!(
            self,
            Shape::Routine { .. }
                | Shape::Connect { .. }
                | Shape::Start { .. }
                | Shape::DhInit { .. }
        )
    }
}

impl<S: Copy> Shape<S> {
    /// The same shape with each text `f` of it.
    #[inline]
    pub fn map<T>(&self, mut f: impl FnMut(S) -> T) -> Shape<T> {
        use Shape::*;
        match *self {
            Session {
                side,
                relay,
                version,
                verify,
                cipher,
                bits,
            } => Session {
                side,
                relay: f(relay),
                version: f(version),
                verify: f(verify),
                cipher: f(cipher),
                bits: f(bits),
            },
            Cert {
                side,
                subject,
                issuer,
                verifymsg,
            } => Cert {
                side,
                subject: f(subject),
                issuer: f(issuer),
                verifymsg: f(verifymsg),
            },
            Unsafe { file, reason } => Unsafe {
                file: f(file),
                reason: f(reason),
            },
            Missing { what } => Missing { what: f(what) },
            LoadVerifyLocs { side, path, file } => LoadVerifyLocs {
                side,
                path: f(path),
                file: f(file),
            },
            HandshakeFailed {
                side,
                reason,
                relay,
            } => HandshakeFailed {
                side,
                reason: f(reason),
                relay: f(relay),
            },
            TlsError { side, text } => TlsError {
                side,
                text: f(text),
            },
            OpensslDetail { reason } => OpensslDetail { reason: f(reason) },
            CertVerify { depth, dn, reason } => CertVerify {
                depth: f(depth),
                dn: f(dn),
                reason: f(reason),
            },
            Init { side, ok } => Init { side, ok },
            DhInit { side, text } => DhInit {
                side,
                text: f(text),
            },
            TlsOther { text } => TlsOther { text: f(text) },
            Ruleset {
                ruleset,
                arg1,
                relay,
                reject,
            } => Ruleset {
                ruleset: f(ruleset),
                arg1: f(arg1),
                relay: f(relay),
                reject: f(reject),
            },
            Delivery {
                to,
                relay,
                mailer,
                stat,
            } => Delivery {
                to: f(to),
                relay: f(relay),
                mailer: f(mailer),
                stat: f(stat),
            },
            From {
                from,
                relay,
                proto,
                nrcpts,
            } => From {
                from: f(from),
                relay: f(relay),
                proto: f(proto),
                nrcpts: f(nrcpts),
            },
            Connect { relay } => Connect { relay: f(relay) },
            DidNotIssue { relay } => DidNotIssue { relay: f(relay) },
            LostInput { relay, after } => LostInput {
                relay: f(relay),
                after: f(after),
            },
            ConnectFailed {
                relay,
                port,
                reason,
            } => ConnectFailed {
                relay: f(relay),
                port: f(port),
                reason: f(reason),
            },
            Start { text } => Start { text: f(text) },
            Routine { what } => Routine { what },
        }
    }
}

/// How much of a message's fields are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// All of them: the line is to be explained.
    All,
    /// What `log explain --summary` reads of the lines it does not
    /// explain (`summary::needs_explaining`): of a delivery that was
    /// sent, `stat`; of a `from=` line, `relay` (the session's peer); the
    /// others empty. Every other line all.
    Summary,
}

/// A sendmail message taken apart: its queue id (a bounce's `QID: QID2:`
/// gives the first) and what it is.
pub fn classify_message(msg: &str) -> (Option<&str>, Option<Shape<&str>>) {
    classify_message_with(msg, Fields::All)
}

/// `classify_message`, reading `fields`.
pub fn classify_message_with(msg: &str, fields: Fields) -> (Option<&str>, Option<Shape<&str>>) {
    let (qid, body) = split_qid(msg);
    let body = if qid.is_some() {
        split_qid(body).1
    } else {
        body
    };
    (qid, classify_with(body, fields))
}

/// `QID: ` (or `NOQUEUE: `) in front of a message, and the rest.
pub fn split_qid(msg: &str) -> (Option<&str>, &str) {
    if let Some(rest) = msg.strip_prefix("NOQUEUE: ") {
        return (None, rest);
    }
    // 10 to 20 letters and digits, then `: ` (the first `: `: no colon
    // comes before it)
    let b = msg.as_bytes();
    let mut i = 0;
    while i < b.len().min(21) && ALNUM[usize::from(b[i])] {
        i += 1;
    }
    if (10..=20).contains(&i) && b.get(i..i + 2) == Some(b": ") {
        let trailing_digits = b[..i]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if trailing_digits >= 5 && trailing_digits < i {
            return (Some(&msg[..i]), &msg[i + 2..]);
        }
    }
    (None, msg)
}

/// The position of the first `: `.
pub fn find_colon_blank(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b':', b).find(|&i| b.get(i + 1) == Some(&b' '))
}

/// When `b` starts with `name=` (a name: 1 to 24 of `[A-Za-z0-9_-]`), the
/// name's length. Only the name's own bytes are looked at: the same answer
/// as "the text before the first `=` is a name", without scanning to it.
fn name_len(b: &[u8]) -> Option<usize> {
    let mut n = 0;
    while n < b.len().min(25) && NAME[usize::from(b[n])] {
        n += 1;
    }
    ((1..=24).contains(&n) && b.get(n) == Some(&b'=')).then_some(n)
}

/// A table of the bytes that are ASCII letters, digits or one of `extra`,
/// for scanning a byte at a time with one lookup.
pub(super) const fn alnum_and(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// Letters and digits (ASCII).
static ALNUM: [bool; 256] = alnum_and(b"");

/// The bytes of a field's name: `[A-Za-z0-9_-]`.
static NAME: [bool; 256] = alnum_and(b"_-");

/// The values of the first field of each name in `names` ("" when absent)
/// in sendmail's `name=value, name=value` list. A field starts at the
/// start or after `, `, with its name and `=`; its value runs to the next
/// `, name=` (values such as reject texts may hold commas). Every `, name=`
/// starts a field, so a wanted name's first one is its first field: one
/// pass over the commas, a field's end looked for only while a wanted
/// value is open.
fn pick<'a, const N: usize>(s: &'a str, names: [&str; N]) -> [&'a str; N] {
    pick_found(s, names).0
}

/// `pick(s, [name])`, found by a search for `, name=` (`comma_name`
/// finds it), whose first occurrence starts the field, rather than by
/// looking at every comma before it.
fn pick_one<'a>(s: &'a str, name: &str, comma_name: &Finder<'_>) -> &'a str {
    let b = s.as_bytes();
    let start = if b.starts_with(name.as_bytes()) && b.get(name.len()) == Some(&b'=') {
        name.len() + 1
    } else {
        match comma_name.find(b) {
            Some(i) => i + 2 + name.len() + 1,
            None => return "",
        }
    };
    // the value runs to the next `, name=`
    let rest = b.get(start..).unwrap_or_default();
    for c in memchr::memchr_iter(b',', rest) {
        if rest.get(c + 1) == Some(&b' ') && name_len(&rest[c + 2..]).is_some() {
            return s.get(start..start + c).unwrap_or("");
        }
    }
    s.get(start..).unwrap_or("")
}

/// `pick`, and whether each name was found (with an empty value or not).
fn pick_found<'a, const N: usize>(s: &'a str, names: [&str; N]) -> ([&'a str; N], [bool; N]) {
    let b = s.as_bytes();
    let mut out = [""; N];
    let mut found = [false; N];
    let mut left = N;
    // the wanted field being read, and where its value starts
    let mut open: Option<(usize, usize)> = None;
    // A wanted field at `at`: which, and where its value starts.
    let wanted = |at: usize, found: &[bool; N]| {
        (0..N).find_map(|i| {
            let n = names[i].as_bytes();
            // (the first byte first: it rules most names out)
            (!found[i]
                && b.get(at) == n.first()
                && b.get(at + n.len()) == Some(&b'=')
                && b.get(at..at + n.len()) == Some(n))
            .then_some((i, at + n.len() + 1))
        })
    };
    if let Some((i, start)) = wanted(0, &found) {
        found[i] = true;
        left -= 1;
        open = Some((i, start));
    }
    for c in memchr::memchr_iter(b',', b) {
        if b.get(c + 1) != Some(&b' ') {
            continue;
        }
        let at = c + 2;
        if let Some((i, start)) = open {
            if name_len(&b[at..]).is_none() {
                continue; // a comma inside the value
            }
            out[i] = s.get(start..c).unwrap_or("");
            open = None;
            if left == 0 {
                return (out, found);
            }
        }
        if let Some((i, start)) = wanted(at, &found) {
            found[i] = true;
            left -= 1;
            open = Some((i, start));
        }
    }
    if let Some((i, start)) = open {
        out[i] = s.get(start..).unwrap_or("");
    }
    (out, found)
}

fn side_of(s: &str) -> Option<(Side, &str)> {
    if let Some(r) = s.strip_prefix("STARTTLS=server") {
        Some((Side::Server, r))
    } else {
        s.strip_prefix("STARTTLS=client").map(|r| (Side::Client, r))
    }
}

/// Recognises a sendmail message (after its queue id).
pub fn classify(msg: &str) -> Option<Shape<&str>> {
    classify_with(msg, Fields::All)
}

/// `classify`, reading `fields` (a field's value does not depend on the
/// other names asked for: `pick`).
pub fn classify_with(msg: &str, fields: Fields) -> Option<Shape<&str>> {
    let m = msg;
    if m.starts_with("STARTTLS") {
        return Some(starttls(m));
    }
    if m.starts_with("ruleset=") {
        let [ruleset, arg1, relay, reject, discard, quarantine] = pick(
            m,
            [
                "ruleset",
                "arg1",
                "relay",
                "reject",
                "discard",
                "quarantine",
            ],
        );
        return Some(Shape::Ruleset {
            ruleset,
            arg1,
            relay,
            reject: [reject, discard, quarantine]
                .into_iter()
                .find(|x| !x.is_empty())
                .unwrap_or(""),
        });
    }
    if m.starts_with("to=") {
        if fields == Fields::Summary {
            static STAT: OnceLock<Finder<'static>> = OnceLock::new();
            let stat = pick_one(m, "stat", STAT.get_or_init(|| Finder::new(", stat=")));
            if stat.starts_with("Sent") {
                return Some(Shape::Delivery {
                    to: "",
                    relay: "",
                    mailer: "",
                    stat,
                });
            }
        }
        let [to, relay, mailer, stat] = pick(m, ["to", "relay", "mailer", "stat"]);
        return Some(Shape::Delivery {
            to,
            relay,
            mailer,
            stat,
        });
    }
    if m.starts_with("from=") {
        if fields == Fields::Summary {
            static RELAY: OnceLock<Finder<'static>> = OnceLock::new();
            let relay = pick_one(m, "relay", RELAY.get_or_init(|| Finder::new(", relay=")));
            return Some(Shape::From {
                from: "",
                relay,
                proto: "",
                nrcpts: "",
            });
        }
        let [from, relay, proto, nrcpts] = pick(m, ["from", "relay", "proto", "nrcpts"]);
        return Some(Shape::From {
            from,
            relay,
            proto,
            nrcpts,
        });
    }
    if let Some(r) = m.strip_prefix("connect from ") {
        return Some(Shape::Connect { relay: r });
    }
    if let Some(r) = m.strip_suffix(" did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA") {
        return Some(Shape::DidNotIssue { relay: r });
    }
    if let Some(r) = m.strip_prefix("lost input channel from ") {
        let (relay, after) = r.split_once(" to MTA after ").unwrap_or((r, ""));
        return Some(Shape::LostInput { relay, after });
    }
    if let Some(r) = m.strip_prefix("makeconnection (") {
        // sendmail's deliver.c: "makeconnection (%s [%s].%d (%d)) failed: %s"
        let (target, reason) = r.split_once(") failed: ").unwrap_or((r, ""));
        let target = target.rsplit_once(" (").map_or(target, |(t, _)| t);
        let (relay, port) = match target.rsplit_once("].") {
            Some((host, port)) => (&target[..host.len() + 1], port),
            None => (target, ""),
        };
        return Some(Shape::ConnectFailed {
            relay,
            port,
            reason,
        });
    }
    if m.starts_with("starting daemon (") || m.starts_with("started as: ") {
        return Some(Shape::Start { text: m });
    }
    if m.starts_with("starting queue runner") || m.starts_with("runqueue") {
        return Some(Shape::Start { text: m });
    }
    let routine: &[(&str, &'static str)] = &[
        ("AUTH: available mech", "SMTP AUTH mechanisms on offer"),
        ("Milter", "milter status"),
        (
            "tls_srv_features=",
            "TLS feature lookup (Srv_Features/Clt_Features)",
        ),
        (
            "tls_clt_features=",
            "TLS feature lookup (Srv_Features/Clt_Features)",
        ),
        ("engine=", "OpenSSL engine setup"),
        (
            "error: safesasl(",
            "a SASL configuration file that does not exist (harmless unless SMTP AUTH is wanted)",
        ),
        ("alias database ", "alias database rebuilt"),
        ("done; delay=", "queue run finished"),
        ("clone ", "a message was split for its recipients"),
        ("DSN: ", "a delivery status notification was made"),
        ("return to sender: ", "a bounce"),
        ("sender notify: ", "a delay warning"),
        ("timeout waiting for input", "a peer went silent"),
        ("collect: ", "a message was cut short while being received"),
        (
            "rejecting connections",
            "sendmail is refusing connections (load or out of resources)",
        ),
        (
            "accepting connections again",
            "sendmail accepts connections again",
        ),
        (
            "Authentication-Warning",
            "an Authentication-Warning header was added",
        ),
        (
            "SMTP outgoing connect on ",
            "sendmail opens a connection to deliver",
        ),
        (
            "AUTH=client, ",
            "SMTP AUTH as a client (mech= empty: none used)",
        ),
        ("AUTH=server, ", "SMTP AUTH by the client"),
    ];
    for (prefix, what) in routine {
        if m.starts_with(prefix) {
            return Some(Shape::Routine { what });
        }
    }
    None
}

fn starttls(m: &str) -> Shape<&str> {
    // STARTTLS: CACertPath missing
    if let Some(r) = m.strip_prefix("STARTTLS: ") {
        if let Some(v) = r
            .strip_prefix("X509 cert verify: ")
            .or_else(|| r.strip_prefix("TLS cert verify: "))
        {
            let (head, reason) = v.rsplit_once(", reason=").unwrap_or((v, ""));
            let head = head.rsplit_once(", state=").map_or(head, |(h, _)| h);
            let head = head.strip_prefix("depth=").unwrap_or(head);
            let (depth, dn) = head.split_once(' ').unwrap_or((head, ""));
            return Shape::CertVerify { depth, dn, reason };
        }
        if let Some(what) = r.strip_suffix(" missing") {
            if !what.contains(' ') {
                return Shape::Missing { what };
            }
        }
        if let Some(u) = unsafe_line(r) {
            return u;
        }
        return Shape::TlsError {
            side: None,
            text: r,
        };
    }
    let Some((side, r)) = side_of(m) else {
        return Shape::TlsOther { text: m };
    };
    if let Some(r) = r.strip_prefix(": ") {
        if let Some(u) = unsafe_line(r) {
            return u;
        }
        if let Some(e) = r.strip_prefix("error:") {
            // error:CODE:LIBRARY:FUNCTION:REASON:FILE:LINE:
            let parts: Vec<&str> = e.splitn(5, ':').collect();
            if parts.len() == 5 {
                let reason = parts[4].split(':').next().unwrap_or("");
                return Shape::OpensslDetail { reason };
            }
        }
        return Shape::TlsError {
            side: Some(side),
            text: r,
        };
    }
    let Some(r) = r.strip_prefix(", ") else {
        return Shape::TlsOther { text: m };
    };
    if r.starts_with("relay=") {
        // a session line has a verify field (its value may be empty)
        let ([relay, version, verify, cipher, bits], found) =
            pick_found(r, ["relay", "version", "verify", "cipher", "bits"]);
        if found[2] {
            return Shape::Session {
                side,
                relay,
                version,
                verify,
                cipher,
                bits,
            };
        }
    }
    if r.starts_with("cert-subject=") {
        let [subject, issuer, verifymsg] = pick(r, ["cert-subject", "cert-issuer", "verifymsg"]);
        return Shape::Cert {
            side,
            subject,
            issuer,
            verifymsg,
        };
    }
    if let Some(init) = r.strip_prefix("init=") {
        return Shape::Init {
            side,
            ok: init.trim() != "0",
        };
    }
    if r.starts_with("Diffie-Hellman init") {
        return Shape::DhInit { side, text: r };
    }
    if let Some(e) = r.strip_prefix("error: ") {
        if let Some(l) = e.strip_prefix("load verify locs ") {
            let l = l.split(" failed").next().unwrap_or(l);
            let (path, file) = l.split_once(", ").unwrap_or((l, ""));
            return Shape::LoadVerifyLocs { side, path, file };
        }
        if e.starts_with("accept failed=") || e.starts_with("connect failed=") {
            let [reason, relay] = pick(e, ["reason", "relay"]);
            return Shape::HandshakeFailed {
                side,
                reason,
                relay,
            };
        }
        return Shape::TlsError {
            side: Some(side),
            text: e,
        };
    }
    Shape::TlsOther { text: m }
}

fn unsafe_line(r: &str) -> Option<Shape<&str>> {
    let f = r.strip_prefix("file ")?;
    let (file, reason) = f.split_once(" unsafe: ")?;
    Some(Shape::Unsafe { file, reason })
}

/// `name [addr]`, `[addr]`, `name [addr] (may be forged)` → (name, addr).
pub fn relay_parts(relay: &str) -> (&str, &str) {
    let r = relay.trim();
    // In one pass: up to the first ` (`, the last `[` and `]` before it.
    let b = r.as_bytes();
    let (mut open, mut close, mut end) = (None, None, b.len());
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'[' => open = Some(i),
            b']' => close = Some(i),
            b'(' if i > 0 && b[i - 1] == b' ' => {
                end = i - 1;
                break;
            }
            _ => {}
        }
    }
    let r = &r[..end];
    match (open, close) {
        (Some(a), Some(b)) if a < b => {
            let name = r[..a].trim();
            let addr = &r[a + 1..b];
            (if name.is_empty() { &r[a..=b] } else { name }, addr)
        }
        _ => (r, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sendmail's `name=value, name=value` list read field by field, every
    /// field's name and value: the plain reading of the rule `pick`
    /// follows. A value runs to the next `, name=` (values such as reject
    /// texts may hold commas); a field without `name=` is nameless.
    fn fields(s: &str) -> impl Iterator<Item = (&str, &str)> {
        // `name=` at the start of `t`: the name's length
        fn name(t: &str) -> Option<usize> {
            let n = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .count();
            ((1..=24).contains(&n) && t[n..].starts_with('=')).then_some(n)
        }
        let mut rest = s;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let s = rest;
            let (n, start) = name(s).map_or((0, 0), |n| (n, n + 1));
            let end = s[start..]
                .match_indices(", ")
                .map(|(i, _)| start + i)
                .find(|&i| name(&s[i + 2..]).is_some())
                .unwrap_or(s.len());
            rest = s.get(end + 2..).unwrap_or("");
            Some((&s[..n], &s[start..end]))
        })
    }

    fn pick_plain<'a, const N: usize>(s: &'a str, names: [&str; N]) -> [&'a str; N] {
        pick_found_plain(s, names).0
    }

    fn pick_found_plain<'a, const N: usize>(
        s: &'a str,
        names: [&str; N],
    ) -> ([&'a str; N], [bool; N]) {
        let mut out = [""; N];
        let mut found = [false; N];
        for (n, v) in fields(s) {
            for i in 0..N {
                if !found[i] && names[i] == n {
                    out[i] = v;
                    found[i] = true;
                }
            }
        }
        (out, found)
    }

    #[test]
    fn pick_finds_the_fields_a_plain_reading_finds() {
        let parts = [
            "relay=[1.2.3.4]",
            "relay=",
            "relay=a, b",
            "relay",
            "xrelay=1",
            "version=TLSv1.3",
            "verify=OK",
            "verify=FAIL, x",
            "cipher=A,B",
            "bits=256/256",
            "reject=550 5.7.1 a, sorry, relay=x",
            "accept failed=-1",
            "reason=wrong version number",
            "",
            " ",
            "=x",
            ",",
            ", ",
            "a=b=c",
            "name-with-dash=v",
            "n_=1",
            "é=x",
            "to=<a@b>",
            "stat=Sent (ok, queued)",
            "mailer=esmtp",
            "from=<>",
            "nrcpts=1",
            "proto=ESMTPS",
            "cert-subject=/CN=a, b",
            "cert-issuer=",
            "verifymsg=ok",
            "aaaaaaaaaaaaaaaaaaaaaaaaa=long",
            "aaaaaaaaaaaaaaaaaaaaaaaa=24",
        ];
        let seps = [", ", ",", ",  ", " , "];
        let mut seed = 7u64;
        let mut rnd = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut lists: Vec<String> = Vec::new();
        for _ in 0..20_000 {
            let mut l = String::new();
            for k in 0..rnd(7) {
                if k > 0 {
                    l.push_str(seps[rnd(seps.len())]);
                }
                l.push_str(parts[rnd(parts.len())]);
            }
            lists.push(l);
        }
        for l in crate::core::maillog::recorded_corpus().lines() {
            let m = l.split_once("]: ").map_or(l, |(_, m)| m);
            lists.push(split_qid(m).1.to_string());
            if let Some((_, r)) = m
                .split_once("STARTTLS=server, ")
                .or(m.split_once("STARTTLS=client, "))
            {
                lists.push(r.to_string());
            }
        }
        for l in &lists {
            let l = l.as_str();
            assert_eq!(
                pick_found(l, ["relay", "version", "verify", "cipher", "bits"]),
                pick_found_plain(l, ["relay", "version", "verify", "cipher", "bits"]),
                "{l:?}"
            );
            // a session line: `relay=…` with a `, verify=` in it
            if l.starts_with("relay=") {
                assert_eq!(
                    pick_found(l, ["relay", "version", "verify", "cipher", "bits"]).1[2],
                    l.contains(", verify="),
                    "{l:?}"
                );
            }
            assert_eq!(
                pick(l, ["to", "relay", "mailer", "stat"]),
                pick_plain(l, ["to", "relay", "mailer", "stat"]),
                "{l:?}"
            );
            assert_eq!(
                pick(l, ["cert-subject", "cert-issuer", "verifymsg"]),
                pick_plain(l, ["cert-subject", "cert-issuer", "verifymsg"]),
                "{l:?}"
            );
            assert_eq!(
                pick(l, ["reason", "relay"]),
                pick_plain(l, ["reason", "relay"]),
                "{l:?}"
            );
            assert_eq!(
                pick(l, ["aaaaaaaaaaaaaaaaaaaaaaaa", "n_", "name-with-dash"]),
                pick_plain(l, ["aaaaaaaaaaaaaaaaaaaaaaaa", "n_", "name-with-dash"]),
                "{l:?}"
            );
            // one name, found by its search
            for name in ["stat", "relay", "to", "cert-subject", "n_", "a"] {
                let needle = format!(", {name}=");
                let comma_name = Finder::new(&needle);
                assert_eq!(
                    [pick_one(l, name, &comma_name)],
                    pick_plain(l, [name]),
                    "{name} in {l:?}"
                );
            }
        }
    }

    #[test]
    fn queue_ids_and_relays_read_as_the_plain_rules_read_them() {
        // the rules written plainly: the oracles
        let qid = |msg: &str| -> (Option<String>, String) {
            if let Some(rest) = msg.strip_prefix("NOQUEUE: ") {
                return (None, rest.to_string());
            }
            if let Some(i) = msg[..msg.len().min(22)].find(": ") {
                let q = &msg[..i];
                let digits = q.chars().rev().take_while(char::is_ascii_digit).count();
                if (10..=20).contains(&q.len())
                    && q.chars().all(|c| c.is_ascii_alphanumeric())
                    && digits >= 5
                    && digits < q.len()
                {
                    return (Some(q.to_string()), msg[i + 2..].to_string());
                }
            }
            (None, msg.to_string())
        };
        let relay = |r: &str| -> (String, String) {
            let r = r.trim();
            let r = r.split(" (").next().unwrap_or(r);
            match (r.rfind('['), r.rfind(']')) {
                (Some(a), Some(b)) if a < b => {
                    let name = r[..a].trim();
                    let addr = &r[a + 1..b];
                    let name = if name.is_empty() { &r[a..=b] } else { name };
                    (name.to_string(), addr.to_string())
                }
                _ => (r.to_string(), String::new()),
            }
        };
        let heads = [
            "",
            "6B3NXeM7026171",
            "6B3NXeM702617",
            "6B3NXeM70261712345678",
            "6B3NXeM7026171x",
            "ABCDEFGHIJ",
            "ABCDE12345",
            "ABCDE1234",
            "1234567890",
            "6B3NXeM7026171:",
            "6B3N-eM7026171",
            "6B3NXéM7026171",
            "NOQUEUE",
            "NOQUEUE:",
            "a1234567890123456789",
            // fourteen, sendmail 8's own length
            "12345678901234",
            "ABCDEFGHI12345",
            "ABCDEFGHIJ1234",
            "ABCDEFGH123456",
            "6B3NXeM702617é",
            "6B3NXeM7026_71",
        ];
        for h in heads {
            for sep in [": ", ":", " : ", ": : ", ""] {
                for tail in ["", "x", "connect from a", "6B3NXeM7026171: y"] {
                    let m = format!("{h}{sep}{tail}");
                    let (q, rest) = split_qid(&m);
                    assert_eq!((q.map(str::to_string), rest.to_string()), qid(&m), "{m:?}");
                }
            }
        }
        for r in [
            "",
            " ",
            "[1.2.3.4]",
            "a [1.2.3.4]",
            "a [1.2.3.4] (may be forged)",
            "a (b) [1]",
            "a(b) [1]",
            " (x) [1]",
            "(",
            " (",
            "a [1] (",
            "a ] [",
            "a ]x[ y]",
            "é [::1]",
            "a [1.2.3.4]  (may be forged) (x)",
            "  b   [2]  ",
        ] {
            let (n, a) = relay_parts(r);
            assert_eq!((n.to_string(), a.to_string()), relay(r), "{r:?}");
        }
        for l in crate::core::maillog::recorded_corpus().lines() {
            let m = l.split_once("]: ").map_or(l, |(_, m)| m);
            let (q, rest) = split_qid(m);
            assert_eq!((q.map(str::to_string), rest.to_string()), qid(m), "{m:?}");
        }
    }

    #[test]
    fn qids() {
        assert_eq!(
            split_qid("6B3NXeM7026171: Milter: x"),
            (Some("6B3NXeM7026171"), "Milter: x")
        );
        assert_eq!(
            split_qid("NOQUEUE: connect from x"),
            (None, "connect from x")
        );
        assert_eq!(
            split_qid("STARTTLS: CRLFile missing"),
            (None, "STARTTLS: CRLFile missing")
        );
        assert_eq!(split_qid("1234567890: x"), (None, "1234567890: x"));
    }

    #[test]
    fn field_lists() {
        let v: Vec<_> = fields("ruleset=check_rcpt, arg1=<b@r.example>, relay=[127.0.0.3], reject=550 5.7.1 <b@r.example>... Relaying denied, sorry, really").collect();
        assert_eq!(
            v[3],
            (
                "reject",
                "550 5.7.1 <b@r.example>... Relaying denied, sorry, really"
            )
        );
        assert_eq!(v.len(), 4);
        let v: Vec<_> = fields("cert-subject=/CN=a, b, cert-issuer=, verifymsg=ok").collect();
        assert_eq!(
            v,
            [
                ("cert-subject", "/CN=a, b"),
                ("cert-issuer", ""),
                ("verifymsg", "ok")
            ]
        );
        let v: Vec<_> =
            fields("accept failed=-1, reason=wrong version number, SSL_error=1").collect();
        assert_eq!(
            v,
            [
                ("", "accept failed=-1"),
                ("reason", "wrong version number"),
                ("SSL_error", "1")
            ]
        );
    }

    #[test]
    fn shapes() {
        assert!(matches!(
            classify("STARTTLS=server, relay=[127.0.0.2], version=TLSv1.3, verify=OK, cipher=TLS_AES_256_GCM_SHA384, bits=256/256"),
            Some(Shape::Session { side: Side::Server, verify: "OK", bits: "256/256", .. })
        ));
        assert_eq!(
            classify("STARTTLS=server: file /k unsafe: Group readable file"),
            Some(Shape::Unsafe {
                file: "/k",
                reason: "Group readable file"
            })
        );
        assert_eq!(
            classify("STARTTLS: CACertPath missing"),
            Some(Shape::Missing { what: "CACertPath" })
        );
        assert_eq!(
            relay_parts("client.example.net [127.0.0.2] (may be forged)"),
            ("client.example.net", "127.0.0.2")
        );
        assert_eq!(relay_parts("[127.0.0.2]"), ("[127.0.0.2]", "127.0.0.2"));
        assert_eq!(classify("hello"), None);
    }
}
