//! One SMTP session, top to bottom as the dialogue goes: greeting, EHLO,
//! STARTTLS and the handshake, MAIL/RCPT with the policy decisions sendmail
//! would make, DATA into the maildir, QUIT. Every read is bounded (the
//! line, the handshake, the stress timeout).

use super::*;
use crate::net::names;

/// The connection, before or after STARTTLS.
enum Conn {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>>),
}

impl Conn {
    fn socket(&self) -> &TcpStream {
        match self {
            Conn::Plain(r) => r.get_ref(),
            Conn::Tls(r) => &r.get_ref().sock,
        }
    }

    /// Reads up to `MAX_LINE + 1` bytes of one line. The whole line must
    /// come within `limit()`, not just each piece of it: a client that
    /// drips a byte at a time (slowloris) is cut off like a silent one.
    /// `limit` is asked again at least once a second, so a session already
    /// waiting is cut short too when the server comes under stress.
    fn read_line(&mut self, buf: &mut Vec<u8>, limit: &dyn Fn() -> Duration) -> io::Result<usize> {
        self.socket()
            .set_read_timeout(Some(limit().clamp(Duration::from_millis(10), READ_SLICE)))?;
        let start = Instant::now();
        match self {
            Conn::Plain(r) => read_line_until(r, buf, start, limit),
            Conn::Tls(r) => read_line_until(r.as_mut(), buf, start, limit),
        }
    }
    fn send(&mut self, text: &str) -> io::Result<()> {
        match self {
            Conn::Plain(r) => r.get_mut().write_all(text.as_bytes()),
            Conn::Tls(r) => {
                let s = r.get_mut();
                s.write_all(text.as_bytes())?;
                s.flush()
            }
        }
    }
}

/// The longest single wait on a socket: how often a waiting session looks
/// at the time it is still allowed.
const READ_SLICE: Duration = Duration::from_secs(1);

fn read_line_until(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    start: Instant,
    limit: &dyn Fn() -> Duration,
) -> io::Result<usize> {
    let timed_out = || {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "no complete line within the timeout",
        )
    };
    let mut read = 0;
    while read <= MAX_LINE {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if start.elapsed() >= limit() {
                    return Err(timed_out());
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        let room = avail.len().min(MAX_LINE + 1 - read);
        let (used, done) = match avail[..room].iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (room, false),
        };
        buf.extend_from_slice(&avail[..used]);
        r.consume(used);
        read += used;
        if done {
            break;
        }
        if start.elapsed() >= limit() {
            return Err(timed_out());
        }
    }
    Ok(read)
}

struct Session<'a> {
    shared: &'a Shared,
    log: SessionLog,
    macros: Macros,
    /// A tls_client refusal after STARTTLS: answers every MAIL/RCPT.
    tls_refusal: Option<String>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
}

fn reply_lines(code: u16, lines: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.push_str(&format!("{code}{sep}{l}\r\n"));
    }
    out
}

pub(super) fn session(shared: &Shared, stream: TcpStream, peer: SocketAddr) -> SessionLog {
    let mut s = Session {
        shared,
        log: SessionLog {
            peer: peer.to_string(),
            ..Default::default()
        },
        macros: Macros::default(),
        tls_refusal: None,
        mail_from: None,
        rcpts: Vec::new(),
    };
    let addr = match peer.ip() {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("IPv6:{a}"),
    };
    s.macros.set("client_addr", &addr);
    // No DNS here: the name is the bracketed address, as sendmail's is
    // for a client whose reverse lookup does not confirm.
    s.macros.set("client_name", &format!("[{}]", peer.ip()));
    s.log.client_name = format!("[{}]", peer.ip());
    s.macros.set("client_resolve", "FAIL");
    s.macros.set("server_name", &shared.config.hostname);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(shared.config.timeout));
    let _ = stream.set_write_timeout(Some(shared.config.timeout));
    let mut conn = Conn::Plain(BufReader::new(stream));
    let end = s.run(&mut conn);
    s.log.ended = end.err();
    s.log
}

impl Session<'_> {
    fn decide(&mut self, at: &str, ruleset: Ruleset, rcpt: Option<&str>) -> Decision {
        let d = policy::evaluate(
            &self.shared.config.access,
            ruleset,
            &self.macros,
            rcpt,
            Options {
                tls_perm_err: self.shared.config.tls_perm_err,
            },
        );
        self.log.decisions.push(LoggedDecision {
            at: at.to_string(),
            ruleset: ruleset.name(),
            outcome: d.outcome,
            reply: d.reply.clone(),
            explanation: d.explanation.clone(),
            lookups: d
                .trace
                .iter()
                .filter(|t| t.step == "lookup")
                .map(|t| t.detail.clone())
                .collect(),
        });
        d
    }

    fn ehlo_lines(&self, helo: &str, tls: bool) -> Vec<String> {
        let mut lines = vec![format!(
            "{} Hello {helo}, pleased to meet you",
            self.shared.config.hostname
        )];
        if self.tls_refusal.is_some() {
            // sendmail offers only this after a tls_client refusal.
            lines.push("ENHANCEDSTATUSCODES".into());
            return lines;
        }
        lines.extend([
            "ENHANCEDSTATUSCODES".to_string(),
            "PIPELINING".into(),
            "8BITMIME".into(),
            format!("SIZE {}", self.shared.config.max_message_size),
        ]);
        if !tls {
            lines.push("STARTTLS".into());
        }
        lines.push("HELP".into());
        lines
    }

    /// The dialogue; `Err` says why it ended early.
    fn run(&mut self, conn: &mut Conn) -> Result<(), String> {
        let host = self.shared.config.hostname.clone();
        let io = |e: io::Error| format!("connection lost: {e}");
        conn.send(&format!("220 {host} ESMTP starttls-studio; ready\r\n"))
            .map_err(io)?;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = conn
                .read_line(&mut buf, &|| self.shared.idle_timeout())
                .map_err(io)?;
            if n == 0 {
                return Err("the client closed the connection without QUIT".into());
            }
            if !buf.ends_with(b"\n") {
                if buf.len() > MAX_LINE {
                    conn.send("500 5.5.0 Line too long\r\n").map_err(io)?;
                    // Skip the rest of that line.
                    let mut rest = Vec::new();
                    while !rest.ends_with(b"\n") {
                        rest.clear();
                        if conn
                            .read_line(&mut rest, &|| self.shared.idle_timeout())
                            .map_err(io)?
                            == 0
                        {
                            return Err("the client closed the connection in a long line".into());
                        }
                    }
                    continue;
                }
                return Err("the client closed the connection mid-line".into());
            }
            let (verb, arg) = parse_command(&buf);
            let tls = matches!(conn, Conn::Tls(_));
            match verb.as_str() {
                "EHLO" | "HELO" if arg.is_empty() => conn.send(&format!("501 5.0.0 {verb} requires domain address\r\n")).map_err(io)?,
                "EHLO" => {
                    self.log.helo = Some(arg.clone());
                    self.reset();
                    conn.send(&reply_lines(250, &self.ehlo_lines(&arg, tls))).map_err(io)?;
                }
                "HELO" => {
                    self.log.helo = Some(arg.clone());
                    self.reset();
                    conn.send(&format!("250 {host} Hello {arg}, pleased to meet you\r\n")).map_err(io)?;
                }
                "STARTTLS" if tls => conn.send("503 5.5.0 TLS already active\r\n").map_err(io)?,
                "STARTTLS" if !arg.is_empty() => conn.send("501 5.5.4 Syntax error (no parameters allowed)\r\n").map_err(io)?,
                "STARTTLS" => {
                    conn.send("220 2.0.0 Ready to start TLS\r\n").map_err(io)?;
                    self.starttls(conn)?;
                }
                "MAIL" => self.mail(conn, &arg).map_err(io)?,
                "RCPT" => self.rcpt(conn, &arg).map_err(io)?,
                "DATA" => self.data(conn)?,
                "RSET" => {
                    self.reset();
                    conn.send("250 2.0.0 Reset state\r\n").map_err(io)?;
                }
                "NOOP" => conn.send("250 2.0.0 OK\r\n").map_err(io)?,
                "HELP" => conn.send("214-2.0.0 starttls-studio test server\r\n214-2.0.0 Commands: EHLO HELO STARTTLS MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n214 2.0.0 End of HELP info\r\n").map_err(io)?,
                "VRFY" => conn.send("252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery\r\n").map_err(io)?,
                "QUIT" => {
                    let _ = conn.send(&format!("221 2.0.0 {host} closing connection\r\n"));
                    return Ok(());
                }
                _ => conn.send("500 5.5.1 Command unrecognized\r\n").map_err(io)?,
            }
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
    }

    fn starttls(&mut self, conn: &mut Conn) -> Result<(), String> {
        let Conn::Plain(reader) = conn else {
            return Err("internal: STARTTLS on a TLS connection".into());
        };
        // Anything the client pipelined after STARTTLS is dropped unread
        // (CVE-2011-0411): it must not be taken as coming over TLS.
        let dropped = reader.buffer().len();
        if dropped > 0 {
            self.log.decisions.push(LoggedDecision {
                at: "STARTTLS".into(),
                ruleset: "starttls",
                outcome: Outcome::Ok,
                reply: None,
                explanation: format!(
                    "discarded {dropped} bytes the client sent after STARTTLS before the handshake"
                ),
                lookups: Vec::new(),
            });
        }
        let stream = match reader.get_ref().try_clone() {
            Ok(s) => s,
            Err(e) => return Err(format!("cannot use the socket: {e}")),
        };
        let server =
            rustls::ServerConnection::new(self.shared.tls.clone()).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(server, stream);
        self.log.starttls = true;
        // The handshake as a whole is bounded too (a client dripping it).
        let wait = self.shared.idle_timeout();
        let _ = tls.sock.set_read_timeout(Some(wait));
        let deadline = Instant::now() + wait;
        while tls.conn.is_handshaking() {
            let step = match tls.conn.complete_io(&mut tls.sock) {
                Ok(_) if Instant::now() >= deadline => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the handshake did not finish within the timeout",
                )),
                r => r,
            };
            if let Err(e) = step {
                self.log.verify = Verify::Software;
                self.macros.set("verify", Verify::Software.as_str());
                self.log.starttls = false;
                self.decide("STARTTLS", Ruleset::TlsClient, None);
                return Err(format!("TLS handshake failed: {e}"));
            }
        }
        let version = tls
            .conn
            .protocol_version()
            .map(names::tls_version)
            .unwrap_or_default();
        let (cipher, bits) = tls
            .conn
            .negotiated_cipher_suite()
            .map(|s| names::cipher(s.suite()))
            .unwrap_or_default();
        let chain: Vec<CertificateDer<'static>> = tls
            .conn
            .peer_certificates()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let verify = match chain.first() {
            None => Verify::No,
            Some(ee) => {
                let info = CertInfo::from_der(ee).ok();
                if let Some(i) = &info {
                    self.macros.set("cert_subject", &i.subject_sendmail);
                    self.macros.set("cert_issuer", &i.issuer_sendmail);
                    if let Some(cn) = &i.subject_cn {
                        self.macros.set("cn_subject", &crate::core::dn::xtext(cn));
                    }
                    self.log.cert_subject = Some(i.subject_sendmail.clone());
                    self.log.cert_issuer = Some(i.issuer_sendmail.clone());
                }
                match &self.shared.verifier {
                    None => {
                        self.log.verify_error = Some("no CA path configured".into());
                        Verify::Fail
                    }
                    Some(v) => match v.verify_client_cert(ee, &chain[1..], UnixTime::now()) {
                        Ok(_) => Verify::Ok,
                        Err(e) => {
                            self.log.verify_error = Some(e.to_string());
                            Verify::Fail
                        }
                    },
                }
            }
        };
        self.macros.set("verify", verify.as_str());
        self.macros.set("tls_version", &version);
        self.macros.set("cipher", &cipher);
        self.macros.set("cipher_bits", &bits.to_string());
        self.log.verify = verify;
        self.log.tls_version = Some(version);
        self.log.cipher = Some(cipher);
        self.log.cipher_bits = Some(bits);
        let d = self.decide("STARTTLS", Ruleset::TlsClient, None);
        self.tls_refusal = d.reply;
        self.reset();
        self.log.helo = None;
        *conn = Conn::Tls(Box::new(BufReader::new(tls)));
        Ok(())
    }

    fn mail(&mut self, conn: &mut Conn, arg: &str) -> io::Result<()> {
        if self.log.helo.is_none() {
            return conn.send("503 5.0.0 Polite people say HELO first\r\n");
        }
        if self.mail_from.is_some() {
            return conn.send("503 5.5.0 Sender already specified\r\n");
        }
        let Some(rest) = strip_prefix_ci(arg, "FROM:") else {
            return conn.send("501 5.5.2 Syntax error in parameters scanning \"from\"\r\n");
        };
        let (addr, params) = split_path(rest);
        if addr.contains(|c: char| c.is_control()) {
            return conn.send("553 5.1.7 Invalid sender address (control character)\r\n");
        }
        if let Some(r) = &self.tls_refusal {
            return conn.send(&format!("{r}\r\n"));
        }
        let d = self.decide("MAIL", Ruleset::TlsClient, None);
        if let Some(r) = d.reply {
            return conn.send(&format!("{r}\r\n"));
        }
        for p in params.split_whitespace() {
            if let Some(size) = strip_prefix_ci(p, "SIZE=") {
                if size
                    .parse::<usize>()
                    .is_ok_and(|n| n > self.shared.config.max_message_size)
                {
                    return conn
                        .send("552 5.2.3 Message size exceeds fixed maximum message size\r\n");
                }
            }
        }
        self.mail_from = Some(addr.clone());
        conn.send(&format!("250 2.1.0 <{addr}>... Sender ok\r\n"))
    }

    fn rcpt(&mut self, conn: &mut Conn, arg: &str) -> io::Result<()> {
        if self.mail_from.is_none() {
            return conn.send("503 5.0.0 Need MAIL before RCPT\r\n");
        }
        let Some(rest) = strip_prefix_ci(arg, "TO:") else {
            return conn.send("501 5.5.2 Syntax error in parameters scanning \"to\"\r\n");
        };
        let (addr, _) = split_path(rest);
        if addr.contains(|c: char| c.is_control()) {
            return conn.send("553 5.1.3 Invalid recipient address (control character)\r\n");
        }
        if addr.is_empty() {
            return conn.send("553 5.0.0 User address required\r\n");
        }
        if let Some(r) = &self.tls_refusal {
            return conn.send(&format!("{r}\r\n"));
        }
        let local = addr
            .rsplit_once('@')
            .is_none_or(|(_, d)| d.eq_ignore_ascii_case(&self.shared.config.hostname));
        if !local {
            let d = self.decide("RCPT", Ruleset::Relay, Some(&addr));
            if let Some(r) = d.reply {
                return conn.send(&format!("{r}\r\n"));
            }
        }
        self.rcpts.push(addr.clone());
        conn.send(&format!("250 2.1.5 <{addr}>... Recipient ok\r\n"))
    }

    fn data(&mut self, conn: &mut Conn) -> Result<(), String> {
        let io = |e: io::Error| format!("connection lost: {e}");
        if self.rcpts.is_empty() {
            return conn.send("503 5.0.0 Need RCPT (recipient)\r\n").map_err(io);
        }
        conn.send("354 Enter mail, end with \".\" on a line by itself\r\n")
            .map_err(io)?;
        let mut body = Vec::new();
        let mut too_big = false;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = conn
                .read_line(&mut line, &|| self.shared.idle_timeout())
                .map_err(io)?;
            if n == 0 || (!line.ends_with(b"\n") && line.len() <= MAX_LINE) {
                // Disconnected mid-DATA: nothing is kept.
                return Err(
                    "the client disconnected during DATA; the message was discarded".into(),
                );
            }
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let content = if line.starts_with(b"..") {
                &line[1..]
            } else {
                &line[..]
            };
            if body.len() + content.len() > self.shared.config.max_message_size {
                too_big = true;
            } else {
                body.extend_from_slice(content);
            }
        }
        if too_big {
            self.reset();
            return conn
                .send("552 5.3.4 Message size exceeds fixed maximum message size\r\n")
                .map_err(io);
        }
        let id = format!(
            "{}.{}.{}",
            time::OffsetDateTime::now_utc().unix_timestamp(),
            std::process::id(),
            self.shared.counter.fetch_add(1, Ordering::Relaxed)
        );
        let mut message = self.received(&id).into_bytes();
        message.extend_from_slice(&body);
        let path = self.shared.config.maildir.join(format!("{id}.eml"));
        match crate::store::fsutil::write_atomic(&path, &message, 0o600) {
            Ok(()) => {
                self.log.messages.push(path.display().to_string());
                self.reset();
                conn.send(&format!("250 2.0.0 {id} Message accepted for delivery\r\n"))
                    .map_err(io)
            }
            Err(e) => {
                self.reset();
                conn.send(&format!("451 4.3.0 cannot store the message: {e}\r\n"))
                    .map_err(io)
            }
        }
    }

    /// A sendmail-style `Received:` header.
    fn received(&self, id: &str) -> String {
        // Client-given text goes into a header: no control characters (a
        // lone CR would start a header line of the client's choosing).
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        };
        let helo = clean(self.log.helo.as_deref().unwrap_or("unknown"));
        let addr = self.macros.get("client_addr");
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let mut h = format!(
            "Received: from {helo} ([{addr}])\r\n\tby {} (starttls-studio) with ",
            self.shared.config.hostname
        );
        if self.log.starttls {
            h.push_str(&format!(
                "ESMTPS id {id}\r\n\t(version={} cipher={} bits={} verify={})\r\n",
                self.macros.get("tls_version"),
                self.macros.get("cipher"),
                self.macros.get("cipher_bits"),
                self.macros.get("verify")
            ));
        } else {
            h.push_str(&format!("ESMTP id {id}\r\n"));
        }
        match self.rcpts.as_slice() {
            [one] => h.push_str(&format!("\tfor <{}>; {date}\r\n", clean(one))),
            _ => h.push_str(&format!("\t; {date}\r\n")),
        }
        h
    }
}

/// An SMTP command line (with or without its CRLF) → (upper-case verb,
/// trimmed argument). Any bytes: invalid UTF-8 becomes U+FFFD.
///
/// Hand-written rather than taken from an SMTP crate: what matters is
/// reading a line the way sendmail does (its verbs, its tolerance of
/// blanks, its limits), and this parser is small enough to fuzz whole.
pub fn parse_command(line: &[u8]) -> (String, String) {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches(['\r', '\n']);
    match line.split_once(' ') {
        Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
        None => (line.to_ascii_uppercase(), String::new()),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `<addr> PARAMS` → (addr, params).
pub fn split_path(s: &str) -> (String, String) {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('<') {
        if let Some((addr, params)) = rest.split_once('>') {
            return (addr.trim().to_string(), params.trim().to_string());
        }
    }
    match s.split_once(' ') {
        Some((a, p)) => (a.to_string(), p.to_string()),
        None => (s.to_string(), String::new()),
    }
}
