//! The network through NetworkManager: interfaces with their IP settings, wifi and VLANs, and the container network.

pub mod api;
mod interface;
mod manager;
mod request;
mod settings;

pub use manager::Network;
