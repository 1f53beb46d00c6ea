//! The `controller` binary: flags, logging, the leader's campaign, the API's listener.

use actix_web::{web, HttpServer};
use anyhow::Context;
use clap::Parser;
use controller::access::Secrets;
use controller::leader::{self, Leadership};
use controller::store::Fleet;
use controller::Controller;
use std::net::SocketAddr;

/// The fleet controller: the Anka Controller's API over supervisor nodes, state in etcd.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// etcd's client URLs (one or more, comma-separated or repeated).
    #[arg(long, env = "CONTROLLER_ETCD", value_delimiter = ',', required = true)]
    etcd: Vec<String>,
    /// Where the API listens.
    #[arg(long, env = "CONTROLLER_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The registry templates live in, `http://host:port`.
    #[arg(long, env = "CONTROLLER_REGISTRY")]
    registry: String,
    /// The registry's login, when it wants one.
    #[arg(long, env = "CONTROLLER_REGISTRY_USER", requires = "registry_password")]
    registry_user: Option<String>,
    #[arg(long, env = "CONTROLLER_REGISTRY_PASSWORD", hide_env_values = true)]
    registry_password: Option<String>,
    /// The key prefix of this fleet in etcd.
    #[arg(long, env = "CONTROLLER_PREFIX", default_value = "/fleet")]
    prefix: String,
    /// The operator's password (`root`); read from the environment so it is not in `ps`.
    #[arg(long, env = "CONTROLLER_ROOT_PASSWORD", hide_env_values = true)]
    root_password: String,
    /// The token supervisors join the fleet with.
    #[arg(long, env = "CONTROLLER_JOIN_TOKEN", hide_env_values = true)]
    join_token: String,
    /// The pool of MAC addresses handed to instances that name none, `START-END`.
    #[arg(long, env = "CONTROLLER_MAC_RANGE")]
    mac_range: Option<String>,
    /// Seconds a leader keeps leading after it stops renewing its lease.
    #[arg(long, env = "CONTROLLER_LEASE_TTL", default_value_t = 10)]
    lease_ttl: i64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    anyhow::ensure!(args.root_password.len() >= 8, "the root password must have at least 8 characters");
    anyhow::ensure!(args.join_token.len() >= 16, "the join token must have at least 16 characters");
    anyhow::ensure!(args.lease_ttl >= 2, "--lease-ttl must be at least 2 seconds");
    actix_web::rt::System::new().block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let etcd = etcd::Client::new(&args.etcd).context("--etcd")?;
    let fleet = Fleet { etcd, keys: fleet::Keys::new(&args.prefix) };
    let mut registry = registry_client::Registry::new(&args.registry).context("--registry")?;
    if let (Some(user), Some(password)) = (&args.registry_user, &args.registry_password) {
        registry = registry.with_basic_auth(user, password);
    }
    let leadership = Leadership::default();
    let replica = format!("{}-{}", args.listen, uuid::Uuid::new_v4());
    tokio::spawn(leader::run(fleet.clone(), replica, args.lease_ttl, leadership.clone()));
    let controller = web::Data::new(Controller {
        fleet,
        registry,
        registry_url: args.registry.trim_end_matches('/').to_string(),
        etcd_endpoints: args.etcd.clone(),
        leadership,
        mac_range: args.mac_range,
    });
    let secrets = web::Data::new(Secrets { root_password: args.root_password, join_token: args.join_token });
    let server = HttpServer::new(move || controller::app(&controller, &secrets))
        .workers(2)
        .bind(args.listen)
        .with_context(|| format!("can't listen on {}", args.listen))?;
    for address in server.addrs() {
        // Tests read the address from here when they ask for port 0.
        println!("controller listening on {address}");
    }
    server.run().await.context("the API server failed")
}
