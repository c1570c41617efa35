//! Reading a buffer's objects: its ROI metas (with params the params meta kept for
//! them) and, with `analytics`, the relation meta's detections no ROI stands for.

// The parent's names (metas, constants, the other rooms).
use std::sync::LazyLock;

use super::*;

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
pub(super) struct Roi<'a> {
    pub(super) meta: gst::MetaRef<'a, VideoRegionOfInterestMeta>,
    pub(super) restored: Vec<gst::Structure>,
}

/// A param's quark: the known ones from [`QUARKS`] (GStreamer's
/// `gst_video_region_of_interest_meta_get_param` compares names as strings, a quark
/// lookup and a strcmp per param on every read), others interned.
fn quark_of(name: &str) -> glib::Quark {
    let q = &*QUARKS;
    match name {
        DETECTION => q.detection,
        SAVANT_OBJECT => q.savant_object,
        SAVANT_ATTRIBUTES => q.attributes,
        _ => glib::Quark::from_str(name),
    }
}

/// A structure's name as a quark: GStreamer 1.22's own form of it (1.26 deprecates
/// quarks for interned strings, which 1.22 lacks).
pub(super) fn name_quark(s: &gst::StructureRef) -> glib::Quark {
    #[allow(deprecated)]
    s.name_quark()
}

/// The params and fields this crate reads, interned once: looking a field up by
/// name interns the name again (a global lock) on every read.
struct Quarks {
    detection: glib::Quark,
    savant_object: glib::Quark,
    attributes: glib::Quark,
    confidence: glib::Quark,
    track_id: glib::Quark,
    model: glib::Quark,
}

static QUARKS: LazyLock<Quarks> = LazyLock::new(|| Quarks {
    detection: glib::Quark::from_str(DETECTION),
    savant_object: glib::Quark::from_str(SAVANT_OBJECT),
    attributes: glib::Quark::from_str(SAVANT_ATTRIBUTES),
    confidence: glib::Quark::from_str(CONFIDENCE),
    track_id: glib::Quark::from_str(TRACK_ID),
    model: glib::Quark::from_str(MODEL),
});

/// A ROI's `detection`, `savant-object` and attributes params.
#[derive(Default, Clone, Copy)]
pub(super) struct Known<'a> {
    pub(super) detection: Option<&'a gst::StructureRef>,
    pub(super) object: Option<&'a gst::StructureRef>,
    pub(super) attributes: Option<&'a gst::StructureRef>,
}

impl<'a> Known<'a> {
    pub(super) fn confidence(&self) -> Option<f64> {
        let value = field(self.detection?, QUARKS.confidence)?;
        value
            .get::<f64>()
            .ok()
            .or_else(|| value.get::<f32>().ok().map(f64::from))
    }

    pub(super) fn track_id(&self) -> Option<i64> {
        let value = field(self.object?, QUARKS.track_id)?;
        value
            .get::<i64>()
            .ok()
            .or_else(|| value.get::<i32>().ok().map(i64::from))
            .or_else(|| value.get::<u32>().ok().map(i64::from))
    }

    pub(super) fn model(&self) -> Option<&'a str> {
        field(self.object?, QUARKS.model)?
            .get::<Option<&str>>()
            .ok()
            .flatten()
    }
}

/// A param's field by quark.
fn field(param: &gst::StructureRef, quark: glib::Quark) -> Option<&glib::SendValue> {
    #[allow(deprecated)] // 1.26's interned strings replace quarks; 1.22 has quarks
    param.value_by_quark(quark).ok()
}

/// The meta's param named `quark`, compared as quarks.
pub(super) fn meta_param(
    meta: &VideoRegionOfInterestMeta,
    quark: glib::Quark,
) -> Option<&gst::StructureRef> {
    meta.params().find(|s| name_quark(s) == quark)
}

impl Roi<'_> {
    pub(super) fn param(&self, name: &str) -> Option<&gst::StructureRef> {
        self.param_by_quark(quark_of(name))
    }

    fn param_by_quark(&self, quark: glib::Quark) -> Option<&gst::StructureRef> {
        meta_param(&self.meta, quark).or_else(|| {
            self.restored
                .iter()
                .find(|s| name_quark(s) == quark)
                .map(|s| s.as_ref())
        })
    }

    /// The params this crate reads, found in one walk of the meta's list (the
    /// params a video filter dropped, from the params meta).
    pub(super) fn known(&self) -> Known<'_> {
        let q = &*QUARKS;
        let mut known = Known::default();
        let restored = self.restored.iter().map(|s| s.as_ref());
        for param in self.meta.params().chain(restored) {
            let name = name_quark(param);
            let slot = if name == q.detection {
                &mut known.detection
            } else if name == q.savant_object {
                &mut known.object
            } else if name == q.attributes {
                &mut known.attributes
            } else {
                continue;
            };
            slot.get_or_insert(param);
        }
        known
    }

    pub(super) fn confidence(&self) -> Option<f64> {
        self.known().confidence()
    }

    pub(super) fn track_id(&self) -> Option<i64> {
        self.known().track_id()
    }

    pub(super) fn model(&self) -> Option<String> {
        self.known().model().map(str::to_owned)
    }

    pub(super) fn field_type(&self, param: &str, field: &str) -> Option<glib::Type> {
        self.param(param)?.value(field).ok().map(|v| v.type_())
    }

    pub(super) fn rect(&self) -> (i64, i64, i64, i64) {
        let (x, y, w, h) = self.meta.rect();
        (x as i64, y as i64, w as i64, h as i64)
    }
}

/// The buffer's ROI metas, in order.
pub(super) fn rois(buffer: &gst::BufferRef) -> Vec<Roi<'_>> {
    let carrier = PARAMS_META.structure(buffer);
    let metas: Vec<_> = buffer.iter_meta::<VideoRegionOfInterestMeta>().collect();
    // Only buffers that went through a stage that wrote objects, and then through
    // an element that dropped a meta's params, pay for this. GStreamer's video
    // filters drop every param of a meta or none: a meta with a param lost none.
    let carrier = carrier.filter(|_| metas.iter().any(|m| m.params().next().is_none()));
    let (ids, stored) = match &carrier {
        Some(carrier) => (id_counts(metas.iter().map(|m| m.id())), Stored::of(carrier)),
        None => (HashMap::new(), Stored::default()),
    };
    metas
        .into_iter()
        .map(|meta| {
            let restored = if ids.get(&meta.id()) == Some(&1) {
                stored.lost_params(&meta, |s| meta_param(&meta, name_quark(s)).is_none())
            } else {
                Vec::new()
            };
            Roi { meta, restored }
        })
        .collect()
}

pub(super) fn id_counts(ids: impl Iterator<Item = i32>) -> HashMap<i32, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// Reads every region-of-interest meta of `buffer` (and the relation meta's own
/// detections), owned.
pub fn read(buffer: &gst::BufferRef) -> Vec<ObjectData> {
    let source_id = crate::frame::source::read(buffer);
    let mut objects = Vec::new();
    visit(buffer, |view| {
        objects.push(ObjectData {
            label: view.label.to_owned(),
            x: view.x,
            y: view.y,
            w: view.w,
            h: view.h,
            confidence: view.confidence,
            track_id: view.track_id,
            model: view.model.map(str::to_owned),
            attributes: view.attributes.map(|a| a.to_owned()),
            source_id: source_id.clone(),
        })
    });
    objects
}

/// One object as the frame's metas hold it, borrowed: what savantpublish writes for
/// every object of every frame, without copying a label or an attributes structure.
#[derive(Debug)]
pub struct ObjectView<'a> {
    /// The id `frame.objects` shows.
    pub id: Option<i64>,
    /// The id of the object this one is part of, None for none.
    pub parent_id: Option<i64>,
    pub label: &'a str,
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub confidence: Option<f64>,
    pub track_id: Option<i64>,
    pub model: Option<&'a str>,
    pub attributes: Option<&'a gst::StructureRef>,
}

/// Calls `f` with the buffer's objects as `frame.objects` shows them: ROI metas,
/// then the relation meta's own detections with the ids Python gives them (after
/// the largest ROI id, in mtd order); a parent id of 0 (or less) is none.
pub fn visit(buffer: &gst::BufferRef, mut f: impl FnMut(ObjectView<'_>)) {
    let rois = rois(buffer);
    let mut max_id = 0;
    for roi in &rois {
        let (x, y, w, h) = roi.rect();
        max_id = max_id.max(roi.meta.id());
        let parent = roi.meta.parent_id();
        let known = roi.known();
        f(ObjectView {
            id: Some(i64::from(roi.meta.id())),
            parent_id: (parent > 0).then_some(i64::from(parent)),
            label: roi.meta.roi_type(),
            x,
            y,
            w,
            h,
            confidence: known.confidence(),
            track_id: known.track_id(),
            model: known.model(),
            attributes: known.attributes,
        });
    }
    let foreign = foreign(buffer, &rois);
    let first = i64::from(max_id) + 1;
    let id_of = |mtd: u32| {
        foreign
            .iter()
            .position(|d| d.mtd_id == mtd)
            .map(|i| first + i as i64)
    };
    for (i, detection) in foreign.iter().enumerate() {
        let parent = detection
            .parent_roi
            .map(i64::from)
            .or_else(|| detection.parent_mtd.and_then(id_of))
            .filter(|p| *p > 0);
        f(ObjectView {
            id: Some(first + i as i64),
            parent_id: parent,
            label: detection.label.as_str(),
            x: detection.rect.0,
            y: detection.rect.1,
            w: detection.rect.2,
            h: detection.rect.3,
            confidence: Some(detection.confidence),
            track_id: detection.track_id,
            model: None,
            attributes: None,
        });
    }
}

/// The ROI metas as the relation meta mirrors them.
pub(super) fn mirrored(buffer: &gst::BufferRef) -> Vec<Mirrored> {
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
pub(super) fn foreign(buffer: &gst::BufferRef, rois: &[Roi<'_>]) -> Vec<Foreign> {
    if !analytics::ENABLED {
        return Vec::new();
    }
    let pairs: Vec<(i32, &str)> = rois
        .iter()
        .map(|r| (r.meta.id(), r.meta.roi_type()))
        .collect();
    analytics::foreign(buffer, &pairs)
}
