//! The network through which services reach the device API, balena's `supervisor0`: a service
//! labelled `io.balena.features.supervisor-api` is connected to it and told the API's address
//! on its gateway, where the daemon serves the device API as well as on `--balena-listen`.
//! Services without the label are not on it and get neither the address nor a key, as on a
//! balena device. It is one network for all applications, apart from their own ones, so a
//! service reaches the supervisor through it but not another application's services.

use crate::engine::{LABEL_INSTANCE, LABEL_SUPERVISED};
use crate::BalenaManager;
use base::Error;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::InspectNetworkOptions;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The label by which a service asks for the device API.
pub const LABEL_SUPERVISOR_API: &str = "io.balena.features.supervisor-api";
/// balena's own name, subnet and gateway, used where the daemon is alone on its engine.
const NAME: &str = "supervisor0";
const SUBNET: &str = "10.114.104.0/25";
const GATEWAY: &str = "10.114.104.1";

/// Whether a label's value turns a feature on, as balena reads `io.balena.features.*`.
pub fn enabled(value: Option<&String>) -> bool {
    value.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "on"))
}

impl BalenaManager {
    /// The engine's name of the network.
    pub fn supervisor_network_name(&self) -> String {
        self.parts.docker.container_name(NAME)
    }

    /// The network, made first if it is missing; answers its gateway. Beside other daemons on
    /// one engine (the tests) the engine chooses the subnet; alone, it is balena's.
    pub async fn ensure_supervisor_network(&self) -> Result<Ipv4Addr, Error> {
        let docker = self.parts.docker.client()?;
        let name = self.supervisor_network_name();
        if let Some(gateway) = self.supervisor_network_gateway(&docker, &name).await? {
            self.gateway.send_if_modified(|state| made(state, gateway));
            return Ok(gateway);
        }
        let alone = self.parts.docker.fixed_addresses() && name == NAME;
        let (ipam, options) = if alone {
            let config =
                IpamConfig { subnet: Some(SUBNET.to_owned()), gateway: Some(GATEWAY.to_owned()), ..Default::default() };
            let options = HashMap::from([("com.docker.network.bridge.name".to_owned(), NAME.to_owned())]);
            (Some(Ipam { config: Some(vec![config]), ..Default::default() }), Some(options))
        } else {
            (None, None)
        };
        let labels = HashMap::from([
            (LABEL_SUPERVISED.to_owned(), "true".to_owned()),
            (LABEL_INSTANCE.to_owned(), self.parts.docker.container_name("")),
        ]);
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_owned()),
            ipam,
            options,
            labels: Some(labels),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => tracing::info!(network = name, "network made"),
            // Made meanwhile by another pass or by the listener's start: the same network.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {}
            Err(e) => return Err(Error::internal(format!("Can't create network {name}: {e}"))),
        }
        let gateway = self
            .supervisor_network_gateway(&docker, &name)
            .await?
            .ok_or_else(|| Error::internal(format!("The {name} network has no IPv4 gateway")))?;
        self.gateway.send_if_modified(|state| made(state, gateway));
        Ok(gateway)
    }

    async fn supervisor_network_gateway(
        &self,
        docker: &bollard::Docker,
        name: &str,
    ) -> Result<Option<Ipv4Addr>, Error> {
        match docker.inspect_network(name, None::<InspectNetworkOptions>).await {
            Ok(network) => Ok(network
                .ipam
                .and_then(|ipam| ipam.config)
                .unwrap_or_default()
                .into_iter()
                .find_map(|config| config.gateway?.parse().ok())),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(Error::internal(format!("Can't inspect network {name}: {e}"))),
        }
    }

    /// Where a bridged service reaches the device API: the network's gateway, on the port the
    /// API listens on; waits (a while) for the daemon to serve there.
    pub async fn supervisor_network_address(&self) -> Result<SocketAddr, Error> {
        let gateway = self.ensure_supervisor_network().await?;
        let address = SocketAddr::from((gateway, self.api_address().port()));
        if !self.listens_everywhere() {
            let mut served = self.gateway.subscribe();
            let wait = served.wait_for(|state| *state == Gateway::Served(address));
            if tokio::time::timeout(SERVE_WAIT, wait).await.is_err() {
                tracing::warn!(%address, "the device API is not served on the supervisor network yet");
            }
        }
        Ok(address)
    }

    /// The network's gateway, once the network exists: at once when it is there already (made
    /// before a restart), else when a service first asks for it. Where the daemon serves the
    /// device API to services besides `--balena-listen`.
    pub async fn supervisor_network_made(&self) -> Ipv4Addr {
        self.parts.docker.connect_until_ready(Duration::from_secs(10)).await;
        if let Ok(docker) = self.parts.docker.client() {
            let name = self.supervisor_network_name();
            if let Ok(Some(gateway)) = self.supervisor_network_gateway(&docker, &name).await {
                self.gateway.send_if_modified(|state| made(state, gateway));
            }
        }
        let mut state = self.gateway.subscribe();
        loop {
            let known =
                *state.wait_for(|state| *state != Gateway::Unknown).await.expect("the manager keeps the sender");
            match known {
                Gateway::Made(gateway) => return gateway,
                Gateway::Served(SocketAddr::V4(address)) => return *address.ip(),
                Gateway::Served(SocketAddr::V6(_)) | Gateway::Unknown => {}
            }
        }
    }

    /// The daemon serves the device API at `address` on the network's gateway.
    pub fn served_on_supervisor_network(&self, address: SocketAddr) {
        self.gateway.send_replace(Gateway::Served(address));
    }
}

/// What is known of the network's gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gateway {
    #[default]
    Unknown,
    Made(Ipv4Addr),
    /// The daemon serves the device API there.
    Served(SocketAddr),
}

/// How long a service's start waits for the device API to be served on the network's gateway.
const SERVE_WAIT: Duration = Duration::from_secs(10);

fn made(state: &mut Gateway, gateway: Ipv4Addr) -> bool {
    if *state == Gateway::Unknown {
        *state = Gateway::Made(gateway);
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::enabled;

    #[test]
    fn a_feature_label_is_on_only_with_a_true_value() {
        for on in ["1", "true", "TRUE", "on"] {
            assert!(enabled(Some(&on.to_owned())), "{on}");
        }
        for off in ["0", "false", "", "yes", " 1"] {
            assert!(!enabled(Some(&off.to_owned())), "{off}");
        }
        assert!(!enabled(None));
    }
}
