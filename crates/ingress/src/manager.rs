//! The ingress manager: the add-ons with a web interface (`ingress: true`), found by their
//! ingress token; the panels Core shows in its sidebar; sessions, opened by Core for one of its
//! users; and the HTTP client the proxy reaches add-ons with.

use crate::sessions::{SessionUser, Sessions};
use addons::AddonManager;
use base::Error;
use homeassistant::CoreManager;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// How long an add-on's address is reused: every proxied request needs it, and asking the
/// engine each time would cost more than the request.
const ADDRESS_TTL: Duration = Duration::from_secs(10);

/// One add-on's panel in Core's sidebar.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Panel {
    /// `panel_title`, else the add-on's name.
    pub title: String,
    pub icon: String,
    /// Only administrators see it.
    pub admin: bool,
    /// The user turned the panel on (`ingress_panel`).
    pub enable: bool,
}

/// Where the proxy sends an ingress token's requests.
pub(crate) struct Target {
    pub slug: String,
    /// `http://<address>:<ingress port>`.
    pub base: String,
    /// POST bodies are streamed (`ingress_stream`).
    pub stream: bool,
}

/// Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct IngressManager {
    inner: Arc<Inner>,
}

struct Inner {
    addons: AddonManager,
    core: CoreManager,
    sessions: Sessions,
    http: reqwest::Client,
    /// Recently looked-up add-on addresses, by slug.
    addresses: Mutex<HashMap<String, (String, Instant)>>,
}

impl IngressManager {
    pub fn new(store: &state::Store, addons: AddonManager, core: CoreManager) -> state::Result<IngressManager> {
        let http = reqwest::Client::builder()
            // The add-on answers redirects for the browser; no proxy of the environment applies
            // to the container network; streams (event streams, downloads) may last.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        // Core's sidebar follows the panels: one turned on or off, or gone with its add-on.
        let push = |core: &CoreManager, slug: &str, enabled: bool| {
            let method = if enabled { reqwest::Method::POST } else { reqwest::Method::DELETE };
            core.push(method, format!("api/hassio_push/panel/{slug}"), None);
        };
        let panel_core = core.clone();
        addons.on_panel_change(Arc::new(move |slug, enabled| push(&panel_core, slug, enabled)));
        let uninstall_core = core.clone();
        addons.on_uninstall(Arc::new(move |addon: &addons::Installed| {
            if addon.user.ingress_panel {
                push(&uninstall_core, &addon.slug, false);
            }
        }));
        let inner = Inner { addons, core, sessions: Sessions::load(store)?, http, addresses: Mutex::default() };
        Ok(IngressManager { inner: Arc::new(inner) })
    }

    /// The panel of every installed add-on with ingress.
    pub fn panels(&self) -> BTreeMap<String, Panel> {
        self.inner
            .addons
            .list()
            .into_iter()
            .filter(|addon| addon.config().ingress)
            .map(|addon| {
                let config = addon.config();
                let panel = Panel {
                    title: config.panel_title.clone().unwrap_or_else(|| config.name.clone()),
                    icon: config.panel_icon.clone(),
                    admin: config.panel_admin,
                    enable: addon.user.ingress_panel,
                };
                (addon.slug.clone(), panel)
            })
            .collect()
    }

    /// Opens a session, for the Home Assistant user `user_id` when given and Core knows it.
    pub async fn open_session(&self, user_id: Option<&str>) -> Result<String, Error> {
        let user = match user_id {
            Some(id) => self.find_user(id).await,
            None => None,
        };
        self.inner.sessions.open(user)
    }

    /// The user `id` in Core's user list; `None` when Core does not know it or cannot be asked
    /// (the session is opened without a user then).
    async fn find_user(&self, id: &str) -> Option<SessionUser> {
        let users = match self.inner.core.api().command(json!({"type": "config/auth/list"})).await {
            Ok(users) => users,
            Err(e) => {
                tracing::error!("Can't request the user list of Home Assistant: {}", e.message);
                return None;
            }
        };
        user_in(&users, id)
    }

    /// Opens a session for `user` as Core would (Core cannot be asked in tests).
    #[cfg(test)]
    pub(crate) fn open_session_for(&self, user: SessionUser) -> String {
        self.inner.sessions.open(Some(user)).unwrap()
    }

    /// Whether `session` is live; a live one is extended.
    pub fn validate_session(&self, session: &str) -> bool {
        self.inner.sessions.validate(session)
    }

    pub(crate) fn session_user(&self, session: &str) -> Option<SessionUser> {
        self.inner.sessions.user(session)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The add-on whose ingress token `token` is; 503 when there is none.
    pub(crate) async fn target(&self, token: &str) -> Result<Target, Error> {
        let addon = self
            .inner
            .addons
            .list()
            .into_iter()
            .find(|addon| addon.config().ingress && addon.user.ingress_token == token)
            .ok_or_else(|| Error::unavailable("No add-on with this ingress token"))?;
        let port =
            addon.ingress_port().ok_or_else(|| Error::unavailable("The add-on's ingress port is not picked yet"))?;
        let address = self.address(&addon).await;
        let config = addon.config();
        Ok(Target { base: format!("http://{address}:{port}"), stream: config.ingress_stream, slug: addon.slug })
    }

    async fn address(&self, addon: &addons::Installed) -> String {
        let cached = {
            let addresses = self.inner.addresses.lock().unwrap_or_else(|e| e.into_inner());
            addresses.get(&addon.slug).filter(|(_, at)| at.elapsed() < ADDRESS_TTL).map(|(ip, _)| ip.clone())
        };
        if let Some(ip) = cached {
            return ip;
        }
        let ip = self.inner.addons.ip_address(addon).await;
        // No container yet: asked again next time.
        if ip != "0.0.0.0" {
            let mut addresses = self.inner.addresses.lock().unwrap_or_else(|e| e.into_inner());
            addresses.insert(addon.slug.clone(), (ip.clone(), Instant::now()));
        }
        ip
    }
}

/// The user `id` of a `config/auth/list` result.
fn user_in(users: &Value, id: &str) -> Option<SessionUser> {
    let user = users.as_array()?.iter().find(|user| user["id"] == id)?;
    let text = |key: &str| user[key].as_str().map(str::to_owned);
    Some(SessionUser { id: id.to_owned(), username: text("username"), name: text("name") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_found_by_id() {
        let users = json!([
            {"id": "a1", "username": "owner", "name": "Owner", "is_owner": true},
            {"id": "b2", "username": null, "name": "Supervisor"},
        ]);
        assert_eq!(
            user_in(&users, "a1"),
            Some(SessionUser { id: "a1".into(), username: Some("owner".into()), name: Some("Owner".into()) })
        );
        assert_eq!(user_in(&users, "b2").unwrap().username, None);
        assert_eq!(user_in(&users, "zz"), None);
        assert_eq!(user_in(&Value::Null, "a1"), None);
    }
}
