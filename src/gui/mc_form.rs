//! The doctor tab's "put an install into sendmail.mc" section: `mc apply`
//! with a preview first (the diff, what m4 builds) and a question before
//! anything is written. The work is `net::deploy`, the same as the CLI's.

use super::commands::{Command, Sink};
use super::view::ViewCtx;
use crate::net::deploy::ApplyOptions;
use eframe::egui;
use std::path::PathBuf;

#[derive(Default)]
pub struct McForm {
    pub to: String,
    pub fqdn: String,
    pub rebuild: bool,
    pub restart: bool,
    pub restart_command: String,
    /// The question "write it?" is open.
    pub confirm: bool,
}

impl McForm {
    fn options(&self, mc: &str, dry_run: bool, expect_new: Option<String>) -> ApplyOptions {
        let t = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        ApplyOptions {
            to: PathBuf::from(self.to.trim()),
            mc: PathBuf::from(t(mc).unwrap_or_else(|| "/etc/mail/sendmail.mc".into())),
            fqdn: t(&self.fqdn),
            dry_run,
            rebuild: self.rebuild || self.restart,
            cf: None,
            restart: self.restart.then(|| t(&self.restart_command)),
            probe: None,
            expect_new,
        }
    }
}

pub fn show(f: &mut McForm, mc: &str, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let running = cx.jobs.busy().any(|j| j.name.starts_with("mc "));
    ui.label(format!(
        "Writes the six TLS settings of an install (`install FQDN --to DIR`) into {} after every earlier definition of them (Debian's starttls.m4 include too), so they win. You see the change first; the old file is kept as .bak.",
        if mc.trim().is_empty() { "/etc/mail/sendmail.mc" } else { mc.trim() }
    ));
    egui::Grid::new("mc-apply").num_columns(2).show(ui, |ui| {
        let l = ui.label("Install directory");
        ui.add(
            egui::TextEdit::singleline(&mut f.to)
                .id_salt("mc-to")
                .desired_width(420.0)
                .hint_text("/etc/mail/tls"),
        )
        .labelled_by(l.id);
        ui.end_row();
        let l = ui.label("Host (when the directory holds several)");
        ui.add(
            egui::TextEdit::singleline(&mut f.fqdn)
                .id_salt("mc-fqdn")
                .desired_width(420.0)
                .hint_text("the only one there"),
        )
        .labelled_by(l.id);
        ui.end_row();
    });
    ui.checkbox(
        &mut f.rebuild,
        "Rebuild sendmail.cf (sendmail reads the new cf before it replaces the old one)",
    );
    ui.checkbox(
        &mut f.restart,
        "Restart sendmail and check the certificate it serves (puts the old files back if it does not)",
    );
    if f.restart {
        ui.horizontal(|ui| {
            let l = ui.label("Restart command");
            ui.add(
                egui::TextEdit::singleline(&mut f.restart_command)
                    .id_salt("mc-restart")
                    .desired_width(320.0)
                    .hint_text("systemctl restart sendmail"),
            )
            .labelled_by(l.id);
        });
    }
    ui.horizontal(|ui| {
        let ready = !f.to.trim().is_empty() && !running;
        if ui
            .add_enabled(ready, egui::Button::new("Preview the change"))
            .clicked()
        {
            f.confirm = false;
            out.push(Command::McApply(f.options(mc, true, None)));
        }
        if running {
            ui.spinner();
        }
    });
    if let Some((plan, refused)) = cx.mc_plan {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            if let Some(e) = refused {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Would be refused: {e}"),
                );
            }
            if plan.changes() {
                ui.label(format!("The change to {}:", plan.mc.display()));
                egui::ScrollArea::vertical()
                    .id_salt("mc-diff")
                    .max_height(260.0)
                    .show(ui, |ui| {
                        ui.monospace(&plan.diff);
                    });
            } else {
                ui.label(format!("{} already has these settings.", plan.mc.display()));
            }
            for n in &plan.notes {
                ui.label(format!("• {n}"));
            }
            ui.label(egui::RichText::new(plan.check_summary()).weak());
            let worth = plan.changes() || f.rebuild || f.restart;
            if refused.is_none() && worth && !running {
                if !f.confirm {
                    if ui.button("Apply…").clicked() {
                        f.confirm = true;
                    }
                } else {
                    ui.label(format!(
                        "Write {}{}? The previous version goes to {}.bak.",
                        plan.mc.display(),
                        if f.restart {
                            ", rebuild sendmail.cf and restart sendmail"
                        } else if f.rebuild {
                            " and rebuild sendmail.cf"
                        } else {
                            ""
                        },
                        plan.mc.display()
                    ));
                    ui.horizontal(|ui| {
                        if ui.button("Yes, write it").clicked() {
                            f.confirm = false;
                            out.push(Command::McApply(f.options(
                                mc,
                                false,
                                Some(plan.new.clone()),
                            )));
                        }
                        if ui.button("Cancel").clicked() {
                            f.confirm = false;
                        }
                    });
                }
            }
        });
    }
    if let Some((ok, steps)) = cx.mc_result {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            let color = if *ok {
                egui::Color32::from_rgb(0x2e, 0x9e, 0x4f)
            } else {
                ui.visuals().error_fg_color
            };
            ui.colored_label(
                color,
                if *ok {
                    "Done."
                } else {
                    "Not done: rolled back."
                },
            );
            for s in steps {
                ui.label(s);
            }
        });
    }
}
