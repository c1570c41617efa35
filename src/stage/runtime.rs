//! What every Python stage element shares (savantpyfunc, savantdrawfunc): loading
//! and starting the user's code (one instance, or one per worker), event hooks,
//! caps, the on-error policy, statistics and their messages, dev-mode reloads,
//! stopping.
//!
//! Lock order: `reloading`, then `state`. The state mutex is never held while
//! taking the GIL, and `stop` takes the state out of it before taking the GIL: a
//! streaming thread may hold the GIL while it waits for the state. `reloading` is
//! only ever tried (never waited for) on the per-frame path.
//!
//! Instances: every instance gets every lifecycle hook (on_start, on_caps,
//! on_event, on_eos, on_stop). An instance replaced by a reload gets its on_stop
//! only after the last frame that was given it has left Python, so no instance is
//! called after its on_stop.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyBool;

use super::reload::Watch;
use super::stats::StageStats;
use super::{gil_probe, log_bridge};
use crate::frame::layout::FrameLayout;
use crate::frame::CapsInfo;
use crate::frame::{objects, source};
use crate::python::loader::{Hooks, StageConfig, StageError, SOURCE_HOOKS};
use crate::python::{interpreter, thread_state};

/// Which memory a stage takes frames in (savantpyfunc's `memory`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantFrameMemory")]
pub enum FrameMemory {
    #[default]
    #[enum_value(
        name = "System memory preferred, CUDA memory (video/x-raw(memory:CUDAMemory)) accepted",
        nick = "auto"
    )]
    Auto,
    #[enum_value(
        name = "System memory only: GPU decoders download for the stage (numpy, OpenCV)",
        nick = "system"
    )]
    System,
    #[enum_value(name = "CUDA memory only (CuPy, PyTorch)", nick = "cuda")]
    Cuda,
}

/// What to do when user code raises (or returns something that is not a verdict).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantOnError")]
pub enum OnError {
    #[default]
    #[enum_value(name = "Post an ERROR on the bus and stop the stream", nick = "fail")]
    Fail,
    #[enum_value(
        name = "Post a WARNING with the traceback and pass the buffer on unchanged",
        nick = "skip"
    )]
    Skip,
    #[enum_value(
        name = "Post a WARNING with the traceback and drop the buffer",
        nick = "drop"
    )]
    Drop,
}

/// Per-run settings the runtime needs from its element's properties.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// None: no user code (savantdrawfunc drawing from its spec alone).
    pub code: Option<StageConfig>,
    pub on_error: OnError,
    pub stats_interval_ms: u32,
    /// Reload the code when its files change (dev-mode).
    pub dev_mode: bool,
    /// Instances of the user's class to build (one per worker, or one).
    pub instances: usize,
    /// The `formats` property: comma-separated format names, or None.
    pub formats: Option<String>,
    /// The memory frames are taken in, for an element that takes CUDA frames.
    pub memory: FrameMemory,
}

/// The user's instances, in worker order; empty without user code.
pub type Instances = Arc<[Arc<Hooks>]>;

/// What a thread needs for one buffer.
pub struct FrameContext {
    pub instances: Instances,
    /// Which set of instances: a reload's new instances are told of every source
    /// again (see `announce_sources`).
    pub generation: u64,
    pub caps: Arc<NegotiatedCaps>,
    pub on_error: OnError,
    pub stats_interval_ms: u32,
}

impl FrameContext {
    /// The instance worker `worker` calls (the first for the streaming thread).
    pub fn instance(&self, worker: usize) -> Option<&Arc<Hooks>> {
        self.instances
            .get(worker)
            .or_else(|| self.instances.first())
    }
}

/// What the current caps mean for frames; shared by reference with each buffer.
pub struct NegotiatedCaps {
    pub layout: FrameLayout,
    pub info: gst_video::VideoInfo,
}

struct State {
    instances: Instances,
    /// Counts the sets of instances (start, each reload).
    generation: u64,
    caps: Option<Arc<NegotiatedCaps>>,
    /// The caps event's caps, replayed to instances built by a reload.
    last_caps: Option<gst::Caps>,
    on_error: OnError,
    stats_interval_ms: u32,
    last_stats_post: Option<Instant>,
    /// dev-mode: what to reload from, and the files to watch.
    dev: Option<(StageConfig, Watch)>,
}

pub struct StageRuntime {
    cat: gst::DebugCategory,
    stats_name: &'static str,
    pub stats: Arc<StageStats>,
    state: Mutex<Option<State>>,
    /// Cheap per-frame check before looking at files.
    dev_mode: AtomicBool,
    /// Held by the one thread that reloads; others keep going with the old code.
    reloading: Mutex<()>,
    /// The formats the element can take at all, in its order of preference.
    supported: &'static [&'static str],
    /// The element takes those formats in CUDA memory as well (savantpyfunc).
    cuda: bool,
    /// What caps queries answer: `supported`, narrowed by `formats` (the property,
    /// else the class's attribute) once the stage started.
    allowed_caps: Mutex<gst::Caps>,
    /// The last WARNING posted for a failed hook, and how often it repeated since.
    repeated_warning: Mutex<Option<RepeatedWarning>>,
    /// The sources the instances were told of (on_source_add). Held across those
    /// calls, so that no frame of a source reaches an instance before them; never
    /// taken with the GIL held.
    told: Mutex<Told>,
}

/// Sources announced to one set of instances since the start or the last flush.
#[derive(Default)]
struct Told {
    generation: u64,
    ids: std::collections::HashSet<String>,
}

impl Told {
    /// A new set of instances (a reload) is told of every source again.
    fn renew(&mut self, generation: u64) {
        if self.generation != generation {
            self.generation = generation;
            self.ids.clear();
        }
    }
}

/// Identical WARNINGs for failing hooks are posted at most once per this interval.
const REPEATED_WARNING_INTERVAL: Duration = Duration::from_secs(10);

struct RepeatedWarning {
    message: String,
    policy: &'static str,
    posted_at: Instant,
    repeats: u64,
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
            allowed_caps: Mutex::new(formats_caps(supported, true, false)),
            repeated_warning: Mutex::new(None),
            told: Mutex::new(Told::default()),
        }
    }

    /// The element takes its formats in CUDA memory too (`memory:CUDAMemory`),
    /// after system memory in its order of preference.
    pub fn with_cuda_frames(mut self) -> Self {
        self.cuda = true;
        self.allowed_caps = Mutex::new(formats_caps(self.supported, true, true));
        self
    }

    /// The pad template caps of an element that takes `supported` (in CUDA memory
    /// too when `cuda`).
    pub fn template_caps(supported: &[&str], cuda: bool) -> gst::Caps {
        formats_caps(supported, true, cuda)
    }

    /// Caps and accept-caps queries on either pad (both proxy caps): what downstream
    /// and the templates allow, narrowed to the stage's formats and in the stage's
    /// order of preference, so that a source offering many formats picks the first
    /// of ours it has.
    pub fn pad_query(
        &self,
        pad: &gst::Pad,
        parent: Option<&impl IsA<gst::Object>>,
        query: &mut gst::QueryRef,
    ) -> bool {
        let allowed = self.allowed_caps.lock().unwrap().clone();
        if let gst::QueryViewMut::AcceptCaps(q) = query.view_mut() {
            if !q.caps().can_intersect(&allowed) {
                q.set_result(false);
                return true;
            }
        }
        if !gst::Pad::query_default(pad, parent, query) {
            return false;
        }
        if let gst::QueryViewMut::Caps(q) = query.view_mut() {
            if let Some(result) = q.result_owned() {
                q.set_result(&allowed.intersect_with_mode(&result, gst::CapsIntersectMode::First));
            }
        }
        true
    }

    /// Narrows negotiation to the `formats` property, else the class's `formats`,
    /// and to `memory`; an unknown or unsupported name is an error naming the
    /// supported ones.
    fn restrict_formats(
        &self,
        property: Option<&str>,
        instances: &Instances,
        memory: FrameMemory,
    ) -> Result<(), StageError> {
        let system = memory != FrameMemory::Cuda;
        let cuda = self.cuda && memory != FrameMemory::System;
        if self.cuda && memory == FrameMemory::Cuda {
            if let Err(e) = crate::cuda::available() {
                return Err(StageError::plain(format!(
                    "memory=cuda, but CUDA is not available here: {e}"
                )));
            }
        }
        let (names, origin): (Vec<String>, &str) = match property {
            Some(list) => (
                list.split(',')
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect(),
                "the formats property",
            ),
            None => match instances.first().and_then(|h| h.formats.clone()) {
                Some(names) => (names, "the class's formats attribute"),
                None => {
                    *self.allowed_caps.lock().unwrap() = formats_caps(self.supported, system, cuda);
                    return Ok(());
                }
            },
        };
        if let Some(bad) = names.iter().find(|n| !self.supported.contains(&n.as_str())) {
            return Err(StageError::plain(format!(
                "{origin}: format {bad:?} is not one this element takes ({})",
                self.supported.join(", ")
            )));
        }
        if names.is_empty() {
            return Err(StageError::plain(format!("{origin} names no format")));
        }
        // The element's order of preference among the names given.
        let chosen: Vec<&str> = self
            .supported
            .iter()
            .copied()
            .filter(|f| names.iter().any(|n| n == f))
            .collect();
        *self.allowed_caps.lock().unwrap() = formats_caps(&chosen, system, cuda);
        Ok(())
    }

    /// Makes the element a Python stage for `stage_stats`; from `constructed`.
    pub fn attach_to(&self, element: &gst::Element) {
        // SAFETY: the key is ours and always holds an Arc<StageStats> (see stage_stats).
        unsafe { element.set_data(STAGE_STATS_KEY, self.stats.clone()) };
    }

    /// Loads one instance of the user's code (from `sibling`'s module when given,
    /// else importing it) and runs its on_start.
    pub fn load_instance(
        &self,
        element: &gst::Element,
        config: &StageConfig,
        sibling: Option<&Hooks>,
    ) -> Result<Hooks, StageError> {
        let cat = self.cat;
        ensure_python().map_err(|e| StageError::plain(format!("cannot start Python: {e}")))?;
        let _logging = log_bridge::enter(element, cat);
        gst::debug!(cat, obj = element, "loading {config:?}");
        let loaded = with_python(|py| -> Result<Hooks, StageError> {
            let hooks = match sibling {
                Some(sibling) => sibling.another(py, config)?,
                None => Hooks::load(py, config)?,
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
                with_python(|py| Hooks::preload(py, config))
            });
        preloaded.map_err(StageError::into_error_message)
    }

    /// Loads `count` instances (the module once), each started; on a failure the
    /// ones already started are stopped again.
    fn load_instances(
        &self,
        element: &gst::Element,
        config: &StageConfig,
        count: usize,
    ) -> Result<Instances, StageError> {
        let mut instances: Vec<Arc<Hooks>> = Vec::with_capacity(count);
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
        let instances: Instances = match &settings.code {
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

    /// dev-mode, at a frame boundary: when a watched file changed, re-imports the
    /// module once, builds as many new instances as before with the same kwargs,
    /// runs their on_start (and on_caps with the current caps), and swaps them in
    /// for every worker at once. If that fails, the last good code keeps running and
    /// a WARNING carries the traceback; the next save is tried again. One thread
    /// reloads; the others go on with the old instances meanwhile.
    pub fn maybe_reload(&self, element: &gst::Element) {
        if !self.dev_mode.load(Relaxed) {
            return;
        }
        let Ok(_reloading) = self.reloading.try_lock() else {
            return;
        };
        let (config, watch, count, caps) = {
            let state = self.state.lock().unwrap();
            let Some(state) = state.as_ref() else { return };
            match state.dev.as_ref() {
                Some((config, watch)) if watch.changed() => (
                    config.clone(),
                    watch.clone(),
                    state.instances.len(),
                    state.last_caps.clone(),
                ),
                _ => return,
            }
        };
        gst::info!(
            self.cat,
            obj = element,
            "dev-mode: {} changed, reloading {} instance(s)",
            config.module,
            count
        );
        thread_state::attach_if_running(|py| watch.evict(py));
        let reloaded = self
            .load_instances(element, &config, count)
            .and_then(|instances| {
                if let Some(caps) = &caps {
                    if let Err(error) = self.replay_caps(element, &instances, caps) {
                        for hooks in instances.iter() {
                            self.stop_instance(element, hooks.clone());
                        }
                        return Err(error);
                    }
                }
                let watch = thread_state::attach(|py| Watch::collect(py, &instances[0]))
                    .map(|(watch, _)| watch)
                    .unwrap_or_default();
                Ok((instances, watch))
            });
        // The state's lock is released before anything takes the GIL again.
        let replaced = {
            let mut state = self.state.lock().unwrap();
            let Some(state) = state.as_mut() else { return };
            match reloaded {
                Ok((instances, watch)) => {
                    state.dev = Some((config, watch));
                    state.generation += 1;
                    Ok(std::mem::replace(&mut state.instances, instances))
                }
                Err(error) => {
                    if let Some((_, watch)) = state.dev.as_mut() {
                        watch.refresh();
                    }
                    Err(error)
                }
            }
        };
        match replaced {
            Ok(old) => {
                gst::info!(self.cat, obj = element, "dev-mode: reloaded");
                self.stats.code_reloaded();
                self.retire(element, old);
            }
            Err(error) => {
                self.stats.errors.fetch_add(1, Relaxed);
                gst::element_warning!(
                    element,
                    gst::LibraryError::Failed,
                    (
                        "dev-mode: reloading failed, the last good code keeps running: {}",
                        error.message
                    ),
                    ["{}", error.traceback.as_deref().unwrap_or("")]
                );
            }
        }
    }

    /// Runs on_caps of fresh instances with the stream's current caps.
    fn replay_caps(
        &self,
        element: &gst::Element,
        instances: &[Arc<Hooks>],
        caps: &gst::Caps,
    ) -> Result<(), StageError> {
        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
            return Ok(());
        };
        let _logging = log_bridge::enter(element, self.cat);
        with_python(|py| {
            for hooks in instances {
                if let Some(on_caps) = &hooks.on_caps {
                    gst::log!(self.cat, obj = element, "calling on_caps (reloaded)");
                    let info = Bound::new(py, CapsInfo::new(&info, caps))
                        .map_err(|e| StageError::python(py, "on_caps", &e))?;
                    call_hook(py, hooks, "on_caps", on_caps, (info,))?;
                }
            }
            Ok(())
        })
    }

    /// Stops instances that a reload replaced, once no frame is in their calls any
    /// more (frames hold a reference to the instances they were given).
    fn retire(&self, element: &gst::Element, old: Instances) {
        // Frame contexts hold the whole set, a call in progress may hold one
        // instance: wait until only this thread holds either. No lock and no GIL is
        // held here, so the calls in progress can finish.
        let in_use = |old: &Instances| {
            Arc::strong_count(old) > 1 || old.iter().any(|hooks| Arc::strong_count(hooks) > 1)
        };
        while in_use(&old) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.stop_instances(element, old);
    }

    /// Runs every instance's on_stop, then lets go of them with the GIL held, so
    /// whatever they kept (frames included) is released now, not at the next time
    /// some thread takes the GIL.
    fn stop_instances(&self, element: &gst::Element, instances: Instances) {
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
    pub fn stop_instance(&self, element: &gst::Element, hooks: Arc<Hooks>) {
        let _logging = log_bridge::enter(element, self.cat);
        thread_state::attach_if_running(|py| {
            if let Some(on_stop) = &hooks.on_stop {
                gst::log!(self.cat, obj = element, "calling on_stop");
                if let Err(error) = call_hook(py, &hooks, "on_stop", on_stop, ()) {
                    self.on_hook_error(element, &error, OnError::Skip);
                }
            }
            // No Py_Finalize ever runs in a GStreamer process, so atexit never flushes.
            flush_std_streams(py);
            drop(hooks);
        });
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

    /// Handles a sink event: caps, Python's event hooks, stats at EOS; forwards it.
    pub fn sink_event(&self, element: &gst::Element, pad: &gst::Pad, event: gst::Event) -> bool {
        let cat = self.cat;
        let (instances, on_error): (Instances, _) = match self.state.lock().unwrap().as_ref() {
            Some(state) => (state.instances.clone(), state.on_error),
            None => (Arc::new([]), OnError::Fail),
        };

        let mut caps_info = None;
        if let gst::EventView::Caps(caps) = event.view() {
            let caps = caps.caps();
            let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
                gst::element_error!(
                    element,
                    gst::CoreError::Negotiation,
                    ("caps {} are not raw video", caps)
                );
                return false;
            };
            gst::debug!(cat, obj = element, "caps {caps}");
            let layout = FrameLayout::from_caps(&info, caps);
            if layout.cuda {
                if let Err(e) = crate::cuda::available() {
                    gst::element_error!(
                        element,
                        gst::CoreError::Negotiation,
                        (
                            "caps {} need CUDA, which is not available here: {}",
                            caps,
                            e
                        )
                    );
                    return false;
                }
            }
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.caps = Some(Arc::new(NegotiatedCaps {
                    layout,
                    info: info.clone(),
                }));
                state.last_caps = Some(caps.to_owned());
            }
            caps_info = Some((info, caps.to_owned()));
        }
        let is_eos = matches!(event.view(), gst::EventView::Eos(_));
        // savantmux's source events: (index into Hooks::on_source, source id).
        let generation = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |s| s.generation);
        match (event.view(), source::parse(&event)) {
            (gst::EventView::FlushStop(_), _) => self.told.lock().unwrap().ids.clear(),
            // Announced here or by its first frame, whichever comes first.
            (_, Some((source::ADD, id)))
                if !self.announce_event_source(element, &instances, generation, &id, on_error) =>
            {
                return false;
            }
            (_, Some((source::DELETE, id))) => {
                self.told.lock().unwrap().ids.remove(&id);
            }
            _ => {}
        }
        // on_source_add ran in announce_sources.
        let source_event = source::parse(&event)
            .filter(|(name, _)| *name != source::ADD)
            .map(|(name, id)| {
                let index = [source::ADD, source::EOS, source::DELETE]
                    .iter()
                    .position(|n| *n == name)
                    .expect("parse returns one of these");
                (index, id)
            });

        // Every instance (one per worker) learns of caps, events and EOS.
        let wants_python = instances.iter().any(|hooks| {
            hooks.on_event.is_some()
                || (caps_info.is_some() && hooks.on_caps.is_some())
                || (is_eos && hooks.on_eos.is_some())
                || source_event
                    .as_ref()
                    .is_some_and(|(i, _)| hooks.on_source[*i].is_some())
        });
        if wants_python {
            let _logging = log_bridge::enter(element, cat);
            let failure = with_python(|py| {
                instances.iter().try_for_each(|hooks| {
                    call_event_hooks(
                        py,
                        cat,
                        element,
                        hooks,
                        &event,
                        &caps_info,
                        is_eos,
                        &source_event,
                    )
                })
            })
            .err();
            // Events are never dropped: skip and drop both let the event go on.
            if let Some(error) = failure {
                if self.on_hook_error(element, &error, on_error) == OnError::Fail {
                    return false;
                }
            }
        }
        if is_eos {
            self.flush_repeated_warning(element);
            self.post_stats(element);
            gst::info!(
                cat,
                obj = element,
                "{}{}",
                self.stats.summary(),
                upstream_queue_summary(pad)
            );
        }
        gst::Pad::event_default(pad, Some(element), event)
    }

    /// Runs on_source_add on every instance for each source of `buffers` they were
    /// not told of yet (since the start, the last flush or a reload), before those
    /// frames reach Python: a source is announced by savantmux's `savant-source-add`
    /// or by its first frame, whichever comes first, so it is announced even when a
    /// flush took the event out of a queue. Per frame: the meta's id is looked up, not
    /// copied. False when the stage must fail (the ERROR is posted).
    pub fn announce_frame_sources<'b>(
        &self,
        element: &gst::Element,
        context: &FrameContext,
        buffers: impl IntoIterator<Item = &'b gst::BufferRef>,
    ) -> bool {
        if context.instances.is_empty() {
            return true;
        }
        let mut told = self.told.lock().unwrap();
        told.renew(context.generation);
        let mut new: Vec<String> = Vec::new();
        for buffer in buffers {
            source::with_id(buffer, |id| {
                if !told.ids.contains(id) && !new.iter().any(|n| n == id) {
                    new.push(id.to_owned());
                }
            });
        }
        new.is_empty() || self.tell(element, &context.instances, told, new, context.on_error)
    }

    /// The same for a `savant-source-add` event.
    fn announce_event_source(
        &self,
        element: &gst::Element,
        instances: &Instances,
        generation: u64,
        id: &str,
        on_error: OnError,
    ) -> bool {
        if instances.is_empty() {
            return true;
        }
        let mut told = self.told.lock().unwrap();
        told.renew(generation);
        told.ids.contains(id) || self.tell(element, instances, told, vec![id.to_owned()], on_error)
    }

    /// Records `new` as told and runs on_source_add for each, with `told` held.
    fn tell(
        &self,
        element: &gst::Element,
        instances: &Instances,
        mut told: std::sync::MutexGuard<'_, Told>,
        new: Vec<String>,
        on_error: OnError,
    ) -> bool {
        if told.ids.len() + new.len() > source::MAX_SOURCES {
            drop(told);
            gst::element_error!(
                element,
                gst::StreamError::Failed,
                (
                    "more than {} source ids: frames are marked with ids that no \
                     savantmux gave",
                    source::MAX_SOURCES
                )
            );
            return false;
        }
        told.ids.extend(new.iter().cloned());
        if !instances.iter().any(|h| h.on_source[0].is_some()) {
            return true;
        }
        let _logging = log_bridge::enter(element, self.cat);
        let failure = with_python(|py| {
            new.iter().try_for_each(|id| {
                instances.iter().try_for_each(|hooks| {
                    let Some(hook) = &hooks.on_source[0] else {
                        return Ok(());
                    };
                    gst::log!(self.cat, obj = element, "calling {}({id})", SOURCE_HOOKS[0]);
                    call_hook(py, hooks, SOURCE_HOOKS[0], hook, (id.as_str(),)).map(drop)
                })
            })
        })
        .err();
        drop(told);
        match failure {
            Some(error) => self.on_hook_error(element, &error, on_error) != OnError::Fail,
            None => true,
        }
    }

    /// Posts the error or warning for a failed hook and counts it; returns the policy.
    pub fn on_hook_error(
        &self,
        element: &gst::Element,
        error: &StageError,
        on_error: OnError,
    ) -> OnError {
        self.stats.errors.fetch_add(1, Relaxed);
        let traceback = error.traceback.as_deref().unwrap_or("");
        match on_error {
            OnError::Fail => {
                gst::element_error!(
                    element,
                    gst::LibraryError::Failed,
                    ("{}", error.message),
                    ["{}", traceback]
                );
            }
            OnError::Skip | OnError::Drop => {
                let policy = if on_error == OnError::Skip {
                    "skip"
                } else {
                    "drop"
                };
                gst::warning!(self.cat, obj = element, "{}\n{}", error.message, traceback);
                // The same failure on every frame is one WARNING per interval, with
                // a count, not hundreds of identical messages on the bus.
                let repeats = {
                    let mut repeated = self.repeated_warning.lock().unwrap();
                    match repeated.as_mut() {
                        Some(r)
                            if r.message == error.message
                                && r.posted_at.elapsed() < REPEATED_WARNING_INTERVAL =>
                        {
                            r.repeats += 1;
                            return on_error;
                        }
                        _ => repeated
                            .replace(RepeatedWarning {
                                message: error.message.clone(),
                                policy,
                                posted_at: Instant::now(),
                                repeats: 0,
                            })
                            .filter(|r| r.message == error.message)
                            .map_or(0, |r| r.repeats),
                    }
                };
                let repeated = if repeats > 0 {
                    format!("; {repeats} more time(s) since the last report")
                } else {
                    String::new()
                };
                gst::element_warning!(
                    element,
                    gst::LibraryError::Failed,
                    ("{} (on-error={}{})", error.message, policy, repeated),
                    ["{}", traceback]
                );
            }
        }
        on_error
    }

    /// Reports identical WARNINGs that were counted but not posted yet (at EOS and
    /// on stop).
    fn flush_repeated_warning(&self, element: &gst::Element) {
        let Some(repeated) = self.repeated_warning.lock().unwrap().take() else {
            return;
        };
        if repeated.repeats > 0 {
            gst::element_warning!(
                element,
                gst::LibraryError::Failed,
                (
                    "{} (on-error={}; {} more time(s) since the last report)",
                    repeated.message,
                    repeated.policy,
                    repeated.repeats
                )
            );
        }
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

/// An event's structure as Python sees it in `on_event`: scalars as Python values,
/// caps as their string, nested structures as dicts, segments as dicts of their
/// fields, lists as lists; never GStreamer's escaped serialization of a string.
/// Nested values count one level each, up to `value_text::MAX_NESTING` (an upstream
/// element's event may nest without limit; this walk recurses).
fn event_dict<'py>(
    py: Python<'py>,
    structure: Option<&gst::StructureRef>,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    event_dict_at(py, structure, 0)
}

fn event_dict_at<'py>(
    py: Python<'py>,
    structure: Option<&gst::StructureRef>,
    depth: usize,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let dict = pyo3::types::PyDict::new(py);
    for (name, value) in structure.into_iter().flat_map(|s| s.iter()) {
        let item = event_value(py, value, depth + 1)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("'{name}': {e}")))?;
        dict.set_item(name.as_str(), item)?;
    }
    Ok(dict)
}

fn event_value<'py>(
    py: Python<'py>,
    value: &glib::Value,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    if depth > crate::frame::value_text::MAX_NESTING {
        return Err(pyo3::exceptions::PyValueError::new_err(
            crate::frame::value_text::TextError::TooDeep.to_string(),
        ));
    }
    if value.type_() == gst::Caps::static_type() {
        // Bounded: caps whose fields nest structures double their text per level.
        crate::frame::value_text::text_size(value)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("(GstCaps) {e}")))?;
        let text = value
            .get::<gst::Caps>()
            .map(|caps| caps.to_string())
            .unwrap_or_default();
        return Ok(text.into_pyobject(py)?.into_any());
    }
    if let Ok(structure) = value.get::<gst::Structure>() {
        return Ok(event_dict_at(py, Some(&structure), depth)?.into_any());
    }
    if let Ok(segment) = value.get::<gst::Segment>() {
        let dict = pyo3::types::PyDict::new(py);
        dict.set_item("format", format!("{:?}", segment.format()).to_lowercase())?;
        dict.set_item("rate", segment.rate())?;
        dict.set_item("applied-rate", segment.applied_rate())?;
        let position = |v: i64| (v >= 0).then_some(v as u64);
        dict.set_item("start", position(segment.start().value()))?;
        dict.set_item("stop", position(segment.stop().value()))?;
        dict.set_item("time", position(segment.time().value()))?;
        dict.set_item("position", position(segment.position().value()))?;
        dict.set_item("duration", position(segment.duration().value()))?;
        dict.set_item("base", position(segment.base().value()))?;
        dict.set_item("offset", position(segment.offset().value()))?;
        return Ok(dict.into_any());
    }
    if let Ok(list) = value.get::<gst::List>() {
        let items = list
            .iter()
            .map(|v| event_value(py, v, depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(pyo3::types::PyList::new(py, items)?.into_any());
    }
    if let Ok(array) = value.get::<gst::Array>() {
        let items = array
            .iter()
            .map(|v| event_value(py, v, depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(pyo3::types::PyList::new(py, items)?.into_any());
    }
    if value.type_().is_a(glib::Type::ENUM) || value.type_().is_a(glib::Type::FLAGS) {
        // GStreamer's name for it ("GST_STREAM_FLAG_NONE", "time"), unquoted.
        let text = value.serialize().map(|s| s.to_string()).unwrap_or_default();
        return Ok(text.into_pyobject(py)?.into_any());
    }
    crate::frame::values::to_py(py, value)
}

/// Raw video in `formats` (a list, in that order), in system memory (when
/// `system`), then in CUDA memory (when `cuda`).
fn formats_caps(formats: &[&str], system: bool, cuda: bool) -> gst::Caps {
    let mut caps = if system {
        gst::Caps::builder("video/x-raw")
            .field("format", gst::List::new(formats.iter().copied()))
            .build()
    } else {
        gst::Caps::new_empty()
    };
    if cuda {
        caps.merge(
            gst::Caps::builder("video/x-raw")
                .features([crate::cuda::CAPS_FEATURE_CUDA_MEMORY])
                .field("format", gst::List::new(formats.iter().copied()))
                .build(),
        );
    }
    caps
}

/// An interpreter with `savant_gst` importable; cheap after the first call.
/// Runs `f` under the GIL; Python not running (see `thread_state::attach`) is a
/// `StageError` like any other.
fn with_python<R>(
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
            crate::api::register_module(py).map_err(|e| crate::python::error::format(py, &e))?;
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

#[allow(clippy::too_many_arguments)]
fn call_event_hooks(
    py: Python<'_>,
    cat: gst::DebugCategory,
    element: &gst::Element,
    hooks: &Hooks,
    event: &gst::Event,
    caps: &Option<(gst_video::VideoInfo, gst::Caps)>,
    is_eos: bool,
    source_event: &Option<(usize, String)>,
) -> Result<(), StageError> {
    if let Some(on_event) = &hooks.on_event {
        let name = event.type_().name();
        let structure = event_dict(py, event.structure())
            .map_err(|e| StageError::python(py, "on_event", &e))?;
        gst::log!(cat, obj = element, "calling on_event({name})");
        call_hook(py, hooks, "on_event", on_event, (name.as_str(), structure))?;
    }
    if let (Some(on_caps), Some((info, caps))) = (&hooks.on_caps, caps) {
        gst::log!(cat, obj = element, "calling on_caps");
        let info = Bound::new(py, CapsInfo::new(info, caps))
            .map_err(|e| StageError::python(py, "on_caps", &e))?;
        call_hook(py, hooks, "on_caps", on_caps, (info,))?;
    }
    if let (true, Some(on_eos)) = (is_eos, &hooks.on_eos) {
        gst::log!(cat, obj = element, "calling on_eos");
        call_hook(py, hooks, "on_eos", on_eos, ())?;
    }
    if let Some((index, id)) = source_event {
        if let Some(hook) = &hooks.on_source[*index] {
            let name = SOURCE_HOOKS[*index];
            gst::log!(cat, obj = element, "calling {name}({id})");
            call_hook(py, hooks, name, hook, (id.as_str(),))?;
        }
    }
    Ok(())
}

/// "; queue ahead (q) held at most N of M buffers" when a savantqueue feeds `sinkpad`
/// (any element whose `stats` report `max-level-buffers`: no element type named).
fn upstream_queue_summary(sinkpad: &gst::Pad) -> String {
    let queue = sinkpad.peer().and_then(|pad| pad.parent_element());
    let Some(queue) = queue else {
        return String::new();
    };
    let is_stats = queue
        .find_property("stats")
        .is_some_and(|p| p.value_type() == gst::Structure::static_type());
    if !is_stats {
        return String::new();
    }
    let stats = queue.property::<gst::Structure>("stats");
    if !stats.has_field("max-level-buffers") {
        return String::new();
    }
    format!(
        "; queue ahead ({}) held at most {} of {} buffers",
        queue.name(),
        stats.get::<u64>("max-level-buffers").unwrap_or(0),
        stats.get::<u32>("length").unwrap_or(0)
    )
}

pub fn call_hook<'py>(
    py: Python<'py>,
    hooks: &Hooks,
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
