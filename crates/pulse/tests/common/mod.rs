//! A real PulseAudio for the tests: Debian's `pulseaudio` started as a child process with its
//! own runtime and state folders and a script loading the native protocol on a socket of the
//! test, two null sinks and a null source; and `paplay`/`parecord` (pulseaudio-utils) as the
//! applications. `cargo xtask test` installs both packages.

#![allow(dead_code)]

use pulse::{Audio, Client};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PULSEAUDIO: &str = "/usr/bin/pulseaudio";
pub const PAPLAY: &str = "/usr/bin/paplay";
pub const PARECORD: &str = "/usr/bin/parecord";

/// A child process killed (and reaped) when dropped.
pub struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    fn spawn(name: &'static str, command: &mut Command) -> Process {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{name} does not start ({error}): install Debian's pulseaudio and pulseaudio-utils (cargo xtask test-images)"));
        Process { name, child }
    }

    /// Panics if the process has ended.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("the child's status") {
            panic!("{} ended: {status} (its output is above)", self.name);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Server {
    pub client: Client,
    pub dir: tempfile::TempDir,
    process: Process,
}

impl Server {
    /// Starts a server and waits until it answers.
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let socket = dir.path().join("pulse.sock");
        let script = dir.path().join("test.pa");
        std::fs::write(
            &script,
            format!(
                "load-module module-native-protocol-unix auth-anonymous=1 auth-cookie-enabled=0 socket={}\n\
                 load-module module-null-sink sink_name=test_speaker sink_properties=device.description=Speaker\n\
                 load-module module-null-sink sink_name=test_headphones sink_properties=device.description=Headphones\n\
                 load-module module-null-source source_name=test_microphone description=Microphone\n",
                socket.display()
            ),
        )
        .unwrap();
        for folder in ["home", "runtime", "state"] {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
        }
        let mut command = Command::new(PULSEAUDIO);
        command
            .args(["-n", "--daemonize=no", "--use-pid-file=no", "--exit-idle-time=-1", "--system=no"])
            .args(["--realtime=no", "--high-priority=no", "--log-target=stderr", "--log-level=error"])
            .arg("-F")
            .arg(&script)
            .env("HOME", dir.path().join("home"))
            .env("XDG_CONFIG_HOME", dir.path().join("home"))
            .env("XDG_RUNTIME_DIR", dir.path().join("runtime"))
            .env("PULSE_RUNTIME_PATH", dir.path().join("runtime"))
            .env("PULSE_STATE_PATH", dir.path().join("state"));
        let process = Process::spawn("pulseaudio", &mut command);
        let mut server = Server { client: Client::new(&socket), dir, process };
        server.wait_until(|_| true, "answers").await;
        server
    }

    pub fn socket(&self) -> &Path {
        self.client.socket()
    }

    /// Reads the server until `ready` holds for what it reads, for at most 10 s.
    pub async fn wait_until(&mut self, ready: impl Fn(&Audio) -> bool, what: &str) -> Audio {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.process.assert_running();
            let last = self.client.info().await;
            match &last {
                Ok(audio) if ready(audio) => return audio.clone(),
                _ if Instant::now() > deadline => panic!("the server never {what}; last read: {last:?}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// `paplay` playing a minute of silence into `sink`, as the application `name` of the add-on
    /// whose machine id is `machine_id`.
    pub fn play(&self, sink: &str, name: &str, machine_id: &str) -> Process {
        play(self.socket(), self.dir.path(), sink, name, machine_id)
    }

    /// `parecord` recording from `source` into a file, as the application `name`.
    pub fn record(&self, source: &str, name: &str) -> Process {
        let file: PathBuf = self.dir.path().join("recording.wav");
        Process::spawn(
            "parecord",
            Command::new(PARECORD)
                .arg(format!("--server=unix:{}", self.socket().display()))
                .arg(format!("--device={source}"))
                .arg(format!("--client-name={name}"))
                .arg("--file-format=wav")
                .arg(&file),
        )
    }
}

/// `paplay` playing a minute of silence (a file it writes in `dir`) into `sink` of the server at
/// `socket`, as the application `name` of the add-on whose machine id is `machine_id`.
pub fn play(socket: &Path, dir: &Path, sink: &str, name: &str, machine_id: &str) -> Process {
    let wav = dir.join("silence.wav");
    std::fs::write(&wav, silence_wav(60)).unwrap();
    Process::spawn(
        "paplay",
        Command::new(PAPLAY)
            .arg(format!("--server=unix:{}", socket.display()))
            .arg(format!("--device={sink}"))
            .arg(format!("--client-name={name}"))
            .arg(format!("--property=application.process.machine_id={machine_id}"))
            .arg(&wav),
    )
}

/// A WAV file of `seconds` of 8 kHz 16-bit mono silence.
fn silence_wav(seconds: u32) -> Vec<u8> {
    const PCM: u16 = 1;
    const CHANNELS: u16 = 1;
    const BYTES_PER_FRAME: u16 = 2;
    let rate: u32 = 8000;
    let data = rate * u32::from(BYTES_PER_FRAME) * seconds;
    let mut wav = Vec::with_capacity(44 + data as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&PCM.to_le_bytes());
    wav.extend_from_slice(&CHANNELS.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * u32::from(BYTES_PER_FRAME)).to_le_bytes());
    wav.extend_from_slice(&BYTES_PER_FRAME.to_le_bytes());
    wav.extend_from_slice(&(8 * BYTES_PER_FRAME).to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    wav.resize(44 + data as usize, 0);
    wav
}
