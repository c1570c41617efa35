//! The message savantpublish makes of a frame: JSON in a versioned schema
//! ([`SCHEMA`]), written straight from the frame's metas (nothing copied on the way),
//! or the dict a `to_message(frame)` hook returned.
//!
//! ```json
//! {"schema":"savant-gst.frame/1","source_id":"cam-1","frame_num":17,
//!  "pts":566666666,"running_time":566666666,"width":640,"height":480,
//!  "objects":[{"id":0,"parent_id":null,"label":"car","model":"detector",
//!              "box":{"x":10,"y":20,"width":64,"height":48},"confidence":0.91,
//!              "track_id":7,"attributes":{"color":"red"}}],
//!  "attributes":{"zone":"entry"}}
//! ```
//!
//! Values in attributes: booleans, numbers and strings as JSON; GStreamer arrays and
//! lists as arrays, structures as objects; anything else as GStreamer's own text of
//! it, or `null` where that text would pass the bounds Python's view of a value has
//! (`frame::value_text`: 1 MiB, 32 levels). Non-finite floats are `null` (JSON has
//! no NaN). Nesting deeper than [`MAX_DEPTH`] is `null`: crafted metadata cannot
//! make the writer recurse without end, nor build text without bound.

use std::ops::ControlFlow;

use gst::glib;
use gst::prelude::*;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};

use serde::{Serialize, Serializer};

use crate::frame::attributes;
use crate::frame::objects;
use crate::frame::value_text;

/// The schema's name and version; a change that removes or renames a field is a
/// new version.
pub const SCHEMA: &str = "savant-gst.frame/1";
/// Deepest nesting written (attributes' arrays and structures, a hook's dicts).
pub const MAX_DEPTH: usize = 32;

/// What a message says of its frame besides the metas.
#[derive(Debug, Clone, Copy)]
pub struct FrameInfo<'a> {
    pub source_id: Option<&'a str>,
    pub frame_num: u64,
    pub pts: Option<u64>,
    pub running_time: Option<u64>,
    pub width: u32,
    pub height: u32,
}

/// Writes `buffer`'s message in the schema into `out` (cleared first).
pub fn write_frame(buffer: &gst::BufferRef, info: &FrameInfo<'_>, out: &mut Vec<u8>) {
    out.clear();
    let json = &mut Json(out);
    json_object!(json, {
        "schema": SCHEMA,
        "source_id": info.source_id,
        "frame_num": info.frame_num,
        "pts": info.pts,
        "running_time": info.running_time,
        "width": info.width,
        "height": info.height,
        "objects": ObjectsOf(buffer),
        "attributes": attributes::read(buffer).map(|a| Fields(a, 0)),
    });
}

/// The frame's objects as an array of the schema's objects.
struct ObjectsOf<'a>(&'a gst::BufferRef);

impl ToJson for ObjectsOf<'_> {
    fn write(&self, json: &mut Json<'_>) {
        json.raw(b"[");
        let mut first = true;
        objects::visit(self.0, |o| {
            if !std::mem::take(&mut first) {
                json.raw(b",");
            }
            json_object!(json, {
                "id": o.id,
                "parent_id": o.parent_id,
                "label": o.label,
                "model": o.model,
                "box": { "x": o.x, "y": o.y, "width": o.w, "height": o.h },
                "confidence": o.confidence,
                "track_id": o.track_id,
                "attributes": o.attributes.map(|a| Fields(a, 1)),
            });
        });
        json.raw(b"]");
    }
}

/// Writes an object of the schema: `json_object!(json, { "key": value, "inner": { ... } })`.
/// A macro, not a table of `(&str, &dyn ToJson)`: each key with its quotes, colon and
/// comma is one literal, and each value's writer is called directly. The table took
/// 5.9 µs for a frame of 20 objects where this takes 3.9 (`timing` below).
macro_rules! json_object {
    ($json:expr, { $($fields:tt)* }) => {{
        let json: &mut Json<'_> = $json;
        json.raw(b"{");
        json_object!(@fields json [""] $($fields)*);
        json.raw(b"}");
    }};
    (@fields $json:ident [$sep:literal]) => {};
    (@fields $json:ident [$sep:literal] $key:literal : { $($inner:tt)* } $(, $($rest:tt)*)?) => {
        $json.raw(concat!($sep, "\"", $key, "\":").as_bytes());
        json_object!(&mut *$json, { $($inner)* });
        json_object!(@fields $json [","] $($($rest)*)?);
    };
    (@fields $json:ident [$sep:literal] $key:literal : $value:expr $(, $($rest:tt)*)?) => {
        $json.raw(concat!($sep, "\"", $key, "\":").as_bytes());
        ToJson::write(&$value, $json);
        json_object!(@fields $json [","] $($($rest)*)?);
    };
}
use json_object;

/// A value the schema writes: the fields of [`write_frame`] are a table of these.
trait ToJson {
    fn write(&self, json: &mut Json<'_>);
}

impl ToJson for u64 {
    fn write(&self, json: &mut Json<'_>) {
        json.raw(itoa::Buffer::new().format(*self).as_bytes());
    }
}

impl ToJson for i64 {
    fn write(&self, json: &mut Json<'_>) {
        json.raw(itoa::Buffer::new().format(*self).as_bytes());
    }
}

impl ToJson for u32 {
    fn write(&self, json: &mut Json<'_>) {
        u64::from(*self).write(json);
    }
}

/// Non-finite floats are null: JSON has no NaN.
impl ToJson for f64 {
    fn write(&self, json: &mut Json<'_>) {
        if self.is_finite() {
            json.raw(zmij::Buffer::new().format_finite(*self).as_bytes());
        } else {
            json.null();
        }
    }
}

impl ToJson for &str {
    fn write(&self, json: &mut Json<'_>) {
        json.str(self);
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write(&self, json: &mut Json<'_>) {
        match self {
            Some(v) => v.write(json),
            None => json.null(),
        }
    }
}

/// A structure's fields as an object, at a nesting depth.
struct Fields<'a>(&'a gst::StructureRef, usize);

impl ToJson for Fields<'_> {
    fn write(&self, json: &mut Json<'_>) {
        json.fields(self.0, self.1);
    }
}

/// A JSON writer for the schema: its keys are written as they are (they need no
/// escaping), values through itoa and zmij (the integer and float formatters
/// serde_json uses), strings escaped here. serde's derive spent 70% of a message
/// (20 objects) escaping the same keys again on every frame.
struct Json<'a>(&'a mut Vec<u8>);

impl Json<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn null(&mut self) {
        self.raw(b"null");
    }

    fn put(&mut self, value: impl ToJson) {
        value.write(self);
    }

    /// A JSON string: `"`, `\` and control characters escaped (RFC 8259), the rest
    /// as it is (Rust strings are UTF-8).
    fn str(&mut self, v: &str) {
        let out = &mut *self.0;
        out.push(b'"');
        let bytes = v.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            out.extend_from_slice(&bytes[start..i]);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            } else {
                out.extend_from_slice(escape);
            }
            start = i + 1;
        }
        out.extend_from_slice(&bytes[start..]);
        out.push(b'"');
    }

    /// A structure's fields as an object, at nesting `depth`.
    fn fields(&mut self, structure: &gst::StructureRef, depth: usize) {
        if depth >= MAX_DEPTH {
            return self.null();
        }
        self.raw(b"{");
        let mut first = true;
        attributes::for_each_field(structure, |quark, value| {
            if !std::mem::take(&mut first) {
                self.raw(b",");
            }
            self.str(quark.as_str().as_str());
            self.raw(b":");
            self.value(value, depth + 1);
            ControlFlow::Continue(())
        });
        self.raw(b"}");
    }

    /// A GValue: dispatched on its type once (a failed `get` is a type check each).
    fn value(&mut self, value: &glib::Value, depth: usize) {
        if depth >= MAX_DEPTH {
            return self.null();
        }
        use glib::gobject_ffi as ffi;
        use glib::translate::ToGlibPtr;
        let raw: *const glib::gobject_ffi::GValue = value.to_glib_none().0;
        // SAFETY: each getter is called for a value of exactly its type (matched
        // on the value's type just before): what `Value::get` checks again, a
        // GType check per value otherwise.
        match value.type_() {
            glib::Type::BOOL => {
                let v = unsafe { ffi::g_value_get_boolean(raw) } != 0;
                self.raw(if v { b"true" } else { b"false" });
            }
            glib::Type::I32 => self.put(i64::from(unsafe { ffi::g_value_get_int(raw) })),
            glib::Type::U32 => self.put(u64::from(unsafe { ffi::g_value_get_uint(raw) })),
            glib::Type::I64 => self.put(unsafe { ffi::g_value_get_int64(raw) }),
            glib::Type::U64 => self.put(unsafe { ffi::g_value_get_uint64(raw) }),
            glib::Type::F64 => self.put(unsafe { ffi::g_value_get_double(raw) }),
            glib::Type::F32 => self.put(f64::from(unsafe { ffi::g_value_get_float(raw) })),
            glib::Type::STRING => self.put(value.get::<Option<&str>>().unwrap_or(None)),
            _ => {
                if let Ok(array) = value.get::<gst::ArrayRef>() {
                    self.values(array.as_slice(), depth);
                } else if let Ok(list) = value.get::<gst::ListRef>() {
                    self.values(list.as_slice(), depth);
                } else if let Ok(structure) = value.get::<&gst::StructureRef>() {
                    self.fields(structure, depth);
                } else {
                    // Bounded as Python's view of a value is: caps nested in a
                    // structure nested in caps ... double GStreamer's text per level
                    // (24 levels of a few bytes each: a gigabyte and minutes of work).
                    let text = value_text::text_size(value)
                        .ok()
                        .and_then(|_| value.serialize().ok());
                    match text {
                        Some(text) => self.str(text.as_str()),
                        None => self.null(),
                    }
                }
            }
        }
    }

    fn values(&mut self, items: &[glib::SendValue], depth: usize) {
        self.raw(b"[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            self.value(item, depth + 1);
        }
        self.raw(b"]");
    }
}

fn finite<S: Serializer>(serializer: S, v: f64) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        serializer.serialize_f64(v)
    } else {
        serializer.serialize_none()
    }
}

/// A hook's returned dict as JSON into `out` (cleared first). Keys must be str;
/// values None, bool, int, float, str, list, tuple or dict (numpy scalars through
/// their `item()`), at most [`MAX_DEPTH`] deep. The error names the first value
/// that is none of these.
///
/// # Errors
///
/// A value of another type, a non-str key, nesting too deep, or an int beyond 64 bits.
pub fn write_py(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    serde_json::to_writer(out, &PyJson(value, 0, "message")).map_err(|e| e.to_string())
}

/// A Python value as JSON: the value, its depth, and where it is (for errors).
struct PyJson<'a, 'py>(&'a Bound<'py, PyAny>, usize, &'a str);

impl Serialize for PyJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (value, depth, path) = (self.0, self.1, self.2);
        if depth > MAX_DEPTH {
            return Err(S::Error::custom(format!(
                "{path}: nested deeper than {MAX_DEPTH}"
            )));
        }
        if value.is_none() {
            return serializer.serialize_none();
        }
        if value.is_exact_instance_of::<PyBool>() {
            return serializer.serialize_bool(value.is_truthy().map_err(S::Error::custom)?);
        }
        if value.is_instance_of::<PyInt>() {
            if let Ok(v) = value.extract::<i64>() {
                return serializer.serialize_i64(v);
            }
            if let Ok(v) = value.extract::<u64>() {
                return serializer.serialize_u64(v);
            }
            return Err(S::Error::custom(format!("{path}: int beyond 64 bits")));
        }
        if let Ok(v) = value.cast::<PyFloat>() {
            return finite(serializer, v.value());
        }
        if let Ok(v) = value.cast::<PyString>() {
            return serializer.serialize_str(&v.to_cow().map_err(S::Error::custom)?);
        }
        if let Ok(dict) = value.cast::<PyDict>() {
            let mut map = serializer.serialize_map(Some(dict.len()))?;
            for (key, item) in dict.iter() {
                let Ok(key) = key.cast::<PyString>() else {
                    return Err(S::Error::custom(format!(
                        "{path}: keys must be str, got {}",
                        crate::frame::values::type_name(&key)
                    )));
                };
                let key = key.to_cow().map_err(S::Error::custom)?;
                let inner = format!("{path}[{key:?}]");
                map.serialize_entry(&*key, &PyJson(&item, depth + 1, &inner))?;
            }
            return map.end();
        }
        if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
            let len = value.len().map_err(S::Error::custom)?;
            let mut seq = serializer.serialize_seq(Some(len))?;
            for (i, item) in value.try_iter().map_err(S::Error::custom)?.enumerate() {
                let item = item.map_err(S::Error::custom)?;
                let inner = format!("{path}[{i}]");
                seq.serialize_element(&PyJson(&item, depth + 1, &inner))?;
            }
            return seq.end();
        }
        // numpy scalars (np.float32, np.int64, np.bool_): their Python value.
        if value.hasattr("item").unwrap_or(false) && value.hasattr("dtype").unwrap_or(false) {
            if let Ok(item) = value.call_method0("item") {
                if !item.hasattr("dtype").unwrap_or(true) {
                    return PyJson(&item, depth + 1, path).serialize(serializer);
                }
            }
        }
        Err(S::Error::custom(format!(
            "{path}: {} is not JSON (use None, bool, int, float, str, list or dict)",
            crate::frame::values::type_name(value)
        )))
    }
}

/// Adds a detected "car" (confidence 0.5) with its track id and model.
#[cfg(test)]
fn add_object<'a>(
    buffer: &'a mut gst::BufferRef,
    rect: (u32, u32, u32, u32),
    track_id: i64,
    model: &str,
) -> gst::MetaRefMut<'a, gst_video::VideoRegionOfInterestMeta, gst::meta::Standalone> {
    let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, "car", rect);
    meta.add_param(
        gst::Structure::builder(objects::DETECTION)
            .field("confidence", 0.5f64)
            .build(),
    );
    meta.add_param(
        gst::Structure::builder(objects::SAVANT_OBJECT)
            .field("track-id", track_id)
            .field("model", model)
            .build(),
    );
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer_with_object() -> gst::Buffer {
        gst::init().unwrap();
        crate::frame::attributes::register();
        crate::frame::objects::register();
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        add_object(buffer.get_mut().unwrap(), (10, 20, 64, 48), 7, "detector");
        buffer
    }

    #[test]
    fn writes_the_schema() {
        let buffer = buffer_with_object();
        let mut out = Vec::new();
        let info = FrameInfo {
            source_id: Some("cam-1"),
            frame_num: 3,
            pts: Some(40),
            running_time: None,
            width: 640,
            height: 480,
        };
        write_frame(&buffer, &info, &mut out);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["source_id"], "cam-1");
        assert_eq!(json["frame_num"], 3);
        assert_eq!(json["pts"], 40);
        assert!(json["running_time"].is_null());
        assert_eq!(json["width"], 640);
        let object = &json["objects"][0];
        assert_eq!(object["label"], "car");
        assert_eq!(object["model"], "detector");
        assert_eq!(object["box"]["x"], 10);
        assert_eq!(object["box"]["height"], 48);
        assert_eq!(object["confidence"], 0.5);
        assert_eq!(object["track_id"], 7);
        assert!(object["parent_id"].is_null());
    }

    #[test]
    fn deep_structures_end_in_null() {
        gst::init().unwrap();
        let mut inner = gst::Structure::builder("leaf").field("v", 1i32).build();
        for _ in 0..100 {
            inner = gst::Structure::builder("level")
                .field("next", inner)
                .build();
        }
        let mut out = Vec::new();
        Json(&mut out).fields(&inner, 0);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("null"), "{text}");
        assert!(!text.contains("\"v\""), "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }

    /// Caps holding a structure holding caps ...: GStreamer's text of the outer
    /// caps doubles with each level (quoted and escaped inside its parent). Found by
    /// the `metadata` fuzz target: 197 bytes of input took a minute to write.
    #[test]
    fn caps_nested_in_caps_are_null_not_gigabytes() {
        gst::init().unwrap();
        let mut caps = gst::Caps::builder("video/x-raw").field("q", "\"").build();
        for _ in 0..40 {
            caps = gst::Caps::builder("video/x-raw").field("c", caps).build();
        }
        let attributes = gst::Structure::builder("a")
            .field("deep", &caps)
            .field(
                "shallow",
                gst::Caps::builder("video/x-raw").field("w", 2i32).build(),
            )
            .build();
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        Json(&mut out).fields(&attributes, 0);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(json["deep"].is_null(), "{json}");
        // GStreamer's text of a caps value, quoted and escaped as it writes it.
        assert_eq!(json["shallow"], r#""video/x-raw\,\ w\=\(int\)2""#);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn values_as_json() {
        gst::init().unwrap();
        let s = gst::Structure::builder("a")
            .field("b", true)
            .field("u", u32::MAX)
            .field("f", f64::NAN)
            .field("g", 1.5f32)
            .field("s", "x\"y\\\n\u{1}é")
            .field("whole", 3.0f64)
            .field("big", 1e300f64)
            .field("arr", gst::Array::new([1i32, 2]))
            .field("frac", gst::Fraction::new(2, 3))
            .build();
        let mut out = Vec::new();
        Json(&mut out).fields(&s, 0);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["b"], true);
        assert_eq!(json["u"], u32::MAX);
        assert!(json["f"].is_null());
        assert_eq!(json["g"], 1.5);
        assert_eq!(json["s"], "x\"y\\\n\u{1}é");
        assert_eq!(json["whole"], 3.0);
        assert_eq!(json["big"], 1e300);
        assert_eq!(json["arr"], serde_json::json!([1, 2]));
        assert_eq!(json["frac"], "2/3");
    }
}

/// Any label, model and attribute values (strings with quotes, backslashes, control
/// characters and any Unicode; integers and floats of any value) make a message that
/// parses as JSON and gives each value back; non-finite floats are null.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Value {
        Text(String),
        Int(i64),
        Float(f64),
        Bool(bool),
        Ints(Vec<i32>),
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::Text),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            any::<bool>().prop_map(Value::Bool),
            proptest::collection::vec(any::<i32>(), 0..4).prop_map(Value::Ints),
        ]
    }

    fn expected(value: &Value) -> serde_json::Value {
        match value {
            Value::Text(v) => serde_json::json!(v),
            Value::Int(v) => serde_json::json!(v),
            Value::Float(v) if v.is_finite() => serde_json::json!(v),
            Value::Float(_) => serde_json::Value::Null,
            Value::Bool(v) => serde_json::json!(v),
            Value::Ints(v) => serde_json::json!(v),
        }
    }

    proptest! {
        #[test]
        fn any_values_round_trip(
            label in any::<String>(),
            model in any::<String>(),
            attributes in proptest::collection::btree_map("[a-z][a-z0-9_]{0,8}", value(), 0..6),
        ) {
            gst::init().unwrap();
            crate::frame::attributes::register();
            crate::frame::objects::register();
            let mut buffer = gst::Buffer::with_size(16).unwrap();
            {
                let mut meta = gst_video::VideoRegionOfInterestMeta::add(
                    buffer.get_mut().unwrap(),
                    &label,
                    (1, 2, 3, 4),
                );
                meta.add_param(
                    gst::Structure::builder(objects::SAVANT_OBJECT)
                        .field("model", model.as_str())
                        .build(),
                );
                let mut fields = gst::Structure::new_empty("savant-object-attributes");
                for (key, value) in &attributes {
                    match value {
                        Value::Text(v) => fields.set(key.as_str(), v.as_str()),
                        Value::Int(v) => fields.set(key.as_str(), *v),
                        Value::Float(v) => fields.set(key.as_str(), *v),
                        Value::Bool(v) => fields.set(key.as_str(), *v),
                        Value::Ints(v) => fields.set(key.as_str(), gst::Array::new(v.iter().copied())),
                    }
                }
                meta.add_param(fields);
            }
            let info = FrameInfo {
                source_id: Some(&label),
                frame_num: 0,
                pts: None,
                running_time: None,
                width: 4,
                height: 4,
            };
            let mut out = Vec::new();
            write_frame(&buffer, &info, &mut out);
            let json: serde_json::Value = serde_json::from_slice(&out)
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&out))))?;
            prop_assert_eq!(&json["source_id"], &serde_json::json!(label));
            let object = &json["objects"][0];
            prop_assert_eq!(&object["label"], &serde_json::json!(label));
            prop_assert_eq!(&object["model"], &serde_json::json!(model));
            for (key, value) in &attributes {
                prop_assert_eq!(&object["attributes"][key], &expected(value), "{}", key);
            }
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// 20 objects as a stage writes them (confidence, track id, model), with two
    /// attributes each when `attributes`.
    fn twenty_objects(attributes: bool) -> gst::Buffer {
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        for i in 0..20u32 {
            let mut meta = add_object(
                buffer.get_mut().unwrap(),
                (i, i, 10, 20),
                i64::from(i),
                "stage",
            );
            if attributes {
                meta.add_param(
                    gst::Structure::builder("savant-object-attributes")
                        .field("color", "red")
                        .field("speed", f64::from(i) * 1.5)
                        .build(),
                );
            }
        }
        buffer
    }

    /// `cargo test --release --lib publish::message::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn write_frame_of_twenty_objects() {
        gst::init().unwrap();
        crate::frame::attributes::register();
        crate::frame::objects::register();
        let buffer = twenty_objects(true);
        let info = FrameInfo {
            source_id: Some("camera-01"),
            frame_num: 1,
            pts: Some(1),
            running_time: Some(1),
            width: 64,
            height: 48,
        };
        let mut out = Vec::with_capacity(8192);
        let n = 20_000;
        let bare = twenty_objects(false);
        let started = std::time::Instant::now();
        for _ in 0..n {
            write_frame(&bare, &info, &mut out);
        }
        let without = started.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "write_frame without attributes {without:.0} ns ({} bytes)",
            out.len()
        );
        let started = std::time::Instant::now();
        for _ in 0..n {
            write_frame(&buffer, &info, &mut out);
        }
        let per = started.elapsed().as_nanos() as f64 / n as f64;
        let started = std::time::Instant::now();
        let mut count = 0;
        for _ in 0..n {
            objects::visit(&buffer, |v| count += v.label.len());
        }
        let visit = started.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "write_frame {per:.0} ns ({} bytes), visit alone {visit:.0} ns",
            out.len()
        );
    }
}
