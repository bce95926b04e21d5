//! DANE for SMTP (RFC 7672): what a published TLSA set says about the key
//! a host serves and the key it will switch to.

/// A published set, judged.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// A `3 1 1` record for the key served now.
    pub current: bool,
    /// A `3 1 1` record for the next key (when a rollover is under way).
    pub next: Option<bool>,
    /// `3 1 1` records for neither key (an old key's, or a mistake).
    pub stale: Vec<String>,
    /// Usage 0 or 1 (PKIX-TA/PKIX-EE): RFC 7672 §3.1.3 — SMTP clients
    /// treat them as unusable; with a private CA they never match.
    pub pkix: Vec<String>,
    /// Other forms (`3 0 1`, `2 …`, SHA-512): reported, not judged.
    pub other: Vec<String>,
}

impl Verdict {
    /// Whether a DANE-checking sender can deliver: the served key's record
    /// is there.
    pub fn ok(&self) -> bool {
        self.current
    }
}

/// Judges `records` (usage, selector, mtype, hex data) against the served
/// key's and the next key's `3 1 1` data.
pub fn judge(records: &[(u8, u8, u8, String)], current: &str, next: Option<&str>) -> Verdict {
    let mut v = Verdict {
        next: next.map(|_| false),
        ..Verdict::default()
    };
    for (u, s, m, d) in records {
        let text = format!("{u} {s} {m} {d}");
        let d = d.to_ascii_lowercase();
        match (u, s, m) {
            (3, 1, 1) if d == current => v.current = true,
            (3, 1, 1) if Some(d.as_str()) == next => v.next = Some(true),
            (3, 1, 1) => v.stale.push(text),
            (0 | 1, _, _) => v.pkix.push(text),
            _ => v.other.push(text),
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets() {
        let r = |u, d: &str| (u, 1, 1, d.to_string());
        let v = judge(
            &[r(3, "aa"), r(3, "BB"), r(3, "cc"), r(1, "dd")],
            "aa",
            Some("bb"),
        );
        assert!(v.ok() && v.next == Some(true));
        assert_eq!(v.stale, ["3 1 1 cc"]);
        assert_eq!(v.pkix, ["1 1 1 dd"]);
        let v = judge(&[r(3, "cc")], "aa", None);
        assert!(!v.ok() && v.next.is_none() && v.stale.len() == 1);
    }
}
