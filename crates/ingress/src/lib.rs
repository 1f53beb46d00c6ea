//! Ingress: an add-on's web interface shown inside Home Assistant. Core opens a session for its
//! user (`sessions`: 15 minutes, each validation extending it, persisted), the browser sends
//! it as the `ingress_session` cookie, and the supervisor proxies the request to the add-on's
//! ingress port (`proxy`: HTTP streamed both ways, websockets relayed, the user named in
//! `X-Remote-User-*` headers). `manager` finds the add-on of an ingress token and lists the
//! panels; `api` is `/ingress/*`.

pub mod api;
mod manager;
mod proxy;
mod sessions;

pub use manager::{IngressManager, Panel};
pub use sessions::SessionUser;
