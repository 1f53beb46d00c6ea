//! Local image builds for add-ons without an `image` (addon-config.md §3.3): the add-on folder
//! is sent to the engine as the build context, with the real Supervisor's build arguments and
//! labels, and the engine's build steps become the job's progress and stage.
//!
//! The engine builds directly (no builder container): the result is the same image, and the
//! supervisor does not have to hand the engine's socket to anything.

use crate::errors;
use addon_config::{AddonConfig, BuildConfig};
use bollard::query_parameters::{BuildImageOptionsBuilder, RemoveImageOptionsBuilder};
use docker::{DockerManager, LABEL_MANAGED};
use futures_util::StreamExt;
use jobs::Job;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The base image when `build.yaml` names none, as the newest real Supervisor uses.
const DEFAULT_BASE: &str = "ghcr.io/home-assistant/base:latest";

/// What to build and how.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildPlan {
    /// The add-on folder: the build context.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context.
    pub dockerfile: String,
    /// The image name, without tag.
    pub image: String,
    /// The tag: the add-on version.
    pub version: String,
    pub base: Option<String>,
    pub args: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

impl BuildPlan {
    pub fn tag(&self) -> String {
        format!("{}:{}", self.image, self.version)
    }
}

/// Plans the build of `config` (in `dir`) for `arch` as `image:<version>`.
pub fn plan(slug: &str, dir: &Path, config: &AddonConfig, arch: &str, image: &str) -> Result<BuildPlan, base::Error> {
    let dockerfile = [format!("Dockerfile.{arch}"), "Dockerfile".to_owned()]
        .into_iter()
        .find(|name| dir.join(name).is_file())
        .ok_or_else(|| errors::dockerfile_missing(slug))?;
    let build = match BuildConfig::load(dir) {
        Ok(build) => build,
        Err(e) => {
            tracing::warn!(addon = slug, "Error parsing {} build config ({e}), using defaults", dir.display());
            Some(BuildConfig::default())
        }
    };
    if build.is_some() {
        tracing::info!(
            addon = slug,
            "App uses build.yaml which is deprecated. Move build parameters into the Dockerfile directly."
        );
    }
    let base = match &build {
        None => None,
        Some(build) => match build.base_image(arch) {
            Some(base) => Some(base),
            None if build.build_from.is_empty() => Some(DEFAULT_BASE.to_owned()),
            None => {
                return Err(errors::build_arch_unsupported(
                    slug,
                    &build.build_from.keys().cloned().collect::<Vec<_>>(),
                    &[arch],
                ))
            }
        },
    };
    let mut args = HashMap::from([
        ("BUILD_VERSION".to_owned(), config.version.clone()),
        ("BUILD_ARCH".to_owned(), arch.to_owned()),
    ]);
    let mut labels = HashMap::from([
        ("io.hass.version".to_owned(), config.version.clone()),
        ("io.hass.arch".to_owned(), arch.to_owned()),
        ("io.hass.type".to_owned(), "addon".to_owned()),
    ]);
    if let Some(build) = &build {
        args.extend(build.args.clone());
        labels.extend(build.labels.clone());
    }
    if let Some(base) = &base {
        args.insert("BUILD_FROM".to_owned(), base.clone());
    }
    let name = config.name.replace('\'', "");
    let description = config.description.replace('\'', "");
    if !name.is_empty() {
        labels.insert("io.hass.name".to_owned(), name);
    }
    if !description.is_empty() {
        labels.insert("io.hass.description".to_owned(), description);
    }
    if let Some(url) = &config.url {
        labels.insert("io.hass.url".to_owned(), url.clone());
    }
    labels.insert(LABEL_MANAGED.to_owned(), String::new());
    Ok(BuildPlan {
        context: dir.to_owned(),
        dockerfile,
        image: image.to_owned(),
        version: config.version.clone(),
        base,
        args,
        labels,
    })
}

/// The Dockerfile the engine builds: the add-on's, plus one `LABEL` instruction with every
/// label. Passing labels to the engine's builder instead costs a build step per label.
const GENERATED_DOCKERFILE: &str = ".supervisor-build.Dockerfile";

/// The build context: the add-on folder as a tar archive, plus the generated Dockerfile.
/// Symbolic links are archived as links, never followed, so a repository cannot pull host files
/// into an image.
pub fn context_tar(dir: &Path, dockerfile: &str, labels: &HashMap<String, String>) -> std::io::Result<Vec<u8>> {
    let path = dir.join(dockerfile);
    // Read only a regular file: a Dockerfile that links elsewhere would copy a host file.
    if !std::fs::symlink_metadata(&path)?.is_file() {
        return Err(std::io::Error::other(format!("{dockerfile} is not a regular file")));
    }
    let original = std::fs::read_to_string(path)?;
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}={}", serde_json::Value::from(k.as_str()), serde_json::Value::from(v.as_str())))
        .collect();
    pairs.sort();
    let generated = format!("{}\nLABEL {}\n", original.trim_end(), pairs.join(" "));
    let mut archive = tar::Builder::new(Vec::new());
    archive.follow_symlinks(false);
    archive.mode(tar::HeaderMode::Deterministic);
    archive.append_dir_all(".", dir)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(generated.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive.append_data(&mut header, GENERATED_DOCKERFILE, generated.as_bytes())?;
    archive.into_inner()
}

/// `Step 3/7 : RUN ...` → (3, 7).
fn step(line: &str) -> Option<(u32, u32)> {
    let rest = line.trim_start().strip_prefix("Step ")?;
    let (numbers, _) = rest.split_once(' ')?;
    let (n, m) = numbers.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

/// ` ---> 3f8a1b2c4d5e` → the id of the layer a step produced (not `Running in`/`Using cache`).
fn layer(line: &str) -> Option<&str> {
    let id = line.trim().strip_prefix("---> ")?.trim();
    (id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// How often a build is tried when the engine removed a cached layer it was using.
const BUILD_ATTEMPTS: u32 = 3;

/// Whether a build failed because a layer it used from the cache was removed meanwhile (the
/// engine's classic builder shares cached layers between images, and removing one image, or a
/// prune, can take them from under a build), which building again gets past.
fn vanished(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    ["unknown parent image", "failed to get digest", "no such image", "layer does not exist"]
        .iter()
        .any(|sign| error.contains(sign))
}

/// One run of the engine's build; answers how it ended and the last layer it made.
async fn build_once(
    client: &bollard::Docker,
    options: bollard::query_parameters::BuildImageOptions,
    credentials: Option<HashMap<String, bollard::auth::DockerCredentials>>,
    tar: bytes::Bytes,
    slug: &str,
    tag: &str,
    job: &Job,
) -> (Result<(), String>, Option<String>) {
    let mut stream = client.build_image(options, credentials, Some(bollard::body_full(tar)));
    let mut last_layer: Option<String> = None;
    let outcome = loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = job.cancelled() => break Err(format!("build of {tag} was cancelled")),
        };
        let Some(item) = item else { break Ok(()) };
        match item {
            Ok(info) => {
                for line in info.stream.as_deref().unwrap_or_default().lines().filter(|l| !l.trim().is_empty()) {
                    tracing::debug!(addon = slug, "build: {line}");
                    if let Some((n, m)) = step(line) {
                        job.set_stage(&format!("build step {n}/{m}"));
                        job.set_progress(100.0 * f64::from(n.saturating_sub(1)) / f64::from(m.max(1)));
                    }
                    if let Some(id) = layer(line) {
                        last_layer = Some(id.to_owned());
                    }
                }
            }
            Err(e) => break Err(e.to_string()),
        }
    };
    (outcome, last_layer)
}

/// Builds `plan` on the engine, reporting the steps on `job`. On failure the layers the build
/// made are removed again, so a failed install leaves no image behind.
pub async fn build(docker: &DockerManager, slug: &str, plan: BuildPlan, job: &Job) -> Result<(), base::Error> {
    let client = docker.client()?;
    job.set_stage("build");
    let (context, dockerfile, labels) = (plan.context.clone(), plan.dockerfile.clone(), plan.labels.clone());
    let tar = tokio::task::spawn_blocking(move || context_tar(&context, &dockerfile, &labels))
        .await
        .map_err(|e| errors::build_failed(slug, e))?
        .map_err(|e| errors::build_failed(slug, format!("can't read {}: {e}", plan.context.display())))
        .map(bytes::Bytes::from)?;
    let credentials = plan
        .base
        .as_deref()
        .and_then(|base| docker.credentials_for(base))
        .map(|c| HashMap::from([(c.serveraddress.clone().unwrap_or_default(), c)]));
    let tag = plan.tag();
    let options = BuildImageOptionsBuilder::default()
        .dockerfile(GENERATED_DOCKERFILE)
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&plan.args)
        .build();
    tracing::info!(addon = slug, %tag, "building image");
    let mut attempt = 1;
    let (outcome, last_layer) = loop {
        let (outcome, last_layer) =
            build_once(&client, options.clone(), credentials.clone(), tar.clone(), slug, &tag, job).await;
        match outcome {
            Err(e) if attempt < BUILD_ATTEMPTS && vanished(&e) => {
                tracing::warn!(addon = slug, %tag, "a layer the build used was removed meanwhile, building again: {e}");
                attempt += 1;
            }
            outcome => break (outcome, last_layer),
        }
    };
    match outcome {
        Ok(()) if docker.image_exists(&plan.image, &plan.version).await? => {
            tracing::info!(addon = slug, %tag, "built image");
            Ok(())
        }
        Ok(()) => Err(errors::build_failed(slug, format!("the engine built no image {tag}"))),
        Err(e) => {
            if let Some(layer) = last_layer {
                // Untagged parents of the layer go with it; a layer another image uses stays.
                let options = RemoveImageOptionsBuilder::default().noprune(false).build();
                let _ = client.remove_image(&layer, Some(options), None).await;
            }
            Err(errors::build_failed(slug, format!("Docker build failed for {tag}: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> AddonConfig {
        AddonConfig::from_value(json!({
            "name": "It's mine", "version": "1.2.3", "slug": "mine", "description": "Does 'things'",
            "arch": ["amd64"], "url": "https://example.com/mine"
        }))
        .unwrap()
    }

    #[test]
    fn a_layer_removed_under_the_build_is_told_from_a_failing_dockerfile() {
        for engine_said in [
            "failed to export image: failed to set parent sha256:490e: unknown parent image ID sha256:490e",
            "failed to get digest sha256:b02c: open /var/lib/docker/image/overlay2/imagedb/content/sha256/b02c: no such file",
            "No such image: sha256:98a17f1bd58b",
        ] {
            assert!(vanished(engine_said), "{engine_said}");
        }
        assert!(!vanished("The command '/bin/sh -c false' returned a non-zero code: 1"));
        assert!(!vanished("pull access denied for nothing, repository does not exist"));
    }

    #[test]
    fn plans_args_and_labels_without_build_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            plan("local_mine", dir.path(), &config(), "amd64", "t").unwrap_err().error_key.as_deref(),
            Some("addon_build_dockerfile_missing_error")
        );
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let plan = plan("local_mine", dir.path(), &config(), "amd64", "local/amd64-addon-mine").unwrap();
        assert_eq!(plan.tag(), "local/amd64-addon-mine:1.2.3");
        assert_eq!(plan.dockerfile, "Dockerfile");
        assert_eq!(plan.base, None, "no build file: the Dockerfile names its base itself");
        assert!(!plan.args.contains_key("BUILD_FROM"));
        assert_eq!(plan.args["BUILD_VERSION"], "1.2.3");
        assert_eq!(plan.args["BUILD_ARCH"], "amd64");
        assert_eq!(plan.labels["io.hass.version"], "1.2.3");
        assert_eq!(plan.labels["io.hass.arch"], "amd64");
        assert_eq!(plan.labels["io.hass.type"], "addon");
        assert_eq!(plan.labels["io.hass.name"], "Its mine");
        assert_eq!(plan.labels["io.hass.description"], "Does things");
        assert_eq!(plan.labels["io.hass.url"], "https://example.com/mine");
        assert!(plan.labels.contains_key(LABEL_MANAGED));
    }

    #[test]
    fn build_file_sets_base_and_arch_dockerfile_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("Dockerfile.amd64"), "FROM scratch\n").unwrap();
        std::fs::write(
            dir.path().join("build.yaml"),
            "build_from:\n  amd64: supervisor-test-base:latest\nargs:\n  EXTRA: one\nlabels:\n  org.example: x\n",
        )
        .unwrap();
        let plan = plan("local_mine", dir.path(), &config(), "amd64", "t").unwrap();
        assert_eq!(plan.dockerfile, "Dockerfile.amd64");
        assert_eq!(plan.args["BUILD_FROM"], "supervisor-test-base:latest");
        assert_eq!(plan.args["EXTRA"], "one");
        assert_eq!(plan.labels["org.example"], "x");
        let other = super::plan("local_mine", dir.path(), &config(), "aarch64", "t").unwrap_err();
        assert_eq!(other.error_key.as_deref(), Some("addon_build_architecture_not_supported_error"));
    }

    #[test]
    fn context_keeps_symlinks_as_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("leak")).unwrap();
        let labels = HashMap::from([("io.hass.name".to_owned(), "Say \"hi\"".to_owned())]);
        let tar = context_tar(dir.path(), "Dockerfile", &labels).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        let mut generated = String::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            if path == GENERATED_DOCKERFILE {
                std::io::Read::read_to_string(&mut entry, &mut generated).unwrap();
            }
            seen.push((path, entry.header().entry_type()));
        }
        assert_eq!(generated, "FROM scratch\nLABEL \"io.hass.name\"=\"Say \\\"hi\\\"\"\n");
        assert!(seen.iter().any(|(p, t)| p.ends_with("leak") && *t == tar::EntryType::Symlink), "{seen:?}");
        assert!(seen.iter().any(|(p, _)| p.ends_with("Dockerfile")));
    }

    #[test]
    fn a_linked_dockerfile_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("Dockerfile")).unwrap();
        assert!(context_tar(dir.path(), "Dockerfile", &HashMap::new()).is_err());
    }

    #[test]
    fn parses_engine_build_lines() {
        assert_eq!(step("Step 3/7 : RUN echo"), Some((3, 7)));
        assert_eq!(step("Removing intermediate container"), None);
        assert_eq!(layer(" ---> 3f8a1b2c4d5e\n"), Some("3f8a1b2c4d5e"));
        assert_eq!(layer(" ---> Running in 3f8a1b2c4d5e"), None);
        assert_eq!(layer(" ---> Using cache"), None);
    }
}
