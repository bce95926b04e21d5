//! The access-map editor: entries grouped (TLS requirements, relaying by
//! certificate, everything else), a virtualised table so 10,000 entries
//! scroll smoothly, a form with typed fields checked as you type (by the
//! same checker as `access check`), a DN picker that fills `CERTISSUER:` /
//! `CERTSUBJECT:` from a certificate, undo/redo, and a save preview.

use super::access_form;
pub use super::access_form::{EntryForm, Level, Prefix};
use super::commands::{AccessEdit, Command, Purpose, Sink};
use super::view::ViewCtx;
use super::widgets;
use super::{AccessDoc, Row};
use crate::core::access::cert_relay_names;
use crate::core::access_check::Severity;
use crate::core::cert::CertInfo;
use crate::core::linediff::DiffLine;
use eframe::egui;
use std::path::PathBuf;

/// Where the DN picker takes its certificate from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PickFrom {
    #[default]
    OurCa,
    HomeHost,
    File,
}

#[derive(Default)]
pub struct DnPicker {
    pub open: bool,
    pub from: PickFrom,
    pub host: String,
    pub file: String,
    pub loaded: Option<(PathBuf, Vec<CertInfo>)>,
    /// Only this certificate (issuer + subject) instead of every
    /// certificate from the issuer.
    pub exact: bool,
}

impl DnPicker {
    pub fn on_loaded(&mut self, path: PathBuf, certs: Vec<CertInfo>) {
        self.loaded = Some((path, certs));
    }
}

#[derive(Default)]
pub struct AccessView {
    pub path: String,
    pub opening: bool,
    pub selected: Option<usize>,
    pub form: Option<EntryForm>,
    pub picker: DnPicker,
    pub search: String,
    /// Save preview: the diff against the file on disk.
    pub preview: Option<Vec<DiffLine>>,
    pub makemap: bool,
    /// Rows after the search filter, cached per (generation, search).
    cache: Option<(u64, String, std::sync::Arc<Vec<Row>>)>,
    /// Set to scroll the editor to this line (1-based) once.
    pub scroll_to_line: Option<usize>,
}

impl AccessView {
    pub fn on_open(&mut self) {
        self.selected = None;
        self.form = None;
        self.preview = None;
        self.cache = None;
    }

    /// Shared, not copied: a million rows are not cloned every frame.
    fn rows(&mut self, doc: &AccessDoc) -> std::sync::Arc<Vec<Row>> {
        let needle = self.search.trim().to_lowercase();
        if let Some((g, s, rows)) = &self.cache {
            if *g == doc.generation && *s == needle {
                return rows.clone();
            }
        }
        let rows = if needle.is_empty() {
            doc.rows.clone()
        } else {
            std::sync::Arc::new(
                doc.rows
                    .iter()
                    .copied()
                    .filter(|r| match r {
                        Row::Heading(..) => true,
                        Row::Line(i) => String::from_utf8_lossy(&doc.map.lines[*i].raw)
                            .to_lowercase()
                            .contains(&needle),
                    })
                    .collect(),
            )
        };
        self.cache = Some((doc.generation, needle, rows.clone()));
        rows
    }
}

const ROW_H: f32 = 20.0;

pub fn show(v: &mut AccessView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    ui.heading("sendmail's access map");
    ui.label(
        egui::RichText::new("The source file makemap reads (not access.db): TLS requirements, relaying by certificate and the other entries, checked as makemap and sendmail read them.")
            .weak(),
    );
    // The file bar.
    ui.horizontal(|ui| {
        let (r, browse) = widgets::path_field(ui, "Access file", &mut v.path, 320.0);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if browse {
            out.push(Command::PickFile {
                purpose: Purpose::AccessFile,
                directory: false,
            });
        }
        let dirty = cx.access.is_some_and(|d| d.dirty);
        if (ui.button("Open").clicked() || enter) && !v.path.trim().is_empty() {
            if dirty {
                out.push(Command::Notify {
                    tab: super::Tab::Access,
                    error: true,
                    text: "There are unsaved changes: save them (Ctrl+S) or undo them before opening another file.".into(),
                });
            } else {
                v.opening = true;
                out.push(Command::OpenAccess {
                    path: PathBuf::from(v.path.trim()),
                });
            }
        }
    });
    let Some(doc) = cx.access else {
        ui.label("Open the sendmail access file (the source, e.g. /etc/mail/access — not access.db). A file that does not exist yet is created on save.");
        return;
    };
    let (can_undo, can_redo, dirty) = (doc.can_undo(), doc.can_redo(), doc.dirty);
    let errors = doc.errors;
    let warnings = doc.findings.len() - errors;
    let entries = doc.db.len();

    // Keyboard: undo/redo/save/new, arrows move the selection.
    let typing = ui.ctx().egui_wants_keyboard_input();
    let (redo, undo, save, new, del, up, down) = ui.input_mut(|i| {
        (
            // Redo first: egui matches Ctrl+Z to Ctrl+Shift+Z as well.
            i.consume_key(
                egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
                egui::Key::Z,
            ) || i.consume_key(egui::Modifiers::COMMAND, egui::Key::Y),
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z),
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::S),
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::N),
            !typing && i.consume_key(egui::Modifiers::NONE, egui::Key::Delete),
            !typing && i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp),
            !typing && i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown),
        )
    });

    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(can_undo, egui::Button::new("Undo"))
            .on_hover_text("Ctrl+Z")
            .clicked()
            || (undo && can_undo)
        {
            out.push(Command::EditAccess(AccessEdit::Undo));
        }
        if ui
            .add_enabled(can_redo, egui::Button::new("Redo"))
            .on_hover_text("Ctrl+Shift+Z")
            .clicked()
            || (redo && can_redo)
        {
            out.push(Command::EditAccess(AccessEdit::Redo));
        }
        if ui
            .button("New TLS requirement")
            .on_hover_text("Ctrl+N")
            .clicked()
            || new
        {
            v.form = Some(EntryForm::new_tls());
            v.selected = None;
        }
        if ui.button("Relay by certificate…").clicked() {
            v.picker.open = !v.picker.open;
        }
        if ui
            .add_enabled(dirty || !doc.exists, egui::Button::new("Save…"))
            .on_hover_text("Ctrl+S: shows the changes first")
            .clicked()
            || (save && (dirty || !doc.exists))
        {
            if doc.is_large() {
                // a million lines take longer than a frame to compare
                out.push(Command::PreviewAccessSave);
            } else {
                v.preview = Some(doc.save_diff());
            }
        }
        widgets::text_field(ui, "Search", &mut v.search, 160.0);
        ui.separator();
        // The state and the counts come after the buttons, the state in
        // one slot as wide as its longest text: nothing moves as they change.
        let font = egui::TextStyle::Body.resolve(ui.style());
        let slot = ui.fonts_mut(|f| {
            ["unsaved changes", "applying edit…"]
                .map(|t| {
                    f.layout_no_wrap(t.into(), font.clone(), egui::Color32::WHITE)
                        .size()
                })
                .into_iter()
                .reduce(|a, b| a.max(b))
                .unwrap_or_default()
        });
        let (text, color) = if cx.access_editing {
            ("applying edit…", ui.visuals().warn_fg_color)
        } else if dirty {
            ("unsaved changes", ui.visuals().warn_fg_color)
        } else if !doc.exists {
            ("new file", ui.visuals().weak_text_color())
        } else {
            ("saved", ui.visuals().weak_text_color())
        };
        ui.add_sized(
            [slot.x, slot.y],
            egui::Label::new(egui::RichText::new(text).color(color)),
        );
        ui.label(format!(
            "{}, {}, {}",
            widgets::count(entries, "entry", "entries"),
            widgets::count(errors, "error", "errors"),
            widgets::count(warnings, "warning", "warnings")
        ));
    });

    if v.picker.open {
        dn_picker(v, cx, out, ui);
    }
    save_preview(v, cx, out, ui);
    conflict_panel(v, cx, out, ui);

    let Some(doc) = cx.access else {
        return;
    };
    let rows = v.rows(doc);
    // Arrow keys move the selection through the visible lines.
    if up || down {
        let lines: Vec<usize> = rows
            .iter()
            .filter_map(|r| if let Row::Line(i) = r { Some(*i) } else { None })
            .collect();
        let pos = v.selected.and_then(|s| lines.iter().position(|&l| l == s));
        let next = match (pos, up) {
            (Some(p), true) => p.checked_sub(1),
            (Some(p), false) => Some((p + 1).min(lines.len().saturating_sub(1))),
            (None, _) => (!lines.is_empty()).then_some(0),
        };
        if let Some(n) = next.and_then(|n| lines.get(n)) {
            select_line(v, cx, *n);
            v.scroll_to_line = Some(*n + 1);
        }
    }
    if del {
        if let Some(i) = v.selected {
            out.push(Command::EditAccess(AccessEdit::Remove { index: i }));
            v.selected = None;
            v.form = None;
        }
    }

    // The form for the selected or new entry.
    if v.form.is_some() {
        if let Some(f) = v.form.as_mut() {
            if access_form::show(f, out, ui) {
                v.form = None;
                v.selected = None;
            }
        }
    } else if let Some(i) = v.selected {
        ui.label(format!(
            "Line {}: a comment, kept as it is. Delete removes it.",
            i + 1
        ));
    }

    let Some(doc) = cx.access else {
        return;
    };
    let scroll_row = v
        .scroll_to_line
        .take()
        .and_then(|line| rows.iter().position(|r| *r == Row::Line(line - 1)));
    let mut clicked: Option<usize> = None;
    let highlight = cx.highlight;
    let selected = v.selected;
    let mut area = egui::ScrollArea::vertical()
        .id_salt("access-rows")
        .auto_shrink([false, false]);
    if let Some(r) = scroll_row {
        let spacing = ui.spacing().item_spacing.y;
        area = area.vertical_scroll_offset(((r as f32) * (ROW_H + spacing) - 100.0).max(0.0));
    }
    area.show_rows(ui, ROW_H, rows.len(), |ui, range| {
        for row in &rows[range] {
            match *row {
                Row::Heading(g, n) => {
                    ui.horizontal(|ui| {
                        ui.set_height(ROW_H);
                        ui.strong(format!("{} ({n})", g.title()));
                    });
                }
                Row::Line(i) => {
                    let line = &doc.map.lines[i];
                    let number = i + 1;
                    let problems = doc.findings_by_line.get(&number);
                    ui.horizontal(|ui| {
                        ui.set_height(ROW_H);
                        let hl = highlight.contains(&number);
                        let text = String::from_utf8_lossy(&line.raw).trim_end().to_string();
                        let mut rich =
                            egui::RichText::new(format!("{number:>6}  {text}")).monospace();
                        if line.entry().is_none() {
                            rich = rich.weak();
                        }
                        if hl {
                            rich = rich
                                .background_color(ui.visuals().selection.bg_fill)
                                .strong();
                        }
                        let r =
                            ui.add(egui::Button::selectable(selected == Some(i), rich).truncate());
                        if r.clicked() {
                            clicked = Some(i);
                        }
                        if let Some(ps) = problems {
                            let worst = ps
                                .iter()
                                .map(|&k| &doc.findings[k])
                                .max_by_key(|f| f.severity);
                            if let Some(f) = worst {
                                let color = if f.severity == Severity::Error {
                                    ui.visuals().error_fg_color
                                } else {
                                    ui.visuals().warn_fg_color
                                };
                                ui.colored_label(color, f.message.to_string())
                                    .on_hover_text(
                                        ps.iter()
                                            .map(|&k| {
                                                format!(
                                                    "{}: {}",
                                                    doc.findings[k].severity,
                                                    doc.findings[k].message
                                                )
                                            })
                                            .collect::<Vec<_>>()
                                            .join("\n"),
                                    );
                            }
                        }
                    });
                }
            }
        }
    });
    if let Some(i) = clicked {
        select_line(v, cx, i);
    }
}

fn select_line(v: &mut AccessView, cx: &ViewCtx, i: usize) {
    let Some(doc) = cx.access else {
        return;
    };
    v.selected = Some(i);
    v.form = doc.map.lines[i]
        .entry()
        .map(|e| EntryForm::from_entry(i, e.key(), e.value()));
    let is_comment = matches!(
        doc.map.lines[i].kind,
        crate::core::access::LineKind::Comment | crate::core::access::LineKind::Blank
    );
    if v.form.is_none() && !is_comment {
        // A line makemap skips (leading blank, no value, too long): the
        // form shows what is wrong and Apply writes a line it reads.
        let raw = String::from_utf8_lossy(&doc.map.lines[i].raw)
            .trim()
            .to_string();
        let (k, value) = raw.split_once(char::is_whitespace).unwrap_or((&raw, ""));
        v.form = Some(EntryForm::from_entry(i, k, value.trim()));
    }
}

fn dn_picker(v: &mut AccessView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let snap = cx.snapshot.cloned().unwrap_or_default();
    let p = &mut v.picker;
    let mut add: Option<(String, Option<String>)> = None;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.strong("Let a certificate relay (CERTISSUER / CERTSUBJECT)");
        ui.horizontal(|ui| {
            ui.radio_value(&mut p.from, PickFrom::OurCa, "Our CA");
            ui.radio_value(&mut p.from, PickFrom::HomeHost, "A certificate we issued");
            ui.radio_value(&mut p.from, PickFrom::File, "A certificate file");
        });
        let cert: Option<CertInfo> = match p.from {
            PickFrom::OurCa => {
                if snap.ca.is_none() {
                    ui.label("There is no CA in the home yet.");
                }
                snap.ca.clone()
            }
            PickFrom::HomeHost => {
                ui.horizontal(|ui| {
                    let l = ui.label("Host");
                    egui::ComboBox::from_id_salt("picker-host")
                        .selected_text(if p.host.is_empty() {
                            "choose…"
                        } else {
                            p.host.as_str()
                        })
                        .show_ui(ui, |ui| {
                            for h in &snap.hosts {
                                ui.selectable_value(&mut p.host, h.fqdn.clone(), &h.fqdn);
                            }
                        })
                        .response
                        .labelled_by(l.id);
                });
                snap.hosts
                    .iter()
                    .find(|h| h.fqdn == p.host)
                    .map(|h| h.info.clone())
            }
            PickFrom::File => {
                let (r, browse) = widgets::path_field(ui, "Certificate file", &mut p.file, 320.0);
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if browse {
                    out.push(Command::PickFile {
                        purpose: Purpose::DnPickerCert,
                        directory: false,
                    });
                }
                if (ui.button("Load").clicked() || enter) && !p.file.trim().is_empty() {
                    out.push(Command::LoadCerts {
                        purpose: Purpose::DnPickerCert,
                        path: PathBuf::from(p.file.trim()),
                    });
                }
                p.loaded
                    .as_ref()
                    .filter(|(path, _)| path == &PathBuf::from(p.file.trim()))
                    .and_then(|(_, c)| c.first().cloned())
            }
        };
        if let Some(c) = cert {
            ui.label(format!("Subject: {}", c.subject));
            ui.label(format!("Issuer: {}", c.issuer));
            if c.is_ca {
                ui.radio_value(
                    &mut p.exact,
                    false,
                    "Every certificate this CA issues may relay",
                );
                ui.radio_value(&mut p.exact, true, "Only this certificate (the CA's own)");
            } else {
                ui.radio_value(&mut p.exact, true, "Only this certificate");
                ui.radio_value(&mut p.exact, false, "Every certificate from its issuer");
            }
            let (issuer, subject) = cert_relay_names(&c, p.exact);
            let mut lines = vec![format!(
                "CERTISSUER:{issuer}\t{}",
                if subject.is_some() {
                    "SUBJECT"
                } else {
                    "RELAY"
                }
            )];
            if let Some(s) = &subject {
                lines.push(format!("CERTSUBJECT:{s}\tRELAY"));
            }
            ui.label("Adds:");
            for l in &lines {
                ui.monospace(l);
            }
            if ui.button("Add relay entry").clicked() {
                add = Some((issuer, subject));
            }
        }
    });
    if let Some((issuer, subject)) = add {
        out.push(Command::EditAccess(AccessEdit::CertRelay {
            issuer,
            subject,
        }));
    }
}

/// The file changed on disk while it was edited here: both changes side by
/// side (from what was opened), and the choice — nothing is overwritten
/// unseen.
fn conflict_panel(v: &mut AccessView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let Some(c) = cx.access.and_then(|d| d.conflict.as_ref()) else {
        return;
    };
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.strong("The file changed on disk while you edited it");
        ui.label("Both sides start from the file as you opened it. Nothing has been written.");
        ui.columns(2, |cols| {
            cols[0].label("Changed on disk (another program or person):");
            widgets::diff_view(&mut cols[0], "conflict-theirs", &c.theirs, 220.0);
            cols[1].label("Your unsaved changes:");
            widgets::diff_view(&mut cols[1], "conflict-mine", &c.mine, 220.0);
        });
        ui.horizontal(|ui| {
            if ui
                .button("Keep the disk's version")
                .on_hover_text("Reload the file; your unsaved changes are dropped")
                .clicked()
            {
                out.push(Command::ResolveAccessConflict {
                    take_disk: true,
                    makemap: v.makemap,
                });
            }
            if ui
                .button("Overwrite it with mine")
                .on_hover_text(
                    "Save your version; the disk's changes are lost (FILE.bak keeps them)",
                )
                .clicked()
            {
                out.push(Command::ResolveAccessConflict {
                    take_disk: false,
                    makemap: v.makemap,
                });
            }
        });
    });
}

fn save_preview(v: &mut AccessView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let Some(diff) = v.preview.clone() else {
        return;
    };
    let Some(doc) = cx.access else {
        return;
    };
    let path = doc.path.display().to_string();
    let errors = doc
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let mut save = false;
    let mut cancel = false;
    let modal = egui::Modal::new(egui::Id::unique("save-preview")).show(ui.ctx(), |ui| {
        ui.set_max_width(900.0);
        ui.heading(format!("Save {path}?"));
        if diff.is_empty() {
            ui.label("No changes to the file's content.");
        } else {
            widgets::diff_view(ui, "save-diff", &diff, 360.0);
        }
        if errors > 0 {
            ui.colored_label(ui.visuals().error_fg_color, format!("{errors} line(s) have errors that makemap or sendmail will not read as written."));
        }
        ui.label(format!("The current file is kept as {}.", crate::store::access::backup_path(&doc.path).display()));
        ui.checkbox(&mut v.makemap, "Rebuild the database (makemap hash)");
        ui.horizontal(|ui| {
            if ui.button("Save").clicked() {
                save = true;
            }
            if ui.button("Cancel").clicked() {
                cancel = true;
            }
        });
    });
    if modal.should_close() {
        cancel = true;
    }
    if save {
        out.push(Command::SaveAccess { makemap: v.makemap });
        v.preview = None;
    } else if cancel {
        v.preview = None;
    }
}
