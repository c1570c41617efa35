//! Soak: many frames through savantpyfunc (numpy view, attributes, objects) ->
//! savantqueue -> savantdrawfunc; RSS after warm-up stays flat. A binary of its own
//! so no other test's memory blurs the figure.
//!
//!     SOAK_FRAMES=100000 cargo test --test soak -- --nocapture

mod common;

use std::time::Duration;

use common::{full_stage, init, rss_kib, run_to_eos};
use gst::prelude::*;

#[test]
fn soak_rss_stays_flat_after_warm_up() {
    init();
    let stage = full_stage();
    // SOAK_FRAMES=100000 for the long run.
    let frames: u64 = std::env::var("SOAK_FRAMES")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(20_000);
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,format=RGBA,width=64,height=48 \
         ! savantpyfunc module={stage} class-name=Stage ! savantqueue \
         ! savantdrawfunc ! fakesink name=sink sync=false"
    ))
    .unwrap();
    let warm = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let (warm, seen) = (warm.clone(), seen.clone());
        pipeline
            .downcast_ref::<gst::Bin>()
            .unwrap()
            .by_name("sink")
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 2000 {
                    *warm.lock().unwrap() = Some(rss_kib());
                }
                gst::PadProbeReturn::Ok
            });
    }
    run_to_eos(&pipeline, Duration::from_secs(600));
    let end = rss_kib();
    pipeline.set_state(gst::State::Null).unwrap();
    let warm = warm.lock().unwrap().unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), frames);
    eprintln!("soak: RSS {warm} KiB after warm-up, {end} KiB after {frames} frames");
    assert!(
        end <= warm + 5 * 1024,
        "RSS grew {} KiB",
        end.saturating_sub(warm)
    );
}
