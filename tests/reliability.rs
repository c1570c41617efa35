//! Reliability: many sources at once, start/stop cycles, a soak with RSS, GStreamer's
//! leak tracer, and the awkward hosts (bus callbacks stopping the pipeline, user
//! threads, slow on_stop).

mod common;

use std::time::{Duration, Instant};

use common::{full_stage, init, module, run_to_eos};
use gst::prelude::*;

#[test]
fn sixteen_sources_complete_with_exact_counts() {
    init();
    let stage = full_stage();
    let branches: String = (0..16)
        .map(|i| {
            format!(
                " videotestsrc num-buffers=2000 ! video/x-raw,format=RGBA,width=32,height=32 \
                 ! savantqueue length=4 ! savantpyfunc name=p{i} module={stage} class-name=Stage \
                 ! savantqueue length=4 ! savantdrawfunc name=d{i} ! fakesink name=s{i} sync=false"
            )
        })
        .collect();
    let pipeline = gst::parse::launch(&branches).unwrap();
    let started = Instant::now();
    run_to_eos(&pipeline, Duration::from_secs(600));
    let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
    for i in 0..16 {
        let frames = |name: String| {
            bin.by_name(&name)
                .unwrap()
                .property::<gst::Structure>("stats")
                .get::<u64>("frames")
                .unwrap()
        };
        assert_eq!(frames(format!("p{i}")), 2000, "branch {i} savantpyfunc");
        assert_eq!(frames(format!("d{i}")), 2000, "branch {i} savantdrawfunc");
    }
    pipeline.set_state(gst::State::Null).unwrap();
    eprintln!("16 x 2000 frames in {:?}", started.elapsed());
}

fn plugin_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

#[test]
fn leaks_tracer_reports_nothing() {
    let stage = full_stage();
    let output = std::process::Command::new("gst-launch-1.0")
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_TRACERS", "leaks")
        .env("GST_DEBUG", "GST_TRACER:7")
        .args(
            format!(
                "-q videotestsrc num-buffers=200 ! video/x-raw,format=RGBA,width=64,height=48 \
                 ! savantpyfunc module={stage} class-name=Stage ! savantqueue \
                 ! savantdrawfunc ! fakesink"
            )
            .split_whitespace(),
        )
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    // Records, not the tracer's own format declaration.
    let leaks: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("object-alive, type-name=(string)") && !l.contains("%s"))
        .collect();
    assert!(leaks.is_empty(), "leaked:\n{}", leaks.join("\n"));
    assert!(log.contains("leaks"), "the tracer did not run:\n{log}");
}

#[test]
fn a_pygobject_app_can_stop_the_pipeline_from_a_bus_callback() {
    let stage = module(
        "gil_holder",
        r#"
        import time
        def process_frame(frame):
            end = time.perf_counter() + 0.002
            while time.perf_counter() < end:
                pass
        "#,
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/null_from_bus_callback.py"
    );
    let mut child = std::process::Command::new(gstsavant::python::interpreter::BUILD_EXECUTABLE)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .args([script, &stage])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the app hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains("stopped from the bus callback") && out.contains("clean exit"),
        "{out}"
    );
}

#[test]
fn a_slow_on_stop_delays_null_by_its_own_time_only_and_user_threads_are_fine() {
    init();
    let stage = module(
        "slow_stop",
        r#"
        import threading, time
        class Stage:
            def on_start(self):
                self.stop = threading.Event()
                self.thread = threading.Thread(target=self.stop.wait, daemon=True)
                self.thread.start()
            def process_frame(self, frame):
                pass
            def on_stop(self):
                time.sleep(1.0)
                self.stop.set()
                self.thread.join()
        "#,
    );
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} class-name=Stage ! fakesink"
    ))
    .unwrap();
    run_to_eos(&pipeline, Duration::from_secs(60));
    let started = Instant::now();
    pipeline.set_state(gst::State::Null).unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(950),
        "on_stop was not waited for: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "NULL took {took:?}");
}

#[test]
fn flushing_seek_in_a_file_pipeline_then_eos_through_every_element() {
    init();
    let dir = common::module_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("seek_source.mkv");
    let encode = gst::parse::launch(&format!(
        "videotestsrc num-buffers=100 ! video/x-raw,width=64,height=48,framerate=25/1 \
         ! vp8enc deadline=1 keyframe-max-dist=10 ! matroskamux ! filesink location={}",
        file.display()
    ))
    .unwrap();
    run_to_eos(&encode, Duration::from_secs(60));
    encode.set_state(gst::State::Null).unwrap();

    let stage = full_stage();
    let pipeline = common::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGBA \
         ! savantqueue ! savantpyfunc name=p module={stage} class-name=Stage workers=2 \
         ! savantqueue ! savantdrawfunc name=d ! appsink name=sink sync=false",
        file.display()
    ));
    let sink = common::appsink(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    for _ in 0..10 {
        sink.pull_sample().unwrap();
    }
    pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
            gst::ClockTime::from_seconds(2),
        )
        .unwrap();
    let mut after_seek = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        after_seek.push(sample.buffer().unwrap().pts().unwrap());
    }
    assert!(sink.is_eos(), "EOS reached the sink");
    assert!(!after_seek.is_empty());
    // KEY_UNIT: from the keyframe at or before 2 s (keyframes every 0.4 s).
    assert!(
        after_seek[0] >= gst::ClockTime::from_mseconds(1600),
        "{:?}",
        after_seek[0]
    );
    assert!(
        after_seek.windows(2).all(|w| w[0] < w[1]),
        "out of order after the seek"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}
