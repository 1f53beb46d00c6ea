//! The registry's grammar for what goes into a request path: repository names, tags and
//! digests. They come from API users, so each is checked before it is put into a URL; what
//! passes cannot change the path's meaning (no `..`, `?`, `#`, `%` or empty component).

use crate::Error;

/// The registry refuses longer repository names (`NAME_INVALID`).
const MAX_NAME: usize = 255;
/// A tag is one word character and at most 127 more.
const MAX_TAG: usize = 128;

/// A repository name: components of `[a-z0-9]+` joined by `.`, `_`, `__` or a run of `-`,
/// separated by `/`, at most 255 characters in all.
pub fn check_repository(name: &str) -> Result<(), Error> {
    let invalid = |reason: &str| Err(Error::invalid("repository name", name, reason));
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME {
        return invalid("it is longer than 255 characters");
    }
    for component in name.split('/') {
        if let Err(reason) = check_component(component) {
            return invalid(&reason);
        }
    }
    Ok(())
}

fn check_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err("a path component is empty".to_owned());
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if let Some(bad) = component.chars().find(|&c| !alnum(c) && !matches!(c, '.' | '_' | '-')) {
        return Err(format!("{bad:?} is not one of a-z, 0-9, '.', '_', '-'"));
    }
    if !component.starts_with(alnum) || !component.ends_with(alnum) {
        return Err(format!("component {component:?} must start and end with a lowercase letter or digit"));
    }
    for separator in component.split(alnum).filter(|run| !run.is_empty()) {
        let allowed = matches!(separator, "." | "_" | "__") || separator.chars().all(|c| c == '-');
        if !allowed {
            return Err(format!("{separator:?} may not join two parts of a component"));
        }
    }
    Ok(())
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), Error> {
    let invalid = |reason: &str| Err(Error::invalid("tag", tag, reason));
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match tag.chars().next() {
        None => return invalid("it is empty"),
        Some(first) if !word(first) => return invalid("it must start with a letter, digit or '_'"),
        Some(_) => {}
    }
    if tag.len() > MAX_TAG {
        return invalid("it is longer than 128 characters");
    }
    if let Some(bad) = tag.chars().find(|&c| !word(c) && !matches!(c, '.' | '-')) {
        return invalid(&format!("{bad:?} is not one of A-Z, a-z, 0-9, '_', '.', '-'"));
    }
    Ok(())
}

/// A digest as the registry gives it, `<algorithm>:<hex>`; checked before it goes back into a
/// path, since it came from a header.
pub fn check_digest(digest: &str) -> Result<(), Error> {
    let invalid = |reason: &str| Err(Error::invalid("digest", digest, reason));
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return invalid("it is not <algorithm>:<hex>");
    };
    let algorithm_ok = algorithm.starts_with(|c: char| c.is_ascii_lowercase())
        && algorithm
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-'));
    if !algorithm_ok {
        return invalid("its algorithm is not a lowercase word");
    }
    if encoded.len() < 32 || !encoded.chars().all(|c| c.is_ascii_hexdigit()) {
        return invalid("its value is not at least 32 hexadecimal digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_the_grammar() {
        for good in ["a", "templates/web", "my-app", "my--app", "a.b_c__d", "a/b/c", "x9/0y"] {
            assert!(check_repository(good).is_ok(), "{good} refused");
        }
        let long = "a".repeat(256);
        for bad in ["", "Web", "a/", "/a", "a//b", "-a", "a-", "a..b", "a___b", "a._b", "a b", "a/../b", "a?b", &long] {
            let error = check_repository(bad).expect_err(bad);
            assert!(matches!(&error, Error::Invalid { what: "repository name", value, .. } if value == bad), "{error}");
        }
    }

    #[test]
    fn tags_follow_the_grammar() {
        let longest = "v".repeat(128);
        for good in ["latest", "1.0.2", "_x", "V-1_2.3", &longest] {
            assert!(check_tag(good).is_ok(), "{good} refused");
        }
        let long = "v".repeat(129);
        for bad in ["", ".hidden", "-x", "a/b", "a:b", "a b", "ü", &long] {
            let error = check_tag(bad).expect_err(bad);
            assert!(error.to_string().contains("tag"), "{error}");
        }
    }

    #[test]
    fn digests_are_an_algorithm_and_hex() {
        assert!(check_digest(&format!("sha256:{}", "ab".repeat(32))).is_ok());
        for bad in ["sha256", "sha256:xyz", "sha256:abc", "SHA:0123456789abcdef0123456789abcdef", "sha256:../../x"] {
            assert!(check_digest(bad).is_err(), "{bad} passed");
        }
    }
}
