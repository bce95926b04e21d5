//! `status`: every certificate of the home over time — the CA, the hosts,
//! each installed copy (does it match the home's?), the CRL's nextUpdate —
//! with a verdict a monitoring check can use (exit 1 when something is
//! expired or out of date).

use super::certfiles;
use super::home::Home;
use super::Error;
use crate::core::cert::CertInfo;
use serde::Serialize;
use std::path::PathBuf;

/// How early the CA's own expiry is a warning.
const CA_WARN_DAYS: i64 = 365;
/// Under this many days left, a certificate is reported as expiring.
pub const WARN_DAYS: i64 = 30;

#[derive(Debug, Clone, Serialize)]
pub struct Cert {
    pub name: String,
    pub subject: String,
    pub serial: String,
    pub not_after: String,
    pub days_left: i64,
    /// Signed from a partner's request: the key is the partner's.
    pub partner_key: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub fqdn: String,
    pub dir: PathBuf,
    /// `current`, `out of date`, `missing`, or `not in the home`.
    pub state: &'static str,
    pub installed_serial: Option<String>,
    pub days_left: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Crl {
    pub path: PathBuf,
    pub next_update: String,
    pub days_left: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub ca: Option<Cert>,
    pub hosts: Vec<Cert>,
    pub installs: Vec<Installed>,
    pub crl: Option<Crl>,
    /// Expired or out of date: the exit status is 1.
    pub problems: Vec<String>,
    /// Expiring within [`WARN_DAYS`].
    pub warnings: Vec<String>,
    /// The unattended renewal.
    pub timer: super::timer::TimerState,
}

fn cert(name: &str, i: &CertInfo, now: i64, partner_key: bool) -> Cert {
    Cert {
        name: name.to_string(),
        subject: i.subject.clone(),
        serial: i.serial.clone(),
        not_after: i.not_after.clone(),
        days_left: i.days_left(now),
        partner_key,
    }
}

pub fn status(home: &Home, now: i64) -> Result<Status, Error> {
    let mut s = Status {
        ca: None,
        hosts: Vec::new(),
        installs: Vec::new(),
        crl: None,
        problems: Vec::new(),
        warnings: Vec::new(),
        timer: super::timer::state(home),
    };
    let judge = |what: String, days: i64, s: &mut Status| {
        if days < 0 {
            s.problems
                .push(format!("{what} expired {} day(s) ago", -days));
        } else if days < WARN_DAYS {
            s.warnings.push(format!("{what} expires in {days} day(s)"));
        }
    };
    if let Some(ca) = home.ca_info()? {
        let days = ca.days_left(now);
        // A CA's replacement reaches every partner slowly: a year ahead.
        if (WARN_DAYS..CA_WARN_DAYS).contains(&days) {
            s.warnings.push(format!(
                "the CA {} expires in {days} day(s): re-sign it now (starttls-studio ca renew: same key and subject, issued certificates keep verifying), then install --all and send partners the new CA certificate",
                ca.subject
            ));
        }
        judge(format!("the CA {}", ca.subject), days, &mut s);
        s.ca = Some(cert("CA", &ca, now, false));
    }
    let hosts = home.list()?;
    for h in &hosts {
        let partner = !h.key_path.exists();
        judge(
            format!("{}{}", h.fqdn, if partner { " (a partner's)" } else { "" }),
            h.info.days_left(now),
            &mut s,
        );
        s.hosts.push(cert(&h.fqdn, &h.info, now, partner));
    }
    for (fqdn, dir) in home.installs()? {
        let path = dir.join(format!("{fqdn}.crt"));
        let home_cert = hosts.iter().find(|h| h.fqdn == fqdn);
        let copy = certfiles::read_cert_file(&path).ok();
        let (state, serial, days) = match (&copy, home_cert) {
            (None, _) => ("missing", None, None),
            (Some(c), None) => (
                "not in the home",
                Some(c.serial.clone()),
                Some(c.days_left(now)),
            ),
            (Some(c), Some(h)) if c.der == h.info.der => {
                ("current", Some(c.serial.clone()), Some(c.days_left(now)))
            }
            (Some(c), Some(_)) => (
                "out of date",
                Some(c.serial.clone()),
                Some(c.days_left(now)),
            ),
        };
        match state {
            "missing" => s.problems.push(format!("{} is missing (installed there before)", path.display())),
            "out of date" => s.problems.push(format!(
                "{} is out of date: the home has a newer certificate (starttls-studio install --all)",
                path.display()
            )),
            _ => {}
        }
        if let (Some(d), true) = (days, state != "out of date") {
            if d < 0 {
                s.problems
                    .push(format!("{} expired {} day(s) ago", path.display(), -d));
            }
        }
        s.installs.push(Installed {
            fqdn,
            dir,
            state,
            installed_serial: serial,
            days_left: days,
        });
    }
    if let Some((t, text)) = home.crl_next_update() {
        let days = (t - now).div_euclid(86_400);
        if t < now {
            s.problems.push(format!(
                    "the CRL {} is past its nextUpdate ({text}): with confCRL set, OpenSSL fails every client certificate (`CRL has expired`, verify=FAIL); re-sign it (starttls-studio cert crl)",
                    home.crl_path().display()
                ));
        } else if days < 7 {
            s.warnings.push(format!("the CRL's nextUpdate is in {days} day(s) ({text}): re-sign it (starttls-studio cert crl)"));
        }
        s.crl = Some(Crl {
            path: home.crl_path(),
            next_update: text,
            days_left: days,
        });
    }
    Ok(s)
}
