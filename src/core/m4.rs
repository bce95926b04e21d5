//! A small m4: just enough of GNU m4 to read what a `sendmail.mc` defines,
//! in the order m4 sees it.
//!
//! Handled as m4 does: quotes (`` ` `` … `'`, nested), `#` comments, `dnl`,
//! `define`, `undefine`, `defn` (so `define(X, defn(X)`,More')` appends, as
//! Debian's `starttls.m4` and `debian-mta.m4` do with
//! `confDONT_BLAME_SENDMAIL`), `ifdef`, `ifelse` (several branches),
//! `eval` of integer comparisons, `include`/`sinclude` *where they stand*
//! (an include's defines come before the lines after it), user macros
//! (without `$1` arguments), and sendmail's `OSTYPE`/`DOMAIN`, which
//! include `_CF_DIR_/ostype/NAME.m4` and `_CF_DIR_/domain/NAME.m4` (the
//! directory of the `cf.m4` that was included; `cf.m4` itself is not
//! read). `FEATURE`, `MAILER` and the rest of sendmail's macros are
//! recorded or passed over, never expanded.
//!
//! An `ifelse` whose operands name a macro this reader does not know is
//! taken as true (the branch a sendmail with STARTTLS takes); a test
//! compares this reader with the real m4 on many inputs
//! (`tests/integration/mc_m4.rs`).
//!
//! No I/O: includes are read through a callback. Work is bounded (nesting
//! depth and a step budget), so a hostile file cannot hang the caller.

use std::collections::HashMap;

/// Something m4 did, with the line of the top-level file it came from (an
/// include's defines carry the line of the `include`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub line: usize,
    /// The top-level line where the statement that did it ends (its `)`).
    pub end_line: usize,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Define {
        name: String,
        value: String,
    },
    Undefine {
        name: String,
    },
    /// `read`: the callback returned the file's text.
    Include {
        path: String,
        read: bool,
    },
    /// `FEATURE(args…)`, arguments expanded.
    Feature {
        args: Vec<String>,
    },
}

const MAX_DEPTH: usize = 48;
const MAX_STEPS: usize = 2_000_000;

/// The reader: feed it a top-level file with [`M4::run`], then ask for
/// values with [`M4::value`] and look at [`M4::events`].
pub struct M4<'r> {
    defs: HashMap<String, String>,
    read: &'r mut dyn FnMut(&str) -> Option<String>,
    pub events: Vec<Event>,
    line: usize,
    end_line: usize,
    depth: usize,
    steps: usize,
    /// Set while expanding: an unquoted name this reader does not know.
    unknown: bool,
    /// Set when the step budget or depth ran out; the result is partial.
    pub truncated: bool,
}

fn is_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The end (exclusive) of the quoted string starting at `s[i] == '`'`.
fn quoted_end(s: &[char], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < s.len() {
        match s[j] {
            '`' => depth += 1,
            '\'' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    s.len()
}

/// Just after the next newline at or after `i` (or the end).
fn after_newline(s: &[char], i: usize) -> usize {
    s[i..]
        .iter()
        .position(|&c| c == '\n')
        .map_or(s.len(), |p| i + p + 1)
}

/// The raw arguments of a call whose `(` is at `open`, and the index after
/// its `)`; `None` when the call is not closed.
fn collect_args(s: &[char], open: usize) -> Option<(Vec<&[char]>, usize)> {
    let mut args = Vec::new();
    let mut start = open + 1;
    let mut parens = 0usize;
    let mut j = open + 1;
    while j < s.len() {
        match s[j] {
            '`' => {
                j = quoted_end(s, j);
                continue;
            }
            '#' => {
                j = after_newline(s, j);
                continue;
            }
            '(' => parens += 1,
            ')' if parens > 0 => parens -= 1,
            ')' => {
                args.push(&s[start..j]);
                return Some((args, j + 1));
            }
            ',' if parens == 0 => {
                args.push(&s[start..j]);
                start = j + 1;
            }
            _ => {}
        }
        j += 1;
    }
    None
}

const BUILTINS: &[&str] = &[
    "define", "undefine", "defn", "ifdef", "ifelse", "eval", "include", "sinclude", "FEATURE",
    "OSTYPE", "DOMAIN", "dnl", "divert",
];

impl<'r> M4<'r> {
    pub fn new(read: &'r mut dyn FnMut(&str) -> Option<String>) -> M4<'r> {
        M4 {
            defs: HashMap::new(),
            read,
            events: Vec::new(),
            line: 0,
            end_line: 0,
            depth: 0,
            steps: 0,
            unknown: false,
            truncated: false,
        }
    }

    /// Reads a top-level file.
    pub fn run(&mut self, text: &str) {
        let s: Vec<char> = text.chars().collect();
        self.expand(&s, true);
    }

    /// The raw definition of a macro, as `defn` would give it.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.defs.get(name).map(String::as_str)
    }

    /// The value sendmail's `proto.m4` writes for a macro: its definition,
    /// rescanned (so `define(`confCACERT_PATH', `CERT_DIR')` with
    /// `define(`CERT_DIR', `MAIL_SETTINGS_DIR`'certs')` gives
    /// `/etc/mail/certs`). `MAIL_SETTINGS_DIR` defaults to `/etc/mail/`,
    /// as in `cf.m4`.
    pub fn value(&mut self, name: &str) -> Option<String> {
        let raw: Vec<char> = self.defs.get(name)?.chars().collect();
        let added = !self.defs.contains_key("MAIL_SETTINGS_DIR");
        if added {
            self.defs
                .insert("MAIL_SETTINGS_DIR".into(), "/etc/mail/".into());
        }
        let v = self.expand(&raw, false);
        if added {
            self.defs.remove("MAIL_SETTINGS_DIR");
        }
        Some(v)
    }

    fn expand(&mut self, s: &[char], top: bool) -> String {
        let mut out = String::new();
        if self.depth > MAX_DEPTH {
            self.truncated = true;
            return out;
        }
        self.depth += 1;
        let mut i = 0;
        let mut line = 1;
        let mut line_pos = 0;
        while i < s.len() {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                self.truncated = true;
                break;
            }
            let c = s[i];
            if c == '`' {
                let end = quoted_end(s, i);
                let inner_end = if end > i + 1 && s[end - 1] == '\'' {
                    end - 1
                } else {
                    end
                };
                out.extend(&s[i + 1..inner_end]);
                i = end;
                continue;
            }
            if c == '#' {
                let end = after_newline(s, i);
                out.extend(&s[i..end]);
                i = end;
                continue;
            }
            if !is_start(c) {
                out.push(c);
                i += 1;
                continue;
            }
            let mut j = i;
            while j < s.len() && is_name(s[j]) {
                j += 1;
            }
            let name: String = s[i..j].iter().collect();
            if top {
                line += s[line_pos..i].iter().filter(|&&c| c == '\n').count();
                line_pos = i;
                self.line = line;
                self.end_line = line;
            }
            if name == "dnl" {
                i = after_newline(s, j);
                continue;
            }
            let builtin = BUILTINS.contains(&name.as_str());
            let user = !builtin && self.defs.contains_key(&name);
            let call = s.get(j) == Some(&'(');
            if builtin && call {
                if let Some((raw, end)) = collect_args(s, j) {
                    if top {
                        self.end_line = line + s[i..end].iter().filter(|&&c| c == '\n').count();
                    }
                    let mut args = Vec::with_capacity(raw.len());
                    let mut unsure = Vec::with_capacity(raw.len());
                    for a in raw {
                        let skip = a.iter().take_while(|c| c.is_whitespace()).count();
                        let before = std::mem::replace(&mut self.unknown, false);
                        args.push(self.expand(&a[skip..], false));
                        unsure.push(self.unknown);
                        self.unknown = before;
                    }
                    let r = self.call(&name, &args, &unsure);
                    out.push_str(&r);
                    i = end;
                    continue;
                }
            } else if user {
                // A user macro (no `$1` arguments): its text, rescanned.
                let body: Vec<char> = self.defs[&name].chars().collect();
                let r = self.expand(&body, false);
                out.push_str(&r);
                i = j;
                continue;
            } else if !builtin {
                self.unknown = true;
            }
            out.push_str(&name);
            i = j;
        }
        self.depth -= 1;
        out
    }

    fn event(&mut self, kind: EventKind) {
        self.events.push(Event {
            line: self.line,
            end_line: self.end_line,
            kind,
        });
    }

    fn include(&mut self, path: &str) -> String {
        if path.ends_with("/m4/cf.m4") || path == "m4/cf.m4" || path == "cf.m4" {
            // sendmail's own macros: only where they live matters.
            let dir = path.strip_suffix("cf.m4").unwrap_or("");
            let dir = dir.strip_suffix("m4/").unwrap_or(dir);
            self.defs
                .entry("_CF_DIR_".into())
                .or_insert_with(|| dir.to_string());
            self.event(EventKind::Include {
                path: path.to_string(),
                read: false,
            });
            return String::new();
        }
        let text = (self.read)(path);
        self.event(EventKind::Include {
            path: path.to_string(),
            read: text.is_some(),
        });
        match text {
            Some(t) => {
                let s: Vec<char> = t.chars().collect();
                self.expand(&s, false)
            }
            None => String::new(),
        }
    }

    fn call(&mut self, name: &str, a: &[String], unsure: &[bool]) -> String {
        let arg = |n: usize| a.get(n).map(String::as_str).unwrap_or("");
        match name {
            "define" if !arg(0).is_empty() => {
                self.defs.insert(arg(0).to_string(), arg(1).to_string());
                self.event(EventKind::Define {
                    name: arg(0).to_string(),
                    value: arg(1).to_string(),
                });
                String::new()
            }
            "undefine" => {
                for n in a {
                    self.defs.remove(n);
                    self.event(EventKind::Undefine { name: n.clone() });
                }
                String::new()
            }
            "defn" => a.iter().filter_map(|n| self.defs.get(n).cloned()).collect(),
            "ifdef" => {
                let chosen = if self.defs.contains_key(arg(0)) {
                    arg(1)
                } else {
                    arg(2)
                };
                let s: Vec<char> = chosen.chars().collect();
                self.expand(&s, false)
            }
            "ifelse" => {
                let mut k = 0;
                loop {
                    if a.len() < k + 3 {
                        // ifelse(x) or a lone else branch.
                        let rest = if a.len() == k + 1 && k > 0 {
                            arg(k)
                        } else {
                            ""
                        };
                        let s: Vec<char> = rest.chars().collect();
                        return self.expand(&s, false);
                    }
                    let unsure = unsure.get(k).copied().unwrap_or(false)
                        || unsure.get(k + 1).copied().unwrap_or(false);
                    if unsure || arg(k) == arg(k + 1) {
                        let s: Vec<char> = arg(k + 2).chars().collect();
                        return self.expand(&s, false);
                    }
                    k += 3;
                }
            }
            "eval" => match eval(arg(0)) {
                Some(v) => v.to_string(),
                None => {
                    self.unknown = true;
                    format!("eval({})", arg(0))
                }
            },
            "include" | "sinclude" if !arg(0).is_empty() => {
                let p = arg(0).to_string();
                self.include(&p)
            }
            "OSTYPE" | "DOMAIN" if !arg(0).is_empty() => {
                let Some(dir) = self.defs.get("_CF_DIR_").cloned() else {
                    return String::new();
                };
                let sub = if name == "OSTYPE" { "ostype" } else { "domain" };
                self.include(&format!("{dir}{sub}/{}.m4", arg(0)))
            }
            "FEATURE" => {
                self.event(EventKind::Feature { args: a.to_vec() });
                String::new()
            }
            _ => String::new(),
        }
    }
}

/// `eval` of what sendmail's m4 files use: an integer, or two integers
/// compared with `>=`, `<=`, `>`, `<`, `==`, `!=`. `None` otherwise.
fn eval(expr: &str) -> Option<i64> {
    let e = expr.trim();
    if let Ok(n) = e.parse::<i64>() {
        return Some(n);
    }
    for op in [">=", "<=", "==", "!=", ">", "<"] {
        if let Some((l, r)) = e.split_once(op) {
            let (l, r): (i64, i64) = (l.trim().parse().ok()?, r.trim().parse().ok()?);
            let v = match op {
                ">=" => l >= r,
                "<=" => l <= r,
                "==" => l == r,
                "!=" => l != r,
                ">" => l > r,
                _ => l < r,
            };
            return Some(v as i64);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, files: &[(&str, &str)]) -> (HashMap<String, String>, Vec<Event>) {
        let mut read = |p: &str| {
            files
                .iter()
                .find(|(n, _)| *n == p)
                .map(|(_, t)| t.to_string())
        };
        let mut m = M4::new(&mut read);
        m.run(text);
        (m.defs.clone(), m.events.clone())
    }

    #[test]
    fn defn_appends_and_quotes() {
        let (d, _) = run(
            "define(`X', `a')dnl\ndefine(`X',dnl\n\tdefn(`X')`,b')dnl\ndefine(`Y', ``q'')dnl\n",
            &[],
        );
        assert_eq!(d["X"], "\ta,b");
        assert_eq!(d["Y"], "`q'");
    }

    #[test]
    fn include_where_it_stands() {
        let (d, ev) = run(
            "define(`A', `1')dnl\ninclude(`/x.m4')dnl\ndefine(`B', `3')dnl\n",
            &[("/x.m4", "define(`A', `2')dnl\ndefine(`B', `2')dnl\n")],
        );
        assert_eq!(d["A"], "2");
        assert_eq!(d["B"], "3");
        assert!(ev.iter().any(|e| e.line == 2
            && e.kind
                == EventKind::Define {
                    name: "A".into(),
                    value: "2".into()
                }));
    }

    #[test]
    fn comments_and_dnl_hide_defines() {
        let (d, _) = run(
            "# define(`A', `1')\ndnl define(`B', `1')\n`define(`C', `1')'\ndefine(`D', `# x')dnl\n",
            &[],
        );
        assert!(!d.contains_key("A") && !d.contains_key("B") && !d.contains_key("C"));
        assert_eq!(d["D"], "# x");
    }

    #[test]
    fn conditionals() {
        let (d, _) = run(
            "define(`V', `10')dnl\n\
             ifelse(eval(V >= 5), `1', `define(`A', `yes')', `define(`A', `no')')dnl\n\
             ifelse(eval(V < 5), `1', `define(`B', `yes')', `define(`B', `no')')dnl\n\
             ifdef(`V', `define(`C', `v')', `define(`C', `none')')dnl\n\
             ifdef(`W', `define(`D', `w')', `define(`D', `none')')dnl\n\
             ifelse(unknown_thing, `yes', `define(`E', `taken')')dnl\n\
             ifelse(`a', `b', `define(`F', `1')', `c', `c', `define(`F', `2')', `define(`F', `3')')dnl\n",
            &[],
        );
        assert_eq!(
            (
                &d["A"][..],
                &d["B"][..],
                &d["C"][..],
                &d["D"][..],
                &d["E"][..],
                &d["F"][..]
            ),
            ("yes", "no", "v", "none", "taken", "2")
        );
    }

    #[test]
    fn bounded() {
        let (_, _) = run("define(`A', `A A')dnl\nA\n", &[]);
        let (_, ev) = run("include(`/loop')", &[("/loop", "include(`/loop')")]);
        assert!(ev.len() <= MAX_DEPTH + 2);
        let (d, _) = run("define(`A', `1'", &[]);
        assert!(d.is_empty());
    }
}
