//! The Python view of a video buffer: `savant_gst.Frame`, its planes, caps info and
//! attributes. Zero copy: arrays point into the mapped GstBuffer, and every exported
//! view keeps the mapping (and so the buffer) alive until the last view is gone.

pub(crate) mod analytics;
pub(crate) mod attributes;
pub(crate) mod custom_meta;
mod device;
pub(crate) mod held;
pub mod layout;
pub(crate) mod mapping;
pub(crate) mod objects;
pub(crate) mod readonly_check;
pub mod source;
pub(crate) mod value_text;
pub(crate) mod values;

// The Frame's own rooms: array views it exports, construction from arrays and
// buffers, planes, what Python changed, the caps info on_caps gets.
mod array_view;
mod caps_info;
mod changes;
mod construction;
mod plane;
mod reuse;
pub(crate) use reuse::NotAFrame;

use array_view::ArrayView;
pub use caps_info::CapsInfo;
pub use changes::FrameChanges;
use construction::*;
pub use plane::Plane;

use std::ffi::{c_int, CStr};
use std::sync::{Arc, OnceLock};

use pyo3::exceptions::{PyAttributeError, PyBufferError, PyIndexError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

use held::{Crossing, HeldFrames};
use layout::{Arrangement, FrameLayout, ARRAY_FORMATS};
use mapping::{Mapping, Memory};
use readonly_check::PlaneHashes;

/// The error a device protocol raises on a system-memory frame: AttributeError for
/// `__cuda_array_interface__` (so `hasattr` is False and CuPy copies through numpy),
/// BufferError for DLPack.
type NotCuda = fn(&'static str) -> PyErr;

/// One video frame handed to Python. `np.asarray(frame)` is a zero-copy,
/// stride-aware (h, w, c) or (h, w) array for packed formats; `frame.plane(i)` is
/// one plane of a planar format.
///
/// The object is reused: after a call whose frame Python did not keep, the frame's
/// state is dropped (the buffer unmapped and released, as deallocation would) and the
/// object waits in its thread's spares for the next buffer (reuse.rs).
#[pyclass(frozen, module = "savant_gst")]
pub struct Frame {
    /// `None` only while the object is a spare, which nothing but its thread's spares
    /// references; the state is written only then (reuse.rs).
    state: std::cell::UnsafeCell<Option<FrameState>>,
}

// SAFETY: the state is shared as `&FrameState` (Deref), which is Sync; it is written
// only by `Frame::of_buffer`/`Frame::spare` (reuse.rs), whose caller holds the object's only
// reference (reference count 1, with the GIL), so no other thread or reference can
// observe the write.
unsafe impl Sync for Frame {}

impl std::ops::Deref for Frame {
    type Target = FrameState;

    #[inline]
    fn deref(&self) -> &FrameState {
        // SAFETY: see `unsafe impl Sync`: no write happens while a reference exists.
        unsafe { &*self.state.get() }
            .as_ref()
            .expect("a spare frame is referenced by its thread's spares alone")
    }
}

/// What a frame is while it has a buffer.
pub struct FrameState {
    buffer: gst::Buffer,
    /// Mapped on first use for read-only frames (a stage that never looks at the
    /// pixels never maps), up front for writable ones.
    mapping: std::sync::OnceLock<Box<Mapping>>,
    layout: FrameLayout,
    packed: Option<ArrayView>,
    attributes: PyOnceLock<attributes::Tracked>,
    objects: PyOnceLock<objects::Objects>,
    /// Empty for frames neither picked for the read-only check nor kept by Python:
    /// the path every frame takes reads one atomic and carries one pointer, the rare
    /// state itself boxed out of the frame.
    checks: OnceLock<Box<FrameChecks>>,
    /// The name of the stage whose call has the frame: the default `model` of the
    /// objects it adds.
    stage: Option<Py<pyo3::types::PyString>>,
}

/// The rare part of a frame's state.
#[derive(Default)]
struct FrameChecks {
    /// Picked for the read-only check: hash the planes when Python maps them.
    check_readonly: bool,
    /// The planes' hashes taken when Python mapped them, before it saw a pointer.
    hashes_at_map: OnceLock<PlaneHashes>,
    /// Set when the frame outlived its call: the stage's count of held frames and
    /// the bytes this frame added to it.
    held: OnceLock<(Arc<HeldFrames>, u64)>,
}

/// What a frame shows once the user's call has returned.
#[derive(Debug, Default)]
pub struct AfterCall {
    /// The read-only check ran (the frame was picked and Python mapped it).
    pub checked: bool,
    /// What hashing the frame (twice) took.
    pub hash_ns: u64,
    /// The check found this plane changed.
    pub wrote_plane: Option<usize>,
    /// Python still references the frame (itself, a plane or an array view).
    pub kept: bool,
    /// The frame was mapped writable.
    pub writable: bool,
    /// Keeping it took the stage past max-frames-held or max-bytes-held.
    pub crossing: Option<Crossing>,
}

/// The video info of caps given as text (`Frame.from_buffer`), parsed only once the
/// text is known to be short and shallow enough for GStreamer's recursive parser.
///
/// # Errors
///
/// The text is too long or nested too deep, is not caps, or not raw video caps with
/// a size; the message says which.
pub(crate) fn video_info_of_caps_text(caps_text: &str) -> Result<gst_video::VideoInfo, String> {
    // A Gst.Caps comes here as text too (re-parsed below), so both are bounded.
    value_text::check(caps_text, MAX_CAPS_TEXT_BYTES)
        .map_err(|e| format!("Frame.from_buffer: the caps text {e}"))?;
    let caps = caps_text
        .parse::<gst::Caps>()
        .map_err(|_| format!("invalid caps: {caps_text}"))?;
    gst_video::VideoInfo::from_caps(&caps)
        .map_err(|_| format!("not raw video caps with a size: {caps_text}"))
}

/// The buffer's layout: the caps' layout checked against the buffer (a VideoMeta
/// may move planes); a buffer under CUDA caps must hold CUDA memory.
///
/// # Errors
///
/// The layout does not fit the buffer, or CUDA caps come with other memory.
#[inline]
pub fn buffer_layout(
    buffer: &gst::Buffer,
    caps_layout: &FrameLayout,
) -> Result<FrameLayout, String> {
    let mut layout = *caps_layout;
    fit_buffer(&mut layout, buffer)?;
    Ok(layout)
}

/// [`buffer_layout`] in place, on a copy of the caps' layout.
///
/// # Errors
///
/// As [`buffer_layout`]; the layout is then not to be used.
#[inline]
pub fn fit_buffer(layout: &mut FrameLayout, buffer: &gst::Buffer) -> Result<(), String> {
    layout.fit_to(buffer).map_err(|e| e.to_string())?;
    if layout.cuda {
        crate::cuda::check_buffer(buffer)?;
    }
    Ok(())
}

/// How a stage maps its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-write (`writable=true`).
    Writable,
    ReadOnly,
    /// Read-only, and checked after the call for writes Python made anyway
    /// (readonly_check.rs; the stage picks these frames).
    ReadOnlyChecked,
}

impl Frame {
    /// A frame of `buffer` under caps whose layout is `caps_layout` (checked against
    /// the buffer here: `buffer_layout`). `Access::Writable` maps it read-write now,
    /// so the caller must have made it writable.
    ///
    /// # Errors
    ///
    /// The buffer does not fit the caps, or a writable buffer cannot be mapped.
    pub(crate) fn new(
        buffer: &gst::Buffer,
        caps_layout: &FrameLayout,
        access: Access,
        stage: Option<Py<pyo3::types::PyString>>,
    ) -> Result<Self, String> {
        let mapping = FrameState::writable_mapping(buffer, caps_layout, access)?;
        let mut state = FrameState::unfitted(buffer, caps_layout, mapping, stage);
        state.fit(access)?;
        Ok(Self {
            state: std::cell::UnsafeCell::new(Some(state)),
        })
    }

    /// Right after the user's call returned, with the GIL: compares the planes when
    /// the frame was checked, and counts it in `held` when Python kept it. None
    /// when there is nothing to tell (the usual case, kept cheap).
    #[inline]
    pub fn after_call(slf: &Bound<'_, Self>, held: &Arc<HeldFrames>) -> Option<AfterCall> {
        // Our own reference is the only one unless Python kept the frame, a Plane of
        // it or an exported view (each holds the frame).
        // SAFETY: `slf` is a live object and we hold the GIL (the Bound proves both).
        let kept = unsafe { ffi::Py_REFCNT(slf.as_ptr()) } > 1;
        if !kept && slf.get().checks().is_none() {
            return None;
        }
        Some(slf.get().after_checked_or_kept_call(kept, held))
    }

    #[cold]
    fn after_checked_or_kept_call(&self, kept: bool, held: &Arc<HeldFrames>) -> AfterCall {
        let mut after = AfterCall::default();
        let checks = self.checks_or_init();
        if let (Some(before), Some(mapping)) = (checks.hashes_at_map.get(), self.mapping.get()) {
            after.checked = true;
            let started = std::time::Instant::now();
            let now = readonly_check::hash_planes(mapping, &self.layout);
            // The same bytes were hashed when Python mapped them.
            after.hash_ns = 2 * started.elapsed().as_nanos() as u64;
            after.wrote_plane = readonly_check::changed_plane(before, &now);
        }
        if kept {
            after.kept = true;
            after.writable = self.writable();
            let bytes = self.buffer.size() as u64;
            if checks.held.set((held.clone(), bytes)).is_ok() {
                after.crossing = held.hold(bytes);
            }
        }
        after
    }

    fn mapping(&self) -> PyResult<&Mapping> {
        if let Some(mapping) = self.mapping.get() {
            return Ok(mapping);
        }
        let mapping = Mapping::new(&self.buffer, false, Memory::of(&self.layout))
            .map_err(PyBufferError::new_err)?;
        if let Some(checks) = self.checks().filter(|c| c.check_readonly) {
            // Before Python gets a pointer into it.
            let _ = checks
                .hashes_at_map
                .set(readonly_check::hash_planes(&mapping, &self.layout));
        }
        // Only the GIL holder gets here; a lost race would just unmap the spare.
        let _ = self.mapping.set(Box::new(mapping));
        Ok(self.mapping.get().expect("set above"))
    }

    fn checks(&self) -> Option<&FrameChecks> {
        self.checks.get().map(|checks| &**checks)
    }

    fn checks_or_init(&self) -> &FrameChecks {
        self.checks.get_or_init(Box::default)
    }

    /// The whole-frame view of a CUDA frame, or why there is none: `not_cuda` for a
    /// system-memory frame; for a planar one a BufferError, not an AttributeError:
    /// `hasattr(frame, "__cuda_array_interface__")` then raises it, rather than CuPy
    /// falling back to numpy, whose error would mislead.
    fn device_view(&self, not_cuda: NotCuda) -> PyResult<&ArrayView> {
        if !self.layout.cuda {
            return Err(not_cuda(device::DEVICE_ARRAY_OF_CPU_FRAME));
        }
        self.packed.as_ref().ok_or_else(|| self.packed_view_error())
    }

    /// The mapping of a CUDA frame, for the device protocols of a frame or plane.
    fn device_mapping(&self, not_cuda: NotCuda) -> PyResult<&Mapping> {
        if !self.layout.cuda {
            return Err(not_cuda(device::DEVICE_ARRAY_OF_CPU_FRAME));
        }
        self.mapping()
    }

    /// Python mapped a CUDA frame: its work on the memory must be waited for before
    /// the buffer goes downstream.
    pub fn device_mapped(&self) -> bool {
        self.layout.cuda && self.mapping.get().is_some()
    }

    fn packed_view_error(&self) -> PyErr {
        match self.layout.arrangement {
            Arrangement::Planar => PyBufferError::new_err(format!(
                "{} is planar: use frame.plane(i) for each plane",
                self.layout.format_name()
            )),
            _ => self.no_layout_error(),
        }
    }

    fn no_layout_error(&self) -> PyErr {
        PyValueError::new_err(format!(
            "format {} has no array layout; supported: {ARRAY_FORMATS}",
            self.layout.format_name()
        ))
    }
}

impl FrameState {
    /// `Access::Writable` maps the buffer read-write now: before the frame takes its
    /// own reference, as a write map needs the caller's to be the only one.
    #[inline]
    fn writable_mapping(
        buffer: &gst::Buffer,
        caps_layout: &FrameLayout,
        access: Access,
    ) -> Result<OnceLock<Box<Mapping>>, String> {
        let mapping = OnceLock::new();
        if access == Access::Writable {
            let _ = mapping.set(Box::new(Mapping::new(
                buffer,
                true,
                Memory::of(caps_layout),
            )?));
        }
        Ok(mapping)
    }

    /// The state of a frame of `buffer` whose layout is still the caps' one:
    /// [`FrameState::fit`] comes next, before anything reads it.
    #[inline]
    fn unfitted(
        buffer: &gst::Buffer,
        caps_layout: &FrameLayout,
        mapping: OnceLock<Box<Mapping>>,
        stage: Option<Py<pyo3::types::PyString>>,
    ) -> Self {
        FrameState {
            buffer: buffer.clone(),
            mapping,
            layout: *caps_layout,
            packed: None,
            attributes: PyOnceLock::new(),
            objects: PyOnceLock::new(),
            checks: OnceLock::new(),
            stage,
        }
    }

    /// The layout checked against the buffer (`fit_buffer`, so a crafted VideoMeta is
    /// an error here, before anything reads the mapping), the array view of a packed
    /// format, the read-only check when picked. In place: the state is the object's.
    #[inline]
    fn fit(&mut self, access: Access) -> Result<(), String> {
        fit_buffer(&mut self.layout, &self.buffer)?;
        if self.layout.arrangement == Arrangement::Packed {
            self.packed = Some(ArrayView::of_plane(&self.layout, 0));
        }
        if access == Access::ReadOnlyChecked {
            let _ = self.checks.set(Box::new(FrameChecks {
                check_readonly: true,
                ..FrameChecks::default()
            }));
        }
        Ok(())
    }
}

impl Drop for FrameState {
    /// A frame Python kept is counted in its stage's held frames until it goes.
    fn drop(&mut self) {
        if let Some((held, bytes)) = self.checks.get().and_then(|checks| checks.held.get()) {
            held.release(*bytes);
        }
    }
}

fn clock_time(t: Option<gst::ClockTime>) -> Option<u64> {
    t.map(gst::ClockTime::nseconds)
}

#[pymethods]
impl Frame {
    /// A frame over a copy of `array`, for calling a stage outside a pipeline (unit
    /// tests). Writable by default, like an element with `writable=true`. Attributes
    /// and objects live on the frame: read `frame.attributes` / `frame.objects`
    /// after the call to see what the stage did.
    #[staticmethod]
    #[pyo3(signature = (array, format, writable=true, pts=None))]
    fn from_array(
        py: Python<'_>,
        array: &Bound<'_, PyAny>,
        format: &str,
        writable: bool,
        pts: Option<u64>,
    ) -> PyResult<Self> {
        // u64::MAX is GStreamer's "no timestamp", which ClockTime refuses to hold.
        if pts == Some(u64::MAX) {
            return Err(PyValueError::new_err(
                "Frame.from_array: pts must be below 2**64 - 1; pass None for no pts",
            ));
        }
        let video_format = gst_video::VideoFormat::from_string(format);
        if !layout::FRAME_FORMATS.contains(&format)
            || video_format == gst_video::VideoFormat::Unknown
        {
            return Err(PyValueError::new_err(format!(
                "Frame.from_array: format {format:?} is not supported; supported: {ARRAY_FORMATS}"
            )));
        }
        // Any array-like; C order so the planes can be copied row by row.
        let array = py
            .import("numpy")?
            .call_method1("ascontiguousarray", (array,))?;
        let source = pyo3::buffer::PyUntypedBuffer::get(&array)?;
        // One sample of a plane is 1 byte, or 2 (little endian) for GRAY16_LE.
        let item_size = if video_format == gst_video::VideoFormat::Gray16Le {
            2
        } else {
            1
        };
        let item_format = source.format().to_bytes();
        let item_ok = match item_size {
            1 => item_format == b"B",
            _ => cfg!(target_endian = "little") && item_format == b"H" || item_format == b"<H",
        };
        if source.item_size() != item_size || !item_ok || !source.is_c_contiguous() {
            return Err(PyValueError::new_err(format!(
                "Frame.from_array: {format} needs a {} array, got dtype {}",
                if item_size == 1 { "uint8" } else { "uint16" },
                array.getattr("dtype")?.str()?
            )));
        }
        let probe = FrameLayout::from_info(
            &gst_video::VideoInfo::builder(video_format, 2, 2)
                .build()
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
        );
        let (width, height) = array_frame_size(
            video_format,
            probe.arrangement,
            probe.planes[0].channels,
            source.shape(),
        )?;
        let info = gst_video::VideoInfo::builder(video_format, width, height)
            .build()
            .map_err(|e| PyValueError::new_err(format!("Frame.from_array: {e}")))?;
        let layout = FrameLayout::from_info(&info);
        let tight: usize = (0..layout.n_planes)
            .map(|i| layout.row_bytes(i) * layout.planes[i].rows)
            .sum();
        if tight != source.len_bytes() {
            return Err(PyValueError::new_err(format!(
                "Frame.from_array: {width}x{height} {format} is {tight} bytes, the array {}",
                source.len_bytes()
            )));
        }
        let mut buffer = gst::Buffer::with_size(info.size())
            .map_err(|e| PyValueError::new_err(format!("Frame.from_array: {e}")))?;
        {
            let buffer = buffer.get_mut().expect("a new buffer is writable");
            buffer.set_pts(pts.map(gst::ClockTime::from_nseconds));
            let mut map = buffer
                .map_writable()
                .map_err(|e| PyBufferError::new_err(e.to_string()))?;
            let dest = map.as_mut_slice();
            // Row padding is never shown to Python; zeroed so the bytes are defined.
            // Without padding every byte is copied over below.
            if tight != dest.len() {
                dest.fill(0);
            }
            // SAFETY: the export is C-contiguous and len_bytes long (checked above),
            // and stays alive and exported while `source` lives; we hold the GIL.
            let src = unsafe {
                std::slice::from_raw_parts(source.buf_ptr().cast::<u8>(), source.len_bytes())
            };
            let mut read = 0;
            for i in 0..layout.n_planes {
                let plane = &layout.planes[i];
                let row = layout.row_bytes(i);
                for r in 0..plane.rows {
                    let at = plane.offset + r * plane.stride;
                    dest[at..at + row].copy_from_slice(&src[read..read + row]);
                    read += row;
                }
            }
        }
        let access = if writable {
            Access::Writable
        } else {
            Access::ReadOnly
        };
        Self::new(&buffer, &layout, access, None).map_err(PyValueError::new_err)
    }

    /// A read-only view of a PyGObject `Gst.Buffer` (a pad probe's or an appsink
    /// sample's), not copied; `caps` is a `Gst.Caps` or a caps string. Attributes
    /// and objects read as a stage sees them; changes are not written back.
    #[staticmethod]
    fn from_buffer(buffer: &Bound<'_, PyAny>, caps: &Bound<'_, PyAny>) -> PyResult<Self> {
        let caps_text: String = match caps.extract::<String>() {
            Ok(text) => text,
            Err(_) => caps.call_method0("to_string")?.extract()?,
        };
        let info = video_info_of_caps_text(&caps_text).map_err(PyValueError::new_err)?;
        let buffer = gst_buffer_of(buffer)?;
        Self::new(
            &buffer,
            &FrameLayout::from_info(&info),
            Access::ReadOnly,
            None,
        )
        .map_err(PyValueError::new_err)
    }

    /// The caps of the frame's source as savantmux received them: a `CapsInfo`, with
    /// the fields sources may differ in (framerate, pixel aspect ratio, colorimetry)
    /// as that source has them. None when no savantmux is upstream (the stage's own
    /// caps come to `on_caps`). Read from the frame's source meta on each access.
    #[getter]
    fn caps(&self) -> Option<CapsInfo> {
        let caps = source::read_caps(&self.buffer)?;
        let info = gst_video::VideoInfo::from_caps(&caps).ok()?;
        Some(CapsInfo::new(&info, &caps))
    }

    /// The id of the source the frame came from (savantmux's pad `source-id`), or
    /// None when no savantmux is upstream.
    #[getter]
    fn source_id(&self) -> Option<String> {
        source::read(&self.buffer)
    }

    /// Presentation timestamp in ns, or None.
    #[getter]
    fn pts(&self) -> Option<u64> {
        clock_time(self.buffer.pts())
    }

    /// Decoding timestamp in ns, or None.
    #[getter]
    fn dts(&self) -> Option<u64> {
        clock_time(self.buffer.dts())
    }

    /// Duration in ns, or None.
    #[getter]
    fn duration(&self) -> Option<u64> {
        clock_time(self.buffer.duration())
    }

    /// The buffer offset (frame number for most sources), or None.
    #[getter]
    fn offset(&self) -> Option<u64> {
        let offset = self.buffer.offset();
        (offset != gst::ffi::GST_BUFFER_OFFSET_NONE).then_some(offset)
    }

    #[getter]
    fn width(&self) -> u32 {
        self.layout.width
    }

    #[getter]
    fn height(&self) -> u32 {
        self.layout.height
    }

    /// GStreamer's name of the pixel format, e.g. "RGBA".
    #[getter]
    fn format(&self) -> &'static str {
        self.layout.format_name()
    }

    /// Bytes per row of each plane.
    #[getter]
    fn strides(&self) -> Vec<usize> {
        self.layout.planes[..self.layout.n_planes]
            .iter()
            .map(|p| p.stride)
            .collect()
    }

    /// Whether arrays of this frame may be written to (the element's `writable`).
    #[getter]
    fn writable(&self) -> bool {
        self.mapping.get().is_some_and(|m| m.writable())
    }

    /// str -> str/int/float/bool that travel downstream with the buffer. Reading
    /// them changes nothing; keys whose value changed are written when the call
    /// returns, the others stay as they were (types included).
    #[getter]
    fn attributes(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        if let Some(tracked) = self.attributes.get(py) {
            return Ok(tracked.dict.clone_ref(py));
        }
        let tracked = attributes::Tracked::new(py, attributes::read(&self.buffer))?;
        Ok(self
            .attributes
            .get_or_init(py, || tracked)
            .dict
            .clone_ref(py))
    }

    /// The objects on this frame (a list of `savant_gst.Object`); edit it in place or
    /// through add_object/remove_object.
    #[getter]
    fn objects(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        Ok(self.objects_state(py)?.list(py).clone().unbind())
    }

    /// Adds an object (stored as a GstVideoRegionOfInterestMeta) with a fresh id and
    /// returns it.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (label, r#box, confidence=None, track_id=None, attributes=None, parent_id=0, model=None))]
    fn add_object(
        &self,
        py: Python<'_>,
        label: &Bound<'_, PyAny>,
        r#box: &Bound<'_, PyAny>,
        confidence: Option<f64>,
        track_id: Option<Bound<'_, PyAny>>,
        attributes: Option<Bound<'_, PyDict>>,
        parent_id: i32,
        model: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<objects::Object>> {
        // Unset: the stage that adds it (Savant's `{model}`).
        let model = model
            .filter(|m| !m.is_none())
            .or_else(|| self.stage.as_ref().map(|s| s.bind(py).clone().into_any()));
        let object = objects::Object::py_new(
            py, label, r#box, confidence, track_id, attributes, parent_id, model,
        )?;
        self.objects_state(py)?.add(py, object)
    }

    /// Removes an object obtained from `frame.objects` or `add_object`.
    fn remove_object(&self, py: Python<'_>, object: &Bound<'_, objects::Object>) -> PyResult<()> {
        let list = self.objects_state(py)?.list(py);
        for (i, item) in list.iter().enumerate() {
            if item.is(object) {
                return list.del_item(i);
            }
        }
        Err(PyValueError::new_err("the object is not on this frame"))
    }

    /// A zero-copy array view of plane `index` (planar and semi-planar formats;
    /// plane 0 of a packed format is the whole frame).
    fn plane(slf: &Bound<'_, Self>, index: usize) -> PyResult<Plane> {
        let this = slf.get();
        if this.layout.arrangement == Arrangement::Opaque {
            return Err(this.no_layout_error());
        }
        if index >= this.layout.n_planes {
            return Err(PyIndexError::new_err(format!(
                "plane {index} out of range: {} has {} plane(s)",
                this.layout.format_name(),
                this.layout.n_planes
            )));
        }
        Ok(Plane {
            frame: slf.clone().unbind(),
            view: ArrayView::of_plane(&this.layout, index),
        })
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        if this.layout.cuda {
            return Err(PyBufferError::new_err(device::CPU_ARRAY_OF_CUDA_FRAME));
        }
        let Some(packed) = this.packed.as_ref() else {
            return Err(this.packed_view_error());
        };
        // SAFETY: `packed` lives inside `slf`, which becomes the view's owner.
        unsafe { packed.export(slf.clone().into_any(), this.mapping()?, view, flags) }
    }

    /// numpy falls back to `__array__` only when the buffer protocol failed; without
    /// it, `np.asarray(i420_frame)` would silently be a 0-d object array.
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(
        slf: &Bound<'py, Self>,
        dtype: Option<Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        if this.layout.cuda {
            return Err(PyBufferError::new_err(device::CPU_ARRAY_OF_CUDA_FRAME));
        }
        if this.packed.is_none() {
            return Err(this.packed_view_error());
        }
        let _ = copy;
        let py = slf.py();
        let view = pyo3::types::PyMemoryView::from(slf.as_any())?;
        py.import("numpy")?.call_method1("asarray", (view, dtype))
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        // Nothing to do: the view's reference to this frame keeps the mapping alive.
    }

    /// Where the pixels are: "system" (numpy) or "cuda" (CuPy, PyTorch).
    #[getter]
    fn memory(&self) -> &'static str {
        if self.layout.cuda {
            "cuda"
        } else {
            "system"
        }
    }

    /// CUDA frames (packed formats): the device array, version 3, for
    /// `cupy.asarray(frame)` and `torch.as_tensor(frame, device="cuda")`.
    #[getter]
    fn __cuda_array_interface__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let this = slf.get();
        let view = this.device_view(PyAttributeError::new_err)?;
        device::cuda_array_interface(slf.py(), this.mapping()?, view)
    }

    /// CUDA frames (packed formats): a DLPack capsule, for `torch.from_dlpack(frame)`.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__<'py>(
        slf: &Bound<'py, Self>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // The memory is ready on every stream (synchronized when mapped).
        let _ = stream;
        let this = slf.get();
        let view = this.device_view(PyBufferError::new_err)?;
        device::dlpack(
            slf.clone().into_any(),
            this.mapping()?,
            view,
            max_version,
            dl_device,
            copy,
        )
    }

    fn __dlpack_device__(&self) -> PyResult<(i32, i32)> {
        device::dlpack_device(self.device_mapping(PyBufferError::new_err)?)
    }

    fn __repr__(&self) -> String {
        format!(
            "<savant_gst.Frame {}x{} {} pts={}>",
            self.layout.width,
            self.layout.height,
            self.layout.format_name(),
            self.pts()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "None".to_owned())
        )
    }
}
