//! What a client call can fail with, and how that reaches a domain error: as `Invalid` (a 400 at
//! the API) with the message,
//! which is what the real Supervisor answers for every D-Bus failure (its `DBusError`s are plain
//! `HassioError`s). Handlers that owe a more specific answer (the hostname's `InvalidArgs`, say)
//! match on [`Error::error_name`] first.

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The system bus could not be reached at all.
    #[error("cannot connect to the system bus at {address}: {reason}")]
    Connect { address: String, reason: String },
    /// The service is not on the bus (or there is no bus); the value is its bus name.
    #[error("{0} is not available on this system")]
    Unavailable(&'static str),
    /// The service refused the call with a D-Bus error.
    #[error("{message}")]
    Refused {
        service: &'static str,
        /// The D-Bus error name, e.g. `org.freedesktop.systemd1.NoSuchUnit`.
        name: String,
        message: String,
    },
    /// The call itself failed: a timeout, a lost connection, a reply of the wrong type.
    #[error("D-Bus call to {service} failed: {reason}")]
    Call { service: &'static str, reason: String },
}

/// The D-Bus errors that mean "nobody owns that name", i.e. the service is not there.
const ABSENT: [&str; 2] = ["org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"];

impl Error {
    /// The D-Bus error name the service answered with, if it refused.
    pub fn error_name(&self) -> Option<&str> {
        match self {
            Error::Refused { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Classifies a failed call to `service`.
    pub(crate) fn from_call(service: &'static str, error: zbus::Error) -> Self {
        let refused = match &error {
            zbus::Error::MethodError(name, message, _) => Some((name.to_string(), message.clone().unwrap_or_default())),
            zbus::Error::FDO(fdo) => {
                let fdo: &zbus::fdo::Error = fdo;
                Some((
                    zbus::DBusError::name(fdo).to_string(),
                    zbus::DBusError::description(fdo).unwrap_or_default().to_owned(),
                ))
            }
            _ => None,
        };
        match refused {
            Some((name, _)) if ABSENT.contains(&name.as_str()) => Error::Unavailable(service),
            Some((name, message)) => Error::Refused { service, name, message },
            None => Error::Call { service, reason: error.to_string() },
        }
    }
}

impl From<Error> for base::Error {
    fn from(error: Error) -> Self {
        base::Error::invalid(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_service_is_unavailable_and_a_refusal_keeps_its_name() {
        let absent = zbus::Error::FDO(Box::new(zbus::fdo::Error::ServiceUnknown("gone".into())));
        assert!(matches!(Error::from_call("org.freedesktop.hostname1", absent), Error::Unavailable(_)));
        let invalid = zbus::Error::FDO(Box::new(zbus::fdo::Error::InvalidArgs("Invalid static hostname 'a_b'".into())));
        let error = Error::from_call("org.freedesktop.hostname1", invalid);
        assert_eq!(error.error_name(), Some("org.freedesktop.DBus.Error.InvalidArgs"));
        assert_eq!(error.to_string(), "Invalid static hostname 'a_b'");
        let api = base::Error::from(Error::Unavailable("org.freedesktop.login1"));
        assert_eq!(api.kind, base::Kind::Invalid);
        assert_eq!(api.message, "org.freedesktop.login1 is not available on this system");
    }
}
