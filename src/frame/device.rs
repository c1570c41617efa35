//! CUDA frames as device arrays: `__cuda_array_interface__` (version 3) and DLPack
//! (`__dlpack__` / `__dlpack_device__`, legacy and 1.0 capsules), for frames and
//! planes. Both describe the mapped device memory without copying; the exported
//! object (or the capsule's manager) holds the frame, so the mapping and the buffer
//! stay alive for as long as a CuPy array or PyTorch tensor over them does.
//!
//! DLPack deleters run without the GIL as the protocol allows: PyTorch calls them
//! after releasing the GIL inside a call that holds it (seen: `PyGILState_Check()`
//! is 0 there), where pyo3's own count still says "held". So the deleter frees its
//! Rust parts first and then takes the GIL with `PyGILState_Ensure` to release the
//! Python owner; a pyo3 `Python::attach` there would decref without the GIL (the
//! crash this replaced).
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

use std::ffi::{c_void, CStr};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::mapping::Mapping;
use super::ArrayView;

/// DLPack's device type of CUDA memory (`kDLCUDA`).
const DL_CUDA: i32 = 2;
/// DLPack's unsigned integer type code (`kDLUInt`).
const DL_UINT: u8 = 1;

const LEGACY_NAME: &CStr = c"dltensor";
const VERSIONED_NAME: &CStr = c"dltensor_versioned";

/// What to say when Python asks for a CPU array of a CUDA frame.
pub const CPU_ARRAY_OF_CUDA_FRAME: &str = "the frame is in CUDA device memory \
    (video/x-raw(memory:CUDAMemory)), which numpy cannot read: use cupy.asarray(frame), \
    torch.as_tensor(frame, device=\"cuda\") or torch.from_dlpack(frame) (zero copy); for a \
    CPU copy use cupy.asnumpy(cupy.asarray(frame)); for CPU frames set memory=system on \
    savantpyfunc (or put cudadownload before it)";

/// What to say when Python asks for a device array of a frame in system memory.
pub const DEVICE_ARRAY_OF_CPU_FRAME: &str = "the frame is in system memory: use \
    np.asarray(frame) (zero copy), or negotiate video/x-raw(memory:CUDAMemory) (e.g. \
    nvh264dec or cudaupload before savantpyfunc) for device arrays";

#[repr(C)]
#[derive(Clone, Copy)]
struct DlDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DlDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DlTensor {
    data: *mut c_void,
    device: DlDevice,
    ndim: i32,
    dtype: DlDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DlManagedTensor {
    dl_tensor: DlTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DlManagedTensor)>,
}

#[repr(C)]
struct DlPackVersion {
    major: u32,
    minor: u32,
}

#[repr(C)]
struct DlManagedTensorVersioned {
    version: DlPackVersion,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DlManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DlTensor,
}

/// One export: the DLPack struct first (its address is the capsule's pointer), then
/// what its pointers point into, and the Python object that keeps the memory alive.
#[repr(C)]
struct Exported<T> {
    managed: T,
    shape: [i64; 3],
    strides: [i64; 3],
    owner: Option<Py<PyAny>>,
}

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

/// `__dlpack_device__`: (kDLCUDA, device ordinal).
pub fn dlpack_device(mapping: &Mapping) -> PyResult<(i32, i32)> {
    let device = mapping
        .device()
        .ok_or_else(|| PyBufferError::new_err(DEVICE_ARRAY_OF_CPU_FRAME))?;
    Ok((DL_CUDA, device.device as i32))
}

/// `__dlpack__`: a capsule over `view` of `mapping`, held alive by `owner`. A 1.0
/// (versioned) capsule when the consumer's `max_version` allows it.
pub fn dlpack<'py>(
    owner: Bound<'py, PyAny>,
    mapping: &Mapping,
    view: &ArrayView,
    max_version: Option<(u32, u32)>,
    dl_device: Option<(i32, i32)>,
    copy: Option<bool>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = owner.py();
    let device = checked_device(mapping, view)?;
    if copy == Some(true) {
        return Err(PyBufferError::new_err(
            "savant_gst frames are exported without copying (copy=True is not supported); \
             copy the array you get instead",
        ));
    }
    if let Some(wanted) = dl_device {
        if wanted != (DL_CUDA, device.device as i32) {
            return Err(PyBufferError::new_err(format!(
                "the frame is on CUDA device {}, not on DLPack device {wanted:?}",
                device.device
            )));
        }
    }
    let item = view.item_size as isize;
    let ndim = view.ndim as usize;
    let mut shape = [0i64; 3];
    let mut strides = [0i64; 3];
    for d in 0..ndim {
        // DLPack strides count items, not bytes.
        if view.strides[d] % item != 0 {
            return Err(PyBufferError::new_err(format!(
                "stride {} of the frame is not a whole number of {item}-byte items",
                view.strides[d]
            )));
        }
        shape[d] = view.shape[d] as i64;
        strides[d] = (view.strides[d] / item) as i64;
    }
    // The plane's own address with byte_offset 0, as CuPy exports slices.
    // SAFETY: checked_device proved offset..end lies inside the mapping.
    let data = unsafe { mapping.data().add(view.offset) };
    let tensor = DlTensor {
        data: data.cast(),
        device: DlDevice {
            device_type: DL_CUDA,
            device_id: device.device as i32,
        },
        ndim: ndim as i32,
        dtype: DlDataType {
            code: DL_UINT,
            bits: (8 * view.item_size) as u8,
            lanes: 1,
        },
        shape: std::ptr::null_mut(),
        strides: std::ptr::null_mut(),
        byte_offset: 0,
    };
    let owner = Some(owner.unbind());
    if max_version.is_some_and(|(major, _)| major >= 1) {
        export::<DlManagedTensorVersioned>(py, tensor, shape, strides, owner)
    } else {
        export::<DlManagedTensor>(py, tensor, shape, strides, owner)
    }
}

/// The two managed-tensor structs of DLPack (legacy and 1.0): the same tensor,
/// manager and deleter in another layout, and the capsule name that says which.
trait Managed: Sized {
    const NAME: &'static CStr;
    /// A managed tensor over `tensor` whose deleter is `delete::<Self>`.
    fn new(tensor: DlTensor) -> Self;
    fn tensor_and_manager(&mut self) -> (&mut DlTensor, &mut *mut c_void);
}

impl Managed for DlManagedTensor {
    const NAME: &'static CStr = LEGACY_NAME;

    fn new(tensor: DlTensor) -> Self {
        Self {
            dl_tensor: tensor,
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(delete::<Self>),
        }
    }

    fn tensor_and_manager(&mut self) -> (&mut DlTensor, &mut *mut c_void) {
        (&mut self.dl_tensor, &mut self.manager_ctx)
    }
}

impl Managed for DlManagedTensorVersioned {
    const NAME: &'static CStr = VERSIONED_NAME;

    fn new(tensor: DlTensor) -> Self {
        Self {
            version: DlPackVersion { major: 1, minor: 0 },
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(delete::<Self>),
            // Never marked read-only (see the module comment).
            flags: 0,
            dl_tensor: tensor,
        }
    }

    fn tensor_and_manager(&mut self) -> (&mut DlTensor, &mut *mut c_void) {
        (&mut self.dl_tensor, &mut self.manager_ctx)
    }
}

/// Boxes one export and hands it to a capsule named `T::NAME`.
fn export<T: Managed>(
    py: Python<'_>,
    tensor: DlTensor,
    shape: [i64; 3],
    strides: [i64; 3],
    owner: Option<Py<PyAny>>,
) -> PyResult<Bound<'_, PyAny>> {
    let exported = Box::into_raw(Box::new(Exported {
        managed: T::new(tensor),
        shape,
        strides,
        owner,
    }));
    let address: *mut c_void = exported.cast();
    // SAFETY: `exported` is a live box we own until the capsule takes it; its
    // pointers are set now that it is in its final place. If no capsule is made, the
    // box is still ours and freed as a consumer would.
    unsafe {
        let Exported {
            managed,
            shape,
            strides,
            ..
        } = &mut *exported;
        let (tensor, manager) = managed.tensor_and_manager();
        *manager = address;
        tensor.shape = shape.as_mut_ptr();
        tensor.strides = strides.as_mut_ptr();
        let capsule = ffi::PyCapsule_New(address, T::NAME.as_ptr(), Some(destroy_capsule::<T>));
        if capsule.is_null() {
            delete::<T>(exported.cast());
            return Err(PyErr::fetch(py));
        }
        Ok(Bound::from_owned_ptr(py, capsule))
    }
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
    view.check_within(mapping)?;
    Ok(device)
}

/// The deleter of an export: frees it and releases its owner (see the module
/// comment: consumers call it with or without the GIL).
unsafe extern "C" fn delete<T: Managed>(managed: *mut T) {
    if managed.is_null() {
        return;
    }
    // SAFETY: `managed` is the first field of a boxed Exported<T> made in export(),
    // and DLPack calls the deleter once.
    let exported = unsafe { Box::from_raw(managed.cast::<Exported<T>>()) };
    drop_with_gil(exported);
}

/// Frees an export, then releases its Python owner under `PyGILState_Ensure`, which
/// takes the GIL unless this thread really holds it (see the module comment). After
/// Python finalized (a tensor freed at exit) the owner is left alone.
fn drop_with_gil<T>(mut exported: Box<Exported<T>>) {
    let owner = exported.owner.take().map(Py::into_ptr);
    drop(exported);
    let Some(owner) = owner else { return };
    // Finalizing, taking the GIL would abort the process; the owner is leaked then
    // (the process is exiting). Not `thread_state::attach`: a consumer may call the
    // deleter with the GIL already held (see the module comment).
    if !crate::python::thread_state::interpreter_alive() {
        return;
    }
    // SAFETY: Python is initialized and not finalizing (checked above); `owner` is
    // the strong reference the export held, released once, with the GIL taken for it.
    unsafe {
        let state = ffi::PyGILState_Ensure();
        ffi::Py_DecRef(owner);
        ffi::PyGILState_Release(state);
    }
}

/// A capsule nobody consumed (still named as made) frees its export; a consumer
/// renames it (`used_dltensor`) and calls the deleter itself.
unsafe extern "C" fn destroy_capsule<T: Managed>(capsule: *mut ffi::PyObject) {
    // SAFETY: CPython calls this with the capsule being destroyed, GIL held.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, T::NAME.as_ptr()) == 1 {
            let managed = ffi::PyCapsule_GetPointer(capsule, T::NAME.as_ptr());
            delete::<T>(managed.cast());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export_owned_by(owner: Py<PyAny>) -> *mut DlManagedTensor {
        let exported = Box::into_raw(Box::new(Exported {
            managed: DlManagedTensor {
                dl_tensor: DlTensor {
                    data: std::ptr::null_mut(),
                    device: DlDevice {
                        device_type: DL_CUDA,
                        device_id: 0,
                    },
                    ndim: 0,
                    dtype: DlDataType {
                        code: DL_UINT,
                        bits: 8,
                        lanes: 1,
                    },
                    shape: std::ptr::null_mut(),
                    strides: std::ptr::null_mut(),
                    byte_offset: 0,
                },
                manager_ctx: std::ptr::null_mut(),
                deleter: Some(delete::<DlManagedTensor>),
            },
            shape: [0; 3],
            strides: [0; 3],
            owner: Some(owner),
        }));
        exported.cast()
    }

    /// An object only the export holds, and a weak reference that tells when it is
    /// freed (a class instance: GC-tracked, so freeing it needs a thread state).
    fn owner_and_weakref(py: Python<'_>) -> (Py<PyAny>, Py<PyAny>) {
        let code = c"class Owner:\n    pass\n";
        let namespace = PyDict::new(py);
        py.run(code, Some(&namespace), None).unwrap();
        let owner = namespace
            .get_item("Owner")
            .unwrap()
            .unwrap()
            .call0()
            .unwrap();
        let weak = py
            .import("weakref")
            .unwrap()
            .call_method1("ref", (&owner,))
            .unwrap();
        (owner.unbind(), weak.unbind())
    }

    fn freed(py: Python<'_>, weak: &Py<PyAny>) -> bool {
        weak.bind(py).call0().unwrap().is_none()
    }

    /// PyTorch calls a DLPack deleter after releasing the GIL inside a call that holds
    /// it (PyEval_SaveThread, which pyo3 does not see). The deleter must take the GIL
    /// itself to free its owner; freeing it through pyo3 there crashed (SIGSEGV in
    /// PyObject_GC_Del).
    #[test]
    fn deleter_frees_its_owner_after_c_code_released_the_gil() {
        crate::python::interpreter::ensure_initialized().unwrap();
        Python::attach(|py| {
            let (owner, weak) = owner_and_weakref(py);
            let managed = export_owned_by(owner);
            assert!(!freed(py, &weak));
            // SAFETY: the GIL is ours to release and take back on this thread; the
            // deleter is called once, on an export made above.
            unsafe {
                let saved = ffi::PyEval_SaveThread();
                assert_eq!(ffi::PyGILState_Check(), 0);
                delete::<DlManagedTensor>(managed);
                ffi::PyEval_RestoreThread(saved);
            }
            assert!(freed(py, &weak));
        });
    }

    /// The same deleter from a thread Python has never seen.
    #[test]
    fn deleter_frees_its_owner_on_a_foreign_thread() {
        crate::python::interpreter::ensure_initialized().unwrap();
        let (managed, weak) = Python::attach(|py| {
            let (owner, weak) = owner_and_weakref(py);
            (export_owned_by(owner) as usize, weak)
        });
        // SAFETY: as above; the export is only used by this thread from here on.
        std::thread::spawn(move || unsafe {
            delete::<DlManagedTensor>(managed as *mut DlManagedTensor)
        })
        .join()
        .unwrap();
        Python::attach(|py| assert!(freed(py, &weak)));
    }
}
