//! A mapped buffer that owns its own reference, so Python views may outlive the
//! element's call and still never read unmapped memory. CUDA frames are mapped with
//! GStreamer's CUDA map flag: `data()` is then a device pointer, never dereferenced
//! on the CPU.

use crate::cuda::{self, DeviceMemory};

use gst::ffi as gst_ffi;

/// Where a frame's planes are: what the caps say (`memory:CUDAMemory` or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    System,
    Cuda,
}

impl Memory {
    pub fn of(layout: &super::layout::FrameLayout) -> Self {
        if layout.cuda {
            Self::Cuda
        } else {
            Self::System
        }
    }
}

pub struct Mapping {
    buffer: gst::Buffer,
    info: gst_ffi::GstMapInfo,
    writable: bool,
    /// Set for a mapping of CUDA memory: `data()` is a device pointer.
    device: Option<DeviceMemory>,
}

// SAFETY: what keeps `GstMapInfo` from being Send and Sync is its raw pointers
// (`memory`, `data`, `user_data`). Mapping never dereferences them through `&self`,
// and none is tied to the thread that mapped:
// - Send: a GstBuffer map may be released on any thread. Buffers and their memories
//   travel between streaming threads, so a memory's map lock is atomic and
//   allocators keep no per-thread state for a map (GStreamer's CUDA allocator
//   guards its own state with a lock). `data` is either host memory owned by
//   `buffer`, or, for a CUDA mapping, a device address: a number that means the
//   same in every thread, never dereferenced on the CPU, only handed to the driver
//   (cuda::copy_to_host makes the memory's context current on the calling thread)
//   or to CuPy/PyTorch. The other fields are Send.
// - Sync: every `&self` method reads fields that never change after `new`;
//   `data()` hands out the pointer without reading the pixels. Unmapping needs
//   `&mut self` (Drop) and happens once. Code that reads or writes the pixels
//   through `data()` is unsafe code answerable for its own races, on the host and
//   on the device alike (readonly_check.rs reads while Python may write).
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `buffer` read-only, or read-write when `writable` (the caller made the
    /// buffer writable first: GStreamer refuses write maps of shared buffers).
    /// `Memory::Cuda`: the caps say CUDA memory, so the buffer must hold exactly one
    /// GStreamer CUDA memory, which is mapped on the device after its producer's work
    /// on it is done.
    pub fn new(buffer: &gst::Buffer, writable: bool, memory: Memory) -> Result<Self, String> {
        let cuda = memory == Memory::Cuda;
        let mut flags = if writable {
            gst_ffi::GST_MAP_READWRITE
        } else {
            gst_ffi::GST_MAP_READ
        };
        let mut device = None;
        if cuda {
            cuda::check_buffer(buffer)?;
            device = Some(cuda::prepare(buffer.peek_memory(0))?);
            flags |= cuda::GST_MAP_CUDA;
        }
        let mut info = std::mem::MaybeUninit::<gst_ffi::GstMapInfo>::zeroed();
        // SAFETY: buffer is a valid GstBuffer; mapping happens before we take our own
        // reference, so a write map still sees the caller's sole reference.
        let ok = unsafe {
            gst_ffi::gst_buffer_map(
                buffer.as_ptr() as *mut gst_ffi::GstBuffer,
                info.as_mut_ptr(),
                flags,
            )
        };
        if ok == 0 {
            return Err(format!(
                "cannot map the buffer {}{}",
                if writable { "writable" } else { "readable" },
                if cuda { " on the CUDA device" } else { "" }
            ));
        }
        Ok(Self {
            buffer: buffer.clone(),
            // SAFETY: gst_buffer_map filled it in.
            info: unsafe { info.assume_init() },
            writable,
            device,
        })
    }

    pub fn data(&self) -> *mut u8 {
        self.info.data
    }

    pub fn size(&self) -> usize {
        self.info.size
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Where the memory lives when `data()` is a device pointer; None for system
    /// memory.
    pub fn device(&self) -> Option<&DeviceMemory> {
        self.device.as_ref()
    }

    /// Copies the first `host.len()` bytes of a CUDA mapping to `host`; an error for
    /// a system-memory mapping or a `host` longer than the mapping.
    pub fn copy_device_to_host(&self, host: &mut [u8]) -> Result<(), String> {
        if self.device.is_none() {
            return Err("not a CUDA mapping".into());
        }
        if host.len() > self.size() {
            return Err(format!(
                "cannot copy {} bytes out of a {}-byte mapping",
                host.len(),
                self.size()
            ));
        }
        // SAFETY: a CUDA mapping (`device` is set only when `new` mapped with
        // GST_MAP_CUDA) of the buffer's one memory (cuda::check_buffer in `new`), so
        // `data()` is that memory's device address; `self` keeps it mapped for the
        // call, and host.len() <= size() bytes from it lie within the mapping.
        unsafe { cuda::copy_to_host(self.buffer.peek_memory(0), self.data(), host) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: matches the successful gst_buffer_map in `new`, on the same buffer.
        unsafe {
            gst_ffi::gst_buffer_unmap(
                self.buffer.as_ptr() as *mut gst_ffi::GstBuffer,
                &mut self.info,
            )
        };
    }
}
