//! Reading a repository from disk: its `repository.yaml` and every add-on folder below it.
//!
//! Each file is read once: the walk lists every folder a single time, notes the folders that
//! hold a `config.{yaml,yml,json}`, and the add-ons are then parsed in parallel. One broken
//! add-on (or a broken `repository.yaml`) is reported in the repository's `errors` and skipped;
//! it never hides the rest. Unknown keys of an add-on are dropped, each reported there too.

use crate::manager::StoreAddon;
use crate::repository::{Repository, RepositoryKind, Source};
use addon_config::{AddonConfig, ConfigError, RepositoryConfig};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// The names an add-on's configuration file may have.
const CONFIG_FILES: [&str; 3] = ["config.yaml", "config.yml", "config.json"];

/// Below this many add-ons per thread, starting another thread costs more than it saves.
const ADDONS_PER_THREAD: usize = 16;

/// Reads the repository of `source` in `path`: its metadata, its add-ons and what was wrong.
pub(crate) fn read_repository(source: &Source, path: PathBuf) -> (Repository, Vec<StoreAddon>) {
    let mut repository = source.repository(path);
    if source.is_git() && !repository.path.join(".git").exists() {
        repository.errors.push("the repository is not cloned; a reload clones it".to_owned());
        return (repository, Vec::new());
    }
    if !repository.path.is_dir() {
        match source.kind {
            // An empty local folder is the normal case; it is created when the data dir is.
            RepositoryKind::Local => {}
            RepositoryKind::Core | RepositoryKind::Git => {
                repository.errors.push(format!("folder {} does not exist", repository.path.display()))
            }
        }
        return (repository, Vec::new());
    }
    // `core` carries fixed metadata, as upstream's built-in.json gives it.
    if source.kind == RepositoryKind::Git {
        match RepositoryConfig::load(&repository.path) {
            Ok(Some(config)) => {
                repository.name = config.name;
                if let Some(url) = config.url {
                    repository.url = url;
                }
                if let Some(maintainer) = config.maintainer {
                    repository.maintainer = maintainer;
                }
            }
            Ok(None) => {
                let message = "no repository.yaml, repository.yml or repository.json at the top of the repository";
                report(&mut repository, message.to_owned());
                return (repository, Vec::new());
            }
            Err(e) => {
                report(&mut repository, e.to_string());
                return (repository, Vec::new());
            }
        }
    }
    let addons = read_addons(&mut repository);
    (repository, addons)
}

/// Records `message` as an error of `repository` and logs it.
fn report(repository: &mut Repository, message: String) {
    tracing::warn!(repository = %repository.slug, source = %repository.source, "{message}");
    repository.errors.push(message);
}

fn read_addons(repository: &mut Repository) -> Vec<StoreAddon> {
    let root = repository.path.clone();
    let mut errors = Vec::new();
    let folders = addon_folders(&root, &mut errors);
    let loaded = load_parallel(&folders);
    let mut addons = Vec::with_capacity(loaded.len());
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for (AddonFolder { path: folder, .. }, result) in folders.into_iter().zip(loaded) {
        let shown = relative(&root, &folder);
        match result {
            // The file vanished between the walk and the read: nothing to report.
            Ok(None) => {}
            Err(e) => errors.push(format!("add-on folder '{shown}' skipped: {e}")),
            Ok(Some((config, warnings, translations))) => {
                errors.extend(warnings.into_iter().map(|w| format!("add-on folder '{shown}': {w}")));
                if let Some(first) = seen.get(&config.slug) {
                    errors.push(format!(
                        "add-on folder '{shown}' skipped: slug '{}' is already used by folder '{}'",
                        config.slug,
                        relative(&root, first)
                    ));
                    continue;
                }
                seen.insert(config.slug.clone(), folder.clone());
                addons.push(StoreAddon {
                    slug: format!("{}_{}", repository.slug, config.slug),
                    repository: repository.slug.clone(),
                    path: folder,
                    config,
                    translations,
                });
            }
        }
    }
    for message in errors {
        report(repository, message);
    }
    addons
}

/// A folder holding an add-on configuration.
struct AddonFolder {
    path: PathBuf,
    /// False when `translations` links out of the repository: then it is not read.
    translations: bool,
}

/// Every folder below `root` holding an add-on configuration, sorted. Path components starting
/// with `.` and folders named `rootfs` (an add-on's own file tree, full of unrelated
/// `config.*` files) are skipped, as the real Supervisor does; symbolic links to folders are never
/// followed, and a configuration file that links out of the repository disqualifies its folder.
fn addon_folders(root: &Path, errors: &mut Vec<String>) -> Vec<AddonFolder> {
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(format!("folder '{}' cannot be read: {e}", relative(root, &dir)));
                continue;
            }
        };
        let (mut has_config, mut escapes, mut translations) = (false, false, true);
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if name != "rootfs" {
                    pending.push(entry.path());
                }
            } else if name == "translations" && kind.is_symlink() {
                translations = inside(&canonical_root, &entry.path());
            } else if CONFIG_FILES.contains(&name) {
                if kind.is_symlink() && !inside(&canonical_root, &entry.path()) {
                    escapes = true;
                } else {
                    has_config = true;
                }
            }
        }
        if escapes {
            let shown = relative(root, &dir);
            errors.push(format!("add-on folder '{shown}' skipped: its configuration links out of the repository"));
        } else if has_config {
            if !translations {
                let shown = relative(root, &dir);
                errors.push(format!("add-on folder '{shown}': its translations link out of the repository; not read"));
            }
            found.push(AddonFolder { path: dir, translations });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// An add-on's configuration, what was dropped from it, and its translations.
type Loaded = Result<Option<(AddonConfig, Vec<String>, BTreeMap<String, Value>)>, ConfigError>;

/// Loads every folder's add-on, on as many threads as the machine has cores, in folder order.
fn load_parallel(folders: &[AddonFolder]) -> Vec<Loaded> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(folders.len().div_ceil(ADDONS_PER_THREAD)).max(1);
    if threads == 1 {
        return folders.iter().map(load_addon).collect();
    }
    let chunk = folders.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = folders
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(load_addon).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("add-on loader thread panicked")).collect()
    })
}

fn load_addon(folder: &AddonFolder) -> Loaded {
    let Some((config, warnings)) = AddonConfig::load_with_warnings(&folder.path)? else { return Ok(None) };
    let translations =
        if folder.translations { addon_config::load_translations(&folder.path) } else { BTreeMap::new() };
    Ok(Some((config, warnings, translations)))
}

/// Whether `path` (a link, say) resolves to somewhere below `canonical_root`.
pub(crate) fn inside(canonical_root: &Path, path: &Path) -> bool {
    path.canonicalize().is_ok_and(|target| target.starts_with(canonical_root))
}

/// `path` relative to the repository root, for messages (`.` for the root itself).
fn relative(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}
