//! savantmux: frames of many sources through one stage, each with its source id,
//! Savant's per-source hooks in stream order, and one EOS when every source ended.

mod common;

use std::collections::HashMap;

use common::{module, py_eval, run};

/// A stage that records every hook call and frame, in order, in `EVENTS`.
fn recorder(name: &str) -> String {
    module(
        name,
        "
        EVENTS = []
        PTS = []
        class Recorder:
            def on_source_add(self, source_id):
                EVENTS.append(('add', source_id))
            def on_source_eos(self, source_id):
                EVENTS.append(('eos', source_id))
            def on_source_delete(self, source_id):
                EVENTS.append(('delete', source_id))
            def process_frame(self, frame):
                EVENTS.append(('frame', frame.source_id))
                PTS.append((frame.source_id, frame.pts))
            def on_eos(self):
                EVENTS.append(('end', None))
        ",
    )
}

fn events(name: &str) -> Vec<(String, Option<String>)> {
    py_eval(&format!("__import__('{name}').EVENTS"))
}

/// `n` sources, source i sending counts[i] frames, as `cam-<i>`.
fn sources(counts: &[usize]) -> String {
    counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                " videotestsrc num-buffers={n} \
                 ! video/x-raw,format=RGBA,width=32,height=24,framerate=30/1 ! m.sink_{i}"
            )
        })
        .collect()
}

fn source_ids(counts: &[usize]) -> String {
    (0..counts.len())
        .map(|i| format!(" sink_{i}::source-id=cam-{i}"))
        .collect()
}

/// Checks the recorded order: per source, one add before its first frame, exactly
/// `counts[i]` frames, one eos after its last; `end` once, last.
fn check_order(events: &[(String, Option<String>)], counts: &[usize]) {
    let mut frames: HashMap<String, usize> = HashMap::new();
    let mut added: HashMap<String, usize> = HashMap::new();
    let mut ended: HashMap<String, usize> = HashMap::new();
    for (i, (kind, id)) in events.iter().enumerate() {
        let id = id.clone().unwrap_or_default();
        match kind.as_str() {
            "add" => {
                assert!(!frames.contains_key(&id), "add of {id} after its frames");
                *added.entry(id).or_default() += 1;
            }
            "frame" => {
                assert_eq!(added.get(&id), Some(&1), "frame of {id} before its add");
                assert!(!ended.contains_key(&id), "frame of {id} after its eos");
                *frames.entry(id).or_default() += 1;
            }
            "eos" => *ended.entry(id).or_default() += 1,
            "end" => assert_eq!(i, events.len() - 1, "on_eos is not last: {events:?}"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("end"));
    for (i, &n) in counts.iter().enumerate() {
        let id = format!("cam-{i}");
        assert_eq!(frames.get(&id).copied().unwrap_or(0), n, "frames of {id}");
        assert_eq!(added.get(&id), Some(&1), "adds of {id}");
        assert_eq!(ended.get(&id), Some(&1), "eos of {id}");
    }
}

fn mux_run(name: &str, counts: &[usize]) {
    let stage = recorder(name);
    let result = run(&format!(
        "savantmux name=m{} ! savantpyfunc module={stage} class-name=Recorder \
         ! appsink name=sink{}",
        source_ids(counts),
        sources(counts)
    ));
    assert!(result.error.is_none(), "{:?}", result.error);
    assert!(result.eos);
    let total: usize = counts.iter().sum();
    assert_eq!(result.buffers.len(), total);
    // Every buffer leaving the stage still says where it came from.
    let mut per_source: HashMap<String, usize> = HashMap::new();
    for buffer in &result.buffers {
        let id = gstsavant::frame::source::read(buffer).expect("source meta");
        *per_source.entry(id).or_default() += 1;
    }
    for (i, &n) in counts.iter().enumerate() {
        assert_eq!(per_source.get(&format!("cam-{i}")).copied().unwrap_or(0), n);
    }
    check_order(&events(name), counts);
}

#[test]
fn two_sources_with_different_frame_counts() {
    mux_run("mux_two", &[7, 3]);
}

#[test]
fn sixteen_sources_with_different_frame_counts() {
    let counts: Vec<usize> = (1..=16).collect();
    mux_run("mux_sixteen", &counts);
}

#[test]
fn the_pad_name_is_the_default_source_id() {
    let stage = module(
        "mux_default_id",
        "
        SEEN = set()
        def process_frame(frame):
            SEEN.add(frame.source_id)
        ",
    );
    let result = run(&format!(
        "savantmux name=m ! savantpyfunc module={stage} ! appsink name=sink \
         videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_0 \
         videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_1"
    ));
    assert!(result.eos, "{:?}", result.error);
    let mut seen: Vec<String> = py_eval("sorted(__import__('mux_default_id').SEEN)");
    seen.sort();
    assert_eq!(seen, ["sink_0", "sink_1"]);
}

#[test]
fn without_a_mux_source_id_is_none() {
    let stage = module(
        "mux_none",
        "
        SEEN = []
        def process_frame(frame):
            SEEN.append(frame.source_id)
        ",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=32,height=24 \
         ! savantpyfunc module={stage} ! appsink name=sink"
    ));
    assert!(result.eos);
    let seen: Vec<Option<String>> = py_eval("__import__('mux_none').SEEN");
    assert_eq!(seen, [None, None]);
}

#[test]
fn sources_with_other_caps_are_an_error_naming_the_pad_and_both_caps() {
    let result = run("savantmux name=m ! appsink name=sink \
         videotestsrc num-buffers=50 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_0 \
         videotestsrc num-buffers=50 ! video/x-raw,format=RGBA,width=64,height=48 ! m.sink_1");
    let (message, _) = result.error.expect("an ERROR");
    assert!(message.contains("caps"), "{message}");
    assert!(message.contains("width=(int)32"), "{message}");
    assert!(message.contains("width=(int)64"), "{message}");
    assert!(
        message.contains("sink_0") && message.contains("sink_1"),
        "{message}"
    );
    // Both sources' own caps, not the mux's output caps (variable rate, 0/1).
    assert!(!message.contains("framerate=(fraction)0/1"), "{message}");
}

/// Plays `description` to EOS and returns the buffers each named appsink got.
fn run_sinks(description: &str, sinks: &[&str]) -> HashMap<String, Vec<gst::Buffer>> {
    common::collect_sinks(description, sinks)
        .into_iter()
        .map(|(name, (_, buffers))| (name, buffers))
        .collect()
}

#[test]
fn demux_gives_each_source_its_own_pad_and_eos() {
    let stage = recorder("mux_demux");
    let counts = [7, 3];
    let buffers = run_sinks(
        &format!(
            "savantmux name=m{} ! savantpyfunc module={stage} class-name=Recorder \
             ! savantdemux name=d \
             d.src_cam-0 ! queue ! appsink name=a \
             d.src_cam-1 ! queue ! appsink name=b {}",
            source_ids(&counts),
            sources(&counts)
        ),
        &["a", "b"],
    );
    for (sink, id, n) in [("a", "cam-0", 7), ("b", "cam-1", 3)] {
        let got = &buffers[sink];
        assert_eq!(got.len(), n, "{sink}");
        assert!(got
            .iter()
            .all(|b| gstsavant::frame::source::read(b).as_deref() == Some(id)));
        let pts: Vec<u64> = got.iter().map(|b| b.pts().unwrap().nseconds()).collect();
        assert!(pts.windows(2).all(|w| w[0] < w[1]), "{sink}: {pts:?}");
    }
    check_order(&events("mux_demux"), &counts);
}

#[test]
fn gst_launch_links_demux_pads_by_source_id() {
    let plugin_dir = common::plugin_dir();
    let mut command = std::process::Command::new("gst-launch-1.0");
    command.env("GST_PLUGIN_PATH", plugin_dir).args(
        "savantmux name=m sink_0::source-id=cam-a sink_1::source-id=cam-b \
         ! savantdemux name=d \
         d.src_cam-a ! queue ! fakesink d.src_cam-b ! queue ! fakesink \
         videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48 ! m.sink_0 \
         videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_1"
            .split_whitespace(),
    );
    let output = common::run_with_timeout(command, std::time::Duration::from_secs(60));
    let text = common::output_text(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("Got EOS"), "{text}");
}

#[test]
fn sources_added_and_removed_while_playing() {
    use gst::prelude::*;
    common::init();
    let stage = recorder("mux_dynamic");
    let caps = "video/x-raw,format=RGBA,width=32,height=24,framerate=50/1";
    let pipeline = common::launch(&format!(
        "savantmux name=m sink_0::source-id=first ! savantpyfunc module={stage} \
         class-name=Recorder ! fakesink sync=false \
         videotestsrc is-live=true num-buffers=60 ! {caps} ! m.sink_0"
    ));
    let mux = pipeline.by_name("m").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();

    // A source that ends by itself, then has its pad released.
    let add_source = |id: &str, buffers: u32| {
        let bin = gst::parse::bin_from_description(
            &format!("videotestsrc is-live=true num-buffers={buffers} ! capsfilter caps={caps}"),
            true,
        )
        .unwrap();
        pipeline.add(&bin).unwrap();
        let pad = mux.request_pad_simple("sink_%u").unwrap();
        pad.set_property("source-id", id);
        bin.static_pad("src").unwrap().link(&pad).unwrap();
        bin.sync_state_with_parent().unwrap();
        (bin, pad)
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (short, short_pad) = add_source("short", 5);
    // A source removed while it still streams: stopped first, then released.
    let (long, long_pad) = add_source("long", 100_000);
    std::thread::sleep(std::time::Duration::from_millis(400));
    long.set_state(gst::State::Null).unwrap();
    long.static_pad("src").unwrap().unlink(&long_pad).unwrap();
    mux.release_request_pad(&long_pad);
    pipeline.remove(&long).unwrap();
    short.set_state(gst::State::Null).unwrap();
    short.static_pad("src").unwrap().unlink(&short_pad).unwrap();
    mux.release_request_pad(&short_pad);
    pipeline.remove(&short).unwrap();

    common::wait_for_eos(&pipeline, std::time::Duration::from_secs(30));
    pipeline.set_state(gst::State::Null).unwrap();

    let events = events("mux_dynamic");
    let position = |kind: &str, id: &str| {
        events
            .iter()
            .position(|(k, i)| k == kind && i.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no {kind} of {id}: {events:?}"))
    };
    let count = |kind: &str, id: &str| {
        events
            .iter()
            .filter(|(k, i)| k == kind && i.as_deref() == Some(id))
            .count()
    };
    for id in ["first", "short", "long"] {
        assert_eq!(count("add", id), 1, "{id}: {events:?}");
        assert_eq!(count("eos", id), 1, "{id}: {events:?}");
        assert!(position("add", id) < position("eos", id));
    }
    assert_eq!(count("frame", "short"), 5);
    assert_eq!(count("frame", "first"), 60);
    assert!(count("frame", "long") > 0);
    for id in ["short", "long"] {
        assert_eq!(count("delete", id), 1, "{id}: {events:?}");
        assert!(position("eos", id) < position("delete", id));
        let last_frame = events
            .iter()
            .rposition(|(k, i)| k == "frame" && i.as_deref() == Some(id))
            .unwrap();
        assert!(
            last_frame < position("eos", id),
            "{id}: frame after its eos"
        );
    }
    assert_eq!(count("delete", "first"), 0);
    assert_eq!(events.last().unwrap().0, "end");
}

#[test]
fn per_source_order_survives_queues_and_workers() {
    let stage = module(
        "mux_workers",
        "
        import time
        def process_frame(frame):
            time.sleep(0.002)
        ",
    );
    let counts = [40, 25, 33];
    let result = run(&format!(
        "savantmux name=m{} ! savantqueue ! savantpyfunc module={stage} workers=3 \
         ! savantqueue ! appsink name=sink{}",
        source_ids(&counts),
        sources(&counts)
    ));
    assert!(result.eos, "{:?}", result.error);
    let mut per_source: HashMap<String, Vec<u64>> = HashMap::new();
    for buffer in &result.buffers {
        per_source
            .entry(gstsavant::frame::source::read(buffer).unwrap())
            .or_default()
            .push(buffer.pts().unwrap().nseconds());
    }
    for (i, &n) in counts.iter().enumerate() {
        let pts = &per_source[&format!("cam-{i}")];
        assert_eq!(pts.len(), n);
        assert!(pts.windows(2).all(|w| w[0] < w[1]), "cam-{i}: {pts:?}");
    }
}

#[test]
fn on_error_drop_drops_one_frame_not_a_source() {
    let stage = module(
        "mux_drop",
        "
        SEEN = {}
        def process_frame(frame):
            n = SEEN.get(frame.source_id, 0)
            SEEN[frame.source_id] = n + 1
            if frame.source_id == 'cam-0' and n == 2:
                raise ValueError('bad frame')
        ",
    );
    let counts = [6, 6];
    let result = run(&format!(
        "savantmux name=m{} ! savantpyfunc module={stage} on-error=drop ! appsink name=sink{}",
        source_ids(&counts),
        sources(&counts)
    ));
    assert!(result.eos, "{:?}", result.error);
    let mut per_source: HashMap<String, usize> = HashMap::new();
    for buffer in &result.buffers {
        *per_source
            .entry(gstsavant::frame::source::read(buffer).unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_source["cam-0"], 5);
    assert_eq!(per_source["cam-1"], 6);
}

#[test]
fn a_flushing_seek_restarts_every_source_and_ends_once() {
    use gst::prelude::*;
    common::init();
    let stage = recorder("mux_seek");
    let counts = [3000, 3000];
    let pipeline = gst::parse::launch(&format!(
        "savantmux name=m{} ! savantpyfunc module={stage} class-name=Recorder \
         ! fakesink sync=false{}",
        source_ids(&counts),
        sources(&counts)
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Both sources have frames before the seek (the mux is not fair: one source may
    // run ahead of the other at the start).
    let both = "min(sum(1 for k, s in __import__('mux_seek').EVENTS if k == 'frame' and s == c) \
                for c in ('cam-0', 'cam-1'))";
    while py_eval::<usize>(both) < 20 {
        assert!(std::time::Instant::now() < deadline, "no frames");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    pipeline
        .seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
        .expect("seek");
    common::wait_for_eos(&pipeline, std::time::Duration::from_secs(60));
    pipeline.set_state(gst::State::Null).unwrap();
    let events = events("mux_seek");
    let pts: Vec<(String, u64)> = py_eval("__import__('mux_seek').PTS");
    for i in 0..2 {
        let id = Some(format!("cam-{i}"));
        let count = |kind: &str| events.iter().filter(|(k, s)| k == kind && *s == id).count();
        // Announced again after the seek, before the source's first frame after it.
        assert_eq!(count("add"), 2, "cam-{i}: {events:?}");
        assert_eq!(count("eos"), 1);
        // num-buffers counts on across a seek (basesrc); the flush may discard a
        // frame or two in flight.
        let frames = count("frame");
        assert!((2990..=3000).contains(&frames), "cam-{i}: {frames}");
        // The source went back to the start: its running times restart once.
        let own: Vec<u64> = pts
            .iter()
            .filter(|(s, _)| Some(s) == id.as_ref())
            .map(|p| p.1)
            .collect();
        let restarts = own.windows(2).filter(|w| w[1] < w[0]).count();
        assert_eq!(restarts, 1, "cam-{i}");
        let restart = own.windows(2).position(|w| w[1] < w[0]).unwrap() + 1;
        let first_after = events
            .iter()
            .enumerate()
            .filter(|(_, (k, s))| k == "frame" && *s == id)
            .nth(restart)
            .unwrap()
            .0;
        let second_add = events
            .iter()
            .enumerate()
            .filter(|(_, (k, s))| k == "add" && *s == id)
            .nth(1)
            .unwrap()
            .0;
        assert!(
            second_add < first_after,
            "cam-{i}: add after the seek's frames"
        );
    }
    assert_eq!(events.last().unwrap().0, "end");
    assert_eq!(events.iter().filter(|(k, _)| k == "end").count(), 1);
}

fn many_streams_app(sources: usize) -> String {
    let plugin_dir = common::plugin_dir();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/many_streams_app.py");
    let mut command = std::process::Command::new(gstsavant::python::interpreter::BUILD_EXECUTABLE);
    command
        .env("GST_PLUGIN_PATH", plugin_dir)
        .arg(script)
        .arg(sources.to_string());
    let output = common::run_with_timeout(command, std::time::Duration::from_secs(60));
    let text = common::output_text(&output);
    assert!(output.status.success(), "{text}");
    text
}

#[test]
fn pygobject_app_with_two_and_sixteen_sources() {
    let out = many_streams_app(2);
    assert!(out.contains("received: cam-0=3 cam-1=5"), "{out}");
    assert!(out.contains("hooks in order"), "{out}");
    let out = many_streams_app(16);
    assert!(out.contains("cam-15=33"), "{out}");
    assert!(out.contains("hooks in order"), "{out}");
}

/// Savant's warning: queued memory = length x stages x sources x frame size. Behind
/// a savantmux, the sources share each queue: the elements report what they can
/// really hold. The seed's example: 2 pyfuncs and a draw_func, a queue of length 10
/// ahead of each, 16 sources of 720p RGBA.
#[test]
fn queues_behind_a_mux_report_what_they_can_hold() {
    use gst::prelude::*;
    common::init();
    let stage = module("mux_budget", "def process_frame(frame):\n    pass\n");
    let counts = [2usize; 16];
    let description = format!(
        "savantmux name=m{} ! savantqueue name=q0 length=10 ! savantpyfunc module={stage} \
         ! savantqueue name=q1 length=10 ! savantpyfunc module={stage} \
         ! savantqueue name=q2 length=10 ! savantdrawfunc ! fakesink{}",
        source_ids(&counts),
        (0..counts.len())
            .map(|i| format!(
                " videotestsrc num-buffers=2 \
                 ! video/x-raw,format=RGBA,width=1280,height=720,framerate=30/1 ! m.sink_{i}"
            ))
            .collect::<String>()
    );
    let pipeline = gst::parse::launch(&description).unwrap();
    common::run_to_eos(&pipeline, std::time::Duration::from_secs(60));
    let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
    let frame = 1280 * 720 * 4u64;
    let mut total = 0;
    for name in ["q0", "q1", "q2"] {
        let stats = bin
            .by_name(name)
            .unwrap()
            .property::<gst::Structure>("stats");
        let capacity = stats.get::<u64>("capacity-bytes").unwrap();
        assert_eq!(capacity, 10 * frame, "{name}");
        assert_eq!(stats.get::<u64>("sources").unwrap(), 16, "{name}");
        total += capacity;
    }
    let savant = 10 * 3 * 16 * frame;
    println!(
        "3 queues of length 10, 16 sources of 1280x720 RGBA: the queues hold at most \
         {total} bytes ({:.1} MiB); Savant's length x stages x sources x frame: {savant} \
         bytes ({:.2} GiB)",
        total as f64 / (1 << 20) as f64,
        savant as f64 / (1u64 << 30) as f64
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn a_source_that_refuses_a_seek_keeps_streaming_through_it() {
    use gst::prelude::*;
    common::init();
    let stage = recorder("mux_refuses_seek");
    let caps = "video/x-raw,format=RGBA,width=32,height=24,framerate=100/1";
    let pipeline = gst::parse::launch(&format!(
        "savantmux name=m sink_0::source-id=app sink_1::source-id=file \
         ! savantpyfunc module={stage} class-name=Recorder ! fakesink sync=false \
         appsrc name=a is-live=true format=time stream-type=stream caps={caps} ! m.sink_0 \
         videotestsrc num-buffers=100000 ! {caps} ! m.sink_1"
    ))
    .unwrap();
    let appsrc = common::appsrc(&pipeline, "a");
    pipeline.set_state(gst::State::Playing).unwrap();
    let frames = 300u64;
    let feeder = std::thread::spawn(move || {
        for i in 0..frames {
            let mut buffer = gst::Buffer::from_mut_slice(vec![0u8; 32 * 24 * 4]);
            buffer
                .get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(10 * i));
            if appsrc.push_buffer(buffer).is_err() {
                return i;
            }
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        let _ = appsrc.end_of_stream();
        frames
    });
    let count = || {
        events("mux_refuses_seek")
            .iter()
            .filter(|(k, s)| k == "frame" && s.as_deref() == Some("app"))
            .count()
    };
    for _ in 0..10 {
        std::thread::sleep(std::time::Duration::from_millis(60));
        let _ = pipeline.seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO);
    }
    let after_seeks = count();
    assert_eq!(feeder.join().unwrap(), frames, "appsrc refused frames");
    // The app source ended: the other one ends on a seek to its end.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(count() > after_seeks, "the app source stopped at the seeks");
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn two_pads_with_one_source_id_are_an_error() {
    let result = run(
        "savantmux name=m sink_0::source-id=x sink_1::source-id=x ! appsink name=sink \
         videotestsrc num-buffers=10 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_0 \
         videotestsrc num-buffers=10 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_1",
    );
    let (message, _) = result.error.expect("an ERROR");
    assert!(message.contains("source-id 'x' is already"), "{message}");
}

#[test]
fn a_source_id_with_a_slash_is_an_error() {
    // It would name a demux pad src_a/b, which gst-launch cannot link.
    let result = run(
        "savantmux name=m sink_0::source-id=a/b ! appsink name=sink \
         videotestsrc num-buffers=10 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_0",
    );
    let (message, _) = result.error.expect("an ERROR");
    assert!(
        message.contains("source-id 'a/b' contains '/'"),
        "{message}"
    );
}

#[test]
fn a_restarted_pipeline_announces_its_sources_again() {
    use gst::prelude::*;
    common::init();
    let stage = recorder("mux_restart");
    let pipeline = gst::parse::launch(&format!(
        "savantmux name=m sink_0::source-id=cam ! savantpyfunc module={stage} \
         class-name=Recorder ! fakesink sync=false \
         videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_0"
    ))
    .unwrap();
    for _ in 0..2 {
        common::run_to_eos(&pipeline, std::time::Duration::from_secs(30));
        pipeline.set_state(gst::State::Null).unwrap();
    }
    let events = events("mux_restart");
    let adds = events.iter().filter(|(k, _)| k == "add").count();
    assert_eq!(adds, 2, "{events:?}");
    check_order(&events[..events.len() / 2], &[]);
}

#[test]
fn a_source_without_frames_is_announced_and_ends_its_demux_pad() {
    let stage = recorder("mux_no_frames");
    let buffers = run_sinks(
        &format!(
            "savantmux name=m sink_0::source-id=cam-0 sink_1::source-id=cam-1 \
             ! savantpyfunc module={stage} class-name=Recorder ! savantdemux name=d \
             d.src_cam-0 ! queue ! appsink name=a d.src_cam-1 ! queue ! appsink name=b \
             videotestsrc num-buffers=10 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_0 \
             videotestsrc num-buffers=0 ! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_1"
        ),
        &["a", "b"],
    );
    assert_eq!(buffers["a"].len(), 10);
    assert!(!buffers.contains_key("b"));
    check_order(&events("mux_no_frames"), &[10, 0]);
}

#[test]
fn sources_may_differ_in_framerate() {
    let stage = recorder("mux_rates");
    let result = run(&format!(
        "savantmux name=m sink_0::source-id=cam-0 sink_1::source-id=cam-1 \
         ! savantpyfunc module={stage} class-name=Recorder ! appsink name=sink \
         videotestsrc num-buffers=5 ! video/x-raw,format=RGBA,width=32,height=24,framerate=25/1 ! m.sink_0 \
         videotestsrc num-buffers=7 ! video/x-raw,format=RGBA,width=32,height=24,framerate=30/1 ! m.sink_1"
    ));
    assert!(result.eos, "{:?}", result.error);
    check_order(&events("mux_rates"), &[5, 7]);
}

/// A pipeline's source `v`, the capsfilter after it, mux `m` and its pad `sink_0`.
fn source_and_mux_pad(
    pipeline: &gst::Pipeline,
) -> (gst::Element, gst::Element, gst::Element, gst::Pad) {
    use gst::prelude::*;
    let source = pipeline.by_name("v").unwrap();
    let capsfilter = source
        .static_pad("src")
        .unwrap()
        .peer()
        .unwrap()
        .parent_element()
        .unwrap();
    let mux = pipeline.by_name("m").unwrap();
    let pad = mux.static_pad("sink_0").unwrap();
    (source, capsfilter, mux, pad)
}

#[test]
fn releasing_the_last_pad_ends_the_stream() {
    use gst::prelude::*;
    common::init();
    let stage = recorder("mux_release_last");
    let caps = "video/x-raw,format=RGBA,width=32,height=24,framerate=50/1";
    let pipeline = common::launch(&format!(
        "savantmux name=m ! savantpyfunc module={stage} class-name=Recorder \
         ! fakesink sync=false videotestsrc name=v is-live=true ! {caps} ! m.sink_0"
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (source, capsfilter, mux, pad) = source_and_mux_pad(&pipeline);
    source.set_state(gst::State::Null).unwrap();
    capsfilter.set_state(gst::State::Null).unwrap();
    capsfilter.static_pad("src").unwrap().unlink(&pad).unwrap();
    mux.release_request_pad(&pad);
    common::wait_for_eos(&pipeline, std::time::Duration::from_secs(10));
    pipeline.set_state(gst::State::Null).unwrap();
    let events = events("mux_release_last");
    assert_eq!(events.last().unwrap().0, "end", "{events:?}");
}

#[test]
fn releasing_the_last_pad_during_a_blocked_push_ends_the_stream_from_the_output_thread() {
    use gst::prelude::*;
    common::init();
    // appsink full (max-buffers=1, no drop): the mux's output thread blocks in its
    // push, inside `aggregate`, when the pad goes away.
    let pipeline = common::launch(
        "savantmux name=m sink_0::source-id=cam ! appsink name=sink max-buffers=1 \
         sync=false emit-signals=false \
         videotestsrc name=v num-buffers=1000 ! video/x-raw,format=RGBA,width=32,height=24 \
         ! m.sink_0",
    );
    let sink = common::appsink(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    // One frame in the sink, the next one blocked in the push.
    let first = sink.pull_preroll().unwrap();
    assert!(first.buffer().is_some());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (source, capsfilter, mux, pad) = source_and_mux_pad(&pipeline);
    // The source's thread is blocked too, in the mux pad's queue: unlink and release
    // first (the release flushes that queue), then stop the source.
    capsfilter.static_pad("src").unwrap().unlink(&pad).unwrap();
    // The release must not wait on downstream (it did: it pushed EOS itself, on
    // this thread, into the sink whose stream lock the blocked push holds).
    let (done, released) = std::sync::mpsc::channel();
    let releaser = std::thread::spawn({
        let mux = mux.clone();
        move || {
            mux.release_request_pad(&pad);
            done.send(()).unwrap();
        }
    });
    let returned = released
        .recv_timeout(std::time::Duration::from_secs(5))
        .is_ok();
    source.set_state(gst::State::Null).unwrap();
    capsfilter.set_state(gst::State::Null).unwrap();
    // Drain: the frames in flight, then EOS, in order.
    let mut frames = 0;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(5)) {
        assert!(sample.buffer().is_some());
        frames += 1;
    }
    assert!(returned, "release_request_pad waited on a blocked push");
    releaser.join().unwrap();
    assert!(sink.is_eos(), "no EOS after {frames} frames");
    pipeline.set_state(gst::State::Null).unwrap();
}

/// A decoder of an H.264 elementary stream (`filesrc ! h264parse ! decoder`) stamps
/// only its first frame. Frames without a timestamp stand one frame after their
/// source's last: two such sources go out in turn, and with a short queue per demux
/// pad the pipeline prerolls and ends (taken as the earliest, one source's frames
/// went out alone while the other's sink waited to preroll, for ever).
#[test]
fn sources_that_stamp_only_their_first_frame_go_out_in_turn() {
    use gst::prelude::*;
    common::init();
    let pipeline = common::launch(
        "savantmux name=m ! savantdemux name=d \
         videotestsrc name=s0 num-buffers=30 ! video/x-raw,width=64,height=48,framerate=25/1 ! m.sink_0 \
         videotestsrc name=s1 num-buffers=20 ! video/x-raw,width=64,height=48,framerate=25/1 ! m.sink_1 \
         d.src_sink_0 ! queue max-size-buffers=2 ! fakesink \
         d.src_sink_1 ! queue max-size-buffers=2 ! fakesink",
    );
    let bin: &gst::Bin = pipeline.upcast_ref();
    for source in ["s0", "s1"] {
        let first = std::sync::atomic::AtomicBool::new(true);
        bin.by_name(source)
            .unwrap()
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if !first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    if let Some(buffer) = info.buffer_mut() {
                        let buffer = buffer.make_mut();
                        buffer.set_pts(gst::ClockTime::NONE);
                        buffer.set_dts(gst::ClockTime::NONE);
                        buffer.set_duration(gst::ClockTime::NONE);
                    }
                }
                gst::PadProbeReturn::Ok
            });
    }
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorder = order.clone();
    bin.by_name("m")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                recorder
                    .lock()
                    .unwrap()
                    .push(gstsavant::frame::source::read(buffer).unwrap_or_default());
            }
            gst::PadProbeReturn::Ok
        });
    common::run_to_eos(&pipeline, std::time::Duration::from_secs(30));
    pipeline.set_state(gst::State::Null).unwrap();
    let order = order.lock().unwrap();
    let count = |id: &str| order.iter().filter(|s| *s == id).count();
    assert_eq!((count("sink_0"), count("sink_1")), (30, 20), "{order:?}");
    // In turn while both have frames: 40 frames alternate, then sink_0's last ten.
    let alternating: Vec<&str> = (0..40)
        .map(|i| if i % 2 == 0 { "sink_0" } else { "sink_1" })
        .collect();
    assert_eq!(order[..40], alternating[..], "{order:?}");
}

/// A stage that drops the first `n` frames of source `cam-1` (all of them when `n`
/// is at least its frame count).
fn dropper(name: &str, n: usize) -> String {
    module(
        name,
        &format!(
            "
            SEEN = {{}}
            def process_frame(frame):
                seen = SEEN[frame.source_id] = SEEN.get(frame.source_id, 0) + 1
                return not (frame.source_id == 'cam-1' and seen <= {n})
            "
        ),
    )
}

#[test]
fn a_source_whose_frames_a_stage_drops_does_not_stall_the_others() {
    // Without branch queues: the dropped source's sink must preroll on something
    // (a gap) while the other sink holds its demux queue full. Dropping every frame,
    // or more leading frames than that queue holds, hung before.
    for n in [3, 1000] {
        let stage = dropper(&format!("mux_drop_{n}"), n);
        let buffers = run_sinks(
            &format!(
                "savantmux name=m sink_0::source-id=cam-0 sink_1::source-id=cam-1 \
                 ! savantpyfunc module={stage} ! savantdemux name=d \
                 d.src_cam-0 ! appsink name=a d.src_cam-1 ! appsink name=b {}",
                sources(&[30, 30])
            ),
            &["a", "b"],
        );
        assert_eq!(buffers["a"].len(), 30, "dropping {n}");
        let passed = buffers.get("b").map_or(0, Vec::len);
        assert_eq!(passed, 30usize.saturating_sub(n), "dropping {n}");
    }
}

#[test]
fn a_flushing_seek_with_a_live_source_among_file_sources_reaches_eos() {
    // After the flush the live source's branch had nothing to preroll on, and the
    // pipeline stayed PAUSED (ASYNC) for good.
    use gst::prelude::*;
    common::init();
    let caps = "video/x-raw,format=RGBA,width=64,height=48,framerate=30/1";
    let pipeline = common::launch(&format!(
        "savantmux name=m sink_0::source-id=a sink_1::source-id=b sink_2::source-id=c \
         ! savantdemux name=d \
         d.src_a ! fakesink sync=true d.src_b ! fakesink sync=true d.src_c ! fakesink sync=true \
         videotestsrc num-buffers=300 ! {caps} ! m.sink_0 \
         videotestsrc num-buffers=300 ! {caps} ! m.sink_1 \
         videotestsrc is-live=true num-buffers=90 ! {caps} ! m.sink_2"
    ));
    let seeker = pipeline.clone();
    let seek = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        seeker
            .seek(
                1.0,
                gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                gst::SeekType::Set,
                gst::ClockTime::from_seconds(5),
                gst::SeekType::Set,
                gst::ClockTime::from_seconds(7),
            )
            .is_ok()
    });
    common::run_to_eos(&pipeline, std::time::Duration::from_secs(30));
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(seek.join().unwrap(), "the seek was refused");
}

#[test]
fn pausing_while_a_stage_drops_a_sources_frames_does_not_stall() {
    // Paused, every sink prerolls again; the source whose frames the stage drops had
    // nothing queued to preroll on, and the other's full queue held back the rest.
    use gst::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    common::init();
    let stage = module(
        "mux_drop_window",
        "
        SEEN = {}
        def process_frame(frame):
            seen = SEEN[frame.source_id] = SEEN.get(frame.source_id, 0) + 1
            return not (frame.source_id == 'cam-1' and 15 < seen <= 80)
        ",
    );
    let pipeline = common::launch(&format!(
        "savantmux name=m sink_0::source-id=cam-0 sink_1::source-id=cam-1 \
         ! savantpyfunc module={stage} ! savantdemux name=d \
         d.src_cam-0 ! fakesink name=a sync=true d.src_cam-1 ! fakesink name=b sync=true {}",
        sources(&[90, 90])
    ));
    let counts: Vec<Arc<AtomicUsize>> = ["a", "b"]
        .iter()
        .map(|name| {
            let count = Arc::new(AtomicUsize::new(0));
            let counted = count.clone();
            pipeline
                .by_name(name)
                .unwrap()
                .static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    gst::PadProbeReturn::Ok
                });
            count
        })
        .collect();
    let paused = pipeline.clone();
    let pauser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        paused.set_state(gst::State::Paused).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        paused.set_state(gst::State::Playing).unwrap();
    });
    common::run_to_eos(&pipeline, std::time::Duration::from_secs(30));
    pauser.join().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(counts[0].load(Ordering::SeqCst), 90);
    assert_eq!(counts[1].load(Ordering::SeqCst), 90 - 65);
}
