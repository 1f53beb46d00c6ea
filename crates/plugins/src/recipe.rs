//! The image recipe of a plugin (`plugins/<name>/image.yaml` of the supervisor's install) and the
//! root file system it describes: the listed programs from next to the supervisor's executable
//! at `/usr/bin`, files of the host at their own paths, `plugins/<name>/rootfs/` verbatim, and
//! the shared libraries `ldd` lists for every ELF program among them. The image is that file
//! system alone (`FROM scratch`), so a machine with only a container engine runs the plugins.

use crate::Plugin;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// `image.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Programs of the supervisor's install, copied to `/usr/bin`.
    #[serde(default)]
    pub binaries: Vec<String>,
    /// Files or folders of the host, copied at the same path.
    #[serde(default)]
    pub host_files: Vec<PathBuf>,
    /// The host's packages `host_files` come from, named when something is missing.
    #[serde(default)]
    pub host_packages: Vec<String>,
    pub entrypoint: Vec<String>,
}

/// Where the recipe of `plugin` is in the plugins folder.
pub fn recipe_path(source: &Path, plugin: Plugin) -> PathBuf {
    source.join(plugin.slug()).join("image.yaml")
}

/// Reads the recipe of `plugin` from the plugins folder `source`.
pub fn load(source: &Path, plugin: Plugin) -> Result<Recipe, String> {
    let path = recipe_path(source, plugin);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!("can't read the image recipe {} of the {plugin} plugin: {e} (see --plugins-source)", path.display())
    })?;
    let recipe: Recipe = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if recipe.entrypoint.is_empty() {
        return Err(format!("{}: entrypoint is empty", path.display()));
    }
    if let Some(bad) = recipe.binaries.iter().find(|name| name.is_empty() || name.contains('/') || *name == "..") {
        return Err(format!("{}: binaries: {bad:?} is not a program name", path.display()));
    }
    if let Some(bad) = recipe.host_files.iter().find(|file| !file.is_absolute()) {
        return Err(format!("{}: host_files: {} is not an absolute path", path.display(), bad.display()));
    }
    Ok(recipe)
}

/// One entry of the image's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    /// A file's content, read from `from` (links followed), with permission bits `mode`.
    File {
        from: PathBuf,
        mode: u32,
    },
    Link(PathBuf),
}

/// The image's file system by path inside it (relative: `usr/bin/ha`); every parent folder is an
/// entry too, and the order is the order of the archive (parents first).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Layout(pub BTreeMap<PathBuf, Entry>);

impl Layout {
    fn insert(&mut self, path: &Path, entry: Entry) {
        let relative: PathBuf = path.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        let mut parent = relative.parent();
        while let Some(dir) = parent.filter(|dir| !dir.as_os_str().is_empty()) {
            self.0.entry(dir.to_owned()).or_insert(Entry::Dir);
            parent = dir.parent();
        }
        self.0.insert(relative, entry);
    }
}

/// What the layout needs to know of the host.
pub struct Host<'a> {
    /// The shared libraries and loader an ELF program needs, absolute paths.
    pub libraries: &'a dyn Fn(&Path) -> Result<Vec<PathBuf>, String>,
    /// Whether a host package is installed; `None` where that cannot be asked.
    pub package_installed: &'a dyn Fn(&str) -> Option<bool>,
}

/// The file system of `plugin`'s image by `recipe`: programs from `binaries`, the folder
/// `plugin_dir` (`plugins/<name>`, whose `rootfs/` is copied), the host's files. A missing program,
/// package or file is an error naming it.
pub fn layout(
    plugin: Plugin,
    recipe: &Recipe,
    plugin_dir: &Path,
    binaries: &Path,
    host: &Host,
) -> Result<Layout, String> {
    let mut layout = Layout::default();
    let missing_packages: Vec<&str> = recipe
        .host_packages
        .iter()
        .map(String::as_str)
        .filter(|package| (host.package_installed)(package) == Some(false))
        .collect();
    if !missing_packages.is_empty() {
        return Err(format!(
            "the {plugin} plugin's image needs the host packages {} (apt-get install {})",
            missing_packages.join(", "),
            missing_packages.join(" ")
        ));
    }
    let mut programs = Vec::new();
    for name in &recipe.binaries {
        let from = binaries.join(name);
        if !from.is_file() {
            return Err(format!(
                "the {plugin} plugin's image needs the program {name}, which is not next to the supervisor in {} \
                 (build it with cargo build -p {name}, or install it there)",
                binaries.display()
            ));
        }
        layout.insert(&Path::new("/usr/bin").join(name), Entry::File { from: from.clone(), mode: 0o755 });
        programs.push(from);
    }
    for pattern in &recipe.host_files {
        let files = expand(pattern);
        if files.is_empty() {
            let packages = if recipe.host_packages.is_empty() {
                String::new()
            } else {
                format!(" (from the host packages {})", recipe.host_packages.join(", "))
            };
            return Err(format!(
                "the {plugin} plugin's image needs {} of the host{packages}: it is missing",
                pattern.display()
            ));
        }
        for file in files {
            copy_tree(&mut layout, &file, &file, true, &mut programs)
                .map_err(|e| format!("can't read {} for the {plugin} plugin's image: {e}", file.display()))?;
        }
    }
    let rootfs = plugin_dir.join("rootfs");
    if rootfs.is_dir() {
        for entry in std::fs::read_dir(&rootfs).map_err(|e| format!("can't read {}: {e}", rootfs.display()))? {
            let from = entry.map_err(|e| format!("can't read {}: {e}", rootfs.display()))?.path();
            let to = Path::new("/").join(from.strip_prefix(&rootfs).expect("an entry of rootfs"));
            copy_tree(&mut layout, &from, &to, false, &mut Vec::new())
                .map_err(|e| format!("can't read {}: {e}", from.display()))?;
        }
    }
    for program in &programs {
        for library in (host.libraries)(program)? {
            let mode = std::fs::metadata(&library).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o755);
            layout.insert(&library, Entry::File { from: library.clone(), mode });
        }
    }
    Ok(layout)
}

/// The host's paths `pattern` names: a `*` matches any part of one path component (Debian puts
/// its version in folder names, such as PulseAudio's `/usr/lib/pulse-16.1+dfsg1/modules`).
fn expand(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for component in pattern.components().skip(1) {
        let component = component.as_os_str().to_string_lossy();
        found = found
            .into_iter()
            .flat_map(|dir| -> Vec<PathBuf> {
                if !component.contains('*') {
                    let path = dir.join(&*component);
                    return if std::fs::symlink_metadata(&path).is_ok() { vec![path] } else { vec![] };
                }
                let Ok(entries) = std::fs::read_dir(&dir) else { return vec![] };
                let mut matches: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .filter(|entry| glob_match(&component, &entry.file_name().to_string_lossy()))
                    .map(|entry| entry.path())
                    .collect();
                matches.sort();
                matches
            })
            .collect();
    }
    found
}

/// Whether `name` matches `pattern`, whose `*`s match any run of characters.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.len() >= part.len() && rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Adds `from` at `to`: a folder with everything in it (links kept as links), a file with its
/// mode. With `follow`, a link at the top is taken as what it points to. ELF programs are noted
/// in `programs` for their libraries.
fn copy_tree(
    layout: &mut Layout,
    from: &Path,
    to: &Path,
    follow: bool,
    programs: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let meta = if follow { std::fs::metadata(from)? } else { std::fs::symlink_metadata(from)? };
    if meta.file_type().is_symlink() {
        layout.insert(to, Entry::Link(std::fs::read_link(from)?));
    } else if meta.is_dir() {
        layout.insert(to, Entry::Dir);
        let mut children: Vec<PathBuf> =
            std::fs::read_dir(from)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        children.sort();
        for child in children {
            let name = child.file_name().expect("a directory entry has a name");
            copy_tree(layout, &child, &to.join(name), false, programs)?;
        }
    } else if meta.is_file() {
        if is_elf(from) {
            programs.push(from.to_owned());
        }
        layout.insert(to, Entry::File { from: from.to_owned(), mode: meta.permissions().mode() & 0o7777 });
    }
    Ok(())
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut file| file.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// The libraries of `program` as the host's `ldd` resolves them; none for a static program.
pub fn ldd(program: &Path) -> Result<Vec<PathBuf>, String> {
    let output = Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| format!("can't run ldd (Debian's libc-bin) for {}: {e}", program.display()))?;
    let listing = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if listing.contains("not a dynamic executable") || errors.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(format!("ldd {} failed: {}{errors}", program.display(), listing.trim()));
    }
    parse_ldd(&listing).map_err(|library| format!("{} needs {library}, which the host lacks", program.display()))
}

/// The absolute paths of an `ldd` listing (`libc.so.6 => /lib/.../libc.so.6 (0x...)`, the loader
/// as `/lib64/ld-linux-x86-64.so.2 (0x...)`); the first library not found is the error.
fn parse_ldd(listing: &str) -> Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    for line in listing.lines().map(str::trim) {
        if let Some((name, _)) = line.split_once("=> not found") {
            return Err(name.trim().to_owned());
        }
        let target = line.rsplit_once("=> ").map_or(line, |(_, target)| target);
        let path = target.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            paths.push(PathBuf::from(path));
        }
    }
    Ok(paths)
}

/// Whether Debian's `dpkg` knows `package` as installed; `None` without `dpkg-query`.
pub fn dpkg_installed(package: &str) -> Option<bool> {
    let output = Command::new("dpkg-query").args(["-W", "-f=${Status}", package]).output().ok()?;
    Some(output.status.success() && String::from_utf8_lossy(&output.stdout).ends_with("installed"))
}

/// Writes `layout` as a tar archive (owned by root, no times) to `out`.
pub fn write_tar(layout: &Layout, out: impl Write) -> std::io::Result<()> {
    let mut archive = tar::Builder::new(out);
    archive.mode(tar::HeaderMode::Deterministic);
    for (path, entry) in &layout.0 {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                archive.append_data(&mut header, path, std::io::empty())?;
            }
            Entry::Link(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                archive.append_link(&mut header, path, target)?;
            }
            Entry::File { from, mode } => {
                let file = std::fs::File::open(from)?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(file.metadata()?.len());
                archive.append_data(&mut header, path, file)?;
            }
        }
    }
    archive.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn no_libraries(_: &Path) -> Result<Vec<PathBuf>, String> {
        Ok(Vec::new())
    }

    fn installed(_: &str) -> Option<bool> {
        Some(true)
    }

    fn recipe(yaml: &str) -> Result<Recipe, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cli")).unwrap();
        std::fs::write(dir.path().join("cli/image.yaml"), yaml).unwrap();
        load(dir.path(), Plugin::Cli)
    }

    #[test]
    fn recipes_are_checked_when_read() {
        let good = recipe("binaries: [ha]\nhost_files: [/bin/busybox]\nentrypoint: [\"/init\"]\n").unwrap();
        assert_eq!(good.binaries, vec!["ha"]);
        assert_eq!(good.host_packages, Vec::<String>::new());
        assert!(recipe("binaries: [ha]\nentrypoint: []\n").unwrap_err().contains("entrypoint is empty"));
        assert!(recipe("entrypoint: [x]\nimage: y\n").unwrap_err().contains("unknown field `image`"));
        assert!(recipe("binaries: [../ha]\nentrypoint: [x]\n").unwrap_err().contains("\"../ha\""));
        assert!(recipe("host_files: [bin/sh]\nentrypoint: [x]\n").unwrap_err().contains("not an absolute path"));
        let missing = load(Path::new("/nonexistent"), Plugin::Dns).unwrap_err();
        assert!(missing.contains("/nonexistent/dns/image.yaml"), "{missing}");
    }

    #[test]
    fn host_file_patterns_match_within_one_component() {
        assert!(glob_match("pulse-*", "pulse-16.1+dfsg1"));
        assert!(glob_match("*.so", "module-null-sink.so"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("pulse-*", "pulseaudio"));
        assert!(!glob_match("a*c", "abcd"));
        let dir = tempfile::tempdir().unwrap();
        for folder in ["pulse-16.1/modules", "pulse-17/modules", "other/modules"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
            std::fs::write(dir.path().join(folder).join("m.so"), "").unwrap();
        }
        let found = expand(&dir.path().join("pulse-*/modules/m.so"));
        assert_eq!(found, [dir.path().join("pulse-16.1/modules/m.so"), dir.path().join("pulse-17/modules/m.so")]);
        assert!(expand(&dir.path().join("nothing-*/m.so")).is_empty());
    }

    #[test]
    fn the_layout_takes_programs_host_files_and_rootfs_with_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let host = dir.path().join("host/share/thing");
        let plugin = dir.path().join("plugins/cli");
        for folder in [&bin, &host, &plugin.join("rootfs/etc")] {
            std::fs::create_dir_all(folder).unwrap();
        }
        std::fs::write(bin.join("ha"), b"\x7fELF...").unwrap();
        std::fs::write(host.join("data"), b"data").unwrap();
        std::fs::set_permissions(host.join("data"), std::fs::Permissions::from_mode(0o640)).unwrap();
        symlink("data", host.join("alias")).unwrap();
        std::fs::write(plugin.join("rootfs/init"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(plugin.join("rootfs/init"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(plugin.join("rootfs/etc/motd"), b"hello").unwrap();
        symlink("busybox", plugin.join("rootfs/sh")).unwrap();
        let recipe = Recipe {
            binaries: vec!["ha".into()],
            host_files: vec![host.clone()],
            host_packages: Vec::new(),
            entrypoint: vec!["/init".into()],
        };
        let libraries = |program: &Path| -> Result<Vec<PathBuf>, String> {
            assert_eq!(program, bin.join("ha"), "the data file is no ELF program");
            Ok(vec![host.join("data")])
        };
        let layout =
            layout(Plugin::Cli, &recipe, &plugin, &bin, &Host { libraries: &libraries, package_installed: &installed })
                .unwrap();
        let host_rel = host.strip_prefix("/").unwrap();
        let get = |path: &Path| layout.0.get(path).cloned();
        assert_eq!(get(Path::new("usr/bin/ha")), Some(Entry::File { from: bin.join("ha"), mode: 0o755 }));
        assert_eq!(get(Path::new("usr")), Some(Entry::Dir));
        assert_eq!(get(&host_rel.join("data")), Some(Entry::File { from: host.join("data"), mode: 0o640 }));
        assert_eq!(get(&host_rel.join("alias")), Some(Entry::Link("data".into())));
        assert_eq!(get(Path::new("init")), Some(Entry::File { from: plugin.join("rootfs/init"), mode: 0o755 }));
        assert_eq!(get(Path::new("etc/motd")).map(|e| matches!(e, Entry::File { .. })), Some(true));
        assert_eq!(get(Path::new("sh")), Some(Entry::Link("busybox".into())));
        let order: Vec<&PathBuf> = layout.0.keys().collect();
        for (i, path) in order.iter().enumerate() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                assert!(order[..i].contains(&&parent.to_path_buf()), "{} before its folder", path.display());
            }
        }

        let mut tar = Vec::new();
        write_tar(&layout, &mut tar).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut content = String::new();
            let kind = entry.header().entry_type();
            let mode = entry.header().mode().unwrap();
            if kind == tar::EntryType::Regular {
                entry.read_to_string(&mut content).unwrap();
            }
            seen.insert(entry.path().unwrap().into_owned(), (kind, mode, content));
        }
        assert_eq!(seen[Path::new("etc/motd")], (tar::EntryType::Regular, 0o644, "hello".to_owned()));
        assert_eq!(seen[Path::new("sh")].0, tar::EntryType::Symlink);
        assert_eq!(seen[Path::new("usr/bin")].0, tar::EntryType::Directory);
    }

    #[test]
    fn what_is_missing_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host { libraries: &no_libraries, package_installed: &installed };
        let recipe = Recipe {
            binaries: vec!["plugin-dns".into()],
            host_files: Vec::new(),
            host_packages: Vec::new(),
            entrypoint: vec!["/usr/bin/plugin-dns".into()],
        };
        let error = layout(Plugin::Dns, &recipe, dir.path(), dir.path(), &host).unwrap_err();
        assert!(error.contains("program plugin-dns") && error.contains("cargo build -p plugin-dns"), "{error}");

        let recipe = Recipe {
            binaries: Vec::new(),
            host_files: vec![PathBuf::from("/nonexistent/pulseaudio")],
            host_packages: vec!["pulseaudio".into()],
            entrypoint: vec!["/usr/bin/pulseaudio".into()],
        };
        let error = layout(Plugin::Audio, &recipe, dir.path(), dir.path(), &host).unwrap_err();
        assert!(error.contains("/nonexistent/pulseaudio") && error.contains("pulseaudio"), "{error}");
        let absent = |_: &str| Some(false);
        let host = Host { libraries: &no_libraries, package_installed: &absent };
        let error = layout(Plugin::Audio, &recipe, dir.path(), dir.path(), &host).unwrap_err();
        assert!(error.contains("apt-get install pulseaudio"), "{error}");
    }

    #[test]
    fn ldd_listings() {
        let listing = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                       \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)\n\
                       \t/lib64/ld-linux-x86-64.so.2 (0x00007f03)\n";
        assert_eq!(
            parse_ldd(listing).unwrap(),
            vec![PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"), PathBuf::from("/lib64/ld-linux-x86-64.so.2")]
        );
        assert_eq!(parse_ldd("\tlibpulse.so.0 => not found\n").unwrap_err(), "libpulse.so.0");
    }

    #[test]
    fn ldd_of_real_programs() {
        let libraries = ldd(Path::new("/bin/sh")).unwrap();
        assert!(libraries.iter().any(|l| l.to_string_lossy().contains("libc.so")), "{libraries:?}");
        if Path::new("/bin/busybox").exists() {
            assert_eq!(ldd(Path::new("/bin/busybox")).unwrap(), Vec::<PathBuf>::new(), "busybox-static is static");
        }
    }
}
