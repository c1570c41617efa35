//! Frame objects reused per thread. Allocating and freeing the Python object of
//! every frame (and moving the 400-byte state into it) was a tenth of what a trivial
//! stage costs per buffer; a frame Python did not keep is a spare of its thread
//! after the call, with its state already dropped, and the next buffer's state is
//! written into it. A frame Python kept (itself, a plane, an exported view: each
//! holds a reference) is never a spare: it goes the usual way when Python lets go.

use std::cell::RefCell;

use pyo3::ffi;
use pyo3::prelude::*;

use super::{Frame, FrameState};

/// Spares kept per thread: a batch's frames come back together.
const SPARES_PER_THREAD: usize = 16;

thread_local! {
    /// Objects whose state is `None`, referenced from here alone. Freed with the
    /// thread (pyo3 defers the decref when the thread has no GIL then).
    static SPARES: RefCell<Vec<Py<Frame>>> = const { RefCell::new(Vec::new()) };
}

impl Frame {
    /// The Python object for `state`: a spare of this thread, else a new one.
    ///
    /// # Errors
    ///
    /// Python could not allocate a new object.
    #[inline]
    pub(crate) fn bind(py: Python<'_>, state: FrameState) -> PyResult<Bound<'_, Frame>> {
        let spare = SPARES
            .try_with(|spares| spares.borrow_mut().pop())
            .ok()
            .flatten();
        match spare {
            Some(frame) => {
                // SAFETY: a spare is referenced by SPARES alone (checked in `spare`),
                // and it left SPARES just now: this is the only reference, and no
                // `&FrameState` of it exists.
                unsafe { *frame.get().state.get() = Some(state) };
                Ok(frame.into_bound(py))
            }
            None => Bound::new(
                py,
                Frame {
                    state: std::cell::UnsafeCell::new(Some(state)),
                },
            ),
        }
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
        // nothing can observe the state change.
        let state = unsafe { (*frame.get().state.get()).take() };
        // Dropping it may run Python (the attributes' values): with the frame
        // already out of reach.
        drop(state);
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
