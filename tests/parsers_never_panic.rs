//! Property tests: the YAML parsers (kwargs, draw spec, module YAML), colours and
//! the frame layout mapping return errors on arbitrary input, never panic.
//!
//! More cases: `PROPTEST_CASES=100000 cargo test --release --test parsers_never_panic`.

use gstsavant::draw::color::Rgba;
use gstsavant::draw::spec::DrawSpec;
use gstsavant::frame::layout::FrameLayout;
use gstsavant::module::ModuleConfig;
use gstsavant::python::kwargs;
use proptest::prelude::*;
use serde_yaml::Value;

/// Keys the parsers know, so generated documents reach deep into them.
const KEYS: &[&str] = &[
    "name",
    "parameters",
    "buffer_queues",
    "length",
    "byte_size",
    "pipeline",
    "elements",
    "element",
    "pyfunc",
    "draw_func",
    "module",
    "class_name",
    "function",
    "kwargs",
    "queue",
    "properties",
    "writable",
    "on_error",
    "default",
    "labels",
    "car",
    "bbox",
    "label",
    "central_dot",
    "blur",
    "border_color",
    "background_color",
    "thickness",
    "padding",
    "left",
    "top",
    "right",
    "bottom",
    "font_color",
    "font_scale",
    "format",
    "position",
    "margin_x",
    "margin_y",
    "color",
    "radius",
    "identity",
    "silent",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Value::Number(f.into())),
        "[ -~]{0,12}".prop_map(Value::String),
        prop::sample::select(KEYS).prop_map(|k| Value::String(k.to_owned())),
        prop::sample::select(
            &[
                "FF0000FF",
                "{label} #{track_id}",
                "{attributes.x}",
                "{nope",
                "Center"
            ][..]
        )
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                Value::Mapping(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Value::String(k.to_owned()), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn parse_everything(text: &str) {
    let _ = kwargs::parse(text);
    let _ = DrawSpec::parse(text);
    let _ = ModuleConfig::parse(text, None);
    let _ = Rgba::parse(text);
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        parse_everything(&text);
    }

    #[test]
    fn yaml_shaped_text_never_panics(text in "[-a-z_{}\\[\\]:, \n\"'0-9.#!&*|>]{0,300}") {
        parse_everything(&text);
    }

    #[test]
    fn structured_documents_never_panic(doc in document()) {
        let text = serde_yaml::to_string(&doc).unwrap();
        parse_everything(&text);
        if let Ok(config) = ModuleConfig::parse(&text, None) {
            let _ = config.steps();
        }
    }

    #[test]
    fn frame_layouts_of_any_format_and_size_stay_in_bounds(
        format_index in 0usize..1000,
        width in 1u32..5000,
        height in 1u32..5000,
    ) {
        gst::init().unwrap();
        let count = gst_video::VideoFormat::iter_raw().count();
        let format = gst_video::VideoFormat::iter_raw().nth(format_index % count).unwrap();
        if let Ok(info) = gst_video::VideoInfo::builder(format, width, height).build() {
            let layout = FrameLayout::from_info(&info);
            prop_assert!(layout.check_fits(info.size()).is_ok(), "{format:?} {width}x{height}");
            for plane in 0..layout.n_planes {
                prop_assert!(layout.plane_end(plane).is_some_and(|end| end <= info.size()), "{format:?} {width}x{height} plane {plane}");
            }
        }
    }
}
