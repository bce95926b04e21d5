//! `log explain`: sendmail's log lines, taken apart and explained — what
//! happened, why, what to do. Lines are grouped into sessions (one SMTP
//! connection: sendmail's process id, and the queue ids it hands out), so
//! that a refusal can be explained with the certificate its session
//! showed, and replayed through the policy evaluator against an access map.
//!
//! The texts for causes doctor also finds come from `core::causes`; the
//! replies of the TLS and relay rulesets from `core::policy`.

pub mod frame;
pub mod shapes;
pub mod summary;

use super::access::Database;
use super::causes;
use super::policy::{self, Decision, Macros, Options, Ruleset};
use super::verify::Verify;
use frame::{Frame, Framed};
use serde::Serialize;
use shapes::{relay_parts, Shape, Side};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// How bad a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// One input line, explained: the `--json` object (JSON Lines). Every key
/// is always present (null where there is nothing to say).
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// 1-based line number in the input.
    pub line: u64,
    /// Whether the line was recognised.
    pub known: bool,
    /// (a fixed text is not copied for each line)
    pub summary: Option<Cow<'static, str>>,
    pub cause: Option<Cow<'static, str>>,
    pub fix: Option<Cow<'static, str>>,
    /// The line's shape (`tls-session`, `tls-cert`, `file-unsafe`,
    /// `ruleset`, …); null when unknown.
    pub kind: Option<&'static str>,
    /// A stable name for the cause (doctor's finding id where doctor has
    /// the same finding: `key-readable-by-others`); null when all is well.
    pub cause_id: Option<&'static str>,
    pub severity: Severity,
    /// The doctor finding that checks the same thing, if any.
    pub doctor: Option<&'static str>,
    /// The connection the line belongs to (numbered in order of
    /// appearance); null for the daemon's own lines.
    pub session: Option<u64>,
    pub time: Option<String>,
    pub host: Option<String>,
    pub program: Option<String>,
    pub pid: Option<u32>,
    pub qid: Option<String>,
    /// The other end (`name [addr]`), as sendmail wrote it.
    pub peer: Option<String>,
    /// `server` (the peer is a client of ours) or `client` (we delivered).
    pub side: Option<Side>,
    /// The macro values the line shows or its session had (`verify`,
    /// `cert_issuer`, …), as sendmail's rulesets see them.
    pub macros: BTreeMap<&'static str, String>,
    pub ruleset: Option<String>,
    /// The SMTP reply a refusal gave.
    pub reply: Option<String>,
    /// With an access map: the evaluator's decision for this refusal.
    pub decision: Option<Replay>,
    /// The input line (at most 4096 bytes of it).
    pub text: String,
    /// Whether the texts are written: false in `explain_brief`, whose
    /// caller wants only the line's kind, severity and cause id.
    #[serde(skip)]
    texts: bool,
    /// Whether `macros` are filled: not in `explain_brief`, nor in
    /// `explain_plain` unless a refusal is replayed (from the macros).
    #[serde(skip)]
    with_macros: bool,
    /// Whether `peer` is filled: not in `explain_plain` (the plain view
    /// does not print it).
    #[serde(skip)]
    with_peer: bool,
}

/// How much of an explanation is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Kind, severity, cause id (`explain_brief`).
    Brief,
    /// What the plain view prints (`explain_plain`).
    Plain,
    /// Everything (`explain`, `--json`).
    Full,
}

/// `format!` when the explanation wants its texts; an empty string in
/// `explain_brief`, where no text is read (nothing is decided on a text).
macro_rules! text {
    ($out:expr, $($arg:tt)*) => {
        if $out.texts {
            // (room for a usual text from the start: `format!` guesses
            // from the literal parts alone, and grows it again and again)
            let mut s = String::with_capacity(192);
            let _ = std::fmt::Write::write_fmt(&mut s, format_args!($($arg)*));
            s
        } else {
            String::new()
        }
    };
}

/// `text!` for texts that are only put one after the other (what
/// `format!` makes of plain `{}`s of strings), without the formatting
/// machinery: the most frequent lines' texts.
macro_rules! cat {
    ($out:expr, $($part:expr),+ $(,)?) => {
        if $out.texts {
            let parts: &[&str] = &[$($part),+];
            let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
            for p in parts {
                s.push_str(p);
            }
            s
        } else {
            String::new()
        }
    };
}

/// The policy evaluator's answer for a logged refusal.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    #[serde(flatten)]
    pub decision: Decision,
    /// Whether the evaluator gives the reply sendmail logged.
    pub agrees: bool,
}

/// What a session has shown so far, per side: the session line's relay,
/// version, verify, cipher and bits, then the certificate line's subject,
/// issuer and verifymsg, in one buffer (kept for the next session in the
/// same slot).
#[derive(Debug, Clone, Default)]
struct Tls {
    /// Whether the side has shown anything.
    seen: bool,
    buf: String,
    /// Where each text lies in `buf`.
    spans: [(u32, u32); 8],
}

impl Tls {
    fn text(&self, i: usize) -> &str {
        let (a, b) = self.spans[i];
        self.buf.get(a as usize..b as usize).unwrap_or("")
    }
    fn relay(&self) -> &str {
        self.text(0)
    }
    fn version(&self) -> &str {
        self.text(1)
    }
    fn verify(&self) -> &str {
        self.text(2)
    }
    fn cipher(&self) -> &str {
        self.text(3)
    }
    fn bits(&self) -> &str {
        self.text(4)
    }
    fn subject(&self) -> &str {
        self.text(5)
    }
    fn issuer(&self) -> &str {
        self.text(6)
    }

    /// Texts `from..` set to `texts` (those after them emptied). When the
    /// texts are pieces of `line` lying close together (the fields of one
    /// log line), the stretch of it they lie in is copied once.
    fn set(&mut self, from: usize, texts: &[&str], line: &str) {
        let keep = self.spans[..from].iter().map(|s| s.1).max().unwrap_or(0);
        self.buf.truncate(keep as usize);
        let at = self.buf.len();
        let base = line.as_ptr() as usize;
        // where each text starts in `line`, and the stretch they span
        let mut starts = [0usize; 8];
        let (mut lo, mut hi, mut total) = (usize::MAX, 0, 0);
        let mut within = true;
        for (i, t) in texts.iter().enumerate() {
            let a = (t.as_ptr() as usize).wrapping_sub(base);
            if t.is_empty() {
                continue;
            }
            if a > line.len() || t.len() > line.len() - a {
                within = false;
                break;
            }
            starts[i] = a;
            (lo, hi, total) = (lo.min(a), hi.max(a + t.len()), total + t.len());
        }
        // (the stretch: at most a little more than the texts themselves)
        let stretch = line
            .get(lo..hi)
            .filter(|r| within && r.len() <= 2 * total + 256);
        let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match stretch {
            Some(r) => {
                self.buf.push_str(r);
                for (i, t) in texts.iter().enumerate() {
                    let a = if t.is_empty() {
                        at
                    } else {
                        at + starts[i] - lo
                    };
                    self.spans[from + i] = (offset(a), offset(a + t.len()));
                }
            }
            None => {
                self.buf.reserve(texts.iter().map(|t| t.len()).sum());
                for (i, t) in texts.iter().enumerate() {
                    let a = self.buf.len();
                    self.buf.push_str(t);
                    self.spans[from + i] = (offset(a), offset(self.buf.len()));
                }
            }
        }
        for s in &mut self.spans[from + texts.len()..] {
            *s = (0, 0);
        }
    }
}

/// One connection: a slot of the explainer's ring, reused (with its
/// texts' allocations) by the session `MAX_SESSIONS` later.
#[derive(Debug, Clone, Default)]
struct Session {
    id: u64,
    key: Key,
    peer: String,
    server: Tls,
    client: Tls,
}

impl Session {
    /// What the session has shown of one side's TLS, to be written (empty
    /// on first use).
    fn tls(&mut self, side: Side) -> &mut Tls {
        let t = match side {
            Side::Server => &mut self.server,
            Side::Client => &mut self.client,
        };
        if !t.seen {
            t.buf.clear();
            t.spans = [(0, 0); 8];
            t.seen = true;
        }
        t
    }

    /// What the session showed of one side's TLS, if anything.
    fn shown(&self, side: Side) -> Option<&Tls> {
        let t = match side {
            Side::Server => &self.server,
            Side::Client => &self.client,
        };
        t.seen.then_some(t)
    }

    /// The slot made ready for session `id` on `key`.
    fn reset(&mut self, id: u64, key: Key) {
        self.id = id;
        self.key = key;
        self.peer.clear();
        self.server.seen = false;
        self.client.seen = false;
    }
}

/// Sessions remembered at once (a session's lines come within seconds;
/// the oldest is forgotten first).
const MAX_SESSIONS: usize = 16_384;
const MAX_TEXT: usize = 4096;

type Key = (u32, u32);
/// A queue id as a table key without an allocation: sendmail's are 10 to
/// 20 letters and digits (`split_qid`), kept NUL-padded.
type Qid = [u8; 20];

fn qid_key(q: &str) -> Qid {
    let mut k = [0u8; 20];
    let b = q.as_bytes();
    let n = b.len().min(20);
    k[..n].copy_from_slice(&b[..n]);
    k
}

/// `a == b`, without a call to compare when both are empty: an empty
/// `String`'s pointer dangles, and the C library's vector compare reads
/// it under a mask all the same — a fault the processor suppresses at a
/// cost of hundreds of cycles (a syslog file written without host names
/// compares the empty host on every line).
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// Where session `id` (from 1) lives in the ring.
fn slot_of(id: u64) -> usize {
    (id.wrapping_sub(1) % MAX_SESSIONS as u64) as usize
}

/// `slot` set to `v`, reusing its allocation.
fn put(slot: &mut String, v: &str) {
    slot.clear();
    slot.push_str(v);
}
type Map<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// A fast hasher for the session tables (FxHash's mixing: the keys are
/// short and not chosen by an attacker who gains from collisions — a log
/// crafted to collide only makes its own explanation slower).
#[derive(Default)]
pub struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

impl Fx {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The explainer: feed it lines in order.
pub struct Explainer {
    /// The sessions remembered, a ring: session `id` is in slot
    /// `(id - 1) % MAX_SESSIONS` until the session `MAX_SESSIONS` later
    /// takes the slot.
    slots: Vec<Session>,
    /// (host, pid) → the session that process serves now.
    live: Map<Key, u64>,
    /// The entry of `live` looked up last (0: none), kept in step with
    /// it: a process logs several lines in a row.
    last_live: (Key, u64),
    /// Queue id → the session it was handed out in.
    qids: Map<Qid, u64>,
    /// The entry of `qids` looked up or added last (0: none), kept in
    /// step with it: a message's lines come together.
    last_qid: (Qid, u64),
    /// Host names, numbered (a log has few).
    hosts: Map<String, u32>,
    /// The host of the line before, and its number (most lines repeat it).
    last_host: Option<(String, u32)>,
    next: u64,
    access: Option<(Database, Options)>,
}

impl Default for Explainer {
    fn default() -> Self {
        Self::new(None)
    }
}

/// A line taken apart, before its texts are written.
pub struct Event<'a> {
    pub line: u64,
    pub raw: &'a str,
    pub framed: Option<Frame<'a>>,
    pub qid: Option<&'a str>,
    pub shape: Option<Shape<&'a str>>,
    pub session: Option<u64>,
    /// The session of the process that logged the line: another than
    /// `session` when a queue id led there (a queue run delivering a
    /// message another connection took in). What sendmail did as a client
    /// — its STARTTLS=client, the server's certificate — is this one's.
    pub process: Option<u64>,
    /// Whether the line came from sendmail (by its syslog tag).
    pub sendmail: bool,
}

/// Whether a line is the start of a private key (PEM): a file holding
/// one is not a log, and its lines must not be echoed back.
pub fn is_private_key_line(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("-----BEGIN") && l.contains("PRIVATE KEY")
}

/// Whether a syslog tag is sendmail's (`sm-mta` on Debian, `sendmail`,
/// `sm-msp-queue`, an `-L` name starting with `sm-`). A bare message
/// (no tag) is taken as sendmail's.
pub fn is_sendmail(program: &str) -> bool {
    program.is_empty()
        || program.starts_with("sm-")
        || program.starts_with("sendmail")
        || program == "smmsp"
        || program == "mta"
}

impl Explainer {
    /// `access`: replay refusals through the evaluator on this map.
    pub fn new(access: Option<(Database, Options)>) -> Self {
        // Sized for their bound from the start: growing a table rehashes
        // it (only the control bytes are touched until slots are used).
        let cap = 2 * MAX_SESSIONS + 1;
        Explainer {
            slots: Vec::new(),
            live: Map::with_capacity_and_hasher(cap, Default::default()),
            last_live: ((u32::MAX, u32::MAX), 0),
            qids: Map::with_capacity_and_hasher(cap, Default::default()),
            last_qid: ([0; 20], 0),
            hosts: Map::default(),
            last_host: None,
            next: 0,
            access,
        }
    }

    /// Takes line `n` (1-based), framed by `frame::frame`, apart and
    /// updates the sessions.
    pub fn feed<'a>(&mut self, n: u64, raw: &'a str, framed: Option<&'a Framed<'a>>) -> Event<'a> {
        let mut ev = Event {
            line: n,
            raw,
            framed: framed.map(Framed::view),
            qid: None,
            shape: None,
            session: None,
            process: None,
            sendmail: false,
        };
        if let Some(whole) = framed.filter(|f| is_sendmail(&f.program)) {
            (ev.qid, ev.shape) = shapes::classify_message(&whole.message);
        }
        self.classified(&mut ev);
        ev
    }

    /// `feed` for a line taken apart already (`frame::frame`, then, for
    /// sendmail's lines, `shapes::classify_message`; on another thread):
    /// `ev` holds line `n`, its framing, queue id and shape, and no
    /// session yet. Completed where it lies: an event built in one place
    /// and moved to another is copied for every line, and reading a copy
    /// just written in other sizes stalls the processor.
    #[inline]
    pub fn classified(&mut self, ev: &mut Event<'_>) {
        let Some(f) = ev.framed else { return };
        ev.sendmail = is_sendmail(f.program);
        if !ev.sendmail {
            (ev.qid, ev.shape) = (None, None);
            return;
        }
        if let Some((session, process)) = self.track(
            f.host.unwrap_or(""),
            f.pid,
            ev.qid,
            ev.shape.as_ref(),
            ev.raw,
        ) {
            (ev.session, ev.process) = (Some(session), process);
        }
    }

    /// The line's session, and its process's (`Event::process`).
    fn track(
        &mut self,
        host: &str,
        pid: Option<u32>,
        qid: Option<&str>,
        shape: Option<&Shape<&str>>,
        raw: &str,
    ) -> Option<(u64, Option<u64>)> {
        let pid = pid?;
        let connection_like = matches!(
            shape,
            Some(
                Shape::Connect { .. }
                    | Shape::Session { .. }
                    | Shape::Cert { .. }
                    | Shape::HandshakeFailed { .. }
                    | Shape::Ruleset { .. }
                    | Shape::Delivery { .. }
                    | Shape::From { .. }
                    | Shape::DidNotIssue { .. }
                    | Shape::LostInput { .. }
            )
        ) || qid.is_some();
        let host_id = match &self.last_host {
            Some((h, n)) if same(h, host) => *n,
            _ => {
                let n = match self.hosts.get(host) {
                    Some(h) => *h,
                    None => {
                        let n = self.hosts.len() as u32;
                        if self.hosts.len() < 4096 {
                            self.hosts.insert(host.to_string(), n);
                        }
                        n
                    }
                };
                self.last_host = Some((host.to_string(), n));
                n
            }
        };
        let own: Key = (host_id, pid);
        let mut key = own;
        // (an entry whose session was forgotten is stale: `prune`)
        if self.last_live.0 != key {
            self.last_live = (key, self.live.get(&key).copied().unwrap_or(0));
        }
        let mut process = Some(self.last_live.1).filter(|&id| self.alive(id));
        let mut current = process;
        // A queue id seen before belongs to its session, whatever process
        // logs it now (a queue run delivering later), while that session
        // is remembered.
        let mut qid_known = false;
        let qk = qid.map(qid_key);
        if let Some(q) = &qk {
            let entry = if self.last_qid.1 != 0 && self.last_qid.0 == *q {
                Some(self.last_qid.1)
            } else {
                let e = self.qids.get(q).copied();
                if let Some(id) = e {
                    self.last_qid = (*q, id);
                }
                e
            };
            if let Some(s) = entry.and_then(|id| self.slot(id)) {
                qid_known = true;
                key = s.key;
                current = Some(s.id);
            }
        }
        let relay_now = match shape {
            Some(Shape::Connect { relay }) => Some(*relay),
            Some(Shape::Session {
                side: Side::Server,
                relay,
                ..
            }) => Some(*relay),
            _ => None,
        };
        let fresh = match (current.and_then(|id| self.slot(id)), shape) {
            (_, Some(Shape::Connect { .. })) => true,
            (Some(s), _) => {
                // A new client on a reused pid.
                relay_now.is_some_and(|r| {
                    // (the same text: the same address, without taking
                    // either apart)
                    !s.peer.is_empty() && r != s.peer && relay_parts(r).1 != relay_parts(&s.peer).1
                })
            }
            (None, _) => connection_like,
        };
        if fresh {
            self.next += 1;
            let id = self.next;
            let at = slot_of(id);
            if at == self.slots.len() {
                self.slots.push(Session::default());
            }
            // (the oldest session, in this slot, is forgotten)
            self.slots[at].reset(id, key);
            self.live.insert(key, id);
            if self.last_live.0 == key {
                self.last_live.1 = id;
            }
            current = Some(id);
            if key == own {
                process = Some(id);
            }
            self.prune();
        }
        let id = current?;
        if let (Some(q), false) = (qk, qid_known) {
            self.qids.insert(q, id);
            self.last_qid = (q, id);
            self.prune();
        }
        let s = self.slots.get_mut(slot_of(id))?;
        match shape {
            Some(Shape::Connect { relay }) => put(&mut s.peer, relay),
            Some(Shape::Session {
                side,
                relay,
                version,
                verify,
                cipher,
                bits,
            }) => {
                if *side == Side::Server && s.peer.is_empty() {
                    put(&mut s.peer, relay);
                }
                // A new session line replaces what the side showed before
                // (the certificate line comes after it).
                s.tls(*side)
                    .set(0, &[relay, version, verify, cipher, bits], raw);
            }
            Some(Shape::Cert {
                side,
                subject,
                issuer,
                verifymsg,
            }) => {
                s.tls(*side).set(5, &[subject, issuer, verifymsg], raw);
            }
            Some(Shape::Ruleset { relay, .. }) | Some(Shape::From { relay, .. })
                if s.peer.is_empty() && !relay.is_empty() =>
            {
                put(&mut s.peer, relay);
            }
            Some(Shape::DidNotIssue { relay }) | Some(Shape::LostInput { relay, .. })
                if s.peer.is_empty() =>
            {
                put(&mut s.peer, relay);
            }
            _ => {}
        }
        Some((s.id, process))
    }

    /// Whether session `id` is still remembered (not pushed out of the
    /// ring by `MAX_SESSIONS` newer ones).
    fn alive(&self, id: u64) -> bool {
        id > self.next.saturating_sub(MAX_SESSIONS as u64) && id <= self.next
    }

    /// The tables of processes and queue ids keep entries of forgotten
    /// sessions until they hold twice the ring: then those go at once (a
    /// pass over the table, cheaper than a removal per session). Queue ids
    /// are many per session at most in a long queue run: past that bound
    /// they are all forgotten.
    fn prune(&mut self) {
        let bound = 2 * MAX_SESSIONS;
        let floor = self.next.saturating_sub(MAX_SESSIONS as u64);
        if self.live.len() > bound {
            self.live.retain(|_, id| *id > floor);
        }
        if self.qids.len() > bound {
            self.last_qid.1 = 0;
            self.qids.retain(|_, id| *id > floor);
            if self.qids.len() > bound / 2 {
                self.qids.clear();
            }
        }
    }

    /// Session `id`, while it is remembered.
    fn slot(&self, id: u64) -> Option<&Session> {
        self.slots.get(slot_of(id)).filter(|s| s.id == id)
    }

    fn session_of(&self, id: Option<u64>) -> Option<&Session> {
        self.slot(id?)
    }

    /// The peer of a session, once a line has named it.
    pub fn peer_of(&self, session: Option<u64>) -> Option<&str> {
        self.session_of(session)
            .map(|s| s.peer.as_str())
            .filter(|p| !p.is_empty())
    }

    /// Feeds line `n` and explains it.
    pub fn explain_line(&mut self, n: u64, raw: &str) -> Explained {
        let framed = frame::frame(raw);
        let ev = self.feed(n, raw, framed.as_ref());
        self.explain(&ev)
    }

    /// The texts for an event `feed` returned (call before the next feed).
    pub fn explain(&self, ev: &Event<'_>) -> Explained {
        self.explain_as(ev, Detail::Full)
    }

    /// What the plain view prints of a line: `explain`'s summary, cause,
    /// fix, severity, session and replay, but none of the copies it does
    /// not print (`time`, `host`, `program`, `qid`, `peer` null; `text`
    /// only for a line not recognised; `macros` only when a refusal is
    /// replayed, which reads them).
    pub fn explain_plain(&self, ev: &Event<'_>) -> Explained {
        self.explain_as(ev, Detail::Plain)
    }

    /// What a summary needs of a line, cheaply: its kind, severity, cause
    /// id, doctor's finding, side, ruleset and reply — the same as
    /// `explain` gives — but none of the texts (`summary`, `cause`, `fix`
    /// null; no macros, no replay; `text` empty; `time`, `host`, `program`,
    /// `qid` null) and `peer` only when the line names one (else the
    /// session's: `peer_of`).
    pub fn explain_brief(&self, ev: &Event<'_>) -> Explained {
        self.explain_as(ev, Detail::Brief)
    }

    fn explain_as(&self, ev: &Event<'_>, detail: Detail) -> Explained {
        let f = ev.framed;
        let full = detail == Detail::Full;
        // the copies of the framing, when wanted
        let copy = f.filter(|_| full);
        let text = if full || (detail == Detail::Plain && ev.shape.is_none()) {
            line_text(ev.raw)
        } else {
            String::new()
        };
        let mut out = Explained {
            line: ev.line,
            known: false,
            summary: None,
            cause: None,
            fix: None,
            kind: None,
            cause_id: None,
            severity: Severity::Info,
            doctor: None,
            session: ev.session,
            time: copy.and_then(|f| f.time.map(str::to_string)),
            host: copy.and_then(|f| f.host.map(str::to_string)),
            program: copy
                .map(|f| f.program.to_string())
                .filter(|p| !p.is_empty()),
            pid: f.and_then(|f| f.pid),
            qid: ev.qid.filter(|_| full).map(str::to_string),
            peer: None,
            side: None,
            macros: BTreeMap::new(),
            ruleset: None,
            reply: None,
            decision: None,
            text,
            texts: detail != Detail::Brief,
            with_macros: full || (detail == Detail::Plain && self.access.is_some()),
            with_peer: detail != Detail::Plain,
        };
        let session = self.session_of(ev.session);
        let ctx = Ctx {
            session,
            process: self.session_of(ev.process),
        };
        if let Some(s) = session.filter(|_| full) {
            // (a summary takes the session's peer from `peer_of`)
            if !s.peer.is_empty() {
                out.peer = Some(s.peer.clone());
            }
        }
        let Some(shape) = &ev.shape else {
            if f.is_none() {
                out.summary = None;
                out.cause = Some("not a journal entry: the line starts with `{` but is not valid JSON (cut short?)".into());
            } else if !ev.sendmail {
                out.cause = Some(Cow::Owned(format!(
                    "a line from {} (not sendmail)",
                    f.map_or("another program", |f| f.program)
                )));
            }
            return out;
        };
        out.known = true;
        // the replay is a text too (the evaluator's trace)
        let access = self.access.as_ref().filter(|_| detail != Detail::Brief);
        explain_shape(&mut out, shape, ctx, access);
        out
    }
}

/// The input line as `text` gives it: at most `MAX_TEXT` bytes of it.
fn line_text(raw: &str) -> String {
    let mut text = frame::without_line_end(raw).to_string();
    if text.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// `s` with each two blanks made one (`str::replace`), without a copy
/// when there are none.
fn single_blanks(s: String) -> String {
    if s.contains("  ") {
        s.replace("  ", " ")
    } else {
        s
    }
}

/// The peer the line names, when the explanation wants it.
fn name_peer(out: &mut Explained, relay: &str) {
    if out.with_peer {
        out.peer = Some(relay.to_string());
    }
}

fn set(
    out: &mut Explained,
    kind: &'static str,
    severity: Severity,
    summary: impl Into<Cow<'static, str>>,
) {
    out.kind = Some(kind);
    out.severity = severity;
    if out.texts {
        out.summary = Some(summary.into());
    }
}

fn why(
    out: &mut Explained,
    id: &'static str,
    cause: impl Into<Cow<'static, str>>,
    fix: impl Into<Cow<'static, str>>,
) {
    out.cause_id = Some(id);
    if out.texts {
        out.cause = Some(cause.into());
        let fix = fix.into();
        out.fix = (!fix.is_empty()).then_some(fix);
    }
}

fn tls_macros(out: &mut Explained, t: &Tls) {
    if !out.with_macros {
        return;
    }
    let mut put = |k: &'static str, v: &str| {
        if !v.is_empty() {
            out.macros.insert(k, v.to_string());
        }
    };
    put("verify", t.verify());
    put("tls_version", t.version());
    put("cipher", t.cipher());
    put("cipher_bits", t.bits().split('/').next().unwrap_or(""));
    put("cert_subject", t.subject());
    put("cert_issuer", t.issuer());
    put("cn_subject", cn_of(t.subject()));
    put("cn_issuer", cn_of(t.issuer()));
}

/// The CN of a DN as sendmail logs it (`/C=US/O=X/CN=name`).
fn cn_of(dn: &str) -> &str {
    dn.rsplit('/')
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or("")
}

fn relay_macros(out: &mut Explained, side: Side, relay: &str) {
    if relay.is_empty() || !out.with_macros {
        return;
    }
    let (name, addr) = relay_parts(relay);
    let (n, a) = match side {
        Side::Server => ("client_name", "client_addr"),
        Side::Client => ("server_name", "server_addr"),
    };
    out.macros.insert(n, name.trim_end_matches('.').to_string());
    if !addr.is_empty() {
        out.macros.insert(a, addr.to_string());
    }
    if side == Side::Server && !addr.is_empty() {
        // sendmail writes `[addr]` when the address has no host name
        // (${client_resolve} FAIL), `(may be forged)` when the name does
        // not map back to the address.
        let resolve = if name.starts_with('[') {
            "FAIL"
        } else if relay.contains("(may be forged)") {
            "FORGED"
        } else {
            "OK"
        };
        out.macros.insert("client_resolve", resolve.to_string());
    }
}

/// The bits of a session line's `bits=256/256`: the number before the `/`.
pub(crate) fn bits_of(bits: &str) -> Option<u32> {
    let head = bits.split_once('/').map_or(bits, |(h, _)| h);
    frame::parse_u32(head.trim())
}

/// What a line is explained with: its session, and its process's.
#[derive(Clone, Copy)]
struct Ctx<'s> {
    session: Option<&'s Session>,
    process: Option<&'s Session>,
}

impl<'s> Ctx<'s> {
    /// What the TLS of one side showed: as server, the connection's (the
    /// line's session); as client, the process's, which made the
    /// connection out (in a queue run, not the session that took the
    /// message in).
    fn tls(self, side: Side) -> Option<&'s Tls> {
        match side {
            Side::Server => self.session.and_then(|s| s.shown(side)),
            Side::Client => self.process.and_then(|s| s.shown(side)),
        }
    }
}

fn explain_shape(
    out: &mut Explained,
    shape: &Shape<&str>,
    ctx: Ctx<'_>,
    access: Option<&(Database, Options)>,
) {
    let session = ctx.session;
    match *shape {
        Shape::Session {
            side,
            relay,
            version,
            verify,
            cipher,
            bits,
        } => {
            out.side = Some(side);
            name_peer(out, relay);
            relay_macros(out, side, relay);
            if out.with_macros {
                let mut t = Tls::default();
                t.set(0, &["", version, verify, cipher, bits], "");
                tls_macros(out, &t);
            }
            session_line(out, side, relay, version, verify, cipher, bits);
        }
        Shape::Cert {
            side,
            subject,
            issuer,
            verifymsg,
        } => {
            out.side = Some(side);
            let t = ctx.tls(side);
            if let Some(t) = t {
                relay_macros(out, side, t.relay());
                tls_macros(out, t);
            }
            let peer = side.peer_word();
            let verify = t.map_or("", Tls::verify);
            if subject.is_empty() && verifymsg.eq_ignore_ascii_case("ok") {
                set(
                    out,
                    "tls-cert",
                    Severity::Info,
                    cat!(out, "the ", peer, " presented no certificate"),
                );
                // The session line before gave the cause already (verify=NO).
                if side == Side::Server && verify.is_empty() {
                    no_client_cert(out);
                }
            } else if verifymsg.eq_ignore_ascii_case("ok") {
                set(
                    out,
                    "tls-cert",
                    Severity::Info,
                    cat!(
                        out,
                        "the ",
                        peer,
                        "'s certificate ",
                        subject,
                        " (issuer ",
                        issuer,
                        ") verified"
                    ),
                );
            } else {
                let t = if out.texts {
                    causes::verify_failure(verifymsg, peer)
                } else {
                    causes::Text::bare(causes::verify_failure_id(verifymsg))
                };
                set(out, "tls-cert", Severity::Warning, text!(out, "the {peer}'s certificate {subject} (issuer {issuer}) did not verify: {verifymsg}"));
                let consequence = if side == Side::Server {
                    " With verify=FAIL no CERTISSUER/CERTSUBJECT entry lets it relay and TLS_Clt VERIFY requirements refuse it; the session itself goes on encrypted."
                } else {
                    " Mail to it still goes out encrypted, unless a TLS_Srv:/TLS_Rcpt: entry requires VERIFY."
                };
                out.doctor = doctor_id(t.id);
                why(out, t.id, text!(out, "{}{consequence}", t.why), t.fix);
            }
        }
        Shape::Unsafe { file, reason } => {
            let t = if out.texts {
                causes::unsafe_file(file, reason)
            } else {
                causes::Text::bare(causes::unsafe_file_id(reason))
            };
            set(
                out,
                "file-unsafe",
                Severity::Error,
                text!(
                    out,
                    "sendmail refused to use {file} ({reason}): no STARTTLS"
                ),
            );
            out.doctor = doctor_id(t.id);
            why(out, t.id, t.why, t.fix);
        }
        Shape::Missing { what } => missing(out, what),
        Shape::LoadVerifyLocs { side, path, file } => {
            out.side = Some(side);
            set(
                out,
                "load-verify-locs",
                Severity::Error,
                text!(out, "OpenSSL could not load the CAs from {file} / {path}"),
            );
            out.doctor = Some("ca-file-not-ca");
            why(
                out,
                "ca-file-unloadable",
                text!(out, "The CA file (confCACERT = {file}) holds no certificate OpenSSL can read — empty, a key, DER instead of PEM, or missing — or the CA directory (confCACERT_PATH = {path}) cannot be read. The OpenSSL error lines that follow say which; sendmail then offers no STARTTLS."),
                "point confCACERT at the PEM CA certificate (`starttls-studio install` writes DIR/CAcert.pem; `starttls-studio show FILE` says what a file holds); `starttls-studio doctor` checks both",
            );
        }
        Shape::HandshakeFailed {
            side,
            reason,
            relay,
        } => {
            out.side = Some(side);
            let relay = if relay.is_empty() {
                session.map_or("", |s| s.peer.as_str())
            } else {
                relay
            };
            if !relay.is_empty() {
                name_peer(out, relay);
                relay_macros(out, side, relay);
            }
            if out.with_macros {
                out.macros.insert("verify", "SOFTWARE".into());
            }
            handshake_failed(out, side, reason, relay);
        }
        Shape::TlsError { side, text } => {
            out.side = side;
            tls_error(out, text);
        }
        Shape::OpensslDetail { reason } => {
            set(
                out,
                "openssl-detail",
                Severity::Warning,
                text!(out, "OpenSSL's reason for the line before: {reason}"),
            );
            if out.texts {
                out.cause = Some(Cow::Owned(format!("OpenSSL's error queue, logged by sendmail right after the error it belongs to (the line before in this process): {reason}.")));
            }
        }
        Shape::CertVerify { depth, dn, reason } => {
            let t = if out.texts {
                causes::verify_failure(reason, "peer")
            } else {
                causes::Text::bare(causes::verify_failure_id(reason))
            };
            let which = if depth == "0" {
                "the certificate".to_string()
            } else {
                text!(out, "the CA certificate {depth} step(s) up the chain")
            };
            set(
                out,
                "cert-verify",
                Severity::Warning,
                text!(out, "verifying {which} {dn}: {reason}"),
            );
            out.doctor = doctor_id(t.id);
            why(out, t.id, t.why, t.fix);
        }
        Shape::Init { side, ok } => {
            out.side = Some(side);
            if ok {
                set(
                    out,
                    "tls-init",
                    Severity::Info,
                    cat!(out, "TLS set up for the ", side.as_str(), " side"),
                );
            } else {
                set(
                    out,
                    "tls-init",
                    Severity::Error,
                    text!(
                        out,
                        "TLS could not be set up for the {} side: no STARTTLS",
                        side.as_str()
                    ),
                );
                why(out, "tls-init-failed", "sendmail could not load its certificate, key or CAs; the lines just before this one (file … unsafe, … missing, load verify locs, an OpenSSL error) say which.", "`starttls-studio doctor` checks every TLS file sendmail reads; restart sendmail after the fix");
            }
        }
        Shape::DhInit { side, text } => {
            out.side = Some(side);
            set(out, "dh-init", Severity::Info, cat!(out, "TLS: ", text));
        }
        Shape::TlsOther { text } => {
            set(out, "tls-other", Severity::Info, cat!(out, "TLS: ", text));
        }
        Shape::Ruleset {
            ruleset,
            arg1,
            relay,
            reject,
        } => ruleset_line(out, ctx, access, ruleset, arg1, relay, reject),
        Shape::Delivery {
            to,
            relay,
            mailer,
            stat,
        } => delivery(out, ctx, to, relay, mailer, stat),
        Shape::From {
            from,
            relay,
            proto,
            nrcpts,
        } => {
            if out.with_peer {
                out.peer = (!relay.is_empty()).then(|| relay.to_string());
            }
            let over = match proto {
                "ESMTPS" | "ESMTPSA" => "over TLS",
                "ESMTP" | "SMTP" | "ESMTPA" => "without TLS",
                _ => "",
            };
            set(
                out,
                "message-from",
                Severity::Info,
                single_blanks(cat!(
                    out,
                    "message from ",
                    from,
                    " received from ",
                    relay,
                    " ",
                    over,
                    " (",
                    nrcpts,
                    " recipient(s) accepted, protocol ",
                    proto,
                    ")"
                )),
            );
        }
        Shape::Connect { relay } => {
            name_peer(out, relay);
            set(
                out,
                "connect",
                Severity::Info,
                text!(out, "connection from {relay}"),
            );
        }
        Shape::DidNotIssue { relay } => {
            name_peer(out, relay);
            set(out, "no-mail", Severity::Info, cat!(out, relay, " connected and left without sending mail (a probe, a monitoring check, or a client that gave up)"));
        }
        Shape::LostInput { relay, after } => {
            name_peer(out, relay);
            set(
                out,
                "lost-input",
                Severity::Warning,
                text!(out, "{relay} dropped the connection after {after}"),
            );
            if after.eq_ignore_ascii_case("STARTTLS") {
                why(out, "client-gave-up-tls", "The client asked for STARTTLS and then left: it did not accept the TLS offer — most often it does not trust our certificate or has no protocol or cipher in common.", "`starttls-studio probe THIS-HOST:25` shows what clients see; check the certificate's name and chain");
            }
        }
        Shape::ConnectFailed {
            relay,
            port,
            reason,
        } => {
            out.side = Some(Side::Client);
            name_peer(out, relay);
            set(
                out,
                "connect-failed",
                Severity::Warning,
                text!(
                    out,
                    "could not connect to {relay} port {port} to deliver: {reason}"
                ),
            );
            why(
                out,
                "connect-failed",
                text!(out, "sendmail could not open the SMTP connection ({reason}); TLS played no part. The message stays in the queue and is tried again at the next queue run (the `to=… stat=Deferred` line that follows)."),
                "check that the server runs and listens there (`starttls-studio probe HOST:PORT`), and that no firewall in between refuses",
            );
        }
        Shape::Start { text } => set(out, "daemon", Severity::Info, cat!(out, "sendmail: ", text)),
        Shape::Routine { what } => set(out, "routine", Severity::Info, what),
    }
}

/// Doctor's finding ids among the cause ids.
fn doctor_id(id: &'static str) -> Option<&'static str> {
    const DOCTOR: &[&str] = &[
        "key-readable-by-others",
        "key-owner",
        "file-writable-by-others",
        "dir-writable-by-others",
        "file-missing",
        "crl-expired",
        "cert-untrusted",
        "cert-expired",
        "cert-not-yet-valid",
        "cert-purpose",
        "key-cert-mismatch",
        "crl-unreadable",
        "setting-missing",
    ];
    DOCTOR.contains(&id).then_some(id)
}

fn no_client_cert(out: &mut Explained) {
    why(out, "no-client-cert", "The client sent no certificate: it has none configured (confCLIENT_CERT on a sendmail client), or none from a CA this server announces — only confCACERT's CAs are named in the certificate request, not the CA directory's. Without one, no CERTISSUER/CERTSUBJECT entry lets it relay.", "give the client a certificate from a CA you trust; put its issuing CA into confCACERT too (`starttls-studio trust add CA --to DIR --announce`)");
}

/// What a session line (`STARTTLS=server|client, relay=…, version=…,
/// verify=…, cipher=…, bits=…`) comes to: its severity and cause. The
/// one place this is decided: `session_line` writes its texts from it,
/// and a summary reads it without them.
pub(crate) fn session_verdict(
    side: Side,
    version: &str,
    verify: &str,
    bits: &str,
) -> (Severity, Option<&'static str>) {
    let severity = match verify {
        "OK" | "TRUSTED" | "NO" | "NOT" => Severity::Info,
        _ => Severity::Warning,
    };
    let cause = match (side, verify) {
        (Side::Server, "NO") => Some("no-client-cert"),
        (Side::Server, "NOT") => Some("no-cert-requested"),
        (_, "FAIL") => Some("verify-fail"),
        (Side::Client, "NONE") => Some("no-starttls-offered"),
        (_, "SOFTWARE") => Some("handshake-failed"),
        (_, "TEMP" | "PROTOCOL") => Some("starttls-refused"),
        _ => None,
    };
    if cause.is_some() {
        return (severity, cause);
    }
    if bits_of(bits).is_some_and(|b| b < 128) {
        return (Severity::Warning, Some("weak-cipher"));
    }
    if matches!(version, "TLSv1" | "TLSv1.1" | "SSLv3") {
        return (Severity::Warning, Some("old-tls-version"));
    }
    (severity, None)
}

fn session_line(
    out: &mut Explained,
    side: Side,
    relay: &str,
    version: &str,
    verify: &str,
    cipher: &str,
    bits: &str,
) {
    let what = match side {
        Side::Server => "TLS with client ",
        Side::Client => "TLS to server ",
    };
    let v = Verify::parse(verify);
    let meaning = v.map_or("an unknown value", Verify::meaning);
    let (severity, cause) = session_verdict(side, version, verify, bits);
    set(
        out,
        "tls-session",
        severity,
        cat!(
            out,
            what,
            relay,
            ": ",
            version,
            ", ",
            cipher,
            ", ",
            bits.split('/').next().unwrap_or(bits),
            " bits; verify=",
            verify,
            " (",
            meaning,
            ")"
        ),
    );
    let Some(cause) = cause else { return };
    match cause {
        "no-client-cert" => no_client_cert(out),
        "no-cert-requested" => why(out, "no-cert-requested", "This server did not ask for a client certificate: TLSSrvOptions holds `V` (Debian's starttls.m4 sets define(`confTLS_SRV_OPTIONS', `V')). CERTISSUER/CERTSUBJECT entries and TLS_Clt VERIFY requirements can then never match.", "if clients should relay by certificate, remove the `V` from confTLS_SRV_OPTIONS in /etc/mail/tls/starttls.m4 or sendmail.mc, rebuild sendmail.cf and restart (`starttls-studio doctor` warns about it)"),
        "verify-fail" => {
            out.doctor = Some("cert-untrusted");
            why(out, "verify-fail", text!(out, "The {}'s certificate did not verify; the `cert-subject=…, verifymsg=…` line that follows (LogLevel 12 and up) says why.", side.peer_word()), match side {
                Side::Server => "the usual cause is a CA missing from confCACERT_PATH: `starttls-studio trust add CA --to DIR`; `starttls-studio probe` with the client's certificate shows the same check",
                Side::Client => "add the server's CA to confCACERT_PATH (`starttls-studio trust add`); then `starttls-studio probe HOST:25 --ca-path DIR` says verify=OK",
            });
        }
        "no-starttls-offered" => why(out, "no-starttls-offered", "The server did not offer STARTTLS (or refused it with 5xx): the mail goes out unencrypted unless a TLS_Srv:/TLS_Rcpt: entry requires encryption.", "ask the partner to enable STARTTLS; `starttls-studio probe HOST:25` shows its EHLO reply"),
        "handshake-failed" => why(out, "handshake-failed", "The TLS handshake failed.", "see the `error: accept failed`/`connect failed` line of this session"),
        "starttls-refused" => why(out, "starttls-refused", "The server answered STARTTLS with an error (4xx: TEMP, anything else: PROTOCOL).", "`starttls-studio probe HOST:25` shows the reply"),
        "weak-cipher" => why(
            out,
            "weak-cipher",
            text!(
                out,
                "The cipher has only {} bits: ENCR:128 and VERIFY:128 requirements refuse it.",
                bits_of(bits).unwrap_or(0)
            ),
            "allow only modern ciphers on both ends (CipherList / TLS 1.2+)",
        ),
        _ => why(out, "old-tls-version", text!(out, "{version} is obsolete (RFC 8996); the peer's software is very old."), "upgrade the peer; sendmail keeps accepting it only while its OpenSSL security level allows"),
    }
}

fn missing(out: &mut Explained, what: &str) {
    match what {
        "CRLFile" => {
            set(out, "setting-missing", Severity::Info, "no CRL configured (confCRL unset): client certificates are not checked for revocation");
        }
        "CACertPath" | "CACertFile" | "CertFile" | "KeyFile" => {
            set(
                out,
                "setting-missing",
                Severity::Error,
                text!(out, "{what} is not set: sendmail offers no STARTTLS"),
            );
            out.doctor = Some("setting-missing");
            why(out, "setting-missing", text!(out, "sendmail offers STARTTLS only when confSERVER_CERT, confSERVER_KEY, confCACERT and confCACERT_PATH are all set; {what} is not (or its file does not exist)."), "add the four define lines `starttls-studio install FQDN --to DIR` prints (or run `starttls-studio mc apply --to DIR`), rebuild sendmail.cf, restart sendmail");
        }
        "ClientCertFile" | "ClientKeyFile" => {
            set(
                out,
                "setting-missing",
                Severity::Info,
                text!(
                    out,
                    "{what} is not set: sendmail sends no certificate when it delivers"
                ),
            );
            why(out, "client-cert-unset", "Without confCLIENT_CERT/confCLIENT_KEY sendmail presents no certificate to the servers it delivers to: partners that relay by certificate, or require VERIFY, refuse it.", "define confCLIENT_CERT and confCLIENT_KEY (the host certificate works: it has clientAuth)");
        }
        _ => {
            set(
                out,
                "setting-missing",
                Severity::Warning,
                text!(out, "{what} is missing"),
            );
        }
    }
}

fn handshake_failed(out: &mut Explained, side: Side, reason: &str, relay: &str) {
    let r = reason.to_ascii_lowercase();
    let peer = side.peer_word();
    set(
        out,
        "handshake-failed",
        Severity::Error,
        single_blanks(text!(
            out,
            "TLS handshake with {} {relay} failed: {reason}",
            peer
        )),
    );
    let (id, cause, fix): (&'static str, String, &str) = if r.contains("wrong version number")
        || r.contains("http request")
        || r.contains("packet length too long")
    {
        ("not-tls", text!(out, "The {peer} did not speak TLS after STARTTLS (a firewall's SMTP inspection, a broken {peer}, or plain text sent by mistake)."), "`starttls-studio probe HOST:PORT` shows where the dialogue breaks; turn off SMTP inspection on firewalls in between")
    } else if r.contains("unsupported protocol")
        || r.contains("protocol version")
        || r.contains("no suitable signature algorithm")
    {
        ("no-common-protocol", text!(out, "The {peer} and sendmail have no TLS version or signature algorithm in common: the {peer} offers only an old protocol (TLS 1.0/1.1, whose SHA-1/MD5 signatures OpenSSL 3 refuses at its default security level) or only algorithms our key cannot sign with."), "upgrade the peer; or, knowingly, lower the security level in CipherList (@SECLEVEL=0) for it")
    } else if r.contains("no shared cipher")
        || r.contains("handshake failure")
        || r.contains("no cipher")
    {
        ("no-common-cipher", text!(out, "The {peer} and sendmail have no cipher in common (or no signature algorithm for the certificate's key)."), "compare the cipher lists (`openssl s_client -starttls smtp -cipher …`); an RSA or ECDSA P-256 certificate works with every client")
    } else if r.contains("unknown ca")
        || r.contains("certificate unknown")
        || r.contains("bad certificate")
        || r.contains("certificate verify failed")
    {
        ("peer-rejected-our-cert", text!(out, "The {peer} refused our certificate (it sent an alert: {reason}): it does not trust our CA, or the name does not match."), "give the partner our CA certificate (DIR/CAcert.pem) or serve a certificate from a CA it trusts; `starttls-studio probe` from its side shows the same")
    } else if r.contains("unexpected message") {
        ("handshake-protocol-error", text!(out, "The {peer} broke the TLS protocol's order of messages: a {peer} with a TLS bug or an unusual configuration (one offering only PSK cipher suites does this)."), "`openssl s_client -starttls smtp` from the peer's side shows its offer; update or reconfigure the peer")
    } else if r.contains("eof")
        || r.contains("unexpected")
        || r.contains("reset")
        || r.is_empty()
        || r == "(null)"
    {
        ("handshake-aborted", text!(out, "The {peer} closed the connection in the middle of the handshake (it gave up: often it does not accept our certificate, or it is a scanner)."), "`starttls-studio probe HOST:PORT` from the same place shows whether the handshake works")
    } else {
        (
            "handshake-failed",
            text!(out, "OpenSSL ended the handshake: {reason}."),
            "`starttls-studio probe HOST:PORT` shows the handshake step by step",
        )
    };
    let tail = if side == Side::Server {
        " sendmail then answers `454 4.3.0 TLS not available` style errors or drops the session; the client may retry without TLS."
    } else {
        " sendmail then delivers without TLS unless a TLS_Srv/TLS_Rcpt requirement (or the tls_server ruleset with verify=SOFTWARE) refuses: `TLS handshake failed.`"
    };
    why(out, id, text!(out, "{cause}{tail}"), fix);
}

/// sendmail's own TLS error lines, by what their text names: (the word
/// sets — a line matches when it holds every word of one set —, severity,
/// summary, doctor's finding, cause id, why, what to do). The first match
/// wins: the more specific come first.
type KnownError = (
    &'static [&'static [&'static str]],
    Severity,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
);

const TLS_ERRORS: &[KnownError] = &[
    (&[&["use_privatekey"], &["private key", "failed"]], Severity::Error, "sendmail could not load its private key", Some("key-unreadable"), "key-unreadable",
        "The key file cannot be read as a PEM private key (encrypted with a passphrase, not a key, or damaged); sendmail offers no STARTTLS.",
        "install the key that belongs to the certificate (`starttls-studio install FQDN --to DIR`); `starttls-studio doctor` checks it"),
    (&[&["check_private_key"]], Severity::Error, "the key does not belong to the certificate", Some("key-cert-mismatch"), "key-cert-mismatch",
        "OpenSSL checks that the key belongs to the certificate; when it does not, sendmail offers no STARTTLS.",
        "install the key issued with this certificate (`starttls-studio install FQDN --to DIR` writes both)"),
    (&[&["use_certificate"]], Severity::Error, "sendmail could not load its certificate", Some("cert-unreadable"), "cert-unreadable",
        "The certificate file is not a PEM certificate OpenSSL can read; sendmail offers no STARTTLS.",
        "`starttls-studio show FILE` says what the file holds; `starttls-studio install` writes a PEM certificate"),
    (&[&["no certificate or crl found"]], Severity::Error, "OpenSSL found no certificate", Some("ca-file-not-ca"), "ca-file-unloadable",
        "The CA file (confCACERT) holds no certificate: empty, a key, a DER file or a leftover; sendmail offers no STARTTLS.",
        "point confCACERT at the PEM CA certificate (`starttls-studio install` writes DIR/CAcert.pem)"),
    (&[&["crl"]], Severity::Error, "a problem with the CRL", Some("crl-unreadable"), "crl-unreadable",
        "sendmail could not load the CRL named by confCRL.",
        "write a PEM CRL there (`starttls-studio cert crl`), or remove confCRL; restart sendmail"),
    (&[&["dh", "param"]], Severity::Warning, "DH parameters", Some("dh-params-unreadable"), "dh-params-unreadable",
        "sendmail could not read the DH parameters file and uses its built-in group; STARTTLS is still offered.",
        "regenerate the file (`openssl dhparam -out FILE 2048`) or remove confDH_PARAMETERS"),
    (&[&["dane"]], Severity::Error, "DANE", None, "dane-failed",
        "The server's certificate does not match the TLSA records published for it (or they could not be checked); with DANE, sendmail does not deliver to it.",
        "compare `starttls-studio dane check HOST --dns SERVER` (or `dane tlsa FQDN --cert THE-SERVED-CERT`) with what is published"),
];

fn tls_error(out: &mut Explained, text: &str) {
    let t = text.to_ascii_lowercase();
    match TLS_ERRORS
        .iter()
        .find(|(sets, ..)| sets.iter().any(|set| set.iter().all(|w| t.contains(w))))
    {
        Some((_, severity, summary, doctor, id, cause, fix)) => {
            set(out, "tls-error", *severity, text!(out, "{summary}: {text}"));
            out.doctor = *doctor;
            why(out, id, *cause, *fix);
        }
        None => {
            set(
                out,
                "tls-error",
                Severity::Warning,
                text!(out, "TLS error: {text}"),
            );
            why(out, "tls-error", text!(out, "OpenSSL reported: {text}. An OpenSSL error line belongs to the sendmail line just before it (same process)."), "");
        }
    }
}

/// Whether a reply text is one of the TLS rulesets' (`policy`'s texts).
fn is_tls_reply(t: &str) -> bool {
    [
        "encryption too weak",
        "not authenticated",
        "authentication failed",
        "authentication required",
        "no authentication requested",
        "other side does not support STARTTLS",
        "TLS handshake failed",
        "STARTTLS failed",
        "authentication failure",
    ]
    .iter()
    .any(|p| t.trim_start().starts_with(p))
}

/// The SMTP reply in a `reject=` value: (code, text after the DSN).
fn reply_parts(reject: &str) -> (&str, &str) {
    let mut it = reject.splitn(3, ' ');
    let code = it.next().unwrap_or("");
    let a = it.next().unwrap_or("");
    let rest = it.next().unwrap_or("");
    if a.split('.').count() == 3 && a.chars().all(|c| c.is_ascii_digit() || c == '.') {
        (code, rest)
    } else {
        (code, reject.get(code.len() + 1..).unwrap_or(""))
    }
}

fn ruleset_line(
    out: &mut Explained,
    ctx: Ctx<'_>,
    access: Option<&(Database, Options)>,
    ruleset: &str,
    arg1: &str,
    relay: &str,
    reject: &str,
) {
    out.ruleset = Some(ruleset.to_string());
    out.reply = (!reject.is_empty()).then(|| reject.to_string());
    if !relay.is_empty() {
        name_peer(out, relay);
    }
    let (code, rtext) = reply_parts(reject);
    let temp = code.starts_with('4');
    let kindword = if temp {
        "temporarily (the sender will retry)"
    } else {
        "permanently"
    };
    let server_tls = ctx.tls(Side::Server);
    let client_tls = ctx.tls(Side::Client);
    let rs = match ruleset {
        "tls_client" => Some(Ruleset::TlsClient),
        "tls_server" => Some(Ruleset::TlsServer),
        "tls_rcpt" => Some(Ruleset::TlsRcpt),
        "check_rcpt" => Some(Ruleset::Relay),
        // A TLS_Clt requirement checked at MAIL is logged under check_mail.
        "check_mail" if is_tls_reply(rtext) => Some(Ruleset::TlsClient),
        _ => None,
    };
    match rs {
        Some(Ruleset::TlsClient) => {
            out.side = Some(Side::Server);
            relay_macros(out, Side::Server, relay);
            if let Some(t) = server_tls {
                tls_macros(out, t);
            }
            if ruleset == "tls_client" && out.with_macros {
                out.macros
                    .entry("verify")
                    .or_insert_with(|| arg1.split(' ').next().unwrap_or("").to_string());
            }
            let at = if ruleset == "check_mail" {
                " at MAIL"
            } else {
                ""
            };
            set(
                out,
                "ruleset",
                Severity::Error,
                text!(
                    out,
                    "refused {kindword}{at} by a TLS_Clt requirement: {reject}"
                ),
            );
            requirement_cause(out, "TLS_Clt", "the client", rtext, arg1, temp);
        }
        Some(Ruleset::TlsServer) | Some(Ruleset::TlsRcpt) => {
            out.side = Some(Side::Client);
            relay_macros(out, Side::Client, relay);
            if let Some(t) = client_tls {
                tls_macros(out, t);
            }
            let (tag, who) = if rs == Some(Ruleset::TlsServer) {
                if out.with_macros {
                    out.macros
                        .entry("verify")
                        .or_insert_with(|| arg1.to_string());
                }
                ("TLS_Srv", "the server")
            } else {
                ("TLS_Rcpt", "the server")
            };
            set(
                out,
                "ruleset",
                Severity::Error,
                text!(
                    out,
                    "delivery refused {kindword} by a {tag} requirement: {reject}"
                ),
            );
            requirement_cause(out, tag, who, rtext, arg1, temp);
        }
        Some(Ruleset::Relay) => {
            out.side = Some(Side::Server);
            relay_macros(out, Side::Server, relay);
            if let Some(t) = server_tls {
                tls_macros(out, t);
            }
            set(
                out,
                "ruleset",
                Severity::Error,
                text!(out, "recipient {arg1} refused: {reject}"),
            );
            if rtext.contains("Relaying denied") {
                relay_denied(out, server_tls, rtext);
            } else {
                why(
                    out,
                    "rcpt-refused",
                    text!(out, "check_rcpt refused the recipient: {rtext}."),
                    "look up To:/Connect:/From: entries for it in the access map",
                );
            }
        }
        _ => {
            set(
                out,
                "ruleset",
                Severity::Warning,
                text!(out, "ruleset {ruleset} refused {arg1}: {reject}"),
            );
            why(
                out,
                "ruleset-refused",
                text!(out, "The {ruleset} check refused: {rtext}."),
                "",
            );
        }
    }
    let (Some(rs), Some((db, opts))) = (rs, access) else {
        return;
    };
    let mut m = Macros::default();
    for (k, v) in &out.macros {
        m.set(k, v);
    }
    if rs == Ruleset::Relay && !m.0.contains_key("client_addr") {
        return;
    }
    let rcpt = arg1.trim_start_matches('<').trim_end_matches('>');
    let rcpt = matches!(rs, Ruleset::Relay | Ruleset::TlsRcpt).then_some(rcpt);
    let decision = policy::evaluate(db, rs, &m, rcpt, *opts);
    let agrees = decision.reply.as_deref() == Some(reject);
    out.decision = Some(Replay { decision, agrees });
}

fn requirement_cause(
    out: &mut Explained,
    tag: &str,
    who: &str,
    rtext: &str,
    arg1: &str,
    temp: bool,
) {
    let t = rtext.trim();
    let (id, cause): (&'static str, String) = if let Some(rest) =
        t.strip_prefix("encryption too weak ")
    {
        let mut nums = rest.split(" less than ");
        let have = nums.next().unwrap_or("?");
        let need = nums.next().unwrap_or("?");
        if have == "0" {
            ("encryption-required", text!(out, "A {tag} entry requires encryption (ENCR:{need} or VERIFY:{need}) and {who} did not use TLS at all (0 bits)."))
        } else {
            (
                "encryption-too-weak",
                text!(
                    out,
                    "A {tag} entry requires {need}-bit encryption; {who}'s cipher has {have} bits."
                ),
            )
        }
    } else if t.starts_with("not authenticated") {
        (
            "verify-required",
            text!(
                out,
                "A {tag} entry requires VERIFY and {who} presented no certificate (verify=NO)."
            ),
        )
    } else if t.starts_with("authentication failed") {
        ("verify-required", text!(out, "A {tag} entry requires VERIFY and {who}'s certificate did not verify (verify=FAIL); the session's verifymsg says why."))
    } else if t.starts_with("authentication required") {
        (
            "verify-required",
            text!(
                out,
                "A {tag} entry requires VERIFY and {who} did not use STARTTLS at all."
            ),
        )
    } else if t.starts_with("no authentication requested") {
        ("verify-required", text!(out, "A {tag} entry requires VERIFY but no certificate was asked for (verify=NOT: TLSSrvOptions has V)."))
    } else if t.starts_with("other side does not support STARTTLS") {
        (
            "encryption-required",
            text!(
                out,
                "A {tag} entry requires TLS and {who} does not offer STARTTLS."
            ),
        )
    } else if t.starts_with("TLS handshake failed") {
        ("handshake-failed", "The TLS handshake failed (verify=SOFTWARE), which sendmail refuses when a requirement applies.".to_string())
    } else if t.starts_with("STARTTLS failed") {
        (
            "starttls-refused",
            "STARTTLS failed (verify=PROTOCOL).".to_string(),
        )
    } else if t.contains("does not match") {
        (
            "cert-name-mismatch",
            text!(
                out,
                "A {tag} entry requires the certificate's CN to match: {t}."
            ),
        )
    } else {
        (
            "requirement-not-met",
            text!(out, "A {tag} requirement was not met: {t} (arg1={arg1})."),
        )
    };
    let code = if temp {
        "The refusal is temporary (4xx): the default without TLS_PERM_ERR, or a TEMP+ prefix on the entry; the sender retries and the mail waits in its queue."
    } else {
        "The refusal is permanent (5xx): a PERM+ prefix on the entry, or TLS_PERM_ERR in the configuration; the sender bounces the mail."
    };
    let fix = if tag == "TLS_Clt" {
        "find the TLS_Clt: entry for this client (by name, address or domain) in the access map: `starttls-studio log explain --access /etc/mail/access` names it and its line; relax it or give the client what it requires"
    } else {
        "find the TLS_Srv:/TLS_Rcpt: entry in the access map (`log explain --access /etc/mail/access` names its line); check the server with `starttls-studio probe HOST:25 --ca-path DIR`"
    };
    why(out, id, text!(out, "{cause} {code}"), fix);
}

fn relay_denied(out: &mut Explained, tls: Option<&Tls>, rtext: &str) {
    let lookup = if rtext.contains("IP name lookup failed") {
        " (\"IP name lookup failed\" only says the client's address has no host name: it is not the reason for the refusal.)"
    } else {
        ""
    };
    let (id, cause) = match tls.map(Tls::verify) {
        None | Some("") => ("relay-no-tls", "No rule lets this client relay: it did not use STARTTLS (or the session's STARTTLS line is not in this log), so no certificate could allow it, and no Connect:/To: entry does.".to_string()),
        Some("OK") | Some("TRUSTED") => {
            let t = tls.expect("matched Some");
            ("relay-no-cert-entry", text!(out, "The client's certificate verified, but no entry lets it relay: sendmail looks up CERTISSUER:{} and relays on RELAY; only when that entry says SUBJECT does it look up CERTSUBJECT:{} (a CERTSUBJECT entry alone is never consulted). Entries must spell the DNs in sendmail's +XX form, exactly as logged.", t.issuer(), t.subject()))
        }
        Some("NO") => ("relay-no-cert", "The client presented no certificate (verify=NO), so no CERTISSUER:/CERTSUBJECT: entry can let it relay.".to_string()),
        Some("NOT") => ("relay-no-cert", "No client certificate was asked for (verify=NOT: TLSSrvOptions has V), so no CERTISSUER:/CERTSUBJECT: entry can let it relay.".to_string()),
        Some(v) => ("relay-cert-not-verified", text!(out, "The client's certificate did not verify (verify={v}), so no CERTISSUER:/CERTSUBJECT: entry can let it relay.")),
    };
    let fix = match id {
        "relay-no-cert-entry" => "add the issuer (or subject) as an entry: `starttls-studio access add-cert-relay --ca CA.pem` (or `--cert`) writes it in the +XX form; `policy eval` with the logged macros shows the lookups",
        "relay-cert-not-verified" => "make the certificate verify first: trust its CA (`starttls-studio trust add CA --to DIR`), see the session's verifymsg",
        "relay-no-cert" => "the client must present a certificate: give it one from a CA you trust, and announce that CA (confCACERT: `starttls-studio trust add CA --to DIR --announce`); with verify=NOT remove the V from confTLS_SRV_OPTIONS",
        _ => "the client must use STARTTLS with a certificate that a CERTISSUER:/CERTSUBJECT: entry names, or be listed with Connect:ADDR RELAY",
    };
    why(out, id, text!(out, "{cause}{lookup}"), fix);
}

fn delivery(out: &mut Explained, ctx: Ctx<'_>, to: &str, relay: &str, mailer: &str, stat: &str) {
    if !relay.is_empty() {
        name_peer(out, relay);
    }
    let via = if relay.is_empty() {
        cat!(out, "mailer ", mailer)
    } else {
        cat!(out, relay, " (mailer ", mailer, ")")
    };
    if stat.starts_with("Sent") {
        let tls = ctx
            .tls(Side::Client)
            .map(|t| cat!(out, ", over ", t.version(), " with verify=", t.verify()))
            .unwrap_or_default();
        let tls = if tls.is_empty()
            && matches!(mailer, "esmtp" | "smtp" | "relay" | "smtp8" | "dsmtp")
        {
            " (this session logged no STARTTLS=client line: sent without TLS, at LogLevel 9 or more)".to_string()
        } else {
            tls
        };
        set(
            out,
            "delivery",
            Severity::Info,
            cat!(out, "delivered to ", to, " via ", &via, &tls),
        );
        return;
    }
    let s = stat.to_ascii_lowercase();
    let severity = if s.starts_with("deferred") {
        Severity::Warning
    } else {
        Severity::Error
    };
    set(
        out,
        "delivery",
        severity,
        text!(out, "delivery to {to} via {via}: {stat}"),
    );
    if s.contains("tls handshake failed") {
        why(out, "handshake-failed", "The TLS handshake with the server failed and a requirement (TLS_Srv/TLS_Rcpt, or the tls_server ruleset with verify=SOFTWARE) does not allow sending without it.", "`starttls-studio probe SERVER:25` shows the handshake; see this session's `connect failed` line");
    } else if s.contains("4.7.0")
        || s.contains("5.7.0")
        || s.contains("not authenticated")
        || s.contains("encryption too weak")
        || s.contains("authentication")
    {
        why(out, "requirement-not-met", "A TLS requirement for this server or recipient was not met (see this session's ruleset=tls_server/tls_rcpt line).", "find the TLS_Srv:/TLS_Rcpt: entry in the access map (`log explain --access /etc/mail/access`)");
    }
}

/// The log lines recorded from the real sendmail (tests/data/maillog/*.log,
/// in name order), for the tests.
#[cfg(test)]
pub(crate) fn recorded_corpus() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/maillog");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[cfg(test)]
mod tests;
