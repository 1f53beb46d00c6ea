//! Test helpers: a store on a temporary data directory, add-on folders, and git remotes made
//! with the real `git` in a temporary directory (served as `file://` URLs, no network).

use base::{CoreState, DataDir, System};
use jobs::JobManager;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use store::{Installed, StoreManager};
use tempfile::TempDir;

pub struct Fixture {
    pub dir: TempDir,
    pub store: state::Store,
    pub jobs: JobManager,
    pub manager: StoreManager,
    core: PathBuf,
}

impl Fixture {
    /// A store whose `core` repository is `<tmp>/core` (created empty) on machine `machine`.
    pub fn new(machine: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let core = dir.path().join("core");
        Fixture::with_core(dir, core, machine)
    }

    /// A store whose `core` repository is the folder `core`.
    pub fn with_core(dir: TempDir, core: PathBuf, machine: &str) -> Fixture {
        let store = state::Store::open(&dir.path().join("db")).unwrap();
        let system = Arc::new(System::default());
        system.set_state(CoreState::Running);
        let data = DataDir::new(dir.path().join("data"));
        data.ensure_layout().unwrap();
        std::fs::create_dir_all(&core).unwrap();
        let jobs = JobManager::new(&store, system, data.clone()).unwrap();
        let manager = StoreManager::new(&store, data, jobs.clone(), core.clone(), machine.into()).unwrap();
        Fixture { dir, store, jobs, manager, core }
    }

    pub fn core(&self) -> PathBuf {
        self.core.clone()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Another manager on the same database and data directory, as after a restart.
    pub fn restarted(&self) -> StoreManager {
        let data = DataDir::new(self.data());
        StoreManager::new(&self.store, data, self.jobs.clone(), self.core(), "qemux86-64".into()).unwrap()
    }
}

/// Writes `<root>/<folder>/config.yaml` for a minimal valid add-on.
pub fn addon(root: &Path, folder: &str, slug: &str, version: &str) {
    let arch = base::arch::arch();
    write(
        &root.join(folder).join("config.yaml"),
        &format!("name: Add-on {slug}\nversion: \"{version}\"\nslug: {slug}\ndescription: The {slug} add-on\narch: [{arch}]\n"),
    );
}

pub fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// Runs git in `dir` with a fixed identity; panics with git's output on failure.
pub fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A bare repository `<tmp>/<name>.git` and a working copy that pushes to it.
pub struct Remote {
    pub bare: PathBuf,
    pub work: PathBuf,
}

impl Remote {
    pub fn new(tmp: &Path, name: &str) -> Remote {
        let bare = tmp.join(format!("{name}.git"));
        let work = tmp.join(format!("{name}-work"));
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        git(&bare, &["init", "--bare", "--initial-branch=main"]);
        git(&work, &["init", "--initial-branch=main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Remote { bare, work }
    }

    /// A remote holding a valid repository with the add-on `hello` at version `1.0.0`.
    pub fn with_addon(tmp: &Path, name: &str) -> Remote {
        let remote = Remote::new(tmp, name);
        write(&remote.work.join("repository.yaml"), "name: Test repository\nmaintainer: Tester\n");
        addon(&remote.work, "hello", "hello", "1.0.0");
        remote.commit("first");
        remote
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Commits everything in the working copy and pushes the current branch.
    pub fn commit(&self, message: &str) {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["push", "-q", "origin", "HEAD"]);
    }
}

/// The add-ons the test says are installed.
#[derive(Default)]
pub struct FakeInstalled(pub Mutex<Vec<(String, String)>>);

impl FakeInstalled {
    pub fn with(slug: &str, version: &str) -> Arc<FakeInstalled> {
        Arc::new(FakeInstalled(Mutex::new(vec![(slug.to_owned(), version.to_owned())])))
    }
}

impl Installed for FakeInstalled {
    fn version(&self, slug: &str) -> Option<String> {
        self.0.lock().unwrap().iter().find(|(s, _)| s == slug).map(|(_, v)| v.clone())
    }

    fn slugs(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(s, _)| s.clone()).collect()
    }
}
