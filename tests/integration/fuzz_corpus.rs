//! Replays the committed fuzz corpora (`fuzz/corpus/TARGET/`, kept small
//! and minimised) through the fuzz target bodies, without libFuzzer: every
//! input found interesting, and every crash found and fixed, stays a
//! regression test. `docs/fuzzing.md` says how the corpora were made.

use crate::support::project_root;
use std::time::{Duration, Instant};

#[test]
fn fuzz_corpora_replay_without_a_failure() {
    let started = Instant::now();
    let mut total = 0;
    for (name, body) in starttls_studio::fuzzing::TARGETS {
        let dir = project_root().join("fuzz/corpus").join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: empty corpus", dir.display());
        assert!(
            files.len() <= 500,
            "{}: {} files; minimise it (docs/fuzzing.md)",
            dir.display(),
            files.len()
        );
        for f in &files {
            let data = std::fs::read(f).unwrap();
            let r = std::panic::catch_unwind(|| body(&data));
            assert!(r.is_ok(), "fuzz target {name} fails on {}", f.display());
        }
        total += files.len();
    }
    let took = started.elapsed();
    eprintln!("fuzz corpora: {total} inputs replayed in {took:?}");
    assert!(
        took < Duration::from_secs(60),
        "the corpus replay took {took:?}"
    );
}
