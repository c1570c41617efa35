//! Python thread states: one per streaming thread, gone when the thread ends. A
//! binary of its own with one test, so no other test's threads blur the counts.

mod common;

use common::{init, module, run};

fn thread_states() -> usize {
    // The GIL sampler keeps a thread state while it runs, and leaves a few ms after
    // the last stage stopped.
    common::wait_for_gil_sampler_to_exit();
    // SAFETY: the pipelines are stopped and the GIL sampler has left: no thread
    // starts or ends a Python thread state while this counts them.
    pyo3::Python::attach(|py| unsafe { gstsavant::python::thread_state::count(py) })
}

fn push_from_a_thread_that_then_exits(path: &str) {
    let path = path.to_owned();
    std::thread::spawn(move || {
        init();
        // Harness pushes on the calling thread: this thread is the streaming thread.
        let mut h = gst_check::Harness::new_parse(&format!("savantpyfunc module={path}"));
        h.set_src_caps_str("video/x-raw,format=GRAY8,width=4,height=2,framerate=25/1");
        for _ in 0..3 {
            h.push_and_pull(gst::Buffer::from_mut_slice(vec![0u8; 8]))
                .unwrap();
        }
    })
    .join()
    .unwrap();
}

#[test]
fn thread_states_live_only_as_long_as_their_threads() {
    let path = module("per_thread", "def process_frame(frame):\n    pass\n");
    push_from_a_thread_that_then_exits(&path);
    let before = thread_states();
    for _ in 0..20 {
        push_from_a_thread_that_then_exits(&path);
    }
    let after = thread_states();
    assert!(
        after <= before,
        "thread states grew from {before} to {after}"
    );

    // Pipelines started and stopped again and again (pooled streaming threads).
    let description = format!(
        "videotestsrc num-buffers=5 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={path} ! queue ! savantpyfunc module={path} ! appsink name=sink"
    );
    for _ in 0..5 {
        assert!(run(&description).eos);
    }
    let after_warmup = thread_states();
    for _ in 0..25 {
        assert!(run(&description).eos);
    }
    let after_cycles = thread_states();
    // A leak keeps one state per streaming thread per cycle (2 x 25 here). GStreamer's
    // task pool may start a new thread when the last pipeline's threads have not gone
    // back to the pool yet, and those live on, idle, with their states: seen to add 2
    // right after other test binaries ran.
    assert!(
        after_cycles <= after_warmup + 4,
        "thread states grew from {after_warmup} to {after_cycles} over 25 cycles"
    );
    let os_threads = std::fs::read_dir("/proc/self/task").unwrap().count();
    assert!(
        after_cycles <= os_threads,
        "{after_cycles} states for {os_threads} threads"
    );
}
