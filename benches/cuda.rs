//! CUDA frames, on a GPU host: 1080p NV12 frames from nvh264dec through a CuPy stage
//! (a per-pixel kernel on both planes) and a PyTorch stage (a 3x3 convolution of the
//! luma plane), each done three ways in the same run:
//!
//! - zero-copy: `nvh264dec ! savantpyfunc` on the decoder's CUDA memory;
//! - round trip: `nvh264dec ! cudadownload ! savantpyfunc ! cudaupload`, the stage
//!   uploading the frame and downloading its result;
//! - CPU: `nvh264dec ! cudadownload ! savantpyfunc`, numpy or PyTorch on the CPU;
//!
//! plus the decoder alone. Frames per second come from two frame counts (start-up
//! cancelled). Then the GPU memory a savantqueue of length 10 holds, as its stats say
//! and as nvidia-smi sees it (against length 1).
//!
//! Uses only GStreamer's API (the plugin is loaded from `SAVANT_PLUGIN_DIR`, else
//! cargo's target folder), so the binary runs on a GPU host from the bundle:
//!
//!     SAVANT_TEST_H264=clip.h264 cargo bench --bench cuda

mod common;

use std::time::Instant;

use gst::prelude::*;

fn stages() -> String {
    let path = common::stages_dir().join("gpu_frames.py");
    assert!(path.exists(), "{} missing", path.display());
    path.display().to_string()
}

/// Runs `description` to EOS; seconds from PLAYING to EOS, or the error.
fn run_seconds(description: &str) -> Result<f64, String> {
    let pipeline = common::launch(description);
    let started = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let end = common::wait_end(&pipeline, 300);
    let seconds = started.elapsed().as_secs_f64();
    pipeline.set_state(gst::State::Null).unwrap();
    end.map(|()| seconds)
        .map_err(|e| format!("{description}: {e}"))
}

/// Frames per second of `middle` (between the decoder and fakesink): two runs of
/// `short` and `long` frames, best of `rounds` each; NaN (the error printed) when a
/// run fails, so the other measurements still run.
fn fps(clip: &str, middle: &str, short: u32, long: u32, rounds: u32) -> f64 {
    let time = |frames: u32| -> Result<f64, String> {
        let mut best = f64::MAX;
        for _ in 0..rounds {
            best = best.min(run_seconds(&format!(
                "filesrc location={clip} ! h264parse ! identity eos-after={frames} \
                 ! nvh264dec {middle} ! fakesink sync=false"
            ))?);
        }
        Ok(best)
    };
    match (time(short), time(long)) {
        (Ok(t_short), Ok(t_long)) => (long - short) as f64 / (t_long - t_short).max(1e-9),
        (Err(e), _) | (_, Err(e)) => {
            println!("FAILED: {e}");
            f64::NAN
        }
    }
}

/// MiB of GPU memory nvidia-smi says this process uses.
fn nvidia_smi_mib() -> Option<u64> {
    let output = std::process::Command::new("nvidia-smi")
        .args([
            "--query-compute-apps=pid,used_memory",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    let pid = std::process::id().to_string();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once(','))
        .filter(|(p, _)| p.trim() == pid)
        .map(|(_, m)| m.trim().parse::<u64>().ok())
        .sum()
}

/// With a savantqueue of `length` in front of a slow stage, once it is full: its
/// GPU bytes (stats) and nvidia-smi's MiB for this process.
fn queue_memory(clip: &str, stages: &str, length: u32) -> (u64, u64, String) {
    let pipeline = common::launch(&format!(
        "filesrc location={clip} ! h264parse ! nvh264dec \
         ! savantqueue name=q length={length} mode=always \
         ! savantpyfunc module={stages} class-name=Slow ! fakesink sync=false"
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    // 40 ms a frame: a queue of 10 is full well within 2 s.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let stats = pipeline
        .by_name("q")
        .unwrap()
        .property::<gst::Structure>("stats");
    let smi = nvidia_smi_mib().unwrap_or(0);
    pipeline.set_state(gst::State::Null).unwrap();
    (
        stats.get::<u64>("level-gpu-bytes").unwrap_or(0),
        smi,
        stats.to_string(),
    )
}

fn main() {
    gst::init().unwrap();
    let plugin = common::plugin_dir().join("libgstsavant.so");
    gst::Plugin::load_file(&plugin).unwrap_or_else(|e| panic!("{}: {e}", plugin.display()));
    if gst::ElementFactory::find("nvh264dec").is_none() {
        println!("cuda bench: skipped: no nvh264dec (no NVIDIA GPU, driver or NVDEC here)");
        return;
    }
    let Some(clip) = std::env::var_os("SAVANT_TEST_H264") else {
        println!("cuda bench: skipped: set SAVANT_TEST_H264 to a 1080p H.264 clip");
        return;
    };
    let clip = clip.to_string_lossy().into_owned();
    let stages = stages();
    let (short, long, rounds) = (100, 200, 2);
    let stage =
        |class: &str| format!("savantpyfunc writable=true module={stages} class-name={class}");
    let cuda = "video/x-raw(memory:CUDAMemory),format=NV12";
    let download = "cudadownload ! video/x-raw,format=NV12";

    println!("\n1080p NV12 from nvh264dec, frames {short} and {long}, best of {rounds}");
    let decode = fps(&clip, &format!("! {cuda}"), short, long, rounds);
    println!("decode only                          {decode:8.1} fps");
    let mut rows = Vec::new();
    for (name, zero, trip, cpu) in [
        (
            "CuPy per-pixel kernel",
            "CupyZeroCopy",
            "CupyRoundTrip",
            "NumpyCpu",
        ),
        (
            "PyTorch 3x3 conv",
            "TorchZeroCopy",
            "TorchRoundTrip",
            "TorchCpu",
        ),
    ] {
        let zero_copy = fps(
            &clip,
            &format!("! {cuda} ! {}", stage(zero)),
            short,
            long,
            rounds,
        );
        let round_trip = fps(
            &clip,
            &format!("! {download} ! {} ! cudaupload ! {cuda}", stage(trip)),
            short,
            long,
            rounds,
        );
        let on_cpu = fps(
            &clip,
            &format!("! {download} ! {}", stage(cpu)),
            short,
            long,
            rounds,
        );
        println!("{name}: zero-copy                {zero_copy:8.1} fps");
        println!("{name}: download/upload          {round_trip:8.1} fps");
        println!("{name}: CPU                      {on_cpu:8.1} fps");
        rows.push((name, zero_copy, round_trip, on_cpu));
    }
    println!();
    for (name, zero_copy, round_trip, on_cpu) in rows {
        println!(
            "{name}: zero-copy / download-upload {:.2}, zero-copy / CPU {:.2}",
            zero_copy / round_trip,
            zero_copy / on_cpu
        );
    }

    let (bytes_10, smi_10, stats_10) = queue_memory(&clip, &stages, 10);
    let (bytes_1, smi_1, _) = queue_memory(&clip, &stages, 1);
    println!("\nsavantqueue length=10 in front of a 40 ms stage: {stats_10}");
    println!(
        "GPU memory held: stats level-gpu-bytes {:.1} MiB (length 1: {:.1} MiB); \
         nvidia-smi for this process {smi_10} MiB (length 1: {smi_1} MiB)",
        bytes_10 as f64 / 1048576.0,
        bytes_1 as f64 / 1048576.0
    );
    println!(
        "length 10 - length 1: stats {:.1} MiB, nvidia-smi {} MiB",
        (bytes_10 as f64 - bytes_1 as f64) / 1048576.0,
        smi_10 as i64 - smi_1 as i64
    );
}
