//! The backup benchmarks of `cargo xtask bench`, run with the same release daemon as the others,
//! each printed on one `bench <name>:` line with its reference measured on the same data:
//!
//! - `backup_create`: `POST /backups/new/partial` of the `share` folder (zstd) against
//!   `tar -c share | zstd -3 > file`;
//! - `backup_create_encrypted`: the same with a password against the Python `securetar` library
//!   writing the folder as the Python Supervisor does (gzip inside SecureTar v3);
//! - `backup_restore`: `POST /backups/<slug>/restore/partial` against `zstd -d < file | tar -x`;
//! - `backup_restore_encrypted_zeros`: the restore of an encrypted backup of 1 GiB of zero-filled
//!   files (decryption, decompression and file writing with next to no compressed data);
//! - `backup_ping_latency`: p99 of sequential `GET /supervisor/ping` during a backup and during a
//!   restore, against the idle daemon;
//! - `backup_peak_rss`: the daemon's peak resident memory (VmHWM) during the 1 GiB backups.
//!
//! The data, 1 GiB in a few hundred files of varying sizes (half random bytes, a quarter log-like
//! text, a quarter zeros), is generated once per run straight into the `share` folder of the
//! daemon's data directory, a temporary directory that also takes the references' outputs and is
//! removed at the end, failed or not. Restores need the `healthy` condition: the engine must
//! answer at the default socket.

use crate::bench::Daemon;
use crate::bench_addons::parse_response;
use anyhow::{ensure, Context};
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The data of every benchmark: 1 GiB.
const DATA: u64 = 1 << 30;
/// File sizes are drawn log-uniformly between these: about 330 files for 1 GiB, most small,
/// most bytes in large ones.
const SMALLEST: u64 = 1 << 10;
const LARGEST: u64 = 32 << 20;
/// Files per subdirectory of the generated tree.
const FILES_PER_DIR: usize = 20;
/// Generation and copy buffers.
const CHUNK: usize = 1 << 20;
const PASSWORD: &str = "bench password";
/// Longest one API call may take: a backup or restore of 1 GiB.
const CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest the daemon may take to reach the engine and call itself healthy.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the idle daemon is pinged.
const IDLE_PINGS: Duration = Duration::from_secs(2);
/// The pause between two pings: a client that asks often, not a load generator taking a core
/// the backup would otherwise have.
const PING_PAUSE: Duration = Duration::from_millis(1);
/// What the Python Supervisor does for a folder: an outer tar (4 MiB buffer, as its BUF_SIZE),
/// one gzip inner archive made with `create_tar` and `atomic_contents_add`, SecureTar v3 (what
/// it writes for Home Assistant Core 2026.3 and later), and `backup.json`.
const PYTHON_WRITER: &str = r#"
import io, json, sys, tarfile
from pathlib import Path
from securetar import SecureTarArchive, atomic_contents_add

out, source, password = sys.argv[1:4]
with SecureTarArchive(Path(out), "w", password=password, create_version=3, bufsize=4 * 1024 * 1024) as archive:
    with archive.create_tar("./share.tar.gz", gzip=True) as inner:
        atomic_contents_add(inner, Path(source), file_filter=lambda _: False, arcname=".")
    metadata = json.dumps({"slug": "bench", "protected": True}).encode()
    info = tarfile.TarInfo("./backup.json")
    info.size = len(metadata)
    archive.tar.addfile(info, io.BytesIO(metadata))
"#;

/// Runs the backup benchmarks on a daemon of their own.
pub fn run(bin: &Path) -> anyhow::Result<()> {
    // zstd and the Python securetar are references here.
    crate::test_tools::ensure()?;
    let work = tempfile::tempdir()?;
    let data = work.path().join("data");
    let mut random = Random(0x5eed);
    let files = generate_mixed(&data.join("share"), &mut random)?;
    let mut bench = BenchDaemon::start(bin, &data)?;
    let idle = bench.ping_during(|_| {
        std::thread::sleep(IDLE_PINGS);
        Ok(())
    })?;
    let reference = work.path().join("reference.tar.zst");
    let (slug, peak_plain) = create(&mut bench, &data, &reference, files)?;
    let peak_encrypted = create_encrypted(&mut bench, &data.join("share"), &work.path().join("python.tar"))?;
    restore(&mut bench, &data.join("share"), &slug, &reference, &work.path().join("unpacked"))?;
    ping_latency(&mut bench, &slug, &idle)?;
    println!(
        "bench backup_peak_rss: {:.1} MiB during the zstd backup | {:.1} MiB during the encrypted one (aim < 64 MB; \
         VmHWM of the whole daemon, reset through /proc/<pid>/clear_refs before each 1 GiB backup, read after it)",
        peak_plain as f64 / 1024.0,
        peak_encrypted as f64 / 1024.0,
    );
    bench.call("DELETE", &format!("/backups/{slug}"), &Value::Null)?;
    restore_encrypted_zeros(&mut bench, &data.join("share"), &mut random)?;
    bench.daemon.ensure_alive()
}

/// `backup_create`: the zstd backup of `<data>/share` against `tar | zstd` into `reference`
/// (kept for [`restore`]). Answers the backup's slug and the daemon's peak memory during it.
fn create(bench: &mut BenchDaemon, data: &Path, reference: &Path, files: usize) -> anyhow::Result<(String, u64)> {
    let tar_zstd = timed(|| bash("tar -c -C \"$1\" share | zstd -3 -q > \"$2\"", &[data, reference]))?.1;
    // The daemon syncs its backup before it answers; the reference's file is synced too.
    let started = Instant::now();
    File::open(reference)?.sync_all()?;
    let synced = started.elapsed();
    let tar_zstd = tar_zstd + synced;
    bench.reset_peak_rss()?;
    let (created, supervisor) = timed(|| bench.call("POST", "/backups/new/partial", &share_backup(None)))?;
    let peak = bench.peak_rss_kib()?;
    let slug = created["slug"].as_str().context("the new backup has no slug")?.to_owned();
    let stored = bench.call("GET", &format!("/backups/{slug}/info"), &Value::Null)?["size_bytes"].as_u64();
    println!(
        "bench backup_create: supervisor {:.0} MB/s | tar -c | zstd -3 {:.0} MB/s | ratio {:.2} (aim >= 0.8; \
         POST /backups/new/partial of share, zstd -3 in the reading thread and workers on the cores past the \
         second, against the shell pipeline (zstd's one thread) then an fsync of its file ({:.2} s of it), as the \
         daemon syncs its backup; {:.0} MB against {:.0} MB; {files} files, {} MiB: half random, a quarter text, \
         a quarter zeros, in the page cache)",
        rate(DATA, supervisor),
        rate(DATA, tar_zstd),
        tar_zstd.as_secs_f64() / supervisor.as_secs_f64(),
        synced.as_secs_f64(),
        stored.unwrap_or_default() as f64 / 1e6,
        fs::metadata(reference)?.len() as f64 / 1e6,
        DATA >> 20,
    );
    Ok((slug, peak))
}

/// `backup_create_encrypted`: the encrypted backup of `share` against the Python library writing
/// `python_out`. Answers the daemon's peak memory during the backup.
fn create_encrypted(bench: &mut BenchDaemon, share: &Path, python_out: &Path) -> anyhow::Result<u64> {
    let python = timed(|| python_securetar(python_out, share))?.1;
    let python_size = fs::metadata(python_out)?.len();
    fs::remove_file(python_out)?;
    bench.reset_peak_rss()?;
    let (encrypted, supervisor) = timed(|| bench.call("POST", "/backups/new/partial", &share_backup(Some(PASSWORD))))?;
    let peak = bench.peak_rss_kib()?;
    let slug = encrypted["slug"].as_str().context("the new backup has no slug")?;
    bench.call("DELETE", &format!("/backups/{slug}"), &Value::Null)?;
    println!(
        "bench backup_create_encrypted: supervisor {:.0} MB/s | Python securetar {:.0} MB/s | ratio {:.1} (aim >= \
         5; same data and request with a password: zstd inside SecureTar v3, against securetar {} writing the \
         folder as the Python Supervisor does: create_tar(gzip=True) + atomic_contents_add, create_version=3, \
         {:.0} MB)",
        rate(DATA, supervisor),
        rate(DATA, python),
        python.as_secs_f64() / supervisor.as_secs_f64(),
        crate::test_tools::SECURETAR.trim_start_matches("securetar=="),
        python_size as f64 / 1e6,
    );
    Ok(peak)
}

/// `backup_restore`: the restore of backup `slug` into `share` against `zstd -d | tar -x` of
/// `reference` into `unpacked`; both outputs but the restored share are removed.
fn restore(bench: &mut BenchDaemon, share: &Path, slug: &str, reference: &Path, unpacked: &Path) -> anyhow::Result<()> {
    fs::create_dir(unpacked)?;
    // The daemon syncs the restored tree (syncfs) before it commits it; so does the reference.
    let zstd_tar =
        timed(|| bash("zstd -d -q < \"$1\" | tar -x -C \"$2\" && sync -f \"$2\"", &[reference, unpacked]))?.1;
    fs::remove_dir_all(unpacked)?;
    fs::remove_file(reference)?;
    let path = format!("/backups/{slug}/restore/partial");
    let supervisor = timed(|| bench.call("POST", &path, &json!({"folders": ["share"]})))?.1;
    ensure!(tree_bytes(share)? == DATA, "the restored share does not hold the {DATA} bytes backed up");
    println!(
        "bench backup_restore: supervisor {:.0} MB/s | zstd -d | tar -x {:.0} MB/s | ratio {:.2} (aim >= 0.8; \
         POST /backups/<slug>/restore/partial of share from the backup above (unpacked into a staging folder, \
         synced, then swapped in and the old tree removed), against the shell pipeline into an empty folder, then \
         sync -f)",
        rate(DATA, supervisor),
        rate(DATA, zstd_tar),
        zstd_tar.as_secs_f64() / supervisor.as_secs_f64(),
    );
    Ok(())
}

/// `backup_ping_latency`: pings during the same backup and restore as above, against `idle`.
fn ping_latency(bench: &mut BenchDaemon, slug: &str, idle: &Latencies) -> anyhow::Result<()> {
    let mut made = None;
    let during_backup = bench.ping_during(|bench| {
        made = Some(bench.call("POST", "/backups/new/partial", &share_backup(None))?);
        Ok(())
    })?;
    let again = made.as_ref().and_then(|made| made["slug"].as_str()).context("the new backup has no slug")?;
    bench.call("DELETE", &format!("/backups/{again}"), &Value::Null)?;
    let path = format!("/backups/{slug}/restore/partial");
    let during_restore =
        bench.ping_during(|bench| bench.call("POST", &path, &json!({"folders": ["share"]})).map(drop))?;
    let idle_p99 = idle.p99();
    println!(
        "bench backup_ping_latency: idle p99 {} | during backup p99 {} ({:.1}x) | during restore p99 {} ({:.1}x) \
         (aim <= 2x idle; GET /supervisor/ping with the CLI token, one after another {} ms apart on one keep-alive \
         connection, {} / {} / {} pings; 2 HTTP workers)",
        ms(idle_p99),
        ms(during_backup.p99()),
        during_backup.p99().as_secs_f64() / idle_p99.as_secs_f64(),
        ms(during_restore.p99()),
        during_restore.p99().as_secs_f64() / idle_p99.as_secs_f64(),
        PING_PAUSE.as_millis(),
        idle.0.len(),
        during_backup.0.len(),
        during_restore.0.len(),
    );
    Ok(())
}

/// `backup_restore_encrypted_zeros`: `share` now holds 1 GiB of zero-filled files only.
fn restore_encrypted_zeros(bench: &mut BenchDaemon, share: &Path, random: &mut Random) -> anyhow::Result<()> {
    fs::remove_dir_all(share)?;
    let files = write_files(&share.join("zeros"), Kind::Zeros, DATA, random)?;
    let zeros = bench.call("POST", "/backups/new/partial", &share_backup(Some(PASSWORD)))?;
    let slug = zeros["slug"].as_str().context("the new backup has no slug")?;
    let body = json!({"folders": ["share"], "password": PASSWORD});
    let supervisor = timed(|| bench.call("POST", &format!("/backups/{slug}/restore/partial"), &body))?.1;
    ensure!(tree_bytes(share)? == DATA, "the restored share does not hold the {DATA} bytes backed up");
    println!(
        "bench backup_restore_encrypted_zeros: {:.0} MB/s (aim >= 200 MB/s; POST /backups/<slug>/restore/partial \
         with the password of an encrypted backup of share holding {files} zero-filled files, {} MiB)",
        rate(DATA, supervisor),
        DATA >> 20,
    );
    Ok(())
}

/// The body of `POST /backups/new/partial` for the `share` folder, encrypted with `password`.
fn share_backup(password: Option<&str>) -> Value {
    let mut body = json!({"name": "bench", "folders": ["share"]});
    if let Some(password) = password {
        body["password"] = password.into();
    }
    body
}

/// Decimal megabytes per second.
fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// Times `work`, once what earlier steps left dirty in the page cache is written back: no step
/// pays for another's writeback.
fn timed<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Duration)> {
    settle()?;
    let started = Instant::now();
    let result = work()?;
    Ok((result, started.elapsed()))
}

fn settle() -> anyhow::Result<()> {
    ensure!(Command::new("sync").status().context("running sync")?.success(), "sync failed");
    Ok(())
}

/// Runs `script` with bash, `pipefail` on, with `paths` as `$1`, `$2`...
fn bash(script: &str, paths: &[&Path]) -> anyhow::Result<()> {
    let status = Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {script}"), "bench"])
        .args(paths)
        .status()
        .context("running bash")?;
    ensure!(status.success(), "`{script}` failed: {status}");
    Ok(())
}

/// Writes the backup of `source` with the Python library, as the Python Supervisor does.
fn python_securetar(out: &Path, source: &Path) -> anyhow::Result<()> {
    let python = Path::new(crate::test_tools::SECURETAR_VENV).join("bin/python");
    let status = Command::new(&python)
        .args(["-c", PYTHON_WRITER])
        .arg(out)
        .arg(source)
        .arg(PASSWORD)
        .status()
        .with_context(|| format!("running {}", python.display()))?;
    ensure!(status.success(), "the Python securetar writer failed: {status}");
    Ok(())
}

/// The bytes of the files under `dir`.
fn tree_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += tree_bytes(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// The daemon with the CLI token: the API calls of the benchmarks.
struct BenchDaemon {
    daemon: Daemon,
    token: String,
}

impl BenchDaemon {
    /// Starts the daemon on `data` and waits until it is healthy (it has reached the engine).
    fn start(bin: &Path, data: &Path) -> anyhow::Result<BenchDaemon> {
        let mut daemon = Daemon::start(bin, data, &[])?;
        daemon.wait_ready()?;
        let token = fs::read_to_string(data.join("cli_token")).context("reading cli_token")?.trim().to_owned();
        let mut bench = BenchDaemon { daemon, token };
        let deadline = Instant::now() + HEALTHY_TIMEOUT;
        while bench.call("GET", "/supervisor/info", &Value::Null)?["healthy"] != true {
            if Instant::now() > deadline {
                return Err(bench.daemon.failure("did not become healthy (is the engine running?)"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(bench)
    }

    /// One API call with a JSON body (none when `body` is null); answers the envelope's `data`.
    /// Anything but a 200 `ok` is an error, carrying the daemon's log when it is gone.
    fn call(&mut self, method: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let answer = self.try_call(method, path, body);
        if answer.is_err() {
            self.daemon.ensure_alive()?;
        }
        answer
    }

    fn try_call(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let what = format!("{method} {path}");
        let body = if body.is_null() { String::new() } else { body.to_string() };
        let mut stream = TcpStream::connect_timeout(&self.daemon.address, Duration::from_secs(5))
            .with_context(|| format!("{what}: connecting"))?;
        stream.set_read_timeout(Some(CALL_TIMEOUT))?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.daemon.address,
            self.token,
            body.len(),
        );
        stream.write_all(request.as_bytes()).with_context(|| format!("{what}: sending"))?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).with_context(|| format!("{what}: reading the answer"))?;
        let (status, body) = parse_response(&response).with_context(|| format!("{what}: reading the answer"))?;
        let value: Value = serde_json::from_slice(&body)
            .with_context(|| format!("{what}: answered {status} with {}", String::from_utf8_lossy(&body)))?;
        ensure!(status == 200 && value["result"] == "ok", "{what} answered {status}: {value}");
        Ok(value["data"].clone())
    }

    /// Pings the daemon from another thread while `work` runs; the latencies of those pings.
    fn ping_during(&mut self, work: impl FnOnce(&mut BenchDaemon) -> anyhow::Result<()>) -> anyhow::Result<Latencies> {
        settle()?;
        let stop = AtomicBool::new(false);
        let (address, token) = (self.daemon.address, self.token.clone());
        std::thread::scope(|scope| {
            let pings = scope.spawn(|| ping_until(address, &token, &stop));
            let worked = work(self);
            stop.store(true, Ordering::Relaxed);
            let latencies = pings.join().expect("the ping thread does not panic");
            worked?;
            let mut latencies = latencies?;
            ensure!(!latencies.is_empty(), "no ping was answered");
            latencies.sort_unstable();
            Ok(Latencies(latencies))
        })
    }

    /// Resets the daemon's peak resident memory (VmHWM) to its current resident memory.
    fn reset_peak_rss(&self) -> anyhow::Result<()> {
        fs::write(format!("/proc/{}/clear_refs", self.daemon.pid()), "5").context("resetting VmHWM")
    }

    /// The daemon's peak resident memory (VmHWM), in KiB.
    fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.daemon.pid()))?;
        let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).context("no VmHWM in /proc/<pid>/status")?;
        line.trim().trim_end_matches("kB").trim().parse().with_context(|| format!("VmHWM {line:?}"))
    }
}

/// Sorted latencies.
struct Latencies(Vec<Duration>);

impl Latencies {
    fn p99(&self) -> Duration {
        self.0[(self.0.len() * 99).div_ceil(100) - 1]
    }
}

/// `GET /supervisor/ping` one after another on one keep-alive connection until `stop`.
fn ping_until(address: SocketAddr, token: &str, stop: &AtomicBool) -> anyhow::Result<Vec<Duration>> {
    let stream = TcpStream::connect(address).context("connecting the pings")?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(CALL_TIMEOUT))?;
    let request = format!("GET /supervisor/ping HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n");
    let mut reader = BufReader::new(stream.try_clone()?);
    let (mut writer, mut line, mut body) = (stream, String::new(), Vec::new());
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        writer.write_all(request.as_bytes())?;
        line.clear();
        reader.read_line(&mut line)?;
        ensure!(line.starts_with("HTTP/1.1 200"), "a ping was answered {line:?}");
        let mut length = 0;
        loop {
            line.clear();
            ensure!(reader.read_line(&mut line)? > 0, "the daemon closed the ping connection");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                }
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
        latencies.push(sent.elapsed());
        std::thread::sleep(PING_PAUSE);
    }
    Ok(latencies)
}

/// What a generated file holds.
#[derive(Clone, Copy)]
enum Kind {
    /// Incompressible bytes.
    Random,
    /// Log lines: compresses several times over, like the text files of a `share` folder.
    Text,
    Zeros,
}

/// Fills `share` with the mixed data: half random, a quarter text, a quarter zeros. Returns the
/// number of files.
fn generate_mixed(share: &Path, random: &mut Random) -> anyhow::Result<usize> {
    let mut files = write_files(&share.join("random"), Kind::Random, DATA / 2, random)?;
    files += write_files(&share.join("text"), Kind::Text, DATA / 4, random)?;
    files += write_files(&share.join("zeros"), Kind::Zeros, DATA / 4, random)?;
    Ok(files)
}

/// Writes files of `kind` and of random sizes, `budget` bytes in all, into subdirectories of
/// `dir`. Returns the number of files.
fn write_files(dir: &Path, kind: Kind, budget: u64, random: &mut Random) -> anyhow::Result<usize> {
    let mut chunk = Vec::with_capacity(CHUNK + 256);
    let (mut left, mut count) = (budget, 0);
    while left > 0 {
        let size = random.file_size().min(left);
        let folder: PathBuf = dir.join(format!("{:02}", count / FILES_PER_DIR));
        fs::create_dir_all(&folder)?;
        let path = folder.join(format!("{count:03}.dat"));
        let mut file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut written = 0;
        while written < size {
            let length = (size - written).min(CHUNK as u64) as usize;
            match kind {
                Kind::Random => {
                    chunk.resize(length, 0);
                    random.fill(&mut chunk);
                }
                Kind::Text => random.text(&mut chunk, length),
                Kind::Zeros => {
                    chunk.clear();
                    chunk.resize(length, 0);
                }
            }
            file.write_all(&chunk)?;
            written += length as u64;
        }
        left -= size;
        count += 1;
    }
    Ok(count)
}

/// splitmix64: fast, and random enough that no compressor finds anything in its bytes.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn fill(&mut self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
    }

    /// Log-uniform between [`SMALLEST`] and [`LARGEST`].
    fn file_size(&mut self) -> u64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let (low, high) = ((SMALLEST as f64).ln(), (LARGEST as f64).ln());
        (low + unit * (high - low)).exp() as u64
    }

    /// `length` bytes of log lines into `out`.
    fn text(&mut self, out: &mut Vec<u8>, length: usize) {
        const LEVELS: [&str; 4] = ["DEBUG", "INFO", "WARNING", "ERROR"];
        const COMPONENTS: [&str; 8] =
            ["recorder", "zha", "mqtt", "http", "automation", "sensor.energy", "light.kitchen", "esphome"];
        const WORDS: [&str; 24] = [
            "state",
            "changed",
            "from",
            "to",
            "unavailable",
            "on",
            "off",
            "connected",
            "device",
            "attribute",
            "timeout",
            "while",
            "updating",
            "entity",
            "brightness",
            "temperature",
            "received",
            "message",
            "topic",
            "retrying",
            "in",
            "seconds",
            "home",
            "living_room",
        ];
        out.clear();
        while out.len() < length {
            let (day, second, millis) = (self.below(28) + 1, self.below(86_400), self.below(1000));
            let level = LEVELS[self.below(4) as usize];
            let component = COMPONENTS[self.below(8) as usize];
            let _ = write!(
                out,
                "2025-06-{day:02} {:02}:{:02}:{:02}.{millis:03} {level} [homeassistant.components.{component}]",
                second / 3600,
                second / 60 % 60,
                second % 60,
            );
            for _ in 0..3 + self.below(8) {
                out.push(b' ');
                out.extend_from_slice(WORDS[self.below(24) as usize].as_bytes());
            }
            let _ = writeln!(out, " value={}", self.below(100_000));
        }
        out.truncate(length);
    }
}
