//! What the application endpoints do, over the state engine: the target state stored and
//! applied, the applications' and services' state as the balena Supervisor reports it, restart,
//! purge and the service actions behind the update locks, the services' container ids and
//! logs, and the clean-up of volumes no application names.
//!
//! A caller's [`Scope`] decides which applications it sees and may act on.

use crate::engine::Container;
use crate::keys::Scope;
use crate::target::{Posted, Service, Target};
use crate::BalenaManager;
use base::Error;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use jobs::{JobLimit, JobSpec};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use update_locks::LockError;

/// The `error_key` of a refusal because a service holds its update lock (423).
pub const UPDATES_LOCKED: &str = "updates_locked";

/// What an application action does to its services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppAction {
    /// Makes every container again.
    Restart,
    /// Makes every container again with its volumes emptied.
    Purge,
}

/// What a service action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    Restart,
    Stop,
    Start,
}

/// Which service a service action names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Name(String),
    ImageId(u32),
}

fn locked(error: LockError) -> Error {
    match error {
        LockError::Locked(message) => Error::conflict(message).with_key(UPDATES_LOCKED),
        LockError::Failed(message) => Error::internal(message),
    }
}

impl BalenaManager {
    /// The stored target state.
    pub fn target(&self) -> Target {
        self.target.get()
    }

    /// Stores a checked target state (on disk before it is answered) and starts applying it.
    pub fn set_target(&self, posted: Posted) -> Result<(), Error> {
        self.target
            .update(|target| *target = posted.target)
            .map_err(|e| Error::internal(format!("Can't store the target state: {e}")))?;
        tracing::info!(force = posted.force, "new target state");
        self.engine.trigger(posted.force);
        Ok(())
    }

    /// Names the device (the target's `name`).
    pub fn set_device_name(&self, name: String) -> Result<(), Error> {
        self.target
            .update(|target| target.name = name)
            .map(|_| ())
            .map_err(|e| Error::internal(format!("Can't store the device name: {e}")))
    }

    /// `/v1/update`: applies the target now, overriding the locks with `force`.
    pub fn update(&self, force: bool) {
        self.engine.trigger(force);
    }

    /// Whether the engine is still on its way to the target.
    pub fn applying(&self) -> bool {
        self.engine.pending()
    }

    /// Restarts or purges application `app_id`: its containers removed (and with a purge its
    /// volumes emptied) behind its update locks, then made again.
    pub async fn app_action(&self, app_id: u32, action: AppAction, force: bool) -> Result<(), Error> {
        let target = self.target.get();
        let app = target.apps.get(&app_id).ok_or_else(|| Error::not_found(format!("App not found: {app_id}")))?;
        let name = match action {
            AppAction::Restart => "balena_app_restart",
            AppAction::Purge => "balena_app_purge",
        };
        let spec = JobSpec::new(name).reference(app_id.to_string()).limit(JobLimit::Wait);
        self.parts
            .jobs
            .run(spec, |job| async move {
                {
                    let _busy = self.engine.busy.lock().await;
                    let _held = self.locks.lock(&[app_id], force).await.map_err(locked)?;
                    let docker = self.client()?;
                    for container in self.containers().await?.iter().filter(|c| c.app_id == app_id) {
                        self.remove_container(&docker, container).await?;
                    }
                    for service in app.services.values() {
                        self.engine.set_stopped(app_id, &service.service_name, false);
                    }
                    if action == AppAction::Purge {
                        for volume in app.volumes.keys() {
                            self.remove_volume(&self.resource_name(app_id, volume)).await?;
                        }
                        tracing::info!(app_id, "application purged");
                    }
                }
                self.apply_now(&job).await
            })
            .await
    }

    /// One pass of the engine inside the job of an action.
    async fn apply_now(&self, job: &jobs::Job) -> Result<(), Error> {
        match self.apply(job, false).await? {
            crate::engine::Applied::Converged => Ok(()),
            crate::engine::Applied::Locked(message) => {
                self.engine.trigger(false);
                Err(Error::conflict(message).with_key(UPDATES_LOCKED))
            }
        }
    }

    /// Restarts, stops or starts one service of application `app_id`.
    pub async fn service_action(
        &self,
        app_id: u32,
        selector: &Selector,
        action: ServiceAction,
        force: bool,
    ) -> Result<(), Error> {
        let target = self.target.get();
        let service = target
            .apps
            .get(&app_id)
            .and_then(|app| {
                app.services.values().find(|s| match selector {
                    Selector::Name(name) => &s.service_name == name,
                    Selector::ImageId(id) => s.image_id == *id,
                })
            })
            .ok_or_else(|| Error::not_found("Service not found, a container must exist for this action to succeed."))?
            .clone();
        let name = match action {
            ServiceAction::Restart => "balena_service_restart",
            ServiceAction::Stop => "balena_service_stop",
            ServiceAction::Start => "balena_service_start",
        };
        let spec = JobSpec::new(name).reference(format!("{app_id}/{}", service.service_name)).limit(JobLimit::Wait);
        self.parts.jobs.run(spec, |job| self.service_job(job, app_id, service, action, force)).await
    }

    async fn service_job(
        &self,
        job: jobs::Job,
        app_id: u32,
        service: Service,
        action: ServiceAction,
        force: bool,
    ) -> Result<(), Error> {
        {
            let _busy = self.engine.busy.lock().await;
            let docker = self.client()?;
            let containers: Vec<Container> = self
                .containers()
                .await?
                .into_iter()
                .filter(|c| c.app_id == app_id && c.service_name == service.service_name)
                .collect();
            match action {
                ServiceAction::Start => {
                    self.engine.set_stopped(app_id, &service.service_name, false);
                    if let Some(container) = containers.last() {
                        self.start(&docker, &container.name).await?;
                        return Ok(());
                    }
                }
                ServiceAction::Stop => {
                    let _held = self.locks.lock(&[app_id], force).await.map_err(locked)?;
                    self.engine.set_stopped(app_id, &service.service_name, true);
                    for container in &containers {
                        self.stop(&docker, &container.name).await?;
                    }
                    return Ok(());
                }
                ServiceAction::Restart => {
                    let _held = self.locks.lock(&[app_id], force).await.map_err(locked)?;
                    self.engine.set_stopped(app_id, &service.service_name, false);
                    for container in &containers {
                        self.remove_container(&docker, container).await?;
                    }
                }
            }
        }
        self.apply_now(&job).await
    }

    /// The containers the caller may see.
    async fn visible(&self, scope: Scope) -> Result<Vec<Container>, Error> {
        Ok(self.containers().await?.into_iter().filter(|c| scope.reaches(c.app_id)).collect())
    }

    /// `GET /v2/state/status`: the engine's state and the first application's containers and
    /// images, as the balena Supervisor reports one application there.
    pub async fn state_status(&self, scope: Scope) -> Result<Value, Error> {
        let target = self.target.get();
        let containers = self.visible(scope).await?;
        let app_id = target.apps.keys().copied().find(|id| scope.reaches(*id));
        let mut images = Vec::new();
        let mut progress = Vec::new();
        if let Some((app_id, app)) = app_id.and_then(|id| target.apps.get_key_value(&id)) {
            for service in app.services.values() {
                let download = self.engine.download(&self.parts.jobs, *app_id, &service.service_name);
                progress.extend(download);
                let container =
                    containers.iter().rev().find(|c| c.app_id == *app_id && c.service_name == service.service_name);
                images.push(json!({
                    "name": service.image,
                    "appId": app_id,
                    "serviceName": service.service_name,
                    "imageId": service.image_id,
                    "dockerImageId": container.map(|c| c.docker_image_id.clone()),
                    "status": if download.is_some() { "Downloading" } else { "Downloaded" },
                    "downloadProgress": download,
                }));
            }
        }
        let containers: Vec<Value> = containers
            .iter()
            .filter(|c| Some(c.app_id) == app_id)
            .map(|c| {
                json!({
                    "status": c.status(),
                    "serviceName": c.service_name,
                    "appId": c.app_id,
                    "imageId": c.image_id,
                    "serviceId": c.service_id,
                    "containerId": c.id,
                    "createdAt": created_at(c.created),
                })
            })
            .collect();
        let overall =
            (!progress.is_empty()).then(|| progress.iter().map(|p| u32::from(*p)).sum::<u32>() / progress.len() as u32);
        let release = app_id.and_then(|id| target.apps.get(&id)).and_then(|app| app.commit.clone());
        Ok(json!({
            "status": "success",
            "appState": if self.applying() { "applying" } else { "applied" },
            "overallDownloadProgress": overall,
            "containers": containers,
            "images": images,
            "release": release,
        }))
    }

    /// The status of each service of an application: its newest container's, else whether
    /// its image is on its way.
    async fn service_states(&self, app_id: u32, containers: &[Container]) -> Vec<(Service, &'static str, Option<u8>)> {
        let target = self.target.get();
        let Some(app) = target.apps.get(&app_id) else { return Vec::new() };
        app.services
            .values()
            .map(|service| {
                let download = self.engine.download(&self.parts.jobs, app_id, &service.service_name);
                let container =
                    containers.iter().rev().find(|c| c.app_id == app_id && c.service_name == service.service_name);
                let status = match (download, container) {
                    (Some(_), _) => "Downloading",
                    (None, Some(container)) => container.status(),
                    (None, None) => "Downloaded",
                };
                (service.clone(), status, download)
            })
            .collect()
    }

    /// `GET /v2/applications/state`: every application the caller reaches, by name.
    pub async fn applications_state(&self, scope: Scope) -> Result<Value, Error> {
        let target = self.target.get();
        let containers = self.visible(scope).await?;
        let mut answer = Map::new();
        for (app_id, app) in target.apps.iter().filter(|(id, _)| scope.reaches(**id)) {
            let mut services = Map::new();
            for (service, status, download) in self.service_states(*app_id, &containers).await {
                services.insert(
                    service.service_name.clone(),
                    json!({"status": status, "image": service.image, "releaseId": app.release_id, "downloadProgress": download}),
                );
            }
            answer.insert(
                app.name.clone(),
                json!({"appId": app_id, "commit": app.commit, "updateStatus": if self.applying() { "applying" } else { "done" }, "services": services}),
            );
        }
        Ok(Value::Object(answer))
    }

    /// `GET /v2/applications/:appId/state`: `None` when the application does not exist (or the
    /// caller does not reach it).
    pub async fn application_state(&self, scope: Scope, app_id: u32) -> Result<Option<Value>, Error> {
        let target = self.target.get();
        let Some(app) = target.apps.get(&app_id).filter(|_| scope.reaches(app_id)) else { return Ok(None) };
        let containers = self.visible(scope).await?;
        let mut services = Map::new();
        for (service, status, download) in self.service_states(app_id, &containers).await {
            services.insert(
                service.image_id.to_string(),
                json!({"status": status, "releaseId": app.release_id, "download_progress": download}),
            );
        }
        Ok(Some(json!({
            "local": {app_id.to_string(): {"services": services}},
            "dependent": {},
            "commit": app.commit,
        })))
    }

    /// `GET /v1/apps/:appId`: the application of one container; `Err(invalid)` when it has
    /// several.
    pub async fn v1_app(&self, app_id: u32) -> Result<Value, Error> {
        let target = self.target.get();
        let app = target.apps.get(&app_id).ok_or_else(|| Error::not_found("App not found"))?;
        let (container, service) = self.single_container(app_id).await?;
        Ok(json!({
            "appId": app_id,
            "commit": app.commit,
            "releaseId": app.release_id,
            "imageId": service.image,
            "containerId": container.map(|c| c.id),
            "env": service.environment,
        }))
    }

    /// The one service of an application (its newest container, if any), for the v1
    /// endpoints that only work on single-container applications.
    async fn single_container(&self, app_id: u32) -> Result<(Option<Container>, Service), Error> {
        let target = self.target.get();
        let app = target.apps.get(&app_id).ok_or_else(|| Error::not_found("App not found"))?;
        let mut services = app.services.values();
        let (Some(service), None) = (services.next(), services.next()) else {
            return Err(Error::invalid(
                "This endpoint only works on single-container applications; use the v2 endpoints instead",
            ));
        };
        let containers = self.containers().await?;
        let container =
            containers.into_iter().rev().find(|c| c.app_id == app_id && c.service_name == service.service_name);
        Ok((container, service.clone()))
    }

    /// `/v1/apps/:appId/stop|start`: answers the container's id.
    pub async fn v1_stop_start(&self, app_id: u32, stop: bool, force: bool) -> Result<String, Error> {
        let (_, service) = self.single_container(app_id).await?;
        let action = if stop { ServiceAction::Stop } else { ServiceAction::Start };
        self.service_action(app_id, &Selector::Name(service.service_name.clone()), action, force).await?;
        let (container, _) = self.single_container(app_id).await?;
        container.map(|c| c.id).ok_or_else(|| Error::not_found("The application has no container"))
    }

    /// `GET /v2/containerId`: the container of each service the caller reaches, or of one.
    pub async fn container_ids(&self, scope: Scope) -> Result<Vec<(String, String)>, Error> {
        let mut ids: Vec<(String, String)> = Vec::new();
        for container in self.visible(scope).await? {
            // Newest last, so it wins.
            ids.retain(|(name, _)| name != &container.service_name);
            ids.push((container.service_name, container.id));
        }
        Ok(ids)
    }

    /// `/v2/cleanup-volumes`: removes this daemon's volumes that no application of the target
    /// the caller reaches names (volumes of applications it does not reach are left alone).
    pub async fn cleanup_volumes(&self, scope: Scope) -> Result<(), Error> {
        let target = self.target.get();
        let referenced: HashSet<String> = target
            .apps
            .iter()
            .flat_map(|(app_id, app)| app.volumes.keys().map(|name| self.resource_name(*app_id, name)))
            .collect();
        for (name, app_id) in self.volumes().await? {
            let reachable = app_id.is_some_and(|id| scope.reaches(id)) || scope == Scope::Global;
            if reachable && !referenced.contains(&name) {
                self.remove_volume(&name).await?;
            }
        }
        Ok(())
    }

    /// `/v2/local/logs`: every line the services' containers write from now on (and all of
    /// those that start meanwhile), as JSON lines `{"message", "timestamp", "serviceName",
    /// "serviceId"}`, after a first `{"message": "Streaming logs", "isSystem": true}`.
    pub fn local_logs(self: &Arc<Self>) -> BoxStream<'static, Bytes> {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(256);
        let manager = Arc::clone(self);
        tokio::spawn(async move {
            let mut following: HashSet<String> = HashSet::new();
            let mut first = true;
            while !sender.is_closed() {
                if let Ok(containers) = manager.containers().await {
                    for container in containers {
                        if !following.insert(container.id.clone()) {
                            continue;
                        }
                        // Those there when the stream began: from now on; later ones: all.
                        let tail = if first { Some(0) } else { None };
                        let Ok(log) = manager.parts.docker.container_log(&container.id, tail, true) else { continue };
                        tokio::spawn(forward(log, container, sender.clone()));
                    }
                    first = false;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let start = Bytes::from(format!("{}\n", json!({"message": "Streaming logs", "isSystem": true})));
        let lines = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|line| (line, receiver))
        });
        futures_util::stream::once(async move { start }).chain(lines).boxed()
    }
}

/// Sends each line of a container's log as a JSON line.
async fn forward(
    mut log: BoxStream<'static, Result<Bytes, Error>>,
    container: Container,
    sender: tokio::sync::mpsc::Sender<Bytes>,
) {
    let mut pending = Vec::new();
    while let Some(Ok(chunk)) = log.next().await {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let message = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let timestamp =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            let entry = json!({
                "message": message,
                "timestamp": timestamp,
                "serviceName": container.service_name,
                "serviceId": container.service_id,
            });
            if sender.send(Bytes::from(format!("{entry}\n"))).await.is_err() {
                return;
            }
        }
    }
}

/// A container's creation time as the balena Supervisor writes it.
fn created_at(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}
