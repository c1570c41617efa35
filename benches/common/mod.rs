//! Helpers the benchmark programs share: where the plugin and the bench stages are,
//! peak memory, medians; and the tests' pipeline helpers (tests/common/pipelines.rs:
//! GStreamer's API alone), buffer arrival times at a sink among them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

#[path = "../../tests/common/pipelines.rs"]
mod pipelines;
#[allow(unused_imports)]
pub use pipelines::{appsink, appsrc, launch, record_arrivals, wait_end};

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
