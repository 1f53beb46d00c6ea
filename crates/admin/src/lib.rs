//! The admin web UI, served by the daemon itself under `/admin/`: its pages (`ui/`, embedded in
//! the binary at build time; plain HTML, CSS and JavaScript modules), the browser sessions that
//! log in to it, and the headers that keep its pages strict.
//!
//! A person logs in through a one-time link that `ha admin login` prints: the code in it opens a
//! session kept in an `HttpOnly`, `SameSite=Strict` cookie, so the admin token never reaches a
//! URL or the browser's storage. The request guard (`security`) takes a live session as the
//! admin caller, the CLI's rights, and refuses a state-changing request that lacks the
//! session's CSRF token ([`Sessions::authenticate`]). `sessions` holds the codes and sessions,
//! `files` the embedded pages, `headers` the Content-Security-Policy and the other security
//! headers of every `/admin` answer, `api` the routes.

pub mod api;
mod files;
mod headers;
mod sessions;

pub use headers::{secure_headers, CONTENT_SECURITY_POLICY};
pub use sessions::{Authentication, Lifetimes, Opened, Sessions, CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE};
