//! Reading our custom metas (source id, params, attributes) by their registered
//! `GstMetaInfo`, found once, instead of by name: `gst_buffer_get_custom_meta`
//! looks the name up in GStreamer's global table under a lock on every call (about
//! 650 instructions, measured with callgrind), and a stage looks for two of these
//! metas on every frame, most of which carry neither.

use std::sync::OnceLock;

use gst::ffi;
use gst::glib::translate::ToGlibPtr;

/// A custom meta registered under `name` (with `gst::meta::CustomMeta::register`).
pub struct CustomMetaKind {
    name: &'static str,
    /// The registered info's address; 0 until the meta is registered.
    info: OnceLock<usize>,
}

impl CustomMetaKind {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            info: OnceLock::new(),
        }
    }

    fn info(&self) -> Option<*const ffi::GstMetaInfo> {
        if let Some(&info) = self.info.get() {
            return Some(info as *const ffi::GstMetaInfo);
        }
        // SAFETY: a valid NUL-terminated name; the info, once registered, lives as
        // long as the process.
        let info = unsafe { ffi::gst_meta_get_info(self.name.to_glib_none().0) };
        if info.is_null() {
            // Not registered (yet): nothing can carry it; looked up again next time.
            return None;
        }
        Some(*self.info.get_or_init(|| info as usize) as *const ffi::GstMetaInfo)
    }

    /// The structure of `buffer`'s meta of this kind, if it has one.
    pub fn structure<'a>(&self, buffer: &'a gst::BufferRef) -> Option<&'a gst::StructureRef> {
        let info = self.info()?;
        let mut state = std::ptr::null_mut();
        loop {
            // SAFETY: iterating a buffer's metas does not change it; `state` is the
            // iterator's own cursor, started at NULL.
            let meta = unsafe { ffi::gst_buffer_iterate_meta(buffer.as_mut_ptr(), &mut state) };
            if meta.is_null() {
                return None;
            }
            // SAFETY: `meta` is a live meta of `buffer`; one whose info is ours is a
            // GstCustomMeta, whose structure lives as long as the meta, i.e. as long
            // as the borrow of `buffer`.
            unsafe {
                if std::ptr::eq((*meta).info, info) {
                    let structure =
                        ffi::gst_custom_meta_get_structure(meta as *mut ffi::GstCustomMeta);
                    return Some(gst::StructureRef::from_glib_borrow(structure));
                }
            }
        }
    }
}
