//! `savant_gst.Plane`: one plane of a frame as a zero-copy array.

// The Frame and what the parent imports.
use super::*;

/// One plane of a frame; exports a zero-copy array and keeps the frame alive.
#[pyclass(frozen, module = "savant_gst")]
pub struct Plane {
    pub(super) frame: Py<Frame>,
    pub(super) view: ArrayView,
}

#[pymethods]
impl Plane {
    /// (rows, columns[, channels]) of the plane's array.
    #[getter]
    pub(super) fn shape(&self) -> Vec<isize> {
        self.view.shape[..self.view.ndim as usize].to_vec()
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let frame = this.frame.get();
        if frame.layout.cuda {
            return Err(PyBufferError::new_err(device::CPU_ARRAY_OF_CUDA_FRAME));
        }
        // SAFETY: `this.view` lives inside `slf`, which holds the frame and its mapping.
        unsafe {
            this.view
                .export(slf.clone().into_any(), frame.mapping()?, view, flags)
        }
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    /// CUDA frames: the plane's device array (see Frame.__cuda_array_interface__).
    #[getter]
    pub(super) fn __cuda_array_interface__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mapping = self.frame.get().device_mapping(PyAttributeError::new_err)?;
        device::cuda_array_interface(py, mapping, &self.view)
    }

    /// CUDA frames: a DLPack capsule of the plane.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    pub(super) fn __dlpack__<'py>(
        slf: &Bound<'py, Self>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = stream;
        let this = slf.get();
        let mapping = this.frame.get().device_mapping(PyBufferError::new_err)?;
        device::dlpack(
            slf.clone().into_any(),
            mapping,
            &this.view,
            max_version,
            dl_device,
            copy,
        )
    }

    pub(super) fn __dlpack_device__(&self) -> PyResult<(i32, i32)> {
        device::dlpack_device(self.frame.get().device_mapping(PyBufferError::new_err)?)
    }

    pub(super) fn __repr__(&self) -> String {
        format!("<savant_gst.Plane shape={:?}>", self.shape())
    }
}
