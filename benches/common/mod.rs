//! Helpers the benchmark programs share: where the plugin and the bench stages are,
//! buffer arrival times at a sink, peak memory, medians; and the tests' pipeline
//! helpers (tests/common/pipelines.rs: GStreamer's API alone).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;

#[path = "../../tests/common/pipelines.rs"]
mod pipelines;
#[allow(unused_imports)]
pub use pipelines::{appsink, appsrc, launch, wait_end};

/// The directory of the plugin built with the bench (`SAVANT_PLUGIN_DIR` overrides):
/// the bench binary lives in target/<profile>/deps.
pub fn plugin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SAVANT_PLUGIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// benches/stages (`SAVANT_BENCH_STAGES` overrides).
pub fn stages_dir() -> PathBuf {
    std::env::var_os("SAVANT_BENCH_STAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/stages"))
}

/// Records when each buffer reaches the sink pad of `pipeline`'s element `sink`.
pub fn record_arrivals(pipeline: &gst::Element, sink: &str) -> Arc<Mutex<Vec<Instant>>> {
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let recorder = arrivals.clone();
    pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name(sink)
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            recorder.lock().unwrap().push(Instant::now());
            gst::PadProbeReturn::Ok
        });
    arrivals
}

/// This process's peak resident memory (VmHWM), in KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The median of `samples` (sorted in place).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

/// Frames per second between the first and the last arrival.
pub fn fps_of(arrivals: &Mutex<Vec<Instant>>) -> f64 {
    let arrivals = arrivals.lock().unwrap();
    let seconds = arrivals
        .last()
        .unwrap()
        .duration_since(arrivals[0])
        .as_secs_f64();
    (arrivals.len() - 1) as f64 / seconds
}
