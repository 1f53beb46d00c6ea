//! Secrets: made from the operating system's random source, compared in constant time.

/// `bytes` random bytes as lower-case hex, for tokens and identifiers that must not be guessed.
pub fn hex_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random number below `bound` (which must not be 0), without bias.
pub fn below(bound: u32) -> u32 {
    let zone = u32::MAX - u32::MAX % bound;
    loop {
        let mut buf = [0u8; 4];
        getrandom::fill(&mut buf).expect("the operating system's random source failed");
        let n = u32::from_ne_bytes(buf);
        if n < zone {
            return n % bound;
        }
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only, so a secret
/// compared with a guess tells nothing of how much of the guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |differ, (x, y)| differ | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_hex_and_differ() {
        let a = super::hex_token(32);
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, super::hex_token(32));
    }

    #[test]
    fn equal_only_when_every_byte_and_the_length_are() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn below_stays_below() {
        assert!((0..1000).all(|_| super::below(7) < 7));
        assert_eq!(super::below(1), 0);
    }
}
