//! savantpyfunc behaviour a user relies on, driven with gst_check::Harness and real
//! pipelines, against the real embedded interpreter and numpy.

mod common;

use common::{attributes, init, module, py_eval, run};
use gst::prelude::*;

fn harness(props: &str) -> gst_check::Harness {
    init();
    gst_check::Harness::new_parse(&format!("savantpyfunc {props}"))
}

fn video_buffer(size: usize, fill: impl Fn(usize) -> u8, pts_ms: u64) -> gst::Buffer {
    let data: Vec<u8> = (0..size).map(fill).collect();
    let mut buffer = gst::Buffer::from_mut_slice(data);
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        b.set_duration(gst::ClockTime::from_mseconds(40));
        b.set_offset(pts_ms / 40);
    }
    buffer
}

#[test]
fn frame_is_a_zero_copy_strided_array_of_the_buffer() {
    let path = module(
        "zero_copy_rgb",
        r#"
        import numpy as np
        def process_frame(frame):
            a = np.asarray(frame)
            frame.attributes.update(
                shape=str(a.shape), strides=str(a.strides), dtype=str(a.dtype),
                readonly=not a.flags.writeable, fmt=frame.format, w=frame.width,
                h=frame.height, pts=frame.pts, dur=frame.duration, offset=frame.offset,
                # Pixel (row 1, column 2, channel 1) sits at byte 1*stride + 2*3 + 1.
                pixel=int(a[1, 2, 1]), buffer_strides=str(frame.strides),
            )
        "#,
    );
    // RGB rows of 5 pixels are padded from 15 to 16 bytes.
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=RGB,width=5,height=3,framerate=25/1");
    let out = h.push_and_pull(video_buffer(48, |i| i as u8, 80)).unwrap();
    let attrs = attributes(&out).expect("attributes on the output buffer");
    assert_eq!(attrs.get::<&str>("shape").unwrap(), "(3, 5, 3)");
    assert_eq!(attrs.get::<&str>("strides").unwrap(), "(16, 3, 1)");
    assert_eq!(attrs.get::<&str>("dtype").unwrap(), "uint8");
    assert!(attrs.get::<bool>("readonly").unwrap());
    assert_eq!(attrs.get::<&str>("fmt").unwrap(), "RGB");
    assert_eq!(attrs.get::<i64>("w").unwrap(), 5);
    assert_eq!(attrs.get::<i64>("h").unwrap(), 3);
    assert_eq!(attrs.get::<i64>("pts").unwrap(), 80_000_000);
    assert_eq!(attrs.get::<i64>("dur").unwrap(), 40_000_000);
    assert_eq!(attrs.get::<i64>("offset").unwrap(), 2);
    assert_eq!(attrs.get::<i64>("pixel").unwrap(), 16 + 2 * 3 + 1);
    assert_eq!(attrs.get::<&str>("buffer_strides").unwrap(), "[16]");
    // Read-only stage: the pixels went through untouched.
    let map = out.map_readable().unwrap();
    assert!(map.iter().enumerate().all(|(i, &v)| v == i as u8));
}

#[test]
fn gray16_is_a_2d_uint16_array_and_gray8_a_2d_uint8_array() {
    let path = module(
        "gray_arrays",
        r#"
        import numpy as np
        def process_frame(frame):
            a = np.asarray(frame)
            frame.attributes["desc"] = f"{a.shape} {a.dtype} {int(a[1, 1])}"
        "#,
    );
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=GRAY16_LE,width=4,height=2,framerate=25/1");
    // Little-endian 16-bit: pixel (1, 1) is bytes 10 and 11 = 10 + 11*256.
    let out = h.push_and_pull(video_buffer(16, |i| i as u8, 0)).unwrap();
    assert_eq!(
        attributes(&out).unwrap().get::<&str>("desc").unwrap(),
        format!("(2, 4) uint16 {}", 10 + 11 * 256)
    );

    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=GRAY8,width=4,height=2,framerate=25/1");
    let out = h.push_and_pull(video_buffer(8, |i| i as u8, 0)).unwrap();
    assert_eq!(
        attributes(&out).unwrap().get::<&str>("desc").unwrap(),
        "(2, 4) uint8 5"
    );
}

#[test]
fn planar_formats_give_one_view_per_plane_and_clear_errors_otherwise() {
    let path = module(
        "planes",
        r#"
        import numpy as np
        def describe(call):
            try:
                return str(call())
            except Exception as e:
                return f"{type(e).__name__}: {e}"
        def process_frame(frame):
            frame.attributes["planes"] = " | ".join(
                describe(lambda i=i: np.asarray(frame.plane(i)).shape) for i in range(3))
            frame.attributes["whole"] = describe(lambda: np.asarray(frame).shape)
            frame.attributes["u00"] = describe(lambda: int(np.asarray(frame.plane(1))[0, 0].sum()))
        "#,
    );
    let run_format = |format: &str, size: usize| {
        let mut h = harness(&format!("module={path}"));
        h.set_src_caps_str(&format!(
            "video/x-raw,format={format},width=8,height=4,framerate=25/1"
        ));
        let out = h.push_and_pull(video_buffer(size, |i| i as u8, 0)).unwrap();
        attributes(&out).unwrap()
    };
    // I420 8x4: Y 32 bytes, U and V 4x2 each.
    let i420 = run_format("I420", 48);
    assert_eq!(
        i420.get::<&str>("planes").unwrap(),
        "(4, 8) | (2, 4) | (2, 4)"
    );
    assert!(i420
        .get::<&str>("whole")
        .unwrap()
        .contains("planar: use frame.plane(i)"));
    assert_eq!(i420.get::<&str>("u00").unwrap(), "32");
    // NV12: interleaved UV plane (2, 3, 2); plane 2 does not exist.
    let nv12 = run_format("NV12", 48);
    let planes = nv12.get::<&str>("planes").unwrap();
    assert!(
        planes.starts_with("(4, 8) | (2, 4, 2) | IndexError: plane 2 out of range"),
        "{planes}"
    );
    assert_eq!(nv12.get::<&str>("u00").unwrap(), (32 + 33).to_string());
    // UYVY has no array layout here: the caps refuse it (tests/negotiation.rs).
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=UYVY,width=8,height=4,framerate=25/1");
    assert!(h.push(video_buffer(64, |i| i as u8, 0)).is_err());
}

#[test]
fn writing_to_a_read_only_frame_raises_and_writable_frames_are_written_in_place() {
    let path = module(
        "paint",
        r#"
        import numpy as np
        def process_frame(frame):
            a = np.asarray(frame)
            try:
                a[0, 0, 0] = 99
                frame.attributes["result"] = "written"
            except ValueError as e:
                frame.attributes["result"] = str(e)
        "#,
    );
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=2,height=2,framerate=25/1");
    let out = h.push_and_pull(video_buffer(16, |_| 7, 0)).unwrap();
    assert!(attributes(&out)
        .unwrap()
        .get::<&str>("result")
        .unwrap()
        .contains("read-only"));
    assert_eq!(out.map_readable().unwrap()[0], 7);

    let mut h = harness(&format!("module={path} writable=true"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=2,height=2,framerate=25/1");
    // The test keeps a reference: the element must copy rather than scribble on it.
    let input = video_buffer(16, |_| 7, 0);
    let out = h.push_and_pull(input.clone()).unwrap();
    assert_eq!(
        attributes(&out).unwrap().get::<&str>("result").unwrap(),
        "written"
    );
    assert_eq!(out.map_readable().unwrap()[0], 99);
    assert_eq!(
        input.map_readable().unwrap()[0],
        7,
        "shared input was modified"
    );
}

#[test]
fn read_only_stage_passes_the_same_memory_through() {
    let path = module(
        "touch_attrs",
        r#"
        def process_frame(frame):
            frame.attributes["seen"] = True
        "#,
    );
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=2,height=2,framerate=25/1");
    let input = video_buffer(16, |_| 1, 0);
    let input_data = input.map_readable().unwrap().as_ptr();
    let out = h.push_and_pull(input.clone()).unwrap();
    assert!(attributes(&out).unwrap().get::<bool>("seen").unwrap());
    // Adding attributes to a shared buffer copies the header only, not the pixels.
    assert_eq!(out.map_readable().unwrap().as_ptr(), input_data);
}

#[test]
fn kept_views_stay_valid_after_the_buffer_moved_on() {
    let path = module(
        "keeper",
        r#"
        import numpy as np
        kept = []
        def process_frame(frame):
            kept.append(np.asarray(frame))
        "#,
    );
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=GRAY8,width=64,height=64,framerate=25/1");
    for i in 0..4u8 {
        let out = h.push_and_pull(video_buffer(4096, |_| i + 1, 0)).unwrap();
        drop(out);
    }
    drop(h);
    // Every kept array still reads its own frame's pixels.
    let sums: Vec<u64> = py_eval("[int(a.sum()) for a in __import__('keeper').kept]");
    assert_eq!(sums, vec![4096, 8192, 12288, 16384]);
}

#[test]
fn class_hooks_run_in_order_with_kwargs() {
    let path = module(
        "hooked",
        r#"
        log = []
        class Stage:
            def __init__(self, **kwargs):
                log.append(("init", kwargs))
            def on_start(self):
                log.append(("start",))
            def on_caps(self, info):
                log.append(("caps", info.width, info.height, info.format, info.fps_n, info.fps_d))
            def on_event(self, name, structure):
                log.append(("event", name))
            def process_frame(self, frame):
                log.append(("frame", frame.pts))
            def on_eos(self):
                log.append(("eos",))
            def on_stop(self):
                log.append(("stop",))
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=8,height=6,framerate=10/1 \
         ! savantpyfunc module={path} class-name=Stage kwargs=\"{{gain: 2.5, names: [a, b], nested: {{x: 1}}}}\" \
         ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let log: Vec<String> = py_eval("[repr(x) for x in __import__('hooked').log]");
    let calls: Vec<&str> = log.iter().map(String::as_str).collect();
    assert_eq!(
        calls[0],
        "('init', {'gain': 2.5, 'names': ['a', 'b'], 'nested': {'x': 1}})"
    );
    assert_eq!(calls[1], "('start',)");
    let position = |needle: &str| {
        calls
            .iter()
            .position(|c| c.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle} not in {calls:?}"))
    };
    assert!(calls.contains(&"('caps', 8, 6, 'RGBA', 10, 1)"));
    assert!(position("('event', 'caps')") < position("('caps',"));
    assert!(position("('event', 'segment')") < position("('frame', 0)"));
    assert!(position("('frame', 100000000)") < position("('event', 'eos')"));
    assert!(position("('eos',)") < position("('stop',)"));
    assert_eq!(calls.last(), Some(&"('stop',)"));
}

/// The stats' times are nanoseconds of the call and of the wait for the GIL: the
/// time in Python agrees with what the stage measured around its own work (the clock
/// is read raw and scaled, so a wrong scale would show here), and a Python thread
/// that holds the GIL between switches makes the stage wait.
#[test]
fn call_and_gil_wait_times_are_nanoseconds() {
    let path = module(
        "timed_stage",
        r#"
        import sys, threading, time
        own_ns = []
        done = False
        def spin():
            while not done:
                pass
        sys.setswitchinterval(0.002)
        threading.Thread(target=spin, daemon=True).start()
        def process_frame(frame):
            started = time.perf_counter_ns()
            while time.perf_counter_ns() - started < 10_000_000:
                pass
            own_ns.append(time.perf_counter_ns() - started)
        "#,
    );
    let mut h = harness(&format!("name=stage module={path}"));
    h.set_src_caps_str("video/x-raw,format=GRAY8,width=4,height=2,framerate=25/1");
    let started = std::time::Instant::now();
    for i in 0..8u64 {
        h.push(video_buffer(8, |_| 0, i * 40)).unwrap();
    }
    let wall_ns = started.elapsed().as_nanos() as u64;
    let _: bool = py_eval("setattr(__import__('timed_stage'), 'done', True) is None");
    let own_ns: u64 = py_eval("sum(__import__('timed_stage').own_ns)");
    let stats = h
        .element()
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name("stage")
        .unwrap()
        .property::<gst::Structure>("stats");
    let python_ns = stats.get::<u64>("python-ns").unwrap();
    assert!(own_ns >= 8 * 10_000_000, "{own_ns}");
    // The call is the stage's own work, the frame's making (microseconds) and any
    // switch to another thread before or after the work: well under twice the work
    // (the time-stamp counter's ticks unscaled would be 2 to 4 times it).
    assert!(
        python_ns >= own_ns && python_ns < 2 * own_ns,
        "python-ns {python_ns}, measured by the stage {own_ns}: {stats}"
    );
    assert!(python_ns < wall_ns, "{python_ns} >= {wall_ns}");
    // The spinning thread gives the GIL up only when asked, after the 2 ms switch
    // interval: the stage waits about that long for it, frame after frame.
    let wait_ns = stats.get::<u64>("gil-wait-ns").unwrap();
    let wait_max_ns = stats.get::<u64>("gil-wait-ns-max").unwrap();
    assert!(wait_ns < wall_ns, "gil-wait-ns {wait_ns}: {stats}");
    assert!(
        (500_000..=wait_ns).contains(&wait_max_ns),
        "gil-wait-ns-max {wait_max_ns}: {stats}"
    );
}

#[test]
fn returning_false_drops_and_none_or_true_pass() {
    let path = module(
        "verdicts",
        r#"
        def process_frame(frame):
            return [None, True, False][frame.offset % 3]
        "#,
    );
    let mut h = harness(&format!("name=stage module={path}"));
    h.set_src_caps_str("video/x-raw,format=GRAY8,width=4,height=2,framerate=25/1");
    for i in 0..6u64 {
        h.push(video_buffer(8, |_| 0, i * 40)).unwrap();
    }
    let offsets: Vec<u64> = (0..h.buffers_in_queue())
        .map(|_| h.pull().unwrap().offset())
        .collect();
    assert_eq!(offsets, vec![0, 1, 3, 4]);
    let element = h
        .element()
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name("stage")
        .unwrap();
    let stats = element.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("frames").unwrap(), 6);
    assert_eq!(stats.get::<u64>("dropped").unwrap(), 2);
    assert_eq!(stats.get::<u64>("errors").unwrap(), 0);
    assert!(stats.get::<u64>("python-ns").unwrap() > 0);
    assert!(stats.get::<u64>("python-ns-max").unwrap() <= stats.get::<u64>("python-ns").unwrap());
}

#[test]
fn attributes_reach_the_next_stage_and_rust_reads_them() {
    let first = module(
        "attr_writer",
        r#"
        def process_frame(frame):
            frame.attributes.update(label="ball", count=frame.offset, score=0.5, ok=True)
        "#,
    );
    let second = module(
        "attr_reader",
        r#"
        seen = []
        def process_frame(frame):
            seen.append(dict(frame.attributes))
            frame.attributes["count"] += 100
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=8,height=8 \
         ! savantpyfunc module={first} ! queue ! savantpyfunc module={second} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let seen: Vec<String> = py_eval("[repr(d) for d in __import__('attr_reader').seen]");
    assert_eq!(
        seen[2],
        "{'label': 'ball', 'count': 2, 'score': 0.5, 'ok': True}"
    );
    let counts: Vec<i64> = result
        .buffers
        .iter()
        .map(|b| attributes(b).unwrap().get::<i64>("count").unwrap())
        .collect();
    assert_eq!(counts, vec![100, 101, 102]);
}

#[test]
fn dotted_module_and_sibling_imports_resolve() {
    let dir = common::module_dir();
    std::fs::create_dir_all(dir.join("savant_test_pkg")).unwrap();
    std::fs::write(dir.join("savant_test_pkg/__init__.py"), "").unwrap();
    std::fs::write(
        dir.join("savant_test_pkg/stage.py"),
        "def process_frame(frame):\n    frame.attributes['from'] = 'pkg'\n",
    )
    .unwrap();
    module("sibling_helper", "TAG = 'sibling'\n");
    let with_sibling = module(
        "uses_sibling",
        r#"
        import sibling_helper
        def process_frame(frame):
            frame.attributes["from"] = sibling_helper.TAG
        "#,
    );
    // The file module's directory joins sys.path, which makes the package importable too.
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8,width=4,height=4 \
         ! savantpyfunc module={with_sibling} ! savantpyfunc module=savant_test_pkg.stage \
         function=process_frame ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(
        attributes(&result.buffers[0])
            .unwrap()
            .get::<&str>("from")
            .unwrap(),
        "pkg"
    );
}

#[test]
fn numpy_and_opencv_work_on_frames() {
    let path = module(
        "cv_stage",
        r#"
        import cv2
        import numpy as np
        def process_frame(frame):
            img = np.asarray(frame)
            blurred = cv2.GaussianBlur(img, (5, 5), 0)
            frame.attributes["cv"] = f"{cv2.__version__} {blurred.shape}"
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=BGRx,width=64,height=48 \
         ! savantpyfunc module={path} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let cv = attributes(&result.buffers[1]).unwrap();
    assert!(cv.get::<&str>("cv").unwrap().ends_with("(48, 64, 4)"));
}

#[test]
fn savant_gst_module_exposes_the_types() {
    let path = module(
        "types_check",
        r#"
        import savant_gst
        def process_frame(frame):
            frame.attributes["ok"] = isinstance(frame, savant_gst.Frame) and \
                isinstance(frame.plane(0), savant_gst.Plane)
        "#,
    );
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=2,height=2,framerate=25/1");
    let out = h.push_and_pull(video_buffer(16, |_| 0, 0)).unwrap();
    assert!(attributes(&out).unwrap().get::<bool>("ok").unwrap());
}

#[test]
fn buffers_with_video_meta_use_its_strides() {
    let path = module(
        "meta_strides",
        r#"
        import numpy as np
        def process_frame(frame):
            a = np.asarray(frame)
            frame.attributes["desc"] = f"{a.strides} {int(a[1, 0])}"
        "#,
    );
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=GRAY8,width=4,height=2,framerate=25/1");
    // Rows padded to 8 bytes, announced only through VideoMeta.
    let mut buffer = video_buffer(16, |i| i as u8, 0);
    gst_video::VideoMeta::add_full(
        buffer.get_mut().unwrap(),
        gst_video::VideoFrameFlags::empty(),
        gst_video::VideoFormat::Gray8,
        4,
        2,
        &[0],
        &[8],
    )
    .unwrap();
    let out = h.push_and_pull(buffer).unwrap();
    assert_eq!(
        attributes(&out).unwrap().get::<&str>("desc").unwrap(),
        "(8, 1) 8"
    );
}

#[test]
fn type_stubs_match_the_runtime_module() {
    let path = module("touch_runtime", "def process_frame(frame):\n    pass\n");
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=GRAY8,width=4,height=2,framerate=25/1");
    h.push_and_pull(video_buffer(8, |_| 0, 0)).unwrap();
    let stubs = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/python/savant_gst/__init__.pyi"
    );
    // Every class and member the stubs declare exists on the real module's types.
    let missing: Vec<String> = py_eval(&format!(
        "[f'{{c.name}}.{{m}}' for c in __import__('ast').parse(open({stubs:?}).read()).body \
           if isinstance(c, __import__('ast').ClassDef) \
           for m in [n.name for n in c.body if isinstance(n, __import__('ast').FunctionDef)] \
                  + [n.target.id for n in c.body if isinstance(n, __import__('ast').AnnAssign)] \
           if not hasattr(getattr(__import__('savant_gst'), c.name, None), m)]"
    ));
    assert!(
        missing.is_empty(),
        "declared in the stubs but missing: {missing:?}"
    );
}

/// Frame objects are reused from call to call: a frame Python let go of is its
/// thread's next frame. A reused frame shows its own buffer alone (nothing the call
/// before it read or wrote), and a frame Python kept is never reused: it still shows
/// its own buffer after later frames went by, and those get another object.
#[test]
fn a_reused_frame_shows_only_its_own_buffer_and_a_kept_frame_keeps_its_own() {
    let path = module(
        "reused_frames",
        r#"
        import numpy as np
        ids = []
        seen = []
        kept = []
        def process_frame(frame):
            n = len(ids)
            ids.append(id(frame))
            seen.append((frame.pts, sorted(frame.attributes), len(frame.objects),
                         int(np.asarray(frame)[0, 0, 0])))
            frame.attributes["n"] = n
            frame.add_object("car", (0, 0, 2, 2))
            if n == 2:
                kept.append(frame)
        "#,
    );
    let mut h = harness(&format!("module={path}"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=4,height=2,framerate=25/1");
    for i in 0..6u64 {
        let out = h
            .push_and_pull(video_buffer(32, |_| i as u8, i * 40))
            .unwrap();
        let attrs = attributes(&out).expect("attributes on the output buffer");
        assert_eq!(attrs.get::<i64>("n").unwrap(), i as i64);
    }
    // Each call saw its own buffer: its pts and pixels, no attribute or object of
    // the call before.
    let seen: Vec<(i64, Vec<String>, i64, i64)> = py_eval("__import__('reused_frames').seen");
    let expected: Vec<(i64, Vec<String>, i64, i64)> =
        (0..6).map(|i| (i * 40_000_000, vec![], 0, i)).collect();
    assert_eq!(seen, expected);
    // The frame after the kept one is another object (the kept one is not reused
    // while Python holds it).
    let ids: Vec<u64> = py_eval("__import__('reused_frames').ids");
    assert!(ids[3..].iter().all(|&id| id != ids[2]));
    // The kept frame still is frame 2: its buffer, its attributes, its object.
    let kept: (i64, i64, i64, i64) = py_eval(
        "(lambda f: (f.pts, f.attributes['n'], len(f.objects), \
         int(__import__('numpy').asarray(f)[0, 0, 0])))(__import__('reused_frames').kept[0])",
    );
    assert_eq!(kept, (80_000_000, 2, 1, 2));
}
