//! The audio devices of `/hardware/audio`: `input` and `output`, each a map of device name to
//! description.
//!
//! As the real Supervisor, the answer is the sources and sinks of the audio plugin's sound
//! server, by the names an add-on's `audio_input` and `audio_output` take. While that server does
//! not answer (no audio plugin yet), it is what the kernel's sound system (ALSA) has, so that the
//! user still sees the machine's sound devices: every PCM device of every card in `/proc/asound` (under the host root),
//! an output where it plays back and an input where it captures. A device is named as ALSA
//! addresses it, `hw:<card id>,<device>` (the card's id is stable across boots, its index is
//! not), and described as `<card name>: <device name>`, as `aplay -l` shows them. A host without
//! sound has two empty maps, as the real one has without sinks and sources.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use utoipa::ToSchema;

/// The host's sound devices.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
// Named apart from other groups' models in the OpenAPI document.
#[schema(as = HardwareAudioDevices)]
pub struct Audio {
    /// Capture devices: name → description.
    pub input: BTreeMap<String, String>,
    /// Playback devices: name → description.
    pub output: BTreeMap<String, String>,
}

/// A sound card of `/proc/asound/cards`.
struct Card {
    id: String,
    name: String,
}

/// The sinks and sources of the sound server, by name; monitors are not among the inputs.
pub fn from_server(server: &pulse::Audio) -> Audio {
    let names = |devices: &[pulse::Device]| {
        devices.iter().map(|device| (device.name.clone(), device.description.clone())).collect()
    };
    Audio { input: names(&server.input), output: names(&server.output) }
}

/// Reads the sound devices under `root`.
pub fn read(root: &Path) -> Audio {
    let asound = root.join("proc/asound");
    let cards = std::fs::read_to_string(asound.join("cards")).unwrap_or_default();
    let pcm = std::fs::read_to_string(asound.join("pcm")).unwrap_or_default();
    devices(&parse_cards(&cards), &pcm)
}

/// `/proc/asound/cards`: per card a line ` 0 [PCH            ]: HDA-Intel - HDA Intel PCH`
/// (index, id, driver, name) and a line with its long name.
fn parse_cards(text: &str) -> HashMap<u32, Card> {
    let mut cards = HashMap::new();
    for line in text.lines() {
        let Some((index, rest)) = line.trim_start().split_once(' ') else { continue };
        let Ok(index) = index.parse::<u32>() else { continue };
        let Some((id, rest)) = rest.trim_start().strip_prefix('[').and_then(|rest| rest.split_once(']')) else {
            continue;
        };
        let description = rest.trim_start_matches(':').trim();
        let name = description.split_once(" - ").map_or(description, |(_driver, name)| name);
        cards.insert(index, Card { id: id.trim().to_owned(), name: name.trim().to_owned() });
    }
    cards
}

/// `/proc/asound/pcm`: per device `00-01: <id> : <name> : playback 1 : capture 1`.
fn devices(cards: &HashMap<u32, Card>, pcm: &str) -> Audio {
    let mut audio = Audio::default();
    for line in pcm.lines() {
        let fields: Vec<&str> = line.split(" : ").map(str::trim).collect();
        let Some((address, _id)) = fields.first().and_then(|first| first.split_once(':')) else { continue };
        let Some((card, device)) = address.split_once('-') else { continue };
        let (Ok(card), Ok(device)) = (card.parse::<u32>(), device.parse::<u32>()) else { continue };
        let pcm_name = fields.get(1).copied().unwrap_or_default();
        let (name, description) = match cards.get(&card) {
            Some(known) => (format!("hw:{},{device}", known.id), format!("{}: {pcm_name}", known.name)),
            None => (format!("hw:{card},{device}"), pcm_name.to_owned()),
        };
        for stream in fields.iter().skip(2) {
            if stream.starts_with("playback") {
                audio.output.insert(name.clone(), description.clone());
            } else if stream.starts_with("capture") {
                audio.input.insert(name.clone(), description.clone());
            }
        }
    }
    audio
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARDS: &str = " 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n\
                         \x20                     HDA Intel PCH at 0xf7f10000 irq 32\n\
                         \x201 [Device         ]: USB-Audio - USB Audio Device\n\
                         \x20                     C-Media Electronics Inc. USB Audio Device at usb-0000:00:14.0-3\n";

    const PCM: &str = "00-00: ALC892 Analog : ALC892 Analog : playback 1 : capture 1\n\
                       00-01: ALC892 Digital : ALC892 Digital : playback 1\n\
                       01-00: USB Audio : USB Audio : capture 1\n";

    #[test]
    fn playback_devices_are_outputs_and_capture_devices_inputs() {
        let audio = devices(&parse_cards(CARDS), PCM);
        assert_eq!(
            audio.output,
            BTreeMap::from([
                ("hw:PCH,0".to_owned(), "HDA Intel PCH: ALC892 Analog".to_owned()),
                ("hw:PCH,1".to_owned(), "HDA Intel PCH: ALC892 Digital".to_owned()),
            ])
        );
        assert_eq!(
            audio.input,
            BTreeMap::from([
                ("hw:PCH,0".to_owned(), "HDA Intel PCH: ALC892 Analog".to_owned()),
                ("hw:Device,0".to_owned(), "USB Audio Device: USB Audio".to_owned()),
            ])
        );
    }

    #[test]
    fn a_device_of_an_unlisted_card_keeps_its_index() {
        let audio = devices(&HashMap::new(), "02-03: HDMI 0 : HDMI 0 : playback 1\n");
        assert_eq!(audio.output, BTreeMap::from([("hw:2,3".to_owned(), "HDMI 0".to_owned())]));
    }

    #[test]
    fn a_host_without_sound_has_none() {
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(read(empty.path()), Audio::default());
    }

    #[test]
    fn the_files_are_read_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let asound = root.path().join("proc/asound");
        std::fs::create_dir_all(&asound).unwrap();
        std::fs::write(asound.join("cards"), CARDS).unwrap();
        std::fs::write(asound.join("pcm"), PCM).unwrap();
        assert_eq!(read(root.path()).output.len(), 2);
    }
}
