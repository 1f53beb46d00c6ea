//! The audio plugin's image (plugins/audio) made from its recipe by this crate's `recipe`, the
//! way the plugin manager makes it, imported into the real Docker engine and run by hand: with no
//! /dev/snd it serves a null sink and a null source through the socket in a folder bound from the
//! host; with a /dev/snd it looks for cards instead (none here, so only the fallback sink).
//! Prints the image's size and the idle container's memory. Needs the `docker` command and
//! Debian's pulseaudio (`cargo xtask test-images` installs it).

use plugins::recipe::{self, Host};
use plugins::Plugin;
use pulse::Client;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// Runs `docker` and returns its standard output, panicking with its error when it fails.
fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("docker does not run ({error}): these tests need a Docker engine"));
    assert!(output.status.success(), "docker {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The image and containers of the test, removed when dropped.
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

/// Imports the image of the audio recipe as `image`.
fn import(image: &str, work: &Path) {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins");
    let recipe = recipe::load(&plugins, Plugin::Audio).unwrap();
    let host = Host { libraries: &recipe::ldd, package_installed: &recipe::dpkg_installed };
    let layout = recipe::layout(Plugin::Audio, &recipe, &plugins.join("audio"), Path::new("/nonexistent"), &host)
        .unwrap_or_else(|e| panic!("{e}"));
    let tar = work.join("audio.tar");
    recipe::write_tar(&layout, std::fs::File::create(&tar).unwrap()).unwrap();
    let entrypoint = format!("ENTRYPOINT {}", serde_json::to_string(&recipe.entrypoint).unwrap());
    docker(&["import", "--change", &entrypoint, &tar.to_string_lossy(), image]);
}

/// Runs the image with the socket folder `run` bound (and `snd` as /dev/snd), and waits until
/// its server answers, for at most 20 s.
async fn run(image: &str, container: &str, run: &Path, snd: Option<&Path>) -> pulse::Audio {
    std::fs::create_dir(run).unwrap();
    let mut args = vec!["run".to_owned(), "--detach".to_owned(), "--name".to_owned(), container.to_owned()];
    args.extend(["--volume".to_owned(), format!("{}:/run/audio", run.display())]);
    if let Some(snd) = snd {
        args.extend(["--volume".to_owned(), format!("{}:/dev/snd", snd.display())]);
    }
    args.push(image.to_owned());
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let client = Client::new(run.join(base::paths::PULSE_SOCKET));
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
async fn the_recipe_makes_an_image_whose_socket_serves_null_devices_or_looks_for_cards() {
    let work = tempfile::tempdir().unwrap();
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    let unique = format!("{}-{nanos}", std::process::id());
    let image = format!("supervisor-test-audio-{unique}:test");
    let mut cleanup = Cleanup { image: image.clone(), containers: vec![] };
    import(&image, work.path());

    // Without sound devices: a null sink and a null source, reached through the bound folder.
    let container = format!("supervisor-test-audio-{unique}");
    cleanup.containers.push(container.clone());
    let audio = run(&image, &container, &work.path().join("run"), None).await;
    assert_eq!(names(&audio.output), ["null"]);
    assert_eq!(names(&audio.input), ["source.null"]);
    assert!(audio.output[0].default && audio.input[0].default, "{audio:?}");
    assert!(audio.card.is_empty());

    // Idle a moment before measuring, so start-up allocations are not counted as the idle cost.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let size: u64 = docker(&["image", "inspect", "--format", "{{.Size}}", &image]).trim().parse().unwrap();
    let memory = docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &container]);
    eprintln!("audio plugin image: {:.1} MB; idle container memory: {}", size as f64 / 1e6, memory.trim());

    // With /dev/snd the cards are looked for instead; none here, so only the fallback sink.
    let snd: PathBuf = work.path().join("snd");
    std::fs::create_dir(&snd).unwrap();
    let container = format!("supervisor-test-audio-snd-{unique}");
    cleanup.containers.push(container.clone());
    let audio = run(&image, &container, &work.path().join("run-snd"), Some(&snd)).await;
    assert_eq!(names(&audio.output), ["auto_null"]);
    assert!(audio.input.is_empty(), "{audio:?}");
}
