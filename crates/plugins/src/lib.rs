//! The plugins: the five containers the supervisor runs next to Core and the add-ons (dns,
//! audio, cli, observer, multicast), managed as the real Supervisor manages them. `plugin` names
//! them, `config` is what is kept of each, `recipe` and `image` give each its image (pulled, or
//! made from the recipe in the install's `plugins/` folder where no registry answers),
//! `container` is the container each runs in, `manager` their life cycle as jobs, `watchdog`
//! what is followed on the engine, `dns` and `resolver` the dns plugin's files and options, and
//! `api` the `/dns`, `/audio`, `/cli`, `/observer` and `/multicast` groups.

pub mod api;
mod config;
mod container;
mod dns;
mod image;
mod manager;
mod plugin;
pub mod recipe;
mod resolver;
mod watchdog;

pub use config::DnsOptions;
pub use manager::{Parts, PluginManager, Settings};
pub use plugin::{parse_install, Plugin};
