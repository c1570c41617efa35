//! Stage code outside a pipeline: `import savant_gst` in a plain Python process
//! (python/savant_gst loads the built plugin), frames from numpy arrays for unit
//! tests, and frames over a PyGObject app's buffers.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gstsavant::python::interpreter::BUILD_EXECUTABLE;

/// target/<profile>, where cargo put the libgstsavant.so these tests load.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn library() -> PathBuf {
    let library = target_dir().join("libgstsavant.so");
    assert!(
        library.exists(),
        "{} missing: run `cargo build` before the tests",
        library.display()
    );
    library
}

fn checkout(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .to_string_lossy()
        .into_owned()
}

/// The interpreter the plugin was built for, with the documented PYTHONPATH.
fn python(args: &[&str]) -> Command {
    let mut command = Command::new(BUILD_EXECUTABLE);
    command
        .env("PYTHONPATH", checkout("python"))
        .env("SAVANT_GST_LIBRARY", library())
        .env_remove("PYTHONHOME")
        .args(args);
    command
}

/// Runs to completion, or fails after `timeout`; a signal is a failure like any
/// other non-zero exit.
fn run(command: Command, timeout: Duration) -> (bool, String) {
    let output = common::run_with_timeout(command, timeout);
    let text = format!(
        "{:?}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn a_stage_is_unit_tested_in_plain_python_with_frames_from_arrays() {
    let (ok, out) = run(
        python(&[&checkout("tests/scripts/unit_test_stage.py")]),
        Duration::from_secs(60),
    );
    assert!(ok, "{out}");
    assert!(out.contains("6 passed"), "{out}");
    assert!(out.contains(&library().display().to_string()), "{out}");
}

#[test]
fn the_package_finds_the_plugin_built_in_its_checkout() {
    let mut command = python(&["-c", "import savant_gst; print(savant_gst.__file__)"]);
    command.env_remove("SAVANT_GST_LIBRARY");
    let (ok, out) = run(command, Duration::from_secs(60));
    // cargo's target folder: the checkout's, or CARGO_TARGET_DIR (the package
    // reads it as cargo does).
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| checkout("target").into());
    if target_dir().starts_with(&target) {
        assert!(ok, "{out}");
        // release or debug, whichever was built last.
        assert!(out.contains(&*target.to_string_lossy()), "{out}");
        assert!(out.contains("libgstsavant.so"), "{out}");
    } else {
        // Built somewhere the package cannot know: it says how to set it.
        assert!(!ok && out.contains("SAVANT_GST_LIBRARY"), "{out}");
    }
}

#[test]
fn a_wrong_library_path_is_an_import_error_naming_it() {
    let mut command = python(&["-c", "import savant_gst"]);
    command.env("SAVANT_GST_LIBRARY", "/nonexistent/libgstsavant.so");
    let (ok, out) = run(command, Duration::from_secs(60));
    assert!(!ok, "{out}");
    assert!(
        out.contains("ImportError: SAVANT_GST_LIBRARY=/nonexistent/libgstsavant.so"),
        "{out}"
    );
}

#[test]
fn a_pygobject_app_reads_a_stages_objects_with_from_buffer() {
    let mut command = python(&[
        &checkout("tests/scripts/appsink_from_buffer.py"),
        &checkout("tests/scripts/bright_spot_stage.py"),
        "30",
    ]);
    command.env("GST_PLUGIN_PATH", target_dir());
    let (ok, out) = run(command, Duration::from_secs(60));
    assert!(ok, "{out}");
    assert!(
        out.contains("read 30 samples and 30 probed buffers"),
        "{out}"
    );
    assert_eq!(out.matches("refused:").count(), 3, "{out}");
}

#[test]
fn the_readme_testing_example_runs() {
    let readme = std::fs::read_to_string(checkout("README.md")).unwrap();
    let start = readme.find("# test_ball.py").expect("the README's example");
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = std::env::temp_dir().join(format!("gstsavant-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("test_ball.py"), example).unwrap();
    // Run as pytest would, from the checkout (the example adds examples/ to the path).
    let mut command = python(&[
        "-c",
        "import sys; sys.path.insert(0, sys.argv[1]); import test_ball; \
         test_ball.test_finds_the_ball(); print('example passed')",
        &dir.to_string_lossy(),
    ]);
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    let (ok, out) = run(command, Duration::from_secs(60));
    std::fs::remove_dir_all(&dir).ok();
    assert!(ok && out.contains("example passed"), "{out}");
}
