//! `cargo xtask test-images`: the Docker image every add-on of `store-fixtures/` builds on,
//! `supervisor-test-base:latest`, a root file system of nothing but Debian's static busybox,
//! imported with `docker import` (the test machines reach no image registry).
//!
//! The image carries a label with a hash of what it is made of; when the engine already has an
//! image of that hash the task does nothing, so running it before every test run costs little.

use crate::test_tools::{self, BUSYBOX};
use anyhow::{bail, Context};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

pub const BASE_IMAGE: &str = "supervisor-test-base:latest";
const HASH_LABEL: &str = "io.supervisor.test-base.hash";
/// Bump when the layout below changes, so that the image is made again.
const RECIPE: &str = "busybox rootfs v1";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// Installs the tests' packages and makes sure the engine has the current base image.
pub fn run() -> anyhow::Result<()> {
    test_tools::ensure()?;
    let busybox = std::fs::read(BUSYBOX).with_context(|| format!("reading {BUSYBOX}"))?;
    let applets = applets()?;
    let hash = format!("{:016x}", fnv1a(&[RECIPE.as_bytes(), applets.join("\n").as_bytes(), &busybox]));
    if current_hash().as_deref() == Some(hash.as_str()) {
        println!("{BASE_IMAGE} is up to date");
        return Ok(());
    }
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let rootfs = work.path().join("rootfs");
    make_rootfs(&rootfs, &busybox, &applets)?;
    let tar = work.path().join("rootfs.tar");
    pack(&rootfs, &tar)?;
    import(&tar, &hash)?;
    println!("imported {BASE_IMAGE}");
    Ok(())
}

/// Every applet with its place in a standard layout, e.g. `usr/bin/wget`, as busybox lists them.
fn applets() -> anyhow::Result<Vec<String>> {
    let output = Command::new(BUSYBOX).arg("--list-full").output().context("running busybox --list-full")?;
    if !output.status.success() {
        bail!("busybox --list-full failed: {}", output.status);
    }
    let listing = String::from_utf8(output.stdout).context("busybox listed its applets in UTF-8")?;
    Ok(listing.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect())
}

/// The label of the engine's base image, if it has one.
fn current_hash() -> Option<String> {
    let format = format!("{{{{ index .Config.Labels \"{HASH_LABEL}\" }}}}");
    let output = Command::new("docker").args(["image", "inspect", "--format", &format, BASE_IMAGE]).output().ok()?;
    let hash = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !hash.is_empty()).then_some(hash)
}

/// `/bin/busybox`, a symbolic link to it for every applet (what `busybox --install -s` makes),
/// the account files and the directories add-ons expect.
fn make_rootfs(rootfs: &Path, busybox: &[u8], applets: &[String]) -> anyhow::Result<()> {
    for dir in ["bin", "etc", "root", "tmp", "data", "proc", "sys", "dev", "var/log", "usr/bin", "usr/sbin", "sbin"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    let binary = rootfs.join("bin/busybox");
    std::fs::write(&binary, busybox)?;
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))?;
    for applet in applets.iter().filter(|applet| applet.as_str() != "bin/busybox") {
        let link = rootfs.join(applet);
        std::fs::create_dir_all(link.parent().expect("applets live in a directory"))?;
        symlink(link_target(applet), &link).with_context(|| format!("linking {applet}"))?;
    }
    std::fs::write(rootfs.join("etc/passwd"), PASSWD)?;
    std::fs::write(rootfs.join("etc/group"), GROUP)?;
    Ok(())
}

/// The relative target of an applet's link: `bin/sh` -> `busybox`, `usr/bin/wget` -> `../../bin/busybox`.
fn link_target(applet: &str) -> String {
    let depth = applet.matches('/').count();
    if applet.starts_with("bin/") && depth == 1 {
        return "busybox".to_owned();
    }
    "../".repeat(depth) + "bin/busybox"
}

fn pack(rootfs: &Path, tar: &Path) -> anyhow::Result<()> {
    let status = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(rootfs)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("tar failed: {status}");
    }
    Ok(())
}

fn import(tar: &Path, hash: &str) -> anyhow::Result<()> {
    eprintln!("+ docker import {} {BASE_IMAGE}", tar.display());
    let status = Command::new("docker")
        .arg("import")
        .args(["--change", &format!("LABEL {HASH_LABEL}={hash}")])
        .args(["--change", &format!("ENV PATH={PATH}")])
        .args(["--change", "CMD [\"/bin/sh\"]"])
        .arg(tar)
        .arg(BASE_IMAGE)
        .status()
        .context("running docker import")?;
    if !status.success() {
        bail!("docker import failed: {status}");
    }
    Ok(())
}

/// FNV-1a, 64 bits: enough to tell one recipe from another, and needs no dependency.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.iter().chain(&[0xff])) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_links_are_relative_to_their_directory() {
        assert_eq!(link_target("bin/sh"), "busybox");
        assert_eq!(link_target("sbin/ifconfig"), "../bin/busybox");
        assert_eq!(link_target("usr/bin/wget"), "../../bin/busybox");
    }

    #[test]
    fn the_hash_tells_parts_apart() {
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        assert_eq!(fnv1a(&[b"x"]), fnv1a(&[b"x"]));
    }
}
