//! The `kwargs` property: a YAML (or JSON, which is YAML) mapping turned into the
//! keyword arguments of the user's constructor.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_yaml::Value;

/// Parses `text` into a YAML mapping. Empty text or `null` means no kwargs.
///
/// # Errors
///
/// Text that is not YAML, or YAML that is not a mapping with string keys.
pub fn parse(text: &str) -> Result<serde_yaml::Mapping, String> {
    if text.trim().is_empty() {
        return Ok(serde_yaml::Mapping::new());
    }
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(map)) => {
            if let Some(key) = map.keys().find(|k| !k.is_string()) {
                return Err(format!(
                    "kwargs keys must be strings, got {}",
                    describe(key)
                ));
            }
            Ok(map)
        }
        Ok(Value::Null) => Ok(serde_yaml::Mapping::new()),
        Ok(other) => Err(format!(
            "kwargs must be a YAML/JSON mapping, got {}",
            describe(&other)
        )),
        Err(e) => Err(format!("kwargs is not valid YAML/JSON: {e}")),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a tagged value ({})", t.tag),
    }
}

/// The mapping as a Python dict, ready for `cls(**kwargs)`.
///
/// # Errors
///
/// A Python error while building the dict (memory), or a value that has no
/// Python counterpart (a tagged value).
pub fn to_py_dict<'py>(py: Python<'py>, map: &serde_yaml::Mapping) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in map {
        dict.set_item(to_py(py, key)?, to_py(py, value)?)?;
    }
    Ok(dict)
}

fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Sequence(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Mapping(map) => to_py_dict(py, map)?.into_any(),
        // A YAML tag (`!foo x`) has no Python meaning here; keep the value.
        Value::Tagged(tagged) => to_py(py, &tagged.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_yaml_and_json_mappings() {
        assert_eq!(parse("a: 1\nb: [x, y]").unwrap().len(), 2);
        assert_eq!(parse(r#"{"a": 1, "b": "c"}"#).unwrap().len(), 2);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("null").unwrap().is_empty());
    }

    #[test]
    fn rejects_non_mappings_and_bad_syntax_with_a_reason() {
        assert!(parse("[1, 2]").unwrap_err().contains("got a list"));
        assert!(parse("42").unwrap_err().contains("got a number"));
        assert!(parse("a: [1, 2").unwrap_err().contains("not valid YAML"));
        assert!(parse("1: x").unwrap_err().contains("keys must be strings"));
    }
}
