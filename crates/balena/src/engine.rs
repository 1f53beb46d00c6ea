//! The state engine: converges the container engine to the stored target state, as jobs of the
//! job manager. Each pass makes the applications' networks and volumes, makes and starts the
//! services that are missing, replaces the ones whose definition changed with their update
//! strategy (`download-then-kill`, `kill-then-download`, `delete-then-download`, `hand-over`)
//! and removes what the target no longer names. Changing or removing a running service takes
//! its application's update locks first (`update_locks`); while a service holds its lock the
//! change waits, and the engine tries again until it lets go, unless forced (the call's or the
//! target's `SUPERVISOR_OVERRIDE_LOCK`).
//!
//! Everything it makes on the engine carries the daemon's instance prefix and the label
//! [`LABEL_SUPERVISED`], and is found again from the engine's own lists, so a pass started after
//! a kill -9 picks up where the last one stopped. A container's name ends with a hash of its
//! service's definition: a changed definition is a new container, and the old one is told apart.

use crate::supervisor_network::{enabled, LABEL_SUPERVISOR_API};
use crate::target::{App, Service, Target};
use crate::BalenaManager;
use base::Error;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptions, ListNetworksOptions, ListVolumesOptions,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, RemoveVolumeOptions, StopContainerOptionsBuilder,
};
use bollard::Docker;
use jobs::{Job, JobLimit, JobSpec};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;
use update_locks::{Held, LockError, MOUNT_POINTS};

/// On every container, volume and network the engine makes.
pub const LABEL_SUPERVISED: &str = "io.balena.supervised";
const LABEL_APP_ID: &str = "io.balena.app-id";
const LABEL_SERVICE_NAME: &str = "io.balena.service-name";
const LABEL_SERVICE_ID: &str = "io.balena.service-id";
const LABEL_IMAGE_ID: &str = "io.balena.image-id";
const LABEL_HASH: &str = "io.balena.config-hash";
/// The daemon's instance prefix, so that several daemons on one engine leave each other alone.
pub(crate) const LABEL_INSTANCE: &str = "io.balena.supervisor-instance";
/// What a new container of a hand-over writes into its lock folder once it took over.
const HANDOVER_FILES: [&str; 2] = ["handover-complete", "resin-kill-me"];
/// Seconds a service gets to stop.
const STOP_TIMEOUT: i32 = 10;

/// A container of a service, as the engine lists it.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub app_id: u32,
    pub service_name: String,
    pub service_id: u32,
    pub image_id: u32,
    pub image: String,
    pub docker_image_id: String,
    pub hash: String,
    /// The engine's state: `running`, `created`, `exited`...
    pub state: String,
    /// Seconds since the epoch.
    pub created: i64,
}

impl Container {
    /// The status the balena Supervisor reports for it.
    pub fn status(&self) -> &'static str {
        match self.state.as_str() {
            "running" => "Running",
            "created" => "Installed",
            "restarting" => "Restarting",
            "paused" => "Paused",
            "removing" => "Stopping",
            _ => "Stopped",
        }
    }
}

/// How a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Converged,
    /// A service holds its update lock: the change waits for it.
    Locked(String),
}

fn engine_error(what: &str, error: bollard::errors::Error) -> Error {
    Error::internal(format!("{what}: {error}"))
}

fn not_found(error: &bollard::errors::Error) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

impl BalenaManager {
    fn docker(&self) -> Result<Docker, Error> {
        self.parts.docker.client()
    }

    fn instance(&self) -> String {
        self.parts.docker.container_name("")
    }

    /// The engine's name of volume or network `name` of application `app_id`.
    pub fn resource_name(&self, app_id: u32, name: &str) -> String {
        format!("{}{app_id}_{name}", self.instance())
    }

    fn labels(&self, app_id: u32) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_SUPERVISED.to_owned(), "true".to_owned()),
            (LABEL_APP_ID.to_owned(), app_id.to_string()),
            (LABEL_INSTANCE.to_owned(), self.instance()),
        ])
    }

    fn filters(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([("label".to_owned(), vec![format!("{LABEL_INSTANCE}={}", self.instance())])])
    }

    /// The services' containers of this daemon, oldest first.
    pub async fn containers(&self) -> Result<Vec<Container>, Error> {
        let options = ListContainersOptions { all: true, filters: Some(self.filters()), ..Default::default() };
        let listed = self
            .docker()?
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error("Can't list containers", e))?;
        let mut containers: Vec<Container> = listed
            .into_iter()
            .filter_map(|summary| {
                let labels = summary.labels.unwrap_or_default();
                let number = |key: &str| labels.get(key).and_then(|v| v.parse().ok());
                Some(Container {
                    id: summary.id?,
                    name: summary.names?.first()?.trim_start_matches('/').to_owned(),
                    app_id: number(LABEL_APP_ID)?,
                    service_name: labels.get(LABEL_SERVICE_NAME)?.clone(),
                    service_id: number(LABEL_SERVICE_ID).unwrap_or(0),
                    image_id: number(LABEL_IMAGE_ID).unwrap_or(0),
                    image: summary.image.unwrap_or_default(),
                    docker_image_id: summary.image_id.unwrap_or_default(),
                    hash: labels.get(LABEL_HASH).cloned().unwrap_or_default(),
                    state: summary.state.map(|s| s.to_string()).unwrap_or_default(),
                    created: summary.created.unwrap_or(0),
                })
            })
            .collect();
        containers.sort_by_key(|c| c.created);
        Ok(containers)
    }

    /// Runs passes until the engine has converged; a pass blocked by a lock or failed is tried
    /// again a moment later, and a new target or `/v1/update` starts one at once. Started once,
    /// at daemon start (so a pass cut short by a kill -9 is finished).
    pub async fn run_engine(self: std::sync::Arc<Self>) {
        while self.docker().is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut retry: Option<Duration> = Some(Duration::ZERO);
        loop {
            match retry {
                Some(after) => {
                    let _ = tokio::time::timeout(after, self.engine.wake.notified()).await;
                }
                None => self.engine.wake.notified().await,
            }
            let force = self.engine.take_force();
            let manager = std::sync::Arc::clone(&self);
            let spec = JobSpec::new("balena_apply_target").limit(JobLimit::Wait);
            let outcome = self.parts.jobs.run(spec, move |job| async move { manager.apply(&job, force).await }).await;
            retry = match outcome {
                Ok(Applied::Converged) => {
                    self.engine.set_blocked(None);
                    None
                }
                Ok(Applied::Locked(message)) => {
                    tracing::info!("update delayed: {message}");
                    self.engine.set_blocked(Some(message));
                    if force {
                        self.engine.request_force();
                    }
                    Some(Duration::from_secs(1))
                }
                Err(error) => {
                    tracing::warn!("target state not applied: {}", error.message);
                    Some(Duration::from_secs(3))
                }
            };
        }
    }

    /// One pass toward the target.
    pub(crate) async fn apply(&self, job: &Job, force: bool) -> Result<Applied, Error> {
        let _busy = self.engine.busy.lock().await;
        self.engine.set_applying(true);
        let result = self.apply_locked(job, force).await;
        self.engine.set_applying(false);
        result
    }

    async fn apply_locked(&self, job: &Job, force: bool) -> Result<Applied, Error> {
        let target = self.target.get();
        let force = force || target.override_lock();
        let docker = self.docker()?;
        let current = self.containers().await?;
        let mut blocked = None;

        // What the target no longer names goes first, behind its application's locks.
        let mut unwanted: BTreeMap<u32, Vec<&Container>> = BTreeMap::new();
        for container in &current {
            let wanted = target
                .apps
                .get(&container.app_id)
                .is_some_and(|app| app.services.values().any(|s| s.service_name == container.service_name));
            if !wanted {
                unwanted.entry(container.app_id).or_default().push(container);
            }
        }
        for (app_id, containers) in unwanted {
            match self.lock_app(app_id, force).await? {
                Ok(_held) => {
                    for container in containers {
                        self.remove_container(&docker, container).await?;
                    }
                }
                Err(message) => blocked = Some(message),
            }
        }

        for (app_id, app) in &target.apps {
            self.ensure_resources(&docker, *app_id, app).await?;
            let current = self.containers().await?;
            if let Applied::Locked(message) = self.apply_app(job, &docker, *app_id, app, &current, force).await? {
                blocked = Some(message);
            }
        }
        self.remove_networks(&docker, &target).await?;
        Ok(blocked.map_or(Applied::Converged, Applied::Locked))
    }

    /// Takes the locks of `app_id`; `Ok(Err(message))` when a service holds one.
    async fn lock_app(&self, app_id: u32, force: bool) -> Result<Result<Held, String>, Error> {
        match self.locks.lock(&[app_id], force).await {
            Ok(held) => Ok(Ok(held)),
            Err(LockError::Locked(message)) => Ok(Err(message)),
            Err(LockError::Failed(message)) => Err(Error::internal(message)),
        }
    }

    /// The services of one application: the ones sharing another's network after it.
    async fn apply_app(
        &self,
        job: &Job,
        docker: &Docker,
        app_id: u32,
        app: &App,
        current: &[Container],
        force: bool,
    ) -> Result<Applied, Error> {
        let mut services: Vec<&Service> = app.services.values().collect();
        services.sort_by_key(|s| s.shares_network_of().is_some());
        let mut held: Option<Held> = None;
        let mut hashes: HashMap<&str, String> = HashMap::new();
        let mut current: Vec<Container> = current.iter().filter(|c| c.app_id == app_id).cloned().collect();
        for service in services {
            let shared = service.shares_network_of().and_then(|name| hashes.get(name)).cloned();
            let hash = definition_hash(service, shared.as_deref());
            hashes.insert(&service.service_name, hash.clone());
            let mine: Vec<Container> =
                current.iter().filter(|c| c.service_name == service.service_name).cloned().collect();
            let (same, old): (Vec<Container>, Vec<Container>) = mine.into_iter().partition(|c| c.hash == hash);
            let stopped = self.engine.is_stopped(app_id, &service.service_name);
            if same.is_empty() && old.is_empty() {
                self.ensure_image(job, docker, app_id, service).await?;
                let created = self.create_container(docker, app_id, app, service, &hash).await?;
                if service.running && !stopped {
                    self.start(docker, &created).await?;
                }
                current = self.containers().await?.into_iter().filter(|c| c.app_id == app_id).collect();
                continue;
            }
            let needs_lock =
                !old.is_empty() || same.len() > 1 || (!service.running && same.iter().any(|c| c.state == "running"));
            if needs_lock && held.is_none() {
                match self.lock_app(app_id, force).await? {
                    Ok(locks) => held = Some(locks),
                    Err(message) => return Ok(Applied::Locked(message)),
                }
            }
            if let Some(keep) = same.last() {
                for extra in same.iter().filter(|c| c.id != keep.id).chain(&old) {
                    self.remove_container(docker, extra).await?;
                }
                if service.running && !stopped && keep.state != "running" {
                    self.start(docker, &keep.name).await?;
                } else if !service.running && keep.state == "running" {
                    self.stop(docker, &keep.name).await?;
                }
            } else {
                self.replace(job, docker, app_id, app, service, &hash, &old).await?;
            }
            current = self.containers().await?.into_iter().filter(|c| c.app_id == app_id).collect();
        }
        drop(held);
        Ok(Applied::Converged)
    }

    /// Replaces the `old` containers of `service` by a new one, in the order its update
    /// strategy says.
    #[allow(clippy::too_many_arguments)]
    async fn replace(
        &self,
        job: &Job,
        docker: &Docker,
        app_id: u32,
        app: &App,
        service: &Service,
        hash: &str,
        old: &[Container],
    ) -> Result<(), Error> {
        let strategy = service.strategy();
        tracing::info!(app_id, service = service.service_name, strategy, "replacing a changed service");
        let start = |name: String| async move {
            if service.running && !self.engine.is_stopped(app_id, &service.service_name) {
                self.start(docker, &name).await?;
            }
            Ok::<(), Error>(())
        };
        match strategy {
            "kill-then-download" | "delete-then-download" => {
                for container in old {
                    self.remove_container(docker, container).await?;
                }
                if strategy == "delete-then-download" {
                    self.remove_unused_images(docker, old, &service.image).await;
                }
                self.ensure_image(job, docker, app_id, service).await?;
                start(self.create_container(docker, app_id, app, service, hash).await?).await
            }
            "hand-over" => {
                self.ensure_image(job, docker, app_id, service).await?;
                let dir = self
                    .locks
                    .service_dir(&app_id, &service.service_name)
                    .map_err(|e| Error::internal(e.to_string()))?;
                for file in HANDOVER_FILES {
                    let _ = std::fs::remove_file(dir.join(file));
                }
                let new = self.create_container(docker, app_id, app, service, hash).await?;
                if let Err(e) = start(new.clone()).await {
                    // Both at once cannot be (a published host port, one device): the old one
                    // goes first, as with download-then-kill.
                    tracing::warn!(app_id, service = service.service_name, "no hand-over: {}", e.message);
                    for container in old {
                        self.remove_container(docker, container).await?;
                    }
                    return start(new).await;
                }
                let deadline = tokio::time::Instant::now() + Duration::from_millis(service.handover_timeout_ms());
                while tokio::time::Instant::now() < deadline && !HANDOVER_FILES.iter().any(|f| dir.join(f).exists()) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                for container in old {
                    self.remove_container(docker, container).await?;
                }
                for file in HANDOVER_FILES {
                    let _ = std::fs::remove_file(dir.join(file));
                }
                Ok(())
            }
            _ => {
                self.ensure_image(job, docker, app_id, service).await?;
                for container in old {
                    self.remove_container(docker, container).await?;
                }
                start(self.create_container(docker, app_id, app, service, hash).await?).await
            }
        }
    }

    /// The image of `service` on the engine: there already (a local one), else pulled.
    async fn ensure_image(&self, job: &Job, docker: &Docker, app_id: u32, service: &Service) -> Result<(), Error> {
        match docker.inspect_image(&service.image).await {
            Ok(_) => return Ok(()),
            Err(e) if !not_found(&e) => return Err(engine_error(&format!("Can't inspect image {}", service.image), e)),
            Err(_) => {}
        }
        let (name, tag) = split_reference(&service.image);
        let pulled = job
            .run_child(JobSpec::new("balena_image_pull").reference(service.image.clone()), |child| async move {
                self.engine.set_download(app_id, &service.service_name, Some(child.uuid().to_owned()));
                self.parts.docker.pull(name, tag, &child).await
            })
            .await;
        self.engine.set_download(app_id, &service.service_name, None);
        pulled
    }

    /// After a `delete-then-download`: the old containers' images no service of the target
    /// uses any more, removed before the new one comes; failures are only logged.
    async fn remove_unused_images(&self, docker: &Docker, old: &[Container], new_image: &str) {
        let target = self.target.get();
        let used: Vec<&str> =
            target.apps.values().flat_map(|app| app.services.values().map(|s| s.image.as_str())).collect();
        for container in old {
            if container.image == new_image || used.contains(&container.image.as_str()) {
                continue;
            }
            let options = RemoveImageOptionsBuilder::default().force(false).build();
            match docker.remove_image(&container.image, Some(options), None).await {
                Ok(_) => tracing::info!(image = container.image, "removed the old image"),
                Err(e) => tracing::info!(image = container.image, "old image kept: {e}"),
            }
        }
    }

    /// The application's networks (its `default` one among them) and volumes.
    async fn ensure_resources(&self, docker: &Docker, app_id: u32, app: &App) -> Result<(), Error> {
        let mut networks: Vec<(String, Option<&crate::target::Resource>)> =
            app.networks.iter().map(|(name, config)| (name.clone(), Some(config))).collect();
        if !app.networks.contains_key("default") {
            networks.push(("default".to_owned(), None));
        }
        for (name, config) in networks {
            let full = self.resource_name(app_id, &name);
            match docker.inspect_network(&full, None::<bollard::query_parameters::InspectNetworkOptions>).await {
                Ok(_) => continue,
                Err(e) if !not_found(&e) => return Err(engine_error(&format!("Can't inspect network {full}"), e)),
                Err(_) => {}
            }
            let mut labels = self.labels(app_id);
            labels.extend(config.map(|c| c.labels.clone()).unwrap_or_default());
            let request = NetworkCreateRequest {
                name: full.clone(),
                driver: Some(config.and_then(|c| c.driver.clone()).unwrap_or_else(|| "bridge".to_owned())),
                options: config.map(|c| c.driver_opts.clone().into_iter().collect()),
                labels: Some(labels),
                ..Default::default()
            };
            docker
                .create_network(request)
                .await
                .map_err(|e| engine_error(&format!("Can't create network {full}"), e))?;
            tracing::info!(network = full, "network made");
        }
        for (name, config) in &app.volumes {
            let full = self.resource_name(app_id, name);
            match docker.inspect_volume(&full).await {
                Ok(_) => continue,
                Err(e) if !not_found(&e) => return Err(engine_error(&format!("Can't inspect volume {full}"), e)),
                Err(_) => {}
            }
            let mut labels = self.labels(app_id);
            labels.extend(config.labels.clone());
            let request = VolumeCreateRequest {
                name: Some(full.clone()),
                driver: config.driver.clone(),
                driver_opts: Some(config.driver_opts.clone().into_iter().collect()),
                labels: Some(labels),
                ..Default::default()
            };
            docker.create_volume(request).await.map_err(|e| engine_error(&format!("Can't create volume {full}"), e))?;
            tracing::info!(volume = full, "volume made");
        }
        Ok(())
    }

    /// Removes the networks of this daemon no application of the target has.
    async fn remove_networks(&self, docker: &Docker, target: &Target) -> Result<(), Error> {
        let options = ListNetworksOptions { filters: Some(self.filters()) };
        let networks = docker.list_networks(Some(options)).await.map_err(|e| engine_error("Can't list networks", e))?;
        for network in networks {
            let Some(name) = network.name else { continue };
            let wanted = name == self.supervisor_network_name()
                || target.apps.iter().any(|(app_id, app)| {
                    name == self.resource_name(*app_id, "default")
                        || app.networks.keys().any(|n| name == self.resource_name(*app_id, n))
                });
            if !wanted {
                match docker.remove_network(&name).await {
                    Ok(()) => tracing::info!(network = name, "network removed"),
                    Err(e) => tracing::warn!(network = name, "network not removed: {e}"),
                }
            }
        }
        Ok(())
    }

    /// The volumes of this daemon, with their application.
    pub(crate) async fn volumes(&self) -> Result<Vec<(String, Option<u32>)>, Error> {
        let options = ListVolumesOptions { filters: Some(self.filters()) };
        let listed =
            self.docker()?.list_volumes(Some(options)).await.map_err(|e| engine_error("Can't list volumes", e))?;
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| {
                let app = v.labels.get(LABEL_APP_ID).and_then(|id| id.parse().ok());
                (v.name, app)
            })
            .collect())
    }

    pub(crate) async fn remove_volume(&self, name: &str) -> Result<(), Error> {
        let options = RemoveVolumeOptions { force: false };
        match self.docker()?.remove_volume(name, Some(options)).await {
            Ok(()) => {
                tracing::info!(volume = name, "volume removed");
                Ok(())
            }
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(engine_error(&format!("Can't remove volume {name}"), e)),
        }
    }

    /// Makes the container of `service` (not started); answers its name.
    async fn create_container(
        &self,
        docker: &Docker,
        app_id: u32,
        app: &App,
        service: &Service,
        hash: &str,
    ) -> Result<String, Error> {
        let name = format!("{}{}_{}_{}", self.instance(), service.service_name, service.image_id, &hash[..12]);
        let lock_dir = self
            .locks
            .service_dir(&app_id, &service.service_name)
            .map_err(|e| Error::internal(format!("Can't make the lock folder: {e}")))?;
        let mut binds: Vec<String> = service
            .volumes
            .iter()
            .map(|mount| {
                let (volume, rest) = mount.split_once(':').expect("checked with the target");
                format!("{}:{rest}", self.resource_name(app_id, volume))
            })
            .collect();
        binds.extend(MOUNT_POINTS.iter().map(|point| format!("{}:{point}", lock_dir.display())));

        let mut exposed = Vec::new();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for mapping in &service.ports {
            let (ports, protocol) = mapping.split_once('/').unwrap_or((mapping, "tcp"));
            let (host, container) = ports.split_once(':').unwrap_or(("", ports));
            let key = format!("{container}/{protocol}");
            exposed.push(key.clone());
            let binding = PortBinding { host_ip: Some(String::new()), host_port: Some(host.to_owned()) };
            bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_default().push(binding);
        }

        let own_networks: Vec<String> = if service.networks.is_empty() {
            vec![self.resource_name(app_id, "default")]
        } else {
            service.networks.iter().map(|n| self.resource_name(app_id, n)).collect()
        };
        let network_mode = match service.network_mode.as_deref() {
            Some("host") => "host".to_owned(),
            Some("none") => "none".to_owned(),
            _ => match service.shares_network_of() {
                Some(other) => {
                    let containers = self.containers().await?;
                    let found = containers.iter().rev().find(|c| c.app_id == app_id && c.service_name == other);
                    format!(
                        "container:{}",
                        found.ok_or_else(|| Error::internal(format!("Service {other} has no container yet")))?.name
                    )
                }
                None => own_networks[0].clone(),
            },
        };
        let bridged = network_mode == own_networks[0];
        // Host and no networking reach the API where it listens; the others on the gateway of
        // the network a bridged service joins (one sharing another's network has its address).
        let api = match enabled(service.labels.get(LABEL_SUPERVISOR_API)) {
            false => None,
            true if matches!(network_mode.as_str(), "host" | "none") => Some(self.api_address()),
            true => Some(self.supervisor_network_address().await?),
        };
        let networking = bridged.then(|| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                own_networks[0].clone(),
                EndpointSettings { aliases: Some(vec![service.service_name.clone()]), ..Default::default() },
            )])),
        });

        let mut labels: HashMap<String, String> = service.labels.clone().into_iter().collect();
        labels.extend(self.labels(app_id));
        labels.insert(LABEL_SERVICE_NAME.to_owned(), service.service_name.clone());
        labels.insert(LABEL_SERVICE_ID.to_owned(), service.service_id.to_string());
        labels.insert(LABEL_IMAGE_ID.to_owned(), service.image_id.to_string());
        labels.insert(LABEL_HASH.to_owned(), hash.to_owned());

        let restart = match service.restart.as_str() {
            "no" => RestartPolicyNameEnum::NO,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            _ => RestartPolicyNameEnum::ALWAYS,
        };
        let body = ContainerCreateBody {
            image: Some(service.image.clone()),
            cmd: service.command.clone(),
            env: Some(self.environment(app_id, app, service, api)?),
            labels: Some(labels),
            exposed_ports: (!exposed.is_empty() && bridged).then_some(exposed),
            stop_timeout: Some(i64::from(STOP_TIMEOUT)),
            host_config: Some(HostConfig {
                binds: Some(binds),
                port_bindings: (!bindings.is_empty() && bridged).then_some(bindings),
                network_mode: Some(network_mode),
                restart_policy: Some(RestartPolicy { name: Some(restart), maximum_retry_count: None }),
                ..Default::default()
            }),
            networking_config: networking,
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| engine_error(&format!("Can't create the container of {}", service.service_name), e))?;
        if bridged {
            let supervisor_network = api.is_some().then(|| self.supervisor_network_name());
            for network in own_networks[1..].iter().chain(&supervisor_network) {
                let request = NetworkConnectRequest {
                    container: name.clone(),
                    // On the shared network a service name would find another application's.
                    endpoint_config: Some(EndpointSettings {
                        aliases: (Some(network) != supervisor_network.as_ref())
                            .then(|| vec![service.service_name.clone()]),
                        ..Default::default()
                    }),
                };
                docker
                    .connect_network(network, request)
                    .await
                    .map_err(|e| engine_error(&format!("Can't connect {name} to {network}"), e))?;
            }
        }
        tracing::info!(app_id, service = service.service_name, container = name, "container made");
        Ok(name)
    }

    /// What a service's containers find in their environment: the target's variables, then the
    /// device's and, for a service that asked for it (`api`: where it reaches the device API),
    /// the API's address and its application-scoped key, under `BALENA_` and `RESIN_`.
    fn environment(
        &self,
        app_id: u32,
        app: &App,
        service: &Service,
        api: Option<SocketAddr>,
    ) -> Result<Vec<String>, Error> {
        let mut ours = Vec::new();
        if let Some(address) = api {
            let key = self
                .keys
                .service_key(app_id, &service.service_name)
                .map_err(|e| Error::internal(format!("Can't issue the service's key: {e}")))?;
            let host = address.ip().to_string();
            ours.extend([
                ("SUPERVISOR_API_KEY", key),
                ("SUPERVISOR_ADDRESS", format!("http://{host}:{}", address.port())),
                ("SUPERVISOR_HOST", host),
                ("SUPERVISOR_PORT", address.port().to_string()),
            ]);
        }
        let (arch, device_type) = self.device_info();
        ours.extend([
            ("APP_ID", app_id.to_string()),
            ("APP_NAME", app.name.clone()),
            ("APP_COMMIT", app.commit.clone().unwrap_or_default()),
            ("SERVICE_NAME", service.service_name.clone()),
            ("DEVICE_NAME_AT_INIT", self.device_name()),
            ("DEVICE_TYPE", device_type),
            ("DEVICE_ARCH", arch.to_owned()),
            ("SUPERVISOR_VERSION", base::SUPERVISOR_VERSION.to_owned()),
            ("APP_LOCK_PATH", "/tmp/balena/updates.lock".to_owned()),
        ]);
        let mut env: Vec<String> = service.environment.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push("BALENA=1".to_owned());
        env.push("RESIN=1".to_owned());
        for (name, value) in ours {
            env.push(format!("BALENA_{name}={value}"));
            let legacy = if name == "APP_LOCK_PATH" { "/tmp/resin/resin-updates.lock".to_owned() } else { value };
            env.push(format!("RESIN_{name}={legacy}"));
        }
        Ok(env)
    }

    pub(crate) async fn start(&self, docker: &Docker, name: &str) -> Result<(), Error> {
        match docker.start_container(name, None::<bollard::query_parameters::StartContainerOptions>).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(engine_error(&format!("Can't start {name}"), e)),
        }
    }

    pub(crate) async fn stop(&self, docker: &Docker, name: &str) -> Result<(), Error> {
        let options = StopContainerOptionsBuilder::default().t(STOP_TIMEOUT).build();
        match docker.stop_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304 | 404, .. }) => Ok(()),
            Err(e) => Err(engine_error(&format!("Can't stop {name}"), e)),
        }
    }

    /// Stops and removes a container.
    pub(crate) async fn remove_container(&self, docker: &Docker, container: &Container) -> Result<(), Error> {
        self.stop(docker, &container.name).await?;
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match docker.remove_container(&container.name, Some(options)).await {
            Ok(()) => {
                tracing::info!(app_id = container.app_id, service = container.service_name, "container removed");
                Ok(())
            }
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(engine_error(&format!("Can't remove {}", container.name), e)),
        }
    }

    /// The engine's client, for the service actions.
    pub(crate) fn client(&self) -> Result<Docker, Error> {
        self.docker()
    }
}

/// A hash of what a service is: a changed definition is a new container. A service sharing
/// another's network is made again with it (`shared`, the other's hash).
fn definition_hash(service: &Service, shared: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(service).expect("a service serializes"));
    hasher.update(shared.unwrap_or_default().as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `name[:tag]` (a digest stays in the name), `latest` by default.
fn split_reference(reference: &str) -> (&str, &str) {
    if reference.contains('@') {
        return (reference, "");
    }
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(split_reference("local/one:2"), ("local/one", "2"));
        assert_eq!(split_reference("registry:5000/one"), ("registry:5000/one", "latest"));
    }

    #[test]
    fn a_changed_definition_has_another_hash() {
        let service = Service { service_name: "one".into(), image: "a".into(), running: true, ..Default::default() };
        let same = definition_hash(&service, None);
        assert_eq!(same, definition_hash(&service.clone(), None));
        let changed = Service { command: Some(vec!["true".into()]), ..service.clone() };
        assert_ne!(definition_hash(&changed, None), same);
        assert_ne!(definition_hash(&service, Some("x")), same);
    }
}

/// What the engine is doing, for the status endpoints, and how it is asked to act.
#[derive(Default)]
pub struct EngineState {
    /// Starts a pass at once.
    pub(crate) wake: tokio::sync::Notify,
    /// One pass or service action at a time.
    pub(crate) busy: tokio::sync::Mutex<()>,
    progress: std::sync::Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    applying: bool,
    /// The next pass overrides the update locks.
    force: bool,
    /// Why the last pass could not finish: a service's lock.
    blocked: Option<String>,
    /// Services stopped through the API, left stopped until started or restarted, or the daemon
    /// restarts.
    stopped: std::collections::HashSet<(u32, String)>,
    /// The pull job of each service whose image is on its way: its progress is the download's.
    downloads: BTreeMap<(u32, String), String>,
}

impl EngineState {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a pass, overriding the locks with `force`.
    pub fn trigger(&self, force: bool) {
        if force {
            self.request_force();
        }
        self.wake.notify_one();
    }

    fn request_force(&self) {
        self.progress().force = true;
    }

    fn take_force(&self) -> bool {
        std::mem::take(&mut self.progress().force)
    }

    fn set_blocked(&self, blocked: Option<String>) {
        self.progress().blocked = blocked;
    }

    fn set_applying(&self, applying: bool) {
        self.progress().applying = applying;
    }

    /// Whether the engine has not reached the target yet.
    pub fn pending(&self) -> bool {
        let progress = self.progress();
        progress.applying || progress.blocked.is_some()
    }

    pub(crate) fn is_stopped(&self, app_id: u32, service: &str) -> bool {
        self.progress().stopped.contains(&(app_id, service.to_owned()))
    }

    pub(crate) fn set_stopped(&self, app_id: u32, service: &str, stopped: bool) {
        let key = (app_id, service.to_owned());
        let mut progress = self.progress();
        if stopped {
            progress.stopped.insert(key);
        } else {
            progress.stopped.remove(&key);
        }
    }

    fn set_download(&self, app_id: u32, service: &str, pull_job: Option<String>) {
        let key = (app_id, service.to_owned());
        let mut progress = self.progress();
        match pull_job {
            Some(uuid) => progress.downloads.insert(key, uuid),
            None => progress.downloads.remove(&key),
        };
    }

    /// The percentage downloaded of the image of a service being pulled, as its pull job
    /// reports it.
    pub fn download(&self, jobs: &jobs::JobManager, app_id: u32, service: &str) -> Option<u8> {
        let uuid = self.progress().downloads.get(&(app_id, service.to_owned())).cloned()?;
        // A finished pull's job may already be gone while the entry waits for its removal.
        Some(jobs.job(&uuid).map_or(100, |job| job.progress.round() as u8))
    }
}
