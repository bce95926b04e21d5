//! The command-line face. Parses arguments with clap, calls the same
//! `store`/`core` functions the GUI calls, and turns results into text or
//! JSON. Exit status: 0 success, 1 failed check or refused input, 2 usage.

mod access;
pub mod docs;
mod doctor;
mod log;
mod mc;
mod probe;
mod serve;
mod trust;

use crate::core::cert::CertInfo;
use crate::core::pki::KeyKind;
use crate::core::rehash::HashKind;
use crate::store::home::{self, Home, HostEntry, CA_DAYS_DEFAULT, HOST_DAYS_DEFAULT};
use crate::store::{certfiles, install, rehash};
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// What a command fails with: the library's errors, or writing its output.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    Store(crate::store::Error),
    Net(crate::net::Error),
    /// Standard output could not be written. A closed pipe
    /// (`show --json big.pem | head`) is not a failure: see [`main`].
    Output(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store(e) => e.fmt(f),
            Error::Net(e) => e.fmt(f),
            Error::Output(e) => write!(f, "cannot write the output: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e),
            Error::Net(e) => Some(e),
            Error::Output(e) => Some(e),
        }
    }
}

impl From<crate::store::Error> for Error {
    fn from(e: crate::store::Error) -> Self {
        Error::Store(e)
    }
}

impl From<crate::net::Error> for Error {
    fn from(e: crate::net::Error) -> Self {
        Error::Net(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Output(e)
    }
}

/// A refusal with a hint (the store's wording).
fn refused(message: impl Into<String>, hint: impl Into<String>) -> Error {
    crate::store::refused(message, hint).into()
}

/// `println!` that returns the write error instead of panicking on it.
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*)?
    };
}

/// `print!` that returns the write error instead of panicking on it.
macro_rules! out {
    ($($arg:tt)*) => {
        write!(std::io::stdout(), $($arg)*)?
    };
}
pub(crate) use {out, outln};

#[derive(Parser, Debug)]
#[command(
    name = "starttls-studio",
    version,
    about = "Private CA, certificates, access map and live STARTTLS tests for sendmail",
    long_about = "Private CA, certificates, access map and live STARTTLS tests for sendmail.\n\n\
                  Without a command, opens the desktop GUI."
)]
pub struct Cli {
    /// Data directory (CA, issued certificates, settings) [default: the platform data directory]
    #[arg(long, global = true, env = "STARTTLS_STUDIO_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// The passphrase of PKCS#12 (.p12/.pfx) files read or written: the file's first line, - for standard input [default: STARTTLS_STUDIO_PASSPHRASE]
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create, import or show the private CA
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue, list, renew and revoke host certificates
    #[command(subcommand)]
    Cert(CertCommand),
    /// Install the CA and a host's certificate and key for sendmail; prints the sendmail.mc lines
    Install {
        /// The host whose certificate to install (as given to `cert issue`)
        #[arg(required_unless_present = "all")]
        fqdn: Option<String>,
        /// Target directory, e.g. /etc/mail/tls
        #[arg(long, value_name = "DIR", required_unless_present = "all")]
        to: Option<PathBuf>,
        /// Re-install every host into every directory it was installed into before (the home remembers them); unchanged files are not rewritten
        #[arg(long, conflicts_with_all = ["fqdn", "to", "cert", "key", "chain"])]
        all: bool,
        /// When sendmail reads a file that changed: restart it, probe it, and require the certificate its cf names; otherwise put the files back and restart again (exit 1)
        #[arg(long)]
        restart: bool,
        /// How to restart sendmail [default: systemctl restart sendmail, else /etc/init.d/sendmail restart]
        #[arg(long, value_name = "CMD", requires = "restart")]
        restart_command: Option<String>,
        /// The daemon address to probe after the restart [default: from the cf's DaemonPortOptions]
        #[arg(long, value_name = "HOST:PORT", requires = "restart")]
        probe: Option<String>,
        /// The sendmail.cf that says which files sendmail reads
        #[arg(
            long,
            value_name = "FILE",
            default_value = "/etc/mail/sendmail.cf",
            requires = "restart"
        )]
        cf: PathBuf,
        /// The sendmail.mc the printed lines are for [default: /etc/mail/sendmail.mc if present]
        #[arg(long, value_name = "FILE")]
        mc: Option<PathBuf>,
        /// A host certificate from elsewhere (a public CA, an existing PKI) instead of the home's — PEM, or a PKCS#12 file holding the key and chain too; the home's CA stays the CA for client certificates
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        /// Its private key (not needed when --cert is a PKCS#12 file)
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        /// Its intermediate CA certificates (any order; a root is left out)
        #[arg(long, value_name = "FILE", requires = "cert")]
        chain: Option<PathBuf>,
        /// Also install the home's CRL into DIR/certs (crl.pem with its HASH.r0 link) and print confCRL; later installs of DIR (--all, the renewal timer) keep it current
        #[arg(long, conflicts_with = "all")]
        crl: bool,
    },
    /// Print every certificate in a file (PEM, possibly several, or DER)
    Show {
        /// The certificate file
        file: PathBuf,
        /// JSON array, one object per certificate
        #[arg(long)]
        json: bool,
    },
    /// Make OpenSSL subject-hash links in CA directories (like `openssl rehash`)
    Rehash {
        /// Directories holding CA certificates and CRLs
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Use the old (pre-1.0.0, MD5) subject hash
        #[arg(long)]
        old: bool,
    },
    /// Check and edit the sendmail access map
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// What would sendmail decide? (TLS requirements and relaying by certificate)
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Test a server: EHLO, STARTTLS, handshake, verify its certificate, EHLO again, QUIT
    Probe(probe::ProbeArgs),
    /// Run the embedded STARTTLS SMTP server (loopback unless told otherwise)
    Serve(serve::ServeArgs),
    /// Open the desktop GUI (the same as giving no command)
    Gui,
    /// Audit a sendmail TLS setup (files, keys, chains, hash links, modes, expiry, access map); --fix applies the safe fixes
    Doctor(doctor::DoctorArgs),
    /// Everything one host needs (cert, key, CA, CA directory with links, mc and access lines, README), as a reproducible tar or a directory
    Bundle {
        /// The host (as given to `cert issue`)
        fqdn: String,
        /// FILE.tar (reproducible archive, mode 0600), a directory, or FILE.p12/.pfx (key, certificate and CA as PKCS#12 for Windows/Exchange; needs --passphrase-file)
        #[arg(long, value_name = "DIR|FILE.tar")]
        out: PathBuf,
        /// Where the files will live on the host (used in the sendmail.mc lines)
        #[arg(long, value_name = "DIR", default_value = crate::store::bundle::DEFAULT_PREFIX)]
        prefix: PathBuf,
        /// No certificate and no key: the README has the partner make its key and a request on its own host (one openssl line), to be signed here with `cert sign`
        #[arg(long)]
        csr_first: bool,
        /// With --out FILE.p12: 3DES and HMAC-SHA1 (old Windows, macOS keychains) instead of AES-256 and HMAC-SHA256
        #[arg(long)]
        p12_legacy: bool,
    },
    /// Every certificate over time: the CA, the hosts, each installed copy (current or out of date), the CRL's nextUpdate; exit 1 when something is expired or out of date
    Status {
        /// JSON: {ca, hosts, installs, crl, problems, warnings}
        #[arg(long)]
        json: bool,
    },
    /// DANE: the TLSA record of a host's current key
    #[command(subcommand)]
    Dane(DaneCommand),
    /// Trust partners' CAs in an install's CA directory (DIR/certs), optionally announced in DIR/CAcert.pem
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Explain sendmail's log (STARTTLS, TLS requirements, relaying, file safety)
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Put an install's TLS settings into sendmail.mc; with --rebuild/--restart also rebuild the cf, restart sendmail and prove what it serves
    #[command(subcommand)]
    Mc(mc::McCommand),
    /// Print the shell completion script for SHELL
    Completions {
        /// The shell (bash, zsh, fish, elvish, powershell)
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Write the man pages and the bash, zsh and fish completions (for packagers and source installs)
    GenerateDocs {
        /// Output directory: man pages go to DIR/man/man1, completions under their /usr/share paths
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum DaneCommand {
    /// Start a DANE key rollover: make the host's next key (kept until `cert renew FQDN --next-key`) and print the record set to publish now: the current key's and the next key's
    Rollover {
        /// The host (as given to `cert issue`)
        fqdn: String,
        /// The port of the record name (_N._tcp)
        #[arg(long, default_value_t = 25)]
        port: u16,
    },
    /// Compare the TLSA records a DNS server publishes for the host with its key (and the next key during a rollover); exit 1 when the served key's record is missing
    Check {
        /// The host (as given to `cert issue`)
        fqdn: String,
        /// The DNS server to ask (HOST[:PORT])
        #[arg(long, value_name = "SERVER")]
        dns: String,
        /// The port of the record name (_N._tcp)
        #[arg(long, default_value_t = 25)]
        port: u16,
        /// The certificate sendmail serves, if not the home's
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        /// JSON: {name, current, next, stale, pkix, other, records}
        #[arg(long)]
        json: bool,
    },
    /// Print the DANE-EE record (3 1 1: SHA-256 of the public key) for the host's current certificate, in zone-file form
    Tlsa {
        /// The host (as given to `cert issue`)
        fqdn: String,
        /// The port of the record name (_N._tcp)
        #[arg(long, default_value_t = 25)]
        port: u16,
        /// Another certificate than the home's (e.g. the one sendmail serves)
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Evaluate a ruleset on an access map and macro values, with a trace
    Eval(access::PolicyEval),
}

#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Create the private CA (refuses to replace an existing one)
    Init {
        /// The CA's name (its CN)
        #[arg(long)]
        cn: String,
        /// rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384, ed25519
        #[arg(long, default_value = "rsa2048", value_name = "KIND")]
        key: KeyKind,
        /// Validity in days
        #[arg(long, default_value_t = CA_DAYS_DEFAULT)]
        days: u32,
    },
    /// Adopt an existing CA from a PEM certificate and its private key
    Import {
        /// The CA certificate (PEM or DER), or a PKCS#12 file with its key (`ca export`'s backup)
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// The CA's private key (PEM, unencrypted); not needed with a PKCS#12 file
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Read the key even if others may read it
        #[arg(long)]
        allow_insecure_key: bool,
    },
    /// Show the CA certificate
    Show {
        /// JSON object with the certificate's fields (as `show --json`)
        #[arg(long)]
        json: bool,
    },
    /// Re-sign the CA certificate with the same key and subject for --days more days: certificates it issued keep verifying; the old one is archived. Then `install --all` brings it to every install
    Renew {
        /// Validity in days from now
        #[arg(long, default_value_t = CA_DAYS_DEFAULT)]
        days: u32,
    },
    /// Back up the CA's key and certificate as an encrypted PKCS#12 file (mode 0600; the passphrase from --passphrase-file or STARTTLS_STUDIO_PASSPHRASE); `ca import --cert FILE` restores it
    Export {
        /// The file to write
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// 3DES and an HMAC-SHA1 MAC (for old Windows and macOS keychains) instead of AES-256 and HMAC-SHA256
        #[arg(long)]
        legacy: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Issue a host certificate: CN and SAN = FQDN, serverAuth + clientAuth
    Issue {
        /// The host's fully qualified name (CN and first SAN)
        fqdn: String,
        /// Extra subject alternative name (DNS name or IP address); repeatable
        #[arg(long = "san", value_name = "NAME")]
        sans: Vec<String>,
        /// rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384, ed25519
        #[arg(long, default_value = "rsa2048", value_name = "KIND")]
        key: KeyKind,
        /// Validity in days
        #[arg(long, default_value_t = HOST_DAYS_DEFAULT)]
        days: u32,
    },
    /// Sign a partner's certificate request (PKCS#10, PEM or DER): the partner keeps its key; the certificate (clientAuth + serverAuth, the request's checked host names) goes to stdout and is recorded in the home
    Sign {
        /// The request file (`openssl req -new …` makes one)
        csr: PathBuf,
        /// Validity in days
        #[arg(long, default_value_t = HOST_DAYS_DEFAULT)]
        days: u32,
    },
    /// List issued host certificates
    List {
        /// JSON array: host, paths and the certificate's fields
        #[arg(long)]
        json: bool,
    },
    /// Replace a host certificate (same names), with a new key unless --reuse-key; --due DAYS renews every one that expires within DAYS days, and only those
    Renew {
        /// The host whose certificate to replace (or --due for all that are due)
        #[arg(required_unless_present = "due", conflicts_with = "due")]
        fqdn: Option<String>,
        /// Renew every host certificate that expires within DAYS days (exit 0 whether or not any was due)
        #[arg(long, value_name = "DAYS")]
        due: Option<u32>,
        /// Keep the key: only the certificate changes, so a published DANE TLSA 3 1 1 record stays true
        #[arg(long, conflicts_with = "key")]
        reuse_key: bool,
        /// Key kind [default: the same as before]
        #[arg(long, value_name = "KIND")]
        key: Option<KeyKind>,
        /// Validity in days
        #[arg(long, default_value_t = HOST_DAYS_DEFAULT)]
        days: u32,
        /// DANE rollover, second step: switch to the key `dane rollover FQDN` made (publish its record first and wait two TTLs)
        #[arg(long, conflicts_with_all = ["reuse_key", "key", "due"], requires = "fqdn")]
        next_key: bool,
        /// With --next-key: refuse until this DNS server (HOST[:PORT]) serves the next key's TLSA record
        #[arg(long, value_name = "SERVER", requires = "next_key")]
        check_dns: Option<String>,
        /// The port of the TLSA record name (_N._tcp.FQDN) for --check-dns
        #[arg(long, default_value_t = 25, requires = "check_dns")]
        port: u16,
    },
    /// Revoke a host certificate and re-sign the CRL
    Revoke {
        /// The host whose certificate to revoke
        fqdn: String,
    },
    /// Re-sign the CRL (valid 30 days) and print its path; with --due DAYS only when it expires within DAYS days (for the renewal timer)
    Crl {
        /// Re-sign only a CRL whose nextUpdate is within DAYS days (none yet: nothing to do)
        #[arg(long, value_name = "DAYS")]
        due: Option<u32>,
    },
}

/// Parses the process arguments and runs; returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    crate::store::lock::set_wait_notice(|m| eprintln!("starttls-studio: {m}"));
    let status = match run(cli).and_then(|code| {
        io::stdout().flush()?;
        Ok(code)
    }) {
        Ok(code) => code,
        // The reader went away (`| head`): it has what it wanted.
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("starttls-studio: error: {e}");
            1
        }
    };
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

pub(crate) fn print_json<T: Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Output(io::Error::other(format!("cannot encode JSON: {e}"))))?;
    outln!("{text}");
    Ok(())
}

#[cfg(feature = "gui")]
fn gui(home: Home) -> Result<i32, Error> {
    Ok(crate::gui::run(home)?)
}

/// Built without the `gui` feature (the fuzz targets): no window.
#[cfg(not(feature = "gui"))]
fn gui(_home: Home) -> Result<i32, Error> {
    Err(refused(
        "this build has no GUI",
        "rebuild with the default features, or use a subcommand (see --help)",
    ))
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<i32, Error> {
    // These two need no data directory (they run at packaging time).
    match &cli.command {
        Some(Command::Completions { shell }) => {
            let script = docs::completion(*shell);
            let mut out = io::stdout().lock();
            out.write_all(&script)?;
            out.flush()?;
            return Ok(0);
        }
        Some(Command::GenerateDocs { out }) => {
            for path in docs::generate(out)? {
                outln!("{}", path.display());
            }
            return Ok(0);
        }
        _ => {}
    }
    if let Some(f) = &cli.passphrase_file {
        crate::store::certfiles::set_passphrase(Some(
            crate::store::certfiles::read_passphrase_file(f)?,
        ));
    }
    // Nor does reading a log.
    let command = match cli.command {
        Some(Command::Log(c)) => return log::log(c),
        c => c,
    };
    let cli = Cli { command, ..cli };
    let home = Home::resolve(cli.home)?;
    let Some(command) = cli.command else {
        return gui(home);
    };
    match command {
        Command::Gui => gui(home),
        Command::Ca(c) => ca(&home, c),
        Command::Cert(c) => cert_cmd(&home, c),
        Command::Install {
            all,
            restart: true,
            restart_command,
            probe,
            cf,
            fqdn,
            to,
            cert,
            key,
            chain,
            crl,
            ..
        } => {
            let external = cert.map(|cert| install::External { cert, key, chain });
            let crl_made = match (&to, crl) {
                (Some(to), true) => install::enable_crl(&home, to)?,
                _ => None,
            };
            let jobs = if all {
                home.installs()?
            } else {
                vec![(fqdn.unwrap_or_default(), to.unwrap_or_default())]
            };
            let mut io: Result<(), Error> = Ok(());
            let mut print = |step| {
                if io.is_ok() {
                    io = mc::print_step(&cf, step);
                }
            };
            let ok = crate::net::deploy::install_and_restart(
                &home,
                &jobs,
                external.as_ref(),
                restart_command,
                &cf,
                probe,
                &mut print,
            )
            .inspect_err(|_| install::undo_enable_crl(crl_made))?;
            io?;
            Ok(if ok { 0 } else { 1 })
        }
        Command::Install { all: true, .. } => install_all(&home),
        Command::Install {
            fqdn,
            to,
            mc,
            cert,
            key,
            chain,
            crl,
            ..
        } => {
            let external = cert.map(|cert| install::External { cert, key, chain });
            let (Some(fqdn), Some(to)) = (fqdn, to) else {
                return Err(refused("install needs FQDN and --to DIR", "or --all"));
            };
            let crl_made = if crl {
                install::enable_crl(&home, &to)?
            } else {
                None
            };
            install_cmd(&home, &fqdn, &to, mc.as_deref(), external.as_ref())
                .inspect_err(|_| install::undo_enable_crl(crl_made))
        }
        Command::Status { json } => status_cmd(&home, json),
        Command::Log(c) => log::log(c),
        Command::Show { file, json } => show(&file, json),
        Command::Access(c) => access::access(c, Some(&home)),
        Command::Probe(p) => probe::probe(&home, p),
        Command::Serve(a) => serve::serve(&home, a),
        Command::Doctor(a) => doctor::doctor(a),
        Command::Mc(c) => mc::mc_cmd(&home, c),
        Command::Trust(c) => trust::trust_cmd(&home, c),
        Command::Dane(DaneCommand::Rollover { fqdn, port }) => {
            let (host, next, made) = home.prepare_next_key(&fqdn)?;
            let name = format!("_{port}._tcp.{}.", host.fqdn);
            let cur = crate::core::cert::tlsa_311(&host.info.der).unwrap_or_default();
            let nxt = crate::core::cert::tlsa_311_spki(&next);
            outln!("{name} IN TLSA 3 1 1 {cur}");
            outln!("{name} IN TLSA 3 1 1 {nxt}");
            eprintln!(
                "{} next key ({}): publish both records now (the current key's and the next one's); after at least two TTLs switch with",
                if made { "made the" } else { "kept the existing" },
                home.next_key_path(&host.fqdn).display(),
            );
            eprintln!(
                "  starttls-studio cert renew {} --next-key --check-dns YOUR-DNS-SERVER, then install --all --restart",
                host.fqdn
            );
            Ok(0)
        }
        Command::Dane(DaneCommand::Check {
            fqdn,
            dns,
            port,
            cert,
            json,
        }) => {
            let info = match &cert {
                Some(f) => certfiles::read_cert_file(f)?,
                None => home.host(&fqdn)?.info,
            };
            let host = crate::core::fqdn::parse_fqdn(&fqdn)
                .map(|f| f.name)
                .unwrap_or(fqdn.clone());
            let name = format!("_{port}._tcp.{host}");
            let recs = crate::net::dns::tlsa(&dns, &name).map_err(|e| {
                refused(
                    format!("asking {dns} for {name} TLSA: {e}"),
                    "check the server address",
                )
            })?;
            let cur = crate::core::cert::tlsa_311(&info.der).unwrap_or_default();
            let next = if cert.is_none() {
                home.next_key_spki(&host)?
                    .map(|s| crate::core::cert::tlsa_311_spki(&s))
            } else {
                None
            };
            let tuples: Vec<(u8, u8, u8, String)> = recs
                .iter()
                .map(|r| (r.usage, r.selector, r.mtype, r.data.clone()))
                .collect();
            let v = crate::core::dane::judge(&tuples, &cur, next.as_deref());
            if json {
                print_json(&serde_json::json!({
                    "name": name,
                    "records": recs.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                    "current": v.current,
                    "next": v.next,
                    "stale": v.stale,
                    "pkix": v.pkix,
                    "other": v.other,
                }))?;
            } else {
                outln!("{name}: {} TLSA record(s) at {dns}", recs.len());
                outln!(
                    "  {} the served key's record (3 1 1 {cur})",
                    if v.current { "ok:     " } else { "MISSING:" }
                );
                match (v.next, &next) {
                    (Some(true), _) => outln!("  ok:      the next key's record: `cert renew {host} --next-key` may switch"),
                    (Some(false), Some(n)) => outln!("  waiting: the next key's record (3 1 1 {n}) is not published yet"),
                    _ => {}
                }
                for s in &v.stale {
                    outln!("  stale:   {s} (matches neither key: an old key's; remove it after two TTLs)");
                }
                for s in &v.pkix {
                    outln!("  warning: {s}: usage 0/1 (PKIX) records are unusable for SMTP (RFC 7672 §3.1.3); publish 3 1 1");
                }
                for s in &v.other {
                    outln!("  note:    {s}: not the 3 1 1 form this tool checks");
                }
                if !v.current {
                    outln!("  DANE-checking senders will not deliver to {host}: publish {name}. IN TLSA 3 1 1 {cur}");
                }
            }
            Ok(if v.ok() { 0 } else { 1 })
        }
        Command::Dane(DaneCommand::Tlsa { fqdn, port, cert }) => {
            let info = match &cert {
                Some(f) => certfiles::read_cert_file(f)?,
                None => home.host(&fqdn)?.info,
            };
            let record =
                crate::core::cert::tlsa_record(&fqdn, port, &info.der).ok_or_else(|| {
                    refused(
                        format!("cannot read the public key of {}", info.subject),
                        "check the certificate (starttls-studio show FILE)",
                    )
                })?;
            outln!("{record}");
            eprintln!(
                "for {} (serial {}, expires {}); the record changes with the key: `cert renew` makes a new key",
                info.subject, info.serial, info.not_after
            );
            Ok(0)
        }
        Command::Bundle {
            fqdn,
            out,
            p12_legacy,
            ..
        } if out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx")) =>
        {
            crate::store::p12::export_host(&home, &fqdn, &out, p12_legacy)?;
            outln!(
                "{}: {fqdn}'s key and certificate with the CA, PKCS#12 ({}), mode 0600: it holds the private key",
                out.display(),
                if p12_legacy { "3DES, HMAC-SHA1" } else { "AES-256-CBC, PBKDF2-HMAC-SHA256" }
            );
            Ok(0)
        }
        Command::Bundle {
            fqdn,
            out,
            prefix,
            csr_first,
            ..
        } => bundle_cmd(&home, &fqdn, &out, &prefix, csr_first),
        Command::Policy(PolicyCommand::Eval(p)) => access::policy_eval(p),
        Command::Rehash { dirs, old } => {
            rehash_cmd(&dirs, if old { HashKind::Old } else { HashKind::New })
        }
        Command::Completions { .. } | Command::GenerateDocs { .. } => Ok(0),
    }
}

fn print_ca(home: &Home, head: &str, info: &CertInfo) -> Result<(), Error> {
    outln!("{head}, valid until {})", info.not_after);
    outln!("  certificate: {}", home.ca_cert_path().display());
    outln!(
        "  private key: {} (mode 0400)",
        home.ca_key_path().display()
    );
    outln!("  subject hash: {}", info.subject_hash);
    outln!("  sendmail ${{cert_issuer}}: {}", info.subject_sendmail);
    Ok(())
}

fn ca(home: &Home, c: CaCommand) -> Result<i32, Error> {
    match c {
        CaCommand::Init { cn, key, days } => {
            let info = home.init_ca(&cn, key, days)?;
            print_ca(home, &format!("Created CA {} ({key}", info.subject), &info)?;
        }
        CaCommand::Import {
            cert,
            key,
            allow_insecure_key,
        } => {
            let info = home.import_ca(&cert, key.as_deref(), allow_insecure_key)?;
            print_ca(
                home,
                &format!("Imported CA {} ({}", info.subject, info.key_type),
                &info,
            )?;
        }
        CaCommand::Renew { days } => {
            let (old, new) = home.renew_ca(days)?;
            outln!(
                "Re-signed CA {} (same key and subject): valid until {} (was {}); serial {} (was {})",
                new.subject,
                new.not_after,
                old.not_after,
                new.serial,
                old.serial
            );
            outln!(
                "  certificates it issued keep verifying; the old certificate is in {}",
                home.archive_dir().display()
            );
            outln!("  installs still hold the old one: run `starttls-studio install --all` (add --restart to restart sendmail), and send partners the new CA certificate");
        }
        CaCommand::Export { out, legacy } => {
            crate::store::p12::export_ca(home, &out, legacy)?;
            outln!(
                "{}: the CA's key and certificate, encrypted with the passphrase ({}), mode 0600; restore with `starttls-studio ca import --cert {} --passphrase-file FILE`",
                out.display(),
                if legacy { "3DES, HMAC-SHA1" } else { "AES-256-CBC, PBKDF2-HMAC-SHA256" },
                out.display()
            );
        }
        CaCommand::Show { json } => {
            let Some(info) = home.ca_info()? else {
                return Err(refused(
                    format!("no CA in {}", home.root.display()),
                    "create one with `starttls-studio ca init --cn NAME`",
                ));
            };
            if json {
                print_json(&info)?;
            } else {
                print_cert_text(&info, &mut io::stdout().lock())?;
            }
        }
    }
    Ok(0)
}

#[derive(Serialize)]
struct HostJson<'a> {
    fqdn: &'a str,
    cert_path: String,
    key_path: String,
    #[serde(flatten)]
    info: &'a CertInfo,
}

fn host_json(e: &HostEntry) -> HostJson<'_> {
    HostJson {
        fqdn: &e.fqdn,
        cert_path: e.cert_path.display().to_string(),
        key_path: e.key_path.display().to_string(),
        info: &e.info,
    }
}

fn print_issued(verb: &str, r: &home::IssueReport) -> Result<(), Error> {
    let i = &r.entry.info;
    outln!(
        "{verb} {} (serial {}, {} {} bits, valid until {})",
        r.entry.fqdn,
        i.serial,
        i.key_type,
        i.key_bits,
        i.not_after
    );
    outln!("  certificate: {}", r.entry.cert_path.display());
    outln!("  private key: {} (mode 0600)", r.entry.key_path.display());
    outln!("  sendmail ${{cert_subject}}: {}", i.subject_sendmail);
    for n in &r.notes {
        outln!("  note: {n}");
    }
    Ok(())
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn cert_cmd(home: &Home, c: CertCommand) -> Result<i32, Error> {
    match c {
        CertCommand::Issue {
            fqdn,
            sans,
            key,
            days,
        } => print_issued("Issued", &home.issue(&fqdn, &sans, key, days)?)?,
        CertCommand::Renew {
            fqdn: Some(fqdn),
            next_key: true,
            check_dns,
            port,
            days,
            ..
        } => {
            let host = home.host(&fqdn)?;
            let Some(next) = home.next_key_spki(&host.fqdn)? else {
                return Err(refused(
                    format!("no next key for {}", host.fqdn),
                    format!("start with `starttls-studio dane rollover {}`, publish both records, wait two TTLs", host.fqdn),
                ));
            };
            let next_hex = crate::core::cert::tlsa_311_spki(&next);
            let name = format!("_{port}._tcp.{}", host.fqdn);
            if let Some(server) = &check_dns {
                let recs = crate::net::dns::tlsa(server, &name).map_err(|e| {
                    refused(
                        format!("asking {server} for {name} TLSA: {e}"),
                        "check the server address, or leave out --check-dns",
                    )
                })?;
                let published = recs
                    .iter()
                    .any(|r| r.usage == 3 && r.selector == 1 && r.mtype == 1 && r.data == next_hex);
                if !published {
                    return Err(refused(
                        format!(
                            "{server} does not serve the next key's record for {name} yet (it serves: {})",
                            if recs.is_empty() { "no TLSA records".to_string() } else { recs.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; ") }
                        ),
                        format!("publish {name}. IN TLSA 3 1 1 {next_hex} next to the current record, wait two TTLs, run this again; nothing was changed"),
                    ));
                }
                eprintln!("{server} serves the next key's record for {name}");
            }
            let r = home.renew_to_next_key(&fqdn, days)?;
            print_issued("Renewed with the next key", &r)?;
            eprintln!("publish now: {name}. IN TLSA 3 1 1 {next_hex}; remove the old key's record after two TTLs (senders may still hold it); then install --all --restart");
        }
        CertCommand::Renew {
            fqdn: Some(fqdn),
            key,
            days,
            reuse_key,
            ..
        } => print_issued("Renewed", &home.renew_with(&fqdn, key, days, reuse_key)?)?,
        CertCommand::Renew {
            fqdn: None,
            due,
            key,
            days,
            reuse_key,
            ..
        } => {
            let window = due.unwrap_or(0) as i64;
            let now = now_unix();
            let installed = home.installs()?;
            let (mut renewed, mut partner, mut fresh) = (0, 0, 0);
            for e in home.list()? {
                if e.info.days_left(now) >= window {
                    fresh += 1;
                    continue;
                }
                if !e.key_path.exists() {
                    partner += 1;
                    eprintln!(
                        "due: {} (expires {}), signed from a partner's request: only the partner can make a new one (bundle {} --csr-first gives it the steps); then cert sign it",
                        e.fqdn, e.info.not_after, e.fqdn
                    );
                    continue;
                }
                print_issued("Renewed", &home.renew_with(&e.fqdn, key, days, reuse_key)?)?;
                renewed += 1;
                if !installed.iter().any(|(f, _)| *f == e.fqdn) {
                    eprintln!(
                        "  {} is not installed from this home: a new bundle must reach its host (starttls-studio bundle {} --out F)",
                        e.fqdn, e.fqdn
                    );
                }
            }
            eprintln!(
                "{renewed} renewed, {partner} due but signed from partners' requests, {fresh} not due within {window} days"
            );
            if renewed > 0 {
                eprintln!("next: starttls-studio install --all --restart (each renewed host where it was installed, then sendmail restarted: it reads certificates only when it starts)");
            }
        }
        CertCommand::Revoke { fqdn } => {
            let crl = home.revoke(&fqdn)?;
            outln!("Revoked {fqdn}; CRL written to {}", crl.display());
            outln!(
                "  the certificate and key were moved to {}",
                home.archive_dir().display()
            );
        }
        CertCommand::Crl { due: None } => outln!("{}", home.write_crl()?.display()),
        CertCommand::Crl { due: Some(days) } => {
            let path = home.crl_path();
            let next = home.crl_next_update();
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            match next {
                None if !path.exists() => {
                    outln!("no CRL in {} yet: nothing to re-sign", home.root.display())
                }
                Some((t, text)) if t - now > i64::from(days) * 86_400 => {
                    outln!(
                        "{}: next update {text}, not due within {days} day(s)",
                        path.display()
                    )
                }
                _ => outln!("{} (re-signed)", home.write_crl()?.display()),
            }
        }
        CertCommand::Sign { csr, days } => {
            let data =
                crate::store::fsutil::read_limited(&csr, crate::store::fsutil::PKI_FILE_LIMIT)?;
            let r = home.sign_csr(&data, days).map_err(|e| match e {
                crate::store::Error::Pki(p) => refused(
                    format!("{}: {p}", csr.display()),
                    "nothing was signed; ask the partner for a new request",
                ),
                other => other.into(),
            })?;
            let e = &r.entry;
            eprintln!(
                "Signed {} (serial {}, expires {}): {}",
                e.info.subject,
                e.info.serial,
                e.info.not_after,
                e.cert_path.display()
            );
            for n in &r.notes {
                eprintln!("  note: {n}");
            }
            eprintln!(
                "Send the certificate below back to the partner; the key never left its host. To let exactly this certificate relay: starttls-studio access add-cert-relay --cert {} --subject",
                e.cert_path.display()
            );
            out!(
                "{}",
                std::fs::read_to_string(&e.cert_path).map_err(Error::Output)?
            );
        }
        CertCommand::List { json } => {
            let list = home.list()?;
            if json {
                print_json(&list.iter().map(host_json).collect::<Vec<_>>())?;
            } else if list.is_empty() {
                outln!(
                    "No host certificates yet; issue one with `starttls-studio cert issue FQDN`."
                );
            } else {
                let now = now_unix();
                let width = list.iter().map(|e| e.fqdn.len()).max().unwrap_or(4).max(4);
                outln!(
                    "{:width$}  {:<12} {:<20}  {:>9}  SERIAL",
                    "HOST",
                    "KEY",
                    "EXPIRES",
                    "DAYS LEFT"
                );
                for e in &list {
                    let mut key = format!("{} {}", e.info.key_type, e.info.key_bits);
                    if !e.key_path.exists() {
                        // Signed from a partner's request: the key is theirs.
                        key.push('*');
                    }
                    outln!(
                        "{:width$}  {:<12} {:<20}  {:>9}  {}",
                        e.fqdn,
                        key,
                        e.info.not_after,
                        e.info.days_left(now),
                        e.info.serial
                    );
                }
                if list.iter().any(|e| !e.key_path.exists()) {
                    outln!(
                        "* signed from a partner's request (cert sign): the partner holds the key"
                    );
                }
            }
        }
    }
    Ok(0)
}

fn print_cert_text(i: &CertInfo, out: &mut impl Write) -> io::Result<()> {
    let now = now_unix();
    let days = i.days_left(now);
    let expiry = if days < 0 {
        format!("EXPIRED {} days ago", -days)
    } else {
        format!("{days} days left")
    };
    writeln!(out, "subject:            {}", i.subject)?;
    writeln!(out, "issuer:             {}", i.issuer)?;
    writeln!(out, "sendmail subject:   {}", i.subject_sendmail)?;
    writeln!(out, "sendmail issuer:    {}", i.issuer_sendmail)?;
    writeln!(
        out,
        "subject hash:       {} (old: {})",
        i.subject_hash, i.subject_hash_old
    )?;
    writeln!(out, "issuer hash:        {}", i.issuer_hash)?;
    writeln!(out, "serial:             {}", i.serial)?;
    writeln!(
        out,
        "valid:              {} to {} ({expiry})",
        i.not_before, i.not_after
    )?;
    writeln!(
        out,
        "key:                {} {} bits",
        i.key_type, i.key_bits
    )?;
    writeln!(
        out,
        "CA:                 {}",
        if i.is_ca { "yes" } else { "no" }
    )?;
    if !i.sans.is_empty() {
        writeln!(out, "alt names:          {}", i.sans.join(", "))?;
    }
    if !i.extended_key_usage.is_empty() {
        writeln!(
            out,
            "extended key usage: {}",
            i.extended_key_usage.join(", ")
        )?;
    }
    writeln!(out, "SHA-256:            {}", i.sha256_fingerprint)
}

fn show(file: &std::path::Path, json: bool) -> Result<i32, Error> {
    let certs = certfiles::infos_in_file(file)?;
    if json {
        print_json(&certs)?;
    } else {
        let mut out = std::io::stdout().lock();
        for (n, c) in certs.iter().enumerate() {
            if certs.len() > 1 {
                writeln!(out, "--- certificate {} of {}", n + 1, certs.len())?;
            }
            print_cert_text(c, &mut out)?;
        }
    }
    Ok(0)
}

fn rehash_cmd(dirs: &[PathBuf], kind: HashKind) -> Result<i32, Error> {
    let mut status = 0;
    for dir in dirs {
        match rehash::rehash_dir(dir, kind) {
            Ok(r) => {
                for w in &r.warnings {
                    eprintln!("starttls-studio: warning: {}: {w}", dir.display());
                }
                for e in &r.errors {
                    eprintln!("starttls-studio: error: {}: {e}", dir.display());
                }
                if !r.errors.is_empty() {
                    status = 1;
                }
                outln!(
                    "{}: {} certificates, {} CRLs; links: {} created, {} replaced, {} removed, {} unchanged",
                    dir.display(),
                    r.certs,
                    r.crls,
                    r.created,
                    r.replaced,
                    r.removed,
                    r.kept
                );
            }
            Err(e) => {
                eprintln!("starttls-studio: error: skipping {}: {e}", dir.display());
                status = 1;
            }
        }
    }
    Ok(status)
}

fn install_cmd(
    home: &Home,
    fqdn: &str,
    to: &std::path::Path,
    mc: Option<&std::path::Path>,
    external: Option<&install::External>,
) -> Result<i32, Error> {
    let report = install::install_from(home, fqdn, to, external)?;
    for n in &report.plan.notes {
        eprintln!("starttls-studio: note: {n}");
    }
    let advice = crate::store::mc::advice(mc, fqdn, to);
    for d in &report.created_dirs {
        eprintln!(
            "starttls-studio: note: {} did not exist; created it (mode 0755)",
            d.display()
        );
    }
    for f in &report.plan.files {
        let state = match f.state {
            install::FileState::New => "created".to_string(),
            install::FileState::Unchanged => "unchanged".to_string(),
            install::FileState::ModeFixed { from } => format!("mode fixed (was {from:04o})"),
            install::FileState::Replaced => "replaced".to_string(),
        };
        eprintln!("  {:04o}  {}  ({state})", f.mode, f.path.display());
    }
    let r = &report.rehash;
    eprintln!(
        "  {}: {} certificates hashed ({} links created, {} removed)",
        r.dir.display(),
        r.certs,
        r.created + r.replaced,
        r.removed
    );
    let warnings = install::safety_warnings_with(&report.plan, advice.trusts_sticky);
    for w in r.warnings.iter().chain(&warnings) {
        eprintln!("starttls-studio: warning: {w}");
    }
    match &advice.mc {
        Some(p) => eprintln!(
            "Add these lines to {}, rebuild sendmail.cf and restart sendmail:",
            p.display()
        ),
        None => {
            eprintln!("Add these lines to sendmail.mc, rebuild sendmail.cf and restart sendmail:")
        }
    }
    for n in &advice.notes {
        eprintln!("  {n}");
    }
    out!("{}", advice.lines);
    if let Some(l) = install::crl_line(&report.plan) {
        out!("{l}");
    }
    Ok(if r.errors.is_empty() { 0 } else { 1 })
}

/// `install --all`: every remembered install again (only what changed is
/// rewritten).
fn install_all(home: &Home) -> Result<i32, Error> {
    let all = home.installs()?;
    if all.is_empty() {
        outln!("No installs remembered yet: `install FQDN --to DIR` records each one.");
        return Ok(0);
    }
    let mut failed = 0;
    for (fqdn, dir) in all {
        match install::install(home, &fqdn, &dir) {
            Ok(r) => {
                let changed: Vec<String> = r
                    .plan
                    .files
                    .iter()
                    .filter(|f| !matches!(f.state, install::FileState::Unchanged))
                    .map(|f| f.path.display().to_string())
                    .collect();
                if changed.is_empty() {
                    outln!("{fqdn} in {}: unchanged", dir.display());
                } else {
                    outln!("{fqdn} in {}: wrote {}", dir.display(), changed.join(", "));
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("starttls-studio: error: {fqdn} in {}: {e}", dir.display());
            }
        }
    }
    if failed == 0 {
        eprintln!("restart sendmail where something was written: it reads certificates only when it starts");
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn status_cmd(home: &Home, json: bool) -> Result<i32, Error> {
    let s = crate::store::status::status(home, now_unix())?;
    if json {
        print_json(&s)?;
    } else {
        if let Some(c) = &s.ca {
            outln!(
                "CA     {}  expires {} ({} days)",
                c.subject,
                c.not_after,
                c.days_left
            );
        }
        for h in &s.hosts {
            outln!(
                "host   {}  serial {}  expires {} ({} days){}",
                h.name,
                h.serial,
                h.not_after,
                h.days_left,
                if h.partner_key {
                    "  [partner's key]"
                } else {
                    ""
                }
            );
        }
        for i in &s.installs {
            outln!("copy   {} in {}: {}", i.fqdn, i.dir.display(), i.state);
        }
        if let Some(c) = &s.crl {
            outln!(
                "CRL    next update {} ({} days)",
                c.next_update,
                c.days_left
            );
        }
        outln!("timer  {}", s.timer.describe());
        for w in &s.warnings {
            outln!("WARNING {w}");
        }
        for p in &s.problems {
            outln!("PROBLEM {p}");
        }
    }
    Ok(if s.problems.is_empty() { 0 } else { 1 })
}

fn bundle_cmd(
    home: &Home,
    fqdn: &str,
    out: &std::path::Path,
    prefix: &std::path::Path,
    csr_first: bool,
) -> Result<i32, Error> {
    let b = crate::store::bundle::build_with(home, fqdn, prefix, csr_first)?;
    let r = crate::store::bundle::write(&b, out)?;
    for (path, mode, what) in &r.entries {
        eprintln!("  {mode:04o}  {path}  ({what})");
    }
    outln!(
        "{}: bundle of {} for {} ({})",
        r.out.display(),
        b.fqdn,
        b.prefix.display(),
        match (r.tar, csr_first) {
            (true, false) => "tar, mode 0600: it holds the private key",
            (true, true) => "tar; CSR first: no key in it, the README has the partner make one",
            (false, false) => "directory",
            (false, true) =>
                "directory; CSR first: no key in it, the README has the partner make one",
        }
    );
    Ok(0)
}
