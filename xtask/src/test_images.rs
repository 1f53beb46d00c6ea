//! `cargo xtask test-images`: the Docker images of the tests, made on this machine (the test
//! machines reach no image registry):
//!
//! - `supervisor-test-base:latest`, what every add-on of `store-fixtures/` builds on: a root file
//!   system of nothing but Debian's static busybox, imported with `docker import`;
//! - `supervisor-test-core:latest`, Home Assistant Core as the tests know it: the base with the
//!   `core-fixture` binary (`crates/core-fixture`, debug build), the shared libraries `ldd`
//!   lists for it at their absolute paths, and a `python3` that runs its `check-config` for the
//!   command the supervisor checks Core's configuration with;
//! - `supervisor-test-aiohasupervisor:<version>`, Home Assistant Core's client library from
//!   PyPI in a Python 3.13 virtual environment (`/opt/client`) on Debian 13 (see
//!   [`debian_image`]), which the black-box test `client_library.rs` runs against the daemon;
//! - `supervisor-test-bookworm:latest`, a minimal Debian 12 root file system: what the black-box
//!   test of `deploy/Dockerfile` builds the project's image on in place of `debian:bookworm-slim`.
//!
//! Each image carries a label with a hash of what it is made of; when the engine already has an
//! image of that hash the task does nothing, so running it before every test run costs little.

use crate::debian_image::{self, Recipe};
use crate::test_tools::{self, BUSYBOX};
use anyhow::{bail, Context};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BASE_IMAGE: &str = "supervisor-test-base:latest";
pub const CORE_IMAGE: &str = "supervisor-test-core:latest";
/// Debian 12 as `debian:bookworm-slim` would give it; the e2e test `deploy.rs` names it too.
const BOOKWORM_IMAGE: &str = "supervisor-test-bookworm:latest";
/// The version of `aiohasupervisor` the tests check the API with: the one current Core pins.
const AIOHASUPERVISOR: &str = "0.11.0";
/// Run in the build container of the client library's image as `sh install.sh <version>`.
const CLIENT_LIBRARY_SH: &str = r#"set -eu
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off PIP_DEFAULT_TIMEOUT=180
python3 -m venv /opt/client
/opt/client/bin/pip install "aiohasupervisor==$1"
rm -rf /root/.cache
/opt/client/bin/python3 -c 'import aiohasupervisor'
"#;
const HASH_LABEL: &str = "io.supervisor.test-image.hash";
/// Bump when the layout below changes, so that the image is made again.
const RECIPE: &str = "busybox rootfs v1";
/// Bump when the Core image's layout changes; with `PYTHON3`, part of its hash.
const CORE_RECIPE: &str = "core-fixture v1";
/// The `python3` of the Core image: what the supervisor runs to check Core's configuration,
/// `python3 -m homeassistant -c /config --script check_config`, becomes the fixture's check.
const PYTHON3: &str = r#"#!/bin/sh
config=/config
script=
while [ $# -gt 0 ]; do
    case "$1" in
        -c|--config) config="$2"; shift ;;
        --script) script="$2"; shift ;;
    esac
    shift
done
if [ "$script" != check_config ]; then
    echo "this python3 only runs: python3 -m homeassistant -c DIR --script check_config" >&2
    exit 2
fi
exec core-fixture check-config "$config"
"#;
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// Installs the tests' packages and makes sure the engine has the current images.
pub fn run() -> anyhow::Result<()> {
    test_tools::ensure()?;
    let base_hash = base_image()?;
    core_image(&base_hash)?;
    client_library_image()?;
    bookworm_image()
}

/// Makes the Debian 12 base of the container image's test unless it is current.
fn bookworm_image() -> anyhow::Result<()> {
    debian_image::ensure(&Recipe {
        image: BOOKWORM_IMAGE,
        suite: "bookworm",
        speaker: "test-images",
        packages: "",
        files: &[("setup.sh", "# Nothing to add: the image is Debian's minimal root file system.\n")],
        args: &[],
        changes: &["CMD [\"bash\"]".to_owned()],
        expected: "a minute or two",
    })
}

/// Makes the image with Core's client library unless it is current.
fn client_library_image() -> anyhow::Result<()> {
    debian_image::ensure(&Recipe {
        suite: "trixie",
        image: &format!("supervisor-test-aiohasupervisor:{AIOHASUPERVISOR}"),
        speaker: "test-images",
        packages: "python3,python3-venv,ca-certificates",
        files: &[("install.sh", CLIENT_LIBRARY_SH)],
        args: &[AIOHASUPERVISOR],
        changes: &[
            "ENV PATH=/opt/client/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            "ENV LANG=C.UTF-8".to_owned(),
            "CMD [\"python3\"]".to_owned(),
        ],
        expected: "two minutes or so",
    })
}

/// Makes the base image unless it is current; answers its hash.
fn base_image() -> anyhow::Result<String> {
    let busybox = std::fs::read(BUSYBOX).with_context(|| format!("reading {BUSYBOX}"))?;
    let applets = applets()?;
    let hash = format!("{:016x}", fnv1a(&[RECIPE.as_bytes(), applets.join("\n").as_bytes(), &busybox]));
    if current_hash(BASE_IMAGE).as_deref() == Some(hash.as_str()) {
        println!("{BASE_IMAGE} is up to date");
        return Ok(hash);
    }
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let rootfs = work.path().join("rootfs");
    make_rootfs(&rootfs, &busybox, &applets)?;
    let tar = work.path().join("rootfs.tar");
    pack(&rootfs, &tar)?;
    import(&tar, &hash)?;
    println!("imported {BASE_IMAGE}");
    Ok(hash)
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

/// The hash label of the engine's `image`, if it has one.
fn current_hash(image: &str) -> Option<String> {
    let format = format!("{{{{ index .Config.Labels \"{HASH_LABEL}\" }}}}");
    let output = Command::new("docker").args(["image", "inspect", "--format", &format, image]).output().ok()?;
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

/// Builds `core-fixture` and makes the Core image on the base of hash `base_hash` unless it is
/// current.
fn core_image(base_hash: &str) -> anyhow::Result<()> {
    let binary = build_core_fixture()?;
    let libraries = libraries(&binary)?;
    let mut inputs = vec![CORE_RECIPE.as_bytes().to_vec(), PYTHON3.as_bytes().to_vec(), base_hash.as_bytes().to_vec()];
    for file in std::iter::once(&binary).chain(&libraries) {
        inputs.push(file.as_os_str().as_encoded_bytes().to_vec());
        inputs.push(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?);
    }
    let hash = format!("{:016x}", fnv1a(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>()));
    if current_hash(CORE_IMAGE).as_deref() == Some(hash.as_str()) {
        println!("{CORE_IMAGE} is up to date");
        return Ok(());
    }
    let context = tempfile::tempdir().context("creating a temporary directory")?;
    let rootfs = context.path().join("rootfs");
    let install = |from: &Path, to: &Path| -> anyhow::Result<()> {
        let to = rootfs.join(to.strip_prefix("/").unwrap_or(to));
        std::fs::create_dir_all(to.parent().expect("a file in a directory"))?;
        std::fs::copy(from, &to).with_context(|| format!("copying {}", from.display()))?;
        Ok(())
    };
    install(&binary, Path::new("/usr/local/bin/core-fixture"))?;
    for library in &libraries {
        install(library, library)?;
    }
    let python3 = rootfs.join("usr/local/bin/python3");
    std::fs::write(&python3, PYTHON3)?;
    std::fs::set_permissions(&python3, std::fs::Permissions::from_mode(0o755))?;
    let dockerfile =
        format!("FROM {BASE_IMAGE}\nCOPY rootfs/ /\nLABEL {HASH_LABEL}={hash}\nCMD [\"core-fixture\", \"serve\"]\n");
    std::fs::write(context.path().join("Dockerfile"), dockerfile)?;
    eprintln!("+ docker build --tag {CORE_IMAGE} {}", context.path().display());
    let status = Command::new("docker")
        .args(["build", "--quiet", "--tag", CORE_IMAGE])
        .arg(context.path())
        .status()
        .context("running docker build")?;
    if !status.success() {
        bail!("docker build of {CORE_IMAGE} failed: {status}");
    }
    println!("built {CORE_IMAGE}");
    Ok(())
}

/// `cargo build -p core-fixture` in the workspace; answers the executable's path, as cargo
/// reports it (wherever the target directory is).
fn build_core_fixture() -> anyhow::Result<PathBuf> {
    eprintln!("+ cargo build -p core-fixture");
    let output = Command::new("cargo")
        .args(["build", "-p", "core-fixture", "--message-format=json-render-diagnostics"])
        .current_dir(crate::project_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !output.status.success() {
        bail!("cargo build -p core-fixture failed: {}", output.status);
    }
    let messages = String::from_utf8_lossy(&output.stdout);
    let executable = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "core-fixture")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from));
    executable.context("cargo named no core-fixture executable")
}

/// The shared libraries and the dynamic loader `binary` needs, as `ldd` finds them.
fn libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let output = Command::new("ldd").arg(binary).output().context("running ldd")?;
    let listing = String::from_utf8(output.stdout).context("ldd answered in UTF-8")?;
    if !output.status.success() || listing.contains("not found") {
        bail!("ldd {} failed: {}{listing}", binary.display(), String::from_utf8_lossy(&output.stderr));
    }
    Ok(ldd_paths(&listing))
}

/// The absolute paths of an `ldd` listing: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`
/// and the loader's `/lib64/ld-linux-x86-64.so.2 (0x…)`; the kernel's vDSO has none.
fn ldd_paths(listing: &str) -> Vec<PathBuf> {
    listing
        .lines()
        .filter_map(|line| {
            let line = line.split_once("=>").map_or(line, |(_, target)| target);
            let path = line.split(" (").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
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
    fn ldd_listings_give_absolute_paths() {
        let listing = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                       \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f01)\n\
                       \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)\n\
                       \t/lib64/ld-linux-x86-64.so.2 (0x00007f03)\n";
        let paths: Vec<PathBuf> =
            ["/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]
                .map(PathBuf::from)
                .into();
        assert_eq!(ldd_paths(listing), paths);
    }

    #[test]
    fn the_hash_tells_parts_apart() {
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        assert_eq!(fnv1a(&[b"x"]), fnv1a(&[b"x"]));
    }
}
