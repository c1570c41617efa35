//! OmegaConf-style interpolation in a module YAML, as Savant resolves it once when a
//! module loads: `${parameters.NAME}` (any absolute path), `${.sibling}`,
//! `${oc.env:NAME, default}`, `${oc.decode:...}` and `${json:...}`.
//!
//! A value that is exactly one interpolation takes the referenced value's type
//! (`length: ${parameters.queue_length}` stays a number; an environment variable's
//! text is read as a YAML scalar there); inside longer text, values are spliced in
//! as text.

use std::borrow::Cow;

use serde_yaml::{Mapping, Value};

use crate::yaml::ConfigError;

/// References deeper than this are a cycle (`a: ${b}`, `b: ${a}`).
const MAX_DEPTH: usize = 32;

/// Interpolations one document may evaluate: references that fan out (a list of
/// references to lists of references) would otherwise grow exponentially.
const MAX_EVALUATIONS: usize = 100_000;

/// Bytes of text one document's interpolations may produce: spliced strings and the
/// values references copy. Few evaluations can ask for far more (a 1 MB file whose
/// references each double the one before asks for gigabytes), so the evaluation
/// budget alone does not bound memory.
const MAX_EXPANDED_BYTES: usize = 16 << 20;

/// What one copied YAML node counts for beyond its text: about what `- ` or `: ` and a
/// newline take, so that copies of many empty or numeric values count too.
const NODE_BYTES: usize = 4;

thread_local! {
    static EVALUATIONS_LEFT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static BYTES_LEFT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The document with every interpolation resolved.
pub fn resolve_document(root: &Value) -> Result<Value, ConfigError> {
    EVALUATIONS_LEFT.set(MAX_EVALUATIONS);
    BYTES_LEFT.set(MAX_EXPANDED_BYTES);
    resolve(root, root, &mut Vec::new(), 0)
}

/// Takes `bytes` from the document's expansion budget; called before they are
/// allocated.
fn charge(bytes: usize) -> Result<(), String> {
    match BYTES_LEFT.get().checked_sub(bytes) {
        Some(left) => {
            BYTES_LEFT.set(left);
            Ok(())
        }
        None => Err(expanded_too_far()),
    }
}

fn expanded_too_far() -> String {
    format!(
        "interpolation expands past {} MiB (references that double in size?)",
        MAX_EXPANDED_BYTES >> 20
    )
}

/// [`charge`] for a value being copied at `path`. The error's path is replaced by
/// the key whose interpolation asked for the copy (see [`reference`]).
fn charge_copy(bytes: usize, path: &[String]) -> Result<(), ConfigError> {
    charge(bytes).map_err(|message| ConfigError {
        path: shown(path),
        message,
    })
}

/// Approximately the text a copy of `value` takes: its strings and [`NODE_BYTES`] a
/// node, counted without serializing it.
fn copied_size(value: &Value) -> usize {
    NODE_BYTES
        + match value {
            Value::String(text) => text.len(),
            Value::Sequence(items) => items.iter().map(copied_size).sum(),
            Value::Mapping(map) => map
                .iter()
                .map(|(key, item)| copied_size(key) + copied_size(item))
                .sum(),
            Value::Tagged(tagged) => copied_size(&tagged.value),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
}

/// `path` holds the keys of `value` from the root (for `${.sibling}` and errors).
/// `depth` is above 0 inside a referenced value: everything made there is a copy the
/// document did not hold, and counts against the expansion budget.
fn resolve(
    root: &Value,
    value: &Value,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<Value, ConfigError> {
    let copying = depth > 0;
    match value {
        Value::String(text) if text.contains("${") => resolve_text(root, text, path, depth)
            .map_err(|message| ConfigError {
                path: shown(path),
                message,
            }),
        Value::Mapping(map) => {
            if copying {
                charge_copy(NODE_BYTES, path)?;
            }
            let mut out = Mapping::with_capacity(map.len());
            for (key, item) in map {
                if copying {
                    charge_copy(copied_size(key), path)?;
                }
                path.push(key.as_str().unwrap_or("?").to_owned());
                let resolved = resolve(root, item, path, depth);
                path.pop();
                out.insert(key.clone(), resolved?);
            }
            Ok(Value::Mapping(out))
        }
        Value::Sequence(items) => {
            if copying {
                charge_copy(NODE_BYTES, path)?;
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match path.last_mut() {
                    Some(last) => {
                        let key = std::mem::take(last);
                        *last = format!("{key}[{i}]");
                        let resolved = resolve(root, item, path, depth);
                        *path.last_mut().expect("pushed") = key;
                        out.push(resolved?);
                    }
                    None => out.push(resolve(root, item, path, depth)?),
                }
            }
            Ok(Value::Sequence(out))
        }
        other => {
            if copying {
                charge_copy(copied_size(other), path)?;
            }
            Ok(other.clone())
        }
    }
}

fn shown(path: &[String]) -> String {
    path.join(".")
}

/// Resolves the interpolations of one string value.
fn resolve_text(root: &Value, text: &str, path: &[String], depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "interpolations nest deeper than {MAX_DEPTH} (a reference cycle?)"
        ));
    }
    let left = EVALUATIONS_LEFT.get();
    if left == 0 {
        return Err(format!(
            "more than {MAX_EVALUATIONS} interpolations to evaluate (references that fan out?)"
        ));
    }
    EVALUATIONS_LEFT.set(left - 1);
    let pieces = split(text)?;
    if let [Piece::Interpolation(inner)] = pieces.as_slice() {
        let value = evaluate(root, inner, path, depth)?;
        return Ok(if inner.trim_start().starts_with("oc.env:") {
            typed(value)
        } else {
            value
        });
    }
    // Every part first, so that the joined text is charged before it is allocated.
    let mut parts = Vec::with_capacity(pieces.len());
    for piece in pieces {
        parts.push(match piece {
            Piece::Text(t) => Cow::Borrowed(t),
            Piece::Interpolation(inner) => {
                Cow::Owned(as_text(evaluate(root, inner, path, depth)?)?)
            }
        });
    }
    let length: usize = parts.iter().map(|part| part.len()).sum();
    charge(length)?;
    let mut out = String::with_capacity(length);
    for part in &parts {
        out.push_str(part);
    }
    Ok(Value::String(out))
}

enum Piece<'a> {
    Text(&'a str),
    Interpolation(&'a str),
}

/// Splits text into literal parts and top-level `${...}` (nested ones stay inside).
fn split(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes[i + 1..].starts_with(b"${") {
            // `\${` is a literal `${`.
            if start < i {
                pieces.push(Piece::Text(&text[start..i]));
            }
            pieces.push(Piece::Text("${"));
            i += 3;
            start = i;
            continue;
        }
        if bytes[i..].starts_with(b"${") {
            let end =
                matching_brace(text, i + 2).ok_or_else(|| format!("unclosed '${{' in {text:?}"))?;
            if start < i {
                pieces.push(Piece::Text(&text[start..i]));
            }
            pieces.push(Piece::Interpolation(&text[i + 2..end]));
            i = end + 1;
            start = i;
            continue;
        }
        i += 1;
    }
    if start < bytes.len() {
        pieces.push(Piece::Text(&text[start..]));
    }
    Ok(pieces)
}

/// Quote-aware brace counting, one byte at a time: what `${...}` and resolver
/// arguments need to find their ends and top-level commas.
#[derive(Default)]
struct Scan {
    quote: Option<u8>,
    depth: usize,
}

impl Scan {
    /// Takes the next byte: the brace depth before it, or None for a byte inside
    /// quotes or a quote itself.
    fn step(&mut self, b: u8) -> Option<usize> {
        let before = self.depth;
        match (self.quote, b) {
            (Some(q), _) => {
                if b == q {
                    self.quote = None;
                }
                return None;
            }
            (None, b'\'' | b'"') => {
                self.quote = Some(b);
                return None;
            }
            (None, b'{') => self.depth += 1,
            (None, b'}') => self.depth = before.saturating_sub(1),
            _ => {}
        }
        Some(before)
    }
}

/// Index of the `}` closing the `${` whose contents begin at `from`, skipping
/// nested interpolations and quoted text.
fn matching_brace(text: &str, from: usize) -> Option<usize> {
    let mut scan = Scan::default();
    let bytes = text.as_bytes();
    (from..bytes.len()).find(|&i| scan.step(bytes[i]) == Some(0) && bytes[i] == b'}')
}

/// Evaluates the inside of one `${...}`.
fn evaluate(root: &Value, inner: &str, path: &[String], depth: usize) -> Result<Value, String> {
    let inner = inner.trim();
    let resolver = inner.split_once(':').filter(|(name, _)| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    });
    let Some((name, arguments)) = resolver else {
        return reference(root, inner, path, depth);
    };
    let arguments = split_arguments(arguments)?
        .into_iter()
        .map(|a| argument(root, a, path, depth))
        .collect::<Result<Vec<_>, _>>()?;
    match (name, arguments.as_slice()) {
        ("oc.env", [variable, rest @ ..]) if rest.len() <= 1 => {
            let variable = as_text(variable.clone())?;
            match std::env::var(&variable) {
                Ok(text) => Ok(Value::String(text)),
                Err(_) => match rest {
                    [default] => Ok(default.clone()),
                    _ => Err(format!(
                        "environment variable {variable} is not set and has no default \
                         (write ${{oc.env:{variable}, DEFAULT}})"
                    )),
                },
            }
        }
        ("oc.decode" | "json", [encoded]) => match encoded {
            Value::String(text) => serde_yaml::from_str(text)
                .map_err(|e| format!("{name} cannot read {text:?}: {e}")),
            other => Ok(other.clone()),
        },
        ("oc.env" | "oc.decode" | "json", _) => Err(format!(
            "wrong number of arguments to {name} (oc.env takes a name and an optional default; oc.decode and json one value)"
        )),
        _ => Err(format!(
            "unsupported resolver {name:?} (supported: oc.env, oc.decode, json; compute such values in Python)"
        )),
    }
}

/// A resolver argument: quotes removed, nested interpolations resolved, a bare
/// word read as a YAML scalar (`1280` is a number, `null` nothing).
fn argument(root: &Value, text: &str, path: &[String], depth: usize) -> Result<Value, String> {
    let text = text.trim();
    for quote in ['\'', '"'] {
        if let Some(quoted) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return Ok(Value::String(quoted.to_owned()));
        }
    }
    if text.contains("${") {
        return resolve_text(root, text, path, depth + 1);
    }
    Ok(scalar(text))
}

fn scalar(text: &str) -> Value {
    match serde_yaml::from_str::<Value>(text) {
        Ok(value @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))) => value,
        _ => Value::String(text.to_owned()),
    }
}

/// Splits resolver arguments at top-level commas.
fn split_arguments(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut scan = Scan::default();
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if scan.step(b) == Some(0) && b == b',' {
            parts.push(&text[start..i]);
            start = i + 1;
        }
    }
    if scan.quote.is_some() {
        return Err(format!("unclosed quote in {text:?}"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// `${a.b.c}` from the root, or `${.b}` beside the value being resolved.
fn reference(root: &Value, target: &str, path: &[String], depth: usize) -> Result<Value, String> {
    let (mut keys, relative): (Vec<String>, &str) = match target.strip_prefix('.') {
        Some(rest) => (
            // The path without its last key (and list index) is the containing mapping.
            path[..path.len().saturating_sub(1)]
                .iter()
                .map(|k| k.to_owned())
                .collect(),
            rest,
        ),
        None => (Vec::new(), target),
    };
    if relative.is_empty() {
        return Err(format!("empty reference ${{{target}}}"));
    }
    keys.extend(relative.split('.').map(str::to_owned));
    let mut node = root;
    for key in &keys {
        let (name, indexes) = match key.find('[') {
            Some(open) => (&key[..open], &key[open..]),
            None => (key.as_str(), ""),
        };
        if !name.is_empty() {
            node = node
                .get(name)
                .ok_or_else(|| format!("${{{target}}}: no key {name:?} in the module YAML"))?;
        }
        for index in indexes.split('[').skip(1) {
            let index: usize = index
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("${{{target}}}: bad list index in {key:?}"))?;
            node = node
                .get(index)
                .ok_or_else(|| format!("${{{target}}}: no item {index} in {name:?}"))?;
        }
    }
    // The referenced value may hold interpolations of its own.
    let mut inner_path = keys;
    resolve(root, node, &mut inner_path, depth + 1).map_err(|e| e.message)
}

fn as_text(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok("None".to_owned()),
        other => serialized(&other),
    }
}

/// A list or mapping as YAML text, stopped once the text passes what is left of the
/// expansion budget: indentation can make it far longer than the copy was counted.
fn serialized(value: &Value) -> Result<String, String> {
    struct Bounded {
        text: Vec<u8>,
        limit: usize,
        overflowed: bool,
    }
    impl std::io::Write for Bounded {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.text.len() + bytes.len() > self.limit {
                self.overflowed = true;
                return Err(std::io::Error::other(
                    "interpolation expansion budget spent",
                ));
            }
            self.text.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Bounded {
        text: Vec::new(),
        limit: BYTES_LEFT.get(),
        overflowed: false,
    };
    let written = serde_yaml::to_writer(&mut out, value);
    match written {
        // Checked first: a writer's error may not reach the result.
        _ if out.overflowed => Err(expanded_too_far()),
        Ok(()) => {
            let mut text = String::from_utf8(out.text).map_err(|e| e.to_string())?;
            text.truncate(text.trim_end().len());
            Ok(text)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// An environment variable's text where a whole value is `${oc.env:...}`: read as a
/// YAML scalar so that numbers and booleans keep their type.
fn typed(value: Value) -> Value {
    match value {
        Value::String(text) => scalar(&text),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(yaml: &str) -> Result<Value, ConfigError> {
        resolve_document(&serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn references_keep_their_type_and_splice_into_text() {
        let doc = resolved(
            r#"
parameters:
  object_min_size: 64
  label: car
  queues: {length: 3}
  derived: ${parameters.object_min_size}
pipeline:
  elements:
  - element: pyfunc
    kwargs:
      min_width: ${parameters.object_min_size}
      min_height: ${.min_width}
      text: "min ${parameters.object_min_size} px for ${parameters.label}"
      queues: ${parameters.queues}
      chained: ${parameters.derived}
"#,
        )
        .unwrap();
        let kwargs = &doc["pipeline"]["elements"][0]["kwargs"];
        assert_eq!(kwargs["min_width"], Value::from(64));
        assert_eq!(kwargs["min_height"], Value::from(64));
        assert_eq!(kwargs["text"], Value::from("min 64 px for car"));
        assert_eq!(kwargs["queues"]["length"], Value::from(3));
        assert_eq!(kwargs["chained"], Value::from(64));
    }

    #[test]
    fn environment_with_defaults_and_decode() {
        // Cargo sets CARGO_PKG_VERSION_MAJOR for the tests it runs (no set_var here:
        // other test threads read the environment).
        let major: u64 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
        let doc = resolved(
            r#"
a: ${oc.decode:${oc.env:CARGO_PKG_VERSION_MAJOR, 1280}}
b: ${oc.decode:${oc.env:GST_SAVANT_TEST_UNSET, 720}}
c: ${oc.env:GST_SAVANT_TEST_UNSET, 'INFO'}
d: ${oc.env:GST_SAVANT_TEST_UNSET, /models}
e: ${oc.decode:${oc.env:GST_SAVANT_TEST_UNSET, null}}
f: '${json:''{"codec": "h264"}''}'
g: ${oc.env:CARGO_PKG_VERSION_MAJOR}
"#,
        )
        .unwrap();
        assert_eq!(doc["a"], Value::from(major));
        assert_eq!(doc["b"], Value::from(720));
        assert_eq!(doc["c"], Value::from("INFO"));
        assert_eq!(doc["d"], Value::from("/models"));
        assert_eq!(doc["e"], Value::Null);
        assert_eq!(doc["f"]["codec"], Value::from("h264"));
        assert_eq!(doc["g"], Value::from(major));
    }

    fn fan_out() -> String {
        let mut yaml = String::from("l0: x\n");
        for level in 1..30 {
            let previous = level - 1;
            yaml.push_str(&format!(
                "l{level}: ['${{l{previous}}}', '${{l{previous}}}']\n"
            ));
        }
        yaml
    }

    #[test]
    fn errors_name_the_value_that_failed() {
        for (yaml, expected) in [
            (
                "a: {b: '${parameters.nope}'}",
                "a.b: ${parameters.nope}: no key \"parameters\"",
            ),
            ("a: ${b}\nb: ${a}\n", "nest deeper than 32"),
            (
                "a: [1, '${oc.env:GST_SAVANT_TEST_UNSET}']",
                "a[1]: environment variable GST_SAVANT_TEST_UNSET is not set",
            ),
            (
                "a: ${calc:'arg_0*2', 3}",
                "a: unsupported resolver \"calc\"",
            ),
            ("a: ${b", "a: unclosed '${'"),
            (
                // Each level doubles: 2^30 evaluations without the budget.
                fan_out().as_str(),
                "more than 100000 interpolations",
            ),
            ("a: 'é${éé'", "unclosed"),
        ] {
            let message = resolved(yaml).unwrap_err().to_string();
            assert!(message.contains(expected), "{yaml}: {message}");
        }
    }

    #[test]
    fn references_that_double_in_size_stop_at_the_expansion_cap_naming_the_key() {
        // A kilobyte doubled 40 times is a terabyte, asked for in under 2000
        // evaluations: the byte cap, not the evaluation budget, stops it (at l10).
        let mut yaml = format!("l0: {}\n", "x".repeat(1024));
        for level in 1..=40 {
            let previous = level - 1;
            yaml.push_str(&format!("l{level}: '${{l{previous}}}${{l{previous}}}'\n"));
        }
        let started = std::time::Instant::now();
        let message = resolved(&yaml).unwrap_err().to_string();
        assert_eq!(
            message,
            "l10: interpolation expands past 16 MiB (references that double in size?)"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_document_just_under_the_expansion_cap_resolves() {
        // 16 references that each copy a 16th of the cap (the string and its node).
        let length = MAX_EXPANDED_BYTES / 16 - NODE_BYTES;
        let mut yaml = format!("base: {}\nempty: ''\ncopies:\n", "x".repeat(length));
        for _ in 0..16 {
            yaml.push_str("- '${base}'\n");
        }
        let doc = resolved(&yaml).unwrap();
        assert_eq!(doc["copies"][15].as_str().map(str::len), Some(length));
        // The cap is spent: one more copy, even of an empty string, passes it.
        yaml.push_str("- 'more: ${empty}'\n");
        let message = resolved(&yaml).unwrap_err().to_string();
        assert_eq!(
            message,
            "copies[16]: interpolation expands past 16 MiB (references that double in size?)"
        );
    }

    #[test]
    fn a_list_spliced_into_text_counts_against_the_expansion_cap() {
        // Each copy of the list is small; its text, spliced 4096 times, is not.
        let item = format!("'{}'", "x".repeat(64));
        let items = std::iter::repeat_n(item.as_str(), 128).collect::<Vec<_>>();
        let mut yaml = format!("items: [{}]\ntexts:\n", items.join(", "));
        for _ in 0..4096 {
            yaml.push_str("- 'all: ${items}'\n");
        }
        let message = resolved(&yaml).unwrap_err().to_string();
        assert!(
            message.starts_with("texts[") && message.contains("expands past 16 MiB"),
            "{message}"
        );
    }

    #[test]
    fn arbitrary_interpolation_text_never_panics() {
        const TOKENS: &[&str] = &[
            "${",
            "}",
            "{",
            ".",
            "a",
            "b",
            "oc.env:",
            "oc.decode:",
            "json:",
            ",",
            "'",
            "\"",
            "[",
            "]",
            "[0]",
            "\\",
            "é",
            " ",
            "null",
            "1",
            ":",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(next() % 12) {
                text.push_str(TOKENS[(next() % TOKENS.len() as u64) as usize]);
            }
            let mut map = Mapping::new();
            map.insert("a".into(), Value::String(text.clone()));
            map.insert("b".into(), Value::Sequence(vec![Value::String(text)]));
            let _ = resolve_document(&Value::Mapping(map));
        }
    }
}
