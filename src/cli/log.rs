//! `log explain`: sendmail's log, line by line — what happened, why, what
//! to do — or summed up per peer.

use super::{refused, Error};
use crate::core::maillog::shapes::{Fields, Shape};
use crate::core::maillog::summary::{self, Summary};
use crate::core::maillog::{frame, Event, Explained, Explainer, Fx, Severity};
use crate::core::policy::Options;
use crate::store::access as store_access;
use crate::store::logread::LogReader;
use clap::{Args, Subcommand};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Explain sendmail's STARTTLS, TLS-requirement, relay and file-safety log lines: what happened, why, what to do (syslog or journal format; unknown lines are listed, never dropped)
    Explain(ExplainArgs),
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The log file (syslog format, `journalctl -o short`/`-o json` output), or - for standard input [default: /var/log/mail.log]
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// JSON Lines: one object per input line (line, known, summary, cause, fix, kind, cause_id, severity, doctor, session, time, host, program, pid, qid, peer, side, macros, ruleset, reply, decision, text)
    #[arg(long)]
    pub json: bool,
    /// Per peer: sessions, TLS versions, verify outcomes, refusals; the top problems first (with --json: one object)
    #[arg(long, conflicts_with = "follow")]
    pub summary: bool,
    /// Keep reading as the log grows, like tail -F (reopens a rotated log)
    #[arg(long)]
    pub follow: bool,
    /// Read sendmail's entries from the systemd journal (journalctl -o json -t sm-mta -t sendmail -t sm-msp-queue) instead of a file
    #[arg(long, conflicts_with = "file")]
    pub journal: bool,
    /// Replay each refusal through the policy evaluator against this access map (the source file) and show its trace
    #[arg(long, value_name = "FILE")]
    pub access: Option<PathBuf>,
    /// With --access: the sendmail.cf has define(`TLS_PERM_ERR')
    #[arg(long, requires = "access")]
    pub tls_perm_err: bool,
    /// Also print the routine lines (AUTH, milter, connection) in the plain view
    #[arg(long)]
    pub all: bool,
}

pub fn log(c: LogCommand) -> Result<i32, Error> {
    match c {
        LogCommand::Explain(a) => explain(a),
    }
}

fn explain(a: ExplainArgs) -> Result<i32, Error> {
    let path = match a.file.as_deref() {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(crate::store::logread::DEFAULT_LOG)),
    };
    let access = match &a.access {
        Some(p) => Some((
            store_access::load(p)?.database(),
            Options {
                tls_perm_err: a.tls_perm_err,
            },
        )),
        None => None,
    };
    let mut reader = if a.journal {
        LogReader::journal(a.follow, None).map_err(|e| refused(e, "give the log file instead"))?
    } else {
        LogReader::open(path.as_deref(), a.follow)
            .map_err(|e| refused(e, "give the log file, or - to read standard input"))?
    };
    let mut ex = Explainer::new(access);
    let stdout = io::stdout();
    let mut st = Out {
        out: BufWriter::with_capacity(256 * 1024, stdout.lock()),
        sum: summary::Builder::default(),
        printed: Printed::default(),
        routine: 0,
        unknown: 0,
    };
    let mut n = 0u64;
    let read_error = |e: io::Error| refused(format!("reading the log: {e}"), "check the file");
    if a.follow {
        let stop = AtomicBool::new(false);
        let mut buf = String::new();
        while reader.next_line(&mut buf, &stop).map_err(read_error)? {
            n += 1;
            if crate::core::maillog::is_private_key_line(&buf) {
                return Err(key_file(&mut st, n));
            }
            let framed = frame::frame(&buf);
            let ev = ex.feed(n, &buf, framed.as_ref());
            st.line(&a, &ex, &ev)?;
            st.out.flush()?;
        }
    } else {
        // The lines are read and taken apart on a second thread; this one
        // follows the sessions and writes.
        // (a summary reads less of the lines it does not explain)
        let fields = if a.summary {
            Fields::Summary
        } else {
            Fields::All
        };
        for block in crate::store::logread::scan(reader, fields)? {
            let block = block.map_err(read_error)?;
            let text = block.text.as_str();
            for p in &block.lines {
                n += 1;
                if p.private_key {
                    return Err(key_file(&mut st, n));
                }
                let raw = p.line(text);
                // (the event is completed and read where it was built:
                // moved, it would be copied for every line)
                let mut taken = p.event(n, raw);
                if let Some(ev) = taken.as_mut() {
                    ex.classified(ev);
                    st.line(&a, &ex, ev)?;
                } else {
                    let framed = frame::frame(raw);
                    let ev = ex.feed(n, raw, framed.as_ref());
                    st.line(&a, &ex, &ev)?;
                }
            }
        }
    }
    let Out {
        mut out,
        sum,
        routine,
        unknown,
        ..
    } = st;
    if a.summary {
        let s = sum.finish();
        if a.json {
            serde_json::to_writer_pretty(&mut out, &s).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
        } else {
            print_summary(&mut out, &s)?;
        }
    } else if !a.json {
        writeln!(
            out,
            "{n} line(s): {} explained, {routine} routine line(s) not shown (--all shows them), {unknown} unknown (marked ?)",
            n - unknown - routine
        )?;
    }
    out.flush()?;
    Ok(0)
}

/// Where the explanations go, and what is counted on the way.
struct Out<W: Write> {
    out: W,
    sum: summary::Builder,
    /// The plain view's why and fix texts printed in full so far.
    printed: Printed,
    routine: u64,
    unknown: u64,
}

impl<W: Write> Out<W> {
    /// One line fed to the explainer: summed up, or written as asked.
    fn line(&mut self, a: &ExplainArgs, ex: &Explainer, ev: &Event<'_>) -> Result<(), Error> {
        if a.summary {
            self.sum.add_event(ex, ev);
            return Ok(());
        }
        if !a.json && !a.all && ev.shape.as_ref().is_some_and(Shape::is_routine) {
            // counted, not shown: not worth explaining
            self.routine += 1;
            return Ok(());
        }
        // (the plain view prints less: what it does not print is not copied)
        let e = if a.json {
            ex.explain(ev)
        } else {
            ex.explain_plain(ev)
        };
        if a.json {
            serde_json::to_writer(&mut self.out, &e).map_err(io::Error::other)?;
            self.out.write_all(b"\n")?;
        } else {
            if !e.known {
                self.unknown += 1;
            }
            plain(&mut self.out, &e, &mut self.printed)?;
        }
        Ok(())
    }
}

/// Line `n` begins a private key: what was written so far is flushed and
/// nothing of the key is printed.
fn key_file<W: Write>(st: &mut Out<W>, n: u64) -> Error {
    let _ = st.out.flush();
    refused(
        format!("line {n} begins a private key: this is a key file, not a log; nothing of it is printed"),
        "give sendmail's log (/var/log/mail.log), or - for standard input",
    )
}

fn mark(s: Severity) -> &'static str {
    match s {
        Severity::Info => " ",
        Severity::Warning => "!",
        Severity::Error => "E",
    }
}

/// The plain view's why and fix texts printed in full, and the line each
/// pair was first printed for: a line whose pair was printed before refers
/// to that line instead of repeating it (an MX's everyday `verify=NO`
/// would otherwise repeat the same paragraph for every session). Bounded:
/// past `Printed::MAX` different pairs, new ones are printed in full each
/// time.
#[derive(Default)]
struct Printed {
    /// The pair's hash → the pairs with that hash, and their first lines.
    first: HashMap<u64, Vec<FirstPrinted>, BuildHasherDefault<Fx>>,
    pairs: usize,
    /// The fixed pair looked up last (its texts' addresses and lengths),
    /// and its first line.
    last: Option<(StaticPair, u64)>,
}

/// A pair of fixed texts by their addresses and lengths: the same
/// `&'static str`s are the same texts (a text made for a line is not: its
/// memory is reused for the next one's).
type StaticPair = (usize, usize, usize, usize);

/// A why, its fix, and the line they were first printed for.
type FirstPrinted = (String, Option<String>, u64);

impl Printed {
    const MAX: usize = 4096;

    /// The line `cause` and `fix` were printed for before, or `None` (and
    /// line `line` noted as the first, while there is room).
    // (the texts as `Cow`s, not `&str`: whether one is fixed is the point)
    #[allow(clippy::ptr_arg)]
    fn before(
        &mut self,
        cause: &Cow<'static, str>,
        fix: Option<&Cow<'static, str>>,
        line: u64,
    ) -> Option<u64> {
        let at = |t: &str| (t.as_ptr() as usize, t.len());
        let key: Option<StaticPair> = match (cause, fix) {
            (Cow::Borrowed(c), None) => Some((at(c).0, at(c).1, 0, 0)),
            (Cow::Borrowed(c), Some(Cow::Borrowed(f))) => {
                Some((at(c).0, at(c).1, at(f).0, at(f).1))
            }
            _ => None,
        };
        if let (Some(k), Some((last, n))) = (key, self.last) {
            if k == last {
                return Some(n);
            }
        }
        let found = self.look_up(cause, fix.map(|f| f.as_ref()), line);
        if let (Some(k), Some(n)) = (key, found) {
            self.last = Some((k, n));
        }
        found
    }

    /// `before`, by the texts.
    fn look_up(&mut self, cause: &str, fix: Option<&str>, line: u64) -> Option<u64> {
        // (hashed by their lengths and ends, compared whole: a long text
        // is not read twice for every line)
        fn ends(t: &str) -> (usize, &[u8], &[u8]) {
            let b = t.as_bytes();
            (
                b.len(),
                &b[..b.len().min(32)],
                &b[b.len().saturating_sub(32)..],
            )
        }
        let mut h = Fx::default();
        (ends(cause), fix.map(ends)).hash(&mut h);
        let pairs = self.first.entry(h.finish()).or_default();
        if let Some((.., n)) = pairs
            .iter()
            .find(|(c, f, _)| c == cause && f.as_deref() == fix)
        {
            return Some(*n);
        }
        if self.pairs < Self::MAX {
            self.pairs += 1;
            pairs.push((cause.to_string(), fix.map(str::to_string), line));
        }
        None
    }
}

fn plain(out: &mut impl Write, e: &Explained, printed: &mut Printed) -> io::Result<()> {
    if !e.known {
        writeln!(out, "{:>6} ? {}", e.line, e.text)?;
        if let Some(c) = &e.cause {
            writeln!(out, "         ({c})")?;
        }
        return Ok(());
    }
    // (put together by hand: the formatting machinery costs more than
    // explaining a line)
    let mut head = [0u8; 64];
    let mut n = number(&mut head, e.line, 6);
    head[n..n + 3].copy_from_slice(&[b' ', mark(e.severity).as_bytes()[0], b' ']);
    n += 3;
    if let Some(s) = e.session {
        head[n] = b'[';
        n += 1 + number(&mut head[n + 1..], s, 0);
        head[n..n + 2].copy_from_slice(b"] ");
        n += 2;
    }
    out.write_all(&head[..n])?;
    line(out, &[e.summary.as_deref().unwrap_or("")])?;
    if let Some(c) = &e.cause {
        match printed.before(c, e.fix.as_ref(), e.line) {
            Some(n) => {
                out.write_all(if e.fix.is_some() {
                    b"         why, fix: as for line "
                } else {
                    b"         why: as for line "
                })?;
                let k = number(&mut head, n, 0);
                head[k] = b'\n';
                out.write_all(&head[..=k])?;
            }
            None => {
                line(out, &["         why: ", c])?;
                if let Some(f) = &e.fix {
                    line(out, &["         fix: ", f])?;
                }
            }
        }
    } else if let Some(f) = &e.fix {
        line(out, &["         fix: ", f])?;
    }
    if let Some(r) = &e.decision {
        writeln!(
            out,
            "         the access map: {}{}",
            r.decision.explanation,
            if r.agrees {
                " (the same reply sendmail logged)"
            } else {
                " — NOT the reply sendmail logged: the map given differs from the one sendmail used, or the session's macros are incomplete in this log"
            }
        )?;
        for t in &r.decision.trace {
            writeln!(out, "           {}: {}", t.step, t.detail)?;
        }
    }
    Ok(())
}

/// `n` in decimal at the start of `buf`, right-aligned in `width`
/// (as `{n:>width$}`): the bytes written.
fn number(buf: &mut [u8], n: u64, width: usize) -> usize {
    let mut len = 1;
    let mut m = n / 10;
    while m > 0 {
        len += 1;
        m /= 10;
    }
    let end = width.max(len);
    // (byte by byte: a few of them, not worth a call to copy or fill)
    for b in &mut buf[..end - len] {
        *b = b' ';
    }
    let mut m = n;
    for b in buf[end - len..end].iter_mut().rev() {
        *b = b'0' + (m % 10) as u8;
        m /= 10;
    }
    end
}

/// `parts`, then a line end.
fn line(out: &mut impl Write, parts: &[&str]) -> io::Result<()> {
    for p in parts {
        out.write_all(p.as_bytes())?;
    }
    out.write_all(b"\n")
}

fn print_summary(out: &mut impl Write, s: &Summary) -> io::Result<()> {
    writeln!(
        out,
        "{} line(s) from {} to {}: {} session(s), {} unknown line(s)",
        s.lines,
        s.first_time.as_deref().unwrap_or("?"),
        s.last_time.as_deref().unwrap_or("?"),
        s.sessions,
        s.unknown
    )?;
    if s.problems.is_empty() {
        writeln!(out, "\nno problems found")?;
    } else {
        writeln!(out, "\nproblems, the worst first:")?;
        for p in &s.problems {
            writeln!(
                out,
                "  {} {:>6}× {} (first on line {}{})",
                mark(p.severity),
                p.count,
                p.cause_id,
                p.first_line,
                if p.peers.is_empty() {
                    String::new()
                } else {
                    format!("; {}", p.peers.join(", "))
                }
            )?;
            if let Some(c) = &p.cause {
                writeln!(out, "             why: {c}")?;
            }
            if let Some(f) = &p.fix {
                writeln!(out, "             fix: {f}")?;
            }
        }
    }
    if !s.peers.is_empty() {
        writeln!(out, "\npeers (most problems first):")?;
        for p in &s.peers {
            let join = |m: &std::collections::BTreeMap<String, u64>| {
                m.iter()
                    .map(|(k, v)| format!("{} {v}", if k.is_empty() { "(empty)" } else { k }))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            writeln!(
                out,
                "  {}: {} session(s), {} problem line(s)",
                p.peer, p.sessions, p.problems
            )?;
            if !p.tls_versions.is_empty() {
                writeln!(out, "      TLS: {}", join(&p.tls_versions))?;
            }
            if !p.verify.is_empty() {
                writeln!(out, "      verify: {}", join(&p.verify))?;
            }
            for (r, c) in &p.refusals {
                writeln!(out, "      refused {c}×: {r}")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::number;

    /// `number` writes what `{n:>width$}` writes.
    #[test]
    fn numbers_are_written_as_format_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            99_999,
            100_000,
            999_999,
            1_000_000,
            123_456_789,
            u64::MAX,
        ] {
            for width in [0, 1, 6, 7, 20] {
                let mut buf = [0u8; 64];
                let k = number(&mut buf, n, width);
                assert_eq!(
                    std::str::from_utf8(&buf[..k]).unwrap(),
                    format!("{n:>width$}")
                );
            }
        }
    }
}
