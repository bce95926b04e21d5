//! The TLS settings of a sendmail configuration, read from `sendmail.mc`
//! (the m4 source) and `sendmail.cf` (what sendmail actually reads).
//!
//! Only what `doctor` needs: the `confCACERT*`/`conf*_CERT`/`conf*_KEY`/
//! `confCRL` definitions and their `O CACertPath=`… counterparts,
//! `DontBlameSendmail`, `TrustedUser`, `confDH_PARAMETERS`,
//! `confTLS_SRV_OPTIONS` and where the access map is. The mc is read with
//! [`crate::core::m4`], in the order m4 reads it (includes where they
//! stand, `defn` appends, conditionals).

use crate::core::m4;

/// The settings the doctor looks at. `None` = not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TlsSettings {
    pub ca_file: Option<String>,
    pub ca_path: Option<String>,
    pub server_cert: Option<String>,
    pub server_key: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub crl: Option<String>,
    /// `confDH_PARAMETERS` (`DHParameters`): a file, or `none`, `i`, `1`,
    /// `2`, `5`, `512`, `1024`, `2048`.
    pub dh_params: Option<String>,
    /// `confTLS_SRV_OPTIONS` (`TLSSrvOptions`): `V` = do not ask clients
    /// for a certificate.
    pub tls_srv_options: Option<String>,
    /// `DontBlameSendmail` flags, as written (sendmail compares them
    /// case-insensitively).
    pub dont_blame: Vec<String>,
    pub trusted_user: Option<String>,
    /// The access map source file (the `.db` is this name plus `.db` for
    /// the `hash` and `btree` types).
    pub access: Option<String>,
    /// The access map's type (`hash`, `btree`, `dbm`, …).
    pub access_type: Option<String>,
}

/// One setting: the m4 name, the cf option name, and the field.
struct Setting {
    m4: &'static str,
    cf: &'static str,
    get: fn(&mut TlsSettings) -> &mut Option<String>,
}

const SETTINGS: &[Setting] = &[
    Setting {
        m4: "confCACERT",
        cf: "CACertFile",
        get: |s| &mut s.ca_file,
    },
    Setting {
        m4: "confCACERT_PATH",
        cf: "CACertPath",
        get: |s| &mut s.ca_path,
    },
    Setting {
        m4: "confSERVER_CERT",
        cf: "ServerCertFile",
        get: |s| &mut s.server_cert,
    },
    Setting {
        m4: "confSERVER_KEY",
        cf: "ServerKeyFile",
        get: |s| &mut s.server_key,
    },
    Setting {
        m4: "confCLIENT_CERT",
        cf: "ClientCertFile",
        get: |s| &mut s.client_cert,
    },
    Setting {
        m4: "confCLIENT_KEY",
        cf: "ClientKeyFile",
        get: |s| &mut s.client_key,
    },
    Setting {
        m4: "confCRL",
        cf: "CRLFile",
        get: |s| &mut s.crl,
    },
    Setting {
        m4: "confDH_PARAMETERS",
        cf: "DHParameters",
        get: |s| &mut s.dh_params,
    },
    Setting {
        m4: "confTLS_SRV_OPTIONS",
        cf: "TLSSrvOptions",
        get: |s| &mut s.tls_srv_options,
    },
    Setting {
        m4: "confTRUSTED_USER",
        cf: "TrustedUser",
        get: |s| &mut s.trusted_user,
    },
];

/// The name of a setting in `sendmail.mc` and in `sendmail.cf`, for messages.
pub fn setting_names(field: &str) -> (&'static str, &'static str) {
    match field {
        "ca_file" => ("confCACERT", "CACertFile"),
        "ca_path" => ("confCACERT_PATH", "CACertPath"),
        "server_cert" => ("confSERVER_CERT", "ServerCertFile"),
        "server_key" => ("confSERVER_KEY", "ServerKeyFile"),
        "client_cert" => ("confCLIENT_CERT", "ClientCertFile"),
        "client_key" => ("confCLIENT_KEY", "ClientKeyFile"),
        "crl" => ("confCRL", "CRLFile"),
        "dh_params" => ("confDH_PARAMETERS", "DHParameters"),
        _ => ("", ""),
    }
}

/// What a `sendmail.mc` says once m4 has read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McFile {
    pub settings: TlsSettings,
    /// Every `include`/`sinclude` m4 reached (also those of included
    /// files), in order, and whether it could be read.
    pub includes: Vec<(String, bool)>,
    /// The names given to `FEATURE`, in order (`access_db`, `greet_pause`…).
    pub features: Vec<String>,
    /// What m4 did, with the top-level line each came from.
    pub events: Vec<m4::Event>,
    /// The reader gave up (too deep or too long); the settings are partial.
    pub truncated: bool,
}

/// Splits a `DontBlameSendmail` value into its flags.
fn blame_flags(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// The access map from a `K` line's or `FEATURE(access_db)`'s map spec:
/// `hash -T<TMPF> -o /etc/mail/access` → (`hash`, `/etc/mail/access`).
fn map_spec(spec: &str) -> (Option<String>, Option<String>) {
    let mut words = spec.split_whitespace();
    let kind = words.next().map(str::to_string);
    let path = words.rfind(|w| !w.starts_with('-')).map(str::to_string);
    (kind, path)
}

/// Reads a `sendmail.mc` the way m4 does; `read` returns the text of an
/// included file (or `None`: missing, unreadable, or not to be read).
pub fn evaluate_mc(text: &str, read: &mut dyn FnMut(&str) -> Option<String>) -> McFile {
    let mut m = m4::M4::new(read);
    m.run(text);
    let mut out = McFile {
        events: std::mem::take(&mut m.events),
        truncated: m.truncated,
        ..McFile::default()
    };
    let s = &mut out.settings;
    for set in SETTINGS {
        if let Some(v) = m.value(set.m4) {
            let v = v.trim().to_string();
            *(set.get)(s) = (!v.is_empty()).then_some(v);
        }
    }
    if let Some(v) = m.value("confDONT_BLAME_SENDMAIL") {
        s.dont_blame = blame_flags(&v);
    }
    for e in &out.events {
        match &e.kind {
            m4::EventKind::Include { path, read } => out.includes.push((path.clone(), *read)),
            m4::EventKind::Feature { args } => {
                let Some(name) = args.first() else { continue };
                out.features.push(name.clone());
                if name == "access_db" {
                    match args.get(1).map(|a| a.trim()).filter(|a| !a.is_empty()) {
                        Some(spec) => {
                            let (kind, path) = map_spec(spec);
                            s.access_type = kind;
                            s.access = path;
                        }
                        None => {
                            // cf/feature/access_db.m4: DATABASE_MAP_TYPE
                            // (hash) and MAIL_SETTINGS_DIR`access'.
                            s.access_type = Some("hash".into());
                            s.access = Some("/etc/mail/access".into());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Reads a `sendmail.mc` without its includes.
pub fn parse_mc(text: &str) -> McFile {
    evaluate_mc(text, &mut |_| None)
}

impl McFile {
    /// True when `FEATURE(name)` is used.
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.iter().any(|f| f == name)
    }

    /// The top-level lines that define or undefine `names`, or include a
    /// file that does, in order (where each statement starts).
    pub fn lines_touching(&self, names: &[&str]) -> Vec<usize> {
        self.statements_touching(names)
            .into_iter()
            .map(|(l, _)| l)
            .collect()
    }

    /// Like [`McFile::lines_touching`], with the line each statement ends on.
    pub fn statements_touching(&self, names: &[&str]) -> Vec<(usize, usize)> {
        let mut v: Vec<(usize, usize)> = self
            .events
            .iter()
            .filter(|e| match &e.kind {
                m4::EventKind::Define { name, .. } | m4::EventKind::Undefine { name } => {
                    names.contains(&name.as_str())
                }
                _ => false,
            })
            .map(|e| (e.line, e.end_line))
            .collect();
        v.dedup();
        v
    }
}

/// Reads the TLS settings of a `sendmail.cf`: `O Name=value` lines and the
/// `Kaccess` map definition.
pub fn parse_cf(text: &str) -> TlsSettings {
    let mut s = TlsSettings::default();
    for line in text.lines() {
        if let Some(opt) = line.strip_prefix("O ") {
            let Some((name, value)) = opt.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("DontBlameSendmail") {
                s.dont_blame = blame_flags(value);
            } else if let Some(set) = SETTINGS.iter().find(|x| x.cf.eq_ignore_ascii_case(name)) {
                *(set.get)(&mut s) = (!value.is_empty()).then(|| value.to_string());
            }
        } else if let Some(spec) = line.strip_prefix("Kaccess") {
            if spec.starts_with([' ', '\t']) {
                let (kind, path) = map_spec(spec);
                s.access_type = kind;
                s.access = path;
            }
        }
    }
    s
}

impl TlsSettings {
    /// Every file setting with its field name, in a fixed order.
    pub fn files(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("ca_file", &self.ca_file),
            ("ca_path", &self.ca_path),
            ("server_cert", &self.server_cert),
            ("server_key", &self.server_key),
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
            ("crl", &self.crl),
            ("access", &self.access),
        ]
    }

    /// True when `flag` is among the `DontBlameSendmail` flags.
    pub fn blames(&self, flag: &str) -> bool {
        self.dont_blame.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mc_defines() {
        let mc = "divert(-1)dnl\n\
            dnl define(`confCACERT', `/nope')dnl\n\
            # define(`confCACERT', `/nope2')\n\
            define(`confCACERT_PATH', `/etc/mail/tls/certs')dnl\n\
            define(`confCACERT', `/etc/mail/tls/CAcert.pem')dnl   dnl trusted\n\
            define(confSERVER_CERT, /etc/mail/tls/mx.crt)dnl\n\
            define(`confSERVER_KEY',`/etc/mail/tls/mx.key')dnl\n\
            define(`confCLIENT_KEY', `/x')dnl\nundefine(`confCLIENT_KEY')dnl\n\
            define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit,GroupReadableKeyFile')dnl\n\
            FEATURE(`access_db', `hash -T<TMPF> -o /var/mail/acc')dnl\n\
            include(`/etc/mail/tls/starttls.m4')dnl\n";
        let m = parse_mc(mc);
        let s = &m.settings;
        assert_eq!(s.ca_path.as_deref(), Some("/etc/mail/tls/certs"));
        assert_eq!(s.ca_file.as_deref(), Some("/etc/mail/tls/CAcert.pem"));
        assert_eq!(s.server_cert.as_deref(), Some("/etc/mail/tls/mx.crt"));
        assert_eq!(s.server_key.as_deref(), Some("/etc/mail/tls/mx.key"));
        assert_eq!(s.client_key, None);
        assert!(s.blames("groupreadablekeyfile") && s.blames("TrustStickyBit"));
        assert_eq!(s.access.as_deref(), Some("/var/mail/acc"));
        assert_eq!(s.access_type.as_deref(), Some("hash"));
        assert_eq!(
            m.includes,
            vec![("/etc/mail/tls/starttls.m4".to_string(), false)]
        );
        let d = parse_mc("FEATURE(`access_db')dnl\n");
        assert_eq!(d.settings.access.as_deref(), Some("/etc/mail/access"));
    }

    #[test]
    fn cf_options() {
        let cf = "O DontBlameSendmail=TrustStickyBit\n\
            #O CACertFile=/nope\n\
            Kaccess hash -T<TMPF> /tmp/sm/access\n\
            O CACertPath=/tmp/sm/tls/certs\n\
            O CACertFile=/tmp/sm/tls/CAcert.pem\n\
            O ServerCertFile=/tmp/sm/tls/host.crt\n\
            O ServerKeyFile=/tmp/sm/tls/host.key\n\
            O ClientCertFile=/tmp/sm/tls/host.crt\n\
            O ClientKeyFile=/tmp/sm/tls/host.key\n\
            #O CRLFile=/etc/mail/crl\n\
            O TrustedUser=smmta\n";
        let s = parse_cf(cf);
        assert_eq!(s.ca_file.as_deref(), Some("/tmp/sm/tls/CAcert.pem"));
        assert_eq!(s.ca_path.as_deref(), Some("/tmp/sm/tls/certs"));
        assert_eq!(s.client_key.as_deref(), Some("/tmp/sm/tls/host.key"));
        assert_eq!(s.crl, None);
        assert_eq!(s.access.as_deref(), Some("/tmp/sm/access"));
        assert_eq!(s.trusted_user.as_deref(), Some("smmta"));
        assert_eq!(s.dont_blame, vec!["TrustStickyBit".to_string()]);
    }

    #[test]
    fn include_order_and_append() {
        let starttls = "define(`confDONT_BLAME_SENDMAIL',dnl\n\tdefn(`confDONT_BLAME_SENDMAIL')`,GroupReadableKeyFile')dnl\n\
            define(`confCACERT', `/inc')dnl\ndefine(`confCACERT_PATH', `/incpath')dnl\n";
        let mc = "define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl\n\
            define(`confCACERT_PATH', `/before')dnl\n\
            include(`/etc/mail/tls/starttls.m4')dnl\n\
            define(`confCACERT', `/after')dnl\n";
        let m = evaluate_mc(mc, &mut |p| {
            (p == "/etc/mail/tls/starttls.m4").then(|| starttls.to_string())
        });
        let s = &m.settings;
        assert_eq!(s.ca_file.as_deref(), Some("/after"));
        assert_eq!(s.ca_path.as_deref(), Some("/incpath"));
        assert!(s.blames("TrustStickyBit") && s.blames("GroupReadableKeyFile"));
        assert_eq!(m.lines_touching(&["confCACERT_PATH"]), vec![2, 3]);
    }
}
