//! `cargo xtask fuzz [seconds]`: the `cargo fuzz` targets of `fuzz/` (the tar reader, the
//! SecureTar reader, the add-on config parser and the options schema), each run for a bounded
//! time from seeds written here; a crash, a hang or a leak fails its target. `test` runs it too.
//!
//! cargo-fuzz is installed into `target/tools` (CI keeps nothing outside the repository) and
//! needs nightly flags, which the stable toolchain takes with `RUSTC_BOOTSTRAP=1`.

use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGETS: [&str; 4] = ["tar_reader", "securetar_reader", "addon_config", "options_schema"];
/// Each target's time in `cargo xtask test`.
pub const TEST_SECONDS: u64 = 20;
const CARGO_FUZZ: &str = "cargo-fuzz@0.13.2";
/// The password of the SecureTar seeds, the one `fuzz/fuzz_targets/securetar_reader.rs` reads with.
const PASSWORD: &str = "fuzz";
/// One input running longer than this is a hang.
const INPUT_TIMEOUT_SECONDS: u64 = 30;

/// Runs every target for `seconds`; (targets passed, targets failed).
pub fn run(root: &Path, seconds: u64) -> anyhow::Result<(u64, u64)> {
    let cargo_fuzz = install(root)?;
    let fuzz = root.join("fuzz");
    write_seeds(root, &fuzz.join("corpus"))?;
    let cargo_fuzz = |args: &[String]| {
        eprintln!("+ RUSTC_BOOTSTRAP=1 cargo fuzz {}", args.join(" "));
        let mut command = Command::new(&cargo_fuzz);
        command.arg("fuzz").args(args).current_dir(root).env("RUSTC_BOOTSTRAP", "1");
        command
    };
    if !cargo_fuzz(&["build".into()]).status().context("running cargo fuzz build")?.success() {
        bail!("cargo fuzz build failed");
    }
    let (mut passed, mut failed) = (0, 0);
    for target in TARGETS {
        let args = [
            "run".into(),
            target.into(),
            "--".into(),
            format!("-max_total_time={seconds}"),
            format!("-timeout={INPUT_TIMEOUT_SECONDS}"),
        ];
        // libFuzzer reports every new input it keeps: the log goes to a file, and only its
        // verdict (or, on a failure, its end with the crash and the input's file) to the console.
        let artifacts = fuzz.join("artifacts").join(target);
        std::fs::create_dir_all(&artifacts).with_context(|| format!("creating {}", artifacts.display()))?;
        let log_path = artifacts.join("fuzz.log");
        let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let status =
            cargo_fuzz(&args).stdout(log.try_clone()?).stderr(log).status().context("running cargo fuzz run")?;
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if status.success() {
            let runs = log.lines().rev().find(|line| line.starts_with("Done ")).unwrap_or("done");
            println!("fuzz {target}: ok ({runs})");
            passed += 1;
        } else {
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("{}", lines[lines.len().saturating_sub(60)..].join("\n"));
            println!("fuzz {target}: FAILED ({status}; the log and the input are in {})", artifacts.display());
            failed += 1;
        }
    }
    Ok((passed, failed))
}

/// `target/tools/bin/cargo-fuzz`, installed from crates.io unless already there.
fn install(root: &Path) -> anyhow::Result<PathBuf> {
    let tools = root.join("target/tools");
    let binary = tools.join("bin/cargo-fuzz");
    if binary.exists() {
        return Ok(binary);
    }
    let tools = tools.to_str().context("the project's path is not UTF-8")?;
    crate::run(root, "cargo", &["install", "--locked", CARGO_FUZZ, "--root", tools])?;
    Ok(binary)
}

/// Seeds for each target, in the corpus directory `cargo fuzz run` reads and adds to: archives
/// made here, and the add-on configs of `store-fixtures/` (their schema and options seed the
/// schema target too).
fn write_seeds(root: &Path, corpus: &Path) -> anyhow::Result<()> {
    let dir = |target: &str| -> anyhow::Result<PathBuf> {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    };
    let tars = tar_seeds()?;
    let tar_dir = dir("tar_reader")?;
    for (index, tar) in tars.iter().enumerate() {
        std::fs::write(tar_dir.join(format!("seed-{index}")), tar)?;
    }
    let securetar_dir = dir("securetar_reader")?;
    let key = securetar::RootKey::new(PASSWORD)?;
    for (index, tar) in tars.iter().enumerate() {
        let mut encryptor = securetar::Encryptor::with_plaintext_size(Vec::new(), &key, tar.len() as u64)?;
        encryptor.write_all(tar)?;
        std::fs::write(securetar_dir.join(format!("seed-v3-{index}")), encryptor.finish()?.inner)?;
    }
    // v1 and v2 bodies cannot be made here (no AES writer); these seed their headers.
    let mut v2 = b"SecureTar\x02\0\0\0\0\0\0".to_vec();
    v2.extend_from_slice(&1024u64.to_be_bytes());
    v2.extend_from_slice(&[0x5a; 8 + 16 + 512]);
    std::fs::write(securetar_dir.join("seed-v2"), v2)?;
    std::fs::write(securetar_dir.join("seed-v1"), [0xa5; 16 + 512])?;
    let (config_dir, schema_dir) = (dir("addon_config")?, dir("options_schema")?);
    let fixtures = root.join("store-fixtures");
    for addon in std::fs::read_dir(&fixtures).with_context(|| format!("reading {}", fixtures.display()))? {
        let config = addon?.path().join("config.yaml");
        if let Ok(text) = std::fs::read(&config) {
            let name = config.parent().and_then(Path::file_name).context("an add-on folder")?;
            let name = format!("seed-{}", name.to_string_lossy());
            std::fs::write(config_dir.join(&name), &text)?;
            std::fs::write(schema_dir.join(&name), &text)?;
        }
    }
    Ok(())
}

/// Small archives with every kind of entry and header the reader handles: ustar and GNU headers,
/// directories, files, links, a GNU long name, PAX records, and the empty archive.
fn tar_seeds() -> anyhow::Result<Vec<Vec<u8>>> {
    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o640);
        header.set_mtime(1_700_000_000);
        header
    }
    let mut gnu = tar::Builder::new(Vec::new());
    gnu.append_data(&mut header(tar::EntryType::Directory, 0), "./data/", &[][..])?;
    gnu.append_data(&mut header(tar::EntryType::Regular, 5), "./data/options.json", &b"{}\n\n\n"[..])?;
    let long = format!("./data/{}/file", "long".repeat(40));
    gnu.append_data(&mut header(tar::EntryType::Regular, 3), &long, &b"abc"[..])?;
    gnu.append_link(&mut header(tar::EntryType::Symlink, 0), "./data/link", "options.json")?;
    gnu.append_link(&mut header(tar::EntryType::Link, 0), "./data/hard", "./data/options.json")?;
    let mut pax = tar::Builder::new(Vec::new());
    pax.append_pax_extensions([("path", &b"./share/\xc3\xbcnicode"[..]), ("mtime", b"1700000000.5")])?;
    let mut ustar = tar::Header::new_ustar();
    ustar.set_entry_type(tar::EntryType::Regular);
    ustar.set_size(700);
    ustar.set_mode(0o600);
    pax.append_data(&mut ustar, "./share/file", &[7u8; 700][..])?;
    Ok(vec![gnu.into_inner()?, pax.into_inner()?, vec![0; 1024]])
}
