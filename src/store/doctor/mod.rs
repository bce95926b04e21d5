//! `doctor`: audits an existing sendmail TLS setup and says, for each
//! problem, what sendmail will do about it and how to fix it.
//!
//! Three steps, each usable on its own (the GUI's doctor view calls them):
//! [`locate`] reads `sendmail.mc`/`sendmail.cf` (and typed overrides) into
//! the paths sendmail uses; [`audit`] looks at those files and returns a
//! [`Report`] of [`Finding`]s; [`apply_fix`] carries out one [`FixAction`].
//! Only safe actions exist: changing a mode to what sendmail accepts,
//! rehashing a CA directory, rebuilding the access database. Nothing is
//! ever deleted, and no key or certificate is rewritten.
//!
//! The rules are sendmail 8.17's as observed (`docs/sendmail.md` §8–9):
//! a key readable by group or others, a certificate writable by them, or a
//! group/world-writable directory on the way to either makes sendmail log
//! `STARTTLS=server: file … unsafe: …` and silently offer no STARTTLS.

//!
//! The code: `locate.rs`, `audit.rs`, `fix.rs`; the types they share are here.

mod audit;
pub mod dane;
mod fix;
mod locate;

pub use audit::audit;
pub use fix::apply_fix;
pub use locate::{locate, read_mc, read_mc_text};

use crate::core::sendmail_cf::TlsSettings;
use crate::store::Error;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where sendmail's configuration is on Debian.
pub const DEFAULT_MC: &str = "/etc/mail/sendmail.mc";
pub const DEFAULT_CF: &str = "/etc/mail/sendmail.cf";

/// A certificate that expires within this many days is a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// More CA names than this in `confCACERT` is a warning: sendmail sends
/// every one of them in each handshake, and long lists break some clients.
pub const MANY_ANNOUNCED_CAS: usize = 20;

/// Paths typed by the user; each one replaces what the configuration says.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub server_cert: Option<PathBuf>,
    pub server_key: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub crl: Option<PathBuf>,
    pub access: Option<PathBuf>,
}

/// What to audit.
#[derive(Debug, Clone, Default)]
pub struct DoctorInput {
    /// `sendmail.mc`; `None`: none (see [`DoctorInput::system`]).
    pub mc: Option<PathBuf>,
    /// `sendmail.cf`, what sendmail actually reads; it wins over the mc.
    pub cf: Option<PathBuf>,
    pub overrides: Overrides,
}

impl DoctorInput {
    /// `/etc/mail/sendmail.mc` and `/etc/mail/sendmail.cf`, those that exist.
    pub fn system() -> DoctorInput {
        let some = |p: &str| Path::new(p).exists().then(|| PathBuf::from(p));
        DoctorInput {
            mc: some(DEFAULT_MC),
            cf: some(DEFAULT_CF),
            overrides: Overrides::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
        })
    }
}

/// A change `--fix` may make. Each is safe: it never removes or rewrites a
/// key, a certificate or the access source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FixAction {
    /// Set the permission bits of a file or directory (owner unchanged).
    Chmod {
        path: PathBuf,
        #[serde(serialize_with = "octal")]
        mode: u32,
    },
    /// Reconcile a CA directory's hash links (`starttls-studio rehash`).
    Rehash { dir: PathBuf },
    /// Rebuild the access database (`makemap hash FILE < FILE`).
    Makemap { access: PathBuf },
}

fn octal<S: serde::Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:04o}"))
}

/// How to fix a finding: what a person would type, and the action `--fix`
/// takes when it is safe to do unasked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub description: String,
    pub action: Option<FixAction>,
}

/// One problem (or, at `Info`, one fact worth knowing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier (`key-readable-by-others`), for scripts and tests.
    pub id: &'static str,
    pub severity: Severity,
    pub path: Option<PathBuf>,
    /// One line: what is wrong.
    pub message: String,
    /// Plain words: what sendmail does about it, and why it matters.
    pub explanation: String,
    pub fix: Option<Fix>,
}

/// The configuration as located: the settings in force and what was read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Located {
    /// The files read, in order (mc, its includes, cf).
    pub sources: Vec<PathBuf>,
    pub settings: TlsSettings,
    /// Problems with the configuration files themselves.
    pub findings: Vec<Finding>,
}

/// The outcome of an audit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub sources: Vec<PathBuf>,
    pub settings: TlsSettings,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// The safe actions, each once, in a stable order (modes first, then
    /// rehash, then makemap).
    pub fn actions(&self) -> Vec<FixAction> {
        let set: BTreeSet<FixAction> = self
            .findings
            .iter()
            .filter_map(|f| f.fix.as_ref()?.action.clone())
            .collect();
        set.into_iter().collect()
    }
}

fn finding(
    id: &'static str,
    severity: Severity,
    path: Option<&Path>,
    message: String,
    explanation: impl Into<String>,
    fix: Option<Fix>,
) -> Finding {
    Finding {
        id,
        severity,
        path: path.map(Path::to_path_buf),
        message,
        explanation: explanation.into(),
        fix,
    }
}

fn manual(description: impl Into<String>) -> Option<Fix> {
    Some(Fix {
        description: description.into(),
        action: None,
    })
}

fn auto(description: impl Into<String>, action: FixAction) -> Option<Fix> {
    Some(Fix {
        description: description.into(),
        action: Some(action),
    })
}

fn mtime(path: &Path) -> Option<(i64, i64)> {
    fs::metadata(path).ok().map(|m| (m.mtime(), m.mtime_nsec()))
}

/// Locate and audit in one call.
pub fn run(input: &DoctorInput, now: i64) -> Result<Report, Error> {
    Ok(audit(&locate(input)?, now))
}
