//! [`PrivateBus`]: a `dbus-daemon` of the test's own, listening on a unix socket in a temporary
//! directory with a policy that allows everything, and the fixture services on it.
//!
//! The services run in this process on a thread of their own with its own tokio runtime, so a
//! `PrivateBus` works the same from synchronous tests (the black-box tests, whose daemon reaches
//! the bus through `DBUS_SYSTEM_BUS_ADDRESS`) and from `#[tokio::test]`s: its methods block only
//! until that thread has done the work, never on the caller's runtime. Dropping it stops the
//! services (the fixture systemd unmounts what its mount units mounted), unmounts the file
//! servers' folders, kills the daemon and removes the directory.

use crate::{Profile, Service, FIXTURE_INTERFACE};
use anyhow::{anyhow, bail, Context};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use tokio::sync::mpsc;
use zbus::zvariant::{OwnedValue, Value};
use zbus::{Connection, Proxy};

const DAEMON: &str = "dbus-daemon";

/// A private bus with fixture services; everything stops when it is dropped.
pub struct PrivateBus {
    address: String,
    daemon: Child,
    commands: Option<mpsc::UnboundedSender<Command>>,
    thread: Option<JoinHandle<()>>,
    /// The folders of the file servers, each a tmpfs of its own.
    served: Mutex<Vec<PathBuf>>,
    _dir: tempfile::TempDir,
}

type Reply<T> = std_mpsc::Sender<Result<T, String>>;

enum Command {
    Start(Service, Reply<()>),
    Stop(Service, Reply<()>),
    Calls(Service, Reply<Vec<String>>),
    SetProperty(Service, String, OwnedValue, Reply<()>),
    Property(Service, &'static str, &'static str, String, Reply<String>),
    Plug(Service, String, bool, Reply<()>),
    Serve(String, Option<(String, String)>, PathBuf, Reply<()>),
    Unserve(String, Reply<()>),
    FailUnit(String, Reply<()>),
    FailStarts(String, Reply<()>),
}

/// The fixture systemd's controls: the hosts it serves, and units made to fail.
const FILE_SERVERS_INTERFACE: &str = "io.supervisor.Fixture.FileServers";

impl PrivateBus {
    /// A bus with `services` of the default (Debian) profile.
    pub fn start(services: &[Service]) -> anyhow::Result<PrivateBus> {
        Self::start_with(services, Profile::Debian)
    }

    /// A bus with `services` describing a host of `profile`. Returns once every service owns its
    /// name.
    pub fn start_with(services: &[Service], profile: Profile) -> anyhow::Result<PrivateBus> {
        let dir = tempfile::tempdir().context("creating the bus directory")?;
        let config = dir.path().join("bus.conf");
        let socket = dir.path().join("system_bus_socket");
        std::fs::write(&config, config_xml(&socket.to_string_lossy())).context("writing the bus configuration")?;
        // Its complaints (as root in a container: it may not raise its file limit) go to a log
        // that is shown only if it fails to start.
        let log = dir.path().join("dbus-daemon.log");
        let mut daemon = std::process::Command::new(DAEMON)
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--nosyslog", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).context("creating the bus log")?)
            .spawn()
            .with_context(|| {
                format!("starting {DAEMON} (Debian package dbus; `cargo xtask test-images` installs it)")
            })?;
        // The daemon prints its address once it listens, which is the moment the bus is usable.
        let mut address = String::new();
        let stdout = daemon.stdout.take().expect("stdout is piped");
        BufReader::new(stdout).read_line(&mut address).context("reading the bus address")?;
        let address = address.trim().to_owned();
        if address.is_empty() {
            let status = daemon.wait().context("waiting for dbus-daemon")?;
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("{DAEMON} exited without an address ({status}): {}", said.trim());
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        let thread_address = address.clone();
        let thread = std::thread::Builder::new()
            .name("dbus-fixtures".to_owned())
            .spawn(move || run_fixtures(&thread_address, profile, receiver))
            .context("starting the fixture thread")?;
        let bus = PrivateBus {
            address,
            daemon,
            commands: Some(commands),
            thread: Some(thread),
            served: Mutex::default(),
            _dir: dir,
        };
        for &service in services {
            bus.start_service(service)?;
        }
        Ok(bus)
    }

    /// The bus address, for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The environment variable that points a supervisor at this bus.
    pub fn env(&self) -> (&'static str, &str) {
        ("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
    }

    /// Starts a service (again): fresh state, a new unique name, and `NameOwnerChanged` for its
    /// bus name, as when a host service is restarted.
    pub fn start_service(&self, service: Service) -> anyhow::Result<()> {
        self.request(|reply| Command::Start(service, reply))
    }

    /// Takes a service off the bus; returns once its name is gone (`NameOwnerChanged` sent).
    pub fn stop_service(&self, service: Service) -> anyhow::Result<()> {
        self.request(|reply| Command::Stop(service, reply))
    }

    /// The state-changing calls the service received, oldest first (its `Calls` property).
    pub fn calls(&self, service: Service) -> anyhow::Result<Vec<String>> {
        self.request(|reply| Command::Calls(service, reply))
    }

    /// Changes a property of the service's main interface, as `SetProperty` does.
    pub fn set_property(&self, service: Service, name: &str, value: impl Into<Value<'static>>) -> anyhow::Result<()> {
        let value = OwnedValue::try_from(value.into()).context("fixture values hold no file descriptors")?;
        self.request(|reply| Command::SetProperty(service, name.to_owned(), value, reply))
    }

    /// A property of any object of the service as a client reads it (`Get`), in GVariant's text
    /// form: `"text"`, `true`, `["a", "b"]`, `@as []`.
    pub fn property(
        &self,
        service: Service,
        path: &'static str,
        interface: &'static str,
        name: &str,
    ) -> anyhow::Result<String> {
        self.request(|reply| Command::Property(service, path, interface, name.to_owned(), reply))
    }

    /// Plugs a device of the service's catalog into the host (e.g. `sdb`, a USB stick, for
    /// UDisks2), as `Plug` does.
    pub fn plug(&self, service: Service, device: &str) -> anyhow::Result<()> {
        self.request(|reply| Command::Plug(service, device.to_owned(), true, reply))
    }

    /// Pulls a device out of the host, as `Unplug` does.
    pub fn unplug(&self, service: Service, device: &str) -> anyhow::Result<()> {
        self.request(|reply| Command::Plug(service, device.to_owned(), false, reply))
    }

    /// Makes the fixture systemd's network serve CIFS shares and NFS exports from `host`, with
    /// `credentials` (username, password) or to guests; returns the served folder (a tmpfs of its
    /// own, as a server's disk is another file system), whose subfolders are the shares. Serving
    /// a host again (after [`PrivateBus::unserve`]) serves the same folder.
    pub fn serve(&self, host: &str, credentials: Option<(&str, &str)>) -> anyhow::Result<PathBuf> {
        let root = self._dir.path().join("servers").join(host);
        let mut served = self.served.lock().expect("served lock");
        if !served.contains(&root) {
            std::fs::create_dir_all(&root).context("creating the served folder")?;
            let status = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs"])
                .arg(&root)
                .status()
                .context("running mount")?;
            if !status.success() {
                bail!("mounting a tmpfs on {} failed: {status}", root.display());
            }
            served.push(root.clone());
        }
        drop(served);
        let credentials = credentials.map(|(user, password)| (user.to_owned(), password.to_owned()));
        self.request(|reply| Command::Serve(host.to_owned(), credentials, root.clone(), reply))?;
        Ok(root)
    }

    /// Takes `host` off the network: the units mounted from it are unmounted and go inactive.
    pub fn unserve(&self, host: &str) -> anyhow::Result<()> {
        self.request(|reply| Command::Unserve(host.to_owned(), reply))
    }

    /// Makes the fixture systemd's `unit` fail (state `failed`, announced).
    pub fn fail_unit(&self, unit: &str) -> anyhow::Result<()> {
        self.request(|reply| Command::FailUnit(unit.to_owned(), reply))
    }

    /// Makes every later start of the fixture systemd's oneshot `unit` fail, as one whose
    /// command exits with an error.
    pub fn fail_starts(&self, unit: &str) -> anyhow::Result<()> {
        self.request(|reply| Command::FailStarts(unit.to_owned(), reply))
    }

    fn request<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> anyhow::Result<T> {
        let (reply, answer) = std_mpsc::channel();
        let commands = self.commands.as_ref().expect("commands live until drop");
        commands.send(command(reply)).map_err(|_| anyhow!("the fixture thread has stopped"))?;
        answer.recv().context("the fixture thread has stopped")?.map_err(anyhow::Error::msg)
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        // Closing the channel ends the thread, which closes the services' connections first.
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for root in self.served.lock().expect("served lock").drain(..) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&root).status();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A session-like configuration without restrictions: every user may connect, own any name,
/// send to and receive from anyone.
fn config_xml(socket: &str) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#
    )
}

/// The fixture thread: serves commands until the channel closes, then stops every service.
fn run_fixtures(address: &str, profile: Profile, mut commands: mpsc::UnboundedReceiver<Command>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async move {
        let mut running: HashMap<Service, Connection> = HashMap::new();
        while let Some(command) = commands.recv().await {
            match command {
                Command::Start(service, reply) => {
                    let _ = reply.send(start(&mut running, address, profile, service).await);
                }
                Command::Stop(service, reply) => {
                    let _ = reply.send(stop(&mut running, service).await);
                }
                Command::Calls(service, reply) => {
                    let _ = reply.send(calls(&running, service).await);
                }
                Command::SetProperty(service, name, value, reply) => {
                    let _ = reply.send(set_property(&running, service, &name, value).await);
                }
                Command::Property(service, path, interface, name, reply) => {
                    let _ = reply.send(property(&running, service, path, interface, &name).await);
                }
                Command::Plug(service, device, plugged, reply) => {
                    let _ = reply.send(plug(&running, service, &device, plugged).await);
                }
                Command::Serve(host, credentials, root, reply) => {
                    let (user, password) = credentials.unwrap_or_default();
                    let root = root.display().to_string();
                    let args = (host.as_str(), root.as_str(), user.as_str(), password.as_str());
                    let served = match file_servers(&running).await {
                        Ok(proxy) => proxy.call::<_, _, ()>("Serve", &args).await.map_err(|error| error.to_string()),
                        Err(error) => Err(error),
                    };
                    let _ = reply.send(served);
                }
                Command::Unserve(host, reply) => {
                    let _ = reply.send(systemd_control(&running, "Unserve", host).await);
                }
                Command::FailUnit(unit, reply) => {
                    let _ = reply.send(systemd_control(&running, "FailUnit", unit).await);
                }
                Command::FailStarts(unit, reply) => {
                    let _ = reply.send(systemd_control(&running, "FailStarts", unit).await);
                }
            }
        }
        for (service, connection) in running.drain() {
            let _ = stop_connection(service, connection).await;
        }
    });
}

async fn start(
    running: &mut HashMap<Service, Connection>,
    address: &str,
    profile: Profile,
    service: Service,
) -> Result<(), String> {
    if running.contains_key(&service) {
        return Err(format!("{service} is already running"));
    }
    let connection = service.serve(address, profile).await.map_err(|error| format!("starting {service}: {error}"))?;
    running.insert(service, connection);
    Ok(())
}

async fn stop(running: &mut HashMap<Service, Connection>, service: Service) -> Result<(), String> {
    let connection = running.remove(&service).ok_or_else(|| format!("{service} is not running"))?;
    stop_connection(service, connection).await.map_err(|error| format!("stopping {service}: {error}"))
}

/// Releasing the name first makes the bus announce its loss before this returns; closing alone
/// would leave that to the daemon noticing the hang-up.
async fn stop_connection(service: Service, connection: Connection) -> zbus::Result<()> {
    if service == Service::Systemd1 {
        crate::systemd1::release(&connection).await;
    }
    connection.release_name(service.bus_name()).await?;
    connection.close().await
}

/// A proxy for `io.supervisor.Fixture` of a running service, over the service's own connection.
async fn control(running: &HashMap<Service, Connection>, service: Service) -> Result<Proxy<'static>, String> {
    let connection = running.get(&service).ok_or_else(|| format!("{service} is not running"))?;
    Proxy::new(connection, service.bus_name(), service.path(), FIXTURE_INTERFACE)
        .await
        .map_err(|error| error.to_string())
}

async fn calls(running: &HashMap<Service, Connection>, service: Service) -> Result<Vec<String>, String> {
    let proxy = control(running, service).await?;
    proxy.get_property("Calls").await.map_err(|error| error.to_string())
}

async fn set_property(
    running: &HashMap<Service, Connection>,
    service: Service,
    name: &str,
    value: OwnedValue,
) -> Result<(), String> {
    let proxy = control(running, service).await?;
    proxy.call::<_, _, ()>("SetProperty", &(name, Value::from(value))).await.map_err(|error| error.to_string())
}

async fn property(
    running: &HashMap<Service, Connection>,
    service: Service,
    path: &'static str,
    interface: &'static str,
    name: &str,
) -> Result<String, String> {
    let connection = running.get(&service).ok_or_else(|| format!("{service} is not running"))?;
    let proxy = Proxy::new(connection, service.bus_name(), path, interface).await.map_err(|error| error.to_string())?;
    let value: OwnedValue = proxy.get_property(name).await.map_err(|error| error.to_string())?;
    Ok(value.to_string())
}

async fn plug(
    running: &HashMap<Service, Connection>,
    service: Service,
    device: &str,
    plugged: bool,
) -> Result<(), String> {
    let proxy = control(running, service).await?;
    let method = if plugged { "Plug" } else { "Unplug" };
    proxy.call::<_, _, ()>(method, &(device,)).await.map_err(|error| error.to_string())
}

/// `io.supervisor.Fixture.FileServers` of the fixture systemd.
/// Calls one of the fixture systemd's controls with its one argument.
async fn systemd_control(running: &HashMap<Service, Connection>, method: &str, argument: String) -> Result<(), String> {
    let proxy = file_servers(running).await?;
    proxy.call::<_, _, ()>(method, &(argument.as_str(),)).await.map_err(|error| error.to_string())
}

async fn file_servers(running: &HashMap<Service, Connection>) -> Result<Proxy<'static>, String> {
    let connection = running.get(&Service::Systemd1).ok_or("systemd1 is not running")?;
    Proxy::new(connection, Service::Systemd1.bus_name(), Service::Systemd1.path(), FILE_SERVERS_INTERFACE)
        .await
        .map_err(|error| error.to_string())
}
