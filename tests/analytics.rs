//! Objects in GstAnalyticsRelationMeta (cargo feature `analytics`, GStreamer 1.24+):
//! a C app that uses only GStreamer's analytics API produces detections ahead of a
//! stage and reads them after it, and GStreamer's own `objectdetectionoverlay` draws
//! what a stage added. Run by scripts/test-debian13.sh (GStreamer 1.26).
#![cfg(feature = "analytics")]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{module, output_text, plugin_dir, run_with_timeout};

/// tests/c/analytics_app.c compiled once per test run with the system's C compiler
/// and pkg-config.
fn c_app() -> PathBuf {
    static APP: OnceLock<PathBuf> = OnceLock::new();
    APP.get_or_init(compile_c_app).clone()
}

fn compile_c_app() -> PathBuf {
    common::compile_c_app(
        "analytics_app",
        &[
            "gstreamer-1.0",
            "gstreamer-app-1.0",
            "gstreamer-analytics-1.0",
        ],
    )
}

fn run_c_app(stage: &str, mode: &str) -> String {
    let app = c_app();
    let mut command = Command::new(&app);
    command
        .env("GST_PLUGIN_PATH", plugin_dir())
        .args([stage, mode]);
    let output = run_with_timeout(command, Duration::from_secs(60));
    let out = output_text(&output);
    assert!(output.status.success(), "{mode}: {out}");
    out
}

/// The checks both stages make on what the C producer attached.
const READ_CHECKS: &str = "
def seen(frame):
    objects = {o.label: o for o in frame.objects}
    assert sorted(objects) == ['car', 'plate'], sorted(objects)
    car, plate = objects['car'], objects['plate']
    assert car.box == (10, 20, 100, 50), car.box
    assert abs(car.confidence - 0.75) < 1e-6, car.confidence
    assert car.track_id == 7, car.track_id
    assert plate.box == (30, 40, 20, 10), plate.box
    assert plate.track_id is None, plate.track_id
    assert plate.parent_id == car.id != 0, (plate.parent_id, car.id)
    assert car.model is None
    return car, plate
";

#[test]
fn detections_of_a_c_producer_reach_python_and_python_edits_reach_c() {
    let stage = module(
        "analytics_edit",
        &format!(
            "{READ_CHECKS}
class Stage:
    def process_frame(self, frame):
        car, plate = seen(frame)
        frame.remove_object(plate)
        frame.add_object('person', (50, 60, 20, 30), confidence=0.6,
                         track_id=3, parent_id=car.id)
"
        ),
    );
    let out = run_c_app(&stage, "edit");
    assert!(out.contains("analytics ok: 5"), "{out}");
}

#[test]
fn a_stage_that_only_reads_leaves_the_relation_meta_alone() {
    let stage = module(
        "analytics_read",
        &format!(
            "{READ_CHECKS}
class Stage:
    def process_frame(self, frame):
        seen(frame)
"
        ),
    );
    let out = run_c_app(&stage, "readonly");
    assert!(out.contains("analytics ok: 5"), "{out}");
}

#[test]
fn objectdetectionoverlay_draws_what_a_stage_added() {
    let add = module(
        "analytics_add_box",
        "
        def process_frame(frame):
            frame.add_object('car', (40, 30, 60, 50), confidence=0.9)
        ",
    );
    // After the overlay: the box's left edge is drawn, a corner far from it is not.
    let check = module(
        "analytics_check_drawn",
        "
        import numpy as np
        class Check:
            def process_frame(self, frame):
                a = np.asarray(frame)
                edge = a[45:75, 39:42, :3]
                assert edge.max() > 0, 'the overlay drew nothing on the box edge'
                assert a[2:8, 150:156, :3].max() == 0, 'the overlay drew outside the box'
                frame.attributes['drawn'] = True
        ",
    );
    through_the_overlay(&add, &check);
}

/// `add` (a module adding objects) ahead of `objectdetectionoverlay` and `check`
/// (a module with a class `Check`), five 160x120 frames.
fn through_the_overlay(add: &str, check: &str) {
    let mut command = Command::new("gst-launch-1.0");
    command.env("GST_PLUGIN_PATH", plugin_dir()).args(
        format!(
            "videotestsrc num-buffers=5 pattern=black \
             ! video/x-raw,format=BGRA,width=160,height=120 \
             ! savantpyfunc module={add} ! objectdetectionoverlay \
             ! savantpyfunc module={check} class-name=Check ! fakesink"
        )
        .split_whitespace(),
    );
    let output = run_with_timeout(command, Duration::from_secs(120));
    assert!(output.status.success(), "{}", output_text(&output));
}

#[test]
fn thousands_of_tracked_objects_stay_in_roi_metas_within_bounded_memory() {
    // 12,000 mtds: GStreamer's relation meta would keep a 16384-square matrix per
    // frame (this stage peaked at 588 MB and took a minute a frame before the bound).
    let add = module(
        "analytics_many_add",
        "
        def process_frame(frame):
            for i in range(6000):
                frame.add_object('dot', (i % 150, i % 110, 4, 4), confidence=0.5,
                                 track_id=i + 1)
        ",
    );
    let check = module(
        "analytics_many_check",
        "
        import numpy as np
        class Check:
            def process_frame(self, frame):
                objects = frame.objects
                assert len(objects) == 6000, len(objects)
                assert sorted(o.track_id for o in objects) == list(range(1, 6001))
                # No relation meta: the overlay drew nothing.
                assert np.asarray(frame)[..., :3].max() == 0
            def on_eos(self):
                kb = next(int(line.split()[1]) for line in open('/proc/self/status')
                          if line.startswith('VmHWM'))
                assert kb < 200_000, f'peak resident memory {kb} kB'
        ",
    );
    through_the_overlay(&add, &check);
}

#[test]
fn a_thousand_tracked_objects_are_in_the_relation_meta() {
    // 2,000 mtds, under the bound: written (in a meta sized for them up front).
    let add = module(
        "analytics_thousand_add",
        "
        def process_frame(frame):
            frame.add_object('car', (40, 30, 60, 50), confidence=0.9, track_id=1)
            for i in range(999):
                frame.add_object('dot', (150, 110, 2, 2), confidence=0.5, track_id=i + 2)
        ",
    );
    let check = module(
        "analytics_thousand_check",
        "
        import numpy as np
        class Check:
            def process_frame(self, frame):
                assert len(frame.objects) == 1000, len(frame.objects)
                a = np.asarray(frame)
                assert a[45:75, 39:42, :3].max() > 0, 'the overlay drew nothing on the box edge'
                assert a[2:8, 100:106, :3].max() == 0, 'the overlay drew outside the boxes'
        ",
    );
    through_the_overlay(&add, &check);
}
