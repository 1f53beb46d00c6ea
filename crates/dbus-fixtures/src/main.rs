//! `dbus-fixtures`: serves the fixture services on a bus until SIGTERM or Ctrl-C. With
//! `--address`, on that bus; without, on a private `dbus-daemon` whose address it prints as
//! `DBUS_SYSTEM_BUS_ADDRESS=...`, ready to be exported for a supervisor on a machine without
//! systemd.

use anyhow::Context;
use clap::Parser;
use dbus_fixtures::{PrivateBus, Profile, Service};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(
    version,
    about = "Fixture host services (systemd, logind, hostnamed, timedated, resolved, RAUC, OS-Agent, NetworkManager, UDisks2) on D-Bus"
)]
struct Args {
    /// The bus to serve on, e.g. `unix:path=/run/dbus/system_bus_socket`; without it, a private
    /// bus is started.
    #[arg(long)]
    address: Option<String>,
    /// The services to run, comma-separated (default: all): systemd1, login1, hostname1,
    /// timedate1, resolve1, rauc, os-agent, networkmanager, udisks2.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Service>,
    /// The kind of host to describe: debian, haos (on a Yellow) or haos-rpi5.
    #[arg(long, default_value = "debian")]
    profile: Profile,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = Args::parse();
    let services = if args.only.is_empty() { Service::ALL.to_vec() } else { args.only };
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    // Both are held until the signal: the connections are the services.
    let (_bus, _connections) = match args.address {
        Some(address) => {
            let mut connections = Vec::new();
            for &service in &services {
                let connection = service
                    .serve(&address, args.profile)
                    .await
                    .with_context(|| format!("starting {service} on {address}"))?;
                connections.push(connection);
            }
            (None, connections)
        }
        None => {
            let bus = PrivateBus::start_with(&services, args.profile)?;
            println!("DBUS_SYSTEM_BUS_ADDRESS={}", bus.address());
            (Some(bus), Vec::new())
        }
    };
    for service in &services {
        tracing::info!("serving {service} as {}", service.bus_name());
    }
    tokio::select! {
        _ = terminate.recv() => {}
        result = tokio::signal::ctrl_c() => result.context("listening for Ctrl-C")?,
    }
    Ok(())
}
