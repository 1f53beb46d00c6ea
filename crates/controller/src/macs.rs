//! The controller's pool of MAC addresses: a range the operator configures (`--mac-range`),
//! written to etcd by `PUT /api/v1/macaddr`, handed to instances that name none, and taken back
//! when they are terminated.

use crate::envelope::Fail;

/// A MAC address as a number, from `AA:BB:CC:DD:EE:FF` (capital hex, `:` separators).
pub fn parse(mac: &str) -> Result<u64, Fail> {
    let parts: Vec<&str> = mac.split(':').collect();
    let valid = parts.len() == 6
        && parts
            .iter()
            .all(|part| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
    if !valid {
        return Err(Fail::bad_request(format!(
            "{mac:?} is not a MAC address of six pairs of capital hex digits with ':'"
        )));
    }
    Ok(parts.iter().fold(0, |n, part| n << 8 | u64::from_str_radix(part, 16).expect("checked hex")))
}

pub fn format(n: u64) -> String {
    (0..6).rev().map(|i| format!("{:02X}", (n >> (i * 8)) & 0xff)).collect::<Vec<_>>().join(":")
}

/// The most addresses a range may hold: each is a key in etcd.
pub const MAX_RANGE: u64 = 65536;

/// The addresses of `START-END` (both included).
pub fn range(text: &str) -> Result<Vec<String>, Fail> {
    let (start, end) =
        text.split_once('-').ok_or_else(|| Fail::bad_request(format!("MAC range {text:?} is not START-END")))?;
    let (start, end) = (parse(start.trim())?, parse(end.trim())?);
    if end < start || end - start >= MAX_RANGE {
        return Err(Fail::bad_request(format!("MAC range {text:?} must go upwards and hold at most {MAX_RANGE}")));
    }
    // The first octet's lowest bit marks multicast: never an interface's address.
    if (start >> 40) & 1 == 1 || (end >> 40) & 1 == 1 {
        return Err(Fail::bad_request(format!("MAC range {text:?} is multicast")));
    }
    Ok((start..=end).map(format).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_their_ends_and_refuse_nonsense() {
        assert_eq!(
            range("02:00:00:00:00:FE-02:00:00:00:01:01").unwrap(),
            ["02:00:00:00:00:FE", "02:00:00:00:00:FF", "02:00:00:00:01:00", "02:00:00:00:01:01"]
        );
        assert!(range("02:00:00:00:00:02-02:00:00:00:00:01").is_err());
        assert!(range("01:00:00:00:00:00-01:00:00:00:00:01").unwrap_err().message.contains("multicast"));
        assert!(parse("02:00:00:00:00:0g").is_err());
        assert!(parse("02:00:00:00:00:0a").is_err(), "capital letters, as the reference asks");
    }
}
