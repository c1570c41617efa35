//! Frames built by Python (`Frame.from_array`, `Frame.from_buffer`): how an array
//! maps to a format's planes, and GStreamer buffers handed over from PyGObject.

// The Frame and what the parent imports.
use super::*;

/// How `Frame.from_array` reads an array: the packed formats as (h, w, channels) or
/// (h, w), the planar ones as their planes one after another, each without row
/// padding, in (rows, w) form: (h * 3 / 2, w) for I420/YV12/NV12/NV21 (what
/// `cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)` gives), (h * 3, w) for Y444.
pub(super) fn array_frame_size(
    format: gst_video::VideoFormat,
    arrangement: Arrangement,
    channels: usize,
    shape: &[usize],
) -> PyResult<(u32, u32)> {
    use gst_video::VideoFormat as F;
    let bad_shape = |expected: &str| {
        PyValueError::new_err(format!(
            "Frame.from_array: a {} array needs shape {expected}, got {shape:?}",
            format.to_str()
        ))
    };
    let (h, w) = match (arrangement, shape) {
        (Arrangement::Packed, &[h, w, c]) if c == channels => (h, w),
        (Arrangement::Packed, &[h, w]) if channels == 1 => (h, w),
        (Arrangement::Packed, _) if channels == 1 => return Err(bad_shape("(h, w)")),
        (Arrangement::Packed, _) => return Err(bad_shape(&format!("(h, w, {channels})"))),
        (Arrangement::Planar, &[rows, w]) => match format {
            F::Y444 if rows % 3 == 0 => (rows / 3, w),
            F::Y444 => return Err(bad_shape("(h * 3, w)")),
            _ if rows % 3 == 0 && w % 2 == 0 => (rows / 3 * 2, w),
            _ => return Err(bad_shape("(h * 3 / 2, w) with h and w even")),
        },
        (Arrangement::Planar, _) if format == F::Y444 => return Err(bad_shape("(h * 3, w)")),
        (Arrangement::Planar, _) => return Err(bad_shape("(h * 3 / 2, w)")),
        (Arrangement::Opaque, _) => return Err(bad_shape("of a format with an array layout")),
    };
    if h == 0 || w == 0 || h > i32::MAX as usize || w > i32::MAX as usize {
        return Err(bad_shape("with a non-zero height and width"));
    }
    Ok((w as u32, h as u32))
}

/// The longest caps text `Frame.from_buffer` hands to GStreamer; raw video caps are a
/// few hundred bytes.
pub(super) const MAX_CAPS_TEXT_BYTES: usize = 64 * 1024;

/// The `GstBuffer*` inside a PyGObject `Gst.Buffer`.
///
/// PyGObject has no function for this: its own C API (`pyg_boxed_get`) and
/// gst-python's C code read the `boxed` field of the `PyGBoxed` struct every boxed
/// wrapper starts with, a layout unchanged since PyGObject 3.0 (3.42 in Debian 12).
/// We do the same, and only after proving it is such a wrapper: an instance of
/// `gobject.GBoxed`, whose own `gtype` field says GstBuffer, pointing at a mini
/// object whose type is GstBuffer.
pub(super) fn gst_buffer_of(buffer: &Bound<'_, PyAny>) -> PyResult<gst::Buffer> {
    use gst::glib::translate::{from_glib_none, IntoGlib};

    #[repr(C)]
    struct PyGBoxed {
        ob_base: ffi::PyObject,
        boxed: *mut std::ffi::c_void,
        gtype: gst::glib::ffi::GType,
        free_on_dealloc: c_int,
    }

    static GBOXED: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();
    let py = buffer.py();
    let not_a_buffer = || {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "Frame.from_buffer needs a Gst.Buffer (PyGObject), got {}",
            buffer
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    };
    let gboxed = GBOXED.get_or_try_init(py, || -> PyResult<_> {
        Ok(py
            .import("gi.repository.GObject")?
            .getattr("GBoxed")?
            .cast_into::<pyo3::types::PyType>()?
            .unbind())
    })?;
    if !buffer.is_instance(gboxed.bind(py))? {
        return Err(not_a_buffer());
    }
    let buffer_type = <gst::Buffer as gst::glib::prelude::StaticType>::static_type().into_glib();
    // SAFETY: `buffer` is an instance of gobject.GBoxed (checked above), so its
    // object starts with the PyGBoxed struct; the GIL keeps it alive while we read.
    let (boxed, gtype) = unsafe {
        let raw = buffer.as_ptr().cast::<PyGBoxed>();
        ((*raw).boxed, (*raw).gtype)
    };
    if gtype != buffer_type || boxed.is_null() {
        return Err(not_a_buffer());
    }
    let mini_object = boxed.cast::<gst::ffi::GstMiniObject>();
    // SAFETY: a boxed of type GstBuffer is a GstBuffer, which starts with its
    // GstMiniObject; the wrapper holds a reference, so it is alive, and
    // from_glib_none takes our own.
    unsafe {
        if (*mini_object).type_ != buffer_type {
            return Err(not_a_buffer());
        }
        Ok(from_glib_none(boxed.cast::<gst::ffi::GstBuffer>()))
    }
}
