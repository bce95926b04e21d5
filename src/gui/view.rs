//! The contract between the application and its views, as types: a view
//! gets its own state (`&mut XView`: typed text, selection, open forms), a
//! read-only [`ViewCtx`] of the application state, and a [`Sink`] for the
//! [`Command`](super::commands::Command)s it wants carried out. It cannot
//! change the application state, start a job or touch a file: the types
//! leave it nothing to do that with.

use super::access_doc::AccessDoc;
use super::commands::{CapturedMessage, Snapshot};
use super::jobs::Jobs;
use super::settings::Settings;
use super::ServerState;
use crate::net::probe::ProbeReport;
use crate::net::server::SessionLog;
use crate::store::doctor::Report;
use crate::store::home::Home;
use std::sync::Arc;

/// What every view may read.
pub struct ViewCtx<'a> {
    pub home: &'a Home,
    pub settings: &'a Settings,
    /// The home and the machine as last read; `None` while reading.
    pub snapshot: Option<&'a Arc<Snapshot>>,
    /// The access map being edited.
    pub access: Option<&'a AccessDoc>,
    /// An edit of it is being applied in the background (a large map).
    pub access_editing: bool,
    /// Lines of the access map a decision's trace points at.
    pub highlight: &'a [usize],
    pub server: &'a ServerState,
    pub sessions: &'a [SessionLog],
    pub messages: &'a [CapturedMessage],
    pub own_probe: Option<&'a ProbeReport>,
    pub other_probe: Option<&'a ProbeReport>,
    pub doctor_report: Option<&'a Report>,
    pub mc_plan: Option<&'a (crate::store::mc::Plan, Option<String>)>,
    pub partners: Option<&'a super::commands::PartnersState>,
    /// `status` as last read with the snapshot.
    pub status: Option<&'a crate::store::status::Status>,
    pub trust_preview: Option<&'a super::commands::TrustPreview>,
    pub mc_result: Option<&'a (bool, Vec<String>)>,
    pub jobs: &'a Jobs,
    pub log: &'a super::commands::LogState,
    /// The partner certificate read for onboarding (Partners view).
    pub partner_cert: Option<&'a (std::path::PathBuf, Vec<crate::core::cert::CertInfo>)>,
    /// The last signed partner request: host, certificate (PEM).
    pub signed: Option<&'a (String, String)>,
}
