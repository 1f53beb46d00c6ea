//! The `/network` API group: the interfaces, the container network and internet access;
//! changing an interface's addressing and wireless settings; wireless scans; VLANs.

use crate::interface::{
    AddrGenMode, AuthMethod, Interface, InterfaceMethod, InterfaceType, Ip6Privacy, IpConfig, IpSetting,
    MulticastDnsMode, WifiMode,
};
use crate::request::InterfaceUpdate;
use crate::Network;
use actix_web::{get, post, web};
use http_api::routes::{INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiError, ApiResult};
use serde::Serialize;
use serde_json::{Map, Value};
use std::future::Future;
use std::net::Ipv4Addr;
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("network", "The network");
    routes
        .group("/network")
        .route(INFO, network_info)
        .route(MANAGER, network_reload)
        .route(INFO, network_interface_info)
        .route(MANAGER, network_interface_update)
        .route(MANAGER, network_interface_accesspoints)
        .route(MANAGER, network_interface_vlan);
}

#[derive(Serialize, ToSchema)]
pub struct NetworkInfo {
    interfaces: Vec<InterfaceInfo>,
    docker: DockerNetwork,
    /// The host reaches the internet (NetworkManager's connectivity check); `null` when unknown.
    host_internet: Option<bool>,
    /// The supervisor reached the internet on its last attempt.
    supervisor_internet: bool,
}

/// The network of add-ons, Core and plugins.
#[derive(Serialize, ToSchema)]
pub struct DockerNetwork {
    interface: String,
    /// Its subnet; `null` until the network exists.
    address: Option<String>,
    /// The host's address on it.
    gateway: Option<String>,
    /// The DNS plugin's address on it.
    dns: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InterfaceInfo {
    interface: String,
    #[serde(rename = "type")]
    kind: InterfaceType,
    /// It has an active connection.
    enabled: bool,
    connected: bool,
    /// It has the default route.
    primary: bool,
    mac: String,
    ipv4: Ip4Info,
    ipv6: Ip6Info,
    wifi: Option<WifiInfo>,
    vlan: Option<VlanInfo>,
    mdns: Option<MulticastDnsMode>,
    llmnr: Option<MulticastDnsMode>,
}

/// The configured method and the addresses the interface has now.
#[derive(Serialize, ToSchema)]
pub struct Ip4Info {
    method: InterfaceMethod,
    address: Vec<String>,
    nameservers: Vec<String>,
    gateway: Option<String>,
    route_metric: Option<i64>,
    ready: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Ip6Info {
    method: InterfaceMethod,
    addr_gen_mode: AddrGenMode,
    ip6_privacy: Ip6Privacy,
    address: Vec<String>,
    nameservers: Vec<String>,
    gateway: Option<String>,
    route_metric: Option<i64>,
    ready: bool,
}

#[derive(Serialize, ToSchema)]
pub struct WifiInfo {
    mode: WifiMode,
    auth: AuthMethod,
    ssid: String,
    /// The strength of the access point in use, 0 to 100.
    signal: Option<u8>,
}

#[derive(Serialize, ToSchema)]
pub struct VlanInfo {
    id: u32,
    /// The parent interface, or the UUID of its profile.
    parent: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccessPoints {
    accesspoints: Vec<AccessPointInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessPointInfo {
    mode: WifiMode,
    ssid: String,
    /// MHz.
    frequency: u32,
    /// 0 to 100.
    signal: u8,
    mac: String,
}

fn ip4_info(config: &IpConfig, setting: &IpSetting) -> Ip4Info {
    Ip4Info {
        method: setting.method,
        address: config.addresses.clone(),
        nameservers: config.nameservers.clone(),
        gateway: config.gateway.clone(),
        route_metric: setting.route_metric,
        ready: config.ready,
    }
}

fn ip6_info(config: &IpConfig, setting: &IpSetting) -> Ip6Info {
    Ip6Info {
        method: setting.method,
        addr_gen_mode: setting.addr_gen_mode,
        ip6_privacy: setting.ip6_privacy,
        address: config.addresses.clone(),
        nameservers: config.nameservers.clone(),
        gateway: config.gateway.clone(),
        route_metric: setting.route_metric,
        ready: config.ready,
    }
}

fn interface_info(interface: Interface) -> InterfaceInfo {
    InterfaceInfo {
        ipv4: ip4_info(&interface.ipv4, &interface.ipv4_setting),
        ipv6: ip6_info(&interface.ipv6, &interface.ipv6_setting),
        wifi: interface.wifi.map(|wifi| WifiInfo {
            mode: wifi.mode,
            auth: wifi.auth,
            ssid: wifi.ssid,
            signal: wifi.signal,
        }),
        vlan: interface.vlan.map(|vlan| VlanInfo { id: vlan.id, parent: vlan.parent }),
        interface: interface.name,
        kind: interface.kind,
        enabled: interface.enabled,
        connected: interface.connected,
        primary: interface.primary,
        mac: interface.mac,
        mdns: interface.mdns,
        llmnr: interface.llmnr,
    }
}

/// The DNS plugin's address: the third of the subnet, as the real Supervisor places it.
fn dns_address(subnet: &str) -> Option<String> {
    let base: Ipv4Addr = subnet.split('/').next()?.parse().ok()?;
    Some(Ipv4Addr::from(u32::from(base).checked_add(3)?).to_string())
}

/// Runs a change of the network to its end even if the client goes away, as the real
/// Supervisor shields it: a half-applied profile is worse than a late answer.
async fn shielded<F: Future<Output = Result<(), base::Error>> + 'static>(change: F) -> ApiResult {
    actix_web::rt::spawn(change)
        .await
        .map_err(|error| ApiError::internal(format!("The network change was interrupted: {error}")))??;
    ok_empty()
}

/// The interfaces, the container network, and whether the host and the supervisor reach the
/// internet.
#[utoipa::path(tag = "network", responses((status = 200, body = http_api::envelope::Envelope<NetworkInfo>)))]
#[get("/info")]
async fn network_info(network: web::Data<Network>) -> ApiResult {
    let (name, docker) = network.docker_network();
    ok(NetworkInfo {
        interfaces: network.interfaces().into_iter().map(interface_info).collect(),
        docker: DockerNetwork {
            interface: name,
            address: docker.as_ref().map(|docker| docker.subnet.clone()),
            gateway: docker.as_ref().map(|docker| docker.gateway.to_string()),
            dns: docker.as_ref().and_then(|docker| dns_address(&docker.subnet)),
        },
        host_internet: network.host_internet(),
        supervisor_internet: network.supervisor_internet(),
    })
}

/// Reads the network from NetworkManager again and has it check connectivity.
#[utoipa::path(tag = "network", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/reload")]
async fn network_reload(network: web::Data<Network>) -> ApiResult {
    let network = network.into_inner();
    shielded(async move { network.reload().await }).await
}

/// One interface; `default` is the primary one.
#[utoipa::path(
    tag = "network",
    params(("interface" = String, Path, description = "An interface name or MAC address, or `default`")),
    responses((status = 200, body = http_api::envelope::Envelope<InterfaceInfo>), (status = 404, body = http_api::envelope::ErrorEnvelope))
)]
#[get("/interface/{interface}/info")]
async fn network_interface_info(network: web::Data<Network>, interface: web::Path<String>) -> ApiResult {
    ok(interface_info(network.interface(&interface)?))
}

/// Changes an interface's addressing, wireless network, multicast name resolution, or disables
/// it (its profile is removed). A family given replaces that family's settings as a whole.
#[utoipa::path(
    tag = "network",
    params(("interface" = String, Path, description = "An interface name or MAC address, or `default`")),
    request_body = InterfaceUpdate,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope))
)]
#[post("/interface/{interface}/update")]
async fn network_interface_update(
    network: web::Data<Network>,
    interface: web::Path<String>,
    body: http_api::body::Body<Map<String, Value>>,
) -> ApiResult {
    let mut interface = network.interface(&interface)?;
    let update = InterfaceUpdate::try_from(body.into_inner())?;
    if update.is_empty() {
        return Err(ApiError::bad_request("You need to supply at least one option to update"));
    }
    update.apply_to(&mut interface)?;
    let network = network.into_inner();
    shielded(async move { network.apply(interface).await }).await
}

/// Scans for wireless networks (wireless interfaces only) and lists the access points in range.
#[utoipa::path(
    tag = "network",
    params(("interface" = String, Path, description = "A wireless interface, or `default`")),
    responses((status = 200, body = http_api::envelope::Envelope<AccessPoints>), (status = 400, body = http_api::envelope::ErrorEnvelope))
)]
#[get("/interface/{interface}/accesspoints")]
async fn network_interface_accesspoints(network: web::Data<Network>, interface: web::Path<String>) -> ApiResult {
    let interface = network.interface(&interface)?;
    if interface.kind != InterfaceType::Wireless {
        return Err(ApiError::bad_request(format!("Interface {} is not a valid wireless card!", interface.name)));
    }
    let found = network.scan(&interface).await?;
    let accesspoints = found
        .into_iter()
        .filter_map(|ap| {
            Some(AccessPointInfo {
                mode: WifiMode::from_nm(ap.mode)?,
                ssid: String::from_utf8_lossy(&ap.ssid).into_owned(),
                frequency: ap.frequency,
                signal: ap.strength,
                mac: ap.hw_address,
            })
        })
        .collect();
    ok(AccessPoints { accesspoints })
}

/// Creates VLAN `vlan` on an ethernet interface, with the IP settings given (DHCP otherwise).
#[utoipa::path(
    tag = "network",
    params(
        ("interface" = String, Path, description = "An ethernet interface, or `default`"),
        ("vlan" = String, Path, description = "The VLAN id, 0 to 4094")
    ),
    request_body = InterfaceUpdate,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope))
)]
#[post("/interface/{interface}/vlan/{vlan}")]
async fn network_interface_vlan(
    network: web::Data<Network>,
    path: web::Path<(String, String)>,
    body: http_api::body::Body<Map<String, Value>>,
) -> ApiResult {
    let (interface, vlan) = path.into_inner();
    let parent = network.interface(&interface)?;
    // 802.1Q ids are 12 bits; 4095 is reserved.
    let id = vlan.parse::<u32>().ok().filter(|id| *id <= 4094);
    let id = id.ok_or_else(|| ApiError::bad_request(format!("Invalid vlan specified: {vlan}")))?;
    if parent.kind != InterfaceType::Ethernet {
        return Err(ApiError::bad_request(format!("Interface {} is not a valid ethernet card for vlan!", parent.name)));
    }
    let update = InterfaceUpdate::try_from(body.into_inner())?;
    let mut new = Interface::new_vlan(&parent, id);
    update.apply_to_vlan(&mut new)?;
    let network = network.into_inner();
    shielded(async move { network.create_vlan(new).await }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dns_plugin_is_third_in_the_subnet() {
        assert_eq!(dns_address("172.30.32.0/23").as_deref(), Some("172.30.32.3"));
        assert_eq!(dns_address("10.99.0.0/16").as_deref(), Some("10.99.0.3"));
        assert_eq!(dns_address("fd00::/64"), None);
    }
}
