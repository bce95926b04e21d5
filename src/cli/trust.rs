//! `trust add/list/remove`: partners' CAs in an install's CA directory.

use super::{out, outln, print_json, Error};
use crate::store::doctor::{self, DoctorInput};
use crate::store::home::Home;
use crate::store::{fsutil, trust};
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum TrustCommand {
    /// Trust the CA certificate(s) in FILE for verifying peers: each into DIR/certs as its own file, then rehashed (all or nothing: a certificate that is not a CA refuses the file)
    Add {
        /// PEM (one or more) or DER
        file: PathBuf,
        /// The install directory (`install FQDN --to DIR`)
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Also name it to clients: add it to DIR/CAcert.pem (confCACERT)
        #[arg(long)]
        announce: bool,
        /// Keep an expired (or not yet valid) CA on record anyway
        #[arg(long)]
        allow_expired: bool,
    },
    /// Every CA in DIR/certs and DIR/CAcert.pem
    List {
        /// The install directory
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// JSON array: subject, subject_sendmail, subject_hash, not_after, sha256_fingerprint, announced, …
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a CA (SHA-256 fingerprint, colons optional, or a file holding it): its files, its CAcert.pem entry and its links go
    Remove {
        /// Fingerprint or certificate file
        #[arg(value_name = "FINGERPRINT|FILE")]
        what: String,
        /// The install directory
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Also when it is this home's own CA
        #[arg(long)]
        force: bool,
    },
}

pub fn trust_cmd(home: &Home, c: TrustCommand) -> Result<i32, Error> {
    match c {
        TrustCommand::Add {
            file,
            to,
            announce,
            allow_expired,
        } => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let r = trust::add(&file, &to, announce, allow_expired, now)?;
            for (c, path) in &r.added {
                eprintln!(
                    "trusted: {} (expires {}) -> {}",
                    c.subject,
                    c.not_after,
                    path.display()
                );
            }
            for c in &r.already {
                eprintln!("already trusted: {}", c.subject);
            }
            for c in &r.announced {
                eprintln!(
                    "announced in {}: {}",
                    to.join(crate::store::install::CA_FILE).display(),
                    c.subject
                );
            }
            if let Some(rh) = &r.rehash {
                eprintln!(
                    "  {}: {} certificates hashed ({} links created, {} removed)",
                    rh.dir.display(),
                    rh.certs,
                    rh.created + rh.replaced,
                    rh.removed
                );
            }
            for w in &r.warnings {
                eprintln!("starttls-studio: warning: {w}");
            }
            note_sendmail_ca_path(&to);
            let all: Vec<_> = r.added.iter().map(|(c, _)| c).chain(&r.already).collect();
            eprintln!("Trust alone lets no one relay. The access line that would let every certificate from it relay (add it with `starttls-studio access add-cert-relay --cert FILE`):");
            for c in all {
                outln!("CERTISSUER:{}\tRELAY", c.subject_sendmail);
            }
            Ok(0)
        }
        TrustCommand::List { to, json } => {
            let all = trust::list(&to, Some(home))?;
            if json {
                print_json(&all)?;
                return Ok(0);
            }
            for c in &all {
                out!(
                    "{}{} {}  expires {}  sha256 {}\n    {}\n",
                    if c.announced { "A" } else { "-" },
                    if c.ours { "O" } else { "-" },
                    c.info.subject,
                    c.info.not_after,
                    c.info.sha256_fingerprint,
                    c.file
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| {
                            "only in CAcert.pem: announced but not in the CA directory".into()
                        })
                );
            }
            eprintln!(
                "{} CA(s); A = announced in CAcert.pem, O = this home's own CA",
                all.len()
            );
            Ok(0)
        }
        TrustCommand::Remove { what, to, force } => {
            let r = trust::remove(&to, &what, Some(home), force)?;
            for (c, files) in &r.removed {
                outln!(
                    "no longer trusted: {}{}",
                    c.subject,
                    if files.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (removed {})",
                            files
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                );
            }
            for c in &r.unannounced {
                outln!("no longer announced: {}", c.subject);
            }
            if let Some(rh) = &r.rehash {
                eprintln!(
                    "  {}: {} certificates hashed ({} links removed)",
                    rh.dir.display(),
                    rh.certs,
                    rh.removed
                );
            }
            eprintln!("Access lines naming it (CERTISSUER:…) stay; they now match no verified certificate. `starttls-studio access remove KEY` removes one.");
            Ok(0)
        }
    }
}

/// When the system's sendmail takes its CAs from another directory (Debian's
/// stock `/etc/ssl/certs`), trusting here changes nothing for it: say so.
fn note_sendmail_ca_path(to: &Path) {
    let Ok(loc) = doctor::locate(&DoctorInput::system()) else {
        return;
    };
    let Some(ca_path) = loc.settings.ca_path.as_deref() else {
        return;
    };
    let theirs = std::fs::canonicalize(ca_path).unwrap_or_else(|_| PathBuf::from(ca_path));
    let ours = std::fs::canonicalize(to.join(crate::store::install::CAPATH_DIR))
        .unwrap_or_else(|_| to.join(crate::store::install::CAPATH_DIR));
    if theirs == ours {
        return;
    }
    let whose = fsutil::managed_by(&theirs)
        .map(|m| format!(", which belongs to {m} and is not managed here"))
        .unwrap_or_default();
    eprintln!(
        "note: the sendmail here takes its CAs from {} (confCACERT_PATH in {}){whose}; this trust has no effect on it until it uses {}: starttls-studio mc apply --to {}",
        theirs.display(),
        loc.sources
            .last()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        ours.display(),
        to.display()
    );
}
