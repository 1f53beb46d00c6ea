//! `ha banner`: what a console shows at boot: a greeting, then, once the Supervisor has network
//! interfaces (waiting for them as the real CLI does), their addresses and where to reach Home
//! Assistant, with the real CLI's layout and labels.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::{output, App};
use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// How long the banner waits for the Supervisor, checking once a second, as the real CLI does.
const WAIT_ATTEMPTS: u32 = 180;
/// The Observer's port, which the real CLI shows next to the host name.
const OBSERVER_PORT: u16 = 4357;

#[derive(clap::Args)]
pub struct Args {
    /// Don't wait until Supervisor is started
    #[arg(long)]
    no_wait: bool,
}

pub async fn show(app: &App, args: &Args) -> Result<()> {
    output::write_stdout(b"\nha: the command line of the Home Assistant Supervisor.\n\n")?;
    let mut network = None;
    if !args.no_wait {
        for attempt in 0..WAIT_ATTEMPTS {
            if let Ok(info) = get(app, &["network", "info"]).await {
                if info.get("interfaces").and_then(Value::as_array).is_some_and(|list| !list.is_empty()) {
                    output::write_stdout(b"The Supervisor is up.\n")?;
                    network = Some(info);
                    break;
                }
            }
            if attempt == 0 {
                output::write_stdout(b"Waiting for the Supervisor...\n")?;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if network.is_none() {
            output::write_stdout(b"The Supervisor has not come up in 3 minutes; 'ha supervisor logs' shows why.\n")?;
            return Ok(());
        }
    }
    let network = match network {
        Some(network) => network,
        None => get(app, &["network", "info"]).await.context("network information unavailable")?,
    };
    let host = get(app, &["host", "info"]).await?;
    let core = get(app, &["core", "info"]).await?;
    output::write_stdout(render(&network, &host, &core).as_bytes())?;
    Ok(())
}

async fn get(app: &App, path: &[&str]) -> Result<Value> {
    Ok(app.client.call(Method::GET, path, &Body::new(), DEFAULT_TIMEOUT).await?.data)
}

/// The system information block, from the answers of `/network/info`, `/host/info` and
/// `/core/info`.
fn render(network: &Value, host: &Value, core: &Value) -> String {
    let mut out = String::from("This system:\n");
    let line = |out: &mut String, title: &str, value: &str| {
        let _ = writeln!(out, "  {title:<25} {value}");
    };
    let addresses = |family: &Value| -> Option<String> {
        let list = family.get("address")?.as_array()?;
        let texts: Vec<String> = list.iter().map(|address| address.as_str().unwrap_or_default().to_owned()).collect();
        (!texts.is_empty()).then(|| texts.join(", "))
    };
    for iface in network.get("interfaces").and_then(Value::as_array).into_iter().flatten() {
        let name = iface.get("interface").and_then(Value::as_str).unwrap_or_default();
        let ipv4 = iface.get("ipv4").filter(|family| !family.is_null()).and_then(addresses);
        line(&mut out, &format!("IPv4 addresses for {name}:"), ipv4.as_deref().unwrap_or("(No address)"));
        if let Some(ipv6) = iface.get("ipv6").filter(|family| !family.is_null()).and_then(addresses) {
            line(&mut out, &format!("IPv6 addresses for {name}:"), &ipv6);
        }
    }
    out.push('\n');
    let hostname = host.get("hostname").and_then(Value::as_str).unwrap_or_default();
    let ssl = core.get("ssl").and_then(Value::as_bool).unwrap_or(false);
    let (scheme, default_port) = if ssl { ("https", 443) } else { ("http", 80) };
    let mut url = format!("{scheme}://{hostname}.local");
    if let Some(port) = core.get("port").and_then(Value::as_u64).filter(|port| *port != default_port) {
        let _ = write!(url, ":{port}");
    }
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    line(&mut out, "OS Version:", &text(host, "operating_system"));
    line(&mut out, "Home Assistant Core:", &text(core, "version"));
    out.push('\n');
    line(&mut out, "Home Assistant URL:", &url);
    line(&mut out, "Observer URL:", &format!("http://{hostname}.local:{OBSERVER_PORT}"));
    out.push_str("\nReady: open the Home Assistant URL in a browser or the app.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_system_block_lists_addresses_and_urls() {
        let network = json!({"interfaces": [
            {"interface": "eth0", "ipv4": {"address": ["192.168.1.5/24"]}, "ipv6": {"address": []}},
            {"interface": "wlan0", "ipv4": null, "ipv6": {"address": ["fe80::1/64", "fd00::1/64"]}},
        ]});
        let host = json!({"hostname": "homeassistant", "operating_system": "Debian GNU/Linux 12"});
        let core = json!({"version": "2026.1.0", "ssl": true, "port": 8123});
        let out = render(&network, &host, &core);
        assert_eq!(
            out,
            "This system:\n\
             \x20 IPv4 addresses for eth0:  192.168.1.5/24\n\
             \x20 IPv4 addresses for wlan0: (No address)\n\
             \x20 IPv6 addresses for wlan0: fe80::1/64, fd00::1/64\n\n\
             \x20 OS Version:               Debian GNU/Linux 12\n\
             \x20 Home Assistant Core:      2026.1.0\n\n\
             \x20 Home Assistant URL:       https://homeassistant.local:8123\n\
             \x20 Observer URL:             http://homeassistant.local:4357\n\n\
             Ready: open the Home Assistant URL in a browser or the app.\n"
        );
        let plain = render(&json!({}), &host, &json!({"ssl": false, "port": 80}));
        assert!(plain.contains("http://homeassistant.local\n"), "{plain}");
    }
}
