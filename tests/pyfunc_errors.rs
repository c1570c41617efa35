//! Bad input to savantpyfunc: every case ends in a clear ERROR (or, under
//! on-error=skip/drop, a WARNING) naming the module and the cause, with the Python
//! traceback in the debug text — never a crash, a hang or a silent pass.

mod common;

use common::{attributes, expect_error, module, run, Run};

fn pipeline(props: &str, frames: u32) -> Run {
    run(&format!(
        "videotestsrc num-buffers={frames} ! video/x-raw,format=RGBA,width=16,height=16 \
         ! savantpyfunc {props} ! appsink name=sink"
    ))
}

#[test]
fn missing_module_file_names_the_path() {
    let run = pipeline("module=/nonexistent/stage_missing.py", 1);
    let (message, _) = expect_error(&run);
    assert!(
        message.contains("module file /nonexistent/stage_missing.py not found"),
        "{message}"
    );
    assert!(run.buffers.is_empty());
}

#[test]
fn unset_module_is_an_error() {
    let (message, _) = expect_error(&pipeline("", 1));
    assert!(
        message.contains("`module` property is not set"),
        "{message}"
    );
}

#[test]
fn dotted_module_not_found_names_the_module() {
    let run = pipeline("module=no_such_pkg.detector", 1);
    let (message, debug) = expect_error(&run);
    assert!(
        message.contains("cannot import module no_such_pkg.detector"),
        "{message}"
    );
    assert!(message.contains("ModuleNotFoundError"), "{message}");
    assert!(debug.contains("No module named 'no_such_pkg'"), "{debug}");
}

#[test]
fn syntax_error_shows_file_and_line() {
    let path = module("broken_syntax", "def process_frame(frame)\n    pass\n");
    let run = pipeline(&format!("module={path}"), 1);
    let (message, debug) = expect_error(&run);
    assert!(message.contains("SyntaxError"), "{message}");
    assert!(message.contains("broken_syntax.py"), "{message}");
    assert!(debug.contains("line 1"), "{debug}");
}

#[test]
fn import_error_inside_the_module_is_reported() {
    let path = module("bad_import", "import definitely_not_installed_xyz\n");
    let (message, debug) = expect_error(&pipeline(&format!("module={path}"), 1));
    assert!(message.contains("bad_import.py"), "{message}");
    assert!(
        message.contains("No module named 'definitely_not_installed_xyz'"),
        "{message}"
    );
    assert!(debug.contains("Traceback"), "{debug}");
}

#[test]
fn missing_class_or_function_is_named() {
    let path = module("no_members", "x = 1\n");
    let (message, _) = expect_error(&pipeline(&format!("module={path} class-name=Detector"), 1));
    assert!(message.contains("has no class `Detector`"), "{message}");

    let (message, _) = expect_error(&pipeline(&format!("module={path} function=detect"), 1));
    assert!(message.contains("has no function `detect`"), "{message}");

    let path = module("no_method", "class Detector:\n    pass\n");
    let (message, _) = expect_error(&pipeline(&format!("module={path} class-name=Detector"), 1));
    assert!(
        message.contains("class Detector has no method `process_frame`"),
        "{message}"
    );
}

#[test]
fn constructor_raising_is_reported_with_traceback() {
    let path = module(
        "bad_ctor",
        r#"
        class Detector:
            def __init__(self, model):
                raise FileNotFoundError(f"no model {model}")
            def process_frame(self, frame):
                pass
        "#,
    );
    let run = pipeline(
        &format!("module={path} class-name=Detector kwargs=\"{{model: m.onnx}}\""),
        1,
    );
    let (message, debug) = expect_error(&run);
    assert!(
        message.contains("Detector(**kwargs) raised FileNotFoundError: no model m.onnx"),
        "{message}"
    );
    assert!(debug.contains("bad_ctor.py"), "{debug}");
}

#[test]
fn kwargs_must_be_a_valid_mapping() {
    let path = module(
        "kw_target",
        "class C:\n    def __init__(self, **kw): pass\n    def process_frame(self, f): pass\n",
    );
    let (message, _) = expect_error(&pipeline(
        &format!("module={path} class-name=C kwargs=\"[1, 2]\""),
        1,
    ));
    assert!(
        message.contains("kwargs must be a YAML/JSON mapping, got a list"),
        "{message}"
    );

    let (message, _) = expect_error(&pipeline(
        &format!("module={path} class-name=C kwargs=\"{{a: [1, 2\""),
        1,
    ));
    assert!(
        message.contains("kwargs is not valid YAML/JSON"),
        "{message}"
    );
}

#[test]
fn on_start_returning_false_fails_the_state_change() {
    let path = module(
        "refuses_start",
        r#"
        class C:
            def on_start(self):
                return False
            def process_frame(self, frame):
                pass
        "#,
    );
    let run = pipeline(&format!("module={path} class-name=C"), 1);
    let (message, _) = expect_error(&run);
    assert!(message.contains("on_start() returned False"), "{message}");
    assert!(run.state_change_failed);
}

fn raising_module() -> String {
    module(
        "raises_on_odd",
        r#"
        def process_frame(frame):
            if frame.offset % 2:
                1 / 0
            frame.attributes["ok"] = True
        "#,
    )
}

#[test]
fn exception_with_on_error_fail_stops_the_stream() {
    let run = pipeline(&format!("module={}", raising_module()), 4);
    let (message, debug) = expect_error(&run);
    assert!(
        message.contains("process_frame() raised ZeroDivisionError: division by zero"),
        "{message}"
    );
    assert!(debug.contains("raises_on_odd.py\", line 3"), "{debug}");
    assert_eq!(run.buffers.len(), 1);
}

#[test]
fn exception_with_on_error_skip_passes_the_buffer_unchanged() {
    let run = pipeline(&format!("module={} on-error=skip", raising_module()), 4);
    assert!(run.eos && run.error.is_none(), "{run:?}");
    assert_eq!(run.buffers.len(), 4);
    assert_eq!(run.warnings.len(), 2);
    assert!(
        run.warnings[0].0.contains("ZeroDivisionError"),
        "{:?}",
        run.warnings
    );
    assert!(
        run.warnings[0].1.contains("Traceback"),
        "{:?}",
        run.warnings
    );
    let with_attrs = run
        .buffers
        .iter()
        .filter(|b| attributes(b).is_some())
        .count();
    assert_eq!(with_attrs, 2, "failed frames pass without attributes");
}

#[test]
fn exception_with_on_error_drop_drops_the_buffer() {
    let run = pipeline(&format!("module={} on-error=drop", raising_module()), 4);
    assert!(run.eos && run.error.is_none(), "{run:?}");
    assert_eq!(run.buffers.len(), 2);
    assert_eq!(run.warnings.len(), 2);
}

#[test]
fn exceptions_in_event_hooks_follow_the_policy() {
    let path = module(
        "raising_hooks",
        r#"
        class C:
            def on_caps(self, info):
                raise RuntimeError("bad caps hook")
            def on_eos(self):
                raise RuntimeError("bad eos hook")
            def process_frame(self, frame):
                pass
        "#,
    );
    let run = pipeline(&format!("module={path} class-name=C"), 2);
    let (message, _) = expect_error(&run);
    assert!(
        message.contains("on_caps() raised RuntimeError: bad caps hook"),
        "{message}"
    );

    // Under skip the events still flow: the stream reaches EOS with every frame.
    let run = pipeline(&format!("module={path} class-name=C on-error=skip"), 2);
    assert!(run.eos, "{run:?}");
    assert_eq!(run.buffers.len(), 2);
    let warnings: Vec<&str> = run.warnings.iter().map(|w| w.0.as_str()).collect();
    assert!(
        warnings.iter().any(|w| w.contains("bad caps hook")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("bad eos hook")),
        "{warnings:?}"
    );
}

#[test]
fn system_exit_and_keyboard_interrupt_do_not_exit_the_process() {
    for (name, raise) in [
        ("raises_exit", "raise SystemExit(3)"),
        ("raises_interrupt", "raise KeyboardInterrupt()"),
        ("calls_sys_exit", "import sys; sys.exit(0)"),
    ] {
        let path = module(name, &format!("def process_frame(frame):\n    {raise}\n"));
        let run = pipeline(&format!("module={path}"), 2);
        let (message, _) = expect_error(&run);
        assert!(
            message.contains("SystemExit") || message.contains("KeyboardInterrupt"),
            "{message}"
        );
    }
    // Still here: the test process survived all three.
}

#[test]
fn non_verdict_return_values_are_errors() {
    let path = module("returns_int", "def process_frame(frame):\n    return 1\n");
    let (message, _) = expect_error(&pipeline(&format!("module={path}"), 1));
    assert!(
        message.contains("process_frame() returned int (expected True, False or None)"),
        "{message}"
    );
}

#[test]
fn invalid_attribute_values_are_errors() {
    let path = module(
        "bad_attrs",
        "def process_frame(frame):\n    frame.attributes['boxes'] = [1, 2]\n",
    );
    let (message, _) = expect_error(&pipeline(&format!("module={path}"), 1));
    assert!(
        message.contains("frame.attributes['boxes'] must be str, int, float or bool, got list"),
        "{message}"
    );
}

#[test]
fn caps_that_are_not_raw_video_are_refused() {
    let path = module(
        "never_called",
        "def process_frame(frame):\n    raise AssertionError\n",
    );
    common::init();
    let result = gst::parse::launch(&format!(
        "audiotestsrc num-buffers=1 ! savantpyfunc module={path} ! fakesink"
    ));
    let error = result.expect_err("audio must not link to savantpyfunc");
    assert!(error.to_string().contains("could not link"), "{error}");

    // Caps pushed at it directly are refused before any Python runs.
    let mut h = gst_check::Harness::new_parse(&format!("savantpyfunc module={path}"));
    h.set_src_caps_str("audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved");
    let buffer = gst::Buffer::from_mut_slice(vec![0u8; 64]);
    assert_eq!(h.push(buffer), Err(gst::FlowError::NotNegotiated));
}

#[test]
fn buffers_smaller_than_their_caps_are_refused() {
    common::init();
    let path = module("size_check", "def process_frame(frame):\n    pass\n");
    let mut h = gst_check::Harness::new_parse(&format!("savantpyfunc module={path}"));
    h.set_src_caps_str("video/x-raw,format=RGBA,width=16,height=16,framerate=25/1");
    let short = gst::Buffer::from_mut_slice(vec![0u8; 100]);
    assert_eq!(h.push(short), Err(gst::FlowError::Error));
}

/// An exception in on_stop is a WARNING with its traceback, posted at PAUSED ->
/// READY (not an on-error case: the element stops anyway).
#[test]
fn an_exception_in_on_stop_is_a_warning_on_the_bus() {
    use gst::prelude::*;
    let stage = common::module(
        "on_stop_raises",
        "class Stage:\n    def process_frame(self, frame):\n        pass\n    def on_stop(self):\n        raise RuntimeError('closing the model failed')\n",
    );
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=GRAY8,width=8,height=8 \
         ! savantpyfunc module={stage} class-name=Stage ! fakesink"
    ))
    .unwrap();
    common::run_to_eos(&pipeline, std::time::Duration::from_secs(30));
    pipeline.set_state(gst::State::Ready).unwrap();
    let bus = pipeline.bus().unwrap();
    let warning = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(5),
            &[gst::MessageType::Warning],
        )
        .expect("a WARNING for on_stop");
    let gst::MessageView::Warning(w) = warning.view() else {
        unreachable!()
    };
    let message = w.error().to_string();
    assert!(
        message.contains("on_stop() raised RuntimeError: closing the model failed"),
        "{message}"
    );
    assert!(!message.contains("on-error"), "{message}");
    assert!(
        w.debug().is_some_and(|d| d.contains("Traceback")),
        "{:?}",
        w.debug()
    );
    pipeline.set_state(gst::State::Null).unwrap();
}
