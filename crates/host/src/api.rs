//! The `/host` API group: the host's information and features, its hostname, power, systemd
//! services and data disk usage, and its journal (`/host/logs...`); and the `/time` group, the
//! host's NTP servers. With the real Supervisor's paths, shapes and messages.

use crate::disks::DiskUsage;
use crate::info::HostInfo;
use crate::manager::{HostManager, HostService, UnitAction};
use actix_web::{get, post, web, HttpResponse};
use http_api::body::{Body, Options};
use http_api::logs::{self, LogDocs, LogError, LogRequest, LogRoute, LogSource};
use http_api::routes::{INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiError, ApiResult};
use journal::{Logs, HOST_IDENTIFIERS};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("host", "The host machine");
    routes
        .group("/host")
        .route(INFO, host_info)
        .route(MANAGER, host_options)
        .route(MANAGER, host_reboot)
        .route(MANAGER, host_shutdown)
        .route(MANAGER, host_reload)
        .route(MANAGER, host_services)
        .route(MANAGER, host_service_start)
        .route(MANAGER, host_service_stop)
        .route(MANAGER, host_service_restart)
        .route(MANAGER, host_service_reload)
        .route(MANAGER, host_disks_usage)
        .route(MANAGER, host_logs_identifiers)
        .route(MANAGER, host_logs_boots)
        .logs("", MANAGER, HostLogs);
    routes.tag("time", "The host's time servers");
    routes.group("/time").route(INFO, time_info).route(MANAGER, time_options);
}

type Host = web::Data<HostManager>;

/// The host: its names, operating system, clock, boot, disk and the features it offers.
#[utoipa::path(tag = "host", responses((status = 200, body = http_api::envelope::Envelope<HostInfo>)))]
#[get("/info")]
async fn host_info(host: Host) -> ApiResult {
    ok(host.info()?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostOptions {
    /// The new static hostname; hostnamed decides what is valid, an empty one removes it.
    #[serde(default, deserialize_with = "hostname_text")]
    hostname: Option<String>,
}

/// Changes the host's settings: its hostname.
#[utoipa::path(tag = "host", request_body = HostOptions,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn host_options(host: Host, body: Options<HostOptions>) -> ApiResult {
    if let Some(hostname) = &body.0.hostname {
        host.set_hostname(hostname).await?;
    }
    ok_empty()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerOptions {
    /// Go ahead even while Home Assistant migrates its database offline.
    #[serde(default, deserialize_with = "force_flag")]
    force: bool,
}

/// Reboots the host (logind, else systemd).
#[utoipa::path(tag = "host", request_body = Option<PowerOptions>,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/reboot")]
async fn host_reboot(host: Host, body: Body<PowerOptions>) -> ApiResult {
    // `force` skips the real Supervisor's check for Home Assistant's offline database migration;
    // this supervisor has no Core connection to ask, so there is nothing to skip.
    tracing::info!(force = body.0.force, "host reboot requested");
    host.reboot().await?;
    ok_empty()
}

/// Powers the host off (logind, else systemd).
#[utoipa::path(tag = "host", request_body = Option<PowerOptions>,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/shutdown")]
async fn host_shutdown(host: Host, body: Body<PowerOptions>) -> ApiResult {
    tracing::info!(force = body.0.force, "host shutdown requested");
    host.shutdown().await?;
    ok_empty()
}

/// Reads every host service's state again.
#[utoipa::path(tag = "host", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[post("/reload")]
async fn host_reload(host: Host) -> ApiResult {
    host.reload().await;
    ok_empty()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    services: Vec<HostService>,
}

/// The host's loaded systemd services and their states.
#[utoipa::path(tag = "host",
    responses((status = 200, body = http_api::envelope::Envelope<ServiceList>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/services")]
async fn host_services(host: Host) -> ApiResult {
    ok(ServiceList { services: host.host_services().await? })
}

async fn unit_action(host: &HostManager, service: &str, action: UnitAction) -> ApiResult {
    host.unit_action(service, action).await?;
    ok_empty()
}

/// Starts one of the services `/host/services` lists.
#[utoipa::path(tag = "host", params(("service" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/service/{service}/start")]
async fn host_service_start(host: Host, service: web::Path<String>) -> ApiResult {
    unit_action(&host, &service, UnitAction::Start).await
}

/// Stops one of the services `/host/services` lists.
#[utoipa::path(tag = "host", params(("service" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/service/{service}/stop")]
async fn host_service_stop(host: Host, service: web::Path<String>) -> ApiResult {
    unit_action(&host, &service, UnitAction::Stop).await
}

/// Restarts one of the services `/host/services` lists.
#[utoipa::path(tag = "host", params(("service" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/service/{service}/restart")]
async fn host_service_restart(host: Host, service: web::Path<String>) -> ApiResult {
    unit_action(&host, &service, UnitAction::Restart).await
}

/// Reloads one of the services `/host/services` lists.
#[utoipa::path(tag = "host", params(("service" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/service/{service}/reload")]
async fn host_service_reload(host: Host, service: web::Path<String>) -> ApiResult {
    unit_action(&host, &service, UnitAction::Reload).await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UsageQuery {
    /// How deep below the known folders to list subfolders (default 1: none).
    #[param(value_type = Option<u32>)]
    max_depth: Option<String>,
}

/// How a disk's space is used: `default`, the data disk (the data directory's known folders and
/// the rest), or a network storage mount by name (its folders when `max_depth` is 2 or more).
#[utoipa::path(tag = "host", params(("disk" = String, Path, description = "`default` or a mount's name"), UsageQuery),
    responses((status = 200, body = http_api::envelope::Envelope<DiskUsage>),
        (status = 400, body = http_api::envelope::ErrorEnvelope, description = "A bad depth, or the mount is not mounted"),
        (status = 404, body = http_api::envelope::ErrorEnvelope, description = "No such mount")))]
#[get("/disks/{disk}/usage")]
async fn host_disks_usage(host: Host, disk: web::Path<String>, query: web::Query<UsageQuery>) -> ApiResult {
    let max_depth = match query.max_depth.as_deref() {
        None if disk.as_str() == "default" => 1,
        None => 0,
        Some(depth) => depth
            .parse::<u32>()
            .map_err(|_| ApiError::bad_request(format!("max_depth must be a whole number from 0 up, not '{depth}'")))?,
    };
    if disk.as_str() == "default" {
        ok(host.disk_usage(max_depth).await?)
    } else {
        ok(host.mount_usage(&disk, max_depth).await?)
    }
}

/// The host's journal: the host services' entries (verbose lines, whatever the client asks), or
/// one syslog identifier's; no fallback.
struct HostLogs;

impl LogSource for HostLogs {
    type Manager = HostManager;

    fn docs(&self) -> LogDocs {
        LogDocs {
            tag: "host",
            name: "host",
            whose: "The host services'",
            about: "From the journal only. Without an `{identifier}`, the entries of the host \
                services' syslog identifiers, as verbose lines whatever the client asks; else \
                `Accept: text/x-log` or `verbose` gives verbose lines. `no_colors` drops colour \
                escapes.",
            errors: &[LogError {
                status: 400,
                when: "A wrong `Range` or `Accept`, a boot the journal does not hold, or no journal",
                envelope: false,
            }],
        }
    }

    fn routes(&self) -> &'static [LogRoute] {
        &[
            LogRoute::LOGS,
            LogRoute::FOLLOW,
            LogRoute::IDENTIFIER,
            LogRoute::IDENTIFIER_FOLLOW,
            LogRoute::BOOT,
            LogRoute::BOOT_FOLLOW,
            LogRoute::BOOT_IDENTIFIER,
            LogRoute::BOOT_IDENTIFIER_FOLLOW,
        ]
    }

    async fn answer(&self, host: &HostManager, request: LogRequest) -> actix_web::Result<HttpResponse> {
        let logs = match request.identifier() {
            Some(identifier) => Logs::identifiers([identifier]),
            None => {
                Logs::identifiers(HOST_IDENTIFIERS.iter().copied()).format_by_default(base::logs::LineFormat::Verbose)
            }
        };
        Ok(match request.journal(host.journal(), &request.select(logs)).await {
            Ok(response) => response,
            Err(unavailable) => logs::unavailable(&unavailable),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Identifiers {
    identifiers: Vec<String>,
}

/// The syslog identifiers the journal holds.
#[utoipa::path(tag = "host",
    responses((status = 200, body = http_api::envelope::Envelope<Identifiers>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/logs/identifiers")]
async fn host_logs_identifiers(host: Host) -> ApiResult {
    ok(Identifiers { identifiers: host.journal().identifiers().await.map_err(base::Error::from)? })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BootList {
    /// Boot ids by offset: `0` this boot, `-1` the one before, ...
    #[schema(value_type = Object)]
    boots: journal::Boots,
}

/// The boots the journal holds, by offset.
#[utoipa::path(tag = "host",
    responses((status = 200, body = http_api::envelope::Envelope<BootList>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/logs/boots")]
async fn host_logs_boots(host: Host) -> ApiResult {
    ok(BootList { boots: host.journal().boots().await.map_err(base::Error::from)? })
}

/// The NTP servers of systemd-timesyncd's configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimeConfig {
    /// Empty when none are set: the servers from DHCP, then the fallback servers, are used.
    servers: Vec<String>,
    /// Empty when none are set: timesyncd's built-in defaults are used.
    fallback_servers: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimeInfo {
    config: TimeConfig,
}

/// The host's NTP servers (Home Assistant OS 18.3 or newer: the host feature `ntp`).
#[utoipa::path(tag = "time",
    responses((status = 200, body = http_api::envelope::Envelope<TimeInfo>),
        (status = 404, description = "Not Home Assistant OS 18.3 or newer", body = http_api::envelope::ErrorEnvelope)))]
#[get("/info")]
async fn time_info(host: Host) -> ApiResult {
    let (servers, fallback_servers) = host.ntp_servers()?;
    ok(TimeInfo { config: TimeConfig { servers, fallback_servers } })
}

/// New NTP servers; a list left out stays as it is, an empty list returns to the OS defaults.
#[derive(Debug, Default, PartialEq, Eq, ToSchema)]
pub struct TimeOptions {
    /// Host names or addresses, each of letters, digits and `.`, `_`, `:`, `%`, `-` only.
    servers: Option<Vec<String>>,
    fallback_servers: Option<Vec<String>>,
}

/// What an NTP server may be: a name or an IPv4/IPv6 address (with a zone), nothing that could
/// break timesyncd's configuration line (the real `^[a-zA-Z0-9._:%-]+\Z`).
const NTP_SERVER_PATTERN: &str = r"^[a-zA-Z0-9._:%-]+\Z";

fn is_ntp_server(server: &str) -> bool {
    !server.is_empty() && server.chars().all(|c| c.is_ascii_alphanumeric() || "._:%-".contains(c))
}

impl TimeOptions {
    /// Reads the body as the real schema does, refusing it whole with every problem in
    /// voluptuous's words (sorted, one a line), each naming the key, the position and the value.
    fn parse(body: Map<String, Value>) -> Result<TimeOptions, ApiError> {
        use base::pyval::py_repr;
        let mut options = TimeOptions::default();
        let mut problems = Vec::new();
        for (key, value) in &body {
            let list = match key.as_str() {
                "servers" => &mut options.servers,
                "fallback_servers" => &mut options.fallback_servers,
                _ => {
                    problems.push(format!("extra keys not allowed @ data['{key}']. Got {}", py_repr(value)));
                    continue;
                }
            };
            let Some(items) = value.as_array() else {
                problems.push(format!("expected a list for dictionary value @ data['{key}']. Got {}", py_repr(value)));
                continue;
            };
            let mut servers = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let at = format!("@ data['{key}'][{index}]. Got {}", py_repr(item));
                match item.as_str() {
                    Some(server) if is_ntp_server(server) => servers.push(server.to_owned()),
                    Some(_) => problems.push(format!("does not match regular expression {NTP_SERVER_PATTERN} {at}")),
                    None => problems.push(format!("expected str {at}")),
                }
            }
            *list = Some(servers);
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(ApiError::bad_request(problems.join("\n")));
        }
        Ok(options)
    }
}

/// Sets the host's NTP servers through the OS-Agent and restarts timesyncd; a body without
/// either list changes nothing. Every server is checked before anything changes.
#[utoipa::path(tag = "time", request_body = Option<TimeOptions>,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 400, description = "A server that is not a name or an address", body = http_api::envelope::ErrorEnvelope),
        (status = 404, description = "Not Home Assistant OS 18.3 or newer", body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn time_options(host: Host, body: Body<Map<String, Value>>) -> ApiResult {
    host.check_ntp()?;
    let options = TimeOptions::parse(body.into_inner())?;
    host.set_ntp_servers(options.servers, options.fallback_servers).await?;
    ok_empty()
}

/// `hostname` must be a string; anything else is refused in voluptuous's words, naming the key.
fn hostname_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(Some(text)),
        _ => Err(serde::de::Error::custom("expected str for dictionary value @ data['hostname']")),
    }
}

/// `force` must be a boolean; anything else is refused in voluptuous's words, naming the key.
fn force_flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(value) => Ok(value),
        _ => Err(serde::de::Error::custom("expected boolean for dictionary value @ data['force']")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;
    use actix_web::test::{call_service, init_service, TestRequest};
    use actix_web::App;
    use base::DataDir;
    use dbus::{HostServices, SystemBus};
    use dbus_fixtures::{PrivateBus, Service as Fixture};
    use journal::testing::{Entry, TestJournal};
    use serde_json::{json, Value};
    use std::sync::Arc;

    const HOST_FIXTURES: [Fixture; 5] =
        [Fixture::Systemd1, Fixture::Login1, Fixture::Hostname1, Fixture::Timedate1, Fixture::Resolve1];

    fn time_options(body: Value) -> Result<TimeOptions, String> {
        TimeOptions::parse(body.as_object().unwrap().clone()).map_err(|error| error.error.message)
    }

    #[test]
    fn ntp_servers_are_names_or_addresses_and_refusals_name_them() {
        let servers = json!(["pool.ntp.org", "192.168.1.1", "fe80::1%eth0", "time_1-a"]);
        let options = time_options(json!({"servers": servers, "fallback_servers": []})).unwrap();
        assert_eq!(options.servers.unwrap(), ["pool.ntp.org", "192.168.1.1", "fe80::1%eth0", "time_1-a"]);
        assert_eq!(options.fallback_servers, Some(vec![]));
        assert_eq!(time_options(json!({})).unwrap(), TimeOptions::default());

        let pattern = r"does not match regular expression ^[a-zA-Z0-9._:%-]+\Z";
        for (body, message) in [
            (json!({"servers": [""]}), format!("{pattern} @ data['servers'][0]. Got ''")),
            (
                json!({"servers": ["ok.org", "pool ntp.org"]}),
                format!("{pattern} @ data['servers'][1]. Got 'pool ntp.org'"),
            ),
            (json!({"servers": ["pool.ntp.org\n"]}), format!(r"{pattern} @ data['servers'][0]. Got 'pool.ntp.org\n'")),
            (
                json!({"servers": ["pool.ntp.org\u{0}"]}),
                format!(r"{pattern} @ data['servers'][0]. Got 'pool.ntp.org\x00'"),
            ),
            (
                json!({"fallback_servers": ["time.google.com # comment"]}),
                format!("{pattern} @ data['fallback_servers'][0]. Got 'time.google.com # comment'"),
            ),
            (json!({"fallback_servers": ["[::1]"]}), format!("{pattern} @ data['fallback_servers'][0]. Got '[::1]'")),
            (json!({"servers": [1]}), "expected str @ data['servers'][0]. Got 1".to_owned()),
            (
                json!({"servers": "pool.ntp.org"}),
                "expected a list for dictionary value @ data['servers']. Got 'pool.ntp.org'".to_owned(),
            ),
            (json!({"servers": null}), "expected a list for dictionary value @ data['servers']. Got None".to_owned()),
            (json!({"server": []}), "extra keys not allowed @ data['server']. Got []".to_owned()),
        ] {
            assert_eq!(time_options(body.clone()), Err(message), "{body}");
        }

        let both = time_options(json!({"servers": ["a b"], "fallback_servers": [true]})).unwrap_err();
        assert_eq!(
            both,
            format!("{pattern} @ data['servers'][0]. Got 'a b'\nexpected str @ data['fallback_servers'][0]. Got True")
        );
    }

    /// A manager on `bus` (none: no bus at all), a fresh data directory and the journal at
    /// `journal` (none: a socket that does not exist).
    async fn manager(bus: Option<&PrivateBus>, journal: Option<&str>) -> (HostManager, tempfile::TempDir) {
        let system = match bus {
            Some(bus) => Some(SystemBus::connect_to(bus.address()).await.unwrap()),
            None => None,
        };
        let services = Arc::new(HostServices::watch(system).await);
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        data.ensure_layout().unwrap();
        let gateway = journal::Gateway::new(journal.unwrap_or("unix:/nonexistent/gatewayd.sock")).unwrap();
        (HostManager::new(services, data, gateway, std::path::PathBuf::from("/")), dir)
    }

    /// Calls the group's routes; answers the status and the body as text.
    async fn call(host: HostManager, requests: Vec<TestRequest>) -> Vec<(u16, String)> {
        let app = init_service(App::new().app_data(web::Data::new(host)).configure(http_api::Routes::of(routes))).await;
        let mut answers = Vec::new();
        for request in requests {
            let response = call_service(&app, request.to_request()).await;
            let status = response.status().as_u16();
            let body = to_bytes(response.into_body()).await.unwrap();
            answers.push((status, String::from_utf8_lossy(&body).into_owned()));
        }
        answers
    }

    fn get(uri: &str) -> TestRequest {
        TestRequest::get().uri(uri)
    }

    fn post(uri: &str, body: Value) -> TestRequest {
        TestRequest::post().uri(uri).set_json(body)
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    #[actix_web::test]
    async fn info_comes_from_the_services() {
        let bus = PrivateBus::start(&HOST_FIXTURES).unwrap();
        let (host, _dir) = manager(Some(&bus), None).await;
        let answers = call(host, vec![get("/host/info")]).await;
        let (status, body) = &answers[0];
        assert_eq!(*status, 200, "{body}");
        let data = &json(body)["data"];
        assert_eq!(data["hostname"], "debian");
        assert_eq!(data["kernel"], "6.1.0-28-amd64");
        assert_eq!(data["operating_system"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(
            (&data["chassis"], &data["virtualization"], &data["cpe"]),
            (&json!("vm"), &json!("kvm"), &json!(""))
        );
        assert_eq!(
            (&data["timezone"], &data["use_ntp"], &data["dt_synchronized"]),
            (&json!("Etc/UTC"), &json!(true), &json!(true))
        );
        assert!(data["dt_utc"].as_str().unwrap().ends_with("+00:00"), "{data}");
        assert_eq!(
            (&data["llmnr_hostname"], &data["broadcast_llmnr"], &data["broadcast_mdns"]),
            (&json!("debian"), &json!(true), &json!(false))
        );
        assert_eq!(data["boot_timestamp"], 1_767_254_400_000_000u64 + 6_512_448);
        assert!((data["startup_time"].as_f64().unwrap() - 1.843213).abs() < 1e-9);
        assert!(data["agent_version"].is_null() && data["apparmor_version"].is_null(), "no OS-Agent");
        assert!(data["disk_total"].as_f64().unwrap() > 0.0);
        assert_eq!(
            data["features"],
            json!(["reboot", "shutdown", "services", "hostname", "timedate", "resolved", "mount"])
        );
    }

    #[actix_web::test]
    async fn without_a_bus_nothing_is_known_and_nothing_can_be_done() {
        let (host, _dir) = manager(None, None).await;
        let answers = call(
            host,
            vec![
                get("/host/info"),
                post("/host/options", json!({"hostname": "new"})),
                post("/host/reboot", json!({})),
                post("/host/shutdown", json!({})),
                get("/host/services"),
                post("/host/service/docker.service/start", json!({})),
                post("/host/reload", json!({})),
            ],
        )
        .await;
        let info = json(&answers[0].1);
        assert_eq!(info["data"]["features"], json!([]));
        assert!(info["data"]["hostname"].is_null());
        let messages: Vec<(u16, Value)> = answers[1..6].iter().map(|(s, b)| (*s, json(b)["message"].clone())).collect();
        assert_eq!(
            messages,
            [
                (400, json!("No hostname D-Bus connection available")),
                (400, json!("No reboot D-Bus connection available")),
                (400, json!("No shutdown D-Bus connection available")),
                (400, json!("No systemd D-Bus connection available")),
                (400, json!("No systemd D-Bus connection available")),
            ]
        );
        assert_eq!(answers[6].0, 200, "a reload with nothing to read still works");
    }

    #[actix_web::test]
    async fn hostname_changes_go_to_hostnamed_which_judges_them() {
        let bus = PrivateBus::start(&HOST_FIXTURES).unwrap();
        let (host, _dir) = manager(Some(&bus), None).await;
        let answers = call(
            host,
            vec![
                post("/host/options", json!({"hostname": "homeassistant"})),
                get("/host/info"),
                post("/host/options", json!({"hostname": "not_valid"})),
                post("/host/options", json!({"hostname": 5})),
                post("/host/options", json!({"hostname": "x", "bogus": 1})),
                post("/host/options", json!({})),
            ],
        )
        .await;
        assert_eq!(answers[0].0, 200, "{}", answers[0].1);
        assert_eq!(json(&answers[1].1)["data"]["hostname"], "homeassistant", "shown at once");
        let refused = json(&answers[2].1);
        assert_eq!(answers[2].0, 400);
        assert_eq!(refused["error_key"], "host_invalid_hostname");
        assert_eq!(refused["extra_fields"], json!({"hostname": "not_valid"}));
        assert_eq!(refused["message"], "Invalid hostname 'not_valid'");
        assert_eq!(answers[3].0, 400);
        assert!(answers[3].1.contains("data['hostname']"), "{}", answers[3].1);
        assert_eq!(answers[4].0, 400);
        assert!(answers[4].1.contains("bogus"), "{}", answers[4].1);
        assert_eq!(answers[5].0, 400, "an options call needs an option");
        assert_eq!(
            bus.calls(Fixture::Hostname1).unwrap(),
            ["SetStaticHostname(homeassistant, false)", "SetStaticHostname(not_valid, false)"],
            "bad payloads reach nothing"
        );
    }

    #[actix_web::test]
    async fn power_goes_through_logind_else_systemd() {
        let bus = PrivateBus::start(&HOST_FIXTURES).unwrap();
        let (host, _dir) = manager(Some(&bus), None).await;
        let host = web::Data::new(host);
        let app = init_service(App::new().app_data(host.clone()).configure(http_api::Routes::of(routes))).await;
        let status = |request: TestRequest| {
            let app = &app;
            async move { call_service(app, request.to_request()).await.status().as_u16() }
        };
        assert_eq!(status(post("/host/reboot", json!({}))).await, 200);
        assert_eq!(status(post("/host/shutdown", json!({"force": true}))).await, 200);
        assert_eq!(status(post("/host/reboot", json!({"force": "yes"}))).await, 400);
        assert_eq!(bus.calls(Fixture::Login1).unwrap(), ["Reboot(false)", "PowerOff(false)"]);

        bus.stop_service(Fixture::Login1).unwrap();
        let mut logind = host.services().logind.subscribe();
        logind.wait_for(Option::is_none).await.unwrap();
        assert_eq!(status(post("/host/reboot", json!({}))).await, 200);
        let systemd = bus.calls(Fixture::Systemd1).unwrap();
        assert_eq!(systemd.last().map(String::as_str), Some("Reboot()"));
        // Outside Home Assistant OS the pre-shutdown target does not exist, and is skipped.
        assert!(systemd.contains(&"StartUnit(haos-pre-shutdown.target, replace)".to_owned()), "{systemd:?}");
    }

    #[actix_web::test]
    async fn services_are_the_loaded_service_units_and_only_they_can_be_controlled() {
        let bus = PrivateBus::start(&HOST_FIXTURES).unwrap();
        let (host, _dir) = manager(Some(&bus), None).await;
        let answers = call(
            host,
            vec![
                get("/host/services"),
                post("/host/service/docker.service/stop", json!({})),
                get("/host/services"),
                post("/host/service/docker.service/start", json!({})),
                post("/host/service/ssh.service/restart", json!({})),
                post("/host/service/cron.service/reload", json!({})),
                post("/host/service/docker.socket/stop", json!({})),
                post("/host/service/plymouth-quit-wait.service/start", json!({})),
            ],
        )
        .await;
        let services = json(&answers[0].1)["data"]["services"].clone();
        let names: Vec<&str> = services.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert!(names.iter().all(|name| name.ends_with(".service")), "{names:?}");
        assert!(!names.contains(&"plymouth-quit-wait.service"), "not-found units are left out");
        assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "sorted: {names:?}");
        let docker = services.as_array().unwrap().iter().find(|s| s["name"] == "docker.service").unwrap();
        assert_eq!(
            docker,
            &json!({"name": "docker.service", "description": "Docker Application Container Engine", "state": "active"})
        );
        assert_eq!(answers[1].0, 200);
        assert!(answers[2].1.contains(
            r#""name":"docker.service","description":"Docker Application Container Engine","state":"inactive""#
        ));
        assert!(answers[3..6].iter().all(|(status, _)| *status == 200), "{answers:?}");
        for (status, body) in &answers[6..] {
            assert_eq!(*status, 400);
            assert!(json(body)["message"].as_str().unwrap().starts_with("Unit '"), "{body}");
        }
        assert_eq!(
            bus.calls(Fixture::Systemd1).unwrap(),
            [
                "StopUnit(docker.service, replace)",
                "StartUnit(docker.service, replace)",
                "RestartUnit(ssh.service, replace)",
                "ReloadUnit(cron.service, replace)"
            ]
        );
    }

    #[actix_web::test]
    async fn disk_usage_lists_the_known_folders_and_refuses_a_bad_depth() {
        let (host, dir) = manager(None, None).await;
        std::fs::create_dir_all(dir.path().join("share/docs")).unwrap();
        std::fs::write(dir.path().join("share/docs/a.txt"), vec![b'x'; 4096]).unwrap();
        let answers = call(
            host,
            vec![
                get("/host/disks/default/usage"),
                get("/host/disks/default/usage?max_depth=2"),
                get("/host/disks/default/usage?max_depth=deep"),
                get("/host/disks/default/usage?max_depth=-1"),
            ],
        )
        .await;
        let flat = json(&answers[0].1)["data"].clone();
        let ids: Vec<&str> = flat["children"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["system", "addons_data", "addons_config", "media", "share", "backup", "ssl", "homeassistant"]);
        assert_eq!((&flat["id"], &flat["label"]), (&json!("root"), &json!("Root")));
        let share = &flat["children"][4];
        assert_eq!((&share["used_bytes"], share.get("children")), (&json!(4096), None));
        let deep = json(&answers[1].1)["data"].clone();
        assert_eq!(deep["children"][4]["children"], json!([{"id": "docs", "label": "docs", "used_bytes": 4096}]));
        for (status, body) in &answers[2..] {
            assert_eq!(*status, 400);
            assert!(json(body)["message"].as_str().unwrap().contains("max_depth"), "{body}");
        }
    }

    const BOOT_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const BOOT_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const T0: u64 = 1_700_000_000_000_000;

    #[actix_web::test]
    async fn logs_select_identifiers_and_boots() {
        let journal = TestJournal::serve(&[
            Entry::log(BOOT_A, T0, "kernel", "a kernel"),
            Entry::log(BOOT_A, T0 + 1, "myapp", "a myapp"),
            Entry::log(BOOT_B, T0 + 2, "kernel", "b kernel"),
            Entry::log(BOOT_B, T0 + 3, "myapp", "b myapp"),
        ])
        .unwrap();
        let (host, _dir) = manager(None, Some(journal.address())).await;
        let answers = call(
            host,
            vec![
                get("/host/logs"),
                get("/host/logs/identifiers/myapp"),
                get("/host/logs/boots/-1"),
                get(&format!("/host/logs/boots/{BOOT_B}/identifiers/myapp")),
                get("/host/logs/boots"),
                get("/host/logs/identifiers"),
                get("/host/info"),
            ],
        )
        .await;
        let lines = |i: usize| answers[i].1.lines().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(lines(0).len(), 2, "only the host services' identifiers: {:?}", lines(0));
        assert!(lines(0)[1].ends_with("testhost kernel: b kernel"), "verbose: {:?}", lines(0));
        assert_eq!(lines(1), ["a myapp", "b myapp"]);
        assert!(lines(2)[0].ends_with("kernel: a kernel") && lines(2).len() == 1, "{:?}", lines(2));
        assert_eq!(lines(3), ["b myapp"]);
        assert_eq!(json(&answers[4].1)["data"], json!({"boots": {"-1": BOOT_A, "0": BOOT_B}}));
        assert_eq!(json(&answers[5].1)["data"], json!({"identifiers": ["kernel", "myapp"]}));
        assert_eq!(json(&answers[6].1)["data"]["features"], json!(["journal"]));
    }

    #[actix_web::test]
    async fn logs_without_a_journal_say_so() {
        let (host, _dir) = manager(None, None).await;
        let answers = call(host, vec![get("/host/logs"), get("/host/logs/follow"), get("/host/logs/boots")]).await;
        for (status, body) in &answers[..2] {
            assert_eq!((*status, body.as_str()), (400, "No systemd-journal-gatewayd Unix socket available"));
        }
        assert_eq!(answers[2].0, 400);
        assert_eq!(json(&answers[2].1)["message"], "No systemd-journal-gatewayd Unix socket available");
    }
}
