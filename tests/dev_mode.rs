//! dev-mode: edits on disk during a running pipeline — good, broken, fixed — and
//! which code processed which frames.

mod common;

use std::time::{Duration, SystemTime};

use common::{attributes, init};
use gst::prelude::*;

/// Writes `source` to `path` with a modification time that surely differs from the
/// last one (file systems with coarse timestamps would hide quick edits).
fn edit(path: &std::path::Path, source: &str, generation: u64) {
    std::fs::write(path, source).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(10 * generation))
        .unwrap();
}

struct Stage {
    harness: gst_check::Harness,
    bus: gst::Bus,
}

impl Stage {
    /// A `factory` element with dev-mode on (unless `props` say otherwise) and
    /// `props`, in a harness.
    fn new(factory: &str, props: &[(&str, &str)]) -> Self {
        init();
        let element = gst::ElementFactory::make(factory)
            .property("dev-mode", true)
            .build()
            .unwrap();
        for (name, value) in props {
            element.set_property_from_str(name, value);
        }
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        let mut harness = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
        harness.set_src_caps_str("video/x-raw,format=RGBA,width=4,height=4,framerate=25/1");
        Self { harness, bus }
    }

    /// The `version` attribute the current code put on a frame.
    fn version(&mut self) -> i64 {
        let out = self
            .harness
            .push_and_pull(gst::Buffer::from_mut_slice(vec![0u8; 64]))
            .unwrap();
        attributes(&out).unwrap().get::<i64>("version").unwrap()
    }

    fn warnings(&self) -> Vec<String> {
        std::iter::from_fn(|| self.bus.pop_filtered(&[gst::MessageType::Warning]))
            .map(|m| match m.view() {
                gst::MessageView::Warning(w) => format!("{} {:?}", w.error(), w.debug()),
                _ => unreachable!(),
            })
            .collect()
    }
}

fn stage_source(version: i64) -> String {
    format!(
        "import dev_helper\nclass Stage:\n    def process_frame(self, frame):\n        frame.attributes['version'] = {version} + dev_helper.OFFSET\n"
    )
}

#[test]
fn edits_are_picked_up_broken_edits_keep_the_last_good_code() {
    let dir = common::module_dir().join("dev_mode");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dev_stage.py");
    let helper = dir.join("dev_helper.py");
    edit(&helper, "OFFSET = 0\n", 0);
    edit(&path, &stage_source(1), 0);
    let module = path.to_string_lossy().into_owned();
    let mut stage = Stage::new(
        "savantpyfunc",
        &[("module", &module), ("class-name", "Stage")],
    );
    assert_eq!(stage.version(), 1);
    assert_eq!(stage.version(), 1);

    edit(&path, &stage_source(2), 1);
    assert_eq!(
        stage.version(),
        2,
        "a good edit is used from the next frame"
    );

    edit(
        &path,
        "class Stage:\n    def process_frame(self, frame)\n",
        2,
    );
    assert_eq!(stage.version(), 2, "a broken edit keeps the last good code");
    let warnings = stage.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("reloading failed") && warnings[0].contains("SyntaxError"),
        "{warnings:?}"
    );
    assert_eq!(stage.version(), 2, "and does not retry until the next save");

    edit(&path, &stage_source(3), 3);
    assert_eq!(stage.version(), 3, "the fix is picked up");

    // A sibling module it imported is watched too.
    edit(&helper, "OFFSET = 100\n", 4);
    assert_eq!(stage.version(), 103);
    assert!(stage.warnings().is_empty());
}

/// `folder/file`: a hook `def` that puts its version on the frame, written at
/// version 1. Its path (as the `module` property takes it) and its text at a version.
fn versioned_hook(
    folder: &str,
    file: &str,
    def: &'static str,
) -> (std::path::PathBuf, String, impl Fn(i64) -> String) {
    let dir = common::module_dir().join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    let source = move |v: i64| format!("{def}\n    frame.attributes['version'] = {v}\n");
    edit(&path, &source(1), 0);
    let module = path.to_string_lossy().into_owned();
    (path, module, source)
}

#[test]
fn without_dev_mode_edits_are_ignored() {
    let (path, module, source) =
        versioned_hook("no_dev_mode", "fixed_stage.py", "def process_frame(frame):");
    let mut stage = Stage::new(
        "savantpyfunc",
        &[("module", &module), ("dev-mode", "false")],
    );
    assert_eq!(stage.version(), 1);
    edit(&path, &source(2), 1);
    assert_eq!(stage.version(), 1);
}

#[test]
fn draw_hooks_reload_too() {
    let (path, module, source) =
        versioned_hook("dev_draw", "dev_draw_hook.py", "def draw(frame, artist):");
    let mut stage = Stage::new("savantdrawfunc", &[("module", &module)]);
    assert_eq!(stage.version(), 1);
    edit(&path, &source(2), 1);
    assert_eq!(stage.version(), 2);
}

/// dev-mode with `workers=4` and one instance per worker (the default): one edit,
/// one reload, every worker on the new code, and no old instance called after its
/// on_stop.
#[test]
fn edits_reach_every_worker_once_and_old_instances_end_after_their_last_call() {
    let dir = common::module_dir().join("dev_workers");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dev_workers_stage.py");
    let source = |v: i64| {
        format!(
            r#"import sys, time, types
log = sys.modules.setdefault("dev_workers_log", types.ModuleType("dev_workers_log"))
if not hasattr(log, "events"):
    log.events = []
VERSION = {v}
class Stage:
    def __init__(self):
        self.stopped = False
        log.events.append(("init", VERSION))
    def on_stop(self):
        self.stopped = True
        log.events.append(("stop", VERSION))
    def process_frame(self, frame):
        if self.stopped:
            log.events.append(("called-after-stop", VERSION))
        time.sleep(0.002)
        frame.attributes["version"] = VERSION
"#
        )
    };
    edit(&path, &source(1), 0);
    let module = path.to_string_lossy().into_owned();
    let mut stage = Stage::new(
        "savantpyfunc",
        &[
            ("module", &module),
            ("class-name", "Stage"),
            ("workers", "4"),
        ],
    );
    let versions = |harness: &mut gst_check::Harness, n: usize| -> Vec<i64> {
        for _ in 0..n {
            harness
                .push(gst::Buffer::from_mut_slice(vec![0u8; 64]))
                .unwrap();
        }
        (0..n)
            .map(|_| {
                let out = harness.pull().unwrap();
                attributes(&out).unwrap().get::<i64>("version").unwrap()
            })
            .collect()
    };
    assert!(versions(&mut stage.harness, 20).iter().all(|&v| v == 1));
    edit(&path, &source(2), 1);
    let after = versions(&mut stage.harness, 40);
    assert!(
        after[20..].iter().all(|&v| v == 2),
        "every worker runs the edit: {after:?}"
    );
    let events: Vec<(String, i64)> = common::py_eval("list(__import__('dev_workers_log').events)");
    let count = |kind: &str, version: i64| {
        events
            .iter()
            .filter(|(k, v)| k == kind && *v == version)
            .count()
    };
    assert_eq!(count("init", 1), 4, "{events:?}");
    assert_eq!(
        count("init", 2),
        4,
        "one reload, 4 new instances: {events:?}"
    );
    assert_eq!(count("stop", 1), 4, "{events:?}");
    assert_eq!(count("called-after-stop", 1), 0, "{events:?}");
    assert!(stage.warnings().is_empty());
}

/// A dotted module (`pkg.stage` on sys.path) reloads like a file does.
#[test]
fn dotted_modules_reload_too() {
    let root = common::module_dir().join("dev_dotted");
    let package = root.join("devdotpkg");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(package.join("__init__.py"), "").unwrap();
    let path = package.join("stage.py");
    let source =
        |v: i64| format!("def process_frame(frame):\n    frame.attributes['version'] = {v}\n");
    edit(&path, &source(1), 0);
    // Start the interpreter, then put the package's root on sys.path.
    let mut boot = Stage::new(
        "savantpyfunc",
        &[(
            "module",
            &common::module("dev_dotted_boot", "def process_frame(f):\n    pass\n"),
        )],
    );
    boot.harness
        .push_and_pull(gst::Buffer::from_mut_slice(vec![0u8; 64]))
        .unwrap();
    let inserted: bool = common::py_eval(&format!(
        "__import__('sys').path.insert(0, {:?}) is None",
        root.display().to_string()
    ));
    assert!(inserted);
    let mut stage = Stage::new("savantpyfunc", &[("module", "devdotpkg.stage")]);
    assert_eq!(stage.version(), 1);
    edit(&path, &source(2), 1);
    assert_eq!(stage.version(), 2, "the edit of a dotted module is applied");
    assert!(stage.warnings().is_empty());
}

#[test]
fn reloaded_instances_are_told_of_the_sources_already_streaming() {
    let dir = common::module_dir().join("dev_mode_sources");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dev_sources.py");
    let source = |version: i64| {
        format!(
            "class Stage:\n    def __init__(self):\n        self.sources = set()\n    \
             def on_source_add(self, source_id):\n        self.sources.add(source_id)\n    \
             def process_frame(self, frame):\n        frame.attributes['version'] = {version}\n        \
             frame.attributes['known'] = frame.source_id in self.sources\n"
        )
    };
    edit(&path, &source(1), 0);
    let module = path.to_string_lossy().into_owned();
    let mut stage = Stage::new(
        "savantpyfunc",
        &[("module", &module), ("class-name", "Stage")],
    );
    // A frame of source "cam", as a savantmux marks it.
    let mut frame = || {
        let mut buffer = gst::Buffer::from_mut_slice(vec![0u8; 64]);
        gstsavant::frame::source::mark(buffer.get_mut().unwrap(), "cam", None, None);
        let out = stage.harness.push_and_pull(buffer).unwrap();
        let attributes = attributes(&out).unwrap();
        (
            attributes.get::<i64>("version").unwrap(),
            attributes.get::<bool>("known").unwrap(),
        )
    };
    assert_eq!(frame(), (1, true));
    edit(&path, &source(2), 1);
    assert_eq!(frame(), (2, true), "the new instance was not told of 'cam'");
}
