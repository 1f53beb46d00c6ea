//! An add-on's own AppArmor profile (`apparmor.txt` in its folder), handled as the real
//! Supervisor handles it: the file must hold exactly one `profile <name>` and that name becomes
//! the add-on's slug; the profile is kept as `<data>/apparmor/<slug>`, loaded into the host's
//! kernel with `apparmor_parser` where the kernel has AppArmor (and named on the container),
//! and unloaded and deleted at uninstall. Where the kernel has none, `apparmor_parser` still
//! compiles it without loading, so a broken profile is refused the same everywhere; without
//! `apparmor_parser` only its profile line is checked, as the real Supervisor checks. An add-on
//! with `apparmor: true` and no file of its own runs under the engine's default profile.

use crate::errors;
use base::Error;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The profile file of an add-on's folder.
const PROFILE_FILE: &str = "apparmor.txt";
/// Where `apparmor_parser` is looked for: the search path, then where Debian installs it
/// (`/usr/sbin` is missing from the search path of many services).
const PARSERS: [&str; 3] = ["apparmor_parser", "/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"];

/// Whether the kernel under `host_root` has AppArmor enabled: its securityfs folder, or `Y`
/// in the module's `enabled` parameter.
pub(crate) fn kernel_has_apparmor(host_root: &Path) -> bool {
    host_root.join("sys/kernel/security/apparmor").is_dir()
        || std::fs::read_to_string(host_root.join("sys/module/apparmor/parameters/enabled"))
            .is_ok_and(|enabled| enabled.trim() == "Y")
}

/// The add-ons' profiles, and whether the host's kernel takes them.
pub(crate) struct Profiles {
    dir: PathBuf,
    kernel: bool,
}

impl Profiles {
    pub fn new(dir: PathBuf, kernel: bool) -> Self {
        Profiles { dir, kernel }
    }

    /// The profile kept for `slug`, if it has one.
    pub fn stored(&self, slug: &str) -> Option<PathBuf> {
        Some(self.dir.join(slug)).filter(|path| path.is_file())
    }

    /// The profile the container of `slug` is confined by: its own, once loaded into the
    /// kernel.
    pub fn loaded(&self, slug: &str) -> Option<String> {
        (self.kernel && self.stored(slug).is_some()).then(|| slug.to_owned())
    }

    /// Takes the profile of the add-on folder `source` for `slug` (or drops the one kept when
    /// the folder has none any more). Err, with nothing changed, when it is not a valid profile.
    pub async fn install(&self, slug: &str, source: &Path) -> Result<(), Error> {
        let file = source.join(PROFILE_FILE);
        if !file.is_file() {
            return self.remove(slug).await;
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|e| errors::apparmor_invalid(slug, &format!("can't read {PROFILE_FILE}: {e}")))?;
        let profile = renamed(&text, slug).map_err(|why| errors::apparmor_invalid(slug, &why))?;
        base::fs::ensure_real_dir(&self.dir)
            .map_err(|e| errors::unknown(slug, format!("can't create {}: {e}", self.dir.display())))?;
        let candidate = self.dir.join(format!(".{slug}.new"));
        base::fs::atomic_write(&candidate, profile.as_bytes(), 0o644)
            .map_err(|e| errors::unknown(slug, format!("can't write {}: {e}", candidate.display())))?;
        let args: &[&str] = if self.kernel {
            // Loaded under its final name: the kernel knows a profile by the name inside.
            &["--replace", "--skip-cache"]
        } else {
            &["--skip-kernel-load", "--skip-cache"]
        };
        let checked = match parse(args, &candidate).await {
            Some(result) => result.map_err(|why| errors::apparmor_invalid(slug, &why)),
            None if self.kernel => Err(errors::apparmor_failed(slug, "apparmor_parser is not installed")),
            None => Ok(()),
        };
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&candidate);
            return Err(e);
        }
        std::fs::rename(&candidate, self.dir.join(slug))
            .map_err(|e| errors::unknown(slug, format!("can't keep the AppArmor profile: {e}")))?;
        tracing::info!(addon = slug, "Adding/updating AppArmor profile: {slug}");
        Ok(())
    }

    /// Loads the kept profiles of `slugs` into the kernel again, as a host forgets them at every
    /// boot; a profile that fails is logged, and its add-on's start will say why.
    pub async fn load_kept(&self, slugs: impl Iterator<Item = &str>) {
        if !self.kernel {
            return;
        }
        for slug in slugs {
            let Some(path) = self.stored(slug) else { continue };
            match parse(&["--replace", "--skip-cache"], &path).await {
                Some(Ok(())) => tracing::info!(addon = slug, "Loaded AppArmor profile {slug}"),
                Some(Err(why)) => tracing::error!(addon = slug, "Can't load profile {slug}: {why}"),
                None => tracing::error!(addon = slug, "Can't load profile {slug}: apparmor_parser is not installed"),
            }
        }
    }

    /// Unloads and deletes the profile kept for `slug`, if any.
    pub async fn remove(&self, slug: &str) -> Result<(), Error> {
        let Some(path) = self.stored(slug) else { return Ok(()) };
        if self.kernel {
            if let Some(Err(why)) = parse(&["--remove"], &path).await {
                tracing::warn!(addon = slug, "Can't unload AppArmor profile {slug}: {why}");
            }
        }
        std::fs::remove_file(&path).map_err(|e| errors::unknown(slug, format!("can't remove profile: {e}")))?;
        tracing::info!(addon = slug, "Removing AppArmor profile: {slug}");
        Ok(())
    }
}

/// Runs `apparmor_parser` with `args` on `profile`: `None` when it is not installed, else
/// Ok or Err(its error lines).
async fn parse(args: &[&str], profile: &Path) -> Option<Result<(), String>> {
    for parser in PARSERS {
        let run = tokio::process::Command::new(parser)
            .args(args)
            .arg(profile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await;
        let output = match run {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Some(Err(format!("can't run {parser}: {e}"))),
        };
        if output.status.success() {
            return Some(Ok(()));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Its notes about a kernel without AppArmor come before the real complaint.
        let errors: Vec<&str> = stderr.lines().filter(|line| !line.starts_with("Cache read/write disabled")).collect();
        let why = errors.join("; ").replace(&profile.display().to_string(), PROFILE_FILE);
        return Some(Err(if why.is_empty() { format!("apparmor_parser failed ({})", output.status) } else { why }));
    }
    None
}

/// The name of the profile a line opens (`profile <name> ...`).
fn name_of(line: &str) -> Option<&str> {
    line.strip_prefix("profile ").and_then(|rest| rest.split(' ').next()).filter(|name| !name.is_empty())
}

/// `text` with the name of its one profile replaced by `slug`; Err(the real Supervisor's
/// message) when it holds no profile or several.
fn renamed(text: &str, slug: &str) -> Result<String, String> {
    let names: BTreeSet<&str> = text.lines().filter_map(name_of).collect();
    let name = match names.len() {
        0 => return Err(format!("Missing AppArmor profile inside file: {PROFILE_FILE}")),
        1 => names.into_iter().next().unwrap_or_default(),
        _ => return Err(format!("Too many AppArmor profiles inside file: {PROFILE_FILE}")),
    };
    Ok(text
        .split_inclusive('\n')
        .map(|line| match name_of(line.trim_end_matches('\n')) {
            Some(_) => format!("profile {slug}{}", &line["profile ".len() + name.len()..]),
            None => line.to_owned(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_profile_is_renamed_to_the_slug() {
        let text = "#include <tunables/global>\nprofile example flags=(attach_disconnected) {\n  file,\n}\n";
        assert_eq!(
            renamed(text, "core_demo").unwrap(),
            "#include <tunables/global>\nprofile core_demo flags=(attach_disconnected) {\n  file,\n}\n"
        );
        assert_eq!(renamed("# nothing\n", "s").unwrap_err(), "Missing AppArmor profile inside file: apparmor.txt");
        assert_eq!(
            renamed("profile a {\n}\nprofile b {\n}\n", "s").unwrap_err(),
            "Too many AppArmor profiles inside file: apparmor.txt"
        );
        // The same name twice is one profile; only the name is replaced.
        assert_eq!(renamed("profile o {\n}\nprofile o {\n}\n", "s").unwrap(), "profile s {\n}\nprofile s {\n}\n");
    }

    #[test]
    fn the_kernel_is_asked_under_the_host_root() {
        let root = tempfile::tempdir().unwrap();
        assert!(!kernel_has_apparmor(root.path()));
        let parameters = root.path().join("sys/module/apparmor/parameters");
        std::fs::create_dir_all(&parameters).unwrap();
        std::fs::write(parameters.join("enabled"), "N\n").unwrap();
        assert!(!kernel_has_apparmor(root.path()));
        std::fs::write(parameters.join("enabled"), "Y\n").unwrap();
        assert!(kernel_has_apparmor(root.path()));
    }
}
