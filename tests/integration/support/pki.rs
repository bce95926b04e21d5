//! One PKI fixture builder: a home with a CA and host certificates, made by
//! the real binary (`ca init`, `cert issue`), never pasted in.

use super::{openssl, run_ok, studio};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

/// What to make: `Pki::new(home).host("mx.studio.test").make()`.
pub struct Pki<'a> {
    home: &'a Path,
    ca_cn: String,
    ca_args: Vec<String>,
    hosts: Vec<(String, Option<String>)>,
}

impl<'a> Pki<'a> {
    /// A CA named "Studio Test CA" with an ECDSA P-256 key (quick to make).
    pub fn new(home: &'a Path) -> Pki<'a> {
        Pki {
            home,
            ca_cn: "Studio Test CA".into(),
            ca_args: vec!["--key".into(), "ecdsa-p256".into()],
            hosts: Vec::new(),
        }
    }

    /// Another name for the CA.
    pub fn ca_name(mut self, cn: &str) -> Self {
        self.ca_cn = cn.into();
        self
    }

    /// `ca init` options instead of `--key ecdsa-p256`.
    pub fn ca_args(mut self, args: &[&str]) -> Self {
        self.ca_args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// A host certificate with the default key kind (RSA 2048).
    pub fn host(mut self, fqdn: &str) -> Self {
        self.hosts.push((fqdn.into(), None));
        self
    }

    /// A host certificate with an ECDSA P-256 key.
    pub fn ecdsa_host(mut self, fqdn: &str) -> Self {
        self.hosts.push((fqdn.into(), Some("ecdsa-p256".into())));
        self
    }

    /// Runs the commands; panics (with their output) if one fails.
    pub fn make(self) {
        run_ok(
            studio(self.home)
                .args(["ca", "init", "--cn", &self.ca_cn])
                .args(&self.ca_args),
        );
        for (fqdn, key) in &self.hosts {
            let mut c = studio(self.home);
            c.args(["cert", "issue", fqdn]);
            if let Some(k) = key {
                c.args(["--key", k]);
            }
            run_ok(&mut c);
        }
    }
}

/// A partner PKI made with openssl (not by us): A CA (CN `cn`, its own key) and one client certificate it issued.
pub struct Partner {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn partner(dir: &Path, tag: &str, cn: &str, client: &str) -> Partner {
    fs::create_dir_all(dir).unwrap();
    let p = |n: &str| dir.join(format!("{tag}-{n}"));
    openssl_ec_ca(
        &p("ca.key"),
        &p("ca.pem"),
        &format!("/O=Partner/CN={cn}"),
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    openssl_ec_request(
        &p("client.key"),
        &p("client.csr"),
        &format!("/CN={client}"),
        &[],
    );
    // With an authority key identifier, as CAs write them: OpenSSL picks
    // the right one of two same-subject CAs by it (without, it tries only
    // the first it finds by name).
    fs::write(
        p("ext"),
        "authorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl_sign(
        &p("client.csr"),
        (&p("ca.pem"), &p("ca.key")),
        &p("client.pem"),
        ["-extfile".as_ref(), p("ext").as_os_str()],
    );
    Partner {
        ca: p("ca.pem"),
        cert: p("client.pem"),
        key: p("client.key"),
    }
}

/// openssl makes a CA of its own (not ours): a new unencrypted P-256 key
/// at `key` and its self-signed certificate at `crt` for `subj`, valid 30
/// days; `extra` adds `openssl req` options (`-addext …`).
pub fn openssl_ec_ca(key: &Path, crt: &Path, subj: &str, extra: &[&str]) {
    run_ok(
        openssl()
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "30", "-subj", subj])
            .args(extra)
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(crt),
    );
}

/// openssl makes a request: a new unencrypted P-256 key at `key` (or
/// /dev/null) and the request for `subj` at `csr`; `extra` adds `openssl
/// req` options (`-addext subjectAltName=…`).
pub fn openssl_ec_request(key: &Path, csr: &Path, subj: &str, extra: &[&str]) {
    run_ok(
        openssl()
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-subj", subj])
            .args(extra)
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(csr),
    );
}

/// openssl's CA (`ca`: certificate and key) signs `csr` into `out`, valid
/// 30 days; `extra` adds `openssl x509` options (`-extfile F`, a serial).
pub fn openssl_sign<I, S>(csr: &Path, ca: (&Path, &Path), out: &Path, extra: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_ok(
        openssl()
            .args(["x509", "-req", "-days", "30", "-in"])
            .arg(csr)
            .arg("-CA")
            .arg(ca.0)
            .arg("-CAkey")
            .arg(ca.1)
            .args(extra)
            .arg("-out")
            .arg(out),
    );
}
