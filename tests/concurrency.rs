//! The hand-over rule in every pipeline shape GStreamer allows (tee, pause, flushing
//! seeks in PAUSED, queues in a row, a queue ahead of a draw hook), per-worker
//! instances and their hooks, stacks of worker threads, GIL verdicts, and module
//! loading without silent collisions.

mod common;

use std::time::Duration;

use common::{expect_error, init, module, py_eval, run};
use gst::prelude::*;

/// A stage whose calls are far shorter than a hand-over: mode=auto runs it inline
/// wherever that is safe.
fn short_stage(name: &str) -> String {
    module(
        name,
        "def process_frame(frame):\n    frame.attributes['n'] = frame.offset\n",
    )
}

/// Waits for a state change to finish; a hang is a failure, not a stuck test.
fn settle(pipeline: &gst::Element, what: &str) {
    let (result, state, pending) = pipeline.state(gst::ClockTime::from_seconds(10));
    assert_eq!(
        result,
        Ok(gst::StateChangeSuccess::Success),
        "{what}: did not complete within 10 s (state {state:?}, pending {pending:?})"
    );
}

fn queue_stats(pipeline: &gst::Element, name: &str) -> gst::Structure {
    pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name(name)
        .unwrap()
        .property::<gst::Structure>("stats")
}

/// 300 frames at 100 fps into `rest`, which names its first savantqueue `q`:
/// PLAYING for a while (long enough for auto to decide), PAUSED, a flushing seek in
/// PAUSED, PLAYING again, then EOS: every step must complete. Returns `q`'s stats.
fn pause_seek_and_finish(rest: &str) -> gst::Structure {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=300 \
         ! video/x-raw,format=GRAY8,width=16,height=16,framerate=100/1 ! {rest}"
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    settle(&pipeline, "to PLAYING");
    // 100 fps: 100 frames, a few decision windows. Not faster: a branch that falls
    // behind real time fills its queue, and then no queue (GStreamer's own neither)
    // lets the other branch's sink preroll on PAUSED.
    std::thread::sleep(Duration::from_secs(1));
    pipeline.set_state(gst::State::Paused).unwrap();
    settle(&pipeline, "PLAYING -> PAUSED");
    pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::ClockTime::from_mseconds(100),
        )
        .expect("seek accepted");
    settle(&pipeline, "a flushing seek in PAUSED");
    pipeline.set_state(gst::State::Playing).unwrap();
    common::wait_for_eos(&pipeline, Duration::from_secs(30));
    let stats = queue_stats(&pipeline, "q");
    pipeline.set_state(gst::State::Null).unwrap();
    stats
}

#[test]
fn a_default_savantqueue_right_after_a_tee_pauses_and_seeks() {
    let stage = short_stage("tee_short_stage");
    let stats = pause_seek_and_finish(&format!(
        "tee name=t \
         t. ! savantqueue name=q ! savantpyfunc module={stage} ! fakesink sync=true \
         t. ! queue ! fakesink sync=true"
    ));
    // Upstream's thread also feeds the other branch: running the stage on it would
    // let a prerolling sink block that branch.
    assert_eq!(stats.get::<u64>("passed-inline").unwrap(), 0, "{stats}");
}

#[test]
fn a_savantqueue_behind_a_queue_in_a_tee_branch_runs_inline_and_still_pauses_and_seeks() {
    let stage = short_stage("tee_queue_short_stage");
    let stats = pause_seek_and_finish(&format!(
        "tee name=t \
         t. ! queue ! savantqueue name=q ! savantpyfunc module={stage} \
            ! savantqueue name=q2 ! savantpyfunc module={stage} ! fakesink sync=true \
         t. ! queue ! fakesink sync=true"
    ));
    assert!(
        stats.get::<u64>("passed-inline").unwrap() > 0,
        "the queue's own thread feeds only this branch: inline is safe and pays: {stats}"
    );
}

#[test]
fn a_single_branch_with_inline_stages_pauses_and_seeks() {
    let stage = short_stage("single_short_stage");
    let stats = pause_seek_and_finish(&format!(
        "savantqueue name=q ! savantpyfunc module={stage} \
         ! savantqueue name=q2 ! savantpyfunc module={stage} ! fakesink sync=true"
    ));
    assert!(stats.get::<u64>("passed-inline").unwrap() > 0, "{stats}");
}

#[test]
fn a_queue_ahead_of_a_draw_hook_runs_it_inline_in_order() {
    let hook = module(
        "short_draw_hook",
        "def draw(frame, artist):\n    frame.attributes['n'] = frame.offset\n",
    );
    init();
    // 3000 frames, about a hundred windows of the hand-over rule: on a loaded machine
    // (CI's two cores running a test binary's tests at once) one in a few windows
    // still sees calls under the short-call bound. 300 frames failed there once.
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3000 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantqueue name=q ! savantdrawfunc module={hook} ! appsink name=sink sync=false"
    ))
    .unwrap();
    let sink = common::appsink(&pipeline, "sink");
    let offsets = common::collect_offsets(&sink);
    common::run_to_eos(&pipeline, Duration::from_secs(30));
    let stats = queue_stats(&pipeline, "q");
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(*offsets.lock().unwrap(), (0..3000).collect::<Vec<_>>());
    assert!(
        stats.get::<u64>("passed-inline").unwrap() > 0,
        "a short draw hook runs inline: {stats}"
    );
}

#[test]
fn a_queue_ahead_of_a_drawing_stage_without_python_never_goes_inline() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=300 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantqueue name=q ! savantdrawfunc name=d ! fakesink",
    )
    .unwrap();
    common::run_to_eos(&pipeline, Duration::from_secs(30));
    let stats = queue_stats(&pipeline, "q");
    assert_eq!(stats.get::<u64>("passed-inline").unwrap(), 0, "{stats}");
    let draw = queue_stats(&pipeline, "d");
    assert_eq!(
        draw.get::<&str>("verdict").unwrap(),
        "no Python code: the GIL is never taken",
        "{draw}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn no_verdict_before_the_first_frame() {
    init();
    let stage = short_stage("verdict_before_frames");
    let element = gst::ElementFactory::make("savantpyfunc")
        .property("module", &stage)
        .build()
        .unwrap();
    let stats = element.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<&str>("verdict").unwrap(), "no frames yet");
}

#[test]
fn gil_samples_are_taken_while_workers_overlap() {
    let stage = module(
        "overlapping_sleepers",
        "import time\nclass S:\n    def process_frame(self, frame):\n        time.sleep(0.02)\n",
    );
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=60 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc name=s module={stage} class-name=S workers=4 ! fakesink"
    ))
    .unwrap();
    common::run_to_eos(&pipeline, Duration::from_secs(30));
    let stats = queue_stats(&pipeline, "s");
    pipeline.set_state(gst::State::Null).unwrap();
    // 60 x 20 ms over 4 workers: ~300 ms with calls in progress, a sample each 5 ms.
    let samples = stats.get::<u64>("gil-samples").unwrap();
    let free = stats.get::<u64>("gil-free-samples").unwrap();
    assert!(samples >= 20, "{stats}");
    assert!(
        free * 10 >= samples * 8,
        "sleeping calls release the GIL: {stats}"
    );
    assert_eq!(
        stats.get::<&str>("verdict").unwrap(),
        "releases the GIL: queues help"
    );
}

#[test]
fn every_instance_gets_every_lifecycle_hook() {
    let stage = module(
        "hooked_instances",
        r#"
        import itertools
        ids = itertools.count()
        calls = []
        class Hooked:
            def __init__(self):
                self.id = next(ids)
                self.width = None
            def on_start(self):
                calls.append(("start", self.id))
            def on_caps(self, info):
                self.width = info.width
                calls.append(("caps", self.id))
            def on_event(self, name, structure):
                if name == "stream-start":
                    calls.append(("event", self.id))
            def on_eos(self):
                calls.append(("eos", self.id))
            def on_stop(self):
                calls.append(("stop", self.id))
            def process_frame(self, frame):
                # Every instance learned the frame size before its first frame.
                assert self.width == frame.width, (self.id, self.width)
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} class-name=Hooked workers=3 ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(result.buffers.len(), 30);
    for hook in ["start", "caps", "event", "eos", "stop"] {
        let ids: Vec<i64> = py_eval(&format!(
            "sorted(i for h, i in __import__('hooked_instances').calls if h == '{hook}')"
        ));
        assert_eq!(ids, vec![0, 1, 2], "{hook} reached instances {ids:?}");
    }
}

/// Deep recursion through C (sorted's key function), which needs a streaming
/// thread's 8 MiB stack: a worker thread with Rust's default 2 MiB overflows.
#[test]
fn workers_recurse_as_deep_as_the_streaming_thread() {
    let stage = module(
        "deep_recursion",
        r#"
        import sys
        sys.setrecursionlimit(3000)
        def deep(n):
            if n == 0:
                return 0
            return sorted([1], key=lambda x: deep(n - 1))[0]
        class Deep:
            def process_frame(self, frame):
                deep(900)
        "#,
    );
    // In a child process: an overflow is a signal, which must fail this test, not
    // take the test binary down.
    let target = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    for workers in [1, 2] {
        let output = std::process::Command::new("gst-launch-1.0")
            .env("GST_PLUGIN_PATH", &target)
            .args(["-q", "videotestsrc", "num-buffers=8", "!"])
            .args([
                "video/x-raw,format=GRAY8,width=8,height=8",
                "!",
                "savantpyfunc",
            ])
            .arg(format!("module={stage}"))
            .args([
                "class-name=Deep",
                &format!("workers={workers}"),
                "!",
                "fakesink",
            ])
            .output()
            .expect("gst-launch-1.0 runs");
        assert!(
            output.status.success(),
            "workers={workers}: {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_recursion_error_follows_on_error_like_any_exception() {
    let stage = module(
        "endless_recursion",
        "def f(n):\n    return f(n + 1)\nclass R:\n    def process_frame(self, frame):\n        f(0)\n",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=4 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} class-name=R workers=2 on-error=drop ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert!(result.buffers.is_empty());
    assert!(
        result
            .warnings
            .iter()
            .all(|(w, _)| w.contains("RecursionError")),
        "{:?}",
        result.warnings
    );
}

#[test]
fn a_file_named_by_two_elements_is_one_module_run_once() {
    let stage = module(
        "run_once_stage",
        r#"
        import builtins
        builtins.run_once_count = getattr(builtins, "run_once_count", 0) + 1
        def process_frame(frame):
            pass
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let result = run(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let runs: i64 = py_eval("__import__('builtins').run_once_count");
    assert_eq!(
        runs, 1,
        "executed once per process, not per element or start"
    );
}

/// Two stage directories, each with its own `helper.py`.
fn two_stage_dirs(tag: &str) -> (String, String, std::path::PathBuf, std::path::PathBuf) {
    let root = common::module_dir().join(format!("collide_{tag}"));
    let (a, b) = (root.join("a"), root.join("b"));
    for (dir, value) in [(&a, 1), (&b, 2)] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join(format!("{tag}_helper.py")),
            format!("VALUE = {value}\n"),
        )
        .unwrap();
    }
    let stage = |dir: &std::path::Path, name: &str| {
        let path = dir.join(format!("{name}.py"));
        std::fs::write(
            &path,
            format!(
                "import {tag}_helper\ndef process_frame(frame):\n    frame.attributes['v'] = {tag}_helper.VALUE\n"
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    };
    (
        stage(&a, &format!("{tag}_stage_a")),
        stage(&b, &format!("{tag}_stage_b")),
        a.join(format!("{tag}_helper.py")),
        b.join(format!("{tag}_helper.py")),
    )
}

#[test]
fn a_sibling_import_that_resolves_to_another_stages_file_is_an_error_naming_both() {
    let (stage_a, stage_b, helper_a, helper_b) = two_stage_dirs("sib");
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage_a} ! savantpyfunc module={stage_b} ! appsink name=sink"
    ));
    let (message, _) = expect_error(&result);
    // Whichever loaded first owns the name; the other is refused.
    let (a, b) = (
        helper_a.display().to_string(),
        helper_b.display().to_string(),
    );
    assert!(
        message.contains(&a) && message.contains(&b),
        "{message} should name {a} and {b}"
    );
}

/// Loads a stage from a directory that also holds `sibling` (which exits if ever
/// imported); the ERROR must name the sibling and hold each of `says`, and
/// `still_real` (a Python expression) must hold afterwards: the real module is
/// untouched.
fn sibling_that_shadows_is_refused(sibling: &str, says: &[&str], still_real: &str) {
    let stem = sibling.trim_end_matches(".py");
    let dir = common::module_dir().join(format!("shadowing_{stem}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(sibling),
        "raise SystemExit('not the real module')\n",
    )
    .unwrap();
    let path = dir.join(format!("{stem}_shadowed_stage.py"));
    std::fs::write(&path, "def process_frame(frame):\n    pass\n").unwrap();
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={} ! appsink name=sink",
        path.display()
    ));
    let (message, _) = expect_error(&result);
    assert!(
        message.contains(&dir.join(sibling).display().to_string())
            && says.iter().all(|s| message.contains(s)),
        "{message}"
    );
    let real: bool = py_eval(still_real);
    assert!(real);
}

#[test]
fn a_stage_file_that_shadows_a_standard_module_is_an_error_naming_both() {
    sibling_that_shadows_is_refused(
        "json.py",
        &[
            "shadows Python's standard module 'json'",
            "json/__init__.py",
        ],
        "hasattr(__import__('json'), 'dumps')",
    );
}

/// A file next to a stage named like an installed package (`numpy.py` here; `cuda.py`
/// hides the package CuPy imports) would replace it for every import in the process
/// once the stage's directory is on sys.path: refused, naming both.
#[test]
fn a_stage_file_that_shadows_an_installed_module_is_an_error_naming_both() {
    sibling_that_shadows_is_refused(
        "numpy.py",
        &["shadows the installed module 'numpy'", "numpy/__init__.py"],
        "hasattr(__import__('numpy'), 'ndarray')",
    );
}
