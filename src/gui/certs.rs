//! The CA and the issued certificates: a filterable table (virtualised, so
//! a thousand certificates scroll smoothly), a details panel with every
//! field `show` prints and the sendmail forms to copy, and the actions
//! issue, renew and export a partner bundle.

use super::commands::{Command, Sink};
use super::view::ViewCtx;
use super::widgets;
use super::wizard::kind_label;
use crate::core::cert::CertInfo;
use crate::core::fqdn;
use crate::core::pki::KeyKind;
use crate::store::home::HOST_DAYS_DEFAULT;
use eframe::egui;

#[derive(Default)]
pub struct CertsView {
    pub filter: String,
    pub hide_expired: bool,
    /// "" for the CA, else a host's FQDN.
    pub selected: Option<String>,
    pub issue_open: bool,
    pub issue_fqdn: String,
    pub issue_sans: String,
    pub issue_kind: KeyKind,
    pub issue_days: String,
    pub bundle_out: String,
    /// The host `bundle_out` was filled for.
    pub bundle_for: String,
}

impl CertsView {
    pub fn select(&mut self, fqdn: &str) {
        self.selected = Some(fqdn.to_string());
    }
}

struct RowData<'a> {
    key: String,
    name: String,
    info: &'a CertInfo,
}

const ROW_H: f32 = 22.0;
/// The table's columns in display order: title, the width it needs at
/// least, the width it likes, and its priority when the table is narrow
/// (0 first). Whatever does not fit whole is left out, never cut.
const COLS: [(&str, f32, f32, u8); 6] = [
    ("Name", 160.0, 220.0, 0),
    ("Alternative names", 140.0, 200.0, 4),
    ("Key", 110.0, 110.0, 2),
    ("Expires", 190.0, 190.0, 1),
    ("Hash", 80.0, 80.0, 3),
    ("${cert_subject}", 220.0, 380.0, 5),
];

/// The width of each column for a table `avail` wide: `None` for a column
/// left out. The columns are taken in priority order while their least
/// widths fit; the room left goes to the columns that like more.
fn column_widths(avail: f32, gap: f32) -> [Option<f32>; 6] {
    let mut order: Vec<usize> = (0..COLS.len()).collect();
    order.sort_by_key(|&i| COLS[i].3);
    let mut shown = [false; 6];
    let mut used = 0.0;
    for i in order {
        let need = COLS[i].1 + gap;
        // the name is always shown, whatever the width
        if i == 0 || used + need <= avail {
            shown[i] = true;
            used += need;
        }
    }
    let mut spare = (avail - used).max(0.0);
    let mut out = [None; 6];
    for (i, c) in COLS.iter().enumerate() {
        if shown[i] {
            let more = (c.2 - c.1).min(spare);
            spare -= more;
            out[i] = Some(c.1 + more);
        }
    }
    out
}

fn cell(ui: &mut egui::Ui, width: f32, add: impl FnOnce(&mut egui::Ui)) {
    ui.allocate_ui_with_layout(
        egui::vec2(width, ROW_H),
        egui::Layout::left_to_right(egui::Align::Center),
        |ui| {
            ui.set_width(width);
            add(ui);
        },
    );
}

pub fn show(v: &mut CertsView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let Some(snap) = cx.snapshot.cloned() else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Reading the certificates…");
        });
        return;
    };
    let now = widgets::now_unix();
    ui.heading("Certificates of this home");
    ui.label(
        egui::RichText::new("The CA and the host certificates of this home, with the forms sendmail works with: ${cert_subject} as an access map entry must spell it, and the hash its CA directory links by.")
            .weak(),
    );
    ui.horizontal(|ui| {
        widgets::text_field(ui, "Filter", &mut v.filter, 200.0)
            .on_hover_text("Matches names, alternative names and subjects");
        ui.checkbox(&mut v.hide_expired, "Hide expired");
        if ui
            .add_enabled(snap.ca.is_some(), egui::Button::new("Issue a certificate…"))
            .on_disabled_hover_text("Create the CA first (Set up tab)")
            .clicked()
        {
            v.issue_open = !v.issue_open;
            if v.issue_days.is_empty() {
                v.issue_days = HOST_DAYS_DEFAULT.to_string();
            }
        }
    });
    if v.issue_open {
        issue_form(ui, v, out);
    }
    // The unattended renewal, as `status` reports it.
    let t = &snap.timer;
    let attention =
        t.installed && (t.other_home || t.enabled.as_deref().is_some_and(|e| e != "enabled"));
    let line = format!("Renewal: {}", t.describe());
    if attention {
        ui.colored_label(ui.visuals().warn_fg_color, line);
    } else {
        ui.label(egui::RichText::new(line).weak());
    }
    let needle = v.filter.to_lowercase();
    let mut rows: Vec<RowData<'_>> = Vec::with_capacity(snap.hosts.len() + 1);
    if let Some(ca) = &snap.ca {
        rows.push(RowData {
            key: String::new(),
            name: format!("CA: {}", ca.subject_cn.as_deref().unwrap_or(&ca.subject)),
            info: ca,
        });
    }
    for h in &snap.hosts {
        rows.push(RowData {
            key: h.fqdn.clone(),
            name: h.fqdn.clone(),
            info: &h.info,
        });
    }
    rows.retain(|r| {
        (!v.hide_expired || r.info.days_left(now) >= 0)
            && (needle.is_empty()
                || r.name.to_lowercase().contains(&needle)
                || r.info.subject.to_lowercase().contains(&needle)
                || r.info
                    .sans
                    .iter()
                    .any(|s| s.to_lowercase().contains(&needle)))
    });
    ui.label(format!(
        "{} of {} certificate(s) shown",
        rows.len(),
        snap.hosts.len() + usize::from(snap.ca.is_some())
    ));
    let selected = v.selected.clone();
    let details = selected.as_ref().and_then(|k| {
        if k.is_empty() {
            snap.ca.clone().map(|c| (String::new(), c, None))
        } else {
            snap.hosts
                .iter()
                .find(|h| &h.fqdn == k)
                .map(|h| (h.fqdn.clone(), h.info.clone(), Some(h.clone())))
        }
    });
    if let Some(sel) = details {
        egui::Panel::right("cert-details")
            .resizable(true)
            .default_size(380.0)
            .show(ui, |ui| {
                details_panel(ui, v, out, &sel, now, &cx.home.root);
            });
    }
    let widths = column_widths(ui.available_width(), ui.spacing().item_spacing.x);
    let hidden: Vec<&str> = COLS
        .iter()
        .zip(widths)
        .filter(|(_, w)| w.is_none())
        .map(|(c, _)| c.0)
        .collect();
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            for ((name, ..), w) in COLS.iter().zip(widths) {
                if let Some(w) = w {
                    cell(ui, w, |ui| {
                        ui.strong(*name);
                    });
                }
            }
        });
        if !hidden.is_empty() {
            ui.label(
                egui::RichText::new(format!(
                    "Not shown at this width: {} (a row's details have them; widen the window{})",
                    hidden.join(", "),
                    if selected.is_some() {
                        " or close the details"
                    } else {
                        ""
                    }
                ))
                .weak(),
            );
        }
        ui.separator();
        if rows.is_empty() {
            ui.label(if snap.hosts.is_empty() && snap.ca.is_none() {
                "No CA yet: the Set up tab creates one."
            } else {
                "No certificate matches the filter."
            });
        }
        egui::ScrollArea::vertical()
            .id_salt("certs-rows")
            .auto_shrink([false, false])
            .show_rows(ui, ROW_H, rows.len(), |ui, range| {
                for r in &rows[range] {
                    ui.horizontal(|ui| {
                        ui.set_height(ROW_H);
                        let w = |i: usize| widths[i];
                        if let Some(width) = w(0) {
                            cell(ui, width, |ui| {
                                let sel = selected.as_deref() == Some(r.key.as_str());
                                if ui
                                    .add(egui::Button::selectable(sel, &r.name).truncate())
                                    .on_hover_text(&r.name)
                                    .clicked()
                                {
                                    v.selected = if sel { None } else { Some(r.key.clone()) };
                                }
                            });
                        }
                        if let Some(width) = w(1) {
                            cell(ui, width, |ui| {
                                ui.add(egui::Label::new(r.info.sans.join(", ")).truncate());
                            });
                        }
                        if let Some(width) = w(2) {
                            cell(ui, width, |ui| {
                                ui.label(format!("{} {}", r.info.key_type, r.info.key_bits));
                            });
                        }
                        if let Some(width) = w(3) {
                            cell(ui, width, |ui| {
                                ui.label(r.info.not_after.get(..10).unwrap_or(&r.info.not_after));
                                widgets::expiry(ui, r.info, now);
                            });
                        }
                        if let Some(width) = w(4) {
                            cell(ui, width, |ui| {
                                ui.monospace(&r.info.subject_hash);
                            });
                        }
                        if let Some(width) = w(5) {
                            cell(ui, width, |ui| {
                                ui.add(
                                    egui::Label::new(
                                        egui::RichText::new(&r.info.subject_sendmail).monospace(),
                                    )
                                    .truncate(),
                                );
                            });
                        }
                    });
                }
            });
    });
}

fn issue_form(ui: &mut egui::Ui, v: &mut CertsView, pending: &mut Sink) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.strong("Issue a host certificate");
        ui.horizontal(|ui| {
            widgets::text_field(ui, "Host name (FQDN)", &mut v.issue_fqdn, 240.0);
            widgets::text_field(ui, "Extra names", &mut v.issue_sans, 240.0)
                .on_hover_text("More DNS names or IP addresses, separated by blanks or commas");
        });
        ui.horizontal(|ui| {
            let l = ui.label("Key");
            egui::ComboBox::from_id_salt("issue-kind")
                .selected_text(kind_label(v.issue_kind))
                .show_ui(ui, |ui| {
                    for k in KeyKind::ALL {
                        ui.selectable_value(&mut v.issue_kind, k, kind_label(k));
                    }
                })
                .response
                .labelled_by(l.id);
            widgets::text_field(ui, "Days valid", &mut v.issue_days, 60.0);
        });
        let fq = fqdn::parse_fqdn(v.issue_fqdn.trim());
        let sans: Vec<String> = v
            .issue_sans
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let san_err = sans.iter().find_map(|s| fqdn::parse_san(s).err());
        let days = v.issue_days.trim().parse::<u32>().ok().filter(|d| *d > 0);
        let problem = match (&fq, &san_err, days) {
            (Err(e), _, _) if !v.issue_fqdn.is_empty() => Some(e.clone()),
            (_, Some(e), _) => Some(e.clone()),
            (_, _, None) => Some("Days valid: a whole number above 0".to_string()),
            _ => None,
        };
        if let Some(p) = &problem {
            ui.colored_label(ui.visuals().error_fg_color, p);
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(fq.is_ok() && problem.is_none(), egui::Button::new("Issue"))
                .clicked()
            {
                pending.push(Command::IssueCert {
                    fqdn: v.issue_fqdn.trim().to_string(),
                    sans,
                    kind: v.issue_kind,
                    days: days.unwrap_or(HOST_DAYS_DEFAULT),
                });
                v.issue_open = false;
                v.issue_fqdn.clear();
                v.issue_sans.clear();
            }
            if ui.button("Cancel").clicked() {
                v.issue_open = false;
            }
        });
    });
}

/// The selected row: its key ("" for the CA), the certificate, the host.
type Selected = (String, CertInfo, Option<crate::store::home::HostEntry>);

fn details_panel(
    ui: &mut egui::Ui,
    v: &mut CertsView,
    pending: &mut Sink,
    sel: &Selected,
    now: i64,
    home_root: &std::path::Path,
) {
    let (key, info, host) = (sel.0.as_str(), &sel.1, sel.2.as_ref());
    egui::ScrollArea::vertical()
        .id_salt("cert-details-scroll")
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading(if key.is_empty() { "The CA" } else { key });
                if ui.small_button("Close").clicked() {
                    v.selected = None;
                }
            });
            let mut copy = |ui: &mut egui::Ui, label: &str, value: &str| {
                ui.label(egui::RichText::new(label).strong());
                if widgets::copy_row(ui, value, label) {
                    pending.push(Command::CopyText(value.to_string()));
                }
            };
            copy(ui, "Subject", &info.subject);
            copy(ui, "Issuer", &info.issuer);
            copy(
                ui,
                "${cert_subject} (sendmail form)",
                &info.subject_sendmail,
            );
            copy(ui, "${cert_issuer} (sendmail form)", &info.issuer_sendmail);
            if info.is_ca {
                copy(
                    ui,
                    "access line: every certificate of this CA may relay",
                    &format!("CERTISSUER:{}\tRELAY", info.subject_sendmail),
                );
            } else {
                copy(
                    ui,
                    "access lines: only this certificate may relay",
                    &format!(
                        "CERTISSUER:{}\tSUBJECT\nCERTSUBJECT:{}\tRELAY",
                        info.issuer_sendmail, info.subject_sendmail
                    ),
                );
            }
            egui::Grid::new("cert-fields")
                .num_columns(2)
                .show(ui, |ui| {
                    let mut row = |k: &str, val: String| {
                        ui.label(k);
                        ui.add(egui::Label::new(egui::RichText::new(val).monospace()).wrap());
                        ui.end_row();
                    };
                    row("Serial", info.serial.clone());
                    row("Valid from", info.not_before.clone());
                    row("Valid until", info.not_after.clone());
                    row("Key", format!("{} {} bits", info.key_type, info.key_bits));
                    row("Signature", info.signature_algorithm.clone());
                    row("Names", info.sans.join(", "));
                    row("Usage", info.extended_key_usage.join(", "));
                    row(
                        "Subject hash",
                        format!("{} (old {})", info.subject_hash, info.subject_hash_old),
                    );
                    row(
                        "Issuer hash",
                        format!("{} (old {})", info.issuer_hash, info.issuer_hash_old),
                    );
                    row("SHA-256", info.sha256_fingerprint.clone());
                    row(
                        "CA",
                        if info.is_ca {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                    );
                });
            widgets::expiry(ui, info, now);
            if let Some(h) = host {
                ui.label(format!("Certificate: {}", h.cert_path.display()));
                ui.label(format!("Key: {} (0600)", h.key_path.display()));
                ui.horizontal(|ui| {
                    if ui
                        .button("Renew")
                        .on_hover_text(
                            "New key and certificate with the same names; the old pair is archived",
                        )
                        .clicked()
                    {
                        pending.push(Command::RenewCert {
                            fqdn: h.fqdn.clone(),
                        });
                    }
                });
                ui.separator();
                ui.strong("Partner bundle");
                ui.label("Everything this host's admin needs: certificate, key, CA, the CA directory with hash links, the sendmail.mc lines, the access lines, and a README.");
                let default_out = home_root.join("bundles").join(format!("{}.tar", h.fqdn));
                if v.bundle_for != h.fqdn {
                    v.bundle_for = h.fqdn.clone();
                    v.bundle_out = default_out.display().to_string();
                }
                ui.horizontal(|ui| {
                    widgets::text_field(ui, "Save as (.tar or a directory)", &mut v.bundle_out, 260.0);
                    if ui
                        .add_enabled(!v.bundle_out.trim().is_empty(), egui::Button::new("Export"))
                        .on_hover_text("The tar is written with mode 0600: it holds the private key")
                        .clicked()
                    {
                        pending.push(Command::ExportBundle {
                            fqdn: h.fqdn.clone(),
                            out: std::path::PathBuf::from(v.bundle_out.trim()),
                        });
                    }
                });
            }
        });
}
