//! What a repository is: its kind, its identity (slug and folder, both derived from the source
//! string the user added) and the source-string rules the real Supervisor applies.

use base::{DataDir, Error};
use regex::Regex;
use serde::Serialize;
use sha1::{Digest, Sha1};
use std::path::PathBuf;
use std::sync::LazyLock;

/// Where a repository's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepositoryKind {
    /// The official add-on repository: a clone of [`URL_CORE_ADDONS`] in `<data>/addons/core`,
    /// or a local folder given at start (tests, machines without the internet).
    Core,
    /// `<data>/addons/local`, where users drop their own add-ons.
    Local,
    /// A git repository cloned into `<data>/addons/git/<hash>`.
    Git,
}

/// One repository as the store knows it after reading it.
#[derive(Debug, Clone)]
pub struct Repository {
    /// `core`, `local` or the 8-hex hash of the source.
    pub slug: String,
    /// As added: `url[#branch]`, `core` or `local`.
    pub source: String,
    pub kind: RepositoryKind,
    /// From `repository.yaml` (built-in metadata for `core` and `local`); `unknown` without one.
    pub name: String,
    /// From `repository.yaml`, else the source.
    pub url: String,
    /// From `repository.yaml`, else `unknown`.
    pub maintainer: String,
    /// The folder the add-ons are read from.
    pub path: PathBuf,
    /// Why parts of the repository (or all of it) could not be read, one message each.
    pub errors: Vec<String>,
}

pub(crate) const CORE: &str = "core";
pub(crate) const LOCAL: &str = "local";

/// The official repository's URL; adding it means the built-in `core`, as upstream rewrites it.
pub(crate) const URL_CORE_ADDONS: &str = "https://github.com/home-assistant/addons";

/// The git repositories the real Supervisor ships besides `core` (`BuiltinRepository`): the
/// community add-ons, ESPHome and Music Assistant. Their slugs are the hashes of their URLs.
pub(crate) const BUILTIN_GIT: [&str; 3] = [
    "https://github.com/hassio-addons/repository",
    "https://github.com/esphome/home-assistant-addon",
    "https://github.com/music-assistant/home-assistant-addon",
];

/// `url[#branch]`, the real Supervisor's `RE_REPOSITORY` (a branch may hold `.` and `/`), matched
/// as Python matches it.
static RE_REPOSITORY: LazyLock<Regex> =
    LazyLock::new(|| addon_config::python_regex(r"^(?P<url>[^#]+)(?:#(?P<branch>[\w\-./]+))?$"));

/// The URLs git may clone from: http(s), git and ssh with a host, or an absolute file path.
/// Anything else (`ext::`, options, scp-like paths) is refused before git sees it.
static RE_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:https?|git|ssh)://[^\s/?#@]+(?:@[^\s/?#@]+)?(?:[/?][^\s]*)?|file://(?:localhost)?/[^\s]*)$")
        .expect("url regex")
});

/// A repository source string, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    /// As stored and shown: `core`, `local` or `url[#branch]`.
    pub text: String,
    pub kind: RepositoryKind,
    pub slug: String,
    /// For git: what is cloned, and the branch if one was named.
    pub url: String,
    pub branch: Option<String>,
    /// Shipped with the supervisor: never removed, always valid (as upstream's built-ins).
    pub builtin: bool,
}

/// Checks a repository string (`url[#branch]`, `core` or `local`) as adding it would, without
/// adding it: for callers that must validate a whole request before changing anything.
pub fn check_source(input: &str) -> Result<(), Error> {
    Source::parse(input).map(drop)
}

impl Source {
    /// Parses a source string, refusing what the real Supervisor refuses with its message.
    pub fn parse(input: &str) -> Result<Source, Error> {
        let input = input.trim();
        if input == CORE || input.trim_end_matches('/').eq_ignore_ascii_case(URL_CORE_ADDONS) {
            return Ok(Source::builtin(RepositoryKind::Core));
        }
        if input == LOCAL {
            return Ok(Source::builtin(RepositoryKind::Local));
        }
        let invalid = || Error::invalid("No valid repository format!");
        let captures = RE_REPOSITORY.captures(input).ok_or_else(invalid)?;
        let url = captures["url"].to_owned();
        if !RE_URL.is_match(&url) {
            return Err(invalid());
        }
        Ok(Source {
            text: input.to_owned(),
            kind: RepositoryKind::Git,
            slug: repository_hash(input),
            url,
            branch: captures.name("branch").map(|b| b.as_str().to_owned()),
            builtin: false,
        })
    }

    fn builtin(kind: RepositoryKind) -> Source {
        let name = if kind == RepositoryKind::Core { CORE } else { LOCAL };
        Source { text: name.to_owned(), kind, slug: name.to_owned(), url: String::new(), branch: None, builtin: true }
    }

    /// `core` read from a local folder.
    pub fn core() -> Source {
        Source::builtin(RepositoryKind::Core)
    }

    /// `core` cloned from the official repository.
    pub fn official_core() -> Source {
        Source { url: URL_CORE_ADDONS.to_owned(), ..Source::core() }
    }

    pub fn local() -> Source {
        Source::builtin(RepositoryKind::Local)
    }

    /// The shipped git repositories besides `core`.
    pub fn builtin_git() -> impl Iterator<Item = Source> {
        BUILTIN_GIT.into_iter().map(|url| Source { builtin: true, ..Source::parse(url).expect("a valid built-in URL") })
    }

    /// Whether the repository is a git clone (pulled, reset, checked by `git fsck`).
    pub fn is_git(&self) -> bool {
        !self.url.is_empty()
    }

    /// The folder this repository's files are in.
    pub fn path(&self, data: &DataDir, core: &std::path::Path) -> PathBuf {
        match self.kind {
            RepositoryKind::Core => core.to_path_buf(),
            RepositoryKind::Local => data.addons_local(),
            RepositoryKind::Git => data.addons_git().join(&self.slug),
        }
    }

    /// A repository record with the metadata the real Supervisor uses when it has none.
    pub fn repository(&self, path: PathBuf) -> Repository {
        let (name, url, maintainer) = match self.kind {
            // The built-ins carry fixed metadata, as upstream's built-in.json gives them.
            RepositoryKind::Core => ("Official apps", "https://home-assistant.io/addons", "Home Assistant"),
            RepositoryKind::Local => ("Local apps", "https://home-assistant.io/hassio", "you"),
            RepositoryKind::Git => ("unknown", self.text.as_str(), "unknown"),
        };
        Repository {
            slug: self.slug.clone(),
            source: self.text.clone(),
            kind: self.kind,
            name: name.to_owned(),
            url: url.to_owned(),
            maintainer: maintainer.to_owned(),
            path,
            errors: Vec::new(),
        }
    }
}

/// The slug (and folder name) of a git repository: the first 8 hex digits of the SHA-1 of the
/// lower-cased source, `#branch` included, as the real Supervisor computes it.
pub fn repository_hash(source: &str) -> String {
    let digest = Sha1::digest(source.to_lowercase().as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_real_supervisor() {
        assert_eq!(repository_hash("https://github.com/hassio-addons/repository"), "a0d7b954");
        assert_eq!(repository_hash("https://github.com/esphome/home-assistant-addon"), "5c53de3b");
        assert_eq!(repository_hash("https://github.com/music-assistant/home-assistant-addon"), "d5369777");
        assert_eq!(repository_hash("https://github.com/awesome-developer/awesome-repo"), "a474bbd1");
        // Lower-cased first: the case of the source does not make another repository.
        assert_eq!(repository_hash("https://GitHub.com/Hassio-Addons/Repository"), "a0d7b954");
        // The built-ins keep the real Supervisor's fixed slugs.
        let slugs: Vec<String> = Source::builtin_git().map(|s| s.slug).collect();
        assert_eq!(slugs, ["a0d7b954", "5c53de3b", "d5369777"]);
        assert!(Source::builtin_git().all(|s| s.builtin && s.is_git() && s.kind == RepositoryKind::Git));
        let core = Source::official_core();
        assert_eq!((core.slug.as_str(), core.url.as_str(), core.is_git()), ("core", URL_CORE_ADDONS, true));
        assert!(!Source::core().is_git() && !Source::local().is_git());
    }

    #[test]
    fn sources_parse_with_branch_and_builtins() {
        let git = Source::parse("https://example.com/addons#dev-1").unwrap();
        assert_eq!(git.kind, RepositoryKind::Git);
        assert_eq!(git.url, "https://example.com/addons");
        assert_eq!(git.branch.as_deref(), Some("dev-1"));
        assert_eq!(git.slug, repository_hash("https://example.com/addons#dev-1"));
        let release = Source::parse("https://example.com/addons#release/2026.1").unwrap();
        assert_eq!(release.branch.as_deref(), Some("release/2026.1"), "dots and slashes, as upstream allows");
        assert_eq!(Source::parse("local").unwrap().kind, RepositoryKind::Local);
        assert_eq!(Source::parse("core").unwrap().slug, "core");
        assert_eq!(Source::parse("https://github.com/home-assistant/addons/").unwrap().kind, RepositoryKind::Core);
        for good in ["http://host/x", "git://host/x.git", "ssh://git@host:22/x", "file:///tmp/repo", "https://h"] {
            assert_eq!(Source::parse(good).unwrap().kind, RepositoryKind::Git, "{good}");
        }
    }

    #[test]
    fn bad_sources_are_refused_with_the_real_message() {
        for bad in [
            "",
            "not a url",
            "ftp://host/x",
            "ext::sh -c touch% /tmp/pwned",
            "--upload-pack=touch /tmp/x",
            "git@github.com:a/b",
            "https://host/x#bad branch",
            "https://host/x#a#b",
            "file://relative/path",
            "https:///nohost",
        ] {
            let err = Source::parse(bad).unwrap_err();
            assert_eq!(err.message, "No valid repository format!", "{bad}");
            assert_eq!(err.kind, base::Kind::Invalid);
        }
    }
}
