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
    /// Onboarding: the partner's client certificate, its key, its host.
    pub cert: String,
    pub key: String,
    pub host: String,
    /// A partner's certificate request to sign.
    pub csr: String,
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
                    // The last live-test session with a certificate it issued.
                    if let Some(s) = cx.sessions.iter().rev().find(|s| s.cert_issuer.as_deref() == Some(c.info.subject_sendmail.as_str())) {
                        ui.label(format!(
                            "Last live test with its certificate: {} from {}, verify={}{}",
                            s.cert_subject.as_deref().unwrap_or("?"),
                            s.peer,
                            s.verify,
                            s.decisions.last().map(|d| format!(", {}: {:?}", d.ruleset, d.outcome)).unwrap_or_default()
                        ));
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
        ui.separator();
        onboard(v, cx, out, ui, running);
    });
}

/// The rest of the partner flow, for one partner host: its certificate,
/// the relay rule (its whole CA, or this certificate only), a TLS_Clt
/// requirement for its host, and a live test with its certificate against
/// the embedded server; or, for a partner who keeps its key, signing its
/// request. Each access change opens in the access editor, whose save
/// shows the diff before it writes.
fn onboard(v: &mut PartnersView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui, running: bool) {
    ui.heading("Onboard a partner's host");
    ui.label("With its client certificate (PEM, or .p12 with the passphrase above): the rule that lets it relay, a requirement for its host, and a live test. A partner who keeps its key sends a request (CSR) instead: sign it below.");
    ui.horizontal(|ui| {
        let l = ui.label("Its certificate");
        ui.add(
            egui::TextEdit::singleline(&mut v.cert)
                .id_salt("partners-cert")
                .desired_width(300.0)
                .hint_text("mta.partner.example.crt or .p12"),
        )
        .labelled_by(l.id);
        if ui
            .add_enabled(
                !running && !v.cert.trim().is_empty(),
                egui::Button::new("Read it"),
            )
            .clicked()
        {
            out.push(Command::LoadPartnerCert {
                path: PathBuf::from(v.cert.trim()),
                passphrase: passphrase(v),
            });
        }
    });
    let Some((path, certs)) = cx
        .partner_cert
        .filter(|(p, _)| p.as_path() == std::path::Path::new(v.cert.trim()))
    else {
        sign_request(v, cx, out, ui, running);
        return;
    };
    let Some(leaf) = certs.first() else { return };
    if v.host.is_empty() {
        v.host = leaf.subject_cn.clone().unwrap_or_default();
    }
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(format!("{} — issued by {}, expires {}", leaf.subject, leaf.issuer, leaf.not_after));
        let trusted = cx.partners.is_some_and(|p| p.cas.iter().any(|c| c.info.subject_sendmail == leaf.issuer_sendmail));
        if leaf.is_ca {
            ui.colored_label(ui.visuals().warn_fg_color, "This is a CA certificate: trust it above; here give a client certificate.");
            return;
        }
        if cx.partners.is_none() {
            ui.label("Show the trusted CAs above to see whether its CA is trusted here.");
        } else if trusted {
            ui.label("1. Its CA is trusted in this install: its certificate gets verify=OK.");
        } else {
            ui.colored_label(ui.visuals().warn_fg_color, "1. Its CA is not trusted in this install: trust the CA above first (verify=FAIL until then).");
        }
        if let Some(doc) = cx.access {
            let host = v.host.trim().to_ascii_lowercase();
            let mine: Vec<String> = doc
                .map
                .entries()
                .filter(|(_, e)| {
                    let k = e.key();
                    let lower = k.to_ascii_lowercase();
                    (lower.starts_with("certsubject:") && k[12..] == leaf.subject_sendmail)
                        || (lower.starts_with("certissuer:") && k[11..] == leaf.issuer_sendmail)
                        || (!host.is_empty() && (lower == format!("tls_clt:{host}") || lower == format!("tls_srv:{host}")))
                })
                .map(|(l, e)| format!("line {l}: {} {}", e.key(), e.value()))
                .collect();
            if mine.is_empty() {
                ui.label("The access map has no line for it yet.");
            }
            for m in mine {
                ui.monospace(m);
            }
        }
        ui.label("2. Let it relay (opens the access map; saving shows the diff):");
        ui.horizontal(|ui| {
            if ui.button("Every certificate of its CA…").on_hover_text(format!("CERTISSUER:{} RELAY", leaf.issuer_sendmail)).clicked() {
                out.push(Command::EditAccess(AccessEdit::CertRelay { issuer: leaf.issuer_sendmail.clone(), subject: None }));
                out.push(Command::ShowTab(Tab::Access));
            }
            if ui.button("This certificate only…").on_hover_text(format!("CERTISSUER:{} SUBJECT, CERTSUBJECT:{} RELAY", leaf.issuer_sendmail, leaf.subject_sendmail)).clicked() {
                out.push(Command::EditAccess(AccessEdit::CertRelay { issuer: leaf.issuer_sendmail.clone(), subject: Some(leaf.subject_sendmail.clone()) }));
                out.push(Command::ShowTab(Tab::Access));
            }
        });
        ui.horizontal(|ui| {
            ui.label("3. Optionally require a verified certificate from");
            let l = ui.label("its host");
            ui.add(egui::TextEdit::singleline(&mut v.host).id_salt("partners-host").desired_width(220.0))
                .labelled_by(l.id);
            let host = v.host.trim().to_string();
            if ui.add_enabled(!host.is_empty(), egui::Button::new("Require VERIFY…")).on_hover_text(format!("TLS_Clt:{host} VERIFY")).clicked() {
                out.push(Command::EditAccess(AccessEdit::Set { key: format!("TLS_Clt:{host}"), value: "VERIFY".into() }));
                out.push(Command::ShowTab(Tab::Access));
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("4. Live test — its key (PEM; empty for a .p12)");
            ui.add(egui::TextEdit::singleline(&mut v.key).id_salt("partners-key").desired_width(260.0))
                .labelled_by(l.id);
        });
        let key = if v.key.trim().is_empty() { path.clone() } else { PathBuf::from(v.key.trim()) };
        let capath = PathBuf::from(v.dir.trim()).join("certs");
        match cx.server.addr {
            Some(addr) => {
                if ui.button("Test with its certificate").on_hover_text("A STARTTLS session from it to the embedded server: the Live test tab shows verify and the decisions").clicked() {
                    out.push(Command::Probe {
                        setup: crate::net::setup::ProbeSetup {
                            client: Some((path.clone(), key)),
                            ca_file: Some(cx.home.ca_cert_path()),
                            passphrase: passphrase(v),
                            ..crate::net::setup::ProbeSetup::new(addr.to_string())
                        },
                        own_server: true,
                    });
                    out.push(Command::ShowTab(Tab::Live));
                }
            }
            None if cx.server.running() => {
                ui.label("The server is starting…");
            }
            None => {
                let hosts = cx.snapshot.map_or(0, |s| s.hosts.len());
                if ui
                    .add_enabled(hosts > 0, egui::Button::new("Start the test server on this install's CAs"))
                    .on_hover_text(format!("The embedded server on 127.0.0.1:{}, trusting {} and applying the open access map (as saved)", cx.settings.server_port, capath.display()))
                    .clicked()
                {
                    let mut setup = crate::net::setup::ServerSetup::new(std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, cx.settings.server_port)));
                    setup.ca_path = Some(capath);
                    setup.access = cx.access.map(|d| d.path.clone());
                    setup.hostname = cx.snapshot.and_then(|s| s.hosts.first()).map(|h| h.fqdn.clone());
                    out.push(Command::StartServer(setup));
                }
            }
        }
    });
    sign_request(v, cx, out, ui, running);
}

fn sign_request(
    v: &mut PartnersView,
    cx: &ViewCtx,
    out: &mut Sink,
    ui: &mut egui::Ui,
    running: bool,
) {
    ui.horizontal(|ui| {
        let l = ui.label("Its request (CSR)");
        ui.add(egui::TextEdit::singleline(&mut v.csr).id_salt("partners-csr").desired_width(300.0).hint_text("mta.partner.example.csr"))
            .labelled_by(l.id);
        if ui.add_enabled(!running && !v.csr.trim().is_empty(), egui::Button::new("Sign it")).on_hover_text("cert sign: checks its signature and names, signs for a year, records it here without a key").clicked() {
            out.push(Command::SignCsr { path: PathBuf::from(v.csr.trim()) });
        }
    });
    if let Some((fqdn, pem)) = cx.signed {
        ui.horizontal(|ui| {
            ui.label(format!("The certificate for {fqdn}, to send back:"));
            if ui.button("Copy the certificate").clicked() {
                out.push(Command::CopyText(pem.clone()));
            }
        });
    }
}
