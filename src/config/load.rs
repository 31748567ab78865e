//! Loading: the TOML text parsed, the environment applied over it, the tree deserialized with every unknown key named, then validated.

use std::path::{Path, PathBuf};

use super::raw::{EnvOrigins, RawConfig};
use super::validate::validate;
use super::{API_KEY_ENV, Config, ConfigError, Env, KeyError, Secret};

/// How an environment string becomes a TOML value.
#[derive(Clone, Copy)]
enum EnvKind {
    Bool,
    Number,
    Text,
}

/// Environment overrides: variable, `section.key`, kind. The first four are
/// identity-idp's own `application.yml` names, upper-cased, so operators who
/// know the IdP find them where they expect.
const ENV_OVERRIDES: &[(&str, &str, &str, EnvKind)] = &[
    (
        "IDV_SOCURE_SHADOW_MODE_ENABLED",
        "shadow",
        "enabled",
        EnvKind::Bool,
    ),
    (
        "LEXISNEXIS_INSTANT_VERIFY_WORKFLOW",
        "shadow",
        "instant_verify_workflow",
        EnvKind::Text,
    ),
    (
        "SOCURE_IDPLUS_BASE_URL",
        "socure",
        "base_url",
        EnvKind::Text,
    ),
    (
        "SOCURE_IDPLUS_TIMEOUT_IN_SECONDS",
        "socure",
        "timeout_seconds",
        EnvKind::Number,
    ),
    ("LEXISNEXIS_BASE_URL", "upstream", "base_url", EnvKind::Text),
    (
        "SHADOW_PROXY_LISTEN_ADDRESS",
        "listen",
        "address",
        EnvKind::Text,
    ),
    ("SHADOW_PROXY_LOG_PATH", "shadow", "log_path", EnvKind::Text),
    (
        "SHADOW_PROXY_ADMIN_ADDRESS",
        "admin",
        "address",
        EnvKind::Text,
    ),
];

/// A string that must never reach a log, a line or a `Debug` dump.
impl Config {
    /// Reads `path`, applies `env`, validates.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, env).map_err(|err| match err {
            ConfigError::Syntax { line, message, .. } => ConfigError::Syntax {
                path: path.to_owned(),
                line,
                message,
            },
            other => other,
        })
    }

    /// Parses TOML text, applies `env`, validates.
    pub fn from_toml(text: &str, env: &dyn Env) -> Result<Self, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|err| ConfigError::Syntax {
            path: PathBuf::new(),
            line: err
                .span()
                .map(|span| {
                    let before = &text.as_bytes()[..span.start.min(text.len())];
                    before.iter().filter(|&&b| b == b'\n').count() + 1
                })
                .unwrap_or(0),
            message: err.message().to_owned(),
        })?;

        let mut errors = Vec::new();
        if table
            .get("socure")
            .and_then(toml::Value::as_table)
            .is_some_and(|socure| socure.contains_key("api_key"))
        {
            errors.push(KeyError {
                key: "socure.api_key".into(),
                env: None,
                message: format!(
                    "the API key is read only from env {API_KEY_ENV}, never from the file"
                ),
            });
            if let Some(socure) = table.get_mut("socure").and_then(toml::Value::as_table_mut) {
                socure.remove("api_key");
            }
        }
        let from_env = apply_env(&mut table, env, &mut errors);

        let raw = match deserialize(toml::Value::Table(table), &from_env) {
            Ok(raw) => raw,
            Err(mut more) => {
                errors.append(&mut more);
                return Err(ConfigError::Invalid(errors));
            }
        };
        let api_key = env
            .var(API_KEY_ENV)
            .filter(|k| !k.is_empty())
            .map(Secret::new);
        let config = validate(raw, api_key, &from_env, &mut errors);
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(errors)),
        }
    }
}

fn apply_env(table: &mut toml::Table, env: &dyn Env, errors: &mut Vec<KeyError>) -> EnvOrigins {
    let mut origins = EnvOrigins::new();
    for &(name, section, key, kind) in ENV_OVERRIDES {
        let Some(raw) = env.var(name) else { continue };
        let full_key = format!("{section}.{key}");
        let value = match kind {
            EnvKind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(toml::Value::Boolean(true)),
                "false" | "0" | "no" => Some(toml::Value::Boolean(false)),
                _ => None,
            },
            EnvKind::Number => raw
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .or_else(|_| raw.trim().parse::<f64>().map(toml::Value::Float))
                .ok(),
            EnvKind::Text => Some(toml::Value::String(raw)),
        };
        let Some(value) = value else {
            errors.push(KeyError {
                key: full_key,
                env: Some(name),
                message: match kind {
                    EnvKind::Bool => "expected true or false".into(),
                    _ => "expected a number".into(),
                },
            });
            continue;
        };
        let section_table = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(section_table) = section_table.as_table_mut() {
            section_table.insert(key.to_owned(), value);
            origins.insert(full_key, name);
        }
    }
    origins
}

/// Typed deserialization that reports every unknown key, and the path of a
/// mistyped one.
fn deserialize(value: toml::Value, origins: &EnvOrigins) -> Result<RawConfig, Vec<KeyError>> {
    let mut unknown = Vec::new();
    // Unknown keys are collected by `serde_ignored` first, so that all of them
    // are reported at once rather than only the first one serde trips on.
    let collected: Result<RawConfig, _> = serde_path_to_error::deserialize(
        serde_ignored::Deserializer::new(value, &mut |path: serde_ignored::Path<'_>| {
            unknown.push(path.to_string())
        }),
    );
    let mut errors: Vec<KeyError> = unknown
        .into_iter()
        .map(|key| KeyError {
            key,
            env: None,
            message: "unknown key".into(),
        })
        .collect();
    match collected {
        Ok(raw) if errors.is_empty() => Ok(raw),
        Ok(_) => Err(errors),
        Err(err) => {
            let key = err.path().to_string();
            errors.push(KeyError {
                env: origins.get(&key).copied(),
                key,
                message: err.inner().message().to_owned(),
            });
            Err(errors)
        }
    }
}
