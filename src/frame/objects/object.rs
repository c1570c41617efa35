//! `savant_gst.Object`: one object as Python sees it, the checks on what Python
//! sets, and where it was read from (to write back only what changed).

// The parent's names (metas, constants, the other rooms).
use super::*;

/// Where an object read from a buffer came from, and its fields as first handed to
/// Python: what differs at the end of the call is written back, nothing else.
pub(super) struct Origin {
    /// Which frame's object list it was read into.
    pub(super) frame: u64,
    /// The meta it was read from.
    pub(super) source: Source,
    pub(super) label: String,
    pub(super) rect: (i64, i64, i64, i64),
    pub(super) confidence: Option<f64>,
    pub(super) track_id: Option<i64>,
    pub(super) model: Option<String>,
    pub(super) parent_id: i32,
    pub(super) attributes: Py<PyDict>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// Its position among the buffer's ROI metas.
    Roi(usize),
    /// A detection mtd of the relation meta (analytics.rs) with this id.
    Analytics(u32),
}

/// `savant_gst.Object`: a detected object. Changes are written to the buffer when the
/// stage's call returns.
#[pyclass(module = "savant_gst")]
pub struct Object {
    pub(super) label: String,
    pub(super) x: i64,
    pub(super) y: i64,
    pub(super) w: i64,
    pub(super) h: i64,
    #[pyo3(get, set)]
    pub(super) confidence: Option<f64>,
    #[pyo3(get)]
    pub(super) track_id: Option<i64>,
    /// The stage (model) that made the object: the creating element's name unless
    /// set; what Savant's draw spec prints for `{model}`.
    #[pyo3(get)]
    pub(super) model: Option<String>,
    #[pyo3(get, set)]
    pub(super) attributes: Py<PyDict>,
    /// The ROI meta's id; unique on its frame. 0 until the object is on a frame.
    #[pyo3(get)]
    pub(super) id: i32,
    /// The id of the object this one belongs to (a face in a person), 0 for none.
    #[pyo3(get, set)]
    pub(super) parent_id: i32,
    pub(super) origin: Option<Origin>,
}

#[pymethods]
impl Object {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (label, r#box, confidence=None, track_id=None, attributes=None, parent_id=0, model=None))]
    pub(crate) fn py_new(
        py: Python<'_>,
        label: &Bound<'_, PyAny>,
        r#box: &Bound<'_, PyAny>,
        confidence: Option<f64>,
        track_id: Option<Bound<'_, PyAny>>,
        attributes: Option<Bound<'_, PyDict>>,
        parent_id: i32,
        model: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let track_id = checked_track_id(track_id.as_ref())?;
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
    pub(super) fn set_track_id(&mut self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        self.track_id = checked_track_id(value.as_ref())?;
        Ok(())
    }

    #[setter]
    pub(super) fn set_model(&mut self, value: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        self.model = checked_model(value.as_ref())?;
        Ok(())
    }

    #[getter]
    pub(super) fn label(&self) -> &str {
        &self.label
    }

    #[setter]
    pub(super) fn set_label(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.label = checked_label(value)?;
        Ok(())
    }

    /// (x, y, w, h) in pixels; floats are rounded as the Artist rounds them (each
    /// edge to the nearest pixel).
    #[getter(r#box)]
    pub(super) fn get_box(&self) -> (i64, i64, i64, i64) {
        (self.x, self.y, self.w, self.h)
    }

    #[setter(r#box)]
    pub(super) fn set_box(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        (self.x, self.y, self.w, self.h) = pixel_box(value)?;
        Ok(())
    }

    #[getter]
    pub(super) fn x(&self) -> i64 {
        self.x
    }

    #[setter]
    pub(super) fn set_x(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.x = position("x", rounded(value, "x")?)?;
        Ok(())
    }

    #[getter]
    pub(super) fn y(&self) -> i64 {
        self.y
    }

    #[setter]
    pub(super) fn set_y(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.y = position("y", rounded(value, "y")?)?;
        Ok(())
    }

    #[getter]
    pub(super) fn w(&self) -> i64 {
        self.w
    }

    #[setter]
    pub(super) fn set_w(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.w = size(rounded(value, "w")?, self.h)?.0;
        Ok(())
    }

    #[getter]
    pub(super) fn h(&self) -> i64 {
        self.h
    }

    #[setter]
    pub(super) fn set_h(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.h = size(self.w, rounded(value, "h")?)?.1;
        Ok(())
    }

    pub(super) fn __repr__(&self) -> String {
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

/// Savant's "no track id" (`UNTRACKED_OBJECT_ID`, the largest uint64), as Savant
/// code writes it.
const UNTRACKED_OBJECT_ID: u64 = u64::MAX;

/// A track id: None, Savant's untracked sentinel (read as None), or an int that
/// fits an int64.
pub(super) fn checked_track_id(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if value.extract::<u64>().ok() == Some(UNTRACKED_OBJECT_ID) {
        return Ok(None);
    }
    value.extract::<i64>().map(Some).map_err(|_| {
        PyValueError::new_err(format!(
            "track_id must be None or an int that fits in 64 bits (signed; Savant's \
             UNTRACKED_OBJECT_ID means None), got {}",
            values::type_name(value)
        ))
    })
}

pub(super) fn checked_model(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
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

pub(super) fn checked_label(value: &Bound<'_, PyAny>) -> PyResult<String> {
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
pub(super) fn rounded(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i128> {
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
pub(super) fn pixel_box(value: &Bound<'_, PyAny>) -> PyResult<(i64, i64, i64, i64)> {
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

pub(super) fn is_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyInt>()
        || matches!(
            values::scalar(value, &String::new),
            Ok(Some(Scalar::Int(_)))
        )
}

/// x or y: a box may start left of or above the frame (by at most i32's range, what
/// GStreamer's signed coordinates hold); ROI metas hold up to u32.
pub(super) fn position(name: &str, v: i128) -> PyResult<i64> {
    if v < i128::from(i32::MIN) || v > i128::from(u32::MAX) {
        return Err(PyValueError::new_err(format!(
            "box {name} = {v} is outside the pixel range {} to {}",
            i32::MIN,
            u32::MAX
        )));
    }
    Ok(v as i64)
}

pub(super) fn size(w: impl Into<i128>, h: impl Into<i128>) -> PyResult<(i64, i64)> {
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
    pub(super) fn attributes_name(&self) -> String {
        format!("object '{}' attributes", self.label)
    }

    /// What changed since the object was read from `roi`, or None.
    pub(super) fn changes(
        &self,
        py: Python<'_>,
        origin: &Origin,
        roi: &Roi<'_>,
    ) -> PyResult<Option<Change>> {
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
    pub(super) fn differs_from(&self, py: Python<'_>, origin: &Origin) -> bool {
        self.label != origin.label
            || (self.x, self.y, self.w, self.h) != origin.rect
            || self.confidence.map(f64::to_bits) != origin.confidence.map(f64::to_bits)
            || self.track_id != origin.track_id
            || self.parent_id != origin.parent_id
            || self.model != origin.model
            || !self.attributes.bind(py).is_empty()
    }

    pub(super) fn new_meta(&self, py: Python<'_>, id: i32) -> PyResult<NewObject> {
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
