//! savantqueue: blocking, never leaky, bounded by length or bytes, with statistics.

mod common;

use common::{init, run};
use gst::prelude::*;

/// Runs `description` (with a `savantqueue name=q`) to EOS; returns the queue's
/// stats and the element messages and warnings posted on the way.
fn run_with_queue(description: &str) -> (gst::Structure, Vec<gst::Structure>, Vec<String>) {
    init();
    let pipeline = gst::parse::launch(description).unwrap();
    let queue = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("q")
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut messages = Vec::new();
    let mut warnings = Vec::new();
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(60))
    {
        match msg.view() {
            gst::MessageView::Element(e) => messages.push(e.structure().unwrap().to_owned()),
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}: {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    let stats = queue.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    (stats, messages, warnings)
}

#[test]
fn a_full_queue_blocks_upstream_and_loses_nothing() {
    let (stats, messages, _) = run_with_queue(
        "videotestsrc num-buffers=40 ! video/x-raw,format=GRAY8,width=16,height=16 \
         ! savantqueue name=q length=2 ! identity sleep-time=2000 ! fakesink sync=false",
    );
    assert_eq!(stats.get::<u64>("passed").unwrap(), 40);
    let max = stats.get::<u64>("max-level-buffers").unwrap();
    assert!((1..=2).contains(&max), "max level {max} with length=2");
    assert!(stats.get::<u64>("max-level-bytes").unwrap() <= 2 * 256);
    // Upstream produces far faster than 2 ms a frame: it spent most of the run waiting.
    let blocked_ms = stats.get::<u64>("upstream-blocked-ns").unwrap() / 1_000_000;
    assert!(blocked_ms >= 40, "upstream blocked only {blocked_ms} ms");
    let eos_stats = messages
        .iter()
        .find(|m| m.name() == "savantqueue-stats")
        .expect("stats posted at EOS");
    assert_eq!(eos_stats.get::<u64>("passed").unwrap(), 40);
}

#[test]
fn byte_size_bounds_the_queue() {
    // 1 KiB frames, 2.5 KiB budget: never more than 3 frames in the queue.
    let (stats, _, _) = run_with_queue(
        "videotestsrc num-buffers=30 ! video/x-raw,format=GRAY8,width=32,height=32 \
         ! savantqueue name=q length=0 byte-size=2560 ! identity sleep-time=1000 ! fakesink sync=false",
    );
    assert_eq!(stats.get::<u64>("passed").unwrap(), 30);
    assert!(stats.get::<u64>("max-level-bytes").unwrap() <= 3 * 1024);
}

#[test]
fn memory_over_budget_is_a_warning_with_the_figures() {
    let (_, _, warnings) = run_with_queue(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=320,height=240 \
         ! savantqueue name=q length=4 memory-budget=1000000 ! fakesink",
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("may hold 1228800 bytes (4 x 320x240 RGBA frames), over its memory-budget of 1000000 bytes"),
        "{warnings:?}"
    );
    let (_, _, warnings) = run_with_queue(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=320,height=240 \
         ! savantqueue name=q length=4 memory-budget=2000000 ! fakesink",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn stats_are_posted_every_interval() {
    let (_, messages, _) = run_with_queue(
        "videotestsrc num-buffers=30 ! video/x-raw,format=GRAY8,width=16,height=16 \
         ! savantqueue name=q stats-interval=20 ! identity sleep-time=5000 ! fakesink sync=false",
    );
    let posted = messages
        .iter()
        .filter(|m| m.name() == "savantqueue-stats")
        .count();
    // ~150 ms of streaming at one message per 20 ms, plus the one at EOS.
    assert!(posted >= 4, "only {posted} stats messages");
}

#[test]
fn python_stages_behind_queues_keep_every_frame_in_order() {
    let stage = common::module(
        "queued_order",
        "def process_frame(frame):\n    frame.attributes['seen'] = frame.offset\n",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=50 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantqueue length=1 ! savantpyfunc module={stage} ! savantqueue length=1 \
         ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos);
    let offsets: Vec<u64> = result.buffers.iter().map(|b| b.offset()).collect();
    assert_eq!(offsets, (0..50).collect::<Vec<_>>());
}

fn two_stage_run(
    stage: &str,
    mode: &str,
    frames: u32,
) -> (Vec<u64>, gst::Structure, gst::Structure) {
    init();
    let pipeline = common::launch(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantqueue name=q0 mode={mode} ! savantpyfunc module={stage} \
         ! savantqueue name=q1 mode={mode} ! savantpyfunc module={stage} \
         ! appsink name=sink sync=false"
    ));
    let sink = common::appsink(&pipeline, "sink");
    let offsets = common::collect_offsets(&sink);
    pipeline.set_state(gst::State::Playing).unwrap();
    common::wait_for_eos(&pipeline, std::time::Duration::from_secs(60));
    let q0 = pipeline
        .by_name("q0")
        .unwrap()
        .property::<gst::Structure>("stats");
    let q1 = pipeline
        .by_name("q1")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    let offsets = offsets.lock().unwrap().clone();
    (offsets, q0, q1)
}

/// A stage whose calls spin for 200 us holding the GIL, as module `name`.
fn spinning_stage(name: &str) -> String {
    common::module(
        name,
        r#"
        import time
        def process_frame(frame):
            end = time.perf_counter() + 0.0002
            while time.perf_counter() < end:
                pass
        "#,
    )
}

#[test]
fn auto_queues_run_gil_bound_stages_inline_without_reordering() {
    let stage = spinning_stage("gil_bound_spin");
    // 1000 frames: 200 us calls give about one GIL sample per window, and the rule
    // wants at least 5 before it calls a stage GIL-bound.
    let (offsets, q0, q1) = two_stage_run(&stage, "auto", 1000);
    assert_eq!(
        offsets,
        (0..1000).collect::<Vec<_>>(),
        "frames lost or reordered"
    );
    let inline = q0.get::<u64>("passed-inline").unwrap() + q1.get::<u64>("passed-inline").unwrap();
    assert!(inline > 0, "no queue ran its stage inline: {q0} {q1}");
    assert_eq!(q0.get::<u64>("passed").unwrap(), 1000);
}

#[test]
fn auto_queues_keep_queueing_for_stages_that_release_the_gil() {
    let stage = common::module(
        "gil_free_sleep",
        "import time\ndef process_frame(frame):\n    time.sleep(0.003)\n",
    );
    let (offsets, q0, q1) = two_stage_run(&stage, "auto", 100);
    assert_eq!(offsets.len(), 100);
    assert_eq!(q0.get::<u64>("passed-inline").unwrap(), 0, "{q0}");
    assert_eq!(q1.get::<u64>("passed-inline").unwrap(), 0, "{q1}");
}

#[test]
fn mode_always_never_hands_over() {
    let stage = spinning_stage("gil_bound_spin_always");
    let (offsets, q0, q1) = two_stage_run(&stage, "always", 200);
    assert_eq!(offsets, (0..200).collect::<Vec<_>>());
    assert_eq!(q0.get::<u64>("passed-inline").unwrap(), 0);
    assert_eq!(q1.get::<u64>("passed-inline").unwrap(), 0);
}

/// A pure-Python stage of 60-80 us a call holds the GIL: the same verdict in
/// identical runs.
#[test]
fn a_gil_holding_stage_gets_the_same_verdict_in_identical_runs() {
    let stage = common::module(
        "pure_python_70us",
        r#"
        import time
        def process_frame(frame):
            end = time.perf_counter() + 0.00007
            while time.perf_counter() < end:
                pass
        "#,
    );
    init();
    let verdicts: Vec<(String, u64)> = (0..2)
        .map(|_| {
            let pipeline = gst::parse::launch(&format!(
                "videotestsrc num-buffers=30000 ! video/x-raw,format=GRAY8,width=8,height=8 \
                 ! savantpyfunc name=s module={stage} ! fakesink"
            ))
            .unwrap();
            common::run_to_eos(&pipeline, std::time::Duration::from_secs(60));
            let stats = pipeline
                .downcast_ref::<gst::Bin>()
                .unwrap()
                .by_name("s")
                .unwrap()
                .property::<gst::Structure>("stats");
            pipeline.set_state(gst::State::Null).unwrap();
            (
                stats.get::<String>("verdict").unwrap(),
                stats.get::<u64>("gil-samples").unwrap(),
            )
        })
        .collect();
    for (verdict, samples) in &verdicts {
        assert!(*samples >= 20, "{verdicts:?}");
        assert_eq!(verdict, "GIL-bound: queues will not help", "{verdicts:?}");
    }
}
