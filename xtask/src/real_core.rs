//! `cargo xtask real-core`: runs a real Home Assistant Core against the supervisor and shows
//! what Core's `hassio` integration thinks of the supervisor's answers.
//!
//! The Core fixture (`crates/core-fixture`) only does what we taught it; the real Core is the
//! client the supervisor exists for. This task
//!
//! 1. makes sure the engine has the image `supervisor-real-core:<HA_VERSION>`, built when it is
//!    missing (or made by another recipe): a Debian 13 (trixie) root file system made with
//!    `debootstrap` from deb.debian.org (Python 3.13, and a compiler for the few requirements
//!    PyPI has no wheel of), imported with `docker import`, then a container of it that
//!    installs `homeassistant==<HA_VERSION>` from PyPI into the virtual environment
//!    `/opt/homeassistant` together with the requirements of every integration Core sets up on
//!    its own at start (found from the wheel's `bootstrap.py` and manifests, pinned by its
//!    `package_constraints.txt`), so that Core starts offline; that container is committed as
//!    the image, with `python3 -m homeassistant --config /config` as its command. The build
//!    leaves nothing behind but the image: its root file system lives in a temporary folder,
//!    and its container and intermediate tag are removed;
//! 2. builds the binaries and runs the ignored black-box test `real_core`
//!    (tests/e2e/real_core.rs), which publishes the image as Core's in a private registry, lets
//!    the daemon install and start it, and reports every complaint of Core's `hassio`
//!    integration.
//!
//! The image carries a label with a hash of its recipe, so changing the recipe below builds it
//! again; otherwise an existing image is used as it is (the build takes minutes).

use anyhow::{bail, Context};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Home Assistant Core from PyPI the image holds: the newest release that installs on
/// Debian 13's Python 3.13 (later ones need a newer Python).
pub const HA_VERSION: &str = "2026.2.3";
/// What the e2e test reads to find the image (it defaults to the same name).
const IMAGE_ENV: &str = "SUPERVISOR_REAL_CORE_IMAGE";
const HASH_LABEL: &str = "io.supervisor.real-core.hash";
/// Bump when the recipe changes in a way the constants below do not show.
const RECIPE: &str = "real-core v1";
const SUITE: &str = "trixie";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Python, its virtual environments, a compiler and headers for the requirements without a
/// wheel for Python 3.13 (`lru-dict`), certificates and time zones.
const PACKAGES: &str = "python3,python3-venv,python3-dev,gcc,libc6-dev,ca-certificates,tzdata";
const VENV: &str = "/opt/homeassistant";
const PATH: &str = "/opt/homeassistant/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where the build container sees the build folder (scripts and the CA bundle).
const BUILD_MOUNT: &str = "/run/realcore-build";
/// How often a long step says that it still runs.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Run in the build container as `sh build.sh <version>`: the virtual environment, the wheel,
/// the requirements Core needs at start, all installed in one resolution under Core's
/// constraints (so that Core finds each pinned requirement satisfied and installs nothing).
const BUILD_SH: &str = r#"set -eu
build=/run/realcore-build
if [ -f "$build/ca.crt" ]; then
    # The CA bundle of the machine that builds (which may reach PyPI through a proxy of its own).
    export PIP_CERT="$build/ca.crt" SSL_CERT_FILE="$build/ca.crt"
fi
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off PIP_DEFAULT_TIMEOUT=180
python3 -m venv /opt/homeassistant
pip=/opt/homeassistant/bin/pip
work=$(mktemp -d)
echo "downloading homeassistant==$1"
$pip download --no-deps --dest "$work" "homeassistant==$1"
/opt/homeassistant/bin/python3 "$build/requirements.py" "$work"/homeassistant-*.whl "$work"
echo "installing homeassistant==$1 and: $(tr '\n' ' ' < "$work/requirements.txt")"
$pip install --constraint "$work/constraints.txt" --requirement "$work/requirements.txt" "homeassistant==$1"
rm -rf "$work" /root/.cache
/opt/homeassistant/bin/python3 -m homeassistant --version
"#;

/// Run in the build container: from Core's wheel, the requirements of every integration that
/// Core sets up without configuration (the default and Supervisor sets of `bootstrap.py`, plus
/// `http`, which the test configures), closed over their dependencies, after-dependencies and
/// discovery integrations as Core's requirement check walks them; those of its authentication
/// modules and of its configuration check; and Core's constraints.
const REQUIREMENTS_PY: &str = r#"import ast, json, sys, zipfile

wheel, out = sys.argv[1], sys.argv[2]
archive = zipfile.ZipFile(wheel)
names = set(archive.namelist())


def source(path):
    return archive.read("homeassistant/" + path).decode()


def manifest(domain):
    path = f"homeassistant/components/{domain}/manifest.json"
    return json.loads(archive.read(path)) if path in names else None


def assignments(module):
    for node in ast.parse(module).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    yield target.id, node.value


def strings(node):
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


# isal: not set up, but with its package aiohttp compresses as in Core's own image (and says
# nothing about falling back to zlib).
start = {"homeassistant", "http", "hassio", "isal"}
for name, value in assignments(source("bootstrap.py")):
    if name in ("CORE_INTEGRATIONS", "DEFAULT_INTEGRATIONS", "DEFAULT_INTEGRATIONS_SUPERVISOR"):
        start.update(strings(value))
discovery = {}
for name, value in assignments(source("requirements.py")):
    if name == "DISCOVERY_INTEGRATIONS":
        discovery = ast.literal_eval(value)

seen, todo, requirements = set(), sorted(start), set()
while todo:
    domain = todo.pop()
    info = None if domain in seen else manifest(domain)
    if info is None:
        continue
    seen.add(domain)
    requirements.update(info.get("requirements", []))
    todo.extend(info.get("dependencies", []) + info.get("after_dependencies", []))
    todo.extend(check for check, keys in discovery.items() if any(key in info for key in keys))

# Core's own modules that install requirements when they load: the authentication modules
# (loaded at every start) and the configuration check the supervisor runs.
for path in sorted(names):
    if path.endswith(".py") and (path.startswith("homeassistant/auth/") or path == "homeassistant/scripts/check_config.py"):
        for name, value in assignments(archive.read(path).decode()):
            if name == "REQUIREMENTS":
                requirements.update(strings(value))

with open(f"{out}/requirements.txt", "w") as file:
    file.write("".join(f"{line}\n" for line in sorted(requirements)))
with open(f"{out}/constraints.txt", "w") as file:
    file.write(source("package_constraints.txt"))
print("integrations set up at start:", " ".join(sorted(seen)))
"#;

/// The image's name.
pub fn image() -> String {
    format!("supervisor-real-core:{HA_VERSION}")
}

/// Makes sure the image exists, builds the binaries and runs the test.
pub fn run(root: &Path) -> anyhow::Result<()> {
    crate::test_tools::ensure()?;
    let image = image();
    let started = Instant::now();
    ensure_image(&image)?;
    say(&format!("image ready after {}", minutes(started.elapsed())));
    let started = Instant::now();
    step("building the binaries");
    crate::run(root, "cargo", &["build", "--workspace", "--bins"])?;
    step("running the real Core test (several minutes)");
    let args = ["test", "-p", "e2e", "--test", "e2e", "real_core", "--", "--ignored", "--nocapture"];
    eprintln!("+ {IMAGE_ENV}={image} cargo {}", args.join(" "));
    let status = Command::new("cargo")
        .args(args)
        .env(IMAGE_ENV, &image)
        .current_dir(root)
        .status()
        .context("running cargo test")?;
    say(&format!("test finished after {}", minutes(started.elapsed())));
    if !status.success() {
        bail!("the real Core test failed: {status}");
    }
    Ok(())
}

/// Builds `image` unless the engine has it from the current recipe.
fn ensure_image(image: &str) -> anyhow::Result<()> {
    let hash = recipe_hash();
    match label(image) {
        Some(current) if current == hash => {
            say(&format!("{image} is up to date"));
            return Ok(());
        }
        Some(_) => say(&format!("{image} was made by another recipe; building it again")),
        None => say(&format!("{image} is missing; building it (10 minutes or more)")),
    }
    let started = Instant::now();
    let previous = image_id(image);
    let build = Build::new(&hash)?;
    build.rootfs()?;
    build.import()?;
    build.install()?;
    build.commit(image)?;
    say(&format!("built {image} in {}", minutes(started.elapsed())));
    // The image of the old recipe lost its name to the new one: nothing else refers to it.
    if let Some(previous) = previous.filter(|previous| image_id(image).as_ref() != Some(previous)) {
        let _ = Command::new("docker").args(["rmi", &previous]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
    Ok(())
}

/// The engine's id of `image`, if it has one.
fn image_id(image: &str) -> Option<String> {
    let output = Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", image]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// One build: its temporary folder, and the names of the engine objects it makes, each removed
/// when it ends (also when it fails).
struct Build {
    dir: tempfile::TempDir,
    hash: String,
    /// The imported root file system: an intermediate tag.
    rootfs_image: String,
    /// The container that installs Core.
    container: String,
}

impl Build {
    fn new(hash: &str) -> anyhow::Result<Build> {
        let dir = tempfile::Builder::new().prefix("realcore-").tempdir().context("creating a temporary folder")?;
        let unique = format!("{}-{}", std::process::id(), &hash[..8]);
        Ok(Build {
            dir,
            hash: hash.to_owned(),
            rootfs_image: format!("realcore-rootfs-{unique}:build"),
            container: format!("realcore-build-{unique}"),
        })
    }

    fn rootfs_dir(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// `debootstrap` of Debian 13 with Python into the temporary folder, without apt's caches.
    fn rootfs(&self) -> anyhow::Result<()> {
        ensure_debootstrap()?;
        step(&format!("debootstrap {SUITE} from {MIRROR} with {PACKAGES} (a minute or two)"));
        let rootfs = self.rootfs_dir();
        let mut command = Command::new("debootstrap");
        command.args(["--variant=minbase", &format!("--include={PACKAGES}"), SUITE]).arg(&rootfs).arg(MIRROR);
        run_logged(command, &self.dir.path().join("debootstrap.log"), "debootstrap")?;
        for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
            empty_dir(&rootfs.join(dir))?;
        }
        Ok(())
    }

    /// Packs the root file system and imports it as the intermediate image.
    fn import(&self) -> anyhow::Result<()> {
        step(&format!("docker import of the root file system as {}", self.rootfs_image));
        let tar = self.dir.path().join("rootfs.tar");
        let status = Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(self.rootfs_dir())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .context("running tar")?;
        if !status.success() {
            bail!("tar of the root file system failed: {status}");
        }
        docker(&["import", &tar.to_string_lossy(), &self.rootfs_image])?;
        std::fs::remove_file(&tar)?;
        Ok(())
    }

    /// Runs the installation of Core from PyPI in a container of the intermediate image.
    fn install(&self) -> anyhow::Result<()> {
        let build = self.dir.path().join("build");
        std::fs::create_dir_all(&build)?;
        std::fs::write(build.join("build.sh"), BUILD_SH)?;
        std::fs::write(build.join("requirements.py"), REQUIREMENTS_PY)?;
        if let Some(bundle) = ca_bundle() {
            std::fs::copy(&bundle, build.join("ca.crt")).with_context(|| format!("copying {}", bundle.display()))?;
        }
        step(&format!(
            "installing homeassistant=={HA_VERSION} from PyPI in the container {} (several minutes)",
            self.container
        ));
        let mut command = Command::new("docker");
        command
            .args(["run", "--name", &self.container, "--network", "host", "--volume"])
            .arg(format!("{}:{BUILD_MOUNT}:ro", build.display()))
            .args([&self.rootfs_image, "sh", &format!("{BUILD_MOUNT}/build.sh"), HA_VERSION]);
        run_logged(command, &self.dir.path().join("install.log"), "the installation")
    }

    /// Commits the installation container as `image`, with Core as its command.
    fn commit(&self, image: &str) -> anyhow::Result<()> {
        step(&format!("docker commit {} {image}", self.container));
        let changes = [
            format!("ENV PATH={PATH}"),
            format!("ENV VIRTUAL_ENV={VENV}"),
            "ENV LANG=C.UTF-8".to_owned(),
            "WORKDIR /config".to_owned(),
            "CMD [\"python3\", \"-m\", \"homeassistant\", \"--config\", \"/config\"]".to_owned(),
            format!("LABEL {HASH_LABEL}={}", self.hash),
            format!("LABEL io.hass.version={HA_VERSION}"),
            "LABEL io.hass.type=core".to_owned(),
        ];
        let mut args = vec!["commit".to_owned()];
        for change in changes {
            args.extend(["--change".to_owned(), change]);
        }
        args.extend([self.container.clone(), image.to_owned()]);
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(())
    }
}

impl Drop for Build {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("docker").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
        };
        quiet(&["rm", "-f", &self.container]);
        // Untags only when the committed image uses its layers.
        quiet(&["rmi", &self.rootfs_image]);
        // debootstrap mounts /proc and /sys inside the root file system while it works; an
        // interrupted run may leave them, and the folder must not be removed through them.
        for mount in mounts_under(&self.rootfs_dir()).into_iter().rev() {
            let _ = Command::new("umount").arg("--lazy").arg(&mount).status();
        }
    }
}

/// The mount points at or under `dir`, in `/proc/self/mounts` order.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// Installs Debian's `debootstrap` when it is missing.
fn ensure_debootstrap() -> anyhow::Result<()> {
    let present = || Command::new("debootstrap").arg("--version").output().is_ok_and(|o| o.status.success());
    if present() {
        return Ok(());
    }
    step("installing debootstrap");
    let apt = |args: &[&str]| -> anyhow::Result<bool> {
        eprintln!("+ apt-get {}", args.join(" "));
        let status =
            Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status().context("apt-get")?;
        Ok(status.success())
    };
    let installed =
        apt(&["install", "-y", "debootstrap"])? || (apt(&["update"])? && apt(&["install", "-y", "debootstrap"])?);
    if !installed {
        bail!("could not install debootstrap (apt-get needs root)");
    }
    if !present() {
        bail!("debootstrap is still missing after installing it");
    }
    Ok(())
}

/// The CA bundle this machine trusts, which the build container uses for PyPI: what
/// `PIP_CERT` or `SSL_CERT_FILE` names, else Debian's.
fn ca_bundle() -> Option<PathBuf> {
    ["PIP_CERT", "SSL_CERT_FILE"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .chain([PathBuf::from("/etc/ssl/certs/ca-certificates.crt")])
        .find(|path| path.is_file())
}

/// The hash label of the engine's `image`, or None when it has no such image.
fn label(image: &str) -> Option<String> {
    let format = format!("{{{{ index .Config.Labels \"{HASH_LABEL}\" }}}}");
    let output = Command::new("docker").args(["image", "inspect", "--format", &format, image]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn recipe_hash() -> String {
    let parts = [RECIPE, HA_VERSION, SUITE, MIRROR, PACKAGES, PATH, BUILD_SH, REQUIREMENTS_PY];
    format!("{:016x}", fnv1a(&parts))
}

/// FNV-1a, 64 bits, over the parts with a separator.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.as_bytes().iter().chain(&[0xff])) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Runs `command` with its output in `log`, saying every [`HEARTBEAT`] that it still runs (with
/// the log's last line); on failure, shows the log's end.
fn run_logged(mut command: Command, log: &Path, what: &str) -> anyhow::Result<()> {
    eprintln!("+ {command:?} > {}", log.display());
    let file = File::create(log)?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let started = Instant::now();
    let mut next = started + HEARTBEAT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= next {
            next += HEARTBEAT;
            let last = tail(log, 1).pop().unwrap_or_default();
            say(&format!("  {what} runs for {}: {}", minutes(started.elapsed()), shorten(&last, 140)));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if !status.success() {
        eprintln!("--- the end of {} ---", log.display());
        for line in tail(log, 40) {
            eprintln!("{line}");
        }
        bail!("{what} failed: {status}");
    }
    say(&format!("  {what} done in {}", minutes(started.elapsed())));
    Ok(())
}

/// The last `count` lines of the file at `path` (reading at most its last 64 KiB).
fn tail(path: &Path, count: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else { return Vec::new() };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(64 * 1024)));
    let lines: Vec<String> = BufReader::new(file)
        .split(b'\n')
        .map_while(Result::ok)
        .map(|line| String::from_utf8_lossy(&line).trim_end().to_owned())
        .filter(|line| !line.is_empty())
        .collect();
    lines[lines.len().saturating_sub(count)..].to_vec()
}

fn shorten(line: &str, limit: usize) -> String {
    match line.char_indices().nth(limit) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

/// Removes what `dir` holds, keeping the folder.
fn empty_dir(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn docker(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("+ docker {}", args.join(" "));
    let status = Command::new("docker").args(args).stdout(Stdio::null()).status().context("running docker")?;
    if !status.success() {
        bail!("docker {} failed: {status}", args.first().copied().unwrap_or_default());
    }
    Ok(())
}

fn step(what: &str) {
    say(&format!("== {what}"));
}

fn say(line: &str) {
    println!("real-core: {line}");
}

fn minutes(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    format!("{}m{:02}s", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipe_hash_is_stable_and_tells_parts_apart() {
        assert_eq!(recipe_hash(), recipe_hash());
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
    }

    #[test]
    fn mounts_are_found_under_a_folder_only() {
        let dir = Path::new("/");
        assert!(mounts_under(dir).iter().all(|mount| mount.starts_with(dir)));
        assert!(mounts_under(Path::new("/nonexistent-realcore")).is_empty());
    }

    #[test]
    fn long_lines_are_shortened_on_a_character_boundary() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("ééééé", 2), "éé…");
    }
}
