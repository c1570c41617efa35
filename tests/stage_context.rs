//! What a stage's code sees around its frames: Python logging in GStreamer's debug
//! log, repeated failures reported once with a count, event structures as plain
//! Python values.

mod common;

use std::sync::{Arc, Mutex, Once};

use common::{module, py_eval, run};
use gst::prelude::*;

/// (object, level, message) lines of savantpyfunc's debug category.
type Log = Arc<Mutex<Vec<(String, gst::DebugLevel, String)>>>;

/// Debug output of savantpyfunc collected in memory; set up before any element
/// starts Python (the logging bridge reads the thresholds then).
fn collected_log() -> Log {
    static SETUP: Once = Once::new();
    static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
    let log = LOG.get_or_init(Default::default).clone();
    SETUP.call_once(|| {
        common::init();
        gst::log::set_active(true);
        gst::log::set_threshold_for_name("savantpyfunc", gst::DebugLevel::Debug);
        let sink = log.clone();
        gst::log::add_log_function(
            move |category, level, _file, _function, _line, object, message| {
                if category.name() != "savantpyfunc" {
                    return;
                }
                let object = object.map(|o| o.to_string()).unwrap_or_default();
                if let Some(text) = message.get() {
                    sink.lock().unwrap().push((object, level, text.to_string()));
                }
            },
        );
    });
    log
}

#[test]
fn python_logging_reaches_the_elements_debug_category_at_its_level() {
    let log = collected_log();
    let stage = module(
        "logging_stage",
        r#"
        import logging
        log = logging.getLogger("counter")
        class Counter:
            def on_start(self):
                log.info("starting")
            def process_frame(self, frame):
                log.debug("frame %d", frame.offset)
                if frame.offset == 2:
                    log.warning("frame %d looks odd", frame.offset)
        "#,
    );
    let result = run(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc name=counter_stage module={stage} class-name=Counter ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    let log = log.lock().unwrap();
    let find = |level: gst::DebugLevel, text: &str| {
        log.iter()
            .any(|(o, l, m)| o.contains("counter_stage") && *l == level && m == text)
    };
    assert!(find(gst::DebugLevel::Info, "counter: starting"), "{log:?}");
    assert!(find(gst::DebugLevel::Debug, "counter: frame 1"), "{log:?}");
    assert!(
        find(gst::DebugLevel::Warning, "counter: frame 2 looks odd"),
        "{log:?}"
    );
}

#[test]
fn a_failure_on_every_frame_is_reported_once_with_a_count() {
    collected_log();
    let stage = module(
        "always_failing",
        "def process_frame(frame):\n    raise ValueError('no luck')\n",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=200 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} on-error=skip ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(result.buffers.len(), 200, "skip passes every frame on");
    let warnings: Vec<&String> = result.warnings.iter().map(|(w, _)| w).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("ValueError: no luck (on-error=skip)"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("ValueError: no luck (on-error=skip; 199 more time(s)"),
        "{warnings:?}"
    );
}

#[test]
fn failures_that_take_turns_are_each_reported_once_with_a_count() {
    // Each change of failure was a new WARNING when only the last one was remembered.
    collected_log();
    let stage = module(
        "alternately_failing",
        "N = [0]\ndef process_frame(frame):\n    N[0] += 1\n    \
         raise (ValueError, KeyError, TypeError)[N[0] % 3]('no luck')\n",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=300 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} on-error=skip ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(result.buffers.len(), 300);
    let warnings: Vec<&String> = result.warnings.iter().map(|(w, _)| w).collect();
    assert_eq!(warnings.len(), 6, "{warnings:?}");
    for kind in ["ValueError", "KeyError", "TypeError"] {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("{kind}: ")) && w.contains("99 more time(s)")),
            "{kind}: {warnings:?}"
        );
    }
}

#[test]
fn event_structures_arrive_as_plain_python_values() {
    collected_log();
    let stage = module(
        "event_reader",
        r#"
        events = {}
        class Reader:
            def on_event(self, name, structure):
                events.setdefault(name, structure)
            def process_frame(self, frame):
                pass
        "#,
    );
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc name=s module={stage} class-name=Reader ! fakesink"
    ))
    .unwrap();
    let src = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("s")
        .unwrap()
        .static_pad("sink")
        .unwrap();
    // A custom event from the app with a string that GStreamer would escape.
    src.add_probe(gst::PadProbeType::BUFFER, |pad, _| {
        let event = gst::event::CustomDownstream::new(
            gst::Structure::builder("note")
                .field("text", "a \"quoted\", spaced, text")
                .field("count", 3i32)
                .build(),
        );
        let _ = pad.send_event(event);
        gst::PadProbeReturn::Remove
    });
    common::run_to_eos(&pipeline, std::time::Duration::from_secs(30));
    pipeline.set_state(gst::State::Null).unwrap();
    let caps: String = py_eval("__import__('event_reader').events['caps']['caps']");
    assert!(
        caps.starts_with("video/x-raw, format=(string)GRAY8, width=(int)8"),
        "{caps}"
    );
    let text: String = py_eval("__import__('event_reader').events['custom-downstream']['text']");
    assert_eq!(text, "a \"quoted\", spaced, text");
    let start: Option<u64> =
        py_eval("__import__('event_reader').events['segment']['segment']['start']");
    assert_eq!(start, Some(0));
}
