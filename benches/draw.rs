//! Drawing 100 objects with two-line labels on 1920x1080 RGBA: savantdrawfunc from
//! its spec, savantdrawfunc with a Python hook drawing the same, and a savantpyfunc
//! doing it with cv2.rectangle/cv2.putText (Savant's way), in one run.
//!
//!     cargo bench --bench draw
//!
//! Frames come from a buffer pool through appsrc, each with the 100 objects attached
//! as region-of-interest metas: writable, never copied, so what is measured is the
//! drawing (the baseline row is the pipeline without it).

mod common;

use std::path::Path;

use gst::prelude::*;

const FRAMES: u32 = 120;
const ROUNDS: usize = 3;

const SPEC: &str = "labels: {car: {bbox: {border_color: FF0000FF, thickness: 2}, \
    label: {font_color: FFFFFFFF, background_color: 000000FF, font_scale: 0.5, \
    format: ['{label} #{track_id}', '{confidence}'], position: TopLeftOutside}}}";

fn main() {
    gst::init().unwrap();
    gstsavant::plugin_register_static().unwrap();
    let stages = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/stages/draw_objects.py");
    let stages = stages.display();
    let rows = [
        ("no drawing (baseline)", "identity".to_owned()),
        (
            "savantdrawfunc, spec only",
            format!("savantdrawfunc draw-spec=\"{SPEC}\""),
        ),
        (
            "savantdrawfunc, Python Artist hook",
            format!("savantdrawfunc module={stages} class-name=ArtistDraw"),
        ),
        (
            "savantpyfunc + cv2 (Savant's way)",
            format!("savantpyfunc module={stages} class-name=OpenCvDraw writable=true"),
        ),
    ];
    let mut best = vec![0.0f64; rows.len()];
    for _ in 0..ROUNDS {
        for (i, (_, element)) in rows.iter().enumerate() {
            best[i] = best[i].max(fps(&stages.to_string(), element));
        }
    }
    println!(
        "\n1920x1080 RGBA, 100 objects with two-line labels, best of {ROUNDS} x {FRAMES} frames"
    );
    for ((name, _), fps) in rows.iter().zip(&best) {
        println!("{name:<38} {fps:8.1} fps");
    }
    println!(
        "\nspec only / OpenCV in Python: {:.1}x (target >= 3)\nArtist hook / OpenCV in Python: {:.1}x",
        best[1] / best[3],
        best[2] / best[3]
    );
}

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;

/// The boxes of benches/stages/draw_objects.py, as the Rust source attaches them.
fn boxes() -> impl Iterator<Item = (usize, (u32, u32, u32, u32))> {
    (0..100).map(|i| {
        (
            i,
            (
                40 + (i as u32 % 10) * 185,
                40 + (i as u32 / 10) * 102,
                150,
                70,
            ),
        )
    })
}

fn fps(_stages: &str, element: &str) -> f64 {
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "RGBA")
        .field("width", WIDTH as i32)
        .field("height", HEIGHT as i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build();
    let description = format!(
        "appsrc name=src format=time ! {element} name=stage ! fakesink name=sink sync=false"
    );
    let pipeline = common::launch(&description);
    let src = common::appsrc(&pipeline, "src");
    src.set_caps(Some(&caps));
    src.set_max_buffers(4);
    src.set_block(true);
    let pool = gst::BufferPool::new();
    let mut config = pool.config();
    config.set_params(Some(&caps), WIDTH * HEIGHT * 4, 4, 0);
    pool.set_config(config).unwrap();
    pool.set_active(true).unwrap();

    let arrivals = common::record_arrivals(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    let feeder = std::thread::spawn(move || {
        for n in 0..FRAMES as u64 {
            let mut buffer = pool.acquire_buffer(None).unwrap();
            {
                let buffer = buffer.get_mut().unwrap();
                buffer.set_pts(gst::ClockTime::from_mseconds(n * 33));
                for (i, rect) in boxes() {
                    let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, "car", rect);
                    meta.add_param(
                        gst::Structure::builder("detection")
                            .field("confidence", 0.5 + i as f64 / 250.0)
                            .build(),
                    );
                    meta.add_param(
                        gst::Structure::builder("savant-object")
                            .field("track-id", i as i64)
                            .build(),
                    );
                }
            }
            if src.push_buffer(buffer).is_err() {
                break;
            }
        }
        let _ = src.end_of_stream();
    });
    common::wait_end(&pipeline, 300).unwrap_or_else(|e| panic!("{description}: {e}"));
    feeder.join().unwrap();
    let stage = pipeline.by_name("stage").unwrap();
    if stage.find_property("stats").is_some() {
        let stats = stage.property::<gst::Structure>("stats");
        let frames = stats.get::<u64>("frames").unwrap_or(0).max(1) as f64;
        let per_frame = |field: &str| stats.get::<u64>(field).unwrap_or(0) as f64 / frames / 1e3;
        eprintln!(
            "  {element:.40}: per frame {:.0} us in Python, {:.0} us rasterizing",
            per_frame("python-ns"),
            per_frame("draw-ns")
        );
    }
    pipeline.set_state(gst::State::Null).unwrap();
    common::fps_of(&arrivals)
}
