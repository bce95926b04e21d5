//! Overview: what an admin opens the app for after day one — the CA and
//! the hosts with days left, each install and whether it matches the
//! home, the CRL, the renewal timer (all from `status`, the same as the
//! CLI's), the doctor's last verdict, the partners and the last live test;
//! each with a way to its view.

use super::commands::{Command, Sink};
use super::view::ViewCtx;
use super::Tab;
use crate::store::doctor::Severity;
use eframe::egui;

fn ok_color() -> egui::Color32 {
    egui::Color32::from_rgb(0x2e, 0x9e, 0x4f)
}

/// A status word in colour, with the word itself (never colour alone).
fn badge(ui: &mut egui::Ui, good: bool, warn: bool, text: &str) {
    let c = if good {
        ok_color()
    } else if warn {
        ui.visuals().warn_fg_color
    } else {
        ui.visuals().error_fg_color
    };
    ui.colored_label(c, text);
}

fn section(
    ui: &mut egui::Ui,
    out: &mut Sink,
    title: &str,
    open: Option<(Tab, &str)>,
    body: impl FnOnce(&mut egui::Ui, &mut Sink),
) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.strong(title);
            if let Some((tab, label)) = open {
                if ui.small_button(label).clicked() {
                    out.push(Command::ShowTab(tab));
                }
            }
        });
        body(ui, out);
    });
}

pub fn show(cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.heading("Overview");
            let Some(st) = cx.status else {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Reading the certificates and installs…");
                });
                return;
            };
            if st.problems.is_empty() {
                badge(
                    ui,
                    true,
                    false,
                    "All certificates valid, every install current.",
                );
            } else {
                badge(
                    ui,
                    false,
                    false,
                    &format!("{} problem(s):", st.problems.len()),
                );
                for p in &st.problems {
                    ui.label(format!("• {p}"));
                }
            }
            for w in &st.warnings {
                badge(ui, false, true, &format!("• {w}"));
            }
            section(
                ui,
                out,
                "The CA and the hosts",
                Some((Tab::Certificates, "Open Certificates")),
                |ui, _| {
                    match &st.ca {
                        Some(c) => {
                            ui.label(format!("CA {} — {} days left", c.subject, c.days_left));
                        }
                        None => {
                            ui.label("No CA yet: the Set up tab makes one.");
                        }
                    }
                    for h in &st.hosts {
                        ui.horizontal(|ui| {
                            badge(
                                ui,
                                h.days_left >= 30,
                                h.days_left >= 0,
                                &format!("{} days", h.days_left),
                            );
                            ui.label(format!(
                                "{}{}",
                                h.name,
                                if h.partner_key {
                                    " (a partner's key)"
                                } else {
                                    ""
                                }
                            ));
                        });
                    }
                },
            );
            section(
                ui,
                out,
                "Installs",
                Some((Tab::Setup, "Open Set up")),
                |ui, _| {
                    if st.installs.is_empty() {
                        ui.label("Nothing installed from this home yet.");
                    }
                    for i in &st.installs {
                        ui.horizontal(|ui| {
                            badge(ui, i.state == "current", false, i.state);
                            ui.label(format!("{} in {}", i.fqdn, i.dir.display()));
                        });
                    }
                    if let Some(c) = &st.crl {
                        ui.label(format!(
                            "CRL: next update {} ({} days)",
                            c.next_update, c.days_left
                        ));
                    }
                    ui.label(format!("Renewal: {}", st.timer.describe()));
                },
            );
            section(
                ui,
                out,
                "sendmail's setup (Doctor)",
                Some((Tab::Doctor, "Open Doctor")),
                |ui, out| match cx.doctor_report {
                    Some(r) => {
                        let (e, w) = (r.count(Severity::Error), r.count(Severity::Warning));
                        badge(
                            ui,
                            e == 0 && w == 0,
                            e == 0,
                            &format!("{e} error(s), {w} warning(s)"),
                        );
                    }
                    None => {
                        ui.label("Not checked in this session.");
                        if ui.small_button("Check now").clicked() {
                            out.push(Command::RunDoctor(
                                crate::store::doctor::DoctorInput::system(),
                            ));
                            out.push(Command::ShowTab(Tab::Doctor));
                        }
                    }
                },
            );
            section(
                ui,
                out,
                "Trusted partners",
                Some((Tab::Partners, "Open Partners")),
                |ui, _| match cx.partners {
                    Some(p) => {
                        ui.label(format!(
                            "{} CA(s) trusted in {}, {} announced",
                            p.cas.len(),
                            p.dir.display(),
                            p.cas.iter().filter(|c| c.announced).count()
                        ));
                    }
                    None => {
                        ui.label("Not listed in this session.");
                    }
                },
            );
            section(
                ui,
                out,
                "The last live test",
                Some((Tab::Live, "Open Live test")),
                |ui, _| match cx.own_probe {
                    Some(r) => {
                        badge(
                            ui,
                            r.starttls && r.verify == crate::core::verify::Verify::Ok,
                            r.starttls,
                            &format!(
                                "{}: STARTTLS {}, verify={}",
                                r.target,
                                if r.starttls { "yes" } else { "no" },
                                r.verify
                            ),
                        );
                    }
                    None => {
                        ui.label("No live test in this session.");
                    }
                },
            );
            section(
                ui,
                out,
                "sendmail's log",
                Some((Tab::Log, "Open Log")),
                |ui, _| match &cx.log.source {
                    Some(p) => {
                        let errors = cx
                            .log
                            .lines
                            .iter()
                            .filter(|e| e.severity == crate::core::maillog::Severity::Error)
                            .count();
                        let warnings = cx
                            .log
                            .lines
                            .iter()
                            .filter(|e| e.severity == crate::core::maillog::Severity::Warning)
                            .count();
                        badge(
                            ui,
                            errors == 0 && warnings == 0,
                            errors == 0,
                            &format!(
                                "{}: {} line(s) read, {errors} error(s), {warnings} warning(s) among the last {}",
                                p,
                                cx.log.read,
                                cx.log.lines.len()
                            ),
                        );
                    }
                    None => {
                        ui.label("Not read in this session.");
                    }
                },
            );
        });
}
