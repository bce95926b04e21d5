//! The product on Debian's own sendmail layout, in a sandbox
//! (`tests/peers/sendmail/debian`): copies of `/etc/mail` and
//! `/etc/ssl/certs` mounted over the real paths in private namespaces, TLS
//! files made by Debian's own generator (`update_tls`), the real sendmail
//! daemon started the way Debian starts it. The judge is that daemon:
//! `openssl s_client` must verify what it serves.

use std::path::Path;

use serde_json::Value;

use crate::support::{tempdir, DebianSandbox};

const FQDN: &str = "mx.debian.test";

/// `openssl s_client` inside the sandbox: the verify return code line.
fn s_client_verify(sb: &DebianSandbox, ca_path: &str, port: &str) -> String {
    let out = sb.run_sh(&format!(
        "openssl s_client -starttls smtp -connect 127.0.0.1:{port} -CApath {ca_path} -servername {FQDN} </dev/null 2>&1"
    ));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.contains("Verify return code"))
        .unwrap_or(&text)
        .trim()
        .to_string()
}

fn doctor_json(sb: &DebianSandbox, home: &Path, extra: &str) -> Value {
    let out = sb.run_sh(&format!(
        "{} --home {} doctor --json {extra}",
        crate::support::studio_bin().display(),
        home.display()
    ));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ids(v: &Value, severity: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| {
            format!(
                "{}: {}",
                f["id"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect()
}

/// Debian's default TLS setup (its starttls.m4 included, as Debian tells
/// the admin to): no error, none of the old false warnings, and `--fix`
/// leaves `/etc/ssl/certs` alone, after which sendmail still verifies.
#[test]
fn doctor_tells_the_truth_on_debians_setup() {
    let tmp = tempdir();
    let sb = DebianSandbox::create(&tmp.path().join("sb"));
    sb.enable_tls();
    sb.start_daemon();
    assert_eq!(
        s_client_verify(&sb, "/etc/ssl/certs", "25"),
        "Verify return code: 0 (ok)"
    );
    let home = tmp.path().join("home");
    // Our probe agrees with s_client on Debian's X.509 v1 certificate.
    let probe = sb.run_sh(&format!(
        "{} --home {} probe 127.0.0.1:25 --ca-path /etc/ssl/certs --json",
        crate::support::studio_bin().display(),
        home.display()
    ));
    let p: Value = serde_json::from_slice(&probe.stdout).unwrap_or_else(|e| {
        panic!(
            "probe --json: {e}: {}",
            String::from_utf8_lossy(&probe.stderr)
        )
    });
    assert_eq!(p["starttls"], true, "{p}");
    assert_eq!(p["verify"], "OK", "{p}");
    let report = doctor_json(&sb, &home, "");
    assert!(
        ids(&report, "error").is_empty(),
        "{:?}",
        ids(&report, "error")
    );
    let warnings = ids(&report, "warning");
    assert!(warnings.is_empty(), "{warnings:?}");
    let trusted = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "ca-path-trusted")
        .expect("ca-path-trusted")["message"]
        .as_str()
        .unwrap()
        .to_string();
    let reachable: usize = trusted
        .split(", ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(reachable > 100, "{trusted}");
    // The mc alone says the same about the key (GroupReadableKeyFile is
    // appended by starttls.m4 with defn()).
    let mc_only = doctor_json(&sb, &home, "--mc /etc/mail/sendmail.mc");
    assert!(
        ids(&mc_only, "error").is_empty(),
        "{:?}",
        ids(&mc_only, "error")
    );

    let listing = |sb: &DebianSandbox| {
        String::from_utf8_lossy(&sb.run_sh("ls -l --time-style=+ /etc/ssl/certs").stdout)
            .into_owned()
    };
    let before = listing(&sb);
    let fixed = sb.run_sh(&format!(
        "{} --home {} doctor --fix",
        crate::support::studio_bin().display(),
        home.display()
    ));
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stdout)
    );
    assert_eq!(listing(&sb), before, "doctor --fix changed /etc/ssl/certs");
    sb.restart_daemon();
    assert_eq!(
        s_client_verify(&sb, "/etc/ssl/certs", "25"),
        "Verify return code: 0 (ok)"
    );

    // A CA dropped into /etc/ssl/certs without its link: an error, but the
    // fix is update-ca-certificates' to make, never a rehash by the doctor
    // (which would drop Debian's two sendmail links).
    let made = sb.run_sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -subj /CN=Dropped-In-CA -days 30 -out /etc/ssl/certs/dropped-in.pem 2>&1",
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stdout)
    );
    let report = doctor_json(&sb, &home, "");
    let missing = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "hash-link-missing")
        .unwrap_or_else(|| panic!("no hash-link-missing: {report}"));
    assert!(missing["fix"]["action"].is_null(), "{missing}");
    assert!(
        missing["fix"]["description"]
            .as_str()
            .unwrap()
            .contains("update-ca-certificates"),
        "{missing}"
    );
    let before = listing(&sb);
    let fixed = sb.run_sh(&format!(
        "{} --home {} doctor --fix",
        crate::support::studio_bin().display(),
        home.display()
    ));
    assert_eq!(fixed.status.code(), Some(1));
    assert_eq!(listing(&sb), before, "doctor --fix rehashed /etc/ssl/certs");
}

/// `mc apply --rebuild --restart` on Debian's sendmail.mc, with and without
/// the starttls.m4 include: the cf has exactly the install's files, one
/// Kaccess, m4 warns about nothing new, every original line is kept, `.bak`
/// is the original, a second run changes nothing, and the restarted
/// sendmail serves the install's certificate, verified by s_client against
/// the install's CA directory.
#[test]
fn mc_apply_rebuilds_and_restarts_debians_sendmail() {
    for include in [false, true] {
        let tmp = tempdir();
        let sb = DebianSandbox::create(&tmp.path().join("sb"));
        if include {
            sb.enable_tls();
        }
        sb.start_daemon();
        let home = tmp.path().join("home");
        let studio = format!(
            "{} --home {}",
            crate::support::studio_bin().display(),
            home.display()
        );
        let setup = sb.run_sh(&format!(
            "{studio} ca init --cn 'Debian Test CA' && {studio} cert issue {FQDN} && {studio} install {FQDN} --to /etc/mail/studio"
        ));
        assert!(
            setup.status.success(),
            "{}",
            String::from_utf8_lossy(&setup.stderr)
        );
        let original = sb.read("/etc/mail/sendmail.mc");
        let apply = sb.run_sh(&format!(
            "{studio} mc apply --to /etc/mail/studio --restart --restart-command {}",
            sb.restart_script().display()
        ));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&apply.stdout).into_owned(),
            String::from_utf8_lossy(&apply.stderr).into_owned(),
        );
        assert!(
            apply.status.success(),
            "include={include}\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains("verify=OK"), "{stdout}");
        assert!(
            stderr.contains("+ define(`confCACERT_PATH', `/etc/mail/studio/certs')dnl"),
            "{stderr}"
        );
        eprintln!("mc apply --rebuild --restart (include={include}):\n{stderr}{stdout}");
        let new = sb.read("/etc/mail/sendmail.mc");
        assert_eq!(sb.read("/etc/mail/sendmail.mc.bak"), original);
        // Every original line is still there, in order.
        let mut rest = new.lines();
        for l in original.lines() {
            assert!(rest.any(|n| n == l), "line lost: {l}");
        }
        let cf = sb.read("/etc/mail/sendmail.cf");
        let opt = |name: &str| {
            cf.lines()
                .filter_map(|l| l.strip_prefix(&format!("O {name}=")))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(opt("CACertPath"), ["/etc/mail/studio/certs"]);
        assert_eq!(opt("CACertFile"), ["/etc/mail/studio/CAcert.pem"]);
        assert_eq!(
            opt("ServerCertFile"),
            [format!("/etc/mail/studio/{FQDN}.crt")]
        );
        assert_eq!(
            opt("ServerKeyFile"),
            [format!("/etc/mail/studio/{FQDN}.key")]
        );
        assert_eq!(
            opt("ClientCertFile"),
            [format!("/etc/mail/studio/{FQDN}.crt")]
        );
        assert_eq!(
            opt("ClientKeyFile"),
            [format!("/etc/mail/studio/{FQDN}.key")]
        );
        assert_eq!(cf.lines().filter(|l| l.starts_with("Kaccess ")).count(), 1);
        let m4 = sb.run_sh("cd /etc/mail && m4 sendmail.mc 2>&1 >/dev/null");
        assert_eq!(String::from_utf8_lossy(&m4.stdout).trim(), "", "m4 warns");
        assert_eq!(
            s_client_verify(&sb, "/etc/mail/studio/certs", "25"),
            "Verify return code: 0 (ok)"
        );
        let again = sb.run_sh(&format!("{studio} mc apply --to /etc/mail/studio"));
        assert!(again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to change"));
        assert_eq!(sb.read("/etc/mail/sendmail.mc"), new);
    }
}

/// A restart that does not bring up the new certificate (here: a command
/// that does not restart at all) is caught by the probe: the old mc and cf
/// go back, sendmail is restarted again, exit 1.
#[test]
fn mc_apply_rolls_back_when_sendmail_serves_something_else() {
    let tmp = tempdir();
    let sb = DebianSandbox::create(&tmp.path().join("sb"));
    sb.enable_tls();
    sb.start_daemon();
    let home = tmp.path().join("home");
    let studio = format!(
        "{} --home {}",
        crate::support::studio_bin().display(),
        home.display()
    );
    assert!(sb
        .run_sh(&format!(
            "{studio} ca init --cn 'Debian Test CA' && {studio} cert issue {FQDN} && {studio} install {FQDN} --to /etc/mail/studio"
        ))
        .status
        .success());
    let (mc, cf) = (
        sb.read("/etc/mail/sendmail.mc"),
        sb.read("/etc/mail/sendmail.cf"),
    );
    let out = sb.run_sh(&format!(
        "{studio} mc apply --to /etc/mail/studio --restart --restart-command true"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("serves another certificate"), "{stderr}");
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert_eq!(sb.read("/etc/mail/sendmail.mc"), mc);
    assert_eq!(sb.read("/etc/mail/sendmail.cf"), cf);
    assert_eq!(
        s_client_verify(&sb, "/etc/ssl/certs", "25"),
        "Verify return code: 0 (ok)"
    );
}

/// A renewal reaches the running sendmail: `install --all --restart`
/// installs the renewed certificate, restarts sendmail and proves it serves
/// the new serial; with a restart that does not happen, the installed files
/// go back (exit 1) and sendmail keeps serving what matches them.
#[test]
fn install_all_restart_brings_a_renewal_to_sendmail() {
    let tmp = tempdir();
    let sb = DebianSandbox::create(&tmp.path().join("sb"));
    sb.start_daemon();
    let home = tmp.path().join("home");
    let studio = format!(
        "{} --home {}",
        crate::support::studio_bin().display(),
        home.display()
    );
    let ok = |line: &str| {
        let o = sb.run_sh(line);
        assert!(
            o.status.success(),
            "{line}\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(&format!(
        "{studio} ca init --cn 'Debian Test CA' && {studio} cert issue {FQDN} && {studio} install {FQDN} --to /etc/mail/studio && {studio} mc apply --to /etc/mail/studio --restart --restart-command {}",
        sb.restart_script().display()
    ));
    let serial = || -> String {
        let v: Value = serde_json::from_str(&ok(&format!(
            "{studio} show --json /etc/mail/studio/{FQDN}.crt"
        )))
        .unwrap();
        v[0]["serial"].as_str().unwrap().to_string()
    };
    let first = serial();
    ok(&format!("{studio} cert renew {FQDN} --reuse-key"));
    let out = ok(&format!(
        "{studio} install --all --restart --restart-command {}",
        sb.restart_script().display()
    ));
    let second = serial();
    assert_ne!(first, second);
    assert!(out.contains(&format!("(serial {second}")), "{out}");
    assert_eq!(
        s_client_verify(&sb, "/etc/mail/studio/certs", "25"),
        "Verify return code: 0 (ok)"
    );

    ok(&format!("{studio} cert renew {FQDN} --reuse-key"));
    let o = sb.run_sh(&format!(
        "{studio} install --all --restart --restart-command true"
    ));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("serves another certificate") && err.contains("rolled back"),
        "{err}"
    );
    assert_eq!(
        serial(),
        second,
        "the installed certificate was not put back"
    );
    assert_eq!(
        s_client_verify(&sb, "/etc/mail/studio/certs", "25"),
        "Verify return code: 0 (ok)"
    );
}
