//! Where sendmail's TLS files are: `sendmail.mc` (with its includes), then
//! `sendmail.cf`, which wins, then the paths typed on the command line.

use super::*;
use crate::core::sendmail_cf::{self, TlsSettings};
use crate::store::fsutil::{self};
use crate::store::Error;
use std::path::{Path, PathBuf};

fn read_text(path: &Path) -> Result<String, Error> {
    let data = fsutil::read_limited(path, 16 * 1024 * 1024)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// Reads a `sendmail.mc` the way m4 does, with the files it includes
/// (relative names from the mc's directory, as `make` there resolves them).
pub fn read_mc(mc: &Path) -> Result<sendmail_cf::McFile, Error> {
    let text = read_text(mc)?;
    Ok(read_mc_text(&text, mc.parent().unwrap_or(Path::new(""))))
}

/// Reads mc text (perhaps not yet on disk) as if it were a file in `dir`.
pub fn read_mc_text(text: &str, dir: &Path) -> sendmail_cf::McFile {
    let mut read = |inc: &str| {
        let p = dir.join(inc);
        p.is_file().then(|| read_text(&p).ok()).flatten()
    };
    sendmail_cf::evaluate_mc(text, &mut read)
}

/// Reads the configuration: the mc (and the files it includes, where they
/// stand), then the cf, whose settings win, then the overrides.
pub fn locate(input: &DoctorInput) -> Result<Located, Error> {
    let mut loc = Located::default();
    let mut mc_settings = None;
    if let Some(mc) = &input.mc {
        let m = read_mc(mc)?;
        loc.sources.push(mc.clone());
        loc.sources.extend(
            m.includes
                .iter()
                .filter(|i| i.1)
                .map(|i| PathBuf::from(&i.0)),
        );
        if m.truncated {
            loc.findings.push(finding(
                "mc-too-complex",
                Severity::Warning,
                Some(mc),
                format!("{} nests includes or macros too deeply to be read completely", mc.display()),
                "The doctor reads the mc the way m4 does, within limits; past them the settings it shows may be incomplete.",
                manual("give --cf FILE (the built sendmail.cf) so the doctor reads what sendmail reads"),
            ));
        }
        mc_settings = Some(m.settings);
    }
    let mut settings = match &input.cf {
        Some(cf) => {
            let s = sendmail_cf::parse_cf(&read_text(cf)?);
            loc.sources.push(cf.clone());
            if let (Some(mcs), Some(mc)) = (&mc_settings, &input.mc) {
                compare_mc_cf(mcs, &s, mc, cf, &mut loc.findings);
            }
            s
        }
        None => mc_settings.unwrap_or_default(),
    };
    let o = &input.overrides;
    let set = |field: &mut Option<String>, v: &Option<PathBuf>| {
        if let Some(p) = v {
            *field = Some(p.display().to_string());
        }
    };
    set(&mut settings.ca_file, &o.ca_file);
    set(&mut settings.ca_path, &o.ca_path);
    set(&mut settings.server_cert, &o.server_cert);
    set(&mut settings.server_key, &o.server_key);
    set(&mut settings.client_cert, &o.client_cert);
    set(&mut settings.client_key, &o.client_key);
    set(&mut settings.crl, &o.crl);
    if o.access.is_some() {
        set(&mut settings.access, &o.access);
        settings.access_type.get_or_insert_with(|| "hash".into());
    }
    if loc.sources.is_empty()
        && [
            &o.ca_file,
            &o.ca_path,
            &o.server_cert,
            &o.server_key,
            &o.client_cert,
            &o.client_key,
            &o.access,
        ]
        .iter()
        .all(|v| v.is_none())
    {
        loc.findings.push(finding(
            "config-missing",
            Severity::Error,
            None,
            format!("no sendmail configuration: neither {DEFAULT_MC} nor {DEFAULT_CF} exists"),
            "The doctor reads the TLS settings from sendmail.mc or sendmail.cf, or from paths you type.",
            manual("give --mc FILE or --cf FILE, or the files with --ca-file, --ca-path, --cert, --key"),
        ));
    }
    loc.settings = settings;
    Ok(loc)
}

fn compare_mc_cf(
    mc: &TlsSettings,
    cf: &TlsSettings,
    mc_path: &Path,
    cf_path: &Path,
    out: &mut Vec<Finding>,
) {
    let rebuild = format!(
        "rebuild sendmail.cf from sendmail.mc (Debian: `make -C {0}` or `sendmailconfig`; elsewhere `m4 {1} > {2}`), then restart sendmail",
        mc_path.parent().unwrap_or(Path::new(".")).display(),
        mc_path.display(),
        cf_path.display()
    );
    let mut differ = Vec::new();
    for ((field, m), (_, c)) in mc.files().iter().zip(cf.files().iter()) {
        if m != c && *field != "access" {
            let (m4, opt) = sendmail_cf::setting_names(field);
            differ.push(format!(
                "{m4} is {} in the mc but {opt} is {} in the cf",
                m.as_deref().unwrap_or("unset"),
                c.as_deref().unwrap_or("unset")
            ));
        }
    }
    if !differ.is_empty() {
        out.push(finding(
            "mc-cf-differ",
            Severity::Warning,
            Some(cf_path),
            format!("sendmail.cf does not match sendmail.mc: {}", differ.join("; ")),
            "sendmail reads only sendmail.cf; an edit to sendmail.mc does nothing until the cf is rebuilt from it. The doctor checks what the cf says.",
            manual(rebuild.clone()),
        ));
    }
    if let (Some(m), Some(c)) = (mtime(mc_path), mtime(cf_path)) {
        if m > c {
            out.push(finding(
                "cf-older-than-mc",
                Severity::Warning,
                Some(cf_path),
                format!("{} is older than {}", cf_path.display(), mc_path.display()),
                "sendmail.mc was changed after sendmail.cf was built; sendmail still runs the old configuration.",
                manual(rebuild),
            ));
        }
    }
}
