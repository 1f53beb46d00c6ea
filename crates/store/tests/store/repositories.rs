//! Git repositories end to end against bare repositories on local disk: add, reload pulling a
//! new commit, branches, persistence, refusal rules, repair.

use crate::common::{addon, write, FakeInstalled, Fixture, Remote};
use store::{repository_hash, RepositoryKind};

#[tokio::test]
async fn add_reload_and_remove_a_git_repository() {
    let fixture = Fixture::new("qemux86-64");
    let remote = Remote::with_addon(fixture.dir.path(), "remote");
    let url = remote.url();
    let hash = repository_hash(&url);

    fixture.manager.add_repository(&url).await.unwrap();
    let repository = fixture.manager.repositories().into_iter().find(|r| r.slug == hash).unwrap();
    assert_eq!(repository.kind, RepositoryKind::Git);
    assert_eq!((repository.name.as_str(), repository.maintainer.as_str()), ("Test repository", "Tester"));
    assert_eq!(repository.url, url, "no url in repository.yaml: the source");
    assert_eq!(repository.path, fixture.data().join("addons/git").join(&hash));
    let hello = fixture.manager.addon(&format!("{hash}_hello")).unwrap();
    assert_eq!(hello.config.version, "1.0.0");
    assert!(fixture.jobs.jobs().iter().any(|j| j.name == "store_manager_add_repository" && j.done == Some(true)));

    let again = fixture.manager.add_repository(&url).await.unwrap_err();
    assert_eq!(again.kind, base::Kind::Invalid);
    assert_eq!(again.message, format!("Can't add {url}, already in the store"));

    // A new commit upstream: a new version and a new add-on after a reload.
    addon(&remote.work, "hello", "hello", "2.0.0");
    addon(&remote.work, "world", "world", "1.0.0");
    remote.commit("second");
    assert_eq!(fixture.manager.reload(false).await.unwrap(), jobs::Outcome::Done, "waited for");
    assert_eq!(fixture.manager.addon(&format!("{hash}_hello")).unwrap().config.version, "2.0.0");
    assert!(fixture.manager.addon(&format!("{hash}_world")).is_some());
    assert!(fixture.jobs.jobs().iter().any(|j| j.name == "store_manager_reload"));

    // Refused while an add-on from it is installed.
    fixture.manager.set_installed(FakeInstalled::with(&format!("{hash}_hello"), "1.0.0"));
    let refused = fixture.manager.remove_repository(&hash).await.unwrap_err();
    assert_eq!(refused.kind, base::Kind::Invalid);
    assert_eq!(refused.message, format!("Can't remove '{url}'. It's used by installed add-ons"));
    assert!(fixture.manager.addon(&format!("{hash}_hello")).is_some());

    fixture.manager.set_installed(FakeInstalled::with("local_other", "1"));
    fixture.manager.remove_repository(&hash).await.unwrap();
    assert!(fixture.manager.repositories().iter().all(|r| r.slug != hash));
    assert!(fixture.manager.addons().is_empty());
    assert!(!fixture.data().join("addons/git").join(&hash).exists(), "the clone is deleted");
    let restarted = fixture.restarted();
    restarted.load().await;
    assert!(restarted.repositories().iter().all(|r| r.slug != hash), "the removal was persisted");
}

#[tokio::test]
async fn added_repositories_survive_a_restart_without_network() {
    let fixture = Fixture::new("qemux86-64");
    let remote = Remote::with_addon(fixture.dir.path(), "remote");
    fixture.manager.add_repository(&remote.url()).await.unwrap();
    // The remote disappears: the start-up read uses the checkout only.
    std::fs::remove_dir_all(&remote.bare).unwrap();
    let restarted = fixture.restarted();
    restarted.load().await;
    let hash = repository_hash(&remote.url());
    assert!(restarted.addon(&format!("{hash}_hello")).is_some());
    let sources: Vec<_> = restarted.repositories().into_iter().map(|r| r.source).collect();
    assert_eq!(sources, ["core".to_owned(), "local".to_owned(), remote.url()]);

    // A reload that cannot reach the remote keeps the checkout and says why.
    restarted.reload(false).await.unwrap();
    assert!(restarted.addon(&format!("{hash}_hello")).is_some());
    let repository = restarted.repositories().into_iter().find(|r| r.slug == hash).unwrap();
    assert!(repository.errors[0].contains("git fetch failed"), "{:?}", repository.errors);
}

#[tokio::test]
async fn a_branch_is_cloned_and_pulled() {
    let fixture = Fixture::new("qemux86-64");
    let remote = Remote::with_addon(fixture.dir.path(), "remote");
    crate::common::git(&remote.work, &["checkout", "-q", "-b", "next"]);
    addon(&remote.work, "hello", "hello", "3.0.0-beta");
    remote.commit("beta");
    let source = format!("{}#next", remote.url());
    fixture.manager.add_repository(&source).await.unwrap();
    let hash = repository_hash(&source);
    assert_ne!(hash, repository_hash(&remote.url()), "the branch is part of the identity");
    assert_eq!(fixture.manager.addon(&format!("{hash}_hello")).unwrap().config.version, "3.0.0-beta");

    addon(&remote.work, "hello", "hello", "3.0.0");
    remote.commit("release");
    fixture.manager.reload(false).await.unwrap();
    assert_eq!(fixture.manager.addon(&format!("{hash}_hello")).unwrap().config.version, "3.0.0");
}

#[tokio::test]
async fn a_repository_without_repository_yaml_is_refused_and_its_clone_removed() {
    let fixture = Fixture::new("qemux86-64");
    let remote = Remote::new(fixture.dir.path(), "plain");
    addon(&remote.work, "hello", "hello", "1");
    remote.commit("no repository.yaml");
    let url = remote.url();
    let err = fixture.manager.add_repository(&url).await.unwrap_err();
    assert_eq!(err.kind, base::Kind::Invalid);
    assert_eq!(err.message, format!("{url} is not a valid add-on repository"));
    assert!(err.job_id.is_some(), "it failed inside its job");
    assert!(!fixture.data().join("addons/git").join(repository_hash(&url)).exists());
    assert_eq!(fixture.manager.repositories().len(), 2);
}

#[tokio::test]
async fn a_broken_repository_yaml_is_reported_and_the_rest_keeps_working() {
    let fixture = Fixture::new("qemux86-64");
    let remote = Remote::with_addon(fixture.dir.path(), "remote");
    fixture.manager.add_repository(&remote.url()).await.unwrap();
    addon(&fixture.core(), "core_one", "one", "1");
    write(&remote.work.join("repository.yaml"), "maintainer: [broken\n");
    remote.commit("break it");
    fixture.manager.reload(false).await.unwrap();
    let hash = repository_hash(&remote.url());
    let repository = fixture.manager.repositories().into_iter().find(|r| r.slug == hash).unwrap();
    assert!(repository.errors.iter().any(|e| e.contains("repository.yaml")), "{:?}", repository.errors);
    assert!(fixture.manager.addon(&format!("{hash}_hello")).is_none(), "a broken repository offers nothing");
    assert!(fixture.manager.addon("core_one").is_some());
}

#[tokio::test]
async fn bad_sources_unreachable_remotes_and_builtins() {
    let fixture = Fixture::new("qemux86-64");
    let bad = fixture.manager.add_repository("ftp://example.com/x").await.unwrap_err();
    assert_eq!((bad.kind, bad.message.as_str()), (base::Kind::Invalid, "No valid repository format!"));
    assert!(bad.job_id.is_none(), "refused before any job");

    let missing = format!("file://{}/nothing.git", fixture.dir.path().display());
    let err = fixture.manager.add_repository(&missing).await.unwrap_err();
    assert_eq!(err.kind, base::Kind::Invalid);
    assert!(err.message.starts_with(&format!("Can't clone {missing}: git clone failed")), "{}", err.message);
    assert!(!fixture.data().join("addons/git").join(repository_hash(&missing)).exists());

    for builtin in ["core", "local"] {
        let err = fixture.manager.remove_repository(builtin).await.unwrap_err();
        assert_eq!((err.kind, err.message.as_str()), (base::Kind::Invalid, "Can't remove built-in repositories!"));
    }
    let unknown = fixture.manager.remove_repository("0123abcd").await.unwrap_err();
    assert_eq!(
        (unknown.kind, unknown.message.as_str()),
        (base::Kind::NotFound, "Repository 0123abcd does not exist in the store")
    );
    // The built-ins are always there.
    let again = fixture.manager.add_repository("local").await.unwrap_err();
    assert_eq!((again.kind, again.message.as_str()), (base::Kind::Invalid, "Can't add local, already in the store"));
    assert_eq!(again.error_key.as_deref(), Some("store_repository_already_added_error"));
    assert_eq!(fixture.manager.repositories().len(), 2);
}
