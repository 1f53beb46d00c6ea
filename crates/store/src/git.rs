//! The git operations a repository needs, done by the real `git` binary: it speaks every
//! transport and credential helper users already configured, and a clone is a plain checkout
//! anyone can inspect.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// A clone or pull that takes longer than this is stuck (a dead server that keeps the socket
/// open); it is killed so the store's lock is released.
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

/// Clones `url` (at `branch` when given) into `dest`, shallow, with submodules.
pub(crate) async fn clone(url: &str, branch: Option<&str>, dest: &Path) -> Result<(), String> {
    let mut args = vec!["clone", "--depth", "1", "--recurse-submodules", "--shallow-submodules"];
    if let Some(branch) = branch {
        args.extend(["--branch", branch]);
    }
    let dest = dest.to_str().ok_or("the repository folder is not valid UTF-8")?;
    // `--` ends the options: nothing in the URL can be read as one.
    args.extend(["--", url, dest]);
    run(&args, None).await
}

/// Brings the clone in `dir` to the newest commit of its branch. This is `git pull` made
/// robust: fetch and hard reset, so a force-pushed branch or a local change cannot stop it.
pub(crate) async fn pull(dir: &Path) -> Result<(), String> {
    run(&["fetch", "--depth", "1", "--update-shallow", "--prune", "--no-tags"], Some(dir)).await?;
    run(&["reset", "--hard", "@{upstream}"], Some(dir)).await?;
    run(&["submodule", "update", "--init", "--recursive", "--depth", "1"], Some(dir)).await?;
    // Leftovers of an older checkout would otherwise be read as add-ons.
    run(&["clean", "-xdff"], Some(dir)).await
}

/// Checks the clone in `dir`: a repository whose objects are all there and sound (`git fsck`).
pub(crate) async fn verify(dir: &Path) -> Result<(), String> {
    run(&["fsck", "--no-progress"], Some(dir)).await
}

/// Whether the remote `url` answers with its branches: a pull that fails while it does failed
/// on the local copy.
pub(crate) async fn reachable(url: &str) -> Result<(), String> {
    run(&["ls-remote", "--heads", "--", url], None).await
}

/// Runs git; on failure answers its last line of error output (git's own explanation).
async fn run(args: &[&str], cwd: Option<&Path>) -> Result<(), String> {
    let mut command = Command::new("git");
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // A cancelled job drops this future; git must not outlive it.
        .kill_on_drop(true);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
        // A clone broken so that git does not see a repository in it must not make git work
        // on a repository around it (the data directory inside a checkout, say).
        if let Some(parent) = cwd.parent() {
            command.env("GIT_CEILING_DIRECTORIES", parent);
        }
    }
    let child = command.spawn().map_err(|e| format!("git cannot be run: {e}"))?;
    let output = match tokio::time::timeout(GIT_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => output.map_err(|e| format!("git failed: {e}"))?,
        Err(_) => return Err(format!("git {} took longer than {}s", args[0], GIT_TIMEOUT.as_secs())),
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no error output");
    Err(format!("git {} failed ({}): {reason}", args[0], output.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git").args(args).current_dir(dir).output().unwrap().status;
        assert!(status.success(), "git {args:?}");
    }

    #[tokio::test]
    async fn a_broken_checkout_is_never_taken_for_the_repository_around_it() {
        let outer = tempfile::tempdir().unwrap();
        git(outer.path(), &["init", "-q"]);
        let checkout = outer.path().join("checkout");
        std::fs::create_dir_all(checkout.join(".git")).unwrap();
        std::fs::write(checkout.join(".git/HEAD"), "garbage\n").unwrap();
        assert!(verify(outer.path()).await.is_ok(), "the repository around is sound");
        let broken = verify(&checkout).await.unwrap_err();
        assert!(broken.contains("not a git repository"), "{broken}");
    }
}
