//! The desktop face (eframe/egui). For now it shows the CA and the issued
//! certificates read-only; the wizard, editor and live test grow here.
//!
//! The UI thread never touches the disk: loading runs on a named background
//! thread and the frame polls its result.

use crate::core::cert::CertInfo;
use crate::store::home::{Home, HostEntry};
use crate::store::Error;
use eframe::egui;
use std::sync::mpsc::{self, Receiver};

/// What the background loader found in the home.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub ca: Option<CertInfo>,
    pub hosts: Vec<HostEntry>,
}

/// Loads the home's CA and certificates (the same calls as `ca show` and
/// `cert list`).
pub fn load(home: &Home) -> Result<Snapshot, String> {
    let ca = home.ca_info().map_err(|e| e.to_string())?;
    let hosts = home.list().map_err(|e| e.to_string())?;
    Ok(Snapshot { ca, hosts })
}

/// Application state, separate from what the widgets hold.
pub struct StudioApp {
    home: Home,
    snapshot: Option<Result<Snapshot, String>>,
    loading: Option<Receiver<Result<Snapshot, String>>>,
    filter: String,
}

impl StudioApp {
    pub fn new(home: Home) -> Self {
        let mut app = StudioApp {
            home,
            snapshot: None,
            loading: None,
            filter: String::new(),
        };
        app.reload(None);
        app
    }

    /// Starts a background reload (a no-op while one is running).
    fn reload(&mut self, ctx: Option<&egui::Context>) {
        if self.loading.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let home = self.home.clone();
        let ctx = ctx.cloned();
        let spawned = std::thread::Builder::new()
            .name("load-home".into())
            .spawn(move || {
                let _ = tx.send(load(&home));
                if let Some(ctx) = ctx {
                    ctx.request_repaint();
                }
            });
        match spawned {
            Ok(_) => self.loading = Some(rx),
            Err(e) => self.snapshot = Some(Err(format!("cannot start the loader: {e}"))),
        }
    }

    fn poll(&mut self) {
        if let Some(rx) = &self.loading {
            match rx.try_recv() {
                Ok(r) => {
                    self.snapshot = Some(r);
                    self.loading = None;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.snapshot = Some(Err("the loader stopped unexpectedly".into()));
                    self.loading = None;
                }
            }
        }
    }

    fn expiry_label(ui: &mut egui::Ui, info: &CertInfo) {
        let days = info.days_left(time::OffsetDateTime::now_utc().unix_timestamp());
        let (text, color) = if days < 0 {
            (
                format!("expired {} days ago", -days),
                ui.visuals().error_fg_color,
            )
        } else if days < 30 {
            (format!("{days} days left"), ui.visuals().warn_fg_color)
        } else {
            (format!("{days} days left"), ui.visuals().text_color())
        };
        ui.label(egui::RichText::new(text).color(color));
    }

    fn ca_panel(ui: &mut egui::Ui, ca: Option<&CertInfo>, home: &Home) {
        ui.heading("Certificate authority");
        match ca {
            None => {
                ui.label(format!("No CA in {} yet.", home.root.display()));
                ui.label("Create one with: starttls-studio ca init --cn \"My Mail CA\"");
            }
            Some(ca) => {
                egui::Grid::new("ca")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        ui.label("Subject");
                        ui.label(&ca.subject);
                        ui.end_row();
                        ui.label("sendmail form");
                        ui.horizontal(|ui| {
                            ui.monospace(&ca.subject_sendmail);
                            if ui
                                .button("Copy")
                                .on_hover_text("Copy the ${cert_issuer} form")
                                .clicked()
                            {
                                ui.ctx().copy_text(ca.subject_sendmail.clone());
                            }
                        });
                        ui.end_row();
                        ui.label("Key");
                        ui.label(format!("{} {} bits", ca.key_type, ca.key_bits));
                        ui.end_row();
                        ui.label("Expires");
                        ui.horizontal(|ui| {
                            ui.label(&ca.not_after);
                            Self::expiry_label(ui, ca);
                        });
                        ui.end_row();
                        ui.label("Subject hash");
                        ui.monospace(format!("{}.0", ca.subject_hash));
                        ui.end_row();
                    });
            }
        }
    }

    fn hosts_panel(&mut self, ui: &mut egui::Ui, hosts: &[HostEntry]) {
        ui.heading("Host certificates");
        ui.horizontal(|ui| {
            ui.label("Filter:");
            ui.text_edit_singleline(&mut self.filter);
        });
        let needle = self.filter.to_lowercase();
        let shown: Vec<&HostEntry> = hosts.iter().filter(|h| h.fqdn.contains(&needle)).collect();
        if shown.is_empty() {
            ui.label(if hosts.is_empty() {
                "No host certificates yet: starttls-studio cert issue mx.example.org"
            } else {
                "No certificate matches the filter."
            });
            return;
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("hosts")
                .num_columns(5)
                .striped(true)
                .show(ui, |ui| {
                    for h in ["Host", "Key", "Expires", "", "${cert_subject}"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for h in shown {
                        ui.label(&h.fqdn);
                        ui.label(format!("{} {}", h.info.key_type, h.info.key_bits));
                        ui.label(&h.info.not_after);
                        Self::expiry_label(ui, &h.info);
                        ui.horizontal(|ui| {
                            ui.monospace(&h.info.subject_sendmail);
                            if ui.small_button("Copy").clicked() {
                                ui.ctx().copy_text(h.info.subject_sendmail.clone());
                            }
                        });
                        ui.end_row();
                    }
                });
        });
    }
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll();
        let ctx = ui.ctx().clone();
        if ctx.input(|i| i.key_pressed(egui::Key::F5)) {
            self.reload(Some(&ctx));
        }
        egui::Panel::top("top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("starttls-studio");
                ui.label(format!("home: {}", self.home.root.display()));
                let busy = self.loading.is_some();
                if ui
                    .add_enabled(!busy, egui::Button::new("Reload (F5)"))
                    .clicked()
                {
                    self.reload(Some(&ctx));
                }
                if busy {
                    ui.spinner();
                }
            });
        });
        egui::CentralPanel::default().show(ui, |ui| match self.snapshot.clone() {
            None => {
                ui.spinner();
            }
            Some(Err(e)) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Cannot read the home: {e}"),
                );
            }
            Some(Ok(snap)) => {
                Self::ca_panel(ui, snap.ca.as_ref(), &self.home);
                ui.separator();
                self.hosts_panel(ui, &snap.hosts);
            }
        });
        if self.loading.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }
}

/// Opens the window; returns the exit status when it closes.
pub fn run(home: Home) -> Result<i32, Error> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("starttls-studio")
            .with_app_id(crate::APP_ID)
            .with_inner_size([960.0, 640.0]),
        ..Default::default()
    };
    eframe::run_native("starttls-studio", options, Box::new(|_cc| Ok(Box::new(StudioApp::new(home)))))
        .map_err(|e| Error::Refused {
            message: format!("cannot open the GUI window: {e}"),
            hint: Some("is a display available (DISPLAY or WAYLAND_DISPLAY)? Every action is also a subcommand: see --help".into()),
        })?;
    Ok(0)
}
