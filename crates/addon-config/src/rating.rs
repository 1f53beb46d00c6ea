//! The real Supervisor's security rating of an add-on, 1 (risky) to 8: what the store and the
//! installed add-on's info both show.

use crate::AddonConfig;
use base::Role;
use std::collections::BTreeMap;

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
    /// The rating of this add-on with the effective published `ports`.
    pub fn rating(&self, ports: &BTreeMap<String, Option<u16>>) -> u8 {
        rating(self, ports)
    }
}

fn rating(config: &AddonConfig, ports: &BTreeMap<String, Option<u16>>) -> u8 {
    let mut rating: i32 = 5;
    if !config.apparmor {
        rating -= 1;
    }
    // Reachable only through ingress, or not at all from outside: +2.
    let closed = !config.host_network && ports.values().all(Option::is_none);
    if config.ingress || closed {
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
        let config = config(extra);
        config.rating(&config.ports)
    }

    #[test]
    fn rating_follows_the_real_rules() {
        assert_eq!(rate(json!({})), 7, "no ports, no host network: +2");
        assert_eq!(rate(json!({"ports": {"80/tcp": 8080}})), 5);
        assert_eq!(rate(json!({"ports": {"80/tcp": 8080}, "auth_api": true})), 6);
        assert_eq!(rate(json!({"ingress": true, "ports": {"80/tcp": 8080}})), 7);
        assert_eq!(rate(json!({"apparmor": false})), 6);
        assert_eq!(rate(json!({"privileged": ["NET_ADMIN"]})), 6);
        assert_eq!(rate(json!({"hassio_role": "admin"})), 5);
        assert_eq!(rate(json!({"host_network": true})), 4);
        assert_eq!(rate(json!({"host_pid": true})), 5);
        assert_eq!(rate(json!({"docker_api": true, "ingress": true})), 1);
        assert_eq!(rate(json!({"full_access": true})), 1);
        assert_eq!(
            rate(json!({"host_network": true, "host_pid": true, "hassio_role": "admin", "apparmor": false,
                "privileged": ["SYS_ADMIN"], "host_uts": true})),
            1
        );
    }
}
