//! Version comparison for the version strings Home Assistant publishes.
//!
//! They are calendar or plain numbers (`2024.11.3`, `16.3`, `2024.12.0b1`, `2025.1.0.dev20241201`)
//! and sometimes words (`dev`, `landingpage`). Numeric parts compare as numbers; a pre-release
//! suffix sorts before the release it precedes. Versions that do not parse only compare equal.

use std::cmp::Ordering;

/// Whether `latest` is a newer version than `current`.
pub fn is_newer(latest: &str, current: &str) -> bool {
    order(latest, current) == Some(Ordering::Greater)
}

/// How `a` compares with `b`; `None` when either does not parse, so they cannot be ordered.
pub fn order(a: &str, b: &str) -> Option<Ordering> {
    Some(compare(&parse(a)?, &parse(b)?))
}

/// Whether `version` is `minimum` or newer; a version that does not parse is not.
pub fn at_least(version: &str, minimum: &str) -> bool {
    !is_newer(minimum, version) && (is_newer(version, minimum) || is_newer(version, "0"))
}

struct Parsed {
    numbers: Vec<u64>,
    /// `None` for a release; `Some((kind rank, number))` for a pre-release such as b1 or dev5.
    pre: Option<(u8, u64)>,
}

fn parse(version: &str) -> Option<Parsed> {
    let mut numbers = Vec::new();
    let mut pre = None;
    for part in version.trim().split(['.', '-']) {
        if let Ok(n) = part.parse::<u64>() {
            if pre.is_some() {
                return None;
            }
            numbers.push(n);
            continue;
        }
        let digits = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
        let (head, tail) = part.split_at(digits);
        if !head.is_empty() {
            numbers.push(head.parse().ok()?);
        }
        let letters = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (kind, number) = tail.split_at(letters);
        let rank = match kind {
            "dev" => 0,
            "a" | "alpha" => 1,
            "b" | "beta" => 2,
            "rc" => 3,
            _ => return None,
        };
        pre = Some((rank, if number.is_empty() { 0 } else { number.parse().ok()? }));
    }
    (!numbers.is_empty()).then_some(Parsed { numbers, pre })
}

fn compare(a: &Parsed, b: &Parsed) -> Ordering {
    let len = a.numbers.len().max(b.numbers.len());
    for i in 0..len {
        let (x, y) = (a.numbers.get(i).unwrap_or(&0), b.numbers.get(i).unwrap_or(&0));
        match x.cmp(y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (a.pre, b.pre) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

#[cfg(test)]
mod tests {
    use super::{at_least, is_newer};

    #[test]
    fn orders_calendar_versions_and_prereleases() {
        assert!(is_newer("2024.11.3", "2024.11.2"));
        assert!(is_newer("2024.12.0", "2024.11.10"));
        assert!(!is_newer("2024.11.2", "2024.11.2"));
        assert!(is_newer("2024.12.0", "2024.12.0b1"));
        assert!(is_newer("2024.12.0b2", "2024.12.0b1"));
        assert!(is_newer("2025.1.0b0", "2025.1.0.dev20241201"));
        assert!(is_newer("16.3", "16.2"));
        assert!(is_newer("0.2.0", "0.1.9"));
    }

    #[test]
    fn at_least_includes_the_minimum_and_refuses_words() {
        assert!(at_least("1.13.0", "1.13.0"));
        assert!(at_least("1.14.1", "1.13.0"));
        assert!(!at_least("1.12.9", "1.13.0"));
        assert!(!at_least("dev", "1.0"));
    }

    #[test]
    fn words_never_count_as_newer() {
        assert!(!is_newer("dev", "1.0"));
        assert!(!is_newer("1.0", "landingpage"));
    }
}
