//! The desktop face (eframe/egui): a first-run wizard, the certificates,
//! the access-map editor, the decision explainer and the live test.
//!
//! Application state (the home's certificates, the access map being
//! edited, the server and its sessions) lives in [`StudioApp`]; each view
//! keeps only its own UI state (typed text, selection) and pushes
//! [`Command`]s. [`StudioApp::execute`] is the one place that acts, and
//! anything that touches the disk or the network runs as a named
//! background job (`jobs`), so the UI thread never waits.

pub mod access_view;
pub mod certs;
pub mod commands;
pub mod doctor;
pub mod explain;
pub mod jobs;
pub mod live;
pub mod settings;
pub mod widgets;
pub mod wizard;

use crate::core::access::{AccessMap, Database, Tag};
use crate::core::access_check::{self, CheckContext, Finding};
use crate::net::probe::ProbeReport;
use crate::net::server::SessionLog;
use crate::store::home::Home;
use crate::store::Error;
use commands::{AccessEdit, CapturedMessage, Command, Outcome, Purpose, Snapshot};
use eframe::egui;
use jobs::Jobs;
use settings::Settings;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The screens, in tab order (Ctrl+1 … Ctrl+6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Setup,
    Certificates,
    Access,
    Explain,
    Live,
    Doctor,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Setup,
        Tab::Certificates,
        Tab::Access,
        Tab::Explain,
        Tab::Live,
        Tab::Doctor,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Setup => "Set up",
            Tab::Certificates => "Certificates",
            Tab::Access => "Access map",
            Tab::Explain => "Decisions",
            Tab::Live => "Live test",
            Tab::Doctor => "Doctor",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Tab::Setup => "setup",
            Tab::Certificates => "certificates",
            Tab::Access => "access",
            Tab::Explain => "decisions",
            Tab::Live => "live",
            Tab::Doctor => "doctor",
        }
    }
    fn from_key(s: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.key() == s)
    }
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
    /// Bumped on every change, so views can cache what they derive.
    pub generation: u64,
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
            generation: 0,
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
    fn saved_as(&mut self, saved: AccessMap) {
        self.saved = saved;
        self.exists = true;
        self.dirty = self.map != self.saved;
    }
}

fn describe_edit(what: &str, e: &crate::core::access::Edit) -> String {
    use crate::core::access::Edit;
    match e {
        Edit::Added { line } => format!("line {line}: added {what}"),
        Edit::Changed { line, old } => format!("line {line}: changed (was `{}`)", old.trim_end()),
        Edit::Unchanged { line } => format!("line {line}: {what} already so"),
    }
}

/// The embedded server, when started from the live-test panel.
#[derive(Default)]
pub struct ServerState {
    pub job: Option<u64>,
    pub addr: Option<SocketAddr>,
    pub description: String,
    stop: Option<Arc<AtomicBool>>,
}

impl ServerState {
    pub fn running(&self) -> bool {
        self.job.is_some()
    }
}

/// A banner shown at the top of a tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub error: bool,
    pub text: String,
}

pub struct StudioApp {
    pub home: Home,
    pub settings: Settings,
    saved_settings: Settings,
    pub tab: Tab,
    pub jobs: Jobs,
    /// Which tab started a job, so its result is shown there.
    job_tab: HashMap<u64, Tab>,
    pub notices: HashMap<Tab, Notice>,
    pub snapshot: Option<Arc<Snapshot>>,
    pub loading: Option<u64>,
    pub access: Option<AccessDoc>,
    pub server: ServerState,
    pub sessions: Vec<SessionLog>,
    pub messages: Vec<CapturedMessage>,
    pub own_probe: Option<ProbeReport>,
    pub other_probe: Option<ProbeReport>,
    /// Lines of the access map to highlight (a decision's trace).
    pub highlight: Vec<usize>,
    /// Set to scroll the access editor to a line once.
    pub scroll_to_line: Option<usize>,
    pub wizard: wizard::WizardView,
    pub certs: certs::CertsView,
    pub access_view: access_view::AccessView,
    pub explain: explain::ExplainView,
    pub live: live::LiveView,
    pub doctor_view: doctor::DoctorView,
    pub doctor_report: Option<crate::store::doctor::Report>,
    pending: Vec<Command>,
    theme_applied: Option<String>,
    /// Settings saves in order: the number of the last one asked for, and
    /// of the last one written.
    settings_seq: u64,
    settings_written: Arc<std::sync::Mutex<u64>>,
}

impl StudioApp {
    pub fn new(home: Home) -> Self {
        let (settings, settings_error) = settings::load(&home);
        let tab = Tab::from_key(&settings.tab).unwrap_or(Tab::Setup);
        let mut app = StudioApp {
            home,
            saved_settings: settings.clone(),
            settings,
            tab,
            jobs: Jobs::default(),
            job_tab: HashMap::new(),
            notices: HashMap::new(),
            snapshot: None,
            loading: None,
            access: None,
            server: ServerState::default(),
            sessions: Vec::new(),
            messages: Vec::new(),
            own_probe: None,
            other_probe: None,
            highlight: Vec::new(),
            scroll_to_line: None,
            wizard: wizard::WizardView::default(),
            certs: certs::CertsView::default(),
            access_view: access_view::AccessView::default(),
            explain: explain::ExplainView::default(),
            live: live::LiveView::default(),
            doctor_view: doctor::DoctorView::default(),
            doctor_report: None,
            pending: Vec::new(),
            theme_applied: None,
            settings_seq: 0,
            settings_written: Arc::new(std::sync::Mutex::new(0)),
        };
        if let Some(e) = settings_error {
            app.notices.insert(
                app.tab,
                Notice {
                    error: true,
                    text: e,
                },
            );
        }
        app.live.port = app.settings.server_port.to_string();
        app.live.probe_target = app.settings.probe_target.clone();
        app.execute(Command::Reload);
        app
    }

    /// Queues a command; it runs after the current frame's views.
    pub fn push(&mut self, cmd: Command) {
        self.pending.push(cmd);
    }

    pub fn notify(&mut self, tab: Tab, error: bool, text: impl Into<String>) {
        self.notices.insert(
            tab,
            Notice {
                error,
                text: text.into(),
            },
        );
    }

    fn spawn(
        &mut self,
        name: &str,
        tab: Tab,
        work: impl FnOnce(&jobs::JobHandle, &jobs::Reply) -> Outcome + Send + 'static,
    ) -> u64 {
        self.notices.remove(&tab);
        let id = self.jobs.spawn(name, false, work);
        self.job_tab.insert(id, tab);
        id
    }

    /// The one place commands are carried out.
    pub fn execute(&mut self, cmd: Command) {
        let tab = self.tab;
        let home = self.home.clone();
        match cmd {
            Command::Reload => {
                if self.loading.is_some_and(|j| self.jobs.is_running(j)) {
                    return;
                }
                // A reload follows most actions: it keeps the tab's notice
                // (what the action did) rather than clearing it.
                let id = self.jobs.spawn("read the home", false, move |_, _| {
                    match load_snapshot(&home) {
                        Ok(s) => Outcome::Snapshot(s),
                        Err(e) => Outcome::Failed {
                            what: "Reading the home".into(),
                            error: e.to_string(),
                        },
                    }
                });
                self.job_tab.insert(id, tab);
                self.loading = Some(id);
            }
            Command::SetUpPki { ca, host } => {
                self.wizard.keygen_job = Some(self.spawn("create keys", tab, move |job, _| {
                    let steps = usize::from(ca.is_some()) + usize::from(host.is_some());
                    let mut done = 0usize;
                    let mut ca_info = None;
                    if let Some((cn, kind)) = ca {
                        job.report(format!("Generating the CA key ({kind})…"), Some(0.0));
                        match home.init_ca(&cn, kind, crate::store::home::CA_DAYS_DEFAULT) {
                            Ok(i) => ca_info = Some(i),
                            Err(e) => {
                                return Outcome::Failed {
                                    what: "Creating the CA".into(),
                                    error: e.to_string(),
                                }
                            }
                        }
                        done += 1;
                    }
                    let mut issued = None;
                    if job.cancelled() {
                        // The UI has stopped waiting; the CA stays (it is whole).
                        return Outcome::Done;
                    }
                    if let Some((fqdn, kind)) = host {
                        job.report(
                            format!("Generating the key for {fqdn} ({kind}) and signing it…"),
                            Some(done as f32 / steps as f32),
                        );
                        match home.issue(&fqdn, &[], kind, crate::store::home::HOST_DAYS_DEFAULT) {
                            Ok(r) => issued = Some(r),
                            Err(e) => {
                                return Outcome::Failed {
                                    what: format!("Issuing the certificate for {fqdn}"),
                                    error: e.to_string(),
                                }
                            }
                        }
                    }
                    job.report("Done", Some(1.0));
                    Outcome::PkiReady {
                        ca: ca_info,
                        issued,
                    }
                }));
            }
            Command::IssueCert {
                fqdn,
                sans,
                kind,
                days,
            } => {
                self.spawn("issue a certificate", tab, move |job, _| {
                    job.report(format!("Generating a {kind} key for {fqdn}…"), None);
                    match home.issue(&fqdn, &sans, kind, days) {
                        Ok(r) => Outcome::Issued(r),
                        Err(e) => Outcome::Failed {
                            what: format!("Issuing the certificate for {fqdn}"),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::RenewCert { fqdn } => {
                self.spawn("renew a certificate", tab, move |job, _| {
                    job.report(format!("New key and certificate for {fqdn}…"), None);
                    match home.renew(&fqdn, None, crate::store::home::HOST_DAYS_DEFAULT) {
                        Ok(r) => Outcome::Renewed(r),
                        Err(e) => Outcome::Failed {
                            what: format!("Renewing {fqdn}"),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::PlanInstall { fqdn, to } => {
                self.spawn("plan the installation", tab, move |_, _| {
                    match crate::store::install::plan(&home, &fqdn, &to) {
                        Ok(plan) => Outcome::InstallPlanned {
                            warnings: crate::store::install::safety_warnings(&plan),
                            mc_lines: crate::store::install::mc_lines(&plan),
                            diffs: install_diffs(&plan),
                            plan,
                        },
                        Err(e) => Outcome::Failed {
                            what: "Planning the installation".into(),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::ApplyInstall { fqdn, to } => {
                self.spawn("install", tab, move |job, _| {
                    job.report(format!("Installing into {}…", to.display()), None);
                    let r = crate::store::install::plan(&home, &fqdn, &to)
                        .and_then(|p| crate::store::install::apply(&p));
                    match r {
                        Ok(r) => Outcome::Installed(r),
                        Err(e) => Outcome::Failed {
                            what: "Installing".into(),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::OpenAccess { path } => {
                self.spawn("open the access map", Tab::Access, move |_, _| {
                    let exists = path.exists();
                    match crate::store::access::load_or_empty(&path) {
                        Ok(map) => Outcome::AccessOpened { path, map, exists },
                        Err(e) => Outcome::Failed {
                            what: "Opening the access map".into(),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::EditAccess(edit) => match self.access.as_mut() {
                None => self.notify(Tab::Access, true, "Open an access file first."),
                Some(doc) => match doc.apply(&edit) {
                    Ok(msg) => self.notify(Tab::Access, false, msg),
                    Err(e) => self.notify(Tab::Access, true, e),
                },
            },
            Command::SaveAccess { makemap } => {
                let Some(doc) = &self.access else {
                    return self.notify(Tab::Access, true, "Open an access file first.");
                };
                let path = doc.path.clone();
                let map = doc.map.clone();
                self.spawn("save the access map", Tab::Access, move |job, _| {
                    job.report(format!("Saving {}…", path.display()), None);
                    match crate::store::access::save(&path, &map, makemap) {
                        Ok(report) => Outcome::AccessSaved {
                            path,
                            saved: map,
                            report,
                        },
                        Err(e) => Outcome::Failed {
                            what: "Saving the access map".into(),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::PickFile { purpose, directory } => {
                self.spawn("choose a file", tab, move |_, _| {
                    // The portal dialog blocks this job's thread, never the UI.
                    let dialog = rfd::FileDialog::new();
                    let path = if directory {
                        dialog.pick_folder()
                    } else {
                        dialog.pick_file()
                    };
                    Outcome::FilePicked { purpose, path }
                });
            }
            Command::LoadCerts { purpose, path } => {
                self.spawn("read a certificate", tab, move |_, _| {
                    match crate::store::certfiles::infos_in_file(&path) {
                        Ok(certs) => Outcome::CertsLoaded {
                            purpose,
                            path,
                            certs,
                        },
                        Err(e) => Outcome::Failed {
                            what: "Reading the certificate".into(),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::StartServer(setup) => {
                if self.server.running() {
                    return self.notify(Tab::Live, true, "The server is already running.");
                }
                let stop = Arc::new(AtomicBool::new(false));
                let stop_job = stop.clone();
                self.notices.remove(&Tab::Live);
                let id = self.jobs.spawn("embedded server", true, move |_, reply| {
                    let plan = match crate::net::setup::server_config(&home, setup) {
                        Ok(p) => p,
                        Err(e) => {
                            return Outcome::Failed {
                                what: "Starting the server".into(),
                                error: e.to_string(),
                            }
                        }
                    };
                    let description = plan.describe();
                    let bound = match crate::net::server::bind(plan.config) {
                        Ok(b) => b,
                        Err(e) => {
                            return Outcome::Failed {
                                what: "Starting the server".into(),
                                error: e.to_string(),
                            }
                        }
                    };
                    reply.event(Outcome::ServerListening {
                        addr: bound.local_addr(),
                        description,
                    });
                    let (tx, rx) = std::sync::mpsc::channel::<SessionLog>();
                    let forward = reply.clone();
                    let forwarder = std::thread::Builder::new()
                        .name("server-sessions".into())
                        .spawn(move || {
                            for log in rx {
                                forward.event(Outcome::Session(Box::new(log)));
                            }
                        });
                    let r = crate::net::server::run(bound, stop_job, Some(tx));
                    if let Ok(f) = forwarder {
                        let _ = f.join();
                    }
                    match r {
                        Ok(()) => Outcome::ServerStopped,
                        Err(e) => Outcome::Failed {
                            what: "The server".into(),
                            error: e.to_string(),
                        },
                    }
                });
                self.job_tab.insert(id, Tab::Live);
                self.server = ServerState {
                    job: Some(id),
                    addr: None,
                    description: "starting…".into(),
                    stop: Some(stop),
                };
            }
            Command::StopServer => {
                if let Some(stop) = &self.server.stop {
                    stop.store(true, Ordering::Relaxed);
                    self.server.description = "stopping…".into();
                }
            }
            Command::Probe { setup, own_server } => {
                self.spawn("probe", Tab::Live, move |job, _| {
                    job.report(format!("Probing {}…", setup.target), None);
                    let opts = match crate::net::setup::probe_options(&home, setup) {
                        Ok(o) => o,
                        Err(e) => {
                            return Outcome::Failed {
                                what: "Preparing the probe".into(),
                                error: e.to_string(),
                            }
                        }
                    };
                    Outcome::Probed {
                        own_server,
                        report: Box::new(crate::net::probe::probe(&opts)),
                    }
                });
            }
            Command::ReadMessages { paths } => {
                self.jobs
                    .spawn("read captured messages", true, move |_, _| {
                        Outcome::Messages(paths.iter().filter_map(|p| read_message(p)).collect())
                    });
            }
            Command::RunDoctor(input) => {
                self.spawn("doctor", Tab::Doctor, move |job, _| {
                    job.report("Checking the setup…", None);
                    match crate::store::doctor::run(&input, widgets::now_unix()) {
                        Ok(report) => Outcome::DoctorDone {
                            report,
                            fixed: Vec::new(),
                        },
                        Err(e) => Outcome::Failed {
                            what: "Checking the setup".into(),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::ApplyFixes { actions, then } => {
                self.spawn("doctor fixes", Tab::Doctor, move |job, _| {
                    let mut fixed = Vec::new();
                    for (n, a) in actions.iter().enumerate() {
                        if job.cancelled() {
                            return Outcome::Done;
                        }
                        job.report(
                            doctor::describe(a),
                            Some(n as f32 / actions.len().max(1) as f32),
                        );
                        fixed.push(crate::store::doctor::apply_fix(a).map_err(|e| e.to_string()));
                    }
                    match crate::store::doctor::run(&then, widgets::now_unix()) {
                        Ok(report) => Outcome::DoctorDone { report, fixed },
                        Err(e) => Outcome::Failed {
                            what: "Checking the setup again".into(),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::ExportBundle { fqdn, out } => {
                self.spawn("export a bundle", tab, move |job, _| {
                    job.report(format!("Writing the bundle for {fqdn}…"), None);
                    let r = crate::store::bundle::build(
                        &home,
                        &fqdn,
                        std::path::Path::new(crate::store::bundle::DEFAULT_PREFIX),
                    )
                    .and_then(|b| crate::store::bundle::write(&b, &out));
                    match r {
                        Ok(r) => Outcome::BundleWritten(r),
                        Err(e) => Outcome::Failed {
                            what: format!("Exporting the bundle for {fqdn}"),
                            error: e.to_string(),
                        },
                    }
                });
            }
            Command::SaveSettings(s) => {
                self.settings_seq += 1;
                let (seq, written) = (self.settings_seq, self.settings_written.clone());
                self.jobs.spawn("save settings", true, move |_, _| {
                    // Saves may overlap; the newest one always wins.
                    let Ok(mut last) = written.lock() else {
                        return Outcome::Done;
                    };
                    if *last > seq {
                        return Outcome::Done;
                    }
                    *last = seq;
                    match settings::save(&home, &s) {
                        Ok(()) => Outcome::Done,
                        Err(e) => Outcome::Failed {
                            what: "Saving the settings".into(),
                            error: e,
                        },
                    }
                });
            }
            Command::CopyText(_) => {}
        }
    }

    /// Takes in what finished jobs produced.
    fn receive(&mut self, ctx: &egui::Context) {
        for m in self.jobs.poll() {
            let tab = self.job_tab.get(&m.job).copied().unwrap_or(self.tab);
            if m.done {
                self.job_tab.remove(&m.job);
                if self.wizard.keygen_job == Some(m.job) {
                    let failed = matches!(m.outcome, Outcome::Failed { .. });
                    self.wizard.on_keygen_done(failed);
                }
                if self.loading == Some(m.job) {
                    self.loading = None;
                }
                if self.server.job == Some(m.job) {
                    self.server = ServerState::default();
                }
            }
            self.on_outcome(ctx, tab, m.outcome);
        }
    }

    fn on_outcome(&mut self, ctx: &egui::Context, tab: Tab, outcome: Outcome) {
        match outcome {
            Outcome::Failed { what, error } => self.notify(tab, true, format!("{what}: {error}")),
            Outcome::Done => {}
            Outcome::Snapshot(s) => {
                self.wizard.prefill(&s, &self.settings);
                if self.access.is_none() && !self.access_view.opening {
                    let path = self
                        .settings
                        .access_file
                        .clone()
                        .unwrap_or_else(|| s.default_access_file.clone());
                    self.access_view.path = path.display().to_string();
                    // The file edited last time opens again by itself.
                    if self.settings.access_file.is_some() {
                        self.access_view.opening = true;
                        self.push(Command::OpenAccess { path });
                    }
                }
                self.snapshot = Some(Arc::new(s));
            }
            Outcome::PkiReady { ca, issued } => {
                let mut text = Vec::new();
                if let Some(ca) = ca {
                    text.push(format!("CA created: {}", ca.subject));
                }
                if let Some(r) = &issued {
                    text.push(format!("certificate issued for {}", r.entry.fqdn));
                    text.extend(r.notes.iter().cloned());
                }
                self.notify(tab, false, text.join("; "));
                self.execute(Command::Reload);
                self.wizard.request_plan(&mut self.pending);
            }
            Outcome::Issued(r) => {
                let mut t = format!("Issued {} ({})", r.entry.fqdn, r.entry.cert_path.display());
                for n in &r.notes {
                    t.push_str(&format!("; {n}"));
                }
                self.certs.select(&r.entry.fqdn);
                self.notify(tab, false, t);
                self.execute(Command::Reload);
            }
            Outcome::Renewed(r) => {
                self.notify(
                    tab,
                    false,
                    format!(
                        "Renewed {}: new key and certificate, valid until {}; the old pair is in {}",
                        r.entry.fqdn,
                        r.entry.info.not_after,
                        self.home.archive_dir().display()
                    ),
                );
                self.execute(Command::Reload);
            }
            Outcome::InstallPlanned {
                plan,
                warnings,
                mc_lines,
                diffs,
            } => self.wizard.on_plan(plan, warnings, mc_lines, diffs),
            Outcome::Installed(r) => {
                self.settings.install_dir = Some(r.plan.to.clone());
                self.wizard.on_installed(r);
            }
            Outcome::AccessOpened { path, map, exists } => {
                self.access_view.opening = false;
                self.settings.access_file = Some(path.clone());
                self.access_view.path = path.display().to_string();
                let n = map.entries().count();
                self.access = Some(AccessDoc::new(path.clone(), map, exists));
                self.access_view.on_open();
                self.notify(
                    Tab::Access,
                    false,
                    if exists {
                        format!("Opened {} ({n} entries)", path.display())
                    } else {
                        format!(
                            "{} does not exist yet; it is created when you save",
                            path.display()
                        )
                    },
                );
            }
            Outcome::AccessSaved {
                path,
                saved,
                report,
            } => {
                if let Some(doc) = self.access.as_mut().filter(|d| d.path == path) {
                    doc.saved_as(saved);
                }
                let mut t = format!("Saved {}", path.display());
                if let Some(b) = &report.backup {
                    t.push_str(&format!("; previous version in {}", b.display()));
                }
                let mut error = false;
                match &report.makemap {
                    Some(Ok(m)) => t.push_str(&format!("; {m}")),
                    Some(Err(m)) => {
                        error = true;
                        t.push_str(&format!("; but makemap failed: {m}"));
                    }
                    None => t.push_str(&format!(
                        "; rebuild the database: makemap hash {0} < {0}",
                        path.display()
                    )),
                }
                self.access_view.preview = None;
                self.notify(Tab::Access, error, t);
            }
            Outcome::FilePicked { purpose, path } => {
                if let Some(p) = path {
                    self.on_file_picked(purpose, p);
                }
            }
            Outcome::CertsLoaded {
                purpose,
                path,
                certs,
            } => match purpose {
                Purpose::DnPickerCert => self.access_view.picker.on_loaded(path, certs),
                Purpose::ExplainCert => self.explain.on_cert(certs),
                _ => {}
            },
            Outcome::ServerListening { addr, description } => {
                self.server.addr = Some(addr);
                self.server.description = description;
                self.settings.server_port = addr.port();
                self.notify(Tab::Live, false, format!("Listening on {addr}"));
            }
            Outcome::Session(log) => {
                let files: Vec<PathBuf> = log.messages.iter().map(PathBuf::from).collect();
                self.sessions.push(*log);
                if !files.is_empty() {
                    self.execute(Command::ReadMessages { paths: files });
                }
            }
            Outcome::ServerStopped => {
                self.notify(Tab::Live, false, "The server stopped.");
            }
            Outcome::Probed { own_server, report } => {
                if own_server {
                    self.own_probe = Some(*report);
                } else {
                    self.other_probe = Some(*report);
                }
            }
            Outcome::Messages(m) => self.messages.extend(m),
            Outcome::DoctorDone { report, fixed } => {
                if !fixed.is_empty() {
                    let failed = fixed.iter().filter(|r| r.is_err()).count();
                    let text = fixed
                        .iter()
                        .map(|r| match r {
                            Ok(m) => format!("fixed: {m}"),
                            Err(e) => format!("not fixed: {e}"),
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    self.notify(Tab::Doctor, failed > 0, text);
                }
                self.doctor_report = Some(report);
            }
            Outcome::BundleWritten(r) => {
                self.notify(
                    tab,
                    false,
                    format!(
                        "Bundle written to {} ({} entries{}); give it to the host's admin: its README.txt says how to install it",
                        r.out.display(),
                        r.entries.len(),
                        if r.tar { ", mode 0600: it holds the private key" } else { "" }
                    ),
                );
            }
        }
        ctx.request_repaint();
    }

    fn on_file_picked(&mut self, purpose: Purpose, p: PathBuf) {
        let text = p.display().to_string();
        match purpose {
            Purpose::InstallDir => self.wizard.install_dir = text,
            Purpose::AccessFile => {
                self.access_view.path = text;
                self.push(Command::OpenAccess { path: p });
            }
            Purpose::DnPickerCert => {
                self.access_view.picker.file = text;
                self.push(Command::LoadCerts { purpose, path: p });
            }
            Purpose::ExplainCert => {
                self.explain.cert_file = text;
                self.push(Command::LoadCerts { purpose, path: p });
            }
            Purpose::ProbeClientCert => self.live.client_cert = text,
            Purpose::ProbeClientKey => self.live.client_key = text,
            Purpose::ProbeCaFile => self.live.ca_file = text,
        }
    }

    fn apply_theme(&mut self, ctx: &egui::Context) {
        if self.theme_applied.as_deref() == Some(self.settings.theme.as_str()) {
            return;
        }
        let pref = match self.settings.theme.as_str() {
            "light" => egui::ThemePreference::Light,
            "dark" => egui::ThemePreference::Dark,
            _ => egui::ThemePreference::System,
        };
        ctx.set_theme(pref);
        self.theme_applied = Some(self.settings.theme.clone());
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let (tab, reload) = ctx.input_mut(|i| {
            let mut tab = None;
            for (n, key) in [
                egui::Key::Num1,
                egui::Key::Num2,
                egui::Key::Num3,
                egui::Key::Num4,
                egui::Key::Num5,
                egui::Key::Num6,
            ]
            .into_iter()
            .enumerate()
            {
                if i.consume_key(egui::Modifiers::COMMAND, key) {
                    tab = Some(Tab::ALL[n]);
                }
            }
            (tab, i.consume_key(egui::Modifiers::NONE, egui::Key::F5))
        });
        if let Some(t) = tab {
            self.tab = t;
        }
        if reload {
            self.push(Command::Reload);
        }
    }

    /// Draws one frame: the tab bar, the current view, the job line.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.jobs.set_context(&ctx);
        self.apply_theme(&ctx);
        self.receive(&ctx);
        self.shortcuts(&ctx);

        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.strong("starttls-studio");
                ui.separator();
                for (n, t) in Tab::ALL.into_iter().enumerate() {
                    let r = ui
                        .selectable_label(self.tab == t, t.title())
                        .on_hover_text(format!("Ctrl+{}", n + 1));
                    if r.clicked() {
                        self.tab = t;
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let theme = egui::ComboBox::from_id_salt("theme")
                        .selected_text(match self.settings.theme.as_str() {
                            "light" => "Light",
                            "dark" => "Dark",
                            _ => "System theme",
                        })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(
                                &mut self.settings.theme,
                                "system".into(),
                                "System theme",
                            );
                            ui.selectable_value(&mut self.settings.theme, "light".into(), "Light");
                            ui.selectable_value(&mut self.settings.theme, "dark".into(), "Dark");
                        });
                    let l = ui.label("Theme");
                    theme.response.labelled_by(l.id);
                    if ui
                        .button("Reload")
                        .on_hover_text("Read the home again (F5)")
                        .clicked()
                    {
                        self.push(Command::Reload);
                    }
                });
            });
        });
        let mut cancel = Vec::new();
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.small(format!("home: {}", self.home.root.display()));
                if let Some(addr) = self.server.addr {
                    ui.separator();
                    ui.small(format!("server on {addr}"));
                }
                let busy: Vec<(u64, String, jobs::Progress)> = self
                    .jobs
                    .busy()
                    .map(|j| (j.id, j.name.clone(), j.progress()))
                    .collect();
                for (id, name, p) in &busy {
                    ui.separator();
                    if ui
                        .push_id(id, |ui| ui.small_button("Cancel"))
                        .inner
                        .on_hover_text(format!("Stop waiting for: {name}"))
                        .clicked()
                    {
                        cancel.push(*id);
                    }
                    match p.fraction {
                        Some(f) => {
                            ui.add(
                                egui::ProgressBar::new(f)
                                    .desired_width(120.0)
                                    .text(name.as_str()),
                            );
                        }
                        None => {
                            ui.spinner();
                        }
                    }
                    ui.small(&p.text);
                }
            });
        });
        for id in cancel {
            self.jobs.cancel(id);
            if self.loading == Some(id) {
                self.loading = None;
            }
            self.job_tab.remove(&id);
            if self.wizard.keygen_job == Some(id) {
                self.wizard.on_job_cancelled();
            }
        }
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(n) = self.notices.get(&self.tab).cloned() {
                let color = if n.error {
                    ui.visuals().error_fg_color
                } else {
                    ui.visuals().text_color()
                };
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        if n.error {
                            ui.colored_label(color, "Error:");
                        }
                        ui.colored_label(color, &n.text);
                        if ui.small_button("Dismiss").clicked() {
                            self.notices.remove(&self.tab);
                        }
                    });
                });
            }
            match self.tab {
                Tab::Setup => wizard::show(self, ui),
                Tab::Certificates => certs::show(self, ui),
                Tab::Access => access_view::show(self, ui),
                Tab::Explain => explain::show(self, ui),
                Tab::Live => live::show(self, ui),
                Tab::Doctor => doctor::show(self, ui),
            }
        });

        for cmd in std::mem::take(&mut self.pending) {
            match cmd {
                Command::CopyText(t) => ctx.copy_text(t),
                other => self.execute(other),
            }
        }
        self.settings.tab = self.tab.key().to_string();
        if self.settings != self.saved_settings {
            self.saved_settings = self.settings.clone();
            self.execute(Command::SaveSettings(self.settings.clone()));
        }
        if self.jobs.busy().next().is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// Stops the server (used when the window closes).
    pub fn shutdown(&mut self) {
        self.execute(Command::StopServer);
    }
}

/// What install would change in the files it replaces. Keys are never
/// shown.
fn install_diffs(
    plan: &crate::store::install::InstallPlan,
) -> Vec<(PathBuf, Vec<crate::core::linediff::DiffLine>)> {
    use crate::store::install::FileState;
    plan.files
        .iter()
        .filter(|f| f.state == FileState::Replaced && !f.secret)
        .map(|f| {
            let old =
                crate::store::fsutil::read_limited(&f.path, crate::store::fsutil::PKI_FILE_LIMIT)
                    .unwrap_or_default();
            let diff = crate::core::linediff::diff_lines(
                &String::from_utf8_lossy(&old),
                &String::from_utf8_lossy(&f.contents),
                2,
            );
            (f.path.clone(), diff)
        })
        .collect()
}

/// Reads a stored message's header block.
fn read_message(path: &std::path::Path) -> Option<CapturedMessage> {
    let data = crate::store::fsutil::read_limited(path, 64 * 1024 * 1024).ok()?;
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| data.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(data.len().min(4096));
    Some(CapturedMessage {
        path: path.to_path_buf(),
        headers: String::from_utf8_lossy(&data[..end]).replace("\r\n", "\n"),
        size: data.len() as u64,
    })
}

/// What the views need from the home and the machine (the same calls as
/// `ca show` and `cert list`).
pub fn load_snapshot(home: &Home) -> Result<Snapshot, Error> {
    let ca = home.ca_info()?;
    let hosts = home.list()?;
    Ok(Snapshot {
        ca,
        hosts,
        machine_fqdn: machine_fqdn(),
        default_install_dir: default_install_dir(),
        default_access_file: if std::path::Path::new("/etc/mail/access").exists() {
            PathBuf::from("/etc/mail/access")
        } else {
            home.root.join("access")
        },
    })
}

/// The machine's fully qualified name: the kernel's host name, completed
/// from /etc/hosts (as `hostname -f` does) when it has no dot.
fn machine_fqdn() -> String {
    let short = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if short.contains('.') || short.is_empty() {
        return short;
    }
    let hosts = crate::store::fsutil::read_limited(std::path::Path::new("/etc/hosts"), 1 << 20)
        .unwrap_or_default();
    for line in String::from_utf8_lossy(&hosts).lines() {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        if names.contains(&short.as_str()) {
            if let Some(f) = names.iter().find(|n| n.starts_with(&format!("{short}."))) {
                return f.to_string();
            }
        }
    }
    short
}

/// `/etc/mail/tls` when we may write there, else `$HOME/sendmail-tls`.
fn default_install_dir() -> PathBuf {
    let etc = PathBuf::from("/etc/mail/tls");
    let probe_dir = if etc.exists() {
        etc.clone()
    } else {
        PathBuf::from("/etc/mail")
    };
    let writable =
        std::fs::metadata(&probe_dir).is_ok_and(|m| m.is_dir()) && tempfile_probe(&probe_dir);
    if writable {
        etc
    } else {
        directories::UserDirs::new()
            .map(|u| u.home_dir().join("sendmail-tls"))
            .unwrap_or_else(|| PathBuf::from("sendmail-tls"))
    }
}

/// Whether a file can be created in `dir` (permissions alone do not say,
/// e.g. on a read-only mount).
fn tempfile_probe(dir: &std::path::Path) -> bool {
    let p = dir.join(format!(".starttls-studio-probe-{}", std::process::id()));
    let ok = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .is_ok();
    if ok {
        let _ = std::fs::remove_file(&p);
    }
    ok
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}

/// Opens the window; returns the exit status when it closes.
pub fn run(home: Home) -> Result<i32, Error> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("starttls-studio")
            .with_app_id(crate::APP_ID)
            .with_inner_size([1100.0, 720.0])
            .with_min_inner_size([640.0, 420.0]),
        ..Default::default()
    };
    eframe::run_native(
        "starttls-studio",
        options,
        Box::new(|_cc| Ok(Box::new(StudioApp::new(home)))),
    )
    .map_err(|e| Error::Refused {
        message: format!("cannot open the GUI window: {e}"),
        hint: Some(
            "is a display available (DISPLAY or WAYLAND_DISPLAY)? Every action is also a subcommand: see --help".into(),
        ),
    })?;
    Ok(0)
}
