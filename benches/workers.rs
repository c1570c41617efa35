//! savantpyfunc workers=N, one run: a stage releasing the GIL for ~30 ms a frame
//! (cv2 on one core, 1280x720) with workers 1, 2, 4, and a trivial stage with
//! workers 1 and 2.
//!
//!     cargo bench --bench workers

mod common;

use std::path::Path;

use gst::prelude::*;

fn main() {
    gst::init().unwrap();
    gstsavant::plugin_register_static().unwrap();
    let stages = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/stages/heavy.py");
    let stages = stages.display().to_string();
    let rounds = 2;
    let best = |function: &str, workers: u32, frames: u32| {
        (0..rounds)
            .map(|_| fps(&stages, function, workers, frames))
            .fold(0.0, f64::max)
    };
    println!("\nworkers=N, 1280x720 RGBA, best of {rounds}");
    let heavy: Vec<f64> = [1, 2, 4].iter().map(|&w| best("heavy", w, 60)).collect();
    for (w, fps) in [1, 2, 4].iter().zip(&heavy) {
        println!("heavy (~30 ms, GIL released), workers={w}: {fps:8.1} fps");
    }
    let trivial: Vec<f64> = [1, 2].iter().map(|&w| best("trivial", w, 20000)).collect();
    for (w, fps) in [1, 2].iter().zip(&trivial) {
        println!("trivial,                         workers={w}: {fps:8.1} fps");
    }
    println!(
        "\nheavy workers=2 / workers=1: {:.2} (target >= 1.8); workers=4 / 1: {:.2}",
        heavy[1] / heavy[0],
        heavy[2] / heavy[0]
    );
    println!(
        "trivial workers=2 / workers=1: {:.2} (target >= 0.8)",
        trivial[1] / trivial[0]
    );
}

fn fps(stages: &str, function: &str, workers: u32, frames: u32) -> f64 {
    let description = format!(
        "videotestsrc pattern=black num-buffers=1 ! video/x-raw,format=RGBA,width=1280,height=720 \
         ! imagefreeze num-buffers={frames} \
         ! savantpyfunc module={stages} function={function} workers={workers} \
         ! fakesink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&description).unwrap();
    let arrivals = common::record_arrivals(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    common::wait_end(&pipeline, 300).unwrap_or_else(|e| panic!("{description}: {e}"));
    pipeline.set_state(gst::State::Null).unwrap();
    common::fps_of(&arrivals)
}
