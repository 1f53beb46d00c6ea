//! The client against a real PulseAudio (tests/common): what it reads, what it changes, and
//! how it fails.

mod common;

use common::Server;
use pulse::{Audio, Client, Device, Error, StreamType};
use std::time::Duration;

fn device<'a>(devices: &'a [Device], name: &str) -> &'a Device {
    devices.iter().find(|device| device.name == name).unwrap_or_else(|| panic!("no device {name} in {devices:?}"))
}

fn output<'a>(audio: &'a Audio, name: &str) -> &'a Device {
    device(&audio.output, name)
}

fn input<'a>(audio: &'a Audio, name: &str) -> &'a Device {
    device(&audio.input, name)
}

/// Within the rounding of the raw volume (1/65536).
fn assert_volume(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-4, "volume {actual}, expected {expected}");
}

#[tokio::test]
async fn info_lists_the_null_devices_in_the_real_shape() {
    let server = Server::start().await;
    let audio = server.client.info().await.unwrap();

    let speaker = output(&audio, "test_speaker");
    assert_eq!(speaker.description, "Speaker");
    assert_eq!(speaker.volume, 1.0);
    assert!(!speaker.mute);
    assert_eq!(speaker.card, None);
    assert!(speaker.applications.is_empty());
    assert_eq!(output(&audio, "test_headphones").description, "Headphones");
    assert_eq!(audio.output.iter().filter(|device| device.default).count(), 1, "{:?}", audio.output);

    // The sinks' monitors are sources but not inputs.
    let names: Vec<&str> = audio.input.iter().map(|device| device.name.as_str()).collect();
    assert_eq!(names, ["test_microphone"]);
    let microphone = input(&audio, "test_microphone");
    assert_eq!((microphone.description.as_str(), microphone.volume, microphone.mute), ("Microphone", 1.0, false));
    assert!(audio.card.is_empty());
    assert!(audio.application.is_empty());

    let json = serde_json::to_value(&audio).unwrap();
    let mut keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["application", "card", "input", "output"]);
    let speaker = json["output"].as_array().unwrap().iter().find(|device| device["name"] == "test_speaker").unwrap();
    assert_eq!(
        speaker,
        &serde_json::json!({
            "name": "test_speaker",
            "index": speaker["index"],
            "description": "Speaker",
            "volume": 1.0,
            "mute": false,
            "default": speaker["default"],
            "card": null,
            "applications": [],
        })
    );
    assert!(speaker["index"].is_u64() && speaker["default"].is_boolean());
}

#[tokio::test]
async fn applications_show_with_their_device_and_add_on_and_take_volume_and_mute() {
    let mut server = Server::start().await;
    let mut player = server.play("test_headphones", "Test Player", "local-test-addon");
    let mut recorder = server.record("test_microphone", "Test Recorder");
    let audio = server.wait_until(|audio| audio.application.len() == 2, "showed both applications").await;
    player.assert_running();
    recorder.assert_running();

    let headphones = output(&audio, "test_headphones");
    let playing = audio.application.iter().find(|app| app.stream_type == StreamType::Output).unwrap();
    assert_eq!(playing.name, "Test Player");
    assert_eq!(playing.stream_index, headphones.index);
    assert_eq!(playing.addon, "local_test_addon");
    assert_eq!((playing.volume, playing.mute), (1.0, false));
    assert_eq!(headphones.applications, std::slice::from_ref(playing));
    assert!(output(&audio, "test_speaker").applications.is_empty());
    let json = serde_json::to_value(playing).unwrap();
    assert_eq!(json["stream_type"], "output");
    assert!(json["stream_index"].is_u64() && json["index"].is_u64());

    let microphone = input(&audio, "test_microphone");
    let recording = audio.application.iter().find(|app| app.stream_type == StreamType::Input).unwrap();
    assert_eq!(recording.name, "Test Recorder");
    assert_eq!(recording.stream_index, microphone.index);
    assert_eq!(microphone.applications, std::slice::from_ref(recording));

    let client = &server.client;
    client.set_volume(StreamType::Output, playing.index, 0.5, true).await.unwrap();
    client.set_mute(StreamType::Output, playing.index, true, true).await.unwrap();
    client.set_volume(StreamType::Input, recording.index, 0.25, true).await.unwrap();
    client.set_mute(StreamType::Input, recording.index, true, true).await.unwrap();
    let audio = client.info().await.unwrap();
    let app = |stream_type| audio.application.iter().find(|app| app.stream_type == stream_type).unwrap();
    assert_volume(app(StreamType::Output).volume, 0.5);
    assert!(app(StreamType::Output).mute);
    assert_volume(app(StreamType::Input).volume, 0.25);
    assert!(app(StreamType::Input).mute);
    // The devices themselves are untouched.
    assert_eq!((output(&audio, "test_headphones").volume, output(&audio, "test_headphones").mute), (1.0, false));
    assert_eq!((input(&audio, "test_microphone").volume, input(&audio, "test_microphone").mute), (1.0, false));

    client.set_mute(StreamType::Output, playing.index, false, true).await.unwrap();
    assert!(!client
        .info()
        .await
        .unwrap()
        .application
        .iter()
        .any(|app| app.stream_type == StreamType::Output && app.mute));

    // An application index is not a device index, and the other side does not have it.
    let error = client.set_volume(StreamType::Input, playing.index + 100, 0.5, true).await.unwrap_err();
    assert!(matches!(error, Error::NoStream { stream_type: StreamType::Input, application: true, .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("Can't find input application {}", playing.index + 100));
    let error = client.set_mute(StreamType::Output, 4242, true, true).await.unwrap_err();
    assert_eq!(error.to_string(), "Can't find output application 4242");
    assert!(error.is_not_found());
}

#[tokio::test]
async fn device_volumes_and_mutes_change_and_read_back() {
    let server = Server::start().await;
    let client = &server.client;
    let audio = client.info().await.unwrap();
    let speaker = output(&audio, "test_speaker").index;
    let microphone = input(&audio, "test_microphone").index;

    client.set_volume(StreamType::Output, speaker, 0.3, false).await.unwrap();
    client.set_mute(StreamType::Output, speaker, true, false).await.unwrap();
    client.set_volume(StreamType::Input, microphone, 0.75, false).await.unwrap();
    client.set_mute(StreamType::Input, microphone, true, false).await.unwrap();
    let audio = client.info().await.unwrap();
    assert_volume(output(&audio, "test_speaker").volume, 0.3);
    assert!(output(&audio, "test_speaker").mute);
    assert_eq!((output(&audio, "test_headphones").volume, output(&audio, "test_headphones").mute), (1.0, false));
    assert_volume(input(&audio, "test_microphone").volume, 0.75);
    assert!(input(&audio, "test_microphone").mute);

    // Above 100 % amplifies, up to +11 dB as the real one caps it.
    client.set_volume(StreamType::Output, speaker, 1.2, false).await.unwrap();
    assert_volume(output(&client.info().await.unwrap(), "test_speaker").volume, 1.2);
    client.set_volume(StreamType::Output, speaker, 5.0, false).await.unwrap();
    assert_volume(output(&client.info().await.unwrap(), "test_speaker").volume, 99957.0 / 65536.0);
    client.set_volume(StreamType::Output, speaker, 0.0, false).await.unwrap();
    assert_eq!(output(&client.info().await.unwrap(), "test_speaker").volume, 0.0);

    for bad in [-0.5, f64::NAN, f64::INFINITY] {
        let error = client.set_volume(StreamType::Output, speaker, bad, false).await.unwrap_err();
        assert!(matches!(error, Error::InvalidVolume(_)), "{bad}: {error:?}");
    }
    let error = client.set_volume(StreamType::Output, 4242, 0.5, false).await.unwrap_err();
    assert_eq!(error.to_string(), "Can't find output device 4242");
    let error = client.set_mute(StreamType::Input, 4242, true, false).await.unwrap_err();
    assert_eq!(error.to_string(), "Can't find input device 4242");
}

#[tokio::test]
async fn defaults_move_to_the_named_devices() {
    let server = Server::start().await;
    let client = &server.client;
    client.set_default(StreamType::Output, "test_headphones").await.unwrap();
    let audio = client.info().await.unwrap();
    assert!(output(&audio, "test_headphones").default);
    assert!(!output(&audio, "test_speaker").default);

    client.set_default(StreamType::Output, "test_speaker").await.unwrap();
    client.set_default(StreamType::Input, "test_microphone").await.unwrap();
    let audio = client.info().await.unwrap();
    assert!(output(&audio, "test_speaker").default);
    assert!(!output(&audio, "test_headphones").default);
    assert!(input(&audio, "test_microphone").default);

    let error = client.set_default(StreamType::Output, "nowhere").await.unwrap_err();
    assert_eq!(error.to_string(), "Can't find output device nowhere");
    // A sink is not an input.
    let error = client.set_default(StreamType::Input, "test_speaker").await.unwrap_err();
    assert_eq!(error.to_string(), "Can't find input device test_speaker");
    let error = client.set_default(StreamType::Input, "bad\0name").await.unwrap_err();
    assert!(matches!(error, Error::InvalidName(_)), "{error:?}");
}

#[tokio::test]
async fn profiles_of_missing_cards_are_refused_by_name() {
    let server = Server::start().await;
    // Null devices have no card: there is no profile to set, and the error names the card.
    assert!(server.client.info().await.unwrap().card.is_empty());
    let error = server.client.set_profile("alsa_card.pci-0000_00_1b.0", "output:analog-stereo").await.unwrap_err();
    assert_eq!(error.to_string(), "Can't find sound card alsa_card.pci-0000_00_1b.0");
    assert!(error.is_not_found());
    server.client.reload().await.unwrap();
}

#[tokio::test]
async fn an_absent_or_silent_server_fails_with_the_socket_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("pulse.sock");
    let error = Client::new(&missing).info().await.unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&missing.display().to_string()), "{error}");

    // Something listens but never answers the handshake.
    let silent = dir.path().join("silent.sock");
    let listener = tokio::net::UnixListener::bind(&silent).unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    let client = Client::new(&silent).with_timeout(Duration::from_millis(300));
    let error = client.reload().await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    holder.abort();
}
