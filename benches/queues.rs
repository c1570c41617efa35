//! Do queues ahead of Python stages pay off? One run, on this machine: stages
//! {1, 2, 3} x work {cv2 blur (releases the GIL), 20 us and 1 ms pure-Python loops}
//! x {no queues, savantqueue length 1, length 10}, against Savant's way (gst-python
//! elements behind GStreamer queues) and the ceiling (plain Python threads). The
//! "q10 always" column is savantqueue with mode=always (never inline): what a
//! plain queue costs GIL-bound stages.
//!
//!     cargo bench --bench queues
//!
//! Every row runs in a child process (this binary again), so its peak RSS is its own;
//! fps is measured at the sink from the first to the last frame, so start-up
//! (interpreter, imports) is excluded. Each row is run `BENCH_REPEATS` times (2) and
//! the best kept: the machine is shared.
//!
//! The fps rows feed one frame through `imagefreeze`, so the source costs next to
//! nothing and the stages are what is measured (the ceiling has no source either);
//! those frames share memory, so a last table runs fresh `videotestsrc` frames through
//! slow stages to show what queued frames cost in RSS.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const WORKS: [&str; 3] = ["blur", "py20us", "py1ms"];
const QUEUES: [&str; 3] = ["none", "1", "10"];
/// Extra savant configuration: length 10 with mode=always.
const ALWAYS: &str = "10always";

fn frames_for(work: &str) -> u32 {
    match work {
        "blur" => 90,
        "py1ms" => 300,
        _ => 20000,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let spec = &args[i + 1..];
        child(
            &spec[0],
            spec[1].parse().unwrap(),
            &spec[2],
            &spec[3],
            &spec[4],
        );
        return;
    }
    let repeats: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);

    println!("\nQueues ahead of Python stages, {WIDTH}x{HEIGHT} RGBA, best of {repeats}");
    println!(
        "fps (peak RSS MiB); 'savant' = savantpyfunc + savantqueue, 'gst-python' = Savant's way\n"
    );
    println!(
        "{:<16} {:>18} {:>18} {:>18} {:>18} {:>18} {:>18} {:>18} {:>9} {:>12}",
        "stages x work",
        "savant none",
        "savant q1",
        "savant q10",
        "q10 always",
        "gst-py none",
        "gst-py q1",
        "gst-py q10",
        "q10/none",
        "vs gst-py"
    );
    let mut summary = Vec::new();
    for work in WORKS {
        for stages in 1..=3u32 {
            let ours: Vec<(f64, f64)> = QUEUES
                .iter()
                .map(|q| best_of(repeats, "savant", stages, work, q))
                .collect();
            let always = best_of(repeats, "savant", stages, work, ALWAYS);
            let theirs: Vec<(f64, f64)> = QUEUES
                .iter()
                .map(|q| best_of(repeats, "gstpython", stages, work, q))
                .collect();
            let cell = |(fps, rss): (f64, f64)| format!("{fps:8.1} ({rss:5.0})");
            let worst_vs_theirs = ours
                .iter()
                .zip(&theirs)
                .map(|(o, t)| o.0 / t.0)
                .fold(f64::INFINITY, f64::min);
            println!(
                "{:<16} {:>18} {:>18} {:>18} {:>18} {:>18} {:>18} {:>18} {:>8.2}x {:>11.2}x",
                format!("{stages} x {work}"),
                cell(ours[0]),
                cell(ours[1]),
                cell(ours[2]),
                cell(always),
                cell(theirs[0]),
                cell(theirs[1]),
                cell(theirs[2]),
                ours[2].0 / ours[0].0,
                worst_vs_theirs
            );
            summary.push((stages, work, ours, worst_vs_theirs, always));
        }
    }

    println!("\nCeiling: plain Python threads, one per stage, each blurring every frame");
    let mut ceilings = Vec::new();
    for stages in 1..=3u32 {
        let fps = (0..repeats).map(|_| ceiling(stages)).fold(0.0, f64::max);
        ceilings.push(fps);
        println!("{stages} thread(s): {fps:8.1} fps");
    }

    println!("\nTargets");
    let blur3 = summary
        .iter()
        .find(|(s, w, ..)| *s == 3 && *w == "blur")
        .unwrap();
    let best_queued = blur3.2[1].0.max(blur3.2[2].0);
    println!(
        "3 x blur with queues / thread ceiling: {:.2} (target >= 0.90)",
        best_queued / ceilings[2]
    );
    for (stages, work, ours, _, always) in summary.iter().filter(|(_, w, ..)| *w != "blur") {
        let frame_us = |fps: f64| 1e6 / fps;
        println!(
            "{stages} x {work}: queues / no queues: q1 {:.2}, q10 {:.2} (target >= 1.00); \
             mode=always {:.2}, i.e. {:+.1} us per frame per queue of hand-over",
            ours[1].0 / ours[0].0,
            ours[2].0 / ours[0].0,
            always.0 / ours[0].0,
            (frame_us(always.0) - frame_us(ours[0].0)) / *stages as f64
        );
    }
    let worst = summary
        .iter()
        .map(|(_, _, _, w, _)| *w)
        .fold(f64::INFINITY, f64::min);
    println!("slowest row against Savant's way: {worst:.2}x (target > 1.00 in every row)");

    let frame_mib = (WIDTH * HEIGHT * 4) as f64 / (1 << 20) as f64;
    println!("\nMemory: fresh frames through 3 x py1ms stages (peak RSS; queues bound = length x 3 x {frame_mib:.1} MiB)");
    let (base_fps, base_rss) = run_child("savant", 3, "py1ms", "none", "fresh");
    println!("no queues: {base_fps:7.1} fps, {base_rss:6.0} MiB");
    for length in ["1", "10"] {
        let (fps, rss) = run_child("savant", 3, "py1ms", length, "fresh");
        let bound = length.parse::<f64>().unwrap() * 3.0 * frame_mib;
        println!(
            "length {length:>2}: {fps:7.1} fps, {rss:6.0} MiB: +{:.0} MiB over no queues, bound {bound:.0} MiB",
            rss - base_rss
        );
    }
}

fn best_of(
    repeats: usize,
    implementation: &str,
    stages: u32,
    work: &str,
    queue: &str,
) -> (f64, f64) {
    (0..repeats)
        .map(|_| run_child(implementation, stages, work, queue, "freeze"))
        .fold((0.0, 0.0), |best, r| if r.0 > best.0 { r } else { best })
}

/// Runs one row in a child process; returns (fps, peak RSS in MiB).
/// gst-python's loader starts Python with no pinned home: with another python3 first
/// on PATH (pyenv) it fails and GStreamer blacklists it in the shared registry. Its
/// rows run with the system python3 first and a registry of their own.
fn gst_python_environment() -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_default();
    let python_dir = Path::new(gstsavant::python::interpreter::BUILD_EXECUTABLE)
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let registry = std::env::temp_dir().join("gst-savant-bench-registry.bin");
    vec![
        ("PATH".into(), format!("{python_dir}:{path}")),
        ("GST_REGISTRY".into(), registry.display().to_string()),
    ]
}

fn run_child(
    implementation: &str,
    stages: u32,
    work: &str,
    queue: &str,
    source: &str,
) -> (f64, f64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            implementation,
            &stages.to_string(),
            work,
            queue,
            source,
        ])
        // Only the gst-python plugins: savant elements are registered statically.
        .env("GST_PLUGIN_PATH", root.join("benches/gst_python"))
        .envs(gst_python_environment())
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or_else(|| {
            panic!(
                "{implementation} {stages} {work} {queue} failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let mut fields = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse::<f64>().unwrap());
    (fields.next().unwrap(), fields.next().unwrap())
}

fn child(implementation: &str, stages: u32, work: &str, queue: &str, source: &str) {
    gst::init().unwrap();
    gstsavant::plugin_register_static().unwrap();
    let stages_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/stages");
    let frames = frames_for(work);
    let caps = format!("video/x-raw,format=RGBA,width={WIDTH},height={HEIGHT},framerate=30/1");
    let mut description = match source {
        "fresh" => format!("videotestsrc pattern=black num-buffers={frames} ! {caps}"),
        _ => format!(
            "videotestsrc pattern=black num-buffers=1 ! {caps} ! imagefreeze num-buffers={frames}"
        ),
    };
    for _ in 0..stages {
        match (implementation, queue) {
            (_, "none") => {}
            ("savant", ALWAYS) => description += " ! savantqueue length=10 mode=always",
            ("savant", length) => description += &format!(" ! savantqueue length={length}"),
            (_, length) => {
                description +=
                    &format!(" ! queue max-size-buffers={length} max-size-bytes=0 max-size-time=0")
            }
        }
        description += &match implementation {
            "savant" => format!(
                " ! savantpyfunc module={}/work.py class-name=Work kwargs=\"{{kind: {work}}}\"",
                stages_dir.display()
            ),
            _ => format!(" ! benchpywork kind={work}"),
        };
    }
    description += " ! fakesink name=sink sync=false";

    let pipeline = common::launch(&description);
    let arrivals: Arc<Mutex<Arrivals>> = Arc::default();
    let recorder = arrivals.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let mut a = recorder.lock().unwrap();
            let now = Instant::now();
            a.first.get_or_insert(now);
            a.last = Some(now);
            a.count += 1;
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(600)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{description}: {} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let a = arrivals.lock().unwrap();
    let seconds = a
        .last
        .unwrap()
        .duration_since(a.first.unwrap())
        .as_secs_f64();
    let fps = (a.count - 1) as f64 / seconds;
    println!("RESULT {fps:.2} {:.1}", peak_rss_mib());
}

/// Frames reaching the sink: when the first and the last arrived, and how many.
#[derive(Default)]
struct Arrivals {
    first: Option<Instant>,
    last: Option<Instant>,
    count: u64,
}

fn peak_rss_mib() -> f64 {
    common::peak_rss_kib() as f64 / 1024.0
}

/// Plain Python threads, one per stage, each blurring every frame: the most a
/// pipeline of `stages` blur stages could reach on this machine.
fn ceiling(stages: u32) -> f64 {
    let stages_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/stages");
    let frames = frames_for("blur");
    let script = format!(
        r#"
import sys, threading, time
sys.path.insert(0, {dir:?})
import numpy as np, work
img = np.zeros(({HEIGHT}, {WIDTH}, 4), np.uint8)
def stage():
    for _ in range({frames}):
        work.blur(img)
work.blur(img)
threads = [threading.Thread(target=stage) for _ in range({stages})]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print({frames} / (time.perf_counter() - start))
"#,
        dir = stages_dir.display().to_string()
    );
    let output = Command::new(gstsavant::python::interpreter::BUILD_EXECUTABLE)
        .args(["-c", &script])
        .output()
        .expect("run python3");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| {
            panic!(
                "ceiling failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}
