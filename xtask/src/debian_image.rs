//! Images of a Debian root file system made on this machine, which reaches no image registry:
//! Debian 13 (trixie) for checks that run real Python programs from PyPI (the test machines run
//! Debian 12, whose Python 3.11 is older than what a current Home Assistant Core or its client
//! library `aiohasupervisor` requires, 3.13), and Debian 12 (bookworm) as the base the
//! project's own container image is tested on.
//!
//! A [`Recipe`] names the image, the Debian packages and a shell script with its files. The
//! build `debootstrap`s the root file system into a temporary folder, imports it with `docker
//! import`, runs the script in a container of it (with the host network, for PyPI, and this
//! machine's CA bundle as `PIP_CERT`/`SSL_CERT_FILE`), and commits that container as the image.
//! It leaves nothing behind but the image: the folder, the container and the intermediate tag
//! are removed, also when a step fails.
//!
//! The image carries a label with a hash of its recipe: an image of the same recipe is used as
//! it is (a build takes minutes), one of another recipe is built again.

use anyhow::{bail, Context};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HASH_LABEL: &str = "io.supervisor.debian-image.hash";
/// Bump when the way images are built changes in a way a recipe does not show.
const BUILDER: &str = "debian-image v1";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Where the build container sees the build folder (the script, its files, the CA bundle).
pub const BUILD_MOUNT: &str = "/run/image-build";
/// How often a long step says that it still runs.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// What an image is made of.
pub struct Recipe<'a> {
    /// `name:tag`.
    pub image: &'a str,
    /// The Debian release, as debootstrap names it (`trixie`, `bookworm`).
    pub suite: &'a str,
    /// Who speaks in the progress lines (`real-core: ...`).
    pub speaker: &'a str,
    /// Debian packages on top of the minimal base, as `debootstrap --include` takes them.
    pub packages: &'a str,
    /// Files of the build folder, by name; the first is the script, run as `sh <it> <args>`.
    pub files: &'a [(&'a str, &'a str)],
    pub args: &'a [&'a str],
    /// `docker commit --change` instructions (command, environment, labels).
    pub changes: &'a [String],
    /// How long the build takes, for the line that announces it.
    pub expected: &'a str,
}

impl Recipe<'_> {
    fn hash(&self) -> String {
        let mut parts = vec![BUILDER, self.suite, MIRROR, self.image, self.packages];
        for (name, contents) in self.files {
            parts.extend([*name, *contents]);
        }
        parts.extend(self.args);
        parts.extend(self.changes.iter().map(String::as_str));
        format!("{:016x}", fnv1a(&parts))
    }

    fn say(&self, line: &str) {
        println!("{}: {line}", self.speaker);
    }

    fn step(&self, what: &str) {
        self.say(&format!("== {what}"));
    }
}

/// Builds the recipe's image unless the engine has it from the same recipe.
pub fn ensure(recipe: &Recipe) -> anyhow::Result<()> {
    let image = recipe.image;
    let hash = recipe.hash();
    match label(image) {
        Some(current) if current == hash => {
            recipe.say(&format!("{image} is up to date"));
            return Ok(());
        }
        Some(_) => recipe.say(&format!("{image} was made by another recipe; building it again")),
        None => recipe.say(&format!("{image} is missing; building it ({})", recipe.expected)),
    }
    let started = Instant::now();
    let previous = image_id(image);
    let build = Build::new(recipe, &hash)?;
    build.rootfs()?;
    build.import()?;
    build.install()?;
    build.commit()?;
    recipe.say(&format!("built {image} in {}", minutes(started.elapsed())));
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
struct Build<'a> {
    recipe: &'a Recipe<'a>,
    dir: tempfile::TempDir,
    hash: String,
    /// The imported root file system: an intermediate tag.
    rootfs_image: String,
    /// The container that runs the script.
    container: String,
}

impl<'a> Build<'a> {
    fn new(recipe: &'a Recipe<'a>, hash: &str) -> anyhow::Result<Build<'a>> {
        let dir = tempfile::Builder::new().prefix("debian-image-").tempdir().context("creating a temporary folder")?;
        let unique = format!("{}-{}", std::process::id(), &hash[..8]);
        Ok(Build {
            recipe,
            dir,
            hash: hash.to_owned(),
            rootfs_image: format!("debian-image-rootfs-{unique}:build"),
            container: format!("debian-image-build-{unique}"),
        })
    }

    fn rootfs_dir(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// `debootstrap` of the suite with the recipe's packages, without apt's caches.
    fn rootfs(&self) -> anyhow::Result<()> {
        ensure_debootstrap(self.recipe)?;
        let (suite, packages) = (self.recipe.suite, self.recipe.packages);
        self.recipe.step(&format!("debootstrap {suite} from {MIRROR} with [{packages}] (a minute or two)"));
        let rootfs = self.rootfs_dir();
        let mut command = Command::new("debootstrap");
        command.arg("--variant=minbase");
        if !packages.is_empty() {
            command.arg(format!("--include={packages}"));
        }
        command.arg(suite).arg(&rootfs).arg(MIRROR);
        self.run_logged(command, "debootstrap.log", "debootstrap")?;
        for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
            empty_dir(&rootfs.join(dir))?;
        }
        Ok(())
    }

    /// Packs the root file system and imports it as the intermediate image.
    fn import(&self) -> anyhow::Result<()> {
        self.recipe.step(&format!("docker import of the root file system as {}", self.rootfs_image));
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

    /// Runs the recipe's script in a container of the intermediate image.
    fn install(&self) -> anyhow::Result<()> {
        let build = self.dir.path().join("build");
        std::fs::create_dir_all(&build)?;
        for (name, contents) in self.recipe.files {
            std::fs::write(build.join(name), contents)?;
        }
        let mut command = Command::new("docker");
        command
            .args(["run", "--name", &self.container, "--network", "host", "--volume"])
            .arg(format!("{}:{BUILD_MOUNT}:ro", build.display()));
        if let Some(bundle) = ca_bundle() {
            std::fs::copy(&bundle, build.join("ca.crt")).with_context(|| format!("copying {}", bundle.display()))?;
            for variable in ["PIP_CERT", "SSL_CERT_FILE"] {
                command.args(["--env", &format!("{variable}={BUILD_MOUNT}/ca.crt")]);
            }
        }
        let (script, _) = self.recipe.files.first().context("a recipe without a script")?;
        command.args([&self.rootfs_image, "sh", &format!("{BUILD_MOUNT}/{script}")]).args(self.recipe.args);
        self.recipe.step(&format!("running {script} in the container {} (several minutes)", self.container));
        self.run_logged(command, "install.log", script)
    }

    /// Commits the build container as the image, with the recipe's changes and the hash label.
    fn commit(&self) -> anyhow::Result<()> {
        let image = self.recipe.image;
        self.recipe.step(&format!("docker commit {} {image}", self.container));
        let mut args = vec!["commit".to_owned()];
        let label = format!("LABEL {HASH_LABEL}={}", self.hash);
        for change in self.recipe.changes.iter().chain([&label]) {
            args.extend(["--change".to_owned(), change.clone()]);
        }
        args.extend([self.container.clone(), image.to_owned()]);
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Runs `command` with its output in the build folder's `log`, saying every [`HEARTBEAT`]
    /// that it still runs (with the log's last line); on failure, shows the log's end.
    fn run_logged(&self, mut command: Command, log: &str, what: &str) -> anyhow::Result<()> {
        let log = self.dir.path().join(log);
        eprintln!("+ {command:?} > {}", log.display());
        let file = File::create(&log)?;
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
                let last = tail(&log, 1).pop().unwrap_or_default();
                self.recipe.say(&format!("  {what} runs for {}: {}", minutes(started.elapsed()), shorten(&last, 140)));
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        if !status.success() {
            eprintln!("--- the end of {} ---", log.display());
            for line in tail(&log, 40) {
                eprintln!("{line}");
            }
            bail!("{what} failed: {status}");
        }
        self.recipe.say(&format!("  {what} done in {}", minutes(started.elapsed())));
        Ok(())
    }
}

impl Drop for Build<'_> {
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
fn ensure_debootstrap(recipe: &Recipe) -> anyhow::Result<()> {
    let present = || Command::new("debootstrap").arg("--version").output().is_ok_and(|o| o.status.success());
    if present() {
        return Ok(());
    }
    recipe.step("installing debootstrap");
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

/// FNV-1a, 64 bits, over the parts with a separator.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.as_bytes().iter().chain(&[0xff])) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
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

pub fn minutes(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    format!("{}m{:02}s", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe<'a>(files: &'a [(&'a str, &'a str)]) -> Recipe<'a> {
        Recipe {
            image: "x:1",
            suite: "trixie",
            speaker: "t",
            packages: "p",
            files,
            args: &[],
            changes: &[],
            expected: "",
        }
    }

    #[test]
    fn the_recipe_hash_is_stable_and_tells_parts_apart() {
        assert_eq!(recipe(&[("a", "b")]).hash(), recipe(&[("a", "b")]).hash());
        assert_ne!(recipe(&[("a", "b")]).hash(), recipe(&[("a", "c")]).hash());
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
    }

    #[test]
    fn mounts_are_found_under_a_folder_only() {
        let dir = Path::new("/");
        assert!(mounts_under(dir).iter().all(|mount| mount.starts_with(dir)));
        assert!(mounts_under(Path::new("/nonexistent-debian-image")).is_empty());
    }

    #[test]
    fn long_lines_are_shortened_on_a_character_boundary() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("ééééé", 2), "éé…");
    }
}
