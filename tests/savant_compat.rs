//! The `savant` compatibility package (python/savant/): stages written against
//! Savant's documented API (NvDsPyFuncPlugin, NvDsFrameMeta, ObjectMeta,
//! NvDsDrawFunc, Artist) run unchanged and give the same objects, attributes and
//! pixels as the same logic written against `savant_gst`; what needs DeepStream
//! says so and points at the README.

mod common;

use common::{attributes, expect_error, init, module, py_eval, run};
use gst_video::VideoRegionOfInterestMeta;

/// Puts the checkout's `python/` on PYTHONPATH (where `savant` lives, as the README
/// says), before any test of this binary starts Python.
fn setup() {
    static PYTHONPATH: std::sync::Once = std::sync::Once::new();
    PYTHONPATH.call_once(|| {
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
        let path = match std::env::var("PYTHONPATH") {
            Ok(existing) if !existing.is_empty() => format!("{python}:{existing}"),
            _ => python.to_owned(),
        };
        std::env::set_var("PYTHONPATH", path);
    });
    init();
}

/// Every ROI meta of a buffer: label, box, ids and all params, as text.
fn objects(buffer: &gst::BufferRef) -> Vec<String> {
    buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|meta| {
            let params: Vec<String> = meta.params().map(|p| p.to_string()).collect();
            format!(
                "{} {:?} id={} parent={} {params:?}",
                meta.roi_type(),
                meta.rect(),
                meta.id(),
                meta.parent_id()
            )
        })
        .collect()
}

/// What a buffer carries: objects, frame attributes, pixels.
fn contents(buffer: &gst::BufferRef) -> (Vec<String>, Option<String>, Vec<u8>) {
    (
        objects(buffer),
        attributes(buffer).map(|s| s.to_string()),
        buffer.map_readable().unwrap().as_slice().to_vec(),
    )
}

fn assert_same_buffers(savant: &common::Run, ours: &common::Run) {
    assert!(savant.eos, "savant API: {savant:?}");
    assert!(ours.eos, "savant_gst: {ours:?}");
    assert!(!savant.buffers.is_empty());
    assert_eq!(savant.buffers.len(), ours.buffers.len());
    for (i, (a, b)) in savant.buffers.iter().zip(&ours.buffers).enumerate() {
        let (a, b) = (contents(a), contents(b));
        assert_eq!(a.0, b.0, "objects of frame {i}");
        assert_eq!(a.1, b.1, "frame attributes of frame {i}");
        let differing = a.2.iter().zip(&b.2).filter(|(x, y)| x != y).count();
        assert!(a.2 == b.2, "frame {i}: {differing} bytes differ");
    }
}

fn roi<'a>(
    buffer: &'a gst::BufferRef,
    label: &str,
) -> gst::meta::MetaRef<'a, VideoRegionOfInterestMeta> {
    buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .find(|m| m.roi_type() == label)
        .unwrap_or_else(|| panic!("no {label} on the frame"))
}

fn pixel(data: &[u8], width: usize, x: usize, y: usize) -> [u8; 4] {
    let i = (y * width + x) * 4;
    [data[i], data[i + 1], data[i + 2], data[i + 3]]
}

/// An upstream model stand-in (plain savant_gst): a dog and a cat.
fn upstream() -> String {
    module(
        "compat_upstream",
        r#"
        def process_frame(frame):
            frame.add_object("dog", (10, 10, 20, 20), track_id=3, model="upstream")
            frame.add_object("cat", (60, 60, 10, 10), model="upstream")
        "#,
    )
}

/// Written as Savant's documentation and samples write a pyfunc.
const SAVANT_ANALYTICS: &str = r#"
    from savant.deepstream.meta.frame import BBox, NvDsFrameMeta
    from savant.deepstream.pyfunc import NvDsPyFuncPlugin
    from savant.gstreamer import Gst
    from savant.meta.object import ObjectMeta


    class Analytics(NvDsPyFuncPlugin):
        def process_frame(self, buffer: Gst.Buffer, frame_meta: NvDsFrameMeta):
            primary = None
            for obj in frame_meta.objects:
                if obj.is_primary:
                    primary = obj
                elif obj.label == 'cat':
                    frame_meta.remove_obj_meta(obj)
                elif obj.label == 'dog':
                    obj.bbox.left += self.shift
                    obj.add_attr_meta('tracker', 'seen', frame_meta.frame_num)
                    obj.draw_label = 'dog_seen'
            car = ObjectMeta('detector', 'car', BBox(40, 30, 20, 10), confidence=0.5)
            frame_meta.add_obj_meta(car)
            car.add_attr_meta('classifier', 'color', 'red', 0.75)
            car.add_attr_meta('classifier', 'color', 'blue')
            wheel = ObjectMeta('detector', 'wheel', BBox.ltwh(32, 32, 4, 4), track_id=9, parent=car)
            frame_meta.add_obj_meta(wheel)
            primary.add_attr_meta('analytics', 'cars', 1)
            primary.add_attr_meta('analytics', 'line', [1, 2, 3, 4])
            frame_meta.set_tag('draw', True)
"#;

/// The same logic on savant_gst, with the keys the package documents.
const GST_ANALYTICS: &str = r#"
    class Analytics:
        def __init__(self, shift):
            self.shift = shift
            self.frames = 0

        def process_frame(self, frame):
            number, self.frames = self.frames, self.frames + 1
            for obj in list(frame.objects):
                if obj.label == 'cat':
                    frame.remove_object(obj)
                elif obj.label == 'dog':
                    obj.x += self.shift
                    obj.attributes['tracker.seen'] = number
                    obj.attributes['savant.draw_label'] = 'dog_seen'
            car = frame.add_object('car', (30, 25, 20, 10), confidence=0.5, model='detector')
            car.attributes['classifier.color'] = 'red'
            car.attributes['classifier.color:confidence'] = 0.75
            car.attributes['classifier.color#1'] = 'blue'
            frame.add_object('wheel', (32, 32, 4, 4), confidence=1.0, track_id=9,
                             parent_id=car.id, model='detector')
            frame.attributes['analytics.cars'] = 1
            frame.attributes['analytics.line'] = '[1, 2, 3, 4]'
            frame.attributes['analytics.line:json'] = True
            frame.attributes['draw'] = True
"#;

#[test]
fn a_savant_pyfunc_gives_the_objects_and_attributes_of_the_same_savant_gst_stage() {
    setup();
    let upstream = upstream();
    let pipeline = |stage: &str| {
        format!(
            "videotestsrc num-buffers=3 pattern=black ! video/x-raw,format=RGBA,width=96,height=64 \
             ! savantpyfunc module={upstream} ! savantpyfunc module={stage} class-name=Analytics \
             kwargs=\"{{shift: 5}}\" ! appsink name=sink"
        )
    };
    let savant = run(&pipeline(&module(
        "compat_savant_analytics",
        SAVANT_ANALYTICS,
    )));
    let ours = run(&pipeline(&module("compat_gst_analytics", GST_ANALYTICS)));
    assert_same_buffers(&savant, &ours);

    let buffer = &savant.buffers[2];
    let labels: Vec<&str> = buffer
        .iter_meta::<VideoRegionOfInterestMeta>()
        .map(|m| m.roi_type())
        .collect();
    assert_eq!(labels, ["dog", "car", "wheel"], "the cat was removed");
    let dog = roi(buffer, "dog");
    assert_eq!(dog.rect(), (15, 10, 20, 20), "bbox.left += shift (a kwarg)");
    let dog_attributes = dog.param("savant-object-attributes").unwrap();
    assert_eq!(
        dog_attributes.get::<i64>("tracker.seen").unwrap(),
        2,
        "frame_num"
    );
    assert_eq!(
        dog_attributes.get::<&str>("savant.draw_label").unwrap(),
        "dog_seen"
    );
    let car = roi(buffer, "car");
    assert_eq!(car.rect(), (30, 25, 20, 10), "BBox(xc, yc, w, h)");
    let car_object = car.param("savant-object").unwrap();
    assert_eq!(car_object.get::<&str>("model").unwrap(), "detector");
    let confidence = car.param("detection").unwrap().get::<f64>("confidence");
    assert_eq!(confidence.unwrap(), 0.5);
    let car_attributes = car.param("savant-object-attributes").unwrap();
    assert_eq!(
        car_attributes.get::<&str>("classifier.color").unwrap(),
        "red"
    );
    assert_eq!(
        car_attributes
            .get::<f64>("classifier.color:confidence")
            .unwrap(),
        0.75
    );
    assert_eq!(
        car_attributes.get::<&str>("classifier.color#1").unwrap(),
        "blue",
        "a second value of a multi-label attribute"
    );
    let wheel = roi(buffer, "wheel");
    assert_eq!(wheel.parent_id(), car.id(), "parent=car");
    let track_id = wheel.param("savant-object").unwrap().get::<i64>("track-id");
    assert_eq!(track_id.unwrap(), 9);
    let frame = attributes(buffer).unwrap();
    assert_eq!(
        frame.get::<i64>("analytics.cars").unwrap(),
        1,
        "primary attribute"
    );
    assert_eq!(frame.get::<&str>("analytics.line").unwrap(), "[1, 2, 3, 4]");
    assert!(frame.get::<bool>("analytics.line:json").unwrap());
    assert!(frame.get::<bool>("draw").unwrap(), "set_tag");
}

/// Savant's draw_func layout, the same file for both hooks.
const DRAW_SPEC: &str = r#"
parameters:
  draw_func:
    rendered_objects:
      detector:
        car:
          bbox: {border_color: "00FF00FF", thickness: 2}
          label: {format: ["{label} {confidence:.1f}"]}
        person:
          bbox: {border_color: "FFFFFFFF", thickness: 1}
"#;

/// Written as Savant's samples write a draw function.
const SAVANT_OVERLAY: &str = r#"
    from savant.deepstream.drawfunc import NvDsDrawFunc
    from savant.deepstream.meta.frame import BBox, NvDsFrameMeta
    from savant.meta.object import ObjectMeta
    from savant.utils.artist import Artist, Position
    from savant.deepstream.drawfunc import BoundingBoxDraw, ColorDraw, ObjectDraw, PaddingDraw


    class Overlay(NvDsDrawFunc):
        def override_draw_spec(self, object_meta: ObjectMeta, draw_spec: ObjectDraw) -> ObjectDraw:
            if object_meta.label == 'car':
                draw_spec = ObjectDraw(
                    bounding_box=BoundingBoxDraw(
                        border_color=ColorDraw(255, 0, 0, 255),
                        background_color=ColorDraw(0, 0, 0, 0),
                        thickness=1,
                        padding=PaddingDraw(),
                    ),
                    label=draw_spec.label,
                    central_dot=draw_spec.central_dot,
                    blur=draw_spec.blur,
                )
            elif object_meta.label == 'person':
                draw_spec = ObjectDraw(bounding_box=draw_spec.bounding_box, blur=True)
            return draw_spec

        def draw_on_frame(self, frame_meta: NvDsFrameMeta, artist: Artist):
            super().draw_on_frame(frame_meta, artist)
            frame_w, _ = artist.frame_wh
            artist.add_bbox(BBox(frame_w // 2, 4, frame_w, 8), border_width=0, bg_color=(0, 0, 255, 255))
            for obj in frame_meta.objects:
                if obj.is_primary:
                    cars = obj.get_attr_meta('analytics', 'cars').value
                    artist.add_text(f'cars: {cars}', (2, 2), 0.4, 1, anchor_point_type=Position.LEFT_TOP)
                elif obj.label == 'car':
                    artist.add_circle((round(obj.bbox.xc), round(obj.bbox.yc)), 3, [255, 255, 0, 255], -1)
                    artist.add_polygon(
                        [[obj.bbox.left, obj.bbox.bottom + 4], [obj.bbox.right, obj.bbox.bottom + 4]],
                        line_color=(255, 0, 255, 255),
                    )
                    artist.add_text(obj.draw_label, (obj.bbox.xc, obj.bbox.bottom + 14))
"#;

/// The same drawing on savant_gst: spec dicts, our Artist with Savant's values
/// spelled out (a centred label on black).
const GST_OVERLAY: &str = r#"
    class Overlay:
        def override_draw_spec(self, obj, spec):
            if obj.label == 'car':
                spec['bbox']['border_color'] = 'FF0000FF'
                spec['bbox']['thickness'] = 1
            elif obj.label == 'person':
                spec['blur'] = True

        def draw(self, frame, artist):
            artist.add_bbox((0, 0, frame.width, 8), border_width=0, bg_color=(0, 0, 255, 255))
            cars = frame.attributes['analytics.cars']
            artist.add_text(f'cars: {cars}', (2, 2), 0.4, bg_color=(0, 0, 0, 255), anchor_point_type='LEFT_TOP')
            for obj in frame.objects:
                if obj.label == 'car':
                    x, y, w, h = obj.box
                    artist.add_circle((round(x + w / 2), round(y + h / 2)), 3, (255, 255, 0, 255), -1)
                    artist.add_polygon([(x, y + h + 4), (x + w, y + h + 4)], line_color=(255, 0, 255, 255))
                    artist.add_text(obj.label, (x + w / 2, y + h + 14), bg_color=(0, 0, 0, 255),
                                    anchor_point_type='CENTER')
"#;

#[test]
fn a_savant_draw_func_draws_the_pixels_of_the_same_savant_gst_hook() {
    setup();
    let objects = module(
        "compat_draw_objects",
        r#"
        import numpy as np

        def process_frame(frame):
            np.asarray(frame)[::2, ::2] = (90, 160, 30, 255)   # texture for the blur
            frame.add_object('car', (10, 24, 30, 16), confidence=0.5, model='detector')
            frame.add_object('person', (60, 20, 20, 30), track_id=4, model='detector')
            frame.attributes['analytics.cars'] = 1
        "#,
    );
    let spec = common::module_dir().join("compat_draw_spec.yml");
    std::fs::write(&spec, DRAW_SPEC).unwrap();
    let pipeline = |hook: &str| {
        format!(
            "videotestsrc num-buffers=2 pattern=black ! video/x-raw,format=RGBA,width=96,height=64 \
             ! savantpyfunc module={objects} writable=true \
             ! savantdrawfunc draw-spec={} module={hook} class-name=Overlay ! appsink name=sink",
            spec.display()
        )
    };
    let savant = run(&pipeline(&module("compat_savant_overlay", SAVANT_OVERLAY)));
    let ours = run(&pipeline(&module("compat_gst_overlay", GST_OVERLAY)));
    assert_same_buffers(&savant, &ours);

    let data = savant.buffers[0].map_readable().unwrap();
    let at = |x, y| pixel(&data, 96, x, y);
    assert_eq!(
        at(10, 30),
        [255, 0, 0, 255],
        "car: border overridden to red"
    );
    assert_eq!(at(11, 30), [0, 0, 0, 255], "car: 1 px border (overridden)");
    assert_eq!(
        at(60, 40),
        [255, 255, 255, 255],
        "person: border as configured"
    );
    assert_eq!(at(25, 32), [255, 255, 0, 255], "central circle of the car");
    assert_eq!(
        at(20, 44),
        [255, 0, 255, 255],
        "a two-point polygon under the car"
    );
    assert_eq!(at(90, 6), [0, 0, 255, 255], "band from BBox(xc, yc, w, h)");
    // The person is blurred: its checkerboard became smooth.
    let inside: Vec<[u8; 4]> = (64..76).map(|x| at(x, 34)).collect();
    assert!(
        inside.iter().all(|p| p[1] > 20 && p[1] < 140),
        "blurred: {inside:?}"
    );
    assert_eq!(
        at(50, 34),
        [90, 160, 30, 255],
        "outside the person: not blurred"
    );
}

#[test]
fn a_draw_on_frame_without_super_draws_only_what_it_draws_as_in_savant() {
    setup();
    let car = module(
        "compat_one_car",
        r#"
        def process_frame(frame):
            frame.add_object('car', (10, 10, 30, 20), model='detector')
        "#,
    );
    let spec = common::module_dir().join("compat_dot_spec.yml");
    std::fs::write(
        &spec,
        "rendered_objects:\n  detector:\n    car: {central_dot: {color: \"FF0000FF\", radius: 4}}\n",
    )
    .unwrap();
    let overlay = |name: &str, body: &str| {
        module(
            name,
            &format!(
                "from savant.deepstream.drawfunc import NvDsDrawFunc\n\n\
                 class Overlay(NvDsDrawFunc):\n    \
                     def draw_on_frame(self, frame_meta, artist):\n        \
                         {body}\n        \
                         for obj in frame_meta.objects:\n            \
                             if not obj.is_primary:\n                \
                                 artist.add_bbox(obj.bbox, 3, (0, 0, 255, 255))\n"
            ),
        )
    };
    let draw = |hook: &str| {
        let result = run(&format!(
            "videotestsrc num-buffers=1 pattern=black ! video/x-raw,format=RGBA,width=64,height=48 \
             ! savantpyfunc module={car} ! savantdrawfunc draw-spec={} module={hook} \
             class-name=Overlay ! appsink name=sink",
            spec.display()
        ));
        assert!(result.eos, "{result:?}");
        let data = result.buffers[0]
            .map_readable()
            .unwrap()
            .as_slice()
            .to_vec();
        data
    };
    // Savant draws the objects' specs in the base draw_on_frame only.
    let alone = draw(&overlay("compat_no_super", "pass"));
    assert_eq!(
        pixel(&alone, 64, 10, 15),
        [0, 0, 255, 255],
        "the hook's box"
    );
    assert_eq!(pixel(&alone, 64, 25, 20), [0, 0, 0, 255], "no spec: no dot");
    let with_super = draw(&overlay(
        "compat_with_super",
        "super().draw_on_frame(frame_meta, artist)",
    ));
    assert_eq!(pixel(&with_super, 64, 10, 15), [0, 0, 255, 255]);
    assert_eq!(
        pixel(&with_super, 64, 25, 20),
        [255, 0, 0, 255],
        "the spec's dot"
    );
}

#[test]
fn a_savant_module_yaml_with_savant_classes_runs_unchanged() {
    setup();
    let upstream = upstream();
    let yaml = |analytics: &str, overlay: &str, name: &str| {
        let path = common::module_dir().join(name);
        std::fs::write(
            &path,
            format!(
                "name: compat\n\
                 parameters:\n  \
                   draw_func:\n    \
                     module: {overlay}\n    \
                     class_name: Overlay\n    \
                     rendered_objects:\n      \
                       detector:\n        \
                         car: {{bbox: {{border_color: \"00FF00FF\", thickness: 2}}}}\n\
                 pipeline:\n  \
                   elements:\n  \
                   - {{element: pyfunc, module: {upstream}}}\n  \
                   - {{element: pyfunc, module: {analytics}, class_name: Analytics, kwargs: {{shift: 5}}}}\n"
            ),
        )
        .unwrap();
        format!(
            "videotestsrc num-buffers=2 pattern=black ! video/x-raw,format=RGBA,width=96,height=64 \
             ! savantmodule config={} ! appsink name=sink",
            path.display()
        )
    };
    let savant = run(&yaml(
        &module("compat_module_savant_analytics", SAVANT_ANALYTICS),
        &module("compat_module_savant_overlay", SAVANT_OVERLAY),
        "compat_savant_module.yml",
    ));
    let ours = run(&yaml(
        &module("compat_module_gst_analytics", GST_ANALYTICS),
        &module("compat_module_gst_overlay", GST_OVERLAY),
        "compat_gst_module.yml",
    ));
    assert_same_buffers(&savant, &ours);
    let buffer = &savant.buffers[1];
    let data = buffer.map_readable().unwrap();
    assert_eq!(
        pixel(&data, 96, 30, 27),
        [255, 0, 0, 255],
        "the analytics' car, drawn by the overlay's override"
    );
    assert_eq!(pixel(&data, 96, 40, 31), [255, 255, 0, 255], "its dot");
    assert_eq!(objects(buffer).len(), 3, "dog, car, wheel");
}

#[test]
fn savant_hooks_see_sources_frame_numbers_and_source_eos_and_never_drop() {
    setup();
    let stage = module(
        "compat_sources",
        r#"
        from savant.deepstream.meta.frame import NvDsFrameMeta
        from savant.deepstream.pyfunc import NvDsPyFuncPlugin

        ENDED = []


        class PerSource(NvDsPyFuncPlugin):
            def process_frame(self, buffer, frame_meta: NvDsFrameMeta):
                frame_meta.set_tag('source', frame_meta.source_id)
                frame_meta.set_tag('frame_num', frame_meta.frame_num)
                frame_meta.set_tag('pts_matches', frame_meta.pts == buffer.pts)
                return False  # Savant ignores what process_frame returns

            def on_source_eos(self, source_id: str):
                ENDED.append(source_id)
        "#,
    );
    let result = run(&format!(
        "savantmux name=m sink_0::source-id=cam-a sink_1::source-id=cam-b \
         ! savantpyfunc module={stage} class-name=PerSource ! appsink name=sink \
         videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=32,height=32 ! m.sink_0 \
         videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=32,height=32 ! m.sink_1"
    ));
    assert!(result.eos, "{result:?}");
    let mut seen: Vec<(String, i64)> = result
        .buffers
        .iter()
        .map(|b| {
            let tags = attributes(b).unwrap();
            assert!(tags.get::<bool>("pts_matches").unwrap());
            (
                tags.get::<String>("source").unwrap(),
                tags.get::<i64>("frame_num").unwrap(),
            )
        })
        .collect();
    seen.sort();
    let expected: Vec<(String, i64)> = [
        ("cam-a", 0),
        ("cam-a", 1),
        ("cam-a", 2),
        ("cam-b", 0),
        ("cam-b", 1),
    ]
    .iter()
    .map(|(s, n)| (s.to_string(), *n))
    .collect();
    assert_eq!(seen, expected, "every frame passed, numbered per source");
    let mut ended: Vec<String> = py_eval("__import__('compat_sources').ENDED");
    ended.sort();
    assert_eq!(ended, ["cam-a", "cam-b"]);
}

#[test]
fn param_storage_reads_the_module_parameters() {
    setup();
    // The parameters as a mapping, interpolation included (a module YAML's path
    // works too, where PyYAML is installed).
    let stage = module(
        "compat_parameters",
        r#"
        from savant.parameter_storage import init_param_storage, param_storage
        from savant.deepstream.pyfunc import NvDsPyFuncPlugin

        init_param_storage({
            'detected_object': {'label': 'person'},
            'target': '${parameters.detected_object.label}',
            'width': '${oc.decode:${oc.env:COMPAT_UNSET_VARIABLE, 1280}}',
        })
        TARGET = param_storage()['target']


        class Stage(NvDsPyFuncPlugin):
            def process_frame(self, buffer, frame_meta):
                frame_meta.set_tag('target', TARGET)
                frame_meta.set_tag('width', param_storage()['width'])
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc module={stage} class-name=Stage ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let tags = attributes(&result.buffers[0]).unwrap();
    assert_eq!(tags.get::<&str>("target").unwrap(), "person");
    assert_eq!(
        tags.get::<i64>("width").unwrap(),
        1280,
        "a number, not text"
    );
}

#[test]
fn each_savantmodule_gives_its_stages_its_own_parameters() {
    setup();
    // One stage file in two modules: the constructor and every frame read the
    // parameters of the module the stage is in, interpolated by that module.
    let stage = module(
        "compat_module_parameters",
        r#"
        from savant.parameter_storage import param_storage
        from savant.deepstream.pyfunc import NvDsPyFuncPlugin


        class Stage(NvDsPyFuncPlugin):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.built_in = param_storage()['who']

            def process_frame(self, buffer, frame_meta):
                parameters = param_storage()
                frame_meta.set_tag(self.built_in + '_built_in', self.built_in)
                frame_meta.set_tag(parameters['who'] + '_size', parameters['size'])
        "#,
    );
    let yaml = |who: &str, base: u32| {
        let path = common::module_dir().join(format!("compat_parameters_{who}.yml"));
        std::fs::write(
            &path,
            format!(
                "parameters: {{who: {who}, base: {base}, size: '${{parameters.base}}'}}\n\
                 pipeline: {{elements: [{{element: pyfunc, module: {stage}, class_name: Stage}}]}}\n"
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantmodule config={} ! savantmodule config={} ! appsink name=sink",
        yaml("a", 7),
        yaml("b", 9)
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(result.buffers.len(), 2);
    for buffer in &result.buffers {
        let tags = attributes(buffer).unwrap();
        assert_eq!(tags.get::<&str>("a_built_in").unwrap(), "a");
        assert_eq!(tags.get::<&str>("b_built_in").unwrap(), "b");
        assert_eq!(
            tags.get::<i64>("a_size").unwrap(),
            7,
            "a number, interpolated"
        );
        assert_eq!(tags.get::<i64>("b_size").unwrap(), 9);
    }
}

#[test]
fn importing_deepstream_modules_is_an_error_pointing_at_the_readme() {
    setup();
    let pyds = module(
        "compat_pyds",
        r#"
        from savant.deepstream.pyfunc import NvDsPyFuncPlugin
        import pyds


        class Stage(NvDsPyFuncPlugin):
            pass
        "#,
    );
    let tensors = module(
        "compat_tensors",
        r#"
        from savant.deepstream.pyfunc import NvDsPyFuncPlugin
        from savant.deepstream.utils.tensor import nvds_infer_tensor_meta_to_outputs


        class Stage(NvDsPyFuncPlugin):
            pass
        "#,
    );
    for (stage, expected) in [
        (pyds, "pyds is part of NVIDIA DeepStream"),
        (
            tensors,
            "savant.deepstream.utils.tensor has no equivalent in gst-savant",
        ),
    ] {
        let result = run(&format!(
            "videotestsrc num-buffers=1 ! savantpyfunc module={stage} class-name=Stage \
             ! appsink name=sink"
        ));
        let (message, debug) = expect_error(&result);
        let text = format!("{message}\n{debug}");
        assert!(text.contains("ModuleNotFoundError"), "{text}");
        assert!(text.contains(expected), "{text}");
        assert!(text.contains("\"Coming from Savant\""), "{text}");
        assert!(result.buffers.is_empty());
    }
}

#[test]
fn a_bare_import_pyds_is_an_error_saying_what_to_use_instead() {
    // No savant import first: the element itself names what replaces pyds.
    let stage = module(
        "compat_bare_pyds",
        "import pyds\ndef process_frame(frame):\n    pass\n",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    let (message, debug) = expect_error(&result);
    let text = format!("{message}\n{debug}");
    // Said once: by the element, or by the savant package when another test of this
    // process imported it first.
    assert!(text.contains("ModuleNotFoundError"), "{text}");
    assert!(
        text.contains("pyds is NVIDIA DeepStream's")
            || text.contains("pyds is part of NVIDIA DeepStream"),
        "{text}"
    );
    assert_eq!(message.matches("Coming from Savant").count(), 1, "{text}");
    assert!(result.buffers.is_empty());
}

#[test]
fn deepstream_only_calls_raise_not_implemented_with_the_readme_hint() {
    setup();
    let draw = module(
        "compat_add_graphic",
        r#"
        from savant.deepstream.drawfunc import NvDsDrawFunc


        class Overlay(NvDsDrawFunc):
            def draw_on_frame(self, frame_meta, artist):
                artist.add_graphic(None, (0, 0))
        "#,
    );
    let gpu_mat = module(
        "compat_gpu_mat",
        r#"
        from savant.deepstream.opencv_utils import nvds_to_gpu_mat
        from savant.deepstream.pyfunc import NvDsPyFuncPlugin


        class Blur(NvDsPyFuncPlugin):
            def process_frame(self, buffer, frame_meta):
                with nvds_to_gpu_mat(buffer, frame_meta.frame_meta) as frame_mat:
                    pass
        "#,
    );
    let cuda_stream = module(
        "compat_cuda_stream",
        r#"
        from savant.deepstream.pyfunc import NvDsPyFuncPlugin


        class Stage(NvDsPyFuncPlugin):
            def process_frame(self, buffer, frame_meta):
                self.get_cuda_stream(frame_meta)
        "#,
    );
    for (element, what) in [
        (
            format!("savantdrawfunc module={draw} class-name=Overlay"),
            "Artist.add_graphic",
        ),
        (
            format!("savantpyfunc module={gpu_mat} class-name=Blur"),
            "nvds_to_gpu_mat",
        ),
        (
            format!("savantpyfunc module={cuda_stream} class-name=Stage"),
            "get_cuda_stream",
        ),
    ] {
        let result = run(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=16,height=16 \
             ! {element} ! appsink name=sink"
        ));
        let (message, debug) = expect_error(&result);
        assert!(
            message.contains(&format!("NotImplementedError: {what}"))
                && message.contains("is not available in gst-savant")
                && message.contains("\"Coming from Savant\""),
            "{message}\n{debug}"
        );
    }
}
