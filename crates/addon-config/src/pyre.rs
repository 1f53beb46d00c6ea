//! Python `re` patterns in Rust's `regex`.
//!
//! The real Supervisor checks values with `re.match` against patterns ending in `$`. In Python,
//! `$` also matches just before a final newline, so `str?\n` (a type written as a YAML block,
//! `key: |`) passes its checks; Rust's `$` matches only at the very end. Patterns taken from it
//! are compiled here with that `$` written out as `\n?\z`, so both accept the same texts.

use regex::Regex;

/// Compiles `pattern`, a Python pattern anchored with `^` and ending in `$`, so that it matches
/// what `re.match(pattern, text)` matches.
pub fn python_regex(pattern: &str) -> Regex {
    let body = pattern.strip_suffix('$').expect("a Python pattern anchored at its end with $");
    Regex::new(&format!(r"{body}\n?\z")).expect("static regex")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_newline_matches_as_in_python() {
        let re = python_regex(r"^(?:str|int)\??$");
        for text in ["str", "str?", "str\n", "str?\n"] {
            assert!(re.is_match(text), "{text:?}: Python's re.match accepts it");
        }
        // Only one newline, and only at the very end, as Python's `$`.
        for text in ["str\n\n", "str\nx", "\nstr", "str \n", "strx"] {
            assert!(!re.is_match(text), "{text:?}: Python's re.match refuses it");
        }
        // Groups never take the newline: `list(a|b)\n` names the options `a` and `b`.
        let list = python_regex(r"^list\((?P<list>.+)\)$");
        assert_eq!(&list.captures("list(a|b)\n").unwrap()["list"], "a|b");
    }
}
