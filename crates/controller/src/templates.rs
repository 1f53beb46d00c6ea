//! Templates are repositories of the fleet's registry, their versions the repository's tags.
//! A template's id is derived from its repository's name (a name-based UUID), so every replica
//! names it alike without storing anything; version numbers count the tags from the oldest image.

use crate::envelope::Fail;
use registry_client::{ImageInfo, Registry};
use uuid::Uuid;

/// The namespace of template ids: any fixed UUID, so the same name always gives the same id.
const NAMESPACE: Uuid = Uuid::from_u128(0x5a1c_7e0d_3b9f_4c21_9e6a_0f4d_2b8c_1a77);

/// A template's id.
pub fn id_of(repository: &str) -> String {
    Uuid::new_v5(&NAMESPACE, repository.as_bytes()).to_string()
}

/// One version of a template: a tag, with its image.
#[derive(Clone, Debug)]
pub struct Version {
    pub number: u32,
    pub tag: String,
    pub image: ImageInfo,
}

/// A template: its repository and its versions, oldest first.
#[derive(Clone, Debug)]
pub struct Template {
    pub id: String,
    pub repository: String,
    pub versions: Vec<Version>,
}

impl Template {
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// The version asked for by tag or by number; the latest when neither is given.
    pub fn version(&self, tag: Option<&str>, number: Option<u32>) -> Result<&Version, Fail> {
        let found = match (tag, number) {
            (Some(tag), _) => self.versions.iter().find(|version| version.tag == tag),
            (None, Some(number)) => self.versions.iter().find(|version| version.number == number),
            (None, None) => self.latest(),
        };
        found.ok_or_else(|| {
            Fail::not_found(match (tag, number) {
                (Some(tag), _) => format!("template {} has no tag {tag}", self.id),
                (None, Some(number)) => format!("template {} has no version {number}", self.id),
                (None, None) => format!("template {} has no version", self.id),
            })
        })
    }

    pub fn size(&self) -> u64 {
        self.versions.iter().map(|version| version.image.size).sum()
    }

    pub fn arch(&self) -> String {
        self.latest().map(|version| version.image.architecture.clone()).unwrap_or_default()
    }
}

fn unreachable(error: registry_client::Error) -> Fail {
    Fail::unavailable(format!("the template registry failed: {error}"))
}

/// The template of `repository`, with every version.
pub async fn read(registry: &Registry, repository: &str) -> Result<Template, Fail> {
    let mut versions = Vec::new();
    for tag in registry.tags(repository).await.map_err(unreachable)? {
        if let Some(image) = registry.image(repository, &tag).await.map_err(unreachable)? {
            versions.push(Version { number: 0, tag, image });
        }
    }
    versions.sort_by(|a, b| (a.image.created, &a.tag).cmp(&(b.image.created, &b.tag)));
    for (number, version) in versions.iter_mut().enumerate() {
        version.number = number as u32;
    }
    Ok(Template { id: id_of(repository), repository: repository.to_string(), versions })
}

/// Every template of the registry.
pub async fn list(registry: &Registry) -> Result<Vec<Template>, Fail> {
    let mut templates = Vec::new();
    for repository in registry.repositories().await.map_err(unreachable)? {
        let template = read(registry, &repository).await?;
        if !template.versions.is_empty() {
            templates.push(template);
        }
    }
    Ok(templates)
}

/// The template of id `id`.
pub async fn find(registry: &Registry, id: &str) -> Result<Template, Fail> {
    for repository in registry.repositories().await.map_err(unreachable)? {
        if id_of(&repository) == id {
            let template = read(registry, &repository).await?;
            if !template.versions.is_empty() {
                return Ok(template);
            }
        }
    }
    Err(Fail::not_found(format!("no template {id} in the registry")))
}

/// Deletes every version newer than `keep` (a version number), newest first.
pub async fn delete_after(registry: &Registry, template: &Template, keep: Option<u32>) -> Result<usize, Fail> {
    let mut deleted = 0;
    for version in template.versions.iter().rev() {
        if keep.is_some_and(|keep| version.number <= keep) {
            break;
        }
        registry.delete_tag(&template.repository, &version.tag).await.map_err(unreachable)?;
        deleted += 1;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_templates_id_is_its_names_and_only_its() {
        assert_eq!(super::id_of("ubuntu"), super::id_of("ubuntu"));
        assert_ne!(super::id_of("ubuntu"), super::id_of("debian"));
        assert_eq!(super::id_of("ubuntu").len(), 36);
    }
}
