//! `override_draw_spec(object, spec)`: a spec's YAML as a Python dict and back. Only
//! savantdrawfunc needs it, and only for a hook that defines `override_draw_spec`.

use serde_yaml::{Mapping, Value};

/// A spec's YAML as Python sees it in `override_draw_spec`: dicts, lists, strings,
/// numbers, booleans and None.
pub fn value_to_py<'py>(
    py: pyo3::Python<'py>,
    value: &Value,
) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyList};
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => pyo3::types::PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(f)) => f.into_pyobject(py)?.into_any(),
            _ => py.None().into_bound(py),
        },
        Value::String(text) => text.into_pyobject(py)?.into_any(),
        Value::Sequence(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Mapping(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(value_to_py(py, key)?, value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
        Value::Tagged(tagged) => value_to_py(py, &tagged.value)?,
    })
}

/// What `override_draw_spec` returned, back as YAML for the spec parser; `path`
/// names the place in errors.
pub fn py_to_value(value: &pyo3::Bound<'_, pyo3::PyAny>, path: &str) -> Result<Value, String> {
    py_to_value_within(value, path, 0)
}

/// Deeper than any spec (object -> bbox -> padding is 3): a dict that contains
/// itself must be an error, not a stack overflow.
const MAX_SPEC_DEPTH: usize = 16;

fn py_to_value_within(
    value: &pyo3::Bound<'_, pyo3::PyAny>,
    path: &str,
    depth: usize,
) -> Result<Value, String> {
    use pyo3::prelude::*;
    if depth > MAX_SPEC_DEPTH {
        return Err(format!(
            "{path}: nested deeper than {MAX_SPEC_DEPTH} levels"
        ));
    }
    use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        let i: i64 = value
            .extract()
            .map_err(|_| format!("{path}: integer out of range"))?;
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(Value::Number(f.value().into()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Value::String(text.to_string()));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in value.try_iter().map_err(|e| e.to_string())?.enumerate() {
            let item = item.map_err(|e| e.to_string())?;
            items.push(py_to_value_within(
                &item,
                &format!("{path}[{i}]"),
                depth + 1,
            )?);
        }
        return Ok(Value::Sequence(items));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = Mapping::new();
        for (key, item) in dict.iter() {
            let key: String = key
                .extract()
                .map_err(|_| format!("{path}: keys must be str"))?;
            let item = py_to_value_within(&item, &format!("{path}.{key}"), depth + 1)?;
            map.insert(Value::String(key), item);
        }
        return Ok(Value::Mapping(map));
    }
    Err(format!(
        "{path}: {} is not a spec value (dict, list, str, number, bool or None)",
        value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    ))
}
