//! Small pieces the views share: labelled fields (labelled for screen
//! readers and for the UI tests, which find widgets by label), copyable
//! values, expiry colours, diffs.

use crate::core::cert::CertInfo;
use crate::core::linediff::DiffLine;
use eframe::egui;

/// A label and a single-line text field, associated for accessibility.
pub fn text_field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    width: f32,
) -> egui::Response {
    let l = ui.label(label);
    // A stable id (not one counted from the layout): the field keeps its
    // focus and text when rows above it appear or vanish (a job finishing).
    ui.add(
        egui::TextEdit::singleline(value)
            .id_salt(("field", label))
            .desired_width(width),
    )
    .labelled_by(l.id)
}

/// Gives a field the keyboard focus with its whole text selected (typing
/// replaces a pre-filled value; arrows keep it).
pub fn focus_all(ui: &egui::Ui, field: &egui::Response) {
    field.request_focus();
    if let Some(mut state) = egui::TextEdit::load_state(ui.ctx(), field.id) {
        let end = egui::text::CCursor::new(usize::MAX / 2);
        state
            .cursor
            .set_char_range(Some(egui::text::CCursorRange::two(
                egui::text::CCursor::new(0),
                end,
            )));
        state.store(ui.ctx(), field.id);
    }
}

/// Enter or Escape pressed while the focus left `field` this frame: the
/// form it is in submits (`Some(true)`) or closes (`Some(false)`).
pub fn submit_or_close(ui: &egui::Ui, field: &egui::Response) -> Option<bool> {
    if !field.lost_focus() {
        return None;
    }
    ui.input(|i| {
        if i.key_pressed(egui::Key::Enter) {
            Some(true)
        } else if i.key_pressed(egui::Key::Escape) {
            Some(false)
        } else {
            None
        }
    })
}

/// A value in monospace with a button that copies it: beside a one-line
/// value, above a block of several lines (not lost beside its last line).
pub fn copy_row(ui: &mut egui::Ui, value: &str, what: &str) -> bool {
    let mut copied = false;
    if value.contains('\n') {
        if ui
            .small_button("Copy")
            .on_hover_text(format!("Copy {what}"))
            .clicked()
        {
            copied = true;
        }
        ui.add(egui::Label::new(egui::RichText::new(value).monospace()).wrap());
        return copied;
    }
    ui.horizontal(|ui| {
        ui.add(egui::Label::new(egui::RichText::new(value).monospace()).wrap());
        if ui
            .small_button("Copy")
            .on_hover_text(format!("Copy {what}"))
            .clicked()
        {
            copied = true;
        }
    });
    copied
}

/// Days left until `not_after`, coloured: red when expired, amber under
/// 30 days.
pub fn expiry(ui: &mut egui::Ui, info: &CertInfo, now: i64) {
    let days = info.days_left(now);
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

/// `n` and the noun, singular or plural ("1 entry", "2 entries").
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A diff, coloured, in a scroll area of at most `max_height`.
pub fn diff_view(ui: &mut egui::Ui, id: &str, diff: &[DiffLine], max_height: f32) {
    let added = egui::Color32::from_rgb(0x2e, 0x9e, 0x4f);
    let removed = ui.visuals().error_fg_color;
    egui::ScrollArea::vertical()
        .id_salt(id)
        .max_height(max_height)
        .auto_shrink([false, true])
        .show_rows(
            ui,
            ui.text_style_height(&egui::TextStyle::Monospace),
            diff.len(),
            |ui, range| {
                for d in &diff[range] {
                    let (text, color) = match d {
                        DiffLine::Same(n, l) => {
                            (format!("{n:>6}   {l}"), ui.visuals().weak_text_color())
                        }
                        DiffLine::Removed(n, l) => (format!("{n:>6} - {l}"), removed),
                        DiffLine::Added(n, l) => (format!("{n:>6} + {l}"), added),
                        DiffLine::Skipped(n) => (
                            format!("       … {n} unchanged lines"),
                            ui.visuals().weak_text_color(),
                        ),
                    };
                    ui.label(egui::RichText::new(text).monospace().color(color));
                }
            },
        );
}

/// A path field with a "Browse…" button; returns true when Browse was
/// clicked (the caller pushes the file-dialog command).
pub fn path_field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    width: f32,
) -> (egui::Response, bool) {
    let mut browse = false;
    let r = ui
        .horizontal(|ui| {
            let r = text_field(ui, label, value, width);
            if ui
                .button("Browse…")
                .on_hover_text("Open the file dialog (you can also type the path)")
                .clicked()
            {
                browse = true;
            }
            r
        })
        .inner;
    (r, browse)
}
