//! What every Python stage element shares (savantpyfunc, savantdrawfunc): the
//! stage's running state, loading and starting the user's code (one instance, or
//! one per worker), the per-frame context, statistics messages, stopping. The rest
//! of `StageRuntime` lives by concern beside it: `caps.rs` (formats and caps
//! queries), `events.rs` (sink events and their hooks), `sources.rs`
//! (`on_source_add`), `policy.rs` (on-error), `reload.rs` (dev-mode), and the
//! per-frame protocol that uses them all in `call.rs`.
//!
//! Lock order: an element's settings (`set_property`: on-error reaches a running
//! stage), then `reloading`, then `state`. The state mutex is never held while
//! taking the GIL, and `stop` takes the state out of it before taking the GIL: a
//! streaming thread may hold the GIL while it waits for the state. `reloading` is
//! only ever tried (never waited for) on the per-frame path.
//!
//! InstanceSet: every instance gets every lifecycle hook (on_start, on_caps,
//! on_event, on_eos, on_stop). An instance replaced by a reload gets its on_stop
//! only after the last frame that was given it has left Python, so no instance is
//! called after its on_stop.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyBool;

use super::caps::{formats_caps, FrameMemory, Memories};
use super::policy::{OnError, RepeatedWarning};
use super::reload::Watch;
use super::settings::{ElementSettings, OwnProperties};
use super::sources::Told;
use super::stats::StageStats;
use super::{gil_probe, log_bridge};
use crate::frame::layout::FrameLayout;
use crate::frame::objects;
use crate::python::loader::{StageConfig, StageError, UserInstance};
use crate::python::{interpreter, thread_state};

/// Per-run settings the runtime needs from its element's properties.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// None: no user code (savantdrawfunc drawing from its spec alone).
    pub code: Option<StageConfig>,
    pub on_error: OnError,
    pub stats_interval_ms: u32,
    /// Reload the code when its files change (dev-mode).
    pub dev_mode: bool,
    /// InstanceSet of the user's class to build (one per worker, or one).
    pub instances: usize,
    /// The `formats` property: comma-separated format names, or None.
    pub formats: Option<String>,
    /// The memory frames are taken in, for an element that takes CUDA frames.
    pub memory: FrameMemory,
}

/// The user's instances, in worker order; empty without user code.
pub type InstanceSet = Arc<[Arc<UserInstance>]>;

/// What a thread needs for one buffer.
pub struct FrameContext {
    pub instances: InstanceSet,
    /// Which set of instances: a reload's new instances are told of every source
    /// again (see sources.rs).
    pub generation: u64,
    pub caps: Arc<NegotiatedCaps>,
    pub on_error: OnError,
    pub stats_interval_ms: u32,
}

impl FrameContext {
    /// The instance worker `worker` calls (the first for the streaming thread).
    pub fn instance(&self, worker: usize) -> Option<&Arc<UserInstance>> {
        self.instances
            .get(worker)
            .or_else(|| self.instances.first())
    }
}

/// What the current caps mean for frames; shared by reference with each buffer.
pub struct NegotiatedCaps {
    pub layout: FrameLayout,
}

pub(super) struct State {
    pub(super) instances: InstanceSet,
    /// Counts the sets of instances (start, each reload).
    pub(super) generation: u64,
    pub(super) caps: Option<Arc<NegotiatedCaps>>,
    /// The caps event's caps, replayed to instances built by a reload.
    pub(super) last_caps: Option<gst::Caps>,
    pub(super) on_error: OnError,
    pub(super) stats_interval_ms: u32,
    pub(super) last_stats_post: Option<Instant>,
    /// dev-mode: what to reload from, and the files to watch.
    pub(super) dev: Option<(StageConfig, Watch)>,
}

pub struct StageRuntime {
    pub(super) cat: gst::DebugCategory,
    pub(super) stats_name: &'static str,
    pub stats: Arc<StageStats>,
    pub(super) state: Mutex<Option<State>>,
    /// Cheap per-frame check before looking at files.
    pub(super) dev_mode: AtomicBool,
    /// Held by the one thread that reloads; others keep going with the old code.
    pub(super) reloading: Mutex<()>,
    /// The formats the element can take at all, in its order of preference.
    pub(super) supported: &'static [&'static str],
    /// The element takes those formats in CUDA memory as well (savantpyfunc).
    pub(super) cuda: bool,
    /// What caps queries answer: `supported`, narrowed by `formats` (the property,
    /// else the class's attribute) once the stage started.
    pub(super) allowed_caps: Mutex<gst::Caps>,
    /// The WARNINGs posted for failed hooks (the last few distinct ones), and how
    /// often each repeated since (policy.rs).
    pub(super) repeated_warning: Mutex<Vec<RepeatedWarning>>,
    /// The sources the instances were told of (on_source_add). Held across those
    /// calls, so that no frame of a source reaches an instance before them; never
    /// taken with the GIL held.
    pub(super) told: Mutex<Told>,
}

/// The key under which a stage element carries its statistics (see `stage_stats`).
const STAGE_STATS_KEY: &str = "savant-stage-stats";

/// The interface between a Python stage element and an element that hands it
/// frames (savantqueue): the stage's statistics, found on the element itself, so
/// the queue needs to know no element type.
pub fn stage_stats(element: &gst::Element) -> Option<Arc<StageStats>> {
    // SAFETY: only `StageRuntime::attach_to` sets this key, always to an
    // Arc<StageStats>, and never removes it while the element lives.
    unsafe {
        element
            .data::<Arc<StageStats>>(STAGE_STATS_KEY)
            .map(|stats| stats.as_ref().clone())
    }
}

impl StageRuntime {
    pub fn new(
        cat: gst::DebugCategory,
        stats_name: &'static str,
        stats: StageStats,
        supported: &'static [&'static str],
    ) -> Self {
        Self {
            cat,
            stats_name,
            stats: Arc::new(stats),
            state: Mutex::new(None),
            dev_mode: AtomicBool::new(false),
            reloading: Mutex::new(()),
            supported,
            cuda: false,
            allowed_caps: Mutex::new(formats_caps(
                supported,
                Memories {
                    system: true,
                    cuda: false,
                },
            )),
            repeated_warning: Mutex::new(Vec::new()),
            told: Mutex::new(Told::default()),
        }
    }

    /// From `constructed`: adds the element's sink and src pads and makes it a
    /// Python stage for `stage_stats`.
    ///
    /// # Panics
    ///
    /// When a pad cannot be added (a programming error: the pads are new).
    pub fn attach_to(&self, element: &gst::Element, pads: [&gst::Pad; 2]) {
        for pad in pads {
            element.add_pad(pad).expect("a new pad");
        }
        // SAFETY: the key is ours and always holds an Arc<StageStats> (see stage_stats).
        unsafe { element.set_data(STAGE_STATS_KEY, self.stats.clone()) };
        super::registry::register(element);
    }

    /// Loads one instance of the user's code (from `sibling`'s module when given,
    /// else importing it) and runs its on_start.
    pub fn load_instance(
        &self,
        element: &gst::Element,
        config: &StageConfig,
        sibling: Option<&UserInstance>,
    ) -> Result<UserInstance, StageError> {
        let cat = self.cat;
        ensure_python().map_err(|e| StageError::plain(format!("cannot start Python: {e}")))?;
        let _logging = log_bridge::enter(element, cat);
        gst::debug!(cat, obj = element, "loading {config:?}");
        let loaded = with_python(|py| -> Result<UserInstance, StageError> {
            let hooks = match sibling {
                Some(sibling) => sibling.another(py, config)?,
                None => UserInstance::load(py, config)?,
            };
            if let Some(on_start) = &hooks.on_start {
                gst::log!(cat, obj = element, "calling on_start");
                let verdict = call_hook(py, &hooks, "on_start", on_start, ())?;
                if verdict.is(PyBool::new(py, false)) {
                    return Err(StageError::plain(format!(
                        "module {}: on_start() returned False",
                        hooks.module_name
                    )));
                }
            }
            Ok(hooks)
        });
        let hooks = loaded?;
        gst::debug!(cat, obj = element, "started {}", hooks.module_name);
        Ok(hooks)
    }

    /// NULL -> READY: starts Python and imports the user's module, so READY ->
    /// PAUSED (instances, on_start) is short. GstBin sets an element whose src pads
    /// are not linked yet (a decodebin linked later) to PAUSED before the rest: its
    /// first frame reaches elements that are still READY, and its demuxer stops for
    /// good, when the other elements take long to reach PAUSED.
    pub fn prepare(
        &self,
        element: &gst::Element,
        settings: &RunSettings,
    ) -> Result<(), gst::ErrorMessage> {
        let Some(config) = settings.code.as_ref() else {
            return Ok(());
        };
        let preloaded = ensure_python()
            .map_err(|e| StageError::plain(format!("cannot start Python: {e}")))
            .and_then(|()| {
                let _logging = log_bridge::enter(element, self.cat);
                with_python(|py| UserInstance::preload(py, config))
            });
        preloaded.map_err(StageError::into_error_message)
    }

    /// Loads `count` instances (the module once), each started; on a failure the
    /// ones already started are stopped again.
    pub(super) fn load_instances(
        &self,
        element: &gst::Element,
        config: &StageConfig,
        count: usize,
    ) -> Result<InstanceSet, StageError> {
        let mut instances: Vec<Arc<UserInstance>> = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            match self.load_instance(element, config, instances.first().map(|h| &**h)) {
                Ok(hooks) => instances.push(Arc::new(hooks)),
                Err(error) => {
                    for hooks in instances {
                        self.stop_instance(element, hooks);
                    }
                    return Err(error);
                }
            }
        }
        Ok(instances.into())
    }

    /// Loads the user's code (if any) and runs on_start; READY -> PAUSED.
    pub fn start(
        &self,
        element: &gst::Element,
        mut settings: RunSettings,
    ) -> Result<(), gst::ErrorMessage> {
        if let Some(code) = settings.code.as_mut() {
            code.stage = element.name().to_string();
        }
        let instances: InstanceSet = match &settings.code {
            None => Arc::new([]),
            Some(config) => self
                .load_instances(element, config, settings.instances)
                .map_err(StageError::into_error_message)?,
        };
        if let Err(error) =
            self.restrict_formats(settings.formats.as_deref(), &instances, settings.memory)
        {
            for hooks in instances.iter() {
                self.stop_instance(element, hooks.clone());
            }
            return Err(error.into_error_message());
        }
        let dev = match (&settings.code, instances.first(), settings.dev_mode) {
            (Some(config), Some(hooks), true) => {
                let watch = thread_state::attach(|py| Watch::collect(py, hooks))
                    .map(|(watch, _)| watch)
                    .unwrap_or_default();
                gst::info!(
                    self.cat,
                    obj = element,
                    "dev-mode: watching {:?}",
                    watch.files().collect::<Vec<_>>()
                );
                Some((config.clone(), watch))
            }
            _ => None,
        };
        self.dev_mode.store(dev.is_some(), Relaxed);
        self.stats.reset();
        self.stats.set_runs_python(!instances.is_empty());
        if !instances.is_empty() {
            gil_probe::register(&self.stats.calls);
        }
        *self.told.lock().unwrap() = Told::default();
        *self.state.lock().unwrap() = Some(State {
            instances,
            generation: 1,
            caps: None,
            last_caps: None,
            on_error: settings.on_error,
            stats_interval_ms: settings.stats_interval_ms,
            last_stats_post: None,
            dev,
        });
        Ok(())
    }

    /// Whether the loaded code takes batches (a class's `process_batch`); None
    /// before start.
    pub fn batched(&self) -> Option<bool> {
        let state = self.state.lock().unwrap();
        state
            .as_ref()
            .and_then(|s| s.instances.first().map(|h| h.batched))
    }

    /// Puts back objects whose ROI metas an element upstream dropped (cudaupload,
    /// cudadownload: see frame/objects.rs), before Python, the drawing or anything
    /// downstream reads them. For every frame; cheap when nothing was dropped.
    pub fn restore_dropped_objects(
        &self,
        element: &gst::Element,
        buffer: &mut gst::Buffer,
        layout: &FrameLayout,
    ) {
        let restored = objects::restore_dropped(buffer, (layout.width, layout.height));
        if restored > 0 {
            gst::debug!(
                self.cat,
                obj = element,
                "put back {restored} objects whose ROI metas were dropped upstream"
            );
        }
    }

    /// Runs every instance's on_stop, then lets go of them with the GIL held, so
    /// whatever they kept (frames included) is released now, not at the next time
    /// some thread takes the GIL.
    pub(super) fn stop_instances(&self, element: &gst::Element, instances: InstanceSet) {
        for hooks in instances.iter() {
            self.stop_instance(element, hooks.clone());
        }
        // Without Python (never started, or finalizing) the set is empty or must
        // not be touched: dropping it then only queues decrefs in pyo3's pool.
        thread_state::attach_if_running(|_py| drop(instances));
    }

    /// Runs on_stop and releases the user's objects; PAUSED -> READY.
    pub fn stop(&self, element: &gst::Element) {
        let Some(state) = self.state.lock().unwrap().take() else {
            return;
        };
        gil_probe::unregister(&self.stats.calls);
        self.flush_repeated_warning(element);
        let State { instances, .. } = state;
        self.stop_instances(element, instances);
        gst::debug!(self.cat, obj = element, "stopped");
    }

    /// Runs an instance's on_stop and releases it (with the GIL).
    pub fn stop_instance(&self, element: &gst::Element, hooks: Arc<UserInstance>) {
        let _logging = log_bridge::enter(element, self.cat);
        thread_state::attach_if_running(|py| {
            if let Some(on_stop) = &hooks.on_stop {
                gst::log!(self.cat, obj = element, "calling on_stop");
                if let Err(error) = call_hook(py, &hooks, "on_stop", on_stop, ()) {
                    // Not an on-error case: nothing is left to pass or drop, and the
                    // element stops whatever on_stop did.
                    self.stats.errors.fetch_add(1, Relaxed);
                    let traceback = error.traceback.as_deref().unwrap_or("");
                    gst::warning!(self.cat, obj = element, "{}\n{}", error.message, traceback);
                    gst::element_warning!(
                        element,
                        gst::LibraryError::Failed,
                        ("{}", error.message),
                        ["{}", traceback]
                    );
                }
            }
            // No Py_Finalize ever runs in a GStreamer process, so atexit never flushes.
            flush_std_streams(py);
            drop(hooks);
        });
    }

    /// Sets the property `name` of an element's `settings`: a code setting
    /// (`module`, `class-name`, ..., `on-error`, which takes effect at once on a
    /// running stage) or one of the element's own.
    pub fn set_property<O: OwnProperties>(
        &self,
        settings: &Mutex<ElementSettings<O>>,
        name: &str,
        value: &gst::glib::Value,
    ) {
        let mut settings = settings.lock().unwrap();
        if !settings.code.set(name, value) {
            return settings.own.set(name, value);
        }
        if name == "on-error" {
            self.set_on_error(settings.code.on_error);
        }
    }

    /// The property `name` of an element's `settings` (a code setting or one of
    /// the element's own; the element answers `stats` itself).
    pub fn property<O: OwnProperties>(
        &self,
        settings: &Mutex<ElementSettings<O>>,
        name: &str,
    ) -> gst::glib::Value {
        let settings = settings.lock().unwrap();
        settings
            .code
            .get(name)
            .unwrap_or_else(|| settings.own.get(name))
    }

    pub fn set_on_error(&self, on_error: OnError) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.on_error = on_error;
        }
    }

    /// The per-buffer view of the state; Flushing when stopped, NotNegotiated (with
    /// an ERROR) before caps.
    pub fn frame_context(&self, element: &gst::Element) -> Result<FrameContext, gst::FlowError> {
        let snapshot = {
            let state = self.state.lock().unwrap();
            let Some(state) = state.as_ref() else {
                return Err(gst::FlowError::Flushing);
            };
            state.caps.clone().map(|caps| FrameContext {
                instances: state.instances.clone(),
                generation: state.generation,
                caps,
                on_error: state.on_error,
                stats_interval_ms: state.stats_interval_ms,
            })
        };
        snapshot.ok_or_else(|| {
            gst::element_error!(
                element,
                gst::CoreError::Negotiation,
                ("received a buffer before caps")
            );
            gst::FlowError::NotNegotiated
        })
    }

    pub fn stats_structure(&self) -> gst::Structure {
        self.stats.to_structure(self.stats_name)
    }

    pub fn post_stats(&self, element: &gst::Element) {
        let structure = self.stats.to_structure(self.stats_name);
        let _ = element.post_message(
            gst::message::Element::builder(structure)
                .src(element)
                .build(),
        );
    }

    /// Posts the stats when `stats-interval` has passed since the last post.
    pub fn maybe_post_periodic_stats(&self, element: &gst::Element, interval_ms: u32) {
        if interval_ms == 0 {
            return;
        }
        let now = Instant::now();
        {
            let mut state = self.state.lock().unwrap();
            let Some(state) = state.as_mut() else { return };
            if state
                .last_stats_post
                .is_some_and(|t| now.duration_since(t).as_millis() < interval_ms as u128)
            {
                return;
            }
            state.last_stats_post = Some(now);
        }
        self.post_stats(element);
    }
}

/// An interpreter with `savant_gst` importable; cheap after the first call.
/// Runs `f` under the GIL; Python not running (see `thread_state::attach`) is a
/// `StageError` like any other.
pub(super) fn with_python<R>(
    f: impl for<'py> FnOnce(Python<'py>) -> Result<R, StageError>,
) -> Result<R, StageError> {
    thread_state::attach(f)
        .map_err(StageError::from)
        .and_then(|(result, _)| result)
}

fn ensure_python() -> Result<(), String> {
    static API: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    interpreter::ensure_initialized()?;
    API.get_or_init(|| {
        let registered = thread_state::attach(|py| {
            crate::api::register_module(py)
                .and_then(|()| super::module_parameters::register(&py.import("savant_gst")?))
                .map_err(|e| crate::python::error::format(py, &e))?;
            // The stage elements' categories exist once the plugin registered them.
            let categories: Vec<gst::DebugCategory> = ["savantpyfunc", "savantdrawfunc"]
                .iter()
                .filter_map(|name| gst::DebugCategory::get(name))
                .collect();
            log_bridge::install(py, &categories).map_err(|e| crate::python::error::format(py, &e))
        })
        .map_err(|e| e.to_string())
        .and_then(|(registered, _)| registered);
        registered
    })
    .clone()
}

pub fn call_hook<'py>(
    py: Python<'py>,
    hooks: &UserInstance,
    name: &str,
    hook: &Py<PyAny>,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> Result<Bound<'py, PyAny>, StageError> {
    hook.bind(py).call1(args).map_err(|e| {
        StageError::python(
            py,
            format!("module {}: {name}() raised", hooks.module_name),
            &e,
        )
    })
}

fn flush_std_streams(py: Python<'_>) {
    if let Ok(sys) = py.import("sys") {
        for stream in ["stdout", "stderr"] {
            if let Ok(stream) = sys.getattr(stream) {
                let _ = stream.call_method0("flush");
            }
        }
    }
}
