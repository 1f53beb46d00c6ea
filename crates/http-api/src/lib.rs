//! The HTTP layer every API group shares: the envelope and [`ApiError`] (a domain error with its
//! status), the JSON body extractors, [`routes`], where each route is declared once with its
//! handler, its OpenAPI operation and who may call it, and [`logs`], the `.../logs` family of
//! routes declared once per log source, with the journal's answer over HTTP, and [`websocket`],
//! the relay of the proxies' websockets, and [`cookie`], reading credentials that come as cookies.

pub mod body;
pub mod cookie;
pub mod envelope;
pub mod logs;

pub use body::{Body, Options};
pub use envelope::{ok, ok_empty, ApiError, ApiResult, Envelope, ErrorEnvelope};
pub mod routes;
pub mod websocket;

pub use routes::{Routes, Rule};
