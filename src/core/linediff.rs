//! A line diff for previews (the access-map save, files install would
//! replace), shaped for the views: numbered lines, context, skipped gaps.
//! Edits are usually few and local, so the common head and tail are cut
//! first; what remains is diffed by `similar` (Myers) when small, or shown
//! as removed-then-added when large, which bounds the work for a
//! 100,000-line file whatever it holds.

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// Unchanged, with its (1-based) line number in the new text.
    Same(usize, String),
    Removed(usize, String),
    Added(usize, String),
    /// Unchanged lines left out between hunks.
    Skipped(usize),
}

/// Largest middle part (lines on each side) diffed exactly.
const EXACT_LIMIT: usize = 2000;

/// The diff of `old` and `new` with `context` unchanged lines around each
/// change. Empty when the texts are equal.
pub fn diff_lines(old: &str, new: &str, context: usize) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let max_tail = a.len().min(b.len()) - head;
    let tail = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_tail)
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    if am.is_empty() && bm.is_empty() {
        return Vec::new();
    }
    // Full sequence of ops over the whole texts: (kind, old index, new index).
    let mut ops: Vec<(u8, usize, usize)> = (0..head).map(|i| (b'=', i, i)).collect();
    if am.len() <= EXACT_LIMIT && bm.len() <= EXACT_LIMIT {
        use similar::DiffTag;
        for op in similar::capture_diff_slices(similar::Algorithm::Myers, am, bm) {
            let (tag, old, new) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => {
                    ops.extend(old.zip(new).map(|(i, j)| (b'=', head + i, head + j)));
                }
                DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                    ops.extend(old.clone().map(|i| (b'-', head + i, head + new.start)));
                    ops.extend(new.map(|j| (b'+', head + old.end, head + j)));
                }
            }
        }
    } else {
        ops.extend((0..am.len()).map(|i| (b'-', head + i, head)));
        ops.extend((0..bm.len()).map(|j| (b'+', head + am.len(), head + j)));
    }
    ops.extend((0..tail).map(|k| (b'=', a.len() - tail + k, b.len() - tail + k)));

    // Keep changes and `context` lines around them.
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != b'=').collect();
    let mut keep = vec![false; ops.len()];
    for &k in &changed {
        for x in keep
            .iter_mut()
            .take((k + context + 1).min(ops.len()))
            .skip(k.saturating_sub(context))
        {
            *x = true;
        }
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for (k, &(op, i, j)) in ops.iter().enumerate() {
        if !keep[k] {
            skipped += 1;
            continue;
        }
        if skipped > 0 {
            out.push(DiffLine::Skipped(skipped));
            skipped = 0;
        }
        out.push(match op {
            b'=' => DiffLine::Same(j + 1, b[j].to_string()),
            b'-' => DiffLine::Removed(i + 1, a[i].to_string()),
            _ => DiffLine::Added(j + 1, b[j].to_string()),
        });
    }
    if skipped > 0 {
        out.push(DiffLine::Skipped(skipped));
    }
    out
}

/// The diff as text: `-`/`+`/` ` prefixes, `@@ N unchanged lines @@` gaps.
pub fn render(diff: &[DiffLine]) -> String {
    let mut s = String::new();
    for d in diff {
        match d {
            DiffLine::Same(_, l) => s.push_str(&format!("  {l}\n")),
            DiffLine::Removed(_, l) => s.push_str(&format!("- {l}\n")),
            DiffLine::Added(_, l) => s.push_str(&format!("+ {l}\n")),
            DiffLine::Skipped(n) => s.push_str(&format!("@@ {n} unchanged lines @@\n")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(old: &str, d: &[DiffLine]) -> Vec<String> {
        // Rebuild the new text from a full-context diff.
        let _ = old;
        d.iter()
            .filter_map(|x| match x {
                DiffLine::Same(_, l) | DiffLine::Added(_, l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn equal_texts_have_no_diff() {
        assert!(diff_lines("a\nb\n", "a\nb\n", 3).is_empty());
    }

    #[test]
    fn a_changed_line_in_the_middle() {
        let old = (1..=20).map(|i| format!("l{i}\n")).collect::<String>();
        let new = old.replace("l10\n", "L10\n");
        let d = diff_lines(&old, &new, 1);
        assert_eq!(
            d,
            vec![
                DiffLine::Skipped(8),
                DiffLine::Same(9, "l9".into()),
                DiffLine::Removed(10, "l10".into()),
                DiffLine::Added(10, "L10".into()),
                DiffLine::Same(11, "l11".into()),
                DiffLine::Skipped(9),
            ]
        );
    }

    #[test]
    fn full_context_rebuilds_the_new_text() {
        let cases = [
            ("", "a\n"),
            ("a\n", ""),
            ("a\nb\nc\n", "a\nc\nd\n"),
            ("x\ny\nx\ny\n", "y\nx\ny\nx\n"),
            ("1\n2\n3\n4\n5\n", "0\n1\n3\n5\n6\n"),
        ];
        for (old, new) in cases {
            let d = diff_lines(old, new, usize::MAX / 4);
            let want: Vec<String> = new.lines().map(String::from).collect();
            assert_eq!(apply(old, &d), want, "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn a_large_middle_is_shown_whole() {
        let old = (0..5000).map(|i| format!("a{i}\n")).collect::<String>();
        let new = (0..5000).map(|i| format!("b{i}\n")).collect::<String>();
        let d = diff_lines(&old, &new, 0);
        assert_eq!(d.len(), 10000);
    }
}
