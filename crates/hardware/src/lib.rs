//! The hardware: devices from sysfs and udev, drives and file systems from UDisks2, audio; the
//! devices an add-on's grants let it open, and the devices plugged in and removed meanwhile.

pub mod api;
mod audio;
mod devices;
mod drives;
mod manager;
pub mod monitor;
pub mod policy;
mod udev;

pub use devices::Device;
pub use manager::HardwareManager;
