//! Live test: the embedded STARTTLS server with one click (same
//! certificates, CA path and access map as configured), commands to test
//! it from a shell, a built-in "Test now" probe, the sessions as sendmail
//! would see them, the captured messages, and a probe for any server.

use super::commands::{Command, Purpose, Sink};
use super::view::ViewCtx;
use super::widgets;
use crate::core::verify::Verify;
use crate::net::probe::ProbeReport;
use crate::net::server::SessionLog;
use crate::net::setup::{ProbeSetup, ServerSetup};
use eframe::egui;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub struct LiveView {
    pub port: String,
    /// The host certificate the server presents ("" = the first one).
    pub server_host: String,
    pub use_access: bool,
    pub tls_perm_err: bool,
    /// Client certificate for "Test now" ("" = none).
    pub test_client: String,
    pub probe_target: String,
    pub client_cert: String,
    pub client_key: String,
    pub ca_file: String,
    pub selected_session: Option<usize>,
}

impl Default for LiveView {
    fn default() -> Self {
        LiveView {
            port: "2525".into(),
            server_host: String::new(),
            use_access: true,
            tls_perm_err: false,
            test_client: String::new(),
            probe_target: String::new(),
            client_cert: String::new(),
            client_key: String::new(),
            ca_file: String::new(),
            selected_session: None,
        }
    }
}

fn test_commands(v: &LiveView, cx: &ViewCtx, addr: SocketAddr) -> (String, String) {
    let snap = cx.snapshot;
    let server = snap.and_then(|s| {
        s.hosts
            .iter()
            .find(|h| h.fqdn == v.server_host)
            .or(s.hosts.first())
    });
    // The client: the one chosen for the test, else another host's
    // certificate (a partner's), so that the line shows relaying by
    // certificate: from 127.0.0.2 (127.0.0.1 may always relay), to a
    // recipient outside.
    let client = snap.and_then(|s| {
        s.hosts
            .iter()
            .find(|h| h.fqdn == v.test_client)
            .or_else(|| {
                s.hosts.iter().find(|h| {
                    Some(h.fqdn.as_str()) != server.map(|x| x.fqdn.as_str()) && h.key_path.exists()
                })
            })
    });
    let ehlo = client.map_or("client.example", |c| c.fqdn.as_str());
    let mut swaks = format!(
        "swaks --server {} --port {} --local-interface 127.0.0.2 --tls --ehlo {ehlo} --from test@{ehlo} --to someone@elsewhere.example",
        addr.ip(),
        addr.port()
    );
    let mut openssl = format!(
        "openssl s_client -starttls smtp -connect {addr} -CAfile {} -verify_return_error -brief",
        cx.home.ca_cert_path().display()
    );
    if let Some(c) = client {
        swaks.push_str(&format!(
            " --tls-cert {} --tls-key {}",
            c.cert_path.display(),
            c.key_path.display()
        ));
        openssl.push_str(&format!(
            " -cert {} -key {}",
            c.cert_path.display(),
            c.key_path.display()
        ));
    }
    (swaks, openssl)
}

pub fn show(v: &mut LiveView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let snap = cx.snapshot.cloned().unwrap_or_default();
    let running = cx.server.running();
    let (toggle, test_now) = ui.input_mut(|i| {
        (
            i.consume_key(egui::Modifiers::NONE, egui::Key::F9),
            i.consume_key(egui::Modifiers::NONE, egui::Key::F8),
        )
    });
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        ui.heading("Embedded STARTTLS server");
        ui.label("Applies your certificate, CA and access map as sendmail would, and shows what sendmail would put in its macros for each session. It listens on loopback only.");
        ui.horizontal(|ui| {
            ui.add_enabled_ui(!running, |ui| {
                widgets::text_field(ui, "Port on 127.0.0.1", &mut v.port, 60.0)
                    .on_hover_text("0 picks a free port");
                let l = ui.label("Certificate");
                egui::ComboBox::from_id_salt("server-host")
                    .selected_text(if v.server_host.is_empty() {
                        snap.hosts.first().map_or("none issued yet", |h| h.fqdn.as_str())
                    } else {
                        v.server_host.as_str()
                    })
                    .show_ui(ui, |ui| {
                        for h in &snap.hosts {
                            ui.selectable_value(&mut v.server_host, h.fqdn.clone(), &h.fqdn);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                let access = cx.access.map(|d| d.path.display().to_string());
                ui.add_enabled(access.is_some(), egui::Checkbox::new(&mut v.use_access, "Apply the access map"))
                    .on_hover_text(access.map_or("Open an access file in the Access map tab first".to_string(), |p| format!("{p} (as saved on disk)")));
                ui.checkbox(&mut v.tls_perm_err, "TLS_PERM_ERR");
            });
        });
        let port = v.port.trim().parse::<u16>();
        ui.horizontal(|ui| {
            if !running {
                let ok = port.is_ok() && !snap.hosts.is_empty();
                if ui.add_enabled(ok, egui::Button::new("Start server (F9)")).clicked() || (toggle && ok) {
                    if let Ok(port) = port {
                        let mut setup = ServerSetup::new(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
                        setup.hostname = (!v.server_host.is_empty()).then(|| v.server_host.clone());
                        if snap.hosts.len() > 1 && setup.hostname.is_none() {
                            setup.hostname = snap.hosts.first().map(|h| h.fqdn.clone());
                        }
                        setup.access = if v.use_access { cx.access.map(|d| d.path.clone()) } else { None };
                        setup.tls_perm_err = v.tls_perm_err;
                        setup.timeout = std::time::Duration::from_secs(60);
                        out.push(Command::StartServer(setup));
                    }
                }
                if snap.hosts.is_empty() {
                    ui.label("Issue a host certificate first (Set up or Certificates tab).");
                } else if port.is_err() {
                    ui.colored_label(ui.visuals().error_fg_color, "The port is a number from 0 to 65535.");
                }
            } else if ui.button("Stop server (F9)").clicked() || toggle {
                out.push(Command::StopServer);
            }
            // Long: elided, the whole text on hover.
            ui.add(egui::Label::new(&cx.server.description).truncate())
                .on_hover_text(&cx.server.description);
        });
        if let Some(addr) = cx.server.addr {
            ui.horizontal(|ui| {
                ui.strong(format!("Listening on {addr}"));
                if ui.small_button("Copy address").clicked() {
                    out.push(Command::CopyText(addr.to_string()));
                }
            });
            let (swaks, openssl) = test_commands(v, cx, addr);
            if widgets::copy_row(ui, &swaks, "the swaks command") {
                out.push(Command::CopyText(swaks.clone()));
            }
            if widgets::copy_row(ui, &openssl, "the openssl command") {
                out.push(Command::CopyText(openssl.clone()));
            }
            ui.horizontal(|ui| {
                let l = ui.label("Client certificate for the test");
                egui::ComboBox::from_id_salt("test-client")
                    .selected_text(if v.test_client.is_empty() { "none" } else { v.test_client.as_str() })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut v.test_client, String::new(), "none");
                        for h in &snap.hosts {
                            ui.selectable_value(&mut v.test_client, h.fqdn.clone(), &h.fqdn);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                if ui.button("Test now (F8)").clicked() || test_now {
                    let client = snap
                        .hosts
                        .iter()
                        .find(|h| h.fqdn == v.test_client)
                        .map(|h| (h.cert_path.clone(), h.key_path.clone()));
                    out.push(Command::Probe {
                        setup: ProbeSetup {
                            client,
                            ca_file: Some(cx.home.ca_cert_path()),
                            ..ProbeSetup::new(addr.to_string())
                        },
                        own_server: true,
                    });
                }
            });
            if let Some(r) = &cx.own_probe {
                probe_report(ui, "own-probe", r);
            }
        }
        ui.separator();
        sessions(v, cx, out, ui);
        ui.separator();
        ui.heading(format!("Captured messages ({})", cx.messages.len()));
        for m in cx.messages.iter().rev().take(50) {
            ui.collapsing(format!("{} ({} bytes)", m.path.display(), m.size), |ui| {
                ui.monospace(&m.headers);
            });
        }
        ui.separator();
        other_probe(v, cx, out, ui);
    });
}

fn outcome_word(o: crate::core::policy::Outcome) -> &'static str {
    use crate::core::policy::Outcome;
    match o {
        Outcome::Ok => "accepted",
        Outcome::Relay => "relaying allowed",
        Outcome::Temp => "temporary refusal",
        Outcome::Perm => "permanent refusal",
    }
}

fn session_decision(s: &SessionLog) -> String {
    match s.decisions.last() {
        Some(d) => format!(
            "{}: {}",
            d.ruleset,
            d.reply
                .clone()
                .unwrap_or_else(|| outcome_word(d.outcome).to_string())
        ),
        None => "—".into(),
    }
}

fn sessions(v: &mut LiveView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.heading(format!("Sessions ({})", cx.sessions.len()));
        if !cx.sessions.is_empty() && ui.small_button("Clear").clicked() {
            out.push(Command::ClearSessions);
            v.selected_session = None;
        }
    });
    if cx.sessions.is_empty() {
        ui.label("Sessions appear here as clients finish them.");
        return;
    }
    let mut pick = None;
    egui::ScrollArea::both()
        .id_salt("sessions")
        .max_height(240.0)
        .show(ui, |ui| {
            egui::Grid::new("sessions-grid")
                .striped(true)
                .show(ui, |ui| {
                    for h in [
                        "#", "Peer", "TLS", "Cipher", "Bits", "Verify", "Issuer", "Subject",
                        "Decision",
                    ] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for (i, s) in cx.sessions.iter().enumerate().rev() {
                        // A click anywhere in the row opens the session.
                        let mut row = vec![ui
                            .selectable_label(v.selected_session == Some(i), format!("{}", i + 1))];
                        row.push(ui.label(&s.peer));
                        row.push(ui.label(s.tls_version.as_deref().unwrap_or("no STARTTLS")));
                        row.push(ui.label(s.cipher.as_deref().unwrap_or("")));
                        row.push(
                            ui.label(s.cipher_bits.map(|b| b.to_string()).unwrap_or_default()),
                        );
                        row.push(
                            ui.label(if s.verify == Verify::Unset {
                                String::new()
                            } else {
                                format!("verify {}", s.verify)
                            })
                            .on_hover_text(s.verify_error.clone().unwrap_or_default()),
                        );
                        row.push(ui.monospace(s.cert_issuer.as_deref().unwrap_or("")));
                        row.push(ui.monospace(s.cert_subject.as_deref().unwrap_or("")));
                        row.push(ui.label(session_decision(s)));
                        if row
                            .into_iter()
                            .any(|r| r.interact(egui::Sense::click()).clicked())
                        {
                            pick = Some(i);
                        }
                        ui.end_row();
                    }
                });
        });
    if let Some(i) = pick {
        v.selected_session = Some(i);
    }
    if let Some(s) = v.selected_session.and_then(|i| cx.sessions.get(i)).cloned() {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.strong(format!("Session from {}", s.peer));
            ui.label(format!(
                "${{client_name}} = {} (the embedded server does no DNS: TLS_Clt entries by host name never match here; use the address)",
                s.client_name
            ));
            if let Some(h) = &s.helo {
                ui.label(format!("EHLO {h}"));
            }
            for d in &s.decisions {
                ui.label(format!(
                    "{} at {}: {} — {}",
                    d.ruleset,
                    d.at,
                    outcome_word(d.outcome),
                    d.explanation
                ));
                if let Some(r) = &d.reply {
                    ui.monospace(r);
                }
                if !d.lookups.is_empty() {
                    ui.label("access keys looked up:");
                    for l in &d.lookups {
                        ui.monospace(format!("  {l}"));
                    }
                }
            }
            if let Some(e) = &s.ended {
                ui.label(format!("ended: {e}"));
            }
            for m in &s.messages {
                if let Some(c) = cx
                    .messages
                    .iter()
                    .find(|c| c.path.as_path() == std::path::Path::new(m))
                {
                    let received: String = c
                        .headers
                        .lines()
                        .skip_while(|l| !l.starts_with("Received:"))
                        .take_while(|l| {
                            l.starts_with("Received:") || l.starts_with('\t') || l.starts_with(' ')
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    ui.monospace(received);
                } else {
                    ui.label(format!("message {m}"));
                }
            }
            ui.horizontal(|ui| {
                if ui.button("Explain this session's decision").clicked() {
                    out.push(Command::ExplainSession(Box::new(s.clone())));
                }
            });
        });
    }
}

fn other_probe(v: &mut LiveView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    ui.heading("Probe a server");
    ui.label("EHLO, STARTTLS, handshake, verify the server's certificate, EHLO again, QUIT — like `starttls-studio probe`.");
    ui.horizontal(|ui| {
        widgets::text_field(ui, "Server (host:port)", &mut v.probe_target, 240.0);
    });
    ui.horizontal(|ui| {
        let (_, b) = widgets::path_field(ui, "Client certificate", &mut v.client_cert, 220.0);
        if b {
            out.push(Command::PickFile {
                purpose: Purpose::ProbeClientCert,
                directory: false,
            });
        }
        let (_, b) = widgets::path_field(ui, "Key", &mut v.client_key, 220.0);
        if b {
            out.push(Command::PickFile {
                purpose: Purpose::ProbeClientKey,
                directory: false,
            });
        }
    });
    ui.horizontal(|ui| {
        let (_, b) = widgets::path_field(
            ui,
            "Trust CAs in file (default: ours and the system's)",
            &mut v.ca_file,
            260.0,
        );
        if b {
            out.push(Command::PickFile {
                purpose: Purpose::ProbeCaFile,
                directory: false,
            });
        }
    });
    let target = v.probe_target.trim().to_string();
    let has_port = target
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    let pair = v.client_cert.trim().is_empty() == v.client_key.trim().is_empty();
    if !target.is_empty() && !has_port {
        ui.colored_label(
            ui.visuals().error_fg_color,
            "Write HOST:PORT, e.g. mx.example.org:25",
        );
    }
    if !pair {
        ui.colored_label(
            ui.visuals().error_fg_color,
            "Give both the client certificate and its key, or neither.",
        );
    }
    if ui
        .add_enabled(has_port && pair, egui::Button::new("Probe"))
        .clicked()
    {
        out.push(Command::SetProbeTarget(target.clone()));
        let client = (!v.client_cert.trim().is_empty()).then(|| {
            (
                PathBuf::from(v.client_cert.trim()),
                PathBuf::from(v.client_key.trim()),
            )
        });
        out.push(Command::Probe {
            setup: ProbeSetup {
                client,
                ca_file: (!v.ca_file.trim().is_empty()).then(|| PathBuf::from(v.ca_file.trim())),
                ..ProbeSetup::new(target)
            },
            own_server: false,
        });
    }
    if let Some(r) = &cx.other_probe {
        probe_report(ui, "other-probe", r);
    }
}

fn probe_report(ui: &mut egui::Ui, id: &str, r: &ProbeReport) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        let good = r.starttls && r.verify == Verify::Ok;
        let color = if good {
            egui::Color32::from_rgb(0x2e, 0x9e, 0x4f)
        } else {
            ui.visuals().warn_fg_color
        };
        ui.colored_label(
            color,
            format!(
                "{}: STARTTLS {}, verify {}",
                r.target,
                if r.starttls { "yes" } else { "no" },
                r.verify
            ),
        );
        egui::Grid::new(id).num_columns(2).show(ui, |ui| {
            let mut row = |k: &str, v: String| {
                ui.label(k);
                ui.monospace(v);
                ui.end_row();
            };
            row("Banner", r.banner.clone().unwrap_or_default());
            row("TLS", r.tls_version.clone().unwrap_or_default());
            row(
                "Cipher",
                format!(
                    "{} ({} bits)",
                    r.cipher.clone().unwrap_or_default(),
                    r.cipher_bits.unwrap_or(0)
                ),
            );
            if let Some(e) = &r.verify_error {
                row("Verify error", e.clone());
            }
            if let Some(c) = &r.server_cert {
                row("Server subject", c.subject.clone());
                row("Server issuer", c.issuer.clone());
                row("Expires", c.not_after.clone());
            }
            row(
                "Client certificate sent",
                if r.client_cert_sent {
                    "yes".into()
                } else {
                    "no".into()
                },
            );
            row(
                "Handshake",
                format!(
                    "{:.1} ms (total {:.1} ms)",
                    r.timings_ms.handshake, r.timings_ms.total
                ),
            );
            if let Some(e) = &r.error {
                row("Error", e.clone());
            }
        });
    });
}
