//! `probe HOST:PORT`: connect, EHLO, STARTTLS, TLS handshake (optionally
//! with a client certificate), EHLO again, QUIT — and report what a sendmail
//! client would see: `${verify}` for the server's certificate (checked
//! against a CA path like sendmail's, never aborting the handshake for it),
//! `${tls_version}`, `${cipher}`, `${cipher_bits}`, the certificate, and
//! how long each step took.

use super::{names, Identity};
use crate::core::cert::CertInfo;
use crate::core::verify::Verify;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The handshake signature of a server whose certificate is X.509 v1
/// (Debian's own sendmail certificates are): webpki refuses to parse v1,
/// so the signature is checked here with the key from the certificate's
/// SubjectPublicKeyInfo, by the same algorithms. Any other error stands.
fn v1_signature(
    err: rustls::Error,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    provider: &CryptoProvider,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let is_v1 = matches!(
        &err,
        rustls::Error::InvalidCertificate(CertificateError::Other(o))
            if format!("{o:?}").contains("UnsupportedCertVersion")
    );
    if !is_v1 {
        return Err(err);
    }
    let Some((alg_id, key)) = crate::core::cert::spki_parts(cert.as_ref()) else {
        return Err(err);
    };
    let algs = provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, a)| *a)
        .unwrap_or(&[]);
    for a in algs {
        if a.public_key_alg_id().as_ref() == alg_id
            && a.verify_signature(&key, message, dss.signature()).is_ok()
        {
            return Ok(HandshakeSignatureValid::assertion());
        }
    }
    Err(rustls::Error::InvalidCertificate(
        CertificateError::BadSignature,
    ))
}

/// `probe`'s defaults (its `--help` shows them): the EHLO name (`.invalid`:
/// it names no real host) and how long each step may take.
pub const DEFAULT_EHLO_NAME: &str = "probe.starttls-studio.invalid";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to probe and how.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// `HOST:PORT`
    pub target: String,
    /// Trust anchors for `${verify}`.
    pub roots: Vec<CertificateDer<'static>>,
    /// Client certificate chain and key, if one is to be presented.
    pub client_auth: Option<Identity>,
    /// Name for EHLO.
    pub ehlo_name: String,
    pub timeout: Duration,
}

/// Milliseconds per step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub connect: f64,
    pub banner: f64,
    pub ehlo: f64,
    pub starttls: f64,
    pub handshake: f64,
    pub ehlo_after: f64,
    pub total: f64,
}

/// The result, as `probe --json` prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeReport {
    pub target: String,
    pub banner: Option<String>,
    /// STARTTLS was offered, accepted, and the handshake completed.
    pub starttls: bool,
    pub tls_version: Option<String>,
    pub cipher: Option<String>,
    pub cipher_bits: Option<u32>,
    /// sendmail's `${verify}` for the server certificate: OK, FAIL, NONE
    /// (no STARTTLS offered or 5xx to it), TEMP (4xx), PROTOCOL (another
    /// reply), SOFTWARE (handshake failed).
    pub verify: Verify,
    /// Why verification failed, in OpenSSL's words where there are some.
    pub verify_error: Option<String>,
    /// Whether the certificate names the host probed (sendmail does not
    /// check this; reported for information).
    pub name_matches: Option<bool>,
    pub server_cert: Option<CertInfo>,
    pub server_chain_length: usize,
    pub client_cert_sent: bool,
    pub ehlo_before: Vec<String>,
    pub ehlo_after: Vec<String>,
    pub timings_ms: Timings,
    /// What went wrong, when something did.
    pub error: Option<String>,
}

/// Accepts any server certificate for the handshake (as sendmail does, to
/// learn `${verify}` instead of aborting) but still checks the handshake
/// signatures; the chain is checked afterwards against the roots.
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
        .or_else(|e| v1_signature(e, message, cert, dss, &self.provider))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
        .or_else(|e| v1_signature(e, message, cert, dss, &self.provider))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One SMTP reply: code and the text of each line.
#[derive(Debug, Clone)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = r.take(4096).read_line(&mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an SMTP reply: {line:?}"),
                )
            })?;
        let more = line.as_bytes().get(3) == Some(&b'-');
        lines.push(line.get(4..).unwrap_or("").to_string());
        if !more {
            return Ok(Reply { code, lines });
        }
        if lines.len() > 1000 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply of more than 1000 lines",
            ));
        }
    }
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// OpenSSL's wording for the common verification failures.
fn verify_message(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "unable to get local issuer certificate".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate is not yet valid".into()
            }
            CertificateError::BadSignature => "certificate signature failure".into(),
            CertificateError::Revoked => "certificate revoked".into(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

/// Runs the probe. Never fails: every problem is in the report.
pub fn probe(opts: &ProbeOptions) -> ProbeReport {
    let mut report = ProbeReport {
        target: opts.target.clone(),
        verify: Verify::None,
        ..Default::default()
    };
    let start = Instant::now();
    if let Err(e) = run(opts, &mut report, start) {
        report.error = Some(e);
    }
    report.timings_ms.total = ms(start);
    report
}

fn host_of(target: &str) -> &str {
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn run(opts: &ProbeOptions, report: &mut ProbeReport, start: Instant) -> Result<(), String> {
    let addrs: Vec<_> = opts
        .target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", opts.target))?
        .collect();
    let mut last_err = None;
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, opts.timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => {
                let why = match e.kind() {
                    io::ErrorKind::ConnectionRefused => "nothing listens on that port",
                    io::ErrorKind::TimedOut => "no answer (a firewall dropping the packets?)",
                    _ => "the network refused",
                };
                last_err = Some(format!("cannot connect to {a}: {why} ({e})"));
            }
        }
    }
    let stream = stream
        .ok_or_else(|| last_err.unwrap_or_else(|| format!("{} has no address", opts.target)))?;
    report.timings_ms.connect = ms(start);
    let io = |e: io::Error| format!("connection failed: {e}");
    stream.set_nodelay(true).map_err(io)?;
    stream.set_read_timeout(Some(opts.timeout)).map_err(io)?;
    stream.set_write_timeout(Some(opts.timeout)).map_err(io)?;

    let mut reader = BufReader::new(stream.try_clone().map_err(io)?);
    let mut writer = stream;
    let t = Instant::now();
    let banner = read_reply(&mut reader).map_err(|e| {
        let e = e.to_string();
        match e.strip_prefix("not an SMTP reply: ") {
            Some(line) => format!("not an SMTP server: its first line is {line}"),
            None => format!("no SMTP greeting: {e}"),
        }
    })?;
    report.timings_ms.banner = ms(t);
    report.banner = Some(banner.lines.join(" "));
    if banner.code != 220 {
        return Err(format!(
            "the server refused the session: {} {}",
            banner.code,
            banner.lines.join(" ")
        ));
    }
    let t = Instant::now();
    writer
        .write_all(format!("EHLO {}\r\n", opts.ehlo_name).as_bytes())
        .map_err(io)?;
    let ehlo = read_reply(&mut reader).map_err(io)?;
    report.timings_ms.ehlo = ms(t);
    if ehlo.code != 250 {
        return Err(format!(
            "EHLO refused: {} {}",
            ehlo.code,
            ehlo.lines.join(" ")
        ));
    }
    report.ehlo_before = ehlo.lines.iter().skip(1).cloned().collect();
    let offered = report
        .ehlo_before
        .iter()
        .any(|l| l.eq_ignore_ascii_case("STARTTLS"));
    if !offered {
        let _ = writer.write_all(b"QUIT\r\n");
        return Err("the server does not offer STARTTLS (not in its EHLO reply)".into());
    }
    let t = Instant::now();
    writer.write_all(b"STARTTLS\r\n").map_err(io)?;
    let reply = read_reply(&mut reader).map_err(io)?;
    report.timings_ms.starttls = ms(t);
    match reply.code {
        220 => {}
        400..=499 => {
            report.verify = Verify::Temp;
            return Err(format!(
                "STARTTLS refused for now: {} {}",
                reply.code,
                reply.lines.join(" ")
            ));
        }
        500..=599 => {
            return Err(format!(
                "STARTTLS refused: {} {}",
                reply.code,
                reply.lines.join(" ")
            ))
        }
        _ => {
            report.verify = Verify::Protocol;
            return Err(format!(
                "unexpected reply to STARTTLS: {} {}",
                reply.code,
                reply.lines.join(" ")
            ));
        }
    }
    if !reader.buffer().is_empty() {
        // The server sent more than its 220 before the handshake.
        report.verify = Verify::Protocol;
        return Err(
            "the server sent data after its 220 to STARTTLS, before the TLS handshake".into(),
        );
    }

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier {
            provider: provider.clone(),
        }));
    let config = match &opts.client_auth {
        Some(Identity { chain, key }) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("the client certificate cannot be used: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    let host = host_of(&opts.target);
    let server_name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("`{host}` is not a valid server name"))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), server_name.clone())
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, writer);
    let t = Instant::now();
    quickack(&tls.sock);
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            report.verify = Verify::Software;
            return Err(format!("TLS handshake failed: {e}"));
        }
    }
    report.timings_ms.handshake = ms(t);
    report.starttls = true;
    report.client_cert_sent = opts.client_auth.is_some();
    report.tls_version = tls.conn.protocol_version().map(names::tls_version);
    if let Some(suite) = tls.conn.negotiated_cipher_suite() {
        let (name, bits) = names::cipher(suite.suite());
        report.cipher = Some(name);
        report.cipher_bits = Some(bits);
    }
    let chain: Vec<CertificateDer<'static>> = tls
        .conn
        .peer_certificates()
        .map(|c| c.to_vec())
        .unwrap_or_default();
    report.server_chain_length = chain.len();
    check_chain(&chain, &opts.roots, &provider, &server_name, report);

    let t = Instant::now();
    // With PIPELINING offered, QUIT goes in the same write as EHLO
    // (RFC 2920 allows it last in a group): one round trip, not two.
    let pipelining = report
        .ehlo_before
        .iter()
        .any(|l| l.eq_ignore_ascii_case("PIPELINING"));
    let mut commands = format!("EHLO {}\r\n", opts.ehlo_name);
    if pipelining {
        commands.push_str("QUIT\r\n");
    }
    tls.write_all(commands.as_bytes()).map_err(io)?;
    let mut tls_reader = BufReader::new(tls);
    quickack(&tls_reader.get_ref().sock);
    let ehlo =
        read_reply(&mut tls_reader).map_err(|e| format!("EHLO after STARTTLS failed: {e}"))?;
    report.timings_ms.ehlo_after = ms(t);
    report.ehlo_after = ehlo.lines.iter().skip(1).cloned().collect();
    let mut tls = tls_reader.into_inner();
    if !pipelining {
        let _ = tls.write_all(b"QUIT\r\n");
    }
    let mut tls_reader = BufReader::new(tls);
    quickack(&tls_reader.get_ref().sock);
    let _ = read_reply(&mut tls_reader);
    let mut tls = tls_reader.into_inner();
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}

/// Linux `TCP_QUICKACK` (it wears off, so it is set again before each
/// reply we wait for). sendmail writes a multi-line reply over TLS as
/// several records; with delayed ACKs the later ones wait ~40 ms for our
/// ACK, so we ack at once. Best effort: an error changes nothing.
fn quickack(sock: &TcpStream) {
    let _ = socket2::SockRef::from(sock).set_tcp_quickack(true);
}

/// `${verify}` for the server's chain, as sendmail computes it against its
/// CA file and path (no host name check).
fn check_chain(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
    provider: &CryptoProvider,
    server_name: &ServerName<'_>,
    report: &mut ProbeReport,
) {
    let Some(end_entity) = chain.first() else {
        report.verify = Verify::No;
        return;
    };
    report.server_cert = CertInfo::from_der(end_entity).ok();
    let mut store = RootCertStore::empty();
    for r in roots {
        let _ = store.add(r.clone());
    }
    // A certificate that is itself a trust anchor (a self-signed one in the
    // CA path, like Debian's own sendmail certificates, X.509 v1, which
    // webpki cannot parse) verifies as OpenSSL verifies it: by being there,
    // within its dates.
    if roots.iter().any(|r| r.as_ref() == end_entity.as_ref()) {
        let now = UnixTime::now().as_secs() as i64;
        match &report.server_cert {
            Some(c) if c.not_before_unix <= now && now <= c.not_after_unix => {
                report.verify = Verify::Ok;
            }
            Some(_) => {
                report.verify = Verify::Fail;
                report.verify_error = Some("certificate is not within its validity period".into());
            }
            None => report.verify = Verify::Fail,
        }
        report.name_matches = report.server_cert.as_ref().map(|c| {
            let host = match server_name {
                ServerName::DnsName(d) => d.as_ref().to_ascii_lowercase(),
                _ => String::new(),
            };
            c.sans.iter().any(|s| s.eq_ignore_ascii_case(&host))
                || c.subject_cn
                    .as_deref()
                    .is_some_and(|cn| cn.eq_ignore_ascii_case(&host))
        });
        return;
    }
    let parsed = match rustls::server::ParsedCertificate::try_from(end_entity) {
        Ok(p) => p,
        Err(e) => {
            report.verify = Verify::Fail;
            report.verify_error = Some(verify_message(&e));
            return;
        }
    };
    report.name_matches = Some(rustls::client::verify_server_name(&parsed, server_name).is_ok());
    match rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &store,
        &chain[1..],
        UnixTime::now(),
        provider.signature_verification_algorithms.all,
    ) {
        Ok(()) => report.verify = Verify::Ok,
        Err(e) => {
            report.verify = Verify::Fail;
            report.verify_error = Some(verify_message(&e));
        }
    }
}

impl std::fmt::Display for ProbeReport {
    /// A summary a newcomer understands.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(banner) = &self.banner else {
            // Not even an SMTP greeting: one line says why.
            let why = self.error.as_deref().unwrap_or("no SMTP greeting");
            return writeln!(f, "{}: {why}", self.target);
        };
        writeln!(f, "{}: {banner}", self.target)?;
        if let Some(e) = &self.error {
            writeln!(f, "  problem: {e}")?;
        }
        if self.starttls {
            writeln!(
                f,
                "  TLS: {} {} {} bits",
                self.tls_version.as_deref().unwrap_or("?"),
                self.cipher.as_deref().unwrap_or("?"),
                self.cipher_bits.unwrap_or(0)
            )?;
        }
        if let Some(c) = &self.server_cert {
            let days = c.days_left(time::OffsetDateTime::now_utc().unix_timestamp());
            let expiry = if days < 0 {
                format!("expired {} days ago", -days)
            } else {
                format!("expires in {days} days")
            };
            let verdict = match (self.verify, &self.verify_error) {
                (Verify::Ok, _) => "certificate valid".to_string(),
                (_, Some(e)) => format!("certificate NOT trusted ({e})"),
                (v, None) => format!("certificate {v}"),
            };
            writeln!(
                f,
                "  {verdict}: {}, issued by {}, {expiry}",
                c.subject, c.issuer
            )?;
            if self.name_matches == Some(false) {
                writeln!(f, "  note: the certificate does not name the host probed (sendmail does not check this)")?;
            }
        }
        writeln!(
            f,
            "  verify={} (what sendmail would put in ${{verify}})",
            self.verify
        )?;
        writeln!(
            f,
            "  time: {:.1} ms total (connect {:.1}, handshake {:.1})",
            self.timings_ms.total, self.timings_ms.connect, self.timings_ms.handshake
        )
    }
}
