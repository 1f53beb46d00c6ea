//! Who may call what: the tokens the supervisor issued, the callers they stand for, the access
//! table that decides every request, the middleware that applies it, and the `/security` API.
//!
//! The table follows the real Supervisor's rules (its `api/middleware/security.py`): a blacklist
//! nobody passes, paths open without a token, paths only Home Assistant Core may call, paths any
//! add-on may call about itself, and one allow list per `hassio_role`. Add-ons register their
//! tokens here when they are installed.

pub mod access;
pub mod api;
mod manager;
mod middleware;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;

pub use access::{AddonRights, Caller, Grants, Role};
pub use manager::{SecurityChange, SecurityInfo, SecurityManager};
pub use middleware::Guard;
pub use tokens::Tokens;
