//! Soak: many frames through savantpyfunc (numpy view, attributes, objects) ->
//! savantqueue -> savantdrawfunc; RSS after warm-up stays flat. A binary of its own
//! so no other test's memory blurs the figure.
//!
//!     SOAK_FRAMES=100000 cargo test --test soak -- --nocapture

mod common;

use common::{count_from_env, full_stage, init, rss_over_run, RssRun};

#[test]
fn soak_rss_stays_flat_after_warm_up() {
    init();
    let stage = full_stage();
    // SOAK_FRAMES=100000 for the long run.
    let frames = count_from_env("SOAK_FRAMES", 20_000);
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,format=RGBA,width=64,height=48 \
         ! savantpyfunc module={stage} class-name=Stage ! savantqueue \
         ! savantdrawfunc ! fakesink name=sink sync=false"
    ))
    .unwrap();
    let RssRun {
        warm_kib: warm,
        end_kib: end,
        frames: seen,
    } = rss_over_run(&pipeline, 2000);
    assert_eq!(seen, frames);
    eprintln!("soak: RSS {warm} KiB after warm-up, {end} KiB after {frames} frames");
    assert!(
        end <= warm + 5 * 1024,
        "RSS grew {} KiB",
        end.saturating_sub(warm)
    );
}
