//! Image work on the engine: pulls that report their progress on a job, tags, and the
//! `hassio` network every managed container lives on.

use crate::{DockerManager, NetworkInfo};
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
            let info = item.map_err(|e| pull_error(image, tag, e))?;
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
        Ok(())
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
    let config = ipam
        .into_iter()
        .find(|c| c.gateway.as_deref().is_some_and(|g| g.parse::<std::net::Ipv4Addr>().is_ok()))
        .ok_or_else(|| Error::internal(format!("The {name} network has no IPv4 gateway")))?;
    Ok(NetworkInfo {
        name: name.to_owned(),
        gateway: config.gateway.unwrap_or_default().parse().expect("checked above"),
        subnet: config.subnet.unwrap_or_default(),
    })
}

fn pull_error(image: &str, tag: &str, e: bollard::errors::Error) -> Error {
    let message = format!("Can't pull {image}:{tag}: {e}");
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => Error::not_found(message),
        _ => Error::invalid(message).with_key("docker_pull_failed"),
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

    #[test]
    fn progress_weighs_download_and_extract() {
        let mut layers = HashMap::new();
        layers.insert("a".to_owned(), LayerProgress { download: (50, 100), ..Default::default() });
        layers.insert("b".to_owned(), LayerProgress { done: true, ..Default::default() });
        assert!((overall(&layers) - 67.5).abs() < 0.01);
    }
}
