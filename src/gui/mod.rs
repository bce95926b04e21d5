//! The desktop face (eframe/egui): a first-run wizard, the certificates,
//! the access-map editor, the decision explainer and the live test.
//!
//! Application state (the home's certificates, the access map being
//! edited, the server and its sessions) lives in [`StudioApp`]; each view
//! keeps only its own UI state (typed text, selection) and pushes
//! [`Command`]s. [`StudioApp::execute`] is the one place that acts, and
//! anything that touches the disk or the network runs as a named
//! background job (`jobs`), so the UI thread never waits.

pub mod access_doc;
pub mod access_form;
pub mod access_view;
pub mod certs;
pub mod commands;
pub mod doctor;
mod executor;
pub mod explain;
pub mod jobs;
pub mod live;
pub mod logview;
pub mod mc_form;
pub mod overview;
pub mod partners;
pub mod settings;
pub mod view;
pub mod widgets;
pub mod wizard;

use crate::net::probe::ProbeReport;
use crate::net::server::SessionLog;
use crate::store::home::Home;
use crate::store::Error;
pub use access_doc::{AccessDoc, Group, Row};
use commands::{CapturedMessage, Command, Sink, Snapshot};
use eframe::egui;
use jobs::Jobs;
use settings::Settings;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use view::ViewCtx;

/// The screens, in tab order (Ctrl+1 … Ctrl+9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Overview,
    Setup,
    Certificates,
    Access,
    Explain,
    Live,
    Doctor,
    Partners,
    Log,
}

impl Tab {
    pub const ALL: [Tab; 9] = [
        Tab::Overview,
        Tab::Setup,
        Tab::Certificates,
        Tab::Access,
        Tab::Explain,
        Tab::Live,
        Tab::Doctor,
        Tab::Partners,
        Tab::Log,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Setup => "Set up",
            Tab::Certificates => "Certificates",
            Tab::Access => "Access map",
            Tab::Explain => "Decisions",
            Tab::Live => "Live test",
            Tab::Doctor => "Doctor",
            Tab::Partners => "Partners",
            Tab::Log => "Log",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Tab::Overview => "overview",
            Tab::Setup => "setup",
            Tab::Certificates => "certificates",
            Tab::Access => "access",
            Tab::Explain => "decisions",
            Tab::Live => "live",
            Tab::Doctor => "doctor",
            Tab::Partners => "partners",
            Tab::Log => "log",
        }
    }
    fn from_key(s: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.key() == s)
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
    /// The job applying an edit of a large access map, and the edits
    /// given meanwhile (applied in order after it).
    pub access_edit: Option<u64>,
    access_queue: std::collections::VecDeque<commands::AccessEdit>,
    pub server: ServerState,
    pub sessions: Vec<SessionLog>,
    pub messages: Vec<CapturedMessage>,
    pub own_probe: Option<ProbeReport>,
    pub other_probe: Option<ProbeReport>,
    /// Lines of the access map to highlight (a decision's trace).
    pub highlight: Vec<usize>,
    pub wizard: wizard::WizardView,
    pub certs: certs::CertsView,
    pub access_view: access_view::AccessView,
    pub explain: explain::ExplainView,
    pub live: live::LiveView,
    pub doctor_view: doctor::DoctorView,
    pub doctor_report: Option<crate::store::doctor::Report>,
    pub partners_view: partners::PartnersView,
    pub log_view: logview::LogView,
    /// The partner certificate the onboarding steps are about.
    pub partner_cert: Option<(std::path::PathBuf, Vec<crate::core::cert::CertInfo>)>,
    /// The last partner request signed: host and certificate (PEM).
    pub signed: Option<(String, String)>,
    pub log: commands::LogState,
    log_stop: Option<Arc<AtomicBool>>,
    pub partners: Option<partners::PartnersState>,
    pub trust_preview: Option<partners::TrustPreview>,
    /// The last `mc apply` preview, and why it would be refused.
    pub mc_plan: Option<(crate::store::mc::Plan, Option<String>)>,
    /// The last `mc apply`: all done and proven, and its steps.
    pub mc_result: Option<(bool, Vec<String>)>,
    pending: Sink,
    theme_applied: Option<String>,
    /// Settings saves in order: the number of the last one asked for, and
    /// of the last one written.
    settings_seq: u64,
    settings_written: Arc<std::sync::Mutex<u64>>,
}

impl StudioApp {
    pub fn new(home: Home) -> Self {
        let (settings, settings_error) = settings::load(&home);
        // A saved tab wins; else the overview once there is a CA to
        // overview, the setup wizard before.
        let tab = Tab::from_key(&settings.tab).unwrap_or(if home.has_ca() {
            Tab::Overview
        } else {
            Tab::Setup
        });
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
            access_edit: None,
            access_queue: std::collections::VecDeque::new(),
            server: ServerState::default(),
            sessions: Vec::new(),
            messages: Vec::new(),
            own_probe: None,
            other_probe: None,
            highlight: Vec::new(),
            wizard: wizard::WizardView::default(),
            certs: certs::CertsView::default(),
            access_view: access_view::AccessView::default(),
            explain: explain::ExplainView::default(),
            live: live::LiveView::default(),
            doctor_view: doctor::DoctorView::default(),
            doctor_report: None,
            mc_plan: None,
            mc_result: None,
            partners_view: Default::default(),
            log_view: Default::default(),
            partner_cert: None,
            signed: None,
            log: Default::default(),
            log_stop: None,
            partners: None,
            trust_preview: None,
            pending: Sink::default(),
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
                egui::Key::Num7,
                egui::Key::Num8,
                egui::Key::Num9,
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

        // Tab with nothing focused starts in the view, not in the top bar's
        // controls (they come after the view's, and have shortcuts): the
        // traversal is held until the view's first widget is drawn.
        let tab_into_view = ctx.input(|i| i.key_pressed(egui::Key::Tab) && i.modifiers.is_none())
            && ctx.memory(|m| m.focused().is_none());
        if tab_into_view {
            ctx.memory_mut(|m| m.move_focus(egui::FocusDirection::None));
        }
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
            if self.access_edit == Some(id) {
                self.access_edit = None;
                self.access_queue.clear();
                self.notify(
                    Tab::Access,
                    true,
                    "The edit was cancelled: the map is as it was before it.",
                );
            }
            self.job_tab.remove(&id);
            if self.wizard.keygen_job == Some(id) {
                self.wizard.on_job_cancelled();
            }
        }
        if let Some(n) = self.notices.get(&self.tab).cloned() {
            let mut dismissed = false;
            egui::Panel::bottom("notice").show(ui, |ui| dismissed = notice(ui, &n));
            if dismissed {
                self.notices.remove(&self.tab);
            }
        }
        egui::CentralPanel::default().show(ui, |ui| {
            if tab_into_view {
                ui.memory_mut(|m| m.move_focus(egui::FocusDirection::Next));
            }
            let cx = ViewCtx {
                home: &self.home,
                settings: &self.settings,
                snapshot: self.snapshot.as_ref(),
                access: self.access.as_ref(),
                access_editing: self.access_edit.is_some(),
                highlight: &self.highlight,
                server: &self.server,
                sessions: &self.sessions,
                messages: &self.messages,
                own_probe: self.own_probe.as_ref(),
                other_probe: self.other_probe.as_ref(),
                doctor_report: self.doctor_report.as_ref(),
                mc_plan: self.mc_plan.as_ref(),
                partners: self.partners.as_ref(),
                status: self.snapshot.as_ref().and_then(|s| s.status.as_ref()),
                trust_preview: self.trust_preview.as_ref(),
                mc_result: self.mc_result.as_ref(),
                jobs: &self.jobs,
                log: &self.log,
                partner_cert: self.partner_cert.as_ref(),
                signed: self.signed.as_ref(),
            };
            let out = &mut self.pending;
            match self.tab {
                Tab::Setup => wizard::show(&mut self.wizard, &cx, out, ui),
                Tab::Certificates => certs::show(&mut self.certs, &cx, out, ui),
                Tab::Access => access_view::show(&mut self.access_view, &cx, out, ui),
                Tab::Explain => explain::show(&mut self.explain, &cx, out, ui),
                Tab::Live => live::show(&mut self.live, &cx, out, ui),
                Tab::Doctor => doctor::show(&mut self.doctor_view, &cx, out, ui),
                Tab::Partners => partners::show(&mut self.partners_view, &cx, out, ui),
                Tab::Overview => overview::show(&cx, out, ui),
                Tab::Log => logview::show(&mut self.log_view, &cx, out, ui),
            }
        });

        for cmd in self.pending.take() {
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

/// A tab's notice, in a strip above the status line: the view keeps its
/// place (a banner above it made the toolbars jump) and nothing of it is
/// covered. `true` when dismissed.
fn notice(ui: &mut egui::Ui, n: &Notice) -> bool {
    let color = if n.error {
        ui.visuals().error_fg_color
    } else {
        ui.visuals().text_color()
    };
    let mut dismissed = false;
    ui.add_space(2.0);
    ui.horizontal_wrapped(|ui| {
        if n.error {
            ui.colored_label(color, egui::RichText::new("Error:").strong());
        }
        ui.colored_label(color, &n.text);
        dismissed = ui.small_button("Dismiss").clicked();
    });
    ui.add_space(2.0);
    dismissed
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
