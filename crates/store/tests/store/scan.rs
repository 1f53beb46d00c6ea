//! Reading a generated repository tree: good add-ons are found wherever they are, broken ones
//! are skipped with a message naming them, hidden and `rootfs` folders are never read.

use crate::common::{addon, write, Fixture};
use std::os::unix::fs::symlink;

fn errors_of(fixture: &Fixture, slug: &str) -> Vec<String> {
    fixture.manager.repositories().into_iter().find(|r| r.slug == slug).unwrap().errors
}

fn slugs(fixture: &Fixture) -> Vec<String> {
    fixture.manager.addons().into_iter().map(|a| a.slug).collect()
}

#[tokio::test]
async fn good_addons_are_read_and_broken_ones_skipped_with_a_message() {
    let fixture = Fixture::new("qemux86-64");
    let core = fixture.core();
    addon(&core, "good", "good", "1.0.0");
    write(&core.join("good/translations/en.yaml"), "configuration:\n  name:\n    name: Name\n");
    // Found at any depth, in any of the three formats.
    let arch = base::arch::arch();
    write(
        &core.join("group/deep/json/config.json"),
        &format!(r#"{{"name": "J", "version": "2", "slug": "json", "description": "d", "arch": ["{arch}"]}}"#),
    );
    addon(&core, "yml_dir", "yml", "3");
    std::fs::rename(core.join("yml_dir/config.yaml"), core.join("yml_dir/config.yml")).unwrap();
    // Broken in every way the issue names.
    write(&core.join("bad_yaml/config.yaml"), "name: [unclosed\nversion: 1\n");
    write(&core.join("missing_fields/config.yaml"), "name: Missing\nslug: missing\n");
    addon(&core, "unknown_key", "unknown", "1");
    let unknown = core.join("unknown_key/config.yaml");
    write(&unknown, &(std::fs::read_to_string(&unknown).unwrap() + "frobnicate: true\n"));
    addon(&core, "bad_schema", "badschema", "1");
    let schema = core.join("bad_schema/config.yaml");
    write(&schema, &(std::fs::read_to_string(&schema).unwrap() + "schema:\n  level: \"nonsense(\"\n"));
    // A second folder with a slug already taken.
    addon(&core, "zz_duplicate", "good", "9.9.9");
    // Never read: hidden folders, rootfs trees, folders linked from elsewhere.
    write(&core.join(".hidden/secret/config.yaml"), "this: [is not read");
    write(&core.join("good/rootfs/etc/config.yaml"), "this: [is not read");
    let outside = tempfile::tempdir().unwrap();
    addon(outside.path(), "linked", "linked", "1");
    symlink(outside.path().join("linked"), core.join("linked")).unwrap();
    // A configuration that links out of the repository disqualifies its folder.
    std::fs::create_dir_all(core.join("escape")).unwrap();
    symlink(outside.path().join("linked/config.yaml"), core.join("escape/config.yaml")).unwrap();
    // Translations that link out are not read; the add-on still is.
    addon(&core, "leaky", "leaky", "1");
    write(&outside.path().join("translations/en.yaml"), "configuration: {}\n");
    symlink(outside.path().join("translations"), core.join("leaky/translations")).unwrap();

    fixture.manager.load().await;

    // An unknown key is dropped, as the real Supervisor drops it: the add-on loads.
    assert_eq!(slugs(&fixture), ["core_good", "core_json", "core_leaky", "core_unknown", "core_yml"]);
    assert!(fixture.manager.addon("core_leaky").unwrap().translations.is_empty());
    let good = fixture.manager.addon("core_good").unwrap();
    assert_eq!(good.repository, "core");
    assert_eq!(good.path, core.join("good"));
    assert_eq!(good.config.version, "1.0.0", "the first folder keeps the slug");
    assert!(good.translations.contains_key("en"));
    assert_eq!(fixture.manager.addon("core_json").unwrap().config.version, "2");

    let errors = errors_of(&fixture, "core");
    let joined = errors.join("\n");
    for folder in ["bad_yaml", "missing_fields", "unknown_key", "bad_schema", "zz_duplicate", "escape", "leaky"] {
        assert!(errors.iter().any(|e| e.contains(&format!("'{folder}'"))), "no error for {folder}: {joined}");
    }
    assert_eq!(errors.len(), 7, "{joined}");
    assert!(
        errors.contains(&"add-on folder 'unknown_key': config.yaml: unknown key 'frobnicate' ignored".to_owned()),
        "the unknown key is named: {joined}"
    );
    assert!(!joined.contains("hidden") && !joined.contains("rootfs") && !joined.contains("linked"), "{joined}");
}

#[tokio::test]
async fn a_single_addon_at_the_root_and_a_missing_core_folder() {
    let fixture = Fixture::new("qemux86-64");
    addon(&fixture.core(), "", "solo", "1");
    fixture.manager.load().await;
    assert_eq!(slugs(&fixture), ["core_solo"]);

    std::fs::remove_dir_all(fixture.core()).unwrap();
    fixture.manager.load().await;
    assert!(slugs(&fixture).is_empty());
    assert!(errors_of(&fixture, "core")[0].contains("does not exist"));
    assert!(errors_of(&fixture, "local").is_empty(), "an empty local folder is normal");
}

#[tokio::test]
async fn the_shipped_core_repository_reads_cleanly() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../store-fixtures");
    let fixture = Fixture::with_core(tempfile::tempdir().unwrap(), fixtures, "qemux86-64");
    fixture.manager.load().await;
    assert_eq!(errors_of(&fixture, "core"), Vec::<String>::new());
    assert!(slugs(&fixture).iter().all(|s| s.starts_with("core_")));
    assert!(!slugs(&fixture).is_empty());
}

#[tokio::test]
async fn local_addons_get_the_local_prefix() {
    let fixture = Fixture::new("qemux86-64");
    addon(&fixture.data().join("addons/local"), "mine", "mine", "0.1");
    fixture.manager.load().await;
    let mine = fixture.manager.addon("local_mine").unwrap();
    assert_eq!(mine.repository, "local");
    let repositories = fixture.manager.repositories();
    let names: Vec<_> = repositories.iter().map(|r| (r.slug.as_str(), r.source.as_str())).collect();
    assert_eq!(names, [("core", "core"), ("local", "local")]);
}

#[tokio::test]
async fn five_hundred_addons_are_all_read() {
    let fixture = Fixture::new("qemux86-64");
    for i in 0..500 {
        let slug = format!("addon_{i:03}");
        addon(&fixture.core(), &slug, &slug, "1.0.0");
        write(&fixture.core().join(&slug).join("translations/en.yaml"), "configuration: {}\n");
    }
    let started = std::time::Instant::now();
    fixture.manager.reload(false).await.unwrap();
    // Printed for people; `cargo xtask bench` holds the target.
    println!("reload of 500 add-ons: {:?}", started.elapsed());
    assert_eq!(fixture.manager.addons().len(), 500);
    assert!(errors_of(&fixture, "core").is_empty());
}
