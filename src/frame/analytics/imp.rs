//! The relation-meta side of analytics.rs (cargo feature `analytics`).
//!
//! Tracking mtds are read and re-added through the C functions: the binding's
//! `info()` panics on a first/last-seen time of GST_CLOCK_TIME_NONE, which a C
//! producer may store.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use gst::glib;
use gst_analytics::ffi as affi;
use gst_analytics::prelude::*;
use gst_analytics::{
    AnalyticsAnyMtd, AnalyticsClassificationMtd, AnalyticsMtd, AnalyticsMtdRef, AnalyticsODMtd,
    AnalyticsRelationMeta, AnalyticsTrackingMtd, RelTypes,
};

use super::{Foreign, Mirrored};
use crate::frame::attributes;

const LINKS_META_NAME: &str = "SavantAnalyticsLinks";

/// The most mtds a rebuild writes into one relation meta. GStreamer keeps an
/// n-by-n relation matrix per meta (a byte per pair: 4 MiB at this bound), and
/// copies the meta whenever the buffer is copied; a stage that added 6,000 tracked
/// objects a frame (12,000 mtds) peaked at 588 MB and took 15 s a frame. Past the
/// bound the objects are in ROI metas only (their primary home), and no relation
/// meta describes the frame's old objects.
pub const MAX_MTDS: usize = 2048;
/// Bytes of mtd data per mtd a rebuild reserves (a detection's header and box; a
/// classification adds [`CLASS_BYTES`] per class).
const MTD_BYTES: usize = 64;
const CLASS_BYTES: usize = 16;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantanalytics",
        gst::DebugColorFlags::empty(),
        Some("gst-savant objects in GstAnalyticsRelationMeta"),
    )
});

/// Registers the links meta; called from plugin_init. No tags, so video filters copy
/// it, as they copy the relation meta (which has a scale transform).
pub fn register() {
    if !gst::meta::CustomMeta::is_registered(LINKS_META_NAME) {
        gst::meta::CustomMeta::register(LINKS_META_NAME, &[]);
    }
}

/// ROI (id, label) -> the mtd id that mirrors it, as the links meta records it.
struct Link {
    roi_id: i32,
    label: String,
    mtd_id: u32,
}

fn links(buffer: &gst::BufferRef) -> Vec<Link> {
    let Ok(meta) = gst::meta::CustomMeta::from_buffer(buffer, LINKS_META_NAME) else {
        return Vec::new();
    };
    let s = meta.structure();
    let (Ok(rois), Ok(labels), Ok(mtds)) = (
        s.get::<gst::Array>("roi-ids"),
        s.get::<gst::Array>("labels"),
        s.get::<gst::Array>("mtd-ids"),
    ) else {
        return Vec::new();
    };
    rois.iter()
        .zip(labels.iter())
        .zip(mtds.iter())
        .filter_map(|((roi, label), mtd)| {
            Some(Link {
                roi_id: roi.get::<i32>().ok()?,
                label: label.get::<String>().ok()?,
                mtd_id: mtd.get::<u32>().ok()?,
            })
        })
        .collect()
}

fn write_links(buffer: &mut gst::BufferRef, links: &[Link]) {
    if links.is_empty() {
        if let Ok(meta) = gst::meta::CustomMeta::from_mut_buffer(buffer, LINKS_META_NAME) {
            let _ = meta.remove();
        }
        return;
    }
    let structure = gst::Structure::builder(LINKS_META_NAME)
        .field("roi-ids", gst::Array::new(links.iter().map(|l| l.roi_id)))
        .field(
            "labels",
            gst::Array::new(links.iter().map(|l| l.label.as_str())),
        )
        .field("mtd-ids", gst::Array::new(links.iter().map(|l| l.mtd_id)))
        .build();
    attributes::replace_custom_meta_structure(buffer, LINKS_META_NAME, structure);
}

fn od_label(od: &AnalyticsMtdRef<'_, AnalyticsODMtd>) -> Option<String> {
    od.obj_type().map(|q| q.as_str().to_string())
}

/// Links that still hold: the ROI (same id and label) is on the frame and the mtd
/// is a detection with that label. mtd id -> ROI id.
fn valid_links(
    buffer: &gst::BufferRef,
    meta: &gst::MetaRef<'_, AnalyticsRelationMeta>,
    rois: &[(i32, &str)],
) -> HashMap<u32, i32> {
    let present: HashSet<(i32, &str)> = rois.iter().copied().collect();
    links(buffer)
        .into_iter()
        .filter(|l| present.contains(&(l.roi_id, l.label.as_str())))
        .filter(|l| {
            meta.mtd::<AnalyticsODMtd>(l.mtd_id)
                .is_some_and(|od| od_label(&od).as_deref() == Some(l.label.as_str()))
        })
        .map(|l| (l.mtd_id, l.roi_id))
        .collect()
}

fn raw_mtd<T: AnalyticsMtd>(
    meta: &gst::MetaRef<'_, AnalyticsRelationMeta>,
    mtd: &AnalyticsMtdRef<'_, T>,
) -> affi::GstAnalyticsTrackingMtd {
    affi::GstAnalyticsTrackingMtd {
        id: mtd.id(),
        meta: meta.as_ptr() as *mut affi::GstAnalyticsRelationMeta,
    }
}

/// A tracking mtd's fields as GStreamer stores them (times may be NONE).
#[derive(Debug, Clone, Copy)]
struct Track {
    id: u64,
    first_seen: u64,
    last_seen: u64,
    lost: bool,
}

fn track(
    meta: &gst::MetaRef<'_, AnalyticsRelationMeta>,
    mtd: &AnalyticsMtdRef<'_, AnalyticsTrackingMtd>,
) -> Option<Track> {
    let handle = raw_mtd(meta, mtd);
    let (mut id, mut first, mut last, mut lost) = (0u64, 0u64, 0u64, 0);
    // SAFETY: `handle` names a tracking mtd of `meta`, which outlives this call.
    let ok = unsafe {
        affi::gst_analytics_tracking_mtd_get_info(
            &handle, &mut id, &mut first, &mut last, &mut lost,
        )
    };
    (ok != 0).then_some(Track {
        id,
        first_seen: first,
        last_seen: last,
        lost: lost != 0,
    })
}

fn related_track(meta: &gst::MetaRef<'_, AnalyticsRelationMeta>, od: u32) -> Option<Track> {
    let mtd = meta
        .iter_direct_related::<AnalyticsTrackingMtd>(od, RelTypes::RELATE_TO)
        .next()?;
    track(meta, &mtd)
}

/// Detections in the relation meta that none of `rois` (id, label) stands for.
pub fn foreign(buffer: &gst::BufferRef, rois: &[(i32, &str)]) -> Vec<Foreign> {
    let Some(meta) = buffer.meta::<AnalyticsRelationMeta>() else {
        return Vec::new();
    };
    let mirrors = valid_links(buffer, &meta, rois);
    let mut found = Vec::new();
    for od in meta.iter::<AnalyticsODMtd>() {
        if mirrors.contains_key(&od.id()) {
            continue;
        }
        let (Some(label), Ok(location)) = (od_label(&od), od.location()) else {
            continue;
        };
        let parent_mtd = meta
            .iter_direct_related::<AnalyticsODMtd>(od.id(), RelTypes::IS_PART_OF)
            .next()
            .map(|p| p.id());
        found.push(Foreign {
            mtd_id: od.id(),
            label,
            rect: (
                i64::from(location.x),
                i64::from(location.y),
                i64::from(location.w.max(0)),
                i64::from(location.h.max(0)),
            ),
            confidence: f64::from(location.loc_conf_lvl),
            track_id: related_track(&meta, od.id()).and_then(|t| i64::try_from(t.id).ok()),
            parent_mtd,
            parent_roi: parent_mtd.and_then(|p| mirrors.get(&p).copied()),
        });
    }
    found
}

/// What a rebuild carries over from the old relation meta.
#[derive(Default)]
struct Carried {
    /// Per detection mtd id: its tracking mtd and classification mtds.
    tracks: HashMap<u32, Track>,
    classes: HashMap<u32, Vec<Vec<(glib::Quark, f32)>>>,
    /// Tracking and classification mtds no detection refers to.
    loose_tracks: Vec<Track>,
    loose_classes: Vec<Vec<(glib::Quark, f32)>>,
}

fn classes(mtd: &AnalyticsMtdRef<'_, AnalyticsClassificationMtd>) -> Vec<(glib::Quark, f32)> {
    (0..mtd.len())
        .map(|i| (mtd.quark(i), mtd.level(i)))
        .collect()
}

/// Reads what a rebuild keeps; Err(type name) when the meta holds an mtd type a
/// rebuild would lose.
fn carried(meta: &gst::MetaRef<'_, AnalyticsRelationMeta>) -> Result<Carried, String> {
    let known = [
        AnalyticsODMtd::mtd_type(),
        AnalyticsTrackingMtd::mtd_type(),
        AnalyticsClassificationMtd::mtd_type(),
    ];
    for mtd in meta.iter::<AnalyticsAnyMtd>() {
        let t = mtd.mtd_type();
        if !known.contains(&t) {
            // SAFETY: returns a static string for a registered type.
            let name = unsafe { glib::GStr::from_ptr(affi::gst_analytics_mtd_type_get_name(t)) };
            return Err(name.to_string());
        }
    }
    let mut carried = Carried::default();
    let mut referenced = HashSet::new();
    for od in meta.iter::<AnalyticsODMtd>() {
        if let Some(t) = meta
            .iter_direct_related::<AnalyticsTrackingMtd>(od.id(), RelTypes::RELATE_TO)
            .next()
        {
            referenced.insert(t.id());
            if let Some(info) = track(meta, &t) {
                carried.tracks.insert(od.id(), info);
            }
        }
        for c in
            meta.iter_direct_related::<AnalyticsClassificationMtd>(od.id(), RelTypes::RELATE_TO)
        {
            referenced.insert(c.id());
            carried
                .classes
                .entry(od.id())
                .or_default()
                .push(classes(&c));
        }
    }
    for t in meta.iter::<AnalyticsTrackingMtd>() {
        if !referenced.contains(&t.id()) {
            carried.loose_tracks.extend(track(meta, &t));
        }
    }
    for c in meta.iter::<AnalyticsClassificationMtd>() {
        if !referenced.contains(&c.id()) {
            carried.loose_classes.push(classes(&c));
        }
    }
    Ok(carried)
}

fn add_track(
    meta: &mut gst::MetaRefMut<'_, AnalyticsRelationMeta, gst::meta::Standalone>,
    t: Track,
) -> Option<u32> {
    let mut out = std::mem::MaybeUninit::<affi::GstAnalyticsTrackingMtd>::uninit();
    // SAFETY: the meta is borrowed mutably (its buffer is writable); `out` is
    // written on success, and only read then.
    unsafe {
        let ptr = meta.as_mut_ptr();
        let added = affi::gst_analytics_relation_meta_add_tracking_mtd(
            ptr,
            t.id,
            t.first_seen,
            out.as_mut_ptr(),
        );
        if added == 0 {
            return None;
        }
        let mut out = out.assume_init();
        if t.last_seen != t.first_seen {
            affi::gst_analytics_tracking_mtd_update_last_seen(&mut out, t.last_seen);
        }
        if t.lost {
            affi::gst_analytics_tracking_mtd_set_lost(&mut out);
        }
        Some(out.id)
    }
}

fn add_classes(
    meta: &mut gst::MetaRefMut<'_, AnalyticsRelationMeta, gst::meta::Standalone>,
    classes: &[(glib::Quark, f32)],
) -> Option<u32> {
    let levels: Vec<f32> = classes.iter().map(|c| c.1).collect();
    let quarks: Vec<glib::Quark> = classes.iter().map(|c| c.0).collect();
    meta.add_cls_mtd(&levels, &quarks).ok().map(|m| m.id())
}

/// The mtds (and bytes of mtd data) a rebuild writes: a detection per ROI, a
/// tracking mtd per track id, the classifications carried over, and the loose ones.
fn needed(rois: &[Mirrored], before: &HashMap<i32, u32>, carried: &Carried) -> (usize, usize) {
    let class_mtd = |c: &Vec<(glib::Quark, f32)>| (1, MTD_BYTES + c.len() * CLASS_BYTES);
    let mut total = (0, 0);
    let mut add = |(n, b): (usize, usize)| {
        total.0 += n;
        total.1 += b;
    };
    for roi in rois {
        add((1, MTD_BYTES));
        if roi.track_id.is_some_and(|t| t >= 0) {
            add((1, MTD_BYTES));
        }
        let classes = before.get(&roi.id).and_then(|o| carried.classes.get(o));
        for c in classes.into_iter().flatten() {
            add(class_mtd(c));
        }
    }
    for _ in &carried.loose_tracks {
        add((1, MTD_BYTES));
    }
    for c in &carried.loose_classes {
        add(class_mtd(c));
    }
    total
}

fn clamp(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Rebuilds the relation meta from the frame's ROI metas (`rois`, after a stage's
/// edit was written); `converted` pairs the ROI ids of foreign detections that became
/// ROI metas with their old mtd ids.
pub fn sync(buffer: &mut gst::BufferRef, rois: &[Mirrored], converted: &[(i32, u32)]) {
    let pairs: Vec<(i32, &str)> = rois.iter().map(|r| (r.id, r.label.as_str())).collect();
    // ROI id -> the mtd it stood for before this edit.
    let mut before: HashMap<i32, u32> = HashMap::new();
    let carried = match buffer.meta::<AnalyticsRelationMeta>() {
        None => Carried::default(),
        Some(meta) => {
            for (mtd, roi) in valid_links(buffer, &meta, &pairs) {
                before.insert(roi, mtd);
            }
            before.extend(converted.iter().copied());
            match carried(&meta) {
                Ok(carried) => carried,
                Err(kind) => {
                    gst::warning!(
                        CAT,
                        "the relation meta holds '{kind}' mtds, which a rebuild would lose: \
                         objects were written to ROI metas only"
                    );
                    let links: Vec<Link> = rois
                        .iter()
                        .filter_map(|r| {
                            before.get(&r.id).map(|&mtd_id| Link {
                                roi_id: r.id,
                                label: r.label.clone(),
                                mtd_id,
                            })
                        })
                        .collect();
                    write_links(buffer, &links);
                    return;
                }
            }
        }
    };
    if let Some(old) = buffer.meta_mut::<AnalyticsRelationMeta>() {
        if old.remove().is_err() {
            gst::warning!(CAT, "cannot remove the old relation meta (locked)");
            return;
        }
    }
    let nothing_loose = carried.loose_tracks.is_empty() && carried.loose_classes.is_empty();
    if rois.is_empty() && nothing_loose {
        write_links(buffer, &[]);
        return;
    }
    let (mtds, bytes) = needed(rois, &before, &carried);
    if mtds > MAX_MTDS {
        gst::warning!(
            CAT,
            "{} objects need {mtds} mtds, more than the {MAX_MTDS} a relation meta is \
             given (GStreamer keeps an n-by-n matrix): objects were written to ROI \
             metas only",
            rois.len()
        );
        write_links(buffer, &[]);
        return;
    }
    let first_seen = buffer.pts().map(|t| t.nseconds()).unwrap_or(0);
    let mut links = Vec::with_capacity(rois.len());
    let mut mtd_of: HashMap<i32, u32> = HashMap::new();
    // Sized for every mtd up front: grown one mtd at a time, the meta copies its
    // data and matrix as it goes (most of a frame's time at a few thousand mtds).
    let mut meta = AnalyticsRelationMeta::add_full(
        buffer,
        &gst_analytics::AnalyticsRelationMetaInitParams::new(mtds.max(1), bytes.max(1)),
    );
    for roi in rois {
        let (x, y, w, h) = roi.rect;
        let confidence = roi.confidence.unwrap_or(1.0) as f32;
        let label = glib::Quark::from_str(roi.label.as_str());
        let Ok(od) = meta
            .add_od_mtd(label, clamp(x), clamp(y), clamp(w), clamp(h), confidence)
            .map(|m| m.id())
        else {
            gst::warning!(CAT, "cannot add a detection mtd");
            break;
        };
        mtd_of.entry(roi.id).or_insert(od);
        links.push(Link {
            roi_id: roi.id,
            label: roi.label.clone(),
            mtd_id: od,
        });
        let old = before.get(&roi.id).copied();
        if let Some(track_id) = roi.track_id.and_then(|t| u64::try_from(t).ok()) {
            let track = match old.and_then(|o| carried.tracks.get(&o)) {
                Some(t) if t.id == track_id => *t,
                _ => Track {
                    id: track_id,
                    first_seen,
                    last_seen: first_seen,
                    lost: false,
                },
            };
            if let Some(t) = add_track(&mut meta, track) {
                let _ = meta.set_relation(RelTypes::RELATE_TO, od, t);
            }
        }
        for cls in old
            .and_then(|o| carried.classes.get(&o))
            .into_iter()
            .flatten()
        {
            if let Some(c) = add_classes(&mut meta, cls) {
                let _ = meta.set_relation(RelTypes::RELATE_TO, od, c);
            }
        }
    }
    for roi in rois
        .iter()
        .filter(|r| r.parent_id != 0 && r.parent_id != r.id)
    {
        if let (Some(&child), Some(&parent)) = (mtd_of.get(&roi.id), mtd_of.get(&roi.parent_id)) {
            let _ = meta.set_relation(RelTypes::IS_PART_OF, child, parent);
            let _ = meta.set_relation(RelTypes::CONTAIN, parent, child);
        }
    }
    for t in &carried.loose_tracks {
        add_track(&mut meta, *t);
    }
    for c in &carried.loose_classes {
        add_classes(&mut meta, c);
    }
    write_links(buffer, &links);
}
