//! Home Assistant user logins for add-ons granted `auth_api`, as the real Supervisor checks them:
//! the credentials an add-on sends (`credentials`: HTTP Basic, JSON or a form), the cache of
//! logins Core confirmed (`cache`: hashes only, persisted, so a login keeps working while Core
//! restarts), Core asked through its `hassio_auth` endpoints and user list (`manager`), and the
//! `/auth` API (`api`).

pub mod api;
mod cache;
mod credentials;
mod manager;

pub use manager::{AuthManager, User};
