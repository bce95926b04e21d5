//! Typed edits of the access map: set or replace an entry, remove a line,
//! the relay-by-certificate and TLS-requirement helpers. Every edit keeps
//! the other lines byte for byte.

use super::*;

impl AccessMap {
    /// Renumbers lines after an edit.
    fn renumber(&mut self) {
        for (i, l) in self.lines.iter_mut().enumerate() {
            l.number = i + 1;
        }
    }

    /// Makes sure the last line ends with a newline before appending.
    fn terminate_last_line(&mut self) {
        if let Some(last) = self.lines.last_mut() {
            if !last.raw.ends_with(b"\n") {
                last.raw.push(b'\n');
            }
        }
    }

    /// Sets `key`'s value: the first entry with that key is rewritten in
    /// place (keeping its separator); otherwise a line is added after the
    /// last entry with the same tag, or at the end. Returns what happened.
    pub fn set(&mut self, key: &str, value: &str) -> Result<Edit, String> {
        let line_text = |sep: &str| format!("{key}{sep}{value}\n");
        // makemap reads 1023 bytes, newline included (one more at the end
        // of a file without one would still be "too long").
        let fits = |raw: &[u8]| raw.len() + usize::from(!raw.ends_with(b"\n")) <= MAKEMAP_LINE_MAX;
        let too_long = |n: usize| {
            format!("the line for `{key}` would be {n} bytes; makemap reads at most {} (shorten the key or value)", MAKEMAP_LINE_MAX - 1)
        };
        if let Some(i) = self.find(key) {
            let old = self.lines[i]
                .entry()
                .map(|e| e.value().to_string())
                .unwrap_or_default();
            if old == value {
                return Ok(Edit::Unchanged { line: i + 1 });
            }
            let content = self.lines[i]
                .raw
                .strip_suffix(b"\n")
                .unwrap_or(&self.lines[i].raw)
                .to_vec();
            let (key_end, val_start) = key_value_split(&content);
            // A too-long line is replaced whole by a clean one.
            let sep = if matches!(self.lines[i].kind, LineKind::TooLong { .. }) {
                String::new()
            } else {
                String::from_utf8_lossy(&content[key_end..val_start]).into_owned()
            };
            let text = line_text(if sep.is_empty() { "\t" } else { &sep });
            let had_newline = self.lines[i].raw.ends_with(b"\n");
            let mut raw = text.into_bytes();
            if !had_newline {
                raw.pop();
            }
            if !fits(&raw) {
                return Err(too_long(raw.len()));
            }
            self.lines[i] = Line {
                kind: classify_line(&raw),
                raw,
                number: i + 1,
            };
            return Ok(Edit::Changed { line: i + 1, old });
        }
        let (tag, _) = Tag::split_key(key);
        let pos = self
            .lines
            .iter()
            .rposition(|l| l.entry().is_some_and(|e| e.tag == tag))
            .map_or(self.lines.len(), |p| p + 1);
        let raw = line_text("\t").into_bytes();
        if !fits(&raw) {
            return Err(too_long(raw.len()));
        }
        if pos == self.lines.len() {
            self.terminate_last_line();
        }
        self.lines.insert(
            pos,
            Line {
                kind: classify_line(&raw),
                raw,
                number: pos + 1,
            },
        );
        self.renumber();
        Ok(Edit::Added { line: pos + 1 })
    }

    /// Rewrites line `index` (0-based) as the entry `key` `value`, in place,
    /// keeping the line's separator and terminator. The editor's typed
    /// fields come through here; the result is checked as makemap reads it.
    pub fn replace_entry(&mut self, index: usize, key: &str, value: &str) -> Result<Edit, String> {
        let Some(line) = self.lines.get(index) else {
            return Err(format!("there is no line {}", index + 1));
        };
        if key.is_empty() {
            return Err("the key is empty".into());
        }
        if let Some(c) = key.chars().find(|c| c.is_whitespace() || *c == '\0') {
            return Err(format!(
                "the key contains {c:?}; makemap ends a key at the first blank"
            ));
        }
        if value.trim().is_empty() {
            return Err(
                "the value is empty; makemap skips a key without a value (\"no RHS for LHS\")"
                    .into(),
            );
        }
        if value.contains(['\n', '\0']) {
            return Err("the value contains a line break or NUL".into());
        }
        let old = line.entry().map(|e| format!("{}\t{}", e.key(), e.value()));
        let had_newline = line.raw.ends_with(b"\n");
        let sep = match &line.kind {
            LineKind::Entry(_) => {
                let content = line.raw.strip_suffix(b"\n").unwrap_or(&line.raw);
                let (key_end, val_start) = key_value_split(content);
                String::from_utf8_lossy(&content[key_end..val_start]).into_owned()
            }
            _ => String::new(),
        };
        let mut raw =
            format!("{key}{}{value}", if sep.is_empty() { "\t" } else { &sep }).into_bytes();
        if had_newline || index + 1 < self.lines.len() {
            raw.push(b'\n');
        }
        if raw.len() + usize::from(!raw.ends_with(b"\n")) > MAKEMAP_LINE_MAX {
            return Err(format!(
                "the line would be {} bytes; makemap reads at most {} (shorten the key or value)",
                raw.len(),
                MAKEMAP_LINE_MAX - 1
            ));
        }
        if self.lines[index].raw == raw {
            return Ok(Edit::Unchanged { line: index + 1 });
        }
        self.lines[index] = Line {
            kind: classify_line(&raw),
            raw,
            number: index + 1,
        };
        Ok(match old {
            Some(old) => Edit::Changed {
                line: index + 1,
                old,
            },
            None => Edit::Added { line: index + 1 },
        })
    }

    /// Removes line `index` (0-based), whatever it holds.
    pub fn remove_line(&mut self, index: usize) -> Option<Line> {
        if index >= self.lines.len() {
            return None;
        }
        let l = self.lines.remove(index);
        self.renumber();
        Some(l)
    }

    /// Removes every entry with `key`; returns the removed line numbers.
    pub fn remove(&mut self, key: &str) -> Vec<usize> {
        let k = key.as_bytes().to_ascii_lowercase();
        let mut removed = Vec::new();
        self.lines.retain(|l| {
            let hit = l.entry().is_some_and(|e| e.lookup_key() == k);
            if hit {
                removed.push(l.number);
            }
            !hit
        });
        self.renumber();
        removed
    }
    /// Lets certificates relay: every certificate from the CA `issuer`
    /// (sendmail's `${cert_issuer}` form) with `subject == None`, or only
    /// the one whose subject is `subject` (`CERTISSUER: SUBJECT` plus
    /// `CERTSUBJECT: RELAY`).
    pub fn add_cert_relay(
        &mut self,
        issuer: &str,
        subject: Option<&str>,
    ) -> Result<Vec<Edit>, String> {
        let ikey = format!("CERTISSUER:{issuer}");
        let existing = self
            .find(&ikey)
            .and_then(|i| self.lines[i].entry().map(|e| (i + 1, e.rhs())));
        match (subject, existing) {
            (None, _) => Ok(vec![self.set(&ikey, "RELAY")?]),
            (Some(_), Some((line, Rhs::Relay))) => Err(format!(
                "line {line} already lets every certificate of this CA relay (CERTISSUER: … RELAY), which sendmail checks first; \
                 remove it (`access remove '{ikey}'`) to allow only chosen subjects"
            )),
            (Some(subj), _) => {
                // Both lines or neither.
                let before = self.clone();
                let a = self.set(&ikey, "SUBJECT")?;
                match self.set(&format!("CERTSUBJECT:{subj}"), "RELAY") {
                    Ok(b) => Ok(vec![a, b]),
                    Err(e) => {
                        *self = before;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Sets a TLS requirement for a host, domain, address or (empty `host`)
    /// every peer. Refuses a requirement sendmail would ignore.
    pub fn set_tls(&mut self, tag: &Tag, host: &str, requirement: &str) -> Result<Edit, String> {
        if !tag.is_tls() {
            return Err(format!("`{tag}` is not one of TLS_Clt, TLS_Srv, TLS_Rcpt"));
        }
        if host.chars().any(char::is_whitespace) {
            return Err(format!("`{host}` contains a blank; a key cannot"));
        }
        let req = requirement.trim();
        if TlsRequirement::parse(req).is_none() {
            return Err(format!(
                "sendmail would ignore `{req}`: write [PERM+|TEMP+]VERIFY, VERIFY:bits or ENCR:bits, optionally followed by +CN, +CN:name, +CS:dn, +CI:dn or +CITag:TAG (several joined with ++)"
            ));
        }
        self.set(&format!("{tag}:{host}"), req)
    }
}

/// The `CERTISSUER:`/`CERTSUBJECT:` names (sendmail `+XX` forms) that let
/// a certificate relay. A CA certificate stands for "every certificate it
/// issues" (its subject is the issuer to name), unless `exact_subject`
/// asks for this one certificate only (issuer plus subject).
pub fn cert_relay_names(
    info: &crate::core::cert::CertInfo,
    exact_subject: bool,
) -> (String, Option<String>) {
    if info.is_ca && !exact_subject {
        (info.subject_sendmail.clone(), None)
    } else {
        (
            info.issuer_sendmail.clone(),
            exact_subject.then(|| info.subject_sendmail.clone()),
        )
    }
}

/// The outcome of [`AccessMap::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Added { line: usize },
    Changed { line: usize, old: String },
    Unchanged { line: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_the_rest() {
        let mut m = AccessMap::parse(b"# head\nTLS_Clt:a.example   VERIFY\nCERTISSUER:/CN=x RELAY");
        let old = "VERIFY".to_string();
        assert_eq!(
            m.set("TLS_Clt:a.example", "ENCR:128"),
            Ok(Edit::Changed { line: 2, old })
        );
        assert_eq!(
            m.set("TLS_Clt:b.example", "VERIFY"),
            Ok(Edit::Added { line: 3 })
        );
        assert_eq!(
            m.set("Connect:127.0.0.2", "RELAY"),
            Ok(Edit::Added { line: 5 })
        );
        assert_eq!(
            String::from_utf8(m.to_bytes()).unwrap(),
            "# head\nTLS_Clt:a.example   ENCR:128\nTLS_Clt:b.example\tVERIFY\nCERTISSUER:/CN=x RELAY\nConnect:127.0.0.2\tRELAY\n"
        );
        assert_eq!(m.remove("tls_clt:B.example"), vec![3]);
        assert_eq!(m.lines.len(), 4);
        // a line makemap could not read is refused, and nothing changes
        let before = m.to_bytes();
        assert!(m
            .set(&format!("TLS_Clt:{}.example", "h".repeat(1010)), "VERIFY")
            .is_err());
        assert_eq!(m.to_bytes(), before);
    }
}
