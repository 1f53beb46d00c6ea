//! Manifests as the registry serves them: an image's (Docker schema 2 or OCI), or a list of
//! images for several platforms (a Docker manifest list or an OCI index), told apart by the
//! answer's content type, else by the body's `mediaType`, else by its shape (OCI lets both
//! leave `mediaType` out).

use serde::Deserialize;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The `Accept` header of every manifest request: without it the registry would answer with
/// the old schema 1 (or refuse a list).
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// What a manifest points at.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Descriptor {
    pub digest: String,
    #[serde(default)]
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
}

/// One image of a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entry {
    pub digest: String,
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image { config: Descriptor, layers: Vec<Descriptor> },
    List(Vec<Entry>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<Entry>>,
}

/// Reads a manifest; `content_type` is the answer's header, parameters and all.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Manifest, String> {
    let raw: Raw = serde_json::from_slice(body).map_err(|error| format!("not a manifest: {error}"))?;
    let header = content_type.map(|value| value.split(';').next().unwrap_or_default().trim());
    // A registry that does not know the type answers a generic one; the body knows better.
    let declared = header.filter(|value| is_known(value)).or(raw.media_type.as_deref());
    let is_list = match declared {
        Some(DOCKER_LIST | OCI_INDEX) => true,
        Some(DOCKER_MANIFEST | OCI_MANIFEST) => false,
        Some(other) => return Err(format!("unsupported manifest type {other}")),
        None => raw.manifests.is_some(),
    };
    if is_list {
        let entries = raw.manifests.ok_or("a manifest list without manifests")?;
        return Ok(Manifest::List(entries));
    }
    let config = raw.config.ok_or("an image manifest without config")?;
    Ok(Manifest::Image { config, layers: raw.layers })
}

fn is_known(media_type: &str) -> bool {
    [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX].contains(&media_type)
}

/// The image of a list that stands for the tag: linux/amd64, else the first that is for a real
/// platform (builders add attestations as `unknown/unknown` entries), else the first.
pub fn pick(entries: &[Entry]) -> Option<&Entry> {
    let is = |entry: &&Entry, os: &str, arch: &str| {
        entry.platform.as_ref().is_some_and(|platform| platform.os == os && platform.architecture == arch)
    };
    entries
        .iter()
        .find(|entry| is(entry, "linux", "amd64"))
        .or_else(|| entries.iter().find(|entry| !is(entry, "unknown", "unknown")))
        .or_else(|| entries.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
        "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"sha256:c0"},
        "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":977,"digest":"sha256:l1"},
                  {"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":50,"digest":"sha256:l2"}]}"#;

    fn descriptor(digest: &str, size: u64) -> Descriptor {
        Descriptor { digest: digest.to_owned(), size }
    }

    fn entry(digest: &str, os: &str, architecture: &str) -> Entry {
        let platform = Platform { architecture: architecture.to_owned(), os: os.to_owned() };
        Entry { digest: digest.to_owned(), platform: Some(platform) }
    }

    #[test]
    fn a_docker_image_manifest_gives_its_config_and_layers() {
        let parsed = parse(Some(DOCKER_MANIFEST), IMAGE.as_bytes()).unwrap();
        let layers = vec![descriptor("sha256:l1", 977), descriptor("sha256:l2", 50)];
        assert_eq!(parsed, Manifest::Image { config: descriptor("sha256:c0", 1469), layers });
    }

    #[test]
    fn an_oci_manifest_without_media_type_is_known_by_header_or_shape() {
        let body = r#"{"schemaVersion":2,"config":{"digest":"sha256:c","size":3},"layers":[]}"#;
        let expected = Manifest::Image { config: descriptor("sha256:c", 3), layers: vec![] };
        assert_eq!(
            parse(Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"), body.as_bytes()).unwrap(),
            expected
        );
        assert_eq!(parse(None, body.as_bytes()).unwrap(), expected);
        assert_eq!(parse(Some("application/json"), body.as_bytes()).unwrap(), expected);
    }

    #[test]
    fn lists_and_indexes_give_their_entries() {
        let list = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests":[{"digest":"sha256:arm","size":1,"platform":{"architecture":"arm64","os":"linux"}},
                         {"digest":"sha256:amd","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let expected =
            Manifest::List(vec![entry("sha256:arm", "linux", "arm64"), entry("sha256:amd", "linux", "amd64")]);
        assert_eq!(parse(Some(DOCKER_LIST), list.as_bytes()).unwrap(), expected);
        let index = r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:x","size":1}]}"#;
        let expected = Manifest::List(vec![Entry { digest: "sha256:x".to_owned(), platform: None }]);
        assert_eq!(parse(Some(OCI_INDEX), index.as_bytes()).unwrap(), expected);
        assert_eq!(parse(None, index.as_bytes()).unwrap(), expected);
    }

    #[test]
    fn other_types_and_broken_bodies_are_refused() {
        let schema1 = r#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#;
        assert!(parse(None, schema1.as_bytes()).unwrap_err().contains("unsupported"));
        assert!(parse(Some(DOCKER_MANIFEST), b"{}").unwrap_err().contains("without config"));
        assert!(parse(Some(OCI_INDEX), b"{}").unwrap_err().contains("without manifests"));
        assert!(parse(Some(DOCKER_MANIFEST), b"<html>").unwrap_err().contains("not a manifest"));
    }

    #[test]
    fn the_pick_prefers_linux_amd64_then_a_real_platform() {
        let arm = entry("sha256:arm", "linux", "arm64");
        let amd = entry("sha256:amd", "linux", "amd64");
        let attestation = entry("sha256:att", "unknown", "unknown");
        assert_eq!(pick(&[arm.clone(), amd.clone()]), Some(&amd));
        assert_eq!(pick(&[attestation.clone(), arm.clone()]), Some(&arm));
        assert_eq!(pick(std::slice::from_ref(&attestation)), Some(&attestation));
        assert_eq!(pick(&[]), None);
    }
}
