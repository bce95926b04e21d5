//! The explanations `doctor` and `log explain` share: one text per cause,
//! so that the finding for a file and the log line sendmail wrote about it
//! say the same thing (and a fix to a text reaches both).

/// Why and what to do, for one cause. `id` is stable: doctor's finding id
/// where doctor has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub id: &'static str,
    pub why: String,
    pub fix: String,
}

/// sendmail's safefile refusal: `file FILE unsafe: REASON`. `reason` is the
/// text after `unsafe: ` (`Group readable file`, `World writable
/// directory`, `Permission denied`, …).
pub fn unsafe_file(file: &str, reason: &str) -> Text {
    let lower = reason.to_ascii_lowercase();
    if lower.contains("readable file") {
        Text {
            id: "key-readable-by-others",
            why: format!("sendmail refuses a private key that anyone but its owner can read or write: it logs `STARTTLS=server: file {file} unsafe: {reason}` and silently offers no STARTTLS. Clients see no STARTTLS in the EHLO reply, so mail goes unencrypted or not at all (TLS_Srv rules)."),
            fix: format!("chmod 600 {file} and restart sendmail (`starttls-studio doctor --fix` does the chmod)"),
        }
    } else if lower.contains("writable directory") {
        let who = if lower.starts_with("world") {
            "World"
        } else {
            "Group"
        };
        Text {
            id: "dir-writable-by-others",
            why: format!("sendmail refuses files under a directory that others can write, because they could swap the files: it logs `unsafe: {who} writable directory` and silently offers no STARTTLS (for the access map: `unsafe map file`)."),
            fix: format!("chmod go-w the directory on the path to {file} that others can write (`starttls-studio doctor` names it), or keep the TLS files under a directory only root can write; restart sendmail"),
        }
    } else if lower.contains("writable file") {
        let who = if lower.starts_with("world") {
            "World"
        } else {
            "Group"
        };
        Text {
            id: "file-writable-by-others",
            why: format!("sendmail refuses a certificate file that others can write: it logs `STARTTLS=server: file {file} unsafe: {who} writable file` and silently offers no STARTTLS."),
            fix: format!("chmod go-w {file} and restart sendmail (`starttls-studio doctor --fix` does the chmod)"),
        }
    } else if lower.contains("permission denied") || lower.contains("owner") {
        Text {
            id: "key-owner",
            why: format!("sendmail (running as root) accepts a key only when root (or the TrustedUser) owns it; otherwise it logs `STARTTLS=server: file {file} unsafe: Permission denied` and offers no STARTTLS."),
            fix: format!("chown root:root {file} and restart sendmail"),
        }
    } else if lower.contains("no such file") {
        Text {
            id: "file-missing",
            why: format!("{file} does not exist; sendmail cannot load it and offers no STARTTLS."),
            fix: "put the file there (`starttls-studio install FQDN --to DIR` writes all of them), or correct the path in sendmail.mc and rebuild sendmail.cf".into(),
        }
    } else {
        Text {
            id: "file-unsafe",
            why: format!("sendmail's file-safety check refused {file} ({reason}); it does not use the file, and without it offers no STARTTLS."),
            fix: "`starttls-studio doctor` checks the file, its owner and mode and every directory on its path".into(),
        }
    }
}

/// A CRL past its nextUpdate (doctor's `crl-expired`, and the log's
/// `verifymsg=CRL has expired`).
pub fn crl_expired() -> Text {
    Text {
        id: "crl-expired",
        why: "With confCRL set, OpenSSL checks every client certificate against the CRL; an expired CRL fails them all (sendmail logs `reason=CRL has expired`, verify=FAIL — measured with 8.17), so TLS_Clt VERIFY rules and relaying by certificate stop working.".into(),
        fix: "re-sign it (starttls-studio cert crl), copy it where confCRL points, restart sendmail".into(),
    }
}

/// OpenSSL's verification message (sendmail's `verifymsg=`, `reason=`)
/// for a certificate that did not verify. `side` is `client` when the
/// certificate was a client's (we are the server), `server` otherwise.
pub fn verify_failure(msg: &str, side: &str) -> Text {
    let m = msg.to_ascii_lowercase();
    let whose = if side == "client" {
        "the client's"
    } else {
        "the server's"
    };
    let (id, why, fix): (&'static str, String, String) = if m.contains("unable to get local issuer")
        || m.contains("unable to get issuer certificate")
    {
        (
            "cert-untrusted",
            format!("{whose} certificate is from a CA that is neither in confCACERT nor linked by its subject hash in confCACERT_PATH (a link by the old hash, or a plain file without a link, does not count)."),
            "put that CA's certificate into the CA directory and link it: `starttls-studio trust add CA.pem --to DIR` (or copy it and run `starttls-studio rehash DIR`); sendmail reads the directory at each handshake".into(),
        )
    } else if m.contains("self-signed certificate in certificate chain")
        || m.contains("self signed certificate in certificate chain")
    {
        (
            "cert-untrusted",
            format!("{whose} certificate chain ends in a root CA you do not trust."),
            "if this partner should be trusted, add its root CA: `starttls-studio trust add CA.pem --to DIR`".into(),
        )
    } else if m.contains("self-signed") || m.contains("self signed") {
        (
            "cert-self-signed",
            format!("{whose} certificate is self-signed: no CA vouches for it."),
            "issue it a certificate from your CA (`starttls-studio cert issue`, or `cert sign` for the partner's request), or trust that very certificate as a CA (`starttls-studio trust add`)".into(),
        )
    } else if m.contains("crl has expired") {
        let t = crl_expired();
        (t.id, t.why, t.fix)
    } else if m.contains("unable to get certificate crl") {
        (
            "crl-missing-for-ca",
            "CRL checking is on (confCRL) but there is no CRL for the CA that issued this certificate, so OpenSSL fails it.".into(),
            "add that CA's CRL (the CRL file, or HASH.r0 links in the CA directory: `starttls-studio rehash DIR`), or remove confCRL".into(),
        )
    } else if m.contains("revoked") {
        (
            "cert-revoked",
            format!("{whose} certificate is on the CA's revocation list."),
            "the certificate's owner needs a new certificate (`starttls-studio cert issue` / `cert renew`); if it was revoked by mistake, a CRL without it must be issued".into(),
        )
    } else if m.contains("has expired") {
        (
            "cert-expired",
            format!("{whose} certificate has expired."),
            "its owner must renew it (`starttls-studio cert renew FQDN` for certificates from this CA, then a new bundle for the partner)".into(),
        )
    } else if m.contains("not yet valid") {
        (
            "cert-not-yet-valid",
            format!("{whose} certificate is not valid yet: its notBefore is in the future, or one of the clocks is wrong."),
            "check both hosts' clocks (timedatectl); re-issue the certificate if its dates are wrong".into(),
        )
    } else if m.contains("unsupported certificate purpose") {
        (
            "cert-purpose",
            format!("{whose} certificate may not be used for this side of TLS: its extendedKeyUsage lacks {}.", if side == "client" { "clientAuth" } else { "serverAuth" }),
            "issue a certificate with both serverAuth and clientAuth (`starttls-studio cert issue` does)".into(),
        )
    } else if m.contains("hostname mismatch") || m.contains("does not match") {
        (
            "cert-name-mismatch",
            format!("{whose} certificate does not name the host it was presented for."),
            "issue the certificate for the name clients use (CN and subjectAltName = the MX host name)".into(),
        )
    } else if m.contains("signature failure") || m.contains("signature") {
        (
            "cert-signature",
            format!("{whose} certificate's signature does not check out against the CA of that name: a different CA with the same name, or a damaged certificate."),
            "compare the CA's fingerprint with the partner's (`starttls-studio trust list --to DIR`); two CAs with one name need an authority key identifier in the certificates".into(),
        )
    } else {
        (
            "cert-verify-failed",
            format!("OpenSSL did not verify {whose} certificate: {msg}."),
            "`starttls-studio probe HOST:PORT --ca-path DIR` (or `openssl verify -CApath DIR CERT`) shows the same check step by step".into(),
        )
    };
    Text { id, why, fix }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_reasons_map_to_doctor_ids() {
        for (reason, id) in [
            ("Group readable file", "key-readable-by-others"),
            ("World readable file", "key-readable-by-others"),
            ("Group writable file", "file-writable-by-others"),
            ("World writable directory", "dir-writable-by-others"),
            ("Permission denied", "key-owner"),
            ("No such file or directory", "file-missing"),
            ("something new", "file-unsafe"),
        ] {
            assert_eq!(unsafe_file("/k", reason).id, id, "{reason}");
        }
    }

    #[test]
    fn verify_messages() {
        for (msg, id) in [
            ("unable to get local issuer certificate", "cert-untrusted"),
            ("self-signed certificate", "cert-self-signed"),
            (
                "self signed certificate in certificate chain",
                "cert-untrusted",
            ),
            ("certificate has expired", "cert-expired"),
            ("CRL has expired", "crl-expired"),
            ("certificate revoked", "cert-revoked"),
            ("unable to get certificate CRL", "crl-missing-for-ca"),
            ("certificate is not yet valid", "cert-not-yet-valid"),
            ("what", "cert-verify-failed"),
        ] {
            assert_eq!(verify_failure(msg, "client").id, id, "{msg}");
        }
    }
}
