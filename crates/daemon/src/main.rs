//! `supervisor`: the daemon. It opens the data directory and the database, wires the managers
//! together, serves the API, and stops cleanly on SIGTERM (or restarts in place on request).
//!
//! It never needs the container engine to start: the engine is connected in the background and
//! reported as unhealthy until it answers.

mod health;
mod memory;
mod notify;
mod peers;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, HttpServer};
use addons::AddonManager;
use anyhow::Context;
use base::{CoreState, DataDir, Lifecycle, System};
use clap::Parser;
use docker::{DockerManager, Naming};
use jobs::JobManager;
use peers::Peers;
use router::AppState;
use security::{SecurityManager, Tokens};
use state::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::StoreManager;
use supervisor::{LogLevel, SupervisorLog, SupervisorManager};
use updater::Updater;

#[derive(Parser, Debug)]
#[command(
    name = "supervisor",
    version,
    about = "A supervisor for home servers, wire-compatible with the Home Assistant Supervisor API"
)]
struct Args {
    /// Where configuration, add-on data, backups and logs live.
    #[arg(long, env = "SUPERVISOR_DATA_DIR", default_value = "/var/lib/supervisor")]
    data_dir: PathBuf,
    /// Address and port to serve the API on; port 0 picks a free port. Not 4357: that is the
    /// observer plugin's port on the host.
    #[arg(long, env = "SUPERVISOR_LISTEN", default_value = "127.0.0.1:4358")]
    listen: SocketAddr,
    /// Address and port of the balena Supervisor's device API; port 0 picks a free port.
    #[arg(long, env = "SUPERVISOR_BALENA_LISTEN", default_value = "127.0.0.1:48484")]
    balena_listen: SocketAddr,
    /// The container engine's socket.
    #[arg(long, env = "SUPERVISOR_DOCKER", default_value = "unix:///var/run/docker.sock")]
    docker: String,
    /// Log level (debug, info, warning, error, critical); the persisted option when not given.
    #[arg(long, env = "SUPERVISOR_LOG_LEVEL", value_parser = parse_level)]
    log_level: Option<LogLevel>,
    /// Version manifest: an http(s) URL or a file; `{channel}` is replaced by the channel.
    #[arg(long, env = "SUPERVISOR_VERSION_SOURCE", default_value = "https://version.home-assistant.io/{channel}.json")]
    version_source: String,
    /// Machine type that selects Home Assistant versions and images.
    #[arg(long, env = "SUPERVISOR_MACHINE", default_value = base::arch::default_machine())]
    machine: String,
    /// The whoami service, whose time the host's clock is checked against at start.
    #[arg(long, env = "SUPERVISOR_WHOAMI", default_value = "https://services.home-assistant.io/whoami/v1")]
    whoami: String,
    /// The Pwned Passwords range API the add-on password check asks (`<url>/<SHA-1 prefix>`).
    #[arg(long, env = "SUPERVISOR_PWNED_API", default_value = "https://api.pwnedpasswords.com/range")]
    pwned_api: String,
    /// HTTP worker threads of each Supervisor API server (the balena device API's have one).
    #[arg(long, env = "SUPERVISOR_WORKERS", default_value_t = 2)]
    workers: usize,
    /// Prefix of the names of containers and images this supervisor creates, so several can
    /// share one engine.
    #[arg(long, env = "SUPERVISOR_INSTANCE", default_value = "")]
    instance: String,
    /// The container network of add-ons, Core and plugins.
    #[arg(long, env = "SUPERVISOR_NETWORK", default_value = "hassio")]
    network: String,
    /// Its subnet, or `auto` to let the engine choose.
    #[arg(long, env = "SUPERVISOR_NETWORK_SUBNET", default_value = "172.30.32.0/23")]
    network_subnet: String,
    /// The built-in add-on repository (`core`) as a local folder in the add-on repository
    /// format, and no other built-in: for tests and machines that must not reach the internet.
    /// By default the real Supervisor's built-ins, cloned from GitHub on first start.
    #[arg(long, env = "SUPERVISOR_CORE_REPOSITORY")]
    core_repository: Option<PathBuf>,
    /// systemd-journal-gatewayd, the backend of the `.../logs` endpoints: `unix:<socket>` or an
    /// http URL.
    #[arg(long, env = "SUPERVISOR_JOURNAL", default_value = journal::DEFAULT_ADDRESS)]
    journal: String,
    /// The port containers reach the API on, at the network's gateway (`http://supervisor/`).
    #[arg(long, env = "SUPERVISOR_ADDON_PORT", default_value_t = 80)]
    addon_port: u16,
    /// Where the host's `/sys`, `/dev`, `/run/udev` and `/proc` are found (the hardware API, the
    /// evaluations and the eMMC's wear read them); another root serves a fabricated device tree.
    #[arg(long, env = "SUPERVISOR_HOST_ROOT", default_value = "/")]
    host_root: PathBuf,
    /// Install Home Assistant Core at start when it is not installed (the landing page first).
    /// With `false`, an installed Core is still run and kept alive, but none is installed.
    #[arg(long, env = "SUPERVISOR_CORE_INSTALL", default_value_t = true, action = clap::ArgAction::Set)]
    core_install: bool,
    /// Seconds between two checks of Core's API by its watchdog.
    #[arg(long, env = "SUPERVISOR_CORE_WATCHDOG_INTERVAL", default_value_t = 120)]
    core_watchdog_interval: u64,
    /// Seconds between two probes of the add-ons' `watchdog` URLs by the application watchdog
    /// (the real Supervisor's 120; tests set a few seconds).
    #[arg(long, env = "SUPERVISOR_ADDON_WATCHDOG_INTERVAL", default_value_t = 120)]
    addon_watchdog_interval: u64,
    /// Seconds between two rounds of the add-on auto-update (the real Supervisor's 57600; a
    /// test knob).
    #[arg(long, env = "SUPERVISOR_ADDON_AUTO_UPDATE_INTERVAL", default_value_t = 57_600)]
    addon_auto_update_interval: u64,
    /// Seconds a version must have been in the store before the auto-update installs it (the
    /// real Supervisor's one day; a test knob).
    #[arg(long, env = "SUPERVISOR_ADDON_AUTO_UPDATE_DELAY", default_value_t = 86_400)]
    addon_auto_update_delay: u64,
    /// Seconds an admin UI session lasts without a request (an hour; a test knob).
    #[arg(long, env = "SUPERVISOR_ADMIN_SESSION_IDLE", default_value_t = 3_600)]
    admin_session_idle: u64,
    /// Give `realtime` add-ons real-time CPU time where the kernel's cgroups allot it (the real
    /// Supervisor's `SUPERVISOR_CPU_RT=1`).
    #[arg(long, env = "SUPERVISOR_CPU_RT", default_value_t = false, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    cpu_rt: bool,
    /// Install the plugins (dns, audio, cli, observer, multicast) at start when they are not
    /// installed: `true`, `false`, or the names of some (`cli,dns`). Installed plugins are run and
    /// kept alive either way.
    #[arg(long, env = "SUPERVISOR_PLUGINS_INSTALL", default_value = "true", value_parser = parse_plugins)]
    plugins_install: PluginList,
    /// The plugins' image recipes (`plugins/` of the project), for installs that cannot pull the
    /// plugins' images. By default `<dir of the executable>/../share/supervisor/plugins`, or the
    /// project's `plugins/` for a cargo build (`target/<profile>/supervisor`).
    #[arg(long, env = "SUPERVISOR_PLUGINS_SOURCE")]
    plugins_source: Option<PathBuf>,
    /// The host's port the observer plugin serves its page on.
    #[arg(long, env = "SUPERVISOR_OBSERVER_PORT", default_value_t = 4357)]
    observer_port: u16,
    /// The fleet controller to join as a node (`http://controller:8090`); without it the
    /// supervisor is no fleet node and none of the options below matter.
    #[arg(long, env = "SUPERVISOR_CONTROLLER")]
    controller: Option<String>,
    /// The controller's join token (never logged).
    #[arg(long, env = "SUPERVISOR_JOIN_TOKEN", hide_env_values = true, value_parser = parse_secret, default_value = "")]
    join_token: Secret,
    /// Seconds of the node's etcd lease: how long after its last heartbeat the fleet takes a dead
    /// node for offline.
    #[arg(long, env = "SUPERVISOR_FLEET_LEASE_TTL", default_value_t = 10)]
    fleet_lease_ttl: u64,
    /// The node's name in the fleet; the host's name by default.
    #[arg(long, env = "SUPERVISOR_FLEET_NODE_NAME")]
    fleet_node_name: Option<String>,
    /// A USB device offered to the fleet's instances, `NAME=PATH` (`phone-a=/dev/ttyUSB0`);
    /// repeat for more. Instances claim devices by name.
    #[arg(long = "fleet-usb", env = "SUPERVISOR_FLEET_USB", value_delimiter = ',', value_parser = fleet_node::UsbClaim::parse)]
    fleet_usb: Vec<fleet_node::UsbClaim>,
    /// A VLAN id the host has an interface on, offered to the fleet's instances; repeat for more.
    #[arg(long = "fleet-vlan", env = "SUPERVISOR_FLEET_VLAN", value_delimiter = ',')]
    fleet_vlan: Vec<String>,
    /// Instead of serving: asks the daemon listening at `--listen` whether its API answers, and
    /// exits 0 if it does, 1 if not (the container image's HEALTHCHECK).
    #[arg(long)]
    healthcheck: bool,
}

/// A value kept out of the log and of `Debug` output (the join token).
#[derive(Clone, Default)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret(value.to_owned()))
}

/// The plugins `--plugins-install` names.
#[derive(Debug, Clone)]
struct PluginList(Vec<plugins::Plugin>);

fn parse_plugins(value: &str) -> Result<PluginList, String> {
    plugins::parse_install(value).map(PluginList)
}

/// The folder of the supervisor's executable, where the plugin programs are too.
fn executable_dir() -> PathBuf {
    let exe = std::env::current_exe().and_then(|exe| exe.canonicalize()).unwrap_or_default();
    exe.parent().map(PathBuf::from).unwrap_or_default()
}

/// The plugins' recipes: the one given, else the install's shared folder, else the project's
/// `plugins/` when the executable is a cargo build's.
fn plugins_source(args: &Args, exe_dir: &std::path::Path) -> PathBuf {
    if let Some(source) = &args.plugins_source {
        return source.clone();
    }
    let installed = exe_dir.join("../share/supervisor/plugins");
    let project = exe_dir.join("../../plugins");
    let found = [&installed, &project].into_iter().find(|dir| dir.join("cli/image.yaml").is_file());
    let chosen = found.unwrap_or(&installed);
    chosen.canonicalize().unwrap_or_else(|_| chosen.clone())
}

fn parse_level(value: &str) -> Result<LogLevel, String> {
    LogLevel::parse(value).ok_or_else(|| format!("unknown log level {value:?} (debug, info, warning, error, critical)"))
}

/// The real Supervisor's `RUN_RELOAD_APPS`: how often the store pulls its repositories.
const STORE_RELOAD_INTERVAL: Duration = Duration::from_secs(10800);

/// Seconds running jobs get to stop at shutdown.
const JOB_GRACE: Duration = Duration::from_secs(20);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.healthcheck {
        if let Err(e) = health::ping(args.listen) {
            eprintln!("supervisor: the API does not answer: {e}");
            std::process::exit(1);
        }
        return Ok(());
    }
    memory::limit_arenas();
    raise_open_files_limit();
    let next = actix_web::rt::System::new().block_on(serve(&args))?;
    if next == Lifecycle::Restart {
        restart_in_place();
    }
    Ok(())
}

async fn serve(args: &Args) -> anyhow::Result<Lifecycle> {
    let data = DataDir::new(&args.data_dir);
    data.ensure_layout().with_context(|| format!("can't create the data directory {}", args.data_dir.display()))?;
    let cleared = clear_dir(&data.tmp());
    let log = SupervisorLog::init(&data, args.log_level.unwrap_or_default())?;
    let store = Store::open(&data.database()).context("can't open the database")?;

    let system = Arc::new(System::default());
    system.set_state(CoreState::Setup);
    // Not fatal, but a step of the setup failed, which makes the system unhealthy (`setup`) as
    // in the real Supervisor: what a previous run left may be in the way of this one.
    if let Err(e) = cleared {
        tracing::error!("can't clear the temporary folder: {e}");
        system.mark_unhealthy("setup", true);
    }
    let jobs = JobManager::new(&store, Arc::clone(&system), data.clone())?;
    let tokens = Arc::new(Tokens::load(&store, &data)?);
    let naming = Naming {
        instance: args.instance.clone(),
        network: args.network.clone(),
        subnet: (args.network_subnet != "auto").then(|| args.network_subnet.clone()),
    };
    let docker = Arc::new(DockerManager::new(&store, Arc::clone(&system), args.docker.clone(), naming)?);
    let updater = Arc::new(Updater::new(
        &store,
        Arc::clone(&system),
        jobs.clone(),
        args.version_source.clone(),
        args.machine.clone(),
    )?);
    let security = Arc::new(SecurityManager::load(&store)?);
    let catalog = match &args.core_repository {
        Some(folder) => StoreManager::new(&store, data.clone(), jobs.clone(), folder.clone(), args.machine.clone())?,
        None => StoreManager::official(&store, data.clone(), jobs.clone(), args.machine.clone())?,
    };
    let supervisor = Arc::new(SupervisorManager::new(
        &store,
        Arc::clone(&system),
        jobs.clone(),
        Arc::clone(&docker),
        Arc::clone(&updater),
        Arc::clone(&log),
        catalog.clone(),
    )?);
    let timezone_of = Arc::clone(&supervisor);
    let core = homeassistant::CoreManager::new(
        &store,
        data.clone(),
        jobs.clone(),
        Arc::clone(&docker),
        Arc::clone(&updater),
        Arc::clone(&tokens),
        Arc::new(move || timezone_of.timezone()),
        homeassistant::Settings {
            addon_port: args.addon_port,
            install: args.core_install,
            watchdog_interval: Duration::from_secs(args.core_watchdog_interval.max(1)),
        },
    )?;
    let timezone_of = Arc::clone(&supervisor);
    let addons = AddonManager::new(
        &store,
        data.clone(),
        jobs.clone(),
        Arc::clone(&docker),
        Arc::clone(&tokens),
        catalog.clone(),
        Arc::new(move || timezone_of.timezone()),
    )?;
    addons.configure(addons::Settings {
        application_watchdog_interval: Duration::from_secs(args.addon_watchdog_interval.max(1)),
        cpu_realtime: args.cpu_rt,
        auto_update_interval: Duration::from_secs(args.addon_auto_update_interval.max(1)),
        auto_update_delay: Duration::from_secs(args.addon_auto_update_delay),
    });
    let host_services = Arc::new(dbus::HostServices::connect().await);
    let hardware = Arc::new(hardware::HardwareManager::new(Arc::clone(&host_services), args.host_root.clone(), &data));
    addons.set_hardware(Arc::clone(&hardware));
    hardware.start_monitor(Arc::clone(&system));
    let exe_dir = executable_dir();
    let timezone_of = Arc::clone(&supervisor);
    let plugins = plugins::PluginManager::new(
        &store,
        plugins::Parts {
            data: data.clone(),
            jobs: jobs.clone(),
            docker: Arc::clone(&docker),
            updater: Arc::clone(&updater),
            tokens: Arc::clone(&tokens),
            host: Arc::clone(&host_services),
            timezone: Arc::new(move || timezone_of.timezone()),
        },
        plugins::Settings {
            install: args.plugins_install.0.clone(),
            source: plugins_source(args, &exe_dir),
            binaries: exe_dir,
            addon_port: args.addon_port,
            observer_port: args.observer_port,
            host_root: args.host_root.clone(),
        },
    )?;
    supervisor.set_plugins(plugins.clone());
    join_fleet(args, &data, &docker, &jobs, &hardware, &supervisor);
    if let Err(e) = supervisor.connect() {
        tracing::error!("can't record the supervisor's version: {}", e.message);
    }
    let mounts =
        mounts::MountManager::new(&store, data.clone(), Arc::clone(&host_services), Arc::clone(&system), jobs.clone())?;
    let backups = backups::BackupManager::new(
        &store,
        data.clone(),
        Arc::clone(&system),
        jobs.clone(),
        catalog.clone(),
        addons.clone(),
        core.clone(),
        mounts.clone(),
    )?;
    addons.set_update_backup(Arc::new(backups.clone()));
    core.set_update_backup(Arc::new(backups.clone()));
    catalog.load().await;
    let repositories = catalog.clone();
    backups.load().await;
    if args.log_level.is_none() {
        supervisor.apply_log_level()?;
    }

    let gateway = journal::Gateway::new(&args.journal).map_err(anyhow::Error::msg)?;
    let os = Arc::new(os::OsManager::new(
        &store,
        Arc::clone(&host_services),
        Arc::clone(&updater),
        Arc::clone(&system),
        jobs.clone(),
        data.clone(),
        addons.update_locks(),
    )?);
    let host = Arc::new(host::HostManager::new(
        Arc::clone(&host_services),
        data.clone(),
        gateway.clone(),
        args.host_root.clone(),
    ));
    host.set_mounts(Arc::new(mounts.clone()));
    let balena = web::Data::new(
        balena::BalenaManager::new(balena::manager::Parts {
            data: data.clone(),
            host: Arc::clone(&host),
            system: Arc::clone(&system),
            machine: args.machine.clone(),
            docker: Arc::clone(&docker),
            jobs: jobs.clone(),
            store: store.section("balena")?,
        })
        .context("can't set up the balena device API")?,
    );
    let (clock, whoami, clock_system) = (Arc::clone(&host), args.whoami.clone(), Arc::clone(&system));
    let (firewall, firewall_system) = (Arc::clone(&host), Arc::clone(&system));
    actix_web::rt::spawn(async move { clock.adjust_clock(&whoami, &clock_system).await });
    let resolution = resolution::ResolutionManager::new(
        &store,
        resolution::Parts {
            system: Arc::clone(&system),
            jobs: jobs.clone(),
            docker: Arc::clone(&docker),
            updater: Arc::clone(&updater),
            supervisor: Arc::clone(&supervisor),
            host: Arc::clone(&host),
            os: Arc::clone(&os),
            core: core.clone(),
            addons: addons.clone(),
            store: catalog.clone(),
            backups: backups.clone(),
            security: Arc::clone(&security),
            mounts: mounts.clone(),
            plugins: plugins.clone(),
            host_root: args.host_root.clone(),
            machine: args.machine.clone(),
            pwned_api: args.pwned_api.clone(),
        },
    )?;
    let state = AppState {
        system: web::Data::from(Arc::clone(&system)),
        admin: web::Data::new(admin::Sessions::new(admin::Lifetimes {
            idle: Duration::from_secs(args.admin_session_idle.max(1)),
            ..admin::Lifetimes::default()
        })),
        tokens: web::Data::from(tokens),
        jobs: web::Data::new(jobs.clone()),
        docker: web::Data::from(Arc::clone(&docker)),
        updater: web::Data::from(Arc::clone(&updater)),
        supervisor: web::Data::from(supervisor),
        security: web::Data::from(security),
        store: web::Data::new(catalog),
        addons: web::Data::new(addons.clone()),
        backups: web::Data::new(backups),
        journal: web::Data::new(gateway.clone()),
        host: web::Data::from(host),
        os: web::Data::from(Arc::clone(&os)),
        network: web::Data::new(network::Network::new(
            Arc::clone(&host_services),
            Arc::clone(&docker),
            Arc::clone(&system),
        )),
        hardware: web::Data::from(hardware),
        core: web::Data::new(core.clone()),
        auth: web::Data::new(auth::AuthManager::new(&store, core.clone())?),
        discovery: web::Data::new(discovery::DiscoveryManager::new(&store, addons.clone(), core.clone())?),
        services: web::Data::new(discovery::ServicesManager::new(&store, addons.clone())?),
        ingress: web::Data::new(ingress::IngressManager::new(&store, addons.clone(), core.clone())?),
        mounts: web::Data::new(mounts.clone()),
        resolution: web::Data::new(resolution.clone()),
        plugins: web::Data::new(plugins.clone()),
    };
    let workers = args.workers.max(1);
    let peers = Peers::default();
    let (server, address) = bind_api(state.clone(), peers.clone(), workers, args.listen)?;
    let (balena_server, balena_address) = bind_balena(balena.clone(), peers.clone(), args.balena_listen)?;
    balena.set_api_address(balena_address);
    // The `listening on` line comes first: scripts and the tests read the main API's address
    // from it.
    // Written, not printed: a reader that stopped after the first line (a closed pipe) must not
    // panic the daemon, as `println!` would.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {address}").and_then(|()| out.flush());
        let _ = writeln!(out, "balena listening on {balena_address}").and_then(|()| out.flush());
    }
    tracing::info!(%address, data_dir = %args.data_dir.display(), version = base::SUPERVISOR_VERSION, "supervisor listening");
    tracing::info!(address = %balena_address, "balena device API listening");
    let handle = server.handle();
    let serving = actix_web::rt::spawn(server);
    let balena_handle = balena_server.handle();
    let balena_serving = actix_web::rt::spawn(balena_server);
    let container_api = serve_containers(state, peers.clone(), Arc::clone(&docker), workers, args.addon_port);
    let balena_services_api = serve_balena_services(balena.clone(), peers, balena_address);
    system.set_state(CoreState::Running);
    let notifier = notify::Notifier::from_env().map(Arc::new);
    if let Some(notifier) = &notifier {
        notifier.notify(&format!("READY=1\nSTATUS=Serving on {address}"));
        if let Some(interval) = notify::watchdog_interval() {
            actix_web::rt::spawn(feed_watchdog(Arc::clone(notifier), interval, address));
        }
    }

    let engine = Arc::clone(&docker);
    let (gateway_settled, gateway) = tokio::sync::oneshot::channel::<()>();
    let engine_ready = actix_web::rt::spawn(async move {
        engine.connect_until_ready(Duration::from_secs(10)).await;
        // Made at once, not at the first container: containers, Core and `/network/info` rely
        // on its gateway, where the supervisor serves containers.
        match engine.ensure_network().await {
            Ok(network) => {
                let mut gateways = vec![std::net::IpAddr::V4(network.gateway)];
                gateways.extend(network.gateway_v6.map(std::net::IpAddr::V6));
                firewall.protect_gateway(&network.bridge, &gateways, &firewall_system).await;
            }
            Err(e) => tracing::warn!("container network not made: {}", e.message),
        }
        let _ = gateway_settled.send(());
    });
    // After serving: a first start clones the built-in repositories, which may take long or,
    // offline, fail; the store reports it and serves what it has meanwhile.
    actix_web::rt::spawn(async move {
        if let Err(e) = repositories.update_repositories().await {
            tracing::warn!("add-on repositories not updated at start: {}", e.message);
        }
        loop {
            tokio::time::sleep(STORE_RELOAD_INTERVAL).await;
            if let Err(e) = repositories.reload(false).await {
                tracing::warn!("add-on repositories not reloaded: {}", e.message);
            }
        }
    });
    // At every start: a pass cut short (a kill -9 mid-way) is finished.
    actix_web::rt::spawn(balena.clone().into_inner().run_engine());
    let mut boot = vec![engine_ready];
    boot.push(actix_web::rt::spawn(async move { plugins.boot().await }));
    let core_command = core.clone();
    let command: addons::auto_update::CoreCommand = Arc::new(move |message| {
        let core = core_command.clone();
        Box::pin(async move { core.api().command(message).await })
    });
    actix_web::rt::spawn(addons::auto_update::run(addons.clone(), command));
    // The add-ons on the host's network wait to know whether the gateway is protected.
    boot.push(actix_web::rt::spawn(async move {
        addons
            .boot(async {
                let _ = gateway.await;
            })
            .await
    }));
    boot.push(actix_web::rt::spawn(async move { core.boot().await }));
    boot.push(actix_web::rt::spawn(os.load()));
    boot.push(actix_web::rt::spawn(async move { mounts.load().await }));
    boot.push(actix_web::rt::spawn(resolution.boot()));
    actix_web::rt::spawn(memory::keep_small(boot, jobs.clone()));
    let versions = Arc::clone(&updater);
    actix_web::rt::spawn(async move {
        if let Err(e) = versions.fetch(None).await {
            tracing::warn!("version information not loaded at start: {}", e.message);
        }
    });

    let next = tokio::select! {
        next = system.requested() => next,
        signal = stop_signal() => {
            tracing::info!("{signal} received, shutting down");
            Lifecycle::Shutdown
        }
    };
    if let Some(notifier) = &notifier {
        notifier.notify(if next == Lifecycle::Restart { "RELOADING=1" } else { "STOPPING=1" });
    }
    system.set_state(CoreState::Shutdown);
    jobs.shutdown(JOB_GRACE).await;
    system.set_state(CoreState::Stopping);
    for slot in [container_api, balena_services_api] {
        let container_handle = slot.lock().expect("server slot lock").take();
        if let Some(container_handle) = container_handle {
            container_handle.stop(true).await;
        }
    }
    balena_handle.stop(true).await;
    handle.stop(true).await;
    let _ = serving.await;
    let _ = balena_serving.await;
    store.flush()?;
    system.set_state(CoreState::Close);
    tracing::info!(?next, "supervisor stopped");
    Ok(next)
}

/// Runs the node's side of a fleet when `--controller` names one: the join, the heartbeat and
/// the instances the fleet assigns; a node update is an update of this supervisor.
fn join_fleet(
    args: &Args,
    data: &DataDir,
    docker: &Arc<DockerManager>,
    jobs: &JobManager,
    hardware: &Arc<hardware::HardwareManager>,
    supervisor: &Arc<SupervisorManager>,
) {
    let Some(controller) = args.controller.clone() else { return };
    let settings = fleet_node::Settings {
        controller,
        join_token: args.join_token.0.clone(),
        lease_ttl: Duration::from_secs(args.fleet_lease_ttl.max(1)),
        node_name: args.fleet_node_name.clone(),
        usb: args.fleet_usb.clone(),
        vlans: args.fleet_vlan.clone(),
    };
    let updating = Arc::clone(supervisor);
    let update: fleet_node::UpdateHook = Arc::new(move || {
        let supervisor = Arc::clone(&updating);
        Box::pin(async move { supervisor.update(None, false).await.map(|_| ()).map_err(|e| e.message) })
    });
    let parts = fleet_node::Parts {
        data: data.clone(),
        docker: Arc::clone(docker),
        jobs: jobs.clone(),
        hardware: Arc::clone(hardware),
        update,
    };
    actix_web::rt::spawn(fleet_node::run(settings, parts));
}

/// Feeds systemd's watchdog every `interval` while the API at `address` answers its ping.
async fn feed_watchdog(notifier: Arc<notify::Notifier>, interval: Duration, address: SocketAddr) {
    loop {
        tokio::time::sleep(interval).await;
        match tokio::task::spawn_blocking(move || health::ping(address)).await {
            Ok(Ok(())) => notifier.notify("WATCHDOG=1"),
            Ok(Err(e)) => tracing::warn!("watchdog not fed, the API does not answer: {e}"),
            Err(e) => tracing::warn!("watchdog not fed: {e}"),
        }
    }
}

/// Connections one worker holds at most; a flood of idle ones must not stop the accept loop
/// before the header timeout clears them.
const CONNECTIONS_PER_WORKER: usize = 8192;

/// An `HttpServer` of `$app` bound on `$address` with the limits every listener shares:
/// connections per peer and in total, and a short time to send the request head, so idle
/// connections go quickly. A macro, since actix's server is generic over the app's factory.
macro_rules! bind_with_limits {
    ($app:expr, $peers:expr, $workers:expr, $address:expr, $what:expr) => {{
        let peers: Peers = $peers;
        let address: SocketAddr = $address;
        let server = HttpServer::new($app)
            .on_connect(move |connection, extensions| peers.on_connect(connection, extensions))
            .workers($workers)
            .disable_signals()
            .backlog(1024)
            .max_connections(CONNECTIONS_PER_WORKER)
            .client_request_timeout(Duration::from_secs(3))
            .client_disconnect_timeout(Duration::from_secs(2))
            .keep_alive(Duration::from_secs(30))
            .shutdown_timeout(5)
            .bind(address)
            .with_context(|| format!("can't listen on {address} for {}", $what))?;
        let bound = server.addrs().first().copied().context("bound to no address")?;
        Ok((server.run(), bound))
    }};
}

/// Binds the Supervisor API on `address`.
fn bind_api(
    state: AppState,
    peers: Peers,
    workers: usize,
    address: SocketAddr,
) -> anyhow::Result<(Server, SocketAddr)> {
    bind_with_limits!(move || router::app(&state), peers, workers, address, "the Supervisor API")
}

/// HTTP workers of each balena device API server. Its callers are a handful of services and the
/// CLI, and its handlers wait on the engine rather than compute, so one thread serves them; each
/// worker more is a thread with its own copy of the app and a timer that wakes it twice a second.
const BALENA_WORKERS: usize = 1;

/// Binds the balena device API on `address`.
fn bind_balena(
    manager: web::Data<balena::BalenaManager>,
    peers: Peers,
    address: SocketAddr,
) -> anyhow::Result<(Server, SocketAddr)> {
    bind_with_limits!(move || balena::app(&manager), peers, BALENA_WORKERS, address, "the balena device API")
}

/// Lifts the soft limit of open files to the hard one, so the connection limits above, not
/// the descriptor table, decide when connections are refused.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: both calls only read or write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Where a server of containers is, once it serves: the slot its handle lands in, for shutdown.
type ServerSlot = Arc<Mutex<Option<ServerHandle>>>;

/// Serves to containers on an address the engine decides (a network's gateway): `bind` is
/// called once `address` resolves, if ever; `what` names the server in the log.
fn serve_on_network(
    what: &'static str,
    address: impl std::future::Future<Output = Option<SocketAddr>> + 'static,
    bind: impl FnOnce(SocketAddr) -> anyhow::Result<(Server, SocketAddr)> + 'static,
) -> ServerSlot {
    let slot = ServerSlot::default();
    let handle_slot = Arc::clone(&slot);
    actix_web::rt::spawn(async move {
        let Some(address) = address.await else { return };
        match bind(address) {
            Ok((server, address)) => {
                tracing::info!(%address, "serving {what}");
                *handle_slot.lock().expect("server slot lock") = Some(server.handle());
                actix_web::rt::spawn(server);
            }
            Err(e) => tracing::error!("{what} can't be served: {e:#}"),
        }
    });
    slot
}

/// Serves the API to containers (`http://supervisor/`) on the network's gateway once the
/// network exists.
fn serve_containers(
    state: AppState,
    peers: Peers,
    docker: Arc<DockerManager>,
    workers: usize,
    port: u16,
) -> ServerSlot {
    let address = async move {
        let mut network = docker.network();
        let info = network.wait_for(Option::is_some).await.ok()?.clone()?;
        Some(SocketAddr::from((info.gateway, port)))
    };
    serve_on_network("containers", address, move |address| bind_api(state, peers, workers, address))
}

/// Serves the device API to balena services on the gateway of their supervisor network too,
/// unless it listens on every address already.
fn serve_balena_services(manager: web::Data<balena::BalenaManager>, peers: Peers, listening: SocketAddr) -> ServerSlot {
    let engine = manager.clone();
    let address = async move {
        if listening.ip().is_unspecified() {
            return None;
        }
        Some(SocketAddr::from((engine.supervisor_network_made().await, listening.port())))
    };
    serve_on_network("balena services", address, move |address| {
        let served = bind_balena(manager.clone(), peers, address)?;
        manager.served_on_supervisor_network(served.1);
        Ok(served)
    })
}

async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Replaces this process with a fresh start of the same binary and arguments; the PID stays, so
/// a service manager or a test sees the same process come back.
fn restart_in_place() {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let error = std::process::Command::new(exe).args(std::env::args_os().skip(1)).exec();
    eprintln!("supervisor: restart failed: {error}");
    std::process::exit(1);
}

/// Empties a scratch directory left by an earlier run; the last failure, if any.
fn clear_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut failed = Ok(());
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        if let Err(e) = removed {
            failed = Err(std::io::Error::new(e.kind(), format!("{}: {e}", path.display())));
        }
    }
    failed
}
