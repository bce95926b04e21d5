//! `install --crl` with the real sendmail as the judge: the CRL goes into
//! the install's CA directory with the link `openssl rehash` makes, the
//! printed `confCRL` line is what sendmail then uses, a revoked client
//! certificate gets `verify=FAIL` and a good one `verify=OK`; `install
//! --all` brings a re-signed CRL along; `cert crl --due` re-signs only
//! when the CRL is due.

use crate::sendmail_peer::{installed_peer_args, log_field, out_text, studio_setup, swaks};
use crate::support::{links, openssl_links, run, run_ok, studio, tempdir, Peer};
use std::fs;

#[test]
fn install_crl_is_what_sendmail_checks_clients_against() {
    let tmp = tempdir();
    let (home, d, _) = studio_setup(tmp.path());
    // two client certificates, one of them revoked (kept aside first:
    // revoke archives the pair)
    let keep = tmp.path().join("clients");
    fs::create_dir(&keep).unwrap();
    for c in ["good.client.test", "revoked.client.test"] {
        run_ok(studio(&home).args(["cert", "issue", c]));
        for ext in ["crt", "key"] {
            fs::copy(
                home.join(format!("hosts/{c}.{ext}")),
                keep.join(format!("{c}.{ext}")),
            )
            .unwrap();
        }
    }
    // --crl before there is a CRL: refused, nothing written
    let o = run(studio(&home)
        .args(["install", "mx.peer.test", "--to"])
        .arg(&d)
        .arg("--crl"));
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cert crl"));
    assert!(!d.join("certs/crl.pem").exists());
    run_ok(studio(&home).args(["cert", "revoke", "revoked.client.test"]));
    // an install that fails (no such host) takes back the CRL it put
    // there: none is left without its hash link
    let o = run(studio(&home)
        .args(["install", "nosuch.peer.test", "--to"])
        .arg(&d)
        .arg("--crl"));
    assert_ne!(o.status.code(), Some(0), "{}", out_text(&o));
    assert!(!d.join("certs/crl.pem").exists(), "{}", out_text(&o));
    let stdout = run_ok(
        studio(&home)
            .args(["install", "mx.peer.test", "--to"])
            .arg(&d)
            .arg("--crl"),
    );
    let crl = d.join("certs/crl.pem");
    assert_eq!(
        fs::read(&crl).unwrap(),
        fs::read(home.join("ca/crl.pem")).unwrap()
    );
    let line = format!("define(`confCRL', `{}')dnl", crl.display());
    assert!(stdout.contains(&line), "{stdout}");
    // the links: what openssl rehash makes of a clean copy (an .r0 for the CRL)
    let ours = links(&d.join("certs"));
    assert!(ours.keys().any(|k| k.ends_with(".r0")), "{ours:?}");
    assert_eq!(ours, openssl_links(&d.join("certs")));

    // sendmail, started on these files with the printed confCRL line
    let mc = tmp.path().join("crl.mc");
    fs::write(&mc, format!("{line}\n")).unwrap();
    let mut args = installed_peer_args(&d);
    args.push("--mc".into());
    args.push(mc.clone().into());
    let peer = Peer::start(&tmp.path().join("peer"), &args);
    let verify = |name: &str| {
        let from = peer.log_len();
        let o = swaks(
            &peer,
            Some((
                &keep.join(format!("{name}.crt")),
                &keep.join(format!("{name}.key")),
            )),
            name,
        );
        peer.wait_log_line(from, "STARTTLS=server, relay=")
            .and_then(|l| log_field(&l, "verify"))
            .unwrap_or_else(|| format!("(no log line: {})", out_text(&o)))
    };
    assert_eq!(verify("good.client.test"), "OK");
    assert_eq!(verify("revoked.client.test"), "FAIL");
    let log = fs::read_to_string(peer.log_path()).unwrap();
    assert!(log.contains("certificate revoked"), "{log}");

    // cert crl --due: not due (30 days left) → untouched; due → re-signed,
    // and install --all brings it to the install
    let before = fs::read(home.join("ca/crl.pem")).unwrap();
    let said = run_ok(studio(&home).args(["cert", "crl", "--due", "7"]));
    assert!(said.contains("not due"), "{said}");
    assert_eq!(fs::read(home.join("ca/crl.pem")).unwrap(), before);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run_ok(studio(&home).args(["cert", "crl", "--due", "40"]));
    let after = fs::read(home.join("ca/crl.pem")).unwrap();
    assert_ne!(after, before);
    run_ok(studio(&home).args(["install", "--all"]));
    assert_eq!(fs::read(&crl).unwrap(), after);
    assert_eq!(links(&d.join("certs")), openssl_links(&d.join("certs")));
}
