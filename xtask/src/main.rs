//! Project chores, run as `cargo xtask <task>`:
//!
//! - `openapi`: writes the API's OpenAPI document to `openapi/openapi.json` and the access table
//!   generated from it (every operation × every kind of caller) to `openapi/access.tsv`, and the
//!   balena device API's document to `openapi/balena.json`;
//! - `test`: installs what the tests need, builds the binaries, runs the whole suite;
//! - `test-images`: installs the Debian packages the tests run and imports the add-on fixtures'
//!   base image (`test` does it first);
//! - `bench`: runs the benchmarks and prints their figures;
//! - `real-core`: builds (when missing) an image of a real Home Assistant Core from PyPI and runs
//!   the ignored test that points it at the supervisor (`real_core.rs`);
//! - `fuzz [seconds]`: runs each `cargo fuzz` target of `fuzz/` for a bounded time (`test` does
//!   it last, each target counting as one test).

mod bench;
mod bench_addons;
mod bench_backups;
mod bench_balena;
mod bench_host;
mod bench_plugins;
mod debian_image;
mod fuzz;
mod real_core;
mod test_images;
mod test_tools;
mod tidy;

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = project_root();
    match task.as_str() {
        "openapi" => openapi(&root),
        "test" => test(&root),
        "test-images" => test_images::run(),
        "bench" => bench::run(&root),
        "fuzz" => fuzz_task(&root),
        "real-core" => real_core::run(&root),
        _ => bail!("usage: cargo xtask <openapi|test|test-images|bench|fuzz [seconds]|real-core>"),
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
    let path = root.join("openapi/access.tsv");
    std::fs::write(&path, router::access_table()).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    let path = root.join("openapi/balena.json");
    let document = balena::openapi::openapi().to_pretty_json()? + "\n";
    std::fs::write(&path, document).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn test(root: &Path) -> anyhow::Result<()> {
    test_images::run()?;
    run(root, "cargo", &["build", "--workspace", "--bins"])?;
    let (passed, failed) = test_counts(root)?;
    let (fuzz_passed, fuzz_failed) = fuzz::run(root, fuzz::TEST_SECONDS)?;
    let (passed, failed) = (passed + fuzz_passed, failed + fuzz_failed);
    // One closing line for the whole suite; cargo's own last line is that of one binary only.
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} tests failed");
    }
    Ok(())
}

fn fuzz_task(root: &Path) -> anyhow::Result<()> {
    let seconds = match std::env::args().nth(2) {
        Some(seconds) => seconds.parse().with_context(|| format!("{seconds:?} is not a number of seconds"))?,
        None => fuzz::TEST_SECONDS,
    };
    let (passed, failed) = fuzz::run(root, seconds)?;
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} fuzz targets failed");
    }
    Ok(())
}

/// Runs every test, passing the output through, and adds up cargo's `test result:` lines.
fn test_counts(root: &Path) -> anyhow::Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    eprintln!("+ cargo test --workspace --no-fail-fast");
    let mut child = Command::new("cargo")
        .args(["test", "--workspace", "--no-fail-fast"])
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        println!("{line}");
        if let Some(result) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                result
                    .split(';')
                    .find_map(|part| part.trim().strip_suffix(word).map(str::trim))
                    .and_then(|n| n.rsplit(' ').next()?.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            passed += count("passed");
            failed += count("failed");
        }
    }
    let status = child.wait()?;
    if !status.success() && failed == 0 {
        bail!("cargo test failed: {status}");
    }
    Ok((passed, failed))
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
