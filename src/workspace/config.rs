//! Configuration, git-style: `.gryt/config` in the repo overrides the global file
//! (`$XDG_CONFIG_HOME/gryt/config`, default `~/.config/gryt/config`). Both are YAML with
//! nested sections (`user: {name: …}`); keys are addressed with dots (`user.name`). Only the
//! known keys below are accepted, and secrets are never stored here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::api::accounts::check_name;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown config key `{0}`")]
    UnknownKey(String),
    #[error("invalid value `{value}` for {key}: {reason}")]
    BadValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no home directory: set HOME or XDG_CONFIG_HOME")]
    NoHome,
}

/// A config file is a handful of lines; anything larger is not one.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

pub struct KeyInfo {
    pub key: &'static str,
    pub help: &'static str,
}

pub const KEYS: &[KeyInfo] = &[
    KeyInfo {
        key: "execution_mode",
        help: "local | hybrid | cloud (default local)",
    },
    KeyInfo {
        key: "user.name",
        help: "who you are in evolutions and the audit trail (default: git's user.name, else the OS user)",
    },
    KeyInfo {
        key: "cloud.url",
        help: "Gryt Cloud server, e.g. https://gryt.example.com",
    },
    KeyInfo {
        key: "cloud.project",
        help: "linked cloud project, TEAM/PROJECT",
    },
    KeyInfo {
        key: "promote.min_evolutions",
        help: "completed evolutions each change needs before promotion (default 0)",
    },
    KeyInfo {
        key: "sync.auto_resolve",
        help: "merge | none (default none): a pull merges each draft changed on both sides where the merge is clean",
    },
];

pub fn key_list() -> String {
    KEYS.iter().map(|k| k.key).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionMode {
    Local,
    Hybrid,
    Cloud,
}

/// Checks a value for a key; returns it normalised.
pub fn validate(key: &str, value: &str) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    match key {
        "execution_mode" => match value {
            "local" | "hybrid" | "cloud" => Ok(value.to_string()),
            _ => Err(bad("expected one of local, hybrid, cloud")),
        },
        "user.name" => {
            let v = value.trim();
            if v.is_empty() || v.len() > 100 || v.chars().any(char::is_control) {
                Err(bad("expected a non-empty name of at most 100 characters"))
            } else {
                Ok(v.to_string())
            }
        }
        "cloud.url" => match check_cloud_url(value) {
            Ok(()) => Ok(value.trim_end_matches('/').to_string()),
            Err(reason) => Err(bad(reason)),
        },
        // The server's own rule for team and project names (`api::accounts::check_name`).
        "cloud.project" => match value.split_once('/') {
            Some((team, project)) => {
                check_name("team", team).map_err(|e| bad(&e))?;
                check_name("project", project).map_err(|e| bad(&e))?;
                Ok(value.to_string())
            }
            None => Err(bad("expected TEAM/PROJECT")),
        },
        "promote.min_evolutions" => value
            .parse::<u32>()
            .map(|n| n.to_string())
            .map_err(|_| bad("expected a whole number ≥ 0")),
        "sync.auto_resolve" => match value {
            "merge" | "none" => Ok(value.to_string()),
            _ => Err(bad("expected one of merge, none")),
        },
        _ => Err(unknown_key(key)),
    }
}

fn unknown_key(key: &str) -> ConfigError {
    ConfigError::UnknownKey(key.to_string())
}

/// One config file: dotted keys → values.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub values: BTreeMap<String, String>,
}

impl ConfigFile {
    /// Reads a config file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let bad = |reason: String| ConfigError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = match super::file::read_limited(path, MAX_CONFIG_BYTES) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| bad("the file is not valid UTF-8".to_string()))?,
            Err(e) if e.is_not_found() => String::new(),
            Err(e) => return Err(bad(e.to_string())),
        };
        let mut values = BTreeMap::new();
        if !text.trim().is_empty() {
            let doc: Value = serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;
            match doc {
                Value::Null => {}
                Value::Mapping(m) => flatten("", &m, &mut values).map_err(bad)?,
                _ => return Err(bad("expected a mapping of settings".into())),
            }
        }
        for (k, v) in &values {
            validate(k, v).map_err(|e| bad(e.to_string()))?;
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            values,
        })
    }

    pub fn save(&self) -> Result<(), ConfigError> {
        let mut root = Mapping::new();
        for (key, value) in &self.values {
            let mut map = &mut root;
            let mut parts = key.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    map.insert(Value::from(part), Value::from(value.as_str()));
                } else {
                    let entry = map
                        .entry(Value::from(part))
                        .or_insert_with(|| Value::Mapping(Mapping::new()));
                    map = entry.as_mapping_mut().expect("sections are mappings");
                }
            }
        }
        let text = if root.is_empty() {
            String::new()
        } else {
            serde_yaml::to_string(&root).expect("a mapping of strings serializes")
        };
        let header = "# gryt configuration (see `gryt config --help`). Never put secrets here.\n";
        crate::workspace::write_atomic(&self.path, format!("{header}{text}").as_bytes()).map_err(
            |source| ConfigError::Write {
                path: self.path.clone(),
                source,
            },
        )
    }
}

fn flatten(prefix: &str, map: &Mapping, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in map {
        let Some(k) = k.as_str() else {
            return Err("keys must be text".into());
        };
        let key = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Mapping(m) => flatten(&key, m, out)?,
            Value::String(s) => {
                out.insert(key, s.clone());
            }
            Value::Number(n) => {
                out.insert(key, n.to_string());
            }
            Value::Bool(b) => {
                out.insert(key, b.to_string());
            }
            Value::Null => {}
            _ => return Err(format!("{key}: expected a single value")),
        }
    }
    Ok(())
}

pub fn global_path() -> Result<PathBuf, ConfigError> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or(ConfigError::NoHome)?).join(".config"),
    };
    Ok(base.join("gryt").join("config"))
}

/// The merged view: repo values override global ones.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub global: ConfigFile,
    pub repo: Option<ConfigFile>,
}

impl Config {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.repo
            .as_ref()
            .and_then(|r| r.values.get(key))
            .or_else(|| self.global.values.get(key))
            .map(String::as_str)
    }

    /// `sync.auto_resolve merge`: a pull merges the drafts changed on both sides that merge
    /// cleanly.
    pub fn auto_merge(&self) -> bool {
        self.get("sync.auto_resolve") == Some("merge")
    }

    pub fn execution_mode(&self) -> ExecutionMode {
        match self.get("execution_mode") {
            Some("hybrid") => ExecutionMode::Hybrid,
            Some("cloud") => ExecutionMode::Cloud,
            _ => ExecutionMode::Local,
        }
    }

    pub fn min_evolutions(&self) -> Option<u32> {
        self.get("promote.min_evolutions")
            .and_then(|v| v.parse().ok())
    }

    /// All effective values, repo over global.
    pub fn merged(&self) -> BTreeMap<String, String> {
        let mut all = self.global.values.clone();
        if let Some(repo) = &self.repo {
            all.extend(repo.values.clone());
        }
        all
    }
}

/// An `http://` or `https://` URL with a host, and no credentials, query or fragment (the
/// client appends API paths to it).
fn check_cloud_url(value: &str) -> Result<(), &'static str> {
    const EXPECTED: &str = "expected an http:// or https:// URL, like https://gryt.example.com";
    let uri: ureq::http::Uri = value.parse().map_err(|_| EXPECTED)?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(EXPECTED);
    }
    match uri.authority() {
        None => Err(EXPECTED),
        Some(a) if a.host().is_empty() => Err(EXPECTED),
        Some(a) if a.as_str().contains('@') => {
            Err("the URL must not hold a user name or password; use `gryt cloud login`")
        }
        Some(_) if uri.query().is_some() || value.contains('#') => {
            Err("expected the server's base URL, without `?` or `#`")
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_values() {
        assert_eq!(validate("execution_mode", "hybrid").unwrap(), "hybrid");
        assert!(validate("execution_mode", "turbo").is_err());
        assert!(validate("cloud.url", "ftp://x").is_err());
        assert_eq!(
            validate("cloud.url", "http://127.0.0.1:8787/").unwrap(),
            "http://127.0.0.1:8787"
        );
        assert!(validate("cloud.project", "team").is_err());
        assert!(validate("cloud.project", "team/proj").is_ok());
        // The server's name rule: a leading `.`/`-`, upper case or `..` is refused.
        for bad in [
            "../x",
            "team/..",
            "team/.hidden",
            "-t/p",
            "Team/p",
            "t/a..b",
            "t/p/q",
        ] {
            assert!(validate("cloud.project", bad).is_err(), "{bad}");
        }
        for bad in [
            "http://",
            "https:///x",
            "http://u:p@host",
            "http://h/?a=1",
            "http://h/#x",
            "host:80",
        ] {
            assert!(validate("cloud.url", bad).is_err(), "{bad}");
        }
        assert!(validate("cloud.url", "https://gryt.example.com/base").is_ok());
        assert!(validate("promote.min_evolutions", "-1").is_err());
        assert!(matches!(
            validate("cloud.token", "x"),
            Err(ConfigError::UnknownKey(_))
        ));
    }

    #[test]
    fn round_trips_nested_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let mut f = ConfigFile::load(&path).unwrap();
        f.values.insert("user.name".into(), "Ada".into());
        f.values.insert("execution_mode".into(), "local".into());
        f.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("user:\n  name: Ada"), "{text}");
        assert_eq!(ConfigFile::load(&path).unwrap().values, f.values);
    }

    #[test]
    fn refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        for text in ["[1, 2]", "execution_mode: turbo", "nope: 1", "a: [\n"] {
            std::fs::write(&path, text).unwrap();
            assert!(ConfigFile::load(&path).is_err(), "{text}");
        }
    }
}
