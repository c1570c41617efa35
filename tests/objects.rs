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

/// A 64x48 RGBA frame through `writer` and savanttestcopier (an element that drops
/// ROI metas, as cudaupload does): the frame, checked to have no ROI meta left, and a
/// harness of `reader` for it.
fn through_a_roi_dropper(writer: &str, reader: &str) -> (gst::Buffer, gst_check::Harness) {
    let caps = "video/x-raw,format=RGBA,width=64,height=48";
    let mut upstream =
        gst_check::Harness::new_parse(&format!("savantpyfunc module={writer} ! savanttestcopier"));
    upstream.set_src_caps_str(caps);
    let mut downstream = gst_check::Harness::new_parse(&format!("savantpyfunc module={reader}"));
    downstream.set_src_caps_str(caps);
    let buffer = upstream
        .push_and_pull(gst::Buffer::with_size(64 * 48 * 4).unwrap())
        .unwrap();
    assert_eq!(buffer.iter_meta::<VideoRegionOfInterestMeta>().count(), 0);
    (buffer, downstream)
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

/// A copying transform that is not a video filter, as cudaupload and cudadownload
/// are: GstBaseTransform's default transform_meta copies only metas without tags,
/// so it drops every ROI meta (tags video, orientation, size) and keeps Savant's
/// params meta (no tags).
mod copier {
    use gst::glib;
    use gst::prelude::*;
    use gst::subclass::prelude::*;
    use gst_base::subclass::prelude::*;

    #[derive(Default)]
    pub struct Imp;

    #[glib::object_subclass]
    impl ObjectSubclass for Imp {
        const NAME: &'static str = "SavantTestCopier";
        type Type = Copier;
        type ParentType = gst_base::BaseTransform;
    }

    impl ObjectImpl for Imp {}
    impl GstObjectImpl for Imp {}

    impl ElementImpl for Imp {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static METADATA: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                std::sync::LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        "Copier",
                        "Filter/Video",
                        "Copies frames, metas as GstBaseTransform does",
                        "tests",
                    )
                });
            Some(&METADATA)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: std::sync::LazyLock<Vec<gst::PadTemplate>> =
                std::sync::LazyLock::new(|| {
                    let caps = gst::Caps::new_empty_simple("video/x-raw");
                    ["sink", "src"]
                        .iter()
                        .map(|name| {
                            let direction = if *name == "sink" {
                                gst::PadDirection::Sink
                            } else {
                                gst::PadDirection::Src
                            };
                            gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps)
                                .unwrap()
                        })
                        .collect()
                });
            TEMPLATES.as_ref()
        }
    }

    impl BaseTransformImpl for Imp {
        const MODE: gst_base::subclass::BaseTransformMode =
            gst_base::subclass::BaseTransformMode::NeverInPlace;
        const PASSTHROUGH_ON_SAME_CAPS: bool = false;
        const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

        fn unit_size(&self, caps: &gst::Caps) -> Option<usize> {
            gst_video::VideoInfo::from_caps(caps)
                .ok()
                .map(|info| info.size())
        }

        fn transform(
            &self,
            input: &gst::Buffer,
            output: &mut gst::BufferRef,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            let input = input.map_readable().map_err(|_| gst::FlowError::Error)?;
            let mut output = output.map_writable().map_err(|_| gst::FlowError::Error)?;
            output.copy_from_slice(&input);
            Ok(gst::FlowSuccess::Ok)
        }
    }

    glib::wrapper! {
        pub struct Copier(ObjectSubclass<Imp>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
    }

    pub fn register() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        super::common::init();
        ONCE.call_once(|| {
            gst::Element::register(
                None,
                "savanttestcopier",
                gst::Rank::NONE,
                Copier::static_type(),
            )
            .unwrap();
        });
    }
}

/// A stage module `name` that records, per frame, `(fields)` of each object it
/// reads (`o` is the object), for [`object_lists`].
fn object_reader(name: &str, fields: &str) -> String {
    module(
        name,
        &format!(
            "seen = []\ndef process_frame(frame):\n    seen.append([({fields}) for o in frame.objects])\n"
        ),
    )
}

fn object_lists(module_name: &str) -> Vec<String> {
    py_eval(&format!(
        "[repr(s) for s in __import__('{module_name}').seen]"
    ))
}

/// cudadownload and cudaupload drop ROI metas (see `copier`): the next stage puts
/// the objects back from Savant's params meta, with labels, boxes, ids, parents,
/// confidences, track ids, models and attributes, before Python reads them, and
/// passes them on as ROI metas even when Python never looked at them.
#[test]
fn objects_come_back_after_an_element_that_drops_roi_metas() {
    copier::register();
    let writer = module(
        "dropped_writer",
        r#"
        def process_frame(frame):
            car = frame.add_object("car", (10, 20, 30, 16), confidence=0.75, track_id=7,
                                   attributes={"color": "red"})
            frame.add_object("plate", (12, 30, 8, 4), parent_id=car.id, model="plates")
        "#,
    );
    let reader = object_reader(
        "dropped_reader",
        "o.label, o.box, o.id, o.parent_id, o.confidence, o.track_id, o.model, dict(o.attributes)",
    );
    let passive = module("dropped_passive", "def process_frame(frame):\n    pass\n");
    let caps = "video/x-raw,format=RGBA,width=64,height=48";

    // The copier really drops the ROI metas and keeps the params meta.
    let dropped = run(&format!(
        "videotestsrc num-buffers=2 ! {caps} ! savantpyfunc module={writer} \
         ! savanttestcopier ! appsink name=sink"
    ));
    assert!(dropped.eos, "{dropped:?}");
    let buffer = &dropped.buffers[0];
    assert_eq!(buffer.iter_meta::<VideoRegionOfInterestMeta>().count(), 0);
    assert!(gst::meta::CustomMeta::from_buffer(buffer, "SavantObjectParams").is_ok());

    let expected = "[('car', (10, 20, 30, 16), 1, 0, 0.75, 7, 'savantpyfunc0', {'color': 'red'}), \
                    ('plate', (12, 30, 8, 4), 2, 1, None, None, 'plates', {})]";
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! {caps} ! savantpyfunc name=savantpyfunc0 module={writer} \
         ! savanttestcopier ! savantpyfunc module={reader} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(object_lists("dropped_reader"), vec![expected, expected]);

    // A stage that never looks at the objects puts them back for any consumer.
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! {caps} ! savantpyfunc module={writer} \
         ! savanttestcopier ! savantpyfunc module={passive} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let metas: Vec<_> = result.buffers[0]
        .iter_meta::<VideoRegionOfInterestMeta>()
        .collect();
    assert_eq!(metas.len(), 2);
    assert_eq!(
        (metas[0].roi_type(), metas[0].rect(), metas[0].id()),
        ("car", (10, 20, 30, 16), 1)
    );
    let detection = metas[0].param("detection").unwrap();
    assert_eq!(detection.get::<f64>("confidence").unwrap(), 0.75);
    assert_eq!(
        (metas[1].roi_type(), metas[1].parent_id()),
        ("plate", metas[0].id())
    );
}

/// When the frame was scaled after the ROI metas were dropped, the boxes that come
/// back are scaled with it; objects a stage removed never come back.
#[test]
fn restored_objects_follow_the_scaling_and_removed_ones_stay_removed() {
    copier::register();
    let writer = module(
        "scaled_writer",
        r#"
        def process_frame(frame):
            frame.add_object("car", (10, 20, 30, 16))
        "#,
    );
    let reader = object_reader("scaled_reader", "o.label, o.box");
    let remover = module(
        "scaled_remover",
        r#"
        def process_frame(frame):
            for o in list(frame.objects):
                frame.remove_object(o)
        "#,
    );
    let caps = "video/x-raw,format=RGBA,width=64,height=48";
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! {caps} ! savantpyfunc module={writer} \
         ! savanttestcopier ! videoscale ! video/x-raw,width=128,height=96 \
         ! savantpyfunc module={reader} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(
        object_lists("scaled_reader"),
        vec!["[('car', (20, 40, 60, 32))]"]
    );

    let result = run(&format!(
        "videotestsrc num-buffers=1 ! {caps} ! savantpyfunc module={writer} \
         ! savantpyfunc module={remover} ! savanttestcopier \
         ! savantpyfunc module={reader} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(object_lists("scaled_reader")[1], "[]");
    assert!(gst::meta::CustomMeta::from_buffer(&result.buffers[0], "SavantObjectParams").is_err());
}

/// savantdrawfunc draws objects whose ROI metas an element dropped (the documented
/// `cudadownload ! savantdrawfunc`): the drawing is the one without that element.
#[test]
fn drawfunc_draws_objects_whose_roi_metas_were_dropped() {
    copier::register();
    let writer = module(
        "drawn_writer",
        r#"
        def process_frame(frame):
            frame.add_object("car", (10, 12, 30, 20))
        "#,
    );
    let spec =
        "labels: {car: {bbox: {border_color: FF0000FF, background_color: 0000FFFF, thickness: 2}}}";
    let draw = |copier: &str| {
        let result = run(&format!(
            "videotestsrc num-buffers=1 pattern=black ! video/x-raw,format=RGBA,width=64,height=48 \
             ! savantpyfunc module={writer} {copier} ! savantdrawfunc draw-spec=\"{spec}\" \
             ! appsink name=sink"
        ));
        assert!(result.eos, "{result:?}");
        let buffer = &result.buffers[0];
        assert_eq!(buffer.iter_meta::<VideoRegionOfInterestMeta>().count(), 1);
        let pixels = buffer.map_readable().unwrap().to_vec();
        pixels
    };
    let direct = draw("");
    assert!(
        direct.chunks(4).any(|p| p == [255, 0, 0, 255]),
        "no border drawn"
    );
    assert_eq!(draw("! savanttestcopier"), direct);
}

/// A params meta that another element made up (wrong types, missing fields, boxes
/// at the end of the pixel range, sizes of 0 and u32::MAX, values that are not
/// entries) is read without a crash: only complete entries come back, boxes
/// saturate, the rest is left alone.
#[test]
fn made_up_params_metas_restore_only_complete_entries() {
    use gst::prelude::*;
    common::init();
    let reader = object_reader("made_up_reader", "o.label, o.box, o.id");
    let entry = |label: &str, id: i32, rect: (u32, u32, u32, u32)| {
        gst::Structure::builder("roi")
            .field("label", label)
            .field("id", id)
            .field("parent-id", -1i32)
            .field("x", rect.0)
            .field("y", rect.1)
            .field("w", rect.2)
            .field("h", rect.3)
            .build()
    };
    // (stored width, stored height, the params meta's array of objects)
    type Case = (u32, u32, Vec<gst::glib::SendValue>);
    let cases: Vec<Case> = vec![
        // Complete entries, stored at 32x24 and read at 64x48 (scaled x2); boxes at
        // the end of the pixel range saturate; what is not a complete entry is
        // skipped.
        (
            32,
            24,
            vec![
                entry("car", 1, (1, 2, 3, 4)).to_send_value(),
                entry("", 2, (u32::MAX, 0, u32::MAX, 1)).to_send_value(),
                5i32.to_send_value(),
                gst::Structure::builder("roi")
                    .field("label", "half")
                    .field("x", 1u32)
                    .build()
                    .to_send_value(),
                gst::Structure::builder("roi")
                    .field("label", "typed")
                    .field("id", 4i32)
                    .field("parent-id", 0i32)
                    .field("x", -1i32)
                    .field("y", 0u32)
                    .field("w", 1u32)
                    .field("h", 1u32)
                    .build()
                    .to_send_value(),
            ],
        ),
        // Sizes of 0 and u32::MAX: no division by zero, no overflow.
        (
            0,
            u32::MAX,
            vec![entry("van", 9, (5, 6, 7, 8)).to_send_value()],
        ),
        // Nothing complete: the buffer passes unchanged.
        (64, 48, vec!["junk".to_send_value()]),
    ];
    let mut h = gst_check::Harness::new_parse(&format!("savantpyfunc module={reader}"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=64,height=48");
    for (width, height, fields) in cases {
        let mut buffer = gst::Buffer::with_size(64 * 48 * 4).unwrap();
        {
            let buffer = buffer.get_mut().unwrap();
            let mut meta = gst::meta::CustomMeta::add(buffer, "SavantObjectParams").unwrap();
            let structure = meta.mut_structure();
            structure.set("width", width);
            structure.set("height", height);
            structure.set("objects", gst::Array::new(fields));
        }
        h.push(buffer).unwrap();
    }
    assert_eq!(
        object_lists("made_up_reader"),
        vec![
            format!(
                "[('car', (2, 4, 6, 8), 1), ('', ({m}, 0, {m}, 2), 2)]",
                m = u32::MAX
            ),
            "[('van', (5, 0, 7, 0), 9)]".to_owned(),
            "[]".to_owned(),
        ]
    );
}

/// The frame the next stage gets may hold ROI metas of its own after the element
/// that dropped Savant's (a GPU detector after cudaupload): the stage's objects come
/// back after them, also when an id collides; a frame whose objects are all there
/// gets nothing twice.
#[test]
fn dropped_objects_come_back_next_to_roi_metas_added_after_the_drop() {
    copier::register();
    let writer = module(
        "partial_writer",
        r#"
        def process_frame(frame):
            car = frame.add_object("car", (10, 20, 30, 16), confidence=0.75)
            frame.add_object("plate", (12, 30, 8, 4), parent_id=car.id)
        "#,
    );
    let reader = object_reader(
        "partial_reader",
        "o.label, o.box, o.id, o.parent_id, o.confidence",
    );
    let (mut buffer, mut downstream) = through_a_roi_dropper(&writer, &reader);
    // A detector's object, with the id of the stage's first one.
    let mut meta = VideoRegionOfInterestMeta::add(buffer.make_mut(), "person", (1, 1, 5, 5));
    meta.set_id(1);
    let output = downstream.push_and_pull(buffer).unwrap();
    let labels: Vec<_> = output
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|m| m.roi_type().to_owned())
        .collect();
    assert_eq!(labels, ["person", "car", "plate"]);
    // Again, through a second stage: everything is there, nothing comes back twice.
    let output = downstream.push_and_pull(output).unwrap();
    assert_eq!(output.iter_meta::<VideoRegionOfInterestMeta>().count(), 3);
    assert_eq!(
        object_lists("partial_reader"),
        vec![
            "[('person', (1, 1, 5, 5), 1, 0, None), ('car', (10, 20, 30, 16), 1, 0, 0.75), \
             ('plate', (12, 30, 8, 4), 2, 1, None)]";
            2
        ]
    );
}

/// The restore writes only the buffer the stage passes on: after a tee (the buffer
/// shared by both branches), the branch without a stage still sees the frame as the
/// dropping element and videoconvert left it, and the branch with a read-only stage
/// gets the objects back.
#[test]
fn a_restore_after_a_tee_changes_only_its_own_branch() {
    use gst::prelude::*;
    copier::register();
    let writer = module(
        "tee_writer",
        "def process_frame(frame):\n    frame.add_object('car', (4, 4, 8, 8))\n",
    );
    let passive = module("tee_passive", "def process_frame(frame):\n    pass\n");
    let pipeline = common::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=48 \
         ! savantpyfunc module={writer} ! savanttestcopier ! videoconvert \
         ! video/x-raw,format=I420 ! tee name=t \
         t. ! queue ! savantpyfunc module={passive} ! appsink name=a sync=false \
         t. ! queue ! appsink name=b sync=false"
    ));
    let sink = |name: &str| {
        pipeline
            .by_name(name)
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap()
    };
    let (a, b) = (sink("a"), sink("b"));
    pipeline.set_state(gst::State::Playing).unwrap();
    let pull = |sink: &gst_app::AppSink| -> Vec<usize> {
        std::iter::from_fn(|| sink.try_pull_sample(gst::ClockTime::from_seconds(10)))
            .map(|s| {
                s.buffer()
                    .unwrap()
                    .iter_meta::<VideoRegionOfInterestMeta>()
                    .count()
            })
            .collect()
    };
    let (restored, untouched) = (pull(&a), pull(&b));
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(restored, [1, 1, 1]);
    assert_eq!(untouched, [0, 0, 0]);
}

/// Thousands of objects whose ROI metas were dropped, and as many a detector added
/// after the drop (none of them the stage's): the check for dropped objects, made on
/// every frame, is one pass over each list, and every object comes back once.
/// With `analytics`, the writing stage also mirrors its objects into a
/// GstAnalyticsRelationMeta, whose relation matrix grows with the square of the
/// objects (GStreamer's layout): fewer objects there.
#[test]
fn a_frame_of_twenty_thousand_dropped_objects_is_restored_in_one_pass() {
    const N: usize = if cfg!(feature = "analytics") {
        2_000
    } else {
        20_000
    };
    copier::register();
    let writer = module(
        "many_dropped_writer",
        &format!(
            "def process_frame(frame):\n    for i in range({N}):\n        frame.add_object('car', (i % 60, i % 40, 4, 4))\n"
        ),
    );
    let passive = module(
        "many_dropped_passive",
        "def process_frame(frame):\n    pass\n",
    );
    let (mut buffer, mut downstream) = through_a_roi_dropper(&writer, &passive);
    {
        let buffer = buffer.make_mut();
        for i in 0..N {
            let mut meta = VideoRegionOfInterestMeta::add(buffer, "person", (1, 1, 5, 5));
            meta.set_id(i as i32 + 1);
        }
    }
    let started = std::time::Instant::now();
    let output = downstream.push_and_pull(buffer).unwrap();
    let elapsed = started.elapsed();
    let labels: Vec<String> = output
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|m| m.roi_type().to_owned())
        .collect();
    assert_eq!(labels.len(), 2 * N);
    assert!(labels[..N].iter().all(|l| l == "person"));
    assert!(labels[N..].iter().all(|l| l == "car"));
    // Through the stage again: all are there, nothing comes back twice.
    let again = downstream.push_and_pull(output).unwrap();
    assert_eq!(
        again.iter_meta::<VideoRegionOfInterestMeta>().count(),
        2 * N
    );
    eprintln!("restored {N} objects next to {N} others in {elapsed:?}");
}

/// Savant code writes UNTRACKED_OBJECT_ID (the largest uint64) for "no track id":
/// accepted where a track id is, read back as None, and not written to the meta; a
/// value that fits no int64 is a clear error.
#[test]
fn savants_untracked_sentinel_is_no_track_id() {
    let stage = module(
        "untracked_sentinel",
        r#"
        seen = []
        def process_frame(frame):
            a = frame.add_object("car", (1, 1, 4, 4), track_id=2**64 - 1)
            b = frame.add_object("car", (2, 2, 4, 4), track_id=7)
            b.track_id = 2**64 - 1
            try:
                a.track_id = 2**64
                error = None
            except ValueError as e:
                error = str(e)
            seen.append((a.track_id, b.track_id, error))
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos, "{:?}", result.error);
    let seen: String = py_eval("repr(__import__('untracked_sentinel').seen[0])");
    assert!(seen.starts_with("(None, None, "), "{seen}");
    assert!(seen.contains("track_id must be None or an int"), "{seen}");
    for meta in result.buffers[0].iter_meta::<VideoRegionOfInterestMeta>() {
        let tracked = meta
            .param("savant-object")
            .is_some_and(|p| p.has_field("track-id"));
        assert!(!tracked, "{meta:?}");
    }
}
