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
//!
//! Rooms: `roi.rs` reads ROI metas (and the relation meta's detections) into
//! objects; `object.rs` is `savant_gst.Object` and its checks; `write.rs` writes
//! what Python changed back to the metas; `params_meta.rs` keeps the params meta
//! that carries objects through elements that drop theirs. This file holds the
//! frame's list of objects as Python sees it.

mod object;
mod params_meta;
mod roi;
mod write;

pub use object::Object;
use object::*;
pub use params_meta::restore_dropped;
use params_meta::*;
use roi::*;
pub use roi::{read, visit, ObjectData};
use write::*;
pub use write::{apply, Edit};

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
