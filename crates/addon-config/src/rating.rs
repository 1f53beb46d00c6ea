//! The real Supervisor's security rating of an add-on, 1 (risky) to 8: what the store and the
//! installed add-on's info both show. Rule for rule the real one; its +1 for an AppArmor profile
//! of the add-on's own counts for an installed add-on whose profile is kept (the store's
//! add-ons have none yet).

use crate::AddonConfig;
use base::Role;

/// Capabilities that cost a point of the security rating.
const RISKY_PRIVILEGES: [&str; 10] = [
    "BPF",
    "CHECKPOINT_RESTORE",
    "DAC_READ_SEARCH",
    "NET_ADMIN",
    "NET_RAW",
    "PERFMON",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
];

impl AddonConfig {
    /// The rating of this add-on.
    pub fn rating(&self) -> u8 {
        rating(self, false)
    }

    /// The rating of this add-on installed, with or without an AppArmor profile of its own.
    pub fn installed_rating(&self, own_profile: bool) -> u8 {
        rating(self, own_profile)
    }
}

fn rating(config: &AddonConfig, own_profile: bool) -> u8 {
    let mut rating: i32 = 5;
    if !config.apparmor {
        rating -= 1;
    } else if own_profile {
        rating += 1;
    }
    // Home Assistant's login in front of it: ingress, else the auth API.
    if config.ingress {
        rating += 2;
    } else if config.auth_api {
        rating += 1;
    }
    if config.kernel_modules || config.privileged.iter().any(|p| RISKY_PRIVILEGES.contains(&p.as_str())) {
        rating -= 1;
    }
    match config.hassio_role {
        Role::Manager => rating -= 1,
        Role::Admin => rating -= 2,
        _ => {}
    }
    if config.host_network {
        rating -= 1;
    }
    if config.host_pid {
        rating -= 2;
    }
    if config.host_uts && config.privileged.iter().any(|p| p == "SYS_ADMIN") {
        rating -= 1;
    }
    if config.docker_api || config.full_access {
        rating = 1;
    }
    rating.clamp(1, 8) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn config(extra: Value) -> AddonConfig {
        let mut base = json!({"name": "T", "version": "1", "slug": "t", "description": "d", "arch": ["amd64"]});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        AddonConfig::from_value(base).unwrap()
    }

    fn rate(extra: Value) -> u8 {
        config(extra).rating()
    }

    #[test]
    fn starts_at_five_whatever_the_ports() {
        assert_eq!(rate(json!({})), 5, "no ports and no host network earn nothing");
        assert_eq!(rate(json!({"ports": {"80/tcp": 8080}})), 5);
        assert_eq!(rate(json!({"ports": {"80/tcp": null}})), 5);
    }

    #[test]
    fn apparmor_disabled_costs_one_and_a_profile_of_its_own_earns_one() {
        assert_eq!(rate(json!({"apparmor": false})), 4);
        assert_eq!(rate(json!({"apparmor": true})), 5);
        assert_eq!(config(json!({"apparmor": true})).installed_rating(true), 6);
        assert_eq!(config(json!({"apparmor": false})).installed_rating(true), 4);
    }

    #[test]
    fn ingress_earns_two_else_the_auth_api_one() {
        assert_eq!(rate(json!({"ingress": true})), 7);
        assert_eq!(rate(json!({"auth_api": true})), 6);
        assert_eq!(rate(json!({"ingress": true, "auth_api": true})), 7, "not both");
    }

    #[test]
    fn a_risky_capability_or_kernel_modules_cost_one() {
        for capability in RISKY_PRIVILEGES {
            assert_eq!(rate(json!({"privileged": [capability]})), 4, "{capability}");
        }
        assert_eq!(rate(json!({"privileged": ["NET_ADMIN", "SYS_ADMIN"]})), 4, "once for all");
        assert_eq!(rate(json!({"kernel_modules": true})), 4);
        assert_eq!(rate(json!({"kernel_modules": true, "privileged": ["NET_RAW"]})), 4);
        for harmless in ["IPC_LOCK", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME"] {
            assert_eq!(rate(json!({"privileged": [harmless]})), 5, "{harmless}");
        }
    }

    #[test]
    fn the_supervisor_role_costs_by_its_power() {
        assert_eq!(rate(json!({"hassio_role": "default"})), 5);
        assert_eq!(rate(json!({"hassio_role": "homeassistant"})), 5);
        assert_eq!(rate(json!({"hassio_role": "backup"})), 5);
        assert_eq!(rate(json!({"hassio_role": "manager"})), 4);
        assert_eq!(rate(json!({"hassio_role": "admin"})), 3);
    }

    #[test]
    fn host_namespaces_cost() {
        assert_eq!(rate(json!({"host_network": true})), 4);
        assert_eq!(rate(json!({"host_pid": true})), 3);
        assert_eq!(rate(json!({"host_uts": true})), 5, "only with SYS_ADMIN");
        assert_eq!(rate(json!({"host_uts": true, "privileged": ["SYS_ADMIN"]})), 3, "-1 capability, -1 uts");
        assert_eq!(rate(json!({"host_ipc": true, "host_dbus": true})), 5, "not rated");
    }

    #[test]
    fn docker_or_full_access_is_one_and_the_range_is_one_to_eight() {
        assert_eq!(rate(json!({"docker_api": true, "ingress": true})), 1);
        assert_eq!(rate(json!({"full_access": true, "ingress": true})), 1);
        assert_eq!(
            rate(json!({"host_network": true, "host_pid": true, "hassio_role": "admin", "apparmor": false,
                "privileged": ["SYS_ADMIN"], "host_uts": true})),
            1,
            "never below one"
        );
        assert_eq!(rate(json!({"ingress": true, "auth_api": true})), 7, "the best an add-on reaches here");
    }
}
