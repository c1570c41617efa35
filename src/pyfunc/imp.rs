//! `savantpyfunc` implementation.
//!
//! A plain element with a chain function (not a BaseTransform): it owns each buffer,
//! maps it read-only unless `writable`, and only makes the buffer header writable
//! (never the pixels) when Python changed its attributes.
//!
//! With `workers`, frames go to a pool (workers.rs) that keeps their order.
//!
//! Locks: `settings`, `pool` and the runtime's state are never held while taking
//! the GIL or while waiting for the pool (`pool()` hands out a clone of the Arc);
//! `settings` may be taken before `pool` (the stats property), never the other way.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex};

use quanta::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyBool;

use crate::frame::{Frame, FrameChanges};
use crate::python::frame_checks::{self, CallReport};
use crate::python::handoff;
use crate::python::runtime::{OnError, RunSettings, StageRuntime};
use crate::python::settings::{Blurbs, CodeSettings};
use crate::python::stage::{Hooks, StageError};
use crate::python::stats::{Snapshot, StageStats};
use crate::python::thread_state;

use super::workers::{Outcome, WorkerPool};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantpyfunc",
        gst::DebugColorFlags::empty(),
        Some("Savant Python function stage"),
    )
});

const DEFAULT_FUNCTION: &str = "process_frame";
const DEFAULT_WRITABLE: bool = false;
const DEFAULT_WORKERS: u32 = 1;
const MAX_WORKERS: u32 = 64;

/// Which instance of the user's class the workers call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantInstances")]
pub enum Instances {
    #[default]
    #[enum_value(
        name = "One instance for all workers (its GIL-releasing calls overlap)",
        nick = "shared"
    )]
    Shared,
    #[enum_value(
        name = "One instance per worker, each built with the same kwargs",
        nick = "per-worker"
    )]
    PerWorker,
}

#[derive(Debug, Clone)]
struct Settings {
    code: CodeSettings,
    writable: bool,
    workers: u32,
    instances: Instances,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            code: CodeSettings::new(DEFAULT_FUNCTION),
            writable: DEFAULT_WRITABLE,
            workers: DEFAULT_WORKERS,
            instances: Instances::Shared,
        }
    }
}

/// What became of one frame.
enum Verdict {
    /// Pass it on, with what Python changed on it.
    Pass(FrameChanges),
    Drop,
    Failed(StageError),
    /// The buffer does not fit its caps: a stream error whatever on-error says.
    Invalid(String),
}

/// The worker pool and the per-worker instances beyond the first.
type Workers = (Arc<WorkerPool>, Vec<Arc<Hooks>>);

pub struct PyFunc {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    pub(super) runtime: StageRuntime,
    /// workers > 1: the pool, and the extra per-worker instances to stop.
    pool: Mutex<Option<Workers>>,
    /// Workers do not pay for this stage (short or GIL-bound calls): frames are
    /// processed on the streaming thread, as with workers=1.
    inline: AtomicBool,
    /// The stage's counters at the start of the current decision window.
    window_start: Mutex<Option<Snapshot>>,
    /// Per-run copies of settings read on every buffer (no settings lock there).
    writable: AtomicBool,
    pooled: AtomicBool,
}

impl PyFunc {
    // The per-buffer path: snapshot state, map, one GIL acquisition, push. With
    // workers, the frame goes to the pool instead.
    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if let Some(pool) = self.pool() {
            self.update_worker_mode(&pool)?;
            if !self.inline.load(Relaxed) {
                return pool.submit(buffer);
            }
        }
        match self.process(buffer, None) {
            Outcome::Push(buffer) => self.srcpad.push(buffer),
            Outcome::Dropped => Ok(gst::FlowSuccess::Ok),
            Outcome::Failed => Err(gst::FlowError::Error),
        }
    }

    /// Once per window of frames: pool or inline (see python/handoff.rs). Going
    /// inline waits until the pool has pushed everything, so order is kept.
    fn update_worker_mode(&self, pool: &WorkerPool) -> Result<(), gst::FlowError> {
        let stats = &self.runtime.stats;
        if !stats.frames.load(Relaxed).is_multiple_of(8) {
            return Ok(());
        }
        let now = stats.snapshot();
        let mut start = self.window_start.lock().unwrap();
        let Some(window_start) = *start else {
            *start = Some(now);
            return Ok(());
        };
        let window = now - window_start;
        if window.frames < handoff::WINDOW_FRAMES {
            return Ok(());
        }
        *start = Some(now);
        drop(start);
        match handoff::next_mode(self.inline.load(Relaxed), &window) {
            Some(true) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "calls are short or hold the GIL: running them inline"
                );
                pool.drain()?;
                self.inline.store(true, Relaxed);
            }
            Some(false) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "calls release the GIL: back to the workers"
                );
                self.inline.store(false, Relaxed);
            }
            None => {}
        }
        Ok(())
    }

    fn pool(&self) -> Option<Arc<WorkerPool>> {
        self.pool
            .lock()
            .unwrap()
            .as_ref()
            .map(|(pool, _)| pool.clone())
    }

    /// Calls the user's code for one frame (with `hooks`, or the running instance)
    /// and applies the on-error policy; errors are posted before returning Failed.
    pub(super) fn process(&self, mut buffer: gst::Buffer, hooks: Option<Arc<Hooks>>) -> Outcome {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        self.runtime.maybe_reload(element);
        let snapshot = match self.runtime.snapshot(element) {
            Ok(snapshot) => snapshot,
            Err(gst::FlowError::Flushing) => return Outcome::Dropped,
            Err(_) => return Outcome::Failed,
        };
        let hooks = hooks
            .or(snapshot.hooks)
            .expect("savantpyfunc always has user code");
        let writable = self.writable.load(Relaxed);
        if writable {
            // Copies only when the buffer is shared (after a tee, or kept by Python).
            buffer.make_mut();
        }
        gst::log!(
            CAT,
            imp = self,
            "calling {} for {:?}",
            hooks.process_name,
            buffer.pts()
        );
        let stats = &self.runtime.stats;
        let calls = &stats.calls;
        // By reference: the closure below stays a few pointers, moved in registers.
        let layout = &snapshot.caps.layout;
        let frame_of = &buffer;
        let check_readonly = !writable && frame_checks::picks_readonly_check(stats);
        let (((verdict, report), python_ns), gil_wait_ns) = thread_state::attach(move |py| {
            let started = Instant::now();
            calls.enter();
            // Built in place, under the GIL: the frame is moved once, into Python.
            let outcome = match Frame::new(frame_of, layout, writable, check_readonly) {
                Ok(frame) => call_process(py, &hooks, frame, element, stats),
                Err(e) => (Verdict::Invalid(e), CallReport::default()),
            };
            calls.leave();
            drop(hooks);
            (outcome, started.elapsed().as_nanos() as u64)
        });
        stats.record_call(python_ns, gil_wait_ns);
        report.post_warnings(element);
        self.runtime
            .maybe_post_periodic_stats(element, snapshot.stats_interval_ms);

        match verdict {
            Verdict::Pass(changes) => {
                changes.apply(&mut buffer);
                Outcome::Push(buffer)
            }
            Verdict::Invalid(e) => {
                gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
                Outcome::Failed
            }
            Verdict::Drop => {
                gst::log!(
                    CAT,
                    imp = self,
                    "dropping {:?} as Python asked",
                    buffer.pts()
                );
                stats.dropped.fetch_add(1, Relaxed);
                Outcome::Dropped
            }
            Verdict::Failed(error) => {
                match self
                    .runtime
                    .on_hook_error(element, &error, snapshot.on_error)
                {
                    OnError::Fail => Outcome::Failed,
                    OnError::Skip => Outcome::Push(buffer),
                    OnError::Drop => {
                        stats.dropped.fetch_add(1, Relaxed);
                        Outcome::Dropped
                    }
                }
            }
        }
    }

    pub(super) fn push(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.srcpad.push(buffer)
    }

    // With workers, serialized events wait for the frames before them; flushes
    // discard what is in flight.
    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let element = self.obj();
        let Some(pool) = self.pool() else {
            return self.runtime.sink_event(element.upcast_ref(), pad, event);
        };
        match event.type_() {
            gst::EventType::FlushStart => {
                pool.start_flushing();
                self.runtime.sink_event(element.upcast_ref(), pad, event)
            }
            gst::EventType::FlushStop => {
                pool.stop_flushing();
                self.runtime.sink_event(element.upcast_ref(), pad, event)
            }
            _ => {
                if event.is_serialized() {
                    // Its flow is returned by the next chain call.
                    let _ = pool.drain();
                }
                self.runtime.sink_event(element.upcast_ref(), pad, event)
            }
        }
    }

    /// READY -> PAUSED: the user's code, then the workers (and their instances).
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        let run = self.run_settings();
        let config = run.code.clone().expect("savantpyfunc always has user code");
        let (workers, instances) = {
            let settings = self.settings.lock().unwrap();
            self.writable.store(settings.writable, Relaxed);
            settings.code.configure_checks(&self.runtime.stats);
            (settings.workers as usize, settings.instances)
        };
        self.runtime.start(element, run)?;
        if workers > 1 {
            let first = self.runtime.hooks().expect("started with user code");
            let mut extra = Vec::new();
            if instances == Instances::PerWorker {
                for _ in 1..workers {
                    match self.runtime.load_instance(element, &config, Some(&first)) {
                        Ok(hooks) => extra.push(Arc::new(hooks)),
                        Err(error) => {
                            for hooks in extra {
                                self.runtime.stop_instance(element, hooks);
                            }
                            self.runtime.stop(element);
                            return Err(error.into_error_message());
                        }
                    }
                }
            }
            // Shared: workers call the running instance (which dev-mode may replace);
            // per-worker: each its own.
            let all: Vec<Option<Arc<Hooks>>> = (0..workers)
                .map(|i| match (instances, i) {
                    (Instances::Shared, _) => None,
                    (Instances::PerWorker, 0) => Some(first.clone()),
                    (Instances::PerWorker, i) => extra.get(i - 1).cloned(),
                })
                .collect();
            let pool = Arc::new(WorkerPool::start(&self.obj(), all));
            self.inline.store(false, Relaxed);
            *self.window_start.lock().unwrap() = None;
            *self.pool.lock().unwrap() = Some((pool, extra));
            self.pooled.store(true, Relaxed);
        }
        Ok(())
    }

    /// PAUSED -> READY, after the pads were deactivated: workers end after their
    /// current call; then every instance's on_stop.
    fn stop(&self) {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        self.pooled.store(false, Relaxed);
        let workers = self.pool.lock().unwrap().take();
        if let Some((pool, extra)) = workers {
            pool.shutdown();
            for hooks in extra {
                self.runtime.stop_instance(element, hooks);
            }
        }
        self.runtime.stop(element);
    }

    fn run_settings(&self) -> RunSettings {
        self.settings.lock().unwrap().code.run_settings(true)
    }
}

#[inline(always)]
fn call_process(
    py: Python<'_>,
    hooks: &Hooks,
    frame: Frame,
    element: &gst::Element,
    stats: &StageStats,
) -> (Verdict, CallReport) {
    let frame = match Bound::new(py, frame) {
        Ok(frame) => frame,
        Err(e) => {
            let error = StageError::python(py, "creating the frame", &e);
            return (Verdict::Failed(error), CallReport::default());
        }
    };
    let verdict = match hooks.process.bind(py).call1((&frame,)) {
        Err(e) => Verdict::Failed(StageError::python(
            py,
            format!(
                "module {}: {}() raised",
                hooks.module_name, hooks.process_name
            ),
            &e,
        )),
        Ok(result) => {
            if result.is_none() || result.is(PyBool::new(py, true)) {
                match frame.get().changes(py) {
                    Ok(changes) => Verdict::Pass(changes),
                    Err(e) => Verdict::Failed(StageError::python(
                        py,
                        format!("module {}: frame changes", hooks.module_name),
                        &e,
                    )),
                }
            } else if result.is(PyBool::new(py, false)) {
                Verdict::Drop
            } else {
                Verdict::Failed(StageError::plain(format!(
                    "module {}: {}() returned {} (expected True, False or None)",
                    hooks.module_name,
                    hooks.process_name,
                    result
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                )))
            }
        }
    };
    let mut report = frame_checks::after_call(element, stats, hooks, &frame);
    // A write into a shared buffer outweighs what the call returned or raised.
    let verdict = match report.take_wrote() {
        Some(error) => Verdict::Failed(error),
        None => verdict,
    };
    // Unmaps now unless Python kept the frame or a view of it.
    drop(frame);
    (verdict, report)
}

#[glib::object_subclass]
impl ObjectSubclass for PyFunc {
    const NAME: &'static str = "GstSavantPyFunc";
    type Type = super::PyFunc;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").unwrap();
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                PyFunc::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |this| this.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                PyFunc::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_event(pad, event),
                )
            })
            .flags(
                gst::PadFlags::PROXY_CAPS
                    | gst::PadFlags::PROXY_ALLOCATION
                    | gst::PadFlags::PROXY_SCHEDULING,
            )
            .build();
        let templ = klass.pad_template("src").unwrap();
        let srcpad = gst::Pad::builder_from_template(&templ)
            .flags(
                gst::PadFlags::PROXY_CAPS
                    | gst::PadFlags::PROXY_ALLOCATION
                    | gst::PadFlags::PROXY_SCHEDULING,
            )
            .build();
        Self {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            runtime: StageRuntime::new(*CAT, "savantpyfunc-stats", StageStats::default()),
            pool: Mutex::new(None),
            inline: AtomicBool::new(false),
            window_start: Mutex::new(None),
            writable: AtomicBool::new(DEFAULT_WRITABLE),
            pooled: AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for PyFunc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = CodeSettings::properties(DEFAULT_FUNCTION, &Blurbs {
                module: "Python module: a file path (examples/ball.py) or a dotted name on sys.path (pkg.mod)",
                function: "Per-frame callable: a method of class-name, or a module-level function; it gets the frame and returns None/True (pass) or False (drop)",
                on_error: "What an exception in user code does: fail (ERROR, stop), skip (WARNING, pass the buffer), drop (WARNING, drop the buffer)",
                stats: "frames, dropped, errors, python-ns(-max) in Python, gil-wait-ns(-max) waiting for the GIL, wall-ns since the first call, gil-free-samples of gil-samples (GIL released during a call), verdict on queues, readonly-checks (frames checked for writes by a read-only stage), frames-held and bytes-held (kept by Python after the calls returned); with workers max-in-flight, workers-inline",
            });
            properties.extend([
                glib::ParamSpecBoolean::builder("writable")
                    .nick("Writable")
                    .blurb("Map frames read-write so Python may modify pixels in place (copies the buffer when it is shared); false maps read-only and never copies")
                    .default_value(DEFAULT_WRITABLE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("workers")
                    .nick("Workers")
                    .blurb("Frames in the Python call at once, on this many threads; output keeps input order. 1 calls Python on the streaming thread")
                    .minimum(1)
                    .maximum(MAX_WORKERS)
                    .default_value(DEFAULT_WORKERS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("instances", Instances::Shared)
                    .nick("Instances")
                    .blurb("With workers > 1: shared (one instance of class-name for all workers) or per-worker (one each, same kwargs; event hooks go to the first)")
                    .mutable_ready()
                    .build(),
            ]);
            properties
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        if settings.code.set(pspec.name(), value) {
            if pspec.name() == "on-error" {
                self.runtime.set_on_error(settings.code.on_error);
            }
            return;
        }
        match pspec.name() {
            "writable" => settings.writable = value.get().unwrap(),
            "workers" => settings.workers = value.get().unwrap(),
            "instances" => settings.instances = value.get().unwrap(),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        if let Some(value) = settings.code.get(pspec.name()) {
            return value;
        }
        match pspec.name() {
            "writable" => settings.writable.to_value(),
            "workers" => settings.workers.to_value(),
            "instances" => settings.instances.to_value(),
            "stats" => {
                let mut stats = self.runtime.stats_structure();
                if let Some(pool) = self.pool() {
                    stats.set("max-in-flight", pool.max_in_flight() as u64);
                    stats.set("workers-inline", self.inline.load(Relaxed));
                }
                stats.to_value()
            }
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for PyFunc {}

impl ElementImpl for PyFunc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Savant Python function",
                "Filter/Video",
                "Calls a user Python class or function for every video frame, zero copy",
                "gst-savant developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-raw").build();
            crate::sink_and_src_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            if let Err(message) = self.start() {
                self.post_error_message(message);
                return Err(gst::StateChangeError);
            }
        }
        if transition == gst::StateChange::PausedToReady {
            // Unblocks a streaming thread waiting for a free worker.
            if let Some(pool) = self.pool() {
                pool.start_flushing();
            }
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady
            || (transition == gst::StateChange::ReadyToPaused && result.is_err())
        {
            self.stop();
        }
        result
    }
}
