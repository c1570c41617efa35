//! CUDA frames on a GPU host: savantpyfunc behind nvcodec's `cudaupload` and
//! `nvh264dec`, with CuPy and PyTorch stages that check, pixel for pixel, that they
//! read what GStreamer's own `cudadownload` reads, and the writable, read-only,
//! context and crafted-buffer rules.
//!
//! Every test skips (with a message) where nvcodec registers no CUDA element: no
//! NVIDIA GPU or driver. They need CuPy and PyTorch in the stage's Python.
//!
//! This file uses only GStreamer's API and loads the plugin from a file
//! (`SAVANT_PLUGIN_DIR`, else cargo's target folder), so the binary does not link
//! libpython and runs on a GPU host with the plugin built for that host's Python
//! (scripts/gpu-bundle.sh ships it; scripts/gpu-test.sh runs it).

use std::path::PathBuf;
use std::sync::Once;

use gst::prelude::*;
use pipelines::wait_end;

#[path = "common/pipelines.rs"]
mod pipelines;

fn plugin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SAVANT_PLUGIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Whether this host runs CUDA frames; prints why not when it does not.
fn cuda_host(test: &str) -> bool {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        let plugin = plugin_dir().join("libgstsavant.so");
        gst::Plugin::load_file(&plugin)
            .unwrap_or_else(|e| panic!("loading {}: {e}", plugin.display()));
    });
    if gst::ElementFactory::find("cudaupload").is_none() {
        eprintln!(
            "{test}: skipped: no CUDA here (nvcodec registered no cudaupload: no NVIDIA GPU or driver)"
        );
        return false;
    }
    true
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("savant-cuda-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The stages these tests use, in one module file.
fn stages() -> String {
    let path = scratch_dir().join("cuda_stages.py");
    std::fs::write(&path, STAGES).unwrap();
    path.to_string_lossy().into_owned()
}

const STAGES: &str = r#"
import json, sys
import numpy as np
import cupy

# Pixels seen per key, role and pts, shared by the stages of one process.
SEEN = sys.__dict__.setdefault("_savant_cuda_tests", {})

# A CuPy kernel is what reads the device pixels: each byte XOR 0x5A, undone on the host.
XOR = cupy.ElementwiseKernel("uint8 x", "uint8 y", "y = x ^ 0x5A", "savant_xor")


def device_arrays(frame):
    if frame.format in ("NV12", "NV21", "I420", "YV12", "Y444"):
        return [cupy.asarray(frame.plane(i)) for i in range(len(frame.strides))]
    return [cupy.asarray(frame)]


def host_arrays(frame):
    if frame.format in ("NV12", "NV21", "I420", "YV12", "Y444"):
        return [np.array(frame.plane(i)) for i in range(len(frame.strides))]
    return [np.array(np.asarray(frame))]


class Pixels:
    """role "cuda": reads the frame with a CuPy kernel; role "cpu": with numpy. The
    second of the two to see a pts compares them byte for byte; `out` gets the
    counts at EOS."""

    def __init__(self, key, role, out=None):
        self.key, self.role, self.out = key, role, out

    def process_frame(self, frame):
        if self.role == "cuda":
            assert frame.memory == "cuda", frame.memory
            try:
                np.asarray(frame)
            except BufferError as e:
                assert "cudadownload" in str(e), str(e)
            else:
                raise AssertionError("np.asarray(cuda_frame) did not raise")
            cai = (frame.plane(0) if len(frame.strides) > 1 else frame).__cuda_array_interface__
            assert cai["version"] == 3 and "stream" in cai, cai
            # Never read-only: PyTorch refuses such views (the read-only check
            # catches writes instead).
            assert cai["data"][1] is False, cai
            planes = [cupy.asnumpy(XOR(a)) ^ 0x5A for a in device_arrays(frame)]
        else:
            assert frame.memory == "system", frame.memory
            planes = host_arrays(frame)
        seen = SEEN.setdefault(self.key, {"cuda": {}, "cpu": {}, "matched": 0})
        other = seen["cpu" if self.role == "cuda" else "cuda"].pop(frame.pts, None)
        if other is None:
            seen[self.role][frame.pts] = planes
            return
        assert len(other) == len(planes)
        for i, (a, b) in enumerate(zip(planes, other)):
            assert a.shape == b.shape, (i, a.shape, b.shape)
            if not np.array_equal(a, b):
                bad = int(np.count_nonzero(a != b))
                raise AssertionError(f"pts {frame.pts} plane {i}: {bad} bytes differ")
        # Instances of several workers share the count (the GIL orders them).
        seen["matched"] += 1

    def on_eos(self):
        if self.out:
            seen = SEEN.get(self.key, {"cuda": {}, "cpu": {}, "matched": 0})
            unmatched = len(seen["cuda"]) + len(seen["cpu"])
            with open(self.out, "w") as f:
                json.dump({"matched": seen["matched"], "unmatched": unmatched}, f)


class Torch:
    """PyTorch views of the frame (CAI and DLPack) are the CuPy view's memory, with
    its shape and strides; a small convolution runs on them."""

    def __init__(self, out):
        import torch
        self.torch, self.out, self.frames = torch, out, 0
        self.weight = torch.ones((1, 1, 3, 3), device="cuda") / 9

    def process_frame(self, frame):
        torch = self.torch
        views = [frame.plane(i) for i in range(len(frame.strides))] if len(frame.strides) > 1 else [frame]
        for view in views:
            c = cupy.asarray(view)
            t = torch.as_tensor(view, device="cuda")
            d = torch.from_dlpack(view)
            assert view.__dlpack_device__() == (2, 0), view.__dlpack_device__()
            for x in (t, d):
                assert tuple(x.shape) == c.shape, (x.shape, c.shape)
                assert tuple(s * x.element_size() for s in x.stride()) == c.strides, (x.stride(), c.strides)
                assert x.data_ptr() == c.data.ptr, (x.data_ptr(), c.data.ptr)
                assert x.dtype == torch.uint8
            assert torch.equal(t, d)
            assert bool((cupy.asarray(t) == c).all())
        y = torch.as_tensor(views[0], device="cuda")
        if y.dim() == 3:
            y = y[..., 0]
        blurred = torch.nn.functional.conv2d(y[None, None].float(), self.weight, padding=1)
        assert blurred.shape[-2:] == y.shape
        self.frames += 1

    def on_eos(self):
        with open(self.out, "w") as f:
            json.dump({"frames": self.frames}, f)


USED = b"used_dltensor"


class DeleterWithoutGil:
    """Takes each plane's DLPack capsule as a C consumer does (renames it) and calls
    its deleter through ctypes, which releases the GIL for the call, as PyTorch does;
    the export is the plane's last holder, so the deleter frees it."""

    def __init__(self, out):
        self.out, self.frames = out, 0

    def process_frame(self, frame):
        import ctypes
        api = ctypes.pythonapi
        api.PyCapsule_GetPointer.restype = ctypes.c_void_p
        api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        api.PyCapsule_SetName.restype = ctypes.c_int
        api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
        deleter_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
        for i in range(len(frame.strides)):
            view = frame.plane(i)
            capsule = view.__dlpack__()
            del view
            managed = api.PyCapsule_GetPointer(capsule, b"dltensor")
            assert api.PyCapsule_SetName(capsule, USED) == 0
            # DLManagedTensor: a 48-byte DLTensor, manager_ctx, deleter.
            deleter = ctypes.c_void_p.from_address(managed + 56).value
            deleter_type(deleter)(managed)
            del capsule
        self.frames += 1

    def on_eos(self):
        with open(self.out, "w") as f:
            json.dump({"frames": self.frames}, f)


class Fill:
    """A writable stage that sets every byte to `value` on the device."""

    def __init__(self, value):
        self.value = value

    def process_frame(self, frame):
        assert frame.writable
        cupy.asarray(frame)[:] = self.value


class Expect:
    """Every byte of every frame is `value`; counts frames into `out`."""

    def __init__(self, value, out):
        self.value, self.out, self.frames = value, out, 0

    def process_frame(self, frame):
        a = np.asarray(frame)
        assert (a == self.value).all(), f"expected {self.value}, got {np.unique(a)[:8]}"
        self.frames += 1

    def on_eos(self):
        with open(self.out, "w") as f:
            json.dump({"frames": self.frames}, f)


class Tagger:
    """CPU, before cudaupload: an object and the frame's mean as an attribute."""

    def process_frame(self, frame):
        o = frame.add_object("ball", (8, 16, 32, 24), confidence=0.5, track_id=frame.pts,
                             attributes={"side": "left"})
        frame.attributes["mean"] = float(np.asarray(frame).mean())


def check_tagged(frame):
    objs = frame.objects
    assert [o.label for o in objs][:1] == ["ball"], [(o.label, o.box) for o in objs]
    ball = objs[0]
    assert (ball.box, ball.confidence, ball.track_id, dict(ball.attributes)) == (
        (8, 16, 32, 24), 0.5, frame.pts, {"side": "left"}), repr(ball)
    return objs


class GpuBatch:
    """process_batch on CUDA frames: the CPU stage's objects and attributes are
    there after cudaupload, one CuPy reduction over the whole batch matches the CPU
    means, and each frame gets an object and an attribute of its own."""

    def __init__(self):
        self.sizes = []

    def process_batch(self, frames):
        self.sizes.append(len(frames))
        stack = cupy.stack([cupy.asarray(f) for f in frames])
        means = cupy.asnumpy(stack.reshape(len(frames), -1).mean(axis=1, dtype=cupy.float64))
        for frame, mean in zip(frames, means):
            assert frame.memory == "cuda"
            check_tagged(frame)
            assert abs(frame.attributes["mean"] - float(mean)) < 1e-6, (frame.attributes["mean"], mean)
            frame.add_object("gpu", (1, 2, 3, 4), attributes={"mean": float(mean)})
            frame.attributes["batch"] = len(self.sizes)


class GpuWorker:
    """process_frame on CUDA frames with workers: the batch stage's objects."""

    def process_frame(self, frame):
        objs = check_tagged(frame)
        assert [o.label for o in objs] == ["ball", "gpu"], [o.label for o in objs]
        frame.attributes["worker"] = True


class AfterDownload:
    """CPU again, after cudadownload: every object and attribute of the stages
    before, counted into `out`."""

    def __init__(self, out):
        self.out, self.frames, self.batches = out, 0, set()

    def process_frame(self, frame):
        objs = check_tagged(frame)
        assert [o.label for o in objs] == ["ball", "gpu"], [o.label for o in objs]
        assert abs(objs[1].attributes["mean"] - frame.attributes["mean"]) < 1e-6
        assert frame.attributes["worker"] is True
        self.batches.add(frame.attributes["batch"])
        self.frames += 1

    def on_eos(self):
        with open(self.out, "w") as f:
            json.dump({"frames": self.frames, "batches": len(self.batches)}, f)


class MuxBatch:
    """Behind savantmux: batches of CUDA frames from several decoders, read with
    CuPy (each decoder got the primary context through the mux); frames per source
    and batch sizes into `out`."""

    def __init__(self, out):
        self.out, self.sources, self.sizes = out, {}, []

    def process_batch(self, frames):
        self.sizes.append(len(frames))
        for frame in frames:
            assert frame.memory == "cuda", frame.memory
            luma = cupy.asarray(frame.plane(0))
            assert luma.shape == (frame.height, frame.width), luma.shape
            float(luma.mean())
            self.sources[frame.source_id] = self.sources.get(frame.source_id, 0) + 1

    def on_eos(self):
        with open(self.out, "w") as f:
            json.dump({"sources": self.sources, "frames": sum(self.sizes),
                       "largest_batch": max(self.sizes)}, f, sort_keys=True)


class OtherContext:
    """Frames whose memory is in a context of their own (not the primary one): what
    CuPy and DLPack get, into `out`."""

    def __init__(self, out):
        self.out, self.errors, self.frames = out, set(), 0

    def process_frame(self, frame):
        assert frame.memory == "cuda"
        for call in (lambda: cupy.asarray(frame), lambda: frame.__dlpack__()):
            try:
                call()
            except BufferError as e:
                self.errors.add(str(e).split(",")[0])
            else:
                self.errors.add("no error")
        self.frames += 1

    def on_eos(self):
        with open(self.out, "w") as f:
            json.dump({"frames": self.frames, "errors": sorted(self.errors)}, f)


class SystemFrames:
    """Counts frames that arrive in system memory and read as numpy arrays."""

    def __init__(self, out):
        self.out, self.frames = out, 0

    def process_frame(self, frame):
        assert frame.memory == "system", frame.memory
        assert np.asarray(frame.plane(0)).shape == (frame.height, frame.width)
        self.frames += 1

    def on_eos(self):
        with open(self.out, "w") as f:
            json.dump({"frames": self.frames}, f)


class ReadOnlyWriter:
    """Writes into a read-only CUDA frame: the read-only check must catch it."""

    def process_frame(self, frame):
        cupy.asarray(frame)[:] = 0


class Errors:
    """The errors a stage gets for what a CUDA frame cannot do, into `out`."""

    def __init__(self, out):
        self.out, self.errors = out, {}

    def process_frame(self, frame):
        for name, call in (
            ("asarray", lambda: np.asarray(frame)),
            ("memoryview", lambda: memoryview(frame)),
            ("dlpack_copy", lambda: frame.plane(0).__dlpack__(copy=True)),
            ("dlpack_device", lambda: frame.plane(0).__dlpack__(dl_device=(1, 0))),
            ("planar_cai", lambda: frame.__cuda_array_interface__),
        ):
            try:
                call()
            except Exception as e:
                self.errors[name] = f"{type(e).__name__}: {e}"
            else:
                self.errors[name] = None

    def on_eos(self):
        with open(self.out, "w") as f:
            json.dump(self.errors, f)
"#;

/// Runs `description` to EOS; the first ERROR's text, if any.
fn run(description: &str) -> Result<(), String> {
    run_then(description, |_| ())
}

/// As `run`, calling `inspect` with the pipeline before it goes to NULL.
fn run_then(description: &str, inspect: impl FnOnce(&gst::Pipeline)) -> Result<(), String> {
    let pipeline = pipelines::launch(description);
    pipeline.set_state(gst::State::Playing).unwrap();
    let end = wait_end(&pipeline, 120);
    inspect(&pipeline);
    pipeline.set_state(gst::State::Null).unwrap();
    end
}

fn read_json(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn out_file(name: &str) -> PathBuf {
    let path = scratch_dir().join(format!("{name}.json"));
    let _ = std::fs::remove_file(&path);
    path
}

/// `cudaupload` frames, RGBA, BGRx, NV12 and I420, each read by a CuPy kernel on the
/// device, match the same frame read by numpy before the upload, byte for byte;
/// with 1 worker and with 3.
#[test]
fn cupy_reads_uploaded_pixels_exactly() {
    if !cuda_host("cupy_reads_uploaded_pixels_exactly") {
        return;
    }
    let module = stages();
    for format in ["RGBA", "BGRx", "NV12", "I420"] {
        for workers in [1, 3] {
            let key = format!("upload-{format}-{workers}");
            let out = out_file(&key);
            let result = run(&format!(
                "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format={format},width=638,height=362 \
                 ! savantpyfunc module={module} class-name=Pixels kwargs=\"{{key: {key}, role: cpu}}\" \
                 ! cudaupload ! video/x-raw(memory:CUDAMemory) \
                 ! savantpyfunc workers={workers} module={module} class-name=Pixels \
                   kwargs=\"{{key: {key}, role: cuda, out: {}}}\" \
                 ! fakesink",
                out.display()
            ));
            assert_eq!(result, Ok(()), "{format}, {workers} workers");
            assert_eq!(
                read_json(&out),
                r#"{"matched": 20, "unmatched": 0}"#,
                "{format}, {workers} workers"
            );
        }
    }
}

/// The H.264 clip the decoder tests use: `SAVANT_TEST_H264`, else made from
/// opencv-doc's Megamind.avi at 1080p with openh264enc where that is installed.
fn h264_clip() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SAVANT_TEST_H264") {
        return Some(path.into());
    }
    let path = scratch_dir().join("megamind-1080p.h264");
    if path.exists() {
        return Some(path);
    }
    let source = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";
    if !std::path::Path::new(source).exists() || gst::ElementFactory::find("openh264enc").is_none()
    {
        return None;
    }
    run(&format!(
        "filesrc location={source} ! decodebin ! videoconvert ! videoscale \
         ! video/x-raw,format=I420,width=1920,height=1080 ! identity eos-after=48 \
         ! openh264enc ! h264parse ! video/x-h264,stream-format=byte-stream \
         ! filesink location={}",
        path.display()
    ))
    .ok()?;
    Some(path)
}

/// Real video decoded on the GPU: nvh264dec's NV12 frames, read in place by a CuPy
/// kernel, match what cudadownload ! video/x-raw gives numpy, byte for byte. The decoder got the
/// primary context from savantpyfunc (CuPy could not read its memory otherwise).
#[test]
fn cupy_reads_decoder_pixels_exactly() {
    if !cuda_host("cupy_reads_decoder_pixels_exactly") {
        return;
    }
    if gst::ElementFactory::find("nvh264dec").is_none() {
        eprintln!("cupy_reads_decoder_pixels_exactly: skipped: no nvh264dec (no NVDEC)");
        return;
    }
    let Some(clip) = h264_clip() else {
        eprintln!(
            "cupy_reads_decoder_pixels_exactly: skipped: no H.264 clip (set SAVANT_TEST_H264)"
        );
        return;
    };
    let module = stages();
    let out = out_file("decoder");
    let result = run(&format!(
        "filesrc location={} ! h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory),format=NV12 \
         ! savantpyfunc module={module} class-name=Pixels kwargs=\"{{key: decoder, role: cuda}}\" \
         ! cudadownload ! video/x-raw,format=NV12 \
         ! savantpyfunc module={module} class-name=Pixels \
           kwargs=\"{{key: decoder, role: cpu, out: {}}}\" \
         ! fakesink",
        clip.display(),
        out.display()
    ));
    assert_eq!(result, Ok(()));
    let counts = read_json(&out);
    eprintln!("decoder frames: {counts}");
    assert!(
        counts.ends_with(r#""unmatched": 0}"#) && !counts.contains(r#""matched": 0,"#),
        "{counts}"
    );
}

/// PyTorch: torch.as_tensor(frame, device="cuda") and torch.from_dlpack(frame), on
/// frames and planes, are the CuPy view's memory with its shape and strides.
#[test]
fn torch_views_are_zero_copy() {
    if !cuda_host("torch_views_are_zero_copy") {
        return;
    }
    let module = stages();
    for format in ["RGBA", "NV12"] {
        let out = out_file(&format!("torch-{format}"));
        let result = run(&format!(
            "videotestsrc num-buffers=10 ! video/x-raw,format={format},width=320,height=240 \
             ! cudaupload ! video/x-raw(memory:CUDAMemory) ! savantpyfunc module={module} class-name=Torch kwargs=\"{{out: {}}}\" \
             ! fakesink",
            out.display()
        ));
        assert_eq!(result, Ok(()), "{format}");
        assert_eq!(read_json(&out), r#"{"frames": 10}"#, "{format}");
    }
}

/// A DLPack deleter called without the GIL (as PyTorch calls it, here through
/// ctypes) releases the plane it held safely.
#[test]
fn dlpack_deleter_runs_without_the_gil() {
    if !cuda_host("dlpack_deleter_runs_without_the_gil") {
        return;
    }
    let module = stages();
    let out = out_file("deleter");
    let result = run(&format!(
        "videotestsrc num-buffers=8 ! video/x-raw,format=NV12,width=320,height=240 \
         ! cudaupload ! video/x-raw(memory:CUDAMemory) \
         ! savantpyfunc module={module} class-name=DeleterWithoutGil kwargs=\"{{out: {}}}\" \
         ! fakesink",
        out.display()
    ));
    assert_eq!(result, Ok(()));
    assert_eq!(read_json(&out), r#"{"frames": 8}"#);
}

/// writable=true after a tee: the stage writes into its own copy of the device
/// memory, and the other branch still sees the original pixels.
#[test]
fn writable_cuda_frame_after_tee_is_copied() {
    if !cuda_host("writable_cuda_frame_after_tee_is_copied") {
        return;
    }
    let module = stages();
    let (written, untouched) = (out_file("written"), out_file("untouched"));
    let result = run(&format!(
        "videotestsrc num-buffers=12 pattern=solid-color foreground-color=0x28282828 \
         ! video/x-raw,format=RGBA,width=64,height=48 ! cudaupload ! video/x-raw(memory:CUDAMemory) ! tee name=t \
         t. ! queue ! savantpyfunc writable=true module={module} class-name=Fill kwargs=\"{{value: 7}}\" \
            ! cudadownload ! video/x-raw ! savantpyfunc module={module} class-name=Expect kwargs=\"{{value: 7, out: {}}}\" ! fakesink \
         t. ! queue ! cudadownload ! video/x-raw ! savantpyfunc module={module} class-name=Expect \
            kwargs=\"{{value: 40, out: {}}}\" ! fakesink",
        written.display(),
        untouched.display()
    ));
    assert_eq!(result, Ok(()));
    assert_eq!(read_json(&written), r#"{"frames": 12}"#);
    assert_eq!(read_json(&untouched), r#"{"frames": 12}"#);
}

/// A read-only stage that writes into a CUDA frame is caught, as on the CPU.
#[test]
fn readonly_check_catches_device_writes() {
    if !cuda_host("readonly_check_catches_device_writes") {
        return;
    }
    let module = stages();
    let result = run(&format!(
        "videotestsrc num-buffers=4 ! video/x-raw,format=RGBA,width=64,height=48 ! cudaupload ! video/x-raw(memory:CUDAMemory) \
         ! savantpyfunc verify-readonly=every-frame module={module} class-name=ReadOnlyWriter \
         ! fakesink"
    ));
    let error = result.expect_err("the write went unnoticed");
    assert!(
        error.contains("wrote into the pixels of a read-only frame"),
        "{error}"
    );
}

/// What a CUDA frame refuses, it refuses with a message that says what to do.
#[test]
fn cuda_frame_errors_say_what_to_do() {
    if !cuda_host("cuda_frame_errors_say_what_to_do") {
        return;
    }
    let module = stages();
    let out = out_file("errors");
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=NV12,width=64,height=48 ! cudaupload ! video/x-raw(memory:CUDAMemory) \
         ! savantpyfunc module={module} class-name=Errors kwargs=\"{{out: {}}}\" ! fakesink",
        out.display()
    ));
    assert_eq!(result, Ok(()));
    let errors = read_json(&out);
    eprintln!("{errors}");
    for expected in [
        r#""asarray": "BufferError: the frame is in CUDA device memory"#,
        r#""memoryview": "BufferError: the frame is in CUDA device memory"#,
        r#""dlpack_copy": "BufferError: savant_gst frames are exported without copying"#,
        r#""dlpack_device": "BufferError: the frame is on CUDA device 0, not on DLPack device (1, 0)"#,
        r#""planar_cai": "BufferError: NV12 is planar: use frame.plane(i)"#,
    ] {
        assert!(errors.contains(expected), "{expected} not in {errors}");
    }
}

/// Crafted: caps say CUDA memory, the buffer holds system memory. A clear stream
/// error, no crash, no device access.
#[test]
fn system_memory_under_cuda_caps_is_an_error() {
    if !cuda_host("system_memory_under_cuda_caps_is_an_error") {
        return;
    }
    let module = stages();
    let pipeline = pipelines::launch(&format!(
        "appsrc name=src format=time \
         ! savantpyfunc module={module} class-name=Errors kwargs=\"{{out: /dev/null}}\" ! fakesink"
    ));
    let src = pipelines::appsrc(&pipeline, "src");
    src.set_caps(Some(
        &"video/x-raw(memory:CUDAMemory),format=RGBA,width=16,height=16,framerate=30/1"
            .parse::<gst::Caps>()
            .unwrap(),
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut buffer = gst::Buffer::with_size(16 * 16 * 4).unwrap();
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    let _ = src.push_buffer(buffer);
    let _ = src.end_of_stream();
    let end = wait_end(&pipeline, 30);
    pipeline.set_state(gst::State::Null).unwrap();
    let text = end.expect_err("an ERROR for system memory under CUDA caps");
    assert!(
        text.contains("caps say memory:CUDAMemory but the buffer holds memory of allocator"),
        "{text}"
    );
}

/// savantqueue holds CUDA frames and says so: its GPU byte figures are the frames'
/// device memory.
#[test]
fn savantqueue_counts_gpu_bytes() {
    if !cuda_host("savantqueue_counts_gpu_bytes") {
        return;
    }
    let mut stats = None;
    run_then(
        "videotestsrc num-buffers=30 ! video/x-raw,format=RGBA,width=320,height=240 ! cudaupload ! video/x-raw(memory:CUDAMemory) \
         ! savantqueue name=q length=10 mode=always ! identity sleep-time=20000 ! fakesink sync=false",
        |pipeline| stats = Some(pipeline.by_name("q").unwrap().property::<gst::Structure>("stats")),
    )
    .unwrap();
    let stats = stats.unwrap();
    assert_eq!(stats.get::<&str>("memory").unwrap(), "cuda", "{stats}");
    let frame = 320 * 240 * 4;
    assert!(
        stats.get::<u64>("max-level-gpu-bytes").unwrap() >= 5 * frame,
        "{stats}"
    );
    // Ten of the largest buffers: cudaupload's rows are padded (a 1536-byte pitch
    // for 320 RGBA pixels was seen), so at least ten frames of the caps' size.
    let capacity = stats.get::<u64>("capacity-gpu-bytes").unwrap();
    assert!(capacity >= 10 * frame && capacity % 10 == 0, "{stats}");
}

/// Objects, attributes, batches, workers and the stats on CUDA frames: a CPU stage's
/// objects cross cudaupload (which drops ROI metas: the next stage puts them back),
/// a process_batch stage reduces whole batches with CuPy and adds objects, a stage
/// with 3 workers reads them, and a CPU stage after cudadownload sees everything.
#[test]
fn objects_attributes_batches_and_stats_on_cuda_frames() {
    if !cuda_host("objects_attributes_batches_and_stats_on_cuda_frames") {
        return;
    }
    let module = stages();
    let out = out_file("metadata");
    let mut stats = Vec::new();
    let result = run_then(
        &format!(
            "videotestsrc num-buffers=24 pattern=ball ! video/x-raw,format=RGBA,width=320,height=240 \
             ! savantpyfunc module={module} class-name=Tagger \
             ! cudaupload ! video/x-raw(memory:CUDAMemory) \
             ! savantpyfunc name=batch module={module} class-name=GpuBatch batch-size=4 batch-timeout=10000 \
             ! savantpyfunc name=workers module={module} class-name=GpuWorker workers=3 \
             ! cudadownload ! video/x-raw \
             ! savantpyfunc module={module} class-name=AfterDownload kwargs=\"{{out: {}}}\" \
             ! fakesink",
            out.display()
        ),
        |pipeline| {
            for name in ["batch", "workers"] {
                let element = pipeline.by_name(name).unwrap();
                stats.push(element.property::<gst::Structure>("stats"));
            }
        },
    );
    assert_eq!(result, Ok(()));
    assert_eq!(read_json(&out), r#"{"frames": 24, "batches": 6}"#);
    let (batch, workers) = (&stats[0], &stats[1]);
    eprintln!("stats: {batch}\n{workers}");
    assert_eq!(batch.get::<u64>("frames").unwrap(), 24, "{batch}");
    assert_eq!(batch.get::<u64>("batches").unwrap(), 6, "{batch}");
    assert_eq!(batch.get::<u64>("errors").unwrap(), 0, "{batch}");
    assert_eq!(workers.get::<u64>("frames").unwrap(), 24, "{workers}");
    assert_eq!(workers.get::<u64>("errors").unwrap(), 0, "{workers}");
}

/// Many streams on the GPU: two nvh264dec into savantmux, one process_batch CuPy
/// stage for both, savantdemux to a pad and a queue per source (one through
/// cudadownload). The decoders ask for their CUDA context through the mux and get the
/// primary one (CuPy could not read their frames otherwise).
#[test]
fn decoders_through_savantmux_to_one_cuda_stage() {
    if !cuda_host("decoders_through_savantmux_to_one_cuda_stage") {
        return;
    }
    if gst::ElementFactory::find("nvh264dec").is_none() {
        eprintln!("decoders_through_savantmux_to_one_cuda_stage: skipped: no nvh264dec (no NVDEC)");
        return;
    }
    let Some(clip) = h264_clip() else {
        eprintln!("decoders_through_savantmux_to_one_cuda_stage: skipped: no H.264 clip");
        return;
    };
    let module = stages();
    let out = out_file("mux");
    let decoder = format!(
        "filesrc location={} ! h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory),format=NV12",
        clip.display()
    );
    let result = run(&format!(
        "savantmux name=m ! savantpyfunc module={module} class-name=MuxBatch batch-size=2 \
           kwargs=\"{{out: {}}}\" ! savantdemux name=d \
         {decoder} ! m.sink_0  {decoder} ! m.sink_1 \
         d.src_sink_0 ! queue ! cudadownload ! video/x-raw ! fakesink  d.src_sink_1 ! queue ! fakesink",
        out.display()
    ));
    assert_eq!(result, Ok(()));
    let counts = read_json(&out);
    eprintln!("mux: {counts}");
    // {"frames": N, "largest_batch": 2, "sources": {"sink_0": N/2, "sink_1": N/2}}
    let field = |name: &str| -> u64 {
        let start = counts.find(&format!("\"{name}\": ")).unwrap() + name.len() + 4;
        counts[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (frames, sink_0, sink_1) = (field("frames"), field("sink_0"), field("sink_1"));
    assert!(sink_0 > 0 && sink_0 == sink_1, "{counts}");
    assert_eq!(frames, sink_0 + sink_1, "{counts}");
    assert_eq!(field("largest_batch"), 2, "{counts}");
}

/// CUDA memory of a context other than the primary one (a cudaupload in another
/// pipeline, where nothing answered its context query, made its own) is a
/// BufferError that names the problem, for CuPy and DLPack alike; nothing crashes and
/// the pipeline ends normally.
#[test]
fn memory_of_another_context_is_a_clear_error() {
    if !cuda_host("memory_of_another_context_is_a_clear_error") {
        return;
    }
    let producer = pipelines::launch(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=48 \
         ! cudaupload ! video/x-raw(memory:CUDAMemory) ! appsink name=sink sync=false",
    );
    let sink = producer
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    producer.set_state(gst::State::Playing).unwrap();
    let samples: Vec<gst::Sample> =
        std::iter::from_fn(|| sink.try_pull_sample(gst::ClockTime::from_seconds(30))).collect();
    assert_eq!(samples.len(), 3);

    let module = stages();
    let out = out_file("other-context");
    let consumer = pipelines::launch(&format!(
        "appsrc name=src format=time ! savantpyfunc module={module} class-name=OtherContext \
         kwargs=\"{{out: {}}}\" ! fakesink",
        out.display()
    ));
    let src = pipelines::appsrc(&consumer, "src");
    src.set_caps(samples[0].caps_owned().as_ref());
    consumer.set_state(gst::State::Playing).unwrap();
    for sample in &samples {
        src.push_buffer(sample.buffer_owned().unwrap()).unwrap();
    }
    src.end_of_stream().unwrap();
    let end = wait_end(&consumer, 60);
    consumer.set_state(gst::State::Null).unwrap();
    drop(samples);
    producer.set_state(gst::State::Null).unwrap();
    assert_eq!(end, Ok(()));
    assert_eq!(
        read_json(&out),
        r#"{"frames": 3, "errors": ["the frame's CUDA memory belongs to a context other than device 0's primary context"]}"#
    );
}

/// memory=system right after nvh264dec: the decoder downloads for the stage, which
/// gets system-memory frames numpy reads (as before CUDA frames existed).
#[test]
fn memory_system_after_a_gpu_decoder_gets_system_frames() {
    if !cuda_host("memory_system_after_a_gpu_decoder_gets_system_frames") {
        return;
    }
    if gst::ElementFactory::find("nvh264dec").is_none() {
        eprintln!("memory_system_after_a_gpu_decoder_gets_system_frames: skipped: no nvh264dec");
        return;
    }
    let Some(clip) = h264_clip() else {
        eprintln!("memory_system_after_a_gpu_decoder_gets_system_frames: skipped: no H.264 clip");
        return;
    };
    let module = stages();
    let out = out_file("memory-system");
    let result = run(&format!(
        "filesrc location={} ! h264parse ! identity eos-after=30 ! nvh264dec \
         ! savantpyfunc memory=system module={module} class-name=SystemFrames \
           kwargs=\"{{out: {}}}\" ! fakesink",
        clip.display(),
        out.display()
    ));
    assert_eq!(result, Ok(()));
    let counts = read_json(&out);
    assert!(
        counts.starts_with(r#"{"frames": "#) && counts != r#"{"frames": 0}"#,
        "{counts}"
    );
}
