//! savantpublish: what it costs the streaming thread per frame, and how many
//! messages per second each protocol delivers, with 16 sources and 20 objects per
//! frame (boxes, confidences, track ids, an attribute each; frames made once by
//! savantmux and a stage, then replayed from appsrc).
//!
//!     cargo bench --bench publish
//!
//! Streaming thread: appsrc ! savantpublish ! fakesink against appsrc ! capsfilter !
//! fakesink (a pass-through that never copies; `identity` copies every buffer the
//! bench still holds, 30 us of meta copies a frame), the time from the first to the
//! last frame at the sink, for two frame counts (start-up cancelled); the
//! publisher's own thread works on the other core. Serialization alone: the
//! element's `serialize-ns` over its messages.
//! Delivery: messages per second from PLAYING to EOS (savantpublish's EOS waits
//! until the broker confirmed every message), for two counts; brokers (mosquitto,
//! redis-server, nats-server) are started here on loopback when installed.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gst::prelude::*;

const SOURCES: usize = 16;
const OBJECTS: usize = 20;
const FEW: usize = 2_000;
const MANY: usize = 8_000;

fn main() {
    gst::init().unwrap();
    gstsavant::plugin_register_static().unwrap();
    let frames = make_frames(MANY / SOURCES + 1);
    println!(
        "{} frames of {SOURCES} sources, {OBJECTS} objects each; a message is {} bytes",
        frames.len(),
        message_size(&frames[0])
    );

    let dir = std::env::temp_dir().join(format!("savant-bench-publish-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out.jsonl");
    let mut baseline = Vec::new();
    let mut publish = Vec::new();
    let mut serialize = Vec::new();
    for _ in 0..5 {
        let _ = std::fs::remove_file(&file);
        serialize.push(serialize_us(&frames[..MANY], &file));
        baseline.push(per_frame_us(&frames, "capsfilter"));
        let _ = std::fs::remove_file(&file);
        publish.push(per_frame_us(
            &frames,
            &format!(
                "savantpublish location={} max-messages=1000000 max-bytes=4000000000",
                file.display()
            ),
        ));
    }
    let baseline = common::median(&mut baseline);
    let publish = common::median(&mut publish);
    println!(
        "serialization per frame (savantpublish's serialize-ns over its messages): {:.2} us (target < 2 us)",
        common::median(&mut serialize)
    );
    println!(
        "streaming thread per frame: capsfilter {baseline:.2} us, savantpublish {publish:.2} us; \
         savantpublish's own cost {:.2} us per frame (target < 2 us)",
        publish - baseline
    );

    let mut brokers = Vec::new();
    let mut targets = vec![(
        "jsonl file".to_owned(),
        format!("location={}", file.display()),
    )];
    // mosquitto's own TCP_NODELAY is off by default: its PUBACKs would wait for
    // our delayed ACKs (40 ms a batch at QoS 1).
    let config = dir.join("mosquitto.conf");
    if let Some(port) = start(&mut brokers, "mosquitto", |p| {
        std::fs::write(
            &config,
            format!("listener {p} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"),
        )
        .unwrap();
        vec!["-c".into(), config.display().to_string()]
    }) {
        targets.push((
            "mqtt qos=1".into(),
            format!("location=mqtt://127.0.0.1:{port} qos=1"),
        ));
        targets.push((
            "mqtt qos=0".into(),
            format!("location=mqtt://127.0.0.1:{port} qos=0"),
        ));
    }
    // mosquitto as installed: its PUBACKs wait for our delayed ACKs.
    if let Some(port) = start(&mut brokers, "mosquitto", |p| {
        vec!["-p".into(), p.to_string()]
    }) {
        targets.push((
            "mqtt qos=1, mosquitto's default (no TCP_NODELAY)".into(),
            format!("location=mqtt://127.0.0.1:{port} qos=1"),
        ));
    }
    if let Some(port) = start(&mut brokers, "redis-server", |p| {
        [
            "--port",
            &p.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }) {
        targets.push((
            "redis".into(),
            format!("location=redis://127.0.0.1:{port} max-len=100000"),
        ));
    }
    if let Some(port) = start(&mut brokers, "nats-server", |p| {
        vec!["-a".into(), "127.0.0.1".into(), "-p".into(), p.to_string()]
    }) {
        targets.push(("nats".into(), format!("location=nats://127.0.0.1:{port}")));
    }
    let size = message_size(&frames[0]) as f64;
    for (name, location) in targets {
        let mut rates: Vec<f64> = (0..3)
            .map(|_| {
                let _ = std::fs::remove_file(&file);
                let few = delivery_seconds(&frames[..FEW], &location);
                let many = delivery_seconds(&frames[..MANY], &location);
                (MANY - FEW) as f64 / (many - few)
            })
            .collect();
        let rate = common::median(&mut rates);
        println!(
            "{name}: {rate:.0} messages/s ({:.1} MB/s), median of 3",
            rate * size / 1e6
        );
    }
    drop(brokers);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Frames with 20 objects each from 16 sources, made once.
fn make_frames(per_source: usize) -> Vec<gst::Buffer> {
    let dir =
        std::env::temp_dir().join(format!("savant-bench-publish-stage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stage = dir.join("publish_objects.py");
    std::fs::write(
        &stage,
        format!(
            "def process_frame(frame):\n    for i in range({OBJECTS}):\n        \
             frame.add_object('car', (i, i, 10 + i, 20 + i), confidence=0.5, track_id=i, \
             attributes={{'color': 'red', 'speed': i * 1.5}})\n"
        ),
    )
    .unwrap();
    let sources: String = (0..SOURCES)
        .map(|i| {
            format!(
                " videotestsrc num-buffers={per_source} pattern=black \
                 ! video/x-raw,format=RGBA,width=64,height=48,framerate=30/1 ! m.sink_{i}"
            )
        })
        .collect();
    let names: String = (0..SOURCES)
        .map(|i| format!(" sink_{i}::source-id=camera-{i:02}"))
        .collect();
    let pipeline = gst::parse::launch(&format!(
        "savantmux name=m{names} ! savantpyfunc module={} ! appsink name=out sync=false{sources}",
        stage.display()
    ))
    .unwrap();
    let sink = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let mut frame = sample.buffer_owned().unwrap();
        // With a DTS, basesrc does not make the buffer writable to stamp one (a
        // copy of every meta, as the bench keeps a reference).
        let pts = frame.pts();
        frame.make_mut().set_dts(pts);
        frames.push(frame);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(frames.len() >= MANY, "{} frames made", frames.len());
    frames
}

fn message_size(frame: &gst::Buffer) -> usize {
    let dir = std::env::temp_dir().join(format!("savant-bench-publish-one-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("one.jsonl");
    run(
        std::slice::from_ref(frame),
        &format!("savantpublish location={}", file.display()),
        false,
    );
    let size = std::fs::read(&file).unwrap().len() - 1;
    let _ = std::fs::remove_dir_all(&dir);
    size
}

/// Plays `frames` through `element` into a fakesink; returns the arrival times.
fn run(frames: &[gst::Buffer], element: &str, to_fakesink: bool) -> (Vec<Instant>, Duration) {
    let tail = if to_fakesink {
        " ! fakesink name=sink sync=false"
    } else {
        ""
    };
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGBA,width=64,height=48,framerate=30/1 \
         max-bytes=0 ! {element}{tail}"
    ))
    .unwrap();
    let arrivals = if to_fakesink {
        Some(common::record_arrivals(&pipeline, "sink"))
    } else {
        None
    };
    let src = common::appsrc(&pipeline, "src");
    for frame in frames {
        src.push_buffer(frame.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    let started = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    common::wait_end(&pipeline, 300).unwrap_or_else(|e| panic!("{element}: {e}"));
    let elapsed = started.elapsed();
    pipeline.set_state(gst::State::Null).unwrap();
    let arrivals = arrivals
        .map(|a| a.lock().unwrap().clone())
        .unwrap_or_default();
    (arrivals, elapsed)
}

/// Microseconds per frame on the streaming thread: first-to-last arrival at the
/// sink for MANY and FEW frames, the difference over the difference.
fn per_frame_us(frames: &[gst::Buffer], element: &str) -> f64 {
    let span = |n: usize| {
        let (arrivals, _) = run(&frames[..n], element, true);
        assert_eq!(arrivals.len(), n, "{element}");
        (arrivals[n - 1] - arrivals[0]).as_secs_f64()
    };
    let few = span(FEW);
    let many = span(MANY);
    (many - few) / (MANY - FEW) as f64 * 1e6
}

/// Microseconds per message spent writing it (the element's serialize-ns).
fn serialize_us(frames: &[gst::Buffer], file: &std::path::Path) -> f64 {
    let pipeline = common::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGBA,width=64,height=48,framerate=30/1 \
         max-bytes=0 ! savantpublish name=p location={} max-messages=1000000 max-bytes=4000000000",
        file.display()
    ));
    let src = common::appsrc(&pipeline, "src");
    for frame in frames {
        src.push_buffer(frame.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    common::wait_end(&pipeline, 300).unwrap();
    let stats = pipeline
        .by_name("p")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    let messages = stats.get::<u64>("messages").unwrap();
    assert_eq!(messages, frames.len() as u64);
    stats.get::<u64>("serialize-ns").unwrap() as f64 / messages as f64 / 1e3
}

/// Seconds from PLAYING until every message is delivered (savantpublish's EOS).
fn delivery_seconds(frames: &[gst::Buffer], location: &str) -> f64 {
    let (_, elapsed) = run(
        frames,
        &format!("savantpublish {location} max-messages=1000000 max-bytes=4000000000 flush-timeout=120000"),
        false,
    );
    elapsed.as_secs_f64()
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program` on a free loopback port; None (with a note) when it is not installed.
fn start(
    brokers: &mut Vec<Broker>,
    program: &str,
    args: impl Fn(u16) -> Vec<String>,
) -> Option<u16> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    // Debian puts mosquitto and nats-server in /usr/sbin.
    let path = ["/usr/sbin", "/sbin"]
        .iter()
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|path| path.exists())
        .unwrap_or_else(|| program.into());
    let child = match Command::new(path)
        .args(args(port))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            println!("{program}: not run ({e}); scripts/test.sh installs it");
            return None;
        }
    };
    brokers.push(Broker(child));
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            println!("{program}: not listening after 20 s");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(port)
}
