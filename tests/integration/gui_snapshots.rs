//! Snapshot tests of the main screens, rendered with wgpu on this
//! machine's Mesa (lavapipe) and compared with the images in
//! `tests/snapshots/`. Only screens whose content does not depend on the
//! clock or on random key material are pictured, at fixed paths, so an
//! image changes only when the UI does. `UPDATE_SNAPSHOTS=1 cargo test
//! gui_snapshots` rewrites the images after an intended change.

use crate::gui::{click, click_contains, open_access, type_into, wait_for};
use eframe::egui;
use egui_kittest::Harness;
use starttls_studio::gui::{wizard::Step, StudioApp};
use starttls_studio::store::home::Home;
use std::path::PathBuf;

/// A fixed, empty directory for one test (its path shows on screen).
fn fixed_dir(name: &str) -> PathBuf {
    let d = PathBuf::from("/tmp/starttls-studio-snapshots").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn harness(home: PathBuf, theme: egui::Theme) -> Harness<'static, StudioApp> {
    harness_at(home, theme, 1.0)
}

/// `scale`: pixels per point (2.0: a 200% desktop scale).
fn harness_at(home: PathBuf, theme: egui::Theme, scale: f32) -> Harness<'static, StudioApp> {
    let mut app = StudioApp::new(Home::resolve(Some(home)).unwrap());
    app.settings.theme = match theme {
        egui::Theme::Dark => "dark".into(),
        egui::Theme::Light => "light".into(),
    };
    Harness::builder()
        .with_size(egui::vec2(1100.0, 720.0))
        .with_pixels_per_point(scale)
        .with_theme(theme)
        .wgpu()
        .build_ui_state(|ui, app: &mut StudioApp| app.show(ui), app)
}

/// Moves the pointer away and lets the frame settle before a picture.
fn settle(h: &mut Harness<'static, StudioApp>) {
    h.hover_at(egui::pos2(1090.0, 710.0));
    h.run_steps(4);
}

const ACCESS: &str = "# sendmail access map\n\
Connect:127.0.0.1\tRELAY\n\
TLS_Srv:secure.example.net\tVERIFY:128\n\
TLS_Clt:partner.example\tENCR:128\n\
TLS_Rcpt:bank.example\tPERM+VERIFY:112\n\
CERTISSUER:/CN=Example+20Mail+20CA\tRELAY\n\
CERTSUBJECT:/CN=relay.partner.example\tRELAY\n\
TLS_Clt:bad.example\tVERIFY:lots\n\
From:spammer@example.com\tREJECT\n";

#[test]
fn snapshot_welcome() {
    let dir = fixed_dir("welcome");
    let mut h = harness(dir.join("home"), egui::Theme::Light);
    wait_for(&mut h, 60, "the home", |a| a.snapshot.is_some());
    settle(&mut h);
    h.snapshot("welcome");
}

fn access_editor(theme: egui::Theme) {
    let name = format!("access-{theme:?}").to_lowercase();
    let dir = fixed_dir(&name);
    let file = dir.join("access");
    std::fs::write(&file, ACCESS).unwrap();
    let mut h = harness(dir.join("home"), theme);
    wait_for(&mut h, 60, "the home", |a| a.snapshot.is_some());
    open_access(&mut h, &file, 60);
    // The form for the line with a problem, with its message.
    click_contains(&mut h, "TLS_Clt:bad.example");
    settle(&mut h);
    h.snapshot(&name);
}

#[test]
fn snapshot_access_editor_light() {
    access_editor(egui::Theme::Light);
}

#[test]
fn snapshot_access_editor_dark() {
    access_editor(egui::Theme::Dark);
}

#[test]
fn snapshot_decisions() {
    let dir = fixed_dir("decisions");
    let file = dir.join("access");
    std::fs::write(&file, ACCESS).unwrap();
    let mut h = harness(dir.join("home"), egui::Theme::Light);
    wait_for(&mut h, 60, "the home", |a| a.snapshot.is_some());
    open_access(&mut h, &file, 60);
    click(&mut h, "Decisions");
    type_into(&mut h, "${cert_issuer}", "/CN=Example+20Mail+20CA");
    type_into(&mut h, "${cert_subject}", "/CN=relay.partner.example");
    settle(&mut h);
    h.snapshot("decisions");
}

#[test]
fn snapshot_wizard_summary() {
    let dir = fixed_dir("wizard");
    let mut h = harness(dir.join("home"), egui::Theme::Light);
    wait_for(&mut h, 60, "the home", |a| a.snapshot.is_some());
    click(&mut h, "Start");
    type_into(&mut h, "CA name", "Example Mail CA");
    h.state_mut().wizard.ca_kind = starttls_studio::core::pki::KeyKind::EcdsaP256;
    click(&mut h, "Next");
    type_into(&mut h, "Host name (FQDN)", "mx.example.org");
    h.state_mut().wizard.host_kind = starttls_studio::core::pki::KeyKind::EcdsaP256;
    click(&mut h, "Create keys and continue");
    type_into(&mut h, "Directory", dir.join("tls").to_str().unwrap());
    click(&mut h, "Next");
    wait_for(&mut h, 60, "the summary", |a| {
        a.wizard.step == Step::Summary
    });
    // The notice names the CA just made; its text is the same every time.
    settle(&mut h);
    h.snapshot("wizard-summary");
}

/// The overview of a home with a CA, one host installed, and nothing due.
fn overview(name: &str, theme: egui::Theme, scale: f32) {
    let dir = fixed_dir(name);
    let home = dir.join("home");
    crate::support::run_ok(crate::support::studio(&home).args([
        "ca",
        "init",
        "--cn",
        "Example Mail CA",
        "--key",
        "ecdsa-p256",
    ]));
    crate::support::run_ok(crate::support::studio(&home).args([
        "cert",
        "issue",
        "mx.example.org",
        "--key",
        "ecdsa-p256",
    ]));
    crate::support::run_ok(
        crate::support::studio(&home)
            .args(["install", "mx.example.org", "--to"])
            .arg(dir.join("tls")),
    );
    let mut h = harness_at(home, theme, scale);
    wait_for(&mut h, 60, "the home", |a| a.snapshot.is_some());
    // Days left depend on the second the test runs in: pin them.
    let mut snap = (**h.state().snapshot.as_ref().unwrap()).clone();
    let st = snap.status.as_mut().expect("status");
    st.ca.as_mut().unwrap().days_left = 3649;
    for host in &mut st.hosts {
        host.days_left = 364;
    }
    h.state_mut().snapshot = Some(std::sync::Arc::new(snap));
    settle(&mut h);
    h.snapshot(name);
}

#[test]
fn snapshot_overview_light() {
    overview("overview-light", egui::Theme::Light, 1.0);
}

/// At a 200% desktop scale: the same layout, twice the pixels.
#[test]
fn snapshot_overview_200_percent() {
    overview("overview-200", egui::Theme::Light, 2.0);
}

#[test]
fn snapshot_overview_dark() {
    overview("overview-dark", egui::Theme::Dark, 1.0);
}

#[test]
fn snapshot_log() {
    let dir = fixed_dir("log");
    let log = dir.join("mail.log");
    let corpus = crate::support::project_root().join("tests/data/maillog");
    let mut text = Vec::new();
    for name in [
        "verify-ok-l14",
        "tls-clt-verify-fail",
        "relay-denied-no-cert-l14",
    ] {
        text.extend(std::fs::read(corpus.join(format!("{name}.log"))).unwrap());
    }
    std::fs::write(&log, text).unwrap();
    let mut h = harness(dir.join("home"), egui::Theme::Light);
    wait_for(&mut h, 60, "the home", |a| a.snapshot.is_some());
    click(&mut h, "Log");
    type_into(&mut h, "Log file", log.to_str().unwrap());
    click(&mut h, "Open and follow");
    wait_for(&mut h, 30, "the lines", |a| a.log.read > 20);
    let line = h
        .state()
        .log
        .lines
        .iter()
        .find(|e| e.cause_id == Some("verify-required"))
        .unwrap()
        .line;
    h.state_mut().log_view.selected = Some(line);
    click(&mut h, "Stop following");
    wait_for(&mut h, 30, "the reader to stop", |a| a.log.job.is_none());
    settle(&mut h);
    h.snapshot("log");
}
