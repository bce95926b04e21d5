//! Doctor: audits an existing sendmail TLS setup with the same code as
//! `starttls-studio doctor` (paths from sendmail.mc/sendmail.cf, or typed),
//! and offers each safe fix as one click.

use super::commands::{Command, Sink};
use super::view::ViewCtx;
use crate::store::doctor::{DoctorInput, FixAction, Overrides, Report, Severity};
use eframe::egui;
use std::path::PathBuf;

pub struct DoctorView {
    pub mc: String,
    pub cf: String,
    pub ca_path: String,
    pub ca_file: String,
    pub cert: String,
    pub key: String,
    pub access: String,
    pub show_info: bool,
    /// The "put an install into sendmail.mc" section.
    pub mc_form: super::mc_form::McForm,
}

impl Default for DoctorView {
    fn default() -> Self {
        let sys = DoctorInput::system();
        let text = |p: Option<PathBuf>| p.map(|p| p.display().to_string()).unwrap_or_default();
        DoctorView {
            mc: text(sys.mc),
            cf: text(sys.cf),
            ca_path: String::new(),
            ca_file: String::new(),
            cert: String::new(),
            key: String::new(),
            access: String::new(),
            show_info: true,
            mc_form: Default::default(),
        }
    }
}

impl DoctorView {
    pub fn input(&self) -> DoctorInput {
        let p = |s: &str| (!s.trim().is_empty()).then(|| PathBuf::from(s.trim()));
        DoctorInput {
            mc: p(&self.mc),
            cf: p(&self.cf),
            overrides: Overrides {
                ca_file: p(&self.ca_file),
                ca_path: p(&self.ca_path),
                server_cert: p(&self.cert),
                server_key: p(&self.key),
                client_cert: p(&self.cert),
                client_key: p(&self.key),
                crl: None,
                access: p(&self.access),
            },
        }
    }
}

fn severity_color(ui: &egui::Ui, s: Severity) -> egui::Color32 {
    match s {
        Severity::Error => ui.visuals().error_fg_color,
        Severity::Warning => ui.visuals().warn_fg_color,
        Severity::Info => ui.visuals().weak_text_color(),
    }
}

pub fn show(v: &mut DoctorView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let running = cx.jobs.busy().any(|j| j.name.starts_with("doctor"));
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        ui.heading("Check a sendmail setup");
        ui.label("Reads the TLS settings from sendmail.mc and sendmail.cf (the cf wins: it is what sendmail reads), or the paths you type, and checks what sendmail checks: files, keys, chains, hash links, modes, expiry, the access map.");
        egui::Grid::new("doctor-paths").num_columns(2).show(ui, |ui| {
            for (label, value) in [
                ("sendmail.mc", &mut v.mc),
                ("sendmail.cf", &mut v.cf),
                ("CA directory (confCACERT_PATH)", &mut v.ca_path),
                ("CA file (confCACERT)", &mut v.ca_file),
                ("Certificate", &mut v.cert),
                ("Key", &mut v.key),
                ("Access file", &mut v.access),
            ] {
                let l = ui.label(label);
                ui.add(egui::TextEdit::singleline(value)
                        .id_salt(("doctor", label))
                        .desired_width(420.0).hint_text("from the configuration"))
                    .labelled_by(l.id);
                ui.end_row();
            }
        });
        // The installs this home made (the wizard's among them): one click
        // fills the four TLS paths and runs the checks.
        if let Some(st) = cx.status {
            let installs: Vec<_> = st.installs.iter().filter(|i| i.state != "not in the home").collect();
            if !installs.is_empty() {
                ui.horizontal_wrapped(|ui| {
                    ui.label("Check an install of this home:");
                    for i in installs {
                        let label = format!("{} in {}", i.fqdn, i.dir.display());
                        if ui.add_enabled(!running, egui::Button::new(&label)).on_hover_text("fills the CA directory, CA file, certificate and key with that install's files and runs the checks").clicked() {
                            v.ca_path = i.dir.join("certs").display().to_string();
                            v.ca_file = i.dir.join("CAcert.pem").display().to_string();
                            v.cert = i.dir.join(format!("{}.crt", i.fqdn)).display().to_string();
                            v.key = i.dir.join(format!("{}.key", i.fqdn)).display().to_string();
                            out.push(Command::RunDoctor(v.input()));
                        }
                    }
                });
            }
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(!running, egui::Button::new("Run checks")).clicked() {
                out.push(Command::RunDoctor(v.input()));
            }
            ui.checkbox(&mut v.show_info, "Show information");
            if running {
                ui.spinner();
            }
        });
        egui::CollapsingHeader::new("Put an install into sendmail.mc (mc apply)")
            .id_salt("mc-apply-section")
            .default_open(cx.mc_plan.is_some() || cx.mc_result.is_some())
            .show(ui, |ui| super::mc_form::show(&mut v.mc_form, &v.mc, cx, out, ui));
        let Some(report) = cx.doctor_report else {
            return;
        };
        ui.separator();
        summary(ui, report);
        let actions = report.actions();
        if !actions.is_empty()
            && ui
                .add_enabled(!running, egui::Button::new(format!("Apply the {} safe fix(es)", actions.len())))
                .on_hover_text(actions.iter().map(describe).collect::<Vec<_>>().join("\n"))
                .clicked()
        {
            out.push(Command::ApplyFixes {
                actions,
                then: v.input(),
            });
        }
        let show_info = v.show_info;
        for (i, f) in report.findings.iter().enumerate() {
            if f.severity == Severity::Info && !show_info {
                continue;
            }
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal_wrapped(|ui| {
                    ui.colored_label(severity_color(ui, f.severity), f.severity.to_string());
                    ui.monospace(f.id);
                    ui.label(&f.message);
                });
                ui.label(egui::RichText::new(&f.explanation).weak());
                if let Some(fix) = &f.fix {
                    ui.horizontal_wrapped(|ui| {
                        ui.label(format!("Fix: {}", fix.description));
                        if let Some(a) = &fix.action {
                            let r = ui
                                .push_id(i, |ui| ui.add_enabled(!running, egui::Button::new("Fix")))
                                .inner;
                            if r.on_hover_text(describe(a)).clicked() {
                                out.push(Command::ApplyFixes {
                                    actions: vec![a.clone()],
                                    then: v.input(),
                                });
                            }
                        } else if ui
                            .push_id(i, |ui| ui.small_button("Copy"))
                            .inner
                            .on_hover_text("Copy the fix")
                            .clicked()
                        {
                            out.push(Command::CopyText(fix.description.clone()));
                        }
                    });
                }
            });
        }
    });
}

fn summary(ui: &mut egui::Ui, r: &Report) {
    let (e, w, i) = (
        r.count(Severity::Error),
        r.count(Severity::Warning),
        r.count(Severity::Info),
    );
    let color = if e > 0 {
        ui.visuals().error_fg_color
    } else if w > 0 {
        ui.visuals().warn_fg_color
    } else {
        egui::Color32::from_rgb(0x2e, 0x9e, 0x4f)
    };
    ui.colored_label(color, format!("{e} error(s), {w} warning(s), {i} note(s)"));
    if !r.sources.is_empty() {
        ui.label(format!(
            "Read: {}",
            r.sources
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

pub fn describe(a: &FixAction) -> String {
    match a {
        FixAction::Chmod { path, mode } => format!("chmod {mode:04o} {}", path.display()),
        FixAction::Rehash { dir } => format!("starttls-studio rehash {}", dir.display()),
        FixAction::Makemap { access } => format!("makemap hash {0} < {0}", access.display()),
    }
}
