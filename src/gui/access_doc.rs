//! The access map being edited: the map, what is on disk, undo/redo, and
//! what is derived from it (the checker's findings, the lookup database,
//! the grouped rows the editor shows).

use crate::core::access::{AccessMap, Database, Edit, Tag};
use crate::core::access_check::{self, CheckContext, Finding};
use crate::core::linediff::DiffLine;
use std::collections::HashMap;
use std::path::PathBuf;

/// An edit of the access map being edited; applied in memory, undoable.
#[derive(Debug, Clone)]
pub enum AccessEdit {
    /// Rewrite line `index` (0-based) as `key value`.
    Replace {
        index: usize,
        key: String,
        value: String,
    },
    /// Add (or change) an entry by key, where `set` puts it.
    Set {
        key: String,
        value: String,
    },
    Remove {
        index: usize,
    },
    CertRelay {
        issuer: String,
        subject: Option<String>,
    },
    Undo,
    Redo,
}

/// Two writers: the file on disk moved on while this one was edited.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub disk: AccessMap,
    /// What was opened → what is on disk now.
    pub theirs: Vec<DiffLine>,
    /// What was opened → the edits here.
    pub mine: Vec<DiffLine>,
}

/// Rows of the access editor: group headings and lines, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Heading(Group, usize),
    Line(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Tls,
    CertRelay,
    Other,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Tls => "TLS requirements",
            Group::CertRelay => "Relaying by certificate",
            Group::Other => "Other entries and comments",
        }
    }
}

/// The access map being edited, with what is derived from it.
pub struct AccessDoc {
    pub path: PathBuf,
    /// The file existed when opened (a new one is created on save).
    pub exists: bool,
    /// As on disk: what the save preview compares against.
    pub saved: AccessMap,
    pub map: AccessMap,
    undo: Vec<AccessMap>,
    redo: Vec<AccessMap>,
    pub findings: Vec<Finding>,
    /// Line number (1-based) → indices into `findings`.
    pub findings_by_line: HashMap<usize, Vec<usize>>,
    pub db: Database,
    pub rows: Vec<Row>,
    pub dirty: bool,
    /// The file changed on disk since it was opened (a save found it):
    /// what is there now, and the two diffs to show.
    pub conflict: Option<Conflict>,
    /// Bumped on every change, so views can cache what they derive.
    pub generation: u64,
    /// How many findings are errors (counted once per change).
    pub errors: usize,
}

const UNDO_DEPTH: usize = 200;

impl AccessDoc {
    pub fn new(path: PathBuf, map: AccessMap, exists: bool) -> Self {
        let mut d = AccessDoc {
            path,
            exists,
            saved: map.clone(),
            map,
            undo: Vec::new(),
            redo: Vec::new(),
            findings: Vec::new(),
            findings_by_line: HashMap::new(),
            db: Database::default(),
            rows: Vec::new(),
            dirty: false,
            conflict: None,
            generation: 0,
            errors: 0,
        };
        d.refresh();
        d
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Recomputes findings, the lookup database and the grouped rows.
    fn refresh(&mut self) {
        self.findings = access_check::check(&self.map, &CheckContext::default());
        self.errors = self
            .findings
            .iter()
            .filter(|f| f.severity == access_check::Severity::Error)
            .count();
        self.findings_by_line.clear();
        for (i, f) in self.findings.iter().enumerate() {
            self.findings_by_line.entry(f.line).or_default().push(i);
        }
        self.db = self.map.database();
        let mut groups: [(Group, Vec<usize>); 3] = [
            (Group::Tls, Vec::new()),
            (Group::CertRelay, Vec::new()),
            (Group::Other, Vec::new()),
        ];
        for (i, l) in self.map.lines.iter().enumerate() {
            let g = match l.entry().map(|e| &e.tag) {
                Some(t) if t.is_tls() => Group::Tls,
                Some(Tag::TryTls | Tag::SrvFeatures | Tag::CltFeatures) => Group::Tls,
                Some(Tag::CertIssuer | Tag::CertSubject) => Group::CertRelay,
                _ if l.raw.iter().all(u8::is_ascii_whitespace) => continue,
                _ => Group::Other,
            };
            groups[g as usize].1.push(i);
        }
        self.rows.clear();
        for (g, lines) in groups {
            self.rows.push(Row::Heading(g, lines.len()));
            self.rows.extend(lines.into_iter().map(Row::Line));
        }
        self.dirty = self.map != self.saved;
        self.generation += 1;
    }

    /// Applies one edit; the map is unchanged when it is refused.
    pub fn apply(&mut self, edit: &AccessEdit) -> Result<String, String> {
        match edit {
            AccessEdit::Undo => {
                let prev = self.undo.pop().ok_or("nothing to undo")?;
                self.redo.push(std::mem::replace(&mut self.map, prev));
                self.refresh();
                return Ok("undone".into());
            }
            AccessEdit::Redo => {
                let next = self.redo.pop().ok_or("nothing to redo")?;
                self.undo.push(std::mem::replace(&mut self.map, next));
                self.refresh();
                return Ok("redone".into());
            }
            _ => {}
        }
        let before = self.map.clone();
        let done = match edit {
            AccessEdit::Replace { index, key, value } => self
                .map
                .replace_entry(*index, key, value)
                .map(|e| describe_edit(key, &e)),
            AccessEdit::Set { key, value } => {
                self.map.set(key, value).map(|e| describe_edit(key, &e))
            }
            AccessEdit::Remove { index } => match self.map.remove_line(*index) {
                Some(l) => Ok(format!(
                    "line {} removed: {}",
                    index + 1,
                    String::from_utf8_lossy(&l.raw).trim_end()
                )),
                None => Err(format!("there is no line {}", index + 1)),
            },
            AccessEdit::CertRelay { issuer, subject } => self
                .map
                .add_cert_relay(issuer, subject.as_deref())
                .map(|edits| {
                    edits
                        .iter()
                        .map(|e| describe_edit("relay entry", e))
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
            AccessEdit::Undo | AccessEdit::Redo => unreachable!("handled above"),
        };
        match done {
            Ok(msg) => {
                if self.map != before {
                    self.undo.push(before);
                    if self.undo.len() > UNDO_DEPTH {
                        self.undo.remove(0);
                    }
                    self.redo.clear();
                    self.refresh();
                }
                Ok(msg)
            }
            Err(e) => {
                self.map = before;
                Err(e)
            }
        }
    }

    /// After a save: what is on disk now.
    pub(super) fn saved_as(&mut self, saved: AccessMap) {
        self.saved = saved;
        self.exists = true;
        self.dirty = self.map != self.saved;
    }
}

fn describe_edit(what: &str, e: &Edit) -> String {
    match e {
        Edit::Added { line } => format!("line {line}: added {what}"),
        Edit::Changed { line, old } => format!("line {line}: changed (was `{}`)", old.trim_end()),
        Edit::Unchanged { line } => format!("line {line}: {what} already so"),
    }
}
