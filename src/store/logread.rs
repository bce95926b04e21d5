//! Reading a mail log as a stream: any size in bounded memory (a line
//! longer than `MAX_LINE` is cut, the rest of it skipped), bytes that are
//! not UTF-8 replaced, and `--follow` like `tail -F` (waits for more,
//! reopens the file when it is rotated or truncated).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most of one line that is kept.
pub const MAX_LINE: usize = 64 * 1024;
const POLL: Duration = Duration::from_millis(200);

/// Debian's mail log.
pub const DEFAULT_LOG: &str = "/var/log/mail.log";

/// The syslog identifiers sendmail logs under (Debian: sm-mta; others:
/// sendmail; the submission queue: sm-msp-queue).
pub const JOURNAL_IDENTIFIERS: &[&str] = &["sm-mta", "sendmail", "sm-msp-queue"];

/// A log being read: a file (followed or not), standard input, or the
/// journal (through `journalctl -o json`).
pub struct LogReader {
    path: Option<PathBuf>,
    /// `journalctl`, when reading the journal: ended when the reader is.
    child: Option<Arc<Mutex<std::process::Child>>>,
    reader: Box<dyn BufRead + Send>,
    inode: u64,
    pos: u64,
    follow: bool,
    /// A line cut short at the end of the file while following: kept until
    /// its end arrives.
    pending: Vec<u8>,
}

/// What went wrong opening a log, said so that the person can act.
pub fn open_error(path: &Path, e: &io::Error) -> String {
    let p = path.display();
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "cannot read {p}: permission denied. On Debian the mail log is readable by root and the adm group: run as root (sudo), or add yourself to adm (`sudo adduser $USER adm`, then log in again). The journal: `journalctl -t sm-mta -o json | starttls-studio log explain -` (members of adm or systemd-journal may read it)."
        ),
        io::ErrorKind::NotFound => format!(
            "{p} does not exist. sendmail logs through syslog: on Debian with rsyslog the file is /var/log/mail.log; without rsyslog the log is in the journal: `journalctl -t sm-mta -o json | starttls-studio log explain -`"
        ),
        _ => format!("cannot read {p}: {e}"),
    }
}

impl LogReader {
    /// `None` reads standard input (which ends when its writer does, so
    /// `journalctl -f … | log explain -` follows by itself).
    pub fn open(path: Option<&Path>, follow: bool) -> Result<LogReader, String> {
        match path {
            None => Ok(LogReader {
                path: None,
                child: None,
                reader: Box::new(BufReader::with_capacity(256 * 1024, io::stdin())),
                inode: 0,
                pos: 0,
                follow: false,
                pending: Vec::new(),
            }),
            Some(p) => {
                let f = File::open(p).map_err(|e| open_error(p, &e))?;
                let m = f.metadata().map_err(|e| open_error(p, &e))?;
                if m.is_dir() {
                    return Err(format!("{} is a directory, not a log file", p.display()));
                }
                Ok(LogReader {
                    path: Some(p.to_path_buf()),
                    child: None,
                    reader: Box::new(BufReader::with_capacity(256 * 1024, f)),
                    inode: m.ino(),
                    pos: 0,
                    follow,
                    pending: Vec::new(),
                })
            }
        }
    }

    /// sendmail's entries in the systemd journal, as `journalctl -o json`
    /// gives them: the last `lines_back` (all when `None`), then new ones
    /// as they come when `follow`.
    pub fn journal(follow: bool, lines_back: Option<usize>) -> Result<LogReader, String> {
        let mut cmd = std::process::Command::new("journalctl");
        cmd.args(["-o", "json", "--no-pager", "-q"]);
        for t in JOURNAL_IDENTIFIERS {
            cmd.args(["-t", t]);
        }
        if let Some(n) = lines_back {
            cmd.arg(format!("--lines={n}"));
        }
        if follow {
            cmd.arg("--follow");
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| {
            format!("cannot run journalctl: {e}. Without systemd's journal, read the syslog file (/var/log/mail.log)")
        })?;
        let out = child.stdout.take().ok_or("journalctl gave no output")?;
        Ok(LogReader {
            path: None,
            child: Some(Arc::new(Mutex::new(child))),
            reader: Box::new(BufReader::with_capacity(256 * 1024, out)),
            inode: 0,
            pos: 0,
            follow: false,
            pending: Vec::new(),
        })
    }

    /// Starts at the end of the file (a live view shows what comes next,
    /// after the last `lines_back` lines).
    pub fn skip_to_tail(&mut self, lines_back: usize) -> io::Result<()> {
        let Some(p) = &self.path else { return Ok(()) };
        let mut f = File::open(p)?;
        let len = f.metadata()?.len();
        // Read the last chunk and find where the last `lines_back` lines start.
        let chunk = (lines_back as u64 * 400).clamp(4096, 8 << 20).min(len);
        let start = len - chunk;
        use std::io::Seek;
        f.seek(io::SeekFrom::Start(start))?;
        let mut tail = Vec::with_capacity(chunk as usize);
        f.by_ref().take(chunk).read_to_end(&mut tail)?;
        let mut cut = 0usize;
        let mut seen = 0usize;
        for (i, b) in tail.iter().enumerate().rev() {
            if *b == b'\n' && i + 1 < tail.len() {
                seen += 1;
                if seen == lines_back {
                    cut = i + 1;
                    break;
                }
            }
        }
        if seen < lines_back && start > 0 {
            // start in the middle of a line: skip to the next one
            cut = tail
                .iter()
                .position(|b| *b == b'\n')
                .map_or(tail.len(), |i| i + 1);
        }
        self.pos = start + cut as u64;
        f.seek(io::SeekFrom::Start(self.pos))?;
        self.reader = Box::new(BufReader::with_capacity(256 * 1024, f));
        Ok(())
    }

    /// The next line into `buf` (without its newline). `Ok(false)` at the
    /// end (when not following), or when `stop` is set while waiting.
    pub fn next_line(&mut self, buf: &mut String, stop: &AtomicBool) -> io::Result<bool> {
        let mut line = std::mem::take(&mut self.pending);
        let mut cut = line.len() >= MAX_LINE;
        loop {
            let (done, used) = {
                let avail = match self.reader.fill_buf() {
                    Ok(a) => a,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if avail.is_empty() {
                    (None, 0)
                } else {
                    match memchr::memchr(b'\n', avail) {
                        // The common case: a whole line in the buffer,
                        // valid UTF-8 — decoded straight into `buf`.
                        Some(i) if line.is_empty() && i <= MAX_LINE => {
                            if let Ok(s) = std::str::from_utf8(&avail[..i]) {
                                buf.clear();
                                buf.push_str(s);
                                self.reader.consume(i + 1);
                                self.pos += i as u64 + 1;
                                return Ok(true);
                            }
                            line.extend_from_slice(&avail[..i]);
                            (Some(true), i + 1)
                        }
                        Some(i) => {
                            if !cut {
                                let room = MAX_LINE - line.len();
                                line.extend_from_slice(&avail[..i.min(room)]);
                            }
                            (Some(true), i + 1)
                        }
                        None => {
                            if !cut {
                                let room = MAX_LINE - line.len();
                                line.extend_from_slice(&avail[..avail.len().min(room)]);
                                cut = line.len() >= MAX_LINE;
                            }
                            (Some(false), avail.len())
                        }
                    }
                }
            };
            self.reader.consume(used);
            self.pos += used as u64;
            match done {
                Some(true) => break,
                Some(false) => continue,
                None => {
                    if !self.follow {
                        if line.is_empty() {
                            return Ok(false);
                        }
                        break;
                    }
                    if stop.load(Ordering::Relaxed) {
                        self.pending = line;
                        return Ok(false);
                    }
                    std::thread::sleep(POLL);
                    if self.rotated()? {
                        // what was read of an unfinished line stays a line
                        if !line.is_empty() {
                            break;
                        }
                    }
                }
            }
        }
        buf.clear();
        buf.push_str(&String::from_utf8_lossy(&line));
        Ok(true)
    }

    /// Ends `journalctl` (when reading the journal).
    pub fn close(&mut self) {
        if let Some(c) = self.child.take() {
            if let Ok(mut c) = c.lock() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// A way to end `journalctl` from another thread (a read blocked on
    /// its output then ends).
    pub fn journal_process(&self) -> Option<Arc<Mutex<std::process::Child>>> {
        self.child.clone()
    }

    /// While following: the file was replaced (rotation) or truncated →
    /// read the new one from its start.
    fn rotated(&mut self) -> io::Result<bool> {
        let Some(p) = &self.path else {
            return Ok(false);
        };
        let Ok(m) = std::fs::metadata(p) else {
            return Ok(false); // between rename and create: wait
        };
        if m.ino() != self.inode || m.len() < self.pos {
            let f = File::open(p)?;
            self.inode = f.metadata()?.ino();
            self.reader = Box::new(BufReader::with_capacity(256 * 1024, f));
            self.pos = 0;
            return Ok(true);
        }
        Ok(false)
    }
}

impl Drop for LogReader {
    fn drop(&mut self) {
        self.close();
    }
}

/// Who may read the whole journal, for the message when a user sees only
/// their own entries.
pub const JOURNAL_ACCESS: &str = "journalctl shows every entry to root and to members of the adm and systemd-journal groups (`sudo adduser $USER adm`, then log in again); others see only their own";

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn long_lines_are_cut_and_garbage_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        let mut f = File::create(&p).unwrap();
        f.write_all(&vec![b'x'; MAX_LINE * 3]).unwrap();
        f.write_all(b"\nsecond \xff\xfe line\nlast without newline")
            .unwrap();
        drop(f);
        let mut r = LogReader::open(Some(&p), false).unwrap();
        let stop = AtomicBool::new(false);
        let mut buf = String::new();
        let mut lines = Vec::new();
        while r.next_line(&mut buf, &stop).unwrap() {
            lines.push(buf.clone());
        }
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], "second \u{fffd}\u{fffd} line");
        assert_eq!(lines[2], "last without newline");
    }

    #[test]
    fn follows_appends_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        std::fs::write(&p, "one\n").unwrap();
        let mut r = LogReader::open(Some(&p), true).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let p2 = p.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let mut f = std::fs::OpenOptions::new().append(true).open(&p2).unwrap();
            f.write_all(b"tw").unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            f.write_all(b"o\n").unwrap();
            std::thread::sleep(Duration::from_millis(300));
            std::fs::rename(&p2, p2.with_extension("log.1")).unwrap();
            std::fs::write(&p2, "three\n").unwrap();
        });
        let mut buf = String::new();
        let mut got = Vec::new();
        while got.len() < 3 && r.next_line(&mut buf, &stop).unwrap() {
            got.push(buf.clone());
        }
        writer.join().unwrap();
        assert_eq!(got, ["one", "two", "three"]);
    }
}
