//! The add-on's `hassio_role`: how much of the Supervisor API an add-on with `hassio_api` may
//! call. It lives here, not with the access rules, so the add-on config format can name it without
//! depending on the server.

use serde::{Deserialize, Serialize};

/// An add-on's `hassio_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Default,
    Homeassistant,
    Backup,
    Manager,
    Admin,
}

impl Role {
    /// Every role, from the least to the most rights.
    pub const ALL: [Role; 5] = [Role::Default, Role::Homeassistant, Role::Backup, Role::Manager, Role::Admin];

    /// The name the config and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Default => "default",
            Role::Homeassistant => "homeassistant",
            Role::Backup => "backup",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}
