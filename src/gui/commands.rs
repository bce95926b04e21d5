//! What views ask for (`Command`) and what comes back (`Outcome`). Views
//! never act: they push commands; [`super::StudioApp::execute`] is the one
//! place that carries them out, in memory for quick edits and as
//! background jobs for anything that touches the disk or the network.
//! Each job calls the same library function the matching subcommand calls.

use super::settings::Settings;
use crate::core::access::AccessMap;
use crate::core::cert::CertInfo;
use crate::core::maillog::Explained;
use crate::core::pki::KeyKind;
use crate::net::probe::ProbeReport;
use crate::net::server::SessionLog;
use crate::net::setup::{ProbeSetup, ServerSetup};
use crate::store::access::SaveReport;
use crate::store::home::IssueReport;
use crate::store::install::{InstallPlan, InstallReport};
pub use crate::store::maildir::CapturedMessage;
pub use crate::store::snapshot::Snapshot;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where a picked file or loaded certificate should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    InstallDir,
    AccessFile,
    DnPickerCert,
    ExplainCert,
    ProbeClientCert,
    ProbeClientKey,
    ProbeCaFile,
    /// A partner's client certificate (the Partners view's onboarding).
    PartnerCert,
}

pub use super::access_doc::AccessEdit;

/// Where views put what they want done: pushing is all they can do.
#[derive(Default)]
pub struct Sink(Vec<Command>);

impl Sink {
    pub fn push(&mut self, cmd: Command) {
        self.0.push(cmd);
    }

    /// What was pushed since the last call (the app carries it out).
    pub(super) fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.0)
    }
}

#[derive(Debug, Clone)]
pub enum Command {
    /// Re-read the home (CA, certificates).
    Reload,
    /// Switch to another tab.
    ShowTab(super::Tab),
    /// The person went past the welcome screen (remembered in the settings).
    MarkWelcomed,
    /// A banner on a tab.
    Notify {
        tab: super::Tab,
        error: bool,
        text: String,
    },
    /// Highlight these lines (1-based) in the access editor and show it,
    /// scrolled to `scroll_to`.
    ShowInAccessMap {
        lines: Vec<usize>,
        scroll_to: Option<usize>,
    },
    /// Forget the live test's sessions.
    ClearSessions,
    /// Read a mail log from near its end and follow it (the Log view);
    /// `None`: sendmail's entries in the systemd journal.
    OpenLog {
        path: Option<PathBuf>,
    },
    /// Stop following the log.
    StopLog,
    /// Fill the Decisions view from a log line's session and show it.
    ExplainLogLine(Box<crate::core::maillog::Explained>),
    /// Fill the Decisions view from a live-test session and show it.
    ExplainSession(Box<SessionLog>),
    /// Remember the last probe target typed (settings).
    SetProbeTarget(String),
    /// The wizard's key step: create the CA (when `ca` is given) and the
    /// host certificate (when `host` is given), reporting progress.
    SetUpPki {
        ca: Option<(String, KeyKind)>,
        host: Option<(String, KeyKind)>,
    },
    IssueCert {
        fqdn: String,
        sans: Vec<String>,
        kind: KeyKind,
        days: u32,
    },
    RenewCert {
        fqdn: String,
    },
    PlanInstall {
        fqdn: String,
        to: PathBuf,
    },
    ApplyInstall {
        fqdn: String,
        to: PathBuf,
    },
    OpenAccess {
        path: PathBuf,
    },
    EditAccess(AccessEdit),
    /// After the file changed on disk: keep the disk's version (`true`,
    /// dropping the unsaved edits) or overwrite it with ours (`false`).
    ResolveAccessConflict {
        take_disk: bool,
        makemap: bool,
    },
    /// Compares a large access map with the file on disk in the
    /// background, for the save preview.
    PreviewAccessSave,
    SaveAccess {
        makemap: bool,
    },
    /// The native file dialog (a typed path always works too).
    PickFile {
        purpose: Purpose,
        directory: bool,
    },
    LoadCerts {
        purpose: Purpose,
        path: PathBuf,
    },
    StartServer(ServerSetup),
    StopServer,
    Probe {
        setup: ProbeSetup,
        /// The built-in "Test now" against our own server.
        own_server: bool,
    },
    ReadMessages {
        paths: Vec<PathBuf>,
    },
    RunDoctor(crate::store::doctor::DoctorInput),
    /// Apply safe fixes, then audit `then` again.
    ApplyFixes {
        actions: Vec<crate::store::doctor::FixAction>,
        then: crate::store::doctor::DoctorInput,
    },
    /// Partners: the CAs an install directory trusts.
    LoadPartners {
        dir: PathBuf,
    },
    /// Look at a CA file before trusting it.
    /// `passphrase`: for a PKCS#12 file.
    PreviewTrust {
        file: PathBuf,
        passphrase: Option<String>,
    },
    TrustAdd {
        file: PathBuf,
        dir: PathBuf,
        announce: bool,
        passphrase: Option<String>,
    },
    /// Read a partner's certificate (PEM, DER or PKCS#12 with
    /// `passphrase`) for the onboarding steps.
    LoadPartnerCert {
        path: PathBuf,
        passphrase: Option<String>,
    },
    /// `cert sign`: sign a partner's request.
    SignCsr {
        path: PathBuf,
    },
    TrustRemove {
        dir: PathBuf,
        fingerprint: String,
        force: bool,
    },
    /// `mc apply`: with `dry_run` a preview (the plan), else the whole
    /// change (write, rebuild, restart, prove, roll back).
    McApply(crate::net::deploy::ApplyOptions),
    /// A partner bundle: certificate, key, CA, CA directory, mc and
    /// access lines (`bundle`).
    ExportBundle {
        fqdn: String,
        out: PathBuf,
    },
    SaveSettings(Settings),
    CopyText(String),
}

/// Why a job failed: what it was doing, and the error in words. A job
/// returns `Err(Failed)`; the tab that started it shows "what: error".
/// The log being followed: lines as they were explained.
#[derive(Default)]
pub struct LogState {
    pub job: Option<u64>,
    /// What is read: the file's path, or "the journal".
    pub source: Option<String>,
    pub lines: VecDeque<Explained>,
    /// Lines read in all (more than `lines` holds once it is full).
    pub read: u64,
}

/// How many explained lines the Log view keeps (the oldest go first).
pub const LOG_KEEP: usize = 5000;

#[derive(Debug)]
pub struct Failed {
    pub what: String,
    pub error: String,
}

impl Failed {
    /// For `map_err`: `home.issue(…).map_err(Failed::doing("Issuing …"))?`.
    pub fn doing<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> Failed {
        let what = what.into();
        move |e| Failed {
            what,
            error: e.to_string(),
        }
    }
}

// Each outcome is sent once through a channel; boxing the big ones would
// buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Failed {
        what: String,
        error: String,
    },
    /// Lines of the followed log, explained; `read`: lines read in all.
    LogLines {
        lines: Vec<crate::core::maillog::Explained>,
        read: u64,
    },
    LogStopped,
    /// A partner's request, signed: the host, the certificate (PEM) and
    /// where the home keeps it.
    CsrSigned {
        fqdn: String,
        pem: String,
        path: PathBuf,
    },
    Snapshot(Snapshot),
    PkiReady {
        ca: Option<CertInfo>,
        issued: Option<IssueReport>,
    },
    Issued(IssueReport),
    Renewed(IssueReport),
    InstallPlanned {
        plan: InstallPlan,
        warnings: Vec<String>,
        mc_lines: String,
        /// For each file install would replace (keys excepted): old → new.
        diffs: Vec<(PathBuf, Vec<crate::core::linediff::DiffLine>)>,
    },
    Installed(InstallReport),
    /// The document is built in the job (checker findings, lookup
    /// database, rows): a million-entry map opens without freezing a frame.
    AccessOpened {
        path: PathBuf,
        doc: Box<super::access_doc::AccessDoc>,
        entries: usize,
        exists: bool,
    },
    /// The save found the file changed since it was opened: nothing was
    /// written. The diffs are from what was opened to the disk's version
    /// and to ours.
    AccessChangedOnDisk {
        path: PathBuf,
        disk: AccessMap,
        theirs: Vec<crate::core::linediff::DiffLine>,
        mine: Vec<crate::core::linediff::DiffLine>,
    },
    /// An edit of a large access map, applied on a copy of document
    /// `base` (its id and generation).
    AccessEdited {
        doc: Box<super::access_doc::AccessDoc>,
        result: Result<String, String>,
        base: (u64, u64),
    },
    /// The save preview of document `base` (its id and generation).
    AccessSavePreview {
        diff: Vec<crate::core::linediff::DiffLine>,
        base: (u64, u64),
    },
    AccessSaved {
        path: PathBuf,
        saved: std::sync::Arc<AccessMap>,
        report: SaveReport,
    },
    FilePicked {
        purpose: Purpose,
        path: Option<PathBuf>,
    },
    CertsLoaded {
        purpose: Purpose,
        path: PathBuf,
        certs: Vec<CertInfo>,
    },
    ServerListening {
        addr: SocketAddr,
        description: String,
    },
    Session(Box<SessionLog>),
    ServerStopped,
    Probed {
        own_server: bool,
        report: Box<ProbeReport>,
    },
    Messages(Vec<CapturedMessage>),
    DoctorDone {
        report: crate::store::doctor::Report,
        /// What the fixes before this audit did (`Err` text for a failed one).
        fixed: Vec<Result<String, String>>,
    },
    PartnersLoaded(PartnersState),
    TrustPreviewed(TrustPreview),
    /// A trust change, in words, and the CAs afterwards.
    Trusted {
        summary: String,
        state: PartnersState,
    },
    /// A preview of `mc apply`: the plan, and why it would be refused.
    McPlanned {
        plan: Box<crate::store::mc::Plan>,
        refused: Option<String>,
    },
    /// `mc apply` ran: whether all was done and proven, and each step.
    McApplied {
        ok: bool,
        steps: Vec<String>,
    },
    BundleWritten(crate::store::bundle::BundleReport),
    Done,
}

/// What the Partners tab shows, as last read.
#[derive(Debug, Clone, Default)]
pub struct PartnersState {
    pub dir: PathBuf,
    pub cas: Vec<crate::store::trust::TrustedCa>,
}

/// A CA file looked at before it is trusted.
#[derive(Debug, Clone)]
pub struct TrustPreview {
    pub file: PathBuf,
    pub certs: Vec<CertInfo>,
    /// Why `trust add` would refuse it.
    pub refused: Option<String>,
}
