//! Python values as GValues and back: what attributes and object fields accept (the
//! builtins and numpy's scalars), and the GType a changed value is written in.

use gst::glib;
use gst::prelude::*;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use super::value_text;

/// A value Python code may store, after numpy scalars were unwrapped.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
}

/// `value` as a Scalar, or None when it is none of bool, int, float, str (builtin or
/// numpy). `what` names the value in errors, e.g. "frame.attributes['x']".
pub fn scalar(value: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<Option<Scalar>> {
    // bool before int: Python's bool is an int.
    if value.is_exact_instance_of::<PyBool>() {
        return Ok(Some(Scalar::Bool(value.is_truthy()?)));
    }
    if value.is_instance_of::<PyInt>() {
        return int(value, what).map(Some);
    }
    if let Ok(v) = value.cast::<PyFloat>() {
        return Ok(Some(Scalar::Float(v.value())));
    }
    if let Ok(v) = value.cast::<PyString>() {
        return Ok(Some(Scalar::Str(text(v, what)?)));
    }
    numpy_scalar(value, what)
}

fn int(value: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<Scalar> {
    value
        .extract::<i64>()
        .map(i128::from)
        .or_else(|_| value.extract::<u64>().map(i128::from))
        .map(Scalar::Int)
        .map_err(|_| PyValueError::new_err(format!("{} = {value} does not fit in 64 bits", what())))
}

/// numpy's bool_, integer and floating scalars (what `arr.any()`, `arr[i]` and
/// `arr.mean()` return). numpy is only looked at for values of its own types.
fn numpy_scalar(value: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<Option<Scalar>> {
    if !is_numpy(value) {
        return Ok(None);
    }
    let numpy = value.py().import("numpy")?;
    if value.is_instance(&numpy.getattr("bool_")?)? {
        return Ok(Some(Scalar::Bool(value.is_truthy()?)));
    }
    if value.is_instance(&numpy.getattr("integer")?)? {
        return int(value, what).map(Some);
    }
    if value.is_instance(&numpy.getattr("floating")?)? {
        return Ok(Some(Scalar::Float(value.extract::<f64>()?)));
    }
    Ok(None)
}

fn is_numpy(value: &Bound<'_, PyAny>) -> bool {
    value
        .get_type()
        .module()
        .is_ok_and(|m| m.to_str().is_ok_and(|m| m == "numpy"))
}

/// True, False or None as a verdict (None passes), numpy's bool_ included; None for
/// anything else. The builtins are checked first: they are what almost every call
/// returns.
pub fn keeps_frame(value: &Bound<'_, PyAny>) -> Option<bool> {
    let py = value.py();
    if value.is_none() || value.is(PyBool::new(py, true)) {
        return Some(true);
    }
    if value.is(PyBool::new(py, false)) {
        return Some(false);
    }
    if !is_numpy(value) {
        return None;
    }
    let bool_type = py.import("numpy").and_then(|n| n.getattr("bool_")).ok()?;
    if value.is_instance(&bool_type).unwrap_or(false) {
        value.is_truthy().ok()
    } else {
        None
    }
}

/// A str GStreamer can store: GStreamer strings end at the first NUL, so a NUL would
/// silently cut the text (and make keys collide).
pub fn text(value: &Bound<'_, PyString>, what: &dyn Fn() -> String) -> PyResult<String> {
    let text = value.to_str()?;
    if text.contains('\0') {
        return Err(PyValueError::new_err(format!(
            "{} contains a NUL character, which GStreamer strings cannot hold",
            what()
        )));
    }
    Ok(text.to_owned())
}

/// `value` (an attribute's new value) as a GValue. `previous` is the GType the field had
/// before: a changed value keeps it when the new value reads back as exactly the same
/// Python value (an int in a guint field, a float that a gfloat holds exactly);
/// otherwise ints are gint64 (guint64 above its range), floats gdouble.
pub fn to_value(
    value: &Bound<'_, PyAny>,
    previous: Option<glib::Type>,
    what: &dyn Fn() -> String,
) -> PyResult<glib::SendValue> {
    let Some(scalar) = scalar(value, what)? else {
        return Err(PyTypeError::new_err(format!(
            "{} must be str, int, float or bool, got {}",
            what(),
            type_name(value)
        )));
    };
    if let (Scalar::Str(text), Some(previous)) = (&scalar, previous) {
        if let Some(value) = same_type_from_text(text, previous) {
            return Ok(value);
        }
    }
    Ok(scalar_to_value(scalar, previous))
}

/// A field Python saw as text (a fraction, caps, ...), changed to text that GStreamer
/// reads back as a value of the field's type with exactly that text: `"2/3"` stays a
/// fraction. Anything else becomes a string.
fn same_type_from_text(text: &str, previous: glib::Type) -> Option<glib::SendValue> {
    if previous == glib::Type::STRING || is_scalar_type(previous) {
        return None;
    }
    // Text that GStreamer's recursive parser cannot take safely stays a string (it
    // never read back the same anyway: such values are not shown as text).
    value_text::check(text, value_text::MAX_VALUE_TEXT_BYTES).ok()?;
    let value = glib::Value::deserialize(text, previous).ok()?;
    if value_text::render(&value).ok()? != text {
        return None;
    }
    // SAFETY: SendValue is Value marked Send. GStreamer deserializes only value types
    // (fractions, caps, arrays, ranges, structures, dates, enums), which structures
    // share between threads; the field being replaced held one of the same type.
    Some(unsafe {
        <glib::SendValue as glib::translate::UnsafeFrom<_>>::unsafe_from(value.into_raw())
    })
}

fn is_scalar_type(t: glib::Type) -> bool {
    [
        glib::Type::BOOL,
        glib::Type::I8,
        glib::Type::U8,
        glib::Type::I_LONG,
        glib::Type::U_LONG,
        glib::Type::I32,
        glib::Type::U32,
        glib::Type::I64,
        glib::Type::U64,
        glib::Type::F32,
        glib::Type::F64,
    ]
    .contains(&t)
}

pub fn scalar_to_value(scalar: Scalar, previous: Option<glib::Type>) -> glib::SendValue {
    match scalar {
        Scalar::Bool(v) => v.to_send_value(),
        Scalar::Int(v) => int_value(v, previous),
        Scalar::Float(v) => {
            if previous == Some(glib::Type::F32) && f64::from(v as f32).to_bits() == v.to_bits() {
                (v as f32).to_send_value()
            } else {
                v.to_send_value()
            }
        }
        Scalar::Str(v) => v.to_send_value(),
    }
}

fn int_value(v: i128, previous: Option<glib::Type>) -> glib::SendValue {
    match previous {
        Some(t) if t == glib::Type::I32 => {
            if let Ok(v) = i32::try_from(v) {
                return v.to_send_value();
            }
        }
        Some(t) if t == glib::Type::U32 => {
            if let Ok(v) = u32::try_from(v) {
                return v.to_send_value();
            }
        }
        Some(t) if t == glib::Type::U64 => {
            if let Ok(v) = u64::try_from(v) {
                return v.to_send_value();
            }
        }
        Some(t) if t == glib::Type::I8 => {
            if let Ok(v) = i8::try_from(v) {
                return v.to_send_value();
            }
        }
        Some(t) if t == glib::Type::U8 => {
            if let Ok(v) = u8::try_from(v) {
                return v.to_send_value();
            }
        }
        Some(t) if t == glib::Type::I_LONG => {
            if let Ok(v) = libc::c_long::try_from(v) {
                return glib::ILong(v).to_send_value();
            }
        }
        Some(t) if t == glib::Type::U_LONG => {
            if let Ok(v) = libc::c_ulong::try_from(v) {
                return glib::ULong(v).to_send_value();
            }
        }
        _ => {}
    }
    match i64::try_from(v) {
        Ok(v) => v.to_send_value(),
        // scalar() only makes ints that fit in i64 or u64.
        Err(_) => (v as u64).to_send_value(),
    }
}

/// A GValue as Python sees it: numbers, strings and booleans as themselves, anything
/// else (fractions, caps, arrays, ...) as GStreamer's text for it.
///
/// # Errors
///
/// ValueError for a value nested deeper than `value_text::MAX_NESTING` or whose text
/// would pass `value_text::MAX_VALUE_TEXT_BYTES` (see `value_text`); the message
/// reads after the value's name.
pub fn to_py<'py>(py: Python<'py>, value: &glib::Value) -> PyResult<Bound<'py, PyAny>> {
    let t = value.type_();
    Ok(if t == glib::Type::BOOL {
        PyBool::new(py, value.get::<bool>().unwrap_or_default())
            .to_owned()
            .into_any()
    } else if t == glib::Type::I64 {
        value
            .get::<i64>()
            .unwrap_or_default()
            .into_pyobject(py)?
            .into_any()
    } else if t == glib::Type::I32 {
        value
            .get::<i32>()
            .unwrap_or_default()
            .into_pyobject(py)?
            .into_any()
    } else if t == glib::Type::U32 {
        value
            .get::<u32>()
            .unwrap_or_default()
            .into_pyobject(py)?
            .into_any()
    } else if t == glib::Type::U64 {
        value
            .get::<u64>()
            .unwrap_or_default()
            .into_pyobject(py)?
            .into_any()
    } else if t == glib::Type::I8 || t == glib::Type::I_LONG {
        // GLib converts between its integer types.
        match value.transform::<i64>() {
            Ok(v) => v
                .get::<i64>()
                .unwrap_or_default()
                .into_pyobject(py)?
                .into_any(),
            Err(_) => py.None().into_bound(py),
        }
    } else if t == glib::Type::U8 || t == glib::Type::U_LONG {
        match value.transform::<u64>() {
            Ok(v) => v
                .get::<u64>()
                .unwrap_or_default()
                .into_pyobject(py)?
                .into_any(),
            Err(_) => py.None().into_bound(py),
        }
    } else if t == glib::Type::F64 {
        value
            .get::<f64>()
            .unwrap_or_default()
            .into_pyobject(py)?
            .into_any()
    } else if t == glib::Type::F32 {
        // Exact: every f32 is an f64.
        f64::from(value.get::<f32>().unwrap_or_default())
            .into_pyobject(py)?
            .into_any()
    } else if t == glib::Type::STRING {
        match value.get::<Option<&str>>().ok().flatten() {
            Some(v) => v.into_pyobject(py)?.into_any(),
            None => py.None().into_bound(py),
        }
    } else {
        value_text::render(value)
            .map_err(|e| PyValueError::new_err(format!("({}) {e}", t.name())))?
            .into_pyobject(py)?
            .into_any()
    })
}

/// Whether Python code left a value as it was handed out: the same object, or an
/// equal one of the same type (floats compared bit for bit, so -0.0 is a change).
pub fn unchanged(current: &Bound<'_, PyAny>, original: &Bound<'_, PyAny>) -> PyResult<bool> {
    if current.is(original) {
        return Ok(true);
    }
    if !current.get_type().is(original.get_type()) {
        return Ok(false);
    }
    if let (Ok(a), Ok(b)) = (current.cast::<PyFloat>(), original.cast::<PyFloat>()) {
        return Ok(a.value().to_bits() == b.value().to_bits());
    }
    current.eq(original)
}

pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}
