//! Objects in GStreamer's analytics metadata (`GstAnalyticsRelationMeta`, GStreamer
//! 1.24+), the way GStreamer's own analytics elements (the ONNX detectors' decoders,
//! `objectdetectionoverlay`, DL Streamer) pass detections. Built with the cargo
//! feature `analytics`; without it the two entry points below do nothing.
//!
//! The ROI metas stay the objects' primary home (every GStreamer version has them);
//! the relation meta mirrors them:
//!
//! - Reading: an object-detection mtd that is not the mirror of one of the frame's
//!   ROI metas is a *foreign* detection and appears in `frame.objects` after the ROI
//!   objects: label (its quark), box, confidence (its location confidence), track id
//!   (a tracking mtd it `RELATE_TO`s) and parent (an object-detection mtd it
//!   `IS_PART_OF`).
//! - Writing: when a stage changes objects, the relation meta is rebuilt from the ROI
//!   metas (foreign detections that Python kept become ROI metas first, removed ones
//!   are gone): one object-detection mtd per object, a tracking mtd for a track id
//!   (its first/last-seen times and lost flag kept when the id is unchanged), `IS_PART_OF`
//!   (child to parent) and `CONTAIN` (parent to child) relations, and the
//!   classification mtds that an object's old detection `RELATE_TO`'d. GstAnalytics
//!   has no call to change or remove an mtd, hence the rebuild. Tracking and
//!   classification mtds no detection refers to are copied as they are.
//! - A relation meta that holds mtds of other types (segmentation, tensors, types
//!   added later) cannot be rebuilt without losing them: it is left as it is, the
//!   changed objects are written to ROI metas only, and a GST_DEBUG WARNING says so.
//! - Which mtd mirrors which ROI is kept in a custom meta (`SavantAnalyticsLinks`:
//!   ROI id, label and mtd id), checked against the mtd's label on reading, so a
//!   relation meta made anew by another element is never mistaken for ours.

#[cfg(feature = "analytics")]
mod imp;

#[cfg(feature = "analytics")]
pub use imp::{foreign, register, sync};

/// A detection from the relation meta that no ROI meta mirrors.
#[derive(Debug, Clone, PartialEq)]
pub struct Foreign {
    /// The object-detection mtd's id in the relation meta.
    pub mtd_id: u32,
    pub label: String,
    pub rect: (i64, i64, i64, i64),
    pub confidence: f64,
    pub track_id: Option<i64>,
    /// The mtd id of the detection this one `IS_PART_OF`.
    pub parent_mtd: Option<u32>,
    /// The ROI id of the object this one is part of, when that is a mirrored ROI.
    pub parent_roi: Option<i32>,
}

/// A ROI meta as the relation meta mirrors it (read only with `analytics`).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "analytics"), allow(dead_code))]
pub struct Mirrored {
    pub id: i32,
    pub parent_id: i32,
    pub label: String,
    pub rect: (u32, u32, u32, u32),
    pub confidence: Option<f64>,
    pub track_id: Option<i64>,
}

#[cfg(not(feature = "analytics"))]
pub fn register() {}

/// Without the feature there is no relation meta to read.
#[cfg(not(feature = "analytics"))]
pub fn foreign(_buffer: &gst::BufferRef, _rois: &[(i32, &str)]) -> Vec<Foreign> {
    Vec::new()
}

/// Without the feature the ROI metas are the only home of objects.
#[cfg(not(feature = "analytics"))]
pub fn sync(_buffer: &mut gst::BufferRef, _rois: &[Mirrored], _converted: &[(i32, u32)]) {}

/// Whether objects are also read from and written to the relation meta.
pub const ENABLED: bool = cfg!(feature = "analytics");
