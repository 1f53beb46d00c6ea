//! The D-Bus errors the fixtures reply with, under the names the real services use
//! (`org.freedesktop.systemd1.NoSuchUnit`, `org.freedesktop.DBus.Error.InvalidArgs`, ...), so
//! clients see exactly what they would see on a real host.

use zbus::message::{Header, Message};
use zbus::names::ErrorName;
use zbus::DBusError;

/// An error reply: a fixed D-Bus error name and the service's message.
#[derive(Debug)]
pub struct ServiceError {
    name: &'static str,
    message: String,
}

impl ServiceError {
    pub fn new(name: &'static str, message: impl Into<String>) -> Self {
        ServiceError { name, message: message.into() }
    }

    /// `org.freedesktop.DBus.Error.InvalidArgs`, what sd-bus services answer for a bad argument.
    pub fn invalid_args(message: impl Into<String>) -> Self {
        Self::new("org.freedesktop.DBus.Error.InvalidArgs", message)
    }
}

impl DBusError for ServiceError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        Message::error(call, self.name())?.build(&(self.message.as_str(),))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(self.name)
    }

    fn description(&self) -> Option<&str> {
        Some(&self.message)
    }
}

/// A failure of the fixture's own bus connection while answering (emitting a signal, say).
impl From<zbus::Error> for ServiceError {
    fn from(error: zbus::Error) -> Self {
        Self::new("org.freedesktop.DBus.Error.Failed", error.to_string())
    }
}
