//! Frame attributes: str -> str/int/float/bool that travel with the buffer as a
//! GstCustomMeta, so any GStreamer element or app can read them
//! (`gst_buffer_get_custom_meta(buf, "SavantFrameAttributes")`).

use gst::prelude::*;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

pub const META_NAME: &str = "SavantFrameAttributes";
const STRUCTURE_NAME: &str = "savant-attributes";

/// Registers the meta; called from plugin_init. No tags: the meta is copied whenever
/// a buffer is copied, whatever happens to its memory.
pub fn register() {
    if !gst::meta::CustomMeta::is_registered(META_NAME) {
        gst::meta::CustomMeta::register(META_NAME, &[]);
    }
}

/// The buffer's attributes, or None when it has none.
pub fn read(buffer: &gst::BufferRef) -> Option<gst::Structure> {
    gst::meta::CustomMeta::from_buffer(buffer, META_NAME)
        .ok()
        .map(|meta| meta.structure().to_owned())
}

/// Replaces the buffer's attributes; an empty set removes the meta.
pub fn write(buffer: &mut gst::BufferRef, attributes: gst::Structure) {
    if let Ok(meta) = gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME) {
        if attributes.n_fields() == 0 {
            let _ = meta.remove();
            return;
        }
        let mut meta = meta;
        replace_fields(meta.mut_structure(), attributes);
        return;
    }
    if attributes.n_fields() == 0 {
        return;
    }
    if let Ok(mut meta) = gst::meta::CustomMeta::add(buffer, META_NAME) {
        replace_fields(meta.mut_structure(), attributes);
    }
}

fn replace_fields(target: &mut gst::StructureRef, source: gst::Structure) {
    let stale: Vec<_> = target.fields().map(|f| f.to_owned()).collect();
    for name in &stale {
        target.remove_field(name.as_str());
    }
    for (name, value) in source.iter() {
        target.set_value(name, value.clone());
    }
}

/// A structure's fields as a dict: numbers, strings and booleans as themselves, any
/// other GValue (caps, segments, fractions) as its serialized text.
pub fn to_py_dict<'py>(
    py: Python<'py>,
    structure: Option<&gst::StructureRef>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let Some(structure) = structure else {
        return Ok(dict);
    };
    for (name, value) in structure.iter() {
        dict.set_item(name.as_str(), value_to_py(py, value)?)?;
    }
    Ok(dict)
}

fn value_to_py<'py>(py: Python<'py>, value: &gst::glib::SendValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(if let Ok(v) = value.get::<bool>() {
        PyBool::new(py, v).to_owned().into_any()
    } else if let Ok(v) = value.get::<i64>() {
        v.into_pyobject(py)?.into_any()
    } else if let Ok(v) = value.get::<i32>() {
        v.into_pyobject(py)?.into_any()
    } else if let Ok(v) = value.get::<u32>() {
        v.into_pyobject(py)?.into_any()
    } else if let Ok(v) = value.get::<u64>() {
        v.into_pyobject(py)?.into_any()
    } else if let Ok(v) = value.get::<f64>() {
        v.into_pyobject(py)?.into_any()
    } else if let Ok(v) = value.get::<&str>() {
        v.into_pyobject(py)?.into_any()
    } else {
        value
            .serialize()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .into_pyobject(py)?
            .into_any()
    })
}

pub fn from_py_dict(dict: &Bound<'_, PyDict>) -> PyResult<gst::Structure> {
    let mut structure = gst::Structure::new_empty(STRUCTURE_NAME);
    for (key, value) in dict.iter() {
        let key = key.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "frame.attributes keys must be str, got {}",
                type_name(&key)
            ))
        })?;
        let key = key.to_str()?;
        // bool before int: Python's bool is an int.
        if let Ok(v) = value.cast::<PyBool>() {
            structure.set(key, v.is_true());
        } else if value.is_instance_of::<PyInt>() {
            let v: i64 = value.extract().map_err(|_| {
                PyTypeError::new_err(format!("frame.attributes['{key}'] does not fit in 64 bits"))
            })?;
            structure.set(key, v);
        } else if value.is_instance_of::<PyFloat>() {
            structure.set(key, value.extract::<f64>()?);
        } else if let Ok(v) = value.cast::<PyString>() {
            structure.set(key, v.to_str()?);
        } else {
            return Err(PyTypeError::new_err(format!(
                "frame.attributes['{key}'] must be str, int, float or bool, got {}",
                type_name(&value)
            )));
        }
    }
    Ok(structure)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Field-wise equality, ignoring the structure names.
pub fn same_fields(a: &gst::StructureRef, b: &gst::StructureRef) -> bool {
    a.n_fields() == b.n_fields()
        && a.iter().all(|(name, value)| {
            b.value(name)
                .is_ok_and(|other| value.compare(other) == Some(std::cmp::Ordering::Equal))
        })
}
