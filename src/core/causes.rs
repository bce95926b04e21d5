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

impl Text {
    /// A cause without its texts (where they are not written).
    pub fn bare(id: &'static str) -> Text {
        Text {
            id,
            why: String::new(),
            fix: String::new(),
        }
    }
}

/// sendmail's safefile refusal: `file FILE unsafe: REASON`. `reason` is the
/// text after `unsafe: ` (`Group readable file`, `World writable
/// directory`, `Permission denied`, …).
pub fn unsafe_file(file: &str, reason: &str) -> Text {
    let id = unsafe_file_id(reason);
    let who = if reason.to_ascii_lowercase().starts_with("world") {
        "World"
    } else {
        "Group"
    };
    let (why, fix) = match id {
        "key-readable-by-others" => (
            format!("sendmail refuses a private key that anyone but its owner can read or write: it logs `STARTTLS=server: file {file} unsafe: {reason}` and silently offers no STARTTLS. Clients see no STARTTLS in the EHLO reply, so mail goes unencrypted or not at all (TLS_Srv rules)."),
            format!("chmod 600 {file} and restart sendmail (`starttls-studio doctor --fix` does the chmod)"),
        ),
        "dir-writable-by-others" => (
            format!("sendmail refuses files under a directory that others can write, because they could swap the files: it logs `unsafe: {who} writable directory` and silently offers no STARTTLS (for the access map: `unsafe map file`)."),
            format!("chmod go-w the directory on the path to {file} that others can write (`starttls-studio doctor` names it), or keep the TLS files under a directory only root can write; restart sendmail"),
        ),
        "file-writable-by-others" => (
            format!("sendmail refuses a certificate file that others can write: it logs `STARTTLS=server: file {file} unsafe: {who} writable file` and silently offers no STARTTLS."),
            format!("chmod go-w {file} and restart sendmail (`starttls-studio doctor --fix` does the chmod)"),
        ),
        "key-owner" => (
            format!("sendmail (running as root) accepts a key only when root (or the TrustedUser) owns it; otherwise it logs `STARTTLS=server: file {file} unsafe: Permission denied` and offers no STARTTLS."),
            format!("chown root:root {file} and restart sendmail"),
        ),
        "file-missing" => (
            format!("{file} does not exist; sendmail cannot load it and offers no STARTTLS."),
            "put the file there (`starttls-studio install FQDN --to DIR` writes all of them), or correct the path in sendmail.mc and rebuild sendmail.cf".into(),
        ),
        _ => (
            format!("sendmail's file-safety check refused {file} ({reason}); it does not use the file, and without it offers no STARTTLS."),
            "`starttls-studio doctor` checks the file, its owner and mode and every directory on its path".into(),
        ),
    };
    Text { id, why, fix }
}

/// `unsafe_file`'s cause alone, without its texts: the one place a
/// refusal's reason is classified.
pub fn unsafe_file_id(reason: &str) -> &'static str {
    let lower = lowered(reason);
    let has = |what: &str| lower.contains(what);
    if has("readable file") {
        "key-readable-by-others"
    } else if has("writable directory") {
        "dir-writable-by-others"
    } else if has("writable file") {
        "file-writable-by-others"
    } else if has("permission denied") || has("owner") {
        "key-owner"
    } else if has("no such file") {
        "file-missing"
    } else {
        "file-unsafe"
    }
}

/// OpenSSL could not find the certificate's issuer among the trusted CAs
/// (as opposed to a chain that ends in an untrusted root).
fn unknown_issuer(msg: &str) -> bool {
    let m = lowered(msg);
    m.contains("unable to get local issuer") || m.contains("unable to get issuer certificate")
}

/// `text` in lower case (ASCII), copied only when it has a capital.
fn lowered(text: &str) -> std::borrow::Cow<'_, str> {
    if text.bytes().any(|c| c.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(text.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(text)
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
    let whose = if side == "client" {
        "the client's"
    } else {
        "the server's"
    };
    let id = verify_failure_id(msg);
    let (why, fix): (String, String) = match id {
        "cert-untrusted" if unknown_issuer(msg) => (
            format!("{whose} certificate is from a CA that is neither in confCACERT nor linked by its subject hash in confCACERT_PATH (a link by the old hash, or a plain file without a link, does not count)."),
            "put that CA's certificate into the CA directory and link it: `starttls-studio trust add CA.pem --to DIR` (or copy it and run `starttls-studio rehash DIR`); sendmail reads the directory at each handshake".into(),
        ),
        "cert-untrusted" => (
            format!("{whose} certificate chain ends in a root CA you do not trust."),
            "if this partner should be trusted, add its root CA: `starttls-studio trust add CA.pem --to DIR`".into(),
        ),
        "cert-self-signed" => (
            format!("{whose} certificate is self-signed: no CA vouches for it."),
            "issue it a certificate from your CA (`starttls-studio cert issue`, or `cert sign` for the partner's request), or trust that very certificate as a CA (`starttls-studio trust add`)".into(),
        ),
        "crl-expired" => {
            let t = crl_expired();
            (t.why, t.fix)
        }
        "crl-missing-for-ca" => (
            "CRL checking is on (confCRL) but there is no CRL for the CA that issued this certificate, so OpenSSL fails it.".into(),
            "add that CA's CRL (the CRL file, or HASH.r0 links in the CA directory: `starttls-studio rehash DIR`), or remove confCRL".into(),
        ),
        "cert-revoked" => (
            format!("{whose} certificate is on the CA's revocation list."),
            "the certificate's owner needs a new certificate (`starttls-studio cert issue` / `cert renew`); if it was revoked by mistake, a CRL without it must be issued".into(),
        ),
        "cert-expired" => (
            format!("{whose} certificate has expired."),
            "its owner must renew it (`starttls-studio cert renew FQDN` for certificates from this CA, then a new bundle for the partner)".into(),
        ),
        "cert-not-yet-valid" => (
            format!("{whose} certificate is not valid yet: its notBefore is in the future, or one of the clocks is wrong."),
            "check both hosts' clocks (timedatectl); re-issue the certificate if its dates are wrong".into(),
        ),
        "cert-purpose" => (
            format!("{whose} certificate may not be used for this side of TLS: its extendedKeyUsage lacks {}.", if side == "client" { "clientAuth" } else { "serverAuth" }),
            "issue a certificate with both serverAuth and clientAuth (`starttls-studio cert issue` does)".into(),
        ),
        "cert-name-mismatch" => (
            format!("{whose} certificate does not name the host it was presented for."),
            "issue the certificate for the name clients use (CN and subjectAltName = the MX host name)".into(),
        ),
        "cert-signature" => (
            format!("{whose} certificate's signature does not check out against the CA of that name: a different CA with the same name, or a damaged certificate."),
            "compare the CA's fingerprint with the partner's (`starttls-studio trust list --to DIR`); two CAs with one name need an authority key identifier in the certificates".into(),
        ),
        _ => (
            format!("OpenSSL did not verify {whose} certificate: {msg}."),
            "`starttls-studio probe HOST:PORT --ca-path DIR` (or `openssl verify -CApath DIR CERT`) shows the same check step by step".into(),
        ),
    };
    Text { id, why, fix }
}

/// `verify_failure`'s cause alone, without its texts: the one place
/// OpenSSL's verification message is classified.
pub fn verify_failure_id(msg: &str) -> &'static str {
    let m = lowered(msg);
    let has = |what: &str| m.contains(what);
    // an unknown issuer, or a chain that ends in an untrusted root
    if unknown_issuer(msg)
        || has("self-signed certificate in certificate chain")
        || has("self signed certificate in certificate chain")
    {
        "cert-untrusted"
    } else if has("self-signed") || has("self signed") {
        "cert-self-signed"
    } else if has("crl has expired") {
        "crl-expired"
    } else if has("unable to get certificate crl") {
        "crl-missing-for-ca"
    } else if has("revoked") {
        "cert-revoked"
    } else if has("has expired") {
        "cert-expired"
    } else if has("not yet valid") {
        "cert-not-yet-valid"
    } else if has("unsupported certificate purpose") {
        "cert-purpose"
    } else if has("hostname mismatch") || has("does not match") {
        "cert-name-mismatch"
    } else if has("signature failure") || has("signature") {
        "cert-signature"
    } else {
        "cert-verify-failed"
    }
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
            assert_eq!(unsafe_file_id(reason), id, "{reason}");
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
            assert_eq!(verify_failure_id(msg), id, "{msg}");
        }
    }
}
