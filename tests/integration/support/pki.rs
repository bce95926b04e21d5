//! One PKI fixture builder: a home with a CA and host certificates, made by
//! the real binary (`ca init`, `cert issue`), never pasted in.

use super::{run_ok, studio};
use std::path::Path;

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
