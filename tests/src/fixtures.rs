//! The add-on repository of `store-fixtures/`, which the daemon reads as its built-in `core`
//! repository (`SUPERVISOR_CORE_REPOSITORY`), and private copies of it that a test may change:
//! point the `prebuilt` add-on at the test's own registry, or bump a version to offer an update.

use crate::registry::LocalRegistry;
use std::path::{Path, PathBuf};

/// The checked-in repository; tests that change nothing may use it in place.
pub fn store_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../store-fixtures")
}

/// This machine's architecture in the add-on store's words (`amd64`, `aarch64`).
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "aarch64",
        other => panic!("no fixture add-on supports {other}"),
    }
}

/// A private copy of `store-fixtures/` in a temporary directory, removed on drop.
pub struct FixtureRepository {
    dir: tempfile::TempDir,
}

impl FixtureRepository {
    pub fn copy() -> FixtureRepository {
        let dir = tempfile::tempdir().expect("fixture directory");
        copy_tree(&store_fixtures(), dir.path());
        FixtureRepository { dir }
    }

    /// A copy whose `prebuilt` add-on pulls from `registry`, where its image is pushed at the
    /// add-on's version.
    pub fn with_registry(registry: &LocalRegistry) -> FixtureRepository {
        let repository = Self::copy();
        let version = repository.config_value("prebuilt", "version").expect("prebuilt has a version");
        let image = registry.push_prebuilt_fixture(&version);
        repository.set_config("prebuilt", "image", &image);
        repository
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The environment that makes a daemon read this copy as its `core` repository, for
    /// `Daemon::start_with`.
    pub fn env(&self) -> (&'static str, &str) {
        ("SUPERVISOR_CORE_REPOSITORY", self.path().to_str().expect("UTF-8 path"))
    }

    /// The folder of one add-on.
    pub fn addon(&self, slug: &str) -> PathBuf {
        self.path().join(slug)
    }

    /// Sets the top-level `key` of an add-on's `config.yaml` to `value` (a YAML scalar or a
    /// one-line flow value such as `[armv7]` or `{"8080/tcp": 8080}`), replacing the key's whole
    /// old value, or adding the key when it is missing.
    pub fn set_config(&self, slug: &str, key: &str, value: &str) {
        let path = self.addon(slug).join("config.yaml");
        let text = std::fs::read_to_string(&path).expect("config.yaml");
        std::fs::write(&path, with_key(&text, key, value)).expect("write config.yaml");
    }

    /// Writes `contents` to `path`, relative to the repository (folders created): a new add-on,
    /// a broken Dockerfile.
    pub fn write(&self, path: &str, contents: &str) {
        let target = self.path().join(path);
        std::fs::create_dir_all(target.parent().expect("a parent folder")).expect("create folders");
        std::fs::write(target, contents).expect("write a repository file");
    }

    /// The text of a top-level scalar key of an add-on's `config.yaml`.
    pub fn config_value(&self, slug: &str, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.addon(slug).join("config.yaml")).expect("config.yaml");
        let prefix = format!("{key}:");
        text.lines().find_map(|line| line.strip_prefix(&prefix)).map(|value| value.trim().to_owned())
    }
}

/// `text` with the top-level key `key` (its line and the indented or list lines of its block
/// value below it) replaced by `key: value`, or that line appended.
fn with_key(text: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key}:");
    let line = format!("{key}: {value}");
    let mut found = false;
    let mut in_value = false;
    let mut lines = Vec::new();
    for current in text.lines() {
        if in_value && (current.starts_with([' ', '\t']) || current.starts_with("- ")) {
            continue;
        }
        in_value = false;
        if current.starts_with(&prefix) && !found {
            found = true;
            in_value = true;
            lines.push(line.clone());
        } else {
            lines.push(current.to_owned());
        }
    }
    if !found {
        lines.push(line);
    }
    lines.join("\n") + "\n"
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read fixture directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// A git repository in the add-on repository format, served from a temporary folder: what a
/// user adds by URL, without a network.
pub struct GitRepository {
    dir: tempfile::TempDir,
}

impl GitRepository {
    /// A repository named `name` with a copy of the `stdin_reader` fixture add-on.
    pub fn new(name: &str) -> GitRepository {
        let dir = tempfile::tempdir().expect("temporary git repository");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("work tree");
        std::fs::write(work.join("repository.yaml"), format!("name: {name}\nmaintainer: e2e\n"))
            .expect("repository.yaml");
        std::fs::create_dir_all(work.join("stdin_reader")).expect("add-on folder");
        copy_tree(&store_fixtures().join("stdin_reader"), &work.join("stdin_reader"));
        git(&work, &["init", "-q"]);
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "fixture"]);
        GitRepository { dir }
    }

    /// The work tree the repository is served from; change files here, then [`Self::commit`].
    pub fn work_tree(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Writes `contents` to `path` (relative to the work tree, folders created) without
    /// committing it.
    pub fn write(&self, path: &str, contents: &str) {
        let target = self.work_tree().join(path);
        std::fs::create_dir_all(target.parent().expect("a parent folder")).expect("create folders");
        std::fs::write(target, contents).expect("write a repository file");
    }

    /// Sets the top-level `key` of an add-on's `config.yaml` (as `FixtureRepository::set_config`)
    /// without committing it.
    pub fn set_config(&self, slug: &str, key: &str, value: &str) {
        let path = self.work_tree().join(slug).join("config.yaml");
        let text = std::fs::read_to_string(&path).expect("config.yaml");
        std::fs::write(&path, with_key(&text, key, value)).expect("write config.yaml");
    }

    /// Commits every change of the work tree: what a reload then pulls.
    pub fn commit(&self, message: &str) {
        git(&self.work_tree(), &["add", "-A"]);
        git(&self.work_tree(), &["commit", "-q", "-m", message]);
    }

    /// The URL to add it by.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().join("work").display())
    }
}

/// Runs git in `work` with a fixed identity, failing the test when it fails.
fn git(work: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=e2e", "-c", "user.email=e2e@localhost", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(work)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?} failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_replaced_or_added() {
        let text = "name: X\nversion: 1.0.0\nschema:\n  version: str\n";
        assert_eq!(with_key(text, "version", "1.0.1"), "name: X\nversion: 1.0.1\nschema:\n  version: str\n");
        assert_eq!(with_key("name: X\n", "image", "a/b"), "name: X\nimage: a/b\n");
        let block = "arch:\n  - amd64\n  - aarch64\nstartup: once\n";
        assert_eq!(with_key(block, "arch", "[armv7]"), "arch: [armv7]\nstartup: once\n");
    }

    #[test]
    fn copies_carry_every_add_on() {
        let repository = FixtureRepository::copy();
        for slug in ["build_local", "prebuilt", "schema_all", "ingress", "api_client", "crasher", "stdin_reader"] {
            assert!(repository.addon(slug).join("config.yaml").is_file(), "{slug}");
            assert_eq!(repository.config_value(slug, "slug").as_deref(), Some(slug));
        }
        repository.set_config("prebuilt", "version", "2.0.0");
        assert_eq!(repository.config_value("prebuilt", "version").as_deref(), Some("2.0.0"));
        assert!(store_fixtures().join("repository.yaml").is_file());
    }
}
