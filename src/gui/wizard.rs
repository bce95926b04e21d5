//! First run: a welcome, then CA → host → install target → summary →
//! install. Keys are generated in the background while the person picks
//! the install directory; the summary shows exactly what install will
//! write (files, modes, a diff for anything replaced, the `sendmail.mc`
//! lines) before anything is written.

use super::commands::{Command, Purpose, Sink, Snapshot};
use super::settings::Settings;
use super::view::ViewCtx;
use super::widgets;
use super::Tab;
use crate::core::fqdn;
use crate::core::linediff::DiffLine;
use crate::core::pki::KeyKind;
use crate::store::install::{FileState, InstallPlan, InstallReport};
use eframe::egui;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Step {
    #[default]
    Welcome,
    Ca,
    Host,
    Target,
    Summary,
    Done,
}

#[derive(Default)]
pub struct WizardView {
    pub step: Step,
    pub ca_name: String,
    pub ca_kind: KeyKind,
    pub fqdn: String,
    pub host_kind: KeyKind,
    pub install_dir: String,
    prefilled: bool,
    /// The job generating the keys, while it runs.
    pub keygen_job: Option<u64>,
    /// The person clicked Next on the target step before the keys were
    /// ready: plan as soon as they are.
    waiting_for_keys: bool,
    pub plan: Option<PlannedInstall>,
    pub report: Option<InstallReport>,
    /// The step whose first field last got the focus: each step gives it
    /// once, when it is entered.
    focused: Option<Step>,
}

pub struct PlannedInstall {
    pub plan: InstallPlan,
    pub warnings: Vec<String>,
    pub mc_lines: String,
    pub diffs: Vec<(PathBuf, Vec<DiffLine>)>,
}

impl WizardView {
    /// Fills the fields from the machine and the home, once.
    pub fn prefill(&mut self, s: &Snapshot, settings: &Settings) {
        if self.prefilled {
            return;
        }
        self.prefilled = true;
        self.fqdn = s.machine_fqdn.clone();
        let domain = s.machine_fqdn.split_once('.').map_or("", |(_, d)| d);
        self.ca_name = if domain.is_empty() {
            "Mail CA".into()
        } else {
            format!("{domain} Mail CA")
        };
        self.install_dir = settings
            .install_dir
            .clone()
            .unwrap_or_else(|| s.default_install_dir.clone())
            .display()
            .to_string();
    }

    /// A job was cancelled: stop waiting for keys that will not come.
    pub fn on_job_cancelled(&mut self) {
        self.keygen_job = None;
        self.waiting_for_keys = false;
    }

    /// The key job ended; after a failure the person is back at the host
    /// step, where the error is shown.
    pub fn on_keygen_done(&mut self, failed: bool) {
        self.keygen_job = None;
        if failed {
            self.waiting_for_keys = false;
            if self.step == Step::Target {
                self.step = Step::Host;
            }
        }
    }

    /// Focuses the step's first field (its text selected) when the step is
    /// entered.
    fn focus_once(&mut self, ui: &egui::Ui, field: &egui::Response) {
        if self.focused != Some(self.step) {
            self.focused = Some(self.step);
            widgets::focus_all(ui, field);
        }
    }

    /// Key generation was started and has not finished.
    pub fn generating(&self) -> bool {
        self.keygen_job.is_some()
    }

    /// Called when keys are ready: plans if the person is already waiting.
    pub fn request_plan(&mut self, pending: &mut Sink) {
        if self.waiting_for_keys {
            self.waiting_for_keys = false;
            pending.push(self.plan_command());
        }
    }

    fn plan_command(&self) -> Command {
        Command::PlanInstall {
            fqdn: self.fqdn.trim().to_string(),
            to: PathBuf::from(self.install_dir.trim()),
        }
    }

    pub fn on_plan(
        &mut self,
        plan: InstallPlan,
        warnings: Vec<String>,
        mc_lines: String,
        diffs: Vec<(PathBuf, Vec<DiffLine>)>,
    ) {
        self.plan = Some(PlannedInstall {
            plan,
            warnings,
            mc_lines,
            diffs,
        });
        self.step = Step::Summary;
    }

    pub fn on_installed(&mut self, r: InstallReport) {
        self.report = Some(r);
        self.step = Step::Done;
    }
}

fn nav(ui: &mut egui::Ui, back: bool, next: &str, next_enabled: bool) -> (bool, bool) {
    let mut b = false;
    let mut n = false;
    ui.add_space(12.0);
    ui.horizontal(|ui| {
        if back && ui.button("Back").clicked() {
            b = true;
        }
        let r = ui.add_enabled(next_enabled, egui::Button::new(next));
        if r.clicked() {
            n = true;
        }
    });
    (b, n)
}

fn kind_combo(ui: &mut egui::Ui, id: &str, label: &str, kind: &mut KeyKind) {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        egui::ComboBox::from_id_salt(id)
            .selected_text(kind_label(*kind))
            .show_ui(ui, |ui| {
                for k in KeyKind::ALL {
                    ui.selectable_value(kind, k, kind_label(k));
                }
            })
            .response
            .labelled_by(l.id);
    });
}

pub fn kind_label(k: KeyKind) -> &'static str {
    match k {
        KeyKind::Rsa2048 => "RSA 2048 (what sendmail peers expect)",
        KeyKind::Rsa3072 => "RSA 3072",
        KeyKind::Rsa4096 => "RSA 4096",
        KeyKind::EcdsaP256 => "ECDSA P-256 (fast handshakes)",
        KeyKind::EcdsaP384 => "ECDSA P-384",
        KeyKind::Ed25519 => "Ed25519 (few mail peers support it)",
    }
}

pub fn show(w: &mut WizardView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let Some(snap) = cx.snapshot.cloned() else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Reading the home…");
        });
        return;
    };
    let has_ca = snap.ca.is_some();
    let host_exists = |fqdn: &str| {
        snap.hosts.iter().any(|h| {
            h.fqdn
                .eq_ignore_ascii_case(fqdn.trim().trim_end_matches('.'))
        })
    };
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let steps = ["Welcome", "CA", "Host", "Install to", "Summary", "Done"];
            ui.horizontal(|ui| {
                for (i, s) in steps.iter().enumerate() {
                    let current = i == w.step as usize;
                    let text = egui::RichText::new(format!("{}. {s}", i + 1));
                    ui.label(if current { text.strong() } else { text.weak() });
                    if i + 1 < steps.len() {
                        ui.label("›");
                    }
                }
            });
            ui.separator();
            match w.step {
                Step::Welcome => {
                    ui.heading("Welcome to starttls-studio");
                    ui.label(
                        "This sets up encrypted, certificate-authenticated mail for sendmail: \
                         it creates your own certificate authority and a certificate for this host.",
                    );
                    ui.label(
                        "Then it installs them where sendmail reads them, with the hash links and \
                         file modes it needs, and shows the sendmail.mc lines to add — nothing is \
                         written outside the data directory until you confirm the summary.",
                    );
                    if has_ca {
                        ui.label(format!(
                            "A CA already exists in {} and will be used.",
                            cx.home.root.display()
                        ));
                    }
                    let (_, next) = nav(ui, false, "Start", true);
                    if next {
                        w.step = Step::Ca;
                        out.push(Command::MarkWelcomed);
                    }
                }
                Step::Ca => {
                    ui.heading("Certificate authority");
                    if let Some(ca) = &snap.ca {
                        ui.label("The CA in the home signs the host certificates:");
                        ui.monospace(&ca.subject);
                        ui.label(format!("{} {} bits, until {}", ca.key_type, ca.key_bits, ca.not_after));
                    } else {
                        ui.label("Your CA signs this host's certificate and those of your partner hosts. Its key stays in the data directory (mode 0400).");
                        let r = widgets::text_field(ui, "CA name", &mut w.ca_name, 320.0);
                        w.focus_once(ui, &r);
                        kind_combo(ui, "ca-kind", "CA key", &mut w.ca_kind);
                    }
                    let ok = has_ca || !w.ca_name.trim().is_empty();
                    if !ok {
                        ui.colored_label(ui.visuals().error_fg_color, "Give the CA a name.");
                    }
                    let (back, next) = nav(ui, true, "Next", ok);
                    if back {
                        w.step = Step::Welcome;
                    }
                    if next {
                        w.step = Step::Host;
                    }
                }
                Step::Host => {
                    ui.heading("This host");
                    ui.label("sendmail presents this certificate as server and as client. Its CN and name are the host's fully qualified name.");
                    let r = widgets::text_field(ui, "Host name (FQDN)", &mut w.fqdn, 320.0);
                    w.focus_once(ui, &r);
                    let parsed = fqdn::parse_fqdn(w.fqdn.trim());
                    match &parsed {
                        Ok(f) => {
                            let mut text = format!("OK: {}", f.name);
                            for n in &f.notes {
                                text.push_str(&format!(" — {n}"));
                            }
                            ui.label(text);
                        }
                        Err(e) => {
                            ui.colored_label(ui.visuals().error_fg_color, e);
                        }
                    }
                    let exists = host_exists(&w.fqdn);
                    if exists {
                        ui.label("A certificate for this host exists in the home and will be used.");
                    } else {
                        kind_combo(ui, "host-kind", "Host key", &mut w.host_kind);
                    }
                    let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let label = if has_ca && exists { "Next" } else { "Create keys and continue" };
                    let (back, next) = nav(ui, true, label, parsed.is_ok() && !w.generating());
                    if back {
                        w.step = Step::Ca;
                    }
                    if (next || enter) && parsed.is_ok() {
                        let ca = (!has_ca).then(|| (w.ca_name.trim().to_string(), w.ca_kind));
                        let host = (!exists).then(|| (w.fqdn.trim().to_string(), w.host_kind));
                        if ca.is_some() || host.is_some() {
                            out.push(Command::SetUpPki { ca, host });
                        }
                        w.step = Step::Target;
                    }
                }
                Step::Target => {
                    ui.heading("Install to");
                    ui.label("sendmail reads the CA, the CA directory (confCACERT_PATH), and this host's certificate and key from here.");
                    let (r, browse) = widgets::path_field(ui, "Directory", &mut w.install_dir, 360.0);
                    w.focus_once(ui, &r);
                    if browse {
                        out.push(Command::PickFile {
                            purpose: Purpose::InstallDir,
                            directory: true,
                        });
                    }
                    let ok = !w.install_dir.trim().is_empty();
                    let (back, next) = nav(ui, true, "Next", ok && !w.waiting_for_keys);
                    // Below the buttons: when it goes, nothing above moves
                    // (a click on Next as the keys arrive still lands).
                    if w.generating() {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Keys are being generated in the background…");
                        });
                    }
                    if w.waiting_for_keys {
                        ui.label("The summary follows as soon as the keys are ready.");
                    }
                    if back {
                        w.step = Step::Host;
                    }
                    if next {
                        if w.generating() {
                            w.waiting_for_keys = true;
                        } else {
                            out.push(w.plan_command());
                        }
                    }
                }
                Step::Summary => summary(ui, w, out),
                Step::Done => {
                    ui.heading("Installed");
                    if let Some(r) = &w.report {
                        for d in &r.created_dirs {
                            ui.label(format!("{} did not exist: created (mode 0755).", d.display()));
                        }
                        for f in &r.plan.files {
                            ui.monospace(format!("{:04o}  {}", f.mode, f.path.display()));
                        }
                        ui.label(format!(
                            "{}: {} hash link(s) made, {} kept, {} removed",
                            r.plan.capath.display(),
                            r.rehash.created + r.rehash.replaced,
                            r.rehash.kept,
                            r.rehash.removed
                        ));
                        for warn in &r.warnings {
                            ui.colored_label(ui.visuals().warn_fg_color, warn);
                        }
                        ui.add_space(8.0);
                        ui.label("Add these lines to sendmail.mc, then rebuild sendmail.cf (make -C /etc/mail) and restart sendmail:");
                        if widgets::copy_row(ui, r.mc_lines.trim_end(), "the sendmail.mc lines") {
                            out.push(Command::CopyText(r.mc_lines.clone()));
                        }
                        ui.add_space(8.0);
                        ui.label("Next: let partner hosts relay by certificate in the Access map tab, and try a handshake in the Live test tab.");
                        ui.horizontal(|ui| {
                            if ui.button("Open the access map").clicked() {
                                out.push(Command::ShowTab(Tab::Access));
                            }
                            if ui.button("Live test").clicked() {
                                out.push(Command::ShowTab(Tab::Live));
                            }
                            if ui.button("Start over").clicked() {
                                w.step = Step::Welcome;
                            }
                        });
                    }
                }
            }
        });
}

fn summary(ui: &mut egui::Ui, w: &mut WizardView, pending: &mut Sink) {
    ui.heading("Summary");
    let Some(p) = &w.plan else {
        ui.spinner();
        return;
    };
    ui.label(format!(
        "Install writes these files under {}:",
        p.plan.to.display()
    ));
    egui::Grid::new("plan-files").striped(true).show(ui, |ui| {
        ui.strong("File");
        ui.strong("Mode");
        ui.strong("What happens");
        ui.end_row();
        for f in &p.plan.files {
            ui.monospace(f.path.display().to_string());
            ui.monospace(format!("{:04o}", f.mode));
            let (text, warn) = match f.state {
                FileState::New => ("new".to_string(), false),
                FileState::Unchanged => ("unchanged".to_string(), false),
                FileState::ModeFixed { from } => (format!("mode fixed (was {from:04o})"), false),
                FileState::Replaced if f.secret => (
                    "REPLACED (a private key: content not shown)".to_string(),
                    true,
                ),
                FileState::Replaced => ("REPLACED — see the diff below".to_string(), true),
            };
            if warn {
                ui.colored_label(ui.visuals().warn_fg_color, text);
            } else {
                ui.label(text);
            }
            ui.end_row();
        }
    });
    ui.label(format!(
        "{}: the CA file plus its subject-hash link, made like `openssl rehash`.",
        p.plan.capath.display()
    ));
    for (path, diff) in &p.diffs {
        ui.collapsing(format!("Changes to {}", path.display()), |ui| {
            widgets::diff_view(ui, &path.display().to_string(), diff, 200.0);
        });
    }
    for warn in &p.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, format!("Warning: {warn}"));
    }
    ui.add_space(8.0);
    ui.label("The sendmail.mc lines:");
    if widgets::copy_row(ui, p.mc_lines.trim_end(), "the sendmail.mc lines") {
        pending.push(Command::CopyText(p.mc_lines.clone()));
    }
    let (back, next) = nav(ui, true, "Install", true);
    if back {
        w.step = Step::Target;
    }
    if next {
        pending.push(Command::ApplyInstall {
            fqdn: p.plan.fqdn.clone(),
            to: p.plan.to.clone(),
        });
    }
}
