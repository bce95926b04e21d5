//! The access map being edited: the map, what is on disk, undo/redo, and
//! what is derived from it (the checker's findings, the lookup database,
//! the grouped rows the editor shows).

use crate::core::access::{AccessMap, Database, Edit, Tag};
use crate::core::access_check::{self, CheckContext, Finding};
use crate::core::linediff::DiffLine;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

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

/// The access map being edited, with what is derived from it. The maps
/// and what is derived from them are shared (`Arc`), so a copy of the
/// document is cheap: an edit of a large map is made on a copy in a
/// background job while the view goes on showing this one, and an undo
/// step keeps the map it replaced without copying it again.
#[derive(Clone)]
pub struct AccessDoc {
    /// This document among those opened in this process (an edit made in
    /// the background applies only to the document it started from).
    pub id: u64,
    pub path: PathBuf,
    /// The file existed when opened (a new one is created on save).
    pub exists: bool,
    /// As on disk: what the save preview compares against.
    pub saved: Arc<AccessMap>,
    pub map: Arc<AccessMap>,
    undo: Vec<Arc<AccessMap>>,
    redo: Vec<Arc<AccessMap>>,
    pub findings: Arc<Vec<Finding>>,
    /// Line number (1-based) → indices into `findings`.
    pub findings_by_line: Arc<HashMap<usize, Vec<usize>>>,
    pub db: Arc<Database>,
    pub rows: Arc<Vec<Row>>,
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
/// The undo steps of a large map are bounded by the lines they hold in
/// all (each step is a whole map): a 1,000,000-line map keeps 4.
const UNDO_LINES: usize = 4_000_000;
/// Maps up to this many lines are edited on the UI thread (an edit and
/// its checks take well under a frame); larger ones in a background job.
pub const SYNC_EDIT_LINES: usize = 20_000;

impl AccessDoc {
    pub fn new(path: PathBuf, map: AccessMap, exists: bool) -> Self {
        let map = Arc::new(map);
        static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut d = AccessDoc {
            id: OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            path,
            exists,
            saved: Arc::clone(&map),
            map,
            undo: Vec::new(),
            redo: Vec::new(),
            findings: Arc::default(),
            findings_by_line: Arc::default(),
            db: Arc::default(),
            rows: Arc::default(),
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

    /// What a save would change on disk (the save preview).
    pub fn save_diff(&self) -> Vec<DiffLine> {
        let old = String::from_utf8_lossy(&self.saved.to_bytes()).into_owned();
        let new = String::from_utf8_lossy(&self.map.to_bytes()).into_owned();
        crate::core::linediff::diff_lines(&old, &new, 2)
    }

    /// Whether an edit of this map belongs off the UI thread.
    pub fn is_large(&self) -> bool {
        self.map.lines.len() > SYNC_EDIT_LINES
    }

    /// Recomputes findings, the lookup database and the grouped rows.
    fn refresh(&mut self) {
        let findings = access_check::check(&self.map, &CheckContext::default());
        self.errors = findings
            .iter()
            .filter(|f| f.severity == access_check::Severity::Error)
            .count();
        let mut by_line: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, f) in findings.iter().enumerate() {
            by_line.entry(f.line).or_default().push(i);
        }
        self.findings = Arc::new(findings);
        self.findings_by_line = Arc::new(by_line);
        self.db = Arc::new(self.map.database());
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
        let mut rows = Vec::with_capacity(self.map.lines.len() + 3);
        for (g, lines) in groups {
            rows.push(Row::Heading(g, lines.len()));
            rows.extend(lines.into_iter().map(Row::Line));
        }
        self.rows = Arc::new(rows);
        self.dirty = self.differs_from_disk();
        self.generation += 1;
    }

    fn differs_from_disk(&self) -> bool {
        !Arc::ptr_eq(&self.map, &self.saved) && self.map != self.saved
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
        // The map is shared with `before` (and the undo steps): the edit
        // is made on a copy, `before` becomes the undo step as it is.
        let before = Arc::clone(&self.map);
        let map = Arc::make_mut(&mut self.map);
        let done = match edit {
            AccessEdit::Replace { index, key, value } => map
                .replace_entry(*index, key, value)
                .map(|e| describe_edit(key, &e)),
            AccessEdit::Set { key, value } => map.set(key, value).map(|e| describe_edit(key, &e)),
            AccessEdit::Remove { index } => match map.remove_line(*index) {
                Some(l) => Ok(format!(
                    "line {} removed: {}",
                    index + 1,
                    String::from_utf8_lossy(&l.raw).trim_end()
                )),
                None => Err(format!("there is no line {}", index + 1)),
            },
            AccessEdit::CertRelay { issuer, subject } => {
                map.add_cert_relay(issuer, subject.as_deref()).map(|edits| {
                    edits
                        .iter()
                        .map(|e| describe_edit("relay entry", e))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            }
            AccessEdit::Undo | AccessEdit::Redo => unreachable!("handled above"),
        };
        match done {
            Ok(msg) => {
                if *self.map != *before {
                    self.undo.push(before);
                    let mut lines: usize = self.undo.iter().map(|m| m.lines.len()).sum();
                    while self.undo.len() > UNDO_DEPTH
                        || (lines > UNDO_LINES && self.undo.len() > 1)
                    {
                        lines -= self.undo.remove(0).lines.len();
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
    pub(super) fn saved_as(&mut self, saved: Arc<AccessMap>) {
        self.saved = saved;
        self.exists = true;
        self.dirty = self.differs_from_disk();
    }
}

fn describe_edit(what: &str, e: &Edit) -> String {
    match e {
        Edit::Added { line } => format!("line {line}: added {what}"),
        Edit::Changed { line, old } => format!("line {line}: changed (was `{}`)", old.trim_end()),
        Edit::Unchanged { line } => format!("line {line}: {what} already so"),
    }
}
