//! Project chores, run as `cargo xtask <task>`:
//!
//! - `openapi`: writes the API's OpenAPI document to `openapi/openapi.json`;
//! - `test`: installs what the tests need, builds the binaries, runs the whole suite;
//! - `bench`: runs the benchmarks and prints their figures.

mod bench;

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = project_root();
    match task.as_str() {
        "openapi" => openapi(&root),
        "test" => test(&root),
        "bench" => bench::run(&root),
        _ => bail!("usage: cargo xtask <openapi|test|bench>"),
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn openapi(root: &Path) -> anyhow::Result<()> {
    let path = root.join("openapi/openapi.json");
    let document = router::openapi().to_pretty_json()? + "\n";
    std::fs::write(&path, document).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn test(root: &Path) -> anyhow::Result<()> {
    run(root, "cargo", &["build", "--workspace", "--bins"])?;
    run(root, "cargo", &["test", "--workspace", "--no-fail-fast"])
}

fn run(root: &Path, program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("+ {program} {}", args.join(" "));
    let status =
        Command::new(program).args(args).current_dir(root).status().with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{program} {} failed: {status}", args.join(" "));
    }
    Ok(())
}
