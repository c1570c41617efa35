//! savantpyfunc workers=N: order kept, events in place, flushes and state changes
//! while busy, errors per frame, shared and per-worker instances.

mod common;

use common::{expect_error, init, module, py_eval, run};
use gst::prelude::*;

fn sleepy() -> String {
    module(
        "sleepy_worker",
        r#"
        import random, threading, time
        seen_threads = set()
        class Sleepy:
            instances = 0
            def __init__(self):
                Sleepy.instances += 1
            def process_frame(self, frame):
                seen_threads.add(threading.get_ident())
                time.sleep(random.uniform(0, 0.005))   # releases the GIL
                frame.attributes["order"] = frame.offset
        "#,
    )
}

#[test]
fn order_is_kept_under_random_delays_and_eos_comes_last() {
    let result = run(&format!(
        "videotestsrc num-buffers=200 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={} class-name=Sleepy workers=4 ! appsink name=sink",
        sleepy()
    ));
    assert!(result.eos, "{result:?}");
    let offsets: Vec<u64> = result.buffers.iter().map(|b| b.offset()).collect();
    assert_eq!(offsets, (0..200).collect::<Vec<_>>(), "lost or reordered");
    let threads: usize = py_eval("len(__import__('sleepy_worker').seen_threads)");
    assert!(threads >= 2, "frames ran on {threads} thread(s)");
}

#[test]
fn shared_and_per_worker_instances() {
    let stage = module(
        "counted_instances",
        r#"
        created = []
        class Counted:
            def __init__(self, tag):
                created.append(tag)
            def process_frame(self, frame):
                pass
        "#,
    );
    for (instances, expected) in [("shared", 1usize), ("per-worker", 3)] {
        let result = run(&format!(
            "videotestsrc num-buffers=10 ! video/x-raw,format=GRAY8,width=8,height=8 \
             ! savantpyfunc module={stage} class-name=Counted kwargs=\"{{tag: {instances}}}\" \
             workers=3 instances={instances} ! appsink name=sink"
        ));
        assert!(result.eos, "{result:?}");
        let created: usize = py_eval(&format!(
            "__import__('counted_instances').created.count('{instances}')"
        ));
        assert_eq!(created, expected, "{instances}");
        assert_eq!(result.buffers.len(), 10);
    }
}

#[test]
fn errors_in_one_worker_follow_the_policy() {
    let stage = module(
        "worker_raises",
        r#"
        import time
        def process_frame(frame):
            time.sleep(0.001)
            if frame.offset == 7:
                raise RuntimeError("frame 7")
        "#,
    );
    let description = |policy: &str| {
        format!(
            "videotestsrc num-buffers=20 ! video/x-raw,format=GRAY8,width=8,height=8 \
             ! savantpyfunc module={stage} workers=3 on-error={policy} ! appsink name=sink"
        )
    };
    let skipped = run(&description("skip"));
    assert!(skipped.eos);
    assert_eq!(skipped.buffers.len(), 20);
    assert_eq!(skipped.warnings.len(), 1);
    let dropped = run(&description("drop"));
    let offsets: Vec<u64> = dropped.buffers.iter().map(|b| b.offset()).collect();
    assert_eq!(offsets, (0..20).filter(|&o| o != 7).collect::<Vec<_>>());
    let failed = run(&description("fail"));
    let (message, _) = expect_error(&failed);
    assert!(message.contains("RuntimeError: frame 7"), "{message}");
    assert!(
        failed.buffers.len() <= 7,
        "frames after the failure went out"
    );
}

#[test]
fn a_flushing_seek_mid_stream_discards_in_flight_frames() {
    init();
    let pipeline = common::launch(&format!(
        "videotestsrc ! video/x-raw,format=GRAY8,width=8,height=8,framerate=100/1 \
         ! savantpyfunc module={} class-name=Sleepy workers=3 ! appsink name=sink sync=false",
        sleepy()
    ));
    let sink = common::appsink(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    for _ in 0..20 {
        sink.pull_sample().unwrap();
    }
    assert!(pipeline
        .seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::from_seconds(10))
        .is_ok());
    // After the seek, frames come from the new position, still in order.
    let mut last = None;
    for _ in 0..20 {
        let sample = sink.pull_sample().unwrap();
        let pts = sample.buffer().unwrap().pts().unwrap();
        if let Some(last) = last {
            assert!(pts > last, "{pts} after {last}");
        }
        last = Some(pts);
    }
    assert!(last.unwrap() >= gst::ClockTime::from_seconds(10));
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn going_to_null_while_workers_are_busy_ends_cleanly() {
    let stage = module(
        "slow_workers",
        "import time\ndef process_frame(frame):\n    time.sleep(0.05)\n",
    );
    init();
    for _ in 0..5 {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc ! video/x-raw,format=GRAY8,width=8,height=8 \
             ! savantpyfunc module={stage} workers=4 ! fakesink"
        ))
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(80));
        let started = std::time::Instant::now();
        assert_eq!(
            pipeline.set_state(gst::State::Null),
            Ok(gst::StateChangeSuccess::Success)
        );
        // Bounded by one call in progress per worker.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}

#[test]
fn short_calls_run_inline_instead_of_paying_for_hand_overs() {
    let stage = module("short_calls", "def process_frame(frame):\n    pass\n");
    init();
    let pipeline = common::launch(&format!(
        "videotestsrc num-buffers=3000 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc name=f module={stage} workers=2 ! appsink name=sink sync=false"
    ));
    let sink = common::appsink(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut offsets = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        offsets.push(sample.buffer().unwrap().offset());
    }
    let stats = pipeline
        .by_name("f")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    // Windows of 32 frames decide; other tests' Python threads in this process may
    // stretch some calls, so the stream is long enough for a quiet window.
    assert_eq!(offsets, (0..3000).collect::<Vec<_>>());
    assert!(stats.get::<bool>("workers-inline").unwrap(), "{stats}");
}

const MEGAMIND: &str = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";
const FACES: &str = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

/// Haar face detections per frame of a real video, as (offset, boxes) strings.
fn haar_faces(workers: u32) -> Vec<String> {
    assert!(
        std::path::Path::new(MEGAMIND).exists() && std::path::Path::new(FACES).exists(),
        "{MEGAMIND} and {FACES} come with Debian's opencv-doc and opencv-data (scripts/deps.sh)"
    );
    // An OpenCV detector object kept by the instance, as real stages do; it is not
    // thread-safe.
    let stage = module(
        "haar_faces",
        &format!(
            r#"
            import cv2
            import numpy as np
            class Faces:
                def __init__(self):
                    self.detector = cv2.CascadeClassifier({FACES:?})
                def process_frame(self, frame):
                    gray = np.asarray(frame)
                    faces = self.detector.detectMultiScale(gray, 1.1, 4)
                    frame.attributes["faces"] = repr(sorted(map(tuple, np.asarray(faces).tolist())))
            "#
        ),
    );
    let result = run(&format!(
        "filesrc location={MEGAMIND} ! decodebin ! videoconvert ! videoscale \
         ! video/x-raw,format=GRAY8,width=360,height=264 \
         ! savantpyfunc module={stage} class-name=Faces workers={workers} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    result
        .buffers
        .iter()
        .map(|b| {
            common::attributes(b)
                .unwrap()
                .get::<String>("faces")
                .unwrap()
        })
        .collect()
}

/// Real video, a real OpenCV detector, default settings: two workers find exactly
/// the faces one worker finds (each worker has its own detector).
#[test]
fn haar_faces_on_a_real_video_are_the_same_with_two_workers() {
    let one = haar_faces(1);
    let two = haar_faces(2);
    assert_eq!(one.len(), 270, "Megamind.avi has 270 frames");
    assert!(
        one.iter().filter(|f| f.as_str() != "[]").count() > 100,
        "faces are found in most frames"
    );
    let differing = one.iter().zip(&two).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{differing} of 270 frames differ");
}
