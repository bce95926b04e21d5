//! One PKI fixture builder: a home with a CA and host certificates, made by
//! the real binary (`ca init`, `cert issue`), never pasted in.

use super::{openssl, run_ok, studio};
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
    run_ok(
        openssl()
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "30",
            ])
            .args([
                "-subj",
                &format!("/O=Partner/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-keyout",
            ])
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem")),
    );
    run_ok(
        openssl()
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ])
            .args(["-subj", &format!("/CN={client}"), "-keyout"])
            .arg(p("client.key"))
            .arg("-out")
            .arg(p("client.csr")),
    );
    // With an authority key identifier, as CAs write them: OpenSSL picks
    // the right one of two same-subject CAs by it (without, it tries only
    // the first it finds by name).
    fs::write(
        p("ext"),
        "authorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run_ok(
        openssl()
            .args(["x509", "-req", "-days", "30", "-extfile"])
            .arg(p("ext"))
            .arg("-in")
            .arg(p("client.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("client.pem")),
    );
    Partner {
        ca: p("ca.pem"),
        cert: p("client.pem"),
        key: p("client.key"),
    }
}
