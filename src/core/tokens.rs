//! sendmail's tokeniser (`prescan`), as far as access-map values, macro
//! values and lookup keys need it. Rulesets match token sequences, so
//! `PERM + VERIFY : 128` and `PERM+VERIFY:128` are the same; keyword
//! comparison is case-insensitive.

/// `OperatorChars=.:%@!^/[]+` (the m4 default) plus sendmail's fixed
/// delimiters `()<>,;`: each is a token of its own.
pub fn is_operator(c: char) -> bool {
    matches!(
        c,
        '.' | ':'
            | '%'
            | '@'
            | '!'
            | '^'
            | '/'
            | '['
            | ']'
            | '+'
            | '('
            | ')'
            | '<'
            | '>'
            | ','
            | ';'
    )
}

/// Splits text into tokens: operators alone, quoted strings whole, words
/// between blanks and operators (a backslash keeps the next character in
/// the word).
pub fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    while let Some(c) = chars.next() {
        if c == '"' {
            flush(&mut cur, &mut out);
            let mut q = String::from('"');
            for d in chars.by_ref() {
                q.push(d);
                if d == '"' {
                    break;
                }
            }
            out.push(q);
        } else if c == '\\' {
            cur.push(c);
            if let Some(d) = chars.next() {
                cur.push(d);
            }
        } else if c.is_whitespace() {
            flush(&mut cur, &mut out);
        } else if is_operator(c) {
            flush(&mut cur, &mut out);
            out.push(c.to_string());
        } else {
            cur.push(c);
        }
    }
    flush(&mut cur, &mut out);
    out
}

fn is_atom(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| !is_operator(c) && c != '"')
}

/// sendmail's `cataddr`: tokens joined with a blank only between two
/// adjacent atoms (never next to an operator or a quoted string).
pub fn join(tokens: &[String]) -> String {
    let mut out = String::new();
    let mut prev_atom = false;
    for t in tokens {
        let atom = is_atom(t);
        if prev_atom && atom {
            out.push(' ');
        }
        out.push_str(t);
        prev_atom = atom;
    }
    out
}

/// Token sequences equal, ignoring case (how a rule's literal or `$&{macro}`
/// matches the workspace).
pub fn eq_tokens(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// One token equal to `word`, ignoring case.
pub fn is_word(tokens: &[String], word: &str) -> bool {
    tokens.len() == 1 && tokens[0].eq_ignore_ascii_case(word)
}

/// C `strtol(s, NULL, 0)` clamped to i64, as sendmail's `arith` map reads
/// numbers: optional blanks and sign, then `0x` hex, `0` octal or decimal
/// digits; anything else ends the number; no digits gives 0.
pub fn strtol(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits) =
        if lower.starts_with("0x") && lower[2..].starts_with(|c: char| c.is_ascii_hexdigit()) {
            (16, &rest[2..])
        } else if lower.starts_with('0') {
            (8, rest)
        } else {
            (10, rest)
        };
    let mut v: i64 = 0;
    for d in digits.chars().map_while(|c| c.to_digit(radix)) {
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
    }
    if neg {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        tokenize(s)
    }

    #[test]
    fn spacing_does_not_matter() {
        assert_eq!(t("PERM + VERIFY : 128"), t("PERM+VERIFY:128"));
        assert_eq!(t("VERIFY:128"), vec!["VERIFY", ":", "128"]);
        assert_eq!(
            t("/C=US/O=Sendmail+20Peer"),
            vec!["/", "C=US", "/", "O=Sendmail", "+", "20Peer"]
        );
        assert_eq!(t("\"a b\" c"), vec!["\"a b\"", "c"]);
    }

    #[test]
    fn cataddr_join() {
        assert_eq!(join(&t("mx . example . org")), "mx.example.org");
        assert_eq!(join(&t("foo bar")), "foo bar");
        assert_eq!(join(&t("/C=US/O=x")), "/C=US/O=x");
    }

    #[test]
    fn strtol_like_c() {
        assert_eq!(strtol("128bits"), 128);
        assert_eq!(strtol("abc"), 0);
        assert_eq!(strtol("-1"), -1);
        assert_eq!(strtol(""), 0);
        assert_eq!(strtol(" 42"), 42);
        assert_eq!(strtol("0x80"), 128);
        assert_eq!(strtol("010"), 8);
        assert_eq!(strtol("00128"), 10);
        assert_eq!(strtol("0x"), 0);
    }
}
