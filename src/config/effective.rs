//! The effective configuration in the config's own words: every key with the value the proxy runs with (defaults filled in, the environment applied, paths resolved), where it came from, and the secret redacted.
//!
//! `check-config` prints it, the start line and the reload lines log it, and
//! a reload compares two of them key by key. It is built from the same
//! structure the file is read into, so a key printed here is a key the file
//! can hold: `check-config`'s output read back as a config gives the same
//! configuration.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use std::path::{Path, PathBuf};

use super::raw::{EnvOrigins, KeyLines, RawConfig, redis_password};
use super::{API_KEY_ENV, KeyError};

/// What a secret prints as.
pub const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effective {
    /// `[section] key = value`, as the file would hold it.
    table: toml::Table,
    /// `section.key` -> the variable its value came from.
    from_env: BTreeMap<String, &'static str>,
    api_key_set: bool,
    /// Where each key is in the file, for errors found after loading.
    lines: KeyLines,
    /// The file, when there is one.
    file: Option<PathBuf>,
}

/// One key whose value differs between two configurations; values as JSON
/// (`null` when unset).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    pub old: Value,
    pub new: Value,
}

impl Effective {
    pub(super) fn new(
        raw: &RawConfig,
        from_env: &EnvOrigins,
        api_key_set: bool,
        lines: KeyLines,
    ) -> Self {
        // Every value was read from TOML, so it serializes back to TOML;
        // an empty table would only make the printout say less.
        let mut table = toml::Table::try_from(raw).unwrap_or_default();
        // A password in the Redis URL (from the environment) is a secret:
        // the URL is shown without it.
        if let Some(url) = table
            .get_mut("fleet")
            .and_then(|fleet| fleet.get_mut("redis_url"))
            && let Some(text) = url.as_str()
            && let Some(password) = redis_password(text)
        {
            *url = toml::Value::String(text.replacen(&format!(":{password}@"), "@", 1));
        }
        Self {
            lines,
            file: None,
            table,
            from_env: from_env.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            api_key_set,
        }
    }

    pub(super) fn set_file(&mut self, file: &Path) {
        self.file = Some(file.to_owned());
    }

    /// The config file, when the configuration was loaded from one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The variable `key`'s value came from, if the environment set it.
    pub fn env_of(&self, key: &str) -> Option<&'static str> {
        if key == "socure.api_key" {
            // Only ever from the environment.
            return self.api_key_set.then_some(API_KEY_ENV);
        }
        self.from_env.get(key).copied()
    }

    /// A problem with `key` found after loading (a file it names, say),
    /// placed as the loader places its own: at the key's line in the file
    /// unless the value came from the environment.
    pub fn key_error(&self, key: &str, message: impl Into<String>) -> KeyError {
        let env = self.env_of(key);
        let mut error = KeyError::new(key, env, message);
        error.line = env
            .is_none()
            .then(|| self.lines.get(key).copied())
            .flatten();
        error
    }

    /// Every `section.key` with its value.
    fn keys(&self) -> BTreeMap<String, &toml::Value> {
        let mut keys = BTreeMap::new();
        for (section, value) in &self.table {
            match value.as_table() {
                Some(table) => {
                    for (key, value) in table {
                        keys.insert(format!("{section}.{key}"), value);
                    }
                }
                None => {
                    keys.insert(section.clone(), value);
                }
            }
        }
        keys
    }

    /// The configuration as a TOML file, a comment on each value that came
    /// from the environment, and the API key as a comment: the file may not
    /// hold it.
    pub fn to_toml(&self) -> String {
        let text = toml::to_string(&self.table).unwrap_or_default();
        let mut out = String::from(
            "# The effective configuration: defaults filled in, the environment applied,\n# relative paths resolved.\n",
        );
        out.push_str(&format!(
            "# socure.api_key = {} (env {API_KEY_ENV} only)\n",
            if self.api_key_set {
                format!("\"{REDACTED}\"")
            } else {
                "not set".into()
            }
        ));
        let mut section = String::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
            }
            out.push_str(line);
            let key = line.split_once(" = ").map(|(key, _)| key.trim());
            if let Some(var) = key.and_then(|key| self.from_env.get(&format!("{section}.{key}"))) {
                out.push_str(&format!("  # from env {var}"));
            }
            out.push('\n');
        }
        out
    }

    /// The same as JSON: `config` (sections and keys, the API key
    /// redacted or `null`) and `from_env` (`section.key` -> variable).
    pub fn to_json(&self) -> Value {
        let mut config = serde_json::to_value(&self.table).unwrap_or(Value::Null);
        if let Some(socure) = config.get_mut("socure").and_then(Value::as_object_mut) {
            socure.insert(
                "api_key".into(),
                if self.api_key_set {
                    Value::String(REDACTED.into())
                } else {
                    Value::Null
                },
            );
        }
        let from_env: Map<String, Value> = self
            .from_env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String((*v).to_owned())))
            .collect();
        serde_json::json!({ "config": config, "from_env": from_env })
    }

    /// The keys whose values differ from `self` to `new`, in key order.
    /// The API key is compared by whether it is set only: its value is
    /// not here.
    pub fn changes(&self, new: &Effective) -> Vec<Change> {
        let (old_keys, new_keys) = (self.keys(), new.keys());
        let json = |value: Option<&&toml::Value>| {
            value.map_or(Value::Null, |v| {
                serde_json::to_value(v).unwrap_or(Value::Null)
            })
        };
        let mut all: Vec<&String> = old_keys.keys().chain(new_keys.keys()).collect();
        all.sort();
        all.dedup();
        all.into_iter()
            .filter(|key| old_keys.get(*key) != new_keys.get(*key))
            .map(|key| Change {
                key: key.clone(),
                old: json(old_keys.get(key)),
                new: json(new_keys.get(key)),
            })
            .collect()
    }
}
