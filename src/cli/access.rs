//! `access …` and `policy eval`: the access map and the decision evaluator
//! on the command line.

use super::{out, outln, refused, Error};
use crate::core::access::{AccessMap, Edit, Tag};
use crate::core::access_check::{self, CheckContext, Severity};
use crate::core::cert::CertInfo;
use crate::core::linediff;
use crate::core::policy::{self, Macros, Options, Ruleset, MACRO_NAMES};
use crate::store::home::Home;
use crate::store::{access as store_access, certfiles};
use clap::{Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where `access` edits go by default.
pub const DEFAULT_ACCESS: &str = "/etc/mail/access";

#[derive(Subcommand, Debug)]
pub enum AccessCommand {
    /// Check an access source file: FILE:LINE:COL: error|warning: message
    Check {
        /// The access source file (the text makemap reads, e.g. /etc/mail/access)
        file: PathBuf,
        /// CA directory (confCACERT_PATH): warn about CERTISSUER entries no CA there has
        #[arg(long, value_name = "DIR")]
        ca_path: Option<PathBuf>,
        /// Warnings fail too (exit 1), e.g. in CI
        #[arg(long)]
        strict: bool,
    },
    /// Print what makemap would store, one `key<TAB>value` per line (like `makemap -u hash`)
    Dump {
        /// The access source file
        file: PathBuf,
    },
    /// Let certificates relay: CERTISSUER (and with --subject CERTSUBJECT) lines from a real certificate
    #[command(group(clap::ArgGroup::new("source").required(true).args(["cert", "ca"])))]
    AddCertRelay {
        /// A client certificate (its issuer is trusted), or a CA certificate (its subject is)
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        /// Our own CA (the home's): every certificate it issues may relay
        #[arg(long)]
        ca: bool,
        /// Only this certificate's subject may relay, not every certificate of its CA
        #[arg(long)]
        subject: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Set a TLS requirement: TLS_Clt (clients), TLS_Srv (servers), TLS_Rcpt (recipients)
    SetTls {
        /// Which requirement: TLS_Clt, TLS_Srv or TLS_Rcpt
        #[arg(long, value_enum)]
        tag: TlsTag,
        /// Host, domain, address or recipient; omit for every peer (the bare tag)
        #[arg(long, default_value = "")]
        host: String,
        /// e.g. VERIFY, VERIFY:128, ENCR:128, PERM+VERIFY:128+CN
        #[arg(long, value_name = "REQUIREMENT")]
        require: String,
        #[command(flatten)]
        target: Target,
    },
    /// Remove every entry with this key (case-insensitive)
    Remove {
        /// The key, e.g. `TLS_Clt:client.example.net` or `CERTISSUER:/CN=...`
        key: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(clap::Args, Debug)]
pub struct Target {
    /// `--access FILE`; without it the edit goes to [`DEFAULT_ACCESS`] (no
    /// clap default: the edit must say when it writes the default file).
    #[arg(
        long = "access",
        value_name = "FILE",
        help = format!("The access source file to edit [default: {DEFAULT_ACCESS}]")
    )]
    pub file: Option<PathBuf>,
    /// Rebuild the database afterwards (makemap hash FILE < FILE)
    #[arg(long)]
    pub makemap: bool,
    /// Show the new lines without saving
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
#[allow(clippy::enum_variant_names)] // the names are sendmail's tags
pub enum TlsTag {
    #[value(name = "TLS_Clt", alias = "tls_clt")]
    TlsClt,
    #[value(name = "TLS_Srv", alias = "tls_srv")]
    TlsSrv,
    #[value(name = "TLS_Rcpt", alias = "tls_rcpt")]
    TlsRcpt,
}

impl Target {
    /// The file the edit goes to.
    fn path(&self) -> &Path {
        self.file.as_deref().unwrap_or(Path::new(DEFAULT_ACCESS))
    }
}

impl TlsTag {
    fn tag(self) -> Tag {
        match self {
            TlsTag::TlsClt => Tag::TlsClt,
            TlsTag::TlsSrv => Tag::TlsSrv,
            TlsTag::TlsRcpt => Tag::TlsRcpt,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RulesetArg {
    #[value(name = "tls_client")]
    TlsClient,
    #[value(name = "tls_server")]
    TlsServer,
    #[value(name = "tls_rcpt")]
    TlsRcpt,
    #[value(name = "relay")]
    Relay,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum At {
    Starttls,
    Mail,
}

#[derive(clap::Args, Debug)]
pub struct PolicyEval {
    /// The access source file
    #[arg(long, value_name = "FILE")]
    pub access: PathBuf,
    /// The ruleset to evaluate
    #[arg(long, value_enum)]
    pub ruleset: RulesetArg,
    /// A macro value, sendmail's name without braces: verify=OK, cert_issuer=/C=US/..., cipher_bits=256, client_name=…
    #[arg(long = "macro", value_name = "NAME=VALUE")]
    pub macros: Vec<String>,
    /// Recipient (tls_rcpt, relay)
    #[arg(long, value_name = "ADDR")]
    pub rcpt: Option<String>,
    /// The sendmail.cf has define(`TLS_PERM_ERR'): default refusal 554 5.7.0
    #[arg(long)]
    pub tls_perm_err: bool,
    /// tls_client: after STARTTLS (default) or at MAIL (the same answer)
    #[arg(long, value_enum, default_value = "starttls")]
    pub at: At,
    /// JSON: {"outcome", "reply", "trace"}
    #[arg(long)]
    pub json: bool,
}

fn print_edit(key_hint: &str, e: &Edit) {
    match e {
        Edit::Added { line } => eprintln!("  line {line}: added {key_hint}"),
        Edit::Changed { line, old } => eprintln!(
            "  line {line}: changed {key_hint} (was `{}`)",
            old.trim_end()
        ),
        Edit::Unchanged { line } => eprintln!("  line {line}: {key_hint} already set"),
    }
}

/// Names the file an edit goes to (saying so when it is the default, as
/// no --access was given) and shows the change as a diff, on stderr,
/// before anything is written. Returns whether anything changes.
fn announce(target: &Target, before: &[u8], after: &[u8]) -> bool {
    let path = target.path();
    let mut notes = Vec::new();
    if target.file.is_none() {
        notes.push("the default: no --access FILE given");
    }
    if !path.exists() {
        notes.push("a new file");
    }
    let heading = if notes.is_empty() {
        path.display().to_string()
    } else {
        format!("{} ({})", path.display(), notes.join("; "))
    };
    if before == after {
        eprintln!("{heading}: nothing to change");
        return false;
    }
    eprintln!("{heading}: the changes");
    let diff = linediff::diff_lines(
        &String::from_utf8_lossy(before),
        &String::from_utf8_lossy(after),
        2,
    );
    eprint!("{}", linediff::render(&diff));
    true
}

/// Shows the change, then saves it (or, with --dry-run, prints the new
/// lines on stdout and writes nothing).
fn finish(
    target: &Target,
    before: &[u8],
    map: &AccessMap,
    edits: &[(String, Edit)],
) -> Result<i32, Error> {
    let changed = announce(target, before, &map.to_bytes());
    for (k, e) in edits {
        print_edit(k, e);
    }
    if target.dry_run {
        for (_, e) in edits {
            if let Edit::Added { line } | Edit::Changed { line, .. } = e {
                if let Some(l) = map.lines.get(line - 1) {
                    out!("{}", String::from_utf8_lossy(&l.raw));
                }
            }
        }
        eprintln!("(dry run: {} not changed)", target.path().display());
        return Ok(0);
    }
    if !changed {
        return Ok(0);
    }
    save_and_report(target, map)
}

fn save_and_report(target: &Target, map: &AccessMap) -> Result<i32, Error> {
    let file = target.path();
    let report = store_access::save(file, map, target.makemap)?;
    eprintln!("saved {}", file.display());
    if let Some(b) = report.backup {
        eprintln!("  previous version: {}", b.display());
    }
    match report.makemap {
        Some(Ok(m)) => eprintln!("  {m}"),
        Some(Err(m)) => {
            eprintln!("starttls-studio: error: {m}");
            return Ok(1);
        }
        None => eprintln!(
            "  rebuild the database: makemap hash {0} < {0} (or pass --makemap)",
            file.display()
        ),
    }
    Ok(0)
}

/// sendmail forms of the subjects of the CAs in a CA directory.
fn known_issuers(dir: &Path) -> Result<Vec<String>, Error> {
    Ok(certfiles::ders_in_dir(dir)?
        .iter()
        .filter_map(|d| CertInfo::from_der(d).ok())
        .map(|c| c.subject_sendmail)
        .collect())
}

pub fn access(c: AccessCommand, home: Option<&Home>) -> Result<i32, Error> {
    match c {
        AccessCommand::Dump { file } => {
            let map = store_access::load(&file)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for (key, value) in map.database().iter_in_file_order(&map) {
                // Bytes as makemap stores them, like `makemap -u`.
                let _ = out.write_all(&key);
                let _ = out.write_all(b"\t");
                let _ = out.write_all(&value);
                let _ = out.write_all(b"\n");
            }
            Ok(0)
        }
        AccessCommand::Check {
            file,
            ca_path,
            strict,
        } => {
            let map = store_access::load(&file)?;
            let ctx = CheckContext {
                known_issuers: ca_path.as_deref().map(known_issuers).transpose()?,
                ineffective_is_error: true,
            };
            let findings = access_check::check(&map, &ctx);
            for f in &findings {
                outln!(
                    "{}:{}:{}: {}: {}",
                    file.display(),
                    f.line,
                    f.col,
                    f.severity,
                    f.message
                );
            }
            let errors = findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            let entries = map.entries().count();
            eprintln!(
                "{}: {entries} entries, {errors} errors, {} warnings",
                file.display(),
                findings.len() - errors
            );
            let failed = errors > 0 || (strict && !findings.is_empty());
            Ok(if failed { 1 } else { 0 })
        }
        AccessCommand::AddCertRelay {
            cert,
            ca: _,
            subject,
            target,
        } => {
            // clap requires exactly one of --cert and --ca.
            let info = match &cert {
                Some(file) => first_certificate(file)?,
                None => homes_ca(home)?,
            };
            let (issuer, subj) = crate::core::access::cert_relay_names(&info, subject);
            if info.is_ca && !subject {
                eprintln!(
                    "{} is a CA: every certificate it issues may relay",
                    info.subject
                );
            }
            let file = target.path();
            let _lock = store_access::lock(file)?;
            let mut map = store_access::load_or_empty(file)?;
            let before = map.to_bytes();
            let edits = map
                .add_cert_relay(&issuer, subj.as_deref())
                .map_err(|m| refused(m, "nothing was changed"))?;
            let mut keys = vec![format!("CERTISSUER:{issuer}")];
            if let Some(s) = &subj {
                keys.push(format!("CERTSUBJECT:{s}"));
            }
            finish(
                &target,
                &before,
                &map,
                &keys.into_iter().zip(edits).collect::<Vec<_>>(),
            )
        }
        AccessCommand::SetTls {
            tag,
            host,
            require,
            target,
        } => {
            let file = target.path();
            let _lock = store_access::lock(file)?;
            let mut map = store_access::load_or_empty(file)?;
            let before = map.to_bytes();
            let tag = tag.tag();
            let edit = map
                .set_tls(&tag, &host, &require)
                .map_err(|m| refused(m, "nothing was changed"))?;
            finish(&target, &before, &map, &[(format!("{tag}:{host}"), edit)])
        }
        AccessCommand::Remove { key, target } => {
            let file = target.path();
            let _lock = store_access::lock(file)?;
            let mut map = store_access::load(file)?;
            let before = map.to_bytes();
            let removed = map.remove(&key);
            if removed.is_empty() {
                return Err(refused(
                    format!("no entry `{key}` in {}", file.display()),
                    "check the key (see `access check`)",
                ));
            }
            announce(&target, &before, &map.to_bytes());
            for l in &removed {
                eprintln!("  line {l}: removed {key}");
            }
            if target.dry_run {
                eprintln!("(dry run: {} not changed)", file.display());
                return Ok(0);
            }
            save_and_report(&target, &map)
        }
    }
}

/// The first certificate in `file` (saying so when it holds more).
fn first_certificate(file: &Path) -> Result<CertInfo, Error> {
    let mut certs = certfiles::infos_in_file(file)?;
    if certs.len() > 1 {
        eprintln!(
            "{} holds {} certificates; using the first: {} (issued by {})",
            file.display(),
            certs.len(),
            certs[0].subject,
            certs[0].issuer
        );
    }
    Ok(certs.swap_remove(0))
}

/// `--ca`: the home's own CA certificate.
fn homes_ca(home: Option<&Home>) -> Result<CertInfo, Error> {
    let home = home.ok_or_else(|| {
        refused(
            "--ca needs the home that holds the CA",
            "give --home DIR (or set STARTTLS_STUDIO_HOME), or --cert FILE",
        )
    })?;
    home.ca_info()?.ok_or_else(|| {
        refused(
            format!("--ca: no CA in {}", home.root.display()),
            "create one with `starttls-studio ca init --cn NAME`, or give the CA's file with --cert FILE",
        )
    })
}

pub fn policy_eval(p: PolicyEval) -> Result<i32, Error> {
    let map = store_access::load(&p.access)?;
    for f in access_check::check(&map, &CheckContext::default()) {
        if f.severity == Severity::Error && f.makemap {
            eprintln!(
                "starttls-studio: warning: {}:{}: {}",
                p.access.display(),
                f.line,
                f.message
            );
        }
    }
    let mut macros = Macros::default();
    for m in &p.macros {
        let Some((name, value)) = m.split_once('=') else {
            return Err(refused(
                format!("--macro {m}: expected NAME=VALUE"),
                "e.g. --macro verify=OK",
            ));
        };
        let name = name
            .trim_start_matches("${")
            .trim_start_matches('{')
            .trim_end_matches('}');
        if !MACRO_NAMES.contains(&name) {
            eprintln!("starttls-studio: warning: --macro {name}: not a macro these rulesets read (known: {})", MACRO_NAMES.join(", "));
        }
        macros.set(name, value);
    }
    let ruleset = match p.ruleset {
        RulesetArg::TlsClient => Ruleset::TlsClient,
        RulesetArg::TlsServer => Ruleset::TlsServer,
        RulesetArg::TlsRcpt => Ruleset::TlsRcpt,
        RulesetArg::Relay => Ruleset::Relay,
    };
    if matches!(ruleset, Ruleset::TlsRcpt) && p.rcpt.is_none() {
        return Err(refused(
            "--ruleset tls_rcpt needs --rcpt ADDR",
            "give the recipient address",
        ));
    }
    let decision = policy::evaluate(
        &map.database(),
        ruleset,
        &macros,
        p.rcpt.as_deref(),
        Options {
            tls_perm_err: p.tls_perm_err,
        },
    );
    if p.json {
        crate::cli::print_json(&decision)?;
    } else {
        out!("{decision}");
    }
    Ok(0)
}
