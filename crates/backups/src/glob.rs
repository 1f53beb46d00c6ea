//! The two ways backups match paths against patterns, as the real Supervisor does with Python's
//! `PurePath`: Home Assistant's exclusions are anchored at the configuration's root
//! ([`full_match`]), an add-on's `backup_exclude` matches a path's trailing components
//! ([`tail_match`]). `*` and `?` stay within one component; `**` (full match only) spans any
//! number of components.

use std::path::Path;

/// Whether the whole of `path` (relative) matches `pattern`.
pub fn full_match(pattern: &str, path: &Path) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let path = components(path);
    match_components(&pattern, &path)
}

/// Whether the last components of `path` match `pattern` (a relative pattern), or all of it for
/// a pattern starting with `/`.
pub fn tail_match(pattern: &str, path: &Path) -> bool {
    let anchored = pattern.starts_with('/');
    let pattern: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let path = components(path);
    if pattern.is_empty() || pattern.len() > path.len() || (anchored && pattern.len() != path.len()) {
        return false;
    }
    pattern.iter().zip(&path[path.len() - pattern.len()..]).all(|(p, c)| component_match(p.as_bytes(), c.as_bytes()))
}

fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

fn match_components(pattern: &[&str], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_components(rest, &path[skip..])),
        Some((first, rest)) => {
            !path.is_empty()
                && component_match(first.as_bytes(), path[0].as_bytes())
                && match_components(rest, &path[1..])
        }
    }
}

/// `fnmatch` within one component: `*`, `?` and `[...]` classes.
fn component_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| component_match(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && component_match(rest, &name[1..]),
        Some((b'[', rest)) => match (rest.iter().position(|&b| b == b']'), name.split_first()) {
            (Some(end), Some((&c, name_rest))) if end > 0 => {
                let (negate, class) = match rest[0] {
                    b'!' => (true, &rest[1..end]),
                    _ => (false, &rest[..end]),
                };
                in_class(class, c) != negate && component_match(&rest[end + 1..], name_rest)
            }
            (None, Some((&b'[', name_rest))) => component_match(rest, name_rest),
            _ => false,
        },
        Some((&p, rest)) => name.first() == Some(&p) && component_match(rest, &name[1..]),
    }
}

fn in_class(class: &[u8], c: u8) -> bool {
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == b'-' {
            if (class[i]..=class[i + 2]).contains(&c) {
                return true;
            }
            i += 3;
        } else {
            if class[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_match_is_anchored() {
        assert!(full_match("*.log", Path::new("home-assistant.log")));
        assert!(!full_match("*.log", Path::new("sub/x.log")));
        assert!(full_match("**/__pycache__/*", Path::new("custom/x/__pycache__/a.pyc")));
        assert!(full_match("**/__pycache__/*", Path::new("__pycache__/a.pyc")));
        assert!(full_match("home-assistant_v?.db", Path::new("home-assistant_v2.db")));
        assert!(!full_match("home-assistant_v?.db", Path::new("home-assistant_v2.db-wal")));
        assert!(full_match("backups/*.tar", Path::new("backups/a.tar")));
        assert!(!full_match("tts/*", Path::new("tts")));
    }

    #[test]
    fn tail_match_matches_trailing_components() {
        assert!(tail_match("*.log", Path::new("a/b/c.log")));
        assert!(tail_match("cache/*", Path::new("x/cache/file")));
        assert!(!tail_match("cache/*", Path::new("x/cache/sub/file")));
        assert!(!tail_match("/cache/*", Path::new("x/cache/file")));
        assert!(tail_match("[a-c]?.tmp", Path::new("b1.tmp")));
        assert!(!tail_match("[!a-c]?.tmp", Path::new("b1.tmp")));
    }
}
