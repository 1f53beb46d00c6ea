//! Public add-on repositories read through the store, as a check of the parser against the
//! repositories people use. Ignored: it needs local copies of them, named (git folders,
//! separated by `:`) in `ADDON_REPOS`; no repository's data is kept in this project.
//!
//! `ADDON_REPOS=/path/a.git:/path/b.git cargo test -p store --test store public -- --ignored --nocapture`
//! prints, per repository, every add-on read and every message about one that was not.

use crate::common::{git, Fixture};
use std::path::Path;

#[tokio::test]
#[ignore = "needs local copies of public add-on repositories in ADDON_REPOS"]
async fn public_repositories_load() {
    let Ok(repos) = std::env::var("ADDON_REPOS") else {
        eprintln!("ADDON_REPOS names no repository: nothing to check");
        return;
    };
    let mut refused_total = 0;
    for source in repos.split(':').filter(|s| !s.is_empty()) {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("checkout");
        // A clone of the newest commit: the git folder itself is never changed.
        git(dir.path(), &["clone", "--quiet", "--depth", "1", &format!("file://{source}"), "checkout"]);
        let folders = count_configs(&checkout);
        let fixture = Fixture::with_core(dir, checkout, "generic-x86-64");
        fixture.manager.load().await;
        let addons = fixture.manager.addons();
        let errors = fixture.manager.repositories().into_iter().find(|r| r.slug == "core").unwrap().errors;
        println!("== {source}");
        for addon in &addons {
            println!("   loaded  {} ({}) rating {}", addon.config.slug, addon.config.version, addon.config.rating());
        }
        for error in &errors {
            println!("   error   {error}");
        }
        let refused = folders.saturating_sub(addons.len());
        println!("== {source}: {} of {folders} add-ons loaded, {} messages", addons.len(), errors.len());
        refused_total += refused;
    }
    println!("refused in all: {refused_total}");
}

/// The folders holding an add-on configuration, counted as the store finds them.
fn count_configs(root: &Path) -> usize {
    let mut count = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut has_config = false;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else { continue };
            if name.starts_with('.') {
                continue;
            }
            if kind.is_dir() && name != "rootfs" {
                pending.push(entry.path());
            } else if ["config.yaml", "config.yml", "config.json"].contains(&name.as_str()) {
                has_config = true;
            }
        }
        count += usize::from(has_config);
    }
    count
}
