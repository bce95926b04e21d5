//! Partners: the CAs an install trusts (`trust list`), what the access map
//! says about each, and the partner flow: look at a CA file first (what it
//! holds, whether it would be refused), trust it (optionally announced),
//! then let it relay as a separate step in the access map (whose save shows
//! the diff before it writes). Removing asks first. The work is
//! `store::trust`'s, the same as the CLI's.

use super::commands::{AccessEdit, Command, Sink};
pub use super::commands::{PartnersState, TrustPreview};
use super::view::ViewCtx;
use super::Tab;
use crate::core::cert::CertInfo;
use eframe::egui;
use std::path::PathBuf;

#[derive(Default)]
pub struct PartnersView {
    pub dir: String,
    pub file: String,
    pub announce: bool,
    /// For a PKCS#12 file (never saved).
    pub passphrase: String,
    /// The fingerprint whose removal awaits a yes.
    pub confirm_remove: Option<String>,
    /// The install directory was filled in from the snapshot once (an
    /// emptied field stays empty).
    pub prefilled: bool,
}

/// The access map's lines (1-based) whose key names this CA's subject.
fn lines_naming(cx: &ViewCtx, ca: &CertInfo) -> Vec<(usize, String)> {
    let Some(doc) = cx.access else {
        return Vec::new();
    };
    doc.map
        .entries()
        .filter(|(_, e)| {
            let k = e.key();
            k.len() > 11
                && k[..11].eq_ignore_ascii_case("CERTISSUER:")
                && k[11..] == ca.subject_sendmail
        })
        .map(|(l, e)| (l, format!("{} {}", e.key(), e.value())))
        .collect()
}

fn passphrase(v: &PartnersView) -> Option<String> {
    (!v.passphrase.is_empty()).then(|| v.passphrase.clone())
}

pub fn show(v: &mut PartnersView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let running = cx.jobs.busy().any(|j| j.name.starts_with("partners"));
    if !v.prefilled {
        if let Some(s) = cx.snapshot {
            v.dir = s.default_install_dir.display().to_string();
            v.prefilled = true;
        }
    }
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        ui.heading("Partners");
        ui.label("The CAs this install trusts for verifying peers (its CA directory, sendmail's confCACERT_PATH). Trusting a CA gives its certificates verify=OK; relaying is a separate access-map entry.");
        ui.horizontal(|ui| {
            let l = ui.label("Install directory");
            ui.add(egui::TextEdit::singleline(&mut v.dir).id_salt("partners-dir").desired_width(360.0))
                .labelled_by(l.id);
            if ui.add_enabled(!running && !v.dir.trim().is_empty(), egui::Button::new("Show trusted CAs")).clicked() {
                out.push(Command::LoadPartners { dir: PathBuf::from(v.dir.trim()) });
            }
            if running {
                ui.spinner();
            }
        });
        if let Some(p) = cx.partners {
            ui.separator();
            ui.label(format!("{} CA(s) in {}", p.cas.len(), p.dir.join("certs").display()));
            if cx.access.is_none() {
                ui.horizontal(|ui| {
                    ui.label("The access map is not open, so its lines for each CA are not shown.");
                    if ui.button("Open the access map").clicked() {
                        out.push(Command::ShowTab(Tab::Access));
                    }
                });
            }
            for (i, c) in p.cas.iter().enumerate() {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal_wrapped(|ui| {
                        ui.strong(&c.info.subject);
                        if c.ours {
                            ui.label("(this home's CA)");
                        }
                        if c.announced {
                            ui.label("announced to clients");
                        }
                        if c.file.is_none() {
                            ui.colored_label(ui.visuals().warn_fg_color, "only in CAcert.pem: not in the CA directory");
                        }
                    });
                    ui.label(egui::RichText::new(format!("expires {} · sha256 {}", c.info.not_after, c.info.sha256_fingerprint)).weak());
                    let lines = lines_naming(cx, &c.info);
                    if cx.access.is_some() {
                        if lines.is_empty() {
                            ui.label("No access line names it: its certificates verify but relay only through other rules.");
                        }
                        for (l, text) in &lines {
                            ui.monospace(format!("line {l}: {text}"));
                        }
                    }
                    ui.horizontal(|ui| {
                        ui.push_id(i, |ui| {
                            if cx.access.is_some() && lines.is_empty() && ui.button("Let its certificates relay…").on_hover_text("Adds CERTISSUER:… RELAY to the open access map; save it there (the diff is shown before it writes)").clicked() {
                                out.push(Command::EditAccess(AccessEdit::CertRelay { issuer: c.info.subject_sendmail.clone(), subject: None }));
                                out.push(Command::ShowTab(Tab::Access));
                            }
                            if ui.small_button("Copy the relay line").clicked() {
                                out.push(Command::CopyText(format!("CERTISSUER:{}\tRELAY", c.info.subject_sendmail)));
                            }
                            let fp = c.info.sha256_fingerprint.clone();
                            if v.confirm_remove.as_deref() == Some(fp.as_str()) {
                                ui.label(if c.ours { "This is your own CA: removing it breaks your hosts' verification. Remove anyway?" } else { "Stop trusting it?" });
                                if ui.button("Yes, remove").clicked() {
                                    v.confirm_remove = None;
                                    out.push(Command::TrustRemove { dir: p.dir.clone(), fingerprint: fp.clone(), force: c.ours });
                                }
                                if ui.button("Cancel").clicked() {
                                    v.confirm_remove = None;
                                }
                            } else if ui.add_enabled(!running, egui::Button::new("Remove…")).clicked() {
                                v.confirm_remove = Some(fp);
                            }
                        });
                    });
                });
            }
        }
        ui.separator();
        ui.heading("Trust a partner's CA");
        ui.horizontal(|ui| {
            let l = ui.label("CA certificate file");
            ui.add(egui::TextEdit::singleline(&mut v.file).id_salt("partners-file").desired_width(360.0).hint_text("partner-root-ca.pem, or .p12/.pfx"))
                .labelled_by(l.id);
            if ui.add_enabled(!running && !v.file.trim().is_empty(), egui::Button::new("Look at it")).clicked() {
                out.push(Command::PreviewTrust { file: PathBuf::from(v.file.trim()), passphrase: passphrase(v) });
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Passphrase (.p12/.pfx only)");
            ui.add(egui::TextEdit::singleline(&mut v.passphrase).id_salt("partners-pass").password(true).desired_width(200.0))
                .labelled_by(l.id);
        });
        ui.checkbox(&mut v.announce, "Also name it to clients (CAcert.pem): only for CAs whose clients must be asked by name");
        if let Some(pv) = cx.trust_preview {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.set_width(ui.available_width());
                for c in &pv.certs {
                    ui.label(format!(
                        "{} — {}, expires {}",
                        c.subject,
                        if c.is_trust_anchor() { "a CA" } else { "not a CA" },
                        c.not_after
                    ));
                }
                match &pv.refused {
                    Some(why) => {
                        ui.colored_label(ui.visuals().error_fg_color, why);
                    }
                    None => {
                        let dir = PathBuf::from(v.dir.trim());
                        ui.label(format!(
                            "Trusting writes {} file(s) into {} and rehashes it{}.",
                            pv.certs.len(),
                            dir.join("certs").display(),
                            if v.announce { ", and adds it to CAcert.pem" } else { "" }
                        ));
                        if ui.add_enabled(!running && !v.dir.trim().is_empty(), egui::Button::new("Trust it")).clicked() {
                            out.push(Command::TrustAdd { file: pv.file.clone(), dir, announce: v.announce, passphrase: passphrase(v) });
                        }
                    }
                }
            });
        }
    });
}
