//! Objects on frames, stored as GStreamer's standard `GstVideoRegionOfInterestMeta`
//! so any element or app reads them: roi type = label, the box in pixels, id and
//! parent id, and param structures following GStreamer's convention: "detection"
//! with "confidence" (gdouble), plus "savant-object" with "track-id" (gint64) and
//! "model" (the name of the stage that made it, or what the stage set), and
//! "savant-object-attributes".
//!
//! A stage changes only the metas of objects it changed, and in those only the
//! fields it changed: other params (a producer's `landmarks`) and other fields
//! (`label_id` in `detection`) stay as they were.
//!
//! GStreamer 1.22's video filters (videoconvert, videoscale) rebuild ROI metas from
//! label, box, id and parent id, dropping the params. So whenever a stage writes
//! objects, every object also goes into a `SavantObjectParams` custom meta (no tags,
//! so video filters copy it) with its ROI id and label, and the frame's size;
//! reading puts back the params a ROI lost, while its box follows the scaling.
//!
//! Elements that are not video filters copy only metas without tags, so they drop
//! every ROI meta (ROI metas carry the video, orientation and size tags):
//! `cudaupload` and `cudadownload` do, as do GStreamer's other base transforms that
//! copy. A stage that gets a frame with the params meta and none of its objects as a
//! ROI meta puts them back from it before anything reads them (`dropped`,
//! `restore_dropped`), their boxes scaled when the frame's size changed on the way.
//!
//! With the cargo feature `analytics` (GStreamer 1.24+), objects are also read from
//! and written to `GstAnalyticsRelationMeta` (analytics.rs).

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

use gst::glib;
use gst::glib::translate::IntoGlib;
use gst_video::VideoRegionOfInterestMeta;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};

use super::analytics::{self, Foreign, Mirrored};
use super::attributes;
use super::values::{self, Scalar};

pub const DETECTION: &str = "detection";
pub const SAVANT_OBJECT: &str = "savant-object";
const SAVANT_ATTRIBUTES: &str = "savant-object-attributes";
const CONFIDENCE: &str = "confidence";
const TRACK_ID: &str = "track-id";
const MODEL: &str = "model";
pub const PARAMS_META_NAME: &str = "SavantObjectParams";
static PARAMS_META: super::custom_meta::CustomMetaKind =
    super::custom_meta::CustomMetaKind::new(PARAMS_META_NAME);
/// The frame's size when the params meta was written, to scale restored boxes.
const WIDTH: &str = "width";
const HEIGHT: &str = "height";
/// The params meta's array of objects.
const OBJECTS: &str = "objects";

/// Registers the params meta; called from plugin_init. No tags: video filters copy
/// metas without tags unchanged.
pub fn register() {
    if !gst::meta::CustomMeta::is_registered(PARAMS_META_NAME) {
        gst::meta::CustomMeta::register(PARAMS_META_NAME, &[]);
    }
    analytics::register();
}

/// One object as Rust sees it (for drawing).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectData {
    pub label: String,
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub confidence: Option<f64>,
    pub track_id: Option<i64>,
    /// The stage (model) that made it, as Savant's `{model}` prints it.
    pub model: Option<String>,
    pub attributes: Option<gst::Structure>,
    /// The frame's source (savantmux), for `{source_id}` in labels.
    pub source_id: Option<String>,
}

/// A ROI meta with the params it lost in a video filter put back.
struct Roi<'a> {
    meta: gst::MetaRef<'a, VideoRegionOfInterestMeta>,
    restored: Vec<gst::Structure>,
}

impl Roi<'_> {
    fn param(&self, name: &str) -> Option<&gst::StructureRef> {
        self.meta.param(name).or_else(|| {
            self.restored
                .iter()
                .find(|s| s.name() == name)
                .map(|s| s.as_ref())
        })
    }

    fn confidence(&self) -> Option<f64> {
        let value = self.param(DETECTION)?.value(CONFIDENCE).ok()?;
        value
            .get::<f64>()
            .ok()
            .or_else(|| value.get::<f32>().ok().map(f64::from))
    }

    fn track_id(&self) -> Option<i64> {
        let value = self.param(SAVANT_OBJECT)?.value(TRACK_ID).ok()?;
        value
            .get::<i64>()
            .ok()
            .or_else(|| value.get::<i32>().ok().map(i64::from))
            .or_else(|| value.get::<u32>().ok().map(i64::from))
    }

    fn model(&self) -> Option<String> {
        self.param(SAVANT_OBJECT)?
            .get::<Option<String>>(MODEL)
            .ok()
            .flatten()
    }

    fn field_type(&self, param: &str, field: &str) -> Option<glib::Type> {
        self.param(param)?.value(field).ok().map(|v| v.type_())
    }

    fn rect(&self) -> (i64, i64, i64, i64) {
        let (x, y, w, h) = self.meta.rect();
        (x as i64, y as i64, w as i64, h as i64)
    }
}

/// The buffer's ROI metas, in order.
fn rois(buffer: &gst::BufferRef) -> Vec<Roi<'_>> {
    let carrier = PARAMS_META.structure(buffer);
    let metas: Vec<_> = buffer.iter_meta::<VideoRegionOfInterestMeta>().collect();
    // Only buffers that went through a stage that wrote objects pay for this.
    let (ids, stored) = match &carrier {
        Some(carrier) => (id_counts(metas.iter().map(|m| m.id())), Stored::of(carrier)),
        None => (HashMap::new(), Stored::default()),
    };
    metas
        .into_iter()
        .map(|meta| {
            let restored = if ids.get(&meta.id()) == Some(&1) {
                stored.lost_params(&meta, |s| meta.param(s.name()).is_none())
            } else {
                Vec::new()
            };
            Roi { meta, restored }
        })
        .collect()
}

fn id_counts(ids: impl Iterator<Item = i32>) -> HashMap<i32, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// The params meta's entries (`roi` structures), in order, without copying.
fn stored_entries(carrier: &gst::StructureRef) -> impl Iterator<Item = &gst::StructureRef> {
    carrier
        .get::<gst::ArrayRef>(OBJECTS)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.get::<&gst::StructureRef>().ok())
}

/// An entry's params, without copying.
fn stored_params(entry: &gst::StructureRef) -> impl Iterator<Item = &gst::StructureRef> {
    entry
        .get::<gst::ArrayRef>("params")
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.get::<&gst::StructureRef>().ok())
}

/// Whether `entry` stands for `meta`: same id, same label.
fn stands_for(entry: &gst::StructureRef, meta: &VideoRegionOfInterestMeta) -> bool {
    entry.get::<i32>("id").ok() == Some(meta.id())
        && entry.get::<&str>("label").ok() == Some(meta.roi_type())
}

/// The objects stored in the params meta (`store_params`): one `roi` structure per
/// object in the array `objects`. An array, not a field per ROI id: field names are
/// interned for the life of the process, and ids from a producer may grow forever.
#[derive(Default)]
struct Stored<'a> {
    /// Entries by id, for the ids only one entry has.
    unique: HashMap<i32, &'a gst::StructureRef>,
}

impl<'a> Stored<'a> {
    fn of(carrier: &'a gst::StructureRef) -> Self {
        let mut by_id: HashMap<i32, Option<&gst::StructureRef>> = HashMap::new();
        for entry in stored_entries(carrier) {
            if let Ok(id) = entry.get::<i32>("id") {
                by_id
                    .entry(id)
                    .and_modify(|e| *e = None)
                    .or_insert(Some(entry));
            }
        }
        let unique = by_id
            .into_iter()
            .filter_map(|(id, e)| Some((id, e?)))
            .collect();
        Self { unique }
    }

    /// The params stored for `meta` that `keep` selects, when one entry has its id
    /// and that entry is for the same object (same label).
    fn lost_params(
        &self,
        meta: &VideoRegionOfInterestMeta,
        keep: impl Fn(&gst::StructureRef) -> bool,
    ) -> Vec<gst::Structure> {
        let Some(entry) = self.unique.get(&meta.id()) else {
            return Vec::new();
        };
        if !stands_for(entry, meta) {
            return Vec::new();
        }
        stored_params(entry)
            .filter(|s| keep(s))
            .map(|s| s.to_owned())
            .collect()
    }
}

/// Reads every region-of-interest meta of `buffer`.
pub fn read(buffer: &gst::BufferRef) -> Vec<ObjectData> {
    let rois = rois(buffer);
    let source_id = super::source::read(buffer);
    let detections = foreign(buffer, &rois).into_iter().map(|f| ObjectData {
        label: f.label,
        x: f.rect.0,
        y: f.rect.1,
        w: f.rect.2,
        h: f.rect.3,
        confidence: Some(f.confidence),
        track_id: f.track_id,
        model: None,
        attributes: None,
        source_id: source_id.clone(),
    });
    rois.iter()
        .map(|roi| {
            let (x, y, w, h) = roi.rect();
            ObjectData {
                label: roi.meta.roi_type().to_owned(),
                x,
                y,
                w,
                h,
                confidence: roi.confidence(),
                track_id: roi.track_id(),
                model: roi.model(),
                attributes: roi.param(SAVANT_ATTRIBUTES).map(|a| a.to_owned()),
                source_id: source_id.clone(),
            }
        })
        .chain(detections)
        .collect()
}

/// A box as stored: the visible part of a box starting left of or above the frame
/// (ROI metas hold unsigned pixels; drawing clips the rest).
fn stored_rect((x, y, w, h): (i64, i64, i64, i64)) -> (u32, u32, u32, u32) {
    let x0 = x.max(0);
    let y0 = y.max(0);
    let w = (x + w - x0).max(0);
    let h = (y + h - y0).max(0);
    // Object checks every coordinate against the pixel range, so these fit.
    let fit = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    (fit(x0), fit(y0), fit(w), fit(h))
}

/// Where an object read from a buffer came from, and its fields as first handed to
/// Python: what differs at the end of the call is written back, nothing else.
struct Origin {
    /// Which frame's object list it was read into.
    frame: u64,
    /// The meta it was read from.
    source: Source,
    label: String,
    rect: (i64, i64, i64, i64),
    confidence: Option<f64>,
    track_id: Option<i64>,
    model: Option<String>,
    parent_id: i32,
    attributes: Py<PyDict>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Its position among the buffer's ROI metas.
    Roi(usize),
    /// A detection mtd of the relation meta (analytics.rs) with this id.
    Analytics(u32),
}

/// `savant_gst.Object`: a detected object. Changes are written to the buffer when the
/// stage's call returns.
#[pyclass(module = "savant_gst")]
pub struct Object {
    label: String,
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    #[pyo3(get, set)]
    confidence: Option<f64>,
    #[pyo3(get, set)]
    track_id: Option<i64>,
    /// The stage (model) that made the object: the creating element's name unless
    /// set; what Savant's draw spec prints for `{model}`.
    #[pyo3(get)]
    model: Option<String>,
    #[pyo3(get, set)]
    attributes: Py<PyDict>,
    /// The ROI meta's id; unique on its frame. 0 until the object is on a frame.
    #[pyo3(get)]
    id: i32,
    /// The id of the object this one belongs to (a face in a person), 0 for none.
    #[pyo3(get, set)]
    parent_id: i32,
    origin: Option<Origin>,
}

#[pymethods]
impl Object {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (label, r#box, confidence=None, track_id=None, attributes=None, parent_id=0, model=None))]
    fn py_new(
        py: Python<'_>,
        label: &Bound<'_, PyAny>,
        r#box: &Bound<'_, PyAny>,
        confidence: Option<f64>,
        track_id: Option<i64>,
        attributes: Option<Bound<'_, PyDict>>,
        parent_id: i32,
        model: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (x, y, w, h) = pixel_box(r#box)?;
        let attributes = match attributes {
            Some(a) => a.copy()?,
            None => PyDict::new(py),
        };
        Ok(Self {
            label: checked_label(label)?,
            x,
            y,
            w,
            h,
            confidence,
            track_id,
            model: checked_model(model.as_ref())?,
            attributes: attributes.unbind(),
            id: 0,
            parent_id,
            origin: None,
        })
    }

    #[setter]
    fn set_model(&mut self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        self.model = checked_model(value.as_ref())?;
        Ok(())
    }

    #[getter]
    fn label(&self) -> &str {
        &self.label
    }

    #[setter]
    fn set_label(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.label = checked_label(value)?;
        Ok(())
    }

    /// (x, y, w, h) in pixels; floats are rounded as the Artist rounds them (each
    /// edge to the nearest pixel).
    #[getter(r#box)]
    fn get_box(&self) -> (i64, i64, i64, i64) {
        (self.x, self.y, self.w, self.h)
    }

    #[setter(r#box)]
    fn set_box(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        (self.x, self.y, self.w, self.h) = pixel_box(value)?;
        Ok(())
    }

    #[getter]
    fn x(&self) -> i64 {
        self.x
    }

    #[setter]
    fn set_x(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.x = position("x", rounded(value, "x")?)?;
        Ok(())
    }

    #[getter]
    fn y(&self) -> i64 {
        self.y
    }

    #[setter]
    fn set_y(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.y = position("y", rounded(value, "y")?)?;
        Ok(())
    }

    #[getter]
    fn w(&self) -> i64 {
        self.w
    }

    #[setter]
    fn set_w(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.w = size(rounded(value, "w")?, self.h)?.0;
        Ok(())
    }

    #[getter]
    fn h(&self) -> i64 {
        self.h
    }

    #[setter]
    fn set_h(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.h = size(self.w, rounded(value, "h")?)?.1;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "<savant_gst.Object {:?} ({}, {}, {}, {}) id={} parent_id={} confidence={} track_id={}>",
            self.label,
            self.x,
            self.y,
            self.w,
            self.h,
            self.id,
            self.parent_id,
            self.confidence
                .map_or_else(|| "None".to_owned(), |c| c.to_string()),
            self.track_id
                .map_or_else(|| "None".to_owned(), |t| t.to_string())
        )
    }
}

fn checked_model(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let text = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "an object's model must be str or None, got {}",
            values::type_name(value)
        ))
    })?;
    values::text(text, &|| "an object's model".to_owned()).map(Some)
}

fn checked_label(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let text = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "an object's label must be str, got {}",
            values::type_name(value)
        ))
    })?;
    let label = values::text(text, &|| "an object's label".to_owned())?;
    if label.is_empty() {
        return Err(PyValueError::new_err("an object's label must not be empty"));
    }
    Ok(label)
}

/// A coordinate: ints as they are, floats (numpy's included) rounded to the nearest
/// pixel, half away from zero, as the Artist rounds edges.
fn rounded(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i128> {
    let what = || format!("box {name}");
    let scalar = values::scalar(value, &what)?;
    let as_float = |v: f64| -> PyResult<i128> {
        if !v.is_finite() {
            return Err(PyValueError::new_err(format!(
                "box {name} = {v} is not a pixel coordinate"
            )));
        }
        // Out-of-range values saturate here and are refused by the range checks.
        Ok(v.round() as i128)
    };
    match scalar {
        Some(Scalar::Int(v)) => Ok(v),
        Some(Scalar::Float(v)) => as_float(v),
        _ => Err(PyTypeError::new_err(format!(
            "box {name} must be int or float, got {}",
            values::type_name(value)
        ))),
    }
}

/// A box from any 4-item sequence of ints or floats (a tuple, a list, a numpy row).
fn pixel_box(value: &Bound<'_, PyAny>) -> PyResult<(i64, i64, i64, i64)> {
    let items: Vec<Bound<'_, PyAny>> = if value.is_instance_of::<PyString>() {
        Vec::new()
    } else {
        value
            .try_iter()
            .and_then(|it| it.take(5).collect::<PyResult<Vec<_>>>())
            .unwrap_or_default()
    };
    let [x, y, w, h] = items.as_slice() else {
        return Err(PyTypeError::new_err(format!(
            "a box is (x, y, w, h): 4 ints or floats, got {}",
            value.repr().map(|r| r.to_string()).unwrap_or_default()
        )));
    };
    let all_ints = items
        .iter()
        .all(|v| !v.is_instance_of::<PyFloat>() && is_int(v));
    let (x, y, w, h) = if all_ints {
        (
            rounded(x, "x")?,
            rounded(y, "y")?,
            rounded(w, "w")?,
            rounded(h, "h")?,
        )
    } else {
        // Edges, not sizes, are rounded: (0.4, 0, 1.2, 1) covers pixels 0 and 1.
        let float = |v: &Bound<'_, PyAny>, name| -> PyResult<f64> {
            match values::scalar(v, &|| format!("box {name}"))? {
                Some(Scalar::Int(i)) => Ok(i as f64),
                Some(Scalar::Float(f)) if f.is_finite() => Ok(f),
                Some(Scalar::Float(f)) => Err(PyValueError::new_err(format!(
                    "box {name} = {f} is not a pixel coordinate"
                ))),
                _ => Err(PyTypeError::new_err(format!(
                    "box {name} must be int or float, got {}",
                    values::type_name(v)
                ))),
            }
        };
        let (fx, fy, fw, fh) = (
            float(x, "x")?,
            float(y, "y")?,
            float(w, "w")?,
            float(h, "h")?,
        );
        if fw < 0.0 || fh < 0.0 {
            return Err(PyValueError::new_err(format!(
                "an object's width and height must not be negative, got {fw}x{fh}"
            )));
        }
        let (x0, y0) = (fx.round(), fy.round());
        let (x1, y1) = ((fx + fw).round(), (fy + fh).round());
        let edge = |v: f64| v as i128;
        (edge(x0), edge(y0), edge(x1) - edge(x0), edge(y1) - edge(y0))
    };
    let (w, h) = size(w, h)?;
    Ok((position("x", x)?, position("y", y)?, w, h))
}

fn is_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyInt>()
        || matches!(
            values::scalar(value, &String::new),
            Ok(Some(Scalar::Int(_)))
        )
}

/// x or y: a box may start left of or above the frame (by at most i32's range, what
/// GStreamer's signed coordinates hold); ROI metas hold up to u32.
fn position(name: &str, v: i128) -> PyResult<i64> {
    if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
        return Err(PyValueError::new_err(format!(
            "box {name} = {v} is outside the pixel range {} to {}",
            i32::MIN,
            u32::MAX
        )));
    }
    Ok(v as i64)
}

fn size(w: impl Into<i128>, h: impl Into<i128>) -> PyResult<(i64, i64)> {
    let (w, h) = (w.into(), h.into());
    if w < 0 || h < 0 {
        return Err(PyValueError::new_err(format!(
            "an object's width and height must not be negative, got {w}x{h}"
        )));
    }
    for (name, v) in [("w", w), ("h", h)] {
        if v > i128::from(u32::MAX) {
            return Err(PyValueError::new_err(format!(
                "box {name} = {v} is larger than the pixel range (up to {})",
                u32::MAX
            )));
        }
    }
    Ok((w as i64, h as i64))
}

impl Object {
    /// How errors name this object's attributes: "object 'face' attributes".
    fn attributes_name(&self) -> String {
        format!("object '{}' attributes", self.label)
    }

    /// What changed since the object was read from `roi`, or None.
    fn changes(&self, py: Python<'_>, origin: &Origin, roi: &Roi<'_>) -> PyResult<Option<Change>> {
        let what = self.attributes_name();
        let attributes = attributes::diff(
            self.attributes.bind(py),
            origin.attributes.bind(py),
            roi.param(SAVANT_ATTRIBUTES),
            &what,
        )?;
        let rect = (self.x, self.y, self.w, self.h);
        let confidence_changed =
            self.confidence.map(f64::to_bits) != origin.confidence.map(f64::to_bits);
        let change = Change {
            label: (self.label != origin.label).then(|| self.label.clone()),
            rect: (rect != origin.rect).then(|| stored_rect(rect)),
            parent_id: (self.parent_id != origin.parent_id).then_some(self.parent_id),
            confidence: confidence_changed.then(|| {
                self.confidence.map(|c| {
                    values::scalar_to_value(Scalar::Float(c), roi.field_type(DETECTION, CONFIDENCE))
                })
            }),
            track_id: (self.track_id != origin.track_id).then(|| {
                self.track_id.map(|t| {
                    values::scalar_to_value(
                        Scalar::Int(i128::from(t)),
                        roi.field_type(SAVANT_OBJECT, TRACK_ID),
                    )
                })
            }),
            model: (self.model != origin.model).then(|| {
                self.model
                    .as_deref()
                    .map(gst::glib::prelude::ToSendValue::to_send_value)
            }),
            attributes,
            restore: Vec::new(),
        };
        if change.is_empty() {
            return Ok(None);
        }
        Ok(Some(Change {
            restore: roi.restored.clone(),
            ..change
        }))
    }

    /// Whether Python changed anything of an object read from the relation meta.
    fn differs_from(&self, py: Python<'_>, origin: &Origin) -> bool {
        self.label != origin.label
            || (self.x, self.y, self.w, self.h) != origin.rect
            || self.confidence.map(f64::to_bits) != origin.confidence.map(f64::to_bits)
            || self.track_id != origin.track_id
            || self.parent_id != origin.parent_id
            || self.model != origin.model
            || !self.attributes.bind(py).is_empty()
    }

    fn new_meta(&self, py: Python<'_>, id: i32) -> PyResult<NewObject> {
        let attributes =
            attributes::Edit::from_dict(self.attributes.bind(py), &self.attributes_name())?;
        let mut params = Vec::new();
        if let Some(confidence) = self.confidence {
            params.push(
                gst::Structure::builder(DETECTION)
                    .field(CONFIDENCE, confidence)
                    .build(),
            );
        }
        if self.track_id.is_some() || self.model.is_some() {
            params.push(
                gst::Structure::builder(SAVANT_OBJECT)
                    .field_if_some(TRACK_ID, self.track_id)
                    .field_if_some(MODEL, self.model.as_deref())
                    .build(),
            );
        }
        if !attributes.is_empty() {
            let mut structure = gst::Structure::new_empty(SAVANT_ATTRIBUTES);
            attributes.apply_to(&mut structure);
            params.push(structure);
        }
        Ok(NewObject {
            label: self.label.clone(),
            rect: stored_rect((self.x, self.y, self.w, self.h)),
            id,
            parent_id: self.parent_id,
            params,
        })
    }
}

/// The objects of one frame as Python sees them.
pub struct Objects {
    list: Py<PyList>,
    /// Tells this frame's objects from objects moved over from another frame.
    frame: u64,
    /// How many objects came from the relation meta (after the ROI ones).
    foreign: usize,
    next_id: AtomicI32,
    size: (u32, u32),
}

static FRAMES: AtomicU64 = AtomicU64::new(1);

impl Objects {
    /// The objects of `buffer`, a frame of `size` (width, height).
    pub fn new(py: Python<'_>, buffer: &gst::BufferRef, size: (u32, u32)) -> PyResult<Self> {
        let frame = FRAMES.fetch_add(1, Relaxed);
        let list = PyList::empty(py);
        let mut max_id = 0;
        let rois = rois(buffer);
        for (index, roi) in rois.iter().enumerate() {
            let label = roi.meta.roi_type().to_owned();
            let attributes = attributes::Tracked::new(py, roi.param(SAVANT_ATTRIBUTES))?;
            max_id = max_id.max(roi.meta.id());
            let object = Object {
                label: label.clone(),
                x: roi.rect().0,
                y: roi.rect().1,
                w: roi.rect().2,
                h: roi.rect().3,
                confidence: roi.confidence(),
                track_id: roi.track_id(),
                model: roi.model(),
                attributes: attributes.dict,
                id: roi.meta.id(),
                parent_id: roi.meta.parent_id(),
                origin: Some(Origin {
                    frame,
                    source: Source::Roi(index),
                    label,
                    rect: roi.rect(),
                    confidence: roi.confidence(),
                    track_id: roi.track_id(),
                    model: roi.model(),
                    parent_id: roi.meta.parent_id(),
                    attributes: attributes.original,
                }),
            };
            list.append(Py::new(py, object)?)?;
        }
        let mut next_id = max_id.saturating_add(1);
        let foreign = foreign(buffer, &rois);
        // Detections get ids after the ROIs', in mtd order; a parent is found by
        // its mtd id.
        let ids: HashMap<u32, i32> = foreign
            .iter()
            .enumerate()
            .map(|(i, f)| (f.mtd_id, next_id.saturating_add(i as i32)))
            .collect();
        for f in &foreign {
            let attributes = attributes::Tracked::new(py, None)?;
            let parent_id = f
                .parent_roi
                .or_else(|| f.parent_mtd.and_then(|p| ids.get(&p).copied()))
                .unwrap_or(0);
            let object = Object {
                label: f.label.clone(),
                x: f.rect.0,
                y: f.rect.1,
                w: f.rect.2,
                h: f.rect.3,
                confidence: Some(f.confidence),
                track_id: f.track_id,
                model: None,
                attributes: attributes.dict,
                id: ids[&f.mtd_id],
                parent_id,
                origin: Some(Origin {
                    frame,
                    source: Source::Analytics(f.mtd_id),
                    label: f.label.clone(),
                    rect: f.rect,
                    confidence: Some(f.confidence),
                    track_id: f.track_id,
                    model: None,
                    parent_id,
                    attributes: attributes.original,
                }),
            };
            list.append(Py::new(py, object)?)?;
        }
        next_id = next_id.saturating_add(foreign.len() as i32);
        Ok(Self {
            list: list.unbind(),
            frame,
            foreign: foreign.len(),
            next_id: AtomicI32::new(next_id),
            size,
        })
    }

    pub fn list<'py>(&self, py: Python<'py>) -> &Bound<'py, PyList> {
        self.list.bind(py)
    }

    /// A new object with a fresh id, appended to the list.
    pub fn add(&self, py: Python<'_>, object: Object) -> PyResult<Py<Object>> {
        let object = Py::new(
            py,
            Object {
                id: self.next_id.fetch_add(1, Relaxed),
                ..object
            },
        )?;
        self.list(py).append(&object)?;
        Ok(object)
    }

    /// What Python changed, relative to `buffer` (the one these were read from).
    pub fn edit(&self, py: Python<'_>, buffer: &gst::BufferRef) -> PyResult<Option<Edit>> {
        let rois = rois(buffer);
        let mut metas: Vec<Option<MetaChange>> = (0..rois.len()).map(|_| None).collect();
        let mut used_ids: HashSet<i32> = rois.iter().map(|r| r.meta.id()).collect();
        let mut added = Vec::new();
        let mut moved = Vec::new();
        // Detections of the relation meta Python kept: (object, mtd id, changed).
        let mut detections: Vec<(NewObject, u32, bool)> = Vec::new();
        let mut seen_detections = HashSet::new();
        for item in self.list(py).iter() {
            let object = item.cast::<Object>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "frame.objects may hold only savant_gst.Object, got {}",
                    values::type_name(&item)
                ))
            })?;
            let object = object.borrow();
            match object.origin.as_ref().map(|o| (o, o.source)) {
                Some((origin, Source::Roi(index)))
                    if origin.frame == self.frame
                        && index < rois.len()
                        && metas[index].is_none() =>
                {
                    metas[index] = Some(match object.changes(py, origin, &rois[index])? {
                        Some(change) => MetaChange::Change(Box::new(change)),
                        None => MetaChange::Keep,
                    });
                }
                Some((origin, Source::Analytics(mtd)))
                    if origin.frame == self.frame
                        && seen_detections.insert(mtd)
                        && used_ids.insert(object.id) =>
                {
                    let changed = object.differs_from(py, origin);
                    detections.push((object.new_meta(py, object.id)?, mtd, changed));
                }
                _ if object.id != 0 && used_ids.insert(object.id) => {
                    added.push(object.new_meta(py, object.id)?)
                }
                _ => moved.push(object),
            }
        }
        // Objects without a usable id of their own get fresh ones after the others
        // took theirs.
        for object in moved {
            let mut id = self.next_id.fetch_add(1, Relaxed);
            while !used_ids.insert(id) {
                id = self.next_id.fetch_add(1, Relaxed);
            }
            added.push(object.new_meta(py, id)?);
        }
        let metas: Vec<MetaChange> = metas
            .into_iter()
            .map(|m| m.unwrap_or(MetaChange::Remove))
            .collect();
        let detections_unchanged =
            detections.len() == self.foreign && detections.iter().all(|d| !d.2);
        let unchanged = added.is_empty()
            && detections_unchanged
            && metas.iter().all(|m| matches!(m, MetaChange::Keep));
        if unchanged {
            return Ok(None);
        }
        // Any change rewrites the relation meta from the ROI metas, so every detection
        // Python kept becomes a ROI meta too (analytics.rs).
        let mut converted = Vec::with_capacity(detections.len());
        for (object, mtd, _) in detections {
            converted.push((object.id, mtd));
            added.push(object);
        }
        Ok(Some(Edit {
            metas,
            added,
            converted,
            size: self.size,
        }))
    }
}

/// Changes to a buffer's ROI metas: one entry per existing meta, in order, then the
/// new ones.
#[derive(Debug)]
pub struct Edit {
    metas: Vec<MetaChange>,
    added: Vec<NewObject>,
    /// ROI ids of detections from the relation meta that became ROI metas, with
    /// their mtd ids.
    converted: Vec<(i32, u32)>,
    /// The frame's width and height, stored with the objects.
    size: (u32, u32),
}

#[derive(Debug)]
enum MetaChange {
    Keep,
    Remove,
    Change(Box<Change>),
}

/// The fields of one object that changed (None: unchanged).
#[derive(Debug)]
struct Change {
    label: Option<String>,
    rect: Option<(u32, u32, u32, u32)>,
    parent_id: Option<i32>,
    /// Some(None): the field is removed.
    confidence: Option<Option<glib::SendValue>>,
    track_id: Option<Option<glib::SendValue>>,
    model: Option<Option<glib::SendValue>>,
    attributes: Option<attributes::Edit>,
    /// Params the ROI lost in a video filter, put back as it is rewritten.
    restore: Vec<gst::Structure>,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.label.is_none()
            && self.rect.is_none()
            && self.parent_id.is_none()
            && self.confidence.is_none()
            && self.track_id.is_none()
            && self.model.is_none()
            && self.attributes.is_none()
    }
}

#[derive(Debug)]
struct NewObject {
    label: String,
    rect: (u32, u32, u32, u32),
    id: i32,
    parent_id: i32,
    params: Vec<gst::Structure>,
}

/// Writes an edit: changed metas are updated in place, removed ones removed, new ones
/// appended; then the params meta is brought up to date.
pub fn apply(buffer: &mut gst::BufferRef, edit: Edit) {
    let edit_size = edit.size;
    let mut metas = edit.metas.into_iter();
    buffer.foreach_meta_mut(|mut meta| {
        use gst::buffer::BufferMetaForeachAction::{Keep, Remove};
        let Some(roi) = meta.downcast_mut::<VideoRegionOfInterestMeta>() else {
            return ControlFlow::Continue(Keep);
        };
        match metas.next() {
            Some(MetaChange::Remove) => ControlFlow::Continue(Remove),
            Some(MetaChange::Change(change)) => {
                change_meta(roi, *change);
                ControlFlow::Continue(Keep)
            }
            Some(MetaChange::Keep) | None => ControlFlow::Continue(Keep),
        }
    });
    for object in edit.added {
        let mut meta = VideoRegionOfInterestMeta::add(buffer, &object.label, object.rect);
        meta.set_id(object.id);
        meta.set_parent_id(object.parent_id);
        for param in object.params {
            meta.add_param(param);
        }
    }
    store_params(buffer, edit_size);
    if analytics::ENABLED {
        let mirrored = mirrored(buffer);
        analytics::sync(buffer, &mirrored, &edit.converted);
    }
}

/// The ROI metas as the relation meta mirrors them.
fn mirrored(buffer: &gst::BufferRef) -> Vec<Mirrored> {
    rois(buffer)
        .iter()
        .map(|roi| Mirrored {
            id: roi.meta.id(),
            parent_id: roi.meta.parent_id(),
            label: roi.meta.roi_type().to_owned(),
            rect: roi.meta.rect(),
            confidence: roi.confidence(),
            track_id: roi.track_id(),
        })
        .collect()
}

/// Detections of the relation meta that none of `rois` stands for.
fn foreign(buffer: &gst::BufferRef, rois: &[Roi<'_>]) -> Vec<Foreign> {
    if !analytics::ENABLED {
        return Vec::new();
    }
    let pairs: Vec<(i32, &str)> = rois
        .iter()
        .map(|r| (r.meta.id(), r.meta.roi_type()))
        .collect();
    analytics::foreign(buffer, &pairs)
}

fn change_meta(meta: &mut VideoRegionOfInterestMeta, change: Change) {
    for param in change.restore {
        meta.add_param(param);
    }
    if let Some(label) = change.label {
        // SAFETY: the meta is borrowed mutably (its buffer is writable); roi_type is
        // a plain quark field that gst_buffer_add_video_region_of_interest_meta sets
        // the same way.
        unsafe {
            (*raw(meta)).roi_type = glib::Quark::from_str(label.as_str()).into_glib();
        }
    }
    if let Some(rect) = change.rect {
        meta.set_rect(rect);
    }
    if let Some(parent_id) = change.parent_id {
        meta.set_parent_id(parent_id);
    }
    if let Some(confidence) = change.confidence {
        set_field(meta, DETECTION, CONFIDENCE, confidence);
    }
    if let Some(track_id) = change.track_id {
        set_field(meta, SAVANT_OBJECT, TRACK_ID, track_id);
    }
    if let Some(model) = change.model {
        set_field(meta, SAVANT_OBJECT, MODEL, model);
    }
    if let Some(attributes) = change.attributes {
        if param_mut(meta, SAVANT_ATTRIBUTES).is_none() {
            meta.add_param(gst::Structure::new_empty(SAVANT_ATTRIBUTES));
        }
        let param = param_mut(meta, SAVANT_ATTRIBUTES).expect("added above");
        attributes.apply_to(param);
        if param.n_fields() == 0 {
            remove_param(meta, SAVANT_ATTRIBUTES);
        }
    }
}

/// Sets or removes one field of a param, keeping the param's other fields; a param
/// left empty is removed.
fn set_field(
    meta: &mut VideoRegionOfInterestMeta,
    param: &str,
    field: &str,
    value: Option<glib::SendValue>,
) {
    match (param_mut(meta, param), value) {
        (Some(structure), Some(value)) => structure.set_value(field, value),
        (None, Some(value)) => {
            let mut structure = gst::Structure::new_empty(param);
            structure.set_value(field, value);
            meta.add_param(structure);
        }
        (Some(structure), None) => {
            structure.remove_field(field);
            if structure.n_fields() == 0 {
                remove_param(meta, param);
            }
        }
        (None, None) => {}
    }
}

fn raw(meta: &mut VideoRegionOfInterestMeta) -> *mut gst_video::ffi::GstVideoRegionOfInterestMeta {
    // VideoRegionOfInterestMeta is a transparent wrapper of the C struct.
    (meta as *mut VideoRegionOfInterestMeta).cast()
}

/// The param named `name`, mutably (gstreamer-rs only lends params immutably).
fn param_mut<'a>(
    meta: &'a mut VideoRegionOfInterestMeta,
    name: &str,
) -> Option<&'a mut gst::StructureRef> {
    // SAFETY: `params` is a GList of GstStructures the meta owns (add_param takes
    // ownership, the meta's free function frees them). They have no parent refcount,
    // so they are writable whenever the meta is, and the meta is borrowed mutably
    // (its buffer is writable) for as long as the returned reference lives.
    unsafe {
        let mut node = (*raw(meta)).params;
        while !node.is_null() {
            let structure = (*node).data as *mut gst::ffi::GstStructure;
            if gst::StructureRef::from_glib_borrow(structure).name() == name {
                return Some(gst::StructureRef::from_glib_borrow_mut(structure));
            }
            node = (*node).next;
        }
    }
    None
}

fn remove_param(meta: &mut VideoRegionOfInterestMeta, name: &str) {
    // SAFETY: as in param_mut; the node is unlinked from the meta's list before its
    // structure is freed, so the meta never sees the freed structure.
    unsafe {
        let meta = raw(meta);
        let mut node = (*meta).params;
        while !node.is_null() {
            let structure = (*node).data as *mut gst::ffi::GstStructure;
            if gst::StructureRef::from_glib_borrow(structure).name() == name {
                (*meta).params = glib::ffi::g_list_delete_link((*meta).params, node);
                gst::ffi::gst_structure_free(structure);
                return;
            }
            node = (*node).next;
        }
    }
}

/// Copies every object into the params meta (label, box, ids and params, with the
/// frame's `size`), so that the params survive video filters and the objects
/// survive elements that drop ROI metas; params of ROIs that already lost theirs
/// are kept.
fn store_params(buffer: &mut gst::BufferRef, size: (u32, u32)) {
    let carrier = PARAMS_META.structure(buffer);
    let stored = carrier.as_ref().map(|c| Stored::of(c)).unwrap_or_default();
    let metas: Vec<_> = buffer.iter_meta::<VideoRegionOfInterestMeta>().collect();
    let ids = id_counts(metas.iter().map(|m| m.id()));
    let mut entries = Vec::with_capacity(metas.len());
    for meta in &metas {
        let mut params: Vec<gst::Structure> = meta.params().map(|p| p.to_owned()).collect();
        // Without a unique id, params could come back on the wrong object.
        if ids[&meta.id()] == 1 {
            params.extend(stored.lost_params(meta, |s| meta.param(s.name()).is_none()));
        }
        let (x, y, w, h) = meta.rect();
        entries.push(
            gst::Structure::builder("roi")
                .field("label", meta.roi_type())
                .field("id", meta.id())
                .field("parent-id", meta.parent_id())
                .field("x", x)
                .field("y", y)
                .field("w", w)
                .field("h", h)
                .field("params", gst::Array::new(params))
                .build(),
        );
    }
    let had_carrier = carrier.is_some();
    if entries.is_empty() {
        if had_carrier {
            if let Ok(meta) = gst::meta::CustomMeta::from_mut_buffer(buffer, PARAMS_META_NAME) {
                let _ = meta.remove();
            }
        }
        return;
    }
    let structure = gst::Structure::builder(PARAMS_META_NAME)
        .field(WIDTH, size.0)
        .field(HEIGHT, size.1)
        .field(OBJECTS, gst::Array::new(entries))
        .build();
    attributes::replace_custom_meta_structure(buffer, PARAMS_META_NAME, structure);
}

/// Whether an element dropped the ROI metas of a frame a stage wrote objects on:
/// the params meta is there and none of its objects has a ROI meta (there may be
/// others: a GPU detector after `cudaupload` adds its own). Checked on every frame;
/// frames without the params meta cost one meta lookup.
fn dropped(buffer: &gst::BufferRef) -> bool {
    let Some(carrier) = PARAMS_META.structure(buffer) else {
        return false;
    };
    let mut metas = buffer.iter_meta::<VideoRegionOfInterestMeta>().peekable();
    if metas.peek().is_none() {
        return true;
    }
    // Usually the first ROI meta is the first entry's object: one comparison.
    !metas.any(|meta| stored_entries(carrier).any(|entry| stands_for(entry, &meta)))
}

/// One object of the params meta, as `restore_dropped` puts it back.
struct Dropped {
    label: String,
    id: i32,
    parent_id: i32,
    rect: (u32, u32, u32, u32),
    params: Vec<gst::Structure>,
}

/// When an element dropped the ROI metas (see `dropped`), puts them back from the
/// params meta, in their order, with their ids and params, after any ROI metas the
/// frame has; boxes are scaled from the size the params meta was written at to
/// `size`. Copies the buffer's header when it is shared (its memory is shared, not
/// copied), and only when there is an object to put back. Returns how many came
/// back. For every frame, before anything reads its objects.
pub fn restore_dropped(buffer: &mut gst::Buffer, size: (u32, u32)) -> usize {
    if !dropped(buffer) {
        return 0;
    }
    let dropped: Vec<Dropped> = {
        let Some(carrier) = PARAMS_META.structure(buffer) else {
            return 0;
        };
        let stored = (
            carrier.get::<u32>(WIDTH).unwrap_or(0),
            carrier.get::<u32>(HEIGHT).unwrap_or(0),
        );
        let scale = |v: u32, from: u32, to: u32| -> u32 {
            if from == 0 || from == to {
                return v;
            }
            let scaled = (u64::from(v) * u64::from(to) + u64::from(from) / 2) / u64::from(from);
            u32::try_from(scaled).unwrap_or(u32::MAX)
        };
        stored_entries(carrier)
            .filter_map(|entry| {
                // An entry missing a field was not written by store_params: left alone.
                let (label, id, parent_id) = (
                    entry.get::<&str>("label").ok()?,
                    entry.get::<i32>("id").ok()?,
                    entry.get::<i32>("parent-id").ok()?,
                );
                let (x, y, w, h) = (
                    entry.get::<u32>("x").ok()?,
                    entry.get::<u32>("y").ok()?,
                    entry.get::<u32>("w").ok()?,
                    entry.get::<u32>("h").ok()?,
                );
                let params = stored_params(entry).map(|p| p.to_owned()).collect();
                Some(Dropped {
                    label: label.to_owned(),
                    id,
                    parent_id,
                    rect: (
                        scale(x, stored.0, size.0),
                        scale(y, stored.1, size.1),
                        scale(w, stored.0, size.0),
                        scale(h, stored.1, size.1),
                    ),
                    params,
                })
            })
            .collect()
    };
    if dropped.is_empty() {
        return 0;
    }
    let buffer = buffer.make_mut();
    let restored = dropped.len();
    for object in dropped {
        let mut meta = VideoRegionOfInterestMeta::add(buffer, &object.label, object.rect);
        meta.set_id(object.id);
        meta.set_parent_id(object.parent_id);
        for param in object.params {
            meta.add_param(param);
        }
    }
    restored
}

/// A new object for `frame.add_object`: its id comes from the frame, its model
/// defaults to the stage's name.
#[allow(clippy::too_many_arguments)]
pub fn new_object(
    py: Python<'_>,
    label: &Bound<'_, PyAny>,
    r#box: &Bound<'_, PyAny>,
    confidence: Option<f64>,
    track_id: Option<i64>,
    attributes: Option<Bound<'_, PyDict>>,
    parent_id: i32,
    model: Option<Bound<'_, PyAny>>,
) -> PyResult<Object> {
    Object::py_new(
        py, label, r#box, confidence, track_id, attributes, parent_id, model,
    )
}
