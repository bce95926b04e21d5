//! Settings the GUI remembers between runs, kept as `settings.json` in the
//! home (the data directory holds "CA, issued certificates, settings").

use crate::store::fsutil;
use crate::store::home::Home;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Largest settings file read; anything bigger is not ours.
const SETTINGS_LIMIT: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// "system", "light" or "dark".
    pub theme: String,
    pub tab: String,
    pub access_file: Option<PathBuf>,
    pub install_dir: Option<PathBuf>,
    pub server_port: u16,
    pub probe_target: String,
    /// The welcome screen was dismissed once.
    pub welcomed: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            theme: "system".into(),
            tab: String::new(),
            access_file: None,
            install_dir: None,
            server_port: 2525,
            probe_target: String::new(),
            welcomed: false,
        }
    }
}

pub fn path(home: &Home) -> PathBuf {
    home.root.join("settings.json")
}

/// The saved settings; defaults when there are none or they cannot be read
/// (a broken settings file must never keep the app from starting).
pub fn load(home: &Home) -> (Settings, Option<String>) {
    let p = path(home);
    if !p.exists() {
        return (Settings::default(), None);
    }
    match fsutil::read_limited(&p, SETTINGS_LIMIT) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(s) => (s, None),
            Err(e) => (
                Settings::default(),
                Some(format!(
                    "{}: {e}; using the defaults (the file is replaced on the next change)",
                    p.display()
                )),
            ),
        },
        Err(e) => (Settings::default(), Some(e.to_string())),
    }
}

pub fn save(home: &Home, s: &Settings) -> Result<(), String> {
    fsutil::create_dir_all(&home.root, 0o700).map_err(|e| e.to_string())?;
    let json = serde_json::to_vec_pretty(s).map_err(|e| e.to_string())?;
    fsutil::write_atomic(&path(home), &json, 0o644).map_err(|e| e.to_string())
}
