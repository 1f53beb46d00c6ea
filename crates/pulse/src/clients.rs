//! What a container that plays and records through the audio plugin gets (Core, and the add-ons
//! with `audio`), as the real Supervisor gives it: the plugin's socket folder, a PulseAudio client
//! configuration of its own naming the server and its default devices, and ALSA's configuration
//! sending ALSA programs to the server, all bound read-only.
//!
//! The two files are kept in the data directory's `audio` folder, which only the supervisor
//! writes, one client configuration per container.

use base::DataDir;
use std::io;
use std::path::PathBuf;

/// Where the socket folder is inside the containers: the plugin's own (writable) and those of
/// its clients.
pub const SOCKET_DIR: &str = "/run/audio";

const ALSA_CONFIG: &str = "# Written by the supervisor: ALSA's default device is the audio plugin's sound server.
pcm.!default {
    type pulse
    hint {
        show on
        description \"Default ALSA Output (the audio plugin's sound server)\"
    }
}

ctl.!default {
    type pulse
}
";

/// The sound configuration of the container named `name` (an add-on's slug, `homeassistant`).
pub struct ClientFiles {
    client_config: PathBuf,
    alsa_config: PathBuf,
    socket_dir: PathBuf,
}

impl ClientFiles {
    pub fn new(data: &DataDir, name: &str) -> Self {
        let folder = data.audio_clients();
        ClientFiles {
            client_config: folder.join(format!("{name}.pulse-client.conf")),
            alsa_config: folder.join("asound.conf"),
            socket_dir: data.audio_socket(),
        }
    }

    /// The binds (host path, container path), all read-only. The socket folder exists once the
    /// plugin first ran; the engine refuses a bind of a missing path, so it is left out before.
    pub fn binds(&self, exists: &dyn Fn(&std::path::Path) -> bool) -> Vec<(PathBuf, &'static str)> {
        let mut binds = Vec::new();
        if exists(&self.socket_dir) {
            binds.push((self.socket_dir.clone(), SOCKET_DIR));
        }
        binds.push((self.client_config.clone(), "/etc/pulse/client.conf"));
        binds.push((self.alsa_config.clone(), "/etc/asound.conf"));
        binds
    }

    /// Writes both files (crash-safe, never through a link), with `output` and `input` as the
    /// client's default devices where set. Refuses a socket folder that is a link: the plugin's
    /// container can write beside it, and the engine would bind the link's target instead.
    pub fn write(&self, output: Option<&str>, input: Option<&str>) -> io::Result<()> {
        if std::fs::symlink_metadata(&self.socket_dir).is_ok_and(|meta| meta.file_type().is_symlink()) {
            return Err(io::Error::other(format!(
                "{} is a link, not the audio plugin's folder",
                self.socket_dir.display()
            )));
        }
        if let Some(folder) = self.client_config.parent() {
            base::fs::ensure_real_dir(folder)?;
        }
        base::fs::atomic_write(&self.client_config, client_config(output, input).as_bytes(), 0o644)?;
        base::fs::atomic_write(&self.alsa_config, ALSA_CONFIG.as_bytes(), 0o644)
    }
}

/// The client configuration: the server's socket, no server of its own, and the default devices.
/// A name is one line of the file, so one with a control character is left out (the API refuses
/// them; this guards older records).
fn client_config(output: Option<&str>, input: Option<&str>) -> String {
    let mut config = format!(
        "# Written by the supervisor: the sound server and default devices of this container.\n\
         default-server = unix:{SOCKET_DIR}/{}\n\
         autospawn = no\n",
        base::paths::PULSE_SOCKET
    );
    for (key, name) in [("default-sink", output), ("default-source", input)] {
        if let Some(name) = name.filter(|name| !name.is_empty() && !name.contains(char::is_control)) {
            config.push_str(&format!("{key} = {name}\n"));
        }
    }
    config
}

/// Whether the names can be a client's default devices: the API's check of `audio_output` and
/// `audio_input`, the message naming the key.
pub fn check_defaults(output: Option<&str>, input: Option<&str>) -> Result<(), String> {
    for (key, name) in [("audio_output", output), ("audio_input", input)] {
        if let Some(name) = name.filter(|name| name.contains(char::is_control)) {
            return Err(format!("{key}: the device name {name:?} contains a control character"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_names_the_server_and_only_usable_devices() {
        let config = client_config(Some("alsa_output.usb"), None);
        assert!(config.contains("default-server = unix:/run/audio/pulse.sock\n"), "{config}");
        assert!(config.contains("default-sink = alsa_output.usb\n") && !config.contains("default-source"));
        let config = client_config(None, Some("mic\ndefault-server = tcp:evil"));
        assert!(!config.contains("evil"), "{config}");
        assert!(check_defaults(Some("sink"), Some("mic\nx")).unwrap_err().contains("audio_input"));
        assert!(check_defaults(Some("alsa_output.usb"), None).is_ok());
    }

    #[test]
    fn files_are_written_in_the_supervisors_folder_and_bound_read_only() {
        let root = tempfile::tempdir().unwrap();
        let data = DataDir::new(root.path());
        let files = ClientFiles::new(&data, "local_player");
        files.write(Some("sink"), Some("source")).unwrap();
        let written = std::fs::read_to_string(data.audio_clients().join("local_player.pulse-client.conf")).unwrap();
        assert!(written.contains("default-source = source\n"), "{written}");
        assert!(std::fs::read_to_string(data.audio_clients().join("asound.conf")).unwrap().contains("type pulse"));
        let targets = |exists: bool| -> Vec<&str> { files.binds(&|_| exists).into_iter().map(|(_, t)| t).collect() };
        assert_eq!(targets(true), ["/run/audio", "/etc/pulse/client.conf", "/etc/asound.conf"]);
        assert_eq!(targets(false), ["/etc/pulse/client.conf", "/etc/asound.conf"]);

        // A link planted where the socket folder goes is refused, not handed to the engine.
        std::fs::create_dir_all(data.audio_socket().parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/", data.audio_socket()).unwrap();
        let error = files.write(None, None).unwrap_err().to_string();
        assert!(error.contains("is a link"), "{error}");
    }
}
