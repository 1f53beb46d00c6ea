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
mod bench_fleet;
mod bench_footprint;
mod bench_host;
mod bench_plugins;
mod bench_soak;
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
    let path = root.join("openapi/controller.json");
    let document = controller::openapi().to_pretty_json()? + "\n";
    std::fs::write(&path, document).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn test(root: &Path) -> anyhow::Result<()> {
    test_images::run()?;
    run(root, "cargo", &["build", "--workspace", "--bins"])?;
    let (passed, failed, failures) = test_counts(root)?;
    let (fuzz_passed, fuzz_failed) = fuzz::run(root, fuzz::TEST_SECONDS)?;
    let (passed, failed) = (passed + fuzz_passed, failed + fuzz_failed);
    // The failures again at the very end, where a reader of only the log's tail (a CI summary)
    // sees why, not only which.
    for failure in &failures {
        println!("{failure}");
    }
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

/// How many lines of a failed test's output the closing digest repeats, and how long each.
const DIGEST_LINES: usize = 6;
const DIGEST_WIDTH: usize = 400;

/// Runs every test, passing the output through, and adds up cargo's `test result:` lines;
/// answers the counts and a short digest of each failure (its name and first lines of output).
fn test_counts(root: &Path) -> anyhow::Result<(u64, u64, Vec<String>)> {
    use std::io::{BufRead, BufReader};
    eprintln!("+ cargo test --workspace --no-fail-fast");
    let mut child = Command::new("cargo")
        .args(["test", "--workspace", "--no-fail-fast"])
        .current_dir(root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let (mut passed, mut failed) = (0, 0);
    let mut digest = FailureDigest::default();
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        println!("{line}");
        digest.feed(&line);
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
    Ok((passed, failed, digest.failures))
}

/// The failures of cargo test's output, each its name, the first lines of its
/// `---- <test> stdout ----` block and the daemon's warnings and errors the block shows.
#[derive(Default)]
struct FailureDigest {
    failures: Vec<String>,
    /// Inside a block: how many of its lines are kept so far.
    block: Option<usize>,
    /// How many of the block's daemon lines are kept so far.
    daemon_lines: usize,
}

/// What the e2e harness prints before each warning or error of a failed test's daemon
/// (`tests/src/lib.rs`): the cause behind an API's "check the logs".
const DAEMON_PREFIX: &str = "daemon> ";
const DIGEST_DAEMON_LINES: usize = 8;

impl FailureDigest {
    fn feed(&mut self, line: &str) {
        if let Some(name) = line.strip_prefix("---- ").and_then(|rest| rest.strip_suffix(" stdout ----")) {
            self.failures.push(format!("FAILED {name}"));
            self.block = Some(0);
            self.daemon_lines = 0;
            return;
        }
        if line == "failures:" || line == "successes:" {
            self.daemon_lines = DIGEST_DAEMON_LINES;
        }
        if line.starts_with(DAEMON_PREFIX) && self.daemon_lines < DIGEST_DAEMON_LINES {
            if let Some(failure) = self.failures.last_mut() {
                let short: String = line.chars().take(DIGEST_WIDTH).collect();
                failure.push_str(&format!("\n    {short}"));
                self.daemon_lines += 1;
                return;
            }
        }
        // The backtrace that follows a panic's message says nothing a reader of the digest needs.
        if line == "failures:" || line == "successes:" || line.trim() == "stack backtrace:" {
            self.block = None;
        }
        if let (Some(kept), Some(failure)) = (self.block.as_mut(), self.failures.last_mut()) {
            if *kept < DIGEST_LINES && !line.trim().is_empty() {
                let short: String = line.chars().take(DIGEST_WIDTH).collect();
                failure.push_str(&format!("\n    {short}"));
                *kept += 1;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::FailureDigest;

    #[test]
    fn the_digest_keeps_each_failures_name_and_first_lines() {
        let output = "running 2 tests\ntest a::b ... FAILED\n\nfailures:\n\n---- a::b stdout ----\n\
            thread 'a::b' panicked at tests/a.rs:3:5:\ngave up waiting\n1\n2\n3\n4\n5\n\n\
            ---- a::c stdout ----\nboom\nstack backtrace:\n   0: main\ndaemon> ERROR build failed: gone\n\n\
            failures:\n    a::b\n    a::c\n";
        let mut digest = FailureDigest::default();
        output.lines().for_each(|line| digest.feed(line));
        assert_eq!(
            digest.failures,
            [
                "FAILED a::b\n    thread 'a::b' panicked at tests/a.rs:3:5:\n    gave up waiting\n    1\n    2\n    3\n    4",
                "FAILED a::c\n    boom\n    daemon> ERROR build failed: gone",
            ]
        );
    }
}
