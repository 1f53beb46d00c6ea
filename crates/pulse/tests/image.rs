//! The audio plugin's image recipe (plugins/audio) made by hand the way the plugin contract
//! says: the host files it lists (globs expanded), the libraries `ldd` names for every ELF file
//! among them, and `rootfs/` on top, as a `FROM scratch` image of the real Docker engine. Its
//! container serves the client through a socket in a folder bound from the host, with null
//! devices when it has no /dev/snd and the card detection when it has one. Prints the image's
//! size and the idle container's memory. Needs the `docker` command and Debian's pulseaudio.

mod common;

use pulse::{Client, StreamType};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

#[derive(Deserialize)]
struct Recipe {
    binaries: Vec<String>,
    host_files: Vec<String>,
    host_packages: Vec<String>,
    entrypoint: Vec<String>,
}

fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/audio")
}

/// Runs `docker` and returns its standard output, panicking with its error when it fails.
fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("docker does not run ({error}): these tests need a Docker engine"));
    assert!(output.status.success(), "docker {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The image and containers of one test, removed when dropped.
struct Cleanup {
    image: String,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", container]).output();
        }
        let _ = Command::new("docker").args(["rmi", "-f", &self.image]).output();
    }
}

/// The paths `pattern` names; `*` matches any part of one path component.
fn expand(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for component in pattern.trim_start_matches('/').split('/') {
        found = found
            .into_iter()
            .flat_map(|dir| -> Vec<PathBuf> {
                if !component.contains('*') {
                    let path = dir.join(component);
                    return if path.exists() { vec![path] } else { vec![] };
                }
                let Ok(entries) = std::fs::read_dir(&dir) else { return vec![] };
                let mut matches: Vec<PathBuf> = entries
                    .filter_map(|entry| entry.ok())
                    .filter(|entry| glob_match(component, &entry.file_name().to_string_lossy()))
                    .map(|entry| entry.path())
                    .collect();
                matches.sort();
                matches
            })
            .collect();
    }
    found
}

fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
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

/// Every file under `path` (itself when it is a file), links followed.
fn files_under(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            files_under(&entry.unwrap().path(), files);
        }
    } else {
        files.push(path.to_owned());
    }
}

fn is_elf(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\x7fELF"))
}

/// The shared libraries `ldd` names for `path`, the program interpreter included.
fn libraries(path: &Path) -> Vec<PathBuf> {
    let output = Command::new("ldd").arg(path).output().expect("ldd runs");
    if String::from_utf8_lossy(&output.stderr).contains("not a dynamic executable") {
        return vec![];
    }
    assert!(output.status.success(), "ldd {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains("not found"), "ldd {}: a library is missing:\n{text}", path.display());
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.split_once("=> ").map(|(_, after)| after).unwrap_or(line);
            let path = path.split(" (").next().unwrap_or("");
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn copy_into(root: &Path, file: &Path) {
    let target = root.join(file.strip_prefix("/").unwrap());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(file, &target).unwrap_or_else(|error| panic!("copying {}: {error}", file.display()));
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Builds the image's context in `context` (a Dockerfile and `rootfs/`).
fn assemble(recipe: &Recipe, context: &Path) {
    assert!(recipe.binaries.is_empty(), "the audio plugin runs no binary of ours");
    let root = context.join("rootfs");
    let mut files = Vec::new();
    for pattern in &recipe.host_files {
        let matched = expand(pattern);
        assert!(
            !matched.is_empty(),
            "{pattern} is on no path of this host: install Debian's {}",
            recipe.host_packages.join(" ")
        );
        for path in matched {
            files_under(&path, &mut files);
        }
    }
    let mut copied = BTreeSet::new();
    for file in &files {
        let with_libraries = if is_elf(file) { libraries(file) } else { vec![] }.into_iter().chain([file.clone()]);
        for path in with_libraries {
            if copied.insert(path.clone()) {
                copy_into(&root, &path);
            }
        }
    }
    copy_tree(&plugin_dir().join("rootfs"), &root);
    let entrypoint = serde_json::to_string(&recipe.entrypoint).unwrap();
    std::fs::write(context.join("Dockerfile"), format!("FROM scratch\nCOPY rootfs/ /\nENTRYPOINT {entrypoint}\n"))
        .unwrap();
}

/// Waits until the server behind `client` answers, for at most 20 s.
async fn wait_for(client: &Client, container: &str) -> pulse::Audio {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.info().await {
            Ok(audio) => return audio,
            Err(error) if Instant::now() > deadline => {
                let logs = Command::new("docker").args(["logs", container]).output().unwrap();
                panic!("the plugin never answered ({error}); its log:\n{}", String::from_utf8_lossy(&logs.stderr));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn names(devices: &[pulse::Device]) -> Vec<&str> {
    devices.iter().map(|device| device.name.as_str()).collect()
}

#[tokio::test]
async fn the_recipe_makes_an_image_whose_socket_serves_the_client() {
    let recipe: Recipe =
        serde_yaml::from_str(&std::fs::read_to_string(plugin_dir().join("image.yaml")).unwrap()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let context = work.path().join("context");
    assemble(&recipe, &context);

    let unique = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos()
    );
    let image = format!("supervisor-test-audio-{unique}:test");
    let mut cleanup = Cleanup { image: image.clone(), containers: vec![] };
    docker(&["build", "--quiet", "--tag", &image, &context.to_string_lossy()]);

    // Without sound devices: a null sink and a null source, reached through the bound folder.
    let run = work.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let container = format!("supervisor-test-audio-{unique}");
    cleanup.containers.push(container.clone());
    let bind = format!("{}:/run/audio", run.display());
    docker(&["run", "--detach", "--name", &container, "--volume", &bind, &image]);
    let client = Client::new(run.join("pulse.sock"));
    let audio = wait_for(&client, &container).await;
    assert_eq!(names(&audio.output), ["null"]);
    assert_eq!(names(&audio.input), ["source.null"]);
    assert!(audio.output[0].default && audio.input[0].default, "{audio:?}");
    assert!(audio.card.is_empty());

    // A host application plays into it through the same socket; its volume is set from here.
    let mut player = common::play(&run.join("pulse.sock"), work.path(), "null", "Host Player", "local-player");
    let deadline = Instant::now() + Duration::from_secs(10);
    let playing = loop {
        player.assert_running();
        let audio = client.info().await.unwrap();
        if let Some(app) = audio.application.first() {
            break app.clone();
        }
        assert!(Instant::now() < deadline, "paplay never showed as an application");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((playing.name.as_str(), playing.addon.as_str()), ("Host Player", "local_player"));
    client.set_volume(StreamType::Output, playing.index, 0.4, true).await.unwrap();
    let volume = client.info().await.unwrap().application[0].volume;
    assert!((volume - 0.4).abs() < 1e-4, "{volume}");
    drop(player);

    // Idle a moment before measuring, so start-up allocations are not counted as the idle cost.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let size: u64 = docker(&["image", "inspect", "--format", "{{.Size}}", &image]).trim().parse().unwrap();
    let memory = docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &container]);
    eprintln!("audio plugin image: {:.1} MB; idle container memory: {}", size as f64 / 1e6, memory.trim());
    assert!(size < 60_000_000, "the image grew to {size} bytes");

    // With /dev/snd the cards are looked for instead; none here, so only the fallback sink.
    let snd = work.path().join("snd");
    std::fs::create_dir(&snd).unwrap();
    let run = work.path().join("run-snd");
    std::fs::create_dir(&run).unwrap();
    let container = format!("supervisor-test-audio-snd-{unique}");
    cleanup.containers.push(container.clone());
    let bind = format!("{}:/run/audio", run.display());
    let snd_bind = format!("{}:/dev/snd", snd.display());
    docker(&["run", "--detach", "--name", &container, "--volume", &bind, "--volume", &snd_bind, &image]);
    let audio = wait_for(&Client::new(run.join("pulse.sock")), &container).await;
    assert_eq!(names(&audio.output), ["auto_null"]);
    assert!(audio.input.is_empty(), "{audio:?}");
}
