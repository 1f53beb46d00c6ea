//! Home Assistant Core, managed as the real Supervisor manages it: its persisted settings
//! (`config`), the container it runs in (`container`), its life cycle as jobs (`manager`), the
//! watchdog that keeps it alive (`watchdog`), the supervisor's client of Core's API (`client`),
//! the events it tells Core (`events`), the proxy that lets add-ons reach Core (`proxy`), and
//! the `/core` API, also served under its old name `/homeassistant` (`api`).

pub mod api;
mod client;
mod config;
mod container;
mod events;
mod manager;
mod proxy;
mod watchdog;

pub use client::CoreApi;
pub use config::{CoreConfig, DEFAULT_PORT, LANDINGPAGE};
pub use manager::{CoreManager, CoreState, Settings, UpdateBackup};
