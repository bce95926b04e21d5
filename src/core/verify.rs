//! `${verify}`: what sendmail records about the peer's certificate, spelled
//! as sendmail spells it (docs/sendmail.md §1).

use serde::Serialize;
use std::fmt;

/// The value of `${verify}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verify {
    /// Server side, no STARTTLS in this session: the macro is empty (not
    /// `NONE`).
    #[default]
    #[serde(rename = "")]
    Unset,
    /// A certificate was presented and verified against the CAs.
    Ok,
    /// The server asked for a certificate and the client sent none.
    No,
    /// No certificate was asked for.
    Not,
    /// A certificate was presented but did not verify.
    Fail,
    /// Client side: STARTTLS not offered, or refused with 5xx.
    None,
    /// Client side: STARTTLS answered with 4xx.
    Temp,
    /// Client side: any other reply to STARTTLS.
    Protocol,
    /// The TLS handshake failed.
    Software,
    /// Counts as `OK` everywhere (from the cf).
    Trusted,
    Clear,
    Config,
    DaneFail,
}

impl Verify {
    pub const ALL: [Verify; 13] = [
        Verify::Unset,
        Verify::Ok,
        Verify::No,
        Verify::Not,
        Verify::Fail,
        Verify::None,
        Verify::Temp,
        Verify::Protocol,
        Verify::Software,
        Verify::Trusted,
        Verify::Clear,
        Verify::Config,
        Verify::DaneFail,
    ];

    /// sendmail's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verify::Unset => "",
            Verify::Ok => "OK",
            Verify::No => "NO",
            Verify::Not => "NOT",
            Verify::Fail => "FAIL",
            Verify::None => "NONE",
            Verify::Temp => "TEMP",
            Verify::Protocol => "PROTOCOL",
            Verify::Software => "SOFTWARE",
            Verify::Trusted => "TRUSTED",
            Verify::Clear => "CLEAR",
            Verify::Config => "CONFIG",
            Verify::DaneFail => "DANE_FAIL",
        }
    }

    /// What the value means, in a few words (the Decisions view, `log
    /// explain`).
    pub fn meaning(self) -> &'static str {
        match self {
            Verify::Unset => "no STARTTLS in this session",
            Verify::Ok => "the certificate verified",
            Verify::No => "no certificate presented",
            Verify::Not => "no certificate asked for",
            Verify::Fail => "a certificate that did not verify",
            Verify::None => "no STARTTLS",
            Verify::Temp => "temporary failure",
            Verify::Protocol => "protocol error",
            Verify::Software => "the handshake failed",
            Verify::Trusted => "trusted by the configuration (counts as OK)",
            Verify::Clear => "STARTTLS disabled locally",
            Verify::Config => "the TLS configuration is broken",
            Verify::DaneFail => "the DANE check failed",
        }
    }

    /// The value sendmail spells `s`, if it is one.
    pub fn parse(s: &str) -> Option<Verify> {
        Verify::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Compares with sendmail's spelling: `verify == "OK"`.
impl PartialEq<&str> for Verify {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Verify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelled_as_sendmail_spells_it() {
        for v in Verify::ALL {
            assert_eq!(Verify::parse(v.as_str()), Some(v));
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.as_str())
            );
        }
        assert_eq!(Verify::parse("ok"), None);
    }
}
