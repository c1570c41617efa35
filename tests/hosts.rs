//! The plugin in every host a user runs it in: gst-launch-1.0 through
//! GST_PLUGIN_PATH, a PyGObject app, a Rust app with static registration — and the
//! embedded interpreter staying the one the plugin was built for whatever PATH says.

mod common;

use common::{output_text, plugin_dir, run_with_timeout, target_dir};

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn gst_launch(args: &str) -> Command {
    let mut command = Command::new("gst-launch-1.0");
    command
        .env("GST_PLUGIN_PATH", plugin_dir())
        .args(args.split_whitespace());
    command
}

#[test]
fn gst_inspect_lists_the_plugin_and_documents_every_property() {
    let output = Command::new("gst-inspect-1.0")
        .env("GST_PLUGIN_PATH", plugin_dir())
        .arg("savantpyfunc")
        .output()
        .unwrap();
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    for property in [
        "module",
        "class-name",
        "function",
        "kwargs",
        "writable",
        "on-error",
        "stats",
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{property} ")))
            .unwrap_or_else(|| panic!("property {property} missing:\n{out}"));
        let blurb = line.split_once(':').map(|(_, b)| b.trim()).unwrap_or("");
        assert!(blurb.len() > 20, "{property} has no real blurb: {line}");
    }
    assert!(out.contains("Default: \"process_frame\""), "{out}");
    assert!(out.contains("Default: 0, \"fail\""), "{out}");
    let plugin = Command::new("gst-inspect-1.0")
        .env("GST_PLUGIN_PATH", plugin_dir())
        .arg("savant")
        .output()
        .unwrap();
    assert!(
        output_text(&plugin).contains("savantpyfunc"),
        "{}",
        output_text(&plugin)
    );
}

#[test]
fn gst_launch_runs_numpy_stages_and_exits_cleanly() {
    let output = run_with_timeout(
        gst_launch(&format!(
            "-q videotestsrc pattern=ball num-buffers=30 ! video/x-raw,format=RGBA,width=320,height=240 \
             ! savantpyfunc module={} class-name=BallFinder ! fakesink",
            example("ball.py")
        )),
        Duration::from_secs(60),
    );
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("ball: found in 30 of 30 frames"), "{out}");
}

#[test]
fn stages_import_the_savant_package_without_pythonpath() {
    let stage = common::module(
        "hosts_savant_package",
        r#"
        import savant
        from savant.deepstream.pyfunc import NvDsPyFuncPlugin


        class Stage(NvDsPyFuncPlugin):
            def on_start(self):
                print('savant package:', savant.__file__, flush=True)
                return True
        "#,
    );
    let mut command = gst_launch(&format!(
        "-q videotestsrc num-buffers=2 ! savantpyfunc module={stage} class-name=Stage ! fakesink"
    ));
    command.env_remove("PYTHONPATH");
    let output = run_with_timeout(command, Duration::from_secs(60));
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/savant/__init__.py");
    assert!(
        out.contains(&format!("savant package: {}", expected.display())),
        "{out}"
    );
}

#[test]
fn embedded_python_ignores_a_foreign_python3_first_on_path() {
    // A fake installation whose stdlib is poisoned: if the embedded interpreter took
    // its home from the python3 on PATH, importing `os` would fail.
    let fake = std::env::temp_dir().join(format!("savant-fake-python-{}", std::process::id()));
    let stdlib = fake.join("lib").join(format!("python{}", python_version()));
    std::fs::create_dir_all(fake.join("bin")).unwrap();
    std::fs::create_dir_all(&stdlib).unwrap();
    std::fs::write(
        stdlib.join("os.py"),
        "raise ImportError('foreign stdlib loaded')\n",
    )
    .unwrap();
    let python = fake.join("bin/python3");
    std::fs::write(&python, "#!/bin/sh\nexit 1\n").unwrap();
    std::os::unix::fs::symlink("python3", fake.join("bin/python")).ok();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();

    let path = common::module(
        "report_prefix",
        "import sys, os\ndef process_frame(frame):\n    print('prefix', sys.prefix, 'os', os.__file__, flush=True)\n",
    );
    let mut command = gst_launch(&format!(
        "-q videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8 ! savantpyfunc module={path} ! fakesink"
    ));
    let path_var = format!(
        "{}:{}",
        fake.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    command.env("PATH", path_var).env_remove("PYTHONHOME");
    let output = run_with_timeout(command, Duration::from_secs(60));
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(!out.contains("foreign stdlib"), "{out}");
    assert!(
        out.contains(&format!(
            "prefix {}",
            gstsavant::python::interpreter::BUILD_HOME
        )),
        "{out}"
    );
}

fn python_version() -> String {
    let out = Command::new(gstsavant::python::interpreter::BUILD_EXECUTABLE)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn pythonpath_and_virtualenv_site_packages_are_importable() {
    let base = std::env::temp_dir().join(format!("savant-paths-{}", std::process::id()));
    let on_pythonpath = base.join("pp");
    let venv_site = base
        .join("venv/lib")
        .join(format!("python{}", python_version()))
        .join("site-packages");
    std::fs::create_dir_all(&on_pythonpath).unwrap();
    std::fs::create_dir_all(&venv_site).unwrap();
    std::fs::write(on_pythonpath.join("pp_stage.py"), "import venv_helper\ndef process_frame(frame):\n    print('pp_stage', venv_helper.WHERE, flush=True)\n").unwrap();
    std::fs::write(venv_site.join("venv_helper.py"), "WHERE = 'from-venv'\n").unwrap();

    let mut command = gst_launch(
        "-q videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8 ! savantpyfunc module=pp_stage ! fakesink",
    );
    command
        .env("PYTHONPATH", &on_pythonpath)
        .env("VIRTUAL_ENV", base.join("venv"));
    let output = run_with_timeout(command, Duration::from_secs(60));
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("pp_stage from-venv"), "{out}");
}

#[test]
fn a_virtualenv_of_another_python_version_is_an_error_naming_both() {
    let base = std::env::temp_dir().join(format!("savant-venv-other-{}", std::process::id()));
    std::fs::create_dir_all(base.join("venv/lib/python3.99/site-packages")).unwrap();
    let mut command = gst_launch(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8 ! savantpyfunc module={} ! fakesink",
        common::module("venv_other_stage", "def process_frame(frame):\n    pass\n")
    ));
    command.env("VIRTUAL_ENV", base.join("venv"));
    let output = run_with_timeout(command, Duration::from_secs(60));
    let out = output_text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "has no lib/python{}/site-packages",
            python_version()
        )) && out.contains("python3.99")
            && out.contains(&format!("embeds Python {}", python_version())),
        "{out}"
    );
}

#[test]
fn savantpython_debug_says_which_python_runs() {
    let mut command = gst_launch(&format!(
        "-q videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8 ! savantpyfunc module={} ! fakesink",
        common::module("which_python_stage", "def process_frame(frame):\n    pass\n")
    ));
    command.env("GST_DEBUG", "savantpython:4");
    let output = run_with_timeout(command, Duration::from_secs(60));
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains(&format!("built against {}", python_version()))
            && out.contains(gstsavant::python::interpreter::BUILD_EXECUTABLE),
        "{out}"
    );
}

#[test]
fn gst_launch_reports_python_errors_and_fails() {
    let path = common::module(
        "launch_raises",
        "def process_frame(frame):\n    raise ValueError('bad frame')\n",
    );
    let output = run_with_timeout(
        gst_launch(&format!(
            "videotestsrc num-buffers=3 ! video/x-raw,format=GRAY8 ! savantpyfunc module={path} ! fakesink"
        )),
        Duration::from_secs(60),
    );
    let out = output_text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains("process_frame() raised ValueError: bad frame"),
        "{out}"
    );
    assert!(out.contains("launch_raises.py\", line 2"), "{out}");
}

#[test]
fn sigint_with_eos_on_shutdown_exits_cleanly() {
    let path = common::module("slow_live", "def process_frame(frame):\n    pass\n");
    let mut command = gst_launch(&format!(
        "-e videotestsrc is-live=true ! video/x-raw,format=GRAY8,framerate=30/1 ! savantpyfunc module={path} ! fakesink"
    ));
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut child = child;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "gst-launch did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "{status:?} {}", output_text(&out));
    assert!(output_text(&out).contains("EOS"), "{}", output_text(&out));
}

fn pygobject_app(wait: &str) -> Output {
    let mut command = Command::new(gstsavant::python::interpreter::BUILD_EXECUTABLE);
    command.env("GST_PLUGIN_PATH", plugin_dir()).args([
        &example("pygobject_app.py"),
        "--wait",
        wait,
        "--frames",
        "40",
    ]);
    run_with_timeout(command, Duration::from_secs(60))
}

#[test]
fn pygobject_app_waiting_in_a_glib_main_loop() {
    let output = pygobject_app("mainloop");
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("ball: found in 40 of 40 frames"), "{out}");
    assert!(out.contains("stats: frames=40 errors=0"), "{out}");
}

#[test]
fn pygobject_app_waiting_in_timed_pop_filtered() {
    let output = pygobject_app("poll");
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("stats: frames=40 errors=0"), "{out}");
}

#[test]
fn rust_app_with_static_registration() {
    let binary = target_dir().join("examples/rust_app");
    assert!(
        binary.exists(),
        "{} missing: run `cargo build --all-targets` before the tests",
        binary.display()
    );
    let mut command = Command::new(binary);
    command.arg("25");
    let output = run_with_timeout(command, Duration::from_secs(60));
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("stats: frames=25 errors=0"), "{out}");
}
