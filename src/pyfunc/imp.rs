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

use crate::frame::layout::FRAME_FORMATS;
use crate::frame::{Frame, FrameChanges};
use crate::python::loader::{Hooks, StageError};
use crate::python::thread_state;
use crate::stage::frame_checks::{self, CallReport};
use crate::stage::handoff::Handoff;
use crate::stage::log_bridge;
use crate::stage::runtime::{OnError, RunSettings, StageRuntime};
use crate::stage::settings::{Blurbs, CodeSettings};
use crate::stage::stats::StageStats;

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

/// Which instance of the user's class the workers call. One per worker is the
/// default, as inference servers keep one model instance per worker: detector and
/// tracker objects (OpenCV's among them) are rarely thread-safe, and a shared one
/// silently gives wrong results.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantInstances")]
pub enum Instances {
    #[default]
    #[enum_value(
        name = "One instance per worker, each built with the same kwargs",
        nick = "per-worker"
    )]
    PerWorker,
    #[enum_value(
        name = "One instance for all workers, called from several threads at once: it must be thread-safe",
        nick = "shared"
    )]
    Shared,
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
            instances: Instances::default(),
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

pub struct PyFunc {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    runtime: StageRuntime,
    /// workers > 1: the pool.
    pool: Mutex<Option<Arc<WorkerPool>>>,
    /// Whether workers pay for this stage (python/handoff.rs); when they do not
    /// (short or GIL-bound calls), frames run inline on the streaming thread.
    handoff: Handoff,
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
            if !self.handoff.is_inline() {
                return pool.submit(buffer);
            }
        }
        match self.process(buffer, 0) {
            Outcome::Push(buffer) => self.srcpad.push(buffer),
            Outcome::Dropped => Ok(gst::FlowSuccess::Ok),
            Outcome::Failed => Err(gst::FlowError::Error),
        }
    }

    /// Once per window of frames: pool or inline (see python/handoff.rs). Going
    /// inline waits until the pool has pushed everything, so order is kept.
    fn update_worker_mode(&self, pool: &WorkerPool) -> Result<(), gst::FlowError> {
        if !self.handoff.due() {
            return Ok(());
        }
        match self.handoff.decide(&self.runtime.stats) {
            Some(true) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "calls are short or hold the GIL: running them inline"
                );
                pool.drain()?;
                self.handoff.commit(true);
            }
            Some(false) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "calls release the GIL: back to the workers"
                );
                self.handoff.commit(false);
            }
            None => {}
        }
        Ok(())
    }

    fn pool(&self) -> Option<Arc<WorkerPool>> {
        self.pool.lock().unwrap().clone()
    }

    /// Calls the user's code for one frame (with worker `worker`'s instance; 0 on
    /// the streaming thread) and applies the on-error policy; errors are posted
    /// before returning Failed.
    pub(super) fn process(&self, mut buffer: gst::Buffer, worker: usize) -> Outcome {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        self.runtime.maybe_reload(element);
        let snapshot = match self.runtime.frame_context(element) {
            Ok(snapshot) => snapshot,
            Err(gst::FlowError::Flushing) => return Outcome::Dropped,
            Err(_) => return Outcome::Failed,
        };
        // Borrowed from the frame context, which holds the instances until the call
        // is over (a reload retires them only after that).
        let hooks: &Hooks = snapshot
            .instance(worker)
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
        let _logging = log_bridge::enter(element, *CAT);
        let (((verdict, report), python_ns), gil_wait_ns) = thread_state::attach(move |py| {
            let started = Instant::now();
            calls.enter();
            // Built in place, under the GIL: the frame is moved once, into Python.
            let outcome = match Frame::new(frame_of, layout, writable, check_readonly) {
                Ok(frame) => call_process(py, hooks, frame, element, stats),
                Err(e) => (Verdict::Invalid(e), CallReport::default()),
            };
            calls.leave();
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

    /// READY -> PAUSED: the user's code (an instance per worker, or one), then the
    /// workers.
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        let mut run = self.run_settings();
        let workers = {
            let settings = self.settings.lock().unwrap();
            self.writable.store(settings.writable, Relaxed);
            settings.code.configure_checks(&self.runtime.stats);
            if settings.instances == Instances::PerWorker {
                run.instances = settings.workers as usize;
            }
            settings.workers as usize
        };
        self.runtime.start(element, run)?;
        self.handoff.reset();
        if workers > 1 {
            let pool = Arc::new(WorkerPool::start(&self.obj(), workers));
            *self.pool.lock().unwrap() = Some(pool);
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
        let pool = self.pool.lock().unwrap().take();
        if let Some(pool) = pool {
            pool.shutdown();
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
    let frame = match Bound::new(py, frame.made_by(hooks.stage_name.clone_ref(py))) {
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
            let keep = crate::frame::values::verdict(&result);
            if keep == Some(true) {
                match frame.get().changes(py) {
                    Ok(changes) => Verdict::Pass(changes),
                    Err(e) => Verdict::Failed(StageError::python(
                        py,
                        format!("module {}: frame changes", hooks.module_name),
                        &e,
                    )),
                }
            } else if keep == Some(false) {
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
            .query_function(|pad, parent, query| {
                PyFunc::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.runtime.pad_query(pad, parent, query),
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
            .query_function(|pad, parent, query| {
                PyFunc::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.runtime.pad_query(pad, parent, query),
                )
            })
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
            runtime: StageRuntime::new(
                *CAT,
                "savantpyfunc-stats",
                StageStats::default(),
                FRAME_FORMATS,
            ),
            pool: Mutex::new(None),
            handoff: Handoff::default(),
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
                formats: "Comma-separated pixel formats the stage takes, e.g. BGR or RGBA,I420 (a subset of the sink template). Unset: the class's `formats` attribute, else every format a frame maps to arrays",
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
                glib::ParamSpecEnum::builder_with_default("instances", Instances::default())
                    .nick("Instances")
                    .blurb("With workers > 1: per-worker (one instance of class-name per worker, same kwargs; every lifecycle hook reaches each) or shared (one instance called from several threads at once: it must be thread-safe)")
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
                    stats.set("workers-inline", self.handoff.is_inline());
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
        self.runtime.attach_to(obj.upcast_ref());
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
            crate::sink_and_src_templates(&StageRuntime::template_caps(FRAME_FORMATS))
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
