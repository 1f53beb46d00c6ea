//! Discovery messages: an add-on announces a service it runs (`service`, a name from its
//! config's `discovery` list) with the details Core needs to set up the integration (`config`).
//! Core is told of each new, changed and removed message (`api/hassio_push/discovery/{uuid}`) in
//! the background, and fetches the message itself. One message per add-on and service: sending
//! the same service again updates it in place, or changes nothing when the details are equal.

use addons::{AddonManager, AddonState, Installed};
use base::Error;
use homeassistant::CoreManager;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use state::Persisted;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

/// One discovery message, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// 32 hex characters.
    pub uuid: String,
    /// The sender's slug (the real Supervisor's older `addon` key is read too).
    #[serde(alias = "addon")]
    pub app: String,
    pub service: String,
    pub config: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Messages {
    discovery: Vec<Message>,
}

/// How Core is told of a message.
#[derive(Debug, Clone, Copy)]
enum Push {
    New,
    Removed,
}

/// The messages, persisted. Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct DiscoveryManager {
    inner: Arc<Inner>,
}

struct Inner {
    messages: Persisted<Messages>,
    addons: AddonManager,
    core: CoreManager,
}

fn not_found() -> Error {
    Error::not_found("Discovery message not found")
}

impl DiscoveryManager {
    /// Loads the messages; an uninstalled add-on's messages are removed (and Core told).
    pub fn new(store: &state::Store, addons: AddonManager, core: CoreManager) -> state::Result<DiscoveryManager> {
        let messages = Persisted::load(store.section("discovery")?, "messages")?;
        let inner = Arc::new(Inner { messages, addons: addons.clone(), core });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        addons.on_uninstall(Arc::new(move |addon: &Installed| {
            if let Some(inner) = weak.upgrade() {
                DiscoveryManager { inner }.forget(&addon.slug);
            }
        }));
        Ok(DiscoveryManager { inner })
    }

    /// Sends (or updates) the calling add-on's message for `service`, which its config must list
    /// under `discovery`; answers the message's uuid.
    pub fn send(&self, caller: Option<&str>, service: &str, config: Map<String, Value>) -> Result<String, Error> {
        let addon = caller.and_then(|slug| self.inner.addons.get(slug));
        let Some(addon) = addon.filter(|addon| addon.config().discovery.iter().any(|s| s == service)) else {
            let slug = caller.unwrap_or("(not an add-on)");
            tracing::error!(
                "Add-on {slug} attempted to send discovery for service {service} which is not listed in its config. Please report this to the maintainer of the add-on"
            );
            return Err(Error::forbidden("Apps must list services they provide via discovery in their config!"));
        };
        let slug = addon.slug.as_str();
        let mut outcome = None;
        self.inner.messages.update(|messages| {
            outcome = Some(upsert(&mut messages.discovery, slug, service, config));
        })?;
        let (message, changed) = outcome.expect("the update ran the change");
        if changed {
            tracing::info!("Sending discovery to Home Assistant {service} from {slug}");
            self.push(&message, Push::New);
        } else {
            tracing::debug!("Duplicate discovery message from {slug}");
        }
        Ok(message.uuid)
    }

    pub fn get(&self, uuid: &str) -> Result<Message, Error> {
        self.inner.messages.read().discovery.iter().find(|m| m.uuid == uuid).cloned().ok_or_else(not_found)
    }

    /// Removes a message for the add-on that sent it (`caller`); 404 for an unknown uuid, 403
    /// for anyone else.
    pub fn remove(&self, caller: Option<&str>, uuid: &str) -> Result<(), Error> {
        let message = self.get(uuid)?;
        if caller != Some(message.app.as_str()) {
            return Err(Error::forbidden("Can't remove discovery message"));
        }
        self.inner.messages.update(|messages| messages.discovery.retain(|m| m.uuid != uuid))?;
        tracing::info!("Removing discovery message {uuid} of {}", message.app);
        self.push(&message, Push::Removed);
        Ok(())
    }

    /// The messages of installed add-ons that run now: Core sets up integrations of those only.
    pub async fn list_running(&self) -> Vec<Message> {
        let messages = self.inner.messages.get().discovery;
        let mut running = Vec::with_capacity(messages.len());
        let mut states: BTreeMap<String, bool> = BTreeMap::new();
        for message in messages {
            let started = match states.get(&message.app) {
                Some(started) => *started,
                None => {
                    let started = self.inner.addons.is_installed(&message.app)
                        && self.inner.addons.state(&message.app).await == AddonState::Started;
                    states.insert(message.app.clone(), started);
                    started
                }
            };
            if started {
                running.push(message);
            }
        }
        running
    }

    /// Every service some add-on (installed or in a repository) may send, with those add-ons.
    pub fn services(&self) -> BTreeMap<String, Vec<String>> {
        let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let installed = self.inner.addons.list();
        let installed_slugs: Vec<&str> = installed.iter().map(|addon| addon.slug.as_str()).collect();
        let catalog = self.inner.addons.catalog().addons();
        let store = catalog.iter().filter(|addon| !installed_slugs.contains(&addon.slug.as_str()));
        let declared = installed
            .iter()
            .map(|addon| (&addon.slug, &addon.config().discovery))
            .chain(store.map(|addon| (&addon.slug, &addon.config.discovery)));
        for (slug, discovery) in declared {
            for service in discovery {
                services.entry(service.clone()).or_default().push(slug.clone());
            }
        }
        services
    }

    /// Removes every message of an uninstalled add-on, telling Core of each.
    pub(crate) fn forget(&self, slug: &str) {
        let gone: Vec<Message> =
            self.inner.messages.read().discovery.iter().filter(|m| m.app == slug).cloned().collect();
        if gone.is_empty() {
            return;
        }
        if let Err(e) = self.inner.messages.update(|messages| messages.discovery.retain(|m| m.app != slug)) {
            tracing::warn!(addon = slug, "can't remove its discovery messages: {e}");
            return;
        }
        for message in &gone {
            self.push(message, Push::Removed);
        }
    }

    /// Tells Core of a message in the background, unless Core's API is down (Core reads every
    /// message when it starts). Core gets the message without its details, under the key
    /// `addon` whatever the API version.
    fn push(&self, message: &Message, push: Push) {
        let body = json!({"addon": message.app, "service": message.service, "uuid": message.uuid});
        let method = match push {
            Push::New => reqwest::Method::POST,
            Push::Removed => reqwest::Method::DELETE,
        };
        self.inner.core.push(method, format!("api/hassio_push/discovery/{}", message.uuid), Some(body));
    }
}

/// Adds the message of `app` for `service`, or updates the existing one in place: answers it,
/// and whether anything changed (a resent identical message changes nothing).
fn upsert(messages: &mut Vec<Message>, app: &str, service: &str, config: Map<String, Value>) -> (Message, bool) {
    if let Some(existing) = messages.iter_mut().find(|m| m.app == app && m.service == service) {
        if existing.config == config {
            return (existing.clone(), false);
        }
        existing.config = config;
        return (existing.clone(), true);
    }
    let message = Message {
        uuid: uuid::Uuid::new_v4().simple().to_string(),
        app: app.to_owned(),
        service: service.to_owned(),
        config,
    };
    messages.push(message.clone());
    (message, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn one_message_per_addon_and_service() {
        let mut messages = Vec::new();
        let (first, changed) = upsert(&mut messages, "core_mosquitto", "mqtt", config(json!({"host": "a"})));
        assert!(changed);
        assert_eq!(first.uuid.len(), 32);
        assert!(first.uuid.chars().all(|c| c.is_ascii_hexdigit()));

        let (same, changed) = upsert(&mut messages, "core_mosquitto", "mqtt", config(json!({"host": "a"})));
        assert_eq!((same.uuid.as_str(), changed), (first.uuid.as_str(), false), "a resend changes nothing");

        let (updated, changed) = upsert(&mut messages, "core_mosquitto", "mqtt", config(json!({"host": "b"})));
        assert_eq!((updated.uuid.as_str(), changed), (first.uuid.as_str(), true), "updated in place");
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].config["host"], "b");

        let (other, _) = upsert(&mut messages, "core_other", "mqtt", config(json!({"host": "b"})));
        assert_ne!(other.uuid, first.uuid);
        assert_eq!(messages.len(), 2);
    }

    #[test]
    fn stored_messages_read_the_older_addon_key() {
        let stored: Messages = serde_json::from_value(json!({
            "discovery": [{"uuid": "abc", "addon": "core_x", "service": "mqtt", "config": {}}]
        }))
        .unwrap();
        assert_eq!(stored.discovery[0].app, "core_x");
        assert_eq!(serde_json::to_value(&stored.discovery[0]).unwrap()["app"], "core_x");
    }
}
