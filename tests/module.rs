//! savantmodule and `gstsavant::module::build_bin`: Savant module YAML as a bin.

mod common;

use common::{attributes, expect_error, init, module, run};
use gst::prelude::*;

fn write_config(name: &str, yaml: &str) -> String {
    let path = common::module_dir().join(format!("{name}.yml"));
    std::fs::create_dir_all(common::module_dir()).unwrap();
    std::fs::write(&path, yaml).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn module_yaml_builds_stages_with_savant_queues() {
    let stage = module(
        "module_counter",
        r#"
        class Counter:
            def __init__(self, step):
                self.n = 0
                self.step = step
            def process_frame(self, frame):
                self.n += self.step
                frame.attributes["n"] = self.n
        "#,
    );
    let config = write_config(
        "counter_module",
        &format!(
            r#"
name: counter
parameters:
  buffer_queues: {{length: 2, byte_size: 0}}
pipeline:
  elements:
  - element: pyfunc
    name: first
    module: {stage}
    class_name: Counter
    kwargs: {{step: 1}}
  - element: identity
    properties: {{silent: true}}
  - element: pyfunc
    name: second
    module: {stage}
    class_name: Counter
    kwargs: {{step: 10}}
"#
        ),
    );
    init();
    let pipeline = common::launch(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantmodule name=m config={config} ! appsink name=sink"
    ));
    let bin = pipeline
        .by_name("m")
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let mut children: Vec<String> = bin
        .iterate_sorted()
        .into_iter()
        .map(|e| e.unwrap().factory().unwrap().name().to_string())
        .collect();
    children.reverse(); // iterate_sorted goes sink to source
    assert_eq!(
        children,
        [
            // Savant's frames are RGBA
            "videoconvert",
            "capsfilter",
            "savantqueue",
            "savantpyfunc",
            "savantqueue",
            "identity",
            "savantqueue",
            "savantpyfunc",
            "savantqueue"
        ]
    );
    let queue = bin.by_name("queue0").unwrap();
    assert_eq!(queue.property::<u32>("length"), 2);
    drop(pipeline);

    let result = run(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantmodule config={config} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    // The second stage overwrote the attribute: 10, 20, ... (kwargs reached each class).
    let values: Vec<i64> = result
        .buffers
        .iter()
        .map(|b| attributes(b).unwrap().get::<i64>("n").unwrap())
        .collect();
    assert_eq!(values, vec![10, 20, 30, 40, 50]);
}

#[test]
fn build_bin_is_a_rust_api() {
    init();
    let stage = module(
        "module_api_stage",
        "def process_frame(frame):\n    frame.attributes['api'] = True\n",
    );
    let bin = gstsavant::module::build_bin(&format!(
        "pipeline:\n  elements:\n  - {{element: pyfunc, module: {stage}}}\n"
    ))
    .unwrap();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc")
        .property("num-buffers", 2)
        .build()
        .unwrap();
    let caps = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "GRAY8")
                .build(),
        )
        .build()
        .unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline
        .add_many([&src, &caps, bin.upcast_ref(), &sink])
        .unwrap();
    gst::Element::link_many([&src, &caps, bin.upcast_ref(), &sink]).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    common::wait_for_eos(&pipeline, std::time::Duration::from_secs(30));
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn stages_post_stats_messages_with_a_verdict_at_eos() {
    let stage = module("module_stats", "def process_frame(frame):\n    pass\n");
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=20 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantqueue length=3 ! savantpyfunc module={stage} ! fakesink"
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut names = Vec::new();
    let mut verdict = String::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                names.push(s.name().to_string());
                if s.name() == "savantpyfunc-stats" {
                    assert_eq!(s.get::<u64>("frames").unwrap(), 20);
                    verdict = s.get::<String>("verdict").unwrap();
                }
                if s.name() == "savantqueue-stats" {
                    assert_eq!(s.get::<u64>("passed").unwrap(), 20);
                    assert!(s.get::<u64>("max-level-buffers").unwrap() <= 3);
                }
            }
            gst::MessageView::Eos(_) | gst::MessageView::Error(_) => break,
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    names.sort();
    assert_eq!(names, ["savantpyfunc-stats", "savantqueue-stats"]);
    // Which verdict depends on how long 20 no-op calls took on a loaded machine (a
    // mean over 10 us leaves too few GIL samples for one): gil_probe's unit tests
    // cover the rule itself. Here: the stage reached a verdict on its frames.
    assert!(
        verdict.starts_with("GIL-bound (calls under 10 us)")
            || verdict == "not enough samples for a verdict",
        "{verdict}"
    );
}

#[test]
fn bad_module_configs_fail_with_the_yaml_path() {
    let cases = [
        (
            "pipeline:\n  elements:\n  - {element: no_such_factory_xyz}\n",
            "pipeline.elements[0].element: no GStreamer element 'no_such_factory_xyz'",
        ),
        (
            "pipeline:\n  elements:\n  - {element: identity}\n  - {element: pyfunc}\n",
            "pipeline.elements[1].module: missing",
        ),
        (
            "pipeline:\n  elements:\n  - {element: identity, properties: {no_such_prop: 1}}\n",
            "pipeline.elements[0].no_such_prop: identity has no property 'no_such_prop'",
        ),
        (
            "pipeline:\n  elements:\n  - {element: identity, properties: {silent: maybe}}\n",
            "pipeline.elements[0].silent: cannot use \"maybe\" for 'silent' (gboolean)",
        ),
        ("pipeline: [", "invalid YAML"),
    ];
    for (yaml, expected) in cases {
        let config = write_config("bad_module", yaml);
        let result = run(&format!(
            "videotestsrc num-buffers=1 ! savantmodule config={config} ! appsink name=sink"
        ));
        let (message, _) = expect_error(&result);
        assert!(message.contains(expected), "{yaml:?}: {message}");
    }
}

#[test]
fn draw_func_entries_become_savantdrawfunc_with_their_spec() {
    let stage = module(
        "module_draw_objects",
        "def process_frame(frame):\n    frame.add_object('car', (4, 4, 8, 8), track_id=1)\n",
    );
    let config = write_config(
        "draw_module",
        &format!(
            r#"
parameters: {{buffer_queues: {{length: 2}}}}
pipeline:
  elements:
  - {{element: pyfunc, module: {stage}}}
  - element: draw_func
    name: painter
    draw_spec:
      labels:
        car: {{bbox: {{border_color: "FF0000FF", thickness: 1}}}}
"#
        ),
    );
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 pattern=black ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantmodule name=m config={config} ! appsink name=sink"
    ))
    .unwrap();
    let painter = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("m")
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name("painter")
        .unwrap();
    assert_eq!(painter.factory().unwrap().name(), "savantdrawfunc");
    assert!(painter.property::<String>("draw-spec").contains("FF0000FF"));
    drop(pipeline);
    let result = run(&format!(
        "videotestsrc num-buffers=2 pattern=black ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantmodule config={config} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let data = result.buffers[1].map_readable().unwrap();
    let at = |x: usize, y: usize| &data[(y * 16 + x) * 4..(y * 16 + x) * 4 + 3];
    assert_eq!(at(4, 4), [255, 0, 0], "the box was drawn");
}

/// A module of one identity element and, if `includes` is given, a savantmodule
/// entry with that config.
fn including_config(name: &str, includes: Option<&str>) -> String {
    let path = common::module_dir().join(format!("{name}.yml"));
    let nested = includes
        .map(|inner| {
            format!(
                "  - element: savantmodule\n    properties: {{config: {}}}\n",
                common::module_dir().join(format!("{inner}.yml")).display()
            )
        })
        .unwrap_or_default();
    write_config(
        name,
        &format!("pipeline:\n  elements:\n  - element: identity\n{nested}"),
    );
    path.to_string_lossy().into_owned()
}

fn launch_module(config: &str) -> common::Run {
    run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantmodule config={config} ! appsink name=sink"
    ))
}

#[test]
fn a_module_that_includes_itself_is_an_error_naming_the_chain() {
    let config = including_config("selfish", Some("selfish"));
    let (message, _) = expect_error(&launch_module(&config));
    assert!(
        message.contains("includes itself: selfish.yml -> selfish.yml"),
        "{message}"
    );
}

#[test]
fn an_include_cycle_through_two_files_is_an_error_naming_the_chain() {
    let a = including_config("cycle_a", Some("cycle_b"));
    including_config("cycle_b", Some("cycle_a"));
    let (message, _) = expect_error(&launch_module(&a));
    assert!(
        message.contains("cycle_a.yml -> cycle_b.yml -> cycle_a.yml"),
        "{message}"
    );
    // The Rust API answers the same, at once.
    init();
    let error = gstsavant::module::build_bin(&a).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("includes itself: cycle_a.yml -> cycle_b.yml -> cycle_a.yml"),
        "{error}"
    );
}

#[test]
fn modules_nest_up_to_a_depth_limit() {
    // depth_0 -> depth_1 -> ... -> depth_19: distinct files, no cycle, too deep.
    for i in 0..20 {
        let next = format!("depth_{}", i + 1);
        including_config(&format!("depth_{i}"), (i < 19).then_some(next.as_str()));
    }
    let first = common::module_dir().join("depth_0.yml");
    let (message, _) = expect_error(&launch_module(&first.to_string_lossy()));
    assert!(message.contains("nest deeper than 16"), "{message}");
    assert!(message.contains("depth_0.yml -> depth_1.yml"), "{message}");
    // A shallow nesting (depth_17 -> depth_18 -> depth_19) builds and runs.
    let shallow = common::module_dir().join("depth_17.yml");
    let run = launch_module(&shallow.to_string_lossy());
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(run.buffers.len(), 2);
}

#[test]
fn draw_spec_paths_resolve_against_the_module_yaml() {
    let stage = module(
        "relative_spec_stage",
        "def process_frame(frame):\n    frame.add_object('car', (4, 4, 20, 20))\n",
    );
    let dir = common::module_dir().join("relative_spec");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("boxes.yml"),
        "labels: {car: {bbox: {border_color: 0000FFFF, thickness: 1}}}\n",
    )
    .unwrap();
    let config = dir.join("module.yml");
    std::fs::write(
        &config,
        format!(
            "pipeline:\n  elements:\n  - {{element: pyfunc, module: {stage}}}\n  \
             - {{element: draw_func, draw_spec: boxes.yml}}\n"
        ),
    )
    .unwrap();
    // The working directory (the crate root) has no boxes.yml.
    assert!(!std::path::Path::new("boxes.yml").exists());
    let result = run(&format!(
        "videotestsrc num-buffers=1 pattern=black ! video/x-raw,format=RGBA,width=32,height=32 \
         ! savantmodule config={} ! appsink name=sink",
        config.display()
    ));
    assert!(result.eos, "{result:?}");
    let data = result.buffers[0].map_readable().unwrap();
    let i = (10 * 32 + 4) * 4;
    assert_eq!(
        &data[i..i + 4],
        [0, 0, 255, 255],
        "left border from boxes.yml"
    );
}

/// Savant settings that mean something only inside Savant's runtime (telemetry,
/// etcd, output_frame) are accepted, and one WARNING names them.
#[test]
fn savant_settings_this_plugin_does_not_apply_are_named_in_one_warning() {
    let config =
        std::env::temp_dir().join(format!("savant-ignored-keys-{}.yml", std::process::id()));
    std::fs::write(
        &config,
        "name: ignored_keys\n\
         parameters:\n  telemetry: {sampling_period: 100}\n  etcd: {hosts: ['127.0.0.1:2379']}\n  \
         output_frame: {codec: raw-rgba, condition: {tag: encode}}\n  batch_size: 1\n\
         pipeline:\n  elements:\n  - element: identity\n",
    )
    .unwrap();
    let result = run(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantmodule config={} ! appsink name=sink",
        config.display()
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(result.buffers.len(), 3);
    assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
    let warning = &result.warnings[0].0;
    for key in [
        "parameters.telemetry",
        "parameters.etcd",
        "parameters.output_frame",
    ] {
        assert!(warning.contains(key), "{warning}");
    }
    assert!(!warning.contains("batch_size"), "{warning}");
    std::fs::remove_file(&config).ok();
}

#[test]
fn a_module_gives_its_stages_rgba_frames_whatever_the_decoder_gives() {
    let stage = module(
        "module_rgba",
        r#"
        import numpy as np
        SHAPES = []
        def process_frame(frame):
            SHAPES.append((frame.format, np.asarray(frame).shape))
        "#,
    );
    let config = write_config(
        "rgba_module",
        &format!("pipeline:\n  elements:\n  - {{element: pyfunc, module: {stage}}}\n"),
    );
    // I420, as decoders give it, and real video through decodebin.
    for source in [
        "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=32,height=24".to_owned(),
        "filesrc location=/usr/share/doc/opencv-doc/examples/data/vtest.avi ! decodebin \
         ! identity eos-after=3"
            .to_owned(),
    ] {
        let result = run(&format!(
            "{source} ! savantmodule config={config} ! appsink name=sink"
        ));
        assert!(result.eos, "{result:?}");
        let shapes: Vec<(String, Vec<usize>)> = common::py_eval("__import__('module_rgba').SHAPES");
        assert!(!shapes.is_empty());
        for (format, shape) in shapes {
            assert_eq!(format, "RGBA");
            assert_eq!(shape.len(), 3);
            assert_eq!(shape[2], 4);
        }
    }
}

/// Every ROI meta of a buffer: label and box.
fn boxes(buffer: &gst::BufferRef) -> Vec<(String, (u32, u32, u32, u32))> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .map(|m| (m.roi_type().to_string(), m.rect()))
        .collect()
}

#[test]
fn savants_frame_padding_adds_borders_and_objects_follow_the_picture() {
    // Upstream: a white 64x48 frame with a car at (10, 10). Inside the module: a
    // stage that records the frame it sees and the primary object, and adds a
    // person in padded coordinates, one of them inside the top border.
    let upstream = module(
        "padding_upstream",
        "def process_frame(frame):\n    frame.add_object('car', (10, 10, 20, 20))\n",
    );
    let inside = module(
        "padding_inside",
        r#"
        import numpy as np
        SEEN = []
        def process_frame(frame):
            pixels = np.asarray(frame)
            SEEN.append((frame.width, frame.height, frame.attributes.get('savant.roi'),
                         [(o.label, tuple(o.box)) for o in frame.objects],
                         pixels[0, 0].tolist(), pixels[20, 12].tolist()))
            frame.add_object('person', (18, 26, 20, 20))
            frame.add_object('sign', (0, 0, 8, 8))
        "#,
    );
    for keep in [true, false] {
        let config = write_config(
            &format!("padding_{keep}"),
            &format!(
                "parameters:\n  frame: {{width: 64, height: 48, padding: {{keep: {keep}, left: 8, top: 16, right: 8, bottom: 0}}}}\n\
                 pipeline:\n  elements:\n  - {{element: pyfunc, module: {inside}}}\n"
            ),
        );
        let result = run(&format!(
            "videotestsrc num-buffers=2 pattern=white ! video/x-raw,format=RGBA,width=64,height=48 \
             ! savantpyfunc module={upstream} ! savantmodule config={config} ! appsink name=sink"
        ));
        assert!(result.eos, "{result:?}");
        assert_eq!(result.buffers.len(), 2, "no frame dropped");
        type Seen = (
            u32,
            u32,
            Option<String>,
            Vec<(String, (u32, u32, u32, u32))>,
            Vec<u8>,
            Vec<u8>,
        );
        let seen: Vec<Seen> = common::py_eval("__import__('padding_inside').SEEN[-2:]");
        assert_eq!(seen.len(), 2);
        for (width, height, roi, objects, corner, inner) in seen {
            assert_eq!((width, height), (80, 64), "64x48 with 8+8 and 16+0 borders");
            assert_eq!(
                roi.as_deref(),
                Some("8,16,64,48"),
                "the picture inside the borders"
            );
            assert_eq!(
                objects,
                [("car".to_owned(), (18, 26, 20, 20))],
                "the upstream car moved with the picture"
            );
            assert_eq!(corner, [0, 0, 0, 255], "black border");
            assert_eq!(inner, [255, 255, 255, 255], "the picture");
        }
        let out = &result.buffers[0];
        if keep {
            assert_eq!(out.size(), 80 * 64 * 4);
            assert_eq!(
                boxes(out),
                [
                    ("car".to_owned(), (18, 26, 20, 20)),
                    ("person".to_owned(), (18, 26, 20, 20)),
                    ("sign".to_owned(), (0, 0, 8, 8)),
                ]
            );
        } else {
            assert_eq!(out.size(), 64 * 48 * 4, "the borders cut off again");
            assert_eq!(
                boxes(out),
                [
                    ("car".to_owned(), (10, 10, 20, 20)),
                    ("person".to_owned(), (10, 10, 20, 20)),
                    ("sign".to_owned(), (0, 0, 0, 0)),
                ],
                "back in the picture's coordinates; the sign in the border is clipped to nothing"
            );
            let data = out.map_readable().unwrap();
            assert!(
                data.iter().all(|b| *b == 255),
                "only the white picture is left"
            );
        }
    }
}
