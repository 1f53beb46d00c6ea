//! `ha fleet`: the fleet controller's API (the Anka Controller's shape) from the command line,
//! which the real CLI has no command for. It talks to a controller, not to the supervisor:
//! `--controller` (or `FLEET_CONTROLLER`) names it and the operator's password comes from
//! `FLEET_ROOT_PASSWORD`, never from the command line, where other users would see it.

use crate::output;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::time::Duration;

pub const LONG_ABOUT: &str = "Run a fleet of supervisors from its controller: nodes, node groups,
templates and the instances placed on the nodes.";

#[derive(Args)]
pub struct Fleet {
    /// The controller's URL
    #[arg(long, env = "FLEET_CONTROLLER", default_value = "http://127.0.0.1:8090", global = true)]
    controller: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    #[command(about = "Show the controller's status and whether it leads")]
    Status,
    #[command(
        about = "List the nodes, or show one",
        after_help = "Examples:\n  ha fleet nodes\n  ha fleet nodes 3c10…"
    )]
    Nodes { id: Option<String> },
    #[command(
        about = "Change a node's capacity, name or drain mode",
        after_help = "Examples:\n  ha fleet node-config 3c10… --capacity 4\n  ha fleet node-config 3c10… --drain true"
    )]
    NodeConfig {
        id: String,
        #[arg(long)]
        capacity: Option<u32>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "BOOL")]
        drain: Option<bool>,
    },
    #[command(about = "List the node groups")]
    Groups,
    #[command(about = "List the templates of the registry, or show one with its versions")]
    Templates { id: Option<String> },
    #[command(about = "List the instances, or show one")]
    Instances { id: Option<String> },
    #[command(
        about = "Start instances of a template",
        after_help = "Examples:\n  ha fleet start 6b13… --count 2\n  ha fleet start 6b13… --tag v2 --group 89a6… --priority 10"
    )]
    Start {
        template: String,
        #[arg(long)]
        count: Option<u32>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        node: Option<String>,
        /// 1 (most urgent) to 10000
        #[arg(long)]
        priority: Option<u32>,
        #[arg(long)]
        name: Option<String>,
    },
    #[command(about = "Terminate an instance")]
    Terminate { id: String },
    #[command(about = "Restart an instance on its node")]
    Restart { id: String },
    #[command(about = "Pull a template onto every node (or a group's) ahead of use")]
    Distribute {
        template: String,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
}

/// The request of a command: method, path, query and body.
fn request(command: Command) -> (Method, &'static str, Vec<(&'static str, String)>, Option<Value>) {
    let with_id = |id: Option<String>| id.map(|id| vec![("id", id)]).unwrap_or_default();
    let fields = |pairs: Vec<(&str, Option<Value>)>| {
        let map: Map<String, Value> =
            pairs.into_iter().filter_map(|(key, value)| value.map(|value| (key.to_owned(), value))).collect();
        Value::Object(map)
    };
    match command {
        Command::Status => (Method::GET, "/api/v1/status", vec![], None),
        Command::Nodes { id } => (Method::GET, "/api/v1/node", with_id(id), None),
        Command::NodeConfig { id, capacity, name, drain } => {
            let body = fields(vec![
                ("node_id", Some(json!(id))),
                ("max_vm_count", capacity.map(|c| json!(c))),
                ("name", name.map(|n| json!(n))),
                ("drain_mode", drain.map(|d| json!(d))),
            ]);
            (Method::POST, "/api/v1/node/config", vec![], Some(body))
        }
        Command::Groups => (Method::GET, "/api/v1/group", vec![], None),
        Command::Templates { id } => (Method::GET, "/api/v1/registry/vm", with_id(id), None),
        Command::Instances { id } => (Method::GET, "/api/v1/vm", with_id(id), None),
        Command::Start { template, count, tag, group, node, priority, name } => {
            let body = fields(vec![
                ("vmid", Some(json!(template))),
                ("count", count.map(|c| json!(c))),
                ("tag", tag.map(|t| json!(t))),
                ("group_id", group.map(|g| json!(g))),
                ("node_id", node.map(|n| json!(n))),
                ("priority", priority.map(|p| json!(p))),
                ("name", name.map(|n| json!(n))),
            ]);
            (Method::POST, "/api/v1/vm", vec![], Some(body))
        }
        Command::Terminate { id } => (Method::DELETE, "/api/v1/vm", vec![], Some(json!({"id": id}))),
        Command::Restart { id } => (Method::POST, "/api/v1/rpc/vm/restart", vec![], Some(json!({"id": id}))),
        Command::Distribute { template, tag, group } => {
            let body = fields(vec![
                ("template_id", Some(json!(template))),
                ("tag", tag.map(|t| json!(t))),
                ("group_id", group.map(|g| json!(g))),
            ]);
            (Method::POST, "/api/v1/registry/vm/distribute", vec![], Some(body))
        }
    }
}

impl Fleet {
    pub async fn run(self, raw_json: bool) -> Result<()> {
        let password = std::env::var("FLEET_ROOT_PASSWORD")
            .context("FLEET_ROOT_PASSWORD is not set: the controller's root password goes there")?;
        let base = crate::config::normalise_endpoint(&self.controller)?;
        let (method, path, query, body) = request(self.command);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let url = format!("{}{}", base.as_str().trim_end_matches('/'), path);
        let mut call = client.request(method, &url).basic_auth("root", Some(&password)).query(&query);
        if let Some(body) = body {
            call = call.json(&body);
        }
        let response =
            call.send().await.with_context(|| format!("can't reach the controller at {}", self.controller))?;
        let status = response.status();
        let text = response.text().await?;
        let reply: Value = serde_json::from_str(&text)
            .with_context(|| format!("the controller answered {status} with no JSON: {text}"))?;
        if reply["status"] != "OK" {
            bail!("{}", reply["message"].as_str().filter(|m| !m.is_empty()).unwrap_or(status.as_str()));
        }
        if raw_json {
            output::write_stdout(text.as_bytes())?;
        } else {
            output::write_stdout(output::render(&reply["body"]).as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_not_given_are_not_sent() {
        let start = Command::Start {
            template: "t".into(),
            count: Some(2),
            tag: None,
            group: None,
            node: None,
            priority: Some(5),
            name: None,
        };
        let (method, path, _, body) = request(start);
        assert_eq!((method, path), (Method::POST, "/api/v1/vm"));
        assert_eq!(body, Some(json!({"vmid": "t", "count": 2, "priority": 5})));
        let (_, _, query, body) = request(Command::Nodes { id: Some("n1".into()) });
        assert_eq!((query, body), (vec![("id", "n1".to_string())], None));
    }
}
