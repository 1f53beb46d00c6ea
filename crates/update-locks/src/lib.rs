//! Update locks with the balena Supervisor's semantics. Each service of an application has a
//! lock folder on the host, `<root>/<app>/<service>/`, bound into its containers as
//! `/tmp/balena` and `/tmp/resin` (made with the containers: [`Locks::service_dir`]). The
//! balena applications are keyed by their numeric id (`<data>/balena/locks/<app id>/<service>`);
//! Home Assistant add-ons by their slug, each add-on its own one service
//! (`<data>/addons/locks/<slug>/<slug>`). A service holds the lock of its application while
//! `updates.lock` or the legacy `resin-updates.lock` exists there; an update, restart, purge,
//! reboot or shutdown then fails with [`LockError::Locked`] unless forced.
//!
//! While it acts, the supervisor takes the locks itself: it creates both files in every service
//! folder of the application (exclusively, so a service that takes its lock at the same moment
//! makes the supervisor fail rather than both go ahead), owned by `nobody` so that they are told
//! apart from a service's after a crash, and removes them when done ([`Held`]). `force` removes
//! a service's lockfiles first. One operation at a time per application.
//!
//! The folders can be written by containers: a name there is never followed if it is a link
//! (created with `O_EXCL | O_NOFOLLOW`, removed with `unlink`).

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// The lockfiles a service holds its lock with.
pub const LOCKFILES: [&str; 2] = ["updates.lock", "resin-updates.lock"];

/// Where a service's containers see its lock folder.
pub const MOUNT_POINTS: [&str; 2] = ["/tmp/balena", "/tmp/resin"];

/// The owner of the lockfiles the supervisor takes (`nobody`), as the balena Supervisor's.
const SUPERVISOR_UID: u32 = 65534;

/// How long an operation waits for another operation of the supervisor on the same application.
const PROCESS_WAIT: Duration = Duration::from_secs(10);

/// Why the locks could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockError {
    /// A service holds its lock, or another operation of the supervisor holds the application's.
    Locked(String),
    /// The lock folders could not be read or written.
    Failed(String),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Locked(message) | LockError::Failed(message) => f.write_str(message),
        }
    }
}

impl From<io::Error> for LockError {
    fn from(error: io::Error) -> Self {
        LockError::Failed(format!("Could not take the update locks: {error}"))
    }
}

/// What names an application: its folder's name, read back with `FromStr`.
pub trait AppKey: Clone + Ord + Hash + Display + std::str::FromStr + Send + Sync + 'static {}

impl<K: Clone + Ord + Hash + Display + std::str::FromStr + Send + Sync + 'static> AppKey for K {}

/// The update locks of every application's services.
pub struct Locks<K: AppKey = u32> {
    root: PathBuf,
    /// One operation at a time per application.
    apps: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

/// Locks the supervisor holds; they are removed when it is dropped.
#[must_use = "the locks are released when this is dropped"]
pub struct Held {
    files: Vec<PathBuf>,
    _apps: Vec<OwnedMutexGuard<()>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        for file in &self.files {
            if let Err(error) = std::fs::remove_file(file) {
                if error.kind() != io::ErrorKind::NotFound {
                    tracing::warn!("could not release the update lock {}: {error}", file.display());
                }
            }
        }
    }
}

impl<K: AppKey> Locks<K> {
    /// The locks under `root` (`DataDir::balena_locks`, `DataDir::addon_locks`).
    pub fn new(root: PathBuf) -> Locks<K> {
        Locks { root, apps: Mutex::new(HashMap::new()) }
    }

    /// The folder of application `app_id`; a name that would leave the root is refused.
    fn app_dir(&self, app_id: &K) -> io::Result<PathBuf> {
        base::paths::beneath(&self.root, &app_id.to_string()).map_err(io::Error::other)
    }

    /// The lock folder of `service` of application `app_id`, made when missing: what is bound
    /// into the service's containers at [`MOUNT_POINTS`].
    pub fn service_dir(&self, app_id: &K, service: &str) -> io::Result<PathBuf> {
        let app = self.app_dir(app_id)?;
        let dir = base::paths::beneath(&app, service).map_err(io::Error::other)?;
        base::fs::ensure_real_dir(&dir)?;
        Ok(dir)
    }

    /// The applications that have lock folders.
    pub fn apps(&self) -> io::Result<Vec<K>> {
        let mut apps: Vec<K> = real_dirs(&self.root)?.iter().filter_map(|name| name.parse().ok()).collect();
        apps.sort();
        Ok(apps)
    }

    /// The services of application `app_id` that hold its lock now (a lockfile of theirs, not
    /// one the supervisor took).
    pub fn held(&self, app_id: &K) -> io::Result<Vec<String>> {
        let app = self.app_dir(app_id)?;
        let mut holders = Vec::new();
        for service in real_dirs(&app)? {
            let dir = app.join(&service);
            let mut held = false;
            for name in LOCKFILES {
                held |= lockfile(&dir.join(name))? == Lockfile::Service;
            }
            if held {
                holders.push(service);
            }
        }
        holders.sort();
        Ok(holders)
    }

    /// Every application and service that holds a lock now.
    pub fn held_by_any(&self) -> io::Result<Vec<(K, String)>> {
        let mut holders = Vec::new();
        for app_id in self.apps()? {
            holders.extend(self.held(&app_id)?.into_iter().map(|service| (app_id.clone(), service)));
        }
        Ok(holders)
    }

    /// Takes the locks of every application with lock folders; see [`Locks::lock`].
    pub async fn lock_all(&self, force: bool) -> Result<Held, LockError> {
        self.lock(&self.apps()?, force).await
    }

    /// Takes the locks of the applications `app_ids` for the supervisor: fails with
    /// [`LockError::Locked`] while a service of one holds its lock, unless `force`, which removes
    /// the services' lockfiles. Lockfiles the supervisor left behind (a crash while it held them)
    /// are taken over.
    pub async fn lock(&self, app_ids: &[K], force: bool) -> Result<Held, LockError> {
        let mut app_ids = app_ids.to_vec();
        // Always in the same order, so two operations on overlapping applications cannot wait
        // for each other.
        app_ids.sort();
        app_ids.dedup();
        let mut held = Held { files: Vec::new(), _apps: Vec::new() };
        for app_id in app_ids {
            let mutex = Arc::clone(self.apps.lock().expect("locks lock").entry(app_id.clone()).or_default());
            let guard = tokio::time::timeout(PROCESS_WAIT, mutex.lock_owned()).await.map_err(|_| {
                LockError::Locked(format!("Locks for app {app_id} are being held by another supervisor operation"))
            })?;
            held._apps.push(guard);
            let app = self.app_dir(&app_id)?;
            for service in real_dirs(&app)? {
                let dir = app.join(&service);
                for name in LOCKFILES {
                    let file = dir.join(name);
                    match lockfile(&file)? {
                        Lockfile::Supervisor => {}
                        Lockfile::Service if force => {
                            tracing::info!(%app_id, service, "update lock of the service overridden");
                            remove(&file)?;
                            create(&file, &app_id, &service)?;
                        }
                        Lockfile::Service => return Err(locked(&app_id, &service)),
                        Lockfile::Absent => create(&file, &app_id, &service)?,
                    }
                    held.files.push(file);
                }
            }
        }
        Ok(held)
    }
}

fn locked(app_id: &impl Display, service: &str) -> LockError {
    LockError::Locked(format!("Lockfile exists for {{ appId: {app_id}, service: {service} }}"))
}

/// Creates a lockfile for the supervisor; one that appears meanwhile is the service's lock.
fn create(file: &Path, app_id: &impl Display, service: &str) -> Result<(), LockError> {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o644)
        .open(file);
    match created {
        Ok(created) => {
            // Only root can give a file away; a supervisor that is not root tells its lockfiles
            // apart by holding the application's lock while they exist.
            if let Err(error) = std::os::unix::fs::fchown(&created, Some(SUPERVISOR_UID), Some(SUPERVISOR_UID)) {
                tracing::debug!("update lockfile kept with the supervisor's owner: {error}");
            }
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Err(locked(app_id, service)),
        Err(error) => Err(error.into()),
    }
}

fn remove(file: &Path) -> io::Result<()> {
    match std::fs::remove_file(file) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Who holds a lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lockfile {
    Absent,
    Supervisor,
    /// The service (a link planted there too: it was not the supervisor's doing).
    Service,
}

fn lockfile(file: &Path) -> io::Result<Lockfile> {
    match std::fs::symlink_metadata(file) {
        Ok(meta) if meta.is_file() && meta.uid() == SUPERVISOR_UID => Ok(Lockfile::Supervisor),
        Ok(_) => Ok(Lockfile::Service),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Lockfile::Absent),
        Err(error) => Err(error),
    }
}

/// The names of the real folders (not links) in `dir`; none when it does not exist.
fn real_dirs(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locks() -> (tempfile::TempDir, Locks<u32>) {
        let dir = tempfile::tempdir().unwrap();
        let locks = Locks::new(dir.path().join("locks"));
        (dir, locks)
    }

    #[tokio::test]
    async fn a_service_lockfile_holds_its_application_until_forced() {
        let (_dir, locks) = locks();
        let main = locks.service_dir(&1, "main").unwrap();
        let other = locks.service_dir(&2, "web").unwrap();
        assert_eq!(locks.held_by_any().unwrap(), []);
        std::fs::write(main.join("updates.lock"), "").unwrap();
        assert_eq!(locks.held(&1).unwrap(), ["main"]);
        assert_eq!(locks.held(&2).unwrap(), Vec::<String>::new());
        assert_eq!(locks.held_by_any().unwrap(), [(1, "main".to_owned())]);

        let refused = locks.lock(&[1], false).await.err().unwrap();
        assert_eq!(refused, LockError::Locked("Lockfile exists for { appId: 1, service: main }".into()));
        assert!(main.join("updates.lock").exists(), "the service's lock is left alone");
        assert!(!main.join("resin-updates.lock").exists(), "nothing of the refused attempt is left");
        assert!(!other.join("updates.lock").exists());

        // Another application is not held by it.
        let held = locks.lock(&[2], false).await.unwrap();
        assert!(LOCKFILES.iter().all(|name| other.join(name).exists()), "the supervisor holds app 2");
        drop(held);
        assert!(LOCKFILES.iter().all(|name| !other.join(name).exists()), "and lets go");

        let held = locks.lock_all(true).await.unwrap();
        assert!(LOCKFILES.iter().all(|name| main.join(name).exists()), "the supervisor holds it now");
        drop(held);
        assert_eq!(locks.held_by_any().unwrap(), []);
        assert!(!main.join("updates.lock").exists());
    }

    #[tokio::test]
    async fn the_legacy_lockfile_and_a_planted_link_hold_the_lock_too() {
        let (dir, locks) = locks();
        let main = locks.service_dir(&1, "main").unwrap();
        std::fs::write(main.join("resin-updates.lock"), "").unwrap();
        assert_eq!(locks.held(&1).unwrap(), ["main"]);
        std::fs::remove_file(main.join("resin-updates.lock")).unwrap();
        let target = dir.path().join("target");
        std::os::unix::fs::symlink(&target, main.join("updates.lock")).unwrap();
        assert_eq!(locks.held(&1).unwrap(), ["main"]);
        assert!(locks.lock(&[1], false).await.is_err());
        drop(locks.lock(&[1], true).await.unwrap());
        assert!(!target.exists(), "nothing was written through the link");
    }

    #[tokio::test]
    async fn one_operation_at_a_time_per_application() {
        let (_dir, locks) = locks();
        locks.service_dir(&1, "main").unwrap();
        let first = locks.lock(&[1], false).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(200), locks.lock(&[1], false)).await;
        assert!(second.is_err(), "the second waits for the first");
        drop(first);
        drop(locks.lock(&[1], false).await.unwrap());
    }

    #[tokio::test]
    async fn applications_named_by_slug_hold_their_lock_and_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let locks: Locks<String> = Locks::new(dir.path().join("locks"));
        let slug = "local_example".to_owned();
        let folder = locks.service_dir(&slug, &slug).unwrap();
        assert_eq!(folder, dir.path().join("locks/local_example/local_example"));
        std::fs::write(folder.join("updates.lock"), "").unwrap();
        assert_eq!(locks.held_by_any().unwrap(), [(slug.clone(), slug.clone())]);
        assert!(locks.lock(std::slice::from_ref(&slug), false).await.is_err());
        drop(locks.lock(std::slice::from_ref(&slug), true).await.unwrap());
        assert_eq!(locks.held_by_any().unwrap(), []);
        assert!(locks.service_dir(&"..".to_owned(), "x").is_err());
        assert!(locks.held(&"../x".to_owned()).is_err());
    }

    #[test]
    fn service_names_stay_inside_the_lock_folder() {
        let (_dir, locks) = locks();
        assert!(locks.service_dir(&1, "../2").is_err());
        assert!(locks.service_dir(&1, "..").is_err());
    }
}
