//! Many streams, one stage: 8 sources of 640x480 through savantmux, one
//! savantpyfunc running a 100 MB numpy "model" (benches/stages/model.py) with
//! batch-size 1, 4 and 8, and savantdemux; against 8 separate branches, each with a
//! stage of its own (and its own copy of the model). Frames per second from two
//! frame counts (start-up and model loading cancelled), peak RSS per configuration
//! (each runs in a child process).
//!
//!     cargo bench --bench many_streams
//!
//! numpy's matrix product is only as good as its BLAS: with Debian's reference
//! BLAS a batch costs as much as its frames one by one (install libopenblas0 for a
//! real one). Each configuration runs with OPENBLAS_NUM_THREADS=1, so parallelism
//! comes from the pipeline alone.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;

const SOURCES: usize = 8;
const FEW: u32 = 15;
const MANY: u32 = 45;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--run") {
        let config = &args[i + 1];
        let frames: u32 = args[i + 2].parse().unwrap();
        let seconds = run(config, frames);
        println!("seconds={seconds} rss_kib={}", common::peak_rss_kib());
        return;
    }
    let configs = ["mux-batch-1", "mux-batch-4", "mux-batch-8", "branches"];
    let blas = Command::new("/usr/bin/python3")
        .args(["-c", "import numpy, numpy.linalg; c = numpy.__config__.CONFIG if hasattr(numpy.__config__, 'CONFIG') else None; import ctypes.util; print(ctypes.util.find_library('openblas') or 'reference BLAS (no OpenBLAS)')"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("\nBLAS: {blas}");
    println!("\n{SOURCES} sources of 640x480 RGBA, a 100 MB model; fps from {FEW} and {MANY} frames a source");
    let mut results = Vec::new();
    for config in configs {
        let (t_few, _) = child(config, FEW);
        let (t_many, rss) = child(config, MANY);
        let fps = (SOURCES as f64 * (MANY - FEW) as f64) / (t_many - t_few);
        println!(
            "{config:12}: {fps:7.1} fps, peak RSS {:6.0} MiB",
            rss as f64 / 1024.0
        );
        results.push((fps, rss));
    }
    let (branches_fps, branches_rss) = results[3];
    for (config, (fps, _)) in configs.iter().zip(&results).take(3) {
        println!("{config} / 8 branches: {:.2}x fps", fps / branches_fps);
    }
    println!(
        "RSS, one shared stage (batch 8) / 8 branch stages: {:.2} ({:.0} MiB less)",
        results[2].1 as f64 / branches_rss as f64,
        (branches_rss as f64 - results[2].1 as f64) / 1024.0
    );
}

/// Runs one configuration in a child process: (seconds, peak RSS in KiB).
fn child(config: &str, frames: u32) -> (f64, u64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("OPENBLAS_NUM_THREADS", "1")
        .args(["--run", config, &frames.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{config}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or_else(|| panic!("{config}: no {name} in {text}"))
            .to_owned()
    };
    (
        field("seconds=").parse().unwrap(),
        field("rss_kib=").parse().unwrap(),
    )
}

fn run(config: &str, frames: u32) -> f64 {
    gst::init().unwrap();
    gstsavant::plugin_register_static().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/stages/model.py");
    let model = model.display();
    let source = |i: usize| {
        format!(
            " videotestsrc num-buffers={frames} pattern=ball \
             ! video/x-raw,format=RGBA,width=640,height=480,framerate=30/1 ! queue ! m.sink_{i}"
        )
    };
    let description = match config.strip_prefix("mux-batch-") {
        Some(batch) => {
            let mut d = format!(
                "savantmux name=m ! savantpyfunc name=stage0 module={model} class-name=BatchModel \
                 batch-size={batch} batch-timeout=1000 ! savantdemux name=d"
            );
            for i in 0..SOURCES {
                d += &format!(" d.src_sink_{i} ! fakesink sync=false async=false");
                d += &source(i);
            }
            d
        }
        None => (0..SOURCES)
            .map(|i| {
                format!(
                    " videotestsrc num-buffers={frames} pattern=ball \
                     ! video/x-raw,format=RGBA,width=640,height=480,framerate=30/1 \
                     ! savantpyfunc name=stage{i} module={model} class-name=Model \
                     ! fakesink sync=false"
                )
            })
            .collect(),
    };
    let pipeline = gst::parse::launch(&description).unwrap();
    // From the first frame out of a stage to the last: loading the models (at
    // start) is not counted; the two frame counts cancel the rest of the start-up.
    let span: Arc<Mutex<(Option<Instant>, Option<Instant>)>> = Arc::default();
    let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
    for i in 0..SOURCES {
        let Some(stage) = bin.by_name(&format!("stage{i}")) else {
            continue;
        };
        let span = span.clone();
        stage
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let now = Instant::now();
                let mut span = span.lock().unwrap();
                span.0.get_or_insert(now);
                span.1 = Some(now);
                gst::PadProbeReturn::Ok
            });
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(600))
    {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{config}: {} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let span = span.lock().unwrap();
    (span.1.unwrap() - span.0.unwrap()).as_secs_f64()
}
