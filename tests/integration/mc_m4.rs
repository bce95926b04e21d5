//! The mc reader against the real m4. For Debian's own `sendmail.mc` (read
//! from this machine at test time), with and without Debian's
//! `starttls.m4` include, and for many odd additions to it (include order,
//! `defn` appends, `undefine`, comments, `dnl`, quotes, `ifdef`, `ifelse`,
//! macro indirection, nested and missing includes), `doctor --mc` must show
//! the settings that `m4 FILE` writes into `sendmail.cf` (read back with
//! `doctor --cf`).

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::{require, run, studio, tempdir};

const DEBIAN_MC: &str = "/etc/mail/sendmail.mc";
const STARTTLS_M4: &str = "/etc/mail/tls/starttls.m4";

/// The settings `doctor` reports for `--mc F` or `--cf F`.
fn settings(home: &Path, flag: &str, file: &Path) -> Value {
    let out = run(studio(home)
        .args(["doctor", "--json", flag])
        .arg(file)
        .args(["--access", "/nonexistent-access-for-mc-test"]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor {flag} {}: {e}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut s = v["settings"].clone();
    // The access map was overridden above (its file is not the point here).
    s.as_object_mut().unwrap().remove("access");
    s.as_object_mut().unwrap().remove("access_type");
    // DontBlameSendmail flags: sendmail reads them as a set.
    if let Some(a) = s["dont_blame"].as_array() {
        let mut v: Vec<String> = a.iter().map(|x| x.as_str().unwrap().to_string()).collect();
        v.sort();
        v.dedup();
        s["dont_blame"] = serde_json::json!(v);
    }
    s
}

/// The odd additions, placed before `MAILER_DEFINITIONS`. `{d}` is the
/// test's directory (for include files, which are written there).
const VARIANTS: &[&str] = &[
    "",
    "include(`/etc/mail/tls/starttls.m4')dnl\n",
    "define(`confCACERT_PATH', `/a')dnl\ninclude(`{d}/inc1.m4')dnl\n",
    "include(`{d}/inc1.m4')dnl\ndefine(`confCACERT_PATH', `/after')dnl\n",
    "define(`confDONT_BLAME_SENDMAIL', defn(`confDONT_BLAME_SENDMAIL')`,GroupReadableKeyFile')dnl\n",
    "undefine(`confDONT_BLAME_SENDMAIL')dnl\ndefine(`confDONT_BLAME_SENDMAIL', `GroupReadableKeyFile')dnl\n",
    "dnl define(`confCACERT', `/dnl')\n# define(`confCACERT', `/comment')\ndefine(`confCACERT', `/real')dnl # define(`confCACERT', `/trailing')\n",
    "ifdef(`confCACERT', `define(`confSERVER_CERT', `/if-yes')', `define(`confSERVER_CERT', `/if-no')')dnl\n",
    "define(`confCACERT', `/c')dnl\nifdef(`confCACERT', `define(`confSERVER_CERT', `/if-yes')', `define(`confSERVER_CERT', `/if-no')')dnl\n",
    "ifelse(`a', `b', `define(`confSERVER_KEY', `/k1')', `define(`confSERVER_KEY', `/k2')')dnl\n",
    "ifelse(`a', `a', `define(`confSERVER_KEY', `/k1')', `define(`confSERVER_KEY', `/k2')')dnl\n",
    "define(`CERT_DIR', `MAIL_SETTINGS_DIR`'certs')dnl\ndefine(`confCACERT_PATH', `CERT_DIR')dnl\ndefine(`confCACERT', `CERT_DIR/CAcert.pem')dnl\n",
    "define(`confCLIENT_CERT',`  /spaces  ')dnl\n",
    "define(`confCRL',\n\t`/multi/line.crl')dnl\n",
    "include(`{d}/inc2.m4')dnl\n",
    "sinclude(`{d}/missing.m4')dnl\ndefine(`confCLIENT_KEY', `/ck')dnl\n",
    "define(`confCACERT', defn(`NOT_DEFINED')`/x')dnl\n",
    "define(`confTLS_SRV_OPTIONS', `V')dnl\ndefine(`confDH_PARAMETERS', `5')dnl\n",
    "include(`/etc/mail/tls/starttls.m4')dnl\ndefine(`confTLS_SRV_OPTIONS', `')dnl\nundefine(`confDH_PARAMETERS')dnl\n",
    "define(`confSERVER_CERT', `/one')define(`confSERVER_CERT', `/two')dnl\n",
    "define(`confCACERT', ``/double'')dnl\n",
    "include(`/etc/mail/tls/starttls.m4')dnl\ndefine(`confCACERT_PATH', `/etc/mail/tls/certs')dnl\ndefine(`confCACERT', `/etc/mail/tls/CAcert.pem')dnl\n",
    "define(`confTRUSTED_USER', `smmta')dnl\n",
    "ifelse(eval(1 >= 2), `1', `define(`confCRL', `/yes')', `define(`confCRL', `/no')')dnl\n",
];

#[test]
fn mc_reader_matches_real_m4() {
    let m4 = require("m4");
    if !Path::new(DEBIAN_MC).is_file() || !Path::new(STARTTLS_M4).is_file() {
        panic!(
            "Debian's sendmail is not set up here ({DEBIAN_MC}, {STARTTLS_M4}): run scripts/setup"
        );
    }
    let stock = fs::read_to_string(DEBIAN_MC).unwrap();
    assert!(stock.contains("MAILER_DEFINITIONS"));
    let tmp = tempdir();
    let d = tmp.path();
    let home = d.join("home");
    fs::write(
        d.join("inc1.m4"),
        "define(`confCACERT_PATH', `/from-include')dnl\n",
    )
    .unwrap();
    fs::write(
        d.join("inc2.m4"),
        format!(
            "define(`confCACERT', `/inc2')dnl\ninclude(`{}/inc3.m4')dnl\n",
            d.display()
        ),
    )
    .unwrap();
    fs::write(
        d.join("inc3.m4"),
        "define(`confCACERT', `/inc3')dnl\ndefine(`confSERVER_CERT', `/inc3-cert')dnl\n",
    )
    .unwrap();
    let mut failures = Vec::new();
    for (n, v) in VARIANTS.iter().enumerate() {
        let add = v.replace("{d}", &d.display().to_string());
        let mc_text = stock.replacen("MAILER_DEFINITIONS", &format!("{add}MAILER_DEFINITIONS"), 1);
        let mc = d.join(format!("v{n}.mc"));
        let cf = d.join(format!("v{n}.cf"));
        fs::write(&mc, &mc_text).unwrap();
        let out = run(std::process::Command::new(&m4).arg(&mc));
        assert!(
            out.status.success(),
            "m4 {}: {}",
            mc.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(&cf, &out.stdout).unwrap();
        let ours = settings(&home, "--mc", &mc);
        let theirs = settings(&home, "--cf", &cf);
        if ours != theirs {
            failures.push(format!(
                "variant {n} ({v:?}):\n  mc reader: {ours}\n  real m4:   {theirs}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
