//! Objects on frames: GstVideoRegionOfInterestMeta that any GStreamer code reads.

mod common;

use common::{module, py_eval, run};
use gst_video::VideoRegionOfInterestMeta;

fn detector() -> String {
    module(
        "object_detector",
        r#"
        def process_frame(frame):
            frame.add_object("car", (10, 20, 30, 40), confidence=0.75, track_id=7,
                             attributes={"color": "red", "speed": 12.5})
            frame.add_object("person", (-5, 2, 20, 10))
            frame.attributes["detected"] = len(frame.objects)
        "#,
    )
}

#[test]
fn objects_are_standard_roi_metas() {
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=64,height=64 \
         ! savantpyfunc module={} ! appsink name=sink",
        detector()
    ));
    assert!(result.eos, "{result:?}");
    let buffer = &result.buffers[0];
    let metas: Vec<_> = buffer.iter_meta::<VideoRegionOfInterestMeta>().collect();
    assert_eq!(metas.len(), 2);
    assert_eq!(metas[0].roi_type(), "car");
    assert_eq!(metas[0].rect(), (10, 20, 30, 40));
    let detection = metas[0].param("detection").unwrap();
    assert_eq!(detection.get::<f64>("confidence").unwrap(), 0.75);
    assert_eq!(
        metas[0]
            .param("savant-object")
            .unwrap()
            .get::<i64>("track-id")
            .unwrap(),
        7
    );
    let attrs = metas[0].param("savant-object-attributes").unwrap();
    assert_eq!(attrs.get::<&str>("color").unwrap(), "red");
    // A box starting left of the frame keeps its visible part.
    assert_eq!(metas[1].roi_type(), "person");
    assert_eq!(metas[1].rect(), (0, 2, 15, 10));
    assert!(metas[1].param("detection").is_none());
}

#[test]
fn objects_survive_queues_tees_and_copies_and_reach_the_next_stage() {
    let reader = module(
        "object_reader",
        r#"
        seen = []
        def process_frame(frame):
            objs = frame.objects
            seen.append([(o.label, o.box, o.confidence, o.track_id, dict(o.attributes)) for o in objs])
            car = next(o for o in objs if o.label == "car")
            car.box = (11, 21, 31, 41)
            frame.remove_object(next(o for o in objs if o.label == "person"))
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=64 \
         ! savantpyfunc module={} ! tee name=t ! queue \
         ! savantpyfunc module={reader} ! appsink name=sink  t. ! queue ! fakesink",
        detector()
    ));
    assert!(result.eos, "{result:?}");
    let seen: Vec<String> = py_eval("[repr(s) for s in __import__('object_reader').seen]");
    assert_eq!(
        seen[0],
        "[('car', (10, 20, 30, 40), 0.75, 7, {'color': 'red', 'speed': 12.5}), ('person', (0, 2, 15, 10), None, None, {})]"
    );
    let metas: Vec<_> = result.buffers[2]
        .iter_meta::<VideoRegionOfInterestMeta>()
        .collect();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].rect(), (11, 21, 31, 41));
    let copy = result.buffers[2].copy();
    assert_eq!(copy.iter_meta::<VideoRegionOfInterestMeta>().count(), 1);
}

#[test]
fn bad_objects_are_python_errors() {
    let stage = module(
        "bad_objects",
        r#"
        def process_frame(frame):
            out = []
            for call in (lambda: frame.add_object("", (0, 0, 1, 1)),
                         lambda: frame.add_object("x", (0, 0, -1, 1)),
                         lambda: frame.remove_object(__import__("savant_gst").Object("y", (0, 0, 1, 1)))):
                try:
                    call()
                    out.append("ok")
                except Exception as e:
                    out.append(f"{type(e).__name__}: {e}")
            frame.attributes["out"] = " | ".join(out)
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let out = common::attributes(&result.buffers[0]).unwrap();
    assert_eq!(
        out.get::<&str>("out").unwrap(),
        "ValueError: an object's label must not be empty | \
         ValueError: an object's width and height must not be negative, got -1x1 | \
         ValueError: the object is not on this frame"
    );
}

#[test]
fn boxes_survive_videoconvert() {
    // GStreamer 1.22's scale transform of ROI metas (videoconvert, videoscale) keeps
    // label and box but not the param structures.
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=64,height=64 \
         ! savantpyfunc module={} ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink",
        detector()
    ));
    assert!(result.eos, "{result:?}");
    let metas: Vec<_> = result.buffers[0]
        .iter_meta::<VideoRegionOfInterestMeta>()
        .collect();
    assert_eq!(metas.len(), 2);
    assert_eq!(
        (metas[0].roi_type(), metas[0].rect()),
        ("car", (10, 20, 30, 40))
    );
}

/// Savant's `{model}`: an object knows the stage that made it (the element's name
/// unless the stage says otherwise), and keeps it downstream.
#[test]
fn objects_know_the_stage_that_made_them() {
    let detector = module(
        "model_detector",
        r#"
        def process_frame(frame):
            frame.add_object("car", (1, 2, 3, 4))
            frame.add_object("plate", (5, 6, 7, 8), model="plates-v2")
            o = frame.add_object("dog", (1, 1, 2, 2))
            o.model = None
        "#,
    );
    let reader = module(
        "model_reader",
        r#"
        seen = []
        def process_frame(frame):
            seen.append([(o.label, o.model) for o in frame.objects])
            for o in frame.objects:
                if o.label == "car":
                    o.model = "renamed"
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=32,height=32 \
         ! savantpyfunc name=cars module={detector} ! queue \
         ! savantpyfunc module={reader} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let seen: String = py_eval("repr(__import__('model_reader').seen[0])");
    assert_eq!(
        seen,
        "[('car', 'cars'), ('plate', 'plates-v2'), ('dog', None)]"
    );
    let models: Vec<Option<String>> = result.buffers[1]
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|m| {
            m.param("savant-object")
                .and_then(|p| p.get::<String>("model").ok())
        })
        .collect();
    assert_eq!(
        models,
        [
            Some("renamed".to_owned()),
            Some("plates-v2".to_owned()),
            None
        ]
    );
    let bad = module(
        "model_not_text",
        "def process_frame(frame):\n    frame.add_object('x', (0, 0, 1, 1), model=3)\n",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=32,height=32 \
         ! savantpyfunc module={bad} ! appsink name=sink"
    ));
    let (message, _) = common::expect_error(&result);
    assert!(
        message.contains("an object's model must be str or None"),
        "{message}"
    );
}
