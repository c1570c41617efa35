//! Text costs stay bounded whatever the text: the glyph and line caches hold at most
//! their byte bounds, and RSS stays flat over many frames of ever-changing font
//! sizes and texts. A binary of its own so no other test's memory blurs the figure.
//!
//!     TEXT_FRAMES=100000 cargo test --release --test text_bounds -- --nocapture

mod common;

use common::{init, module, rss_kib};
use gstsavant::draw::canvas::{packed_order, Canvas, Planes};
use gstsavant::draw::color::Rgba;
use gstsavant::draw::text;

#[test]
fn glyph_and_line_caches_stay_within_their_byte_bounds() {
    init();
    let (w, h) = (640usize, 360usize);
    let mut data = vec![0u8; w * h * 4];
    let mut canvas = Canvas {
        width: w as i32,
        height: h as i32,
        planes: Planes::Packed {
            data: &mut data,
            stride: w * 4,
            order: packed_order(gst_video::VideoFormat::Rgba).unwrap(),
        },
    };
    let white = Rgba::new(255, 255, 255, 255);
    let (mut most_glyph_bytes, mut most_line_bytes) = (0, 0);
    for i in 0..3000u32 {
        // A size that never repeats, and text that never repeats.
        let px = 4.0 + (i as f32 * 0.37) % 120.0;
        let label = format!("object {i} {}", "Wq#".repeat((i % 40) as usize));
        canvas.text(&label, (i % 50) as f32, (i % 300) as f32, px, white);
        let (glyph_bytes, line_bytes) = text::cache_bytes();
        assert!(
            glyph_bytes <= text::GLYPH_CACHE_BYTES,
            "glyph cache at {glyph_bytes} bytes"
        );
        assert!(
            line_bytes <= text::LINE_CACHE_BYTES,
            "line cache at {line_bytes} bytes"
        );
        most_glyph_bytes = most_glyph_bytes.max(glyph_bytes);
        most_line_bytes = most_line_bytes.max(line_bytes);
    }
    eprintln!(
        "caches peaked at {most_glyph_bytes} glyph bytes (bound {}), {most_line_bytes} line \
         bytes (bound {})",
        text::GLYPH_CACHE_BYTES,
        text::LINE_CACHE_BYTES
    );
    // The run filled both caches to their bounds at least once (so the bound, not
    // the input, is what held them).
    assert!(most_glyph_bytes > text::GLYPH_CACHE_BYTES / 2);
    assert!(most_line_bytes > text::LINE_CACHE_BYTES / 2);
}

#[test]
fn rss_stays_flat_over_frames_of_changing_text_sizes() {
    init();
    let frames = common::count_from_env("TEXT_FRAMES", 20_000);
    let hook = module(
        "ever_changing_text",
        r#"
        def draw(frame, artist):
            n = frame.offset or 0
            # A new font size every frame, short labels and, now and then, a long one.
            scale = 0.2 + (n * 0.013) % 3.0
            artist.add_text(f"frame {n} car #{n * 7919 % 100003}", (4, 4), font_scale=scale,
                            background_color="000000FF")
            if n % 10 == 0:
                artist.add_text("label " * 100 + str(n), (0, 60), font_scale=2.0)
        "#,
    );
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,format=RGBA,width=320,height=240 \
         ! savantdrawfunc module={hook} ! fakesink name=sink sync=false"
    ))
    .unwrap();
    let start = rss_kib();
    let common::RssRun {
        warm_kib: warm,
        end_kib: end,
        frames: seen,
    } = common::rss_over_run(&pipeline, frames / 10);
    assert_eq!(seen, frames);
    let (glyph_bytes, line_bytes) = text::cache_bytes();
    eprintln!(
        "text: RSS {start} KiB at start, {warm} KiB after {} frames, {end} KiB after \
         {frames} frames; caches hold {glyph_bytes} glyph bytes, {line_bytes} line bytes",
        frames / 10
    );
    // The caches may still fill up to their bounds after warm-up; beyond that,
    // nothing may grow.
    let bound_kib = ((text::GLYPH_CACHE_BYTES + text::LINE_CACHE_BYTES) / 1024) as u64;
    assert!(
        end <= warm + bound_kib + 8 * 1024,
        "RSS grew {} KiB",
        end.saturating_sub(warm)
    );
}
