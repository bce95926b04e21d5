//! The embedded STARTTLS SMTP server: the admin's certificates and access
//! map, applied the way sendmail applies them, with the values sendmail
//! would put in its macros reported per session.
//!
//! Threads and blocking sockets (one thread per session, capped), like the
//! probe: a test server for a handful of sessions does not need an async
//! runtime, and a blocking session reads top to bottom like the SMTP
//! dialogue it implements.

mod session;

pub use session::{parse_command, split_path};

use super::Error;
use crate::core::access::Database;
use crate::core::cert::CertInfo;
use crate::core::policy::{self, Decision, Macros, Options, Outcome, Ruleset};
use crate::core::verify::Verify;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use serde::Serialize;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// SMTP command lines longer than this are refused (RFC 5321: 512 octets;
/// sendmail allows more, so do we).
pub const MAX_LINE: usize = 4096;

/// `serve`'s defaults (its `--help` shows them): sessions at once, the
/// largest message, and how long a client may stay silent. Sessions are
/// threads that mostly wait: 2,000 of them are cheap (the open-file limit
/// is raised to match, see [`bind`]), and [`STRESS_TIMEOUT`] keeps an idle
/// flood from holding them.
pub const DEFAULT_MAX_SESSIONS: usize = 2000;
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Under stress — three quarters of the session slots in use — a client
/// may stay silent this long at most (Postfix's stress mode does the same:
/// `smtpd_timeout = ${stress?{10}:{300}}s`). Idle connections then free
/// their slots within seconds while working clients, which answer within
/// milliseconds, are not affected.
pub const STRESS_TIMEOUT: Duration = Duration::from_secs(10);

/// The listen backlog: connections the kernel holds until accepted (a
/// thousand clients connecting at once are queued, not refused).
const BACKLOG: i32 = 1024;

/// How long a stopping server waits for running sessions to end; the ones
/// still running then are cut off when the process (or the GUI's job) ends.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Everything the server needs.
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Our name in the greeting and `Received:` (`$j`).
    pub hostname: String,
    pub cert_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// CAs for client certificates (like `confCACERT_PATH`), also announced.
    pub ca_roots: Vec<CertificateDer<'static>>,
    pub access: Database,
    pub maildir: PathBuf,
    pub max_sessions: usize,
    pub max_message_size: usize,
    pub timeout: Duration,
    pub tls_perm_err: bool,
}

/// One finished session, as logged (one JSON line) and sent to the GUI.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionLog {
    pub peer: String,
    /// `${client_name}` as the rulesets saw it (`[addr]`: the embedded
    /// server does no DNS, as a sendmail without reverse DNS for the peer).
    pub client_name: String,
    pub helo: Option<String>,
    pub starttls: bool,
    pub tls_version: Option<String>,
    pub cipher: Option<String>,
    pub cipher_bits: Option<u32>,
    /// `${verify}`: OK, FAIL, NO, SOFTWARE, or empty without STARTTLS.
    pub verify: Verify,
    pub verify_error: Option<String>,
    pub cert_subject: Option<String>,
    pub cert_issuer: Option<String>,
    /// Every policy decision made, in order, with its SMTP reply.
    pub decisions: Vec<LoggedDecision>,
    /// Files written to the maildir.
    pub messages: Vec<String>,
    /// Why the session ended, when not by QUIT.
    pub ended: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggedDecision {
    pub at: String,
    pub ruleset: &'static str,
    pub outcome: Outcome,
    pub reply: Option<String>,
    pub explanation: String,
    /// The access keys looked up, in order, each with what was found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<String>,
}

/// Requests a client certificate, never insists, and never aborts the
/// handshake for a bad one (sendmail computes `${verify}` instead). The
/// handshake signatures are still checked.
#[derive(Debug)]
struct AskingVerifier {
    hints: Vec<DistinguishedName>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AskingVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What the sessions share.
struct Shared {
    /// `max_sessions` here is what the open-file limit allows.
    config: ServerConfig,
    tls: Arc<rustls::ServerConfig>,
    /// Verifies client chains after the handshake; None without CAs.
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    active: AtomicUsize,
    events: Option<Sender<SessionLog>>,
    counter: AtomicUsize,
}

impl Shared {
    /// How long a client may stay silent now: the configured timeout, or
    /// [`STRESS_TIMEOUT`] while three quarters of the slots are in use.
    fn idle_timeout(&self) -> Duration {
        let busy = self.active.load(Ordering::Relaxed);
        if busy * 4 >= self.config.max_sessions * 3 {
            self.config.timeout.min(STRESS_TIMEOUT)
        } else {
            self.config.timeout
        }
    }
}

/// The TLS configuration, and the verifier that computes `${verify}`
/// after the handshake (none without CAs).
type TlsSide = (
    Arc<rustls::ServerConfig>,
    Option<Arc<dyn ClientCertVerifier>>,
);

/// Builds the TLS side; an error names what is wrong with cert or key.
fn tls_config(config: &ServerConfig) -> Result<TlsSide, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for r in &config.ca_roots {
        let _ = roots.add(r.clone());
    }
    let roots = Arc::new(roots);
    // The Name of each CA, as a DER SEQUENCE (the trust anchor keeps only its content).
    let hints: Vec<DistinguishedName> = roots
        .roots
        .iter()
        .map(|ta| DistinguishedName::in_sequence(&ta.subject))
        .collect();
    let verifier: Option<Arc<dyn ClientCertVerifier>> = if roots.is_empty() {
        None
    } else {
        let v = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(Error::ClientCas)?;
        Some(v)
    };
    let asking = Arc::new(AskingVerifier {
        hints,
        provider: provider.clone(),
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::Tls {
            what: "no TLS protocol version available",
            source,
        })?
        .with_client_cert_verifier(asking)
        .with_single_cert(config.cert_chain.clone(), config.key.clone_key())
        .map_err(|source| Error::Tls {
            what: "the certificate and key cannot be used together",
            source,
        })?;
    // Our cipher order, not the client's (TLS 1.2: auditors such as
    // testssl.sh flag "no server cipher order"; rustls' order puts AEAD
    // suites with forward secrecy first).
    tls.ignore_client_order = true;
    Ok((Arc::new(tls), verifier))
}

/// A server whose socket is bound and whose TLS side is built: the
/// address is known (port 0 picks a free one) before any session runs.
pub struct BoundServer {
    config: ServerConfig,
    tls: Arc<rustls::ServerConfig>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    listener: TcpListener,
}

impl BoundServer {
    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }
}

/// Checks certificate and key, creates the maildir and binds the socket.
/// Raises the process's open-file limit to its hard limit (each session
/// holds a socket) and, if that is still too low for `max_sessions`,
/// lowers `max_sessions` to what fits.
pub fn bind(mut config: ServerConfig) -> Result<BoundServer, Error> {
    let (tls, verifier) = tls_config(&config)?;
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    // Descriptors besides the sessions': stdio, the listener, the maildir
    // file being written, the runtime's own.
    let fit = usize::try_from(files.saturating_sub(64)).unwrap_or(usize::MAX);
    config.max_sessions = config.max_sessions.min(fit.max(1));
    std::fs::create_dir_all(&config.maildir).map_err(|source| Error::Io {
        action: format!("create {}", config.maildir.display()),
        source,
    })?;
    crate::store::fsutil::remove_stale_temps(&config.maildir);
    let listener = listen(config.listen).map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    Ok(BoundServer {
        config,
        tls,
        verifier,
        listener,
    })
}

/// A listening socket with [`BACKLOG`] (std's is 128) and `SO_REUSEADDR`,
/// as servers set it.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s.into())
}

/// Binds and runs until `stop` is set (see [`run`]).
pub fn serve(
    config: ServerConfig,
    stop: Arc<AtomicBool>,
    events: Option<Sender<SessionLog>>,
) -> Result<(), Error> {
    run(bind(config)?, stop, events)
}

/// Runs until `stop` is set. Each finished session is sent to `events`,
/// or printed as one JSON line when there is no channel.
pub fn run(
    bound: BoundServer,
    stop: Arc<AtomicBool>,
    events: Option<Sender<SessionLog>>,
) -> Result<(), Error> {
    let BoundServer {
        config,
        tls,
        verifier,
        listener,
    } = bound;
    // Accept blocks (a sleeping poll loop delays every new session); a
    // watcher wakes it with a connection of its own once `stop` is set.
    let mut wake = listener.local_addr().map_err(|source| Error::Io {
        action: "read the listening address".into(),
        source,
    })?;
    if wake.ip().is_unspecified() {
        wake.set_ip(if wake.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    {
        let stop = stop.clone();
        let _ = std::thread::Builder::new()
            .name("stop-watcher".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
            });
    }
    let shared = Arc::new(Shared {
        config,
        tls,
        verifier,
        active: AtomicUsize::new(0),
        events,
        counter: AtomicUsize::new(0),
    });
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok(_) if stop.load(Ordering::Relaxed) => break,
            Ok((stream, peer)) => {
                let shared = shared.clone();
                if shared.active.fetch_add(1, Ordering::SeqCst) >= shared.config.max_sessions {
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                    let mut s = stream;
                    let _ = s.write_all(b"421 4.3.2 Too many sessions, try again later\r\n");
                    continue;
                }
                let counted = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("smtp-{peer}"))
                    .spawn(move || {
                        let log = session::session(&shared, stream, peer);
                        shared.active.fetch_sub(1, Ordering::SeqCst);
                        match &shared.events {
                            Some(tx) => {
                                let _ = tx.send(log);
                            }
                            None => {
                                // A closed stdout ends the log, not the server.
                                if let Ok(line) = serde_json::to_string(&log) {
                                    let _ = writeln!(io::stdout().lock(), "{line}");
                                }
                            }
                        }
                    });
                if spawned.is_err() {
                    // No thread: the closure (and the stream in it) was
                    // dropped without running; the session never counted.
                    counted.active.fetch_sub(1, Ordering::SeqCst);
                }
            }
            // Out of descriptors and the like: back off briefly.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    // Let running sessions finish, for at most DRAIN.
    let drain_until = Instant::now() + DRAIN;
    while shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < drain_until {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
