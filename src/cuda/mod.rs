//! CUDA frames: what savantpyfunc needs from the CUDA driver and GStreamer's CUDA
//! library, loaded at run time. Neither is linked: a host without a GPU (or without
//! gst-plugins-bad) loads the plugin as before, and only a pipeline that negotiates
//! `video/x-raw(memory:CUDAMemory)` or asks for a CUDA context gets here.
//!
//! One context: GStreamer's CUDA elements create their own context unless one is
//! provided through the `gst.cuda.context` GstContext, while CuPy and PyTorch use
//! the device's primary context, and memory of one context cannot be used from
//! another. savantpyfunc answers the context query with a GstCudaContext wrapping the
//! primary context ([`context_for_device`]), so both sides share it.
//!
//! Lifetimes: the libraries are opened once and never closed; each device's primary
//! context is retained once and its GstCudaContext kept for the life of the process
//! (both cheap, and released by the driver at exit).
//!
//! Layering: used by `frame` (mapping, synchronization) and `pyfunc` (the context
//! query); it uses neither.

mod symbols;

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::sync::{Mutex, OnceLock};

use gst::glib;
use gst::glib::translate::{from_glib_full, from_glib_none};
use gst::prelude::*;

use symbols::{CuContext, Symbols, CUDA_SUCCESS};

/// GStreamer's CUDA map flag (`GST_MAP_CUDA`, gstcudamemory.h): mapping a CUDA
/// memory with it gives the device pointer instead of a host copy.
pub const GST_MAP_CUDA: gst::ffi::GstMapFlags = gst::ffi::GST_MAP_FLAG_LAST << 1;

/// The memory type of GStreamer's CUDA allocator (`GST_CUDA_MEMORY_TYPE_NAME`).
pub const CUDA_MEMORY_TYPE: &str = "gst.cuda.memory";

/// The caps feature of frames in CUDA memory (`GST_CAPS_FEATURE_MEMORY_CUDA_MEMORY`).
pub const CAPS_FEATURE_CUDA_MEMORY: &str = "memory:CUDAMemory";

/// Raw video of any format in system memory or in CUDA memory: what the elements
/// that route frames without reading their pixels (savantmux, savantdemux) take.
pub fn raw_video_caps() -> gst::Caps {
    let mut caps = gst::Caps::builder("video/x-raw").build();
    caps.merge(
        gst::Caps::builder("video/x-raw")
            .features([CAPS_FEATURE_CUDA_MEMORY])
            .build(),
    );
    caps
}

/// The context type GStreamer's CUDA elements query (`GST_CUDA_CONTEXT_TYPE`).
pub const CONTEXT_TYPE: &str = "gst.cuda.context";

/// The start of `GstCudaMemory` (gstcudamemory.h, the same in 1.22 to 1.26): the
/// context it was allocated in follows the GstMemory.
#[repr(C)]
struct GstCudaMemoryHead {
    mem: gst::ffi::GstMemory,
    context: *mut c_void,
}

/// The loaded libraries, or why they could not be loaded (said once per error).
fn symbols() -> Result<&'static Symbols, String> {
    static SYMBOLS: OnceLock<Result<Symbols, String>> = OnceLock::new();
    SYMBOLS
        .get_or_init(|| {
            let symbols = Symbols::load()?;
            // SAFETY: the symbols were resolved from the libraries just loaded.
            unsafe {
                check(&symbols, (symbols.cu_init)(0), "cuInit")?;
                if (symbols.gst_cuda_load_library)() == 0 {
                    return Err("GStreamer's CUDA library could not load the driver".into());
                }
            }
            Ok(symbols)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Whether CUDA frames can work in this process (driver and GStreamer's CUDA
/// library present, a device initialized); the error says what is missing.
pub fn available() -> Result<(), String> {
    symbols().map(|_| ())
}

fn check(symbols: &Symbols, result: c_int, call: &str) -> Result<(), String> {
    if result == CUDA_SUCCESS {
        return Ok(());
    }
    let mut name: *const std::ffi::c_char = std::ptr::null();
    // SAFETY: cuGetErrorName writes a static string or leaves the pointer alone.
    unsafe { (symbols.cu_get_error_name)(result, &mut name) };
    let name = if name.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: a NUL-terminated static string from the driver.
        unsafe { CStr::from_ptr(name) }.to_string_lossy()
    };
    Err(format!("{call} failed: {name} ({result})"))
}

/// A device's primary context and the GstCudaContext that wraps it.
struct Primary {
    handle: CuContext,
    gst_context: glib::Object,
}

// SAFETY: a CUcontext is a handle the driver lets any thread use; the GstCudaContext
// is a GObject (thread-safe reference counting, immutable once made).
unsafe impl Send for Primary {}

fn primaries() -> &'static Mutex<HashMap<u32, Primary>> {
    static PRIMARIES: OnceLock<Mutex<HashMap<u32, Primary>>> = OnceLock::new();
    PRIMARIES.get_or_init(Default::default)
}

/// The primary context of device `device` (retained once per process), wrapped in a
/// GstCudaContext; both come back as (handle, GstCudaContext).
fn primary(device: u32) -> Result<(CuContext, glib::Object), String> {
    let symbols = symbols()?;
    let mut primaries = primaries().lock().unwrap();
    if let Some(p) = primaries.get(&device) {
        return Ok((p.handle, p.gst_context.clone()));
    }
    let ordinal = c_int::try_from(device).map_err(|_| format!("no CUDA device {device}"))?;
    let mut cu_device: c_int = 0;
    let mut handle: CuContext = std::ptr::null_mut();
    // SAFETY: out-pointers to locals; the driver was initialized in symbols().
    let wrapped = unsafe {
        check(
            symbols,
            (symbols.cu_device_get)(&mut cu_device, ordinal),
            "cuDeviceGet",
        )?;
        check(
            symbols,
            (symbols.cu_device_primary_ctx_retain)(&mut handle, cu_device),
            "cuDevicePrimaryCtxRetain",
        )?;
        (symbols.gst_cuda_context_new_wrapped)(handle, cu_device)
    };
    if wrapped.is_null() {
        return Err(format!(
            "GStreamer could not wrap the primary context of CUDA device {device}"
        ));
    }
    // SAFETY: a new GstCudaContext (a GstObject) whose reference we now own.
    let gst_context: glib::Object =
        unsafe { from_glib_full(wrapped.cast::<glib::gobject_ffi::GObject>()) };
    primaries.insert(
        device,
        Primary {
            handle,
            gst_context: gst_context.clone(),
        },
    );
    Ok((handle, gst_context))
}

/// A `gst.cuda.context` GstContext holding device `device`'s primary context, for
/// answering the context query of GStreamer's CUDA elements.
pub fn context_for_device(device: u32) -> Result<gst::Context, String> {
    let symbols = symbols()?;
    let (_, gst_context) = primary(device)?;
    // SAFETY: a valid GstCudaContext; the call returns a new GstContext we own.
    let context = unsafe { (symbols.gst_context_new_cuda_context)(gst_context.as_ptr().cast()) };
    if context.is_null() {
        return Err("GStreamer could not make a CUDA GstContext".into());
    }
    // SAFETY: a new GstContext, owned.
    Ok(unsafe { from_glib_full(context) })
}

/// Answers a `gst.cuda.context` context query with device `device`'s primary
/// context; false (not answered) for other queries or when CUDA is unavailable.
pub fn answer_context_query(query: &mut gst::QueryRef, device: u32) -> bool {
    let gst::QueryViewMut::Context(q) = query.view_mut() else {
        return false;
    };
    if q.context_type() != CONTEXT_TYPE {
        return false;
    }
    match context_for_device(device) {
        Ok(context) => {
            q.set_context(&context);
            true
        }
        Err(_) => false,
    }
}

/// Where a mapped CUDA memory lives, for `__cuda_array_interface__` and DLPack.
#[derive(Debug, Clone, Copy)]
pub struct DeviceMemory {
    /// The device ordinal (GstCudaContext's `cuda-device-id`).
    pub device: u32,
    /// The CUDA stream GStreamer's memory is ordered on (1.24+), or None: it is
    /// ready when mapped (GStreamer 1.22 elements finish their work before pushing).
    pub stream: Option<usize>,
    /// Whether the memory belongs to the device's primary context, the one CuPy and
    /// PyTorch use.
    pub in_primary_context: bool,
}

/// A buffer under `memory:CUDAMemory` caps holds exactly one GStreamer CUDA memory
/// (several would be merged into a system-memory copy when mapped); anything else is
/// a buffer whose caps lie, refused before Python sees it.
pub fn check_buffer(buffer: &gst::BufferRef) -> Result<(), String> {
    if buffer.n_memory() != 1 {
        return Err(format!(
            "caps say memory:CUDAMemory but the buffer has {} memories (expected one)",
            buffer.n_memory()
        ));
    }
    let memory = buffer.peek_memory(0);
    if !memory.is_type(CUDA_MEMORY_TYPE) {
        return Err(format!(
            "caps say memory:CUDAMemory but the buffer holds memory of allocator {}",
            memory
                .allocator()
                .map(|a| a.name().to_string())
                .unwrap_or_else(|| "none".into())
        ));
    }
    Ok(())
}

/// The GstCudaContext `memory` was allocated in; an error for memory that is not
/// GStreamer's CUDA memory.
fn context_of(memory: &gst::MemoryRef) -> Result<*mut c_void, String> {
    if !memory.is_type(CUDA_MEMORY_TYPE) {
        return Err("not a CUDA memory".into());
    }
    let raw = memory.as_ptr() as *mut gst::ffi::GstMemory;
    // SAFETY: a memory of GStreamer's CUDA allocator is a GstCudaMemory, which starts
    // with GstCudaMemoryHead; its context is set at allocation and never changes.
    let context = unsafe { (*raw.cast::<GstCudaMemoryHead>()).context };
    if context.is_null() {
        return Err("a CUDA memory without a context".into());
    }
    Ok(context)
}

/// Runs `f` (a driver call) with `memory`'s context current on this thread.
fn in_context_of(
    memory: &gst::MemoryRef,
    call: &str,
    f: impl FnOnce(&Symbols) -> c_int,
) -> Result<(), String> {
    let symbols = symbols()?;
    let context = context_of(memory)?;
    // SAFETY: the memory's GstCudaContext, alive while the memory is; push and pop
    // are paired on this thread.
    let result = unsafe {
        if (symbols.gst_cuda_context_push)(context) == 0 {
            return Err("cannot make the frame's CUDA context current".into());
        }
        let result = f(symbols);
        let mut popped: CuContext = std::ptr::null_mut();
        (symbols.gst_cuda_context_pop)(&mut popped);
        result
    };
    check(symbols, result, call)
}

/// Checks that `memory` is GStreamer CUDA memory and waits for the work its
/// producer queued on it (GStreamer 1.24+ orders memory on a stream; 1.22 elements
/// synchronize before pushing). Call before handing the device pointer to Python.
pub fn prepare(memory: &gst::MemoryRef) -> Result<DeviceMemory, String> {
    let symbols = symbols()?;
    let context = context_of(memory)?;
    let raw = memory.as_ptr() as *mut gst::ffi::GstMemory;
    // SAFETY: `context` is the memory's GstCudaContext (a GObject), alive while the
    // memory is.
    let context_object: glib::Object =
        unsafe { from_glib_none(context.cast::<glib::gobject_ffi::GObject>()) };
    let device = context_object.property::<u32>("cuda-device-id");
    // SAFETY: as above; returns the CUcontext the GstCudaContext holds.
    let handle = unsafe { (symbols.gst_cuda_context_get_handle)(context) };
    let (primary_handle, _) = primary(device)?;
    let mut stream = None;
    if let (Some(sync), Some(get_stream), Some(handle_of)) = (
        symbols.gst_cuda_memory_sync,
        symbols.gst_cuda_memory_get_stream,
        symbols.gst_cuda_stream_get_handle,
    ) {
        // SAFETY: GstCudaMemory functions of 1.24+ on a GstCudaMemory.
        unsafe {
            sync(raw.cast());
            let s = get_stream(raw.cast());
            if !s.is_null() {
                stream = Some(handle_of(s) as usize).filter(|&h| h != 0);
            }
        }
    }
    Ok(DeviceMemory {
        device,
        stream,
        in_primary_context: handle == primary_handle,
    })
}

/// Waits until the work queued in `memory`'s context (by Python, on any stream) is
/// done, so the buffer can go downstream. Call without the GIL.
pub fn finish_device_work(memory: &gst::MemoryRef) -> Result<(), String> {
    // SAFETY: cuCtxSynchronize on the current context, which in_context_of set.
    in_context_of(memory, "cuCtxSynchronize", |symbols| unsafe {
        (symbols.cu_ctx_synchronize)()
    })
}

/// Copies `host.len()` bytes of device memory at `device_ptr` (of `memory`'s
/// context) to `host`; for the read-only check, which hashes what Python could have
/// changed. `Mapping::copy_device_to_host` is the safe way to call it.
///
/// # Safety
/// `device_ptr` must be the device address of a mapping of `memory` made with
/// [`GST_MAP_CUDA`] (so it belongs to `memory`'s context), that mapping must stay
/// alive until this returns, and `host.len()` bytes from `device_ptr` must lie
/// within it. The driver cannot check any of this: a wrong address or length reads
/// another allocation of the context or faults the device.
pub unsafe fn copy_to_host(
    memory: &gst::MemoryRef,
    device_ptr: *const u8,
    host: &mut [u8],
) -> Result<(), String> {
    // SAFETY: `device_ptr` spans host.len() bytes of a live device mapping of
    // `memory` (this function's contract), in the context in_context_of made
    // current; `host` is a unique borrow of host.len() writable bytes, and
    // cuMemcpyDtoH (pageable destination) returns only once they are written.
    in_context_of(memory, "cuMemcpyDtoH", |symbols| unsafe {
        (symbols.cu_memcpy_dtoh)(host.as_mut_ptr().cast(), device_ptr as u64, host.len())
    })
}
