//! The `access` commands against the real `makemap` and sendmail:
//!
//! 1. the parser is lossless (`parse(b).to_bytes() == b` for any bytes) and
//!    `set` / `remove` leave every line they do not edit byte-identical;
//! 2. `access dump` stores what `makemap hash` stores (compared with
//!    `makemap -u`), and `access check` reports an error on every line
//!    makemap complains about;
//! 3. bad input (garbage, a 10 MB line, CRLF, no final newline, empty,
//!    missing, a directory) gives the documented exit status and a message
//!    naming the file, quickly and without a panic;
//! 4. the editing commands write exactly the lines sendmail needs, keep
//!    the rest of the file, a backup and the file mode;
//! 5. the edited map makes the real sendmail's `RelayTLS` answer RELAY.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use starttls_studio::core::access::{AccessMap, Edit, LineKind};

use crate::support::Peer;
use crate::support::{par_map, require, run, run_ok, sendmail_peer_dir, studio, tempdir};

/// makemap reads with `fgets` into a 1024-byte buffer.
const FGETS_CHUNK: usize = 1023;

// ------------------------------------------------------------ helpers

/// Bytes for a failure message: escaped, long runs shortened.
fn esc(b: &[u8]) -> String {
    if b.len() > 160 {
        format!(
            "{}…(+{} bytes)…{}",
            b[..100].escape_ascii(),
            b.len() - 140,
            b[b.len() - 40..].escape_ascii()
        )
    } else {
        b.escape_ascii().to_string()
    }
}

/// Physical lines, each with its `\n` (the last one may lack it).
fn split_lines(b: &[u8]) -> Vec<&[u8]> {
    b.split_inclusive(|&c| c == b'\n').collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn write(p: &Path, data: &[u8]) {
    std::fs::write(p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a command did, with its run time.
struct Timed {
    /// `None` when it was killed after the time limit.
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    elapsed: Duration,
}

impl Timed {
    fn describe(&self) -> String {
        format!(
            "status {}, {:.1} s\nstdout:\n{}\nstderr:\n{}",
            self.status.map_or_else(
                || "none (killed after the time limit)".into(),
                |s| s.to_string()
            ),
            self.elapsed.as_secs_f64(),
            esc_text(&self.stdout, 2000),
            esc_text(&self.stderr, 2000)
        )
    }
}

/// Output text, cut to `max` characters.
fn esc_text(b: &[u8], max: usize) -> String {
    let t = text(b);
    if t.chars().count() > max {
        let head: String = t.chars().take(max).collect();
        format!("{head}…(cut)")
    } else {
        t
    }
}

/// Runs `cmd`, killing it after `limit`.
fn run_timed(cmd: &mut Command, limit: Duration) -> Timed {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(s) => break Some(s),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let elapsed = start.elapsed();
    Timed {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        elapsed,
    }
}

// ---------------------------------------------------------- generator

const TAGS: &[&str] = &[
    "TLS_Clt:",
    "TLS_CLT:",
    "tls_clt:",
    "TLS_Srv:",
    "Tls_Rcpt:",
    "CERTISSUER:",
    "certissuer:",
    "CertSubject:",
    "CERTSUBJECT:",
    "Connect:",
    "connect:",
    "To:",
    "From:",
    "Try_TLS:",
    "Spam:",
    "Foo:",
    "IPv6:",
    "",
];

const VALUES: &[&str] = &[
    "VERIFY",
    "PERM+VERIFY:128",
    "TEMP+ENCR:256",
    "VERIFY:128+CN",
    "PERM + VERIFY : 128",
    "Perm+Verify:128",
    "RELAY",
    "relay",
    "OK",
    "REJECT",
    "SUBJECT",
    "DISCARD",
    "550 5.7.1 go away",
    "ERROR:4.7.0:later",
    "host VERIFY",
    "NO",
    "VERIFY # comment",
];

/// A run of the blanks C's `isspace` knows (besides `\n`), mostly plain.
fn blanks() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b" ".to_vec()),
        3 => Just(b"\t".to_vec()),
        3 => prop::collection::vec(
            prop::sample::select(vec![b' ', b'\t', b'\r', 0x0b, 0x0c]),
            1..5
        ),
    ]
}

/// Any byte but `\n`.
fn not_newline() -> impl Strategy<Value = u8> {
    any::<u8>().prop_map(|b| if b == b'\n' { b'N' } else { b })
}

/// A byte that is not a line end, biased toward the odd ones.
fn odd_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => 0x80u8..=0xff,
        1 => Just(0u8),
        2 => b'a'..=b'z',
        1 => Just(b'#'),
        1 => prop::sample::select(vec![b'\r', 0x0b, 0x0c, b'\t', b' ']),
        2 => not_newline(),
    ]
}

/// Tag plus target: a key (no blanks unless the odd bytes put one in).
fn key() -> impl Strategy<Value = Vec<u8>> {
    let target = prop_oneof![
        4 => "[a-zA-Z0-9.-]{0,16}".prop_map(String::into_bytes),
        2 => "/(C=US/)?(O=[A-Za-z+0-9]{1,8}/)?CN=[A-Za-z0-9.+]{1,16}".prop_map(String::into_bytes),
        1 => "(127|192)\\.0\\.[0-9]{1,3}\\.[0-9]{1,3}".prop_map(String::into_bytes),
        1 => Just(b"Client.Example.NET".to_vec()),
        1 => prop::collection::vec(odd_byte(), 1..6),
    ];
    (prop::sample::select(TAGS), target).prop_map(|(t, mut target)| {
        let mut k = t.as_bytes().to_vec();
        k.append(&mut target);
        if k.is_empty() {
            k.push(b'x');
        }
        k
    })
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::sample::select(VALUES).prop_map(|v| v.as_bytes().to_vec()),
        2 => "[!-~][ -~]{0,20}".prop_map(String::into_bytes),
        1 => prop::collection::vec(odd_byte(), 1..8),
    ]
}

/// `KEY<blanks>VALUE[trailing blanks]`.
fn entry() -> impl Strategy<Value = Vec<u8>> {
    let trailing = prop_oneof![5 => Just(Vec::new()), 1 => blanks()];
    (key(), blanks(), value(), trailing).prop_map(|(mut k, mut s, mut v, mut t)| {
        k.append(&mut s);
        k.append(&mut v);
        k.append(&mut t);
        k
    })
}

/// One line's content (no terminator).
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        10 => entry(),
        2 => "#[ -~]{0,30}".prop_map(String::into_bytes),
        2 => Just(Vec::new()),
        1 => blanks(),
        1 => (blanks(), entry()).prop_map(|(mut b, mut e)| { b.append(&mut e); b }),
        1 => (key(), prop_oneof![Just(Vec::new()), blanks()])
            .prop_map(|(mut k, mut b)| { k.append(&mut b); k }),
        // Longer than makemap's buffer: the tail is read as a line of its
        // own, sometimes after two or more too-long pieces.
        2 => (
            prop_oneof![entry(), "#[ -~]{0,10}".prop_map(String::into_bytes)],
            prop::sample::select(vec![b'x', b'A', b' ', b'/']),
            990usize..3200,
            blanks(),
            value(),
        )
            .prop_map(|(mut head, fill, n, mut sep, mut v)| {
                head.push(b' ');
                head.extend(std::iter::repeat_n(fill, n));
                head.append(&mut sep);
                head.append(&mut v);
                head
            }),
        1 => prop::collection::vec(not_newline(), 0..40),
        1 => (entry(), any::<prop::sample::Index>()).prop_map(|(mut e, i)| {
            let at = i.index(e.len() + 1);
            e.insert(at, 0);
            e
        }),
    ]
}

/// A whole access source: lines with LF or CRLF ends, sometimes without a
/// final newline.
fn access_file() -> impl Strategy<Value = Vec<u8>> {
    let terminated = (
        line(),
        prop_oneof![8 => Just(&b"\n"[..]), 1 => Just(&b"\r\n"[..])],
    );
    (prop::collection::vec(terminated, 0..25), any::<bool>()).prop_map(|(lines, final_nl)| {
        let mut out = Vec::new();
        let n = lines.len();
        for (i, (content, end)) in lines.into_iter().enumerate() {
            out.extend_from_slice(&content);
            if i + 1 < n || final_nl {
                out.extend_from_slice(end);
            }
        }
        out
    })
}

fn proptest_config(cases: u32) -> Config {
    let base = Config::default();
    Config {
        // PROPTEST_CASES / PROPTEST_RNG_SEED still override.
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            base.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            base.rng_seed
        } else {
            RngSeed::Fixed(0x5354_5353_5455_4449)
        },
        // No regression files next to the sources.
        failure_persistence: None,
        ..base
    }
}

/// A generated file; shown escaped when a property fails.
#[derive(Clone)]
struct Src(Vec<u8>);

impl std::fmt::Debug for Src {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", esc(&self.0))
    }
}

fn src() -> impl Strategy<Value = Src> {
    access_file().prop_map(Src)
}

// ------------------------------------------------------- 1. round trip

proptest! {
    #![proptest_config(proptest_config(2500))]

    #[test]
    fn parse_then_write_gives_the_same_bytes(file in src()) {
        let file = file.0;
        let back = AccessMap::parse(&file).to_bytes();
        prop_assert!(back == file, "round trip changed\n  in:  {}\n  out: {}", esc(&file), esc(&back));
    }

    #[test]
    fn set_changes_only_its_own_line(
        file in src(),
        pick in any::<prop::sample::Index>(),
        fresh in "(TLS_Clt:|CERTISSUER:/CN=|Connect:|To:)[a-z0-9.]{1,12}",
        use_fresh in any::<bool>(),
        new_value in prop::sample::select(vec!["RELAY", "OK", "PERM+VERIFY:128", "ENCR:256", "SUBJECT"]),
    ) {
        let file = file.0;
        let before = AccessMap::parse(&file);
        let keys: Vec<String> = before.entries().map(|(_, e)| e.key().to_string()).collect();
        let key = if use_fresh || keys.is_empty() { fresh } else { keys[pick.index(keys.len())].clone() };
        let mut map = before.clone();
        let edit = map.set(&key, new_value);
        let after = map.to_bytes();
        let (bl, al) = (split_lines(&file), split_lines(&after));
        let ctx = || format!("set(\"{}\", {new_value:?}) -> {edit:?}\n  before: {}\n  after:  {}", esc(key.as_bytes()), esc(&file), esc(&after));
        match edit {
            // Refused (the line would be too long for makemap): nothing changes.
            Err(_) => prop_assert!(after == file, "refused but bytes differ: {}", ctx()),
            Ok(Edit::Unchanged { .. }) => prop_assert!(after == file, "Unchanged but bytes differ: {}", ctx()),
            Ok(Edit::Changed { line, .. }) => {
                prop_assert_eq!(al.len(), bl.len(), "line count: {}", ctx());
                for i in (0..bl.len()).filter(|&i| i != line - 1) {
                    prop_assert!(al[i] == bl[i], "line {} not edited but changed: {}", i + 1, ctx());
                }
                let new = AccessMap::parse(al[line - 1]);
                let e = new.lines[0].entry();
                prop_assert!(
                    e.is_some_and(|e| e.lookup_key() == key.as_bytes().to_ascii_lowercase() && e.value() == new_value),
                    "the changed line {line} is not `{} {new_value}` as makemap reads it ({}): {}",
                    esc(key.as_bytes()),
                    esc(format!("{:?}", new.lines[0].kind).as_bytes()),
                    ctx()
                );
            }
            Ok(Edit::Added { line }) => {
                prop_assert!(before.find(&key).is_none(), "added although the key exists: {}", ctx());
                prop_assert_eq!(al.len(), bl.len() + 1, "line count: {}", ctx());
                let expected = format!("{key}\t{new_value}\n");
                prop_assert!(al[line - 1] == expected.as_bytes(), "added line {line} is not {expected:?}: {}", ctx());
                let rest: Vec<&[u8]> = al.iter().enumerate().filter(|(i, _)| *i != line - 1).map(|(_, l)| *l).collect();
                for (i, (a, b)) in rest.iter().zip(&bl).enumerate() {
                    // Appending after a last line without newline ends it first.
                    let last_fixed = i + 1 == bl.len() && !b.ends_with(b"\n") && *a == [*b, b"\n"].concat();
                    prop_assert!(a == b || last_fixed, "line {} not edited but changed: {}", i + 1, ctx());
                }
            }
        }
    }

    #[test]
    fn remove_drops_only_that_key(
        file in src(),
        pick in any::<prop::sample::Index>(),
        case_flip in any::<bool>(),
    ) {
        let file = file.0;
        let before = AccessMap::parse(&file);
        let keys: Vec<String> = before.entries().map(|(_, e)| e.key().to_string()).collect();
        // A file without entries: a key it lacks, nothing may change.
        let mut key = if keys.is_empty() {
            "TLS_Clt:absent.example".to_string()
        } else {
            keys[pick.index(keys.len())].clone()
        };
        if case_flip {
            key = key.to_ascii_uppercase();
        }
        let wanted: Vec<usize> = before
            .entries()
            .filter(|(_, e)| e.lookup_key() == key.as_bytes().to_ascii_lowercase())
            .map(|(n, _)| n)
            .collect();
        let mut map = before.clone();
        let removed = map.remove(&key);
        let after = map.to_bytes();
        let ctx = || format!("remove(\"{}\") -> {removed:?}\n  before: {}\n  after:  {}", esc(key.as_bytes()), esc(&file), esc(&after));
        prop_assert_eq!(&removed, &wanted, "{}", ctx());
        let kept: Vec<&[u8]> = split_lines(&file)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !removed.contains(&(i + 1)))
            .map(|(_, l)| l)
            .collect();
        prop_assert!(kept.concat() == after, "other lines changed: {}", ctx());
    }
}

/// `set` must not turn a line makemap reads into one it cannot read: a key
/// near makemap's limit with a longer value gives a line over 1022 bytes.
/// (Found by `set_changes_only_its_own_line` with other seeds; the fixed
/// seed's cases do not reach it, so it is kept as a case of its own.)
#[test]
fn set_never_writes_a_line_makemap_cannot_read() {
    let key = format!("TLS_Clt:{}.example", "h".repeat(1000));
    let file = format!("# near the limit\n{key} OK\n");
    assert!(file.lines().all(|l| l.len() < FGETS_CHUNK));
    let mut map = AccessMap::parse(file.as_bytes());
    let edit = map.set(&key, "PERM+VERIFY:128");
    let after = map.to_bytes();
    if edit.is_err() {
        // Refusing is right; then nothing may have changed.
        assert_eq!(
            after,
            file.as_bytes(),
            "set refused ({edit:?}) but changed the map"
        );
        return;
    }
    let lines = split_lines(&after);
    let entry = AccessMap::parse(lines[1]);
    assert!(
        entry.lines[0]
            .entry()
            .is_some_and(|e| e.lookup_key() == key.as_bytes().to_ascii_lowercase()
                && e.value() == "PERM+VERIFY:128"),
        "set(<{}-byte key>, \"PERM+VERIFY:128\") on `<key> OK` -> {edit:?} wrote a {}-byte \
         line that makemap reads as {}",
        key.len(),
        lines[1].len(),
        match &entry.lines[0].kind {
            LineKind::TooLong { len, .. } =>
                format!("too long ({len} bytes; makemap: \"line too long\")"),
            other => format!("{other:?}"),
        }
    );
}

/// The same through the CLI: `set-tls` either refuses or writes a file that
/// makemap accepts.
#[test]
fn set_tls_output_is_always_readable_by_makemap() {
    let makemap = require("makemap");
    let tmp = tempdir();
    let file = tmp.path().join("access");
    let host = format!("{}.example", "h".repeat(1010));
    write(&file, b"# TLS\n");
    let o = run(studio(tmp.path())
        .args(["access", "set-tls", "--tag", "TLS_Clt", "--host", &host])
        .args(["--require", "PERM+VERIFY:128", "--access"])
        .arg(&file));
    if o.status.success() {
        let built = run(Command::new(&makemap)
            .arg("hash")
            .arg(tmp.path().join("db"))
            .stdin(std::fs::File::open(&file).unwrap()));
        assert!(
            built.status.success(),
            "set-tls --host <{} bytes> saved a line makemap refuses ({}): {}",
            host.len(),
            built.status,
            text(&built.stderr)
        );
    } else {
        assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
        assert_eq!(read(&file), b"# TLS\n", "refused but changed the file");
    }
}

proptest! {
    #![proptest_config(proptest_config(1000))]

    #[test]
    fn any_bytes_round_trip(file in prop::collection::vec(any::<u8>(), 0..3000).prop_map(Src)) {
        let file = file.0;
        let back = AccessMap::parse(&file).to_bytes();
        prop_assert!(back == file, "round trip changed\n  in:  {}\n  out: {}", esc(&file), esc(&back));
    }
}

// ------------------------------------------------ 2. against makemap

/// For each makemap line number (1-based, index + 1), the physical line it
/// lies on: makemap counts `fgets` pieces of at most 1023 bytes.
fn makemap_line_numbers(data: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, raw) in split_lines(data).iter().enumerate() {
        for _ in 0..raw.len().div_ceil(FGETS_CHUNK) {
            out.push(i + 1);
        }
    }
    out
}

/// The `line N` numbers of makemap's complaints.
fn makemap_complaints(stderr: &str) -> Vec<(usize, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let at = l.find(": line ")? + ": line ".len();
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            Some((digits.parse().ok()?, l.to_string()))
        })
        .collect()
}

fn sorted_lines(b: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = split_lines(b)
        .into_iter()
        .map(|l| l.strip_suffix(b"\n").unwrap_or(l).to_vec())
        .collect();
    v.sort();
    v
}

/// Compares one file with makemap; `None` when everything agrees.
fn compare_with_makemap(makemap: &Path, dir: &Path, i: usize, data: &[u8]) -> Option<String> {
    let src = dir.join(format!("access{i}"));
    let db = dir.join(format!("db{i}"));
    write(&src, data);
    let mut problems = Vec::new();

    let built = run(Command::new(makemap)
        .arg("hash")
        .arg(&db)
        .stdin(std::fs::File::open(&src).expect("open source")));
    let code = built.status.code();
    if !matches!(code, Some(0 | 65)) {
        problems.push(format!(
            "makemap hash exited {} (not 0 or 65): {}",
            built.status,
            text(&built.stderr)
        ));
    }
    let listed = run(Command::new(makemap).args(["-u", "hash"]).arg(&db));
    if !listed.status.success() {
        problems.push(format!(
            "makemap -u failed: {}: {}",
            listed.status,
            text(&listed.stderr)
        ));
    }
    let dumped = run(studio(dir).args(["access", "dump"]).arg(&src));
    if !dumped.status.success() {
        problems.push(format!(
            "access dump failed: {}: {}",
            dumped.status,
            text(&dumped.stderr)
        ));
    }
    if listed.status.success() && dumped.status.success() {
        let want = sorted_lines(&listed.stdout);
        let got = sorted_lines(&dumped.stdout);
        let only_makemap: Vec<_> = want.iter().filter(|l| !got.contains(l)).collect();
        let only_dump: Vec<_> = got.iter().filter(|l| !want.contains(l)).collect();
        for l in only_makemap.iter().take(6) {
            problems.push(format!("makemap stores, dump lacks: {}", esc(l)));
        }
        for l in only_dump.iter().take(6) {
            problems.push(format!("dump shows, makemap lacks:  {}", esc(l)));
        }
        if only_makemap.is_empty() && only_dump.is_empty() && want.len() != got.len() {
            problems.push(format!(
                "{} pairs from makemap, {} from dump",
                want.len(),
                got.len()
            ));
        }
    }

    let complaints = makemap_complaints(&text(&built.stderr));
    if code == Some(65) {
        let checked = run(studio(dir).args(["access", "check"]).arg(&src));
        let out = text(&checked.stdout);
        if checked.status.code() != Some(1) {
            problems.push(format!(
                "makemap exits 65 but access check exits {}",
                checked.status
            ));
        }
        let physical = makemap_line_numbers(data);
        for (n, msg) in &complaints {
            let Some(&line) = physical.get(n - 1) else {
                problems.push(format!("cannot place makemap's line {n}: {msg}"));
                continue;
            };
            let prefix = format!("{}:{line}:", src.display());
            if !out
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(": error: "))
            {
                problems.push(format!(
                    "no access check error on line {line}, where makemap says: {msg}"
                ));
            }
        }
        if complaints.is_empty() {
            problems.push(format!(
                "makemap exited 65 without a `line N:` message: {}",
                text(&built.stderr)
            ));
        }
    }

    (!problems.is_empty()).then(|| {
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn dump_and_check_agree_with_makemap() {
    let makemap = require("makemap");
    let tmp = tempdir();
    // Seeded: the same 200 files on every run.
    let mut runner = TestRunner::deterministic();
    let strategy = access_file();
    let files: Vec<Vec<u8>> = (0..200)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("generate a file")
                .current()
        })
        .collect();
    let differences = par_map(&files, |i, data| {
        compare_with_makemap(&makemap, tmp.path(), i, data)
    });
    if differences.is_empty() {
        return;
    }
    // Every difference; the source lines of the first few files.
    const LISTED: usize = 12;
    let mut msg = format!(
        "{} of {} generated files: `access dump` / `access check` disagree with makemap \
         (the sources of the first {} follow the list):\n\n",
        differences.len(),
        files.len(),
        LISTED.min(differences.len())
    );
    for (i, problems) in &differences {
        msg.push_str(&format!("file #{i}:\n{problems}\n"));
    }
    for (i, _) in differences.iter().take(LISTED) {
        let data = &files[*i];
        msg.push_str(&format!("\nsource of file #{i} ({} bytes):\n", data.len()));
        for (n, l) in split_lines(data).iter().enumerate() {
            msg.push_str(&format!("  {:>3}| {}\n", n + 1, esc(l)));
        }
    }
    panic!("{msg}");
}

// --------------------------------------------------- 3. bad input

/// Deterministic pseudo-random bytes (splitmix64).
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

struct BadCase {
    name: &'static str,
    path: PathBuf,
    /// Exit status of `access check`.
    check_status: i32,
    /// Exit status of `access dump`.
    dump_status: i32,
    /// Each `FILE:LINE:` error line must contain this.
    error_mentions: Option<&'static str>,
}

#[test]
fn bad_input_gives_clear_messages_and_statuses() {
    let tmp = tempdir();
    let d = tmp.path();
    let limit = Duration::from_secs(20);

    let mut garb = garbage(256 * 1024, 42);
    garb[1000] = 0; // a NUL byte: makemap cannot read that line
    write(&d.join("garbage"), &garb);
    let mut big = b"TLS_Clt:".to_vec();
    big.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    big.extend_from_slice(b" VERIFY\n");
    write(&d.join("long-line"), &big);
    write(
        &d.join("crlf"),
        b"# comment\r\nTLS_Clt:client.example.net PERM+VERIFY:128\r\nCERTISSUER:/CN=Studio+20Test+20CA RELAY\r\n",
    );
    write(
        &d.join("no-final-newline"),
        b"# comment\nTLS_Clt:client.example.net PERM+VERIFY:128",
    );
    write(&d.join("empty"), b"");
    std::fs::create_dir(d.join("a-directory")).unwrap();

    let case = |name, check_status, dump_status, error_mentions| BadCase {
        name,
        path: d.join(name),
        check_status,
        dump_status,
        error_mentions,
    };
    let cases = [
        case("garbage", 1, 0, None),
        case("long-line", 1, 0, Some("bytes")),
        case("crlf", 1, 0, Some("carriage return")),
        case("no-final-newline", 0, 0, None),
        case("empty", 0, 0, None),
        case("missing", 1, 1, None),
        case("a-directory", 1, 1, None),
    ];

    // Every command on its own thread: a slow one costs its limit once.
    let runs: Vec<(&str, i32, &BadCase)> = cases
        .iter()
        .flat_map(|c| [("check", c.check_status, c), ("dump", c.dump_status, c)])
        .collect();
    let problems = par_map(&runs, |_, &(cmd, want, c)| {
        let t = run_timed(studio(d).args(["access", cmd]).arg(&c.path), limit);
        let shown = c.path.display().to_string();
        let all = format!("{}{}", text(&t.stdout), text(&t.stderr));
        let mut bad = Vec::new();
        match t.status.and_then(|s| s.code()) {
            Some(code) if code == want => {}
            _ => bad.push(format!("exit status should be {want}")),
        }
        if t.elapsed > limit {
            bad.push(format!("took longer than {} s", limit.as_secs()));
        }
        if all.contains("panicked") || all.contains("fatal runtime error") {
            bad.push("it crashed".into());
        }
        if want != 0 && !all.contains(&shown) {
            bad.push("no message names the file".into());
        }
        if want != 0 && t.stderr.is_empty() && t.stdout.is_empty() {
            bad.push("fails silently".into());
        }
        if cmd == "check" {
            let errors: Vec<&str> = std::str::from_utf8(&t.stdout)
                .unwrap_or("")
                .lines()
                .filter(|l| l.contains(": error: "))
                .collect();
            if c.check_status == 1 && c.error_mentions.is_some() && errors.is_empty() {
                bad.push("no `FILE:LINE:COL: error:` line".into());
            }
            for l in &errors {
                if !l.starts_with(&format!("{shown}:")) {
                    bad.push(format!("error line does not start with the file: {l}"));
                }
                if let Some(m) = c.error_mentions {
                    if !l.contains(m) {
                        bad.push(format!("error line does not mention {m:?}: {l}"));
                    }
                }
            }
            if c.name == "crlf" {
                for n in [2, 3] {
                    let at = format!("{shown}:{n}:");
                    if !errors.iter().any(|l| l.starts_with(&at)) {
                        bad.push(format!("no error on CRLF line {n}"));
                    }
                }
            }
            if c.check_status == 0 && !errors.is_empty() {
                bad.push("errors on a valid file".into());
            }
        }
        (!bad.is_empty()).then(|| {
            format!(
                "`access {cmd}` on {} ({}): {}\n{}",
                c.name,
                shown,
                bad.join("; "),
                t.describe()
            )
        })
    });
    assert!(
        problems.is_empty(),
        "bad input handled wrongly:\n\n{}",
        problems
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

// ------------------------------------------------- 4. edits end to end

struct Pki {
    home: PathBuf,
    client_crt: PathBuf,
    ca_crt: PathBuf,
    /// `${cert_issuer}` of the client certificate.
    issuer: String,
    /// `${cert_subject}` of the client certificate.
    subject: String,
    /// The CA certificate's own subject, sendmail form.
    ca_subject: String,
}

fn show_json(home: &Path, cert: &Path) -> serde_json::Value {
    let out = run_ok(studio(home).arg("show").arg(cert).arg("--json"));
    let v: serde_json::Value = serde_json::from_str(&out).expect("show --json is JSON");
    v[0].clone()
}

fn make_pki(home: &Path) -> Pki {
    crate::support::Pki::new(home)
        .ecdsa_host("client.example.net")
        .make();
    let client_crt = home.join("hosts/client.example.net.crt");
    let ca_crt = home.join("ca/ca.crt");
    let c = show_json(home, &client_crt);
    let ca = show_json(home, &ca_crt);
    let s = |v: &serde_json::Value, k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("show --json has no {k}: {v}"))
            .to_string()
    };
    Pki {
        home: home.to_path_buf(),
        issuer: s(&c, "issuer_sendmail"),
        subject: s(&c, "subject_sendmail"),
        ca_subject: s(&ca, "subject_sendmail"),
        client_crt,
        ca_crt,
    }
}

/// `access add-cert-relay` / `set-tls` / `remove` with `--access FILE`.
fn access_cmd(pki: &Pki, file: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = studio(&pki.home);
    cmd.arg("access").args(args).arg("--access").arg(file);
    run(&mut cmd)
}

fn describe(o: &std::process::Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// Runs an edit that must save; checks exit 0, the backup holds the
/// previous bytes and the mode is kept. Returns the new bytes.
fn edit_ok(pki: &Pki, file: &Path, args: &[&str]) -> Vec<u8> {
    let before = std::fs::read(file).ok();
    let mode_before = before.as_ref().map(|_| mode(file));
    let o = access_cmd(pki, file, args);
    assert!(
        o.status.success(),
        "access {args:?} failed: {}",
        describe(&o)
    );
    let now = read(file);
    // A save (the content changed) keeps the previous version and the mode.
    if let (Some(old), Some(m)) = (before.filter(|b| *b != now), mode_before) {
        let bak = PathBuf::from(format!("{}.bak", file.display()));
        assert_eq!(
            esc(&read(&bak)),
            esc(&old),
            "access {args:?}: {} does not hold the previous content",
            bak.display()
        );
        assert_eq!(
            mode(file),
            m,
            "access {args:?} changed the mode of {}",
            file.display()
        );
    }
    assert!(
        !text(&o.stderr).contains("panicked"),
        "access {args:?}: {}",
        describe(&o)
    );
    now
}

/// Runs an edit that must be refused: exit 1, a message, file unchanged.
fn edit_refused(pki: &Pki, file: &Path, args: &[&str]) {
    let before = std::fs::read(file).ok();
    let o = access_cmd(pki, file, args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "access {args:?} should be refused: {}",
        describe(&o)
    );
    assert!(
        text(&o.stderr).contains("error"),
        "access {args:?} refused without a message: {}",
        describe(&o)
    );
    assert!(
        !text(&o.stderr).contains("panicked"),
        "access {args:?}: {}",
        describe(&o)
    );
    assert_eq!(
        std::fs::read(file).ok().map(|b| esc(&b)),
        before.map(|b| esc(&b)),
        "access {args:?} was refused but changed {}",
        file.display()
    );
}

fn check_passes(pki: &Pki, file: &Path) {
    let ca_dir = pki.ca_crt.parent().unwrap();
    let o = run(studio(&pki.home)
        .args(["access", "check"])
        .arg(file)
        .arg("--ca-path")
        .arg(ca_dir));
    assert!(
        o.status.success() && !text(&o.stdout).contains(": error: "),
        "access check of the edited {}:\n{}\n{}",
        file.display(),
        text(&read(file)),
        describe(&o)
    );
    assert!(
        !text(&o.stdout).contains("no CA in the CA path"),
        "the CERTISSUER written is not the CA's subject: {}",
        describe(&o)
    );
}

fn makemap_accepts(file: &Path, db_dir: &Path) {
    let makemap = require("makemap");
    let db = db_dir.join(format!(
        "{}-check",
        file.file_name().unwrap().to_string_lossy()
    ));
    let o = run(Command::new(makemap)
        .arg("hash")
        .arg(&db)
        .stdin(std::fs::File::open(file).unwrap()));
    assert!(
        o.status.success(),
        "makemap refuses the edited {}:\n{}\n{}",
        file.display(),
        text(&read(file)),
        describe(&o)
    );
}

/// The file's lines without the one at `skip` (1-based).
fn lines_without(data: &[u8], skip: usize) -> Vec<Vec<u8>> {
    split_lines(data)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i + 1 != skip)
        .map(|(_, l)| l.to_vec())
        .collect()
}

fn line_number_of(data: &[u8], line: &[u8]) -> Option<usize> {
    split_lines(data)
        .iter()
        .position(|l| *l == line)
        .map(|i| i + 1)
}

fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The edited maps of the end-to-end test, for the sendmail check.
struct EditedMaps {
    relay_all: PathBuf,
    relay_subject: PathBuf,
}

fn edit_maps(pki: &Pki, dir: &Path) -> EditedMaps {
    require("makemap");
    let issuer_line = format!("CERTISSUER:{}\tRELAY\n", pki.issuer);
    assert_eq!(
        pki.issuer, "/CN=Studio+20Test+20CA",
        "the client certificate's ${{cert_issuer}}"
    );

    // --- add-cert-relay on an existing file with a comment and an entry
    let relay_all = dir.join("access-relay");
    let head = b"# relays by address\nConnect:127.0.0.2\tRELAY\n".to_vec();
    write(&relay_all, &head);
    std::fs::set_permissions(&relay_all, std::fs::Permissions::from_mode(0o640)).unwrap();
    let client = pki.client_crt.to_str().unwrap();
    let now = edit_ok(pki, &relay_all, &["add-cert-relay", "--cert", client]);
    assert_eq!(
        esc(&now),
        esc(&[&head[..], issuer_line.as_bytes()].concat()),
        "add-cert-relay should add exactly the CERTISSUER line"
    );
    assert_eq!(mode(&relay_all), 0o640);

    // Again: already there, nothing changes.
    let again = edit_ok(pki, &relay_all, &["add-cert-relay", "--cert", client]);
    assert_eq!(
        esc(&again),
        esc(&now),
        "a second add-cert-relay changed the file"
    );

    // --subject where every certificate of the CA already relays: refused.
    edit_refused(
        pki,
        &relay_all,
        &["add-cert-relay", "--cert", client, "--subject"],
    );

    // --- --subject on a fresh file
    let relay_subject = dir.join("access-subject");
    let now = edit_ok(
        pki,
        &relay_subject,
        &["add-cert-relay", "--cert", client, "--subject"],
    );
    assert_eq!(
        text(&now),
        format!(
            "CERTISSUER:{}\tSUBJECT\nCERTSUBJECT:{}\tRELAY\n",
            pki.issuer, pki.subject
        ),
        "add-cert-relay --subject on a new file"
    );
    assert_eq!(pki.subject, "/CN=client.example.net");

    // --- a CA certificate: CERTISSUER with the CA's own subject
    let relay_ca = dir.join("access-ca");
    let now = edit_ok(
        pki,
        &relay_ca,
        &["add-cert-relay", "--cert", pki.ca_crt.to_str().unwrap()],
    );
    assert_eq!(
        text(&now),
        format!("CERTISSUER:{}\tRELAY\n", pki.ca_subject),
        "add-cert-relay --cert CA"
    );
    assert_eq!(pki.ca_subject, pki.issuer);

    // --- set-tls: add, change in place, refuse, dry run, remove
    let tls = dir.join("access-tls");
    let start = b"# TLS requirements\nTLS_Srv:mx.example.org\tENCR:128\n\n# relays\nConnect:127.0.0.2 RELAY\n# end\n".to_vec();
    write(&tls, &start);
    std::fs::set_permissions(&tls, std::fs::Permissions::from_mode(0o640)).unwrap();
    let set = |req: &str, extra: &[&str]| {
        let mut a = vec![
            "set-tls",
            "--tag",
            "TLS_Clt",
            "--host",
            "client.example.net",
            "--require",
            req,
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };

    let added = edit_ok(pki, &tls, &as_refs(&set("PERM+VERIFY:128", &[])));
    let line1 = b"TLS_Clt:client.example.net\tPERM+VERIFY:128\n";
    let n = line_number_of(&added, line1)
        .unwrap_or_else(|| panic!("set-tls did not add {:?}:\n{}", text(line1), text(&added)));
    assert_eq!(
        lines_without(&added, n).concat(),
        start,
        "set-tls changed other lines:\n{}",
        text(&added)
    );
    check_passes(pki, &tls);

    let changed = edit_ok(pki, &tls, &as_refs(&set("VERIFY:256", &[])));
    let line2 = b"TLS_Clt:client.example.net\tVERIFY:256\n";
    assert_eq!(
        line_number_of(&changed, line2),
        Some(n),
        "the second set-tls should change line {n} in place:\n{}",
        text(&changed)
    );
    assert_eq!(
        lines_without(&changed, n),
        lines_without(&added, n),
        "the second set-tls changed other lines:\n{}",
        text(&changed)
    );

    edit_refused(pki, &tls, &as_refs(&set("VERIFY 128", &[])));

    let dry = access_cmd(pki, &tls, &as_refs(&set("ENCR:128", &["--dry-run"])));
    assert!(
        dry.status.success(),
        "set-tls --dry-run: {}",
        describe(&dry)
    );
    assert_eq!(
        esc(&read(&tls)),
        esc(&changed),
        "--dry-run changed the file"
    );
    assert!(
        text(&dry.stdout).contains("TLS_Clt:client.example.net\tENCR:128"),
        "--dry-run should print the new line: {}",
        describe(&dry)
    );

    let dry = access_cmd(
        pki,
        &tls,
        &["remove", "TLS_Clt:client.example.net", "--dry-run"],
    );
    assert!(dry.status.success(), "remove --dry-run: {}", describe(&dry));
    assert_eq!(
        esc(&read(&tls)),
        esc(&changed),
        "remove --dry-run changed the file"
    );

    let removed = edit_ok(pki, &tls, &["remove", "tls_clt:Client.Example.NET"]);
    assert_eq!(
        esc(&removed),
        esc(&start),
        "remove should give back the original file"
    );
    edit_refused(pki, &tls, &["remove", "TLS_Clt:client.example.net"]);

    // --makemap builds the database next to the file.
    let db = PathBuf::from(format!("{}.db", tls.display()));
    assert!(!db.exists());
    let last = edit_ok(pki, &tls, &as_refs(&set("PERM+VERIFY:128", &["--makemap"])));
    assert!(
        line_number_of(&last, line1).is_some(),
        "set-tls --makemap did not add the line:\n{}",
        text(&last)
    );
    assert!(db.is_file(), "--makemap did not create {}", db.display());
    assert_eq!(mode(&tls), 0o640, "mode after all edits");

    for f in [&relay_all, &relay_subject, &relay_ca, &tls] {
        check_passes(pki, f);
        makemap_accepts(f, dir);
    }
    EditedMaps {
        relay_all,
        relay_subject,
    }
}

#[test]
fn edits_write_exact_lines_keep_the_rest_and_work_in_sendmail() {
    let tmp = tempdir();
    let home = tmp.path().join("home");
    let pki = make_pki(&home);
    let maps = edit_maps(&pki, tmp.path());

    // ---------------------------------------------- 5. real sendmail
    let peer = Peer::start(&tmp.path().join("peer"), &[]);
    assert!(peer.env.contains_key("cf"), "start printed no cf=");
    let answers = |file: &Path, macros: &[(&str, &str)]| -> String {
        let mut cmd = Command::new(sendmail_peer_dir().join("bt"));
        cmd.arg("--dir")
            .arg(&peer.dir)
            .arg("--access")
            .arg(file)
            .args(["--ruleset", "RelayTLS", "--result"]);
        for (k, v) in macros {
            cmd.arg("--macro").arg(format!("{k}={v}"));
        }
        let o = run(cmd.stdin(Stdio::null()));
        assert!(o.status.success(), "bt failed: {}", describe(&o));
        text(&o.stdout).trim().to_string()
    };
    let issuer = pki.issuer.as_str();
    let mut problems = Vec::new();
    for (what, file, macros, relay) in [
        (
            "CERTISSUER RELAY, our CA",
            &maps.relay_all,
            vec![("verify", "OK"), ("cert_issuer", issuer)],
            true,
        ),
        (
            "CERTISSUER RELAY, another CA (control)",
            &maps.relay_all,
            vec![("verify", "OK"), ("cert_issuer", "/CN=Other+20CA")],
            false,
        ),
        (
            "CERTISSUER SUBJECT + CERTSUBJECT, our certificate",
            &maps.relay_subject,
            vec![
                ("verify", "OK"),
                ("cert_issuer", issuer),
                ("cert_subject", pki.subject.as_str()),
            ],
            true,
        ),
        (
            "CERTISSUER SUBJECT + CERTSUBJECT, another subject (control)",
            &maps.relay_subject,
            vec![
                ("verify", "OK"),
                ("cert_issuer", issuer),
                ("cert_subject", "/CN=other.example.net"),
            ],
            false,
        ),
    ] {
        let got = answers(file, &macros);
        if (got == "$# RELAY") != relay {
            problems.push(format!(
                "{what}: sendmail's RelayTLS answers `{got}`, expected {}\n  map {}:\n{}",
                if relay { "`$# RELAY`" } else { "no RELAY" },
                file.display(),
                text(&read(file))
            ));
        }
    }
    drop(peer);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Entries that can never act, or that silently weaken a requirement, are
/// errors for `access check` (exit 1): a relay value other than
/// RELAY/SUBJECT, bits that are not a number, a certificate DN not in
/// sendmail's `/…` form. `--strict` makes warnings fail too; `doctor`
/// keeps them warnings (sendmail runs with such a map).
#[test]
fn entries_that_never_act_are_errors_and_strict_fails_on_warnings() {
    let t = tempdir();
    let d = t.path();
    let cases: [(&str, &str, &str); 4] = [
        (
            "relay-typo",
            "CERTISSUER:/CN=Studio+20Test+20CA\tRELAYY\n",
            "only acts on RELAY or SUBJECT",
        ),
        (
            "subject-typo",
            "CERTISSUER:/CN=CA\tSUBJECT\nCERTSUBJECT:/CN=mx\tOK\n",
            "CERTSUBJECT only acts on RELAY",
        ),
        (
            "bits-word",
            "TLS_Clt:client.example.net\tVERIFY:high\n",
            "is not a plain number",
        ),
        (
            "oneline-dn",
            "CERTISSUER:CN=Studio+20Test+20CA\tRELAY\n",
            "start with `/`",
        ),
    ];
    for (name, content, needle) in cases {
        let f = d.join(name);
        write(&f, content.as_bytes());
        let o = run(studio(d).args(["access", "check"]).arg(&f));
        let stdout = text(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{name}: {stdout}");
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(": error: ") && l.contains(needle)),
            "{name}: no error saying `{needle}`: {stdout}"
        );
    }
    // A warning alone passes, unless --strict.
    let f = d.join("octal");
    write(&f, b"TLS_Clt:client.example.net\tVERIFY:0128\n");
    let o = run(studio(d).args(["access", "check"]).arg(&f));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains(": warning: "));
    let o = run(studio(d).args(["access", "check", "--strict"]).arg(&f));
    assert_eq!(o.status.code(), Some(1), "--strict fails on the warning");
}

// ------------------------------------- explicit edits and --ca

const HEAD: &[u8] = b"# ours\nConnect:127.0.0.1\tRELAY\n";
const OUR_CA_LINE: &str = "CERTISSUER:/CN=Example+20Mail+20CA\tRELAY";

/// A home with a CA made by `ca init` (RSA keys are slow; the kind does
/// not matter here).
fn home_with_ca(dir: &Path) -> PathBuf {
    let home = dir.join("home");
    run_ok(studio(&home).args([
        "ca",
        "init",
        "--cn",
        "Example Mail CA",
        "--key",
        "ecdsa-p256",
    ]));
    home
}

/// Stderr of an edit that must succeed.
fn edit_stderr(cmd: &mut Command) -> (String, String) {
    let o = run(cmd);
    assert!(o.status.success(), "{cmd:?}: {}", describe(&o));
    (text(&o.stdout), text(&o.stderr))
}

fn owner_group_mode(p: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// `needle`'s position in `hay`, which must hold it.
fn at(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("no `{needle}` in:\n{hay}"))
}

/// add-cert-relay, set-tls (a change: `-` and `+`) and remove each name
/// the file they edit and show the diff on stderr before saving; stdout
/// stays empty; owner, group and mode survive every save.
#[test]
fn every_edit_names_its_file_and_shows_the_diff_before_saving() {
    let t = tempdir();
    let home = home_with_ca(t.path());
    let f = t.path().join("access");
    write(&f, HEAD);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&f, Some(0), Some(65534)).unwrap();
    let heading = format!("{}: the changes", f.display());
    let saved = format!("saved {}", f.display());
    let edit = |args: &[&str]| {
        edit_stderr(
            studio(&home)
                .arg("access")
                .args(args)
                .arg("--access")
                .arg(&f),
        )
    };

    let (out, err) = edit(&["add-cert-relay", "--ca"]);
    assert_eq!(out, "", "stdout stays empty");
    assert!(!err.contains("the default"), "{err}");
    let h = at(&err, &heading);
    let plus = at(&err, &format!("+ {OUR_CA_LINE}\n"));
    at(&err, "  Connect:127.0.0.1\tRELAY\n");
    assert!(h < plus && plus < at(&err, &saved), "{err}");
    assert_eq!(read(&f), [HEAD, OUR_CA_LINE.as_bytes(), b"\n"].concat());
    assert_eq!(
        owner_group_mode(&f),
        (0, 65534, 0o640),
        "after add-cert-relay"
    );

    edit(&[
        "set-tls",
        "--tag",
        "TLS_Clt",
        "--host",
        "c.example.net",
        "--require",
        "VERIFY",
    ]);
    let (out, err) = edit(&[
        "set-tls",
        "--tag",
        "TLS_Clt",
        "--host",
        "c.example.net",
        "--require",
        "VERIFY:128",
    ]);
    assert_eq!(out, "");
    let h = at(&err, &heading);
    let minus = at(&err, "- TLS_Clt:c.example.net\tVERIFY\n");
    let plus = at(&err, "+ TLS_Clt:c.example.net\tVERIFY:128\n");
    assert!(
        h < minus && minus < plus && plus < at(&err, &saved),
        "{err}"
    );
    assert_eq!(owner_group_mode(&f), (0, 65534, 0o640), "after set-tls");

    let (out, err) = edit(&["remove", "CERTISSUER:/CN=Example+20Mail+20CA"]);
    assert_eq!(out, "");
    let h = at(&err, &heading);
    let minus = at(&err, &format!("- {OUR_CA_LINE}\n"));
    assert!(h < minus && minus < at(&err, &saved), "{err}");
    assert!(!err.contains("\n+ "), "a removal adds nothing: {err}");
    assert_eq!(
        read(&f),
        [HEAD, b"TLS_Clt:c.example.net\tVERIFY:128\n"].concat()
    );
    assert_eq!(owner_group_mode(&f), (0, 65534, 0o640), "after remove");

    // A file that does not exist yet is named as new.
    let new = t.path().join("new-access");
    let (_, err) = edit_stderr(
        studio(&home)
            .args(["access", "add-cert-relay", "--ca", "--access"])
            .arg(&new),
    );
    at(
        &err,
        &format!("{} (a new file): the changes", new.display()),
    );
    at(&err, &format!("+ {OUR_CA_LINE}\n"));
}

/// A dry run names the file and shows the diff, prints the new lines on
/// stdout as before, and writes nothing.
#[test]
fn a_dry_run_shows_file_and_diff_and_writes_nothing() {
    let t = tempdir();
    let home = home_with_ca(t.path());
    let f = t.path().join("access");
    write(&f, &[HEAD, OUR_CA_LINE.as_bytes(), b"\n"].concat());
    let before = read(&f);
    let dry = |args: &[&str]| {
        edit_stderr(
            studio(&home)
                .arg("access")
                .args(args)
                .args(["--dry-run", "--access"])
                .arg(&f),
        )
    };
    let not_changed = format!("(dry run: {} not changed)", f.display());

    let (out, err) = dry(&[
        "set-tls",
        "--tag",
        "TLS_Clt",
        "--host",
        "c.example.net",
        "--require",
        "VERIFY",
    ]);
    assert_eq!(out, "TLS_Clt:c.example.net\tVERIFY\n");
    assert!(
        at(&err, &format!("{}: the changes", f.display()))
            < at(&err, "+ TLS_Clt:c.example.net\tVERIFY\n"),
        "{err}"
    );
    at(&err, &not_changed);
    assert!(!err.contains("saved"), "{err}");

    let (out, err) = dry(&["remove", "CERTISSUER:/CN=Example+20Mail+20CA"]);
    assert_eq!(out, "");
    at(&err, &format!("{}: the changes", f.display()));
    at(&err, &format!("- {OUR_CA_LINE}\n"));
    at(&err, &not_changed);

    let (_, err) = dry(&["add-cert-relay", "--ca"]);
    at(&err, &format!("{}: nothing to change", f.display()));

    assert_eq!(read(&f), before, "a dry run wrote");
    assert!(
        !t.path().join("access.bak").exists(),
        "a dry run made a backup"
    );
}

/// An edit that changes nothing says so and does not touch the file (no
/// new inode, no backup).
#[test]
fn an_edit_that_changes_nothing_says_so_and_writes_nothing() {
    use std::os::unix::fs::MetadataExt;
    let t = tempdir();
    let home = home_with_ca(t.path());
    let f = t.path().join("access");
    write(
        &f,
        &[
            HEAD,
            OUR_CA_LINE.as_bytes(),
            b"\nTLS_Srv:mx.example.net\tVERIFY\n",
        ]
        .concat(),
    );
    let before = (read(&f), std::fs::metadata(&f).unwrap().ino());
    for args in [
        &["add-cert-relay", "--ca"][..],
        &[
            "set-tls",
            "--tag",
            "TLS_Srv",
            "--host",
            "mx.example.net",
            "--require",
            "VERIFY",
        ],
    ] {
        let (out, err) = edit_stderr(
            studio(&home)
                .arg("access")
                .args(args)
                .arg("--access")
                .arg(&f),
        );
        assert_eq!(out, "", "{args:?}");
        at(&err, &format!("{}: nothing to change", f.display()));
        assert!(
            !err.contains("saved") && !err.contains("\n+ ") && !err.contains("\n- "),
            "{args:?}: {err}"
        );
        assert_eq!(
            (read(&f), std::fs::metadata(&f).unwrap().ino()),
            before,
            "{args:?} rewrote the file"
        );
        assert!(!t.path().join("access.bak").exists(), "{args:?}");
    }
}

/// Without --access the edit goes to /etc/mail/access and says that this
/// is the default. Run in a private mount namespace with a scratch
/// directory over /etc/mail, so the real edit happens and the machine's
/// own file is never touched.
#[test]
fn without_access_the_default_file_is_named_as_the_default() {
    let t = tempdir();
    let home = home_with_ca(t.path());
    let etc_mail = t.path().join("etc-mail");
    std::fs::create_dir(&etc_mail).unwrap();
    write(&etc_mail.join("access"), HEAD);
    let real = std::fs::read("/etc/mail/access").ok();
    let o = run(Command::new(require("unshare"))
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/mail && shift && exec "$@""#)
        .arg("sh")
        .arg(&etc_mail)
        .arg(crate::support::studio_bin())
        .arg("--home")
        .arg(&home)
        .args(["access", "add-cert-relay", "--ca"])
        .env_remove("STARTTLS_STUDIO_HOME"));
    let err = text(&o.stderr);
    assert!(o.status.success(), "{}", describe(&o));
    let h = at(
        &err,
        "/etc/mail/access (the default: no --access FILE given): the changes\n",
    );
    assert!(
        h < at(&err, &format!("+ {OUR_CA_LINE}\n")) && h < at(&err, "saved /etc/mail/access"),
        "{err}"
    );
    assert_eq!(
        read(&etc_mail.join("access")),
        [HEAD, OUR_CA_LINE.as_bytes(), b"\n"].concat()
    );
    assert_eq!(
        std::fs::read("/etc/mail/access").ok(),
        real,
        "the machine's /etc/mail/access was changed"
    );
}

/// `--ca` is the CA of the home STARTTLS_STUDIO_HOME names (not of the
/// default data directory, which has another CA here), and writes exactly
/// what `--cert HOME/ca/ca.crt` writes.
#[test]
fn ca_is_the_ca_of_the_home_starttls_studio_home_names() {
    let t = tempdir();
    let user_home = t.path().join("user");
    std::fs::create_dir(&user_home).unwrap();
    let bare = |home_env: Option<&Path>| {
        let mut c = Command::new(crate::support::studio_bin());
        c.env("HOME", &user_home).env_remove("XDG_DATA_HOME");
        match home_env {
            Some(h) => c.env("STARTTLS_STUDIO_HOME", h),
            None => c.env_remove("STARTTLS_STUDIO_HOME"),
        };
        c
    };
    // The default data directory gets a CA of its own.
    run_ok(bare(None).args(["ca", "init", "--cn", "Default CA", "--key", "ecdsa-p256"]));
    let home = t.path().join("studio-home");
    run_ok(bare(Some(&home)).args([
        "ca",
        "init",
        "--cn",
        "Example Mail CA",
        "--key",
        "ecdsa-p256",
    ]));

    let by_ca = t.path().join("by-ca");
    let by_cert = t.path().join("by-cert");
    write(&by_ca, HEAD);
    write(&by_cert, HEAD);
    let (_, err) = edit_stderr(
        bare(Some(&home))
            .args(["access", "add-cert-relay", "--ca", "--access"])
            .arg(&by_ca),
    );
    at(&err, &format!("+ {OUR_CA_LINE}\n"));
    edit_stderr(
        bare(Some(&home))
            .args(["access", "add-cert-relay", "--cert"])
            .arg(home.join("ca/ca.crt"))
            .arg("--access")
            .arg(&by_cert),
    );
    assert_eq!(esc(&read(&by_ca)), esc(&read(&by_cert)));
    assert_eq!(read(&by_ca), [HEAD, OUR_CA_LINE.as_bytes(), b"\n"].concat());
}

/// `--ca` in a home without a CA is refused (exit 1) with the command that
/// makes one; nothing is written.
#[test]
fn ca_without_a_ca_is_refused_with_the_way_out() {
    let t = tempdir();
    let empty = t.path().join("empty-home");
    let f = t.path().join("access");
    for home in [&empty, &t.path().to_path_buf()] {
        let o = run(studio(home)
            .args(["access", "add-cert-relay", "--ca", "--access"])
            .arg(&f));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
        assert!(
            err.contains(&format!("no CA in {}", home.display()))
                && err.contains("starttls-studio ca init --cn NAME"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!f.exists(), "a refused --ca wrote the access file");
    assert!(!empty.exists(), "a refused --ca created the home");
}

/// `--ca` and `--cert` together, or neither, are usage errors (exit 2).
#[test]
fn ca_with_cert_or_neither_is_a_usage_error() {
    let t = tempdir();
    let home = home_with_ca(t.path());
    let f = t.path().join("access");
    let ca = home.join("ca/ca.crt");
    for args in [
        vec![
            "--ca".to_string(),
            "--cert".into(),
            ca.display().to_string(),
        ],
        vec![],
    ] {
        let o = run(studio(&home)
            .args(["access", "add-cert-relay"])
            .args(&args)
            .arg("--access")
            .arg(&f));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", describe(&o));
        let err = text(&o.stderr);
        assert!(err.contains("--ca") && err.contains("--cert"), "{err}");
    }
    assert!(!f.exists());
}
