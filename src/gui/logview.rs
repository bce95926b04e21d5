//! The Log view: sendmail's log explained live — the same explainer as
//! `log explain` — with filters by peer and outcome, and a way from a line
//! to the Decisions view (pre-filled with the session's macros) or to the
//! Doctor finding that checks the same thing.

use super::commands::{Command, Sink};
use super::view::ViewCtx;
use crate::core::maillog::{Explained, Severity};
use eframe::egui;
use std::path::PathBuf;

/// How many lines back from the end a newly opened log starts.
pub const TAIL: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Show {
    #[default]
    Problems,
    Explained,
    Everything,
}

pub struct LogView {
    pub path: String,
    pub peer: String,
    pub show: Show,
    pub selected: Option<u64>,
}

impl Default for LogView {
    fn default() -> Self {
        LogView {
            path: crate::store::logread::DEFAULT_LOG.into(),
            peer: String::new(),
            show: Show::Problems,
            selected: None,
        }
    }
}

fn wanted(v: &LogView, e: &Explained) -> bool {
    let shown = match v.show {
        Show::Problems => e.severity > Severity::Info || e.cause_id.is_some(),
        Show::Explained => {
            e.known && !matches!(e.kind, Some("routine" | "connect" | "daemon" | "dh-init"))
        }
        Show::Everything => true,
    };
    shown && (v.peer.is_empty() || e.peer.as_deref().is_some_and(|p| p.contains(v.peer.trim())))
}

fn severity_text(s: Severity, known: bool) -> (&'static str, fn(&egui::Visuals) -> egui::Color32) {
    match (s, known) {
        (_, false) => ("unknown", |v| v.weak_text_color()),
        (Severity::Error, _) => ("error", |v| v.error_fg_color),
        (Severity::Warning, _) => ("warning", |v| v.warn_fg_color),
        (Severity::Info, _) => ("note", |v| v.text_color()),
    }
}

pub fn show(v: &mut LogView, cx: &ViewCtx, out: &mut Sink, ui: &mut egui::Ui) {
    let state = cx.log;
    ui.heading("sendmail's log, explained");
    ui.label("Each STARTTLS, TLS-requirement, relay and file-safety line: what happened, why, what to do. The same explanations as `starttls-studio log explain`.");
    let following = state.job.is_some_and(|j| cx.jobs.is_running(j));
    ui.horizontal(|ui| {
        let l = ui.label("Log file");
        let edit = ui
            .add(egui::TextEdit::singleline(&mut v.path).desired_width(360.0))
            .labelled_by(l.id);
        let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if following {
            if ui.button("Stop following").clicked() {
                out.push(Command::StopLog);
            }
        } else {
            if ui.button("Open and follow").clicked() || enter {
                out.push(Command::OpenLog {
                    path: Some(PathBuf::from(v.path.trim())),
                });
            }
            if ui
                .button("Follow the journal")
                .on_hover_text(crate::store::logread::JOURNAL_ACCESS)
                .clicked()
            {
                out.push(Command::OpenLog { path: None });
            }
        }
    });
    ui.weak("Debian: /var/log/mail.log (root and the adm group may read it); systems without rsyslog keep the log only in the journal.");
    if let Some(p) = &state.source {
        ui.label(format!(
            "{} {}: {} line(s) read{}",
            if following { "Following" } else { "Read" },
            p,
            state.read,
            if state.read as usize > state.lines.len() {
                format!(", the last {} kept", state.lines.len())
            } else {
                String::new()
            }
        ));
    }
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Show");
        ui.selectable_value(&mut v.show, Show::Problems, "Problems");
        ui.selectable_value(&mut v.show, Show::Explained, "Explained lines");
        ui.selectable_value(&mut v.show, Show::Everything, "Every line");
        let l = ui.label("Peer contains");
        ui.add(egui::TextEdit::singleline(&mut v.peer).desired_width(160.0))
            .labelled_by(l.id);
    });
    let rows: Vec<&Explained> = state.lines.iter().filter(|e| wanted(v, e)).collect();
    if state.source.is_some() && state.read == 0 && following {
        ui.label(format!(
            "Nothing yet. If sendmail logs here and nothing comes: {}.",
            crate::store::logread::JOURNAL_ACCESS
        ));
    } else if state.source.is_some() && rows.is_empty() {
        ui.label(match v.show {
            Show::Problems => "No problems in the lines read (so far).",
            _ => "No lines match.",
        });
    }
    let selected = v
        .selected
        .and_then(|n| rows.iter().find(|e| e.line == n).copied());
    if let Some(e) = selected {
        details(e, out, ui);
        ui.separator();
    }
    let row_h = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .show_rows(ui, row_h, rows.len(), |ui, range| {
            for e in &rows[range] {
                let (word, color) = severity_text(e.severity, e.known);
                let text = format!(
                    "{:>6}  {:<8} {}{}",
                    e.line,
                    word,
                    e.peer
                        .as_deref()
                        .map(|p| format!("{p}: "))
                        .unwrap_or_default(),
                    e.summary.as_deref().unwrap_or(&e.text)
                );
                let rich = egui::RichText::new(text)
                    .color(color(ui.visuals()))
                    .monospace();
                let r = ui.add(
                    egui::Button::selectable(v.selected == Some(e.line), rich)
                        .truncate()
                        .min_size(egui::vec2(ui.available_width(), 0.0)),
                );
                if r.clicked() {
                    v.selected = if v.selected == Some(e.line) {
                        None
                    } else {
                        Some(e.line)
                    };
                }
                r.on_hover_text(&e.text);
            }
        });
}

fn details(e: &Explained, out: &mut Sink, ui: &mut egui::Ui) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.add(egui::Label::new(egui::RichText::new(&e.text).monospace()).truncate())
            .on_hover_text(&e.text);
        if let Some(s) = e.summary.as_deref() {
            ui.strong(s);
        }
        if let Some(c) = &e.cause {
            ui.label(format!("Why: {c}"));
        }
        if let Some(f) = &e.fix {
            ui.label(format!("What to do: {f}"));
        }
        if !e.macros.is_empty() {
            let m: Vec<String> = e.macros.iter().map(|(k, v)| format!("${{{k}}}={v}")).collect();
            ui.weak(m.join("  "));
        }
        ui.horizontal(|ui| {
            if e.macros.contains_key("verify")
                && ui
                    .button("Open in Decisions")
                    .on_hover_text("What would sendmail decide for this session? The Decisions view, filled with its macro values")
                    .clicked()
            {
                out.push(Command::ExplainLogLine(Box::new(e.clone())));
            }
            if let Some(id) = e.doctor {
                if ui
                    .button(format!("Check with Doctor ({id})"))
                    .on_hover_text("The Doctor checks the same thing in the configured files")
                    .clicked()
                {
                    out.push(Command::ShowTab(super::Tab::Doctor));
                }
            }
        });
    });
}
