//! process_batch: up to batch-size frames per call, one GIL hand-over per batch,
//! verdicts per frame, input order kept, partial batches after batch-timeout.

mod common;

use common::{expect_error, module, py_eval, run};
use gst::prelude::*;

/// Runs ten frames through `stage` in batches of 4 (the last batch at EOS, well
/// before its timeout) to EOS.
fn ten_frames_in_batches_of_4(stage: &str) -> common::Run {
    let result = run(&format!(
        "videotestsrc num-buffers=10 ! video/x-raw,format=GRAY8,width=16,height=8 \
         ! savantpyfunc name=stage module={stage} class-name=Stage batch-size=4 \
         batch-timeout=10000 ! appsink name=sink"
    ));
    assert!(result.eos, "{:?}", result.error);
    result
}

/// Runs four frames through `stage` in batches of 2; the ERROR's message and debug.
fn batch_error(stage: &str) -> String {
    let result = run(&format!(
        "videotestsrc num-buffers=4 ! video/x-raw,format=GRAY8,width=16,height=8 \
         ! savantpyfunc module={stage} class-name=Stage batch-size=2 ! appsink name=sink"
    ));
    let (message, debug) = expect_error(&result);
    format!("{message} {debug}")
}

fn batch_stage(name: &str, body: &str) -> String {
    module(
        name,
        &format!(
            "
SIZES = []
SOURCES = []
class Stage:
    def process_batch(self, frames):
        SIZES.append(len(frames))
        SOURCES.append([f.source_id for f in frames])
{body}
"
        ),
    )
}

fn sizes(name: &str) -> Vec<usize> {
    py_eval(&format!("__import__('{name}').SIZES"))
}

fn pts(buffers: &[gst::Buffer]) -> Vec<u64> {
    buffers
        .iter()
        .map(|b| b.pts().unwrap().nseconds())
        .collect()
}

#[test]
fn frames_come_in_batches_and_leave_in_order() {
    let stage = batch_stage("batch_order", "");
    let result = ten_frames_in_batches_of_4(&stage);
    // The last, partial batch runs at EOS, not after the timeout.
    assert_eq!(sizes("batch_order"), [4, 4, 2]);
    let pts = pts(&result.buffers);
    assert_eq!(pts.len(), 10);
    assert!(pts.windows(2).all(|w| w[0] < w[1]), "{pts:?}");
}

#[test]
fn a_list_of_booleans_drops_frames_one_by_one() {
    let stage = batch_stage(
        "batch_verdicts",
        "        return [i % 2 == 0 for i in range(len(frames))]",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=8 ! video/x-raw,format=GRAY8,width=16,height=8 \
         ! savantpyfunc module={stage} class-name=Stage batch-size=4 ! appsink name=sink"
    ));
    assert!(result.eos, "{:?}", result.error);
    assert_eq!(result.buffers.len(), 4);
}

#[test]
fn a_partial_batch_goes_after_the_timeout() {
    let stage = batch_stage("batch_timeout", "");
    // 10 fps live: a frame every 100 ms, a timeout of 20 ms: every batch is one frame.
    let result = run(&format!(
        "videotestsrc is-live=true num-buffers=3 \
         ! video/x-raw,format=GRAY8,width=16,height=8,framerate=10/1 \
         ! savantpyfunc module={stage} class-name=Stage batch-size=8 batch-timeout=20 \
         ! appsink name=sink"
    ));
    assert!(result.eos, "{:?}", result.error);
    assert_eq!(sizes("batch_timeout"), [1, 1, 1]);
    assert_eq!(result.buffers.len(), 3);
}

#[test]
fn batches_mix_the_sources_of_a_mux() {
    let stage = batch_stage("batch_mux", "");
    let result = run(&format!(
        "savantmux name=m ! savantpyfunc module={stage} class-name=Stage batch-size=4 \
         batch-timeout=10000 ! appsink name=sink \
         videotestsrc num-buffers=6 ! video/x-raw,format=GRAY8,width=16,height=8 ! m.sink_0 \
         videotestsrc num-buffers=6 ! video/x-raw,format=GRAY8,width=16,height=8 ! m.sink_1"
    ));
    assert!(result.eos, "{:?}", result.error);
    assert_eq!(result.buffers.len(), 12);
    let sources: Vec<Vec<String>> = py_eval("__import__('batch_mux').SOURCES");
    let all: Vec<String> = sources.iter().flatten().cloned().collect();
    assert_eq!(all.iter().filter(|s| *s == "sink_0").count(), 6);
    assert_eq!(all.iter().filter(|s| *s == "sink_1").count(), 6);
    assert_eq!(sources.iter().map(Vec::len).sum::<usize>(), 12);
    assert!(sources.iter().all(|b| b.len() <= 4));
    let stats: Vec<usize> = sizes("batch_mux");
    assert!(stats.iter().all(|&n| n <= 4), "{stats:?}");
}

#[test]
fn stats_count_batches() {
    let stage = batch_stage("batch_stats", "");
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=9 ! video/x-raw,format=GRAY8,width=16,height=8 \
         ! savantpyfunc name=stage module={stage} class-name=Stage batch-size=3 \
         ! fakesink"
    ))
    .unwrap();
    common::run_to_eos(&pipeline, std::time::Duration::from_secs(30));
    let stage = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("stage")
        .unwrap();
    use gst::prelude::*;
    let stats = stage.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("batches").unwrap(), 3);
    assert_eq!(stats.get::<u64>("frames").unwrap(), 9);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn a_wrong_return_value_is_an_error_saying_what_was_expected() {
    let stage = batch_stage("batch_bad_return", "        return [True]");
    let text = batch_error(&stage);
    assert!(text.contains("process_batch() returned"), "{text}");
    assert!(text.contains("list of 2 booleans"), "{text}");
}

#[test]
fn an_endless_iterator_of_verdicts_is_a_wrong_count_not_a_hang() {
    // itertools.repeat(True) never ends: the element takes one item past the frames.
    let stage = batch_stage(
        "batch_endless",
        "        import itertools\n        return itertools.repeat(True)",
    );
    let started = std::time::Instant::now();
    let text = batch_error(&stage);
    assert!(
        text.contains("returned repeat(True) for 2 frames"),
        "{text}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_huge_wrong_return_value_is_named_by_type_and_length_not_printed() {
    // Its repr was a 60 MB error message, made with the GIL held.
    let stage = batch_stage("batch_huge_return", "        return [True] * 10**7");
    let started = std::time::Instant::now();
    let text = batch_error(&stage);
    assert!(
        text.contains("returned a list of 10000000 items for 2 frames"),
        "{}",
        &text[..text.len().min(500)]
    );
    assert!(text.len() < 10_000, "an error text of {} bytes", text.len());
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn batch_size_needs_process_batch_and_process_batch_needs_one_worker() {
    let plain = module("batch_plain", "def process_frame(frame):\n    pass\n");
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=GRAY8,width=16,height=8 \
         ! savantpyfunc module={plain} batch-size=4 ! appsink name=sink"
    ));
    let (message, debug) = expect_error(&result);
    assert!(
        format!("{message} {debug}").contains("needs a class that defines process_batch"),
        "{message} {debug}"
    );
    let stage = batch_stage("batch_workers", "");
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=GRAY8,width=16,height=8 \
         ! savantpyfunc module={stage} class-name=Stage workers=2 ! appsink name=sink"
    ));
    let (message, debug) = expect_error(&result);
    assert!(
        format!("{message} {debug}").contains("set workers=1"),
        "{message} {debug}"
    );
}

#[test]
fn batching_adds_its_timeout_to_the_latency() {
    use gst::prelude::*;
    let stage = batch_stage("batch_latency", "");
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,format=GRAY8,width=16,height=8,framerate=30/1 \
         ! savantpyfunc module={stage} class-name=Stage batch-size=4 batch-timeout=150 \
         ! fakesink name=sink"
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(10));
    // What the sink learns from upstream: the stage's src pad answers.
    let sink = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("sink")
        .unwrap();
    let mut query = gst::query::Latency::new();
    assert!(sink.static_pad("sink").unwrap().peer_query(&mut query));
    let (live, min, _) = query.result();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(live);
    assert!(min >= gst::ClockTime::from_mseconds(150), "{min}");
}

#[test]
fn an_exception_while_iterating_the_verdicts_is_reported() {
    let stage = batch_stage("batch_generator", "        return (1 / 0 for f in frames)");
    let text = batch_error(&stage);
    assert!(text.contains("ZeroDivisionError"), "{text}");
}

/// Verdicts that are not booleans, frame after frame, with on-error=skip: one
/// WARNING (plus the count of repeats at EOS), not one per frame; the frame and the
/// value are in the details.
#[test]
fn non_boolean_verdicts_are_reported_once_per_interval_not_per_frame() {
    let stage = batch_stage(
        "batch_non_boolean",
        "        return ['yes' if i % 2 else True for i in range(len(frames))]",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=200 ! video/x-raw,format=GRAY8,width=16,height=8 \
         ! savantpyfunc module={stage} class-name=Stage batch-size=4 on-error=skip \
         ! appsink name=sink"
    ));
    assert!(result.eos, "{:?}", result.error);
    // Skipped frames pass unchanged: none is lost.
    assert_eq!(result.buffers.len(), 200);
    assert!(
        (1..=2).contains(&result.warnings.len()),
        "{:?}",
        result.warnings
    );
    let (message, details) = &result.warnings[0];
    assert!(
        message.contains("returned a verdict that is not a boolean (str)"),
        "{message}"
    );
    assert!(details.contains("frame 1 of 4: 'yes'"), "{details}");
    if let Some((last, _)) = result.warnings.get(1) {
        assert!(last.contains("99 more time(s)"), "{last}");
    }
}

#[test]
fn frames_waiting_for_their_batch_are_counted_and_covered_by_max_bytes_held() {
    let stage = batch_stage("batch_memory", "");
    common::init();
    let element = gst::ElementFactory::make("savantpyfunc")
        .property("module", &stage)
        .property("class-name", "Stage")
        .property("batch-size", 4u32)
        .property("batch-timeout", 60_000u32)
        .property("max-bytes-held", 2_500_000u64)
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let mut harness = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    harness.set_src_caps_str("video/x-raw,format=RGBA,width=640,height=480,framerate=30/1");
    let frame_bytes = 640 * 480 * 4;
    let stats = |element: &gst::Element| {
        let stats = element.property::<gst::Structure>("stats");
        (
            stats.get::<u64>("batch-frames").unwrap(),
            stats.get::<u64>("batch-bytes").unwrap(),
        )
    };
    let warnings = |bus: &gst::Bus| -> Vec<String> {
        std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Warning]))
            .map(|m| match m.view() {
                gst::MessageView::Warning(w) => w.error().to_string(),
                _ => unreachable!(),
            })
            .collect()
    };
    for i in 0..3u64 {
        let mut buffer = gst::Buffer::with_size(frame_bytes as usize).unwrap();
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(i * 33));
        harness.push(buffer).unwrap();
    }
    assert_eq!(stats(&element), (3, 3 * frame_bytes));
    // 2 frames (2.46 MB) fit under 2.5 MB, the third passes it: one WARNING.
    let said = warnings(&bus);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("waiting for their batch") && said[0].contains("max-bytes-held"),
        "{}",
        said[0]
    );
    assert_eq!(harness.buffers_in_queue(), 0);
    let mut buffer = gst::Buffer::with_size(frame_bytes as usize).unwrap();
    buffer
        .get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(99));
    harness.push(buffer).unwrap();
    assert_eq!(harness.buffers_in_queue(), 4);
    assert_eq!(stats(&element), (0, 0));
    // A flush discards a partial batch: its frames are no longer counted.
    let mut buffer = gst::Buffer::with_size(frame_bytes as usize).unwrap();
    buffer
        .get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(132));
    harness.push(buffer).unwrap();
    assert_eq!(stats(&element), (1, frame_bytes));
    assert!(harness.push_event(gst::event::FlushStart::new()));
    assert!(harness.push_event(gst::event::FlushStop::new(true)));
    assert_eq!(stats(&element), (0, 0));
    assert!(warnings(&bus).is_empty());
}

/// Frame objects are reused (frame/reuse.rs): those waiting for their next buffer
/// are out of Python's reach. A stage that walks `gc.get_objects()` (as memory
/// tools do) finds the frames of its call, each a working frame, and no spare.
#[test]
fn frames_waiting_for_reuse_are_out_of_pythons_reach() {
    let stage = batch_stage(
        "batch_gc_walk",
        "        import gc
        found = [o for o in gc.get_objects() if type(o).__name__ == 'Frame']
        broken = []
        for o in found:
            try:
                o.pts
            except BaseException as e:
                broken.append(repr(e))
        mine = sum(1 for o in found if any(o is f for f in frames))
        WALKS.append((len(frames), mine, broken))
WALKS = []",
    );
    ten_frames_in_batches_of_4(&stage);
    // The last call has 2 frames; the 2 other objects of the batch before wait for
    // reuse meanwhile.
    assert_eq!(sizes("batch_gc_walk"), [4, 4, 2]);
    let walks: Vec<(usize, usize, Vec<String>)> = py_eval("__import__('batch_gc_walk').WALKS");
    for (frames, mine, broken) in walks {
        assert_eq!(mine, frames);
        assert!(broken.is_empty(), "{broken:?}");
    }
}
