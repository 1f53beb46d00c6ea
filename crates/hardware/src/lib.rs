//! The hardware: devices from sysfs and udev, drives and file systems from UDisks2, audio.

pub mod api;
mod audio;
mod devices;
mod drives;
mod manager;
mod udev;

pub use manager::HardwareManager;
