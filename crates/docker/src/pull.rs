//! Image work on the engine: pulls that report their progress on a job, tags, and the
//! `hassio` network every managed container lives on.
//!
//! A pull a registry refuses for its rate limit fails with the real Supervisor's answer for that
//! registry (429); Docker Hub's is also the issue `docker_ratelimit`, whose login lifts the
//! limit, until a pull from Docker Hub goes through.

use crate::{DockerManager, NetworkInfo};
use base::system::RaisedIssue;
use base::Error;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, InspectNetworkOptions, RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use jobs::Job;
use std::collections::HashMap;

/// The bridge network add-ons, Core and plugins share, as the real Supervisor sets it up.
pub(crate) const NETWORK_SUBNET: &str = "172.30.32.0/23";
const NETWORK_RANGE: &str = "172.30.33.0/24";
const NETWORK_GATEWAY: &str = "172.30.32.1";
/// The label on everything the supervisor creates on the engine.
pub const LABEL_MANAGED: &str = "supervisor_managed";

/// Per-layer byte counts of a pull, to turn the engine's stream into one percentage.
#[derive(Default)]
struct LayerProgress {
    download: (u64, u64),
    extract: (u64, u64),
    done: bool,
}

impl DockerManager {
    /// Pulls `image:tag` with the stored registry login, reporting progress on `job`
    /// (downloading counts for 70%, extracting for 30%).
    pub async fn pull(&self, image: &str, tag: &str, job: &Job) -> Result<(), Error> {
        let docker = self.client()?;
        let options = CreateImageOptionsBuilder::default().from_image(image).tag(tag).build();
        let mut stream = docker.create_image(Some(options), None, self.credentials_for(image));
        let mut layers: HashMap<String, LayerProgress> = HashMap::new();
        job.set_stage("pull");
        while let Some(item) = tokio::select! {
            item = stream.next() => item,
            _ = job.cancelled() => return Err(Error::unavailable(format!("Pull of {image}:{tag} was cancelled"))),
        } {
            let info = item.map_err(|e| self.pull_failed(image, tag, e))?;
            let (Some(id), Some(status)) = (info.id, info.status) else { continue };
            let layer = layers.entry(id).or_default();
            let detail = info.progress_detail.unwrap_or_default();
            let bytes = (detail.current.unwrap_or(0).max(0) as u64, detail.total.unwrap_or(0).max(0) as u64);
            match status.as_str() {
                "Downloading" => layer.download = bytes,
                "Extracting" => layer.extract = bytes,
                "Pull complete" | "Already exists" => layer.done = true,
                _ => continue,
            }
            job.set_progress(overall(&layers));
        }
        tracing::info!(image, tag, "pulled image");
        self.pulled(image);
        Ok(())
    }

    /// A pull from Docker Hub went through: its rate limit no longer holds.
    fn pulled(&self, image: &str) {
        if docker_hub(image) {
            self.system.withdraw_issue(ratelimit_issue());
        }
    }

    /// The error of a failed pull; Docker Hub's rate limit is an issue too.
    fn pull_failed(&self, image: &str, tag: &str, e: bollard::errors::Error) -> Error {
        if !rate_limit(&e) {
            return pull_error(image, tag, e);
        }
        tracing::warn!(image, tag, "the registry refused the pull for its rate limit: {e}");
        if docker_hub(image) {
            self.system.raise_issue(ratelimit_issue());
        }
        rate_limited(image)
    }

    /// Whether `image:tag` is already on the engine.
    pub async fn image_exists(&self, image: &str, tag: &str) -> Result<bool, Error> {
        match self.client()?.inspect_image(&format!("{image}:{tag}")).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(Error::internal(format!("Can't inspect image {image}:{tag}: {e}"))),
        }
    }

    /// Removes `image:tag`, no longer used; failures are only logged (the engine refuses while a
    /// container still uses it).
    pub async fn remove_image(&self, image: &str, tag: &str) {
        let Ok(docker) = self.client() else { return };
        let options = RemoveImageOptionsBuilder::default().force(false).build();
        match docker.remove_image(&format!("{image}:{tag}"), Some(options), None).await {
            Ok(_) => tracing::info!(image, tag, "removed image"),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => tracing::warn!(image, tag, "can't remove image: {e}"),
        }
    }

    /// Tags `image:from` as `image:to`.
    pub async fn tag(&self, image: &str, from: &str, to: &str) -> Result<(), Error> {
        let options = TagImageOptionsBuilder::default().repo(image).tag(to).build();
        self.client()?
            .tag_image(&format!("{image}:{from}"), Some(options))
            .await
            .map_err(|e| Error::internal(format!("Can't tag {image}:{from} as {to}: {e}")))
    }

    /// The network if it exists already, without creating it; publishes it to `network()`.
    pub async fn find_network(&self) -> Result<Option<NetworkInfo>, Error> {
        let docker = self.client()?;
        let name = &self.naming.network;
        match docker.inspect_network(name, None::<InspectNetworkOptions>).await {
            Ok(network) => {
                let info = network_info(name, network)?;
                self.network.send_if_modified(|current| {
                    let changed = current.as_ref() != Some(&info);
                    *current = Some(info.clone());
                    changed
                });
                Ok(Some(info))
            }
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(Error::internal(format!("Can't inspect the {name} network: {e}"))),
        }
    }

    /// The network, created first if it is missing (the real Supervisor's `hassio` setup by
    /// default: 172.30.32.0/23, containers from 172.30.33.0/24, the host at .1).
    pub async fn ensure_network(&self) -> Result<NetworkInfo, Error> {
        if let Some(info) = self.find_network().await? {
            return Ok(info);
        }
        let _creating = self.creating_network.lock().await;
        if let Some(info) = self.find_network().await? {
            return Ok(info);
        }
        let docker = self.client()?;
        let config = self.config();
        let name = self.naming.network.clone();
        let ipam_config = match &self.naming.subnet {
            Some(subnet) if subnet == NETWORK_SUBNET => Some(vec![IpamConfig {
                subnet: Some(NETWORK_SUBNET.to_owned()),
                ip_range: Some(NETWORK_RANGE.to_owned()),
                gateway: Some(NETWORK_GATEWAY.to_owned()),
                ..Default::default()
            }]),
            Some(subnet) => Some(vec![IpamConfig { subnet: Some(subnet.clone()), ..Default::default() }]),
            None => None,
        };
        let mut options =
            HashMap::from([("com.docker.network.driver.mtu".to_owned(), config.mtu.unwrap_or(1500).to_string())]);
        // The host-side bridge is named after the network only for the one production network;
        // interface names are short and global.
        if self.naming.instance.is_empty() && name == "hassio" {
            options.insert("com.docker.network.bridge.name".to_owned(), name.clone());
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_owned()),
            enable_ipv6: config.enable_ipv6,
            ipam: Some(Ipam { config: ipam_config, ..Default::default() }),
            options: Some(options),
            labels: Some(HashMap::from([(LABEL_MANAGED.to_owned(), String::new())])),
            ..Default::default()
        };
        docker
            .create_network(request)
            .await
            .map_err(|e| Error::internal(format!("Can't create the {name} network: {e}")))?;
        tracing::info!(network = %name, "created the container network");
        self.find_network().await?.ok_or_else(|| Error::internal(format!("The {name} network vanished after creation")))
    }
}

fn network_info(name: &str, network: bollard::models::NetworkInspect) -> Result<NetworkInfo, Error> {
    let ipam = network.ipam.and_then(|ipam| ipam.config).unwrap_or_default();
    let gateway_v6 = ipam.iter().find_map(|c| c.gateway.as_deref()?.parse::<std::net::Ipv6Addr>().ok());
    let config = ipam
        .into_iter()
        .find(|c| c.gateway.as_deref().is_some_and(|g| g.parse::<std::net::Ipv4Addr>().is_ok()))
        .ok_or_else(|| Error::internal(format!("The {name} network has no IPv4 gateway")))?;
    // The engine names a bridge after the network's id unless it was given a name.
    let named = network.options.and_then(|mut options| options.remove("com.docker.network.bridge.name"));
    let bridge =
        named.unwrap_or_else(|| format!("br-{}", network.id.unwrap_or_default().get(..12).unwrap_or_default()));
    Ok(NetworkInfo {
        name: name.to_owned(),
        gateway: config.gateway.unwrap_or_default().parse().expect("checked above"),
        gateway_v6,
        subnet: config.subnet.unwrap_or_default(),
        bridge,
    })
}

fn pull_error(image: &str, tag: &str, e: bollard::errors::Error) -> Error {
    let message = format!("Can't pull {image}:{tag}: {e}");
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => Error::not_found(message),
        _ => Error::invalid(message).with_key("docker_pull_failed"),
    }
}

/// Whether the engine says the registry refused for its rate limit: 429, or (engines before
/// 28.3 answer 500 for it) the registry's `toomanyrequests` in the message or the pull's stream.
fn rate_limit(e: &bollard::errors::Error) -> bool {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code: 429, .. } => true,
        bollard::errors::Error::DockerResponseServerError { status_code: 500, message } => {
            message.contains("toomanyrequests")
        }
        bollard::errors::Error::DockerStreamError { error } => error.contains("toomanyrequests"),
        _ => false,
    }
}

/// Whether `image` comes from Docker Hub: no registry named, or one of its names.
fn docker_hub(image: &str) -> bool {
    crate::manager::registry_of(image)
        .is_none_or(|registry| matches!(registry, "docker.io" | "index.docker.io" | crate::manager::DOCKER_HUB))
}

/// The real Supervisor's answer to a rate-limited pull, by the registry of `image`.
fn rate_limited(image: &str) -> Error {
    if docker_hub(image) {
        let url = "https://www.home-assistant.io/more-info/dockerhub-rate-limit";
        let mut extra = serde_json::Map::new();
        extra.insert("dockerhub_rate_limit_url".to_owned(), url.into());
        return Error::throttled(format!(
            "Your IP address has made too many requests to Docker Hub which activated a rate limit. For more details see {url}"
        ))
        .with_key("dockerhub_rate_limit_exceeded")
        .with_extra(extra);
    }
    if crate::manager::registry_of(image) == Some("ghcr.io") {
        return Error::throttled(
            "GitHub Container Registry rate limited the request. This is typically transient; the update will be retried.",
        )
        .with_key("ghcr_rate_limit_exceeded");
    }
    Error::throttled("Container registry rate limit exceeded").with_key("container_registry_rate_limit_exceeded")
}

/// Docker Hub's rate limit reached, as the real Supervisor raises it: logging in lifts it.
fn ratelimit_issue() -> RaisedIssue {
    RaisedIssue {
        kind: "docker_ratelimit",
        context: "system",
        reference: None,
        extra: None,
        suggestions: vec!["registry_login"],
    }
}

fn overall(layers: &HashMap<String, LayerProgress>) -> f64 {
    let known: Vec<&LayerProgress> = layers.values().collect();
    if known.is_empty() {
        return 0.0;
    }
    let share = |(current, total): (u64, u64)| if total == 0 { 0.0 } else { current as f64 / total as f64 };
    let sum: f64 =
        known.iter().map(|l| if l.done { 1.0 } else { 0.7 * share(l.download) + 0.3 * share(l.extract) }).sum();
    100.0 * sum / known.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::system::IssueChange;
    use base::System;
    use futures_util::FutureExt;
    use std::sync::Arc;

    fn manager() -> (tempfile::TempDir, DockerManager) {
        let dir = tempfile::tempdir().unwrap();
        let store = state::Store::open(dir.path()).unwrap();
        let docker =
            DockerManager::new(&store, Arc::new(System::default()), "/nonexistent.sock", crate::Naming::default())
                .unwrap();
        (dir, docker)
    }

    /// The issues told to the resolution center so far.
    fn told(docker: &DockerManager) -> Vec<IssueChange> {
        docker.system.raised_issues().now_or_never().unwrap_or_default()
    }

    #[test]
    fn a_rate_limit_is_429_or_the_registrys_toomanyrequests() {
        let server = |status_code, message: &str| bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.to_owned(),
        };
        let limit = "toomanyrequests: You have reached your pull rate limit.";
        assert!(rate_limit(&server(429, "")));
        assert!(rate_limit(&server(500, &format!("Get https://registry-1.docker.io/v2/x/manifests/1: {limit}"))));
        assert!(rate_limit(&bollard::errors::Error::DockerStreamError { error: limit.to_owned() }));
        assert!(!rate_limit(&server(500, "manifest unknown")));
        assert!(!rate_limit(&server(404, limit)), "only the statuses engines give it");
        assert!(!rate_limit(&bollard::errors::Error::DockerStreamError { error: "no space left".to_owned() }));
    }

    #[test]
    fn each_registry_has_its_answer_and_docker_hubs_is_an_issue_until_a_pull_goes_through() {
        let (_dir, docker) = manager();
        let limited = || bollard::errors::Error::DockerResponseServerError { status_code: 429, message: String::new() };
        for image in ["ghcr.io/home-assistant/amd64-hassio-dns", "127.0.0.1:5000/e2e/x"] {
            let error = docker.pull_failed(image, "1", limited());
            assert_eq!(error.kind, base::Kind::Throttled, "{image}");
            assert!(told(&docker).is_empty(), "nothing to do about {image}'s limit");
        }
        let ghcr = docker.pull_failed("ghcr.io/home-assistant/amd64-hassio-dns", "1", limited());
        assert_eq!(ghcr.error_key.as_deref(), Some("ghcr_rate_limit_exceeded"));
        let other = docker.pull_failed("127.0.0.1:5000/e2e/x", "1", limited());
        assert_eq!(
            (other.message.as_str(), other.error_key.as_deref()),
            ("Container registry rate limit exceeded", Some("container_registry_rate_limit_exceeded"))
        );

        for image in ["homeassistant/amd64-addon-ssh", "docker.io/library/busybox", "index.docker.io/a/b"] {
            let hub = docker.pull_failed(image, "1", limited());
            assert_eq!(
                (hub.kind, hub.error_key.as_deref()),
                (base::Kind::Throttled, Some("dockerhub_rate_limit_exceeded"))
            );
            let url = hub.extra_fields.as_ref().unwrap()["dockerhub_rate_limit_url"].clone();
            assert_eq!(url, "https://www.home-assistant.io/more-info/dockerhub-rate-limit");
            assert!(hub
                .message
                .ends_with("For more details see https://www.home-assistant.io/more-info/dockerhub-rate-limit"));
            assert_eq!(told(&docker), [IssueChange::Raised(ratelimit_issue())], "{image}");
        }
        let issue = ratelimit_issue();
        assert_eq!(
            (issue.kind, issue.context, issue.suggestions),
            ("docker_ratelimit", "system", vec!["registry_login"])
        );

        // Another failure is no rate limit; a pull from elsewhere says nothing of Docker Hub's.
        let missing = bollard::errors::Error::DockerResponseServerError { status_code: 404, message: String::new() };
        assert_eq!(docker.pull_failed("homeassistant/x", "1", missing).kind, base::Kind::NotFound);
        docker.pulled("ghcr.io/home-assistant/amd64-hassio-dns");
        assert!(told(&docker).is_empty());
        docker.pulled("homeassistant/amd64-addon-ssh");
        assert_eq!(told(&docker), [IssueChange::Withdrawn(ratelimit_issue())]);
    }

    #[test]
    fn progress_weighs_download_and_extract() {
        let mut layers = HashMap::new();
        layers.insert("a".to_owned(), LayerProgress { download: (50, 100), ..Default::default() });
        layers.insert("b".to_owned(), LayerProgress { done: true, ..Default::default() });
        assert!((overall(&layers) - 67.5).abs() < 0.01);
    }
}
