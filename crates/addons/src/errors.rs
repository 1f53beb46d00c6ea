//! The add-on errors as the real Supervisor words them, with their v1 `error_key` and
//! `extra_fields`, in one place so every path reports the same thing the same way.

use base::{Error, Kind};
use serde_json::{json, Value};

/// The rider the real Supervisor puts on unknown errors.
const CHECK_LOGS: &str = "Check Supervisor logs for details";

fn keyed(kind: Kind, message: String, key: &str, extra: Value) -> Error {
    let error = Error::new(kind, message).with_key(key);
    match extra {
        Value::Object(fields) => error.with_extra(fields),
        _ => error,
    }
}

fn addon_field(slug: &str) -> Value {
    json!({ "addon": slug })
}

pub fn self_not_addon() -> Error {
    Error::invalid("Self is not an App")
}

pub fn does_not_exist(slug: &str) -> Error {
    Error::not_found(format!("App {slug} does not exist"))
}

pub fn not_installed() -> Error {
    Error::invalid("App is not installed")
}

/// Store handlers name the add-on in the not-installed message.
pub fn slug_not_installed(slug: &str) -> Error {
    Error::invalid(format!("App {slug} is not installed"))
}

pub fn not_in_store(slug: &str) -> Error {
    keyed(
        Kind::NotFound,
        format!("App {slug} does not exist in the store"),
        "store_addon_not_found_error",
        addon_field(slug),
    )
}

pub fn already_installed(slug: &str) -> Error {
    keyed(Kind::Invalid, format!("App {slug} is already installed"), "addon_already_installed_error", addon_field(slug))
}

pub fn detached(slug: &str) -> Error {
    keyed(
        Kind::Invalid,
        format!("App {slug} is not available inside store"),
        "addon_not_in_store_error",
        addon_field(slug),
    )
}

pub fn no_update(slug: &str) -> Error {
    keyed(
        Kind::Invalid,
        format!("No update available for app {slug}"),
        "addon_no_update_available_error",
        addon_field(slug),
    )
}

pub fn update_self(slug: &str) -> Error {
    Error::forbidden(format!("App {slug} can't update itself!"))
}

pub fn rebuild_version_changed(slug: &str) -> Error {
    keyed(
        Kind::Invalid,
        "Version changed, use Update instead Rebuild".to_owned(),
        "addon_rebuild_version_changed_error",
        addon_field(slug),
    )
}

pub fn rebuild_image_based(slug: &str) -> Error {
    keyed(
        Kind::Invalid,
        format!("Can't rebuild an image-based app {slug}, use force to pull its image again"),
        "addon_rebuild_image_based_error",
        addon_field(slug),
    )
}

pub fn invalid_options(slug: &str, why: &str) -> Error {
    keyed(
        Kind::Invalid,
        format!("App {slug} has invalid options: {why}"),
        "addon_configuration_invalid_error",
        json!({ "addon": slug, "validation_error": why }),
    )
}

pub fn boot_manual_only(slug: &str) -> Error {
    keyed(
        Kind::Invalid,
        format!("App {slug} boot option is set to manual_only so it cannot be changed"),
        "addon_boot_config_cannot_change_error",
        json!({ "addon": slug, "boot_config": "manual_only" }),
    )
}

/// The add-on holds its update lock: what would change it waits until it lets go, or is forced.
pub fn update_locked(slug: &str) -> Error {
    keyed(
        Kind::Conflict,
        format!("App {slug} holds its update lock (updates.lock in its /tmp/balena); retry once it lets go, or force"),
        "addon_update_locked",
        addon_field(slug),
    )
}

pub fn not_running(slug: &str) -> Error {
    keyed(Kind::Invalid, format!("App {slug} is not running"), "addon_not_running_error", addon_field(slug))
}

pub fn no_stdin(slug: &str) -> Error {
    keyed(
        Kind::Invalid,
        format!("App {slug} does not support writing to stdin"),
        "addon_not_supported_write_stdin_error",
        addon_field(slug),
    )
}

/// A failure of the machine (the engine, the disk) while working on an add-on; the cause goes
/// to the log, the client gets the real Supervisor's message.
pub fn unknown(slug: &str, cause: impl std::fmt::Display) -> Error {
    tracing::error!(addon = slug, "{cause}");
    keyed(
        Kind::Internal,
        format!("An unknown error occurred with app {slug}. {CHECK_LOGS}"),
        "addon_unknown_error",
        addon_field(slug),
    )
}

pub fn build_failed(slug: &str, cause: impl std::fmt::Display) -> Error {
    tracing::error!(addon = slug, "build failed: {cause}");
    keyed(
        Kind::Internal,
        format!("An unknown error occurred while trying to build the image for app {slug}. {CHECK_LOGS}"),
        "addon_build_failed_unknown_error",
        addon_field(slug),
    )
}

pub fn dockerfile_missing(slug: &str) -> Error {
    keyed(
        Kind::Invalid,
        format!(
            "Cannot build app '{slug}' because dockerfile is missing. A repair using 'ha supervisor repair' will fix \
             this if the cause is data corruption. Otherwise please report this to the app developer."
        ),
        "addon_build_dockerfile_missing_error",
        addon_field(slug),
    )
}

pub fn build_arch_unsupported(slug: &str, arch: &[String], system: &[&str]) -> Error {
    keyed(
        Kind::Invalid,
        format!(
            "Cannot build app '{slug}' because its supported architectures ({}) do not match the system supported \
             architectures ({})",
            arch.join(", "),
            system.join(", ")
        ),
        "addon_build_architecture_not_supported_error",
        addon_field(slug),
    )
}

pub fn options_config_not_self() -> Error {
    Error::forbidden("This can be only read by the app itself!")
}

pub fn options_config_invalid() -> Error {
    Error::invalid("Invalid configuration data for the app")
}

/// An add-on's `apparmor.txt` that cannot be its profile; `why` names the problem (the real
/// messages for the profile lines, `apparmor_parser`'s own for the rest, a kernel's refusal to
/// load it included).
pub fn apparmor_invalid(slug: &str, why: &str) -> Error {
    Error::invalid(format!("AppArmor profile of app {slug} is not valid: {why}"))
}
