//! The dns plugin (`plugins/dns`): its options and the files it is told them by, its life cycle,
//! the names it answers for the containers, and its forwards to the servers the user sets, to a
//! DNS server the test runs on the container network's gateway, until `/dns/reset` forgets them.

use super::{address_of, container, docker, gateway, jobs_named, life_cycle, offer, running, wait_for, Stage};
use crate::addons::{engine_daemon, inspect_container, install};
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

fn dns_file(daemon: &Daemon, name: &str) -> Option<String> {
    std::fs::read_to_string(daemon.data_dir().join("plugins/dns").join(name)).ok()
}

#[test]
fn dns_options_are_checked_kept_and_written_for_the_plugin() {
    let mut daemon = engine_daemon(&[]);
    offer(&daemon, &[]);
    let (status, info) = daemon.get("/dns/info");
    assert_eq!(status, 200, "{info}");
    assert_eq!((&info["data"]["servers"], &info["data"]["fallback"]), (&json!([]), &json!(true)), "{info}");
    assert!(info["data"]["locals"].is_array() && info["data"]["mdns"] == false, "{info}");
    assert!(dns_file(&daemon, "dns.json").is_none(), "nothing is written before the plugin or options exist");

    for (body, named) in [
        (json!({"servers": ["dns://8.8.8.8", "8.8.4.4"]}), "8.8.4.4"),
        (json!({"servers": ["dns://2001:db8::53"]}), "IPv4"),
        (json!({"servers": ["dns://resolver.lan"]}), "resolver.lan"),
        (json!({"servers": (1..=9).map(|i| format!("dns://10.53.0.{i}")).collect::<Vec<_>>()}), "at most 8"),
        (json!({"server": ["dns://8.8.8.8"]}), "server"),
    ] {
        let (status, answer) = daemon.post("/dns/options", body.clone());
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer["message"].as_str().unwrap().contains(named), "{body} -> {answer}");
    }
    let (_, info) = daemon.get("/dns/info");
    assert_eq!(info["data"]["servers"], json!([]), "a refusal changes nothing");

    let (status, body) =
        daemon.post("/dns/options", json!({"servers": ["dns://10.53.0.1", "dns://10.53.0.2"], "fallback": false}));
    assert_eq!(status, 200, "{body}");
    let (_, info) = daemon.get("/dns/info");
    assert_eq!(info["data"]["servers"], json!(["dns://10.53.0.1", "dns://10.53.0.2"]));
    assert_eq!(info["data"]["fallback"], false);
    let config: Value = serde_json::from_str(&dns_file(&daemon, "dns.json").expect("dns.json")).unwrap();
    assert_eq!(config["servers"], json!(["dns://10.53.0.1", "dns://10.53.0.2"]));
    assert_eq!(
        (&config["fallback"], &config["fallback_servers"]),
        (&json!(false), &json!(["dns://1.1.1.1", "dns://1.0.0.1"]))
    );
    assert_eq!(config["locals"], info["data"]["locals"]);
    let gateway = gateway(&daemon);
    let hosts = dns_file(&daemon, "hosts").expect("hosts");
    assert!(
        hosts
            .lines()
            .any(|l| l == format!("{gateway} hassio hassio.local.hass.io supervisor supervisor.local.hass.io")),
        "{hosts}"
    );
    assert!(hosts.contains(&format!("{gateway} homeassistant homeassistant.local.hass.io")), "{hosts}");

    // An add-on started joins the hosts under its hostname, and leaves them when stopped.
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    let addon = inspect_container(&format!("{}addon_core_build_local", daemon.instance())).unwrap();
    let network = format!("{}hassio", daemon.instance());
    let address = addon["NetworkSettings"]["Networks"][&network]["IPAddress"].as_str().unwrap().to_owned();
    let line = format!("{address} core-build-local core-build-local.local.hass.io");
    eventually("the add-on in the hosts file", || dns_file(&daemon, "hosts")?.lines().any(|l| l == line).then_some(()));
    let (status, body) = daemon.post("/addons/core_build_local/stop", json!({}));
    assert_eq!(status, 200, "{body}");
    eventually("the add-on out of the hosts file", || {
        (!dns_file(&daemon, "hosts")?.contains("core-build-local")).then_some(())
    });

    // Kept across a restart; the CLI sets them as the real one does.
    daemon.kill9_and_restart();
    let (_, info) = daemon.get("/dns/info");
    assert_eq!((&info["data"]["servers"][1], &info["data"]["fallback"]), (&json!("dns://10.53.0.2"), &json!(false)));
    let output = daemon.ha(&["dns", "options", "--servers", "dns://10.53.0.9", "--fallback"], &[]);
    assert!(output.status.success(), "ha dns options: {}", String::from_utf8_lossy(&output.stderr));
    let (_, info) = daemon.get("/dns/info");
    assert_eq!((&info["data"]["servers"], &info["data"]["fallback"]), (&json!(["dns://10.53.0.9"]), &json!(true)));

    let (status, body) = daemon.post("/dns/reset", json!({}));
    assert_eq!(status, 200, "{body}");
    let (_, info) = daemon.get("/dns/info");
    assert_eq!((&info["data"]["servers"], &info["data"]["fallback"]), (&json!([]), &json!(true)));
    let config: Value = serde_json::from_str(&dns_file(&daemon, "dns.json").unwrap()).unwrap();
    assert_eq!((&config["servers"], &config["fallback"]), (&json!([]), &json!(true)));

    // Without the plugin installed there is nothing to run or measure; its log is empty (once the
    // restarted daemon has the engine, which holds that log).
    daemon.wait_for_engine();
    for path in ["/dns/restart", "/dns/update"] {
        let (status, body) = daemon.post(path, json!({}));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains("not installed"), "{path}: {body}");
    }
    let (status, body) = daemon.get("/dns/stats");
    assert_eq!(status, 400, "{body}");
    let (status, log) = daemon.text("/dns/logs");
    assert_eq!((status.as_u16(), log.as_str()), (200, ""));
}

/// A daemon whose dns plugin runs at version 1. The plugin's own program is another part of the
/// project; until it is built, `None`, and the test only says so.
fn with_dns_plugin() -> Option<Daemon> {
    if !e2e::has_bin("plugin-dns") {
        eprintln!("skipped: plugin-dns is not built (cargo build -p plugin-dns), so the dns plugin can't run");
        return None;
    }
    let daemon = engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "dns")]);
    offer(&daemon, &[("dns", "1")]);
    running(&daemon, "dns", "1");
    Some(daemon)
}

#[test]
fn the_dns_plugin_resolves_for_the_containers() {
    let Some(daemon) = with_dns_plugin() else { return };
    let dns = inspect_container(&container(&daemon, "dns")).unwrap();
    let network = format!("{}hassio", daemon.instance());
    let address = dns["NetworkSettings"]["Networks"][&network]["IPAddress"].as_str().unwrap().to_owned();
    let (_, info) = daemon.get("/dns/info");
    assert_eq!(info["data"]["host"], address.as_str(), "{info}");
    assert!(Path::new(&daemon.data_dir().join("plugins/dns/hosts")).is_file());

    // Told of new options without a restart.
    let (status, body) = daemon.post("/dns/options", json!({"servers": ["dns://10.53.0.1"]}));
    assert_eq!(status, 200, "{body}");
    let id = running(&daemon, "dns", "1");
    assert_eq!(id, dns["Id"].as_str().unwrap(), "SIGHUP, not a new container");

    // Add-ons made from now on resolve through it: the supervisor's name included.
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    let addon_name = format!("{}addon_core_build_local", daemon.instance());
    let addon = inspect_container(&addon_name).unwrap();
    assert_eq!(addon["HostConfig"]["Dns"], json!([address]));
    let gateway = gateway(&daemon);
    let lookup = docker(&["exec", &addon_name, "nslookup", "supervisor.local.hass.io", &address]);
    let answer = String::from_utf8_lossy(&lookup.stdout);
    assert!(answer.contains(&gateway), "nslookup through the dns plugin: {answer}");

    let (status, body) = daemon.post("/dns/restart", json!({}));
    assert_eq!(status, 200, "{body}");
    let (status, stats) = daemon.get("/dns/stats");
    assert_eq!(status, 200, "{stats}");
}

#[test]
fn the_dns_plugin_is_installed_updated_watched_and_repaired() {
    let mut daemon = engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "dns")]);
    life_cycle(&mut daemon, "dns", |daemon, stage| {
        // Wherever its container is now, the supervisor says so (after a restart, once it has
        // reached the engine again); its files are in place.
        let address = address_of(daemon, &container(daemon, "dns"));
        eventually(&format!("/dns/info at {stage:?} to name {address}"), || {
            let (_, info) = daemon.get("/dns/info");
            (info["data"]["host"] == address.as_str()).then_some(())
        });
        if stage == Stage::Installed {
            assert!(dns_file(daemon, "dns.json").is_some() && dns_file(daemon, "hosts").is_some());
        }
    });
}

/// A DNS server of the test, on an address of the host the plugin's container reaches, port 53
/// (where `dns://` servers are asked). It knows one name, `name` is `address`, and denies every
/// other (the plugin's loop probes among them); it counts the queries for `name`. Stops when
/// dropped.
struct TestServer {
    asked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn serve(on: Ipv4Addr, name: &str, address: Ipv4Addr) -> TestServer {
        let socket = UdpSocket::bind((on, 53)).unwrap_or_else(|e| panic!("binding {on}:53: {e}"));
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let (asked, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (counter, stopped, name) = (asked.clone(), stop.clone(), name.to_ascii_lowercase());
        let thread = std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((length, from)) = socket.recv_from(&mut buffer) else { continue };
                let Some((answer, ours)) = answer(&buffer[..length], &name, address) else { continue };
                if ours {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                let _ = socket.send_to(&answer, from);
            }
        });
        TestServer { asked, stop, thread: Some(thread) }
    }

    /// The queries for its name so far.
    fn asked(&self) -> usize {
        self.asked.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The answer to a standard query, made by hand (the test's server is not the code under test):
/// the query's header and question, then for `name` its A record (none for other types), for any
/// other name NXDOMAIN; whether the query asked for `name`. `None` for what is not a query.
fn answer(query: &[u8], name: &str, address: Ipv4Addr) -> Option<(Vec<u8>, bool)> {
    // QR clear and opcode QUERY.
    if query.len() < 12 || query[2] & 0xf8 != 0 {
        return None;
    }
    let mut end = 12;
    let mut labels = Vec::new();
    loop {
        let length = usize::from(*query.get(end)?);
        end += 1;
        if length == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(end..end + length)?).to_ascii_lowercase());
        end += length;
    }
    let record_type = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    end += 4;
    query.get(..end)?;
    let ours = labels.join(".") == name;
    let record = ours && record_type == 1;
    // QR, AA and the query's RD; RA, and NOERROR or NXDOMAIN; one question, the answer if any.
    let flags = [0x84 | (query[2] & 0x01), if ours { 0x80 } else { 0x83 }];
    let mut packet = [&query[..2], &flags, &[0, 1, 0, u8::from(record), 0, 0, 0, 0]].concat();
    packet.extend_from_slice(&query[12..end]);
    if record {
        // The question's name by pointer, A, IN, a minute, four bytes.
        packet.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        packet.extend(address.octets());
    }
    Some((packet, ours))
}

#[test]
fn the_dns_plugin_forwards_to_the_servers_set_until_they_are_reset() {
    let Some(daemon) = with_dns_plugin() else { return };
    // The gateway is the host's address on the container network, which the plugin reaches.
    let gateway: Ipv4Addr = gateway(&daemon).parse().unwrap();
    let name = format!("{}.forward.e2e.test", daemon.instance().trim_end_matches('-'));
    let known = Ipv4Addr::new(203, 0, 113, 53);
    let server = TestServer::serve(gateway, &name, known);
    let url = format!("dns://{gateway}");
    let (status, body) = daemon.post("/dns/options", json!({"servers": [url]}));
    assert_eq!(status, 200, "{body}");
    let (_, info) = daemon.get("/dns/info");
    assert_eq!(info["data"]["servers"], json!([url]), "{info}");
    let plugin = info["data"]["host"].as_str().unwrap().to_owned();

    // Asked from an add-on through the plugin, the name comes from the test's server.
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    let addon = format!("{}addon_core_build_local", daemon.instance());
    let lookup = || {
        let output = docker(&["exec", &addon, "nslookup", &name, &plugin]);
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
    };
    let known = known.to_string();
    let answer = wait_for(&daemon, "the name from the test's server", || {
        let answer = lookup();
        answer.contains(&known).then_some(answer)
    });
    assert!(answer.contains(&name), "{answer}");
    assert!(server.asked() > 0, "the test's server was asked");

    // Reset: the servers are gone, and so is the forward (the name comes from nowhere now).
    let (status, body) = daemon.post("/dns/reset", json!({}));
    assert_eq!(status, 200, "{body}");
    let (_, info) = daemon.get("/dns/info");
    assert_eq!((&info["data"]["servers"], &info["data"]["fallback"]), (&json!([]), &json!(true)), "{info}");
    wait_for(&daemon, "the plugin to stop forwarding to the test's server", || {
        (!lookup().contains(&known)).then_some(())
    });
    let asked = server.asked();
    let answer = lookup();
    assert!(!answer.contains(&known), "{answer}");
    assert_eq!(server.asked(), asked, "the test's server is no longer asked: {answer}");
}

/// The `dns_loop` issue of `/resolution/info`, if there is one.
fn dns_loop(daemon: &Daemon) -> Option<Value> {
    let (_, info) = daemon.get("/resolution/info");
    info["data"]["issues"].as_array()?.iter().find(|issue| issue["type"] == "dns_loop").cloned()
}

fn set_servers(daemon: &Daemon, servers: &[String]) {
    let (status, body) = daemon.post("/dns/options", json!({ "servers": servers }));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_dns_plugin_forwarding_to_itself_is_a_dns_loop_until_it_forwards_elsewhere_or_is_reset() {
    let Some(daemon) = with_dns_plugin() else { return };
    assert_eq!(dns_loop(&daemon), None);
    // Its probe, sent to the server the user set, comes back to it.
    let itself = vec![format!("dns://{}", address_of(&daemon, &container(&daemon, "dns")))];
    set_servers(&daemon, &itself);
    let issue = wait_for(&daemon, "the dns loop", || dns_loop(&daemon));
    assert_eq!((&issue["context"], &issue["reference"]), (&json!("plugin"), &json!("dns")), "{issue}");
    let (status, body) = daemon.get(&format!("/resolution/issue/{}/suggestions", issue["uuid"].as_str().unwrap()));
    assert_eq!(status, 200, "{body}");
    let suggestions = body["data"]["suggestions"].as_array().unwrap().clone();
    let kinds: Vec<_> = suggestions.iter().map(|s| (&s["type"], &s["context"], &s["reference"])).collect();
    assert_eq!(kinds, [(&json!("execute_reset"), &json!("plugin"), &json!("dns"))]);

    // Told to forward elsewhere, the plugin finds no loop at its reload: the issue goes.
    set_servers(&daemon, &[]);
    wait_for(&daemon, "the loop to be over", || dns_loop(&daemon).is_none().then_some(()));

    // Again, and reset by the suggestion, as a job.
    set_servers(&daemon, &itself);
    let issue = wait_for(&daemon, "the dns loop again", || dns_loop(&daemon));
    let (_, body) = daemon.get(&format!("/resolution/issue/{}/suggestions", issue["uuid"].as_str().unwrap()));
    let reset = body["data"]["suggestions"][0]["uuid"].as_str().unwrap().to_owned();
    let (status, body) = daemon.post(&format!("/resolution/suggestion/{reset}"), json!({}));
    assert_eq!(status, 200, "{body}");
    let job = jobs_named(&daemon, "fixup_plugin_execute_reset_process").pop().expect("the fixup's job");
    assert_eq!((&job["done"], &job["errors"]), (&json!(true), &json!([])), "{job}");
    let (_, info) = daemon.get("/dns/info");
    assert_eq!((&info["data"]["servers"], &info["data"]["fallback"]), (&json!([]), &json!(true)), "{info}");
    assert_eq!(dns_loop(&daemon), None);
    // The plugin, reloaded with its reset files, finds no loop either: it stays gone.
    wait_for(&daemon, "the plugin to find no loop", || {
        (dns_file(&daemon, "loops.json")? == r#"{"looping":[]}"#).then_some(())
    });
    assert_eq!(dns_loop(&daemon), None);
}
