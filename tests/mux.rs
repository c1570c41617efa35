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
        class Recorder:
            def on_source_add(self, source_id):
                EVENTS.append(('add', source_id))
            def on_source_eos(self, source_id):
                EVENTS.append(('eos', source_id))
            def on_source_delete(self, source_id):
                EVENTS.append(('delete', source_id))
            def process_frame(self, frame):
                EVENTS.append(('frame', frame.source_id))
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
}

/// Plays `description` to EOS and returns the buffers each named appsink got.
fn run_sinks(description: &str, sinks: &[&str]) -> HashMap<String, Vec<gst::Buffer>> {
    use gst::prelude::*;
    common::init();
    let pipeline = gst::parse::launch(description)
        .unwrap_or_else(|e| panic!("{description}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let collected = std::sync::Arc::new(std::sync::Mutex::new(HashMap::new()));
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
                    collected
                        .lock()
                        .unwrap()
                        .entry(name.clone())
                        .or_insert_with(Vec::new)
                        .push(sample.buffer_owned().unwrap());
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    common::run_to_eos(pipeline.upcast_ref(), std::time::Duration::from_secs(60));
    pipeline.set_state(gst::State::Null).unwrap();
    let map = collected.lock().unwrap().clone();
    map
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
    let dir = std::env::current_exe().unwrap();
    let plugin_dir = dir.parent().unwrap().parent().unwrap();
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
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("Got EOS"), "{text}");
}
