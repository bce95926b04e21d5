//! `mc apply`: puts an install's TLS files into the real `sendmail.mc`,
//! checks with the real m4 that the cf it builds has exactly those values,
//! and (asked) rebuilds `sendmail.cf`, checked by sendmail before it
//! replaces the old one.
//!
//! The lines go into one block, marked so a later run finds and replaces
//! it, placed *after* every statement that sets one of these values (a
//! `define` or an `include` of a file that defines them, such as Debian's
//! `/etc/mail/tls/starttls.m4`): the last definition m4 sees wins, so ours
//! win, and the admin sees them in the mc itself. Debian's generated
//! `starttls.m4` is never edited (`update_tls` regenerates it). Without
//! such statements the block goes before the first `MAILER`.
//! `FEATURE(`access_db')` is added only when the mc has none, and
//! `DontBlameSendmail` is only ever extended (`defn` append), never
//! replaced. Every other byte of the mc is kept.

use super::doctor::read_mc_text;
use super::fsutil;
use super::{refused, Error};
use crate::core::linediff;
use crate::core::sendmail_cf::{self, TlsSettings};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BEGIN: &str = "dnl # starttls-studio mc apply:";
pub const END: &str = "dnl # end of starttls-studio mc apply";

/// The settings `mc apply` writes, in the order it writes them.
pub const NAMES: [&str; 6] = [
    "confCACERT_PATH",
    "confCACERT",
    "confSERVER_CERT",
    "confSERVER_KEY",
    "confCLIENT_CERT",
    "confCLIENT_KEY",
];

/// How long m4 and `sendmail -bt` may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(90);

/// The files of one install (absolute paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFiles {
    pub dir: PathBuf,
    pub fqdn: String,
    pub ca_path: PathBuf,
    pub ca_file: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl InstallFiles {
    /// The values in [`NAMES`] order.
    pub fn values(&self) -> [String; 6] {
        let s = |p: &Path| p.display().to_string();
        [
            s(&self.ca_path),
            s(&self.ca_file),
            s(&self.cert),
            s(&self.key),
            s(&self.cert),
            s(&self.key),
        ]
    }

    /// True when `s` (read from a cf) has exactly these files.
    pub fn matches(&self, s: &TlsSettings) -> bool {
        let v = self.values();
        [
            &s.ca_path,
            &s.ca_file,
            &s.server_cert,
            &s.server_key,
            &s.client_cert,
            &s.client_key,
        ]
        .iter()
        .zip(v.iter())
        .all(|(a, b)| a.as_deref() == Some(b.as_str()))
    }
}

/// Finds the install in `dir` (what `install FQDN --to DIR` wrote):
/// `CAcert.pem`, `certs/`, and `FQDN.crt` with `FQDN.key`. `fqdn` picks one
/// when several hosts were installed there.
pub fn install_files(dir: &Path, fqdn: Option<&str>) -> Result<InstallFiles, Error> {
    let dir = fs::canonicalize(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        action: "find the install directory",
        source,
    })?;
    let ca_file = dir.join("CAcert.pem");
    let ca_path = dir.join("certs");
    if !ca_file.is_file() || !ca_path.is_dir() {
        return Err(refused(
            format!(
                "{} is not an install: it has no CAcert.pem and certs/",
                dir.display()
            ),
            "give the directory `starttls-studio install FQDN --to DIR` wrote",
        ));
    }
    let mut hosts: Vec<String> = fs::read_dir(&dir)
        .map_err(|source| Error::Io {
            path: dir.clone(),
            action: "read",
            source,
        })?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.to_string();
            let host = n.strip_suffix(".key")?.to_string();
            dir.join(format!("{host}.crt")).is_file().then_some(host)
        })
        .collect();
    hosts.sort();
    let fqdn = match (fqdn, hosts.as_slice()) {
        (Some(f), _) if hosts.iter().any(|h| h == f) => f.to_string(),
        (Some(f), _) => {
            return Err(refused(
                format!("{} has no {f}.crt and {f}.key", dir.display()),
                format!("installed there: {}", list_or_none(&hosts)),
            ))
        }
        (None, [one]) => one.clone(),
        (None, []) => {
            return Err(refused(
                format!(
                    "{} holds no host certificate and key (FQDN.crt, FQDN.key)",
                    dir.display()
                ),
                "run starttls-studio install FQDN --to DIR first",
            ))
        }
        (None, _) => {
            return Err(refused(
                format!(
                    "{} holds several hosts: {}",
                    dir.display(),
                    hosts.join(", ")
                ),
                "say which with --fqdn FQDN",
            ))
        }
    };
    Ok(InstallFiles {
        cert: dir.join(format!("{fqdn}.crt")),
        key: dir.join(format!("{fqdn}.key")),
        fqdn,
        ca_path,
        ca_file,
        dir,
    })
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// What `mc apply` would do to one mc.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mc: PathBuf,
    pub old: String,
    pub new: String,
    /// `-`/`+` lines with context, empty when nothing changes.
    pub diff: String,
    /// What was decided and why, one sentence each.
    pub notes: Vec<String>,
    /// The real m4's verdict on the new mc, when m4 could be run.
    pub check: Option<M4Check>,
}

impl Plan {
    pub fn changes(&self) -> bool {
        self.old != self.new
    }

    /// One line: what the real m4 builds from the new mc.
    pub fn check_summary(&self) -> String {
        match &self.check {
            Some(c) => format!(
                "m4 builds: CACertPath={} CACertFile={} ServerCertFile={} ServerKeyFile={} ({} Kaccess line(s){})",
                c.settings.ca_path.as_deref().unwrap_or("-"),
                c.settings.ca_file.as_deref().unwrap_or("-"),
                c.settings.server_cert.as_deref().unwrap_or("-"),
                c.settings.server_key.as_deref().unwrap_or("-"),
                c.kaccess_lines,
                if c.new_warnings.is_empty() {
                    ", no new warning".to_string()
                } else {
                    format!(", warnings: {}", c.new_warnings.join(" / "))
                }
            ),
            None => "m4 is not installed: what the mc builds was not checked".into(),
        }
    }
}

/// The real m4 run on an mc.
#[derive(Debug, Clone)]
pub struct M4Check {
    pub cf: String,
    pub settings: TlsSettings,
    /// What m4 printed on stderr (warnings), with the lines the original
    /// mc already gave left out.
    pub new_warnings: Vec<String>,
    pub kaccess_lines: usize,
}

/// The `sendmail.mc` lines an install needs, fitted to the mc they are for.
#[derive(Debug, Clone, Default)]
pub struct Advice {
    /// The mc that was read (`None`: there is none).
    pub mc: Option<PathBuf>,
    pub lines: String,
    /// What the mc already has and where the lines must go.
    pub notes: Vec<String>,
    /// The configuration already has `DontBlameSendmail=TrustStickyBit`.
    pub trusts_sticky: bool,
}

/// The lines `install FQDN --to DIR` tells the admin to add, knowing the
/// mc (`mc`, else `/etc/mail/sendmail.mc` when it exists): no
/// `FEATURE(`access_db')` it already has, a `DontBlameSendmail` append only
/// when needed and missing, and where the lines must go when the mc (or
/// Debian's `starttls.m4` include) already defines them.
pub fn advice(mc: Option<&Path>, fqdn: &str, to: &Path) -> Advice {
    let to = fs::canonicalize(to).unwrap_or_else(|_| to.to_path_buf());
    let files = InstallFiles {
        ca_path: to.join("certs"),
        ca_file: to.join("CAcert.pem"),
        cert: to.join(format!("{fqdn}.crt")),
        key: to.join(format!("{fqdn}.key")),
        fqdn: fqdn.to_string(),
        dir: to.clone(),
    };
    let system = Path::new("/etc/mail/sendmail.mc");
    let mc = mc
        .map(Path::to_path_buf)
        .or_else(|| system.is_file().then(|| system.to_path_buf()));
    let mut out = Advice {
        mc: mc.clone(),
        ..Advice::default()
    };
    let have = match &mc {
        Some(p) => match super::doctor::read_mc(p) {
            Ok(m) => m,
            Err(e) => {
                out.notes.push(format!(
                    "{e}: the lines below assume an mc without TLS settings"
                ));
                sendmail_cf::McFile::default()
            }
        },
        None => sendmail_cf::McFile::default(),
    };
    out.trusts_sticky = have.settings.blames("TrustStickyBit");
    let mut notes = Vec::new();
    let b = block(&files, &have, &mut notes);
    out.lines = b
        .lines()
        .filter(|l| !l.starts_with("dnl #"))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(p) = &mc {
        let name = p.display();
        if have.has_feature("access_db") {
            out.notes.push(format!("{name} already has FEATURE(`access_db'): not repeated (a second one makes m4 warn and builds two Kaccess lines)"));
        }
        if let Some((start, _)) = have.statements_touching(&NAMES).last() {
            let via = include_at(&have, *start)
                .map(|p| format!(", the include of {p}"))
                .unwrap_or_default();
            out.notes.push(format!("{name} already sets these values (last at line {start}{via}): the lines must come after that line, or the earlier values win"));
        }
        if out.trusts_sticky {
            out.notes.push(format!(
                "{name} already has TrustStickyBit in DontBlameSendmail"
            ));
        }
        out.notes.push(format!("`starttls-studio mc apply --to {}{}` puts them in place (diff first, {name}.bak kept); add --restart to rebuild sendmail.cf, restart sendmail and check what it serves", to.display(), if p.as_path() == system { String::new() } else { format!(" --mc {name}") }));
    }
    out
}

/// The directories on the way to `p` that are writable by others but
/// sticky: sendmail accepts files under them only with TrustStickyBit.
fn needs_sticky(p: &Path) -> bool {
    p.ancestors().skip(1).any(|d| {
        fs::metadata(d)
            .map(|m| {
                let mode = m.permissions().mode();
                mode & 0o022 != 0 && mode & 0o1000 != 0
            })
            .unwrap_or(false)
    })
}

/// The block of lines for `files`, given what the mc already has.
fn block(files: &InstallFiles, have: &sendmail_cf::McFile, notes: &mut Vec<String>) -> String {
    let mut b = format!(
        "{BEGIN} the TLS files of the install in {} (host {}); these come after every other definition of them, so they win\n",
        files.dir.display(),
        files.fqdn
    );
    for (name, value) in NAMES.iter().zip(files.values()) {
        b.push_str(&format!("define(`{name}', `{value}')dnl\n"));
    }
    let paths = [&files.ca_path, &files.ca_file, &files.cert, &files.key];
    if paths.iter().any(|p| needs_sticky(p)) && !have.settings.blames("TrustStickyBit") {
        b.push_str("define(`confDONT_BLAME_SENDMAIL', defn(`confDONT_BLAME_SENDMAIL')`,TrustStickyBit')dnl\n");
        notes.push("the install is under a sticky, world-writable directory: TrustStickyBit is appended to DontBlameSendmail (the flags already there are kept)".into());
    }
    if have.has_feature("access_db") {
        notes.push("FEATURE(`access_db') is already there: not added again".into());
    } else {
        b.push_str("FEATURE(`access_db')dnl\n");
        notes.push(
            "FEATURE(`access_db') added: the access map holds the CERTISSUER/TLS_* entries".into(),
        );
    }
    b.push_str(END);
    b.push('\n');
    b
}

/// Removes an earlier block (from a begin line to its end line).
fn without_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_end_matches(['\n', '\r']);
        if !inside && t.starts_with(BEGIN) {
            inside = true;
            continue;
        }
        if inside {
            if t.starts_with(END) {
                inside = false;
            }
            continue;
        }
        out.push_str(line);
    }
    if inside {
        // A begin without an end: leave the text as it was.
        return text.to_string();
    }
    out
}

/// Plans `mc apply` for `mc` (read with its includes, as m4 reads them).
pub fn plan(mc: &Path, files: &InstallFiles) -> Result<Plan, Error> {
    let old = String::from_utf8(fsutil::read_limited(mc, 4 * 1024 * 1024)?).map_err(|_| {
        refused(
            format!("{} is not UTF-8 text", mc.display()),
            "give the sendmail.mc (m4 source) file",
        )
    })?;
    let base_text = without_block(&old);
    let mut notes = Vec::new();
    // Read the mc without our block, as m4 would.
    let dir = mc.parent().map(Path::to_path_buf).unwrap_or_default();
    let tmp_view = read_mc_text(&base_text, &dir);
    let lines: Vec<&str> = base_text.split_inclusive('\n').collect();
    let after = tmp_view
        .statements_touching(&NAMES)
        .into_iter()
        .map(|(_, end)| end)
        .max();
    let at = match after {
        Some(end) => {
            notes.push(format!(
                "placed after line {end}, the last statement that sets one of these values{}",
                include_at(&tmp_view, end)
                    .map(|p| format!(" (the include of {p})"))
                    .unwrap_or_default()
            ));
            end
        }
        None => match lines.iter().position(|l| {
            let t = l.trim_start();
            t.starts_with("MAILER_DEFINITIONS") || t.starts_with("MAILER(")
        }) {
            Some(i) => {
                notes.push(format!(
                    "placed before line {}, the first MAILER line",
                    i + 1
                ));
                i
            }
            None => {
                notes.push("placed at the end (the mc has no MAILER line)".into());
                lines.len()
            }
        },
    };
    let b = block(files, &tmp_view, &mut notes);
    let mut new = String::with_capacity(base_text.len() + b.len() + 1);
    for l in &lines[..at.min(lines.len())] {
        new.push_str(l);
    }
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&b);
    for l in &lines[at.min(lines.len())..] {
        new.push_str(l);
    }
    let diff = linediff::render(&linediff::diff_lines(&old, &new, 3));
    let check = m4_check(&new, &old, &dir)?;
    if let Some(o) = check
        .as_ref()
        .and_then(|c| c.settings.tls_srv_options.as_deref())
    {
        if o.contains(['V', 'v']) {
            notes.push(format!("note: the cf has TLSSrvOptions={o} (Debian's starttls.m4 sets `V`): sendmail asks no client for a certificate, so relaying by certificate and TLS_Clt VERIFY cannot work until define(`confTLS_SRV_OPTIONS', `')dnl follows it; mc apply leaves it as it is"));
        }
    }
    Ok(Plan {
        mc: mc.to_path_buf(),
        old,
        new,
        diff,
        notes,
        check,
    })
}

/// The file included by the statement that starts or ends on `line`.
fn include_at(view: &sendmail_cf::McFile, line: usize) -> Option<&str> {
    view.events.iter().find_map(|e| match &e.kind {
        crate::core::m4::EventKind::Include { path, read: true }
            if e.line == line || e.end_line == line =>
        {
            Some(path.as_str())
        }
        _ => None,
    })
}

fn find_tool(names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|d| names.iter().map(move |n| d.join(n)))
                .find(|p| p.is_file())
        })
}

/// Runs a program with `input` on stdin, killed after `timeout`.
fn run_bounded(
    cmd: &mut Command,
    input: &[u8],
    timeout: Duration,
) -> Result<std::process::Output, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().expect("piped");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let r_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let r_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {} s", timeout.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let _ = writer.join();
    Ok(std::process::Output {
        status,
        stdout: r_out.join().unwrap_or_default(),
        stderr: r_err.join().unwrap_or_default(),
    })
}

/// Runs the real m4 on `text` in `dir` (as `make` there would). `None`
/// when m4 is not installed.
fn run_m4(text: &str, dir: &Path) -> Result<Option<(String, String)>, Error> {
    let Some(m4) = find_tool(&["/usr/bin/m4"]) else {
        return Ok(None);
    };
    let out = run_bounded(
        Command::new(&m4).current_dir(dir),
        text.as_bytes(),
        TOOL_TIMEOUT,
    )
    .map_err(|e| refused(format!("m4: {e}"), "check that m4 works: m4 --version"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(refused(
            format!(
                "m4 cannot build a sendmail.cf from the new mc ({}): {}",
                out.status,
                stderr.trim()
            ),
            "nothing was written; run m4 on the mc yourself to see the problem",
        ));
    }
    Ok(Some((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )))
}

fn m4_check(new: &str, old: &str, dir: &Path) -> Result<Option<M4Check>, Error> {
    let Some((cf, warn_new)) = run_m4(new, dir)? else {
        return Ok(None);
    };
    let warn_old = run_m4(old, dir)
        .ok()
        .flatten()
        .map(|x| x.1)
        .unwrap_or_default();
    let old_lines: Vec<&str> = warn_old.lines().collect();
    let new_warnings = warn_new
        .lines()
        .filter(|l| !l.trim().is_empty() && !old_lines.contains(l))
        .map(str::to_string)
        .collect();
    let kaccess_lines = cf.lines().filter(|l| l.starts_with("Kaccess ")).count();
    Ok(Some(M4Check {
        settings: sendmail_cf::parse_cf(&cf),
        cf,
        new_warnings,
        kaccess_lines,
    }))
}

/// Refuses a plan whose m4 result is not exactly the install's files.
pub fn verify(plan: &Plan, files: &InstallFiles) -> Result<(), Error> {
    let Some(c) = &plan.check else { return Ok(()) };
    if !c.cf.lines().any(|l| l.starts_with("O ")) {
        return Err(refused(
            format!(
                "m4 builds no sendmail.cf options from {}: it is not a complete sendmail.mc",
                plan.mc.display()
            ),
            "nothing was written; a sendmail.mc includes sendmail's cf.m4 (Debian: include(`/usr/share/sendmail/cf/m4/cf.m4')) and names an OSTYPE",
        ));
    }
    if !files.matches(&c.settings) {
        let s = &c.settings;
        return Err(refused(
            format!(
                "m4 builds a cf from the new mc that does not use the install's files: CACertPath={} CACertFile={} ServerCertFile={} ServerKeyFile={} ClientCertFile={} ClientKeyFile={}",
                show(&s.ca_path), show(&s.ca_file), show(&s.server_cert), show(&s.server_key), show(&s.client_cert), show(&s.client_key)
            ),
            format!("nothing was written; a conditional, a macro or an included file in {} sets them again after the block; look at what m4 builds from it (m4 {} | grep -E '^O (CACert|Server|Client)') and edit it by hand", plan.mc.display(), plan.mc.display()),
        ));
    }
    if !c.new_warnings.is_empty() {
        return Err(refused(
            format!("m4 warns about the new mc: {}", c.new_warnings.join(" / ")),
            "nothing was written",
        ));
    }
    if c.kaccess_lines > 1 {
        return Err(refused(
            format!(
                "the new mc builds {} Kaccess lines (FEATURE(`access_db') twice)",
                c.kaccess_lines
            ),
            "nothing was written; remove one FEATURE(`access_db') by hand",
        ));
    }
    Ok(())
}

fn show(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(unset)")
}

/// What [`apply`] wrote.
#[derive(Debug, Clone)]
pub struct Applied {
    pub backup: PathBuf,
}

/// Writes the plan: `FILE.bak` = the mc as it was, then the new mc
/// (atomically, owner, group and mode kept). Refuses when the mc changed
/// since the plan was made. The caller holds [`lock`].
pub fn apply(plan: &Plan) -> Result<Applied, Error> {
    let now = fsutil::read_limited(&plan.mc, 4 * 1024 * 1024)?;
    if now != plan.old.as_bytes() {
        return Err(refused(
            format!(
                "{} changed while the change was being prepared",
                plan.mc.display()
            ),
            "nothing was written; run mc apply again",
        ));
    }
    let mode = fs::metadata(&plan.mc)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let backup = super::access::backup_path(&plan.mc);
    fsutil::write_atomic(&backup, plan.old.as_bytes(), mode)?;
    fsutil::write_atomic(&plan.mc, plan.new.as_bytes(), mode)?;
    Ok(Applied { backup })
}

/// Serialises writers of one mc (and of the cf next to it).
pub fn lock(mc: &Path) -> Result<super::lock::Lock, Error> {
    super::lock::lock_file(mc, "sendmail.mc")
}

/// Where the cf of an mc is: `X.mc` → `X.cf`.
pub fn cf_for(mc: &Path) -> PathBuf {
    mc.with_extension("cf")
}

/// True for Debian's own `/etc/mail/sendmail.mc`, whose cf Debian's
/// Makefile builds with a copy of the mc appended as comments.
fn debian_system_mc(mc: &Path) -> bool {
    fs::canonicalize(mc).ok().as_deref() == Some(Path::new("/etc/mail/sendmail.mc"))
        && Path::new("/etc/mail/Makefile").is_file()
}

/// sendmail qualifies its host name when it starts and waits 60 s when the
/// name has no dot; the check of a rebuilt cf pays that wait too.
pub fn slow_start_note() -> Option<String> {
    let h = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let h = h.trim();
    (!h.contains('.')).then(|| format!("the host name `{h}` has no dot: sendmail waits 60 s to qualify it each time it starts, also for the check of the new cf (give the host its FQDN in /etc/hosts)"))
}

/// A rebuilt cf, checked and ready to replace the old one.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub cf: PathBuf,
    pub text: String,
    /// What the old cf was (`None`: there was none).
    pub old: Option<Vec<u8>>,
    pub how: String,
}

/// Builds the cf from the mc on disk the way the system does (Debian's
/// `/etc/mail`: m4, then the mc appended as `# ` comments, as its Makefile
/// does; elsewhere: m4 alone), and has sendmail read it (`sendmail -C NEW
/// -bt`) before anything is replaced.
pub fn rebuild(mc: &Path, cf: &Path) -> Result<Rebuilt, Error> {
    let text = String::from_utf8_lossy(&fsutil::read_limited(mc, 4 * 1024 * 1024)?).into_owned();
    let dir = mc.parent().map(Path::to_path_buf).unwrap_or_default();
    let Some((mut out, warnings)) = run_m4(&text, &dir)? else {
        return Err(refused(
            "m4 is not installed, so sendmail.cf cannot be rebuilt",
            "apt-get install m4 sendmail-cf",
        ));
    };
    let mut how = format!("m4 {}", mc.display());
    if debian_system_mc(mc) {
        out.push_str(&format!("### {} ###\n", mc.display()));
        for l in text.lines() {
            out.push_str(&format!("# {l}\n"));
        }
        how = format!(
            "m4 {} with the mc appended as comments, as Debian's /etc/mail/Makefile does",
            mc.display()
        );
    }
    if !warnings.trim().is_empty() {
        how.push_str(&format!(" (m4 said: {})", warnings.trim()));
    }
    check_cf(cf, &out)?;
    Ok(Rebuilt {
        cf: cf.to_path_buf(),
        old: fs::read(cf).ok(),
        text: out,
        how,
    })
}

/// Has the real sendmail read `text` as its cf (from a temporary file next
/// to `cf`): any complaint about the file refuses it.
fn check_cf(cf: &Path, text: &str) -> Result<(), Error> {
    let Some(sendmail) = find_tool(&["/usr/sbin/sendmail", "/usr/lib/sendmail"]) else {
        return Ok(());
    };
    let dir = cf
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.starttls-studio-check",
        cf.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("sendmail.cf")
    ));
    fsutil::write_atomic(&tmp, text.as_bytes(), 0o644)?;
    let r = run_bounded(
        Command::new(&sendmail)
            .arg("-C")
            .arg(&tmp)
            .arg("-bt")
            .arg("-d0.1"),
        b"/quit\n",
        TOOL_TIMEOUT,
    );
    let _ = fs::remove_file(&tmp);
    let out = r.map_err(|e| {
        refused(
            format!("sendmail -bt: {e}"),
            "the old sendmail.cf was left in place",
        )
    })?;
    // In -bt mode sendmail prints what it cannot read to stdout, as
    // `FILE: line N: …`.
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp_name = format!("{}:", tmp.display());
    let complaints: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&tmp_name))
        .map(|l| l.strip_prefix(&tmp_name).unwrap_or(l).trim())
        .collect();
    if !complaints.is_empty() {
        return Err(refused(
            format!(
                "sendmail does not accept the rebuilt cf: {}",
                complaints.join(" / ")
            ),
            "the old sendmail.cf was left in place; fix the mc and try again",
        ));
    }
    Ok(())
}

/// Puts a rebuilt cf in place (atomically, owner, group and mode of the old
/// one kept; `FILE.bak` = the old cf).
pub fn install_cf(r: &Rebuilt) -> Result<Option<PathBuf>, Error> {
    let mode = fs::metadata(&r.cf)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let backup = match &r.old {
        Some(old) => {
            let b = super::access::backup_path(&r.cf);
            fsutil::write_atomic(&b, old, mode)?;
            Some(b)
        }
        None => None,
    };
    fsutil::write_atomic(&r.cf, r.text.as_bytes(), mode)?;
    Ok(backup)
}

/// Puts back what [`apply`] and [`install_cf`] replaced.
pub fn roll_back(mc: &Path, old_mc: &str, cf: Option<(&Path, Option<&[u8]>)>) -> Result<(), Error> {
    let mode = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644)
    };
    fsutil::write_atomic(mc, old_mc.as_bytes(), mode(mc))?;
    if let Some((cf, old)) = cf {
        match old {
            Some(bytes) => fsutil::write_atomic(cf, bytes, mode(cf))?,
            None => {
                let _ = fs::remove_file(cf);
            }
        }
    }
    Ok(())
}

/// The address a cf's daemon listens on, for the probe after a restart:
/// the first `DaemonPortOptions` without `M=…E`-only submission (`Name=MSA`)
/// — Debian's `MTA-v4` — with `Addr` (any address: 127.0.0.1) and `Port`
/// (`smtp` = 25).
pub fn daemon_address(cf: &str) -> String {
    let mut first = None;
    for l in cf.lines() {
        let Some(v) = l.strip_prefix("O DaemonPortOptions=") else {
            continue;
        };
        let mut addr = "127.0.0.1".to_string();
        let mut port = "25".to_string();
        let mut name = String::new();
        for kv in v.split(',') {
            let Some((k, val)) = kv.split_once('=') else {
                continue;
            };
            let (k, val) = (k.trim(), val.trim());
            match k.chars().next().map(|c| c.to_ascii_lowercase()) {
                Some('a') if k.eq_ignore_ascii_case("Addr") || k == "A" => {
                    addr = match val {
                        "0.0.0.0" | "INADDR_ANY" => "127.0.0.1".into(),
                        "::" => "[::1]".into(),
                        v if v.contains(':') => format!("[{v}]"),
                        v => v.to_string(),
                    }
                }
                Some('p') => {
                    port = match val {
                        "smtp" => "25".into(),
                        "submission" => "587".into(),
                        "smtps" => "465".into(),
                        v => v.to_string(),
                    }
                }
                Some('n') => name = val.to_string(),
                _ => {}
            }
        }
        let a = format!("{addr}:{port}");
        if !name.to_ascii_uppercase().contains("MSA") && port != "587" {
            return a;
        }
        first.get_or_insert(a);
    }
    first.unwrap_or_else(|| "127.0.0.1:25".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_addresses() {
        let cf = "O DaemonPortOptions=Family=inet,  Name=MTA-v4, Port=smtp, Addr=127.0.0.1\nO DaemonPortOptions=Family=inet,  Name=MSP-v4, Port=submission, M=Ea, Addr=127.0.0.1\n";
        assert_eq!(daemon_address(cf), "127.0.0.1:25");
        assert_eq!(
            daemon_address("O DaemonPortOptions=Name=MTA,Port=2525\n"),
            "127.0.0.1:2525"
        );
        assert_eq!(
            daemon_address("O DaemonPortOptions=Family=inet6,Addr=::1,Port=smtp\n"),
            "[::1]:25"
        );
        assert_eq!(daemon_address(""), "127.0.0.1:25");
    }

    #[test]
    fn block_is_replaced_not_repeated() {
        let t = format!("a\n{BEGIN} x\ndefine(`A', `1')dnl\n{END}\nb\n");
        assert_eq!(without_block(&t), "a\nb\n");
        let open = format!("a\n{BEGIN} x\nb\n");
        assert_eq!(without_block(&open), open);
    }
}
