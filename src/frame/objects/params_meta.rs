//! The `SavantObjectParams` custom meta: every object a stage wrote, with its ROI
//! id, label, box and params and the frame's size, so params survive video filters
//! and objects survive elements that drop ROI metas (`restore_dropped`).

// The parent's names (metas, constants, the other rooms).
use super::*;

/// The params meta's entries (`roi` structures), in order, without copying.
pub(super) fn stored_entries(
    carrier: &gst::StructureRef,
) -> impl Iterator<Item = &gst::StructureRef> {
    carrier
        .get::<gst::ArrayRef>(OBJECTS)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.get::<&gst::StructureRef>().ok())
}

/// An entry's params, without copying.
pub(super) fn stored_params(entry: &gst::StructureRef) -> impl Iterator<Item = &gst::StructureRef> {
    entry
        .get::<gst::ArrayRef>("params")
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.get::<&gst::StructureRef>().ok())
}

/// Whether `entry` stands for `meta`: same id, same label.
pub(super) fn stands_for(entry: &gst::StructureRef, meta: &VideoRegionOfInterestMeta) -> bool {
    entry.get::<i32>("id").ok() == Some(meta.id())
        && entry.get::<&str>("label").ok() == Some(meta.roi_type())
}

/// The objects stored in the params meta (`store_params`): one `roi` structure per
/// object in the array `objects`. An array, not a field per ROI id: field names are
/// interned for the life of the process, and ids from a producer may grow forever.
#[derive(Default)]
pub(super) struct Stored<'a> {
    /// Entries by id, for the ids only one entry has.
    pub(super) unique: HashMap<i32, &'a gst::StructureRef>,
}

impl<'a> Stored<'a> {
    pub(super) fn of(carrier: &'a gst::StructureRef) -> Self {
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
    pub(super) fn lost_params(
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

/// A box as stored: the visible part of a box starting left of or above the frame
/// (ROI metas hold unsigned pixels; drawing clips the rest).
pub(super) fn stored_rect((x, y, w, h): (i64, i64, i64, i64)) -> (u32, u32, u32, u32) {
    let x0 = x.max(0);
    let y0 = y.max(0);
    let w = (x + w - x0).max(0);
    let h = (y + h - y0).max(0);
    // Object checks every coordinate against the pixel range, so these fit.
    let fit = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    (fit(x0), fit(y0), fit(w), fit(h))
}

/// Copies every object into the params meta (label, box, ids and params, with the
/// frame's `size`), so that the params survive video filters and the objects
/// survive elements that drop ROI metas; params of ROIs that already lost theirs
/// are kept.
pub(super) fn store_params(buffer: &mut gst::BufferRef, size: (u32, u32)) {
    let carrier = PARAMS_META.structure(buffer);
    let stored = carrier.as_ref().map(|c| Stored::of(c)).unwrap_or_default();
    let metas: Vec<_> = buffer.iter_meta::<VideoRegionOfInterestMeta>().collect();
    let ids = id_counts(metas.iter().map(|m| m.id()));
    let mut entries = Vec::with_capacity(metas.len());
    for meta in &metas {
        let mut params: Vec<gst::Structure> = meta.params().map(|p| p.to_owned()).collect();
        // Without a unique id, params could come back on the wrong object.
        if ids[&meta.id()] == 1 {
            params.extend(stored.lost_params(meta, |s| {
                super::roi::meta_param(meta, super::roi::name_quark(s)).is_none()
            }));
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
pub(super) fn dropped(buffer: &gst::BufferRef) -> bool {
    let Some(carrier) = PARAMS_META.structure(buffer) else {
        return false;
    };
    let mut metas = buffer.iter_meta::<VideoRegionOfInterestMeta>().peekable();
    if metas.peek().is_none() {
        return true;
    }
    // Usually the first ROI meta is the first entry's object: one comparison.
    if let (Some(meta), Some(entry)) = (metas.peek(), stored_entries(carrier).next()) {
        if stands_for(entry, meta) {
            return false;
        }
    }
    // Otherwise one pass over each: entries and metas come in the thousands from a
    // detector, and a pairwise search was quadratic on every frame.
    let stored: HashSet<(i32, &str)> = stored_entries(carrier)
        .filter_map(|entry| {
            Some((
                entry.get::<i32>("id").ok()?,
                entry.get::<&str>("label").ok()?,
            ))
        })
        .collect();
    !metas.any(|meta| stored.contains(&(meta.id(), meta.roi_type())))
}

/// One object of the params meta, as `restore_dropped` puts it back.
pub(super) struct Dropped {
    pub(super) label: String,
    pub(super) id: i32,
    pub(super) parent_id: i32,
    pub(super) rect: (u32, u32, u32, u32),
    pub(super) params: Vec<gst::Structure>,
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
