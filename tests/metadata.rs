//! What other GStreamer code put on a buffer stays exactly as it was unless a stage
//! changed it: a producer written only against GStreamer's API attaches typed
//! attributes and ROI metas with params, a stage runs, and the consumer checks
//! GTypes and fields.

mod common;

use common::{module, py_eval};
use gst::glib;
use gst_video::VideoRegionOfInterestMeta;

const CAPS: &str = "video/x-raw,format=RGBA,width=64,height=48,framerate=30/1";

fn harness(description: &str) -> gst_check::Harness {
    common::init();
    let mut h = gst_check::Harness::new_parse(description);
    h.set_src_caps_str(CAPS);
    h
}

fn buffer(produce: impl FnOnce(&mut gst::BufferRef)) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(64 * 48 * 4).unwrap();
    produce(buffer.get_mut().unwrap());
    buffer
}

/// A C producer's attributes: typed fields as gst_structure_set would write them.
fn add_attributes(buffer: &mut gst::BufferRef, fields: &[(&str, glib::SendValue)]) {
    let mut meta = gst::meta::CustomMeta::add(buffer, "SavantFrameAttributes").unwrap();
    for (name, value) in fields {
        meta.mut_structure().set_value(*name, value.clone());
    }
}

fn attributes(buffer: &gst::BufferRef) -> gst::Structure {
    common::attributes(buffer).expect("attributes on the output buffer")
}

fn foreign_attributes() -> Vec<(&'static str, glib::SendValue)> {
    use gst::prelude::*;
    vec![
        ("score", 1.5f32.to_send_value()),
        ("count", 7u32.to_send_value()),
        ("ratio", gst::Fraction::new(1, 3).to_send_value()),
        ("name", "cam-1".to_send_value()),
        ("big", u64::MAX.to_send_value()),
        ("small", (-3i32).to_send_value()),
        ("precise", 0.1f64.to_send_value()),
        ("flag", true.to_send_value()),
        ("tiny", (-5i8).to_send_value()),
        ("long", glib::ILong(-70000).to_send_value()),
    ]
}

/// Where the `name` field's text lives: the same address means the field was never
/// rewritten.
fn name_address(buffer: &gst::BufferRef) -> usize {
    let meta = gst::meta::CustomMeta::from_buffer(buffer, "SavantFrameAttributes").unwrap();
    meta.structure().get::<&str>("name").unwrap().as_ptr() as usize
}

fn field_type(s: &gst::StructureRef, name: &str) -> glib::Type {
    s.value(name)
        .unwrap_or_else(|_| panic!("{name} in {s}"))
        .type_()
}

#[test]
fn reading_attributes_leaves_a_producers_meta_exactly_as_it_came() {
    let stage = module(
        "attributes_reader",
        r#"
        seen = []
        def process_frame(frame):
            frame.attributes.get("score")
            seen.append(sorted(frame.attributes.items()))
            frame.attributes["count"] = 7          # the same value: no change
            frame.attributes["ratio"] = "1/3"      # the same text: no change
        "#,
    );
    let mut h = harness(&format!("savantpyfunc module={stage}"));
    let input = buffer(|b| add_attributes(b, &foreign_attributes()));
    let before = attributes(&input).to_string();
    let name_before = name_address(&input);
    h.push(input).unwrap();
    let out = h.pull().unwrap();
    let after = attributes(&out);
    assert_eq!(after.to_string(), before);
    // Not even rewritten with equal values: the very same string in the same meta.
    assert_eq!(name_address(&out), name_before);
    assert_eq!(field_type(&after, "score"), glib::Type::F32);
    assert_eq!(after.get::<f32>("score").unwrap(), 1.5);
    assert_eq!(after.get::<u32>("count").unwrap(), 7);
    assert_eq!(
        after.get::<gst::Fraction>("ratio").unwrap(),
        gst::Fraction::new(1, 3)
    );
    let seen: Vec<String> = py_eval("[repr(s) for s in __import__('attributes_reader').seen]");
    assert_eq!(
        seen[0],
        "[('big', 18446744073709551615), ('count', 7), ('flag', True), ('long', -70000), \
         ('name', 'cam-1'), ('precise', 0.1), ('ratio', '1/3'), ('score', 1.5), ('small', -3), \
         ('tiny', -5)]"
    );
}

#[test]
fn changed_attribute_keys_round_trip_and_the_others_keep_their_types() {
    let stage = module(
        "attributes_writer",
        r#"
        import numpy as np
        def process_frame(frame):
            a = frame.attributes
            a["count"] = 8              # still fits the producer's guint
            a["score"] = 0.1            # a gfloat cannot hold 0.1 exactly: gdouble
            a["small"] = 2**40          # beyond gint: gint64
            del a["flag"]
            a["n"] = np.int64(3)
            a["f"] = np.float32(0.25)
            a["ok"] = np.bool_(True)
            a["text"] = "hello"
            a["ratio"] = "2/3"          # GStreamer's text for a fraction: stays a fraction
            a["tiny"] = 100             # fits a gchar: stays one
            a["long"] = 2**40           # fits a glong here: stays one
        "#,
    );
    let mut h = harness(&format!("savantpyfunc module={stage}"));
    h.push(buffer(|b| add_attributes(b, &foreign_attributes())))
        .unwrap();
    let out = attributes(&h.pull().unwrap());
    let types: Vec<(String, glib::Type)> = out
        .fields()
        .map(|f| (f.to_string(), field_type(&out, f)))
        .collect();
    let expected = [
        ("score", glib::Type::F64),
        ("count", glib::Type::U32),
        ("ratio", gst::Fraction::static_type()),
        ("name", glib::Type::STRING),
        ("big", glib::Type::U64),
        ("small", glib::Type::I64),
        ("precise", glib::Type::F64),
        ("tiny", glib::Type::I8),
        ("long", glib::Type::I_LONG),
        ("n", glib::Type::I64),
        ("f", glib::Type::F64),
        ("ok", glib::Type::BOOL),
        ("text", glib::Type::STRING),
    ];
    use gst::prelude::StaticType;
    assert_eq!(
        types,
        expected
            .iter()
            .map(|(n, t)| (n.to_string(), *t))
            .collect::<Vec<_>>()
    );
    assert_eq!(out.get::<u32>("count").unwrap(), 8);
    assert_eq!(out.get::<f64>("score").unwrap(), 0.1);
    assert_eq!(out.get::<i64>("small").unwrap(), 1 << 40);
    assert_eq!(out.get::<u64>("big").unwrap(), u64::MAX);
    assert_eq!(out.get::<f64>("f").unwrap(), 0.25);
    assert!(out.get::<bool>("ok").unwrap());
    assert_eq!(
        out.get::<gst::Fraction>("ratio").unwrap(),
        gst::Fraction::new(2, 3)
    );
}

#[test]
fn sixteen_thousand_attribute_keys_are_read_changed_and_written_exactly() {
    // Upstream has 16k typed keys; the stage changes one, removes 100 and adds 1000
    // (the bulk path); a second stage writes 16k fresh keys every frame (the path
    // that reuses the layout built for the previous frame).
    let editor = module(
        "many_keys_editor",
        r#"
        def process_frame(frame):
            a = frame.attributes
            assert len(a) == 16000, len(a)
            a["k5"] = "changed"
            for i in range(100, 200):
                del a[f"k{i}"]
            for i in range(1000):
                a[f"new{i}"] = i * 0.5
        "#,
    );
    let writer = module(
        "many_keys_writer",
        r#"
        def process_frame(frame):
            a = frame.attributes
            for i in range(16000):
                a[f"w{i}"] = i + frame.offset
        "#,
    );
    use gst::prelude::*;
    let mut h = harness(&format!(
        "savantpyfunc module={editor} ! savantpyfunc module={writer}"
    ));
    for offset in 0..3u64 {
        let fields: Vec<_> = (0..16000)
            .map(|i| {
                let value = if i % 2 == 0 {
                    (i as u32).to_send_value()
                } else {
                    (i as f32).to_send_value()
                };
                (format!("k{i}"), value)
            })
            .collect();
        let mut input = buffer(|b| {
            let mut meta = gst::meta::CustomMeta::add(b, "SavantFrameAttributes").unwrap();
            for (name, value) in &fields {
                meta.mut_structure().set_value(name.as_str(), value.clone());
            }
        });
        input.get_mut().unwrap().set_offset(offset);
        h.push(input).unwrap();
        let out = attributes(&h.pull().unwrap());
        assert_eq!(out.n_fields(), 16000 - 100 + 1000 + 16000);
        assert_eq!(out.get::<&str>("k5").unwrap(), "changed");
        assert_eq!(out.get::<u32>("k4").unwrap(), 4);
        assert_eq!(out.get::<f32>("k7").unwrap(), 7.0);
        assert!(!out.has_field("k150"));
        assert_eq!(out.get::<f64>("new999").unwrap(), 499.5);
        assert_eq!(out.get::<i64>("w0").unwrap(), offset as i64);
        assert_eq!(out.get::<i64>("w15999").unwrap(), 15999 + offset as i64);
        assert_eq!(out.nth_field_name(15900 + 999).unwrap(), "new999");
    }
}

#[test]
fn strings_with_nul_characters_are_refused_not_cut() {
    let stage = module(
        "nul_label",
        r#"
        out = []
        def process_frame(frame):
            try:
                frame.add_object("a\0b", (0, 0, 1, 1))
            except ValueError as e:
                out.append(str(e))
        "#,
    );
    let result = common::run(&format!(
        "videotestsrc num-buffers=1 ! {CAPS} ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let out: Vec<String> = py_eval("__import__('nul_label').out");
    assert_eq!(
        out,
        ["an object's label contains a NUL character, which GStreamer strings cannot hold"]
    );
    // Dict assignments cannot be refused as they happen; the frame is refused when
    // it is written.
    for (name, line, expected) in [
        (
            "nul_value",
            r#"frame.attributes["v"] = "a\0b""#,
            "frame.attributes['v'] contains a NUL character",
        ),
        (
            "nul_key",
            r#"frame.attributes["k\0a"] = 1"#,
            "frame.attributes key 'k\\x00a' contains a NUL character",
        ),
    ] {
        let stage = module(name, &format!("def process_frame(frame):\n    {line}\n"));
        let result = common::run(&format!(
            "videotestsrc num-buffers=1 ! {CAPS} ! savantpyfunc module={stage} ! appsink name=sink"
        ));
        let (message, _) = common::expect_error(&result);
        assert!(message.contains(expected), "{message}");
    }
}

/// A ROI as a C consumer sees it: label, box, ids and every param with its types.
fn describe(meta: &VideoRegionOfInterestMeta) -> String {
    // The stage's generated name (savantpyfunc7) depends on test order.
    let params: Vec<String> = meta
        .params()
        .map(|p| {
            let text = p.to_string();
            match text.find("model=(string)") {
                Some(start) => {
                    let value = start + "model=(string)".len();
                    let end = text[value..]
                        .find([';', ','])
                        .map_or(text.len(), |e| value + e);
                    format!("{}STAGE{}", &text[..value], &text[end..])
                }
                None => text,
            }
        })
        .collect();
    format!(
        "{} {:?} id={} parent={} [{}]",
        meta.roi_type(),
        meta.rect(),
        meta.id(),
        meta.parent_id(),
        params.join(" | ")
    )
}

fn rois(buffer: &gst::BufferRef) -> Vec<String> {
    buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|m| describe(&m))
        .collect()
}

/// Where each ROI param structure lives, in order.
fn param_addresses(buffer: &gst::BufferRef) -> Vec<usize> {
    buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .flat_map(|m| m.params().map(|p| p.as_ptr() as usize).collect::<Vec<_>>())
        .collect()
}

/// A producer's objects: a person with a detector's extra field and landmarks, and a
/// face inside it.
fn add_foreign_objects(buffer: &mut gst::BufferRef) {
    let mut person = VideoRegionOfInterestMeta::add(buffer, "person", (4, 6, 30, 40));
    person.set_id(11);
    person.add_param(
        gst::Structure::builder("detection")
            .field("confidence", 0.875f64)
            .field("label_id", 3u32)
            .build(),
    );
    person.add_param(
        gst::Structure::builder("landmarks")
            .field("x", gst::Array::new([1.0f64, 2.5]))
            .field("y", gst::Array::new([3.0f64, 4.5]))
            .build(),
    );
    let mut face = VideoRegionOfInterestMeta::add(buffer, "face", (10, 8, 8, 8));
    face.set_id(12);
    face.set_parent_id(11);
    face.add_param(
        gst::Structure::builder("detection")
            .field("confidence", 0.5f32)
            .build(),
    );
}

#[test]
fn adding_an_object_leaves_the_others_exactly_as_they_came() {
    let stage = module(
        "objects_adder",
        r#"
        seen = []
        def process_frame(frame):
            seen.append([(o.label, o.box, o.id, o.parent_id, o.confidence) for o in frame.objects])
            car = frame.add_object("car", (1, 2, 3, 4), confidence=0.25)
            seen.append(car.id)
        "#,
    );
    let mut h = harness(&format!("savantpyfunc module={stage}"));
    let input = buffer(add_foreign_objects);
    let before = rois(&input);
    let params_before = param_addresses(&input);
    h.push(input).unwrap();
    let output = h.pull().unwrap();
    let out = rois(&output);
    assert_eq!(out[..2], before[..]);
    // The same param structures: never rewritten.
    assert_eq!(param_addresses(&output)[..3], params_before[..]);
    assert_eq!(
        out[2],
        "car (1, 2, 3, 4) id=13 parent=0 [detection, confidence=(double)0.25; | savant-object, model=(string)STAGE;]"
    );
    let seen: Vec<String> = py_eval("[repr(s) for s in __import__('objects_adder').seen]");
    assert_eq!(
        seen,
        [
            "[('person', (4, 6, 30, 40), 11, 0, 0.875), ('face', (10, 8, 8, 8), 12, 11, 0.5)]",
            "13"
        ]
    );
}

#[test]
fn an_edited_object_keeps_every_param_and_field_the_stage_did_not_change() {
    let stage = module(
        "objects_editor",
        r#"
        def process_frame(frame):
            person, face = frame.objects
            person.track_id = 5
            person.attributes["color"] = "red"
            face.confidence = 0.75            # a gfloat holds 0.75 exactly: stays gfloat
            face.box = (11.4, 8.6, 7.2, 7.5)  # edges rounded: (11, 9, 8, 7)
            hand = frame.add_object("hand", (12, 20, 4, 4), parent_id=person.id)
            face.parent_id = hand.id
        "#,
    );
    let mut h = harness(&format!("savantpyfunc module={stage}"));
    h.push(buffer(add_foreign_objects)).unwrap();
    let out = rois(&h.pull().unwrap());
    assert_eq!(
        out,
        [
            "person (4, 6, 30, 40) id=11 parent=0 [detection, confidence=(double)0.875, label_id=(uint)3; \
             | landmarks, x=(double)< 1, 2.5 >, y=(double)< 3, 4.5 >; \
             | savant-object, track-id=(gint64)5; \
             | savant-object-attributes, color=(string)red;]",
            "face (11, 9, 8, 7) id=12 parent=13 [detection, confidence=(float)0.75;]",
            "hand (12, 20, 4, 4) id=13 parent=11 [savant-object, model=(string)STAGE;]",
        ]
    );
}

#[test]
fn objects_keep_every_field_through_videoconvert_and_videoscale() {
    let detector = module(
        "scaled_detector",
        r#"
        def process_frame(frame):
            frame.add_object("car", (10, 20, 30, 16), confidence=0.75, track_id=7,
                             attributes={"color": "red", "speed": 12.5})
        "#,
    );
    let reader = module(
        "scaled_reader",
        r#"
        seen = []
        def process_frame(frame):
            seen.append([(o.label, o.box, o.id, o.parent_id, o.confidence, o.track_id,
                          sorted(o.attributes.items())) for o in frame.objects])
            frame.objects[0].attributes["seen"] = True
        "#,
    );
    let result = common::run(&format!(
        "videotestsrc num-buffers=2 ! {CAPS} ! savantpyfunc module={detector} \
         ! videoconvert ! videoscale ! video/x-raw,format=I420,width=128,height=96 \
         ! savantpyfunc module={reader} ! videoconvert ! video/x-raw,format=RGBA \
         ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let seen: Vec<String> = py_eval("[repr(s) for s in __import__('scaled_reader').seen]");
    assert_eq!(
        seen[0],
        "[('car', (20, 40, 60, 32), 1, 0, 0.75, 7, [('color', 'red'), ('speed', 12.5)])]"
    );
    // After one more videoconvert, a Rust reader (savantdrawfunc's) gets the fields
    // back, the reader's change included.
    let objects = gstsavant_objects(&result.buffers[0]);
    assert_eq!(
        objects,
        "car (20, 40, 60, 32) 0.75 7 color=red seen=true speed=12.5"
    );
}

/// Objects as savantdrawfunc reads them, through a Python stage of our own.
fn gstsavant_objects(buffer: &gst::Buffer) -> String {
    let stage = module(
        "objects_dump",
        r#"
        out = []
        def process_frame(frame):
            for o in frame.objects:
                attrs = " ".join(f"{k}={str(v).lower()}" for k, v in sorted(o.attributes.items()))
                out.append(f"{o.label} {o.box} {o.confidence} {o.track_id} {attrs}")
        "#,
    );
    let mut h = gst_check::Harness::new_parse(&format!("savantpyfunc module={stage}"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=128,height=96,framerate=30/1");
    h.push(buffer.clone()).unwrap();
    h.pull().unwrap();
    let out: Vec<String> = py_eval("__import__('objects_dump').out");
    out.join(" / ")
}

#[test]
fn numpy_values_are_accepted_and_a_numpy_bool_verdict_drops_or_passes() {
    let stage = module(
        "numpy_values",
        r#"
        import numpy as np
        def process_frame(frame):
            img = np.asarray(frame)
            frame.attributes["mean"] = img[..., 0].mean()          # np.float64
            frame.attributes["count"] = np.int64(3)
            box = np.array([10.4, 20.6, 30.2, 40.5], dtype=np.float32)
            o = frame.add_object("thing", box, confidence=np.float32(0.5),
                                 track_id=np.int64(9))
            o.attributes["n"] = np.uint8(200)
            o.x = np.float64(11.5)                          # moves the box: x = 12
            return np.bool_(frame.offset % 2 == 0)
        "#,
    );
    let result = common::run(&format!(
        "videotestsrc num-buffers=4 ! {CAPS} ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(result.buffers.len(), 2, "odd offsets dropped");
    let out = &result.buffers[0];
    let attrs = attributes(out);
    assert_eq!(field_type(&attrs, "mean"), glib::Type::F64);
    assert_eq!(attrs.get::<i64>("count").unwrap(), 3);
    assert_eq!(
        rois(out),
        [
            "thing (12, 21, 31, 40) id=1 parent=0 [detection, confidence=(double)0.5; \
          | savant-object, track-id=(gint64)9, model=(string)STAGE; | savant-object-attributes, n=(gint64)200;]"
        ]
    );
}

#[test]
fn boxes_outside_the_pixel_range_are_errors_not_clamped() {
    let stage = module(
        "bad_boxes",
        r#"
        out = []
        def process_frame(frame):
            for box in [(float("nan"), 0, 1, 1), (0, 0, float("inf"), 1), (-3e9, 0, 1, 1),
                        (0, 0, 5_000_000_000, 1), (0, 0, -1.0, 1), (1, 2, 3), "abcd",
                        (-5, -2, 20.0, 10)]:
                try:
                    out.append(repr(frame.add_object("x", box).box))
                except Exception as e:
                    out.append(f"{type(e).__name__}: {e}")
        "#,
    );
    let result = common::run(&format!(
        "videotestsrc num-buffers=1 ! {CAPS} ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let out: Vec<String> = py_eval("__import__('bad_boxes').out");
    assert_eq!(
        out,
        [
            "ValueError: box x = NaN is not a pixel coordinate",
            "ValueError: box w = inf is not a pixel coordinate",
            "ValueError: box x = -3000000000 is outside the pixel range -2147483648 to 4294967295",
            "ValueError: box w = 5000000000 is larger than the pixel range (up to 4294967295)",
            "ValueError: an object's width and height must not be negative, got -1x1",
            "TypeError: a box is (x, y, w, h): 4 ints or floats, got (1, 2, 3)",
            "TypeError: a box is (x, y, w, h): 4 ints or floats, got 'abcd'",
            "(-5, -2, 20, 10)",
        ]
    );
    // The visible part of the last box is stored.
    assert_eq!(
        rois(&result.buffers[0]),
        ["x (0, 0, 15, 8) id=1 parent=0 [savant-object, model=(string)STAGE;]"]
    );
}

#[test]
fn an_error_in_an_objects_attributes_names_the_object() {
    let stage = module(
        "bad_object_attributes",
        r#"
        def process_frame(frame):
            face = frame.add_object("face", (0, 0, 4, 4))
            face.attributes["x"] = [1, 2]
        "#,
    );
    let result = common::run(&format!(
        "videotestsrc num-buffers=1 ! {CAPS} ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    let (message, _) = common::expect_error(&result);
    assert!(
        message.contains("object 'face' attributes['x'] must be str, int, float or bool, got list"),
        "{message}"
    );
}

#[test]
fn reading_objects_adds_and_changes_no_meta() {
    let stage = module(
        "objects_reader_only",
        r#"
        def process_frame(frame):
            [(o.label, o.box, o.attributes.get("x"), o.confidence) for o in frame.objects]
            frame.attributes.get("x")
        "#,
    );
    let mut h = harness(&format!("savantpyfunc module={stage}"));
    let input = buffer(add_foreign_objects);
    let before = rois(&input);
    h.push(input).unwrap();
    let out = h.pull().unwrap();
    assert_eq!(rois(&out), before);
    let apis: Vec<glib::Type> = out.iter_meta::<gst::Meta>().map(|m| m.api()).collect();
    use gst::meta::MetaAPI;
    assert_eq!(apis, [VideoRegionOfInterestMeta::meta_api(); 2]);
}

#[test]
fn a_producers_params_come_back_when_an_object_is_edited_after_videoscale() {
    let adder = module(
        "scale_adder",
        r#"
        def process_frame(frame):
            frame.add_object("car", (0, 0, 8, 8), track_id=1)
        "#,
    );
    let editor = module(
        "scale_editor",
        r#"
        def process_frame(frame):
            person = frame.objects[0]
            person.track_id = 5
        "#,
    );
    let mut h = harness(&format!(
        "savantpyfunc module={adder} ! videoconvert ! videoscale \
         ! video/x-raw,format=I420,width=128,height=96 ! savantpyfunc module={editor}"
    ));
    h.push(buffer(add_foreign_objects)).unwrap();
    let out = rois(&h.pull().unwrap());
    assert_eq!(
        out,
        [
            // Edited after the scale: every param the producer gave it is back.
            "person (8, 12, 60, 80) id=11 parent=0 [detection, confidence=(double)0.875, label_id=(uint)3; \
             | landmarks, x=(double)< 1, 2.5 >, y=(double)< 3, 4.5 >; \
             | savant-object, track-id=(gint64)5;]",
            // Untouched after the scale: as videoscale left it (its params stay in
            // the SavantObjectParams meta for the next stage).
            "face (20, 16, 16, 16) id=12 parent=11 []",
            "car (0, 0, 16, 16) id=13 parent=0 []",
        ]
    );
}

#[test]
fn savantdrawfunc_draws_the_fields_of_objects_that_went_through_videoscale() {
    // The label shows the track id and confidence; after videoscale, the drawing must
    // be the one of the same object detected at the scaled size.
    let spec = "labels: {car: {label: {font_color: 'FFFFFFFF', font_scale: 0.5, \
                format: ['#{track_id} {confidence}'], position: TopLeftInside}}}";
    let draw = |name: &str, width: u32, scale: bool, object: &str| -> Vec<u8> {
        let stage = module(
            name,
            &format!("def process_frame(frame):\n    frame.add_object('car', {object})\n"),
        );
        let (w, h) = (width, width * 3 / 4);
        let scaling = if scale {
            "! videoscale ! video/x-raw,width=128,height=96 "
        } else {
            ""
        };
        let result = common::run(&format!(
            "videotestsrc num-buffers=1 pattern=black ! video/x-raw,format=RGBA,width={w},height={h} \
             ! savantpyfunc module={stage} {scaling}! savantdrawfunc draw-spec=\"{spec}\" \
             ! appsink name=sink"
        ));
        assert!(result.eos, "{result:?}");
        let map = result.buffers[0].map_readable().unwrap();
        map.as_slice().to_vec()
    };
    let scaled = draw(
        "draw_scaled",
        64,
        true,
        "(10, 20, 30, 16), confidence=0.75, track_id=7",
    );
    let native = draw(
        "draw_native",
        128,
        false,
        "(20, 40, 60, 32), confidence=0.75, track_id=7",
    );
    let other = draw(
        "draw_other",
        128,
        false,
        "(20, 40, 60, 32), confidence=0.75, track_id=8",
    );
    assert_ne!(native, other, "the label depends on the track id");
    assert!(scaled == native, "the scaled object lost fields");
}

/// `depth` arrays inside one another around an int, as a C producer may nest them.
fn nested_arrays(depth: usize) -> glib::SendValue {
    use gst::prelude::*;
    let mut value = 1i32.to_send_value();
    for _ in 0..depth {
        value = gst::Array::new([value]).to_send_value();
    }
    value
}

/// `depth` structures inside one another: GStreamer's text for them doubles with
/// every level (each level quotes and escapes the one inside).
fn nested_structures(depth: usize) -> glib::SendValue {
    use gst::prelude::*;
    let mut s = gst::Structure::builder("leaf").field("v", 1i32).build();
    for i in 0..depth {
        s = gst::Structure::builder(format!("n{i}"))
            .field("inner", s)
            .build();
    }
    s.to_send_value()
}

#[test]
fn deeply_nested_attributes_are_a_python_error_in_bounded_time_and_stay_as_they_came() {
    let stage = module(
        "nested_attribute_reader",
        r#"
        out = []
        def process_frame(frame):
            try:
                frame.attributes
                out.append("read")
            except ValueError as e:
                out.append(str(e))
            frame.add_object("car", (1, 1, 2, 2))
        "#,
    );
    // Run on a thread with a large stack: GStreamer itself copies and frees nested
    // values recursively, which is the producer's cost; the plugin must add none.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let mut h = harness(&format!("savantpyfunc module={stage}"));
            for (name, value) in [
                ("deep", nested_arrays(3_000)),
                ("doubling", nested_structures(24)),
                ("fine", nested_arrays(32)),
            ] {
                let started = std::time::Instant::now();
                h.push(buffer(|b| add_attributes(b, &[(name, value.clone())])))
                    .unwrap();
                let out = h.pull().unwrap();
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(5),
                    "{name}: {:?}",
                    started.elapsed()
                );
                // Left as it came: the stage changed objects, not attributes.
                let attrs = attributes(&out);
                assert_eq!(attrs.value(name).unwrap().type_(), value.type_());
            }
        })
        .unwrap()
        .join()
        .unwrap();
    let out: Vec<String> = py_eval("__import__('nested_attribute_reader').out");
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(
        out[0].contains("field 'deep'") && out[0].contains("nests deeper than 32"),
        "{out:?}"
    );
    assert!(
        out[1].contains("field 'doubling'") && out[1].contains("longer than the 1048576"),
        "{out:?}"
    );
    assert_eq!(out[2], "read");
}

#[test]
fn text_written_over_a_typed_attribute_is_not_handed_to_gstreamer_unbounded() {
    use gst::prelude::*;
    let stage = module(
        "deep_text_writer",
        r#"
        def process_frame(frame):
            frame.attributes["ratio"] = "{" * 30000 + "1" + "}" * 30000
            frame.attributes["other"] = "<" * 40 + "1" + ">" * 40
        "#,
    );
    let mut h = harness(&format!("savantpyfunc module={stage}"));
    h.push(buffer(|b| {
        add_attributes(
            b,
            &[
                ("ratio", gst::Fraction::new(1, 3).to_send_value()),
                ("other", nested_arrays(2)),
            ],
        )
    }))
    .unwrap();
    let out = attributes(&h.pull().unwrap());
    // Not parsed as a fraction or an array: kept as the text it is.
    assert_eq!(field_type(&out, "ratio"), glib::Type::STRING);
    assert_eq!(field_type(&out, "other"), glib::Type::STRING);
    assert_eq!(out.get::<&str>("ratio").unwrap().len(), 60_001);
}
