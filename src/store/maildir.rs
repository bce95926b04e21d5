//! Messages the embedded server stored (one file each in its maildir), read
//! back for the live-test view.

use super::fsutil;
use std::path::{Path, PathBuf};

/// A message the embedded server stored, as read back.
#[derive(Debug, Clone)]
pub struct CapturedMessage {
    pub path: PathBuf,
    /// The header block (up to the blank line).
    pub headers: String,
    pub size: u64,
}

/// Reads a stored message's header block.
pub fn read_message(path: &Path) -> Option<CapturedMessage> {
    let data = fsutil::read_limited(path, 64 * 1024 * 1024).ok()?;
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| data.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(data.len().min(4096));
    Some(CapturedMessage {
        path: path.to_path_buf(),
        headers: String::from_utf8_lossy(&data[..end]).replace("\r\n", "\n"),
        size: data.len() as u64,
    })
}
