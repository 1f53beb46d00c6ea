//! The real Supervisor's built-in repositories: `core` cloned from the official repository and
//! the community, ESPHome and Music Assistant ones, cloned on the first start. GitHub is played
//! by local bare repositories that git reaches through `url.<base>.insteadOf` (set in this test
//! binary's environment, which no other test shares): first missing (a machine offline), then
//! there.

#[path = "store/common.rs"]
#[allow(dead_code)]
mod common;

use base::system::IssueChange;
use base::{CoreState, DataDir, System};
use common::{addon, Remote};
use jobs::JobManager;
use std::sync::Arc;
use store::StoreManager;

const BUILTIN_SLUGS: [&str; 5] = ["core", "local", "a0d7b954", "5c53de3b", "d5369777"];

fn raised(changes: &[IssueChange]) -> Vec<(String, Vec<&'static str>)> {
    changes
        .iter()
        .filter_map(|change| match change {
            IssueChange::Raised(issue) if issue.kind == "fatal_error" && issue.context == "store" => {
                Some((issue.reference.clone().unwrap_or_default(), issue.suggestions.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_builtins_are_cloned_on_first_start_and_offline_the_store_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let github = tmp.path().join("github");
    std::env::set_var("GIT_CONFIG_COUNT", "1");
    std::env::set_var("GIT_CONFIG_KEY_0", format!("url.file://{}/.insteadOf", github.display()));
    std::env::set_var("GIT_CONFIG_VALUE_0", "https://github.com/");

    let store = state::Store::open(&tmp.path().join("db")).unwrap();
    let system = Arc::new(System::default());
    system.set_state(CoreState::Running);
    let data = DataDir::new(tmp.path().join("data"));
    data.ensure_layout().unwrap();
    addon(&data.addons_local(), "mine", "mine", "1");
    let jobs = JobManager::new(&store, Arc::clone(&system), data.clone()).unwrap();
    let manager = StoreManager::official(&store, data.clone(), jobs, "qemux86-64".into()).unwrap();
    manager.load().await;
    let slugs = |m: &StoreManager| m.repositories().into_iter().map(|r| r.slug).collect::<Vec<_>>();
    assert_eq!(slugs(&manager), BUILTIN_SLUGS);

    // Offline: every clone fails; each repository says why, the store works with the rest.
    manager.update_repositories().await.unwrap();
    assert_eq!(slugs(&manager), BUILTIN_SLUGS, "still listed");
    for repository in manager.repositories().into_iter().filter(|r| !["local"].contains(&r.slug.as_str())) {
        assert!(repository.errors.iter().any(|e| e.starts_with("can't clone https://github.com/")), "{repository:?}");
    }
    let mut issues = raised(&system.raised_issues().await);
    issues.sort();
    let expected: Vec<(String, Vec<&str>)> =
        ["5c53de3b", "a0d7b954", "core", "d5369777"].iter().map(|s| (s.to_string(), vec!["execute_reload"])).collect();
    assert_eq!(issues, expected, "a fatal_error each, that a reload fixes");
    let addons: Vec<String> = manager.addons().into_iter().map(|a| a.slug).collect();
    assert_eq!(addons, ["local_mine"]);
    let refused = manager.remove_repository("a0d7b954").await.unwrap_err();
    assert_eq!(refused.message, "Can't remove built-in repositories!");
    let again = manager.add_repository("https://github.com/hassio-addons/repository").await.unwrap_err();
    assert_eq!(again.error_key.as_deref(), Some("store_repository_already_added_error"), "a built-in already");

    // Online: the next update clones them, the add-ons appear and the issues go.
    let official = Remote::new(&github.join("home-assistant"), "addons");
    addon(&official.work, "whisper", "whisper", "2.0.0");
    official.commit("official");
    for (owner, name) in [
        ("hassio-addons", "repository"),
        ("esphome", "home-assistant-addon"),
        ("music-assistant", "home-assistant-addon"),
    ] {
        Remote::with_addon(&github.join(owner), name);
    }
    manager.update_repositories().await.unwrap();
    let addons: Vec<String> = manager.addons().into_iter().map(|a| a.slug).collect();
    assert_eq!(addons, ["5c53de3b_hello", "a0d7b954_hello", "core_whisper", "d5369777_hello", "local_mine"]);
    assert!(manager.repositories().iter().all(|r| r.errors.is_empty()), "{:?}", manager.repositories());
    assert!(data.addons_core().join(".git").is_dir(), "core is a clone in <data>/addons/core");
    let core = manager.repositories().into_iter().find(|r| r.slug == "core").unwrap();
    assert_eq!((core.name.as_str(), core.maintainer.as_str()), ("Official apps", "Home Assistant"));
    let withdrawn = system
        .raised_issues()
        .await
        .into_iter()
        .filter(|c| matches!(c, IssueChange::Withdrawn(issue) if issue.kind == "fatal_error"))
        .count();
    assert!(withdrawn >= 4, "the issues of the four clones are withdrawn");

    // A reload pulls them.
    addon(&official.work, "piper", "piper", "1.0.0");
    official.commit("piper");
    manager.reload(false).await.unwrap();
    assert!(manager.addon("core_piper").is_some());
}
