//! The CA's own life: `ca renew` re-signs the CA certificate with the same
//! key, subject and key identifier — `openssl verify` accepts certificates
//! issued before and after with either the old or the new CA certificate —
//! for every key kind; `status` warns a year ahead.

use crate::support::{openssl, run, run_ok, studio, tempdir};
use std::fs;
use std::path::Path;

fn x509(f: &Path, what: &str) -> String {
    run_ok(openssl().args(["x509", "-noout", what, "-in"]).arg(f))
}

#[test]
fn ca_renew_keeps_every_issued_certificate_verifying() {
    for kind in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa2048"] {
        let dir = tempdir();
        let home = dir.path().join("home");
        run_ok(studio(&home).args([
            "ca",
            "init",
            "--cn",
            "Life Test CA",
            "--key",
            kind,
            "--days",
            "200",
        ]));
        run_ok(studio(&home).args(["cert", "issue", "before.example.org", "--key", "ecdsa-p256"]));
        let ca = home.join("ca/ca.crt");
        let old = dir.path().join("old-ca.crt");
        fs::copy(&ca, &old).unwrap();
        // a year ahead, status says so (and is not a problem)
        let st: serde_json::Value =
            serde_json::from_slice(&run(studio(&home).args(["status", "--json"])).stdout).unwrap();
        assert!(
            st["warnings"].to_string().contains("ca renew"),
            "{kind}: {st}"
        );
        let said = run_ok(studio(&home).args(["ca", "renew", "--days", "3650"]));
        assert!(said.contains("same key and subject"), "{said}");
        run_ok(studio(&home).args(["cert", "issue", "after.example.org", "--key", "ecdsa-p256"]));
        for what in ["-subject", "-pubkey", "-ext"] {
            let (a, b) = if what == "-ext" {
                (
                    run_ok(
                        openssl()
                            .args([
                                "x509",
                                "-noout",
                                "-ext",
                                "subjectKeyIdentifier,basicConstraints,keyUsage",
                                "-in",
                            ])
                            .arg(&old),
                    ),
                    run_ok(
                        openssl()
                            .args([
                                "x509",
                                "-noout",
                                "-ext",
                                "subjectKeyIdentifier,basicConstraints,keyUsage",
                                "-in",
                            ])
                            .arg(&ca),
                    ),
                )
            } else {
                (x509(&old, what), x509(&ca, what))
            };
            assert_eq!(a, b, "{kind}: {what}");
        }
        assert_ne!(x509(&old, "-serial"), x509(&ca, "-serial"), "{kind}");
        assert_ne!(x509(&old, "-enddate"), x509(&ca, "-enddate"), "{kind}");
        // self-signed and valid as OpenSSL sees it
        run_ok(openssl().args(["verify", "-CAfile"]).arg(&ca).arg(&ca));
        for host in ["before", "after"] {
            let cert = home.join(format!("hosts/{host}.example.org.crt"));
            for anchor in [&old, &ca] {
                run_ok(openssl().args(["verify", "-CAfile"]).arg(anchor).arg(&cert));
            }
        }
        let archived: Vec<_> = fs::read_dir(home.join("archive"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        assert!(
            archived.iter().any(|n| n.starts_with("ca-")),
            "{archived:?}"
        );
        let st: serde_json::Value =
            serde_json::from_slice(&run(studio(&home).args(["status", "--json"])).stdout).unwrap();
        assert!(
            !st["warnings"].to_string().contains("ca renew"),
            "{kind}: {st}"
        );
    }
}
