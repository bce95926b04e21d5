//! "What would sendmail decide?": the `tls_client`, `tls_server`,
//! `tls_rcpt` and relay-by-certificate rulesets of sendmail 8.17's
//! `FEATURE(access_db)` configuration, evaluated on an access map and macro
//! values, with a trace of every lookup. The rules mirrored are in
//! `docs/sendmail-rulesets.txt`; each step below names the rule it follows.

use super::access::{Database, Extension, Level, Severity, TlsRequirement};
use super::tokens::{self, tokenize};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The rulesets `policy eval` answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruleset {
    /// Server side: the client's certificate (after STARTTLS, and at MAIL).
    TlsClient,
    /// Client side: the server's certificate.
    TlsServer,
    /// Client side, per recipient.
    TlsRcpt,
    /// `check_rcpt` for a non-local recipient: relaying allowed?
    Relay,
}

impl Ruleset {
    /// The name `policy eval --ruleset` and the session log use.
    pub fn name(self) -> &'static str {
        match self {
            Ruleset::TlsClient => "tls_client",
            Ruleset::TlsServer => "tls_server",
            Ruleset::TlsRcpt => "tls_rcpt",
            Ruleset::Relay => "relay",
        }
    }
}

/// The outcome, as `policy eval --json` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Relay,
    Temp,
    Perm,
}

/// One step of the evaluation, for the person asking "why?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// `lookup`, `requirement`, `check`, `decision`.
    pub step: &'static str,
    /// The access key tried (lookups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value found (lookups only; null when not found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Line of the access file the value came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub detail: String,
}

/// What sendmail would decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// One sentence: the outcome and the entry and fact that decided it.
    pub explanation: String,
    /// The SMTP reply (`454 4.7.0 not authenticated`); null when accepted.
    pub reply: Option<String>,
    pub trace: Vec<TraceStep>,
}

/// Macro values, by sendmail's names without braces (`verify`,
/// `cert_issuer`, …). Missing macros are empty, as in sendmail.
#[derive(Debug, Clone, Default)]
pub struct Macros(pub BTreeMap<String, String>);

impl Macros {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_string(), value.to_string());
    }
}

/// Macro names `policy eval` understands.
pub const MACRO_NAMES: &[&str] = &[
    "verify",
    "cert_issuer",
    "cert_subject",
    "cn_issuer",
    "cn_subject",
    "cipher_bits",
    "auth_ssf",
    "tls_version",
    "cipher",
    "client_name",
    "client_addr",
    "server_name",
    "server_addr",
    "client_resolve",
];

/// Configuration of the evaluated sendmail.cf.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `define(`TLS_PERM_ERR')`: default refusal 554 5.7.0 instead of 454 4.7.0.
    pub tls_perm_err: bool,
}

struct Eval<'a> {
    db: &'a Database,
    trace: Vec<TraceStep>,
    /// The last entry a lookup found: (key, line, value).
    matched: Option<(String, usize, String)>,
}

impl Eval<'_> {
    fn lookup(&mut self, key: String) -> Option<String> {
        let hit = self.db.get(&key).map(|(v, l)| (v.to_string(), l));
        self.trace.push(TraceStep {
            step: "lookup",
            detail: match &hit {
                Some((v, l)) => format!("{key} found on line {l}: {v}"),
                None => format!("{key} not found"),
            },
            found: hit.as_ref().map(|(v, _)| v.clone()),
            line: hit.as_ref().map(|(_, l)| *l),
            key: Some(key),
        });
        if let Some((v, l)) = &hit {
            self.matched = Some((key_of(&self.trace), *l, v.trim_end().to_string()));
        }
        hit.map(|(v, _)| v)
    }

    /// Ends the evaluation: the decision with its one-sentence explanation
    /// (the entry that decided, and the last check made).
    fn decide(&mut self, outcome: Outcome, reply: Option<String>, why: String) -> Decision {
        self.note("decision", why.clone());
        let check = self
            .trace
            .iter()
            .rev()
            .find(|s| s.step == "check")
            .map(|s| s.detail.clone());
        let entry = self
            .matched
            .as_ref()
            .map(|(k, l, v)| format!("{k} (line {l}) says `{v}`"));
        let explanation = match (&reply, entry, check) {
            (Some(r), Some(e), Some(c)) => format!("{r}: {e}, and {c}"),
            (Some(r), Some(e), None) => format!("{r}: {e}"),
            (Some(r), None, Some(c)) => format!("{r}: {c}"),
            (Some(r), None, None) => r.clone(),
            (None, Some(e), _) => format!("{why}; {e}"),
            (None, None, _) => why,
        };
        Decision {
            outcome,
            explanation,
            reply,
            trace: std::mem::take(&mut self.trace),
        }
    }

    fn note(&mut self, step: &'static str, detail: String) {
        self.trace.push(TraceStep {
            step,
            key: None,
            found: None,
            line: None,
            detail,
        });
    }

    /// Ruleset `D` (LookUpDomain): `TAG:name`, then (with `untagged`) the
    /// bare name, then each parent domain; for `[a.b.c.d]` the address
    /// prefixes `[a.b.c]`, …. An empty name looks up `TAG:` itself.
    fn domain(&mut self, tag: &str, name: &str, untagged: bool) -> Option<String> {
        let mut toks = tokenize(name);
        loop {
            let n = tokens::join(&toks);
            if let Some(v) = self.lookup(format!("{tag}:{n}")) {
                return Some(v);
            }
            if toks.is_empty() {
                return None;
            }
            if untagged {
                if let Some(v) = self.lookup(n.clone()) {
                    return Some(v);
                }
            }
            let bracketed = toks.len() >= 2 && toks[0] == "[" && toks[toks.len() - 1] == "]";
            if bracketed {
                let inner = &toks[1..toks.len() - 1];
                let cut = strip_last(inner, &["."])
                    .or_else(|| strip_last(inner, &[":", ":"]))
                    .or_else(|| strip_last(inner, &[":"]));
                match cut {
                    Some(k) if k > 0 => {
                        let mut t = vec!["[".to_string()];
                        t.extend_from_slice(&inner[..k]);
                        t.push("]".into());
                        toks = t;
                    }
                    _ => return None,
                }
            } else {
                // `<$+.$+>`: drop the first label.
                match toks
                    .iter()
                    .enumerate()
                    .skip(1)
                    .find(|(i, t)| *t == "." && *i + 1 < toks.len())
                {
                    Some((i, _)) => toks = toks[i + 1..].to_vec(),
                    None => return None,
                }
            }
        }
    }

    /// Ruleset `A` (LookUpAddress): `TAG:addr`, then (with `untagged`) the
    /// bare address, then the address cut at its last `::`, `:` or `.`.
    fn address(&mut self, tag: &str, addr: &str, untagged: bool) -> Option<String> {
        let mut toks = tokenize(addr);
        while !toks.is_empty() {
            let a = tokens::join(&toks);
            if let Some(v) = self.lookup(format!("{tag}:{a}")) {
                return Some(v);
            }
            if untagged {
                if let Some(v) = self.lookup(a) {
                    return Some(v);
                }
            }
            match strip_last(&toks, &[":", ":"])
                .or_else(|| strip_last(&toks, &[":"]))
                .or_else(|| strip_last(&toks, &["."]))
            {
                Some(k) if k > 0 => toks.truncate(k),
                _ => return None,
            }
        }
        None
    }
}

/// If `toks` ends with `sep` followed by exactly one non-empty token,
/// returns where `sep` starts (the rulesets' `$+.$-`, `$+:$-`, `$+::$-`).
fn strip_last(toks: &[String], sep: &[&str]) -> Option<usize> {
    let n = toks.len();
    if n < sep.len() + 2 {
        return None;
    }
    let start = n - 1 - sep.len();
    if sep.iter().enumerate().all(|(i, s)| toks[start + i] == *s)
        && !(sep == [":"] && toks[start - 1] == ":")
    {
        Some(start)
    } else {
        None
    }
}

/// `CODE D.S.N text`.
fn reply(code: &str, dsn: &str, text: &str) -> String {
    format!("{code} {dsn} {text}")
}

fn key_of(trace: &[TraceStep]) -> String {
    trace.last().and_then(|s| s.key.clone()).unwrap_or_default()
}

fn outcome_of(code: &str) -> Outcome {
    if code.starts_with('5') {
        Outcome::Perm
    } else {
        Outcome::Temp
    }
}

fn verified(verify: &[String]) -> bool {
    tokens::is_word(verify, "OK") || tokens::is_word(verify, "TRUSTED")
}

/// `TLS_connection` and `TLS_req`: applies a found requirement (or none) to
/// `${verify}` and the other macros. `tls_name` is `${TLS_Name}` (the peer's
/// name, for the plain `CN` extension).
fn tls_connection(
    ev: &mut Eval<'_>,
    m: &Macros,
    found: Option<&str>,
    tls_name: &str,
    opts: Options,
) -> Decision {
    let verify = tokenize(m.get("verify"));
    let verify_text = tokens::join(&verify);
    let req = found.and_then(TlsRequirement::parse);
    if let (Some(v), None) = (found, &req) {
        ev.note(
            "requirement",
            format!("`{}` is not of the form [PERM+|TEMP+](VERIFY|VERIFY:bits|ENCR:bits)[+ext]: sendmail ignores it", v.trim_end()),
        );
    }
    let (code, dsn) = match req.as_ref().and_then(|r| r.severity) {
        Some(Severity::Perm) => ("503", "5.7.0"),
        Some(Severity::Temp) => ("403", "4.7.0"),
        None if opts.tls_perm_err => ("554", "5.7.0"),
        None => ("454", "4.7.0"),
    };
    let refuse = |ev: &mut Eval<'_>, text: String| {
        let r = reply(code, dsn, &text);
        ev.decide(outcome_of(code), Some(r.clone()), format!("refused: {r}"))
    };
    let accept = |ev: &mut Eval<'_>, why: String| ev.decide(Outcome::Ok, None, why);
    // TLS handshake and protocol failures refuse, entry or not.
    for (word, text) in [
        ("SOFTWARE", "TLS handshake failed."),
        ("PROTOCOL", "STARTTLS failed."),
        ("DANE_FAIL", "DANE check failed."),
        ("CONFIG", "STARTTLS temporarily not possible."),
    ] {
        if tokens::is_word(&verify, word) {
            // Without a requirement the default code applies (454 4.7.0,
            // or 554 5.7.0 with TLS_PERM_ERR), which `refuse` already holds.
            ev.note("check", format!("verify={word} always refuses"));
            return refuse(ev, text.to_string());
        }
    }
    let Some(req) = req else {
        return accept(ev, "accepted: no TLS requirement applies".into());
    };
    ev.note("requirement", describe(&req, code, dsn));
    let required_bits = match &req.level {
        Level::Verify => None,
        Level::VerifyBits(b) | Level::Encr(b) => Some(b.clone()),
    };
    let needs_verify = !matches!(req.level, Level::Encr(_));
    if needs_verify && !verified(&verify) {
        let text = match verify_text.to_ascii_uppercase().as_str() {
            "" => "authentication required".to_string(),
            "FAIL" => "authentication failed".into(),
            "NO" => "not authenticated".into(),
            "NOT" => "no authentication requested".into(),
            "NONE" => "other side does not support STARTTLS".into(),
            "CLEAR" => "STARTTLS disabled locally".into(),
            // sendmail's rule prints the extensions here, not the value.
            _ => format!("authentication failure {}", ext_text(&req.extensions)),
        };
        ev.note(
            "check",
            format!(
                "VERIFY needs verify=OK or TRUSTED; verify is {}",
                if verify_text.is_empty() {
                    "empty (no STARTTLS)".to_string()
                } else {
                    verify_text.clone()
                }
            ),
        );
        return refuse(ev, text);
    }
    if let Some(bits) = required_bits {
        let actual = max_bits(m.get("cipher_bits"), m.get("auth_ssf"));
        let need = tokens::strtol(&bits);
        if tokens::strtol(&actual) < need {
            ev.note(
                "check",
                format!("max(cipher_bits, auth_ssf) = {actual} is less than {bits}"),
            );
            return refuse(ev, format!("encryption too weak {actual} less than {bits}"));
        }
        ev.note(
            "check",
            format!("max(cipher_bits, auth_ssf) = {actual}, at least {bits}"),
        );
    } else if needs_verify {
        ev.note("check", format!("verify={verify_text}: verified"));
    }
    // TLS_req: extensions in order; an unknown one ends the checks.
    for ext in &req.extensions {
        if let Some((macro_name, label, want)) = compared_macro(ext, tls_name) {
            let have = tokenize(m.get(macro_name));
            if !tokens::eq_tokens(&have, &want) {
                ev.note(
                    "check",
                    format!(
                        "{label}: ${{{macro_name}}} `{}` is not `{}`",
                        m.get(macro_name),
                        tokens::join(&want)
                    ),
                );
                return refuse(
                    ev,
                    format!(
                        "{label} {} does not match {}",
                        tokens::join(&have),
                        tokens::join(&want)
                    ),
                );
            }
        }
        match ext {
            Extension::IssuerTag(tag) => {
                let issuer = tokens::join(&tokenize(m.get("cert_issuer")));
                match ev.lookup(format!("{tag}:{issuer}")) {
                    None => return refuse(ev, format!("Cert Issuer {issuer} not acceptable")),
                    Some(v) if tokens::is_word(&tokenize(&v), "OK") => {}
                    Some(v) => {
                        return accept(ev, format!("accepted: {tag}:{issuer} is `{v}`, not OK, which ends sendmail's checks"));
                    }
                }
            }
            Extension::Unknown(t) => {
                return accept(
                    ev,
                    format!(
                        "accepted: unknown extension `{}` ends sendmail's checks",
                        tokens::join(t)
                    ),
                );
            }
            // compared with a macro above
            Extension::Cn | Extension::CnName(_) | Extension::Subject(_) | Extension::Issuer(_) => {
            }
        }
        ev.note(
            "check",
            format!("extension {} holds", ext_text(std::slice::from_ref(ext))),
        );
    }
    accept(ev, "accepted: the requirement is met".into())
}

/// For the extensions `TLS_req` compares with a macro (`<CN:$&{cn_subject}>`,
/// `<CS:$&{cert_subject}>`, `<CI:$&{cert_issuer}>`; plain `CN` compares
/// `${cn_subject}` with `${TLS_Name}`): the macro, the reply's label and the
/// wanted tokens.
fn compared_macro(
    ext: &Extension,
    tls_name: &str,
) -> Option<(&'static str, &'static str, Vec<String>)> {
    match ext {
        Extension::Cn => Some(("cn_subject", "CN", tokenize(tls_name))),
        Extension::CnName(w) => Some(("cn_subject", "CN", w.clone())),
        Extension::Subject(w) => Some(("cert_subject", "Cert Subject", w.clone())),
        Extension::Issuer(w) => Some(("cert_issuer", "Cert Issuer", w.clone())),
        Extension::IssuerTag(_) | Extension::Unknown(_) => None,
    }
}

/// The `max` ruleset over `${cipher_bits} : ${auth_ssf}`.
fn max_bits(cipher_bits: &str, auth_ssf: &str) -> String {
    let a = tokens::join(&tokenize(cipher_bits));
    let b = tokens::join(&tokenize(auth_ssf));
    match (a.is_empty(), b.is_empty()) {
        (true, true) => "0".into(),
        (true, false) => b,
        (false, true) => a,
        (false, false) => {
            if tokens::strtol(&a) < tokens::strtol(&b) {
                b
            } else {
                a
            }
        }
    }
}

fn ext_text(exts: &[Extension]) -> String {
    exts.iter()
        .map(|e| match e {
            Extension::Cn => "CN".to_string(),
            Extension::CnName(t) => format!("CN:{}", tokens::join(t)),
            Extension::Subject(t) => format!("CS:{}", tokens::join(t)),
            Extension::Issuer(t) => format!("CI:{}", tokens::join(t)),
            Extension::IssuerTag(t) => format!("CITag:{t}"),
            Extension::Unknown(t) => tokens::join(t),
        })
        .collect::<Vec<_>>()
        .join("++")
}

fn describe(r: &TlsRequirement, code: &str, dsn: &str) -> String {
    let level = match &r.level {
        Level::Verify => "VERIFY: a verified certificate".to_string(),
        Level::VerifyBits(b) => format!("VERIFY:{b}: a verified certificate and at least {b} bits"),
        Level::Encr(b) => format!("ENCR:{b}: at least {b} bits of encryption"),
    };
    let ext = if r.extensions.is_empty() {
        String::new()
    } else {
        format!(", and {}", ext_text(&r.extensions))
    };
    format!("requires {level}{ext}; a refusal is {code} {dsn}")
}

/// Evaluates `ruleset`. `rcpt` is the recipient for `tls_rcpt` and `relay`.
pub fn evaluate(
    db: &Database,
    ruleset: Ruleset,
    m: &Macros,
    rcpt: Option<&str>,
    opts: Options,
) -> Decision {
    let mut ev = Eval {
        db,
        trace: Vec::new(),
        matched: None,
    };
    let mut d = evaluate_in(&mut ev, ruleset, m, rcpt, opts);
    // A reply is one line: control characters from an address or a map
    // value (a lone CR) must not split it or end it early.
    if let Some(r) = &mut d.reply {
        if r.contains(|c: char| c.is_control()) {
            *r = r
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
        }
    }
    d
}

fn evaluate_in(
    ev: &mut Eval<'_>,
    ruleset: Ruleset,
    m: &Macros,
    rcpt: Option<&str>,
    opts: Options,
) -> Decision {
    match ruleset {
        Ruleset::TlsClient => {
            let name = m.get("client_name");
            let found = peer_lookup(ev, "TLS_Clt", name, m.get("client_addr"));
            tls_connection(ev, m, found.as_deref(), name, opts)
        }
        Ruleset::TlsServer => {
            let name = m.get("server_name");
            let found = peer_lookup(ev, "TLS_Srv", name, m.get("server_addr"));
            tls_connection(ev, m, found.as_deref(), name, opts)
        }
        Ruleset::TlsRcpt => {
            let found = rcpt_lookup(ev, rcpt.unwrap_or(""));
            if found.is_none() {
                // `R$* $| <?> $@ OK`: without an entry tls_rcpt accepts
                // before TLS_connection, whatever ${verify} says.
                return ev.decide(
                    Outcome::Ok,
                    None,
                    "accepted: no TLS_Rcpt entry applies to this recipient".into(),
                );
            }
            tls_connection(ev, m, found.as_deref(), m.get("server_name"), opts)
        }
        Ruleset::Relay => relay(ev, m, rcpt),
    }
}

/// `tls_client` / `tls_server`: the peer's name and its parents, then its
/// address and prefixes, then the bare tag.
fn peer_lookup(ev: &mut Eval<'_>, tag: &str, name: &str, addr: &str) -> Option<String> {
    if let Some(v) = ev.domain(tag, name, false) {
        return Some(v);
    }
    if addr.trim().is_empty() {
        // `A` does not match an empty address, and the bare tag is never
        // reached (the workspace no longer starts with `<?>`).
        ev.note("check", "no address: sendmail stops looking here".into());
        return None;
    }
    if let Some(v) = ev.address(tag, addr, false) {
        return Some(v);
    }
    ev.lookup(format!("{tag}:"))
}

/// `tls_rcpt`: `SearchList` over F (full address with `+detail` variants),
/// U (local part), D (domain and parents), E (bare tag).
fn rcpt_lookup(ev: &mut Eval<'_>, rcpt: &str) -> Option<String> {
    let addr = rcpt
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let (user, domain) = match addr.rfind('@') {
        Some(at) => (&addr[..at], Some(addr[at + 1..].trim_end_matches('.'))),
        None => (addr, None),
    };
    let detail = user.split_once('+');
    if let Some(d) = domain {
        // F
        let full = format!("{user}@{d}");
        if let Some(v) = ev.lookup(format!("TLS_Rcpt:{full}")) {
            return Some(v);
        }
        if let Some((base, _)) = detail {
            for key in [
                format!("TLS_Rcpt:{base}+*@{d}"),
                format!("TLS_Rcpt:{base}@{d}"),
            ] {
                if let Some(v) = ev.lookup(key) {
                    return Some(v);
                }
            }
        }
    }
    // U
    if let Some(v) = ev.lookup(format!("TLS_Rcpt:{user}@")) {
        return Some(v);
    }
    if let Some((base, _)) = detail {
        for key in [format!("TLS_Rcpt:{base}+*@"), format!("TLS_Rcpt:{base}@")] {
            if let Some(v) = ev.lookup(key) {
                return Some(v);
            }
        }
    }
    // D
    if let Some(d) = domain.filter(|d| !d.is_empty()) {
        if let Some(v) = ev.domain("TLS_Rcpt", d, false) {
            return Some(v);
        }
    }
    // E
    ev.lookup("TLS_Rcpt:".into())
}

/// `check_rcpt` for a non-local recipient from a resolved client: relaying
/// by certificate (`RelayTLS`), by `To:` the recipient's domain, by
/// `Connect:` the client's address or name, or because the client is local.
fn relay(ev: &mut Eval<'_>, m: &Macros, rcpt: Option<&str>) -> Decision {
    let relayed = |ev: &mut Eval<'_>, why: String| ev.decide(Outcome::Relay, None, why);
    // RelayTLS
    let verify = tokenize(m.get("verify"));
    if verified(&verify) {
        let issuer = tokens::join(&tokenize(m.get("cert_issuer")));
        if issuer.is_empty() {
            ev.note(
                "check",
                "verify=OK but no ${cert_issuer}: no relaying by certificate".into(),
            );
        } else {
            match ev
                .lookup(format!("CERTISSUER:{issuer}"))
                .map(|v| tokenize(&v))
            {
                Some(v) if tokens::is_word(&v, "RELAY") => {
                    return relayed(
                        ev,
                        "relaying allowed: the client's certificate issuer is trusted for relaying"
                            .into(),
                    )
                }
                Some(v) if tokens::is_word(&v, "SUBJECT") => {
                    let subject = tokens::join(&tokenize(m.get("cert_subject")));
                    match ev.lookup(format!("CERTSUBJECT:{subject}")).map(|v| tokenize(&v)) {
                        Some(v) if tokens::is_word(&v, "RELAY") => {
                            return relayed(ev, "relaying allowed: the client's certificate subject is trusted for relaying".into())
                        }
                        _ => ev.note("check", "no CERTSUBJECT RELAY entry for this subject".into()),
                    }
                }
                Some(_) => ev.note(
                    "check",
                    "the CERTISSUER value is neither RELAY nor SUBJECT".into(),
                ),
                None => {}
            }
        }
    } else {
        ev.note(
            "check",
            format!(
                "verify={} is not OK/TRUSTED: no relaying by certificate",
                if verify.is_empty() {
                    "(empty)".to_string()
                } else {
                    tokens::join(&verify)
                }
            ),
        );
    }
    // Rcpt_ok: To: lookups of the recipient's domain.
    let rcpt_clean = rcpt.map(|r| {
        r.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_string()
    });
    if let Some(domain) = rcpt_clean.as_deref().and_then(|r| {
        r.rfind('@')
            .map(|at| r[at + 1..].trim_end_matches('.').to_string())
    }) {
        if ev
            .domain("To", &domain, true)
            .is_some_and(|v| tokens::is_word(&tokenize(&v), "RELAY"))
        {
            return relayed(ev, format!("relaying allowed: To:{domain} is RELAY"));
        }
    }
    // Relay_ok: local clients, then Connect: by address and by name.
    let addr = m.get("client_addr");
    if matches!(
        addr,
        "" | "0" | "127.0.0.1" | "IPv6:0:0:0:0:0:0:0:1" | "IPv6:::1"
    ) {
        return relayed(
            ev,
            format!("relaying allowed: client address `{addr}` is local"),
        );
    }
    if ev
        .address("Connect", addr, true)
        .is_some_and(|v| tokens::is_word(&tokenize(&v), "RELAY"))
    {
        return relayed(ev, "relaying allowed: the client's address is RELAY".into());
    }
    let name = m.get("client_name");
    let prefix = match &rcpt_clean {
        Some(r) if !r.is_empty() => format!("<{r}>... "),
        _ => String::new(),
    };
    // Relay_ok: an unresolved or forged client name refuses here, before
    // the name's Connect: entries are consulted (${client_resolve}).
    let resolve_refusal = match m.get("client_resolve") {
        "TEMP" => Some((Outcome::Temp, format!("450 4.4.0 {prefix}Relaying temporarily denied. Cannot resolve PTR record for {addr}"))),
        "FORGED" => Some((Outcome::Perm, format!("550 5.7.1 {prefix}Relaying denied. IP name possibly forged {name}"))),
        "FAIL" => Some((Outcome::Perm, format!("550 5.7.1 {prefix}Relaying denied. IP name lookup failed {name}"))),
        _ => None,
    };
    if let Some((outcome, r)) = resolve_refusal {
        ev.note(
            "check",
            format!(
                "client_resolve={}: the client's name did not resolve",
                m.get("client_resolve")
            ),
        );
        return ev.decide(outcome, Some(r.clone()), format!("refused: {r}"));
    }
    if !name.is_empty()
        && ev
            .domain("Connect", name, true)
            .is_some_and(|v| tokens::is_word(&tokenize(&v), "RELAY"))
    {
        return relayed(ev, "relaying allowed: the client's name is RELAY".into());
    }
    let r = format!("550 5.7.1 {prefix}Relaying denied");
    ev.note(
        "check",
        "no entry allows relaying for this client and recipient".into(),
    );
    ev.decide(Outcome::Perm, Some(r.clone()), format!("refused: {r}"))
}

impl fmt::Display for Decision {
    /// A human explanation: the outcome, the entry that decided, and why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.explanation)?;
        for s in &self.trace {
            writeln!(f, "  {:<11} {}", s.step, s.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
