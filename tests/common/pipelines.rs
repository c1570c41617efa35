//! Pipeline helpers on GStreamer's API alone: no libpython and no plugin linked in,
//! so tests/cuda.rs and the benchmarks (which load the plugin from a file, on a GPU
//! host too) share them with the tests (through `common`).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// The pipeline of `description`; panics naming it if it does not parse.
pub fn launch(description: &str) -> gst::Pipeline {
    gst::parse::launch(description)
        .unwrap_or_else(|e| panic!("{description}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap_or_else(|_| panic!("{description}: not a pipeline"))
}

/// The appsrc named `name` in `pipeline`.
pub fn appsrc(pipeline: &impl IsA<gst::Element>, name: &str) -> gst_app::AppSrc {
    element_of(pipeline, name)
        .downcast::<gst_app::AppSrc>()
        .unwrap_or_else(|_| panic!("{name} is not an appsrc"))
}

/// The appsink named `name` in `pipeline`.
pub fn appsink(pipeline: &impl IsA<gst::Element>, name: &str) -> gst_app::AppSink {
    element_of(pipeline, name)
        .downcast::<gst_app::AppSink>()
        .unwrap_or_else(|_| panic!("{name} is not an appsink"))
}

fn element_of(pipeline: &impl IsA<gst::Element>, name: &str) -> gst::Element {
    pipeline
        .as_ref()
        .downcast_ref::<gst::Bin>()
        .expect("a bin")
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
}

/// Waits up to `seconds` for the pipeline's EOS (Ok) or ERROR (its text and debug).
pub fn wait_end(pipeline: &impl IsA<gst::Element>, seconds: u64) -> Result<(), String> {
    let message = pipeline.as_ref().bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(seconds),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    match message.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => Ok(()),
        Some(gst::MessageView::Error(e)) => Err(format!(
            "{} ({})",
            e.error(),
            e.debug().map(|d| d.to_string()).unwrap_or_default()
        )),
        _ => Err(format!("no EOS within {seconds} s")),
    }
}

/// Records when each buffer reaches the sink pad of `pipeline`'s element `sink`.
pub fn record_arrivals(pipeline: &impl IsA<gst::Element>, sink: &str) -> Arc<Mutex<Vec<Instant>>> {
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let recorder = arrivals.clone();
    element_of(pipeline, sink)
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            recorder.lock().unwrap().push(Instant::now());
            gst::PadProbeReturn::Ok
        });
    arrivals
}

/// Polls `ready` every 50 ms until it holds; fails naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < timeout,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
