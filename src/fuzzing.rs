//! The bodies of the fuzz targets (`fuzz/fuzz_targets/`), as plain
//! functions so the integration tests replay the committed corpora
//! (`fuzz/corpus/TARGET/`) without libFuzzer. Each takes any bytes and
//! panics only on a bug: a panic, or a broken invariant asserted here.
//! Not an API.

use crate::core::access::AccessMap;
use crate::core::access_check::{self, CheckContext};
use crate::core::cert::{self, CertInfo};
use crate::core::dn::{self, Name};
use crate::core::policy::{self, Macros, Options, Ruleset};

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// The targets by name, for the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("cert_input", cert_input),
    ("dn", dn_forms),
    ("access_roundtrip", access_roundtrip),
    ("policy", policy_eval),
    ("smtp_command", smtp_command),
    ("smtp_session", smtp_session),
];

/// What `show` does with a file's bytes: find the certificates (PEM or
/// DER) and describe each one, JSON included.
pub fn cert_input(data: &[u8]) {
    if let Ok(ders) = cert::certificates_in(data) {
        for d in ders {
            if let Ok(info) = CertInfo::from_der(&d) {
                let _ = serde_json::to_string(&info);
            }
        }
    }
}

/// A DER Name: the OpenSSL one-line form, sendmail's forms, both hashes.
/// Any UTF-8: sendmail's xtext encoding decodes back to the same bytes.
pub fn dn_forms(data: &[u8]) {
    if let Ok(name) = Name::parse(data) {
        let _ = name.oneline();
        let _ = name.oneline_sendmail_buffer();
        let s = name.sendmail();
        assert!(
            dn::xtext_decode(&s).is_some(),
            "sendmail form {s:?} is not valid xtext"
        );
        let _ = name.first_cn();
        let _ = name.hash();
        let _ = name.hash_old();
        let _ = name.check_openssl_loadable();
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let x = dn::xtext(s);
        assert_eq!(dn::xtext_decode(&x).as_deref(), Some(s.as_bytes()));
    }
}

/// Parse → write is byte-identical; the checker and the database build
/// take any file.
pub fn access_roundtrip(data: &[u8]) {
    let map = AccessMap::parse(data);
    assert_eq!(map.to_bytes(), data, "parse → write changed the file");
    let _ = access_check::check(&map, &CheckContext::default());
    let _ = map.database();
}

/// `ACCESS-FILE \0 MACROS`: macros one `name=value` a line (`rcpt=` is
/// the recipient); the first byte of the macros picks the ruleset and
/// TLS_PERM_ERR. Every ruleset answers with an SMTP reply or none.
pub fn policy_eval(data: &[u8]) {
    let (file, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let db = AccessMap::parse(file).database();
    let sel = rest.first().copied().unwrap_or(0);
    let rulesets = [
        Ruleset::TlsClient,
        Ruleset::TlsServer,
        Ruleset::TlsRcpt,
        Ruleset::Relay,
    ];
    let ruleset = rulesets[usize::from(sel) % rulesets.len()];
    let mut macros = Macros::default();
    let mut rcpt = None;
    for line in String::from_utf8_lossy(rest.get(1..).unwrap_or_default()).lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k == "rcpt" {
                rcpt = Some(v.to_string());
            } else {
                macros.set(k, v);
            }
        }
    }
    let d = policy::evaluate(
        &db,
        ruleset,
        &macros,
        rcpt.as_deref(),
        Options {
            tls_perm_err: sel & 0x80 != 0,
        },
    );
    if let Some(r) = &d.reply {
        assert!(
            r.len() >= 3 && r.as_bytes()[..3].iter().all(u8::is_ascii_digit),
            "reply without a code: {r:?}"
        );
        assert!(!r.contains(['\r', '\n']), "reply spans lines: {r:?}");
    }
}

/// The SMTP command parser and the path splitter.
pub fn smtp_command(data: &[u8]) {
    let (verb, arg) = crate::net::server::parse_command(data);
    assert!(!verb.chars().any(|c| c.is_ascii_lowercase()));
    assert_eq!(arg, arg.trim());
    let (addr, params) = crate::net::server::split_path(&arg);
    assert!(addr.len() + params.len() <= arg.len());
}

/// The server's session state machine, whole: the bytes are sent to a
/// real embedded server on loopback (started once per process, with a
/// generated CA and host certificate, and an access map that refuses
/// relaying) as one client's half of a session, then the connection is
/// closed and the reply read to the end. A byte `0xFF` alone on a line
/// switches the client to TLS after STARTTLS is answered, so the TLS part
/// is reached too.
pub fn smtp_session(data: &[u8]) {
    session_fuzz::run(data)
}

mod session_fuzz {
    use crate::core::pem;
    use crate::core::pki::{self, KeyKind, SigningCa};
    use crate::net::server::{self, ServerConfig};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    struct Fixture {
        addr: SocketAddr,
        client: Arc<rustls::ClientConfig>,
        maildir: std::path::PathBuf,
    }

    fn key_der(pem_text: &str) -> PrivateKeyDer<'static> {
        let b = pem::parse(pem_text.as_bytes()).expect("generated key is PEM");
        PrivateKeyDer::Pkcs8(b[0].der.clone().into())
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let now = time::OffsetDateTime::now_utc();
            let ca = pki::create_ca("Fuzz CA", KeyKind::EcdsaP256, 30, now).expect("CA");
            let signer = SigningCa::new(&ca.cert_der, &ca.key_pem).expect("signer");
            let host = signer
                .sign_host(&["mx.fuzz.example".into()], KeyKind::EcdsaP256, 30, now)
                .expect("host");
            let client = signer
                .sign_host(&["client.fuzz.example".into()], KeyKind::EcdsaP256, 30, now)
                .expect("client");
            let maildir = std::env::temp_dir().join(format!("sts-fuzz-maildir-{}", std::process::id()));
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            drop(listener);
            let access = crate::core::access::AccessMap::parse(
                b"TLS_Clt:[127.0.0.1]\tENCR:128\nCERTISSUER:/CN=Fuzz+20CA\tRELAY\nTo:relay.example\tRELAY\n",
            )
            .database();
            let config = ServerConfig {
                listen: addr,
                hostname: "mx.fuzz.example".into(),
                cert_chain: vec![CertificateDer::from(host.cert_der.clone())],
                key: key_der(&host.key_pem),
                ca_roots: vec![CertificateDer::from(ca.cert_der.clone())],
                access,
                maildir: maildir.clone(),
                max_sessions: 64,
                max_message_size: 4096,
                timeout: Duration::from_secs(2),
                tls_perm_err: false,
            };
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = server::serve(config, Arc::new(AtomicBool::new(false)), Some(tx));
            });
            std::thread::spawn(move || for _ in rx {});
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from(ca.cert_der)).expect("root");
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let client = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_client_auth_cert(
                    vec![CertificateDer::from(client.cert_der)],
                    key_der(&client.key_pem),
                )
                .expect("client auth");
            for _ in 0..200 {
                if TcpStream::connect(addr).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Fixture {
                addr,
                client: Arc::new(client),
                maildir,
            }
        })
    }

    /// Reads until the server closes (or the timeout).
    fn drain(s: &mut impl Read) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    pub fn run(data: &[u8]) {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let f = fixture();
        if RUNS.fetch_add(1, Ordering::Relaxed) % 500 == 499 {
            if let Ok(rd) = std::fs::read_dir(&f.maildir) {
                for e in rd.flatten() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let Ok(mut sock) = TcpStream::connect(f.addr) else {
            return;
        };
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
        let (plain, tls_part) = match data.windows(2).position(|w| w == b"\xff\n") {
            Some(i) => (&data[..i], Some(&data[i + 2..])),
            None => (data, None),
        };
        let _ = sock.write_all(plain);
        let Some(tls_part) = tls_part else {
            let _ = sock.shutdown(Shutdown::Write);
            drain(&mut sock);
            return;
        };
        // Wait for `220 Ready to start TLS`, then handshake. A session
        // that never gets there is left at the first pause in the replies
        // (not at the server's timeout), to keep the target fast.
        let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
        let mut seen = Vec::new();
        let mut b = [0u8; 1];
        while !seen.ends_with(b"Ready to start TLS\r\n") && seen.len() < 65536 {
            match sock.read(&mut b) {
                Ok(1) => seen.push(b[0]),
                _ => return,
            }
        }
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let name = ServerName::try_from("mx.fuzz.example").expect("name");
        let Ok(conn) = rustls::ClientConnection::new(f.client.clone(), name) else {
            return;
        };
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let _ = tls.write_all(tls_part);
        let _ = tls.flush();
        tls.conn.send_close_notify();
        let _ = tls.conn.complete_io(&mut tls.sock);
        let _ = tls.sock.shutdown(Shutdown::Write);
        drain(&mut tls);
    }
}
