//! A client of the Docker Registry HTTP API v2 (Debian's `docker-registry`, the CNCF
//! distribution) over plain HTTP with an optional basic-auth login: the fleet controller keeps
//! its templates there as images, one version per tag. It lists repositories and tags, reads an
//! image's digest, size, architecture and creation time from its manifest and config blob, and
//! deletes a tag's manifest. Repository names and tags come from API users, so each is checked
//! against the registry's grammar before it goes into a URL.

mod manifest;
mod names;

pub use names::{check_repository, check_tag};

use chrono::{DateTime, Utc};
use manifest::Manifest;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LINK};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;

/// How many names one page of the catalog or a tag list asks for, unless changed.
const PAGE_SIZE: usize = 100;
/// Everything this client fetches is small (lists, manifests, config blobs), never layers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DIGEST_HEADER: &str = "docker-content-digest";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A repository name, tag or URL that the registry's grammar does not allow; nothing was sent.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid { what: &'static str, value: String, reason: String },
    #[error("the registry is unreachable at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// An answer other than the one expected; `code` and `message` are the registry's first
    /// error (`NAME_UNKNOWN`, `UNAUTHORIZED`, `UNSUPPORTED`...) when it gave one.
    #[error("{url} answered {status}{}", describe(.code, .message))]
    Status { status: u16, url: String, code: Option<String>, message: Option<String> },
    #[error("unreadable answer from {url}: {message}")]
    Decode { url: String, message: String },
}

fn describe(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(": {code} ({message})"),
        (Some(text), None) | (None, Some(text)) => format!(": {text}"),
        (None, None) => String::new(),
    }
}

impl Error {
    fn invalid(what: &'static str, value: &str, reason: &str) -> Error {
        Error::Invalid { what, value: value.to_owned(), reason: reason.to_owned() }
    }

    fn decode(url: &Url, message: impl ToString) -> Error {
        Error::Decode { url: url.to_string(), message: message.to_string() }
    }
}

/// One image as a tag names it. For a tag that names a list of images (several platforms), the
/// figures are those of the linux/amd64 image, else the first; `digest` is still the tag's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The digest of the tag's manifest: `<host>/<repository>@<digest>` pulls exactly this.
    pub digest: String,
    /// The config blob's and the (compressed) layers' sizes together: what a pull downloads.
    pub size: u64,
    pub architecture: String,
    pub created: Option<DateTime<Utc>>,
    /// The layers' digests, base first.
    pub layers: Vec<String>,
    pub config_digest: String,
}

/// A registry at one address, with its login if it wants one.
#[derive(Debug, Clone)]
pub struct Registry {
    client: reqwest::Client,
    base: Url,
    login: Option<(String, String)>,
    page_size: usize,
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TagList {
    /// `null` once every tag of the repository has been deleted.
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    architecture: String,
    created: Option<String>,
}

#[derive(Deserialize)]
struct Errors {
    errors: Vec<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

impl Registry {
    /// A client of the registry at `base_url`, its scheme, host and port only
    /// (`http://127.0.0.1:5000`). Nothing is sent yet.
    pub fn new(base_url: &str) -> Result<Registry, Error> {
        let invalid = |reason: &str| Err(Error::invalid("registry URL", base_url, reason));
        let base = match Url::parse(base_url) {
            Ok(base) => base,
            Err(error) => return invalid(&error.to_string()),
        };
        if !matches!(base.scheme(), "http" | "https") {
            return invalid("it is not http:// or https://");
        }
        let extra = base.path() != "/" || base.query().is_some() || base.fragment().is_some();
        if base.host_str().is_none() || !base.username().is_empty() || extra {
            return invalid("give the scheme, host and port only; the login with with_basic_auth");
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| Error::Unreachable { url: base_url.to_owned(), message: error.to_string() })?;
        Ok(Registry { client, base, login: None, page_size: PAGE_SIZE })
    }

    /// Sends this login with every request (the registry's `htpasswd` authentication).
    pub fn with_basic_auth(self, user: &str, password: &str) -> Registry {
        Registry { login: Some((user.to_owned(), password.to_owned())), ..self }
    }

    /// How many names each request for the catalog or a tag list asks for (the registry may
    /// answer fewer); the pages are followed to the end either way.
    pub fn with_page_size(self, page_size: usize) -> Registry {
        Registry { page_size: page_size.max(1), ..self }
    }

    /// `host:port` as image references name this registry (`127.0.0.1:5000/templates/web:1`).
    pub fn host(&self) -> String {
        let host = self.base.host_str().unwrap_or_default();
        match self.base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// Whether the registry answers the API's version check, with this login.
    pub async fn ping(&self) -> Result<(), Error> {
        let url = self.url("/v2/");
        let response = self.send(Method::GET, &url, None).await?;
        expect_success(response, &url).await.map(drop)
    }

    /// Every repository of the registry, by name.
    pub async fn repositories(&self) -> Result<Vec<String>, Error> {
        let first = self.url(&format!("/v2/_catalog?n={}", self.page_size));
        self.paged(first, |page: Catalog| page.repositories.unwrap_or_default()).await
    }

    /// The tags of `repository`, by name; none when the registry does not know it.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, Error> {
        names::check_repository(repository)?;
        let first = self.url(&format!("/v2/{repository}/tags/list?n={}", self.page_size));
        match self.paged(first, |page: TagList| page.tags.unwrap_or_default()).await {
            Err(Error::Status { status: 404, .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// What `repository:tag` is; `None` when the registry knows no such repository or tag.
    pub async fn image(&self, repository: &str, tag: &str) -> Result<Option<ImageInfo>, Error> {
        names::check_repository(repository)?;
        names::check_tag(tag)?;
        let Some((digest, manifest)) = self.manifest(repository, tag).await? else {
            return Ok(None);
        };
        let (config, layers) = match manifest {
            Manifest::Image { config, layers } => (config, layers),
            Manifest::List(entries) => self.image_of_list(repository, &entries).await?,
        };
        names::check_digest(&config.digest)?;
        let url = self.url(&format!("/v2/{repository}/blobs/{}", config.digest));
        let blob: Config = self.json(&url).await?;
        let created =
            blob.created.and_then(|text| DateTime::parse_from_rfc3339(&text).ok()).map(|time| time.with_timezone(&Utc));
        Ok(Some(ImageInfo {
            digest,
            size: config.size + layers.iter().map(|layer| layer.size).sum::<u64>(),
            architecture: blob.architecture,
            created,
            layers: layers.into_iter().map(|layer| layer.digest).collect(),
            config_digest: config.digest,
        }))
    }

    /// Deletes the manifest `repository:tag` names, found by its digest; false when there was
    /// none. The registry deletes manifests, not tags: every other tag of the same digest goes
    /// with it. Its blobs stay until the registry's garbage collection. A registry without
    /// `storage.delete.enabled` answers 405 `UNSUPPORTED` ([`Error::Status`]).
    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool, Error> {
        names::check_repository(repository)?;
        names::check_tag(tag)?;
        let url = self.url(&format!("/v2/{repository}/manifests/{tag}"));
        let response = self.send(Method::HEAD, &url, Some(manifest::ACCEPT)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        let response = expect_success(response, &url).await?;
        let digest = digest_of(response.headers()).ok_or_else(|| Error::decode(&url, "no Docker-Content-Digest"))?;
        names::check_digest(&digest)?;
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let response = self.send(Method::DELETE, &url, None).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        expect_success(response, &url).await.map(|_| true)
    }

    /// The image a list stands for (see [`manifest::pick`]): its config and layers.
    async fn image_of_list(
        &self,
        repository: &str,
        entries: &[manifest::Entry],
    ) -> Result<(manifest::Descriptor, Vec<manifest::Descriptor>), Error> {
        let list_url = self.url(&format!("/v2/{repository}/manifests"));
        let entry = manifest::pick(entries).ok_or_else(|| Error::decode(&list_url, "an empty manifest list"))?;
        names::check_digest(&entry.digest)?;
        match self.manifest(repository, &entry.digest).await? {
            Some((_, Manifest::Image { config, layers })) => Ok((config, layers)),
            Some((_, Manifest::List(_))) => Err(Error::decode(&list_url, "a manifest list names another list")),
            None => Err(Error::decode(&list_url, format!("the list names {} which is missing", entry.digest))),
        }
    }

    /// The manifest `reference` (a checked tag or digest) names, with its digest; `None` on 404.
    async fn manifest(&self, repository: &str, reference: &str) -> Result<Option<(String, Manifest)>, Error> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let response = self.send(Method::GET, &url, Some(manifest::ACCEPT)).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = expect_success(response, &url).await?;
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).map(str::to_owned);
        // A digest names itself; for a tag the registry says which one it served.
        let digest = digest_of(response.headers())
            .or_else(|| reference.contains(':').then(|| reference.to_owned()))
            .ok_or_else(|| Error::decode(&url, "no Docker-Content-Digest"))?;
        let body = response.bytes().await.map_err(|error| Error::decode(&url, error))?;
        let manifest = manifest::parse(content_type.as_deref(), &body).map_err(|error| Error::decode(&url, error))?;
        Ok(Some((digest, manifest)))
    }

    /// Every page of a list, following each answer's `Link: <...>; rel="next"`.
    async fn paged<P: DeserializeOwned>(
        &self,
        first: Url,
        items: impl Fn(P) -> Vec<String>,
    ) -> Result<Vec<String>, Error> {
        let mut all = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let response = expect_success(self.send(Method::GET, &url, None).await?, &url).await?;
            let link = next_link(response.headers());
            let page: P = response.json().await.map_err(|error| Error::decode(&url, error))?;
            let names = items(page);
            let progressed = !names.is_empty();
            all.extend(names);
            if let (Some(link), true) = (link, progressed) {
                next = Some(self.follow(&url, &link)?);
            }
        }
        // Registries before distribution 3 list tags unpaged in the storage's order.
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// The next page's address; only on this registry, where the login may go.
    fn follow(&self, current: &Url, link: &str) -> Result<Url, Error> {
        let next = self.base.join(link).map_err(|error| Error::decode(current, format!("Link {link:?}: {error}")))?;
        if next.origin() != self.base.origin() {
            return Err(Error::decode(current, format!("Link {link:?} leads to another server")));
        }
        Ok(next)
    }

    async fn json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, Error> {
        let response = expect_success(self.send(Method::GET, url, None).await?, url).await?;
        response.json().await.map_err(|error| Error::decode(url, error))
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("a checked path joins the base")
    }

    async fn send(&self, method: Method, url: &Url, accept: Option<&str>) -> Result<Response, Error> {
        let mut request: RequestBuilder = self.client.request(method, url.clone());
        if let Some((user, password)) = &self.login {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        request
            .send()
            .await
            .map_err(|error| Error::Unreachable { url: url.to_string(), message: base::error::with_causes(&error) })
    }
}

/// A success answer as it is; any other as [`Error::Status`] with the registry's error.
async fn expect_success(response: Response, url: &Url) -> Result<Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.bytes().await.unwrap_or_default();
    let first = serde_json::from_slice::<Errors>(&body).ok().and_then(|errors| errors.errors.into_iter().next());
    let (code, message) = first.map(|error| (error.code, error.message)).unwrap_or_default();
    Err(Error::Status { status: status.as_u16(), url: url.to_string(), code, message })
}

fn digest_of(headers: &HeaderMap) -> Option<String> {
    headers.get(DIGEST_HEADER).and_then(|value| value.to_str().ok()).map(|value| value.trim().to_owned())
}

/// The target of the `rel="next"` link among the `Link` headers, as written (often relative).
fn next_link(headers: &HeaderMap) -> Option<String> {
    let values = headers.get_all(LINK).iter().filter_map(|value| value.to_str().ok());
    values.flat_map(|value| value.split(',')).find_map(|link| {
        let (target, parameters) = link.split_once(';')?;
        let is_next = parameters.split(';').any(|parameter| {
            let parameter = parameter.trim().replace(' ', "");
            parameter == "rel=\"next\"" || parameter == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_base_url_is_scheme_host_and_port() {
        let registry = Registry::new("http://127.0.0.1:5000").unwrap();
        assert_eq!(registry.host(), "127.0.0.1:5000");
        assert_eq!(Registry::new("https://registry.example/").unwrap().host(), "registry.example");
        for bad in ["127.0.0.1:5000", "ftp://h", "http://h/v2/", "http://u:p@h", "http://h?x", "nonsense"] {
            let error = Registry::new(bad).expect_err(bad);
            assert!(matches!(error, Error::Invalid { what: "registry URL", .. }), "{error}");
        }
    }

    #[test]
    fn the_next_link_is_found_among_others() {
        let mut headers = HeaderMap::new();
        assert_eq!(next_link(&headers), None);
        headers.append(LINK, HeaderValue::from_static("</v2/_catalog?last=b&n=2>; rel=\"next\""));
        assert_eq!(next_link(&headers).as_deref(), Some("/v2/_catalog?last=b&n=2"));
        let mut headers = HeaderMap::new();
        headers.append(LINK, HeaderValue::from_static("<http://x/prev>; rel=\"prev\", <http://x/next>;rel=next"));
        assert_eq!(next_link(&headers).as_deref(), Some("http://x/next"));
    }

    #[test]
    fn links_stay_on_the_registry() {
        let registry = Registry::new("http://127.0.0.1:5000").unwrap();
        let here = registry.url("/v2/_catalog");
        assert_eq!(
            registry.follow(&here, "/v2/_catalog?last=a&n=1").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/_catalog?last=a&n=1"
        );
        assert!(matches!(registry.follow(&here, "http://elsewhere/v2/_catalog"), Err(Error::Decode { .. })));
    }

    /// Nothing listens on the address: an answer other than `Invalid` would mean a request.
    #[tokio::test]
    async fn bad_names_are_refused_before_any_request() {
        let registry = Registry::new("http://127.0.0.1:9").unwrap();
        let bad = [("Upper", "latest"), ("ok", "bad/tag"), ("../v2", "latest"), ("ok", "")];
        for (repository, tag) in bad {
            assert!(matches!(registry.image(repository, tag).await, Err(Error::Invalid { .. })), "{repository}:{tag}");
            assert!(matches!(registry.delete_tag(repository, tag).await, Err(Error::Invalid { .. })));
        }
        assert!(matches!(registry.tags("a//b").await, Err(Error::Invalid { what: "repository name", .. })));
        assert!(matches!(registry.ping().await, Err(Error::Unreachable { .. })));
    }
}
