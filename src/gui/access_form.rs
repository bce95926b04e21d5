//! The access editor's entry form: the fields of one entry (tag, key, a
//! TLS requirement built from its parts or any value typed), checked as
//! you type by `access check`'s own code, and what Apply writes.

use super::commands::{AccessEdit, Command, Sink};
use super::widgets;
use crate::core::access::{AccessMap, Tag};
use crate::core::access_check::{self, CheckContext, Severity};
use eframe::egui;

/// How a TLS requirement is built in the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    #[default]
    Verify,
    VerifyBits,
    Encr,
    /// Anything else, typed as text.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefix {
    #[default]
    None,
    Temp,
    Perm,
}

/// The entry being edited or added, field by field.
#[derive(Debug, Clone, Default)]
pub struct EntryForm {
    /// Line being edited (0-based); `None` adds a new entry.
    pub index: Option<usize>,
    /// Tag name as written ("" for an untagged entry).
    pub tag: String,
    pub target: String,
    pub level: Level,
    pub prefix: Prefix,
    pub bits: String,
    /// What follows the level (`+CN`, `+CS:…`).
    pub extra: String,
    /// The whole value, for entries that are not TLS requirements.
    pub value: String,
    /// The person confirmed a TLS requirement with an empty key (the
    /// default entry: every server, client or recipient).
    pub confirm_default: bool,
    /// Give the key field the focus on the next frame (a new form).
    pub focus: bool,
}

pub const TAG_CHOICES: &[&str] = &[
    "TLS_Srv",
    "TLS_Clt",
    "TLS_Rcpt",
    "CERTISSUER",
    "CERTSUBJECT",
    "Try_TLS",
    "Connect",
    "From",
    "To",
    "",
];

fn is_tls_tag(t: &str) -> bool {
    ["TLS_Srv", "TLS_Clt", "TLS_Rcpt"]
        .iter()
        .any(|x| x.eq_ignore_ascii_case(t))
}

impl EntryForm {
    pub fn new_tls() -> Self {
        EntryForm {
            tag: "TLS_Srv".into(),
            focus: true,
            ..Default::default()
        }
    }

    /// A TLS requirement with an empty key: sendmail's default entry for
    /// every peer of that kind. Returns how to say whom it covers.
    pub fn default_entry(&self) -> Option<&'static str> {
        if !self.target.trim().is_empty() {
            return None;
        }
        match self.tag.to_ascii_lowercase().as_str() {
            "tls_srv" => Some("every server (default entry)"),
            "tls_clt" => Some("every client (default entry)"),
            "tls_rcpt" => Some("every recipient (default entry)"),
            _ => None,
        }
    }

    /// The form for an existing entry.
    pub fn from_entry(index: usize, key: &str, value: &str) -> Self {
        let (tag, target) = match key.split_once(':') {
            Some((t, rest)) if Tag::from_name(t).is_some() => (t.to_string(), rest.to_string()),
            _ => (String::new(), key.to_string()),
        };
        let mut f = EntryForm {
            index: Some(index),
            tag,
            target,
            value: value.trim_end().to_string(),
            ..Default::default()
        };
        if is_tls_tag(&f.tag) {
            f.parse_requirement(value.trim());
        }
        f
    }

    /// Fills the fields from a value read by `core::access`'s parser (what
    /// sendmail acts on); a value it does not read stays text.
    fn parse_requirement(&mut self, v: &str) {
        use crate::core::access::{Level as Req, Severity as Sev, TlsRequirement};
        let Some(req) = TlsRequirement::parse(v) else {
            self.level = Level::Other;
            return;
        };
        self.prefix = match req.severity {
            None => Prefix::None,
            Some(Sev::Temp) => Prefix::Temp,
            Some(Sev::Perm) => Prefix::Perm,
        };
        (self.level, self.bits) = match &req.level {
            Req::Verify => (Level::Verify, String::new()),
            Req::VerifyBits(b) => (Level::VerifyBits, b.clone()),
            Req::Encr(b) => (Level::Encr, b.clone()),
        };
        self.extra = req.extensions_text();
    }

    pub fn key(&self) -> String {
        if self.tag.is_empty() {
            self.target.trim().to_string()
        } else {
            format!("{}:{}", self.tag, self.target.trim())
        }
    }

    pub fn composed_value(&self) -> String {
        if !is_tls_tag(&self.tag) || self.level == Level::Other {
            return self.value.trim().to_string();
        }
        let p = match self.prefix {
            Prefix::None => "",
            Prefix::Temp => "TEMP+",
            Prefix::Perm => "PERM+",
        };
        let l = match self.level {
            Level::Verify => "VERIFY".to_string(),
            Level::VerifyBits => format!("VERIFY:{}", self.bits.trim()),
            Level::Encr => format!("ENCR:{}", self.bits.trim()),
            Level::Other => unreachable!("handled above"),
        };
        format!("{p}{l}{}", self.extra.trim())
    }

    /// Problems with the form, per field, found by the same checks as
    /// `access check` on the line the form would write.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let key = self.key();
        let value = self.composed_value();
        if self.target.trim().is_empty() && !is_tls_tag(&self.tag) {
            out.push(("target", "Give a host, domain, address or DN.".to_string()));
        }
        if self.target.trim().contains(char::is_whitespace) {
            out.push((
                "target",
                "No blanks: makemap ends the key at the first blank. Encode them as +20 in a DN."
                    .into(),
            ));
        }
        if matches!(self.level, Level::VerifyBits | Level::Encr)
            && is_tls_tag(&self.tag)
            && self.bits.trim().parse::<u32>().is_err()
        {
            out.push(("bits", "Bits: a number, e.g. 128".into()));
        }
        if value.is_empty() {
            out.push(("value", "The value is empty.".into()));
        }
        if out.is_empty() {
            let map = AccessMap::parse(format!("{key}\t{value}\n").as_bytes());
            for f in access_check::check(&map, &CheckContext::default()) {
                let field = if f.col <= key.len() {
                    "target"
                } else {
                    "value"
                };
                let sev = if f.severity == Severity::Error {
                    ""
                } else {
                    "(warning) "
                };
                out.push((field, format!("{sev}{}", f.message)));
            }
        }
        out
    }

    fn blocking(&self) -> bool {
        let key = self.key();
        let value = self.composed_value();
        if key.is_empty() || value.is_empty() {
            return true;
        }
        let map = AccessMap::parse(format!("{key}\t{value}\n").as_bytes());
        access_check::check(&map, &CheckContext::default())
            .iter()
            .any(|f| f.severity == Severity::Error)
            || self.target.trim().contains(char::is_whitespace)
    }
}

/// The form for the selected or a new entry; `true` once it is done
/// (applied, deleted or cancelled) and should close.
pub fn show(f: &mut EntryForm, out: &mut Sink, ui: &mut egui::Ui) -> bool {
    let problems = f.problems();
    let blocking = f.blocking();
    let field_problems = |field: &str| -> Vec<String> {
        problems
            .iter()
            .filter(|(w, _)| *w == field)
            .map(|(_, m)| m.clone())
            .collect()
    };
    let mut apply = false;
    let mut cancel = false;
    let mut keys: Vec<egui::Response> = Vec::new();
    let mut delete = false;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.strong(match f.index {
            Some(i) => format!("Line {}", i + 1),
            None => "New entry".to_string(),
        });
        ui.horizontal(|ui| {
            let l = ui.label("Tag");
            egui::ComboBox::from_id_salt("entry-tag")
                .selected_text(if f.tag.is_empty() {
                    "(no tag)"
                } else {
                    f.tag.as_str()
                })
                .show_ui(ui, |ui| {
                    for t in TAG_CHOICES {
                        let label = if t.is_empty() { "(no tag)" } else { t };
                        ui.selectable_value(&mut f.tag, t.to_string(), label);
                    }
                })
                .response
                .labelled_by(l.id);
            let hint = match f.tag.as_str() {
                "CERTISSUER" | "CERTSUBJECT" => "DN, +XX-encoded as sendmail holds it",
                t if is_tls_tag(t) => "host, domain or address (empty: every peer)",
                _ => "host, domain, address or user",
            };
            let key = widgets::text_field(ui, "Key", &mut f.target, 360.0).on_hover_text(hint);
            if std::mem::take(&mut f.focus) {
                widgets::focus_all(ui, &key);
            }
            keys.push(key);
        });
        for p in field_problems("target") {
            ui.colored_label(ui.visuals().error_fg_color, p);
        }
        if let Some(whom) = f.default_entry() {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "Empty key: {whom}. This requirement applies to {}.",
                    whom.trim_end_matches(" (default entry)")
                ),
            );
            ui.checkbox(
                &mut f.confirm_default,
                format!(
                    "Yes, require it of {}",
                    whom.trim_end_matches(" (default entry)")
                ),
            );
        } else {
            f.confirm_default = false;
        }
        if is_tls_tag(&f.tag) {
            ui.horizontal(|ui| {
                let l = ui.label("Requirement");
                egui::ComboBox::from_id_salt("entry-level")
                    .selected_text(match f.level {
                        Level::Verify => "VERIFY",
                        Level::VerifyBits => "VERIFY:bits",
                        Level::Encr => "ENCR:bits",
                        Level::Other => "other (type it)",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut f.level, Level::Verify, "VERIFY")
                            .on_hover_text("the peer's certificate must verify");
                        ui.selectable_value(&mut f.level, Level::VerifyBits, "VERIFY:bits")
                            .on_hover_text("verified, and at least this many cipher bits");
                        ui.selectable_value(&mut f.level, Level::Encr, "ENCR:bits")
                            .on_hover_text(
                                "encrypted with at least this many bits, certificate or not",
                            );
                        ui.selectable_value(&mut f.level, Level::Other, "other (type it)");
                    })
                    .response
                    .labelled_by(l.id);
                if matches!(f.level, Level::VerifyBits | Level::Encr) {
                    keys.push(widgets::text_field(ui, "Bits", &mut f.bits, 50.0));
                }
                if f.level != Level::Other {
                    let l = ui.label("On failure");
                    egui::ComboBox::from_id_salt("entry-prefix")
                        .selected_text(match f.prefix {
                            Prefix::None => "default (temporary 403)",
                            Prefix::Temp => "TEMP+ (temporary 403)",
                            Prefix::Perm => "PERM+ (permanent 503)",
                        })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(
                                &mut f.prefix,
                                Prefix::None,
                                "default (temporary 403)",
                            );
                            ui.selectable_value(
                                &mut f.prefix,
                                Prefix::Temp,
                                "TEMP+ (temporary 403)",
                            );
                            ui.selectable_value(
                                &mut f.prefix,
                                Prefix::Perm,
                                "PERM+ (permanent 503)",
                            );
                        })
                        .response
                        .labelled_by(l.id);
                    keys.push(
                        widgets::text_field(ui, "Extensions", &mut f.extra, 200.0).on_hover_text(
                            "e.g. +CN, +CN:name, +CS:dn, +CI:dn (several joined with ++)",
                        ),
                    );
                } else {
                    keys.push(widgets::text_field(ui, "Value", &mut f.value, 300.0));
                }
            });
            for p in field_problems("bits") {
                ui.colored_label(ui.visuals().error_fg_color, p);
            }
        } else {
            ui.horizontal(|ui| {
                keys.push(widgets::text_field(ui, "Value", &mut f.value, 300.0));
                for v in ["RELAY", "SUBJECT", "OK", "REJECT"] {
                    if ui.small_button(v).clicked() {
                        f.value = v.to_string();
                    }
                }
            });
        }
        for p in field_problems("value") {
            ui.colored_label(ui.visuals().error_fg_color, p);
        }
        ui.horizontal(|ui| {
            ui.label("Line:");
            ui.monospace(format!("{}\t{}", f.key(), f.composed_value()));
        });
        let enabled = !blocking && (f.default_entry().is_none() || f.confirm_default);
        // Enter in a field submits the form, Escape closes it.
        match keys.iter().find_map(|k| widgets::submit_or_close(ui, k)) {
            Some(true) if enabled => apply = true,
            Some(false) => cancel = true,
            _ => {}
        }
        ui.horizontal(|ui| {
            let label = if f.index.is_some() { "Apply" } else { "Add" };
            if ui.add_enabled(enabled, egui::Button::new(label)).clicked() {
                apply = true;
            }
            if ui.button("Cancel").clicked() {
                cancel = true;
            }
            if f.index.is_some()
                && ui
                    .button("Delete line")
                    .on_hover_text("Delete key")
                    .clicked()
            {
                delete = true;
            }
        });
    });
    let (index, key, value) = (f.index, f.key(), f.composed_value());
    if apply {
        let edit = match index {
            Some(index) => AccessEdit::Replace { index, key, value },
            None => AccessEdit::Set { key, value },
        };
        out.push(Command::EditAccess(edit));
    }
    if delete {
        if let Some(index) = index {
            out.push(Command::EditAccess(AccessEdit::Remove { index }));
        }
    }
    apply || cancel || delete
}
