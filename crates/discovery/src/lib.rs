//! What add-ons tell Home Assistant and each other: discovery messages (`messages`: an add-on
//! announces a service it runs, such as an MQTT broker, with its connection details; Core is
//! told of each new and removed one and fetches it), and the services add-ons provide to each
//! other (`services`: `mqtt` and `mysql`, set by their provider, read by add-ons that declared
//! they want or need them). Both are persisted, both forget an add-on when it is uninstalled,
//! and `api` is `/discovery` and `/services`.

pub mod api;
mod messages;
mod services;

pub use messages::{DiscoveryManager, Message};
pub use services::{Service, ServiceConfig, ServiceStatus, ServicesManager};
