//! Shared test helpers: plugin registration, user modules on disk, and running a real
//! pipeline to collect its output buffers and bus messages.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use gst::prelude::*;

mod pipelines;
#[allow(unused_imports)]
pub use pipelines::{appsink, appsrc, launch, record_arrivals, wait_end, wait_until};

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstsavant::plugin_register_static().expect("register the savant plugin");
    });
}

/// Writes `source` as `<name>.py` in this test run's module directory and returns
/// its path. Names must be unique per test: modules are registered by file stem.
pub fn module(name: &str, source: &str) -> String {
    let dir = std::env::temp_dir().join(format!("savant-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.py"));
    // Written aside and renamed: tests running in parallel may write the same module
    // while another test imports it.
    let temporary = dir.join(format!(".{name}.{:?}.tmp", std::thread::current().id()));
    std::fs::write(&temporary, unindent(source)).unwrap();
    std::fs::rename(&temporary, &path).unwrap();
    path.to_string_lossy().into_owned()
}

/// target/<profile>, where cargo puts libgstsavant.so and the example binaries.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The folder to put on GST_PLUGIN_PATH for child processes (gst-launch, apps).
pub fn plugin_dir() -> PathBuf {
    let dir = target_dir();
    assert!(
        dir.join("libgstsavant.so").exists(),
        "{}/libgstsavant.so missing: run `cargo build` before the tests",
        dir.display()
    );
    dir
}

pub fn module_dir() -> PathBuf {
    std::env::temp_dir().join(format!("savant-tests-{}", std::process::id()))
}

fn unindent(source: &str) -> String {
    let source = source.trim_start_matches('\n');
    let indent = source
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    source
        .lines()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Evaluates a Python expression in the embedded interpreter (after an element
/// started it), e.g. to read what a user module recorded.
pub fn py_eval<T>(expr: &str) -> T
where
    T: for<'a, 'py> pyo3::FromPyObject<'a, 'py>,
{
    use pyo3::prelude::*;
    let code = std::ffi::CString::new(expr).unwrap();
    Python::attach(|py| {
        py.eval(&code, None, None)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .extract::<T>()
            .unwrap_or_else(|_| panic!("{expr}: unexpected type"))
    })
}

#[derive(Debug, Default)]
pub struct Run {
    pub buffers: Vec<gst::Buffer>,
    /// (message, debug) of the first ERROR.
    pub error: Option<(String, String)>,
    pub warnings: Vec<(String, String)>,
    pub eos: bool,
    pub state_change_failed: bool,
}

/// Runs `description`, which must contain an `appsink name=sink`, to EOS or ERROR.
pub fn run(description: &str) -> Run {
    init();
    let pipeline = launch(description);
    let sink = pipeline
        .by_name("sink")
        .expect("pipeline has appsink name=sink")
        .downcast::<gst_app::AppSink>()
        .unwrap();
    sink.set_property("sync", false);
    let buffers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let collected = buffers.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                collected
                    .lock()
                    .unwrap()
                    .push(sample.buffer_owned().unwrap());
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let mut result = Run::default();
    if pipeline.set_state(gst::State::Playing).is_err() {
        result.state_change_failed = true;
    }
    let bus = pipeline.bus().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            if result.state_change_failed {
                break;
            }
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                result.eos = true;
                break;
            }
            gst::MessageView::Error(e) => {
                result.error = Some((
                    e.error().to_string(),
                    e.debug().map(|d| d.to_string()).unwrap_or_default(),
                ));
                break;
            }
            gst::MessageView::Warning(w) => result.warnings.push((
                w.error().to_string(),
                w.debug().map(|d| d.to_string()).unwrap_or_default(),
            )),
            _ => {}
        }
    }
    assert!(
        result.eos || result.error.is_some(),
        "pipeline neither finished nor failed within 60 s: {description}"
    );
    pipeline.set_state(gst::State::Null).unwrap();
    result.buffers = std::mem::take(&mut *buffers.lock().unwrap());
    result
}

/// The error of a run that must have failed, with a readable panic otherwise.
pub fn expect_error(run: &Run) -> (String, String) {
    run.error
        .clone()
        .unwrap_or_else(|| panic!("expected an ERROR, got {run:?}"))
}

pub fn attributes(buffer: &gst::BufferRef) -> Option<gst::Structure> {
    gst::meta::CustomMeta::from_buffer(buffer, "SavantFrameAttributes")
        .ok()
        .map(|m| m.structure().to_owned())
}

/// Resident memory of this process, KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A count from the environment variable `var` (a soak's frames), else `default`.
pub fn count_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(default)
}

/// RSS of a run: after the warm-up and at EOS, with the frames the sink saw.
pub struct RssRun {
    pub warm_kib: u64,
    pub end_kib: u64,
    pub frames: u64,
}

/// Plays `pipeline` to EOS (10 minutes at most) and measures RSS when its element
/// "sink" gets buffer number `warm_up`, and at EOS; then sets it to NULL.
pub fn rss_over_run(pipeline: &gst::Element, warm_up: u64) -> RssRun {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::{Arc, Mutex};
    let warm = Arc::new(Mutex::new(None));
    let seen = Arc::new(AtomicU64::new(0));
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
                if seen.fetch_add(1, Relaxed) == warm_up {
                    *warm.lock().unwrap() = Some(rss_kib());
                }
                gst::PadProbeReturn::Ok
            });
    }
    run_to_eos(pipeline, Duration::from_secs(600));
    let end_kib = rss_kib();
    pipeline.set_state(gst::State::Null).unwrap();
    let warm_kib = warm
        .lock()
        .unwrap()
        .expect("the warm-up frames reached the sink");
    RssRun {
        warm_kib,
        end_kib,
        frames: seen.load(Relaxed),
    }
}

/// A stage that does what real ones do per frame: a numpy view, attributes, objects.
pub fn full_stage() -> String {
    module(
        "soak_stage",
        r#"
        import numpy as np
        class Stage:
            def process_frame(self, frame):
                img = np.asarray(frame)
                frame.attributes["mean"] = float(img[::8, ::8, 0].mean())
                frame.add_object("thing", (2, 2, 10, 10), confidence=0.5, track_id=frame.offset)
        "#,
    )
}

/// Plays `pipeline` to EOS; fails on an ERROR or when `limit` passes (a deadlock).
pub fn run_to_eos(pipeline: &impl IsA<gst::Element>, limit: Duration) {
    pipeline.set_state(gst::State::Playing).unwrap();
    wait_for_eos(pipeline, limit);
}

/// Waits for the EOS of a playing pipeline; fails on an ERROR or after `limit`.
pub fn wait_for_eos(pipeline: &impl IsA<gst::Element>, limit: Duration) {
    if let Err(e) = wait_end(pipeline, limit.as_secs()) {
        panic!("{e}");
    }
}

/// Waits (up to 2 s) until the GIL sampler thread has exited: it lives while a
/// stage is running and leaves within a sampling period after the last one
/// stopped, holding a Python thread state until then.
pub fn wait_for_gil_sampler_to_exit() {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        let sampler_alive = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            // Linux keeps 15 bytes of a thread's name: "savant-gil-prob".
            .any(|name| "savant-gil-probe".starts_with(name.trim()) && name.trim().len() >= 15);
        if !sampler_alive {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a command with a deadline so a hang fails the test instead of the CI job.
/// Output is drained while it runs, so a chatty child never blocks on a full pipe.
pub fn run_with_timeout(
    mut command: std::process::Command,
    timeout: Duration,
) -> std::process::Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::process::Output {
        status: status.unwrap_or_default(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    if status.is_none() {
        panic!("timed out after {timeout:?}\n{}", output_text(&output));
    }
    output
}

/// A child's stdout then its stderr, as text (for assertions and their messages).
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A TCP port on loopback that was free a moment ago (bound, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Plays `description` to EOS (an ERROR or a hang fails) and returns what each named
/// appsink (sync=false) got: the caps of its first sample and its buffers.
pub fn collect_sinks(
    description: &str,
    sinks: &[&str],
) -> std::collections::HashMap<String, (gst::Caps, Vec<gst::Buffer>)> {
    use std::sync::{Arc, Mutex};
    init();
    let pipeline = launch(description);
    let collected = Arc::new(Mutex::new(std::collections::HashMap::new()));
    for name in sinks {
        let sink = pipeline
            .by_name(name)
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        sink.set_property("sync", false);
        let collected = collected.clone();
        let name = name.to_string();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let mut collected = collected.lock().unwrap();
                    let entry = collected
                        .entry(name.clone())
                        .or_insert_with(|| (sample.caps_owned().unwrap(), Vec::new()));
                    entry.1.push(sample.buffer_owned().unwrap());
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    run_to_eos(&pipeline, Duration::from_secs(120));
    pipeline.set_state(gst::State::Null).unwrap();
    let map = collected.lock().unwrap().clone();
    map
}

/// Compiles `tests/c/<name>.c` with the system's C compiler against the given
/// pkg-config packages, once per test binary run, and returns the binary.
pub fn compile_c_app(name: &str, packages: &[&str]) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    let binary = target_dir().join(format!("{name}-{}", std::process::id()));
    if binary.exists() {
        return binary;
    }
    let text = |output: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let flags = std::process::Command::new("pkg-config")
        .args(["--cflags", "--libs"])
        .args(packages)
        .output()
        .expect("pkg-config");
    assert!(flags.status.success(), "pkg-config: {}", text(&flags));
    let flags = String::from_utf8(flags.stdout).unwrap();
    // Built aside and renamed: tests of one binary may ask at the same time.
    let temporary = binary.with_extension(format!("{:?}.tmp", std::thread::current().id()));
    let output = std::process::Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&temporary)
        .args(flags.split_whitespace())
        .output()
        .expect("cc");
    assert!(output.status.success(), "cc: {}", text(&output));
    std::fs::rename(&temporary, &binary).unwrap();
    binary
}

/// Records the offset of every buffer `sink` receives, in order.
pub fn collect_offsets(sink: &gst_app::AppSink) -> std::sync::Arc<std::sync::Mutex<Vec<u64>>> {
    let offsets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = offsets.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                seen.lock().unwrap().push(sample.buffer().unwrap().offset());
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    offsets
}
