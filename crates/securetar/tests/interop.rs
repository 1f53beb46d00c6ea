//! Interoperability with the Python `securetar` library from PyPI, both ways, in the layout the
//! Supervisor uses: a plain outer tar holding `backup.json` and encrypted inner archives.
//!
//! The library runs from the virtual environment `cargo xtask test-images` creates (or the
//! Python named by `SECURETAR_PYTHON`), through `tests/interop.py`.

mod common;

use common::{encrypt, pattern};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use securetar::{Decryptor, Encryptor, Error, Password, RootKey, Version, CHUNK_SIZE};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "interop password ✓";
/// Where `cargo xtask test-images` installs the library (xtask/src/test_tools.rs).
const VENV_PYTHON: &str = "/var/cache/supervisor-tests/securetar-2026.10.0/bin/python";

fn python() -> PathBuf {
    let python = std::env::var_os("SECURETAR_PYTHON").map_or_else(|| PathBuf::from(VENV_PYTHON), PathBuf::from);
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask test-images`, which creates the virtual environment with \
         securetar from PyPI (or set SECURETAR_PYTHON to a Python that has it)",
        python.display()
    );
    python
}

/// Runs `tests/interop.py` with `args` and returns what it printed.
fn interop(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop.py");
    let output = Command::new(python()).arg(script).args(args).output().expect("running Python");
    assert!(
        output.status.success(),
        "interop.py {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// A directory like the ones backed up: text, a file spanning several messages, an empty file,
/// an empty directory. Returns its files by path relative to it.
fn source_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let files = BTreeMap::from([
        ("configuration.yaml".to_owned(), b"homeassistant:\n  name: Home\n".to_vec()),
        ("deep/dir/big.bin".to_owned(), pattern(3 * CHUNK_SIZE + 123, 11)),
        ("deep/empty".to_owned(), Vec::new()),
    ]);
    for (path, content) in &files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    fs::create_dir_all(dir.join("empty-dir")).unwrap();
    files
}

/// The regular files of a tar stream, by path without the leading `./`.
fn tar_files(tar: impl Read) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let path = entry.path().unwrap().to_string_lossy().trim_start_matches("./").to_owned();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            files.insert(path, content);
        }
    }
    files
}

/// The regular files under `dir`, by relative path.
fn dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.insert(relative, fs::read(path).unwrap());
            }
        }
    }
    files
}

/// A `.tar.gz` of `dir`, as an inner archive of a backup holds.
fn tar_gz(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    builder.append_dir_all(".", dir).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// A tar of exactly `len` bytes (a multiple of 512, at least 1536): one file and the end blocks.
fn tar_of_len(len: usize, seed: u64) -> Vec<u8> {
    let content = pattern(len - 3 * 512, seed);
    let mut header = tar::Header::new_ustar();
    header.set_path("payload.bin").unwrap();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &content[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    assert_eq!(tar.len(), len);
    tar
}

fn append(outer: &mut tar::Builder<impl Write>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    outer.append_data(&mut header, name, data).unwrap();
}

/// Decrypts every inner archive of the outer tar at `path` with `password`.
fn decrypt_outer(path: &Path, password: &Password) -> BTreeMap<String, (Version, Vec<u8>)> {
    let mut outer = tar::Archive::new(fs::File::open(path).unwrap());
    let mut inner = BTreeMap::new();
    for entry in outer.entries().unwrap() {
        let entry = entry.unwrap();
        // `create_tar("./x.tar.gz")` stores `x.tar.gz` (Python's `Path` drops the `./`), while
        // `import_tar` keeps the name it is given.
        let name = entry.path().unwrap().to_string_lossy().trim_start_matches("./").to_owned();
        if name.ends_with(".tar") || name.ends_with(".tar.gz") {
            let mut decryptor = Decryptor::new(entry, password).unwrap();
            let mut plaintext = Vec::new();
            decryptor.read_to_end(&mut plaintext).unwrap();
            inner.insert(name, (decryptor.version(), plaintext));
        }
    }
    inner
}

#[test]
fn python_reads_what_we_write() {
    let work = tempfile::tempdir().unwrap();
    let (config, share) = (work.path().join("config"), work.path().join("share"));
    let config_files = source_tree(&config);
    fs::create_dir_all(&share).unwrap();
    fs::write(share.join("note.txt"), "shared").unwrap();

    // One root key for the whole backup, as the Supervisor's archive has one key context.
    let root = RootKey::new(PASSWORD).unwrap();
    let plaintexts = BTreeMap::from([
        ("homeassistant.tar.gz", tar_gz(&config)),
        ("share.tar.gz", tar_gz(&share)),
        // Exactly two messages, and a tar of nothing but end blocks (one message, FINAL only).
        ("exact.tar", tar_of_len(2 * CHUNK_SIZE, 12)),
        ("empty.tar", vec![0; 1024]),
    ]);
    let outer_path = work.path().join("backup.tar");
    let mut outer = tar::Builder::new(fs::File::create(&outer_path).unwrap());
    append(&mut outer, "./backup.json", br#"{"slug": "interop", "protected": true}"#);
    for (name, plaintext) in &plaintexts {
        let encrypted = if *name == "share.tar.gz" {
            // The other way to write: the size announced up front, no rewrite.
            let mut encryptor = Encryptor::with_plaintext_size(Vec::new(), &root, plaintext.len() as u64).unwrap();
            encryptor.write_all(plaintext).unwrap();
            encryptor.finish().unwrap().inner
        } else {
            encrypt(plaintext, &root)
        };
        append(&mut outer, &format!("./{name}"), &encrypted);
    }
    outer.into_inner().unwrap().flush().unwrap();

    let out = work.path().join("out");
    fs::create_dir(&out).unwrap();
    let report = interop(&["read", outer_path.to_str().unwrap(), PASSWORD, out.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report.as_object().unwrap().len(), plaintexts.len(), "{report}");
    for (name, plaintext) in &plaintexts {
        assert_eq!(report[name]["valid"], true, "Python validates {name}: {report}");
        assert!(fs::read(out.join(name)).unwrap() == *plaintext, "Python decrypts {name} to our plaintext");
    }
    assert_eq!(dir_files(&out.join("homeassistant.tar.gz.d")), config_files);
    assert_eq!(dir_files(&out.join("share.tar.gz.d")), BTreeMap::from([("note.txt".to_owned(), b"shared".to_vec())]));

    // A wrong password: Python's password check fails on every archive.
    let report: serde_json::Value =
        serde_json::from_str(&interop(&["check", outer_path.to_str().unwrap(), "not the password"])).unwrap();
    let refused = plaintexts.keys().map(|name| (name.to_string(), false.into())).collect();
    assert_eq!(report, serde_json::Value::Object(refused));
}

/// Python writes a backup with `version`; we decrypt every inner archive to what it holds.
fn we_read_what_python_writes(version: Version, number: &str) {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let files = source_tree(&src);
    // Imported as they are: tars of one and two messages and more, and an empty tar.
    let plain = work.path().join("plain");
    fs::create_dir(&plain).unwrap();
    let imported = BTreeMap::from([
        ("one.tar".to_owned(), tar_of_len(CHUNK_SIZE, 21)),
        ("more.tar".to_owned(), tar_of_len(2 * CHUNK_SIZE + 512, 22)),
        ("empty.tar".to_owned(), vec![0; 1024]),
    ]);
    for (name, content) in &imported {
        fs::write(plain.join(name), content).unwrap();
    }
    let outer = work.path().join("backup.tar");
    let args = [outer.to_str().unwrap(), PASSWORD, number, src.to_str().unwrap(), plain.to_str().unwrap()];
    interop(&[&["write"], &args[..]].concat());

    let mut inner = decrypt_outer(&outer, &Password::new(PASSWORD));
    let (data_version, data) = inner.remove("data.tar.gz").expect("the archive made with create_tar");
    assert_eq!(data_version, version);
    assert_eq!(tar_files(GzDecoder::new(&data[..])), files);
    assert_eq!(inner.values().map(|(version, _)| *version).collect::<Vec<_>>(), vec![version; imported.len()]);
    let plaintexts: BTreeMap<String, Vec<u8>> = inner.into_iter().map(|(name, (_, data))| (name, data)).collect();
    assert!(plaintexts == imported, "imported archives decrypt to what Python imported");

    // A wrong password is known from the first inner archive.
    let data = encrypted_member(&outer, "data.tar.gz");
    let err = Decryptor::new(&data[..], &Password::new("not the password")).err();
    assert!(matches!(err, Some(Error::WrongPassword)), "{err:?}");

    // Cut short by a whole AES block or secretstream MAC, or by a byte: an error, not less data.
    let more = encrypted_member(&outer, "more.tar");
    for cut in [1, 16] {
        let mut decryptor = Decryptor::new(&more[..more.len() - cut], &Password::new(PASSWORD)).unwrap();
        let err = decryptor.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(matches!(Error::of(&err), Some(Error::Truncated)), "{version:?} cut by {cut}: {err}");
    }
}

/// The encrypted bytes of the inner archive `name` of the outer tar at `path`.
fn encrypted_member(path: &Path, name: &str) -> Vec<u8> {
    let mut outer = tar::Archive::new(fs::File::open(path).unwrap());
    let mut entry = outer.entries().unwrap().map(Result::unwrap).find(|entry| entry.path().unwrap().ends_with(name));
    let mut encrypted = Vec::new();
    entry.as_mut().expect(name).read_to_end(&mut encrypted).unwrap();
    encrypted
}

#[test]
fn we_read_what_python_writes_v3() {
    we_read_what_python_writes(Version::V3, "3");
}

#[test]
fn we_read_what_python_writes_v2() {
    we_read_what_python_writes(Version::V2, "2");
}

#[test]
fn we_read_legacy_v1() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let files = source_tree(&src);
    for gzip in ["0", "1"] {
        let inner = work.path().join(format!("inner-{gzip}"));
        interop(&["write-v1", inner.to_str().unwrap(), PASSWORD, src.to_str().unwrap(), gzip]);
        let encrypted = fs::read(&inner).unwrap();

        let mut decryptor = Decryptor::new(Cursor::new(&encrypted), &Password::new(PASSWORD)).unwrap();
        assert_eq!(decryptor.version(), Version::V1);
        let mut plaintext = Vec::new();
        decryptor.read_to_end(&mut plaintext).unwrap();
        // The tar reader stops at the end-of-archive blocks, before the padded gzip trailer.
        let found = if gzip == "1" { tar_files(GzDecoder::new(&plaintext[..])) } else { tar_files(&plaintext[..]) };
        assert_eq!(found, files, "gzip {gzip}");

        let err = Decryptor::new(Cursor::new(&encrypted), &Password::new("not the password")).err();
        assert!(matches!(err, Some(Error::WrongPassword)), "{err:?}");
    }
}
