//! The audio plugin run by the supervisor: its image made from `plugins/audio` with the host's
//! PulseAudio, a sound played into it from the host (`pacat`, through the socket folder the
//! supervisor keeps) showing as an application whose volume and mute the API and `ha audio`
//! change, the devices' volume, mute and default, the errors that name what is wrong, and an
//! add-on with `audio` getting the socket and its own default output.

use super::{container, docker, life_cycle, offer, running, Stage};
use crate::addons::{container_name, inspect_container, install};
use e2e::fixtures::FixtureRepository;
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};

/// A stream of silence played into the audio plugin until dropped.
struct Player(Child);

impl Player {
    fn start(daemon: &Daemon, name: &str) -> Player {
        let socket = daemon.data_dir().join("plugins/audio/run/pulse.sock");
        let child = Command::new("pacat")
            .args(["--playback", "--raw", "--format=s16le", "--rate=44100", "--channels=2"])
            .arg(format!("--client-name={name}"))
            .env("PULSE_SERVER", format!("unix:{}", socket.display()))
            .stdin(std::fs::File::open("/dev/zero").unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pacat (pulseaudio-utils) runs");
        Player(child)
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_audio_plugin_is_installed_updated_watched_and_repaired() {
    let mut daemon = crate::addons::engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "audio")]);
    life_cycle(&mut daemon, "audio", |daemon, stage| {
        // Every container made anew serves the sound server where the supervisor reaches it.
        let outputs = eventually(&format!("the sound server's outputs ({stage:?})"), || {
            audio(daemon)["output"].as_array().filter(|outputs| !outputs.is_empty()).cloned()
        });
        assert!(outputs[0]["name"].is_string(), "{outputs:?}");
        if stage == Stage::Installed {
            let (status, body) = daemon.post("/audio/reload", json!({}));
            assert_eq!(status, 200, "{body}");
        }
    });
}

fn audio(daemon: &Daemon) -> Value {
    let (status, info) = daemon.get("/audio/info");
    assert_eq!(status, 200, "{info}");
    info["data"]["audio"].clone()
}

/// The application named `name` once the sound server shows it.
fn application(daemon: &Daemon, name: &str) -> Value {
    eventually(&format!("the application {name}"), || {
        audio(daemon)["application"].as_array()?.iter().find(|app| app["name"] == name).cloned()
    })
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 0.01)
}

fn post_ok(daemon: &Daemon, path: &str, body: Value) {
    let (status, answer) = daemon.post(path, body);
    assert_eq!(status, 200, "{path}: {answer}");
}

fn refused(daemon: &Daemon, path: &str, body: Value) -> String {
    let (status, answer) = daemon.post(path, body);
    assert_eq!(status, 400, "{path}: {answer}");
    answer["message"].as_str().unwrap().to_owned()
}

#[test]
fn sound_played_into_the_audio_plugin_is_controlled_through_the_api() {
    let repository = FixtureRepository::copy();
    repository.set_config("build_local", "audio", "true");
    let daemon = crate::addons::engine_daemon(&[repository.env(), ("SUPERVISOR_PLUGINS_INSTALL", "audio")]);
    offer(&daemon, &[("audio", "1")]);
    running(&daemon, "audio", "1");
    let network = format!("{}hassio", daemon.instance());
    let inspected = inspect_container(&container(&daemon, "audio")).unwrap();
    let address = inspected["NetworkSettings"]["Networks"][&network]["IPAddress"].clone();
    let (_, info) = daemon.get("/audio/info");
    assert_eq!(info["data"]["host"], address, "{info}");
    assert_eq!((&info["data"]["version"], &info["data"]["update_available"]), (&json!("1"), &json!(false)));

    // The devices: real cards where the machine has them, else the null sink and source.
    let devices = eventually("the sound server's devices", || {
        let audio = audio(&daemon);
        let output = audio["output"].as_array()?.first()?.clone();
        let input = audio["input"].as_array()?.first()?.clone();
        Some((output, input))
    });
    let (output, input) = devices;
    // The names add-ons take as `audio_output` and `audio_input`, as the real `/hardware/audio`.
    let (status, hardware) = daemon.get("/hardware/audio");
    assert_eq!(status, 200, "{hardware}");
    assert_eq!(hardware["data"]["audio"]["output"][output["name"].as_str().unwrap()], output["description"]);
    assert_eq!(hardware["data"]["audio"]["input"][input["name"].as_str().unwrap()], input["description"]);

    // A sound played into it is an application whose volume and mute are set by index.
    let _player = Player::start(&daemon, "e2e-player");
    let played = application(&daemon, "e2e-player");
    assert_eq!((&played["stream_type"], &played["mute"]), (&json!("output"), &json!(false)), "{played}");
    assert_eq!(played["stream_index"], output["index"], "{played}");
    let index = played["index"].as_u64().unwrap();
    post_ok(&daemon, "/audio/volume/output/application", json!({"index": index, "volume": 0.5}));
    post_ok(&daemon, "/audio/mute/output/application", json!({"index": index, "active": true}));
    let played = application(&daemon, "e2e-player");
    assert!(close(&played["volume"], 0.5) && played["mute"] == true, "{played}");
    let text = |output: std::process::Output| {
        assert!(output.status.success(), "ha: {}", String::from_utf8_lossy(&output.stderr));
    };
    let index_arg = index.to_string();
    text(daemon.ha(&["audio", "volume", "output", "--index", &index_arg, "--volume", "20", "--application"], &[]));
    text(daemon.ha(&["audio", "volume", "output", "--index", &index_arg, "--unmute", "--application"], &[]));
    let played = application(&daemon, "e2e-player");
    assert!(close(&played["volume"], 0.2) && played["mute"] == false, "{played}");

    // The devices' own volume, mute and the default input.
    let output_index = output["index"].as_u64().unwrap();
    post_ok(&daemon, "/audio/volume/output", json!({"index": output_index, "volume": 0.3}));
    post_ok(&daemon, "/audio/mute/output", json!({"index": output_index, "active": true}));
    let name = input["name"].as_str().unwrap().to_owned();
    text(daemon.ha(&["audio", "default", "input", "--name", &name], &[]));
    let audio_now = audio(&daemon);
    let output_now = audio_now["output"].as_array().unwrap().iter().find(|d| d["index"] == output_index).unwrap();
    assert!(close(&output_now["volume"], 0.3) && output_now["mute"] == true, "{output_now}");
    let input_now = audio_now["input"].as_array().unwrap().iter().find(|d| d["name"] == name.as_str()).unwrap();
    assert_eq!(input_now["default"], true, "{input_now}");
    post_ok(&daemon, "/audio/reload", json!({}));

    // What does not exist is named, and nothing changes.
    let before = application(&daemon, "e2e-player");
    assert!(refused(&daemon, "/audio/volume/speaker", json!({"index": 0, "volume": 0.5})).contains("speaker"));
    let missing = refused(&daemon, "/audio/volume/output/application", json!({"index": 99999, "volume": 0.5}));
    assert!(missing.contains("99999"), "{missing}");
    assert!(refused(&daemon, "/audio/default/output", json!({"name": "no-such-sink"})).contains("no-such-sink"));
    assert!(refused(&daemon, "/audio/profile", json!({"card": "no-such-card", "name": "off"})).contains("no-such-card"));
    assert!(refused(&daemon, "/audio/volume/output", json!({"index": output_index, "volume": -1})).contains("-1"));
    assert_eq!(application(&daemon, "e2e-player"), before);

    // An add-on with `audio` gets the socket and its own default output, all read-only.
    let slug = "core_build_local";
    install(&daemon, slug);
    let sink = output["name"].as_str().unwrap();
    let bad =
        refused(&daemon, &format!("/addons/{slug}/options"), json!({"audio_output": "a\ndefault-server = tcp:x"}));
    assert!(bad.contains("audio_output"), "{bad}");
    post_ok(&daemon, &format!("/addons/{slug}/options"), json!({"audio_output": sink}));
    post_ok(&daemon, &format!("/addons/{slug}/start"), json!({}));
    let addon = container_name(&daemon, slug);
    let mounts = inspect_container(&addon).unwrap()["Mounts"].clone();
    for target in ["/run/audio", "/etc/pulse/client.conf", "/etc/asound.conf"] {
        let mount = mounts.as_array().unwrap().iter().find(|m| m["Destination"] == target);
        assert_eq!(mount.map(|m| m["RW"].clone()), Some(json!(false)), "{target}: {mounts}");
    }
    let client = docker(&["exec", &addon, "cat", "/etc/pulse/client.conf"]);
    let client = String::from_utf8_lossy(&client.stdout);
    assert!(client.contains(&format!("default-sink = {sink}")), "{client}");
    assert!(
        docker(&["exec", &addon, "test", "-S", "/run/audio/pulse.sock"]).status.success(),
        "no socket in the add-on"
    );
}
