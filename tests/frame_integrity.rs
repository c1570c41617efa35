//! What a stage does to frames beyond its call: writes into read-only frames (OpenCV
//! ignores numpy's read-only flag), views of writable frames kept past the call, and
//! frames Python keeps (each pins its buffer). Real pipelines, real OpenCV.

mod common;

use std::time::Duration;

use common::{init, module};
use gst::prelude::*;

/// What a run left: its first ERROR, WARNINGs, and the stats of the element named
/// `stage` read at EOS (before stopping) and after stopping.
#[derive(Debug, Default)]
struct Outcome {
    error: Option<String>,
    warnings: Vec<String>,
    eos: bool,
    stats: Option<gst::Structure>,
    stats_after_stop: Option<gst::Structure>,
    buffers_at_sink: u64,
}

fn play(description: &str) -> Outcome {
    init();
    let pipeline = common::launch(description);
    let mut outcome = Outcome::default();
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if let Some(sink) = pipeline.by_name("sink") {
        let counter = counted.clone();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                outcome.eos = true;
                break;
            }
            gst::MessageView::Error(e) => {
                outcome.error = Some(e.error().to_string());
                break;
            }
            gst::MessageView::Warning(w) => outcome.warnings.push(w.error().to_string()),
            _ => {}
        }
    }
    assert!(
        outcome.eos || outcome.error.is_some(),
        "neither EOS nor ERROR within 60 s: {description}"
    );
    let stage = pipeline.by_name("stage").expect("an element named stage");
    outcome.stats = Some(stage.property::<gst::Structure>("stats"));
    pipeline.set_state(gst::State::Null).unwrap();
    // Warnings posted while stopping.
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Warning(w) = msg.view() {
            outcome.warnings.push(w.error().to_string());
        }
    }
    outcome.stats_after_stop = Some(stage.property::<gst::Structure>("stats"));
    outcome.buffers_at_sink = counted.load(std::sync::atomic::Ordering::Relaxed);
    outcome
}

fn stat(outcome: &Outcome, field: &str) -> u64 {
    outcome.stats.as_ref().unwrap().get::<u64>(field).unwrap()
}

/// Draws a filled rectangle with OpenCV into whatever np.asarray(frame) gives, on
/// the frames whose offset is in `frames` (None: every frame); maps every frame.
/// A module beside the stages: `ignoring_readonly(a)` writes through a read-only
/// array's pointer, as OpenCV before 4.7 (or any C code that ignores numpy's flag)
/// does. OpenCV 4.7+ refuses read-only arrays itself; this keeps the tests
/// meaningful on every version. Stages import it as a sibling module.
fn ignoring_readonly_module() {
    module(
        "integrity_ignoring_readonly",
        r#"
        import ctypes
        import numpy as np
        def ignoring_readonly(a):
            extent = sum((n - 1) * s for n, s in zip(a.shape, a.strides)) + a.itemsize
            raw = (ctypes.c_char * extent).from_address(a.ctypes.data)
            return np.ndarray(a.shape, a.dtype, buffer=raw, strides=a.strides)
        "#,
    );
}

/// Calls last 1 ms, so that sampling keeps its base period even in a debug build
/// (where hashing is slow).
fn opencv_scribbler(name: &str, frames: &str) -> String {
    ignoring_readonly_module();
    module(
        name,
        &format!(
            r#"
            import time
            import cv2
            import numpy as np
            WRITE_ON = {frames}
            from integrity_ignoring_readonly import ignoring_readonly
            def process_frame(frame):
                img = np.asarray(frame)
                if WRITE_ON is None or frame.offset in WRITE_ON:
                    cv2.rectangle(ignoring_readonly(img), (1, 1), (6, 6), (0, 0, 255), -1)
                time.sleep(0.001)
            "#
        ),
    )
}

fn tee_with_read_only_stage(stage_props: &str, frames: u32) -> String {
    format!(
        "videotestsrc num-buffers={frames} pattern=black \
         ! video/x-raw,format=BGR,width=32,height=24 ! tee name=t \
         t. ! queue ! savantpyfunc name=stage {stage_props} ! fakesink \
         t. ! queue ! fakesink name=sink"
    )
}

#[test]
fn opencv_writing_into_a_read_only_tee_branch_is_an_error_naming_the_element() {
    let path = opencv_scribbler("integrity_scribbler", "None");
    let outcome = play(&tee_with_read_only_stage(&format!("module={path}"), 30));
    let error = outcome.error.expect("an ERROR for the write");
    assert!(error.contains("stage: "), "{error}");
    assert!(error.contains("read-only frame"), "{error}");
    assert!(error.contains("writable=true"), "{error}");
    assert!(error.contains("process_frame()"), "{error}");
}

#[test]
fn with_on_error_skip_a_write_is_a_warning_and_the_stream_goes_on() {
    let path = opencv_scribbler("integrity_scribbler_skip", "[3]");
    let outcome = play(&tee_with_read_only_stage(
        &format!("module={path} on-error=skip"),
        40,
    ));
    assert!(outcome.eos, "{outcome:?}");
    let writes: Vec<_> = outcome
        .warnings
        .iter()
        .filter(|w| w.contains("read-only frame"))
        .collect();
    assert_eq!(writes.len(), 1, "{:?}", outcome.warnings);
    assert!(writes[0].contains("stage: "), "{}", writes[0]);
    assert!(writes[0].contains("on-error=skip"), "{}", writes[0]);
    assert_eq!(stat(&outcome, "errors"), 1);
    assert_eq!(outcome.buffers_at_sink, 40);
}

#[test]
fn every_frame_mode_catches_a_write_on_frame_500_that_sampling_misses() {
    let path = opencv_scribbler("integrity_scribbler_500", "[500]");
    let every = play(&tee_with_read_only_stage(
        &format!("module={path} verify-readonly=every-frame"),
        600,
    ));
    let error = every.error.clone().expect("every-frame catches the write");
    assert!(error.contains("stage: "), "{error}");
    assert_eq!(stat(&every, "frames"), 501);

    // Sampled: the first 16 frames, then every 64th (64, 128, ..., 576); 500 is not
    // among them.
    let sampled = play(&tee_with_read_only_stage(&format!("module={path}"), 600));
    assert!(sampled.eos, "{sampled:?}");
    assert_eq!(stat(&sampled, "readonly-check-period"), 64);
    assert_eq!(stat(&sampled, "readonly-checks"), 16 + 9);
}

#[test]
fn sampling_backs_off_when_hashing_costs_more_than_the_calls() {
    // 1920x1080 RGBA (8.3 MB) hashed twice, next to a call that reads one pixel: the
    // hashes outweigh the calls by far more than the 100:64 that keeps the period, also
    // when a loaded machine makes the first calls slow (they are in the mean).
    let pixel = module(
        "integrity_one_pixel",
        r#"
        import numpy as np
        def process_frame(frame):
            frame.attributes["p"] = int(np.asarray(frame)[0, 0, 0])
        "#,
    );
    let outcome = play(&format!(
        "videotestsrc num-buffers=200 ! video/x-raw,format=RGBA,width=1920,height=1080 ! savantpyfunc name=stage module={pixel} ! fakesink name=sink"
    ));
    assert!(outcome.eos, "{outcome:?}");
    assert!(
        stat(&outcome, "readonly-check-period") > 64,
        "{:?}",
        outcome.stats
    );
    // The first 16 frames are always checked; at one in 64, frames 64, 128 and 192
    // would be too. Frame 64 may still be, when the first calls were slow enough on
    // a loaded machine to keep the period at 64 until then; frames 128 and 192 no
    // longer are.
    let checks = stat(&outcome, "readonly-checks");
    assert!((16..=17).contains(&checks), "{checks} checks");
}

#[test]
fn off_mode_hashes_nothing() {
    let path = opencv_scribbler("integrity_scribbler_off", "None");
    let outcome = play(&tee_with_read_only_stage(
        &format!("module={path} verify-readonly=off"),
        50,
    ));
    assert!(outcome.eos, "{outcome:?}");
    assert_eq!(stat(&outcome, "readonly-checks"), 0);
    assert_eq!(stat(&outcome, "frames"), 50);
}

#[test]
fn reading_stages_pass_the_check_and_stages_that_never_map_are_not_hashed() {
    let reader = module(
        "integrity_reader",
        r#"
        import time
        import numpy as np
        def process_frame(frame):
            frame.attributes["mean"] = float(np.asarray(frame).mean())
            time.sleep(0.001)
        "#,
    );
    let outcome = play(&tee_with_read_only_stage(&format!("module={reader}"), 200));
    assert!(outcome.eos, "{outcome:?}");
    // 0..16, then 64, 128, 192.
    assert_eq!(stat(&outcome, "readonly-checks"), 19);

    let metadata_only = module(
        "integrity_metadata_only",
        r#"
        def process_frame(frame):
            frame.attributes["pts"] = frame.pts
        "#,
    );
    let outcome = play(&tee_with_read_only_stage(
        &format!("module={metadata_only} verify-readonly=every-frame"),
        50,
    ));
    assert!(outcome.eos, "{outcome:?}");
    assert_eq!(stat(&outcome, "readonly-checks"), 0);
}

#[test]
fn planar_writes_name_the_plane_and_workers_are_checked_too() {
    ignoring_readonly_module();
    let path = module(
        "integrity_planar_writer",
        r#"
        import cv2
        import numpy as np
        from integrity_ignoring_readonly import ignoring_readonly
        def process_frame(frame):
            u = np.asarray(frame.plane(1))
            if frame.offset == 20:
                cv2.circle(ignoring_readonly(u), (4, 4), 2, 200, -1)
        "#,
    );
    let outcome = play(&format!(
        "videotestsrc num-buffers=40 ! video/x-raw,format=I420,width=32,height=24 \
         ! savantpyfunc name=stage module={path} workers=2 verify-readonly=every-frame \
         ! fakesink name=sink"
    ));
    let error = outcome.error.expect("an ERROR for the write");
    assert!(error.contains("plane 1 changed"), "{error}");
}

#[test]
fn a_draw_hook_writing_into_its_read_only_frame_is_an_error_naming_the_element() {
    ignoring_readonly_module();
    let path = module(
        "integrity_draw_hook_writer",
        r#"
        import cv2
        import numpy as np
        from integrity_ignoring_readonly import ignoring_readonly
        def draw(frame, artist):
            cv2.line(ignoring_readonly(np.asarray(frame)), (0, 0), (10, 10), (255, 255, 255, 255), 2)
        "#,
    );
    let outcome = play(&format!(
        "videotestsrc num-buffers=10 ! video/x-raw,format=RGBA,width=32,height=24 \
         ! tee name=t t. ! queue ! savantdrawfunc name=stage module={path} ! fakesink \
         t. ! queue ! fakesink name=sink"
    ));
    let error = outcome.error.expect("an ERROR for the write");
    assert!(error.contains("stage: "), "{error}");
    assert!(error.contains("draw()"), "{error}");
    assert!(error.contains("writable=true"), "{error}");
}

#[test]
fn a_kept_view_of_a_writable_frame_is_warned_about_once() {
    let keeper = module(
        "integrity_writable_keeper",
        r#"
        import numpy as np
        class Stage:
            def process_frame(self, frame):
                self.last = np.asarray(frame)
                self.last[0, 0, 0] = 255
        "#,
    );
    let outcome = play(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc name=stage module={keeper} class-name=Stage writable=true \
         ! fakesink name=sink"
    ));
    assert!(outcome.eos, "{outcome:?}");
    let kept: Vec<_> = outcome
        .warnings
        .iter()
        .filter(|w| w.contains("outlived the call"))
        .collect();
    assert_eq!(kept.len(), 1, "{:?}", outcome.warnings);
    assert!(kept[0].starts_with("stage: "), "{}", kept[0]);
    assert!(kept[0].contains("np.array(view)"), "{}", kept[0]);

    let writer = module(
        "integrity_writable_writer",
        r#"
        import numpy as np
        def process_frame(frame):
            np.asarray(frame)[0, 0, 0] = 255
        "#,
    );
    let outcome = play(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc name=stage module={writer} writable=true ! fakesink name=sink"
    ));
    assert!(outcome.eos, "{outcome:?}");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
}

#[test]
fn a_stage_keeping_frames_is_warned_about_and_counted_until_it_lets_go() {
    // 1x1 slices: each still pins its whole frame.
    let hoarder = module(
        "integrity_hoarder",
        r#"
        import numpy as np
        class Stage:
            def __init__(self):
                self.kept = []
            def process_frame(self, frame):
                self.kept.append(np.asarray(frame)[0:1, 0:1])
        "#,
    );
    let outcome = play(&format!(
        "videotestsrc num-buffers=100 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc name=stage module={hoarder} class-name=Stage ! fakesink name=sink"
    ));
    assert!(outcome.eos, "{outcome:?}");
    let held: Vec<_> = outcome
        .warnings
        .iter()
        .filter(|w| w.contains("frames after its calls returned"))
        .collect();
    assert_eq!(held.len(), 1, "{:?}", outcome.warnings);
    assert!(held[0].starts_with("stage holds 65 frames"), "{}", held[0]);
    assert!(held[0].contains("max-frames-held=64"), "{}", held[0]);
    assert_eq!(stat(&outcome, "frames-held"), 100);
    assert_eq!(stat(&outcome, "bytes-held"), 100 * 16 * 16 * 4);
    // Stopping releases the instance, and with it the frames.
    let after_stop = outcome.stats_after_stop.unwrap();
    assert_eq!(after_stop.get::<u64>("frames-held").unwrap(), 0);
    assert_eq!(after_stop.get::<u64>("bytes-held").unwrap(), 0);
}

#[test]
fn a_stage_keeping_copies_holds_no_frames() {
    let copier = module(
        "integrity_copier",
        r#"
        import numpy as np
        class Stage:
            def __init__(self):
                self.kept = []
            def process_frame(self, frame):
                self.kept.append(np.array(np.asarray(frame)[0:4, 0:4]))
        "#,
    );
    let outcome = play(&format!(
        "videotestsrc num-buffers=100 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc name=stage module={copier} class-name=Stage ! fakesink name=sink"
    ));
    assert!(outcome.eos, "{outcome:?}");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(stat(&outcome, "frames-held"), 0);
    assert_eq!(stat(&outcome, "bytes-held"), 0);
}

#[test]
fn the_bytes_limit_warns_in_mebibytes() {
    let hoarder = module(
        "integrity_frame_hoarder",
        r#"
        frames = []
        def process_frame(frame):
            frames.append(frame)
        "#,
    );
    // 320x240 RGBA is 300 KiB: the fourth frame passes 1 MiB.
    let outcome = play(&format!(
        "videotestsrc num-buffers=10 ! video/x-raw,format=RGBA,width=320,height=240 \
         ! savantpyfunc name=stage module={hoarder} max-bytes-held=1048576 \
         ! fakesink name=sink"
    ));
    assert!(outcome.eos, "{outcome:?}");
    let held: Vec<_> = outcome
        .warnings
        .iter()
        .filter(|w| w.contains("MiB of frames"))
        .collect();
    assert_eq!(held.len(), 1, "{:?}", outcome.warnings);
    assert!(held[0].contains("max-bytes-held=1 MiB"), "{}", held[0]);
    assert_eq!(stat(&outcome, "frames-held"), 10);
}

#[test]
fn a_stage_that_raises_holds_no_frames_through_its_tracebacks() {
    let raiser = module(
        "integrity_raiser",
        r#"
        import numpy as np
        def process_frame(frame):
            img = np.asarray(frame)
            raise RuntimeError("bad frame")
        "#,
    );
    let outcome = play(&format!(
        "videotestsrc num-buffers=100 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc name=stage module={raiser} on-error=drop ! fakesink name=sink"
    ));
    assert!(outcome.eos, "{outcome:?}");
    assert_eq!(stat(&outcome, "errors"), 100);
    assert_eq!(stat(&outcome, "frames-held"), 0);
    assert!(
        !outcome.warnings.iter().any(|w| w.contains("frames after")),
        "{:?}",
        outcome.warnings
    );
}
