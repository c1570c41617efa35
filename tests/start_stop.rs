//! Starting and stopping a pipeline with every element again and again leaves no
//! threads, thread states or memory behind. A binary of its own: no other test's
//! threads blur the counts.

mod common;

use std::time::Duration;

use common::{full_stage, init, rss_kib, run_to_eos};
use gst::prelude::*;

#[test]
fn fifty_start_stop_cycles_grow_nothing() {
    init();
    let stage = full_stage();
    let description = format!(
        "videotestsrc num-buffers=20 ! video/x-raw,format=RGBA,width=32,height=32 \
         ! savantqueue ! savantpyfunc module={stage} class-name=Stage workers=2 \
         ! savantqueue ! savantdrawfunc ! fakesink"
    );
    let measure = || {
        common::wait_for_gil_sampler_to_exit();
        (
            std::fs::read_dir("/proc/self/task").unwrap().count(),
            // SAFETY: the pipelines are stopped and the GIL sampler has left: no thread
            // starts or ends a Python thread state while this counts them.
            pyo3::Python::attach(|py| unsafe { gstsavant::python::thread_state::count(py) }),
            rss_kib(),
        )
    };
    let mut after_warmup = None;
    for cycle in 0..50 {
        let pipeline = gst::parse::launch(&description).unwrap();
        run_to_eos(&pipeline, Duration::from_secs(60));
        pipeline.set_state(gst::State::Null).unwrap();
        if cycle == 9 {
            after_warmup = Some(measure());
        }
    }
    let (threads0, states0, rss0) = after_warmup.unwrap();
    let (threads, states, rss) = measure();
    // GStreamer's thread pool may keep a spare thread or two.
    assert!(threads <= threads0 + 2, "threads {threads0} -> {threads}");
    assert!(
        states <= states0 + 2,
        "Python thread states {states0} -> {states}"
    );
    assert!(
        rss <= rss0 + 8 * 1024,
        "RSS {rss0} -> {rss} KiB over 40 cycles"
    );
}
