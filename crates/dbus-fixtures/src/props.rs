//! The properties of a fixture object, kept as D-Bus values by name.
//!
//! Keeping them as values (rather than one Rust field each) is what lets the fixture-only
//! `SetProperty` method change any of them by name, with the type checked against the current
//! value. Each property also records how the real service announces its changes: the
//! fixtures must stay as quiet as the real ones (timedated never signals `NTPSynchronized`,
//! resolved never signals `LLMNR`), or clients would pass tests that fail on a real host.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use zbus::fdo::Properties;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::Value;

/// How the real service announces a property's changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announce {
    /// `PropertiesChanged` with the new value.
    Value,
    /// `PropertiesChanged` naming it as invalidated; clients read it again.
    Invalidate,
    /// Not at all.
    Never,
}

struct Entry {
    value: Value<'static>,
    announce: Announce,
}

#[derive(Default)]
pub struct Props {
    entries: BTreeMap<&'static str, Entry>,
}

impl Props {
    /// Adds a property whose changes the real service announces with their value.
    pub fn signalled(self, name: &'static str, value: impl Into<Value<'static>>) -> Self {
        self.with(name, value, Announce::Value)
    }

    /// Adds a property whose changes the real service announces as invalidations.
    pub fn invalidated(self, name: &'static str, value: impl Into<Value<'static>>) -> Self {
        self.with(name, value, Announce::Invalidate)
    }

    /// Adds a property whose changes the real service does not announce.
    pub fn quiet(self, name: &'static str, value: impl Into<Value<'static>>) -> Self {
        self.with(name, value, Announce::Never)
    }

    fn with(mut self, name: &'static str, value: impl Into<Value<'static>>, announce: Announce) -> Self {
        self.entries.insert(name, Entry { value: value.into(), announce });
        self
    }

    /// The current value. Panics when the property is missing or of another type: that is a
    /// mistake in the fixture itself, caught by its own tests.
    pub fn get<T>(&self, name: &str) -> T
    where
        T: TryFrom<Value<'static>>,
        T::Error: std::fmt::Debug,
    {
        let entry = self.entries.get(name).unwrap_or_else(|| panic!("fixture property {name} is not defined"));
        let value = entry.value.try_clone().expect("fixture values hold no file descriptors");
        T::try_from(value).unwrap_or_else(|error| panic!("fixture property {name} has another type: {error:?}"))
    }

    /// Sets a property the fixture itself defines, with a value of the right type.
    pub fn set(&mut self, name: &str, value: impl Into<Value<'static>>) {
        let entry = self.entries.get_mut(name).unwrap_or_else(|| panic!("fixture property {name} is not defined"));
        entry.value = value.into();
    }

    /// Announces the current values of `names` of `interface` with `PropertiesChanged`, as the
    /// real service does after changing them itself.
    pub async fn announce(
        &self,
        emitter: &SignalEmitter<'_>,
        interface: &'static str,
        names: &[&str],
    ) -> zbus::Result<()> {
        let changed: HashMap<&str, Value<'_>> =
            names.iter().map(|&name| (name, self.get::<Value<'static>>(name))).collect();
        Properties::properties_changed(
            emitter,
            InterfaceName::from_static_str_unchecked(interface),
            changed,
            Cow::Borrowed(&[]),
        )
        .await
    }

    /// Replaces a property by name on a test's request: it must exist and keep its type. Returns
    /// how the change is to be announced.
    pub fn replace(&mut self, name: &str, value: Value<'static>) -> Result<Announce, String> {
        let entry = self.entries.get_mut(name).ok_or_else(|| format!("No such property '{name}'"))?;
        if entry.value.value_signature() != value.value_signature() {
            return Err(format!(
                "Property '{name}' has type '{}', not '{}'",
                entry.value.value_signature(),
                value.value_signature()
            ));
        }
        entry.value = value;
        Ok(entry.announce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_the_type_and_reports_how_to_announce() {
        let mut props = Props::default().signalled("Name", "a").quiet("Synced", false).invalidated("Version", "1");
        assert_eq!(props.replace("Name", Value::from("b")), Ok(Announce::Value));
        assert_eq!(props.get::<String>("Name"), "b");
        assert_eq!(props.replace("Synced", Value::from(true)), Ok(Announce::Never));
        assert_eq!(props.replace("Version", Value::from("2")), Ok(Announce::Invalidate));
        assert!(props.get::<bool>("Synced"));
        assert!(props.replace("Synced", Value::from("yes")).unwrap_err().contains("type 'b'"));
        assert!(props.replace("Missing", Value::from(1u32)).unwrap_err().contains("No such property"));
    }
}
