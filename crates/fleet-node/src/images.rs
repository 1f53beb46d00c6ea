//! Image references as the fleet writes them (`<registry>/<repository>:<tag>`), and pulls that
//! report their progress while they run.

use crate::Node;
use jobs::JobSpec;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often a running pull's progress is read.
const PROGRESS_PERIOD: Duration = Duration::from_millis(300);

/// `reference` as repository and tag (`latest` when it names none). A colon before the last
/// slash is a registry's port, not a tag.
pub(crate) fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (reference, "latest"),
    }
}

/// The repository of `reference`, without its tag.
pub(crate) fn repository_of(reference: &str) -> &str {
    split_reference(reference).0
}

/// Pulls `reference` as the job `fleet_pull` (so the node's `/jobs` shows it), calling `report`
/// with the progress (0.0 to 1.0) whenever it moved.
pub(crate) async fn pull<F, Fut>(node: &Node, reference: &str, what: &str, mut report: F) -> Result<(), String>
where
    F: FnMut(f64) -> Fut,
    Fut: Future<Output = ()>,
{
    let (image, tag) = split_reference(reference);
    let (image, tag, docker) = (image.to_owned(), tag.to_owned(), Arc::clone(&node.docker));
    let spec = JobSpec::new("fleet_pull").reference(what);
    let uuid = node
        .jobs
        .start(spec, move |job| async move { docker.pull(&image, &tag, &job).await })
        .map_err(|e| e.message)?;
    let mut last = None;
    loop {
        let Some(info) = node.jobs.job(&uuid) else { return Err("the pull's job vanished".to_owned()) };
        if last != Some(info.progress) {
            last = Some(info.progress);
            report(info.progress / 100.0).await;
        }
        if info.done == Some(true) {
            // Done with it: the node's job list would otherwise keep every pull of the fleet.
            let _ = node.jobs.remove(&uuid);
            return match info.errors.into_iter().next() {
                Some(error) => Err(error.message),
                None => Ok(()),
            };
        }
        tokio::time::sleep(PROGRESS_PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_a_repository_and_a_tag() {
        assert_eq!(split_reference("127.0.0.1:5000/templates/t1:v2"), ("127.0.0.1:5000/templates/t1", "v2"));
        assert_eq!(split_reference("127.0.0.1:5000/templates/t1"), ("127.0.0.1:5000/templates/t1", "latest"));
        assert_eq!(split_reference("busybox:1"), ("busybox", "1"));
        assert_eq!(repository_of("supervisor-test-base:latest"), "supervisor-test-base");
    }
}
