//! One exported array's shape and strides, and the buffer protocol export that
//! points into the mapped frame.

// The Frame and what the parent imports.
use super::*;

/// Shape and strides of one exported array, stored inside the exporting object so the
/// pointers handed to Python stay valid for as long as the view holds that object.
#[derive(Debug, Clone, Copy)]
pub(super) struct ArrayView {
    pub(super) offset: usize,
    /// The byte the last row ends at; exports check it against the mapping.
    pub(super) end: Option<usize>,
    pub(super) ndim: c_int,
    pub(super) shape: [isize; 3],
    pub(super) strides: [isize; 3],
    pub(super) item_size: usize,
    pub(super) item_format: &'static CStr,
}

impl ArrayView {
    pub(super) fn of_plane(layout: &FrameLayout, index: usize) -> Self {
        let p = &layout.planes[index];
        let item = layout.item_size as isize;
        let (ndim, shape, strides) = if p.channels == 1 {
            (
                2,
                [p.rows as isize, p.columns as isize, 0],
                [p.stride as isize, item, 0],
            )
        } else {
            let c = p.channels as isize;
            (
                3,
                [p.rows as isize, p.columns as isize, c],
                [p.stride as isize, c * item, item],
            )
        };
        Self {
            offset: p.offset,
            end: layout.plane_end(index),
            ndim,
            shape,
            strides,
            item_size: layout.item_size,
            item_format: layout.item_format,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.shape[..self.ndim as usize]
            .iter()
            .map(|&d| d as usize)
            .product::<usize>()
            * self.item_size
    }

    pub(super) fn is_c_contiguous(&self) -> bool {
        let mut expected = self.item_size as isize;
        for d in (0..self.ndim as usize).rev() {
            if self.shape[d] > 1 && self.strides[d] != expected {
                return false;
            }
            expected *= self.shape[d];
        }
        true
    }

    /// The view lies inside `mapping` (what every export's pointer arithmetic needs).
    pub(super) fn check_within(&self, mapping: &Mapping) -> PyResult<()> {
        if self.end.is_none_or(|end| end > mapping.size()) {
            return Err(PyBufferError::new_err(format!(
                "plane at offset {} does not fit the mapped {} bytes",
                self.offset,
                mapping.size()
            )));
        }
        Ok(())
    }

    /// Fills a Py_buffer for this view of `mapping`, with `owner` as its exporter.
    ///
    /// # Safety
    /// `view` must be the Py_buffer CPython passed to `__getbuffer__`, and `self` must
    /// live inside `owner`.
    pub(super) unsafe fn export(
        &self,
        owner: Bound<'_, PyAny>,
        mapping: &Mapping,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("NULL Py_buffer"));
        }
        let readonly = !mapping.writable();
        if readonly && flags & ffi::PyBUF_WRITABLE != 0 {
            return Err(PyBufferError::new_err(
                "the frame is read-only; set writable=true on the element to modify it",
            ));
        }
        let wants_strides = flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES;
        let wants_contiguous = flags & (ffi::PyBUF_C_CONTIGUOUS & !ffi::PyBUF_STRIDES) != 0
            || flags & (ffi::PyBUF_F_CONTIGUOUS & !ffi::PyBUF_STRIDES) != 0
            || flags & (ffi::PyBUF_ANY_CONTIGUOUS & !ffi::PyBUF_STRIDES) != 0;
        if (!wants_strides || wants_contiguous) && !self.is_c_contiguous() {
            return Err(PyBufferError::new_err(
                "the frame's rows are padded (stride > row size); use np.asarray(frame), \
                 which understands strides",
            ));
        }
        // The layout was checked against the buffer's size; the mapping spans the
        // whole buffer. Checked again here because the pointer arithmetic below
        // relies on it.
        self.check_within(mapping)?;
        // SAFETY: view is valid per the caller. The array spans bytes offset..end of
        // the mapping (checked above); the mapping is owned by owner and the shape and
        // strides live in `self` inside owner, all alive while view.obj holds owner.
        unsafe {
            (*view).buf = mapping.data().add(self.offset).cast();
            (*view).len = self.len() as isize;
            (*view).readonly = readonly as c_int;
            (*view).itemsize = self.item_size as isize;
            (*view).format = if flags & ffi::PyBUF_FORMAT != 0 {
                self.item_format.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = self.ndim;
            (*view).shape = if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                self.shape.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if wants_strides {
                self.strides.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
            (*view).obj = owner.into_ptr();
        }
        Ok(())
    }
}
