//! Writing what Python changed back to the buffer: changed ROI metas updated in
//! place (only the fields that changed), removed ones removed, new ones appended,
//! then the params meta and the relation meta brought up to date.

// The parent's names (metas, constants, the other rooms).
use super::*;

/// Changes to a buffer's ROI metas: one entry per existing meta, in order, then the
/// new ones.
#[derive(Debug)]
pub struct Edit {
    pub(super) metas: Vec<MetaChange>,
    pub(super) added: Vec<NewObject>,
    /// ROI ids of detections from the relation meta that became ROI metas, with
    /// their mtd ids.
    pub(super) converted: Vec<(i32, u32)>,
    /// The frame's width and height, stored with the objects.
    pub(super) size: (u32, u32),
}

#[derive(Debug)]
pub(super) enum MetaChange {
    Keep,
    Remove,
    Change(Box<Change>),
}

/// The fields of one object that changed (None: unchanged).
#[derive(Debug)]
pub(super) struct Change {
    pub(super) label: Option<String>,
    pub(super) rect: Option<(u32, u32, u32, u32)>,
    pub(super) parent_id: Option<i32>,
    /// Some(None): the field is removed.
    pub(super) confidence: Option<Option<glib::SendValue>>,
    pub(super) track_id: Option<Option<glib::SendValue>>,
    pub(super) model: Option<Option<glib::SendValue>>,
    pub(super) attributes: Option<attributes::Edit>,
    /// Params the ROI lost in a video filter, put back as it is rewritten.
    pub(super) restore: Vec<gst::Structure>,
}

impl Change {
    pub(super) fn is_empty(&self) -> bool {
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
pub(super) struct NewObject {
    pub(super) label: String,
    pub(super) rect: (u32, u32, u32, u32),
    pub(super) id: i32,
    pub(super) parent_id: i32,
    pub(super) params: Vec<gst::Structure>,
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

pub(super) fn change_meta(meta: &mut VideoRegionOfInterestMeta, change: Change) {
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
pub(super) fn set_field(
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

pub(super) fn raw(
    meta: &mut VideoRegionOfInterestMeta,
) -> *mut gst_video::ffi::GstVideoRegionOfInterestMeta {
    // VideoRegionOfInterestMeta is a transparent wrapper of the C struct.
    (meta as *mut VideoRegionOfInterestMeta).cast()
}

/// The param named `name`, mutably (gstreamer-rs only lends params immutably).
pub(super) fn param_mut<'a>(
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

pub(super) fn remove_param(meta: &mut VideoRegionOfInterestMeta, name: &str) {
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
