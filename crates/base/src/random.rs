//! Secrets from the operating system's random source.

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
    fn below_stays_below() {
        assert!((0..1000).all(|_| super::below(7) < 7));
        assert_eq!(super::below(1), 0);
    }
}
