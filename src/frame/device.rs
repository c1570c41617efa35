//! CUDA frames as device arrays: `__cuda_array_interface__` (version 3) on frames and
//! planes, which `cupy.asarray(frame)` and `torch.as_tensor(frame, device="cuda")`
//! read without copying. The consumer holds the frame (or plane) object, so the
//! mapping and the buffer stay alive for as long as the array or tensor does.
//!
//! The memory is ready when Python sees it: the producer's stream was waited on
//! when the frame was mapped (`cuda::prepare`). What Python queues on it is waited
//! for after the call, before the buffer goes downstream (`cuda::finish_device_work`).
//!
//! Views of read-only frames are not marked read-only: device memory has no
//! read-only mapping to enforce it, CuPy ignores the mark, and PyTorch refuses views
//! that carry it (`torch.as_tensor`: "the read only flag is not supported"). A
//! read-only stage's device writes are caught as its CPU writes through OpenCV are:
//! by the read-only check (`verify-readonly`), which hashes the planes (copied to the
//! host) before and after the call.
//!
//! DLPack (`__dlpack__`) is refused with a message pointing at the CUDA array
//! interface: with the DLPack exporter of commit b0b3b8b, `torch.from_dlpack` on
//! planes crashed the process (SIGSEGV) on a GPU host in some call sequences. It
//! stays off until that is understood.

use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::mapping::Mapping;
use super::ArrayView;

/// What to say when Python asks for a CPU array of a CUDA frame.
pub const CPU_ARRAY_OF_CUDA_FRAME: &str = "the frame is in CUDA device memory \
    (video/x-raw(memory:CUDAMemory)), which numpy cannot read: use cupy.asarray(frame) or \
    torch.as_tensor(frame, device=\"cuda\") (zero copy); for a CPU copy use cupy.asnumpy(cupy.asarray(frame)), or put cudadownload before savantpyfunc";

/// What `__dlpack__` says (see the module comment).
pub const NO_DLPACK: &str = "savant_gst frames do not export DLPack: use \
    torch.as_tensor(frame, device=\"cuda\") or cupy.asarray(frame) (the CUDA array \
    interface, zero copy; frame.plane(i) for planar formats)";

/// What to say when Python asks for a device array of a frame in system memory.
pub const DEVICE_ARRAY_OF_CPU_FRAME: &str = "the frame is in system memory: use \
    np.asarray(frame) (zero copy), or negotiate video/x-raw(memory:CUDAMemory) (e.g. \
    nvh264dec or cudaupload before savantpyfunc) for device arrays";

/// `__cuda_array_interface__` of `view` over a CUDA `mapping`.
pub fn cuda_array_interface<'py>(
    py: Python<'py>,
    mapping: &Mapping,
    view: &ArrayView,
) -> PyResult<Bound<'py, PyDict>> {
    let device = checked_device(mapping, view)?;
    let dict = PyDict::new(py);
    dict.set_item("version", 3)?;
    dict.set_item(
        "shape",
        PyTuple::new(py, &view.shape[..view.ndim as usize])?,
    )?;
    dict.set_item("typestr", if view.item_size == 2 { "<u2" } else { "|u1" })?;
    let address = mapping.data() as usize + view.offset;
    // Never marked read-only (see the module comment).
    dict.set_item("data", (address, false))?;
    if view.is_c_contiguous() {
        dict.set_item("strides", py.None())?;
    } else {
        dict.set_item(
            "strides",
            PyTuple::new(py, &view.strides[..view.ndim as usize])?,
        )?;
    }
    // None: ready now (synchronized when mapped). Otherwise the stream GStreamer
    // ordered the memory on, which consumers may still wait on (it is done).
    dict.set_item("stream", device.stream)?;
    Ok(dict)
}

fn checked_device<'m>(
    mapping: &'m Mapping,
    view: &ArrayView,
) -> PyResult<&'m crate::cuda::DeviceMemory> {
    let device = mapping
        .device()
        .ok_or_else(|| PyBufferError::new_err(DEVICE_ARRAY_OF_CPU_FRAME))?;
    if !device.in_primary_context {
        return Err(PyBufferError::new_err(format!(
            "the frame's CUDA memory belongs to a context other than device {}'s primary \
             context, which CuPy and PyTorch use, and cannot be read from it. savantpyfunc \
             gives the pipeline's CUDA elements the primary context when they ask \
             (gst.cuda.context); an application that sets its own gst.cuda.context must \
             wrap the primary context",
            device.device
        )));
    }
    if view.end.is_none_or(|end| end > mapping.size()) {
        return Err(PyBufferError::new_err(format!(
            "plane at offset {} does not fit the mapped {} bytes",
            view.offset,
            mapping.size()
        )));
    }
    Ok(device)
}
