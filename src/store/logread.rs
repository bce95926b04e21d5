//! Reading a mail log as a stream: any size in bounded memory (a line
//! longer than `MAX_LINE` is cut, the rest of it skipped), bytes that are
//! not UTF-8 replaced, and `--follow` like `tail -F` (waits for more,
//! reopens the file when it is rotated or truncated).

use crate::core::maillog;
use crate::core::maillog::frame::{self, Frame};
use crate::core::maillog::shapes::{self, Fields, Shape, Span};
use crate::core::maillog::Event;
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

/// Lines read and taken apart on a thread of their own (`scan`), a block
/// at a time: the explaining thread then only follows the sessions.
pub struct Block {
    /// The lines, one after another.
    pub text: String,
    pub lines: Vec<Pre>,
}

/// A block from `scan`: dropped, its memory goes back to the threads that
/// read, for a block to come.
pub struct Scanned {
    block: Option<Block>,
    back: Arc<Spares>,
}

impl std::ops::Deref for Scanned {
    type Target = Block;
    fn deref(&self) -> &Block {
        self.block.as_ref().expect("a block until dropped")
    }
}

impl Drop for Scanned {
    fn drop(&mut self) {
        if let Some(b) = self.block.take() {
            self.back.put(b);
        }
    }
}

/// One line of a block: where it lies, and what its parsing thread found
/// in it, as pieces of the line (56 bytes, less than a cache line: the
/// explaining thread reads it on another core than the one that wrote it).
pub struct Pre {
    pub raw: Span,
    /// The first line of a private key: the input is a key file.
    pub private_key: bool,
    /// Whether the line was taken apart (`event`); not a journal JSON
    /// line (its texts are decoded, not in the block), nor a line with a
    /// text a `Piece` cannot hold (past 64 KiB): the explaining thread
    /// frames those itself.
    taken_apart: bool,
    has_pid: bool,
    pid: u32,
    time: Piece,
    host: Piece,
    program: Piece,
    qid: Piece,
    shape: Option<Shape<Piece>>,
}

/// A text of a line: its offset in the line and its length. Empty is
/// none (a line's time, host and queue id are never empty when present).
#[derive(Clone, Copy, Default)]
struct Piece {
    at: u16,
    len: u16,
}

impl Piece {
    /// Where `part` lies in `line`, when it does and fits: `Span::of`
    /// narrowed to 16 bits.
    #[inline]
    fn of(line: &str, part: &str) -> Option<Piece> {
        let (at, len) = shapes::place(line, part, usize::from(u16::MAX))?;
        Some(Piece {
            at: at as u16,
            len: len as u16,
        })
    }

    #[inline]
    fn get(self, line: &str) -> &str {
        Span {
            start: self.at.into(),
            len: self.len.into(),
        }
        .get(line)
    }

    /// `get`, `None` when empty.
    #[inline]
    fn some(self, line: &str) -> Option<&str> {
        (self.len > 0).then(|| self.get(line))
    }
}

impl Pre {
    /// The line, in its block's `text`.
    #[inline]
    pub fn line<'a>(&self, text: &'a str) -> &'a str {
        self.raw.get(text)
    }

    /// Line `n` (`line`, this line's text) as the parsing thread took it
    /// apart, for `Explainer::classified` to complete where it lies; or
    /// `None` when the explaining thread must frame the line itself.
    #[inline]
    pub fn event<'a>(&self, n: u64, line: &'a str) -> Option<Event<'a>> {
        if !self.taken_apart {
            return None;
        }
        Some(Event {
            line: n,
            raw: line,
            framed: Some(Frame {
                time: self.time.some(line),
                host: self.host.some(line),
                program: self.program.get(line),
                pid: self.has_pid.then_some(self.pid),
            }),
            qid: self.qid.some(line),
            shape: self.shape.as_ref().map(|s| s.map(|x| x.get(line))),
            session: None,
            process: None,
            sendmail: false,
        })
    }
}

/// The bytes read for a block: it ends with the last whole line in them
/// (what follows, a line's start, goes to the next block), or earlier
/// after `BLOCK_LINES` lines (short lines: the rest read is carried over).
/// With the few blocks in flight, a few MB.
const BLOCK_LINES: usize = 8192;
const BLOCK_BYTES: usize = 512 << 10;
/// Bytes asked for at a time.
const READ: usize = 256 << 10;

/// Threads reading blocks and taking them apart, each block whole on one
/// of them, at most: two keep the explaining thread fed.
const MAX_WORKERS: usize = 2;

/// The parsing threads for this machine: one fewer than its processors
/// (the explaining thread has one of its own), at least one. On two
/// processors a second parsing thread only takes turns with the explaining
/// thread: measured slower in every mode, by up to 8%.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .clamp(1, MAX_WORKERS)
}

/// Bytes read, cut into lines as `LogReader::next_line` cuts them: where
/// each line lies (at most `MAX_LINE` bytes of it), and whether a line was
/// cut.
struct RawBlock {
    bytes: Vec<u8>,
    /// Where each line starts and ends in `bytes`.
    ends: Vec<(u32, u32)>,
    cut: bool,
    /// An empty list to fill (a block's, given back).
    lines: Vec<Pre>,
}

/// Cuts a reader's bytes into blocks of whole lines, one search for the
/// line ends and no copy per line: what a thread of `scan` does in its
/// turn to read.
#[derive(Default)]
struct Chunker {
    /// The start of a line that the block before could not take.
    carry: Vec<u8>,
    /// Skipping the rest of a line longer than `MAX_LINE`.
    skipping: bool,
    eof: bool,
}

impl Chunker {
    /// The next block into `bytes` (a block's, given back: its length is
    /// kept, memory read into again without being cleared first).
    fn next(&mut self, r: &mut dyn BufRead, mut bytes: Vec<u8>) -> io::Result<Option<RawBlock>> {
        // bytes[..filled] are this block's
        let mut filled = self.carry.len();
        if bytes.len() < filled {
            bytes.resize(filled, 0);
        }
        bytes[..filled].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut ends = Vec::with_capacity(BLOCK_LINES);
        let mut cut = false;
        // the start of the open line, and how far the bytes were searched
        let (mut start, mut searched) = (0, 0);
        loop {
            while ends.len() < BLOCK_LINES {
                let Some(i) = memchr::memchr(b'\n', &bytes[searched..filled]) else {
                    searched = filled;
                    break;
                };
                let end = searched + i;
                cut |= end - start > MAX_LINE;
                ends.push((offset(start), offset(end.min(start + MAX_LINE))));
                start = end + 1;
                searched = start;
            }
            if ends.len() >= BLOCK_LINES || (filled >= BLOCK_BYTES && !ends.is_empty()) {
                self.carry.extend_from_slice(&bytes[start..filled]);
                bytes.truncate(start);
                return Ok(Some(RawBlock {
                    bytes,
                    ends,
                    cut,
                    lines: Vec::new(),
                }));
            }
            if self.eof {
                // the last line, without its newline
                if start < filled {
                    cut |= filled - start > MAX_LINE;
                    ends.push((offset(start), offset(filled.min(start + MAX_LINE))));
                }
                bytes.truncate(filled);
                return Ok((!ends.is_empty()).then_some(RawBlock {
                    bytes,
                    ends,
                    cut,
                    lines: Vec::new(),
                }));
            }
            if filled - start > MAX_LINE {
                // what is past MAX_LINE of the open line is never kept
                filled = start + MAX_LINE;
                searched = filled;
                self.skipping = true;
                cut = true;
            }
            if !self.skipping {
                // Straight into the block: a read as large as the reader's
                // buffer bypasses it once it is empty (no copy through it).
                if bytes.len() < filled + READ {
                    bytes.resize(filled + READ, 0);
                }
                match r.read(&mut bytes[filled..filled + READ]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            let avail = match r.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let used = if avail.is_empty() {
                self.eof = true;
                0
            } else {
                match memchr::memchr(b'\n', avail) {
                    // the newline stays: it ends the line cut short
                    Some(i) => {
                        self.skipping = false;
                        i
                    }
                    None => avail.len(),
                }
            };
            r.consume(used);
        }
    }
}

/// A place in a block (a block is a few MB at most: far below 4 GB).
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl RawBlock {
    /// The lines as text (bytes that are not UTF-8 replaced, line by line,
    /// as `next_line` does), each taken apart.
    fn parse(self, fields: Fields) -> Block {
        let RawBlock {
            bytes,
            ends,
            cut,
            mut lines,
        } = self;
        let (text, ends) = match (cut, String::from_utf8(bytes)) {
            // the usual block: the bytes are the text
            (false, Ok(text)) => (text, ends),
            (_, r) => {
                let bytes = r.map_or_else(|e| e.into_bytes(), String::into_bytes);
                let mut text = String::with_capacity(bytes.len());
                let ends = ends
                    .into_iter()
                    .map(|(a, b)| {
                        let start = text.len();
                        let line = bytes.get(a as usize..b as usize).unwrap_or_default();
                        text.push_str(&String::from_utf8_lossy(line));
                        (offset(start), offset(text.len()))
                    })
                    .collect();
                (text, ends)
            }
        };
        lines.extend(
            ends.into_iter()
                .map(|(a, b)| pre(&text, a as usize, b as usize, fields)),
        );
        Block { text, lines }
    }
}

/// The reading shared by the parsing threads: each reads the next block
/// in its turn (the turns go round the threads), then takes it apart
/// while the next thread reads.
struct Source {
    reader: LogReader,
    chunker: Chunker,
    /// Whose turn it is to read: block `turn` goes to thread `turn %
    /// workers`.
    turn: usize,
    workers: usize,
    /// The input ended (or a read failed): no more blocks.
    done: bool,
    /// Blocks done with, given back: their memory is read into again.
    spares: Arc<Spares>,
}

/// Blocks done with, kept for reading into again (not given back to the
/// system and asked for again): the last one given back is the first
/// taken, its memory the likeliest still in a cache.
#[derive(Default)]
struct Spares(Mutex<Vec<Block>>);

impl Spares {
    /// Blocks kept at most (the others are freed).
    const MAX: usize = 4 * MAX_WORKERS;

    fn put(&self, b: Block) {
        if let Ok(mut v) = self.0.lock() {
            if v.len() < Self::MAX {
                v.push(b);
            }
        }
    }

    fn take(&self) -> Option<Block> {
        self.0.lock().ok()?.pop()
    }
}

/// Reads `reader` to its end and takes each line apart (`frame`, then
/// `classify_message_with(fields)` for sendmail's lines) on `workers()`
/// threads: each reads a block in its turn and takes it apart itself (the
/// bytes are still in its cache), while the next reads. The blocks arrive
/// in order; a read error ends them. Not for `--follow`: a block waits
/// until it is full or the input ends.
pub fn scan(
    reader: LogReader,
    fields: Fields,
) -> io::Result<impl Iterator<Item = io::Result<Scanned>>> {
    scan_on(reader, fields, workers())
}

/// `scan` on `workers` parsing threads.
fn scan_on(
    mut reader: LogReader,
    fields: Fields,
    workers: usize,
) -> io::Result<impl Iterator<Item = io::Result<Scanned>>> {
    use std::sync::mpsc::{sync_channel, Receiver};
    use std::sync::Condvar;
    let spares = Arc::new(Spares::default());
    let back = Arc::clone(&spares);
    let source = Arc::new((
        Mutex::new(Source {
            chunker: Chunker {
                carry: std::mem::take(&mut reader.pending),
                ..Chunker::default()
            },
            reader,
            turn: 0,
            workers,
            done: false,
            spares,
        }),
        Condvar::new(),
    ));
    let mut from_workers: Vec<Receiver<io::Result<Block>>> = Vec::new();
    for w in 0..workers {
        let (tx, rx) = sync_channel(1);
        let source = Arc::clone(&source);
        std::thread::Builder::new()
            .name(format!("log-parse-{w}"))
            .spawn(move || loop {
                let raw = {
                    let (lock, turns) = &*source;
                    let Ok(mut src) = lock.lock() else { return };
                    while !src.done && src.turn % src.workers != w {
                        let Ok(s) = turns.wait(src) else { return };
                        src = s;
                    }
                    if src.done {
                        return;
                    }
                    let (bytes, lines) = match src.spares.take() {
                        Some(b) => (b.text.into_bytes(), b.lines),
                        None => Default::default(),
                    };
                    let src = &mut *src;
                    let raw = match src.chunker.next(&mut src.reader.reader, bytes) {
                        Ok(Some(mut raw)) => {
                            raw.lines = lines;
                            raw.lines.clear();
                            Some(Ok(raw))
                        }
                        Ok(None) => None,
                        Err(e) => Some(Err(e)),
                    };
                    src.done = !matches!(raw, Some(Ok(_)));
                    src.turn += 1;
                    turns.notify_all();
                    raw
                };
                let Some(raw) = raw else { return };
                if tx.send(raw.map(|r| r.parse(fields))).is_err() {
                    // the explaining side stopped: so do the others
                    if let Ok(mut src) = source.0.lock() {
                        src.done = true;
                    }
                    source.1.notify_all();
                    return;
                }
            })?;
        from_workers.push(rx);
    }
    // the blocks back in the order they were read; the first thread with
    // nothing more ends them
    let mut turn = 0;
    Ok(std::iter::from_fn(move || {
        let block = from_workers[turn % workers].recv().ok()?;
        turn += 1;
        Some(block.map(|b| Scanned {
            block: Some(b),
            back: Arc::clone(&back),
        }))
    })
    .scan(false, |failed, b| {
        // nothing after a read error
        (!*failed).then(|| {
            *failed = b.is_err();
            b
        })
    }))
}

/// Line `text[start..end]` taken apart.
fn pre(text: &str, start: usize, end: usize, fields: Fields) -> Pre {
    let line = text.get(start..end).unwrap_or_default();
    let mut p = Pre {
        raw: Span::of(text, line).unwrap_or_default(),
        private_key: false,
        taken_apart: false,
        has_pid: false,
        pid: 0,
        time: Piece::default(),
        host: Piece::default(),
        program: Piece::default(),
        qid: Piece::default(),
        shape: None,
    };
    if maillog::is_private_key_line(line) {
        p.private_key = true;
    } else {
        p.taken_apart = parse(line, &mut p, fields).is_some();
    }
    p
}

/// `line` taken apart into `p`; `None` leaves the line to the explaining
/// thread.
fn parse(line: &str, p: &mut Pre, fields: Fields) -> Option<()> {
    // A journal JSON line's texts are decoded, not in the block: the
    // explaining thread frames it itself.
    if line.starts_with('{') {
        return None;
    }
    let (f, message) = frame::frame_text(frame::without_line_end(line));
    // Every other line's texts are pieces of it (or empty).
    let piece = |s: Option<&str>| s.map_or(Some(Piece::default()), |s| Piece::of(line, s));
    p.time = piece(f.time)?;
    p.host = piece(f.host)?;
    p.program = Piece::of(line, f.program)?;
    p.has_pid = f.pid.is_some();
    p.pid = f.pid.unwrap_or(0);
    if maillog::is_sendmail(f.program) {
        let (q, shape) = shapes::classify_message_with(message, fields);
        p.qid = piece(q)?;
        if let Some(shape) = shape {
            let mut inside = true;
            let shape = shape.map(|s| {
                Piece::of(line, s).unwrap_or_else(|| {
                    inside = false;
                    Piece::default()
                })
            });
            inside.then_some(())?;
            p.shape = Some(shape);
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Lines taken apart on the scanning thread explain exactly as lines
    /// framed and classified where they are explained: every recorded
    /// situation, plus journal JSON (broken too), bare messages, other
    /// daemons and garbage.
    /// `Piece::of` is `Span::of` narrowed to 16 bits: texts inside,
    /// across the end of, before and after a line, empty ones, and lines
    /// past 64 KiB.
    #[test]
    fn a_piece_is_a_span_that_fits() {
        let big = "x".repeat(70_000);
        for n in [0, 1, 2, 100, 65_535, 65_536, 65_537, 69_999] {
            let line = &big[..n];
            let around = [
                &big[..],
                &big[n.min(big.len())..],
                &big[..n / 2],
                &big[n / 2..],
            ];
            let mut parts: Vec<&str> = Vec::new();
            for a in [0, 1, n / 3, n.saturating_sub(1), n, n + 1] {
                for l in [0, 1, 2, n / 2, 65_535, 65_536] {
                    if let Some(p) = big.get(a..a + l) {
                        parts.push(p);
                    }
                }
            }
            parts.extend(around);
            for part in parts {
                let span = Span::of(line, part)
                    .and_then(|s| Some((u16::try_from(s.start).ok()?, u16::try_from(s.len).ok()?)));
                let piece = Piece::of(line, part).map(|p| (p.at, p.len));
                let span = if part.is_empty() { Some((0, 0)) } else { span };
                assert_eq!(
                    piece,
                    span,
                    "line {n}, part at {:?} len {}",
                    part.as_ptr(),
                    part.len()
                );
            }
        }
        let other = String::from("elsewhere");
        assert!(Piece::of("a line", &other).is_none());
    }

    #[test]
    fn scanned_lines_explain_as_read_lines() {
        use crate::core::maillog::Explainer;
        let mut text = crate::core::maillog::recorded_corpus();
        text.push_str(concat!(
            r#"{"MESSAGE":"STARTTLS=server, relay=[127.0.0.9], version=TLSv1.3, verify=NO, cipher=X, bits=256/256","SYSLOG_IDENTIFIER":"sm-mta","SYSLOG_PID":"42","_HOSTNAME":"mx"}"#,
            "\n{\"MESSAGE\": cut short\n",
            "STARTTLS: CRLFile missing\n",
            "Dec  4 00:00:00 kernel: usb 1-1: new device\n",
            "\u{1}\u{2} binary \u{fffd}\n",
        ));
        // texts near and past what a piece of a line holds (u16): a long
        // recipient; a bare message of MAX_LINE bytes, whole (one byte
        // more than a piece holds: framed where it is explained)
        text.push_str(&format!(
            "Dec  4 00:00:01 mx sm-mta[7]: 6B40RrsF000007: to=<{}@x>, relay=y, stat=Sent\n",
            "a".repeat(65_000)
        ));
        let bare = "STARTTLS=client, ";
        text.push_str(&format!("{bare}{}\n", "a".repeat(MAX_LINE - bare.len())));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        std::fs::write(&p, &text).unwrap();
        let mut one = Explainer::default();
        let want: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| serde_json::to_string(&one.explain_line(i as u64 + 1, l)).unwrap())
            .collect();
        for workers in 1..=MAX_WORKERS {
            let mut got = Vec::new();
            let mut parsed = 0;
            each_scanned(&p, Fields::All, workers, |two, ev, taken_apart| {
                parsed += usize::from(taken_apart);
                got.push(serde_json::to_string(&two.explain(ev)).unwrap());
            });
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{workers} parsing thread(s)");
            }
            assert_eq!(
                got.len() - parsed,
                3,
                "all but the two JSON lines and the bare line of MAX_LINE bytes taken apart on the scanning thread"
            );
        }
    }

    /// A summary of lines scanned with `Fields::Summary` is the summary of
    /// the same lines read whole: the recorded situations, and deliveries
    /// and senders with odd fields (a `stat=` inside another value, sent
    /// and not, fields missing, empty, repeated).
    #[test]
    fn a_summary_of_lines_read_in_part_is_the_summary_of_whole_ones() {
        use crate::core::maillog::summary::Builder;
        use crate::core::maillog::Explainer;
        let mut text = crate::core::maillog::recorded_corpus();
        let odd = [
            "to=<a, stat=Sent@x>, relay=r, stat=Deferred: Connection refused",
            "to=<a@x>, delay=00:00:01, mailer=esmtp, relay=mx [10.0.0.1], dsn=4.0.0, stat=Sent (ok)",
            "to=<a@x>, stat=Sent",
            "to=<a@x>, stat=",
            "to=<a@x>, relay=r",
            "to=<a@x>, stat=Deferred, stat=Sent",
            "to=<a@x>,stat=Sent, relay=z",
            "to=<a@x>, ctladdr=<b@y> (1/2), delay=00:00:00, mailer=relay, pri=1, relay=[127.0.0.1] [127.0.0.1], dsn=5.0.0, stat=Service unavailable",
            "from=<b@y>, size=1, class=0, nrcpts=1, msgid=<m@y>, proto=ESMTPS, daemon=MTA, relay=c.example [10.0.0.2]",
            "from=<b@y>, relay=, proto=ESMTP",
            "from=<b@y>, nrcpts=0",
            "from=<b, relay=x@y>, relay=peer [10.0.0.3], relay=again",
        ];
        for (i, m) in odd.iter().enumerate() {
            text.push_str(&format!(
                "Dec  4 00:00:0{} mx sm-mta[{}]: 6B40RrsF{:06}: {m}\n",
                i % 10,
                900 + i,
                900 + i
            ));
            // the same message in a session of its own, after a STARTTLS line
            text.push_str(&format!(
                "Dec  4 00:00:0{} mx sm-mta[{}]: STARTTLS=server, relay=[10.0.1.{i}], version=TLSv1.3, verify=NO, cipher=X, bits=256/256\n",
                i % 10,
                950 + i
            ));
            text.push_str(&format!(
                "Dec  4 00:00:0{} mx sm-mta[{}]: 6B40RrsF{:06}: {m}\n",
                i % 10,
                950 + i,
                950 + i
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        std::fs::write(&p, &text).unwrap();
        let mut one = Explainer::new(None);
        let mut whole = Builder::default();
        for (i, raw) in next_lines(&p).iter().enumerate() {
            let f = frame::frame(raw);
            let ev = one.feed(i as u64 + 1, raw, f.as_ref());
            whole.add_event(&one, &ev);
        }
        let whole = whole.finish();
        assert!(whole.problems.len() >= 15 && whole.peers.len() >= 10);
        for workers in 1..=MAX_WORKERS {
            let mut part = Builder::default();
            each_scanned(&p, Fields::Summary, workers, |two, ev, _| {
                part.add_event(two, ev)
            });
            assert_eq!(
                serde_json::to_string_pretty(&part.finish()).unwrap(),
                serde_json::to_string_pretty(&whole).unwrap(),
                "{workers} parsing thread(s)"
            );
        }
    }

    /// Each line of file `p` as `log explain` meets it: scanned (reading
    /// `fields`, on `workers` parsing threads), made an event and fed to
    /// one explainer — on the parsing threads when it could be taken apart
    /// there (`true`), else framed where it is explained.
    fn each_scanned(
        p: &Path,
        fields: Fields,
        workers: usize,
        mut f: impl FnMut(&crate::core::maillog::Explainer, &Event<'_>, bool),
    ) {
        let mut ex = crate::core::maillog::Explainer::default();
        let mut n = 0;
        let reader = LogReader::open(Some(p), false).unwrap();
        for block in scan_on(reader, fields, workers).unwrap() {
            let block = block.unwrap();
            let t = block.text.as_str();
            for l in &block.lines {
                n += 1;
                let raw = l.line(t);
                match l.event(n, raw) {
                    Some(mut ev) => {
                        ex.classified(&mut ev);
                        f(&ex, &ev, true);
                    }
                    None => {
                        let framed = frame::frame(raw);
                        let ev = ex.feed(n, raw, framed.as_ref());
                        f(&ex, &ev, false);
                    }
                }
            }
        }
    }

    /// The lines of file `p`, by `next_line`.
    fn next_lines(p: &Path) -> Vec<String> {
        let mut r = LogReader::open(Some(p), false).unwrap();
        let stop = AtomicBool::new(false);
        let mut buf = String::new();
        let mut lines = Vec::new();
        while r.next_line(&mut buf, &stop).unwrap() {
            lines.push(buf.clone());
        }
        lines
    }

    /// `scan` cuts the bytes into the very lines `next_line` gives, for
    /// odd input: lines of MAX_LINE bytes and longer (one far longer than
    /// a read, one cut inside a UTF-8 character), bytes that are not
    /// UTF-8, CRLF, empty lines by the block-full, no final newline.
    #[test]
    fn scan_reads_the_lines_next_line_reads() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let long = |n: usize| vec![b'y'; n];
        let mut a = Vec::new();
        for n in [
            0,
            1,
            MAX_LINE - 1,
            MAX_LINE,
            MAX_LINE + 1,
            3 * MAX_LINE,
            3 << 20,
        ] {
            a.extend(long(n));
            a.push(b'\n');
            a.extend_from_slice(b"short line\r\n");
        }
        cases.push(a);
        let mut b = vec![b'z'; MAX_LINE - 1];
        b.extend_from_slice("é and more\n".as_bytes());
        b.extend_from_slice(b"\xff\xfe not utf-8\n\n\nlast without newline");
        cases.push(b);
        cases.push(b"\n".repeat(3 * BLOCK_LINES + 5));
        let mut c = b"x\n".repeat(BLOCK_LINES - 1);
        c.extend(long(MAX_LINE * 5));
        cases.push(c);
        cases.push(Vec::new());
        cases.push(b"one line".to_vec());
        let dir = tempfile::tempdir().unwrap();
        for (i, bytes) in cases.iter().enumerate() {
            let p = dir.path().join(format!("{i}.log"));
            std::fs::write(&p, bytes).unwrap();
            let want = next_lines(&p);
            for workers in 1..=MAX_WORKERS {
                let mut got = Vec::new();
                let reader = LogReader::open(Some(&p), false).unwrap();
                for block in scan_on(reader, Fields::All, workers).unwrap() {
                    let block = block.unwrap();
                    assert!(block.lines.len() <= BLOCK_LINES);
                    got.extend(
                        block
                            .lines
                            .iter()
                            .map(|l| l.raw.get(&block.text).to_string()),
                    );
                }
                assert_eq!(got.len(), want.len(), "case {i}, {workers} thread(s)");
                for (n, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        g == w,
                        "case {i}, {workers} thread(s), line {n}: {} bytes, want {}",
                        g.len(),
                        w.len()
                    );
                }
            }
        }
    }

    #[test]
    fn long_lines_are_cut_and_garbage_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.log");
        let mut f = File::create(&p).unwrap();
        f.write_all(&vec![b'x'; MAX_LINE * 3]).unwrap();
        f.write_all(b"\nsecond \xff\xfe line\nlast without newline")
            .unwrap();
        drop(f);
        let lines = next_lines(&p);
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
