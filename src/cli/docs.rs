//! Man pages and shell completions, generated from the clap definitions so
//! they can never drift from the real command line: nothing here is
//! written by hand except the few sections clap does not know about (exit
//! status, environment, files, see also).
//!
//! `starttls-studio completions SHELL` prints one completion script;
//! `starttls-studio generate-docs --out DIR` writes every page and script
//! (`scripts/package` uses it for the Debian package).

use super::Cli;
use crate::store::{fsutil, Error};
use clap::CommandFactory;
use clap_complete::Shell;
use roff::{bold, italic, roman, Roff};
use std::path::{Path, PathBuf};

/// The binary's name, as the pages and completions call it.
pub const BIN: &str = "starttls-studio";

/// The AppStream metainfo; its `<release>` entries are the release history.
pub const METAINFO: &str =
    include_str!("../../packaging/io.github.starttls_studio.StarttlsStudio.metainfo.xml");

/// The date (YYYY-MM-DD) of `version`'s `<release>` entry in the metainfo.
pub fn release_date(version: &str) -> Option<&'static str> {
    let key = format!("<release version=\"{version}\" date=\"");
    let start = METAINFO.find(&key)? + key.len();
    let date = METAINFO.get(start..start + 10)?;
    let ok = date.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        _ => b.is_ascii_digit(),
    });
    ok.then_some(date)
}

/// One generated man page.
#[derive(Debug, Clone)]
pub struct ManPage {
    /// `starttls-studio.1`, `starttls-studio-cert-issue.1`, …
    pub file_name: String,
    /// The page's roff source.
    pub text: Vec<u8>,
}

/// The clap command tree, built (display names such as
/// `starttls-studio-cert-issue` filled in), without the `help` subcommand.
fn command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Every man page: `starttls-studio.1` first, then one page per visible
/// subcommand at any depth (`starttls-studio-ca.1`, `starttls-studio-ca-init.1`, …).
pub fn man_pages() -> Vec<ManPage> {
    let root = command();
    let mut pages = vec![render_page(&root, None)];
    // Depth first, in definition order: each page is followed by its
    // subcommands' pages.
    let mut stack: Vec<(clap::Command, String)> = Vec::new();
    push_subcommands(&mut stack, &root);
    while let Some((cmd, parent)) = stack.pop() {
        pages.push(render_page(&cmd, Some(&parent)));
        push_subcommands(&mut stack, &cmd);
    }
    pages
}

fn push_subcommands(stack: &mut Vec<(clap::Command, String)>, cmd: &clap::Command) {
    let page = page_name(cmd);
    let subs: Vec<_> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    stack.extend(subs.into_iter().rev().map(|s| (s, page.clone())));
}

/// `starttls-studio-cert-issue` for `cert issue`.
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

/// Renders `cmd`'s page; `parent` is the page of the command above it
/// (`None` for the top page).
fn render_page(cmd: &clap::Command, parent: Option<&str>) -> ManPage {
    // A page's date is its release's, so the pages are reproducible.
    let date = release_date(env!("CARGO_PKG_VERSION")).unwrap_or("unreleased");
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("User Commands")
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .date(date);
    let file_name = man.get_filename();
    let mut text = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = man.render(&mut text);
    let mut extra = Roff::new();
    match parent {
        None => top_sections(&mut extra),
        Some(parent) => {
            extra.control("SH", ["SEE ALSO"]);
            extra.text([bold(parent), roman("(1)")]);
        }
    }
    // `to_roff` leaves apostrophes alone; the page already starts with the
    // preamble `render` writes, and the texts below contain none.
    text.extend_from_slice(extra.to_roff().as_bytes());
    ManPage { file_name, text }
}

fn top_sections(r: &mut Roff) {
    r.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "success"),
        (
            "1",
            "a failed check or refused input; the reason is on standard error",
        ),
        (
            "2",
            "a usage error (unknown command or option, missing argument)",
        ),
    ] {
        r.control("TP", []);
        r.text([bold(code)]);
        r.text([roman(meaning)]);
    }
    r.control("SH", ["ENVIRONMENT"]);
    r.control("TP", []);
    r.text([bold("STARTTLS_STUDIO_HOME")]);
    r.text([roman(
        "The data directory, as with --home. The command line option wins.",
    )]);
    r.control("SH", ["FILES"]);
    for (path, meaning) in [
        (
            "~/.local/share/starttls-studio",
            "the default data directory (the platform data directory)",
        ),
        (
            "HOME/ca/ca.crt, HOME/ca/ca.key",
            "the private CA (key mode 0400)",
        ),
        ("HOME/ca/crl.pem", "the CRL, after a revocation"),
        (
            "HOME/hosts/FQDN.crt, HOME/hosts/FQDN.key",
            "issued host certificates and keys (key mode 0600)",
        ),
        ("HOME/archive/", "certificates replaced by renew or revoke"),
        (
            "HOME/maildir/",
            "messages accepted by the embedded test server",
        ),
    ] {
        r.control("TP", []);
        r.text([italic(path)]);
        r.text([roman(meaning)]);
    }
    r.control("SH", ["SEE ALSO"]);
    r.text([
        bold("starttls-studio-completions"),
        roman("(1) for shell completion, "),
        bold("sendmail"),
        roman("(8), "),
        bold("makemap"),
        roman("(8), "),
        bold("openssl-rehash"),
        roman("(1ssl), "),
        bold("openssl-x509"),
        roman("(1ssl), "),
        bold("swaks"),
        roman("(1)"),
    ]);
    r.control("PP", []);
    r.text([roman(
        "The README of the package (/usr/share/doc/starttls-studio) has a walkthrough \
         and maps sendmail log lines to their causes and fixes.",
    )]);
}

/// The completion script for `shell`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    out
}

/// Where Debian puts each shell's completion file, relative to `/usr/share`.
pub fn completion_file_name(shell: Shell) -> Option<&'static str> {
    Some(match shell {
        Shell::Bash => "bash-completion/completions/starttls-studio",
        Shell::Zsh => "zsh/vendor-completions/_starttls-studio",
        Shell::Fish => "fish/vendor_completions.d/starttls-studio.fish",
        _ => return None,
    })
}

/// The shells `generate` writes completions for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes every man page to `OUT/man/man1/` and the bash, zsh and fish
/// completions to `OUT/` under their Debian paths below `/usr/share`
/// (`OUT/bash-completion/completions/starttls-studio`, …). Files are written
/// atomically, mode 0644. Returns the paths written, in order.
pub fn generate(out: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    let man_dir = out.join("man/man1");
    fsutil::create_dir_all(&man_dir, 0o755)?;
    for page in man_pages() {
        let path = man_dir.join(&page.file_name);
        fsutil::write_atomic(&path, &page.text, 0o644)?;
        written.push(path);
    }
    for shell in SHELLS {
        let Some(rel) = completion_file_name(shell) else {
            continue;
        };
        let path = out.join(rel);
        if let Some(dir) = path.parent() {
            fsutil::create_dir_all(dir, 0o755)?;
        }
        fsutil::write_atomic(&path, &completion(shell), 0o644)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(cmd: &clap::Command, out: &mut Vec<clap::Command>) {
        for s in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            out.push(s.clone());
            visible(s, out);
        }
    }

    #[test]
    fn one_page_per_visible_command() {
        let root = command();
        let mut all = vec![];
        visible(&root, &mut all);
        let pages = man_pages();
        assert_eq!(pages.len(), all.len() + 1);
        assert_eq!(pages[0].file_name, "starttls-studio.1");
        let mut names: Vec<_> = pages.iter().map(|p| p.file_name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), pages.len(), "page names are unique");
        assert!(names.contains(&"starttls-studio-cert-issue.1".to_string()));
        assert!(names.contains(&"starttls-studio-access-add-cert-relay.1".to_string()));
        let relay = pages
            .iter()
            .find(|p| p.file_name == "starttls-studio-access-add-cert-relay.1")
            .map(|p| String::from_utf8_lossy(&p.text).into_owned())
            .unwrap_or_default();
        assert!(
            relay.contains("\\fBstarttls\\-studio\\-access\\fR(1)"),
            "{relay}"
        );
    }

    /// A man page entry without a description helps nobody: every
    /// argument of every visible command says what it is.
    #[test]
    fn every_argument_is_documented() {
        let root = command();
        let mut all = vec![root.clone()];
        visible(&root, &mut all);
        let mut missing = vec![];
        for cmd in &all {
            if cmd.get_about().is_none() {
                missing.push(format!("{}: the command itself", page_name(cmd)));
            }
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{}: {}", page_name(cmd), arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "add a doc comment to: {missing:#?}");
    }

    #[test]
    fn the_current_version_has_a_release_entry() {
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            release_date(version).is_some(),
            "add <release version=\"{version}\" date=\"YYYY-MM-DD\"> to the metainfo"
        );
        assert_eq!(release_date("0.0.0-none"), None);
    }

    #[test]
    fn completions_name_the_subcommands() {
        for shell in SHELLS {
            let text = String::from_utf8(completion(shell)).unwrap_or_default();
            for word in ["install", "add-cert-relay", "probe"] {
                assert!(text.contains(word), "{shell}: {word}");
            }
        }
    }
}
