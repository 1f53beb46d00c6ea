//! The controller's one-off work for the node (`tasks/<node>/<task>`): pulling a template ahead
//! of use, removing a template's images, saving an instance's container as a new template
//! version. The node reports each under `task-status/<task>/<node>` (progress, done, error);
//! the controller removes both when it is done with them. A task whose status already says done
//! (the node restarted meanwhile) is not done again.

use crate::follow::{Change, Follow};
use crate::{images, instances, script, Node};
use bollard::models::ContainerConfig;
use bollard::query_parameters::{CommitContainerOptionsBuilder, ListImagesOptions, PushImageOptionsBuilder};
use fleet::{Keys, Task, TaskStatus};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Reads and watches the node's tasks for as long as the daemon lives.
pub(crate) async fn run(node: Arc<Node>) {
    node.docker.connect_until_ready(Duration::from_secs(2)).await;
    let prefix = node.keys.tasks_of(&node.id);
    // The tasks taken on, so that reading the range again does not start them twice.
    let mut taken: HashSet<String> = HashSet::new();
    let mut follow = Follow::new(node.etcd.clone(), prefix, "the node's tasks");
    loop {
        match follow.next().await {
            Change::Listed(listed) => {
                for kv in listed {
                    take(&node, &mut taken, &kv);
                }
            }
            Change::Events(events) => {
                for event in events {
                    match event.kind {
                        etcd::EventKind::Put => take(&node, &mut taken, &event.kv),
                        etcd::EventKind::Delete => {
                            taken.remove(Keys::id_of(&event.kv.key));
                        }
                    }
                }
            }
        }
    }
}

/// Starts the task in `kv` unless it was taken on already.
fn take(node: &Arc<Node>, taken: &mut HashSet<String>, kv: &etcd::KeyValue) {
    let id = Keys::id_of(&kv.key).to_owned();
    if taken.contains(&id) {
        return;
    }
    match kv.json::<Task>() {
        Ok(task) => {
            taken.insert(id.clone());
            tokio::spawn(perform(Arc::clone(node), id, task));
        }
        Err(e) => tracing::warn!(task = %id, "a task the node can't read: {e}"),
    }
}

async fn perform(node: Arc<Node>, id: String, task: Task) {
    let key = node.keys.task_status(&id, &node.id);
    if let Ok(Some((status, _))) = node.etcd.get_json::<TaskStatus>(&key).await {
        if status.done {
            return;
        }
    }
    tracing::info!(task = %id, "doing a fleet task: {task:?}");
    let mut status = TaskStatus { ts: chrono::Utc::now(), ..Default::default() };
    report(&node, &key, &status).await;
    let outcome = match &task {
        Task::Pull { template_id, tag, image } => pull(&node, &key, template_id, tag, image).await,
        Task::RemoveTemplate { repository, .. } => remove_template(&node, repository).await,
        Task::SaveImage { instance_id, image, script, cancel_on_script_failure, pause } => {
            let save =
                Save { script: script.as_deref(), cancel_on_script_failure: *cancel_on_script_failure, pause: *pause };
            save_image(&node, &mut status, instance_id, image, save).await
        }
    };
    status.done = true;
    match outcome {
        Ok(()) => status.progress = 1.0,
        Err(error) => {
            tracing::warn!(task = %id, "a fleet task failed: {error}");
            status.error = Some(error);
        }
    }
    status.ts = chrono::Utc::now();
    report(&node, &key, &status).await;
}

/// Writes a task's status, trying a few times: the controller waits for it.
async fn report(node: &Node, key: &str, status: &TaskStatus) {
    for attempt in 0..5 {
        match node.etcd.put_json(key, status, None).await {
            Ok(_) => return,
            Err(e) => tracing::warn!(key, "can't report a task's status: {e}"),
        }
        tokio::time::sleep(crate::join::backoff(attempt)).await;
    }
}

async fn pull(node: &Node, key: &str, template_id: &str, tag: &str, image: &str) -> Result<(), String> {
    images::pull(node, image, template_id, |progress| async move {
        let status = TaskStatus { progress, ts: chrono::Utc::now(), ..Default::default() };
        report(node, key, &status).await
    })
    .await?;
    let template = fleet::TemplateOnNode {
        uuid: template_id.to_owned(),
        name: images::repository_of(image).to_owned(),
        tag: tag.to_owned(),
    };
    node.heartbeat.holds(image, template);
    Ok(())
}

/// Removes every tag of `repository` from the engine.
async fn remove_template(node: &Node, repository: &str) -> Result<(), String> {
    let docker = node.docker.client().map_err(|e| e.message)?;
    let listed =
        docker.list_images(None::<ListImagesOptions>).await.map_err(|e| format!("can't list the images: {e}"))?;
    let mut errors = Vec::new();
    for reference in listed.iter().flat_map(|image| &image.repo_tags) {
        if images::repository_of(reference) != repository {
            continue;
        }
        match docker.remove_image(reference, None::<bollard::query_parameters::RemoveImageOptions>, None).await {
            Ok(_) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                tracing::info!(image = %reference, "removed a template's image")
            }
            Err(e) => errors.push(format!("{reference}: {e}")),
        }
    }
    node.heartbeat.dropped_repository(repository);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("can't remove every image of {repository}: {}", errors.join("; ")))
    }
}

/// How to save an instance: the script to run first, and whether to pause it while committing.
struct Save<'a> {
    script: Option<&'a str>,
    cancel_on_script_failure: bool,
    pause: bool,
}

/// Commits the instance's container as `image` and pushes it; the local tag goes after the push
/// (the registry holds the template from then on).
async fn save_image(
    node: &Node,
    status: &mut TaskStatus,
    instance_id: &str,
    image: &str,
    save: Save<'_>,
) -> Result<(), String> {
    let Save { script, cancel_on_script_failure, pause } = save;
    let docker = node.docker.client().map_err(|e| e.message)?;
    let container = instances::container_name(node, instance_id);
    if let Some(source) = script {
        let result = script::run(&docker, &container, source, script::DEFAULT_TIMEOUT).await;
        let failed = script::failed_instance(&result);
        status.script_result = Some(result);
        if failed && cancel_on_script_failure {
            return Err("the script before the save failed; nothing was saved".to_owned());
        }
    }
    let (repository, tag) = images::split_reference(image);
    let options =
        CommitContainerOptionsBuilder::default().container(&container).repo(repository).tag(tag).pause(pause).build();
    docker
        .commit_container(options, ContainerConfig::default())
        .await
        .map_err(|e| format!("can't commit the instance's container: {e}"))?;
    let options = PushImageOptionsBuilder::default().tag(tag).build();
    let mut pushing = docker.push_image(repository, Some(options), node.docker.credentials_for(image));
    let mut pushed = Ok(());
    while let Some(item) = pushing.next().await {
        let failure = match item {
            Ok(info) => info.error_detail.and_then(|detail| detail.message),
            Err(e) => Some(e.to_string()),
        };
        if let Some(failure) = failure {
            pushed = Err(format!("can't push {image}: {failure}"));
            break;
        }
    }
    node.docker.remove_image(repository, tag).await;
    pushed
}
