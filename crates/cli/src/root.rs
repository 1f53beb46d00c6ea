//! The top-level commands that belong to no group: `ha info`, `ha available-updates` and
//! `ha refresh-updates`.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::App;
use anyhow::Result;

pub const INFO_LONG_ABOUT: &str = "This command provide a general information about your Home Assistant system.
The information provide can be useful for sharing when you are encountering
issues or when reporting one on GitHub.";

pub async fn info(app: &App) -> Result<()> {
    app.get(&["info"]).await
}

pub async fn available_updates(app: &App) -> Result<()> {
    app.get(&["available_updates"]).await
}

pub async fn refresh_updates(app: &App) -> Result<()> {
    app.run_job(&["refresh_updates"], Body::new(), DEFAULT_TIMEOUT, false).await
}
