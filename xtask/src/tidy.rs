//! Tidy tests: the invariants `ARCHITECTURE.md` states, checked against the code so the map stays
//! true. They read the crate graph (`cargo metadata`) and the `api.rs` sources; they run with the
//! rest of the suite (`cargo test -p xtask`).

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The layers of `ARCHITECTURE.md`, lowest first. A crate depends only on crates of lower
    /// layers: never on its own layer or above, so the graph reads top-down without cycles.
    const LAYERS: &[&[&str]] = &[
        &["base", "archive", "securetar"],
        &["state", "dbus", "journal", "addon-config", "pulse", "update-locks", "fleet", "etcd", "registry-client"],
        &["http-api"],
        &["jobs", "admin", "controller"],
        &["security", "docker", "updater"],
        &["store", "host", "os", "network", "hardware", "homeassistant", "plugins"],
        &["addons", "mounts", "fleet-node"],
        &["supervisor", "backups", "auth", "discovery", "ingress", "balena"],
        &["resolution"],
        &["router"],
        &["daemon"],
    ];

    /// The pure crates: the first two layers. Neither they nor anything they pull in may be the
    /// HTTP server or the documentation layer, so they build and test without them.
    const PURE_LAYERS: usize = 2;
    const SERVER_CRATES: &[&str] = &["actix-web", "actix-http", "actix-multipart", "utoipa"];

    /// Programs that stand apart: they talk to the supervisor over HTTP or D-Bus only, or (the
    /// plugin programs of `plugins/`, run in their own containers) through their container's
    /// files, signals and network.
    const STANDALONE: &[&str] =
        &["cli", "dbus-fixtures", "core-fixture", "plugin-dns", "plugin-multicast", "plugin-observer"];

    /// Tools that may use anything.
    const TOOLS: &[&str] = &["xtask", "e2e"];

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_owned()
    }

    /// Each package's normal (not dev, not build) dependencies, by name; and which are ours.
    struct Graph {
        deps: BTreeMap<String, BTreeSet<String>>,
        ours: BTreeSet<String>,
    }

    fn graph() -> Graph {
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1"])
            .current_dir(root())
            .output()
            .expect("cargo metadata runs");
        assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
        let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata answers JSON");
        let name_of: BTreeMap<&str, &str> = metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        let ours = metadata["workspace_members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| name_of[id.as_str().unwrap()].to_owned())
            .collect();
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for node in metadata["resolve"]["nodes"].as_array().unwrap() {
            let normal = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dep| dep["dep_kinds"].as_array().unwrap().iter().any(|kind| kind["kind"].is_null()));
            let names: Vec<String> = normal.map(|dep| name_of[dep["pkg"].as_str().unwrap()].to_owned()).collect();
            deps.entry(name_of[node["id"].as_str().unwrap()].to_owned()).or_default().extend(names);
        }
        Graph { deps, ours }
    }

    fn layer_of(name: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&name))
    }

    #[test]
    fn every_crate_has_its_place_in_the_map() {
        let graph = graph();
        for name in &graph.ours {
            let placed =
                layer_of(name).is_some() || STANDALONE.contains(&name.as_str()) || TOOLS.contains(&name.as_str());
            assert!(placed, "crate {name} is in no layer: add it to ARCHITECTURE.md and to LAYERS here");
        }
    }

    #[test]
    fn crates_depend_only_on_lower_layers() {
        let graph = graph();
        let mut wrong = Vec::new();
        for (name, deps) in &graph.deps {
            if !graph.ours.contains(name) || TOOLS.contains(&name.as_str()) {
                continue;
            }
            for dep in deps.iter().filter(|dep| graph.ours.contains(*dep)) {
                let allowed = match (layer_of(name), layer_of(dep)) {
                    (Some(own), Some(theirs)) => theirs < own,
                    _ => false,
                };
                if !allowed {
                    wrong.push(format!("{name} → {dep}"));
                }
            }
        }
        assert!(wrong.is_empty(), "dependencies against the layers of ARCHITECTURE.md: {wrong:?}");
    }

    #[test]
    fn pure_crates_do_not_pull_in_the_server() {
        let graph = graph();
        for name in LAYERS[..PURE_LAYERS].iter().flat_map(|layer| layer.iter()) {
            let mut seen = BTreeSet::new();
            let mut todo = vec![(*name).to_owned()];
            while let Some(next) = todo.pop() {
                for dep in graph.deps.get(&next).into_iter().flatten() {
                    assert!(
                        !SERVER_CRATES.contains(&dep.as_str()),
                        "pure crate {name} depends on {dep} (through {next})"
                    );
                    if seen.insert(dep.clone()) {
                        todo.push(dep.clone());
                    }
                }
            }
        }
    }

    /// Every `api.rs` of the crates, with its path.
    fn api_sources() -> Vec<(PathBuf, String)> {
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(root().join("crates")).unwrap() {
            let path = entry.unwrap().path().join("src/api.rs");
            if let Ok(source) = std::fs::read_to_string(&path) {
                sources.push((path, source));
            }
        }
        assert!(sources.len() > 5, "the api.rs files are found");
        sources
    }

    /// The source without its `#[cfg(test)]` module, which may do anything.
    fn without_tests(source: &str) -> &str {
        source.split("#[cfg(test)]").next().unwrap()
    }

    /// One documented handler: its `#[utoipa::path(...)]` and the signature after it.
    struct Handler<'a> {
        attribute: &'a str,
        signature: &'a str,
    }

    fn handlers(source: &str) -> Vec<Handler<'_>> {
        let mut found = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("#[utoipa::path(") {
            let after = &rest[start..];
            let fn_at = after.find("async fn ").expect("a handler after #[utoipa::path]");
            let body_at = fn_at + after[fn_at..].find('{').expect("the handler's body");
            found.push(Handler { attribute: &after[..fn_at], signature: &after[fn_at..body_at] });
            rest = &after[body_at..];
        }
        found
    }

    /// The type inside `Body<...>`/`Options<...>` of a signature.
    fn parsed_body(signature: &str) -> Option<String> {
        ["Body<", "Options<"].iter().find_map(|extractor| {
            let start = signature.find(extractor)? + extractor.len();
            let mut depth = 1;
            let end = signature[start..].char_indices().find_map(|(i, c)| {
                depth += match c {
                    '<' => 1,
                    '>' => -1,
                    _ => 0,
                };
                (depth == 0).then_some(start + i)
            })?;
            Some(signature[start..end].replace(' ', ""))
        })
    }

    /// The `request_body` of an attribute, without `Option<...>`.
    fn documented_body(attribute: &str) -> Option<String> {
        let start = ["request_body = ", "request_body(content = "]
            .iter()
            .find_map(|key| attribute.find(key).map(|at| at + key.len()))?;
        let mut depth = 0;
        let text: String = attribute[start..]
            .chars()
            .take_while(|c| {
                depth += match c {
                    '<' | '(' => 1,
                    '>' | ')' => -1,
                    _ => 0,
                };
                depth >= 0 && !(depth == 0 && (*c == ',' || *c == '\n'))
            })
            .collect();
        let text = text.trim().trim_end_matches(')').replace(' ', "");
        let text = text.strip_prefix("Option<").map_or(text.clone(), |t| t.strip_suffix('>').unwrap_or(t).to_owned());
        Some(text)
    }

    #[test]
    fn every_handler_documents_the_body_it_parses() {
        let mut wrong = Vec::new();
        for (path, source) in api_sources() {
            let code = without_tests(&source);
            for handler in handlers(code) {
                let name = handler.signature.split(['(', '<']).next().unwrap().trim_start_matches("async fn ");
                let streamed =
                    ["Multipart", "web::Payload", "web::Bytes"].iter().any(|s| handler.signature.contains(s));
                match (documented_body(handler.attribute), parsed_body(handler.signature)) {
                    (Some(documented), Some(_)) if documented == "Object" => {}
                    (Some(documented), Some(parsed)) if parsed.ends_with("Map<String,Value>") => {
                        let parsers = [format!("{documented}::parse("), format!("{documented}::try_from(")];
                        if !parsers.iter().any(|parser| code.contains(parser)) {
                            wrong.push(format!(
                                "{}: {name} documents {documented} but parses a map without it",
                                path.display()
                            ));
                        }
                    }
                    (Some(documented), Some(parsed)) if documented != parsed => {
                        wrong.push(format!("{}: {name} documents {documented} but parses {parsed}", path.display()));
                    }
                    (Some(documented), None) if !streamed => {
                        wrong.push(format!("{}: {name} documents {documented} but reads no body", path.display()));
                    }
                    (None, Some(parsed)) => {
                        wrong.push(format!("{}: {name} parses {parsed} but documents no request body", path.display()));
                    }
                    _ => {}
                }
            }
        }
        assert!(wrong.is_empty(), "request bodies:\n{}", wrong.join("\n"));
    }

    /// Handlers that only answer an error on every system this runs on (the real Supervisor's
    /// answer off Home Assistant OS, or where it removed the feature).
    const NEVER_SUCCEEDS: &[&str] = &["migrate_storage_driver", "security_integrity"];

    #[test]
    fn every_handler_documents_its_success() {
        let mut wrong = Vec::new();
        for (path, source) in api_sources() {
            for handler in handlers(without_tests(&source)) {
                let name = handler.signature.split(['(', '<']).next().unwrap().trim_start_matches("async fn ");
                let never_succeeds = NEVER_SUCCEEDS.contains(&name);
                // A websocket's success is the switch of protocols, a redirect's the redirect.
                let succeeds = ["status = 20", "status = 101", "status = 30"]
                    .iter()
                    .any(|success| handler.attribute.contains(success));
                if !never_succeeds && !succeeds {
                    wrong.push(format!("{}: {name} documents no 2xx", path.display()));
                }
            }
        }
        assert!(wrong.is_empty(), "responses:\n{}", wrong.join("\n"));
    }

    #[test]
    fn api_files_do_http_only() {
        // Jobs are declared at the manager's operation, the engine and the disk are reached
        // through managers: so calling an operation from code keeps its limits and checks.
        const DOMAIN_ONLY: &[&str] = &["JobSpec", "JobCondition", "JobLimit", "bollard", "tokio::fs", "std::fs"];
        let mut wrong = Vec::new();
        for (path, source) in api_sources() {
            for needle in DOMAIN_ONLY {
                if without_tests(&source).contains(needle) {
                    wrong.push(format!("{}: {needle}", path.display()));
                }
            }
        }
        assert!(wrong.is_empty(), "domain code in api.rs files:\n{}", wrong.join("\n"));
    }
}
