//! Objects on frames, stored as GStreamer's standard `GstVideoRegionOfInterestMeta`
//! so any element or app reads them: roi type = label, the box in pixels, and param
//! structures following GStreamer's convention: "detection" with "confidence"
//! (gdouble), plus "savant-object" with "track-id" (gint64) and "attributes" fields.

use gst_video::VideoRegionOfInterestMeta;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::attributes;

pub const DETECTION: &str = "detection";
pub const SAVANT_OBJECT: &str = "savant-object";
const SAVANT_ATTRIBUTES: &str = "savant-object-attributes";

/// One object as Rust sees it (for drawing and for writing metas).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectData {
    pub label: String,
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub confidence: Option<f64>,
    pub track_id: Option<i64>,
    pub attributes: Option<gst::Structure>,
}

/// Reads every region-of-interest meta of `buffer`.
pub fn read(buffer: &gst::BufferRef) -> Vec<ObjectData> {
    buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|meta| {
            let (x, y, w, h) = meta.rect();
            let confidence = meta
                .param(DETECTION)
                .and_then(|d| d.get::<f64>("confidence").ok());
            let savant = meta.param(SAVANT_OBJECT);
            let track_id = savant.and_then(|s| s.get::<i64>("track-id").ok());
            let attributes = meta.param(SAVANT_ATTRIBUTES).map(|a| a.to_owned());
            ObjectData {
                label: meta.roi_type().to_owned(),
                x: x as i64,
                y: y as i64,
                w: w as i64,
                h: h as i64,
                confidence,
                track_id,
                attributes,
            }
        })
        .collect()
}

/// Replaces the buffer's region-of-interest metas with `objects`.
pub fn write(buffer: &mut gst::BufferRef, objects: &[ObjectData]) {
    buffer.foreach_meta_mut(|mut meta| {
        if meta.downcast_ref::<VideoRegionOfInterestMeta>().is_some() {
            std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Remove)
        } else {
            std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Keep)
        }
    });
    for (i, object) in objects.iter().enumerate() {
        // ROI metas hold unsigned pixels: a box starting left of or above the frame
        // keeps its visible part (drawing clips the rest).
        let x0 = object.x.max(0);
        let y0 = object.y.max(0);
        let w = (object.x + object.w - x0).max(0);
        let h = (object.y + object.h - y0).max(0);
        let clamp = |v: i64| v.clamp(0, u32::MAX as i64) as u32;
        let mut meta = VideoRegionOfInterestMeta::add(
            buffer,
            &object.label,
            (clamp(x0), clamp(y0), clamp(w), clamp(h)),
        );
        meta.set_id(i as i32 + 1);
        if let Some(confidence) = object.confidence {
            meta.add_param(
                gst::Structure::builder(DETECTION)
                    .field("confidence", confidence)
                    .build(),
            );
        }
        if let Some(track_id) = object.track_id {
            meta.add_param(
                gst::Structure::builder(SAVANT_OBJECT)
                    .field("track-id", track_id)
                    .build(),
            );
        }
        if let Some(attributes) = &object.attributes {
            let mut s = attributes.clone();
            s.set_name(SAVANT_ATTRIBUTES);
            meta.add_param(s);
        }
    }
}

/// `savant_gst.Object`: a detected object. Fields are plain attributes; changes are
/// written to the buffer when the stage's call returns.
#[pyclass(module = "savant_gst", get_all, set_all)]
pub struct Object {
    pub label: String,
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub confidence: Option<f64>,
    pub track_id: Option<i64>,
    pub attributes: Py<PyDict>,
}

#[pymethods]
impl Object {
    #[new]
    #[pyo3(signature = (label, r#box, confidence=None, track_id=None, attributes=None))]
    pub fn new_checked(
        py: Python<'_>,
        label: String,
        r#box: (i64, i64, i64, i64),
        confidence: Option<f64>,
        track_id: Option<i64>,
        attributes: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if label.is_empty() {
            return Err(PyValueError::new_err("an object's label must not be empty"));
        }
        let (x, y, w, h) = r#box;
        if w < 0 || h < 0 {
            return Err(PyValueError::new_err(format!(
                "an object's width and height must not be negative, got {w}x{h}"
            )));
        }
        let attributes = match attributes {
            Some(a) => a.copy()?,
            None => PyDict::new(py),
        };
        Ok(Self {
            label,
            x,
            y,
            w,
            h,
            confidence,
            track_id,
            attributes: attributes.unbind(),
        })
    }

    /// (x, y, w, h) in pixels.
    #[getter(r#box)]
    fn get_box(&self) -> (i64, i64, i64, i64) {
        (self.x, self.y, self.w, self.h)
    }

    #[setter(r#box)]
    fn set_box(&mut self, value: (i64, i64, i64, i64)) {
        (self.x, self.y, self.w, self.h) = value;
    }

    fn __repr__(&self) -> String {
        format!(
            "<savant_gst.Object {:?} ({}, {}, {}, {}) confidence={:?} track_id={:?}>",
            self.label, self.x, self.y, self.w, self.h, self.confidence, self.track_id
        )
    }
}

impl Object {
    pub fn from_data(py: Python<'_>, data: &ObjectData) -> PyResult<Self> {
        Ok(Self {
            label: data.label.clone(),
            x: data.x,
            y: data.y,
            w: data.w,
            h: data.h,
            confidence: data.confidence,
            track_id: data.track_id,
            attributes: attributes::to_py_dict(py, data.attributes.as_deref())?.unbind(),
        })
    }

    pub fn to_data(&self, py: Python<'_>) -> PyResult<ObjectData> {
        if self.label.is_empty() {
            return Err(PyValueError::new_err("an object's label must not be empty"));
        }
        let attributes = attributes::from_py_dict(self.attributes.bind(py))?;
        Ok(ObjectData {
            label: self.label.clone(),
            x: self.x,
            y: self.y,
            w: self.w.max(0),
            h: self.h.max(0),
            confidence: self.confidence,
            track_id: self.track_id,
            attributes: (attributes.n_fields() > 0).then_some(attributes),
        })
    }
}
