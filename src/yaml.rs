//! Reading hand-written YAML configs (module YAML, draw specs) with errors that name
//! the YAML path of the problem (`pipeline.elements[2].module: missing`).

use std::fmt;

use serde_yaml::{Mapping, Value};

/// A config error: where in the YAML, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

pub fn error<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError {
        path: path.into(),
        message: message.into(),
    })
}

pub fn mapping<'a>(value: &'a Value, path: &str) -> Result<&'a Mapping, ConfigError> {
    match value {
        Value::Mapping(m) => Ok(m),
        other => error(
            if path.is_empty() { "(top level)" } else { path },
            format!("must be a mapping, got {}", kind(other)),
        ),
    }
}

/// A boolean as Savant's YAML loader (OmegaConf over PyYAML, YAML 1.1) reads one:
/// `true`/`false`, and `yes`/`no`/`on`/`off` in lower, title or upper case. Only
/// where a boolean is expected: elsewhere such text stays text.
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => Some(true),
            "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub fn check_keys(map: &Mapping, path: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    for key in map.keys() {
        let Some(key) = key.as_str() else {
            return error(path, format!("keys must be strings, got {}", kind(key)));
        };
        if !allowed.contains(&key) {
            return error(
                join(path, key),
                format!("unknown key (expected one of: {})", allowed.join(", ")),
            );
        }
    }
    Ok(())
}

pub fn optional_string(
    map: &Mapping,
    path: &str,
    key: &str,
) -> Result<Option<String>, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => error(
            join(path, key),
            format!("must be a string, got {}", kind(other)),
        ),
    }
}

pub fn non_negative(
    map: &Mapping,
    path: &str,
    key: &str,
    default: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= max => Ok(v),
            Some(v) => error(join(path, key), format!("must be at most {max}, got {v}")),
            None => error(
                join(path, key),
                format!("must be a whole number >= 0, got {n}"),
            ),
        },
        Some(other) => error(
            join(path, key),
            format!("must be a number, got {}", kind(other)),
        ),
    }
}

/// Reads a user-given config file (`what` names it in errors: "module config",
/// "draw spec"). Anything but a regular file is refused before it is opened: opening
/// a FIFO blocks until a writer comes, which may be never.
pub fn read_config_file(what: &str, path: &str) -> Result<String, ConfigError> {
    let cannot = |reason: String| ConfigError {
        path: String::new(),
        message: format!("cannot read {what} {path}: {reason}"),
    };
    let metadata = std::fs::metadata(path).map_err(|e| cannot(e.to_string()))?;
    if !metadata.is_file() {
        return Err(cannot(not_regular(&metadata)));
    }
    std::fs::read_to_string(path).map_err(|e| cannot(e.to_string()))
}

/// Why a file that exists cannot be read as a config, for errors.
pub fn not_regular(metadata: &std::fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let file_type = metadata.file_type();
    let what = if file_type.is_dir() {
        " (a directory)"
    } else if file_type.is_fifo() {
        " (a FIFO)"
    } else if file_type.is_socket() {
        " (a socket)"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        " (a device)"
    } else {
        ""
    };
    format!("not a regular file{what}")
}
