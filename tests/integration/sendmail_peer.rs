//! Against the real sendmail 8.17 peer (`tests/peers/sendmail`):
//!
//! 1. `install` output works as sendmail's TLS configuration (file modes,
//!    hash links, `sendmail.mc` lines; STARTTLS offered; server cert
//!    verifies through the installed CA path);
//! 2. a client certificate issued by the studio CA gets `verify=OK` through
//!    `confCACERT_PATH`; one from a foreign CA gets `verify=FAIL`; none: `NO`;
//! 3. differential test of `${cert_subject}` / `${cert_issuer}`: odd subject
//!    DNs, sendmail's values (log line and a header carrying the macros)
//!    against `show --json` (`subject_sendmail`, `issuer_sendmail`).
//!
//! Observed log format of the peer (LogLevel 14), one session:
//!
//! ```text
//! Dec  1 00:14:10 sm-peer[10868]: STARTTLS=server, relay=[127.0.0.2], version=TLSv1.3, verify=OK, cipher=TLS_AES_256_GCM_SHA384, bits=256/256
//! Dec  1 00:14:10 sm-peer[10868]: STARTTLS=server, cert-subject=/C=US/O=Sendmail+20Peer/CN=client.peer.test, cert-issuer=/C=US/O=Sendmail+20Peer/CN=sendmail+20peer+20test+20CA, verifymsg=ok
//! ```
//!
//! sendmail logs the two DNs with `%.256s` (tls.c), so the log holds only the
//! first 256 characters of the `+XX`-encoded value. The full value is taken
//! from headers added to the peer's configuration with `--mc`
//! (`HX-Studio-Cert-Subject: ${cert_subject}`), expanded when the message is
//! collected; the log value is compared as a 256-character prefix.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{
    openssl, openssl_ec_ca, openssl_ec_request, openssl_sign, require, run, run_ok, studio,
    tempdir, Peer,
};

// ------------------------------------------------------------------ helpers

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

pub(crate) fn out_text(o: &std::process::Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `openssl x509 -noout -fingerprint -sha256` of the first certificate in `f`.
fn fingerprint(f: &Path) -> String {
    run_ok(
        openssl()
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(f),
    )
    .trim()
    .to_string()
}

/// The public key (PEM) of a certificate or private key file, or None if the
/// file is neither.
fn pubkey_of_cert(f: &Path) -> Option<String> {
    let o = run(openssl().args(["x509", "-noout", "-pubkey", "-in"]).arg(f));
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn pubkey_of_key(f: &Path) -> Option<String> {
    let o = run(openssl()
        .args(["pkey", "-pubout", "-passin", "pass:", "-in"])
        .arg(f)
        .stdin(Stdio::null()));
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&p, out),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
}

/// Finds, anywhere in the studio home, the certificate whose subject ends
/// with `subject` (OpenSSL compat one-line form, e.g. `/CN=x`) and the
/// private key that matches it. The home layout is the binary's business;
/// this only relies on the files being there.
fn find_cert_and_key(home: &Path, subject: &str) -> (PathBuf, PathBuf) {
    let mut files = Vec::new();
    walk(home, &mut files);
    files.sort();
    let mut cert = None;
    for f in &files {
        let o = run(openssl()
            .args(["x509", "-noout", "-subject", "-nameopt", "compat", "-in"])
            .arg(f));
        let got = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && got.starts_with("subject=") && got.ends_with(subject) {
            cert = Some(f.clone());
            break;
        }
    }
    let cert = cert.unwrap_or_else(|| {
        panic!(
            "no certificate with subject {subject} in {}: {files:?}",
            home.display()
        )
    });
    let want = pubkey_of_cert(&cert).expect("public key of the certificate");
    let key = files
        .iter()
        .filter(|f| {
            fs::read_to_string(f)
                .map(|t| t.contains("PRIVATE KEY-----"))
                .unwrap_or(false)
        })
        .find(|f| pubkey_of_key(f).as_deref() == Some(want.as_str()))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no private key for {} in {}: {files:?}",
                cert.display(),
                home.display()
            )
        });
    (cert, key)
}

/// `ca init`, `cert issue mx.peer.test`, `install mx.peer.test --to D` in a
/// fresh home; returns (home, D, install stdout).
pub(crate) fn studio_setup(tmp: &Path) -> (PathBuf, PathBuf, String) {
    let home = tmp.join("home");
    let d = tmp.join("etc-mail-tls");
    fs::create_dir(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    run_ok(studio(&home).args(["ca", "init", "--cn", "Studio Test CA"]));
    run_ok(studio(&home).args(["cert", "issue", "mx.peer.test"]));
    let stdout = run_ok(
        studio(&home)
            .args(["install", "mx.peer.test", "--to"])
            .arg(&d),
    );
    (home, d, stdout)
}

/// `start` options that use the installed files in D, as sendmail would.
pub(crate) fn installed_peer_args(d: &Path) -> Vec<OsString> {
    os(&[
        &"--cert",
        &d.join("mx.peer.test.crt"),
        &"--key",
        &d.join("mx.peer.test.key"),
        &"--cacert",
        &d.join("CAcert.pem"),
        &"--capath",
        &d.join("certs"),
        &"--hostname",
        &"mx.peer.test",
    ])
}

/// One message over STARTTLS from 127.0.0.2 with swaks, optionally with a
/// client certificate; the message carries `X-Studio-Case: marker`.
pub(crate) fn swaks(
    peer: &Peer,
    cert_key: Option<(&Path, &Path)>,
    marker: &str,
) -> std::process::Output {
    let mut c = Command::new(require("swaks"));
    c.arg("--server")
        .arg(format!("127.0.0.1:{}", peer.port()))
        .args(["--local-interface", "127.0.0.2", "--tls", "--timeout", "30"])
        .args([
            "--from",
            "a@client.example.net",
            "--to",
            "someone@mx.peer.test",
        ])
        .arg("--header")
        .arg(format!("X-Studio-Case: {marker}"))
        .stdin(Stdio::null());
    if let Some((cert, key)) = cert_key {
        c.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
    }
    run(&mut c)
}

/// The header value `name: value` (first occurrence, unfolded) in a message.
fn header(msg: &str, name: &str) -> Option<String> {
    let head = msg.split("\n\n").next().unwrap_or("");
    let mut lines = head.lines().peekable();
    let prefix = format!("{name}:");
    while let Some(l) = lines.next() {
        if l.len() >= prefix.len() && l[..prefix.len()].eq_ignore_ascii_case(&prefix) {
            let mut v = l[prefix.len()..].trim_start().to_string();
            while let Some(n) = lines.peek() {
                if n.starts_with(' ') || n.starts_with('\t') {
                    v.push('\n');
                    v.push_str(n);
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(v);
        }
    }
    None
}

/// The `verify=` value of a `STARTTLS=server, relay=…` log line.
pub(crate) fn log_field(line: &str, key: &str) -> Option<String> {
    line.split(", ")
        .find_map(|p| p.strip_prefix(&format!("{key}=")).map(str::to_string))
        .or_else(|| {
            line.split_once(&format!(" {key}="))
                .map(|(_, r)| r.split([',', ' ']).next().unwrap_or("").to_string())
        })
}

// ------------------------------------------------------------------ 1

#[test]
fn install_output_works_as_sendmail_tls_config() {
    let tmp = tempdir();
    let (_home, d, stdout) = studio_setup(tmp.path());
    let mut problems = Vec::new();

    // files and modes
    let cacert = d.join("CAcert.pem");
    let certs = d.join("certs");
    let crt = d.join("mx.peer.test.crt");
    let key = d.join("mx.peer.test.key");
    for (f, want) in [(&cacert, 0o644), (&crt, 0o644), (&key, 0o600)] {
        if !f.is_file() {
            problems.push(format!("{} missing", f.display()));
            continue;
        }
        let m = mode(f);
        if m != want {
            problems.push(format!("{}: mode {m:04o}, want {want:04o}", f.display()));
        }
    }
    if key.is_file() {
        let uid = fs::metadata(&key).unwrap().uid();
        // Our effective uid: the owner of a file we just created.
        let probe_file = tempdir();
        let me = fs::metadata(probe_file.path()).unwrap().uid();
        if uid != me {
            problems.push(format!(
                "{}: owner uid {uid}, want {me} (sendmail: Permission denied)",
                key.display()
            ));
        }
    }
    if !certs.is_dir() {
        problems.push(format!("{} missing", certs.display()));
    } else if mode(&certs) & 0o022 != 0 {
        problems.push(format!(
            "{}: mode {:04o} is group/world writable",
            certs.display(),
            mode(&certs)
        ));
    }
    if mode(&d) & 0o022 != 0 {
        problems.push(format!(
            "{}: mode {:04o} is group/world writable",
            d.display(),
            mode(&d)
        ));
    }

    // hash link: certs/HASH.0 -> the CA certificate (a bare file name in certs/)
    if cacert.is_file() && certs.is_dir() {
        let hash = run_ok(
            openssl()
                .args(["x509", "-noout", "-hash", "-in"])
                .arg(&cacert),
        )
        .trim()
        .to_string();
        let link = certs.join(format!("{hash}.0"));
        let listing: Vec<String> = fs::read_dir(&certs)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        match fs::symlink_metadata(&link) {
            Err(_) => problems.push(format!(
                "{} missing (certs/ holds {listing:?})",
                link.display()
            )),
            Ok(md) => {
                if !md.file_type().is_symlink() {
                    problems.push(format!("{} is not a symbolic link", link.display()));
                } else {
                    let target = fs::read_link(&link).unwrap();
                    if target.components().count() != 1 {
                        problems.push(format!(
                            "{} -> {} is not a bare file name",
                            link.display(),
                            target.display()
                        ));
                    }
                }
                if link.is_file() && fingerprint(&link) != fingerprint(&cacert) {
                    problems.push(format!("{} is not the CA certificate", link.display()));
                }
            }
        }
        let o = run(openssl().arg("verify").arg("-CApath").arg(&certs).arg(&crt));
        if !o.status.success() {
            problems.push(format!(
                "openssl verify -CApath certs/ {}: {}",
                crt.display(),
                out_text(&o)
            ));
        }
    }

    // sendmail.mc lines on stdout
    let dd = d.display();
    for (name, path) in [
        ("confCACERT_PATH", format!("{dd}/certs")),
        ("confCACERT", format!("{dd}/CAcert.pem")),
        ("confSERVER_CERT", format!("{dd}/mx.peer.test.crt")),
        ("confSERVER_KEY", format!("{dd}/mx.peer.test.key")),
        ("confCLIENT_CERT", format!("{dd}/mx.peer.test.crt")),
        ("confCLIENT_KEY", format!("{dd}/mx.peer.test.key")),
    ] {
        let want = format!("define(`{name}', `{path}')");
        if !stdout.lines().any(|l| l.trim_start().starts_with(&want)) {
            problems.push(format!("install stdout lacks a line starting with {want}"));
        }
    }
    assert!(
        problems.is_empty(),
        "install problems:\n  {}\ninstall stdout:\n{stdout}",
        problems.join("\n  ")
    );

    // sendmail takes the files as they are
    let peer = Peer::start(&tmp.path().join("peer"), &installed_peer_args(&d));
    assert_eq!(
        peer.get("starttls"),
        "yes",
        "sendmail does not offer STARTTLS with the installed files\nstart stdout:\n{}\nstart stderr:\n{}\nlog:\n{}",
        peer.start_stdout,
        peer.start_stderr,
        peer.log_tail(40)
    );

    let o = run(openssl()
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{}", peer.port()))
        .args(["-bind", "127.0.0.2:0", "-CApath"])
        .arg(&certs)
        .args(["-verify_return_error", "-verify_hostname", "mx.peer.test"])
        .stdin(Stdio::null()));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Verify return code: 0 (ok)"),
        "s_client does not verify sendmail's certificate through {}:\n{}",
        certs.display(),
        out_text(&o)
    );
    // confCACERT's CA is announced to clients
    let announced = text
        .split("Acceptable client certificate CA names")
        .nth(1)
        .map(|r| r.lines().take(5).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    assert!(
        announced.contains("Studio Test CA"),
        "sendmail does not announce the studio CA (CAcert.pem) to clients:\n{}",
        out_text(&o)
    );
}

// ------------------------------------------------------------------ 2

#[test]
fn client_certificate_verifies_through_capath() {
    let tmp = tempdir();
    let (home, d, _) = studio_setup(tmp.path());
    run_ok(studio(&home).args(["cert", "issue", "client.example.net"]));
    let (ccert, ckey) = find_cert_and_key(&home, "/CN=client.example.net");

    // a client certificate with the same name from a foreign CA
    let f = tmp.path().join("foreign");
    fs::create_dir(&f).unwrap();
    openssl_ec_ca(
        &f.join("ca.key"),
        &f.join("ca.crt"),
        "/CN=Foreign Test CA",
        &[],
    );
    openssl_ec_request(
        &f.join("client.key"),
        &f.join("client.csr"),
        "/CN=client.example.net",
        &[],
    );
    openssl_sign(
        &f.join("client.csr"),
        (&f.join("ca.crt"), &f.join("ca.key")),
        &f.join("client.crt"),
        ["-set_serial", "4242"],
    );

    let peer = Peer::start(&tmp.path().join("peer"), &installed_peer_args(&d));
    assert_eq!(
        peer.get("starttls"),
        "yes",
        "no STARTTLS:\n{}\n{}",
        peer.start_stderr,
        peer.log_tail(40)
    );

    let mut problems = Vec::new();
    let fcert = f.join("client.crt");
    let fkey = f.join("client.key");
    type Case<'a> = (&'a str, Option<(&'a Path, &'a Path)>, &'a str);
    let cases: [Case<'_>; 3] = [
        ("studio-client", Some((&ccert, &ckey)), "OK"),
        ("foreign-client", Some((&fcert, &fkey)), "FAIL"),
        ("no-client-cert", None, "NO"),
    ];
    for (marker, ck, want) in cases {
        let from = peer.log_len();
        let o = swaks(&peer, ck, marker);
        if !o.status.success() {
            problems.push(format!("{marker}: swaks failed: {}", out_text(&o)));
            continue;
        }
        match peer.wait_log_line(from, "STARTTLS=server, relay=") {
            None => problems.push(format!(
                "{marker}: no STARTTLS=server log line; log:\n{}",
                peer.log_since(from)
            )),
            Some(l) => {
                let got = log_field(&l, "verify").unwrap_or_default();
                if got != want {
                    problems.push(format!("{marker}: log verify={got}, want {want}: {l}"));
                }
            }
        }
        if want == "FAIL" {
            match peer.wait_log_line(from, "verifymsg=") {
                Some(l) if l.contains("verifymsg=unable to get local issuer certificate") => {}
                other => problems.push(format!("{marker}: want verifymsg=unable to get local issuer certificate, got {other:?}")),
            }
        }
        match peer.message_with_case(marker) {
            None => problems.push(format!(
                "{marker}: message not delivered; log:\n{}",
                peer.log_since(from)
            )),
            Some(m) => {
                let rcvd = header(&m, "Received").unwrap_or_default();
                if !rcvd.contains(&format!(" verify={want})")) || !rcvd.contains("with ESMTPS") {
                    problems.push(format!(
                        "{marker}: Received: lacks `with ESMTPS` / `verify={want})`:\n{rcvd}"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "client certificate checks failed (client cert {}):\n  {}",
        ccert.display(),
        problems.join("\n  ")
    );
}

// ------------------------------------------------------------------ 3

/// One subject DN to try. `subj` is `openssl req -subj` syntax (`\` escapes
/// the next character, an unescaped `+` starts another attribute of the
/// same RDN).
struct DnCase {
    name: &'static str,
    subj: String,
    /// `-utf8`: the input is UTF-8 (else each byte is one character)
    utf8: bool,
    /// `string_mask = default` instead of `utf8only`: PrintableString,
    /// T61String (Latin-1 text) or BMPString (anything else)
    legacy_strings: bool,
    /// self-signed instead of signed by the studio CA: tests the issuer
    /// encoding with an odd issuer DN (sendmail: verify=FAIL, macros set)
    self_signed: bool,
}

fn dn_cases() -> Vec<DnCase> {
    fn c(name: &'static str, subj: &str) -> DnCase {
        DnCase {
            name,
            subj: subj.to_string(),
            utf8: false,
            legacy_strings: false,
            self_signed: false,
        }
    }
    let x = |n: usize| "x".repeat(n);
    let a60 = "a".repeat(60);
    vec![
        // spaces, leading/trailing/double
        c("spaces", "/C=US/O=Studio Test Org/CN=  two  spaces  "),
        // `+` inside values (OpenSSL 3 writes `\+`, sendmail `+5C+2B`)
        c("plus-in-value", "/CN=darth\\+cert/OU=a\\+b\\+c"),
        // `/` inside values
        c("slash-in-value", "/O=a\\/b/CN=slash\\/y\\/"),
        // backslash, and ~ ^ | which stay
        c("backslash", "/CN=back\\\\slash/OU=tilde~caret^pipe|"),
        // sendmail's xtext taboo characters
        c("angle-quote-paren", "/O=A<B>C\"D/CN=x (y) <z>"),
        // = , ; are neither escaped by OpenSSL nor by sendmail
        c("eq-comma-semicolon", "/O=a=b,c;d\\/e/CN=y=z, w;v"),
        // printable ASCII punctuation that stays as it is
        c("ascii-punct", "/CN=percent%at@bang!colon:dot.brackets[]quote'star*amp&hash#dollar$"),
        // a tab (control character: `\x09`) and DEL (0x7F)
        c("tab-and-del", "/O=tab\there/CN=del\u{7f}char"),
        // multi-valued RDNs
        c("multi-valued-rdn", "/CN=a+OU=b/O=multi"),
        c("multi-valued-3", "/CN=a\\+b+OU=c d+O=e/L=after"),
        // emailAddress (IA5String) with `+`
        c("email-plus", "/CN=Darth Mail (Cert)/emailAddress=darth\\+cert@endmail.org"),
        // other short names, and a numeric OID
        c(
            "short-names",
            "/DC=org/DC=example/UID=jdoe/serialNumber=1234/title=Boss/street=Main St 1/postalCode=12345/L=Town/ST=State/CN=names",
        ),
        // an attribute type sendmail's OpenSSL has no name for: numeric OID
        // (`1.2.3.4.5` is registered only in the config used for -subj)
        c("numeric-oid", "/CN=oid/1.2.3.4.5=value"),
        // UTF-8 (UTF8String): byte-wise \xHH
        DnCase { utf8: true, ..c("utf8", "/CN=Müller/O=Société Générale") },
        // T61String (Latin-1 bytes) and BMPString (UCS-2)
        DnCase { utf8: true, legacy_strings: true, ..c("t61string", "/C=DE/CN=Müller") },
        DnCase { utf8: true, legacy_strings: true, ..c("bmpstring", "/O=Euro € sign/CN=bmp") },
        // truncation at 255 characters of the one-line form:
        // 5 + 63 + 64 + 64 = 196, then /CN= (4) + n
        c("oneline-255-kept", &format!("/C=US/O={a60}/OU={a60}/OU={a60}/CN={}", x(55))),
        c("oneline-256-last-dropped", &format!("/C=US/O={a60}/OU={a60}/OU={a60}/CN={}", x(56))),
        c(
            "oneline-long-many-dropped",
            &format!("/C=US/O={a60}/OU={a60}/OU={a60}/OU={}/OU={}/CN=last", x(30), x(60)),
        ),
        // spaces in a long DN: the +XX value (and the log line) get longer
        // than 256 while the one-line form stays within 255
        c(
            "oneline-spaces-long-xtext",
            &format!("/C=US/O={s}/OU={s}/OU={s}/CN={}", x(55), s = "a ".repeat(30)),
        ),
        // escapes count in the 255: 40 × ü = 320 characters as \xC3\xBC
        DnCase { utf8: true, ..c("escapes-overflow", &format!("/C=DE/OU={}/CN=after", "ü".repeat(40))) },
        // the very first entry is too long: nothing is left
        DnCase { utf8: true, ..c("first-entry-too-long", &format!("/CN={}/O=x", "ü".repeat(64))) },
        // odd issuer DNs (self-signed)
        DnCase {
            utf8: true,
            self_signed: true,
            ..c("self-signed-odd-issuer", "/O=Issuer <Odd> \"Q\" a\\/b/CN=ü\\+x+OU=y z")
        },
    ]
}

/// The compat one-line form as OpenSSL prints it (no length limit).
fn compat_subject(cert: &Path) -> String {
    run_ok(
        openssl()
            .args(["x509", "-noout", "-subject", "-nameopt", "compat", "-in"])
            .arg(cert),
    )
    .trim_end_matches('\n')
    .trim_start_matches("subject=")
    .to_string()
}

/// Value of `key=` in the `STARTTLS=server, cert-subject=…, cert-issuer=…,
/// verifymsg=…` line. The values are `+XX`-encoded, so they hold no blank
/// and `, ` only separates fields.
fn cert_line_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    Some(rest.find(", ").map(|e| &rest[..e]).unwrap_or(rest))
}

#[test]
fn sendmail_dn_encoding_matches_show_json() {
    let tmp = tempdir();
    let (home, d, _) = studio_setup(tmp.path());
    let (ca_cert, ca_key) = find_cert_and_key(&home, "/CN=Studio Test CA");

    // headers that carry the full macro values into each delivered message
    let mc = tmp.path().join("dn-headers.mc");
    fs::write(
        &mc,
        "LOCAL_CONFIG\nHX-Studio-Cert-Subject: ${cert_subject}\nHX-Studio-Cert-Issuer: ${cert_issuer}\n",
    )
    .unwrap();
    let legacy_cnf = tmp.path().join("legacy-strings.cnf");
    let oids = "[new_oids]\nstudioTestAttr = 1.2.3.4.5\n";
    fs::write(
        &legacy_cnf,
        format!("oid_section = new_oids\n{oids}[req]\ndistinguished_name = dn\nstring_mask = default\n[dn]\n"),
    )
    .unwrap();
    let plain_cnf = tmp.path().join("utf8only.cnf");
    fs::write(
        &plain_cnf,
        format!("oid_section = new_oids\n{oids}[req]\ndistinguished_name = dn\nstring_mask = utf8only\n[dn]\n"),
    )
    .unwrap();

    let mut args = installed_peer_args(&d);
    args.push("--mc".into());
    args.push(mc.clone().into());
    let peer = Peer::start(&tmp.path().join("peer"), &args);
    assert_eq!(
        peer.get("starttls"),
        "yes",
        "no STARTTLS:\n{}\n{}",
        peer.start_stderr,
        peer.log_tail(40)
    );

    let work = tmp.path().join("dn");
    fs::create_dir(&work).unwrap();
    let serial_file = work.join("ca.srl");
    let mut mismatches = Vec::new();
    let mut report = Vec::new();

    for (i, case) in dn_cases().iter().enumerate() {
        let key = work.join(format!("{i:02}.key"));
        let crt = work.join(format!("{i:02}.crt"));
        let csr = work.join(format!("{i:02}.csr"));
        let cnf = if case.legacy_strings {
            &legacy_cnf
        } else {
            &plain_cnf
        };
        let mut req = openssl();
        req.args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-config",
        ])
        .arg(cnf)
        .arg("-keyout")
        .arg(&key)
        .arg("-subj")
        .arg(&case.subj);
        if case.utf8 {
            req.arg("-utf8");
        }
        if case.self_signed {
            req.args(["-x509", "-days", "30", "-out"]).arg(&crt);
        } else {
            req.arg("-new").arg("-out").arg(&csr);
        }
        let o = run(&mut req);
        if !o.status.success() {
            mismatches.push(format!(
                "[{}] cannot make the certificate for -subj {:?}: {}",
                case.name,
                case.subj,
                out_text(&o)
            ));
            continue;
        }
        if !case.self_signed {
            run_ok(
                openssl()
                    .args(["x509", "-req", "-days", "30", "-in"])
                    .arg(&csr)
                    .arg("-CA")
                    .arg(&ca_cert)
                    .arg("-CAkey")
                    .arg(&ca_key)
                    .arg("-CAserial")
                    .arg(&serial_file)
                    .arg("-CAcreateserial")
                    .arg("-out")
                    .arg(&crt),
            );
        }
        let compat = compat_subject(&crt);

        // ours
        let o = run(studio(&home).arg("show").arg(&crt).arg("--json"));
        let ours: Option<(String, String)> = if o.status.success() {
            serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .ok()
                .and_then(|v| {
                    let c = v.get(0)?;
                    Some((
                        c.get("subject_sendmail")?.as_str()?.to_string(),
                        c.get("issuer_sendmail")?.as_str()?.to_string(),
                    ))
                })
        } else {
            None
        };

        // sendmail's
        let marker = format!("dn-{i:02}-{}", case.name);
        let from = peer.log_len();
        let so = swaks(&peer, Some((&crt, &key)), &marker);
        if !so.status.success() {
            mismatches.push(format!("[{}] swaks failed: {}", case.name, out_text(&so)));
            continue;
        }
        let line = peer.wait_log_line(from, "STARTTLS=server, cert-subject=");
        let log_subject = line
            .as_deref()
            .and_then(|l| cert_line_field(l, "cert-subject"))
            .map(str::to_string);
        let log_issuer = line
            .as_deref()
            .and_then(|l| cert_line_field(l, "cert-issuer"))
            .map(str::to_string);
        let msg = peer.message_with_case(&marker);
        let hdr_subject = msg
            .as_deref()
            .and_then(|m| header(m, "X-Studio-Cert-Subject"));
        let hdr_issuer = msg
            .as_deref()
            .and_then(|m| header(m, "X-Studio-Cert-Issuer"));

        let mut bad = Vec::new();
        match &ours {
            None => bad.push(format!(
                "show --json gave no subject_sendmail/issuer_sendmail: {}",
                out_text(&o)
            )),
            Some((os_, oi)) => {
                for (what, ours_v, hdr, log) in [
                    ("subject", os_, &hdr_subject, &log_subject),
                    ("issuer", oi, &hdr_issuer, &log_issuer),
                ] {
                    match hdr {
                        None => bad.push(format!("no ${{cert_{what}}} header in the delivered message")),
                        Some(h) if h != ours_v => bad.push(format!(
                            "{what}: sendmail ${{cert_{what}}} = {h:?}\n        ours ({what}_sendmail) = {ours_v:?}"
                        )),
                        _ => {}
                    }
                    // the log keeps the first 256 characters (%.256s)
                    let ours_prefix: String = ours_v.chars().take(256).collect();
                    match log {
                        None => bad.push(format!("no cert-{what}= in the log: {line:?}")),
                        Some(l) if *l != ours_prefix => bad.push(format!(
                            "{what}: sendmail log cert-{what}= {l:?}\n        ours (first 256 chars)  = {ours_prefix:?}"
                        )),
                        _ => {}
                    }
                }
            }
        }
        report.push(format!(
            "[{}] -subj {:?} -> sendmail {:?}",
            case.name,
            case.subj,
            hdr_subject.as_deref().unwrap_or("?")
        ));
        if !bad.is_empty() {
            mismatches.push(format!(
                "[{}] -subj {:?}{}{}\n    openssl compat: {compat:?}\n    {}",
                case.name,
                case.subj,
                if case.utf8 { " -utf8" } else { "" },
                if case.legacy_strings {
                    " (string_mask=default)"
                } else {
                    ""
                },
                bad.join("\n    ")
            ));
        }
    }
    eprintln!("DN cases (shown with --nocapture):\n{}", report.join("\n"));
    assert!(
        mismatches.is_empty(),
        "{} of {} DN cases differ from sendmail:\n\n{}\n\nall cases:\n{}",
        mismatches.len(),
        dn_cases().len(),
        mismatches.join("\n\n"),
        report.join("\n")
    );
}
