//! savantpublish against real brokers started here on loopback: mosquitto, Redis
//! and NATS (Debian's mosquitto, redis-server and nats-server; scripts/test.sh
//! installs them), with consumers built on the same client crates, real video
//! through savantmux and a stage, faults (a broker stopped and restarted, one never
//! reachable, one that accepts and never reads) and the to_message hook.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde_json::Value;

const VIDEOS: &str = "/usr/share/doc/opencv-doc/examples/data";

/// Messages a consumer received, per topic, stream key or subject.
type Received = Arc<Mutex<HashMap<String, Vec<Value>>>>;
/// An XRANGE entry: its id and its fields.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);
/// An object as the stage recorded it: label, box, track id.
type SeenObject = (String, Vec<i64>, i64);

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// `program`, also where Debian puts daemons (mosquitto and nats-server live in
/// /usr/sbin, which a non-login PATH may lack).
fn sbin(program: &str) -> PathBuf {
    ["/usr/sbin", "/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// A broker process, killed when dropped.
struct Broker {
    child: Option<Child>,
    port: u16,
    command: Vec<String>,
}

impl Broker {
    fn start(program: &str, args: &[String], port: u16) -> Self {
        let mut broker = Broker {
            child: None,
            port,
            command: std::iter::once(program.to_owned())
                .chain(args.iter().cloned())
                .collect(),
        };
        broker.restart();
        broker
    }

    fn restart(&mut self) {
        let child = Command::new(sbin(&self.command[0]))
            .args(&self.command[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} runs (Debian's mosquitto, redis-server, nats-server; scripts/test.sh installs them): {e}",
                    self.command[0]
                )
            });
        self.child = Some(child);
        let port = self.port;
        common::wait_until(
            &format!("{} listening", self.command[0]),
            Duration::from_secs(20),
            || listening(port),
        );
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let port = self.port;
        common::wait_until("broker gone", Duration::from_secs(10), || !listening(port));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("savant-publish-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mosquitto() -> Broker {
    let port = common::free_port();
    let dir = temp_dir(&format!("mosquitto-{port}"));
    let config = dir.join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n"),
    )
    .unwrap();
    Broker::start(
        "mosquitto",
        &["-c".into(), config.display().to_string()],
        port,
    )
}

/// Redis with its append-only file in a folder of its own, so a restart keeps the
/// streams (fsync on every write).
fn redis(extra: &[&str]) -> Broker {
    let port = common::free_port();
    let dir = temp_dir(&format!("redis-{port}"));
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
        &dir.display().to_string(),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    Broker::start("redis-server", &args, port)
}

fn nats() -> Broker {
    let port = common::free_port();
    Broker::start(
        "nats-server",
        &[
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        port,
    )
}

/// Every message of every `savant:*` stream, per stream key, in order.
fn redis_streams(port: u16, password: Option<&str>) -> HashMap<String, Vec<Value>> {
    let url = match password {
        Some(p) => format!("redis://:{p}@127.0.0.1:{port}/"),
        None => format!("redis://127.0.0.1:{port}/"),
    };
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("savant:*").query(&mut con).unwrap();
    let mut out = HashMap::new();
    for key in keys {
        let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .query(&mut con)
            .unwrap();
        let messages = entries
            .into_iter()
            .map(|(_, fields)| serde_json::from_slice(&fields[0].1).unwrap())
            .collect();
        out.insert(key, messages);
    }
    out
}

/// An MQTT subscriber to `savant/#` (QoS 1), collecting payloads per topic.
fn mqtt_subscriber(port: u16) -> Arc<Mutex<HashMap<String, Vec<Value>>>> {
    let mut options = rumqttc::MqttOptions::new(format!("consumer-{port}"), "127.0.0.1", port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut connection) = rumqttc::Client::new(options, 100);
    client
        .subscribe("savant/#", rumqttc::QoS::AtLeastOnce)
        .unwrap();
    let received = Arc::new(Mutex::new(HashMap::<String, Vec<Value>>::new()));
    let subscribed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (out, flag) = (received.clone(), subscribed.clone());
    std::thread::spawn(move || {
        let _client = client;
        for event in connection.iter() {
            match event {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst)
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    out.lock()
                        .unwrap()
                        .entry(p.topic.clone())
                        .or_default()
                        .push(serde_json::from_slice(&p.payload).unwrap());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    common::wait_until("MQTT subscription", Duration::from_secs(10), || {
        subscribed.load(std::sync::atomic::Ordering::SeqCst)
    });
    received
}

/// A NATS subscriber to `savant.>`, collecting payloads per subject.
fn nats_subscriber(port: u16) -> (tokio::runtime::Runtime, Received) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let received = Arc::new(Mutex::new(HashMap::<String, Vec<Value>>::new()));
    let out = received.clone();
    let mut subscriber = runtime.block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let subscriber = client.subscribe("savant.>").await.unwrap();
        client.flush().await.unwrap();
        // The client lives as long as the subscription task.
        std::mem::forget(client);
        subscriber
    });
    runtime.spawn(async move {
        use futures_util::StreamExt;
        while let Some(message) = subscriber.next().await {
            out.lock()
                .unwrap()
                .entry(message.subject.to_string())
                .or_default()
                .push(serde_json::from_slice(&message.payload).unwrap());
        }
    });
    (runtime, received)
}

fn stage_recording(name: &str) -> String {
    common::module(
        name,
        "
        SEEN = {}
        def process_frame(frame):
            n = len(SEEN.setdefault(frame.source_id, []))
            objects = []
            for i in range(3):
                box = (i * 10, n % 50, 8 + i, 6 + i)
                frame.add_object('car' if i else 'person', box, confidence=0.5 + i / 10,
                                 track_id=n * 10 + i, attributes={'n': n, 'i': i})
                objects.append(['car' if i else 'person', list(box), n * 10 + i])
            frame.attributes['zone'] = 'entry-' + frame.source_id
            SEEN[frame.source_id].append(objects)
        ",
    )
}

fn clip(file: &str, frames: u32) -> String {
    format!(
        "filesrc location={VIDEOS}/{file} ! decodebin ! videoconvert ! videoscale \
         ! video/x-raw,format=RGBA,width=160,height=120 ! identity eos-after={frames}"
    )
}

/// Runs `description` to EOS (or fails on ERROR), returning the pipeline stopped.
fn run_pipeline(description: &str, limit: Duration) -> gst::Pipeline {
    common::init();
    let pipeline = common::launch(description);
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_nseconds(limit.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("no EOS within {limit:?}: {description}"));
    if let gst::MessageView::Error(e) = message.view() {
        panic!("{description}: {} ({:?})", e.error(), e.debug());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    pipeline
}

fn stats(pipeline: &gst::Pipeline, name: &str) -> gst::Structure {
    pipeline
        .by_name(name)
        .unwrap()
        .property::<gst::Structure>("stats")
}

/// The (label, box, track id) of each object of a message, as the stage recorded.
fn objects_of(message: &Value) -> Vec<(String, Vec<i64>, i64)> {
    message["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let b = &o["box"];
            (
                o["label"].as_str().unwrap().to_owned(),
                ["x", "y", "width", "height"]
                    .iter()
                    .map(|k| b[*k].as_i64().unwrap())
                    .collect(),
                o["track_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn check_source(
    what: &str,
    messages: &[Value],
    seen: &[Vec<(String, Vec<i64>, i64)>],
    source: &str,
) {
    assert_eq!(messages.len(), seen.len(), "{what}: messages of {source}");
    for (n, (message, objects)) in messages.iter().zip(seen).enumerate() {
        assert_eq!(message["schema"], "savant-gst.frame/1");
        assert_eq!(message["source_id"], source, "{what}");
        assert_eq!(message["frame_num"], n as u64, "{what}: frames in order");
        assert_eq!(&objects_of(message), objects, "{what}: {source} frame {n}");
        assert_eq!(message["attributes"]["zone"], format!("entry-{source}"));
        let first = &message["objects"][1];
        assert_eq!(first["attributes"]["n"], n as u64, "{what}");
        assert_eq!(first["model"], "stage", "{what}");
        let ids: std::collections::BTreeSet<i64> = message["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                assert!(o["parent_id"].is_null(), "{what}: {o}");
                o["id"].as_i64().unwrap()
            })
            .collect();
        assert!(
            ids.len() == 3 && ids.iter().all(|id| *id > 0),
            "{what}: ids {ids:?}"
        );
        assert_eq!(message["width"], 160);
    }
}

#[test]
fn real_video_through_mux_and_a_stage_reaches_every_broker_exactly() {
    let mosquitto = mosquitto();
    let redis = redis(&[]);
    let nats = nats();
    let mqtt_received = mqtt_subscriber(mosquitto.port);
    let (_nats_runtime, nats_received) = nats_subscriber(nats.port);
    let dir = temp_dir("jsonl");
    let file = dir.join("out.jsonl");
    let stage = stage_recording("publish_recording");
    let frames = 30;
    let pipeline = run_pipeline(
        &format!(
            "savantmux name=m sink_0::source-id=cam-a sink_1::source-id=cam-b \
             ! savantpyfunc name=stage module={stage} ! tee name=t \
             t. ! queue ! savantpublish name=mqtt location=mqtt://127.0.0.1:{} qos=1 \
             t. ! queue ! savantpublish name=redis location=redis://127.0.0.1:{} \
             t. ! queue ! savantpublish name=nats location=nats://127.0.0.1:{} \
             t. ! queue ! savantpublish name=file location={} \
             {} ! m.sink_0 {} ! m.sink_1",
            mosquitto.port,
            redis.port,
            nats.port,
            file.display(),
            clip("vtest.avi", frames),
            clip("Megamind.avi", frames),
        ),
        Duration::from_secs(120),
    );
    let seen: HashMap<String, Vec<Vec<SeenObject>>> = common::py_eval(
        "{k: [[(o[0], o[1], o[2]) for o in f] for f in v] \
         for k, v in __import__('publish_recording').SEEN.items()}",
    );
    assert_eq!(seen.len(), 2, "both sources reached the stage");
    let total: usize = seen.values().map(Vec::len).sum();
    for name in ["mqtt", "redis", "nats", "file"] {
        let s = stats(&pipeline, name);
        assert_eq!(
            s.get::<u64>("messages").unwrap(),
            total as u64,
            "{name}: {s}"
        );
        assert_eq!(
            s.get::<u64>("messages-sent").unwrap(),
            total as u64,
            "{name}: {s}"
        );
        assert_eq!(s.get::<u64>("messages-dropped").unwrap(), 0, "{name}: {s}");
        assert_eq!(s.get::<u64>("buffered").unwrap(), 0, "{name}: {s}");
    }
    // Redis and the file hold everything at EOS; MQTT and NATS subscribers get the
    // last messages a moment later.
    let streams = redis_streams(redis.port, None);
    common::wait_until("MQTT and NATS consumers", Duration::from_secs(10), || {
        let count = |m: &Arc<Mutex<HashMap<String, Vec<Value>>>>| {
            m.lock().unwrap().values().map(Vec::len).sum::<usize>()
        };
        count(&mqtt_received) >= total && count(&nats_received) >= total
    });
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for source in ["cam-a", "cam-b"] {
        let seen = &seen[source];
        check_source("redis", &streams[&format!("savant:{source}")], seen, source);
        check_source(
            "mqtt",
            &mqtt_received.lock().unwrap()[&format!("savant/{source}")],
            seen,
            source,
        );
        check_source(
            "nats",
            &nats_received.lock().unwrap()[&format!("savant.{source}")],
            seen,
            source,
        );
        let from_file: Vec<Value> = lines
            .iter()
            .filter(|m| m["source_id"] == source)
            .cloned()
            .collect();
        check_source("file", &from_file, seen, source);
    }
    assert_eq!(lines.len(), total);
}

/// Frame arrival times at the end of a live pipeline, and the largest gap.
fn max_gap(times: &[Instant]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// A live pipeline of `frames` frames at 50 fps through savantpublish into a
/// fakesink whose arrivals are timed; `during` runs on another thread while it
/// plays. Returns the publisher's stats and the arrival times.
fn live_run(
    publish: &str,
    frames: u32,
    during: impl FnOnce() + Send + 'static,
) -> (gst::Structure, Vec<Instant>, Duration) {
    common::init();
    let description = format!(
        "videotestsrc is-live=true num-buffers={frames} ! video/x-raw,format=RGBA,width=64,height=48,framerate=50/1 \
         ! savantpublish name=publish {publish} ! fakesink name=sink sync=false"
    );
    let pipeline = common::launch(&description);
    let times = common::record_arrivals(&pipeline, "sink");
    let started = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let helper = std::thread::spawn(during);
    common::wait_end(&pipeline, 120).unwrap_or_else(|e| panic!("{description}: {e}"));
    let elapsed = started.elapsed();
    helper.join().unwrap();
    let s = stats(&pipeline, "publish");
    pipeline.set_state(gst::State::Null).unwrap();
    let times = times.lock().unwrap().clone();
    (s, times, elapsed)
}

fn messages_by_source(streams: &HashMap<String, Vec<Value>>) -> Vec<u64> {
    streams
        .values()
        .flatten()
        .map(|m| m["frame_num"].as_u64().unwrap())
        .collect()
}

/// 15 s of video at 50 fps published to Redis with a buffer of `max_messages`;
/// Redis is down from 2 s to 12 s. The stats, the frames' arrival times at the
/// sink, and the messages Redis has by the end.
fn through_a_redis_outage(max_messages: u32) -> (gst::Structure, Vec<Instant>, Vec<u64>) {
    let redis = Arc::new(Mutex::new(redis(&[])));
    let port = redis.lock().unwrap().port;
    let outage = redis.clone();
    let (s, times, _) = live_run(
        &format!(
            "location=redis://127.0.0.1:{port} max-messages={max_messages} flush-timeout=20000"
        ),
        750,
        move || {
            std::thread::sleep(Duration::from_secs(2));
            outage.lock().unwrap().stop();
            std::thread::sleep(Duration::from_secs(10));
            outage.lock().unwrap().restart();
        },
    );
    let numbers = messages_by_source(&redis_streams(port, None));
    (s, times, numbers)
}

#[test]
fn a_broker_stopped_for_ten_seconds_loses_nothing_with_a_large_buffer() {
    let (s, times, numbers) = through_a_redis_outage(100_000);
    assert_eq!(times.len(), 750);
    assert!(
        max_gap(&times) < Duration::from_millis(500),
        "video stalled: {:?}",
        max_gap(&times)
    );
    assert_eq!(s.get::<u64>("messages-dropped").unwrap(), 0, "{s}");
    assert_eq!(s.get::<u64>("messages-sent").unwrap(), 750, "{s}");
    assert!(s.get::<u64>("retries").unwrap() > 0, "{s}");
    // At least once: every frame, in order of first arrival (a batch cut by the
    // outage may arrive twice).
    let mut first = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for n in numbers {
        if seen.insert(n) {
            first.push(n);
        }
    }
    assert_eq!(
        first,
        (0..750).collect::<Vec<u64>>(),
        "nothing lost, order kept"
    );
}

#[test]
fn with_a_small_buffer_the_loss_is_the_dropped_count_and_video_never_stalls() {
    let (s, times, numbers) = through_a_redis_outage(20);
    assert_eq!(times.len(), 750, "every frame went on");
    let gap = max_gap(&times);
    assert!(gap < Duration::from_millis(500), "video stalled: {gap:?}");
    let dropped = s.get::<u64>("messages-dropped").unwrap();
    let sent = s.get::<u64>("messages-sent").unwrap();
    assert!(dropped > 300, "{s}");
    assert_eq!(sent + dropped, 750, "{s}");
    let distinct: std::collections::HashSet<u64> = numbers.iter().copied().collect();
    assert_eq!(
        distinct.len() as u64,
        750 - dropped,
        "received = made - dropped ({s})"
    );
    println!("small buffer: {s}; largest frame gap {gap:?}");
}

#[test]
fn a_broker_never_reachable_is_an_error_at_start_or_retries_without_stalling() {
    common::init();
    let port = common::free_port();
    // Refused: an ERROR naming the broker, never the password.
    let pipeline = common::launch(&format!(
        "videotestsrc num-buffers=100 ! video/x-raw,width=64,height=48 \
         ! savantpublish location=mqtt://user:hunter22@127.0.0.1:{port} ! fakesink"
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    let text = common::wait_end(&pipeline, 20).expect_err("an ERROR");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(
        !text.contains("hunter22") && !text.contains("user:"),
        "{text}"
    );
    pipeline.set_state(gst::State::Null).unwrap();

    // retry: the stream goes on, the messages are dropped and counted, EOS comes
    // after flush-timeout.
    let (s, times, elapsed) = live_run(
        &format!("location=nats://127.0.0.1:{port} on-connect-error=retry max-messages=10 flush-timeout=500"),
        100,
        || {},
    );
    assert_eq!(times.len(), 100);
    assert!(max_gap(&times) < Duration::from_millis(500));
    assert_eq!(s.get::<u64>("messages-sent").unwrap(), 0, "{s}");
    assert_eq!(s.get::<u64>("messages-dropped").unwrap(), 100, "{s}");
    assert!(s.get::<u64>("retries").unwrap() > 0, "{s}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn a_broker_that_accepts_and_never_reads_never_stalls_the_video() {
    // A listener that accepts connections and never reads or writes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => keep.lock().unwrap().push(stream),
                Err(_) => break,
            }
        }
    });
    for location in [
        format!("mqtt://127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}"),
        format!("nats://127.0.0.1:{port}"),
    ] {
        let (s, times, elapsed) = live_run(
            &format!(
                "location={location} on-connect-error=retry connect-timeout=300 send-timeout=300 \
                 max-messages=16 flush-timeout=300"
            ),
            100,
            || {},
        );
        assert_eq!(times.len(), 100, "{location}");
        let gap = max_gap(&times);
        assert!(
            gap < Duration::from_millis(500),
            "{location}: stalled {gap:?}"
        );
        let dropped = s.get::<u64>("messages-dropped").unwrap();
        assert_eq!(
            s.get::<u64>("messages-sent").unwrap() + dropped,
            100,
            "{location}: {s}"
        );
        assert!(dropped > 0, "{location}: {s}");
        assert!(elapsed < Duration::from_secs(15), "{location}: {elapsed:?}");
    }
    assert!(
        !held.lock().unwrap().is_empty(),
        "the publisher did connect"
    );
}

#[test]
fn credentials_come_from_the_environment_and_never_show() {
    let redis = redis(&["--requirepass", "s3cr3t-pass"]);
    common::init();
    // Wrong password: an ERROR without it.
    let pipeline = common::launch(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 \
         ! savantpublish location=redis://:wrong-pass-123@127.0.0.1:{} ! fakesink",
        redis.port
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    let text = common::wait_end(&pipeline, 20).expect_err("an ERROR");
    assert!(!text.contains("wrong-pass-123"), "{text}");
    assert!(
        text.contains(&format!("redis://127.0.0.1:{}", redis.port)),
        "{text}"
    );
    pipeline.set_state(gst::State::Null).unwrap();

    // The right one from the environment, in a gst-launch child (the environment
    // is the process's): messages arrive; the debug log never shows it.
    let output = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            "num-buffers=5",
            "!",
            "video/x-raw,width=64,height=48",
            "!",
            "savantpublish",
        ])
        .arg(format!("location=redis://127.0.0.1:{}", redis.port))
        .env("GST_PLUGIN_PATH", common::plugin_dir())
        .env("SAVANT_PUBLISH_PASSWORD", "s3cr3t-pass")
        .env("GST_DEBUG", "savantpublish:7")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(!log.contains("s3cr3t-pass"));
    let streams = redis_streams(redis.port, Some("s3cr3t-pass"));
    assert_eq!(streams["savant:default"].len(), 5);
}

#[test]
fn to_message_shapes_messages_and_bad_returns_are_errors() {
    let dir = temp_dir("hook");
    let file = dir.join("hook.jsonl");
    let hook = common::module(
        "publish_hook",
        "
        import numpy
        def to_message(frame):
            if frame.pts // 10**9 % 2:
                return None
            return {'t': frame.pts, 'mean': numpy.float32(1.5), 'tags': ('a', 1, None),
                    'nested': {'ok': True}}
        ",
    );
    let pipeline = run_pipeline(
        &format!(
            "videotestsrc num-buffers=10 ! video/x-raw,format=RGBA,width=64,height=48,framerate=1/1 \
             ! savantpublish name=p module={hook} location={}",
            file.display()
        ),
        Duration::from_secs(60),
    );
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One frame a second: odd seconds made no message.
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[1]["t"], 2_000_000_000u64);
    assert_eq!(lines[0]["mean"], 1.5);
    assert_eq!(lines[0]["tags"], serde_json::json!(["a", 1, null]));
    let s = stats(&pipeline, "p");
    assert_eq!(s.get::<u64>("messages").unwrap(), 5, "{s}");
    assert_eq!(s.get::<u64>("frames").unwrap(), 10, "{s}");

    for (name, body, expected) in [
        ("publish_bad_type", "def to_message(frame):\n    return 5\n", "must return a dict or None, got int"),
        ("publish_bad_value", "def to_message(frame):\n    return {'s': {1, 2}}\n", "message[\"s\"]: set is not JSON"),
        (
            "publish_too_deep",
            "def to_message(frame):\n    d = {}\n    for _ in range(10000):\n        d = {'d': d}\n    return d\n",
            "nested deeper than 32",
        ),
        ("publish_bad_key", "def to_message(frame):\n    return {1: 2}\n", "keys must be str"),
    ] {
        let module = common::module(name, body);
        let run = common::run(&format!(
            "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=48 \
             ! savantpublish module={module} location={} ! appsink name=sink",
            dir.join(format!("{name}.jsonl")).display()
        ));
        let (message, debug) = run.error.expect("an ERROR");
        assert!(
            format!("{message} {debug}").contains(expected),
            "{name}: {message} {debug}"
        );
    }
}

#[test]
fn files_rotate_by_size_and_every_line_is_kept() {
    let dir = temp_dir("rotate");
    let file = dir.join("frames.jsonl");
    run_pipeline(
        &format!(
            "videotestsrc num-buffers=200 ! video/x-raw,width=64,height=48 \
             ! savantpublish location={} max-file-bytes=4000",
            file.display()
        ),
        Duration::from_secs(60),
    );
    let mut lines = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() <= 4000, "{}: {}", path.display(), text.len());
        lines += text.lines().count();
        files += 1;
    }
    assert_eq!(lines, 200);
    assert!(files > 5, "{files} files");
    assert!(Path::new(&format!("{}.1", file.display())).exists());
}

#[test]
fn block_backpressure_waits_for_the_broker_instead_of_dropping() {
    let redis = Arc::new(Mutex::new(redis(&[])));
    let port = redis.lock().unwrap().port;
    let outage = redis.clone();
    let (s, times, _) = live_run(
        &format!("location=redis://127.0.0.1:{port} max-messages=5 backpressure=block flush-timeout=20000"),
        150,
        move || {
            std::thread::sleep(Duration::from_secs(1));
            outage.lock().unwrap().stop();
            std::thread::sleep(Duration::from_secs(3));
            outage.lock().unwrap().restart();
        },
    );
    assert_eq!(s.get::<u64>("messages-dropped").unwrap(), 0, "{s}");
    assert_eq!(s.get::<u64>("messages-sent").unwrap(), 150, "{s}");
    // The stream waited for the broker.
    assert!(
        max_gap(&times) > Duration::from_secs(2),
        "{:?}",
        max_gap(&times)
    );
}
