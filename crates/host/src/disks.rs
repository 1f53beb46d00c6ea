//! The data disk: how its space is used (`/host/disks/default/usage`, walked from the files
//! themselves) and how worn it is (`disk_life_time` of `/host/info`: the NVMe SMART attribute
//! `percent_used` through UDisks2, else an eMMC's JEDEC estimate from sysfs, as the real
//! Supervisor reads them).
//!
//! Everything here that touches the file system blocks; callers run it off the async workers.

use dbus::zvariant::Value;
use dbus::UDisks2;
use serde::Serialize;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use utoipa::ToSchema;

/// One node of the usage tree: the disk itself (`total_bytes` set), a known folder of the data
/// directory, or a folder below one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DiskUsage {
    pub id: String,
    pub label: String,
    /// Only on the disk itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    pub used_bytes: u64,
    /// Only when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<DiskUsage>,
}

/// The usage of the data directory's disk: `root` with its total and used bytes (reserved
/// blocks count as used), `system` for what no known folder holds, then each known folder
/// (`(id, path)`) with its subfolders down to `max_depth` (1: none).
pub fn usage(root: &Path, known: &[(&str, PathBuf)], max_depth: u32) -> std::io::Result<DiskUsage> {
    let space = base::system::disk_usage(root)?;
    let used = space.total - space.free;
    let folders: Vec<DiskUsage> = known
        .iter()
        .map(|(id, path)| {
            let (used_bytes, children) = folder(path, max_depth);
            DiskUsage { id: (*id).to_owned(), label: (*id).to_owned(), total_bytes: None, used_bytes, children }
        })
        .collect();
    let in_folders: u64 = folders.iter().map(|folder| folder.used_bytes).sum();
    let system = DiskUsage {
        id: "system".to_owned(),
        label: "System".to_owned(),
        total_bytes: None,
        used_bytes: used.saturating_sub(in_folders),
        children: Vec::new(),
    };
    Ok(DiskUsage {
        id: "root".to_owned(),
        label: "Root".to_owned(),
        total_bytes: Some(space.total),
        used_bytes: used,
        children: std::iter::once(system).chain(folders).collect(),
    })
}

/// The usage of a mounted network share at `place`, named `name`: its total and used bytes and,
/// when `max_depth` > 1, its folders with `other` for what they do not hold. `Ok(None)` when
/// `place` is no longer a file system of its own (the numbers would be the data disk's).
pub fn mount_usage(name: &str, place: &Path, max_depth: u32) -> std::io::Result<Option<DiskUsage>> {
    let here = std::fs::metadata(place)?;
    let parent = place.parent().map(std::fs::metadata).transpose()?;
    if parent.is_some_and(|parent| parent.dev() == here.dev()) {
        return Ok(None);
    }
    let space = base::system::disk_usage(place)?;
    let used = space.total - space.free;
    let mut children = if max_depth > 1 { folder(place, max_depth).1 } else { Vec::new() };
    let walked: u64 = children.iter().map(|child| child.used_bytes).sum();
    if !children.is_empty() {
        match used.checked_sub(walked) {
            Some(0) => {}
            Some(rest) => children.push(DiskUsage {
                id: "other".to_owned(),
                label: "Other".to_owned(),
                total_bytes: None,
                used_bytes: rest,
                children: Vec::new(),
            }),
            // Files changed during the walk: no breakdown rather than one larger than the whole.
            None => children.clear(),
        }
    }
    Ok(Some(DiskUsage {
        id: name.to_owned(),
        label: name.to_owned(),
        total_bytes: Some(space.total),
        used_bytes: used,
        children,
    }))
}

/// The bytes of the files below `path` (their sizes, not their blocks) and, while `depth` > 1,
/// its subfolders holding any. Symbolic links and other file systems are left out: they would
/// count what is not on this disk, or loop. What cannot be read is skipped.
fn folder(path: &Path, depth: u32) -> (u64, Vec<DiskUsage>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return (0, Vec::new()) };
    let Ok(entries) = std::fs::read_dir(path) else { return (0, Vec::new()) };
    let device = meta.dev();
    let mut size = 0;
    let mut children = Vec::new();
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.file_type().is_symlink() || meta.dev() != device {
            continue;
        }
        if !meta.is_dir() {
            size += meta.len();
            continue;
        }
        let (used_bytes, grandchildren) = folder(&entry.path(), depth.saturating_sub(1));
        size += used_bytes;
        if used_bytes > 0 && depth > 1 {
            let name = entry.file_name().to_string_lossy().into_owned();
            children.push(DiskUsage {
                id: name.clone(),
                label: name,
                total_bytes: None,
                used_bytes,
                children: grandchildren,
            });
        }
    }
    children.sort_by(|a, b| a.id.cmp(&b.id));
    (size, children)
}

/// The disk (not the partition) holding `path`, e.g. `nvme0n1`; `None` for what is not on a
/// block device (overlay, tmpfs, network file systems).
pub fn disk_of(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let source = mount_source(&mountinfo, &path)?;
    let meta = std::fs::metadata(&source).ok()?;
    if !meta.file_type().is_block_device() {
        return None;
    }
    let name = Path::new(&source).file_name()?.to_string_lossy().into_owned();
    let class = Path::new("/sys/class/block").join(&name);
    if !class.join("partition").exists() {
        return Some(name);
    }
    // A partition's sysfs directory sits in its disk's.
    let resolved = class.canonicalize().ok()?;
    Some(resolved.parent()?.file_name()?.to_string_lossy().into_owned())
}

/// The source of the mount holding `path` (the deepest mount point above it) in
/// `/proc/self/mountinfo`'s text.
fn mount_source(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(separator)) = (fields.get(4), fields.iter().position(|field| *field == "-")) else {
            continue;
        };
        let Some(source) = fields.get(separator + 2) else { continue };
        let point = unescape(point);
        if !path.starts_with(&point) {
            continue;
        }
        let depth = Path::new(&point).components().count();
        // The later of two mounts on the same point is the one on top.
        if best.as_ref().is_none_or(|(deepest, _)| depth >= *deepest) {
            best = Some((depth, unescape(source)));
        }
    }
    best.map(|(_, source)| source)
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                out.push(digits.iter().fold(0u8, |value, digit| value.wrapping_mul(8) + (digit - b'0')));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An NVMe drive's wear from its SMART attributes: `percent_used`, which may exceed 100.
pub async fn nvme_life_time(udisks2: &UDisks2, disk: &str) -> Option<f64> {
    let drive = {
        let state = udisks2.state()?;
        let block = state.block_by_device(&format!("/dev/{disk}"))?;
        let drive = state.drive(block.drive.as_deref()?)?;
        if !drive.nvme {
            return None;
        }
        drive.path.clone()
    };
    let attributes = match udisks2.smart_attributes(&drive).await {
        Ok(attributes) => attributes,
        Err(error) => {
            tracing::warn!("Unable to get the SMART log of {drive}: {error}");
            return None;
        }
    };
    let used = attributes.get("percent_used").and_then(|value| integer(value))?;
    if used >= 100 {
        tracing::warn!("NVMe controller reports that its estimated life-time has been exceeded!");
    }
    Some(used.min(100) as f64)
}

/// The attribute's number, whatever integer type the drive reports it in.
fn integer(value: &Value<'_>) -> Option<u64> {
    match value {
        Value::U8(n) => Some(u64::from(*n)),
        Value::U16(n) => Some(u64::from(*n)),
        Value::U32(n) => Some(u64::from(*n)),
        Value::U64(n) => Some(*n),
        Value::I16(n) => u64::try_from(*n).ok(),
        Value::I32(n) => u64::try_from(*n).ok(),
        Value::I64(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// An eMMC's wear from `/sys/block/<disk>/device/life_time` of the host (`--host-root`).
pub fn emmc_life_time(host_root: &Path, disk: &str) -> Option<f64> {
    let text = std::fs::read_to_string(host_root.join("sys/block").join(disk).join("device/life_time")).ok()?;
    jedec_life_time(&text)
}

/// JEDEC's estimate for the user area (type B, the second value): 1 to 10 are 0-10 % to 90-100 %
/// used, of which the lower bound is taken as the real Supervisor does; 11 is exceeded; 0 unknown.
fn jedec_life_time(text: &str) -> Option<f64> {
    let value = text.split_whitespace().nth(1)?;
    let value = u8::from_str_radix(value.trim_start_matches("0x"), 16).ok()?;
    match value {
        0 => None,
        11.. => {
            tracing::warn!("eMMC reports that its estimated life-time has been exceeded!");
            Some(100.0)
        }
        _ => Some(f64::from(value - 1) * 10.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbus::SystemBus;
    use dbus_fixtures::{PrivateBus, Service as Fixture};

    #[test]
    fn the_deepest_mount_above_a_path_is_its_source() {
        let mountinfo = "\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
30 22 0:26 / /run rw,nosuid shared:5 - tmpfs tmpfs rw
41 22 8:1 / /mnt/data\\040disk rw,relatime shared:30 - ext4 /dev/sda1 rw
42 22 0:40 / /var/lib/docker/overlay2/x/merged rw master:1 - overlay overlay rw";
        let source = |path: &str| mount_source(mountinfo, Path::new(path));
        assert_eq!(source("/usr/share/supervisor").as_deref(), Some("/dev/nvme0n1p2"));
        assert_eq!(source("/run/supervisor").as_deref(), Some("tmpfs"));
        assert_eq!(source("/mnt/data disk/supervisor").as_deref(), Some("/dev/sda1"));
        assert_eq!(source("/mnt/database").as_deref(), Some("/dev/nvme0n1p2"), "whole components only");
        assert_eq!(mount_source("", Path::new("/")), None);
    }

    #[test]
    fn emmc_estimates_take_the_user_area_and_its_lower_bound() {
        assert_eq!(jedec_life_time("0x01 0x02\n"), Some(10.0));
        assert_eq!(jedec_life_time("0x05 0x01"), Some(0.0));
        assert_eq!(jedec_life_time("0x01 0x0b"), Some(100.0));
        assert_eq!(jedec_life_time("0x01 0x00"), None);
        assert_eq!(jedec_life_time("0x01"), None);
        assert_eq!(jedec_life_time("garbage"), None);
    }

    #[test]
    fn usage_counts_known_folders_and_their_subfolders() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        std::fs::create_dir_all(media.join("music/albums")).unwrap();
        std::fs::create_dir_all(media.join("empty")).unwrap();
        std::fs::write(media.join("top.bin"), vec![0u8; 100]).unwrap();
        std::fs::write(media.join("music/song.mp3"), vec![0u8; 1000]).unwrap();
        std::fs::write(media.join("music/albums/a.flac"), vec![0u8; 10]).unwrap();
        std::os::unix::fs::symlink("/usr", media.join("link")).unwrap();
        let known = [("media", media.clone()), ("share", dir.path().join("share"))];

        let flat = usage(dir.path(), &known, 1).unwrap();
        assert_eq!((flat.id.as_str(), flat.label.as_str()), ("root", "Root"));
        assert!(flat.total_bytes.unwrap() >= flat.used_bytes);
        let ids: Vec<&str> = flat.children.iter().map(|child| child.id.as_str()).collect();
        assert_eq!(ids, ["system", "media", "share"]);
        assert_eq!(flat.children[1].used_bytes, 1110, "symbolic links are not followed");
        assert!(flat.children[1].children.is_empty());
        assert_eq!(flat.children[2].used_bytes, 0, "a missing folder holds nothing");
        let parts: u64 = flat.children.iter().map(|child| child.used_bytes).sum();
        assert_eq!(parts, flat.used_bytes, "system is the rest");

        let deep = usage(dir.path(), &known, 3).unwrap();
        let media = &deep.children[1];
        assert_eq!(media.children.len(), 1, "empty folders are left out");
        let music = &media.children[0];
        assert_eq!((music.id.as_str(), music.label.as_str(), music.used_bytes), ("music", "music", 1010));
        assert_eq!(music.children[0].id, "albums");
        assert!(music.children[0].children.is_empty(), "depth 3 stops there");
        let json = serde_json::to_value(&deep).unwrap();
        assert!(json["children"][0].get("children").is_none() && json["children"][0].get("total_bytes").is_none());
    }

    #[tokio::test]
    async fn an_nvme_drive_reports_its_percent_used() {
        let bus = PrivateBus::start(&[Fixture::UDisks2]).unwrap();
        let system = SystemBus::connect_to(bus.address()).await.unwrap();
        let udisks2 = UDisks2::watch(Some(&system)).await;
        assert_eq!(nvme_life_time(&udisks2, "nvme0n1").await, Some(3.0));
        assert_eq!(nvme_life_time(&udisks2, "sda").await, None, "not an NVMe drive");
        assert_eq!(nvme_life_time(&udisks2, "sdz").await, None, "not a known disk");
        assert_eq!(nvme_life_time(&UDisks2::watch(None).await, "nvme0n1").await, None);
    }
}
