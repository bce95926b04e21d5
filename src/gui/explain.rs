//! "What would sendmail decide?": a peer described by the macros sendmail
//! would hold (typed, taken from a certificate file, or copied from a live
//! session), evaluated against the access map being edited by the same
//! evaluator as `policy eval`, with the trace's lines highlighted in the
//! editor.

use super::commands::{Command, Purpose, Sink};
use super::view::ViewCtx;
use super::widgets;
use crate::core::cert::CertInfo;
use crate::core::policy::{self, Decision, Macros, Options, Outcome, Ruleset};
use crate::core::verify::Verify;
use eframe::egui;
use std::path::PathBuf;

/// The values the Decisions view offers for `${verify}`.
pub const VERIFY_VALUES: &[Verify] = &[
    Verify::Ok,
    Verify::Fail,
    Verify::No,
    Verify::None,
    Verify::Temp,
    Verify::Protocol,
    Verify::Software,
];
const ISSUER: &str = "${cert_issuer}";
const SUBJECT: &str = "${cert_subject}";

pub struct ExplainView {
    pub ruleset: Ruleset,
    pub verify: String,
    pub client_name: String,
    pub client_addr: String,
    pub server_name: String,
    pub server_addr: String,
    pub cert_issuer: String,
    pub cert_subject: String,
    pub cn_subject: String,
    pub cipher_bits: String,
    pub tls_version: String,
    pub cipher: String,
    pub rcpt: String,
    pub tls_perm_err: bool,
    pub cert_file: String,
    /// What the last "Load" filled in (field label, value): shown
    /// highlighted while the value is still the loaded one.
    pub loaded: Vec<(&'static str, String)>,
}

impl Default for ExplainView {
    fn default() -> Self {
        ExplainView {
            ruleset: Ruleset::Relay,
            verify: "OK".into(),
            client_name: "mx.partner.example".into(),
            client_addr: "192.0.2.25".into(),
            server_name: String::new(),
            server_addr: String::new(),
            cert_issuer: String::new(),
            cert_subject: String::new(),
            cn_subject: String::new(),
            cipher_bits: "256".into(),
            tls_version: "TLSv1.3".into(),
            cipher: "TLS_AES_256_GCM_SHA384".into(),
            rcpt: "someone@elsewhere.example".into(),
            tls_perm_err: false,
            cert_file: String::new(),
            loaded: Vec::new(),
        }
    }
}

impl ExplainView {
    pub fn on_cert(&mut self, certs: Vec<CertInfo>) {
        if let Some(c) = certs.first() {
            // Only what the certificate says: `${verify}` stays what the
            // person chose (a client that sends this certificate may still
            // fail verification, or not be asked for it).
            self.cert_issuer = c.issuer_sendmail.clone();
            self.cert_subject = c.subject_sendmail.clone();
            self.cn_subject = c.subject_cn.clone().unwrap_or_default();
            self.loaded = vec![
                (ISSUER, self.cert_issuer.clone()),
                (SUBJECT, self.cert_subject.clone()),
            ];
        }
    }

    pub fn macros(&self) -> Macros {
        let mut m = Macros::default();
        for (k, v) in [
            ("verify", &self.verify),
            ("client_name", &self.client_name),
            ("client_addr", &self.client_addr),
            ("server_name", &self.server_name),
            ("server_addr", &self.server_addr),
            ("cert_issuer", &self.cert_issuer),
            ("cert_subject", &self.cert_subject),
            ("cn_subject", &self.cn_subject),
            ("cipher_bits", &self.cipher_bits),
            ("tls_version", &self.tls_version),
            ("cipher", &self.cipher),
        ] {
            if !v.trim().is_empty() {
                m.set(k, v.trim());
            }
        }
        m
    }

    /// Fills the peer from a live-test session.
    pub fn from_session(&mut self, s: &crate::net::server::SessionLog) {
        self.verify = if s.verify == Verify::Unset {
            "NONE".into()
        } else {
            s.verify.to_string()
        };
        self.cert_issuer = s.cert_issuer.clone().unwrap_or_default();
        self.cert_subject = s.cert_subject.clone().unwrap_or_default();
        self.cipher_bits = s.cipher_bits.map(|b| b.to_string()).unwrap_or_default();
        self.tls_version = s.tls_version.clone().unwrap_or_default();
        self.cipher = s.cipher.clone().unwrap_or_default();
        let addr = s.peer.rsplit_once(':').map_or(s.peer.as_str(), |(a, _)| a);
        self.client_addr = addr.trim_matches(['[', ']']).to_string();
        self.client_name = format!("[{}]", self.client_addr);
    }
}

impl ExplainView {
    /// Fills the peer from a log line's macros (`log explain`'s), and the
    /// question from the line's ruleset.
    pub fn from_log_line(&mut self, e: &crate::core::maillog::Explained) {
        let m = |k: &str| e.macros.get(k).cloned().unwrap_or_default();
        self.ruleset = match e.ruleset.as_deref() {
            Some("tls_client") | Some("check_mail") => Ruleset::TlsClient,
            Some("tls_server") => Ruleset::TlsServer,
            Some("tls_rcpt") => Ruleset::TlsRcpt,
            _ if e.side == Some(crate::core::maillog::shapes::Side::Client) => Ruleset::TlsServer,
            _ => Ruleset::Relay,
        };
        self.verify = m("verify");
        self.cert_issuer = m("cert_issuer");
        self.cert_subject = m("cert_subject");
        self.cn_subject = m("cn_subject");
        self.cipher_bits = m("cipher_bits");
        self.tls_version = m("tls_version");
        self.cipher = m("cipher");
        self.client_name = m("client_name");
        self.client_addr = m("client_addr");
        self.server_name = m("server_name");
        self.server_addr = m("server_addr");
        // The recipient of a check_rcpt/tls_rcpt refusal is its arg1.
        if matches!(self.ruleset, Ruleset::Relay | Ruleset::TlsRcpt) && e.ruleset.is_some() {
            if let Some(arg) = e.text.split("arg1=").nth(1) {
                let a = arg.split(", ").next().unwrap_or("");
                self.rcpt = a.trim_matches(['<', '>']).to_string();
            }
        }
        self.loaded.clear();
    }
}

fn ruleset_label(r: Ruleset) -> &'static str {
    match r {
        Ruleset::Relay => "relay — may this client relay? (CERTISSUER/CERTSUBJECT)",
        Ruleset::TlsClient => "tls_client — a client connects to us (TLS_Clt)",
        Ruleset::TlsServer => "tls_server — we connect to a server (TLS_Srv)",
        Ruleset::TlsRcpt => "tls_rcpt — sending to this recipient (TLS_Rcpt)",
    }
}

pub fn show(v: &mut ExplainView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let sessions = cx.sessions;
    let no_map = cx.access.is_none();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.heading("What would sendmail decide?");
            if no_map {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    "No access map is open (Access map tab): deciding with an empty map.",
                );
            }
            ui.horizontal(|ui| {
                let l = ui.label("Question");
                egui::ComboBox::from_id_salt("ruleset")
                    .width(420.0)
                    .selected_text(ruleset_label(v.ruleset))
                    .show_ui(ui, |ui| {
                        for r in [
                            Ruleset::Relay,
                            Ruleset::TlsClient,
                            Ruleset::TlsServer,
                            Ruleset::TlsRcpt,
                        ] {
                            ui.selectable_value(&mut v.ruleset, r, ruleset_label(r));
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.checkbox(&mut v.tls_perm_err, "sendmail.cf has TLS_PERM_ERR");
            });
            if !sessions.is_empty() {
                ui.horizontal(|ui| {
                    ui.label("Take the peer from a live-test session:");
                    egui::ComboBox::from_id_salt("from-session")
                        .selected_text("choose…")
                        .show_ui(ui, |ui| {
                            for (i, s) in sessions.iter().enumerate().rev().take(50) {
                                let text = format!("#{} {} verify={}", i + 1, s.peer, s.verify);
                                if ui.selectable_label(false, text).clicked() {
                                    v.from_session(s);
                                }
                            }
                        });
                });
            }
            egui::Grid::new("peer").num_columns(2).show(ui, |ui| {
                ui.label("${verify}");
                ui.horizontal(|ui| {
                    for val in VERIFY_VALUES {
                        ui.selectable_value(&mut v.verify, val.to_string(), val.as_str())
                            .on_hover_text(val.meaning());
                    }
                });
                ui.end_row();
                let loaded = v.loaded.clone();
                let field = |ui: &mut egui::Ui, label: &str, value: &mut String| {
                    let l = ui.label(label);
                    let from_cert = loaded.iter().any(|(f, val)| *f == label && val == value);
                    ui.horizontal(|ui| {
                        let mut edit = egui::TextEdit::singleline(value)
                            .id_salt(("peer", label))
                            .desired_width(480.0);
                        if from_cert {
                            edit = edit.background_color(ui.visuals().selection.bg_fill);
                        }
                        ui.add(edit).labelled_by(l.id);
                        if from_cert {
                            ui.small("from the certificate");
                        }
                    });
                    ui.end_row();
                };
                match v.ruleset {
                    Ruleset::TlsServer => {
                        field(ui, "Server name", &mut v.server_name);
                        field(ui, "Server address", &mut v.server_addr);
                    }
                    _ => {
                        field(ui, "Client name", &mut v.client_name);
                        field(ui, "Client address", &mut v.client_addr);
                    }
                }
                if matches!(v.ruleset, Ruleset::TlsRcpt | Ruleset::Relay) {
                    field(ui, "Recipient", &mut v.rcpt);
                }
                field(ui, ISSUER, &mut v.cert_issuer);
                field(ui, SUBJECT, &mut v.cert_subject);
                field(ui, "${cipher_bits}", &mut v.cipher_bits);
                field(ui, "${tls_version}", &mut v.tls_version);
            });
            ui.horizontal(|ui| {
                let (r, browse) = widgets::path_field(
                    ui,
                    "Issuer and subject from a certificate file",
                    &mut v.cert_file,
                    280.0,
                );
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if browse {
                    out.push(Command::PickFile {
                        purpose: Purpose::ExplainCert,
                        directory: false,
                    });
                }
                if (ui.button("Load").clicked() || enter) && !v.cert_file.trim().is_empty() {
                    out.push(Command::LoadCerts {
                        purpose: Purpose::ExplainCert,
                        path: PathBuf::from(v.cert_file.trim()),
                    });
                }
            });
            ui.separator();

            let empty = crate::core::access::Database::default();
            let db = cx.access.map_or(&empty, |d| &d.db);
            let rcpt = matches!(v.ruleset, Ruleset::TlsRcpt | Ruleset::Relay)
                .then(|| v.rcpt.trim())
                .filter(|r| !r.is_empty());
            if v.ruleset == Ruleset::TlsRcpt && rcpt.is_none() {
                ui.label("tls_rcpt needs a recipient.");
                return;
            }
            let d = policy::evaluate(
                db,
                v.ruleset,
                &v.macros(),
                rcpt,
                Options {
                    tls_perm_err: v.tls_perm_err,
                },
            );
            decision(ui, &d, out);
        });
}

fn decision(ui: &mut egui::Ui, d: &Decision, out: &mut Sink) {
    let (word, color) = match d.outcome {
        Outcome::Ok => ("accepted", egui::Color32::from_rgb(0x2e, 0x9e, 0x4f)),
        Outcome::Relay => (
            "relaying allowed",
            egui::Color32::from_rgb(0x2e, 0x9e, 0x4f),
        ),
        Outcome::Temp => ("temporary refusal", ui.visuals().warn_fg_color),
        Outcome::Perm => ("permanent refusal", ui.visuals().error_fg_color),
    };
    ui.horizontal(|ui| {
        ui.heading(egui::RichText::new(word).color(color));
        if let Some(r) = &d.reply {
            ui.monospace(r);
        }
    });
    ui.label(&d.explanation);
    let lines: Vec<usize> = d.trace.iter().filter_map(|t| t.line).collect();
    egui::Grid::new("trace")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.strong("Step");
            ui.strong("Line");
            ui.strong("What happened");
            ui.end_row();
            for t in &d.trace {
                ui.label(t.step);
                match t.line {
                    Some(l) => {
                        if ui
                            .link(format!("{l}"))
                            .on_hover_text("Show in the access map")
                            .clicked()
                        {
                            out.push(Command::ShowInAccessMap {
                                lines: lines.clone(),
                                scroll_to: Some(l),
                            });
                        }
                    }
                    None => {
                        ui.label("");
                    }
                }
                ui.label(&t.detail);
                ui.end_row();
            }
        });
    if !lines.is_empty()
        && ui
            .button("Highlight these lines in the access map")
            .clicked()
    {
        out.push(Command::ShowInAccessMap {
            scroll_to: lines.first().copied(),
            lines,
        });
    }
}
