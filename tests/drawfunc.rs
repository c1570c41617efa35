//! savantdrawfunc: exact pixels for boxes and fills, real text inside label boxes,
//! blur confined to its object, I420/NV12 matching RGBA, the Python Artist hook and
//! bad specs.

mod common;

use common::{expect_error, init, module, run};
use gst::prelude::*;

/// An object to put on the input frame: label and (x, y, w, h).
type Object<'a> = (&'a str, (u32, u32, u32, u32));

const W: u32 = 64;
const H: u32 = 64;

fn roi(
    buffer: &mut gst::BufferRef,
    label: &str,
    rect: (u32, u32, u32, u32),
    track_id: Option<i64>,
) {
    let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, label, rect);
    if let Some(track_id) = track_id {
        meta.add_param(
            gst::Structure::builder("savant-object")
                .field("track-id", track_id)
                .build(),
        );
    }
}

/// Pushes one black (or `fill`) RGBA frame with `objects` through savantdrawfunc.
fn draw_rgba(props: &[(&str, &str)], fill: [u8; 4], objects: &[Object<'_>]) -> Vec<u8> {
    init();
    let element = gst::ElementFactory::make("savantdrawfunc").build().unwrap();
    for (name, value) in props {
        element.set_property_from_str(name, value);
    }
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps_str(&format!(
        "video/x-raw,format=RGBA,width={W},height={H},framerate=25/1"
    ));
    let data: Vec<u8> = (0..W * H).flat_map(|_| fill).collect();
    let mut buffer = gst::Buffer::from_mut_slice(data);
    for (label, rect) in objects {
        roi(buffer.get_mut().unwrap(), label, *rect, Some(4));
    }
    let out = h.push_and_pull(buffer).expect("a drawn frame");
    let data = out.map_readable().unwrap().to_vec();
    data
}

/// Writes `source` as module `name`, draws a black frame with no objects through its
/// `Overlay` class, and checks `expected` (as [`assert_pixels`]); the frame drawn.
fn assert_overlay_draws(
    name: &str,
    source: &str,
    expected: &[((u32, u32), [u8; 4], &str)],
) -> Vec<u8> {
    let hook = module(name, source);
    let out = draw_rgba(
        &[("module", hook.as_str()), ("class-name", "Overlay")],
        [0, 0, 0, 255],
        &[],
    );
    assert_pixels(&out, expected);
    out
}

fn pixel(data: &[u8], x: u32, y: u32) -> [u8; 4] {
    let i = ((y * W + x) * 4) as usize;
    [data[i], data[i + 1], data[i + 2], data[i + 3]]
}

/// Each `((x, y), rgba, what)`: the pixel at (x, y) is `rgba`.
fn assert_pixels(data: &[u8], expected: &[((u32, u32), [u8; 4], &str)]) {
    for &((x, y), rgba, what) in expected {
        assert_eq!(pixel(data, x, y), rgba, "{what} at ({x}, {y})");
    }
}

const BOX_SPEC: &str = r#"
labels:
  car:
    bbox: {border_color: "FF0000FF", background_color: "0000FFFF", thickness: 2}
  bus:
    bbox: {border_color: "00000000", background_color: "00FF0080", thickness: 0}
"#;

#[test]
fn box_borders_and_fills_have_exact_colours() {
    let out = draw_rgba(
        &[("draw-spec", BOX_SPEC)],
        [0, 0, 0, 255],
        &[("car", (10, 10, 20, 20))],
    );
    assert_pixels(
        &out,
        &[
            ((10, 10), [255, 0, 0, 255], "top-left border"),
            ((11, 20), [255, 0, 0, 255], "second border column"),
            ((29, 29), [255, 0, 0, 255], "bottom-right border"),
            ((12, 20), [0, 0, 255, 255], "fill inside the border"),
            ((9, 9), [0, 0, 0, 255], "outside the box"),
            ((30, 30), [0, 0, 0, 255], "outside the box"),
        ],
    );
}

#[test]
fn translucent_fills_blend() {
    let out = draw_rgba(
        &[("draw-spec", BOX_SPEC)],
        [200, 0, 0, 255],
        &[("bus", (0, 0, 8, 8))],
    );
    let [r, g, b, _] = pixel(&out, 4, 4);
    // 50% green over red 200.
    assert!(
        (99..=101).contains(&r) && (127..=129).contains(&g) && b == 0,
        "{r} {g} {b}"
    );
}

#[test]
fn labels_with_no_spec_entry_are_not_drawn_and_no_spec_means_savant_default() {
    let out = draw_rgba(
        &[("draw-spec", BOX_SPEC)],
        [0, 0, 0, 255],
        &[("tree", (10, 10, 20, 20))],
    );
    assert!(out.chunks(4).all(|p| p == [0, 0, 0, 255]));
    // No spec: green box and a white-on-black "tree #4" above it.
    let out = draw_rgba(&[], [40, 40, 40, 255], &[("tree", (10, 30, 20, 20))]);
    assert_eq!(pixel(&out, 10, 40), [0, 255, 0, 255]);
    let label_pixels = (0..30).flat_map(|y| (10..W).map(move |x| (x, y)));
    let white = label_pixels
        .clone()
        .filter(|&(x, y)| pixel(&out, x, y)[0] > 200)
        .count();
    assert!(white > 20, "only {white} text pixels");
}

#[test]
fn text_is_drawn_inside_its_label_box() {
    let spec = r#"
labels:
  car:
    label: {font_color: "FFFFFFFF", background_color: "000000FF", font_scale: 0.5,
            format: ["car #{track_id}"], position: TopLeftInside, padding: {left: 2, top: 2, right: 2, bottom: 2}}
"#;
    let out = draw_rgba(
        &[("draw-spec", spec)],
        [90, 90, 90, 255],
        &[("car", (4, 4, 50, 40))],
    );
    // The label box: black pixels from (4, 4) on; text: bright pixels; all of them
    // inside the black box (the frame elsewhere stays grey).
    let (mut text, mut black) = (0, 0);
    let (mut max_x, mut max_y) = (0, 0);
    for y in 0..H {
        for x in 0..W {
            let p = pixel(&out, x, y);
            if p[0] == 0 {
                black += 1;
                max_x = max_x.max(x);
                max_y = max_y.max(y);
            }
            if p[0] > 150 {
                text += 1;
            }
        }
    }
    assert!(text > 25, "{text} text pixels");
    assert!(black > 100, "{black} label background pixels");
    for y in 0..H {
        for x in 0..W {
            if pixel(&out, x, y)[0] > 150 {
                assert!(
                    x >= 4 && x <= max_x && y >= 4 && y <= max_y,
                    "text at ({x}, {y}) outside the box"
                );
            }
        }
    }
}

#[test]
fn central_dot_and_geometry_outside_the_frame_are_clipped() {
    let spec = r#"
labels:
  car:
    bbox: {border_color: "FF0000FF", thickness: 100}
    central_dot: {color: "FFFF00FF", radius: 1000}
    label: {format: ["{label}"]}
"#;
    // Partly and wholly outside boxes: clipped, never a panic.
    let out = draw_rgba(
        &[("draw-spec", spec)],
        [0, 0, 0, 255],
        &[("car", (30, 30, 60, 60)), ("car", (5000, 5000, 10, 10))],
    );
    assert_eq!(
        pixel(&out, 0, 0)[..3],
        [255, 255, 0],
        "the huge dot covers the frame"
    );
}

#[test]
fn blur_changes_only_the_objects_region() {
    init();
    let spec = "labels: {face: {blur: true}}";
    let stage = module(
        "blur_target",
        "def process_frame(frame):\n    frame.add_object('face', (16, 16, 24, 20))\n",
    );
    let render = |with_blur: bool| {
        let draw = if with_blur {
            format!("! savantdrawfunc draw-spec=\"{spec}\"")
        } else {
            String::new()
        };
        let result = run(&format!(
            "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=RGBA,width={W},height={H} \
             ! savantpyfunc module={stage} {draw} ! appsink name=sink"
        ));
        assert!(result.eos, "{result:?}");
        let data = result.buffers[0].map_readable().unwrap().to_vec();
        data
    };
    let (before, after) = (render(false), render(true));
    let mut changed_inside = 0;
    for y in 0..H {
        for x in 0..W {
            let inside = (16..40).contains(&x) && (16..36).contains(&y);
            if pixel(&before, x, y) != pixel(&after, x, y) {
                assert!(inside, "pixel ({x}, {y}) outside the blurred box changed");
                changed_inside += 1;
            }
        }
    }
    assert!(
        changed_inside > 50,
        "blur changed only {changed_inside} pixels"
    );
}

#[test]
fn i420_and_nv12_match_the_rgba_drawing() {
    let stage = module(
        "yuv_objects",
        "def process_frame(frame):\n    frame.add_object('car', (8, 8, 40, 30), track_id=1)\n",
    );
    let spec = "labels: {car: {bbox: {border_color: FF0000FF, background_color: 0000FFFF, thickness: 6}, central_dot: {color: FFFF00FF, radius: 4}}}";
    let render = |format: &str| {
        let result = run(&format!(
            "videotestsrc num-buffers=1 pattern=solid-color foreground-color=0xff808080 \
             ! video/x-raw,format={format},width={W},height={H} ! savantpyfunc module={stage} \
             ! savantdrawfunc draw-spec=\"{spec}\" ! videoconvert ! video/x-raw,format=RGBA \
             ! appsink name=sink"
        ));
        assert!(result.eos, "{format}: {result:?}");
        let data = result.buffers[0].map_readable().unwrap().to_vec();
        data
    };
    let reference = render("RGBA");
    for format in ["I420", "NV12"] {
        let yuv = render(format);
        // Interior points of the fill, the thick border and the dot, and the background.
        for (x, y) in [(20, 30), (10, 20), (46, 20), (28, 23), (60, 60), (30, 10)] {
            let (a, b) = (pixel(&reference, x, y), pixel(&yuv, x, y));
            for c in 0..3 {
                assert!(
                    (a[c] as i32 - b[c] as i32).abs() <= 12,
                    "{format} at ({x}, {y}): {b:?} vs RGBA {a:?}"
                );
            }
        }
    }
}

/// A blur on I420 and NV12 (luma, and each chroma channel at half size) gives the
/// colours the RGBA blur gives, across the colour bars' edges inside the box.
#[test]
fn i420_and_nv12_blur_like_rgba() {
    let stage = module(
        "yuv_blur_target",
        "def process_frame(frame):\n    frame.add_object('face', (8, 8, 48, 24))\n",
    );
    let spec = "labels: {face: {blur: true}}";
    let render = |format: &str, draw: bool| {
        let draw = if draw {
            format!("! savantdrawfunc draw-spec=\"{spec}\"")
        } else {
            String::new()
        };
        let result = run(&format!(
            "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format={format},width={W},height={H} \
             ! savantpyfunc module={stage} {draw} ! videoconvert ! video/x-raw,format=RGBA \
             ! appsink name=sink"
        ));
        assert!(result.eos, "{format}: {result:?}");
        let data = result.buffers[0].map_readable().unwrap().to_vec();
        data
    };
    let reference = render("RGBA", true);
    // Points on and next to the bars' edges (every 64/7 pixels), inside the box.
    let points: Vec<(u32, u32)> = [9, 18, 27, 36, 45]
        .into_iter()
        .flat_map(|x| [(x, 20), (x + 1, 24)])
        .collect();
    for format in ["I420", "NV12"] {
        let (plain, blurred) = (render(format, false), render(format, true));
        let mut moved = 0;
        for &(x, y) in &points {
            // Chroma blurred at half size and the two conversions: up to 33 apart
            // here; with the chroma left unblurred, up to 114.
            let (a, b) = (pixel(&reference, x, y), pixel(&blurred, x, y));
            for c in 0..3 {
                assert!(
                    (a[c] as i32 - b[c] as i32).abs() <= 40,
                    "{format} at ({x}, {y}): {b:?} vs RGBA {a:?}"
                );
            }
            moved += usize::from(pixel(&plain, x, y) != b);
        }
        assert!(
            moved >= points.len() / 2,
            "{format}: the blur moved {moved} points"
        );
    }
}

#[test]
fn python_hook_draws_through_the_artist() {
    assert_overlay_draws(
        "artist_hook",
        r#"
        class Overlay:
            def draw(self, frame, artist):
                artist.add_bbox((2, 2, 10, 10), border_color="00FF00FF", thickness=1)
                artist.add_circle((40, 40), 5, color=(255, 255, 0))
                artist.add_line((0, 60), (63, 60), color="FF00FFFF", thickness=2)
                artist.add_polygon([(50, 5), (60, 5), (55, 15)], color="00FFFFFF")
                artist.add_rounded_rect((20, 2, 20, 12), 4, border_color="FFFFFFFF", thickness=1)
                artist.add_text("hi", (20, 20), font_scale=0.5)
                artist.blur((0, 0, 1, 1))
        "#,
        &[
            ((2, 5), [0, 255, 0, 255], "bbox border"),
            ((5, 5), [0, 0, 0, 255], "bbox inside untouched"),
            ((40, 40), [255, 255, 0, 255], "circle"),
            ((30, 60), [255, 0, 255, 255], "line"),
            ((55, 8), [0, 255, 255, 255], "polygon"),
            ((30, 2), [255, 255, 255, 255], "rounded rect top edge"),
            ((20, 2), [0, 0, 0, 255], "rounded corner left out"),
        ],
    );
}

#[test]
fn without_a_hook_drawing_never_runs_python() {
    init();
    let mut h = gst_check::Harness::new("savantdrawfunc");
    h.set_src_caps_str(&format!(
        "video/x-raw,format=RGBA,width={W},height={H},framerate=25/1"
    ));
    let mut buffer = gst::Buffer::with_size((W * H * 4) as usize).unwrap();
    roi(buffer.get_mut().unwrap(), "car", (1, 1, 5, 5), None);
    h.push_and_pull(buffer).unwrap();
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("frames").unwrap(), 1);
    assert_eq!(stats.get::<u64>("python-ns").unwrap(), 0);
    assert!(stats.get::<u64>("draw-ns").unwrap() > 0);
}

#[test]
fn hook_errors_follow_the_policy_and_the_spec_still_draws() {
    let hook = module(
        "raising_artist",
        "def draw(frame, artist):\n    artist.add_bbox((0, 0, 4, 4), thickness=-3)\n",
    );
    let out = draw_rgba(
        &[
            ("module", hook.as_str()),
            ("on-error", "skip"),
            ("draw-spec", BOX_SPEC),
        ],
        [0, 0, 0, 255],
        &[("car", (10, 10, 20, 20))],
    );
    assert_eq!(pixel(&out, 10, 10), [255, 0, 0, 255]);

    let result = run(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width={W},height={H} \
         ! savantdrawfunc module={hook} ! appsink name=sink"
    ));
    let (message, debug) = expect_error(&result);
    assert!(
        message.contains("draw() raised ValueError: thickness must be between 0 and 100, got -3"),
        "{message}"
    );
    assert!(debug.contains("raising_artist.py"), "{debug}");
}

#[test]
fn bad_draw_specs_fail_at_start_naming_the_path() {
    for (spec, expected) in [
        (
            "labels: {car: {bbox: {border_color: blue}}}",
            "labels.car.bbox.border_color: invalid colour",
        ),
        (
            "labels: {car: {bbox: {thikness: 2}}}",
            "labels.car.bbox.thikness: unknown key",
        ),
        (
            "labels: {car: {label: {format: ['{nope}']}}}",
            "labels.car.label.format[0]: unknown placeholder {nope}",
        ),
        (
            "labels: {car: {central_dot: {radius: -1}}}",
            "labels.car.central_dot.radius: must be between 0 and 1000",
        ),
        (
            "parameters: {draw_func: {rendered_objects: {yolo: {car: {label: {format: ['{confidence:.2q}']}}}}}}",
            "parameters.draw_func.rendered_objects.yolo.car.label.format[0]: bad format spec {confidence:.2q}",
        ),
        (
            "rendered_objects: {yolo: {car: {label: {format: ['{attributes.v:.1d}']}}}}",
            "rendered_objects.yolo.car.label.format[0]: bad format spec",
        ),
    ] {
        let result = run(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA ! savantdrawfunc draw-spec=\"{spec}\" ! appsink name=sink"
        ));
        let (message, _) = expect_error(&result);
        assert!(
            message.contains("invalid draw-spec") && message.contains(expected),
            "{spec}: {message}"
        );
    }
}

#[test]
fn utf8_text_is_drawn_with_real_glyphs() {
    let hook = module(
        "utf8_text",
        "def draw(frame, artist):\n    artist.add_text('Grüße ✓ ü', (2, 2), font_scale=0.6)\n",
    );
    let out = draw_rgba(&[("module", hook.as_str())], [0, 0, 0, 255], &[]);
    let lit = out.chunks(4).filter(|p| p[0] > 128).count();
    assert!(lit > 40, "only {lit} text pixels");
}

#[test]
fn a_100k_character_text_at_scale_20_is_clipped_to_the_frame() {
    let hook = module(
        "huge_text",
        r#"
        def draw(frame, artist):
            artist.add_text("W" * 100000, (0, 0), font_scale=20)
            artist.add_text("W" * 100000, (-1e6, 0), font_scale=20)
            artist.add_text("\n".join(["W" * 1000] * 100000), (0, 0), font_scale=0.05)
            # At 560 pixels, a W's top is ~95 pixels below the anchor: moved up into view.
            artist.add_text("W" * 100000, (0, -120), font_scale=20, font_color="FF0000FF")
        "#,
    );
    let out = draw_rgba(&[("module", hook.as_str())], [0, 0, 0, 255], &[]);
    // A 560-pixel W's strokes cover much of a 64x64 frame.
    let red = (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .filter(|&(x, y)| pixel(&out, x, y) == [255, 0, 0, 255])
        .count();
    assert!(red > 100, "{red} red pixels");
}

#[test]
fn a_100k_character_label_from_an_attribute_is_drawn_cut() {
    let stage = module(
        "huge_attribute",
        r#"
        def process_frame(frame):
            frame.add_object("car", (0, 0, 64, 64), attributes={"note": "W" * 100000})
        "#,
    );
    let spec = "labels: {car: {label: {format: ['{attributes.note}'], font_scale: 20, \
                font_color: FF0000FF, position: TopLeftInside}}}";
    let run = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width={W},height={H} \
         ! savantpyfunc module={stage} ! savantdrawfunc draw-spec=\"{spec}\" \
         ! appsink name=sink"
    ));
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(run.buffers.len(), 2);
}

#[test]
fn savants_artist_calls_draw_with_its_keywords_and_tuple_colours() {
    let out = assert_overlay_draws(
        "savant_artist_hook",
        r#"
        import enum

        class Position(enum.Enum):  # savant.utils.artist.Position
            CENTER = 1
            LEFT_TOP = 2
            CENTER_BOTTOM = 8

        class BBox:  # savant_rs.primitives.geometry.BBox's reading side
            def __init__(self, left, top, width, height):
                self.left, self.top, self.width, self.height = left, top, width, height

        class Overlay:
            def draw(self, frame, artist):
                artist.add_bbox(bbox=BBox(2, 2, 10, 10), border_width=1,
                                border_color=(0, 255, 0, 255), bg_color=(0, 0, 255, 255),
                                padding=(1, 1, 1, 1))
                artist.add_circle(center=(40, 40), radius=5, color=(255, 255, 0, 255),
                                  thickness=-1, line_type=16)
                artist.add_polygon(vertices=[(50, 4), (60, 4), (60, 14), (50, 14)], line_width=3,
                                   line_color=(255, 0, 0, 255), bg_color=(0, 255, 255, 255))
                artist.add_rounded_rect(bbox=BBox(20, 24, 20, 12), radius=4,
                                        bg_color=(255, 0, 255, 255))
                (w, h), baseline = artist.add_text(
                    text="hi", anchor=(32, 58), font_scale=0.5, font_thickness=1,
                    font_color=(255, 255, 255, 255), border_width=1,
                    border_color=(255, 0, 0, 255), bg_color=(0, 0, 255, 255),
                    padding=(2, 2, 2, 2), anchor_point_type=Position.CENTER_BOTTOM)
                assert w > 0 and h > 0 and baseline == 0, (w, h, baseline)
                artist.add_text("x", (24, 2), 0.5, 1, (255, 255, 255, 255), 0, (0, 0, 0, 0),
                                None, (0, 0, 0, 0), Position.LEFT_TOP)
                artist.add_bbox(BBox(0, 44, 8, 8), 0, (0, 0, 0, 0), (255, 255, 255, 255))
                artist.blur(bbox=BBox(0, 40, 16, 16), padding=(0, 0, 0, 0), sigma=2.0)
        "#,
        &[
            ((1, 6), [0, 255, 0, 255], "bbox border, padded out by 1"),
            ((6, 6), [0, 0, 255, 255], "bbox bg_color"),
            ((40, 40), [255, 255, 0, 255], "circle filled (cv2.FILLED)"),
            ((55, 9), [0, 255, 255, 255], "polygon bg_color"),
            ((55, 4), [255, 0, 0, 255], "polygon outline line_width 3"),
            ((30, 30), [255, 0, 255, 255], "rounded rect bg_color"),
            ((20, 24), [0, 0, 0, 255], "rounded corner, no border"),
        ],
    );
    // CENTER_BOTTOM: the text's bottom at y 58, then 2 px padding, then the border.
    assert_pixels(
        &out,
        &[
            ((32, 59), [0, 0, 255, 255], "text bg_color in padding"),
            ((32, 60), [255, 0, 0, 255], "text border"),
        ],
    );
    let white_rows: Vec<u32> = (40..58)
        .filter(|&y| (20..44).any(|x| pixel(&out, x, y)[0] > 200 && pixel(&out, x, y)[2] < 200))
        .collect();
    assert!(!white_rows.is_empty(), "text glyphs above the anchor");
    // LEFT_TOP at (24, 2): the glyph lies right of and below the anchor.
    assert!(
        (24..34).any(|x| (2..16).any(|y| pixel(&out, x, y)[0] > 200)),
        "x right of and below its anchor"
    );
    assert!(
        (14..24).all(|x| (0..20).all(|y| pixel(&out, x, y)[0] == 0)),
        "nothing left of it"
    );
    // The blur (sigma 2) softens the white square's right edge at x 8.
    let edge = pixel(&out, 8, 48)[0];
    assert!(edge > 10 && edge < 245, "blurred edge: {edge}");
    assert!(
        pixel(&out, 6, 48)[0] < 255,
        "blur reaches inside the square"
    );
}

/// Savant's `override_draw_spec(object, spec)`: a hook class changes one object's
/// spec (here by its track id) or draws nothing for it, per frame.
#[test]
fn override_draw_spec_changes_or_skips_one_objects_spec() {
    let hook = module(
        "override_spec_hook",
        r#"
        class Draw:
            def override_draw_spec(self, obj, spec):
                if obj.track_id == 2:
                    spec["bbox"]["border_color"] = "FF0000FF"
                elif obj.track_id == 3:
                    return False
            def draw(self, frame, artist):
                pass
        "#,
    );
    let spec = "labels:\n  car:\n    bbox: {border_color: \"00FF00FF\", thickness: 2}\n";
    let run_with = |hook_class: &str, hook: &str| {
        init();
        let element = gst::ElementFactory::make("savantdrawfunc").build().unwrap();
        element.set_property("draw-spec", spec);
        element.set_property("module", hook);
        element.set_property("class-name", hook_class);
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
        h.set_src_caps_str(&format!(
            "video/x-raw,format=RGBA,width={W},height={H},framerate=25/1"
        ));
        let mut buffer = gst::Buffer::from_mut_slice(vec![0u8; (W * H * 4) as usize]);
        for (x, track_id) in [(4, 1), (24, 2), (44, 3)] {
            roi(
                buffer.get_mut().unwrap(),
                "car",
                (x, 4, 10, 10),
                Some(track_id),
            );
        }
        let out = match h.push(buffer) {
            Ok(_) => h.pull().ok(),
            Err(_) => None,
        };
        let error = bus
            .pop_filtered(&[gst::MessageType::Error])
            .map(|m| match m.view() {
                gst::MessageView::Error(e) => e.error().to_string(),
                _ => unreachable!(),
            });
        (out.map(|b| b.map_readable().unwrap().to_vec()), error)
    };
    let (data, error) = run_with("Draw", &hook);
    assert!(error.is_none(), "{error:?}");
    let data = data.unwrap();
    assert_eq!(pixel(&data, 4, 8), [0, 255, 0, 255], "as configured");
    assert_eq!(pixel(&data, 24, 8), [255, 0, 0, 255], "overridden");
    assert_eq!(pixel(&data, 44, 8), [0, 0, 0, 0], "not drawn");

    let bad = module(
        "override_spec_bad",
        r#"
        class Bad:
            def override_draw_spec(self, obj, spec):
                return {"bbox": {"thickness": "thick"}}
            def draw(self, frame, artist):
                pass
        "#,
    );
    let (_, error) = run_with("Bad", &bad);
    let error = error.expect("an ERROR");
    assert!(
        error.contains("override_draw_spec() returned a spec that does not check out")
            && error.contains("thickness"),
        "{error}"
    );

    // A dict that contains itself: an error, not a stack overflow.
    let cyclic = module(
        "override_spec_cyclic",
        r#"
        class Cyclic:
            def override_draw_spec(self, obj, spec):
                loop = {}
                loop["bbox"] = loop
                return loop
            def draw(self, frame, artist):
                pass
        "#,
    );
    let (_, error) = run_with("Cyclic", &cyclic);
    let error = error.expect("an ERROR");
    assert!(error.contains("nested deeper than 16 levels"), "{error}");
}

/// As in Savant: a draw hook without a spec (no `rendered_objects`) draws only what
/// the hook draws; without a hook, every object gets Savant's default drawing.
#[test]
fn a_hook_without_a_spec_draws_only_what_the_hook_draws() {
    let hook = module(
        "hook_only",
        "def draw(frame, artist):\n    artist.add_bbox((40, 40, 10, 10), 2, (0, 0, 255, 255))\n",
    );
    let objects = [("car", (10, 10, 20, 20))];
    let hooked = draw_rgba(&[("module", hook.as_str())], [0, 0, 0, 255], &objects);
    // The car's box edge is untouched; the hook's box is drawn.
    assert_eq!(pixel(&hooked, 10, 10), [0, 0, 0, 255]);
    assert_eq!(pixel(&hooked, 40, 40), [0, 0, 255, 255]);
    let default = draw_rgba(&[], [0, 0, 0, 255], &objects);
    assert_ne!(
        pixel(&default, 10, 10),
        [0, 0, 0, 255],
        "Savant's default box"
    );
}

/// Frames from a stage that adds a car to every frame and tags every other one
/// with `draw` (Savant's frame tag, an attribute here).
const TAGGER: &str = r#"
count = 0


def process_frame(frame):
    global count
    frame.add_object('car', (10, 10, 20, 20))
    if count % 2 == 0:
        frame.attributes['draw'] = True
    count += 1
"#;

#[test]
fn a_condition_tag_draws_only_on_frames_with_that_tag() {
    init();
    let tagger = module("condition_tagger", TAGGER);
    let hook = module(
        "condition_hook",
        "def draw(frame, artist):\n    artist.add_bbox((40, 40, 10, 10), 2, (0, 0, 255, 255))\n",
    );
    let source = format!(
        "videotestsrc num-buffers=4 pattern=black ! video/x-raw,format=RGBA,width={W},height={H} \
         ! savantpyfunc module={tagger}"
    );
    // The default drawing (a spec of only a condition), and a hook with a condition
    // from a module YAML's draw_func block.
    let spec = run(&format!(
        "{source} ! savantdrawfunc draw-spec=\"condition: {{tag: draw}}\" ! appsink name=sink"
    ));
    let yaml = common::module_dir().join("condition_module.yml");
    std::fs::write(
        &yaml,
        format!("parameters: {{draw_func: {{module: {hook}, condition: {{tag: draw}}}}}}\n"),
    )
    .unwrap();
    let hooked = run(&format!(
        "{source} ! savantmodule config={} ! appsink name=sink",
        yaml.display()
    ));
    for (run, drawn_at) in [(&spec, (10, 10)), (&hooked, (40, 40))] {
        assert!(run.eos, "{run:?}");
        assert_eq!(run.buffers.len(), 4, "no frame dropped");
        for (i, buffer) in run.buffers.iter().enumerate() {
            let data = buffer.map_readable().unwrap();
            let tagged = i % 2 == 0;
            assert_eq!(
                pixel(&data, drawn_at.0, drawn_at.1) != [0, 0, 0, 255],
                tagged,
                "frame {i} (tagged: {tagged}) at {drawn_at:?}"
            );
        }
    }
    // The hook alone draws: no default box where the car is.
    let data = hooked.buffers[0].map_readable().unwrap();
    assert_eq!(pixel(&data, 10, 10), [0, 0, 0, 255]);
}
