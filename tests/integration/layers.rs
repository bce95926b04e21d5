//! Tidy test: the layers drawn in ARCHITECTURE.md are the real ones.
//!
//! Reads every `src/**/*.rs`, collects the `crate::…` and `super::…` paths
//! of its code (`use` lines, grouped `use` trees and inline paths; comments
//! and the `#[cfg(test)]` part at the end of a file are left out) and fails
//! on:
//! - an import against `core` ← `store` ← `net` ← `cli`/`gui` (a module
//!   uses only the layers to its left; `cli` may open the `gui`, never the
//!   reverse; `fuzzing.rs` sits with the faces and nothing uses it);
//! - two files that import each other (a module naming its own parent's
//!   items, e.g. a view using its `mod.rs`'s types, is not such a pair);
//! - I/O in `core/`: files, sockets, clocks, the environment, processes.

use crate::support::project_root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A source file: its module path (`["store", "home"]`) and its code.
struct Source {
    module: Vec<String>,
    code: String,
}

fn sources() -> Vec<Source> {
    let src = project_root().join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&src).unwrap();
                out.push(Source {
                    module: module_of(rel),
                    code: code_of(&std::fs::read_to_string(&p).unwrap()),
                });
            }
        }
    }
    out.sort_by(|a, b| a.module.cmp(&b.module));
    out
}

/// `store/home.rs` → `[store, home]`; `store/mod.rs` → `[store]`;
/// `lib.rs`, `main.rs` → `[]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments, string contents and the test
/// module at its end.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' && !(i > 0 && b[i - 1] == b'\'') {
            // A string: keep the quotes, drop what is inside.
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            out.push('"');
            i += 1;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Every `crate::`/`super::` path in `code`, with `use` trees expanded.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    // `use` statements, which may group: use crate::{a::b, c::{d, e}};
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let stmt_end = rest[i..].find(';').map_or(rest.len(), |e| i + e);
        if before_ok {
            // `x as y` → `x@y`, then the blanks go.
            let tree: String = rest[i + 4..stmt_end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace(" as ", "@")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            expand("", &tree, &mut paths);
        }
        rest = &rest[stmt_end.min(rest.len() - 1) + 1..];
    }
    // Inline paths: crate::store::fsutil::read_limited(…)
    let b = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(j) = code[from..].find(start) {
            let j = from + j;
            from = j + start.len();
            if j > 0 && (b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'_' || b[j - 1] == b':') {
                continue;
            }
            let end = code[j..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| j + e);
            paths.push(code[j..end].trim_end_matches(':').to_string());
        }
    }
    paths.retain(|p| p.starts_with("crate::") || p.starts_with("super::"));
    paths
}

/// Expands a `use` tree (`a::{b, c::d}`) into full paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let join = |p: &str, s: &str| {
        if p.is_empty() {
            s.to_string()
        } else {
            format!("{p}::{s}")
        }
    };
    match tree.find('{') {
        None => out.push(join(prefix, tree.split('@').next().unwrap_or(tree))),
        Some(open) => {
            let head = tree[..open].trim_end_matches("::");
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let base = join(prefix, head);
            let mut depth = 0;
            let mut last = 0;
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&base, &inner[last..k], out);
                        last = k + 1;
                    }
                    _ => {}
                }
            }
            if last < inner.len() {
                expand(&base, &inner[last..], out);
            }
        }
    }
}

/// The absolute module path a `crate::`/`super::` path names, from the
/// module it is written in.
fn resolve(from: &[String], path: &str) -> Vec<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = if segs[0] == "crate" {
        segs.remove(0);
        Vec::new()
    } else {
        from.to_vec()
    };
    while segs.first() == Some(&"super") {
        segs.remove(0);
        base.pop();
    }
    base.extend(segs.iter().map(|s| s.to_string()));
    base
}

/// The layer of a top-level module; `None` for the crate root's own items.
fn layer(top: &str) -> Option<u8> {
    match top {
        "core" => Some(0),
        "store" => Some(1),
        "net" => Some(2),
        "cli" | "gui" | "fuzzing" => Some(3),
        _ => None,
    }
}

fn is_ancestor(a: &[String], b: &[String]) -> bool {
    a.len() < b.len() && b[..a.len()] == *a
}

#[test]
fn layers_point_one_way_and_no_two_files_import_each_other() {
    let files = sources();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    assert!(
        modules.len() > 40,
        "read only {} files of src/",
        modules.len()
    );
    let mut problems = BTreeSet::new();
    // edges[a] = the files a names (excluding itself).
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for f in &files {
        let Some(own) = f.module.first().and_then(|t| layer(t)) else {
            continue;
        };
        for p in paths_in(&f.code) {
            let target = resolve(&f.module, &p);
            // The file that defines it: the longest module-path prefix.
            let Some(file) = (0..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|m| modules.contains(m))
            else {
                continue;
            };
            if file == f.module {
                continue;
            }
            let Some(top) = file.first() else { continue };
            let Some(theirs) = layer(top) else { continue };
            let (me, them) = (f.module[0].as_str(), top.as_str());
            let wrong = theirs > own
                || (them == "fuzzing" && me != "fuzzing")
                || (me == "gui" && them == "cli");
            if wrong {
                problems.insert(format!(
                    "src/{}: `{p}` reaches into {them}/, against the layers (core <- store <- net <- cli/gui)",
                    f.module.join("/")
                ));
            }
            edges.entry(f.module.clone()).or_default().insert(file);
        }
    }
    for (a, targets) in &edges {
        for b in targets {
            if a < b
                && !is_ancestor(a, b)
                && !is_ancestor(b, a)
                && edges.get(b).is_some_and(|t| t.contains(a))
            {
                problems.insert(format!(
                    "src/{} and src/{} import each other",
                    a.join("/"),
                    b.join("/")
                ));
            }
        }
    }
    let problems: Vec<String> = problems.into_iter().collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn core_does_no_io() {
    const IO: &[&str] = &[
        "std::fs",
        "std::env",
        "std::process",
        "std::thread",
        "std::io::stdin",
        "std::io::stdout",
        "std::io::stderr",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "ToSocketAddrs",
        "SystemTime",
        "Instant::now",
        "now_utc",
        "OffsetDateTime::now",
        "File::open",
        "File::create",
        "read_dir",
    ];
    let mut problems = Vec::new();
    for f in sources() {
        if f.module.first().map(String::as_str) != Some("core") {
            continue;
        }
        for io in IO {
            if f.code.contains(io) {
                problems.push(format!(
                    "src/{}.rs uses `{io}`: core takes values and returns values; do the I/O in store/ or net/ and pass the result in",
                    f.module.join("/")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_what_it_must() {
    // The parser behind the two tests above, on the shapes src/ uses.
    let code = code_of(
        "use super::{a, b::{c, d as e}};\nuse crate::store::x; // crate::net::y\nlet s = \"crate::gui\"; crate::core::z::f();\n#[cfg(test)]\nuse crate::cli::w;",
    );
    let mut p = paths_in(&code);
    p.sort();
    assert_eq!(
        p,
        [
            "crate::core::z::f",
            "crate::store::x",
            "crate::store::x",
            "super::a",
            "super::b::c",
            "super::b::d",
        ]
    );
    let from = vec!["store".to_string(), "home".to_string()];
    assert_eq!(resolve(&from, "super::fsutil::x"), ["store", "fsutil", "x"]);
    assert_eq!(resolve(&from, "crate::net::setup"), ["net", "setup"]);
}
