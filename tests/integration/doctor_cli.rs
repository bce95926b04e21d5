//! `doctor` on real setups: the sendmail peer's own (`start` makes its CA,
//! certificates and cf) and ours (`install` output used by the peer), then
//! each broken one way. For every breakage: the right id and severity,
//! `--fix` repairs what is safe to repair and a rerun is clean, and a
//! rehash fix leaves the links `openssl rehash` makes. For the
//! group-readable key, the real sendmail is asked too: it then offers no
//! STARTTLS, and does again after `--fix`.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::Peer;
use crate::support::{links, openssl_links, run, run_ok, studio, tempdir};

const HOST: &str = "mx.peer.test";

/// An `install`ed setup used by a (stopped) sendmail peer: the cf is real.
struct Setup {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    /// The install directory.
    d: PathBuf,
    state: PathBuf,
    cf: PathBuf,
    mc: PathBuf,
}

impl Setup {
    fn key(&self) -> PathBuf {
        self.d.join(format!("{HOST}.key"))
    }
    fn crt(&self) -> PathBuf {
        self.d.join(format!("{HOST}.crt"))
    }
    fn certs(&self) -> PathBuf {
        self.d.join("certs")
    }
    fn access(&self) -> PathBuf {
        self.state.join("access")
    }

    fn peer_args(&self) -> Vec<OsString> {
        let d = &self.d;
        [
            "--cert".into(),
            self.crt().into_os_string(),
            "--key".into(),
            self.key().into_os_string(),
            "--cacert".into(),
            d.join("CAcert.pem").into_os_string(),
            "--capath".into(),
            self.certs().into_os_string(),
            "--hostname".into(),
            HOST.into(),
        ]
        .to_vec()
    }

    /// Starts the peer on this setup; returns it running (stopped on drop).
    fn start_peer(&self) -> Peer {
        Peer::start(&self.state, &self.peer_args())
    }
}

/// `ca init`, `cert issue`, `install`, then one peer start (which writes
/// the cf and the access database) and stop.
fn setup() -> Setup {
    let tmp = tempdir();
    let home = tmp.path().join("home");
    let d = tmp.path().join("etc-mail-tls");
    fs::create_dir(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    run_ok(studio(&home).args([
        "ca",
        "init",
        "--cn",
        "Doctor Test CA",
        "--key",
        "ecdsa-p256",
    ]));
    run_ok(studio(&home).args(["cert", "issue", HOST, "--key", "ecdsa-p256"]));
    run_ok(studio(&home).args(["install", HOST, "--to"]).arg(&d));
    let state = tmp.path().join("sm");
    let s = Setup {
        cf: state.join("sendmail.cf"),
        mc: state.join("sendmail.mc"),
        home,
        d,
        state,
        _tmp: tmp,
    };
    let peer = s.start_peer();
    assert_eq!(
        peer.env.get("starttls").map(String::as_str),
        Some("yes"),
        "the peer offers STARTTLS with the installed files"
    );
    drop(peer);
    s
}

struct Doc {
    status: i32,
    json: Value,
}

impl Doc {
    fn findings(&self) -> &Vec<Value> {
        self.json["findings"].as_array().expect("findings array")
    }
    fn with(&self, id: &str) -> Vec<&Value> {
        self.findings().iter().filter(|f| f["id"] == id).collect()
    }
    fn problems(&self) -> Vec<String> {
        self.findings()
            .iter()
            .filter(|f| f["severity"] != "info")
            .map(|f| format!("{} {}: {}", f["severity"], f["id"], f["message"]))
            .collect()
    }
}

fn doctor(s: &Setup, extra: &[&str]) -> Doc {
    let out = run(studio(&s.home)
        .arg("doctor")
        .arg("--mc")
        .arg(&s.mc)
        .arg("--cf")
        .arg(&s.cf)
        .arg("--json")
        .args(extra));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Doc {
        status: out.status.code().unwrap_or(-1),
        json,
    }
}

/// Asserts one finding `id` with `severity`; returns it.
fn expect<'a>(d: &'a Doc, id: &str, severity: &str) -> &'a Value {
    let f = d.with(id);
    assert!(!f.is_empty(), "no {id} finding; got: {:#?}", d.problems());
    assert_eq!(f[0]["severity"], severity, "{id}: {:#}", f[0]);
    f[0]
}

fn clean(d: &Doc, what: &str) {
    assert!(
        d.problems().is_empty() && d.status == 0,
        "{what}: expected no errors or warnings, status 0; got {} {:#?}",
        d.status,
        d.problems()
    );
}

#[test]
fn clean_setups_have_no_problems() {
    // The peer's own setup (its CA, certificates and cf).
    let tmp = tempdir();
    let state = tmp.path().join("sm");
    drop(Peer::start(&state, &[]));
    let home = tmp.path().join("home");
    let out = run(studio(&home)
        .args(["doctor", "--json", "--mc"])
        .arg(state.join("sendmail.mc"))
        .arg("--cf")
        .arg(state.join("sendmail.cf")));
    let d = Doc {
        status: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).expect("JSON"),
    };
    clean(&d, "peer setup");
    let chain = expect(&d, "cert-chain", "info");
    assert!(
        chain["message"]
            .as_str()
            .unwrap()
            .contains("sendmail peer test CA"),
        "{chain:#}"
    );
    assert_eq!(
        d.json["settings"]["ca_path"],
        state.join("tls/certs").display().to_string()
    );

    // Ours.
    let s = setup();
    let d = doctor(&s, &[]);
    clean(&d, "install setup");
    expect(&d, "cert-chain", "info");
    expect(&d, "ca-file-announced", "info");
    // The text form: one line per finding, exit 0.
    let text = run_ok(studio(&s.home).arg("doctor").arg("--cf").arg(&s.cf));
    assert!(text.contains("INFO cert-chain: "), "{text}");
    assert!(text.contains("0 error(s), 0 warning(s)"), "{text}");
}

#[test]
fn group_readable_key_is_found_fixed_and_sendmail_agrees() {
    let s = setup();
    fs::set_permissions(s.key(), fs::Permissions::from_mode(0o640)).unwrap();
    let peer = s.start_peer();
    assert_eq!(
        peer.env.get("starttls").map(String::as_str),
        Some("no"),
        "sendmail offers no STARTTLS with a group-readable key"
    );
    drop(peer);
    let d = doctor(&s, &[]);
    assert_eq!(d.status, 1);
    let f = expect(&d, "key-readable-by-others", "error");
    assert!(
        f["explanation"]
            .as_str()
            .unwrap()
            .contains("unsafe: Group readable file"),
        "{f:#}"
    );
    assert_eq!(f["fix"]["action"]["kind"], "chmod");
    assert_eq!(f["fix"]["action"]["mode"], "0600");

    let fixed = doctor(&s, &["--fix"]);
    clean(&fixed, "after --fix");
    assert_eq!(
        fixed.json["fixed"][0]["ok"], true,
        "{:#}",
        fixed.json["fixed"]
    );
    assert_eq!(
        fs::metadata(s.key()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let peer = s.start_peer();
    assert_eq!(peer.env.get("starttls").map(String::as_str), Some("yes"));
}

#[test]
fn hash_links_missing_and_stale_are_rehashed_like_openssl() {
    // Missing: the CA's link removed.
    let s = setup();
    let certs = s.certs();
    for (name, _) in links(&certs) {
        fs::remove_file(certs.join(name)).unwrap();
    }
    let d = doctor(&s, &[]);
    assert_eq!(d.status, 1);
    let f = expect(&d, "hash-link-missing", "error");
    assert_eq!(f["fix"]["action"]["kind"], "rehash");
    clean(&doctor(&s, &["--fix"]), "missing link after --fix");
    assert_eq!(links(&certs), openssl_links(&certs));

    // Stale: a link to a removed file, a wrong link, and a second CA without its link.
    std::os::unix::fs::symlink("gone.pem", certs.join("0badc0de.0")).unwrap();
    let (name, _) = links(&certs).into_iter().next().unwrap();
    fs::remove_file(certs.join(&name)).unwrap();
    std::os::unix::fs::symlink("other.pem", certs.join(&name)).unwrap();
    let other = tempdir();
    run_ok(studio(other.path()).args(["ca", "init", "--cn", "Second CA", "--key", "ecdsa-p256"]));
    fs::copy(other.path().join("ca/ca.crt"), certs.join("other.pem")).unwrap();
    let d = doctor(&s, &[]);
    expect(&d, "hash-link-stale", "warning");
    expect(&d, "hash-link-missing", "error");
    clean(&doctor(&s, &["--fix"]), "stale links after --fix");
    assert_eq!(links(&certs), openssl_links(&certs));
    assert_eq!(links(&certs).len(), 2);
}

#[test]
fn expired_certificate_is_an_error_without_an_automatic_fix() {
    use starttls_studio::core::pki::KeyKind;
    use starttls_studio::store::home::Home;
    let s = setup();
    let ca = Home {
        root: s.home.clone(),
    }
    .load_ca()
    .expect("the test CA");
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(100);
    let old = ca
        .sign_host(&[HOST.to_string()], KeyKind::EcdsaP256, 30, past)
        .unwrap();
    fs::write(s.crt(), &old.cert_pem).unwrap();
    fs::write(s.key(), &old.key_pem).unwrap();
    let d = doctor(&s, &["--fix"]);
    assert_eq!(d.status, 1);
    let f = expect(&d, "cert-expired", "error");
    assert!(f["fix"]["action"].is_null(), "{f:#}");
    assert!(
        d.with("key-cert-mismatch").is_empty(),
        "{:#?}",
        d.problems()
    );
    assert_eq!(d.problems().len(), 1, "{:#?}", d.problems());

    // Expiring soon: a warning.
    let soon = ca
        .sign_host(
            &[HOST.to_string()],
            KeyKind::EcdsaP256,
            10,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    fs::write(s.crt(), &soon.cert_pem).unwrap();
    fs::write(s.key(), &soon.key_pem).unwrap();
    let d = doctor(&s, &[]);
    assert_eq!(d.status, 0);
    expect(&d, "cert-expiring", "warning");
}

#[test]
fn key_of_another_certificate_and_certificate_of_another_ca() {
    let s = setup();
    // Another host's key from the same home.
    run_ok(studio(&s.home).args(["cert", "issue", "other.peer.test", "--key", "ecdsa-p256"]));
    let other_key = s.home.join("hosts/other.peer.test.key");
    let original = fs::read(s.key()).unwrap();
    fs::write(s.key(), fs::read(&other_key).unwrap()).unwrap();
    let d = doctor(&s, &["--fix"]);
    assert_eq!(d.status, 1);
    let f = expect(&d, "key-cert-mismatch", "error");
    assert!(f["fix"]["action"].is_null());
    fs::write(s.key(), &original).unwrap();
    clean(&doctor(&s, &[]), "key restored");

    // A certificate and key from a CA this host does not trust.
    let foreign = tempdir();
    run_ok(studio(foreign.path()).args([
        "ca",
        "init",
        "--cn",
        "Foreign CA",
        "--key",
        "ecdsa-p256",
    ]));
    run_ok(studio(foreign.path()).args(["cert", "issue", HOST, "--key", "ecdsa-p256"]));
    fs::copy(foreign.path().join(format!("hosts/{HOST}.crt")), s.crt()).unwrap();
    fs::copy(foreign.path().join(format!("hosts/{HOST}.key")), s.key()).unwrap();
    let d = doctor(&s, &[]);
    let f = expect(&d, "cert-untrusted", "warning");
    assert!(
        f["message"].as_str().unwrap().contains("/CN=Foreign CA"),
        "{f:#}"
    );
    assert!(d.with("key-cert-mismatch").is_empty());
}

#[test]
fn writable_directory_and_certificate_are_fixed() {
    let s = setup();
    fs::set_permissions(&s.d, fs::Permissions::from_mode(0o775)).unwrap();
    fs::set_permissions(s.crt(), fs::Permissions::from_mode(0o664)).unwrap();
    let d = doctor(&s, &[]);
    assert_eq!(d.status, 1);
    let f = expect(&d, "dir-writable-by-others", "error");
    assert_eq!(f["path"], s.d.display().to_string());
    expect(&d, "file-writable-by-others", "error");
    clean(&doctor(&s, &["--fix"]), "after --fix");
    assert_eq!(
        fs::metadata(&s.d).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        fs::metadata(s.crt()).unwrap().permissions().mode() & 0o7777,
        0o644
    );

    // The key not owned by root: an error the doctor does not fix itself.
    std::os::unix::fs::chown(s.key(), Some(65534), None).unwrap();
    let d = doctor(&s, &["--fix"]);
    assert_eq!(d.status, 1);
    let f = expect(&d, "key-owner", "error");
    assert!(f["fix"]["action"].is_null());
    assert!(f["fix"]["description"]
        .as_str()
        .unwrap()
        .contains("chown root"));
}

#[test]
fn access_map_syntax_and_stale_database() {
    let s = setup();
    let access = s.access();
    let db = s.state.join("access.db");
    // A line makemap refuses: an error, and makemap is not run for it.
    fs::write(&access, "Connect:192.0.2.1\tOK\nConnect:broken\n").unwrap();
    let d = doctor(&s, &["--fix"]);
    assert_eq!(d.status, 1);
    let f = expect(&d, "access-syntax", "error");
    assert!(f["message"].as_str().unwrap().contains(":2:"), "{f:#}");
    let stale = expect(&d, "access-db-stale", "warning");
    assert!(
        stale["fix"]["action"].is_null(),
        "no makemap while it would fail: {stale:#}"
    );

    // A valid change newer than the database: makemap is the fix.
    fs::write(
        &access,
        "Connect:192.0.2.1\tOK\nCERTISSUER:/CN=Doctor+20Test+20CA\tRELAY\n",
    )
    .unwrap();
    let old = filetime(&db) - 60;
    set_mtime(&db, old);
    let d = doctor(&s, &[]);
    assert_eq!(d.status, 0);
    let f = expect(&d, "access-db-stale", "warning");
    assert_eq!(f["fix"]["action"]["kind"], "makemap");
    clean(&doctor(&s, &["--fix"]), "after makemap");
    let dump = run_ok(
        Command::new(crate::support::require("makemap"))
            .args(["-u", "hash"])
            .arg(&access),
    );
    assert!(dump.contains("certissuer:/cn=doctor+20test+20ca"), "{dump}");

    // The database missing.
    fs::remove_file(&db).unwrap();
    let d = doctor(&s, &[]);
    expect(&d, "access-db-missing", "error");
    clean(&doctor(&s, &["--fix"]), "after makemap");
}

fn filetime(p: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).unwrap().mtime()
}

fn set_mtime(p: &Path, t: i64) {
    run_ok(Command::new("touch").arg("-d").arg(format!("@{t}")).arg(p));
}

#[test]
fn settings_missing_and_typed_paths() {
    let s = setup();
    // A cf without CACertPath: sendmail offers no STARTTLS.
    let cf = fs::read_to_string(&s.cf).unwrap();
    let cut: String = cf
        .lines()
        .filter(|l| !l.starts_with("O CACertPath="))
        .map(|l| format!("{l}\n"))
        .collect();
    let cf2 = s.state.join("cut.cf");
    fs::write(&cf2, cut).unwrap();
    let out = run(studio(&s.home).args(["doctor", "--json", "--cf"]).arg(&cf2));
    let d = Doc {
        status: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).unwrap(),
    };
    assert_eq!(d.status, 1);
    let f = expect(&d, "setting-missing", "error");
    assert!(
        f["message"].as_str().unwrap().contains("confCACERT_PATH"),
        "{f:#}"
    );
    // ... and the mc still says it: the two differ.
    let out = run(studio(&s.home)
        .args(["doctor", "--json", "--mc"])
        .arg(&s.mc)
        .arg("--cf")
        .arg(&cf2));
    let d = Doc {
        status: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).unwrap(),
    };
    expect(&d, "mc-cf-differ", "warning");

    // Typed paths only, no configuration file (an empty cf: the machine's
    // /etc/mail/sendmail.cf, read by default, must not count).
    let out = run(studio(&s.home)
        .args(["doctor", "--json", "--cf", "/dev/null", "--ca-file"])
        .arg(s.d.join("CAcert.pem"))
        .arg("--ca-path")
        .arg(s.certs())
        .arg("--cert")
        .arg(s.crt())
        .arg("--key")
        .arg(s.key()));
    let d = Doc {
        status: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).unwrap(),
    };
    // /tmp is world-writable with the sticky bit; without the peer's
    // DontBlameSendmail=TrustStickyBit sendmail refuses it, and says so.
    let sticky = d
        .with("dir-writable-by-others")
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().contains("sticky"));
    assert!(sticky.is_some(), "{:#?}", d.problems());
    expect(&d, "cert-chain", "info");
}

/// Doctor learns trust: relaying for every certificate of a public CA (the
/// system's store as confCACERT_PATH) is an error; with one subject only it
/// is not; a partner CA no entry names is a note.
#[test]
fn relaying_for_a_public_ca_is_an_error() {
    let t = tempdir();
    let home = t.path().join("home");
    // A public CA from the system store (read only).
    let public = fs::read_dir("/etc/ssl/certs")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .find(|p| {
            fs::canonicalize(p)
                .map(|r| r.starts_with("/usr/share/ca-certificates"))
                .unwrap_or(false)
        })
        .expect("a CA of the ca-certificates package");
    let shown: Value =
        serde_json::from_str(&run_ok(studio(&home).args(["show", "--json"]).arg(&public))).unwrap();
    let dn = shown[0]["subject_sendmail"].as_str().unwrap().to_string();
    let access = t.path().join("access");
    let doctor_on = |access_text: &str| -> Value {
        fs::write(&access, access_text).unwrap();
        let o = run(studio(&home)
            .args([
                "doctor",
                "--json",
                "--cf",
                "/dev/null",
                "--ca-path",
                "/etc/ssl/certs",
                "--access",
            ])
            .arg(&access));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let has = |v: &Value, id: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
    };
    let v = doctor_on(&format!("CERTISSUER:{dn}\tRELAY\n"));
    let f = has(&v, "relay-public-ca").unwrap_or_else(|| panic!("{v}"));
    assert_eq!(f["severity"], "error");
    let v = doctor_on(&format!(
        "CERTISSUER:{dn}\tSUBJECT\nCERTSUBJECT:/CN=mx.partner.example\tRELAY\n"
    ));
    assert!(has(&v, "relay-public-ca").is_none(), "{v}");

    // A partner CA trusted in a directory of our own, named by no entry.
    let s = setup();
    let partner = t.path().join("partner.pem");
    let ca = starttls_studio::core::pki::create_ca(
        "Partner Root CA",
        starttls_studio::core::pki::KeyKind::EcdsaP256,
        30,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    fs::write(&partner, &ca.cert_pem).unwrap();
    run_ok(
        studio(&s.home)
            .args(["trust", "add"])
            .arg(&partner)
            .arg("--to")
            .arg(&s.d),
    );
    fs::write(&access, "").unwrap();
    let o = run(studio(&s.home)
        .args(["doctor", "--json", "--cf", "/dev/null", "--ca-path"])
        .arg(s.certs())
        .arg("--access")
        .arg(&access));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = has(&v, "trusted-unused").unwrap_or_else(|| panic!("{v}"));
    assert!(
        f["message"].as_str().unwrap().contains("Partner Root CA"),
        "{f}"
    );
}

/// A CRL past its nextUpdate: the real sendmail fails every client
/// certificate (`reason=CRL has expired`, verify=FAIL), and the doctor
/// says so as an error.
#[test]
fn an_expired_crl_is_an_error_as_sendmail_fails_every_client() {
    let s = setup();
    let db = s.state.join("ca-db");
    fs::create_dir_all(&db).unwrap();
    fs::write(db.join("index.txt"), "").unwrap();
    fs::write(db.join("crlnum"), "01\n").unwrap();
    let cnf = db.join("ca.cnf");
    fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca=x\n[x]\ndatabase={0}/index.txt\ndefault_md=sha256\ncrlnumber={0}/crlnum\n",
            db.display()
        ),
    )
    .unwrap();
    let crl = s.d.join("old.crl");
    run_ok(
        Command::new("openssl")
            .args(["ca", "-config"])
            .arg(&cnf)
            .args(["-gencrl", "-keyfile"])
            .arg(s.home.join("ca").join("ca.key"))
            .arg("-cert")
            .arg(s.home.join("ca").join("ca.crt"))
            .args([
                "-crl_lastupdate",
                "20250101000000Z",
                "-crl_nextupdate",
                "20250102000000Z",
                "-out",
            ])
            .arg(&crl),
    );
    let d = doctor(&s, &["--crl", crl.to_str().unwrap()]);
    let f = expect(&d, "crl-expired", "error");
    assert!(f["message"].as_str().unwrap().contains("2025-01-02"), "{f}");
    assert_eq!(d.status, 1);

    // The judge: sendmail with this CRL.
    run_ok(studio(&s.home).args(["cert", "issue", "client.example.net", "--key", "ecdsa-p256"]));
    let mc = s.state.join("crl.mc");
    fs::write(&mc, format!("define(`confCRL', `{}')dnl\n", crl.display())).unwrap();
    let mut args = s.peer_args();
    args.push("--mc".into());
    args.push(mc.into_os_string());
    let peer = Peer::start(&s.state.join("crl-peer"), &args);
    let from = peer.log_len();
    let hosts = s.home.join("hosts");
    run(Command::new(crate::support::require("swaks"))
        .arg("--server")
        .arg(format!("127.0.0.1:{}", peer.port()))
        .args([
            "--local-interface",
            "127.0.0.2",
            "--tls",
            "--quit-after",
            "RCPT",
            "--to",
            "someone@mx.peer.test",
            "--tls-cert",
        ])
        .arg(hosts.join("client.example.net.crt"))
        .arg("--tls-key")
        .arg(hosts.join("client.example.net.key")));
    let line = peer
        .wait_log_line(from, "verifymsg=")
        .unwrap_or_else(|| panic!("no verifymsg line:\n{}", peer.log_since(from)));
    assert!(line.contains("verifymsg=CRL has expired"), "{line}");
}
