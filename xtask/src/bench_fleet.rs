//! The fleet part of `cargo xtask bench`, `fleet`: the time to schedule and start 50 instances
//! across three supervisor nodes, and to start a killed node's instances elsewhere. The scenario
//! needs the black-box harness (a three-member etcd cluster, a registry, a controller, three
//! daemons), so it is the ignored e2e test `fleet::fleet_bench`, run here against the release
//! builds of the daemon and the controller; it prints one `bench fleet:` line.

use std::path::Path;

pub(crate) fn run(root: &Path, release_dir: &Path) -> anyhow::Result<()> {
    crate::run(root, "cargo", &["build", "--release", "-p", "controller"])?;
    let status = std::process::Command::new("cargo")
        .current_dir(root)
        .env("SUPERVISOR_BIN_DIR", release_dir)
        .args(["test", "-p", "e2e", "--test", "e2e", "fleet::fleet_bench", "--", "--ignored", "--exact", "--nocapture"])
        .status()?;
    anyhow::ensure!(status.success(), "the fleet benchmark failed");
    Ok(())
}
