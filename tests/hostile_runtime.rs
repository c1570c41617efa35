//! Nothing a stage, its user code or its inputs do takes the process down. Each case
//! runs in a child process (gst-launch-1.0, a C app that uses only GStreamer's API,
//! a PyGObject app), so a signal or a hang fails the test rather than the test run.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::{compile_c_app, output_text, plugin_dir, run_with_timeout};

fn gst_launch(description: &str) -> Output {
    let mut command = Command::new("gst-launch-1.0");
    command
        .env("GST_PLUGIN_PATH", plugin_dir())
        .arg("-q")
        .args(description.split_whitespace());
    run_with_timeout(command, Duration::from_secs(60))
}

/// Ends without a signal: gst-launch catches SIGSEGV and spins (the timeout fails
/// the test then), a C app dies with the signal.
fn assert_clean_exit(output: &Output, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        output.status.signal(),
        None,
        "{what}: killed by a signal\n{}",
        output_text(output)
    );
    assert!(
        output.status.success(),
        "{what}: {:?}\n{}",
        output.status,
        output_text(output)
    );
}

#[test]
fn a_drawfunc_without_python_starts_and_stops_without_python() {
    for run in 0..3 {
        let output = gst_launch("videotestsrc num-buffers=2 ! savantdrawfunc ! fakesink");
        assert_clean_exit(&output, &format!("gst-launch run {run}"));
    }
}

#[test]
fn a_c_app_without_python_runs_a_drawfunc_many_times() {
    let app = compile_c_app("launch_app", &["gstreamer-1.0"]);
    for run in 0..6 {
        let mut command = Command::new(&app);
        command.env("GST_PLUGIN_PATH", plugin_dir()).args([
            "3",
            "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA ! savantdrawfunc \
             ! savantqueue ! savantdrawfunc ! fakesink",
        ]);
        let output = run_with_timeout(command, Duration::from_secs(60));
        assert_clean_exit(&output, &format!("C app run {run}"));
        assert_eq!(
            output_text(&output).matches(": EOS").count(),
            3,
            "{}",
            output_text(&output)
        );
    }
}

#[test]
fn a_module_with_only_a_draw_func_needs_no_python() {
    let dir = std::env::temp_dir().join(format!("savant-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("draw_only.yml");
    std::fs::write(
        &config,
        "name: draw_only\nparameters:\n  draw_func: {}\npipeline:\n  elements: []\n",
    )
    .unwrap();
    for run in 0..3 {
        let output = gst_launch(&format!(
            "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA ! savantmodule config={} \
             ! fakesink",
            config.display()
        ));
        assert_clean_exit(&output, &format!("module run {run}"));
    }
}

#[test]
fn a_fifo_as_config_or_draw_spec_is_an_error_not_a_hang() {
    let dir = std::env::temp_dir().join(format!("savant-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("spec.yml");
    let _ = std::fs::remove_file(&fifo);
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    for (element, expected) in [
        (
            format!("savantdrawfunc draw-spec={}", fifo.display()),
            "draw spec",
        ),
        (
            format!("savantmodule config={}", fifo.display()),
            "module config",
        ),
    ] {
        // Nobody ever writes to the FIFO: opening it would block for good.
        let output = gst_launch(&format!(
            "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA ! {element} ! fakesink"
        ));
        let out = output_text(&output);
        assert!(!output.status.success(), "{element}: {out}");
        assert!(
            out.contains(&format!("cannot read {expected}"))
                && out.contains("not a regular file (a FIFO)"),
            "{element}: {out}"
        );
    }
}

/// A PyGObject app whose hook calls GStreamer (tests/scripts/hook_calls_gstreamer.py):
/// PyGObject releases the GIL around the C call, and the call comes back into a
/// savant element on the same thread. It works as the same call from a pad probe does.
fn hook_calls_gstreamer(action: &str, env: &[(&str, &str)]) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts/hook_calls_gstreamer.py");
    let mut command = Command::new(gstsavant::python::interpreter::BUILD_EXECUTABLE);
    command
        .env("GST_PLUGIN_PATH", plugin_dir())
        .envs(env.iter().copied())
        .arg(script)
        .arg(action);
    let output = run_with_timeout(command, Duration::from_secs(60));
    let what = format!("{action} {env:?}");
    assert_clean_exit(&output, &what);
    let out = output_text(&output);
    assert!(out.contains("CLEAN EXIT"), "{what}: {out}");
    assert!(!out.contains("ERROR:"), "{what}: {out}");
    assert!(!out.contains("Panicked"), "{what}: {out}");
    out
}

#[test]
fn hooks_may_call_gstreamer_as_pad_probes_do() {
    let cases = [
        ("null_self", "frame", "GST_STATE_CHANGE_SUCCESS"),
        ("ready_self", "frame", "GST_STATE_CHANGE_SUCCESS"),
        ("chain_other", "frame", "GST_FLOW_OK"),
        ("null_other", "frame", "GST_STATE_CHANGE_SUCCESS"),
        ("play_other", "frame", "GST_STATE_CHANGE_ASYNC"),
        ("null_self", "eos", "GST_STATE_CHANGE_SUCCESS"),
        ("ready_self", "eos", "GST_STATE_CHANGE_SUCCESS"),
        ("chain_other", "eos", "GST_FLOW_OK"),
        ("null_other", "eos", "GST_STATE_CHANGE_SUCCESS"),
    ];
    for (action, place, result) in cases {
        let out = hook_calls_gstreamer(action, &[("HOOK_WHERE", place)]);
        let hook = if place == "eos" {
            "on_eos"
        } else {
            "process_frame"
        };
        assert!(
            out.contains(&format!("[hook] {hook} returned")) && out.contains(result),
            "{action} from {hook}: {out}"
        );
    }
}

#[test]
fn hooks_on_workers_drawfuncs_and_queue_threads_may_call_gstreamer() {
    let variants: [&[(&str, &str)]; 3] = [
        &[
            ("A_CLASS", "Slow"),
            ("A_PROPS", "workers=2"),
            ("HOOK_AT", "12"),
        ],
        &[("A_ELEMENT", "savantdrawfunc")],
        &[("A_BEFORE", "savantqueue !")],
    ];
    for env in variants {
        for action in ["null_self", "null_other", "chain_other", "play_other"] {
            let out = hook_calls_gstreamer(action, env);
            assert!(out.contains("[hook] process_frame returned"), "{out}");
        }
    }
}
