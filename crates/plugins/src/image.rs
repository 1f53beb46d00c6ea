//! A plugin's image on the engine: kept when present, else pulled (`images.<plugin>` of the
//! version manifest at the plugin's version), else, where no registry answers, made from the
//! recipe of the supervisor's install (`recipe`) and imported as a `FROM scratch` image.

use crate::recipe::{self, Host};
use crate::Plugin;
use base::Error;
use bollard::query_parameters::CreateImageOptionsBuilder;
use docker::{DockerManager, LABEL_MANAGED};
use futures_util::{StreamExt, TryStreamExt};
use jobs::Job;
use std::path::{Path, PathBuf};

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where images are made from when they cannot be pulled.
pub struct Source<'a> {
    /// The plugins folder of the install (`plugins/`).
    pub plugins: &'a Path,
    /// The folder of the supervisor's executable and the plugin programs.
    pub binaries: &'a Path,
    /// Scratch space for the archive.
    pub tmp: &'a Path,
}

/// Makes sure `image:version` is on the engine for `plugin`, reporting on `job`.
pub async fn fetch(
    docker: &DockerManager,
    source: &Source<'_>,
    plugin: Plugin,
    image: &str,
    version: &str,
    job: &Job,
) -> Result<(), Error> {
    if docker.image_exists(image, version).await? {
        return Ok(());
    }
    let pulled = docker.pull(image, version, job).await;
    let Err(pull) = pulled else { return Ok(()) };
    tracing::info!(plugin = %plugin, "{}; making the image from the install's recipe", pull.message);
    build(docker, source, plugin, image, version, job).await.map_err(|build| {
        Error::internal(format!("{}; nor made from the install's recipe: {build}", pull.message))
            .with_key("plugin_image_error")
    })
}

/// Makes `image:version` from the recipe of `plugin` and imports it.
async fn build(
    docker: &DockerManager,
    source: &Source<'_>,
    plugin: Plugin,
    image: &str,
    version: &str,
    job: &Job,
) -> Result<(), String> {
    job.set_stage("build");
    let plugins = source.plugins.to_owned();
    let binaries = source.binaries.to_owned();
    let archive = source.tmp.join(format!("plugin-{plugin}-{}.tar", base::random::hex_token(8)));
    let tar = archive.clone();
    let recipe = tokio::task::spawn_blocking(move || -> Result<recipe::Recipe, String> {
        let recipe = recipe::load(&plugins, plugin)?;
        let host = Host { libraries: &recipe::ldd, package_installed: &recipe::dpkg_installed };
        let layout = recipe::layout(plugin, &recipe, &plugins.join(plugin.slug()), &binaries, &host)?;
        let file = std::fs::File::create(&tar).map_err(|e| format!("can't write {}: {e}", tar.display()))?;
        recipe::write_tar(&layout, std::io::BufWriter::new(file))
            .map_err(|e| format!("can't pack the image's files: {e}"))?;
        Ok(recipe)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|made| made);
    let result = match recipe {
        Ok(recipe) => import(docker, &archive, &recipe, plugin, image, version).await,
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&archive).await;
    result?;
    job.set_progress(100.0);
    tracing::info!(plugin = %plugin, "made the image {image}:{version} from the install's recipe");
    Ok(())
}

/// Imports the root file system in `archive` as `image:version` with the recipe's entrypoint.
async fn import(
    docker: &DockerManager,
    archive: &PathBuf,
    recipe: &recipe::Recipe,
    plugin: Plugin,
    image: &str,
    version: &str,
) -> Result<(), String> {
    let client = docker.client().map_err(|e| e.message)?;
    let file = tokio::fs::File::open(archive).await.map_err(|e| format!("can't read {}: {e}", archive.display()))?;
    let body = tokio_util::io::ReaderStream::new(file).map_ok(bytes::Bytes::from);
    let entrypoint = serde_json::to_string(&recipe.entrypoint).expect("strings serialize");
    let changes = vec![
        format!("ENTRYPOINT {entrypoint}"),
        format!("ENV PATH={PATH}"),
        format!("LABEL {LABEL_MANAGED}=\"\" io.hass.type=\"{plugin}\" io.hass.version=\"{version}\""),
    ];
    let options = CreateImageOptionsBuilder::default().from_src("-").repo(image).tag(version).changes(changes).build();
    let mut progress = client.create_image(Some(options), Some(bollard::body_try_stream(body)), None);
    while let Some(item) = progress.next().await {
        item.map_err(|e| format!("the engine refused the image: {e}"))?;
    }
    match docker.image_exists(image, version).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("the engine made no image {image}:{version}")),
        Err(e) => Err(e.message),
    }
}
