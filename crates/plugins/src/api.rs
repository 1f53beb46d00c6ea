//! The plugins' API groups, as the real Supervisor has them: `/dns`, `/audio`, `/cli`,
//! `/observer` and `/multicast`, each with its info, stats and update, a restart where the real
//! one has it, the dns plugin's options and reset, and the logs of dns, audio and multicast.

use crate::manager::PluginManager;
use crate::Plugin;
use actix_web::{get, post, web, HttpResponse};
use docker::Stats;
use http_api::body::{Body, Options};
use http_api::logs::{LogDocs, LogError, LogRequest, LogSource};
use http_api::routes::{INFO, MANAGER};
use http_api::{ok, ok_empty, ApiResult, Routes};
use pulse::StreamType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(routes: &mut Routes) {
    routes.tag("dns", "The dns plugin: the resolver of the container network");
    routes
        .group("/dns")
        .route(INFO, dns_info)
        .route(MANAGER, dns_stats)
        .route(MANAGER, dns_update)
        .route(MANAGER, dns_options)
        .route(MANAGER, dns_restart)
        .route(MANAGER, dns_reset)
        .logs("", MANAGER, PluginLogs(Plugin::Dns));
    routes.tag("audio", "The audio plugin: PulseAudio for Core and the add-ons");
    routes
        .group("/audio")
        .route(INFO, audio_info)
        .route(MANAGER, audio_stats)
        .route(MANAGER, audio_update)
        .route(MANAGER, audio_restart)
        .route(MANAGER, audio_reload)
        .route(MANAGER, audio_profile)
        .route(MANAGER, audio_volume_application)
        .route(MANAGER, audio_volume)
        .route(MANAGER, audio_mute_application)
        .route(MANAGER, audio_mute)
        .route(MANAGER, audio_default)
        .logs("", MANAGER, PluginLogs(Plugin::Audio));
    routes.tag("cli", "The cli plugin: the `ha` command line in a container of its own");
    routes.group("/cli").route(INFO, cli_info).route(MANAGER, cli_stats).route(MANAGER, cli_update);
    routes.tag("observer", "The observer plugin: the page on the host's port 4357 that tells the supervisor's state");
    routes.group("/observer").route(INFO, observer_info).route(MANAGER, observer_stats).route(MANAGER, observer_update);
    routes.tag("multicast", "The multicast plugin: mDNS and LLMNR between the host's network and the containers'");
    routes
        .group("/multicast")
        .route(INFO, multicast_info)
        .route(MANAGER, multicast_stats)
        .route(MANAGER, multicast_update)
        .route(MANAGER, multicast_restart)
        .logs("", MANAGER, PluginLogs(Plugin::Multicast));
}

/// The versions of a plugin (`/cli/info`, `/multicast/info`).
#[derive(Serialize, ToSchema)]
pub struct PluginInfo {
    /// The installed version; `null` until installed.
    version: Option<String>,
    version_latest: Option<String>,
    update_available: bool,
}

impl PluginInfo {
    fn of(plugins: &PluginManager, plugin: Plugin) -> Self {
        PluginInfo {
            version: plugins.version(plugin),
            version_latest: plugins.version_latest(plugin),
            update_available: plugins.update_available(plugin),
        }
    }
}

/// The address of a plugin and its versions (`/observer/info`).
#[derive(Serialize, ToSchema)]
pub struct HostedPluginInfo {
    /// Where containers reach the plugin.
    host: Option<String>,
    #[serde(flatten)]
    versions: PluginInfo,
}

impl HostedPluginInfo {
    async fn of(plugins: &PluginManager, plugin: Plugin) -> Self {
        HostedPluginInfo {
            host: plugins.address(plugin).await.map(|address| address.to_string()),
            versions: PluginInfo::of(plugins, plugin),
        }
    }
}

/// The version to update to; the latest by default.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginUpdate {
    version: Option<String>,
}

// dns

/// The dns plugin, its upstream servers and the host's resolvers and name protocols.
#[derive(Serialize, ToSchema)]
pub struct DnsInfo {
    host: Option<String>,
    #[serde(flatten)]
    versions: PluginInfo,
    /// The user's upstream servers, tried first.
    servers: Vec<String>,
    /// The host's resolvers, tried next.
    locals: Vec<String>,
    /// Whether the host resolves multicast DNS names.
    mdns: bool,
    /// Whether the host resolves LLMNR names.
    llmnr: bool,
    /// Whether the fallback servers are tried last.
    fallback: bool,
}

#[utoipa::path(tag = "dns", responses((status = 200, body = http_api::envelope::Envelope<DnsInfo>)))]
#[get("/info")]
async fn dns_info(plugins: web::Data<PluginManager>) -> ApiResult {
    let options = plugins.dns_options();
    ok(DnsInfo {
        host: plugins.address(Plugin::Dns).await.map(|address| address.to_string()),
        versions: PluginInfo::of(&plugins, Plugin::Dns),
        servers: options.servers,
        locals: plugins.locals(),
        mdns: plugins.mdns(),
        llmnr: plugins.llmnr(),
        fallback: options.fallback,
    })
}

#[utoipa::path(tag = "dns", responses((status = 200, body = http_api::envelope::Envelope<Stats>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/stats")]
async fn dns_stats(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(plugins.stats(Plugin::Dns).await?)
}

/// Updates the dns plugin; refused for the installed version.
#[utoipa::path(tag = "dns", request_body = PluginUpdate, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/update")]
async fn dns_update(plugins: web::Data<PluginManager>, body: Body<PluginUpdate>) -> ApiResult {
    plugins.update(Plugin::Dns, body.into_inner().version).await?;
    ok_empty()
}

/// Either key may be left out.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsOptions {
    /// Upstream servers, `dns://` and an IPv4 address, at most 8.
    servers: Option<Vec<String>>,
    /// Try the fallback servers when the others fail.
    fallback: Option<bool>,
}

/// Sets the upstream servers and the fallback; a bad server is refused (400 naming it) and
/// nothing changes. The plugin reads its new configuration at once.
#[utoipa::path(tag = "dns", request_body = DnsOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn dns_options(plugins: web::Data<PluginManager>, body: Options<DnsOptions>) -> ApiResult {
    let options = body.into_inner();
    plugins.set_dns_options(options.servers, options.fallback).await?;
    ok_empty()
}

#[utoipa::path(tag = "dns", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/restart")]
async fn dns_restart(plugins: web::Data<PluginManager>) -> ApiResult {
    plugins.restart(Plugin::Dns).await?;
    ok_empty()
}

/// Forgets the upstream servers, turns the fallback on and writes the plugin's files anew.
#[utoipa::path(tag = "dns", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[post("/reset")]
async fn dns_reset(plugins: web::Data<PluginManager>) -> ApiResult {
    plugins.reset_dns().await?;
    ok_empty()
}

// audio

/// The audio plugin and what its sound server holds.
#[derive(Serialize, ToSchema)]
pub struct AudioInfo {
    #[serde(flatten)]
    plugin: HostedPluginInfo,
    /// Cards, inputs, outputs and applications; empty while the sound server does not answer.
    #[schema(value_type = Object)]
    audio: pulse::Audio,
}

/// The audio plugin's address, versions, and the sound server's cards, devices and applications.
#[utoipa::path(tag = "audio", responses((status = 200, body = http_api::envelope::Envelope<AudioInfo>)))]
#[get("/info")]
async fn audio_info(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(AudioInfo { plugin: HostedPluginInfo::of(&plugins, Plugin::Audio).await, audio: plugins.audio().await })
}

#[utoipa::path(tag = "audio", responses((status = 200, body = http_api::envelope::Envelope<Stats>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/stats")]
async fn audio_stats(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(plugins.stats(Plugin::Audio).await?)
}

/// Updates the audio plugin; refused for the installed version.
#[utoipa::path(tag = "audio", request_body = PluginUpdate, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/update")]
async fn audio_update(plugins: web::Data<PluginManager>, body: Body<PluginUpdate>) -> ApiResult {
    plugins.update(Plugin::Audio, body.into_inner().version).await?;
    ok_empty()
}

#[utoipa::path(tag = "audio", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/restart")]
async fn audio_restart(plugins: web::Data<PluginManager>) -> ApiResult {
    plugins.restart(Plugin::Audio).await?;
    ok_empty()
}

/// Reads the sound server anew; 400 when it does not answer.
#[utoipa::path(tag = "audio", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/reload")]
async fn audio_reload(plugins: web::Data<PluginManager>) -> ApiResult {
    plugins.audio_reload().await?;
    ok_empty()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioProfile {
    /// The sound card's name.
    card: String,
    /// The profile's name.
    name: String,
}

/// Activates a profile of a sound card; a card or profile that does not exist is a 400 naming it.
#[utoipa::path(tag = "audio", request_body = AudioProfile, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/profile")]
async fn audio_profile(plugins: web::Data<PluginManager>, body: Body<AudioProfile>) -> ApiResult {
    let body = body.into_inner();
    plugins.audio_profile(&body.card, &body.name).await?;
    ok_empty()
}

/// The `{source}` of a path: `input` or `output`, else a 400 naming it.
fn stream_type(source: &str) -> Result<StreamType, base::Error> {
    source.parse().map_err(base::Error::invalid)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioVolume {
    /// The device's or the application stream's index (`/audio/info`).
    index: u32,
    /// 1.0 is 100 %; more amplifies, up to +11 dB.
    volume: f64,
}

/// Sets the volume of an input or output device.
#[utoipa::path(tag = "audio", params(("source" = String, Path, description = "`input` or `output`")), request_body = AudioVolume,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/volume/{source}")]
async fn audio_volume(
    plugins: web::Data<PluginManager>,
    source: web::Path<String>,
    body: Body<AudioVolume>,
) -> ApiResult {
    let body = body.into_inner();
    plugins.audio_volume(stream_type(&source)?, body.index, body.volume, false).await?;
    ok_empty()
}

/// Sets the volume of an application stream: one recording (`input`) or playing (`output`).
#[utoipa::path(tag = "audio", params(("source" = String, Path, description = "`input` or `output`")), request_body = AudioVolume,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/volume/{source}/application")]
async fn audio_volume_application(
    plugins: web::Data<PluginManager>,
    source: web::Path<String>,
    body: Body<AudioVolume>,
) -> ApiResult {
    let body = body.into_inner();
    plugins.audio_volume(stream_type(&source)?, body.index, body.volume, true).await?;
    ok_empty()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioMute {
    /// The device's or the application stream's index (`/audio/info`).
    index: u32,
    /// `true` mutes, `false` unmutes.
    active: bool,
}

/// Mutes or unmutes an input or output device.
#[utoipa::path(tag = "audio", params(("source" = String, Path, description = "`input` or `output`")), request_body = AudioMute,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/mute/{source}")]
async fn audio_mute(plugins: web::Data<PluginManager>, source: web::Path<String>, body: Body<AudioMute>) -> ApiResult {
    let body = body.into_inner();
    plugins.audio_mute(stream_type(&source)?, body.index, body.active, false).await?;
    ok_empty()
}

/// Mutes or unmutes an application stream.
#[utoipa::path(tag = "audio", params(("source" = String, Path, description = "`input` or `output`")), request_body = AudioMute,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/mute/{source}/application")]
async fn audio_mute_application(
    plugins: web::Data<PluginManager>,
    source: web::Path<String>,
    body: Body<AudioMute>,
) -> ApiResult {
    let body = body.into_inner();
    plugins.audio_mute(stream_type(&source)?, body.index, body.active, true).await?;
    ok_empty()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioDefault {
    /// The device's name (`/audio/info`).
    name: String,
}

/// Makes a device the default input or output.
#[utoipa::path(tag = "audio", params(("source" = String, Path, description = "`input` or `output`")), request_body = AudioDefault,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/default/{source}")]
async fn audio_default(
    plugins: web::Data<PluginManager>,
    source: web::Path<String>,
    body: Body<AudioDefault>,
) -> ApiResult {
    plugins.audio_default(stream_type(&source)?, &body.into_inner().name).await?;
    ok_empty()
}

// cli

#[utoipa::path(tag = "cli", responses((status = 200, body = http_api::envelope::Envelope<PluginInfo>)))]
#[get("/info")]
async fn cli_info(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(PluginInfo::of(&plugins, Plugin::Cli))
}

#[utoipa::path(tag = "cli", responses((status = 200, body = http_api::envelope::Envelope<Stats>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/stats")]
async fn cli_stats(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(plugins.stats(Plugin::Cli).await?)
}

/// Updates the cli plugin; the installed version is left as it is.
#[utoipa::path(tag = "cli", request_body = PluginUpdate, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/update")]
async fn cli_update(plugins: web::Data<PluginManager>, body: Body<PluginUpdate>) -> ApiResult {
    plugins.update(Plugin::Cli, body.into_inner().version).await?;
    ok_empty()
}

// observer

#[utoipa::path(tag = "observer", responses((status = 200, body = http_api::envelope::Envelope<HostedPluginInfo>)))]
#[get("/info")]
async fn observer_info(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(HostedPluginInfo::of(&plugins, Plugin::Observer).await)
}

#[utoipa::path(tag = "observer", responses((status = 200, body = http_api::envelope::Envelope<Stats>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/stats")]
async fn observer_stats(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(plugins.stats(Plugin::Observer).await?)
}

/// Updates the observer plugin; the installed version is left as it is.
#[utoipa::path(tag = "observer", request_body = PluginUpdate, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/update")]
async fn observer_update(plugins: web::Data<PluginManager>, body: Body<PluginUpdate>) -> ApiResult {
    plugins.update(Plugin::Observer, body.into_inner().version).await?;
    ok_empty()
}

// multicast

#[utoipa::path(tag = "multicast", responses((status = 200, body = http_api::envelope::Envelope<PluginInfo>)))]
#[get("/info")]
async fn multicast_info(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(PluginInfo::of(&plugins, Plugin::Multicast))
}

#[utoipa::path(tag = "multicast", responses((status = 200, body = http_api::envelope::Envelope<Stats>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/stats")]
async fn multicast_stats(plugins: web::Data<PluginManager>) -> ApiResult {
    ok(plugins.stats(Plugin::Multicast).await?)
}

/// Updates the multicast plugin; refused for the installed version.
#[utoipa::path(tag = "multicast", request_body = PluginUpdate, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/update")]
async fn multicast_update(plugins: web::Data<PluginManager>, body: Body<PluginUpdate>) -> ApiResult {
    plugins.update(Plugin::Multicast, body.into_inner().version).await?;
    ok_empty()
}

#[utoipa::path(tag = "multicast", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/restart")]
async fn multicast_restart(plugins: web::Data<PluginManager>) -> ApiResult {
    plugins.restart(Plugin::Multicast).await?;
    ok_empty()
}

/// A plugin's log: its journal entries (identifier: its container's name, `hassio_dns`), else
/// the engine's log of its container.
struct PluginLogs(Plugin);

impl LogSource for PluginLogs {
    type Manager = PluginManager;

    fn docs(&self) -> LogDocs {
        let (name, whose) = match self.0 {
            Plugin::Dns => ("dns", "The dns plugin's"),
            Plugin::Audio => ("audio", "The audio plugin's"),
            Plugin::Cli => ("cli", "The cli plugin's"),
            Plugin::Observer => ("observer", "The observer plugin's"),
            Plugin::Multicast => ("multicast", "The multicast plugin's"),
        };
        LogDocs {
            tag: name,
            name,
            whose,
            about: "From the journal (identifier: the plugin's container, `hassio_<plugin>`), verbose unless \
                asked otherwise, else the engine's log of the plugin's current container: then boot `0` is the \
                only one.",
            errors: &[LogError {
                status: 400,
                when: "A wrong `Range`, `lines` or `Accept`, or a boot the log does not hold",
                envelope: false,
            }],
        }
    }

    async fn answer(&self, plugins: &PluginManager, request: LogRequest) -> actix_web::Result<HttpResponse> {
        request.lines()?;
        let name = plugins.container_name(self.0);
        if let Some(gateway) = request.http().app_data::<web::Data<journal::Gateway>>() {
            let logs = journal::Logs::identifiers([name.clone()])
                .format_by_default(base::logs::LineFormat::Verbose)
                .fallback_when_empty();
            if let Ok(response) = request.journal(gateway, &request.select(logs)).await {
                return Ok(response);
            }
        }
        let docker = plugins.docker();
        request.container_log(|tail, follow| docker.container_log(&name, tail, follow)).await
    }
}
