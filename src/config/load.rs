//! Loading: the TOML text parsed, the environment applied over it, the tree deserialized with every unknown key named, then validated.

use std::path::{Path, PathBuf};

use super::effective::Effective;
use super::raw::{EnvOrigins, KeyLines, RawConfig, Secrets, redis_password};
use super::validate::validate;
use super::{
    API_KEY_ENV, Config, ConfigError, DEDUP_KEY_ENV, Env, KeyError, REDIS_PASSWORD_ENV, Secret,
};

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
        "SHADOW_PROXY_REDIS_URL",
        "fleet",
        "redis_url",
        EnvKind::Text,
    ),
    (
        "SHADOW_PROXY_ADMIN_ADDRESS",
        "admin",
        "address",
        EnvKind::Text,
    ),
];

/// The variable in [`ENV_OVERRIDES`] that sets `key` (`section.key`).
pub(super) fn env_var(key: &str) -> Option<&'static str> {
    ENV_OVERRIDES
        .iter()
        .find(|(_, section, name, _)| key.split_once('.') == Some((*section, *name)))
        .map(|(var, ..)| *var)
}

/// Every environment variable the configuration reads, with the key it sets,
/// for `run --help` and the man page: listed from the table `load` applies,
/// so the help cannot name a variable that is not read.
pub fn env_overrides() -> impl Iterator<Item = (&'static str, String)> {
    ENV_OVERRIDES
        .iter()
        .map(|&(name, section, key, _)| (name, format!("{section}.{key}")))
        .chain(SECRETS.iter().map(|&(name, what)| (name, what.to_owned())))
}

/// The secrets, read only from the environment (the file may not hold
/// them), and what each is: with [`ENV_OVERRIDES`], every variable
/// `load` reads.
pub(super) const SECRETS: [(&str, &str); 3] = [
    (API_KEY_ENV, "socure.api_key (only from here)"),
    (
        REDIS_PASSWORD_ENV,
        "the password of fleet.redis_url (only from here, or in SHADOW_PROXY_REDIS_URL)",
    ),
    (
        DEDUP_KEY_ENV,
        "the fleet's duplicate-window key, the same on every replica (only from here)",
    ),
];

impl Config {
    /// Reads `path`, applies `env`, validates. Relative paths in the file
    /// are taken from the file's own directory, as nginx takes them from
    /// its prefix: the proxy may start anywhere.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // Absolute, so the paths stay right whatever the working directory
        // is later (and in check-config's printout).
        let base = std::path::absolute(path)
            .ok()
            .and_then(|file| file.parent().map(Path::to_path_buf));
        let mut config = parse(&text, env, base.as_deref()).map_err(|err| match err {
            ConfigError::Syntax { line, message, .. } => ConfigError::Syntax {
                path: path.to_owned(),
                line,
                message,
            },
            ConfigError::Invalid { errors, .. } => ConfigError::Invalid {
                file: Some(path.to_owned()),
                errors,
            },
            other => other,
        })?;
        config.effective.set_file(path);
        Ok(config)
    }

    /// Parses TOML text, applies `env`, validates. Relative paths stay as
    /// they are (relative to the working directory).
    pub fn from_toml(text: &str, env: &dyn Env) -> Result<Self, ConfigError> {
        parse(text, env, None)
    }
}

fn parse(text: &str, env: &dyn Env, base: Option<&Path>) -> Result<Config, ConfigError> {
    let mut table: toml::Table = toml::from_str(text).map_err(|err| ConfigError::Syntax {
        path: PathBuf::new(),
        line: err.span().map_or(0, |span| line_at(text, span.start)),
        message: err.message().to_owned(),
    })?;

    let mut errors = Vec::new();
    refuse_secrets_in_file(&mut table, &mut errors);
    let from_env = apply_env(&mut table, env, &mut errors);
    let config = match deserialize(table, &from_env, &mut errors) {
        Some(mut raw) => {
            if let Some(base) = base {
                raw.resolve_paths(base);
            }
            let secret = |name| env.var(name).filter(|v| !v.is_empty()).map(Secret::new);
            let [api_key, redis_password, dedup_key] = SECRETS.map(|(name, _)| secret(name));
            let secrets = Secrets {
                api_key,
                redis_password,
                dedup_key,
            };
            let effective =
                Effective::new(&raw, &from_env, secrets.api_key.is_some(), key_lines(text));
            // Files are tried when the configuration is a file's (its
            // relative paths resolved against it), as `run` will read them.
            validate(raw, secrets, &from_env, &mut errors, base.is_some()).map(|mut config| {
                config.effective = effective;
                config
            })
        }
        None => None,
    };
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        Some(config) => {
            // Failing on other keys: the files that cannot be read are
            // named with them.
            errors.extend(config.unreadable);
            locate(&mut errors, &key_lines(text));
            Err(ConfigError::Invalid { file: None, errors })
        }
        None => {
            locate(&mut errors, &key_lines(text));
            Err(ConfigError::Invalid { file: None, errors })
        }
    }
}

/// Secrets the file must not hold: each is refused (without echoing it) and
/// taken out, so the rest is still read.
fn refuse_secrets_in_file(table: &mut toml::Table, errors: &mut Vec<KeyError>) {
    for (section, key, var, what) in [
        ("socure", "api_key", API_KEY_ENV, "the API key"),
        ("fleet", "password", REDIS_PASSWORD_ENV, "Redis's password"),
        (
            "fleet",
            "dedup_key",
            DEDUP_KEY_ENV,
            "the duplicate window's key",
        ),
    ] {
        let Some(section_table) = table.get_mut(section).and_then(toml::Value::as_table_mut) else {
            continue;
        };
        if section_table.remove(key).is_some() {
            errors.push(KeyError::new(
                format!("{section}.{key}"),
                None,
                format!("{what} is read only from env {var}, never from the file"),
            ));
        }
    }
    let url = table
        .get("fleet")
        .and_then(|fleet| fleet.get("redis_url"))
        .and_then(toml::Value::as_str);
    if url.is_some_and(|url| redis_password(url).is_some()) {
        errors.push(KeyError::new(
            "fleet.redis_url",
            None,
            format!(
                "a password in the URL is read only from the environment (SHADOW_PROXY_REDIS_URL, or {REDIS_PASSWORD_ENV}), never from the file"
            ),
        ));
        if let Some(fleet) = table.get_mut("fleet").and_then(toml::Value::as_table_mut) {
            fleet.remove("redis_url");
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// The line of every section and `section.key` in the file, from the TOML
/// parser's spans: where an error about that key points.
fn key_lines(text: &str) -> KeyLines {
    let mut lines = KeyLines::new();
    let Ok(document) = toml::de::DeTable::parse(text) else {
        return lines;
    };
    for (section, value) in document.get_ref() {
        let name = section.get_ref().as_ref();
        lines.insert(name.to_owned(), line_at(text, section.span().start));
        if let toml::de::DeValue::Table(keys) = value.get_ref() {
            for (key, _) in keys {
                let full = format!("{name}.{}", key.get_ref().as_ref());
                lines.insert(full, line_at(text, key.span().start));
            }
        }
    }
    lines
}

/// Gives each error whose value came from the file the line of its key. A
/// key the file does not hold (a missing one, or one given by the
/// environment) has no line.
fn locate(errors: &mut [KeyError], lines: &KeyLines) {
    for error in errors.iter_mut().filter(|e| e.env.is_none()) {
        // `listen.tunnel_allow[2]` is on the line of `listen.tunnel_allow`.
        let key = error.key.split('[').next().unwrap_or_default();
        error.line = lines.get(key).copied();
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
            errors.push(KeyError::new(
                full_key,
                Some(name),
                match kind {
                    EnvKind::Bool => "expected true or false (or 1/0, yes/no)",
                    _ => "expected a number",
                },
            ));
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

/// Typed deserialization that reports every unknown key, with the known
/// key it most resembles, and every mistyped value, in plain words.
///
/// serde stops at the first mistyped value; so each one found is reported,
/// taken out of the tree (its default stands in), and the tree read again,
/// until it reads. Each round removes a key, so the rounds are bounded by
/// the file's size. Unknown keys come from the last, complete, round. The
/// tree that reads is returned even so, for validation to name the rest.
fn deserialize(
    mut table: toml::Table,
    origins: &EnvOrigins,
    errors: &mut Vec<KeyError>,
) -> Option<RawConfig> {
    loop {
        let mut unknown = Vec::new();
        let read: Result<RawConfig, _> =
            serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
                toml::Value::Table(table.clone()),
                &mut |path: serde_ignored::Path<'_>| unknown.push(path.to_string()),
            ));
        match read {
            Ok(raw) => {
                for key in &unknown {
                    errors.push(KeyError::new(key.clone(), None, unknown_key(key)));
                }
                // The rest is still validated: one run names every problem.
                return Some(raw);
            }
            Err(err) => {
                let key = err.path().to_string();
                let base = key.split('[').next().unwrap_or_default();
                errors.push(KeyError::new(
                    key.clone(),
                    origins.get(base).copied(),
                    plain_words(err.inner().message()),
                ));
                if !remove(&mut table, base) {
                    return None;
                }
            }
        }
    }
}

/// Takes `section.key` (or a whole `section`) out of the tree; `false` when
/// it is not there, which ends the rounds.
fn remove(table: &mut toml::Table, path: &str) -> bool {
    match path.split_once('.') {
        None => table.remove(path).is_some(),
        Some((section, rest)) => table
            .get_mut(section)
            .and_then(toml::Value::as_table_mut)
            .is_some_and(|inner| remove(inner, rest)),
    }
}

/// `unknown key`, and the nearest known one when it is near, as cargo
/// suggests a subcommand: Jaro-Winkler similarity of at least 0.8.
fn unknown_key(path: &str) -> String {
    let (section, key) = path.rsplit_once('.').unwrap_or(("", path));
    let known = if section.is_empty() {
        RawConfig::sections()
    } else {
        RawConfig::keys_of(section)
    };
    let nearest = known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(key, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match nearest {
        Some((_, candidate)) if section.is_empty() => {
            format!("unknown section; did you mean [{candidate}]?")
        }
        Some((_, candidate)) => format!("unknown key; did you mean {section}.{candidate}?"),
        None => "unknown key".into(),
    }
}

/// serde's words made an operator's: `invalid type: string "many",
/// expected u64` becomes `expected a whole number, got the string "many"`.
fn plain_words(message: &str) -> String {
    let expectation = |rust: &str| -> String {
        match rust.trim() {
            "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number of 0 or more".into(),
            "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
            "f32" | "f64" => "a number".into(),
            "a boolean" => "true or false".into(),
            "a string" => "a string in quotes".into(),
            "a sequence" => "a list, like [\"a\", \"b\"]".into(),
            other if other.starts_with("struct ") => "a table of keys".into(),
            other => other.to_owned(),
        }
    };
    let found = |got: &str| -> String {
        let got = got.trim();
        let value = |prefix: &str| {
            got.strip_prefix(prefix)
                .map(|rest| rest.trim_matches('`').to_owned())
        };
        if let Some(text) = got.strip_prefix("string ") {
            format!("the string {text}")
        } else if let Some(n) = value("integer ").or_else(|| value("floating point ")) {
            format!("the number {n}")
        } else if let Some(b) = value("boolean ") {
            b
        } else if got == "sequence" {
            "a list".into()
        } else if got == "map" {
            "a table".into()
        } else {
            got.to_owned()
        }
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((got, expected)) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once(", expected "))
        {
            return format!("expected {}, got {}", expectation(expected), found(got));
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_become_plain_words() {
        assert_eq!(
            plain_words("invalid type: string \"many\", expected u64"),
            "expected a whole number of 0 or more, got the string \"many\""
        );
        assert_eq!(
            plain_words("invalid value: integer `-1`, expected u64"),
            "expected a whole number of 0 or more, got the number -1"
        );
        assert_eq!(
            plain_words("invalid type: string \"yes\", expected a boolean"),
            "expected true or false, got the string \"yes\""
        );
        assert_eq!(
            plain_words("invalid type: floating point `1.5`, expected a sequence"),
            "expected a list, like [\"a\", \"b\"], got the number 1.5"
        );
        assert_eq!(plain_words("something else"), "something else");
    }

    #[test]
    fn near_misses_are_suggested_and_far_ones_not() {
        assert_eq!(
            unknown_key("shadow.enabeld"),
            "unknown key; did you mean shadow.enabled?"
        );
        assert_eq!(
            unknown_key("listen.adress"),
            "unknown key; did you mean listen.address?"
        );
        assert_eq!(
            unknown_key("shadoww"),
            "unknown section; did you mean [shadow]?"
        );
        assert_eq!(unknown_key("listen.zzz"), "unknown key");
    }
}
