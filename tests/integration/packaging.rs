//! The packaging inputs, checked without a release build: the man pages
//! and completions `generate-docs` writes (rendered by the real groff and
//! man without a warning), the desktop entry (`desktop-file-validate`) and
//! the AppStream metainfo (`appstreamcli validate --no-net`). The package
//! itself is checked by `scripts/check-deb`.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const APP_ID: &str = starttls_studio::APP_ID;

fn generate(out: &Path) -> Vec<PathBuf> {
    let listed = run_ok(
        Command::new(studio_bin())
            .arg("generate-docs")
            .arg("--out")
            .arg(out),
    );
    listed.lines().map(PathBuf::from).collect()
}

#[test]
fn man_pages_render_without_warnings() {
    let groff = require("groff");
    let man = require("man");
    let dir = tempdir();
    let files = generate(dir.path());
    let pages: Vec<_> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "1"))
        .collect();
    assert!(pages.len() > 20, "one page per command: {pages:?}");
    let failures = par_map(&pages, |_, page| {
        // -k: preconv reads UTF-8, as man does; -ww: every warning.
        let g = run(Command::new(&groff)
            .args(["-k", "-man", "-ww", "-z"])
            .arg(page));
        let m = run(Command::new(&man)
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .env_remove("MAN_KEEP_FORMATTING"));
        let mut problems = String::new();
        for (tool, out) in [("groff", &g), ("man", &m)] {
            if !out.status.success() || !out.stderr.is_empty() {
                problems.push_str(&format!(
                    "{tool} ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        let text = String::from_utf8_lossy(&m.stdout);
        if !text.contains("NAME") || !text.contains("SYNOPSIS") {
            problems.push_str("no NAME or SYNOPSIS section");
        }
        (!problems.is_empty()).then(|| format!("{}: {problems}", page.display()))
    });
    assert!(failures.is_empty(), "{failures:#?}");

    // The top page lists the subcommands and the sections clap does not know.
    let top = run_ok(
        Command::new(&man)
            .arg("-l")
            .arg(dir.path().join("man/man1/starttls-studio.1"))
            .env("MANWIDTH", "80"),
    );
    for want in [
        "starttls-studio-cert(1)",
        "starttls-studio-access(1)",
        "EXIT STATUS",
        "STARTTLS_STUDIO_HOME",
        "SEE ALSO",
    ] {
        assert!(top.contains(want), "`{want}` missing from:\n{top}");
    }
}

#[test]
fn completions_are_written_and_printed_alike() {
    let dir = tempdir();
    generate(dir.path());
    for (shell, rel) in [
        ("bash", "bash-completion/completions/starttls-studio"),
        ("zsh", "zsh/vendor-completions/_starttls-studio"),
        ("fish", "fish/vendor_completions.d/starttls-studio.fish"),
    ] {
        let file = std::fs::read(dir.path().join(rel)).expect("completion file written");
        let printed = run_ok_bytes(Command::new(studio_bin()).args(["completions", shell]));
        assert_eq!(file, printed, "{shell}");
        assert!(String::from_utf8_lossy(&file).contains("add-cert-relay"));
    }
    // The bash script at least parses.
    let out = run(Command::new(require("bash")).arg("-n").arg(
        dir.path()
            .join("bash-completion/completions/starttls-studio"),
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = run(Command::new(studio_bin()).args(["completions", "tcsh"]));
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn desktop_entry_validates() {
    let path = project_root().join(format!("packaging/{APP_ID}.desktop"));
    let out = run(Command::new(require("desktop-file-validate")).arg(&path));
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert!(!report.contains("error"), "{report}");
    let text = std::fs::read_to_string(&path).expect("read desktop entry");
    for want in [
        "Exec=starttls-studio\n".to_string(),
        format!("Icon={APP_ID}\n"),
        format!("StartupWMClass={APP_ID}\n"),
    ] {
        assert!(text.contains(&want), "{} lacks {want}", path.display());
    }
}

#[test]
fn metainfo_validates() {
    let path = project_root().join(format!("packaging/{APP_ID}.metainfo.xml"));
    let out = run(Command::new(require("appstreamcli"))
        .args(["validate", "--no-net", "--explain"])
        .arg(&path));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).expect("read metainfo");
    assert!(text.contains(&format!("<id>{APP_ID}</id>")));
    assert!(text.contains(&format!(
        "<launchable type=\"desktop-id\">{APP_ID}.desktop</launchable>"
    )));
    for shot in ["welcome", "certificates", "access", "live-test"] {
        assert!(
            text.contains(&format!("docs/screenshots/{shot}.png</image>")),
            "screenshot {shot}"
        );
    }
    assert!(text.contains(&format!(
        "<release version=\"{}\"",
        env!("CARGO_PKG_VERSION")
    )));
}

/// Every file under packaging/ that belongs in the package is an asset of
/// `[package.metadata.deb]`, and the Debian changelog names this version.
#[test]
fn deb_metadata_lists_the_packaging_files() {
    let root = project_root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    for asset in [
        format!("packaging/{APP_ID}.desktop"),
        format!("packaging/{APP_ID}.metainfo.xml"),
        "assets/starttls-studio.svg".to_string(),
        "packaging/systemd/starttls-studio-renew.service".to_string(),
        "packaging/systemd/starttls-studio-renew.timer".to_string(),
        "packaging/default/starttls-studio".to_string(),
        "packaging/lintian-overrides".to_string(),
        "target/release/pkg/man/man1/*.1.gz".to_string(),
    ] {
        assert!(
            manifest.contains(&format!("[\"{asset}\"")),
            "{asset} is not an asset"
        );
    }
    let changelog =
        std::fs::read_to_string(root.join("packaging/changelog")).expect("read changelog");
    let first = changelog.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("starttls-studio ({}-", env!("CARGO_PKG_VERSION"))),
        "packaging/changelog's first entry is not this version: {first}"
    );
}
