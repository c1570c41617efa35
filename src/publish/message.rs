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
//! it. Non-finite floats are `null` (JSON has no NaN). Nesting deeper than
//! [`MAX_DEPTH`] is `null`: crafted metadata cannot make the writer recurse without
//! end.

use std::ops::ControlFlow;

use gst::glib;
use gst::prelude::*;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::frame::attributes;
use crate::frame::objects;

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
    let message = FrameMessage {
        schema: SCHEMA,
        source_id: info.source_id,
        frame_num: info.frame_num,
        pts: info.pts,
        running_time: info.running_time,
        width: info.width,
        height: info.height,
        objects: ObjectsOf { buffer },
        attributes: attributes::read(buffer).map(|s| Fields(s, 0)),
    };
    // Writing into a Vec fails only on a Serialize error, which these types never
    // raise (depth is capped, every value has a form).
    let _ = serde_json::to_writer(out, &message);
}

#[derive(Serialize)]
struct FrameMessage<'a> {
    schema: &'static str,
    source_id: Option<&'a str>,
    frame_num: u64,
    pts: Option<u64>,
    running_time: Option<u64>,
    width: u32,
    height: u32,
    objects: ObjectsOf<'a>,
    attributes: Option<Fields<'a>>,
}

/// The objects array, written during one walk of the metas (a label or an
/// attributes structure is never copied).
struct ObjectsOf<'a> {
    buffer: &'a gst::BufferRef,
}

impl Serialize for ObjectsOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        let mut result = Ok(());
        objects::visit(self.buffer, |view| {
            if result.is_ok() {
                result = seq.serialize_element(&ObjectMessage {
                    id: view.id,
                    parent_id: view.parent_id,
                    label: &view.label,
                    model: view.model,
                    r#box: BoxMessage {
                        x: view.x,
                        y: view.y,
                        width: view.w,
                        height: view.h,
                    },
                    confidence: view.confidence.filter(|c| c.is_finite()),
                    track_id: view.track_id,
                    attributes: view.attributes.map(|s| Fields(s, 1)),
                });
            }
        });
        result?;
        seq.end()
    }
}

#[derive(Serialize)]
struct ObjectMessage<'a> {
    id: Option<i64>,
    parent_id: Option<i64>,
    label: &'a str,
    model: Option<&'a str>,
    #[serde(rename = "box")]
    r#box: BoxMessage,
    confidence: Option<f64>,
    track_id: Option<i64>,
    attributes: Option<Fields<'a>>,
}

#[derive(Serialize)]
struct BoxMessage {
    x: i64,
    y: i64,
    width: i64,
    height: i64,
}

/// A structure's fields as a JSON object, at nesting `.1`.
struct Fields<'a>(&'a gst::StructureRef, usize);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.1 >= MAX_DEPTH {
            return serializer.serialize_none();
        }
        let mut map = serializer.serialize_map(Some(self.0.n_fields()))?;
        let mut result = Ok(());
        attributes::for_each_field(self.0, |quark, value| {
            result = map.serialize_entry(quark.as_str().as_str(), &GValue(value, self.1 + 1));
            if result.is_err() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        result?;
        map.end()
    }
}

/// A GValue as JSON, at nesting `.1`.
struct GValue<'a>(&'a glib::Value, usize);

impl Serialize for GValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        let depth = self.1;
        if depth >= MAX_DEPTH {
            return serializer.serialize_none();
        }
        macro_rules! number {
            ($($t:ty),*) => {
                $(if let Ok(v) = value.get::<$t>() {
                    return v.serialize(serializer);
                })*
            };
        }
        number!(bool, i32, u32, i64, u64);
        if let Ok(v) = value.get::<f64>() {
            return finite(serializer, v);
        }
        if let Ok(v) = value.get::<f32>() {
            return finite(serializer, f64::from(v));
        }
        if value.type_() == glib::Type::STRING {
            return value
                .get::<Option<&str>>()
                .unwrap_or(None)
                .serialize(serializer);
        }
        if let Ok(array) = value.get::<gst::ArrayRef>() {
            return values(serializer, array.as_slice(), depth);
        }
        if let Ok(list) = value.get::<gst::ListRef>() {
            return values(serializer, list.as_slice(), depth);
        }
        if let Ok(structure) = value.get::<&gst::StructureRef>() {
            return Fields(structure, depth).serialize(serializer);
        }
        match value.serialize() {
            Ok(text) => serializer.serialize_str(text.as_str()),
            Err(_) => serializer.serialize_none(),
        }
    }
}

fn finite<S: Serializer>(serializer: S, v: f64) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        serializer.serialize_f64(v)
    } else {
        serializer.serialize_none()
    }
}

fn values<S: Serializer>(
    serializer: S,
    items: &[glib::SendValue],
    depth: usize,
) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(items.len()))?;
    for item in items {
        seq.serialize_element(&GValue(item, depth + 1))?;
    }
    seq.end()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer_with_object() -> gst::Buffer {
        gst::init().unwrap();
        crate::frame::attributes::register();
        crate::frame::objects::register();
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        {
            let buffer = buffer.get_mut().unwrap();
            let mut meta =
                gst_video::VideoRegionOfInterestMeta::add(buffer, "car", (10, 20, 64, 48));
            meta.add_param(
                gst::Structure::builder(objects::DETECTION)
                    .field("confidence", 0.5f64)
                    .build(),
            );
            meta.add_param(
                gst::Structure::builder(objects::SAVANT_OBJECT)
                    .field("track-id", 7i64)
                    .field("model", "detector")
                    .build(),
            );
        }
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
        serde_json::to_writer(&mut out, &Fields(&inner, 0)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("null"), "{text}");
        assert!(!text.contains("\"v\""), "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }

    #[test]
    fn values_as_json() {
        gst::init().unwrap();
        let s = gst::Structure::builder("a")
            .field("b", true)
            .field("u", u32::MAX)
            .field("f", f64::NAN)
            .field("g", 1.5f32)
            .field("s", "x\"y")
            .field("arr", gst::Array::new([1i32, 2]))
            .field("frac", gst::Fraction::new(2, 3))
            .build();
        let mut out = Vec::new();
        serde_json::to_writer(&mut out, &Fields(&s, 0)).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["b"], true);
        assert_eq!(json["u"], u32::MAX);
        assert!(json["f"].is_null());
        assert_eq!(json["g"], 1.5);
        assert_eq!(json["s"], "x\"y");
        assert_eq!(json["arr"], serde_json::json!([1, 2]));
        assert_eq!(json["frac"], "2/3");
    }
}
