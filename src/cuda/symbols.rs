//! The few functions of the CUDA driver (`libcuda.so.1`) and of GStreamer's CUDA
//! library (`libgstcuda-1.0.so.0`, which Debian 12 ships without headers) that CUDA
//! frames use, declared by hand and resolved with dlopen/dlsym.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

pub type CuContext = *mut c_void;
pub type CuResult = c_int;
pub const CUDA_SUCCESS: CuResult = 0;

pub struct Symbols {
    // libcuda.so.1 (driver API, stable since CUDA 4).
    pub cu_init: unsafe extern "C" fn(c_uint) -> CuResult,
    pub cu_device_get: unsafe extern "C" fn(*mut c_int, c_int) -> CuResult,
    pub cu_device_primary_ctx_retain: unsafe extern "C" fn(*mut CuContext, c_int) -> CuResult,
    pub cu_ctx_synchronize: unsafe extern "C" fn() -> CuResult,
    pub cu_memcpy_dtoh: unsafe extern "C" fn(*mut c_void, u64, usize) -> CuResult,
    pub cu_get_error_name: unsafe extern "C" fn(CuResult, *mut *const c_char) -> CuResult,
    // libgstcuda-1.0.so.0, GStreamer 1.22+.
    pub gst_cuda_load_library: unsafe extern "C" fn() -> GBoolean,
    pub gst_cuda_context_new_wrapped: unsafe extern "C" fn(CuContext, c_int) -> *mut c_void,
    pub gst_context_new_cuda_context:
        unsafe extern "C" fn(*mut c_void) -> *mut gst::ffi::GstContext,
    pub gst_cuda_context_get_handle: unsafe extern "C" fn(*mut c_void) -> CuContext,
    pub gst_cuda_context_push: unsafe extern "C" fn(*mut c_void) -> GBoolean,
    pub gst_cuda_context_pop: unsafe extern "C" fn(*mut CuContext) -> GBoolean,
    // GStreamer 1.24+: CUDA memory ordered on a stream.
    pub gst_cuda_memory_sync: Option<unsafe extern "C" fn(*mut c_void)>,
    pub gst_cuda_memory_get_stream: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    pub gst_cuda_stream_get_handle: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
}

type GBoolean = c_int;

struct Library {
    name: &'static CStr,
    handle: *mut c_void,
}

impl Library {
    /// Opens `name` for good (never closed: the process keeps using it).
    fn open(name: &'static CStr) -> Result<Self, String> {
        // SAFETY: dlopen is thread-safe and `name` is NUL-terminated. Opening runs the
        // library's initializers: those of the CUDA driver and of GStreamer's CUDA
        // library, made to run in any process that loads them (GStreamer's nvcodec
        // plugin opens both the same way). RTLD_LOCAL keeps their symbols from
        // taking the place of anyone else's.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(format!(
                "{} not found ({})",
                name.to_string_lossy(),
                dl_error()
            ));
        }
        Ok(Self { name, handle })
    }

    fn optional(&self, symbol: &CStr) -> Option<*mut c_void> {
        // SAFETY: a live handle and a NUL-terminated name.
        let address = unsafe { libc::dlsym(self.handle, symbol.as_ptr()) };
        (!address.is_null()).then_some(address)
    }

    fn required(&self, symbol: &CStr) -> Result<*mut c_void, String> {
        self.optional(symbol).ok_or_else(|| {
            format!(
                "{} lacks {}",
                self.name.to_string_lossy(),
                symbol.to_string_lossy()
            )
        })
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns a thread-local string or NULL.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown error".into();
    }
    // SAFETY: a NUL-terminated string, valid until the next dl call on this thread.
    unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}

/// # Safety
/// `F` must be the `unsafe extern "C" fn` type of the C function at `address`.
unsafe fn function<F: Copy>(address: *mut c_void) -> F {
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: F is a function pointer type (same size, checked), per the caller.
    unsafe { std::mem::transmute_copy::<*mut c_void, F>(&address) }
}

impl Symbols {
    pub fn load() -> Result<Self, String> {
        let cuda = Library::open(c"libcuda.so.1")?;
        let gst_cuda = Library::open(c"libgstcuda-1.0.so.0")?;
        // SAFETY: each address is the named function, whose C signature is the one
        // declared in the field it goes to (cuda.h; gstcuda*.h of GStreamer 1.22+).
        unsafe {
            Ok(Self {
                cu_init: function(cuda.required(c"cuInit")?),
                cu_device_get: function(cuda.required(c"cuDeviceGet")?),
                cu_device_primary_ctx_retain: function(cuda.required(c"cuDevicePrimaryCtxRetain")?),
                cu_ctx_synchronize: function(cuda.required(c"cuCtxSynchronize")?),
                cu_memcpy_dtoh: function(cuda.required(c"cuMemcpyDtoH_v2")?),
                cu_get_error_name: function(cuda.required(c"cuGetErrorName")?),
                gst_cuda_load_library: function(gst_cuda.required(c"gst_cuda_load_library")?),
                gst_cuda_context_new_wrapped: function(
                    gst_cuda.required(c"gst_cuda_context_new_wrapped")?,
                ),
                gst_context_new_cuda_context: function(
                    gst_cuda.required(c"gst_context_new_cuda_context")?,
                ),
                gst_cuda_context_get_handle: function(
                    gst_cuda.required(c"gst_cuda_context_get_handle")?,
                ),
                gst_cuda_context_push: function(gst_cuda.required(c"gst_cuda_context_push")?),
                gst_cuda_context_pop: function(gst_cuda.required(c"gst_cuda_context_pop")?),
                gst_cuda_memory_sync: gst_cuda
                    .optional(c"gst_cuda_memory_sync")
                    .map(|a| function(a)),
                gst_cuda_memory_get_stream: gst_cuda
                    .optional(c"gst_cuda_memory_get_stream")
                    .map(|a| function(a)),
                gst_cuda_stream_get_handle: gst_cuda
                    .optional(c"gst_cuda_stream_get_handle")
                    .map(|a| function(a)),
            })
        }
    }
}
