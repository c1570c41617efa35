//! Frame objects reused per thread. Allocating and freeing the Python object of
//! every frame (and moving the 400-byte state into it) was a tenth of what a trivial
//! stage costs per buffer; a frame Python did not keep is a spare of its thread
//! after the call, with its state already dropped, and the next buffer's state is
//! written into it. A frame Python kept (itself, a plane, an exported view: each
//! holds a reference) is never a spare: it goes the usual way when Python lets go.

use std::cell::{RefCell, UnsafeCell};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::layout::FrameLayout;
use super::{Access, Frame, FrameState};

/// Spares kept per thread: a batch's frames come back together.
const SPARES_PER_THREAD: usize = 16;

thread_local! {
    /// Objects whose state is `None`, referenced from here alone and untracked by
    /// the garbage collector, so nothing in Python can reach them. Freed with the
    /// thread (pyo3 defers the decref when the thread has no GIL then).
    static SPARES: RefCell<Vec<Py<Frame>>> = const { RefCell::new(Vec::new()) };
}

/// Why a buffer could not be a frame.
#[derive(Debug)]
pub(crate) enum NotAFrame {
    /// It does not fit its caps, or could not be mapped: a stream error.
    Buffer(String),
    /// Python could not make the object.
    Python(PyErr),
}

impl Frame {
    /// The frame of `buffer` (as [`Frame::new`]), in a spare object of this thread
    /// when there is one. Its state is built where it stays, in the object.
    ///
    /// # Errors
    ///
    /// [`NotAFrame`].
    #[inline]
    pub(crate) fn of_buffer<'py>(
        py: Python<'py>,
        buffer: &gst::Buffer,
        caps_layout: &FrameLayout,
        access: Access,
        stage: Py<PyString>,
    ) -> Result<Bound<'py, Frame>, NotAFrame> {
        let mapping =
            FrameState::writable_mapping(buffer, caps_layout, access).map_err(NotAFrame::Buffer)?;
        let spare = SPARES
            .try_with(|spares| spares.borrow_mut().pop())
            .ok()
            .flatten()
            .map(|frame| frame.into_bound(py))
            // SAFETY: a live object (the Bound), with the GIL.
            .filter(|frame| unsafe { ffi::Py_REFCNT(frame.as_ptr()) } == 1);
        let frame = match spare {
            Some(frame) => {
                // SAFETY: spares are untracked (`spare`); the frame is Python's again.
                unsafe { ffi::PyObject_GC_Track(frame.as_ptr().cast()) };
                frame
            }
            None => Bound::new(
                py,
                Frame {
                    state: UnsafeCell::new(None),
                },
            )
            .map_err(NotAFrame::Python)?,
        };
        let slot = frame.get().state.get();
        // SAFETY: the object just left SPARES with a reference count of 1 (checked
        // above; nothing in Python can reach a spare, see `spare`) or was just made:
        // ours is its only reference, and its state is None, so no `&FrameState` of
        // it exists while we write.
        let fitted = unsafe {
            let state = (*slot).insert(FrameState::unfitted(
                buffer,
                caps_layout,
                mapping,
                Some(stage),
            ));
            state.fit(access)
        };
        if let Err(e) = fitted {
            Frame::spare(frame);
            return Err(NotAFrame::Buffer(e));
        }
        Ok(frame)
    }

    /// After the call, with `frame` the caller's last use of it: when nothing else
    /// references the object, its state is dropped now (unmapped, the buffer
    /// released) and the object becomes a spare; otherwise it is only released.
    #[inline]
    pub(crate) fn spare(frame: Bound<'_, Frame>) {
        // SAFETY: `frame` is a live object and we hold the GIL (the Bound proves both).
        if unsafe { ffi::Py_REFCNT(frame.as_ptr()) } != 1 {
            return;
        }
        // SAFETY: ours is the only reference (count 1, and the count cannot grow
        // without a reference to start from), and no `&FrameState` of it is alive:
        // nothing can observe the state change. Dropping the state may run Python
        // (the attributes' values), with the frame out of reach.
        unsafe { *frame.get().state.get() = None };
        // Out of the collector's lists: `gc.get_objects()` (which memory tools walk)
        // cannot hand a spare to Python. Deallocation untracks it again harmlessly.
        // SAFETY: a live, tracked GC object (every pyclass is one), with the GIL.
        unsafe { ffi::PyObject_GC_UnTrack(frame.as_ptr().cast()) };
        let frame = frame.unbind();
        let _ = SPARES.try_with(|spares| {
            let mut spares = spares.borrow_mut();
            if spares.len() < SPARES_PER_THREAD {
                spares.push(frame);
                None
            } else {
                Some(frame)
            }
        });
    }
}
