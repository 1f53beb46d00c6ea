//! Embeds the pages: lists every file under `ui/` into `$OUT_DIR/ui_files.rs` as an
//! `include_bytes!` with its ETag, so the daemon carries its UI and serves it without a file
//! system or a build step of its own.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    // Read when the script runs, not baked in when it is compiled: a script built for a checkout
    // elsewhere (another worktree sharing the target folder) must still embed this one's files.
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("ui");
    // A folder makes cargo look at everything under it.
    println!("cargo:rerun-if-changed=ui");
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let relative = path.strip_prefix(&root).expect("under ui/").to_string_lossy().replace('\\', "/");
        let absolute = path.to_string_lossy();
        writeln!(
            out,
            "    crate::files::File {{ path: {relative:?}, bytes: include_bytes!({absolute:?}), etag: \"\\\"{:016x}\\\"\" }},",
            fnv1a(&bytes)
        )
        .expect("writing to a string");
    }
    out.push_str("]\n");
    let target = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("ui_files.rs");
    std::fs::write(&target, out).unwrap_or_else(|e| panic!("writing {}: {e}", target.display()));
}

/// Every file under `dir`, hidden ones (editors' leftovers) left out.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a folder entry");
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// FNV-1a: an ETag only has to change with the content.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}
