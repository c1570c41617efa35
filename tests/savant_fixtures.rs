//! Savant's documented layouts, written out as fixtures (tests/fixtures/savant/):
//! the draw_func block, a module YAML with parameters, interpolation, frame, groups
//! and draw_func, and a DeepStream unit. Each loads and runs in a real pipeline.

mod common;

use common::{attributes, expect_error, init, module, run};
use gst::prelude::*;

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/savant/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn pixel(data: &[u8], width: usize, x: usize, y: usize) -> [u8; 4] {
    let i = (y * width + x) * 4;
    [data[i], data[i + 1], data[i + 2], data[i + 3]]
}

#[test]
fn savants_documented_draw_spec_loads_and_draws() {
    let stage = module(
        "fixture_spec_objects",
        r#"
        def process_frame(frame):
            frame.add_object("car", (8, 8, 100, 100), confidence=0.87, track_id=5)
            frame.add_object("bus", (112, 112, 10, 10))
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=1 pattern=black ! video/x-raw,format=RGBA,width=128,height=128 \
         ! savantpyfunc module={stage} ! savantdrawfunc draw-spec={} ! appsink name=sink",
        fixture("draw_spec.yml")
    ));
    assert!(result.eos, "{result:?}");
    let data = result.buffers[0].map_readable().unwrap().to_vec();
    let at = |x, y| pixel(&data, 128, x, y);
    assert_eq!(at(60, 107), [255, 0, 0, 255], "car's box border (bottom)");
    assert_eq!(at(107, 90), [255, 0, 0, 255], "car's box border (right)");
    assert_eq!(
        at(58, 58),
        [0, 255, 0, 255],
        "car's central dot, drawn last as Savant does"
    );
    // TopLeftInside: four label lines on black from the box's top-left corner down.
    let label_rows = (9..70)
        .filter(|&y| (10..100).any(|x| at(x, y)[0] > 200 && at(x, y)[1] > 200))
        .count();
    assert!(
        label_rows > 20,
        "white label text inside the box: {label_rows} rows"
    );
    let last_text_row = (9..107)
        .rev()
        .find(|&y| (10..100).any(|x| at(x, y)[0] > 200 && at(x, y)[1] > 200))
        .unwrap();
    assert!(
        last_text_row < 100,
        "four lines, not more: text down to y {last_text_row}"
    );
    // rendered_objects lists only detector's cars: the bus is not drawn.
    assert!((110..128).all(|x| (110..128).all(|y| at(x, y) == [0, 0, 0, 255])));
}

#[test]
fn savants_documented_module_yaml_loads_and_runs() {
    init();
    let config = fixture("module.yml");
    let bin = gstsavant::module::build_bin(&config).unwrap();
    assert_eq!(
        bin.name(),
        "savant_fixture",
        "name from ${{oc.env:..., default}}"
    );
    let mut children: Vec<String> = bin
        .iterate_sorted()
        .into_iter()
        .map(|e| e.unwrap().factory().unwrap().name().to_string())
        .collect();
    children.reverse();
    assert_eq!(
        children,
        [
            // parameters.frame
            "videoconvert",
            "videoscale",
            "capsfilter",
            "savantqueue",
            "savantpyfunc", // detector
            "savantqueue",
            "savantpyfunc", // pygroup: no queues between its members
            "savantpyfunc",
            "savantpyfunc",
            "savantqueue",
            "savantpyfunc", // the group whose init_condition holds
            "savantqueue",
            "savantdrawfunc", // parameters.draw_func
        ]
    );
    let detector = bin
        .iterate_elements()
        .into_iter()
        .map(Result::unwrap)
        .find(|e| {
            e.factory().unwrap().name() == "savantpyfunc"
                && e.property::<Option<String>>("class-name").as_deref() == Some("Detector")
        })
        .unwrap();
    let kwargs = detector.property::<Option<String>>("kwargs").unwrap();
    assert!(
        kwargs.contains("min_width: 24") && kwargs.contains("min_height: 24"),
        "{kwargs}"
    );

    let result = run(&format!(
        "videotestsrc num-buffers=3 pattern=black ! video/x-raw,format=RGBA,width=32,height=32 \
         ! savantmodule config={config} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(result.buffers.len(), 3);
    for buffer in &result.buffers {
        assert_eq!(buffer.size(), 64 * 64 * 4, "scaled to parameters.frame");
        let steps = attributes(buffer).unwrap().get::<String>("steps").unwrap();
        assert_eq!(
            steps, "abcg",
            "pygroup members in order, then the enabled group"
        );
        let data = buffer.map_readable().unwrap();
        // The detector's 24x24 car (size from ${parameters.object_min_size}), drawn
        // by draw_func's rendered_objects.detector.car.
        assert_eq!(pixel(&data, 64, 8, 24), [255, 0, 0, 255], "box border");
        assert_eq!(pixel(&data, 64, 31, 24), [255, 0, 0, 255], "box border");
        assert_eq!(pixel(&data, 64, 20, 24), [0, 0, 0, 255], "inside untouched");
    }
}

#[test]
fn deepstream_units_are_an_error_naming_the_unit() {
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! savantmodule config={} ! appsink name=sink",
        fixture("deepstream.yml")
    ));
    let (message, _) = expect_error(&result);
    assert!(
        message
            .contains("pipeline.elements[0].element: 'nvinfer@detector' needs NVIDIA DeepStream"),
        "{message}"
    );
    for unit in ["nvtracker", "nvdsosd", "nvinfer@classifier"] {
        let error = gstsavant::module::ModuleConfig::parse(
            &format!("pipeline: {{elements: [{{element: identity}}, {{element: '{unit}'}}]}}"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(&format!(
                "pipeline.elements[1].element: '{unit}' needs NVIDIA DeepStream"
            )),
            "{error}"
        );
    }
}

#[test]
fn interpolation_errors_and_bad_frame_keys_name_the_yaml_path() {
    for (yaml, expected) in [
        (
            "parameters: {a: 1}\npipeline: {elements: [{element: identity, name: '${parameters.b}'}]}\n",
            "pipeline.elements[0].name: ${parameters.b}: no key \"b\"",
        ),
        (
            "parameters: {frame: {width: 64, height: 64, padding: {left: 4}}}\n",
            "parameters.frame.padding.left: must be a multiple of geometry_base (8), got 4",
        ),
        (
            "parameters: {frame: {padding: {top: 8}}}\n",
            "parameters.frame.padding: needs frame.width and frame.height",
        ),
        (
            "parameters: {frame: {width: 32768, height: 64, padding: {left: 8}}}\n",
            "parameters.frame.padding: makes frames of 32776x64, more than 32768 on a side",
        ),
        (
            "parameters: {draw_func: {rendered_objects: {det: {car: {label: {format: ['{conf}']}}}}}}\n",
            "parameters.draw_func.rendered_objects.det.car.label.format[0]: unknown placeholder {conf}",
        ),
        (
            "pipeline: {elements: [{element: pygroup, elements: [{element: identity}]}]}\n",
            "pipeline.elements[0].elements[0].element: a pygroup holds pyfunc entries only",
        ),
    ] {
        let error = gstsavant::module::ModuleConfig::parse(yaml, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{yaml}: {error}");
    }
}

#[test]
fn a_module_yaml_with_only_draw_func_draws_savants_default() {
    let stage = module(
        "fixture_default_draw",
        "def process_frame(frame):\n    frame.add_object('dog', (10, 20, 30, 30))\n",
    );
    let config = common::module_dir().join("draw_only.yml");
    std::fs::create_dir_all(common::module_dir()).unwrap();
    std::fs::write(
        &config,
        format!("parameters:\n  draw_func: {{}}\npipeline:\n  elements:\n  - {{element: pyfunc, module: {stage}}}\n"),
    )
    .unwrap();
    let result = run(&format!(
        "videotestsrc num-buffers=1 pattern=black ! video/x-raw,format=RGBA,width=64,height=64 \
         ! savantmodule config={} ! appsink name=sink",
        config.display()
    ));
    assert!(result.eos, "{result:?}");
    let data = result.buffers[0].map_readable().unwrap();
    assert_eq!(
        pixel(&data, 64, 10, 40),
        [0, 255, 0, 255],
        "Savant's green box"
    );
}
