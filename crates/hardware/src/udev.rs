//! The udev database: one file per device under `/run/udev/data`, named after the device's kind
//! and number (`b8:0` for a block device, `c188:0` for a character device), written by
//! systemd-udevd after its rules ran. Read here without libudev.
//!
//! Each line is `<letter>:<value>`: `E` a property (`ID_VENDOR=...`), `S` a link under `/dev`
//! (`serial/by-id/usb-...`), `G` a tag, `Q` a current tag, `I` when the device was initialized
//! (µs, monotonic). Other letters (`L` link priority, `W` watch handle, `V` version) say nothing
//! the API reports.

use std::path::Path;

/// What udevd recorded about one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The `E:` properties, in file order.
    pub properties: Vec<(String, String)>,
    /// The `S:` links as absolute paths under `/dev`, in file order.
    pub links: Vec<String>,
    pub tags: Vec<String>,
    pub current_tags: Vec<String>,
    pub usec_initialized: Option<String>,
}

impl Record {
    /// The properties libudev adds from the record besides its `E:` lines, under their names
    /// (`DEVLINKS`, `TAGS`, `CURRENT_TAGS`, `USEC_INITIALIZED`).
    pub fn derived_properties(&self) -> Vec<(String, String)> {
        let mut derived = Vec::new();
        if !self.links.is_empty() {
            derived.push(("DEVLINKS".to_owned(), self.links.join(" ")));
        }
        // libudev writes tag lists with a colon on each side of every tag.
        let tags = |tags: &[String]| format!(":{}:", tags.join(":"));
        if !self.tags.is_empty() {
            derived.push(("TAGS".to_owned(), tags(&self.tags)));
        }
        if !self.current_tags.is_empty() {
            derived.push(("CURRENT_TAGS".to_owned(), tags(&self.current_tags)));
        }
        if let Some(usec) = &self.usec_initialized {
            derived.push(("USEC_INITIALIZED".to_owned(), usec.clone()));
        }
        derived
    }
}

/// Parses the text of a database file.
pub fn parse(text: &str) -> Record {
    let mut record = Record::default();
    for line in text.lines() {
        let Some((kind, value)) = line.split_once(':') else { continue };
        match kind {
            "E" => {
                if let Some((key, value)) = value.split_once('=') {
                    record.properties.push((key.to_owned(), value.to_owned()));
                }
            }
            "S" => record.links.push(format!("/dev/{value}")),
            "G" => record.tags.push(value.to_owned()),
            "Q" => record.current_tags.push(value.to_owned()),
            "I" => record.usec_initialized = Some(value.to_owned()),
            _ => {}
        }
    }
    record
}

/// The record of the device with this number: `block` says which of the two number spaces.
/// `None` when udevd has none (no udev on this host, or the device is not initialized yet).
pub fn read(data_dir: &Path, block: bool, major: &str, minor: &str) -> Option<Record> {
    let kind = if block { 'b' } else { 'c' };
    let text = std::fs::read_to_string(data_dir.join(format!("{kind}{major}:{minor}"))).ok()?;
    Some(parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTY_USB: &str = "S:serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0\n\
        S:serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0\n\
        W:12\n\
        I:5384093\n\
        E:ID_VENDOR=Silicon_Labs\n\
        E:ID_MODEL=CP2102=USB\n\
        G:systemd\n\
        Q:systemd\n\
        V:1\n";

    #[test]
    fn every_line_kind_is_read() {
        let record = parse(TTY_USB);
        assert_eq!(
            record.properties,
            [("ID_VENDOR".to_owned(), "Silicon_Labs".to_owned()), ("ID_MODEL".to_owned(), "CP2102=USB".to_owned())]
        );
        assert_eq!(
            record.links,
            [
                "/dev/serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0",
                "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0"
            ]
        );
        assert_eq!(record.usec_initialized.as_deref(), Some("5384093"));
    }

    #[test]
    fn derived_properties_are_as_libudev_has_them() {
        let derived = parse(TTY_USB).derived_properties();
        let get = |key: &str| derived.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str());
        assert_eq!(
            get("DEVLINKS"),
            Some(
                "/dev/serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0 \
                 /dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0"
            )
        );
        assert_eq!(get("TAGS"), Some(":systemd:"));
        assert_eq!(get("CURRENT_TAGS"), Some(":systemd:"));
        assert_eq!(get("USEC_INITIALIZED"), Some("5384093"));
        assert!(parse("E:A=1\n").derived_properties().is_empty());
    }

    #[test]
    fn records_are_found_by_kind_and_number() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c188:0"), TTY_USB).unwrap();
        assert!(read(dir.path(), false, "188", "0").is_some());
        assert!(read(dir.path(), true, "188", "0").is_none());
        assert!(read(dir.path(), false, "188", "1").is_none());
    }
}
