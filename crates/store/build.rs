//! Packs the project's `store-fixtures/` folder into a tar in `OUT_DIR`, which `src/builtin.rs`
//! embeds: the built-in `core` add-on repository travels inside the binary, so an installed
//! supervisor or the container image never depends on where the source tree was built.
//!
//! The archive is reproducible (entries sorted, no owners or times, modes reduced to 0755/0644),
//! so the same folder gives the same bytes, and the hash the daemon keeps next to its unpacked
//! copy only changes when the repository does.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let source = manifest.join("../../store-fixtures");
    // A folder is scanned recursively by cargo: any file added, removed or changed repacks.
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    // Links would only be followed or refused at unpack; a repository shipped with the binary
    // has no reason to hold any, so the build stops instead.
    builder.follow_symlinks(false);
    append_tree(&mut builder, &source, Path::new(""));
    let archive = builder.into_inner().expect("finish the core repository archive");
    fs::write(out.join("core-repository.tar"), archive).expect("write the core repository archive");
}

/// Adds every entry below `dir` (named `prefix/...` in the archive) in name order.
fn append_tree(builder: &mut tar::Builder<Vec<u8>>, dir: &Path, prefix: &Path) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("can't read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry"))
        .collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let name = prefix.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            builder.append_dir(&name, &path).expect("add a folder");
            append_tree(builder, &path, &name);
        } else if kind.is_file() {
            builder.append_path_with_name(&path, &name).expect("add a file");
        } else {
            panic!("{} is neither a file nor a folder; the built-in repository may hold only those", path.display());
        }
    }
}
