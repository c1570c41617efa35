//! Per-buffer cost of a Python stage over `identity`: savantpyfunc against an
//! equivalent gst-python element (Savant's way), measured in one run.
//!
//!     cargo build --release && cargo bench --bench pyfunc_overhead
//!
//! Each row runs `gst-launch-1.0` with two buffer counts; the slope between them is
//! the marginal cost per buffer (start-up cancels out). Rounds are interleaved and
//! the median is kept, because this machine is shared and noisy.
//!
//! Uses GStreamer's tools alone, so scripts/gpu-bundle.sh carries it to a quiet
//! host: the plugin from `SAVANT_PLUGIN_DIR`, the stages from `SAVANT_BENCH_STAGES`;
//! the gst-python rows are left out where gst-python is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

// Tiny frames and many of them: the per-buffer cost (a fraction of a µs) must
// dominate the difference of the two runs, not process start-up jitter (tens of ms
// here). 60k vs 10k buffers of 64x64 swung by ±0.5 µs between runs.
const SHORT: u64 = 40_000;
const LONG: u64 = 400_000;
const WIDTH: u32 = 16;
const HEIGHT: u32 = 16;

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

struct Row {
    name: &'static str,
    element: String,
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plugin_dir = common::plugin_dir();
    assert!(
        plugin_dir.join("libgstsavant.so").exists(),
        "{}/libgstsavant.so missing: run `cargo build --release` first",
        plugin_dir.display()
    );
    let stages = common::stages_dir();
    let plugin_path = format!(
        "{}:{}",
        plugin_dir.display(),
        root.join("benches/gst_python").display()
    );
    let mut rows = vec![
        Row {
            name: "identity (baseline)",
            element: "identity".into(),
        },
        Row {
            name: "savantpyfunc, trivial function",
            element: format!("savantpyfunc module={}/trivial.py", stages.display()),
        },
        Row {
            name: "savantpyfunc, np.asarray(frame)",
            element: format!("savantpyfunc module={}/asarray.py", stages.display()),
        },
    ];
    // gst-python's rows need its `python` plugin (python3-gst-1.0); a host without
    // it (the GPU host's bundle) measures the plugin alone.
    let gst_python = available(&plugin_path, "benchpytrivial");
    if gst_python {
        rows.push(Row {
            name: "gst-python, trivial function",
            element: "benchpytrivial".into(),
        });
        rows.push(Row {
            name: "gst-python, map + np.frombuffer",
            element: "benchpyarray".into(),
        });
    } else {
        println!("gst-python is not installed here: its rows are left out");
    }

    let rounds = rounds();
    let mut slopes: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    for _ in 0..rounds {
        for (row, samples) in rows.iter().zip(&mut slopes) {
            let short = run(&plugin_path, &row.element, SHORT);
            let long = run(&plugin_path, &row.element, LONG);
            samples.push((long - short) / (LONG - SHORT) as f64 * 1e6);
        }
    }
    let medians: Vec<f64> = slopes.iter_mut().map(|s| common::median(s)).collect();
    let baseline = medians[0];
    let overhead = |i: usize| (medians[i] - baseline).max(0.001);

    println!(
        "\nPer-buffer cost, RGBA {WIDTH}x{HEIGHT}, median of {rounds} interleaved rounds ({SHORT} vs {LONG} buffers)"
    );
    println!(
        "{:<34} {:>12} {:>16}",
        "element", "µs/buffer", "over identity"
    );
    for (i, row) in rows.iter().enumerate() {
        println!(
            "{:<34} {:>12.3} {:>16.3}",
            row.name,
            medians[i],
            medians[i] - baseline
        );
    }
    println!();
    if gst_python {
        println!(
            "gst-python trivial / savantpyfunc trivial overhead:   {:>6.1}x",
            overhead(3) / overhead(1)
        );
        println!(
            "gst-python array / savantpyfunc np.asarray overhead:  {:>6.1}x",
            overhead(4) / overhead(2)
        );
    }
    println!(
        "target: savantpyfunc trivial <= 0.25 µs/buffer over identity on a quiet machine (got {:.3})",
        overhead(1)
    );
}

/// Whether `element` can be made with this plugin path.
fn available(plugin_path: &str, element: &str) -> bool {
    Command::new("gst-inspect-1.0")
        .env("GST_PLUGIN_PATH", plugin_path)
        .env("PATH", path_with_system_python())
        .env("GST_REGISTRY", registry())
        .arg(element)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// gst-python's loader starts Python with no pinned home: with another python3
/// first on PATH (pyenv) it fails and GStreamer blacklists it in the shared
/// registry. Run with the system python3 first and a registry of our own.
fn path_with_system_python() -> String {
    format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default())
}

fn registry() -> PathBuf {
    std::env::temp_dir().join("gst-savant-bench-registry.bin")
}

/// Wall time of one gst-launch run, in seconds.
fn run(plugin_path: &str, element: &str, buffers: u64) -> f64 {
    let description = format!(
        "-q videotestsrc pattern=black num-buffers={buffers} \
         ! video/x-raw,format=RGBA,width={WIDTH},height={HEIGHT} ! {element} ! fakesink"
    );
    let started = Instant::now();
    let output = Command::new("gst-launch-1.0")
        .env("GST_PLUGIN_PATH", plugin_path)
        .env("PATH", path_with_system_python())
        .env("GST_REGISTRY", registry())
        .args(description.split_whitespace())
        .output()
        .expect("run gst-launch-1.0");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{description}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}
