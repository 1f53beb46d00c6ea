//! Where the supervisor is and how to authenticate to it.
//!
//! Like the real CLI, each setting comes from its flag, then its `SUPERVISOR_*` environment
//! variable, then the optional config file, then a default. The token has one more fallback: the
//! `cli_token` file the daemon writes into its data directory, so that `ha` run as root on the
//! host works without any setup.

use crate::output::{self, Level};
use anyhow::{bail, Context, Result};
use clap::builder::BoolishValueParser;
use clap::Args;
use reqwest::Url;
use serde::Deserialize;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The daemon's default listen address.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:4358";
/// The Supervisor's name on its network, which the real CLI, always run in a container next to
/// it, uses as its one default.
pub const CONTAINER_ENDPOINT: &str = "supervisor";
/// Where the daemon keeps its data, and so the `cli_token` file, unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/supervisor";

/// The flags every command accepts.
#[derive(Args, Debug)]
#[command(next_help_heading = "Global Options")]
pub struct GlobalArgs {
    /// Optional config file (default is $HOME/.homeassistant.yaml)
    #[arg(long, global = true, value_name = "FILE", env = "SUPERVISOR_CONFIG", hide_env_values = true)]
    config: Option<PathBuf>,

    /// Endpoint for Home Assistant Supervisor (default is 'supervisor' in an app container, else '127.0.0.1:4358')
    #[arg(long, global = true, value_name = "URL", env = "SUPERVISOR_ENDPOINT", hide_env_values = true)]
    endpoint: Option<String>,

    /// Log level: debug, info, warn, error (the daemon's names warning and critical too; defaults to warn)
    #[arg(long, global = true, value_name = "LEVEL", env = "SUPERVISOR_LOG_LEVEL", hide_env_values = true)]
    log_level: Option<String>,

    /// Home Assistant Supervisor API token [env: SUPERVISOR_API_TOKEN, SUPERVISOR_TOKEN]
    // The environment variables are read by hand: clap takes one per flag, and there are two.
    #[arg(long, global = true, value_name = "TOKEN")]
    api_token: Option<String>,

    /// Output raw JSON from the API
    #[arg(long, global = true, env = "SUPERVISOR_RAW_JSON", hide_env_values = true, value_parser = BoolishValueParser::new())]
    raw_json: bool,

    /// Disable the progress spinner
    // No environment variable: the real CLI only honours the flag.
    #[arg(long, global = true)]
    no_progress: bool,
}

/// The settings a command runs with, every source taken into account.
pub struct Settings {
    pub endpoint: Url,
    pub token: Option<String>,
    pub raw_json: bool,
    pub no_progress: bool,
}

impl GlobalArgs {
    pub fn resolve(&self) -> Result<Settings> {
        let log_level = non_empty(self.log_level.as_deref());
        // Set before the config file is read, so that reading it is logged at the asked level.
        if let Some(level) = log_level {
            apply_log_level(level);
        }
        let file = ConfigFile::load(self.config.as_deref());
        if log_level.is_none() {
            if let Some(level) = non_empty(file.log_level.as_deref()) {
                apply_log_level(level);
            }
        }

        let endpoint = non_empty(self.endpoint.as_deref())
            .or(non_empty(file.endpoint.as_deref()))
            .unwrap_or_else(|| default_endpoint(env_var("SUPERVISOR_TOKEN").is_some()));
        let endpoint = normalise_endpoint(endpoint)?;
        output::log(Level::Debug, format_args!("endpoint: {endpoint}"));

        let token = TokenSources {
            flag: self.api_token.clone(),
            env_api_token: env_var("SUPERVISOR_API_TOKEN"),
            env_token: env_var("SUPERVISOR_TOKEN"),
            config: file.api_token,
            data_dir: env_var("SUPERVISOR_DATA_DIR").map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), PathBuf::from),
        }
        .resolve();

        Ok(Settings {
            endpoint,
            token,
            raw_json: self.raw_json || file.raw_json.unwrap_or(false),
            no_progress: self.no_progress,
        })
    }
}

/// Inside an app (add-on) container the Supervisor is `supervisor`; the Supervisor gives every
/// app that may use its API a `SUPERVISOR_TOKEN`, which is how `ha` knows where it runs. On the
/// host, the daemon listens on its default address.
fn default_endpoint(in_app_container: bool) -> &'static str {
    if in_app_container {
        CONTAINER_ENDPOINT
    } else {
        DEFAULT_ENDPOINT
    }
}

fn apply_log_level(name: &str) {
    match Level::parse(name) {
        Some(level) => output::set_level(level),
        // The real CLI ignores a level it does not know too, but silently.
        None => output::log(Level::Warn, format_args!("unknown log level '{name}', staying at warn")),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

/// Turns `host[:port]` or a URL into the base URL requests are made under.
pub fn normalise_endpoint(raw: &str) -> Result<Url> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") { raw.to_owned() } else { format!("http://{raw}") };
    let url = Url::parse(&with_scheme).with_context(|| format!("invalid endpoint '{raw}'"))?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
        bail!("invalid endpoint '{raw}': expected host[:port] or an http(s) URL");
    }
    Ok(url)
}

/// Every place a token may come from, highest precedence first.
pub struct TokenSources {
    pub flag: Option<String>,
    /// `SUPERVISOR_API_TOKEN`, which the real CLI prefers over `SUPERVISOR_TOKEN`.
    pub env_api_token: Option<String>,
    /// `SUPERVISOR_TOKEN`, the variable the Supervisor gives add-ons.
    pub env_token: Option<String>,
    pub config: Option<String>,
    /// Holds the `cli_token` file the daemon writes.
    pub data_dir: PathBuf,
}

impl TokenSources {
    pub fn resolve(self) -> Option<String> {
        let given = [
            (self.flag, "--api-token"),
            (self.env_api_token, "SUPERVISOR_API_TOKEN"),
            (self.env_token, "SUPERVISOR_TOKEN"),
            (self.config, "the config file"),
        ];
        for (value, source) in given {
            if let Some(token) = value.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty()) {
                output::log(Level::Debug, format_args!("API token from {source}"));
                return Some(token);
            }
        }
        let file = self.data_dir.join("cli_token");
        let token = read_token_file(&file);
        if token.is_none() {
            // Not an error: the request goes out without a token and the server says why it refuses.
            output::log(Level::Info, "no API token found; sending requests without one");
        }
        token
    }
}

fn read_token_file(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim();
            output::log(Level::Debug, format_args!("API token from {}", path.display()));
            (!token.is_empty()).then(|| token.to_owned())
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {
            output::log(Level::Debug, format_args!("no token file at {}", path.display()));
            None
        }
        Err(err) => {
            // Most likely a user without access to the daemon's data; worth saying, as the 401
            // that follows would not tell why.
            output::log(Level::Warn, format_args!("cannot read the token file {}: {err}", path.display()));
            None
        }
    }
}

/// The optional config file; its keys are the flag names.
#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", default)]
struct ConfigFile {
    endpoint: Option<String>,
    api_token: Option<String>,
    log_level: Option<String>,
    raw_json: Option<bool>,
}

impl ConfigFile {
    /// Reads `explicit`, or else the first `$HOME/.homeassistant.{yaml,yml,json}` that exists.
    /// A config file that is missing or broken is skipped, as the real CLI does.
    fn load(explicit: Option<&Path>) -> ConfigFile {
        let Some(path) = explicit.map(Path::to_owned).or_else(default_config_file) else {
            return ConfigFile::default();
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                let level = if explicit.is_some() { Level::Warn } else { Level::Info };
                output::log(level, format_args!("cannot read the config file {}: {err}", path.display()));
                return ConfigFile::default();
            }
        };
        if text.trim().is_empty() {
            return ConfigFile::default();
        }
        // JSON is YAML too, so one parser covers both.
        serde_yaml::from_str(&text).unwrap_or_else(|err| {
            output::log(Level::Warn, format_args!("ignoring the config file {}: {err}", path.display()));
            ConfigFile::default()
        })
    }
}

fn default_config_file() -> Option<PathBuf> {
    let home = PathBuf::from(std::env::var_os("HOME")?);
    ["yaml", "yml", "json"].iter().map(|ext| home.join(format!(".homeassistant.{ext}"))).find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_without_scheme_get_http() {
        assert_eq!(normalise_endpoint("127.0.0.1:4358").unwrap().as_str(), "http://127.0.0.1:4358/");
        assert_eq!(normalise_endpoint("supervisor").unwrap().as_str(), "http://supervisor/");
        assert_eq!(normalise_endpoint(" localhost:80 ").unwrap().as_str(), "http://localhost/");
    }

    #[test]
    fn endpoints_with_scheme_are_kept() {
        assert_eq!(normalise_endpoint("https://ha.local:8123").unwrap().as_str(), "https://ha.local:8123/");
        let prefixed = normalise_endpoint("http://host:8123/api/hassio/").unwrap();
        assert_eq!(prefixed.path(), "/api/hassio/");
    }

    #[test]
    fn the_default_endpoint_is_supervisor_inside_an_app() {
        assert_eq!(default_endpoint(true), "supervisor");
        assert_eq!(default_endpoint(false), "127.0.0.1:4358");
    }

    #[test]
    fn bad_endpoints_are_refused() {
        assert!(normalise_endpoint("").is_err());
        assert!(normalise_endpoint("ftp://host").is_err());
        assert!(normalise_endpoint("http://exa mple").is_err());
    }

    fn sources(dir: &Path) -> TokenSources {
        TokenSources {
            flag: Some("from-flag".into()),
            env_api_token: Some("from-api-token-env".into()),
            env_token: Some("from-token-env".into()),
            config: Some("from-config".into()),
            data_dir: dir.to_owned(),
        }
    }

    #[test]
    fn token_precedence_is_flag_env_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cli_token"), "from-file\n").unwrap();
        let all = || sources(dir.path());

        assert_eq!(all().resolve().as_deref(), Some("from-flag"));
        let no_flag = TokenSources { flag: None, ..all() };
        assert_eq!(no_flag.resolve().as_deref(), Some("from-api-token-env"));
        let token_env = TokenSources { flag: None, env_api_token: None, ..all() };
        assert_eq!(token_env.resolve().as_deref(), Some("from-token-env"));
        let config = TokenSources { flag: None, env_api_token: Some(String::new()), env_token: None, ..all() };
        assert_eq!(config.resolve().as_deref(), Some("from-config"));
        let file = TokenSources { flag: None, env_api_token: None, env_token: None, config: None, ..all() };
        assert_eq!(file.resolve().as_deref(), Some("from-file"));
    }

    #[test]
    fn no_token_anywhere_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let none = TokenSources {
            flag: None,
            env_api_token: None,
            env_token: None,
            config: None,
            data_dir: dir.path().into(),
        };
        assert_eq!(none.resolve(), None);

        std::fs::write(dir.path().join("cli_token"), "  \n").unwrap();
        let blank = TokenSources {
            flag: None,
            env_api_token: None,
            env_token: None,
            config: None,
            data_dir: dir.path().into(),
        };
        assert_eq!(blank.resolve(), None);
    }
}
