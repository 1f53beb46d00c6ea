//! An add-on's own AppArmor profile (`apparmor.txt` in its folder), handled as the real
//! Supervisor handles it: the file must hold exactly one `profile <name>` and that name becomes
//! the add-on's slug; the profile is kept as `<data>/apparmor/<slug>`, loaded into the host's
//! kernel with `apparmor_parser` where the kernel has AppArmor (and named on the container),
//! and unloaded and deleted at uninstall. Where the kernel has none, `apparmor_parser` still
//! compiles it without loading, so a broken profile is refused the same everywhere; without
//! `apparmor_parser` only its profile line is checked, as the real Supervisor checks, and the
//! profile is kept but not loaded (as the real one does on a host whose AppArmor it cannot
//! reach). An add-on with `apparmor: true` and no profile loaded runs under the engine's
//! default profile.

use crate::errors;
use base::Error;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The profile file of an add-on's folder.
const PROFILE_FILE: &str = "apparmor.txt";
/// Where `apparmor_parser` is looked for besides the search path: where Debian installs it
/// (`/usr/sbin` is missing from the search path of many services).
const PARSER_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];
const PARSER: &str = "apparmor_parser";

/// The `apparmor_parser` of this machine, if any.
fn find_parser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(PARSER_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(PARSER))
        .find(|candidate| candidate.is_file())
}

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
    parser: Option<PathBuf>,
    /// The kernel has AppArmor and `apparmor_parser` is there to load profiles into it.
    kernel: bool,
}

impl Profiles {
    /// The profiles kept in `dir`, for a kernel with AppArmor (`kernel_apparmor`) or without.
    pub fn new(dir: PathBuf, kernel_apparmor: bool) -> Self {
        let parser = find_parser();
        let kernel = kernel_apparmor && parser.is_some();
        Profiles { dir, parser, kernel }
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
        let checked = match self.parse(args, &candidate).await {
            Some(result) => result.map_err(|why| errors::apparmor_invalid(slug, &why)),
            None => {
                tracing::warn!(
                    addon = slug,
                    "{PARSER} is not installed: the AppArmor profile of app {slug} is kept unchecked and not loaded"
                );
                Ok(())
            }
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
            match self.parse(&["--replace", "--skip-cache"], &path).await {
                Some(Err(why)) => tracing::error!(addon = slug, "Can't load profile {slug}: {why}"),
                _ => tracing::info!(addon = slug, "Loaded AppArmor profile {slug}"),
            }
        }
    }

    /// Unloads and deletes the profile kept for `slug`, if any.
    pub async fn remove(&self, slug: &str) -> Result<(), Error> {
        let Some(path) = self.stored(slug) else { return Ok(()) };
        if self.kernel {
            if let Some(Err(why)) = self.parse(&["--remove"], &path).await {
                tracing::warn!(addon = slug, "Can't unload AppArmor profile {slug}: {why}");
            }
        }
        std::fs::remove_file(&path).map_err(|e| errors::unknown(slug, format!("can't remove profile: {e}")))?;
        tracing::info!(addon = slug, "Removing AppArmor profile: {slug}");
        Ok(())
    }
}

impl Profiles {
    /// Runs `apparmor_parser` with `args` on `profile`: `None` when it is not installed, else
    /// Ok or Err(its error lines).
    async fn parse(&self, args: &[&str], profile: &Path) -> Option<Result<(), String>> {
        let parser = self.parser.as_ref()?;
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
            Err(e) => return Some(Err(format!("can't run {}: {e}", parser.display()))),
        };
        if output.status.success() {
            return Some(Ok(()));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Its notes about a kernel without AppArmor come before the real complaint.
        let errors: Vec<&str> = stderr.lines().filter(|line| !line.starts_with("Cache read/write disabled")).collect();
        let why = errors.join("; ").replace(&profile.display().to_string(), PROFILE_FILE);
        Some(Err(if why.is_empty() { format!("{PARSER} failed ({})", output.status) } else { why }))
    }
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

    #[tokio::test]
    async fn without_apparmor_parser_only_the_profile_line_is_checked_and_nothing_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("addon");
        std::fs::create_dir(&source).unwrap();
        let profiles = Profiles { dir: dir.path().join("apparmor"), parser: None, kernel: false };
        std::fs::write(source.join(PROFILE_FILE), "# none\n").unwrap();
        assert!(profiles.install("core_x", &source).await.is_err());
        assert_eq!(profiles.stored("core_x"), None);
        std::fs::write(source.join(PROFILE_FILE), "profile x {\n  not a rule\n}\n").unwrap();
        profiles.install("core_x", &source).await.unwrap();
        let kept = profiles.stored("core_x").expect("kept");
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "profile core_x {\n  not a rule\n}\n");
        assert_eq!(profiles.loaded("core_x"), None, "no kernel to confine it");
        // A folder without the file drops the profile kept.
        std::fs::remove_file(source.join(PROFILE_FILE)).unwrap();
        profiles.install("core_x", &source).await.unwrap();
        assert!(!kept.exists());
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
