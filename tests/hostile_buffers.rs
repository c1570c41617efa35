//! Buffers whose VideoMeta lies (offsets near 2^64, negative strides, strides shorter
//! than a row, planes outside the memory, sizes that disagree with the caps) get a
//! bus ERROR from savantpyfunc (read-only and writable) and savantdrawfunc (with and
//! without a hook), never a read or write outside the buffer, a panic or a crash.
//!
//! More cases: `PROPTEST_CASES=2000 cargo test --release --test hostile_buffers`.
//! Under AddressSanitizer: see the README's reliability section.

mod common;

use common::{init, module};
use gst::prelude::*;
use gst_video::VideoFormat as F;
use proptest::prelude::*;

/// What a stage made of one buffer.
#[derive(Debug)]
enum Outcome {
    Processed(gst::Buffer),
    /// Message and debug text of the ERROR on the bus.
    Error(String),
}

struct Stage {
    harness: gst_check::Harness,
    bus: gst::Bus,
}

impl Stage {
    fn new(factory: &str, props: &[(&str, &str)], caps: &str) -> Self {
        init();
        let element = gst::ElementFactory::make(factory).build().unwrap();
        for (name, value) in props {
            element.set_property_from_str(name, value);
        }
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        let mut harness = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
        harness.set_src_caps_str(caps);
        Self { harness, bus }
    }

    fn push(&mut self, buffer: gst::Buffer) -> Outcome {
        match self.harness.push(buffer) {
            Ok(_) => Outcome::Processed(
                self.harness
                    .try_pull()
                    .expect("a buffer that flowed on came out"),
            ),
            Err(flow) => {
                let message = self
                    .bus
                    .pop_filtered(&[gst::MessageType::Error])
                    .unwrap_or_else(|| panic!("{flow:?} without an ERROR on the bus"));
                let gst::MessageView::Error(e) = message.view() else {
                    unreachable!()
                };
                Outcome::Error(format!("{} | {:?}", e.error(), e.debug()))
            }
        }
    }
}

/// A stage that reads every byte of every array the frame offers and, when the
/// frame is writable, writes every byte.
fn touching_stage() -> String {
    module(
        "touch_every_byte",
        r#"
        import numpy as np
        def process_frame(frame):
            arrays = []
            try:
                arrays.append(np.asarray(frame))
            except (BufferError, ValueError):
                pass
            for i in range(4):
                try:
                    arrays.append(np.asarray(frame.plane(i)))
                except (IndexError, BufferError, ValueError):
                    break
            total = 0
            for a in arrays:
                total += int(a.sum())
                if frame.writable:
                    a[...] = 1
            frame.attributes["arrays"] = len(arrays)
        "#,
    )
}

/// A draw hook that covers the frame: box, text, blur.
fn drawing_hook() -> String {
    module(
        "draw_everywhere",
        r#"
        import numpy as np
        def draw(frame, artist):
            for i in range(4):
                try:
                    int(np.asarray(frame.plane(i)).sum())
                except (IndexError, BufferError, ValueError):
                    break
            w, h = frame.width, frame.height
            artist.add_bbox((0, 0, w, h), border_color="FF0000FF", background_color="00FF0080", thickness=2)
            artist.add_text("Wj", (0, 0), font_scale=0.5, background_color="0000FFFF")
            artist.blur((0, 0, w, h))
        "#,
    )
}

/// The four element set-ups every buffer goes through.
fn stages(caps: &str, drawable: bool) -> Vec<(&'static str, Stage)> {
    let touch = touching_stage();
    let mut stages = vec![
        (
            "savantpyfunc",
            Stage::new("savantpyfunc", &[("module", &touch)], caps),
        ),
        (
            "savantpyfunc writable=true",
            Stage::new(
                "savantpyfunc",
                &[("module", &touch), ("writable", "true")],
                caps,
            ),
        ),
    ];
    if drawable {
        let hook = drawing_hook();
        stages.push(("savantdrawfunc", Stage::new("savantdrawfunc", &[], caps)));
        stages.push((
            "savantdrawfunc with a hook",
            Stage::new("savantdrawfunc", &[("module", &hook)], caps),
        ));
    }
    stages
}

/// A VideoMeta as a producer might attach it, true or not.
#[derive(Debug, Clone)]
struct Meta {
    format: F,
    width: u32,
    height: u32,
    offsets: Vec<usize>,
    strides: Vec<i32>,
}

/// A buffer of `size` bytes for `w`x`h` frames, an object covering the frame (so the
/// draw spec draws) and `meta` if given.
fn buffer(size: usize, w: u32, h: u32, meta: Option<&Meta>) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(vec![7u8; size]);
    let b = buffer.get_mut().unwrap();
    gst_video::VideoRegionOfInterestMeta::add(b, "car", (0, 0, w, h));
    if let Some(m) = meta {
        gst_video::VideoMeta::add_full(
            b,
            gst_video::VideoFrameFlags::empty(),
            m.format,
            m.width,
            m.height,
            &m.offsets,
            &m.strides,
        )
        .unwrap();
    }
    buffer
}

fn info(format: F, w: u32, h: u32) -> gst_video::VideoInfo {
    init();
    gst_video::VideoInfo::builder(format, w, h).build().unwrap()
}

fn caps(format: F, w: u32, h: u32) -> String {
    format!(
        "video/x-raw,format={},width={w},height={h},framerate=25/1",
        format.to_str()
    )
}

/// The caps' own layout as a meta, to be bent by each case.
fn default_meta(info: &gst_video::VideoInfo) -> Meta {
    let n = info.n_planes() as usize;
    Meta {
        format: info.format(),
        width: info.width(),
        height: info.height(),
        offsets: info.offset()[..n].to_vec(),
        strides: info.stride()[..n].to_vec(),
    }
}

/// Every set-up answers `meta` on `format` with an ERROR naming the buffer layout.
fn every_stage_rejects(format: F, w: u32, h: u32, size: usize, meta: Option<Meta>) {
    let drawable = DRAW_FORMATS.contains(&format);
    for (name, mut stage) in stages(&caps(format, w, h), drawable) {
        match stage.push(buffer(size, w, h, meta.as_ref())) {
            Outcome::Error(message) => assert!(
                message.contains("buffer layout"),
                "{name}: unexpected error {message}"
            ),
            Outcome::Processed(_) => panic!("{name} accepted {meta:?} on {size} bytes"),
        }
    }
}

#[test]
fn an_offset_near_2_64_is_an_error_not_a_read_before_the_buffer() {
    let info = info(F::Rgba, 32, 32);
    let mut meta = default_meta(&info);
    // What wrapped the old size check: offset + size overflowed to a small number.
    meta.offsets[0] = usize::MAX - 1259;
    every_stage_rejects(F::Rgba, 32, 32, info.size(), Some(meta));
}

#[test]
fn a_negative_stride_is_an_error() {
    let info = info(F::Rgba, 32, 32);
    let mut meta = default_meta(&info);
    // Bottom-up rows, as some Windows-born producers lay them out.
    meta.offsets[0] = 31 * 128;
    meta.strides[0] = -128;
    every_stage_rejects(F::Rgba, 32, 32, info.size(), Some(meta));
}

#[test]
fn a_stride_shorter_than_a_row_is_an_error() {
    let info = info(F::Rgb, 16, 8);
    let mut meta = default_meta(&info);
    meta.strides[0] = 47;
    every_stage_rejects(F::Rgb, 16, 8, info.size(), Some(meta));
}

#[test]
fn a_plane_past_the_memory_is_an_error() {
    for format in [F::I420, F::Nv12] {
        let info = info(format, 16, 16);
        let mut meta = default_meta(&info);
        let last = meta.offsets.len() - 1;
        meta.offsets[last] = info.size() - 8;
        every_stage_rejects(format, 16, 16, info.size(), Some(meta));
    }
}

#[test]
fn overlapping_planes_are_an_error() {
    let info = info(F::I420, 16, 16);
    let mut meta = default_meta(&info);
    meta.offsets[2] = meta.offsets[1];
    every_stage_rejects(F::I420, 16, 16, info.size(), Some(meta));
}

#[test]
fn metas_and_sizes_that_disagree_with_the_caps_are_errors() {
    let info = info(F::I420, 16, 16);
    let mut smaller = default_meta(&info);
    smaller.width = 8;
    let mut other_format = default_meta(&info);
    other_format.format = F::Yv12;
    let mut fewer_planes = default_meta(&info);
    fewer_planes.offsets.pop();
    fewer_planes.strides.pop();
    for meta in [smaller, other_format, fewer_planes] {
        every_stage_rejects(F::I420, 16, 16, info.size(), Some(meta));
    }
    // No meta, and fewer bytes than the caps need.
    every_stage_rejects(F::I420, 16, 16, info.size() - 1, None);
    every_stage_rejects(F::Rgba, 16, 16, 0, None);
}

#[test]
fn padded_rows_from_a_meta_are_drawn_at_the_right_bytes() {
    // 8x4 RGBA with 48-byte rows (16 bytes of padding) after a 16-byte header.
    let mut meta = default_meta(&info(F::Rgba, 8, 4));
    meta.offsets[0] = 16;
    meta.strides[0] = 48;
    let size = 16 + 48 * 4;
    let mut stage = Stage::new(
        "savantdrawfunc",
        &[(
            "draw-spec",
            "labels: {car: {bbox: {border_color: FF0000FF, background_color: 0000FFFF, thickness: 0}}}",
        )],
        &caps(F::Rgba, 8, 4),
    );
    let Outcome::Processed(out) = stage.push(buffer(size, 8, 4, Some(&meta))) else {
        panic!("a valid padded layout must be drawn");
    };
    let data = out.map_readable().unwrap();
    for row in 0..4 {
        let start = 16 + row * 48;
        assert!(
            data[start..start + 32]
                .chunks(4)
                .all(|p| p == [0, 0, 255, 255]),
            "row {row} filled"
        );
        assert!(
            data[start + 32..start + 48].iter().all(|&b| b == 7),
            "row {row} padding untouched"
        );
    }
    assert!(data[..16].iter().all(|&b| b == 7), "header untouched");
}

/// Every raw format savantpyfunc takes (those it gives arrays for; its caps refuse
/// the rest).
const PYFUNC_FORMATS: &[F] = &[
    F::Rgba,
    F::Bgra,
    F::Rgbx,
    F::Bgrx,
    F::Xrgb,
    F::Xbgr,
    F::Argb,
    F::Abgr,
    F::Rgb,
    F::Bgr,
    F::Gray8,
    F::Gray16Le,
    F::I420,
    F::Yv12,
    F::Nv12,
    F::Nv21,
    F::Y444,
];

/// savantdrawfunc's caps.
const DRAW_FORMATS: &[F] = &[
    F::Rgba,
    F::Bgra,
    F::Rgbx,
    F::Bgrx,
    F::Rgb,
    F::Bgr,
    F::I420,
    F::Nv12,
];

/// How one plane's offset or stride is bent.
#[derive(Debug, Clone)]
enum Bend {
    Keep,
    /// Any value at all.
    Any(u64),
    /// Just below 2^64 (offsets) or negative (strides).
    Wrap(u32),
    /// Small and plausible: within the buffer, or up to two rows.
    Near(u32),
}

fn bend() -> impl Strategy<Value = Bend> {
    prop_oneof![
        4 => Just(Bend::Keep),
        1 => any::<u64>().prop_map(Bend::Any),
        2 => any::<u32>().prop_map(|n| Bend::Wrap(n % 100_000)),
        3 => any::<u32>().prop_map(Bend::Near),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    format: F,
    width: u32,
    height: u32,
    /// None: no meta.
    meta: Option<MetaBends>,
    /// Bytes relative to what the caps need: 0 keeps the size.
    size_delta: i32,
}

#[derive(Debug, Clone)]
struct MetaBends {
    other_format: bool,
    width_delta: i32,
    height_delta: i32,
    plane_count_delta: i32,
    offsets: Vec<Bend>,
    strides: Vec<Bend>,
}

fn case() -> impl Strategy<Value = Case> {
    let meta = (
        prop::bool::weighted(0.05),
        prop_oneof![8 => Just(0), 1 => -2i32..=2],
        prop_oneof![8 => Just(0), 1 => -2i32..=2],
        prop_oneof![12 => Just(0), 1 => -1i32..=1],
        prop::collection::vec(bend(), 3),
        prop::collection::vec(bend(), 3),
    )
        .prop_map(
            |(other_format, width_delta, height_delta, plane_count_delta, offsets, strides)| {
                MetaBends {
                    other_format,
                    width_delta,
                    height_delta,
                    plane_count_delta,
                    offsets,
                    strides,
                }
            },
        );
    (
        prop::sample::select(PYFUNC_FORMATS),
        1u32..24,
        1u32..24,
        prop::option::weighted(0.8, meta),
        prop_oneof![6 => Just(0), 1 => -64i32..64],
    )
        .prop_map(|(format, width, height, meta, size_delta)| Case {
            format,
            width,
            height,
            meta,
            size_delta,
        })
}

impl Case {
    fn size(&self, info: &gst_video::VideoInfo) -> usize {
        (info.size() as i64 + self.size_delta as i64).max(0) as usize
    }

    fn meta(&self, info: &gst_video::VideoInfo, size: usize) -> Option<Meta> {
        let bends = self.meta.as_ref()?;
        let mut meta = default_meta(info);
        if bends.other_format {
            meta.format = if meta.format == F::Rgba {
                F::Bgra
            } else {
                F::Rgba
            };
        }
        meta.width = meta.width.saturating_add_signed(bends.width_delta).max(1);
        meta.height = meta.height.saturating_add_signed(bends.height_delta).max(1);
        let planes = (meta.offsets.len() as i32 + bends.plane_count_delta).clamp(1, 3) as usize;
        meta.offsets.resize(planes, 0);
        meta.strides.resize(planes, 0);
        for i in 0..planes {
            meta.offsets[i] = match bends.offsets[i] {
                Bend::Keep => meta.offsets[i],
                Bend::Any(n) => n as usize,
                Bend::Wrap(n) => usize::MAX - n as usize,
                Bend::Near(n) => n as usize % (size + 64),
            };
            let row = meta.strides[i].max(1);
            meta.strides[i] = match bends.strides[i] {
                Bend::Keep => meta.strides[i],
                Bend::Any(n) => n as i32,
                Bend::Wrap(n) => -((n % 4096) as i32) - 1,
                Bend::Near(n) => (n % (2 * row as u32 + 1)) as i32,
            };
        }
        Some(meta)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn hostile_video_metas_are_processed_or_rejected_never_a_crash(case in case()) {
        let info = info(case.format, case.width, case.height);
        let size = case.size(&info);
        let meta = case.meta(&info, size);
        let drawable = DRAW_FORMATS.contains(&case.format);
        let honest = case.size_delta >= 0
            && case.meta.as_ref().is_none_or(|b| {
                !b.other_format
                    && b.width_delta >= 0
                    && b.height_delta >= 0
                    && b.plane_count_delta == 0
                    && b.offsets.iter().chain(&b.strides).all(|b| matches!(b, Bend::Keep))
            });
        for (name, mut stage) in stages(&caps(case.format, case.width, case.height), drawable) {
            match stage.push(buffer(size, case.width, case.height, meta.as_ref())) {
                Outcome::Processed(out) => prop_assert_eq!(out.size(), size, "{}", name),
                Outcome::Error(message) => {
                    prop_assert!(!honest, "{}: an honest layout was rejected: {}", name, message);
                    prop_assert!(
                        message.contains("buffer layout"),
                        "{}: unexpected error {}", name, message
                    );
                }
            }
        }
    }
}
