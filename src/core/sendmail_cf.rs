//! The TLS settings of a sendmail configuration, read from `sendmail.mc`
//! (the m4 source) and `sendmail.cf` (what sendmail actually reads).
//!
//! Only what `doctor` needs: the `confCACERT*`/`conf*_CERT`/`conf*_KEY`/
//! `confCRL` definitions and their `O CACertPath=`… counterparts,
//! `DontBlameSendmail`, `TrustedUser`, and where the access map is. This
//! is not an m4 interpreter: `define` lines are read as written (last one
//! wins, `undefine` clears), `dnl` and `#` lines are skipped, conditionals
//! are not evaluated.

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
        _ => ("", ""),
    }
}

/// What a `sendmail.mc` says, plus the files it `include`s (the caller may
/// read them and merge with [`McFile::merge_into`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McFile {
    pub settings: TlsSettings,
    /// The files named by `include`/`sinclude`, in order.
    pub includes: Vec<String>,
}

/// Removes one level of m4 quotes (`` `x' ``) and surrounding blanks.
fn unquote(s: &str) -> String {
    let t = s.trim();
    let t = t.strip_prefix('`').unwrap_or(t);
    let t = t.strip_suffix('\'').unwrap_or(t);
    t.trim().to_string()
}

/// Splits the arguments of an m4 call starting after `(`: returns the
/// arguments and whether the closing `)` was found. Commas inside quotes
/// do not split.
fn m4_args(s: &str) -> (Vec<String>, bool) {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut parens = 0usize;
    for c in s.chars() {
        match c {
            '`' => {
                depth += 1;
                cur.push(c);
            }
            '\'' if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            '(' if depth == 0 => {
                parens += 1;
                cur.push(c);
            }
            ')' if depth == 0 && parens > 0 => {
                parens -= 1;
                cur.push(c);
            }
            ')' if depth == 0 => {
                args.push(unquote(&cur));
                return (args, true);
            }
            ',' if depth == 0 && parens == 0 => {
                args.push(unquote(&cur));
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    (args, false)
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

/// Reads the TLS settings of a `sendmail.mc`.
pub fn parse_mc(text: &str) -> McFile {
    let mut out = McFile::default();
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("dnl") || l.starts_with('#') {
            continue;
        }
        let mut rest = l;
        while let Some(pos) = rest.find('(') {
            let name = rest[..pos]
                .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            let (args, closed) = m4_args(&rest[pos + 1..]);
            let s = &mut out.settings;
            match name {
                "define" if !args.is_empty() => {
                    let value = args.get(1).cloned().unwrap_or_default();
                    if args[0] == "confDONT_BLAME_SENDMAIL" {
                        s.dont_blame = blame_flags(&value);
                    } else if let Some(set) = SETTINGS.iter().find(|x| x.m4 == args[0]) {
                        *(set.get)(s) = (!value.is_empty()).then_some(value);
                    }
                }
                "undefine" if !args.is_empty() => {
                    if args[0] == "confDONT_BLAME_SENDMAIL" {
                        s.dont_blame.clear();
                    } else if let Some(set) = SETTINGS.iter().find(|x| x.m4 == args[0]) {
                        *(set.get)(s) = None;
                    }
                }
                "FEATURE" if args.first().map(String::as_str) == Some("access_db") => {
                    match args.get(1).filter(|a| !a.is_empty()) {
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
                "include" | "sinclude" if !args.is_empty() => {
                    out.includes.push(args[0].clone());
                }
                _ => {}
            }
            if !closed {
                break;
            }
            rest = &rest[pos + 1..];
        }
    }
    out
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

impl McFile {
    /// Applies an included file's settings over `self` (an include acts
    /// where it stands; we approximate it as "after everything", which is
    /// right for the usual `include(starttls.m4)` at the end of Debian's
    /// sendmail.mc and for defines that appear only in one of the files).
    pub fn merge_into(&mut self, inc: &McFile) {
        let mut i = inc.settings.clone();
        let s = &mut self.settings;
        for set in SETTINGS {
            if let Some(v) = (set.get)(&mut i).clone() {
                *(set.get)(s) = Some(v);
            }
        }
        if !i.dont_blame.is_empty() {
            s.dont_blame = i.dont_blame.clone();
        }
        if i.access.is_some() {
            s.access = i.access.clone();
            s.access_type = i.access_type.clone();
        }
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
        assert_eq!(m.includes, vec!["/etc/mail/tls/starttls.m4".to_string()]);
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
    fn merge_include() {
        let mut base = parse_mc("define(`confCACERT', `/a')dnl\n");
        let inc = parse_mc("define(`confCACERT_PATH', `/b')dnl\n");
        base.merge_into(&inc);
        assert_eq!(base.settings.ca_file.as_deref(), Some("/a"));
        assert_eq!(base.settings.ca_path.as_deref(), Some("/b"));
    }
}
