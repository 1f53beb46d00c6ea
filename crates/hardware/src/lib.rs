//! The hardware: devices from sysfs and udev, drives and file systems from UDisks2, audio.

pub mod api;
mod manager;

pub use api::HardwareApi;
pub use manager::HardwareManager;
