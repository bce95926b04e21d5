//! `log explain --summary`: per peer — sessions, TLS versions, `verify`
//! outcomes, refusals by reason — over the log's time range, the top
//! problems first. Memory is bounded whatever the log's size.

use super::shapes::Shape;
use super::{Event, Explained, Explainer, Severity};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

const MAX_PEERS: usize = 10_000;
const OTHER: &str = "(other peers)";
/// Sessions remembered as counted: the last `RECENT` ids, a bit each
/// (the explainer forgets a session long before: `MAX_SESSIONS` later).
const RECENT: u64 = 1 << 17;

/// A cause and how often it was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub cause_id: &'static str,
    pub severity: Severity,
    pub count: u64,
    /// The first line it was seen on, and what it said there.
    pub first_line: u64,
    pub summary: Option<String>,
    pub cause: Option<String>,
    pub fix: Option<String>,
    /// Up to five peers it concerned.
    pub peers: Vec<String>,
    /// Their places in the builder's list (compared instead of the names).
    #[serde(skip)]
    places: Vec<usize>,
}

/// What one peer did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Peer {
    pub peer: String,
    pub sessions: u64,
    /// `TLSv1.3` → sessions.
    pub tls_versions: BTreeMap<String, u64>,
    /// `verify` value → count, both sides (`server`: the peer was our
    /// client; `client`: we delivered to it).
    pub verify: BTreeMap<String, u64>,
    /// Refusals by reply.
    pub refusals: BTreeMap<String, u64>,
    /// Lines with a warning or an error.
    pub problems: u64,
}

/// The whole log, summed up.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub lines: u64,
    pub known: u64,
    pub unknown: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    pub sessions: u64,
    /// Errors first, then warnings, then notes; the most frequent first.
    pub problems: Vec<Problem>,
    /// Peers with the most problems first, then by sessions.
    pub peers: Vec<Peer>,
}

/// What a summary takes of a line worth judging: as `explain` gives it,
/// without the texts.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    pub severity: Severity,
    pub cause_id: Option<&'static str>,
    /// The peer the line names, if it names one.
    pub peer: Option<&'a str>,
}

/// Adds lines up; `finish` sorts.
pub struct Builder {
    s: Summary,
    problems: Problems,
    peers: Vec<Peer>,
    /// Peer → its place in `peers`.
    index: HashMap<String, usize, std::hash::BuildHasherDefault<super::Fx>>,
    /// The place of the line before's peer (a session's lines come
    /// together).
    last_peer: Option<usize>,
    /// The session whose peer was counted last, and that peer's place.
    session_peer: Option<(u64, usize)>,
    /// Whether session `id` was counted, for the last `RECENT` ids: bit
    /// `id % RECENT` (cleared as the ids move on).
    counted: Vec<u64>,
    /// The session counted last.
    last_counted: u64,
    max_session: u64,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            s: Summary::default(),
            problems: Default::default(),
            peers: Vec::new(),
            index: Default::default(),
            last_peer: None,
            session_peer: None,
            last_counted: 0,
            counted: vec![0; (RECENT / 64) as usize],
            max_session: 0,
        }
    }
}

impl Builder {
    /// Line `ev`, just fed to `ex`: judged when it can change the summary
    /// (`needs_explaining`), without its texts unless its cause is new here
    /// (a problem keeps the texts of its first line).
    pub fn add_event(&mut self, ex: &Explainer, ev: &Event<'_>) {
        let peer = ex.peer_of(ev.session);
        if !needs_explaining(ev) {
            return self.add(ev, None, None, peer);
        }
        let brief;
        let verdict = match ev.shape {
            // the most frequent line worth judging (verify=NO): its
            // verdict without an explanation built
            Some(Shape::Session {
                side,
                relay,
                version,
                verify,
                bits,
                ..
            }) => {
                let (severity, cause_id) = super::session_verdict(side, version, verify, bits);
                Verdict {
                    severity,
                    cause_id,
                    peer: Some(relay),
                }
            }
            _ => {
                brief = ex.explain_brief(ev);
                Verdict {
                    severity: brief.severity,
                    cause_id: brief.cause_id,
                    peer: brief.peer.as_deref(),
                }
            }
        };
        match verdict.cause_id {
            Some(id) if self.problems.find(id).is_none() => {
                self.add(ev, Some(verdict), Some(&ex.explain(ev)), peer)
            }
            _ => self.add(ev, Some(verdict), None, peer),
        }
    }

    /// `v` is the line's verdict when it was worth one (see
    /// `needs_explaining`), `texts` its explanation when its cause is new;
    /// `peer` the session's peer.
    pub fn add(
        &mut self,
        ev: &Event<'_>,
        v: Option<Verdict<'_>>,
        texts: Option<&Explained>,
        peer: Option<&str>,
    ) {
        self.s.lines += 1;
        let known = ev.shape.is_some();
        if known {
            self.s.known += 1;
        } else {
            self.s.unknown += 1;
        }
        if let Some(t) = ev.framed.and_then(|f| f.time) {
            if self.s.first_time.is_none() {
                self.s.first_time = Some(t.to_string());
            }
            let last = self.s.last_time.get_or_insert_with(String::new);
            if last != t {
                last.clear();
                last.push_str(t);
            }
        }
        // the session's peer, unless the line names one
        let from_session = v.and_then(|v| v.peer).is_none();
        let peer = v.and_then(|v| v.peer).or(peer).filter(|p| !p.is_empty());
        // (only a line with a cause is a problem)
        let Some(peer) = peer else {
            if v.is_some_and(|v| v.cause_id.is_some()) {
                problem(&mut self.problems, ev.line, v, texts, None);
            }
            return;
        };
        let cached = match (self.session_peer, ev.session) {
            // (a session's peer, once named, stays: its place too)
            (Some((s, i)), Some(id)) if from_session && s == id => Some(i),
            _ => self.last_peer.filter(|&i| self.peers[i].peer == peer),
        };
        let at = match cached {
            Some(i) => i,
            None => {
                let key = if self.peers.len() < MAX_PEERS || self.index.contains_key(peer) {
                    peer
                } else {
                    OTHER
                };
                let i = match self.index.get(key) {
                    Some(&i) => i,
                    None => {
                        self.index.insert(key.to_string(), self.peers.len());
                        self.peers.push(Peer {
                            peer: key.to_string(),
                            ..Peer::default()
                        });
                        self.peers.len() - 1
                    }
                };
                self.last_peer = Some(i);
                i
            }
        };
        if let (true, Some(id)) = (from_session, ev.session) {
            self.session_peer = Some((id, at));
        }
        let p = &mut self.peers[at];
        if let Some(id) = ev.session {
            if id > self.max_session {
                // the ids coming into the window are not counted yet
                if id - self.max_session >= RECENT {
                    self.counted.fill(0);
                } else {
                    for x in self.max_session + 1..=id {
                        self.counted[((x % RECENT) / 64) as usize] &= !(1 << (x % 64));
                    }
                }
                self.max_session = id;
                self.s.sessions = id;
            }
            if id != self.last_counted {
                let (word, bit) = (((id % RECENT) / 64) as usize, 1u64 << (id % 64));
                // An id older than the window is counted again, its bit
                // left to the id that has it now (the explainer never
                // gives one: it forgets a session long before).
                let old = id + RECENT <= self.max_session;
                if old || self.counted[word] & bit == 0 {
                    if !old {
                        self.counted[word] |= bit;
                    }
                    self.last_counted = id;
                    p.sessions += 1;
                }
            }
        }
        match &ev.shape {
            Some(Shape::Session {
                version, verify, ..
            }) => {
                bump(&mut p.tls_versions, version);
                bump(&mut p.verify, verify);
            }
            Some(Shape::HandshakeFailed { .. }) => bump(&mut p.verify, "SOFTWARE"),
            Some(Shape::Ruleset { reject, .. }) if !reject.is_empty() => {
                bump(&mut p.refusals, reject);
            }
            _ => {}
        }
        if v.is_some_and(|v| v.severity > Severity::Info) {
            p.problems += 1;
        }
        if v.is_some_and(|v| v.cause_id.is_some()) {
            problem(
                &mut self.problems,
                ev.line,
                v,
                texts,
                Some((at, &self.peers[at].peer)),
            );
        }
    }

    pub fn finish(mut self) -> Summary {
        let mut problems = self.problems.list;
        problems.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.count.cmp(&a.count))
                .then(a.first_line.cmp(&b.first_line))
        });
        let mut peers = self.peers;
        peers.sort_by(|a, b| {
            b.problems
                .cmp(&a.problems)
                .then(b.sessions.cmp(&a.sessions))
                .then(a.peer.cmp(&b.peer))
        });
        self.s.problems = problems;
        self.s.peers = peers;
        self.s
    }
}

/// The problems seen, by cause id.
#[derive(Default)]
struct Problems {
    list: Vec<Problem>,
    /// Cause id → its place in `list`.
    index: HashMap<&'static str, usize, std::hash::BuildHasherDefault<super::Fx>>,
    /// The cause looked up last, and its place (a line's cause is most
    /// often the one before's; an id is a `&'static str`: the same
    /// address and length, the same text).
    last: Option<(&'static str, usize)>,
}

impl Problems {
    /// The place of cause `id`, when seen.
    fn find(&mut self, id: &'static str) -> Option<usize> {
        if let Some((l, i)) = self.last {
            if std::ptr::eq(l, id) {
                return Some(i);
            }
        }
        let i = *self.index.get(id)?;
        self.last = Some((id, i));
        Some(i)
    }

    /// Cause `id`'s problem, made by `new` when it is new.
    fn entry(&mut self, id: &'static str, new: impl FnOnce() -> Problem) -> &mut Problem {
        let i = match self.find(id) {
            Some(i) => i,
            None => {
                self.list.push(new());
                let i = self.list.len() - 1;
                self.index.insert(id, i);
                self.last = Some((id, i));
                i
            }
        };
        &mut self.list[i]
    }
}

/// One more line (line `line`) with cause `v.cause_id`; `texts` its
/// explanation when the cause is new (`peer`: the peer it concerned, and
/// its place in the list of peers).
fn problem(
    problems: &mut Problems,
    line: u64,
    v: Option<Verdict<'_>>,
    texts: Option<&Explained>,
    peer: Option<(usize, &str)>,
) {
    let Some(v) = v else { return };
    let Some(id) = v.cause_id else { return };
    let pr = problems.entry(id, || Problem {
        cause_id: id,
        severity: v.severity,
        count: 0,
        first_line: line,
        summary: texts.and_then(|e| e.summary.as_deref().map(str::to_string)),
        cause: texts.and_then(|e| e.cause.as_deref().map(str::to_string)),
        fix: texts.and_then(|e| e.fix.as_deref().map(str::to_string)),
        peers: Vec::new(),
        places: Vec::new(),
    });
    pr.count += 1;
    pr.severity = pr.severity.max(v.severity);
    if let Some((at, p)) = peer {
        if pr.places.len() < 5 && !pr.places.contains(&at) {
            pr.places.push(at);
            pr.peers.push(p.to_string());
        }
    }
}

/// One more of `k` (the key allocated only the first time).
fn bump(m: &mut BTreeMap<String, u64>, k: &str) {
    match m.get_mut(k) {
        Some(c) => *c += 1,
        None => {
            m.insert(k.to_string(), 1);
        }
    }
}

/// Whether a line's explanation can change the summary (the others are
/// counted from their shape alone, which is much cheaper).
pub fn needs_explaining(ev: &Event<'_>) -> bool {
    match &ev.shape {
        None => false,
        Some(Shape::Connect { .. })
        | Some(Shape::DidNotIssue { .. })
        | Some(Shape::Routine { .. })
        | Some(Shape::Start { .. })
        | Some(Shape::DhInit { .. })
        | Some(Shape::TlsOther { .. })
        | Some(Shape::From { .. }) => false,
        Some(Shape::Init { ok, .. }) => !ok,
        Some(Shape::Session {
            verify,
            version,
            bits,
            ..
        }) => {
            *verify != "OK"
                || !matches!(*version, "TLSv1.2" | "TLSv1.3")
                || super::bits_of(bits).is_some_and(|b| b < 128)
        }
        Some(Shape::Cert { verifymsg, .. }) => !verifymsg.eq_ignore_ascii_case("ok"),
        Some(Shape::Delivery { stat, .. }) => !stat.starts_with("Sent"),
        _ => true,
    }
}
