//! The HTTP layer every API group shares: the envelope and [`ApiError`] (a domain error with its
//! status), the JSON body extractors, and [`routes`], where each route is declared once with its
//! handler, its OpenAPI operation and who may call it.

pub mod body;
pub mod envelope;

pub use body::{Body, Options};
pub use envelope::{ok, ok_empty, ApiError, ApiResult, Envelope, ErrorEnvelope};
pub mod routes;

pub use routes::{Routes, Rule};
