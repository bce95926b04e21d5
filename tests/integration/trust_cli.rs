//! `trust add/list/remove` with the real sendmail as the judge: the peer is
//! started on the install directory after each change (sendmail reads its
//! CA directory at start); a partner's client certificate must get
//! `verify=OK` once its CA is trusted and `FAIL` once it is removed, two
//! partner CAs with one subject both work, a third party stays `FAIL`, and
//! trust alone relays nothing until the access line is added. Every state
//! also passes `openssl verify -CApath`, and the links equal what
//! `openssl rehash` makes of a clean copy.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::sendmail_peer::{installed_peer_args, log_field, out_text, studio_setup};
use crate::support::pki::{partner, Partner};
use crate::support::{
    links, openssl, openssl_ec_ca, openssl_ec_request, openssl_links, openssl_sign, require, run,
    run_ok, studio, tempdir, Peer,
};

/// `verify=` from sendmail's log for one session with this client
/// certificate, and the RCPT reply for a remote recipient.
fn session(peer: &Peer, who: &Partner, marker: &str) -> (String, String) {
    let from = peer.log_len();
    let o = run(Command::new(require("swaks"))
        .arg("--server")
        .arg(format!("127.0.0.1:{}", peer.port()))
        .args([
            "--local-interface",
            "127.0.0.2",
            "--tls",
            "--timeout",
            "30",
            "--quit-after",
            "RCPT",
        ])
        .args([
            "--from",
            "a@client.example.net",
            "--to",
            "someone@remote.example",
        ])
        .arg("--tls-cert")
        .arg(&who.cert)
        .arg("--tls-key")
        .arg(&who.key)
        .arg("--header")
        .arg(format!("X-Studio-Case: {marker}")));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let rcpt = text
        .lines()
        .skip_while(|l| !l.contains("RCPT TO:"))
        .nth(1)
        .unwrap_or("")
        .trim_start_matches(['<', '~', '*', ' '])
        .to_string();
    let verify = peer
        .wait_log_line(from, "STARTTLS=server, relay=")
        .and_then(|l| log_field(&l, "verify"))
        .unwrap_or_else(|| format!("(no log line: {})", out_text(&o)));
    (verify, rcpt)
}

fn openssl_verify(capath: &Path, cert: &Path) -> bool {
    run(openssl().arg("verify").arg("-CApath").arg(capath).arg(cert))
        .status
        .success()
}

fn links_match_openssl(certs: &Path, scratch: &Path) {
    let _ = fs::remove_dir_all(scratch);
    fs::create_dir_all(scratch).unwrap();
    for e in fs::read_dir(certs).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), scratch.join(e.file_name())).unwrap();
        }
    }
    run_ok(openssl().arg("rehash").arg(scratch));
    assert_eq!(links(certs), openssl_links(scratch));
}

#[test]
fn trust_decides_what_the_real_sendmail_verifies() {
    let tmp = tempdir();
    let (home, d, _) = studio_setup(tmp.path());
    let pk = tmp.path().join("partners");
    let p1 = partner(&pk, "p1", "Partner Root CA", "mta1.partner.example");
    let p2 = partner(&pk, "p2", "Partner Root CA", "mta2.partner.example");
    let x = partner(&pk, "x", "Stranger CA", "stranger.example");
    let certs = d.join("certs");

    // Before: nobody verifies.
    for p in [&p1, &p2, &x] {
        assert!(!openssl_verify(&certs, &p.cert));
    }
    for p in [&p1, &p2] {
        let out = run_ok(
            studio(&home)
                .args(["trust", "add"])
                .arg(&p.ca)
                .arg("--to")
                .arg(&d),
        );
        assert_eq!(
            out.trim(),
            "CERTISSUER:/O=Partner/CN=Partner+20Root+20CA\tRELAY",
            "{out}"
        );
    }
    // The same CA again changes nothing.
    let before = links(&certs);
    run_ok(
        studio(&home)
            .args(["trust", "add"])
            .arg(&p1.ca)
            .arg("--to")
            .arg(&d),
    );
    assert_eq!(links(&certs), before);
    links_match_openssl(&certs, &tmp.path().join("scratch"));
    assert!(
        links(&certs).keys().any(|k| k.ends_with(".1")),
        "{:?}",
        links(&certs)
    );
    assert!(openssl_verify(&certs, &p1.cert) && openssl_verify(&certs, &p2.cert));
    assert!(!openssl_verify(&certs, &x.cert));

    let state = tmp.path().join("peer");
    {
        let peer = Peer::start(&state, &installed_peer_args(&d));
        let (v1, r1) = session(&peer, &p1, "p1");
        let (v2, _) = session(&peer, &p2, "p2");
        let (vx, _) = session(&peer, &x, "x");
        assert_eq!(
            (v1.as_str(), v2.as_str(), vx.as_str()),
            ("OK", "OK", "FAIL")
        );
        // Trusted, but no access line: no relaying.
        assert!(r1.contains("Relaying denied"), "{r1}");
    }
    // The line trust printed, added: now the partner relays.
    let access = tmp.path().join("access");
    fs::write(
        &access,
        "CERTISSUER:/O=Partner/CN=Partner+20Root+20CA\tRELAY\n",
    )
    .unwrap();
    {
        let mut args = installed_peer_args(&d);
        args.push("--access".into());
        args.push(access.clone().into());
        let peer = Peer::start(&state, &args);
        let (v1, r1) = session(&peer, &p1, "p1-relay");
        assert_eq!(v1, "OK");
        assert!(r1.starts_with("250"), "{r1}");
        let (_, rx) = session(&peer, &x, "x-relay");
        assert!(rx.contains("Relaying denied"), "{rx}");
    }
    // Removed: FAIL again, no dangling link, the other one still works.
    run_ok(
        studio(&home)
            .args(["trust", "remove"])
            .arg(&p1.ca)
            .arg("--to")
            .arg(&d),
    );
    for (name, target) in links(&certs) {
        assert!(certs.join(&target).exists(), "{name} -> {target} dangles");
    }
    links_match_openssl(&certs, &tmp.path().join("scratch"));
    assert!(!openssl_verify(&certs, &p1.cert) && openssl_verify(&certs, &p2.cert));
    let peer = Peer::start(&state, &installed_peer_args(&d));
    let (v1, _) = session(&peer, &p1, "p1-removed");
    let (v2, _) = session(&peer, &p2, "p2-kept");
    assert_eq!((v1.as_str(), v2.as_str()), ("FAIL", "OK"));
}

#[test]
fn trust_refuses_what_is_not_a_current_ca_and_writes_nothing() {
    let tmp = tempdir();
    let (home, d, _) = studio_setup(tmp.path());
    let pk = tmp.path().join("partners");
    let p = partner(&pk, "p", "Partner Root CA", "mta.partner.example");
    let snapshot = || {
        let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(d.join("certs"))
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap_or_default(),
                )
            })
            .collect();
        v.push(("CAcert.pem".into(), fs::read(d.join("CAcert.pem")).unwrap()));
        v.sort();
        v
    };
    let start = snapshot();
    // A leaf, and a file mixing a CA and a leaf.
    let mixed = tmp.path().join("mixed.pem");
    fs::write(
        &mixed,
        [fs::read(&p.ca).unwrap(), fs::read(&p.cert).unwrap()].concat(),
    )
    .unwrap();
    for f in [&p.cert, &mixed] {
        let o = run(studio(&home)
            .args(["trust", "add"])
            .arg(f)
            .arg("--to")
            .arg(&d));
        assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("not a CA"),
            "{}",
            out_text(&o)
        );
        assert_eq!(
            snapshot(),
            start,
            "something was written for {}",
            f.display()
        );
    }
    // An expired CA: refused, unless on purpose.
    let old = tmp.path().join("old.pem");
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(400);
    let expired = starttls_studio::core::pki::create_ca(
        "Expired CA",
        starttls_studio::core::pki::KeyKind::EcdsaP256,
        30,
        past,
    )
    .unwrap();
    fs::write(&old, &expired.cert_pem).unwrap();
    let o = run(studio(&home)
        .args(["trust", "add"])
        .arg(&old)
        .arg("--to")
        .arg(&d));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not valid now"),
        "{}",
        out_text(&o)
    );
    assert_eq!(snapshot(), start);
    run_ok(
        studio(&home)
            .args(["trust", "add", "--allow-expired"])
            .arg(&old)
            .arg("--to")
            .arg(&d),
    );
    // Our own CA goes only with --force.
    let list: serde_json::Value = serde_json::from_str(&run_ok(
        studio(&home)
            .args(["trust", "list", "--json", "--to"])
            .arg(&d),
    ))
    .unwrap();
    let ours = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ours"] == true)
        .expect("our CA is listed");
    assert_eq!(ours["announced"], true);
    for key in [
        "subject",
        "subject_sendmail",
        "subject_hash",
        "not_after",
        "sha256_fingerprint",
    ] {
        assert!(ours[key].is_string(), "{key}: {ours}");
    }
    let fp = ours["sha256_fingerprint"].as_str().unwrap();
    let o = run(studio(&home).args(["trust", "remove", fp, "--to"]).arg(&d));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
}

/// `--announce` puts a partner CA into CAcert.pem, and a later `install`
/// keeps it there (our CA first).
#[test]
fn announced_partners_survive_install() {
    let tmp = tempdir();
    let (home, d, _) = studio_setup(tmp.path());
    let p = partner(
        &tmp.path().join("partners"),
        "p",
        "Partner Root CA",
        "mta.partner.example",
    );
    run_ok(
        studio(&home)
            .args(["trust", "add"])
            .arg(&p.ca)
            .arg("--to")
            .arg(&d),
    );
    let count = || {
        String::from_utf8_lossy(&fs::read(d.join("CAcert.pem")).unwrap())
            .matches("BEGIN CERTIFICATE")
            .count()
    };
    assert_eq!(count(), 1, "trusted without --announce is not announced");
    run_ok(
        studio(&home)
            .args(["trust", "add", "--announce"])
            .arg(&p.ca)
            .arg("--to")
            .arg(&d),
    );
    assert_eq!(count(), 2);
    run_ok(
        studio(&home)
            .args(["install", "mx.peer.test", "--to"])
            .arg(&d),
    );
    assert_eq!(count(), 2, "install dropped the announced partner");
    let subjects = run_ok(
        openssl()
            .args(["crl2pkcs7", "-nocrl", "-certfile"])
            .arg(d.join("CAcert.pem"))
            .arg("-out")
            .arg(tmp.path().join("p7")),
    );
    let _ = subjects;
    let listed = run_ok(
        openssl()
            .args(["pkcs7", "-print_certs", "-noout", "-in"])
            .arg(tmp.path().join("p7")),
    );
    let first = listed
        .lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or("");
    assert!(first.contains("Studio Test CA"), "{listed}");
}

/// A partner who keeps its key: `openssl req` on its side, `cert sign`
/// here; the certificate verifies with OpenSSL and with the real sendmail
/// (verify=OK), and relays once `access add-cert-relay --subject` names it.
/// Wildcards and tampered requests are refused with nothing written.
#[test]
fn cert_sign_lets_a_partner_keep_its_key() {
    let tmp = tempdir();
    let (home, d, _) = studio_setup(tmp.path());
    let pk = tmp.path().join("partner");
    fs::create_dir_all(&pk).unwrap();
    let csr = pk.join("mta.csr");
    openssl_ec_request(
        &pk.join("mta.key"),
        &csr,
        "/O=Partner Ltd/CN=mta.partner.example",
        &["-addext", "subjectAltName=DNS:mta.partner.example"],
    );
    let signed = run(studio(&home).args(["cert", "sign"]).arg(&csr));
    assert!(signed.status.success(), "{}", out_text(&signed));
    let crt = pk.join("mta.crt");
    fs::write(&crt, &signed.stdout).unwrap();
    assert!(run(openssl()
        .arg("verify")
        .arg("-purpose")
        .arg("sslclient")
        .arg("-CAfile")
        .arg(home.join("ca").join("ca.crt"))
        .arg(&crt))
    .status
    .success());
    let list = run_ok(studio(&home).args(["cert", "list"]));
    assert!(
        list.contains("mta.partner.example") && list.contains("partner holds the key"),
        "{list}"
    );
    assert!(!home.join("hosts").join("mta.partner.example.key").exists());

    let hosts_before = fs::read_dir(home.join("hosts")).unwrap().count();
    // A wildcard, and a request changed after it was signed.
    let wild = pk.join("wild.csr");
    openssl_ec_request(Path::new("/dev/null"), &wild, "/CN=*.partner.example", &[]);
    let mut der =
        crate::support::run_ok_bytes(openssl().args(["req", "-outform", "DER", "-in"]).arg(&csr));
    let n = der.len();
    der[n - 3] ^= 0x55;
    let bad = pk.join("bad.der");
    fs::write(&bad, &der).unwrap();
    for (f, why) in [(&wild, "wildcard"), (&bad, "signature does not verify")] {
        let o = run(studio(&home).args(["cert", "sign"]).arg(f));
        assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(why),
            "{}",
            out_text(&o)
        );
    }
    assert_eq!(
        fs::read_dir(home.join("hosts")).unwrap().count(),
        hosts_before
    );

    // The real sendmail: verify=OK; relays once this subject may.
    let access = tmp.path().join("access");
    fs::write(&access, "").unwrap();
    run_ok(
        studio(&home)
            .args(["access", "add-cert-relay", "--subject", "--cert"])
            .arg(&crt)
            .arg("--access")
            .arg(&access),
    );
    let mut args = installed_peer_args(&d);
    args.push("--access".into());
    args.push(access.into());
    let peer = Peer::start(&tmp.path().join("peer"), &args);
    let partner = Partner {
        ca: home.join("ca").join("ca.crt"),
        cert: crt,
        key: pk.join("mta.key"),
    };
    let (v, rcpt) = session(&peer, &partner, "signed");
    assert_eq!(v, "OK");
    assert!(rcpt.starts_with("250"), "{rcpt}");
}

/// A host certificate from elsewhere: `install --cert --key --chain`. The
/// real sendmail sends only the first certificate of confSERVER_CERT, so the
/// intermediate goes into the CA directory, from where sendmail sends it:
/// s_client with only the public root verifies, and sees two certificates.
/// Our CA still verifies clients. Wrong inputs are refused, nothing written.
#[test]
fn install_with_a_certificate_from_elsewhere_sends_its_chain() {
    let tmp = tempdir();
    let (home, d, _) = studio_setup(tmp.path());
    let pk = tmp.path().join("public");
    fs::create_dir_all(&pk).unwrap();
    let f = |n: &str| pk.join(n);
    let ext = |name: &str, text: &str| {
        fs::write(f(name), text).unwrap();
        f(name)
    };
    openssl_ec_ca(
        &f("root.key"),
        &f("root.pem"),
        "/CN=Public Root",
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    let sign = |csr: &str, ca: &str, extfile: &Path, out: &str| {
        openssl_sign(
            &f(csr),
            (&f(&format!("{ca}.pem")), &f(&format!("{ca}.key"))),
            &f(out),
            ["-extfile".as_ref(), extfile.as_os_str()],
        );
    };
    let req = |subj: &str, name: &str| {
        openssl_ec_request(
            &f(&format!("{name}.key")),
            &f(&format!("{name}.csr")),
            subj,
            &[],
        );
    };
    req("/CN=Public Intermediate", "int");
    sign("int.csr", "root", &ext("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"), "int.pem");
    req("/CN=mx.peer.test", "leaf");
    sign("leaf.csr", "int", &ext("leaf.ext", "subjectAltName=DNS:mx.peer.test\nextendedKeyUsage=serverAuth,clientAuth\nauthorityKeyIdentifier=keyid\n"), "leaf.pem");
    req("/CN=other.example", "other");
    sign(
        "other.csr",
        "int",
        &ext(
            "other.ext",
            "subjectAltName=DNS:other.example\nauthorityKeyIdentifier=keyid\n",
        ),
        "other.pem",
    );
    // The chain given root first: reordered, the root left out.
    let chain = f("chain.pem");
    fs::write(
        &chain,
        [
            fs::read(f("root.pem")).unwrap(),
            fs::read(f("int.pem")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();

    let snapshot = || {
        let mut v: Vec<(PathBuf, Vec<u8>)> = crate::support::walk(&d)
            .into_iter()
            .map(|p| {
                let data = fs::read(&p).unwrap_or_default();
                (p, data)
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot();
    let install = |cert: &Path, key: &Path, chain: &Path| {
        run(studio(&home)
            .args(["install", "mx.peer.test", "--to"])
            .arg(&d)
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .arg("--chain")
            .arg(chain))
    };
    for (cert, key, chain, why) in [
        (f("leaf.pem"), f("int.key"), chain.clone(), "is not the key"),
        (
            f("other.pem"),
            f("other.key"),
            chain.clone(),
            "not mx.peer.test",
        ),
        (
            f("leaf.pem"),
            f("leaf.key"),
            f("other.pem"),
            "does not belong to the chain",
        ),
    ] {
        let o = install(&cert, &key, &chain);
        assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(why),
            "{why}: {}",
            out_text(&o)
        );
        assert_eq!(snapshot(), before, "{why}: something was written");
    }
    let o = install(&f("leaf.pem"), &f("leaf.key"), &chain);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{}", out_text(&o));
    assert!(
        err.contains("out of order") && err.contains("left out the root"),
        "{err}"
    );
    assert!(fs::read_dir(d.join("certs")).unwrap().flatten().any(|e| e
        .file_name()
        .to_string_lossy()
        .starts_with("chain-Public_Intermediate-")));

    let peer = Peer::start(&tmp.path().join("peer"), &installed_peer_args(&d));
    let s = run(openssl()
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{}", peer.port()))
        .arg("-CAfile")
        .arg(f("root.pem"))
        .arg("-showcerts")
        .stdin(std::process::Stdio::null()));
    let text = String::from_utf8_lossy(&s.stdout).into_owned();
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    assert!(text.contains(" 1 s:CN = Public Intermediate"), "{text}");
    // Our CA still verifies clients: a certificate issued by the home.
    run_ok(studio(&home).args(["cert", "issue", "client.example.net"]));
    let client = Partner {
        ca: home.join("ca").join("ca.crt"),
        cert: home.join("hosts").join("client.example.net.crt"),
        key: home.join("hosts").join("client.example.net.key"),
    };
    let (v, _) = session(&peer, &client, "home-client");
    assert_eq!(v, "OK");
}

/// The "CSR first" bundle: no key and no certificate in it; the partner
/// runs the README's own `openssl req` line, `cert sign` signs the request,
/// and the certificate verifies against the bundle's CA directory.
#[test]
fn csr_first_bundle_round_trip() {
    let tmp = tempdir();
    let (home, _d, _) = studio_setup(tmp.path());
    let prefix = tmp.path().join("partner-tls");
    let out = tmp.path().join("bundle");
    run_ok(
        studio(&home)
            .args(["bundle", "mta.partner.example", "--csr-first", "--prefix"])
            .arg(&prefix)
            .arg("--out")
            .arg(&out),
    );
    let names: Vec<String> = crate::support::walk(&out)
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".key") || n.ends_with(".crt")),
        "{names:?}"
    );
    // The README's command, run as written (in the partner's directory).
    fs::create_dir_all(&prefix).unwrap();
    for e in fs::read_dir(&out).unwrap().flatten() {
        let _ = Command::new("cp")
            .arg("-a")
            .arg(e.path())
            .arg(&prefix)
            .status();
    }
    let readme = fs::read_to_string(out.join("README.txt")).unwrap();
    let start = readme
        .find("(umask 077; openssl req")
        .expect("the openssl line");
    let end = readme[start..].find(".csr)").unwrap() + start + 5;
    let line = readme[start..end].replace("\\\n", " ");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .current_dir(tmp.path())
        .status()
        .unwrap();
    assert!(ok.success(), "{line}");
    assert!(prefix.join("mta.partner.example.key").exists());
    let signed = run_ok(
        studio(&home)
            .args(["cert", "sign"])
            .arg(tmp.path().join("mta.partner.example.csr")),
    );
    let crt = prefix.join("mta.partner.example.crt");
    fs::write(&crt, signed).unwrap();
    assert!(run(openssl()
        .arg("verify")
        .arg("-CApath")
        .arg(prefix.join("certs"))
        .arg(&crt))
    .status
    .success());
    // The certificate carries the key the partner made.
    let from_cert = run_ok(
        openssl()
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(&crt),
    );
    let from_key = run_ok(
        openssl()
            .args(["pkey", "-pubout", "-in"])
            .arg(prefix.join("mta.partner.example.key")),
    );
    assert_eq!(from_cert, from_key);
}
