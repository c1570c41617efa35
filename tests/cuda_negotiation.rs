//! CUDA caps where no GPU is needed: which elements take
//! `video/x-raw(memory:CUDAMemory)`, what savantpyfunc does with such caps where CUDA
//! is missing, and how savantqueue counts frames of those caps. (With a GPU:
//! tests/cuda.rs.)

mod common;

use gst::prelude::*;

const CUDA_RGBA: &str =
    "video/x-raw(memory:CUDAMemory),format=RGBA,width=32,height=16,framerate=30/1";

fn sink_template(element: &str) -> gst::Caps {
    common::init();
    gst::ElementFactory::make(element)
        .build()
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .pad_template_caps()
}

#[test]
fn savantpyfunc_takes_cuda_memory_after_system_memory() {
    let caps = sink_template("savantpyfunc");
    assert_eq!(caps.size(), 2, "{caps}");
    assert!(
        !caps.features(0).unwrap().contains("memory:CUDAMemory"),
        "{caps}"
    );
    assert!(
        caps.features(1).unwrap().contains("memory:CUDAMemory"),
        "{caps}"
    );
    for format in ["RGBA", "BGRx", "NV12", "I420"] {
        let wanted: gst::Caps = format!(
            "video/x-raw(memory:CUDAMemory),format={format},width=64,height=64,framerate=30/1"
        )
        .parse()
        .unwrap();
        assert!(
            wanted.is_subset(&caps),
            "{format} in CUDA memory not in {caps}"
        );
    }
}

#[test]
fn savantdrawfunc_refuses_cuda_memory() {
    let caps = sink_template("savantdrawfunc");
    let cuda: gst::Caps = CUDA_RGBA.parse().unwrap();
    assert!(!caps.can_intersect(&cuda), "{caps}");
    let element = gst::ElementFactory::make("savantdrawfunc").build().unwrap();
    let mut query = gst::query::AcceptCaps::new(&cuda);
    assert!(element.static_pad("sink").unwrap().query(&mut query));
    assert!(!query.result(), "savantdrawfunc accepted {cuda}");
}

/// The formats property narrows both memories alike.
#[test]
fn formats_property_narrows_cuda_caps_too() {
    common::init();
    let element = gst::ElementFactory::make("savantpyfunc")
        .property(
            "module",
            common::module(
                "cuda_formats_stage",
                "def process_frame(frame):\n    pass\n",
            ),
        )
        .property("formats", "NV12")
        .build()
        .unwrap();
    element.set_state(gst::State::Paused).unwrap();
    let caps = element.static_pad("sink").unwrap().query_caps(None);
    element.set_state(gst::State::Null).unwrap();
    assert_eq!(caps.size(), 2, "{caps}");
    for (i, s) in caps.iter().enumerate() {
        assert_eq!(
            s.get::<&str>("format").ok(),
            Some("NV12"),
            "structure {i} of {caps}"
        );
    }
}

fn appsrc_pipeline(tail: &str) -> (gst::Pipeline, gst_app::AppSrc) {
    common::init();
    let pipeline = common::launch(&format!("appsrc name=src format=time ! {tail}"));
    let src = common::appsrc(&pipeline, "src");
    src.set_caps(Some(&CUDA_RGBA.parse::<gst::Caps>().unwrap()));
    (pipeline, src)
}

/// Pushes `frames` system-memory RGBA buffers under CUDA caps, then EOS; Ok at EOS
/// or the ERROR's text and debug, and the WARNINGs before it.
fn push_frames(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    frames: u64,
) -> (Result<(), String>, Vec<String>) {
    push_frames_of(pipeline, src, frames, 32 * 16 * 4)
}

/// As push_frames, with buffers of `size` bytes (decoders pad frames past the caps'
/// size).
fn push_frames_of(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    frames: u64,
    size: usize,
) -> (Result<(), String>, Vec<String>) {
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..frames {
        let mut buffer = gst::Buffer::with_size(size).unwrap();
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * i));
        if src.push_buffer(buffer).is_err() {
            break;
        }
    }
    let _ = src.end_of_stream();
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    let end = loop {
        let Some(message) = bus.timed_pop(gst::ClockTime::from_seconds(30)) else {
            break Err("no EOS within 30 s".to_string());
        };
        match message.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => break Err(format!("{} {:?}", e.error(), e.debug())),
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            _ => {}
        }
    };
    (end, warnings)
}

/// Without a GPU, CUDA caps are a negotiation error that says so; nothing crashes
/// and no buffer reaches Python.
#[test]
fn cuda_caps_without_cuda_are_a_clear_error() {
    common::init();
    if gst::ElementFactory::find("cudaupload").is_some() {
        eprintln!("cuda_caps_without_cuda_are_a_clear_error: skipped: this host has CUDA");
        return;
    }
    let stage = common::module(
        "cuda_unreached_stage",
        "def process_frame(frame):\n    raise RuntimeError('a frame reached Python')\n",
    );
    let (pipeline, src) = appsrc_pipeline(&format!("savantpyfunc module={stage} ! fakesink"));
    let (end, _) = push_frames(&pipeline, &src, 3);
    pipeline.set_state(gst::State::Null).unwrap();
    let text = end.expect_err("an ERROR");
    assert!(
        text.contains("need CUDA, which is not available here"),
        "{text}"
    );
    assert!(!text.contains("a frame reached Python"), "{text}");
}

/// Without CUDA, savantpyfunc leaves a CUDA context query unanswered (the asking
/// element then makes its own context, as without savantpyfunc).
#[test]
fn cuda_context_query_without_cuda_is_not_answered() {
    common::init();
    if gst::ElementFactory::find("cudaupload").is_some() {
        eprintln!("cuda_context_query_without_cuda_is_not_answered: skipped: this host has CUDA");
        return;
    }
    let element = gst::ElementFactory::make("savantpyfunc").build().unwrap();
    for pad in ["sink", "src"] {
        let mut query = gst::query::Context::new("gst.cuda.context");
        assert!(!element.static_pad(pad).unwrap().query(&mut query));
        assert!(query.context().is_none());
    }
}

/// Frames of CUDA caps are GPU memory to savantqueue: stats and gpu-memory-budget
/// count them apart from system memory (memory-budget does not apply to them).
#[test]
fn savantqueue_counts_cuda_frames_as_gpu_memory() {
    let (pipeline, src) = appsrc_pipeline(
        "savantqueue name=q length=4 memory-budget=1 gpu-memory-budget=5000 mode=always \
         ! identity sleep-time=2000 ! fakesink sync=false",
    );
    // Padded buffers, as GPU decoders make: 1 KiB more than the caps say.
    let frame = 32 * 16 * 4u64;
    let padded = frame + 1024;
    let (end, warnings) = push_frames_of(&pipeline, &src, 12, padded as usize);
    assert_eq!(end, Ok(()), "{warnings:?}");
    let stats = pipeline
        .by_name("q")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(stats.get::<&str>("memory").unwrap(), "cuda", "{stats}");
    // What it can hold follows the buffers; the caps-time warning could only use
    // the caps' size.
    assert_eq!(
        stats.get::<u64>("capacity-gpu-bytes").unwrap(),
        4 * padded,
        "{stats}"
    );
    assert_eq!(
        stats.get::<u64>("capacity-bytes").unwrap(),
        4 * padded,
        "{stats}"
    );
    let max_gpu = stats.get::<u64>("max-level-gpu-bytes").unwrap();
    assert!(max_gpu >= padded && max_gpu <= 4 * padded, "{stats}");
    assert_eq!(
        max_gpu,
        stats.get::<u64>("max-level-bytes").unwrap(),
        "{stats}"
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!(
            "may hold {} bytes of GPU memory (4 x 32x16 RGBA frames), over its gpu-memory-budget of 5000 bytes",
            4 * frame
        )),
        "{warnings:?}"
    );
}

/// A system-memory frame answers the device protocols so that libraries fall back
/// or explain: no `__cuda_array_interface__` (cupy.asarray then copies through
/// numpy), and DLPack refused with a message that says to use numpy.
#[test]
fn system_memory_frames_answer_device_protocols_clearly() {
    let stage = common::module(
        "cpu_device_protocols",
        r#"
        SEEN = {}
        def process_frame(frame):
            SEEN["memory"] = frame.memory
            SEEN["cai"] = hasattr(frame, "__cuda_array_interface__")
            SEEN["plane_cai"] = hasattr(frame.plane(0), "__cuda_array_interface__")
            for name, call in (("dlpack", frame.__dlpack__), ("dlpack_device", frame.__dlpack_device__)):
                try:
                    call()
                except BufferError as e:
                    SEEN[name] = str(e)
        "#,
    );
    let result = common::run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let seen: std::collections::HashMap<String, pyo3::Py<pyo3::PyAny>> =
        common::py_eval("__import__('cpu_device_protocols').SEEN");
    assert_eq!(seen.len(), 5, "{:?}", seen.keys());
    assert_eq!(
        common::py_eval::<String>("__import__('cpu_device_protocols').SEEN['memory']"),
        "system"
    );
    assert!(!common::py_eval::<bool>(
        "__import__('cpu_device_protocols').SEEN['cai']"
    ));
    assert!(!common::py_eval::<bool>(
        "__import__('cpu_device_protocols').SEEN['plane_cai']"
    ));
    for key in ["dlpack", "dlpack_device"] {
        let message: String =
            common::py_eval(&format!("__import__('cpu_device_protocols').SEEN['{key}']"));
        assert!(
            message.starts_with("the frame is in system memory: use np.asarray(frame)"),
            "{key}: {message}"
        );
    }
}

/// savantmux and savantdemux route CUDA frames (they never read pixels): their
/// templates say so and CUDA caps flow from a source through both.
#[test]
fn savantmux_and_savantdemux_route_cuda_frames() {
    common::init();
    for (element, pad) in [
        ("savantmux", "sink_%u"),
        ("savantmux", "src"),
        ("savantdemux", "sink"),
        ("savantdemux", "src_%s"),
    ] {
        let factory = gst::ElementFactory::find(element).unwrap();
        let template = factory
            .static_pad_templates()
            .into_iter()
            .find(|t| t.name_template() == pad)
            .unwrap()
            .caps();
        let cuda: gst::Caps = CUDA_RGBA.parse().unwrap();
        assert!(cuda.is_subset(&template), "{element} {pad}: {template}");
    }
    let (pipeline, src) = appsrc_pipeline("savantmux ! savantdemux ! fakesink name=sink");
    let (end, warnings) = push_frames(&pipeline, &src, 3);
    let caps = pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .current_caps();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(end, Ok(()), "{warnings:?}");
    let caps = caps.expect("caps reached the sink");
    assert!(
        caps.features(0).unwrap().contains("memory:CUDAMemory"),
        "{caps}"
    );
}

/// Sources of one savantmux in different memories (one CUDA, one system) are an
/// ERROR naming both caps, as other differences are: one stage maps one memory.
#[test]
fn savantmux_refuses_sources_in_different_memories() {
    common::init();
    let pipeline = common::launch(&format!(
        "appsrc name=src format=time caps=\"{CUDA_RGBA}\" ! m.sink_0 \
         videotestsrc num-buffers=5 ! video/x-raw,format=RGBA,width=32,height=16 ! m.sink_1 \
         savantmux name=m ! fakesink"
    ));
    let src = common::appsrc(&pipeline, "src");
    let (end, _) = push_frames(&pipeline, &src, 3);
    pipeline.set_state(gst::State::Null).unwrap();
    let text = end.expect_err("an ERROR");
    assert!(
        text.contains("memory:CUDAMemory") && text.contains("same memory (system or CUDA)"),
        "{text}"
    );
}

/// The caps savantpyfunc's sink pad offers once started with `memory`: which of the
/// two memories they hold (system, CUDA).
fn memories_offered(memory: &str) -> (bool, bool) {
    let stage = common::module("memory_stage", "def process_frame(frame):\n    pass\n");
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! savantpyfunc name=stage memory={memory} module={stage} \
         ! fakesink"
    ))
    .unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let caps = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("stage")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .query_caps(None);
    pipeline.set_state(gst::State::Null).unwrap();
    let cuda = |i: usize| {
        caps.features(i)
            .is_some_and(|f| f.contains("memory:CUDAMemory"))
    };
    (
        (0..caps.size()).any(|i| !cuda(i)),
        (0..caps.size()).any(cuda),
    )
}

/// memory=system makes savantpyfunc offer system memory only (a GPU decoder then
/// downloads for a numpy stage, as before CUDA frames existed); auto offers both.
#[test]
fn memory_property_chooses_what_savantpyfunc_negotiates() {
    common::init();
    assert_eq!(memories_offered("auto"), (true, true));
    assert_eq!(memories_offered("system"), (true, false));
    if gst::ElementFactory::find("cudaupload").is_some() {
        assert_eq!(memories_offered("cuda"), (false, true));
    }
    // CUDA frames offered to memory=system: refused at negotiation, never to Python.
    let stage = common::module(
        "memory_system_stage",
        "def process_frame(frame):\n    raise RuntimeError('a frame reached Python')\n",
    );
    let (pipeline, src) = appsrc_pipeline(&format!(
        "savantpyfunc memory=system module={stage} ! fakesink"
    ));
    let (end, _) = push_frames(&pipeline, &src, 3);
    pipeline.set_state(gst::State::Null).unwrap();
    let text = end.expect_err("an ERROR");
    assert!(text.contains("not-negotiated"), "{text}");
    assert!(!text.contains("a frame reached Python"), "{text}");
}

/// memory=cuda where CUDA is missing fails at start with a message that says so.
#[test]
fn memory_cuda_without_cuda_is_a_clear_error() {
    common::init();
    if gst::ElementFactory::find("cudaupload").is_some() {
        eprintln!("memory_cuda_without_cuda_is_a_clear_error: skipped: this host has CUDA");
        return;
    }
    let stage = common::module("memory_cuda_stage", "def process_frame(frame):\n    pass\n");
    let result = common::run(&format!(
        "videotestsrc num-buffers=1 ! savantpyfunc memory=cuda module={stage} ! appsink name=sink"
    ));
    let (message, _) = common::expect_error(&result);
    assert!(
        message.contains("memory=cuda, but CUDA is not available here"),
        "{message}"
    );
}
